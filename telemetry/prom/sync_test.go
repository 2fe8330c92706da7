package prom_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/sharedstate/sharedstatetest"
	"github.com/fusebox-go/fusebox/telemetry/prom"
)

// shared is a registry of the scenario (newRegistry's) whose state is
// shared, as replica pod-a, with a peer replica, pod-b, through an
// in-memory store. Build it in a synctest bubble: the Syncers' timers then
// run on the bubble's clock, and the scenario gives the same page every
// time.
type shared struct {
	reg    *breaker.Registry
	clock  *breakertest.Clock
	bus    *events.Async[breaker.Event]
	syncer *sharedstate.Syncer
	client *sharedstatetest.Client // pod-a's
	peer   *breaker.Registry       // pod-b's
}

func newShared(t *testing.T, opts ...sharedstate.Option) *shared {
	t.Helper()
	reg, clock, bus := newRegistry(t)
	store := sharedstatetest.NewStore()
	sh := &shared{reg: reg, clock: clock, bus: bus, client: store.Client()}
	sh.client.SetDelay(3 * time.Millisecond) // pod-a's commands and deliveries
	// The command timeout is long, so that a paused command waits for
	// Resume however the bubble's clock moves meanwhile, and so is the
	// reconcile interval: a reconcile's tick and a message arriving at once
	// would be taken in either order.
	sh.syncer = attachSyncer(t, reg, sh.client, "pod-a",
		append([]sharedstate.Option{sharedstate.WithCommandTimeout(time.Hour), sharedstate.WithReconcileInterval(time.Hour)}, opts...)...)
	sh.peer = breaker.NewRegistry(breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Minute))
	attachSyncer(t, sh.peer, store.Client(), "pod-b")
	return sh
}

func attachSyncer(t *testing.T, reg *breaker.Registry, c *sharedstatetest.Client, id string, opts ...sharedstate.Option) *sharedstate.Syncer {
	t.Helper()
	s, err := sharedstate.Attach(reg, c, append([]sharedstate.Option{sharedstate.WithReplicaID(id), sharedstate.WithProbeJitter(0)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// peerTrips makes pod-b's breaker name fail once, which opens it.
func (sh *shared) peerTrips(t *testing.T, name string) {
	t.Helper()
	b, err := sh.peer.Get(name)
	require.NoError(t, err)
	require.ErrorIs(t, b.Execute(context.Background(), func(context.Context) error { return errBoom }), errBoom)
}

// run plays the shared scenario around runScenario's: pod-b opens
// payments, which pod-a holds (applied, and a transition with origin
// peer), then inventory, which it does not (unknown); both arrive 3ms
// after the store wrote them. Then pod-a's store pauses, with its
// proposal of local's opening under way, while runScenario's breakers
// change state (their proposals wait, the latest per breaker); once it
// resumes, pod-a proposes them all: local, search and canary open
// (written), model_server's close is refused (no opening of it reached
// the store). pod-a reads its own records back (self).
func (sh *shared) run(t *testing.T) {
	t.Helper()
	payments, err := sh.reg.Get("payments")
	require.NoError(t, err)
	sh.peerTrips(t, "payments")
	sh.peerTrips(t, "inventory")
	time.Sleep(10 * time.Millisecond)
	synctest.Wait()
	require.Equal(t, breaker.Open, payments.State(), "opened by pod-b")

	sh.client.Pause()
	local, err := sh.reg.Get("local")
	require.NoError(t, err)
	call(t, sh.clock, local, time.Millisecond, errBoom)
	call(t, sh.clock, local, time.Millisecond, errBoom)
	synctest.Wait() // pod-a's proposal waits for the store

	runScenario(t, sh.reg, sh.clock, sh.bus)

	sh.client.Resume()
	time.Sleep(100 * time.Millisecond)
	synctest.Wait()
	st, stats := sh.syncer.Status(), sh.syncer.Stats()
	require.True(t, st.Connected)
	require.Zero(t, st.Pending)
	require.Equal(t, sharedstate.Stats{
		MessagesApplied: 1, MessagesUnknown: 1, MessagesSelf: 3,
		ProposalsWritten: 3, ProposalsRefused: 1,
		Reconciles: 1,
		Propagation: sharedstate.Histogram{Count: 2, Sum: 6 * time.Millisecond, Bounds: sharedstate.PropagationBounds,
			Counts: []uint64{0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	}, stats)
}

// The page shows the Syncer: its series read at scrape time, and the
// opening pod-b decided as a transition with origin peer.
func TestHandlerWithSyncer(t *testing.T) {
	noResourceEnv(t)
	synctest.Test(t, func(t *testing.T) {
		sh := newShared(t, sharedstate.WithReconcileInterval(time.Second))
		h, err := prom.NewHandler(sh.reg, prom.WithSyncer(sh.syncer), prom.WithSyncer(nil), prom.WithoutScopeInfo(),
			prom.WithLogger(slog.New(slog.DiscardHandler)))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, h.Shutdown(context.Background())) })
		page, _ := scrape(t, h, "")
		for _, line := range []string{
			"circuit_breaker_sync_connected 1",
			"circuit_breaker_sync_pending_proposals 0",
			`circuit_breaker_sync_messages_total{circuit_breaker_sync_result="applied"} 0`,
			`circuit_breaker_sync_proposals_total{circuit_breaker_sync_outcome="voted"} 0`,
			"circuit_breaker_sync_errors_total 0",
		} {
			assert.Contains(t, page, "\n"+line+"\n")
		}
		assert.NotContains(t, page, "circuit_breaker_sync_propagation_delay", "no delay measured yet")

		sh.run(t)
		page, _ = scrape(t, h, "")
		for _, line := range []string{
			`circuit_breaker_sync_messages_total{circuit_breaker_sync_result="applied"} 1`,
			`circuit_breaker_sync_messages_total{circuit_breaker_sync_result="unknown"} 1`,
			`circuit_breaker_sync_messages_total{circuit_breaker_sync_result="self"} 3`,
			`circuit_breaker_sync_proposals_total{circuit_breaker_sync_outcome="written"} 3`,
			`circuit_breaker_sync_proposals_total{circuit_breaker_sync_outcome="refused"} 1`,
			`circuit_breaker_sync_propagation_delay_seconds_bucket{le="0.002"} 0`,
			`circuit_breaker_sync_propagation_delay_seconds_bucket{le="0.005"} 2`,
			`circuit_breaker_sync_propagation_delay_seconds_bucket{le="+Inf"} 2`,
			`circuit_breaker_sync_propagation_delay_seconds_sum 0.005999565124511719`, // 6ms to 2^-20 s
			`circuit_breaker_sync_propagation_delay_seconds_count 2`,
			`circuit_breaker_transitions_total{circuit_breaker_from_state="closed",circuit_breaker_name="payments",circuit_breaker_origin="peer",circuit_breaker_reason="failure_threshold",circuit_breaker_to_state="open"} 1`,
		} {
			assert.Contains(t, page, "\n"+line+"\n")
		}

		// The store goes away: the page says so at the next scrape after
		// the replica noticed.
		sh.client.SetDown(true)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		page, _ = scrape(t, h, "")
		assert.Contains(t, page, "\ncircuit_breaker_sync_connected 0\n")
		assert.NotContains(t, page, "\ncircuit_breaker_sync_errors_total 0\n")

		require.NoError(t, h.Shutdown(context.Background()))
		page, _ = scrape(t, h, "")
		assert.NotContains(t, page, "circuit_breaker_sync_")
	})
}

// A handler whose sync series' names are taken on the client_golang
// registry fails and leaves nothing behind.
func TestWithSyncerConflict(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sh := newShared(t)
		promReg := prometheus.NewRegistry()
		// The same name and help (client_golang remembers them after an
		// Unregister).
		taken := prometheus.NewGauge(prometheus.GaugeOpts{Name: "circuit_breaker_sync_connected",
			Help: "Whether this replica reaches the store of shared breaker state: 1 if its last command succeeded, 0 if not (breakers then act locally)."})
		promReg.MustRegister(taken)
		_, err := prom.NewHandler(sh.reg, prom.WithSyncer(sh.syncer), prom.WithRegistry(promReg), prom.WithoutScopeInfo())
		require.Error(t, err)
		assert.False(t, sh.reg.Events().Active(), "the failed handler detached")

		require.True(t, promReg.Unregister(taken))
		h, err := prom.NewHandler(sh.reg, prom.WithSyncer(sh.syncer), prom.WithRegistry(promReg), prom.WithoutScopeInfo())
		require.NoError(t, err, "nothing was left registered")
		require.NoError(t, h.Shutdown(context.Background()))
	})
}

// Scraped after each of several deliveries, late by different delays,
// the native page and the OTel exporter's agree at every step: the OTel
// path's histogram, recorded at each collection, has the Syncer's buckets
// and sum each time.
func TestSyncPagesAgreeAtEveryScrape(t *testing.T) {
	noResourceEnv(t)
	delays := []time.Duration{3 * time.Millisecond, 700 * time.Microsecond, 40 * time.Millisecond, 1200 * time.Millisecond, 7 * time.Second}
	pages := map[string][]string{}
	for _, m := range modes {
		synctest.Test(t, func(t *testing.T) {
			sh := newShared(t)
			h, _, _ := newModeHandler(t, m, sh.reg, prom.WithSyncer(sh.syncer), prom.WithoutScopeInfo())
			for i, d := range delays {
				sh.client.SetDelay(d)
				sh.peerTrips(t, string(rune('a'+i)))
				time.Sleep(d + 10*time.Millisecond)
				synctest.Wait()
				page, _ := scrape(t, h, "")
				pages[m.name] = append(pages[m.name], normalise(page))
			}
			require.Equal(t, uint64(len(delays)), sh.syncer.Stats().Propagation.Count)
		})
	}
	want := pages["otel"]
	require.Len(t, want, len(delays))
	assert.Contains(t, want[len(delays)-1], "\ncircuit_breaker_sync_propagation_delay_seconds_count 5\n")
	assert.Contains(t, want[len(delays)-1], "\ncircuit_breaker_sync_propagation_delay_seconds_bucket{le=\"5\"} 4\n")
	for name, got := range pages {
		for i := range want {
			assertSamePage(t, want[i], got[i], fmt.Sprintf("scrape %d: %s differs from the OTel exporter's page", i+1, name))
		}
	}
}

// With the native page and an extra reader, the reader gets the sync
// instruments too, by their OpenTelemetry names, with the same delays.
func TestWithSyncerAndReader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sh := newShared(t)
		reader := sdkmetric.NewManualReader()
		h, err := prom.NewHandler(sh.reg, prom.WithSyncer(sh.syncer), prom.WithReader(reader),
			prom.WithLogger(slog.New(slog.DiscardHandler)))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, h.Shutdown(context.Background())) })
		sh.peerTrips(t, "payments")
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()

		var rm metricdata.ResourceMetrics
		require.NoError(t, reader.Collect(context.Background(), &rm))
		got := map[string]metricdata.Metrics{}
		for _, m := range rm.ScopeMetrics[0].Metrics {
			got[m.Name] = m
		}
		require.Contains(t, got, "circuit_breaker.sync.connected")
		assert.Equal(t, int64(1), got["circuit_breaker.sync.connected"].Data.(metricdata.Sum[int64]).DataPoints[0].Value)
		delay := got["circuit_breaker.sync.propagation.delay"].Data.(metricdata.Histogram[float64]).DataPoints[0]
		assert.Equal(t, uint64(1), delay.Count)
		assert.Equal(t, uint64(1), delay.BucketCounts[2], "3ms")
		page, _ := scrape(t, h, "")
		assert.Contains(t, page, "circuit_breaker_sync_propagation_delay_seconds_count{")
	})
}

// peerLines are the transitions series a Syncer with sharedstate's
// defaults makes a breaker have at 0, as page lines without the scope
// labels: a peer's trips, and its close, which makes an open breaker
// half-open.
func peerLines(name string) []string {
	line := func(from, to, reason string) string {
		return `circuit_breaker_transitions_total{circuit_breaker_from_state="` + from + `",circuit_breaker_name="` + name +
			`",circuit_breaker_origin="peer",circuit_breaker_reason="` + reason + `",circuit_breaker_to_state="` + to + `"} 0`
	}
	return []string{
		line("closed", "open", "failure_threshold"),
		line("closed", "open", "failure_rate"),
		line("closed", "open", "slow_calls"),
		line("open", "half_open", "trials_succeeded"),
	}
}

// readerRemote returns the circuit_breaker.transitions points of reader
// whose origin is not local, by "name from>to reason origin".
func readerRemote(t *testing.T, reader *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "circuit_breaker.transitions" {
				continue
			}
			for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
				v := func(k string) string {
					x, _ := p.Attributes.Value(attribute.Key(k))
					return x.AsString()
				}
				if v("circuit_breaker.origin") != "local" {
					out[v("circuit_breaker.name")+" "+v("circuit_breaker.from_state")+">"+v("circuit_breaker.to_state")+" "+
						v("circuit_breaker.reason")+" "+v("circuit_breaker.origin")] = p.Value
				}
			}
		}
	}
	return out
}

// With a Syncer, every path shows at 0, before any peer opening, the
// transitions a peer's decision makes, for the breakers there before the
// handler and those created later, so that increase() counts a replica's
// first peer opening; after one, its series is at 1. The pages agree, and
// an extra reader gets the same series. Without a Syncer there are none.
func TestPeerTransitionsPrecreated(t *testing.T) {
	noResourceEnv(t)
	pages := map[string][]string{}
	for _, m := range modes {
		synctest.Test(t, func(t *testing.T) {
			sh := newShared(t)
			bareReg := breaker.NewRegistry()
			bare, _, _ := newModeHandler(t, m, bareReg, prom.WithoutScopeInfo())
			_, err := bareReg.Get("payments")
			require.NoError(t, err)
			_, err = sh.reg.Get("payments")
			require.NoError(t, err)
			h, _, reader := newModeHandler(t, m, sh.reg, prom.WithSyncer(sh.syncer), prom.WithoutScopeInfo())
			_, err = sh.reg.Get("search")
			require.NoError(t, err)

			page, _ := scrape(t, h, "")
			for _, line := range append(peerLines("payments"), peerLines("search")...) {
				assert.True(t, strings.Contains(page, "\n"+line+"\n"), "%s: missing %s", m.name, line)
			}
			assert.False(t, strings.Contains(page, `circuit_breaker_origin="cluster"`), m.name)
			pages[m.name] = append(pages[m.name], normalise(page))
			if reader != nil {
				remote := readerRemote(t, reader)
				assert.Len(t, remote, 8, m.name)
				assert.Equal(t, int64(0), remote["payments closed>open failure_threshold peer"], m.name)
			}

			sh.peerTrips(t, "payments")
			time.Sleep(10 * time.Millisecond)
			synctest.Wait()
			page, _ = scrape(t, h, "")
			opened := `circuit_breaker_transitions_total{circuit_breaker_from_state="closed",circuit_breaker_name="payments",circuit_breaker_origin="peer",circuit_breaker_reason="failure_threshold",circuit_breaker_to_state="open"} 1`
			assert.True(t, strings.Contains(page, "\n"+opened+"\n"), "%s: missing %s", m.name, opened)
			pages[m.name] = append(pages[m.name], normalise(page))
			if reader != nil {
				assert.Equal(t, int64(1), readerRemote(t, reader)["payments closed>open failure_threshold peer"], m.name)
			}

			page, _ = scrape(t, bare, "")
			assert.True(t, strings.Contains(page, `circuit_breaker_origin="local"`), m.name)
			assert.False(t, strings.Contains(page, `circuit_breaker_origin="peer"`), "%s: without a Syncer", m.name)
		})
	}
	want := pages["otel"]
	require.Len(t, want, 2)
	for name, got := range pages {
		for i := range want {
			assertSamePage(t, want[i], got[i], fmt.Sprintf("scrape %d: %s differs from the OTel exporter's page", i+1, name))
		}
	}
}
