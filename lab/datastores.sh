# shellcheck shell=bash
# datastores.sh - MariaDB and Redis on old and new (issues 12 and 13),
# sourced by lab/lib.sh, so lab/up, lab/down and lab/fault all have it.
#
# Each host runs Debian's MariaDB 10.11 (mariadbd started directly: data,
# socket, pidfile and error log under $LAB_STATE/HOST/mariadb; GTID, binary
# log in ROW format, log_slave_updates, server_id 1 on old and 2 on new)
# and Redis 7.0 ($LAB_STATE/HOST/redis; --save '', no AOF; ACL users ferry
# and shop, default user off), both listening on the host's address.  The
# app reaches them through its host's HAProxy, TCP frontends on
# 127.0.0.1:3307 (backend mariadb) and 127.0.0.1:6380 (backend redis),
# each with one server `db`; at lab/up both hosts' servers point at OLD
# (the single-writer invariant), and ferry's haproxy switch moves them
# (`set server mariadb/db addr`, `shutdown sessions server`).
#
# The passwords are files under $LAB_STATE/secrets (mariadb-ferry.password,
# mariadb-shop.password, redis-ferry.password, redis-shop.password); they
# reach the servers through stdin (SQL) and a 0600 config file (Redis),
# never an argv.

LAB_MARIADB_PORT=3306
LAB_REDIS_PORT=6379
LAB_MARIADB_FRONTEND_PORT=3307
LAB_REDIS_FRONTEND_PORT=6380

lab_server_id() { case $1 in old) echo 1 ;; new) echo 2 ;; esac; }

# mariadb_admin HOST: the mariadb client as root over HOST's socket (unix
# socket authentication), SQL on stdin.
mariadb_admin() {
	mariadb --no-defaults -uroot -S "$LAB_STATE/$1/mariadb/mariadb.sock" -N -B
}
mariadb_ready() { echo "SELECT 1" | mariadb_admin "$1" >/dev/null 2>&1; }

# mariadb_up HOST: initialises (once: one mariadb-install-db, copied),
# starts and sets up HOST's MariaDB: accounts ferry (all privileges, the
# lab's shortcut) and shop (the app: shop.* only).
mariadb_up() {
	_h=$1
	_md=$LAB_STATE/$_h/mariadb
	mkdir -p "$_md"
	chown mysql:mysql "$_md"
	if [ ! -d "$_md/data/mysql" ]; then
		_base=$LAB_STATE/mariadb-base
		if [ ! -d "$_base/mysql" ]; then
			rm -rf "$_base"
			mariadb-install-db --no-defaults --user=mysql --datadir="$_base" \
				--auth-root-authentication-method=socket --skip-test-db >"$LAB_STATE/mariadb-install.log" 2>&1 || {
				# lab/down removes LAB_STATE: what it said goes with the error
				tail -n 15 "$LAB_STATE/mariadb-install.log" >&2
				die "mariadb-install-db failed (its last lines above)"
			}
		fi
		rm -rf "$_md/data"
		cp -a "$_base" "$_md/data"
	fi
	cat >"$_md/my.cnf" <<EOC
# written by lab/up ($_h)
[mariadbd]
user = mysql
datadir = $_md/data
socket = $_md/mariadb.sock
pid-file = $_md/mariadbd.pid
log-error = $_md/mariadb.err
bind-address = $(lab_addr "$_h")
port = $LAB_MARIADB_PORT
server-id = $(lab_server_id "$_h")
log-bin = $_md/data/binlog
binlog-format = ROW
binlog-row-image = FULL
gtid-strict-mode = 1
log-slave-updates = 1
event-scheduler = OFF
skip-name-resolve
innodb-buffer-pool-size = 64M
innodb-log-file-size = 32M
# the lab is a test bench on a shared machine: no fsync per commit
innodb-flush-log-at-trx-commit = 2
sync-binlog = 0
max-connections = 500
slave-net-timeout = 10
EOC
	# The pidfile is the server's own (spawn's $! names the subshell of
	# in_ns, not the server).
	if ! pid_alive "$_md/mariadbd.pid"; then
		spawn "$_h" "$_md/spawn.pid" "$_md/mariadbd.log" mariadbd --defaults-file="$_md/my.cnf"
		rm -f "$_md/spawn.pid"
	fi
	wait_for "$_h's MariaDB on $(lab_addr "$_h"):$LAB_MARIADB_PORT" 60 mariadb_ready "$_h"
	wait_for "$_h's MariaDB pidfile" 10 pid_alive "$_md/mariadbd.pid"
	_pwf=$(cat "$LAB_STATE/secrets/mariadb-ferry.password")
	_pws=$(cat "$LAB_STATE/secrets/mariadb-shop.password")
	# Not in the binary log, and on a fresh server (no ferry account yet)
	# RESET MASTER after: the GTID history starts empty on both (new's own
	# events must not run ahead of old's in strict mode).
	_fresh=$(echo "SELECT COUNT(*) = 0 FROM mysql.user WHERE User = 'ferry'" | mariadb_admin "$_h")
	mariadb_admin "$_h" <<EOC
SET sql_log_bin = 0;
CREATE USER IF NOT EXISTS ferry@'%' IDENTIFIED BY '$_pwf';
ALTER USER ferry@'%' IDENTIFIED BY '$_pwf';
GRANT ALL ON *.* TO ferry@'%' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS shop@'%' IDENTIFIED BY '$_pws';
ALTER USER shop@'%' IDENTIFIED BY '$_pws';
GRANT SELECT, INSERT, UPDATE, DELETE ON shop.* TO shop@'%';
SET sql_log_bin = 1;
EOC
	if [ $_fresh = 1 ]; then echo "RESET MASTER" | mariadb_admin "$_h"; fi
	say "$_h: MariaDB 10.11 on $(lab_addr "$_h"):$LAB_MARIADB_PORT (GTID, ROW, server_id $(lab_server_id "$_h")), data $_md/data"
}

# mariadb_seed ROWS: old's shop.payments (InnoDB, primary key), once (a
# table without rows, from an interrupted seed, is made again).
mariadb_seed() {
	if [ "$(echo "SELECT EXISTS (SELECT 1 FROM shop.payments)" | mariadb_admin old 2>/dev/null)" = 1 ]; then
		say "old: MariaDB shop.payments already seeded"
		return 0
	fi
	mariadb_admin old <<EOC
CREATE DATABASE IF NOT EXISTS shop;
USE shop;
DROP TABLE IF EXISTS payments;
CREATE TABLE payments (id VARCHAR(200) NOT NULL PRIMARY KEY,
                            amount_cents BIGINT NOT NULL, served_by VARCHAR(16) NOT NULL,
                            created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3))
  ENGINE=InnoDB;
INSERT INTO payments (id, amount_cents, served_by, created_at)
  SELECT CONCAT('seed-', seq), 100 + (seq * 104729) % 99900, 'seed',
         TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND
  FROM seq_1_to_$1;
EOC
	say "old: MariaDB seeded shop.payments ($1 rows)"
}

# redis_up HOST: HOST's Redis, run as the redis user; its config is 0600
# (it holds the ACL passwords).
redis_up() {
	_h=$1
	_rd=$LAB_STATE/$_h/redis
	mkdir -p "$_rd"
	chown redis:redis "$_rd"
	(
		umask 077
		cat >"$_rd/redis.conf.tmp" <<EOC
# written by lab/up ($_h); holds the ACL passwords, hence 0600.
bind $(lab_addr "$_h") 127.0.0.1
port $LAB_REDIS_PORT
protected-mode no
dir $_rd
save ""
appendonly no
daemonize no
pidfile $_rd/redis.pid
logfile ""
repl-backlog-size 64mb
client-output-buffer-limit replica 512mb 128mb 60
user default off
user ferry on >$(cat "$LAB_STATE/secrets/redis-ferry.password") ~* &* +@all
user shop on >$(cat "$LAB_STATE/secrets/redis-shop.password") ~cart:* +@read +@write +@connection -@dangerous
EOC
	)
	mv "$_rd/redis.conf.tmp" "$_rd/redis.conf"
	chown redis:redis "$_rd/redis.conf"
	# the server's own pidfile, as for MariaDB; setpriv execs (runuser forks)
	if ! pid_alive "$_rd/redis.pid"; then
		spawn "$_h" "$_rd/spawn.pid" "$_rd/redis.log" setpriv --reuid=redis --regid=redis --init-groups \
			redis-server "$_rd/redis.conf"
		rm -f "$_rd/spawn.pid"
	fi
	wait_for "$_h's Redis on $(lab_addr "$_h"):$LAB_REDIS_PORT" 20 tcp_open "$(lab_addr "$_h")" "$LAB_REDIS_PORT"
	wait_for "$_h's Redis pidfile" 10 pid_alive "$_rd/redis.pid"
	say "$_h: Redis 7.0 on $(lab_addr "$_h"):$LAB_REDIS_PORT (--save '', ACL users ferry and shop), dir $_rd"
}

datastores_down() {
	for _h in old new; do
		stop_pidfile "$LAB_STATE/$_h/redis/redis.pid" TERM 10
		stop_pidfile "$LAB_STATE/$_h/mariadb/mariadbd.pid" TERM 30
	done
}

# haproxy_db_server HOST BACKEND PORT: the address:port HOST's server
# BACKEND/db has now (ferry's switch may have moved it: a config rewrite
# keeps it), or old's at first.
haproxy_db_server() {
	_cur=
	if pid_alive "$LAB_STATE/$1/haproxy/haproxy.pid"; then
		_cur=$(echo "show servers state $2" |
			timeout 2 bash -c "exec 3<>/dev/tcp/$(lab_addr "$1")/9999; cat >&3; cat <&3" 2>/dev/null |
			awk '$4 == "db" { print $5 ":" $19 }')
	fi
	echo "${_cur:-10.77.0.2:$3}"
}

# haproxy_db_sections HOST: the TCP frontends and backends of HOST's
# HAProxy for MariaDB and Redis (haproxy_config calls it for old and new).
haproxy_db_sections() {
	for _spec in mariadb:$LAB_MARIADB_FRONTEND_PORT:$LAB_MARIADB_PORT redis:$LAB_REDIS_FRONTEND_PORT:$LAB_REDIS_PORT; do
		_n=${_spec%%:*}
		_fp=${_spec#*:}
		_fp=${_fp%%:*}
		cat <<EOC

# $_n through HAProxy (TCP): ferry's switch points server db at the primary
frontend $_n
	mode tcp
	bind 127.0.0.1:$_fp
	timeout client 1h
	default_backend $_n

backend $_n
	mode tcp
	timeout server 1h
	server db $(haproxy_db_server "$1" "$_n" "${_spec##*:}")
EOC
	done
}

# app_env_datastores: the app's variables for MariaDB and Redis (app_start
# writes them to its 0600 env file): the local HAProxy frontends, as shop;
# the passwords by file.
app_env_datastores() {
	[ -s "$LAB_STATE/secrets/mariadb-shop.password" ] || return 0
	echo "MARIADB_URL='mariadb://shop@127.0.0.1:$LAB_MARIADB_FRONTEND_PORT/shop'"
	echo "MARIADB_PASSWORD_FILE='$LAB_STATE/secrets/mariadb-shop.password'"
	echo "REDIS_URL='redis://shop@127.0.0.1:$LAB_REDIS_FRONTEND_PORT'"
	echo "REDIS_PASSWORD_FILE='$LAB_STATE/secrets/redis-shop.password'"
}
