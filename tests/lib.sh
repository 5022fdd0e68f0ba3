#!/bin/sh
# tests/lib.sh - shell helpers the test and benchmark scripts share.
# Source it (POSIX sh, no bashisms): . "$top/tests/lib.sh"
#
#   wait_for SECONDS CMD...  polls CMD (its output discarded) every 50 ms
#                            until it succeeds; after SECONDS returns 1 and
#                            names CMD on stderr.  Never a fixed sleep.
#   stop_pid PID             SIGTERM, then waits up to 5 s for PID to be
#                            gone, then SIGKILL: no server outlives a test.
#                            Always returns 0 (safe in a trap under set -e).
# Their variables start with _tl_ so as not to clobber the caller's.

wait_for() {
	_tl_end=$(($(date +%s) + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -ge "$_tl_end" ] && { echo "timeout waiting for: $*" >&2; return 1; }
		sleep 0.05
	done
	return 0
}

stop_pid() {
	kill "$1" 2>/dev/null || return 0
	_tl_i=0
	while kill -0 "$1" 2>/dev/null && [ $_tl_i -lt 100 ]; do
		sleep 0.05
		_tl_i=$((_tl_i + 1))
	done
	kill -9 "$1" 2>/dev/null || true
	return 0
}
