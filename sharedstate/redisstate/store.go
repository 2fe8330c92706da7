package redisstate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/redis/go-redis/v9"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
)

const (
	sep = "\x1f"
	// DefaultNamespace is the namespace of a Store made without
	// WithNamespace.
	DefaultNamespace = "default"
	// healthCheck is how often the subscription pings a silent server.
	healthCheck = time.Second
)

// Store is a [sharedstate.Store] on Redis (standalone, Sentinel or Cluster).
// A Store is safe for concurrent use.
type Store struct {
	client  redis.UniversalClient
	rec     string // hash of records
	ver     string // version
	votesOf string // prefix of the per-name vote hashes
	channel string
}

var _ sharedstate.Store = (*Store)(nil)

// Option configures [New].
type Option func(*Store, *options)

type options struct {
	namespace string
}

// WithNamespace keeps this fleet's keys apart from others' on the same
// server: every key is under the hash tag "{fusebox:<ns>}", so they all live
// on one Cluster slot. Default "default". It must be 1 to 64 bytes without
// braces, spaces or control characters.
func WithNamespace(ns string) Option { return func(_ *Store, o *options) { o.namespace = ns } }

// New returns a Store on client. Every command the Store sends carries the
// deadline of the context it is given (the Syncer's command timeout), so
// the client must honour context deadlines: a *redis.Client,
// *redis.ClusterClient or *redis.Ring whose options leave
// ContextTimeoutEnabled false is refused, because a stopped server would
// then hold each command for ReadTimeout times MaxRetries (20s with the
// defaults). The Store never retries on its own; the client's MaxRetries
// still applies within each deadline, and -1 is advised.
//
// The Store does not own client: closing it is the caller's business,
// after the Syncer is closed.
func New(client redis.UniversalClient, opts ...Option) (*Store, error) {
	o := options{namespace: DefaultNamespace}
	s := &Store{client: client}
	for _, opt := range opts {
		if opt != nil {
			opt(s, &o)
		}
	}
	if client == nil || nilClient(client) {
		return nil, &breaker.ConfigError{Field: "redis_client", Value: nil, Reason: "must not be nil"}
	}
	if !validNamespace(o.namespace) {
		return nil, &breaker.ConfigError{Field: "namespace", Value: o.namespace, Reason: "must be 1 to 64 bytes without braces, spaces or control characters"}
	}
	if !contextTimeouts(client) {
		return nil, &breaker.ConfigError{Field: "redis_client", Value: "ContextTimeoutEnabled=false", Reason: "must honour context deadlines (set ContextTimeoutEnabled: true), or a stopped server stalls sharing for ReadTimeout x MaxRetries"}
	}
	tag := "{fusebox:" + o.namespace + "}"
	s.rec, s.ver, s.votesOf, s.channel = tag+":rec", tag+":ver", tag+":votes:", tag+":ev"
	return s, nil
}

func validNamespace(ns string) bool {
	if ns == "" || len(ns) > 64 {
		return false
	}
	for _, r := range ns {
		if r == '{' || r == '}' || unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return false
		}
	}
	return true
}

// nilClient reports whether client is a nil pointer of one of go-redis's
// client types, which would panic on first use.
func nilClient(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case *redis.Client:
		return c == nil
	case *redis.ClusterClient:
		return c == nil
	case *redis.Ring:
		return c == nil
	}
	return false
}

// contextTimeouts reports whether client honours context deadlines, as
// far as its options tell.
func contextTimeouts(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return true
}

// Propose implements [sharedstate.Store] with one Lua script: a
// compare-and-set stamped with the server's TIME that PUBLISHes what it
// writes.
func (s *Store) Propose(ctx context.Context, p sharedstate.Proposal) (sharedstate.Result, error) {
	keys, args := s.proposeArgs(p)
	res, err := proposeScript.Run(ctx, s.client, keys, args...).StringSlice()
	if err != nil {
		return sharedstate.Result{}, err
	}
	return parseProposeReply(p.Name, res)
}

func (s *Store) proposeArgs(p sharedstate.Proposal) (keys []string, args []any) {
	to := "c"
	if p.To == breaker.Open {
		to = "o"
	}
	forced := "0"
	if p.Forced {
		forced = "1"
	}
	reason := "-"
	if _, ok := reasons[p.Reason.String()]; ok {
		reason = p.Reason.String()
	}
	return []string{s.rec, s.ver, s.votesOf + p.Name}, []any{
		p.Name, to, strconv.FormatUint(p.Base, 10), p.OpenFor.Milliseconds(), forced,
		reason, p.By, p.Quorum, ceilMillis(p.QuorumWindow), s.channel,
	}
}

// ceilMillis returns d in whole milliseconds, rounded up: the server keeps
// a vote for at least the window, and a window under 1ms does not become 0
// (which would drop every vote as it is cast).
func ceilMillis(d time.Duration) int64 {
	ms := d.Milliseconds()
	if d > time.Duration(ms)*time.Millisecond {
		ms++
	}
	return ms
}

func parseProposeReply(name string, res []string) (sharedstate.Result, error) {
	if len(res) != 3 {
		return sharedstate.Result{}, fmt.Errorf("redisstate: unexpected reply %q", res)
	}
	var out sharedstate.Result
	switch res[0] {
	case "written":
		out.Outcome = sharedstate.Written
	case "joined":
		out.Outcome = sharedstate.Joined
	case "refused":
		out.Outcome = sharedstate.Refused
	case "voted":
		out.Outcome = sharedstate.Voted
	default:
		return sharedstate.Result{}, fmt.Errorf("redisstate: unexpected outcome %q", res[0])
	}
	if res[1] != "" {
		now, err := strconv.ParseInt(res[2], 10, 64)
		if err != nil {
			return sharedstate.Result{}, fmt.Errorf("redisstate: bad server time %q", res[2])
		}
		if out.Record, err = decodeRecord(name, res[1], now); err != nil {
			return sharedstate.Result{}, err
		}
	}
	return out, nil
}

// Snapshot implements [sharedstate.Store]: one script reads the version
// and, when it changed, every record.
func (s *Store) Snapshot(ctx context.Context, since uint64) (sharedstate.Snapshot, error) {
	res, err := snapshotScript.Run(ctx, s.client, []string{s.rec, s.ver}, strconv.FormatUint(since, 10)).Slice()
	if err != nil {
		return sharedstate.Snapshot{}, err
	}
	if len(res) < 3 {
		return sharedstate.Snapshot{}, fmt.Errorf("redisstate: unexpected snapshot reply of %d elements", len(res))
	}
	vs, _ := res[0].(string)
	nows, _ := res[1].(string)
	unchanged, _ := res[2].(int64)
	ver, err1 := strconv.ParseUint(vs, 10, 64)
	now, err2 := strconv.ParseInt(nows, 10, 64)
	if err1 != nil || err2 != nil {
		return sharedstate.Snapshot{}, fmt.Errorf("redisstate: bad snapshot header %q %q", vs, nows)
	}
	snap := sharedstate.Snapshot{Version: ver, Unchanged: unchanged == 1}
	if snap.Unchanged || len(res) < 4 {
		return snap, nil
	}
	kv, _ := res[3].([]any)
	snap.Records = make([]sharedstate.Record, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		name, _ := kv[i].(string)
		enc, _ := kv[i+1].(string)
		rec, err := decodeRecord(name, enc, now)
		if err != nil {
			snap.Malformed++ // one bad record must not hide the others
			continue
		}
		snap.Records = append(snap.Records, rec)
	}
	return snap, nil
}

// decodeRecord parses a stored record of name, read at server time now
// (ms).
func decodeRecord(name, enc string, now int64) (sharedstate.Record, error) {
	f := strings.Split(enc, sep)
	if len(f) != 7 {
		return sharedstate.Record{}, fmt.Errorf("redisstate: malformed record %q", enc)
	}
	epoch, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil || epoch == 0 {
		return sharedstate.Record{}, fmt.Errorf("redisstate: malformed epoch %q", f[0])
	}
	rec := sharedstate.Record{Name: name, Epoch: epoch, By: f[6]}
	switch f[1] {
	case "o":
		rec.State = breaker.Open
	case "c":
		rec.State = breaker.Closed
	default:
		return sharedstate.Record{}, fmt.Errorf("redisstate: malformed state %q", f[1])
	}
	until, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return sharedstate.Record{}, fmt.Errorf("redisstate: malformed deadline %q", f[2])
	}
	if f[3] != "-" {
		if err := unmarshalReason(&rec.Reason, f[3]); err != nil {
			return sharedstate.Record{}, err
		}
	}
	rec.Forced = strings.Contains(f[4], "f")
	rec.Cluster = strings.Contains(f[4], "c")
	written, err := strconv.ParseInt(f[5], 10, 64)
	if err != nil {
		return sharedstate.Record{}, fmt.Errorf("redisstate: malformed time %q", f[5])
	}
	rec.Written = time.UnixMicro(written)
	if rec.State == breaker.Open && !rec.Forced {
		rec.Remaining = time.Duration(until-now) * time.Millisecond
	}
	return rec, nil
}

// decodeMessage parses a published message.
func decodeMessage(payload string) (sharedstate.Record, error) {
	f := strings.SplitN(payload, sep, 4)
	if len(f) != 4 || f[0] != "1" {
		return sharedstate.Record{}, fmt.Errorf("redisstate: malformed message %q", payload)
	}
	now, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return sharedstate.Record{}, fmt.Errorf("redisstate: malformed message time %q", f[1])
	}
	if f[2] == "" {
		return sharedstate.Record{}, errors.New("redisstate: message without a name")
	}
	return decodeRecord(f[2], f[3], now)
}

// reasons maps the String forms of breaker.Reason back to their values.
var reasons = func() map[string]breaker.Reason {
	m := make(map[string]breaker.Reason)
	for r := breaker.Reason(1); r < 64; r++ {
		if s := r.String(); !strings.HasPrefix(s, "Reason(") {
			m[s] = r
		}
	}
	return m
}()

func unmarshalReason(r *breaker.Reason, s string) error {
	v, ok := reasons[s]
	if !ok {
		return fmt.Errorf("redisstate: unknown reason %q", s)
	}
	*r = v
	return nil
}

// Subscribe implements [sharedstate.Store] with one pub/sub connection. It
// reconnects by itself (pinging a silent server every second) and reports
// every (re)subscription as a Resync, since messages published meanwhile
// are lost.
func (s *Store) Subscribe(ctx context.Context) (sharedstate.Subscription, error) {
	ps := s.client.Subscribe(ctx)
	if err := ps.Subscribe(ctx, s.channel); err != nil {
		_ = ps.Close()
		return nil, err
	}
	// Wait for the server's confirmation: until then a decision published
	// would not reach this subscriber, and the snapshot the Syncer reads
	// next would not show it either.
	timeout := time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	if msg, err := ps.ReceiveTimeout(ctx, timeout); err != nil {
		_ = ps.Close()
		return nil, err
	} else if _, ok := msg.(*redis.Subscription); !ok {
		_ = ps.Close()
		return nil, fmt.Errorf("redisstate: unexpected %T while subscribing", msg)
	}
	in := ps.ChannelWithSubscriptions(
		redis.WithChannelSize(1024),
		redis.WithChannelHealthCheckInterval(healthCheck),
		redis.WithChannelPingTimeout(time.Second),
		redis.WithChannelReconnectTimeout(time.Second),
	)
	sub := &subscription{ps: ps, out: make(chan sharedstate.Message, 1024), stop: make(chan struct{}), done: make(chan struct{})}
	go sub.run(in)
	return sub, nil
}

type subscription struct {
	ps   *redis.PubSub
	out  chan sharedstate.Message
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func (s *subscription) Messages() <-chan sharedstate.Message { return s.out }

// run turns go-redis messages into sharedstate messages until Close.
func (s *subscription) run(in <-chan any) {
	defer close(s.done)
	defer close(s.out)
	for {
		var m sharedstate.Message
		select {
		case <-s.stop:
			return
		case raw, ok := <-in:
			if !ok {
				return
			}
			switch v := raw.(type) {
			case *redis.Subscription:
				m.Resync = true
			case *redis.Message:
				m.Record, m.Err = decodeMessage(v.Payload)
			default:
				continue
			}
		}
		select {
		case s.out <- m:
		case <-s.stop:
			return
		}
	}
}

func (s *subscription) Close() error {
	var err error
	s.once.Do(func() {
		close(s.stop)
		err = s.ps.Close()
		<-s.done
	})
	return err
}
