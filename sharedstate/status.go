package sharedstate

import (
	"sync/atomic"
	"time"
)

// Status is a snapshot of a [Syncer]'s health, for status pages and
// telemetry.
type Status struct {
	// ReplicaID is this replica's id in the store.
	ReplicaID string
	// Connected reports whether the last store command succeeded. While
	// it is false every breaker acts as a local one.
	Connected bool
	// Pending is how many breakers have a decision waiting to be sent.
	Pending int
	// LastSync is when a store command last succeeded (zero: never).
	LastSync time.Time
	// LastError is the last store error (nil: none yet), and LastErrorTime
	// when it happened.
	LastError     error
	LastErrorTime time.Time
}

// Status returns the Syncer's health. It does no I/O, and takes the
// Syncer's mutex, which is held only briefly and never across a store
// command. A breaker's call that changes no state never takes that mutex;
// a call that changes the state (or an operator's ForceOpen or Reset)
// takes it to note the change, so a Status taken at that moment delays
// that one call by as long as it takes to copy the fields.
func (s *Syncer) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Status{
		ReplicaID:     s.cfg.replicaID,
		Connected:     s.connected,
		Pending:       len(s.pending),
		LastSync:      s.lastSync,
		LastError:     s.lastErr,
		LastErrorTime: s.lastErrAt,
	}
}

// Stats holds a Syncer's cumulative counters, read at collection time by
// telemetry (the circuit_breaker.sync.* instruments). Every field only
// grows.
type Stats struct {
	// Messages received from other replicas, by what became of them:
	// applied (newer than anything known; acted on if the breaker exists),
	// stale (not newer than what was known: a duplicate or reordered
	// message), self (this replica's own decision), unknown (for a breaker
	// this registry does not hold yet: kept for when it is created) and
	// malformed (could not be decoded; this also counts the records of a
	// snapshot that the store could not decode).
	MessagesApplied, MessagesStale, MessagesSelf, MessagesUnknown, MessagesMalformed uint64
	// Proposals sent, by what the store made of them (see [Outcome]).
	ProposalsWritten, ProposalsJoined, ProposalsRefused, ProposalsVoted uint64
	// Reconciles counts the snapshots read; Repaired the records they
	// brought that no message had (a lost message, or a restart).
	Reconciles, Repaired uint64
	// Errors counts failed store commands and failed applications.
	Errors uint64
	// Propagation is the delay from the store writing a decision to this
	// replica receiving it, measured with the two hosts' wall clocks (so
	// only as good as their synchronisation).
	Propagation Histogram
}

// Histogram is a cumulative distribution of durations.
type Histogram struct {
	// Count and Sum are the number and sum of the observations.
	Count uint64
	Sum   time.Duration
	// Bounds are the buckets' upper bounds; Counts[i] counts observations
	// at most Bounds[i] (and above Bounds[i-1]); the last element of Counts
	// counts those above every bound.
	Bounds []time.Duration
	Counts []uint64
}

// PropagationBounds are the bucket bounds of [Stats.Propagation].
var PropagationBounds = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second,
}

type histogram struct {
	count, sum atomic.Uint64
	buckets    [13]atomic.Uint64
}

func (h *histogram) observe(d time.Duration) {
	d = max(d, 0)
	i := 0
	for i < len(PropagationBounds) && d > PropagationBounds[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sum.Add(uint64(d))
	h.count.Add(1)
}

func (h *histogram) read() Histogram {
	out := Histogram{Bounds: PropagationBounds, Counts: make([]uint64, len(h.buckets))}
	for i := range h.buckets {
		out.Counts[i] = h.buckets[i].Load()
		out.Count += out.Counts[i]
	}
	out.Sum = time.Duration(h.sum.Load())
	return out
}

// Stats returns the Syncer's counters. It takes no lock.
func (s *Syncer) Stats() Stats {
	return Stats{
		MessagesApplied:   s.n.applied.Load(),
		MessagesStale:     s.n.stale.Load(),
		MessagesSelf:      s.n.self.Load(),
		MessagesUnknown:   s.n.unknown.Load(),
		MessagesMalformed: s.n.malformed.Load(),
		ProposalsWritten:  s.n.written.Load(),
		ProposalsJoined:   s.n.joined.Load(),
		ProposalsRefused:  s.n.refused.Load(),
		ProposalsVoted:    s.n.voted.Load(),
		Reconciles:        s.n.reconciles.Load(),
		Repaired:          s.n.repaired.Load(),
		Errors:            s.n.errors.Load(),
		Propagation:       s.n.prop.read(),
	}
}
