package telemetry

import (
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/telemetry/internal/series"
)

// Attribute keys shared by metrics, span events and log records. Log
// records use the same flat dotted keys (no slog groups), so that a bridge
// to OpenTelemetry logs keeps them as attribute keys.
const (
	keyName         = "circuit_breaker.name"
	keyState        = "circuit_breaker.state"
	keyOutcome      = "circuit_breaker.outcome"
	keyFrom         = "circuit_breaker.from_state"
	keyTo           = "circuit_breaker.to_state"
	keyReason       = "circuit_breaker.reason"
	keyFailures     = "circuit_breaker.consecutive_failures"
	keySuppressed   = "circuit_breaker.suppressed"
	keyOrigin       = "circuit_breaker.origin"
	keyPeer         = "circuit_breaker.peer"
	keyWindowRatio  = "circuit_breaker.window.ratio"
	keyWindowCalls  = "circuit_breaker.window.calls"
	keyErrorType    = "error.type"
	keyErrorMessage = "error.message"
)

// Span event names and log messages.
const (
	eventRejected    = "circuit_breaker.rejected"
	eventStateChange = "circuit_breaker.state_change"
	msgStateChange   = "circuit breaker state changed"
	msgRejected      = "circuit breaker rejected call"
)

// The states and outcomes in the order of their values, for indexing the
// per-breaker option tables.
var (
	states   = series.States
	outcomes = series.Outcomes
)

// instruments holds every instrument the package creates. This file is the
// one place that lists them: an instrument is added here (field,
// newInstruments, and observe for an observable one or the event handler for
// a synchronous one), and to the table in doc.go, which a test compares with
// what is emitted. The circuit_breaker.sync.* instruments, read from a
// sharedstate.Syncer, are in sync.go.
type instruments struct {
	// Observed from the breakers at collection time.
	state        metric.Int64ObservableUpDownCounter
	calls        metric.Int64ObservableCounter
	consecutive  metric.Int64ObservableGauge
	failureRatio metric.Float64ObservableGauge
	slowRatio    metric.Float64ObservableGauge
	slowCalls    metric.Int64ObservableCounter
	lastChange   metric.Float64ObservableGauge
	forced       metric.Int64ObservableUpDownCounter
	shadow       metric.Int64ObservableUpDownCounter
	// Observed from the attached asynchronous buses (see Telemetry.addBus).
	dropped metric.Int64ObservableCounter
	// Recorded from events, with the call's context.
	duration    metric.Float64Histogram
	transitions metric.Int64Counter
}

func newInstruments(m metric.Meter) (instruments, error) {
	var in instruments
	var err, e error
	in.state, e = m.Int64ObservableUpDownCounter(series.State.Name, metric.WithUnit(series.State.Unit), metric.WithDescription(series.State.Help))
	err = errors.Join(err, e)
	in.calls, e = m.Int64ObservableCounter(series.Calls.Name, metric.WithUnit(series.Calls.Unit), metric.WithDescription(series.Calls.Help))
	err = errors.Join(err, e)
	in.consecutive, e = m.Int64ObservableGauge(series.Consecutive.Name, metric.WithUnit(series.Consecutive.Unit), metric.WithDescription(series.Consecutive.Help))
	err = errors.Join(err, e)
	in.failureRatio, e = m.Float64ObservableGauge(series.FailureRatio.Name, metric.WithUnit(series.FailureRatio.Unit), metric.WithDescription(series.FailureRatio.Help))
	err = errors.Join(err, e)
	in.slowRatio, e = m.Float64ObservableGauge(series.SlowCallRatio.Name, metric.WithUnit(series.SlowCallRatio.Unit), metric.WithDescription(series.SlowCallRatio.Help))
	err = errors.Join(err, e)
	in.slowCalls, e = m.Int64ObservableCounter(series.SlowCalls.Name, metric.WithUnit(series.SlowCalls.Unit), metric.WithDescription(series.SlowCalls.Help))
	err = errors.Join(err, e)
	in.lastChange, e = m.Float64ObservableGauge(series.LastStateChange.Name, metric.WithUnit(series.LastStateChange.Unit), metric.WithDescription(series.LastStateChange.Help))
	err = errors.Join(err, e)
	in.forced, e = m.Int64ObservableUpDownCounter(series.Forced.Name, metric.WithUnit(series.Forced.Unit), metric.WithDescription(series.Forced.Help))
	err = errors.Join(err, e)
	in.shadow, e = m.Int64ObservableUpDownCounter(series.ShadowMode.Name, metric.WithUnit(series.ShadowMode.Unit), metric.WithDescription(series.ShadowMode.Help))
	err = errors.Join(err, e)
	in.dropped, e = m.Int64ObservableCounter(series.Dropped.Name, metric.WithUnit(series.Dropped.Unit), metric.WithDescription(series.Dropped.Help))
	err = errors.Join(err, e)
	in.duration, e = m.Float64Histogram(series.Duration.Name,
		metric.WithUnit(series.Duration.Unit), metric.WithDescription(series.Duration.Help),
		metric.WithExplicitBucketBoundaries(series.DurationBuckets[:]...))
	err = errors.Join(err, e)
	in.transitions, e = m.Int64Counter(series.Transitions.Name, metric.WithUnit(series.Transitions.Unit), metric.WithDescription(series.Transitions.Help))
	err = errors.Join(err, e)
	return in, err
}

// observables returns the instruments one attachment's collection callback
// observes.
func (in *instruments) observables() []metric.Observable {
	return []metric.Observable{in.state, in.calls, in.consecutive, in.failureRatio, in.slowRatio, in.slowCalls, in.lastChange, in.forced, in.shadow}
}

// observer reports the series of one breaker (its entry) to an OpenTelemetry
// observer; series.Visit decides which series there are. One is reused for
// a whole collection.
type observer struct {
	in  *instruments
	o   metric.Observer
	ent *entry
}

func (v *observer) State(i int, x int64) { v.o.ObserveInt64(v.in.state, x, v.ent.stateObs[i]...) }

func (v *observer) Calls(o breaker.Outcome, n int64) {
	if o == breaker.OutcomeShadowRejected {
		v.o.ObserveInt64(v.in.calls, n, v.ent.shadowOpts()...)
		return
	}
	v.o.ObserveInt64(v.in.calls, n, v.ent.callObs[o]...)
}

func (v *observer) Consecutive(n int64) { v.o.ObserveInt64(v.in.consecutive, n, v.ent.nameObs...) }
func (v *observer) LastStateChange(s float64) {
	v.o.ObserveFloat64(v.in.lastChange, s, v.ent.nameObs...)
}
func (v *observer) Forced(x int64)     { v.o.ObserveInt64(v.in.forced, x, v.ent.nameObs...) }
func (v *observer) ShadowMode(x int64) { v.o.ObserveInt64(v.in.shadow, x, v.ent.nameObs...) }
func (v *observer) FailureRatio(r float64) {
	v.o.ObserveFloat64(v.in.failureRatio, r, v.ent.nameObs...)
}
func (v *observer) SlowCallRatio(r float64) { v.o.ObserveFloat64(v.in.slowRatio, r, v.ent.nameObs...) }
func (v *observer) SlowCalls(n int64)       { v.o.ObserveInt64(v.in.slowCalls, n, v.ent.nameObs...) }

// observe reports one breaker's series from one Stats snapshot, so the
// calls counter agrees exactly with it.
func (v *observer) observe(ent *entry) {
	v.ent = ent
	series.Visit(ent.b.Peek(), v)
}

// outcomeSet and the other helpers build the attribute sets of one breaker.
func outcomeSet(name attribute.KeyValue, o breaker.Outcome) attribute.Set {
	return attribute.NewSet(name, attribute.String(keyOutcome, o.String()))
}

func stateSet(name attribute.KeyValue, s breaker.State) attribute.Set {
	return attribute.NewSet(name, attribute.String(keyState, s.String()))
}

func transitionSet(name attribute.KeyValue, from, to breaker.State, reason breaker.Reason, origin breaker.Origin) attribute.Set {
	return attribute.NewSet(name, attribute.String(keyFrom, from.String()), attribute.String(keyTo, to.String()),
		attribute.String(keyReason, reason.String()), attribute.String(keyOrigin, origin.String()))
}
