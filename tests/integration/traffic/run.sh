#!/bin/sh
# run.sh TEST_BINARY - the HAProxy driver against a real HAProxy.
#
# One haproxy process holds all of it, on 127.0.0.1 ports 15700-15709:
#   15700  frontend `fe` -> backend `web` (roundrobin) with servers
#          old -> 15701 (answers 200 "old") and new -> 15702 (answers 500)
#   15705  runtime API, level admin;  15706  runtime API, level operator
#   $tmp/admin.sock  runtime API on a unix socket, level admin
# The test binary drives it (weights, split, stats, errors), restarts it
# once (the interactive connection must reconnect by itself), then this
# script stops it and the binary checks that a stopped HAProxy is reported
# unreachable, fast.  Cleanup by trap, whatever happens.
set -eu

exe=$1
haproxy=$(command -v haproxy || true)
if [ -z "$haproxy" ] && [ -x /usr/sbin/haproxy ]; then
	haproxy=/usr/sbin/haproxy
fi
if [ -z "$haproxy" ]; then
	echo "haproxy not installed: skipped"
	exit 77
fi

. "$(dirname "$0")/../../lib.sh" # stop_pid
tmp=$(mktemp -d /tmp/ferry-traffic.XXXXXX)
pidfile=$tmp/haproxy.pid

stop_haproxy() {
	[ -s "$pidfile" ] || return 0
	stop_pid "$(cat "$pidfile")" # waits on the process gone, with a deadline
	rm -f "$pidfile"
}

cleanup() {
	stop_haproxy
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

cat >"$tmp/haproxy.cfg" <<EOF
global
    stats socket ipv4@127.0.0.1:15705 level admin
    stats socket ipv4@127.0.0.1:15706 level operator
    stats socket $tmp/admin.sock mode 600 level admin
    stats timeout 30s

defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend fe
    bind 127.0.0.1:15700
    default_backend web

backend web
    balance roundrobin
    server old 127.0.0.1:15701 weight 100
    server new 127.0.0.1:15702 weight 100

frontend app_old
    bind 127.0.0.1:15701
    http-request return status 200 content-type text/plain string "old"

frontend app_new
    bind 127.0.0.1:15702
    http-request return status 500 content-type text/plain string "new"
EOF

"$haproxy" -q -c -f "$tmp/haproxy.cfg"
"$haproxy" -f "$tmp/haproxy.cfg" -D -p "$pidfile"

# The binary waits (with a deadline) for the admin socket to answer.
"$exe" running "$haproxy" "$tmp/haproxy.cfg" "$pidfile" "$tmp/admin.sock"

stop_haproxy
"$exe" stopped
