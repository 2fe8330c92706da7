package breaker_test

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
)

func TestFailureRateCountWindow(t *testing.T) {
	tests := []struct {
		name   string
		script string
		state  breaker.State
		ratio  float64
		calls  int
	}{
		{name: "below min calls never trips", script: "ffff", state: breaker.Closed, ratio: 1, calls: 4},
		{name: "trips at min calls when over the ratio", script: "fffff", state: breaker.Open},
		{name: "exactly the ratio trips", script: "sssss fffff", state: breaker.Open},
		{name: "just under the ratio stays closed", script: "ssssss ffff", state: breaker.Closed, ratio: 0.4, calls: 10},
		{name: "failures not consecutive still count", script: "fsfsfsfsfs", state: breaker.Open},
		{name: "old calls slide out of the window", script: "ssssss ffff ssssssssss f", state: breaker.Closed, ratio: 0.1, calls: 10},
		{name: "ignored calls do not count", script: "sssss iiiiii ffff", state: breaker.Closed, ratio: 4.0 / 9, calls: 9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, clock := newClocked(t, breaker.WithTripPolicy(breaker.FailureRate(0.5, 5, breaker.LastCalls(10))))
			rec := record(b.Events())
			play(t, b, clock, tc.script)
			s := b.Stats()
			assert.Equal(t, tc.state, s.State)
			if tc.state == breaker.Open {
				assert.Equal(t, []string{"closed->open:failure_rate"}, rec.changes())
				return
			}
			require.NotNil(t, s.FailureRate)
			assert.InDelta(t, tc.ratio, s.FailureRate.Ratio, 1e-9)
			assert.Equal(t, tc.calls, s.FailureRate.Calls)
			assert.Equal(t, 5, s.FailureRate.MinCalls)
			assert.Equal(t, 0.5, s.FailureRate.Threshold)
		})
	}
}

func TestFailureRateTimeWindow(t *testing.T) {
	b, clock := newClocked(t, breaker.WithTripPolicy(breaker.FailureRate(0.5, 4, breaker.LastDuration(10*time.Second, 5))))
	// Buckets are 2s wide. Three failures now...
	play(t, b, clock, "fff")
	// ...then 10s later they have rolled out: these three alone stay below
	// min calls, and the window holds only them.
	play(t, b, clock, "+10s ssf")
	s := b.Stats()
	assert.Equal(t, breaker.Closed, s.State)
	assert.Equal(t, 3, s.FailureRate.Calls)
	assert.Equal(t, 1, s.FailureRate.Count)

	// Within the window the counts add up across buckets and trip.
	play(t, b, clock, "+2s f +2s f")
	assert.Equal(t, breaker.Open, b.State())
}

func TestTimeWindowBucketRollover(t *testing.T) {
	b, clock := newClocked(t, breaker.WithTripPolicy(breaker.FailureRate(1, 100, breaker.LastDuration(3*time.Second, 3))))
	play(t, b, clock, "ff +1s ss +1s f") // buckets: [ff][ss][f]
	assert.Equal(t, 5, b.Stats().FailureRate.Calls)
	clock.Advance(time.Second) // the first bucket expires
	assert.Equal(t, 3, b.Stats().FailureRate.Calls)
	assert.Equal(t, 1, b.Stats().FailureRate.Count)
	clock.Advance(time.Hour) // everything expires at once
	assert.Equal(t, 0, b.Stats().FailureRate.Calls)
	clock.Advance(-2 * time.Hour) // a clock that goes back keeps the newest bucket
	play(t, b, clock, "f")
	assert.Equal(t, 1, b.Stats().FailureRate.Calls)
}

func TestSlowCallPolicy(t *testing.T) {
	b, clock := newClocked(t, breaker.WithTripPolicy(
		breaker.ConsecutiveFailures(100),
		breaker.SlowCalls(time.Second, 0.5, 4, breaker.LastCalls(4)),
	))
	rec := record(b.Events())
	slowOK := func(ctx context.Context) (string, error) {
		clock.Advance(1500 * time.Millisecond)
		return "late but fine", nil
	}
	fast := func(ctx context.Context) (string, error) { clock.Advance(10 * time.Millisecond); return "fast", nil }

	v, err := breaker.Do(context.Background(), b, slowOK)
	require.NoError(t, err)
	assert.Equal(t, "late but fine", v, "a slow success still returns its value")
	_, _ = breaker.Do(context.Background(), b, fast)
	_, _ = breaker.Do(context.Background(), b, fast)
	assert.Equal(t, breaker.Closed, b.State())
	_, _ = breaker.Do(context.Background(), b, slowOK) // 2 of 4 slow
	assert.Equal(t, breaker.Open, b.State())
	assert.Equal(t, []string{"closed->open:slow_calls"}, rec.changes())
	s := b.Stats()
	assert.Equal(t, uint64(2), s.TotalSlowCalls)
	assert.Equal(t, uint64(4), s.TotalSuccesses, "slow calls are still successes")
}

func TestPoliciesCombine(t *testing.T) {
	opts := breaker.WithTripPolicy(breaker.ConsecutiveFailures(3), breaker.FailureRate(0.5, 6, breaker.LastCalls(6)))
	b, clock := newClocked(t, opts)
	play(t, b, clock, "fff")
	assert.Equal(t, breaker.Open, b.State(), "the consecutive policy trips first")

	b2, clock2 := newClocked(t, opts)
	rec := record(b2.Events())
	play(t, b2, clock2, "fsfsfs")
	assert.Equal(t, breaker.Open, b2.State(), "the rate policy trips without 3 in a row")
	assert.Equal(t, []string{"closed->open:failure_rate"}, rec.changes())

	// WithFailureThreshold after WithTripPolicy adds the consecutive policy.
	b3, clock3 := newClocked(t, breaker.WithTripPolicy(breaker.FailureRate(0.9, 10, breaker.LastCalls(10))), breaker.WithFailureThreshold(2))
	play(t, b3, clock3, "ff")
	assert.Equal(t, breaker.Open, b3.State())

	// Without the consecutive policy, failures in a row alone never trip.
	b4, clock4 := newClocked(t, breaker.WithTripPolicy(breaker.FailureRate(0.9, 10, breaker.LastCalls(10))))
	play(t, b4, clock4, "fffffffff")
	assert.Equal(t, breaker.Closed, b4.State())
	assert.Equal(t, 9, b4.Stats().FailureCount, "the count is still reported")
}

func TestWindowClearsOnTransition(t *testing.T) {
	b, clock := newClocked(t, breaker.WithTripPolicy(breaker.FailureRate(0.5, 2, breaker.LastCalls(10))), breaker.WithHalfOpenMaxCalls(1))
	play(t, b, clock, "ff")
	require.Equal(t, breaker.Open, b.State())
	play(t, b, clock, "+60s s")
	require.Equal(t, breaker.Closed, b.State())
	s := b.Stats()
	assert.Equal(t, 0, s.FailureRate.Calls, "the new closed period starts with an empty window")
	play(t, b, clock, "ssf")
	assert.Equal(t, breaker.Closed, b.State(), "the failures of the last period do not count")
}

func TestRecoveryBackoff(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithHalfOpenMaxCalls(1),
		breaker.WithRecoveryBackoff(10*time.Second, 45*time.Second, 2, 0))
	retryAfter := func() time.Duration {
		var oe *breaker.OpenError
		require.ErrorAs(t, b.Execute(context.Background(), succeed), &oe)
		return oe.RetryAfter()
	}
	play(t, b, clock, "f")
	assert.Equal(t, 10*time.Second, retryAfter())
	// Each failed probe doubles the next open period, up to the cap.
	for _, want := range []time.Duration{20 * time.Second, 40 * time.Second, 45 * time.Second, 45 * time.Second} {
		clock.Advance(retryAfter())
		require.Equal(t, breaker.HalfOpen, b.State())
		play(t, b, clock, "f")
		require.Equal(t, breaker.Open, b.State())
		assert.Equal(t, want, retryAfter())
		clock.Advance(want - time.Nanosecond)
		assert.Equal(t, breaker.Open, b.State(), "still open just before %s", want)
		clock.Advance(-(want - time.Nanosecond))
	}
	// A successful close starts again from the initial period.
	clock.Advance(45 * time.Second)
	play(t, b, clock, "s f")
	assert.Equal(t, 10*time.Second, retryAfter())
}

func TestRecoveryBackoffJitter(t *testing.T) {
	for range 50 {
		b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithRecoveryBackoff(10*time.Second, time.Minute, 2, 0.2))
		play(t, b, clock, "f")
		var oe *breaker.OpenError
		require.ErrorAs(t, b.Execute(context.Background(), succeed), &oe)
		assert.GreaterOrEqual(t, oe.RetryAfter(), 8*time.Second)
		assert.LessOrEqual(t, oe.RetryAfter(), 12*time.Second)
	}
}

func TestShadowMode(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(2), breaker.WithHalfOpenMaxCalls(1), breaker.WithShadowMode(true))
	rec := record(b.Events())
	assert.True(t, b.ShadowMode())
	play(t, b, clock, "ff")
	require.Equal(t, breaker.Open, b.State(), "the state machine runs as usual")

	ran := 0
	for range 3 {
		err := b.Execute(context.Background(), func(context.Context) error { ran++; return errBoom })
		require.ErrorIs(t, err, errBoom, "shadow mode never rejects: the call runs and its error comes back")
	}
	assert.Equal(t, 3, ran)
	s := b.Stats()
	assert.Equal(t, uint64(3), s.TotalShadowRejected)
	assert.Zero(t, s.TotalRejected)
	assert.Equal(t, uint64(2), s.TotalFailures, "shadowed outcomes do not count as failures")
	assert.Equal(t, s.TotalCalls, s.TotalSuccesses+s.TotalFailures+s.TotalIgnored+s.TotalRejected+s.TotalShadowRejected)
	assert.True(t, s.Shadow)

	var outcomes []breaker.Outcome
	for _, e := range rec.all() {
		if e.Kind == breaker.EventCall {
			outcomes = append(outcomes, e.Outcome)
		}
	}
	assert.Equal(t, []breaker.Outcome{breaker.OutcomeFailure, breaker.OutcomeFailure,
		breaker.OutcomeShadowRejected, breaker.OutcomeShadowRejected, breaker.OutcomeShadowRejected}, outcomes)

	// Half-open: the trial is a real trial, the extra call is shadowed.
	play(t, b, clock, "+60s")
	inside, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- b.Execute(context.Background(), func(context.Context) error { close(inside); <-release; return nil })
	}()
	<-inside
	require.NoError(t, b.Execute(context.Background(), succeed))
	close(release)
	require.NoError(t, <-done)
	assert.Equal(t, breaker.Closed, b.State())
	assert.Equal(t, uint64(4), b.Stats().TotalShadowRejected)

	// Turned off at run time, the breaker rejects for real.
	b.SetShadowMode(false)
	play(t, b, clock, "ff")
	assert.ErrorIs(t, b.Execute(context.Background(), succeed), breaker.ErrOpen)
}

func TestReconfigure(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(5))
	play(t, b, clock, "s fff")
	before := b.Stats()

	require.NoError(t, b.Reconfigure(breaker.WithFailureThreshold(4), breaker.WithRecoveryTimeout(time.Second)))
	after := b.Stats()
	assert.Equal(t, before, after, "state, counts and totals survive")
	play(t, b, clock, "f")
	assert.Equal(t, breaker.Open, b.State(), "the new threshold applies to the count so far")
	play(t, b, clock, "+1s")
	assert.Equal(t, breaker.HalfOpen, b.State(), "the new timeout applies to the next opening")

	// Invalid settings change nothing.
	err := b.Reconfigure(breaker.WithFailureThreshold(1), breaker.WithHalfOpenMaxCalls(0))
	require.ErrorIs(t, err, breaker.ErrInvalidConfig)
	assert.Contains(t, err.Error(), "half_open_max_calls")
	err = b.Reconfigure(breaker.WithClock(clock))
	require.ErrorIs(t, err, breaker.ErrInvalidConfig)
	err = b.Reconfigure(breaker.WithEventBus(nil))
	require.ErrorIs(t, err, breaker.ErrInvalidConfig)
	play(t, b, clock, "sss")
	assert.Equal(t, breaker.Closed, b.State(), "still 3 trials: the refused settings did not apply")

	// A policy can be added at run time, and a kept window keeps its counts.
	require.NoError(t, b.Reconfigure(breaker.WithTripPolicy(breaker.FailureRate(0.5, 4, breaker.LastCalls(4)))))
	play(t, b, clock, "ff")
	require.NoError(t, b.Reconfigure(breaker.WithRecoveryTimeout(2*time.Second)))
	assert.Equal(t, 2, b.Stats().FailureRate.Calls)
	play(t, b, clock, "sf")
	assert.Equal(t, breaker.Open, b.State())
}

func TestPolicyStrings(t *testing.T) {
	assert.Equal(t, "consecutive_failures(5)", breaker.ConsecutiveFailures(5).String())
	assert.Equal(t, "failure_rate(0.5 of last 100 calls, min 20)", breaker.FailureRate(0.5, 20, breaker.LastCalls(100)).String())
	assert.Equal(t, "slow_calls(0.8 slower than 2s of last 1m0s in 6 buckets, min 10)",
		breaker.SlowCalls(2*time.Second, 0.8, 10, breaker.LastDuration(time.Minute, 6)).String())
	assert.Equal(t, "failure_rate", breaker.ReasonFailureRate.String())
	assert.Equal(t, "slow_calls", breaker.ReasonSlowCalls.String())
	assert.Equal(t, "half_open_timeout", breaker.ReasonHalfOpenTimeout.String())
	assert.Equal(t, "shadow_rejected", breaker.OutcomeShadowRejected.String())
}

func TestWindowStatsJSON(t *testing.T) {
	b, clock := newClocked(t, breaker.WithTripPolicy(breaker.FailureRate(0.5, 4, breaker.LastCalls(10))))
	play(t, b, clock, "sf")
	data, err := json.Marshal(b.Stats())
	require.NoError(t, err)
	assert.Contains(t, string(data), `"failure_rate":{"calls":2,"count":1,"ratio":0.5,"threshold":0.5,"min_calls":4}`)
	assert.NotContains(t, string(data), "slow_call_rate")
	var back breaker.Stats
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, b.Stats(), back)
}

func TestHugeRecoveryTimeoutDoesNotWrap(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(math.MaxInt64-20))
	clock.Advance(22 * time.Nanosecond)
	play(t, b, clock, "f")
	assert.Equal(t, breaker.Open, b.State(), "a deadline past the end of time saturates instead of wrapping")
	var oe *breaker.OpenError
	require.ErrorAs(t, b.Execute(context.Background(), succeed), &oe)
	assert.Greater(t, oe.RetryAfter(), 200*365*24*time.Hour)
	clock.Advance(-time.Hour)
	assert.Positive(t, oe.RetryAfter())
}

// config.openFor computes a backoff period in float64 and
// converts it back with int64(d). float64(math.MaxInt64) rounds up to
// 2^63, which int64 cannot hold, and a positive jitter goes further past
// it; converting an out-of-range float to int64 is implementation-defined
// (on amd64 it gives math.MinInt64), and max(1, ...) then makes the open
// period 1ns. So a backoff whose max is math.MaxInt64 (valid, and the
// natural "practically never", as a recovery timeout near it is supported
// and "keeps it open") probes at once, on the first opening when initial
// is that large, or once the periods have grown to the max.
func TestRecoveryBackoffNearMaxInt64KeepsItOpen(t *testing.T) {
	for _, jitter := range []float64{0, 0.5} {
		b, clock := newClocked(t,
			breaker.WithFailureThreshold(1),
			breaker.WithHalfOpenMaxCalls(1),
			breaker.WithRecoveryBackoff(time.Duration(math.MaxInt64), time.Duration(math.MaxInt64), 1, jitter),
		)
		for i := range 16 { // the jitter is random: run a few openings
			require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
			clock.Advance(time.Hour)
			require.Equalf(t, breaker.Open, b.State(), "jitter %v: opening %d ended after an hour", jitter, i)
			b.Reset()
		}
	}
}

// A small multiplier goes on growing the open period past 64 failed probes
// until it reaches max: each reopening multiplies the last period.
func TestRecoveryBackoffKeepsGrowingPast64Probes(t *testing.T) {
	const mult = 1.05
	b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithHalfOpenMaxCalls(1),
		breaker.WithRecoveryBackoff(time.Second, time.Hour, mult, 0))
	play(t, b, clock, "f")
	want := float64(time.Second)
	for k := 1; k <= 100; k++ {
		clock.Advance(time.Hour)
		require.Equal(t, breaker.HalfOpen, b.State())
		play(t, b, clock, "f")
		want *= mult
		var oe *breaker.OpenError
		require.ErrorAs(t, b.Execute(context.Background(), succeed), &oe)
		require.InEpsilonf(t, want, float64(oe.RetryAfter()), 1e-9, "after %d failed probes", k)
	}
}
