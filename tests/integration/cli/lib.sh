#!/bin/sh
# tests/integration/cli/lib.sh - what the command-line tests share (cli/*.sh,
# mariadb/cli.sh, mariadb/cli_switch.sh).  Source it after tests/lib.sh;
# the test sets top (its temporary folder) before calling them, and step
# (the part running) for fail's message.
#
#   fail MESSAGE...         "FAIL (STEP): MESSAGE" on stderr, then exit 1.
#   show FILE               FILE's last $show_lines (40) lines on stderr:
#                           the output of a command that surprised us.
#   run_ferry OUT CMD...    runs CMD, its stdout and stderr into $top/OUT;
#                           sets rc (a failing CMD does not stop set -e).
#   keep_top DIR            copies $top's files (outputs, journals,
#                           ledgers) into DIR when DIR is not empty.
#   ledger_missing LEDGER CMD...
#                           prints how many keys of LEDGER (one a line,
#                           db_writer's # lines aside) are
#                           not in CMD's output (one a line; compared
#                           as comm(1) wants them: sorted as text).
#   plan_pgbouncer_switch SRV
#                           the YAML switch: block (under a database) of
#                           the database shop behind the two pgbouncers
#                           tests/integration/pg/cluster.sh runs in SRV.
#   plan_test_end WINDOW    the YAML rollback: (a test's waiver, WINDOW)
#                           and schedule: (compressed) sections.
# Their variables start with _cl_ so as not to clobber the caller's.

fail() {
	echo "FAIL${step:+ ($step)}: $*" >&2
	exit 1
}

show() {
	echo "--- $1" >&2
	tail -n "${show_lines:-40}" "$1" >&2
}

run_ferry() {
	_cl_out=$top/$1
	shift
	set +e
	"$@" >"$_cl_out" 2>&1
	rc=$?
	set -e
}

keep_top() {
	[ -n "$1" ] || return 0
	mkdir -p "$1" && cp -r "$top"/. "$1"/
}

ledger_missing() {
	_cl_ledger=$1
	shift
	grep -v '^#' "$_cl_ledger" | sort >"$_cl_ledger.acked"
	"$@" | sort >"$_cl_ledger.have"
	comm -23 "$_cl_ledger.acked" "$_cl_ledger.have" | wc -l
}

plan_pgbouncer_switch() {
	cat <<YAML
    switch:
      via: pgbouncer
      admin:
        old: "host=127.0.0.1 port=$PGB_OLD_PORT dbname=pgbouncer user=ferry"
        new: "host=127.0.0.1 port=$PGB_NEW_PORT dbname=pgbouncer user=ferry"
      include:
        old: $1/pgb_old.db.ini
        new: $1/pgb_new.db.ini
      database: shop
YAML
}

plan_test_end() {
	cat <<YAML
rollback:
  waiver: "a test run: its cutover is what is tested, not a production one"
  window: $1
schedule:
  replication_soak: 2s
  validation: 1s
  monitor: 2s
YAML
}
