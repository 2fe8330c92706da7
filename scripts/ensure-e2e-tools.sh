#!/usr/bin/env bash
# Makes sure every Debian tool make e2e needs is on PATH, with one update of
# the package lists at most: Prometheus 2's promtool, Alertmanager and
# amtool, and Chromium. (Prometheus 3 and the collector are built from their
# Go modules by make e2e.)
exec bash "$(dirname "$0")/ensure-debian-package.sh" \
	prometheus:prometheus,promtool \
	prometheus-alertmanager:prometheus-alertmanager,amtool \
	chromium:chromium
