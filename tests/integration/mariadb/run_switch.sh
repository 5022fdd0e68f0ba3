#!/bin/sh
# run_switch.sh TEST_BINARY - the servers of the MariaDB switch's fault
# matrix, on 127.0.0.1 in a temporary folder (ports 16031-16043 of the
# mariadb helper's range): two MariaDB servers, old (16031) and new
# (16032), and two HAProxies with a TCP frontend for the applications each
# (the old host's on 16040 with its runtime API on 16041, the new host's
# 16042 / 16043), both pointing at old.  Runs the test program, stops
# everything (trap), returns its status.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib.sh"
. "$here/servers.sh"
MDB_OLD_PORT=16031 MDB_NEW_PORT=16032
HAP_OLD_FE=16040 HAP_OLD_API=16041 HAP_NEW_FE=16042 HAP_NEW_API=16043
for tool in mariadbd haproxy; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "$tool is not installed (scripts/deps installs it)"
		[ -n "${CI:-}" ] && exit 1
		exit 77
	fi
done
for p in $MDB_OLD_PORT $MDB_NEW_PORT $HAP_OLD_FE $HAP_OLD_API $HAP_NEW_FE $HAP_NEW_API; do
	if port_in_use $p; then
		echo "port $p is in use"
		exit 1
	fi
done
dir=$(mktemp -d /tmp/ferry-mdbswitch.XXXXXX)
hap_stop() {
	for h in hap_old hap_new; do
		[ -f "$dir/$h.pid" ] && stop_pid "$(cat "$dir/$h.pid")"
	done
}
trap 'hap_stop; mdb_stop "$dir"' EXIT INT TERM
mdb_start "$dir" old $MDB_OLD_PORT 1 && mdb_start "$dir" new $MDB_NEW_PORT 2 ||
	{ echo "cannot start the servers"; exit 1; }
mdb_sql "$dir" old "CREATE DATABASE shop" || exit 1
hap_start() { # hap_start NAME FRONTEND_PORT API_PORT
	cat >"$dir/$1.cfg" <<EOC
global
	stats socket ipv4@127.0.0.1:$3 level admin
	stats timeout 60s
	pidfile $dir/$1.pid
defaults
	mode tcp
	timeout connect 2s
	timeout client 60s
	timeout server 60s
frontend shop
	bind 127.0.0.1:$2
	default_backend shop
backend shop
	server db 127.0.0.1:$MDB_OLD_PORT
EOC
	haproxy -D -f "$dir/$1.cfg" || return 1
	wait_for 20 port_in_use "$3"
}
hap_start hap_old $HAP_OLD_FE $HAP_OLD_API && hap_start hap_new $HAP_NEW_FE $HAP_NEW_API ||
	{ echo "cannot start haproxy"; exit 1; }
export MDB_SCRIPTS="$here" FERRY_MDBTEST_DIR="$dir" MDB_OLD_PORT MDB_NEW_PORT HAP_OLD_FE HAP_OLD_API HAP_NEW_FE HAP_NEW_API
"$@"
rc=$?
[ $rc = 0 ] || for f in "$dir"/*.err; do echo "== $f"; grep -E "ERROR|Error" "$f" | tail -n 30; done
exit $rc
