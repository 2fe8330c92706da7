package breaker_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
)

// openThenHalfOpen trips b (threshold 1) and moves the clock past the timeout.
func openThenHalfOpen(t *testing.T, b *breaker.Breaker, clock *breakertest.Clock, timeout time.Duration) {
	t.Helper()
	require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
	require.Equal(t, breaker.Open, b.State())
	clock.Advance(timeout)
	require.Equal(t, breaker.HalfOpen, b.State())
}

func TestHalfOpenAdmitsAtMostMaxCalls(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithHalfOpenMaxCalls(3))
	openThenHalfOpen(t, b, clock, breaker.DefaultRecoveryTimeout)

	// Three trials hold their slots; the fourth call is rejected while they run.
	release := make(chan struct{})
	var running sync.WaitGroup
	var done sync.WaitGroup
	for range 3 {
		running.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			assert.NoError(t, b.Execute(context.Background(), func(context.Context) error {
				running.Done()
				<-release
				return nil
			}))
		}()
	}
	running.Wait()
	err := b.Execute(context.Background(), succeed)
	var oe *breaker.OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, breaker.HalfOpen, oe.State())
	assert.Equal(t, "test", oe.Name())
	assert.Zero(t, oe.RetryAfter())
	close(release)
	done.Wait()
	assert.Equal(t, breaker.Closed, b.State())
	s := b.Stats()
	assert.Equal(t, uint64(1), s.TotalRejected)
	assert.Equal(t, uint64(3), s.TotalSuccesses)
}

func TestHalfOpenRacingCallersNeverExceedMax(t *testing.T) {
	for _, max := range []int{1, 2, 5} {
		b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithHalfOpenMaxCalls(max))
		openThenHalfOpen(t, b, clock, breaker.DefaultRecoveryTimeout)

		var inside, peak, admitted atomic.Int32
		release := make(chan struct{})
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_ = b.Execute(context.Background(), func(context.Context) error {
					admitted.Add(1)
					n := inside.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					<-release
					inside.Add(-1)
					return nil
				})
			}()
		}
		close(start)
		// Wait until the admitted trials are inside and the rest rejected.
		for b.Stats().TotalRejected+uint64(admitted.Load()) < 50 {
			runtime.Gosched()
		}
		close(release)
		wg.Wait()
		assert.Equal(t, int32(max), peak.Load(), "max=%d", max)
		assert.Equal(t, int32(max), admitted.Load(), "max=%d", max)
		assert.Equal(t, breaker.Closed, b.State())
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

func TestStaleTrialAfterReset(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithHalfOpenMaxCalls(1))
	openThenHalfOpen(t, b, clock, breaker.DefaultRecoveryTimeout)
	inFlight, finish, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- b.Execute(context.Background(), func(context.Context) error {
			close(inFlight)
			<-finish
			return errBoom
		})
	}()
	<-inFlight
	b.Reset()
	close(finish)
	require.ErrorIs(t, <-done, errBoom)
	assert.Equal(t, breaker.Closed, b.State(), "a trial from before Reset must not reopen the breaker")
	assert.Equal(t, 0, b.Stats().FailureCount)
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

func TestDefaultPredicate(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		cancel  bool
		outcome breaker.Outcome
	}{
		{name: "nil is a success", err: nil, outcome: breaker.OutcomeSuccess},
		{name: "nil after cancel is a success", err: nil, cancel: true, outcome: breaker.OutcomeSuccess},
		{name: "an error is a failure", err: errBoom, outcome: breaker.OutcomeFailure},
		{name: "deadline exceeded is a failure", err: context.DeadlineExceeded, outcome: breaker.OutcomeFailure},
		{name: "canceled with the caller's context done is ignored", err: context.Canceled, cancel: true, outcome: breaker.OutcomeIgnored},
		{name: "any error after the caller cancelled is ignored", err: errBoom, cancel: true, outcome: breaker.OutcomeIgnored},
		{name: "canceled while the caller is still waiting is a failure", err: context.Canceled, outcome: breaker.OutcomeFailure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := newClocked(t)
			rec := record(b.Events())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			err := b.Execute(ctx, func(context.Context) error {
				if tc.cancel {
					cancel()
				}
				return tc.err
			})
			assert.Equal(t, tc.err, err, "Execute returns fn's error unchanged")
			evs := rec.all()
			require.Len(t, evs, 1)
			assert.Equal(t, tc.outcome, evs[0].Outcome)
			assert.Equal(t, tc.err, evs[0].Err)
		})
	}
}

func TestCustomPredicate(t *testing.T) {
	errNotFound := errors.New("not found")
	b, _ := newClocked(t, breaker.WithFailureThreshold(2),
		breaker.WithFailurePredicate(func(err error) bool { return !errors.Is(err, errNotFound) }))
	for range 10 {
		require.ErrorIs(t, b.Execute(context.Background(), func(context.Context) error { return errNotFound }), errNotFound)
	}
	s := b.Stats()
	assert.Equal(t, breaker.Closed, s.State)
	assert.Equal(t, uint64(10), s.TotalIgnored)
	assert.Zero(t, s.FailureCount)
	require.Error(t, b.Execute(context.Background(), fail))
	require.Error(t, b.Execute(context.Background(), fail))
	assert.Equal(t, breaker.Open, b.State())
}

func TestPanicIsAFailureAndRepanics(t *testing.T) {
	b, _ := newClocked(t, breaker.WithFailureThreshold(1))
	rec := record(b.Events())
	type boom struct{ code int }
	func() {
		defer func() {
			assert.Equal(t, boom{7}, recover(), "the original panic value comes back")
		}()
		_ = b.Execute(context.Background(), func(context.Context) error { panic(boom{7}) })
		t.Error("Execute returned instead of re-panicking")
	}()
	assert.Equal(t, breaker.Open, b.State())
	assert.Equal(t, uint64(1), b.Stats().TotalFailures)
	evs := rec.all()
	require.NotEmpty(t, evs)
	var pe *breaker.PanicError
	require.ErrorAs(t, evs[0].Err, &pe)
	assert.Equal(t, boom{7}, pe.Value)
}

func TestGoexitReleasesTrialSlot(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithHalfOpenMaxCalls(1))
	openThenHalfOpen(t, b, clock, breaker.DefaultRecoveryTimeout)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Execute(context.Background(), func(context.Context) error { defer runtime.Goexit(); return nil })
	}()
	<-done
	require.NoError(t, b.Execute(context.Background(), succeed), "the slot of a trial that called Goexit is free again")
	assert.Equal(t, breaker.Closed, b.State())
	assert.Equal(t, uint64(1), b.Stats().TotalIgnored)
}

func TestNilFunction(t *testing.T) {
	b, _ := newClocked(t)
	assert.ErrorIs(t, b.Execute(context.Background(), nil), breaker.ErrNilFunc)
	_, err := breaker.Do[int](context.Background(), b, nil)
	assert.ErrorIs(t, err, breaker.ErrNilFunc)
	_, err = breaker.Wrap[int](b, nil)(context.Background())
	assert.ErrorIs(t, err, breaker.ErrNilFunc)
	assert.Zero(t, b.Stats().TotalCalls)
}

func TestInvalidConfig(t *testing.T) {
	tests := []struct {
		field string
		opt   breaker.Option
	}{
		{"failure_threshold", breaker.WithFailureThreshold(0)},
		{"failure_threshold", breaker.WithFailureThreshold(-1)},
		{"failure_threshold", breaker.WithFailureThreshold(1 << 33)},
		{"recovery_timeout", breaker.WithRecoveryTimeout(0)},
		{"recovery_timeout", breaker.WithRecoveryTimeout(-time.Second)},
		{"half_open_max_calls", breaker.WithHalfOpenMaxCalls(0)},
		{"half_open_max_calls", breaker.WithHalfOpenMaxCalls(1 << 16)},
		{"failure_predicate", breaker.WithFailurePredicate(nil)},
		{"clock", breaker.WithClock(nil)},
		{"max_breakers", breaker.WithMaxBreakers(0)},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			_, err := breaker.New("x", tc.opt)
			require.ErrorIs(t, err, breaker.ErrInvalidConfig)
			var ce *breaker.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.field, ce.Field)
			assert.Contains(t, err.Error(), tc.field)

			_, err = breaker.NewRegistry().Get("x", tc.opt)
			require.ErrorIs(t, err, breaker.ErrInvalidConfig, "Get validates like New")
		})
	}
	// Limits themselves are valid.
	_, err := breaker.New("x", breaker.WithFailureThreshold(1), breaker.WithHalfOpenMaxCalls(65535), breaker.WithRecoveryTimeout(time.Nanosecond))
	require.NoError(t, err)
}

func TestNameValidation(t *testing.T) {
	tests := []struct {
		name  string
		input string
		ok    bool
	}{
		{"plain", "model_server", true},
		{"unicode", "données-api", true},
		{"max length", strings.Repeat("a", 255), true},
		{"empty", "", false},
		{"too long", strings.Repeat("a", 256), false},
		{"invalid utf-8", "bad\xff", false},
		{"newline", "a\nb", false},
		{"nul", "a\x00b", false},
		{"del", "a\x7fb", false},
		{"bidi override", "admin\u202egnp.exe", false},
		{"zero-width space", "pay\u200bments", false},
		{"line separator", "a\u2028b", false},
		{"dot", ".", false},
		{"dots", "..", false},
		{"leading dot is fine", ".hidden", true},
		{"dotted", "api.example.com", true},
		{"inner space is fine", "model server", true},
		{"trailing space", "db ", false},
		{"leading space", " db", false},
		{"trailing tab", "db\t", false},
		{"no-break space", "d\u00a0b", false},
		{"ideographic space", "d\u3000b", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := breaker.New(tc.input)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, breaker.ErrInvalidConfig)
			var ce *breaker.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, "name", ce.Field)
			assert.NotContains(t, err.Error(), "\n", "the message escapes what it echoes")
		})
	}
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

func TestEventsCarryContextOutcomeAndDuration(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(1))
	rec := record(b.Events())
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "caller")

	require.NoError(t, b.Execute(ctx, func(context.Context) error { clock.Advance(250 * time.Millisecond); return nil }))
	require.ErrorIs(t, b.Execute(ctx, func(context.Context) error { clock.Advance(time.Second); return errBoom }), errBoom)
	require.ErrorIs(t, b.Execute(ctx, succeed), breaker.ErrOpen)

	evs := rec.all()
	require.Len(t, evs, 4)
	for i, c := range rec.ctxs {
		assert.Equal(t, "caller", c.Value(key{}), "event %d carries the call's context", i)
	}
	assert.Equal(t, breaker.Event{Kind: breaker.EventCall, Breaker: b, Outcome: breaker.OutcomeSuccess, Duration: 250 * time.Millisecond}, evs[0])
	assert.Equal(t, breaker.Event{Kind: breaker.EventCall, Breaker: b, Outcome: breaker.OutcomeFailure, Err: errBoom, Duration: time.Second}, evs[1])
	assert.Equal(t, breaker.Event{Kind: breaker.EventStateChange, Breaker: b, From: breaker.Closed, To: breaker.Open,
		Reason: breaker.ReasonFailureThreshold, Time: t0.Add(1250 * time.Millisecond), ConsecutiveFailures: 1,
		Cause: errBoom, OpenFor: breaker.DefaultRecoveryTimeout}, evs[2])
	assert.Equal(t, breaker.EventCall, evs[3].Kind)
	assert.Equal(t, breaker.OutcomeRejected, evs[3].Outcome)
	assert.ErrorIs(t, evs[3].Err, breaker.ErrOpen)
}

func TestNoEventsWithoutSubscribersAndWithNilBus(t *testing.T) {
	b, err := breaker.New("quiet", breaker.WithEventBus(nil), breaker.WithFailureThreshold(1))
	require.NoError(t, err)
	assert.Nil(t, b.Events())
	require.Error(t, b.Execute(context.Background(), fail))
	require.ErrorIs(t, b.Execute(context.Background(), succeed), breaker.ErrOpen)
	b.Reset()
	assert.Equal(t, uint64(2), b.Stats().TotalCalls)

	// Subscribing later sees only what happens afterwards.
	b2, _ := newClocked(t, breaker.WithFailureThreshold(1))
	require.Error(t, b2.Execute(context.Background(), fail))
	rec := record(b2.Events())
	require.ErrorIs(t, b2.Execute(context.Background(), succeed), breaker.ErrOpen)
	assert.Len(t, rec.all(), 1)
}

func TestSubscriberMayCallBackIntoTheBreaker(t *testing.T) {
	b, _ := newClocked(t, breaker.WithFailureThreshold(1))
	var seen []breaker.State
	b.Events().Subscribe(eventsFunc(func(_ context.Context, e breaker.Event) {
		seen = append(seen, b.State())
		_ = b.Stats()
		if e.Kind == breaker.EventStateChange && e.To == breaker.Open {
			b.Reset() // must not deadlock
		}
	}))
	require.Error(t, b.Execute(context.Background(), fail))
	assert.Equal(t, breaker.Closed, b.State())
	assert.Equal(t, []breaker.State{breaker.Open, breaker.Open, breaker.Closed}, seen)
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
