package breaker

import "context"

// Permit is one call that a breaker admitted with [Breaker.Allow]: the
// two-step form of [Breaker.Execute], for work that is not one function
// call (a streamed response body, a callback, a job finished elsewhere,
// middleware that must see the response first). Finish it with
// [Permit.Done].
//
// A Permit is a small value; admitting and finishing one allocates nothing
// on the closed path. Done records the outcome once: calling it again on
// the same Permit does nothing. A copy is the same call, so finish either
// the original or the copy, not both. The zero Permit is finished already.
type Permit struct {
	b     *Breaker
	p     *period // the period the call was admitted in
	cfg   *config // the settings it was admitted under
	ctx   context.Context
	start int64 // breaker time of admission, when permitTimed
	flags permitFlags
}

type permitFlags uint8

const (
	permitDone      permitFlags = 1 << iota
	permitTimed                 // the call's duration is measured
	permitPublished             // a call event is published when it finishes
	permitShadow                // shadow mode let through a call that would have been rejected
	permitTrial                 // a half-open trial
	permitFast                  // closed, untimed, no rate window: a success is one counter add
)

// Allow asks the breaker to admit one call, by the same rules as Execute.
// When it does, the call must be finished with [Permit.Done], which
// records the outcome by the same rules as Execute (the failure predicate,
// the caller's own cancellation, a result from an earlier period, the
// half-open trial slot, the call's duration for subscribers). When it does
// not, Allow returns the zero Permit and an [*OpenError], which wraps
// [ErrOpen].
//
// ctx is the call's context: Done checks whether it was cancelled, and
// events are published with it. A nil ctx is treated as
// context.Background().
//
// A half-open breaker admits at most half_open_max_calls trials at a time,
// and a trial holds its slot until Done. A permit that is never finished
// therefore holds a slot until [WithHalfOpenMaxWait] reopens the breaker
// (without it, until [Breaker.Reset]), and is counted nowhere.
func (b *Breaker) Allow(ctx context.Context) (Permit, error) {
	var pm Permit
	err := b.admit(ctx, &pm)
	return pm, err
}

// admit fills pm for a call the breaker admits, or returns the rejection.
// Execute and Do admit into a Permit of their own frame, so the fast path
// copies nothing.
func (b *Breaker) admit(ctx context.Context, pm *Permit) error {
	if ctx == nil {
		ctx = context.Background()
	}
	p := b.period.Load()
	if w := b.word.Load(); p.gen == w.gen() {
		if w.closedIdle() {
			b.fill(pm, ctx, p, 0)
			return nil
		}
		if w.openIdle() && p.timer != nil && !p.due.Load() && !b.shadow.Load() {
			// Open on the system clock and its timer has not fired: reject
			// without the slow path's loop or a clock read. The timer
			// fires no earlier than the recovery time, and as soon after
			// it as the runtime runs timers; State, Stats and the slow
			// path read the clock and are exact.
			return b.reject(ctx, p)
		}
	}
	return b.admitSlow(ctx, pm)
}

// fill sets up pm for a call admitted in period p.
func (b *Breaker) fill(pm *Permit, ctx context.Context, p *period, flags permitFlags) {
	c := b.cfg.Load()
	switch {
	case b.observed():
		flags |= permitPublished | permitTimed
	case c.slow != nil:
		flags |= permitTimed
	case flags == 0 && c.rate == nil && p.state == Closed:
		flags = permitFast
	}
	pm.b, pm.p, pm.cfg, pm.ctx, pm.flags = b, p, c, ctx, flags
	if flags&permitTimed != 0 {
		pm.start = b.now()
	}
}

// admitSlow admits a call when the breaker is not plainly closed. It never
// waits for a running call.
func (b *Breaker) admitSlow(ctx context.Context, pm *Permit) error {
	for {
		w := b.word.Load()
		if w.pending() {
			waitPending()
			continue
		}
		p := b.period.Load()
		if p.gen != w.gen() {
			continue // a transition ended between the two loads
		}
		switch w.state() {
		case Closed:
			b.fill(pm, ctx, p, 0)
			return nil
		case HalfOpen:
			if w.inFlight()+w.succeeded() < b.cfg.Load().halfOpenMaxCalls {
				b.noteTrial(p, w)
				if b.word.CompareAndSwap(w, w+1) {
					b.fill(pm, ctx, p, permitTrial)
					return nil
				}
				continue
			}
			if b.trialsSuffice(ctx, p, w) {
				b.drain()
				continue
			}
			if b.trialsOverdue(ctx, p, w) {
				continue
			}
		default: // Open
			if !w.forced() && b.recoveryDue(p) {
				b.toHalfOpen(ctx, p)
				continue
			}
		}
		if b.shadow.Load() {
			b.fill(pm, ctx, p, permitShadow)
			return nil
		}
		return b.reject(ctx, p)
	}
}

// reject counts a rejection in period p and returns the period's
// OpenError.
func (b *Breaker) reject(ctx context.Context, p *period) error {
	b.rejected.add()
	if b.observed() {
		b.bus.Publish(ctx, Event{Kind: EventCall, Breaker: b, Outcome: OutcomeRejected, Err: p.err})
	}
	return p.err
}

// Done records the outcome of the call: a nil err is a success; a non-nil
// err is a failure if the failure predicate says so, and ignored if it does
// not or if the call's context was cancelled by the caller. A call whose
// period has ended (the breaker changed state while it ran) counts in the
// totals but does not move the new period. Calling Done again, or on the
// zero Permit, does nothing.
//
// A [*PanicError] is always a failure, as a panic is for Execute. If the
// failure predicate panics, Done records a failure and then re-raises the
// predicate's panic.
func (pm *Permit) Done(err error) {
	if err == nil && pm.flags == permitFast {
		// The common case, kept short: one counter add.
		pm.flags |= permitDone
		pm.b.successes.add()
		if pm.b.word.Load().count() != 0 {
			pm.b.clearFailures(pm.p)
		}
		return
	}
	pm.done(err)
}

// done is Done beyond the closed-success fast path.
func (pm *Permit) done(err error) {
	b := pm.b
	if b == nil || pm.flags&permitDone != 0 {
		return
	}
	pm.flags |= permitDone
	if err == nil {
		b.record(pm, OutcomeSuccess, nil)
		return
	}
	o, panicked := pm.classify(err)
	if o == outcomeRecorded {
		return
	}
	b.record(pm, o, err)
	if panicked != nil {
		panic(panicked)
	}
}

// Ignore finishes the call as ignored, whatever the failure predicate would
// say: the caller judged that the outcome says nothing about the
// dependency (the client went away, the request was refused before it was
// sent). An ignored trial frees its half-open slot. Like Done, it does
// nothing on a finished Permit.
func (pm *Permit) Ignore() {
	if pm.b == nil || pm.flags&permitDone != 0 {
		return
	}
	pm.flags |= permitDone
	pm.b.record(pm, OutcomeIgnored, nil)
}

// outcomeRecorded tells Done that classify recorded the call itself.
const outcomeRecorded Outcome = 255

// classify decides what a non-nil err makes of the call. A predicate that
// panics makes it a failure (the panic value is returned for Done to
// re-raise once the call is recorded); one that calls runtime.Goexit makes
// it ignored, recorded here, since Done will not get to it.
func (pm *Permit) classify(err error) (o Outcome, panicked any) {
	if _, ok := err.(*PanicError); ok {
		return OutcomeFailure, nil
	}
	if pm.ctx.Err() == context.Canceled {
		return OutcomeIgnored, nil
	}
	if !pm.cfg.customPredicate {
		return OutcomeFailure, nil // the default counts every error, and cannot panic
	}
	normal := false
	defer func() {
		if normal {
			return
		}
		if panicked = recover(); panicked != nil {
			o = OutcomeFailure
			return
		}
		pm.b.record(pm, OutcomeIgnored, err) // runtime.Goexit
		o = outcomeRecorded
	}()
	failure := pm.cfg.isFailure(err)
	normal = true
	if failure {
		return OutcomeFailure, nil
	}
	return OutcomeIgnored, nil
}

// finishCall is deferred by Execute and Do: it records a call whose
// function panicked (a failure, re-raised) or called runtime.Goexit
// (ignored: no verdict on the dependency), which never reached Done.
func (pm *Permit) finishCall() {
	if pm.flags&permitDone != 0 {
		return
	}
	pm.flags |= permitDone
	r := recover()
	if r == nil {
		pm.b.record(pm, OutcomeIgnored, nil)
		return
	}
	pm.b.record(pm, OutcomeFailure, &PanicError{Value: r})
	panic(r)
}

// Context returns the context the permitted work should run with: the one
// given to Allow (context.Background() for a nil one), marked when the
// call is a half-open trial, so that [IsTrial] reports it to a retry loop
// inside the work as it does for Execute. The zero Permit returns
// context.Background().
func (pm *Permit) Context() context.Context {
	if pm.ctx == nil {
		return context.Background()
	}
	return pm.callContext()
}

// trialKey marks the context of a half-open trial's function.
type trialKey struct{}

// callContext returns the context the protected function receives.
func (pm *Permit) callContext() context.Context {
	if pm.flags&permitTrial != 0 {
		return context.WithValue(pm.ctx, trialKey{}, true)
	}
	return pm.ctx
}

// IsTrial reports whether ctx is, or derives from, the context that
// [Breaker.Execute], [Do] or a [Wrap]ped function gave to the function of a
// half-open trial call, or that [Permit.Context] returned for one. A retry loop running inside a protected function
// uses it to make one attempt only for a trial, so that the trial does not
// hold the breaker's trial slot through backoff sleeps (package retry does
// this). Calls made inside the trial's function see it too.
func IsTrial(ctx context.Context) bool {
	return ctx != nil && ctx.Value(trialKey{}) != nil
}

// Execute runs fn if the breaker permits it and records the outcome: nil is
// a success, an error is a failure or ignored (see [WithFailurePredicate]),
// and a panic is a failure that Execute re-raises with the original value
// (a runtime.Goexit is ignored). When the breaker does not permit the call,
// fn does not run and Execute returns an [*OpenError], which wraps
// [ErrOpen]. Otherwise it returns fn's error unchanged. ctx is passed to fn
// and to event subscribers; a nil ctx is treated as context.Background().
func (b *Breaker) Execute(ctx context.Context, fn func(context.Context) error) error {
	if fn == nil {
		return ErrNilFunc
	}
	var pm Permit
	if err := b.admit(ctx, &pm); err != nil {
		return err
	}
	defer pm.finishCall()
	err := fn(pm.callContext())
	pm.Done(err)
	return err
}
