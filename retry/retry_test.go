package retry_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/retry"
)

func TestAttempts(t *testing.T) {
	classify := func(err error) retry.Decision {
		if errors.Is(err, errFatal) {
			return retry.Stop
		}
		return retry.Retry
	}
	tests := []struct {
		name     string
		opts     []retry.Option
		failures int
		err      error

		attempts int
		outcome  retry.Outcome
		reason   retry.Reason // for failures
	}{
		{name: "first attempt succeeds", failures: 0, err: errBoom, attempts: 1, outcome: retry.OutcomeSuccess},
		{name: "second attempt succeeds", failures: 1, err: errBoom, attempts: 2, outcome: retry.OutcomeSuccessAfterRetry},
		{name: "last attempt succeeds", failures: 3, err: errBoom, attempts: 4, outcome: retry.OutcomeSuccessAfterRetry},
		{name: "always failing: 4 attempts by default", failures: 100, err: errBoom, attempts: 4, outcome: retry.OutcomeFailureAfterRetry, reason: retry.ReasonExhausted},
		{name: "WithMaxRetries(2): 3 attempts", opts: []retry.Option{retry.WithMaxRetries(2)}, failures: 100, err: errBoom, attempts: 3, outcome: retry.OutcomeFailureAfterRetry, reason: retry.ReasonExhausted},
		{name: "WithMaxRetries(0): 1 attempt", opts: []retry.Option{retry.WithMaxRetries(0)}, failures: 100, err: errBoom, attempts: 1, outcome: retry.OutcomeFailure, reason: retry.ReasonExhausted},
		{name: "not retryable: 1 attempt", opts: []retry.Option{retry.WithClassifier(classify)}, failures: 100, err: errFatal, attempts: 1, outcome: retry.OutcomeFailure, reason: retry.ReasonNotRetryable},
		{name: "permanent: 1 attempt", failures: 100, err: retry.Permanent(errFatal), attempts: 1, outcome: retry.OutcomeFailure, reason: retry.ReasonNotRetryable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := exact(t, tc.opts...)
				f := failing(tc.failures, tc.err)
				v, err := retry.Do(t.Context(), p, f.call)

				require.Equal(t, tc.attempts, f.calls())
				require.Equal(t, tc.attempts, v, "the last attempt's value")
				want := make([]int, tc.attempts)
				for i := range want {
					want[i] = i + 1
				}
				require.Equal(t, want, f.attempts, "retry.Attempt in each attempt")

				s := p.Stats()
				checkTotals(t, s)
				require.Equal(t, uint64(1), s.TotalCalls)
				require.Equal(t, uint64(1), s.Calls(tc.outcome))
				require.Equal(t, uint64(tc.attempts), s.TotalAttempts)
				if tc.outcome <= retry.OutcomeSuccessAfterRetry {
					require.NoError(t, err)
					return
				}
				require.Equal(t, uint64(1), s.StoppedBy(tc.reason), "stopped by %s", tc.reason)
				root := tc.err
				if tc.err != errBoom && tc.err != errFatal {
					root = errors.Unwrap(tc.err) // Permanent's mark is gone
				}
				require.ErrorIs(t, err, root)
				if tc.reason == retry.ReasonExhausted {
					var re *retry.Error
					require.ErrorAs(t, err, &re)
					require.Equal(t, tc.attempts, re.Attempts)
					require.Equal(t, retry.ReasonExhausted, re.Reason)
					require.ErrorIs(t, err, retry.ErrExhausted)
					require.ErrorIs(t, err, errBoom)
				} else {
					require.Equal(t, errFatal, err, "a non-retryable error comes back unchanged")
				}
			})
		})
	}
}

func TestScheduleWithoutJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := exact(t, retry.WithMaxRetries(9))
		r := record(t, p)
		f := failing(100, errBoom)
		start := time.Now()
		_, err := retry.Do(t.Context(), p, f.call)
		require.ErrorIs(t, err, retry.ErrExhausted)

		want := ms(100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000)
		require.Equal(t, want, r.delays())
		require.Equal(t, want, f.gaps(), "the fake clock moved by exactly the delays")
		var total time.Duration
		for _, d := range want {
			total += d
		}
		require.Equal(t, total, time.Since(start))
		require.Equal(t, total, p.Stats().TotalSlept)
	})
}

func TestScheduleConstantBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := exact(t, retry.WithBackoff(time.Second, time.Second))
		r := record(t, p)
		_, _ = retry.Do(t.Context(), p, failing(100, errBoom).call)
		require.Equal(t, ms(1000, 1000, 1000), r.delays())
	})
}

func TestScheduleNoOverflow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := exact(t, retry.WithMaxRetries(retry.MaxMaxRetries), retry.WithBackoff(time.Nanosecond, time.Duration(1<<63-1)))
		r := record(t, p)
		f := failing(1<<30, errBoom)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		// 62 doublings reach 2^62ns; the 63rd would overflow and is capped.
		// Stop at the 64th wait, before it starts.
		p.Events().Subscribe(events.HandlerFunc[retry.Event](func(_ context.Context, e retry.Event) {
			if e.Kind == retry.EventRetry && e.Attempt == 64 {
				cancel()
			}
		}))
		_, err := retry.Do(ctx, p, f.call)
		require.ErrorIs(t, err, context.Canceled)
		d := r.delays()
		require.Len(t, d, 64)
		for i, x := range d {
			require.Positive(t, x, "delay %d", i)
			if i <= 62 {
				require.Equal(t, time.Duration(1)<<i, x, "delay %d", i)
			} else {
				require.Equal(t, time.Duration(1<<63-1), x, "delay %d: capped, not wrapped", i)
			}
		}
	})
}

func TestJitterRanges(t *testing.T) {
	for _, tc := range []struct {
		jitter retry.Jitter
		lo, hi func(d time.Duration) time.Duration // the delay is in [lo, hi)
	}{
		{retry.FullJitter, func(time.Duration) time.Duration { return 0 }, func(d time.Duration) time.Duration { return d }},
		{retry.EqualJitter, func(d time.Duration) time.Duration { return d / 2 }, func(d time.Duration) time.Duration { return d }},
	} {
		t.Run(tc.jitter.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p, err := retry.New("jitter", retry.WithJitter(tc.jitter), retry.WithoutBudget(), retry.WithMaxRetries(8))
				require.NoError(t, err)
				r := record(t, p)
				for range 200 {
					_, _ = retry.Do(t.Context(), p, failing(100, errBoom).call)
				}
				delays := r.delays()
				require.Len(t, delays, 200*8)
				distinct := map[time.Duration]bool{}
				for i, d := range delays {
					ceil := min(10*time.Second, 100*time.Millisecond<<(i%8))
					require.GreaterOrEqual(t, d, tc.lo(ceil), "retry %d", i%8)
					require.Less(t, d, tc.hi(ceil), "retry %d", i%8)
					distinct[d] = true
				}
				require.Greater(t, len(distinct), 1000, "the delays are spread, not a few values")
			})
		})
	}
}

func TestDeadline(t *testing.T) {
	t.Run("a sleep that would pass the deadline is not started", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := exact(t)
			r := record(t, p)
			ctx, cancel := context.WithTimeout(t.Context(), 250*time.Millisecond)
			defer cancel()
			f := failing(100, errBoom)
			start := time.Now()
			_, err := retry.Do(ctx, p, f.call)

			// Attempt 1 at 0, waits 100ms, attempt 2 at 100ms; the next wait
			// (200ms) would end at 300ms, past the deadline: give up at once.
			require.Equal(t, 2, f.calls())
			require.Equal(t, 100*time.Millisecond, time.Since(start), "returned at once, at the second failure")
			require.NoError(t, ctx.Err(), "before the deadline")
			require.ErrorIs(t, err, errBoom, "the last real error")
			require.ErrorIs(t, err, retry.ErrDeadline)
			require.NotErrorIs(t, err, context.DeadlineExceeded)
			var re *retry.Error
			require.ErrorAs(t, err, &re)
			require.Equal(t, retry.ReasonDeadline, re.Reason)
			require.Equal(t, 2, re.Attempts)
			require.Equal(t, uint64(1), p.Stats().StoppedDeadline)
			require.Equal(t, ms(100), r.delays())
		})
	})
	t.Run("a sleep ending exactly at the deadline is not started", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := exact(t)
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			f := failing(100, errBoom)
			_, err := retry.Do(ctx, p, f.call)
			require.Equal(t, 2, f.calls())
			require.ErrorIs(t, err, retry.ErrDeadline)
		})
	})
	t.Run("no attempt starts after the deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := exact(t)
			ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
			defer cancel()
			deadline, _ := ctx.Deadline()
			// Each attempt takes 60ms: attempt 1 ends at 60ms, the wait
			// ends at 160ms, past the deadline, so it is not started.
			f := failing(100, errBoom)
			slow := func(ctx context.Context) (int, error) {
				time.Sleep(60 * time.Millisecond)
				return f.call(ctx)
			}
			_, err := retry.Do(ctx, p, slow)
			require.ErrorIs(t, err, retry.ErrDeadline)
			for _, at := range f.times {
				require.True(t, at.Before(deadline))
			}
			require.Equal(t, 1, f.calls())
		})
	})
	t.Run("the deadline passed during the attempt", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := exact(t)
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			attempts := 0
			_, err := retry.Do(ctx, p, func(ctx context.Context) (int, error) {
				attempts++
				<-ctx.Done()
				return 0, fmt.Errorf("query: %w", ctx.Err())
			})
			require.Equal(t, 1, attempts)
			require.ErrorIs(t, err, retry.ErrDeadline)
			require.ErrorIs(t, err, context.DeadlineExceeded, "what the attempt returned")
			require.Equal(t, uint64(1), p.Stats().StoppedDeadline)
		})
	})
	t.Run("max duration", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := exact(t, retry.WithMaxDuration(time.Second), retry.WithMaxRetries(10))
			f := failing(100, errBoom)
			start := time.Now()
			_, err := retry.Do(t.Context(), p, f.call)
			// Attempts at 0, 100ms, 300ms, 700ms; the next would start at
			// 1.5s, past the maximum duration.
			require.Equal(t, 4, f.calls())
			require.Equal(t, 700*time.Millisecond, time.Since(start))
			require.ErrorIs(t, err, retry.ErrDeadline)
			require.ErrorIs(t, err, errBoom)
		})
	})
}

func TestCancelDuringSleepReturnsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := exact(t, retry.WithBackoff(time.Hour, time.Hour))
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			time.Sleep(50 * time.Millisecond)
			cancel()
		}()
		f := failing(100, errBoom)
		start := time.Now()
		_, err := retry.Do(ctx, p, f.call)
		require.Equal(t, 50*time.Millisecond, time.Since(start), "not an hour")
		require.Equal(t, 1, f.calls())
		require.ErrorIs(t, err, context.Canceled, "the context's cause")
		require.ErrorIs(t, err, errBoom, "and the last real error")
		var re *retry.Error
		require.ErrorAs(t, err, &re)
		require.Equal(t, retry.ReasonCancelled, re.Reason)
		s := p.Stats()
		require.Equal(t, uint64(1), s.StoppedCancelled)
		require.Equal(t, 50*time.Millisecond, s.TotalSlept)
		require.Equal(t, uint64(1), s.Failures, "no retry ran")
	})
}

func TestCancelWithCause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := exact(t)
		errShutdown := errors.New("shutting down")
		ctx, cancel := context.WithCancelCause(t.Context())
		cancel(errShutdown)
		_, err := retry.Do(ctx, p, failing(100, errBoom).call)
		require.ErrorIs(t, err, errShutdown)
		require.ErrorIs(t, err, errBoom)
	})
}

func TestRetryAfter(t *testing.T) {
	decide := func(d time.Duration) retry.Classifier {
		return func(error) retry.Decision { return retry.RetryAfter(d) }
	}
	t.Run("within the maximum: waits exactly that long", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p, err := retry.New("ra", retry.WithClassifier(decide(3*time.Second)), retry.WithoutBudget()) // full jitter: not applied to Retry-After
			require.NoError(t, err)
			f := failing(2, errBoom)
			_, err = retry.Do(t.Context(), p, f.call)
			require.NoError(t, err)
			require.Equal(t, []time.Duration{3 * time.Second, 3 * time.Second}, f.gaps())
		})
	})
	t.Run("beyond the maximum: gives up at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := exact(t, retry.WithClassifier(decide(time.Hour)))
			f := failing(100, errBoom)
			start := time.Now()
			_, err := retry.Do(t.Context(), p, f.call)
			require.Zero(t, time.Since(start))
			require.Equal(t, 1, f.calls())
			require.ErrorIs(t, err, retry.ErrRetryAfter)
			require.ErrorIs(t, err, errBoom)
			require.Equal(t, uint64(1), p.Stats().StoppedRetryAfter)
		})
	})
	t.Run("the maximum is configurable", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := exact(t, retry.WithClassifier(decide(20*time.Second)), retry.WithMaxRetryAfter(time.Minute))
			f := failing(1, errBoom)
			_, err := retry.Do(t.Context(), p, f.call)
			require.NoError(t, err)
			require.Equal(t, []time.Duration{20 * time.Second}, f.gaps())
		})
	})
	t.Run("zero is the ordinary backoff, never at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := exact(t, retry.WithClassifier(decide(0)))
			f := failing(2, errBoom)
			_, err := retry.Do(t.Context(), p, f.call)
			require.NoError(t, err)
			require.Equal(t, ms(100, 200), f.gaps())
		})
	})
	t.Run("past the deadline: gives up at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := exact(t, retry.WithClassifier(decide(5*time.Second)))
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			_, err := retry.Do(ctx, p, failing(100, errBoom).call)
			require.ErrorIs(t, err, retry.ErrDeadline)
		})
	})
	t.Run("the backoff starts over after a Retry-After", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := 0
			classify := func(error) retry.Decision {
				n++
				if n == 3 {
					return retry.RetryAfter(time.Second)
				}
				return retry.Retry
			}
			p := exact(t, retry.WithClassifier(classify), retry.WithMaxRetries(5))
			f := failing(5, errBoom)
			_, err := retry.Do(t.Context(), p, f.call)
			require.NoError(t, err)
			require.Equal(t, ms(100, 200, 1000, 100, 200), f.gaps())
		})
	})
	t.Run("an error marked by the function", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := exact(t, retry.WithClassifier(func(error) retry.Decision { return retry.Stop }))
			f := failing(1, retry.Classified(errBoom, retry.RetryAfter(2*time.Second)))
			_, err := retry.Do(t.Context(), p, f.call)
			require.NoError(t, err, "the mark wins over the classifier")
			require.Equal(t, []time.Duration{2 * time.Second}, f.gaps())
		})
	})
}

func TestPermanent(t *testing.T) {
	require.NoError(t, retry.Permanent(nil))
	require.NoError(t, retry.Classified(nil, retry.Retry))
	synctest.Test(t, func(t *testing.T) {
		p := exact(t)
		f := failing(100, retry.Permanent(errFatal))
		_, err := retry.Do(t.Context(), p, f.call)
		require.Same(t, errFatal, err, "returned without the mark")
		require.Equal(t, 1, f.calls())

		wrapped := fmt.Errorf("load: %w", retry.Permanent(errFatal))
		f = failing(100, wrapped)
		_, err = retry.Do(t.Context(), p, f.call)
		require.Same(t, wrapped, err, "a mark inside the chain is left alone")
		require.ErrorIs(t, err, errFatal)
		require.Equal(t, 1, f.calls())

		f = failing(100, retry.Classified(errBoom, retry.Stop))
		_, err = retry.Do(t.Context(), p, f.call)
		require.Same(t, errBoom, err)
	})
}

func TestPanicsAreNotRetried(t *testing.T) {
	t.Run("first attempt", func(t *testing.T) {
		p := exact(t)
		attempts := 0
		require.PanicsWithValue(t, "kaboom", func() {
			_, _ = retry.Do(t.Context(), p, func(context.Context) (int, error) {
				attempts++
				panic("kaboom")
			})
		})
		require.Equal(t, 1, attempts)
		require.Zero(t, p.Stats().TotalAttempts, "a first attempt that panics is not counted")
	})
	t.Run("a retry", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := exact(t)
			attempts := 0
			err := errors.New("panic value")
			require.PanicsWithError(t, err.Error(), func() {
				_, _ = retry.Do(t.Context(), p, func(context.Context) (int, error) {
					if attempts++; attempts == 2 {
						panic(err)
					}
					return 0, errBoom
				})
			})
			require.Equal(t, 2, attempts)
			s := p.Stats()
			checkTotals(t, s)
			require.Equal(t, uint64(1), s.FailuresAfterRetry)
			require.Equal(t, uint64(1), s.StoppedNotRetryable)
			require.Equal(t, uint64(2), s.TotalAttempts)
		})
	})
}

func TestNestedRetriesDoNotMultiply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inner := exact(t)
		outer := exact(t)
		f := failing(100, errBoom)
		_, err := retry.Do(t.Context(), outer, retry.Wrap(inner, f.call))

		require.Equal(t, 4, f.calls(), "the inner policy's 4 attempts, not 4 x 4")
		require.ErrorIs(t, err, retry.ErrExhausted)
		require.ErrorIs(t, err, errBoom)
		require.Equal(t, uint64(1), outer.Stats().StoppedNotRetryable)
		require.Equal(t, uint64(1), outer.Stats().TotalAttempts)
		require.Equal(t, uint64(4), inner.Stats().TotalAttempts)
	})
	t.Run("the inner policy stops, the outer retries", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			inner := exact(t, retry.WithClassifier(func(error) retry.Decision { return retry.Stop }))
			outer := exact(t)
			f := failing(100, errBoom)
			_, err := retry.Do(t.Context(), outer, retry.Wrap(inner, f.call))
			require.Equal(t, 4, f.calls(), "one attempt per outer attempt")
			require.ErrorIs(t, err, retry.ErrExhausted)
			require.Equal(t, []int{1, 2, 3, 4}, f.attempts, "the inner first attempts see the outer attempt number")
		})
	})
}

func TestAttemptOutsideARetry(t *testing.T) {
	require.Equal(t, 1, retry.Attempt(context.Background()))
}

func TestNilFunction(t *testing.T) {
	p := exact(t)
	_, err := retry.Do[int](t.Context(), p, nil)
	require.ErrorIs(t, err, retry.ErrNilFunc)
	require.ErrorIs(t, p.Execute(t.Context(), nil), retry.ErrNilFunc)
	_, err = retry.Wrap[int](p, nil)(t.Context())
	require.ErrorIs(t, err, retry.ErrNilFunc)
	require.Zero(t, p.Stats().TotalCalls)
}

func TestExecuteAndWrap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := exact(t)
		f := failing(2, errBoom)
		require.NoError(t, p.Execute(t.Context(), f.exec))
		require.Equal(t, 3, f.calls())

		g := failing(1, errBoom)
		v, err := retry.Wrap(p, g.call)(t.Context())
		require.NoError(t, err)
		require.Equal(t, 2, v)
		require.Equal(t, uint64(2), p.Stats().SuccessesAfterRetry)
	})
}

func TestEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := exact(t)
		r := record(t, p)
		type key struct{}
		ctx := context.WithValue(t.Context(), key{}, "caller")

		_, err := retry.Do(ctx, p, failing(0, errBoom).call)
		require.NoError(t, err)
		require.Empty(t, r.all(), "a first-attempt success publishes nothing")

		_, err = retry.Do(ctx, p, failing(2, errBoom).call)
		require.NoError(t, err)
		evs := r.all()
		require.Len(t, evs, 3)
		require.Equal(t, retry.Event{Kind: retry.EventRetry, Policy: p, Attempt: 1, Delay: 100 * time.Millisecond, Err: errBoom}, evs[0])
		require.Equal(t, retry.Event{Kind: retry.EventRetry, Policy: p, Attempt: 2, Delay: 200 * time.Millisecond, Err: errBoom}, evs[1])
		require.Equal(t, retry.Event{Kind: retry.EventCall, Policy: p, Outcome: retry.OutcomeSuccessAfterRetry, Attempts: 3, Retries: 2, Slept: 300 * time.Millisecond}, evs[2])
		for _, c := range r.ctxs {
			require.Equal(t, "caller", c.Value(key{}), "events carry the caller's context")
		}

		_, err = retry.Do(ctx, p, failing(100, errBoom).call)
		last := r.all()[len(r.all())-1]
		require.Equal(t, retry.EventCall, last.Kind)
		require.Equal(t, retry.OutcomeFailureAfterRetry, last.Outcome)
		require.Equal(t, retry.ReasonExhausted, last.Reason)
		require.Equal(t, 4, last.Attempts)
		require.Equal(t, 700*time.Millisecond, last.Slept)
		require.Same(t, err, last.Err, "the error the caller got")
	})
}

func TestEventsOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := exact(t, retry.WithEventBus(nil))
		require.Nil(t, p.Events())
		_, err := retry.Do(t.Context(), p, failing(1, errBoom).call)
		require.NoError(t, err)
	})
}

func TestStrings(t *testing.T) {
	assert.Equal(t, "stop", retry.Stop.String())
	assert.Equal(t, "retry", retry.Retry.String())
	assert.Equal(t, "retry_after(3s)", retry.RetryAfter(3*time.Second).String())
	assert.Equal(t, retry.Retry, retry.RetryAfter(0))
	assert.Equal(t, retry.Retry, retry.RetryAfter(-time.Second))
	assert.Equal(t, retry.Stop, retry.Decision{}, "the zero Decision stops")
	assert.True(t, retry.RetryAfter(time.Second).Retries())
	assert.Equal(t, time.Second, retry.RetryAfter(time.Second).After())
	assert.False(t, retry.Stop.Retries())

	var names []string
	for _, o := range retry.Outcomes {
		names = append(names, o.String())
	}
	assert.Equal(t, []string{"success", "success_after_retry", "failure", "failure_after_retry"}, names)
	names = nil
	for _, r := range retry.Reasons {
		names = append(names, r.String())
	}
	assert.Equal(t, []string{"exhausted", "budget", "deadline", "retry_after", "circuit_open", "not_retryable", "cancelled", "trial"}, names)
	assert.Equal(t, "reason(200)", retry.Reason(200).String())
	assert.Equal(t, "outcome(9)", retry.Outcome(9).String())
	assert.Equal(t, "full", retry.FullJitter.String())
	assert.Equal(t, "none", retry.NoJitter.String())
	assert.Equal(t, "jitter(7)", retry.Jitter(7).String())
	assert.Equal(t, "retry", retry.EventRetry.String())
	assert.Equal(t, "call", retry.EventCall.String())

	err := &retry.Error{Policy: "model_server", Reason: retry.ReasonExhausted, Attempts: 4, Err: errBoom}
	assert.Equal(t, `retry: "model_server" gave up after 4 attempts (exhausted): service unavailable`, err.Error())
	err = &retry.Error{Policy: "db", Reason: retry.ReasonBudget, Attempts: 1, Err: errBoom}
	assert.Equal(t, `retry: "db" gave up after 1 attempt (budget): service unavailable`, err.Error())
}

func TestZeroBackoffRetriesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := exact(t, retry.WithBackoff(0, 0))
		f := failing(3, errBoom)
		start := time.Now()
		_, err := retry.Do(t.Context(), p, f.call)
		require.NoError(t, err)
		require.Equal(t, 4, f.calls())
		require.Zero(t, time.Since(start))
		require.Equal(t, []time.Duration{0, 0, 0}, f.gaps())
	})
}

// A nil context is treated as context.Background(), as the breaker treats
// it: the attempts get a usable context and a retry neither panics nor
// waits on a nil Done channel.
func TestNilContextIsBackground(t *testing.T) {
	p, err := retry.New("nil-ctx", retry.WithBackoff(0, 0), retry.WithMaxRetries(2))
	require.NoError(t, err)
	var attempts []int
	//lint:ignore SA1012 a nil context is what this test gives
	v, err := retry.Do(nil, p, func(ctx context.Context) (int, error) {
		require.NotNil(t, ctx)
		attempts = append(attempts, retry.Attempt(ctx))
		if len(attempts) < 3 {
			return 0, errors.New("transient")
		}
		return 7, nil
	})
	require.NoError(t, err)
	assert.Equal(t, 7, v)
	assert.Equal(t, []int{1, 2, 3}, attempts)
}
