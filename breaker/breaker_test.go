package breaker_test

import (
	"context"
	"errors"
	"strings"
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

var errIgnored = errors.New("not the dependency's fault")

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
		{name: "below threshold stays closed", steps: "fail fail", state: breaker.Closed, last: "ran"},
		{name: "threshold opens", steps: "fail fail fail", state: breaker.Open,
			changes: []string{"closed->open:failure_threshold"}, last: "ran"},
		{name: "success resets the count", steps: "fail fail ok fail fail", state: breaker.Closed, last: "ran"},
		{name: "ignored leaves the count alone", steps: "fail fail ignore fail", state: breaker.Open,
			changes: []string{"closed->open:failure_threshold"}, last: "ran"},
		{name: "open rejects", steps: "fail fail fail ok", state: breaker.Open,
			changes: []string{"closed->open:failure_threshold"}, last: "rejected"},
		{name: "open rejects until just before the timeout", steps: "fail fail fail +29.999s ok", state: breaker.Open,
			changes: []string{"closed->open:failure_threshold"}, last: "rejected"},
		{name: "timeout makes it half-open", steps: "fail fail fail +30s", state: breaker.HalfOpen,
			changes: []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout"}, last: "ran"},
		{name: "one trial success stays half-open", steps: "fail fail fail +30s ok", state: breaker.HalfOpen,
			changes: []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout"}, last: "ran"},
		{name: "all trials succeed closes", steps: "fail fail fail +30s ok ok", state: breaker.Closed,
			changes: []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout", "half_open->closed:trials_succeeded"}, last: "ran"},
		{name: "a failed trial reopens", steps: "fail fail fail +30s ok fail", state: breaker.Open,
			changes: []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout", "half_open->open:trial_failed"}, last: "ran"},
		{name: "reopen restarts the timeout", steps: "fail fail fail +30s fail +29s ok", state: breaker.Open,
			changes: []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout", "half_open->open:trial_failed"}, last: "rejected"},
		{name: "second recovery", steps: "fail fail fail +30s fail +30s ok ok", state: breaker.Closed,
			changes: []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout", "half_open->open:trial_failed",
				"open->half_open:recovery_timeout", "half_open->closed:trials_succeeded"}, last: "ran"},
		{name: "ignored trial frees its slot", steps: "fail fail fail +30s ignore ok ok", state: breaker.Closed,
			changes: []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout", "half_open->closed:trials_succeeded"}, last: "ran"},
		{name: "closed again counts from zero", steps: "fail fail fail +30s ok ok fail fail", state: breaker.Closed,
			changes: []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout", "half_open->closed:trials_succeeded"}, last: "ran"},
		{name: "force open rejects", steps: "force ok", state: breaker.Open,
			changes: []string{"closed->open:force_open"}, last: "rejected"},
		{name: "forced stays open past the timeout", steps: "force +1h ok", state: breaker.Open,
			changes: []string{"closed->open:force_open"}, last: "rejected"},
		{name: "force twice is one change", steps: "force force", state: breaker.Open,
			changes: []string{"closed->open:force_open"}},
		{name: "force an open breaker: held, no open->open change", steps: "fail fail fail force +1h", state: breaker.Open,
			changes: []string{"closed->open:failure_threshold"}, last: "ran"},
		{name: "reset releases force", steps: "force reset ok", state: breaker.Closed,
			changes: []string{"closed->open:force_open", "open->closed:reset"}, last: "ran"},
		{name: "reset clears the count", steps: "fail fail reset fail fail", state: breaker.Closed, last: "ran"},
		{name: "reset a closed breaker publishes nothing", steps: "reset", state: breaker.Closed},
		{name: "reset from half-open", steps: "fail fail fail +30s reset", state: breaker.Closed,
			changes: []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout", "half_open->closed:reset"}, last: "ran"},
		{name: "clock backwards does not stick open", steps: "fail fail fail -1h ok +30s", state: breaker.HalfOpen,
			changes: []string{"closed->open:failure_threshold", "open->half_open:recovery_timeout"}, last: "rejected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, clock := newClocked(t, breaker.WithFailureThreshold(3), breaker.WithRecoveryTimeout(30*time.Second), breaker.WithHalfOpenMaxCalls(2),
				breaker.WithFailurePredicate(func(err error) bool { return !errors.Is(err, errIgnored) }))
			rec := record(b.Events())
			last := ""
			for _, step := range strings.Fields(tc.steps) {
				if step[0] == '+' || step[0] == '-' {
					d, err := time.ParseDuration(step)
					require.NoError(t, err)
					clock.Advance(d)
					continue
				}
				switch step {
				case "reset":
					b.Reset()
					continue
				case "force":
					b.ForceOpen()
					continue
				}
				ran := false
				err := b.Execute(context.Background(), func(context.Context) error {
					ran = true
					switch step {
					case "fail":
						return errBoom
					case "ignore":
						return errIgnored
					}
					return nil
				})
				if ran {
					last = "ran"
				} else {
					require.ErrorIs(t, err, breaker.ErrOpen)
					last = "rejected"
				}
			}
			assert.Equal(t, tc.state, b.State())
			assert.Equal(t, tc.changes, rec.changes())
			assert.Equal(t, tc.last, last)
		})
	}
}
