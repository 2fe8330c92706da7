package sharedstate_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/sharedstate/sharedstatetest"
)

// G2: one replica's opening opens every other, with its origin, peer and
// remaining time, before any time passes.
func TestOpeningPropagates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, rs := fleet(t, 3)
		for _, r := range rs {
			r.breaker(t)
		}
		rs[0].trip(t)
		synctest.Wait()
		assert.Equal(t, breaker.OriginLocal, rs[0].last(t).Origin)
		for _, r := range rs[1:] {
			require.Equal(t, breaker.Open, r.state(t), r.id)
			e := r.last(t)
			assert.Equal(t, breaker.OriginPeer, e.Origin)
			assert.Equal(t, "r0", e.Peer)
			assert.Equal(t, breaker.ReasonFailureThreshold, e.Reason)
			assert.Equal(t, openFor, e.OpenFor)
		}
		rec, ok := store.Record(name)
		require.True(t, ok)
		assert.Equal(t, breaker.Open, rec.State)
		assert.Equal(t, 1, store.Writes())
		assert.Equal(t, uint64(2), rs[1].s.Stats().MessagesApplied+rs[2].s.Stats().MessagesApplied)
		assert.Equal(t, uint64(1), rs[0].s.Stats().MessagesSelf)

		// The peers stay open for the remaining time only, then probe.
		time.Sleep(openFor - time.Second)
		assert.Equal(t, breaker.Open, rs[1].state(t))
		time.Sleep(time.Second)
		assert.Equal(t, breaker.HalfOpen, rs[1].state(t))
	})
}

// Replicas that trip together join one opening: one record written, one
// epoch everywhere, no storm of messages.
func TestSimultaneousTripsJoinOneOpening(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, rs := fleet(t, 8)
		for _, r := range rs {
			r.c.SetDelay(time.Millisecond) // every trip happens before any proposal lands
		}
		for _, r := range rs {
			r.trip(t)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		assert.Equal(t, 1, store.Writes())
		rec, _ := store.Record(name)
		var joined uint64
		for _, r := range rs {
			episode, applied := r.s.Episode(name)
			assert.Equal(t, rec.Epoch, episode, r.id)
			assert.Equal(t, rec.Epoch, applied, r.id)
			assert.Equal(t, breaker.OriginLocal, r.last(t).Origin, "%s opened on its own", r.id)
			joined += r.s.Stats().ProposalsJoined
		}
		assert.Equal(t, uint64(7), joined)
	})
}

// G3: a replica that missed a newer opening cannot close it: its close is
// refused and it adopts the opening instead.
func TestStaleCloseRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, rs := fleet(t, 2)
		a, b := rs[0], rs[1]
		b.breaker(t)
		a.trip(t)
		synctest.Wait()
		first, _ := store.Record(name)
		require.Equal(t, breaker.Open, b.state(t))

		b.c.SetDown(true) // b misses what follows
		time.Sleep(openFor)
		require.NoError(t, a.succeed(t)) // a's probe closes the first opening
		a.trip(t)                        // and a new one starts
		synctest.Wait()
		second, _ := store.Record(name)
		require.Greater(t, second.Epoch, first.Epoch)
		require.Equal(t, breaker.Open, second.State)

		// b, cut off, probes and closes on its own.
		require.Equal(t, breaker.HalfOpen, b.state(t))
		require.NoError(t, b.succeed(t))
		require.Equal(t, breaker.Closed, b.state(t))

		b.c.SetDown(false)
		time.Sleep(sharedstate.DefaultMaxBackoff) // the next attempt
		synctest.Wait()
		now, _ := store.Record(name)
		assert.Equal(t, second.Epoch, now.Epoch, "the stale close must not close the newer opening")
		assert.Equal(t, breaker.Open, now.State)
		assert.Zero(t, b.s.Stats().ProposalsWritten)
		assert.Equal(t, breaker.Open, b.state(t), "b adopts the opening it missed")
		assert.Equal(t, breaker.OriginPeer, b.last(t).Origin)
	})
}

// A peer's close moves a breaker open for that opening to half-open, so its
// own trial confirms; WithRemoteCloseCloses closes it outright.
func TestRemoteClose(t *testing.T) {
	for _, closes := range []bool{false, true} {
		t.Run(map[bool]string{false: "half-open", true: "closes"}[closes], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				_, rs := fleet(t, 2, sharedstate.WithProbeJitter(0.5), sharedstate.WithRemoteCloseCloses(closes))
				a, b := rs[0], rs[1]
				b.breaker(t)
				a.trip(t)
				synctest.Wait()
				time.Sleep(openFor) // a probes first: b's period is jittered
				require.NoError(t, a.succeed(t))
				synctest.Wait()
				want := breaker.HalfOpen
				if closes {
					want = breaker.Closed
				}
				assert.Equal(t, want, b.state(t))
				assert.Equal(t, breaker.OriginPeer, b.last(t).Origin)
				if !closes {
					require.NoError(t, b.succeed(t))
					synctest.Wait()
					assert.Equal(t, breaker.Closed, b.state(t))
					assert.Zero(t, b.s.Stats().ProposalsRefused, "b knows the fleet closed: nothing to send")
				}
			})
		})
	}
}

// A quorum of 2: one replica's trip opens no one else; a second opens all,
// as a cluster decision.
func TestQuorum(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, rs := fleet(t, 3, sharedstate.WithQuorum(2, time.Minute))
		for _, r := range rs {
			r.breaker(t)
		}
		rs[0].trip(t)
		synctest.Wait()
		assert.Equal(t, breaker.Closed, rs[1].state(t))
		assert.Equal(t, breaker.Closed, rs[2].state(t))
		assert.Zero(t, store.Writes())
		assert.Equal(t, uint64(1), rs[0].s.Stats().ProposalsVoted)

		rs[1].trip(t)
		synctest.Wait()
		require.Equal(t, breaker.Open, rs[2].state(t))
		e := rs[2].last(t)
		assert.Equal(t, breaker.OriginCluster, e.Origin)
		assert.Equal(t, "r1", e.Peer)
		episode0, _ := rs[0].s.Episode(name)
		rec, _ := store.Record(name)
		assert.Equal(t, rec.Epoch, episode0, "the first voter is in the opening")
		assert.True(t, rec.Cluster)
	})
}

// A vote older than the quorum window does not count, and a replica that
// recovers withdraws its vote.
func TestQuorumVotesExpireAndWithdraw(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, rs := fleet(t, 3, sharedstate.WithQuorum(2, 5*time.Second))
		for _, r := range rs {
			r.breaker(t)
		}
		rs[0].trip(t)
		synctest.Wait()
		time.Sleep(6 * time.Second)
		rs[1].trip(t)
		synctest.Wait()
		assert.Zero(t, store.Writes(), "r0's vote expired")

		time.Sleep(openFor) // r1 recovers and withdraws its vote
		require.NoError(t, rs[1].succeed(t))
		synctest.Wait()
		rs[2].trip(t)
		synctest.Wait()
		assert.Zero(t, store.Writes(), "r1's vote was withdrawn")
	})
}

// A replica that (re)starts reads the fleet's state: breakers it holds
// already open at Attach, and those created later open when created.
func TestRestartedReplicaStartsWithFleetState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, rs := fleet(t, 1)
		rs[0].trip(t)
		synctest.Wait()
		time.Sleep(2 * time.Second)

		late := join(t, store, "late")
		b := late.breaker(t) // created after Attach
		require.Equal(t, breaker.Open, b.State())
		e := late.last(t)
		assert.Equal(t, breaker.OriginPeer, e.Origin)
		assert.Equal(t, openFor-2*time.Second, e.OpenFor)
		assert.Equal(t, uint64(1), late.s.Stats().Repaired)

		// A breaker that exists before Attach is opened by it.
		reg := breaker.NewRegistry(breaker.WithRecoveryTimeout(openFor))
		pre, err := reg.Get(name)
		require.NoError(t, err)
		s, err := sharedstate.Attach(reg, store.Client(), sharedstate.WithReplicaID("pre"))
		require.NoError(t, err)
		defer s.Close()
		assert.Equal(t, breaker.Open, pre.State())
	})
}

// With operator actions enabled, ForceOpen and Reset reach every replica;
// without, they stay local.
func TestOperatorActions(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(map[bool]string{true: "fleet-wide", false: "local"}[on], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				_, rs := fleet(t, 2, sharedstate.WithOperatorActions(on))
				a, b := rs[0], rs[1]
				b.breaker(t)
				a.breaker(t).ForceOpen()
				synctest.Wait()
				if !on {
					assert.Equal(t, breaker.Closed, b.state(t))
					return
				}
				require.Equal(t, breaker.Open, b.state(t))
				assert.True(t, b.breaker(t).Stats().Forced)
				assert.Equal(t, breaker.ReasonForceOpen, b.last(t).Reason)

				// A forced breaker ignores ordinary decisions.
				time.Sleep(time.Hour)
				assert.Equal(t, breaker.Open, b.state(t))

				a.breaker(t).Reset()
				synctest.Wait()
				assert.Equal(t, breaker.Closed, b.state(t))
				assert.False(t, b.breaker(t).Stats().Forced)
				assert.Equal(t, breaker.ReasonReset, b.last(t).Reason)
			})
		})
	}
}

// Peers opened by a peer stay open for the remaining time plus up to the
// jitter share, spread rather than all alike.
func TestProbeJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, rs := fleet(t, 9, sharedstate.WithProbeJitter(0.5))
		for _, r := range rs {
			r.breaker(t)
		}
		rs[0].trip(t)
		synctest.Wait()
		seen := map[time.Duration]bool{}
		for _, r := range rs[1:] {
			d := r.last(t).OpenFor
			assert.GreaterOrEqual(t, d, openFor)
			assert.LessOrEqual(t, d, openFor*3/2)
			seen[d] = true
		}
		assert.Greater(t, len(seen), 1, "probes must be spread")
	})
}

// G4: with the store down, each replica is a plain local breaker and the
// call path does not notice; once it returns, the fleet converges.
func TestStoreDownActsLocallyThenConverges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, rs := fleet(t, 2)
		a, b := rs[0], rs[1]
		b.breaker(t)
		a.c.SetDown(true)
		start := time.Now()
		a.trip(t)
		assert.Equal(t, time.Duration(0), time.Since(start), "a call never waits for the store")
		assert.Equal(t, breaker.Open, a.state(t))
		synctest.Wait()
		assert.Equal(t, breaker.Closed, b.state(t), "nothing reached b")
		st := a.s.Status()
		assert.False(t, st.Connected)
		assert.Equal(t, 1, st.Pending)
		require.Error(t, st.LastError)

		a.c.SetDown(false)
		time.Sleep(sharedstate.DefaultMaxBackoff)
		synctest.Wait()
		assert.Equal(t, breaker.Open, b.state(t))
		st = a.s.Status()
		assert.True(t, st.Connected)
		assert.Zero(t, st.Pending)
	})
}

// A paused store (commands hang) costs calls nothing and Close stays
// bounded by the command timeout.
func TestPausedStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, rs := fleet(t, 2)
		a, b := rs[0], rs[1]
		b.breaker(t)
		a.c.Pause()
		start := time.Now()
		a.trip(t)
		for range 1000 {
			_ = a.succeed(t)
		}
		assert.Equal(t, time.Duration(0), time.Since(start))
		time.Sleep(time.Second)
		assert.False(t, a.s.Status().Connected)
		a.c.Resume()
		time.Sleep(sharedstate.DefaultMaxBackoff)
		synctest.Wait()
		assert.Equal(t, breaker.Open, b.state(t))

		a.c.Pause()
		a.breaker(t).Reset()
		time.Sleep(time.Second) // the syncer is stuck in a command
		start = time.Now()
		require.NoError(t, a.s.Close())
		assert.LessOrEqual(t, time.Since(start), sharedstate.DefaultCommandTimeout)
		a.c.Resume()
	})
}

// G2 with a lost message: the reconcile repairs it within its interval.
func TestLostMessageRepairedByReconcile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, rs := fleet(t, 2, sharedstate.WithReconcileInterval(time.Second))
		a, b := rs[0], rs[1]
		b.breaker(t)
		b.c.SetLoss(1)
		a.trip(t)
		synctest.Wait()
		assert.Equal(t, breaker.Closed, b.state(t))
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, breaker.Open, b.state(t))
		assert.Equal(t, uint64(1), b.s.Stats().Repaired)
		assert.Equal(t, breaker.OriginPeer, b.last(t).Origin)
	})
}

// Decisions still apply after the store restarts empty: epochs come from
// its clock, so a new opening outranks what replicas knew.
func TestStoreRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, rs := fleet(t, 2)
		a, b := rs[0], rs[1]
		b.breaker(t)
		a.trip(t)
		synctest.Wait()
		_, before := b.s.Episode(name)
		time.Sleep(openFor)
		require.NoError(t, a.succeed(t))
		require.NoError(t, b.succeed(t))
		synctest.Wait()

		store.Restart()
		time.Sleep(time.Second)
		a.trip(t)
		synctest.Wait()
		require.Equal(t, breaker.Open, b.state(t))
		_, after := b.s.Episode(name)
		assert.Greater(t, after, before)
	})
}

// Close stops everything: later transitions are not proposed and the
// goroutine is gone (goleak in TestMain checks the rest).
func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, rs := fleet(t, 2)
		require.NoError(t, rs[0].s.Close())
		require.NoError(t, rs[0].s.Close())
		rs[0].trip(t)
		synctest.Wait()
		assert.Zero(t, store.Writes())
		assert.Equal(t, breaker.Closed, rs[1].state(t))
	})
}

// Breakers created before the opening reaches this replica, and a message
// for a name the registry does not hold, are both handled.
func TestUnknownBreakerRemembered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, rs := fleet(t, 2)
		rs[0].trip(t)
		synctest.Wait()
		assert.Equal(t, uint64(1), rs[1].s.Stats().MessagesUnknown)
		_, ok := rs[1].reg.Lookup(name)
		require.False(t, ok)
		assert.Equal(t, breaker.Open, rs[1].state(t))
	})
}

func TestAttachValidates(t *testing.T) {
	store := sharedstatetestStore()
	cases := []struct {
		field string
		opt   sharedstate.Option
	}{
		{"replica_id", sharedstate.WithReplicaID("a\x1fb")},
		{"command_timeout", sharedstate.WithCommandTimeout(0)},
		{"startup_timeout", sharedstate.WithStartupTimeout(-1)},
		{"reconcile_interval", sharedstate.WithReconcileInterval(0)},
		{"max_backoff", sharedstate.WithMaxBackoff(time.Millisecond)},
		{"quorum", sharedstate.WithQuorum(0, time.Second)},
		{"quorum_window", sharedstate.WithQuorum(2, 0)},
		{"probe_jitter", sharedstate.WithProbeJitter(1.5)},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			_, err := sharedstate.Attach(breaker.NewRegistry(), store, tc.opt)
			require.ErrorIs(t, err, breaker.ErrInvalidConfig)
			var ce *breaker.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.field, ce.Field)
		})
	}
	var ce *breaker.ConfigError
	_, err := sharedstate.Attach(nil, store)
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "registry", ce.Field)
	_, err = sharedstate.Attach(breaker.NewRegistry(), nil)
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "store", ce.Field)
	_, err = sharedstate.Attach(breaker.NewRegistry(), (*sharedstatetest.Client)(nil))
	require.ErrorAs(t, err, &ce, "a typed nil store is refused, not a panic in the background")
	assert.Equal(t, "store", ce.Field)
}

// Calls do not pay for sharing: with only the syncer attached, a call
// publishes nothing on the bus and costs no allocation.
func TestCallPathUntouched(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, rs := fleet(t, 1)
		b := rs[0].breaker(t)
		ctx := context.Background()
		ok := func(context.Context) error { return nil }
		allocs := testing.AllocsPerRun(100, func() { _ = b.Execute(ctx, ok) })
		assert.Zero(t, allocs)
	})
}

// An opening proposed late (the store was down) shares only what is left
// of it, and one that ended before the store came back is not shared.
func TestLateProposalSharesWhatIsLeft(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, rs := fleet(t, 2)
		a, b := rs[0], rs[1]
		b.breaker(t)
		a.c.SetDown(true)
		a.trip(t)
		time.Sleep(4 * time.Second)
		a.c.SetDown(false)
		time.Sleep(sharedstate.DefaultMaxBackoff)
		synctest.Wait()
		require.Equal(t, breaker.Open, b.state(t))
		left := b.last(t).OpenFor
		assert.LessOrEqual(t, left, openFor-4*time.Second)
		assert.Greater(t, left, time.Duration(0))

		time.Sleep(openFor) // both probe; nothing written meanwhile
		writes := store.Writes()
		a.c.SetDown(true)
		require.NoError(t, a.succeed(t)) // a closes, then opens again, cut off:
		a.trip(t)                        // the opening supersedes the close
		time.Sleep(openFor + time.Second)
		a.c.SetDown(false)
		time.Sleep(sharedstate.DefaultMaxBackoff)
		synctest.Wait()
		assert.Equal(t, writes, store.Writes(), "the opening that ended before the store returned was not shared")
		assert.Zero(t, a.s.Status().Pending)
	})
}

// Half-open is each replica's own: going half-open or probing is never
// proposed.
func TestHalfOpenStaysLocal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, rs := fleet(t, 2)
		rs[1].breaker(t)
		rs[0].trip(t)
		synctest.Wait()
		writes := store.Writes()
		time.Sleep(openFor)
		require.Equal(t, breaker.HalfOpen, rs[0].state(t))
		synctest.Wait()
		assert.Equal(t, writes, store.Writes())
		assert.Zero(t, rs[0].s.Status().Pending)
	})
}

// Status and Stats describe the syncer without I/O.
func TestStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, rs := fleet(t, 1)
		st := rs[0].s.Status()
		assert.Equal(t, "r0", st.ReplicaID)
		assert.Equal(t, "r0", rs[0].s.ReplicaID())
		assert.True(t, st.Connected)
		assert.False(t, st.LastSync.IsZero())
		assert.NoError(t, st.LastError)
		rs[0].trip(t)
		synctest.Wait()
		stats := rs[0].s.Stats()
		assert.Equal(t, uint64(1), stats.ProposalsWritten)
		assert.Positive(t, stats.Reconciles)
		assert.Len(t, stats.Propagation.Counts, len(sharedstate.PropagationBounds)+1)
	})
}

// A ForceOpen of a breaker that is already open (the usual moment an
// operator acts) publishes no state change but an action, and with
// operator actions on it is shared; so is a Reset of a closed breaker.
func TestForceOpenOfAnOpenBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, rs := fleet(t, 2, sharedstate.WithOperatorActions(true))
		rs[1].breaker(t)
		rs[0].trip(t)
		synctest.Wait()
		require.Equal(t, breaker.Open, rs[1].breaker(t).State(), "the opening was shared")
		rs[0].breaker(t).ForceOpen()
		synctest.Wait()
		assert.True(t, rs[1].breaker(t).Stats().Forced, "the force-open of an open breaker reached the peer")

		rs[0].breaker(t).Reset()
		synctest.Wait()
		assert.False(t, rs[1].breaker(t).Stats().Forced, "the reset released the peer")
		assert.Equal(t, breaker.Closed, rs[1].breaker(t).State())
		rs[1].breaker(t).ForceOpen()
		synctest.Wait()
		require.True(t, rs[0].breaker(t).Stats().Forced)
		rs[1].breaker(t).Reset()
		synctest.Wait()
		assert.False(t, rs[0].breaker(t).Stats().Forced)
	})
}

// A Reset of a breaker that is already closed is an operator's action
// too, and is shared: here it releases a peer held open by a forced
// decision that replica 0 never saw (applied to replica 1 alone, as a
// record that came from elsewhere, so it is not proposed again).
func TestResetOfAClosedBreakerIsShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, rs := fleet(t, 2, sharedstate.WithOperatorActions(true))
		local, peer := rs[0].breaker(t), rs[1].breaker(t)
		_, err := peer.Apply(context.Background(), breaker.Remote{To: breaker.Open, Forced: true, Reason: breaker.ReasonForceOpen, Origin: breaker.OriginPeer, Peer: "ops"})
		require.NoError(t, err)
		synctest.Wait()
		require.True(t, peer.Stats().Forced)
		require.Equal(t, breaker.Closed, local.State(), "replica 0 never saw it")
		local.Reset() // closed already: an action, not a state change
		synctest.Wait()
		assert.False(t, peer.Stats().Forced, "the reset released replica 1")
		assert.Equal(t, breaker.Closed, peer.State())
		assert.Equal(t, breaker.Closed, local.State())
	})
}

// Conflicting operator actions made while a replica was cut off from the
// store converge once it is back: both replicas end the same way (which
// action wins depends on which reaches the store first; agreement during
// a partition is not promised).
func TestConflictingOperatorActionsConverge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, rs := fleet(t, 2, sharedstate.WithOperatorActions(true))
		local, peer := rs[0].breaker(t), rs[1].breaker(t)
		rs[0].c.SetDown(true)
		peer.ForceOpen()
		synctest.Wait()
		local.Reset()
		rs[0].c.SetDown(false)
		time.Sleep(10 * time.Second) // reconcile and resend
		synctest.Wait()
		assert.Equal(t, peer.Stats().Forced, local.Stats().Forced, "the replicas agree")
		assert.Equal(t, peer.State(), local.State())
	})
}

// A duplicated message is applied once and counted stale; a breaker
// changes state once.
func TestDuplicateMessageAppliedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, rs := fleet(t, 2)
		rs[1].breaker(t)
		rs[1].c.SetDuplicate(1)
		rs[0].trip(t)
		synctest.Wait()
		st := rs[1].s.Stats()
		assert.Equal(t, uint64(1), st.MessagesApplied)
		assert.Equal(t, uint64(1), st.MessagesStale)
		assert.Equal(t, 1, rs[1].changes())
	})
}

// A replica that missed an operator's fleet-wide force-open and then trips
// on its own joins the forced record; it must hold open with the fleet
// (forced) rather than probe after its own recovery timeout while every
// other replica is held open.
func TestOpeningThatJoinsAForcedRecordIsHeldOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, rs := fleet(t, 2, sharedstate.WithOperatorActions(true), sharedstate.WithReconcileInterval(time.Hour))
		ops, late := rs[0], rs[1]
		late.breaker(t)
		late.c.SetLoss(1) // the force-open's message never reaches it
		ops.breaker(t).ForceOpen()
		synctest.Wait()
		require.Equal(t, breaker.Closed, late.state(t), "the message was lost")
		late.c.SetLoss(0)

		late.trip(t)
		synctest.Wait()
		assert.True(t, late.breaker(t).Stats().Forced, "the opening joined the forced record and adopted it")
		time.Sleep(openFor)
		synctest.Wait()
		assert.Equal(t, breaker.Open, late.state(t), "held open with the fleet, no probe")
	})
}

// Attach waits at most the startup timeout in all, however slow the store:
// subscribing and reading the snapshot share one deadline.
func TestAttachWaitsAtMostTheStartupTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := sharedstatetest.NewStore().Client()
		c.Pause()
		defer c.Resume()
		start := time.Now()
		s, err := sharedstate.Attach(breaker.NewRegistry(), c, sharedstate.WithStartupTimeout(time.Second))
		require.NoError(t, err)
		defer s.Close()
		assert.Equal(t, time.Second, time.Since(start))
	})
}

// What the call path pays for sharing, exactly: a call that changes no
// state never takes the Syncer's mutex, so it completes while the mutex is
// held (by Status, or the background goroutine); a call that changes the
// state notes the change under that mutex, briefly, and waits for it.
func TestOnlyStateChangesTakeTheSyncersLock(t *testing.T) {
	_, rs := fleet(t, 1, sharedstate.WithStartupTimeout(0))
	b := rs[0].breaker(t)
	ctx := context.Background()

	unlock := rs[0].s.Lock()
	require.NoError(t, b.Execute(ctx, func(context.Context) error { return nil }), "a call that changes no state")
	_ = rs[0].s.Stats() // atomics: no lock either

	done := make(chan error)
	go func() { done <- b.Execute(ctx, func(context.Context) error { return errDown }) }() // opens the breaker
	for !blockedIn("sharedstate.(*Syncer).onChange") {
		select {
		case err := <-done:
			t.Fatalf("the opening call returned (%v) while the Syncer's mutex was held", err)
		default:
			runtime.Gosched()
		}
	}
	unlock()
	require.ErrorIs(t, <-done, errDown)
	assert.Equal(t, breaker.Open, b.State())
}

// blockedIn reports whether a goroutine is waiting for a mutex inside fn.
func blockedIn(fn string) bool {
	buf := make([]byte, 1<<20)
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "sync.(*Mutex).Lock") && strings.Contains(g, fn) {
			return true
		}
	}
	return false
}

// A breaker the registry removes (Remove, or idle eviction) is forgotten
// by the Syncer: its pending proposal is dropped and, when the store holds
// no record of it, its entry too, so that a registry with idle eviction
// keeps the Syncer's memory bounded. Here the store is down, so the
// opening never became a record.
func TestRemovedBreakerIsForgotten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, rs := fleet(t, 1)
		a := rs[0]
		a.c.SetDown(true)
		for i := range 50 {
			b, err := a.reg.Get(fmt.Sprintf("host-%d", i))
			require.NoError(t, err)
			require.ErrorIs(t, b.Execute(context.Background(), func(context.Context) error { return errDown }), errDown)
		}
		synctest.Wait()
		require.Equal(t, 50, a.s.Status().Pending)
		require.Equal(t, 50, a.s.Entries())

		for i := range 50 {
			require.True(t, a.reg.Remove(fmt.Sprintf("host-%d", i)))
		}
		assert.Zero(t, a.s.Status().Pending, "no proposal for a breaker that is gone")
		assert.Zero(t, a.s.Entries(), "nothing kept: the store knows nothing of them")

		a.c.SetDown(false)
		time.Sleep(sharedstate.DefaultMaxBackoff)
		synctest.Wait()
		assert.True(t, a.s.Status().Connected)
		assert.Zero(t, store.Writes(), "nothing proposed for the removed breakers")
	})
}

// What the fleet decided survives the removal: the store's record of the
// name stays (its epoch too, so an older message is still stale), while
// what described the removed breaker (the opening it was in) goes. A
// breaker of that name created later starts with the fleet's state, as
// one created for the first time does.
func TestRemovedBreakerRecreatedStartsWithFleetState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, rs := fleet(t, 2)
		a, b := rs[0], rs[1]
		old := b.breaker(t)
		a.trip(t)
		synctest.Wait()
		require.Equal(t, breaker.Open, old.State(), "b applied a's opening")
		episode, applied := b.s.Episode(name)
		require.NotZero(t, applied)
		require.Equal(t, applied, episode, "b's breaker is in that opening")

		require.True(t, b.reg.Remove(name))
		episode, kept := b.s.Episode(name)
		assert.Zero(t, episode, "the removed breaker's opening is forgotten")
		assert.Equal(t, applied, kept, "the store's record is kept")

		fresh := b.breaker(t)
		require.NotSame(t, old, fresh)
		assert.Equal(t, breaker.Open, fresh.State(), "a new breaker of the name starts with the fleet's state")
		e := b.last(t)
		assert.Equal(t, breaker.OriginPeer, e.Origin)
		assert.Equal(t, "r0", e.Peer)
		episode, _ = b.s.Episode(name)
		assert.Equal(t, applied, episode, "the new breaker is in the fleet's opening")
	})
}

// A Syncer tells what it shares and how it applies others' decisions, for
// telemetry: its registry, its quorum and whether a peer's close closes.
func TestSettingsAccessors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := sharedstatetest.NewStore()
		def := join(t, store, "r0")
		assert.Same(t, def.reg, def.s.Registry())
		assert.Equal(t, 1, def.s.Quorum())
		assert.False(t, def.s.RemoteCloseCloses())

		set := join(t, store, "r1", sharedstate.WithQuorum(3, time.Minute), sharedstate.WithRemoteCloseCloses(true))
		assert.Same(t, set.reg, set.s.Registry())
		assert.Equal(t, 3, set.s.Quorum())
		assert.True(t, set.s.RemoteCloseCloses())
	})
}

// WithLogger tells an operator that the store is unreachable also when it
// is so from the start (a wrong address, a server not up yet), not only
// once a connection that worked is lost; and that it is reachable again.
func TestLoggerReportsAStoreUnreachableFromTheStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var buf bytes.Buffer
		logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return buf.Write(p)
		}), nil))
		logs := func() string {
			mu.Lock()
			defer mu.Unlock()
			return buf.String()
		}
		c := sharedstatetest.NewStore().Client()
		c.SetDown(true)
		s, err := sharedstate.Attach(breaker.NewRegistry(), c, sharedstate.WithReplicaID("r0"), sharedstate.WithLogger(logger))
		require.NoError(t, err)
		defer s.Close()
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, 1, strings.Count(logs(), "unreachable"), "one warning, however many attempts fail:\n%s", logs())

		c.SetDown(false)
		time.Sleep(sharedstate.DefaultMaxBackoff)
		synctest.Wait()
		assert.Contains(t, logs(), "reachable again")
	})
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// malformedStore reports records it could not decode in every snapshot.
type malformedStore struct {
	*sharedstatetest.Client
	n int
}

func (m malformedStore) Snapshot(ctx context.Context, since uint64) (sharedstate.Snapshot, error) {
	snap, err := m.Client.Snapshot(ctx, since)
	snap.Malformed = m.n
	return snap, err
}

// Records a store could not decode in a snapshot count as malformed.
func TestSnapshotMalformedRecordsCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := sharedstate.Attach(breaker.NewRegistry(), malformedStore{Client: sharedstatetest.NewStore().Client(), n: 2})
		require.NoError(t, err)
		defer s.Close()
		assert.Equal(t, uint64(2), s.Stats().MessagesMalformed, "the first snapshot's")
	})
}
