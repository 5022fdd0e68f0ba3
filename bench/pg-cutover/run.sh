#!/bin/sh
# run.sh [BUILD_DIR] - the PostgreSQL cutover benchmark.
# Starts two PostgreSQL 15 clusters and two pgbouncers on 127.0.0.1 (ports
# 15421-15431 unless PG_OLD_PORT... say otherwise) in a temporary folder,
# runs pg_cutover (ferry's switch and runbook.sh, at 500 and 5000 writes/s,
# unless BENCH_PAUSE=0; then the in-sync time of a BENCH_DB_MB database,
# default 1024, a list such as 1024,4096 for several, against pg_dump |
# pg_restore), and stops everything.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
: "${PG_OLD_PORT:=15421}" "${PG_NEW_PORT:=15422}" "${PG_REPL_PORT:=15423}"
: "${PGB_OLD_PORT:=15430}" "${PGB_NEW_PORT:=15431}"
# BENCH_SESSIONS idle sessions on old need room beside the writers
: "${PG_MAX_CONNECTIONS:=$(( ${BENCH_SESSIONS:-0} + 100 ))}"
export PG_MAX_CONNECTIONS
export PG_OLD_PORT PG_NEW_PORT PG_REPL_PORT PGB_OLD_PORT PGB_NEW_PORT
. "$here/../../tests/lib.sh"
. "$here/../../tests/integration/pg/cluster.sh"
dir=$(mktemp -d /tmp/ferry-pgbench.XXXXXX)
trap 'cluster_stop "$dir"' EXIT INT TERM
cluster_start "$dir" || { echo "cannot start the servers"; exit 1; }
printf '127.0.0.1:*:*:ferry:%s\n' "$(cat "$dir/ferry.pw")" >"$dir/pgpass"
chmod 600 "$dir/pgpass"
export FERRY_PGTEST_DIR="$dir" BENCH_DIR="$here"
"$build/bench/pg-cutover/pg_cutover"
