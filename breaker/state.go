package breaker

import "fmt"

// State is the position of a breaker in its state machine. The zero value is
// [Closed].
type State uint8

// The three states of a breaker. Their String forms ("closed", "open",
// "half_open") are the values used in Stats JSON, metric attributes and logs.
const (
	// Closed lets calls through and counts consecutive failures.
	Closed State = iota
	// Open rejects calls without running them until the recovery timeout
	// has passed (or, when forced, until Reset).
	Open
	// HalfOpen admits a limited number of trial calls to probe recovery.
	HalfOpen
)

// String returns "closed", "open" or "half_open", and "State(n)" for any
// other value.
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half_open"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// MarshalText encodes the state as its String form.
func (s State) MarshalText() ([]byte, error) {
	if s > HalfOpen {
		return nil, fmt.Errorf("breaker: cannot marshal unknown state %d", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes a state from its String form.
func (s *State) UnmarshalText(text []byte) error {
	switch string(text) {
	case "closed":
		*s = Closed
	case "open":
		*s = Open
	case "half_open":
		*s = HalfOpen
	default:
		return fmt.Errorf("breaker: unknown state %q", text)
	}
	return nil
}

// Outcome classifies one call.
type Outcome uint8

// The outcomes of a call. Their String forms are the values of the
// circuit_breaker.outcome metric attribute.
const (
	// OutcomeSuccess is a call whose function returned a nil error.
	OutcomeSuccess Outcome = iota
	// OutcomeFailure is a call whose error the failure predicate counts, or
	// whose function panicked.
	OutcomeFailure
	// OutcomeIgnored is a call whose error the predicate excludes, or that
	// returned an error after the caller's own context was cancelled.
	OutcomeIgnored
	// OutcomeRejected is a call the breaker did not permit; its function
	// never ran.
	OutcomeRejected
	// OutcomeShadowRejected is a call a breaker in shadow mode would have
	// rejected: it ran, but its result did not move the state machine.
	OutcomeShadowRejected
)

// String returns "success", "failure", "ignored", "rejected" or
// "shadow_rejected".
func (o Outcome) String() string {
	switch o {
	case OutcomeSuccess:
		return "success"
	case OutcomeFailure:
		return "failure"
	case OutcomeIgnored:
		return "ignored"
	case OutcomeRejected:
		return "rejected"
	case OutcomeShadowRejected:
		return "shadow_rejected"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Reason says why a state change happened.
type Reason uint8

// The reasons for a state change. Their String forms appear in events, span
// events and logs.
const (
	// ReasonFailureThreshold: consecutive failures reached the threshold
	// (closed to open).
	ReasonFailureThreshold Reason = iota + 1
	// ReasonRecoveryTimeout: the recovery timeout passed (open to
	// half-open).
	ReasonRecoveryTimeout
	// ReasonTrialsSucceeded: every trial call succeeded (half-open to
	// closed).
	ReasonTrialsSucceeded
	// ReasonTrialFailed: a trial call failed (half-open to open).
	ReasonTrialFailed
	// ReasonForceOpen: ForceOpen was called.
	ReasonForceOpen
	// ReasonReset: Reset was called.
	ReasonReset
	// ReasonFailureRate: the FailureRate policy's ratio was reached
	// (closed to open).
	ReasonFailureRate
	// ReasonSlowCalls: the SlowCalls policy's ratio was reached (closed to
	// open).
	ReasonSlowCalls
	// ReasonHalfOpenTimeout: trials were still running WithHalfOpenMaxWait
	// after the first trial was admitted (half-open to open).
	ReasonHalfOpenTimeout

	lastReason = ReasonHalfOpenTimeout
)

// String returns the reason in snake_case, for example "failure_threshold".
func (r Reason) String() string {
	switch r {
	case ReasonFailureThreshold:
		return "failure_threshold"
	case ReasonRecoveryTimeout:
		return "recovery_timeout"
	case ReasonTrialsSucceeded:
		return "trials_succeeded"
	case ReasonTrialFailed:
		return "trial_failed"
	case ReasonForceOpen:
		return "force_open"
	case ReasonReset:
		return "reset"
	case ReasonFailureRate:
		return "failure_rate"
	case ReasonSlowCalls:
		return "slow_calls"
	case ReasonHalfOpenTimeout:
		return "half_open_timeout"
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Origin says where a state change came from.
type Origin uint8

// The origins of a state change. Their String forms are the values of the
// circuit_breaker.origin attribute.
const (
	// OriginLocal: the breaker's own calls, or an action on this breaker
	// (ForceOpen, Reset, a lazy transition).
	OriginLocal Origin = iota
	// OriginPeer: another replica's decision, applied with Breaker.Apply.
	OriginPeer
	// OriginCluster: a decision of the whole fleet, such as a quorum of
	// replicas or a shared window, applied with Breaker.Apply.
	OriginCluster
)

// String returns "local", "peer" or "cluster".
func (o Origin) String() string {
	switch o {
	case OriginLocal:
		return "local"
	case OriginPeer:
		return "peer"
	case OriginCluster:
		return "cluster"
	}
	return fmt.Sprintf("Origin(%d)", uint8(o))
}
