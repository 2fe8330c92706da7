package sharedstate

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fusebox-go/fusebox/breaker"
)

// The defaults of [Attach]'s options.
const (
	DefaultCommandTimeout    = 200 * time.Millisecond
	DefaultReconcileInterval = time.Second
	DefaultProbeJitter       = 0.1
	DefaultMaxBackoff        = 5 * time.Second
	minBackoff               = 100 * time.Millisecond
	maxReplicaID             = 128
)

// Option configures [Attach].
type Option func(*config)

type config struct {
	replicaID         string
	commandTimeout    time.Duration
	startupTimeout    time.Duration
	startupSet        bool
	reconcileInterval time.Duration
	maxBackoff        time.Duration
	quorum            int
	quorumWindow      time.Duration
	probeJitter       float64
	operatorActions   bool
	remoteCloseCloses bool
	logger            *slog.Logger
}

func defaultConfig() config {
	return config{
		commandTimeout:    DefaultCommandTimeout,
		reconcileInterval: DefaultReconcileInterval,
		maxBackoff:        DefaultMaxBackoff,
		quorum:            1,
		probeJitter:       DefaultProbeJitter,
	}
}

// WithReplicaID names this replica in the store, in peers' events and in
// logs. Default: the host name and a random suffix. It must be 1 to 128
// bytes of UTF-8 without control characters.
func WithReplicaID(id string) Option { return func(c *config) { c.replicaID = id } }

// WithCommandTimeout bounds every store command. Default 200ms; it must be
// positive.
func WithCommandTimeout(d time.Duration) Option { return func(c *config) { c.commandTimeout = d } }

// WithStartupTimeout bounds how long [Attach] waits, in all, to subscribe
// and read the snapshot that makes a restarted replica start with the
// fleet's state. Default: the command timeout. Zero
// skips the wait: the first snapshot is then read in the background.
func WithStartupTimeout(d time.Duration) Option {
	return func(c *config) { c.startupTimeout, c.startupSet = d, true }
}

// WithReconcileInterval sets how often the full state is compared with the
// store, which repairs lost messages. Default 1s; it must be positive.
func WithReconcileInterval(d time.Duration) Option {
	return func(c *config) { c.reconcileInterval = d }
}

// WithMaxBackoff caps the wait between attempts while the store fails
// (starting at 100ms, doubling, with jitter). Default 5s; at least 100ms.
func WithMaxBackoff(d time.Duration) Option { return func(c *config) { c.maxBackoff = d } }

// WithQuorum makes an opening fleet-wide only once n distinct replicas
// tripped within window; each replica's own breaker still opens on its own
// failures. Default 1 (any replica's opening opens all). n must be at least
// 1, and window positive when n is above 1.
func WithQuorum(n int, window time.Duration) Option {
	return func(c *config) { c.quorum, c.quorumWindow = n, window }
}

// WithProbeJitter spreads the half-open probes of replicas opened by a
// peer: each stays open for the remaining time plus a random share of up to
// f of it, so the fleet does not probe at once (the replica that tripped
// probes first). Default 0.1; 0 turns it off; at most 1.
func WithProbeJitter(f float64) Option { return func(c *config) { c.probeJitter = f } }

// WithOperatorActions makes ForceOpen and Reset fleet-wide: a local
// ForceOpen or Reset is written to the store, and one from another replica
// is applied here. Off by default: operator actions stay local, and forced
// records from other replicas are ignored.
func WithOperatorActions(on bool) Option { return func(c *config) { c.operatorActions = on } }

// WithRemoteCloseCloses makes a peer's close close a breaker still open
// for the same or an older opening. By default such a breaker goes
// half-open instead, so its own trial calls confirm the recovery.
func WithRemoteCloseCloses(on bool) Option { return func(c *config) { c.remoteCloseCloses = on } }

// WithLogger logs connectivity changes: a warning when the store becomes
// unreachable (also when it is so from the start), and a note when it is
// reachable again. Default: no logging.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

func (c *config) validate() error {
	bad := func(field string, v any, reason string) error {
		return &breaker.ConfigError{Field: field, Value: v, Reason: reason}
	}
	switch {
	case c.replicaID == "" || len(c.replicaID) > maxReplicaID || !utf8.ValidString(c.replicaID) || hasControl(c.replicaID):
		return bad("replica_id", c.replicaID, "must be 1 to 128 bytes of UTF-8 without control characters")
	case c.commandTimeout <= 0:
		return bad("command_timeout", c.commandTimeout, "must be positive")
	case c.startupTimeout < 0:
		return bad("startup_timeout", c.startupTimeout, "must not be negative")
	case c.reconcileInterval <= 0:
		return bad("reconcile_interval", c.reconcileInterval, "must be positive")
	case c.maxBackoff < minBackoff:
		return bad("max_backoff", c.maxBackoff, "must be at least 100ms")
	case c.quorum < 1:
		return bad("quorum", c.quorum, "must be at least 1")
	case c.quorum > 1 && c.quorumWindow <= 0:
		return bad("quorum_window", c.quorumWindow, "must be positive with a quorum above 1")
	case !(c.probeJitter >= 0 && c.probeJitter <= 1): // also NaN
		return bad("probe_jitter", c.probeJitter, "must be between 0 and 1")
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// defaultReplicaID returns the host name and a random suffix.
func defaultReplicaID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "replica"
	}
	if len(host) > 100 {
		host = host[:100]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%s", host, hex.EncodeToString(b[:]))
}
