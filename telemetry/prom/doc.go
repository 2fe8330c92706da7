// Package prom serves a registry's circuit breakers on a Prometheus
// /metrics page in one call, for programs with no OpenTelemetry setup of
// their own.
//
// It builds what a careful OpenTelemetry user would: an SDK MeterProvider
// whose reader is the OTel Prometheus exporter, registered on a
// client_golang registry, with the exporter's translation strategy pinned
// to UnderscoreEscapingWithSuffixes and no cardinality limit, and attaches
// package telemetry to the registry. The names are those of the telemetry
// package documentation, rendered the Prometheus way.
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
//	circuit_breaker_transitions_total       counter    circuit_breaker_name, circuit_breaker_from_state, circuit_breaker_to_state
//	circuit_breaker_consecutive_failures    gauge      circuit_breaker_name
//	circuit_breaker_failure_ratio           gauge      circuit_breaker_name
//	circuit_breaker_slow_call_ratio         gauge      circuit_breaker_name
//	circuit_breaker_slow_calls_total        counter    circuit_breaker_name
//	circuit_breaker_events_dropped_total    counter    (none)
//	target_info                             gauge      service_name, telemetry_sdk_language, telemetry_sdk_name, telemetry_sdk_version
//
// Every breaker series also carries otel_scope_name (the telemetry
// package's ScopeName), otel_scope_version and otel_scope_schema_url (empty)
// unless [WithoutScopeInfo] is given. For example:
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
// The state, calls and consecutive-failure series of every breaker are
// there from its creation, at 0; duration and transition series appear
// with the first call or transition that produces them. The page is
// rendered when scraped: the breakers' totals are read then, and nothing
// runs in the background. A scraper that asks for OpenMetrics gets it, with
// exemplars that link duration samples to the traces of the calls.
//
// # Bring your own MeterProvider
//
// A program that already has an OpenTelemetry SDK does not need this
// package: it attaches telemetry to its own MeterProvider and exports as it
// likes. To get the same names from its own OTel Prometheus exporter, or a
// Collector's, it sets what [NewHandler] sets; the telemetry package
// documentation lists them (cardinality limit, translation strategy).
package prom
