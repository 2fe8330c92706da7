package telemetry

import (
	"context"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
)

// A Recorder receives what an attachment measures from the breakers'
// events, the duration of each admitted call and each state change, in
// addition to the OpenTelemetry instruments. It lets another metrics
// library record them from the attachment's one bus subscription, which
// also writes the span events and logs, instead of subscribing a second
// time. Package [github.com/fusebox-go/fusebox/telemetry/prom] records the
// duration histogram and the transitions counter of its /metrics page this
// way.
//
// Install one with [WithRecorder]. For the recorder to be the only metrics
// backend, give the Telemetry the no-op MeterProvider of
// go.opentelemetry.io/otel/metric/noop: the event handler then skips the
// OpenTelemetry instruments altogether.
type Recorder interface {
	// ForBreaker returns what records b's events, or nil to record
	// nothing for b. An attachment calls it when it first prepares b: on
	// attaching for the breakers a registry already holds, otherwise on
	// b's first event or collection. Events of b that race to be first may
	// call it more than once; one result is kept and the others are
	// dropped, so ForBreaker should do nothing but build its result, and
	// what it does to shared state (such as creating b's series) must be
	// harmless to repeat.
	ForBreaker(b *breaker.Breaker) BreakerRecorder
}

// A BreakerRecorder records the events of one breaker. Its methods run on
// the goroutine that delivers the event (the caller's, with a synchronous
// bus), concurrently for concurrent calls. They must not block, and should
// not allocate on the success path: they sit on every call.
type BreakerRecorder interface {
	// RecordCall records an admitted call: its outcome
	// (breaker.OutcomeSuccess, OutcomeFailure or OutcomeIgnored), how long
	// its function ran, and the call's context, which holds the caller's
	// span for an exemplar. Rejected and shadow-rejected calls are not
	// recorded.
	RecordCall(ctx context.Context, outcome breaker.Outcome, d time.Duration)
	// RecordTransition records a state change, its reason and where it
	// came from (breaker.OriginLocal, or OriginPeer and OriginCluster for a
	// decision applied with breaker.Breaker.Apply), with the context of the
	// call that caused it or context.Background() when none did.
	RecordTransition(ctx context.Context, from, to breaker.State, reason breaker.Reason, origin breaker.Origin)
}

// WithRecorder adds r to what records the breakers' call durations and
// state changes (see [Recorder]). The OpenTelemetry instruments, span
// events and logs are unchanged. The default, and what a nil r means, is no
// recorder.
func WithRecorder(r Recorder) Option {
	return optionFunc(func(c *config) { c.recorder = r })
}
