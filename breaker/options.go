package breaker

import (
	"time"

	"github.com/fusebox-go/fusebox/events"
)

// The defaults, from the circuit-breaker specification.
const (
	// DefaultFailureThreshold is the number of consecutive failures that
	// opens a breaker.
	DefaultFailureThreshold = 5
	// DefaultRecoveryTimeout is how long a breaker stays open before it
	// admits trial calls.
	DefaultRecoveryTimeout = 60 * time.Second
	// DefaultHalfOpenMaxCalls is how many trial calls a half-open breaker
	// admits, and how many must succeed before it closes.
	DefaultHalfOpenMaxCalls = 3
	// DefaultMaxBreakers is how many breakers a Registry holds at most.
	DefaultMaxBreakers = 10_000
	// MaxNameLength is the longest valid breaker name, in bytes.
	MaxNameLength = 255
	// maxHalfOpenCalls is the largest valid half-open trial count: trials
	// in flight and succeeded are 16 bits each in the word.
	maxHalfOpenCalls = 1<<16 - 1
	// maxFailureThreshold is the largest valid failure threshold. It is
	// compared as a uint64, for int is 32 bits on some targets.
	maxFailureThreshold uint64 = 1<<32 - 1
)

// Clock tells the time. A breaker reads it to decide when the recovery
// timeout has passed and to stamp failures and state changes. Inject one
// with [WithClock] to test timing without sleeping; breakertest.Clock is a
// ready manual clock.
type Clock interface {
	Now() time.Time
}

// Option configures a breaker in [New], or every breaker of a registry in
// [NewRegistry]. The last option for a setting wins.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithFailureThreshold sets how many consecutive failures open the breaker
// (the spec's failure_threshold). Default 5; it must be at least 1.
func WithFailureThreshold(n int) Option {
	return optionFunc(func(c *config) { c.failureThreshold, c.thresholdGiven = n, true })
}

// WithRecoveryTimeout sets how long the breaker stays open before it admits
// trial calls (the spec's recovery_timeout). Default 60s; it must be
// positive.
func WithRecoveryTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.recoveryTimeout = int64(d) })
}

// WithHalfOpenMaxCalls sets how many trial calls a half-open breaker admits
// at once, and so how many must succeed before it closes (the spec's
// half_open_max_calls). Default 3; valid from 1 to 65535.
func WithHalfOpenMaxCalls(n int) Option {
	return optionFunc(func(c *config) { c.halfOpenMaxCalls = n })
}

// WithFailurePredicate sets which errors count as failures (the spec's
// expected_exception). An error for which isFailure returns false is
// ignored: it neither opens the breaker nor resets its failure count. The
// default counts every non-nil error. Whatever the predicate, an error
// returned after the caller's own context was cancelled is ignored, and a
// panic is a failure. isFailure must not be nil, must be safe for concurrent
// use, and is never called with a nil error.
func WithFailurePredicate(isFailure func(error) bool) Option {
	return optionFunc(func(c *config) { c.isFailure, c.customPredicate = isFailure, true })
}

// WithClock sets the clock the breaker reads. The default is the system's
// monotonic clock. c must not be nil.
func WithClock(c Clock) Option {
	return optionFunc(func(cfg *config) { cfg.clock, cfg.clockSet = c, true })
}

// WithEventBus sets the bus the breaker publishes its events on. By default
// New gives each breaker a bus of its own (an [events.Sync]), and a
// [Registry] gives all its breakers one shared bus. A nil bus turns events
// off for the breaker.
func WithEventBus(bus events.Bus[Event]) Option {
	return optionFunc(func(c *config) { c.bus, c.busSet = bus, true })
}

// WithMaxBreakers limits how many breakers a [Registry] holds, so that names
// built from request data cannot grow memory and metric cardinality without
// bound. Default 10,000; it must be at least 1 (New validates it too, but
// otherwise ignores it). It is read by [NewRegistry].
func WithMaxBreakers(n int) Option {
	return optionFunc(func(c *config) { c.maxBreakers = n })
}

// WithIdleEviction makes a [Registry] forget breakers nobody uses: a
// breaker that has stayed closed (not forced) with no call finished or
// rejected for at least after is removed, as by [Registry.Remove]. Use it
// for registries keyed by request data, such as httpbreaker's breaker per
// host, so that hosts seen once do not fill the registry. The registry
// looks when Get is about to create a breaker, at most once per after/4
// (full or not: a full registry refuses the Gets in between without
// looking), so eviction needs no goroutine; a call still running
// on a breaker when it is evicted is recorded on it but no longer
// reported. Default 0: never; it must not be negative. The time comes from
// the registry defaults' [WithClock], or the system clock. It is read by
// [NewRegistry].
func WithIdleEviction(after time.Duration) Option {
	return optionFunc(func(c *config) { c.idleEviction = int64(after) })
}

// WithTripPolicy replaces the breaker's trip policies; the breaker opens
// when any of them says so. At least one is needed, each kind at most once.
// WithTripPolicy(ConsecutiveFailures(5)) is the default.
func WithTripPolicy(policies ...TripPolicy) Option {
	return optionFunc(func(c *config) {
		c.failureThreshold, c.thresholdGiven, c.rate, c.slow = 0, false, nil, nil
		c.policyErr = nil
		if len(policies) == 0 {
			c.policyErr = &ConfigError{Field: "trip_policy", Value: "none", Reason: "needs at least one policy"}
		}
		seen := map[policyKind]bool{}
		for _, p := range policies {
			if seen[p.kind] && c.policyErr == nil {
				c.policyErr = &ConfigError{Field: "trip_policy", Value: p, Reason: "the same kind of policy is given twice"}
			}
			seen[p.kind] = true
			if err := p.validate(); err != nil && c.policyErr == nil {
				c.policyErr = err
			}
			switch p.kind {
			case policyConsecutive:
				c.failureThreshold = p.n
			case policyFailureRate:
				c.rate = &p
			case policySlowCalls:
				c.slow = &p
			}
		}
	})
}

// WithRecoveryBackoff makes each failed half-open probe lengthen the next
// open period: the first opening lasts initial, and each reopening after a
// failed trial multiplies the last period by multiplier, up to max. Each
// period is then spread by up to ±jitter of itself (jitter in [0, 1); 0.1 is
// ±10%) so that many breakers that opened together do not probe together.
// A breaker that closes starts again from initial. The recovery timeout is
// not used while a backoff is set. [OpenError.RetryAfter] reflects the
// current period.
func WithRecoveryBackoff(initial, max time.Duration, multiplier, jitter float64) Option {
	return optionFunc(func(c *config) {
		c.backoff = &backoff{initial: initial, max: max, multiplier: multiplier, jitter: jitter}
	})
}

// WithHalfOpenMaxWait bounds how long trial calls may hold a half-open
// breaker: if trials are still running d after the oldest of them was
// admitted, the breaker reopens (reason half_open_timeout) instead of
// rejecting everything until a probe that may never return comes back. It
// counts from a trial, not from the transition, because the transition is
// lazy: a State or Stats call (a status page read, say) can make the
// breaker half-open long before anyone calls; and a trial admitted after every
// earlier one has returned (an ignored trial frees its slot) starts the
// count afresh. Default 0: no bound.
func WithHalfOpenMaxWait(d time.Duration) Option {
	return optionFunc(func(c *config) { c.halfOpenMaxWait = int64(d) })
}

// WithShadowMode runs the breaker without ever rejecting a call: the state
// machine, events and telemetry behave as if it did, and a call it would
// have rejected runs anyway and is counted as [OutcomeShadowRejected]
// instead of feeding the state machine. Use it to roll a breaker out and
// watch it before it acts; [Breaker.SetShadowMode] turns it off at run time.
func WithShadowMode(on bool) Option {
	return optionFunc(func(c *config) { c.shadow, c.shadowSet = on, true })
}
