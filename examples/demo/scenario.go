package main

import (
	"sort"
	"strings"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
)

// A downstream is a simulated dependency: healthy, except during the
// outages and brownouts its schedule lists (offsets into a repeating
// cycle).
type downstream struct {
	name      string
	opts      []breaker.Option
	grpc      bool          // served over gRPC rather than HTTP
	latency   time.Duration // typical latency when healthy
	outages   []window      // within each cycle: every request fails
	brownouts []brownout    // within each cycle: a share of requests fails
	noiseErr  float64       // chance of a stray error while healthy
}

type window struct{ from, to time.Duration }

// A brownout is a window in which a dependency fails a share of its
// requests: overloaded rather than down. Retries hide most of those
// failures from callers, at the price of more load, which the retry
// budget bounds.
type brownout struct {
	window
	share float64
}

// scenario is a named failure schedule that repeats every cycle.
type scenario struct {
	name  string
	about string
	cycle time.Duration
	deps  []downstream
}

// The spec's recommended settings for the three breakers.
var (
	modelServerOpts = []breaker.Option{breaker.WithFailureThreshold(5), breaker.WithRecoveryTimeout(60 * time.Second), breaker.WithHalfOpenMaxCalls(3)}
	databaseOpts    = []breaker.Option{breaker.WithFailureThreshold(3), breaker.WithRecoveryTimeout(30 * time.Second), breaker.WithHalfOpenMaxCalls(2)}
	// external_api also watches its failure rate and its slow calls, so the
	// demo shows those instruments; the consecutive threshold (checked
	// first, at 10) is what opens it in the default scenario.
	externalAPIOpts = []breaker.Option{
		breaker.WithTripPolicy(
			breaker.ConsecutiveFailures(10),
			breaker.FailureRate(0.5, 20, breaker.LastCalls(50)),
			breaker.SlowCalls(150*time.Millisecond, 0.8, 20, breaker.LastDuration(30*time.Second, 6)),
		),
		breaker.WithRecoveryTimeout(120 * time.Second), breaker.WithHalfOpenMaxCalls(5),
	}
)

// modelBrownout is the default scenario's burst of model_server errors
// that retries absorb: a quarter of its requests fail for 60s of each
// cycle, after its breaker has closed again.
var modelBrownout = brownout{window{80 * time.Second, 140 * time.Second}, 0.25}

func scenarios() map[string]scenario {
	deps := func(model, db, ext []window, modelBrownouts ...brownout) []downstream {
		return []downstream{
			{name: "model_server", opts: modelServerOpts, latency: 40 * time.Millisecond, outages: model, brownouts: modelBrownouts, noiseErr: 0.01},
			{name: "database", opts: databaseOpts, latency: 5 * time.Millisecond, outages: db, noiseErr: 0.005},
			{name: "external_api", opts: externalAPIOpts, grpc: true, latency: 120 * time.Millisecond, outages: ext, noiseErr: 0.02},
		}
	}
	list := []scenario{
		{
			name: "default",
			about: "every breaker opens, probes half-open and closes once per 150s cycle; the database's first probe fails and it reopens once; " +
				"then the model server fails a quarter of its requests for 60s, which retries absorb until their budget runs dry",
			cycle: 150 * time.Second,
			deps: deps(
				[]window{{10 * time.Second, 16 * time.Second}},
				[]window{{20 * time.Second, 55 * time.Second}},
				[]window{{5 * time.Second, 12 * time.Second}},
				modelBrownout,
			),
		},
		{
			name:  "calm",
			about: "no outages: breakers stay closed, with stray errors only",
			cycle: time.Minute,
			deps:  deps(nil, nil, nil),
		},
		{
			name:  "outage",
			about: "every dependency is down for good: breakers open and every probe fails",
			cycle: time.Hour,
			deps:  deps([]window{{0, time.Hour}}, []window{{0, time.Hour}}, []window{{0, time.Hour}}),
		},
	}
	m := make(map[string]scenario, len(list))
	for _, s := range list {
		m[s.name] = s
	}
	return m
}

func scenarioNames() string {
	var names []string
	for n := range scenarios() {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// failShare returns the share of d's requests that fail at scenario time
// t: all of them in an outage, a brownout's share in one, and the stray
// errors otherwise.
func (d downstream) failShare(t, cycle time.Duration) float64 {
	at := t % cycle
	for _, w := range d.outages {
		if w.contains(at) {
			return 1
		}
	}
	share := d.noiseErr
	for _, b := range d.brownouts {
		if b.contains(at) {
			share = max(share, b.share)
		}
	}
	return share
}

func (w window) contains(at time.Duration) bool { return at >= w.from && at < w.to }
