package events_test

import (
	"context"
	"fmt"

	"github.com/fusebox-go/fusebox/events"
)

// StateChange is an example event type.
type StateChange struct {
	Breaker  string
	From, To string
}

func ExampleNewSync() {
	bus := events.NewSync[StateChange]()
	ctx := context.Background()

	fmt.Println("active:", bus.Active())
	unsubscribe := bus.Subscribe(events.HandlerFunc[StateChange](
		func(_ context.Context, e StateChange) {
			fmt.Printf("%s: %s -> %s\n", e.Breaker, e.From, e.To)
		},
	))
	fmt.Println("active:", bus.Active())

	// Publishers check Active before building an event.
	if bus.Active() {
		bus.Publish(ctx, StateChange{Breaker: "db", From: "closed", To: "open"})
	}

	unsubscribe()
	unsubscribe() // idempotent
	fmt.Println("active:", bus.Active())
	bus.Publish(ctx, StateChange{Breaker: "db", From: "open", To: "half_open"}) // nobody listens

	// Output:
	// active: false
	// active: true
	// db: closed -> open
	// active: false
}

func ExampleSync_Panics() {
	bus := events.NewSync[string]()
	bus.Subscribe(events.HandlerFunc[string](func(context.Context, string) {
		panic("broken subscriber")
	}))
	bus.Subscribe(events.HandlerFunc[string](func(_ context.Context, e string) {
		fmt.Println("still delivered:", e)
	}))

	bus.Publish(context.Background(), "hello") // does not panic
	fmt.Println("panics:", bus.Panics())

	// Output:
	// still delivered: hello
	// panics: 1
}

func ExampleNewAsync() {
	bus := events.NewAsync[StateChange](16)
	bus.Subscribe(events.HandlerFunc[StateChange](
		func(_ context.Context, e StateChange) {
			// Runs on the bus's own goroutine, one event at a time.
			fmt.Printf("%s: %s -> %s\n", e.Breaker, e.From, e.To)
		},
	))

	ctx := context.Background()
	bus.Publish(ctx, StateChange{Breaker: "api", From: "closed", To: "open"})
	bus.Publish(ctx, StateChange{Breaker: "api", From: "open", To: "half_open"})
	bus.Publish(ctx, StateChange{Breaker: "api", From: "half_open", To: "closed"})

	// Close delivers what is queued, then stops the goroutine.
	if err := bus.Close(); err != nil {
		fmt.Println(err)
	}
	bus.Publish(ctx, StateChange{Breaker: "api", From: "closed", To: "open"}) // too late
	fmt.Println("dropped:", bus.Dropped())

	// Output:
	// api: closed -> open
	// api: open -> half_open
	// api: half_open -> closed
	// dropped: 1
}

func ExampleHandlerFunc() {
	var h events.Handler[int] = events.HandlerFunc[int](func(_ context.Context, n int) {
		fmt.Println("got", n)
	})
	h.Handle(context.Background(), 7)

	// Output:
	// got 7
}
