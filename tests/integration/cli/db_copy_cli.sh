#!/bin/sh
# db_copy_cli.sh FERRY - the initial copy through the command line, against
# two PostgreSQL 15 clusters and two pgbouncers on 127.0.0.1 (ports
# 16320-16331, tests/integration/pg/cluster.sh; no lock needed):
#
#   a. the copy-time gate: a soak that cannot end before the next cutover
#      window closes is refused by `ferry run --until replicate` (exit 1)
#      with the numbers, and nothing is created on either side;
#   b. `ferry run --until replicate` killed with SIGKILL in the middle of
#      the parallel copy (FERRY_CRASH_AT=pgcopy_part:3) leaves a ledger
#      beside the journal; the next `ferry run --until replicate` resumes:
#      the tables the ledger names whole keep their rows (the same row
#      versions), the row counts end equal, the ledger is gone, and
#      `ferry status --json` shows the copy per table (rows, bytes, rate);
#   c. old stopped while `ferry run --until cutover` is in its soak, and
#      started once the run says that it cannot read the lag (its sessions
#      to old die, and PostgreSQL counts an apply error, which it keeps
#      counting after the stream is past it): the run waits for the
#      server, saying so, goes on, and moves a row written after it.
set -eu
ferry=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib.sh"
. "$here/./lib.sh" # fail, show, run_ferry, keep_top, plan_*
PG_OLD_PORT=16320 PG_NEW_PORT=16321 PG_REPL_PORT=16322 PGB_OLD_PORT=16330 PGB_NEW_PORT=16331
. "$here/../pg/cluster.sh"
set -eu

top=$(mktemp -d /tmp/ferry-dbcopy.XXXXXX)
chmod 755 "$top"
srv=$top/srv
mkdir "$srv"
cleanup() {
	rc=$?
	[ $rc = 0 ] || log_errors "ERROR|FATAL|PANIC" 15 "$srv"/*.log
	cluster_stop "$srv"
	rm -rf "$top"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM
step=setup
sql() { # sql old|new SQL
	case $1 in old) p=$PG_OLD_PORT ;; new) p=$PG_NEW_PORT ;; esac
	asuser $PGBIN/psql -X -q -At -v ON_ERROR_STOP=1 -h "$srv" -p "$p" -d shop -c "$2"
}

cluster_start "$srv" || fail "cannot start the servers"
asuser $PGBIN/psql -X -q -v ON_ERROR_STOP=1 -h "$srv" -p "$PG_OLD_PORT" -U app -d shop >/dev/null <<'SQL'
CREATE TABLE events (id bigserial PRIMARY KEY, kind int NOT NULL, body text NOT NULL);
CREATE INDEX events_kind ON events (kind);
INSERT INTO events (kind, body) SELECT g % 13, md5(g::text) || repeat('e', 150)
	FROM generate_series(1, 60000) g;
CREATE TABLE customers (id int PRIMARY KEY, name text);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 5000) g;
CREATE TABLE notes (id int PRIMARY KEY, customer int REFERENCES customers (id), note text);
INSERT INTO notes SELECT g, 1 + g % 5000, md5(g::text) FROM generate_series(1, 3000) g;
CREATE TABLE tags (id int PRIMARY KEY, tag text);
INSERT INTO tags SELECT g, 't' || g FROM generate_series(1, 1000) g;
ANALYZE events, customers, notes, tags;
SQL

write_plan() { # write_plan FILE SOAK [WINDOW_LINE]
	cat >"$1" <<YAML
name: dbcopy
hosts:
  old: { address: 127.0.0.1 }
  new: { address: 127.0.0.2 }
databases:
  - name: main
    engine: postgresql
    source: "host=127.0.0.1 port=$PG_OLD_PORT dbname=shop user=ferry"
    target: "host=127.0.0.1 port=$PG_NEW_PORT dbname=shop user=ferry"
    password: { file: $srv/ferry.pw }
    initial_copy: parallel
    copy_jobs: 1
$(plan_pgbouncer_switch "$srv")
rollback: { waiver: "a test run: its cutover is what is tested, not a production one" }
schedule:
  replication_soak: $2
  validation: 1s
  monitor: 2s
${3:-}
YAML
}
repl_objects() {
	echo "old pub=$(sql old 'SELECT count(*) FROM pg_publication') slot=$(sql old 'SELECT count(*) FROM pg_replication_slots')"
	echo "new sub=$(sql new 'SELECT count(*) FROM pg_subscription') tables=$(sql new "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")"
}

# --- a. the copy-time gate ---------------------------------------------------
step=a
mkdir "$top/a"
h=$(date -u +%H)
h=${h#0}
write_plan "$top/a/p.yaml" 30d "$(printf '  cutover_window: { from: "%02d:00", to: "%02d:00" }' \
	$(((h + 2) % 24)) $(((h + 3) % 24)))"
run_ferry a.run "$ferry" run "$top/a/p.yaml" --until replicate
[ $rc = 1 ] || { show "$top/a.run"; fail "run with a soak past the window: exit $rc, want 1"; }
grep -q 'refused: initial sync about .* + soak 30d.* end .*, after the next cutover window' "$top/a.run" ||
	{ show "$top/a.run"; fail "the refusal does not give the numbers"; }
[ "$(repl_objects)" = "old pub=0 slot=0
new sub=0 tables=0" ] || { repl_objects; fail "something was created although the gate refused"; }
echo "db_copy_cli: a ok (copy-time gate)"

# --- b. kill -9 in the middle of the copy, then resume ----------------------
step=b
write_plan "$top/p.yaml" 2s
run_ferry b1.run env FERRY_CRASH_AT=pgcopy_part:3 FERRY_PGCOPY_PART_BYTES=4000000 \
	"$ferry" run "$top/p.yaml" --until replicate
[ $rc = 137 ] || { show "$top/b1.run"; fail "the crashed run: exit $rc, want 137"; }
ledger=$top/p.ferry.db.copy-main
[ -f "$ledger" ] || { ls -la "$top"; fail "no copy ledger beside the journal"; }
[ "$(grep -c '^done' "$ledger")" = 3 ] || { cat "$ledger"; fail "the ledger does not hold 3 parts"; }
# the tables the ledger names whole: every part of theirs is there
whole=$(awk -F'\t' '$1 == "done" { n[$2]++; want[$2] = $4 } END { for (t in n) if (n[t] == want[t]) print t }' "$ledger")
[ -n "$whole" ] || { cat "$ledger"; fail "no table is whole after the crash"; }
for t in $whole; do
	echo "$t $(sql new "SELECT min(xmin::text::bigint) FROM $t")"
done >"$top/xmin.before"
run_ferry b2.run "$ferry" run "$top/p.yaml" --until replicate
[ $rc = 0 ] || { show "$top/b2.run"; fail "the resumed run: exit $rc, want 0"; }
# the tables that were not whole went to the table sync, which finished
[ "$(sql new "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate = 'r'")" = 4 ] ||
	fail "not every table streams after the resumed copy"
[ "$(sql old "SELECT count(*) FROM pg_publication_tables WHERE pubname = 'ferry_pub'")" = 4 ] ||
	fail "the publication does not list the 4 tables"
[ ! -f "$ledger" ] || fail "the ledger is left after the copy"
while read -r t x; do
	[ "$(sql new "SELECT min(xmin::text::bigint) FROM $t")" = "$x" ] ||
		fail "table $t was copied again after the crash"
done <"$top/xmin.before"
for t in events customers notes tags; do
	[ "$(sql old "SELECT count(*) FROM $t")" = "$(sql new "SELECT count(*) FROM $t")" ] ||
		fail "table $t: $(sql old "SELECT count(*) FROM $t") rows on old, $(sql new "SELECT count(*) FROM $t") on new"
done
[ "$(sql new "SELECT count(*) FROM pg_indexes WHERE indexname = 'events_kind'")" = 1 ] ||
	fail "the index was not built on new"
"$ferry" status "$top/p.yaml" --json >"$top/status.json" || fail "status exit $?"
jq -e '.initial_sync.main | length == 4' "$top/status.json" >/dev/null ||
	{ show "$top/status.json"; fail "status --json has no initial sync per table"; }
jq -e '.initial_sync.main[0] | has("rows") and has("rate") and has("eta_ms")' \
	"$top/status.json" >/dev/null || { show "$top/status.json"; fail "no rows/rate/eta per table"; }
! grep -aqF "$(cat "$srv/ferry.pw")" "$top"/*.run "$top/status.json" "$top"/p.ferry.db* ||
	fail "the password reached an output"
echo "db_copy_cli: b ok (resumed after kill -9; whole tables: $(echo $whole))"

# --- c. old stops and starts in the middle of the soak ----------------------
step=c
sed -i 's/replication_soak: 2s/replication_soak: 10s/' "$top/p.yaml"
apply_errors() { sql new "SELECT sum(apply_error_count) FROM pg_stat_subscription_stats"; }
before=$(apply_errors)
"$ferry" run "$top/p.yaml" --until cutover --heartbeat 1s >"$top/c.run" 2>&1 &
pid=$!
in_soak() { grep -q ': soak, lag' "$top/c.run"; }
wait_for 120 in_soak || { kill "$pid"; show "$top/c.run"; fail "the run never reached the soak"; }
# down long enough for the soak to find it so (it reads every second),
# then back: the run must wait for it, saying so, and go on
asuser $PGBIN/pg_ctl -D "$srv/old" -m fast -w stop >/dev/null || fail "cannot stop old"
said_wait() { grep -q 'cannot read the lag' "$top/c.run"; }
wait_for 30 said_wait || { show "$top/c.run"; fail "the soak did not say that old cannot be read"; }
asuser $PGBIN/pg_ctl -D "$srv/old" -w start -l "$srv/old.log" >/dev/null || fail "cannot start old"
errors_grew() { [ "$(apply_errors)" -gt "$before" ]; }
wait_for 30 errors_grew || fail "restarting old counted no apply error on new"
counted=$(apply_errors)
sql old "INSERT INTO customers VALUES (900001, 'after the restart')"
set +e
wait "$pid"
rc=$?
set -e
[ $rc = 0 ] || { show "$top/c.run"; fail "the run whose soak saw old restart: exit $rc, want 0"; }
grep -q "port=$PG_NEW_PORT" "$srv/pgb_old.db.ini" || fail "the pooler does not point at new"
[ "$(sql new "SELECT count(*) FROM customers WHERE id = 900001")" = 1 ] ||
	fail "the row written after the restart is not on new"
! grep -aqF "$(cat "$srv/ferry.pw")" "$top/c.run" || fail "the password reached the run's output"
echo "db_copy_cli: c ok (old stopped and started in the soak: apply errors $before -> $counted; said: $(grep -Eo 'cannot read the lag|apply errors counted' "$top/c.run" | sort -u | paste -sd, -); the cutover went on)"
