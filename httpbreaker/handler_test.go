package httpbreaker_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/httpbreaker"
)

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func get() *http.Request { return httptest.NewRequest(http.MethodGet, "/", nil) }

func TestHandlerCountsOutcomes(t *testing.T) {
	write := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
	}
	teapot := httpbreaker.WithFailurePredicate(func(resp *http.Response, err error) bool {
		return err == nil && resp.StatusCode == http.StatusTeapot && resp.Request != nil && resp.Header.Get("X-Why") == "tea"
	})
	tests := []struct {
		name     string
		h        http.HandlerFunc
		opts     []httpbreaker.Option
		wantCode int
		want     totals
	}{
		{name: "200", h: write(200), wantCode: 200, want: totals{Successes: 1}},
		{name: "Write without WriteHeader", h: func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hi") }, wantCode: 200, want: totals{Successes: 1}},
		{name: "nothing written", h: func(http.ResponseWriter, *http.Request) {}, wantCode: 200, want: totals{Successes: 1}},
		{name: "404 is not a failure", h: write(404), wantCode: 404, want: totals{Successes: 1}},
		{name: "500", h: write(500), wantCode: 500, want: totals{Failures: 1}},
		{name: "503", h: write(503), wantCode: 503, want: totals{Failures: 1}},
		{name: "http.Error 502", h: func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "bad", http.StatusBadGateway) }, wantCode: 502, want: totals{Failures: 1}},
		{name: "only the first status counts", h: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200); w.WriteHeader(500) }, wantCode: 200, want: totals{Successes: 1}},
		{name: "1xx then 500", h: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(103); w.WriteHeader(500) }, wantCode: 103, want: totals{Failures: 1}},
		{
			name: "custom predicate sees status and header",
			h: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("X-Why", "tea")
				w.WriteHeader(http.StatusTeapot)
			},
			opts: []httpbreaker.Option{teapot}, wantCode: 418, want: totals{Failures: 1},
		},
		{name: "custom predicate: 500 not counted", h: write(500), opts: []httpbreaker.Option{teapot}, wantCode: 500, want: totals{Successes: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg, _ := newRegistry(5)
			b, err := reg.Get("svc")
			require.NoError(t, err)
			w := serve(httpbreaker.NewHandler(b, tc.h, tc.opts...), get())
			assert.Equal(t, tc.wantCode, w.Code)
			assert.Equal(t, tc.want, totalsOf(b.Stats()))
		})
	}
}

func TestHandlerRejectsWith503AndRetryAfter(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(b *breaker.Breaker, clock *breakertest.Clock)
		want    string
	}{
		{name: "just opened", prepare: func(*breaker.Breaker, *breakertest.Clock) {}, want: "30"},
		{name: "10s later", prepare: func(_ *breaker.Breaker, c *breakertest.Clock) { c.Advance(10 * time.Second) }, want: "20"},
		{name: "rounded up", prepare: func(_ *breaker.Breaker, c *breakertest.Clock) { c.Advance(10*time.Second + time.Millisecond) }, want: "20"},
		{name: "at least one second", prepare: func(_ *breaker.Breaker, c *breakertest.Clock) { c.Advance(30*time.Second - time.Nanosecond) }, want: "1"},
		{name: "forced open", prepare: func(b *breaker.Breaker, c *breakertest.Clock) { b.ForceOpen(); c.Advance(time.Hour) }, want: "30"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg, clock := newRegistry(1)
			b, err := reg.Get("svc")
			require.NoError(t, err)
			var calls atomic.Int64
			h := httpbreaker.NewHandler(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				calls.Add(1)
				w.WriteHeader(http.StatusInternalServerError)
			}))
			require.Equal(t, 500, serve(h, get()).Code)
			require.Equal(t, breaker.Open, b.State())
			tc.prepare(b, clock)

			w := serve(h, get())
			assert.Equal(t, http.StatusServiceUnavailable, w.Code)
			assert.Equal(t, tc.want, w.Header().Get("Retry-After"))
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			assert.Equal(t, int64(1), calls.Load(), "the handler is not called")
			assert.Equal(t, uint64(1), b.Stats().TotalRejected)
		})
	}
}

// A half-open breaker whose trial slots are taken rejects with
// OpenError.RetryAfter zero; the header still says 1.
func TestHandlerRetryAfterWhileHalfOpen(t *testing.T) {
	reg, clock := newRegistry(1) // one trial at a time
	b, err := reg.Get("svc")
	require.NoError(t, err)
	require.Error(t, b.Execute(context.Background(), func(context.Context) error { return errors.New("down") }))
	clock.Advance(30 * time.Second)

	var h http.Handler
	var nested *httptest.ResponseRecorder
	h = httpbreaker.NewHandler(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if nested == nil { // the trial: a second request arrives while it runs
			nested = serve(h, get())
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	assert.Equal(t, http.StatusNoContent, serve(h, get()).Code)
	require.NotNil(t, nested)
	assert.Equal(t, http.StatusServiceUnavailable, nested.Code)
	assert.Equal(t, "1", nested.Header().Get("Retry-After"))
	assert.Equal(t, breaker.Closed, b.State(), "the trial succeeded")
}

func TestHandlerPanicIsCountedAndRepanicked(t *testing.T) {
	tests := []struct {
		name  string
		value any
	}{
		{name: "string", value: "boom"},
		{name: "ErrAbortHandler", value: http.ErrAbortHandler},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg, _ := newRegistry(5)
			b, err := reg.Get("svc")
			require.NoError(t, err)
			h := httpbreaker.NewHandler(b, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(tc.value) }))
			assert.PanicsWithValue(t, tc.value, func() { serve(h, get()) })
			assert.Equal(t, totals{Failures: 1}, totalsOf(b.Stats()))
		})
	}
}

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// Through a real server, net/http sees the original panic value: it logs a
// panic and stays quiet for http.ErrAbortHandler, and aborts the response
// either way.
func TestHandlerPanicReachesNetHTTP(t *testing.T) {
	tests := []struct {
		name    string
		value   any
		wantLog string
	}{
		{name: "panic is logged", value: "boom", wantLog: "boom"},
		{name: "ErrAbortHandler is not logged", value: http.ErrAbortHandler, wantLog: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg, _ := newRegistry(5)
			b, err := reg.Get("svc")
			require.NoError(t, err)
			var logs syncBuffer
			srv := httptest.NewUnstartedServer(httpbreaker.NewHandler(b, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
				panic(tc.value)
			})))
			srv.Config.ErrorLog = log.New(&logs, "", 0)
			srv.Start()

			resp, err := srv.Client().Get(srv.URL)
			if resp != nil {
				resp.Body.Close()
			}
			require.Error(t, err, "the response was aborted")
			srv.Close() // waits for the handler's goroutine
			assert.Equal(t, totals{Failures: 1}, totalsOf(b.Stats()))
			if tc.wantLog == "" {
				assert.Empty(t, logs.String())
			} else {
				assert.Contains(t, logs.String(), tc.wantLog)
			}
		})
	}
}

func TestHandlerIgnoresFailureAfterClientLeft(t *testing.T) {
	reg, _ := newRegistry(1)
	b, err := reg.Get("svc")
	require.NoError(t, err)
	h := httpbreaker.NewHandler(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	serve(h, get().WithContext(ctx))
	assert.Equal(t, totals{Ignored: 1}, totalsOf(b.Stats()))
	assert.Equal(t, breaker.Closed, b.State())
}

// A reverse proxy aborts with http.ErrAbortHandler when its client hangs
// up; that must not count against the dependency, and the panic must still
// reach net/http.
func TestHandlerAbortAfterClientLeftIsIgnored(t *testing.T) {
	reg, _ := newRegistry(1)
	b, err := reg.Get("svc")
	require.NoError(t, err)
	h := httpbreaker.NewHandler(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		panic(http.ErrAbortHandler)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 3 {
		assert.PanicsWithValue(t, http.ErrAbortHandler, func() { serve(h, get().WithContext(ctx)) })
	}
	assert.Equal(t, totals{Ignored: 3}, totalsOf(b.Stats()))
	assert.Equal(t, breaker.Closed, b.State(), "three clients hanging up do not open the breaker")
}

func TestHandlerResponseWriterInterfaces(t *testing.T) {
	reg, _ := newRegistry(5)
	b, err := reg.Get("svc")
	require.NoError(t, err)
	var flushed, hijackErr, controllerErr error
	h := httpbreaker.NewHandler(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		f, ok := w.(http.Flusher)
		if !ok {
			flushed = errors.New("not a Flusher")
			return
		}
		f.Flush()
		if hj, ok := w.(http.Hijacker); ok {
			_, _, hijackErr = hj.Hijack()
		}
		controllerErr = http.NewResponseController(w).Flush()
	}))
	w := serve(h, get())
	require.NoError(t, flushed)
	assert.True(t, w.Flushed)
	assert.ErrorIs(t, hijackErr, http.ErrNotSupported, "a recorder cannot be hijacked")
	assert.NoError(t, controllerErr, "ResponseController reaches the recorder")
	assert.Equal(t, totals{Successes: 1}, totalsOf(b.Stats()), "a flush sends 200")
}

// Over a real connection, Hijack and deadlines reach the server's ResponseWriter.
func TestHandlerHijack(t *testing.T) {
	reg, _ := newRegistry(5)
	b, err := reg.Get("svc")
	require.NoError(t, err)
	srv := httptest.NewServer(httpbreaker.NewHandler(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// ResponseController reaches the server's ResponseWriter through
		// Unwrap.
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
		_ = buf.Flush()
	})))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "hijacked", string(body))
}

func TestNewHandlerNilPanics(t *testing.T) {
	reg, _ := newRegistry(5)
	b, err := reg.Get("svc")
	require.NoError(t, err)
	assert.Panics(t, func() { httpbreaker.NewHandler(nil, http.NotFoundHandler()) })
	assert.Panics(t, func() { httpbreaker.NewHandler(b, nil) })
}

// Retry-After used to be computed as (d+1s-1)/1s, which wraps for the
// longest recovery timeouts (math.MaxInt64 sent "Retry-After: 1"). It now
// saturates, and so does the status page's refresh.
func TestRetryAfterSaturatesForHugeDurations(t *testing.T) {
	reg, _ := newRegistry(1, breaker.WithRecoveryTimeout(math.MaxInt64))
	b, err := reg.Get("svc")
	require.NoError(t, err)
	h := httpbreaker.NewHandler(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	require.Equal(t, 500, serve(h, get()).Code)
	w := serve(h, get())
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, "9223372037", w.Header().Get("Retry-After"), "math.MaxInt64 ns, rounded up to whole seconds")

	page := httpbreaker.NewStatusHandler(reg, httpbreaker.WithRefreshInterval(math.MaxInt64))
	req := httptest.NewRequest(http.MethodGet, "/?format=html", nil)
	rec := httptest.NewRecorder()
	page.ServeHTTP(rec, req)
	assert.Contains(t, rec.Body.String(), `content="9223372037"`)
}

// A panicking wrapped transport is a failure of the host, recorded before
// the panic goes on to the caller.
func TestTransportPanicIsAFailure(t *testing.T) {
	reg, _ := newRegistry(1)
	tr := httpbreaker.NewTransport(reg, roundTripFunc(func(*http.Request) (*http.Response, error) { panic("transport bug") }))
	req, err := http.NewRequest(http.MethodGet, "http://example.test/", nil)
	require.NoError(t, err)
	assert.PanicsWithValue(t, "transport bug", func() { _, _ = tr.RoundTrip(req) })
	s := stats(t, reg, "example.test")
	assert.Equal(t, uint64(1), s.TotalFailures)
	assert.Equal(t, breaker.Open, s.State)
}

// NewHandler calls the WithFailurePredicate function after
// the handler returned, with no deferred Done. A predicate that panics
// (net/http recovers the panic and the server goes on) leaves the permit
// unfinished: in the closed state the call counts nowhere, and a half-open
// trial keeps its slot, so the breaker rejects every request until Reset
// (WithHalfOpenMaxWait is not set). Transport defers Done for the same
// case, and the breaker itself records a panicking predicate as a failure.
func TestHandlerPanickingPredicateFreesTheTrialSlot(t *testing.T) {
	reg, clock := newRegistry(1)
	b, err := reg.Get("svc")
	require.NoError(t, err)
	_ = b.Execute(context.Background(), func(context.Context) error { return errBoomHTTP })
	clock.Advance(30 * time.Second)

	status := http.StatusBadGateway
	h := httpbreaker.NewHandler(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
	}), httpbreaker.WithFailurePredicate(func(resp *http.Response, _ error) bool {
		if resp.StatusCode == http.StatusBadGateway {
			panic("predicate bug")
		}
		return resp.StatusCode >= 500
	}))
	serve := func() (code int, panicked bool) {
		defer func() {
			if recover() != nil { // what net/http does with a handler's panic
				panicked = true
			}
		}()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		return rec.Code, false
	}
	_, panicked := serve()
	require.True(t, panicked, "the predicate's panic goes on")

	s := b.Stats()
	assert.Equal(t, uint64(2), s.TotalFailures, "the trial is recorded (as a failure, like a panicking predicate in Execute)")
	assert.Equal(t, breaker.Open, s.State, "the failed trial reopens the breaker instead of holding its slot")

	// The dependency is healthy again: after another recovery timeout a
	// trial must get through. With the slot still held, every request is
	// answered 503 until someone calls Reset.
	status = http.StatusOK
	clock.Advance(time.Hour)
	code, _ := serve()
	assert.Equal(t, http.StatusOK, code, "the breaker is wedged half-open by the unfinished trial")
}

// The same for a handler that calls runtime.Goexit (t.FailNow in a test's
// handler): serve's deferred recover sees nil and returns, ServeHTTP never
// resumes, and the trial's slot is never freed. Transport counts this
// case (errTransportPanicked, "or called runtime.Goexit").
func TestHandlerGoexitFreesTheTrialSlot(t *testing.T) {
	reg, clock := newRegistry(1)
	b, err := reg.Get("svc")
	require.NoError(t, err)
	_ = b.Execute(context.Background(), func(context.Context) error { return errBoomHTTP })
	clock.Advance(30 * time.Second)

	exit := true
	h := httpbreaker.NewHandler(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if exit {
			runtime.Goexit()
		}
		w.WriteHeader(http.StatusOK)
	}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	}()
	<-done

	exit = false
	clock.Advance(time.Hour)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusOK, rec.Code, "the trial that exited must not hold the only slot")
}

// errBoomHTTP is a failing response as the breaker sees it.
var errBoomHTTP = &httpbreaker.StatusError{StatusCode: 500}

// A half-open trial served through NewHandler must tell the handler it is
// one, as breaker.Execute and NewTransport do: a handler that calls its own
// dependency through a retry.Policy (the spec's order, on a server) then
// makes one attempt instead of holding the trial slot through backoff
// waits while every other request is answered 503.
func TestHandlerTellsTheHandlerItServesATrial(t *testing.T) {
	reg, clock := newRegistry(1)
	b, err := reg.Get("svc")
	require.NoError(t, err)
	var trial []bool
	h := httpbreaker.NewHandler(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		trial = append(trial, breaker.IsTrial(r.Context()))
		w.WriteHeader(http.StatusBadGateway)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, breaker.Open, b.State())
	clock.Advance(30 * time.Second)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, []bool{false, true}, trial, "closed: no trial; half-open: a trial")
	assert.Equal(t, breaker.Open, b.State(), "the failed trial reopened it")
}
