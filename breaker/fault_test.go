package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"math"
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

// Fault injection: a subscriber that panics or blocks, a clock that jumps
// backwards, a protected function that hangs, and bad input.

// panicCounter is implemented by both event buses.
type panicCounter interface{ Panics() uint64 }

// TestFaultPanickingSubscriber: a subscriber that panics on every event, on
// the synchronous and the asynchronous bus, changes no call's result and no
// state; the bus counts each panic, and a subscriber after it still sees
// every event.
func TestFaultPanickingSubscriber(t *testing.T) {
	for _, async := range []bool{false, true} {
		t.Run(fmt.Sprintf("async=%v", async), func(t *testing.T) {
			var bus events.Bus[breaker.Event] = events.NewSync[breaker.Event]()
			var abus *events.Async[breaker.Event]
			if async {
				abus = events.NewAsync[breaker.Event](1024)
				t.Cleanup(func() { _ = abus.Close() })
				bus = abus
			}
			clock := breakertest.NewClock(t0)
			b, err := breaker.New("panicky", breaker.WithClock(clock), breaker.WithEventBus(bus),
				breaker.WithFailureThreshold(2), breaker.WithRecoveryTimeout(time.Second), breaker.WithHalfOpenMaxCalls(1))
			require.NoError(t, err)
			bus.Subscribe(eventsFunc(func(context.Context, breaker.Event) { panic("subscriber bug") }))
			var seen atomic.Uint64
			bus.Subscribe(eventsFunc(func(context.Context, breaker.Event) { seen.Add(1) }))

			require.NoError(t, b.Execute(context.Background(), succeed))       // 1 event
			require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom) // 1
			require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom) // 2: call, closed->open
			require.Equal(t, breaker.Open, b.State())
			require.ErrorIs(t, b.Execute(context.Background(), succeed), breaker.ErrOpen) // 1
			clock.Advance(time.Second)
			require.NoError(t, b.Execute(context.Background(), succeed)) // 3: open->half_open, call, half_open->closed
			require.Equal(t, breaker.Closed, b.State())
			func() {
				defer func() { assert.Equal(t, "fn", recover(), "the function's own panic still comes back") }()
				_ = b.Execute(context.Background(), func(context.Context) error { panic("fn") }) // 1
			}()
			const published = 9
			if abus != nil {
				require.NoError(t, abus.Close())
				assert.Zero(t, abus.Dropped())
			}
			s := b.Stats()
			assert.Equal(t, uint64(6), s.TotalCalls)
			assert.Equal(t, uint64(2), s.TotalSuccesses)
			assert.Equal(t, uint64(3), s.TotalFailures)
			assert.Equal(t, uint64(1), s.TotalRejected)
			assert.Equal(t, uint64(published), bus.(panicCounter).Panics(), "every panic is counted")
			assert.Equal(t, uint64(published), seen.Load(), "the next subscriber still sees every event")
		})
	}
}

// TestFaultBlockedAsyncSubscriber: a subscriber that never returns, on an
// asynchronous bus given with WithEventBus, blocks no call: 16 goroutines
// complete their calls (and the state machine still opens and recovers)
// while the bus's worker is stuck, and every event that did not fit in the
// queue is counted as dropped, exactly.
func TestFaultBlockedAsyncSubscriber(t *testing.T) {
	const capacity = 4
	bus := events.NewAsync[breaker.Event](capacity)
	t.Cleanup(func() { _ = bus.Close() })
	clock := breakertest.NewClock(t0)
	b, err := breaker.New("blocked", breaker.WithClock(clock), breaker.WithEventBus(bus), breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Second))
	require.NoError(t, err)
	entered, unblock := make(chan struct{}), make(chan struct{})
	var delivered atomic.Uint64
	var once sync.Once
	bus.Subscribe(eventsFunc(func(context.Context, breaker.Event) {
		delivered.Add(1)
		once.Do(func() { close(entered) })
		<-unblock
	}))
	t.Cleanup(func() {
		select {
		case <-unblock:
		default:
			close(unblock)
		}
	})

	require.NoError(t, b.Execute(context.Background(), succeed)) // event 1: the worker takes it and blocks
	<-entered

	done := make(chan struct{})
	var calls atomic.Uint64
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 100 {
					_ = b.Execute(context.Background(), succeed)
					calls.Add(1)
				}
			}()
		}
		wg.Wait()
	}()
	watchdog(t, done, 30*time.Second, "calls while the subscriber blocks")
	require.Equal(t, uint64(1600), calls.Load())
	// Sequentially now: a failure opens it, a rejection, then three trials
	// (the first makes it half-open, the last closes it).
	require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
	require.ErrorIs(t, b.Execute(context.Background(), succeed), breaker.ErrOpen)
	clock.Advance(time.Second)
	for range 3 {
		require.NoError(t, b.Execute(context.Background(), succeed))
	}
	require.Equal(t, breaker.Closed, b.State())
	s := b.Stats()
	require.Equal(t, uint64(1606), s.TotalCalls)
	published := s.TotalCalls + 3 // one event per call, and three state changes
	assert.Equal(t, published-1-capacity, bus.Dropped(), "all but the event being handled and the queue's capacity are dropped")

	close(unblock)
	require.NoError(t, bus.Close())
	assert.Equal(t, published, delivered.Load()+bus.Dropped(), "every event is delivered or counted as dropped")
}

// TestFaultClockJumpsBackwards: a clock that goes back causes no panic, no
// negative duration and no stuck state.
func TestFaultClockJumpsBackwards(t *testing.T) {
	t.Run("back past the opening re-anchors the recovery timeout", func(t *testing.T) {
		b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Minute))
		clock.Advance(time.Hour)
		require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
		clock.Advance(-24 * time.Hour) // far before the opening: without re-anchoring it would stay open a day
		noticed := clock.Now()
		err := b.Execute(context.Background(), succeed)
		var oe *breaker.OpenError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, time.Minute, oe.RetryAfter(), "a full timeout from the moment the jump was noticed")
		clock.Advance(time.Minute - time.Nanosecond)
		assert.Equal(t, breaker.Open, b.State())
		clock.Advance(time.Nanosecond)
		assert.Equal(t, breaker.HalfOpen, b.State(), "not stuck: half-open a timeout after the jump was noticed")
		assert.Equal(t, noticed.Add(time.Minute), b.Stats().LastStateChange)
	})
	t.Run("back but not past the opening keeps the deadline", func(t *testing.T) {
		b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Minute))
		require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
		clock.Advance(30 * time.Second)
		clock.Advance(-10 * time.Second)
		assert.Equal(t, breaker.Open, b.State())
		clock.Advance(40 * time.Second)
		assert.Equal(t, breaker.HalfOpen, b.State())
	})
	t.Run("durations are never negative", func(t *testing.T) {
		b, clock := newClocked(t, breaker.WithFailureThreshold(1))
		rec := record(b.Events())
		require.NoError(t, b.Execute(context.Background(), func(context.Context) error { clock.Advance(-time.Hour); return nil }))
		require.ErrorIs(t, b.Execute(context.Background(), func(context.Context) error { clock.Advance(-time.Hour); return errBoom }), errBoom)
		evs := rec.all()
		require.Len(t, evs, 3)
		assert.Zero(t, evs[0].Duration)
		assert.Zero(t, evs[1].Duration)
		assert.Equal(t, t0.Add(-2*time.Hour), evs[2].Time, "the change is stamped with the breaker's clock, before its base")
		assert.Equal(t, t0.Add(-2*time.Hour), b.Stats().LastFailureTime)
	})
	t.Run("a clock wandering both ways under concurrency", func(t *testing.T) {
		const timeout = time.Second
		b, clock := newClocked(t, breaker.WithFailureThreshold(2), breaker.WithRecoveryTimeout(timeout), breaker.WithHalfOpenMaxCalls(2))
		var mu sync.Mutex
		var changes []breaker.Event
		var negative atomic.Int64
		b.Events().Subscribe(eventsFunc(func(_ context.Context, e breaker.Event) {
			if e.Duration < 0 {
				negative.Add(1)
			}
			if e.Kind == breaker.EventStateChange {
				mu.Lock()
				changes = append(changes, e)
				mu.Unlock()
			}
		}))
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 1000 {
					_ = b.Execute(context.Background(), func(context.Context) error {
						if (i*7+w)%5 < 2 {
							return errBoom
						}
						return nil
					})
					switch (i + w) % 40 {
					case 0:
						clock.Advance(-3 * timeout)
					case 5, 15, 25:
						clock.Advance(2 * timeout)
					}
					_ = b.State()
				}
			}()
		}
		wg.Wait()
		assert.Zero(t, negative.Load(), "no event has a negative duration")
		mu.Lock()
		prev := breaker.Closed
		for i, e := range changes {
			require.Equal(t, prev, e.From, "change %d", i)
			require.Contains(t, legalChange[e.Reason], [2]breaker.State{e.From, e.To})
			prev = e.To
		}
		mu.Unlock()
		// Not stuck: from whatever state, a timeout later it admits a call.
		clock.Advance(timeout)
		_ = b.State()
		clock.Advance(timeout)
		require.NoError(t, b.Execute(context.Background(), succeed), "state %s", b.State())
	})
}

// TestFaultRecoveryTimeoutNearMaxDoesNotWrap: a valid, very long recovery
// timeout (math.MaxInt64 as "never probe") keeps the breaker open, even
// when the deadline is past what the breaker's clock can represent; it
// used to wrap negative and make the breaker half-open at once.
func TestFaultRecoveryTimeoutNearMaxDoesNotWrap(t *testing.T) {
	for _, timeout := range []time.Duration{math.MaxInt64, math.MaxInt64 - 20, 200 * 365 * 24 * time.Hour} {
		b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(timeout))
		clock.Advance(100 * 365 * 24 * time.Hour)
		require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
		assert.Equal(t, breaker.Open, b.State(), "timeout %v", timeout)
		err := b.Execute(context.Background(), succeed)
		require.ErrorIs(t, err, breaker.ErrOpen, "timeout %v", timeout)
		var oe *breaker.OpenError
		require.ErrorAs(t, err, &oe)
		assert.Positive(t, oe.RetryAfter())
	}
}

// hung is a protected function that blocks until released, and records
// whether it has returned.
type hung struct {
	entered, release chan struct{}
	returned         atomic.Bool
}

func newHung() *hung { return &hung{entered: make(chan struct{}), release: make(chan struct{})} }

func (h *hung) fn(result error) func(context.Context) error {
	return func(context.Context) error {
		close(h.entered)
		<-h.release
		h.returned.Store(true)
		return result
	}
}

// TestFaultHangingFunction: while one goroutine's function hangs inside
// Execute (admitted while closed, or as a half-open trial), other
// goroutines' Execute, State, Stats, Reset and ForceOpen all complete: no
// lock is held while a protected function runs. The hanging Execute
// returns only after its function returns, even when its context is
// cancelled meanwhile: the breaker never abandons a goroutine.
func TestFaultHangingFunction(t *testing.T) {
	for _, halfOpen := range []bool{false, true} {
		t.Run(fmt.Sprintf("half-open=%v", halfOpen), func(t *testing.T) {
			b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Second), breaker.WithHalfOpenMaxCalls(2))
			if halfOpen {
				openThenHalfOpen(t, b, clock, time.Second)
			}
			h := newHung()
			ctx, cancel := context.WithCancel(context.Background())
			execDone := make(chan error, 1)
			var returnedFirst atomic.Bool
			go func() {
				err := b.Execute(ctx, h.fn(errBoom))
				returnedFirst.Store(h.returned.Load())
				execDone <- err
			}()
			<-h.entered
			cancel() // the caller gives up; the breaker must still wait for fn

			others := make(chan struct{})
			go func() {
				defer close(others)
				var wg sync.WaitGroup
				for w := range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range 200 {
							_ = b.Execute(context.Background(), func(context.Context) error {
								if (i+w)%4 == 0 {
									return errBoom
								}
								return nil
							})
							_ = b.State()
							_ = b.Stats()
							switch i % 50 {
							case 10:
								b.ForceOpen()
							case 20:
								b.Reset()
							case 30:
								clock.Advance(time.Second)
							}
						}
					}()
				}
				wg.Wait()
			}()
			watchdog(t, others, 30*time.Second, "callers while a function hangs")
			b.Reset()
			require.NoError(t, b.Execute(context.Background(), succeed), "new calls run while the old one hangs")

			select {
			case err := <-execDone:
				t.Fatalf("Execute returned %v while its function was still running", err)
			default:
			}
			before := b.Stats()
			close(h.release)
			require.ErrorIs(t, <-execDone, errBoom, "the hanging call returns fn's error once fn returns")
			assert.True(t, returnedFirst.Load(), "Execute returned only after fn returned")
			after := b.Stats()
			assert.Equal(t, before.TotalCalls+1, after.TotalCalls, "the hung call counts when it returns")
			assert.Equal(t, before.TotalIgnored+1, after.TotalIgnored, "its caller had cancelled: ignored")
			assert.Equal(t, breaker.Closed, after.State, "a stale result does not move the new period")
		})
	}
}

// TestFaultInvalidConfigMore extends TestInvalidConfig with the boundaries
// and paths it does not cover.
//
// maxThreshold is the largest valid threshold, 2^32-1: a variable, for the
// constant does not fit an int on 32-bit targets (there the test cases
// that use it are not meaningful, but it builds). Each is an error naming the field and
// wrapping ErrInvalidConfig, never a panic.
var maxThreshold = uint64(math.MaxUint32)

func TestFaultInvalidConfigMore(t *testing.T) {
	tests := []struct {
		name  string
		field string
		opts  []breaker.Option
	}{
		{"threshold just past the largest", "failure_threshold", []breaker.Option{breaker.WithFailureThreshold(int(maxThreshold + 1))}},
		{"threshold MinInt", "failure_threshold", []breaker.Option{breaker.WithFailureThreshold(math.MinInt)}},
		{"timeout MinInt64", "recovery_timeout", []breaker.Option{breaker.WithRecoveryTimeout(math.MinInt64)}},
		{"half-open negative", "half_open_max_calls", []breaker.Option{breaker.WithHalfOpenMaxCalls(-1)}},
		{"half-open MaxInt", "half_open_max_calls", []breaker.Option{breaker.WithHalfOpenMaxCalls(math.MaxInt)}},
		{"max breakers negative", "max_breakers", []breaker.Option{breaker.WithMaxBreakers(-1)}},
		{"the last option for a setting wins", "failure_threshold", []breaker.Option{breaker.WithFailureThreshold(3), breaker.WithFailureThreshold(0)}},
		{"the first bad field is named", "failure_threshold", []breaker.Option{breaker.WithHalfOpenMaxCalls(0), breaker.WithFailureThreshold(0)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := breaker.New("x", tc.opts...)
			require.ErrorIs(t, err, breaker.ErrInvalidConfig)
			var ce *breaker.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.field, ce.Field)
			assert.Contains(t, err.Error(), tc.field)

			// As registry defaults, reported by Get.
			_, err = breaker.NewRegistry(tc.opts...).Get("x")
			require.ErrorIs(t, err, breaker.ErrInvalidConfig)
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.field, ce.Field)
		})
	}
	// Largest valid values construct; a nil option is skipped.
	_, err := breaker.New("x", breaker.WithFailureThreshold(int(min(maxThreshold, math.MaxInt))), breaker.WithRecoveryTimeout(math.MaxInt64), nil)
	require.NoError(t, err)
	_, err = breaker.NewRegistry(nil, breaker.WithMaxBreakers(1)).Get("x", nil)
	require.NoError(t, err)
	// A bad option given to Get for an existing name is not checked: the
	// existing breaker is returned unchanged.
	reg := breaker.NewRegistry()
	first, err := reg.Get("x")
	require.NoError(t, err)
	again, err := reg.Get("x", breaker.WithFailureThreshold(0))
	require.NoError(t, err)
	assert.Same(t, first, again)
}

// TestFaultRegistryDefaultLimit: a registry without WithMaxBreakers holds
// exactly 10,000 breakers: the 10,000th is created, the 10,001st is
// refused with ErrRegistryFull, and existing names still resolve.
func TestFaultRegistryDefaultLimit(t *testing.T) {
	reg := breaker.NewRegistry()
	for i := range breaker.DefaultMaxBreakers {
		_, err := reg.Get(fmt.Sprintf("b%05d", i))
		require.NoError(t, err, "breaker %d", i+1)
	}
	require.Equal(t, 10_000, reg.Len())
	_, err := reg.Get("one-too-many")
	require.ErrorIs(t, err, breaker.ErrRegistryFull)
	assert.NotErrorIs(t, err, breaker.ErrInvalidConfig)
	_, err = reg.Get("b09999")
	require.NoError(t, err, "existing names still resolve when full")
	_, err = reg.Get("")
	require.ErrorIs(t, err, breaker.ErrInvalidConfig, "a bad name is a config error even when full")
	assert.Len(t, reg.All(), 10_000)
}

// TestFaultRegistryConcurrentCreationAtTheLimit: goroutines creating
// distinct names at once never push a registry past its limit, the default
// one included: exactly limit creations succeed, every other one is
// ErrRegistryFull, and the registry holds exactly the breakers that were
// handed out.
func TestFaultRegistryConcurrentCreationAtTheLimit(t *testing.T) {
	for _, limit := range []int{1, 100, breaker.DefaultMaxBreakers} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			var opts []breaker.Option
			if limit != breaker.DefaultMaxBreakers {
				opts = append(opts, breaker.WithMaxBreakers(limit))
			}
			reg := breaker.NewRegistry(opts...)
			const goroutines = 16
			perG := limit/goroutines + 50
			var ok, full atomic.Int64
			var mu sync.Mutex
			handed := map[string]*breaker.Breaker{}
			start := make(chan struct{})
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					for i := range perG {
						name := fmt.Sprintf("g%02d-%05d", g, i)
						b, err := reg.Get(name)
						switch {
						case err == nil:
							ok.Add(1)
							mu.Lock()
							handed[name] = b
							mu.Unlock()
						case errors.Is(err, breaker.ErrRegistryFull):
							full.Add(1)
						default:
							t.Errorf("Get(%q): %v", name, err)
						}
					}
				}()
			}
			close(start)
			wg.Wait()
			require.Equal(t, int64(limit), ok.Load(), "exactly the limit is created")
			assert.Equal(t, int64(goroutines*perG-limit), full.Load())
			assert.Equal(t, limit, reg.Len())
			all := reg.All()
			require.Len(t, all, limit)
			for _, b := range all {
				assert.Same(t, handed[b.Name()], b)
			}
		})
	}
}
