package retry_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/retry"
)

// TestAccountingUnderConcurrency: goroutines run calls that succeed, fail,
// fail permanently or panic at random, through Do, Execute and Wrap, while
// others read Stats. Every total is monotonic in every snapshot, and once
// the calls are done the totals add up exactly, agree with what the
// functions saw, and agree with the events.
func TestAccountingUnderConcurrency(t *testing.T) {
	p, err := retry.New("hammer", retry.WithBackoff(time.Nanosecond, time.Microsecond), retry.WithMaxRetries(4))
	require.NoError(t, err)
	var eventCalls [4]atomic.Uint64
	var eventRetries atomic.Uint64
	p.Events().Subscribe(events.HandlerFunc[retry.Event](func(_ context.Context, e retry.Event) {
		switch e.Kind {
		case retry.EventCall:
			eventCalls[e.Outcome].Add(1)
		case retry.EventRetry:
			eventRetries.Add(1)
		}
	}))

	var attempts, firstAttemptPanics atomic.Uint64
	var stop atomic.Bool
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			var prev retry.Stats
			for !stop.Load() {
				s := p.Stats()
				assert.GreaterOrEqual(t, s.TotalCalls, prev.TotalCalls)
				assert.GreaterOrEqual(t, s.TotalAttempts, prev.TotalAttempts)
				assert.GreaterOrEqual(t, s.TotalRetries, prev.TotalRetries)
				assert.GreaterOrEqual(t, s.Successes, prev.Successes)
				assert.GreaterOrEqual(t, s.FailuresAfterRetry, prev.FailuresAfterRetry)
				assert.GreaterOrEqual(t, s.TotalSlept, prev.TotalSlept)
				assert.GreaterOrEqual(t, s.BudgetAvailable, 0.0)
				prev = s
			}
		})
	}
	var workers sync.WaitGroup
	for w := range 16 {
		workers.Go(func() {
			for i := range 300 {
				fn := func(ctx context.Context) (int, error) {
					attempts.Add(1)
					switch rand.IntN(8) {
					case 0:
						if retry.Attempt(ctx) == 1 {
							firstAttemptPanics.Add(1)
						}
						panic("boom")
					case 1:
						return 0, retry.Permanent(errFatal)
					case 2, 3, 4:
						return 0, errBoom
					}
					return 1, nil
				}
				func() {
					defer func() { _ = recover() }()
					switch (w + i) % 3 {
					case 0:
						_, _ = retry.Do(context.Background(), p, fn)
					case 1:
						_ = p.Execute(context.Background(), func(ctx context.Context) error { _, err := fn(ctx); return err })
					default:
						_, _ = retry.Wrap(p, fn)(context.Background())
					}
				}()
			}
		})
	}
	workers.Wait()
	stop.Store(true)
	readers.Wait()

	s := p.Stats()
	checkTotals(t, s)
	require.Equal(t, uint64(16*300)-firstAttemptPanics.Load(), s.TotalCalls, "every call counted once, but those that panicked at once")
	require.Equal(t, attempts.Load()-firstAttemptPanics.Load(), s.TotalAttempts)
	require.Equal(t, s.TotalRetries, eventRetries.Load())
	require.Equal(t, s.SuccessesAfterRetry, eventCalls[retry.OutcomeSuccessAfterRetry].Load())
	require.LessOrEqual(t, eventCalls[retry.OutcomeFailure].Load()+eventCalls[retry.OutcomeFailureAfterRetry].Load(),
		s.Failures+s.FailuresAfterRetry, "panics are counted but publish nothing")
}
