package events_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/fusebox-go/fusebox/events"
)

var _ events.Bus[int] = (*events.Async[int])(nil)

// blocker is a handler that holds the worker on the first event it gets
// until release is closed. entered is closed once the worker holds it.
type blocker struct {
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func newBlocker() *blocker {
	return &blocker{entered: make(chan struct{}), release: make(chan struct{})}
}

func (b *blocker) Handle(context.Context, int) {
	b.once.Do(func() {
		close(b.entered)
		<-b.release
	})
}

// holdWorker subscribes a blocker to bus, publishes one event (-1) and
// returns once the worker is stuck delivering it, so that the queue is
// empty and nothing more leaves it until the blocker is released.
func holdWorker(t *testing.T, bus *events.Async[int]) *blocker {
	t.Helper()
	b := newBlocker()
	bus.Subscribe(b)
	bus.Publish(t.Context(), -1)
	<-b.entered
	return b
}

func TestAsyncDropsWhenFull(t *testing.T) {
	bus := events.NewAsync[int](2)
	defer bus.Close()
	gate := holdWorker(t, bus)
	var rec recorder
	bus.Subscribe(rec.handler("a"))

	for i := range 5 {
		bus.Publish(t.Context(), i)
	}
	assert.Equal(t, uint64(3), bus.Dropped(), "two fit in the queue")

	close(gate.release)
	require.NoError(t, bus.Close())
	assert.Equal(t, []int{0, 1}, rec.events())
	assert.Equal(t, uint64(3), bus.Dropped())
}

func TestAsyncCapacity(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		want     int
	}{
		{name: "one", capacity: 1, want: 1},
		{name: "three", capacity: 3, want: 3},
		{name: "zero means default", capacity: 0, want: events.DefaultAsyncCapacity},
		{name: "negative means default", capacity: -5, want: events.DefaultAsyncCapacity},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bus := events.NewAsync[int](tc.capacity)
			defer bus.Close()
			gate := holdWorker(t, bus)
			defer close(gate.release)

			const extra = 7
			for i := range tc.want + extra {
				bus.Publish(t.Context(), i)
			}
			assert.Equal(t, uint64(extra), bus.Dropped())
		})
	}
}

func TestAsyncCloseDeliversQueuedThenStopsAccepting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := events.NewAsync[int](4)
		gate := holdWorker(t, bus)
		var rec recorder
		bus.Subscribe(rec.handler("a"))
		for i := range 4 {
			bus.Publish(t.Context(), i)
		}
		require.Zero(t, bus.Dropped())

		closed := make(chan struct{})
		go func() {
			assert.NoError(t, bus.Close())
			close(closed)
		}()
		synctest.Wait()
		select {
		case <-closed:
			require.FailNow(t, "Close returned while events were queued")
		default:
		}

		bus.Publish(t.Context(), 99) // Close has started: dropped
		assert.Equal(t, uint64(1), bus.Dropped())

		close(gate.release)
		<-closed
		assert.Equal(t, []int{0, 1, 2, 3}, rec.events())
		assert.Equal(t, uint64(1), bus.Dropped())
	})
}

func TestAsyncPublishAfterCloseIsDropped(t *testing.T) {
	bus := events.NewAsync[int](8)
	var rec recorder
	bus.Subscribe(rec.handler("a"))
	bus.Publish(t.Context(), 1)
	require.NoError(t, bus.Close())

	for i := range 3 {
		bus.Publish(t.Context(), i)
	}

	assert.Equal(t, []int{1}, rec.events())
	assert.Equal(t, uint64(3), bus.Dropped())
}

func TestAsyncCloseIsIdempotent(t *testing.T) {
	bus := events.NewAsync[int](8)
	var rec recorder
	bus.Subscribe(rec.handler("a"))
	bus.Publish(t.Context(), 1)
	bus.Publish(t.Context(), 2)

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			assert.NoError(t, bus.Close())
			// Every Close waits for the drain, not just the first.
			assert.Equal(t, []int{1, 2}, rec.events())
		})
	}
	wg.Wait()
	assert.NoError(t, bus.Close())
	assert.Zero(t, bus.Dropped())
}

func TestAsyncCloseStopsWorker(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	bus := events.NewAsync[int](8)
	bus.Subscribe(events.HandlerFunc[int](func(context.Context, int) {}))
	bus.Publish(t.Context(), 1)
	require.NoError(t, bus.Close())
}

// TestAsyncConcurrentPublishAndCloseLoseNothing checks that every event
// handed to Publish while Close runs is either delivered or counted as
// dropped.
func TestAsyncConcurrentPublishAndCloseLoseNothing(t *testing.T) {
	const rounds, publishers, perPublisher = 50, 4, 500
	for round := range rounds {
		bus := events.NewAsync[int](16) // small: drops come from both a full queue and Close
		var delivered atomic.Uint64
		bus.Subscribe(events.HandlerFunc[int](func(context.Context, int) { delivered.Add(1) }))

		halfway := make(chan struct{})
		var wg sync.WaitGroup
		for p := range publishers {
			wg.Go(func() {
				for i := range perPublisher {
					if p == 0 && i == perPublisher/2 {
						close(halfway)
					}
					bus.Publish(t.Context(), i)
				}
			})
		}
		wg.Go(func() {
			<-halfway
			assert.NoError(t, bus.Close())
		})
		wg.Wait()
		require.NoError(t, bus.Close())

		require.Equal(t, uint64(publishers*perPublisher), delivered.Load()+bus.Dropped(),
			"round %d: delivered %d, dropped %d", round, delivered.Load(), bus.Dropped())
	}
}

func TestAsyncPassesCancelledContext(t *testing.T) {
	bus := events.NewAsync[int](8)
	defer bus.Close()
	gate := holdWorker(t, bus)
	var gotErr error
	bus.Subscribe(events.HandlerFunc[int](func(ctx context.Context, e int) {
		if e == 1 {
			gotErr = ctx.Err()
		}
	}))

	ctx, cancel := context.WithCancel(t.Context())
	bus.Publish(ctx, 1)
	cancel() // before the worker gets to the event
	close(gate.release)
	require.NoError(t, bus.Close())

	assert.ErrorIs(t, gotErr, context.Canceled)
}

func TestAsyncUnsubscribeSkipsQueuedEvents(t *testing.T) {
	bus := events.NewAsync[int](8)
	defer bus.Close()
	gate := newBlocker()
	bus.Subscribe(gate)
	var rec recorder
	unsubscribe := bus.Subscribe(rec.handler("a"))

	bus.Publish(t.Context(), 0)
	<-gate.entered // the worker is delivering 0 to the list [gate, a]
	bus.Publish(t.Context(), 1)
	bus.Publish(t.Context(), 2)
	unsubscribe()
	close(gate.release)
	require.NoError(t, bus.Close())

	// The delivery under way still reaches a; the queued events do not.
	assert.Equal(t, []int{0}, rec.events())
	assert.Zero(t, bus.Dropped())
}

func TestAsyncHandlerMayPublishOnItsOwnBus(t *testing.T) {
	bus := events.NewAsync[int](8)
	defer bus.Close()
	var rec recorder
	record := rec.handler("a")
	done := make(chan struct{})
	bus.Subscribe(events.HandlerFunc[int](func(ctx context.Context, e int) {
		record.Handle(ctx, e)
		if e < 3 {
			bus.Publish(ctx, e+1)
		} else {
			close(done)
		}
	}))

	bus.Publish(t.Context(), 0)
	<-done
	require.NoError(t, bus.Close())
	assert.Equal(t, []int{0, 1, 2, 3}, rec.events())
}

func TestAsyncZeroValue(t *testing.T) {
	var bus events.Async[int]
	var rec recorder
	bus.Subscribe(rec.handler("a"))
	require.True(t, bus.Active())

	bus.Publish(t.Context(), 1)

	assert.Equal(t, uint64(1), bus.Dropped(), "no worker: dropped")
	assert.NoError(t, bus.Close())
	assert.Empty(t, rec.events())
}

// A handler that called runtime.Goexit (t.FailNow in a test's subscriber)
// used to end the worker silently: later events were neither delivered nor
// counted as dropped. A new worker now takes over.
func TestAsyncSurvivesGoexitInAHandler(t *testing.T) {
	bus := events.NewAsync[int](16)
	var mu sync.Mutex
	var got []int
	bus.Subscribe(events.HandlerFunc[int](func(_ context.Context, e int) {
		if e%2 == 1 {
			runtime.Goexit()
		}
	}))
	bus.Subscribe(events.HandlerFunc[int](func(_ context.Context, e int) {
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	}))
	for i := range 6 {
		bus.Publish(context.Background(), i)
	}
	require.NoError(t, bus.Close())
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5}, got, "every event reached the other subscriber, in order")
	assert.Equal(t, uint64(3), bus.Panics(), "each Goexit is counted")
	assert.Zero(t, bus.Dropped())
}
