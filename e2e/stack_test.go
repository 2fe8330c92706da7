package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
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
	liveBudget = 4*time.Minute + 30*time.Second
	// Time given to every expression to return data once Prometheus scrapes.
	evalBudget = 3 * time.Minute
)

// TestStack runs the demo, the collector (built from examples/otel-collector
// with its config.yaml) and a real Prometheus (with examples/prometheus,
// targets pointed at loopback ports) and requires every PromQL expression in
// the dashboard and the alert rules to return data for the series scraped
// from the demo and for those that came through the collector.
func TestStack(t *testing.T) {
	if os.Getenv("FUSEBOX_E2E") != "1" {
		t.Skip("live end-to-end test: run with FUSEBOX_E2E=1 (make e2e)")
	}
	kit, err := FindKit()
	require.NoError(t, err)
	prometheusBin := lookTool(t, "FUSEBOX_PROMETHEUS", "prometheus")
	promtool := lookTool(t, "FUSEBOX_PROMTOOL", "promtool")
	demoBin := buildIfMissing(t, envOr("FUSEBOX_DEMO_BIN", kit.Path("bin", "demo")), kit.Path("examples", "demo"), ".")
	collectorBin := buildIfMissing(t, envOr("FUSEBOX_COLLECTOR_BIN", kit.Path("bin", "otelcol-fusebox")),
		kit.Path("examples", "otel-collector"), ".")
	speed := envOr("FUSEBOX_E2E_SPEED", "20")

	// The budget starts once the binaries exist.
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), liveBudget)
	defer cancel()

	// The shipped files as they are.
	runPromtool(t, promtool, kit)
	out, err := exec.Command(collectorBin, "validate", "--config="+kit.CollectorConfig()).CombinedOutput()
	require.NoError(t, err, "collector validate:\n%s", out)
	t.Log("otelcol validate config.yaml: ok")

	st := loadStack(t)
	demoSvc, demoEnv := otlpService(t, st)
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
	p := freePorts(t, 6)
	local := func(i int) string { return "127.0.0.1:" + strconv.Itoa(p[i]) }
	demoAddr, grpcAddr, httpAddr, exporterAddr, telemetryPort, promAddr :=
		local(0), local(1), local(2), local(3), p[4], local(5)

	// Collector: the real config, listen addresses moved to loopback ports.
	collectorEnv := []string{}
	for cfgValue, addr := range map[string]string{
		colCfg.Receivers.OTLP.Protocols.GRPC.Endpoint: grpcAddr,
		colCfg.Receivers.OTLP.Protocols.HTTP.Endpoint: httpAddr,
		colCfg.Exporters.Prometheus.Endpoint:          exporterAddr,
	} {
		name, _ := EnvDefault(cfgValue)
		require.NotEmpty(t, name, "collector endpoint %q must be overridable with ${env:NAME:-default}", cfgValue)
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

	// Demo: compose's OTEL_* settings, pointed at the local collector, with a
	// short export interval and the scenario compressed.
	env := []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + httpAddr,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_METRIC_EXPORT_INTERVAL=1000",
	}
	for k, v := range demoEnv {
		if strings.HasPrefix(k, "OTEL_") && k != "OTEL_EXPORTER_OTLP_ENDPOINT" && k != "OTEL_EXPORTER_OTLP_PROTOCOL" && k != "OTEL_METRIC_EXPORT_INTERVAL" {
			env = append(env, k+"="+v)
		}
	}
	demo := startProcess(t, logDir, "demo", env, demoBin,
		"-listen", demoAddr, "-speed", speed, "-duration", "10m", "-log-format", "json")
	waitHTTP(ctx, t, demo, "http://"+demoAddr+"/healthz")
	waitHTTP(ctx, t, demo, "http://"+demoAddr+"/metrics")

	// Prometheus: prometheus.yml with its targets mapped to the local ports.
	targets := map[string]string{}
	for _, port := range st.listenPorts(t, demoSvc) {
		targets[demoSvc+":"+port] = demoAddr
	}
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
	promYAML, err := RewritePromConfig(kit.PrometheusConfig(), targets, liveScrapeInterval)
	require.NoError(t, err)
	promFile := filepath.Join(work, "prometheus.yml")
	require.NoError(t, os.WriteFile(promFile, promYAML, 0o644))
	out, err = exec.Command(promtool, "check", "config", promFile).CombinedOutput()
	require.NoError(t, err, "promtool check config (live copy):\n%s", out)
	prom := startProcess(t, logDir, "prometheus", nil, prometheusBin,
		"--config.file="+promFile,
		"--storage.tsdb.path="+filepath.Join(work, "data"),
		"--web.listen-address="+promAddr,
		"--storage.tsdb.retention.time=1h",
	)
	waitHTTP(ctx, t, prom, "http://"+promAddr+"/-/ready")
	api := promAPI{base: "http://" + promAddr, client: &http.Client{Timeout: 10 * time.Second}}
	upCtx, upCancel := context.WithTimeout(ctx, time.Minute)
	defer upCancel()
	waitTargetsUp(upCtx, t, api, promCfg)
	t.Logf("stack up after %s", time.Since(began).Round(time.Second))

	// What to evaluate, per source label value.
	dash, err := LoadDashboard(kit.Dashboard())
	require.NoError(t, err)
	var rules []Expr
	for _, rf := range promCfg.RuleFiles {
		f, err := LoadRules(filepath.Join(filepath.Dir(kit.PrometheusConfig()), rf))
		require.NoError(t, err)
		rules = append(rules, f.Exprs()...)
	}
	sources := sourceLabels(promCfg)
	require.GreaterOrEqual(t, len(sources), 2, "expected a direct and a collector source")

	evalCtx, evalCancel := context.WithTimeout(ctx, evalBudget)
	defer evalCancel()
	results := map[string]map[string]int{} // origin -> source -> max series
	var order []string
	note := func(origin, source string, n int) {
		if results[origin] == nil {
			results[origin] = map[string]int{}
			order = append(order, origin)
		}
		if n > results[origin][source] {
			results[origin][source] = n
		}
	}
	var checks []*liveCheck
	for _, src := range sources {
		matcher := `source="` + src + `"`
		vars := resolveVariables(evalCtx, t, api, dash, matcher, func(origin string, n int) { note(origin, src, n) })
		for _, e := range append(dash.Exprs(), rules...) {
			q, err := Interpolate(e.Expr, vars)
			require.NoError(t, err, e.Origin)
			q, err = InjectMatcher(q, matcher)
			require.NoError(t, err, e.Origin)
			checks = append(checks, &liveCheck{origin: e.Origin, source: src, query: q})
			note(e.Origin, src, 0)
		}
	}
	pollChecks(evalCtx, t, api, checks, func(c *liveCheck, n int) { note(c.origin, c.source, n) })
	checkRulesHealthy(ctx, t, api)

	// The report: every expression, series returned per source.
	var b strings.Builder
	fmt.Fprintf(&b, "series returned per expression (%s):\n", strings.Join(sources, " / "))
	width := 0
	for _, o := range order {
		width = max(width, len(o))
	}
	for _, o := range order {
		var counts []string
		for _, s := range sources {
			counts = append(counts, fmt.Sprintf("%4d", results[o][s]))
		}
		fmt.Fprintf(&b, "  %-*s %s\n", width, o, strings.Join(counts, " / "))
	}
	t.Log(b.String())
	for _, c := range checks {
		assert.Positive(t, c.series, "%s returned no data for source=%q within %s\nquery: %s\nlast error: %v",
			c.origin, c.source, evalBudget, c.query, c.lastErr)
	}
	checkNoDuplicateSamples(ctx, t, api)
	logActiveAlerts(ctx, t, api)
	t.Logf("live run took %s", time.Since(began).Round(time.Second))
}

// otlpService returns the compose service that exports OTLP (the demo) and
// its environment.
func otlpService(t *testing.T, st stack) (string, map[string]string) {
	t.Helper()
	for name, svc := range st.compose.Services {
		env, err := svc.Env()
		require.NoError(t, err)
		if _, ok := env["OTEL_EXPORTER_OTLP_ENDPOINT"]; ok {
			return name, env
		}
	}
	require.FailNow(t, "no compose service exports OTLP")
	return "", nil
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
