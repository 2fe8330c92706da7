package breaker_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
)

// On the system clock an open breaker learns that its recovery timeout has
// passed from a timer, so that a rejection reads no clock; the transition
// itself stays lazy (the next call makes it) and exact. testing/synctest
// runs the real clock and timers in a bubble, so time.Sleep here is
// virtual.
func TestRecoveryTimerOnTheSystemClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, err := breaker.New("timer", breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Minute), breaker.WithHalfOpenMaxCalls(1))
		require.NoError(t, err)
		require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
		time.Sleep(time.Minute - time.Nanosecond)
		synctest.Wait()
		require.ErrorIs(t, b.Execute(context.Background(), succeed), breaker.ErrOpen, "1ns early")
		time.Sleep(time.Nanosecond)
		synctest.Wait() // the timer's goroutine has run
		require.NoError(t, b.Execute(context.Background(), succeed), "the trial is admitted on time")
		assert.Equal(t, breaker.Closed, b.State())

		// An open period that ends early (Reset, ForceOpen) stops its
		// timer: the next opening keeps its own full timeout.
		require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
		time.Sleep(30 * time.Second)
		b.Reset()
		require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
		time.Sleep(45 * time.Second)
		synctest.Wait()
		require.ErrorIs(t, b.Execute(context.Background(), succeed), breaker.ErrOpen, "the first period's timer does not end the second")
		time.Sleep(15 * time.Second)
		synctest.Wait()
		require.NoError(t, b.Execute(context.Background(), succeed))
		assert.Equal(t, breaker.Closed, b.State())
	})
}

// A backoff lengthens the open periods, and the timer follows each one.
func TestRecoveryTimerFollowsTheBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, err := breaker.New("backoff", breaker.WithFailureThreshold(1), breaker.WithHalfOpenMaxCalls(1),
			breaker.WithRecoveryBackoff(time.Second, time.Minute, 4, 0))
		require.NoError(t, err)
		require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
		for _, d := range []time.Duration{time.Second, 4 * time.Second, 16 * time.Second} {
			time.Sleep(d - time.Millisecond)
			synctest.Wait()
			require.ErrorIs(t, b.Execute(context.Background(), succeed), breaker.ErrOpen, "before %s", d)
			time.Sleep(time.Millisecond)
			synctest.Wait()
			require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom, "a failed trial after %s", d)
		}
	})
}
