package httpbreaker

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"

	"github.com/fusebox-go/fusebox/breaker"
)

// NewHandler returns a handler that serves each request with h through b.
//
// When b rejects a request, h is not called: the handler answers 503 Service
// Unavailable with a Retry-After header giving [breaker.OpenError.RetryAfter]
// in whole seconds, rounded up, at least 1. Otherwise h runs and its outcome
// is recorded: a response with a 5xx status is a failure (see
// [WithFailurePredicate] to change that), and so is a panic, which is
// re-raised with its original value so that net/http handles it as usual
// (an [http.ErrAbortHandler] still aborts the response quietly). A failing
// response written after the client went away (the request's context
// cancelled) is ignored rather than counted, and so is an
// http.ErrAbortHandler panic raised then, as httputil.ReverseProxy does
// when the client disconnects mid-body: a client hanging up is no verdict
// on the dependency.
//
// A half-open trial reaches h with a request whose context reports
// [breaker.IsTrial], so that a retry.Policy through which h calls its own
// dependency makes one attempt rather than hold the trial through its
// backoff waits.
//
// The ResponseWriter given to h supports [http.Flusher] and [http.Hijacker]
// when the server's does, and [http.ResponseController] reaches the
// server's through its Unwrap method. A hijacked connection counts as a
// success unless a 5xx status was written first.
//
// NewHandler panics if b or h is nil.
func NewHandler(b *breaker.Breaker, h http.Handler, opts ...Option) http.Handler {
	if b == nil || h == nil {
		panic("httpbreaker: NewHandler with a nil breaker or handler")
	}
	c := newConfig(opts)
	return &protected{b: b, next: h, isFailure: c.isFailure}
}

type protected struct {
	b         *breaker.Breaker
	next      http.Handler
	isFailure func(*http.Response, error) bool // nil: status >= 500
}

func (p *protected) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pm, err := p.b.Allow(r.Context())
	if err != nil {
		retry := int64(1)
		var oe *breaker.OpenError
		if errors.As(err, &oe) {
			retry = wholeSeconds(oe.RetryAfter())
		}
		w.Header().Set("Retry-After", strconv.FormatInt(retry, 10))
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		return
	}
	if ctx := pm.Context(); ctx != r.Context() {
		// A half-open trial: the handler sees breaker.IsTrial, so that a
		// retry.Policy inside it makes one attempt.
		r = r.WithContext(ctx)
	}
	served := false
	defer func() {
		// Only if nothing below finished the permit: a handler that called
		// runtime.Goexit (no verdict on the dependency), or a failure
		// predicate that panicked or exited (a failure, as for Execute).
		if !served {
			pm.Ignore()
		} else {
			pm.Done(errPredicatePanicked)
		}
	}()
	sw := &statusWriter{ResponseWriter: w}
	aborted := p.serve(&pm, sw, r)
	served = true
	if aborted != nil {
		panic(aborted) // as net/http expects: abort the response quietly
	}
	code := sw.code
	if code == 0 {
		code = http.StatusOK // what net/http sends when nothing was written
	}
	if p.failed(sw, r, code) {
		pm.Done(&StatusError{StatusCode: code})
		return
	}
	pm.Done(nil)
}

// errPredicatePanicked is what the breaker sees when the failure predicate
// panicked; the panic goes on to net/http.
var errPredicatePanicked = &breaker.PanicError{Value: "httpbreaker: the failure predicate panicked"}

// serve runs the handler. A panic is recorded as a failure and re-raised,
// except the http.ErrAbortHandler panic of a handler whose client has gone
// (a reverse proxy raises it when the client disconnects mid-body): that
// call is ignored, not counted as a failure of the dependency, and the
// panic value is returned for ServeHTTP to re-raise.
func (p *protected) serve(pm *breaker.Permit, w http.ResponseWriter, r *http.Request) (aborted any) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler && r.Context().Err() != nil {
				pm.Ignore()
				aborted = v
				return
			}
			pm.Done(&breaker.PanicError{Value: v})
			panic(v)
		}
	}()
	p.next.ServeHTTP(w, r)
	return nil
}

func (p *protected) failed(sw *statusWriter, r *http.Request, code int) bool {
	if p.isFailure == nil {
		return code >= 500
	}
	return p.isFailure(&http.Response{
		Status:     strconv.Itoa(code) + " " + http.StatusText(code),
		StatusCode: code,
		Proto:      r.Proto,
		ProtoMajor: r.ProtoMajor,
		ProtoMinor: r.ProtoMinor,
		Header:     sw.Header(),
		Body:       http.NoBody,
		Request:    r,
	}, nil)
}

// statusWriter records the final status a handler writes.
type statusWriter struct {
	http.ResponseWriter
	code int // 0 until a final (non-1xx) status is written
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && (code < 100 || code > 199 || code == http.StatusSwitchingProtocols) {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Flush sends buffered data to the client, as [http.Flusher] does; it does
// nothing when the server's ResponseWriter cannot flush.
func (w *statusWriter) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack takes over the connection, as [http.Hijacker] does; it returns an
// error wrapping [http.ErrNotSupported] when the server's ResponseWriter
// cannot be hijacked.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap returns the server's ResponseWriter, for [http.ResponseController].
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
