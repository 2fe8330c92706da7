package breaker_test

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
)

// Run one target at a time, for example:
//
//	go test ./breaker -run '^$' -fuzz '^FuzzModel$' -fuzztime 60s
//
// Every target also runs its seed corpus (below and in testdata/fuzz/) as
// an ordinary test.

// invalidOptionField is the reference for option validation: the field New
// must name for these values, or "" when they are valid. Fields are
// checked in the order the options are documented.
func invalidOptionField(threshold int, timeout time.Duration, trials int) string {
	switch {
	case threshold < 1 || int64(threshold) > math.MaxUint32:
		return "failure_threshold"
	case timeout <= 0:
		return "recovery_timeout"
	case trials < 1 || trials > 65535:
		return "half_open_max_calls"
	}
	return ""
}

// FuzzOptions: any threshold, recovery timeout and half-open count either
// constructs a breaker that behaves as configured, or is refused with a
// *ConfigError naming the first bad field and wrapping ErrInvalidConfig, by
// New and Registry.Get alike. Nothing panics. Before it opens, the breaker's
// clock is moved by advance.
func FuzzOptions(f *testing.F) {
	f.Add(5, int64(60*time.Second), 3, int64(0))
	f.Add(1, int64(1), 1, int64(1))
	f.Add(0, int64(time.Second), 1, int64(0))
	f.Add(-1, int64(-1), -1, int64(0))
	f.Add(1, int64(0), 1, int64(0))
	f.Add(3, int64(time.Second), 65535, int64(0))
	f.Add(3, int64(time.Second), 65536, int64(0))
	f.Add(math.MaxInt, int64(time.Second), 1, int64(0))
	f.Add(int(maxThreshold), int64(time.Second), 1, int64(0))
	f.Add(2, int64(math.MaxInt64), 2, int64(0))
	f.Fuzz(func(t *testing.T, threshold int, timeoutNS int64, trials int, advance int64) {
		timeout := time.Duration(timeoutNS)
		opts := []breaker.Option{breaker.WithFailureThreshold(threshold), breaker.WithRecoveryTimeout(timeout), breaker.WithHalfOpenMaxCalls(trials)}
		want := invalidOptionField(threshold, timeout, trials)

		for _, create := range []func() (*breaker.Breaker, error){
			func() (*breaker.Breaker, error) { return breaker.New("fuzz", opts...) },
			func() (*breaker.Breaker, error) { return breaker.NewRegistry().Get("fuzz", opts...) },
		} {
			b, err := create()
			if want == "" {
				require.NoError(t, err)
				require.NotNil(t, b)
				continue
			}
			require.ErrorIs(t, err, breaker.ErrInvalidConfig)
			var ce *breaker.ConfigError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, want, ce.Field)
			require.Contains(t, err.Error(), want)
			require.Nil(t, b)
		}
		if want != "" {
			return
		}

		// A valid configuration behaves as configured.
		if advance < 0 {
			advance = -(advance + 1)
		}
		clock := breakertest.NewClock(t0)
		b, err := breaker.New("fuzz", append(opts, breaker.WithClock(clock))...)
		require.NoError(t, err)
		clock.Advance(time.Duration(advance))
		// The deadline (the breaker's time, ns since it was created, plus
		// the timeout) may be past what an int64 holds: it must saturate,
		// not wrap (it once wrapped negative and went half-open at once).
		representable := advance <= math.MaxInt64-timeoutNS
		if threshold > 64 {
			require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
			require.Equal(t, breaker.Closed, b.State())
			return
		}
		for range threshold - 1 {
			require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
		}
		require.Equal(t, breaker.Closed, b.State(), "one failure below the threshold")
		require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
		require.Equal(t, breaker.Open, b.State(), "open at the threshold, and no recovery timeout has passed yet (timeout %v, clock moved %v)", timeout, time.Duration(advance))
		err = b.Execute(context.Background(), succeed)
		var oe *breaker.OpenError
		require.ErrorAs(t, err, &oe)
		if !representable {
			require.Positive(t, oe.RetryAfter())
			require.Equal(t, breaker.Open, b.State())
			return
		}
		require.Equal(t, timeout, oe.RetryAfter(), "a whole recovery timeout to wait right after opening")
		if timeout > 1 {
			clock.Advance(timeout - 1)
			require.Equal(t, breaker.Open, b.State(), "1ns before the recovery timeout")
			clock.Advance(1)
		} else {
			clock.Advance(timeout)
		}
		require.Equal(t, breaker.HalfOpen, b.State(), "at the recovery timeout")
		if trials > 64 {
			return
		}
		for i := range trials {
			require.Equal(t, breaker.HalfOpen, b.State(), "after %d of %d trials", i, trials)
			require.NoError(t, b.Execute(context.Background(), succeed))
		}
		require.Equal(t, breaker.Closed, b.State(), "closed after %d successful trials", trials)
	})
}

// validNameReference is the reference predicate for names (ValidateName's doc, made
// stricter): non-empty, at most 255 bytes, valid UTF-8, not only dots, no
// control, format (Cf) or line/paragraph separator characters.
func validNameReference(name string) bool {
	if name == "" || len(name) > 255 || !utf8.ValidString(name) || strings.Trim(name, ".") == "" {
		return false
	}
	if strings.TrimSpace(name) != name {
		return false
	}
	return !strings.ContainsFunc(name, func(r rune) bool {
		return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) || unicode.Is(unicode.Zs, r) && r != ' '
	})
}

// FuzzName: ValidateName, New and Registry.Get agree with the reference
// predicate, and an error's message is bounded, valid UTF-8 and holds no
// raw control character whatever the name held (it is safe to log).
func FuzzName(f *testing.F) {
	for _, s := range []string{"model_server", "", "a\nb", "a\x00b", "a\x7fb", "bad\xff", "données-api", "\u0085", "\u2028",
		"\x1b[31mred", "admin\u202egnp.exe", "zero\u200bwidth", "db ", " db", "d\u00a0b", "a b", ".", "..", "...", ".hidden", "a.b", strings.Repeat("a", 255), strings.Repeat("a", 256), strings.Repeat("é", 128), strings.Repeat("\x00", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		want := validNameReference(name)
		err := breaker.ValidateName(name)
		_, newErr := breaker.New(name)
		_, getErr := breaker.NewRegistry().Get(name)
		if want {
			require.NoError(t, err)
			require.NoError(t, newErr)
			require.NoError(t, getErr)
			return
		}
		for _, e := range []error{err, newErr, getErr} {
			require.ErrorIs(t, e, breaker.ErrInvalidConfig)
			var ce *breaker.ConfigError
			require.ErrorAs(t, e, &ce)
			require.Equal(t, "name", ce.Field)
			msg := e.Error()
			require.True(t, utf8.ValidString(msg), "message %q is not valid UTF-8", msg)
			require.False(t, strings.ContainsFunc(msg, unicode.IsControl), "message %q holds a raw control character", msg)
			require.Less(t, len(msg), 1024, "the message echoes a bounded prefix of the name")
		}
	})
}

// statsEqual compares two Stats, times by instant.
func statsEqual(t *testing.T, want, got breaker.Stats) {
	t.Helper()
	require.True(t, want.LastFailureTime.Equal(got.LastFailureTime), "LastFailureTime %v != %v", want.LastFailureTime, got.LastFailureTime)
	require.True(t, want.LastStateChange.Equal(got.LastStateChange), "LastStateChange %v != %v", want.LastStateChange, got.LastStateChange)
	want.LastFailureTime, got.LastFailureTime = time.Time{}, time.Time{}
	want.LastStateChange, got.LastStateChange = time.Time{}, time.Time{}
	require.Equal(t, want, got)
}

// FuzzStatsJSON: Stats survives Marshal then Unmarshal unchanged; Unmarshal
// of arbitrary bytes never panics, and what it accepts marshals back to a
// stable form.
func FuzzStatsJSON(f *testing.F) {
	f.Add([]byte(`{"name":"db","state":"open","failure_count":5,"success_count":0,"last_failure_time":"2024-01-15T10:30:45Z","last_state_change":null,"total_calls":7,"total_failures":5,"total_successes":2,"total_rejected":0,"total_ignored":0,"forced":true}`),
		"db", uint8(1), 5, 0, int64(1705314645000000000), int64(0), uint64(2), uint64(5), uint64(0), uint64(0), true)
	f.Add([]byte(`{"state":"half-open"}`), "", uint8(2), -1, 3, int64(-1), int64(1), uint64(0), uint64(0), uint64(math.MaxUint64), uint64(1), false)
	f.Add([]byte(`{"last_failure_time":"2024-01-15T10:30:45.123456789+05:30"}`), "données", uint8(0), 0, 0, int64(math.MaxInt64), int64(math.MinInt64), uint64(1), uint64(1), uint64(1), uint64(1), false)
	f.Add([]byte(`null`), "x", uint8(9), math.MaxInt, math.MinInt, int64(0), int64(0), uint64(0), uint64(0), uint64(0), uint64(0), false)
	f.Fuzz(func(t *testing.T, data []byte, name string, state uint8, failures, successes int,
		lastFail, lastChange int64, totalSucc, totalFail, totalRej, totalIgn uint64, forced bool) {
		// Arbitrary bytes: no panic; an accepted document is a fixed point
		// after one round.
		var s breaker.Stats
		if json.Unmarshal(data, &s) == nil {
			once, err := json.Marshal(s)
			if err == nil {
				var back breaker.Stats
				require.NoError(t, json.Unmarshal(once, &back), "%s", once)
				statsEqual(t, s, back)
				twice, err := json.Marshal(back)
				require.NoError(t, err)
				require.JSONEq(t, string(once), string(twice))
			}
		}

		// A Stats as a breaker builds it: valid UTF-8 name, a known state,
		// UTC times (zero when unset) and a consistent TotalCalls.
		at := func(ns int64) time.Time {
			if ns == 0 {
				return time.Time{}
			}
			return time.Unix(0, ns).UTC()
		}
		want := breaker.Stats{
			Name:            strings.ToValidUTF8(name, "?"),
			State:           breaker.State(state % 3),
			FailureCount:    failures,
			SuccessCount:    successes,
			LastFailureTime: at(lastFail),
			LastStateChange: at(lastChange),
			TotalSuccesses:  totalSucc,
			TotalFailures:   totalFail,
			TotalRejected:   totalRej,
			TotalIgnored:    totalIgn,
			TotalCalls:      totalSucc + totalFail + totalRej + totalIgn,
			Forced:          forced,
		}
		data, err := json.Marshal(want)
		require.NoError(t, err)
		var got breaker.Stats
		require.NoError(t, json.Unmarshal(data, &got), "%s", data)
		statsEqual(t, want, got)
		assert.Equal(t, want, got, "UTC times come back identical")
	})
}

// FuzzModel decodes bytes into a configuration and an operation sequence
// (see decodeModel: the spec's default policy, or with the second byte's
// top bit set, the trip policies, backoff, half-open deadline, shadow mode
// and Reconfigure steps) and runs it against the reference model. The seeds
// are hand-written corner cases plus a few of TestModel's and
// TestModelPolicies' random sequences.
func FuzzModel(f *testing.F) {
	for _, seed := range []uint64{0, 1, 2, 3, 42} {
		f.Add(randomModelInput(seed))
		f.Add(randomPolicyInput(seed))
	}
	f.Add([]byte{})
	// threshold 1, 1 trial, 1s: fail, wait, trial ok; fail, wait, trial fail.
	f.Add([]byte{0x10, 0x00, 5, 0, 0, 0, 0, 11, 5, 0, 0, 0, 0, 11, 5, 0, 0})
	// A call held in flight across opening, recovery and a failed trial.
	f.Add([]byte{0x11, 0x00, 23, 0, 0, 5, 0, 0, 5, 0, 0, 20, 0, 11, 27, 0, 0, 5, 0, 0})
	// Clock back past the opening, then forward a timeout.
	f.Add([]byte{0x20, 0x00, 5, 0, 0, 20, 0, 0x1f, 20, 0, 11, 0, 0, 0})
	// Failure rate only (1 of the last 2 calls, min 1 call... as policyFrom(1)
	// decodes), 1s timeout, 1 trial: success, failure trips it.
	f.Add([]byte{0x00, 0x80, 1, 0, 1, 4, 0, 0, 0, 8, 0, 0, 0, 9, 0, 0, 0})
	// A trial held in flight past a 1s half-open deadline, then a call.
	f.Add([]byte{0x01, 0x80, 0, 0, 1, 1, 8, 0, 0, 35, 0, 9, 0, 0, 9, 0, 0, 0})
	// Shadow mode: trip, then calls that would have been rejected.
	f.Add([]byte{0x01, 0x80, 0, 0, 1, 0, 8, 0, 0, 8, 0, 0, 9, 0, 0, 16, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		runModel(t, "fuzz input", data, nil)
	})
}

// TestModelDecodeIsTotal checks that every input decodes to a valid
// configuration (so FuzzModel never tests the constructor instead of the
// breaker), and that every policy and backoff the decoders can pick is
// valid.
func TestModelDecodeIsTotal(t *testing.T) {
	inputs := [][]byte{nil, {0xff}, {0xff, 0xff, 0xff}, {0, 0x80}, randomModelInput(7), randomPolicyInput(7)}
	for i := range 256 {
		b := byte(i)
		inputs = append(inputs, []byte{b, b | 0x80, b, b * 7, b * 13, b * 31}, []byte{b, b &^ 0x80})
	}
	for _, data := range inputs {
		cfg, _ := decodeModel(data)
		if !cfg.windowed() {
			assert.Empty(t, invalidOptionField(cfg.threshold, cfg.timeout, cfg.trials), "%v", cfg)
		}
		_, err := breaker.New("model", cfg.options()...)
		require.NoError(t, err, "%v", cfg)
	}
	for i := range 256 {
		for _, slow := range []bool{false, true} {
			p := policyFrom(byte(i), slow)
			_, err := breaker.New("model", breaker.WithTripPolicy(p.trip()))
			require.NoError(t, err, "%s", p.trip())
		}
		bo := backoffFrom(byte(i))
		_, err := breaker.New("model", breaker.WithRecoveryBackoff(bo.initial, bo.max, bo.mult, 0))
		require.NoError(t, err, "%+v", bo)
	}
}
