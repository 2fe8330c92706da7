package breaker

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fusebox-go/fusebox/events"
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
	limit    int

	byName sync.Map // string -> *Breaker; lock-free for existing names
	mu     sync.Mutex
	n      int
	sorted atomic.Pointer[[]*Breaker] // nil after an insert
}

// NewRegistry returns an empty registry whose breakers get the default
// options defaults, before the options given to [Registry.Get]. Unless the
// defaults include [WithEventBus], the registry creates one [events.Sync]
// bus shared by all its breakers; [WithMaxBreakers] sets its size limit.
// Invalid defaults are reported by Get.
func NewRegistry(defaults ...Option) *Registry {
	cfg := defaultConfig()
	applyOptions(&cfg, defaults)
	r := &Registry{defaults: slices.Clone(defaults), bus: cfg.bus, limit: cfg.maxBreakers}
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
// (wrapped) when the registry is at its limit.
func (r *Registry) Get(name string, opts ...Option) (*Breaker, error) {
	if b, ok := r.byName.Load(name); ok {
		return b.(*Breaker), nil
	}
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.byName.Load(name); ok {
		return b.(*Breaker), nil
	}
	if r.limit < 1 {
		return nil, &ConfigError{Field: "max_breakers", Value: r.limit, Reason: "must be at least 1"}
	}
	if r.n >= r.limit {
		return nil, fmt.Errorf("%w: %d breakers, cannot add %q", ErrRegistryFull, r.n, name)
	}
	cfg := defaultConfig()
	cfg.bus, cfg.busSet = r.bus, true
	applyOptions(&cfg, r.defaults)
	applyOptions(&cfg, opts)
	b, err := newBreaker(name, cfg)
	if err != nil {
		return nil, err
	}
	r.byName.Store(name, b)
	r.n++
	r.sorted.Store(nil)
	return b, nil
}

// Lookup returns the breaker named name without creating it.
func (r *Registry) Lookup(name string) (*Breaker, bool) {
	b, ok := r.byName.Load(name)
	if !ok {
		return nil, false
	}
	return b.(*Breaker), true
}

// Len returns how many breakers the registry holds.
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
