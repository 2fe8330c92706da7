package telemetry

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/telemetry/internal/series"
)

// Telemetry turns breakers into OpenTelemetry metrics, span events and slog
// records. It holds the instruments, created once by [New]; attach it to a
// registry or a breaker to start observing.
//
// A Telemetry is safe for concurrent use, and may be attached to several
// registries and breakers. Attach each breaker once, either through its
// registry or on its own: a second attachment is refused with
// [ErrAlreadyAttached].
type Telemetry struct {
	cfg   config
	meter metric.Meter
	inst  instruments
	// noop: the MeterProvider is the API's no-op one, so the event handler
	// skips the synchronous instruments (a Recorder may be all there is).
	noop bool

	// The asynchronous buses of the current attachments, each once, for
	// circuit_breaker.events.dropped: busRefs counts the attachments of
	// each, buses is the list the collection callback reads (replaced, never
	// changed in place), and busCallback is registered while it is not
	// empty. busMu guards all three but is never taken by the callback.
	busMu       sync.Mutex
	busRefs     map[*events.Async[breaker.Event]]int
	buses       atomic.Pointer[[]*events.Async[breaker.Event]]
	busCallback metric.Registration

	// The attached sharedstate.Syncer, if any (see AttachSyncer).
	sync syncState
	// remote is, while a Syncer is attached, its registry and the
	// transitions from elsewhere whose series its breakers have at 0.
	remote atomic.Pointer[series.Remote]

	// The names of the retry policies attached and not yet detached:
	// AttachRetry refuses a second policy of a name (ErrRetryNameTaken).
	retryMu    sync.Mutex
	retryNames map[string]*retryAttachment
}

// New creates the instruments under the scope [ScopeName] with version
// [Version] from the configured MeterProvider. It returns an error if the
// provider refuses an instrument; with the global provider and the SDK that
// does not happen.
func New(opts ...Option) (*Telemetry, error) {
	cfg := newConfig(opts)
	meter := cfg.meterProvider.Meter(ScopeName, metric.WithInstrumentationVersion(Version))
	inst, err := newInstruments(meter)
	if err != nil {
		return nil, err
	}
	syncInst, err := newSyncInstruments(meter)
	if err != nil {
		return nil, err
	}
	_, isNoop := cfg.meterProvider.(noop.MeterProvider)
	return &Telemetry{cfg: cfg, meter: meter, inst: inst, noop: isNoop, sync: syncState{inst: syncInst}}, nil
}

// AttachRegistry starts observing every breaker of reg, including breakers
// created later: it subscribes once to the registry's bus (for call
// durations, transitions, span events and logs) and registers one
// collection callback that walks the registry (for state, calls,
// consecutive failures, the trip-policy ratios and slow calls). When the
// bus is an *events.Async, its dropped events are observed too. detach
// undoes all of it and leaves nothing behind; calling it again does
// nothing.
//
// A breaker created with its own [breaker.WithEventBus] publishes on that
// bus instead of the registry's: it is still observed at collection time,
// but its durations, transitions, span events and logs are not seen. When
// the registry's events are off (a nil bus), only the observed instruments
// are reported.
func (t *Telemetry) AttachRegistry(reg *breaker.Registry) (detach func(), err error) {
	if reg == nil {
		return nil, errors.New("telemetry: AttachRegistry called with a nil registry")
	}
	a := &attachment{t: t, reg: reg, seed: maphash.MakeSeed()}
	if err := claim(a); err != nil {
		return nil, err
	}
	reg.Range(func(b *breaker.Breaker) bool {
		a.entry(b)
		return true
	})
	a.stopRemove = reg.OnRemove(a.forget)
	return a.start(reg.Events())
}

// AttachBreaker starts observing one breaker: it subscribes to the
// breaker's bus and registers one collection callback for it (and observes
// the dropped events of an *events.Async bus). Use it for a breaker made
// with [breaker.New]; a breaker of an attached registry is already
// observed. Events that other breakers publish on the same bus are ignored.
// detach undoes all of it and leaves nothing behind; calling it again does
// nothing.
func (t *Telemetry) AttachBreaker(b *breaker.Breaker) (detach func(), err error) {
	if b == nil {
		return nil, errors.New("telemetry: AttachBreaker called with a nil breaker")
	}
	a := &attachment{t: t, only: b, onlyEntry: newEntry(b, t.cfg.recorder)}
	if err := claim(a); err != nil {
		return nil, err
	}
	t.precreate(a.onlyEntry)
	return a.start(b.Events())
}

// ErrAlreadyAttached is returned by AttachRegistry and AttachBreaker when
// the registry or breaker is already observed by an attachment that has
// not been detached (of this or another Telemetry, for example one made by
// package prom's NewHandler): a second one would write every span event
// and log record twice. To export the same instruments to several
// backends, give one MeterProvider several readers (prom.WithReader).
// AttachSyncer returns it too, for a Telemetry that observes a Syncer
// already.
var ErrAlreadyAttached = errors.New("telemetry: already attached")

// attached holds the attachments not yet detached, to refuse a second one
// for the same breakers.
var attached struct {
	sync.Mutex
	list []*attachment
}

// claim records a, unless an attachment already observes one of the same
// breakers.
func claim(a *attachment) error {
	attached.Lock()
	defer attached.Unlock()
	for _, o := range attached.list {
		if a.overlaps(o) {
			what := "registry"
			if a.only != nil {
				what = "breaker " + strconv.Quote(a.only.Name())
			}
			return fmt.Errorf("%w: the %s is observed by an attachment that was not detached", ErrAlreadyAttached, what)
		}
	}
	attached.list = append(attached.list, a)
	return nil
}

// release forgets a.
func release(a *attachment) {
	attached.Lock()
	defer attached.Unlock()
	attached.list = slices.DeleteFunc(attached.list, func(o *attachment) bool { return o == a })
}

// overlaps reports whether a and o observe a breaker in common.
func (a *attachment) overlaps(o *attachment) bool {
	switch {
	case a.reg != nil && o.reg != nil:
		return a.reg == o.reg
	case a.only != nil && o.only != nil:
		return a.only == o.only
	case a.reg != nil:
		return a.holds(o.only)
	default:
		return o.holds(a.only)
	}
}

// holds reports whether the registry of a holds b.
func (a *attachment) holds(b *breaker.Breaker) bool {
	found, ok := a.reg.Lookup(b.Name())
	return ok && found == b
}

// cacheSlots is the size of an attachment's entry cache.
const cacheSlots = 256

// attachment is one AttachRegistry or AttachBreaker: one bus subscription,
// one collection callback, and the per-breaker entries.
type attachment struct {
	t *Telemetry

	only      *breaker.Breaker // AttachBreaker
	onlyEntry *entry

	// AttachRegistry: every entry is in entries; cache is a direct-mapped
	// front for the call path, one slot per breaker address hash, filled
	// while empty, so that a lookup is one hash and one atomic load (a
	// sync.Map lookup costs several times that). Breakers whose slot is
	// taken are found in entries.
	reg     *breaker.Registry
	entries sync.Map // *breaker.Breaker -> *entry
	seed    maphash.Seed
	cache   [cacheSlots]atomic.Pointer[entry]

	detached    atomic.Bool
	unsubscribe func()
	stopRemove  func() // AttachRegistry: the registry's OnRemove
	callback    metric.Registration
	async       *events.Async[breaker.Event] // the bus, when asynchronous
	once        sync.Once
}

func (a *attachment) start(bus events.Bus[breaker.Event]) (func(), error) {
	cb, err := a.t.meter.RegisterCallback(a.observe, a.t.inst.observables()...)
	if err != nil {
		a.undo()
		return nil, err
	}
	a.callback = cb
	if async, ok := bus.(*events.Async[breaker.Event]); ok && async != nil {
		if err := a.t.addBus(async); err != nil {
			a.undo()
			return nil, errors.Join(err, cb.Unregister())
		}
		a.async = async
	}
	if bus != nil {
		a.unsubscribe = bus.Subscribe(a)
	}
	return a.detach, nil
}

// detach unsubscribes and unregisters the callback, once. It never runs
// subscribers or waits for a collection, so it is safe from anywhere,
// including an event handler.
func (a *attachment) detach() {
	a.once.Do(func() {
		a.detached.Store(true)
		if a.unsubscribe != nil {
			a.unsubscribe()
		}
		if err := a.callback.Unregister(); err != nil {
			otel.Handle(err)
		}
		if a.async != nil {
			a.t.removeBus(a.async)
		}
		a.undo()
	})
}

// undo releases what an attachment holds besides its subscription and
// callback: its claim and the registry's OnRemove.
func (a *attachment) undo() {
	if a.stopRemove != nil {
		a.stopRemove()
	}
	release(a)
}

// forget drops what the attachment prepared for a breaker removed from its
// registry, so that it is no longer reported.
func (a *attachment) forget(b *breaker.Breaker) {
	a.entries.Delete(b)
	slot := &a.cache[maphash.Comparable(a.seed, b)%cacheSlots]
	if ent := slot.Load(); ent != nil && ent.b == b {
		slot.CompareAndSwap(ent, nil)
	}
}

// addBus counts one more attachment to bus, and starts observing its drops
// if it is new.
func (t *Telemetry) addBus(bus *events.Async[breaker.Event]) error {
	t.busMu.Lock()
	defer t.busMu.Unlock()
	if t.busRefs[bus] > 0 {
		t.busRefs[bus]++
		return nil
	}
	var list []*events.Async[breaker.Event]
	if p := t.buses.Load(); p != nil {
		list = append(list, *p...)
	}
	if len(list) == 0 {
		cb, err := t.meter.RegisterCallback(t.observeDropped, t.inst.dropped)
		if err != nil {
			return err
		}
		t.busCallback = cb
	}
	list = append(list, bus)
	t.buses.Store(&list)
	if t.busRefs == nil {
		t.busRefs = map[*events.Async[breaker.Event]]int{}
	}
	t.busRefs[bus] = 1
	return nil
}

// removeBus counts one attachment to bus less, and stops observing its
// drops after the last.
func (t *Telemetry) removeBus(bus *events.Async[breaker.Event]) {
	t.busMu.Lock()
	defer t.busMu.Unlock()
	if t.busRefs[bus]--; t.busRefs[bus] > 0 {
		return
	}
	delete(t.busRefs, bus)
	var list []*events.Async[breaker.Event]
	for _, b := range *t.buses.Load() {
		if b != bus {
			list = append(list, b)
		}
	}
	t.buses.Store(&list)
	if len(list) == 0 {
		if err := t.busCallback.Unregister(); err != nil {
			otel.Handle(err)
		}
		t.busCallback = nil
	}
}

// observeDropped is the collection callback of circuit_breaker.events.dropped:
// the events dropped by the attached asynchronous buses, each counted once.
func (t *Telemetry) observeDropped(_ context.Context, o metric.Observer) error {
	p := t.buses.Load()
	if p == nil || len(*p) == 0 {
		return nil
	}
	var n uint64
	for _, bus := range *p {
		n += bus.Dropped()
	}
	o.ObserveInt64(t.inst.dropped, series.Count(n))
	return nil
}

// entry returns the prepared entry for b, creating it on first sight, or nil
// for a breaker this attachment does not observe.
func (a *attachment) entry(b *breaker.Breaker) *entry {
	if a.only != nil {
		if b != a.only {
			return nil
		}
		return a.onlyEntry
	}
	slot := &a.cache[maphash.Comparable(a.seed, b)%cacheSlots]
	if ent := slot.Load(); ent != nil && ent.b == b {
		return ent
	}
	if b == nil {
		return nil
	}
	v, ok := a.entries.Load(b)
	if !ok {
		// Only the registry's own breakers: one made with New and the
		// registry's bus (WithEventBus(reg.Events())), or one removed while
		// its events were on their way, must not grow the attachment past
		// the registry's limit.
		if !a.holds(b) {
			return nil
		}
		if testHookBeforeStore != nil {
			testHookBeforeStore()
		}
		var loaded bool
		if v, loaded = a.entries.LoadOrStore(b, newEntry(b, a.t.cfg.recorder)); !loaded {
			if !a.holds(b) {
				// Removed since the check above, maybe before the
				// registry's OnRemove could find the entry to forget.
				a.forget(b)
				return nil
			}
			a.t.precreate(v.(*entry))
		}
	}
	ent := v.(*entry)
	slot.CompareAndSwap(nil, ent)
	return ent
}

// precreate creates the transitions series that series.KnownTransitions
// marks precreated, at 0 and with origin local, for a breaker seen for the
// first time, and, while a Syncer that shares the breaker is attached, those
// of series.Remote.
func (t *Telemetry) precreate(ent *entry) {
	if t.noop {
		return
	}
	for _, k := range series.KnownTransitions {
		if k.Precreated {
			t.inst.transitions.Add(context.Background(), 0, ent.transitionOpts(k.From, k.To, k.Reason, breaker.OriginLocal)...)
		}
	}
	if r := t.remote.Load(); r.Covers(ent.b) {
		t.precreateRemote(ent, r)
	}
}

// precreateRemote creates the transitions series of r at 0 for a breaker
// of r's registry.
func (t *Telemetry) precreateRemote(ent *entry, r *series.Remote) {
	for _, k := range r.List {
		t.inst.transitions.Add(context.Background(), 0, ent.transitionOpts(k.From, k.To, k.Reason, k.Origin)...)
	}
}

// precreateRemoteAll creates the transitions series of r at 0 for the
// breakers of r's registry that the Telemetry's attachments already saw;
// those they see later get them from precreate.
func (t *Telemetry) precreateRemoteAll(r *series.Remote) {
	if t.noop {
		return
	}
	attached.Lock()
	var mine []*attachment
	for _, a := range attached.list {
		if a.t == t {
			mine = append(mine, a)
		}
	}
	attached.Unlock()
	for _, a := range mine {
		if a.only != nil {
			if r.Covers(a.only) {
				t.precreateRemote(a.onlyEntry, r)
			}
			continue
		}
		if a.reg != r.Reg {
			continue
		}
		a.entries.Range(func(_, v any) bool {
			t.precreateRemote(v.(*entry), r)
			return true
		})
	}
}

// observe is the collection callback.
func (a *attachment) observe(_ context.Context, o metric.Observer) error {
	v := &observer{in: &a.t.inst, o: o}
	if a.only != nil {
		v.observe(a.onlyEntry)
		return nil
	}
	a.reg.Range(func(b *breaker.Breaker) bool {
		// Range walks a snapshot: b may have been removed since, and
		// then has no entry.
		if ent := a.entry(b); ent != nil {
			v.observe(ent)
		}
		return true
	})
	return nil
}

// Handle receives the breaker's events; it is the attachment's one
// subscription. A successful, failed or ignored call costs one entry lookup,
// one histogram record and, with a Recorder, one RecordCall, and allocates
// nothing.
func (a *attachment) Handle(ctx context.Context, e breaker.Event) {
	if a.detached.Load() {
		return
	}
	ent := a.entry(e.Breaker)
	if ent == nil {
		return
	}
	if e.Kind == breaker.EventCall {
		if e.Outcome < breaker.OutcomeRejected {
			if !a.t.noop {
				a.t.inst.duration.Record(ctx, e.Duration.Seconds(), ent.durationRec[e.Outcome]...)
			}
			if ent.rec != nil {
				ent.rec.RecordCall(ctx, e.Outcome, e.Duration)
			}
			return
		}
		if e.Outcome == breaker.OutcomeRejected {
			a.t.rejected(ctx, ent, e)
		}
		return
	}
	if e.Kind == breaker.EventStateChange {
		a.t.stateChanged(ctx, ent, e)
	}
}

// rejected adds the span event and the rate-limited log record of a
// rejected call.
func (t *Telemetry) rejected(ctx context.Context, ent *entry, e breaker.Event) {
	state := breaker.Open
	if oe, ok := e.Err.(*breaker.OpenError); ok {
		state = oe.State()
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(eventRejected, ent.rejectedOpts(state)...)
	}
	logger := t.logger()
	if !logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	now := e.Breaker.Now().UnixNano()
	next := ent.nextLog.Load()
	if now < next || !ent.nextLog.CompareAndSwap(next, addSat(now, int64(t.cfg.rejectEvery))) {
		ent.suppressed.Add(1)
		return
	}
	logger.LogAttrs(ctx, slog.LevelDebug, msgRejected,
		slog.String(keyName, ent.b.Name()),
		slog.String(keyState, state.String()),
		slog.Uint64(keySuppressed, ent.suppressed.Swap(0)),
	)
}

// maxCauseBytes bounds the error message a state change carries in its
// span event and log record.
const maxCauseBytes = 256

// stateChanged counts a transition, adds its span event and logs it, with
// why it happened: the reason, the error of the call that caused it, the
// tripping window, and where it came from.
func (t *Telemetry) stateChanged(ctx context.Context, ent *entry, e breaker.Event) {
	if !t.noop {
		t.inst.transitions.Add(ctx, 1, ent.transitionOpts(e.From, e.To, e.Reason, e.Origin)...)
	}
	if ent.rec != nil {
		ent.rec.RecordTransition(ctx, e.From, e.To, e.Reason, e.Origin)
	}
	from, to, reason := e.From.String(), e.To.String(), e.Reason.String()
	var cause, causeType string
	if e.Cause != nil {
		cause = truncate(e.Cause.Error(), maxCauseBytes)
		causeType = semconv.ErrorType(e.Cause).Value.AsString()
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		attrs := make([]attribute.KeyValue, 0, 11)
		attrs = append(attrs,
			ent.name,
			attribute.String(keyFrom, from),
			attribute.String(keyTo, to),
			attribute.String(keyReason, reason),
			attribute.Int(keyFailures, e.ConsecutiveFailures),
		)
		if e.Origin != breaker.OriginLocal {
			attrs = append(attrs, attribute.String(keyOrigin, e.Origin.String()), attribute.String(keyPeer, e.Peer))
		}
		if e.Cause != nil {
			attrs = append(attrs, attribute.String(keyErrorType, causeType), attribute.String(keyErrorMessage, cause))
		}
		if w := e.Window; w != nil {
			attrs = append(attrs, attribute.Float64(keyWindowRatio, w.Ratio), attribute.Int(keyWindowCalls, w.Calls))
		}
		span.AddEvent(eventStateChange, trace.WithAttributes(attrs...))
	}
	level := slog.LevelInfo
	if e.To == breaker.Open {
		level = slog.LevelWarn
	}
	logger := t.logger()
	if !logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 11)
	attrs = append(attrs,
		slog.String(keyName, ent.b.Name()),
		slog.String(keyFrom, from),
		slog.String(keyTo, to),
		slog.String(keyReason, reason),
		slog.Int(keyFailures, e.ConsecutiveFailures),
	)
	if e.Origin != breaker.OriginLocal {
		attrs = append(attrs, slog.String(keyOrigin, e.Origin.String()), slog.String(keyPeer, e.Peer))
	}
	if e.Cause != nil {
		attrs = append(attrs, slog.String(keyErrorType, causeType), slog.String(keyErrorMessage, cause))
	}
	if w := e.Window; w != nil {
		attrs = append(attrs, slog.Float64(keyWindowRatio, w.Ratio), slog.Int(keyWindowCalls, w.Calls))
	}
	logger.LogAttrs(ctx, level, msgStateChange, attrs...)
}

// truncate cuts s to at most n bytes, at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// addSat adds without wrapping past math.MaxInt64.
func addSat(t, d int64) int64 {
	if d > 0 && t > math.MaxInt64-d {
		return math.MaxInt64
	}
	return t + d
}

// logger returns the configured logger, or the default one as of now.
func (t *Telemetry) logger() *slog.Logger {
	if t.cfg.logger != nil {
		return t.cfg.logger
	}
	return slog.Default()
}

// testHookBeforeStore, when set (by tests), runs between an attachment's
// check that a breaker is still its registry's and the storing of its
// entry.
var testHookBeforeStore func()
