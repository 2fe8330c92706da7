package breaker

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWordLayout(t *testing.T) {
	w := makeWord(HalfOpen, genMask, true, 0x0003_0002)
	assert.Equal(t, HalfOpen, w.state())
	assert.Equal(t, genMask, w.gen())
	assert.True(t, w.forced())
	assert.False(t, w.pending())
	assert.Equal(t, 2, w.inFlight())
	assert.Equal(t, 3, w.succeeded())
	assert.Equal(t, uint32(0x0003_0002), w.count())
	assert.False(t, w.closedIdle())
	assert.True(t, makeWord(Closed, 5, false, 9).closedIdle())
	assert.False(t, (makeWord(Closed, 5, false, 9) | pendingBit).closedIdle())
	assert.Equal(t, word(0), makeWord(Closed, genMask+1, false, 0).gen(), "the generation wraps")
}

// jumpGeneration moves b to a new closed period whose generation is g, as
// if the periods in between had happened.
func jumpGeneration(b *Breaker, g word) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.period.Load()
	np := &period{epoch: old.epoch + 1, gen: g, state: Closed, start: b.now()}
	np.firstTrial.Store(never)
	b.period.Store(np)
	b.word.Store(makeWord(Closed, g, false, 0))
}

// The generation in the word wraps after 2^28 transitions (a Reset of a
// closed breaker counts too). A call admitted 2^28 periods ago used to find
// its generation current again and move the newer period; the period it
// was admitted in now decides, and a pointer never wraps.
func TestStaleCallCannotMoveANewerPeriodAfterTheGenerationWraps(t *testing.T) {
	errBoom := errors.New("boom")
	b, err := New("wrap", WithFailureThreshold(2))
	require.NoError(t, err)
	early, err := b.Allow(context.Background())
	require.NoError(t, err)
	require.Equal(t, word(0), early.p.gen)

	jumpGeneration(b, genMask) // 2^28-1 periods later
	b.Reset()                  // one more: the generation is 0 again
	require.Equal(t, word(0), b.word.Load().gen())
	require.NotSame(t, early.p, b.period.Load())

	require.ErrorIs(t, b.Execute(context.Background(), func(context.Context) error { return errBoom }), errBoom)
	early.Done(errBoom) // stale: must not make the second consecutive failure
	s := b.Stats()
	assert.Equal(t, Closed, s.State)
	assert.Equal(t, 1, s.FailureCount)
	assert.Equal(t, uint64(2), s.TotalFailures, "the stale call still counts in the totals")
}
