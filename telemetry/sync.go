package telemetry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"weak"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/telemetry/internal/series"
)

// Attribute keys of the circuit_breaker.sync.* instruments.
const (
	keySyncResult  = "circuit_breaker.sync.result"
	keySyncOutcome = "circuit_breaker.sync.outcome"
)

// syncInstruments are the circuit_breaker.sync.* instruments, read from
// the attached sharedstate.Syncer at collection time, and their attribute
// sets, built once.
type syncInstruments struct {
	connected   metric.Int64ObservableUpDownCounter
	pending     metric.Int64ObservableUpDownCounter
	lastSuccess metric.Float64ObservableGauge
	messages    metric.Int64ObservableCounter
	proposals   metric.Int64ObservableCounter
	reconciles  metric.Int64ObservableCounter
	repaired    metric.Int64ObservableCounter
	errors      metric.Int64ObservableCounter
	// Recorded at collection time from the Syncer's own histogram (see
	// series.Spread): OpenTelemetry has no observable histogram.
	delay metric.Float64Histogram

	messageObs  [len(series.MessageResults)][]metric.ObserveOption
	proposalObs [len(series.ProposalOutcomes)][]metric.ObserveOption
}

func newSyncInstruments(m metric.Meter) (syncInstruments, error) {
	var in syncInstruments
	var err, e error
	in.connected, e = m.Int64ObservableUpDownCounter(series.SyncConnected.Name, metric.WithUnit(series.SyncConnected.Unit), metric.WithDescription(series.SyncConnected.Help))
	err = errors.Join(err, e)
	in.pending, e = m.Int64ObservableUpDownCounter(series.SyncPending.Name, metric.WithUnit(series.SyncPending.Unit), metric.WithDescription(series.SyncPending.Help))
	err = errors.Join(err, e)
	in.lastSuccess, e = m.Float64ObservableGauge(series.SyncLastSuccess.Name, metric.WithUnit(series.SyncLastSuccess.Unit), metric.WithDescription(series.SyncLastSuccess.Help))
	err = errors.Join(err, e)
	in.messages, e = m.Int64ObservableCounter(series.SyncMessages.Name, metric.WithUnit(series.SyncMessages.Unit), metric.WithDescription(series.SyncMessages.Help))
	err = errors.Join(err, e)
	in.proposals, e = m.Int64ObservableCounter(series.SyncProposals.Name, metric.WithUnit(series.SyncProposals.Unit), metric.WithDescription(series.SyncProposals.Help))
	err = errors.Join(err, e)
	in.reconciles, e = m.Int64ObservableCounter(series.SyncReconciles.Name, metric.WithUnit(series.SyncReconciles.Unit), metric.WithDescription(series.SyncReconciles.Help))
	err = errors.Join(err, e)
	in.repaired, e = m.Int64ObservableCounter(series.SyncRepaired.Name, metric.WithUnit(series.SyncRepaired.Unit), metric.WithDescription(series.SyncRepaired.Help))
	err = errors.Join(err, e)
	in.errors, e = m.Int64ObservableCounter(series.SyncErrors.Name, metric.WithUnit(series.SyncErrors.Unit), metric.WithDescription(series.SyncErrors.Help))
	err = errors.Join(err, e)
	in.delay, e = m.Float64Histogram(series.SyncDelay.Name,
		metric.WithUnit(series.SyncDelay.Unit), metric.WithDescription(series.SyncDelay.Help),
		metric.WithExplicitBucketBoundaries(series.DelayBuckets...))
	err = errors.Join(err, e)
	for i, r := range series.MessageResults {
		in.messageObs[i] = []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(attribute.String(keySyncResult, r)))}
	}
	for i, o := range series.ProposalOutcomes {
		in.proposalObs[i] = []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(attribute.String(keySyncOutcome, o.String())))}
	}
	return in, err
}

func (in *syncInstruments) observables() []metric.Observable {
	return []metric.Observable{in.connected, in.pending, in.lastSuccess, in.messages, in.proposals, in.reconciles, in.repaired, in.errors}
}

// syncState is what a Telemetry knows about the Syncer it observes.
type syncState struct {
	inst syncInstruments

	// attachMu serialises AttachSyncer and detaching. It is never held
	// while the collection callback runs, nor taken by it.
	attachMu sync.Mutex

	// mu guards what follows; the collection callback takes it, under the
	// SDK's lock, so it is never held while calling the SDK's
	// RegisterCallback or Unregister.
	mu      sync.Mutex
	current *syncAttachment // nil: none attached
	// The propagation histogram recorded so far for each Syncer attached
	// (weakly held, forgotten once collected): attaching one again after a
	// detach, also after others were attached meanwhile, goes on from
	// there, rather than recording its delays twice.
	progress map[weak.Pointer[sharedstate.Syncer]]*delayProgress
}

// delayProgress is how much of one Syncer's propagation histogram was
// recorded.
type delayProgress struct {
	prev     series.Delay
	recorded uint64
}

// syncAttachment is one AttachSyncer.
type syncAttachment struct {
	t    *Telemetry
	s    *sharedstate.Syncer
	p    *delayProgress // guarded by syncState.mu
	reg  metric.Registration
	once sync.Once
}

// AttachSyncer starts observing s, the shared breaker state of a registry
// (package sharedstate): the circuit_breaker.sync.* instruments report its
// connection, pending proposals, messages, proposals, reconciles, repairs,
// errors and propagation delay. They are read from s.Status and s.Stats
// when the metrics are collected, so they cost nothing until then (Status
// takes the Syncer's mutex briefly: a call that changes no state never
// takes it, one that changes the state takes it to note the change).
// detach stops observing
// s; calling it again does nothing.
//
// A Telemetry observes one Syncer at a time: a second one, before the
// first is detached, is refused with [ErrAlreadyAttached]. The
// instruments name no replica: the resource's service.instance.id tells
// replicas apart, as it does for every other series. Attaching the same
// Syncer again after detaching it goes on from the delays already
// recorded, also when others were attached in between.
//
// While s is attached, every breaker of its registry that the Telemetry
// observes, now or later, also has at 0 the circuit_breaker.transitions
// series of the changes another replica's decision ordinarily makes on it
// (a peer's trip for each reason of a local one, with origin peer, or
// cluster with a quorum above 1; a peer's close, with origin peer), so
// that a rate or increase counts the first: four series per breaker (see
// the package documentation).
func (t *Telemetry) AttachSyncer(s *sharedstate.Syncer) (detach func(), err error) {
	if s == nil {
		return nil, errors.New("telemetry: AttachSyncer called with a nil Syncer")
	}
	ss := &t.sync
	ss.attachMu.Lock()
	defer ss.attachMu.Unlock()
	ss.mu.Lock()
	busy := ss.current != nil
	ss.mu.Unlock()
	if busy {
		return nil, fmt.Errorf("%w: the Telemetry observes a Syncer that was not detached", ErrAlreadyAttached)
	}
	a := &syncAttachment{t: t, s: s}
	reg, err := t.meter.RegisterCallback(a.observe, ss.inst.observables()...)
	if err != nil {
		return nil, err
	}
	a.reg = reg
	ss.mu.Lock()
	ss.current = a
	for k := range ss.progress {
		if k.Value() == nil {
			delete(ss.progress, k) // its Syncer is gone
		}
	}
	if ss.progress == nil {
		ss.progress = make(map[weak.Pointer[sharedstate.Syncer]]*delayProgress)
	}
	key := weak.Make(s)
	if ss.progress[key] == nil {
		ss.progress[key] = &delayProgress{}
	}
	a.p = ss.progress[key]
	ss.mu.Unlock()
	// Stored first, so that a breaker seen meanwhile is covered either by
	// its own precreate or by this walk.
	remote := series.RemoteTransitions(s)
	t.remote.Store(remote)
	t.precreateRemoteAll(remote)
	return a.detach, nil
}

// detach unregisters the callback, once.
func (a *syncAttachment) detach() {
	a.once.Do(func() {
		ss := &a.t.sync
		ss.attachMu.Lock()
		defer ss.attachMu.Unlock()
		ss.mu.Lock()
		ss.current = nil
		ss.mu.Unlock()
		a.t.remote.Store(nil)
		if err := a.reg.Unregister(); err != nil {
			otel.Handle(err)
		}
	})
}

// observe is the collection callback: it reports one Status and Stats
// snapshot, and records the propagation delays measured since the last
// collection.
func (a *syncAttachment) observe(_ context.Context, o metric.Observer) error {
	ss := &a.t.sync
	st, stats := a.s.Status(), a.s.Stats()
	cur := series.ReadDelay(stats.Propagation)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.current != a {
		return nil // detached while collecting
	}
	series.VisitSync(st, &stats, &syncObserver{in: &ss.inst, o: o})
	// Without a context of their own, the values take no exemplar.
	ctx := context.Background()
	a.p.recorded = series.Spread(a.p.prev, cur, a.p.recorded, func(v float64) { ss.inst.delay.Record(ctx, v) })
	a.p.prev = cur
	return nil
}

// syncObserver reports a Syncer's series to an OpenTelemetry observer.
type syncObserver struct {
	in *syncInstruments
	o  metric.Observer
}

func (v *syncObserver) Connected(x int64)     { v.o.ObserveInt64(v.in.connected, x) }
func (v *syncObserver) Pending(n int64)       { v.o.ObserveInt64(v.in.pending, n) }
func (v *syncObserver) LastSuccess(s float64) { v.o.ObserveFloat64(v.in.lastSuccess, s) }
func (v *syncObserver) Reconciles(n int64)    { v.o.ObserveInt64(v.in.reconciles, n) }
func (v *syncObserver) Repaired(n int64)      { v.o.ObserveInt64(v.in.repaired, n) }
func (v *syncObserver) Errors(n int64)        { v.o.ObserveInt64(v.in.errors, n) }
func (v *syncObserver) Messages(i int, n int64) {
	v.o.ObserveInt64(v.in.messages, n, v.in.messageObs[i]...)
}
func (v *syncObserver) Proposals(i int, n int64) {
	v.o.ObserveInt64(v.in.proposals, n, v.in.proposalObs[i]...)
}
