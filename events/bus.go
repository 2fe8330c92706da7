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
	if f, ok := h.(HandlerFunc[E]); h == nil || ok && f == nil {
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

// delivery is the progress of delivering one event: the subscribers as
// they were when it started, and the index of the one being called.
type delivery[E any] struct {
	ctx  context.Context
	e    E
	list []subscription[E]
	next int
}

// deliver calls every current subscriber in subscription order. A panic in
// one subscriber is recovered and counted, and the others still run.
func (s *subscribers[E]) deliver(ctx context.Context, e E) {
	p := s.list.Load()
	if p == nil {
		return
	}
	d := delivery[E]{ctx: ctx, e: e, list: *p}
	s.finish(&d)
}

// finish calls the subscribers of d from d.next on.
func (s *subscribers[E]) finish(d *delivery[E]) {
	for d.next < len(d.list) {
		s.deliverFrom(d)
	}
}

// deliverFrom calls d's subscribers in order from d.next, keeping d.next
// at the one being called, until the list ends or one panics: that panic
// is recovered and counted, and d.next moves past the subscriber. One
// deferred recover covers the whole loop, so the ordinary path pays for
// it once per Publish, not once per handler.
func (s *subscribers[E]) deliverFrom(d *delivery[E]) {
	defer func() {
		if r := recover(); r != nil {
			s.panics.Add(1)
			d.next++
		}
	}()
	for ; d.next < len(d.list); d.next++ {
		d.list[d.next].h.Handle(d.ctx, d.e)
	}
}
