package breaker_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
)

// TestHammer runs many goroutines with mixed outcomes against one breaker
// while the clock moves and an operator resets and forces it, then checks
// that the totals add up exactly and that the published state changes form
// a legal path. (The half-open bound is proved where trials can be told
// from closed calls: TestHalfOpenRacingCallersNeverExceedMax and
// TestPropertyHalfOpenTrialsNeverExceedMax.)
func TestHammer(t *testing.T) {
	const (
		workers  = 16
		perWork  = 2000
		maxTrial = 3 // half_open_max_calls
	)
	b, clock := newClocked(t, breaker.WithFailureThreshold(4), breaker.WithRecoveryTimeout(time.Second),
		breaker.WithHalfOpenMaxCalls(maxTrial),
		breaker.WithFailurePredicate(func(err error) bool { return !errors.Is(err, errIgnored) }))
	rec := record(b.Events())

	var ran, ok, failed, ignored, rejected atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range perWork {
				r := rng.IntN(100)
				err := b.Execute(context.Background(), func(context.Context) error {
					ran.Add(1)
					switch {
					case r < 35:
						return errBoom
					case r < 40:
						return errIgnored
					}
					return nil
				})
				switch {
				case errors.Is(err, breaker.ErrOpen):
					rejected.Add(1)
				case errors.Is(err, errBoom):
					failed.Add(1)
				case errors.Is(err, errIgnored):
					ignored.Add(1)
				case err == nil:
					ok.Add(1)
				default:
					t.Errorf("unexpected error %v", err)
				}
				if r == 99 {
					clock.Advance(300 * time.Millisecond)
				}
				// Worker 0 is also an operator poking the breaker.
				if w == 0 && i%400 == 150 {
					b.ForceOpen()
				}
				if w == 0 && i%400 == 250 {
					b.Reset()
				}
			}
		}()
	}
	wg.Wait()

	s := b.Stats()
	assert.Equal(t, uint64(workers*perWork), s.TotalCalls)
	assert.Equal(t, uint64(ok.Load()), s.TotalSuccesses)
	assert.Equal(t, uint64(failed.Load()), s.TotalFailures)
	assert.Equal(t, uint64(ignored.Load()), s.TotalIgnored)
	assert.Equal(t, uint64(rejected.Load()), s.TotalRejected)
	assert.Equal(t, ran.Load(), ok.Load()+failed.Load()+ignored.Load(), "every admitted call ran exactly once")

	changes := rec.all()
	prev := breaker.Closed
	n := 0
	for _, e := range changes {
		if e.Kind != breaker.EventStateChange {
			continue
		}
		n++
		require.Equal(t, prev, e.From, "change %d (%s->%s, %s) does not start where the last ended", n, e.From, e.To, e.Reason)
		require.Contains(t, legalChange[e.Reason], [2]breaker.State{e.From, e.To}, "change %d is not legal", n)
		prev = e.To
	}
	assert.Equal(t, prev, b.State(), "the last change ends in the current state")
	assert.Greater(t, n, 10, "the run should move the breaker many times")
	t.Logf("%d calls, %d state changes, %d rejected", s.TotalCalls, n, s.TotalRejected)
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
