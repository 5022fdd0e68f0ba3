#!/bin/sh
# run.sh [BUILD_DIR] - the Redis cutover benchmark.
# Starts two redis-server processes (old 16150, new 16151: plain TCP,
# requirepass and an ACL user "ferry") and an HAProxy TCP frontend in front
# of them (16152, runtime API 16153) in a temporary folder, runs
# redis_cutover (ferry's switch through the orchestrator and runbook.sh,
# at 500 and 5000 writes/s), and stops them.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
export REDIS_OLD_PORT=16150 REDIS_NEW_PORT=16151 HAP_PORT=16152 HAP_API_PORT=16153
. "$here/../../tests/lib.sh"
. "$here/../../tests/integration/redis/servers.sh"
redis_require
dir=$(mktemp -d /tmp/ferry-redisbench.XXXXXX)
trap '[ -f "$dir/hap.hpid" ] && stop_pid "$(cat "$dir/hap.hpid")"; redis_stop_all "$dir"; rm -rf "$dir"' EXIT INT TERM
pw=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$pw" >"$dir/ferry.pw"
for s in old:$REDIS_OLD_PORT new:$REDIS_NEW_PORT; do
	redis_start "$dir" "${s%%:*}" "${s#*:}" --requirepass "$pw" \
		--user ferry on ">$pw" '~*' '&*' '+@all' || exit 1
done
cat >"$dir/hap.cfg" <<EOC
global
	stats socket ipv4@127.0.0.1:$HAP_API_PORT level admin
	pidfile $dir/hap.hpid
defaults
	mode tcp
	timeout connect 2s
	timeout client 60s
	timeout server 60s
frontend cache
	bind 127.0.0.1:$HAP_PORT
	default_backend cache
backend cache
	server db 127.0.0.1:$REDIS_OLD_PORT
EOC
haproxy -D -f "$dir/hap.cfg" || exit 1
wait_for 20 port_in_use "$HAP_API_PORT" || exit 1
FERRY_REDISBENCH_DIR="$dir" BENCH_DIR="$here" "$build/bench/redis-cutover/redis_cutover"
