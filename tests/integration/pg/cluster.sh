#!/bin/sh
# cluster.sh - start (and stop) the servers the PostgreSQL tests and the
# benchmark need, all on 127.0.0.1 in a temporary folder:
#   old  PostgreSQL 15 on $PG_OLD_PORT (wal_level=logical), database shop
#   new  PostgreSQL 15 on $PG_NEW_PORT (wal_level=logical), database shop
#   repl PostgreSQL 15 on $PG_REPL_PORT (wal_level=replica), for readiness
#   pgbouncer "old host" on $PGB_OLD_PORT and "new host" on $PGB_NEW_PORT,
#   both pointing at old through the include file ferry owns.
# PG_MAX_CONNECTIONS (default 100) sets max_connections of each cluster,
# PG_MAX_PREPARED (default 0) its max_prepared_transactions.
# Role ferry (superuser, password in $DIR/ferry.pw) is what ferry uses; the
# application connects through pgbouncer as role app (trust on loopback).
#
# Usage: . tests/lib.sh; . cluster.sh; cluster_start DIR [with_repl]; ...;
# cluster_stop DIR  (wait_for and stop_pid come from tests/lib.sh)
set -u
PGBIN=/usr/lib/postgresql/15/bin
: "${PG_OLD_PORT:=15401}" "${PG_NEW_PORT:=15402}" "${PG_REPL_PORT:=15403}"
: "${PGB_OLD_PORT:=15410}" "${PGB_NEW_PORT:=15411}"
export PG_OLD_PORT PG_NEW_PORT PG_REPL_PORT PGB_OLD_PORT PGB_NEW_PORT

asuser() { runuser -u postgres -- "$@"; }

pg_start() { # pg_start DIR NAME PORT WAL_LEVEL
	pd=$1/$2
	asuser $PGBIN/initdb -D "$pd" -U postgres -A trust --no-sync >/dev/null || return 1
	cat >>"$pd/postgresql.conf" <<EOC
listen_addresses = '127.0.0.1'
port = $3
unix_socket_directories = '$1'
wal_level = $4
max_replication_slots = 10
max_wal_senders = 10
max_connections = ${PG_MAX_CONNECTIONS:-100}
max_prepared_transactions = ${PG_MAX_PREPARED:-0}
fsync = off
synchronous_commit = on
max_slot_wal_keep_size = 4GB
logging_collector = off
EOC
	cat >"$pd/pg_hba.conf" <<EOC
local all all trust
host all ferry 127.0.0.1/32 scram-sha-256
host replication ferry 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
EOC
	asuser $PGBIN/pg_ctl -D "$pd" -l "$1/$2.log" -w -t 60 start >/dev/null || return 1
	asuser $PGBIN/psql -X -q -h "$1" -p "$3" -d postgres \
		-c "CREATE ROLE ferry SUPERUSER LOGIN PASSWORD '$(cat "$1/ferry.pw")'" \
		-c "CREATE ROLE app LOGIN" -c "CREATE DATABASE shop" >/dev/null || return 1
	asuser $PGBIN/psql -X -q -h "$1" -p "$3" -d shop \
		-c "GRANT ALL ON SCHEMA public TO app" >/dev/null
}

pgb_start() { # pgb_start DIR NAME PORT
	bd=$1
	printf '[databases]\nshop = host=127.0.0.1 port=%s dbname=shop\n' "$PG_OLD_PORT" >"$bd/$2.db.ini"
	cat >"$bd/$2.ini" <<EOC
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $3
unix_socket_dir = $bd
auth_type = trust
auth_file = $bd/userlist.txt
admin_users = ferry
pool_mode = transaction
max_client_conn = 200
default_pool_size = 20
server_reset_query =
ignore_startup_parameters = extra_float_digits,application_name
logfile = $bd/$2.log
pidfile = $bd/$2.pid
%include $bd/$2.db.ini
EOC
	chown postgres "$bd/$2.db.ini" "$bd/$2.ini"
	asuser pgbouncer -d "$bd/$2.ini" >/dev/null || return 1
	wait_for 20 asuser $PGBIN/psql -X -h 127.0.0.1 -p "$3" -U ferry -d pgbouncer -c "SHOW VERSION"
}

cluster_start() { # cluster_start DIR [repl]
	d=$1
	chmod 755 "$d"
	head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$d/ferry.pw"
	chmod 600 "$d/ferry.pw"
	printf '"ferry" ""\n"app" ""\n' >"$d/userlist.txt"
	chown postgres "$d" "$d/userlist.txt"
	pg_start "$d" old "$PG_OLD_PORT" logical || return 1
	pg_start "$d" new "$PG_NEW_PORT" logical || return 1
	if [ "${2:-}" = repl ]; then
		pg_start "$d" repl "$PG_REPL_PORT" replica || return 1
	fi
	pgb_start "$d" pgb_old "$PGB_OLD_PORT" || return 1
	pgb_start "$d" pgb_new "$PGB_NEW_PORT" || return 1
}

cluster_stop() { # cluster_stop DIR: never leaves a server behind
	d=$1
	[ -d "$d" ] || return 0
	for p in pgb_old pgb_new; do
		[ -f "$d/$p.pid" ] && stop_pid "$(cat "$d/$p.pid")"
	done
	for c in old new repl; do
		[ -f "$d/$c/postmaster.pid" ] && asuser $PGBIN/pg_ctl -D "$d/$c" -m immediate -w stop >/dev/null 2>&1
	done
	rm -rf "$d"
}
