package redisstate_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/sharedstate/redisstate/redistest"
)

// G2: 8 replicas, each with its own client: every opening reaches every
// other replica, as a peer's, with the opener named.
func TestPropagationEightReplicas(t *testing.T) {
	srv := redistest.Start(t)
	ns := fleet(t, srv, 8)
	for round := range 16 {
		name := fmt.Sprintf("dep-%d", round)
		for _, n := range ns {
			n.get(t, name)
		}
		opener := ns[round%len(ns)]
		opener.trip(t, name)
		for _, n := range ns {
			if n == opener {
				continue
			}
			e := n.waitOpen(t, name)
			assert.Equal(t, breaker.OriginPeer, e.Origin)
			assert.Equal(t, opener.id, e.Peer)
			assert.Equal(t, breaker.ReasonFailureThreshold, e.Reason)
			assert.Greater(t, e.OpenFor, 50*time.Second)
		}
	}
	var applied uint64
	for _, n := range ns {
		applied += n.s.Stats().MessagesApplied
		assert.True(t, n.s.Status().Connected)
	}
	assert.Equal(t, uint64(16*7), applied)
}

// Replicas that trip at once make one opening: one record written, the
// rest join it.
func TestSimultaneousTripsOneOpening(t *testing.T) {
	srv := redistest.Start(t)
	ns := fleet(t, srv, 8)
	for _, n := range ns {
		n.get(t, "db")
	}
	var start sync.WaitGroup
	start.Add(1)
	var done sync.WaitGroup
	var trips atomic.Uint64
	for _, n := range ns {
		done.Go(func() {
			start.Wait()
			if n.get(t, "db").Execute(context.Background(), func(context.Context) error { return errDown }) == errDown {
				trips.Add(1) // not yet opened by a peer: this replica tripped
			}
		})
	}
	start.Done()
	done.Wait()
	var written, joined, refused uint64
	waitUntil(t, "every trip proposed and every replica open", func() bool {
		written, joined, refused = 0, 0, 0
		for _, n := range ns {
			st := n.s.Stats()
			written, joined, refused = written+st.ProposalsWritten, joined+st.ProposalsJoined, refused+st.ProposalsRefused
			if n.get(t, "db").State() != breaker.Open {
				return false
			}
		}
		return written+joined == trips.Load()
	})
	assert.Equal(t, uint64(1), written, "one opening")
	assert.Zero(t, refused)
	snap, err := ns[0].store.Snapshot(t.Context(), 0)
	require.NoError(t, err)
	require.Len(t, snap.Records, 1)
	t.Logf("%d trips: written %d, joined %d (the other replicas were opened by a peer before they failed)", trips.Load(), written, joined)
}

// G3 under contention: of 8 replicas closing one opening at once exactly
// one close is written; a close for an older opening is refused.
func TestConcurrentClosesOneWins(t *testing.T) {
	srv := redistest.Start(t)
	ns := fleet(t, srv, 8)
	ctx := t.Context()
	opened, err := ns[0].store.Propose(ctx, sharedstate.Proposal{Name: "q", To: breaker.Open, OpenFor: time.Minute, By: "r0", Reason: breaker.ReasonFailureThreshold})
	require.NoError(t, err)
	var written atomic.Int32
	var wg sync.WaitGroup
	for _, n := range ns {
		wg.Go(func() {
			res, err := n.store.Propose(ctx, sharedstate.Proposal{Name: "q", To: breaker.Closed, Base: opened.Record.Epoch, By: n.id, Reason: breaker.ReasonTrialsSucceeded})
			if assert.NoError(t, err) && res.Outcome == sharedstate.Written {
				written.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), written.Load())

	reopened, err := ns[1].store.Propose(ctx, sharedstate.Proposal{Name: "q", To: breaker.Open, OpenFor: time.Minute, By: "r1", Reason: breaker.ReasonFailureThreshold})
	require.NoError(t, err)
	stale, err := ns[2].store.Propose(ctx, sharedstate.Proposal{Name: "q", To: breaker.Closed, Base: opened.Record.Epoch, By: "r2", Reason: breaker.ReasonTrialsSucceeded})
	require.NoError(t, err)
	assert.Equal(t, sharedstate.Refused, stale.Outcome)
	assert.Equal(t, reopened.Record.Epoch, stale.Record.Epoch, "the newer opening stands")
}

// A quorum of 2 on a real server: one trip opens no one else, a second
// opens all as a cluster decision.
func TestQuorumOnRedis(t *testing.T) {
	srv := redistest.Start(t)
	ns := fleet(t, srv, 3, sharedstate.WithQuorum(2, time.Minute))
	for _, n := range ns {
		n.get(t, "ml")
	}
	ns[0].trip(t, "ml")
	waitUntil(t, "r0's vote recorded", func() bool { return ns[0].s.Stats().ProposalsVoted == 1 })
	assert.Equal(t, breaker.Closed, ns[1].get(t, "ml").State())
	assert.Equal(t, breaker.Closed, ns[2].get(t, "ml").State())
	ns[1].trip(t, "ml")
	e := ns[2].waitOpen(t, "ml")
	assert.Equal(t, breaker.OriginCluster, e.Origin)
	assert.Equal(t, "r1", e.Peer)
}

// G1 and G4: with the server stopped (SIGSTOP) under load, calls go on at
// their usual pace, a local trip still opens the local breaker, and the
// fleet converges once the server continues.
func TestPausedServerUnderLoad(t *testing.T) {
	srv := redistest.Start(t)
	ns := fleet(t, srv, 2)
	a, b := ns[0], ns[1]
	b.get(t, "pay")
	hot := a.get(t, "hot")

	stop := make(chan struct{})
	var calls atomic.Int64
	var slowest atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				_ = hot.Execute(context.Background(), func(context.Context) error { return nil })
				if d := int64(time.Since(start)); d > slowest.Load() {
					slowest.Store(d)
				}
				calls.Add(1)
			}
		})
	}

	srv.Pause()
	paused := calls.Load()
	a.trip(t, "pay")
	assert.Equal(t, breaker.Open, a.get(t, "pay").State(), "a local trip works with the server stopped")
	waitUntil(t, "the syncer notices", func() bool { return !a.s.Status().Connected })
	pause := time.NewTimer(2 * time.Second)
	<-pause.C
	during := calls.Load() - paused
	assert.Equal(t, breaker.Closed, b.get(t, "pay").State(), "nothing could reach b")
	assert.Equal(t, 1, a.s.Status().Pending)
	srv.Resume()

	e := b.waitOpen(t, "pay")
	assert.Equal(t, "r0", e.Peer)
	waitUntil(t, "a reconnected with nothing pending", func() bool {
		st := a.s.Status()
		return st.Connected && st.Pending == 0
	})
	close(stop)
	wg.Wait()
	assert.Greater(t, during, int64(1000), "calls went on while the server was stopped")
	t.Logf("%d calls during the 2s pause; slowest call of the run %v", during, time.Duration(slowest.Load()))
}

// G2 after a lost message: the subscribers are killed and the decision
// published before they can resubscribe (one MULTI), so no message arrives;
// the reconcile brings it.
func TestLostMessageRepairedByReconcile(t *testing.T) {
	srv := redistest.Start(t)
	ns := fleet(t, srv, 3)
	for _, n := range ns {
		n.get(t, "lost")
	}
	writer := newStoreClient(t, srv)
	ctx := t.Context()
	res, err := writer.ProposeAfter(ctx, func(p redis.Pipeliner) {
		p.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub")
	}, sharedstate.Proposal{Name: "lost", To: breaker.Open, OpenFor: time.Minute, By: "elsewhere", Reason: breaker.ReasonFailureThreshold})
	require.NoError(t, err)
	require.Equal(t, sharedstate.Written, res.Outcome)
	for _, n := range ns {
		e := n.waitOpen(t, "lost")
		assert.Equal(t, "elsewhere", e.Peer)
		st := n.s.Stats()
		assert.Equal(t, uint64(1), st.Repaired, "%s: the reconcile brought it", n.id)
		assert.Zero(t, st.MessagesApplied, "%s: no message came", n.id)
	}
}

// Decisions still apply after the server restarts with no data: clients
// reconnect and resubscribe, epochs from the server's clock outrank those
// from before, and a close for an opening from before is refused.
func TestServerRestart(t *testing.T) {
	srv := redistest.Start(t)
	ns := fleet(t, srv, 2)
	a, b := ns[0], ns[1]
	b.get(t, "x")
	b.get(t, "y")
	a.trip(t, "x")
	before := b.waitOpen(t, "x")
	require.Equal(t, "r0", before.Peer)
	snap, err := a.store.Snapshot(t.Context(), 0)
	require.NoError(t, err)
	require.Len(t, snap.Records, 1)
	oldEpoch := snap.Records[0].Epoch

	srv.Restart()
	waitUntil(t, "both reconnect", func() bool { return a.s.Status().Connected && b.s.Status().Connected && srv.Subscribers() == 2 })
	a.trip(t, "y")
	b.waitOpen(t, "y")
	snap, err = a.store.Snapshot(t.Context(), 0)
	require.NoError(t, err)
	require.Len(t, snap.Records, 1)
	assert.Greater(t, snap.Records[0].Epoch, oldEpoch)
	res, err := a.store.Propose(t.Context(), sharedstate.Proposal{Name: "x", To: breaker.Closed, Base: oldEpoch, By: "r0", Reason: breaker.ReasonTrialsSucceeded})
	require.NoError(t, err)
	assert.Equal(t, sharedstate.Refused, res.Outcome)
}

// Close returns promptly even while the server is stopped, and leaves no
// goroutine behind (the client's own pool aside, closed by its owner).
func TestCloseWhilePaused(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t)
	before := goleak.IgnoreCurrent()
	store := newStoreOn(t, client)
	reg := breaker.NewRegistry()
	s, err := sharedstate.Attach(reg, store, testOptions("solo")...)
	require.NoError(t, err)
	b, err := reg.Get("z")
	require.NoError(t, err)
	srv.Pause()
	b.ForceOpen()
	b.Reset()
	closed := make(chan struct{})
	go func() {
		_ = s.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(wait):
		t.Fatal("Close hung on a stopped server")
	}
	srv.Resume()
	goleak.VerifyNone(t, before)
}

func newStoreClient(t *testing.T, srv *redistest.Server) *redisstateStore {
	return newStoreOn(t, srv.Client(t))
}
