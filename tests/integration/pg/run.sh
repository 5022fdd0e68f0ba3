#!/bin/sh
# run.sh TEST_BINARY - starts the PostgreSQL + pgbouncer servers in a
# temporary folder, runs the test program against them, stops everything
# (trap), and returns the program's status.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib.sh"
. "$here/cluster.sh"
dir=$(mktemp -d /tmp/ferry-pgtest.XXXXXX)
# FERRY_PGTEST_KEEP=1 keeps the servers after a failure, for a look
trap 'if [ "${FERRY_PGTEST_KEEP:-}" = 1 ] && [ "${rc:-1}" != 0 ]; then echo "kept: $dir"; else cluster_stop "$dir"; fi' EXIT INT TERM
cluster_start "$dir" repl || { echo "cannot start the servers; logs:"; tail -n 20 "$dir"/*.log; exit 1; }
export FERRY_PGTEST_DIR="$dir"
"$@"
rc=$?
[ $rc = 0 ] || { echo "--- server logs (errors)"; for f in "$dir"/*.log; do echo "== $f"; grep -E "ERROR|WARNING|FATAL|PANIC" "$f" | tail -n 40; done; }
exit $rc
