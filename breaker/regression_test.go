package breaker_test

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/events"
)

// halfOpen returns a breaker on a manual clock that has just become
// half-open, admitting one trial, and then reconfigured with opts.
func halfOpen(t *testing.T, opts ...breaker.Option) (*breaker.Breaker, *breakertest.Clock) {
	t.Helper()
	b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Second), breaker.WithHalfOpenMaxCalls(1))
	require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
	clock.Advance(time.Second)
	require.Equal(t, breaker.HalfOpen, b.State())
	require.NoError(t, b.Reconfigure(opts...))
	return b, clock
}

// A failure predicate that panics used to leave a half-open trial
// unrecorded: its slot stayed taken and the breaker rejected everything
// until Reset. The call is now recorded (as a failure) and the predicate's
// panic re-raised.
func TestPanickingPredicateDoesNotWedgeHalfOpen(t *testing.T) {
	predicate := breaker.WithFailurePredicate(func(error) bool { panic("predicate bug") })
	t.Run("Execute", func(t *testing.T) {
		b, clock := halfOpen(t, predicate)
		assert.PanicsWithValue(t, "predicate bug", func() { _ = b.Execute(context.Background(), fail) })
		s := b.Stats()
		assert.Equal(t, breaker.Open, s.State, "the failed trial reopened the breaker")
		assert.Equal(t, uint64(2), s.TotalFailures)
		assert.Equal(t, s.TotalCalls, s.TotalSuccesses+s.TotalFailures+s.TotalRejected+s.TotalIgnored)
		clock.Advance(time.Second)
		require.NoError(t, b.Execute(context.Background(), succeed), "a new trial is admitted")
		assert.Equal(t, breaker.Closed, b.State())
	})
	t.Run("Permit", func(t *testing.T) {
		b, _ := halfOpen(t, predicate)
		p, err := b.Allow(context.Background())
		require.NoError(t, err)
		assert.PanicsWithValue(t, "predicate bug", func() { p.Done(errBoom) })
		assert.NotPanics(t, func() { p.Done(errBoom) }, "Done again does nothing")
		assert.Equal(t, breaker.Open, b.State())
		assert.Equal(t, uint64(2), b.Stats().TotalCalls)
	})
	t.Run("Goexit in the predicate", func(t *testing.T) {
		b, _ := halfOpen(t, breaker.WithFailurePredicate(func(error) bool { runtime.Goexit(); return true }))
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = b.Execute(context.Background(), fail)
		}()
		<-done
		s := b.Stats()
		assert.Equal(t, uint64(1), s.TotalIgnored, "recorded as ignored")
		assert.Equal(t, breaker.HalfOpen, s.State)
		require.NoError(t, b.Execute(context.Background(), succeed), "the slot was released")
	})
}

// A nil context is treated as context.Background(): it used to panic in
// the classification of an error after fn returned, wedging a half-open
// breaker like a panicking predicate.
func TestNilContextIsBackground(t *testing.T) {
	b, _ := halfOpen(t)
	var got context.Context
	//nolint:staticcheck // the nil context is the point of the test
	err := b.Execute(nil, func(ctx context.Context) error { got = ctx; return errBoom })
	require.ErrorIs(t, err, errBoom)
	require.NotNil(t, got, "fn receives a usable context")
	assert.Equal(t, breaker.Open, b.State(), "the trial's failure was recorded")

	//nolint:staticcheck // as above
	p, err := b.Allow(nil)
	require.ErrorIs(t, err, breaker.ErrOpen)
	p.Done(errBoom)
	//nolint:staticcheck // as above
	_, err = breaker.Do(nil, b, func(context.Context) (int, error) { return 1, nil })
	require.ErrorIs(t, err, breaker.ErrOpen)
}

// gateClock is a manual clock that can hold one reader: the next Now after
// arm blocks until release, so a test can stop a goroutine at a known
// point.
type gateClock struct {
	*breakertest.Clock
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func newGateClock() *gateClock {
	return &gateClock{Clock: breakertest.NewClock(t0), entered: make(chan struct{}), release: make(chan struct{})}
}

func (c *gateClock) arm() { c.armed.Store(true) }

func (c *gateClock) Now() time.Time {
	if c.armed.CompareAndSwap(true, false) {
		c.entered <- struct{}{}
		<-c.release
	}
	return c.Clock.Now()
}

// waitForGoroutine waits until some goroutine's stack holds every one of
// frames (yielding between looks), and fails the test if none does.
func waitForGoroutine(t *testing.T, frames ...string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for range 100_000 {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			found := true
			for _, f := range frames {
				found = found && strings.Contains(g, f)
			}
			if found {
				return
			}
		}
		runtime.Gosched()
	}
	t.Fatalf("no goroutine reached %v", frames)
}

// A failure that read the count just below the threshold used to open the
// breaker even when a success cleared the count before the failure got to
// the transition: the rule "N consecutive failures" broke under races.
// Here the failure is held on the transition lock (a Reconfigure holds it
// while its clock read blocks) while a success runs to completion: after
// that success the count is zero, so the failure is the first of a new run.
func TestConsecutiveFailuresExactWhenASuccessRaces(t *testing.T) {
	clock := newGateClock()
	b, err := breaker.New("race", breaker.WithClock(clock),
		breaker.WithTripPolicy(breaker.ConsecutiveFailures(2), breaker.FailureRate(1, 1000, breaker.LastCalls(1000))))
	require.NoError(t, err)
	require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)

	clock.arm()
	reconfigured := make(chan error)
	go func() { reconfigured <- b.Reconfigure(breaker.WithRecoveryTimeout(time.Minute)) }()
	<-clock.entered // Reconfigure holds the transition lock, blocked on the clock

	failed := make(chan error)
	go func() { failed <- b.Execute(context.Background(), fail) }()
	waitForGoroutine(t, "countFailure", "sync.(*Mutex).Lock")

	require.NoError(t, b.Execute(context.Background(), succeed))
	s := b.Stats()
	require.Equal(t, breaker.Closed, s.State)
	require.Zero(t, s.FailureCount, "the success ended the run of failures")

	close(clock.release)
	require.NoError(t, <-reconfigured)
	require.ErrorIs(t, <-failed, errBoom)
	s = b.Stats()
	assert.Equal(t, breaker.Closed, s.State, "one failure after a success does not reach a threshold of 2")
	assert.Equal(t, 1, s.FailureCount)
}

// ForceOpen on an open breaker used to publish an open->open change, a
// series the cardinality sizing did not count. It now holds the breaker
// silently; Stats tells that it is forced.
func TestForceOpenOnOpenPublishesNoChange(t *testing.T) {
	b, _ := newClocked(t, breaker.WithFailureThreshold(1))
	rec := record(b.Events())
	require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
	b.ForceOpen()
	assert.Equal(t, []string{"closed->open:failure_threshold"}, rec.changes())
	s := b.Stats()
	assert.True(t, s.Forced)
	assert.Equal(t, breaker.Open, s.State)
	b.Reset()
	assert.Equal(t, []string{"closed->open:failure_threshold", "open->closed:reset"}, rec.changes())
}

// A typed nil passed as an interface used to pass validation and panic on
// the first call.
func TestTypedNilClockAndBusAreInvalid(t *testing.T) {
	for _, tc := range []struct {
		field string
		opt   breaker.Option
	}{
		{"clock", breaker.WithClock((*breakertest.Clock)(nil))},
		{"event_bus", breaker.WithEventBus((*events.Sync[breaker.Event])(nil))},
		{"event_bus", breaker.WithEventBus((*events.Async[breaker.Event])(nil))},
	} {
		_, err := breaker.New("x", tc.opt)
		require.ErrorIs(t, err, breaker.ErrInvalidConfig)
		var ce *breaker.ConfigError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, tc.field, ce.Field)
		_, err = breaker.NewRegistry(tc.opt).Get("x")
		require.ErrorIs(t, err, breaker.ErrInvalidConfig, "through a registry too")
	}
	_, err := breaker.New("x", breaker.WithEventBus(nil))
	require.NoError(t, err, "an untyped nil still turns events off")
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

// Peek reports a due transition without making it, so that a metrics
// collection never runs subscribers (the OTel SDK holds its own lock
// around collection callbacks). State, Stats and calls make it as before.
func TestPeekNeverPublishes(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Second))
	rec := record(b.Events())
	require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
	clock.Advance(1500 * time.Millisecond)
	s := b.Peek()
	assert.Equal(t, breaker.HalfOpen, s.State, "reported as the next call will find it")
	assert.Equal(t, t0.Add(time.Second), s.LastStateChange, "since the recovery timeout passed")
	assert.Equal(t, 1, s.FailureCount)
	assert.Equal(t, []string{"closed->open:failure_threshold"}, rec.changes(), "no change published")
	assert.Equal(t, breaker.HalfOpen, b.Stats().State)
	assert.Equal(t, []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout"}, rec.changes())
}
