package telemetry

import (
	"math"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/telemetry/internal/series"
)

// entry holds what one attachment prepared for one breaker: the attribute
// sets and option slices, built once so that recording allocates nothing
// (an inline metric.WithAttributeSet allocates, and so does the variadic
// slice around it), and the breaker's rejection-log rate limit.
//
// The options every call or collection needs are built with the entry; those
// for rare events (transitions, rejections seen by a recording span) are
// built the first time they are needed and then kept.
type entry struct {
	b    *breaker.Breaker
	name attribute.KeyValue
	rec  BreakerRecorder // from the Telemetry's Recorder; nil without one

	durationRec [3][]metric.RecordOption  // by outcome: success, failure, ignored
	callObs     [4][]metric.ObserveOption // by outcome, rejected included
	stateObs    [3][]metric.ObserveOption // by state
	nameObs     []metric.ObserveOption

	shadowObs     atomic.Pointer[[]metric.ObserveOption]                           // outcome shadow_rejected
	transitionAdd [len(series.KnownTransitions)]atomic.Pointer[[]metric.AddOption] // by series.TransitionIndex (origin local)
	rejectedEvent [3]atomic.Pointer[[]trace.EventOption]                           // by state

	// Rejection-log rate limit: the earliest time, in Unix nanoseconds on
	// the breaker's clock, the next record may be written, and the
	// rejections not logged since the previous one.
	nextLog    atomic.Int64
	suppressed atomic.Uint64
}

func newEntry(b *breaker.Breaker, r Recorder) *entry {
	name := attribute.String(keyName, b.Name())
	e := &entry{b: b, name: name}
	if r != nil {
		e.rec = r.ForBreaker(b)
	}
	for i, o := range outcomes {
		opt := metric.WithAttributeSet(outcomeSet(name, o))
		e.callObs[i] = []metric.ObserveOption{opt}
		if o != breaker.OutcomeRejected {
			e.durationRec[i] = []metric.RecordOption{opt}
		}
	}
	for i, s := range states {
		e.stateObs[i] = []metric.ObserveOption{metric.WithAttributeSet(stateSet(name, s))}
	}
	e.nameObs = []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(name))}
	e.nextLog.Store(math.MinInt64)
	return e
}

// transitionOpts returns the options for one transition of the breaker:
// prepared once for the local ones series.KnownTransitions lists, built
// each time for the others (rare: a peer's decision, for one).
func (e *entry) transitionOpts(from, to breaker.State, reason breaker.Reason, origin breaker.Origin) []metric.AddOption {
	i, ok := series.TransitionIndex(from, to, reason, origin)
	if !ok {
		return []metric.AddOption{metric.WithAttributeSet(transitionSet(e.name, from, to, reason, origin))}
	}
	p := &e.transitionAdd[i]
	if opts := p.Load(); opts != nil {
		return *opts
	}
	opts := []metric.AddOption{metric.WithAttributeSet(transitionSet(e.name, from, to, reason, origin))}
	p.Store(&opts)
	return opts
}

// shadowOpts returns the calls options for the shadow_rejected outcome.
func (e *entry) shadowOpts() []metric.ObserveOption {
	if opts := e.shadowObs.Load(); opts != nil {
		return *opts
	}
	opts := []metric.ObserveOption{metric.WithAttributeSet(outcomeSet(e.name, breaker.OutcomeShadowRejected))}
	e.shadowObs.Store(&opts)
	return opts
}

// rejectedOpts returns the span event options for a rejection in state s.
func (e *entry) rejectedOpts(s breaker.State) []trace.EventOption {
	if int(s) >= len(states) {
		return []trace.EventOption{trace.WithAttributes(e.name, attribute.String(keyState, s.String()))}
	}
	p := &e.rejectedEvent[s]
	if opts := p.Load(); opts != nil {
		return *opts
	}
	opts := []trace.EventOption{trace.WithAttributes(e.name, attribute.String(keyState, s.String()))}
	p.Store(&opts)
	return opts
}
