package prom

import (
	"context"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/telemetry"
)

// The page's names, as the OTel Prometheus exporter renders the telemetry
// package's instruments with the UnderscoreEscapingWithSuffixes strategy.
// TestNativeMatchesExporter renders the same scenario both ways and
// compares the pages, so a change on either side fails it.
const (
	nameState        = "circuit_breaker_state"
	nameCalls        = "circuit_breaker_calls_total"
	nameConsecutive  = "circuit_breaker_consecutive_failures"
	nameFailureRatio = "circuit_breaker_failure_ratio"
	nameSlowRatio    = "circuit_breaker_slow_call_ratio"
	nameSlowCalls    = "circuit_breaker_slow_calls_total"
	nameDropped      = "circuit_breaker_events_dropped_total"
	nameDuration     = "circuit_breaker_call_duration_seconds"
	nameTransitions  = "circuit_breaker_transitions_total"

	labelName    = "circuit_breaker_name"
	labelState   = "circuit_breaker_state"
	labelOutcome = "circuit_breaker_outcome"
	labelFrom    = "circuit_breaker_from_state"
	labelTo      = "circuit_breaker_to_state"

	// The exporter's labels for the instrumentation scope, and the help
	// text of target_info.
	labelScopeName    = "otel_scope_name"
	labelScopeVersion = "otel_scope_version"
	labelScopeSchema  = "otel_scope_schema_url"
	helpTargetInfo    = "Target metadata"
)

// durationBuckets are the telemetry package's bucket boundaries of
// circuit_breaker.call.duration, in seconds.
var durationBuckets = durationBounds[:]

var durationBounds = [...]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// The states and outcomes the collector reports, in the order of their
// values, with their label values.
var (
	states   = [...]breaker.State{breaker.Closed, breaker.Open, breaker.HalfOpen}
	outcomes = [...]breaker.Outcome{breaker.OutcomeSuccess, breaker.OutcomeFailure, breaker.OutcomeIgnored, breaker.OutcomeRejected}
)

// native is the collector of the native path: a prometheus.Collector that
// reads every breaker's Stats at scrape time, and a telemetry.Recorder that
// feeds the duration histogram and the transitions counter from the
// telemetry attachment's events. It emits the series the OTel exporter
// would emit for the same breakers, without the SDK in between.
type native struct {
	reg *breaker.Registry
	bus *events.Async[breaker.Event] // the registry's bus, when asynchronous

	// scrapes counts the collections; a bucket takes at most one new
	// exemplar between two (see durationSeries.takeExemplar).
	scrapes atomic.Uint64

	target                                            prometheus.Metric // nil: none
	state, calls, consecutive                         *prometheus.Desc
	failureRatio, slowRatio, slowCalls, droppedEvents *prometheus.Desc
	duration                                          *prometheus.HistogramVec
	transitions                                       *prometheus.CounterVec

	stateValues   [len(states)]string
	outcomeValues [len(outcomes)]string
	shadowValue   string
}

var (
	_ prometheus.Collector      = (*native)(nil)
	_ telemetry.Recorder        = (*native)(nil)
	_ telemetry.BreakerRecorder = (*nativeBreaker)(nil)
)

// newNative builds the collector for reg. res is the resource target_info
// describes; scope says whether every breaker series carries the
// otel_scope_* labels.
func newNative(reg *breaker.Registry, res *resource.Resource, scope bool) (*native, error) {
	var constLabels prometheus.Labels
	if scope {
		constLabels = prometheus.Labels{
			labelScopeName:    telemetry.ScopeName,
			labelScopeVersion: telemetry.Version,
			labelScopeSchema:  "",
		}
	}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, constLabels)
	}
	c := &native{
		reg: reg,
		state: desc(nameState,
			"Whether the circuit breaker is in the given state: 1 for its current state, 0 for the others.",
			labelName, labelState),
		calls: desc(nameCalls,
			"Calls through the circuit breaker by outcome, rejected calls included.",
			labelName, labelOutcome),
		consecutive: desc(nameConsecutive,
			"Consecutive failures: the current run while closed, the run that opened the circuit breaker while open or half-open.",
			labelName),
		failureRatio: desc(nameFailureRatio,
			"Share of failed calls in the window of the circuit breaker's failure-rate policy.",
			labelName),
		slowRatio: desc(nameSlowRatio,
			"Share of slow calls in the window of the circuit breaker's slow-call policy.",
			labelName),
		slowCalls: desc(nameSlowCalls,
			"Calls that ran at least as long as the slow-call threshold of the circuit breaker.",
			labelName),
		droppedEvents: desc(nameDropped,
			"Circuit breaker events that an asynchronous event bus dropped because its queue was full or it was closed."),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        nameDuration,
			Help:        "Duration of the calls the circuit breaker admitted, by outcome.",
			ConstLabels: constLabels,
			Buckets:     durationBuckets,
		}, []string{labelName, labelOutcome}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        nameTransitions,
			Help:        "State transitions of the circuit breaker.",
			ConstLabels: constLabels,
		}, []string{labelName, labelFrom, labelTo}),
		shadowValue: breaker.OutcomeShadowRejected.String(),
	}
	c.bus, _ = reg.Events().(*events.Async[breaker.Event])
	for i, s := range states {
		c.stateValues[i] = s.String()
	}
	for i, o := range outcomes {
		c.outcomeValues[i] = o.String()
	}
	if res != nil {
		target, err := targetInfo(res)
		if err != nil {
			return nil, err
		}
		c.target = target
	}
	return c, nil
}

// targetInfo builds the target_info series of res as the OTel exporter
// does: one label per resource attribute, its key escaped to a Prometheus
// label name; keys that escape to the same name share a label whose value
// joins theirs, sorted, with ";".
func targetInfo(res *resource.Resource) (prometheus.Metric, error) {
	var namer otlptranslator.LabelNamer
	values := map[string][]string{}
	for it := res.Iter(); it.Next(); {
		kv := it.Attribute()
		key, err := namer.Build(string(kv.Key))
		if err != nil {
			return nil, err
		}
		values[key] = append(values[key], kv.Value.String())
	}
	keys := make([]string, 0, len(values))
	vals := make([]string, 0, len(values))
	for key, vs := range values {
		slices.Sort(vs)
		keys = append(keys, key)
		vals = append(vals, strings.Join(vs, ";"))
	}
	desc := prometheus.NewDesc(otlptranslator.TargetInfoMetricName, helpTargetInfo, keys, nil)
	return prometheus.NewConstMetric(desc, prometheus.GaugeValue, 1, vals...)
}

// Describe sends every series' description.
func (c *native) Describe(ch chan<- *prometheus.Desc) {
	if c.target != nil {
		ch <- c.target.Desc()
	}
	for _, d := range []*prometheus.Desc{c.state, c.calls, c.consecutive, c.failureRatio, c.slowRatio, c.slowCalls, c.droppedEvents} {
		ch <- d
	}
	c.duration.Describe(ch)
	c.transitions.Describe(ch)
}

// Collect reads every breaker's Stats, then the bus's drops, the
// durations and the transitions. Reading Stats may publish a due open to
// half-open transition, which the transitions counter then already holds.
func (c *native) Collect(ch chan<- prometheus.Metric) {
	c.scrapes.Add(1)
	if c.target != nil {
		ch <- c.target
	}
	c.reg.Range(func(b *breaker.Breaker) bool {
		c.collectBreaker(ch, b)
		return true
	})
	if c.bus != nil {
		ch <- prometheus.MustNewConstMetric(c.droppedEvents, prometheus.CounterValue, count(c.bus.Dropped()))
	}
	c.duration.Collect(ch)
	c.transitions.Collect(ch)
}

// collectBreaker emits what the telemetry package observes for b, under
// the same conditions, from one Stats snapshot.
func (c *native) collectBreaker(ch chan<- prometheus.Metric, b *breaker.Breaker) {
	s := b.Stats()
	name := b.Name()
	for i, st := range states {
		var v float64
		if s.State == st {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, name, c.stateValues[i])
	}
	for i, n := range [...]uint64{s.TotalSuccesses, s.TotalFailures, s.TotalIgnored, s.TotalRejected} {
		ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, count(n), name, c.outcomeValues[i])
	}
	if s.Shadow || s.TotalShadowRejected != 0 {
		ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, count(s.TotalShadowRejected), name, c.shadowValue)
	}
	ch <- prometheus.MustNewConstMetric(c.consecutive, prometheus.GaugeValue, float64(s.FailureCount), name)
	if w := s.FailureRate; w != nil {
		ch <- prometheus.MustNewConstMetric(c.failureRatio, prometheus.GaugeValue, w.Ratio, name)
	}
	if w := s.SlowCallRate; w != nil {
		ch <- prometheus.MustNewConstMetric(c.slowRatio, prometheus.GaugeValue, w.Ratio, name)
	}
	if s.SlowCallRate != nil || s.TotalSlowCalls != 0 {
		ch <- prometheus.MustNewConstMetric(c.slowCalls, prometheus.CounterValue, count(s.TotalSlowCalls), name)
	}
}

// count converts a total as the OTel path does: through an int64.
func count(v uint64) float64 { return float64(min(v, math.MaxInt64)) }

// ForBreaker implements telemetry.Recorder. It creates no series: those
// appear with the first duration or transition, as they do on the OTel
// path.
func (c *native) ForBreaker(b *breaker.Breaker) telemetry.BreakerRecorder {
	return &nativeBreaker{c: c, b: b}
}

// nativeBreaker records one breaker's durations and transitions. Its
// series are looked up once, on first use, and kept.
type nativeBreaker struct {
	c           *native
	b           *breaker.Breaker
	durations   [3]atomic.Pointer[durationSeries]                 // by outcome: success, failure, ignored
	transitions [len(states)][len(states)]atomic.Pointer[counter] // [from][to]
}

// durationSeries is one (breaker, outcome) series of the histogram, with,
// for each bucket, the scrape count plus one when it last took an exemplar
// (zero: never).
type durationSeries struct {
	obs      prometheus.Observer
	ex       prometheus.ExemplarObserver // nil if obs takes no exemplars
	exemplar [len(durationBounds) + 1]atomic.Uint64
}

type counter struct{ prometheus.Counter }

// RecordCall observes an admitted call's duration. When the call's span is
// sampled, and its bucket has not taken an exemplar since the last scrape,
// the sample becomes the bucket's exemplar, with the span's trace and span
// ids: the labels the OTel exporter gives exemplars. A scrape shows one
// exemplar per bucket, so replacing it more often would only cost (building
// an exemplar allocates), and counting scrapes needs no clock read.
func (n *nativeBreaker) RecordCall(ctx context.Context, o breaker.Outcome, d time.Duration) {
	if int(o) >= len(n.durations) {
		return
	}
	s := n.durations[o].Load()
	if s == nil {
		s = n.durationSeries(o)
	}
	v := d.Seconds()
	if s.ex != nil {
		// The bucket is checked first: once it holds this scrape period's
		// exemplar, the context is not searched for a span.
		slot, scrapes := &s.exemplar[bucketOf(v)], n.c.scrapes.Load()+1
		if prev := slot.Load(); prev != scrapes {
			if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() && slot.CompareAndSwap(prev, scrapes) {
				s.ex.ObserveWithExemplar(v, exemplarLabels(sc))
				return
			}
		}
	}
	s.obs.Observe(v)
}

func (n *nativeBreaker) durationSeries(o breaker.Outcome) *durationSeries {
	obs, err := n.c.duration.GetMetricWithLabelValues(n.b.Name(), o.String())
	if err != nil { // cannot happen: two label values, valid UTF-8
		panic(err)
	}
	s := &durationSeries{obs: obs}
	s.ex, _ = obs.(prometheus.ExemplarObserver)
	if n.durations[o].CompareAndSwap(nil, s) {
		return s
	}
	return n.durations[o].Load()
}

// bucketOf returns the index of the histogram bucket v falls in: the first
// bound v does not exceed, or the +Inf bucket (what client_golang does, and
// sort.SearchFloat64s without its closure calls).
func bucketOf(v float64) int {
	lo, hi := 0, len(durationBounds)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if durationBounds[m] < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func exemplarLabels(sc trace.SpanContext) prometheus.Labels {
	return prometheus.Labels{
		otlptranslator.ExemplarTraceIDKey: sc.TraceID().String(),
		otlptranslator.ExemplarSpanIDKey:  sc.SpanID().String(),
	}
}

// RecordTransition counts a state change, with the span of the call that
// caused it as the exemplar when that span is sampled.
func (n *nativeBreaker) RecordTransition(ctx context.Context, from, to breaker.State) {
	var c prometheus.Counter
	if int(from) < len(states) && int(to) < len(states) {
		p := &n.transitions[from][to]
		cc := p.Load()
		if cc == nil {
			cc = &counter{n.c.transitions.WithLabelValues(n.b.Name(), from.String(), to.String())}
			p.Store(cc)
		}
		c = cc.Counter
	} else {
		c = n.c.transitions.WithLabelValues(n.b.Name(), from.String(), to.String())
	}
	if ex, ok := c.(prometheus.ExemplarAdder); ok {
		if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
			ex.AddWithExemplar(1, exemplarLabels(sc))
			return
		}
	}
	c.Inc()
}
