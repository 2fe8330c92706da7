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
	genMask    = 1<<(64-genShift) - 1
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
	openFor  int64 // open: the length of the period, as configured
	reopens  int   // open: failed probes since the breaker last closed
	failures int   // consecutive failures when the state was entered
	err      *OpenError
	// half-open: when the period's first trial was admitted, or never;
	// WithHalfOpenMaxWait counts from it
	firstTrial *atomic.Int64
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
	shadowed  atomic.Uint64
	slowCalls atomic.Uint64
	lastFail  atomic.Int64
	period    atomic.Pointer[period]
	cfg       atomic.Pointer[config]  // replaced whole by Reconfigure
	wins      atomic.Pointer[windows] // nil without a windowed trip policy
	shadow    atomic.Bool

	mu sync.Mutex // serialises transitions and Reconfigure; never held while a function runs or an event is published

	// State changes are queued under mu, in transition order, and published
	// by one goroutine at a time after mu is released (see drain).
	qmu      sync.Mutex
	queue    []queued // guarded by qmu
	draining bool     // guarded by qmu

	name  string
	clock Clock               // nil: the monotonic clock
	bus   events.Bus[Event]   // nil: events off
	sync  *events.Sync[Event] // bus, when it is the default kind: a direct call on the hot path
	base  time.Time           // breaker time 0
}

// windows holds the state of the windowed trip policies.
type windows struct {
	rate, slow *window
}

// timed reports whether a window needs the time of each call.
func (ws *windows) timed() bool {
	return ws.rate != nil && ws.rate.buckets != nil || ws.slow != nil && ws.slow.buckets != nil
}

// New returns a closed breaker named name. Without options it has the
// spec's defaults: it opens after 5 consecutive failures, waits 60s, then
// admits 3 trial calls. The error wraps [ErrInvalidConfig] and names the
// field when name or an option value is invalid (see [ValidateName] and each
// option).
func New(name string, opts ...Option) (*Breaker, error) {
	cfg := defaultConfig()
	applyOptions(&cfg, opts)
	return newBreaker(name, cfg)
}

func newBreaker(name string, cfg config) (*Breaker, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := &Breaker{name: name, clock: cfg.clock, bus: cfg.bus}
	if !cfg.busSet {
		b.bus = events.NewSync[Event]()
	}
	b.sync, _ = b.bus.(*events.Sync[Event])
	if b.clock != nil {
		b.base = b.clock.Now()
	} else {
		b.base = time.Now()
	}
	b.lastFail.Store(never)
	b.period.Store(&period{start: never})
	b.shadow.Store(cfg.shadow)
	b.cfg.Store(&cfg)
	b.wins.Store(newWindows(&cfg))
	return b, nil
}

// newWindows returns fresh window state for c; nil when c has no windowed
// policy.
func newWindows(c *config) *windows {
	if c.rate == nil && c.slow == nil {
		return nil
	}
	ws := &windows{}
	if c.rate != nil {
		ws.rate = newWindow(c.rate.window)
	}
	if c.slow != nil {
		ws.slow = newWindow(c.slow.window)
	}
	return ws
}

// now returns the breaker's time: nanoseconds since its base. With the
// default clock this is a monotonic reading, one cheap time.Since.
func (b *Breaker) now() int64 {
	if b.clock == nil {
		return int64(time.Since(b.base))
	}
	return int64(b.clock.Now().Sub(b.base))
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

// Now reads the breaker's clock (see [WithClock]), as a time.Time without a
// monotonic reading. Adapters that rate-limit or timestamp per breaker use
// it to agree with the breaker, and with a test's manual clock.
func (b *Breaker) Now() time.Time { return b.wall(b.now()) }

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.name }

// Events returns the bus the breaker publishes on, or nil when events are
// off. Subscribe to it to observe the breaker; see [Event].
func (b *Breaker) Events() events.Bus[Event] { return b.bus }

// State returns the current state. Lazy transitions that are due happen
// here (and publish their change): an open breaker whose recovery timeout
// has passed becomes half-open, and a half-open breaker whose trials have
// overstayed WithHalfOpenMaxWait reopens. So State never reports a stale
// state.
func (b *Breaker) State() State {
	b.refresh()
	return wState(b.word.Load())
}

// refresh applies a due lazy transition: open to half-open once the
// recovery timeout has passed, or half-open back to open once trials have
// overstayed WithHalfOpenMaxWait.
func (b *Breaker) refresh() {
	w := b.word.Load()
	switch {
	case wState(w) == Open && !wForced(w):
		if b.recoveryDue(w) {
			b.toHalfOpen(context.Background(), w)
		}
	case wState(w) == HalfOpen:
		b.trialsOverdue(context.Background(), w)
	}
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

// trialsOverdue reopens a half-open breaker whose trials are still running
// WithHalfOpenMaxWait after the period's first trial was admitted, and
// reports whether it did.
func (b *Breaker) trialsOverdue(ctx context.Context, w uint64) bool {
	c := b.cfg.Load()
	if c.halfOpenMaxWait <= 0 || inFlight(w) == 0 {
		return false
	}
	p := b.period.Load()
	if p.gen != wGen(w) || p.firstTrial == nil {
		return false
	}
	first, now := p.firstTrial.Load(), b.now()
	if first == never {
		return false
	}
	if now < first { // the clock went back: count from now
		p.firstTrial.CompareAndSwap(first, now)
		return false
	}
	if now-first < c.halfOpenMaxWait {
		return false
	}
	if b.transition(ctx, w, Open, ReasonHalfOpenTimeout, now, p.failures) {
		b.drain()
	}
	return true
}

// noteTrial records when the first trial of the half-open period of word w
// was admitted.
func (b *Breaker) noteTrial(w uint64) {
	if p := b.period.Load(); p.gen == wGen(w) && p.firstTrial != nil && p.firstTrial.Load() == never {
		p.firstTrial.CompareAndSwap(never, b.now())
	}
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
	done := false
	defer func() {
		if !done { // a Bus implementation panicked: let the next drain go on
			b.qmu.Lock()
			b.draining = false
			b.qmu.Unlock()
		}
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
	b.draining = false
	done = true
	b.qmu.Unlock()
}

// ticket is what admission hands to a running call.
type ticket struct {
	gen    uint64
	state  State // Closed or HalfOpen; for a shadow call, the state that would have rejected it
	shadow bool  // shadow mode: the breaker would have rejected this call
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
	c := b.cfg.Load()
	published := b.observed()
	timed := published || c.slow != nil
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
			b.finish(ctx, c, t, OutcomeIgnored, nil, published, timed, start)
			return
		}
		b.finish(ctx, c, t, OutcomeFailure, &PanicError{Value: r}, published, timed, start)
		panic(r)
	}()
	err := fn(ctx)
	finished = true
	if err == nil && t.state == Closed && !timed && c.rate == nil && !t.shadow {
		// The common case, kept short: one counter add.
		b.successes.add()
		if wCount(b.word.Load()) != 0 {
			b.clearFailures(t.gen)
		}
		return nil
	}
	b.finish(ctx, c, t, b.classify(ctx, c, err), err, published, timed, start)
	return err
}

func (b *Breaker) classify(ctx context.Context, c *config, err error) Outcome {
	switch {
	case err == nil:
		return OutcomeSuccess
	case ctx.Err() == context.Canceled:
		return OutcomeIgnored
	case c.isFailure(err):
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
			if inFlight(w)+succeeded(w) < b.cfg.Load().halfOpenMaxCalls {
				if b.word.CompareAndSwap(w, w+1) {
					b.noteTrial(w)
					return ticket{gen: wGen(w), state: HalfOpen}, nil
				}
				continue
			}
			if b.trialsSuffice(ctx, w) {
				b.drain()
				continue
			}
			if b.trialsOverdue(ctx, w) {
				continue
			}
		default: // Open
			if !wForced(w) && b.recoveryDue(w) {
				b.toHalfOpen(ctx, w)
				continue
			}
		}
		if b.shadow.Load() {
			return ticket{gen: wGen(w), state: wState(w), shadow: true}, nil
		}
		return ticket{}, b.reject(ctx, w)
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
func (b *Breaker) finish(ctx context.Context, c *config, t ticket, o Outcome, err error, published, timed bool, start int64) {
	var now, dur int64
	if timed {
		now = b.now()
		dur = max(0, now-start)
	}
	slow := c.slow != nil && dur >= int64(c.slow.slowerThan)
	if slow {
		b.slowCalls.Add(1)
	}
	changed := false
	switch {
	case t.shadow:
		// The breaker would have rejected this call: it ran, but its
		// outcome must not move the state machine.
		b.shadowed.Add(1)
		o = OutcomeShadowRejected
	case o == OutcomeSuccess:
		b.successes.add()
		if t.state == Closed {
			if w := b.word.Load(); wCount(w) != 0 {
				b.clearFailures(t.gen)
			}
			changed = b.recordWindows(ctx, c, t, false, slow, timed, now)
		} else {
			changed = b.trialSucceeded(ctx, t.gen)
		}
	case o == OutcomeFailure:
		now = b.nowIf(timed, now)
		b.failures.Add(1)
		b.lastFail.Store(now)
		if t.state == Closed {
			changed = b.countFailure(ctx, c, t.gen, now)
			if !changed {
				changed = b.recordWindows(ctx, c, t, true, slow, true, now)
			}
		} else {
			changed = b.trialFailed(ctx, t.gen, now)
		}
	default:
		b.ignored.Add(1)
		if t.state == HalfOpen {
			b.releaseTrial(t.gen)
		}
	}
	if published && b.observed() {
		b.bus.Publish(ctx, Event{Kind: EventCall, Breaker: b, Outcome: o, Err: err, Duration: time.Duration(dur)})
	}
	if changed {
		b.drain()
	}
}

// nowIf returns now if it was read already, else reads the clock.
func (b *Breaker) nowIf(read bool, now int64) int64 {
	if read {
		return now
	}
	return b.now()
}

// recordWindows adds a closed-period call to the windowed policies and
// opens the breaker if one of them says so.
func (b *Breaker) recordWindows(ctx context.Context, c *config, t ticket, failure, slow, haveNow bool, now int64) bool {
	ws := b.wins.Load()
	if ws == nil {
		return false
	}
	if ws.timed() { // a count window needs no clock until it trips
		now, haveNow = b.nowIf(haveNow, now), true
	}
	var reason Reason
	// The windows are those of now, the policies those the call was admitted
	// under: Reconfigure may have added or removed one meanwhile.
	if ws.rate != nil && c.rate != nil {
		if calls, fails, _, ok := ws.rate.record(t.gen, now, failure, false); ok && tripped(c.rate, calls, fails) {
			reason = ReasonFailureRate
		}
	}
	if ws.slow != nil && c.slow != nil {
		if calls, _, slows, ok := ws.slow.record(t.gen, now, false, slow); ok && tripped(c.slow, calls, slows) && reason == 0 {
			reason = ReasonSlowCalls
		}
	}
	if reason == 0 {
		return false
	}
	w := b.word.Load()
	if wGen(w) != t.gen || wState(w) != Closed {
		return false
	}
	return b.transition(ctx, w, Open, reason, b.nowIf(haveNow, now), int(wCount(w)))
}

// tripped reports whether count of calls reach the policy's ratio.
func tripped(p *TripPolicy, calls, count int) bool {
	return calls >= p.minCalls && float64(count)/float64(calls) >= p.ratio
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
// at the consecutive-failure threshold, if that policy is on.
func (b *Breaker) countFailure(ctx context.Context, c *config, gen uint64, now int64) bool {
	for {
		w := b.word.Load()
		if wGen(w) != gen || wState(w) != Closed {
			return false // stale: a transition happened meanwhile
		}
		n := int(wCount(w)) + 1
		if c.failureThreshold > 0 && n >= c.failureThreshold {
			return b.transition(ctx, w, Open, ReasonFailureThreshold, now, n)
		}
		if n > countMask {
			return false
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
		// The current count, not the one the trial was admitted under:
		// Reconfigure may have lowered it.
		if succeeded(w)+1 >= b.cfg.Load().halfOpenMaxCalls {
			return b.transition(ctx, w, Closed, ReasonTrialsSucceeded, b.now(), 0)
		}
		if nw := w - 1 + 1<<trialShift; b.word.CompareAndSwap(w, nw) {
			// A Reconfigure that lowered the count between the check above
			// and the swap would otherwise leave enough successes recorded
			// and nothing left to close the breaker.
			return b.trialsSuffice(ctx, nw)
		}
	}
}

// trialsSuffice closes a half-open breaker (word w) whose successful trials
// already reach the current half_open_max_calls, and reports whether it did.
func (b *Breaker) trialsSuffice(ctx context.Context, w uint64) bool {
	if wState(w) != HalfOpen || succeeded(w) < b.cfg.Load().halfOpenMaxCalls {
		return false
	}
	return b.transition(ctx, w, Closed, ReasonTrialsSucceeded, b.now(), 0)
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
