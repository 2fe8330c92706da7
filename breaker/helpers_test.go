package breaker_test

import (
	"context"
	"errors"
	"sync"
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
func fail(context.Context) error    { return errBoom }

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
