package e2e

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestRewriteAlertmanagerConfig(t *testing.T) {
	kit, err := FindKit()
	require.NoError(t, err)
	out, err := RewriteAlertmanagerConfig(kit.AlertmanagerConfig(), "http://127.0.0.1:1/hook", "1s")
	require.NoError(t, err)
	var doc struct {
		Route struct {
			GroupBy       []string `yaml:"group_by"`
			GroupWait     string   `yaml:"group_wait"`
			GroupInterval string   `yaml:"group_interval"`
			Routes        []struct {
				GroupWait string `yaml:"group_wait"`
			} `yaml:"routes"`
		} `yaml:"route"`
		Receivers []struct {
			Name     string `yaml:"name"`
			Webhooks []struct {
				URL string `yaml:"url"`
			} `yaml:"webhook_configs"`
		} `yaml:"receivers"`
		InhibitRules []map[string]any `yaml:"inhibit_rules"`
	}
	require.NoError(t, yaml.Unmarshal(out, &doc))
	orig, err := LoadAlertmanagerConfig(kit.AlertmanagerConfig())
	require.NoError(t, err)
	assert.Equal(t, orig.Route.GroupBy, doc.Route.GroupBy, "grouping as written")
	assert.Len(t, doc.InhibitRules, len(orig.InhibitRules), "inhibition as written")
	assert.Equal(t, "1s", doc.Route.GroupWait)
	assert.Equal(t, "1s", doc.Route.GroupInterval)
	require.NotEmpty(t, doc.Receivers)
	for _, r := range doc.Receivers {
		require.Len(t, r.Webhooks, 1, r.Name)
		assert.Equal(t, "http://127.0.0.1:1/hook", r.Webhooks[0].URL)
	}
}

func TestWebhookSink(t *testing.T) {
	sink := &WebhookSink{}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	body := `{"receiver":"default","status":"firing","groupLabels":{"alertname":"CircuitBreakerOpen","job":"demo","circuit_breaker_name":"db"},
	"alerts":[{"status":"firing","labels":{"alertname":"CircuitBreakerOpen","job":"demo","circuit_breaker_name":"db"},"annotations":{"summary":"s"}}]}`
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = http.Post(srv.URL, "application/json", strings.NewReader("{"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	n := sink.Notifications()
	require.Len(t, n, 1)
	assert.Equal(t, "db", n[0].GroupLabels["circuit_breaker_name"])
	assert.Equal(t, "s", n[0].Alerts[0].Annotations["summary"])
}

func TestTraceSink(t *testing.T) {
	sink := &TraceSink{}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	const req = `{"resourceSpans":[{"resource":{},"scopeSpans":[{"spans":[
		{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"call external_api"},
		{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203332","name":"fusebox.demo.ExternalAPI/GetData"},
		{"traceId":"01000000000000000000000000000000","spanId":"0200000000000000"}]}]}]}`
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, err := zw.Write([]byte(req))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	post := func(path string, body []byte, gz bool) int {
		r, err := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
		require.NoError(t, err)
		r.Header.Set("Content-Type", "application/json")
		if gz {
			r.Header.Set("Content-Encoding", "gzip")
		}
		resp, err := http.DefaultClient.Do(r)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusOK, post("/v1/traces", zipped.Bytes(), true), "the collector's exporter compresses with gzip")
	assert.Equal(t, http.StatusOK, post("/v1/traces", []byte(req), false))
	assert.Equal(t, http.StatusNotFound, post("/v1/metrics", []byte(req), false))
	assert.Equal(t, http.StatusBadRequest, post("/v1/traces", []byte("not json"), false))
	assert.True(t, sink.Has("0af7651916cd43dd8448eb211c80319c"))
	assert.False(t, sink.Has("ffffffffffffffffffffffffffffffff"))
	traces, spans := sink.Counts()
	assert.Equal(t, 2, traces)
	assert.Equal(t, 6, spans)
	assert.Equal(t, 2, sink.SpansNamed("fusebox.demo.ExternalAPI/GetData"), "one per request")
	assert.Zero(t, sink.SpansNamed("GetData"))
}

func TestSetFlag(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want []string
	}{
		{[]string{"-listen", "0.0.0.0:8080", "-log-format", "json"}, []string{"-listen", "127.0.0.1:1", "-log-format", "json"}},
		{[]string{"--listen=0.0.0.0:8080"}, []string{"--listen=127.0.0.1:1"}},
		{[]string{"-log-format", "json"}, []string{"-log-format", "json", "-listen", "127.0.0.1:1"}},
	} {
		assert.Equal(t, c.want, SetFlag(c.in, "listen", "127.0.0.1:1"))
	}
	in := []string{"-listen", "x"}
	SetFlag(in, "listen", "y")
	assert.Equal(t, []string{"-listen", "x"}, in, "the input is not changed")
}

func TestComposeExtraFlags(t *testing.T) {
	s := loadStack(t)
	assert.Equal(t, []string{"--enable-feature=exemplar-storage"},
		s.extraFlags(t, s.prometheus, "config.file", "storage.tsdb.path", "web.listen-address"))
	assert.Empty(t, s.extraFlags(t, s.alertmanager, "config.file", "storage.path", "web.listen-address"))
}
