package retry

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
)

var randInt64N = rand.Int64N

// Do runs fn, and runs it again while it fails and p says to retry: the Go
// form of the spec's retry_handler.execute_with_retry. It returns the
// value and error of the last attempt, except that when p stops retrying
// for a reason of its own (attempts exhausted, budget, deadline,
// Retry-After beyond the maximum, or ctx cancelled during a wait) the error
// is an [*Error] that wraps the last attempt's error.
//
// The first attempt gets ctx unchanged; each retry gets a context derived
// from ctx that tells [Attempt] its number. A panic in fn is never retried:
// it goes on up the stack as it was. A panic in a retry is counted as a
// failed call ([ReasonNotRetryable]); one in the first attempt is not
// counted at all, because the first attempt runs with no deferred
// function: a call whose first attempt succeeds costs one counter add,
// reads no clock (unless [WithMaxDuration] is set), allocates nothing and
// publishes no event.
//
// See the package documentation for the order of the rules and for
// composing Do with a circuit breaker. p must not be nil; a nil ctx is
// treated as context.Background(), as the breaker treats it.
func Do[T any](ctx context.Context, p *Policy, fn func(context.Context) (T, error)) (T, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if fn == nil || p.cfg.maxDuration > 0 {
		return doTimed(ctx, p, fn)
	}
	// The first attempt runs with no defer, no clock and no call state:
	// a success costs one counter add.
	v, err := fn(ctx)
	if err != nil {
		return retrying(ctx, p, fn, time.Time{}, v, err)
	}
	// p.succeeded(), by hand: one call less on the path that matters.
	if w := p.successes.word.Load(); w&1 != 0 || !p.successes.word.CompareAndSwap(w, w+2) {
		p.successes.addSlow()
	}
	if p.shared {
		p.budget.deposit()
	}
	return v, nil
}

// doTimed is Do for a nil fn, and for a policy with a maximum duration,
// whose calls read the clock when they start.
func doTimed[T any](ctx context.Context, p *Policy, fn func(context.Context) (T, error)) (T, error) {
	if fn == nil {
		var zero T
		return zero, ErrNilFunc
	}
	start := time.Now()
	v, err := fn(ctx)
	if err != nil {
		return retrying(ctx, p, fn, start, v, err)
	}
	p.succeeded()
	return v, nil
}

// succeeded counts a call whose first attempt succeeded.
func (p *Policy) succeeded() {
	p.successes.add()
	if p.shared {
		p.budget.deposit()
	}
}

// retrying goes on with a call whose first attempt failed.
func retrying[T any](ctx context.Context, p *Policy, fn func(context.Context) (T, error), start time.Time, v T, err error) (T, error) {
	c := call{p: p, ctx: ctx, start: start, attempt: 1}
	defer c.abandoned()
	for {
		next, again := c.failed(err)
		if !again {
			return v, c.err
		}
		if v, err = fn(next); err == nil {
			c.succeeded()
			return v, nil
		}
	}
}

// Execute runs fn through p, like [Do], for a function that returns only
// an error.
func (p *Policy) Execute(ctx context.Context, fn func(context.Context) error) error {
	if fn == nil {
		return ErrNilFunc
	}
	_, err := Do(ctx, p, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
	return err
}

// Wrap returns a function that runs fn through p on every call, with the
// same signature as fn: the decorator form. The same type as
// breaker.Wrap's lets the two compose in either order (see the package
// documentation).
func Wrap[T any](p *Policy, fn func(context.Context) (T, error)) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) { return Do(ctx, p, fn) }
}

// attemptKey is the context key of the attempt number.
type attemptKey struct{}

// Attempt returns the number of the attempt that ctx was given to, from 1:
// for a log field, or for an HTTP span's http.request.resend_count
// (Attempt(ctx)-1). A context that did not come from a retry reports 1.
//
// A first attempt runs with the caller's context unchanged (that is what
// keeps it free), so inside a retry nested in another, a first attempt of
// the inner one reports the outer one's number.
func Attempt(ctx context.Context) int {
	if n, ok := ctx.Value(attemptKey{}).(int); ok {
		return n
	}
	return 1
}

// call is the state of one call through a policy. It lives on the caller's
// stack.
type call struct {
	p       *Policy
	ctx     context.Context
	start   time.Time // set with WithMaxDuration
	attempt int       // the attempt running or just finished, from 1
	n       int       // backoff exponent of the next wait
	slept   time.Duration
	err     error // what the caller gets, once ended
	ended   bool
}

// succeeded records a success after retrying.
func (c *call) succeeded() {
	c.ended = true
	p := c.p
	p.afterRetry.Add(1)
	if p.shared {
		p.budget.deposit()
	}
	if p.observed() {
		p.bus.Publish(c.ctx, Event{Kind: EventCall, Policy: p, Outcome: OutcomeSuccessAfterRetry,
			Attempts: c.attempt, Retries: c.attempt - 1, Slept: c.slept})
	}
}

// abandoned counts a call whose function panicked (or called
// runtime.Goexit) in a retry: a failure that is not retried. It runs
// deferred, and does nothing for a call that ended normally.
func (c *call) abandoned() {
	if !c.ended {
		c.count(ReasonNotRetryable)
	}
}

// count records a failed call that stopped for reason r.
func (c *call) count(r Reason) {
	c.ended = true
	p := c.p
	p.stops[r].Add(1)
	if c.attempt == 1 {
		p.failures.Add(1)
	} else {
		p.failuresAfter.Add(1)
	}
	if p.shared {
		p.budget.deposit()
	}
}

// stop ends the call with reason r: the caller gets final.
func (c *call) stop(r Reason, final error) (context.Context, bool) {
	c.count(r)
	c.err = final
	p := c.p
	if p.observed() {
		o := OutcomeFailure
		if c.attempt > 1 {
			o = OutcomeFailureAfterRetry
		}
		p.bus.Publish(c.ctx, Event{Kind: EventCall, Policy: p, Outcome: o, Reason: r, Err: final,
			Attempts: c.attempt, Retries: c.attempt - 1, Slept: c.slept})
	}
	return nil, false
}

// giveUp ends the call with an *Error for reason r around the last error.
func (c *call) giveUp(r Reason, last error, cause error) (context.Context, bool) {
	return c.stop(r, &Error{Policy: c.p.name, Reason: r, Attempts: c.attempt, Err: last, cause: cause})
}

// ctxDone reports whether the caller's context has ended, why, and its
// cause.
func (c *call) ctxDone() (Reason, error, bool) {
	err := c.ctx.Err()
	if err == nil {
		return 0, nil, false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ReasonDeadline, context.Cause(c.ctx), true
	}
	return ReasonCancelled, context.Cause(c.ctx), true
}

// failed decides what follows the failed attempt c.attempt: it waits and
// returns the next attempt's context and true, or ends the call (c.err)
// and returns false. The rules, in order: the caller's context; a nested
// retry's error; a Permanent or Classified mark; a breaker's rejection; the
// classifier; a breaker's trial; the attempts left; Retry-After's maximum;
// the time left; the budget. Only then does it wait.
func (c *call) failed(err error) (context.Context, bool) {
	p := c.p
	if r, cause, done := c.ctxDone(); done {
		return c.giveUp(r, err, cause)
	}
	var d Decision
	openWait := false
	if _, nested := as[*Error](err); nested {
		return c.stop(ReasonNotRetryable, err)
	}
	if m, marked := as[*decided](err); marked {
		d = m.d
		if m == err {
			err = m.err // the mark is outermost: what the caller gets is what it marks
		}
		if !d.Retries() {
			return c.stop(ReasonNotRetryable, err)
		}
	} else if oe, open := as[*breaker.OpenError](err); open || errors.Is(err, breaker.ErrOpen) {
		if !p.cfg.openWaitSet || oe == nil || oe.Forced() {
			return c.stop(ReasonCircuitOpen, err)
		}
		wait := oe.RetryAfter()
		if wait > p.cfg.openWait {
			return c.stop(ReasonCircuitOpen, err)
		}
		d = Retry // half-open, or due: the ordinary backoff
		if wait > 0 {
			spread := time.Duration(p.randN(int64(p.cfg.initial)))
			d, openWait = Decision{kind: kindRetry, after: wait + min(spread, math.MaxInt64-wait)}, true
		}
	} else if d = p.cfg.classify(err); !d.Retries() {
		return c.stop(ReasonNotRetryable, err)
	}
	if isTrial(c.ctx) {
		return c.stop(ReasonTrial, err)
	}
	if c.attempt > p.cfg.maxRetries {
		return c.giveUp(ReasonExhausted, err, nil)
	}
	var delay time.Duration
	if d.after > 0 {
		if !openWait && d.after > p.cfg.maxRetryAfter {
			return c.giveUp(ReasonRetryAfter, err, nil)
		}
		delay, c.n = d.after, 0 // the server's word replaces the backoff, which starts over
	} else {
		delay = p.jittered(p.backoff(c.n))
		c.n++
	}
	deadline, hasDeadline := c.ctx.Deadline()
	var now time.Time
	if hasDeadline || p.cfg.maxDuration > 0 || delay > 0 {
		now = time.Now()
		at := now.Add(delay)
		if hasDeadline && !at.Before(deadline) {
			return c.giveUp(ReasonDeadline, err, nil)
		}
		if p.cfg.maxDuration > 0 && at.Sub(c.start) > p.cfg.maxDuration {
			return c.giveUp(ReasonDeadline, err, nil)
		}
	}
	if p.budget != nil && !p.budget.withdraw() {
		return c.giveUp(ReasonBudget, err, nil)
	}
	if p.observed() {
		p.bus.Publish(c.ctx, Event{Kind: EventRetry, Policy: p, Attempt: c.attempt, Delay: delay, Err: err})
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
			c.slept += delay
			p.slept.Add(int64(delay))
		case <-c.ctx.Done():
			t.Stop()
			waited := max(0, time.Since(now))
			c.slept += waited
			p.slept.Add(int64(waited))
			r, cause, _ := c.ctxDone()
			return c.giveUp(r, err, cause)
		}
	}
	if r, cause, done := c.ctxDone(); done {
		return c.giveUp(r, err, cause)
	}
	c.attempt++
	p.retries.Add(1)
	return context.WithValue(c.ctx, attemptKey{}, c.attempt), true
}
