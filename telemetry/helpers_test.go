package telemetry_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/telemetry"
)

var (
	t0         = time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC)
	errBoom    = errors.New("service unavailable")
	errIgnored = errors.New("not found")
)

// env is a registry on a manual clock with telemetry attached to an SDK
// MeterProvider with a manual reader and a capturing logger.
type env struct {
	clock  *breakertest.Clock
	reg    *breaker.Registry
	reader *sdkmetric.ManualReader
	logs   *captureHandler
	tel    *telemetry.Telemetry
	detach func()
}

// breakerOptions are the scenario's settings: open after 2 consecutive
// failures, wait 30s, close after 1 successful trial; errIgnored is not a
// failure.
func breakerOptions(clock *breakertest.Clock) []breaker.Option {
	return []breaker.Option{
		breaker.WithClock(clock),
		breaker.WithFailureThreshold(2),
		breaker.WithRecoveryTimeout(30 * time.Second),
		breaker.WithHalfOpenMaxCalls(1),
		breaker.WithFailurePredicate(func(err error) bool { return !errors.Is(err, errIgnored) }),
	}
}

// windowedPolicies replaces a breaker's trip policies with a failure-rate
// and a slow-call policy over its last 10 calls: calls of 100ms or more are
// slow, and either opens the breaker at half of at least 4 calls.
func windowedPolicies() breaker.Option {
	return breaker.WithTripPolicy(
		breaker.FailureRate(0.5, 4, breaker.LastCalls(10)),
		breaker.SlowCalls(100*time.Millisecond, 0.5, 4, breaker.LastCalls(10)),
	)
}

func newEnv(t *testing.T, opts ...telemetry.Option) *env {
	t.Helper()
	e := &env{
		clock:  breakertest.NewClock(t0),
		reader: sdkmetric.NewManualReader(),
		logs:   newCaptureHandler(slog.LevelDebug),
	}
	e.reg = breaker.NewRegistry(breakerOptions(e.clock)...)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(e.reader))
	t.Cleanup(func() { require.NoError(t, mp.Shutdown(context.Background())) })
	all := append([]telemetry.Option{
		telemetry.WithMeterProvider(mp),
		telemetry.WithLogger(slog.New(e.logs)),
	}, opts...)
	tel, err := telemetry.New(all...)
	require.NoError(t, err)
	e.tel = tel
	e.detach, err = tel.AttachRegistry(e.reg)
	require.NoError(t, err)
	t.Cleanup(e.detach)
	return e
}

// newTelemetry returns a Telemetry attached to nothing, whose instruments
// reader collects; logs are discarded.
func newTelemetry(t *testing.T) (*telemetry.Telemetry, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { require.NoError(t, mp.Shutdown(context.Background())) })
	tel, err := telemetry.New(telemetry.WithMeterProvider(mp), telemetry.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	return tel, reader
}

func (e *env) get(t *testing.T, name string) *breaker.Breaker {
	t.Helper()
	b, err := e.reg.Get(name)
	require.NoError(t, err)
	return b
}

// collect returns the metrics of the fusebox scope, by name.
func (e *env) collect(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	return collect(t, e.reader)
}

func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		require.Equal(t, telemetry.ScopeName, sm.Scope.Name)
		require.Equal(t, telemetry.Version, sm.Scope.Version)
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// call runs one call on b that takes d on the manual clock and returns err.
func call(ctx context.Context, clock *breakertest.Clock, b *breaker.Breaker, d time.Duration, err error) error {
	return b.Execute(ctx, func(context.Context) error {
		clock.Advance(d)
		return err
	})
}

// runScenario drives b through the scenario the tests share: a success, an
// ignored error and two failures (which open it), three rejections, the
// recovery timeout, and a successful trial that closes it again.
func runScenario(t *testing.T, ctx context.Context, clock *breakertest.Clock, b *breaker.Breaker) {
	t.Helper()
	require.NoError(t, call(ctx, clock, b, 20*time.Millisecond, nil))
	require.ErrorIs(t, call(ctx, clock, b, 5*time.Millisecond, errIgnored), errIgnored)
	require.ErrorIs(t, call(ctx, clock, b, 100*time.Millisecond, errBoom), errBoom)
	require.ErrorIs(t, call(ctx, clock, b, 300*time.Millisecond, errBoom), errBoom)
	require.Equal(t, breaker.Open, b.State())
	for range 3 {
		require.ErrorIs(t, call(ctx, clock, b, time.Second, nil), breaker.ErrOpen)
	}
	clock.Advance(30 * time.Second)
	require.NoError(t, call(ctx, clock, b, 10*time.Millisecond, nil))
	require.Equal(t, breaker.Closed, b.State())
}

// captureHandler is a slog.Handler that keeps every record and the context
// it was handled with.
type captureHandler struct {
	level slog.Level
	mu    sync.Mutex
	recs  []captured
}

type captured struct {
	ctx   context.Context
	level slog.Level
	msg   string
	attrs map[string]any
	keys  []string
}

func newCaptureHandler(level slog.Level) *captureHandler { return &captureHandler{level: level} }

func (h *captureHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *captureHandler) Handle(ctx context.Context, r slog.Record) error {
	c := captured{ctx: ctx, level: r.Level, msg: r.Message, attrs: map[string]any{}}
	r.Attrs(func(a slog.Attr) bool {
		c.attrs[a.Key] = a.Value.Resolve().Any()
		c.keys = append(c.keys, a.Key)
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, c)
	return nil
}

func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { panic("not used") }
func (h *captureHandler) WithGroup(string) slog.Handler      { panic("not used") }

func (h *captureHandler) records() []captured {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]captured(nil), h.recs...)
}

// take returns the records so far and forgets them.
func (h *captureHandler) take() []captured {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.recs
	h.recs = nil
	return out
}
