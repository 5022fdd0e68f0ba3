#!/bin/sh
# run.sh [BUILD_DIR] - the Redis cutover benchmark.
# Starts two redis-server processes (old 16150, new 16151: plain TCP,
# requirepass and an ACL user "ferry") in a temporary folder, runs
# redis_cutover (ferry's switch steps and runbook.sh, at 500 and 5000
# writes/s), and stops them.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
export REDIS_OLD_PORT=16150 REDIS_NEW_PORT=16151
. "$here/../../tests/lib.sh"
. "$here/../../tests/integration/redis/servers.sh"
redis_require
dir=$(mktemp -d /tmp/ferry-redisbench.XXXXXX)
trap 'redis_stop_all "$dir"; rm -rf "$dir"' EXIT INT TERM
pw=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$pw" >"$dir/ferry.pw"
for s in old:$REDIS_OLD_PORT new:$REDIS_NEW_PORT; do
	redis_start "$dir" "${s%%:*}" "${s#*:}" --requirepass "$pw" \
		--user ferry on ">$pw" '~*' '&*' '+@all' || exit 1
done
FERRY_REDISBENCH_DIR="$dir" BENCH_DIR="$here" "$build/bench/redis-cutover/redis_cutover"
