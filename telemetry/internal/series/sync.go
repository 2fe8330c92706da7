package series

import (
	"math"
	"math/bits"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
)

// The instruments read from a sharedstate.Syncer at collection time.
var (
	SyncConnected = Instrument{"circuit_breaker.sync.connected", "{replica}",
		"Whether this replica reaches the store of shared breaker state: 1 if its last command succeeded, 0 if not (breakers then act locally)."}
	SyncPending = Instrument{"circuit_breaker.sync.pending_proposals", "{proposal}",
		"Breakers whose latest opening or closing waits to be proposed to the store of shared breaker state."}
	SyncLastSuccess = Instrument{"circuit_breaker.sync.last_success_time", "s",
		"When a command to the store of shared breaker state last succeeded, in seconds since the Unix epoch; 0 if none did."}
	SyncMessages = Instrument{"circuit_breaker.sync.messages", "{message}",
		"Decisions received from the store of shared breaker state, by what became of them."}
	SyncProposals = Instrument{"circuit_breaker.sync.proposals", "{proposal}",
		"Openings and closings proposed to the store of shared breaker state, by what the store made of them."}
	SyncReconciles = Instrument{"circuit_breaker.sync.reconciles", "{reconcile}",
		"Reads of the whole shared breaker state, compared with what this replica knew."}
	SyncRepaired = Instrument{"circuit_breaker.sync.repaired", "{record}",
		"Decisions a reconcile brought that no message had: lost messages, or a restart."}
	SyncErrors = Instrument{"circuit_breaker.sync.errors", "{error}",
		"Failed commands to the store of shared breaker state, and decisions that could not be applied."}
	SyncDelay = Instrument{"circuit_breaker.sync.propagation.delay", "s",
		"Delay from the store writing another replica's decision to this replica receiving it, measured with the two hosts' clocks."}
)

// MessageResults are the values of the messages counter's result
// attribute, in the order VisitSync reports them.
var MessageResults = [...]string{"applied", "stale", "self", "unknown", "malformed"}

// ProposalOutcomes are the outcomes of the proposals counter, in the order
// VisitSync reports them; their String forms are the attribute's values.
var ProposalOutcomes = [...]sharedstate.Outcome{sharedstate.Written, sharedstate.Joined, sharedstate.Refused, sharedstate.Voted}

// SyncVisitor receives the series of one Syncer from VisitSync.
type SyncVisitor interface {
	// Connected reports 1 while the Syncer reaches its store, 0 otherwise.
	Connected(v int64)
	Pending(n int64)
	// LastSuccess reports when a store command last succeeded, in seconds
	// since the Unix epoch, or 0 if none did.
	LastSuccess(seconds float64)
	// Messages reports a total by result; i indexes MessageResults.
	Messages(i int, n int64)
	// Proposals reports a total by outcome; i indexes ProposalOutcomes.
	Proposals(i int, n int64)
	Reconciles(n int64)
	Repaired(n int64)
	Errors(n int64)
}

// VisitSync reports what one Status and Stats snapshot give: every series,
// always, so that each exists from the moment the Syncer is observed.
func VisitSync(st sharedstate.Status, s *sharedstate.Stats, v SyncVisitor) {
	v.Connected(flag(st.Connected))
	v.Pending(int64(st.Pending))
	v.LastSuccess(Seconds(st.LastSync))
	for i, n := range [...]uint64{s.MessagesApplied, s.MessagesStale, s.MessagesSelf, s.MessagesUnknown, s.MessagesMalformed} {
		v.Messages(i, Count(n))
	}
	for i, n := range [...]uint64{s.ProposalsWritten, s.ProposalsJoined, s.ProposalsRefused, s.ProposalsVoted} {
		v.Proposals(i, Count(n))
	}
	v.Reconciles(Count(s.Reconciles))
	v.Repaired(Count(s.Repaired))
	v.Errors(Count(s.Errors))
}

// DelayBuckets are the bucket boundaries of the propagation delay
// histogram, in seconds: sharedstate.PropagationBounds, 1ms to 5s.
var DelayBuckets = func() []float64 {
	out := make([]float64, len(sharedstate.PropagationBounds))
	for i, d := range sharedstate.PropagationBounds {
		out[i] = d.Seconds()
	}
	return out
}()

// delayShift sets the resolution of an exported delay sum: 2^-20 s, about
// 0.95µs. A sum of multiples of it is exact in a float64, whatever the
// order of the additions, while it is below 2^33 s (272 years).
const delayShift = 20

// delayLo and delayHi bound the delays, in units of 2^-20 s, that fall in
// each bucket of DelayBuckets as a float64 comparison places them: bucket
// i holds lo[i] to hi[i]; the last (+Inf) bucket has no upper bound.
var delayLo, delayHi = func() ([]uint64, []uint64) {
	n := len(DelayBuckets) + 1
	lo, hi := make([]uint64, n), make([]uint64, n)
	for i, b := range DelayBuckets {
		hi[i] = uint64(math.Floor(math.Ldexp(b, delayShift)))
		lo[i+1] = hi[i] + 1
	}
	hi[n-1] = math.MaxUint64
	return lo, hi
}()

// Delay is a Syncer's propagation-delay histogram as both paths export it:
// the count of each bucket of DelayBuckets (the last one +Inf), and the
// sum in units of 2^-20 s, held between the least and the most the counts
// allow (a delay exactly on a bound, or a sum read while an observation
// was half done, could otherwise fall outside).
//
// OpenTelemetry has no observable histogram, so the OTel path records, at
// collection time, one value per observation the Syncer made since the
// last collection (see Spread): each in its bucket, adding up to the sum.
// The native path emits the same counts and sum as a constant histogram.
// Both pages then agree to the bit, since every value is a multiple of
// 2^-20 s.
type Delay struct {
	Counts []uint64
	Units  uint64
}

// ReadDelay converts a sharedstate.Histogram. A count whose bound is not
// one of DelayBuckets goes to the first bucket above it.
func ReadDelay(h sharedstate.Histogram) Delay {
	d := Delay{Counts: make([]uint64, len(DelayBuckets)+1)}
	for i, c := range h.Counts {
		j := len(DelayBuckets)
		if i < len(h.Bounds) {
			j = delayBucket(h.Bounds[i].Seconds())
		}
		d.Counts[j] = addSat(d.Counts[j], c)
	}
	var least, most uint64
	for i, c := range d.Counts {
		least = addSat(least, mulSat(c, delayLo[i]))
		most = addSat(most, mulSat(c, delayHi[i]))
	}
	d.Units = min(max(delayUnits(h.Sum), least), most)
	return d
}

// delayBucket returns the bucket of DelayBuckets that a delay of s seconds
// falls in.
func delayBucket(s float64) int {
	for i, b := range DelayBuckets {
		if s <= b {
			return i
		}
	}
	return len(DelayBuckets)
}

// delayUnits converts d to units of 2^-20 s, rounded to the nearest.
func delayUnits(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	// d × 2^20 / 1e9 = d × 2048 / 1953125, in 128 bits.
	const num, den = 2048, 1953125
	hi, lo := bits.Mul64(uint64(d), num)
	lo, carry := bits.Add64(lo, den/2, 0)
	q, _ := bits.Div64(hi+carry, lo, den)
	return q
}

// Count returns the number of observations.
func (d Delay) Count() uint64 {
	var n uint64
	for _, c := range d.Counts {
		n = addSat(n, c)
	}
	return n
}

// Sum returns the sum in seconds.
func (d Delay) Sum() float64 { return math.Ldexp(float64(d.Units), -delayShift) }

// Spread records the observations cur has and prev had not: record is
// called once for each, with a value in seconds that falls in its bucket,
// and the values add up to cur's sum less recorded (the units recorded
// so far), or as near to it as the buckets allow. It returns the units
// recorded in all, to pass as recorded next time with cur as prev.
//
// The values are spread in proportion to the width of their buckets, so
// that the histogram's min and max (which the SDK keeps) are plausible;
// only the counts and the sum are the Syncer's.
func Spread(prev, cur Delay, recorded uint64, record func(seconds float64)) uint64 {
	n := len(delayLo)
	if len(cur.Counts) != n {
		return recorded
	}
	fresh := make([]uint64, n) // the new observations, by bucket
	var least, most, room uint64
	for i := range n {
		if i < len(prev.Counts) && cur.Counts[i] > prev.Counts[i] {
			fresh[i] = cur.Counts[i] - prev.Counts[i]
		} else if i >= len(prev.Counts) {
			fresh[i] = cur.Counts[i]
		}
		least = addSat(least, mulSat(fresh[i], delayLo[i]))
		if i < n-1 {
			most = addSat(most, mulSat(fresh[i], delayHi[i]))
			room = addSat(room, mulSat(fresh[i], delayHi[i]-delayLo[i]))
		}
	}
	var want uint64
	if cur.Units > recorded {
		want = cur.Units - recorded
	}
	want = max(want, least)
	if fresh[n-1] == 0 {
		want = min(want, most)
	}

	// Share out what the sum needs above every value's least.
	extra := want - least
	above := make([]uint64, n) // by bucket
	if extra >= room {
		for i := range n - 1 {
			above[i] = mulSat(fresh[i], delayHi[i]-delayLo[i])
		}
		above[n-1] = extra - room // zero unless the +Inf bucket has some
	} else {
		var given uint64
		for i := range n - 1 {
			// extra × this bucket's room / room, without overflow:
			// extra < room, so the quotient fits.
			hi, lo := bits.Mul64(extra, mulSat(fresh[i], delayHi[i]-delayLo[i]))
			above[i], _ = bits.Div64(hi, lo, room)
			given += above[i]
		}
		for i := 0; given < extra && i < n-1; i++ {
			more := min(mulSat(fresh[i], delayHi[i]-delayLo[i])-above[i], extra-given)
			above[i] += more
			given += more
		}
	}
	for i, c := range fresh {
		if c == 0 {
			continue
		}
		each, rest := above[i]/c, above[i]%c
		for j := range c {
			v := delayLo[i] + each
			if j < rest {
				v++
			}
			record(math.Ldexp(float64(v), -delayShift))
		}
	}
	return recorded + want
}

func addSat(a, b uint64) uint64 {
	s, carry := bits.Add64(a, b, 0)
	if carry != 0 {
		return math.MaxUint64
	}
	return s
}

func mulSat(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}

// RemoteTransition is a state change that a decision from another replica
// makes on this one, with its origin.
type RemoteTransition struct {
	From, To breaker.State
	Reason   breaker.Reason
	Origin   breaker.Origin
}

// Remote holds the transitions both paths precreate, at 0, for every
// breaker of a registry while its Syncer is attached: those that another
// replica's decision makes on this one in the ordinary course of sharing,
// so that a rate or increase over them counts the first, as it does for
// the local ones KnownTransitions marks precreated.
type Remote struct {
	// Reg is the registry the Syncer shares; its breakers alone take
	// decisions from elsewhere.
	Reg *breaker.Registry
	// List is what package sharedstate's Syncer applies (see its
	// applyTo): a peer's trip, closed to open for each reason
	// KnownTransitions precreates for a local trip, with origin cluster
	// when the Syncer's quorum is above 1 (every timed opening is then a
	// quorum's) and peer otherwise; and a peer's close of an opening this
	// breaker is in, which makes it half-open (or closes it, with
	// WithRemoteCloseCloses) with the closing breaker's reason,
	// trials_succeeded, and origin peer (a close is never a quorum's).
	// Rarer ones (an opening that finds the breaker half-open, a failed
	// probe's reopening, an operator's action) are born when they happen.
	List [4]RemoteTransition
}

// RemoteTransitions returns what to precreate while s is attached.
func RemoteTransitions(s *sharedstate.Syncer) *Remote {
	opening := breaker.OriginPeer
	if s.Quorum() > 1 {
		opening = breaker.OriginCluster
	}
	closeTo := breaker.HalfOpen
	if s.RemoteCloseCloses() {
		closeTo = breaker.Closed
	}
	return &Remote{Reg: s.Registry(), List: [...]RemoteTransition{
		{breaker.Closed, breaker.Open, breaker.ReasonFailureThreshold, opening},
		{breaker.Closed, breaker.Open, breaker.ReasonFailureRate, opening},
		{breaker.Closed, breaker.Open, breaker.ReasonSlowCalls, opening},
		{breaker.Open, closeTo, breaker.ReasonTrialsSucceeded, breaker.OriginPeer},
	}}
}

// Covers reports whether b is a breaker of the shared registry. r may be
// nil (no Syncer attached).
func (r *Remote) Covers(b *breaker.Breaker) bool {
	if r == nil || b == nil {
		return false
	}
	found, ok := r.Reg.Lookup(b.Name())
	return ok && found == b
}
