package retry

import "time"

// EventKind tells which fields of an [Event] are set.
type EventKind uint8

// The kinds of event a policy publishes.
const (
	// EventRetry reports a retry the policy is about to wait for: Attempt
	// (the attempt that failed, from 1), Err (its error) and Delay (the
	// wait before the next attempt).
	EventRetry EventKind = iota
	// EventCall reports a call that did not succeed at its first attempt,
	// when it ends: Outcome, Attempts, Retries, Slept, and for a failed
	// call Reason and Err (what the caller gets). A call that succeeds at
	// its first attempt publishes nothing, so the common path builds no
	// event.
	EventCall
)

// String returns "retry" or "call".
func (k EventKind) String() string {
	if k == EventCall {
		return "call"
	}
	return "retry"
}

// Event is what a policy publishes on its bus. The call's context travels
// as the ctx argument of Publish and Handle, so a subscriber finds the
// caller's span in it. A policy builds events only while its bus has
// subscribers, on the caller's goroutine, with no lock held.
type Event struct {
	// Kind says which of the fields below are set.
	Kind EventKind
	// Policy is the policy that published the event.
	Policy *Policy

	// Attempt is the number of the attempt that failed, from 1
	// (EventRetry).
	Attempt int
	// Delay is how long the policy waits before the next attempt
	// (EventRetry).
	Delay time.Duration

	// Outcome is how the call ended (EventCall).
	Outcome Outcome
	// Reason says why a failed call stopped (EventCall, failures only).
	Reason Reason
	// Attempts is how many times the function ran; Retries is Attempts-1
	// (EventCall).
	Attempts, Retries int
	// Slept is the time the call spent waiting between attempts
	// (EventCall).
	Slept time.Duration

	// Err is the failed attempt's error (EventRetry), or the error the
	// caller gets (EventCall, failures only).
	Err error
}
