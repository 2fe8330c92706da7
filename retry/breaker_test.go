package retry_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/retry"
)

// These tests run in synctest bubbles: the breakers, created inside, read
// the bubble's fake clock, and the policy's waits advance it. An open
// breaker learns that its recovery timeout has passed from a timer of its
// own, so a test that sleeps through it waits for that timer too
// (synctest.Wait).

func newBreaker(t *testing.T, opts ...breaker.Option) *breaker.Breaker {
	t.Helper()
	b, err := breaker.New("dep", opts...)
	require.NoError(t, err)
	return b
}

func TestSpecOrderBreakerSeesOneOutcomePerCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t) // failure_threshold 5
		p := exact(t)      // max_retries 3
		f := failing(1000, errBoom)
		call := retry.Wrap(p, f.call)

		for i := range 5 {
			_, err := breaker.Do(t.Context(), b, call)
			require.ErrorIs(t, err, errBoom, "call %d", i)
			require.ErrorIs(t, err, retry.ErrExhausted)
		}
		require.Equal(t, breaker.Open, b.State(), "5 failed calls, one outcome each")
		require.Equal(t, 20, f.calls(), "5 calls x 4 attempts reached the dependency")
		require.Equal(t, uint64(5), b.Stats().TotalFailures)

		// Open: the breaker rejects without running the retry at all.
		before := time.Now()
		for range 10 {
			_, err := breaker.Do(t.Context(), b, call)
			var oe *breaker.OpenError
			require.ErrorAs(t, err, &oe)
		}
		require.Equal(t, 20, f.calls())
		require.Zero(t, time.Since(before), "no wait")
		require.Equal(t, uint64(5), p.Stats().TotalCalls, "the policy never ran")
	})
}

func TestPerAttemptOrderStopsAtAnOpenBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t) // failure_threshold 5
		p := exact(t)
		f := failing(1000, errBoom)
		call := breaker.Wrap(b, f.call)

		_, err := retry.Do(t.Context(), p, call)
		require.ErrorIs(t, err, retry.ErrExhausted, "4 attempts, 4 failures: still closed")
		require.Equal(t, breaker.Closed, b.State())

		_, err = retry.Do(t.Context(), p, call)
		var oe *breaker.OpenError
		require.ErrorAs(t, err, &oe, "the fifth failure opened it; the retry was rejected")
		require.Same(t, oe, err, "the rejection comes back unchanged")
		require.Equal(t, 5, f.calls(), "exactly the threshold reached the dependency")

		before := time.Now()
		for range 10 {
			_, err = retry.Do(t.Context(), p, call)
			require.ErrorIs(t, err, breaker.ErrOpen)
		}
		require.Zero(t, time.Since(before), "no wait: an open breaker stops retrying")
		require.Equal(t, 5, f.calls())

		s := p.Stats()
		checkTotals(t, s)
		require.Equal(t, uint64(11), s.StoppedCircuitOpen)
		require.Equal(t, uint64(10), s.Failures, "rejected at the first attempt")
		require.Equal(t, uint64(2), s.FailuresAfterRetry)
		require.Equal(t, uint64(10), b.Stats().TotalRejected-1, "one rejection per call, plus the retry's")
	})
}

func TestOpenWait(t *testing.T) {
	t.Run("waits for the breaker's RetryAfter, then probes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBreaker(t, breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(10*time.Second), breaker.WithHalfOpenMaxCalls(1))
			p := exact(t, retry.WithOpenWait(30*time.Second))
			f := failing(1, errBoom)
			v, err := retry.Do(t.Context(), p, breaker.Wrap(b, f.call))
			require.NoError(t, err)
			require.Equal(t, 2, v, "the second call of the function: a trial that closed the breaker")
			require.Equal(t, breaker.Closed, b.State())
			// Attempt 1 fails and opens the breaker; attempt 2, 100ms later,
			// is rejected with RetryAfter 9.9s; attempt 3 runs 9.9s plus up
			// to the initial backoff (100ms) after that.
			gaps := f.gaps()
			require.Len(t, gaps, 1)
			require.GreaterOrEqual(t, gaps[0], 10*time.Second)
			require.Less(t, gaps[0], 10*time.Second+100*time.Millisecond)
			require.Equal(t, uint64(2), p.Stats().TotalRetries)
		})
	})
	t.Run("a longer wait than the maximum stops at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBreaker(t, breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Minute))
			p := exact(t, retry.WithOpenWait(30*time.Second))
			f := failing(1, errBoom)
			start := time.Now()
			_, err := retry.Do(t.Context(), p, breaker.Wrap(b, f.call))
			require.ErrorIs(t, err, breaker.ErrOpen)
			require.Equal(t, 100*time.Millisecond, time.Since(start), "the backoff after the failure, no more")
			require.Equal(t, uint64(1), p.Stats().StoppedCircuitOpen)
		})
	})
	t.Run("a wait past the deadline stops at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBreaker(t, breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(10*time.Second))
			p := exact(t, retry.WithOpenWait(30*time.Second))
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			f := failing(1, errBoom)
			_, err := retry.Do(ctx, p, breaker.Wrap(b, f.call))
			require.ErrorIs(t, err, retry.ErrDeadline)
			require.ErrorIs(t, err, breaker.ErrOpen, "the last error: the rejection")
			require.NoError(t, ctx.Err())
		})
	})
	t.Run("a forced-open breaker stops at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBreaker(t)
			b.ForceOpen()
			p := exact(t, retry.WithOpenWait(time.Hour))
			f := failing(1, errBoom)
			_, err := retry.Do(t.Context(), p, breaker.Wrap(b, f.call))
			require.ErrorIs(t, err, breaker.ErrOpen)
			require.Zero(t, f.calls())
			require.Equal(t, uint64(1), p.Stats().StoppedCircuitOpen)
		})
	})
}

// holdTrial makes b half-open with its one trial slot held by a call that
// blocks until release is called.
func holdTrial(t *testing.T, b *breaker.Breaker) (release func()) {
	t.Helper()
	_ = b.Execute(t.Context(), func(context.Context) error { return errBoom })
	require.Equal(t, breaker.Open, b.State())
	time.Sleep(time.Second) // the recovery timeout
	synctest.Wait()         // and the breaker's recovery timer has run
	gate := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = b.Execute(context.Background(), func(context.Context) error {
			<-gate
			return nil
		})
	})
	synctest.Wait()
	require.Equal(t, breaker.HalfOpen, b.State())
	return func() {
		close(gate)
		wg.Wait()
	}
}

func TestHalfOpenRejectionDoesNotSpin(t *testing.T) {
	opts := []breaker.Option{breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Second), breaker.WithHalfOpenMaxCalls(1)}
	t.Run("by default it stops", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBreaker(t, opts...)
			release := holdTrial(t, b)
			defer release()
			p := exact(t)
			f := failing(0, nil)
			start := time.Now()
			_, err := retry.Do(t.Context(), p, breaker.Wrap(b, f.call))
			var oe *breaker.OpenError
			require.ErrorAs(t, err, &oe)
			require.Equal(t, breaker.HalfOpen, oe.State())
			require.Zero(t, time.Since(start))
			require.Equal(t, uint64(1), p.Stats().TotalAttempts)
		})
	})
	t.Run("with WithOpenWait it backs off as usual", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBreaker(t, opts...)
			release := holdTrial(t, b)
			defer release()
			p := exact(t, retry.WithOpenWait(time.Minute))
			r := record(t, p)
			f := failing(0, nil)
			start := time.Now()
			_, err := retry.Do(t.Context(), p, breaker.Wrap(b, f.call))
			require.ErrorIs(t, err, breaker.ErrOpen)
			require.ErrorIs(t, err, retry.ErrExhausted)
			require.Equal(t, ms(100, 200, 400), r.delays(), "RetryAfter 0 is never a zero wait")
			require.Equal(t, 700*time.Millisecond, time.Since(start))
			require.Zero(t, f.calls())
			require.Equal(t, uint64(3), b.Stats().TotalRejected-1)
		})
	})
}

func TestSpecOrderTrialGetsOneAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t, breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Second), breaker.WithHalfOpenMaxCalls(1))
		p := exact(t)
		f := failing(1000, errBoom)
		call := retry.Wrap(p, f.call)

		_, err := breaker.Do(t.Context(), b, call) // closed: all 4 attempts
		require.ErrorIs(t, err, retry.ErrExhausted)
		require.Equal(t, 4, f.calls())
		require.Equal(t, breaker.Open, b.State())

		time.Sleep(time.Second)
		synctest.Wait() // the breaker's recovery timer has run
		start := time.Now()
		_, err = breaker.Do(t.Context(), b, call) // half-open: the trial
		require.Same(t, errBoom, err, "the trial's own error, unchanged")
		require.Equal(t, 5, f.calls(), "one attempt for the trial")
		require.Zero(t, time.Since(start), "no backoff held the trial slot")
		require.Equal(t, breaker.Open, b.State(), "the failed trial reopened it")
		require.Equal(t, uint64(1), p.Stats().StoppedTrial)

		// A successful trial closes it, and retries resume.
		time.Sleep(time.Second)
		synctest.Wait() // the breaker's recovery timer has run
		g := failing(0, nil)
		_, err = breaker.Do(t.Context(), b, retry.Wrap(p, g.call))
		require.NoError(t, err)
		require.Equal(t, breaker.Closed, b.State())
		h := failing(2, errBoom)
		_, err = breaker.Do(t.Context(), b, retry.Wrap(p, h.call))
		require.NoError(t, err)
		require.Equal(t, 3, h.calls())
	})
}

func TestPerAttemptOrderTrialIsAnAttempt(t *testing.T) {
	// In the per-attempt order the trial is one attempt: the policy is
	// outside the breaker, so its context is not a trial's and it may
	// retry the rest of the call after a failed trial (and is then
	// rejected, since the trial reopened the breaker).
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t, breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Second), breaker.WithHalfOpenMaxCalls(1))
		p := exact(t)
		f := failing(1000, errBoom)
		_ = b.Execute(t.Context(), func(context.Context) error { return errBoom })
		time.Sleep(time.Second)
		synctest.Wait() // the breaker's recovery timer has run
		_, err := retry.Do(t.Context(), p, breaker.Wrap(b, f.call))
		require.ErrorIs(t, err, breaker.ErrOpen)
		require.Equal(t, 1, f.calls())
		require.Equal(t, uint64(1), p.Stats().StoppedCircuitOpen)
	})
}

func TestCancelledCallIsIgnoredByTheBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t, breaker.WithFailureThreshold(1))
		p := exact(t, retry.WithBackoff(time.Hour, time.Hour))
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			time.Sleep(time.Second)
			cancel()
		}()
		_, err := breaker.Do(ctx, b, retry.Wrap(p, failing(1000, errBoom).call))
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, breaker.Closed, b.State(), "the caller gave up: no verdict on the dependency")
		require.Equal(t, uint64(1), b.Stats().TotalIgnored)
	})
}

func TestErrOpenIsNeverClassified(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		asked := 0
		p := exact(t, retry.WithClassifier(func(error) retry.Decision { asked++; return retry.Retry }))
		wrapped := errors.Join(errors.New("through a wrapper"), breaker.ErrOpen)
		f := failing(1000, wrapped)
		_, err := retry.Do(t.Context(), p, f.call)
		require.Same(t, wrapped, err)
		require.Zero(t, asked)
		require.Equal(t, 1, f.calls())
		require.Equal(t, uint64(1), p.Stats().StoppedCircuitOpen)
	})
}
