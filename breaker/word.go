package breaker

import "sync/atomic"

// word is a breaker's state, packed into 64 bits so that the closed path
// needs one atomic load and every update of a state's count is one
// compare-and-swap:
//
//	bits  0-31  count: consecutive failures (closed); the failures that
//	            opened it (open); trials in flight (bits 0-15) and trials
//	            succeeded (bits 16-31) (half-open)
//	bits 32-33  state
//	bit  34     forced open (ForceOpen, or a forced remote decision)
//	bit  35     pending: a transition is under way (see Breaker.begin)
//	bits 36-63  generation: bumped by every transition
//
// Invariants:
//   - Only a goroutine holding Breaker.mu changes the state, the forced bit,
//     the pending bit or the generation. Calls change only the count, with a
//     compare-and-swap, and never while the pending bit is set.
//   - While pending is clear, Breaker.period holds the period of this
//     generation. A transition sets pending first, then publishes the new
//     period, then stores the new word with pending clear; so a call that
//     reads a word without pending and then finds its own period current
//     knows that its compare-and-swap on that word lands in its own period.
//   - The generation only detects that a word changed under a
//     compare-and-swap; it wraps after 2^28 transitions. Which period a call
//     belongs to is decided by the period itself (a pointer, which never
//     wraps), so a call from an old period cannot move a newer one whatever
//     the number of periods in between.
type word uint64

const (
	countMask   word = 1<<32 - 1
	stateShift       = 32
	stateMask   word = 3 << stateShift
	forcedBit   word = 1 << 34
	pendingBit  word = 1 << 35
	genShift         = 36
	genMask     word = 1<<(64-genShift) - 1
	trialMask   word = 1<<16 - 1
	trialShift       = 16
	oneSuccess  word = 1 << trialShift
	maxCount         = uint64(countMask)
	maxTrialCnt      = uint64(trialMask)
)

func makeWord(s State, gen word, forced bool, count uint32) word {
	w := (gen&genMask)<<genShift | word(s)<<stateShift | word(count)
	if forced {
		w |= forcedBit
	}
	return w
}

func (w word) state() State   { return State(w & stateMask >> stateShift) }
func (w word) gen() word      { return w >> genShift }
func (w word) count() uint32  { return uint32(w & countMask) }
func (w word) forced() bool   { return w&forcedBit != 0 }
func (w word) pending() bool  { return w&pendingBit != 0 }
func (w word) inFlight() int  { return int(w & trialMask) }
func (w word) succeeded() int { return int(w >> trialShift & trialMask) }

// closedIdle reports whether w is a closed state with no transition under
// way: the one test on the closed fast path.
func (w word) closedIdle() bool { return w&(stateMask|pendingBit) == 0 }

// openIdle reports whether w is an open state with no transition under
// way: the test on the rejection fast path.
func (w word) openIdle() bool { return w&(stateMask|pendingBit) == word(Open)<<stateShift }

// atomicWord is a word that is read and written atomically.
type atomicWord struct{ v atomic.Uint64 }

func (a *atomicWord) Load() word   { return word(a.v.Load()) }
func (a *atomicWord) Store(w word) { a.v.Store(uint64(w)) }
func (a *atomicWord) CompareAndSwap(old, new word) bool {
	return a.v.CompareAndSwap(uint64(old), uint64(new))
}
