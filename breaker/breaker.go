package breaker

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fusebox-go/fusebox/events"
)

// The breaker's state lives in one 64-bit word so that the closed path needs
// a single atomic load and every state-and-count update is one
// compare-and-swap:
//
//	bits  0-31  count: consecutive failures (closed), the failures that
//	            opened it (open), or trials in flight (bits 0-15) and
//	            trials succeeded (bits 16-31) (half-open)
//	bits 32-33  state
//	bit  34     forced open
//	bits 35-63  generation: bumped by every transition, so a call admitted
//	            in an earlier period cannot move the current one
const (
	countMask  = 1<<32 - 1
	stateShift = 32
	forcedBit  = 1 << 34
	genShift   = 35
	trialMask  = 1<<16 - 1
	trialShift = 16
)

func wState(w uint64) State  { return State(w >> stateShift & 3) }
func wGen(w uint64) uint64   { return w >> genShift }
func wCount(w uint64) uint32 { return uint32(w & countMask) }
func wForced(w uint64) bool  { return w&forcedBit != 0 }
func inFlight(w uint64) int  { return int(w & trialMask) }
func succeeded(w uint64) int { return int(w >> trialShift & trialMask) }

func mkWord(s State, gen uint64, forced bool, count uint32) uint64 {
	w := gen<<genShift | uint64(s)<<stateShift | uint64(count)
	if forced {
		w |= forcedBit
	}
	return w
}

// never marks a time that was never set.
const never = math.MinInt64

// period describes the state the breaker entered at its last transition. It
// is immutable once published; a transition publishes a new one before it
// swaps the state word, so a reader that sees generation g in the word finds
// the period for g (or a newer one, and then takes the slow path).
type period struct {
	gen      uint64
	start    int64 // breaker time of the transition, or never
	retryAt  int64 // open: when a probe may run
	failures int   // consecutive failures when the state was entered
	err      *OpenError
}

// Breaker is a circuit breaker: it runs functions while they mostly
// succeed, and rejects calls for a while once they keep failing, so that a
// failing dependency gets room to recover and callers fail fast.
//
// A Breaker is safe for concurrent use. Create one with [New] or get a
// shared one from a [Registry].
type Breaker struct {
	word      atomic.Uint64
	successes counter
	rejected  counter
	failures  atomic.Uint64
	ignored   atomic.Uint64
	lastFail  atomic.Int64
	period    atomic.Pointer[period]

	mu sync.Mutex // serialises transitions; never held while a function runs or an event is published

	// State changes are queued under mu, in transition order, and published
	// by one goroutine at a time after mu is released (see drain).
	qmu      sync.Mutex
	queue    []queued // guarded by qmu
	draining bool     // guarded by qmu

	name string
	cfg  config
	bus  events.Bus[Event]   // nil: events off
	sync *events.Sync[Event] // bus, when it is the default kind: a direct call on the hot path
	base time.Time           // breaker time 0
}

// New returns a closed breaker named name. Without options it has the
// spec's defaults: it opens after 5 consecutive failures, waits 60s, then
// admits 3 trial calls. The error wraps [ErrInvalidConfig] and names the
// field when name or an option value is invalid (see [ValidateName] and each
// option).
func New(name string, opts ...Option) (*Breaker, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	return newBreaker(name, cfg)
}

func newBreaker(name string, cfg config) (*Breaker, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := &Breaker{name: name, cfg: cfg, bus: cfg.bus}
	if !cfg.busSet {
		b.bus = events.NewSync[Event]()
	}
	b.sync, _ = b.bus.(*events.Sync[Event])
	if cfg.clock != nil {
		b.base = cfg.clock.Now()
	} else {
		b.base = time.Now()
	}
	b.lastFail.Store(never)
	b.period.Store(&period{start: never})
	return b, nil
}

// now returns the breaker's time: nanoseconds since its base. With the
// default clock this is a monotonic reading, one cheap time.Since.
func (b *Breaker) now() int64 {
	if b.cfg.clock == nil {
		return int64(time.Since(b.base))
	}
	return int64(b.cfg.clock.Now().Sub(b.base))
}

// wall turns a breaker time into a time.Time without a monotonic reading.
func (b *Breaker) wall(t int64) time.Time {
	if t == never {
		return time.Time{}
	}
	return b.base.Add(time.Duration(t)).Round(0)
}

// observed reports whether anyone subscribed to the breaker's events.
func (b *Breaker) observed() bool {
	if b.sync != nil {
		return b.sync.Active()
	}
	return b.bus != nil && b.bus.Active()
}

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.name }

// Events returns the bus the breaker publishes on, or nil when events are
// off. Subscribe to it to observe the breaker; see [Event].
func (b *Breaker) Events() events.Bus[Event] { return b.bus }

// State returns the current state. An open breaker whose recovery timeout
// has passed becomes half-open here (and publishes that change), so State
// never reports a stale Open.
func (b *Breaker) State() State {
	b.refresh()
	return wState(b.word.Load())
}

// refresh applies the lazy open to half-open transition, if it is due.
func (b *Breaker) refresh() {
	w := b.word.Load()
	if wState(w) != Open || wForced(w) {
		return
	}
	if !b.recoveryDue(w) {
		return
	}
	b.toHalfOpen(context.Background(), w)
}

// recoveryDue reports whether the open breaker with word w needs the slow
// path: its recovery timeout has passed, the clock went back past the
// opening, or its period is still being published.
func (b *Breaker) recoveryDue(w uint64) bool {
	p := b.period.Load()
	if p.gen != wGen(w) {
		return true
	}
	now := b.now()
	return now >= p.retryAt || now < p.start
}

// queued is a state change waiting to be published with the context of
// whatever caused it.
type queued struct {
	ctx context.Context
	ev  Event
}

// drain publishes queued state changes in order. Only one goroutine drains
// at a time; a transition made meanwhile (also by a subscriber calling back
// into the breaker) is queued and published by the goroutine already
// draining, so subscribers see every change in the order it happened and a
// re-entrant call cannot deadlock.
func (b *Breaker) drain() {
	b.qmu.Lock()
	if b.draining {
		b.qmu.Unlock()
		return
	}
	b.draining = true
	defer func() {
		b.qmu.Lock()
		b.draining = false
		b.qmu.Unlock()
	}()
	for len(b.queue) > 0 {
		q := b.queue[0]
		b.queue[0] = queued{}
		b.queue = b.queue[1:]
		b.qmu.Unlock()
		b.bus.Publish(q.ctx, q.ev)
		b.qmu.Lock()
	}
	b.queue = nil
	b.qmu.Unlock()
}

// ticket is what admission hands to a running call.
type ticket struct {
	gen   uint64
	state State // Closed or HalfOpen
}

// Execute runs fn if the breaker permits it and records the outcome: nil is
// a success, an error is a failure or ignored (see [WithFailurePredicate]),
// and a panic is a failure that Execute re-raises with the original value.
// When the breaker does not permit the call, fn does not run and Execute
// returns an [*OpenError], which wraps [ErrOpen]. Otherwise it returns fn's
// error unchanged. ctx is passed to fn and to event subscribers.
func (b *Breaker) Execute(ctx context.Context, fn func(context.Context) error) error {
	if fn == nil {
		return ErrNilFunc
	}
	var t ticket
	if w := b.word.Load(); wState(w) == Closed {
		t = ticket{gen: wGen(w), state: Closed}
	} else {
		var err error
		if t, err = b.admit(ctx); err != nil {
			return err
		}
	}
	return b.run(ctx, t, fn)
}

// run calls fn for an admitted call and records its outcome, also when fn
// panics or calls runtime.Goexit.
func (b *Breaker) run(ctx context.Context, t ticket, fn func(context.Context) error) error {
	timed := b.observed()
	var start int64
	if timed {
		start = b.now()
	}
	finished := false
	defer func() {
		if finished {
			return
		}
		r := recover()
		if r == nil { // runtime.Goexit: not a verdict on the dependency
			b.finish(ctx, t, OutcomeIgnored, nil, timed, start)
			return
		}
		b.finish(ctx, t, OutcomeFailure, &PanicError{Value: r}, timed, start)
		panic(r)
	}()
	err := fn(ctx)
	finished = true
	if err == nil && t.state == Closed && !timed {
		// The common case, kept short: one counter add.
		b.successes.add()
		if wCount(b.word.Load()) != 0 {
			b.clearFailures(t.gen)
		}
		return nil
	}
	b.finish(ctx, t, b.classify(ctx, err), err, timed, start)
	return err
}

func (b *Breaker) classify(ctx context.Context, err error) Outcome {
	switch {
	case err == nil:
		return OutcomeSuccess
	case ctx.Err() == context.Canceled:
		return OutcomeIgnored
	case b.cfg.isFailure(err):
		return OutcomeFailure
	}
	return OutcomeIgnored
}

// admit decides whether a call may run. It never blocks on a running call.
func (b *Breaker) admit(ctx context.Context) (ticket, error) {
	for {
		w := b.word.Load()
		switch wState(w) {
		case Closed:
			return ticket{gen: wGen(w), state: Closed}, nil
		case HalfOpen:
			if inFlight(w)+succeeded(w) >= b.cfg.halfOpenMaxCalls {
				return ticket{}, b.reject(ctx, w)
			}
			if b.word.CompareAndSwap(w, w+1) {
				return ticket{gen: wGen(w), state: HalfOpen}, nil
			}
		default: // Open
			if wForced(w) || !b.recoveryDue(w) {
				return ticket{}, b.reject(ctx, w)
			}
			b.toHalfOpen(ctx, w)
		}
	}
}

// reject counts a rejection and returns the period's OpenError.
func (b *Breaker) reject(ctx context.Context, w uint64) error {
	b.rejected.add()
	p := b.period.Load()
	if p.gen != wGen(w) || p.err == nil {
		// A transition is being published; fall back to a fresh error.
		p = &period{err: &OpenError{Name: b.name, State: wState(w), Forced: wForced(w), b: b}}
	}
	if b.observed() {
		b.bus.Publish(ctx, Event{Kind: EventCall, Breaker: b, Outcome: OutcomeRejected, Err: p.err})
	}
	return p.err
}

// finish records the outcome of an admitted call and publishes its events.
func (b *Breaker) finish(ctx context.Context, t ticket, o Outcome, err error, timed bool, start int64) {
	changed := false
	switch o {
	case OutcomeSuccess:
		b.successes.add()
		if t.state == Closed {
			if w := b.word.Load(); wCount(w) != 0 {
				b.clearFailures(t.gen)
			}
		} else {
			changed = b.trialSucceeded(ctx, t.gen)
		}
	case OutcomeFailure:
		now := b.now()
		b.failures.Add(1)
		b.lastFail.Store(now)
		if t.state == Closed {
			changed = b.countFailure(ctx, t.gen, now)
		} else {
			changed = b.trialFailed(ctx, t.gen, now)
		}
	default:
		b.ignored.Add(1)
		if t.state == HalfOpen {
			b.releaseTrial(t.gen)
		}
	}
	if b.bus == nil {
		return
	}
	if timed && b.observed() {
		b.bus.Publish(ctx, Event{Kind: EventCall, Breaker: b, Outcome: o, Err: err, Duration: time.Duration(max(0, b.now()-start))})
	}
	if changed {
		b.drain()
	}
}

// clearFailures resets the consecutive-failure count after a success in the
// closed period gen.
func (b *Breaker) clearFailures(gen uint64) {
	for {
		w := b.word.Load()
		if wGen(w) != gen || wState(w) != Closed || wCount(w) == 0 {
			return
		}
		if b.word.CompareAndSwap(w, w&^countMask) {
			return
		}
	}
}

// countFailure adds a failure in the closed period gen and opens the breaker
// at the threshold.
func (b *Breaker) countFailure(ctx context.Context, gen uint64, now int64) bool {
	for {
		w := b.word.Load()
		if wGen(w) != gen || wState(w) != Closed {
			return false // stale: a transition happened meanwhile
		}
		if int(wCount(w))+1 >= b.cfg.failureThreshold {
			return b.transition(ctx, w, Open, ReasonFailureThreshold, now, int(wCount(w))+1)
		}
		if b.word.CompareAndSwap(w, w+1) {
			return false
		}
	}
}

// trialSucceeded records a successful trial in the half-open period gen and
// closes the breaker when enough have succeeded.
func (b *Breaker) trialSucceeded(ctx context.Context, gen uint64) bool {
	for {
		w := b.word.Load()
		if wGen(w) != gen || wState(w) != HalfOpen {
			return false
		}
		if succeeded(w)+1 >= b.cfg.halfOpenMaxCalls {
			return b.transition(ctx, w, Closed, ReasonTrialsSucceeded, b.now(), 0)
		}
		if b.word.CompareAndSwap(w, w-1+1<<trialShift) {
			return false
		}
	}
}

// trialFailed reopens the breaker after a failed trial in period gen.
func (b *Breaker) trialFailed(ctx context.Context, gen uint64, now int64) bool {
	w := b.word.Load()
	if wGen(w) != gen || wState(w) != HalfOpen {
		return false
	}
	return b.transition(ctx, w, Open, ReasonTrialFailed, now, 1)
}

// releaseTrial frees the slot of an ignored trial in period gen.
func (b *Breaker) releaseTrial(gen uint64) {
	for {
		w := b.word.Load()
		if wGen(w) != gen || wState(w) != HalfOpen || inFlight(w) == 0 {
			return
		}
		if b.word.CompareAndSwap(w, w-1) {
			return
		}
	}
}

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
		// The clock went backwards: count the recovery timeout from now
		// rather than stay open for the size of the jump.
		np := *p
		np.start, np.retryAt = now, now+b.cfg.recoveryTimeout
		np.err = &OpenError{Name: b.name, State: Open, b: b, retryAt: np.retryAt}
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
	gen := wGen(w) + 1
	np := &period{gen: gen & (1<<(64-genShift) - 1), start: now, failures: failures}
	var count uint32
	switch to {
	case Open:
		np.retryAt = now + b.cfg.recoveryTimeout
		if forced {
			np.retryAt = math.MaxInt64
		}
		np.err = &OpenError{Name: b.name, State: Open, Forced: forced, b: b, retryAt: np.retryAt}
		count = uint32(min(failures, countMask))
	case HalfOpen:
		np.err = &OpenError{Name: b.name, State: HalfOpen, b: b}
	}
	old := b.period.Load()
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
// failures, trial counts), also releasing a ForceOpen. Totals are never
// lowered. Calls in flight finish and count in the totals, but cannot change
// the new period's state. A state-change event is published unless the
// breaker was already closed.
func (b *Breaker) Reset() {
	b.refresh()
	b.mu.Lock()
	for !b.swapLocked(context.Background(), b.word.Load(), Closed, false, ReasonReset, b.now(), 0) {
	}
	b.mu.Unlock()
	b.drain()
}
