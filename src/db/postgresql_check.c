/*
 * postgresql_check.c - the PostgreSQL engine's readiness checks (ferry
 * check, and the gate into replication).
 *
 * Each check is one row {name, ok/warn/fail, what is wrong and how to fix
 * it, the migration failure it prevents}, declared in the table checks[]
 * below (the way pgbouncer declares its settings): most rows are one query
 * and two message formats, a few are functions.  They only read: settings
 * and catalogs on both sides, plus a COPY of up to 32 MB of the largest
 * table to a sink, which measures the copy rate of this pair for the
 * estimate of what a dump and restore would cost in downtime.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/postgresql_int.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

char *pg_show(struct pgsql_conn *c, const char *setting, struct ferry_error *err)
{
	const char *params[1] = { setting };
	char *v = NULL;

	if (pgsql_query_value(c, "SELECT current_setting($1)", 1, params,
	                      pg_deadline(PG_TIMEOUT_MS), &v, err) < 0)
		return NULL;
	return v;
}

int64_t pg_count(struct pgsql_conn *c, const char *sql, struct ferry_error *err)
{
	char *v = NULL;
	int64_t n = -1;

	if (pgsql_query_value(c, sql, 0, NULL, pg_deadline(PG_TIMEOUT_MS), &v, err) == 0 && v)
		n = strtoll(v, NULL, 10);
	free(v);
	return n;
}

/*
 * The declared checks.  Each SQL row runs on its side and returns one row
 * (ok boolean, detail text, role text): ok picks the status (OK, else the
 * row's bad status), and the message is the row's ok or bad format with
 * %1$s the detail and %2$s the connecting role (a format that names the
 * role names the detail too).  Rows whose judgement needs both sides or
 * more than one query are functions (custom).
 *
 * Without SUPERUSER (the managed services: RDS, Aurora, Cloud SQL, Azure)
 * the old side needs: REPLICATION (the slot), ownership of the tables (a
 * publication FOR TABLE), ownership of the database (the fence, ALTER
 * DATABASE ... SET), pg_signal_backend (ending sessions at the fence) and
 * pg_read_all_stats (seeing other roles' sessions); the managed services'
 * own names for these are in the messages.  Creating a subscription needs
 * SUPERUSER on PostgreSQL 15 (or a managed service's admin role, which
 * those services let do it; pg_create_subscription from 16): the new
 * side always, the old side for the rollback's reverse stream.
 */
#define ROLE_SQL "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
/* the managed services' admin roles that may create subscriptions */
#define SUB_ROLES_SQL                                                                              \
	"EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname IN ('rds_superuser', "                   \
	"'cloudsqlsuperuser', 'azure_pg_admin', 'pg_create_subscription') AND "                    \
	"pg_has_role(current_user, r.oid, 'MEMBER'))"
#define GRANTS_HINT_REPL                                                                           \
	"ALTER ROLE %2$s REPLICATION (RDS and Aurora: GRANT rds_replication TO %2$s; Cloud "       \
	"SQL: ALTER USER %2$s WITH REPLICATION, with cloudsql.logical_decoding on; Azure: "        \
	"ALTER ROLE %2$s REPLICATION, with azure.replication_support logical)"

enum side {
	SIDE_OLD,
	SIDE_NEW,
};

struct check_def;
typedef void (*check_fn)(struct pg *p, const struct check_def *d, struct db_checks *out);

struct check_def {
	const char *name;
	enum side side;
	const char *sql; /* (ok, detail, role); NULL: fn */
	enum db_check_status bad;
	const char *ok_fmt, *bad_fmt;
	const char *prevents;
	check_fn fn;
};

#define SQL_ROW(nm, sd, q, st, okf, badf, prev)                                                    \
	{                                                                                          \
		.name = nm, .side = sd, .sql = q, .bad = st, .ok_fmt = okf, .bad_fmt = badf,       \
		.prevents = prev                                                                   \
	}
#define FN_ROW(nm, f)                                                                              \
	{                                                                                          \
		.name = nm, .fn = f                                                                \
	}

#define WAL_LEVEL_SQL                                                                              \
	"SELECT current_setting('wal_level') = 'logical', current_setting('wal_level'), "          \
	"current_user"
#define SLOTS_SQL                                                                                  \
	"SELECT current_setting('max_replication_slots')::int - (SELECT count(*) FROM "            \
	"pg_replication_slots) >= 1, format('%s of %s free', current_setting("                     \
	"'max_replication_slots')::int - (SELECT count(*) FROM pg_replication_slots), "            \
	"current_setting('max_replication_slots')), current_user"
#define SENDERS_SQL                                                                                \
	"SELECT current_setting('max_wal_senders')::int - (SELECT count(*) FROM "                  \
	"pg_stat_replication) >= 2, format('%s of %s free', current_setting("                      \
	"'max_wal_senders')::int - (SELECT count(*) FROM pg_stat_replication), "                   \
	"current_setting('max_wal_senders')), current_user"
#define KEEP_SQL                                                                                   \
	"SELECT current_setting('max_slot_wal_keep_size') <> '-1', "                               \
	"current_setting('max_slot_wal_keep_size'), current_user"
#define SUB_SQL "SELECT " ROLE_SQL " OR " SUB_ROLES_SQL ", '', current_user"

static void check_versions(struct pg *p, const struct check_def *d, struct db_checks *out);
static void check_large_objects(struct pg *p, const struct check_def *d, struct db_checks *out);
static void check_extensions(struct pg *p, const struct check_def *d, struct db_checks *out);
static void check_roles(struct pg *p, const struct check_def *d, struct db_checks *out);
static void check_target_empty(struct pg *p, const struct check_def *d, struct db_checks *out);
static void check_size(struct pg *p, const struct check_def *d, struct db_checks *out);

static const struct check_def checks[] = {
	FN_ROW("versions", check_versions),
	SQL_ROW("old wal_level", SIDE_OLD, WAL_LEVEL_SQL, DB_CHECK_FAIL, "wal_level is logical",
	        "old wal_level is '%1$s'; set wal_level=logical and restart the server",
	        "logical replication cannot start"),
	SQL_ROW("old replication slots", SIDE_OLD, SLOTS_SQL, DB_CHECK_FAIL,
	        "%1$s replication slots",
	        "old has no free replication slot (%1$s); raise max_replication_slots and restart",
	        "the replication slot cannot be created"),
	SQL_ROW("old wal senders", SIDE_OLD, SENDERS_SQL, DB_CHECK_FAIL, "%1$s WAL senders",
	        "old has fewer than 2 free WAL senders (%1$s); raise max_wal_senders and restart",
	        "the subscriber cannot connect to stream changes"),
	SQL_ROW("old max_slot_wal_keep_size", SIDE_OLD, KEEP_SQL, DB_CHECK_WARN,
	        "max_slot_wal_keep_size is %1$s",
	        "old max_slot_wal_keep_size is %1$s (unlimited): a stalled slot keeps WAL without "
	        "bound; set it to a size the disk can hold (ferry's WAL guard drops its slot "
	        "at wal_limit_mb)",
	        "a stalled subscriber fills the server's disk and stops it"),
	SQL_ROW("new wal_level", SIDE_NEW, WAL_LEVEL_SQL, DB_CHECK_WARN, "wal_level is logical",
	        "new wal_level is '%1$s'; set wal_level=logical and restart the server",
	        "no reverse replication: a rollback would lose the writes made on the new side"),
	SQL_ROW("new replication slots", SIDE_NEW, SLOTS_SQL, DB_CHECK_WARN,
	        "%1$s replication slots",
	        "new has no free replication slot (%1$s); raise max_replication_slots and restart",
	        "the reverse replication slot cannot be created"),
	SQL_ROW("new wal senders", SIDE_NEW, SENDERS_SQL, DB_CHECK_WARN, "%1$s WAL senders",
	        "new has fewer than 2 free WAL senders (%1$s); raise max_wal_senders and restart",
	        "the old side cannot stream the reverse changes"),
	SQL_ROW("new max_slot_wal_keep_size", SIDE_NEW, KEEP_SQL, DB_CHECK_WARN,
	        "max_slot_wal_keep_size is %1$s",
	        "new max_slot_wal_keep_size is %1$s (unlimited): a stalled slot keeps WAL without "
	        "bound; set it to a size the disk can hold",
	        "a stalled subscriber fills the server's disk and stops it"),
	/* the slot: REPLICATION is enough, SUPERUSER not needed */
	SQL_ROW("old role", SIDE_OLD,
	        "SELECT rolsuper OR rolreplication, CASE WHEN rolsuper THEN 'SUPERUSER' WHEN "
	        "rolreplication THEN 'REPLICATION' ELSE 'NOREPLICATION' END, current_user FROM "
	        "pg_roles WHERE rolname = current_user",
	        DB_CHECK_FAIL, "%2$s has %1$s",
	        "old role %2$s has neither SUPERUSER nor REPLICATION (%1$s); " GRANTS_HINT_REPL,
	        "the replication slot cannot be created"),
	SQL_ROW("old table owner", SIDE_OLD,
	        "SELECT " ROLE_SQL " OR count(*) = 0, coalesce(string_agg(format('%I.%I', "
	        "n.nspname, c.relname), ', ' ORDER BY n.nspname, c.relname), ''), "
	        "current_user "
	        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN "
	        "('r', 'p') AND c.relpersistence = 'p' AND n.nspname NOT IN ('pg_catalog', "
	        "'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND NOT "
	        "pg_has_role(current_user, c.relowner, 'USAGE')",
	        DB_CHECK_FAIL, "%2$s owns every table (or is superuser)",
	        "old role %2$s does not own these tables: %1$s; a publication FOR TABLE needs "
	        "ownership without SUPERUSER: GRANT the owning role TO %2$s (RDS, Cloud SQL, "
	        "Azure alike), or ALTER TABLE ... OWNER TO %2$s",
	        "the publication cannot be created"),
	SQL_ROW("old schema usage", SIDE_OLD,
	        "SELECT " ROLE_SQL " OR count(*) = 0, coalesce(string_agg(quote_ident(n.nspname), "
	        "', ' ORDER BY n.nspname), ''), current_user FROM pg_namespace n WHERE "
	        "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE "
	        "'pg\\_%' AND EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND "
	        "c.relkind IN ('r', 'p')) AND NOT has_schema_privilege(current_user, n.oid, "
	        "'USAGE')",
	        DB_CHECK_FAIL, "%2$s may use every schema with tables%1$s",
	        "old role %2$s may not use the schemas %1$s: GRANT USAGE ON SCHEMA ... TO %2$s "
	        "(the same on every managed service)",
	        "the schema copy and the table copy cannot read those tables"),
	SQL_ROW("old database owner", SIDE_OLD,
	        "SELECT " ROLE_SQL " OR pg_has_role(current_user, d.datdba, 'USAGE'), "
	        "pg_get_userbyid(d.datdba), current_user FROM pg_database d WHERE d.datname = "
	        "current_database()",
	        DB_CHECK_FAIL, "%2$s may alter the database (owner %1$s)",
	        "old role %2$s does not own the database (its owner is %1$s); the cutover's fence "
	        "(ALTER DATABASE ... SET default_transaction_read_only) needs it: ALTER DATABASE "
	        "... OWNER TO %2$s, or GRANT %1$s TO %2$s when %1$s is not a superuser",
	        "the cutover cannot fence the old database"),
	SQL_ROW("old signal backend", SIDE_OLD,
	        "SELECT " ROLE_SQL " OR pg_has_role(current_user, 'pg_signal_backend', 'MEMBER'), "
	        "'', current_user",
	        DB_CHECK_FAIL, "%2$s may end other sessions%1$s",
	        "old role %2$s may not end other roles' sessions%1$s: GRANT pg_signal_backend TO "
	        "%2$s (RDS and Aurora: rds_superuser has it; Cloud SQL: cloudsqlsuperuser; Azure: "
	        "azure_pg_admin)",
	        "sessions opened before the fence keep writing to the old database"),
	SQL_ROW("old read all stats", SIDE_OLD,
	        "SELECT " ROLE_SQL " OR pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER'), "
	        "'', current_user",
	        DB_CHECK_FAIL, "%2$s sees every session%1$s",
	        "old role %2$s cannot see other roles' sessions%1$s (pg_stat_activity hides them): "
	        "GRANT pg_monitor TO %2$s (RDS and Aurora: rds_superuser has it; Cloud SQL: "
	        "cloudsqlsuperuser; Azure: azure_pg_admin)",
	        "the fence cannot find the sessions it must end"),
	SQL_ROW("old create subscription", SIDE_OLD, SUB_SQL, DB_CHECK_FAIL,
	        "%2$s may create subscriptions%1$s",
	        "old role %2$s may not create a subscription%1$s; the rollback's reverse stream "
	        "(new -> old) is a subscription on old, which PostgreSQL 15 allows superusers only "
	        "(RDS and Aurora: rds_superuser; Cloud SQL: cloudsqlsuperuser; Azure: "
	        "azure_pg_admin; from PostgreSQL 16: pg_create_subscription)",
	        "a rollback cannot carry back the writes made on the new side"),
	SQL_ROW("new role", SIDE_NEW, SUB_SQL, DB_CHECK_FAIL, "%2$s may create subscriptions%1$s",
	        "new role %2$s may not create a subscription%1$s: CREATE SUBSCRIPTION needs "
	        "SUPERUSER on PostgreSQL 15 (ALTER ROLE %2$s SUPERUSER; RDS and Aurora: GRANT "
	        "rds_superuser TO %2$s; Cloud SQL: cloudsqlsuperuser; Azure: azure_pg_admin; "
	        "from PostgreSQL 16: GRANT pg_create_subscription TO %2$s)",
	        "the subscription cannot be created"),
	/* replica identity: UPDATE/DELETE on a published table without one
	 * fail on the source (manual, "Publication") */
	SQL_ROW("replica identity", SIDE_OLD,
	        "SELECT count(*) = 0, coalesce(string_agg(format('%I.%I', n.nspname, c.relname), "
	        "', ' ORDER BY n.nspname, c.relname), ''), current_user FROM pg_class c JOIN "
	        "pg_namespace n ON n.oid "
	        "= c.relnamespace WHERE c.relkind IN ('r','p') AND n.nspname NOT IN "
	        "('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND NOT "
	        "c.relispartition AND (c.relreplident = 'n' OR (c.relreplident = 'd' AND NOT "
	        "EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)) OR "
	        "(c.relreplident = 'i' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = "
	        "c.oid AND i.indisreplident)))",
	        DB_CHECK_FAIL, "every table has a primary key or a replica identity%1$s",
	        "tables without a primary key or usable REPLICA IDENTITY: %1$s; add a primary "
	        "key, or ALTER TABLE ... REPLICA IDENTITY FULL",
	        "UPDATE and DELETE on these tables fail on the source once published"),
	FN_ROW("large objects", check_large_objects),
	SQL_ROW("unlogged tables", SIDE_OLD,
	        "SELECT count(*) = 0, coalesce(string_agg(format('%I.%I', n.nspname, c.relname), "
	        "', '), ''), current_user FROM pg_class c JOIN pg_namespace n ON n.oid = "
	        "c.relnamespace WHERE c.relpersistence = 'u' AND c.relkind = 'r'",
	        DB_CHECK_WARN, "no unlogged tables%1$s",
	        "unlogged tables are not replicated: %1$s; ALTER TABLE ... SET LOGGED or accept "
	        "they start empty",
	        "their rows are missing on the new database"),
	FN_ROW("extensions", check_extensions),
	FN_ROW("roles", check_roles),
	FN_ROW("target empty", check_target_empty),
	FN_ROW("size", check_size),
	/* direct writers: sessions that do not come through a pooler are
	 * ended by the fence; list them so the operator knows */
	SQL_ROW("direct sessions", SIDE_OLD,
	        "SELECT count(*) = 0, coalesce(string_agg(DISTINCT format('%s@%s (%s)', usename, "
	        "coalesce(host(client_addr), 'local'), coalesce(nullif(application_name, ''), "
	        "'-')), ', '), ''), current_user FROM pg_stat_activity WHERE datname = "
	        "current_database() AND backend_type = 'client backend' AND pid <> "
	        "pg_backend_pid() AND application_name <> 'ferry'",
	        DB_CHECK_WARN, "no other sessions%1$s",
	        "sessions on the old database (poolers included): %1$s; the cutover ends every "
	        "one of them; point direct writers at the pooler",
	        "a writer that bypasses the pooler loses its session at the fence"),
};

/* One SQL row: its query on its side, judged by the first column. */
static void check_sql(struct pg *p, const struct check_def *d, struct db_checks *out)
{
	struct ferry_error e = { 0 };
	struct pgsql_conn *c = d->side == SIDE_OLD ? p->old : p->new;
	struct pgsql_result r;

	if (pgsql_exec(c, d->sql, 0, NULL, pg_deadline(PG_TIMEOUT_MS), &r, &e) < 0 ||
	    r.nrows != 1 || r.ncols < 3) {
		db_checks_add(out, d->name, DB_CHECK_FAIL, d->prevents,
		              "%s: the check could not run: %s", d->name,
		              e.msg[0] ? e.msg : "no row");
	} else {
		bool ok = !strcmp(pgsql_result_get(&r, 0, 0) ?: "f", "t");
		const char *detail = pgsql_result_get(&r, 0, 1) ?: "";
		const char *role = pgsql_result_get(&r, 0, 2) ?: "?";
		db_checks_add(out, d->name, ok ? DB_CHECK_OK : d->bad, ok ? NULL : d->prevents,
		              ok ? d->ok_fmt : d->bad_fmt, detail, role);
	}
	pgsql_result_release(&r);
}

static int64_t measure_copy_rate(struct pgsql_conn *c, const char *table, struct ferry_error *err)
{
	int64_t t0, bytes = 0, ms;
	char *sql = xasprintf("COPY (SELECT * FROM %s) TO STDOUT", table);
	int rc;

	t0 = time_mono_us();
	rc = pgsql_copy_out_discard(c, sql, 32 << 20, pg_deadline(10000), &bytes, err);
	ms = (time_mono_us() - t0) / 1000;
	free(sql);
	/* Under a megabyte the timing is all setup: no rate worth quoting. */
	if (rc < 0 || bytes < (1 << 20))
		return -1;
	return bytes * 1000 / (ms > 0 ? ms : 1);
}

/* The names q_old lists on old that q_new does not list on new, comma
 * separated into missing.  Returns 0, or the error of either query (then
 * the check is left out, not guessed). */
static int missing_on_new(struct pg *p, const char *q_old, const char *q_new, struct buf *missing,
                          struct ferry_error *err)
{
	struct pgsql_result o, n;
	int i, j, r;

	pgsql_result_init(&o);
	pgsql_result_init(&n);
	r = pgsql_exec(p->old, q_old, 0, NULL, pg_deadline(PG_TIMEOUT_MS), &o, err);
	if (r == 0)
		r = pgsql_exec(p->new, q_new, 0, NULL, pg_deadline(PG_TIMEOUT_MS), &n, err);
	for (i = 0; r == 0 && i < o.nrows; i++) {
		const char *x = pgsql_result_get(&o, i, 0);
		bool found = false;

		for (j = 0; j < n.nrows && !found; j++)
			found = !strcmp(x, pgsql_result_get(&n, j, 0));
		if (!found)
			buf_addf(missing, "%s%s", missing->len ? ", " : "", x);
	}
	pgsql_result_release(&o);
	pgsql_result_release(&n);
	return r;
}

/* Names the first large objects: OID and the columns (of type oid or
 * lo) whose rows reference it, "OID 16400 in public.docs.blob, OID 16401
 * referenced by no column".  Best effort: a query that fails names fewer. */
static void large_objects_named(struct pgsql_conn *c, struct buf *out)
{
	struct ferry_error ignored = { 0 };
	struct pgsql_result r;
	int i;

	/* every (oid, column) pair for the first 10 objects: each user column
	 * of type oid or lo is searched for them, one query per column, built
	 * by the server (query_to_xml runs it) */
	if (pgsql_exec(c, pg_sql_large_objects_named, 0, NULL, pg_deadline(PG_TIMEOUT_MS), &r,
	               &ignored) < 0) {
		pgsql_result_release(&r);
		return;
	}
	for (i = 0; i < r.nrows; i++)
		buf_addf(out, "%sOID %s %s", i ? ", " : "", pgsql_result_get(&r, i, 0),
		         pgsql_result_get(&r, i, 1) ?: "referenced by no oid or lo column");
	pgsql_result_release(&r);
}

static void check_versions(struct pg *p, const struct check_def *d, struct db_checks *out)
{
	int vo = pgsql_server_version(p->old), vn = pgsql_server_version(p->new);

	if (vo < 100000 || vn < 100000)
		db_checks_add(out, d->name, DB_CHECK_FAIL, "logical replication does not exist",
		              "old is %d, new is %d; both must be PostgreSQL 10 or later", vo, vn);
	else if (vo > vn)
		db_checks_add(out, d->name, DB_CHECK_FAIL,
		              "the schema dump does not load into an older server",
		              "old is %d, new is %d; the new server must not be older", vo, vn);
	else
		db_checks_add(out, d->name, DB_CHECK_OK, NULL, "old %d, new %d", vo, vn);
}

static void check_large_objects(struct pg *p, const struct check_def *d, struct db_checks *out)
{
	struct ferry_error e = { 0 };
	int64_t n = pg_count(p->old, "SELECT count(*) FROM pg_largeobject_metadata", &e);
	struct buf named;

	if (n <= 0) {
		db_checks_add(out, d->name, DB_CHECK_OK, NULL, "no large objects");
		return;
	}
	buf_init(&named, 1 << 16);
	large_objects_named(p->old, &named);
	db_checks_add(out, d->name, DB_CHECK_WARN,
	              "large objects missing on the new database after the cutover",
	              "%lld large objects: logical replication does not carry them (%s); copy "
	              "them separately or move them into bytea columns",
	              (long long)n, named.data ? named.data : "");
	buf_release(&named);
}

/* extensions in use on old that new cannot install */
static void check_extensions(struct pg *p, const struct check_def *d, struct db_checks *out)
{
	struct ferry_error e = { 0 };
	struct buf missing;

	buf_init(&missing, 1 << 16);
	if (missing_on_new(p, "SELECT extname FROM pg_extension ORDER BY 1",
	                   "SELECT name FROM pg_available_extensions", &missing, &e) == 0) {
		if (missing.len)
			db_checks_add(out, d->name, DB_CHECK_FAIL,
			              "the schema copy fails on the new server",
			              "extensions used on old are not available on new: %s; "
			              "install their packages on the new server",
			              missing.data);
		else
			db_checks_add(out, d->name, DB_CHECK_OK, NULL,
			              "every extension is available on new");
	}
	buf_release(&missing);
}

/* Roles are global objects that pg_dump of one database does not copy:
 * every role that owns an object or holds a privilege in the old database
 * must exist on the new server, or the schema copy fails (or, copied
 * without owners, the application loses its privileges). */
static void check_roles(struct pg *p, const struct check_def *d, struct db_checks *out)
{
	struct ferry_error e = { 0 };
	struct buf missing;

	buf_init(&missing, 1 << 16);
	if (missing_on_new(p,
	                   "SELECT DISTINCT r.rolname FROM pg_roles r WHERE r.oid IN ("
	                   "SELECT c.relowner FROM pg_class c JOIN pg_namespace n ON n.oid = "
	                   "c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', "
	                   "'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
	                   "UNION SELECT nspowner FROM pg_namespace WHERE nspname NOT LIKE 'pg_%' "
	                   "AND nspname <> 'information_schema' "
	                   "UNION SELECT (aclexplode(c.relacl)).grantee FROM pg_class c "
	                   "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relacl IS NOT "
	                   "NULL AND n.nspname NOT IN ('pg_catalog', 'information_schema')) "
	                   "ORDER BY 1",
	                   "SELECT rolname FROM pg_roles", &missing, &e) == 0) {
		if (missing.len)
			db_checks_add(out, d->name, DB_CHECK_FAIL,
			              "the schema copy fails, or the application loses its "
			              "privileges on the new database",
			              "roles that own objects or hold privileges on old do not "
			              "exist on new: %s; create them on the new server "
			              "(pg_dumpall --roles-only shows them)",
			              missing.data);
		else
			db_checks_add(
			        out, d->name, DB_CHECK_OK, NULL,
			        "every role that owns or holds privileges on old exists on new");
	}
	buf_release(&missing);
}

static void check_target_empty(struct pg *p, const struct check_def *d, struct db_checks *out)
{
	struct ferry_error e = { 0 };
	int64_t n = pg_count(p->new, pg_sql_count_tables, &e);
	int have = pg_sub_exists(p->new, "ferry_sub", NULL, NULL, &e);

	if (n > 0 && have != 1)
		db_checks_add(out, d->name, DB_CHECK_WARN,
		              "the schema copy fails or mixes with existing rows",
		              "the new database already has %lld user tables; drop them or use an "
		              "empty database (a copy ferry began is resumed: the schema diff "
		              "decides)",
		              (long long)n);
	else
		db_checks_add(out, d->name, DB_CHECK_OK, NULL,
		              have == 1 ? "replication already set up"
		                        : "the new database has no user tables");
}

/* size, the largest table, and what a dump and restore would cost */
static void check_size(struct pg *p, const struct check_def *d, struct db_checks *out)
{
	struct ferry_error e = { 0 };
	struct pgsql_result r;

	if (pgsql_exec(p->old,
	               "SELECT pg_database_size(current_database()), (SELECT format('%I.%I', "
	               "n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = "
	               "c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN "
	               "('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
	               "ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 1), (SELECT "
	               "pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON "
	               "n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN "
	               "('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
	               "ORDER BY 1 DESC LIMIT 1)",
	               0, NULL, pg_deadline(PG_TIMEOUT_MS), &r, &e) == 0 &&
	    r.nrows == 1) {
		int64_t size = pgsql_result_int(&r, 0, 0, 0);
		const char *largest = pgsql_result_get(&r, 0, 1);
		int64_t lsize = pgsql_result_int(&r, 0, 2, 0);
		int64_t rate = largest ? measure_copy_rate(p->old, largest, &e) : -1;
		char dump[32] = "?", cost[160];

		if (rate > 0) {
			/* dump and restore each move every byte once; restore
			 * also builds the indexes: 2x is the optimistic bound */
			duration_human(2 * size * 1000 / rate, dump, sizeof(dump));
			snprintf(cost, sizeof(cost),
			         "copy rate measured %lld MB/s: a dump and restore would stop "
			         "writes for about %s",
			         (long long)(rate >> 20), dump);
		} else {
			snprintf(cost, sizeof(cost),
			         "too little data to measure a copy rate: a dump and restore would "
			         "stop writes for seconds");
		}
		/* the initial sync: the parallel copy moves the bytes once and
		 * builds the indexes after (1.5x the bytes at the measured rate;
		 * bench/pg-cutover); the table sync into indexed tables with few
		 * workers is slower (3x) */
		int64_t per = p->cfg->copy_method == DB_COPY_BUILTIN ? 2 : 1; /* halves */
		int64_t est = rate > 0 ? size * 1000 / rate * 3 * per / 2 : 0;
		char sync[32] = "?";

		if (est > 0)
			duration_human(est / 1000 * 1000 + 1000, sync, sizeof(sync));
		db_checks_add(
		        out, d->name, DB_CHECK_OK, NULL,
		        "database %lld MB, largest table %s (%lld MB); %s; the initial sync "
		        "would take about %s; replication needs a write pause under %lld ms",
		        (long long)(size >> 20), largest ? largest : "-", (long long)(lsize >> 20),
		        cost, sync,
		        (long long)(p->cfg->pause_budget_ms ? p->cfg->pause_budget_ms : 5000));
		out->v[out->n - 1].estimate_ms = est;
	}
	pgsql_result_release(&r);
}

int pg_check(void *h, struct db_checks *out, struct ferry_error *err)
{
	struct pg *p = h;
	size_t i;

	for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		if (checks[i].fn)
			checks[i].fn(p, &checks[i], out);
		else
			check_sql(p, &checks[i], out);
	}
	/* rows that could not run say so; a connection gone is an error */
	if (!pgsql_ok(p->old) || !pgsql_ok(p->new))
		return ferry_error_set(err, FERRY_EUNREACH, "check that both servers run",
		                       "database %s: connection lost during the readiness checks",
		                       p->cfg->name);
	return 0;
}
