package sharedstate_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/sharedstate/sharedstatetest"
)

const (
	name    = "payments"
	openFor = 10 * time.Second
)

var errDown = errors.New("dependency down")

// replica is one service replica in a test: its registry, its connection
// to the shared store and its syncer.
type replica struct {
	id  string
	reg *breaker.Registry
	c   *sharedstatetest.Client
	s   *sharedstate.Syncer

	mu     sync.Mutex
	events []breaker.Event
}

// fleet attaches n replicas ("r0", "r1", ...) to one in-memory store. Each
// registry opens at the first failure and stays open for openFor. The
// syncers are closed at cleanup.
func fleet(t *testing.T, n int, opts ...sharedstate.Option) (*sharedstatetest.Store, []*replica) {
	t.Helper()
	store := sharedstatetest.NewStore()
	rs := make([]*replica, n)
	for i := range rs {
		rs[i] = join(t, store, fmt.Sprintf("r%d", i), opts...)
	}
	return store, rs
}

// join attaches one more replica to store.
func join(t *testing.T, store *sharedstatetest.Store, id string, opts ...sharedstate.Option) *replica {
	t.Helper()
	r := &replica{id: id, reg: breaker.NewRegistry(breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(openFor), breaker.WithHalfOpenMaxCalls(1)), c: store.Client()}
	r.reg.OnStateChange(func(_ context.Context, e breaker.Event) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.events = append(r.events, e)
	})
	all := append([]sharedstate.Option{sharedstate.WithReplicaID(id), sharedstate.WithProbeJitter(0)}, opts...)
	s, err := sharedstate.Attach(r.reg, r.c, all...)
	require.NoError(t, err)
	r.s = s
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return r
}

func (r *replica) breaker(t *testing.T) *breaker.Breaker {
	t.Helper()
	b, err := r.reg.Get(name)
	require.NoError(t, err)
	return b
}

// trip makes the replica's breaker fail once, which opens it.
func (r *replica) trip(t *testing.T) {
	t.Helper()
	err := r.breaker(t).Execute(context.Background(), func(context.Context) error { return errDown })
	require.ErrorIs(t, err, errDown)
}

// succeed runs one successful call, which closes a half-open breaker. It
// first lets the bubble's timers run: an open breaker on the system clock
// learns from a timer that its recovery timeout passed.
func (r *replica) succeed(t *testing.T) error {
	t.Helper()
	synctest.Wait()
	return r.breaker(t).Execute(context.Background(), func(context.Context) error { return nil })
}

func (r *replica) state(t *testing.T) breaker.State { return r.breaker(t).State() }

// last returns the replica's last state change.
func (r *replica) last(t *testing.T) breaker.Event {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.NotEmpty(t, r.events, "%s saw no state change", r.id)
	return r.events[len(r.events)-1]
}

func (r *replica) changes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

func sharedstatetestStore() *sharedstatetest.Client { return sharedstatetest.NewStore().Client() }
