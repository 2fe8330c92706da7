// Package events implements a small typed publish/subscribe bus.
//
// A [Bus] carries values of one event type E from publishers to
// subscribers. Two implementations are provided: [Sync] calls every
// subscriber on the publisher's goroutine before Publish returns, and
// [Async] queues events in a bounded buffer that one goroutine of its own
// drains, so that a slow subscriber never slows a publisher down.
//
// The package knows nothing about what it carries; it uses only the
// standard library.
//
// # Usage
//
// A publisher checks [Bus.Active] before building an event, so that nobody
// pays for events nobody listens to:
//
//	bus := events.NewSync[Event]()
//	unsubscribe := bus.Subscribe(events.HandlerFunc[Event](
//		func(ctx context.Context, e Event) { log.Println(e) },
//	))
//	defer unsubscribe()
//
//	if bus.Active() {
//		bus.Publish(ctx, Event{Name: "opened"})
//	}
//
// An asynchronous bus is used the same way, and must be closed to stop its
// goroutine:
//
//	bus := events.NewAsync[Event](1024)
//	defer bus.Close() // delivers what is queued, then stops the goroutine
//
// # Concurrency
//
// [Sync] and [Async] are safe for concurrent use. The subscriber list is
// copy-on-write: Subscribe and unsubscribe take a mutex and replace the
// list, while Publish and Active read it with a single atomic load and no
// lock. A Publish therefore delivers to the subscribers present when it
// started (on an Async: when the worker picked the event up), and a
// handler may subscribe or unsubscribe, on its own bus too, without
// deadlock. A handler may be called once more after its unsubscribe
// function returned, by a delivery that was already under way.
//
// A Sync calls handlers on the publisher's goroutine, so handlers may run
// concurrently with each other when several goroutines publish. An Async
// calls all handlers from its single worker goroutine, one event at a time.
// Only [NewAsync] starts a goroutine; [Async.Close] stops it.
//
// # Panics
//
// A handler that panics is recovered, the panic is counted in
// [Sync.Panics] or [Async.Panics], and delivery continues with the next
// subscriber; the panic never reaches the publisher, and an Async's worker
// keeps running. The panic value is not kept. Subscribe panics if given a
// nil Handler or a nil [HandlerFunc], which is a programming error.
//
// # Delivery
//
// A Sync delivers each event to every subscriber in subscription order and
// returns from Publish after the last one; it neither drops nor retries,
// and allocates nothing.
//
// An Async never blocks Publish: an event that does not fit in the queue,
// or that is published after Close, is dropped and counted in
// [Async.Dropped]. Every event given to Publish is either delivered or
// counted as dropped, including when Publish races with Close; an event
// counts as delivered once the worker has handed it to the subscribers of
// that moment, even if there are none. Events are delivered in the order
// they were enqueued. The context given to Publish reaches the handlers
// unchanged, so by then it may be cancelled or past its deadline. Close
// delivers everything already queued before it returns.
package events
