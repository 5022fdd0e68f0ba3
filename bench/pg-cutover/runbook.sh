#!/bin/sh
# runbook.sh DIR - the baseline: the same cutover steps as ferry's switch,
# done the way an operator's runbook does them today, one psql per step
# (each step a new process and a new connection).  Old -> new, for the
# servers of tests/integration/pg/cluster.sh in DIR.  Object names are
# ferry's (its slots carry the plan's database name, "bench"), so that ferry
# can roll the result back.
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
fwd=ferry_sub_bench rev=ferry_rev_bench

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
n=0 # a bound, so that a wrong name fails instead of spinning
until [ "$(q "$old" "SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = '$fwd'")" = t ]; do
	n=$((n + 1)); [ $n -lt 300 ] || {
		echo "runbook: $fwd never reached $lsn:" $(q "$old" "SELECT slot_name, active, confirmed_flush_lsn FROM pg_replication_slots") >&2
		exit 1
	}
done
q "$old" "SELECT format('SELECT setval(%L, %s, true);', format('%I.%I', schemaname, sequencename), last_value) FROM pg_sequences WHERE last_value IS NOT NULL" | PGOPTIONS="-c default_transaction_read_only=off" $PBIN_PSQL -X -q -At -v ON_ERROR_STOP=1 -d "$new" >/dev/null
q "$new" "ALTER SUBSCRIPTION ferry_sub DISABLE" >/dev/null
q "$new" "SELECT pg_create_logical_replication_slot('$rev', 'pgoutput')" >/dev/null
q "$new" "ALTER DATABASE shop RESET default_transaction_read_only" >/dev/null
for p in pgb_old pgb_new; do mv -f "$dir/$p.db.ini.next" "$dir/$p.db.ini"; done
for port in $pgbs; do qa "$port" "RELOAD" >/dev/null; done
for port in $pgbs; do qa "$port" "RESUME shop" >/dev/null; done

# after the pause
pw=$(cat "$dir/ferry.pw")
q "$old" "CREATE SUBSCRIPTION ferry_rev_sub CONNECTION 'host=127.0.0.1 port=$PG_NEW_PORT dbname=shop user=ferry password=$pw' PUBLICATION ferry_rev_pub WITH (create_slot = false, copy_data = false, slot_name = '$rev', synchronous_commit = 'on')" >/dev/null
q "$new" "ALTER SUBSCRIPTION ferry_sub SET (slot_name = NONE)" >/dev/null
q "$new" "DROP SUBSCRIPTION ferry_sub" >/dev/null
n=0
until q "$old" "SELECT pg_drop_replication_slot('$fwd')" >/dev/null 2>&1; do
	n=$((n + 1)); [ $n -lt 300 ] || { echo "runbook: cannot drop $fwd" >&2; exit 1; }
done
q "$old" "DROP PUBLICATION ferry_pub" >/dev/null
