package events_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/events"
)

var _ events.Bus[int] = (*events.Sync[int])(nil)

func TestSyncDeliversBeforePublishReturns(t *testing.T) {
	bus := events.NewSync[int]()
	var rec recorder
	bus.Subscribe(rec.handler("a"))

	bus.Publish(t.Context(), 1)
	assert.Equal(t, []int{1}, rec.events())
	bus.Publish(t.Context(), 2)
	assert.Equal(t, []int{1, 2}, rec.events())
}

func TestSyncZeroValue(t *testing.T) {
	var bus events.Sync[int]
	require.False(t, bus.Active())
	bus.Publish(t.Context(), 1) // no subscribers: nothing happens

	var rec recorder
	unsubscribe := bus.Subscribe(rec.handler("a"))
	require.True(t, bus.Active())
	bus.Publish(t.Context(), 2)
	unsubscribe()

	assert.Equal(t, []int{2}, rec.events())
	assert.False(t, bus.Active())
}

func TestSyncPublishDoesNotAllocate(t *testing.T) {
	type event struct {
		Name string
		Err  error
		N    int
	}
	for _, subs := range []int{0, 1, 8} {
		bus := events.NewSync[event]()
		for range subs {
			bus.Subscribe(events.HandlerFunc[event](func(context.Context, event) {}))
		}
		ctx := t.Context()
		e := event{Name: "b", N: 1}
		allocs := testing.AllocsPerRun(100, func() {
			if bus.Active() {
				bus.Publish(ctx, e)
			}
		})
		assert.Zero(t, allocs, "%d subscribers", subs)
	}
}

// TestSyncConcurrent hammers one bus with publishers, subscribers and
// unsubscribers at once; it is meant for the race detector.
func TestSyncConcurrent(t *testing.T) {
	bus := events.NewSync[int]()
	var delivered atomic.Uint64
	count := events.HandlerFunc[int](func(context.Context, int) { delivered.Add(1) })
	keep := bus.Subscribe(count) // always subscribed: every event reaches it
	defer keep()

	const publishers, perPublisher = 4, 1000
	var wg sync.WaitGroup
	for range publishers {
		wg.Go(func() {
			for i := range perPublisher {
				bus.Publish(t.Context(), i)
			}
		})
	}
	wg.Go(func() {
		for range perPublisher {
			unsubscribe := bus.Subscribe(events.HandlerFunc[int](func(context.Context, int) {}))
			assert.True(t, bus.Active())
			unsubscribe()
		}
	})
	wg.Wait()

	assert.Equal(t, uint64(publishers*perPublisher), delivered.Load())
	assert.Zero(t, bus.Panics())
}
