#!/bin/sh
# runbook.sh DIR TARGET_FILE NEW_CONNINFO - the MariaDB switch done by hand
# the way a runbook does it: one `mariadb` client call per step (servers
# "old" and "new" of servers.sh in DIR), then the application repointed
# (TARGET_FILE rewritten: the load reconnects there).
set -eu
d=$1
m() { mariadb --no-defaults -uroot -S "$d/$1.sock" -N -B -e "$2"; }
m old "SET GLOBAL read_only = 1"
kills=$(m old "SELECT GROUP_CONCAT(CONCAT('KILL CONNECTION ', ID) SEPARATOR '; ') FROM information_schema.PROCESSLIST WHERE USER = 'app'")
[ "$kills" = NULL ] || m old "$kills" 2>/dev/null || true
pos=$(m old "SELECT @@GLOBAL.gtid_binlog_pos")
[ "$(m new "SELECT MASTER_GTID_WAIT('$pos', 10)")" = 0 ] || { echo "runbook: new did not catch up" >&2; exit 1; }
m new "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0"
printf '%s\n' "$3" >"$2"
