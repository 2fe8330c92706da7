package telemetry

// ScopeName is the instrumentation scope of everything this package emits:
// the name of the Meter it creates, and the otel_scope_name label of every
// series in Prometheus.
const ScopeName = "github.com/fusebox-go/fusebox/telemetry"

// Version is the instrumentation version passed with [ScopeName]: the
// fusebox module's version, without a leading "v" (semantic versioning
// 2.0.0).
const Version = "0.1.0"
