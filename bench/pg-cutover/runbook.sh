#!/bin/sh
# runbook.sh DIR - the baseline: the same cutover steps as ferry's switch,
# done the way an operator's runbook does them today, one psql per step
# (each step a new process and a new connection).  Old -> new, for the
# servers of tests/integration/pg/cluster.sh in DIR.  Object names are
# ferry's, so that ferry can roll the result back.
set -eu
dir=$1
PGBIN=/usr/lib/postgresql/15/bin
export PGPASSFILE="$dir/pgpass" PGCONNECT_TIMEOUT=5
old="host=127.0.0.1 port=$PG_OLD_PORT dbname=shop user=ferry"
new="host=127.0.0.1 port=$PG_NEW_PORT dbname=shop user=ferry"
# the operator's sessions are exempt from the read-only fence, as ferry's
q() { PGOPTIONS="-c default_transaction_read_only=off" $PBIN_PSQL -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
# pgbouncer's console takes no options
qa() { $PBIN_PSQL -X -q -At -v ON_ERROR_STOP=1 -d "host=127.0.0.1 port=$1 dbname=pgbouncer user=ferry" -c "$2"; }
PBIN_PSQL=$PGBIN/psql
pgbs="$PGB_OLD_PORT $PGB_NEW_PORT"

# before the pause (as ferry): reverse publication, next include files
q "$new" "CREATE PUBLICATION ferry_rev_pub FOR ALL TABLES" >/dev/null
for p in pgb_old pgb_new; do
	printf '[databases]\nshop = host=127.0.0.1 port=%s dbname=shop\n' "$PG_NEW_PORT" >"$dir/$p.db.ini.next"
done

# the pause
for port in $pgbs; do qa "$port" "PAUSE shop" >/dev/null; done
q "$old" "ALTER DATABASE shop SET default_transaction_read_only = on" >/dev/null
q "$old" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'shop' AND pid <> pg_backend_pid() AND backend_type = 'client backend'" >/dev/null
lsn=$(q "$old" "SELECT pg_current_wal_lsn()")
until [ "$(q "$old" "SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = 'ferry_sub'")" = t ]; do :; done
q "$old" "SELECT format('SELECT setval(%L, %s, true);', format('%I.%I', schemaname, sequencename), last_value) FROM pg_sequences WHERE last_value IS NOT NULL" | PGOPTIONS="-c default_transaction_read_only=off" $PBIN_PSQL -X -q -At -v ON_ERROR_STOP=1 -d "$new" >/dev/null
q "$new" "ALTER SUBSCRIPTION ferry_sub DISABLE" >/dev/null
q "$new" "SELECT pg_create_logical_replication_slot('ferry_rev', 'pgoutput')" >/dev/null
q "$new" "ALTER DATABASE shop RESET default_transaction_read_only" >/dev/null
for p in pgb_old pgb_new; do mv -f "$dir/$p.db.ini.next" "$dir/$p.db.ini"; done
for port in $pgbs; do qa "$port" "RELOAD" >/dev/null; done
for port in $pgbs; do qa "$port" "RESUME shop" >/dev/null; done

# after the pause
pw=$(cat "$dir/ferry.pw")
q "$old" "CREATE SUBSCRIPTION ferry_rev_sub CONNECTION 'host=127.0.0.1 port=$PG_NEW_PORT dbname=shop user=ferry password=$pw' PUBLICATION ferry_rev_pub WITH (create_slot = false, copy_data = false, slot_name = 'ferry_rev', synchronous_commit = 'on')" >/dev/null
q "$new" "ALTER SUBSCRIPTION ferry_sub SET (slot_name = NONE)" >/dev/null
q "$new" "DROP SUBSCRIPTION ferry_sub" >/dev/null
until q "$old" "SELECT pg_drop_replication_slot('ferry_sub')" >/dev/null 2>&1; do :; done
q "$old" "DROP PUBLICATION ferry_pub" >/dev/null
