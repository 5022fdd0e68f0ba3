#!/bin/sh
# run_drift.sh TEST_BINARY - starts two PostgreSQL 15 clusters (old on
# 15450, new on 15451, unless PG_OLD_PORT... say otherwise; no pgbouncer) in
# a temporary folder, runs the test against them (the schema drift test;
# run_pgcopy.sh runs the parallel copy's), stops them (trap), and returns
# its status.
set -u
: "${PG_OLD_PORT:=15450}" "${PG_NEW_PORT:=15451}" "${PG_REPL_PORT:=15452}"
: "${PGB_OLD_PORT:=15453}" "${PGB_NEW_PORT:=15454}"
here=$(cd "$(dirname "$0")" && pwd)
. "$here/cluster.sh"
dir=$(mktemp -d /tmp/ferry-pgpair.XXXXXX)
trap 'cluster_stop "$dir"' EXIT INT TERM
chmod 755 "$dir"
head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$dir/ferry.pw"
chmod 600 "$dir/ferry.pw"
chown postgres "$dir"
pg_start "$dir" old "$PG_OLD_PORT" logical && pg_start "$dir" new "$PG_NEW_PORT" logical ||
	{ echo "cannot start the servers; logs:"; tail -n 20 "$dir"/*.log; exit 1; }
export FERRY_PGTEST_DIR="$dir"
"$@"
rc=$?
[ $rc = 0 ] || { echo "--- server logs (errors)"; for f in "$dir"/*.log; do echo "== $f"; grep -E "ERROR|FATAL|PANIC" "$f" | tail -n 40; done; }
exit $rc
