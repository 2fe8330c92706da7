package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/retry"
	"github.com/fusebox-go/fusebox/telemetry/internal/series"
)

// Attribute keys, span event names and log messages of retry policies.
const (
	keyRetryName       = "retry.name"
	keyRetryOutcome    = "retry.outcome"
	keyRetryReason     = "retry.reason"
	keyRetryAttempt    = "retry.attempt"
	keyRetryAttempts   = "retry.attempts"
	keyRetryDelay      = "retry.delay"
	keyRetrySuppressed = "retry.suppressed"

	eventRetryScheduled = "retry.scheduled"
	eventRetryGaveUp    = "retry.gave_up"

	msgRetryScheduled       = "retry scheduled"
	msgRetryGaveUp          = "retry gave up"
	msgRetryBudgetExhausted = "retry budget exhausted"
	msgRetryBudgetRecovered = "retry budget recovered"
)

// AttachRetry starts observing a retry policy: it registers one
// collection callback that reads the policy's totals, and subscribes once
// to its bus for the histograms of retried calls, span events and logs.
// detach undoes all of it and leaves nothing behind; calling it again does
// nothing. A policy is attached once: a second AttachRetry of the same
// policy, by this or another Telemetry, before the first is detached,
// returns an error wrapping [ErrAlreadyAttached]. A policy's name is its
// retry.name: AttachRetry of another policy with the name of one this
// Telemetry observes returns an error wrapping [ErrRetryNameTaken], since
// their series would merge. A policy whose events are off
// (retry.WithEventBus(nil)) reports its totals only.
//
// A call whose first attempt succeeds publishes no event, so it costs
// nothing more with telemetry attached: the totals are read at collection
// time.
//
// # Metrics
//
// Read from the policy's totals at collection time:
//
//	retry.calls  Int64ObservableCounter  {call}
//	    attributes: retry.name, retry.outcome
//	retry.stops  Int64ObservableCounter  {call}
//	    attributes: retry.name, retry.reason
//	retry.attempts  Int64ObservableCounter  {attempt}
//	    attributes: retry.name
//	retry.budget.available  Float64ObservableGauge  {token}
//	    attributes: retry.name
//
// retry.outcome is success (the first attempt succeeded),
// success_after_retry, failure (failed without retrying) or
// failure_after_retry; every outcome and every reason is reported from the
// start, at zero. retry.reason is why a failed call stopped: exhausted,
// budget, deadline, retry_after, circuit_open, not_retryable, cancelled or
// trial. The budget gauge is reported for a policy that has a budget.
// Retry rate and amplification are one PromQL line each:
// sum(rate(retry_calls_total{retry_outcome=~".*_after_retry"}[5m])) /
// sum(rate(retry_calls_total[5m])), and rate(retry_attempts_total[5m]) /
// rate(retry_calls_total[5m]).
//
// Recorded, with the call's context, when a call that retried ends:
//
//	retry.call.retries  Int64Histogram  {retry}
//	    attributes: retry.name, retry.outcome
//	retry.call.delay  Float64Histogram  s
//	    attributes: retry.name
//
// The retries histogram has the buckets 1, 2, 3, 4, 5 and 10; the delay
// histogram those of circuit_breaker.call.duration.
//
// # Span events
//
// On the span in the call's context (no new span):
//
//	retry.scheduled
//	    attributes: retry.name, retry.attempt, retry.delay, error.type
//	retry.gave_up
//	    attributes: retry.name, retry.attempts, retry.reason, error.type
//
// retry.scheduled comes before each wait: the attempt that failed (from
// 1), its error's type and the wait in seconds. retry.gave_up comes when a
// call fails after retrying, or without retrying for a reason of the
// policy's own (exhausted, budget, deadline, retry_after); not for an
// error that is not retried, a breaker's rejection, a breaker's trial or
// the caller's cancellation at the first attempt, which say nothing about
// retrying.
//
// # Logs
//
//	"retry scheduled"  DEBUG
//	    attributes: retry.name, retry.attempt, retry.delay, error.type, retry.suppressed
//	"retry gave up"  WARN
//	    attributes: retry.name, retry.attempts, retry.reason, error.type, retry.suppressed
//	"retry budget exhausted"  WARN
//	    attributes: retry.name
//	"retry budget recovered"  INFO
//	    attributes: retry.name
//
// The first two are rate-limited per policy like rejections
// ([WithRejectionLogInterval], 10s by default, on the system clock): one
// record per interval, carrying how many were not written since the
// previous one. "retry gave up" follows the rule of the span event. The
// budget's records come once per episode: when the budget first refuses a
// retry, and at the first retry once it is back to half its burst (not at
// the first retry a single token allows: a brownout that spends each token
// as it comes would otherwise log exhausted and recovered in turn).
func (t *Telemetry) AttachRetry(p *retry.Policy) (detach func(), err error) {
	if p == nil {
		return nil, errors.New("telemetry: AttachRetry called with a nil policy")
	}
	in, err := newRetryInstruments(t.meter)
	if err != nil {
		return nil, err
	}
	a := newRetryAttachment(t, p, in)
	if err := claimRetry(a); err != nil {
		return nil, err
	}
	if err := t.claimRetryName(a); err != nil {
		releaseRetry(a)
		return nil, err
	}
	a.callback, err = t.meter.RegisterCallback(a.observe, in.calls, in.stops, in.attempts, in.budget)
	if err != nil {
		t.releaseRetryName(a)
		releaseRetry(a)
		return nil, err
	}
	if bus := p.Events(); bus != nil {
		a.unsubscribe = bus.Subscribe(events.Handler[retry.Event](a))
	}
	return a.detach, nil
}

// ErrRetryNameTaken is returned by AttachRetry for a policy whose name is
// the name of another policy this Telemetry observes, not yet detached:
// both would report under the same retry.name, and their series would
// merge silently. Give each policy its own name (retry.New), or detach
// the first. (The same policy attached twice is [ErrAlreadyAttached].)
var ErrRetryNameTaken = errors.New("telemetry: a retry policy of that name is already attached")

// A RetryRecorder receives the retried calls of the policies an attachment
// observes, in addition to the OpenTelemetry histograms, as [Recorder]
// does for breakers. A [Recorder] given to [WithRecorder] that also
// implements RetryRecorder is used for the policies given to
// [Telemetry.AttachRetry]. Package prom's native collector records its
// retry histograms this way.
type RetryRecorder interface {
	// ForRetry returns what records p's retried calls, or nil to record
	// nothing for p. It is called once, by AttachRetry.
	ForRetry(p *retry.Policy) RetryPolicyRecorder
}

// A RetryPolicyRecorder records the retried calls of one policy. Its
// method runs on the caller's goroutine (the policy's bus is synchronous
// unless configured otherwise), concurrently for concurrent calls, and must
// not block.
type RetryPolicyRecorder interface {
	// RecordRetriedCall records a call that retried: how it ended
	// (retry.OutcomeSuccessAfterRetry or OutcomeFailureAfterRetry), its
	// retries and the time it waited between attempts, with the call's
	// context.
	RecordRetriedCall(ctx context.Context, o retry.Outcome, retries int, waited time.Duration)
}

// retryInstruments are the instruments of retry policies.
type retryInstruments struct {
	calls, stops, attempts metric.Int64ObservableCounter
	budget                 metric.Float64ObservableGauge
	retries                metric.Int64Histogram
	delay                  metric.Float64Histogram
}

// newRetryInstruments creates (or, from an SDK that already has them,
// gets) the retry instruments.
func newRetryInstruments(m metric.Meter) (retryInstruments, error) {
	var in retryInstruments
	var err, e error
	in.calls, e = m.Int64ObservableCounter(series.RetryCalls.Name, metric.WithUnit(series.RetryCalls.Unit), metric.WithDescription(series.RetryCalls.Help))
	err = errors.Join(err, e)
	in.stops, e = m.Int64ObservableCounter(series.RetryStops.Name, metric.WithUnit(series.RetryStops.Unit), metric.WithDescription(series.RetryStops.Help))
	err = errors.Join(err, e)
	in.attempts, e = m.Int64ObservableCounter(series.RetryAttempts.Name, metric.WithUnit(series.RetryAttempts.Unit), metric.WithDescription(series.RetryAttempts.Help))
	err = errors.Join(err, e)
	in.budget, e = m.Float64ObservableGauge(series.RetryBudget.Name, metric.WithUnit(series.RetryBudget.Unit), metric.WithDescription(series.RetryBudget.Help))
	err = errors.Join(err, e)
	in.retries, e = m.Int64Histogram(series.RetryRetries.Name,
		metric.WithUnit(series.RetryRetries.Unit), metric.WithDescription(series.RetryRetries.Help),
		metric.WithExplicitBucketBoundaries(series.RetryBuckets[:]...))
	err = errors.Join(err, e)
	in.delay, e = m.Float64Histogram(series.RetryDelay.Name,
		metric.WithUnit(series.RetryDelay.Unit), metric.WithDescription(series.RetryDelay.Help),
		metric.WithExplicitBucketBoundaries(series.DurationBuckets[:]...))
	err = errors.Join(err, e)
	return in, err
}

// retryAttachment is one AttachRetry: one collection callback, one bus
// subscription, and what they need prepared, so that neither allocates.
type retryAttachment struct {
	t   *Telemetry
	p   *retry.Policy
	in  retryInstruments
	rec RetryPolicyRecorder // nil without one

	name       attribute.KeyValue
	callObs    [len(series.RetryOutcomes)][]metric.ObserveOption
	stopObs    [len(series.RetryReasons)][]metric.ObserveOption
	nameObs    []metric.ObserveOption
	retriesRec [len(series.RetryOutcomes)][]metric.RecordOption
	delayRec   []metric.RecordOption

	// Log rate limits: the earliest time, in Unix nanoseconds, the next
	// record may be written, and the records not written since the last.
	nextScheduled, nextGaveUp             atomic.Int64
	suppressedScheduled, suppressedGaveUp atomic.Uint64
	// budgetOut is set from the budget's first refusal to its next
	// allowed retry.
	budgetOut atomic.Bool

	detached    atomic.Bool
	unsubscribe func()
	callback    metric.Registration
	once        sync.Once
}

func newRetryAttachment(t *Telemetry, p *retry.Policy, in retryInstruments) *retryAttachment {
	name := attribute.String(keyRetryName, p.Name())
	a := &retryAttachment{t: t, p: p, in: in, name: name}
	for i, o := range series.RetryOutcomes {
		set := metric.WithAttributeSet(attribute.NewSet(name, attribute.String(keyRetryOutcome, o.String())))
		a.callObs[i] = []metric.ObserveOption{set}
		a.retriesRec[i] = []metric.RecordOption{set}
	}
	for i, r := range series.RetryReasons {
		a.stopObs[i] = []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(name, attribute.String(keyRetryReason, r.String())))}
	}
	set := metric.WithAttributeSet(attribute.NewSet(name))
	a.nameObs = []metric.ObserveOption{set}
	a.delayRec = []metric.RecordOption{set}
	a.nextScheduled.Store(math.MinInt64)
	a.nextGaveUp.Store(math.MinInt64)
	if rr, ok := t.cfg.recorder.(RetryRecorder); ok {
		a.rec = rr.ForRetry(p)
	}
	return a
}

// attachedRetries holds the policies observed by attachments not yet
// detached.
var attachedRetries struct {
	sync.Mutex
	m map[*retry.Policy]*retryAttachment
}

func claimRetry(a *retryAttachment) error {
	attachedRetries.Lock()
	defer attachedRetries.Unlock()
	if attachedRetries.m[a.p] != nil {
		return fmt.Errorf("%w: the retry policy %q is observed by an attachment that was not detached", ErrAlreadyAttached, a.p.Name())
	}
	if attachedRetries.m == nil {
		attachedRetries.m = map[*retry.Policy]*retryAttachment{}
	}
	attachedRetries.m[a.p] = a
	return nil
}

func releaseRetry(a *retryAttachment) {
	attachedRetries.Lock()
	defer attachedRetries.Unlock()
	if attachedRetries.m[a.p] == a {
		delete(attachedRetries.m, a.p)
	}
}

// claimRetryName reserves a's policy name on t.
func (t *Telemetry) claimRetryName(a *retryAttachment) error {
	t.retryMu.Lock()
	defer t.retryMu.Unlock()
	name := a.p.Name()
	if t.retryNames[name] != nil {
		return fmt.Errorf("%w: %q (each policy needs its own name)", ErrRetryNameTaken, name)
	}
	if t.retryNames == nil {
		t.retryNames = map[string]*retryAttachment{}
	}
	t.retryNames[name] = a
	return nil
}

// releaseRetryName frees a's policy name on t.
func (t *Telemetry) releaseRetryName(a *retryAttachment) {
	t.retryMu.Lock()
	defer t.retryMu.Unlock()
	if name := a.p.Name(); t.retryNames[name] == a {
		delete(t.retryNames, name)
	}
}

// detach unsubscribes and unregisters the callback, once.
func (a *retryAttachment) detach() {
	a.once.Do(func() {
		a.detached.Store(true)
		if a.unsubscribe != nil {
			a.unsubscribe()
		}
		if err := a.callback.Unregister(); err != nil {
			otel.Handle(err)
		}
		a.t.releaseRetryName(a)
		releaseRetry(a)
	})
}

// observe is the collection callback: the policy's series from one Stats
// snapshot.
func (a *retryAttachment) observe(_ context.Context, o metric.Observer) error {
	series.VisitRetry(a.p.Stats(), retryObserver{a: a, o: o})
	return nil
}

// retryObserver reports one policy's series to an OpenTelemetry observer.
type retryObserver struct {
	a *retryAttachment
	o metric.Observer
}

func (v retryObserver) RetryCalls(o retry.Outcome, n int64) {
	v.o.ObserveInt64(v.a.in.calls, n, v.a.callObs[o]...)
}
func (v retryObserver) RetryStops(r retry.Reason, n int64) {
	v.o.ObserveInt64(v.a.in.stops, n, v.a.stopObs[r]...)
}
func (v retryObserver) RetryAttempts(n int64) { v.o.ObserveInt64(v.a.in.attempts, n, v.a.nameObs...) }
func (v retryObserver) RetryBudget(x float64) { v.o.ObserveFloat64(v.a.in.budget, x, v.a.nameObs...) }

// Handle receives the policy's events: its one subscription.
func (a *retryAttachment) Handle(ctx context.Context, e retry.Event) {
	if a.detached.Load() || e.Policy != a.p {
		return
	}
	switch e.Kind {
	case retry.EventRetry:
		a.scheduled(ctx, e)
	case retry.EventCall:
		a.ended(ctx, e)
	}
}

// scheduled adds the span event and the rate-limited log record of a
// retry about to wait, and ends a budget episode.
func (a *retryAttachment) scheduled(ctx context.Context, e retry.Event) {
	errType := errorType(e.Err)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(eventRetryScheduled, trace.WithAttributes(
			a.name,
			attribute.Int(keyRetryAttempt, e.Attempt),
			attribute.Float64(keyRetryDelay, e.Delay.Seconds()),
			attribute.String(keyErrorType, errType),
		))
	}
	logger := a.t.logger()
	if a.budgetOut.Load() && a.budgetRefilled() && a.budgetOut.CompareAndSwap(true, false) {
		logger.LogAttrs(ctx, slog.LevelInfo, msgRetryBudgetRecovered, slog.String(keyRetryName, a.p.Name()))
	}
	if !logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	if n, ok := a.allow(&a.nextScheduled, &a.suppressedScheduled); ok {
		logger.LogAttrs(ctx, slog.LevelDebug, msgRetryScheduled,
			slog.String(keyRetryName, a.p.Name()),
			slog.Int(keyRetryAttempt, e.Attempt),
			slog.Float64(keyRetryDelay, e.Delay.Seconds()),
			slog.String(keyErrorType, errType),
			slog.Uint64(keyRetrySuppressed, n),
		)
	}
}

// budgetRefilled reports whether the policy's budget is back to half its
// burst: a budget episode ends there, not at the first retry a single
// token allows, or a brownout that spends each token as it comes would
// log exhausted and recovered in turn.
func (a *retryAttachment) budgetRefilled() bool {
	b := a.p.Budget()
	return b == nil || b.Available() >= float64(b.Burst())/2
}

// ended records a call that did not succeed at its first attempt: the
// histograms for one that retried, and the span event and logs of one the
// policy gave up on.
func (a *retryAttachment) ended(ctx context.Context, e retry.Event) {
	if e.Retries > 0 {
		if !a.t.noop {
			a.in.retries.Record(ctx, int64(e.Retries), a.retriesRec[e.Outcome]...)
			a.in.delay.Record(ctx, e.Slept.Seconds(), a.delayRec...)
		}
		if a.rec != nil {
			a.rec.RecordRetriedCall(ctx, e.Outcome, e.Retries, e.Slept)
		}
	}
	if e.Outcome != retry.OutcomeFailure && e.Outcome != retry.OutcomeFailureAfterRetry {
		return
	}
	logger := a.t.logger()
	if e.Reason == retry.ReasonBudget && !a.budgetOut.Load() && a.budgetOut.CompareAndSwap(false, true) {
		logger.LogAttrs(ctx, slog.LevelWarn, msgRetryBudgetExhausted, slog.String(keyRetryName, a.p.Name()))
	}
	if !gaveUp(e) {
		return
	}
	last := e.Err
	var re *retry.Error
	if errors.As(last, &re) {
		last = re.Err
	}
	errType := errorType(last)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(eventRetryGaveUp, trace.WithAttributes(
			a.name,
			attribute.Int(keyRetryAttempts, e.Attempts),
			attribute.String(keyRetryReason, e.Reason.String()),
			attribute.String(keyErrorType, errType),
		))
	}
	if !logger.Enabled(ctx, slog.LevelWarn) {
		return
	}
	if n, ok := a.allow(&a.nextGaveUp, &a.suppressedGaveUp); ok {
		logger.LogAttrs(ctx, slog.LevelWarn, msgRetryGaveUp,
			slog.String(keyRetryName, a.p.Name()),
			slog.Int(keyRetryAttempts, e.Attempts),
			slog.String(keyRetryReason, e.Reason.String()),
			slog.String(keyErrorType, errType),
			slog.Uint64(keyRetrySuppressed, n),
		)
	}
}

// gaveUp reports whether a failed call is one the policy gave up on: it
// retried, or it stopped at its first attempt for a reason of the
// policy's own.
func gaveUp(e retry.Event) bool {
	if e.Outcome == retry.OutcomeFailureAfterRetry {
		return true
	}
	switch e.Reason {
	case retry.ReasonExhausted, retry.ReasonBudget, retry.ReasonDeadline, retry.ReasonRetryAfter:
		return true
	}
	return false
}

// allow applies a log rate limit: it reports whether a record may be
// written now and, if so, how many were suppressed since the last.
func (a *retryAttachment) allow(next *atomic.Int64, suppressed *atomic.Uint64) (uint64, bool) {
	now := time.Now().UnixNano()
	n := next.Load()
	if now < n || !next.CompareAndSwap(n, addSat(now, int64(a.t.cfg.rejectEvery))) {
		suppressed.Add(1)
		return 0, false
	}
	return suppressed.Swap(0), true
}

// errorType is the error.type of err, as the semantic conventions define
// it; empty for nil.
func errorType(err error) string {
	if err == nil {
		return ""
	}
	return semconv.ErrorType(err).Value.AsString()
}
