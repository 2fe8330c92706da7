package redisstate_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/sharedstate/redisstate"
	"github.com/fusebox-go/fusebox/sharedstate/redisstate/redistest"
)

// wait bounds every wait for something a real server must make happen.
const wait = 10 * time.Second

var errDown = errors.New("dependency down")

// node is one replica on a real redis-server: its own client, registry and
// syncer.
type node struct {
	id     string
	client *redis.Client
	store  *redisstate.Store
	reg    *breaker.Registry
	s      *sharedstate.Syncer

	mu      sync.Mutex
	changes map[string][]breaker.Event
	notify  chan struct{}
}

// testOptions are the syncer's settings in these tests: short enough that
// faults resolve within a test, long enough for a loaded 2-core machine.
func testOptions(id string) []sharedstate.Option {
	return []sharedstate.Option{
		sharedstate.WithReplicaID(id),
		sharedstate.WithCommandTimeout(200 * time.Millisecond),
		sharedstate.WithReconcileInterval(500 * time.Millisecond),
		sharedstate.WithMaxBackoff(500 * time.Millisecond),
		sharedstate.WithProbeJitter(0),
	}
}

func newNode(t testing.TB, srv *redistest.Server, id string, opts ...sharedstate.Option) *node {
	t.Helper()
	n := &node{id: id, client: srv.Client(t), changes: map[string][]breaker.Event{}, notify: make(chan struct{}, 1)}
	var err error
	n.store, err = redisstate.New(n.client)
	require.NoError(t, err)
	n.reg = breaker.NewRegistry(breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Minute), breaker.WithHalfOpenMaxCalls(1))
	n.reg.OnStateChange(func(_ context.Context, e breaker.Event) {
		n.mu.Lock()
		n.changes[e.Breaker.Name()] = append(n.changes[e.Breaker.Name()], e)
		n.mu.Unlock()
		select {
		case n.notify <- struct{}{}:
		default:
		}
	})
	n.s, err = sharedstate.Attach(n.reg, n.store, append(testOptions(id), opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.s.Close() })
	return n
}

func (n *node) get(t testing.TB, name string) *breaker.Breaker {
	t.Helper()
	b, err := n.reg.Get(name)
	require.NoError(t, err)
	return b
}

func (n *node) trip(t testing.TB, name string) {
	t.Helper()
	err := n.get(t, name).Execute(context.Background(), func(context.Context) error { return errDown })
	require.ErrorIs(t, err, errDown)
}

// waitFor waits until the breaker name of n has a state change that ok
// accepts, and returns it.
func (n *node) waitFor(t testing.TB, name string, ok func(breaker.Event) bool) breaker.Event {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		n.mu.Lock()
		for _, e := range n.changes[name] {
			if ok(e) {
				n.mu.Unlock()
				return e
			}
		}
		n.mu.Unlock()
		select {
		case <-n.notify:
		case <-deadline.C:
			t.Fatalf("%s: no such state change of %q within %v; saw %v", n.id, name, wait, n.seen(name))
		}
	}
}

// waitOpen waits until a peer's decision opened n's breaker name.
func (n *node) waitOpen(t testing.TB, name string) breaker.Event {
	t.Helper()
	return n.waitFor(t, name, func(e breaker.Event) bool { return e.To == breaker.Open && e.Origin != breaker.OriginLocal })
}

func (n *node) seen(name string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, e := range n.changes[name] {
		out = append(out, fmt.Sprintf("%v->%v %v %v %s", e.From, e.To, e.Reason, e.Origin, e.Peer))
	}
	return out
}

// waitUntil waits until cond holds, checking as state changes arrive and
// every 10ms otherwise.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", wait, what)
		}
		<-tick.C
	}
}

func fleet(t testing.TB, srv *redistest.Server, n int, opts ...sharedstate.Option) []*node {
	t.Helper()
	ns := make([]*node, n)
	for i := range ns {
		ns[i] = newNode(t, srv, fmt.Sprintf("r%d", i), opts...)
	}
	return ns
}
