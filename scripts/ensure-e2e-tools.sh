#!/usr/bin/env bash
# Makes sure every Debian tool make e2e needs is on PATH, with one update of
# the package lists at most: Prometheus 2's promtool, Alertmanager and
# amtool, Chromium, and the redis-server the demo replicas share their
# breakers through. (Prometheus 3 and the collector are built from their
# Go modules by make e2e.)
exec bash "$(dirname "$0")/ensure-debian-package.sh" \
	prometheus:prometheus,promtool \
	prometheus-alertmanager:prometheus-alertmanager,amtool \
	chromium:chromium \
	redis-server:redis-server
