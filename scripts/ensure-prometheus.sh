#!/usr/bin/env bash
# Makes sure `prometheus` and `promtool` are on PATH, installing Debian's
# prometheus package when either is missing (CI machines start without it).
#
# The package may also start a system prometheus service on :9090. The e2e
# test never uses it: it starts its own Prometheus on free loopback ports with
# its own data directory.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "prometheus/promtool not found and apt-get is not available: install Prometheus (2.42 or later) yourself" >&2
	exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
echo "installing Debian's prometheus package (prometheus, promtool)"
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y prometheus
command -v prometheus >/dev/null && command -v promtool >/dev/null
