package telemetry

import (
	"errors"
	"math"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/fusebox-go/fusebox/breaker"
)

// Attribute keys shared by metrics, span events and log records. Log
// records use the same flat dotted keys (no slog groups), so that a bridge
// to OpenTelemetry logs keeps them as attribute keys.
const (
	keyName       = "circuit_breaker.name"
	keyState      = "circuit_breaker.state"
	keyOutcome    = "circuit_breaker.outcome"
	keyFrom       = "circuit_breaker.from_state"
	keyTo         = "circuit_breaker.to_state"
	keyReason     = "circuit_breaker.reason"
	keyFailures   = "circuit_breaker.consecutive_failures"
	keySuppressed = "circuit_breaker.suppressed"
)

// Span event names and log messages.
const (
	eventRejected    = "circuit_breaker.rejected"
	eventStateChange = "circuit_breaker.state_change"
	msgStateChange   = "circuit breaker state changed"
	msgRejected      = "circuit breaker rejected call"
)

// durationBuckets are the explicit bucket boundaries of the call duration
// histogram, in seconds: 1ms to 10s, suited to RPC and database calls.
var durationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// The states and outcomes in the order of their values, for indexing the
// per-breaker option tables.
var (
	states   = [...]breaker.State{breaker.Closed, breaker.Open, breaker.HalfOpen}
	outcomes = [...]breaker.Outcome{breaker.OutcomeSuccess, breaker.OutcomeFailure, breaker.OutcomeIgnored, breaker.OutcomeRejected}
)

// instruments holds every instrument the package creates. This file is the
// one place that lists them: an instrument is added here (field,
// newInstruments, and observe for an observable one or the event handler for
// a synchronous one), and to the table in doc.go, which a test compares with
// what is emitted.
type instruments struct {
	// Observed from the breakers at collection time.
	state        metric.Int64ObservableUpDownCounter
	calls        metric.Int64ObservableCounter
	consecutive  metric.Int64ObservableGauge
	failureRatio metric.Float64ObservableGauge
	slowRatio    metric.Float64ObservableGauge
	slowCalls    metric.Int64ObservableCounter
	// Observed from the attached asynchronous buses (see Telemetry.addBus).
	dropped metric.Int64ObservableCounter
	// Recorded from events, with the call's context.
	duration    metric.Float64Histogram
	transitions metric.Int64Counter
}

func newInstruments(m metric.Meter) (instruments, error) {
	var in instruments
	var err, e error
	in.state, e = m.Int64ObservableUpDownCounter("circuit_breaker.state",
		metric.WithUnit("{state}"),
		metric.WithDescription("Whether the circuit breaker is in the given state: 1 for its current state, 0 for the others."))
	err = errors.Join(err, e)
	in.calls, e = m.Int64ObservableCounter("circuit_breaker.calls",
		metric.WithUnit("{call}"),
		metric.WithDescription("Calls through the circuit breaker by outcome, rejected calls included."))
	err = errors.Join(err, e)
	in.consecutive, e = m.Int64ObservableGauge("circuit_breaker.consecutive_failures",
		metric.WithUnit("{failure}"),
		metric.WithDescription("Consecutive failures: the current run while closed, the run that opened the circuit breaker while open or half-open."))
	err = errors.Join(err, e)
	in.failureRatio, e = m.Float64ObservableGauge("circuit_breaker.failure_ratio",
		metric.WithUnit("1"),
		metric.WithDescription("Share of failed calls in the window of the circuit breaker's failure-rate policy."))
	err = errors.Join(err, e)
	in.slowRatio, e = m.Float64ObservableGauge("circuit_breaker.slow_call_ratio",
		metric.WithUnit("1"),
		metric.WithDescription("Share of slow calls in the window of the circuit breaker's slow-call policy."))
	err = errors.Join(err, e)
	in.slowCalls, e = m.Int64ObservableCounter("circuit_breaker.slow_calls",
		metric.WithUnit("{call}"),
		metric.WithDescription("Calls that ran at least as long as the slow-call threshold of the circuit breaker."))
	err = errors.Join(err, e)
	in.dropped, e = m.Int64ObservableCounter("circuit_breaker.events.dropped",
		metric.WithUnit("{event}"),
		metric.WithDescription("Circuit breaker events that an asynchronous event bus dropped because its queue was full or it was closed."))
	err = errors.Join(err, e)
	in.duration, e = m.Float64Histogram("circuit_breaker.call.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of the calls the circuit breaker admitted, by outcome."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	err = errors.Join(err, e)
	in.transitions, e = m.Int64Counter("circuit_breaker.transitions",
		metric.WithUnit("{transition}"),
		metric.WithDescription("State transitions of the circuit breaker."))
	err = errors.Join(err, e)
	return in, err
}

// observables returns the instruments one attachment's collection callback
// observes.
func (in *instruments) observables() []metric.Observable {
	return []metric.Observable{in.state, in.calls, in.consecutive, in.failureRatio, in.slowRatio, in.slowCalls}
}

// observe reports one breaker's state, totals, consecutive failures and
// trip-policy windows. It reads one Stats snapshot, so the calls counter
// agrees exactly with it: the shadow_rejected outcome is observed too, from
// the moment a breaker is in shadow mode (a breaker that never was has no
// such series). The ratios are observed only for a breaker with that
// policy, and slow calls for one with a slow-call policy or slow calls
// counted under an earlier one.
func (in *instruments) observe(o metric.Observer, ent *entry) {
	s := ent.b.Stats()
	for i, st := range states {
		var v int64
		if s.State == st {
			v = 1
		}
		o.ObserveInt64(in.state, v, ent.stateObs[i]...)
	}
	o.ObserveInt64(in.calls, clamp(s.TotalSuccesses), ent.callObs[breaker.OutcomeSuccess]...)
	o.ObserveInt64(in.calls, clamp(s.TotalFailures), ent.callObs[breaker.OutcomeFailure]...)
	o.ObserveInt64(in.calls, clamp(s.TotalIgnored), ent.callObs[breaker.OutcomeIgnored]...)
	o.ObserveInt64(in.calls, clamp(s.TotalRejected), ent.callObs[breaker.OutcomeRejected]...)
	if s.Shadow || s.TotalShadowRejected != 0 {
		o.ObserveInt64(in.calls, clamp(s.TotalShadowRejected), ent.shadowOpts()...)
	}
	o.ObserveInt64(in.consecutive, int64(s.FailureCount), ent.nameObs...)
	if w := s.FailureRate; w != nil {
		o.ObserveFloat64(in.failureRatio, w.Ratio, ent.nameObs...)
	}
	if w := s.SlowCallRate; w != nil {
		o.ObserveFloat64(in.slowRatio, w.Ratio, ent.nameObs...)
	}
	if s.SlowCallRate != nil || s.TotalSlowCalls != 0 {
		o.ObserveInt64(in.slowCalls, clamp(s.TotalSlowCalls), ent.nameObs...)
	}
}

func clamp(v uint64) int64 { return int64(min(v, math.MaxInt64)) }

// outcomeSet and the other helpers build the attribute sets of one breaker.
func outcomeSet(name attribute.KeyValue, o breaker.Outcome) attribute.Set {
	return attribute.NewSet(name, attribute.String(keyOutcome, o.String()))
}

func stateSet(name attribute.KeyValue, s breaker.State) attribute.Set {
	return attribute.NewSet(name, attribute.String(keyState, s.String()))
}

func transitionSet(name attribute.KeyValue, from, to breaker.State) attribute.Set {
	return attribute.NewSet(name, attribute.String(keyFrom, from.String()), attribute.String(keyTo, to.String()))
}
