package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// placeholderVars are values for every variable the kit's expressions may
// use; the live run substitutes real ones.
var placeholderVars = map[string]string{
	"job": "demo", "instance": ".*", "breaker": "(database|model_server)", "retry": "model_server", "datasource": "prometheus",
	"__rate_interval": "20s", "__interval": "5s", "__interval_ms": "5000",
	"__range": "5m", "__range_s": "300", "__range_ms": "300000",
}

func loadDashboard(t *testing.T) *Dashboard {
	t.Helper()
	kit, err := FindKit()
	require.NoError(t, err)
	d, err := LoadDashboard(kit.Dashboard())
	require.NoError(t, err)
	return d
}

// dashboardExprs returns every expression of the dashboard: panels,
// annotations and variable queries.
func dashboardExprs(t *testing.T, d *Dashboard) []Expr {
	t.Helper()
	exprs := d.Exprs()
	for _, v := range d.QueryVariables() {
		exprs = append(exprs, Expr{Origin: "variable " + v.Name, Expr: v.QueryString()})
	}
	return exprs
}

func TestDashboardIsProvisionable(t *testing.T) {
	kit, err := FindKit()
	require.NoError(t, err)
	raw, err := os.ReadFile(kit.Dashboard())
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "${DS_", "import-only datasource placeholders break file provisioning")
	d := loadDashboard(t)
	assert.Empty(t, d.Inputs, "__inputs only works for manual import")
	assert.NotEmpty(t, d.UID)
	assert.NotEmpty(t, d.Title)

	vars := map[string]Variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	require.Contains(t, vars, "datasource")
	assert.Equal(t, "datasource", vars["datasource"].Type)
	assert.Equal(t, "prometheus", vars["datasource"].QueryString())
	for _, name := range []string{"job", "instance", "breaker", "retry"} {
		require.Contains(t, vars, name)
		v := vars[name]
		assert.Equal(t, "query", v.Type, name)
		assert.Contains(t, string(v.Datasource), "${datasource}", "variable %s must query the selected datasource", name)
		_, _, err := VariableQuery(v.QueryString())
		assert.NoError(t, err, name)
		// Several services, instances or breakers at once; All is one short
		// regex, not an alternation of every value (about 200 KB at 10,000
		// breakers).
		assert.True(t, v.Multi && v.IncludeAll, "variable %s: multi-value with All", name)
		assert.Equal(t, ".*", v.AllValue, "variable %s: All must be the regex .*", name)
	}
	assert.Contains(t, vars["job"].QueryString(), "circuit_breaker_")
	assert.Contains(t, vars["instance"].QueryString(), `job=~"${job:regex}"`)
	assert.Contains(t, vars["breaker"].QueryString(), "circuit_breaker_name")
	assert.Contains(t, vars["breaker"].QueryString(), `job=~"${job:regex}"`)
	assert.Contains(t, vars["breaker"].QueryString(), `instance=~"${instance:regex}"`)
	assert.Contains(t, vars["retry"].QueryString(), "retry_name")
	assert.Contains(t, vars["retry"].QueryString(), `job=~"${job:regex}"`)
	assert.Contains(t, vars["retry"].QueryString(), `instance=~"${instance:regex}"`)

	ids := map[int]bool{}
	for _, p := range d.AllPanels() {
		assert.False(t, ids[p.ID], "duplicate panel id %d", p.ID)
		ids[p.ID] = true
		if len(p.Targets) == 0 {
			continue
		}
		assert.Contains(t, string(p.Datasource), "${datasource}", "panel %q", p.Title)
		for _, tg := range p.Targets {
			if len(tg.Datasource) > 0 {
				assert.Contains(t, string(tg.Datasource), "${datasource}", "panel %q query %s", p.Title, tg.RefID)
			}
		}
	}
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			assert.Contains(t, string(a.Datasource), "${datasource}", "annotation %q", a.Name)
		}
	}
}

var (
	variableUse = regexp.MustCompile(`(\w+)\s*(=~|!~|=|!=)\s*"([^"]*\$[^"]*)"`)
	byClause    = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
)

// Every use of a variable is escaped for the regex it goes into
// (${name:regex} with =~), and panels keep services apart: an aggregation
// that keeps the breaker's or the retry policy's name also keeps the job.
func TestDashboardVariablesEscapedAndJobsApart(t *testing.T) {
	d := loadDashboard(t)
	for _, e := range dashboardExprs(t, d) {
		for _, m := range variableUse.FindAllStringSubmatch(e.Expr, -1) {
			label, op, value := m[1], m[2], m[3]
			assert.Equal(t, "=~", op, "%s: %s matched with %s", e.Origin, label, op)
			want := map[string]string{"job": "${job:regex}", "instance": "${instance:regex}", "circuit_breaker_name": "${breaker:regex}", "retry_name": "${retry:regex}"}[label]
			assert.Equal(t, want, value, "%s: %s must be matched with its variable in the regex format", e.Origin, label)
		}
		assert.NotRegexp(t, `\$(job|instance|breaker|retry)\b`, e.Expr, "%s: a bare variable is not escaped", e.Origin)
		for _, m := range byClause.FindAllStringSubmatch(e.Expr, -1) {
			labels := strings.Split(strings.ReplaceAll(m[1], " ", ""), ",")
			if slices.Contains(labels, "circuit_breaker_name") || slices.Contains(labels, "retry_name") {
				assert.Contains(t, labels, "job", "%s: aggregating by breaker or policy name alone merges same-named ones of different services", e.Origin)
			}
		}
		if strings.Contains(e.Expr, "retry_") && !strings.HasPrefix(e.Origin, "variable ") {
			assert.Contains(t, e.Expr, `retry_name=~"${retry:regex}"`, "%s: retry panels follow the retry variable", e.Origin)
		}
	}
}

// panelsBy returns the panels whose query holds every part.
func panelsBy(d *Dashboard, panelType string, parts ...string) []Panel {
	var out []Panel
	for _, p := range d.AllPanels() {
		if panelType != "" && p.Type != panelType {
			continue
		}
		for _, tg := range p.Targets {
			ok := true
			for _, s := range parts {
				ok = ok && strings.Contains(tg.Expr, s)
			}
			if ok {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// TestDashboardCoversTheIssue checks that the panels the kit promises are
// there, by what they query.
func TestDashboardCoversTheIssue(t *testing.T) {
	d := loadDashboard(t)
	has := func(panelType string, parts ...string) bool { return len(panelsBy(d, panelType, parts...)) > 0 }
	assert.True(t, has("state-timeline", "circuit_breaker_state", "circuit_breaker_shadow_mode", "by (job, circuit_breaker_name)"), "state per breaker as a state timeline")
	assert.True(t, has("", `circuit_breaker_state{`, `circuit_breaker_state="open"`, "unless on (job, instance, circuit_breaker_name) circuit_breaker_shadow_mode == 1"), "open breakers that reject: shadow mode left out")
	assert.True(t, has("", "circuit_breaker_shadow_mode == 1", "and on"), "open in shadow mode")
	assert.True(t, has("", "circuit_breaker_forced"), "forced breakers")
	assert.True(t, has("", "circuit_breaker_calls_total", "circuit_breaker_outcome)", "$__rate_interval"), "call rate by outcome")
	assert.True(t, has("", `circuit_breaker_outcome="failure"`, "/"), "failure ratio")
	assert.True(t, has("", `circuit_breaker_outcome="rejected"`), "rejection ratio")
	for _, outcome := range []string{"success", "failure"} {
		ps := panelsBy(d, "timeseries", "histogram_quantile(0.95", "circuit_breaker_call_duration_seconds_bucket", `circuit_breaker_outcome="`+outcome+`"`)
		require.NotEmpty(t, ps, "latency of %s calls on its own", outcome)
		for _, tg := range ps[0].Targets {
			assert.True(t, tg.Exemplar, "panel %q query %s: exemplars on", ps[0].Title, tg.RefID)
		}
	}
	assert.True(t, has("", "circuit_breaker_transitions_total", "circuit_breaker_reason"), "transitions by reason")
	assert.True(t, has("", "circuit_breaker_events_dropped_total", "$__rate_interval"), "dropped events over time")
	assert.True(t, has("stat", "circuit_breaker_events_dropped_total", "$__range"), "dropped events in range")
	trips := panelsBy(d, "stat", "circuit_breaker_transitions_total", "$__range")
	require.Len(t, trips, 1, "Trips in range")
	assert.True(t, strings.HasPrefix(trips[0].Targets[0].Expr, "round("), "Trips in range is a whole number")
	// Trip policies: the windows' ratios and the slow-call counter.
	assert.True(t, has("timeseries", "circuit_breaker_failure_ratio", "circuit_breaker_name"), "failure ratio of the FailureRate window")
	assert.True(t, has("timeseries", "circuit_breaker_slow_call_ratio", "circuit_breaker_name"), "slow-call ratio of the SlowCalls window")
	assert.True(t, has("", "rate(circuit_breaker_slow_calls_total", "$__rate_interval", "circuit_breaker_name)"), "slow call rate by breaker")

	// Retries: rate by outcome and the share retried, amplification, stops
	// by reason, the budget, the waits and retries per retried call.
	assert.True(t, has("timeseries", "retry_calls_total", "retry_outcome)", "$__rate_interval"), "retried calls by outcome")
	assert.True(t, has("timeseries", `retry_calls_total{`, `retry_outcome=~".*_after_retry"`, "/"), "share of calls retried")
	assert.True(t, has("timeseries", "rate(retry_attempts_total", "/", "rate(retry_calls_total"), "amplification: attempts per call")
	assert.True(t, has("timeseries", "retry_stops_total", "retry_reason)"), "why retrying stopped")
	assert.True(t, has("timeseries", "min by (job, retry_name) (retry_budget_available"), "the budget of the emptiest instance")
	assert.True(t, has("timeseries", "histogram_quantile(0.95", "retry_call_delay_seconds_bucket"), "time waited per retried call")
	assert.True(t, has("timeseries", "histogram_quantile(0.95", "retry_call_retries_bucket"), "retries per retried call")
	var retryRow bool
	for _, p := range d.AllPanels() {
		retryRow = retryRow || (p.Type == "row" && p.Title == "Retries" && p.Repeat == "")
	}
	assert.True(t, retryRow, "a Retries row")

	// Shared state: openings by origin (a peer series born within the range
	// counts whole: it appears at 1), and the sync health of each replica.
	origins := panelsBy(d, "bargauge", "circuit_breaker_transitions_total", `circuit_breaker_to_state="open"`, "circuit_breaker_origin)")
	require.Len(t, origins, 1, "openings by origin")
	assert.Contains(t, origins[0].Targets[0].Expr, "offset $__range)", "series born within the range count whole")
	assert.True(t, has("state-timeline", "circuit_breaker_sync_connected", "by (job, instance)"), "sync connected per instance")
	assert.True(t, has("timeseries", "rate(circuit_breaker_sync_messages_total", "circuit_breaker_sync_result)"), "sync messages by result")
	assert.True(t, has("timeseries", "histogram_quantile(0.99", "circuit_breaker_sync_propagation_delay_seconds_bucket"), "propagation delay")
	assert.True(t, has("timeseries", "rate(circuit_breaker_sync_errors_total", "by (job, instance)"), "sync errors per instance")
	assert.True(t, has("timeseries", "circuit_breaker_sync_pending_proposals", "by (job, instance)"), "pending proposals per instance")
	var sharedRow bool
	for _, p := range d.AllPanels() {
		sharedRow = sharedRow || (p.Type == "row" && p.Title == "Shared state" && p.Repeat == "")
	}
	assert.True(t, sharedRow, "a Shared state row")

	// The open-now table: instances open of total, for how long, why, share
	// of time open, in one table.
	tables := panelsBy(d, "table", "circuit_breaker_last_state_change_time_seconds")
	require.Len(t, tables, 1, "the open-now table")
	var table strings.Builder
	for _, tg := range tables[0].Targets {
		assert.True(t, tg.Instant, "table query %s is instant", tg.RefID)
		table.WriteString(tg.Expr + "\n")
	}
	for _, part := range []string{"time() - circuit_breaker_last_state_change_time_seconds", "circuit_breaker_reason", "avg_over_time(circuit_breaker_state", "count by (job, circuit_breaker_name)", "circuit_breaker_forced", "circuit_breaker_shadow_mode"} {
		assert.Contains(t, table.String(), part)
	}
	require.NotEmpty(t, tables[0].Transformations)
	assert.Equal(t, "merge", tables[0].Transformations[0].ID, "the table's queries merged into one row per breaker")

	// A repeated row per breaker, with its state on every instance.
	var repeated bool
	for _, p := range d.AllPanels() {
		if p.Type == "row" && p.Repeat == "breaker" {
			repeated = true
		}
	}
	assert.True(t, repeated, "a row repeated per breaker")
	assert.True(t, has("state-timeline", "circuit_breaker_state", "by (job, instance)"), "state per instance")

	// Transitions to open as annotations rather than overlapping bars.
	var annotation bool
	for _, a := range d.Annotations.List {
		if strings.Contains(a.Expr, "circuit_breaker_transitions_total") && strings.Contains(a.Expr, `circuit_breaker_to_state="open"`) && a.Enable {
			annotation = true
		}
	}
	assert.True(t, annotation, "transitions to open as annotations")
	assert.Empty(t, panelsBy(d, "timeseries", "increase(circuit_breaker_transitions_total"), "no transition bars over overlapping windows")
}

// A stat panel draws a sparkline only from a range query.
func TestDashboardSparklinesHaveRangeQueries(t *testing.T) {
	d := loadDashboard(t)
	for _, p := range d.AllPanels() {
		if p.Type != "stat" {
			continue
		}
		var opts struct {
			GraphMode string `json:"graphMode"`
		}
		require.NoError(t, json.Unmarshal(p.Options, &opts), p.Title)
		for _, tg := range p.Targets {
			if opts.GraphMode == "area" {
				assert.True(t, tg.Range && !tg.Instant, "stat %q draws a sparkline, from an instant query", p.Title)
			} else {
				assert.Equal(t, "none", opts.GraphMode, "stat %q", p.Title)
			}
		}
	}
}

// Outcomes have fixed colours wherever calls are drawn by outcome.
func TestDashboardOutcomeColours(t *testing.T) {
	d := loadDashboard(t)
	ps := panelsBy(d, "timeseries", "circuit_breaker_calls_total", "circuit_breaker_outcome)")
	require.NotEmpty(t, ps)
	want := map[string]string{"success": "green", "failure": "orange", "rejected": "red"}
	for _, p := range ps {
		var fc struct {
			Overrides []struct {
				Matcher struct {
					ID      string `json:"id"`
					Options string `json:"options"`
				} `json:"matcher"`
				Properties []struct {
					ID    string `json:"id"`
					Value struct {
						FixedColor string `json:"fixedColor"`
					} `json:"value"`
				} `json:"properties"`
			} `json:"overrides"`
		}
		require.NoError(t, json.Unmarshal(p.FieldConfig, &fc))
		got := map[string]string{}
		for _, o := range fc.Overrides {
			for outcome := range want {
				if o.Matcher.ID == "byRegexp" && strings.HasSuffix(o.Matcher.Options, " "+outcome+"$") {
					for _, pr := range o.Properties {
						if pr.ID == "color" {
							got[outcome] = pr.Value.FixedColor
						}
					}
				}
			}
		}
		assert.Equal(t, want, got, "panel %q", p.Title)
	}
}

func TestKitExpressionsAreWellFormed(t *testing.T) {
	kit, err := FindKit()
	require.NoError(t, err)
	d := loadDashboard(t)
	rules, err := LoadRules(kit.Alerts())
	require.NoError(t, err)
	exprs := append(d.Exprs(), rules.Exprs()...)
	for _, v := range d.QueryVariables() {
		q, _, err := VariableQuery(v.QueryString())
		require.NoError(t, err)
		exprs = append(exprs, Expr{Origin: "variable " + v.Name, Expr: q})
	}
	require.NotEmpty(t, exprs)
	for _, e := range exprs {
		s, err := Interpolate(e.Expr, placeholderVars)
		require.NoError(t, err, e.Origin)
		assert.NotContains(t, s, "$", e.Origin)
		_, err = InjectMatcher(s, `source="direct"`)
		assert.NoError(t, err, e.Origin)
	}
}

func TestAlertRulesAreDocumented(t *testing.T) {
	kit, err := FindKit()
	require.NoError(t, err)
	rules, err := LoadRules(kit.Alerts())
	require.NoError(t, err)
	runbook, err := os.ReadFile(kit.Runbook())
	require.NoError(t, err)
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^## (\S+)$`).FindAllStringSubmatch(string(runbook), -1) {
		anchors[strings.ToLower(m[1])] = true
	}
	byName := map[string][]Rule{}
	for _, r := range rules.Rules() {
		if r.Alert == "" {
			continue
		}
		byName[r.Alert] = append(byName[r.Alert], r)
		for _, a := range []string{"summary", "description", "runbook_url", "dashboard_url"} {
			assert.NotEmpty(t, r.Annotations[a], "alert %s: annotation %s", r.Alert, a)
		}
		assert.NotContains(t, r.Annotations, "runbook", "alert %s: the runbook text lives in docs/runbook.md", r.Alert)
		const runbookURL = "https://github.com/fusebox-go/fusebox/blob/main/docs/runbook.md#"
		anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbookURL)
		if assert.True(t, ok, "alert %s: runbook_url %q", r.Alert, r.Annotations["runbook_url"]) {
			assert.Equal(t, strings.ToLower(r.Alert), anchor, "alert %s: runbook_url anchor", r.Alert)
			assert.True(t, anchors[anchor], "alert %s: docs/runbook.md has no section %q", r.Alert, r.Alert)
		}
		assert.Contains(t, r.Annotations["dashboard_url"], "/d/fusebox-breakers/", "alert %s: dashboard_url", r.Alert)
		assert.NotEmpty(t, r.Labels["severity"], "alert %s: severity label", r.Alert)
		assert.NotContains(t, r.Expr, "$", "alert %s: rule expressions take no Grafana variables", r.Alert)
		// One alert per service (and breaker), never per instance.
		outer := regexp.MustCompile(`^\s*(?:\(\s*)?(?:count|sum)\s+by\s*\(([^)]*)\)`).FindStringSubmatch(r.Expr)
		if assert.NotNil(t, outer, "alert %s: aggregate the alert by service", r.Alert) {
			labels := strings.Split(strings.ReplaceAll(outer[1], " ", ""), ",")
			assert.Contains(t, labels, "job", "alert %s", r.Alert)
			assert.NotContains(t, labels, "instance", "alert %s: one alert per instance", r.Alert)
			if strings.Contains(r.Expr, "circuit_breaker_name") && r.Alert != "CircuitBreakerTargetDown" {
				assert.Contains(t, labels, "circuit_breaker_name", "alert %s", r.Alert)
			}
			if strings.Contains(r.Expr, "retry_") {
				assert.Contains(t, labels, "retry_name", "alert %s: one alert per service and retry policy", r.Alert)
			}
		}
		assert.Regexp(t, `count\((count by \(instance\)|up\{)`, r.Annotations["description"], "alert %s: the description counts the instances", r.Alert)
	}
	for name := range byName {
		assert.True(t, anchors[strings.ToLower(name)], "docs/runbook.md has no section for %s", name)
	}
	for _, name := range []string{"CircuitBreakerOpen", "CircuitBreakerFlapping", "CircuitBreakerHighRejectionRatio", "CircuitBreakerSlowCallsHigh", "CircuitBreakerEventsDropped", "CircuitBreakerTargetDown", "CircuitBreakerSyncDisconnected", "RetryBudgetExhausted", "RetryAmplificationHigh"} {
		require.Contains(t, byName, name)
	}
	open := byName["CircuitBreakerOpen"][0]
	forDur, err := time.ParseDuration(open.For)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, forDur, 5*time.Minute)
	assert.Regexp(t, `unless on \(job, instance, circuit_breaker_name\)\s+circuit_breaker_shadow_mode == 1`, open.Expr, "shadow-mode breakers reject nothing")
	flapping := byName["CircuitBreakerFlapping"][0]
	assert.Contains(t, flapping.Expr, "[15m]")
	assert.Contains(t, flapping.Expr, "floor(", "whole trips")
	assert.NotEmpty(t, flapping.KeepFiringFor, "flapping keeps firing while its trips slide out of the window")
	tiers := map[string]bool{}
	for _, r := range byName["CircuitBreakerHighRejectionRatio"] {
		tiers[r.Labels["severity"]] = true
		assert.Contains(t, r.Expr, `circuit_breaker_outcome="rejected"`)
	}
	assert.Equal(t, map[string]bool{"warning": true, "critical": true}, tiers, "a warning and a critical tier")
	// Ratio alerts need traffic.
	for _, name := range []string{"CircuitBreakerHighRejectionRatio", "CircuitBreakerSlowCallsHigh"} {
		for _, r := range byName[name] {
			assert.Regexp(t, `(?s)\band\s+sum by \(job, circuit_breaker_name\) \(rate\(circuit_breaker_calls_total[^)]*\[5m\]\)\) >= 0\.1\s*$`, r.Expr, "alert %s: a minimum call rate", name)
		}
	}
	for _, name := range []string{"RetryBudgetExhausted", "RetryAmplificationHigh"} {
		r := byName[name][0]
		assert.Regexp(t, `(?s)\band\s+sum by \(job, retry_name\) \(rate\(retry_calls_total\[5m\]\)\) >= 0\.1\s*$`, r.Expr, "alert %s: a minimum call rate", name)
		assert.NotEmpty(t, r.For, "alert %s: a spell must last before it alerts", name)
		assert.Contains(t, r.Annotations["dashboard_url"], "var-retry=", "alert %s: the dashboard filtered on the policy", name)
	}
	assert.Contains(t, byName["RetryBudgetExhausted"][0].Expr, `retry_stops_total{retry_reason="budget"}`)
	assert.Contains(t, byName["RetryAmplificationHigh"][0].Expr, "retry_attempts_total")
	slow := byName["CircuitBreakerSlowCallsHigh"][0]
	assert.Contains(t, slow.Expr, "circuit_breaker_slow_calls_total")
	assert.NotEmpty(t, slow.For, "a slow spell must last before it alerts")
	assert.Contains(t, byName["CircuitBreakerEventsDropped"][0].Expr, "circuit_breaker_events_dropped_total")
	assert.Contains(t, byName["CircuitBreakerTargetDown"][0].Expr, "up == 0")
	// A replica cut off from the shared state for over a minute.
	sync := byName["CircuitBreakerSyncDisconnected"][0]
	assert.Contains(t, sync.Expr, "circuit_breaker_sync_connected == 0")
	forDur, err = time.ParseDuration(sync.For)
	require.NoError(t, err)
	assert.Equal(t, time.Minute, forDur, "disconnected for over a minute")
	// Openings a peer's decision made count as openings of that instance:
	// counting only local trips would miss a dependency flapping for a
	// fleet whose replicas take turns tripping.
	assert.NotContains(t, flapping.Expr, "circuit_breaker_origin", "the flapping alert counts every origin")
}

// The Alertmanager config groups by service and breaker, and inhibits the
// open alert under the rejection alert, and the warning tier under the
// critical one.
func TestAlertmanagerConfig(t *testing.T) {
	kit, err := FindKit()
	require.NoError(t, err)
	cfg, err := LoadAlertmanagerConfig(kit.AlertmanagerConfig())
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"alertname", "job", "circuit_breaker_name", "retry_name"}, cfg.Route.GroupBy)
	type rule struct{ source, target string }
	got := map[rule][]string{}
	for _, r := range cfg.InhibitRules {
		got[rule{strings.Join(r.SourceMatchers, ","), strings.Join(r.TargetMatchers, ",")}] = r.Equal
	}
	assert.Equal(t, map[rule][]string{
		{`alertname="CircuitBreakerHighRejectionRatio"`, `alertname="CircuitBreakerOpen"`}:                                                      {"job", "circuit_breaker_name"},
		{`alertname="CircuitBreakerHighRejectionRatio",severity="critical"`, `alertname="CircuitBreakerHighRejectionRatio",severity="warning"`}: {"job", "circuit_breaker_name"},
	}, got)
	amtool := os.Getenv("FUSEBOX_AMTOOL")
	if amtool == "" {
		if amtool, err = exec.LookPath("amtool"); err != nil {
			t.Skip("amtool not installed (scripts/ensure-alertmanager.sh installs it)")
		}
	}
	out, err := exec.Command(amtool, "check-config", kit.AlertmanagerConfig()).CombinedOutput()
	require.NoError(t, err, "amtool check-config:\n%s", out)
}

// The Prometheus 3 that make e2e builds is the release docker-compose.yml
// runs: image v3.MINOR.PATCH is Go module v0.3MINOR.PATCH.
func TestPrometheus3PinMatchesCompose(t *testing.T) {
	s := loadStack(t)
	img := s.compose.Services[s.prometheus].Image
	m := regexp.MustCompile(`:v3\.(\d+)\.(\d+)$`).FindStringSubmatch(img)
	require.NotNil(t, m, "docker-compose.yml should pin a Prometheus 3 release: %s", img)
	minor, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	want := fmt.Sprintf("v0.%d.%s", 300+minor, m[2])
	gomod, err := os.ReadFile(filepath.Join(s.kit.Prometheus3Module(), "go.mod"))
	require.NoError(t, err)
	got := regexp.MustCompile(`(?m)^\s*github\.com/prometheus/prometheus (v\S+)`).FindSubmatch(gomod)
	require.NotNil(t, got, "e2e/prometheus3/go.mod does not require github.com/prometheus/prometheus")
	assert.Equal(t, want, string(got[1]), "e2e/prometheus3/go.mod should require the module of %s", img)
	tools := regexp.MustCompile(`(?m)^\s*(?:tool\s+)?(github\.com/prometheus/prometheus/cmd/\w+)\s*$`).FindAllSubmatch(gomod, -1)
	var names []string
	for _, tl := range tools {
		names = append(names, string(tl[1]))
	}
	assert.ElementsMatch(t, []string{"github.com/prometheus/prometheus/cmd/prometheus", "github.com/prometheus/prometheus/cmd/promtool"}, names, "the module's tools")
}

// TestAlertRulesHaveUnitTests checks that alerts_test.yml covers every alert
// both firing and not firing; TestPromtool runs it.
func TestAlertRulesHaveUnitTests(t *testing.T) {
	kit, err := FindKit()
	require.NoError(t, err)
	rules, err := LoadRules(kit.Alerts())
	require.NoError(t, err)
	var ut struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	require.NoError(t, readYAML(kit.Path("examples", "prometheus", "alerts_test.yml"), &ut))
	assert.Contains(t, ut.RuleFiles, "alerts.yml")
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range ut.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	for _, r := range rules.Rules() {
		if r.Alert == "" {
			continue
		}
		assert.True(t, firing[r.Alert], "alerts_test.yml has no case where %s fires", r.Alert)
		assert.True(t, quiet[r.Alert], "alerts_test.yml has no case where %s stays quiet", r.Alert)
	}
}

// TestPromtool runs every promtool installed, Prometheus 2 (Debian's) and
// 3 (make build-prometheus3), on the shipped files; the live run requires
// both.
func TestPromtool(t *testing.T) {
	kit, err := FindKit()
	require.NoError(t, err)
	var tools []string
	if p := os.Getenv("FUSEBOX_PROMTOOL"); p != "" {
		tools = append(tools, p)
	} else if p, err := exec.LookPath("promtool"); err == nil {
		tools = append(tools, p)
	}
	p3 := filepath.Join(envOr("FUSEBOX_PROMETHEUS3_DIR", kit.Path("bin", "prometheus3")), "promtool")
	if _, err := os.Stat(p3); err == nil {
		tools = append(tools, p3)
	}
	if len(tools) == 0 {
		t.Skip("no promtool installed (scripts/ensure-prometheus.sh, make build-prometheus3)")
	}
	for _, tool := range tools {
		runPromtool(t, tool, kit)
	}
}

func runPromtool(t *testing.T, promtool string, kit Kit) {
	t.Helper()
	dir := kit.Path("examples", "prometheus")
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s %s (in %s):\n%s", promtool, strings.Join(args, " "), filepath.Base(dir), out)
		t.Logf("%s %s: %s", promtoolVersion(promtool), strings.Join(args, " "), lastLine(out))
	}
}

// promtoolVersion names a promtool by its version.
func promtoolVersion(promtool string) string {
	out, _ := exec.Command(promtool, "--version").CombinedOutput()
	if m := regexp.MustCompile(`version (\S+)`).FindSubmatch(out); m != nil {
		return "promtool " + string(m[1])
	}
	return promtool
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

var (
	inBraces   = regexp.MustCompile(`\{[^{}]*\}|\[[^\[\]]*\]`)
	counterRef = regexp.MustCompile(`\b([a-z_]+_total)\b`)
	legendVar  = regexp.MustCompile(`\{\{[^}]*\}\}`)
)

// panelUnit is the unit a time series panel draws the series named name
// in: the last override whose regex matches the name, or the default.
func panelUnit(t *testing.T, p Panel, name string) string {
	t.Helper()
	var fc struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
		Overrides []struct {
			Matcher struct {
				ID      string `json:"id"`
				Options string `json:"options"`
			} `json:"matcher"`
			Properties []struct {
				ID    string          `json:"id"`
				Value json.RawMessage `json:"value"`
			} `json:"properties"`
		} `json:"overrides"`
	}
	require.NoError(t, json.Unmarshal(p.FieldConfig, &fc), p.Title)
	unit := fc.Defaults.Unit
	for _, o := range fc.Overrides {
		if o.Matcher.ID != "byRegexp" || !regexp.MustCompile("^(?:"+o.Matcher.Options+")$").MatchString(name) {
			continue
		}
		for _, pr := range o.Properties {
			if pr.ID == "unit" {
				require.NoError(t, json.Unmarshal(pr.Value, &unit), p.Title)
			}
		}
	}
	return unit
}

// Every time series is drawn in the unit of what its query computes: a
// rate of a counter in a per-second unit, a share of calls as a
// percentage, whichever other series share the panel.
func TestDashboardUnits(t *testing.T) {
	d := loadDashboard(t)
	perSecond := []string{"reqps", "ops", "cps", "eps", "mps"}
	for _, p := range d.AllPanels() {
		if p.Type != "timeseries" {
			continue
		}
		for _, tg := range p.Targets {
			if strings.Contains(tg.Expr, "histogram_quantile") || !strings.Contains(tg.Expr, "rate(") {
				continue
			}
			name := legendVar.ReplaceAllString(tg.LegendFormat, "x")
			unit := panelUnit(t, p, name)
			bare := inBraces.ReplaceAllString(tg.Expr, "")
			num, den, ratio := strings.Cut(bare, "/")
			if !ratio {
				assert.Contains(t, perSecond, unit, "panel %q query %s (%s) is a rate per second", p.Title, tg.RefID, name)
				continue
			}
			n, dn := counterRef.FindStringSubmatch(num), counterRef.FindStringSubmatch(den)
			require.NotNil(t, n, "panel %q query %s", p.Title, tg.RefID)
			require.NotNil(t, dn, "panel %q query %s", p.Title, tg.RefID)
			if strings.HasSuffix(n[1], "calls_total") && strings.HasSuffix(dn[1], "calls_total") {
				assert.Equal(t, "percentunit", unit, "panel %q query %s (%s) is a share of calls", p.Title, tg.RefID, name)
			}
		}
	}
}

// The "Breaker opened" annotation marks every opening, the first of a
// series that is born when it happens too (a ForceOpen, a reopening for
// half_open_timeout, a peer's reopening): evaluated with promtool on a
// series born at 1 and on one created at 0 that later counts one.
func TestAnnotationMarksFirstOpening(t *testing.T) {
	tool, err := exec.LookPath("promtool")
	if p := os.Getenv("FUSEBOX_PROMTOOL"); p != "" {
		tool, err = p, nil
	}
	if err != nil {
		t.Skip("no promtool installed (scripts/ensure-prometheus.sh)")
	}
	d := loadDashboard(t)
	var expr string
	for _, a := range d.Annotations.List {
		if a.Name == "Breaker opened" {
			expr = a.Expr
		}
	}
	require.NotEmpty(t, expr)
	vars := maps.Clone(placeholderVars)
	vars["job"], vars["breaker"], vars["__interval"] = ".*", ".*", "30s"
	q, err := Interpolate(expr, vars)
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "empty.yml"), []byte("groups: []\n"), 0o644))
	quoted, err := json.Marshal(q)
	require.NoError(t, err)
	test := `rule_files: [empty.yml]
evaluation_interval: 30s
tests:
  - interval: 30s
    input_series:
      - series: 'circuit_breaker_transitions_total{job="app",instance="a",circuit_breaker_name="db",circuit_breaker_from_state="closed",circuit_breaker_to_state="open",circuit_breaker_reason="force_open",circuit_breaker_origin="local"}'
        values: '_ _ _ 1 1 1'
      - series: 'circuit_breaker_transitions_total{job="app",instance="a",circuit_breaker_name="db",circuit_breaker_from_state="closed",circuit_breaker_to_state="open",circuit_breaker_reason="failure_threshold",circuit_breaker_origin="local"}'
        values: '0 0 0 0 1 1'
    promql_expr_test:
      - expr: ` + string(quoted) + `
        eval_time: 1m30s
        exp_samples:
          - labels: '{job="app",instance="a",circuit_breaker_name="db",circuit_breaker_from_state="closed",circuit_breaker_reason="force_open"}'
            value: 1
      - expr: ` + string(quoted) + `
        eval_time: 2m
        exp_samples:
          - labels: '{job="app",instance="a",circuit_breaker_name="db",circuit_breaker_from_state="closed",circuit_breaker_reason="failure_threshold"}'
            value: 1
      - expr: ` + string(quoted) + `
        eval_time: 2m30s
        exp_samples: []
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "test.yml"), []byte(test), 0o644))
	cmd := exec.Command(tool, "test", "rules", "test.yml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	assert.NoError(t, err, "%s", out)
}
