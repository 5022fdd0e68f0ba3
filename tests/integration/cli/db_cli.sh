#!/bin/sh
# db_cli.sh FERRY DB_WRITER - a database-only plan (no DNS, no load
# balancer, no host checks) through the real command line against real
# servers: two PostgreSQL 15 clusters and two pgbouncers on 127.0.0.1
# (ports 15901-15911, tests/integration/pg/cluster.sh), the poolers'
# [databases] include files owned by ferry.
#
#   a. `ferry check` lists the database readiness rows; a source table
#      without a primary key fails `ferry check` and `ferry run --until
#      replicate` (exit 1), naming the table, and nothing is created.
#   b. under a write load through the old pgbouncer (db_writer, which keeps
#      a ledger of acknowledged writes), `ferry run` goes through the five
#      phases; then both poolers point at new and none is paused, no
#      publication, slot or subscription is left, every acknowledged write
#      is on new, the sequences on new are past old's values, `ferry status
#      --json` says done and `ferry report` writes the page.
#   d. (fresh servers) `ferry run --dry-run` changes nothing.
#   c. `FERRY_CRASH_AT=db.fence ferry run` dies (137) inside the
#      write pause; the next `ferry run` completes: no pooler left paused,
#      0 lost writes.
# Every wait polls a condition with a deadline; the schedule is compressed
# (soak 2s, validation 1s, monitor 2s, rollback window 2s).
set -eu
ferry=$1
writer=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib.sh"
. "$here/./lib.sh" # fail, show, run_ferry, keep_top, plan_*
PG_OLD_PORT=15901 PG_NEW_PORT=15902 PG_REPL_PORT=15903 PGB_OLD_PORT=15910 PGB_NEW_PORT=15911
. "$here/../pg/cluster.sh"
set -eu

top=$(mktemp -d /tmp/ferry-dbcli.XXXXXX)
chmod 755 "$top"
srv=             # the current servers' folder (cluster.sh)
writer_pid=
cleanup() {
	rc=$?
	[ -n "$writer_pid" ] && stop_pid "$writer_pid"
	if [ $rc != 0 ] && [ -n "$srv" ] && [ -d "$srv" ]; then
		echo "--- server logs (errors)"
		log_errors "ERROR|FATAL|PANIC" 15 "$srv"/*.log
	fi
	[ -n "$srv" ] && cluster_stop "$srv"
	# FERRY_DBCLI_KEEP=DIR keeps ferry's outputs, journals and ledgers there
	keep_top "${FERRY_DBCLI_KEEP:-}"
	rm -rf "$top"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM
step=setup

# --- the servers -----------------------------------------------------------

sql() { # sql old|new DB SQL: one value per line, as postgres on the socket
	case $1 in old) p=$PG_OLD_PORT ;; new) p=$PG_NEW_PORT ;; esac
	asuser $PGBIN/psql -X -q -At -v ON_ERROR_STOP=1 -h "$srv" -p "$p" -d "$2" -c "$3"
}

fresh_servers() { # stops the current servers, starts fresh ones, seeds old
	[ -n "$srv" ] && cluster_stop "$srv"
	srv=$(mktemp -d "$top/srv.XXXXXX")
	cluster_start "$srv" || {
		tail -n 20 "$srv"/*.log
		fail "cannot start the servers"
	}
	# The application's tables belong to app, as in real life: the schema
	# copy must carry owners or app's first write on new is refused.
	asuser $PGBIN/psql -X -q -v ON_ERROR_STOP=1 -h "$srv" -p "$PG_OLD_PORT" -U app -d shop >/dev/null <<'SQL'
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id bigserial PRIMARY KEY, ledger bigint NOT NULL UNIQUE,
	note text, customer int REFERENCES customers (id), at timestamptz DEFAULT now());
CREATE TABLE order_items (order_id bigint REFERENCES orders (id), line int,
	sku text NOT NULL, qty int NOT NULL, PRIMARY KEY (order_id, line));
CREATE SEQUENCE invoice_no START 5000;
INSERT INTO customers (name) SELECT 'customer ' || i FROM generate_series(1, 50) i;
-- seeded orders have negative ledger ids; the writer's start at 1
INSERT INTO orders (ledger, note, customer)
	SELECT -i, 'seed', 1 + i % 50 FROM generate_series(1, 500) i;
INSERT INTO order_items SELECT id, l, 'sku-' || l, l FROM orders, generate_series(1, 2) l;
SELECT setval('invoice_no', 6000);
SQL
}

repl_objects() { # publications, slots and subscriptions on both sides
	for side in old new; do
		printf '%s pub=%s slot=%s sub=%s\n' $side \
			"$(sql $side shop 'SELECT count(*) FROM pg_publication')" \
			"$(sql $side shop 'SELECT count(*) FROM pg_replication_slots')" \
			"$(sql $side shop 'SELECT count(*) FROM pg_subscription')"
	done
}
no_repl_objects() {
	[ "$(repl_objects)" = "old pub=0 slot=0 sub=0
new pub=0 slot=0 sub=0" ]
}

pooler() { # pooler old|new ADMIN_COMMAND: CSV with a header
	case $1 in old) p=$PGB_OLD_PORT ;; new) p=$PGB_NEW_PORT ;; esac
	asuser $PGBIN/psql -X -q --csv -h 127.0.0.1 -p "$p" -U ferry -d pgbouncer -c "$2"
}
shop_col() { # shop_col old|new COLUMN: SHOW DATABASES's COLUMN of shop
	pooler "$1" "SHOW DATABASES" | awk -F, -v c="$2" '
		NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; next }
		$1 == "shop" { print $k }'
}

# --- the write load --------------------------------------------------------

writer_start() { # writer_start LEDGER: 50 writes/s through the old pooler
	"$writer" "host=127.0.0.1 port=$PGB_OLD_PORT dbname=shop user=app connect_timeout=5" 50 "$1" &
	writer_pid=$!
	ledger=$1
}
acks() { cat "$ledger.count" 2>/dev/null || echo 0; }
acks_at_least() { [ "$(acks)" -ge "$1" ]; }
writer_stop() {
	kill "$writer_pid"
	wait "$writer_pid" || fail "the writer exit $?"
	writer_pid=
}
lost_writes() { # every acknowledged (ledger, id) must be on new
	ledger_missing "$ledger" sql new shop "SELECT ledger || ' ' || id FROM orders WHERE ledger > 0"
}

write_plan() { # write_plan FILE SOURCE_DB
	cat >"$1" <<YAML
name: dbonly
hosts:
  # No exec: this machine, where the poolers' include files are written.
  # The addresses are only what host checks reach (no DNS moves here).
  old: { address: 127.0.0.1 }
  new: { address: 127.0.0.2 }
databases:
  - name: main
    engine: postgresql
    source: "host=127.0.0.1 port=$PG_OLD_PORT dbname=$2 user=ferry"
    target: "host=127.0.0.1 port=$PG_NEW_PORT dbname=$2 user=ferry"
    password: { file: $srv/ferry.pw }
    pause_budget: 5s
$(plan_pgbouncer_switch "$srv")
$(plan_test_end 2s)
YAML
}

no_secret() { # no_secret SECRET FILE...: the password is in none of them
	_s=$1
	shift
	for _f in "$@"; do
		[ -f "$_f" ] || fail "no_secret: $_f is missing"
		! grep -aqF "$_s" "$_f" || fail "the password reached $_f"
	done
}


fresh_servers
secret=$(cat "$srv/ferry.pw")

# --- a. readiness ----------------------------------------------------------
step=a
write_plan "$top/p.yaml" shop
run_ferry check.txt "$ferry" check "$top/p.yaml"
[ $rc = 0 ] || { show "$top/check.txt"; fail "ferry check exit $rc, want 0"; }
for row in 'old wal_level' 'new wal_level' 'old role' 'replica identity' 'roles' 'target empty' 'direct sessions'; do
	grep -Eq "^ok +db +main $row " "$top/check.txt" || { show "$top/check.txt"; fail "no passing readiness row '$row'"; }
done
"$ferry" check "$top/p.yaml" --json >"$top/check.json" 2>&1 || fail "check --json exit $?"
jq -e '.ok == true' "$top/check.json" >/dev/null || { show "$top/check.json"; fail "check --json not ok"; }
grep -q 'replica identity' "$top/check.json" || fail "check --json has no database rows"

# A second database whose table has no primary key: logical replication
# cannot carry its UPDATEs and DELETEs.
sql old postgres "CREATE DATABASE nopk" >/dev/null
sql new postgres "CREATE DATABASE nopk" >/dev/null
sql old nopk "CREATE TABLE audit_trail (at timestamptz, msg text);
	INSERT INTO audit_trail VALUES (now(), 'one')" >/dev/null
mkdir "$top/nopk"
write_plan "$top/nopk/p.yaml" nopk
run_ferry nopk.check "$ferry" check "$top/nopk/p.yaml"
[ $rc = 1 ] || { show "$top/nopk.check"; fail "check with a table without a key: exit $rc, want 1"; }
grep -Eq '^fail +db +main replica identity .*public\.audit_trail' "$top/nopk.check" ||
	{ show "$top/nopk.check"; fail "the replica identity row does not fail naming the table"; }
before=$(repl_objects)
run_ferry nopk.run "$ferry" run "$top/nopk/p.yaml" --until replicate
[ $rc = 1 ] || { show "$top/nopk.run"; fail "run --until replicate: exit $rc, want 1"; }
grep -q 'audit_trail' "$top/nopk.run" || { show "$top/nopk.run"; fail "the run does not name the table"; }
[ "$(sql old nopk 'SELECT count(*) FROM pg_publication')" = 0 ] || fail "a publication was created on nopk"
no_repl_objects || { repl_objects; fail "replication objects were created"; }
[ "$(repl_objects)" = "$before" ] || fail "replication objects changed"
[ "$(sql new nopk "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" = 0 ] ||
	fail "the schema was copied to new although the source is not ready"
echo "db_cli: a ok (readiness)"

# --- b. the whole run under load -------------------------------------------
step=b
writer_start "$top/ledger.b"
wait_for 30 acks_at_least 50 || fail "the writer does not write through the old pooler"
run_ferry run.b "$ferry" run "$top/p.yaml"
[ $rc = 0 ] || { show "$top/run.b"; fail "ferry run exit $rc, want 0"; }
for ph in prepare replicate validate cutover decommission; do
	grep -q "^$ph: gate holds; phase complete" "$top/run.b" || { show "$top/run.b"; fail "phase $ph did not complete"; }
done
grep -q 'migration dbonly complete' "$top/run.b" || fail "the run does not say the migration is complete"
# A plan without dns and traffic touches neither.
! grep -Eiq 'dns|ttl|traffic|haproxy|weight' "$top/run.b" || { show "$top/run.b"; fail "a database-only run spoke of DNS or traffic"; }
pause=$(sed -n 's/.*switched to the new database; write pause \([0-9.]*\) ms.*/\1/p' "$top/run.b")
[ -n "$pause" ] || { show "$top/run.b"; fail "no write pause reported"; }
# Old's sequences as the switch left them (nothing writes to old after it).
sql old shop "SELECT schemaname || '.' || sequencename, coalesce(last_value, 0) FROM pg_sequences ORDER BY 1" |
	tr '|' ' ' >"$top/seq.old"
# Writes still flow after the move, now on new.
n=$(acks)
wait_for 30 acks_at_least $((n + 50)) || fail "no writes after the move"
writer_stop
grep -q '^# errors' "$ledger" || fail "no ledger summary"
for side in old new; do
	[ "$(shop_col $side port)" = "$PG_NEW_PORT" ] || {
		pooler $side "SHOW DATABASES"
		fail "the $side pooler does not point at new"
	}
	[ "$(shop_col $side paused)" = 0 ] || fail "the $side pooler is paused"
done
no_repl_objects || { repl_objects; fail "replication objects left behind"; }
lost=$(lost_writes)
[ "$lost" = 0 ] || fail "$lost acknowledged writes are not on new"
# Sequences: each one on new is at or past where old left it.
[ "$(wc -l <"$top/seq.old")" = 3 ] || fail "old has $(wc -l <"$top/seq.old") sequences, want 3"
while read -r seq oldv; do
	newv=$(sql new shop "SELECT coalesce(last_value, 0) FROM pg_sequences WHERE schemaname || '.' || sequencename = '$seq'")
	[ -n "$newv" ] && [ "$newv" -ge "$oldv" ] || fail "sequence $seq: new at '$newv', old at $oldv"
done <"$top/seq.old"
[ "$(sql new shop 'SELECT last_value FROM invoice_no')" -ge 6000 ] || fail "invoice_no not copied"
old_max=$(sql old shop 'SELECT max(id) FROM orders')
id=$(asuser $PGBIN/psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGB_NEW_PORT" -U app -d shop \
	-c "INSERT INTO orders (ledger, note) VALUES (999999999, 'after') RETURNING id") ||
	fail "an insert through the new pooler after the move failed"
[ "$id" -gt "$old_max" ] || fail "the insert after the move got id $id <= $old_max"
grep -q 'dup 0 ' "$ledger" || fail "the writer met duplicate keys: $(tail -n 1 "$ledger")"
"$ferry" status "$top/p.yaml" --json >"$top/status.json" || fail "status exit $?"
[ "$(jq -r .phase "$top/status.json")" = done ] || { show "$top/status.json"; fail "status phase not done"; }
"$ferry" report "$top/p.yaml" -o "$top/report.html" >"$top/report.out" 2>&1 ||
	{ show "$top/report.out"; fail "report exit $?"; }
grep -qi '<html' "$top/report.html" || fail "the report is not a page"
grep -q 'write pause' "$top/report.html" || fail "the report does not show the write pause"
no_secret "$secret" "$top"/p.ferry.db* "$top"/nopk/p.ferry.db* "$top"/run.b "$top"/nopk.* "$top"/check.* \
	"$top"/status.json "$top"/report.*
echo "db_cli: b ok ($(grep -vc '^#' "$ledger") acknowledged writes, 0 lost; write pause $pause ms; $(tail -n 1 "$ledger" | cut -c3-))"

# --- d. dry runs on fresh servers: at prepare, and at the cutover ---------
# The cutover window opens in three hours, so that the run stops at the
# cutover (exit 75 with --no-wait) and the dry run there shows the switch.
step=d
fresh_servers
secret2=$(cat "$srv/ferry.pw")
rm -f "$top/p.ferry.db"*
write_plan "$top/p.yaml" shop
h=$(date -u +%H)
h=${h#0}
printf '  cutover_window: { from: "%02d:00", to: "%02d:00" }\n' $(((h + 3) % 24)) $(((h + 4) % 24)) \
	>>"$top/p.yaml"
world() { # what a dry run must not change
	repl_objects
	cat "$srv/pgb_old.db.ini" "$srv/pgb_new.db.ini"
	for side in old new; do echo "$side $(shop_col $side port) paused=$(shop_col $side paused)"; done
	sql new shop "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
	sql old shop "SELECT count(*) FROM orders WHERE ledger < 0"
}
dry_run() { # dry_run NAME [OPTION...]: a dry run that changes nothing
	before=$(world)
	_name=$1
	shift
	run_ferry "$_name" "$ferry" run --dry-run "$@" "$top/p.yaml"
	[ $rc = 0 ] || { show "$top/$_name"; fail "run --dry-run ($_name) exit $rc, want 0"; }
	[ "$(world)" = "$before" ] || {
		echo "before: $before"
		echo "after: $(world)"
		fail "the dry run ($_name) changed something"
	}
}
dry_run dry.prepare
no_repl_objects || fail "replication objects after a dry run"
[ "$(sql new shop "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" = 0 ] ||
	fail "the dry run copied the schema"

step=c
writer_start "$top/ledger.c"
wait_for 30 acks_at_least 50 || fail "the writer does not write"
phase_of() { "$ferry" status "$top/p.yaml" --json 2>/dev/null | jq -r .phase; }
at_cutover() { # one --no-wait run; true once it waits at the closed window
	"$ferry" run --no-wait "$top/p.yaml" >>"$top/nowait.c" 2>&1
	r=$?
	[ $r = 75 ] || [ $r = 0 ] || { echo "ferry run --no-wait exit $r" >&2; return 1; }
	[ "$(phase_of)" = cutover ]
}
wait_for 120 at_cutover || { show "$top/nowait.c"; fail "the run did not reach the closed cutover window"; }
grep -qi 'window' "$top/nowait.c" || { show "$top/nowait.c"; fail "the wait does not name the window"; }
[ "$(repl_objects)" = "old pub=1 slot=1 sub=0
new pub=0 slot=0 sub=1" ] || { repl_objects; fail "replication is not set up before the cutover"; }
step=d
# At the closed window the dry run stops at the time gate; with --now it
# shows the switch and the rollback plan.
dry_run dry.window
grep -q 'cutover window' "$top/dry.window" || { show "$top/dry.window"; fail "the dry run does not name the window"; }
dry_run dry.cutover --now "db_cli dry run"
grep -Eiq 'rollback plan' "$top/dry.cutover" || { show "$top/dry.cutover"; fail "the cutover dry run shows no rollback plan"; }
grep -Eiq 'would|switch' "$top/dry.cutover" || { show "$top/dry.cutover"; fail "the cutover dry run names no step"; }
[ "$(shop_col old port)" = "$PG_OLD_PORT" ] || fail "the dry run repointed the old pooler"
echo "db_cli: d ok (dry runs at prepare and at the cutover change nothing)"

step=c
run_ferry crash.c env FERRY_CRASH_AT=db.fence "$ferry" run --now "db_cli crash test" "$top/p.yaml"
[ $rc = 137 ] || { show "$top/crash.c"; fail "FERRY_CRASH_AT=db.fence: exit $rc, want 137"; }
grep -q 'crashing now' "$top/crash.c" || fail "the crash point was not reached"
# Killed inside the write pause: the poolers are still paused, and only the
# next run's recovery can let the writes through again.
[ "$(shop_col old paused)" = 1 ] || fail "the old pooler is not paused after the crash: not inside the pause"
run_ferry resume.c "$ferry" run --now "db_cli crash test" "$top/p.yaml"
[ $rc = 0 ] || { show "$top/resume.c"; fail "the run after the crash exit $rc, want 0"; }
grep -q 'interrupted' "$top/resume.c" || { show "$top/resume.c"; fail "the resumed run did not find the open step"; }
n=$(acks)
wait_for 30 acks_at_least $((n + 50)) || fail "no writes after the recovered move"
writer_stop
for side in old new; do
	[ "$(shop_col $side paused)" = 0 ] || fail "the $side pooler is left paused"
	[ "$(shop_col $side port)" = "$PG_NEW_PORT" ] || fail "the $side pooler does not point at new"
done
no_repl_objects || { repl_objects; fail "replication objects left after the crash"; }
lost=$(lost_writes)
[ "$lost" = 0 ] || fail "$lost acknowledged writes lost across the crash"
grep -q 'dup 0 ' "$ledger" || fail "duplicate keys after the crash: $(tail -n 1 "$ledger")"
[ "$(jq -r .phase "$("$ferry" status "$top/p.yaml" --json >"$top/status.c.json" && echo "$top/status.c.json")")" = done ] ||
	fail "status after the crash and the resume is not done"
pause=$(sed -n 's/.*switched to the new database; write pause \([0-9.]*\) ms.*/\1/p' "$top/resume.c")
echo "db_cli: c ok ($(grep -vc '^#' "$ledger") acknowledged writes, 0 lost; write pause after recovery $pause ms)"

step=secrets
no_secret "$secret2" "$top"/p.ferry.db* "$top"/dry.* "$top"/nowait.c "$top"/crash.c "$top"/resume.c \
	"$top"/status.c.json
echo "db_cli: ok"
