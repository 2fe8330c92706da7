package retry_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/retry"
)

var (
	errBoom  = errors.New("service unavailable")
	errFatal = errors.New("invalid argument")
)

// exact is a policy on an exact schedule (100ms, 200ms, 400ms, ... 10s)
// without a budget, plus opts.
func exact(t *testing.T, opts ...retry.Option) *retry.Policy {
	t.Helper()
	p, err := retry.New("test", append([]retry.Option{retry.WithJitter(retry.NoJitter), retry.WithoutBudget()}, opts...)...)
	require.NoError(t, err)
	return p
}

// fn is a protected function that fails its first failures calls with
// err, then succeeds. It records each attempt's number (retry.Attempt) and
// start time, which in a synctest bubble is the bubble's fake time.
type fn struct {
	failures int
	err      error

	mu       sync.Mutex
	attempts []int
	times    []time.Time
}

func failing(n int, err error) *fn { return &fn{failures: n, err: err} }

func (f *fn) call(ctx context.Context) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts = append(f.attempts, retry.Attempt(ctx))
	f.times = append(f.times, time.Now())
	if len(f.attempts) <= f.failures {
		return len(f.attempts), f.err
	}
	return len(f.attempts), nil
}

func (f *fn) exec(ctx context.Context) error {
	_, err := f.call(ctx)
	return err
}

func (f *fn) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.attempts)
}

// gaps returns the time between consecutive attempts.
func (f *fn) gaps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(f.times); i++ {
		out = append(out, f.times[i].Sub(f.times[i-1]))
	}
	return out
}

// recorder collects a policy's events and the contexts they came with.
type recorder struct {
	mu     sync.Mutex
	events []retry.Event
	ctxs   []context.Context
}

func record(t *testing.T, p *retry.Policy) *recorder {
	t.Helper()
	r := &recorder{}
	unsubscribe := p.Events().Subscribe(events.HandlerFunc[retry.Event](func(ctx context.Context, e retry.Event) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.events = append(r.events, e)
		r.ctxs = append(r.ctxs, ctx)
	}))
	t.Cleanup(unsubscribe)
	return r
}

func (r *recorder) all() []retry.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]retry.Event(nil), r.events...)
}

func (r *recorder) kind(k retry.EventKind) []retry.Event {
	var out []retry.Event
	for _, e := range r.all() {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// delays returns the Delay of every EventRetry.
func (r *recorder) delays() []time.Duration {
	var out []time.Duration
	for _, e := range r.kind(retry.EventRetry) {
		out = append(out, e.Delay)
	}
	return out
}

// ms turns milliseconds into durations, for short expectations.
func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

// checkTotals asserts the invariants of a quiescent policy's Stats.
func checkTotals(t *testing.T, s retry.Stats) {
	t.Helper()
	var calls, stops uint64
	for _, o := range retry.Outcomes {
		calls += s.Calls(o)
	}
	for _, r := range retry.Reasons {
		stops += s.StoppedBy(r)
	}
	require.Equal(t, s.TotalCalls, calls, "calls by outcome")
	require.Equal(t, s.Failures+s.FailuresAfterRetry, stops, "one stop per failed call")
	require.Equal(t, s.TotalCalls+s.TotalRetries, s.TotalAttempts, "attempts")
}
