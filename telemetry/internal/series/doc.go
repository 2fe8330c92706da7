// Package series is the one description of what fusebox's telemetry
// reports: each instrument's name, unit and help text, the duration
// buckets, and which series one breaker's Stats give. The telemetry package
// builds its OpenTelemetry instruments from it, and telemetry/prom's native
// collector builds the same series for client_golang, so the two cannot
// drift apart.
package series
