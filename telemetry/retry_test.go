package telemetry_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/fusebox-go/fusebox/retry"
	"github.com/fusebox-go/fusebox/telemetry"
)

// retryEnv is a telemetry on an SDK MeterProvider with a manual reader and
// a capturing logger, and a tracer provider recording spans.
type retryEnv struct {
	reader *sdkmetric.ManualReader
	logs   *captureHandler
	tel    *telemetry.Telemetry
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
}

func newRetryEnv(t *testing.T, opts ...telemetry.Option) *retryEnv {
	t.Helper()
	e := &retryEnv{reader: sdkmetric.NewManualReader(), logs: newCaptureHandler(slog.LevelDebug), spans: tracetest.NewSpanRecorder()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(e.reader))
	t.Cleanup(func() { require.NoError(t, mp.Shutdown(context.Background())) })
	e.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(e.spans))
	t.Cleanup(func() { require.NoError(t, e.tp.Shutdown(context.Background())) })
	tel, err := telemetry.New(append([]telemetry.Option{telemetry.WithMeterProvider(mp), telemetry.WithLogger(slog.New(e.logs))}, opts...)...)
	require.NoError(t, err)
	e.tel = tel
	return e
}

// failingN fails its first n calls with err, then succeeds.
func failingN(n int, err error) func(context.Context) (int, error) {
	calls := 0
	return func(context.Context) (int, error) {
		if calls++; calls <= n {
			return calls, err
		}
		return calls, nil
	}
}

// runRetryScenario drives p (waits of 100ms, 200ms, ...; a budget of 0.5
// per call and 3 tokens) through: a first-attempt success; a success at
// the third attempt; a call that always fails, whose second retry the
// budget refuses; a permanent error; a success at the second attempt,
// which ends the budget episode.
func runRetryScenario(t *testing.T, ctx context.Context, p *retry.Policy) {
	t.Helper()
	_, err := retry.Do(ctx, p, failingN(0, errBoom))
	require.NoError(t, err)
	_, err = retry.Do(ctx, p, failingN(2, errBoom))
	require.NoError(t, err)
	_, err = retry.Do(ctx, p, failingN(100, errBoom))
	require.ErrorIs(t, err, retry.ErrBudget)
	_, err = retry.Do(ctx, p, failingN(100, retry.Permanent(errIgnored)))
	require.ErrorIs(t, err, errIgnored)
	_, err = retry.Do(ctx, p, failingN(1, errBoom))
	require.NoError(t, err)
}

func scenarioPolicy(t *testing.T, opts ...retry.Option) *retry.Policy {
	t.Helper()
	b, err := retry.NewBudget(0.5, 3)
	require.NoError(t, err)
	p, err := retry.New("model_server", append([]retry.Option{retry.WithJitter(retry.NoJitter), retry.WithBudget(b)}, opts...)...)
	require.NoError(t, err)
	return p
}

func TestRetryMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newRetryEnv(t)
		p := scenarioPolicy(t)
		detach, err := e.tel.AttachRetry(p)
		require.NoError(t, err)
		defer detach()
		runRetryScenario(t, context.Background(), p)

		got := collect(t, e.reader)
		sums := func(name, key string) map[string]int64 {
			out := map[string]int64{}
			for _, dp := range got[name].Data.(metricdata.Sum[int64]).DataPoints {
				v, _ := dp.Attributes.Value("retry.name")
				require.Equal(t, "model_server", v.AsString())
				k, _ := dp.Attributes.Value(attribute.Key(key))
				out[k.AsString()] = dp.Value
			}
			return out
		}
		assert.Equal(t, map[string]int64{"success": 1, "success_after_retry": 2, "failure": 1, "failure_after_retry": 1}, sums("retry.calls", "retry.outcome"))
		assert.Equal(t, map[string]int64{"exhausted": 0, "budget": 1, "deadline": 0, "retry_after": 0, "circuit_open": 0,
			"not_retryable": 1, "cancelled": 0, "trial": 0}, sums("retry.stops", "retry.reason"))
		assert.Equal(t, map[string]int64{"": 9}, sums("retry.attempts", ""))
		budget := got["retry.budget.available"].Data.(metricdata.Gauge[float64]).DataPoints
		require.Len(t, budget, 1)
		assert.Equal(t, 1.0, budget[0].Value)

		retries := got["retry.call.retries"].Data.(metricdata.Histogram[int64]).DataPoints
		require.Len(t, retries, 2)
		byOutcome := map[string]metricdata.HistogramDataPoint[int64]{}
		for _, dp := range retries {
			v, _ := dp.Attributes.Value("retry.outcome")
			byOutcome[v.AsString()] = dp
		}
		assert.Equal(t, uint64(2), byOutcome["success_after_retry"].Count)
		assert.Equal(t, int64(3), byOutcome["success_after_retry"].Sum)
		assert.Equal(t, uint64(1), byOutcome["failure_after_retry"].Count)
		assert.Equal(t, int64(1), byOutcome["failure_after_retry"].Sum)
		assert.Equal(t, []float64{1, 2, 3, 4, 5, 10}, byOutcome["success_after_retry"].Bounds)

		delay := got["retry.call.delay"].Data.(metricdata.Histogram[float64]).DataPoints
		require.Len(t, delay, 1)
		assert.Equal(t, uint64(3), delay[0].Count)
		assert.InDelta(t, 0.5, delay[0].Sum, 1e-9)
		assert.Equal(t, "s", got["retry.call.delay"].Unit)
	})
}

func TestRetrySpanEventsAndLogs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newRetryEnv(t, telemetry.WithRejectionLogInterval(0))
		p := scenarioPolicy(t)
		detach, err := e.tel.AttachRetry(p)
		require.NoError(t, err)
		defer detach()
		ctx, span := e.tp.Tracer("test").Start(context.Background(), "call")
		runRetryScenario(t, ctx, p)
		span.End()

		var names []string
		for _, ev := range e.spans.Ended()[0].Events() {
			attrs := map[string]any{}
			for _, kv := range ev.Attributes {
				attrs[string(kv.Key)] = kv.Value.AsInterface()
			}
			names = append(names, ev.Name)
			switch ev.Name {
			case "retry.scheduled":
				assert.Equal(t, "model_server", attrs["retry.name"])
				assert.Equal(t, "*errors.errorString", attrs["error.type"])
			case "retry.gave_up":
				assert.Equal(t, map[string]any{"retry.name": "model_server", "retry.attempts": int64(2), "retry.reason": "budget", "error.type": "*errors.errorString"}, attrs)
			}
		}
		assert.Equal(t, []string{"retry.scheduled", "retry.scheduled", "retry.scheduled", "retry.gave_up", "retry.scheduled"}, names,
			"no event for the first-attempt success or the permanent error")

		var msgs []string
		for _, r := range e.logs.records() {
			msgs = append(msgs, r.level.String()+" "+r.msg)
		}
		assert.Equal(t, []string{
			"DEBUG retry scheduled", "DEBUG retry scheduled", // the success at the third attempt
			"DEBUG retry scheduled", "WARN retry budget exhausted", "WARN retry gave up",
			"DEBUG retry scheduled", // a token allows one retry; the budget is not refilled yet
		}, msgs)
	})
}

func TestRetryLogsAreRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newRetryEnv(t, telemetry.WithRejectionLogInterval(time.Minute))
		p, err := retry.New("db", retry.WithBackoff(time.Second, time.Second), retry.WithoutBudget())
		require.NoError(t, err)
		detach, err := e.tel.AttachRetry(p)
		require.NoError(t, err)
		defer detach()
		for range 10 { // 10 calls x 3 retries, 3s each: 30s, within one interval
			_, _ = retry.Do(context.Background(), p, failingN(100, errBoom))
		}
		time.Sleep(time.Minute)
		_, _ = retry.Do(context.Background(), p, failingN(100, errBoom))
		var got []string
		for _, r := range e.logs.records() {
			got = append(got, fmt.Sprintf("%s suppressed=%v", r.msg, r.attrs["retry.suppressed"]))
		}
		assert.Equal(t, []string{
			"retry scheduled suppressed=0", "retry gave up suppressed=0",
			"retry scheduled suppressed=29", "retry gave up suppressed=9",
		}, got)
	})
}

func TestRetryFirstAttemptSuccessAllocatesNothingWithTelemetry(t *testing.T) {
	e := newRetryEnv(t)
	p, err := retry.New("fast")
	require.NoError(t, err)
	detach, err := e.tel.AttachRetry(p)
	require.NoError(t, err)
	defer detach()
	ok := func(context.Context) (int, error) { return 1, nil }
	ctx, span := e.tp.Tracer("test").Start(context.Background(), "call")
	defer span.End()
	require.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = retry.Do(ctx, p, ok) }))
	require.Empty(t, e.logs.records())
}

func TestAttachRetryOnce(t *testing.T) {
	e := newRetryEnv(t)
	p, err := retry.New("once")
	require.NoError(t, err)
	_, err = e.tel.AttachRetry(nil)
	require.Error(t, err)
	detach, err := e.tel.AttachRetry(p)
	require.NoError(t, err)
	other := newRetryEnv(t)
	_, err = other.tel.AttachRetry(p)
	require.ErrorIs(t, err, telemetry.ErrAlreadyAttached)
	detach()
	detach()
	require.False(t, p.Events().Active(), "unsubscribed")
	require.Empty(t, collect(t, e.reader), "and no longer observed")
	again, err := other.tel.AttachRetry(p)
	require.NoError(t, err)
	again()
}

// Two policies of the same name on one Telemetry would report under the
// same retry.name: their series would merge silently (the totals of one
// hiding the other's). The second is refused with ErrRetryNameTaken; once
// the first is detached the name is free again. Another Telemetry, or
// another name, is not affected.
func TestAttachRetrySameNameRefused(t *testing.T) {
	e := newRetryEnv(t)
	first, err := retry.New("payments")
	require.NoError(t, err)
	second, err := retry.New("payments")
	require.NoError(t, err)
	detach, err := e.tel.AttachRetry(first)
	require.NoError(t, err)
	_, err = e.tel.AttachRetry(second)
	require.ErrorIs(t, err, telemetry.ErrRetryNameTaken)
	assert.NotErrorIs(t, err, telemetry.ErrAlreadyAttached, "a different policy, not the same one again")
	assert.Contains(t, err.Error(), `"payments"`)
	assert.False(t, second.Events().Active(), "the refused policy is not subscribed to")

	other, err := retry.New("search")
	require.NoError(t, err)
	d, err := e.tel.AttachRetry(other)
	require.NoError(t, err, "another name")
	d()
	elsewhere := newRetryEnv(t)
	d, err = elsewhere.tel.AttachRetry(second)
	require.NoError(t, err, "another Telemetry")
	d()

	detach()
	d, err = e.tel.AttachRetry(second)
	require.NoError(t, err, "the name is free once the first is detached")
	d()
}

func TestRetryWithoutEvents(t *testing.T) {
	e := newRetryEnv(t)
	p, err := retry.New("quiet", retry.WithEventBus(nil), retry.WithBackoff(0, 0))
	require.NoError(t, err)
	detach, err := e.tel.AttachRetry(p)
	require.NoError(t, err)
	defer detach()
	_, _ = retry.Do(context.Background(), p, failingN(1, errBoom))
	got := collect(t, e.reader)
	require.Contains(t, got, "retry.calls")
	require.NotContains(t, got, "retry.call.retries", "no events, no histograms")
}

// retryRecorder records what a RetryRecorder is given.
type retryRecorder struct {
	telemetry.Recorder
	calls []string
}

func (r *retryRecorder) ForRetry(p *retry.Policy) telemetry.RetryPolicyRecorder { return r }

func (r *retryRecorder) RecordRetriedCall(_ context.Context, o retry.Outcome, retries int, waited time.Duration) {
	r.calls = append(r.calls, o.String()+" "+time.Duration(retries).String()+" "+waited.String())
}

func TestRetryRecorder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &retryRecorder{}
		e := newRetryEnv(t, telemetry.WithRecorder(rec))
		p := scenarioPolicy(t)
		detach, err := e.tel.AttachRetry(p)
		require.NoError(t, err)
		defer detach()
		runRetryScenario(t, context.Background(), p)
		assert.Equal(t, []string{"success_after_retry 2ns 300ms", "failure_after_retry 1ns 100ms", "success_after_retry 1ns 100ms"}, rec.calls)
	})
}

// The documentation of AttachRetry lists every retry instrument, span
// event and log record with its attributes, and nothing else is emitted.
func TestRetryDocumentationMatchesEmitted(t *testing.T) {
	doc := readRetryDoc(t)
	synctest.Test(t, func(t *testing.T) {
		e := newRetryEnv(t, telemetry.WithRejectionLogInterval(0))
		p := scenarioPolicy(t)
		detach, err := e.tel.AttachRetry(p)
		require.NoError(t, err)
		defer detach()
		ctx, span := e.tp.Tracer("test").Start(context.Background(), "call")
		runRetryScenario(t, ctx, p)
		for range 4 { // refill the budget past half its burst, which ends the episode
			_, err := retry.Do(ctx, p, failingN(0, errBoom))
			require.NoError(t, err)
		}
		_, err = retry.Do(ctx, p, failingN(1, errBoom))
		require.NoError(t, err)
		span.End()

		got := collect(t, e.reader)
		require.Len(t, doc["Metrics"], len(got))
		for _, d := range doc["Metrics"] {
			require.Len(t, d.fields, 3, "name kind unit: %v", d.fields)
			m, ok := got[d.fields[0]]
			if !assert.True(t, ok, "documented instrument %s not emitted", d.fields[0]) {
				continue
			}
			if _, isInt := m.Data.(metricdata.Histogram[int64]); isInt {
				assert.Equal(t, "Int64Histogram", d.fields[1])
			} else {
				assert.Contains(t, kindOf(t, m), d.fields[1], d.fields[0])
			}
			assert.Equal(t, d.fields[2], m.Unit, d.fields[0])
			assert.ElementsMatch(t, d.attrs, retryMetricKeys(m), d.fields[0])
		}
		keys := map[string][]string{}
		for _, ev := range e.spans.Ended()[0].Events() {
			for _, kv := range ev.Attributes {
				keys[ev.Name] = append(keys[ev.Name], string(kv.Key))
			}
		}
		require.Len(t, doc["Span events"], len(keys))
		for _, d := range doc["Span events"] {
			assert.ElementsMatch(t, d.attrs, dedup(keys[d.fields[0]]), d.fields[0])
		}
		logKeys, levels := map[string][]string{}, map[string][]string{}
		for _, r := range e.logs.records() {
			logKeys[r.msg] = append(logKeys[r.msg], r.keys...)
			levels[r.msg] = append(levels[r.msg], r.level.String())
		}
		require.Len(t, doc["Logs"], len(logKeys))
		for _, d := range doc["Logs"] {
			assert.ElementsMatch(t, d.attrs, dedup(logKeys[d.fields[0]]), d.fields[0])
			assert.ElementsMatch(t, strings.Split(d.fields[1], "|"), dedup(levels[d.fields[0]]), d.fields[0])
		}
	})
}

// readRetryDoc parses the lists of AttachRetry's documentation in
// retry.go, as readDoc does for doc.go.
func readRetryDoc(t *testing.T) map[string][]documented {
	t.Helper()
	src, err := os.ReadFile("retry.go")
	require.NoError(t, err)
	text := string(src)
	start := strings.Index(text, "// AttachRetry starts observing")
	end := strings.Index(text, "func (t *Telemetry) AttachRetry")
	require.True(t, start >= 0 && end > start)
	out := map[string][]documented{}
	section := ""
	header := regexp.MustCompile(`^//\t(\S.*)$`)
	attrs := regexp.MustCompile(`^//\t    attributes: (.*)$`)
	quoted := regexp.MustCompile(`^"([^"]*)"\s+(\S+)$`)
	for _, line := range strings.Split(text[start:end], "\n") {
		if h, ok := strings.CutPrefix(line, "// # "); ok {
			section = h
			continue
		}
		if m := attrs.FindStringSubmatch(line); m != nil {
			list := out[section]
			list[len(list)-1].attrs = strings.Split(m[1], ", ")
			continue
		}
		m := header.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		fields := strings.Fields(m[1])
		if q := quoted.FindStringSubmatch(m[1]); q != nil {
			fields = q[1:]
		}
		out[section] = append(out[section], documented{fields: fields})
	}
	return out
}

func retryMetricKeys(m metricdata.Metrics) []string {
	if h, ok := m.Data.(metricdata.Histogram[int64]); ok {
		var keys []string
		for _, p := range h.DataPoints {
			for _, kv := range p.Attributes.ToSlice() {
				keys = append(keys, string(kv.Key))
			}
		}
		return dedup(keys)
	}
	return metricKeys(m)
}

// The budget's episode used to end at the first retry a single token
// allowed, so a brownout that spends each token as it comes logged
// "exhausted" and "recovered" in turn. It ends once the budget is back to
// half its burst.
func TestRetryBudgetLogsOncePerEpisode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newRetryEnv(t)
		b, err := retry.NewBudget(0.5, 4)
		require.NoError(t, err)
		p, err := retry.New("model_server", retry.WithJitter(retry.NoJitter), retry.WithBackoff(0, 0), retry.WithBudget(b))
		require.NoError(t, err)
		detach, err := e.tel.AttachRetry(p)
		require.NoError(t, err)
		defer detach()
		ctx := context.Background()
		for range 6 { // a brownout: every call fails, each token is spent as it comes
			_, _ = retry.Do(ctx, p, failingN(100, errBoom))
		}
		for range 6 { // the dependency is back: first attempts refill the budget
			_, err := retry.Do(ctx, p, failingN(0, errBoom))
			require.NoError(t, err)
		}
		_, err = retry.Do(ctx, p, failingN(1, errBoom))
		require.NoError(t, err)
		var budget []string
		for _, r := range e.logs.records() {
			if strings.Contains(r.msg, "budget") {
				budget = append(budget, r.level.String()+" "+r.msg)
			}
		}
		assert.Equal(t, []string{"WARN retry budget exhausted", "INFO retry budget recovered"}, budget)
	})
}
