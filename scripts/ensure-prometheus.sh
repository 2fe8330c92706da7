#!/usr/bin/env bash
# Makes sure Prometheus 2's `prometheus` and `promtool` are on PATH (Debian's
# prometheus package): make e2e runs the alert rules' unit tests with this
# promtool as well as with Prometheus 3's (make build-prometheus3). The
# package may also start a system prometheus service on :9090; the e2e test
# never uses it: it starts its own Prometheus on free loopback ports with
# its own data directory.
exec bash "$(dirname "$0")/ensure-debian-package.sh" prometheus:prometheus,promtool
