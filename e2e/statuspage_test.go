package e2e

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/httpbreaker"
)

// chromiumBin finds a Chromium binary. Without one the browser test is
// skipped, unless FUSEBOX_BROWSER=1 (set by make e2e) requires it.
func chromiumBin(t *testing.T) string {
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

// browser starts a headless Chromium with no network beyond loopback and
// returns a context that drives one tab of it.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumBin(t)),
		chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	return ctx
}

// The status page's Reset and Force open buttons used to be plain form
// posts, which cannot carry the Bearer token that WithAdmin's documented
// authorisation checks: they never worked from a browser. The page now
// sends the token the operator types in with fetch. This drives the page
// in headless Chromium: without the token (or with a wrong one) nothing
// changes and the page says why; with it, force-open and reset work.
func TestStatusPageActionsInBrowser(t *testing.T) {
	const token = "s3cret-token"
	reg := breaker.NewRegistry()
	db, err := reg.Get("database")
	require.NoError(t, err)
	_, err = reg.Get("cache")
	require.NoError(t, err)
	authorize := func(r *http.Request) bool {
		return subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token)) == 1
	}
	mux := http.NewServeMux()
	status := http.StripPrefix("/breakers", httpbreaker.NewStatusHandler(reg, httpbreaker.WithAdmin(authorize)))
	mux.Handle("/breakers", status)
	mux.Handle("/breakers/", status)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	page := srv.URL + "/breakers/?format=html"

	ctx := browser(t)
	row := `tr[data-breaker="database"]`
	forceOpen := chromedp.CSS(row + ` button[data-action="force-open"]`)
	reset := chromedp.CSS(row + ` button[data-action="reset"]`)
	attr := func(name string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(row), name))
		require.NoError(t, err)
		return v.Value
	}

	// A wrong token: refused, the page shows the answer, nothing changes.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(page),
		chromedp.WaitVisible(forceOpen),
		chromedp.SendKeys(chromedp.ID("admin-token"), "wrong"),
		chromedp.Click(forceOpen),
		chromedp.WaitVisible(chromedp.CSS(`#action-status[data-code]`)),
	))
	message, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("action-status")))
	require.NoError(t, err)
	assert.Equal(t, "403: forbidden", message)
	assert.Equal(t, breaker.Closed, db.State(), "a refused action changes nothing")

	// The right token: force-open, then reset; the page reloads each time
	// and keeps the token for the tab.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[any](`document.getElementById("admin-token").value = ""`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("admin-token"), token),
		chromedp.Click(forceOpen),
		chromedp.WaitVisible(chromedp.CSS(row+`[data-forced="true"]`)),
	))
	assert.Equal(t, breaker.Open, db.State())
	assert.True(t, db.Stats().Forced)
	assert.Equal(t, "open", attr("data-state"))

	kept, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("admin-token")))
	require.NoError(t, err)
	assert.Equal(t, token, kept, "the token survives the reload")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(reset),
		chromedp.WaitVisible(chromedp.CSS(row+`[data-state="closed"]`)),
	))
	assert.Equal(t, breaker.Closed, db.State())
	assert.Equal(t, "false", attr("data-forced"))
	cache, _ := reg.Lookup("cache")
	assert.Equal(t, breaker.Closed, cache.State(), "only the clicked breaker was touched")
}
