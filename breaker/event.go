package breaker

import "time"

// EventKind tells which fields of an [Event] are set.
type EventKind uint8

// The kinds of event a breaker publishes.
const (
	// EventCall reports one call: admitted and finished (Outcome success,
	// failure or ignored, with Err and Duration) or rejected.
	EventCall EventKind = iota
	// EventStateChange reports a transition: From, To, Reason, Time and
	// the counts that caused it.
	EventStateChange
	// EventAction reports an operator's ForceOpen or Reset (or a forced
	// decision applied with Apply) that left the state as it was: an open
	// breaker forced, a closed one reset. From and To are that state;
	// Reason, Time, Origin and Peer are set. A state change always changes
	// the state, so these are not state changes, but whoever shares
	// operator actions (across replicas, in an audit log) needs them.
	EventAction
)

// String returns "call", "state_change" or "action".
func (k EventKind) String() string {
	switch k {
	case EventStateChange:
		return "state_change"
	case EventAction:
		return "action"
	}
	return "call"
}

// Event is what a breaker publishes on its [events.Bus]. The call's context
// travels as the ctx argument of Publish and Handle, not inside the event;
// for a state change that no call caused (State, Stats, Reset, ForceOpen)
// that context is context.Background().
//
// A breaker builds events only while its bus has subscribers, and publishes
// them after its own state is updated and outside any lock, so a handler may
// call back into the breaker. State changes are published in the order they
// happened, by the goroutine that made the change (or one that made an
// earlier change and is still publishing). A subscriber of a synchronous bus
// that blocks therefore blocks that goroutine: the call that caused the
// change does not return, and the breaker's later state changes wait in a
// queue (up to 256; beyond that the oldest are dropped and counted in
// Stats.DroppedStateChanges) until the subscriber returns. Other breakers
// are not held up, unless the subscriber blocks them too; per-call events
// are delivered on each caller's goroutine. Use an events.Async bus for a
// subscriber that may block.
type Event struct {
	// Kind says which of the fields below are set.
	Kind EventKind
	// Breaker is the breaker that published the event.
	Breaker *Breaker

	// Outcome is the call's outcome (EventCall).
	Outcome Outcome
	// Err is the error the function returned, a *PanicError when it
	// panicked, or the *OpenError returned to a rejected caller (EventCall).
	Err error
	// Duration is how long the function ran, zero for rejections
	// (EventCall). Never negative, even if the clock goes back.
	Duration time.Duration

	// From and To are the states before and after the change
	// (EventStateChange).
	From, To State
	// Reason says why the state changed (EventStateChange).
	Reason Reason
	// Time is when the state changed, read from the breaker's clock
	// (EventStateChange).
	Time time.Time
	// ConsecutiveFailures is the consecutive-failure count when the state
	// changed: the count that opened the breaker, for example
	// (EventStateChange). Like Stats.FailureCount it saturates at
	// math.MaxInt on 32-bit targets.
	ConsecutiveFailures int
	// Cause is the error of the call that caused the change, when a call
	// did: the failure that reached the threshold or tripped a rate
	// policy, or the failed trial (EventStateChange). Nil otherwise.
	Cause error
	// Window is the trip policy's window at the moment it opened the
	// breaker (reasons failure_rate and slow_calls): its ratio, its calls
	// and its threshold. Nil for other changes (EventStateChange).
	Window *WindowStats
	// OpenFor is how long an opened breaker waits before it admits a
	// probe: the recovery timeout or the backoff's current period, or the
	// remaining time of a remote decision. Zero for other changes and for
	// ForceOpen (EventStateChange).
	OpenFor time.Duration
	// Origin says where the change came from: the breaker's own calls and
	// actions, or a decision applied with Breaker.Apply (EventStateChange).
	Origin Origin
	// Peer names who made a remote decision (EventStateChange with
	// OriginPeer or OriginCluster).
	Peer string
}
