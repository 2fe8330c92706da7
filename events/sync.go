package events

import "context"

// Sync is a [Bus] that delivers each event to every subscriber, in
// subscription order, on the publisher's goroutine, before Publish returns.
//
// The zero value is an empty bus ready to use. A Sync must not be copied
// after first use. It is safe for concurrent use by multiple goroutines.
type Sync[E any] struct {
	subs subscribers[E]
}

var _ Bus[int] = (*Sync[int])(nil)

// NewSync returns an empty synchronous bus.
func NewSync[E any]() *Sync[E] { return new(Sync[E]) }

// Publish calls every current subscriber with ctx and e, in subscription
// order, and returns when all of them have returned. It takes no lock and
// allocates nothing. A subscriber that panics is recovered and counted in
// [Sync.Panics]; the remaining subscribers are still called.
//
// Publish sees the subscriber list as it was when Publish started: a
// subscription added or removed during the call, including by a handler,
// takes effect from the next Publish.
func (b *Sync[E]) Publish(ctx context.Context, e E) { b.subs.deliver(ctx, e) }

// Subscribe adds h as a new subscription and returns a function that
// removes it. Unsubscribing is idempotent, removes only this subscription
// (subscribing the same handler twice makes two), and is safe to call from
// inside a handler. A Publish already running when unsubscribe returns may
// still call h once. Subscribe panics if h is nil or a nil [HandlerFunc].
func (b *Sync[E]) Subscribe(h Handler[E]) (unsubscribe func()) { return b.subs.subscribe(h) }

// Active reports whether the bus has at least one subscriber. It is one
// atomic load.
func (b *Sync[E]) Active() bool { return b.subs.active() }

// Panics returns how many subscriber panics the bus has recovered so far.
func (b *Sync[E]) Panics() uint64 { return b.subs.panics.Load() }
