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

// The specification's two tests, on a manual clock instead of time.sleep.

func TestSpecOpensAfterThreshold(t *testing.T) {
	b, _ := newClocked(t, breaker.WithFailureThreshold(3), breaker.WithRecoveryTimeout(time.Second))
	ran := 0
	failing := func(context.Context) error { ran++; return errBoom }

	for range 3 {
		err := b.Execute(context.Background(), failing)
		require.ErrorIs(t, err, errBoom) // the call ran and its error came back
	}
	assert.Equal(t, breaker.Open, b.State())

	err := b.Execute(context.Background(), failing)
	require.ErrorIs(t, err, breaker.ErrOpen)
	assert.Equal(t, 3, ran, "a rejected call must not run")
}

func TestSpecRecovers(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(2), breaker.WithRecoveryTimeout(time.Second), breaker.WithHalfOpenMaxCalls(2))
	sometimes := func(shouldFail bool) func(context.Context) (string, error) {
		return func(context.Context) (string, error) {
			if shouldFail {
				return "", errors.New("failed")
			}
			return "success", nil
		}
	}
	for range 2 {
		_, err := breaker.Do(context.Background(), b, sometimes(true))
		require.Error(t, err)
	}
	assert.Equal(t, breaker.Open, b.State())

	clock.Advance(1100 * time.Millisecond)

	r1, err := breaker.Do(context.Background(), b, sometimes(false))
	require.NoError(t, err)
	r2, err := breaker.Do(context.Background(), b, sometimes(false))
	require.NoError(t, err)
	assert.Equal(t, "success", r1)
	assert.Equal(t, "success", r2)
	assert.Equal(t, breaker.Closed, b.State())
}

// TestTransitions drives a breaker (threshold 3, timeout 30s, 2 trials)
// through scripts of steps and checks the state, every published change and
// the result of the last step.
//
// Steps: ok, fail, ignore (a call with that outcome), +D (advance the clock),
// reset, force.
func TestTransitions(t *testing.T) {
	tests := []struct {
		name    string
		steps   string
		state   breaker.State
		changes []string
		last    string // result of the last call step: ran, rejected
	}{
		{name: "below threshold stays closed", steps: "f f", state: breaker.Closed, last: "ran"},
		{name: "threshold opens", steps: "f f f", state: breaker.Open,
			changes: []string{"closed->open:failure_threshold"}, last: "ran"},
		{name: "success resets the count", steps: "f f s f f", state: breaker.Closed, last: "ran"},
		{name: "ignored leaves the count alone", steps: "f f i f", state: breaker.Open,
			changes: []string{"closed->open:failure_threshold"}, last: "ran"},
		{name: "open rejects", steps: "f f f s", state: breaker.Open,
			changes: []string{"closed->open:failure_threshold"}, last: "rejected"},
		{name: "open rejects until just before the timeout", steps: "f f f +29.999s s", state: breaker.Open,
			changes: []string{"closed->open:failure_threshold"}, last: "rejected"},
		{name: "timeout makes it half-open", steps: "f f f +30s", state: breaker.HalfOpen,
			changes: []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout"}, last: "ran"},
		{name: "one trial success stays half-open", steps: "f f f +30s s", state: breaker.HalfOpen,
			changes: []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout"}, last: "ran"},
		{name: "all trials succeed closes", steps: "f f f +30s s s", state: breaker.Closed,
			changes: []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout", "half_open->closed:trials_succeeded"}, last: "ran"},
		{name: "a failed trial reopens", steps: "f f f +30s s f", state: breaker.Open,
			changes: []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout", "half_open->open:trial_failed"}, last: "ran"},
		{name: "reopen restarts the timeout", steps: "f f f +30s f +29s s", state: breaker.Open,
			changes: []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout", "half_open->open:trial_failed"}, last: "rejected"},
		{name: "second recovery", steps: "f f f +30s f +30s s s", state: breaker.Closed,
			changes: []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout", "half_open->open:trial_failed",
				"open->half_open:recovery_timeout", "half_open->closed:trials_succeeded"}, last: "ran"},
		{name: "ignored trial frees its slot", steps: "f f f +30s i s s", state: breaker.Closed,
			changes: []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout", "half_open->closed:trials_succeeded"}, last: "ran"},
		{name: "closed again counts from zero", steps: "f f f +30s s s f f", state: breaker.Closed,
			changes: []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout", "half_open->closed:trials_succeeded"}, last: "ran"},
		{name: "force open rejects", steps: "force s", state: breaker.Open,
			changes: []string{"closed->open:force_open"}, last: "rejected"},
		{name: "forced stays open past the timeout", steps: "force +1h s", state: breaker.Open,
			changes: []string{"closed->open:force_open"}, last: "rejected"},
		{name: "force twice is one change", steps: "force force", state: breaker.Open,
			changes: []string{"closed->open:force_open"}},
		{name: "force an open breaker: held, no open->open change", steps: "f f f force +1h", state: breaker.Open,
			changes: []string{"closed->open:failure_threshold"}, last: "ran"},
		{name: "reset releases force", steps: "force reset s", state: breaker.Closed,
			changes: []string{"closed->open:force_open", "open->closed:reset"}, last: "ran"},
		{name: "reset clears the count", steps: "f f reset f f", state: breaker.Closed, last: "ran"},
		{name: "reset a closed breaker publishes nothing", steps: "reset", state: breaker.Closed},
		{name: "reset from half-open", steps: "f f f +30s reset", state: breaker.Closed,
			changes: []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout", "half_open->closed:reset"}, last: "ran"},
		{name: "clock backwards does not stick open", steps: "f f f -1h s +30s", state: breaker.HalfOpen,
			changes: []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout"}, last: "rejected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, clock := newClocked(t, breaker.WithFailureThreshold(3), breaker.WithRecoveryTimeout(30*time.Second), breaker.WithHalfOpenMaxCalls(2),
				breaker.WithFailurePredicate(func(err error) bool { return !errors.Is(err, errIgnored) }))
			rec := record(b.Events())
			last := play(t, b, clock, tc.steps)
			assert.Equal(t, tc.state, b.State())
			assert.Equal(t, tc.changes, rec.changes())
			assert.Equal(t, tc.last, last)
		})
	}
}

func TestStaleResultsCountButDoNotMoveState(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(2), breaker.WithHalfOpenMaxCalls(1))
	// A call admitted while closed is still running when the breaker opens
	// and then closes again; its failure must not count toward the new
	// closed period.
	inFlight := make(chan struct{})
	finish := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- b.Execute(context.Background(), func(context.Context) error {
			close(inFlight)
			<-finish
			return errBoom
		})
	}()
	<-inFlight
	require.Error(t, b.Execute(context.Background(), fail))
	require.Error(t, b.Execute(context.Background(), fail))
	require.Equal(t, breaker.Open, b.State())
	clock.Advance(breaker.DefaultRecoveryTimeout)
	require.NoError(t, b.Execute(context.Background(), succeed))
	require.Equal(t, breaker.Closed, b.State())
	require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom) // one failure in the new period

	close(finish)
	require.ErrorIs(t, <-done, errBoom)
	s := b.Stats()
	assert.Equal(t, breaker.Closed, s.State, "a stale failure must not open the breaker")
	assert.Equal(t, 1, s.FailureCount, "a stale failure must not add to the new period's count")
	assert.Equal(t, uint64(4), s.TotalFailures, "a stale failure still counts in the totals")
	assert.Equal(t, uint64(5), s.TotalCalls)
}

func TestForceOpenAndResetKeepTotals(t *testing.T) {
	b, clock := newClocked(t)
	require.NoError(t, b.Execute(context.Background(), succeed))
	require.Error(t, b.Execute(context.Background(), fail))
	b.ForceOpen()
	clock.Advance(24 * time.Hour)
	err := b.Execute(context.Background(), succeed)
	var oe *breaker.OpenError
	require.ErrorAs(t, err, &oe)
	assert.True(t, oe.Forced())
	assert.Equal(t, breaker.DefaultRecoveryTimeout, oe.RetryAfter(), "forced: the recovery timeout as a hint")
	assert.Contains(t, err.Error(), "forced open")
	s := b.Stats()
	assert.True(t, s.Forced)
	assert.Equal(t, breaker.Open, s.State)

	before := b.Stats()
	b.Reset()
	after := b.Stats()
	assert.Equal(t, breaker.Closed, after.State)
	assert.False(t, after.Forced)
	assert.Equal(t, 0, after.FailureCount)
	assert.Equal(t, before.TotalCalls, after.TotalCalls, "Reset never lowers totals")
	assert.Equal(t, before.TotalFailures, after.TotalFailures)
	assert.Equal(t, before.TotalRejected, after.TotalRejected)
	assert.Equal(t, t0.Add(24*time.Hour), after.LastStateChange)
}

// ForceOpen on an open breaker used to publish an open->open change, a
// series the cardinality sizing did not count. It now holds the breaker
// without a state change (Stats tells that it is forced) and publishes
// the operator's action as an EventAction.
func TestForceOpenOnOpenPublishesNoChange(t *testing.T) {
	b, _ := newClocked(t, breaker.WithFailureThreshold(1))
	rec := record(b.Events())
	require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
	b.ForceOpen()
	assert.Equal(t, []string{"closed->open:failure_threshold"}, rec.changes())
	s := b.Stats()
	assert.True(t, s.Forced)
	assert.Equal(t, breaker.Open, s.State)
	b.Reset()
	assert.Equal(t, []string{"closed->open:failure_threshold", "open->closed:reset"}, rec.changes())
	evs := rec.all()
	var actions []string
	for _, e := range evs {
		if e.Kind == breaker.EventAction {
			actions = append(actions, e.From.String()+"->"+e.To.String()+":"+e.Reason.String())
		}
	}
	assert.Equal(t, []string{"open->open:force_open"}, actions, "the operator's action is published as an action")
}
