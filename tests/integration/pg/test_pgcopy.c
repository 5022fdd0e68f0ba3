/*
 * test_pgcopy.c - the parallel initial copy (postgresql_copy.c) against two
 * real PostgreSQL 15 clusters started by run_pgcopy.sh (ports 16300-16301).
 *
 * Each case starts from an empty new database and a source with several
 * tables (one split in block ranges, one with a foreign key, one with a
 * generated column, one empty) while a writer inserts, updates and deletes
 * rows on the source the whole time:
 *   - a copy runs to the end: no table has indexes during the copy, every
 *     index and constraint exists after it, and once replication caught up
 *     the checksums of every table are equal (no row missed or doubled at
 *     the snapshot's boundary);
 *   - a copy killed with SIGKILL after some parts (FERRY_CRASH_AT, in a
 *     child process) resumes: the tables the ledger names keep their rows
 *     (the same row versions, not copied again), the others go to the table
 *     sync, and the checksums end equal;
 *   - the built-in table sync (DB_COPY_BUILTIN) still works;
 *   - the WAL guard alarms on a slot held back on purpose, then drops
 *     replication past its limit;
 *   - a source role without SUPERUSER: the readiness rows name the grants
 *     missing; with them, the copy runs and the fence's statements work.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/db.h"
#include "db/pgsql.h"
#include "db/postgresql_int.h" /* the fence's statement texts */
#include "pgtest.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

static struct {
	char *passfile;
	char ledger[512];
	struct db_config cfg;
	const struct db_engine *eng;
} E;

/* ---- a writer on the source: inserts, updates, deletes ---------------- */

struct writer {
	pthread_t th;
	volatile int stop;
	int64_t ops, errors;
	char last[256];
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct ferry_error err = { 0 };
	struct pgsql_conn *c = NULL;
	int64_t i = 0;

	if (pgsql_connect(&c, PGT.old_ci, PGT.pw, "writer", &err) < 0) {
		snprintf(w->last, sizeof(w->last), "%s", err.msg);
		w->errors++;
		return NULL;
	}
	while (!w->stop) {
		const char *q;
		switch (i++ % 4) {
		case 0: q = "INSERT INTO orders (note) VALUES ('new ' || random())"; break;
		case 1:
			q = "UPDATE orders SET note = 'upd ' || random() WHERE id = (SELECT "
			    "(random() * 40000)::bigint + 1)";
			break;
		case 2:
			q = "DELETE FROM lines WHERE id = (SELECT (random() * 20000)::bigint + 1)";
			break;
		default:
			q = "WITH o AS (INSERT INTO orders (note) VALUES ('with line') RETURNING "
			    "id) INSERT INTO lines (order_id, qty) SELECT id, 3 FROM o";
		}
		if (pgsql_exec(c, q, 0, NULL, time_mono_ms() + 10000, NULL, &err) < 0) {
			w->errors++;
			snprintf(w->last, sizeof(w->last), "%s", err.msg);
		} else {
			w->ops++;
		}
		usleep(2000);
	}
	pgsql_free(c);
	return NULL;
}

static void writer_start(struct writer *w)
{
	memset(w, 0, sizeof(*w));
	assert_int_equal(pthread_create(&w->th, NULL, writer_main, w), 0);
	while (w->ops < 20 && !w->errors)
		usleep(1000);
}

static void writer_stop(struct writer *w)
{
	w->stop = 1;
	pthread_join(w->th, NULL);
	printf("  writer: %lld writes, %lld errors%s%s\n", (long long)w->ops, (long long)w->errors,
	       w->errors ? ": " : "", w->last);
	assert_true(w->ops > 20);
	assert_int_equal(w->errors, 0);
}

/* ---- the pair ----------------------------------------------------------- */

/* A clean pair: old with the tables and rows, new empty. */
static void fresh_pair(void)
{
	char *q;

	pgtest_sql_rw(PGT.old_ci,
	              "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots");
	pgtest_sql_rw(PGT.new_ci, "DROP SUBSCRIPTION IF EXISTS ferry_sub");
	pgtest_sql_rw(PGT.old_ci, "DROP PUBLICATION IF EXISTS ferry_pub");
	pgtest_sql_rw(PGT.old_ci, "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
	pgtest_sql_rw(PGT.new_ci, "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
	unlink(E.ledger);
	pgtest_sql_rw(
	        PGT.old_ci,
	        "CREATE TABLE orders (id bigserial PRIMARY KEY, note text, at timestamptz DEFAULT "
	        "now()); CREATE INDEX orders_note_idx ON orders (note);"
	        "CREATE TABLE lines (id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES "
	        "orders (id) ON DELETE CASCADE, qty int NOT NULL CHECK (qty > 0));"
	        "CREATE TABLE priced (id int PRIMARY KEY, net numeric NOT NULL, gross numeric "
	        "GENERATED ALWAYS AS (net * 1.2) STORED);"
	        "CREATE TABLE empty (id int PRIMARY KEY);"
	        "INSERT INTO orders (note) SELECT md5(g::text) || repeat('x', 200) FROM "
	        "generate_series(1, 40000) g;"
	        "INSERT INTO lines (order_id, qty) SELECT (g %% 40000) + 1, g %% 7 + 1 FROM "
	        "generate_series(1, 20000) g;"
	        "INSERT INTO priced SELECT g, g FROM generate_series(1, 5000) g");
	/* more small tables, so that a crash can fall between tables */
	for (int i = 0; i < 4; i++) {
		q = xasprintf("CREATE TABLE extra%d (id int PRIMARY KEY, v text); INSERT INTO "
		              "extra%d SELECT g, md5(g::text) FROM generate_series(1, %d) g",
		              i, i, 3000 - i * 500);
		pgtest_sql_rw(PGT.old_ci, "%s", q);
		free(q);
	}
	pgtest_sql_rw(PGT.old_ci, "ANALYZE");
}

static void open_engine(void **h)
{
	struct ferry_error err = { 0 };

	if (E.eng->open(&E.cfg, h, &err) < 0)
		fail_msg("open: %s", err.msg);
}

/* Waits until every table streams and the lag is gone, then compares
 * every table's rows and checksum. */
static void assert_equal_after_catch_up(void *h)
{
	struct ferry_error err = { 0 };
	struct db_verify v = { 0 };
	int64_t until = time_mono_ms() + 120000;
	size_t i;

	for (;;) {
		struct db_progress p = { 0 };
		struct db_lag lag = { 0 };
		bool ready = E.eng->progress(h, &p, &err) == 0 && p.n > 0 && p.ready == p.n;
		db_progress_release(&p);
		if (ready && E.eng->lag(h, DB_FORWARD, &lag, &err) == 0 && lag.bytes == 0 &&
		    lag.worker_running)
			break;
		if (time_mono_ms() > until)
			fail_msg("replication never caught up: %s", err.msg);
		usleep(50000);
	}
	if (E.eng->verify(h, true, &v, &err) < 0)
		fail_msg("verify: %s", err.msg);
	for (i = 0; i < v.n; i++) {
		printf("  %s: %lld / %lld rows %s\n", v.v[i].name, (long long)v.v[i].rows_old,
		       (long long)v.v[i].rows_new, v.v[i].equal ? "equal" : "DIFFER");
	}
	assert_int_equal(v.n, 8);
	assert_true(v.equal);
	db_verify_release(&v);
}

/* Neither server's log holds the password. */
static void assert_no_password_in_logs(void)
{
	const char *side[] = { "old", "new" };
	int i;

	for (i = 0; i < 2; i++) {
		char *path = xasprintf("%s/%s.log", PGT.dir, side[i]);
		struct buf b;
		buf_init(&b, 256 << 20);
		if (buf_read_file(&b, path) == 0 && b.data)
			assert_null(strstr(b.data, PGT.pw));
		buf_release(&b);
		free(path);
	}
}

static int progress_calls;
static int64_t progress_rows;

static int on_progress(void *ctx, const struct db_progress *p)
{
	size_t i;

	(void)ctx;
	progress_calls++;
	progress_rows = 0;
	for (i = 0; i < p->n; i++)
		progress_rows += p->v[i].rows;
	return 0;
}

static void test_parallel_copy_under_writes(void **state)
{
	struct ferry_error err = { 0 };
	struct writer w;
	void *h = NULL;

	(void)state;
	fresh_pair();
	open_engine(&h);
	E.cfg.copy_progress = on_progress;
	progress_calls = 0;
	writer_start(&w);
	if (E.eng->replicate_start(h, &err) < 0)
		fail_msg("replicate_start: %s (%s)", err.msg, err.hint);
	E.cfg.copy_progress = NULL;
	printf("  progress reported %d times, %lld rows at the last\n", progress_calls,
	       (long long)progress_rows);
	assert_true(progress_calls >= 1);
	assert_true(progress_rows >= 40000 + 20000 + 5000);
	/* the indexes and constraints came after the data */
	assert_int_equal(pgtest_val(PGT.new_ci, "SELECT count(*) FROM pg_indexes WHERE indexname = "
	                                        "'orders_note_idx'"),
	                 1);
	assert_int_equal(
	        pgtest_val(PGT.new_ci, "SELECT count(*) FROM pg_constraint WHERE contype = 'f'"),
	        1);
	/* the subscription uses the slot the copy made, without a copy */
	assert_int_equal(pgtest_val(PGT.new_ci,
	                            "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate "
	                            "<> 'r'"),
	                 0);
	/* the ledger is gone once the subscription exists */
	assert_int_not_equal(access(E.ledger, F_OK), 0);
	/* the subscription's password is in a file on new's host, not in
	 * the SQL text (pg_subscription, the server log, pg_stat_activity) */
	{
		char *ci = pgtest_str(PGT.new_ci, "SELECT subconninfo FROM pg_subscription");
		char *dd = pgtest_str(PGT.new_ci, "SELECT current_setting('data_directory')");
		char *pf = xasprintf("%s/ferry_sub.pgpass", dd);
		struct stat st;
		printf("  subscription conninfo: %s\n", ci);
		assert_non_null(strstr(ci, "passfile="));
		assert_null(strstr(ci, "password"));
		assert_null(strstr(ci, PGT.pw));
		assert_int_equal(stat(pf, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		/* the server's user owns it (libpq ignores one others may read) */
		{
			struct stat dst;
			assert_int_equal(stat(dd, &dst), 0);
			assert_int_equal(st.st_uid, dst.st_uid);
		}
		free(E.passfile);
		E.passfile = pf;
		free(ci);
		free(dd);
	}
	/* replicate_start again is a no-op */
	assert_int_equal(E.eng->replicate_start(h, &err), 0);
	usleep(300000);
	writer_stop(&w);
	assert_equal_after_catch_up(h);
	assert_int_equal(E.eng->teardown(h, &err), 0);
	/* the teardown removed the password file */
	assert_int_not_equal(access(E.passfile, F_OK), 0);
	assert_no_password_in_logs();
	E.eng->close(h);
}

/* A retry decides from the schema diff, not from "a table exists": a new
 * database holding a table ferry did not make is refused, naming the
 * difference, by both copies; nothing is subscribed. */
static void test_retry_decides_from_the_schema_diff(void **state)
{
	struct ferry_error err = { 0 };
	void *h = NULL;
	int m;

	(void)state;
	for (m = 0; m < 2; m++) {
		fresh_pair();
		pgtest_sql_rw(PGT.new_ci,
		              "CREATE TABLE orders (id bigint PRIMARY KEY, other text)");
		E.cfg.copy_method = m ? DB_COPY_BUILTIN : DB_COPY_PARALLEL;
		open_engine(&h);
		assert_int_equal(E.eng->replicate_start(h, &err), FERRY_ESTATE);
		printf("  %s: %s\n", m ? "builtin" : "parallel", err.msg);
		assert_non_null(strstr(err.msg, "public.orders"));
		assert_int_equal(pgtest_val(PGT.new_ci, "SELECT count(*) FROM pg_subscription"), 0);
		E.eng->teardown(h, &err);
		E.eng->close(h);
	}
	E.cfg.copy_method = DB_COPY_PARALLEL;
}

/* A subscriber whose host ferry cannot write the password file on (here
 * its exec prefix runs the shell as nobody, who may not write into the data
 * directory; a managed service has no shell at all): the password goes into
 * the subscription's CONNECTION, and replication works. */
static void test_password_in_connection_when_no_file_can_be_written(void **state)
{
	static const char *const nobody[] = { "runuser", "-u", "nobody", "--" };
	struct ferry_error err = { 0 };
	void *h = NULL;
	char *ci;

	(void)state;
	fresh_pair();
	E.cfg.new_exec = nobody;
	E.cfg.nnew_exec = 4;
	open_engine(&h);
	if (E.eng->replicate_start(h, &err) < 0)
		fail_msg("replicate_start: %s", err.msg);
	ci = pgtest_str(PGT.new_ci, "SELECT subconninfo FROM pg_subscription");
	assert_null(strstr(ci, "passfile="));
	assert_non_null(strstr(ci, "password="));
	free(ci);
	assert_equal_after_catch_up(h);
	assert_int_equal(E.eng->teardown(h, &err), 0);
	E.eng->close(h);
	E.cfg.new_exec = NULL;
	E.cfg.nnew_exec = 0;
}

static int stop_at_once(void *ctx, const struct db_progress *p)
{
	(void)ctx;
	(void)p;
	return 1;
}

/* The caller (the WAL guard in the replicate phase) stops the copy from
 * its progress callback: replicate_start fails, no subscription exists,
 * the ledger stays, and the next replicate_start finishes the copy. */
static void test_copy_stopped_by_its_caller_resumes(void **state)
{
	struct ferry_error err = { 0 };
	void *h = NULL;

	(void)state;
	fresh_pair();
	open_engine(&h);
	E.cfg.copy_progress = stop_at_once;
	assert_int_equal(E.eng->replicate_start(h, &err), FERRY_ECHECK);
	E.cfg.copy_progress = NULL;
	printf("  stopped: %s\n", err.msg);
	assert_non_null(strstr(err.msg, "stopped by the caller"));
	assert_int_equal(pgtest_val(PGT.new_ci, "SELECT count(*) FROM pg_subscription"), 0);
	assert_int_equal(access(E.ledger, F_OK), 0);
	if (E.eng->replicate_start(h, &err) < 0)
		fail_msg("resume: %s", err.msg);
	assert_equal_after_catch_up(h);
	assert_int_equal(E.eng->teardown(h, &err), 0);
	E.eng->close(h);
}

/* The tables the ledger names whole (every part committed). */
static size_t ledger_whole(char names[][128], size_t max)
{
	struct buf b;
	char *line, *save = NULL;
	size_t n = 0, i;
	int parts[16] = { 0 };

	buf_init(&b, 1 << 20);
	assert_int_equal(buf_read_file(&b, E.ledger), 0);
	printf("  ledger after the crash:\n%s", b.data);
	for (line = strtok_r(b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[5], *fs = NULL, *x = line;
		int k;
		for (k = 0; k < 5; k++, x = NULL)
			f[k] = strtok_r(x, "\t", &fs);
		if (strcmp(f[0], "done") || !f[3])
			continue;
		for (i = 0; i < n && strcmp(names[i], f[1]); i++)
			;
		if (i == n && n < max)
			snprintf(names[n++], 128, "%s", f[1]);
		if (i < max && ++parts[i] == atoi(f[3]))
			parts[i] = -1000; /* whole */
	}
	buf_release(&b);
	for (i = 0; i < n;) {
		if (parts[i] < 0) {
			i++;
			continue;
		}
		memmove(names[i], names[n - 1], 128);
		parts[i] = parts[n - 1];
		n--;
	}
	return n;
}

static void test_kill9_resumes_without_copying_finished_tables(void **state)
{
	struct ferry_error err = { 0 };
	struct writer w;
	void *h = NULL;
	pid_t pid;
	int st;
	char whole[16][128];
	int64_t xmin[16];
	size_t n, i;

	(void)state;
	fresh_pair();
	writer_start(&w);
	/* the child copies with one worker and dies with SIGKILL once 4 parts
	 * are committed (orders is split in parts, so some tables are whole on
	 * new, others not) */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		E.cfg.copy_jobs = 1;
		setenv("FERRY_CRASH_AT", "pgcopy_part:4", 1);
		open_engine(&h);
		E.eng->replicate_start(h, &err);
		_exit(3); /* not reached when the crash point fires */
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	n = ledger_whole(whole, 16);
	assert_true(n >= 1);
	assert_true(n < 8);
	for (i = 0; i < n; i++) {
		char *q = xasprintf("SELECT min(xmin::text::bigint) FROM %s", whole[i]);
		xmin[i] = pgtest_val(PGT.new_ci, "%s", q);
		printf("  whole after the crash: %s (rows from transaction %lld)\n", whole[i],
		       (long long)xmin[i]);
		free(q);
	}

	open_engine(&h);
	if (E.eng->replicate_start(h, &err) < 0)
		fail_msg("resume: %s (%s)", err.msg, err.hint);
	usleep(300000);
	writer_stop(&w);
	assert_equal_after_catch_up(h);
	/* a table that was whole on new was not copied again: its oldest row
	 * versions are still those of the first copy */
	for (i = 0; i < n; i++) {
		char *q = xasprintf("SELECT min(xmin::text::bigint) FROM %s", whole[i]);
		assert_int_equal(pgtest_val(PGT.new_ci, "%s", q), xmin[i]);
		free(q);
	}
	/* the others went to the table sync */
	assert_int_equal(pgtest_val(PGT.new_ci, "SELECT count(*) FROM pg_subscription_rel"), 8);
	assert_int_equal(E.eng->teardown(h, &err), 0);
	E.eng->close(h);
}

static void test_builtin_table_sync_still_works(void **state)
{
	struct ferry_error err = { 0 };
	struct writer w;
	void *h = NULL;

	(void)state;
	fresh_pair();
	E.cfg.copy_method = DB_COPY_BUILTIN;
	open_engine(&h);
	writer_start(&w);
	if (E.eng->replicate_start(h, &err) < 0)
		fail_msg("replicate_start: %s", err.msg);
	/* the server's table sync: the publication is FOR ALL TABLES */
	assert_int_equal(
	        pgtest_val(PGT.old_ci, "SELECT count(*) FROM pg_publication WHERE puballtables"),
	        1);
	usleep(300000);
	writer_stop(&w);
	assert_equal_after_catch_up(h);
	assert_int_equal(E.eng->teardown(h, &err), 0);
	E.eng->close(h);
	E.cfg.copy_method = DB_COPY_PARALLEL;
}

/* The WAL guard on a slot held back on purpose (its subscription
 * disabled while old keeps writing): an alarm first, then past the limit
 * replication is dropped and nothing holds WAL on old any more. */
static void test_wal_guard_drops_a_slot_held_back(void **state)
{
	struct ferry_error err = { 0 };
	struct db_slot_wal w;
	int64_t alarm_at, limit_at;
	void *h = NULL;
	int v;

	(void)state;
	fresh_pair();
	open_engine(&h);
	if (E.eng->replicate_start(h, &err) < 0)
		fail_msg("replicate_start: %s", err.msg);
	v = db_wal_guard(E.eng, h, DB_FORWARD, 4 << 20, 1LL << 30, &w, &alarm_at, &limit_at, &err);
	printf("  caught up: slot holds %lld bytes\n", (long long)w.retained);
	assert_int_equal(v, DB_WAL_OK);
	assert_true(w.retained >= 0);
	/* 4GB in cluster.sh: the defaults are half and nine tenths of it */
	assert_int_equal(w.keep_limit, 4LL << 30);
	pgtest_sql_rw(PGT.new_ci, "ALTER SUBSCRIPTION ferry_sub DISABLE");
	pgtest_sql_rw(PGT.old_ci, "INSERT INTO orders (note) SELECT repeat('w', 1000) FROM "
	                          "generate_series(1, 30000)");
	v = db_wal_guard(E.eng, h, DB_FORWARD, 4 << 20, 1LL << 30, &w, &alarm_at, &limit_at, &err);
	printf("  held back: slot holds %lld MB\n", (long long)(w.retained >> 20));
	assert_int_equal(v, DB_WAL_ALARM);
	assert_int_equal(pgtest_val(PGT.old_ci, "SELECT count(*) FROM pg_replication_slots"), 1);
	v = db_wal_guard(E.eng, h, DB_FORWARD, 4 << 20, 16 << 20, &w, &alarm_at, &limit_at, &err);
	printf("  past the limit: %s (%s)\n", err.msg, err.hint);
	assert_int_equal(v, DB_WAL_DROPPED);
	assert_non_null(strstr(err.msg, "new initial sync"));
	assert_int_equal(pgtest_val(PGT.old_ci, "SELECT count(*) FROM pg_replication_slots"), 0);
	assert_int_equal(pgtest_val(PGT.new_ci, "SELECT count(*) FROM pg_subscription"), 0);
	/* no slot: nothing to guard any more */
	v = db_wal_guard(E.eng, h, DB_FORWARD, 0, 0, &w, &alarm_at, &limit_at, &err);
	assert_int_equal(v, DB_WAL_OK);
	assert_int_equal(w.retained, -1);
	E.eng->close(h);
}

/* A source role with only what a managed service grants (no SUPERUSER):
 * the readiness rows name each grant missing; with REPLICATION, the
 * tables' and the database's ownership, pg_signal_backend and pg_monitor
 * (and a stand-in for the service's admin role, which the services let
 * create subscriptions) every old row passes, the parallel copy runs as
 * that role, and the fence's statements work: the database fenced, the
 * other roles' sessions ended, a superuser's left alone. */
static void test_managed_source_without_superuser(void **state)
{
	static const char *const rows[] = { "old schema usage", "old database owner",
		                            "old signal backend", "old read all stats",
		                            "old create subscription" };
	struct ferry_error err = { 0 };
	struct db_checks checks = { 0 };
	const struct db_check *k;
	char mgd_ci[256];
	struct db_config cfg = E.cfg;
	struct pgsql_conn *m = NULL, *app = NULL, *su = NULL;
	char *ts = NULL, *fence;
	const char *params[1];
	void *h = NULL;
	size_t i;

	(void)state;
	fresh_pair();
	pgtest_sql_rw(PGT.old_ci, "%s",
	              "DROP ROLE IF EXISTS mgd; CREATE ROLE mgd LOGIN REPLICATION; DO $$ DECLARE "
	              "t record; BEGIN FOR t IN SELECT schemaname, tablename FROM pg_tables WHERE "
	              "schemaname = 'public' LOOP EXECUTE format('ALTER TABLE %I.%I OWNER TO mgd', "
	              "t.schemaname, t.tablename); END LOOP; END $$");
	/* the role exists on new too (readiness: roles), as a superuser made it */
	pgtest_sql_rw(PGT.new_ci, "DROP ROLE IF EXISTS mgd; CREATE ROLE mgd");
	snprintf(mgd_ci, sizeof(mgd_ci), "host=127.0.0.1 port=%d dbname=shop user=mgd",
	         PGT.old_port);
	cfg.old_conninfo = mgd_ci;
	if (E.eng->open(&cfg, &h, &err) < 0)
		fail_msg("open: %s", err.msg);
	assert_int_equal(E.eng->check(h, &checks, &err), 0);
	for (i = 0; i < checks.n; i++)
		printf("  check %-26s %-4s %s\n", checks.v[i].name,
		       db_check_status_name(checks.v[i].status), checks.v[i].message);
	k = db_checks_find(&checks, "old role");
	assert_int_equal(k->status, DB_CHECK_OK);
	k = db_checks_find(&checks, "old table owner");
	assert_int_equal(k->status, DB_CHECK_OK);
	assert_non_null(strstr(db_checks_find(&checks, "old database owner")->message,
	                       "ALTER DATABASE ... OWNER TO mgd"));
	assert_non_null(strstr(db_checks_find(&checks, "old signal backend")->message,
	                       "GRANT pg_signal_backend TO mgd"));
	assert_non_null(strstr(db_checks_find(&checks, "old read all stats")->message,
	                       "GRANT pg_monitor TO mgd"));
	assert_non_null(strstr(db_checks_find(&checks, "old create subscription")->message,
	                       "rds_superuser"));
	assert_non_null(strstr(db_checks_find(&checks, "old schema usage")->message,
	                       "GRANT USAGE ON SCHEMA ... TO mgd"));
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(db_checks_find(&checks, rows[i])->status, DB_CHECK_FAIL);
	db_checks_release(&checks);

	/* what a managed service grants its admin role */
	pgtest_sql_rw(PGT.old_ci,
	              "GRANT USAGE ON SCHEMA public TO mgd; ALTER DATABASE shop OWNER TO mgd; "
	              "GRANT pg_signal_backend, pg_monitor TO "
	              "mgd; DROP ROLE IF EXISTS rds_superuser; CREATE ROLE rds_superuser; GRANT "
	              "rds_superuser TO mgd");
	assert_int_equal(E.eng->check(h, &checks, &err), 0);
	for (i = 0; i < checks.n; i++)
		if (!strncmp(checks.v[i].name, "old ", 4) &&
		    strcmp(checks.v[i].name, "old max_slot_wal_keep_size"))
			assert_int_equal(checks.v[i].status, DB_CHECK_OK);
	db_checks_release(&checks);

	/* the parallel copy as that role, under writes */
	{
		struct writer w;
		writer_start(&w);
		if (E.eng->replicate_start(h, &err) < 0)
			fail_msg("replicate_start as mgd: %s (%s)", err.msg, err.hint);
		usleep(300000);
		writer_stop(&w);
	}
	assert_equal_after_catch_up(h);
	assert_int_equal(E.eng->teardown(h, &err), 0);
	E.eng->close(h);

	/* the fence's statements as that role: an application session (app)
	 * is ended, a superuser's (ferry) is left alone */
	if (pgsql_connect(&m, mgd_ci, NULL, "mgd", &err) < 0 ||
	    pgsql_connect(&app, "host=127.0.0.1 dbname=shop user=app port=16300", NULL, "app",
	                  &err) < 0 ||
	    pgsql_connect(&su, PGT.old_ci, PGT.pw, "su", &err) < 0)
		fail_msg("connect: %s", err.msg);
	fence = pg_sql_fence("shop", true);
	assert_int_equal(pgsql_exec(m, fence, 0, NULL, 0, NULL, &err), 0);
	free(fence);
	assert_int_equal(pgsql_query_value(m, pg_sql_terminate, 0, NULL, 0, &ts, &err), 0);
	params[0] = ts;
	{
		int64_t until = time_mono_ms() + 10000;
		char *left = NULL;
		for (;;) {
			assert_int_equal(pgsql_query_value(m, pg_sql_sessions_left, 1, params, 0,
			                                   &left, &err),
			                 0);
			if (!strcmp(left, "0"))
				break;
			free(left);
			left = NULL;
			assert_true(time_mono_ms() < until);
			usleep(10000);
		}
		free(left);
	}
	assert_true(pgsql_exec(app, "SELECT 1", 0, NULL, 0, NULL, &err) < 0);
	assert_int_equal(pgsql_exec(su, "SELECT 1", 0, NULL, 0, NULL, &err), 0);
	fence = pg_sql_fence("shop", false);
	assert_int_equal(pgsql_exec(m, fence, 0, NULL, 0, NULL, &err), 0);
	free(fence);
	free(ts);
	pgsql_free(m);
	pgsql_free(app);
	pgsql_free(su);
	pgtest_sql_rw(PGT.old_ci, "ALTER DATABASE shop OWNER TO postgres");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parallel_copy_under_writes),
		cmocka_unit_test(test_kill9_resumes_without_copying_finished_tables),
		cmocka_unit_test(test_copy_stopped_by_its_caller_resumes),
		cmocka_unit_test(test_retry_decides_from_the_schema_diff),
		cmocka_unit_test(test_password_in_connection_when_no_file_can_be_written),
		cmocka_unit_test(test_builtin_table_sync_still_works),
		cmocka_unit_test(test_wal_guard_drops_a_slot_held_back),
		cmocka_unit_test(test_managed_source_without_superuser),
	};

	if (!getenv("FERRY_PGTEST_DIR")) {
		fprintf(stderr, "run through run_pgcopy.sh\n");
		return 1;
	}
	if (pgtest_init(getenv("FERRY_PGTEST_DIR"), 16300, 16301) < 0)
		return 1;
	PGT.sql_ms = 120000;
	snprintf(E.ledger, sizeof(E.ledger), "%s/copy.ledger", PGT.dir);
	pgtest_config(&E.cfg);
	E.cfg.copy_ledger = E.ledger;
	E.cfg.copy_jobs = 2;
	E.eng = db_engine_find("postgresql");
	setvbuf(stdout, NULL, _IONBF, 0);
	/* orders (~10 MB) in 3 parts */
	setenv("FERRY_PGCOPY_PART_BYTES", "3500000", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
