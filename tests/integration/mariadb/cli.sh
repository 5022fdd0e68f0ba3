#!/bin/sh
# cli.sh FERRY - a database-only MariaDB plan through the real command line
# against two real MariaDB 10.11 servers (ports 16011-16012, servers.sh):
#   a. `ferry check` lists the MariaDB readiness rows and passes (exit 0);
#      a MyISAM table fails it (exit 1) naming the table, and
#      `ferry run --until replicate` refuses before anything is made on new.
#   b. `ferry run --until validate` copies, replicates and soaks under
#      writes on old, and stops before the cutover: new has every row,
#      replicates from old, is read_only.
#   c. the password is in no output, journal or argv of a child.
# The schedule is compressed (soak 2s, validation 1s).
set -eu
ferry=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib.sh"
. "$here/../cli/lib.sh" # fail, show, run_ferry, keep_top, plan_*
. "$here/servers.sh"
OLD=16011 NEW=16012
require_tools cli.sh mariadbd
top=$(mktemp -d /tmp/ferry-mdbcli.XXXXXX)
chmod 755 "$top"
srv=$top/srv
mkdir "$srv"
loader=
cleanup() {
	rc=$?
	[ -n "$loader" ] && stop_pid "$loader"
	[ $rc = 0 ] || log_errors ERROR 10 "$srv"/*.err
	mdb_stop "$srv"
	rm -rf "$top"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM
step=setup
q() { mdb_sql "$srv" "$1" "$2"; }

mdb_start "$srv" old $OLD 1 && mdb_start "$srv" new $NEW 2 || fail "cannot start the servers"
secret=$(cat "$srv/ferry.pw")
q old "CREATE DATABASE shop;
	CREATE TABLE shop.orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, amount INT NOT NULL);
	INSERT INTO shop.orders (amount) SELECT seq FROM shop.seq_1_to_2000;"
# the applications' address, as the hook driver reads it (show)
echo "127.0.0.1:$OLD" >"$srv/points-at"
cat >"$top/p.yaml" <<YAML
name: mdbonly
hosts:
  old: { address: 127.0.0.1 }
  new: { address: 127.0.0.2 }
databases:
  - name: main
    engine: mariadb
    source: "host=127.0.0.1 port=$OLD dbname=shop user=ferry"
    target: "host=127.0.0.1 port=$NEW dbname=shop user=ferry"
    password: { file: $srv/ferry.pw }
    checksum: true
    switch:
      via: hook
      point: [sh, -c, "echo \$FERRY_SWITCH_HOST:\$FERRY_SWITCH_PORT >$srv/points-at"]
      show: [cat, $srv/points-at]
$(plan_test_end 2s)
YAML

# --- a. readiness ------------------------------------------------------------
step=a
run_ferry check.txt "$ferry" check "$top/p.yaml"
[ $rc = 0 ] || { show "$top/check.txt"; fail "ferry check exit $rc, want 0"; }
for row in 'old log_bin' 'new log_bin' 'old binlog_format' 'server_id' 'gtid_domain_id' \
	'new log_slave_updates' 'old binlog retention' 'primary keys' 'transactional tables' \
	'definers' 'events' 'read_only bypass' 'auto_increment' 'size' 'new database'; do
	grep -qF "$row" "$top/check.txt" || { show "$top/check.txt"; fail "no row '$row'"; }
done
run_ferry check.json "$ferry" check "$top/p.yaml" --json
jq -e '[.. | objects | select(.object? == "main primary keys")] | length >= 1' "$top/check.json" >/dev/null ||
	{ show "$top/check.json"; fail "--json has no 'primary keys' row"; }
q old "CREATE TABLE shop.legacy (id INT PRIMARY KEY) ENGINE=MyISAM"
run_ferry check2.txt "$ferry" check "$top/p.yaml"
[ $rc = 1 ] || { show "$top/check2.txt"; fail "ferry check exit $rc with a MyISAM table, want 1"; }
grep -q "legacy (MyISAM)" "$top/check2.txt" || { show "$top/check2.txt"; fail "the table is not named"; }
run_ferry run0.txt "$ferry" run "$top/p.yaml" --until replicate
[ $rc = 1 ] || { show "$top/run0.txt"; fail "ferry run exit $rc with a MyISAM table, want 1"; }
[ "$(q new "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ('shop', '_ferry')")" = 0 ] ||
	fail "something was made on new"
q old "DROP TABLE shop.legacy"

# --- b. replication under writes, up to the cutover --------------------------
step=b
( i=0; while :; do
	q old "INSERT INTO shop.orders (amount) VALUES ($i)" || exit 1
	i=$((i + 1))
done ) &
loader=$!
run_ferry run.txt "$ferry" run "$top/p.yaml" --until validate
[ $rc = 0 ] || { show "$top/run.txt"; fail "ferry run --until validate exit $rc, want 0"; }
stop_pid "$loader"
loader=
# the last writes arrive: wait on the counts, not a sleep
same_count() {
	[ "$(q old 'SELECT COUNT(*) FROM shop.orders')" = "$(q new 'SELECT COUNT(*) FROM shop.orders')" ]
}
wait_for 30 same_count || fail "new did not catch up: $(q old 'SELECT COUNT(*) FROM shop.orders') on old, $(q new 'SELECT COUNT(*) FROM shop.orders') on new"
[ "$(q new 'SELECT COUNT(*) FROM shop.orders')" -gt 2000 ] || fail "the writes did not reach new"
[ "$(q new 'SELECT @@read_only')" = 1 ] || fail "new is not read_only"
mariadb --no-defaults -uroot -S "$srv/new.sock" -e "SHOW SLAVE STATUS\G" |
	grep -q "Slave_SQL_Running: Yes" || fail "new does not replicate"
grep -q "initial sync done" "$top/run.txt" || { show "$top/run.txt"; fail "no progress line"; }

# --- c. the password stays secret ---------------------------------------------
step=c
for f in "$top"/*.txt "$top"/*.json "$top"/*.db; do
	! grep -aqF "$secret" "$f" || fail "the password reached $f"
done
echo "ok: check, refusal, run --until validate"
