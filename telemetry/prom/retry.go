package prom

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/fusebox-go/fusebox/retry"
	"github.com/fusebox-go/fusebox/telemetry"
	"github.com/fusebox-go/fusebox/telemetry/internal/series"
)

// The retry series' names on the page, as the OTel Prometheus exporter
// renders the telemetry package's retry instruments.
const (
	nameRetryCalls    = "retry_calls_total"
	nameRetryStops    = "retry_stops_total"
	nameRetryAttempts = "retry_attempts_total"
	nameRetryBudget   = "retry_budget_available"
	nameRetryRetries  = "retry_call_retries"
	nameRetryDelay    = "retry_call_delay_seconds"

	labelRetryName    = "retry_name"
	labelRetryOutcome = "retry_outcome"
	labelRetryReason  = "retry_reason"
)

var retryBounds = series.RetryBuckets

// AttachRetry adds a retry policy to the page: retry_calls_total by
// retry_outcome, retry_stops_total by retry_reason, retry_attempts_total,
// retry_budget_available, and the histograms retry_call_retries and
// retry_call_delay_seconds, each labelled retry_name (see
// telemetry.Telemetry.AttachRetry for what they mean), the same series
// whether the page is rendered natively or with [WithOTelExporter], and
// through [WithReader]'s readers too. It also writes the policy's span
// events and logs.
//
// detach removes the policy from the native page; [Handler.Shutdown]
// detaches every policy. With [WithOTelExporter] its observed series
// (calls, stops, attempts, budget) leave the page too, but the
// OpenTelemetry SDK, which cannot delete a series, keeps the two
// histograms at their last values, as it keeps a removed breaker's (the
// readers of [WithReader] keep exporting them, with either collector). A policy is attached once (a second AttachRetry, here or
// on another Telemetry, returns an error wrapping
// telemetry.ErrAlreadyAttached), another policy of the same name is
// refused while the first is attached (telemetry.ErrRetryNameTaken: their
// series would merge), and AttachRetry after Shutdown returns an error.
func (h *Handler) AttachRetry(p *retry.Policy) (detach func(), err error) {
	return h.retries.attach(h, p)
}

// retryAttachments are a Handler's AttachRetry calls not yet detached.
type retryAttachments struct {
	mu     sync.Mutex
	closed bool
	list   []*retryHandle
}

type retryHandle struct {
	detach func()
	once   sync.Once
}

var errShutDown = errors.New("prom: AttachRetry after Shutdown")

func (r *retryAttachments) attach(h *Handler, p *retry.Policy) (func(), error) {
	if p == nil {
		return nil, errors.New("prom: AttachRetry called with a nil policy")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || h.tel == nil {
		return nil, errShutDown
	}
	d, err := h.tel.AttachRetry(p)
	if err != nil {
		return nil, err
	}
	if h.native != nil {
		h.native.retry.add(p)
	}
	rh := &retryHandle{}
	rh.detach = func() {
		rh.once.Do(func() {
			d()
			if h.native != nil {
				h.native.retry.remove(p)
			}
			r.mu.Lock()
			r.list = slices.DeleteFunc(r.list, func(o *retryHandle) bool { return o == rh })
			r.mu.Unlock()
		})
	}
	r.list = append(r.list, rh)
	return rh.detach, nil
}

// detachAll detaches every policy, and refuses new ones.
func (r *retryAttachments) detachAll() {
	r.mu.Lock()
	r.closed = true
	list := slices.Clone(r.list)
	r.mu.Unlock()
	for _, rh := range list {
		rh.detach()
	}
}

// retryNative is the native collector's part for retry policies: it reads
// each attached policy's Stats at scrape time, and records the histograms
// of retried calls (as a telemetry.RetryRecorder).
type retryNative struct {
	calls, stops, attempts, budget *prometheus.Desc
	retries, delay                 *prometheus.HistogramVec

	outcomeValues [len(series.RetryOutcomes)]string
	reasonValues  [len(series.RetryReasons)]string

	policies atomic.Pointer[[]*retry.Policy] // replaced, never changed in place
	mu       sync.Mutex                      // serialises writers of policies
}

func newRetryNative(constLabels prometheus.Labels) *retryNative {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, constLabels)
	}
	r := &retryNative{
		calls:    desc(nameRetryCalls, series.RetryCalls.Help, labelRetryName, labelRetryOutcome),
		stops:    desc(nameRetryStops, series.RetryStops.Help, labelRetryName, labelRetryReason),
		attempts: desc(nameRetryAttempts, series.RetryAttempts.Help, labelRetryName),
		budget:   desc(nameRetryBudget, series.RetryBudget.Help, labelRetryName),
		retries: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: nameRetryRetries, Help: series.RetryRetries.Help, ConstLabels: constLabels, Buckets: retryBounds[:],
		}, []string{labelRetryName, labelRetryOutcome}),
		delay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: nameRetryDelay, Help: series.RetryDelay.Help, ConstLabels: constLabels, Buckets: durationBounds[:],
		}, []string{labelRetryName}),
	}
	for i, o := range series.RetryOutcomes {
		r.outcomeValues[i] = o.String()
	}
	for i, x := range series.RetryReasons {
		r.reasonValues[i] = x.String()
	}
	return r
}

func (r *retryNative) add(p *retry.Policy) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var list []*retry.Policy
	if old := r.policies.Load(); old != nil {
		list = slices.Clone(*old)
	}
	list = append(list, p)
	r.policies.Store(&list)
}

// remove drops p from the page, its histogram series included.
func (r *retryNative) remove(p *retry.Policy) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.policies.Load(); old != nil {
		list := slices.DeleteFunc(slices.Clone(*old), func(o *retry.Policy) bool { return o == p })
		r.policies.Store(&list)
	}
	r.retries.DeletePartialMatch(prometheus.Labels{labelRetryName: p.Name()})
	r.delay.DeletePartialMatch(prometheus.Labels{labelRetryName: p.Name()})
}

func (r *retryNative) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{r.calls, r.stops, r.attempts, r.budget} {
		ch <- d
	}
	r.retries.Describe(ch)
	r.delay.Describe(ch)
}

func (r *retryNative) collect(ch chan<- prometheus.Metric) {
	if p := r.policies.Load(); p != nil {
		for _, pol := range *p {
			series.VisitRetry(pol.Stats(), retryCollector{r: r, ch: ch, name: pol.Name()})
		}
	}
	r.retries.Collect(ch)
	r.delay.Collect(ch)
}

// retryCollector emits one policy's series as constant metrics.
type retryCollector struct {
	r    *retryNative
	ch   chan<- prometheus.Metric
	name string
}

func (v retryCollector) RetryCalls(o retry.Outcome, n int64) {
	v.ch <- prometheus.MustNewConstMetric(v.r.calls, prometheus.CounterValue, float64(n), v.name, v.r.outcomeValues[o])
}

func (v retryCollector) RetryStops(x retry.Reason, n int64) {
	v.ch <- prometheus.MustNewConstMetric(v.r.stops, prometheus.CounterValue, float64(n), v.name, v.r.reasonValues[x])
}

func (v retryCollector) RetryAttempts(n int64) {
	v.ch <- prometheus.MustNewConstMetric(v.r.attempts, prometheus.CounterValue, float64(n), v.name)
}

func (v retryCollector) RetryBudget(tokens float64) {
	v.ch <- prometheus.MustNewConstMetric(v.r.budget, prometheus.GaugeValue, tokens, v.name)
}

// ForRetry implements telemetry.RetryRecorder: the native page's
// histograms of p's retried calls.
func (c *native) ForRetry(p *retry.Policy) telemetry.RetryPolicyRecorder {
	return &nativeRetry{c: c, name: p.Name()}
}

var _ telemetry.RetryRecorder = (*native)(nil)

// nativeRetry records one policy's retried calls. Its series are looked up
// once, on first use, and kept.
type nativeRetry struct {
	c       *native
	name    string
	retries [len(series.RetryOutcomes)]atomic.Pointer[exemplarSeries]
	delay   atomic.Pointer[exemplarSeries]
}

// exemplarSeries is one histogram series with, for each bucket, the
// scrape count plus one when it last took an exemplar (as durationSeries).
type exemplarSeries struct {
	obs      prometheus.Observer
	ex       prometheus.ExemplarObserver // nil if obs takes no exemplars
	bounds   []float64
	exemplar []atomic.Uint64
}

func newExemplarSeries(obs prometheus.Observer, bounds []float64) *exemplarSeries {
	s := &exemplarSeries{obs: obs, bounds: bounds, exemplar: make([]atomic.Uint64, len(bounds)+1)}
	s.ex, _ = obs.(prometheus.ExemplarObserver)
	return s
}

// observe records v, as the bucket's exemplar when ctx holds a sampled
// span and the bucket has not taken one since the last scrape.
func (s *exemplarSeries) observe(ctx context.Context, scrapes uint64, v float64) {
	if s.ex != nil {
		slot := &s.exemplar[bucketIn(s.bounds, v)]
		if prev := slot.Load(); prev != scrapes {
			if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() && slot.CompareAndSwap(prev, scrapes) {
				s.ex.ObserveWithExemplar(v, exemplarLabels(sc))
				return
			}
		}
	}
	s.obs.Observe(v)
}

// bucketIn returns the index of the bucket of bounds that v falls in.
func bucketIn(bounds []float64, v float64) int {
	i, _ := slices.BinarySearch(bounds, v)
	return i
}

// RecordRetriedCall observes a retried call's retries and waiting time.
func (n *nativeRetry) RecordRetriedCall(ctx context.Context, o retry.Outcome, retries int, waited time.Duration) {
	if int(o) >= len(n.retries) {
		return
	}
	scrapes := n.c.scrapes.Load() + 1
	s := n.retries[o].Load()
	if s == nil {
		obs, err := n.c.retry.retries.GetMetricWithLabelValues(n.name, o.String())
		if err != nil { // cannot happen: two label values, valid UTF-8
			panic(err)
		}
		n.retries[o].CompareAndSwap(nil, newExemplarSeries(obs, retryBounds[:]))
		s = n.retries[o].Load()
	}
	s.observe(ctx, scrapes, float64(retries))
	d := n.delay.Load()
	if d == nil {
		obs, err := n.c.retry.delay.GetMetricWithLabelValues(n.name)
		if err != nil {
			panic(err)
		}
		n.delay.CompareAndSwap(nil, newExemplarSeries(obs, durationBounds[:]))
		d = n.delay.Load()
	}
	d.observe(ctx, scrapes, waited.Seconds())
}
