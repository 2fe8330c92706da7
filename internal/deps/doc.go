// Package deps holds no code: its test enforces the dependency rules of
// fusebox's packages (docs/ARCHITECTURE.md, "Packages and imports") with
// go list -deps, so that a new import cannot quietly pull a third-party
// module into a package that promises the standard library only, or the
// OpenTelemetry SDK into one that promises the API only. make lint runs it.
package deps
