package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// placeholderVars are values for every variable the kit's expressions may
// use; the live run substitutes real ones.
var placeholderVars = map[string]string{
	"job": "demo", "breaker": "(database|model_server)", "datasource": "prometheus",
	"__rate_interval": "20s", "__interval": "5s", "__interval_ms": "5000",
	"__range": "5m", "__range_s": "300", "__range_ms": "300000",
}

func TestDashboardIsProvisionable(t *testing.T) {
	kit, err := FindKit()
	require.NoError(t, err)
	raw, err := os.ReadFile(kit.Dashboard())
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "${DS_", "import-only datasource placeholders break file provisioning")
	d, err := LoadDashboard(kit.Dashboard())
	require.NoError(t, err)
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
	for _, name := range []string{"job", "breaker"} {
		require.Contains(t, vars, name)
		v := vars[name]
		assert.Equal(t, "query", v.Type, name)
		assert.Contains(t, string(v.Datasource), "${datasource}", "variable %s must query the selected datasource", name)
		_, _, err := VariableQuery(v.QueryString())
		assert.NoError(t, err, name)
	}
	assert.Contains(t, vars["job"].QueryString(), "circuit_breaker_")
	assert.Contains(t, vars["breaker"].QueryString(), "circuit_breaker_name")
	assert.Contains(t, vars["breaker"].QueryString(), "$job")

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
}

// TestDashboardCoversTheIssue checks that the panels the kit promises are
// there, by what they query.
func TestDashboardCoversTheIssue(t *testing.T) {
	kit, err := FindKit()
	require.NoError(t, err)
	d, err := LoadDashboard(kit.Dashboard())
	require.NoError(t, err)
	has := func(panelType string, parts ...string) bool {
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
					return true
				}
			}
		}
		return false
	}
	assert.True(t, has("state-timeline", "circuit_breaker_state", "circuit_breaker_name"), "state per breaker as a state timeline")
	assert.True(t, has("", "circuit_breaker_state", `circuit_breaker_state="open"`), "number of open breakers")
	assert.True(t, has("", "circuit_breaker_calls_total", "circuit_breaker_outcome)", "$__rate_interval"), "call rate by outcome")
	assert.True(t, has("", `circuit_breaker_outcome="failure"`, "/"), "failure ratio")
	assert.True(t, has("", `circuit_breaker_outcome="rejected"`), "rejection rate")
	for _, q := range []string{"0.5", "0.95", "0.99"} {
		assert.True(t, has("", "histogram_quantile("+q, "circuit_breaker_call_duration_seconds_bucket"), "call duration p%s", q)
	}
	assert.True(t, has("", "circuit_breaker_transitions_total"), "transitions over time")
	// Trip policies: the windows' ratios and the slow-call counter.
	assert.True(t, has("timeseries", "circuit_breaker_failure_ratio", "circuit_breaker_name"), "failure ratio of the FailureRate window")
	assert.True(t, has("timeseries", "circuit_breaker_slow_call_ratio", "circuit_breaker_name"), "slow-call ratio of the SlowCalls window")
	assert.True(t, has("", "rate(circuit_breaker_slow_calls_total", "$__rate_interval", "circuit_breaker_name)"), "slow call rate by breaker")
}

func TestKitExpressionsAreWellFormed(t *testing.T) {
	kit, err := FindKit()
	require.NoError(t, err)
	d, err := LoadDashboard(kit.Dashboard())
	require.NoError(t, err)
	rules, err := LoadRules(kit.Path("examples", "prometheus", "alerts.yml"))
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
	rules, err := LoadRules(kit.Path("examples", "prometheus", "alerts.yml"))
	require.NoError(t, err)
	byName := map[string]Rule{}
	for _, r := range rules.Rules() {
		if r.Alert == "" {
			continue
		}
		byName[r.Alert] = r
		for _, a := range []string{"summary", "description", "runbook"} {
			assert.NotEmpty(t, r.Annotations[a], "alert %s: annotation %s", r.Alert, a)
		}
		assert.NotEmpty(t, r.Labels["severity"], "alert %s: severity label", r.Alert)
		assert.NotContains(t, r.Expr, "$", "alert %s: rule expressions take no Grafana variables", r.Alert)
	}
	require.Contains(t, byName, "CircuitBreakerOpen")
	require.Contains(t, byName, "CircuitBreakerFlapping")
	require.Contains(t, byName, "CircuitBreakerHighRejectionRatio")
	forDur, err := time.ParseDuration(byName["CircuitBreakerOpen"].For)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, forDur, 5*time.Minute)
	assert.Contains(t, byName["CircuitBreakerFlapping"].Expr, "[15m]")
	assert.Contains(t, byName["CircuitBreakerHighRejectionRatio"].Expr, `circuit_breaker_outcome="rejected"`)
	require.Contains(t, byName, "CircuitBreakerSlowCallsHigh")
	assert.Contains(t, byName["CircuitBreakerSlowCallsHigh"].Expr, "circuit_breaker_slow_calls_total")
	assert.NotEmpty(t, byName["CircuitBreakerSlowCallsHigh"].For, "a slow spell must last before it alerts")
}

// TestAlertRulesHaveUnitTests checks that alerts_test.yml covers every alert
// both firing and not firing; TestPromtool runs it.
func TestAlertRulesHaveUnitTests(t *testing.T) {
	kit, err := FindKit()
	require.NoError(t, err)
	rules, err := LoadRules(kit.Path("examples", "prometheus", "alerts.yml"))
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

// TestPromtool runs promtool on the shipped files when it is installed (the
// live e2e run requires it).
func TestPromtool(t *testing.T) {
	promtool := os.Getenv("FUSEBOX_PROMTOOL")
	if promtool == "" {
		var err error
		if promtool, err = exec.LookPath("promtool"); err != nil {
			t.Skip("promtool not installed (scripts/ensure-prometheus.sh installs it)")
		}
	}
	kit, err := FindKit()
	require.NoError(t, err)
	runPromtool(t, promtool, kit)
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
		require.NoError(t, err, "promtool %s (in %s):\n%s", strings.Join(args, " "), filepath.Base(dir), out)
		t.Logf("promtool %s: ok", strings.Join(args, " "))
	}
}
