#!/bin/sh
# run_switch.sh TEST_BINARY - the servers of the MariaDB switch's fault
# matrix, on 127.0.0.1 in a temporary folder (ports 16031-16043 of the
# mariadb helper's range): two MariaDB servers, old (16031) and new
# (16032), and two HAProxies with a TCP frontend for the applications each
# (the old host's on 16040 with its runtime API on 16041, the new host's
# 16042 / 16043), both pointing at old (MDB_OLD_PORT, MDB_NEW_PORT,
# HAP_OLD_FE, HAP_OLD_API, HAP_NEW_FE and HAP_NEW_API from the environment
# move them).  Runs the test program, stops everything (trap), returns its
# status.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib.sh"
. "$here/servers.sh"
MDB_OLD_PORT=${MDB_OLD_PORT:-16031} MDB_NEW_PORT=${MDB_NEW_PORT:-16032}
HAP_OLD_FE=${HAP_OLD_FE:-16040} HAP_OLD_API=${HAP_OLD_API:-16041}
HAP_NEW_FE=${HAP_NEW_FE:-16042} HAP_NEW_API=${HAP_NEW_API:-16043}
require_tools run_switch.sh mariadbd haproxy
for p in $MDB_OLD_PORT $MDB_NEW_PORT $HAP_OLD_FE $HAP_OLD_API $HAP_NEW_FE $HAP_NEW_API; do
	if port_in_use $p; then
		echo "port $p is in use"
		exit 1
	fi
done
dir=$(mktemp -d /tmp/ferry-mdbswitch.XXXXXX)
trap 'hap_stop "$dir" hap_old hap_new; mdb_stop "$dir"' EXIT INT TERM
mdb_start "$dir" old $MDB_OLD_PORT 1 && mdb_start "$dir" new $MDB_NEW_PORT 2 ||
	{ echo "cannot start the servers"; exit 1; }
mdb_sql "$dir" old "CREATE DATABASE shop" || exit 1
hap_tcp_start "$dir" hap_old $HAP_OLD_FE $HAP_OLD_API shop $MDB_OLD_PORT &&
	hap_tcp_start "$dir" hap_new $HAP_NEW_FE $HAP_NEW_API shop $MDB_OLD_PORT ||
	{ echo "cannot start haproxy"; exit 1; }
export MDB_SCRIPTS="$here" FERRY_MDBTEST_DIR="$dir" MDB_OLD_PORT MDB_NEW_PORT HAP_OLD_FE HAP_OLD_API HAP_NEW_FE HAP_NEW_API
"$@"
rc=$?
[ $rc = 0 ] || log_errors "ERROR|Error" 30 "$dir"/*.err
exit $rc
