package httpbreaker_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/httpbreaker"
	"github.com/fusebox-go/fusebox/retry"
)

// rtAnswer is one scripted reply of a fake dependency: a response (status,
// header, body) or a transport error.
type rtAnswer struct {
	status int
	header http.Header
	body   string
	err    error
}

// rtScript is a fake base transport: it replies with its answers in order,
// repeating the last, and records every request it was sent (with its
// body, which it reads and closes, and its attempt number) and every
// response body it handed out.
type rtScript struct {
	mu       sync.Mutex
	answers  []rtAnswer
	sent     []*http.Request
	bodies   []string
	attempts []int
	times    []time.Time
	replies  []*rtBody
}

func newRTScript(answers ...rtAnswer) *rtScript { return &rtScript{answers: answers} }

func (s *rtScript) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	body := ""
	if r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		_ = r.Body.Close()
		body = string(b)
	}
	s.sent = append(s.sent, r)
	s.bodies = append(s.bodies, body)
	s.attempts = append(s.attempts, retry.Attempt(r.Context()))
	s.times = append(s.times, time.Now())
	a := s.answers[min(len(s.sent), len(s.answers))-1]
	if a.err != nil {
		return nil, a.err
	}
	tb := &rtBody{r: strings.NewReader(a.body)}
	s.replies = append(s.replies, tb)
	h := a.header
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{StatusCode: a.status, Header: h, Body: tb, Request: r}, nil
}

func (s *rtScript) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

func (s *rtScript) gaps() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(s.times); i++ {
		out = append(out, s.times[i].Sub(s.times[i-1]))
	}
	return out
}

// rtBody is a response body that records how much was read and
// whether it was closed.
type rtBody struct {
	mu     sync.Mutex
	r      io.Reader
	n      int
	closed bool
}

func (b *rtBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.r.Read(p)
	b.n += n
	return n, err
}

func (b *rtBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

func (b *rtBody) state() (read int, closed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n, b.closed
}

// rtPolicy waits 100ms, 200ms, 400ms between attempts, with no budget.
func rtPolicy(t *testing.T, opts ...retry.Option) *retry.Policy {
	t.Helper()
	p, err := retry.New("api", append([]retry.Option{retry.WithJitter(retry.NoJitter), retry.WithoutBudget()}, opts...)...)
	require.NoError(t, err)
	return p
}

func rtGet(t *testing.T, rt http.RoundTripper, ctx context.Context) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://api.example.com/items", nil)
	require.NoError(t, err)
	return rt.RoundTrip(req)
}

func TestRetryTransportStatuses(t *testing.T) {
	for _, tc := range []struct {
		status   int
		attempts int
	}{
		{http.StatusTooManyRequests, 3},
		{http.StatusBadGateway, 3},
		{http.StatusServiceUnavailable, 3},
		{http.StatusGatewayTimeout, 3},
		{http.StatusInternalServerError, 1},
		{http.StatusNotImplemented, 1},
		{http.StatusNotFound, 1},
		{http.StatusBadRequest, 1},
		{http.StatusOK, 1},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				base := newRTScript(rtAnswer{status: tc.status, body: "first"}, rtAnswer{status: tc.status, body: "second"}, rtAnswer{status: 200, body: "ok"})
				rt := httpbreaker.NewRetryTransport(rtPolicy(t), base)
				resp, err := rtGet(t, rt, t.Context())
				require.NoError(t, err)
				require.Equal(t, tc.attempts, base.count())
				want := tc.status
				if tc.attempts == 3 {
					want = 200
					require.Equal(t, []int{1, 2, 3}, base.attempts, "retry.Attempt in each request's context")
					require.Equal(t, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, base.gaps())
				}
				require.Equal(t, want, resp.StatusCode)
				b, _ := io.ReadAll(resp.Body)
				require.NoError(t, resp.Body.Close())
				if tc.attempts == 3 {
					require.Equal(t, "ok", string(b))
				} else {
					require.Equal(t, "first", string(b))
				}
			})
		})
	}
}

func TestRetryTransportDrainsThePreviousResponse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		big := strings.Repeat("x", 1<<20)
		base := newRTScript(rtAnswer{status: 503, body: "busy"}, rtAnswer{status: 503, body: big}, rtAnswer{status: 503, body: "still busy"})
		rt := httpbreaker.NewRetryTransport(rtPolicy(t, retry.WithMaxRetries(2)), base)
		resp, err := rtGet(t, rt, t.Context())
		require.NoError(t, err)
		require.Equal(t, 503, resp.StatusCode, "the last response, after the policy gave up")

		read, closed := base.replies[0].state()
		require.True(t, closed, "closed before the next attempt")
		require.Equal(t, len("busy"), read, "and read to the end first, so the connection can be reused")
		read, closed = base.replies[1].state()
		require.True(t, closed)
		require.Equal(t, 4<<10, read, "a large body is read up to 4 KiB, then closed")
		read, closed = base.replies[2].state()
		require.False(t, closed, "the response returned is the caller's to read")
		require.Zero(t, read)
		b, _ := io.ReadAll(resp.Body)
		require.Equal(t, "still busy", string(b))
	})
}

func TestRetryTransportRetryAfter(t *testing.T) {
	t.Run("seconds", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := newRTScript(rtAnswer{status: 429, header: http.Header{"Retry-After": {"3"}}}, rtAnswer{status: 200})
			rt := httpbreaker.NewRetryTransport(rtPolicy(t), base)
			resp, err := rtGet(t, rt, t.Context())
			require.NoError(t, err)
			require.Equal(t, 200, resp.StatusCode)
			require.Equal(t, []time.Duration{3 * time.Second}, base.gaps())
		})
	})
	t.Run("HTTP-date", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			at := time.Now().Add(5 * time.Second).UTC().Format(http.TimeFormat)
			base := newRTScript(rtAnswer{status: 503, header: http.Header{"Retry-After": {at}}}, rtAnswer{status: 200})
			rt := httpbreaker.NewRetryTransport(rtPolicy(t), base)
			_, err := rtGet(t, rt, t.Context())
			require.NoError(t, err)
			require.Equal(t, []time.Duration{5 * time.Second}, base.gaps())
		})
	})
	t.Run("a date in the past is the ordinary backoff", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			at := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
			base := newRTScript(rtAnswer{status: 503, header: http.Header{"Retry-After": {at}}}, rtAnswer{status: 200})
			rt := httpbreaker.NewRetryTransport(rtPolicy(t), base)
			_, err := rtGet(t, rt, t.Context())
			require.NoError(t, err)
			require.Equal(t, []time.Duration{100 * time.Millisecond}, base.gaps())
		})
	})
	t.Run("beyond the maximum: the response at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := newRTScript(rtAnswer{status: 503, header: http.Header{"Retry-After": {"3600"}}, body: "maintenance"})
			p := rtPolicy(t)
			rt := httpbreaker.NewRetryTransport(p, base)
			start := time.Now()
			resp, err := rtGet(t, rt, t.Context())
			require.NoError(t, err)
			require.Zero(t, time.Since(start), "no hour-long wait")
			require.Equal(t, 503, resp.StatusCode)
			require.Equal(t, "3600", resp.Header.Get("Retry-After"), "the caller sees what the server asked")
			require.Equal(t, 1, base.count())
			require.Equal(t, uint64(1), p.Stats().StoppedRetryAfter)
		})
	})
	t.Run("beyond the deadline: the response at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := newRTScript(rtAnswer{status: 503, header: http.Header{"Retry-After": {"5"}}})
			p := rtPolicy(t)
			rt := httpbreaker.NewRetryTransport(p, base)
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			resp, err := rtGet(t, rt, ctx)
			require.NoError(t, err)
			require.Equal(t, 503, resp.StatusCode)
			require.Equal(t, 1, base.count())
			require.Equal(t, uint64(1), p.Stats().StoppedDeadline)
		})
	})
}

func TestRetryTransportOnlyReplaysReplayableRequests(t *testing.T) {
	withGetBody := func(method, body string) *http.Request {
		req, _ := http.NewRequest(method, "http://api.example.com/items", strings.NewReader(body)) // sets GetBody
		return req
	}
	withoutGetBody := func(method, body string) *http.Request {
		req := withGetBody(method, body)
		req.GetBody = nil
		return req
	}
	withKey := func(key string, req *http.Request) *http.Request {
		req.Header[key] = []string{"order-42"}
		return req
	}
	for _, tc := range []struct {
		name     string
		req      *http.Request
		attempts int
	}{
		{"GET", withGetBody(http.MethodGet, ""), 3},
		{"HEAD", withGetBody(http.MethodHead, ""), 3},
		{"OPTIONS", withGetBody(http.MethodOptions, ""), 3},
		{"TRACE", withGetBody(http.MethodTrace, ""), 3},
		{"GET with a body and GetBody", withGetBody(http.MethodGet, "q"), 3},
		{"GET with a body and no GetBody", withoutGetBody(http.MethodGet, "q"), 1},
		{"POST", withGetBody(http.MethodPost, "order"), 1},
		{"PUT", withGetBody(http.MethodPut, "order"), 1},
		{"POST with Idempotency-Key", withKey("Idempotency-Key", withGetBody(http.MethodPost, "order")), 3},
		{"POST with X-Idempotency-Key", withKey("X-Idempotency-Key", withGetBody(http.MethodPost, "order")), 3},
		{"POST with Idempotency-Key and no GetBody", withKey("Idempotency-Key", withoutGetBody(http.MethodPost, "order")), 1},
		{"DELETE with a nil Idempotency-Key (net/http: replayable, header not sent)", func() *http.Request {
			req := withGetBody(http.MethodDelete, "")
			req.Header["Idempotency-Key"] = nil
			return req
		}(), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				base := newRTScript(rtAnswer{status: 503}, rtAnswer{status: 503}, rtAnswer{status: 200})
				p := rtPolicy(t)
				resp, err := httpbreaker.NewRetryTransport(p, base).RoundTrip(tc.req)
				require.NoError(t, err)
				require.Equal(t, tc.attempts, base.count())
				if tc.attempts == 1 {
					require.Equal(t, 503, resp.StatusCode)
					require.Equal(t, uint64(1), p.Stats().StoppedNotRetryable, "a failure, not retried")
					return
				}
				require.Equal(t, 200, resp.StatusCode)
				for i, b := range base.bodies {
					require.Equal(t, base.bodies[0], b, "attempt %d sent the same body", i+1)
				}
				for i, r := range base.sent[1:] {
					require.NotSame(t, tc.req, r, "attempt %d sent a clone", i+2)
					require.Equal(t, tc.req.Method, r.Method)
					require.Equal(t, tc.req.URL.String(), r.URL.String())
				}
				require.Same(t, tc.req, base.sent[0], "the first attempt sends the request itself")
			})
		})
	}
}

func TestRetryTransportGetBodyFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPut, "http://api.example.com/items/1", strings.NewReader("v"))
		req.Header.Set("Idempotency-Key", "k")
		errGone := errors.New("body source gone")
		req.GetBody = func() (io.ReadCloser, error) { return nil, errGone }
		base := newRTScript(rtAnswer{status: 503})
		_, err := httpbreaker.NewRetryTransport(rtPolicy(t), base).RoundTrip(req)
		require.ErrorIs(t, err, errGone)
		require.Equal(t, 1, base.count())
		read, closed := base.replies[0].state()
		require.True(t, closed, "the response of the attempt before was still closed")
		require.Equal(t, 0, read)
	})
}

type rtTimeout struct{}

func (rtTimeout) Error() string   { return "i/o timeout" }
func (rtTimeout) Timeout() bool   { return true }
func (rtTimeout) Temporary() bool { return true }

func TestDefaultRetryErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want retry.Decision
	}{
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}, retry.Retry},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("read: connection reset by peer")}, retry.Retry},
		{"closed early", fmt.Errorf("net/http: %w", io.EOF), retry.Retry},
		{"cut short", io.ErrUnexpectedEOF, retry.Retry},
		{"timeout", rtTimeout{}, retry.Retry},
		{"DNS timeout", &net.DNSError{Err: "timeout", Name: "api", IsTimeout: true}, retry.Retry},
		{"no such host", &net.DNSError{Err: "no such host", Name: "api", IsNotFound: true}, retry.Stop},
		{"unknown authority", &net.OpError{Op: "remote error", Err: x509.UnknownAuthorityError{}}, retry.Stop},
		{"wrong host", x509.HostnameError{Host: "api"}, retry.Stop},
		{"bad scheme", errors.New(`unsupported protocol scheme "ftp"`), retry.Stop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, httpbreaker.DefaultRetry(nil, tc.err))
		})
	}
}

func TestRetryTransportErrors(t *testing.T) {
	t.Run("a connection error is retried", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
			base := newRTScript(rtAnswer{err: refused}, rtAnswer{status: 200})
			resp, err := rtGet(t, httpbreaker.NewRetryTransport(rtPolicy(t), base), t.Context())
			require.NoError(t, err)
			require.Equal(t, 200, resp.StatusCode)
			require.Equal(t, 2, base.count())
		})
	})
	t.Run("the last real error when the policy gives up", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
			base := newRTScript(rtAnswer{err: refused})
			resp, err := rtGet(t, httpbreaker.NewRetryTransport(rtPolicy(t), base), t.Context())
			require.Nil(t, resp)
			require.ErrorIs(t, err, retry.ErrExhausted)
			var op *net.OpError
			require.ErrorAs(t, err, &op)
			require.Same(t, refused, op)
			require.Equal(t, 4, base.count())
		})
	})
	t.Run("an error not worth retrying is returned as it is", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			bad := x509.HostnameError{Host: "api"}
			base := newRTScript(rtAnswer{err: bad})
			_, err := rtGet(t, httpbreaker.NewRetryTransport(rtPolicy(t), base), t.Context())
			require.Equal(t, bad, err)
			require.Equal(t, 1, base.count())
		})
	})
	t.Run("a transport that returns nothing", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := rtFunc(func(*http.Request) (*http.Response, error) { return nil, nil })
			resp, err := rtGet(t, httpbreaker.NewRetryTransport(rtPolicy(t), base), t.Context())
			require.Nil(t, resp)
			require.NoError(t, err)
		})
	})
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestWithRetryClassifier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := newRTScript(rtAnswer{status: 500}, rtAnswer{status: 200})
		retry500 := func(resp *http.Response, err error) retry.Decision {
			if resp != nil && resp.StatusCode == 500 {
				return retry.Retry
			}
			return httpbreaker.DefaultRetry(resp, err)
		}
		rt := httpbreaker.NewRetryTransport(rtPolicy(t), base, httpbreaker.WithRetryClassifier(retry500), httpbreaker.WithRetryClassifier(nil), nil)
		resp, err := rtGet(t, rt, t.Context())
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, 2, base.count())
	})
}

// In the spec's order the breaker sees one outcome per request, after the
// retries.
func TestRetryTransportInsideBreakerTransport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := breaker.NewRegistry(breaker.WithFailureThreshold(5))
		base := newRTScript(rtAnswer{status: 503})
		p := rtPolicy(t)
		client := &http.Client{Transport: httpbreaker.NewTransport(reg, httpbreaker.NewRetryTransport(p, base))}
		for range 5 {
			resp, err := client.Get("http://api.example.com/items")
			require.NoError(t, err)
			require.Equal(t, 503, resp.StatusCode)
			_ = resp.Body.Close()
		}
		require.Equal(t, 20, base.count(), "5 requests x 4 attempts")
		b, _ := reg.Lookup("api.example.com")
		require.Equal(t, breaker.Open, b.State())
		require.Equal(t, uint64(5), b.Stats().TotalFailures, "one failure per request")

		_, err := client.Get("http://api.example.com/items")
		require.ErrorIs(t, err, breaker.ErrOpen)
		require.Equal(t, 20, base.count(), "an open breaker sends nothing")
	})
}

// A half-open trial through NewTransport used to be retried like any
// request, holding the breaker's trial slot through every backoff wait:
// the Transport did not pass the trial's context down. The RetryTransport
// inside it now sees breaker.IsTrial and makes one attempt.
func TestRetryTransportMakesOneAttemptForATrial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := breaker.NewRegistry(breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Minute), breaker.WithHalfOpenMaxCalls(1))
		base := newRTScript(rtAnswer{status: 503})
		p := rtPolicy(t)
		client := &http.Client{Transport: httpbreaker.NewTransport(reg, httpbreaker.NewRetryTransport(p, base))}
		resp, err := client.Get("http://api.example.com/items")
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, 4, base.count(), "closed: the request is retried")
		time.Sleep(time.Minute)
		synctest.Wait()
		resp, err = client.Get("http://api.example.com/items")
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, 5, base.count(), "the trial: one attempt")
		b, _ := reg.Lookup("api.example.com")
		assert.Equal(t, breaker.Open, b.State(), "the failed trial reopened it")
	})
}

// Per attempt: every attempt goes through the breaker, and retrying stops
// when the breaker rejects one.
func TestRetryTransportOutsideBreakerTransport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := breaker.NewRegistry(breaker.WithFailureThreshold(5))
		base := newRTScript(rtAnswer{status: 503})
		p := rtPolicy(t)
		client := &http.Client{Transport: httpbreaker.NewRetryTransport(p, httpbreaker.NewTransport(reg, base))}
		resp, err := client.Get("http://api.example.com/items")
		require.NoError(t, err)
		require.Equal(t, 503, resp.StatusCode)
		_ = resp.Body.Close()
		_, err = client.Get("http://api.example.com/items")
		require.ErrorIs(t, err, breaker.ErrOpen, "the fifth attempt opened it, the sixth was rejected")
		require.Equal(t, 5, base.count())
		for i, r := range base.replies {
			_, closed := r.state()
			require.True(t, closed, "response %d", i)
		}
		_, err = client.Get("http://api.example.com/items")
		require.ErrorIs(t, err, breaker.ErrOpen)
		require.Equal(t, 5, base.count())
		require.Equal(t, uint64(2), p.Stats().StoppedCircuitOpen)
	})
}

func TestRetryTransportRejectedPostIsNotResent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := breaker.NewRegistry(breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Second))
		b, err := reg.Get("api.example.com")
		require.NoError(t, err)
		open := func() {
			_ = b.Execute(t.Context(), func(context.Context) error { return errors.New("down") })
			require.Equal(t, breaker.Open, b.State())
		}
		base := newRTScript(rtAnswer{status: 200})
		p := rtPolicy(t, retry.WithOpenWait(time.Minute))
		rt := httpbreaker.NewRetryTransport(p, httpbreaker.NewTransport(reg, base))

		open()
		post, _ := http.NewRequest(http.MethodPost, "http://api.example.com/orders", strings.NewReader("order"))
		start := time.Now()
		_, err = rt.RoundTrip(post)
		require.ErrorIs(t, err, breaker.ErrOpen, "a rejected POST is not waited for and sent again")
		require.Zero(t, time.Since(start))
		require.Zero(t, base.count())

		resp, err := rtGet(t, rt, t.Context()) // a GET waits for the breaker and probes
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode)
		require.GreaterOrEqual(t, time.Since(start), time.Second)
		require.Equal(t, 1, base.count())
	})
}

func TestRetryTransportWithAClient(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		w.Header().Set("X-Resend-Count", strconv.Itoa(int(n)-1))
		if n < 3 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	p, err := retry.New("loopback", retry.WithBackoff(time.Microsecond, time.Microsecond))
	require.NoError(t, err)
	base := srv.Client().Transport
	client := &http.Client{Transport: httpbreaker.NewRetryTransport(p, base)}
	defer client.CloseIdleConnections()
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, "ok", string(b))
	assert.Equal(t, int32(3), hits.Load())
	s := p.Stats()
	assert.Equal(t, uint64(1), s.SuccessesAfterRetry)
	assert.Equal(t, uint64(3), s.TotalAttempts)
}

func TestNewRetryTransportNilPolicy(t *testing.T) {
	require.Panics(t, func() { httpbreaker.NewRetryTransport(nil, nil) })
	p, err := retry.New("p")
	require.NoError(t, err)
	closer := &rtIdleCloser{}
	httpbreaker.NewRetryTransport(p, closer).CloseIdleConnections()
	require.True(t, closer.closed)
	httpbreaker.NewRetryTransport(p, rtFunc(nil)).CloseIdleConnections() // no such method: nothing
}

type rtIdleCloser struct {
	http.RoundTripper
	closed bool
}

func (c *rtIdleCloser) CloseIdleConnections() { c.closed = true }

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{" 7 ", 7 * time.Second, true},
		{"Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Sunday, 01-Mar-26 12:01:00 GMT", time.Minute, true}, // RFC 850
		{"Sun Mar  1 12:00:10 2026", 10 * time.Second, true},  // asctime
		{"Sun, 01 Mar 2026 11:00:00 GMT", 0, true},            // in the past
		{"99999999999999999999", time.Duration(1<<63 - 1), true},
		{"9223372037", time.Duration(1<<63 - 1), true},
		{"", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"120s", 0, false},
	} {
		d, ok := httpbreaker.ParseRetryAfter(tc.in, now)
		assert.Equal(t, tc.ok, ok, "%q", tc.in)
		assert.Equal(t, tc.want, d, "%q", tc.in)
	}
}

// FuzzParseRetryAfter: any header value gives a non-negative delay or
// is refused; a number of seconds is read exactly.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "120", "Sun, 01 Mar 2026 12:00:30 GMT", "-5", "", "99999999999999999999", "1e3", "+3"} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := httpbreaker.ParseRetryAfter(s, now)
		if !ok {
			require.Zero(t, d)
			return
		}
		require.GreaterOrEqual(t, d, time.Duration(0))
		if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil && n >= 0 && n < 1<<32 && !strings.HasPrefix(strings.TrimSpace(s), "+") {
			require.Equal(t, time.Duration(n)*time.Second, d)
		}
	})
}
