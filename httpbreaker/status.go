package httpbreaker

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
)

// The admin actions of the status handler, as the last path segment.
const (
	actionReset     = "reset"
	actionForceOpen = "force-open"
)

// NewStatusHandler returns a handler that shows the breakers of reg. Paths
// are relative to where it is mounted; it works at the root of a server or
// under a prefix removed by [http.StripPrefix], with or without the
// trailing slash (both /breakers and /breakers/ list the breakers when
// stripped of "/breakers"). Names in paths are path-escaped: a name holding
// "/" is written %2F.
//
//	GET  /                  every breaker's stats, sorted by name
//	GET  /{name}            one breaker's stats (404 if reg has no such breaker)
//	POST /{name}/reset      Reset the breaker      (only with WithAdmin)
//	POST /{name}/force-open ForceOpen the breaker  (only with WithAdmin)
//
// GET (and HEAD) answer JSON by default: a [breaker.Stats] object, or an
// array of them for the list. They answer an HTML page instead when the
// query has format=html, or when it has no format parameter and the Accept
// header prefers text/html to application/json, as browsers' does
// (format=json forces JSON). The page reloads itself (see
// [WithRefreshInterval]) and marks each breaker's row for scripts and
// browser tests:
//
//	<table id="breakers" data-count="2">
//	<tr data-breaker="{name}" data-state="closed|open|half_open" data-forced="true|false">
//	<td data-field="failure_count">3</td> (also name, state, success_count, total_calls,
//	    total_successes, total_failures, total_rejected, total_ignored,
//	    last_failure_time, last_state_change)
//	<button data-action="reset|force-open"> (only with WithAdmin)
//	<input id="admin-token">, <span id="action-status"> (only with WithAdmin)
//
// With [WithAdmin] the page has a field for an admin token: a browser
// cannot add an Authorization header to a form post, so the page's one
// script (allowed by hash in its Content-Security-Policy, and kept in the
// tab's sessionStorage) sends each action with fetch and "Authorization:
// Bearer <token>", reloads on success and shows the refusal otherwise.
// With the field left empty the action is posted as a plain form, for an
// authorize function that reads a cookie instead.
//
// Without [WithAdmin] the action paths do not exist: they answer 404 to any
// method. With it, they answer 405 to any method but POST, and 403 unless
// the authorize function approves the request and the request is not a
// cross-origin browser request. A successful action answers 200 with the
// breaker's new stats as JSON, or 303 See Other back to the list when the
// request prefers HTML (as a form in the page does). A refused action
// changes nothing.
//
// Other errors: 400 for a name that is not a valid breaker name (see
// [breaker.ValidateName]) or not a valid path escape, or an unknown format;
// 404 for an unknown name or path; 405 (with an Allow header) for a method
// that the path does not accept. Error bodies are JSON objects with an
// "error" key. Names are escaped wherever they are echoed: JSON encoding
// (which also escapes <, > and &), html/template for HTML. The handler never
// creates a breaker. Every response carries Cache-Control: no-store.
//
// NewStatusHandler panics if reg is nil.
func NewStatusHandler(reg *breaker.Registry, opts ...Option) http.Handler {
	if reg == nil {
		panic("httpbreaker: NewStatusHandler with a nil registry")
	}
	c := newConfig(opts)
	return &status{
		reg:       reg,
		admin:     c.admin,
		authorize: c.authorize,
		refresh:   wholeSeconds(c.refresh),
		cop:       http.NewCrossOriginProtection(),
	}
}

type status struct {
	reg       *breaker.Registry
	admin     bool
	authorize func(*http.Request) bool
	refresh   int64
	cop       *http.CrossOriginProtection
}

func (s *status) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/")
	if rest == "" {
		s.list(w, r)
		return
	}
	seg := strings.Split(rest, "/")
	if len(seg) > 2 {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	name, err := url.PathUnescape(seg[0])
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid escape in breaker name")
		return
	}
	if len(seg) == 1 {
		s.one(w, r, name)
		return
	}
	s.act(w, r, name, seg[1])
}

func (s *status) list(w http.ResponseWriter, r *http.Request) {
	if !readMethod(w, r) {
		return
	}
	html, ok := wantHTML(w, r)
	if !ok {
		return
	}
	all := s.reg.All()
	stats := make([]breaker.Stats, len(all))
	for i, b := range all {
		stats[i] = b.Stats()
	}
	if html {
		base := "./"
		orig := requestPath(r)
		if last := orig[strings.LastIndex(orig, "/")+1:]; last != "" {
			// Mounted without the trailing slash: links must name the
			// mount point's last segment to stay under it.
			base = "./" + last + "/"
		}
		s.page(w, base, stats)
		return
	}
	writeJSON(w, http.StatusOK, stats)
}

func (s *status) one(w http.ResponseWriter, r *http.Request, name string) {
	if !readMethod(w, r) {
		return
	}
	b, ok := s.lookup(w, name)
	if !ok {
		return
	}
	html, ok := wantHTML(w, r)
	if !ok {
		return
	}
	if html {
		s.page(w, "./", []breaker.Stats{b.Stats()})
		return
	}
	writeJSON(w, http.StatusOK, b.Stats())
}

func (s *status) act(w http.ResponseWriter, r *http.Request, name, action string) {
	if !s.admin || (action != actionReset && action != actionForceOpen) {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if s.authorize == nil || !s.authorize(r) {
		writeError(w, http.StatusForbidden, "forbidden")
		return
	}
	if err := s.cop.Check(r); err != nil {
		writeError(w, http.StatusForbidden, "cross-origin request refused")
		return
	}
	b, ok := s.lookup(w, name)
	if !ok {
		return
	}
	switch action {
	case actionReset:
		b.Reset()
	case actionForceOpen:
		b.ForceOpen()
	}
	if prefersHTML(r) {
		// Back to the list: from {mount}/{name}/{action} that is "../".
		w.Header().Set("Location", "../")
		w.WriteHeader(http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, b.Stats())
}

// lookup finds the breaker named name, answering 400 or 404 if there is
// none.
func (s *status) lookup(w http.ResponseWriter, name string) (*breaker.Breaker, bool) {
	if err := breaker.ValidateName(name); err != nil {
		msg := "invalid breaker name"
		var ce *breaker.ConfigError
		if errors.As(err, &ce) {
			msg += ": " + ce.Reason
		}
		writeError(w, http.StatusBadRequest, msg)
		return nil, false
	}
	b, ok := s.reg.Lookup(name)
	if !ok {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "no such breaker", Name: name})
		return nil, false
	}
	return b, true
}

// readMethod accepts GET and HEAD, answering 405 to anything else.
func readMethod(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	return false
}

// wantHTML decides between HTML and JSON for a read, answering 400 to an
// unknown format.
func wantHTML(w http.ResponseWriter, r *http.Request) (html, ok bool) {
	switch r.URL.Query().Get("format") {
	case "html":
		return true, true
	case "json":
		return false, true
	case "":
		w.Header().Add("Vary", "Accept")
		return prefersHTML(r), true
	}
	writeError(w, http.StatusBadRequest, `unknown format: want "json" or "html"`)
	return false, false
}

// prefersHTML reports whether the Accept header gives text/html a higher
// quality than application/json. Wildcards count for neither, so "*/*"
// and no header at all mean JSON.
func prefersHTML(r *http.Request) bool {
	var qHTML, qJSON float64
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			mt, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 && f <= 1 {
					q = f
				}
			}
			switch mt {
			case "text/html":
				qHTML = max(qHTML, q)
			case "application/json":
				qJSON = max(qJSON, q)
			}
		}
	}
	return qHTML > qJSON
}

// requestPath returns the escaped path the client asked for, before any
// http.StripPrefix.
func requestPath(r *http.Request) string {
	if r.RequestURI != "" {
		if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
			return u.EscapedPath()
		}
	}
	return r.URL.EscapedPath()
}

type errorBody struct {
	Error string `json:"error"`
	Name  string `json:"name,omitempty"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client may have gone; nothing else to tell it
}

// row is one breaker on the HTML page.
type row struct {
	breaker.Stats
	Link, Reset, ForceOpen string
}

type pageData struct {
	Refresh int64
	Admin   bool
	Rows    []row
}

// adminScript is the page's one script, present with WithAdmin: it sends
// an action with the token the operator typed in as a Bearer
// Authorization header (a form post cannot send a header), keeping the
// token in the tab's sessionStorage across the page's reloads. Without a
// token it lets the form post as it is, for an authorize function that
// reads a cookie. The Content-Security-Policy allows exactly this script,
// by its hash.
const adminScript = `
(function () {
  var input = document.getElementById("admin-token");
  var status = document.getElementById("action-status");
  try { input.value = sessionStorage.getItem("fusebox-admin-token") || ""; } catch (e) {}
  input.addEventListener("input", function () {
    try { sessionStorage.setItem("fusebox-admin-token", input.value); } catch (e) {}
  });
  document.querySelectorAll("form[data-admin]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      var token = input.value.trim();
      if (!token) { return; }
      ev.preventDefault();
      status.textContent = "";
      fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Authorization": "Bearer " + token, "Accept": "application/json" }
      }).then(function (resp) {
        if (resp.ok) { location.reload(); return; }
        return resp.json().then(function (body) {
          status.textContent = resp.status + ": " + (body && body.error || resp.statusText);
          status.dataset.code = String(resp.status);
        });
      }).catch(function (err) {
        status.textContent = String(err);
      });
    });
  });
})();
`

// adminScriptHash is the CSP source that allows adminScript.
var adminScriptHash = func() string {
	sum := sha256.Sum256([]byte(adminScript))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

func (s *status) page(w http.ResponseWriter, base string, stats []breaker.Stats) {
	d := pageData{Refresh: s.refresh, Admin: s.admin, Rows: make([]row, len(stats))}
	for i, st := range stats {
		link := base + url.PathEscape(st.Name)
		d.Rows[i] = row{Stats: st, Link: link, Reset: link + "/" + actionReset, ForceOpen: link + "/" + actionForceOpen}
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	csp := "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	if s.admin {
		csp += "; script-src " + adminScriptHash + "; connect-src 'self'"
	}
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "no-referrer")
	_ = pageTemplate.Execute(w, d) // the data cannot fail to render; a write error means the client went away
}

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"when":   when,
	"script": func() template.JS { return template.JS(adminScript) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="{{.Refresh}}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Circuit breakers</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1f2328}
table{border-collapse:collapse}
th,td{padding:.3rem .7rem;border-bottom:1px solid #d0d7de;text-align:right}
th:first-child,td[data-field=name],td[data-field=state]{text-align:left}
tr[data-state=closed] td[data-field=state]{color:#1a7f37}
tr[data-state=open] td[data-field=state]{color:#cf222e;font-weight:bold}
tr[data-state=half_open] td[data-field=state]{color:#9a6700;font-weight:bold}
form{display:inline}
</style>
</head>
<body>
<h1>Circuit breakers</h1>
<p>This page reloads every {{.Refresh}}s.</p>
{{- if .Admin}}
<p><label>Admin token <input id="admin-token" type="password" autocomplete="off" size="32"></label>
<span id="action-status" role="status"></span></p>
{{- end}}
<table id="breakers" data-count="{{len .Rows}}">
<thead><tr><th>Name</th><th>State</th><th>Consecutive failures</th><th>Trial successes</th><th>Calls</th><th>Successes</th><th>Failures</th><th>Rejected</th><th>Ignored</th><th>Last failure</th><th>Last state change</th>{{if .Admin}}<th>Actions</th>{{end}}</tr></thead>
<tbody>
{{- range .Rows}}
<tr data-breaker="{{.Name}}" data-state="{{.State}}" data-forced="{{.Forced}}">
<td data-field="name"><a href="{{.Link}}">{{.Name}}</a></td>
<td data-field="state">{{.State}}{{if .Forced}} (forced){{end}}</td>
<td data-field="failure_count">{{.FailureCount}}</td>
<td data-field="success_count">{{.SuccessCount}}</td>
<td data-field="total_calls">{{.TotalCalls}}</td>
<td data-field="total_successes">{{.TotalSuccesses}}</td>
<td data-field="total_failures">{{.TotalFailures}}</td>
<td data-field="total_rejected">{{.TotalRejected}}</td>
<td data-field="total_ignored">{{.TotalIgnored}}</td>
<td data-field="last_failure_time">{{with when .LastFailureTime}}<time datetime="{{.}}">{{.}}</time>{{end}}</td>
<td data-field="last_state_change">{{with when .LastStateChange}}<time datetime="{{.}}">{{.}}</time>{{end}}</td>
{{- if $.Admin}}
<td data-field="actions"><form method="post" action="{{.Reset}}" data-admin><button type="submit" data-action="reset">Reset</button></form> <form method="post" action="{{.ForceOpen}}" data-admin><button type="submit" data-action="force-open">Force open</button></form></td>
{{- end}}
</tr>
{{- else}}
<tr data-empty="true"><td colspan="{{if .Admin}}12{{else}}11{{end}}">No breakers yet.</td></tr>
{{- end}}
</tbody>
</table>
{{- if .Admin}}
<script>{{script}}</script>
{{- end}}
</body>
</html>
`))
