package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
)

// openThenHalfOpen trips b (threshold 1) and moves the clock past the timeout.
func openThenHalfOpen(t *testing.T, b *breaker.Breaker, clock *breakertest.Clock, timeout time.Duration) {
	t.Helper()
	require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
	require.Equal(t, breaker.Open, b.State())
	clock.Advance(timeout)
	require.Equal(t, breaker.HalfOpen, b.State())
}

func TestHalfOpenAdmitsAtMostMaxCalls(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithHalfOpenMaxCalls(3))
	openThenHalfOpen(t, b, clock, breaker.DefaultRecoveryTimeout)

	// Three trials hold their slots; the fourth call is rejected while they run.
	release := make(chan struct{})
	var running sync.WaitGroup
	var done sync.WaitGroup
	for range 3 {
		running.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			assert.NoError(t, b.Execute(context.Background(), func(context.Context) error {
				running.Done()
				<-release
				return nil
			}))
		}()
	}
	running.Wait()
	err := b.Execute(context.Background(), succeed)
	var oe *breaker.OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, breaker.HalfOpen, oe.State())
	assert.Equal(t, "test", oe.Name())
	assert.Zero(t, oe.RetryAfter())
	close(release)
	done.Wait()
	assert.Equal(t, breaker.Closed, b.State())
	s := b.Stats()
	assert.Equal(t, uint64(1), s.TotalRejected)
	assert.Equal(t, uint64(3), s.TotalSuccesses)
}

func TestHalfOpenRacingCallersNeverExceedMax(t *testing.T) {
	for _, max := range []int{1, 2, 5} {
		b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithHalfOpenMaxCalls(max))
		openThenHalfOpen(t, b, clock, breaker.DefaultRecoveryTimeout)

		var inside, peak, admitted atomic.Int32
		release := make(chan struct{})
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_ = b.Execute(context.Background(), func(context.Context) error {
					admitted.Add(1)
					n := inside.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					<-release
					inside.Add(-1)
					return nil
				})
			}()
		}
		close(start)
		// Wait until the admitted trials are inside and the rest rejected.
		for b.Stats().TotalRejected+uint64(admitted.Load()) < 50 {
			runtime.Gosched()
		}
		close(release)
		wg.Wait()
		assert.Equal(t, int32(max), peak.Load(), "max=%d", max)
		assert.Equal(t, int32(max), admitted.Load(), "max=%d", max)
		assert.Equal(t, breaker.Closed, b.State())
	}
}

func TestStaleTrialAfterReset(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithHalfOpenMaxCalls(1))
	openThenHalfOpen(t, b, clock, breaker.DefaultRecoveryTimeout)
	inFlight, finish, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- b.Execute(context.Background(), func(context.Context) error {
			close(inFlight)
			<-finish
			return errBoom
		})
	}()
	<-inFlight
	b.Reset()
	close(finish)
	require.ErrorIs(t, <-done, errBoom)
	assert.Equal(t, breaker.Closed, b.State(), "a trial from before Reset must not reopen the breaker")
	assert.Equal(t, 0, b.Stats().FailureCount)
}

func TestGoexitReleasesTrialSlot(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithHalfOpenMaxCalls(1))
	openThenHalfOpen(t, b, clock, breaker.DefaultRecoveryTimeout)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Execute(context.Background(), func(context.Context) error { defer runtime.Goexit(); return nil })
	}()
	<-done
	require.NoError(t, b.Execute(context.Background(), succeed), "the slot of a trial that called Goexit is free again")
	assert.Equal(t, breaker.Closed, b.State())
	assert.Equal(t, uint64(1), b.Stats().TotalIgnored)
}

func TestHalfOpenMaxWait(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithHalfOpenMaxCalls(1),
		breaker.WithHalfOpenMaxWait(5*time.Second))
	rec := record(b.Events())
	play(t, b, clock, "f +60s")
	require.Equal(t, breaker.HalfOpen, b.State())

	// A probe that hangs.
	inside, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- b.Execute(context.Background(), func(context.Context) error { close(inside); <-release; return nil })
	}()
	<-inside
	clock.Advance(4 * time.Second)
	require.ErrorIs(t, b.Execute(context.Background(), succeed), breaker.ErrOpen)
	assert.Equal(t, breaker.HalfOpen, b.State(), "within the bound the trial holds the breaker")
	clock.Advance(time.Second)
	assert.Equal(t, breaker.Open, b.State(), "past the bound the breaker reopens")
	close(release)
	require.NoError(t, <-done)
	assert.Equal(t, breaker.Open, b.State(), "the late trial is stale")
	assert.Equal(t, []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout", "half_open->open:half_open_timeout"}, rec.changes())

	// And it recovers normally afterwards.
	play(t, b, clock, "+60s s")
	assert.Equal(t, breaker.Closed, b.State())
}

// TestHalfOpenMaxWaitCountsFromTheFirstTrial: a scrape (State) makes the
// breaker half-open long before anyone calls; the deadline must run from
// the first trial, not from that moment.
func TestHalfOpenMaxWaitCountsFromTheFirstTrial(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithHalfOpenMaxCalls(1),
		breaker.WithHalfOpenMaxWait(5*time.Second))
	play(t, b, clock, "f +60s")
	require.Equal(t, breaker.HalfOpen, b.State()) // a metrics scrape
	clock.Advance(31 * time.Second)

	inside, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- b.Execute(context.Background(), func(context.Context) error { close(inside); <-release; return nil })
	}()
	<-inside
	require.ErrorIs(t, b.Execute(context.Background(), succeed), breaker.ErrOpen, "the slot is taken")
	assert.Equal(t, breaker.HalfOpen, b.State(), "a trial that has just started is not overdue")
	close(release)
	require.NoError(t, <-done)
	assert.Equal(t, breaker.Closed, b.State(), "its success counts")
}

// TestReconfigureRacesTrialSuccess lowers half_open_max_calls while trials
// succeed, many times over: however the two interleave, the breaker must
// close (found by review: a Reconfigure between a trial's check and its
// swap used to leave enough successes recorded and nothing to close it).
func TestReconfigureRacesTrialSuccess(t *testing.T) {
	for range 2000 {
		b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithHalfOpenMaxCalls(3))
		play(t, b, clock, "f +60s s")
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _ = b.Execute(context.Background(), succeed) }()
		go func() { defer wg.Done(); require.NoError(t, b.Reconfigure(breaker.WithHalfOpenMaxCalls(2))) }()
		wg.Wait()
		// Whatever happened, the next call is admitted and the breaker closes.
		require.NoError(t, b.Execute(context.Background(), succeed))
		require.Equal(t, breaker.Closed, b.State())
	}
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

// TestPropertyHalfOpenTrialsNeverExceedMax measures trials exactly. Calls
// run in windows: goroutines start together, each makes a few calls, and
// the window ends when all have returned; only the test moves the clock,
// between windows. A window that starts with the breaker open and its
// recovery timeout passed (or half-open) therefore admits nothing but
// trials of one half-open period: no call admitted while closed can still
// be running, and successes are capped below half_open_max_calls so the
// period cannot close mid-window. In such a window at most
// half_open_max_calls trials run at once (measured inside the function,
// which holds its slot while the others try to get in), and no more are
// admitted than the free slots plus the slots that ignored trials gave
// back.
func TestPropertyHalfOpenTrialsNeverExceedMax(t *testing.T) {
	for _, maxTrials := range []int{1, 2, 3, 5} {
		t.Run(fmt.Sprintf("max=%d", maxTrials), func(t *testing.T) {
			const workers, windows, callsPerWorker = 12, 200, 6
			b, clock := newClocked(t, breaker.WithFailureThreshold(2), breaker.WithRecoveryTimeout(time.Second),
				breaker.WithHalfOpenMaxCalls(maxTrials),
				breaker.WithFailurePredicate(func(err error) bool { return !errors.Is(err, errIgnored) }))

			var (
				trialWindow                       bool
				successesLeft                     atomic.Int64
				running, peak, admitted, ignoredN atomic.Int64
				halfOpenWindows, reachedMax       int
			)
			rng := rand.New(rand.NewPCG(uint64(maxTrials), 5))
			for window := range windows {
				seed := rng.Uint64()
				start := make(chan struct{})
				var wg sync.WaitGroup
				for w := range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						rng := rand.New(rand.NewPCG(seed, uint64(w)))
						<-start
						for range callsPerWorker {
							r := rng.IntN(100)
							_ = b.Execute(context.Background(), func(context.Context) error {
								if !trialWindow {
									if r < 60 {
										return errBoom
									}
									return nil
								}
								admitted.Add(1)
								n := running.Add(1)
								for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
								}
								for range 3 { // hold the slot while others try to get in
									runtime.Gosched()
								}
								running.Add(-1)
								switch {
								case r < 3:
									return errBoom // a failed trial reopens
								case r < 60:
									if successesLeft.Add(-1) >= 0 {
										return nil
									}
								}
								ignoredN.Add(1)
								return errIgnored
							})
						}
					}()
				}
				close(start)
				wg.Wait() // every call of the window has returned

				if trialWindow {
					halfOpenWindows++
					st := b.Stats()
					require.NotEqual(t, breaker.Closed, st.State, "window %d: successes are capped, the period cannot close", window)
					require.LessOrEqual(t, peak.Load(), int64(maxTrials), "window %d: trials running at once", window)
					require.LessOrEqual(t, admitted.Load(), int64(maxTrials)+ignoredN.Load(),
						"window %d: trials admitted, at most the slots plus those ignored trials gave back", window)
					if peak.Load() == int64(maxTrials) {
						reachedMax++
					}
				}
				// Set up the next window.
				trialWindow = false
				switch st := b.Stats(); {
				case st.State == breaker.HalfOpen && st.SuccessCount < maxTrials-1:
					// The next window continues the same period; its
					// successful trials still hold their slots.
					trialWindow = true
					successesLeft.Store(int64(maxTrials - 1 - st.SuccessCount))
					admitted.Store(int64(st.SuccessCount))
				case st.State == breaker.HalfOpen:
					b.Reset()
				case st.State == breaker.Open:
					clock.Advance(time.Second) // due: the next call makes it half-open
					trialWindow = true
					successesLeft.Store(int64(maxTrials - 1))
					admitted.Store(0)
				}
				running.Store(0)
				peak.Store(0)
				ignoredN.Store(0)
			}
			t.Logf("%d half-open windows, %d reached %d trials at once", halfOpenWindows, reachedMax, maxTrials)
			assert.Greater(t, halfOpenWindows, windows/4, "the workload should spend time half-open")
			assert.Positive(t, reachedMax, "some window should fill every trial slot")
		})
	}
}

// A trial that is never finished holds its half-open slot only until
// WithHalfOpenMaxWait reopens the breaker.
func TestPermitAbandonedTrialHoldsSlotUntilMaxWait(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Second),
		breaker.WithHalfOpenMaxCalls(1), breaker.WithHalfOpenMaxWait(5*time.Second))
	require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
	clock.Advance(time.Second)
	abandoned, err := b.Allow(context.Background())
	require.NoError(t, err, "the first trial is admitted")
	_ = abandoned // never finished

	clock.Advance(4 * time.Second)
	_, err = b.Allow(context.Background())
	require.ErrorIs(t, err, breaker.ErrOpen, "the slot is held")
	assert.Equal(t, breaker.HalfOpen, b.State())

	clock.Advance(time.Second)
	assert.Equal(t, breaker.Open, b.State(), "the half-open deadline reopens the breaker")
	clock.Advance(time.Second)
	p, err := b.Allow(context.Background())
	require.NoError(t, err, "a new half-open period admits a new trial")
	p.Done(nil)
	assert.Equal(t, breaker.Closed, b.State())
}

func TestPermitTrialSlotReleasedByIgnoredOutcome(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Second), breaker.WithHalfOpenMaxCalls(1))
	require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
	clock.Advance(time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	p, err := b.Allow(ctx)
	require.NoError(t, err)
	cancel()
	p.Done(context.Canceled)
	p2, err := b.Allow(context.Background())
	require.NoError(t, err, "the cancelled trial freed its slot")
	p2.Done(nil)
	assert.Equal(t, breaker.Closed, b.State())
}

func TestIsTrialOnlyInsideHalfOpenTrials(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Second), breaker.WithHalfOpenMaxCalls(1))
	var seen []bool
	probe := func(ctx context.Context) error { seen = append(seen, breaker.IsTrial(ctx)); return nil }
	require.NoError(t, b.Execute(context.Background(), probe))
	require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
	clock.Advance(time.Second)
	_, err := breaker.Do(context.Background(), b, func(ctx context.Context) (int, error) { return 0, probe(ctx) })
	require.NoError(t, err)
	require.NoError(t, b.Execute(context.Background(), probe))
	assert.Equal(t, []bool{false, true, false}, seen, "closed, half-open trial, closed again")

	// The permit API hands out the same marked context.
	trip(b)
	clock.Advance(time.Second)
	p, err := b.Allow(context.Background())
	require.NoError(t, err)
	assert.True(t, breaker.IsTrial(p.Context()), "a trial's permit")
	p.Done(nil)
	p, err = b.Allow(context.Background())
	require.NoError(t, err)
	assert.False(t, breaker.IsTrial(p.Context()), "a closed call's permit")
	p.Done(nil)
	var zero breaker.Permit
	assert.NotNil(t, zero.Context())
	assert.False(t, breaker.IsTrial(context.Background()))
	//lint:ignore SA1012 a nil context is answered, not dereferenced
	assert.False(t, breaker.IsTrial(nil))
}

// WithHalfOpenMaxWait counts from the first trial the
// half-open period ever admitted, even after that trial was released
// (ignored: its caller cancelled) and no trial is running. A trial admitted
// much later in the same period is then "overdue" the moment it starts:
// the next caller that finds the slots taken reopens the breaker (reason
// half_open_timeout, and one more failed probe for the backoff), the fresh
// trial becomes stale, and its success closes nothing.
func TestHalfOpenMaxWaitCountsFromTheOldestRunningTrial(t *testing.T) {
	b, clock := newClocked(t,
		breaker.WithFailureThreshold(1),
		breaker.WithRecoveryTimeout(time.Second),
		breaker.WithHalfOpenMaxCalls(1),
		breaker.WithHalfOpenMaxWait(10*time.Second),
	)
	require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
	clock.Advance(time.Second)

	first, err := b.Allow(context.Background())
	require.NoError(t, err, "the first trial")
	first.Ignore() // its caller went away: the slot is free again
	require.Equal(t, breaker.HalfOpen, b.State())

	clock.Advance(time.Hour) // a quiet hour, still half-open
	second, err := b.Allow(context.Background())
	require.NoError(t, err, "a new trial, admitted just now")

	// Another caller finds the one slot taken: it must be rejected, not
	// reopen the breaker under a trial that started 0s ago.
	_, err = b.Allow(context.Background())
	require.ErrorIs(t, err, breaker.ErrOpen)
	assert.Equal(t, breaker.HalfOpen, b.State(), "a trial running for 0s is not overdue")

	second.Done(nil)
	assert.Equal(t, breaker.Closed, b.State(), "the trial's success closes the breaker")
}

// The same after a trial that succeeded: with two successes needed, the
// first trial's success an hour ago does not make trials admitted now
// overdue.
func TestHalfOpenMaxWaitAfterASuccessfulTrial(t *testing.T) {
	b, clock := newClocked(t,
		breaker.WithFailureThreshold(1),
		breaker.WithRecoveryTimeout(time.Second),
		breaker.WithHalfOpenMaxCalls(2),
		breaker.WithHalfOpenMaxWait(10*time.Second),
	)
	require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
	clock.Advance(time.Second)
	require.NoError(t, b.Execute(context.Background(), succeed), "the first trial succeeds")
	require.Equal(t, breaker.HalfOpen, b.State(), "one success of two")

	clock.Advance(time.Hour)
	second, err := b.Allow(context.Background())
	require.NoError(t, err, "the trial still needed")
	_, err = b.Allow(context.Background())
	require.ErrorIs(t, err, breaker.ErrOpen, "no trial is left to admit")
	assert.Equal(t, breaker.HalfOpen, b.State(), "a trial running for 0s is not overdue")
	second.Done(nil)
	assert.Equal(t, breaker.Closed, b.State(), "the second success closes the breaker")
}

// A trial that has taken its slot but not yet noted when it was admitted
// must not be judged by the time of the period's previous run of trials:
// a caller (or a State) that looks in between would reopen the breaker
// (half_open_timeout) under a trial admitted just now. Here the fresh
// trial's admission is held on the clock while State looks.
func TestHalfOpenMaxWaitFreshTrialNotOverdueWhileAdmitted(t *testing.T) {
	clock := newGateClock()
	b, err := breaker.New("race", breaker.WithClock(clock), breaker.WithFailureThreshold(1),
		breaker.WithRecoveryTimeout(time.Second), breaker.WithHalfOpenMaxCalls(1),
		breaker.WithHalfOpenMaxWait(10*time.Second))
	require.NoError(t, err)
	require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
	clock.Advance(time.Second)
	first, err := b.Allow(context.Background())
	require.NoError(t, err)
	first.Ignore()
	clock.Advance(time.Hour) // a quiet hour, still half-open

	clock.arm()
	admitted := make(chan breaker.Permit)
	go func() {
		pm, err := b.Allow(context.Background())
		assert.NoError(t, err)
		admitted <- pm
	}()
	<-clock.entered // the fresh trial is being admitted
	assert.Equal(t, breaker.HalfOpen, b.State(), "a trial admitted now is not overdue")
	close(clock.release)
	pm := <-admitted
	pm.Done(nil)
	assert.Equal(t, breaker.Closed, b.State(), "the fresh trial's success closes the breaker")
}
