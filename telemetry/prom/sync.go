package prom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/telemetry"
	"github.com/fusebox-go/fusebox/telemetry/internal/series"
)

// The names of the circuit_breaker.sync.* instruments on the page, as the
// OTel exporter renders them; TestNativeMatchesExporter compares the two.
const (
	nameSyncConnected   = "circuit_breaker_sync_connected"
	nameSyncPending     = "circuit_breaker_sync_pending_proposals"
	nameSyncLastSuccess = "circuit_breaker_sync_last_success_time_seconds"
	nameSyncMessages    = "circuit_breaker_sync_messages_total"
	nameSyncProposals   = "circuit_breaker_sync_proposals_total"
	nameSyncReconciles  = "circuit_breaker_sync_reconciles_total"
	nameSyncRepaired    = "circuit_breaker_sync_repaired_total"
	nameSyncErrors      = "circuit_breaker_sync_errors_total"
	nameSyncDelay       = "circuit_breaker_sync_propagation_delay_seconds"

	labelSyncResult  = "circuit_breaker_sync_result"
	labelSyncOutcome = "circuit_breaker_sync_outcome"
)

// WithSyncer also serves the circuit_breaker_sync_* series of s, the
// Syncer that shares the registry's breakers with other replicas (package
// sharedstate): whether it reaches its store, what waits to be proposed,
// when it last succeeded, its messages by result, proposals by outcome,
// reconciles, repairs and errors, and the propagation delay of the
// decisions it received. They are read from s.Status and s.Stats when the
// page is scraped (and when a reader of [WithReader] collects, through
// telemetry.Telemetry.AttachSyncer). Every breaker of s's registry, if it
// is the handler's, also has at 0 the transitions series of another
// replica's trips and closes (four per breaker, see the package
// documentation), so that increase() counts the first. A nil s is
// ignored.
func WithSyncer(s *sharedstate.Syncer) Option {
	return optionFunc(func(c *config) {
		if s != nil {
			c.syncer = s
		}
	})
}

// addSyncer serves cfg's Syncer, if any: on the native page with a
// collector of its own, and through tel to the SDK's readers (the OTel
// exporter's page, and those of WithReader).
func (h *Handler) addSyncer(cfg *config, tel *telemetry.Telemetry) error {
	if cfg.syncer == nil {
		return nil
	}
	if h.native != nil {
		c := newSyncCollector(cfg.syncer, !cfg.noScopeInfo)
		if err := cfg.registry.Register(c); err != nil {
			return err
		}
		h.syncNative = c
		h.native.addRemote(series.RemoteTransitions(cfg.syncer))
	}
	if h.mp != nil {
		detach, err := tel.AttachSyncer(cfg.syncer)
		if err != nil {
			return err
		}
		h.detachSync = detach
	}
	return nil
}

// syncCollector is the native collector of the circuit_breaker_sync_*
// series: it reads the Syncer's Status and Stats at scrape time.
type syncCollector struct {
	s                                              *sharedstate.Syncer
	connected, pending, lastSuccess, messages      *prometheus.Desc
	proposals, reconciles, repaired, errors, delay *prometheus.Desc
	outcomeValues                                  [len(series.ProposalOutcomes)]string
	buckets                                        []float64
}

var _ prometheus.Collector = (*syncCollector)(nil)

func newSyncCollector(s *sharedstate.Syncer, scope bool) *syncCollector {
	constLabels := scopeLabels(scope)
	desc := func(name string, i series.Instrument, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, i.Help, labels, constLabels)
	}
	c := &syncCollector{
		s:           s,
		connected:   desc(nameSyncConnected, series.SyncConnected),
		pending:     desc(nameSyncPending, series.SyncPending),
		lastSuccess: desc(nameSyncLastSuccess, series.SyncLastSuccess),
		messages:    desc(nameSyncMessages, series.SyncMessages, labelSyncResult),
		proposals:   desc(nameSyncProposals, series.SyncProposals, labelSyncOutcome),
		reconciles:  desc(nameSyncReconciles, series.SyncReconciles),
		repaired:    desc(nameSyncRepaired, series.SyncRepaired),
		errors:      desc(nameSyncErrors, series.SyncErrors),
		delay:       desc(nameSyncDelay, series.SyncDelay),
		buckets:     series.DelayBuckets,
	}
	for i, o := range series.ProposalOutcomes {
		c.outcomeValues[i] = o.String()
	}
	return c
}

// Describe sends every series' description.
func (c *syncCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.connected, c.pending, c.lastSuccess, c.messages, c.proposals, c.reconciles, c.repaired, c.errors, c.delay} {
		ch <- d
	}
}

// Collect reads one Status and Stats snapshot. The propagation delay is
// emitted once the Syncer has measured one, as the OTel path's histogram
// has data from its first value.
func (c *syncCollector) Collect(ch chan<- prometheus.Metric) {
	st, stats := c.s.Status(), c.s.Stats()
	series.VisitSync(st, &stats, &syncEmitter{c: c, ch: ch})
	d := series.ReadDelay(stats.Propagation)
	n := d.Count()
	if n == 0 {
		return
	}
	cumulative := make(map[float64]uint64, len(c.buckets))
	var below uint64
	for i, b := range c.buckets {
		below += d.Counts[i]
		cumulative[b] = below
	}
	ch <- prometheus.MustNewConstHistogram(c.delay, n, d.Sum(), cumulative)
}

// syncEmitter emits a Syncer's series as constant metrics.
type syncEmitter struct {
	c  *syncCollector
	ch chan<- prometheus.Metric
}

func (v *syncEmitter) emit(d *prometheus.Desc, t prometheus.ValueType, x float64, labels ...string) {
	v.ch <- prometheus.MustNewConstMetric(d, t, x, labels...)
}

func (v *syncEmitter) Connected(x int64) { v.emit(v.c.connected, prometheus.GaugeValue, float64(x)) }
func (v *syncEmitter) Pending(n int64)   { v.emit(v.c.pending, prometheus.GaugeValue, float64(n)) }
func (v *syncEmitter) LastSuccess(s float64) {
	v.emit(v.c.lastSuccess, prometheus.GaugeValue, s)
}
func (v *syncEmitter) Messages(i int, n int64) {
	v.emit(v.c.messages, prometheus.CounterValue, float64(n), series.MessageResults[i])
}
func (v *syncEmitter) Proposals(i int, n int64) {
	v.emit(v.c.proposals, prometheus.CounterValue, float64(n), v.c.outcomeValues[i])
}
func (v *syncEmitter) Reconciles(n int64) {
	v.emit(v.c.reconciles, prometheus.CounterValue, float64(n))
}
func (v *syncEmitter) Repaired(n int64) { v.emit(v.c.repaired, prometheus.CounterValue, float64(n)) }
func (v *syncEmitter) Errors(n int64)   { v.emit(v.c.errors, prometheus.CounterValue, float64(n)) }
