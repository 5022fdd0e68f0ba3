#!/bin/sh
# run.sh TEST_BINARY - starts two MariaDB servers (old on 16001, new on
# 16002; ports of the mariadb helper's range 16000-16099; MDB_OLD_PORT and
# MDB_NEW_PORT from the environment move them) in a temporary
# folder, runs the test binary against them, stops them (trap), and
# returns its status.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib.sh"
. "$here/servers.sh"
MDB_OLD_PORT=${MDB_OLD_PORT:-16001} MDB_NEW_PORT=${MDB_NEW_PORT:-16002}
if ! command -v mariadbd >/dev/null 2>&1; then
	echo "mariadb-server is not installed (scripts/deps installs it)"
	[ -n "${CI:-}" ] && exit 1
	exit 77
fi
for p in $MDB_OLD_PORT $MDB_NEW_PORT; do
	if port_in_use $p; then
		echo "port $p is in use"
		exit 1
	fi
done
dir=$(mktemp -d /tmp/ferry-mdbtest.XXXXXX)
trap 'mdb_stop "$dir"' EXIT INT TERM
mdb_start "$dir" old $MDB_OLD_PORT 1 && mdb_start "$dir" new $MDB_NEW_PORT 2 ||
	{ echo "cannot start the servers"; exit 1; }
export MDB_SCRIPTS="$here" FERRY_MDBTEST_DIR="$dir" MDB_OLD_PORT MDB_NEW_PORT
"$@"
rc=$?
[ $rc = 0 ] || for f in "$dir"/*.err; do echo "== $f"; grep -E "ERROR|Error" "$f" | tail -n 30; done
exit $rc
