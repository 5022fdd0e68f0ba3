/*
 * postgresql_check.c - the PostgreSQL engine's readiness checks (ferry
 * check, and the gate into replication).
 *
 * Each check is one row {name, ok/warn/fail, what is wrong and how to fix
 * it, the migration failure it prevents}.  They only read: settings and
 * catalogs on both sides, plus a COPY of up to 32 MB of the largest table
 * to a sink, which measures the copy rate of this pair for the estimate of
 * what a dump and restore would cost in downtime.
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

static void check_side_logical(struct pg *p, struct pgsql_conn *c, const char *side,
                               bool needed_now, struct db_checks *out, struct ferry_error *err)
{
	char name[64];
	char *wal = pg_show(c, "wal_level", err);
	char *slots = pg_show(c, "max_replication_slots", err);
	char *senders = pg_show(c, "max_wal_senders", err);
	char *keep = pg_show(c, "max_slot_wal_keep_size", err);
	int64_t used_slots = pg_count(c, "SELECT count(*) FROM pg_replication_slots", err);
	int64_t used_senders = pg_count(c, "SELECT count(*) FROM pg_stat_replication", err);
	enum db_check_status bad = needed_now ? DB_CHECK_FAIL : DB_CHECK_WARN;

	(void)p;
	snprintf(name, sizeof(name), "%s wal_level", side);
	if (wal && !strcmp(wal, "logical"))
		db_checks_add(out, name, DB_CHECK_OK, NULL, "wal_level is logical");
	else
		db_checks_add(out, name, bad,
		              needed_now
		                      ? "logical replication cannot start"
		                      : "no reverse replication: a rollback would lose the writes "
		                        "made on the new side",
		              "%s wal_level is '%s'; set wal_level=logical and restart the server",
		              side, wal ? wal : "?");
	snprintf(name, sizeof(name), "%s replication slots", side);
	if (slots && strtoll(slots, NULL, 10) - used_slots >= 1)
		db_checks_add(out, name, DB_CHECK_OK, NULL, "%lld of %s replication slots free",
		              (long long)(strtoll(slots, NULL, 10) - used_slots), slots);
	else
		db_checks_add(out, name, bad, "the replication slot cannot be created",
		              "%s has no free replication slot (max_replication_slots=%s, %lld "
		              "used); raise max_replication_slots and restart",
		              side, slots ? slots : "?", (long long)used_slots);
	snprintf(name, sizeof(name), "%s wal senders", side);
	if (senders && strtoll(senders, NULL, 10) - used_senders >= 2)
		db_checks_add(out, name, DB_CHECK_OK, NULL, "%lld of %s WAL senders free",
		              (long long)(strtoll(senders, NULL, 10) - used_senders), senders);
	else
		db_checks_add(out, name, bad, "the subscriber cannot connect to stream changes",
		              "%s has fewer than 2 free WAL senders (max_wal_senders=%s, %lld in "
		              "use); raise max_wal_senders and restart",
		              side, senders ? senders : "?", (long long)used_senders);
	snprintf(name, sizeof(name), "%s max_slot_wal_keep_size", side);
	if (keep && !strcmp(keep, "-1"))
		db_checks_add(out, name, DB_CHECK_WARN,
		              "a stalled subscriber fills the server's disk and stops it",
		              "%s max_slot_wal_keep_size is -1 (unlimited): a stalled slot keeps "
		              "WAL without bound; set it to a size the disk can hold",
		              side);
	else
		db_checks_add(out, name, DB_CHECK_OK, NULL, "max_slot_wal_keep_size is %s",
		              keep ? keep : "?");
	free(wal);
	free(slots);
	free(senders);
	free(keep);
}

static void check_role(struct pgsql_conn *c, const char *side, struct db_checks *out,
                       struct ferry_error *err)
{
	struct pgsql_result r;
	char name[64];

	snprintf(name, sizeof(name), "%s role", side);
	if (pgsql_exec(c,
	               "SELECT rolsuper, rolreplication, has_database_privilege(current_user, "
	               "current_database(), 'CREATE'), current_user FROM pg_roles WHERE rolname "
	               "= current_user",
	               0, NULL, pg_deadline(PG_TIMEOUT_MS), &r, err) < 0 ||
	    r.nrows != 1) {
		db_checks_add(out, name, DB_CHECK_FAIL, "replication cannot be set up",
		              "%s: cannot read the role's attributes: %s", side, err->msg);
	} else {
		bool super = !strcmp(pgsql_result_get(&r, 0, 0), "t");
		bool repl = !strcmp(pgsql_result_get(&r, 0, 1), "t");
		bool create = !strcmp(pgsql_result_get(&r, 0, 2), "t");
		/* PG 15: CREATE SUBSCRIPTION needs superuser; FOR ALL TABLES
		 * publications too (manual, CREATE PUBLICATION). */
		if (super)
			db_checks_add(out, name, DB_CHECK_OK, NULL, "%s is superuser",
			              pgsql_result_get(&r, 0, 3));
		else
			db_checks_add(out, name, DB_CHECK_FAIL,
			              "the publication (FOR ALL TABLES) or the subscription cannot "
			              "be created",
			              "%s role %s is not superuser (replication=%s, create=%s); "
			              "FOR ALL TABLES publications and subscriptions need "
			              "superuser on PostgreSQL 15: ALTER ROLE %s SUPERUSER",
			              side, pgsql_result_get(&r, 0, 3), repl ? "yes" : "no",
			              create ? "yes" : "no", pgsql_result_get(&r, 0, 3));
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

int pg_check(void *h, struct db_checks *out, struct ferry_error *err)
{
	struct pg *p = h;
	struct ferry_error e = { 0 };
	struct pgsql_result r;
	int vo = pgsql_server_version(p->old), vn = pgsql_server_version(p->new);
	int64_t n;
	size_t i;

	/* versions */
	if (vo < 100000 || vn < 100000)
		db_checks_add(out, "versions", DB_CHECK_FAIL, "logical replication does not exist",
		              "old is %d, new is %d; both must be PostgreSQL 10 or later", vo, vn);
	else if (vo > vn)
		db_checks_add(out, "versions", DB_CHECK_FAIL,
		              "the schema dump does not load into an older server",
		              "old is %d, new is %d; the new server must not be older", vo, vn);
	else
		db_checks_add(out, "versions", DB_CHECK_OK, NULL, "old %d, new %d", vo, vn);

	check_side_logical(p, p->old, "old", true, out, &e);
	check_side_logical(p, p->new, "new", false, out, &e);
	check_role(p->old, "old", out, &e);
	check_role(p->new, "new", out, &e);

	/* replica identity: UPDATE/DELETE on a published table without one
	 * fail on the source (manual, "Publication"). */
	if (pgsql_exec(p->old,
	               "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN "
	               "pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r','p') "
	               "AND n.nspname NOT IN ('pg_catalog','information_schema') AND n.nspname "
	               "NOT LIKE 'pg_toast%' AND NOT c.relispartition AND (c.relreplident = 'n' "
	               "OR (c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE "
	               "i.indrelid = c.oid AND i.indisprimary)) OR (c.relreplident = 'i' AND NOT "
	               "EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND "
	               "i.indisreplident))) ORDER BY 1",
	               0, NULL, pg_deadline(PG_TIMEOUT_MS), &r, err) < 0)
		return ferry_error_prefix(err, "database %s", p->cfg->name);
	if (r.nrows == 0) {
		db_checks_add(out, "replica identity", DB_CHECK_OK, NULL,
		              "every table has a primary key or a replica identity");
	} else {
		struct buf b;
		buf_init(&b, 1 << 16);
		for (i = 0; i < (size_t)r.nrows; i++)
			buf_addf(&b, "%s%s", i ? ", " : "", pgsql_result_get(&r, (int)i, 0));
		db_checks_add(out, "replica identity", DB_CHECK_FAIL,
		              "UPDATE and DELETE on these tables fail on the source once published",
		              "tables without a primary key or usable REPLICA IDENTITY: %s; add a "
		              "primary key, or ALTER TABLE ... REPLICA IDENTITY FULL",
		              b.data);
		buf_release(&b);
	}
	pgsql_result_release(&r);

	n = pg_count(p->old, "SELECT count(*) FROM pg_largeobject_metadata", &e);
	if (n > 0) {
		struct buf named;

		buf_init(&named, 1 << 16);
		large_objects_named(p->old, &named);
		db_checks_add(out, "large objects", DB_CHECK_WARN,
		              "large objects missing on the new database after the cutover",
		              "%lld large objects: logical replication does not carry them (%s); "
		              "copy them separately or move them into bytea columns",
		              (long long)n, named.data ? named.data : "");
		buf_release(&named);
	} else {
		db_checks_add(out, "large objects", DB_CHECK_OK, NULL, "no large objects");
	}

	if (pgsql_exec(p->old,
	               "SELECT string_agg(format('%I.%I', n.nspname, c.relname), ', ') FROM "
	               "pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
	               "c.relpersistence = 'u' AND c.relkind = 'r'",
	               0, NULL, pg_deadline(PG_TIMEOUT_MS), &r, &e) == 0 &&
	    r.nrows == 1 && pgsql_result_get(&r, 0, 0))
		db_checks_add(out, "unlogged tables", DB_CHECK_WARN,
		              "their rows are missing on the new database",
		              "unlogged tables are not replicated: %s; ALTER TABLE ... SET LOGGED "
		              "or accept they start empty",
		              pgsql_result_get(&r, 0, 0));
	else
		db_checks_add(out, "unlogged tables", DB_CHECK_OK, NULL, "no unlogged tables");
	pgsql_result_release(&r);

	/* extensions in use on old that new cannot install */
	{
		struct buf missing;

		buf_init(&missing, 1 << 16);
		if (missing_on_new(p, "SELECT extname FROM pg_extension ORDER BY 1",
		                   "SELECT name FROM pg_available_extensions", &missing, &e) == 0) {
			if (missing.len)
				db_checks_add(
				        out, "extensions", DB_CHECK_FAIL,
				        "the schema copy fails on the new server",
				        "extensions used on old are not available on new: %s; "
				        "install their packages on the new server",
				        missing.data);
			else
				db_checks_add(out, "extensions", DB_CHECK_OK, NULL,
				              "every extension is available on new");
		}
		buf_release(&missing);
	}

	/* Roles are global objects that pg_dump of one database does not copy:
	 * every role that owns an object or holds a privilege in the old
	 * database must exist on the new server, or the schema copy fails (or,
	 * copied without owners, the application loses its privileges). */
	{
		struct buf missing;

		buf_init(&missing, 1 << 16);
		if (missing_on_new(
		            p,
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
				db_checks_add(
				        out, "roles", DB_CHECK_FAIL,
				        "the schema copy fails, or the application loses its "
				        "privileges on the new database",
				        "roles that own objects or hold privileges on old do not "
				        "exist on new: %s; create them on the new server "
				        "(pg_dumpall --roles-only shows them)",
				        missing.data);
			else
				db_checks_add(
				        out, "roles", DB_CHECK_OK, NULL,
				        "every role that owns or holds privileges on old exists "
				        "on new");
		}
		buf_release(&missing);
	}

	n = pg_count(
	        p->new,
	        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
	        "WHERE c.relkind IN ('r','p') AND n.nspname NOT IN "
	        "('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg_toast%'",
	        &e);
	{
		int have = pg_sub_exists(p->new, "ferry_sub", NULL, NULL, &e);
		if (n > 0 && have != 1)
			db_checks_add(out, "target empty", DB_CHECK_WARN,
			              "the schema copy fails or mixes with existing rows",
			              "the new database already has %lld user tables; drop them or "
			              "use an empty database",
			              (long long)n);
		else
			db_checks_add(out, "target empty", DB_CHECK_OK, NULL,
			              have == 1 ? "replication already set up"
			                        : "the new database has no user tables");
	}

	/* size, the largest table, and what a dump and restore would cost */
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
		db_checks_add(
		        out, "size", DB_CHECK_OK, NULL,
		        "database %lld MB, largest table %s (%lld MB); %s; replication "
		        "needs a write pause under %lld ms",
		        (long long)(size >> 20), largest ? largest : "-", (long long)(lsize >> 20),
		        cost,
		        (long long)(p->cfg->pause_budget_ms ? p->cfg->pause_budget_ms : 5000));
	}
	pgsql_result_release(&r);

	/* direct writers: sessions that do not come through a pooler are
	 * ended by the fence; list them so the operator knows */
	if (pgsql_exec(p->old,
	               "SELECT string_agg(DISTINCT format('%s@%s (%s)', usename, "
	               "coalesce(host(client_addr), 'local'), coalesce(nullif(application_name, "
	               "''), '-')), ', ') FROM pg_stat_activity WHERE datname = "
	               "current_database() AND backend_type = 'client backend' AND pid <> "
	               "pg_backend_pid() AND application_name <> 'ferry'",
	               0, NULL, pg_deadline(PG_TIMEOUT_MS), &r, &e) == 0 &&
	    r.nrows == 1 && pgsql_result_get(&r, 0, 0))
		db_checks_add(out, "direct sessions", DB_CHECK_WARN,
		              "a writer that bypasses the pooler loses its session at the fence",
		              "sessions on the old database (poolers included): %s; the cutover "
		              "ends every one of them; point direct writers at the pooler",
		              pgsql_result_get(&r, 0, 0));
	else
		db_checks_add(out, "direct sessions", DB_CHECK_OK, NULL, "no other sessions");
	pgsql_result_release(&r);
	return 0;
}
