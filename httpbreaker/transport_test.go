package httpbreaker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
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

// statusServer answers every request with the status in its "status" query
// parameter (200 by default) and a body naming it; it counts the requests
// it received.
func statusServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		code := http.StatusOK
		if s := r.URL.Query().Get("status"); s != "" {
			code, _ = strconv.Atoi(s)
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "body of "+strconv.Itoa(code))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestTransportClassifiesOutcomes(t *testing.T) {
	only404 := httpbreaker.WithFailurePredicate(func(resp *http.Response, err error) bool {
		return err == nil && resp.StatusCode == http.StatusNotFound
	})
	tests := []struct {
		name    string
		opts    []httpbreaker.Option
		status  int   // served status, when err is nil
		err     error // transport error
		want    totals
		wantErr bool
	}{
		{name: "200 is a success", status: 200, want: totals{Successes: 1}},
		{name: "404 is not a failure by default", status: 404, want: totals{Successes: 1}},
		{name: "429 is not a failure by default", status: 429, want: totals{Successes: 1}},
		{name: "500 is a failure", status: 500, want: totals{Failures: 1}},
		{name: "503 is a failure", status: 503, want: totals{Failures: 1}},
		{name: "transport error is a failure", err: errDial, want: totals{Failures: 1}, wantErr: true},
		{name: "custom: 404 is a failure", opts: []httpbreaker.Option{only404}, status: 404, want: totals{Failures: 1}},
		{name: "custom: 500 is a success", opts: []httpbreaker.Option{only404}, status: 500, want: totals{Successes: 1}},
		{name: "custom: uncounted transport error is ignored", opts: []httpbreaker.Option{only404}, err: errDial, want: totals{Ignored: 1}, wantErr: true},
		{name: "nil predicate keeps the default", opts: []httpbreaker.Option{httpbreaker.WithFailurePredicate(nil)}, status: 502, want: totals{Failures: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := statusServer(t)
			base := srv.Client().Transport
			if tc.err != nil {
				base = roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, tc.err })
			}
			reg, _ := newRegistry(5)
			tr := httpbreaker.NewTransport(reg, base, append(tc.opts, httpbreaker.WithNamer(func(*http.Request) string { return "dep" }))...)

			req := httptest.NewRequest(http.MethodGet, srv.URL+"/?status="+strconv.Itoa(tc.status), nil)
			req.RequestURI = ""
			resp, err := tr.RoundTrip(req)
			if tc.wantErr {
				assert.Same(t, tc.err, err, "transport errors are returned unchanged")
				assert.Nil(t, resp)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tc.status, resp.StatusCode)
				require.NoError(t, resp.Body.Close())
			}
			assert.Equal(t, tc.want, totalsOf(stats(t, reg, "dep")))
		})
	}
}

func TestTransportReturnsFailingResponseWithBodyIntact(t *testing.T) {
	srv, _ := statusServer(t)
	reg, _ := newRegistry(1)
	client := &http.Client{Transport: httpbreaker.NewTransport(reg, srv.Client().Transport)}

	resp, err := client.Get(srv.URL + "/?status=500")
	require.NoError(t, err, "a counted 5xx is a response, not an error")
	defer resp.Body.Close()
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "body of 500", string(body))
	assert.Equal(t, breaker.Open, stats(t, reg, httpbreaker.HostName(resp.Request)).State)
}

func TestTransportRejectsWithoutSending(t *testing.T) {
	srv, hits := statusServer(t)
	reg, clock := newRegistry(1)
	tr := httpbreaker.NewTransport(reg, srv.Client().Transport)
	client := &http.Client{Transport: tr}

	resp, err := client.Get(srv.URL + "/?status=503")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, int64(1), hits.Load())
	clock.Advance(10 * time.Second)

	t.Run("RoundTrip closes the body and returns the OpenError", func(t *testing.T) {
		body := newBody("payload")
		req, err := http.NewRequest(http.MethodPost, srv.URL, body)
		require.NoError(t, err)
		resp, err := tr.RoundTrip(req)
		assert.Nil(t, resp)
		require.ErrorIs(t, err, breaker.ErrOpen)
		var oe *breaker.OpenError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, httpbreaker.HostName(req), oe.Name())
		assert.Equal(t, breaker.Open, oe.State())
		assert.Equal(t, 20*time.Second, oe.RetryAfter())
		read, closed := body.state()
		assert.False(t, read, "a rejected body is not read")
		assert.True(t, closed, "a rejected body is closed")
	})
	t.Run("through http.Client", func(t *testing.T) {
		body := newBody("payload")
		req, err := http.NewRequest(http.MethodPost, srv.URL, body)
		require.NoError(t, err)
		resp, err := client.Do(req)
		if resp != nil {
			resp.Body.Close()
		}
		require.ErrorIs(t, err, breaker.ErrOpen)
		var oe *breaker.OpenError
		require.ErrorAs(t, err, &oe)
		_, closed := body.state()
		assert.True(t, closed)
	})
	assert.Equal(t, int64(1), hits.Load(), "rejected requests are not sent")
	assert.Equal(t, uint64(2), stats(t, reg, httpbreaker.HostName(httptest.NewRequest("GET", srv.URL, nil))).TotalRejected)

	t.Run("after the recovery timeout a trial goes through", func(t *testing.T) {
		clock.Advance(20 * time.Second)
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, int64(2), hits.Load())
		assert.Equal(t, breaker.Closed, stats(t, reg, httpbreaker.HostName(resp.Request)).State)
	})
}

func TestTransportNamesBreakersPerHost(t *testing.T) {
	srvA, _ := statusServer(t)
	srvB, _ := statusServer(t)
	reg, _ := newRegistry(5)
	client := &http.Client{Transport: httpbreaker.NewTransport(reg, srvA.Client().Transport)}
	for _, u := range []string{srvA.URL + "/a", srvA.URL + "/b?status=500", srvB.URL + "/c"} {
		resp, err := client.Get(u)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
	}
	hostA, hostB := srvA.Listener.Addr().String(), srvB.Listener.Addr().String()
	assert.Equal(t, totals{Successes: 1, Failures: 1}, totalsOf(stats(t, reg, hostA)))
	assert.Equal(t, totals{Successes: 1}, totalsOf(stats(t, reg, hostB)))
	assert.Equal(t, 2, reg.Len())
}

func TestTransportCustomNamer(t *testing.T) {
	srv, _ := statusServer(t)
	reg, _ := newRegistry(5)
	namer := func(r *http.Request) string { return "api " + r.Method }
	client := &http.Client{Transport: httpbreaker.NewTransport(reg, srv.Client().Transport, httpbreaker.WithNamer(namer))}
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, uint64(1), stats(t, reg, "api GET").TotalSuccesses)
	assert.Equal(t, 1, reg.Len())
}

func TestHostName(t *testing.T) {
	tests := []struct{ url, host, want string }{
		{url: "https://API.Example.com:443/x", want: "api.example.com"},
		{url: "https://api.example.com/y", want: "api.example.com"},
		{url: "http://example.com:80/", want: "example.com"},
		{url: "http://example.com:8080/", want: "example.com:8080"},
		{url: "https://example.com:80/", want: "example.com:80"},
		{url: "http://example.com:443/", want: "example.com:443"},
		{url: "http://[::1]:80/", want: "[::1]"},
		{url: "http://[::1]:8080/", want: "[::1]:8080"},
		{url: "http://127.0.0.1:8080/", want: "127.0.0.1:8080"},
		{url: "/relative", host: "Backend.internal", want: "backend.internal"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, tc.url, nil)
			require.NoError(t, err)
			req.Host = tc.host
			assert.Equal(t, tc.want, httpbreaker.HostName(req))
		})
	}
}

// When no breaker can be had, the request used to fail with
// ErrRegistryFull (or ErrInvalidConfig) and was never sent: the protection
// became the outage. It is now sent unprotected, counted and logged at
// most once a minute.
func TestTransportSendsUnprotectedWhenNoBreaker(t *testing.T) {
	tests := []struct {
		name    string
		reg     func() *breaker.Registry
		namer   func(*http.Request) string
		wantErr string
	}{
		{
			name:    "invalid name",
			reg:     func() *breaker.Registry { r, _ := newRegistry(5); return r },
			namer:   func(*http.Request) string { return "bad\nname" },
			wantErr: "invalid name",
		},
		{
			name: "registry full",
			reg: func() *breaker.Registry {
				r, _ := newRegistry(5, breaker.WithMaxBreakers(1))
				_, err := r.Get("other")
				require.NoError(t, err)
				return r
			},
			namer:   func(*http.Request) string { return "new" },
			wantErr: "registry full",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var sent atomic.Int64
			base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
				sent.Add(1)
				return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
			})
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logs, nil))
			tr := httpbreaker.NewTransport(tc.reg(), base, httpbreaker.WithNamer(tc.namer), httpbreaker.WithLogger(logger))
			for range 3 {
				req, err := http.NewRequest(http.MethodGet, "http://example.test/", nil)
				require.NoError(t, err)
				resp, err := tr.RoundTrip(req)
				require.NoError(t, err)
				assert.Equal(t, http.StatusOK, resp.StatusCode)
			}
			assert.Equal(t, int64(3), sent.Load(), "every request was sent")
			assert.Equal(t, uint64(3), tr.Unprotected())
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			require.Len(t, lines, 1, "logged once a minute at most")
			var rec map[string]any
			require.NoError(t, json.Unmarshal([]byte(lines[0]), &rec))
			assert.Equal(t, "WARN", rec["level"])
			assert.Contains(t, rec["error"], tc.wantErr)
		})
	}
}

// A registry with idle eviction makes room for a new host instead of
// sending it unprotected.
func TestTransportIdleHostsMakeRoom(t *testing.T) {
	clock := breakertest.NewClock(time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC))
	reg := breaker.NewRegistry(breaker.WithClock(clock), breaker.WithMaxBreakers(1), breaker.WithIdleEviction(time.Minute))
	base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
	})
	tr := httpbreaker.NewTransport(reg, base)
	get := func(url string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, url, nil)
		require.NoError(t, err)
		_, err = tr.RoundTrip(req)
		require.NoError(t, err)
	}
	get("http://a.test/")
	get("http://b.test/") // full: unprotected, and a.test is marked idle
	clock.Advance(2 * time.Minute)
	get("http://b.test/")
	assert.Equal(t, uint64(1), tr.Unprotected())
	_, ok := reg.Lookup("b.test")
	assert.True(t, ok, "a.test was evicted for b.test")
	_, ok = reg.Lookup("a.test")
	assert.False(t, ok)
}

func TestTransportIgnoresCallerCancellation(t *testing.T) {
	for _, custom := range []bool{false, true} {
		t.Run("custom predicate "+strconv.FormatBool(custom), func(t *testing.T) {
			reg, _ := newRegistry(1)
			base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				<-r.Context().Done() // the caller gave up while the request was out
				return nil, r.Context().Err()
			})
			var opts []httpbreaker.Option
			if custom {
				opts = append(opts, httpbreaker.WithFailurePredicate(httpbreaker.DefaultFailure))
			}
			tr := httpbreaker.NewTransport(reg, base, opts...)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://example.test/", nil)
			require.NoError(t, err)
			_, err = tr.RoundTrip(req)
			require.ErrorIs(t, err, context.Canceled)
			s := stats(t, reg, "example.test")
			assert.Equal(t, totals{Ignored: 1}, totalsOf(s))
			assert.Equal(t, breaker.Closed, s.State, "one failure would have opened it")
		})
	}
}

func TestTransportLeavesRequestAlone(t *testing.T) {
	reg, _ := newRegistry(5)
	var got *http.Request
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r
		return &http.Response{StatusCode: 502, Body: http.NoBody, Request: r}, nil
	})
	tr := httpbreaker.NewTransport(reg, base)
	body := newBody("payload")
	req, err := http.NewRequest(http.MethodPost, "http://example.test/path?q=1", body)
	require.NoError(t, err)
	req.Header.Set("X-Test", "1")
	before := req.Clone(context.Background())

	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, 502, resp.StatusCode)
	assert.Same(t, req, got, "the wrapped transport gets the caller's request")
	assert.Equal(t, before.Header, req.Header)
	assert.Equal(t, before.URL, req.URL)
	read, closed := body.state()
	assert.False(t, read, "the body is the wrapped transport's to read")
	assert.False(t, closed, "the body is the wrapped transport's to close")
}

func TestTransportNilResponseAndError(t *testing.T) {
	reg, _ := newRegistry(5)
	base := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, nil })
	tr := httpbreaker.NewTransport(reg, base)
	req, err := http.NewRequest(http.MethodGet, "http://example.test/", nil)
	require.NoError(t, err)
	resp, err := tr.RoundTrip(req)
	assert.Nil(t, resp)
	require.NoError(t, err, "passed on unchanged")
	assert.Equal(t, totals{Failures: 1}, totalsOf(stats(t, reg, "example.test")))
}

func TestTransportPanicIsCountedAndRepanicked(t *testing.T) {
	reg, _ := newRegistry(5)
	base := roundTripFunc(func(*http.Request) (*http.Response, error) { panic("transport bug") })
	tr := httpbreaker.NewTransport(reg, base)
	req, err := http.NewRequest(http.MethodGet, "http://example.test/", nil)
	require.NoError(t, err)
	assert.PanicsWithValue(t, "transport bug", func() { _, _ = tr.RoundTrip(req) })
	assert.Equal(t, totals{Failures: 1}, totalsOf(stats(t, reg, "example.test")))
}

type idleCloser struct {
	http.RoundTripper
	closed atomic.Int64
}

func (c *idleCloser) CloseIdleConnections() { c.closed.Add(1) }

func TestTransportCloseIdleConnections(t *testing.T) {
	reg, _ := newRegistry(5)
	base := &idleCloser{RoundTripper: http.DefaultTransport}
	client := &http.Client{Transport: httpbreaker.NewTransport(reg, base)}
	client.CloseIdleConnections()
	assert.Equal(t, int64(1), base.closed.Load())

	// A base without the method is fine too.
	httpbreaker.NewTransport(reg, roundTripFunc(nil)).CloseIdleConnections()
}

func TestNewTransportDefaultsToDefaultTransport(t *testing.T) {
	srv, hits := statusServer(t)
	reg, _ := newRegistry(5)
	tr := httpbreaker.NewTransport(reg, nil)
	defer tr.CloseIdleConnections() // http.DefaultTransport's, for goleak
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, int64(1), hits.Load())
}

func TestNewTransportNilRegistryPanics(t *testing.T) {
	assert.Panics(t, func() { httpbreaker.NewTransport(nil, nil) })
}

func TestStatusError(t *testing.T) {
	var err error = &httpbreaker.StatusError{StatusCode: 503}
	assert.EqualError(t, err, "httpbreaker: status 503")
}

// The breaker's own failure predicate sees failing responses as
// *StatusError, so a registry can tell them from transport errors.
func TestTransportBreakerPredicateSeesStatusError(t *testing.T) {
	var seen []error
	reg, _ := newRegistry(5, breaker.WithFailurePredicate(func(err error) bool {
		seen = append(seen, err)
		var se *httpbreaker.StatusError
		return !errors.As(err, &se) || se.StatusCode != http.StatusNotImplemented
	}))
	code := 0
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: code, Body: http.NoBody, Request: r}, nil
	})
	tr := httpbreaker.NewTransport(reg, base)
	for _, code = range []int{501, 500} {
		req, err := http.NewRequest(http.MethodGet, "http://example.test/", nil)
		require.NoError(t, err)
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		assert.Equal(t, code, resp.StatusCode)
	}
	require.Len(t, seen, 2)
	assert.Equal(t, &httpbreaker.StatusError{StatusCode: 501}, seen[0])
	assert.Equal(t, totals{Failures: 1, Ignored: 1}, totalsOf(stats(t, reg, "example.test")))
}

// Under concurrency, every request is either sent and counted as a success
// or failure, or rejected and not sent.
func TestTransportConcurrentAccounting(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if hits.Add(1)%3 == 0 {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	reg, clock := newRegistry(2)
	client := &http.Client{Transport: httpbreaker.NewTransport(reg, srv.Client().Transport)}

	const workers, each = 8, 40
	var rejected atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if w == 0 && i%10 == 0 {
					clock.Advance(30 * time.Second) // let a trial through now and then
				}
				resp, err := client.Get(srv.URL)
				if errors.Is(err, breaker.ErrOpen) {
					rejected.Add(1)
					continue
				}
				if !assert.NoError(t, err) {
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	s := stats(t, reg, srv.Listener.Addr().String())
	assert.Equal(t, uint64(workers*each), s.TotalCalls)
	assert.Equal(t, uint64(hits.Load()), s.TotalSuccesses+s.TotalFailures, "sent = admitted")
	assert.Equal(t, uint64(rejected.Load()), s.TotalRejected, "rejected = not sent")
	assert.Zero(t, s.TotalIgnored)
}
