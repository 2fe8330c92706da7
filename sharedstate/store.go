package sharedstate

import (
	"context"
	"errors"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
)

// Store is where replicas share their decisions. A decision about one
// breaker name is a [Record] stamped with an epoch that the store assigns
// from its own clock: epochs only grow for a name, also across a restart of
// the store that lost its data (as long as the store's clock does not step
// back further than the time the store was down).
//
// The [Syncer] calls a Store from its one background goroutine, never on a
// breaker's call path, and gives every call a context with a deadline. A
// Store must return once the context is done and must not retry on its own:
// the Syncer retries with backoff and reconciles.
//
// package redisstate (its own module) implements Store on Redis; package
// sharedstatetest has an in-memory one with injectable faults.
type Store interface {
	// Propose offers one replica's decision and reports what the store
	// made of it, with the record it holds afterwards. The store applies
	// these rules atomically:
	//
	//   - Forced: written as is, with a new epoch (an operator's action).
	//   - Open: if the stored record is open (forced, or not expired) the
	//     proposal joins it (Joined). Otherwise, with a Quorum above 1, the
	//     proposer's vote is recorded and the opening is written only once
	//     Quorum distinct replicas voted within QuorumWindow (Voted until
	//     then); without one it is written with a new epoch (Written).
	//   - Closed: the proposer's vote, if any, is withdrawn. The close is
	//     written with a new epoch only if the stored record is an open,
	//     unforced record whose epoch is Base; otherwise it is Refused and
	//     the stored record returned, so a replica that missed a newer
	//     opening never closes it.
	//
	// Every written record is also published to the subscribers, from the
	// same atomic step.
	Propose(ctx context.Context, p Proposal) (Result, error)

	// Snapshot returns every record the store holds, unless its version
	// is still since (then Unchanged is set and Records is empty). The
	// version changes with every write.
	Snapshot(ctx context.Context, since uint64) (Snapshot, error)

	// Subscribe starts delivering the records other replicas write. The
	// subscription keeps itself connected until Close; whenever messages
	// may have been lost (after a reconnection), it delivers a Message
	// with Resync set.
	Subscribe(ctx context.Context) (Subscription, error)
}

// Subscription delivers the records written to a [Store].
type Subscription interface {
	// Messages returns the channel the records arrive on. It is closed
	// when the subscription ends for good.
	Messages() <-chan Message
	// Close ends the subscription and releases what it holds.
	Close() error
}

// Message is one delivery of a [Subscription].
type Message struct {
	// Record is the decision written, unless Resync or Err is set.
	Record Record
	// Resync says that messages may have been lost: the receiver should
	// read a full snapshot.
	Resync bool
	// Err is set for a message that could not be decoded.
	Err error
}

// Proposal is one replica's decision about one breaker, offered to a
// [Store].
type Proposal struct {
	// Name is the breaker's name.
	Name string
	// To is Open or Closed.
	To breaker.State
	// Base is, for a close, the epoch of the opening being closed.
	Base uint64
	// OpenFor is, for an opening that is not forced, how long the
	// breaker stays open before a probe may run.
	OpenFor time.Duration
	// Forced marks an operator's action: a force-open (To Open) or a
	// reset (To Closed).
	Forced bool
	// Reason is the reason the proposing breaker gave.
	Reason breaker.Reason
	// By is the proposing replica's id.
	By string
	// Quorum is how many distinct replicas must propose an opening within
	// QuorumWindow before it is written; 0 or 1 means one is enough.
	Quorum int
	// QuorumWindow is how long a vote counts.
	QuorumWindow time.Duration
}

// Record is a decision as the store holds it.
type Record struct {
	// Name is the breaker's name.
	Name string
	// Epoch orders the records of one name; 0 means no record.
	Epoch uint64
	// State is Open or Closed.
	State breaker.State
	// Remaining is, for an open record that is not forced, how long it
	// stays open, measured on the store's clock when it was read or
	// published; zero or negative once expired.
	Remaining time.Duration
	// Forced marks an operator's action.
	Forced bool
	// Cluster marks an opening decided by a quorum of replicas.
	Cluster bool
	// Reason is the reason the deciding replica gave.
	Reason breaker.Reason
	// By is the deciding replica's id.
	By string
	// Written is when the store wrote the record, on its clock.
	Written time.Time
}

// Outcome says what a [Store] made of a [Proposal].
type Outcome uint8

// The outcomes of a proposal.
const (
	// Written: the decision is now the stored record, with a new epoch.
	Written Outcome = iota + 1
	// Joined: an opening was already in force; the record is that opening.
	Joined
	// Refused: a close for an opening that is not the stored record's.
	Refused
	// Voted: an opening's vote was recorded, but the quorum is not reached.
	Voted
)

// String returns "written", "joined", "refused" or "voted".
func (o Outcome) String() string {
	switch o {
	case Written:
		return "written"
	case Joined:
		return "joined"
	case Refused:
		return "refused"
	case Voted:
		return "voted"
	}
	return "unknown"
}

// Result is what [Store.Propose] returns.
type Result struct {
	// Outcome says what the store did.
	Outcome Outcome
	// Record is the stored record after the proposal (Epoch 0: none).
	Record Record
}

// Snapshot is what [Store.Snapshot] returns.
type Snapshot struct {
	// Version identifies the store's content; pass it as since next time.
	Version uint64
	// Unchanged says that the version is still the one asked about.
	Unchanged bool
	// Records holds every record, in no particular order.
	Records []Record
	// Malformed counts the stored records the store could not decode and
	// left out of Records; the Syncer adds them to
	// [Stats].MessagesMalformed.
	Malformed int
}

// ErrUnavailable is returned by a store that cannot be reached. Stores
// may return other errors too; the Syncer treats every error alike.
var ErrUnavailable = errors.New("sharedstate: store unavailable")
