package retry

import (
	"strconv"
	"time"

	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/internal/typednil"
)

// The defaults.
const (
	// DefaultMaxRetries is how many times a failed call is retried: the
	// spec's RetryHandler(max_retries=3), so at most 4 attempts.
	DefaultMaxRetries = 3
	// DefaultInitialDelay is the backoff before the first retry, before
	// jitter.
	DefaultInitialDelay = 100 * time.Millisecond
	// DefaultMaxDelay caps the backoff, before jitter.
	DefaultMaxDelay = 10 * time.Second
	// DefaultMaxRetryAfter is the longest wait a dependency may ask for
	// with RetryAfter before the policy gives up instead.
	DefaultMaxRetryAfter = 10 * time.Second
	// MaxMaxRetries is the largest valid WithMaxRetries.
	MaxMaxRetries = 1000
)

// Jitter says how a backoff delay is randomised.
type Jitter uint8

// The jitters. For the n-th retry (n from 0) the backoff is
// d = min(max, initial x 2^n), and the policy waits:
const (
	// FullJitter waits a uniformly random time in [0, d): the default.
	// It spreads retries most widely, so that callers that failed together
	// do not retry together.
	FullJitter Jitter = iota
	// EqualJitter waits d/2 plus a uniformly random time in [0, d/2).
	EqualJitter
	// NoJitter waits exactly d: for exact schedules and tests.
	NoJitter
)

var jitterNames = [...]string{"full", "equal", "none"}

// String returns "full", "equal" or "none".
func (j Jitter) String() string {
	if int(j) < len(jitterNames) {
		return jitterNames[j]
	}
	return "jitter(" + strconv.Itoa(int(j)) + ")"
}

// Option configures a policy in [New]. The last option for a setting wins.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	maxRetries    int
	initial, max  time.Duration
	jitter        Jitter
	maxDuration   time.Duration
	classify      Classifier
	budget        *Budget
	budgetSet     bool          // WithBudget given
	noBudget      bool          // WithoutBudget given
	openWait      time.Duration // 0: a rejection stops the call
	openWaitSet   bool
	maxRetryAfter time.Duration
	bus           events.Bus[Event]
	busSet        bool
	rand          func(n int64) int64 // [0, n); nil: math/rand/v2
}

func defaultConfig() config {
	return config{
		maxRetries:    DefaultMaxRetries,
		initial:       DefaultInitialDelay,
		max:           DefaultMaxDelay,
		classify:      DefaultClassifier,
		maxRetryAfter: DefaultMaxRetryAfter,
	}
}

// WithMaxRetries sets how many times a failed call is retried (the spec's
// max_retries): n retries make at most n+1 attempts. Default 3; valid from
// 0 (one attempt, no retry) to 1000.
func WithMaxRetries(n int) Option {
	return optionFunc(func(c *config) { c.maxRetries = n })
}

// WithBackoff sets the exponential backoff: the n-th retry (n from 0) waits
// min(max, initial x 2^n), randomised by the jitter. Defaults 100ms and
// 10s; max must be at least initial (equal values give a constant delay).
// WithBackoff(0, 0) retries at once, for tests and benchmarks: in
// production a dependency that fails at once would then get every retry
// within microseconds.
func WithBackoff(initial, max time.Duration) Option {
	return optionFunc(func(c *config) { c.initial, c.max = initial, max })
}

// WithJitter sets how the backoff is randomised: [FullJitter] (the
// default), [EqualJitter], or [NoJitter] for an exact schedule.
func WithJitter(j Jitter) Option {
	return optionFunc(func(c *config) { c.jitter = j })
}

// WithMaxDuration bounds the time from a call's start to the start of its
// last attempt: a retry that could not start within d is not made
// ([ReasonDeadline]). The caller's context deadline always applies as
// well. Default 0: no bound but the context's. It must not be negative.
// With a bound, every call reads the clock once when it starts.
func WithMaxDuration(d time.Duration) Option {
	return optionFunc(func(c *config) { c.maxDuration = d })
}

// WithClassifier sets which errors are retried (the spec's
// ErrorClassifier). The default, [DefaultClassifier], retries every error.
//
// The policy settles some errors before asking the classifier, and the
// classifier never sees them: when the caller's context has ended the
// call stops; a breaker's rejection ([breaker.ErrOpen]) stops unless
// [WithOpenWait] says to wait; an error marked [Permanent] or [Classified]
// carries its own decision; an error from a nested retry (an [*Error] in
// the chain) is not retried again. A panic is never retried. classify must
// not be nil.
func WithClassifier(classify Classifier) Option {
	return optionFunc(func(c *config) { c.classify = classify })
}

// WithBudget makes the policy draw its retries from b, which policies
// calling the same dependency should share. By default each policy has a
// budget of its own ([DefaultBudgetRatio], [DefaultBudgetBurst]); a
// shared one costs each call one more atomic add. b must not be nil: to
// turn the budget off, use [WithoutBudget].
func WithBudget(b *Budget) Option {
	return optionFunc(func(c *config) { c.budget, c.budgetSet, c.noBudget = b, true, false })
}

// WithoutBudget turns the retry budget off: retries are then bounded only
// by WithMaxRetries, so under a full outage every call makes all its
// attempts.
func WithoutBudget() Option {
	return optionFunc(func(c *config) { c.budget, c.budgetSet, c.noBudget = nil, false, true })
}

// WithOpenWait makes the policy wait for a circuit breaker that rejected
// an attempt: when the rejection's [breaker.OpenError.RetryAfter] is
// positive and at most max, and the wait fits the deadline, the policy
// sleeps that long plus a random part of the initial backoff (so that the
// callers it held do not arrive together), then retries. A rejection
// that would need a longer wait, a breaker held open by ForceOpen, and
// every rejection without this option stop the call at once
// ([ReasonCircuitOpen]). A half-open rejection (RetryAfter zero: every
// trial slot taken) waits the ordinary backoff, never zero, so callers do
// not spin. max must be positive.
func WithOpenWait(max time.Duration) Option {
	return optionFunc(func(c *config) { c.openWait, c.openWaitSet = max, true })
}

// WithMaxRetryAfter sets the longest wait a [RetryAfter] decision may ask
// for: a longer one stops the call at once ([ReasonRetryAfter]) rather than
// holding it. Default 10s; it must be positive.
func WithMaxRetryAfter(d time.Duration) Option {
	return optionFunc(func(c *config) { c.maxRetryAfter = d })
}

// WithEventBus sets the bus the policy publishes its [Event] values on. By
// default each policy has a bus of its own (an [events.Sync]); a nil bus
// turns events off.
func WithEventBus(bus events.Bus[Event]) Option {
	return optionFunc(func(c *config) { c.bus, c.busSet = bus, true })
}

// withRand replaces the jitter's random source (tests).
func withRand(f func(n int64) int64) Option {
	return optionFunc(func(c *config) { c.rand = f })
}

func (c *config) validate() error {
	switch {
	case c.maxRetries < 0 || c.maxRetries > MaxMaxRetries:
		return &ConfigError{Field: "max_retries", Value: c.maxRetries, Reason: "must be from 0 to 1000"}
	case c.initial < 0:
		return &ConfigError{Field: "backoff.initial", Value: c.initial, Reason: "must not be negative"}
	case c.max < c.initial:
		return &ConfigError{Field: "backoff.max", Value: c.max, Reason: "must be at least backoff.initial (" + c.initial.String() + ")"}
	case c.jitter > NoJitter:
		return &ConfigError{Field: "jitter", Value: c.jitter, Reason: "must be FullJitter, EqualJitter or NoJitter"}
	case c.maxDuration < 0:
		return &ConfigError{Field: "max_duration", Value: c.maxDuration, Reason: "must not be negative (0 means no bound)"}
	case c.classify == nil:
		return &ConfigError{Field: "classifier", Value: nil, Reason: "must not be nil"}
	case c.busSet && c.bus != nil && typednil.Is(c.bus):
		return &ConfigError{Field: "event_bus", Value: c.bus, Reason: "is a nil pointer; pass an untyped nil to turn events off"}
	case c.budgetSet && c.budget == nil:
		return &ConfigError{Field: "budget", Value: nil, Reason: "must not be nil (WithoutBudget turns the budget off)"}
	case c.openWaitSet && c.openWait <= 0:
		return &ConfigError{Field: "open_wait", Value: c.openWait, Reason: "must be positive"}
	case c.maxRetryAfter <= 0:
		return &ConfigError{Field: "max_retry_after", Value: c.maxRetryAfter, Reason: "must be positive"}
	}
	return nil
}
