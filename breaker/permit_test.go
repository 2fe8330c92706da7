package breaker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
)

// The permit API records outcomes by the same rules as Execute.
func TestPermitRecordsLikeExecute(t *testing.T) {
	errIgnored := errors.New("not found")
	isFailure := func(err error) bool { return !errors.Is(err, errIgnored) }
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want func(breaker.Stats) uint64
	}{
		{"nil is a success", context.Background(), nil, func(s breaker.Stats) uint64 { return s.TotalSuccesses }},
		{"an error is a failure", context.Background(), errBoom, func(s breaker.Stats) uint64 { return s.TotalFailures }},
		{"the predicate excludes", context.Background(), errIgnored, func(s breaker.Stats) uint64 { return s.TotalIgnored }},
		{"the caller cancelled", cancelled, context.Canceled, func(s breaker.Stats) uint64 { return s.TotalIgnored }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := newClocked(t, breaker.WithFailurePredicate(isFailure))
			p, err := b.Allow(tc.ctx)
			require.NoError(t, err)
			p.Done(tc.err)
			s := b.Stats()
			assert.Equal(t, uint64(1), tc.want(s))
			assert.Equal(t, uint64(1), s.TotalCalls)
		})
	}
}

func TestPermitDoneTwiceCountsOnce(t *testing.T) {
	b, _ := newClocked(t, breaker.WithFailureThreshold(2))
	p, err := b.Allow(context.Background())
	require.NoError(t, err)
	p.Done(errBoom)
	p.Done(errBoom)
	p.Done(nil)
	s := b.Stats()
	assert.Equal(t, uint64(1), s.TotalCalls)
	assert.Equal(t, 1, s.FailureCount, "one failure, not two: the breaker stays closed")
	assert.Equal(t, breaker.Closed, s.State)

	var zero breaker.Permit
	zero.Done(errBoom) // the zero Permit is finished already
	assert.Equal(t, uint64(1), b.Stats().TotalCalls)
}

func TestPermitRejectedIsZero(t *testing.T) {
	b, _ := newClocked(t, breaker.WithFailureThreshold(1))
	p, err := b.Allow(context.Background())
	require.NoError(t, err)
	p.Done(errBoom)
	p, err = b.Allow(context.Background())
	require.ErrorIs(t, err, breaker.ErrOpen)
	var oe *breaker.OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, breaker.Open, oe.State())
	p.Done(nil) // nothing to finish
	s := b.Stats()
	assert.Equal(t, uint64(2), s.TotalCalls)
	assert.Equal(t, uint64(1), s.TotalRejected)
	assert.Zero(t, s.TotalSuccesses)
}

// A permit admitted before a transition counts in the totals but cannot
// move the period that followed.
func TestPermitFromAnEarlierPeriodIsStale(t *testing.T) {
	b, _ := newClocked(t, breaker.WithFailureThreshold(1))
	early, err := b.Allow(context.Background())
	require.NoError(t, err)
	b.ForceOpen()
	b.Reset()
	early.Done(errBoom)
	s := b.Stats()
	assert.Equal(t, breaker.Closed, s.State, "a stale failure does not open the new period")
	assert.Equal(t, uint64(1), s.TotalFailures)
}

// A permit reports its duration to subscribers like Execute.
func TestPermitEventsCarryDuration(t *testing.T) {
	b, clock := newClocked(t)
	rec := record(b.Events())
	p, err := b.Allow(context.Background())
	require.NoError(t, err)
	clock.Advance(300 * time.Millisecond)
	p.Done(nil)
	evs := rec.all()
	require.Len(t, evs, 1)
	assert.Equal(t, breaker.OutcomeSuccess, evs[0].Outcome)
	assert.Equal(t, 300*time.Millisecond, evs[0].Duration)
}

func TestPermitIgnoreAndPanicError(t *testing.T) {
	b, _ := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithFailurePredicate(func(error) bool { return false }))
	p, err := b.Allow(context.Background())
	require.NoError(t, err)
	p.Ignore()
	p.Done(errBoom)
	assert.Equal(t, uint64(1), b.Stats().TotalIgnored, "Ignore finishes the call")

	p, err = b.Allow(context.Background())
	require.NoError(t, err)
	p.Done(&breaker.PanicError{Value: "boom"})
	s := b.Stats()
	assert.Equal(t, uint64(1), s.TotalFailures, "a panic is a failure whatever the predicate says")
	assert.Equal(t, breaker.Open, s.State)
}
