package bench

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/telemetry/prom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// durationBuckets are the bucket boundaries fusebox's telemetry gives the
// call duration histogram; the hand-written collector uses the same, so
// both pages have the same series.
var durationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// handCollector is what a client_golang user writes by hand to export a
// registry's breakers: a Collector that reads every breaker's Stats at
// scrape time (state, calls by outcome, consecutive failures, and the
// trip-policy ratios and slow calls of breakers that have those policies),
// and a histogram and a counter vector fed by a subscriber on the
// registry's bus (durations, transitions).
type handCollector struct {
	reg                  *breaker.Registry
	state, calls, consec *prometheus.Desc
	failRatio, slowRatio *prometheus.Desc
	slowCalls            *prometheus.Desc
	lastChange           *prometheus.Desc
	forced, shadow       *prometheus.Desc
	duration             *prometheus.HistogramVec
	transitions          *prometheus.CounterVec
	stateNames           [3]string
	outcomeNames         [4]string
	// precreated holds the breakers whose transitions the collector has
	// created at 0, so that the first trip is an increase.
	precreated sync.Map
}

func newHandCollector(reg *breaker.Registry) *handCollector {
	c := &handCollector{
		reg: reg,
		state: prometheus.NewDesc("circuit_breaker_state",
			"Whether the circuit breaker is in the given state: 1 for its current state, 0 for the others.",
			[]string{"circuit_breaker_name", "circuit_breaker_state"}, nil),
		calls: prometheus.NewDesc("circuit_breaker_calls_total",
			"Calls through the circuit breaker by outcome, rejected calls included.",
			[]string{"circuit_breaker_name", "circuit_breaker_outcome"}, nil),
		consec: prometheus.NewDesc("circuit_breaker_consecutive_failures",
			"Consecutive failures: the current run while closed, the run that opened the circuit breaker while open or half-open.",
			[]string{"circuit_breaker_name"}, nil),
		failRatio: prometheus.NewDesc("circuit_breaker_failure_ratio",
			"Share of failed calls in the window of the circuit breaker's failure-rate policy.",
			[]string{"circuit_breaker_name"}, nil),
		slowRatio: prometheus.NewDesc("circuit_breaker_slow_call_ratio",
			"Share of slow calls in the window of the circuit breaker's slow-call policy.",
			[]string{"circuit_breaker_name"}, nil),
		slowCalls: prometheus.NewDesc("circuit_breaker_slow_calls_total",
			"Calls that ran at least as long as the slow-call threshold of the circuit breaker.",
			[]string{"circuit_breaker_name"}, nil),
		lastChange: prometheus.NewDesc("circuit_breaker_last_state_change_time_seconds",
			"When the circuit breaker last changed state, in seconds since the Unix epoch; 0 if it never did.",
			[]string{"circuit_breaker_name"}, nil),
		forced: prometheus.NewDesc("circuit_breaker_forced",
			"Whether the circuit breaker is held open by ForceOpen: 1 if it is, 0 if not.",
			[]string{"circuit_breaker_name"}, nil),
		shadow: prometheus.NewDesc("circuit_breaker_shadow_mode",
			"Whether the circuit breaker is in shadow mode, running the calls it would reject: 1 if it is, 0 if not.",
			[]string{"circuit_breaker_name"}, nil),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "circuit_breaker_call_duration_seconds",
			Help:    "Duration of the calls the circuit breaker admitted, by outcome.",
			Buckets: durationBuckets,
		}, []string{"circuit_breaker_name", "circuit_breaker_outcome"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "circuit_breaker_transitions_total",
			Help: "State transitions of the circuit breaker, by reason and origin.",
		}, []string{"circuit_breaker_name", "circuit_breaker_from_state", "circuit_breaker_to_state", "circuit_breaker_reason", "circuit_breaker_origin"}),
	}
	for i, s := range []breaker.State{breaker.Closed, breaker.Open, breaker.HalfOpen} {
		c.stateNames[i] = s.String()
	}
	for i, o := range []breaker.Outcome{breaker.OutcomeSuccess, breaker.OutcomeFailure, breaker.OutcomeIgnored, breaker.OutcomeRejected} {
		c.outcomeNames[i] = o.String()
	}
	return c
}

// Handle is the bus subscriber.
func (c *handCollector) Handle(_ context.Context, e breaker.Event) {
	switch {
	case e.Kind == breaker.EventStateChange:
		c.transitions.WithLabelValues(e.Breaker.Name(), e.From.String(), e.To.String(), e.Reason.String(), e.Origin.String()).Inc()
	case e.Outcome != breaker.OutcomeRejected:
		c.duration.WithLabelValues(e.Breaker.Name(), e.Outcome.String()).Observe(e.Duration.Seconds())
	}
}

func (c *handCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.state
	ch <- c.calls
	ch <- c.consec
	ch <- c.failRatio
	ch <- c.slowRatio
	ch <- c.slowCalls
	ch <- c.lastChange
	ch <- c.forced
	ch <- c.shadow
	c.duration.Describe(ch)
	c.transitions.Describe(ch)
}

func (c *handCollector) Collect(ch chan<- prometheus.Metric) {
	c.reg.Range(func(b *breaker.Breaker) bool {
		s := b.Stats()
		name := b.Name()
		if _, ok := c.precreated.Load(b); !ok {
			for _, t := range precreatedTransitions {
				c.transitions.WithLabelValues(name, t[0], t[1], t[2], "local")
			}
			c.precreated.Store(b, struct{}{})
		}
		for i, st := range []breaker.State{breaker.Closed, breaker.Open, breaker.HalfOpen} {
			v := 0.0
			if s.State == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, name, c.stateNames[i])
		}
		for i, n := range []uint64{s.TotalSuccesses, s.TotalFailures, s.TotalIgnored, s.TotalRejected} {
			ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, float64(n), name, c.outcomeNames[i])
		}
		ch <- prometheus.MustNewConstMetric(c.consec, prometheus.GaugeValue, float64(s.FailureCount), name)
		var last float64
		if !s.LastStateChange.IsZero() {
			last = float64(s.LastStateChange.Unix()) + float64(s.LastStateChange.Nanosecond())/1e9
		}
		ch <- prometheus.MustNewConstMetric(c.lastChange, prometheus.GaugeValue, last, name)
		ch <- prometheus.MustNewConstMetric(c.forced, prometheus.GaugeValue, flag(s.Forced), name)
		ch <- prometheus.MustNewConstMetric(c.shadow, prometheus.GaugeValue, flag(s.Shadow), name)
		if s.FailureRate != nil {
			ch <- prometheus.MustNewConstMetric(c.failRatio, prometheus.GaugeValue, s.FailureRate.Ratio, name)
		}
		if s.SlowCallRate != nil {
			ch <- prometheus.MustNewConstMetric(c.slowRatio, prometheus.GaugeValue, s.SlowCallRate.Ratio, name)
		}
		if s.SlowCallRate != nil || s.TotalSlowCalls != 0 {
			ch <- prometheus.MustNewConstMetric(c.slowCalls, prometheus.CounterValue, float64(s.TotalSlowCalls), name)
		}
		return true
	})
	c.duration.Collect(ch)
	c.transitions.Collect(ch)
}

// metricsFixture is one registry of 10,000 breakers served three ways:
// telemetry/prom's handler with its default native collector, the same
// handler rendering through the OTel SDK and its Prometheus exporter
// (prom.WithOTelExporter), and the hand-written collector. Each breaker has
// had one successful call; every hundredth has also failed until it
// opened. Built once per process: it takes a few seconds.
// precreatedTransitions are the transitions (from, to, reason) whose series
// exist at 0 from the start.
var precreatedTransitions = [][3]string{
	{"closed", "open", "failure_threshold"},
	{"closed", "open", "failure_rate"},
	{"closed", "open", "slow_calls"},
	{"open", "half_open", "recovery_timeout"},
	{"half_open", "closed", "trials_succeeded"},
	{"half_open", "open", "trial_failed"},
}

func flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

type metricsFixture struct {
	fusebox, otel, hand http.Handler
	err                 error
}

var (
	metricsOnce sync.Once
	metrics     metricsFixture
)

func buildMetricsFixture() metricsFixture {
	// A registry is observed by one handler at a time, so each fusebox
	// handler gets a registry of its own, filled the same way. Their
	// breakers read one clock that never moves, so every duration is zero
	// and the two pages can be compared byte for byte.
	clock := breakertest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	reg, otelReg := breaker.NewRegistry(breaker.WithClock(clock)), breaker.NewRegistry(breaker.WithClock(clock))
	quiet := prom.WithLogger(slog.New(slog.DiscardHandler))
	h, err := prom.NewHandler(reg, prom.WithoutScopeInfo(), quiet)
	if err != nil {
		return metricsFixture{err: err}
	}
	o, err := prom.NewHandler(otelReg, prom.WithoutScopeInfo(), prom.WithOTelExporter(), quiet)
	if err != nil {
		return metricsFixture{err: err}
	}
	hc := newHandCollector(reg)
	reg.Events().Subscribe(events.HandlerFunc[breaker.Event](hc.Handle))
	preg := prometheus.NewRegistry()
	if err := preg.Register(hc); err != nil {
		return metricsFixture{err: err}
	}
	for _, r := range []*breaker.Registry{reg, otelReg} {
		for i, name := range registryNames() {
			b, err := r.Get(name)
			if err != nil {
				return metricsFixture{err: err}
			}
			if err := b.Execute(ctx, okCtx); err != nil {
				return metricsFixture{err: err}
			}
			if i%100 == 0 {
				for b.State() == breaker.Closed {
					_ = b.Execute(ctx, failCtx)
				}
			}
		}
	}
	return metricsFixture{
		fusebox: h,
		otel:    o,
		hand:    promhttp.HandlerFor(preg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}),
	}
}

// countingWriter is a ResponseWriter that keeps only the status, the size
// and, when asked, the body.
type countingWriter struct {
	header http.Header
	status int
	n      int
	body   *bytes.Buffer
}

func (w *countingWriter) Header() http.Header { return w.header }
func (w *countingWriter) WriteHeader(s int)   { w.status = s }
func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	if w.body != nil {
		w.body.Write(p)
	}
	return len(p), nil
}

// scrape renders h once, as a Prometheus scrape asking for the text format
// without compression would.
func scrape(h http.Handler, keep bool) *countingWriter {
	w := &countingWriter{header: http.Header{}}
	if keep {
		w.body = new(bytes.Buffer)
	}
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return w
}

// samples counts the sample lines of a text-format page by metric family.
func samples(page string) map[string]int {
	n := map[string]int{}
	for line := range strings.Lines(page) {
		if line == "" || line[0] == '#' {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		name = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		n[name]++
	}
	return n
}

// BenchmarkMetrics10k: one /metrics scrape of a registry of 10,000
// breakers, by fusebox's telemetry/prom handler with its native collector
// (lib=fusebox, the default), the same handler through the OTel SDK and its
// Prometheus exporter (lib=fusebox-otel) and a hand-written client_golang
// collector exporting the same series (lib=client_golang). Setup checks
// that both fusebox pages are identical and hold the same breaker series as
// the hand-written one; every scrape must answer 200 with a full page.
func BenchmarkMetrics10k(b *testing.B) {
	metricsOnce.Do(func() { metrics = buildMetricsFixture() })
	if metrics.err != nil {
		b.Fatal(metrics.err)
	}
	fb := scrape(metrics.fusebox, true)
	ot := scrape(metrics.otel, true)
	hd := scrape(metrics.hand, true)
	if fb.body.String() != ot.body.String() {
		b.Fatalf("the native page (%d bytes) differs from the OTel exporter's (%d bytes)", fb.n, ot.n)
	}
	fs, hs := samples(fb.body.String()), samples(hd.body.String())
	delete(fs, "target_info") // the OTel resource: one series, not a breaker's
	for name, n := range hs {
		if fs[name] != n {
			b.Fatalf("%s: fusebox page has %d samples, hand-written %d", name, fs[name], n)
		}
	}
	if len(fs) != len(hs) || hs["circuit_breaker_state"] != 3*registrySize {
		b.Fatalf("pages differ: fusebox %v, hand-written %v", fs, hs)
	}
	for _, l := range []struct {
		lib  string
		h    http.Handler
		size int
	}{{"fusebox", metrics.fusebox, fb.n}, {"fusebox-otel", metrics.otel, ot.n}, {"client_golang", metrics.hand, hd.n}} {
		b.Run("lib="+l.lib, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if w := scrape(l.h, false); w.status != http.StatusOK || w.n < l.size/2 {
					b.Fatalf("scrape: status %d, %d bytes (first scrape %d)", w.status, w.n, l.size)
				}
			}
			b.ReportMetric(float64(l.size), "B/page")
		})
	}
}
