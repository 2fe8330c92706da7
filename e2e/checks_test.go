package e2e

import (
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkPrometheusVersion requires the Prometheus binary to be built from
// the module of the release that docker-compose.yml pins (image v3.MM.P is
// module v0.3MM.P), as its build information records.
func checkPrometheusVersion(t *testing.T, st stack, bin string) {
	t.Helper()
	img := st.compose.Services[st.prometheus].Image
	m := regexp.MustCompile(`:v3\.(\d+)\.(\d+)$`).FindStringSubmatch(img)
	require.NotNil(t, m, "docker-compose.yml should pin a Prometheus 3 release: %s", img)
	minor, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	want := fmt.Sprintf("v0.%d.%s", 300+minor, m[2])
	info, err := buildinfo.ReadFile(bin)
	require.NoError(t, err, "%s: no Go build information", bin)
	var got string
	for _, d := range append([]*debug.Module{&info.Main}, info.Deps...) {
		if d.Path == "github.com/prometheus/prometheus" {
			got = d.Version
		}
	}
	require.Equal(t, want, got, "%s is not built from the Prometheus docker-compose.yml runs (%s)", bin, img)
	out, _ := exec.Command(bin, "--version").CombinedOutput()
	t.Logf("%s: module github.com/prometheus/prometheus %s, as docker-compose.yml pins (%s); %s", filepath.Base(bin), got, img, firstLine(out))
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(string(b), "\n")
	return line
}

// queryUntil runs q until ok accepts its result or ctx ends, and returns
// the last result.
func queryUntil(ctx context.Context, t *testing.T, api promAPI, q string, ok func([]sample) bool) []sample {
	t.Helper()
	var last []sample
	for {
		res, err := api.query(ctx, q)
		var qe *queryError
		if errors.As(err, &qe) {
			require.FailNowf(t, "bad query", "%v\nquery: %s", err, q)
		}
		if err == nil {
			last = res
			if ok(res) {
				return res
			}
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(time.Second):
		}
	}
}

// checkReplicasApart requires the collector's copies of the breakers to
// carry one instance label per replica, and those to be the replicas'
// service.instance.id, as their own pages show it in target_info.
func checkReplicasApart(ctx context.Context, t *testing.T, api promAPI, replicas int) {
	t.Helper()
	labelValues := func(res []sample, label string) []string {
		var out []string
		for _, s := range res {
			out = append(out, s.Metric[label])
		}
		sort.Strings(out)
		return out
	}
	ids := labelValues(queryUntil(ctx, t, api, `group by (service_instance_id) (target_info{source="direct"})`,
		func(r []sample) bool { return len(r) == replicas }), "service_instance_id")
	require.Len(t, ids, replicas, "each replica's page names its own service.instance.id")
	for _, id := range ids {
		assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, id, "a random UUID")
	}
	instances := labelValues(queryUntil(ctx, t, api, `group by (instance) (circuit_breaker_state{source="collector"})`,
		func(r []sample) bool { return len(r) == replicas }), "instance")
	assert.Equal(t, ids, instances, "through the collector, each replica's series carry its service.instance.id as instance")
	t.Logf("replicas apart through the collector: instance=%v", instances)
}

// checkNoCounterResets requires no counter of a breaker to have gone down
// on either path: two replicas merged into one series would.
func checkNoCounterResets(ctx context.Context, t *testing.T, api promAPI, sources []string) {
	t.Helper()
	for _, src := range sources {
		for _, name := range []string{"circuit_breaker_calls_total", "circuit_breaker_transitions_total", "circuit_breaker_call_duration_seconds_count"} {
			q := fmt.Sprintf(`sum(resets(%s{source=%q}[1h]))`, name, src)
			res, err := api.query(ctx, q)
			require.NoError(t, err, q)
			require.Len(t, res, 1, "%s: no data", q)
			assert.Equal(t, "0", res[0].Value[1], "%s: counters went down (replicas merged into one series?)", q)
		}
	}
	t.Logf("no counter reset on %v", sources)
}

// exemplar is one series' exemplars from the query_exemplars API.
type exemplar struct {
	SeriesLabels map[string]string `json:"seriesLabels"`
	Exemplars    []struct {
		Labels map[string]string `json:"labels"`
	} `json:"exemplars"`
}

// checkExemplars requires Prometheus to hold exemplars of the call
// durations on every path, whose trace ids are traces the collector
// forwarded to the trace receiver: the link Grafana follows.
func checkExemplars(ctx context.Context, t *testing.T, api promAPI, traces *TraceSink, sources []string) {
	t.Helper()
	for _, src := range sources {
		q := fmt.Sprintf(`circuit_breaker_call_duration_seconds_bucket{source=%q}`, src)
		var total, linked int
		var sampleID string
		for {
			var data []exemplar
			end := time.Now()
			err := api.get(ctx, "/api/v1/query_exemplars", url.Values{
				"query": {q},
				"start": {strconv.FormatInt(end.Add(-time.Hour).Unix(), 10)},
				"end":   {strconv.FormatInt(end.Unix(), 10)},
			}, &data)
			require.NoError(t, err, "query_exemplars %s", q)
			total, linked = 0, 0
			for _, series := range data {
				for _, e := range series.Exemplars {
					total++
					if id := e.Labels["trace_id"]; id != "" && traces.Has(id) {
						linked++
						sampleID = id
					}
				}
			}
			if linked > 0 || ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
		nt, ns := traces.Counts()
		assert.Positive(t, linked, "source=%s: %d exemplars, none with the trace id of a trace the collector forwarded (%d traces, %d spans received)", src, total, nt, ns)
		t.Logf("source=%s: %d exemplars of call durations, %d of them of traces the backend received (for example trace_id=%s)", src, total, linked, sampleID)
	}
}

// amAlert is an alert as Alertmanager's API v2 lists it.
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Status      struct {
		State       string   `json:"state"`
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status"`
	Fingerprint string `json:"fingerprint"`
}

// checkAlertmanager requires the alerts to reach Alertmanager and its
// notifications to be grouped by the route's labels, one per service and
// breaker with no instance in the alerts' labels; the forced breaker's
// open alert to be inhibited by its rejection alert, and the warning tier
// of that by the critical tier.
func checkAlertmanager(ctx context.Context, t *testing.T, am promAPI, hooks *WebhookSink, cfg *AlertmanagerConfig, replicas int) {
	t.Helper()
	find := func(alerts []amAlert, labels map[string]string) *amAlert {
		for i, a := range alerts {
			match := true
			for k, v := range labels {
				match = match && a.Labels[k] == v
			}
			if match {
				return &alerts[i]
			}
		}
		return nil
	}
	byFingerprint := func(alerts []amAlert, fp []string) []string {
		var names []string
		for _, a := range alerts {
			if slices.Contains(fp, a.Fingerprint) {
				names = append(names, a.Labels["alertname"]+"/"+a.Labels["severity"])
			}
		}
		return names
	}
	open := map[string]string{"alertname": "CircuitBreakerOpen", "job": "demo", "circuit_breaker_name": forcedBreaker}
	warning := map[string]string{"alertname": "CircuitBreakerHighRejectionRatio", "severity": "warning", "job": "demo", "circuit_breaker_name": forcedBreaker}
	critical := map[string]string{"alertname": "CircuitBreakerHighRejectionRatio", "severity": "critical", "job": "demo", "circuit_breaker_name": forcedBreaker}
	var alerts []amAlert
	var state string
	for {
		require.NoError(t, am.getRaw(ctx, "/api/v2/alerts", nil, &alerts))
		o, w, c := find(alerts, open), find(alerts, warning), find(alerts, critical)
		state = fmt.Sprintf("open=%v warning=%v critical=%v", stateOf(o), stateOf(w), stateOf(c))
		if o != nil && w != nil && c != nil && o.Status.State == "suppressed" && w.Status.State == "suppressed" && c.Status.State == "active" {
			// Alertmanager names one inhibiting alert: either tier.
			inhibitors := byFingerprint(alerts, o.Status.InhibitedBy)
			assert.True(t, slices.ContainsFunc(inhibitors, func(s string) bool { return strings.HasPrefix(s, "CircuitBreakerHighRejectionRatio/") }),
				"the open alert is held back by the rejection alert of the same breaker, not by %v", inhibitors)
			assert.Equal(t, []string{"CircuitBreakerHighRejectionRatio/critical"}, byFingerprint(alerts, w.Status.InhibitedBy),
				"the warning tier is held back by the critical tier")
			assert.Contains(t, o.Annotations["description"], fmt.Sprintf("of the %d instances", replicas), "the description counts the instances")
			assert.Contains(t, o.Annotations["summary"], fmt.Sprintf("of %d instances", replicas))
			t.Logf("Alertmanager: %s; %s", state, o.Annotations["summary"])
			break
		}
		select {
		case <-ctx.Done():
			require.FailNowf(t, "inhibition not seen", "Alertmanager: %s; alerts: %v", state, alertNames(alerts))
		case <-time.After(time.Second):
		}
	}

	// Notifications: grouped by the route's labels, none for an instance.
	var notes []Notification
	for {
		notes = hooks.Notifications()
		if len(notes) > 0 && slices.ContainsFunc(notes, func(n Notification) bool { return n.GroupLabels["circuit_breaker_name"] != "" }) {
			break
		}
		select {
		case <-ctx.Done():
			require.FailNowf(t, "no notification", "the webhook received %d notifications", len(notes))
		case <-time.After(time.Second):
		}
	}
	groups := map[string]int{}
	for _, n := range notes {
		for k := range n.GroupLabels {
			assert.Contains(t, cfg.Route.GroupBy, k, "notification grouped by a label the route does not name")
		}
		for _, a := range n.Alerts {
			for _, k := range cfg.Route.GroupBy {
				assert.Equal(t, n.GroupLabels[k], a.Labels[k], "alert %v in group %v", a.Labels, n.GroupLabels)
			}
			if a.Labels["circuit_breaker_name"] != "" {
				assert.NotContains(t, a.Labels, "instance", "breaker alerts are per service and breaker, not per instance: %v", a.Labels)
			}
		}
		groups[fmt.Sprint(n.GroupLabels)]++
	}
	t.Logf("Alertmanager sent %d notifications in %d groups (by %v)", len(notes), len(groups), cfg.Route.GroupBy)
}

// waitAlertInAlertmanager waits until Alertmanager holds an active alert
// of that name.
func waitAlertInAlertmanager(ctx context.Context, t *testing.T, am promAPI, name string) {
	t.Helper()
	var alerts []amAlert
	for {
		require.NoError(t, am.getRaw(ctx, "/api/v2/alerts", url.Values{"filter": {`alertname="` + name + `"`}}, &alerts))
		for _, a := range alerts {
			if a.Status.State == "active" {
				t.Logf("Alertmanager: %s active: %s", name, a.Annotations["summary"])
				return
			}
		}
		select {
		case <-ctx.Done():
			require.FailNowf(t, "alert not received", "Alertmanager has no active %s: %v", name, alertNames(alerts))
		case <-time.After(time.Second):
		}
	}
}

func stateOf(a *amAlert) string {
	if a == nil {
		return "none"
	}
	return a.Status.State
}

func alertNames(alerts []amAlert) []string {
	var out []string
	for _, a := range alerts {
		out = append(out, fmt.Sprintf("%s{%s,%s,%s}:%s", a.Labels["alertname"], a.Labels["severity"], a.Labels["job"], a.Labels["circuit_breaker_name"], a.Status.State))
	}
	sort.Strings(out)
	return out
}

// grpcBreaker is the demo's breaker whose dependency it calls over gRPC,
// and grpcMethod the method it calls.
const (
	grpcBreaker = "external_api"
	grpcMethod  = "fusebox.demo.ExternalAPI/GetData"
)

// checkGRPCBreaker requires the breaker of the demo's gRPC dependency on
// every path, with calls it let through and calls it judged failures, on
// each replica's /breakers, and the client spans otelgrpc made of its calls
// at the trace receiver: the calls did go over gRPC.
func checkGRPCBreaker(ctx context.Context, t *testing.T, api promAPI, traces *TraceSink, sources []string, replicas []*replica, note func(origin, src string, n int)) {
	t.Helper()
	for _, src := range sources {
		for _, outcome := range []string{"success", "failure"} {
			q := fmt.Sprintf(`sum by (job, instance) (circuit_breaker_calls_total{source=%q,circuit_breaker_name=%q,circuit_breaker_outcome=%q}) > 0`, src, grpcBreaker, outcome)
			res := queryUntil(ctx, t, api, q, func(r []sample) bool { return len(r) == len(replicas) })
			note("gRPC breaker "+grpcBreaker+" "+outcome+" calls, by instance", src, len(res))
			assert.Len(t, res, len(replicas), "source=%s: %s calls of breaker %s on every replica\nquery: %s", src, outcome, grpcBreaker, q)
		}
		q := fmt.Sprintf(`circuit_breaker_state{source=%q,circuit_breaker_name=%q}`, src, grpcBreaker)
		res, err := api.query(ctx, q)
		require.NoError(t, err, q)
		note("gRPC breaker "+grpcBreaker+" state series", src, len(res))
		assert.Len(t, res, 3*len(replicas), "source=%s: a state series per state and replica", src)
	}
	for _, r := range replicas {
		states := breakerStates(ctx, t, "http://"+r.addr+"/breakers")
		assert.Contains(t, states, grpcBreaker, "%s: /breakers", r.service)
	}
	var spans int
	for spans == 0 && ctx.Err() == nil {
		if spans = traces.SpansNamed(grpcMethod); spans == 0 {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	assert.Positive(t, spans, "no span named %s reached the trace receiver", grpcMethod)
	t.Logf("gRPC breaker %s on %v and every replica's /breakers; %d spans of %s received", grpcBreaker, sources, spans, grpcMethod)
}

// breakerStates reads /breakers: each breaker's state by name.
func breakerStates(ctx context.Context, t *testing.T, url string) map[string]string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var stats []struct {
		Name  string `json:"name"`
		State string `json:"state"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&stats), url)
	out := map[string]string{}
	for _, s := range stats {
		out[s.Name] = s.State
	}
	return out
}
