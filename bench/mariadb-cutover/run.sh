#!/bin/sh
# run.sh BUILD_DIR - bench/mariadb-cutover: the MariaDB switch under a write
# load with a ledger, ferry's against a runbook's, at 500 and 5000
# writes/s, in one run; one line per rate:
#   engine=mariadb rate=R ferry_pause_ms=… runbook_pause_ms=… ratio=… client_errors=… lost=…
# Per rate and side, two fresh MariaDB servers (ports 16021-16022,
# servers.sh) and one HAProxy TCP frontend in front of them (16023, its
# runtime API 16024), new replicating from old by ferry (mdb_cutover
# replicate: the copy, then GTID replication).  mdb_load writes RATE
# inserts/s through the frontend with clients that reconnect on a dropped
# connection and keep a ledger; then the switch: ferry's (mdb_cutover
# switch: the orchestrator with the haproxy driver) or the runbook's
# (runbook.sh: one client call per step).  The pause is what the clients
# see: the longest time without an acknowledged write that overlaps the
# switch (mdb_load's max_gap_ms; SIGUSR1 and SIGUSR2 mark the switch's
# start and end, a stall of the shared machine outside it is not the
# switch's); ratio = runbook / ferry; client_errors the most failed
# statements on one connection (both sides); lost: acknowledged writes
# missing on new (both sides).
set -eu
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../tests/lib.sh"
. "$here/../../tests/integration/mariadb/servers.sh"
OLD=16021 NEW=16022 FE=16023 API=16024
load=$build/bench/mariadb-cutover/mdb_load
cut=$build/bench/mariadb-cutover/mdb_cutover
top=$(mktemp -d /tmp/ferry-mdbbench.XXXXXX)
chmod 755 "$top"
lp=
hp=
cleanup() {
	[ -n "$lp" ] && stop_pid "$lp"
	[ -n "$hp" ] && stop_pid "$hp"
	for s in "$top"/srv.*; do [ -d "$s" ] && mdb_stop "$s"; done
	rm -rf "$top"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# side RATE ferry|runbook: one measured switch; sets gap, errs, lost
side() {
	srv=$top/srv.$1.$2
	mkdir "$srv"
	mdb_start "$srv" old $OLD 1 >/dev/null && mdb_start "$srv" new $NEW 2 >/dev/null
	mdb_sql "$srv" old "CREATE DATABASE shop; CREATE TABLE shop.ledger (k BIGINT PRIMARY KEY)"
	cat >"$srv/hap.cfg" <<EOC
global
	stats socket ipv4@127.0.0.1:$API level admin
	pidfile $srv/hap.pid
defaults
	mode tcp
	timeout connect 2s
	timeout client 60s
	timeout server 60s
frontend shop
	bind 127.0.0.1:$FE
	default_backend shop
backend shop
	server db 127.0.0.1:$OLD
EOC
	haproxy -D -f "$srv/hap.cfg"
	wait_for 20 port_in_use $API
	hp=$(cat "$srv/hap.pid")
	export FERRY_MDBTEST_DIR="$srv" MDB_OLD_PORT=$OLD MDB_NEW_PORT=$NEW HAP_API=127.0.0.1:$API
	"$cut" replicate
	echo "host=127.0.0.1 port=$FE dbname=shop user=app" >"$srv/target"
	"$load" "$srv/target" "$1" "$srv/ledger" >"$srv/load.out" &
	lp=$!
	wait_for 10 test -s "$srv/ledger"
	sleep 2 # a steady load before the switch (load time, not a wait on state)
	kill -USR1 "$lp" # the switch starts: mdb_load's max_gap_ms is its pause
	if [ "$2" = ferry ]; then
		"$cut" switch >"$srv/switch.out"
	else
		sh "$here/runbook.sh" "$srv" 127.0.0.1:$API $NEW
	fi
	kill -USR2 "$lp"
	sleep 2 # writes on new after the switch (load time)
	kill "$lp"
	wait "$lp" || true
	lp=
	out=$(cat "$srv/load.out")
	gap=$(echo "$out" | sed -n 's/.*max_gap_ms=\([0-9]*\).*/\1/p')
	errs=$(echo "$out" | sed -n 's/.*worst_conn_errors=\([0-9]*\).*/\1/p')
	sort "$srv/ledger" >"$srv/acked"
	mdb_sql "$srv" new "SELECT k FROM shop.ledger ORDER BY k" | sort >"$srv/have"
	lost=$(comm -23 "$srv/acked" "$srv/have" | wc -l)
	if [ "$2" = ferry ]; then
		echo "# ferry rate=$1: $(cat "$srv/switch.out"); clients: $out" >&2
	else
		echo "# runbook rate=$1: clients: $out" >&2
	fi
	stop_pid "$hp"
	hp=
	mdb_stop "$srv"
}

for rate in ${BENCH_RATES:-500 5000}; do
	side $rate ferry
	fgap=$gap ferrs=$errs flost=$lost
	side $rate runbook
	ratio=$(awk -v b="$gap" -v f="$fgap" 'BEGIN { printf "%.1f", (f > 0) ? b / f : 0 }')
	[ "$errs" -gt "$ferrs" ] || errs=$ferrs
	echo "engine=mariadb rate=$rate ferry_pause_ms=$fgap runbook_pause_ms=$gap ratio=$ratio client_errors=$errs lost=$((flost + lost))"
done
