package prom

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/telemetry"
	"github.com/fusebox-go/fusebox/telemetry/internal/series"
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
	nameLastChange   = "circuit_breaker_last_state_change_time_seconds"
	nameForced       = "circuit_breaker_forced"
	nameShadow       = "circuit_breaker_shadow_mode"

	labelName    = "circuit_breaker_name"
	labelState   = "circuit_breaker_state"
	labelOutcome = "circuit_breaker_outcome"
	labelFrom    = "circuit_breaker_from_state"
	labelTo      = "circuit_breaker_to_state"
	labelReason  = "circuit_breaker_reason"
	labelOrigin  = "circuit_breaker_origin"

	// The exporter's labels for the instrumentation scope, and the help
	// text of target_info.
	labelScopeName    = "otel_scope_name"
	labelScopeVersion = "otel_scope_version"
	labelScopeSchema  = "otel_scope_schema_url"
	helpTargetInfo    = "Target metadata"
)

// The states and outcomes the collector reports, in the order of their
// values, and the duration buckets: the telemetry package's.
var (
	states         = series.States
	outcomes       = series.Outcomes
	durationBounds = series.DurationBuckets
)

// native is the collector of the native path: a prometheus.Collector that
// reads every breaker's Peek at scrape time, and a telemetry.Recorder that
// feeds the duration histogram and the transitions counter from the
// telemetry attachment's events. It emits the series the OTel exporter
// would emit for the same breakers, without the SDK in between.
type native struct {
	reg *breaker.Registry
	bus *events.Async[breaker.Event] // the registry's bus, when asynchronous

	// precreated holds the breakers whose precreated transitions series
	// exist (*breaker.Breaker -> struct{}): made by ForBreaker, or by
	// Collect for a breaker that had no event yet, as the OTel path makes
	// them when its collection callback first sees a breaker.
	precreated sync.Map
	// remote is, with WithSyncer, the Syncer's registry and the
	// transitions from elsewhere whose series its breakers have at 0.
	remote atomic.Pointer[series.Remote]

	// scrapes counts the collections; a bucket takes at most one new
	// exemplar between two (see durationSeries.takeExemplar).
	scrapes atomic.Uint64

	target                                            prometheus.Metric // nil: none
	state, calls, consecutive                         *prometheus.Desc
	failureRatio, slowRatio, slowCalls, droppedEvents *prometheus.Desc
	lastChange, forced, shadow                        *prometheus.Desc
	duration                                          *prometheus.HistogramVec
	transitions                                       *prometheus.CounterVec

	retry *retryNative // the retry policies of Handler.AttachRetry

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
	constLabels := scopeLabels(scope)
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, constLabels)
	}
	c := &native{
		reg:           reg,
		state:         desc(nameState, series.State.Help, labelName, labelState),
		calls:         desc(nameCalls, series.Calls.Help, labelName, labelOutcome),
		consecutive:   desc(nameConsecutive, series.Consecutive.Help, labelName),
		failureRatio:  desc(nameFailureRatio, series.FailureRatio.Help, labelName),
		slowRatio:     desc(nameSlowRatio, series.SlowCallRatio.Help, labelName),
		slowCalls:     desc(nameSlowCalls, series.SlowCalls.Help, labelName),
		droppedEvents: desc(nameDropped, series.Dropped.Help),
		lastChange:    desc(nameLastChange, series.LastStateChange.Help, labelName),
		forced:        desc(nameForced, series.Forced.Help, labelName),
		shadow:        desc(nameShadow, series.ShadowMode.Help, labelName),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        nameDuration,
			Help:        series.Duration.Help,
			ConstLabels: constLabels,
			Buckets:     durationBounds[:],
		}, []string{labelName, labelOutcome}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        nameTransitions,
			Help:        series.Transitions.Help,
			ConstLabels: constLabels,
		}, []string{labelName, labelFrom, labelTo, labelReason, labelOrigin}),
		shadowValue: breaker.OutcomeShadowRejected.String(),
	}
	c.retry = newRetryNative(constLabels)
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

// scopeLabels returns the otel_scope_* labels every series carries, or
// none without scope.
func scopeLabels(scope bool) prometheus.Labels {
	if !scope {
		return nil
	}
	return prometheus.Labels{
		labelScopeName:    telemetry.ScopeName,
		labelScopeVersion: telemetry.Version,
		labelScopeSchema:  "",
	}
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
	for _, d := range []*prometheus.Desc{c.state, c.calls, c.consecutive, c.failureRatio, c.slowRatio, c.slowCalls, c.droppedEvents, c.lastChange, c.forced, c.shadow} {
		ch <- d
	}
	c.duration.Describe(ch)
	c.transitions.Describe(ch)
	c.retry.describe(ch)
}

// Collect reads every breaker with Peek, then the bus's drops, the
// durations and the transitions. Peek shows a due open to half-open
// transition without making it, so a scrape never publishes one: the
// breaker's next call, State or Stats does, and counts it then.
func (c *native) Collect(ch chan<- prometheus.Metric) {
	c.scrapes.Add(1)
	if c.target != nil {
		ch <- c.target
	}
	v := &collector{c: c, ch: ch}
	c.reg.Range(func(b *breaker.Breaker) bool {
		v.name = b.Name()
		if _, ok := c.precreated.Load(b); !ok {
			c.precreate(b)
		}
		series.Visit(b.Peek(), v)
		return true
	})
	if c.bus != nil {
		ch <- prometheus.MustNewConstMetric(c.droppedEvents, prometheus.CounterValue, float64(series.Count(c.bus.Dropped())))
	}
	c.duration.Collect(ch)
	c.transitions.Collect(ch)
	c.retry.collect(ch)
}

// collector emits one breaker's series (series.Visit decides which) as
// constant metrics; one is reused for a whole scrape.
type collector struct {
	c    *native
	ch   chan<- prometheus.Metric
	name string
}

func (v *collector) emit(d *prometheus.Desc, t prometheus.ValueType, x float64, labels ...string) {
	v.ch <- prometheus.MustNewConstMetric(d, t, x, labels...)
}

func (v *collector) State(i int, x int64) {
	v.emit(v.c.state, prometheus.GaugeValue, float64(x), v.name, v.c.stateValues[i])
}

func (v *collector) Calls(o breaker.Outcome, n int64) {
	value := v.c.shadowValue
	if int(o) < len(v.c.outcomeValues) {
		value = v.c.outcomeValues[o]
	}
	v.emit(v.c.calls, prometheus.CounterValue, float64(n), v.name, value)
}

func (v *collector) Consecutive(n int64) {
	v.emit(v.c.consecutive, prometheus.GaugeValue, float64(n), v.name)
}
func (v *collector) LastStateChange(s float64) {
	v.emit(v.c.lastChange, prometheus.GaugeValue, s, v.name)
}
func (v *collector) Forced(x int64) {
	v.emit(v.c.forced, prometheus.GaugeValue, float64(x), v.name)
}
func (v *collector) ShadowMode(x int64) {
	v.emit(v.c.shadow, prometheus.GaugeValue, float64(x), v.name)
}
func (v *collector) FailureRatio(r float64) {
	v.emit(v.c.failureRatio, prometheus.GaugeValue, r, v.name)
}
func (v *collector) SlowCallRatio(r float64) {
	v.emit(v.c.slowRatio, prometheus.GaugeValue, r, v.name)
}
func (v *collector) SlowCalls(n int64) {
	v.emit(v.c.slowCalls, prometheus.CounterValue, float64(n), v.name)
}

// forget deletes the duration and transition series of a breaker removed
// from the registry; its observed series vanish by themselves, since
// Collect walks the registry.
func (c *native) forget(b *breaker.Breaker) {
	c.precreated.Delete(b)
	if cur, ok := c.reg.Lookup(b.Name()); ok && cur != b {
		// A new breaker of the same name was created meanwhile (the
		// removal is told after the registry's lock is released): the
		// series are its now, and go on from the old one's counts.
		return
	}
	labels := prometheus.Labels{labelName: b.Name()}
	c.duration.DeletePartialMatch(labels)
	c.transitions.DeletePartialMatch(labels)
}

// ForBreaker implements telemetry.Recorder. It creates b's precreated
// transitions series at 0 (again, if they exist: that is harmless); the
// duration series appear with the first duration, as they do on the OTel
// path.
func (c *native) ForBreaker(b *breaker.Breaker) telemetry.BreakerRecorder {
	c.precreate(b)
	return &nativeBreaker{c: c, b: b}
}

// precreate creates b's transitions series that series.KnownTransitions
// marks precreated, at 0 and with origin local, and those of series.Remote
// for a breaker of the Syncer's registry, and notes that it did.
func (c *native) precreate(b *breaker.Breaker) {
	local := breaker.OriginLocal.String()
	for _, k := range series.KnownTransitions {
		if k.Precreated {
			c.transitions.WithLabelValues(b.Name(), k.From.String(), k.To.String(), k.Reason.String(), local)
		}
	}
	if r := c.remote.Load(); r.Covers(b) {
		c.precreateRemote(b, r)
	}
	c.precreated.Store(b, struct{}{})
	// A scrape walks a snapshot of the registry, and an attachment may
	// prepare a breaker whose removal is under way: if b is gone, its
	// removal may have deleted its series before they were made here.
	if cur, ok := c.reg.Lookup(b.Name()); !ok || cur != b {
		c.forget(b)
	}
}

// precreateRemote creates b's transitions series of r at 0.
func (c *native) precreateRemote(b *breaker.Breaker, r *series.Remote) {
	for _, k := range r.List {
		c.transitions.WithLabelValues(b.Name(), k.From.String(), k.To.String(), k.Reason.String(), k.Origin.String())
	}
}

// addRemote makes every breaker of r's registry, those there now and
// those created later, have r's transitions series at 0, as the OTel path
// does once its Telemetry observes the Syncer.
func (c *native) addRemote(r *series.Remote) {
	if r.Reg != c.reg {
		return
	}
	// Stored first, so that a breaker seen meanwhile is covered either by
	// its own precreate or by this walk.
	c.remote.Store(r)
	c.reg.Range(func(b *breaker.Breaker) bool {
		c.precreateRemote(b, r)
		return true
	})
}

// nativeBreaker records one breaker's durations and transitions. Its
// series are looked up once, on first use, and kept.
type nativeBreaker struct {
	c           *native
	b           *breaker.Breaker
	durations   [3]atomic.Pointer[durationSeries]                     // by outcome: success, failure, ignored
	transitions [len(series.KnownTransitions)]atomic.Pointer[counter] // by series.TransitionIndex (origin local)
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
	if !n.durations[o].CompareAndSwap(nil, s) {
		return n.durations[o].Load()
	}
	n.forgetIfRemoved()
	return s
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
func (n *nativeBreaker) RecordTransition(ctx context.Context, from, to breaker.State, reason breaker.Reason, origin breaker.Origin) {
	var c prometheus.Counter
	if i, ok := series.TransitionIndex(from, to, reason, origin); ok {
		p := &n.transitions[i]
		cc := p.Load()
		if cc == nil {
			cc = &counter{n.c.transitions.WithLabelValues(n.b.Name(), from.String(), to.String(), reason.String(), origin.String())}
			p.Store(cc)
			defer n.forgetIfRemoved()
		}
		c = cc.Counter
	} else {
		// A remote transition's series is looked up each time (they are
		// rare), and may be made again here.
		c = n.c.transitions.WithLabelValues(n.b.Name(), from.String(), to.String(), reason.String(), origin.String())
		defer n.forgetIfRemoved()
	}
	if ex, ok := c.(prometheus.ExemplarAdder); ok {
		if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
			ex.AddWithExemplar(1, exemplarLabels(sc))
			return
		}
	}
	c.Inc()
}

// forgetIfRemoved deletes the breaker's series again if it is no longer
// the registry's: an event delivered after the removal (its recorder
// fetched just before) may have made a series after the removal deleted
// them, and nothing else would delete it. It runs only where a series may
// have been made, not on every event.
func (n *nativeBreaker) forgetIfRemoved() {
	if cur, ok := n.c.reg.Lookup(n.b.Name()); !ok || cur != n.b {
		n.c.forget(n.b)
	}
}
