package httpbreaker_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
)

// t0 is the fake clocks' starting time.
var t0 = time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)

// newRegistry returns a registry on a fake clock whose breakers open after
// threshold failures and wait 30s before probing.
func newRegistry(threshold int, opts ...breaker.Option) (*breaker.Registry, *breakertest.Clock) {
	clock := breakertest.NewClock(t0)
	defaults := append([]breaker.Option{
		breaker.WithClock(clock),
		breaker.WithFailureThreshold(threshold),
		breaker.WithRecoveryTimeout(30 * time.Second),
		breaker.WithHalfOpenMaxCalls(1),
	}, opts...)
	return breaker.NewRegistry(defaults...), clock
}

// stats returns the stats of the registry's breaker name, failing the test
// if there is none.
func stats(t *testing.T, reg *breaker.Registry, name string) breaker.Stats {
	t.Helper()
	b, ok := reg.Lookup(name)
	require.Truef(t, ok, "no breaker %q", name)
	return b.Stats()
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// recordingBody is a request body that records whether it was read and
// closed.
type recordingBody struct {
	mu     sync.Mutex
	r      io.Reader
	read   bool
	closed bool
}

func newBody(s string) *recordingBody { return &recordingBody{r: strings.NewReader(s)} }

func (b *recordingBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read = true
	return b.r.Read(p)
}

func (b *recordingBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

func (b *recordingBody) state() (read, closed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.read, b.closed
}

var errDial = errors.New("dial tcp: connection refused")

// totals is the part of Stats the tests compare.
type totals struct {
	Successes, Failures, Rejected, Ignored uint64
}

func totalsOf(s breaker.Stats) totals {
	return totals{s.TotalSuccesses, s.TotalFailures, s.TotalRejected, s.TotalIgnored}
}
