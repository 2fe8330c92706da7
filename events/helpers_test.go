package events_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/events"
)

// call is one handler invocation seen by a recorder.
type call struct {
	Handler string
	Event   int
}

// recorder collects handler invocations from any goroutine.
type recorder struct {
	mu    sync.Mutex
	calls []call
}

// handler returns a Handler that records its calls under the given name.
func (r *recorder) handler(name string) events.Handler[int] {
	return events.HandlerFunc[int](func(_ context.Context, e int) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls = append(r.calls, call{Handler: name, Event: e})
	})
}

// got returns a copy of the calls recorded so far.
func (r *recorder) got() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// events returns the events recorded so far, in order.
func (r *recorder) events() []int {
	var out []int
	for _, c := range r.got() {
		out = append(out, c.Event)
	}
	return out
}

// kind is one Bus implementation under test.
type kind struct {
	name string
	// open returns a new bus and a function that waits until everything
	// published so far has been delivered (for an Async, by closing it).
	open func(t *testing.T) (bus events.Bus[int], flush func())
}

// kinds lists the Bus implementations every common test runs against.
var kinds = []kind{
	{
		name: "Sync",
		open: func(*testing.T) (events.Bus[int], func()) {
			return events.NewSync[int](), func() {}
		},
	},
	{
		name: "Async",
		open: func(t *testing.T) (events.Bus[int], func()) {
			b := events.NewAsync[int](64)
			t.Cleanup(func() { _ = b.Close() })
			return b, func() { require.NoError(t, b.Close()) }
		},
	},
}

// panicCounter is implemented by both buses.
type panicCounter interface{ Panics() uint64 }
