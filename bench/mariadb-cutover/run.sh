#!/bin/sh
# run.sh BUILD_DIR - bench/mariadb-cutover: the MariaDB switch under a write
# load with a ledger, at 500 and 5000 writes/s, in one run; one line per
# rate:
#   engine=mariadb rate=R ferry_pause_ms=… runbook_pause_ms=… ratio=… client_errors=… lost=…
# Two fresh MariaDB servers per rate (ports 16021-16022, servers.sh), new
# replicating from old (mariadb-dump | mariadb, CHANGE MASTER ...
# MASTER_USE_GTID=slave_pos).  The pause is what the clients see: the
# longest time without an acknowledged write (mdb_load's max_gap_ms).
# ferry's side waits for the switch orchestrator (issue 11): until then
# ferry_pause_ms and ratio print "n/a" and only the runbook side runs.
set -eu
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../tests/lib.sh"
. "$here/../../tests/integration/mariadb/servers.sh"
OLD=16021 NEW=16022
load=$build/bench/mariadb-cutover/mdb_load
top=$(mktemp -d /tmp/ferry-mdbbench.XXXXXX)
chmod 755 "$top"
lp=
cleanup() {
	[ -n "$lp" ] && stop_pid "$lp"
	for s in "$top"/srv.*; do [ -d "$s" ] && mdb_stop "$s"; done
	rm -rf "$top"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

pair() { # pair DIR: two servers, new replicating from old
	mdb_start "$1" old $OLD 1 && mdb_start "$1" new $NEW 2 || return 1
	mdb_sql "$1" old "CREATE DATABASE shop; CREATE TABLE shop.ledger (k BIGINT PRIMARY KEY)"
	mariadb-dump --no-defaults -uroot -S "$1/old.sock" --single-transaction --master-data=2 \
		--gtid --databases shop >"$1/dump.sql"
	gtid=$(sed -n "s/^-- SET GLOBAL gtid_slave_pos='\(.*\)';/\1/p" "$1/dump.sql")
	mariadb --no-defaults -uroot -S "$1/new.sock" --init-command="SET sql_log_bin=0" <"$1/dump.sql"
	mdb_sql "$1" new "SET GLOBAL gtid_slave_pos='$gtid'; CHANGE MASTER TO MASTER_HOST='127.0.0.1',
		MASTER_PORT=$OLD, MASTER_USER='ferry', MASTER_PASSWORD='$(cat "$1/ferry.pw")',
		MASTER_USE_GTID=slave_pos; START SLAVE; SET GLOBAL read_only=1"
}

for rate in 500 5000; do
	srv=$top/srv.$rate
	mkdir "$srv"
	pair "$srv" >/dev/null
	echo "host=127.0.0.1 port=$OLD dbname=shop user=app" >"$srv/target"
	"$load" "$srv/target" $rate "$srv/ledger" >"$srv/load.out" &
	lp=$!
	wait_for 10 test -s "$srv/ledger"
	sleep 2 # a steady load before the switch (load time, not a wait on state)
	sh "$here/runbook.sh" "$srv" "$srv/target" "host=127.0.0.1 port=$NEW dbname=shop user=app"
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
	echo "engine=mariadb rate=$rate ferry_pause_ms=n/a runbook_pause_ms=$gap ratio=n/a client_errors=$errs lost=$lost"
	mdb_stop "$srv"
done
