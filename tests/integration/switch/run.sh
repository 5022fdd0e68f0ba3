#!/bin/sh
# run.sh TEST_BINARY - the servers of the switch's fault matrix, on
# 127.0.0.1 in a temporary folder (ports 16501-16529):
#   two PostgreSQL 15 clusters, old (16501) and new (16502), each with two
#   databases: shop (the applications reach it through pgbouncer: the old
#   host's on 16510, the new host's on 16511) and pay (through HAProxy TCP:
#   the old host's frontend 16520 with its runtime API on 16521, the new
#   host's 16522 / 16523); every pooler and balancer points at old.
# Runs the test program, stops everything (trap), returns its status.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib.sh"
PG_OLD_PORT=16501 PG_NEW_PORT=16502 PG_REPL_PORT=16503 PGB_OLD_PORT=16510 PGB_NEW_PORT=16511
. "$here/../pg/cluster.sh"
dir=$(mktemp -d /tmp/ferry-switchtest.XXXXXX)
trap 'hap_stop "$dir" hap_old hap_new; if [ "${FERRY_PGTEST_KEEP:-}" = 1 ] && [ "${rc:-1}" != 0 ]; then echo "kept: $dir"; else cluster_stop "$dir"; fi' EXIT INT TERM
cluster_start "$dir" || { echo "cannot start the servers; logs:"; tail -n 20 "$dir"/*.log; exit 1; }
for p in "$PG_OLD_PORT" "$PG_NEW_PORT"; do
	asuser $PGBIN/psql -X -q -h "$dir" -p "$p" -d postgres -c "CREATE DATABASE pay" >/dev/null || exit 1
	asuser $PGBIN/psql -X -q -h "$dir" -p "$p" -d pay -c "GRANT ALL ON SCHEMA public TO app" >/dev/null || exit 1
done
hap_tcp_start "$dir" hap_old 16520 16521 pay $PG_OLD_PORT || { echo "cannot start haproxy"; exit 1; }
hap_tcp_start "$dir" hap_new 16522 16523 pay $PG_OLD_PORT || { echo "cannot start haproxy"; exit 1; }
export FERRY_PGTEST_DIR="$dir" PG_OLD_PORT PG_NEW_PORT PGB_OLD_PORT PGB_NEW_PORT
"$@"
rc=$?
[ $rc = 0 ] || { echo "--- server logs (errors)"; log_errors "ERROR|WARNING|FATAL|PANIC" 20 "$dir"/*.log; }
exit $rc
