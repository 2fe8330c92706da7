package breaker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fusebox-go/fusebox/events"
)

// Breaker is a circuit breaker: it runs functions while they mostly
// succeed, and rejects calls for a while once they keep failing, so that a
// failing dependency gets room to recover and callers fail fast.
//
// A Breaker is safe for concurrent use. Create one with [New] or get a
// shared one from a [Registry].
//
// How it is kept consistent: the state, its count and the generation live
// in one atomic word (see word), and the rest of the current state in an
// immutable period. A call that is admitted keeps the period it was
// admitted in, and its outcome changes the word's count with a
// compare-and-swap only while that period is current. Transitions take mu,
// set the word's pending bit, publish the next period and store the next
// word; mu is never held while a protected function runs or an event is
// published. State changes are queued under qmu and published after mu is
// released, by one goroutine at a time (see drain).
type Breaker struct {
	word      atomicWord
	period    atomic.Pointer[period]
	cfg       atomic.Pointer[config]  // replaced whole by Reconfigure
	wins      atomic.Pointer[windows] // nil without a windowed trip policy
	shadow    atomic.Bool
	successes counter
	rejected  counter
	failures  atomic.Uint64
	ignored   atomic.Uint64
	shadowed  atomic.Uint64
	slowCalls atomic.Uint64
	dropped   atomic.Uint64 // state changes dropped from a full queue
	lastFail  atomic.Int64

	mu sync.Mutex // serialises transitions and Reconfigure

	qmu      sync.Mutex
	queue    []queued // guarded by qmu
	draining bool     // guarded by qmu

	name   string
	clock  Clock               // nil: the monotonic clock
	bus    events.Bus[Event]   // nil: events off
	direct *events.Sync[Event] // bus, when it is an *events.Sync: checked without an interface call
	states *events.Sync[Event] // OnStateChange subscribers; shared by a registry's breakers
	base   time.Time           // breaker time 0
}

// windows holds the state of the windowed trip policies.
type windows struct {
	rate, slow *window
}

// timed reports whether a window needs the time of each call.
func (ws *windows) timed() bool {
	return ws.rate != nil && ws.rate.buckets != nil || ws.slow != nil && ws.slow.buckets != nil
}

func (ws *windows) reset(epoch uint64, now int64) {
	if ws.rate != nil {
		ws.rate.reset(epoch, now)
	}
	if ws.slow != nil {
		ws.slow.reset(epoch, now)
	}
}

// New returns a closed breaker named name. Without options it has the
// spec's defaults: it opens after 5 consecutive failures, waits 60s, then
// admits 3 trial calls. The error wraps [ErrInvalidConfig] and names the
// field when name or an option value is invalid (see [ValidateName] and each
// option).
func New(name string, opts ...Option) (*Breaker, error) {
	cfg := defaultConfig()
	applyOptions(&cfg, opts)
	return newBreaker(name, cfg, nil)
}

// newBreaker builds a breaker; states is the registry's state-change bus,
// or nil for a breaker of its own.
func newBreaker(name string, cfg config, states *events.Sync[Event]) (*Breaker, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := &Breaker{name: name, clock: cfg.clock, bus: cfg.bus, states: states}
	if !cfg.busSet {
		b.bus = events.NewSync[Event]()
	}
	if b.states == nil {
		b.states = events.NewSync[Event]()
	}
	b.direct, _ = b.bus.(*events.Sync[Event])
	if b.clock != nil {
		b.base = b.clock.Now()
	} else {
		b.base = time.Now()
	}
	b.lastFail.Store(never)
	p := &period{start: never}
	p.firstTrial.Store(never)
	b.period.Store(p)
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

// observed reports whether anyone subscribed to the breaker's events bus:
// only then does a call build events and read the clock for them.
func (b *Breaker) observed() bool {
	if d := b.direct; d != nil {
		return d.Active()
	}
	return b.bus != nil && b.observedIndirect()
}

// observedIndirect asks a bus that is not an *events.Sync.
func (b *Breaker) observedIndirect() bool { return b.bus.Active() }

// watched reports whether anyone wants the breaker's state changes.
func (b *Breaker) watched() bool { return b.observed() || b.states.Active() }

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
	return b.word.Load().state()
}

// OnStateChange calls fn with every state change of the breaker
// ([EventStateChange]) and every operator action that left the state as it
// was ([EventAction]: ForceOpen of an open breaker, Reset of a closed one),
// and with nothing else: unlike a subscriber of [Breaker.Events], it costs
// a call nothing (no clock read, no event built). fn runs on the goroutine that
// made the change, after the state is updated and outside any lock, in the
// order the changes happened, like any subscriber; see [Event]. stop
// removes it; calling stop again does nothing. It panics if fn is nil.
func (b *Breaker) OnStateChange(fn func(ctx context.Context, e Event)) (stop func()) {
	mustFunc(fn, "Breaker.OnStateChange")
	return b.states.Subscribe(events.HandlerFunc[Event](func(ctx context.Context, e Event) {
		if e.Breaker == b {
			fn(ctx, e)
		}
	}))
}
