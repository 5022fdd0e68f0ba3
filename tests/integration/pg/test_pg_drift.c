/*
 * test_pg_drift.c - schema drift (eng->schema_diff) against two real
 * PostgreSQL 15 clusters started by run_drift.sh (ports 15450-15451).
 *
 * The cases run in order on one replicated pair, as the replicate phase
 * sees it: no drift right after the schema copy; DDL on one side only
 * (a column on old, an index on new, a column type, a whole table) found
 * and named with its side; the same DDL on both sides clears it; column
 * order is a warning, not drift; a lost connection is an error naming the
 * side.
 */
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/db.h"
#include "db/pgsql.h"
#include "pgtest.h"
#include "util/mem.h"
#include "util/timeutil.h"

static struct {
	struct db_config cfg;
	const struct db_engine *eng;
	void *h;
} E;

static void setup_env(const char *dir)
{
	if (pgtest_init(dir, 15450, 15451) < 0)
		exit(1);
	pgtest_config(&E.cfg);
	E.eng = db_engine_find("postgresql");
}

static void both(const char *fmt)
{
	pgtest_sql(PGT.old_ci, "%s", fmt);
	pgtest_sql(PGT.new_ci, "%s", fmt);
}

/* Runs schema_diff into d (released first), prints the rows. */
static void diff(struct db_schema_diff *d)
{
	struct ferry_error err = { 0 };
	int64_t t0 = time_mono_ms();
	size_t i;

	db_schema_diff_release(d);
	if (E.eng->schema_diff(E.h, d, &err) < 0)
		fail_msg("schema_diff: %s (%s)", err.msg, err.hint);
	printf("  schema_diff: %zu/%zu objects, %zu rows, %zu drift, %s/%s, %lld ms\n",
	       d->objects_old, d->objects_new, d->n, d->drift, d->fingerprint_old,
	       d->fingerprint_new, (long long)(time_mono_ms() - t0));
	for (i = 0; i < d->n; i++)
		printf("    %s%s\n", d->v[i].warning ? "(warning) " : "", d->v[i].message);
	/* the fingerprints agree exactly when there is no drift */
	assert_int_equal(strlen(d->fingerprint_old), 32);
	assert_int_equal(!strcmp(d->fingerprint_old, d->fingerprint_new), d->drift == 0);
}

static const struct db_schema_diff_row *row(const struct db_schema_diff *d, const char *object)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (!strcmp(d->v[i].object, object))
			return &d->v[i];
	return NULL;
}

/* ---- the cases --------------------------------------------------------- */

static void test_no_drift_after_schema_copy(void **state)
{
	struct ferry_error err = { 0 };
	struct db_schema_diff d = { 0 };
	struct db_progress prog = { 0 };
	int64_t until;

	(void)state;
	pgtest_sql(
	        PGT.old_ci,
	        "CREATE TYPE status AS ENUM ('new', 'paid', 'shipped'); "
	        "CREATE DOMAIN qty AS int CHECK (VALUE >= 0); "
	        "CREATE SCHEMA billing; CREATE SCHEMA bulk; "
	        "CREATE TABLE orders (id bigserial PRIMARY KEY, ledger bigint NOT NULL UNIQUE, "
	        "note text COLLATE \"C\", n int NOT NULL DEFAULT 0, st status DEFAULT 'new', "
	        "at timestamptz DEFAULT now()); "
	        "CREATE TABLE items (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
	        "order_id bigint REFERENCES orders(id), name text, qty qty, "
	        "total numeric(12,2) GENERATED ALWAYS AS (qty * 2) STORED); "
	        "CREATE TABLE billing.invoices (id int PRIMARY KEY, amount numeric CHECK (amount > "
	        "0)); "
	        "CREATE INDEX orders_at_idx ON orders (at) WHERE n > 0; "
	        "CREATE TABLE events (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE "
	        "(at); "
	        "CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO "
	        "('2027-01-01'); "
	        "CREATE MATERIALIZED VIEW order_count AS SELECT count(*) FROM orders; "
	        "CREATE SEQUENCE billing.numbers INCREMENT 5 START 100; "
	        "CREATE VIEW paid AS SELECT id, ledger FROM orders WHERE st = 'paid'; "
	        "CREATE FUNCTION billing.total(a int, b int) RETURNS int LANGUAGE sql "
	        "AS 'SELECT a + b'; "
	        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS "
	        "$$BEGIN NEW.at = now(); RETURN NEW; END$$; "
	        "CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE "
	        "FUNCTION touch(); "
	        "CREATE EXTENSION IF NOT EXISTS pgcrypto; "
	        "INSERT INTO orders (ledger) SELECT g FROM generate_series(1, 500) g; "
	        "SELECT nextval('billing.numbers')");
	assert_int_equal(E.eng->open(&E.cfg, &E.h, &err), 0);
	if (E.eng->replicate_start(E.h, &err) < 0)
		fail_msg("replicate_start: %s", err.msg);
	until = time_mono_ms() + 60000;
	for (;;) {
		db_progress_release(&prog);
		assert_int_equal(E.eng->progress(E.h, &prog, &err), 0);
		if (prog.n >= 3 && prog.ready == prog.n)
			break;
		if (time_mono_ms() > until)
			fail_msg("initial sync not done: %zu of %zu tables", prog.ready, prog.n);
		usleep(50000);
	}
	db_progress_release(&prog);
	diff(&d);
	assert_int_equal(d.n, 0);
	assert_int_equal(d.drift, 0);
	assert_string_equal(d.fingerprint_old, d.fingerprint_new);
	assert_true(d.objects_old >= 30); /* the objects above, pgcrypto's not counted */
	assert_int_equal(d.objects_old, d.objects_new);
	/* data and sequence values are not schema */
	pgtest_sql(PGT.old_ci,
	           "INSERT INTO orders (ledger) VALUES (-1); SELECT setval('billing.numbers', "
	           "100000)");
	diff(&d);
	assert_int_equal(d.n, 0);
	db_schema_diff_release(&d);
}

static void test_column_on_old_and_index_on_new_are_named_with_their_side(void **state)
{
	struct db_schema_diff d = { 0 };
	const struct db_schema_diff_row *r;

	(void)state;
	pgtest_sql(PGT.old_ci,
	           "ALTER TABLE orders ADD COLUMN memo varchar(40) NOT NULL DEFAULT ''");
	diff(&d);
	assert_int_equal(d.drift, 1);
	r = row(&d, "column public.orders.memo");
	assert_non_null(r);
	assert_false(r->warning);
	assert_non_null(r->old);
	assert_non_null(strstr(r->old, "character varying(40) NOT NULL DEFAULT"));
	assert_null(r->new);
	assert_non_null(strstr(r->message, "column public.orders.memo (character varying(40)"));
	assert_non_null(strstr(r->message, "exists on old only"));
	assert_non_null(strstr(r->message, "ALTER TABLE ... ADD COLUMN on the new database"));

	pgtest_sql(PGT.new_ci, "CREATE INDEX orders_n_idx ON orders (n)");
	diff(&d);
	assert_int_equal(d.drift, 2);
	r = row(&d, "index public.orders_n_idx");
	assert_non_null(r);
	assert_null(r->old);
	assert_string_equal(r->new, "CREATE INDEX orders_n_idx ON public.orders USING btree (n)");
	assert_non_null(strstr(r->message, "exists on new only"));
	assert_non_null(row(&d, "column public.orders.memo"));

	/* the same DDL on the other side: no drift again */
	pgtest_sql(PGT.new_ci,
	           "ALTER TABLE orders ADD COLUMN memo varchar(40) NOT NULL DEFAULT ''");
	pgtest_sql(PGT.old_ci, "CREATE INDEX orders_n_idx ON orders (n)");
	diff(&d);
	assert_int_equal(d.n, 0);
	assert_string_equal(d.fingerprint_old, d.fingerprint_new);
	db_schema_diff_release(&d);
}

static void test_changed_column_type_names_both_types(void **state)
{
	struct db_schema_diff d = { 0 };
	const struct db_schema_diff_row *r;

	(void)state;
	pgtest_sql(PGT.new_ci,
	           "ALTER TABLE billing.invoices ALTER COLUMN amount TYPE numeric(14,2)");
	diff(&d);
	assert_int_equal(d.drift, 1);
	r = row(&d, "column billing.invoices.amount");
	assert_non_null(r);
	assert_string_equal(r->old, "numeric");
	assert_string_equal(r->new, "numeric(14,2)");
	assert_non_null(strstr(r->message, "old numeric, new numeric(14,2)"));
	pgtest_sql(PGT.old_ci,
	           "ALTER TABLE billing.invoices ALTER COLUMN amount TYPE numeric(14,2)");
	diff(&d);
	assert_int_equal(d.n, 0);

	/* a function replaced on one side: same signature, other body */
	pgtest_sql(PGT.old_ci, "CREATE OR REPLACE FUNCTION billing.total(a int, b int) RETURNS int "
	                       "LANGUAGE sql AS 'SELECT a + b + 1'");
	diff(&d);
	assert_int_equal(d.drift, 1);
	assert_non_null(row(&d, "function billing.total(a integer, b integer)"));
	pgtest_sql(PGT.new_ci, "CREATE OR REPLACE FUNCTION billing.total(a int, b int) RETURNS int "
	                       "LANGUAGE sql AS 'SELECT a + b + 1'");
	diff(&d);
	assert_int_equal(d.n, 0);
	db_schema_diff_release(&d);
}

static void test_table_on_one_side_is_one_row_and_column_order_a_warning(void **state)
{
	struct db_schema_diff d = { 0 };
	const struct db_schema_diff_row *r;

	(void)state;
	/* its columns, key, index and sequence fold into the table's row */
	pgtest_sql(PGT.old_ci, "CREATE TABLE extra (id serial PRIMARY KEY, v text NOT NULL)");
	diff(&d);
	assert_int_equal(d.drift, 1);
	assert_int_equal(d.n, 1);
	r = row(&d, "table public.extra");
	assert_non_null(r);
	assert_non_null(strstr(r->message, "table public.extra exists on old only"));
	assert_non_null(strstr(r->message, "REFRESH PUBLICATION"));
	pgtest_sql(PGT.old_ci, "DROP TABLE extra");
	diff(&d);
	assert_int_equal(d.n, 0);

	/* the same columns in another order: a warning, not drift */
	pgtest_sql(PGT.old_ci, "CREATE TABLE pairs (a int PRIMARY KEY, b text)");
	pgtest_sql(PGT.new_ci, "CREATE TABLE pairs (b text, a int PRIMARY KEY)");
	diff(&d);
	assert_int_equal(d.drift, 0);
	assert_int_equal(d.n, 1);
	r = row(&d, "column order public.pairs");
	assert_non_null(r);
	assert_true(r->warning);
	assert_string_equal(r->old, "a, b");
	assert_string_equal(r->new, "b, a");
	/* ... unless a column differs too: then the column rows say it */
	pgtest_sql(PGT.new_ci, "ALTER TABLE pairs ADD COLUMN c int");
	diff(&d);
	assert_int_equal(d.drift, 1);
	assert_int_equal(d.n, 1);
	assert_non_null(row(&d, "column public.pairs.c"));
	both("DROP TABLE pairs");
	diff(&d);
	assert_int_equal(d.n, 0);
	db_schema_diff_release(&d);
}

/* A large schema (1000 tables, 14 000 objects) compares in one merge: the
 * time is printed, and one column changed among them is still found. */
static void test_large_schema_is_compared_in_bounded_time(void **state)
{
	struct db_schema_diff d = { 0 };
	int64_t t0;

	(void)state;
	both("DO $$BEGIN FOR i IN 1..1000 LOOP EXECUTE format('CREATE TABLE bulk.t%s (id "
	     "bigserial PRIMARY KEY, a int NOT NULL DEFAULT 0, b text, c timestamptz, d "
	     "numeric(10,2), e boolean, f jsonb, g int CHECK (g > 0))', i); EXECUTE "
	     "format('CREATE INDEX ON bulk.t%s (a, b)', i); END LOOP; END$$");
	pgtest_sql(PGT.new_ci, "ALTER TABLE bulk.t517 ALTER COLUMN b TYPE varchar(20)");
	t0 = time_mono_ms();
	diff(&d);
	printf("  1000 tables: %zu objects per side in %lld ms\n", d.objects_old,
	       (long long)(time_mono_ms() - t0));
	assert_true(d.objects_old > 14000);
	assert_int_equal(d.drift, 1);
	assert_string_equal(d.v[0].object, "column bulk.t517.b");
	assert_string_equal(d.v[0].new, "character varying(20)");
	both("DROP SCHEMA bulk CASCADE; CREATE SCHEMA bulk");
	diff(&d);
	assert_int_equal(d.n, 0);
	db_schema_diff_release(&d);
}

static void test_lost_connection_is_an_error_naming_the_side(void **state)
{
	struct ferry_error err = { 0 };
	struct db_schema_diff d = { 0 };

	(void)state;
	pgtest_sql(PGT.new_ci, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
	                       "application_name = 'ferry' AND pid <> pg_backend_pid()");
	assert_true(E.eng->schema_diff(E.h, &d, &err) < 0);
	printf("  error: %s\n", err.msg);
	assert_non_null(strstr(err.msg, "schema drift check: database main new"));
	/* the old side's transaction was ended: its connection is idle */
	assert_int_equal(pgtest_val(PGT.old_ci, "SELECT count(*) FROM pg_stat_activity WHERE "
	                                        "application_name = 'ferry' AND state <> 'active'"),
	                 1);
	assert_int_equal(pgtest_val(PGT.old_ci,
	                            "SELECT count(*) FROM pg_stat_activity WHERE "
	                            "application_name = 'ferry' AND state LIKE 'idle in%%'"),
	                 0);
	db_schema_diff_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_drift_after_schema_copy),
		cmocka_unit_test(test_column_on_old_and_index_on_new_are_named_with_their_side),
		cmocka_unit_test(test_changed_column_type_names_both_types),
		cmocka_unit_test(test_table_on_one_side_is_one_row_and_column_order_a_warning),
		cmocka_unit_test(test_large_schema_is_compared_in_bounded_time),
		cmocka_unit_test(test_lost_connection_is_an_error_naming_the_side),
	};
	struct ferry_error err = { 0 };
	const char *dir = getenv("FERRY_PGTEST_DIR");
	int rc;

	if (!dir) {
		fprintf(stderr, "run through run_drift.sh (FERRY_PGTEST_DIR unset)\n");
		return 77;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	setup_env(dir);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (E.h) {
		E.eng->teardown(E.h, &err);
		E.eng->close(E.h);
	}
	pgtest_release();
	return rc;
}
