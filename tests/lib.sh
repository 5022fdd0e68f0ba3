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
#   port_in_use PORT         true when something listens on PORT (TCP, UDP).
#   random_port LO SPAN      prints a random port in [LO, LO + SPAN).
#   start_on_free_port LO SPAN FN
#                            up to 8 times: a random port of [LO, LO + SPAN)
#                            that nothing listens on, then FN PORT (which
#                            starts a server there and returns 0, or 1); sets
#                            free_port to the port FN started on, or returns 1.
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

port_in_use() {
	ss -Hlntu 2>/dev/null | awk '{print $5}' | grep -Eq "[:.]$1\$"
}

random_port() {
	echo $(($1 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % $2))
}

start_on_free_port() {
	free_port=
	for _tl_try in 1 2 3 4 5 6 7 8; do
		_tl_port=$(random_port "$1" "$2")
		port_in_use "$_tl_port" && continue
		if "$3" "$_tl_port"; then
			free_port=$_tl_port
			return 0
		fi
	done
	return 1
}
