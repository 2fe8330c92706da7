package breaker_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/events"
)

// tooBig is 2^33: over the largest threshold on 64-bit targets, and
// converted to int (0) at run time on 32-bit ones, where it is invalid too.
var tooBig = uint64(1) << 33

func TestInvalidConfig(t *testing.T) {
	tests := []struct {
		field string
		opt   breaker.Option
	}{
		{"failure_threshold", breaker.WithFailureThreshold(0)},
		{"failure_threshold", breaker.WithFailureThreshold(-1)},
		{"failure_threshold", breaker.WithFailureThreshold(int(tooBig))},
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
		{"hangul filler", "db\u3164", false},
		{"combining grapheme joiner", "db\u034f", false},
		{"variation selector", "db\ufe0f", false},
		{"combining accent is fine", "cafe\u0301", true},
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

// A typed nil passed as an interface used to pass validation and panic on
// the first call.
func TestTypedNilClockAndBusAreInvalid(t *testing.T) {
	for _, tc := range []struct {
		field string
		opt   breaker.Option
	}{
		{"clock", breaker.WithClock((*breakertest.Clock)(nil))},
		{"event_bus", breaker.WithEventBus((*events.Sync[breaker.Event])(nil))},
		{"event_bus", breaker.WithEventBus((*events.Async[breaker.Event])(nil))},
	} {
		_, err := breaker.New("x", tc.opt)
		require.ErrorIs(t, err, breaker.ErrInvalidConfig)
		var ce *breaker.ConfigError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, tc.field, ce.Field)
		_, err = breaker.NewRegistry(tc.opt).Get("x")
		require.ErrorIs(t, err, breaker.ErrInvalidConfig, "through a registry too")
	}
	_, err := breaker.New("x", breaker.WithEventBus(nil))
	require.NoError(t, err, "an untyped nil still turns events off")
}

// Idle eviction reads the registry defaults' clock, whatever clock a Get
// gives its breaker: a typed-nil one there is a ConfigError from every Get
// that would sweep, not a panic once a breaker exists.
func TestTypedNilRegistryClockWithIdleEviction(t *testing.T) {
	reg := breaker.NewRegistry(breaker.WithClock((*breakertest.Clock)(nil)), breaker.WithIdleEviction(time.Minute))
	for _, name := range []string{"a", "b"} {
		var b *breaker.Breaker
		var err error
		require.NotPanics(t, func() { b, err = reg.Get(name, breaker.WithClock(breakertest.NewClock(t0))) })
		require.ErrorIs(t, err, breaker.ErrInvalidConfig)
		var ce *breaker.ConfigError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, "clock", ce.Field)
		assert.Nil(t, b)
	}
}

func TestInvalidPolicyConfig(t *testing.T) {
	tests := []struct {
		field string
		opt   breaker.Option
	}{
		{"trip_policy", breaker.WithTripPolicy()},
		{"trip_policy", breaker.WithTripPolicy(breaker.ConsecutiveFailures(2), breaker.ConsecutiveFailures(3))},
		{"trip_policy", breaker.WithTripPolicy(breaker.TripPolicy{})},
		{"failure_threshold", breaker.WithTripPolicy(breaker.ConsecutiveFailures(0))},
		{"failure_rate.ratio", breaker.WithTripPolicy(breaker.FailureRate(0, 1, breaker.LastCalls(10)))},
		{"failure_rate.ratio", breaker.WithTripPolicy(breaker.FailureRate(1.01, 1, breaker.LastCalls(10)))},
		{"failure_rate.ratio", breaker.WithTripPolicy(breaker.FailureRate(math.NaN(), 1, breaker.LastCalls(10)))},
		{"failure_rate.min_calls", breaker.WithTripPolicy(breaker.FailureRate(0.5, 0, breaker.LastCalls(10)))},
		{"failure_rate.min_calls", breaker.WithTripPolicy(breaker.FailureRate(0.5, 11, breaker.LastCalls(10)))},
		{"failure_rate.window", breaker.WithTripPolicy(breaker.FailureRate(0.5, 1, breaker.LastCalls(0)))},
		{"failure_rate.window", breaker.WithTripPolicy(breaker.FailureRate(0.5, 1, breaker.LastCalls(1<<17)))},
		{"failure_rate.window", breaker.WithTripPolicy(breaker.FailureRate(0.5, 1, breaker.LastDuration(0, 10)))},
		{"failure_rate.window", breaker.WithTripPolicy(breaker.FailureRate(0.5, 1, breaker.LastDuration(time.Minute, 0)))},
		{"failure_rate.window", breaker.WithTripPolicy(breaker.FailureRate(0.5, 1, breaker.LastDuration(time.Minute, 1001)))},
		{"failure_rate.window", breaker.WithTripPolicy(breaker.FailureRate(0.5, 1, breaker.Window{}))},
		{"slow_calls.slower_than", breaker.WithTripPolicy(breaker.SlowCalls(0, 0.5, 1, breaker.LastCalls(10)))},
		{"slow_calls.ratio", breaker.WithTripPolicy(breaker.SlowCalls(time.Second, -0.1, 1, breaker.LastCalls(10)))},
		{"recovery_backoff.initial", breaker.WithRecoveryBackoff(0, time.Minute, 2, 0)},
		{"recovery_backoff.max", breaker.WithRecoveryBackoff(time.Minute, time.Second, 2, 0)},
		{"recovery_backoff.multiplier", breaker.WithRecoveryBackoff(time.Second, time.Minute, 0.5, 0)},
		{"recovery_backoff.multiplier", breaker.WithRecoveryBackoff(time.Second, time.Minute, math.Inf(1), 0)},
		{"recovery_backoff.jitter", breaker.WithRecoveryBackoff(time.Second, time.Minute, 2, 1)},
		{"recovery_backoff.jitter", breaker.WithRecoveryBackoff(time.Second, time.Minute, 2, -0.1)},
		{"half_open_max_wait", breaker.WithHalfOpenMaxWait(-time.Second)},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			_, err := breaker.New("x", tc.opt)
			require.ErrorIs(t, err, breaker.ErrInvalidConfig)
			var ce *breaker.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.field, ce.Field)
		})
	}
}
