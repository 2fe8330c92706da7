#!/usr/bin/env bash
# Makes sure `prometheus` and `promtool` are on PATH (Debian's prometheus
# package). The package may also start a system prometheus service on :9090;
# the e2e test never uses it: it starts its own Prometheus on free loopback
# ports with its own data directory.
exec bash "$(dirname "$0")/ensure-debian-package.sh" prometheus prometheus promtool
