package breaker

import (
	"context"
	"math"
	"runtime"
	"sync/atomic"
	"time"
)

// never marks a time that was never set.
const never = math.MinInt64

// period is what a breaker knows about the state it entered at a
// transition. The fields above the blank line are set before the period is
// published and never change; the atomics below it record what happens
// during the period. A call keeps a pointer to the period it was admitted
// in: its outcome moves the state machine only while that period is
// current.
type period struct {
	epoch    uint64 // counts the breaker's periods from 0; never wraps
	gen      word   // the word's generation in this period
	state    State
	start    int64 // breaker time of the transition, or never
	retryAt  int64 // open: when a probe may run
	openFor  int64 // open: the length of the period
	reopens  int   // failed probes since the breaker last closed
	failures int   // the failure count the state was entered with
	err      *OpenError

	// open, on the system clock: a timer sets due once the period has
	// passed, so that a rejection reads no clock (a clock read costs more
	// than the rest of a rejection); the timer is stopped when the period
	// ends early. nil with an injected clock, which is read instead.
	timer *time.Timer
	due   atomic.Bool

	// half-open: when the oldest trial of the current run of trials was
	// admitted (see noteTrial), or never; WithHalfOpenMaxWait counts from it
	firstTrial atomic.Int64
}

// rejectingPeriod is an open or half-open period with the error its
// rejections return (period.err points to err), allocated together.
type rejectingPeriod struct {
	p   period
	err OpenError
}

// change describes one transition.
type change struct {
	ctx    context.Context // of the call or action that caused it
	to     State
	forced bool
	reason Reason
	origin Origin
	peer   string
	now    int64
	// failures is the failure count the new state is entered with; -1
	// takes the closed word's count, or the current period's.
	failures int
	openFor  int64 // to Open: the period's length; 0 takes it from the configuration
	cause    error
	window   *WindowStats
}

// transition moves the breaker out of period p, from whatever count its
// word holds, unless p has ended. It reports whether it did; the caller
// drains the queue.
func (b *Breaker) transition(p *period, ch change) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	w, ok := b.begin(p, 0, false)
	if ok {
		b.commit(w, ch)
	}
	return ok
}

// transitionExact moves the breaker out of period p only if its word is
// still exactly w: for decisions made from the count in w, which a
// concurrent call may have changed.
func (b *Breaker) transitionExact(p *period, w word, ch change) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	w, ok := b.begin(p, w, true)
	if ok {
		b.commit(w, ch)
	}
	return ok
}

// begin starts a transition out of period p by setting the word's pending
// bit, which stops every call from changing the count until commit. With
// exact, the word must be exactly w. It returns the word as it was. b.mu
// must be held; commit must follow a successful begin.
func (b *Breaker) begin(p *period, w word, exact bool) (word, bool) {
	for {
		cur := b.word.Load()
		if b.period.Load() != p || exact && cur != w {
			return 0, false
		}
		if b.word.CompareAndSwap(cur, cur|pendingBit) {
			return cur, true
		}
	}
}

// commit ends the transition begun from word w: it publishes the period of
// the new state, stores the new word (clearing the pending bit) and queues
// the state change for subscribers. b.mu must be held.
func (b *Breaker) commit(w word, ch change) {
	c := b.cfg.Load()
	old := b.period.Load()
	from := w.state()
	if ch.failures < 0 {
		ch.failures = old.failures
		if from == Closed {
			ch.failures = countInt(uint64(w.count()))
		}
	}
	var np *period
	if ch.to == Closed {
		np = new(period)
	} else {
		// An open or half-open period and the error its rejections
		// return, in one allocation.
		rp := new(rejectingPeriod)
		np = &rp.p
		np.err = &rp.err
	}
	np.epoch = old.epoch + 1
	np.gen = (w.gen() + 1) & genMask
	np.state = ch.to
	np.start = ch.now
	np.failures = ch.failures
	var count uint32
	switch ch.to {
	case Open:
		switch {
		case from == HalfOpen && !ch.forced:
			np.reopens = old.reopens + 1
		case from == Open:
			np.reopens = old.reopens
		}
		np.openFor = ch.openFor
		if np.openFor <= 0 {
			np.openFor = c.openFor(np.reopens)
		}
		np.retryAt = addSat(ch.now, np.openFor)
		if ch.forced {
			np.retryAt, np.openFor = math.MaxInt64, c.openFor(0)
		}
		*np.err = OpenError{name: b.name, state: Open, forced: ch.forced, b: b, retryAt: np.retryAt, openFor: np.openFor}
		count = uint32(min(uint64(max(ch.failures, 0)), maxCount))
	case HalfOpen:
		np.reopens = old.reopens
		*np.err = OpenError{name: b.name, state: HalfOpen, b: b}
		np.firstTrial.Store(never)
	}
	// Every transition empties the windows: they count the calls of one
	// closed period, and a late call of an earlier one is dropped by epoch.
	if ws := b.wins.Load(); ws != nil {
		ws.reset(np.epoch, ch.now)
	}
	if old.timer != nil {
		old.timer.Stop()
	}
	if ch.to == Open && !ch.forced && b.clock == nil {
		np.timer = time.AfterFunc(time.Duration(np.openFor), func() { np.due.Store(true) })
	}
	b.period.Store(np)
	b.word.Store(makeWord(ch.to, np.gen, ch.forced, count))
	kind := EventStateChange
	if from == ch.to {
		// Reset of a closed breaker, or ForceOpen of an open one: no state
		// change, but an operator's action; a re-anchored open period is
		// neither.
		if ch.reason != ReasonForceOpen && ch.reason != ReasonReset {
			return
		}
		kind = EventAction
	}
	if !b.watched() {
		return
	}
	ev := Event{
		Kind:                kind,
		Breaker:             b,
		From:                from,
		To:                  ch.to,
		Reason:              ch.reason,
		Origin:              ch.origin,
		Peer:                ch.peer,
		Time:                b.wall(ch.now),
		ConsecutiveFailures: ch.failures,
		Cause:               ch.cause,
		Window:              ch.window,
	}
	if ch.to == Open && !ch.forced && kind == EventStateChange {
		ev.OpenFor = time.Duration(np.openFor)
	}
	ctx := ch.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	b.qmu.Lock()
	if len(b.queue) >= maxQueued {
		b.queue[0] = queued{}
		b.queue = b.queue[1:]
		b.dropped.Add(1)
	}
	b.queue = append(b.queue, queued{ctx: ctx, ev: ev})
	b.qmu.Unlock()
}

// waitPending lets the goroutine committing a transition finish. A
// transition holds the pending bit for a few hundred nanoseconds and runs
// no user code meanwhile, so yielding is enough.
func waitPending() { runtime.Gosched() }

// refresh applies a due lazy transition: open to half-open once the
// recovery timeout has passed, or half-open back to open once trials have
// overstayed WithHalfOpenMaxWait.
func (b *Breaker) refresh() {
	for {
		w := b.word.Load()
		if w.pending() {
			waitPending()
			continue
		}
		p := b.period.Load()
		if p.gen != w.gen() {
			continue
		}
		switch {
		case w.state() == Open && !w.forced():
			if b.recoveryDue(p) {
				b.toHalfOpen(context.Background(), p)
			}
		case w.state() == HalfOpen:
			b.trialsOverdue(context.Background(), p, w)
		}
		return
	}
}

// recoveryDue reports whether the open period p needs the slow path: its
// recovery timeout has passed or the clock went back past its start. It
// reads the clock; only admission's fast path trusts the period's timer
// instead (see Breaker.admit).
func (b *Breaker) recoveryDue(p *period) bool {
	now := b.now()
	return now >= p.retryAt || now < p.start
}

// toHalfOpen moves a breaker whose open period p is due to half-open, and
// publishes the change with ctx. If the clock went back past the period's
// start, it restarts the period from now instead.
func (b *Breaker) toHalfOpen(ctx context.Context, p *period) {
	b.mu.Lock()
	w, ok := b.begin(p, 0, false)
	if !ok {
		b.mu.Unlock()
		return // someone else moved it; the caller looks again
	}
	now := b.now()
	switch {
	case now < p.start:
		// The clock went backwards: count the open period from now rather
		// than stay open for the size of the jump.
		b.commit(w, change{ctx: ctx, to: Open, reason: ReasonRecoveryTimeout, now: now, failures: -1, openFor: p.openFor})
	case now < p.retryAt:
		b.word.Store(w) // not due after all (the clock is an injected one)
	default:
		b.commit(w, change{ctx: ctx, to: HalfOpen, reason: ReasonRecoveryTimeout, now: now, failures: -1})
	}
	b.mu.Unlock()
	b.drain()
}

// trialsOverdue reopens a half-open breaker (period p, word w) whose trials
// are still running WithHalfOpenMaxWait after the period's first trial was
// admitted, and reports whether it did.
func (b *Breaker) trialsOverdue(ctx context.Context, p *period, w word) bool {
	c := b.cfg.Load()
	if c.halfOpenMaxWait <= 0 || w.inFlight() == 0 {
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
	if b.transition(p, change{ctx: ctx, to: Open, reason: ReasonHalfOpenTimeout, now: now, failures: -1}) {
		b.drain()
	}
	return true
}

// noteTrial records when a trial of the half-open period p is admitted
// into free slots (none in flight in before, the word it will swap):
// WithHalfOpenMaxWait counts from the oldest trial of a run of trials that
// kept at least one slot taken, so a trial admitted after all others
// returned starts the count afresh. A trial admitted beside running ones
// leaves it alone.
//
// It is called before the trial takes its slot, so that nobody finds the
// slot taken while firstTrial still holds an earlier run's time (which
// would make the new trial overdue the moment it started). It stores with
// a compare-and-swap from the value it saw before reading the clock: a
// caller that lost the race for the slot to one that stored meanwhile
// cannot put back an older time.
func (b *Breaker) noteTrial(p *period, before word) {
	if before.inFlight() == 0 {
		first := p.firstTrial.Load()
		p.firstTrial.CompareAndSwap(first, b.now())
	}
}

// trialsSuffice closes a half-open breaker (period p, word w) whose
// successful trials already reach the current half_open_max_calls, and
// reports whether it did.
func (b *Breaker) trialsSuffice(ctx context.Context, p *period, w word) bool {
	if w.state() != HalfOpen || w.succeeded() < b.cfg.Load().halfOpenMaxCalls {
		return false
	}
	return b.transition(p, change{ctx: ctx, to: Closed, reason: ReasonTrialsSucceeded, now: b.now()})
}

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
