package events

import (
	"context"
	"sync/atomic"
)

// DefaultAsyncCapacity is the queue capacity [NewAsync] uses when asked for
// less than one slot.
const DefaultAsyncCapacity = 1024

// Bits of Async.state. The low bits count the Publish calls in progress.
const (
	asyncClosed  = 1 << 63 // Close has been called; Publish drops
	asyncDrained = 1 << 62 // the queue channel has been closed
)

// Async is a [Bus] that queues events in a bounded buffer and delivers them
// from a single goroutine that it owns. Publish never blocks: when the
// buffer is full, or the bus is closed, the event is dropped and counted in
// [Async.Dropped].
//
// Events are delivered one at a time, in the order their Publish calls
// enqueued them, to the subscribers current at delivery time. Every event
// given to Publish is either delivered or counted as dropped.
//
// The worker goroutine starts in [NewAsync] and runs until [Async.Close];
// an Async that is never closed keeps it alive. Create an Async with
// NewAsync: the zero value drops every event. An Async is safe for
// concurrent use by multiple goroutines.
type Async[E any] struct {
	subs    subscribers[E]
	queue   chan asyncItem[E]
	done    chan struct{} // closed by the worker when it exits
	state   atomic.Uint64 // asyncClosed | asyncDrained | publishers in flight
	dropped atomic.Uint64
}

var _ Bus[int] = (*Async[int])(nil)

// asyncItem is one queued event with the context it was published with.
type asyncItem[E any] struct {
	ctx context.Context
	e   E
}

// NewAsync returns an asynchronous bus whose queue holds capacity events,
// and starts its worker goroutine. A capacity below 1 means
// [DefaultAsyncCapacity]. Call [Async.Close] to stop the goroutine.
func NewAsync[E any](capacity int) *Async[E] {
	if capacity < 1 {
		capacity = DefaultAsyncCapacity
	}
	b := &Async[E]{
		queue: make(chan asyncItem[E], capacity),
		done:  make(chan struct{}),
	}
	go b.run(nil)
	return b
}

// run is the worker goroutine: it finishes the delivery it resumes, if
// any, then delivers queued events until the queue is closed and empty.
//
// A handler that calls runtime.Goexit (t.FailNow in a test's subscriber,
// for example) ends the goroutine it runs on; Goexit cannot be recovered.
// The worker then hands on to a new one, counting the Goexit as a panic:
// the new worker delivers the event to the remaining subscribers and goes
// on with the queue, so every event is still delivered or counted as
// dropped, and Close still waits for the one worker that is running.
func (b *Async[E]) run(resume *delivery[E]) {
	var d delivery[E]
	exited := false
	defer func() {
		if exited {
			close(b.done)
			return
		}
		b.subs.panics.Add(1)
		d.next++
		go b.run(&d)
	}()
	if resume != nil {
		d = *resume
		b.subs.finish(&d)
	}
	for it := range b.queue {
		d = delivery[E]{ctx: it.ctx, e: it.e}
		if p := b.subs.list.Load(); p != nil {
			d.list = *p
			b.subs.finish(&d)
		}
	}
	exited = true
}

// Publish enqueues e for delivery and returns at once. If the queue is
// full or the bus is closed, e is dropped and counted in [Async.Dropped];
// Publish never blocks and never waits for a subscriber.
//
// The handlers receive ctx as is, later and on another goroutine: it may be
// cancelled or past its deadline by then, and it is kept reachable until
// the event is delivered. Use [context.WithoutCancel] in a handler that
// needs a live context, or detach it before publishing.
func (b *Async[E]) Publish(ctx context.Context, e E) {
	// Registering as in flight before checking the closed bit is what lets
	// Close know when no Publish can still send: the queue is closed only
	// once the count is zero, and any later Publish sees the closed bit.
	if b.state.Add(1)&asyncClosed != 0 {
		b.dropped.Add(1)
	} else {
		select {
		case b.queue <- asyncItem[E]{ctx: ctx, e: e}:
		default:
			b.dropped.Add(1)
		}
	}
	b.leave()
}

// leave ends a Publish. The last Publish to leave after Close closes the
// queue if Close could not.
func (b *Async[E]) leave() {
	if b.state.Add(^uint64(0)) == asyncClosed {
		b.closeQueue()
	}
}

// closeQueue closes the queue channel if the bus is closed, no Publish is
// in flight and nobody closed it yet. Exactly one caller succeeds.
func (b *Async[E]) closeQueue() {
	if b.state.CompareAndSwap(asyncClosed, asyncClosed|asyncDrained) {
		close(b.queue)
	}
}

// Subscribe adds h as a new subscription and returns a function that
// removes it. Unsubscribing is idempotent, removes only this subscription
// (subscribing the same handler twice makes two), and is safe to call from
// inside a handler. Events still queued when unsubscribe returns are not
// delivered to h, but a delivery already under way may still call h once.
// Subscribe panics if h is nil or a nil [HandlerFunc].
func (b *Async[E]) Subscribe(h Handler[E]) (unsubscribe func()) { return b.subs.subscribe(h) }

// Active reports whether the bus has at least one subscriber. It is one
// atomic load.
func (b *Async[E]) Active() bool { return b.subs.active() }

// Dropped returns how many events Publish has dropped so far because the
// queue was full or the bus was closed.
func (b *Async[E]) Dropped() uint64 { return b.dropped.Load() }

// Panics returns how many subscriber panics the bus has recovered so far,
// counting a subscriber that called runtime.Goexit as one.
func (b *Async[E]) Panics() uint64 { return b.subs.panics.Load() }

// Close stops the bus from accepting events, delivers every event already
// queued, and returns once the worker goroutine has exited. Publish calls
// that race with Close either enqueue in time to be delivered or are
// counted as dropped. Close is idempotent and safe to call concurrently
// with Publish and with itself; every call waits for the worker to exit.
//
// Close must not be called from a handler of the same bus: the worker
// would wait for itself. Close always returns nil; the error result lets
// an Async be used as an [io.Closer].
func (b *Async[E]) Close() error {
	if b.done == nil {
		return nil // zero value: no worker to stop
	}
	b.state.Or(asyncClosed)
	b.closeQueue()
	<-b.done
	return nil
}
