package retry_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/retry"
)

// instant is a policy that waits 1ns between attempts, with opts.
func instant(t *testing.T, opts ...retry.Option) *retry.Policy {
	t.Helper()
	p, err := retry.New("budget", append([]retry.Option{retry.WithBackoff(time.Nanosecond, time.Nanosecond), retry.WithJitter(retry.NoJitter)}, opts...)...)
	require.NoError(t, err)
	return p
}

// expectedRetries replays the budget's rule for n sequential calls that
// always fail, in tenths of a token: the bucket starts at burst, a retry
// needs a whole token, a call adds ratio when it finishes, and the bucket
// never holds more than burst.
func expectedRetries(n, maxRetries, ratioTenths, burst int) (retries int, tokens float64) {
	tenths, ceil := burst*10, burst*10
	for range n {
		for r := 0; r < maxRetries && tenths >= 10; r++ {
			tenths -= 10
			retries++
		}
		tenths = min(ceil, tenths+ratioTenths)
	}
	return retries, float64(tenths) / 10
}

func TestBudgetSequentialArithmetic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := instant(t) // default budget: 0.2 a call, burst 10
		f := failing(1<<30, errBoom)
		var refused int
		for range 1000 {
			_, err := retry.Do(t.Context(), p, f.call)
			require.ErrorIs(t, err, errBoom, "the real error, whatever stopped the call")
			if errorIsBudget(err) {
				refused++
			}
		}
		want, tokens := expectedRetries(1000, 3, 2, 10)
		require.InDelta(t, 10+0.2*1000, want, 1, "10 + 0.2 per call")
		s := p.Stats()
		checkTotals(t, s)
		require.Equal(t, uint64(want), s.TotalRetries)
		require.Equal(t, 1000+want, f.calls())
		require.Equal(t, uint64(refused), s.StoppedBudget)
		require.InDelta(t, tokens, s.BudgetAvailable, 1e-9)
	})
}

func errorIsBudget(err error) bool {
	var re *retry.Error
	return errors.As(err, &re) && re.Reason == retry.ReasonBudget
}

func TestBudgetRefusalKeepsTheRealError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, err := retry.NewBudget(0, 1)
		require.NoError(t, err)
		p := instant(t, retry.WithBudget(b))
		_, err = retry.Do(t.Context(), p, failing(1<<30, errBoom).call) // takes the one token
		require.ErrorIs(t, err, retry.ErrBudget)
		require.Equal(t, uint64(2), p.Stats().TotalAttempts)
		_, err = retry.Do(t.Context(), p, failing(1<<30, errBoom).call)
		require.ErrorIs(t, err, retry.ErrBudget)
		require.ErrorIs(t, err, errBoom)
		var re *retry.Error
		require.ErrorAs(t, err, &re)
		require.Equal(t, 1, re.Attempts)
		require.Equal(t, retry.ReasonBudget, re.Reason)
	})
}

func TestBudgetRefillsFromSuccesses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := instant(t)
		for range 5 {
			_, _ = retry.Do(t.Context(), p, failing(1<<30, errBoom).call)
		}
		// 3 + 3 + 3 + 1 + 0 retries taken from 10 tokens, 5 x 0.2 deposited
		// in between: 10 - 10 + 1.
		require.InDelta(t, 1.0, p.Stats().BudgetAvailable, 1e-9)
		for range 50 {
			_, err := retry.Do(t.Context(), p, failing(0, nil).call)
			require.NoError(t, err)
		}
		require.Equal(t, 10.0, p.Stats().BudgetAvailable, "capped at the burst")
		_, err := retry.Do(t.Context(), p, failing(3, errBoom).call)
		require.NoError(t, err, "3 retries allowed again")
	})
}

func TestBudgetSharedBetweenPolicies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, err := retry.NewBudget(0.5, 2)
		require.NoError(t, err)
		p1 := instant(t, retry.WithBudget(b))
		p2 := instant(t, retry.WithBudget(b))
		require.Same(t, b, p1.Budget())
		_, _ = retry.Do(t.Context(), p1, failing(1<<30, errBoom).call)
		require.Equal(t, 0.5, b.Available(), "two retries taken, half a token deposited")
		_, err = retry.Do(t.Context(), p2, failing(1<<30, errBoom).call)
		require.ErrorIs(t, err, retry.ErrBudget, "p2 draws from the same budget")
		require.Equal(t, 1.0, b.Available())
		_, err = retry.Do(t.Context(), p2, failing(1, errBoom).call)
		require.NoError(t, err)
		require.Equal(t, 0.5, b.Available())
		require.Equal(t, 0.5, b.Ratio())
		require.Equal(t, 2, b.Burst())
		require.Equal(t, 0.5, p1.Stats().BudgetAvailable)
	})
}

func TestWithoutBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := instant(t, retry.WithoutBudget())
		require.Nil(t, p.Budget())
		for range 100 {
			_, err := retry.Do(t.Context(), p, failing(1<<30, errBoom).call)
			require.ErrorIs(t, err, retry.ErrExhausted)
		}
		s := p.Stats()
		require.Equal(t, uint64(300), s.TotalRetries)
		require.False(t, s.HasBudget)
	})
}

// TestBudgetBoundUnderConcurrency: 64 goroutines call a dependency that
// fails at a random rate; whatever the rate, attempts never exceed
// (1 + ratio) x calls + burst, and the budget never goes below zero.
func TestBudgetBoundUnderConcurrency(t *testing.T) {
	for _, rate := range []float64{0.1, 0.5, 0.9, 1} {
		t.Run(fmt.Sprintf("failure rate %.0f%%", rate*100), func(t *testing.T) {
			p := instant(t)
			var stop atomic.Bool
			var wg sync.WaitGroup
			var negative atomic.Bool
			wg.Go(func() {
				for !stop.Load() {
					if p.Budget().Available() < 0 {
						negative.Store(true)
					}
				}
			})
			var workers sync.WaitGroup
			for range 64 {
				workers.Go(func() {
					for range 200 {
						_, _ = retry.Do(context.Background(), p, func(context.Context) (int, error) {
							if rand.Float64() < rate {
								return 0, errBoom
							}
							return 0, nil
						})
					}
				})
			}
			workers.Wait()
			stop.Store(true)
			wg.Wait()
			s := p.Stats()
			checkTotals(t, s)
			require.Equal(t, uint64(64*200), s.TotalCalls)
			require.LessOrEqual(t, float64(s.TotalAttempts), 1.2*float64(s.TotalCalls)+10)
			require.False(t, negative.Load())
			require.GreaterOrEqual(t, s.BudgetAvailable, 0.0)
		})
	}
}

func TestBudgetOfAPolicySharedWithAnother(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p1 := instant(t) // a budget of its own: 0.2 a call, burst 10
		p2 := instant(t, retry.WithBudget(p1.Budget()), retry.WithMaxRetries(20))
		_, err := retry.Do(t.Context(), p2, failing(1<<30, errBoom).call)
		require.ErrorIs(t, err, retry.ErrBudget, "p2 draws from p1's budget")
		for range 10 {
			_, err := retry.Do(t.Context(), p2, failing(0, nil).call)
			require.NoError(t, err)
		}
		// p2's finished calls (the failed one and ten successes) refill the
		// budget they share, as p1's would.
		require.InDelta(t, 2.2, p1.Budget().Available(), 1e-9)
	})
}
