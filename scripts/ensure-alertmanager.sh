#!/usr/bin/env bash
# Makes sure `prometheus-alertmanager` and `amtool` are on PATH (Debian's
# prometheus-alertmanager package): make e2e routes the alert rules through
# a real Alertmanager. A system alertmanager service the package may start
# on :9093 is never used: the e2e test starts its own on a free loopback
# port, without clustering.
exec bash "$(dirname "$0")/ensure-debian-package.sh" prometheus-alertmanager:prometheus-alertmanager,amtool
