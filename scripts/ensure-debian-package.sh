#!/usr/bin/env bash
# Usage: ensure-debian-package.sh PACKAGE:COMMAND[,COMMAND...] ...
#    or: ensure-debian-package.sh PACKAGE COMMAND...
# Makes sure every COMMAND is on PATH, installing Debian's PACKAGE when one
# of its commands is missing (CI machines start without the tools the
# tests need). The package lists are updated only when something is
# missing, and not again within the hour (one update for a whole CI run);
# a command still missing after the install is an error.
set -euo pipefail

if [ $# -eq 0 ]; then
	echo "usage: $0 PACKAGE:COMMAND[,COMMAND...] ... | PACKAGE COMMAND..." >&2
	exit 2
fi
if [ $# -ge 2 ] && [[ "$1" != *:* ]]; then
	# PACKAGE COMMAND...
	pkg=$1
	shift
	cmds=$(IFS=,; echo "$*")
	set -- "$pkg:$cmds"
fi
packages=()
missing=""
for spec in "$@"; do
	pkg=${spec%%:*}
	cmds=${spec#*:}
	if [ "$pkg" = "$spec" ] || [ -z "$pkg" ] || [ -z "$cmds" ]; then
		echo "$0: bad argument '$spec' (want PACKAGE:COMMAND[,COMMAND...])" >&2
		exit 2
	fi
	need=""
	for c in ${cmds//,/ }; do
		command -v "$c" >/dev/null 2>&1 || need="$need $c"
	done
	if [ -n "$need" ]; then
		packages+=("$pkg")
		missing="$missing$need"
	fi
done
[ ${#packages[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
	echo "missing:$missing, and apt-get is not available: install ${packages[*]} yourself" >&2
	exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
echo "missing:$missing; installing Debian's ${packages[*]}"
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -60 2>/dev/null | head -n 1)" ]; then
	$sudo apt-get update
fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${packages[@]}"
status=0
for spec in "$@"; do
	cmds=${spec#*:}
	for c in ${cmds//,/ }; do
		if ! command -v "$c" >/dev/null 2>&1; then
			echo "$c is still missing after installing Debian's ${spec%%:*}" >&2
			status=1
		fi
	done
done
exit $status
