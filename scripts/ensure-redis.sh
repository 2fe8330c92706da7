#!/usr/bin/env bash
# Makes sure `redis-server` is on PATH (Debian's redis-server package) for
# the shared-state integration tests. The package may also start a system
# redis service on :6379; the tests never use it: each starts its own
# server on a Unix socket with no TCP port and kills it by PID.
exec bash "$(dirname "$0")/ensure-debian-package.sh" redis-server redis-server
