package breaker

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/internal/typednil"
)

type config struct {
	failureThreshold int // consecutive-failure policy; 0: off
	thresholdGiven   bool
	rate, slow       *TripPolicy // windowed policies; nil: off
	policyErr        error       // from WithTripPolicy
	backoff          *backoff
	halfOpenMaxWait  int64 // ns; 0: no bound
	shadow           bool
	shadowSet        bool
	recoveryTimeout  int64 // ns
	halfOpenMaxCalls int
	isFailure        func(error) bool
	customPredicate  bool // isFailure is the caller's, which may panic
	clock            Clock
	clockSet         bool
	bus              events.Bus[Event]
	busSet           bool
	maxBreakers      int
	idleEviction     int64 // ns; 0: off
}

func defaultConfig() config {
	return config{
		failureThreshold: DefaultFailureThreshold,
		recoveryTimeout:  int64(DefaultRecoveryTimeout),
		halfOpenMaxCalls: DefaultHalfOpenMaxCalls,
		isFailure:        defaultIsFailure,
		maxBreakers:      DefaultMaxBreakers,
	}
}

// defaultIsFailure counts every error. The breaker itself treats an error
// returned after the caller's context was cancelled as ignored, whatever the
// predicate says.
func defaultIsFailure(error) bool { return true }

// applyOptions applies opts to c in order, skipping nil options.
func applyOptions(c *config, opts []Option) {
	for _, o := range opts {
		if o != nil {
			o.apply(c)
		}
	}
}

func (c *config) validate() error {
	if c.policyErr != nil {
		return c.policyErr
	}
	if c.backoff != nil {
		if err := c.backoff.validate(); err != nil {
			return err
		}
	}
	switch {
	case c.thresholdGiven && (c.failureThreshold < 1 || uint64(c.failureThreshold) > maxFailureThreshold):
		return &ConfigError{Field: "failure_threshold", Value: c.failureThreshold, Reason: "must be from 1 to 4294967295"}
	case c.failureThreshold == 0 && c.rate == nil && c.slow == nil:
		return &ConfigError{Field: "trip_policy", Value: "none", Reason: "needs at least one policy"}
	case c.halfOpenMaxWait < 0:
		return &ConfigError{Field: "half_open_max_wait", Value: time.Duration(c.halfOpenMaxWait), Reason: "must not be negative (0 means no bound)"}
	case c.recoveryTimeout <= 0:
		return &ConfigError{Field: "recovery_timeout", Value: time.Duration(c.recoveryTimeout), Reason: "must be positive"}
	case c.halfOpenMaxCalls < 1 || c.halfOpenMaxCalls > maxHalfOpenCalls:
		return &ConfigError{Field: "half_open_max_calls", Value: c.halfOpenMaxCalls, Reason: "must be from 1 to 65535"}
	case c.isFailure == nil:
		return &ConfigError{Field: "failure_predicate", Value: nil, Reason: "must not be nil"}
	case c.clockSet && typednil.Is(c.clock):
		return &ConfigError{Field: "clock", Value: c.clock, Reason: "must not be nil"}
	case c.busSet && c.bus != nil && typednil.Is(c.bus):
		return &ConfigError{Field: "event_bus", Value: c.bus, Reason: "is a nil pointer; pass an untyped nil to turn events off"}
	case c.maxBreakers < 1:
		return &ConfigError{Field: "max_breakers", Value: c.maxBreakers, Reason: "must be at least 1"}
	case c.idleEviction < 0:
		return &ConfigError{Field: "idle_eviction", Value: time.Duration(c.idleEviction), Reason: "must not be negative (0 means never)"}
	}
	return nil
}

// backoff lengthens successive open periods.
type backoff struct {
	initial, max time.Duration
	multiplier   float64
	jitter       float64
}

func (bo *backoff) validate() error {
	switch {
	case bo.initial <= 0:
		return &ConfigError{Field: "recovery_backoff.initial", Value: bo.initial, Reason: "must be positive"}
	case bo.max < bo.initial:
		return &ConfigError{Field: "recovery_backoff.max", Value: bo.max, Reason: "must be at least initial (" + bo.initial.String() + ")"}
	case !(bo.multiplier >= 1) || math.IsInf(bo.multiplier, 0):
		return &ConfigError{Field: "recovery_backoff.multiplier", Value: bo.multiplier, Reason: "must be a finite number of at least 1"}
	case !(bo.jitter >= 0 && bo.jitter < 1):
		return &ConfigError{Field: "recovery_backoff.jitter", Value: bo.jitter, Reason: "must be in [0, 1)"}
	}
	return nil
}

// openFor returns how long the open period after reopens failed probes
// lasts.
func (c *config) openFor(reopens int) int64 {
	bo := c.backoff
	if bo == nil {
		return c.recoveryTimeout
	}
	d := float64(bo.initial)
	for range min(reopens, 64) {
		if d *= bo.multiplier; d >= float64(bo.max) {
			break
		}
	}
	if reopens > 64 && d < float64(bo.max) {
		// A multiplier close to 1 has not reached max yet: the remaining
		// factors at once, rather than a loop as long as the outage.
		d *= math.Pow(bo.multiplier, float64(reopens-64))
	}
	d = min(d, float64(bo.max))
	if bo.jitter > 0 {
		d *= 1 + bo.jitter*(2*rand.Float64()-1)
	}
	if d >= math.MaxInt64 { // past what an int64 holds: converting would wrap
		return math.MaxInt64
	}
	return max(1, int64(d))
}
