package telemetry_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.opentelemetry.io/otel/trace"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/telemetry"
)

var bounds = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

func name(n string) attribute.KeyValue { return attribute.String("circuit_breaker.name", n) }

func set(kvs ...attribute.KeyValue) attribute.Set { return attribute.NewSet(kvs...) }

func stateSet(n, s string) attribute.Set {
	return set(name(n), attribute.String("circuit_breaker.state", s))
}

func outcomeSet(n, o string) attribute.Set {
	return set(name(n), attribute.String("circuit_breaker.outcome", o))
}

func transitionSet(n, from, to, reason, origin string) attribute.Set {
	return set(name(n), attribute.String("circuit_breaker.from_state", from), attribute.String("circuit_breaker.to_state", to),
		attribute.String("circuit_breaker.reason", reason), attribute.String("circuit_breaker.origin", origin))
}

// precreated are the transitions whose series a breaker has at 0 from the
// start, as from, to and reason.
var precreated = [][3]string{
	{"closed", "open", "failure_threshold"},
	{"closed", "open", "failure_rate"},
	{"closed", "open", "slow_calls"},
	{"open", "half_open", "recovery_timeout"},
	{"half_open", "closed", "trials_succeeded"},
	{"half_open", "open", "trial_failed"},
}

// transitionPoints returns breaker n's transitions data points: the
// precreated ones at 0 (origin local), but for those counted, given as
// "from to reason" (origin local) or "from to reason origin" and their
// count, which may add others.
func transitionPoints(n string, counted map[string]int64) []metricdata.DataPoint[int64] {
	var out []metricdata.DataPoint[int64]
	seen := map[string]bool{}
	for _, k := range precreated {
		key := k[0] + " " + k[1] + " " + k[2]
		seen[key] = true
		out = append(out, metricdata.DataPoint[int64]{Attributes: transitionSet(n, k[0], k[1], k[2], "local"), Value: counted[key]})
	}
	for key, v := range counted {
		if !seen[key] {
			f := append(strings.Fields(key), "local")
			out = append(out, metricdata.DataPoint[int64]{Attributes: transitionSet(n, f[0], f[1], f[2], f[3]), Value: v})
		}
	}
	return out
}

// nameGauge builds a one-series-per-breaker metric's expected data points.
func namePoints[N int64 | float64](values map[string]N) []metricdata.DataPoint[N] {
	var out []metricdata.DataPoint[N]
	for n, v := range values {
		out = append(out, metricdata.DataPoint[N]{Attributes: set(name(n)), Value: v})
	}
	return out
}

func lastChangeMetric(values map[string]float64) metricdata.Metrics {
	return metricdata.Metrics{
		Name:        "circuit_breaker.last_state_change_time",
		Description: "When the circuit breaker last changed state, in seconds since the Unix epoch; 0 if it never did.",
		Unit:        "s",
		Data:        metricdata.Gauge[float64]{DataPoints: namePoints(values)},
	}
}

func forcedMetric(values map[string]int64) metricdata.Metrics {
	return metricdata.Metrics{
		Name:        "circuit_breaker.forced",
		Description: "Whether the circuit breaker is held open by ForceOpen: 1 if it is, 0 if not.",
		Unit:        "{breaker}",
		Data:        metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: false, DataPoints: namePoints(values)},
	}
}

func shadowMetric(values map[string]int64) metricdata.Metrics {
	return metricdata.Metrics{
		Name:        "circuit_breaker.shadow_mode",
		Description: "Whether the circuit breaker is in shadow mode, running the calls it would reject: 1 if it is, 0 if not.",
		Unit:        "{breaker}",
		Data:        metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: false, DataPoints: namePoints(values)},
	}
}

// unix is t in seconds since the epoch.
func unix(t time.Time) float64 { return float64(t.Unix()) + float64(t.Nanosecond())/1e9 }

// statePoints returns the three state data points of a breaker in state s.
func statePoints(n, s string) []metricdata.DataPoint[int64] {
	var out []metricdata.DataPoint[int64]
	for _, st := range []string{"closed", "open", "half_open"} {
		var v int64
		if st == s {
			v = 1
		}
		out = append(out, metricdata.DataPoint[int64]{Attributes: stateSet(n, st), Value: v})
	}
	return out
}

func callPoints(n string, success, failure, ignored, rejected int64) []metricdata.DataPoint[int64] {
	return []metricdata.DataPoint[int64]{
		{Attributes: outcomeSet(n, "success"), Value: success},
		{Attributes: outcomeSet(n, "failure"), Value: failure},
		{Attributes: outcomeSet(n, "ignored"), Value: ignored},
		{Attributes: outcomeSet(n, "rejected"), Value: rejected},
	}
}

// histPoint builds the expected histogram data point of the given
// durations, in seconds.
func histPoint(attrs attribute.Set, durations ...float64) metricdata.HistogramDataPoint[float64] {
	p := metricdata.HistogramDataPoint[float64]{
		Attributes:   attrs,
		Count:        uint64(len(durations)),
		Bounds:       bounds,
		BucketCounts: make([]uint64, len(bounds)+1),
	}
	lo, hi := durations[0], durations[0]
	for _, d := range durations {
		p.Sum += d
		lo, hi = min(lo, d), max(hi, d)
		i := 0
		for i < len(bounds) && d > bounds[i] {
			i++
		}
		p.BucketCounts[i]++
	}
	p.Min, p.Max = metricdata.NewExtrema(lo), metricdata.NewExtrema(hi)
	return p
}

func stateMetric(points ...metricdata.DataPoint[int64]) metricdata.Metrics {
	return metricdata.Metrics{
		Name:        "circuit_breaker.state",
		Description: "Whether the circuit breaker is in the given state: 1 for its current state, 0 for the others.",
		Unit:        "{state}",
		Data:        metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: false, DataPoints: points},
	}
}

func callsMetric(points ...metricdata.DataPoint[int64]) metricdata.Metrics {
	return metricdata.Metrics{
		Name:        "circuit_breaker.calls",
		Description: "Calls through the circuit breaker by outcome, rejected calls included.",
		Unit:        "{call}",
		Data:        metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true, DataPoints: points},
	}
}

func consecutiveMetric(points ...metricdata.DataPoint[int64]) metricdata.Metrics {
	return metricdata.Metrics{
		Name:        "circuit_breaker.consecutive_failures",
		Description: "Consecutive failures: the current run while closed, the run that opened the circuit breaker while open or half-open.",
		Unit:        "{failure}",
		Data:        metricdata.Gauge[int64]{DataPoints: points},
	}
}

func durationMetric(points ...metricdata.HistogramDataPoint[float64]) metricdata.Metrics {
	return metricdata.Metrics{
		Name:        "circuit_breaker.call.duration",
		Description: "Duration of the calls the circuit breaker admitted, by outcome.",
		Unit:        "s",
		Data:        metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality, DataPoints: points},
	}
}

func transitionsMetric(points ...metricdata.DataPoint[int64]) metricdata.Metrics {
	return metricdata.Metrics{
		Name:        "circuit_breaker.transitions",
		Description: "State transitions of the circuit breaker, by reason and origin.",
		Unit:        "{transition}",
		Data:        metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true, DataPoints: points},
	}
}

func assertMetrics(t *testing.T, want []metricdata.Metrics, got map[string]metricdata.Metrics) {
	t.Helper()
	assert.Len(t, got, len(want))
	for _, w := range want {
		g, ok := got[w.Name]
		if assert.True(t, ok, "missing metric %s", w.Name) {
			metricdatatest.AssertEqual(t, w, g, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
		}
	}
}

func TestMetricsScenario(t *testing.T) {
	e := newEnv(t)
	b := e.get(t, "model_server")

	// Before any call: the observed instruments, and the transitions a
	// breaker makes by itself at 0. Never changed state: 0.
	assertMetrics(t, []metricdata.Metrics{
		stateMetric(statePoints("model_server", "closed")...),
		callsMetric(callPoints("model_server", 0, 0, 0, 0)...),
		consecutiveMetric(metricdata.DataPoint[int64]{Attributes: set(name("model_server")), Value: 0}),
		transitionsMetric(transitionPoints("model_server", nil)...),
		lastChangeMetric(map[string]float64{"model_server": 0}),
		forcedMetric(map[string]int64{"model_server": 0}),
		shadowMetric(map[string]int64{"model_server": 0}),
	}, e.collect(t))

	runScenario(t, context.Background(), e.clock, b)

	// A breaker created after attaching appears without extra code.
	late := e.get(t, "search")
	require.NoError(t, call(context.Background(), e.clock, late, 2*time.Millisecond, nil))
	require.ErrorIs(t, call(context.Background(), e.clock, late, time.Millisecond, errBoom), errBoom)

	got := e.collect(t)
	assertMetrics(t, []metricdata.Metrics{
		stateMetric(append(statePoints("model_server", "closed"), statePoints("search", "closed")...)...),
		callsMetric(append(callPoints("model_server", 2, 2, 1, 3), callPoints("search", 1, 1, 0, 0)...)...),
		consecutiveMetric(
			metricdata.DataPoint[int64]{Attributes: set(name("model_server")), Value: 0},
			metricdata.DataPoint[int64]{Attributes: set(name("search")), Value: 1},
		),
		durationMetric(
			histPoint(outcomeSet("model_server", "success"), 0.02, 0.01),
			histPoint(outcomeSet("model_server", "ignored"), 0.005),
			histPoint(outcomeSet("model_server", "failure"), 0.1, 0.3),
			histPoint(outcomeSet("search", "success"), 0.002),
			histPoint(outcomeSet("search", "failure"), 0.001),
		),
		transitionsMetric(append(transitionPoints("model_server", map[string]int64{
			"closed open failure_threshold":     1,
			"open half_open recovery_timeout":   1,
			"half_open closed trials_succeeded": 1,
		}), transitionPoints("search", nil)...)...),
		lastChangeMetric(map[string]float64{"model_server": unix(b.Stats().LastStateChange), "search": 0}),
		forcedMetric(map[string]int64{"model_server": 0, "search": 0}),
		shadowMetric(map[string]int64{"model_server": 0, "search": 0}),
	}, got)
	require.False(t, b.Stats().LastStateChange.IsZero())

	// The calls counter is the breaker's totals, exactly.
	s := b.Stats()
	calls := got["circuit_breaker.calls"].Data.(metricdata.Sum[int64])
	var total int64
	for _, p := range calls.DataPoints {
		if v, _ := p.Attributes.Value("circuit_breaker.name"); v.AsString() == "model_server" {
			total += p.Value
		}
	}
	assert.Equal(t, int64(s.TotalCalls), total)
}

func TestMetricsOpenState(t *testing.T) {
	e := newEnv(t)
	b := e.get(t, "db")
	require.ErrorIs(t, call(context.Background(), e.clock, b, 0, errBoom), errBoom)
	require.ErrorIs(t, call(context.Background(), e.clock, b, 0, errBoom), errBoom)

	got := e.collect(t)
	metricdatatest.AssertEqual(t, stateMetric(statePoints("db", "open")...), got["circuit_breaker.state"], metricdatatest.IgnoreTimestamp())
	metricdatatest.AssertEqual(t, consecutiveMetric(metricdata.DataPoint[int64]{Attributes: set(name("db")), Value: 2}),
		got["circuit_breaker.consecutive_failures"], metricdatatest.IgnoreTimestamp())

	// The recovery timeout passes with no call: collection shows the
	// breaker as the next call will find it (half-open, since the moment
	// the timeout passed), so the gauge never shows a stale open, but it
	// makes no transition itself (a collection callback runs under the
	// SDK's lock, where subscribers must not run). The next call, State or
	// Stats makes it, and it is counted then.
	e.clock.Advance(30 * time.Second)
	got = e.collect(t)
	metricdatatest.AssertEqual(t, stateMetric(statePoints("db", "half_open")...), got["circuit_breaker.state"], metricdatatest.IgnoreTimestamp())
	metricdatatest.AssertEqual(t, transitionsMetric(transitionPoints("db", map[string]int64{
		"closed open failure_threshold": 1,
	})...), got["circuit_breaker.transitions"], metricdatatest.IgnoreTimestamp())
	metricdatatest.AssertEqual(t, lastChangeMetric(map[string]float64{"db": unix(t0.Add(30 * time.Second))}),
		got["circuit_breaker.last_state_change_time"], metricdatatest.IgnoreTimestamp())
	require.Equal(t, breaker.HalfOpen, b.State())
	got = e.collect(t)
	metricdatatest.AssertEqual(t, transitionsMetric(transitionPoints("db", map[string]int64{
		"closed open failure_threshold":   1,
		"open half_open recovery_timeout": 1,
	})...), got["circuit_breaker.transitions"], metricdatatest.IgnoreTimestamp())
	metricdatatest.AssertEqual(t, lastChangeMetric(map[string]float64{"db": unix(t0.Add(30 * time.Second))}),
		got["circuit_breaker.last_state_change_time"], metricdatatest.IgnoreTimestamp())
}

// ForceOpen and Reset are counted with their reasons, born when they
// happen; the forced gauge is 1 while the breaker is held open.
func TestMetricsForceOpenAndReset(t *testing.T) {
	e := newEnv(t)
	b := e.get(t, "db")
	b.ForceOpen()
	got := e.collect(t)
	metricdatatest.AssertEqual(t, forcedMetric(map[string]int64{"db": 1}), got["circuit_breaker.forced"], metricdatatest.IgnoreTimestamp())
	metricdatatest.AssertEqual(t, stateMetric(statePoints("db", "open")...), got["circuit_breaker.state"], metricdatatest.IgnoreTimestamp())
	e.clock.Advance(time.Minute)
	b.Reset()
	got = e.collect(t)
	metricdatatest.AssertEqual(t, forcedMetric(map[string]int64{"db": 0}), got["circuit_breaker.forced"], metricdatatest.IgnoreTimestamp())
	metricdatatest.AssertEqual(t, transitionsMetric(transitionPoints("db", map[string]int64{
		"closed open force_open": 1,
		"open closed reset":      1,
	})...), got["circuit_breaker.transitions"], metricdatatest.IgnoreTimestamp())
	metricdatatest.AssertEqual(t, lastChangeMetric(map[string]float64{"db": unix(t0.Add(time.Minute))}),
		got["circuit_breaker.last_state_change_time"], metricdatatest.IgnoreTimestamp())
}

func TestDetachStopsRecording(t *testing.T) {
	e := newEnv(t)
	b := e.get(t, "db")
	require.NoError(t, call(context.Background(), e.clock, b, time.Millisecond, nil))
	require.True(t, e.reg.Events().Active())

	e.detach()
	e.detach() // idempotent

	assert.False(t, e.reg.Events().Active(), "the subscription is gone")
	require.NoError(t, call(context.Background(), e.clock, b, time.Millisecond, nil))
	require.ErrorIs(t, call(context.Background(), e.clock, b, 0, errBoom), errBoom)
	require.ErrorIs(t, call(context.Background(), e.clock, b, 0, errBoom), errBoom)

	got := e.collect(t)
	assert.NotContains(t, got, "circuit_breaker.state", "the callback is unregistered")
	assert.NotContains(t, got, "circuit_breaker.calls")
	assert.NotContains(t, got, "circuit_breaker.consecutive_failures")
	// The transitions created at 0 on attaching stay 0.
	for _, p := range got["circuit_breaker.transitions"].Data.(metricdata.Sum[int64]).DataPoints {
		assert.Zero(t, p.Value, "no transition recorded after detaching: %v", p.Attributes.Encoded(attribute.DefaultEncoder()))
	}
	// The histogram keeps what was recorded before, and nothing more.
	metricdatatest.AssertEqual(t, durationMetric(histPoint(outcomeSet("db", "success"), 0.001)),
		got["circuit_breaker.call.duration"], metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	assert.Empty(t, e.logs.records(), "no log after detaching")
}

func TestAttachBreaker(t *testing.T) {
	clock := breakertest.NewClock(t0)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { require.NoError(t, mp.Shutdown(context.Background())) })
	tel, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)

	b, err := breaker.New("payments", breakerOptions(clock)...)
	require.NoError(t, err)
	// Another breaker publishing on the same bus is not observed.
	other, err := breaker.New("other", append(breakerOptions(clock), breaker.WithEventBus(b.Events()))...)
	require.NoError(t, err)

	detach, err := tel.AttachBreaker(b)
	require.NoError(t, err)
	require.NoError(t, call(context.Background(), clock, b, 50*time.Millisecond, nil))
	require.NoError(t, call(context.Background(), clock, other, 50*time.Millisecond, nil))

	assertMetrics(t, []metricdata.Metrics{
		stateMetric(statePoints("payments", "closed")...),
		callsMetric(callPoints("payments", 1, 0, 0, 0)...),
		consecutiveMetric(metricdata.DataPoint[int64]{Attributes: set(name("payments")), Value: 0}),
		durationMetric(histPoint(outcomeSet("payments", "success"), 0.05)),
		transitionsMetric(transitionPoints("payments", nil)...),
		lastChangeMetric(map[string]float64{"payments": 0}),
		forcedMetric(map[string]int64{"payments": 0}),
		shadowMetric(map[string]int64{"payments": 0}),
	}, collect(t, reader))

	detach()
	assert.False(t, b.Events().Active())
	got := collect(t, reader)
	assert.NotContains(t, got, "circuit_breaker.state")
}

func TestAttachNil(t *testing.T) {
	tel, err := telemetry.New()
	require.NoError(t, err)
	_, err = tel.AttachRegistry(nil)
	require.Error(t, err)
	_, err = tel.AttachBreaker(nil)
	require.Error(t, err)
}

func TestRegistryWithoutEvents(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { require.NoError(t, mp.Shutdown(context.Background())) })
	tel, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)

	reg := breaker.NewRegistry(breaker.WithEventBus(nil))
	require.Nil(t, reg.Events())
	detach, err := tel.AttachRegistry(reg)
	require.NoError(t, err)
	defer detach()
	b, err := reg.Get("quiet")
	require.NoError(t, err)
	require.NoError(t, b.Execute(context.Background(), func(context.Context) error { return nil }))

	got := collect(t, reader)
	metricdatatest.AssertEqual(t, callsMetric(callPoints("quiet", 1, 0, 0, 0)...), got["circuit_breaker.calls"], metricdatatest.IgnoreTimestamp())
	assert.NotContains(t, got, "circuit_breaker.call.duration")
}

// With exemplars on (the SDK's default trace-based filter), a duration
// sample recorded in a sampled trace carries that trace's ids: the adapter
// records with the call's context.
func TestExemplarsLinkToTrace(t *testing.T) {
	e := newEnv(t)
	b := e.get(t, "model_server")
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c},
		SpanID:     trace.SpanID{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	require.NoError(t, call(ctx, e.clock, b, 20*time.Millisecond, nil))

	hist := e.collect(t)["circuit_breaker.call.duration"].Data.(metricdata.Histogram[float64])
	require.Len(t, hist.DataPoints, 1)
	ex := hist.DataPoints[0].Exemplars
	require.Len(t, ex, 1)
	assert.Equal(t, sc.TraceID().String(), trace.TraceID(ex[0].TraceID).String())
	assert.Equal(t, sc.SpanID().String(), trace.SpanID(ex[0].SpanID).String())
	assert.InDelta(t, 0.02, ex[0].Value, 1e-12)
}

func TestScope(t *testing.T) {
	assert.Equal(t, "github.com/fusebox-go/fusebox/telemetry", telemetry.ScopeName)
	assert.Regexp(t, `^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`, telemetry.Version)
}

// More breakers than the adapter's entry cache has slots: each call is
// still recorded under its own breaker's name.
func TestManyBreakers(t *testing.T) {
	e := newEnv(t)
	const n = 600
	for i := range n {
		b := e.get(t, fmt.Sprintf("b%03d", i))
		require.NoError(t, call(context.Background(), e.clock, b, time.Duration(i+1)*time.Millisecond, nil))
	}
	hist := e.collect(t)["circuit_breaker.call.duration"].Data.(metricdata.Histogram[float64])
	require.Len(t, hist.DataPoints, n)
	for _, p := range hist.DataPoints {
		v, _ := p.Attributes.Value("circuit_breaker.name")
		var i int
		_, err := fmt.Sscanf(v.AsString(), "b%03d", &i)
		require.NoError(t, err)
		assert.Equal(t, uint64(1), p.Count)
		assert.InDelta(t, float64(i+1)/1000, p.Sum, 1e-12, v.AsString())
	}
}

// In shadow mode a breaker lets through the calls it would reject; they are
// counted as shadow_rejected, so the calls counter still sums to TotalCalls.
func TestMetricsShadowMode(t *testing.T) {
	e := newEnv(t)
	b, err := e.reg.Get("canary", breaker.WithShadowMode(true))
	require.NoError(t, err)
	plain := e.get(t, "plain")
	require.ErrorIs(t, call(context.Background(), e.clock, b, 0, errBoom), errBoom)
	require.ErrorIs(t, call(context.Background(), e.clock, b, 0, errBoom), errBoom)
	require.Equal(t, breaker.Open, b.State())
	require.NoError(t, call(context.Background(), e.clock, b, 0, nil), "shadow mode lets the call run")
	require.NoError(t, call(context.Background(), e.clock, plain, 0, nil))

	got := e.collect(t)
	metricdatatest.AssertEqual(t, callsMetric(append(
		append(callPoints("canary", 0, 2, 0, 0), metricdata.DataPoint[int64]{Attributes: outcomeSet("canary", "shadow_rejected"), Value: 1}),
		callPoints("plain", 1, 0, 0, 0)...)...,
	), got["circuit_breaker.calls"], metricdatatest.IgnoreTimestamp())
	assert.Equal(t, uint64(3), b.Stats().TotalCalls)
	metricdatatest.AssertEqual(t, shadowMetric(map[string]int64{"canary": 1, "plain": 0}), got["circuit_breaker.shadow_mode"], metricdatatest.IgnoreTimestamp())
}

func ratioMetric(name, desc string, points ...metricdata.DataPoint[float64]) metricdata.Metrics {
	return metricdata.Metrics{Name: name, Description: desc, Unit: "1", Data: metricdata.Gauge[float64]{DataPoints: points}}
}

func slowCallsMetric(points ...metricdata.DataPoint[int64]) metricdata.Metrics {
	return metricdata.Metrics{
		Name:        "circuit_breaker.slow_calls",
		Description: "Calls that ran at least as long as the slow-call threshold of the circuit breaker.",
		Unit:        "{call}",
		Data:        metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true, DataPoints: points},
	}
}

func droppedMetric(v int64) metricdata.Metrics {
	return metricdata.Metrics{
		Name:        "circuit_breaker.events.dropped",
		Description: "Circuit breaker events that an asynchronous event bus dropped because its queue was full or it was closed.",
		Unit:        "{event}",
		Data: metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true,
			DataPoints: []metricdata.DataPoint[int64]{{Attributes: *attribute.EmptySet(), Value: v}}},
	}
}

// The failure and slow-call ratios are the windows of the trip policies,
// and slow calls their total; a breaker without those policies has none of
// these series.
func TestMetricsTripPolicies(t *testing.T) {
	e := newEnv(t)
	ranker, err := e.reg.Get("ranker", windowedPolicies())
	require.NoError(t, err)
	plain := e.get(t, "plain")
	ctx := context.Background()
	require.NoError(t, call(ctx, e.clock, ranker, 200*time.Millisecond, nil))                    // slow
	require.ErrorIs(t, call(ctx, e.clock, ranker, 10*time.Millisecond, errBoom), errBoom)        // failed
	require.ErrorIs(t, call(ctx, e.clock, ranker, 150*time.Millisecond, errIgnored), errIgnored) // slow, not in the windows
	require.NoError(t, call(ctx, e.clock, ranker, 50*time.Millisecond, nil))
	require.NoError(t, call(ctx, e.clock, plain, 500*time.Millisecond, nil))

	s := ranker.Stats()
	require.NotNil(t, s.FailureRate)
	require.NotNil(t, s.SlowCallRate)
	assert.InDelta(t, 1.0/3, s.FailureRate.Ratio, 1e-12)
	assert.InDelta(t, 1.0/3, s.SlowCallRate.Ratio, 1e-12)
	assert.Equal(t, uint64(2), s.TotalSlowCalls)

	got := e.collect(t)
	metricdatatest.AssertEqual(t, ratioMetric("circuit_breaker.failure_ratio",
		"Share of failed calls in the window of the circuit breaker's failure-rate policy.",
		metricdata.DataPoint[float64]{Attributes: set(name("ranker")), Value: s.FailureRate.Ratio},
	), got["circuit_breaker.failure_ratio"], metricdatatest.IgnoreTimestamp())
	metricdatatest.AssertEqual(t, ratioMetric("circuit_breaker.slow_call_ratio",
		"Share of slow calls in the window of the circuit breaker's slow-call policy.",
		metricdata.DataPoint[float64]{Attributes: set(name("ranker")), Value: s.SlowCallRate.Ratio},
	), got["circuit_breaker.slow_call_ratio"], metricdatatest.IgnoreTimestamp())
	metricdatatest.AssertEqual(t, slowCallsMetric(
		metricdata.DataPoint[int64]{Attributes: set(name("ranker")), Value: 2},
	), got["circuit_breaker.slow_calls"], metricdatatest.IgnoreTimestamp())
	assert.NotContains(t, got, "circuit_breaker.events.dropped", "a synchronous bus drops nothing")
}

// blockedSubscriber holds the asynchronous bus's worker in its first
// delivery until released, so that the bus's queue fills up.
type blockedSubscriber struct {
	entered, release chan struct{}
	once             sync.Once
}

func newBlockedSubscriber() *blockedSubscriber {
	return &blockedSubscriber{entered: make(chan struct{}), release: make(chan struct{})}
}

func (s *blockedSubscriber) Handle(context.Context, breaker.Event) {
	s.once.Do(func() {
		close(s.entered)
		<-s.release
	})
}

// Events that a full asynchronous bus drops are counted, once per bus.
func TestMetricsEventsDropped(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { require.NoError(t, mp.Shutdown(context.Background())) })
	tel, err := telemetry.New(telemetry.WithMeterProvider(mp), telemetry.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)

	bus := events.NewAsync[breaker.Event](2)
	reg := breaker.NewRegistry(breaker.WithEventBus(bus))
	b, err := reg.Get("queued")
	require.NoError(t, err)
	blocked := newBlockedSubscriber()
	unsubscribe := bus.Subscribe(blocked)
	defer unsubscribe()
	detach, err := tel.AttachRegistry(reg)
	require.NoError(t, err)
	// A breaker of the registry cannot be attached a second time...
	_, err = tel.AttachBreaker(b)
	require.ErrorIs(t, err, telemetry.ErrAlreadyAttached)
	// ...but the same bus, attached a second time through a breaker of its
	// own, is still counted once.
	own, err := breaker.New("own", breaker.WithEventBus(bus))
	require.NoError(t, err)
	detach2, err := tel.AttachBreaker(own)
	require.NoError(t, err)

	ctx := context.Background()
	require.NoError(t, b.Execute(ctx, succeed))
	<-blocked.entered // the worker holds the first event
	for range 7 {     // two fill the queue, five are dropped
		require.NoError(t, b.Execute(ctx, succeed))
	}
	require.Equal(t, uint64(5), bus.Dropped())
	got := collect(t, reader)
	metricdatatest.AssertEqual(t, droppedMetric(5), got["circuit_breaker.events.dropped"], metricdatatest.IgnoreTimestamp())

	close(blocked.release)
	require.NoError(t, bus.Close())
	require.NoError(t, b.Execute(ctx, succeed)) // dropped: the bus is closed
	got = collect(t, reader)
	metricdatatest.AssertEqual(t, droppedMetric(6), got["circuit_breaker.events.dropped"], metricdatatest.IgnoreTimestamp())

	detach() // one attachment to the bus remains: still observed
	got = collect(t, reader)
	metricdatatest.AssertEqual(t, droppedMetric(6), got["circuit_breaker.events.dropped"], metricdatatest.IgnoreTimestamp())
	detach2()
	detach2()
	assert.NotContains(t, collect(t, reader), "circuit_breaker.events.dropped", "nothing left behind")
}
