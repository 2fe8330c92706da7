package breaker_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/events"
)

var (
	t0      = time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC)
	errBoom = errors.New("service unavailable")
)

func succeed(context.Context) error { return nil }

func fail(context.Context) error { return errBoom }

// newClocked returns a breaker on a manual clock starting at t0.
func newClocked(t *testing.T, opts ...breaker.Option) (*breaker.Breaker, *breakertest.Clock) {
	t.Helper()
	clock := breakertest.NewClock(t0)
	b, err := breaker.New("test", append([]breaker.Option{breaker.WithClock(clock)}, opts...)...)
	require.NoError(t, err)
	return b, clock
}

// recorder collects the events a breaker publishes.
type recorder struct {
	mu     sync.Mutex
	events []breaker.Event
	ctxs   []context.Context
}

func record(bus events.Bus[breaker.Event]) *recorder {
	r := &recorder{}
	bus.Subscribe(events.HandlerFunc[breaker.Event](func(ctx context.Context, e breaker.Event) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.events = append(r.events, e)
		r.ctxs = append(r.ctxs, ctx)
	}))
	return r
}

// changes returns the state changes seen so far as "from->to:reason".
func (r *recorder) changes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Kind == breaker.EventStateChange {
			out = append(out, e.From.String()+"->"+e.To.String()+":"+e.Reason.String())
		}
	}
	return out
}

func (r *recorder) all() []breaker.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]breaker.Event(nil), r.events...)
}

type eventsFunc = events.HandlerFunc[breaker.Event]

var errIgnored = errors.New("not the dependency's fault")

// halfOpen returns a breaker on a manual clock that has just become
// half-open, admitting one trial, and then reconfigured with opts.
func halfOpen(t *testing.T, opts ...breaker.Option) (*breaker.Breaker, *breakertest.Clock) {
	t.Helper()
	b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Second), breaker.WithHalfOpenMaxCalls(1))
	require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
	clock.Advance(time.Second)
	require.Equal(t, breaker.HalfOpen, b.State())
	require.NoError(t, b.Reconfigure(opts...))
	return b, clock
}

func trip(b *breaker.Breaker) { _ = b.Execute(context.Background(), fail) }

// gateClock is a manual clock that can hold one reader: the next Now after
// arm blocks until release, so a test can stop a goroutine at a known
// point.
type gateClock struct {
	*breakertest.Clock
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func newGateClock() *gateClock {
	return &gateClock{Clock: breakertest.NewClock(t0), entered: make(chan struct{}), release: make(chan struct{})}
}

func (c *gateClock) arm() { c.armed.Store(true) }

func (c *gateClock) Now() time.Time {
	if c.armed.CompareAndSwap(true, false) {
		c.entered <- struct{}{}
		<-c.release
	}
	return c.Clock.Now()
}

// waitForGoroutine waits until some goroutine's stack holds every one of
// frames (yielding between looks), and fails the test if none does.
func waitForGoroutine(t *testing.T, frames ...string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for range 100_000 {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			found := true
			for _, f := range frames {
				found = found && strings.Contains(g, f)
			}
			if found {
				return
			}
		}
		runtime.Gosched()
	}
	t.Fatalf("no goroutine reached %v", frames)
}

// countingClock counts its readings.
type countingClock struct {
	*breakertest.Clock
	reads atomic.Int64
}

func (c *countingClock) Now() time.Time { c.reads.Add(1); return c.Clock.Now() }

// play runs a script of steps against b and returns what happened to its
// last call: "ran", "rejected", or "" when the script made no call. Steps
// are separated by spaces: a run of calls, one letter each (s a success, f
// a failure, i ignored: the caller cancels), a clock move (+D or -D, as
// time.ParseDuration reads D), reset, or force. It is the one step-script
// helper of the package's tests.
func play(t *testing.T, b *breaker.Breaker, clock *breakertest.Clock, script string) string {
	t.Helper()
	last := ""
	for _, step := range strings.Fields(script) {
		switch {
		case step[0] == '+' || step[0] == '-':
			d, err := time.ParseDuration(step)
			require.NoError(t, err, "step %q", step)
			clock.Advance(d)
			continue
		case step == "reset":
			b.Reset()
			continue
		case step == "force":
			b.ForceOpen()
			continue
		}
		for _, c := range step {
			require.Contains(t, "sfi", string(c), "step %q", step)
			ctx, cancel := context.WithCancel(context.Background())
			ran := false
			err := b.Execute(ctx, func(context.Context) error {
				ran = true
				switch c {
				case 'f':
					return errBoom
				case 'i':
					cancel()
					return context.Canceled
				}
				return nil
			})
			cancel()
			if ran {
				last = "ran"
			} else {
				require.ErrorIs(t, err, breaker.ErrOpen)
				last = "rejected"
			}
		}
	}
	return last
}
