package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/retry"
	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/telemetry/prom"
)

// startApp builds the demo on a manual clock and serves its routes.
func startApp(t *testing.T, sc scenario, token string) (*app, *breakertest.Clock) {
	t.Helper()
	return startAppWith(t, sc, token, nil)
}

// startAppWith is startApp with the registry attached to a Syncer first,
// if attach is not nil (it returns the Syncer to serve on /metrics).
func startAppWith(t *testing.T, sc scenario, token string, attach func(*breaker.Registry) *sharedstate.Syncer) (*app, *breakertest.Clock) {
	t.Helper()
	clock := breakertest.NewClock(time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC))
	a, err := newApp(appConfig{scenario: sc, clock: clock, seed: 42, adminToken: token, retryOpts: []retry.Option{retry.WithBackoff(0, 0)}})
	require.NoError(t, err)
	opts := []prom.Option{prom.WithServiceName(serviceName), prom.WithLogger(slog.New(slog.DiscardHandler))}
	if attach != nil {
		opts = append(opts, prom.WithSyncer(attach(a.reg)))
	}
	metrics, err := prom.NewHandler(a.reg, opts...)
	require.NoError(t, err)
	_, err = metrics.AttachRetry(a.modelRetry)
	require.NoError(t, err)
	a.mux.Handle("GET /metrics", metrics)
	srv := httptest.NewServer(a.mux)
	a.selfURL = srv.URL
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		srv.Close()
		a.Close()
		assert.NoError(t, metrics.Shutdown(context.Background()))
	})
	return a, clock
}

// TestDefaultScenarioCyclesEveryBreaker steps the default scenario on a
// manual clock through one cycle, over real loopback HTTP, and checks that
// every breaker opens, probes half-open and closes, and that the
// database's first probe fails.
func TestDefaultScenarioCyclesEveryBreaker(t *testing.T) {
	a, clock := startApp(t, scenarios()["default"], "")
	var mu sync.Mutex
	seen := map[string][]string{}
	a.reg.Events().Subscribe(events.HandlerFunc[breaker.Event](func(_ context.Context, e breaker.Event) {
		if e.Kind == breaker.EventStateChange {
			mu.Lock()
			defer mu.Unlock()
			seen[e.Breaker.Name()] = append(seen[e.Breaker.Name()], e.From.String()+"->"+e.To.String())
		}
	}))

	// 25 rounds a second at -speed 4: one round every 160ms of scenario time.
	for clock.Now().Sub(a.start) < a.sc.cycle {
		a.step(context.Background())
		clock.Advance(160 * time.Millisecond)
	}

	mu.Lock()
	defer mu.Unlock()
	full := []string{"closed->open", "open->half_open", "half_open->closed"}
	assert.Equal(t, full, seen["model_server"])
	assert.Equal(t, full, seen["external_api"])
	assert.Equal(t, []string{"closed->open", "open->half_open", "half_open->open", "open->half_open", "half_open->closed"}, seen["database"])
	for _, b := range a.reg.All() {
		st := b.Stats()
		assert.Equal(t, breaker.Closed, st.State, b.Name())
		assert.Positive(t, st.TotalRejected, b.Name())
		assert.Positive(t, st.TotalIgnored, "%s: some callers give up early", b.Name())
		assert.Equal(t, st.TotalCalls, st.TotalSuccesses+st.TotalFailures+st.TotalIgnored+st.TotalRejected)
	}

	// The model server's retries: the outage's first calls use all four
	// attempts until the budget runs dry and the breaker opens; the
	// brownout's failures are mostly retried away, within the budget.
	st := a.modelRetry.Stats()
	var calls uint64
	for _, o := range retry.Outcomes {
		calls += st.Calls(o)
	}
	model, _ := a.reg.Lookup("model_server")
	ms := model.Stats()
	assert.Equal(t, ms.TotalCalls-ms.TotalRejected, calls, "the policy runs once per call the breaker admits")
	assert.Positive(t, st.StoppedBy(retry.ReasonExhausted), "outage: four attempts, then give up")
	assert.Positive(t, st.StoppedBy(retry.ReasonBudget), "the budget refuses retries")
	assert.Greater(t, st.Calls(retry.OutcomeSuccessAfterRetry), st.Calls(retry.OutcomeFailureAfterRetry)+st.StoppedBy(retry.ReasonBudget),
		"the brownout's failures are mostly retried away")
	assert.LessOrEqual(t, float64(st.TotalAttempts-calls), 0.2*float64(calls)+10, "retries stay within the budget: 0.2 per call plus 10")
	assert.Greater(t, float64(st.TotalAttempts)/float64(calls), 1.1, "retries add load")
}

// predictions returns how many of n calls to /api/predict the model
// server answered and how many the cache did.
func predictions(t *testing.T, a *app, n int) (model, cache int) {
	t.Helper()
	for range n {
		resp, _ := get(t, a.selfURL+"/api/predict")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		switch resp.Header.Get("X-Prediction-Source") {
		case "model":
			model++
		case "cache":
			cache++
		}
	}
	return model, cache
}

// /api/predict is the specification's integration example: while the
// model_server breaker is open, the last prediction the model server made
// is served from the cache, and the model server is not called.
func TestPredictServesTheCacheWhileOpen(t *testing.T) {
	a, clock := startApp(t, scenarios()["default"], "")
	model, cache := predictions(t, a, 3)
	assert.Equal(t, 3, model, "healthy: the model answers")
	assert.Zero(t, cache)

	// The outage (10s to 16s): five calls, each retried until the budget
	// runs dry, open the breaker; then the cache answers.
	clock.Advance(11 * time.Second)
	resp, body := get(t, a.selfURL+"/api/predict")
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode, "a failed call that is not rejected is an error")
	assert.Contains(t, body, "model_server")
	for range 4 {
		get(t, a.selfURL+"/api/predict")
	}
	require.Equal(t, breaker.Open, a.model.State())
	attempts := a.modelRetry.Stats().TotalAttempts
	model, cache = predictions(t, a, 5)
	assert.Zero(t, model)
	assert.Equal(t, 5, cache)
	_, body = get(t, a.selfURL+"/api/predict")
	assert.JSONEq(t, `{"ok":true}`, body, "the cache holds the model's last answer")
	assert.Equal(t, attempts, a.modelRetry.Stats().TotalAttempts, "rejected calls never reach the retry policy")

	// After the recovery timeout the trials reach the model, which is
	// back: the breaker closes.
	clock.Advance(61 * time.Second)
	model, _ = predictions(t, a, 3)
	assert.Equal(t, 3, model)
	assert.Equal(t, breaker.Closed, a.model.State())
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

func TestRoutes(t *testing.T) {
	a, _ := startApp(t, scenarios()["outage"], "s3cret")

	resp, body := get(t, a.selfURL+"/healthz")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok\n", body)

	// Every dependency is down: the breakers open.
	for range 12 {
		a.step(context.Background())
	}
	resp, body = get(t, a.selfURL+"/api/predict")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "while model_server is open the route serves the cached result")
	assert.Equal(t, "cache", resp.Header.Get("X-Prediction-Source"))
	assert.Equal(t, string(initialPrediction), body, "the model server never answered: the initial cached result")

	resp, body = get(t, a.selfURL+"/breakers")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var stats []breaker.Stats
	require.NoError(t, json.Unmarshal([]byte(body), &stats))
	require.Len(t, stats, 3)
	for i, want := range []string{"database", "external_api", "model_server"} {
		assert.Equal(t, want, stats[i].Name)
		assert.Equal(t, breaker.Open, stats[i].State, want)
	}

	_, page := get(t, a.selfURL+"/metrics")
	for _, name := range []string{"database", "external_api", "model_server"} {
		assert.Contains(t, page, `circuit_breaker_state{circuit_breaker_name="`+name+`",circuit_breaker_state="open"`)
	}
	assert.Contains(t, page, `circuit_breaker_calls_total{circuit_breaker_name="model_server",circuit_breaker_outcome="rejected"`)
	assert.Contains(t, page, `circuit_breaker_transitions_total{circuit_breaker_from_state="closed",circuit_breaker_name="database",circuit_breaker_origin="local",circuit_breaker_reason="failure_threshold",circuit_breaker_to_state="open"`)
	// The model server's retry policy: its first calls used all four
	// attempts, the next ones ran out of budget.
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"retry_calls_total", []string{`retry_outcome="failure_after_retry"`}},
		{"retry_stops_total", []string{`retry_reason="exhausted"`}},
		{"retry_stops_total", []string{`retry_reason="budget"`}},
		{"retry_attempts_total", nil},
		{"retry_budget_available", nil},
		{"retry_call_retries_bucket", []string{`retry_outcome="failure_after_retry"`}},
		{"retry_call_delay_seconds_bucket", nil},
	} {
		v, ok := seriesValue(page, c.name, append(c.labels, `retry_name="model_server"`)...)
		if assert.True(t, ok, "%s %v on /metrics", c.name, c.labels) && c.name != "retry_budget_available" {
			assert.NotEqual(t, "0", v, "%s %v", c.name, c.labels)
		}
	}
	_, page = get(t, a.selfURL+"/breakers/?format=html")
	assert.Contains(t, page, `data-breaker="database"`)
	assert.Contains(t, page, `data-state="open"`)

	// Admin actions need the token.
	post := func(token string) int {
		req, err := http.NewRequest(http.MethodPost, a.selfURL+"/breakers/database/reset", nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusForbidden, post("wrong"))
	db, _ := a.reg.Lookup("database")
	assert.Equal(t, breaker.Open, db.State(), "a refused action changes nothing")
	assert.Equal(t, http.StatusOK, post("s3cret"))
	assert.Equal(t, breaker.Closed, db.State())
}

func TestAdminOffWithoutToken(t *testing.T) {
	a, _ := startApp(t, scenarios()["calm"], "")
	req, err := http.NewRequest(http.MethodPost, a.selfURL+"/breakers/database/force-open", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	db, _ := a.reg.Lookup("database")
	assert.Equal(t, breaker.Closed, db.State())
}

// The health check mode answers for a container: 0 when the URL says 200.
func TestHealthcheck(t *testing.T) {
	a, _ := startApp(t, scenarios()["calm"], "")
	require.NoError(t, healthcheck(a.selfURL+"/healthz"))
	assert.ErrorContains(t, healthcheck(a.selfURL+"/nope"), "404")
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	assert.Error(t, healthcheck(srv.URL+"/healthz"), "nothing listens")
}

// With an asynchronous bus the demo's page also shows the events it drops.
func TestAsyncBusShowsDroppedEvents(t *testing.T) {
	bus := events.NewAsync[breaker.Event](16)
	t.Cleanup(func() { require.NoError(t, bus.Close()) })
	clock := breakertest.NewClock(time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC))
	a, err := newApp(appConfig{scenario: scenarios()["calm"], clock: clock, seed: 1, bus: bus})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	assert.Same(t, bus, a.reg.Events())
	h, err := prom.NewHandler(a.reg, prom.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, h.Shutdown(context.Background())) })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	assert.Contains(t, rec.Body.String(), "\ncircuit_breaker_events_dropped_total")
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
			for _, b := range d.brownouts {
				assert.Less(t, b.from, b.to, "%s/%s", name, d.name)
				assert.LessOrEqual(t, b.to, sc.cycle, "%s/%s", name, d.name)
				assert.True(t, b.share > 0 && b.share < 1, "%s/%s: a brownout fails some requests, not all", name, d.name)
			}
		}
	}
}

// A dependency fails every request in an outage, a brownout's share in a
// brownout, and its stray errors otherwise, cycle after cycle.
func TestFailShare(t *testing.T) {
	d := downstream{
		outages:   []window{{10 * time.Second, 20 * time.Second}},
		brownouts: []brownout{{window{15 * time.Second, 40 * time.Second}, 0.25}},
		noiseErr:  0.01,
	}
	const cycle = time.Minute
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{
		{0, 0.01}, {10 * time.Second, 1}, {15 * time.Second, 1}, {20 * time.Second, 0.25},
		{39 * time.Second, 0.25}, {40 * time.Second, 0.01}, {cycle + 12*time.Second, 1}, {cycle + 30*time.Second, 0.25},
	} {
		assert.Equal(t, c.want, d.failShare(c.at, cycle), "at %s", c.at)
	}
}

// noEnv is an empty environment.
func noEnv(string) string { return "" }

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, noEnv, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, options{listen: "127.0.0.1:8080", scenario: "default", speed: 4, logFormat: "text", rate: 25}, o)

	o, err = parseFlags([]string{"-speed", "20", "-scenario", "outage", "-log-format", "json", "-duration", "3s"}, noEnv, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 20.0, o.speed)
	assert.Equal(t, 3*time.Second, o.duration)

	o, err = parseFlags([]string{"-event-queue", "64", "-healthcheck", "http://127.0.0.1:8080/healthz"}, noEnv, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 64, o.eventQueue)
	assert.Equal(t, "http://127.0.0.1:8080/healthz", o.healthcheck)

	for _, bad := range [][]string{
		{"-speed", "0"}, {"-rate", "-1"}, {"-log-format", "xml"}, {"-scenario", "nope"}, {"-duration", "-1s"}, {"-bogus"},
		{"-event-queue", "-1"},
		// Not numbers, or a call interval below a nanosecond: the clock and
		// the load generator's ticker (which panicked) cannot run on them.
		{"-speed", "NaN"}, {"-speed", "Inf"}, {"-rate", "NaN"}, {"-rate", "Inf"}, {"-rate", "2e9"},
	} {
		_, err := parseFlags(bad, noEnv, io.Discard)
		assert.ErrorContains(t, err, bad[0], "the error names the flag")
	}
}

// -redis takes a redis:// or unix:// URL, or FUSEBOX_REDIS_URL when it is
// not given, and sets the client up as sharing needs: context deadlines
// honoured, no retries of its own.
func TestParseFlagsRedis(t *testing.T) {
	env := func(url string) func(string) string {
		return func(k string) string {
			if k == redisURLEnv {
				return url
			}
			return ""
		}
	}
	for _, c := range []struct {
		args             []string
		env              string
		network, addr    string
		db               int
		password, source string
	}{
		{args: []string{"-redis", "redis://127.0.0.1:6379"}, network: "tcp", addr: "127.0.0.1:6379"},
		{args: []string{"-redis", "redis://:pw@redis:6380/2"}, network: "tcp", addr: "redis:6380", db: 2, password: "pw"},
		{args: []string{"-redis", "unix:///run/redis/redis.sock"}, network: "unix", addr: "/run/redis/redis.sock"},
		{args: []string{"-redis=unix:///tmp/r.sock?db=3"}, network: "unix", addr: "/tmp/r.sock", db: 3},
		{env: "redis://10.0.0.1:6379/1", network: "tcp", addr: "10.0.0.1:6379", db: 1},
		{args: []string{"-redis", "redis://flag:6379"}, env: "redis://env:6379", network: "tcp", addr: "flag:6379"},
	} {
		o, err := parseFlags(c.args, env(c.env), io.Discard)
		require.NoError(t, err, "%v %s", c.args, c.env)
		require.NotNil(t, o.redis, "%v %s", c.args, c.env)
		assert.Equal(t, c.network, o.redis.Network, "%v %s", c.args, c.env)
		assert.Equal(t, c.addr, o.redis.Addr, "%v %s", c.args, c.env)
		assert.Equal(t, c.db, o.redis.DB, "%v %s", c.args, c.env)
		assert.Equal(t, c.password, o.redis.Password, "%v %s", c.args, c.env)
		assert.True(t, o.redis.ContextTimeoutEnabled, "every command bounded by the syncer's deadline")
		assert.Equal(t, -1, o.redis.MaxRetries, "the syncer retries, not the client")
	}

	o, err := parseFlags([]string{"-redis", "redis://127.0.0.1:6379", "-replica-id", "eu-1"}, noEnv, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "eu-1", o.replicaID)
	o, err = parseFlags(nil, env(""), io.Discard)
	require.NoError(t, err)
	assert.Nil(t, o.redis, "no URL: no sharing")

	for _, c := range []struct {
		args      []string
		env, want string
	}{
		{args: []string{"-redis", "http://127.0.0.1:6379"}, want: `-redis "http://127.0.0.1:6379": `},
		{args: []string{"-redis", "redis://:s3cret@127.0.0.1:6379/x"}, want: `-redis "redis://:xxxxx@127.0.0.1:6379/x": `},
		{args: []string{"-redis", "127.0.0.1:6379"}, want: "-redis "},
		{env: "tcp://127.0.0.1:6379", want: redisURLEnv + ` "tcp://127.0.0.1:6379": `},
		{args: []string{"-replica-id", "eu-1"}, want: "-replica-id needs -redis"},
	} {
		_, err := parseFlags(c.args, env(c.env), io.Discard)
		require.Error(t, err, "%v %s", c.args, c.env)
		assert.Contains(t, err.Error(), c.want, "the message names the flag or variable")
		assert.NotContains(t, err.Error(), "s3cret", "the password stays out of the message")
	}
}

// The admin token is FUSEBOX_ADMIN_TOKEN, or one made up per process.
func TestAdminToken(t *testing.T) {
	tok, generated := adminToken(func(k string) string {
		if k == adminTokenEnv {
			return "s3cret"
		}
		return ""
	})
	assert.Equal(t, "s3cret", tok)
	assert.False(t, generated)
	a, generated := adminToken(noEnv)
	assert.True(t, generated)
	b, _ := adminToken(noEnv)
	assert.GreaterOrEqual(t, len(a), 26, "128 bits or more")
	assert.NotEqual(t, a, b)
}

// seriesValue returns the value of the first series of a Prometheus text
// page named name whose labels include every one of labels.
func seriesValue(page, name string, labels ...string) (string, bool) {
	for _, line := range strings.Split(page, "\n") {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		set, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		all := true
		for _, l := range labels {
			all = all && slices.Contains(strings.Split(set, ","), l)
		}
		if all {
			return value, true
		}
	}
	return "", false
}
