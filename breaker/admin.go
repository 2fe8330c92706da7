package breaker

import (
	"context"
	"time"
)

// ForceOpen holds the breaker open: every call is rejected and no recovery
// probe runs until [Breaker.Reset]. Calls in flight finish and count in the
// totals, but cannot change the state. A closed or half-open breaker
// publishes a state change to open (reason force_open); an open one stays
// open without publishing one (Stats.Forced tells that it is held).
// Forcing an already forced breaker does nothing.
func (b *Breaker) ForceOpen() {
	b.refresh()
	b.mu.Lock()
	p := b.period.Load()
	if w, ok := b.begin(p, 0, false); ok {
		if w.forced() {
			b.word.Store(w)
		} else {
			b.commit(w, change{to: Open, forced: true, reason: ReasonForceOpen, now: b.now(), failures: -1})
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
	if w, ok := b.begin(b.period.Load(), 0, false); ok {
		b.commit(w, change{to: Closed, reason: ReasonReset, now: b.now()})
	}
	b.mu.Unlock()
	b.drain()
}

// Remote is a decision about a breaker made elsewhere, typically by the
// breaker of the same name in another replica of the service, for
// [Breaker.Apply].
type Remote struct {
	// To is the state to move to: Open, HalfOpen or Closed.
	To State
	// OpenFor is how long from now an opened breaker waits before it
	// admits a probe (To == Open, not Forced). It must be positive.
	OpenFor time.Duration
	// Forced marks an operator's action: with To == Open the breaker is
	// held open like ForceOpen; with To == Closed it is released like
	// Reset. Only a forced decision changes a forced breaker.
	Forced bool
	// Reason is why the deciding breaker changed state.
	Reason Reason
	// Origin is OriginPeer or OriginCluster.
	Origin Origin
	// Peer names who decided, for events and logs.
	Peer string
}

// Apply moves the breaker as a decision made elsewhere says, and publishes
// the state change with r's Reason, Origin and Peer. It reports whether the
// state changed. Rules: a forced breaker changes only for a Forced
// decision; To Open opens a closed or half-open breaker until OpenFor from
// now, and leaves an open one as it is; To HalfOpen makes an open breaker
// half-open at once, so that its own trials decide; To Closed closes it
// from any state; a Forced Open acts as [Breaker.ForceOpen] and a Forced
// Closed as [Breaker.Reset]. Calls in flight finish and count in the totals
// but cannot move the new period. Apply never waits for a running call.
//
// The error, which wraps [ErrInvalidConfig], reports an invalid r; nothing
// changes then. ctx is given to the state change's subscribers; nil means
// context.Background().
func (b *Breaker) Apply(ctx context.Context, r Remote) (changed bool, err error) {
	if err := r.validate(); err != nil {
		return false, err
	}
	b.refresh()
	b.mu.Lock()
	w, ok := b.begin(b.period.Load(), 0, false)
	if !ok { // cannot happen while holding mu
		b.mu.Unlock()
		return false, nil
	}
	ch := change{ctx: ctx, to: r.To, forced: r.Forced && r.To == Open, reason: r.Reason, origin: r.Origin, peer: r.Peer, now: b.now(), failures: -1}
	s := w.state()
	switch {
	case w.forced() && !r.Forced,
		r.Forced && r.To == Open && w.forced(),
		!r.Forced && r.To == s,
		r.To == HalfOpen && s != Open:
		ok = false
	case r.To == Open && !r.Forced:
		ch.openFor = int64(r.OpenFor)
	case r.To == Closed:
		ch.failures = 0
	}
	if ok {
		b.commit(w, ch)
		changed = s != r.To
	} else {
		b.word.Store(w)
	}
	b.mu.Unlock()
	b.drain()
	return changed, nil
}

func (r Remote) validate() error {
	switch {
	case r.To > HalfOpen:
		return &ConfigError{Field: "remote.to", Value: r.To, Reason: "must be open, half_open or closed"}
	case r.To == HalfOpen && r.Forced:
		return &ConfigError{Field: "remote.forced", Value: true, Reason: "a forced decision opens or closes"}
	case r.To == Open && !r.Forced && r.OpenFor <= 0:
		return &ConfigError{Field: "remote.open_for", Value: r.OpenFor, Reason: "must be positive"}
	case r.Reason == 0 || r.Reason > lastReason:
		return &ConfigError{Field: "remote.reason", Value: r.Reason, Reason: "must be one of the breaker's reasons"}
	case r.Origin != OriginPeer && r.Origin != OriginCluster:
		return &ConfigError{Field: "remote.origin", Value: r.Origin, Reason: "must be peer or cluster"}
	}
	return nil
}

// Reconfigure changes the breaker's settings while it runs, keeping its
// state, period counts and totals. It takes the same options as [New] and
// validates them the same way: on error nothing changes. The new settings
// apply as one, from the next call on; an open period keeps the deadline it
// was opened with (a new recovery timeout or backoff applies from the next
// opening). The clock and the event bus cannot be changed. A windowed trip
// policy whose window is unchanged keeps its counts; a new or changed one
// starts empty.
func (b *Breaker) Reconfigure(opts ...Option) error {
	closed, err := b.reconfigure(opts)
	if closed {
		b.drain()
	}
	return err
}

func (b *Breaker) reconfigure(opts []Option) (closed bool, err error) {
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
	p := b.period.Load()
	if w := b.word.Load(); w.state() != HalfOpen || w.succeeded() < c.halfOpenMaxCalls {
		return false, nil
	}
	w, ok := b.begin(p, 0, false)
	if ok {
		b.commit(w, change{to: Closed, reason: ReasonTrialsSucceeded, now: b.now()})
	}
	return ok, nil
}

// keepWindows builds the window state for c, keeping the windows whose
// definition is the same in old. b.mu must be held.
func (b *Breaker) keepWindows(old, c *config) *windows {
	cur := b.wins.Load()
	ws := newWindows(c)
	if ws == nil {
		return nil
	}
	epoch, now := b.period.Load().epoch, b.now()
	if cur != nil && ws.rate != nil && old.rate != nil && old.rate.window == c.rate.window {
		ws.rate = cur.rate
	} else if ws.rate != nil {
		ws.rate.reset(epoch, now)
	}
	if cur != nil && ws.slow != nil && old.slow != nil && old.slow.window == c.slow.window {
		ws.slow = cur.slow
	} else if ws.slow != nil {
		ws.slow.reset(epoch, now)
	}
	return ws
}

// SetShadowMode turns shadow mode on or off at run time (see
// [WithShadowMode]).
func (b *Breaker) SetShadowMode(on bool) { b.shadow.Store(on) }

// ShadowMode reports whether the breaker is in shadow mode.
func (b *Breaker) ShadowMode() bool { return b.shadow.Load() }
