package events_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/events"
)

// benchEvent is shaped like a breaker's per-call event.
type benchEvent struct {
	Breaker  string
	Outcome  uint8
	Err      error
	Duration time.Duration
	Ctx      context.Context
}

// nopHandler does nothing; it measures the bus, not the subscriber.
type nopHandler struct{}

func (nopHandler) Handle(context.Context, benchEvent) {}

var errBench = errors.New("bench")

func BenchmarkSyncPublish(b *testing.B) {
	for _, subs := range []int{0, 1, 8} {
		bus := events.NewSync[benchEvent]()
		for range subs {
			bus.Subscribe(nopHandler{})
		}
		ctx := context.Background()
		e := benchEvent{Breaker: "bench", Outcome: 1, Err: errBench, Duration: time.Millisecond, Ctx: ctx}

		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bus.Publish(ctx, e)
			}
		})
		b.Run(fmt.Sprintf("subs=%d/parallel", subs), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					bus.Publish(ctx, e)
				}
			})
		})
	}
}

func BenchmarkActive(b *testing.B) {
	bus := events.NewSync[benchEvent]()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if bus.Active() {
			n++
		}
	}
	if n != 0 {
		b.Fatal("inactive bus reported active")
	}
}

// BenchmarkAsyncPublish measures the publisher's side only. The worker
// delivers to a no-op subscriber as fast as it can; what it cannot keep up
// with is dropped, reported as drops/op.
func BenchmarkAsyncPublish(b *testing.B) {
	run := func(b *testing.B, parallel bool) {
		bus := events.NewAsync[benchEvent](events.DefaultAsyncCapacity)
		defer bus.Close()
		bus.Subscribe(nopHandler{})
		ctx := context.Background()
		e := benchEvent{Breaker: "bench", Outcome: 1, Duration: time.Millisecond}
		b.ReportAllocs()
		b.ResetTimer()
		if parallel {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					bus.Publish(ctx, e)
				}
			})
		} else {
			for range b.N {
				bus.Publish(ctx, e)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(bus.Dropped())/float64(b.N), "drops/op")
	}
	b.Run("serial", func(b *testing.B) { run(b, false) })
	b.Run("parallel", func(b *testing.B) { run(b, true) })
}
