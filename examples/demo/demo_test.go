package main

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/events"
)

// TestDefaultScenarioCyclesEveryBreaker steps the default scenario on a
// manual clock through one cycle and checks that every breaker opens,
// probes half-open and closes, and that the database's first probe fails.
func TestDefaultScenarioCyclesEveryBreaker(t *testing.T) {
	clock := breakertest.NewClock(time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC))
	reg := breaker.NewRegistry()
	var mu sync.Mutex
	seen := map[string][]string{}
	reg.Events().Subscribe(events.HandlerFunc[breaker.Event](func(_ context.Context, e breaker.Event) {
		if e.Kind == breaker.EventStateChange {
			mu.Lock()
			defer mu.Unlock()
			seen[e.Breaker.Name()] = append(seen[e.Breaker.Name()], e.From.String()+"->"+e.To.String())
		}
	}))
	sc := scenarios()["default"]
	s, err := newSim(sc, reg, clock, 42)
	require.NoError(t, err)

	// 25 calls a second at -speed 4: one round every 160ms of scenario time.
	for clock.Now().Sub(s.start) < sc.cycle {
		s.step(context.Background())
		clock.Advance(160 * time.Millisecond)
	}

	full := []string{"closed->open", "open->half_open", "half_open->closed"}
	assert.Equal(t, full, seen["model_server"])
	assert.Equal(t, full, seen["external_api"])
	assert.Equal(t, []string{"closed->open", "open->half_open", "half_open->open", "open->half_open", "half_open->closed"}, seen["database"])
	for _, b := range reg.All() {
		st := b.Stats()
		assert.Equal(t, breaker.Closed, st.State, b.Name())
		assert.Positive(t, st.TotalRejected, b.Name())
		assert.Positive(t, st.TotalIgnored, "%s: some callers give up early", b.Name())
		assert.Equal(t, st.TotalCalls, st.TotalSuccesses+st.TotalFailures+st.TotalIgnored+st.TotalRejected)
	}
}

func TestScenariosAreConsistent(t *testing.T) {
	for name, sc := range scenarios() {
		assert.Equal(t, name, sc.name)
		require.Len(t, sc.deps, 3, name)
		for _, d := range sc.deps {
			for _, w := range d.outages {
				assert.Less(t, w.from, w.to, "%s/%s", name, d.name)
				assert.LessOrEqual(t, w.to, sc.cycle, "%s/%s", name, d.name)
			}
		}
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, options{listen: "127.0.0.1:8080", scenario: "default", speed: 4, logFormat: "text", rate: 25}, o)

	o, err = parseFlags([]string{"-speed", "20", "-scenario", "outage", "-log-format", "json", "-duration", "3s"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 20.0, o.speed)
	assert.Equal(t, 3*time.Second, o.duration)

	for _, bad := range [][]string{
		{"-speed", "0"}, {"-rate", "-1"}, {"-log-format", "xml"}, {"-scenario", "nope"}, {"-duration", "-1s"}, {"-bogus"},
	} {
		_, err := parseFlags(bad, io.Discard)
		assert.Error(t, err, "%v", bad)
	}
}
