package telemetry_test

import (
	"context"
	"log/slog"
	"maps"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/sharedstate/sharedstatetest"
	"github.com/fusebox-go/fusebox/telemetry"
)

// attachSyncer shares reg's state through c as replica id; the Syncer is
// closed at cleanup.
func attachSyncer(t *testing.T, reg *breaker.Registry, c *sharedstatetest.Client, id string, opts ...sharedstate.Option) *sharedstate.Syncer {
	t.Helper()
	s, err := sharedstate.Attach(reg, c, append([]sharedstate.Option{sharedstate.WithReplicaID(id), sharedstate.WithProbeJitter(0)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// peer is another replica of the service: its own registry, sharing the
// store, whose breakers open at the first failure.
func peer(t *testing.T, store *sharedstatetest.Store, id string, opts ...sharedstate.Option) *breaker.Registry {
	t.Helper()
	reg := breaker.NewRegistry(breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Minute))
	attachSyncer(t, reg, store.Client(), id, opts...)
	return reg
}

func trip(t *testing.T, reg *breaker.Registry, name string) {
	t.Helper()
	b, err := reg.Get(name)
	require.NoError(t, err)
	require.ErrorIs(t, b.Execute(context.Background(), func(context.Context) error { return errBoom }), errBoom)
}

// syncMetrics returns the circuit_breaker.sync.* metrics a Syncer's Status
// and Stats give, the propagation delay included once it has data.
func syncMetrics(st sharedstate.Status, s sharedstate.Stats) []metricdata.Metrics {
	sum := func(name, unit, help string, monotonic bool, points ...metricdata.DataPoint[int64]) metricdata.Metrics {
		return metricdata.Metrics{Name: name, Unit: unit, Description: help,
			Data: metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: monotonic, DataPoints: points}}
	}
	one := func(v int64) metricdata.DataPoint[int64] {
		return metricdata.DataPoint[int64]{Attributes: set(), Value: v}
	}
	by := func(key, value string, v uint64) metricdata.DataPoint[int64] {
		return metricdata.DataPoint[int64]{Attributes: set(attribute.String(key, value)), Value: int64(v)}
	}
	connected := int64(0)
	if st.Connected {
		connected = 1
	}
	var lastSync float64
	if !st.LastSync.IsZero() {
		lastSync = unix(st.LastSync)
	}
	out := []metricdata.Metrics{
		sum("circuit_breaker.sync.connected", "{replica}",
			"Whether this replica reaches the store of shared breaker state: 1 if its last command succeeded, 0 if not (breakers then act locally).",
			false, one(connected)),
		sum("circuit_breaker.sync.pending_proposals", "{proposal}",
			"Breakers whose latest opening or closing waits to be proposed to the store of shared breaker state.",
			false, one(int64(st.Pending))),
		{Name: "circuit_breaker.sync.last_success_time", Unit: "s",
			Description: "When a command to the store of shared breaker state last succeeded, in seconds since the Unix epoch; 0 if none did.",
			Data:        metricdata.Gauge[float64]{DataPoints: []metricdata.DataPoint[float64]{{Attributes: set(), Value: lastSync}}}},
		sum("circuit_breaker.sync.messages", "{message}",
			"Decisions received from the store of shared breaker state, by what became of them.", true,
			by("circuit_breaker.sync.result", "applied", s.MessagesApplied),
			by("circuit_breaker.sync.result", "stale", s.MessagesStale),
			by("circuit_breaker.sync.result", "self", s.MessagesSelf),
			by("circuit_breaker.sync.result", "unknown", s.MessagesUnknown),
			by("circuit_breaker.sync.result", "malformed", s.MessagesMalformed)),
		sum("circuit_breaker.sync.proposals", "{proposal}",
			"Openings and closings proposed to the store of shared breaker state, by what the store made of them.", true,
			by("circuit_breaker.sync.outcome", "written", s.ProposalsWritten),
			by("circuit_breaker.sync.outcome", "joined", s.ProposalsJoined),
			by("circuit_breaker.sync.outcome", "refused", s.ProposalsRefused),
			by("circuit_breaker.sync.outcome", "voted", s.ProposalsVoted)),
		sum("circuit_breaker.sync.reconciles", "{reconcile}",
			"Reads of the whole shared breaker state, compared with what this replica knew.", true, one(int64(s.Reconciles))),
		sum("circuit_breaker.sync.repaired", "{record}",
			"Decisions a reconcile brought that no message had: lost messages, or a restart.", true, one(int64(s.Repaired))),
		sum("circuit_breaker.sync.errors", "{error}",
			"Failed commands to the store of shared breaker state, and decisions that could not be applied.", true, one(int64(s.Errors))),
	}
	if h := s.Propagation; h.Count > 0 {
		p := metricdata.HistogramDataPoint[float64]{
			Attributes:   set(),
			Count:        h.Count,
			Bounds:       []float64{0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
			BucketCounts: h.Counts,
			// The Syncer's sum to the nearest 2^-20 s (no delay of these
			// tests is on a bound).
			Sum: math.Ldexp(math.Round(h.Sum.Seconds()*(1<<20)), -20),
		}
		out = append(out, metricdata.Metrics{Name: "circuit_breaker.sync.propagation.delay", Unit: "s",
			Description: "Delay from the store writing another replica's decision to this replica receiving it, measured with the two hosts' clocks.",
			Data:        metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality, DataPoints: []metricdata.HistogramDataPoint[float64]{p}}})
	}
	return out
}

// assertSync checks every circuit_breaker.sync.* metric of got against
// want, and that no other one is there.
func assertSync(t *testing.T, want []metricdata.Metrics, got map[string]metricdata.Metrics) {
	t.Helper()
	n := 0
	for name := range got {
		if len(name) > len("circuit_breaker.sync.") && name[:len("circuit_breaker.sync.")] == "circuit_breaker.sync." {
			n++
		}
	}
	assert.Equal(t, len(want), n, "circuit_breaker.sync.* metrics")
	for _, w := range want {
		g, ok := got[w.Name]
		if !assert.True(t, ok, "missing metric %s", w.Name) {
			continue
		}
		if h, ok := w.Data.(metricdata.Histogram[float64]); ok {
			// The recorded values' min and max are not the delays': each
			// is in the bucket of the smallest or largest delay.
			wp, gp := &h.DataPoints[0], g.Data.(metricdata.Histogram[float64]).DataPoints[0]
			gmin, _ := gp.Min.Value()
			gmax, _ := gp.Max.Value()
			lo, hi := bucketRange(wp.Bounds, wp.BucketCounts)
			assert.True(t, gmin > lo[0] && gmin <= lo[1], "min %v in (%v, %v]", gmin, lo[0], lo[1])
			assert.True(t, gmax > hi[0] && gmax <= hi[1], "max %v in (%v, %v]", gmax, hi[0], hi[1])
			wp.Min, wp.Max = gp.Min, gp.Max
		}
		metricdatatest.AssertEqual(t, w, g, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	}
}

// bucketRange returns the bounds of the lowest and the highest non-empty
// buckets.
func bucketRange(bounds []float64, counts []uint64) (lo, hi [2]float64) {
	edges := func(i int) [2]float64 {
		e := [2]float64{-1, math.Inf(1)}
		if i > 0 {
			e[0] = bounds[i-1]
		}
		if i < len(bounds) {
			e[1] = bounds[i]
		}
		return e
	}
	first := true
	for i, c := range counts {
		if c > 0 {
			if first {
				lo, first = edges(i), false
			}
			hi = edges(i)
		}
	}
	return lo, hi
}

// A replica's sync instruments report its Syncer as it is at collection
// time: connected, its messages, proposals, reconciles and errors, when
// it last reached the store, what waits to be proposed while the store is
// out of reach, and the propagation delay of the decisions it received,
// whose buckets and sum are the Syncer's. The opening a peer decided is
// counted with origin peer.
func TestSyncInstruments(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		store := sharedstatetest.NewStore()
		client := store.Client()
		client.SetDelay(3 * time.Millisecond) // commands and deliveries
		s := attachSyncer(t, e.reg, client, "pod-a")
		detach, err := e.tel.AttachSyncer(s)
		require.NoError(t, err)
		t.Cleanup(detach)
		b := e.get(t, "payments")
		other := peer(t, store, "pod-b")

		got := e.collect(t)
		assertSync(t, syncMetrics(s.Status(), s.Stats()), got)
		assert.Equal(t, int64(1), got["circuit_breaker.sync.connected"].Data.(metricdata.Sum[int64]).DataPoints[0].Value)

		trip(t, other, "payments")
		time.Sleep(10 * time.Millisecond) // the delivery's delay
		synctest.Wait()
		require.Equal(t, breaker.Open, b.State(), "opened by the peer")
		st, stats := s.Status(), s.Stats()
		require.Equal(t, uint64(1), stats.MessagesApplied)
		got = e.collect(t)
		assertSync(t, syncMetrics(st, stats), got)
		assert.Equal(t, int64(1), pointValue(t, got["circuit_breaker.transitions"],
			transitionSet("payments", "closed", "open", "failure_threshold", "peer")))

		// More deliveries, 3ms and 700ms late, between collections: the
		// histogram gathers them all, once each.
		trip(t, other, "search")
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		client.SetDelay(700 * time.Millisecond)
		trip(t, other, "ranker")
		time.Sleep(800 * time.Millisecond) // before the first reconcile, 1s after attaching
		synctest.Wait()
		e.collect(t)
		got = e.collect(t)
		st, stats = s.Status(), s.Stats()
		require.Equal(t, []uint64{0, 0, 2, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, stats.Propagation.Counts, "3ms, 3ms and 700ms")
		require.Equal(t, 706*time.Millisecond, stats.Propagation.Sum)
		assertSync(t, syncMetrics(st, stats), got)

		// The store goes away: the replica notices at its next command,
		// keeps what it should propose, and reports when it last reached
		// the store.
		client.SetDelay(0)
		client.SetDown(true)
		time.Sleep(2 * time.Second) // a reconcile fails
		synctest.Wait()
		local, err := e.reg.Get("local")
		require.NoError(t, err)
		require.ErrorIs(t, call(context.Background(), e.clock, local, 0, errBoom), errBoom)
		require.ErrorIs(t, call(context.Background(), e.clock, local, 0, errBoom), errBoom)
		synctest.Wait()
		st, stats = s.Status(), s.Stats()
		require.False(t, st.Connected)
		require.Equal(t, 1, st.Pending)
		require.NotZero(t, stats.Errors)
		got = e.collect(t)
		assertSync(t, syncMetrics(st, stats), got)
		assert.Less(t, st.LastSync, time.Now().Add(-time.Second), "the last success is before the store went away")
	})
}

// pointValue returns the value of m's data point with the given
// attributes.
func pointValue(t *testing.T, m metricdata.Metrics, attrs attribute.Set) int64 {
	t.Helper()
	for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
		if p.Attributes.Equals(&attrs) {
			return p.Value
		}
	}
	t.Fatalf("%s has no point %v", m.Name, attrs.Encoded(attribute.DefaultEncoder()))
	return 0
}

// A Telemetry observes one Syncer at a time; detaching stops the
// instruments, and attaching the same Syncer again goes on from the delays
// already recorded instead of recording them twice.
func TestAttachSyncerOnceAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel, reader := newTelemetry(t)

		_, err := tel.AttachSyncer(nil)
		require.Error(t, err)

		store := sharedstatetest.NewStore()
		reg := breaker.NewRegistry()
		_, err = reg.Get("payments")
		require.NoError(t, err)
		client := store.Client()
		client.SetDelay(20 * time.Millisecond)
		s := attachSyncer(t, reg, client, "pod-a")
		other := peer(t, store, "pod-b")

		detach, err := tel.AttachSyncer(s)
		require.NoError(t, err)
		_, err = tel.AttachSyncer(s)
		require.ErrorIs(t, err, telemetry.ErrAlreadyAttached)
		_, err = tel.AttachSyncer(attachSyncer(t, breaker.NewRegistry(), store.Client(), "pod-c"))
		require.ErrorIs(t, err, telemetry.ErrAlreadyAttached)

		trip(t, other, "payments")
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		assertSync(t, syncMetrics(s.Status(), s.Stats()), collect(t, reader))

		detach()
		detach()
		got := collect(t, reader)
		assert.NotContains(t, got, "circuit_breaker.sync.connected", "no longer observed")
		assert.Contains(t, got, "circuit_breaker.sync.propagation.delay", "the SDK keeps what was recorded")

		trip(t, other, "search")
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		detach, err = tel.AttachSyncer(s)
		require.NoError(t, err)
		defer detach()
		assertSync(t, syncMetrics(s.Status(), s.Stats()), collect(t, reader))
	})
}

// The delays of a Syncer measured before it is attached are in the
// histogram from the first collection, as the native page shows them.
func TestSyncDelaysBeforeAttaching(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		store := sharedstatetest.NewStore()
		client := store.Client()
		s := attachSyncer(t, e.reg, client, "pod-a")
		other := peer(t, store, "pod-b")
		for i, d := range []time.Duration{1500 * time.Microsecond, 7 * time.Millisecond, 6 * time.Second} {
			client.SetDelay(d)
			trip(t, other, string(rune('a'+i)))
			time.Sleep(d + time.Millisecond)
			synctest.Wait()
		}
		detach, err := e.tel.AttachSyncer(s)
		require.NoError(t, err)
		defer detach()
		got := e.collect(t)
		assertSync(t, syncMetrics(s.Status(), s.Stats()), got)
		p := got["circuit_breaker.sync.propagation.delay"].Data.(metricdata.Histogram[float64]).DataPoints[0]
		assert.Equal(t, []uint64{0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1}, p.BucketCounts)
		assert.Equal(t, math.Ldexp(math.Round(6.0085*(1<<20)), -20), p.Sum, "to 2^-20 s")
	})
}

// With several readers, each collecting when it likes, every reader's
// histogram holds each delay once: the values recorded at one reader's
// collection reach the others too.
func TestSyncDelaysReachEveryReader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r1, r2 := sdkmetric.NewManualReader(), sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r1), sdkmetric.WithReader(r2))
		t.Cleanup(func() { require.NoError(t, mp.Shutdown(context.Background())) })
		tel, err := telemetry.New(telemetry.WithMeterProvider(mp), telemetry.WithLogger(slog.New(slog.DiscardHandler)))
		require.NoError(t, err)
		store := sharedstatetest.NewStore()
		client := store.Client()
		s := attachSyncer(t, breaker.NewRegistry(), client, "pod-a")
		detach, err := tel.AttachSyncer(s)
		require.NoError(t, err)
		defer detach()
		other := peer(t, store, "pod-b")

		for i, d := range []time.Duration{3 * time.Millisecond, 40 * time.Millisecond, 300 * time.Millisecond, 3 * time.Millisecond} {
			client.SetDelay(d)
			trip(t, other, string(rune('a'+i)))
			time.Sleep(d + time.Millisecond)
			synctest.Wait()
			if i%2 == 0 {
				collect(t, r1)
			} else {
				collect(t, r2)
			}
		}
		want := syncMetrics(s.Status(), s.Stats())
		assertSync(t, want, collect(t, r1))
		assertSync(t, want, collect(t, r2))
	})
}

// transitionsByKey returns the circuit_breaker.transitions points of got
// by "name from>to reason origin".
func transitionsByKey(t *testing.T, got map[string]metricdata.Metrics) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	m, ok := got["circuit_breaker.transitions"]
	if !ok {
		return out
	}
	for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
		v := func(k string) string {
			x, _ := p.Attributes.Value(attribute.Key(k))
			return x.AsString()
		}
		out[v("circuit_breaker.name")+" "+v("circuit_breaker.from_state")+">"+v("circuit_breaker.to_state")+" "+
			v("circuit_breaker.reason")+" "+v("circuit_breaker.origin")] = p.Value
	}
	return out
}

// remotePoints returns the points of transitionsByKey whose origin is not
// local.
func remotePoints(t *testing.T, got map[string]metricdata.Metrics) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for k, v := range transitionsByKey(t, got) {
		if !strings.HasSuffix(k, " local") {
			out[k] = v
		}
	}
	return out
}

// peerSeries are the series a Syncer with sharedstate's defaults makes
// every breaker of its registry have at 0: a peer's trips, and its close,
// which makes an open breaker half-open.
func peerSeries(name string) map[string]int64 {
	return map[string]int64{
		name + " closed>open failure_threshold peer":   0,
		name + " closed>open failure_rate peer":        0,
		name + " closed>open slow_calls peer":          0,
		name + " open>half_open trials_succeeded peer": 0,
	}
}

// With a Syncer attached, every breaker of its registry, those there
// before and those created later, has at 0 the series of the transitions a
// peer's decision makes, so that increase() counts the first peer opening:
// after one, its series is at 1. Detaching the Syncer stops that for the
// breakers seen afterwards; without a Syncer there are none.
func TestSyncerPrecreatesPeerTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		store := sharedstatetest.NewStore()
		s := attachSyncer(t, e.reg, store.Client(), "pod-a")
		e.get(t, "before")
		assert.Empty(t, remotePoints(t, e.collect(t)), "no Syncer attached yet")

		detach, err := e.tel.AttachSyncer(s)
		require.NoError(t, err)
		payments := e.get(t, "payments")
		other := peer(t, store, "pod-b")
		want := peerSeries("before")
		maps.Copy(want, peerSeries("payments"))
		assert.Equal(t, want, remotePoints(t, e.collect(t)), "before any peer opening")

		trip(t, other, "payments")
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		require.Equal(t, breaker.Open, payments.State(), "opened by the peer")
		want["payments closed>open failure_threshold peer"] = 1
		assert.Equal(t, want, remotePoints(t, e.collect(t)), "after one peer opening")

		detach()
		e.get(t, "after")
		got := transitionsByKey(t, e.collect(t))
		assert.Contains(t, got, "after closed>open failure_threshold local")
		assert.NotContains(t, got, "after closed>open failure_threshold peer", "seen after the Syncer was detached")
		assert.Equal(t, want, remotePoints(t, e.collect(t)), "the series already made stay")
	})
}

// With a quorum above 1 the openings a replica applies are the fleet's
// (origin cluster), and with WithRemoteCloseCloses a peer's close closes:
// those are the series made at 0. A registry the Syncer does not share
// gets none.
func TestSyncerPrecreatesClusterTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		store := sharedstatetest.NewStore()
		s := attachSyncer(t, e.reg, store.Client(), "pod-a",
			sharedstate.WithQuorum(2, time.Minute), sharedstate.WithRemoteCloseCloses(true))
		detach, err := e.tel.AttachSyncer(s)
		require.NoError(t, err)
		t.Cleanup(detach)
		other := breaker.NewRegistry()
		detachOther, err := e.tel.AttachRegistry(other)
		require.NoError(t, err)
		t.Cleanup(detachOther)
		_, err = other.Get("elsewhere")
		require.NoError(t, err)
		payments := e.get(t, "payments")
		want := map[string]int64{
			"payments closed>open failure_threshold cluster": 0,
			"payments closed>open failure_rate cluster":      0,
			"payments closed>open slow_calls cluster":        0,
			"payments open>closed trials_succeeded peer":     0,
		}
		assert.Equal(t, want, remotePoints(t, e.collect(t)))

		// Two peers trip: a quorum, which opens payments here.
		trip(t, peer(t, store, "pod-b", sharedstate.WithQuorum(2, time.Minute)), "payments")
		trip(t, peer(t, store, "pod-c", sharedstate.WithQuorum(2, time.Minute)), "payments")
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		require.Equal(t, breaker.Open, payments.State(), "opened by the quorum")
		want["payments closed>open failure_threshold cluster"] = 1
		assert.Equal(t, want, remotePoints(t, e.collect(t)))
	})
}

// Attaching a Syncer again after another one was attached meanwhile goes
// on from its delays already recorded, rather than recording them twice.
func TestReattachAfterAnotherSyncerRecordsDelaysOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel, reader := newTelemetry(t)
		store := sharedstatetest.NewStore()
		other := peer(t, store, "pod-b")
		s1 := attachSyncer(t, breaker.NewRegistry(), store.Client(), "pod-a")
		s2 := attachSyncer(t, breaker.NewRegistry(), store.Client(), "pod-c")
		trip(t, other, "payments")
		synctest.Wait()
		count := func() uint64 {
			got := collect(t, reader)
			return got["circuit_breaker.sync.propagation.delay"].Data.(metricdata.Histogram[float64]).DataPoints[0].Count
		}
		d, err := tel.AttachSyncer(s1)
		require.NoError(t, err)
		assert.Equal(t, uint64(1), count())
		d()
		d, err = tel.AttachSyncer(s2)
		require.NoError(t, err)
		assert.Equal(t, uint64(2), count())
		d()
		d, err = tel.AttachSyncer(s1)
		require.NoError(t, err)
		defer d()
		assert.Equal(t, uint64(2), count(), "s1's delay was recorded twice")
	})
}
