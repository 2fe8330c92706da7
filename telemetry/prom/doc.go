// Package prom serves a registry's circuit breakers on a Prometheus
// /metrics page in one call, for programs with no OpenTelemetry setup of
// their own, and can export the same metrics over OTLP besides.
//
// [NewHandler] attaches package telemetry to the registry once (one bus
// subscription, which also writes the span events and logs) and registers
// a collector on a client_golang registry. The names are those of the
// telemetry package documentation, rendered as the OTel Prometheus
// exporter renders them with its translation strategy pinned to
// UnderscoreEscapingWithSuffixes, scope labels and target_info included,
// so that dashboards and alert rules work on this page and on any OTel
// path alike.
//
// # Usage
//
//	reg := breaker.NewRegistry()
//	h, err := prom.NewHandler(reg, prom.WithServiceName("checkout"))
//	if err != nil { ... }
//	defer h.Shutdown(context.Background())
//
//	mux := http.NewServeMux()
//	mux.Handle("GET /metrics", h)
//
// [WithRegistry] serves the page from a client_golang registry of your own,
// so that it also shows, for example, the Go runtime and process collectors
// ([github.com/prometheus/client_golang/prometheus/collectors]); without it
// the handler has a registry of its own and never touches the global one.
//
// # Metrics
//
//	circuit_breaker_state                   gauge      circuit_breaker_name, circuit_breaker_state
//	circuit_breaker_calls_total             counter    circuit_breaker_name, circuit_breaker_outcome
//	circuit_breaker_call_duration_seconds   histogram  circuit_breaker_name, circuit_breaker_outcome, le
//	circuit_breaker_transitions_total       counter    circuit_breaker_name, circuit_breaker_from_state, circuit_breaker_to_state, circuit_breaker_reason, circuit_breaker_origin
//	circuit_breaker_consecutive_failures    gauge      circuit_breaker_name
//	circuit_breaker_last_state_change_time_seconds  gauge  circuit_breaker_name
//	circuit_breaker_forced                  gauge      circuit_breaker_name
//	circuit_breaker_shadow_mode             gauge      circuit_breaker_name
//	circuit_breaker_failure_ratio           gauge      circuit_breaker_name
//	circuit_breaker_slow_call_ratio         gauge      circuit_breaker_name
//	circuit_breaker_slow_calls_total        counter    circuit_breaker_name
//	circuit_breaker_events_dropped_total    counter    (none)
//	circuit_breaker_sync_connected          gauge      (none)
//	circuit_breaker_sync_pending_proposals  gauge      (none)
//	circuit_breaker_sync_last_success_time_seconds  gauge  (none)
//	circuit_breaker_sync_messages_total     counter    circuit_breaker_sync_result
//	circuit_breaker_sync_proposals_total    counter    circuit_breaker_sync_outcome
//	circuit_breaker_sync_reconciles_total   counter    (none)
//	circuit_breaker_sync_repaired_total     counter    (none)
//	circuit_breaker_sync_errors_total       counter    (none)
//	circuit_breaker_sync_propagation_delay_seconds  histogram  le
//	target_info                             gauge      service_instance_id, service_name, telemetry_sdk_language, telemetry_sdk_name, telemetry_sdk_version
//
// Every series but target_info also carries otel_scope_name (the
// telemetry package's ScopeName), otel_scope_version and
// otel_scope_schema_url (empty) unless [WithoutScopeInfo] is given. For example:
//
//	# HELP circuit_breaker_state Whether the circuit breaker is in the given state: 1 for its current state, 0 for the others.
//	# TYPE circuit_breaker_state gauge
//	circuit_breaker_state{circuit_breaker_name="search",circuit_breaker_state="closed",otel_scope_name="github.com/fusebox-go/fusebox/telemetry",otel_scope_schema_url="",otel_scope_version="0.1.0"} 0
//	circuit_breaker_state{circuit_breaker_name="search",circuit_breaker_state="half_open",otel_scope_name="github.com/fusebox-go/fusebox/telemetry",otel_scope_schema_url="",otel_scope_version="0.1.0"} 0
//	circuit_breaker_state{circuit_breaker_name="search",circuit_breaker_state="open",otel_scope_name="github.com/fusebox-go/fusebox/telemetry",otel_scope_schema_url="",otel_scope_version="0.1.0"} 1
//	# HELP circuit_breaker_calls_total Calls through the circuit breaker by outcome, rejected calls included.
//	# TYPE circuit_breaker_calls_total counter
//	circuit_breaker_calls_total{circuit_breaker_name="search",circuit_breaker_outcome="rejected",otel_scope_name="github.com/fusebox-go/fusebox/telemetry",otel_scope_schema_url="",otel_scope_version="0.1.0"} 1
//
// The state, calls, consecutive-failure, last-state-change, forced and
// shadow-mode series of every breaker are there from its creation (the
// last state change at 0 until there is one); so are, at 0, the
// transitions a breaker makes by itself, with circuit_breaker_origin
// "local" (closed to open for failure_threshold, failure_rate and
// slow_calls, open to half_open for recovery_timeout, half_open to closed
// for trials_succeeded, half_open to open for trial_failed), so that a rate
// over them sees the first trip.
// The ratios appear only for breakers with that trip policy, slow calls
// for breakers with a slow-call policy, the shadow_rejected outcome for
// breakers in shadow mode, and the dropped events when the registry's bus
// is an *events.Async. Duration series, and the transitions that ForceOpen
// (force_open), Reset (reset) and WithHalfOpenMaxWait (half_open_timeout)
// cause, appear with the first call or transition that produces them.
// So do those another replica's decision causes (origin "peer" or
// "cluster"), but for four that every breaker has at 0 when the handler is
// given a Syncer ([WithSyncer]), so that increase() counts a replica's
// first peer opening: closed to open for failure_threshold, failure_rate
// and slow_calls, origin "peer" ("cluster" when the Syncer's quorum is
// above 1), and open to half_open for trials_succeeded, origin "peer" (a
// peer's close; open to closed with WithRemoteCloseCloses).
//
// The circuit_breaker_sync_* series describe the replica's shared breaker
// state when the handler is given its Syncer ([WithSyncer]; package
// sharedstate): connected (1 or 0), pending proposals, the last success in
// seconds since the epoch, messages by circuit_breaker_sync_result
// (applied, stale, self, unknown, malformed), proposals by
// circuit_breaker_sync_outcome (written, joined, refused, voted),
// reconciles, repaired records and errors, all there from the start, and
// the propagation delay (1ms to 5s) once the Syncer has measured one. They
// name no replica: the instance label does, as for every other series.
//
// target_info's service_instance_id is the one of [Handler.Resource]:
// unique to the process unless OTEL_RESOURCE_ATTRIBUTES sets it. Through a
// Collector it becomes the instance label, which keeps replicas apart. The page is rendered when scraped: the breakers' totals
// are read then, and nothing runs in the background. A scraper that asks
// for OpenMetrics gets it, with exemplars that link duration samples and
// transitions to the traces of the calls.
//
// # The native collector
//
// By default the page is rendered by a native client_golang collector: at
// scrape time it reads every breaker with breaker.Breaker.Peek (what Stats
// would say, without making a due transition) and emits each series with
// prometheus.MustNewConstMetric, and a client_golang histogram and counter,
// fed from the telemetry attachment's events through a telemetry.Recorder,
// hold the durations and transitions. Nothing goes through the
// OpenTelemetry SDK, which would aggregate every series and then have its
// exporter rebuild each as a client_golang metric: for a registry of
// 10,000 breakers the page takes well under half as long, no longer than a
// hand-written client_golang collector's, and a call through a breaker
// costs about half as much.
//
// It emits the series the OTel exporter would: the same names, types, help
// texts, label names and values, bucket boundaries, values, otel_scope_*
// labels and target_info (a test renders one scenario both ways, in the
// text format and in OpenMetrics, and compares the pages). What differs:
//
//   - Exemplars. The native histogram takes the first sampled call of each
//     bucket after each scrape (a scrape shows one exemplar per bucket, and
//     building one allocates); the SDK keeps the last. Exemplar timestamps
//     are the time of the call on both.
//   - Registration. The native collector describes its series, so
//     NewHandler fails if the client_golang registry already serves these
//     names, and Shutdown removes it. The exporter's collector describes
//     nothing: a conflict shows at scrape time, and it stays registered.
//
// [WithOTelExporter] renders the page with the SDK and its exporter
// instead.
//
// # OTLP and other readers
//
// [WithReader] also exports the telemetry package's instruments through an
// OpenTelemetry SDK reader, for example a PeriodicReader around an OTLP
// exporter:
//
//	exp, err := otlpmetrichttp.New(ctx) // reads OTEL_EXPORTER_OTLP_*
//	if err != nil { ... }
//	h, err := prom.NewHandler(reg,
//		prom.WithServiceName("checkout"),
//		prom.WithReader(sdkmetric.NewPeriodicReader(exp)),
//	)
//
// The handler then builds an SDK MeterProvider for the reader (same
// resource, no cardinality limit) and attaches telemetry to it and to the
// native collector at once: span events and logs are still written once
// per event, the page is still rendered natively, and the OTLP export gets
// the instruments by their OpenTelemetry names (circuit_breaker.state,
// ...). Each call then records its duration on both histograms. Shutdown
// shuts the reader down, which flushes a PeriodicReader.
//
// # Bring your own MeterProvider
//
// A program that already has an OpenTelemetry SDK MeterProvider, and
// exports from it, has two choices. It can attach telemetry to its own
// MeterProvider and serve /metrics with its own OTel Prometheus exporter:
// it then sets what [NewHandler] sets with [WithOTelExporter], which the
// telemetry package documentation lists (no cardinality limit, the
// UnderscoreEscapingWithSuffixes translation strategy), and gets this
// page's names. Or it lets NewHandler render the page natively and hands
// it the readers of its exports with [WithReader], instead of attaching
// telemetry to its own MeterProvider as well: attaching twice would write
// every span event and log twice. The breakers' instruments then come from
// the handler's MeterProvider, under the telemetry scope, with the
// handler's resource.
package prom
