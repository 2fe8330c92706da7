package main

import (
	"sort"
	"strings"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
)

// A downstream is a simulated dependency: healthy, except during the
// outages its schedule lists (offsets into a repeating cycle).
type downstream struct {
	name     string
	opts     []breaker.Option
	latency  time.Duration // typical latency when healthy
	outages  []window      // within each cycle
	noiseErr float64       // chance of a stray error while healthy
}

type window struct{ from, to time.Duration }

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

func scenarios() map[string]scenario {
	deps := func(model, db, ext []window) []downstream {
		return []downstream{
			{name: "model_server", opts: modelServerOpts, latency: 40 * time.Millisecond, outages: model, noiseErr: 0.01},
			{name: "database", opts: databaseOpts, latency: 5 * time.Millisecond, outages: db, noiseErr: 0.005},
			{name: "external_api", opts: externalAPIOpts, latency: 120 * time.Millisecond, outages: ext, noiseErr: 0.02},
		}
	}
	list := []scenario{
		{
			name:  "default",
			about: "every breaker opens, probes half-open and closes once per 150s cycle; the database's first probe fails and it reopens once",
			cycle: 150 * time.Second,
			deps: deps(
				[]window{{10 * time.Second, 16 * time.Second}},
				[]window{{20 * time.Second, 55 * time.Second}},
				[]window{{5 * time.Second, 12 * time.Second}},
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

// down reports whether d is in an outage at scenario time t.
func (d downstream) down(t, cycle time.Duration) bool {
	at := t % cycle
	for _, w := range d.outages {
		if at >= w.from && at < w.to {
			return true
		}
	}
	return false
}
