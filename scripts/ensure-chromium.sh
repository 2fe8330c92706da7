#!/usr/bin/env bash
# Makes sure a headless Chromium is on PATH for the status page's browser
# test, installing Debian's chromium package when it is missing (CI machines
# start without it). The test starts it with --headless --no-sandbox and no
# network beyond loopback.
set -euo pipefail

for b in chromium chromium-browser google-chrome; do
	if command -v "$b" >/dev/null 2>&1; then
		exit 0
	fi
done
if ! command -v apt-get >/dev/null 2>&1; then
	echo "chromium not found and apt-get is not available: install Chromium yourself" >&2
	exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
echo "installing Debian's chromium package"
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y chromium
command -v chromium >/dev/null
