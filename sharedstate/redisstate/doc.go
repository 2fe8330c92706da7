// Package redisstate is a [sharedstate.Store] on Redis, so that the
// replicas of a service share their breakers' openings through a Redis
// server (standalone, Sentinel or Cluster) they already run. It lives in a
// module of its own so that go-redis stays out of the build of programs
// that do not import it.
//
// # Usage
//
//	client := redis.NewClient(&redis.Options{
//		Addr:                  "redis:6379",
//		ContextTimeoutEnabled: true, // required
//		MaxRetries:            -1,   // advised: the syncer retries
//	})
//	store, err := redisstate.New(client, redisstate.WithNamespace("checkout"))
//	if err != nil { ... } // wraps breaker.ErrInvalidConfig
//	s, err := sharedstate.Attach(reg, store, sharedstate.WithReplicaID(pod))
//	defer s.Close() // then close client
//
// # Keys and messages
//
// Every key carries the hash tag "{fusebox:<namespace>}", so all of them
// live on one Cluster slot and one script can touch them together:
//
//	{fusebox:<ns>}:rec           hash: breaker name -> its record
//	{fusebox:<ns>}:ver           the version: the highest epoch written
//	{fusebox:<ns>}:votes:<name>  hash: replica -> vote time (quorum only)
//	{fusebox:<ns>}:ev            the pub/sub channel
//
// Redis memory is one small record per breaker name and, with a quorum,
// one vote per replica while a vote counts. A proposal is one EVALSHA: a
// compare-and-set that reads the server's TIME for the epoch and the open
// deadline and PUBLISHes what it writes, so a decision and its message are
// one atomic step. A reconcile is one EVALSHA that returns only the version
// while nothing changed. The scripts use commands of Redis 7.0 and earlier
// (and run on Valkey and miniredis).
//
// # Faults
//
// Every command runs under the deadline of the context it is given, and the
// Store never retries: the [sharedstate.Syncer] backs off and reconciles.
// A client that ignores context deadlines is refused by [New]. The
// subscription pings a silent server every second, reconnects by itself,
// and reports each resubscription so that the Syncer reconciles at once
// (Redis pub/sub drops what is published while a subscriber is away).
//
// # Concurrency
//
// A Store is safe for concurrent use.
package redisstate
