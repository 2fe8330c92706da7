package series

import (
	"math"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
)

// Instrument names one instrument: its OpenTelemetry name and unit, and its
// description (the Prometheus help text).
type Instrument struct {
	Name, Unit, Help string
}

// The instruments.
var (
	State = Instrument{"circuit_breaker.state", "{state}",
		"Whether the circuit breaker is in the given state: 1 for its current state, 0 for the others."}
	Calls = Instrument{"circuit_breaker.calls", "{call}",
		"Calls through the circuit breaker by outcome, rejected calls included."}
	Consecutive = Instrument{"circuit_breaker.consecutive_failures", "{failure}",
		"Consecutive failures: the current run while closed, the run that opened the circuit breaker while open or half-open."}
	FailureRatio = Instrument{"circuit_breaker.failure_ratio", "1",
		"Share of failed calls in the window of the circuit breaker's failure-rate policy."}
	SlowCallRatio = Instrument{"circuit_breaker.slow_call_ratio", "1",
		"Share of slow calls in the window of the circuit breaker's slow-call policy."}
	SlowCalls = Instrument{"circuit_breaker.slow_calls", "{call}",
		"Calls that ran at least as long as the slow-call threshold of the circuit breaker."}
	Dropped = Instrument{"circuit_breaker.events.dropped", "{event}",
		"Circuit breaker events that an asynchronous event bus dropped because its queue was full or it was closed."}
	Duration = Instrument{"circuit_breaker.call.duration", "s",
		"Duration of the calls the circuit breaker admitted, by outcome."}
	Transitions = Instrument{"circuit_breaker.transitions", "{transition}",
		"State transitions of the circuit breaker, by reason and origin."}
	LastStateChange = Instrument{"circuit_breaker.last_state_change_time", "s",
		"When the circuit breaker last changed state, in seconds since the Unix epoch; 0 if it never did."}
	Forced = Instrument{"circuit_breaker.forced", "{breaker}",
		"Whether the circuit breaker is held open by ForceOpen: 1 if it is, 0 if not."}
	ShadowMode = Instrument{"circuit_breaker.shadow_mode", "{breaker}",
		"Whether the circuit breaker is in shadow mode, running the calls it would reject: 1 if it is, 0 if not."}
)

// DurationBuckets are the explicit bucket boundaries of the call duration
// histogram, in seconds: 1ms to 10s, suited to RPC and database calls.
var DurationBuckets = [...]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// States and Outcomes are the states and the counted outcomes in the order
// of their values, for indexing per-breaker tables. Shadow-rejected calls
// are reported apart (see Visit).
var (
	States   = [...]breaker.State{breaker.Closed, breaker.Open, breaker.HalfOpen}
	Outcomes = [...]breaker.Outcome{breaker.OutcomeSuccess, breaker.OutcomeFailure, breaker.OutcomeIgnored, breaker.OutcomeRejected}
)

// Visitor receives the series of one breaker from Visit.
type Visitor interface {
	// State reports 1 for the breaker's current state and 0 for the
	// others; i indexes States.
	State(i int, v int64)
	// Calls reports a total by outcome: the Outcomes, then
	// OutcomeShadowRejected for a breaker that is or was in shadow mode.
	Calls(o breaker.Outcome, n int64)
	Consecutive(n int64)
	// LastStateChange reports when the state last changed, in seconds
	// since the Unix epoch, or 0 for a breaker that never changed state.
	LastStateChange(seconds float64)
	// Forced and ShadowMode report 1 for a breaker held open by
	// ForceOpen, or in shadow mode, and 0 otherwise.
	Forced(v int64)
	ShadowMode(v int64)
	FailureRatio(r float64)
	SlowCallRatio(r float64)
	SlowCalls(n int64)
}

// Visit reports what one Stats snapshot gives, under the rules both paths
// share: every state and counted outcome, the last state change, forced and
// shadow mode always; shadow_rejected from the
// moment the breaker is in shadow mode; a ratio only for a breaker with
// that policy; slow calls for one with a slow-call policy or slow calls
// counted under an earlier one.
func Visit(s breaker.Stats, v Visitor) {
	for i, st := range States {
		var x int64
		if s.State == st {
			x = 1
		}
		v.State(i, x)
	}
	v.Calls(breaker.OutcomeSuccess, Count(s.TotalSuccesses))
	v.Calls(breaker.OutcomeFailure, Count(s.TotalFailures))
	v.Calls(breaker.OutcomeIgnored, Count(s.TotalIgnored))
	v.Calls(breaker.OutcomeRejected, Count(s.TotalRejected))
	if s.Shadow || s.TotalShadowRejected != 0 {
		v.Calls(breaker.OutcomeShadowRejected, Count(s.TotalShadowRejected))
	}
	v.Consecutive(int64(s.FailureCount))
	v.LastStateChange(Seconds(s.LastStateChange))
	v.Forced(flag(s.Forced))
	v.ShadowMode(flag(s.Shadow))
	if w := s.FailureRate; w != nil {
		v.FailureRatio(w.Ratio)
	}
	if w := s.SlowCallRate; w != nil {
		v.SlowCallRatio(w.Ratio)
	}
	if s.SlowCallRate != nil || s.TotalSlowCalls != 0 {
		v.SlowCalls(Count(s.TotalSlowCalls))
	}
}

// Seconds converts a time to seconds since the Unix epoch, and the zero
// time (never) to 0.
func Seconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

func flag(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// Transition is one kind of state change: its states and its reason.
type Transition struct {
	From, To breaker.State
	Reason   breaker.Reason
	// Precreated transitions have their series created at 0 as soon as a
	// breaker is seen, so that a rate or increase over them counts the
	// first one: a counter series born at 1 looks to Prometheus as if it
	// had always been 1. They are the transitions a breaker goes through
	// by itself; the others happen when someone calls ForceOpen or Reset,
	// or with WithHalfOpenMaxWait, and are born when they happen.
	Precreated bool
}

// KnownTransitions lists every state change a breaker makes by itself or
// by an action on it (origin local), the precreated ones first: at most a
// dozen series per breaker. Both paths keep one prepared series per entry,
// looked up with TransitionIndex. A change applied from elsewhere (origin
// peer or cluster) has a series of its own, built when it happens, or
// precreated while a Syncer is attached (see Remote).
var KnownTransitions = [...]Transition{
	{breaker.Closed, breaker.Open, breaker.ReasonFailureThreshold, true},
	{breaker.Closed, breaker.Open, breaker.ReasonFailureRate, true},
	{breaker.Closed, breaker.Open, breaker.ReasonSlowCalls, true},
	{breaker.Open, breaker.HalfOpen, breaker.ReasonRecoveryTimeout, true},
	{breaker.HalfOpen, breaker.Closed, breaker.ReasonTrialsSucceeded, true},
	{breaker.HalfOpen, breaker.Open, breaker.ReasonTrialFailed, true},
	{breaker.HalfOpen, breaker.Open, breaker.ReasonHalfOpenTimeout, false},
	{breaker.Closed, breaker.Open, breaker.ReasonForceOpen, false},
	{breaker.HalfOpen, breaker.Open, breaker.ReasonForceOpen, false},
	{breaker.Open, breaker.Closed, breaker.ReasonReset, false},
	{breaker.HalfOpen, breaker.Closed, breaker.ReasonReset, false},
}

// TransitionIndex returns the index in KnownTransitions of a local state
// change, or false for one it does not list or one that came from
// elsewhere (which both paths still count, with a series of its own built
// when it happens).
func TransitionIndex(from, to breaker.State, reason breaker.Reason, origin breaker.Origin) (int, bool) {
	if origin != breaker.OriginLocal {
		return 0, false
	}
	for i, k := range KnownTransitions {
		if k.From == from && k.To == to && k.Reason == reason {
			return i, true
		}
	}
	return 0, false
}

// Count converts a total for an int64 instrument, saturating.
func Count(n uint64) int64 { return int64(min(n, math.MaxInt64)) }
