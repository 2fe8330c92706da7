// Package sharedstate lets the replicas of a service share their breakers'
// openings through a store, with no network on the call path: when one
// replica sees a dependency down, the others stop calling it too, a
// restarted replica starts with the fleet's state, and operators' actions
// can reach every replica.
//
// # Usage
//
//	reg := breaker.NewRegistry()
//	store, err := redisstate.New(client) // module .../sharedstate/redisstate
//	if err != nil { ... }
//	s, err := sharedstate.Attach(reg, store,
//		sharedstate.WithReplicaID(podName),
//		sharedstate.WithQuorum(2, time.Minute), // optional
//	)
//	if err != nil { ... } // wraps breaker.ErrInvalidConfig
//	defer s.Close()
//
// # Protocol
//
// Replicas share decisions, not calls. Each breaker still decides alone on
// its own calls; [Attach] subscribes to its registry's state changes
// (a subscription calls do not pay for) and:
//
//   - notes each local opening or closing (and, with [WithOperatorActions],
//     each ForceOpen and Reset) in a pending map (the latest per
//     breaker wins) and wakes one background goroutine: the transition
//     takes the Syncer's mutex for that, briefly (it is never held across a
//     store command), and never waits for the store; a call that changes no
//     state takes no lock of the Syncer's at all;
//   - that goroutine proposes it to the [Store], which stamps decisions with
//     epochs from its own clock and publishes the ones it writes;
//   - decisions from other replicas are applied with
//     [breaker.Breaker.Apply] (origin "peer", or "cluster" for a quorum's),
//     and remembered for breakers the registry creates later; a breaker
//     the registry removes is forgotten (its pending proposal too), all but
//     the store's record of its name, which a breaker created again later
//     starts with;
//   - a periodic reconcile reads the store's state, which repairs lost
//     messages, and the goroutine retries with backoff while the store
//     fails.
//
// An opening proposed while another is in force joins it: replicas that trip
// together make one opening. A peer opened by a peer's decision stays open
// for the time that opening has left, lengthened by up to
// [WithProbeJitter]'s share so the fleet does not probe at once. A close is
// accepted only for the opening it ends; a peer's close moves a breaker
// still open for that opening to half-open, so its own trials confirm
// (or closes it, with [WithRemoteCloseCloses]). Half-open is never shared.
//
// # Guarantees
//
//   - Calls never wait on the store: a call costs the same with sharing
//     attached as without, and while the store is down, slow or stopped
//     every breaker acts exactly as a local one.
//   - Epochs only grow: a replica applies a decision only if its epoch is
//     above every one it knows for that breaker, and a stale replica's
//     close never ends a newer opening.
//   - While the store is reachable an opening reaches every attached
//     replica as fast as the store publishes it; a lost message is repaired
//     by the next reconcile ([WithReconcileInterval] plus one
//     [WithCommandTimeout]); after an outage the fleet converges within the
//     same bound once the store is back.
//   - One goroutine, one subscription and at most one pending proposal per
//     breaker, per attachment.
//
// Not promised: agreement during a partition (each side acts on what it
// sees), exactly-once delivery, a fleet-wide cap on half-open trials (each
// replica admits its own), or decisions surviving a store failover that
// lost recent writes.
//
// # Concurrency
//
// A Syncer is safe for concurrent use; its goroutine is owned by
// [Syncer.Close].
package sharedstate
