package httpbreaker_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/httpbreaker"
)

const (
	hostile = "<script>alert(1)</script>"
	token   = "s3cret"
)

// bearer approves requests that carry the test token.
var bearer = httpbreaker.BearerToken(token)

// fixture is a registry with four breakers, served by a status handler
// mounted at /breakers and /breakers/.
type fixture struct {
	reg *breaker.Registry
	srv *httptest.Server
}

func newFixture(t *testing.T, opts ...httpbreaker.Option) *fixture {
	t.Helper()
	reg, _ := newRegistry(1)
	fail := func(context.Context) error { return errors.New("down") }
	for _, name := range []string{"zeta/one", "beta", hostile, "alpha"} {
		b, err := reg.Get(name)
		require.NoError(t, err)
		require.NoError(t, b.Execute(context.Background(), func(context.Context) error { return nil }))
		if name == "beta" || name == hostile {
			require.Error(t, b.Execute(context.Background(), fail))
		}
	}
	h := http.StripPrefix("/breakers", httpbreaker.NewStatusHandler(reg, opts...))
	mux := http.NewServeMux()
	mux.Handle("/breakers", h)
	mux.Handle("/breakers/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{reg: reg, srv: srv}
}

type result struct {
	code   int
	header http.Header
	body   string
	url    *url.URL
}

// call sends method target (a path with an optional query) to srv with the
// given header lines ("Key: value"), without following redirects.
func call(t *testing.T, srv *httptest.Server, method, target string, header ...string) result {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+target, nil)
	require.NoError(t, err)
	for _, h := range header {
		k, v, ok := strings.Cut(h, ": ")
		require.True(t, ok, h)
		req.Header.Set(k, v)
	}
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return result{code: resp.StatusCode, header: resp.Header, body: string(body), url: req.URL}
}

func (f *fixture) state(t *testing.T, name string) (breaker.State, bool) {
	s := stats(t, f.reg, name)
	return s.State, s.Forced
}

func decodeList(t *testing.T, body string) []breaker.Stats {
	t.Helper()
	var got []breaker.Stats
	require.NoError(t, json.Unmarshal([]byte(body), &got), body)
	return got
}

func names(stats []breaker.Stats) []string {
	var out []string
	for _, s := range stats {
		out = append(out, s.Name)
	}
	return out
}

func TestStatusListJSON(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		target string
		accept string
	}{
		{target: "/breakers"},
		{target: "/breakers/"},
		{target: "/breakers/", accept: "*/*"},
		{target: "/breakers?format=json", accept: "text/html"},
		{target: "/breakers/?format=json"},
	}
	for _, tc := range tests {
		t.Run(tc.target+" "+tc.accept, func(t *testing.T) {
			var hdr []string
			if tc.accept != "" {
				hdr = append(hdr, "Accept: "+tc.accept)
			}
			r := call(t, f.srv, http.MethodGet, tc.target, hdr...)
			require.Equal(t, http.StatusOK, r.code, r.body)
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
			assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
			assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
			got := decodeList(t, r.body)
			assert.Equal(t, []string{hostile, "alpha", "beta", "zeta/one"}, names(got), "sorted by name")
			assert.Equal(t, breaker.Open, got[2].State)
			assert.Equal(t, uint64(2), got[2].TotalCalls)
			assert.Equal(t, breaker.Closed, got[1].State)
			assert.NotContains(t, r.body, "<", "JSON escapes <, > and &")
		})
	}
}

func TestStatusListEmpty(t *testing.T) {
	reg, _ := newRegistry(1)
	h := httpbreaker.NewStatusHandler(reg)
	w := serve(h, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, "[]", w.Body.String())

	w = serve(h, httptest.NewRequest(http.MethodGet, "/?format=html", nil))
	assert.Contains(t, w.Body.String(), `data-count="0"`)
	assert.Contains(t, w.Body.String(), `data-empty="true"`)
}

func TestStatusSingleBreaker(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name     string
		target   string
		wantCode int
		wantName string // in the stats, or the error body's "name"
	}{
		{name: "closed", target: "/breakers/alpha", wantCode: 200, wantName: "alpha"},
		{name: "open", target: "/breakers/beta", wantCode: 200, wantName: "beta"},
		{name: "escaped slash", target: "/breakers/zeta%2Fone", wantCode: 200, wantName: "zeta/one"},
		{name: "hostile name", target: "/breakers/" + url.PathEscape(hostile), wantCode: 200, wantName: hostile},
		{name: "unknown", target: "/breakers/nope", wantCode: 404, wantName: "nope"},
		{name: "percent sign", target: "/breakers/100%25", wantCode: 404, wantName: "100%"},
		{name: "unknown hostile", target: "/breakers/" + url.PathEscape(`<img src=x onerror=alert(1)>`), wantCode: 404, wantName: `<img src=x onerror=alert(1)>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := f.reg.Len()
			r := call(t, f.srv, http.MethodGet, tc.target)
			require.Equal(t, tc.wantCode, r.code, r.body)
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
			assert.NotContains(t, r.body, "<")
			var got struct {
				Name  string `json:"name"`
				State string `json:"state"`
				Error string `json:"error"`
			}
			require.NoError(t, json.Unmarshal([]byte(r.body), &got))
			assert.Equal(t, tc.wantName, got.Name)
			if tc.wantCode == 200 {
				var s breaker.Stats
				require.NoError(t, json.Unmarshal([]byte(r.body), &s))
				assert.Equal(t, stats(t, f.reg, tc.wantName).State, s.State)
			} else {
				assert.Equal(t, "no such breaker", got.Error)
			}
			assert.Equal(t, before, f.reg.Len(), "the handler never creates breakers")
		})
	}
}

func TestStatusBadPaths(t *testing.T) {
	f := newFixture(t, httpbreaker.WithAdmin(bearer))
	auth := "Authorization: Bearer " + token
	tests := []struct {
		name     string
		method   string
		target   string
		wantCode int
		wantErr  string
	}{
		{name: "control character", target: "/breakers/a%0Ab", wantCode: 400, wantErr: "invalid breaker name: must not contain control, format, invisible or line-separator characters, or spaces other than U+0020"},
		{name: "NUL", target: "/breakers/%00", wantCode: 400, wantErr: "invalid breaker name: must not contain control, format, invisible or line-separator characters, or spaces other than U+0020"},
		{name: "invalid UTF-8", target: "/breakers/%FF%FE", wantCode: 400, wantErr: "invalid breaker name: must be valid UTF-8"},
		{name: "too long", target: "/breakers/" + strings.Repeat("a", 256), wantCode: 400, wantErr: "invalid breaker name: must be at most 255 bytes"},
		{name: "hostile and invalid", target: "/breakers/" + url.PathEscape(hostile+"\n"), wantCode: 400, wantErr: "invalid breaker name: must not contain control, format, invisible or line-separator characters, or spaces other than U+0020"},
		{name: "invalid name in action", method: http.MethodPost, target: "/breakers/%0A/reset", wantCode: 400, wantErr: "invalid breaker name: must not contain control, format, invisible or line-separator characters, or spaces other than U+0020"},
		{name: "too deep", target: "/breakers/alpha/reset/now", wantCode: 404, wantErr: "not found"},
		{name: "trailing slash", target: "/breakers/alpha/", wantCode: 404, wantErr: "not found"},
		{name: "unknown action", method: http.MethodPost, target: "/breakers/beta/delete", wantCode: 404, wantErr: "not found"},
		{name: "unknown format", target: "/breakers/?format=%3Cxml%3E", wantCode: 400, wantErr: `unknown format: want "json" or "html"`},
		{name: "unknown format for a breaker", target: "/breakers/alpha?format=xml", wantCode: 400, wantErr: `unknown format: want "json" or "html"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			r := call(t, f.srv, method, tc.target, auth)
			assert.Equal(t, tc.wantCode, r.code, r.body)
			assert.NotContains(t, r.body, "<")
			assert.NotContains(t, r.body, "\n\"")
			if tc.wantErr != "" {
				var got map[string]string
				require.NoError(t, json.Unmarshal([]byte(r.body), &got), r.body)
				assert.Equal(t, map[string]string{"error": tc.wantErr}, got, "no input is echoed")
			}
			st, _ := f.state(t, "beta")
			assert.Equal(t, breaker.Open, st)
			assert.Equal(t, 4, f.reg.Len())
		})
	}
}

func TestStatusMethods(t *testing.T) {
	tests := []struct {
		name      string
		admin     bool
		method    string
		target    string
		wantCode  int
		wantAllow string
	}{
		{name: "POST list", method: http.MethodPost, target: "/breakers/", wantCode: 405, wantAllow: "GET, HEAD"},
		{name: "DELETE list", method: http.MethodDelete, target: "/breakers", wantCode: 405, wantAllow: "GET, HEAD"},
		{name: "PUT breaker", method: http.MethodPut, target: "/breakers/beta", wantCode: 405, wantAllow: "GET, HEAD"},
		{name: "POST breaker", admin: true, method: http.MethodPost, target: "/breakers/beta", wantCode: 405, wantAllow: "GET, HEAD"},
		{name: "GET reset", admin: true, method: http.MethodGet, target: "/breakers/beta/reset", wantCode: 405, wantAllow: "POST"},
		{name: "PUT reset", admin: true, method: http.MethodPut, target: "/breakers/beta/reset", wantCode: 405, wantAllow: "POST"},
		{name: "GET force-open", admin: true, method: http.MethodGet, target: "/breakers/alpha/force-open", wantCode: 405, wantAllow: "POST"},
		{name: "HEAD list", method: http.MethodHead, target: "/breakers/", wantCode: 200},
		{name: "HEAD breaker", method: http.MethodHead, target: "/breakers/beta", wantCode: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []httpbreaker.Option
			if tc.admin {
				opts = append(opts, httpbreaker.WithAdmin(bearer))
			}
			f := newFixture(t, opts...)
			r := call(t, f.srv, tc.method, tc.target, "Authorization: Bearer "+token)
			assert.Equal(t, tc.wantCode, r.code, r.body)
			assert.Equal(t, tc.wantAllow, r.header.Get("Allow"))
			st, forced := f.state(t, "beta")
			assert.Equal(t, breaker.Open, st, "nothing changed")
			assert.False(t, forced)
			st, _ = f.state(t, "alpha")
			assert.Equal(t, breaker.Closed, st, "nothing changed")
		})
	}
}

// Without WithAdmin the action paths do not exist: 404 for every method,
// even with credentials, and nothing changes.
func TestStatusAdminDisabled(t *testing.T) {
	f := newFixture(t)
	for _, method := range []string{http.MethodPost, http.MethodGet, http.MethodPut} {
		for _, target := range []string{"/breakers/beta/reset", "/breakers/alpha/force-open"} {
			t.Run(method+" "+target, func(t *testing.T) {
				r := call(t, f.srv, method, target, "Authorization: Bearer "+token)
				assert.Equal(t, http.StatusNotFound, r.code)
				assert.Empty(t, r.header.Get("Allow"))
			})
		}
	}
	st, _ := f.state(t, "beta")
	assert.Equal(t, breaker.Open, st)
	st, _ = f.state(t, "alpha")
	assert.Equal(t, breaker.Closed, st)
}

func TestStatusAdminActions(t *testing.T) {
	auth := "Authorization: Bearer " + token
	tests := []struct {
		name       string
		authorize  func(*http.Request) bool
		target     string
		header     []string
		wantCode   int
		wantBeta   breaker.State
		wantAlpha  breaker.State
		wantForced bool
		wantLoc    string
	}{
		{name: "no credentials", authorize: bearer, target: "/breakers/beta/reset", wantCode: 403, wantBeta: breaker.Open, wantAlpha: breaker.Closed},
		{name: "wrong token", authorize: bearer, target: "/breakers/alpha/force-open", header: []string{"Authorization: Bearer nope"}, wantCode: 403, wantBeta: breaker.Open, wantAlpha: breaker.Closed},
		{name: "nil authorize refuses", authorize: nil, target: "/breakers/beta/reset", header: []string{auth}, wantCode: 403, wantBeta: breaker.Open, wantAlpha: breaker.Closed},
		{name: "cross-site browser request", authorize: bearer, target: "/breakers/beta/reset", header: []string{auth, "Sec-Fetch-Site: cross-site"}, wantCode: 403, wantBeta: breaker.Open, wantAlpha: breaker.Closed},
		{name: "foreign origin", authorize: bearer, target: "/breakers/alpha/force-open", header: []string{auth, "Origin: https://evil.example"}, wantCode: 403, wantBeta: breaker.Open, wantAlpha: breaker.Closed},
		{name: "unknown breaker", authorize: bearer, target: "/breakers/nope/reset", header: []string{auth}, wantCode: 404, wantBeta: breaker.Open, wantAlpha: breaker.Closed},
		{name: "reset", authorize: bearer, target: "/breakers/beta/reset", header: []string{auth}, wantCode: 200, wantBeta: breaker.Closed, wantAlpha: breaker.Closed},
		{name: "force open", authorize: bearer, target: "/breakers/alpha/force-open", header: []string{auth}, wantCode: 200, wantBeta: breaker.Open, wantAlpha: breaker.Open, wantForced: true},
		{name: "same-origin form", authorize: bearer, target: "/breakers/beta/reset", header: []string{auth, "Sec-Fetch-Site: same-origin", "Accept: text/html"}, wantCode: 303, wantLoc: "../", wantBeta: breaker.Closed, wantAlpha: breaker.Closed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, httpbreaker.WithAdmin(tc.authorize))
			r := call(t, f.srv, http.MethodPost, tc.target, tc.header...)
			require.Equal(t, tc.wantCode, r.code, r.body)
			assert.Equal(t, tc.wantLoc, r.header.Get("Location"))
			beta, _ := f.state(t, "beta")
			alpha, forced := f.state(t, "alpha")
			assert.Equal(t, tc.wantBeta, beta)
			assert.Equal(t, tc.wantAlpha, alpha)
			assert.Equal(t, tc.wantForced, forced)
			assert.Equal(t, 4, f.reg.Len(), "the handler never creates breakers")
			if tc.wantCode == 200 {
				var s breaker.Stats
				require.NoError(t, json.Unmarshal([]byte(r.body), &s))
				assert.Equal(t, stats(t, f.reg, s.Name), s, "the new stats")
			}
		})
	}
}

var (
	rowRE  = regexp.MustCompile(`<tr data-breaker="([^"]*)" data-state="([^"]*)" data-forced="([^"]*)">`)
	hrefRE = regexp.MustCompile(`<a href="([^"]*)">`)
	formRE = regexp.MustCompile(`<form method="post" action="([^"]*)" data-admin>`)
)

// rows reads the page's breaker rows as name -> state.
func rows(t *testing.T, page string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range rowRE.FindAllStringSubmatch(page, -1) {
		out[html.UnescapeString(m[1])] = m[2]
	}
	return out
}

func TestStatusHTMLPage(t *testing.T) {
	tests := []struct {
		name   string
		admin  bool
		opts   []httpbreaker.Option
		target string
		accept string
	}{
		{name: "format=html", target: "/breakers/?format=html"},
		{name: "browser Accept", target: "/breakers/", accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		{name: "without trailing slash", target: "/breakers?format=html"},
		{name: "admin", admin: true, opts: []httpbreaker.Option{httpbreaker.WithAdmin(bearer)}, target: "/breakers/?format=html"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opts...)
			var hdr []string
			if tc.accept != "" {
				hdr = append(hdr, "Accept: "+tc.accept)
			}
			r := call(t, f.srv, http.MethodGet, tc.target, hdr...)
			require.Equal(t, http.StatusOK, r.code)
			assert.Equal(t, "text/html; charset=utf-8", r.header.Get("Content-Type"))
			assert.Contains(t, r.header.Get("Content-Security-Policy"), "default-src 'none'")
			assert.Contains(t, r.body, `<meta http-equiv="refresh" content="5">`)
			assert.Contains(t, r.body, `<table id="breakers" data-count="4">`)
			assert.Equal(t, map[string]string{
				"alpha": "closed", "beta": "open", "zeta/one": "closed", hostile: "open",
			}, rows(t, r.body))
			assert.Contains(t, r.body, `<td data-field="total_calls">2</td>`)
			assert.Contains(t, r.body, `<td data-field="last_failure_time"><time datetime="2026-01-15T10:00:00Z">`)

			assert.NotContains(t, r.body, hostile, "the hostile name is escaped")
			assert.Contains(t, r.body, `&lt;script&gt;alert(1)&lt;/script&gt;`)
			csp := r.header.Get("Content-Security-Policy")

			if tc.admin {
				assert.Equal(t, 4, strings.Count(r.body, `data-action="reset"`))
				assert.Equal(t, 4, strings.Count(r.body, `data-action="force-open"`))
				assert.Equal(t, 1, strings.Count(r.body, "<script"), "the page's own script, and nothing else")
				assert.Contains(t, r.body, `<input id="admin-token" type="password"`)
				assert.Regexp(t, `script-src 'sha256-[A-Za-z0-9+/]+=*'; connect-src 'self'$`, csp, "only that script may run")
				// A browser hashes the element's text exactly as served.
				script := r.body[strings.Index(r.body, "<script>")+len("<script>") : strings.Index(r.body, "</script>")]
				sum := sha256.Sum256([]byte(script))
				assert.Contains(t, csp, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
			} else {
				assert.NotContains(t, r.body, "<script")
				assert.NotContains(t, csp, "script-src", "no script may run")
				assert.NotContains(t, r.body, "data-action")
				assert.NotContains(t, r.body, "<form")
			}
		})
	}
}

func TestStatusHTMLSingleBreaker(t *testing.T) {
	f := newFixture(t)
	r := call(t, f.srv, http.MethodGet, "/breakers/beta?format=html")
	require.Equal(t, http.StatusOK, r.code)
	assert.Equal(t, map[string]string{"beta": "open"}, rows(t, r.body))
	assert.Contains(t, r.body, `data-forced="false"`)
}

func TestStatusHTMLForcedRow(t *testing.T) {
	f := newFixture(t)
	b, _ := f.reg.Lookup("alpha")
	b.ForceOpen()
	r := call(t, f.srv, http.MethodGet, "/breakers/?format=html")
	assert.Contains(t, r.body, `<tr data-breaker="alpha" data-state="open" data-forced="true">`)
	assert.Contains(t, r.body, `<td data-field="state">open (forced)</td>`)
}

func TestStatusRefreshInterval(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{d: 1500 * time.Millisecond, want: "2"},
		{d: time.Millisecond, want: "1"},
		{d: time.Minute, want: "60"},
		{d: 0, want: "5"},
		{d: -time.Second, want: "5"},
	}
	reg, _ := newRegistry(1)
	for _, tc := range tests {
		t.Run(tc.d.String(), func(t *testing.T) {
			h := httpbreaker.NewStatusHandler(reg, httpbreaker.WithRefreshInterval(tc.d))
			w := serve(h, httptest.NewRequest(http.MethodGet, "/?format=html", nil))
			assert.Contains(t, w.Body.String(), `<meta http-equiv="refresh" content="`+tc.want+`">`)
		})
	}
}

func TestStatusContentNegotiation(t *testing.T) {
	tests := []struct {
		accept string
		query  string
		html   bool
	}{
		{accept: "", html: false},
		{accept: "*/*", html: false},
		{accept: "application/json", html: false},
		{accept: "text/html", html: true},
		{accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", html: true},
		{accept: "application/json, text/html;q=0.5", html: false},
		{accept: "text/html;q=0.9, application/json;q=0.1", html: true},
		{accept: "text/html;q=0", html: false},
		{accept: "TEXT/HTML", html: true},
		{accept: "bad/, text/html", html: true},
		{accept: "text/html;q=2, application/json;q=0.5", html: true},
		{accept: "text/html", query: "format=json", html: false},
		{accept: "application/json", query: "format=html", html: true},
	}
	reg, _ := newRegistry(1)
	h := httpbreaker.NewStatusHandler(reg)
	for _, tc := range tests {
		t.Run(tc.accept+"?"+tc.query, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/?"+tc.query, nil)
			if tc.accept != "" {
				r.Header.Set("Accept", tc.accept)
			}
			w := serve(h, r)
			require.Equal(t, http.StatusOK, w.Code)
			if tc.html {
				assert.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
			} else {
				assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			}
			if tc.query == "" {
				assert.Equal(t, "Accept", w.Header().Get("Vary"))
			}
		})
	}
}

// The page's links and forms lead to the right place wherever the handler
// is mounted.
func TestStatusMountPoints(t *testing.T) {
	tests := []struct {
		name  string
		mount func(h http.Handler) http.Handler
		list  []string // paths that list the breakers
		base  string   // the path of the breakers' own URLs
	}{
		{
			name:  "root",
			mount: func(h http.Handler) http.Handler { return h },
			list:  []string{"/"},
			base:  "/",
		},
		{
			name: "StripPrefix /breakers, both patterns",
			mount: func(h http.Handler) http.Handler {
				mux := http.NewServeMux()
				s := http.StripPrefix("/breakers", h)
				mux.Handle("/breakers", s)
				mux.Handle("/breakers/", s)
				return mux
			},
			list: []string{"/breakers", "/breakers/"},
			base: "/breakers/",
		},
		{
			name: "StripPrefix /breakers/",
			mount: func(h http.Handler) http.Handler {
				mux := http.NewServeMux()
				mux.Handle("/breakers/", http.StripPrefix("/breakers/", h))
				return mux
			},
			list: []string{"/breakers/"},
			base: "/breakers/",
		},
		{
			name: "nested prefixes",
			mount: func(h http.Handler) http.Handler {
				inner := http.NewServeMux()
				s := http.StripPrefix("/cb", h)
				inner.Handle("/cb", s)
				inner.Handle("/cb/", s)
				outer := http.NewServeMux()
				outer.Handle("/ops/", http.StripPrefix("/ops", inner))
				return outer
			},
			list: []string{"/ops/cb", "/ops/cb/"},
			base: "/ops/cb/",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg, _ := newRegistry(1)
			for _, n := range []string{"alpha", "a/b", "x:y", hostile} {
				_, err := reg.Get(n)
				require.NoError(t, err)
			}
			srv := httptest.NewServer(tc.mount(httpbreaker.NewStatusHandler(reg, httpbreaker.WithAdmin(bearer))))
			defer srv.Close()
			for _, list := range tc.list {
				r := call(t, srv, http.MethodGet, list)
				require.Equal(t, http.StatusOK, r.code, r.body)
				assert.Len(t, decodeList(t, r.body), 4)

				r = call(t, srv, http.MethodGet, list+"?format=html")
				require.Equal(t, http.StatusOK, r.code)
				links := hrefRE.FindAllStringSubmatch(r.body, -1)
				require.Len(t, links, 4)
				for _, l := range links {
					ref, err := url.Parse(html.UnescapeString(l[1]))
					require.NoError(t, err)
					target := r.url.ResolveReference(ref)
					assert.True(t, strings.HasPrefix(target.EscapedPath(), tc.base), target.EscapedPath())
					got := call(t, srv, http.MethodGet, target.RequestURI())
					require.Equal(t, http.StatusOK, got.code, "%s: %s", target, got.body)
					var s breaker.Stats
					require.NoError(t, json.Unmarshal([]byte(got.body), &s))
					assert.Equal(t, strings.TrimPrefix(target.EscapedPath(), tc.base), url.PathEscape(s.Name))
				}
				forms := formRE.FindAllStringSubmatch(r.body, -1)
				require.Len(t, forms, 8)
				for _, m := range forms {
					ref, err := url.Parse(html.UnescapeString(m[1]))
					require.NoError(t, err)
					target := r.url.ResolveReference(ref)
					got := call(t, srv, http.MethodPost, target.RequestURI(), "Authorization: Bearer "+token, "Accept: text/html", "Sec-Fetch-Site: same-origin")
					require.Equal(t, http.StatusSeeOther, got.code, "%s: %s", target, got.body)
					loc, err := url.Parse(got.header.Get("Location"))
					require.NoError(t, err)
					assert.Equal(t, tc.base, target.ResolveReference(loc).Path, "back to the list")
				}
			}
		})
	}
}

// Called directly, without a server's RequestURI, the handler still links
// relative to the request's path.
func TestStatusLinksWithoutRequestURI(t *testing.T) {
	reg, _ := newRegistry(1)
	_, err := reg.Get("alpha")
	require.NoError(t, err)
	h := httpbreaker.NewStatusHandler(reg)
	for _, path := range []string{"", "/"} {
		r := httptest.NewRequest(http.MethodGet, "/?format=html", nil)
		r.URL.Path, r.RequestURI = path, ""
		w := serve(h, r)
		assert.Contains(t, w.Body.String(), `<a href="./alpha">`, "path %q", path)
	}
}

func TestNewStatusHandlerNilRegistryPanics(t *testing.T) {
	assert.Panics(t, func() { httpbreaker.NewStatusHandler(nil) })
}

// BearerToken accepts exactly "Bearer <token>"; an empty token accepts
// nothing, not even a bare "Bearer " header.
func TestBearerToken(t *testing.T) {
	req := func(h string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/x/reset", nil)
		if h != "" {
			r.Header.Set("Authorization", h)
		}
		return r
	}
	ok := httpbreaker.BearerToken("s3cret")
	assert.True(t, ok(req("Bearer s3cret")))
	for _, h := range []string{"", "Bearer ", "Bearer s3cre", "Bearer s3cret ", "bearer s3cret", "s3cret"} {
		assert.False(t, ok(req(h)), "%q", h)
	}
	empty := httpbreaker.BearerToken("")
	for _, h := range []string{"", "Bearer ", "Bearer"} {
		assert.False(t, empty(req(h)), "an empty token accepts %q", h)
	}
}
