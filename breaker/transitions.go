package breaker

import (
	"context"
	"math"
	"sync/atomic"
)

// toHalfOpen moves an open breaker whose recovery timeout has passed to
// half-open, and publishes the change with ctx.
func (b *Breaker) toHalfOpen(ctx context.Context, w uint64) {
	b.mu.Lock()
	cur := b.word.Load()
	p := b.period.Load()
	now := b.now()
	if cur != w || wForced(cur) || p.gen != wGen(cur) {
		b.mu.Unlock()
		return // someone else moved it; the caller looks again
	}
	if now < p.start {
		// The clock went backwards: count the open period from now rather
		// than stay open for the size of the jump.
		np := *p
		np.start, np.retryAt = now, addSat(now, p.openFor)
		np.err = &OpenError{Name: b.name, State: Open, b: b, retryAt: np.retryAt, openFor: p.openFor}
		b.period.Store(&np)
		b.mu.Unlock()
		return
	}
	if now < p.retryAt {
		b.mu.Unlock()
		return
	}
	ok := b.swapLocked(ctx, cur, HalfOpen, false, ReasonRecoveryTimeout, now, p.failures)
	b.mu.Unlock()
	if ok {
		b.drain()
	}
}

// transition moves the breaker from the word w to state to, unless another
// goroutine changed the generation first. It reports whether it queued a
// state change; the caller drains the queue.
func (b *Breaker) transition(ctx context.Context, w uint64, to State, reason Reason, now int64, failures int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		cur := b.word.Load()
		if wGen(cur) != wGen(w) {
			return false
		}
		if b.swapLocked(ctx, cur, to, false, reason, now, failures) {
			return true
		}
	}
}

// swapLocked publishes the period for the next generation, swaps the state
// word from w and queues the state change for subscribers. It reports false
// if the word changed under it (the caller decides whether to retry). b.mu
// must be held.
func (b *Breaker) swapLocked(ctx context.Context, w uint64, to State, forced bool, reason Reason, now int64, failures int) bool {
	c := b.cfg.Load()
	gen := (wGen(w) + 1) & genMask
	old := b.period.Load()
	np := &period{gen: gen, start: now, failures: failures}
	var count uint32
	switch to {
	case Open:
		if wState(w) == HalfOpen && !forced {
			np.reopens = old.reopens + 1
		}
		openFor := c.openFor(np.reopens)
		np.retryAt = addSat(now, openFor)
		if forced {
			np.retryAt = math.MaxInt64
			openFor = c.openFor(0)
		}
		np.openFor = openFor
		np.err = &OpenError{Name: b.name, State: Open, Forced: forced, b: b, retryAt: np.retryAt, openFor: openFor}
		count = uint32(min(failures, countMask))
	case HalfOpen:
		np.reopens = old.reopens
		np.err = &OpenError{Name: b.name, State: HalfOpen, b: b}
		np.firstTrial = new(atomic.Int64)
		np.firstTrial.Store(never)
	}
	// Every transition empties the windows: they count the calls of one
	// closed period, and a late call of an earlier one is dropped by gen.
	if ws := b.wins.Load(); ws != nil {
		ws.reset(gen, now)
	}
	b.period.Store(np)
	if !b.word.CompareAndSwap(w, mkWord(to, gen, forced, count)) {
		b.period.Store(old)
		return false
	}
	if to == Closed && wState(w) == Closed {
		return true // Reset of a closed breaker: no state change to report
	}
	if b.observed() {
		b.qmu.Lock()
		b.queue = append(b.queue, queued{ctx: ctx, ev: Event{
			Kind:                EventStateChange,
			Breaker:             b,
			From:                wState(w),
			To:                  to,
			Reason:              reason,
			Time:                b.wall(now),
			ConsecutiveFailures: failures,
		}})
		b.qmu.Unlock()
	}
	return true
}

func (ws *windows) reset(gen uint64, now int64) {
	if ws.rate != nil {
		ws.rate.reset(gen, now)
	}
	if ws.slow != nil {
		ws.slow.reset(gen, now)
	}
}

// ForceOpen holds the breaker open: every call is rejected and no recovery
// probe runs until [Breaker.Reset]. Calls in flight finish and count in the
// totals, but cannot change the state. Forcing an already forced breaker
// does nothing.
func (b *Breaker) ForceOpen() {
	b.refresh()
	b.mu.Lock()
	for {
		w := b.word.Load()
		if wForced(w) {
			break
		}
		failures := int(wCount(w))
		if wState(w) != Closed {
			failures = b.period.Load().failures
		}
		if b.swapLocked(context.Background(), w, Open, true, ReasonForceOpen, b.now(), failures) {
			break
		}
	}
	b.mu.Unlock()
	b.drain()
}

// Reset closes the breaker and clears its period counters (consecutive
// failures, trial counts, trip windows, recovery backoff), also releasing a
// ForceOpen. Totals are never lowered. Calls in flight finish and count in
// the totals, but cannot change the new period's state. A state-change
// event is published unless the breaker was already closed.
func (b *Breaker) Reset() {
	b.refresh()
	b.mu.Lock()
	for !b.swapLocked(context.Background(), b.word.Load(), Closed, false, ReasonReset, b.now(), 0) {
	}
	b.mu.Unlock()
	b.drain()
}

// Reconfigure changes the breaker's settings while it runs, keeping its
// state, period counts and totals. It takes the same options as [New] and
// validates them the same way: on error nothing changes. The new settings
// apply as one, from the next call on; an open period keeps the deadline it
// was opened with (a new recovery timeout or backoff applies from the next
// opening). The clock and the event bus cannot be changed. A windowed trip policy whose window is unchanged keeps its
// counts; a new or changed one starts empty.
func (b *Breaker) Reconfigure(opts ...Option) error {
	closed, err := b.reconfigure(opts)
	if closed {
		b.drain()
	}
	return err
}

func (b *Breaker) reconfigure(opts []Option) (changed bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.cfg.Load()
	c := *old
	c.clockSet, c.busSet, c.shadowSet, c.policyErr = false, false, false, nil
	applyOptions(&c, opts)
	switch {
	case c.clockSet:
		return false, &ConfigError{Field: "clock", Value: c.clock, Reason: "cannot change at run time"}
	case c.busSet:
		return false, &ConfigError{Field: "event_bus", Value: c.bus, Reason: "cannot change at run time"}
	}
	if err := c.validate(); err != nil {
		return false, err
	}
	b.wins.Store(b.keepWindows(old, &c))
	if c.shadowSet {
		b.shadow.Store(c.shadow)
	}
	b.cfg.Store(&c)
	// A half-open breaker that already has as many successful trials as the
	// new count asks for closes now: no later trial could close it.
	for {
		w := b.word.Load()
		if wState(w) != HalfOpen || succeeded(w) < c.halfOpenMaxCalls {
			return false, nil
		}
		if b.swapLocked(context.Background(), w, Closed, false, ReasonTrialsSucceeded, b.now(), 0) {
			return true, nil
		}
	}
}

// keepWindows builds the window state for c, keeping the windows whose
// definition is the same in old. b.mu must be held.
func (b *Breaker) keepWindows(old, c *config) *windows {
	cur := b.wins.Load()
	ws := newWindows(c)
	if ws == nil {
		return nil
	}
	w := b.word.Load()
	gen, now := wGen(w), b.now()
	if cur != nil && ws.rate != nil && old.rate != nil && old.rate.window == c.rate.window {
		ws.rate = cur.rate
	} else if ws.rate != nil {
		ws.rate.reset(gen, now)
	}
	if cur != nil && ws.slow != nil && old.slow != nil && old.slow.window == c.slow.window {
		ws.slow = cur.slow
	} else if ws.slow != nil {
		ws.slow.reset(gen, now)
	}
	return ws
}

// SetShadowMode turns shadow mode on or off at run time (see
// [WithShadowMode]).
func (b *Breaker) SetShadowMode(on bool) { b.shadow.Store(on) }

// ShadowMode reports whether the breaker is in shadow mode.
func (b *Breaker) ShadowMode() bool { return b.shadow.Load() }

// addSat adds a duration to a breaker time, saturating instead of wrapping:
// a recovery timeout near math.MaxInt64 means "practically never".
func addSat(t, d int64) int64 {
	if d > 0 && t > math.MaxInt64-d {
		return math.MaxInt64
	}
	if d < 0 && t < math.MinInt64-d {
		return math.MinInt64
	}
	return t + d
}
