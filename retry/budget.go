package retry

import (
	"math"
	"sync"
)

// The budget's defaults: each call adds a fifth of a token, each retry
// takes a whole one, and at most 10 are kept (the bucket starts full). So
// retries stay under 20% of calls plus 10, whatever the failure rate: the
// rule of Google's SRE book and Finagle's retry budgets.
const (
	DefaultBudgetRatio = 0.2
	DefaultBudgetBurst = 10
	// MaxBudgetRatio is the largest valid ratio: a budget that allows more
	// than a thousand retries per call bounds nothing.
	MaxBudgetRatio = 1000
	// MaxBudgetBurst is the largest valid burst.
	MaxBudgetBurst = 1 << 30
)

// unit is one token in the budget's fixed-point arithmetic (millionths),
// so that 0.2 a call adds up exactly.
const unit = 1_000_000

// Budget limits retries to a share of calls: a token bucket that every
// finished call fills by ratio tokens, that every retry empties by one
// token, and that holds at most burst tokens (it starts full). Retries
// then stay at or under ratio x calls + burst, whatever the failure rate,
// so retries cannot multiply the load on a dependency that is down. Share
// one budget between the policies that call the same dependency
// ([WithBudget]); by default each policy has one of its own with ratio
// 0.2 and burst 10.
//
// A retry the budget refuses is not made: the call fails with an [*Error]
// that wraps [ErrBudget] and the last attempt's error.
//
// The budget reads no clock: tokens come from calls, not time, so a quiet
// dependency does not save up retries beyond the burst. It is safe for
// concurrent use. A call deposits when it finishes, so a call still
// running has not deposited yet.
type Budget struct {
	ratio int64 // tokens (in units) each finished call adds
	burst int64 // most tokens held, in units

	// deposits counts the finished calls of a shared budget. A policy's own
	// budget reads the policy's totals (source) as well, so its own calls
	// pay for one counter, not two; other policies given it with
	// WithBudget deposit here.
	deposits counter
	source   func() uint64

	mu     sync.Mutex
	tokens int64  // in units, as of seen deposits; guarded by mu
	seen   uint64 // deposits already credited; guarded by mu
}

// NewBudget returns a full budget that adds ratio tokens per finished call
// and holds at most burst tokens; each retry takes one. ratio must be from
// 0 to 1000 and burst from 1 to 2^30; the error is a [*ConfigError] for
// "budget.ratio" or "budget.burst".
func NewBudget(ratio float64, burst int) (*Budget, error) {
	if !(ratio >= 0 && ratio <= MaxBudgetRatio) { // also refuses NaN
		return nil, &ConfigError{Field: "budget.ratio", Value: ratio, Reason: "must be from 0 to 1000"}
	}
	if burst < 1 || burst > MaxBudgetBurst {
		return nil, &ConfigError{Field: "budget.burst", Value: burst, Reason: "must be from 1 to 1073741824"}
	}
	b := &Budget{ratio: int64(math.Round(ratio * unit)), burst: int64(burst) * unit}
	b.tokens = b.burst
	return b, nil
}

// newOwnBudget returns a policy's default budget, filled by source.
func newOwnBudget(source func() uint64) *Budget {
	b, _ := NewBudget(DefaultBudgetRatio, DefaultBudgetBurst)
	b.source = source
	return b
}

// deposit counts one finished call of a shared budget.
func (b *Budget) deposit() { b.deposits.add() }

func (b *Budget) calls() uint64 {
	n := b.deposits.load()
	if b.source != nil {
		n += b.source()
	}
	return n
}

// settle credits the deposits made since the last settlement. Between two
// settlements there are only deposits, so clamping once at burst is the
// same as clamping after each. Call with mu held.
func (b *Budget) settle() {
	n := b.calls()
	if n <= b.seen {
		return
	}
	d := n - b.seen
	b.seen = n
	room := b.burst - b.tokens
	if b.ratio == 0 || room <= 0 {
		return
	}
	if d > uint64(room/b.ratio) { // d x ratio would pass the burst (or overflow)
		b.tokens = b.burst
		return
	}
	b.tokens += int64(d) * b.ratio
}

// withdraw takes one token for a retry and reports whether there was one.
func (b *Budget) withdraw() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.settle()
	if b.tokens < unit {
		return false
	}
	b.tokens -= unit
	return true
}

// Available returns the tokens in the budget now: how many retries it
// would allow if no call finished meanwhile (whole tokens), with the
// fraction deposited towards the next one.
func (b *Budget) Available() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.settle()
	return float64(b.tokens) / unit
}

// Ratio returns the tokens each finished call adds.
func (b *Budget) Ratio() float64 { return float64(b.ratio) / unit }

// Burst returns the most tokens the budget holds.
func (b *Budget) Burst() int { return int(b.burst / unit) }
