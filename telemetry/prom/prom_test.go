package prom_test

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/telemetry/prom"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var (
	t0         = time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC)
	errBoom    = errors.New("service unavailable")
	errIgnored = errors.New("not found")
)

// newRegistry returns a registry on a manual clock: breakers open after 2
// consecutive failures, wait 30s and close after 1 successful trial;
// errIgnored is not a failure. Its bus is asynchronous (and closed when the
// test ends), so that the page shows the events it drops.
func newRegistry(t *testing.T) (*breaker.Registry, *breakertest.Clock, *events.Async[breaker.Event]) {
	t.Helper()
	clock := breakertest.NewClock(t0)
	bus := events.NewAsync[breaker.Event](1024)
	t.Cleanup(func() { require.NoError(t, bus.Close()) })
	return breaker.NewRegistry(
		breaker.WithClock(clock),
		breaker.WithEventBus(bus),
		breaker.WithFailureThreshold(2),
		breaker.WithRecoveryTimeout(30*time.Second),
		breaker.WithHalfOpenMaxCalls(1),
		breaker.WithFailurePredicate(func(err error) bool { return !errors.Is(err, errIgnored) }),
	), clock, bus
}

// sampled is the context of the scenario's calls: it holds a sampled span
// context, so that durations and transitions take exemplars.
var sampled = trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
	TraceID:    trace.TraceID{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c},
	SpanID:     trace.SpanID{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31},
	TraceFlags: trace.FlagsSampled,
}))

func call(t *testing.T, clock *breakertest.Clock, b *breaker.Breaker, d time.Duration, err error) {
	t.Helper()
	got := b.Execute(sampled, func(context.Context) error {
		clock.Advance(d)
		return err
	})
	if err == nil && got != nil {
		require.ErrorIs(t, got, breaker.ErrOpen)
	}
}

// runScenario: model_server succeeds, ignores an error, fails twice (and
// opens), rejects three calls, recovers through half-open; search is created
// later and is left open; cache only ever succeeds; canary runs in shadow
// mode and lets through a call it would have rejected; ranker trips on
// failure rate and slow calls, and stays closed. Then the bus is closed,
// every queued event delivered, and one more call's event is dropped.
func runScenario(t *testing.T, reg *breaker.Registry, clock *breakertest.Clock, bus *events.Async[breaker.Event]) {
	t.Helper()
	get := func(name string, opts ...breaker.Option) *breaker.Breaker {
		b, err := reg.Get(name, opts...)
		require.NoError(t, err)
		return b
	}
	ms := get("model_server")
	call(t, clock, ms, 20*time.Millisecond, nil)
	call(t, clock, ms, 5*time.Millisecond, errIgnored)
	call(t, clock, ms, 100*time.Millisecond, errBoom)
	call(t, clock, ms, 300*time.Millisecond, errBoom)
	for range 3 {
		call(t, clock, ms, time.Second, nil)
	}
	clock.Advance(30 * time.Second)
	call(t, clock, ms, 10*time.Millisecond, nil)
	require.Equal(t, breaker.Closed, ms.State())

	search := get("search")
	call(t, clock, search, 2*time.Second, errBoom)
	call(t, clock, search, 7*time.Second, errBoom)
	call(t, clock, search, 0, nil)
	require.Equal(t, breaker.Open, search.State())

	cache := get("cache")
	call(t, clock, cache, 500*time.Microsecond, nil)

	canary := get("canary", breaker.WithShadowMode(true))
	call(t, clock, canary, 40*time.Millisecond, errBoom)
	call(t, clock, canary, 60*time.Millisecond, errBoom)
	require.Equal(t, breaker.Open, canary.State())
	call(t, clock, canary, 30*time.Millisecond, nil) // would have been rejected: runs

	ranker := get("ranker", breaker.WithTripPolicy(
		breaker.FailureRate(0.5, 4, breaker.LastCalls(10)),
		breaker.SlowCalls(100*time.Millisecond, 0.5, 4, breaker.LastCalls(10)),
	))
	call(t, clock, ranker, 250*time.Millisecond, nil) // slow
	call(t, clock, ranker, 15*time.Millisecond, errBoom)
	call(t, clock, ranker, 120*time.Millisecond, errIgnored) // slow, not in the windows
	call(t, clock, ranker, 30*time.Millisecond, nil)
	require.Equal(t, breaker.Closed, ranker.State())

	require.NoError(t, bus.Close())
	call(t, clock, cache, time.Millisecond, nil) // its event is dropped
	require.Equal(t, uint64(1), bus.Dropped())
}

func scrape(t *testing.T, h http.Handler, accept string) (string, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	body, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(body), rec.Header().Get("Content-Type")
}

// sdkVersion is the one thing in the page that changes with a dependency
// upgrade rather than with fusebox.
var sdkVersion = regexp.MustCompile(`telemetry_sdk_version="[^"]*"`)

// instanceID is the process's service.instance.id, a random UUID.
var instanceID = regexp.MustCompile(`service_instance_id="[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"`)

func normalise(page string) string {
	page = instanceID.ReplaceAllString(page, `service_instance_id="<uuid>"`)
	return sdkVersion.ReplaceAllString(page, `telemetry_sdk_version="<sdk version>"`)
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), got, "run go test -update to accept a change")
}

// noResourceEnv keeps the environment out of target_info.
func noResourceEnv(t *testing.T) {
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "")
	t.Setenv("OTEL_SERVICE_NAME", "")
}

func TestHandlerGolden(t *testing.T) {
	noResourceEnv(t)
	synctest.Test(t, func(t *testing.T) {
		sh := newShared(t)
		promReg := prometheus.NewRegistry()
		h, err := prom.NewHandler(sh.reg, prom.WithRegistry(promReg), prom.WithServiceName("checkout"),
			prom.WithLogger(slog.New(slog.DiscardHandler)), prom.WithSyncer(sh.syncer))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, h.Shutdown(context.Background())) })

		sh.run(t)
		page, contentType := scrape(t, h, "")
		assert.Equal(t, "text/plain; version=0.0.4; charset=utf-8; escaping=underscores", contentType)
		golden(t, "scenario.txt", normalise(page))

		problems, err := testutil.GatherAndLint(promReg)
		require.NoError(t, err)
		assert.Empty(t, problems)
	})
}

func TestHandlerWithoutScopeInfo(t *testing.T) {
	noResourceEnv(t)
	reg, clock, bus := newRegistry(t)
	h, err := prom.NewHandler(reg, prom.WithServiceName("checkout"), prom.WithoutScopeInfo(),
		prom.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, h.Shutdown(context.Background())) })
	runScenario(t, reg, clock, bus)
	page, _ := scrape(t, h, "")
	assert.NotContains(t, page, "otel_scope")
	assert.Contains(t, page, `circuit_breaker_state{circuit_breaker_name="search",circuit_breaker_state="open"} 1`)
}

// Users add their own collectors to the registry they pass.
func TestHandlerWithUserRegistry(t *testing.T) {
	reg, _, _ := newRegistry(t)
	promReg := prometheus.NewRegistry()
	promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h, err := prom.NewHandler(reg, prom.WithRegistry(promReg))
	require.NoError(t, err)
	_, err = reg.Get("db")
	require.NoError(t, err)

	page, _ := scrape(t, h, "")
	assert.Contains(t, page, "\ngo_goroutines ")
	assert.Contains(t, page, `circuit_breaker_state{circuit_breaker_name="db",circuit_breaker_state="closed"`)

	require.NoError(t, h.Shutdown(context.Background()))
	require.NoError(t, h.Shutdown(context.Background()), "idempotent")
	page, _ = scrape(t, h, "")
	assert.Contains(t, page, "\ngo_goroutines ", "other collectors are still served")
	assert.NotContains(t, page, "circuit_breaker_", "the breakers are gone")
	assert.False(t, reg.Events().Active(), "detached from the registry")
}

// No breaker is folded into an overflow series: the SDK's default limit of
// 2,000 series per instrument would fold the state of the 667th breaker.
func TestHandlerNoCardinalityLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("renders 3,000 breakers")
	}
	reg := breaker.NewRegistry()
	for i := range 3000 {
		_, err := reg.Get("b" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + itoa(i))
		require.NoError(t, err)
	}
	for _, opts := range [][]prom.Option{nil, {prom.WithOTelExporter()}} {
		h, err := prom.NewHandler(reg, opts...)
		require.NoError(t, err)
		page, _ := scrape(t, h, "")
		assert.NotContains(t, page, "otel_metric_overflow")
		assert.Equal(t, 3*3000, strings.Count(page, "\ncircuit_breaker_state{"))
		require.NoError(t, h.Shutdown(context.Background()))
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

func TestHandlerOpenMetrics(t *testing.T) {
	reg, clock, bus := newRegistry(t)
	h, err := prom.NewHandler(reg, prom.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, h.Shutdown(context.Background())) })
	runScenario(t, reg, clock, bus)
	page, contentType := scrape(t, h, "application/openmetrics-text; version=1.0.0")
	assert.Contains(t, contentType, "application/openmetrics-text")
	assert.Contains(t, page, "# TYPE circuit_breaker_calls counter")
	assert.Contains(t, page, "# EOF")
}

func TestNewHandlerNilRegistry(t *testing.T) {
	_, err := prom.NewHandler(nil)
	require.Error(t, err)
}

// Every handler of a process has the same service.instance.id, a random
// UUID, in target_info and in its Resource; OTEL_RESOURCE_ATTRIBUTES
// overrides it, and WithServiceName still sets the name.
func TestHandlerInstanceID(t *testing.T) {
	noResourceEnv(t)
	targetInfo := func(h *prom.Handler) string {
		page, _ := scrape(t, h, "")
		for l := range strings.Lines(page) {
			if strings.HasPrefix(l, "target_info{") {
				return l
			}
		}
		t.Fatal("no target_info")
		return ""
	}
	newHandler := func(opts ...prom.Option) *prom.Handler {
		h, err := prom.NewHandler(breaker.NewRegistry(), opts...)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, h.Shutdown(context.Background())) })
		return h
	}
	a, b := newHandler(), newHandler(prom.WithOTelExporter())
	id, ok := a.Resource().Set().Value("service.instance.id")
	require.True(t, ok)
	assert.Regexp(t, instanceID, `service_instance_id="`+id.AsString()+`"`, "a version 4 UUID")
	assert.Contains(t, targetInfo(a), `service_instance_id="`+id.AsString()+`"`)
	assert.Contains(t, targetInfo(b), `service_instance_id="`+id.AsString()+`"`, "one id per process")

	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=checkout-7,deployment.environment.name=prod")
	c := newHandler(prom.WithServiceName("checkout"))
	v, _ := c.Resource().Set().Value("service.instance.id")
	assert.Equal(t, "checkout-7", v.AsString())
	assert.Contains(t, targetInfo(c), `deployment_environment_name="prod",service_instance_id="checkout-7",service_name="checkout"`)
}
