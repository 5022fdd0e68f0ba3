#!/bin/sh
# switch_cli.sh FERRY DB_WRITER - one plan, three PostgreSQL databases, one
# switch driver each, moved together through the real command line
# (issue 11: the cutover and the rollback through every switch driver):
#   shop   through two pgbouncers (ferry owns their [databases] files),
#   pay    through an HAProxy TCP backend (its runtime API),
#   notes  through the operator's hook: an "application" that reads the
#          database's address from a file before each write, which the
#          hook's point command rewrites and its show command prints.
# Servers on 127.0.0.1, ports 16540-16559: two PostgreSQL 15 clusters
# (tests/integration/pg/cluster.sh), two pgbouncers, one HAProxy.
#
#   a. `ferry check` passes, with a row for each driver saying where it
#      points (old).
#   b. under a write load through every endpoint (each writer keeps a
#      ledger of its acknowledged writes), `ferry run --until cutover`:
#      every endpoint points at new, nothing paused, writes flow on new.
#   c. `ferry rollback` killed inside its pause (FERRY_CRASH_AT=db.fence),
#      then `ferry rollback` again: the killed switch undone and its step
#      closed, every endpoint points at old again, the writes acknowledged
#      on new are on old (carried back), writes flow on old.
#   d. round 2: `ferry run --until cutover` killed inside the pause after
#      the fence (FERRY_CRASH_AT=db.point), the next run's recovery
#      completes the switch; `ferry rollback` again: every endpoint at old,
#      and each database's forward stream runs again on new.
#   e. `ferry run` again, to the end: the cutover of round 3 without a
#      copy, then decommission; every endpoint at new, no replication
#      object left, and no acknowledged write of the whole test missing
#      on new.
set -eu
ferry=$1
writer=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib.sh"
. "$here/./lib.sh" # fail, show, run_ferry, keep_top, plan_*
PG_OLD_PORT=16540 PG_NEW_PORT=16541 PG_REPL_PORT=16542 PGB_OLD_PORT=16545 PGB_NEW_PORT=16546
HAP_PORT=16550 HAP_API=16551
. "$here/../pg/cluster.sh"
set -eu

top=$(mktemp -d /tmp/ferry-switchcli.XXXXXX)
chmod 755 "$top"
srv=$top/srv
pids=
cleanup() {
	rc=$?
	for p in $pids; do stop_pid "$p"; done
	hap_stop "$top" hap
	if [ $rc != 0 ] && [ -d "$srv" ]; then
		echo "--- server logs (errors)"
		log_errors "ERROR|FATAL|PANIC" 15 "$srv"/*.log
	fi
	[ -d "$srv" ] && cluster_stop "$srv"
	rm -rf "$top"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM
step=setup
port_of() { case $1 in old) echo $PG_OLD_PORT ;; new) echo $PG_NEW_PORT ;; esac; }
sql() { # sql old|new DB SQL
	asuser $PGBIN/psql -X -q -At -v ON_ERROR_STOP=1 -h "$srv" -p "$(port_of "$1")" -d "$2" -c "$3"
}

# --- the servers -----------------------------------------------------------
mkdir "$srv"
cluster_start "$srv" || { tail -n 20 "$srv"/*.log; fail "cannot start the servers"; }
for db in shop pay notes; do
	if [ $db != shop ]; then
		for side in old new; do
			sql $side postgres "CREATE DATABASE $db" >/dev/null
			sql $side $db "GRANT ALL ON SCHEMA public TO app" >/dev/null
		done
	fi
	asuser $PGBIN/psql -X -q -v ON_ERROR_STOP=1 -h "$srv" -p "$PG_OLD_PORT" -U app -d $db \
		-c "CREATE TABLE orders (id bigserial PRIMARY KEY, ledger bigint NOT NULL UNIQUE,
			note text, at timestamptz DEFAULT now())" >/dev/null
done
hap_tcp_start "$top" hap $HAP_PORT $HAP_API pay $PG_OLD_PORT || fail "cannot start haproxy"
echo "127.0.0.1:$PG_OLD_PORT" >"$top/notes.addr"
chmod 644 "$top/notes.addr"

cat >"$top/p.yaml" <<YAML
name: three
hosts:
  old: { address: 127.0.0.1 }
  new: { address: 127.0.0.2 }
databases:
  - name: shop
    engine: postgresql
    source: "host=127.0.0.1 port=$PG_OLD_PORT dbname=shop user=ferry"
    target: "host=127.0.0.1 port=$PG_NEW_PORT dbname=shop user=ferry"
    password: { file: $srv/ferry.pw }
    switch:
      via: pgbouncer
      admin:
        old: "host=127.0.0.1 port=$PGB_OLD_PORT dbname=pgbouncer user=ferry"
        new: "host=127.0.0.1 port=$PGB_NEW_PORT dbname=pgbouncer user=ferry"
      include: { old: $srv/pgb_old.db.ini, new: $srv/pgb_new.db.ini }
  - name: pay
    engine: postgresql
    source: "host=127.0.0.1 port=$PG_OLD_PORT dbname=pay user=ferry"
    target: "host=127.0.0.1 port=$PG_NEW_PORT dbname=pay user=ferry"
    password: { file: $srv/ferry.pw }
    switch:
      via: haproxy
      admin: { old: "127.0.0.1:$HAP_API" }
      backend: pay
      server: db
  - name: notes
    engine: postgresql
    source: "host=127.0.0.1 port=$PG_OLD_PORT dbname=notes user=ferry"
    target: "host=127.0.0.1 port=$PG_NEW_PORT dbname=notes user=ferry"
    password: { file: $srv/ferry.pw }
    switch:
      via: hook
      point: [sh, -c, 'echo "\$FERRY_SWITCH_HOST:\$FERRY_SWITCH_PORT" >$top/notes.addr.new && mv $top/notes.addr.new $top/notes.addr']
      show: [cat, $top/notes.addr]
$(plan_test_end 2s)
YAML

# --- the applications --------------------------------------------------------
# shop and pay: db_writer (libpq, reconnects), 30 writes/s each; notes: a
# shell loop that reads the address file before each write, as an
# application configured by the hook would.
"$writer" "host=127.0.0.1 port=$PGB_OLD_PORT dbname=shop user=app connect_timeout=5" 30 "$top/shop.ledger" &
pids="$pids $!"
"$writer" "host=127.0.0.1 port=$HAP_PORT dbname=pay user=app connect_timeout=5" 30 "$top/pay.ledger" &
pids="$pids $!"
notes_app() {
	i=1
	while [ ! -f "$top/stop" ]; do
		a=$(cat "$top/notes.addr")
		if $PGBIN/psql -X -q -At "host=${a%:*} port=${a#*:} dbname=notes user=app connect_timeout=5" \
			-c "INSERT INTO orders (ledger, note) VALUES ($i, 'hook')" >/dev/null 2>&1; then
			echo "$i" >>"$top/notes.ledger"
			i=$((i + 1))
		fi
	done
}
notes_app &
pids="$pids $!"
acked() { # acked DB: acknowledged writes so far
	case $1 in
	notes) wc -l <"$top/notes.ledger" 2>/dev/null || echo 0 ;;
	*) cat "$top/$1.ledger.count" 2>/dev/null || echo 0 ;;
	esac
}
at_least() { [ "$(acked "$1")" -ge "$2" ]; }
more_writes() { # more_writes: every application acknowledges 20 more
	for db in shop pay notes; do
		wait_for 60 at_least $db $(($(acked $db) + 20)) || fail "$db: the application's writes do not flow"
	done
}
apply_worker() { # apply_worker SUB: FROM ... WHERE for the running apply worker of the
	# database's subscription SUB (pg_stat_subscription is the cluster's)
	echo "FROM pg_stat_subscription w JOIN pg_subscription s ON s.oid = w.subid WHERE s.subname = '$1' AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND w.pid IS NOT NULL AND w.relid IS NULL"
}
missing() { # missing DB SIDE: acknowledged writes of DB not on SIDE (db_writer ledgers after stop)
	case $1 in
	notes) sort -u "$top/notes.ledger" >"$top/m.acked" ;;
	*) grep -v '^#' "$top/$1.ledger" | cut -d' ' -f1 | sort -u >"$top/m.acked" ;;
	esac
	sql "$2" "$1" "SELECT ledger FROM orders" | sort -u >"$top/m.there"
	comm -23 "$top/m.acked" "$top/m.there" | wc -l
}
points() { # points SIDE: every endpoint points at SIDE and none is paused
	want=$(port_of "$1")
	for p in $PGB_OLD_PORT $PGB_NEW_PORT; do
		line=$(asuser $PGBIN/psql -X -q --csv -h 127.0.0.1 -p $p -U ferry -d pgbouncer \
			-c "SHOW DATABASES" | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "port") a = i; if ($i == "paused") b = i } next } $1 == "shop" { print $a, $b }')
		[ "$line" = "$want 0" ] || fail "pgbouncer $p: shop at '$line', want '$want 0'"
	done
	hp=$(echo "show servers state pay" | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HAP_API; cat >&3; cat <&3" |
		awk '$4 == "db" { print $19 }')
	[ "$hp" = "$want" ] || fail "haproxy: pay/db at port '$hp', want $want"
	[ "$(cat "$top/notes.addr")" = "127.0.0.1:$want" ] || fail "the hook's address is $(cat "$top/notes.addr")"
}

# --- a. check ------------------------------------------------------------------
step=a
run_ferry check.txt "$ferry" check "$top/p.yaml"
[ $rc = 0 ] || { show "$top/check.txt"; fail "ferry check exit $rc, want 0"; }
# each driver's row: where it points now (old), not paused
for row in 'pooler +shop pooler old' 'pooler +shop pooler new' 'balancer +pay haproxy old' 'switch hook +notes hook'; do
	grep -Eq "^ok +$row " "$top/check.txt" || { show "$top/check.txt"; fail "no ok row '$row'"; }
done
echo "switch_cli: a ok (check)"

# --- b. cutover -------------------------------------------------------------
step=b
more_writes
run_ferry run.b "$ferry" run "$top/p.yaml" --until cutover
[ $rc = 0 ] || { show "$top/run.b"; fail "ferry run --until cutover exit $rc"; }
grep -q 'switched to the new database' "$top/run.b" || { show "$top/run.b"; fail "no switch reported"; }
points new
more_writes
for db in shop pay notes; do
	[ "$(sql new $db "SELECT count(*) FROM orders WHERE at > now() - interval '30 s'")" -gt 0 ] ||
		fail "$db: no recent writes on new"
done
pause=$(sed -n 's/.*write pause \([0-9.]*\) ms.*/\1/p' "$top/run.b" | head -n 1)
echo "switch_cli: b ok (cutover of three databases, write pause $pause ms)"

# --- c. rollback ---------------------------------------------------------------
# first killed inside its pause after the fence: the next rollback's
# recovery undoes that switch (new stays the writer), closes its step, and
# switches back; no step is left open for a later run to decide again
step=c
# ... asked for the moment the way back's apply workers were (re)started:
# each killed twice, so that the launcher starts it again no sooner than
# wal_retrieve_retry_interval (5 s) after its last start; the rollback
# waits for them, saying so, instead of refusing "worker missing" (what a
# rollback asked for the moment a cutover returns met)
rev_kill() { sql old "$1" "SELECT count(pg_terminate_backend(w.pid)) $(apply_worker ferry_rev_sub)" >/dev/null; }
rev_up() { [ "$(sql old "$1" "SELECT count(*) $(apply_worker ferry_rev_sub)")" = 1 ]; }
for round in 1 2; do
	for db in shop pay notes; do
		wait_for 20 rev_up $db || fail "$db: the way back's apply worker does not run on old"
	done
	for db in shop pay notes; do rev_kill $db; done
done
rev_up notes && fail "notes: the way back's apply worker was back at once: the case is not tested"
run_ferry rollback.c0 env FERRY_CRASH_AT=db.fence "$ferry" rollback "$top/p.yaml" --reason "switch_cli"
[ $rc = 137 ] || { show "$top/rollback.c0"; fail "FERRY_CRASH_AT=db.fence: rollback exit $rc, want 137"; }
grep -q 'waiting for replication new -> old to start' "$top/rollback.c0" ||
	{ show "$top/rollback.c0"; fail "the rollback did not wait for the way back's apply workers"; }
run_ferry rollback.c "$ferry" rollback "$top/p.yaml" --reason "switch_cli"
[ $rc = 0 ] || { show "$top/rollback.c"; fail "ferry rollback exit $rc"; }
grep -q 'interrupted switch undone by recovery' "$top/rollback.c" ||
	{ show "$top/rollback.c"; fail "the killed rollback was not undone first"; }
"$ferry" status "$top/p.yaml" --json >"$top/status.c" 2>&1 || true
[ "$(jq '.open_steps | length' "$top/status.c")" = 0 ] ||
	{ show "$top/status.c"; fail "a step is left open after the rollback"; }
points old
more_writes
# what was acknowledged on new is on old now (carried back): the notes
# application's ledger is exact at any time; the writers' after they stop
n_new=$(sql old notes "SELECT count(*) FROM orders")
[ "$(missing notes old)" = 0 ] || fail "notes: acknowledged writes are not on old after the rollback"
# that rollback, measured in this plan's journal, answers "how long a
# rollback takes" for a plan of the same shape that names it as evidence
sed 's#^  waiver: .*#  evidence: p.ferry.db#' "$top/p.yaml" >"$top/ev.yaml"
"$ferry" check "$top/ev.yaml" --json >"$top/ev.json" 2>&1 || true
jq -e '.checks[] | select(.check == "rollback.duration") | select(.status == "ok") |
	select(.message | test("a whole rollback of this plan shape took [0-9.]+ ?m?s"))' \
	"$top/ev.json" >/dev/null || { show "$top/ev.json"; fail "the rollback's journal is no evidence of its duration"; }
echo "switch_cli: c ok (rollback; notes holds $n_new rows on old; its duration is evidence for the plan's shape)"

# --- d. round 2: killed inside the pause, recovered, rolled back ------------------
# (the lab's crash scenario in small: the recovery completes the switch and
# its after-steps; the rollback then must re-create the forward stream)
step=d
run_ferry run.d1 env FERRY_CRASH_AT=db.point "$ferry" run "$top/p.yaml" --until cutover
[ $rc = 137 ] || { show "$top/run.d1"; fail "FERRY_CRASH_AT=db.point: exit $rc, want 137"; }
run_ferry run.d2 "$ferry" run "$top/p.yaml" --until cutover
[ $rc = 0 ] || { show "$top/run.d2"; fail "the run after the crash exit $rc"; }
grep -q 'interrupted switch completed by recovery' "$top/run.d2" ||
	{ show "$top/run.d2"; fail "the recovery did not complete the switch"; }
points new
more_writes
run_ferry rollback.d "$ferry" rollback "$top/p.yaml" --reason "switch_cli round 2"
[ $rc = 0 ] || { show "$top/rollback.d"; fail "ferry rollback (round 2) exit $rc"; }
points old
worker_runs() { [ "$(sql new "$1" "SELECT count(*) $(apply_worker ferry_sub)")" = 1 ]; }
for db in shop pay notes; do
	# (the server starts a worker at once, or after wal_retrieve_retry_interval)
	wait_for 20 worker_runs $db ||
		{ show "$top/rollback.d"; fail "$db: no forward apply worker on new after the rollback"; }
done
[ "$(missing notes old)" = 0 ] || fail "notes: acknowledged writes are not on old after the second rollback"
echo "switch_cli: d ok (round 2: killed at db.point, recovered, rolled back)"

# --- e. the next round, to the end -----------------------------------------------
step=e
run_ferry run.e "$ferry" run "$top/p.yaml"
[ $rc = 0 ] || { show "$top/run.e"; fail "ferry run (round 3) exit $rc"; }
grep -q 'migration three complete' "$top/run.e" || { show "$top/run.e"; fail "the migration did not complete"; }
points new
more_writes
touch "$top/stop"
for p in $pids; do
	kill "$p" 2>/dev/null || true
	wait "$p" || true
done
pids=
for db in shop pay notes; do
	m=$(missing $db new)
	[ "$m" = 0 ] || fail "$db: $m acknowledged writes are not on new"
	for side in old new; do
		[ "$(sql $side $db "SELECT count(*) FROM pg_subscription") $(sql $side $db "SELECT count(*) FROM pg_replication_slots") $(sql $side $db "SELECT count(*) FROM pg_publication")" = "0 0 0" ] ||
			fail "$db: replication objects left on $side"
	done
done
echo "switch_cli: e ok (round 3 to the end; $(acked shop) + $(grep -vc '^#' "$top/pay.ledger") + $(acked notes) acknowledged writes, 0 lost)"
