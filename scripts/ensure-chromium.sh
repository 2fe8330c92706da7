#!/usr/bin/env bash
# Makes sure a headless Chromium is on PATH for the status page's browser
# test (Debian's chromium package). The test starts it with --headless
# --no-sandbox and no network beyond loopback.
exec bash "$(dirname "$0")/ensure-debian-package.sh" chromium:chromium
