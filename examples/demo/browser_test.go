package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
)

// chromium finds a Chromium binary. Without one the browser test is
// skipped, unless FUSEBOX_BROWSER=1 (set by make e2e) requires it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("FUSEBOX_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("FUSEBOX_BROWSER") == "1" {
		t.Fatal("FUSEBOX_BROWSER=1 but no chromium found (apt-get install -y chromium)")
	}
	t.Skip("no chromium on PATH; make e2e installs it and runs this test")
	return ""
}

// renderedDOM loads url in headless Chromium and returns the DOM after the
// page has loaded. Every host but loopback resolves to nothing.
func renderedDOM(t *testing.T, bin, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--disable-quic", "--user-data-dir="+t.TempDir(),
		"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
		"--dump-dom", url)
	out, err := cmd.Output()
	require.NoError(t, err, "chromium --dump-dom %s", url)
	return string(out)
}

var (
	rowTag    = regexp.MustCompile(`<tr\b[^>]*\bdata-breaker="[^"]*"[^>]*>`)
	attrValue = func(name string) *regexp.Regexp { return regexp.MustCompile(`\b` + name + `="([^"]*)"`) }
	breakerOf = attrValue("data-breaker")
	stateOf   = attrValue("data-state")
)

// pageStates reads each breaker's state from the rendered status page.
func pageStates(t *testing.T, dom string) map[string]string {
	t.Helper()
	states := map[string]string{}
	for _, tag := range rowTag.FindAllString(dom, -1) {
		name, state := breakerOf.FindStringSubmatch(tag), stateOf.FindStringSubmatch(tag)
		require.NotNil(t, state, "row without data-state: %s", tag)
		states[name[1]] = state[1]
	}
	return states
}

// jsonStates reads each breaker's state from /breakers.
func jsonStates(t *testing.T, url string) map[string]string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	var stats []breaker.Stats
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&stats))
	states := map[string]string{}
	for _, s := range stats {
		states[s.Name] = s.State.String()
	}
	return states
}

// TestStatusPageInBrowser opens the demo's status page in headless
// Chromium, reads the breakers' states from the rendered page, and checks
// them against /breakers, once with every breaker open and once after an
// admin reset of one.
func TestStatusPageInBrowser(t *testing.T) {
	bin := chromium(t)
	a, _ := startApp(t, scenarios()["outage"], "s3cret")
	for range 12 { // every dependency is down: all three open
		a.step(context.Background())
	}

	dom := renderedDOM(t, bin, a.selfURL+"/breakers/?format=html")
	got := pageStates(t, dom)
	assert.Equal(t, map[string]string{"database": "open", "external_api": "open", "model_server": "open"}, got)
	assert.Equal(t, jsonStates(t, a.selfURL+"/breakers"), got, "the page shows what /breakers says")

	req, err := http.NewRequest(http.MethodPost, a.selfURL+"/breakers/database/reset", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	got = pageStates(t, renderedDOM(t, bin, a.selfURL+"/breakers/?format=html"))
	assert.Equal(t, "closed", got["database"])
	assert.Equal(t, "open", got["model_server"])
	assert.Equal(t, jsonStates(t, a.selfURL+"/breakers"), got)
}
