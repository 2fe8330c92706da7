#!/usr/bin/env bash
# Usage: ensure-debian-package.sh PACKAGE COMMAND...
# Makes sure every COMMAND is on PATH, installing Debian's PACKAGE when one
# is missing (CI machines start without the tools the e2e tests need).
set -euo pipefail

pkg=$1
shift
missing=""
for c in "$@"; do
	command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
done
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
	echo "missing:$missing, and apt-get is not available: install $pkg yourself" >&2
	exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
echo "missing:$missing; installing Debian's $pkg package"
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "$pkg"
for c in "$@"; do
	command -v "$c" >/dev/null
done
