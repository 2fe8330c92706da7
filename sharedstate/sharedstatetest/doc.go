// Package sharedstatetest provides an in-memory [sharedstate.Store] for
// tests, with faults injected per replica: commands that fail, hang or are
// slow, and messages that are delayed, lost or duplicated.
//
// # Usage
//
//	store := sharedstatetest.NewStore()
//	a, b := store.Client(), store.Client() // one per replica
//	sa, err := sharedstate.Attach(regA, a, sharedstate.WithReplicaID("a"))
//	sb, err := sharedstate.Attach(regB, b, sharedstate.WithReplicaID("b"))
//	b.SetDown(true) // b is cut off: its breakers act alone
//
// The store reads time with time.Now, so tests run it inside
// testing/synctest bubbles to control time. It follows the rules that
// [sharedstate.Store] documents, the same ones the Redis store implements
// in Lua.
//
// # Concurrency
//
// A Store and its Clients are safe for concurrent use.
package sharedstatetest
