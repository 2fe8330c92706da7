package events

import (
	"context"
	"sync"
	"sync/atomic"
)

// Bus is the contract shared by publishers and subscribers. [Sync] and
// [Async] implement it.
type Bus[E any] interface {
	// Publish hands e to the bus for delivery to its subscribers.
	Publish(ctx context.Context, e E)

	// Subscribe adds h as a new subscription and returns a function that
	// removes exactly that subscription. Subscribing the same handler twice
	// makes two subscriptions, each with its own unsubscribe function.
	// Calling unsubscribe more than once is harmless.
	Subscribe(h Handler[E]) (unsubscribe func())

	// Active reports whether the bus has at least one subscriber.
	// Publishers call it before building an event, so it costs one atomic
	// load and never allocates or locks.
	Active() bool
}

// subscription is one entry of a subscriber list. The id tells two
// subscriptions of the same handler apart.
type subscription[E any] struct {
	id uint64
	h  Handler[E]
}

// subscribers is the copy-on-write subscriber list shared by Sync and Async.
//
// Readers load list with no lock and iterate the slice it points to; that
// slice is never modified once stored. Writers hold mu, build a new slice
// and store it. An empty list is stored as nil, so that active is a single
// atomic load.
type subscribers[E any] struct {
	list   atomic.Pointer[[]subscription[E]]
	panics atomic.Uint64

	mu     sync.Mutex // serialises writers of list
	nextID uint64     // guarded by mu
}

// active reports whether at least one subscription exists.
func (s *subscribers[E]) active() bool { return s.list.Load() != nil }

// subscribe appends a subscription for h and returns its idempotent
// unsubscribe function.
func (s *subscribers[E]) subscribe(h Handler[E]) func() {
	if h == nil {
		panic("events: Subscribe called with a nil Handler")
	}
	s.mu.Lock()
	s.nextID++
	id := s.nextID
	var old []subscription[E]
	if p := s.list.Load(); p != nil {
		old = *p
	}
	next := make([]subscription[E], len(old), len(old)+1)
	copy(next, old)
	next = append(next, subscription[E]{id: id, h: h})
	s.list.Store(&next)
	s.mu.Unlock()
	return func() { s.unsubscribe(id) }
}

// unsubscribe removes the subscription with the given id, if it is still
// there.
func (s *subscribers[E]) unsubscribe(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.list.Load()
	if p == nil {
		return
	}
	old := *p
	i := 0
	for i < len(old) && old[i].id != id {
		i++
	}
	if i == len(old) {
		return // already removed
	}
	if len(old) == 1 {
		s.list.Store(nil)
		return
	}
	next := make([]subscription[E], 0, len(old)-1)
	next = append(next, old[:i]...)
	next = append(next, old[i+1:]...)
	s.list.Store(&next)
}

// deliver calls every current subscriber in subscription order. A panic in
// one subscriber is recovered and counted, and the others still run.
func (s *subscribers[E]) deliver(ctx context.Context, e E) {
	p := s.list.Load()
	if p == nil {
		return
	}
	list := *p
	for i := 0; i < len(list); {
		i = s.deliverFrom(ctx, list, i, e)
	}
}

// deliverFrom calls list[i:] in order and returns len(list), or, if a
// handler panics, recovers, counts the panic and returns the index of the
// next handler. One deferred recover covers the whole loop, so the
// ordinary path pays for it once per Publish, not once per handler.
func (s *subscribers[E]) deliverFrom(ctx context.Context, list []subscription[E], i int, e E) (next int) {
	defer func() {
		if r := recover(); r != nil {
			s.panics.Add(1)
			next = i + 1
		}
	}()
	for ; i < len(list); i++ {
		list[i].h.Handle(ctx, e)
	}
	return i
}
