package retry

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/events"
)

// Policy retries failed calls: the spec's RetryHandler. It decides, for
// each failed attempt, whether to try again and how long to wait first,
// and keeps totals of what it did. Create one with [New] and run calls
// with [Do], [Policy.Execute] or [Wrap].
//
// A Policy is safe for concurrent use and starts no goroutine. Its
// settings are fixed at New.
type Policy struct {
	// Totals. successes is the first-attempt success path's one counter.
	successes     counter
	afterRetry    atomic.Uint64
	failures      atomic.Uint64
	failuresAfter atomic.Uint64
	stops         [numReasons]atomic.Uint64
	retries       atomic.Uint64
	slept         atomic.Int64 // ns

	name   string
	cfg    config
	budget *Budget // nil: no budget
	shared bool    // budget came from WithBudget: each call deposits
	bus    events.Bus[Event]
	sync   *events.Sync[Event] // bus, when it is the default kind
}

// New returns a policy named name. Without options it retries a failed
// call up to 3 times (the spec's max_retries=3) after exponential backoff
// with full jitter, from 100ms up to 10s, within a budget of 0.2 retries
// per call plus 10; it does not retry a breaker's rejection. The name
// follows the rules of [breaker.ValidateName]; it labels the policy's
// telemetry. The error is a [*ConfigError] wrapping [ErrInvalidConfig] that
// names the field of a bad name or option value.
func New(name string, opts ...Option) (*Policy, error) {
	if err := breaker.ValidateName(name); err != nil {
		var ce *breaker.ConfigError
		if errors.As(err, &ce) {
			return nil, &ConfigError{Field: ce.Field, Value: ce.Value, Reason: ce.Reason}
		}
		return nil, &ConfigError{Field: "name", Value: name, Reason: err.Error()}
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := &Policy{name: name, cfg: cfg, bus: cfg.bus}
	switch {
	case cfg.noBudget:
	case cfg.budgetSet:
		p.budget, p.shared = cfg.budget, true
	default:
		p.budget = newOwnBudget(p.finished)
	}
	if !cfg.busSet {
		p.bus = events.NewSync[Event]()
	}
	p.sync, _ = p.bus.(*events.Sync[Event])
	return p, nil
}

// Name returns the policy's name.
func (p *Policy) Name() string { return p.name }

// Events returns the bus the policy publishes on, or nil when events are
// off. Subscribe to it to observe the policy; see [Event].
func (p *Policy) Events() events.Bus[Event] { return p.bus }

// Budget returns the policy's retry budget: its own, the one given to
// [WithBudget], or nil after [WithoutBudget].
func (p *Policy) Budget() *Budget { return p.budget }

// MaxRetries returns how many times the policy retries a call at most.
func (p *Policy) MaxRetries() int { return p.cfg.maxRetries }

// observed reports whether anyone subscribed to the policy's events.
func (p *Policy) observed() bool {
	if p.sync != nil {
		return p.sync.Active()
	}
	return p.bus != nil && p.bus.Active()
}

// finished returns the calls that have finished: what fills the policy's
// own budget.
func (p *Policy) finished() uint64 {
	return p.successes.load() + p.afterRetry.Load() + p.failures.Load() + p.failuresAfter.Load()
}

// Stats is a snapshot of a policy's totals, for telemetry read at
// collection time. Every total is monotonic.
//
// TotalCalls is the sum of the four outcomes in the same snapshot; the
// failed calls (Failures + FailuresAfterRetry) equal the sum of the stops
// by reason, and TotalAttempts equals TotalCalls + TotalRetries, whenever
// no call is in flight. Fields are read one by one without a lock, so a
// snapshot taken while calls finish may mix counts from a few nanoseconds
// apart. A call is counted when it finishes; its retries when they start.
type Stats struct {
	// Name is the policy's name.
	Name string

	// TotalCalls counts finished calls: the sum of the four outcomes.
	TotalCalls uint64
	// Successes counts calls whose first attempt succeeded.
	Successes uint64
	// SuccessesAfterRetry counts calls that succeeded after retrying.
	SuccessesAfterRetry uint64
	// Failures counts calls that failed without retrying.
	Failures uint64
	// FailuresAfterRetry counts calls that failed after retrying.
	FailuresAfterRetry uint64

	// TotalAttempts counts the function's runs: every call's first attempt
	// and every retry (TotalCalls + TotalRetries once calls have finished).
	TotalAttempts uint64
	// TotalRetries counts the attempts after a call's first.
	TotalRetries uint64
	// TotalSlept is the time calls spent waiting between attempts.
	TotalSlept time.Duration

	// Stopped counts failed calls by the reason retrying stopped, one per
	// failed call; StoppedBy reads it by Reason.
	StoppedExhausted, StoppedBudget, StoppedDeadline, StoppedRetryAfter     uint64
	StoppedCircuitOpen, StoppedNotRetryable, StoppedCancelled, StoppedTrial uint64

	// HasBudget reports that the policy draws retries from a budget, and
	// BudgetAvailable is how many tokens it holds (see [Budget.Available]).
	HasBudget       bool
	BudgetAvailable float64
}

// Calls returns the total of one outcome.
func (s Stats) Calls(o Outcome) uint64 {
	switch o {
	case OutcomeSuccess:
		return s.Successes
	case OutcomeSuccessAfterRetry:
		return s.SuccessesAfterRetry
	case OutcomeFailure:
		return s.Failures
	case OutcomeFailureAfterRetry:
		return s.FailuresAfterRetry
	}
	return 0
}

// StoppedBy returns how many failed calls stopped for reason r.
func (s Stats) StoppedBy(r Reason) uint64 {
	switch r {
	case ReasonExhausted:
		return s.StoppedExhausted
	case ReasonBudget:
		return s.StoppedBudget
	case ReasonDeadline:
		return s.StoppedDeadline
	case ReasonRetryAfter:
		return s.StoppedRetryAfter
	case ReasonCircuitOpen:
		return s.StoppedCircuitOpen
	case ReasonNotRetryable:
		return s.StoppedNotRetryable
	case ReasonCancelled:
		return s.StoppedCancelled
	case ReasonTrial:
		return s.StoppedTrial
	}
	return 0
}

// Stats returns a snapshot of the policy's totals and budget.
func (p *Policy) Stats() Stats {
	s := Stats{Name: p.name}
	// Retries are read before calls: a retry starts before its call
	// finishes, so TotalAttempts never runs behind the calls it counts.
	s.TotalRetries = p.retries.Load()
	s.Successes = p.successes.load()
	s.SuccessesAfterRetry = p.afterRetry.Load()
	s.Failures = p.failures.Load()
	s.FailuresAfterRetry = p.failuresAfter.Load()
	s.TotalCalls = s.Successes + s.SuccessesAfterRetry + s.Failures + s.FailuresAfterRetry
	s.TotalAttempts = s.TotalCalls + s.TotalRetries
	s.TotalSlept = time.Duration(p.slept.Load())
	s.StoppedExhausted = p.stops[ReasonExhausted].Load()
	s.StoppedBudget = p.stops[ReasonBudget].Load()
	s.StoppedDeadline = p.stops[ReasonDeadline].Load()
	s.StoppedRetryAfter = p.stops[ReasonRetryAfter].Load()
	s.StoppedCircuitOpen = p.stops[ReasonCircuitOpen].Load()
	s.StoppedNotRetryable = p.stops[ReasonNotRetryable].Load()
	s.StoppedCancelled = p.stops[ReasonCancelled].Load()
	s.StoppedTrial = p.stops[ReasonTrial].Load()
	if p.budget != nil {
		s.HasBudget = true
		s.BudgetAvailable = p.budget.Available()
	}
	return s
}

// backoff returns the n-th backoff (n from 0) before jitter:
// min(max, initial x 2^n), without overflow.
func (p *Policy) backoff(n int) time.Duration {
	d, ceil := p.cfg.initial, p.cfg.max
	for ; n > 0 && d < ceil && d > 0; n-- {
		if d > ceil/2 {
			return ceil
		}
		d *= 2
	}
	return min(d, ceil)
}

// jittered applies the policy's jitter to a backoff d.
func (p *Policy) jittered(d time.Duration) time.Duration {
	switch p.cfg.jitter {
	case NoJitter:
		return d
	case EqualJitter:
		half := d / 2
		return half + time.Duration(p.randN(int64(d-half)))
	}
	return time.Duration(p.randN(int64(d)))
}

// randN returns a uniformly random int64 in [0, n), or 0 when n <= 0.
func (p *Policy) randN(n int64) int64 {
	if n <= 0 {
		return 0
	}
	if p.cfg.rand != nil {
		return p.cfg.rand(n)
	}
	return randInt64N(n)
}
