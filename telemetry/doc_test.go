package telemetry_test

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/sharedstate/sharedstatetest"
)

// documented is one entry of a list in doc.go: its header line split into
// fields, and its attribute keys.
type documented struct {
	fields []string
	attrs  []string
}

// readDoc parses the indented lists of doc.go's "# Metrics", "# Span
// events" and "# Logs" sections.
func readDoc(t *testing.T) map[string][]documented {
	t.Helper()
	src, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	out := map[string][]documented{}
	section := ""
	header := regexp.MustCompile(`^//\t(\S.*)$`)
	attrs := regexp.MustCompile(`^//\t    attributes: (.*)$`)
	quoted := regexp.MustCompile(`^"([^"]*)"\s+(\S+)$`)
	for _, line := range strings.Split(string(src), "\n") {
		if h, ok := strings.CutPrefix(line, "// # "); ok {
			section = h
			continue
		}
		if m := attrs.FindStringSubmatch(line); m != nil {
			list := out[section]
			require.NotEmpty(t, list, "attributes line before any entry: %q", line)
			if m[1] != "none" {
				list[len(list)-1].attrs = strings.Split(m[1], ", ")
			}
			continue
		}
		m := header.FindStringSubmatch(line)
		if m == nil || section == "Usage" {
			continue
		}
		var fields []string
		if q := quoted.FindStringSubmatch(m[1]); q != nil {
			fields = q[1:]
		} else {
			fields = strings.Fields(m[1])
		}
		out[section] = append(out[section], documented{fields: fields})
	}
	return out
}

// kindOf names the instrument kind that produces the data.
func kindOf(t *testing.T, m metricdata.Metrics) []string {
	t.Helper()
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		if d.IsMonotonic {
			return []string{"Int64Counter", "Int64ObservableCounter"}
		}
		return []string{"Int64UpDownCounter", "Int64ObservableUpDownCounter"}
	case metricdata.Gauge[int64]:
		return []string{"Int64Gauge", "Int64ObservableGauge"}
	case metricdata.Gauge[float64]:
		return []string{"Float64Gauge", "Float64ObservableGauge"}
	case metricdata.Histogram[float64]:
		return []string{"Float64Histogram"}
	}
	t.Fatalf("unexpected data %T for %s", m.Data, m.Name)
	return nil
}

// The package documentation lists every instrument, span event and log
// record with its attributes, and nothing else is emitted.
func TestDocumentationMatchesEmitted(t *testing.T) {
	doc := readDoc(t)
	// The scenario runs in a bubble, for the Syncer's timers; subtests
	// cannot.
	var (
		got    map[string]metricdata.Metrics
		events []sdktrace.Event
		logs   []captured
	)
	synctest.Test(t, func(t *testing.T) {
		got, events, logs = emitEverything(t)
	})

	t.Run("metrics", func(t *testing.T) {
		require.Len(t, doc["Metrics"], len(got), "documented instruments")
		for _, d := range doc["Metrics"] {
			require.Len(t, d.fields, 3, "name kind unit: %v", d.fields)
			name, kind, unit := d.fields[0], d.fields[1], d.fields[2]
			m, ok := got[name]
			if !assert.True(t, ok, "documented instrument %s not emitted", name) {
				continue
			}
			assert.Contains(t, kindOf(t, m), kind, name)
			assert.Equal(t, unit, m.Unit, name)
			assert.ElementsMatch(t, d.attrs, metricKeys(m), name)
		}
	})
	t.Run("span events", func(t *testing.T) {
		keys := map[string][]string{}
		for _, ev := range events {
			for _, kv := range ev.Attributes {
				keys[ev.Name] = append(keys[ev.Name], string(kv.Key))
			}
		}
		require.Len(t, doc["Span events"], len(keys))
		for _, d := range doc["Span events"] {
			require.Len(t, d.fields, 1)
			assert.ElementsMatch(t, d.attrs, dedup(keys[d.fields[0]]), d.fields[0])
		}
	})
	t.Run("logs", func(t *testing.T) {
		keys := map[string][]string{}
		levels := map[string][]string{}
		for _, r := range logs {
			keys[r.msg] = append(keys[r.msg], r.keys...)
			levels[r.msg] = append(levels[r.msg], r.level.String())
		}
		require.Len(t, doc["Logs"], len(keys))
		for _, d := range doc["Logs"] {
			require.Len(t, d.fields, 2)
			msg := d.fields[0]
			assert.ElementsMatch(t, d.attrs, dedup(keys[msg]), msg)
			assert.ElementsMatch(t, strings.Split(d.fields[1], "|"), dedup(levels[msg]), msg)
		}
	})
}

// emitEverything runs a scenario that emits every instrument, span event
// and log record, and returns them.
func emitEverything(t *testing.T) (map[string]metricdata.Metrics, []sdktrace.Event, []captured) {
	e := newEnv(t)
	b := e.get(t, "model_server")
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { require.NoError(t, tp.Shutdown(context.Background())) })
	ctx, span := tp.Tracer("test").Start(context.Background(), "call")
	runScenario(t, ctx, e.clock, b)
	b.ForceOpen()
	e.clock.Advance(10 * time.Second)
	require.ErrorIs(t, call(ctx, e.clock, b, 0, nil), breaker.ErrOpen)
	// A rate policy's trip (its window) and a peer's decision (origin and
	// peer) complete the attributes of a state change.
	rated, err := e.reg.Get("rated", breaker.WithTripPolicy(breaker.FailureRate(0.5, 2, breaker.LastCalls(10))))
	require.NoError(t, err)
	require.ErrorIs(t, call(ctx, e.clock, rated, 0, errBoom), errBoom)
	require.ErrorIs(t, call(ctx, e.clock, rated, 0, errBoom), errBoom)
	_, err = rated.Apply(ctx, breaker.Remote{To: breaker.Closed, Reason: breaker.ReasonTrialsSucceeded, Origin: breaker.OriginPeer, Peer: "pod-7"})
	require.NoError(t, err)
	span.End()
	// A breaker with both windowed trip policies, and one on an
	// asynchronous bus of its own, so that every instrument is emitted.
	ranker, err := e.reg.Get("ranker", windowedPolicies())
	require.NoError(t, err)
	require.NoError(t, call(context.Background(), e.clock, ranker, 200*time.Millisecond, nil))
	async := events.NewAsync[breaker.Event](8)
	t.Cleanup(func() { require.NoError(t, async.Close()) })
	queued, err := breaker.New("queued", breaker.WithEventBus(async))
	require.NoError(t, err)
	detach, err := e.tel.AttachBreaker(queued)
	require.NoError(t, err)
	t.Cleanup(detach)

	// A Syncer that received another replica's decision.
	store := sharedstatetest.NewStore()
	client := store.Client()
	client.SetDelay(time.Millisecond)
	detachSync, err := e.tel.AttachSyncer(attachSyncer(t, e.reg, client, "pod-a"))
	require.NoError(t, err)
	t.Cleanup(detachSync)
	trip(t, peer(t, store, "pod-b"), "shared")
	time.Sleep(10 * time.Millisecond)
	synctest.Wait()
	return e.collect(t), rec.Ended()[0].Events(), e.logs.records()
}

func dedup(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// metricKeys returns the attribute keys used by m's data points.
func metricKeys(m metricdata.Metrics) []string {
	var keys []string
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			for _, kv := range p.Attributes.ToSlice() {
				keys = append(keys, string(kv.Key))
			}
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			for _, kv := range p.Attributes.ToSlice() {
				keys = append(keys, string(kv.Key))
			}
		}
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			for _, kv := range p.Attributes.ToSlice() {
				keys = append(keys, string(kv.Key))
			}
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			for _, kv := range p.Attributes.ToSlice() {
				keys = append(keys, string(kv.Key))
			}
		}
	}
	return dedup(keys)
}
