package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Values for Grafana's built-in variables in the live run. Prometheus
// scrapes every second there and the demo runs its scenario compressed, so
// short windows already hold many samples and several breaker cycles.
var builtinVars = map[string]string{
	"__rate_interval": "20s",
	"__interval":      "5s",
	"__interval_ms":   "5000",
	"__range":         "5m",
	"__range_s":       "300",
	"__range_ms":      "300000",
}

const (
	liveScrapeInterval = "1s"
	// The whole live run, binaries built, stays under this.
	liveBudget = 7 * time.Minute
	// Time given to every expression to return data once Prometheus scrapes.
	evalBudget = 3 * time.Minute
	// Time given to the alerts to reach Alertmanager, and to the other
	// checks that wait for data.
	alertBudget = 2 * time.Minute

	// adminToken enables the demo's admin actions (FUSEBOX_ADMIN_TOKEN).
	adminToken = "e2e"
	// forcedBreaker is forced open on the last demo replica, and through
	// Redis on the other one too, so that one breaker is held open and
	// rejects: the open, rejection and inhibition alerts fire on it, and
	// the other replica shows the opening as a peer's.
	forcedBreaker = "database"
)

// faultAlerts are the alerts whose condition is a fault the demo does not
// cause on its own. The live run requires the data they fire on (their
// expression without the final comparison) to be there; alerts_test.yml
// shows them firing.
var faultAlerts = map[string]string{
	"CircuitBreakerEventsDropped": "an event queue that overflows",
	"RetryAmplificationHigh":      "a retry policy without a budget (the demo's has the default one, which holds it at about 1.2)",
}

// inducedAlerts are the faults the live run causes itself, after the
// other checks: it stops a demo replica, whose target goes down, and the
// redis-server the replicas share their breakers through, which the other
// replica then cannot reach. The value says whether the alert is seen
// through the collector too: the target-down alert is not (there, up is
// the collector's).
var inducedAlerts = map[string]bool{
	"CircuitBreakerTargetDown":       false,
	"CircuitBreakerSyncDisconnected": true,
}

// TestStack runs two demo replicas, the collector (built from
// examples/otel-collector with its config.yaml), Prometheus 3 (built from
// its Go module at the release docker-compose.yml pins, with
// examples/prometheus) and Debian's Alertmanager (with
// examples/prometheus/alertmanager.yml and a webhook), all on loopback
// ports, and requires:
//
//   - every PromQL expression of the dashboard (panels, annotations,
//     variables) and of the alert rules to return data, for the series
//     scraped from the replicas and for those that came through the
//     collector;
//   - the replicas to stay apart through the collector (one instance label
//     per service.instance.id) with no counter reset on either path;
//   - exemplars of the demo's traces (which the collector forwards to a
//     trace receiver standing in for Jaeger) queryable on both paths;
//   - the alerts to reach Alertmanager grouped by service and breaker, with
//     the open alert inhibited by the rejection alert, and the warning tier
//     by the critical one;
//   - the breaker of the demo's gRPC dependency (external_api, called
//     through grpcbreaker's client interceptor) on both paths, on
//     /breakers, and the gRPC client spans of its calls at the trace
//     receiver;
//   - the replicas to share their breakers through a redis-server on a Unix
//     socket (compose's -redis, pointed at it): the force-open made on one
//     replica open on the other with origin peer, on its /breakers and
//     /metrics and on both paths;
//   - a replica that stops to fire CircuitBreakerTargetDown, and Redis
//     stopping to fire CircuitBreakerSyncDisconnected.
func TestStack(t *testing.T) {
	if os.Getenv("FUSEBOX_E2E") != "1" {
		t.Skip("live end-to-end test: run with FUSEBOX_E2E=1 (make e2e)")
	}
	kit, err := FindKit()
	require.NoError(t, err)
	promtool2 := lookTool(t, "FUSEBOX_PROMTOOL", "promtool")
	p3 := envOr("FUSEBOX_PROMETHEUS3_DIR", kit.Path("bin", "prometheus3"))
	prometheus3, promtool3 := filepath.Join(p3, "prometheus"), filepath.Join(p3, "promtool")
	for _, bin := range []string{prometheus3, promtool3} {
		_, err := os.Stat(bin)
		require.NoError(t, err, "Prometheus 3 not built: make build-prometheus3 (or set FUSEBOX_PROMETHEUS3_DIR)")
	}
	alertmanagerBin := lookTool(t, "FUSEBOX_ALERTMANAGER", "prometheus-alertmanager")
	amtool := lookTool(t, "FUSEBOX_AMTOOL", "amtool")
	demoBin := buildIfMissing(t, envOr("FUSEBOX_DEMO_BIN", kit.Path("bin", "demo")), kit.Path("examples", "demo"), ".")
	collectorBin := buildIfMissing(t, envOr("FUSEBOX_COLLECTOR_BIN", kit.Path("bin", "otelcol-fusebox")),
		kit.Path("examples", "otel-collector"), ".")
	speed := envOr("FUSEBOX_E2E_SPEED", "20")
	factor, err := strconv.ParseFloat(speed, 64)
	require.NoError(t, err, "FUSEBOX_E2E_SPEED")

	// The budget starts once the binaries exist.
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), liveBudget)
	defer cancel()

	st := loadStack(t)
	checkPrometheusVersion(t, st, prometheus3)

	// The shipped files as they are, on both Prometheus versions.
	runPromtool(t, promtool2, kit)
	runPromtool(t, promtool3, kit)
	out, err := exec.Command(amtool, "check-config", kit.AlertmanagerConfig()).CombinedOutput()
	require.NoError(t, err, "amtool check-config:\n%s", out)
	t.Log("amtool check-config alertmanager.yml: ok")
	out, err = exec.Command(collectorBin, "validate", "--config="+kit.CollectorConfig()).CombinedOutput()
	require.NoError(t, err, "collector validate:\n%s", out)
	t.Log("otelcol validate config.yaml: ok")

	demos := st.otlpServices(t)
	require.GreaterOrEqual(t, len(demos), 2, "docker-compose.yml should run two demo replicas")
	promCfg, err := LoadPromConfig(kit.PrometheusConfig())
	require.NoError(t, err)
	colCfg := st.collectorConfig(t)

	logDir := os.Getenv("FUSEBOX_E2E_LOGS")
	if logDir == "" {
		logDir = t.TempDir()
	} else {
		require.NoError(t, os.MkdirAll(logDir, 0o755))
	}
	work := t.TempDir()
	p := freePorts(t, 6+len(demos))
	local := func(i int) string { return "127.0.0.1:" + strconv.Itoa(p[i]) }
	grpcAddr, httpAddr, exporterAddr, telemetryPort, promAddr, amAddr :=
		local(0), local(1), local(2), p[3], local(4), local(5)

	// The trace backend and the alert receiver: in-process servers.
	traces := &TraceSink{}
	traceSrv := httptest.NewServer(traces)
	t.Cleanup(traceSrv.Close)
	hooks := &WebhookSink{}
	hookSrv := httptest.NewServer(hooks)
	t.Cleanup(hookSrv.Close)

	// Collector: the real config, listen addresses moved to loopback ports,
	// traces sent to the trace receiver.
	collectorEnv := []string{}
	for cfgValue, addr := range map[string]string{
		colCfg.Receivers.OTLP.Protocols.GRPC.Endpoint: grpcAddr,
		colCfg.Receivers.OTLP.Protocols.HTTP.Endpoint: httpAddr,
		colCfg.Exporters.Prometheus.Endpoint:          exporterAddr,
		colCfg.Exporters.OTLPHTTPTraces.Endpoint:      traceSrv.URL,
	} {
		name, _ := EnvDefault(cfgValue)
		require.NotEmpty(t, name, "collector setting %q must be overridable with ${env:NAME:-default}", cfgValue)
		collectorEnv = append(collectorEnv, name+"="+addr)
	}
	for _, r := range colCfg.Service.Telemetry.Metrics.Readers {
		prom := r.Pull.Exporter.Prometheus
		if h, _ := EnvDefault(prom.Host); h != "" {
			collectorEnv = append(collectorEnv, h+"=127.0.0.1")
		}
		if n, _ := EnvDefault(prom.Port); n != "" {
			collectorEnv = append(collectorEnv, n+"="+strconv.Itoa(telemetryPort))
		}
	}
	collector := startProcess(t, logDir, "collector", collectorEnv, collectorBin, "--config="+kit.CollectorConfig())
	waitHTTP(ctx, t, collector, "http://"+exporterAddr+"/metrics")

	// Alertmanager: the real config with a webhook to the receiver and short
	// group timings; no cluster.
	amYAML, err := RewriteAlertmanagerConfig(kit.AlertmanagerConfig(), hookSrv.URL, "1s")
	require.NoError(t, err)
	amFile := filepath.Join(work, "alertmanager.yml")
	require.NoError(t, os.WriteFile(amFile, amYAML, 0o644))
	am := startProcess(t, logDir, "alertmanager", nil, alertmanagerBin, append(st.extraFlags(t, st.alertmanager,
		"config.file", "storage.path", "web.listen-address"),
		"--config.file="+amFile,
		"--storage.path="+filepath.Join(work, "alertmanager"),
		"--web.listen-address="+amAddr,
		"--cluster.listen-address=",
	)...)
	waitHTTP(ctx, t, am, "http://"+amAddr+"/-/ready")

	// The Redis the replicas share their breakers through.
	redisSocket, redisProc := startRedis(ctx, t, logDir)

	// The demo replicas: compose's command and OTEL_* settings, pointed at
	// the local collector and Redis, with a short export interval, the
	// scenario compressed and the admin actions on.
	targets := map[string]string{}
	var replicas []*replica
	for i, svc := range demos {
		addr := local(6 + i)
		env := []string{
			"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + httpAddr,
			"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
			"OTEL_METRIC_EXPORT_INTERVAL=1000",
			"FUSEBOX_ADMIN_TOKEN=" + adminToken,
		}
		senv, err := st.compose.Services[svc].Env()
		require.NoError(t, err)
		for k, v := range senv {
			if strings.HasPrefix(k, "OTEL_") && k != "OTEL_EXPORTER_OTLP_ENDPOINT" && k != "OTEL_EXPORTER_OTLP_PROTOCOL" && k != "OTEL_METRIC_EXPORT_INTERVAL" {
				env = append(env, k+"="+v)
			}
		}
		args := SetFlag(st.args(t, svc), "listen", addr)
		_, shared := FlagValue(args, "redis")
		require.True(t, shared, "compose's %s shares its breakers through Redis (-redis)", svc)
		args = SetFlag(args, "redis", "unix://"+redisSocket)
		args = append(args, "-speed", speed, "-duration", "15m")
		proc := startProcess(t, logDir, svc, env, demoBin, args...)
		replicas = append(replicas, &replica{service: svc, addr: addr, proc: proc})
		for _, port := range st.listenPorts(t, svc) {
			targets[svc+":"+port] = addr
		}
	}
	for _, r := range replicas {
		waitHTTP(ctx, t, r.proc, "http://"+r.addr+"/healthz")
		waitHTTP(ctx, t, r.proc, "http://"+r.addr+"/metrics")
	}
	forced := replicas[len(replicas)-1]
	forceOpen(ctx, t, forced.addr, forcedBreaker)
	t.Logf("%s: breaker %s forced open", forced.service, forcedBreaker)

	// Prometheus 3: prometheus.yml with its targets mapped to the local
	// ports, the alert rules with their hold times divided by the demo's
	// speed, and compose's feature flags.
	for cfgValue, addr := range map[string]string{
		colCfg.Receivers.OTLP.Protocols.GRPC.Endpoint: grpcAddr,
		colCfg.Receivers.OTLP.Protocols.HTTP.Endpoint: httpAddr,
		colCfg.Exporters.Prometheus.Endpoint:          exporterAddr,
	} {
		_, def := EnvDefault(cfgValue)
		port, err := Port(def)
		require.NoError(t, err)
		targets[st.collector+":"+port] = addr
	}
	targets[st.collector+":"+st.collectorTelemetryPort(t)] = "127.0.0.1:" + strconv.Itoa(telemetryPort)
	for _, port := range st.listenPorts(t, st.alertmanager) {
		targets[st.alertmanager+":"+port] = amAddr
	}
	rules := map[string]string{}
	for _, rf := range promCfg.RuleFiles {
		scaled, err := ScaleRules(filepath.Join(filepath.Dir(kit.PrometheusConfig()), rf), factor)
		require.NoError(t, err)
		local := filepath.Join(work, filepath.Base(rf))
		require.NoError(t, os.WriteFile(local, scaled, 0o644))
		rules[rf] = local
	}
	promYAML, err := RewritePromConfig(kit.PrometheusConfig(), targets, rules, liveScrapeInterval)
	require.NoError(t, err)
	promFile := filepath.Join(work, "prometheus.yml")
	require.NoError(t, os.WriteFile(promFile, promYAML, 0o644))
	out, err = exec.Command(promtool3, "check", "config", promFile).CombinedOutput()
	require.NoError(t, err, "promtool check config (live copy):\n%s", out)
	prom := startProcess(t, logDir, "prometheus", nil, prometheus3, append(st.extraFlags(t, st.prometheus,
		"config.file", "storage.tsdb.path", "web.listen-address"),
		"--config.file="+promFile,
		"--storage.tsdb.path="+filepath.Join(work, "data"),
		"--web.listen-address="+promAddr,
		"--storage.tsdb.retention.time=1h",
	)...)
	waitHTTP(ctx, t, prom, "http://"+promAddr+"/-/ready")
	api := promAPI{base: "http://" + promAddr, client: &http.Client{Timeout: 10 * time.Second}}
	upCtx, upCancel := context.WithTimeout(ctx, time.Minute)
	defer upCancel()
	waitTargetsUp(upCtx, t, api, promCfg)
	t.Logf("stack up after %s", time.Since(began).Round(time.Second))

	// What to evaluate, per source label value.
	dash, err := LoadDashboard(kit.Dashboard())
	require.NoError(t, err)
	var rulesExprs []Expr
	for _, rf := range promCfg.RuleFiles {
		f, err := LoadRules(filepath.Join(filepath.Dir(kit.PrometheusConfig()), rf))
		require.NoError(t, err)
		for _, e := range f.Exprs() {
			if _, ok := faultAlerts[e.Alert]; ok {
				data, ok := WithoutThresholds(e.Expr)
				require.True(t, ok, "%s: a fault alert must end with a comparison (each operand of its top-level and)", e.Origin)
				e.Origin += " [data]"
				e.Expr = data
			}
			rulesExprs = append(rulesExprs, e)
		}
	}
	sources := sourceLabels(promCfg)
	require.GreaterOrEqual(t, len(sources), 2, "expected a direct and a collector source")

	evalCtx, evalCancel := context.WithTimeout(ctx, evalBudget)
	defer evalCancel()
	results := newReport(sources)
	var checks []*liveCheck
	var induced []*liveCheck
	for _, src := range sources {
		matcher := `source="` + src + `"`
		vars := resolveVariables(evalCtx, t, api, dash, matcher, func(origin string, n int) { results.note(origin, src, n) })
		for _, e := range append(dash.Exprs(), rulesExprs...) {
			q, err := Interpolate(e.Expr, vars)
			require.NoError(t, err, e.Origin)
			q, err = InjectMatcher(q, matcher)
			require.NoError(t, err, e.Origin)
			c := &liveCheck{origin: e.Origin, source: src, query: q}
			if collectorToo, ok := inducedAlerts[e.Alert]; ok {
				if src == "direct" || collectorToo {
					induced = append(induced, c)
					results.note(e.Origin, src, 0)
				}
				continue
			}
			checks = append(checks, c)
			results.note(e.Origin, src, 0)
		}
	}
	pollChecks(evalCtx, t, api, checks, func(c *liveCheck, n int) { results.note(c.origin, c.source, n) })
	checkRulesHealthy(ctx, t, api)
	for _, c := range checks {
		assert.Positive(t, c.series, "%s returned no data for source=%q within %s\nquery: %s\nlast error: %v",
			c.origin, c.source, evalBudget, c.query, c.lastErr)
	}

	alertCtx, alertCancel := context.WithTimeout(ctx, alertBudget)
	defer alertCancel()
	checkNoCounterResets(ctx, t, api, sources)
	checkReplicasApart(alertCtx, t, api, len(replicas))
	checkExemplars(alertCtx, t, api, traces, sources)
	checkGRPCBreaker(alertCtx, t, api, traces, sources, replicas, func(origin, src string, n int) { results.note(origin, src, n) })
	checkSharedOpening(alertCtx, t, api, replicas, forced, forcedBreaker, sources)
	amAPI := promAPI{base: "http://" + amAddr, client: api.client}
	amCfg, err := LoadAlertmanagerConfig(kit.AlertmanagerConfig())
	require.NoError(t, err)
	checkAlertmanager(alertCtx, t, amAPI, hooks, amCfg, len(replicas))

	// A replica stops: its target goes down. Redis stops: the replica left
	// cannot reach it. Both alerts fire and reach Alertmanager.
	forced.proc.stop(t)
	redisProc.stop(t)
	t.Logf("%s and redis-server stopped", forced.service)
	downCtx, downCancel := context.WithTimeout(ctx, time.Minute)
	defer downCancel()
	pollChecks(downCtx, t, api, induced, func(c *liveCheck, n int) { results.note(c.origin, c.source, n) })
	for _, c := range induced {
		assert.Positive(t, c.series, "%s returned no data for source=%q after %s and redis-server stopped\nquery: %s\nlast error: %v",
			c.origin, c.source, forced.service, c.query, c.lastErr)
	}
	for _, name := range slices.Sorted(maps.Keys(inducedAlerts)) {
		waitAlertInAlertmanager(downCtx, t, amAPI, name)
	}

	t.Log(results.String())
	checkNoDuplicateSamples(ctx, t, api)
	logActiveAlerts(ctx, t, api)
	t.Logf("live run took %s", time.Since(began).Round(time.Second))
}

// replica is one demo process of the live run.
type replica struct {
	service, addr string
	proc          *process
}

// report counts the series each expression returned, per source.
type report struct {
	sources []string
	order   []string
	max     map[string]map[string]int
}

func newReport(sources []string) *report {
	return &report{sources: sources, max: map[string]map[string]int{}}
}

func (r *report) note(origin, source string, n int) {
	if r.max[origin] == nil {
		r.max[origin] = map[string]int{}
		r.order = append(r.order, origin)
	}
	if n > r.max[origin][source] {
		r.max[origin][source] = n
	}
}

func (r *report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "series returned per expression (%s):\n", strings.Join(r.sources, " / "))
	width := 0
	for _, o := range r.order {
		width = max(width, len(o))
	}
	for _, o := range r.order {
		var counts []string
		for _, s := range r.sources {
			if _, ok := r.max[o][s]; !ok {
				counts = append(counts, "   -")
				continue
			}
			counts = append(counts, fmt.Sprintf("%4d", r.max[o][s]))
		}
		fmt.Fprintf(&b, "  %-*s %s\n", width, o, strings.Join(counts, " / "))
	}
	return b.String()
}

// forceOpen forces a breaker of a demo replica open through its admin
// action.
func forceOpen(ctx context.Context, t *testing.T, addr, name string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/breakers/"+name+"/force-open", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "force-open %s on %s", name, addr)
}

// SetFlag returns args with the value of flag name (in any of the forms
// FlagValue reads) replaced, or the flag appended when it is missing.
func SetFlag(args []string, name, value string) []string {
	out := append([]string(nil), args...)
	for i, a := range out {
		t := strings.TrimLeft(a, "-")
		if t == a {
			continue
		}
		dashes := a[:len(a)-len(t)]
		if k, _, ok := strings.Cut(t, "="); ok && k == name {
			out[i] = dashes + name + "=" + value
			return out
		}
		if t == name && i+1 < len(out) {
			out[i+1] = value
			return out
		}
	}
	return append(out, "-"+name, value)
}

// sourceLabels returns the distinct values of the source target label.
func sourceLabels(c *PromConfig) []string {
	seen := map[string]bool{}
	var out []string
	for _, sc := range c.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			if s := st.Labels["source"]; s != "" && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

type liveCheck struct {
	origin, source, query string
	series                int
	lastErr               error
}

// pollChecks evaluates every check once a second until each has returned
// data at least once, or ctx ends. A query Prometheus rejects fails the test
// at once: that is a broken expression, not missing data.
func pollChecks(ctx context.Context, t *testing.T, api promAPI, checks []*liveCheck, note func(*liveCheck, int)) {
	t.Helper()
	for {
		pending := 0
		for _, c := range checks {
			res, err := api.query(ctx, c.query)
			if err != nil {
				var qe *queryError
				if errors.As(err, &qe) {
					require.FailNowf(t, "bad expression", "%s (source=%s): %v\nquery: %s", c.origin, c.source, err, c.query)
				}
				if ctx.Err() != nil {
					return
				}
				c.lastErr = err
				pending++
				continue
			}
			n := len(res)
			note(c, n)
			c.series = max(c.series, n)
			if c.series == 0 {
				pending++
			}
		}
		if pending == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// resolveVariables gives every dashboard variable the value Grafana would
// pick by default for the series of one source, waiting until each variable
// query returns values.
func resolveVariables(ctx context.Context, t *testing.T, api promAPI, d *Dashboard, matcher string, note func(string, int)) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for k, v := range builtinVars {
		vars[k] = v
	}
	for _, v := range d.Templating.List {
		if v.Type == "datasource" {
			vars[v.Name] = "prometheus"
		}
	}
	for _, v := range d.QueryVariables() {
		q, label, err := VariableQuery(v.QueryString())
		require.NoError(t, err, "variable %s", v.Name)
		q, err = Interpolate(q, vars)
		require.NoError(t, err, "variable %s", v.Name)
		q, err = InjectMatcher(q, matcher)
		require.NoError(t, err, "variable %s", v.Name)
		var values []string
		for len(values) == 0 {
			res, err := api.query(ctx, q)
			var qe *queryError
			if errors.As(err, &qe) {
				require.FailNowf(t, "bad variable query", "variable %s: %v\nquery: %s", v.Name, err, q)
			}
			for _, s := range res {
				if label == "" {
					values = append(values, s.Metric["__name__"])
				} else if val := s.Metric[label]; val != "" {
					values = append(values, val)
				}
			}
			if len(values) > 0 {
				break
			}
			select {
			case <-ctx.Done():
				require.FailNowf(t, "variable without values", "variable %s (%s) returned no values\nquery: %s", v.Name, matcher, q)
			case <-time.After(time.Second):
			}
		}
		note("variable "+v.Name, len(values))
		vars[v.Name] = VariableValue(v, values)
		t.Logf("%s: $%s = %s", matcher, v.Name, vars[v.Name])
	}
	return vars
}

// waitTargetsUp waits until Prometheus reports every configured target up.
func waitTargetsUp(ctx context.Context, t *testing.T, api promAPI, c *PromConfig) {
	t.Helper()
	want := 0
	for _, sc := range c.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			want += len(st.Targets)
		}
	}
	var last string
	for {
		var data struct {
			ActiveTargets []struct {
				ScrapePool string            `json:"scrapePool"`
				ScrapeURL  string            `json:"scrapeUrl"`
				Health     string            `json:"health"`
				LastError  string            `json:"lastError"`
				Labels     map[string]string `json:"labels"`
			} `json:"activeTargets"`
		}
		err := api.get(ctx, "/api/v1/targets", nil, &data)
		if err == nil {
			up := 0
			var states []string
			for _, tg := range data.ActiveTargets {
				if tg.Health == "up" {
					up++
				}
				states = append(states, fmt.Sprintf("%s %s %s %s", tg.ScrapePool, tg.ScrapeURL, tg.Health, tg.LastError))
			}
			last = strings.Join(states, "; ")
			if up == want && len(data.ActiveTargets) == want {
				t.Logf("all %d targets up: %s", want, last)
				return
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			require.FailNowf(t, "targets not up", "want %d targets up; last: %s", want, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// checkRulesHealthy waits until Prometheus has evaluated every loaded rule
// and requires each evaluation to have succeeded.
func checkRulesHealthy(ctx context.Context, t *testing.T, api promAPI) {
	t.Helper()
	for {
		var data struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name           string `json:"name"`
					Health         string `json:"health"`
					LastError      string `json:"lastError"`
					LastEvaluation string `json:"lastEvaluation"`
				} `json:"rules"`
			} `json:"groups"`
		}
		require.NoError(t, api.get(ctx, "/api/v1/rules", nil, &data))
		total, evaluated := 0, 0
		for _, g := range data.Groups {
			for _, r := range g.Rules {
				total++
				if r.Health == "err" {
					require.FailNowf(t, "rule error", "rule %s in group %s: %s", r.Name, g.Name, r.LastError)
				}
				if r.Health == "ok" {
					evaluated++
				}
			}
		}
		require.Positive(t, total, "Prometheus loaded no rules")
		if evaluated == total {
			t.Logf("Prometheus evaluates all %d rules without error", total)
			return
		}
		select {
		case <-ctx.Done():
			require.FailNowf(t, "rules not evaluated", "%d of %d rules evaluated", evaluated, total)
		case <-time.After(time.Second):
		}
	}
}

// checkNoDuplicateSamples reads Prometheus' own counters of samples it
// dropped as duplicates or out of order: the direct and the collector copies
// of a series must differ by a label, never collide.
func checkNoDuplicateSamples(ctx context.Context, t *testing.T, api promAPI) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api.base+"/metrics", nil)
	require.NoError(t, err)
	resp, err := api.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var seen int
	for _, line := range strings.Split(string(body), "\n") {
		for _, name := range []string{
			"prometheus_target_scrapes_sample_duplicate_timestamp_total",
			"prometheus_target_scrapes_sample_out_of_order_total",
		} {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				seen++
				assert.Equal(t, "0", strings.TrimSpace(v), "Prometheus dropped samples: %s", line)
			}
		}
	}
	assert.Equal(t, 2, seen, "Prometheus' own duplicate/out-of-order counters not found")
}

// logActiveAlerts shows which alerts the compressed scenario set off.
func logActiveAlerts(ctx context.Context, t *testing.T, api promAPI) {
	var data struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	if err := api.get(ctx, "/api/v1/alerts", nil, &data); err != nil {
		t.Logf("alerts: %v", err)
		return
	}
	count := map[string]int{}
	for _, a := range data.Alerts {
		count[a.Labels["alertname"]+" "+a.State+" job="+a.Labels["job"]]++
	}
	var lines []string
	for k, n := range count {
		lines = append(lines, fmt.Sprintf("%s: %d", k, n))
	}
	sort.Strings(lines)
	t.Logf("active alerts at the end: %s", strings.Join(lines, "; "))
}

// ---- a small Prometheus HTTP API client ----

type promAPI struct {
	base   string
	client *http.Client
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"` // [time, "value"] of a vector
}

// queryError is Prometheus rejecting a query (bad_data, execution).
type queryError struct{ Type, Msg string }

func (e *queryError) Error() string { return e.Type + ": " + e.Msg }

func (a promAPI) get(ctx context.Context, path string, params url.Values, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path+"?"+params.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: HTTP %d: %.200s", path, resp.StatusCode, body)
	}
	if env.Status != "success" {
		if env.ErrorType == "bad_data" || env.ErrorType == "execution" {
			return &queryError{Type: env.ErrorType, Msg: env.Error}
		}
		return fmt.Errorf("%s: %s: %s", path, env.ErrorType, env.Error)
	}
	return json.Unmarshal(env.Data, into)
}

// getRaw reads a JSON API that answers without Prometheus' envelope
// (Alertmanager's API v2).
func (a promAPI) getRaw(ctx context.Context, path string, params url.Values, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path+"?"+params.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %.200s", path, resp.StatusCode, body)
	}
	return json.Unmarshal(body, into)
}

// query runs an instant query and returns its series (a scalar counts as
// one).
func (a promAPI) query(ctx context.Context, q string) ([]sample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := a.get(ctx, "/api/v1/query", url.Values{"query": {q}}, &data); err != nil {
		return nil, err
	}
	switch data.ResultType {
	case "vector", "matrix":
		var s []sample
		err := json.Unmarshal(data.Result, &s)
		return s, err
	case "scalar", "string":
		return []sample{{Metric: map[string]string{}}}, nil
	}
	return nil, fmt.Errorf("unexpected result type %q", data.ResultType)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
