package events

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAsyncCloseWaitsForPublishInFlight drives the Publish/Close protocol
// step by step: a Publish that has passed its closed check when Close
// starts must still be able to enqueue, and the last such Publish, not
// Close, then closes the queue.
func TestAsyncCloseWaitsForPublishInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := NewAsync[int](4)
		var got []int
		b.Subscribe(HandlerFunc[int](func(_ context.Context, e int) { got = append(got, e) }))

		// Publisher A: registered as in flight and past its closed check.
		require.Zero(t, b.state.Add(1)&asyncClosed)

		closed := make(chan struct{})
		go func() {
			assert.NoError(t, b.Close())
			close(closed)
		}()
		synctest.Wait()
		require.Equal(t, uint64(asyncClosed|1), b.state.Load(), "closed, queue still open, A in flight")

		// Publisher B arrives after Close: dropped, and leaving must not
		// close the queue under A.
		b.Publish(ctx, 2)
		assert.Equal(t, uint64(1), b.Dropped())
		require.Equal(t, uint64(asyncClosed|1), b.state.Load())

		// A finishes its send and leaves: now the queue closes.
		b.queue <- asyncItem[int]{ctx: ctx, e: 1}
		b.leave()
		<-closed

		assert.Equal(t, []int{1}, got)
		assert.Equal(t, uint64(asyncClosed|asyncDrained), b.state.Load())
		assert.NoError(t, b.Close())
	})
}
