#!/bin/sh
# redis_cli.sh FERRY - a Redis-only plan through the real command line
# against real servers: old on 127.0.0.1:16110 (plain TCP, requirepass and
# an ACL user "ferry"), new on 127.0.0.1:16111 (TLS only, client
# certificates from a test CA), and spare on 16112 (plain TCP).
#
#   a. `ferry check` lists the Redis readiness rows and passes; `--json`
#      says ok.  A target that holds keys fails `ferry check` (new_empty)
#      and `ferry run --until replicate` (exit 1), and is left alone.
#   b. under a write load on old (redis-cli, a ledger of acknowledged
#      writes), `ferry run --until validate` goes through prepare,
#      replicate (readiness, REPLICAOF, the full sync, the soak, key counts)
#      and validate; new then replicates from old, every acknowledged
#      write is on new, `ferry status --json` shows the replicate gates
#      held and the run stopped at validate, and
#      the password is in no output and not in the journal.
#   c. new restarted during replication without its data (an empty
#      master again): ferry killed in the soak, new restarted, and the
#      next `ferry run --until validate` starts the stream again (a full
#      sync), says so, and completes with every acknowledged write.
#   d. the same with new restarted from the snapshot it saved as old's
#      replica (it holds old's keys of then): ferry tells them from foreign
#      keys by the replication id and starts the stream again.
# The switch and the rollback through the command line: redis_switch_cli.sh.
set -eu
ferry=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib.sh"
. "$here/./lib.sh" # fail, show, run_ferry, keep_top, plan_*
. "$here/../redis/servers.sh"
redis_require

top=$(mktemp -d /tmp/ferry-rediscli.XXXXXX)
writer_pid=
cleanup() {
	rc=$?
	[ -n "$writer_pid" ] && stop_pid "$writer_pid"
	redis_stop_all "$top"
	[ $rc = 0 ] || log_errors '' 8 "$top"/*/log
	keep_top "${FERRY_REDISCLI_KEEP:-}"
	rm -rf "$top"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM
step=setup

secret=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$secret" >"$top/ferry.pw"
chmod 600 "$top/ferry.pw"
redis_ca "$top" || fail "cannot make the test CA"
tls=$(redis_tls_args "$top")
# shellcheck disable=SC2086
redis_start "$top" old 16110 --requirepass "$secret" --user ferry on ">$secret" '~*' '&*' '+@all' \
	$tls --tls-replication yes || fail "cannot start old"
# shellcheck disable=SC2086
redis_start "$top" new 0 --tls-port 16111 $tls --requirepass "$secret" || fail "cannot start new"
redis_start "$top" spare 16112 --requirepass "$secret" || fail "cannot start spare"

# the test's own client: the password in the environment, not in argv
export REDISCLI_AUTH="$secret"
rold() { redis-cli --no-auth-warning --user ferry -p 16110 "$@"; }
rnew() {
	redis-cli --no-auth-warning -p 16111 --tls --cacert "$top/ca.crt" --cert "$top/cli.crt" \
		--key "$top/cli.key" "$@"
}
rspare() { redis-cli --no-auth-warning -p 16112 "$@"; }

new_url="rediss://127.0.0.1:16111?ca=$top/ca.crt&cert=$top/cli.crt&key=$top/cli.key"
# the applications' address, as the hook driver reads it (show)
echo 127.0.0.1:16110 >"$top/points-at"
write_plan() { # write_plan FILE TARGET_URL
	cat >"$1" <<YAML
name: cacheonly
hosts:
  old: { address: 127.0.0.1 }
  new: { address: 127.0.0.2 }
databases:
  - name: cache
    engine: redis
    source: "redis://ferry@127.0.0.1:16110"
    target: "$2"
    password: { file: $top/ferry.pw }
    switch:
      via: hook
      point: [sh, -c, "echo \$FERRY_SWITCH_HOST:\$FERRY_SWITCH_PORT >$top/points-at"]
      show: [cat, $top/points-at]
$(plan_test_end 2s)
YAML
}

# --- a. readiness -------------------------------------------------------------
step=a
write_plan "$top/p.yaml" "$new_url"
rold SET seed:1 one >/dev/null
run_ferry check.txt "$ferry" check "$top/p.yaml"
[ $rc = 0 ] || { show "$top/check.txt"; fail "ferry check exit $rc, want 0"; }
for row in version mode roles new_empty memory output_buffer credentials tls clock; do
	grep -Eq "^ok +db +cache $row " "$top/check.txt" ||
		{ show "$top/check.txt"; fail "no passing readiness row '$row'"; }
done
grep -Eq "^warn +db +cache persistence " "$top/check.txt" ||
	{ show "$top/check.txt"; fail "no persistence warning for servers run with --save ''"; }
"$ferry" check "$top/p.yaml" --json >"$top/check.json" 2>&1 || fail "check --json exit $?"
jq -e '.ok == true' "$top/check.json" >/dev/null || { show "$top/check.json"; fail "check --json not ok"; }
jq -e '[.checks[] | select(.object == "cache new_empty")] | length == 1' "$top/check.json" >/dev/null ||
	{ show "$top/check.json"; fail "check --json has no Redis rows"; }

mkdir "$top/full"
write_plan "$top/full/p.yaml" "redis://127.0.0.1:16112"
rspare SET precious 1 >/dev/null
run_ferry full.check "$ferry" check "$top/full/p.yaml"
[ $rc = 1 ] || { show "$top/full.check"; fail "check with a target that holds keys: exit $rc, want 1"; }
grep -Eq '^fail +db +cache new_empty .*1 keys' "$top/full.check" ||
	{ show "$top/full.check"; fail "the new_empty row does not fail"; }
run_ferry full.run "$ferry" run "$top/full/p.yaml" --until replicate
[ $rc = 1 ] || { show "$top/full.run"; fail "run --until replicate: exit $rc, want 1"; }
grep -q 'new_empty' "$top/full.run" || { show "$top/full.run"; fail "the run does not name the check"; }
rspare INFO replication | grep -q '^role:master' || fail "spare was made a replica"
[ "$(rspare GET precious)" = 1 ] || fail "spare lost its key"
echo "redis_cli: a ok (readiness)"

# --- b. replicate and validate under load ---------------------------------------
step=b
ledger=$top/ledger
: >"$ledger"
(
	i=1
	while :; do
		if [ "$(rold SET "ledger:$i" "$i" 2>/dev/null)" = OK ]; then
			echo "$i" >>"$ledger"
			i=$((i + 1))
		fi
	done
) &
writer_pid=$!
acks_at_least() { [ "$(wc -l <"$ledger")" -ge "$1" ]; }
wait_for 30 acks_at_least 20 || fail "the writer does not write to old"
run_ferry run.b "$ferry" run "$top/p.yaml" --until validate
[ $rc = 0 ] || { show "$top/run.b"; fail "ferry run --until validate exit $rc, want 0"; }
for ph in prepare replicate validate; do
	grep -q "^$ph: gate holds; phase complete" "$top/run.b" || { show "$top/run.b"; fail "phase $ph did not complete"; }
done
grep -q "initial sync done" "$top/run.b" || { show "$top/run.b"; fail "no initial sync"; }
acks=$(wc -l <"$ledger")
wait_for 30 acks_at_least $((acks + 20)) || fail "the writer stopped during the run"
stop_pid "$writer_pid"
writer_pid=
rnew INFO replication | grep -q '^role:slave' || fail "new is not a replica"
rnew INFO replication | grep -q '^master_link_status:up' || fail "new's link to old is down"
synced() {
	[ "$(rold INFO replication | sed -n 's/^master_repl_offset:\([0-9]*\).*/\1/p')" = \
		"$(rnew INFO replication | sed -n 's/^slave_repl_offset:\([0-9]*\).*/\1/p')" ]
}
wait_for 10 synced || fail "new does not catch up with old"
lost=0
for i in $(cat "$ledger"); do
	echo "EXISTS ledger:$i"
done | rnew | grep -c '^0' >"$top/lost" || true
lost=$(cat "$top/lost")
[ "$lost" = 0 ] || fail "$lost acknowledged writes are missing on new"
[ "$(rnew GET seed:1)" = one ] || fail "the seed key is not on new"
"$ferry" status "$top/p.yaml" --json >"$top/status.json" 2>&1 || fail "status --json exit $?"
# --until validate stops with validate's gate held: the phase stays validate
jq -e '.phase == "validate"' "$top/status.json" >/dev/null || { show "$top/status.json"; fail "status: not at validate"; }
jq -e '.gates["replicate/row_counts"].ok == true and .gates["replicate/soak"].ok == true' \
	"$top/status.json" >/dev/null || { show "$top/status.json"; fail "status: the replicate gates do not hold"; }
for f in "$top"/check.* "$top"/full.* "$top"/run.b "$top"/status.json "$top"/p.ferry.db*; do
	! grep -aqF "$secret" "$f" || fail "the password reached $f"
done
echo "redis_cli: b ok ($(wc -l <"$ledger") acknowledged writes, 0 lost)"

# --- c. new restarted during replication ---------------------------------------
# restarted KEEP: "empty", without its data (a restart without
# persistence, or a new host): REPLICAOF is forgotten, new is an empty
# master; "snapshot", from the snapshot it saved as old's replica: a
# master again, holding old's keys of then, old's replication id as its
# previous one (redis 7: master_replid2), no write since
restarted() { # restarted NAME KEEP
	rnew REPLICAOF NO ONE >/dev/null
	rnew FLUSHALL >/dev/null
	mkdir "$top/$1"
	write_plan "$top/$1/p.yaml" "$new_url"
	# a soak long enough to stop ferry inside it, after the start step
	sed -i 's/replication_soak: 2s/replication_soak: 8s/' "$top/$1/p.yaml"
	"$ferry" run "$top/$1/p.yaml" --until validate >"$top/$1.first" 2>&1 &
	ferry_pid=$!
	wait_for 30 grep -q "initial sync done" "$top/$1.first" || { show "$top/$1.first"; fail "no initial sync"; }
	kill -9 "$ferry_pid"
	wait "$ferry_pid" 2>/dev/null || true
	grep -q "phase complete" "$top/$1.first" && grep -q "^replicate: gate holds" "$top/$1.first" &&
		fail "the replicate phase ended before ferry was stopped in its soak"
	rnew INFO replication | grep -q '^role:slave' || fail "new is not a replica after the start step"
	if [ "$2" = snapshot ]; then
		wait_for 10 synced || fail "new does not catch up with old before its snapshot"
		rnew SAVE >/dev/null
	fi
	stop_pid "$(cat "$top/new.pid")"
	mv "$top/new/log" "$top/new/log.$1"
	[ "$2" = snapshot ] || rm -f "$top/new/dump.rdb"
	# shellcheck disable=SC2086
	redis_start "$top" new 0 --tls-port 16111 $tls --requirepass "$secret" || fail "cannot restart new"
	rnew INFO replication | grep -q '^role:master' || fail "the restarted new is not a master"
	if [ "$2" = snapshot ]; then
		[ "$(rnew DBSIZE)" -gt 0 ] || fail "new did not load its snapshot"
		rnew INFO replication | grep -q "^master_replid2:$(rold INFO replication | sed -n 's/^master_replid:\([0-9a-f]*\).*/\1/p')" ||
			fail "the restarted new does not name old's replication id as its previous one"
	fi
	rold SET "after:$1" yes >/dev/null
	run_ferry "$1.run" "$ferry" run "$top/$1/p.yaml" --until validate
	[ $rc = 0 ] || { show "$top/$1.run"; fail "ferry run after new's restart: exit $rc, want 0"; }
	grep -q "replication started again" "$top/$1.run" || { show "$top/$1.run"; fail "the run does not say it started the stream again"; }
	rnew INFO replication | grep -q '^role:slave' || fail "new is not a replica again"
	wait_for 10 synced || fail "new does not catch up with old after the restart"
	[ "$(rnew GET "after:$1")" = yes ] || fail "a write made while new was down is not on new"
	for i in $(cat "$ledger"); do
		echo "EXISTS ledger:$i"
	done | rnew | grep -c '^0' >"$top/lost" || true
	[ "$(cat "$top/lost")" = 0 ] || fail "$(cat "$top/lost") acknowledged writes are missing on new after the restart"
}
step=c
restarted c empty
echo "redis_cli: c ok (new restarted empty, replication started again, 0 lost)"
step=d
restarted d snapshot
echo "redis_cli: d ok (new restarted from its snapshot, replication started again, 0 lost)"
