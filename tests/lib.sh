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
#   require_tools WHO TOOL...
#                            exits 77 (1 with CI set: no silent skip) naming
#                            the first TOOL not installed.
#   log_errors REGEX N FILE...
#                            each FILE's name and its last N lines matching
#                            REGEX (a failed test's server logs; '' all).
#   hap_tcp_start DIR NAME FRONTEND API BACKEND SERVER_PORT
#                            an HAProxy in TCP mode: DIR/NAME.cfg, frontend
#                            on 127.0.0.1:FRONTEND to BACKEND whose server
#                            "db" is 127.0.0.1:SERVER_PORT, the runtime API
#                            (admin) on 127.0.0.1:API, pid in DIR/NAME.hpid;
#                            returns once the API listens (20 s), else 1.
#   hap_stop DIR NAME...     stops the HAProxies hap_tcp_start started.
#   hap_server_port API BACKEND
#                            the port HAProxy's server BACKEND/db points at
#                            (srv_port of `show servers state`).
#   lab_exclusive WHO SCRIPT [ARG...]
#                            for the lab suites (tests/lab), run first: one
#                            lab per machine.  Re-executes SCRIPT under
#                            flock(1) on /run/ferry-lab.lock (held by flock,
#                            so the lab's daemons never inherit it), waiting
#                            up to LAB_WAIT seconds (1800) for another suite.
#                            Holding it, a lab still up was left by a suite
#                            that was killed (/run/ferry-lab.owner names a
#                            dead process): lab/down, then on.  Returns 1
#                            when a lab is up that no suite owns (lab/up by
#                            hand, make demo): the caller skips.
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

require_tools() {
	_tl_who=$1
	shift
	for _tl_tool in "$@"; do
		command -v "$_tl_tool" >/dev/null 2>&1 && continue
		echo "$_tl_who: $_tl_tool is not installed (scripts/deps installs it)"
		[ -n "${CI:-}" ] && exit 1
		exit 77
	done
}

log_errors() {
	_tl_re=$1
	_tl_n=$2
	shift 2
	for _tl_f in "$@"; do
		[ -f "$_tl_f" ] || continue
		echo "== $_tl_f"
		grep -E "$_tl_re" "$_tl_f" | tail -n "$_tl_n"
	done
}

hap_tcp_start() {
	cat >"$1/$2.cfg" <<EOC
global
	stats socket ipv4@127.0.0.1:$4 level admin
	stats timeout 60s
	pidfile $1/$2.hpid
defaults
	mode tcp
	timeout connect 2s
	timeout client 60s
	timeout server 60s
frontend $5
	bind 127.0.0.1:$3
	default_backend $5
backend $5
	server db 127.0.0.1:$6
EOC
	haproxy -D -f "$1/$2.cfg" || return 1
	wait_for 20 port_in_use "$4"
}

hap_stop() {
	_tl_dir=$1
	shift
	for _tl_h in "$@"; do
		[ -f "$_tl_dir/$_tl_h.hpid" ] && stop_pid "$(cat "$_tl_dir/$_tl_h.hpid")"
	done
	return 0
}

hap_server_port() {
	echo "show servers state $2" |
		timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; cat >&3; cat <&3" 2>/dev/null |
		awk '!/^#/ && $4 == "db" { print $19 }'
}

# The owner of the lab that is up: "PID START" of the suite that holds
# /run/ferry-lab.lock, START from /proc/PID/stat so that a reused pid does
# not count as the suite still running.
_tl_proc_start() { cut -d' ' -f22 "/proc/$1/stat" 2>/dev/null; }

lab_exclusive() {
	_tl_who=$1
	shift
	if [ -z "${FERRY_LAB_LOCKED:-}" ]; then
		FERRY_LAB_LOCKED=1
		export FERRY_LAB_LOCKED
		flock -n /run/ferry-lab.lock true ||
			echo "$_tl_who: another lab suite holds /run/ferry-lab.lock; waiting up to ${LAB_WAIT:-1800} s" >&2
		exec flock -o -w "${LAB_WAIT:-1800}" /run/ferry-lab.lock "$@"
	fi
	if ip netns list | grep -q '^ferry-' || [ -e /run/ferry-lab ]; then
		# shellcheck disable=SC2046
		set -- $(cat /run/ferry-lab.owner 2>/dev/null)
		if [ $# != 2 ]; then
			echo "$_tl_who: a lab is up that no lab suite started ($(readlink /run/ferry-lab 2>/dev/null || echo '?')); run its lab/down first" >&2
			return 1
		fi
		if [ "$(_tl_proc_start "$1")" = "$2" ]; then
			echo "$_tl_who: the lab suite that brought the lab up (pid $1) still runs without /run/ferry-lab.lock" >&2
			return 1
		fi
		echo "$_tl_who: the lab left up by a killed suite (pid $1, $(readlink /run/ferry-lab 2>/dev/null || echo '?')): lab/down" >&2
		env -u LAB_STATE -u LAB_BUILD LAB_FOLLOW_LINK=1 "$(dirname "$0")/../../lab/down" >&2 || return 1
		if ip netns list | grep -q '^ferry-' || [ -e /run/ferry-lab ]; then
			echo "$_tl_who: lab/down left the lab up" >&2
			return 1
		fi
	fi
	echo "$$ $(_tl_proc_start $$)" >/run/ferry-lab.owner
}
