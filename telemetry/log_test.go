package telemetry_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/telemetry"
)

type ctxKey struct{}

func stateLog(level slog.Level, from, to, reason string, failures int64) captured {
	return captured{level: level, msg: "circuit breaker state changed", attrs: map[string]any{
		"circuit_breaker.name":                 "model_server",
		"circuit_breaker.from_state":           from,
		"circuit_breaker.to_state":             to,
		"circuit_breaker.reason":               reason,
		"circuit_breaker.consecutive_failures": failures,
	}}
}

// withCause adds the error of runScenario's failing calls to a record.
func withCause(c captured) captured {
	c.attrs["error.type"] = "*errors.errorString"
	c.attrs["error.message"] = errBoom.Error()
	return c
}

func rejectedLog(state string, suppressed uint64) captured {
	return captured{level: slog.LevelDebug, msg: "circuit breaker rejected call", attrs: map[string]any{
		"circuit_breaker.name":       "model_server",
		"circuit_breaker.state":      state,
		"circuit_breaker.suppressed": suppressed,
	}}
}

// strip keeps what the tests compare: level, message, attributes.
func strip(recs []captured) []captured {
	out := make([]captured, len(recs))
	for i, r := range recs {
		out[i] = captured{level: r.level, msg: r.msg, attrs: r.attrs}
	}
	return out
}

func TestLogsScenario(t *testing.T) {
	e := newEnv(t)
	b := e.get(t, "model_server")
	ctx := context.WithValue(context.Background(), ctxKey{}, "request-42")
	runScenario(t, ctx, e.clock, b)

	recs := e.logs.records()
	assert.Equal(t, []captured{
		withCause(stateLog(slog.LevelWarn, "closed", "open", "failure_threshold", 2)),
		rejectedLog("open", 0), // the first rejection is logged, the next two are not
		stateLog(slog.LevelInfo, "open", "half_open", "recovery_timeout", 2),
		stateLog(slog.LevelInfo, "half_open", "closed", "trials_succeeded", 0),
	}, strip(recs))
	for _, r := range recs {
		assert.Equal(t, "request-42", r.ctx.Value(ctxKey{}), "logged with the call's context: %s", r.msg)
	}
}

// Rejections are logged at most once per breaker per interval, measured on
// the breakers' clock; the next record counts what was left out.
func TestRejectionLogRateLimit(t *testing.T) {
	e := newEnv(t, telemetry.WithRejectionLogInterval(10*time.Second))
	b := e.get(t, "model_server")
	other := e.get(t, "search")
	ctx := context.Background()
	for _, br := range []*breaker.Breaker{b, other} {
		br.ForceOpen()
	}
	e.logs.take()

	reject := func(br *breaker.Breaker, n int) {
		for range n {
			require.ErrorIs(t, br.Execute(ctx, func(context.Context) error { return nil }), breaker.ErrOpen)
		}
	}
	reject(b, 5)
	reject(other, 1) // every breaker has its own limit
	e.clock.Advance(9 * time.Second)
	reject(b, 2)
	assert.Equal(t, []captured{rejectedLog("open", 0), {
		level: slog.LevelDebug, msg: "circuit breaker rejected call", attrs: map[string]any{
			"circuit_breaker.name": "search", "circuit_breaker.state": "open", "circuit_breaker.suppressed": uint64(0),
		},
	}}, strip(e.logs.take()))

	e.clock.Advance(time.Second) // 10s after the first record
	reject(b, 1)
	assert.Equal(t, []captured{rejectedLog("open", 6)}, strip(e.logs.take()))
	reject(b, 3)
	assert.Empty(t, e.logs.take())
	e.clock.Advance(10 * time.Second)
	reject(b, 1)
	assert.Equal(t, []captured{rejectedLog("open", 3)}, strip(e.logs.take()))
}

func TestRejectionLogEveryCall(t *testing.T) {
	e := newEnv(t, telemetry.WithRejectionLogInterval(0))
	b := e.get(t, "model_server")
	b.ForceOpen()
	e.logs.take()
	for range 3 {
		require.ErrorIs(t, b.Execute(context.Background(), func(context.Context) error { return nil }), breaker.ErrOpen)
	}
	assert.Equal(t, []captured{rejectedLog("open", 0), rejectedLog("open", 0), rejectedLog("open", 0)}, strip(e.logs.take()))
}

// With DEBUG off, rejections neither log nor count as suppressed.
func TestRejectionLogDebugOff(t *testing.T) {
	e := newEnv(t)
	e.logs.level = slog.LevelInfo
	b := e.get(t, "model_server")
	b.ForceOpen()
	require.Equal(t, []captured{stateLog(slog.LevelWarn, "closed", "open", "force_open", 0)}, strip(e.logs.take()))
	for range 3 {
		require.ErrorIs(t, b.Execute(context.Background(), func(context.Context) error { return nil }), breaker.ErrOpen)
	}
	assert.Empty(t, e.logs.take())

	e.logs.level = slog.LevelDebug
	require.ErrorIs(t, b.Execute(context.Background(), func(context.Context) error { return nil }), breaker.ErrOpen)
	assert.Equal(t, []captured{rejectedLog("open", 0)}, strip(e.logs.take()))
}

func TestLogsResetAndForceOpen(t *testing.T) {
	e := newEnv(t)
	b := e.get(t, "model_server")
	b.ForceOpen()
	b.Reset()
	b.Reset() // already closed: no state change
	recs := e.logs.take()
	assert.Equal(t, []captured{
		stateLog(slog.LevelWarn, "closed", "open", "force_open", 0),
		stateLog(slog.LevelInfo, "open", "closed", "reset", 0),
	}, strip(recs))
	for _, r := range recs {
		assert.Equal(t, context.Background(), r.ctx, "no call caused it")
	}
}

// Without WithLogger the default logger is looked up for every record, so a
// later slog.SetDefault takes effect. Not parallel: it swaps the default.
func TestDefaultLoggerResolvedAtEmitTime(t *testing.T) {
	prev := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prev) })

	e := newEnv(t, telemetry.WithLogger(nil))
	b := e.get(t, "model_server")
	h := newCaptureHandler(slog.LevelInfo)
	slog.SetDefault(slog.New(h))
	b.ForceOpen()
	assert.Equal(t, []captured{stateLog(slog.LevelWarn, "closed", "open", "force_open", 0)}, strip(h.take()))
	assert.Empty(t, e.logs.records())
}
