package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/httpbreaker"
	"github.com/fusebox-go/fusebox/retry"
)

// TestRetryLoad is the retry load test: a dependency on loopback fails
// every request (503) for a while, then recovers, under 64 callers that
// each make a call every 10ms through a retry policy with the default
// settings (3 retries, full-jitter backoff from 100ms, a budget of 0.2
// retries per call plus 10). It runs three setups one after the other:
//
//	budget      the retry policy alone (httpbreaker.RetryTransport)
//	spec        the spec's order: breaker.Do(ctx, b, retry.Wrap(p, call))
//	per-attempt httpbreaker.RetryTransport around httpbreaker.Transport
//
// and checks that the attempts that reached the dependency stay within
// the budget's bound (1.2 x calls + 10 for the calls the policy ran), and
// that after the recovery each breaker is closed again. It logs, second by
// second, the calls, the attempts that reached the dependency and their
// ratio: the attempts-per-call curve.
//
// It takes about 3 x (down + 5s): 45s with the defaults, so it runs only
// when asked:
//
//	cd bench && FUSEBOX_RETRY_LOAD=1 go test -run TestRetryLoad -v -timeout 5m .
//
// FUSEBOX_RETRY_LOAD_DOWN sets how long the dependency fails (a
// time.Duration, default 10s); FUSEBOX_RETRY_LOAD_SETUPS picks setups
// (comma-separated names, default all).
func TestRetryLoad(t *testing.T) {
	if os.Getenv("FUSEBOX_RETRY_LOAD") == "" {
		t.Skip("set FUSEBOX_RETRY_LOAD=1 to run the retry load test (about 45s)")
	}
	down := 10 * time.Second
	if v := os.Getenv("FUSEBOX_RETRY_LOAD_DOWN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		down = d
	}
	setups := map[string]bool{"budget": true, "spec": true, "per-attempt": true}
	if v := os.Getenv("FUSEBOX_RETRY_LOAD_SETUPS"); v != "" {
		setups = map[string]bool{}
		for _, s := range strings.Split(v, ",") {
			setups[strings.TrimSpace(s)] = true
		}
	}
	for _, name := range []string{"budget", "spec", "per-attempt"} {
		if setups[name] {
			t.Run(name, func(t *testing.T) { runRetryLoad(t, name, down, 5*time.Second) })
		}
	}
}

// loadDependency is the fake dependency: 503 while down, 200 after.
type loadDependency struct {
	down atomic.Bool
	hits atomic.Uint64
}

func (d *loadDependency) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	d.hits.Add(1)
	if d.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ok")
}

// loadCounts are the callers' totals.
type loadCounts struct {
	calls, ok, failed, rejected atomic.Uint64
}

func runRetryLoad(t *testing.T, setup string, down, up time.Duration) {
	dep := &loadDependency{}
	dep.down.Store(true)
	srv := httptest.NewServer(dep)
	defer srv.Close()
	base := &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128}
	defer base.CloseIdleConnections()

	p, err := retry.New("dependency")
	if err != nil {
		t.Fatal(err)
	}
	reg := breaker.NewRegistry(breaker.WithRecoveryTimeout(time.Second)) // the spec's 5 failures and 3 trials; a short recovery timeout
	b, err := reg.Get("dependency")
	if err != nil {
		t.Fatal(err)
	}
	named := httpbreaker.WithNamer(func(*http.Request) string { return "dependency" })

	var call func(ctx context.Context) error
	get := func(ctx context.Context, client *http.Client) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/items", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode >= 500 {
			return &httpbreaker.StatusError{StatusCode: resp.StatusCode}
		}
		return nil
	}
	switch setup {
	case "budget":
		client := &http.Client{Transport: httpbreaker.NewRetryTransport(p, base)}
		call = func(ctx context.Context) error { return get(ctx, client) }
		b = nil
	case "spec":
		// The breaker's context reaches the request, so a half-open trial
		// gets one attempt.
		client := &http.Client{Transport: httpbreaker.NewRetryTransport(p, base)}
		call = func(ctx context.Context) error {
			return b.Execute(ctx, func(ctx context.Context) error { return get(ctx, client) })
		}
	case "per-attempt":
		client := &http.Client{Transport: httpbreaker.NewRetryTransport(p, httpbreaker.NewTransport(reg, base, named))}
		call = func(ctx context.Context) error { return get(ctx, client) }
	}

	var counts loadCounts
	ctx, stop := context.WithCancel(context.Background())
	var callers sync.WaitGroup
	for range 64 {
		callers.Go(func() {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				err := call(cctx)
				cancel()
				counts.calls.Add(1)
				switch {
				case err == nil:
					counts.ok.Add(1)
				case errors.Is(err, breaker.ErrOpen):
					counts.rejected.Add(1)
				default:
					counts.failed.Add(1)
				}
			}
		})
	}

	type sample struct {
		at                            time.Duration
		down                          bool
		calls, rejected, failed, hits uint64
		policyCalls, policyAttempts   uint64
		tokens                        float64
		state                         string
	}
	var samples []sample
	start := time.Now()
	recoveredAt := time.Duration(-1)
	tick := time.NewTicker(time.Second)
	for elapsed := time.Duration(0); elapsed < down+up; elapsed = time.Since(start) {
		<-tick.C
		if time.Since(start) >= down && dep.down.Load() {
			dep.down.Store(false)
		}
		ps := p.Stats()
		s := sample{
			at:    time.Since(start).Round(time.Second),
			calls: counts.calls.Load(), rejected: counts.rejected.Load(), failed: counts.failed.Load(), hits: dep.hits.Load(),
			policyCalls: ps.TotalCalls, policyAttempts: ps.TotalAttempts, tokens: ps.BudgetAvailable, state: "-",
		}
		if b != nil {
			s.state = b.State().String()
			if recoveredAt < 0 && !dep.down.Load() && b.State() == breaker.Closed {
				recoveredAt = time.Since(start) - down
			}
		}
		s.down = s.at <= down
		samples = append(samples, s)
	}
	tick.Stop()
	stop()
	callers.Wait()

	// The curve: per second, the calls the callers made, those the breaker
	// rejected, the attempts that reached the dependency, and the ratio.
	var out strings.Builder
	fmt.Fprintf(&out, "setup %s: dependency down for %s, then up\n", setup, down)
	fmt.Fprintf(&out, "| t | dependency | calls | rejected | failed | attempts | attempts/call | attempts/policy call | budget | breaker |\n|---|---|---|---|---|---|---|---|---|---|\n")
	last := sample{}
	for _, s := range samples {
		calls, hits, pc, pa := s.calls-last.calls, s.hits-last.hits, s.policyCalls-last.policyCalls, s.policyAttempts-last.policyAttempts
		state := "down"
		if !s.down {
			state = "up"
		}
		fmt.Fprintf(&out, "| %s | %s | %d | %d | %d | %d | %.2f | %.2f | %.1f | %s |\n", s.at, state, calls, s.rejected-last.rejected,
			s.failed-last.failed, hits, ratio(hits, calls), ratio(pa, pc), s.tokens, s.state)
		last = s
	}
	ps := p.Stats()
	fmt.Fprintf(&out, "total: %d calls, %d rejected by the breaker, %d through the policy, %d attempts reached the dependency (%.2f per call, %.2f per policy call); budget stops %d",
		counts.calls.Load(), counts.rejected.Load(), ps.TotalCalls, dep.hits.Load(), ratio(dep.hits.Load(), counts.calls.Load()),
		ratio(ps.TotalAttempts, ps.TotalCalls), ps.StoppedBudget)
	if b != nil {
		fmt.Fprintf(&out, "; breaker closed %s after the recovery", recoveredAt.Round(100*time.Millisecond))
	}
	t.Log("\n" + out.String())

	// The budget's bound holds for the attempts the policy made, and so
	// for what reached the dependency.
	bound := 1.2*float64(ps.TotalCalls) + 10
	if float64(ps.TotalAttempts) > bound {
		t.Errorf("%d attempts for %d policy calls: over the budget's bound %.0f", ps.TotalAttempts, ps.TotalCalls, bound)
	}
	if float64(dep.hits.Load()) > bound {
		t.Errorf("%d requests reached the dependency for %d policy calls: over the bound %.0f", dep.hits.Load(), ps.TotalCalls, bound)
	}
	if b != nil && (recoveredAt < 0 || b.State() != breaker.Closed) {
		t.Errorf("the breaker did not close after the dependency recovered: %s", b.State())
	}
	if counts.ok.Load() == 0 {
		t.Error("no call succeeded after the recovery")
	}
}

func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
