#!/usr/bin/env bash
# Creates the unprivileged user of the runtime tests when it is missing (idempotent; safe to
# run from several test files at once).
#
# usage: mkuser.sh [NAME]    (default: litho-test; must run as root)
# Prints nothing on success; the user gets a home directory (useradd -m) and its own group.
set -euo pipefail
name=${1:-litho-test}
if [[ $EUID -ne 0 ]]; then
	echo "mkuser.sh: must run as root" >&2
	exit 1
fi
if id -u "$name" >/dev/null 2>&1; then
	exit 0
fi
(
	flock 9
	if ! id -u "$name" >/dev/null 2>&1; then
		useradd -m -s /bin/sh "$name"
	fi
) 9>/tmp/.litho-test-useradd.lock
# useradd -m copies /etc/skel with the default umask; the tests need a home the user owns.
home=$(getent passwd "$name" | cut -d: -f6)
if [[ -n $home && ! -d $home ]]; then
	mkdir -p "$home"
	chown "$name:" "$home"
fi
