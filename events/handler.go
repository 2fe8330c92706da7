package events

import "context"

// Handler receives events published on a [Bus].
//
// Handle must not assume anything about the goroutine it runs on: a [Sync]
// bus calls it on the publisher's goroutine and an [Async] bus on its worker
// goroutine. A Handler subscribed to more than one bus, or to a bus with
// several publishers, may be called concurrently and must be safe for that.
type Handler[E any] interface {
	// Handle processes one event. The context is the one given to Publish,
	// unchanged; on an [Async] bus it may have been cancelled by the time
	// Handle runs.
	Handle(ctx context.Context, e E)
}

// HandlerFunc adapts an ordinary function to the [Handler] interface.
type HandlerFunc[E any] func(ctx context.Context, e E)

// Handle calls f(ctx, e).
func (f HandlerFunc[E]) Handle(ctx context.Context, e E) { f(ctx, e) }
