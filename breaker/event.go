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
)

// String returns "call" or "state_change".
func (k EventKind) String() string {
	if k == EventStateChange {
		return "state_change"
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
// call back into the breaker.
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
	// (EventStateChange).
	ConsecutiveFailures int
}
