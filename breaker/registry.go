package breaker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/internal/typednil"
)

// Registry holds named breakers so that every part of a program that names
// the same dependency shares one breaker: the Go form of the spec's
// get_circuit_breaker. All its breakers publish on one bus, so telemetry
// subscribes once per registry and sees breakers created later too.
//
// A Registry is safe for concurrent use. The zero value is not usable; call
// [NewRegistry].
type Registry struct {
	defaults []Option
	bus      events.Bus[Event]
	states   *events.Sync[Event]   // OnStateChange subscribers of every breaker
	created  events.Sync[*Breaker] // OnCreate subscribers
	removed  events.Sync[*Breaker] // OnRemove subscribers
	limit    int
	idle     int64 // WithIdleEviction, ns; 0: off
	clock    Clock // the defaults' clock, for idle eviction; nil: the system's

	byName sync.Map // string -> *Breaker; lock-free for existing names
	mu     sync.Mutex
	n      int
	sorted atomic.Pointer[[]*Breaker] // nil after an insert or removal

	// Idle eviction, guarded by mu: when the last sweep ran, and what each
	// breaker looked like since when.
	lastSweep time.Time
	seen      map[*Breaker]idleMark
}

// idleMark is a breaker's call total when a sweep first saw it unchanged.
type idleMark struct {
	calls uint64
	since time.Time
}

// NewRegistry returns an empty registry whose breakers get the default
// options defaults, before the options given to [Registry.Get]. Unless the
// defaults include [WithEventBus], the registry creates one [events.Sync]
// bus shared by all its breakers; [WithMaxBreakers] sets its size limit and
// [WithIdleEviction] lets it forget idle breakers. Invalid defaults are
// reported by Get.
func NewRegistry(defaults ...Option) *Registry {
	cfg := defaultConfig()
	applyOptions(&cfg, defaults)
	r := &Registry{
		defaults: slices.Clone(defaults),
		bus:      cfg.bus,
		states:   events.NewSync[Event](),
		limit:    cfg.maxBreakers,
		idle:     cfg.idleEviction,
		clock:    cfg.clock,
	}
	if !cfg.busSet {
		r.bus = events.NewSync[Event]()
	}
	return r
}

// Events returns the bus shared by the registry's breakers (nil when the
// defaults turned events off). A breaker created with its own
// [WithEventBus] option publishes there instead.
func (r *Registry) Events() events.Bus[Event] { return r.bus }

// Get returns the breaker named name, creating it with the registry's
// defaults followed by opts if it does not exist yet. An existing breaker is
// returned unchanged: opts apply only on creation. The error wraps
// [ErrInvalidConfig] for an invalid name or option, or is [ErrRegistryFull]
// (wrapped) when the registry is at its limit (with [WithIdleEviction],
// after evicting idle breakers if a sweep is due: at most one per quarter
// of the idle time, so most Gets of a full registry are refused without
// looking at its breakers).
func (r *Registry) Get(name string, opts ...Option) (*Breaker, error) {
	if b, ok := r.byName.Load(name); ok {
		return b.(*Breaker), nil
	}
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	b, evicted, err := r.create(name, opts)
	for _, e := range evicted {
		r.removed.Publish(context.Background(), e)
	}
	switch {
	case err == errExisting:
		return b, nil
	case err != nil:
		return nil, err
	}
	r.created.Publish(context.Background(), b)
	return b, nil
}

// create makes the breaker named name under the registry's lock. If another
// goroutine created it first, it returns that breaker and errExisting. It
// also returns the breakers that idle eviction removed to make room.
func (r *Registry) create(name string, opts []Option) (b *Breaker, evicted []*Breaker, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.byName.Load(name); ok {
		return b.(*Breaker), nil, errExisting
	}
	if r.limit < 1 {
		return nil, nil, &ConfigError{Field: "max_breakers", Value: r.limit, Reason: "must be at least 1"}
	}
	if r.idle > 0 {
		if r.clock != nil && typednil.Is(r.clock) {
			// The defaults' clock, which idle eviction reads whatever
			// clock opts give the breaker.
			return nil, nil, &ConfigError{Field: "clock", Value: r.clock, Reason: "must not be nil"}
		}
		evicted = r.sweepLocked()
	}
	if r.n >= r.limit {
		return nil, evicted, fmt.Errorf("%w: %d breakers, cannot add %q", ErrRegistryFull, r.n, name)
	}
	cfg := defaultConfig()
	cfg.bus, cfg.busSet = r.bus, true
	applyOptions(&cfg, r.defaults)
	applyOptions(&cfg, opts)
	b, err = newBreaker(name, cfg, r.states)
	if err != nil {
		return nil, evicted, err
	}
	r.byName.Store(name, b)
	r.n++
	r.sorted.Store(nil)
	return b, evicted, nil
}

// errExisting tells Get that another goroutine created the breaker first:
// it is returned, and nobody is told it was created.
var errExisting = errors.New("breaker: exists")

// Lookup returns the breaker named name without creating it.
func (r *Registry) Lookup(name string) (*Breaker, bool) {
	b, ok := r.byName.Load(name)
	if !ok {
		return nil, false
	}
	return b.(*Breaker), true
}

// Remove takes the breaker named name out of the registry and reports
// whether there was one. Attached telemetry forgets it: its observed
// series (state, calls and the other totals) leave every collection, and
// the native /metrics page of package telemetry/prom deletes its duration
// and transition series too; an OpenTelemetry SDK keeps those two at their
// last values, since it cannot delete a series. A later Get of the name
// creates a new breaker; code that still holds the removed one may go on
// using it, but its calls are no longer reported.
func (r *Registry) Remove(name string) bool {
	r.mu.Lock()
	v, ok := r.byName.Load(name)
	if ok {
		r.removeLocked(v.(*Breaker))
	}
	r.mu.Unlock()
	if ok {
		r.removed.Publish(context.Background(), v.(*Breaker))
	}
	return ok
}

// removeLocked drops b. r.mu must be held.
func (r *Registry) removeLocked(b *Breaker) {
	if p := b.period.Load(); p.timer != nil {
		// An open breaker's recovery timer would keep it alive until it
		// fires. Whoever still holds the breaker may go on using it, so
		// its calls are sent to the clock instead of the timer.
		p.timer.Stop()
		p.due.Store(true)
	}
	r.byName.Delete(b.name)
	delete(r.seen, b)
	r.n--
	r.sorted.Store(nil)
}

// sweepLocked removes the breakers that have been idle for r.idle: closed,
// not forced, and with no call finished or rejected since a sweep first
// saw them so. A sweep looks at every breaker, so it runs at most once per
// quarter of r.idle, also when the registry is full: a stream of new names
// against a full registry costs one sweep per interval, and the Gets in
// between are refused without looking. Nothing is lost by waiting: a
// breaker's mark keeps the time a sweep first saw it unused, so the next
// allowed sweep evicts whatever has been idle long enough by then. An
// empty registry has nothing to look at and uses up no interval; a clock
// that went back before the last sweep allows one at once. r.mu must be
// held.
func (r *Registry) sweepLocked() []*Breaker {
	if r.n == 0 {
		return nil
	}
	now := time.Now()
	if r.clock != nil {
		now = r.clock.Now()
	}
	if since := now.Sub(r.lastSweep); since >= 0 && since < time.Duration(r.idle/4) {
		return nil
	}
	r.lastSweep = now
	if r.seen == nil {
		r.seen = map[*Breaker]idleMark{}
	}
	var evicted []*Breaker
	r.byName.Range(func(_, v any) bool {
		b := v.(*Breaker)
		s := b.Peek()
		m, ok := r.seen[b]
		switch {
		case s.State != Closed || s.Forced:
			delete(r.seen, b)
		case !ok || m.calls != s.TotalCalls:
			r.seen[b] = idleMark{calls: s.TotalCalls, since: now}
		case now.Sub(m.since) >= time.Duration(r.idle):
			evicted = append(evicted, b)
		}
		return true
	})
	for _, b := range evicted {
		r.removeLocked(b)
	}
	return evicted
}

// Len returns how many breakers the registry holds, which
// [WithMaxBreakers] bounds.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// All returns every breaker, sorted by name: the Go form of the spec's
// get_all_circuit_breakers. The slice is the caller's to keep.
func (r *Registry) All() []*Breaker {
	return slices.Clone(r.snapshot())
}

// snapshot returns the shared sorted slice; callers must not modify it.
func (r *Registry) snapshot() []*Breaker {
	if s := r.sorted.Load(); s != nil {
		return *s
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.sorted.Load(); s != nil {
		return *s
	}
	all := make([]*Breaker, 0, r.n)
	r.byName.Range(func(_, v any) bool {
		all = append(all, v.(*Breaker))
		return true
	})
	slices.SortFunc(all, func(a, b *Breaker) int { return strings.Compare(a.name, b.name) })
	r.sorted.Store(&all)
	return all
}

// Range calls f for every breaker in name order until f returns false. It
// does not copy the registry; breakers added meanwhile may be missed.
func (r *Registry) Range(f func(*Breaker) bool) {
	for _, b := range r.snapshot() {
		if !f(b) {
			return
		}
	}
}

// ResetAll resets every breaker: the Go form of the spec's
// reset_all_circuit_breakers.
func (r *Registry) ResetAll() {
	r.Range(func(b *Breaker) bool {
		b.Reset()
		return true
	})
}

// OnStateChange calls fn with every state change and operator action of
// every breaker of the registry, breakers created later included, and with
// nothing else: unlike a subscriber of [Registry.Events], it costs a call
// nothing. See [Breaker.OnStateChange]. It panics if fn is nil.
func (r *Registry) OnStateChange(fn func(ctx context.Context, e Event)) (stop func()) {
	mustFunc(fn, "Registry.OnStateChange")
	return r.states.Subscribe(events.HandlerFunc[Event](fn))
}

// OnCreate calls fn with each breaker that [Registry.Get] creates, after it
// is in the registry and before Get returns it (outside the registry's
// lock: fn may call Get). A concurrent Get of the same name may return the
// breaker before fn has run. stop removes fn. It panics if fn is nil.
func (r *Registry) OnCreate(fn func(b *Breaker)) (stop func()) {
	mustFunc(fn, "Registry.OnCreate")
	return r.created.Subscribe(events.HandlerFunc[*Breaker](func(_ context.Context, b *Breaker) { fn(b) }))
}

// OnRemove calls fn with each breaker taken out of the registry by
// [Registry.Remove] or by idle eviction, after it is gone (outside the
// registry's lock). stop removes fn. It panics if fn is nil.
func (r *Registry) OnRemove(fn func(b *Breaker)) (stop func()) {
	mustFunc(fn, "Registry.OnRemove")
	return r.removed.Subscribe(events.HandlerFunc[*Breaker](func(_ context.Context, b *Breaker) { fn(b) }))
}

// defaultRegistry backs the package-level Get, All and ResetAll.
var defaultRegistry = NewRegistry()

// DefaultRegistry returns the registry behind the package-level [Get],
// [All] and [ResetAll]. Programs use it like http.DefaultServeMux; libraries
// should take a *Registry instead.
func DefaultRegistry() *Registry { return defaultRegistry }

// Get returns the breaker named name from the default registry, creating it
// with opts if needed: the Go form of the spec's get_circuit_breaker.
func Get(name string, opts ...Option) (*Breaker, error) { return defaultRegistry.Get(name, opts...) }

// All returns every breaker of the default registry, sorted by name.
func All() []*Breaker { return defaultRegistry.All() }

// ResetAll resets every breaker of the default registry.
func ResetAll() { defaultRegistry.ResetAll() }

// mustFunc panics, naming the method, if fn is a nil function: subscribed,
// it would panic at every event, recovered and counted but never seen.
func mustFunc[F any](fn F, method string) {
	if typednil.Is(fn) {
		panic("breaker: " + method + " called with a nil function")
	}
}
