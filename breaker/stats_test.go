package breaker_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
}

func TestStatsJSONGolden(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(2))
	fresh, err := json.MarshalIndent(b.Stats(), "", "  ")
	require.NoError(t, err)
	golden(t, "stats_new.json", append(fresh, '\n'))

	require.NoError(t, b.Execute(context.Background(), succeed))
	clock.Advance(90 * time.Second)
	require.Error(t, b.Execute(context.Background(), fail))
	require.Error(t, b.Execute(context.Background(), fail))
	require.ErrorIs(t, b.Execute(context.Background(), succeed), breaker.ErrOpen)
	open, err := json.MarshalIndent(b.Stats(), "", "  ")
	require.NoError(t, err)
	golden(t, "stats_open.json", append(open, '\n'))
}

func TestStatsJSONRoundTrip(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(1))
	clock.Advance(time.Second)
	require.Error(t, b.Execute(context.Background(), fail))
	b.ForceOpen()
	want := b.Stats()
	data, err := json.Marshal(want)
	require.NoError(t, err)
	var got breaker.Stats
	require.NoError(t, json.Unmarshal(data, &got))
	assert.Equal(t, want, got)

	var empty breaker.Stats
	require.NoError(t, json.Unmarshal([]byte(`{"state":"closed","last_failure_time":null}`), &empty))
	assert.True(t, empty.LastFailureTime.IsZero())
	assert.Error(t, json.Unmarshal([]byte(`{"state":"half-open"}`), &empty))
}

func TestStatsFields(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(2), breaker.WithHalfOpenMaxCalls(2))
	s := b.Stats()
	assert.Equal(t, breaker.Stats{Name: "test", State: breaker.Closed}, s, "a new breaker has zero times")

	clock.Advance(time.Second)
	require.Error(t, b.Execute(context.Background(), fail))
	s = b.Stats()
	assert.Equal(t, 1, s.FailureCount)
	assert.Equal(t, t0.Add(time.Second), s.LastFailureTime)
	assert.True(t, s.LastStateChange.IsZero())

	require.Error(t, b.Execute(context.Background(), fail))
	clock.Advance(breaker.DefaultRecoveryTimeout)
	require.NoError(t, b.Execute(context.Background(), succeed))
	s = b.Stats()
	assert.Equal(t, breaker.HalfOpen, s.State)
	assert.Equal(t, 2, s.FailureCount, "the count that opened it")
	assert.Equal(t, 1, s.SuccessCount)
	assert.Equal(t, t0.Add(time.Second+breaker.DefaultRecoveryTimeout), s.LastStateChange)
	assert.Equal(t, uint64(3), s.TotalCalls)
	assert.Equal(t, uint64(2), s.TotalFailures)
	assert.Equal(t, uint64(1), s.TotalSuccesses)
}

func TestStateStrings(t *testing.T) {
	assert.Equal(t, "closed", breaker.Closed.String())
	assert.Equal(t, "open", breaker.Open.String())
	assert.Equal(t, "half_open", breaker.HalfOpen.String())
	assert.Equal(t, "State(9)", breaker.State(9).String())
	assert.Equal(t, breaker.Closed, breaker.State(0), "the zero value is closed")
	for _, s := range []breaker.State{breaker.Closed, breaker.Open, breaker.HalfOpen} {
		text, err := s.MarshalText()
		require.NoError(t, err)
		var back breaker.State
		require.NoError(t, back.UnmarshalText(text))
		assert.Equal(t, s, back)
	}
	var bad breaker.State
	assert.Error(t, bad.UnmarshalText([]byte("half-open")))
	_, err := breaker.State(9).MarshalText()
	assert.Error(t, err)
	assert.Equal(t, []string{"success", "failure", "ignored", "rejected"},
		[]string{breaker.OutcomeSuccess.String(), breaker.OutcomeFailure.String(), breaker.OutcomeIgnored.String(), breaker.OutcomeRejected.String()})
}

func TestNowReadsTheBreakersClock(t *testing.T) {
	b, clock := newClocked(t)
	assert.Equal(t, t0, b.Now())
	clock.Advance(90 * time.Second)
	assert.Equal(t, t0.Add(90*time.Second), b.Now())

	real, err := breaker.New("real")
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), real.Now(), time.Minute)
}

func TestRetryAfterCountsDown(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Minute))
	require.Error(t, b.Execute(context.Background(), fail))
	clock.Advance(20 * time.Second)
	err := b.Execute(context.Background(), succeed)
	var oe *breaker.OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, breaker.Open, oe.State())
	assert.False(t, oe.Forced())
	assert.Equal(t, 40*time.Second, oe.RetryAfter())
	assert.Equal(t, `breaker: circuit "test" is open`, err.Error())
	clock.Advance(30 * time.Second)
	assert.Equal(t, 10*time.Second, oe.RetryAfter())
	clock.Advance(time.Hour)
	assert.Zero(t, oe.RetryAfter())
}

func TestRejectionsShareOneErrorPerPeriod(t *testing.T) {
	b, _ := newClocked(t, breaker.WithFailureThreshold(1))
	require.Error(t, b.Execute(context.Background(), fail))
	e1 := b.Execute(context.Background(), succeed)
	e2 := b.Execute(context.Background(), succeed)
	assert.Same(t, e1, e2)
}

// Peek reports a due transition without making it, so that a metrics
// collection never runs subscribers (the OTel SDK holds its own lock
// around collection callbacks). State, Stats and calls make it as before.
func TestPeekNeverPublishes(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Second))
	rec := record(b.Events())
	require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
	clock.Advance(1500 * time.Millisecond)
	s := b.Peek()
	assert.Equal(t, breaker.HalfOpen, s.State, "reported as the next call will find it")
	assert.Equal(t, t0.Add(time.Second), s.LastStateChange, "since the recovery timeout passed")
	assert.Equal(t, 1, s.FailureCount)
	assert.Equal(t, []string{"closed->open:failure_threshold"}, rec.changes(), "no change published")
	assert.Equal(t, breaker.HalfOpen, b.Stats().State)
	assert.Equal(t, []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout"}, rec.changes())
}
