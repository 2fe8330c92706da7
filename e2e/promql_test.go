package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestInjectMatcher(t *testing.T) {
	const m = `source="x"`
	cases := []struct{ in, want string }{
		{`up`, `up{source="x"}`},
		{`up{}`, `up{source="x"}`},
		{`up{job="a"}`, `up{source="x",job="a"}`},
		{`{__name__=~"circuit_.*"}`, `{source="x",__name__=~"circuit_.*"}`},
		{
			`sum by (circuit_breaker_name, circuit_breaker_state) (circuit_breaker_state{circuit_breaker_state="open"})`,
			`sum by (circuit_breaker_name, circuit_breaker_state) (circuit_breaker_state{source="x",circuit_breaker_state="open"})`,
		},
		{
			`sum without(instance)(rate(circuit_breaker_calls_total[5m] offset 1m))`,
			`sum without(instance)(rate(circuit_breaker_calls_total{source="x"}[5m] offset 1m))`,
		},
		{
			`histogram_quantile(0.95, sum by (le) (rate(x_bucket{a="}"}[1m:10s])))`,
			`histogram_quantile(0.95, sum by (le) (rate(x_bucket{source="x",a="}"}[1m:10s])))`,
		},
		{
			`a / on(job) group_left(circuit_breaker_state) b > bool 1e-3`,
			`a{source="x"} / on(job) group_left(circuit_breaker_state) b{source="x"} > bool 1e-3`,
		},
		{
			`(a == 1) * 0 or (b == 1) and c unless d`,
			`(a{source="x"} == 1) * 0 or (b{source="x"} == 1) and c{source="x"} unless d{source="x"}`,
		},
		{`max(a @ start())`, `max(a{source="x"} @ start())`},
		{`topk(3, a) # the top three`, `topk(3, a{source="x"}) # the top three`},
		{`count_values("v", a)`, `count_values("v", a{source="x"})`},
		{`vector(0) + 0x1F`, `vector(0) + 0x1F`},
		{"sum(a)\n/\nsum(b)", "sum(a{source=\"x\"})\n/\nsum(b{source=\"x\"})"},
	}
	for _, c := range cases {
		got, err := InjectMatcher(c.in, m)
		require.NoError(t, err, c.in)
		assert.Equal(t, c.want, got, c.in)
	}
	for _, bad := range []string{`up{job="a"`, `rate(up[5m)`, `up{job="a}`} {
		_, err := InjectMatcher(bad, m)
		assert.Error(t, err, bad)
	}
}

func TestInterpolate(t *testing.T) {
	vars := map[string]string{"job": "demo", "breaker": "(a|b)", "__rate_interval": "20s"}
	got, err := Interpolate(`rate(x{job=~"$job",n=~"${breaker:regex}",m="[[job]]"}[$__rate_interval]) and y{r=~"a$"}`, vars)
	require.NoError(t, err)
	assert.Equal(t, `rate(x{job=~"demo",n=~"(a|b)",m="demo"}[20s]) and y{r=~"a$"}`, got)

	_, err = Interpolate(`x{a="$unknown"}`, vars)
	assert.ErrorContains(t, err, "unknown")
}

func TestVariableQuery(t *testing.T) {
	expr, label, err := VariableQuery(`label_values(circuit_breaker_state{job=~"$job"}, circuit_breaker_name)`)
	require.NoError(t, err)
	assert.Equal(t, `count by (circuit_breaker_name) (circuit_breaker_state{job=~"$job"})`, expr)
	assert.Equal(t, "circuit_breaker_name", label)

	expr, label, err = VariableQuery(`label_values(job)`)
	require.NoError(t, err)
	assert.Equal(t, `count by (job) ({job!=""})`, expr)
	assert.Equal(t, "job", label)

	_, _, err = VariableQuery(`metrics(circuit_.*)`)
	assert.Error(t, err)
}

func TestVariableValue(t *testing.T) {
	assert.Equal(t, "a", VariableValue(Variable{}, []string{"b", "a"}))
	assert.Equal(t, "(a|b\\.c)", VariableValue(Variable{Multi: true, IncludeAll: true}, []string{"b.c", "a"}))
	assert.Equal(t, ".*", VariableValue(Variable{IncludeAll: true, AllValue: ".*"}, []string{"a"}))
}

func TestFlagValue(t *testing.T) {
	args := []string{"-listen", "0.0.0.0:8080", "--config.file=/etc/p.yml", "x"}
	v, ok := FlagValue(args, "listen")
	assert.True(t, ok)
	assert.Equal(t, "0.0.0.0:8080", v)
	v, ok = FlagValue(args, "config.file")
	assert.True(t, ok)
	assert.Equal(t, "/etc/p.yml", v)
	_, ok = FlagValue(args, "speed")
	assert.False(t, ok)
}

func TestEnvDefault(t *testing.T) {
	n, d := EnvDefault("${env:FOO:-0.0.0.0:4317}")
	assert.Equal(t, "FOO", n)
	assert.Equal(t, "0.0.0.0:4317", d)
	n, d = EnvDefault("0.0.0.0:8889")
	assert.Empty(t, n)
	assert.Equal(t, "0.0.0.0:8889", d)
}

func TestRewritePromConfig(t *testing.T) {
	kit, err := FindKit()
	require.NoError(t, err)
	cfg, err := LoadPromConfig(kit.PrometheusConfig())
	require.NoError(t, err)
	targets := map[string]string{}
	for i, sc := range cfg.ScrapeConfigs {
		for j, st := range sc.StaticConfigs {
			for k, tg := range st.Targets {
				targets[tg] = fmt.Sprintf("127.0.0.1:%d%d%d00", i+1, j, k)
			}
		}
	}
	require.NotEmpty(t, cfg.AlertmanagerTargets())
	for _, am := range cfg.AlertmanagerTargets() {
		targets[am] = "127.0.0.1:9999"
	}
	out, err := RewritePromConfig(kit.PrometheusConfig(), targets, map[string]string{"alerts.yml": "/tmp/scaled/alerts.yml"}, "1s")
	require.NoError(t, err)
	s := string(out)
	assert.Contains(t, s, "scrape_interval: 1s")
	assert.Contains(t, s, "127.0.0.1:10000")
	assert.Contains(t, s, "127.0.0.1:10100", "every target of a group")
	assert.Contains(t, s, "127.0.0.1:9999", "the Alertmanager")
	assert.Contains(t, s, "/tmp/scaled/alerts.yml")
	assert.Contains(t, s, "honor_labels: true", "everything else is kept")
	assert.Contains(t, s, "source: collector")

	out, err = RewritePromConfig(kit.PrometheusConfig(), targets, nil, "1s")
	require.NoError(t, err)
	assert.Contains(t, string(out), filepath.Join(kit.Path("examples", "prometheus"), "alerts.yml"), "relative rule files made absolute")

	delete(targets, cfg.ScrapeConfigs[0].StaticConfigs[0].Targets[0])
	_, err = RewritePromConfig(kit.PrometheusConfig(), targets, nil, "1s")
	assert.ErrorContains(t, err, "no local address")
}

func TestScaleRules(t *testing.T) {
	kit, err := FindKit()
	require.NoError(t, err)
	out, err := ScaleRules(kit.Alerts(), 20)
	require.NoError(t, err)
	var f RuleFile
	require.NoError(t, yaml.Unmarshal(out, &f))
	orig, err := LoadRules(kit.Alerts())
	require.NoError(t, err)
	require.Len(t, f.Rules(), len(orig.Rules()))
	for i, r := range f.Rules() {
		o := orig.Rules()[i]
		assert.Equal(t, o.Expr, r.Expr, "expressions as written")
		assert.Equal(t, o.Annotations, r.Annotations)
		for _, d := range [][2]string{{o.For, r.For}, {o.KeepFiringFor, r.KeepFiringFor}} {
			if d[0] == "" {
				assert.Empty(t, d[1])
				continue
			}
			od, err := time.ParseDuration(d[0])
			require.NoError(t, err)
			nd, err := time.ParseDuration(d[1])
			require.NoError(t, err)
			assert.Equal(t, max((od/20).Round(time.Second), time.Second), nd, r.Name())
		}
	}
}

func TestWithoutThreshold(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"sum by (job) (increase(x[10m])) > 0", "sum by (job) (increase(x[10m]))"},
		{"a\n  >= 0.5\n", "a"},
		{"rate(x[5m]) != 1e-3", "rate(x[5m])"},
	} {
		got, ok := WithoutThreshold(c.in)
		assert.True(t, ok, c.in)
		assert.Equal(t, c.want, got)
	}
	_, ok := WithoutThreshold("a > 0 and b")
	assert.False(t, ok)
}

func TestWithoutThresholds(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"sum by (job) (increase(x[10m])) > 0", "sum by (job) (increase(x[10m]))"},
		{"(\n  sum(rate(a[5m]))\n  /\n  sum(rate(b[5m]))\n) > 1.5\nand\nsum by (job) (rate(b[5m])) >= 0.1\n",
			"(\n  sum(rate(a[5m]))\n  /\n  sum(rate(b[5m]))\n)\nand\nsum by (job) (rate(b[5m]))"},
		{`x{l="and"} > 1 and on (job) y > 2`, "x{l=\"and\"}\nand\non (job) y"},
		{"candle > 1 and band > 2", "candle\nand\nband"},
	} {
		got, ok := WithoutThresholds(c.in)
		assert.True(t, ok, c.in)
		assert.Equal(t, c.want, got)
	}
	_, ok := WithoutThresholds("a > 0 and b")
	assert.False(t, ok, "an operand without a threshold")
	_, ok = WithoutThresholds("(a > 0 and b > 1)")
	assert.False(t, ok, "an and inside parentheses is not top-level")
}
