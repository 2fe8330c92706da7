package breaker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
)

func TestEventsCarryContextOutcomeAndDuration(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(1))
	rec := record(b.Events())
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "caller")

	require.NoError(t, b.Execute(ctx, func(context.Context) error { clock.Advance(250 * time.Millisecond); return nil }))
	require.ErrorIs(t, b.Execute(ctx, func(context.Context) error { clock.Advance(time.Second); return errBoom }), errBoom)
	require.ErrorIs(t, b.Execute(ctx, succeed), breaker.ErrOpen)

	evs := rec.all()
	require.Len(t, evs, 4)
	for i, c := range rec.ctxs {
		assert.Equal(t, "caller", c.Value(key{}), "event %d carries the call's context", i)
	}
	assert.Equal(t, breaker.Event{Kind: breaker.EventCall, Breaker: b, Outcome: breaker.OutcomeSuccess, Duration: 250 * time.Millisecond}, evs[0])
	assert.Equal(t, breaker.Event{Kind: breaker.EventCall, Breaker: b, Outcome: breaker.OutcomeFailure, Err: errBoom, Duration: time.Second}, evs[1])
	assert.Equal(t, breaker.Event{Kind: breaker.EventStateChange, Breaker: b, From: breaker.Closed, To: breaker.Open,
		Reason: breaker.ReasonFailureThreshold, Time: t0.Add(1250 * time.Millisecond), ConsecutiveFailures: 1,
		Cause: errBoom, OpenFor: breaker.DefaultRecoveryTimeout}, evs[2])
	assert.Equal(t, breaker.EventCall, evs[3].Kind)
	assert.Equal(t, breaker.OutcomeRejected, evs[3].Outcome)
	assert.ErrorIs(t, evs[3].Err, breaker.ErrOpen)
}

func TestNoEventsWithoutSubscribersAndWithNilBus(t *testing.T) {
	b, err := breaker.New("quiet", breaker.WithEventBus(nil), breaker.WithFailureThreshold(1))
	require.NoError(t, err)
	assert.Nil(t, b.Events())
	require.Error(t, b.Execute(context.Background(), fail))
	require.ErrorIs(t, b.Execute(context.Background(), succeed), breaker.ErrOpen)
	b.Reset()
	assert.Equal(t, uint64(2), b.Stats().TotalCalls)

	// Subscribing later sees only what happens afterwards.
	b2, _ := newClocked(t, breaker.WithFailureThreshold(1))
	require.Error(t, b2.Execute(context.Background(), fail))
	rec := record(b2.Events())
	require.ErrorIs(t, b2.Execute(context.Background(), succeed), breaker.ErrOpen)
	assert.Len(t, rec.all(), 1)
}

func TestSubscriberMayCallBackIntoTheBreaker(t *testing.T) {
	b, _ := newClocked(t, breaker.WithFailureThreshold(1))
	var seen []breaker.State
	b.Events().Subscribe(eventsFunc(func(_ context.Context, e breaker.Event) {
		seen = append(seen, b.State())
		_ = b.Stats()
		if e.Kind == breaker.EventStateChange && e.To == breaker.Open {
			b.Reset() // must not deadlock
		}
	}))
	require.Error(t, b.Execute(context.Background(), fail))
	assert.Equal(t, breaker.Closed, b.State())
	assert.Equal(t, []breaker.State{breaker.Open, breaker.Open, breaker.Closed}, seen)
}

// A synchronous subscriber that never returned used to keep the breaker
// "draining" for good, so every later state change queued without bound.
// Now the queue is bounded (the oldest dropped and counted), other
// breakers of the registry go on publishing, and once the subscriber
// returns it receives the newest changes in order.
func TestBlockedSubscriberBoundsTheQueueAndSparesOtherBreakers(t *testing.T) {
	reg := breaker.NewRegistry(breaker.WithFailureThreshold(1), breaker.WithClock(breakertest.NewClock(t0)))
	a, err := reg.Get("a")
	require.NoError(t, err)
	other, err := reg.Get("other")
	require.NoError(t, err)
	release := make(chan struct{})
	var mu sync.Mutex
	var seenA []breaker.Event
	otherChanges := 0
	reg.Events().Subscribe(eventsFunc(func(_ context.Context, e breaker.Event) {
		if e.Kind != breaker.EventStateChange {
			return
		}
		mu.Lock()
		if e.Breaker == other {
			otherChanges++
			mu.Unlock()
			return
		}
		seenA = append(seenA, e)
		first := len(seenA) == 1
		mu.Unlock()
		if first {
			<-release // blocks the goroutine that publishes a's first change
		}
	}))
	stuck := make(chan struct{})
	go func() {
		defer close(stuck)
		_ = a.Execute(context.Background(), fail) // opens a, then blocks in the subscriber
	}()
	waitForGoroutine(t, "breaker_test.TestBlockedSubscriber", "chan receive")

	const rounds = 1000
	for range rounds {
		a.Reset()
		a.ForceOpen()
	}
	require.ErrorIs(t, other.Execute(context.Background(), fail), errBoom)
	mu.Lock()
	assert.Equal(t, 1, otherChanges, "another breaker publishes while a's subscriber blocks")
	mu.Unlock()
	s := a.Stats()
	assert.Equal(t, uint64(2*rounds-256), s.DroppedStateChanges, "all but the newest 256 changes are dropped")

	close(release)
	<-stuck
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 1+256, len(seenA), "the first change and the newest 256")
	last := seenA[len(seenA)-1]
	assert.Equal(t, "closed->open:force_open", last.From.String()+"->"+last.To.String()+":"+last.Reason.String(), "the newest change is delivered last")
	assert.Equal(t, breaker.Open, a.State())
}

// A state-change-only subscriber gets every change (with its cause) and
// costs a call nothing: no clock read, no event built.
func TestOnStateChangeCostsCallsNothing(t *testing.T) {
	clock := &countingClock{Clock: breakertest.NewClock(t0)}
	reg := breaker.NewRegistry(breaker.WithClock(clock), breaker.WithFailureThreshold(2))
	var got []breaker.Event
	stop := reg.OnStateChange(func(_ context.Context, e breaker.Event) { got = append(got, e) })
	b, err := reg.Get("db")
	require.NoError(t, err)
	before := clock.reads.Load()
	for range 100 {
		require.NoError(t, b.Execute(context.Background(), succeed))
	}
	assert.Equal(t, before, clock.reads.Load(), "successful calls read no clock")
	trip(b)
	trip(b)
	require.Len(t, got, 1)
	assert.Equal(t, breaker.EventStateChange, got[0].Kind)
	assert.Equal(t, errBoom, got[0].Cause, "the failure that tripped it")
	assert.Equal(t, 2, got[0].ConsecutiveFailures)
	assert.Equal(t, breaker.DefaultRecoveryTimeout, got[0].OpenFor)

	other, err := reg.Get("other")
	require.NoError(t, err)
	var own []breaker.Event
	stopOwn := other.OnStateChange(func(_ context.Context, e breaker.Event) { own = append(own, e) })
	b.Reset()
	other.ForceOpen()
	require.Len(t, own, 1, "a breaker's subscriber sees only its breaker")
	assert.Len(t, got, 3, "the registry's sees every breaker")
	stop()
	stopOwn()
	other.Reset()
	assert.Len(t, got, 3)
	assert.Len(t, own, 1)
}

// A rate policy's trip carries its window.
func TestStateChangeCarriesTheTrippingWindow(t *testing.T) {
	b, _ := newClocked(t, breaker.WithTripPolicy(breaker.FailureRate(0.5, 4, breaker.LastCalls(10))))
	var ev breaker.Event
	b.OnStateChange(func(_ context.Context, e breaker.Event) { ev = e })
	require.NoError(t, b.Execute(context.Background(), succeed))
	require.NoError(t, b.Execute(context.Background(), succeed))
	trip(b)
	trip(b)
	require.Equal(t, breaker.ReasonFailureRate, ev.Reason)
	assert.Equal(t, errBoom, ev.Cause)
	require.NotNil(t, ev.Window)
	assert.Equal(t, breaker.WindowStats{Calls: 4, Count: 2, Ratio: 0.5, Threshold: 0.5, MinCalls: 4}, *ev.Window)
}
