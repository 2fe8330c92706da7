// Package telemetry makes fusebox breakers visible: it turns them into
// OpenTelemetry metrics, events on the caller's span, and log/slog records.
// It depends on the OpenTelemetry API only (otel, otel/metric, otel/trace),
// never on the SDK: without an SDK installed every instrument is a no-op.
//
// # Usage
//
// Create the instruments once with [New], then attach them to a registry
// (one subscription and one collection callback for all its breakers,
// breakers created later included) or to a single breaker:
//
//	tel, err := telemetry.New(
//		telemetry.WithMeterProvider(mp), // default: the global MeterProvider
//		telemetry.WithLogger(logger),    // default: slog.Default(), looked up per record
//	)
//	if err != nil { ... }
//	detach, err := tel.AttachRegistry(reg) // or tel.AttachBreaker(b)
//	if err != nil { ... }
//	defer detach() // unsubscribes and unregisters the callback
//
// A replica that shares its breakers' state (package sharedstate) attaches
// its Syncer too, for the circuit_breaker.sync.* instruments:
//
//	detachSync, err := tel.AttachSyncer(syncer)
//
// Package [github.com/fusebox-go/fusebox/telemetry/prom] serves the same
// metrics on a Prometheus /metrics page in one call, for a program that has
// no OpenTelemetry setup of its own, and can hand them to OTLP or other SDK
// readers too.
//
// # Metrics
//
// The Meter is named [ScopeName], with version [Version]. State, calls,
// consecutive failures, the last state change, forced, shadow mode, the
// trip-policy ratios and slow calls are read from the breakers
// ([breaker.Breaker.Peek]: what Stats would say, without making a due
// transition) when the metrics are collected, so they cost nothing per
// call and the calls counter agrees exactly with the breaker's totals; so
// are the events an asynchronous bus dropped. Durations and transitions
// come from the breakers' events and are recorded with the call's context,
// so an SDK with exemplars on links a duration sample to the trace of the
// call that produced it. Attribute sets are built once per breaker and
// outcome; recording a call allocates nothing.
//
//	circuit_breaker.state  Int64ObservableUpDownCounter  {state}
//	    attributes: circuit_breaker.name, circuit_breaker.state
//	    1 for the breaker's current state and 0 for the two others (closed,
//	    open, half_open); every state is observed at each collection.
//	    Prometheus: circuit_breaker_state (gauge).
//
//	circuit_breaker.calls  Int64ObservableCounter  {call}
//	    attributes: circuit_breaker.name, circuit_breaker.outcome
//	    Calls by outcome (success, failure, ignored, rejected), read from the
//	    breaker's totals; a breaker in shadow mode (breaker.WithShadowMode)
//	    also has shadow_rejected, the calls it would have rejected but ran.
//	    Prometheus: circuit_breaker_calls_total (counter).
//
//	circuit_breaker.call.duration  Float64Histogram  s
//	    attributes: circuit_breaker.name, circuit_breaker.outcome
//	    How long admitted calls ran, by outcome (success, failure, ignored);
//	    rejected and shadow-rejected calls are not recorded. Buckets from 1ms
//	    to 10s.
//	    Prometheus: circuit_breaker_call_duration_seconds (histogram).
//
//	circuit_breaker.transitions  Int64Counter  {transition}
//	    attributes: circuit_breaker.name, circuit_breaker.from_state, circuit_breaker.to_state, circuit_breaker.reason, circuit_breaker.origin
//	    State changes, counted as they happen, with the breaker.Reason's
//	    String form and where they came from (breaker.Origin's): local for
//	    the breaker's own calls and the actions on it, peer for another
//	    replica's decision, cluster for the fleet's (a quorum's), both
//	    applied with breaker.Breaker.Apply, as package sharedstate does.
//	    The changes a breaker makes by itself have their series created at
//	    0, origin local, as soon as the breaker is seen (attached, or at its
//	    first event or collection), so that the first trip shows as an
//	    increase: closed to open for failure_threshold, failure_rate and
//	    slow_calls, open to half_open for recovery_timeout, half_open to
//	    closed for trials_succeeded, half_open to open for trial_failed.
//	    Those caused by ForceOpen (force_open), Reset (reset) and
//	    WithHalfOpenMaxWait (half_open_timeout) appear when they happen: at
//	    most eleven local series per breaker. Changes applied from
//	    elsewhere carry the deciding replica's reason, which its own page
//	    counts with origin local. While a sharedstate.Syncer is attached
//	    (Telemetry.AttachSyncer), every breaker of its registry, those seen
//	    before and after attaching, also has at 0 the series of the
//	    changes another replica's decision ordinarily makes on it, so that
//	    the first one counts too: a peer's trip, closed to open for
//	    failure_threshold, failure_rate and slow_calls, with origin peer
//	    (cluster instead when the Syncer's WithQuorum is above 1: every
//	    shared opening is then a quorum's), and a peer's close of an
//	    opening the breaker is in, open to half_open (to closed with
//	    WithRemoteCloseCloses) for trials_succeeded, origin peer. That is
//	    four series per breaker more, ten from the start in all; without a
//	    Syncer nothing changes. The rarer ones appear when they happen (so
//	    a rate over them misses the first; circuit_breaker.sync.messages
//	    counts every decision applied from the start): an opening that
//	    finds the breaker half-open, a failed probe's reopening
//	    (trial_failed, half_open_timeout), and force_open and reset with
//	    WithOperatorActions. Under package sharedstate a breaker can have at
//	    most 16 peer series (openings from closed and from half_open for
//	    failure_threshold, failure_rate, slow_calls, trial_failed and
//	    half_open_timeout; force_open and reset; the peer's close) and 10
//	    cluster series (the openings, with WithQuorum): 37 in all. Those
//	    beyond the ten made from the start exist only for the breakers a
//	    fleet's decision reached and only for the changes that happened.
//	    Detaching the Syncer stops making the remote series for breakers
//	    seen afterwards; those made stay.
//	    Prometheus: circuit_breaker_transitions_total (counter).
//
//	circuit_breaker.consecutive_failures  Int64ObservableGauge  {failure}
//	    attributes: circuit_breaker.name
//	    The current run of failures while closed; the run that opened the
//	    breaker while open or half-open (Stats.FailureCount).
//	    Prometheus: circuit_breaker_consecutive_failures (gauge).
//
//	circuit_breaker.last_state_change_time  Float64ObservableGauge  s
//	    attributes: circuit_breaker.name
//	    When the breaker last changed state (or Reset ran), in seconds
//	    since the Unix epoch on the breaker's clock (Stats.LastStateChange).
//	    A breaker that never changed state reports 0, so that every breaker
//	    has the series from the start: "for how long" is
//	    time() - circuit_breaker_last_state_change_time_seconds, for the
//	    series above 0 (an open or half-open breaker always is).
//	    Prometheus: circuit_breaker_last_state_change_time_seconds (gauge).
//
//	circuit_breaker.forced  Int64ObservableUpDownCounter  {breaker}
//	    attributes: circuit_breaker.name
//	    1 while ForceOpen holds the breaker open (Stats.Forced), 0
//	    otherwise: an operator's doing, not the dependency's.
//	    Prometheus: circuit_breaker_forced (gauge).
//
//	circuit_breaker.shadow_mode  Int64ObservableUpDownCounter  {breaker}
//	    attributes: circuit_breaker.name
//	    1 while the breaker is in shadow mode (Stats.Shadow), 0 otherwise:
//	    it may read open, but it runs every call, so it rejects none.
//	    Prometheus: circuit_breaker_shadow_mode (gauge).
//
//	circuit_breaker.failure_ratio  Float64ObservableGauge  1
//	    attributes: circuit_breaker.name
//	    The share of failed calls in the window of the breaker's FailureRate
//	    trip policy (Stats.FailureRate.Ratio), from 0 to 1; 0 while the
//	    window is empty. Observed only for breakers with that policy.
//	    Prometheus: circuit_breaker_failure_ratio (gauge).
//
//	circuit_breaker.slow_call_ratio  Float64ObservableGauge  1
//	    attributes: circuit_breaker.name
//	    The share of slow calls in the window of the breaker's SlowCalls
//	    trip policy (Stats.SlowCallRate.Ratio), from 0 to 1. Observed only
//	    for breakers with that policy.
//	    Prometheus: circuit_breaker_slow_call_ratio (gauge).
//
//	circuit_breaker.slow_calls  Int64ObservableCounter  {call}
//	    attributes: circuit_breaker.name
//	    Calls that ran at least as long as the SlowCalls policy's threshold
//	    (Stats.TotalSlowCalls), whatever their outcome. Observed for breakers
//	    with that policy, or that counted slow calls under an earlier one.
//	    Prometheus: circuit_breaker_slow_calls_total (counter).
//
//	circuit_breaker.events.dropped  Int64ObservableCounter  {event}
//	    attributes: none
//	    Events that an asynchronous bus (events.Async) dropped because its
//	    queue was full or it was closed: durations, transitions, span events
//	    and logs that were lost (events.Async.Dropped). It is a property of
//	    the bus, not of a breaker, so it has no breaker name. Observed while
//	    the Telemetry is attached to a registry or breaker whose bus is an
//	    *events.Async; attached to several such buses, it reports their sum,
//	    each bus counted once however often it is attached.
//	    Prometheus: circuit_breaker_events_dropped_total (counter).
//
// The circuit_breaker.sync.* instruments describe the shared breaker state
// of a replica (package sharedstate) while a Syncer is attached
// ([Telemetry.AttachSyncer]). They are read from Syncer.Status and
// Syncer.Stats when the metrics are collected, and carry no attribute
// that names the replica: the resource's service.instance.id (the
// instance label, through a Collector) does, as for every other series.
// That makes 30 Prometheus series per replica (the histogram's 13
// buckets, sum and count included), whatever the number of breakers.
//
//	circuit_breaker.sync.connected  Int64ObservableUpDownCounter  {replica}
//	    attributes: none
//	    1 while the Syncer reaches its store (its last command succeeded),
//	    0 while it does not (Status.Connected): every breaker then acts
//	    as a local one. Summed over replicas, the replicas connected.
//	    Prometheus: circuit_breaker_sync_connected (gauge).
//
//	circuit_breaker.sync.pending_proposals  Int64ObservableUpDownCounter  {proposal}
//	    attributes: none
//	    Breakers whose latest opening or closing waits to be proposed to
//	    the store (Status.Pending): 0 or close to it while connected, it
//	    grows while the store is out of reach.
//	    Prometheus: circuit_breaker_sync_pending_proposals (gauge).
//
//	circuit_breaker.sync.last_success_time  Float64ObservableGauge  s
//	    attributes: none
//	    When a store command last succeeded (Status.LastSync), in seconds
//	    since the Unix epoch; 0 if none did. time() minus it is how long
//	    the replica has been on its own.
//	    Prometheus: circuit_breaker_sync_last_success_time_seconds (gauge).
//
//	circuit_breaker.sync.messages  Int64ObservableCounter  {message}
//	    attributes: circuit_breaker.sync.result
//	    Decisions received from the store, by what became of them:
//	    applied (newer than any this replica knew: acted on, also for a
//	    breaker being created), stale (a duplicate or reordered message),
//	    self (this replica's own decision), unknown (for a breaker the
//	    registry does not hold yet: kept for when it is created) and
//	    malformed. Every result is reported from the start, at 0.
//	    Prometheus: circuit_breaker_sync_messages_total (counter).
//
//	circuit_breaker.sync.proposals  Int64ObservableCounter  {proposal}
//	    attributes: circuit_breaker.sync.outcome
//	    This replica's openings and closings sent to the store, by what
//	    the store made of them: written (a new decision), joined (an
//	    opening already in force), refused (a close for an opening that
//	    is not the store's latest) and voted (a vote towards a quorum).
//	    Prometheus: circuit_breaker_sync_proposals_total (counter).
//
//	circuit_breaker.sync.reconciles  Int64ObservableCounter  {reconcile}
//	    attributes: none
//	    Reads of the store's whole state (one per reconcile interval while
//	    connected, and after each reconnection).
//	    Prometheus: circuit_breaker_sync_reconciles_total (counter).
//
//	circuit_breaker.sync.repaired  Int64ObservableCounter  {record}
//	    attributes: none
//	    Decisions a reconcile brought that no message had: a lost message,
//	    or the state read at start.
//	    Prometheus: circuit_breaker_sync_repaired_total (counter).
//
//	circuit_breaker.sync.errors  Int64ObservableCounter  {error}
//	    attributes: none
//	    Failed store commands, and decisions that could not be applied.
//	    Prometheus: circuit_breaker_sync_errors_total (counter).
//
//	circuit_breaker.sync.propagation.delay  Float64Histogram  s
//	    attributes: none
//	    From the store writing another replica's decision to this replica
//	    receiving it (Stats.Propagation), measured with the two hosts'
//	    clocks, so only as good as their synchronisation. Buckets from 1ms
//	    to 5s (sharedstate.PropagationBounds). The Syncer aggregates the
//	    delays itself, and OpenTelemetry has no observable histogram: at
//	    each collection this histogram records one value per delay the
//	    Syncer measured since the previous one, in the same bucket, the
//	    values adding up to the Syncer's sum (held to multiples of 2^-20 s,
//	    about a microsecond). Its buckets, count and sum are the Syncer's
//	    (package prom's native page renders the same); its min and max,
//	    which only OTLP shows, are those of the recorded values, not of the
//	    delays.
//	    Prometheus: circuit_breaker_sync_propagation_delay_seconds (histogram).
//
// A [Recorder] ([WithRecorder]) receives the same call durations and
// transitions from the attachment's one subscription, for a metrics
// library other than OpenTelemetry; package
// [github.com/fusebox-go/fusebox/telemetry/prom] records its /metrics page
// that way.
//
// # Span events
//
// Events are added to the span already in the call's context, and only
// when that span is recording; no span is started and no tracer is needed.
// A state change that no call caused (Reset, ForceOpen, or the recovery
// timeout noticed by State or Stats) has no span to go on, unless it was
// given a context that holds one (breaker.Breaker.Apply).
//
//	circuit_breaker.rejected
//	    attributes: circuit_breaker.name, circuit_breaker.state
//	    The breaker did not permit the call; the state is open or half_open.
//
//	circuit_breaker.state_change
//	    attributes: circuit_breaker.name, circuit_breaker.from_state, circuit_breaker.to_state, circuit_breaker.reason, circuit_breaker.consecutive_failures, error.type, error.message, circuit_breaker.window.ratio, circuit_breaker.window.calls, circuit_breaker.origin, circuit_breaker.peer
//	    The call caused a transition, for example the failure that opened
//	    the breaker (reason failure_threshold). Why it happened: error.type
//	    (as semconv's ErrorType gives it) and error.message (truncated to
//	    256 bytes) describe the error of the call that caused it, when one
//	    did; circuit_breaker.window.ratio and .calls are the window of the
//	    rate policy that tripped (reasons failure_rate and slow_calls);
//	    circuit_breaker.origin (peer or cluster) and circuit_breaker.peer
//	    name who decided a change applied with breaker.Breaker.Apply. Each
//	    of these is present only when it applies.
//
// # Logs
//
// Records are written with the call's context, so a trace-aware handler
// (such as the otelslog bridge) correlates them with the call's trace.
// Attribute keys are flat dotted strings, not slog groups, so a bridge to
// OpenTelemetry logs keeps them as they are.
//
//	"circuit breaker state changed"  WARN|INFO
//	    attributes: circuit_breaker.name, circuit_breaker.from_state, circuit_breaker.to_state, circuit_breaker.reason, circuit_breaker.consecutive_failures, error.type, error.message, circuit_breaker.window.ratio, circuit_breaker.window.calls, circuit_breaker.origin, circuit_breaker.peer
//	    One record per state change: WARN when the breaker opens, INFO
//	    otherwise. The reason is the breaker.Reason's String form, for
//	    example failure_threshold, failure_rate, recovery_timeout,
//	    trials_succeeded, trial_failed, force_open or reset. The other
//	    attributes say why, as on the span event: the error that caused it
//	    (message truncated to 256 bytes; never a metric label), the
//	    tripping window, and who decided a remote change.
//
//	"circuit breaker rejected call"  DEBUG
//	    attributes: circuit_breaker.name, circuit_breaker.state, circuit_breaker.suppressed
//	    At most one record per breaker per interval ([WithRejectionLogInterval],
//	    default 10s, measured on the breaker's clock);
//	    circuit_breaker.suppressed counts the rejections not logged since the
//	    previous record. Nothing is done when DEBUG is off: not even a clock
//	    read.
//
// # Retry policies
//
// [Telemetry.AttachRetry] observes a policy of package retry the same way:
// calls by outcome, stops by reason, attempts and the budget read at
// collection time (retry.calls, retry.stops, retry.attempts,
// retry.budget.available), histograms of the calls that retried, and the
// span events retry.scheduled and retry.gave_up with rate-limited logs.
// Its documentation lists them all.
//
// # Bring your own MeterProvider
//
// With an SDK MeterProvider of your own (through [WithMeterProvider] or the
// global one), set:
//
//   - The cardinality limit. The SDK folds the series of an instrument past
//     its limit (2,000 by default) into one series labelled
//     otel_metric_overflow="true", so a registry of a few hundred breakers
//     already loses some. Use sdkmetric.WithCardinalityLimit(0) (no limit;
//     the registry's own limit, breaker.WithMaxBreakers, bounds the series)
//     or at least 11 × the number of breakers + 1 (the transitions counter
//     has up to eleven local series per breaker, six of them from the
//     start), 40 × with shared state (up to 37, see the transitions
//     counter).
//   - A service.instance.id in the resource, unique to the process, when
//     several replicas export to one Collector: its Prometheus exporter
//     derives the instance label from it, and replicas without one merge
//     into one series that jumps between their values (read as counter
//     resets). The SDK's resource.Default() adds none; prom.NewHandler's
//     resource does.
//   - The translation strategy, when exporting to Prometheus with the OTel
//     Prometheus exporter: pin
//     WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
//     which gives the names above (the exporter's default has changed
//     before). Use the same strategy in a Collector's prometheus exporter,
//     so that dashboards and alert rules work on either path.
//   - Nothing for the histogram: its buckets are instrument advice, which
//     the SDK follows unless a View overrides them. Exemplars need the
//     SDK's default trace-based exemplar filter and a sampled span in the
//     call's context.
//
// For a Prometheus /metrics page, the OTel exporter is not the fastest
// way: prom.NewHandler renders the same series with a native client_golang
// collector, in less than half the time for thousands of breakers, and
// with prom.WithReader also feeds the readers of your SDK exports (OTLP,
// for one). Attach telemetry either there or to your own MeterProvider,
// not both: a second attachment is refused (see Concurrency).
//
// # Concurrency
//
// A [Telemetry] is safe for concurrent use. Events are handled on the
// goroutine that publishes them (the caller's, with the default synchronous
// bus); the call path takes no lock of its own and allocates nothing. The
// collection callback reads each breaker with breaker.Breaker.Peek, which
// reports a due transition (an open breaker whose recovery timeout passed
// shows as half-open) without making it: the OpenTelemetry SDK runs
// callbacks under its own lock, where running subscribers could deadlock.
// The transition itself is made, counted and logged by the breaker's next
// call, State or Stats. Detaching is safe at any time, also from an event
// handler; an event already being delivered may still be recorded once.
// The circuit_breaker.sync.* callback reads the attached Syncer's Status
// (the Syncer's mutex, held briefly: never across its store commands, and
// on the call path only by a call that changes a breaker's state, to note
// the change) and Stats (atomics), and records the propagation delays
// measured since the previous collection, with no context: they take no
// exemplar.
//
// A registry or breaker can be attached once: a second attachment of the
// same breakers, by this Telemetry or another (package prom's NewHandler
// attaches one), is refused with [ErrAlreadyAttached], since it would
// write every span event and log record twice. A breaker removed from an
// attached registry (breaker.Registry.Remove, or idle eviction) is
// forgotten: its observed series leave the next collection. With an
// OpenTelemetry SDK, the series of the synchronous instruments (the
// duration histogram and the transitions counter) stay in the SDK at their
// last values, since it offers no way to delete them, and a breaker created
// again under the name adds to them; package prom's native /metrics page
// deletes them too (a reader given to prom.WithReader is served by the
// SDK, and keeps them).
package telemetry
