#!/bin/sh
# cli_switch.sh FERRY - the MariaDB switch through the real command line,
# against real servers on the mariadb helper's ports (16051-16079):
#   a. a MariaDB database behind an HAProxy TCP frontend (switch via
#      haproxy), under a write load through the frontend with a ledger of
#      acknowledged writes (a client per statement: every write
#      reconnects): `ferry run --until cutover` killed (kill -9,
#      FERRY_CRASH_AT) inside the write pause after the fence, then run
#      again: it recovers and moves it (HAProxy at new,
#      new writable, old read_only and replicating from new, writes go on,
#      none lost); `ferry rollback` moves it back and counts what the
#      reverse stream carried (HAProxy at old, old writable, new read_only
#      and replicating from old, none lost).
#   b. one plan with that MariaDB database and a PostgreSQL database
#      (pgbouncer, tests/integration/pg/cluster.sh) moved together in one
#      `ferry run` to the end: both at new, none lost on either.
# Every wait polls a condition with a deadline; the schedule is compressed.
set -eu
ferry=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib.sh"
. "$here/../cli/lib.sh" # fail, show, run_ferry, keep_top, plan_*
. "$here/servers.sh"
PG_OLD_PORT=16061 PG_NEW_PORT=16062 PG_REPL_PORT=16063 PGB_OLD_PORT=16070 PGB_NEW_PORT=16071
. "$here/../pg/cluster.sh"
set -eu
OLD=16051 NEW=16052 FE=16053 API=16054
require_tools cli_switch.sh mariadbd haproxy
top=$(mktemp -d /tmp/ferry-mdbswcli.XXXXXX)
chmod 755 "$top"
msrv=
psrv=
writers=
cleanup() {
	rc=$?
	for p in $writers; do stop_pid "$p"; done
	hap_stop "$top" hap
	[ $rc != 0 ] && [ -n "$msrv" ] && log_errors ERROR 10 "$msrv"/*.err
	[ -n "$msrv" ] && mdb_stop "$msrv"
	[ -n "$psrv" ] && cluster_stop "$psrv"
	keep_top "${FERRY_MDBCLI_KEEP:-}"
	rm -rf "$top"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM
step=setup
show_lines=60 # show: the last 60 lines
q() { mdb_sql "$msrv" "$1" "$2"; }
psql_q() { # psql_q old|new SQL
	case $1 in old) p=$PG_OLD_PORT ;; new) p=$PG_NEW_PORT ;; esac
	asuser $PGBIN/psql -X -q -At -v ON_ERROR_STOP=1 -h "$psrv" -p "$p" -d shop -c "$2"
}
hap_port() { hap_server_port $API shop; } # where HAProxy's shop/db points

mariadb_servers() { # fresh MariaDB servers and HAProxy in front of old
	hap_stop "$top" hap
	[ -n "$msrv" ] && mdb_stop "$msrv"
	msrv=$(mktemp -d "$top/m.XXXXXX")
	mdb_start "$msrv" old $OLD 1 && mdb_start "$msrv" new $NEW 2 || fail "cannot start MariaDB"
	q old "CREATE DATABASE shop;
		CREATE TABLE shop.orders (id BIGINT AUTO_INCREMENT PRIMARY KEY,
			ledger BIGINT NOT NULL UNIQUE, at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
		INSERT INTO shop.orders (ledger) SELECT -seq FROM shop.seq_1_to_1000;"
	hap_tcp_start "$top" hap $FE $API shop $OLD || fail "cannot start haproxy"
}

# A writer: one client call per statement (each a new connection), its key
# in LEDGER once acknowledged.
mwriter() { # mwriter LEDGER
	: >"$1"
	(
		i=0
		while :; do
			i=$((i + 1))
			mariadb --no-defaults --connect-timeout=2 -h 127.0.0.1 -P $FE -u app shop \
				-e "INSERT INTO orders (ledger) VALUES ($i)" 2>/dev/null && echo $i >>"$1"
			sleep 0.01
		done
	) &
	writers="$writers $!"
}
pwriter() { # pwriter LEDGER: through the old host's pgbouncer
	: >"$1"
	(
		i=0
		while :; do
			i=$((i + 1))
			$PGBIN/psql -X -q -h 127.0.0.1 -p $PGB_OLD_PORT -U app -d shop \
				-c "INSERT INTO orders (ledger) VALUES ($i)" >/dev/null 2>&1 && echo $i >>"$1"
			sleep 0.01
		done
	) &
	writers="$writers $!"
}
writers_stop() {
	for p in $writers; do stop_pid "$p"; done
	writers=
}
lines() { wc -l <"$1"; }
grows() { # grows LEDGER N: N more acknowledged writes than now
	_want=$(($(lines "$1") + $2))
	wait_for 30 sh -c "[ \$(wc -l <'$1') -ge $_want ]"
}
mlost() { ledger_missing "$1" q "$2" "SELECT ledger FROM shop.orders WHERE ledger > 0"; } # mlost LEDGER old|new
plost() { ledger_missing "$1" psql_q "$2" "SELECT ledger FROM orders WHERE ledger > 0"; }
repl_from() { # repl_from SIDE PORT: SIDE replicates from PORT, both threads run
	st=$(mariadb --no-defaults -uroot -S "$msrv/$1.sock" -e "SHOW SLAVE STATUS\G")
	echo "$st" | grep -q "Master_Port: $2" && echo "$st" | grep -q "Slave_SQL_Running: Yes" &&
		echo "$st" | grep -q "Slave_IO_Running: Yes"
}

mdb_plan_db() { # the MariaDB database of both plans
	cat <<YAML
  - name: pay
    engine: mariadb
    source: "host=127.0.0.1 port=$OLD dbname=shop user=ferry"
    target: "host=127.0.0.1 port=$NEW dbname=shop user=ferry"
    password: { file: $msrv/ferry.pw }
    pause_budget: 5s
    switch:
      via: haproxy
      admin: { old: "127.0.0.1:$API" }
      backend: shop
      server: db
YAML
}

# --- a. the switch and the rollback -----------------------------------------
step=a
mariadb_servers
cat >"$top/a.yaml" <<YAML
name: mdbswitch
hosts:
  old: { address: 127.0.0.1 }
  new: { address: 127.0.0.2 }
databases:
$(mdb_plan_db)
$(plan_test_end 10m)
YAML
mwriter "$top/ledger.a"
grows "$top/ledger.a" 20 || fail "the writer does not write through HAProxy"
# killed inside the write pause, after the fence: the next run recovers
run_ferry run.a0 env FERRY_CRASH_AT=db.position "$ferry" run "$top/a.yaml" --until cutover
[ $rc = 137 ] || { show "$top/run.a0"; fail "ferry run with FERRY_CRASH_AT=db.position exit $rc, want 137"; }
[ "$(q old 'SELECT @@read_only')" = 1 ] || fail "the killed run left old unfenced"
run_ferry run.a "$ferry" run "$top/a.yaml" --until cutover
[ $rc = 0 ] || { show "$top/run.a"; fail "ferry run --until cutover exit $rc, want 0"; }
grep -q "^cutover: gate holds; phase complete" "$top/run.a" || { show "$top/run.a"; fail "the cutover did not complete"; }
[ "$(hap_port)" = $NEW ] || fail "HAProxy points at $(hap_port), not at new"
[ "$(q new 'SELECT @@read_only')" = 0 ] || fail "new is read_only"
[ "$(q old 'SELECT @@read_only')" = 1 ] || fail "old is writable"
wait_for 30 repl_from old $NEW || fail "old does not replicate from new"
grows "$top/ledger.a" 30 || fail "no writes after the switch"
[ "$(mlost "$top/ledger.a" new)" = 0 ] || fail "$(mlost "$top/ledger.a" new) acknowledged writes are not on new"
echo "cli_switch: a cutover ok ($(lines "$top/ledger.a") writes)"

run_ferry rollback.a "$ferry" rollback "$top/a.yaml" --reason "cli_switch test"
[ $rc = 0 ] || { show "$top/rollback.a"; fail "ferry rollback exit $rc, want 0"; }
carried=$(sed -n 's/.*pay: \([0-9]*\) transactions made on the new side were carried back.*/\1/p' "$top/rollback.a")
[ -n "$carried" ] && [ "$carried" -gt 30 ] || { show "$top/rollback.a"; fail "carried back: '$carried', want > 30"; }
[ "$(hap_port)" = $OLD ] || fail "HAProxy points at $(hap_port), not at old"
[ "$(q old 'SELECT @@read_only')" = 0 ] || fail "old is read_only after the rollback"
[ "$(q new 'SELECT @@read_only')" = 1 ] || fail "new is writable after the rollback"
wait_for 30 repl_from new $OLD || fail "new does not replicate from old"
grows "$top/ledger.a" 30 || fail "no writes after the rollback"
writers_stop
[ "$(mlost "$top/ledger.a" old)" = 0 ] || fail "$(mlost "$top/ledger.a" old) acknowledged writes are not on old"
same() { [ "$(q old 'SELECT COUNT(*) FROM shop.orders')" = "$(q new 'SELECT COUNT(*) FROM shop.orders')" ]; }
wait_for 30 same || fail "new does not catch up with old after the rollback"
no_secret() { ! grep -aqF "$(cat "$msrv/ferry.pw")" "$@"; }
no_secret "$top/run.a0" "$top/run.a" "$top/rollback.a" || fail "the password reached an output"
echo "cli_switch: a rollback ok ($carried carried back, $(lines "$top/ledger.a") writes, 0 lost)"

# --- b. MariaDB and PostgreSQL in one plan -----------------------------------
step=b
mariadb_servers
psrv=$(mktemp -d "$top/p.XXXXXX")
cluster_start "$psrv" || { tail -n 20 "$psrv"/*.log; fail "cannot start PostgreSQL"; }
asuser $PGBIN/psql -X -q -v ON_ERROR_STOP=1 -h "$psrv" -p "$PG_OLD_PORT" -U app -d shop \
	-c "CREATE TABLE orders (id bigserial PRIMARY KEY, ledger bigint NOT NULL UNIQUE)" >/dev/null
cat >"$top/b.yaml" <<YAML
name: mixed
hosts:
  old: { address: 127.0.0.1 }
  new: { address: 127.0.0.2 }
databases:
$(mdb_plan_db)
  - name: main
    engine: postgresql
    source: "host=127.0.0.1 port=$PG_OLD_PORT dbname=shop user=ferry"
    target: "host=127.0.0.1 port=$PG_NEW_PORT dbname=shop user=ferry"
    password: { file: $psrv/ferry.pw }
    pause_budget: 5s
$(plan_pgbouncer_switch "$psrv")
$(plan_test_end 2s)
YAML
mwriter "$top/ledger.bm"
pwriter "$top/ledger.bp"
grows "$top/ledger.bm" 20 || fail "the MariaDB writer does not write"
grows "$top/ledger.bp" 20 || fail "the PostgreSQL writer does not write"
run_ferry run.b "$ferry" run "$top/b.yaml"
[ $rc = 0 ] || { show "$top/run.b"; fail "ferry run exit $rc, want 0"; }
grep -q 'migration mixed complete' "$top/run.b" || { show "$top/run.b"; fail "the migration did not complete"; }
# one write pause for both databases: one switch
[ "$(grep -c 'switched to the new database' "$top/run.b")" -ge 1 ] || { show "$top/run.b"; fail "no switch reported"; }
[ "$(hap_port)" = $NEW ] || fail "HAProxy points at $(hap_port), not at new"
pgb_port=$(grep -o 'port=[0-9]*' "$psrv/pgb_old.db.ini" | head -n 1)
[ "$pgb_port" = "port=$PG_NEW_PORT" ] || fail "the old host's pgbouncer points at $pgb_port"
grows "$top/ledger.bm" 20 || fail "no MariaDB writes after the move"
grows "$top/ledger.bp" 20 || fail "no PostgreSQL writes after the move"
writers_stop
[ "$(mlost "$top/ledger.bm" new)" = 0 ] || fail "$(mlost "$top/ledger.bm" new) MariaDB writes lost"
[ "$(plost "$top/ledger.bp" new)" = 0 ] || fail "$(plost "$top/ledger.bp" new) PostgreSQL writes lost"
echo "cli_switch: b ok (MariaDB $(lines "$top/ledger.bm") and PostgreSQL $(lines "$top/ledger.bp") writes, 0 lost)"
