#!/bin/sh
# redis_switch_cli.sh FERRY DB_WRITER - the Redis switch through the real
# command line, against real servers on 127.0.0.1 (ports 16130-16144):
# redis old 16130 and new 16131 (requirepass, an ACL user "ferry"), two
# HAProxy TCP frontends in front of them (the old host's 16132, API 16133;
# the new host's 16134, API 16135), and for part b two PostgreSQL 15
# clusters (16140, 16141) with two pgbouncers (16143, 16144)
# (tests/integration/pg/cluster.sh).
#
#   a. a Redis-only plan (switch via haproxy), under a write load through
#      the old host's frontend (redis-cli, one connection per write: a
#      client that reconnects; a ledger of acknowledged writes):
#      `ferry run --until cutover` switches to new: both HAProxies at new,
#      new the master, old its linked replica, the output says the way
#      back resynced partially, every acknowledged write on new.  Then
#      `ferry rollback`: both HAProxies at old, old the master, new its
#      replica, resync=partial again, every acknowledged write on old,
#      `ferry status` back at replicate.
#   c. the way back made a full resync: `ferry run --until cutover` with
#      the start of the way back failing (FERRY_FAIL_AT=db.start_reverse),
#      then a write forced on old by hand (REPLICAOF NO ONE, SET,
#      REPLICAOF new: a full resync that erases it); the next `ferry run`
#      retries the way back and fails it naming the FULL resync, and
#      `ferry status --json` raises the way-back alarm.
#   b. one plan with the Redis database and a PostgreSQL one (through the
#      pgbouncers), each under its own write load: `ferry run` to the end
#      moves both in one write pause, 0 lost on either, replication torn
#      down on both.
# Every wait polls a condition with a deadline.
set -eu
ferry=$1
dbwriter=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib.sh"
. "$here/./lib.sh" # fail, show, run_ferry, keep_top, plan_*
. "$here/../redis/servers.sh"
PG_OLD_PORT=16140 PG_NEW_PORT=16141 PG_REPL_PORT=16142 PGB_OLD_PORT=16143 PGB_NEW_PORT=16144
. "$here/../pg/cluster.sh"
set -eu
redis_require
require_tools redis_switch_cli.sh haproxy

top=$(mktemp -d /tmp/ferry-redisswcli.XXXXXX)
chmod 755 "$top"
srv=
writer_pid=
pgwriter_pid=
cleanup() {
	rc=$?
	[ -n "$writer_pid" ] && stop_pid "$writer_pid"
	[ -n "$pgwriter_pid" ] && stop_pid "$pgwriter_pid"
	hap_stop "$top" hap_old hap_new
	redis_stop_all "$top"
	[ -n "$srv" ] && cluster_stop "$srv"
	[ $rc = 0 ] || log_errors '' 8 "$top"/*/log
	keep_top "${FERRY_REDISSWCLI_KEEP:-}"
	rm -rf "$top"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM
step=setup

secret=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$secret" >"$top/redis.pw"
chmod 600 "$top/redis.pw"
export REDISCLI_AUTH="$secret"
rs() { # rs PORT CMD...: the test's own client (the password in the environment)
	_p=$1
	shift
	redis-cli --no-auth-warning --user ferry -p "$_p" "$@"
}
field() { sed -n "s/^$1:\([^[:space:]]*\).*/\1/p"; }

fresh_redis() { # fresh_redis: both servers (again), empty; the HAProxies at old
	hap_stop "$top" hap_old hap_new
	redis_stop_all "$top"
	rm -rf "$top/old" "$top/new" "$top"/*.pid
	for s in old:16130 new:16131; do
		redis_start "$top" "${s%%:*}" "${s#*:}" --requirepass "$secret" \
			--user ferry on ">$secret" '~*' '&*' '+@all' || fail "cannot start redis ${s%%:*}"
	done
	hap_tcp_start "$top" hap_old 16132 16133 cache 16130 || fail "cannot start haproxy"
	hap_tcp_start "$top" hap_new 16134 16135 cache 16130 || fail "cannot start haproxy"
}
hap_port() { hap_server_port "$1" cache; } # hap_port API_PORT: where cache/db points

redis_block() { # the plan's Redis database (YAML, indented for databases:)
	cat <<YAML
  - name: cache
    engine: redis
    source: "redis://ferry@127.0.0.1:16130"
    target: "redis://ferry@127.0.0.1:16131"
    password: { file: $top/redis.pw }
    pause_budget: 2s
    switch:
      via: haproxy
      admin: { old: "127.0.0.1:16133", new: "127.0.0.1:16135" }
      backend: cache
      server: db
YAML
}

# --- the Redis write load: redis-cli through the old host's frontend ----------
writer_start() { # writer_start LEDGER
	ledger=$1
	: >"$ledger"
	(
		i=1
		while :; do
			if [ "$(rs 16132 SET "ledger:$i" "$i" 2>/dev/null)" = OK ]; then
				echo "$i" >>"$ledger"
				i=$((i + 1))
			fi
		done
	) &
	writer_pid=$!
}
acks() { wc -l <"$ledger"; }
acks_at_least() { [ "$(acks)" -ge "$1" ]; }
writer_stop() {
	stop_pid "$writer_pid"
	writer_pid=
}
lost_on() { # lost_on PORT: acknowledged writes missing there
	for i in $(cat "$ledger"); do
		echo "EXISTS ledger:$i"
	done | rs "$1" | grep -c '^0' || true
}
linked() { # linked REPLICA_PORT MASTER_PORT
	_i=$(rs "$1" INFO replication)
	[ "$(echo "$_i" | field role)" = slave ] &&
		[ "$(echo "$_i" | field master_port)" = "$2" ] &&
		[ "$(echo "$_i" | field master_link_status)" = up ]
}
synced() { # synced MASTER_PORT REPLICA_PORT
	[ "$(rs "$1" INFO replication | field master_repl_offset)" = \
		"$(rs "$2" INFO replication | field slave_repl_offset)" ]
}
writer_alive() {
	_n=$(acks)
	wait_for 30 acks_at_least $((_n + 20)) || fail "the writer stopped writing"
}

# --- a. a Redis-only plan: the cutover, then the rollback ---------------------
step=a
fresh_redis
mkdir "$top/a"
cat >"$top/a/p.yaml" <<YAML
name: cacheswitch
hosts:
  old: { address: 127.0.0.1 }
  new: { address: 127.0.0.2 }
databases:
$(redis_block)
$(plan_test_end 1h)
YAML
rs 16130 SET seed:1 one >/dev/null
writer_start "$top/a/ledger"
wait_for 30 acks_at_least 20 || fail "the writer does not write through HAProxy"
run_ferry a/run.out "$ferry" run "$top/a/p.yaml" --until cutover
[ $rc = 0 ] || { show "$top/a/run.out"; fail "ferry run --until cutover exit $rc, want 0"; }
for ph in prepare replicate validate cutover; do
	grep -q "^$ph: gate holds; phase complete" "$top/a/run.out" || { show "$top/a/run.out"; fail "phase $ph did not complete"; }
done
grep -q 'switched to the new database; write pause' "$top/a/run.out" || { show "$top/a/run.out"; fail "no switch said"; }
grep -q 'the way back: resync=partial' "$top/a/run.out" || { show "$top/a/run.out"; fail "the way back was not said to be a partial resync"; }
pause_a=$(sed -n 's/.*switched to the new database; write pause \([0-9.]*\) ms.*/\1/p' "$top/a/run.out")
for api in 16133 16135; do
	[ "$(hap_port $api)" = 16131 ] || fail "the HAProxy on $api points at $(hap_port $api), not at new"
done
[ "$(rs 16131 INFO replication | field role)" = master ] || fail "new is not the master"
wait_for 20 linked 16130 16131 || fail "old is not a linked replica of new"
writer_alive
[ "$(rs 16130 SET late 1 2>&1 | cut -c1-8)" = READONLY ] || fail "old takes writes after the cutover"
wait_for 20 synced 16131 16130 || fail "old does not follow new"
n_cut=$(acks)
lost=$(lost_on 16131)
[ "$lost" = 0 ] || fail "$lost acknowledged writes are missing on new"
[ "$(rs 16131 GET seed:1)" = one ] || fail "the seed key is not on new"
echo "redis_switch_cli: a cutover ok ($n_cut acknowledged writes, 0 lost; write pause $pause_a ms)"

run_ferry a/rollback.out "$ferry" rollback "$top/a/p.yaml"
[ $rc = 0 ] || { show "$top/a/rollback.out"; fail "ferry rollback exit $rc, want 0"; }
grep -q 'switched back to the old database; write pause' "$top/a/rollback.out" || { show "$top/a/rollback.out"; fail "no switch back said"; }
grep -q 'the way back: resync=partial' "$top/a/rollback.out" || { show "$top/a/rollback.out"; fail "the rollback's way back was not a partial resync"; }
pause_r=$(sed -n 's/.*switched back to the old database; write pause \([0-9.]*\) ms.*/\1/p' "$top/a/rollback.out")
for api in 16133 16135; do
	[ "$(hap_port $api)" = 16130 ] || fail "after the rollback the HAProxy on $api points at $(hap_port $api), not at old"
done
[ "$(rs 16130 INFO replication | field role)" = master ] || fail "old is not the master after the rollback"
wait_for 20 linked 16131 16130 || fail "new is not a linked replica of old after the rollback"
writer_alive
writer_stop
wait_for 20 synced 16130 16131 || fail "new does not follow old"
lost=$(lost_on 16130)
[ "$lost" = 0 ] || fail "$lost acknowledged writes are missing on old after the rollback"
"$ferry" status "$top/a/p.yaml" --json >"$top/a/status.json" 2>&1 || fail "status exit $?"
[ "$(jq -r .phase "$top/a/status.json")" = replicate ] || { show "$top/a/status.json"; fail "status after the rollback: not at replicate"; }
for f in "$top"/a/*.out "$top"/a/status.json "$top"/a/p.ferry.db*; do
	! grep -aqF "$secret" "$f" || fail "the password reached $f"
done
echo "redis_switch_cli: a rollback ok ($(acks) acknowledged writes, 0 lost; write pause $pause_r ms)"

# --- c. a full resync on the way back is seen -----------------------------------
step=c
fresh_redis
mkdir "$top/c"
sed 's/^name: cacheswitch/name: cachefull/' "$top/a/p.yaml" >"$top/c/p.yaml"
writer_start "$top/c/ledger"
wait_for 30 acks_at_least 20 || fail "the writer does not write through HAProxy"
run_ferry c/run.out env FERRY_FAIL_AT=db.start_reverse "$ferry" run "$top/c/p.yaml" --until cutover
grep -q 'switched to the new database; write pause' "$top/c/run.out" || { show "$top/c/run.out"; fail "no switch (exit $rc)"; }
grep -q 'db.start_reverse failed' "$top/c/run.out" || { show "$top/c/run.out"; fail "the injected failure of start_reverse was not said"; }
writer_alive
writer_stop
rs 16130 REPLICAOF NO ONE >/dev/null
rs 16130 CLIENT UNPAUSE >/dev/null
rs 16130 SET late write >/dev/null
rs 16130 REPLICAOF 127.0.0.1 16131 >/dev/null
wait_for 20 linked 16130 16131 || fail "old does not come back as new's replica"
[ -z "$(rs 16130 GET late)" ] || fail "the full resync kept old's late write: not a full resync"
run_ferry c/retry.out "$ferry" run "$top/c/p.yaml" --until cutover
grep -q 'FULL resync' "$top/c/retry.out" || { show "$top/c/retry.out"; fail "the retry does not name the full resync (exit $rc)"; }
"$ferry" status "$top/c/p.yaml" --json >"$top/c/status.json" 2>&1 || true
jq -e '.way_back.cache.reverse_started == false and .way_back.cache.alarm == true' "$top/c/status.json" >/dev/null ||
	{ show "$top/c/status.json"; fail "status does not raise the way-back alarm"; }
echo "redis_switch_cli: c ok (a full resync on the way back fails the step, seen again by the next run and by status)"

# --- b. Redis and PostgreSQL in one plan, to the end --------------------------
step=b
fresh_redis
srv=$(mktemp -d "$top/srv.XXXXXX")
cluster_start "$srv" || { tail -n 20 "$srv"/*.log; fail "cannot start the PostgreSQL servers"; }
asuser $PGBIN/psql -X -q -v ON_ERROR_STOP=1 -h "$srv" -p "$PG_OLD_PORT" -U app -d shop >/dev/null <<'SQL'
CREATE TABLE orders (id bigserial PRIMARY KEY, ledger bigint NOT NULL UNIQUE,
	note text, at timestamptz DEFAULT now());
SQL
mkdir "$top/b"
cat >"$top/b/p.yaml" <<YAML
name: both
hosts:
  old: { address: 127.0.0.1 }
  new: { address: 127.0.0.2 }
databases:
  - name: main
    engine: postgresql
    source: "host=127.0.0.1 port=$PG_OLD_PORT dbname=shop user=ferry"
    target: "host=127.0.0.1 port=$PG_NEW_PORT dbname=shop user=ferry"
    password: { file: $srv/ferry.pw }
    pause_budget: 5s
$(plan_pgbouncer_switch "$srv")
$(redis_block)
$(plan_test_end 2s)
YAML
writer_start "$top/b/ledger"
"$dbwriter" "host=127.0.0.1 port=$PGB_OLD_PORT dbname=shop user=app connect_timeout=5" 50 "$top/b/pgledger" &
pgwriter_pid=$!
pg_acks_at_least() { [ "$(cat "$top/b/pgledger.count" 2>/dev/null || echo 0)" -ge "$1" ]; }
wait_for 30 acks_at_least 20 || fail "the Redis writer does not write"
wait_for 30 pg_acks_at_least 20 || fail "the PostgreSQL writer does not write"
run_ferry b/run.out "$ferry" run "$top/b/p.yaml"
[ $rc = 0 ] || { show "$top/b/run.out"; fail "ferry run exit $rc, want 0"; }
for ph in prepare replicate validate cutover decommission; do
	grep -q "^$ph: gate holds; phase complete" "$top/b/run.out" || { show "$top/b/run.out"; fail "phase $ph did not complete"; }
done
# one write pause for both: the same number said for each database
pm=$(sed -n 's/^main: switched to the new database; write pause \([0-9.]*\) ms.*/\1/p' "$top/b/run.out")
pc=$(sed -n 's/^cache: switched to the new database; write pause \([0-9.]*\) ms.*/\1/p' "$top/b/run.out")
[ -n "$pm" ] && [ "$pm" = "$pc" ] || { show "$top/b/run.out"; fail "not one switch for both databases (main '$pm' ms, cache '$pc' ms)"; }
grep -q '^cache: the way back: resync=partial' "$top/b/run.out" || { show "$top/b/run.out"; fail "no partial resync said for cache"; }
writer_alive
n=$(cat "$top/b/pgledger.count")
wait_for 30 pg_acks_at_least $((n + 20)) || fail "the PostgreSQL writer stopped"
writer_stop
kill "$pgwriter_pid"
wait "$pgwriter_pid" || fail "the PostgreSQL writer exit $?"
pgwriter_pid=
for api in 16133 16135; do
	[ "$(hap_port $api)" = 16131 ] || fail "the HAProxy on $api does not point at new"
done
# decommission: no replication left on Redis (both masters) nor PostgreSQL
[ "$(rs 16130 INFO replication | field role)" = master ] || fail "old still replicates from new after the decommission"
[ "$(rs 16131 INFO replication | field role)" = master ] || fail "new is not a master"
lost=$(lost_on 16131)
[ "$lost" = 0 ] || fail "$lost acknowledged Redis writes are missing on new"
pglost=$(ledger_missing "$top/b/pgledger" asuser $PGBIN/psql -X -q -At -h "$srv" -p "$PG_NEW_PORT" \
	-d shop -c "SELECT ledger || ' ' || id FROM orders WHERE ledger > 0")
[ "$pglost" = 0 ] || fail "$pglost acknowledged PostgreSQL writes are missing on new"
"$ferry" status "$top/b/p.yaml" --json >"$top/b/status.json" 2>&1 || fail "status exit $?"
[ "$(jq -r .phase "$top/b/status.json")" = done ] || { show "$top/b/status.json"; fail "status not done"; }
for f in "$top"/b/*.out "$top"/b/status.json "$top"/b/p.ferry.db*; do
	! grep -aqF "$secret" "$f" || fail "the Redis password reached $f"
	! grep -aqF "$(cat "$srv/ferry.pw")" "$f" || fail "the PostgreSQL password reached $f"
done
echo "redis_switch_cli: b ok (Redis $(acks) and PostgreSQL $(grep -vc '^#' "$top/b/pgledger") acknowledged writes, 0 lost; one write pause of $pm ms)"
