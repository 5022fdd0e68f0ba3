/*
 * postgresql_sql.c - every statement text the PostgreSQL engine sends to
 * the servers in a replication, a switch or a teardown, built in one place.
 *
 * The engine's steps (postgresql.c, postgresql_switch.c) run these texts and
 * the dry run (postgresql_describe.c) prints them: both take them from here,
 * so what `ferry run --dry-run` shows cannot drift from what `ferry run`
 * sends (DESIGN §5).  The texts are constants where the statement takes
 * parameters ($1...) and small builders where an identifier has to be
 * quoted into the text (DDL takes no parameters).  Pure: no connection.
 */
#include <stdlib.h>
#include <string.h>

#include "db/postgresql_int.h"
#include "util/buf.h"
#include "util/mem.h"

const char pg_sql_session_rw[] = "SET default_transaction_read_only = off";

const char pg_sql_sub_exists[] =
        "SELECT subenabled, subslotname FROM pg_subscription WHERE subname = $1 "
        "AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())";
const char pg_sql_slot_exists[] = "SELECT active FROM pg_replication_slots WHERE slot_name = $1";
const char pg_sql_pub_exists[] = "SELECT 1 FROM pg_publication WHERE pubname = $1";
const char pg_sql_slot_drop[] = "SELECT pg_drop_replication_slot($1)";
const char pg_sql_current_db[] = "SELECT current_database()";
const char pg_sql_fence_get[] =
        "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = "
        "s.setdatabase AND s.setrole = 0 WHERE d.datname = current_database() AND "
        "'default_transaction_read_only=on' = ANY (s.setconfig)";
const char pg_sql_setting[] = "SELECT current_setting($1)";
/* the first 10 large objects and, for each, the columns (type oid or lo,
 * in user tables) that reference it: "in public.docs.blob, ..." (NULL if
 * none); query_to_xml runs the per-column probe the server builds */
const char pg_sql_large_objects_named[] =
        "WITH lo AS (SELECT oid FROM pg_largeobject_metadata ORDER BY oid LIMIT 10), col AS "
        "(SELECT format('%I.%I', n.nspname, c.relname) AS t, quote_ident(a.attname) AS a, "
        "format('%I.%I.%I', n.nspname, c.relname, a.attname) AS name FROM pg_attribute a JOIN "
        "pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace JOIN "
        "pg_type ty ON ty.oid = a.atttypid WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND "
        "NOT a.attisdropped AND (ty.typname IN ('oid', 'lo')) AND n.nspname NOT IN "
        "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' LIMIT 50) "
        "SELECT lo.oid::text, 'in ' || string_agg(col.name, ', ' ORDER BY col.name) FROM lo "
        "LEFT JOIN col ON (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n "
        "FROM %s WHERE %s::oid = %s', col.t, col.a, lo.oid), false, true, "
        "'')))[1]::text::bigint > 0 GROUP BY lo.oid ORDER BY lo.oid";
/* 1 for a superuser, else 0 */
const char pg_sql_is_superuser[] =
        "SELECT rolsuper::int FROM pg_roles WHERE rolname = current_user";
/* where a subscription's password file goes (postgresql.c) */
const char pg_sql_data_directory[] = "SELECT current_setting('data_directory')";

/* $2: where the stream must have applied to for the apply errors counted
 * so far to be past (postgresql.c: stream_errors) */
const char pg_sql_lag_slot[] =
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint, "
        "pg_current_wal_lsn(), confirmed_flush_lsn >= $2::pg_lsn, active FROM "
        "pg_replication_slots WHERE slot_name = $1";
const char pg_sql_slot_wal[] =
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, (SELECT CASE "
        "WHEN setting = '-1' THEN -1 ELSE setting::bigint * 1048576 END FROM pg_settings "
        "WHERE name = 'max_slot_wal_keep_size') FROM pg_replication_slots WHERE slot_name = "
        "$1";
/* pg_stat_subscription and its _stats are cluster-wide and a name is only
 * unique per database: each database ferry moves on one server has its
 * ferry_sub, so the subscription is this database's (pg_subscription's
 * subdbid; its readable columns only). */
#define PG_THIS_SUB                                                                                \
	"subid = (SELECT oid FROM pg_subscription WHERE subname = $1 AND subdbid = (SELECT oid "   \
	"FROM pg_database WHERE datname = current_database()))"
const char pg_sql_lag_sub[] =
        "SELECT pid IS NOT NULL, (extract(epoch FROM now() - "
        "latest_end_time) * 1000)::bigint, (SELECT subenabled FROM pg_subscription s "
        "WHERE s.oid = subid) FROM pg_stat_subscription WHERE " PG_THIS_SUB " AND relid IS NULL";
const char pg_sql_lag_errors[] = "SELECT apply_error_count + sync_error_count FROM "
                                 "pg_stat_subscription_stats WHERE " PG_THIS_SUB;

const char pg_sql_sessions_who[] = "SELECT string_agg(DISTINCT format('%s@%s (%s)', usename, "
                                   "coalesce(host(client_addr), 'local'), "
                                   "coalesce(nullif(application_name, ''), '-')), ', ') FROM "
                                   "pg_stat_activity WHERE datname = current_database() AND "
                                   "backend_type = 'client backend' AND pid <> pg_backend_pid()";
/* The sessions the fence ends.  A role without SUPERUSER (a managed
 * service's) ends them with pg_signal_backend, which may not end a
 * superuser's session (pg_terminate_backend raises an error for one): those
 * are left alone then (readiness lists them as direct sessions), and it
 * sees the others' backend_type through pg_read_all_stats. */
#define PG_SESSIONS_FENCED                                                                         \
	"datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client "     \
	"backend' AND (usesysid NOT IN (SELECT oid FROM pg_roles WHERE rolsuper) OR (SELECT "      \
	"rolsuper FROM pg_roles WHERE rolname = current_user))"
const char pg_sql_sessions_fenced[] = PG_SESSIONS_FENCED;
/* Of the sessions the fence signalled (begun before $1), those that may
 * still commit: running a statement, or holding a transaction id.  An idle
 * one ends before it runs anything more (PostgresMain checks for interrupts
 * right after it reads each command) and every data change checks first
 * (ExecModifyTable), so none of them is waited for: the fence's cost does
 * not grow with the sessions a pooler or an application keeps open.  When
 * none is left: the insert position, read after the count (a CASE decides
 * its condition first). */
const char pg_sql_fence_wait[] =
        "SELECT CASE WHEN count(*) = 0 THEN pg_current_wal_insert_lsn()::text END, count(*) "
        "FROM pg_stat_activity WHERE " PG_SESSIONS_FENCED " AND backend_start < $1::timestamptz "
        "AND (backend_xid IS NOT NULL OR state IS NULL OR state NOT IN ('idle', 'idle in "
        "transaction', 'idle in transaction (aborted)'))";
/* backend $1 ended; 0 once it is gone */
const char pg_sql_backend_end[] = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                  "WHERE pid = $1::int";
const char pg_sql_terminate[] =
        "SELECT min(statement_timestamp())::text FROM (SELECT "
        "pg_terminate_backend(pid) FROM pg_stat_activity WHERE " PG_SESSIONS_FENCED
        " UNION ALL SELECT true) t";
const char pg_sql_sessions_left[] =
        "SELECT count(*) FROM pg_stat_activity WHERE " PG_SESSIONS_FENCED
        " AND backend_start < $1::timestamptz";
/* Sessions still starting up: a backend reads the database's settings
 * (the fence's default_transaction_read_only) before it shows in
 * pg_stat_activity, and holds the lock on its database object (RowExclusive,
 * taken in InitPostgres) from before that read until after it shows.  So
 * once an ALTER DATABASE has committed, every backend that may hold the
 * settings from before it either shows in pg_stat_activity (ended above)
 * or holds that lock now: this ends those too.  One subtransaction per
 * backend: without SUPERUSER a superuser's backend cannot be ended, and
 * that error must not stop the others (readiness lists such sessions). */
const char pg_sql_terminate_starting[] =
        "DO $ferry$ DECLARE b int; BEGIN FOR b IN SELECT l.pid FROM pg_locks l WHERE "
        "l.locktype = 'object' AND l.classid = 'pg_database'::regclass AND l.objid = "
        "(SELECT oid FROM pg_database WHERE datname = current_database()) AND l.mode = "
        "'RowExclusiveLock' AND l.granted AND l.pid <> pg_backend_pid() LOOP BEGIN PERFORM "
        "pg_terminate_backend(b); EXCEPTION WHEN OTHERS THEN NULL; END; END LOOP; END $ferry$";
/* ---- the staged fence (postgresql_switch.c: pg_fence_stage) ---- */

/* The advisory lock (session level; advisory locks belong to a database)
 * ferry's main connection holds from prepare until after RESUME: the
 * fence's DO waits for it before it ends the idle sessions. */
#define PG_FENCE_KEY "hashtext('ferry-fence')"
const char pg_sql_fence_lock[] = "SELECT pg_try_advisory_lock(" PG_FENCE_KEY ")";
const char pg_sql_fence_unlock[] = "SELECT pg_advisory_unlock(" PG_FENCE_KEY ")";
/* an undo: the DO (backend $1) cancelled while it waits for that lock */
const char pg_sql_fence_cancel[] = "SELECT pg_cancel_backend($1::int)";
/* The fence connection: nothing may end its DO but ferry (no timeouts,
 * and no check of the client: a ferry that died lets it complete) */
const char pg_sql_fence_conn[] =
        "SET client_connection_check_interval = 0; SET statement_timeout = 0; SET "
        "lock_timeout = 0; SET idle_in_transaction_session_timeout = 0; SET "
        "idle_session_timeout = 0; SET default_transaction_read_only = off";
/* the tables the DO locks: every permanent or unlogged user table */
#define PG_FENCE_TABLES                                                                            \
	"FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN "        \
	"('r', 'p') AND c.relpersistence <> 't' AND n.nspname NOT IN ('pg_catalog', "              \
	"'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'"
/* the tables, the shared lock table's size (PostgreSQL manual,
 * max_locks_per_transaction: the DO takes one lock per table), and the
 * tables ferry's role may not lock IN SHARE MODE (LOCK: UPDATE, DELETE or
 * TRUNCATE on it) */
const char pg_sql_fence_fits[] =
        "SELECT count(*), current_setting('max_locks_per_transaction')::bigint * "
        "(current_setting('max_connections')::bigint + "
        "current_setting('max_prepared_transactions')::bigint), count(*) FILTER (WHERE NOT "
        "has_table_privilege(c.oid, 'UPDATE, DELETE, TRUNCATE')) " PG_FENCE_TABLES;

/* The ALTER committed as in pg_sql_fence_end(), the sessions still
 * starting ended, but no other session: the pids of the sessions shown
 * before the ALTER (they read the old default: writable) are kept in the
 * session variable ferry.fence_before and answered with the time after
 * the signals. */
char *pg_sql_fence_stage(const char *dbname)
{
	char *fence = pg_sql_fence(dbname, true);
	char *sql = xasprintf(
	        "SELECT set_config('ferry.fence_before', (SELECT '{' || coalesce(string_agg(pid::"
	        "text, ','), '') || '}' FROM pg_stat_activity WHERE %s), false); BEGIN; %s; "
	        "COMMIT; %s; SELECT clock_timestamp()::text, current_setting('ferry.fence_before')",
	        pg_sql_sessions_fenced, fence, pg_sql_terminate_starting);

	free(fence);
	return sql;
}

/* The fence's DO, sent on the fence connection without waiting: the
 * sessions that may hold a write in flight ended (and autovacuum's
 * workers of the database cancelled: they would hold the LOCK up to
 * deadlock_timeout), every user table locked IN SHARE MODE (writes wait,
 * reads go on; granted once every writer has ended), the insert position
 * as the notice "ferry-fence-pos LSN"; then it waits for the advisory
 * lock, which ferry's main connection lets go after RESUME (or when it
 * dies), ends every session begun before ts but keep (a pid array
 * literal, ferry's), waits up to 60 s for them to go, and says
 * "ferry-fence-ended N".  Its commit releases the table locks. */
char *pg_sql_fence_do(const char *ts, const char *keep)
{
	char *ts_lit = pgsql_quote_literal(ts), *keep_lit = pgsql_quote_literal(keep);
	char *sql = xasprintf(
	        "DO $ferry$ DECLARE b int; t text; ended int[]; t0 timestamptz; BEGIN "
	        "FOR b IN SELECT pid FROM pg_stat_activity WHERE %s AND pid <> ALL (%s::int[]) AND "
	        "(backend_xid IS NOT NULL OR state IS NULL OR state <> 'idle') UNION SELECT l.pid "
	        "FROM pg_locks l WHERE l.locktype = 'object' AND l.classid = "
	        "'pg_database'::regclass AND l.objid = (SELECT oid FROM pg_database WHERE datname "
	        "= current_database()) AND l.mode = 'RowExclusiveLock' AND l.granted AND l.pid <> "
	        "pg_backend_pid() AND l.pid <> ALL (%s::int[]) LOOP BEGIN PERFORM "
	        "pg_terminate_backend(b); EXCEPTION WHEN OTHERS THEN NULL; END; END LOOP; "
	        "FOR b IN SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND "
	        "backend_type = 'autovacuum worker' LOOP BEGIN PERFORM pg_cancel_backend(b); "
	        "EXCEPTION WHEN OTHERS THEN NULL; END; END LOOP; "
	        "SELECT string_agg(format('%%I.%%I', n.nspname, c.relname), ', ') INTO t %s; "
	        "IF t IS NOT NULL THEN EXECUTE 'LOCK TABLE ' || t || ' IN SHARE MODE'; END IF; "
	        "RAISE NOTICE 'ferry-fence-pos %%', pg_current_wal_insert_lsn(); "
	        "PERFORM pg_advisory_lock(" PG_FENCE_KEY "); "
	        "PERFORM pg_stat_clear_snapshot(); t0 := clock_timestamp(); "
	        "SELECT coalesce(array_agg(pid), '{}') INTO ended FROM pg_stat_activity WHERE %s "
	        "AND pid <> ALL (%s::int[]) AND backend_start < %s::timestamptz; "
	        "FOREACH b IN ARRAY ended LOOP BEGIN PERFORM pg_terminate_backend(b); EXCEPTION "
	        "WHEN OTHERS THEN NULL; END; LOOP PERFORM pg_stat_clear_snapshot(); EXIT WHEN "
	        "clock_timestamp() > t0 + interval '60 s' OR NOT EXISTS (SELECT 1 FROM "
	        "pg_stat_get_activity(b)); PERFORM pg_sleep(0.001); END LOOP; END LOOP; "
	        "PERFORM pg_advisory_unlock(" PG_FENCE_KEY "); "
	        "RAISE NOTICE 'ferry-fence-ended %%', cardinality(ended); END $ferry$",
	        pg_sql_sessions_fenced, keep_lit, keep_lit, PG_FENCE_TABLES, pg_sql_sessions_fenced,
	        keep_lit, ts_lit);

	free(ts_lit);
	free(keep_lit);
	return sql;
}

/* the insert pointer: past every record written so far, flushed or not */
const char pg_sql_wal_lsn[] = "SELECT pg_current_wal_insert_lsn()";
/* inspect(): a slot in use says whether its consumer confirmed everything
 * up to now; one not in use is peeked for changes it holds (pgoutput's
 * message types: Insert, Update, Delete, Truncate) */
const char pg_sql_slot_state[] = "SELECT active, confirmed_flush_lsn >= "
                                 "pg_current_wal_insert_lsn() FROM pg_replication_slots "
                                 "WHERE slot_name = $1";
const char pg_sql_pending_changes[] =
        "SELECT count(*) FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, "
        "'proto_version', '1', 'publication_names', $2) WHERE get_byte(data, 0) IN "
        "(73, 85, 68, 84)";
const char pg_sql_slot_start[] =
        "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1";
/* whether slot $2 confirmed $1, and whether the WAL up to $1 is flushed
 * (the walsender sends nothing past the flush pointer) */
const char pg_sql_wait_applied[] = "SELECT coalesce(bool_or(confirmed_flush_lsn >= $1::pg_lsn), "
                                   "false), pg_current_wal_flush_lsn() >= $1::pg_lsn FROM "
                                   "pg_replication_slots WHERE slot_name = $2";
/* A transaction that writes WAL (a logical message, which the stream
 * does not carry: pgoutput sends messages only when asked to) and whose
 * commit is flushed here, not waiting for a synchronous standby: the WAL
 * before its commit record is flushed with it.  (A transaction that only
 * took an id commits asynchronously: xact.c, RecordTransactionCommit.) */
const char pg_sql_wal_flush[] = "SELECT set_config('synchronous_commit', 'local', true), "
                                "pg_logical_emit_message(true, 'ferry-flush', '')";
const char pg_sql_sequences[] = "SELECT format('%I.%I', schemaname, sequencename), last_value FROM "
                                "pg_sequences WHERE last_value IS NOT NULL";
const char pg_sql_create_slot[] =
        "SELECT lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')";
const char pg_sql_count_tables[] =
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = "
        "c.relnamespace WHERE c.relkind IN ('r','p') AND n.nspname NOT IN "
        "('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg_toast%'";

/* a rollback's "carried back" count (postgresql_switch.c: count_carried) */
const char pg_sql_carried_start[] = "SELECT substring(obj_description(oid, 'pg_subscription') FROM "
                                    "'start=([0-9A-F/]+)') FROM pg_subscription WHERE subname = $1";
const char pg_sql_lsn_diff[] = "SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)";
const char pg_sql_carried_txns[] =
        "SELECT total_txns FROM pg_stat_replication_slots WHERE slot_name = $3 "
        "AND $1 <> '' AND $2 <> ''";

/* pg_dump --schema-only of old piped into psql on new; "-d CONNINFO" goes
 * last (postgresql.c: schema_copy) */
const char *const pg_dump_argv[] = {
	"pg_dump", "--schema-only", "--no-publications", "--no-subscriptions", "-d", NULL
};
/* --single-transaction: a schema copy that fails leaves nothing behind, so
 * that a retry finds the new database as it was */
const char *const pg_psql_argv[] = {
	"psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-d", NULL
};

/* ---- the parallel copy (postgresql_copy.c) ---- */

/* the replication protocol's command (manual, "Streaming Replication
 * Protocol"): the slot, and a snapshot exported for as long as this
 * connection stays open and idle; the old spelling works from 10 to 16 */
char *pg_sql_copy_slot(const char *slot)
{
	char *q = pgsql_quote_ident(slot);
	char *sql = xasprintf("CREATE_REPLICATION_SLOT %s LOGICAL pgoutput EXPORT_SNAPSHOT", q);

	free(q);
	return sql;
}
const char pg_sql_slot_confirmed[] =
        "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1";
/* the tables ferry copies: permanent heap tables (partitions included,
 * not their parents) outside the system schemas and outside extensions;
 * their size, block count, the planner's row estimate, and the columns a
 * COPY can write (generated columns are computed on the new side) */
const char pg_sql_copy_tables[] =
        "SELECT format('%I.%I', n.nspname, c.relname), pg_table_size(c.oid), "
        "pg_relation_size(c.oid) / current_setting('block_size')::bigint, "
        "c.reltuples::bigint, (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY "
        "a.attnum) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT "
        "a.attisdropped AND a.attgenerated = '') FROM pg_class c JOIN pg_namespace n ON "
        "n.oid = c.relnamespace WHERE c.relkind = 'r' AND c.relpersistence = 'p' AND "
        "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE "
        "'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' AND NOT EXISTS (SELECT 1 FROM "
        "pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND "
        "d.deptype = 'e') ORDER BY 2 DESC, 1";
const char pg_sql_copy_snapshot_begin[] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
/* what exists on new of what pg_restore's list names (postgresql_copy.c:
 * post_data), as "INDEX schema name", "CONSTRAINT schema table name",
 * "TRIGGER schema table name" */
const char pg_sql_post_data_present[] =
        "SELECT 'INDEX ' || n.nspname || ' ' || c.relname FROM pg_class c JOIN pg_namespace "
        "n ON n.oid = c.relnamespace WHERE c.relkind IN ('i', 'I') UNION ALL SELECT "
        "'CONSTRAINT ' || n.nspname || ' ' || t.relname || ' ' || co.conname FROM "
        "pg_constraint co JOIN pg_class t ON t.oid = co.conrelid JOIN pg_namespace n ON "
        "n.oid = t.relnamespace UNION ALL SELECT 'TRIGGER ' || n.nspname || ' ' || t.relname "
        "|| ' ' || tg.tgname FROM pg_trigger tg JOIN pg_class t ON t.oid = tg.tgrelid JOIN "
        "pg_namespace n ON n.oid = t.relnamespace WHERE NOT tg.tgisinternal";

/* the parallel copy's children (postgresql_copy.c); pre-data gets
 * "--snapshot=NAME" before its "-d"; post-data "-f FILE" */
const char *const pg_dump_pre_argv[] = {
	"pg_dump",           "--schema-only",      "--section=pre-data",
	"--no-publications", "--no-subscriptions", NULL
};
const char *const pg_dump_post_argv[] = { "pg_dump",
	                                  "-Fc",
	                                  "--schema-only",
	                                  "--section=post-data",
	                                  "--no-publications",
	                                  "--no-subscriptions",
	                                  NULL };

/* PGOPTIONS of pg_restore's sessions for the indexes and constraints */
const char pg_post_data_options[] = "-c maintenance_work_mem=512MB -c synchronous_commit=off";

char *pg_sql_snapshot_set(const char *snapshot)
{
	char *lit = pgsql_quote_literal(snapshot);
	char *sql = xasprintf("SET TRANSACTION SNAPSHOT %s", lit);

	free(lit);
	return sql;
}

char *pg_sql_copy_out(const char *table, const char *cols, int64_t lo, int64_t hi)
{
	/* a block range is a TID range scan (PostgreSQL 14); hi < 0: open */
	if (lo < 0)
		return xasprintf("COPY %s (%s) TO STDOUT", table, cols);
	if (hi < 0)
		return xasprintf("COPY (SELECT %s FROM ONLY %s WHERE ctid >= '(%lld,0)'::tid) TO "
		                 "STDOUT",
		                 cols, table, (long long)lo);
	return xasprintf("COPY (SELECT %s FROM ONLY %s WHERE ctid >= '(%lld,0)'::tid AND ctid < "
	                 "'(%lld,0)'::tid) TO STDOUT",
	                 cols, table, (long long)lo, (long long)hi);
}

char *pg_sql_copy_in(const char *table, const char *cols)
{
	return xasprintf("COPY %s (%s) FROM STDIN", table, cols);
}

/* "CREATE PUBLICATION p FOR TABLE a, b" / "ALTER PUBLICATION p SET TABLE
 * a, b" / "... ADD TABLE ..."; names are quoted already */
char *pg_sql_pub_tables(const char *pub, const char *verb, const char *const *tables, size_t n)
{
	char *q = pgsql_quote_ident(pub);
	struct buf b;
	size_t i;

	buf_init(&b, 256 << 20);
	if (!strcmp(verb, "CREATE"))
		buf_addf(&b, "CREATE PUBLICATION %s%s", q, n ? " FOR TABLE " : "");
	else
		buf_addf(&b, "ALTER PUBLICATION %s %s TABLE ", q, verb);
	for (i = 0; i < n; i++)
		buf_addf(&b, "%s%s", i ? ", " : "", tables[i]);
	free(q);
	return buf_detach(&b, NULL);
}

char *pg_sql_truncate(const char *const *tables, size_t n)
{
	struct buf b;
	size_t i;

	buf_init(&b, 256 << 20);
	buf_adds(&b, "TRUNCATE ONLY ");
	for (i = 0; i < n; i++)
		buf_addf(&b, "%s%s", i ? ", " : "", tables[i]);
	return buf_detach(&b, NULL);
}

const struct pg_teardown_item pg_teardown_order[] = {
	{ PG_OBJ_SUB, true, "ferry_sub", false },  { PG_OBJ_SUB, false, "ferry_rev_sub", false },
	{ PG_OBJ_SLOT, false, NULL, false },       { PG_OBJ_SLOT, true, NULL, false },
	{ PG_OBJ_PUB, false, "ferry_pub", false }, { PG_OBJ_PUB, true, "ferry_rev_pub", false },
	{ PG_OBJ_SUB, false, NULL, true },
};

const char *pg_teardown_name(const struct pg *p, const struct pg_teardown_item *t)
{
	if (t->kind != PG_OBJ_SLOT)
		return t->name;
	/* the forward slot lives on old, the reverse one on new */
	return t->on_new ? p->slot_rev : p->slot_fwd;
}

/* fmt with one %s: the quoted identifier */
static char *ident_stmt(const char *fmt, const char *ident)
{
	char *q = pgsql_quote_ident(ident);
	char *sql = xasprintf(fmt, q);

	free(q);
	return sql;
}

char *pg_sql_pub_create(const char *pub)
{
	return ident_stmt("CREATE PUBLICATION %s FOR ALL TABLES", pub);
}

char *pg_sql_pub_drop(const char *pub)
{
	return ident_stmt("DROP PUBLICATION IF EXISTS %s", pub);
}

char *pg_sql_sub_drop(const char *sub)
{
	return ident_stmt("DROP SUBSCRIPTION IF EXISTS %s", sub);
}

char *pg_sql_sub_alter(const char *sub, const char *what)
{
	char *q = pgsql_quote_ident(sub);
	char *sql = xasprintf("ALTER SUBSCRIPTION %s %s", q, what);

	free(q);
	return sql;
}

char *pg_sql_sub_create(const char *sub, const char *conninfo, const char *pub, const char *opts)
{
	char *lit = pgsql_quote_literal(conninfo);
	char *qn = pgsql_quote_ident(sub);
	char *qp = pgsql_quote_ident(pub);
	char *sql = xasprintf("CREATE SUBSCRIPTION %s CONNECTION %s PUBLICATION %s WITH (%s)", qn,
	                      lit, qp, opts);

	/* the literal may hold the password */
	xfree_secret(lit, 0);
	free(qn);
	free(qp);
	return sql;
}

char *pg_sub_opts_forward(const char *slot)
{
	return xasprintf("copy_data = true, slot_name = '%s', synchronous_commit = 'on'", slot);
}

char *pg_sub_opts_on_slot(const char *slot)
{
	return xasprintf(
	        "create_slot = false, copy_data = false, enabled = true, slot_name = '%s', "
	        "synchronous_commit = 'on'",
	        slot);
}

char *pg_sql_sub_comment(const char *sub, const char *start_lsn)
{
	char *q = pgsql_quote_ident(sub);
	char *c = xasprintf("ferry: start=%s", start_lsn);
	char *lit = pgsql_quote_literal(c);
	char *sql = xasprintf("COMMENT ON SUBSCRIPTION %s IS %s", q, lit);

	free(lit);
	free(c);
	free(q);
	return sql;
}

char *pg_sql_fence(const char *dbname, bool on)
{
	return ident_stmt(on ? "ALTER DATABASE %s SET default_transaction_read_only = on"
	                     : "ALTER DATABASE %s RESET default_transaction_read_only",
	                  dbname);
}

/* The fence set (on) or removed, and the sessions that may hold the
 * database's old default signalled, in one round trip: BEGIN and COMMIT
 * make the ALTER commit before the rest of the simple query runs (so
 * that a session starting after the signals reads the new default; a bare
 * COMMIT in the query's implicit transaction would warn), then the
 * sessions still starting and every client session shown but keep are
 * signalled, and the time after that is the answer: a session that started
 * later holds the new default.  keep (a pid array literal, or NULL): the
 * sessions not signalled: ferry's own, and for an unfence those a staged
 * fence found before its ALTER (pg_sql_fence_stage), which hold the old
 * default. */
char *pg_sql_fence_end(const char *dbname, bool on, const char *keep)
{
	char *fence = pg_sql_fence(dbname, on);
	char *lit = keep ? pgsql_quote_literal(keep) : NULL;
	char *but = lit ? xasprintf(" AND pid <> ALL (%s::int[])", lit) : xstrdup("");
	char *sql =
	        xasprintf("BEGIN; %s; COMMIT; %s; SELECT clock_timestamp()::text FROM (SELECT "
	                  "count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE %s%s) t",
	                  fence, pg_sql_terminate_starting, pg_sql_sessions_fenced, but);

	free(but);
	free(lit);
	free(fence);
	return sql;
}

/* The target's sequence moves to value, never backwards (a recovery that
 * runs finalize again after the target took writes must not hand out an
 * id twice): the larger of the two for an ascending sequence, the smaller
 * for a descending one. */
void pg_sql_setval_add(struct buf *sql, bool first, const char *name_lit, const char *value)
{
	buf_addf(sql,
	         "%s setval(%s::regclass, CASE WHEN (SELECT seqincrement > 0 FROM pg_sequence "
	         "WHERE seqrelid = %s::regclass) THEN greatest(%s, "
	         "pg_sequence_last_value(%s::regclass)) ELSE least(%s, "
	         "pg_sequence_last_value(%s::regclass)) END, true)",
	         first ? "SELECT" : ",", name_lit, name_lit, value, name_lit, value, name_lit);
}
