#!/bin/sh
# runbook.sh DIR HAPROXY_API NEW_PORT - the MariaDB switch done by hand the
# way a runbook does it: one client call per step (`mariadb` for the
# servers "old" and "new" of servers.sh in DIR, `socat` for HAProxy's
# runtime API), the same steps as ferry's switch: old read_only and its
# application sessions killed, its GTID position, MASTER_GTID_WAIT on new,
# STOP SLAVE and read_only=0 on new, HAProxy repointed (its sessions to
# old ended); then the way back (old replicating from new), after the
# applications write again.
set -eu
d=$1
m() { mariadb --no-defaults -uroot -S "$d/$1.sock" -N -B -e "$2"; }
m old "SET GLOBAL read_only = 1"
kills=$(m old "SELECT GROUP_CONCAT(CONCAT('KILL CONNECTION ', ID) SEPARATOR '; ') FROM information_schema.PROCESSLIST WHERE USER = 'app'")
[ "$kills" = NULL ] || m old "$kills" 2>/dev/null || true
pos=$(m old "SELECT @@GLOBAL.gtid_binlog_pos")
[ "$(m new "SELECT MASTER_GTID_WAIT('$pos', 10)")" = 0 ] || { echo "runbook: new did not catch up" >&2; exit 1; }
m new "STOP SLAVE; SET GLOBAL read_only = 0"
echo "set server shop/db addr 127.0.0.1 port $3; shutdown sessions server shop/db" |
	socat -t 5 stdio "tcp:$2" >/dev/null
# after the pause: the way back, and the forward stream removed
m old "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$3, MASTER_USER='ferry', MASTER_PASSWORD='$(cat "$d/ferry.pw")', MASTER_USE_GTID=slave_pos, MASTER_DEMOTE_TO_SLAVE=1; START SLAVE"
m new "RESET SLAVE ALL"
