package series

import (
	"math"

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
		"State transitions of the circuit breaker."}
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
	FailureRatio(r float64)
	SlowCallRatio(r float64)
	SlowCalls(n int64)
}

// Visit reports what one Stats snapshot gives, under the rules both paths
// share: every state and counted outcome always; shadow_rejected from the
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

// Count converts a total for an int64 instrument, saturating.
func Count(n uint64) int64 { return int64(min(n, math.MaxInt64)) }
