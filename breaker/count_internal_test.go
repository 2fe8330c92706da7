package breaker

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A count converted to int saturates at math.MaxInt instead of wrapping:
// on 32-bit targets a uint32 count above 2^31-1 would turn negative.
func TestCountIntSaturates(t *testing.T) {
	assert.Equal(t, 0, countInt(0))
	assert.Equal(t, 7, countInt(7))
	assert.Equal(t, math.MaxInt, countInt(math.MaxUint64))
	assert.Equal(t, math.MaxInt, countInt(uint64(math.MaxInt)))
	if math.MaxInt == math.MaxInt32 {
		assert.Equal(t, math.MaxInt, countInt(maxCount), "32-bit: saturated")
		assert.Equal(t, math.MaxInt, countInt(uint64(math.MaxInt32)+1))
	} else {
		assert.Equal(t, uint64(maxCount), uint64(countInt(maxCount)), "64-bit: exact")
	}
}

// Without a consecutive-failure policy the count of failures in a row
// still grows, up to 4,294,967,295. Stats and the state change that
// reports it never go negative on a 32-bit target, where int holds less:
// they saturate at math.MaxInt.
func TestFailureCountNeverNegative(t *testing.T) {
	b, err := New("big", WithTripPolicy(FailureRate(1, 10, LastCalls(10))))
	require.NoError(t, err)
	var seen []int
	b.OnStateChange(func(_ context.Context, e Event) { seen = append(seen, e.ConsecutiveFailures) })
	b.word.Store(makeWord(Closed, b.word.Load().gen(), false, uint32(maxCount-1)))
	assert.Equal(t, countInt(maxCount-1), b.Stats().FailureCount)
	assert.Positive(t, b.Stats().FailureCount)

	boom := errors.New("boom")
	require.ErrorIs(t, b.Execute(context.Background(), func(context.Context) error { return boom }), boom)
	assert.Equal(t, countInt(maxCount), b.Stats().FailureCount)
	assert.Positive(t, b.Stats().FailureCount)

	b.ForceOpen() // the state change carries the count it opened from
	s := b.Stats()
	require.Equal(t, Open, s.State)
	assert.Equal(t, countInt(maxCount), s.FailureCount)
	assert.Positive(t, s.FailureCount)
	require.Len(t, seen, 1)
	assert.Equal(t, countInt(maxCount), seen[0])
	assert.Positive(t, seen[0])
}
