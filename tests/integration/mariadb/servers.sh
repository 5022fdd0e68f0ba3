#!/bin/sh
# servers.sh - start (and stop) MariaDB servers for the tests and the
# benchmark, each in a temporary folder, on 127.0.0.1 (never the packaged
# service):
#   mdb_start DIR NAME PORT SERVER_ID   a server DIR/NAME with the binary
#       log, ROW format, GTID strict mode, log_slave_updates, its event
#       scheduler off; accounts ferry (all privileges, password in
#       DIR/ferry.pw) and app (database shop only, no password)
#   mdb_run DIR NAME PORT SERVER_ID [OPTION...]   (re)starts the server
#       DIR/NAME on the data directory it has, with OPTIONs added (after a
#       crash: the tests' "server restarted")
#   mdb_stop DIR                        stops every server of DIR, removes DIR
# mariadb-install-db runs once per DIR (DIR/base), copied for each server.
set -u

mdb_sql() { # mdb_sql DIR NAME SQL...: as root over the server's socket
	_d=$1 _n=$2
	shift 2
	mariadb --no-defaults -uroot -S "$_d/$_n.sock" -N -B -e "$*"
}

mdb_start() {
	d=$1 n=$2 port=$3 id=$4
	chmod 755 "$d"
	chown mysql "$d"
	if [ ! -f "$d/ferry.pw" ]; then
		head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$d/ferry.pw"
		chmod 600 "$d/ferry.pw"
	fi
	if [ ! -d "$d/base" ]; then
		mariadb-install-db --no-defaults --user=mysql --datadir="$d/base" \
			--auth-root-authentication-method=socket --skip-test-db >"$d/install.log" 2>&1 ||
			{ cat "$d/install.log"; return 1; }
	fi
	cp -a "$d/base" "$d/$n"
	mdb_run "$d" "$n" "$port" "$id" || return 1
	mdb_sql "$d" "$n" "CREATE USER ferry@'%' IDENTIFIED BY '$(cat "$d/ferry.pw")';
		GRANT ALL ON *.* TO ferry@'%' WITH GRANT OPTION;
		CREATE USER app@'%'; GRANT ALL ON shop.* TO app@'%'; RESET MASTER;"
}

mdb_run() { # mdb_run DIR NAME PORT SERVER_ID [OPTION...]: the server on its data directory
	d=$1 n=$2 port=$3 id=$4
	shift 4
	mariadbd --no-defaults --user=mysql --datadir="$d/$n" --socket="$d/$n.sock" \
		--port="$port" --bind-address=127.0.0.1 --pid-file="$d/$n.pid" \
		--log-error="$d/$n.err" --log-bin="$d/$n/bin" --server-id="$id" \
		--binlog-format=ROW --binlog-row-image=FULL --gtid-strict-mode=1 \
		--log-slave-updates=1 --event-scheduler=OFF --skip-name-resolve \
		--innodb-buffer-pool-size=64M --innodb-log-file-size=32M \
		--innodb-flush-log-at-trx-commit=2 --sync-binlog=0 --max-connections=500 \
		--slave-net-timeout=10 "$@" >/dev/null 2>&1 &
	wait_for 60 mdb_sql "$d" "$n" "SELECT 1" || { tail -n 20 "$d/$n.err"; return 1; }
}

mdb_stop() {
	d=$1
	[ -d "$d" ] || return 0
	for f in "$d"/*.pid; do
		[ -f "$f" ] && stop_pid "$(cat "$f")"
	done
	rm -rf "$d"
}
