package breaker

import (
	"context"
	"time"
)

// result describes a finished call to the functions that record it.
type result struct {
	outcome Outcome
	err     error
	now     int64 // breaker time when the call finished, if haveNow
	haveNow bool
	slow    bool
}

// clock returns the result's time, reading the clock the first time.
func (r *result) clock(b *Breaker) int64 {
	if !r.haveNow {
		r.now, r.haveNow = b.now(), true
	}
	return r.now
}

// record counts the outcome of an admitted call, moves the state machine
// if the call's period is still current, and publishes the call's event.
func (b *Breaker) record(pm *Permit, o Outcome, err error) {
	c, p := pm.cfg, pm.p
	r := result{outcome: o, err: err}
	var dur int64
	if pm.flags&permitTimed != 0 {
		dur = max(0, r.clock(b)-pm.start)
	}
	r.slow = c.slow != nil && dur >= int64(c.slow.slowerThan)
	if r.slow {
		b.slowCalls.Add(1)
	}
	changed := false
	switch {
	case pm.flags&permitShadow != 0:
		// The breaker would have rejected this call: it ran, but its
		// outcome must not move the state machine.
		b.shadowed.Add(1)
		r.outcome = OutcomeShadowRejected
	case o == OutcomeSuccess:
		b.successes.add()
		if p.state == Closed {
			if b.word.Load().count() != 0 {
				b.clearFailures(p)
			}
			if ws := b.wins.Load(); ws != nil {
				changed = b.recordWindows(pm, &r, ws)
			}
		} else {
			changed = b.trialSucceeded(pm.ctx, p)
		}
	case o == OutcomeFailure:
		b.failures.Add(1)
		b.lastFail.Store(r.clock(b))
		if p.state == Closed {
			changed = b.countFailure(pm, &r)
			if ws := b.wins.Load(); !changed && ws != nil {
				changed = b.recordWindows(pm, &r, ws)
			}
		} else {
			changed = b.trialFailed(pm.ctx, p, &r)
		}
	default:
		b.ignored.Add(1)
		if p.state == HalfOpen {
			b.releaseTrial(p)
		}
	}
	if pm.flags&permitPublished != 0 && b.observed() {
		b.bus.Publish(pm.ctx, Event{Kind: EventCall, Breaker: b, Outcome: r.outcome, Err: err, Duration: time.Duration(dur)})
	}
	if changed {
		b.drain()
	}
}

// current loads the word once no transition is under way, and reports
// whether period p is still the breaker's period for it.
func (b *Breaker) current(p *period) (word, bool) {
	for {
		w := b.word.Load()
		if !w.pending() {
			return w, b.period.Load() == p
		}
		waitPending()
	}
}

// clearFailures resets the consecutive-failure count after a success in
// the closed period p.
func (b *Breaker) clearFailures(p *period) {
	for {
		w, ok := b.current(p)
		if !ok || w.count() == 0 {
			return
		}
		if b.word.CompareAndSwap(w, w&^countMask) {
			return
		}
	}
}

// countFailure adds a failure in the closed period p and opens the breaker
// at the consecutive-failure threshold, if that policy is on. The failure
// that reaches the threshold opens the breaker from the very count it
// read, so a success that cleared the count meanwhile makes it count
// again from zero: the rule is exactly "N consecutive failures".
func (b *Breaker) countFailure(pm *Permit, r *result) bool {
	threshold := uint64(pm.cfg.failureThreshold)
	for {
		w, ok := b.current(pm.p)
		if !ok {
			return false // stale: a transition happened meanwhile
		}
		n := uint64(w.count()) + 1
		if threshold > 0 && n >= threshold {
			ch := change{ctx: pm.ctx, to: Open, reason: ReasonFailureThreshold, now: r.clock(b), failures: countInt(min(n, maxCount)), cause: r.err}
			if b.transitionExact(pm.p, w, ch) {
				return true
			}
			continue
		}
		if n > maxCount {
			return false
		}
		if b.word.CompareAndSwap(w, w+1) {
			return false
		}
	}
}

// recordWindows adds a closed-period call to the windowed policies and
// opens the breaker if one of them says so; ws is the breaker's windows,
// loaded by the caller.
func (b *Breaker) recordWindows(pm *Permit, r *result, ws *windows) bool {
	c, p := pm.cfg, pm.p
	if ws.timed() { // a count window needs no clock until it trips
		r.clock(b)
	}
	failure := r.outcome == OutcomeFailure
	var ch change
	// The windows are those of now, the policies those the call was admitted
	// under: Reconfigure may have added or removed one meanwhile.
	if ws.rate != nil && c.rate != nil {
		if calls, fails, _, ok := ws.rate.record(p.epoch, r.now, failure, false); ok && tripped(c.rate, calls, fails) {
			ch.reason, ch.window = ReasonFailureRate, windowStats(c.rate, calls, fails)
		}
	}
	if ws.slow != nil && c.slow != nil {
		if calls, _, slows, ok := ws.slow.record(p.epoch, r.now, false, r.slow); ok && tripped(c.slow, calls, slows) && ch.reason == 0 {
			ch.reason, ch.window = ReasonSlowCalls, windowStats(c.slow, calls, slows)
		}
	}
	if ch.reason == 0 {
		return false
	}
	ch.ctx, ch.to, ch.now, ch.failures = pm.ctx, Open, r.clock(b), -1
	if failure {
		ch.cause = r.err
	}
	return b.transition(p, ch)
}

// tripped reports whether count of calls reach the policy's ratio.
func tripped(p *TripPolicy, calls, count int) bool {
	return calls >= p.minCalls && float64(count)/float64(calls) >= p.ratio
}

// trialSucceeded records a successful trial in the half-open period p and
// closes the breaker when enough have succeeded.
func (b *Breaker) trialSucceeded(ctx context.Context, p *period) bool {
	for {
		w, ok := b.current(p)
		if !ok {
			return false
		}
		// The current count, not the one the trial was admitted under:
		// Reconfigure may have lowered it.
		if w.succeeded()+1 >= b.cfg.Load().halfOpenMaxCalls {
			return b.transition(p, change{ctx: ctx, to: Closed, reason: ReasonTrialsSucceeded, now: b.now()})
		}
		if nw := w - 1 + oneSuccess; b.word.CompareAndSwap(w, nw) {
			// A Reconfigure that lowered the count between the check above
			// and the swap would otherwise leave enough successes recorded
			// and nothing left to close the breaker.
			return b.trialsSuffice(ctx, p, nw)
		}
	}
}

// trialFailed reopens the breaker after a failed trial in period p.
func (b *Breaker) trialFailed(ctx context.Context, p *period, r *result) bool {
	if _, ok := b.current(p); !ok {
		return false
	}
	return b.transition(p, change{ctx: ctx, to: Open, reason: ReasonTrialFailed, now: r.clock(b), failures: 1, cause: r.err})
}

// releaseTrial frees the slot of an ignored trial in period p.
func (b *Breaker) releaseTrial(p *period) {
	for {
		w, ok := b.current(p)
		if !ok || w.inFlight() == 0 {
			return
		}
		if b.word.CompareAndSwap(w, w-1) {
			return
		}
	}
}
