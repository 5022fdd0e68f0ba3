/*
 * test_pg.c - the PostgreSQL engine and the pgbouncer switch against real
 * servers: two PostgreSQL 15 clusters (old, new) and two pgbouncers (the old
 * host's and the new host's), started by run.sh (cluster.sh).
 *
 * The cases run in order and share the servers' state, the way a migration
 * does: readiness, replication, a switch that overruns its budget, a crash
 * inside the pause (undone by recovery), the cutover under write load, a
 * rollback that carries writes back, a crash after the point of no return
 * (finished by recovery), and the teardown.
 *
 * A crash is a real kill -9: the test runs itself (/proc/self/exe
 * --crash-at STEP DIR), and that child kills itself with SIGKILL from the
 * step hook.
 */
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/orchestrator.h"
#include "db/db.h"
#include "db/pgsql.h"
#include "pgload.h"
#include "pgtest.h"
#include "util/buf.h"
#include "util/fault.h"
#include "util/mem.h"
#include "util/timeutil.h"

extern char **environ;

static struct {
	char repl_ci[256];
	char pgb_admin[2][256], pgb_app[2][256], inc[2][512];
	struct plan_database pd;
	struct endpoints_db d; /* cfg, engine handle, pgbouncers, targets */
	const struct db_engine *eng;
} E;

static void setup_env(const char *dir)
{
	int pgb[2];
	int i;

	if (pgtest_init(dir, 15401, 15402) < 0)
		exit(1);
	PGT.sql_ms = PGT.val_ms = 120000;
	pgb[0] = pgtest_port("PGB_OLD_PORT", 15410);
	pgb[1] = pgtest_port("PGB_NEW_PORT", 15411);
	pgtest_ci(E.repl_ci, sizeof(E.repl_ci), pgtest_port("PG_REPL_PORT", 15403), "shop",
	          "ferry");
	for (i = 0; i < 2; i++) {
		pgtest_ci(E.pgb_admin[i], sizeof(E.pgb_admin[i]), pgb[i], "pgbouncer", "ferry");
		pgtest_ci(E.pgb_app[i], sizeof(E.pgb_app[i]), pgb[i], "shop", "app");
		snprintf(E.inc[i], sizeof(E.inc[i]), "%s/%s.db.ini", dir,
		         i ? "pgb_new" : "pgb_old");
		E.d.swcfg[i].name = i ? "pooler new" : "pooler old";
		E.d.swcfg[i].admin = E.pgb_admin[i];
		E.d.swcfg[i].include_path = E.inc[i];
		E.d.swcfg[i].dbalias = "shop";
	}
	E.pd.name = "main";
	E.d.pd = &E.pd;
	pgtest_config(&E.d.cfg);
	E.d.cfg.pause_budget_ms = 5000;
	E.d.budget_ms = 5000;
	E.d.sw = sw_driver_find("pgbouncer");
	E.d.nsw = 2;
	E.d.target[DB_OLD] = (struct sw_target){ "127.0.0.1", PGT.old_port, "shop" };
	E.d.target[DB_NEW] = (struct sw_target){ "127.0.0.1", PGT.new_port, "shop" };
	E.eng = db_engine_find("postgresql");
	E.d.eng = E.eng;
}

/* ---- helpers ----------------------------------------------------------- */

static struct pgsql_conn *conn(const char *ci, const char *pw)
{
	struct ferry_error err = { 0 };
	struct pgsql_conn *c = NULL;

	if (pgsql_connect(&c, ci, pw, "test", &err) < 0)
		fail_msg("connect: %s", err.msg);
	return c;
}

/* pgbouncer i's view of alias shop: its port, and *paused */
static int pooler_port(int i, bool *paused)
{
	struct ferry_error err = { 0 };
	struct pgsql_conn *c = conn(E.pgb_admin[i], NULL);
	struct pgsql_result r;
	int port = -1, j, k;

	if (pgsql_exec(c, "SHOW DATABASES", 0, NULL, time_mono_ms() + 5000, &r, &err) < 0)
		fail_msg("SHOW DATABASES: %s", err.msg);
	for (j = 0; j < r.nrows; j++) {
		if (strcmp(pgsql_result_get(&r, j, 0), "shop"))
			continue;
		for (k = 0; k < r.ncols; k++) {
			if (!strcmp(r.names[k], "port"))
				port = (int)pgsql_result_int(&r, j, k, -1);
			if (!strcmp(r.names[k], "paused") && paused)
				*paused = pgsql_result_int(&r, j, k, 0) != 0;
		}
	}
	pgsql_result_release(&r);
	pgsql_free(c);
	return port;
}

static bool fenced(const char *ci)
{
	return pgtest_val(ci,
	                  "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = "
	                  "s.setdatabase WHERE d.datname = 'shop' AND "
	                  "'default_transaction_read_only=on' = ANY (s.setconfig)") > 0;
}

static void open_engine(void)
{
	struct ferry_error err = { 0 };

	if (E.d.h)
		return;
	if (E.eng->open(&E.d.cfg, &E.d.h, &err) < 0)
		fail_msg("open: %s", err.msg);
}

/* Closes the engine and the poolers' endpoints: the next use opens them
 * afresh, as a new run of ferry does. */
static void close_engine(void)
{
	size_t j;

	for (j = 0; j < E.d.nsw; j++) {
		E.d.sw->close(E.d.swep[j]);
		E.d.swep[j] = NULL;
	}
	E.eng->close(E.d.h);
	E.d.h = NULL;
}

/* How many of the writes l had acknowledged when called are not on ci
 * (the writer may still be running: the later ones are not looked at). */
static int64_t missing_acks(struct pgload *l, const char *ci)
{
	struct buf arr;
	int64_t found;
	size_t i, n;

	buf_init(&arr, 64 << 20);
	buf_addch(&arr, '{');
	pthread_mutex_lock(&l->lock);
	n = l->nacks;
	for (i = 0; i < n; i++)
		buf_addf(&arr, "%s%lld", i ? "," : "", (long long)l->acks[i].ledger);
	pthread_mutex_unlock(&l->lock);
	buf_addch(&arr, '}');
	found = pgtest_val(ci,
	                   "SELECT count(DISTINCT ledger) FROM orders WHERE ledger = ANY ('%s')",
	                   arr.data);
	buf_release(&arr);
	return (int64_t)n - found;
}

static void wait_acks(struct pgload *l, size_t more)
{
	size_t start = pgload_count(l);
	int64_t until = time_mono_ms() + 20000;

	while (pgload_count(l) < start + more) {
		if (time_mono_ms() > until)
			fail_msg("writer stalled: %zu acks, %lld errors (%s)", pgload_count(l),
			         (long long)l->errors, l->last_error);
		usleep(2000);
	}
}

/* Polls until ci has every write l had acknowledged when called
 * (replication catching up). */
static void wait_replicated(struct pgload *l, const char *ci)
{
	int64_t until = time_mono_ms() + 30000, missing;
	struct pgload snap;

	/* a frozen copy of the ledger: the writer goes on meanwhile */
	pthread_mutex_lock(&l->lock);
	snap = *l;
	snap.acks = xmalloc((l->nacks + 1) * sizeof(*l->acks));
	memcpy(snap.acks, l->acks, l->nacks * sizeof(*l->acks));
	pthread_mutex_unlock(&l->lock);
	pthread_mutex_init(&snap.lock, NULL);
	while ((missing = missing_acks(&snap, ci)) > 0) {
		if (time_mono_ms() > until)
			fail_msg("%lld acknowledged writes never reached the other side",
			         (long long)missing);
		usleep(20000);
	}
	pthread_mutex_destroy(&snap.lock);
	free(snap.acks);
}

/* Runs this program as a child that kills itself with SIGKILL before
 * step, during a switch in direction dir; returns its wait status. */
static int crash_child(const char *step, enum db_direction dir)
{
	char *argv[] = { (char *)"/proc/self/exe",
		         (char *)"--crash-at",
		         (char *)step,
		         (char *)(dir == DB_FORWARD ? "forward" : "reverse"),
		         PGT.dir,
		         NULL };
	pid_t pid;
	int st;
	char exe[4096], crash[128];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	assert_true(n > 0);
	exe[n] = '\0';
	argv[0] = exe;
	/* the child dies at FERRY_CRASH_AT=db.STEP (util/fault.h) */
	snprintf(crash, sizeof(crash), "db.%s", step);
	setenv("FERRY_CRASH_AT", crash, 1);
	assert_int_equal(posix_spawn(&pid, exe, NULL, NULL, argv, environ), 0);
	unsetenv("FERRY_CRASH_AT");
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

/* ---- the switch, through the orchestrator --------------------------------- */

static struct endpoints_db *const dbs[1] = { &E.d };

static const struct orch_opts opts = { .block_signals = true };

/* The switch in direction dir and, once done, its after-steps (as the
 * phase engine runs them).  Returns orch_switch()'s result. */
static int do_switch(enum db_direction dir, struct orch_result *res, struct ferry_error *err)
{
	int rc = orch_switch(dbs, 1, dir, &opts, res, err);

	if (rc == 0 && orch_start_reverse(&E.d, dir, res->db[0].fence_pos, &res->db[0], err) < 0)
		fail_msg("start_reverse: %s", err->msg);
	if (rc == 0 && orch_drop_forward(&E.d, dir, err) < 0)
		fail_msg("drop_forward: %s", err->msg);
	return rc;
}

/* Recovery, then the after-steps when it completed the switch. */
static int do_recover(enum db_direction dir, struct orch_result *res, struct ferry_error *err)
{
	int rc = orch_recover(dbs, 1, dir, &opts, res, err);

	if (rc == 0 && res->outcome == ORCH_DONE) {
		if (orch_start_reverse(&E.d, dir, NULL, NULL, err) < 0)
			fail_msg("start_reverse: %s", err->msg);
		if (orch_drop_forward(&E.d, dir, err) < 0)
			fail_msg("drop_forward: %s", err->msg);
	}
	return rc;
}

static int crash_main(const char *step, const char *dirname, const char *dir)
{
	struct ferry_error err = { 0 };
	struct orch_result res;

	setup_env(dir);
	if (E.eng->open(&E.d.cfg, &E.d.h, &err) < 0) {
		fprintf(stderr, "crash child: %s\n", err.msg);
		return 1;
	}
	do_switch(strcmp(dirname, "forward") ? DB_REVERSE : DB_FORWARD, &res, &err);
	fprintf(stderr, "crash child: step %s never reached (%s)\n", step, err.msg);
	return 1;
}

/* ---- the cases --------------------------------------------------------- */

static void test_readiness_refuses_replica_wal_and_table_without_pk(void **state)
{
	struct ferry_error err = { 0 };
	struct db_checks checks = { 0 };
	const struct db_check *k;
	struct db_config cfg = E.d.cfg;
	void *h = NULL;
	size_t i;

	(void)state;
	pgtest_sql(PGT.old_ci,
	           "CREATE TABLE orders (id bigserial PRIMARY KEY, ledger bigint NOT NULL "
	           "UNIQUE, note text, n int NOT NULL DEFAULT 0, at timestamptz DEFAULT now()); "
	           "CREATE TABLE items (id serial PRIMARY KEY, name text, qty int); "
	           "CREATE TABLE audit (id bigserial PRIMARY KEY, msg text); "
	           "CREATE TABLE nopk_events (at timestamptz, msg text); "
	           "GRANT ALL ON ALL TABLES IN SCHEMA public TO app; "
	           "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO app");
	pgtest_sql(PGT.old_ci,
	           "INSERT INTO orders (ledger, note) SELECT -g, repeat('x', 200) FROM "
	           "generate_series(1, 20000) g; INSERT INTO items (name, qty) SELECT 'item' || "
	           "g, g FROM generate_series(1, 1000) g");
	open_engine();
	assert_int_equal(E.eng->check(E.d.h, &checks, &err), 0);
	for (i = 0; i < checks.n; i++)
		printf("  check %-28s %-4s %s\n", checks.v[i].name,
		       db_check_status_name(checks.v[i].status), checks.v[i].message);
	k = db_checks_find(&checks, "replica identity");
	assert_non_null(k);
	assert_int_equal(k->status, DB_CHECK_FAIL);
	assert_non_null(strstr(k->message, "public.nopk_events"));
	assert_null(strstr(k->message, "public.orders"));
	k = db_checks_find(&checks, "old wal_level");
	assert_int_equal(k->status, DB_CHECK_OK);
	assert_non_null(db_checks_find(&checks, "size"));
	assert_int_equal(db_checks_worst(&checks), DB_CHECK_FAIL);
	db_checks_release(&checks);
	pgtest_sql(PGT.old_ci, "DROP TABLE nopk_events");

	/* a source with wal_level=replica is refused, naming the setting */
	cfg.old_conninfo = E.repl_ci;
	assert_int_equal(E.eng->open(&cfg, &h, &err), 0);
	assert_int_equal(E.eng->check(h, &checks, &err), 0);
	k = db_checks_find(&checks, "old wal_level");
	assert_non_null(k);
	assert_int_equal(k->status, DB_CHECK_FAIL);
	assert_non_null(strstr(k->message, "wal_level is 'replica'"));
	assert_non_null(strstr(k->message, "wal_level=logical"));
	db_checks_release(&checks);
	E.eng->close(h);
}

static void test_replication_under_mixed_load_ends_equal(void **state)
{
	struct ferry_error err = { 0 };
	struct db_progress prog = { 0 };
	struct db_verify ver = { 0 };
	struct db_lag lag;
	int64_t until;
	size_t i;
	int round;

	(void)state;
	open_engine();
	assert_int_equal(E.eng->replicate_start(E.d.h, &err), 0);
	/* a mix of inserts, updates and deletes while the copy runs */
	for (round = 0; round < 40; round++) {
		pgtest_sql(PGT.old_ci,
		           "INSERT INTO orders (ledger, note) SELECT -100000 - %d * 100 - g, 'mix' "
		           "FROM generate_series(1, 50) g; UPDATE orders SET n = n + 1 WHERE id %% "
		           "37 = %d; DELETE FROM orders WHERE id %% 101 = %d AND ledger < -100; "
		           "UPDATE items SET qty = qty - 1 WHERE id %% 7 = %d",
		           round, round, round, round % 7);
	}
	until = time_mono_ms() + 60000;
	for (;;) {
		db_progress_release(&prog);
		assert_int_equal(E.eng->progress(E.d.h, &prog, &err), 0);
		if (prog.n >= 3 && prog.ready == prog.n)
			break;
		if (time_mono_ms() > until)
			fail_msg("initial sync not done: %zu of %zu tables", prog.ready, prog.n);
		usleep(50000);
	}
	for (i = 0; i < prog.n; i++)
		printf("  table %-20s state %c\n", prog.v[i].name, prog.v[i].state);
	db_progress_release(&prog);
	until = time_mono_ms() + 30000;
	for (;;) {
		assert_int_equal(E.eng->lag(E.d.h, DB_FORWARD, &lag, &err), 0);
		if (lag.bytes == 0 && lag.worker_running)
			break;
		if (time_mono_ms() > until)
			fail_msg("lag stays at %lld bytes", (long long)lag.bytes);
		usleep(20000);
	}
	assert_int_equal(lag.apply_errors, 0);
	assert_int_equal(E.eng->verify(E.d.h, true, &ver, &err), 0);
	for (i = 0; i < ver.n; i++)
		printf("  verify %-16s rows %lld/%lld sum %s/%s\n", ver.v[i].name,
		       (long long)ver.v[i].rows_old, (long long)ver.v[i].rows_new, ver.v[i].sum_old,
		       ver.v[i].sum_new);
	assert_true(ver.equal);
	assert_true(ver.n >= 3);
	assert_true(ver.v[ver.n - 1].sum_old[0] != '\0'); /* orders */
	db_verify_release(&ver);
	/* a row changed on one side only is found, and only in its table */
	pgtest_sql(PGT.new_ci, "UPDATE items SET name = 'tampered' WHERE id = 5");
	assert_int_equal(E.eng->verify(E.d.h, true, &ver, &err), 0);
	assert_false(ver.equal);
	for (i = 0; i < ver.n; i++)
		assert_int_equal(ver.v[i].equal, strcmp(ver.v[i].name, "public.items") != 0);
	db_verify_release(&ver);
	pgtest_sql(PGT.new_ci, "UPDATE items SET name = 'item5' WHERE id = 5");
	assert_int_equal(E.eng->verify(E.d.h, true, &ver, &err), 0);
	assert_true(ver.equal);
	db_verify_release(&ver);
	/* idempotent */
	assert_int_equal(E.eng->replicate_start(E.d.h, &err), 0);
}

/* PostgreSQL counts every apply error a stream met, those it got past too:
 * the stream's walsender ended on old (a publisher restarted, a network
 * cut) adds one.  lag() calls it recovering until the stream has applied
 * what old held when the count grew, then no error; a new run (a new
 * handle) proves it again; the preflight refuses only meanwhile.  Without
 * the proof every later soak and switch would refuse for good. */
#define APPLY_ERRORS                                                                               \
	"SELECT apply_error_count FROM pg_stat_subscription_stats s JOIN pg_subscription p ON "    \
	"p.oid = s.subid WHERE p.subname = 'ferry_sub' AND p.subdbid = (SELECT oid FROM "          \
	"pg_database WHERE datname = current_database())"
static void test_apply_error_got_past_is_not_current(void **state)
{
	struct ferry_error err = { 0 };
	struct pgsql_conn *hold;
	struct db_lag lag;
	int64_t before, until;
	int pass;

	(void)state;
	open_engine();
	before = pgtest_val(PGT.new_ci, APPLY_ERRORS);
	assert_true(before >= 0);
	/* the apply waits on this lock: the stream cannot get past the row
	 * below until it goes */
	hold = conn(PGT.new_ci, PGT.pw);
	assert_int_equal(pgsql_exec(hold, "BEGIN; LOCK TABLE orders IN SHARE MODE", 0, NULL,
	                            time_mono_ms() + 10000, NULL, &err),
	                 0);
	pgtest_sql(PGT.old_ci, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
	                       "WHERE slot_name = 'ferry_sub_main' AND active_pid IS NOT NULL");
	until = time_mono_ms() + 30000;
	while (pgtest_val(PGT.new_ci, APPLY_ERRORS) <= before) {
		if (time_mono_ms() > until)
			fail_msg("the apply worker counted no error");
		usleep(20000);
	}
	pgtest_sql(PGT.old_ci, "INSERT INTO orders (ledger, note) VALUES (-999001, 'after')");
	for (pass = 0; pass < 2; pass++) {
		assert_int_equal(E.eng->lag(E.d.h, DB_FORWARD, &lag, &err), 0);
		assert_true(lag.apply_errors > 0);
		assert_true(lag.recovering);
		assert_int_equal(E.eng->sw->preflight(E.d.h, DB_FORWARD, &err), FERRY_ECHECK);
		assert_non_null(strstr(err.msg, "not yet applied past"));
		pgsql_free(hold); /* the change is applied */
		hold = NULL;
		until = time_mono_ms() + 30000;
		for (;;) {
			assert_int_equal(E.eng->lag(E.d.h, DB_FORWARD, &lag, &err), 0);
			if (!lag.recovering)
				break;
			if (time_mono_ms() > until)
				fail_msg("still recovering: %lld errors, %lld bytes behind",
				         (long long)lag.apply_errors, (long long)lag.bytes);
			usleep(20000);
		}
		assert_int_equal(lag.apply_errors, 0);
		assert_int_equal(E.eng->sw->preflight(E.d.h, DB_FORWARD, &err), 0);
		assert_int_equal(pgtest_val(PGT.new_ci,
		                            "SELECT count(*) FROM orders WHERE ledger = "
		                            "-999001"),
		                 1);
		if (pass == 1)
			break;
		/* a new run knows nothing of the proof: it holds the stream
		 * recovering until the position it reads is applied */
		close_engine();
		open_engine();
		hold = conn(PGT.new_ci, PGT.pw);
		assert_int_equal(pgsql_exec(hold, "BEGIN; LOCK TABLE orders IN SHARE MODE", 0, NULL,
		                            time_mono_ms() + 10000, NULL, &err),
		                 0);
		pgtest_sql(PGT.old_ci, "UPDATE orders SET note = 'again' WHERE ledger = -999001");
	}
	pgtest_sql(PGT.old_ci, "DELETE FROM orders WHERE ledger = -999001");
}

static void test_budget_overrun_leaves_old_writer_unchanged(void **state)
{
	struct ferry_error err = { 0 };
	struct orch_result rep;
	struct pgload load;
	bool paused = true;
	int rc, i;

	(void)state;
	open_engine();
	assert_int_equal(pgload_start(&load, E.pgb_app[0], 500, 1000000), 0);
	wait_acks(&load, 100);
	E.d.budget_ms = 1;
	rc = do_switch(DB_FORWARD, &rep, &err);
	E.d.budget_ms = 5000;
	printf("  budget 1 ms: %s (step %s, pause %lld ms)\n", err.msg, rep.last_step,
	       (long long)rep.pause_ms);
	assert_int_equal(rc, FERRY_EBUDGET);
	assert_int_equal(rep.outcome, ORCH_UNDONE);
	/* resumed on old within the budget and the undo's own time */
	assert_true(rep.pause_ms <= 1 + ORCH_UNDO_MS + 50);
	orch_result_release(&rep);
	wait_acks(&load, 100); /* writes go on */
	pgload_stop(&load);
	for (i = 0; i < 2; i++) {
		assert_int_equal(pooler_port(i, &paused), PGT.old_port);
		assert_false(paused);
	}
	assert_false(fenced(PGT.old_ci));
	assert_int_equal(pgtest_val(PGT.new_ci,
	                            "SELECT count(*) FROM pg_subscription WHERE subname = "
	                            "'ferry_sub' AND subenabled"),
	                 1);
	assert_int_equal(pgtest_val(PGT.new_ci, "SELECT count(*) FROM pg_replication_slots"), 0);
	assert_int_equal(missing_acks(&load, PGT.old_ci), 0);
	wait_replicated(&load, PGT.new_ci);
	pgload_release(&load);
}

static void test_crash_before_the_fence_is_undone(void **state)
{
	struct ferry_error err = { 0 };
	struct orch_result rep;
	bool paused = false;
	int st, i;

	(void)state;
	/* killed as the fence is about to be set: the poolers are paused,
	 * nothing else changed; recovery finds old unfenced and undoes */
	st = crash_child("fence", DB_FORWARD);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	/* the world as the crash left it: paused, not fenced */
	assert_int_equal(pooler_port(0, &paused), PGT.old_port);
	assert_true(paused);
	assert_false(fenced(PGT.old_ci));
	close_engine();
	open_engine();
	assert_int_equal(do_recover(DB_FORWARD, &rep, &err), 0);
	assert_int_equal(rep.outcome, ORCH_UNDONE);
	orch_result_release(&rep);
	for (i = 0; i < 2; i++) {
		assert_int_equal(pooler_port(i, &paused), PGT.old_port);
		assert_false(paused);
	}
	assert_false(fenced(PGT.old_ci));
	assert_int_equal(pgtest_val(PGT.new_ci,
	                            "SELECT count(*) FROM pg_subscription WHERE subname = "
	                            "'ferry_sub' AND subenabled"),
	                 1);
	assert_int_equal(pgtest_val(PGT.new_ci, "SELECT count(*) FROM pg_replication_slots"), 0);
	assert_int_equal(
	        pgtest_val(E.pgb_app[0], "INSERT INTO orders (ledger) VALUES (7) RETURNING 1"), 1);
}

static struct pgload load_a, load_b;

/* ---- the dry run against what ran ------------------------------------- */

/* Logs every statement of role ferry from its next session on (both
 * servers), and notes where each server's log ends now. */
static void log_ferry_statements(bool on, off_t mark[2])
{
	const char *side[2] = { "old", "new" };
	int port[2] = { PGT.old_port, PGT.new_port };
	int i;

	/* through database postgres: shop may carry the fence */
	for (i = 0; i < 2; i++) {
		char *path = xasprintf("%s/%s.log", PGT.dir, side[i]);
		char *ci = xasprintf("host=127.0.0.1 port=%d dbname=postgres user=ferry", port[i]);
		struct stat st;
		pgtest_sql(ci, "ALTER ROLE ferry %s",
		           on ? "SET log_statement = 'all'" : "RESET log_statement");
		mark[i] = stat(path, &st) == 0 ? st.st_size : 0;
		free(ci);
		free(path);
	}
}

/* Every statement eng->describe_switch(dir) lists for old or new is in
 * that server's log after mark, except those it marks as conditional
 * ("if ...", "only if ...") and those with a placeholder (<...>) or a
 * CONNECTION (the logged one carries the password).  The dry run says
 * what the switch sends. */
static void assert_described_ran(enum db_direction dir, const off_t mark[2])
{
	const char *side[2] = { "old", "new" };
	struct ferry_error err = { 0 };
	struct buf d, log[2];
	const char *line;
	int i, checked = 0;

	buf_init(&d, 1 << 20);
	assert_int_equal(orch_describe(dbs, 1, dir, &d, &err), 0);
	for (i = 0; i < 2; i++) {
		char *path = xasprintf("%s/%s.log", PGT.dir, side[i]);
		buf_init(&log[i], 256 << 20);
		assert_int_equal(buf_read_file(&log[i], path), 0);
		assert_true((size_t)mark[i] <= log[i].len);
		free(path);
	}
	for (line = d.data; *line; line = strchr(line, '\n') + 1) {
		char *l = xstrndup(line, strcspn(line, "\n"));
		char *target = strchr(l, ' ') + 1, *text, *note, *last;
		if (!strncmp(l, "open ", 5) || !strncmp(l, "undo ", 5)) {
			free(l);
			continue;
		}
		if (!strncmp(target, "[pause] ", 8))
			target += 8;
		if (!strncmp(target, "main ", 5))
			target += 5;
		text = strstr(target, ": ");
		*text = '\0';
		text += 2;
		note = strstr(text, "  -- ");
		if (note) {
			*note = '\0';
			note += 5;
		}
		last = note && strrchr(note, ';') ? strrchr(note, ';') + 2 : note;
		if ((!strcmp(target, "old") || !strcmp(target, "new")) && !strchr(text, '<') &&
		    !strstr(text, "CONNECTION") && strncmp(text, "connect", 7) &&
		    !(last && (!strncmp(last, "if ", 3) || !strncmp(last, "only if", 7)))) {
			i = !strcmp(target, "new");
			if (!strstr(log[i].data + mark[i], text))
				fail_msg("described but not run on %s: %s", target, text);
			checked++;
		}
		free(l);
	}
	printf("  dry run: %d described statements found in the servers' logs\n", checked);
	assert_true(checked >= 15);
	buf_release(&log[0]);
	buf_release(&log[1]);
	buf_release(&d);
}

/* pgbouncer i's clients of shop waiting for a server connection. */
static int64_t pooler_waiting(int i)
{
	struct ferry_error err = { 0 };
	struct pgsql_conn *c = conn(E.pgb_admin[i], NULL);
	struct pgsql_result r;
	int64_t n = 0;
	int j, k;

	if (pgsql_exec(c, "SHOW POOLS", 0, NULL, time_mono_ms() + 5000, &r, &err) < 0)
		fail_msg("SHOW POOLS: %s", err.msg);
	for (j = 0; j < r.nrows; j++)
		for (k = 0; k < r.ncols; k++)
			if (!strcmp(pgsql_result_get(&r, j, 0) ?: "", "shop") &&
			    !strcmp(r.names[k], "cl_waiting"))
				n += pgsql_result_int(&r, j, k, 0);
	pgsql_result_release(&r);
	pgsql_free(c);
	return n;
}

/* The driver's served(): after RESUME, the switch returns only once the
 * clients queued in the pause have a server connection (ORCH_SERVED_MS at
 * most).  A query queued behind PAUSE keeps it waiting to its deadline;
 * after RESUME it returns once the query has its connection. */
static void test_served_waits_for_queued_clients(void **state)
{
	struct ferry_error err = { 0 };
	struct pgsql_conn *admin = conn(E.pgb_admin[0], NULL), *app;
	struct sw_endpoint *ep = NULL;
	struct pgsql_result r;
	int64_t t0;

	(void)state;
	assert_int_equal(E.d.sw->open(&E.d.swcfg[0], &ep, &err), 0);
	assert_int_equal(
	        pgsql_exec(admin, "PAUSE shop", 0, NULL, time_mono_ms() + 5000, NULL, &err), 0);
	app = conn(E.pgb_app[0], NULL);
	assert_int_equal(pgsql_send(app, "SELECT 1", 0, NULL, &err), 0);
	t0 = time_mono_ms();
	while (pooler_waiting(0) < 1) {
		if (time_mono_ms() - t0 > 5000)
			fail_msg("the query never queued behind PAUSE");
		poll(NULL, 0, 5);
	}
	t0 = time_mono_ms();
	assert_int_equal(E.d.sw->served(ep, t0 + 200, &err), FERRY_ETIMEDOUT);
	printf("  paused: %s\n", err.msg);
	assert_true(time_mono_ms() - t0 >= 200);
	assert_non_null(strstr(err.msg, "1 clients still wait"));
	assert_int_equal(
	        pgsql_exec(admin, "RESUME shop", 0, NULL, time_mono_ms() + 5000, NULL, &err), 0);
	assert_int_equal(E.d.sw->served(ep, time_mono_ms() + 5000, &err), 0);
	assert_int_equal(pooler_waiting(0), 0);
	assert_int_equal(pgsql_wait(app, time_mono_ms() + 5000, &r, &err), 0);
	pgsql_result_release(&r);
	pgsql_free(app);
	pgsql_free(admin);
	E.d.sw->close(ep);
}

/* Until q on ci answers want (20 s at most). */
static void wait_val(const char *ci, int64_t want, const char *what, const char *q)
{
	int64_t until = time_mono_ms() + 20000;

	while (pgtest_val(ci, "%s", q) != want)
		if (time_mono_ms() > until)
			fail_msg("%s: not %lld after 20 s", what, (long long)want);
		else
			usleep(20000);
}

#define FWD_SLOT_ACTIVE                                                                            \
	"SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'ferry_sub_main' AND active"
/* what the stream's conninfo gains to keep its walsender starting */
#define SLOW_WALSENDER " options='-c post_auth_delay=8'"

/* A stream whose worker runs but whose walsender is still starting on the
 * source (here post_auth_delay holds it 8 s, past the lock on its database
 * that the fence's "still starting" looks for): the fence would end that
 * session, and the worker would start again only after
 * wal_retrieve_retry_interval, past the pause's budget.  The preflight
 * refuses after 5 s, and passes only once the slot is in use. */
/* The forward stream started again on a conninfo whose walsender sleeps
 * (SLOW_WALSENDER): its worker runs, its walsender has not connected. */
static void slow_stream_start(void)
{
	char old_pg[256], *orig, *slow, *lit;

	pgtest_ci(old_pg, sizeof(old_pg), PGT.old_port, "postgres", "ferry");
	orig = pgtest_str(PGT.new_ci,
	                  "SELECT subconninfo FROM pg_subscription WHERE subname = 'ferry_sub'");
	slow = xasprintf("%s%s", orig, SLOW_WALSENDER);
	lit = pgsql_quote_literal(slow);
	/* a new connection: the worker restarts, its walsender sleeps */
	pgtest_sql(PGT.new_ci, "ALTER SUBSCRIPTION ferry_sub CONNECTION %s", lit);
	wait_val(old_pg, 0, "the forward slot idle", FWD_SLOT_ACTIVE);
	wait_val(PGT.new_ci, 1, "the forward worker started again",
	         "SELECT count(*) FROM pg_stat_subscription WHERE subname = 'ferry_sub' AND pid IS "
	         "NOT NULL AND relid IS NULL");
	/* the case exists: the worker runs, its walsender has not connected */
	assert_int_equal(pgtest_val(old_pg, "%s", FWD_SLOT_ACTIVE), 0);
	free(lit);
	free(slow);
	free(orig);
}

static void test_preflight_waits_for_a_stream_still_connecting(void **state)
{
	struct ferry_error err = { 0 };
	char old_pg[256];
	int64_t t0;

	(void)state;
	open_engine();
	pgtest_ci(old_pg, sizeof(old_pg), PGT.old_port, "postgres", "ferry");
	slow_stream_start();
	t0 = time_mono_ms();
	assert_int_equal(E.eng->sw->preflight(E.d.h, DB_FORWARD, &err), FERRY_ECHECK);
	printf("  preflight refused after %lld ms: %s\n", (long long)(time_mono_ms() - t0),
	       err.msg);
	assert_non_null(strstr(err.msg, "has not connected to old yet"));
	/* again: the walsender connects within its 8 s */
	t0 = time_mono_ms();
	assert_int_equal(E.eng->sw->preflight(E.d.h, DB_FORWARD, &err), 0);
	printf("  preflight passed after %lld ms\n", (long long)(time_mono_ms() - t0));
	assert_int_equal(pgtest_val(old_pg, "%s", FWD_SLOT_ACTIVE), 1);
}

/* The teardown of the case above, run when it failed too: ferry's own
 * connection back, in use again by a new walsender. */
static int restore_stream_conninfo(void **state)
{
	char old_pg[256], *ci, *at, *lit;
	int64_t pid;

	(void)state;
	ci = pgtest_str(PGT.new_ci,
	                "SELECT subconninfo FROM pg_subscription WHERE subname = 'ferry_sub'");
	at = strstr(ci, SLOW_WALSENDER);
	if (at) {
		pgtest_ci(old_pg, sizeof(old_pg), PGT.old_port, "postgres", "ferry");
		pid = pgtest_val(old_pg, "SELECT coalesce(active_pid, 0) FROM pg_replication_slots "
		                         "WHERE slot_name = 'ferry_sub_main'");
		*at = '\0';
		lit = pgsql_quote_literal(ci);
		pgtest_sql(PGT.new_ci, "ALTER SUBSCRIPTION ferry_sub CONNECTION %s", lit);
		free(lit);
		lit = xasprintf("%s AND active_pid <> %lld", FWD_SLOT_ACTIVE, (long long)pid);
		wait_val(old_pg, 1, "the forward worker connected again", lit);
		free(lit);
	}
	free(ci);
	return 0;
}

/* The fence position is the insert pointer.  WAL that no commit flushed
 * (a commit with synchronous_commit off, a page a read pruned, here a
 * message that is not transactional) is flushed by the WAL writer only
 * every wal_writer_delay, the walsender sends nothing past the flush
 * pointer, and nothing commits on a fenced source: the pause waited for
 * the WAL writer (up to 200 ms by default).  Here its delay is 10 s: the
 * wait ends by the deadline only if the switch flushes. */
static void test_wait_applied_flushes_what_nothing_commits(void **state)
{
	struct ferry_error err = { 0 };
	struct pgsql_conn *old = conn(PGT.old_ci, PGT.pw);
	const char *params[1];
	char *pos = NULL, *behind = NULL;
	int64_t t0;
	int rc;

	(void)state;
	open_engine();
	/* both connections open, the stream caught up */
	assert_int_equal(E.eng->sw->preflight(E.d.h, DB_FORWARD, &err), 0);
	pgtest_sql(PGT.old_ci, "ALTER SYSTEM SET wal_writer_delay = '10s'");
	pgtest_sql(PGT.old_ci, "SELECT pg_reload_conf()");
	wait_val(PGT.old_ci, 1, "wal_writer_delay reloaded",
	         "SELECT (current_setting('wal_writer_delay') = '10s')::int");
	assert_int_equal(pgsql_exec(old,
	                            "SELECT pg_logical_emit_message(false, 'ferry-test', 'not "
	                            "flushed')",
	                            0, NULL, time_mono_ms() + 5000, NULL, &err),
	                 0);
	assert_int_equal(pgsql_query_value(old, "SELECT pg_current_wal_insert_lsn()::text", 0, NULL,
	                                   time_mono_ms() + 5000, &pos, &err),
	                 0);
	params[0] = pos;
	assert_int_equal(pgsql_query_value(old, "SELECT pg_current_wal_flush_lsn() < $1::pg_lsn", 1,
	                                   params, time_mono_ms() + 5000, &behind, &err),
	                 0);
	/* the case exists: the record is not flushed */
	assert_string_equal(behind, "t");
	t0 = time_mono_ms();
	rc = E.eng->sw->wait_applied(E.d.h, DB_FORWARD, pos, t0 + 2000, &err);
	printf("  applied up to %s after %lld ms: %s\n", pos, (long long)(time_mono_ms() - t0),
	       rc == 0 ? "yes" : err.msg);
	assert_int_equal(rc, 0);
	free(pos);
	free(behind);
	pgsql_free(old);
}

/* The teardown of the case above, run when it failed too. */
static int reset_wal_writer_delay(void **state)
{
	(void)state;
	pgtest_sql(PGT.old_ci, "ALTER SYSTEM RESET wal_writer_delay");
	pgtest_sql(PGT.old_ci, "SELECT pg_reload_conf()");
	return 0;
}

static void init_file_removed(const char *path)
{
	int i;

	/* prepare makes the reverse publication again; dropping it removes
	 * the file too, and a backend that starts meanwhile (an autovacuum
	 * worker) writes it back: tried again */
	for (i = 0; i < 5 && (i == 0 || access(path, F_OK) == 0); i++)
		pgtest_sql(PGT.new_ci, "DROP PUBLICATION IF EXISTS ferry_rev_pub");
	assert_int_not_equal(access(path, F_OK), 0);
}

/* A catalog change removes the relation cache's init file of a database,
 * and the next backend to start builds its cache from the catalogs and
 * writes it back.  prepare's own change is the reverse publication (for
 * all tables): without prepare's connection after it, the next backends
 * to start on new are the poolers' first connections after RESUME. */
static void test_prepare_writes_the_relcache_init_file_again(void **state)
{
	struct ferry_error err = { 0 };
	char path[512];
	int rc;

	(void)state;
	open_engine();
	snprintf(path, sizeof(path), "%s/new/base/%lld/pg_internal.init", PGT.dir,
	         (long long)pgtest_val(PGT.new_ci, "SELECT oid FROM pg_database WHERE datname = "
	                                           "current_database()"));
	/* the spare connections opened, as in every prepare but the first */
	assert_int_equal(E.eng->sw->prepare(E.d.h, DB_FORWARD, &err), 0);
	/* the case exists */
	init_file_removed(path);
	assert_int_equal(E.eng->sw->prepare(E.d.h, DB_FORWARD, &err), 0);
	/* before any other connection to new */
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(pgtest_val(PGT.new_ci, "SELECT count(*) FROM pg_publication WHERE pubname "
	                                        "= 'ferry_rev_pub'"),
	                 1);
	/* that connection failing costs the pause its warm cache, not the
	 * switch: prepare goes on, and nothing wrote the file back */
	init_file_removed(path);
	setenv("FERRY_FAIL_AT", "db.prepare.relcache", 1);
	fault_reset();
	rc = E.eng->sw->prepare(E.d.h, DB_FORWARD, &err);
	unsetenv("FERRY_FAIL_AT");
	assert_int_equal(rc, 0);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_equal(pgtest_val(PGT.new_ci, "SELECT count(*) FROM pg_publication WHERE pubname "
	                                        "= 'ferry_rev_pub'"),
	                 1);
	/* prepare's fence lock and staged fence go with the connections */
	close_engine();
}

#define FERRY_ON_NEW                                                                               \
	"FROM pg_stat_activity WHERE datname = 'shop' AND usename = 'ferry' AND backend_type = "   \
	"'client backend' AND pid <> pg_backend_pid()"

/* The unfence of a target that an earlier rollback left fenced ends the
 * sessions begun under the fence (they keep its read-only default), but
 * not prepare's connection to it: it never writes, and its end would be
 * a backend's exit inside the pause, just before RESUME. */
static void test_unfence_leaves_prepares_connection_open(void **state)
{
	struct ferry_error err = { 0 };
	struct pgsql_conn *app;
	char *spares, *q;
	int64_t warm;

	(void)state;
	open_engine();
	pgtest_sql_rw(PGT.new_ci, "ALTER DATABASE shop SET default_transaction_read_only = on");
	/* the spares opened by a first prepare: the second's only new
	 * session is its connection to new */
	assert_int_equal(E.eng->sw->prepare(E.d.h, DB_FORWARD, &err), 0);
	spares = pgtest_str(PGT.new_ci, "SELECT coalesce(string_agg(pid::text, ','), '0') %s",
	                    FERRY_ON_NEW);
	assert_int_equal(E.eng->sw->prepare(E.d.h, DB_FORWARD, &err), 0);
	assert_int_equal(pgtest_val(PGT.new_ci, "SELECT count(*) %s AND pid NOT IN (%s)",
	                            FERRY_ON_NEW, spares),
	                 1);
	warm = pgtest_val(PGT.new_ci, "SELECT pid %s AND pid NOT IN (%s)", FERRY_ON_NEW, spares);
	/* a session begun under the fence */
	app = conn(PGT.new_ci, PGT.pw);
	assert_int_equal(E.eng->sw->unfence(E.d.h, DB_NEW, time_mono_ms() + 5000, &err), 0);
	assert_false(fenced(PGT.new_ci));
	/* both would be signalled by the same statement: once the one is
	 * gone, the other would be too */
	q = xasprintf("SELECT count(*) FROM pg_stat_activity WHERE pid = %d",
	              pgsql_backend_pid(app));
	wait_val(PGT.new_ci, 0, "the session begun under the fence ended", q);
	assert_int_equal(pgtest_val(PGT.new_ci,
	                            "SELECT count(*) FROM pg_stat_activity WHERE pid = "
	                            "%lld",
	                            (long long)warm),
	                 1);
	free(q);
	free(spares);
	pgsql_free(app);
	close_engine();
}

/* The teardown of the case above, run when it failed too. */
static int unfence_new(void **state)
{
	(void)state;
	pgtest_sql_rw(PGT.new_ci, "ALTER DATABASE shop RESET default_transaction_read_only");
	return 0;
}

/* What the switch said (opts_said.say), and how often the preflight began. */
static char said[4096];
static int preflights;

static void say_into(void *ctx, const char *object, const char *line)
{
	size_t n = strlen(said);

	(void)ctx;
	snprintf(said + n, sizeof(said) - n, "%s: %s\n", object ? object : "switch", line);
}

static const struct orch_opts opts_said = { .block_signals = true, .say = say_into };

/* At the first preflight, after the wait for the streams: the stream
 * starts again and stays unconnected past the preflight's 5 s. */
static void slow_stream_at_first_preflight(const char *name, void *ctx)
{
	(void)ctx;
	if (!strcmp(name, "db.preflight") && preflights++ == 0)
		slow_stream_start();
}

/* Under load, through both poolers: no acknowledged write lost, the
 * sequences carried, the poolers on new.  And the switch's own wait for
 * the streams (orch_switch_caught_up): the stream here falls behind after
 * that wait ended (it starts again at the first preflight, its walsender
 * 8 s from connecting), the preflight refuses after its 5 s, and the
 * switch says so, waits for the stream and tries again, instead of
 * failing a switch (a rollback, say) that seconds later passes. */
static void test_switch_under_load_loses_no_acknowledged_write(void **state)
{
	struct ferry_error err = { 0 };
	struct orch_result rep;
	int64_t t0, t1, gap_a, gap_b, max_before = 0, min_after = INT64_MAX;
	bool paused = true;
	size_t i;
	int rc;

	off_t mark[2];

	(void)state;
	/* the engine's sessions from here on log their statements */
	log_ferry_statements(true, mark);
	if (E.d.h)
		close_engine();
	open_engine();
	/* both poolers carry writes: the new host's app servers write to the
	 * old database through their own pgbouncer until the switch */
	assert_int_equal(pgload_start(&load_a, E.pgb_app[0], 500, 2000000), 0);
	assert_int_equal(pgload_start(&load_b, E.pgb_app[1], 500, 3000000), 0);
	wait_acks(&load_a, 300);
	said[0] = '\0';
	preflights = 0;
	fault_set_hook(slow_stream_at_first_preflight, NULL);
	t0 = time_mono_us();
	rc = orch_switch_caught_up(dbs, 1, DB_FORWARD, 60000, &opts_said, &rep, &err);
	t1 = time_mono_us();
	fault_set_hook(NULL, NULL);
	printf("%s", said);
	if (rc < 0)
		fail_msg("switch: %s (hint: %s)", err.msg, err.hint);
	if (orch_start_reverse(&E.d, DB_FORWARD, rep.db[0].fence_pos, &rep.db[0], &err) < 0 ||
	    orch_drop_forward(&E.d, DB_FORWARD, &err) < 0)
		fail_msg("after the switch: %s", err.msg);
	printf("  cutover steps: %s\n", rep.timings);
	/* refused once, for the stream not yet connected; passed the second time */
	assert_int_equal(preflights, 2);
	assert_non_null(strstr(said, "has not connected to old yet"));
	assert_non_null(strstr(said, "is behind again"));
	assert_non_null(strstr(said, "its worker not yet connected"));
	/* the switch waited for the poolers to serve their clients */
	assert_non_null(strstr(rep.timings, " served="));
	assert_described_ran(DB_FORWARD, mark);
	wait_acks(&load_a, 300);
	wait_acks(&load_b, 300);
	pgload_stop(&load_a);
	pgload_stop(&load_b);
	gap_a = pgload_max_gap_us(&load_a, t0 - 1000000, t1 + 1000000);
	gap_b = pgload_max_gap_us(&load_b, t0 - 1000000, t1 + 1000000);
	printf("  cutover: ferry pause %lld ms, client-seen pause %.1f ms (old pooler) / %.1f ms "
	       "(new pooler), fence %s, %lld sequences, %lld write errors\n",
	       (long long)rep.pause_ms, gap_a / 1000.0, gap_b / 1000.0, rep.db[0].fence_pos,
	       (long long)rep.db[0].sequences, (long long)(load_a.errors + load_b.errors));
	orch_result_release(&rep);
	assert_int_equal(missing_acks(&load_a, PGT.new_ci), 0);
	assert_int_equal(missing_acks(&load_b, PGT.new_ci), 0);
	assert_int_equal(load_a.dup_errors + load_b.dup_errors, 0);
	/* the sequence continues above every id handed out before */
	for (i = 0; i < load_a.nacks; i++) {
		if (load_a.acks[i].at_us < t0 && load_a.acks[i].id > max_before)
			max_before = load_a.acks[i].id;
		if (load_a.acks[i].at_us > t1 && load_a.acks[i].id < min_after)
			min_after = load_a.acks[i].id;
	}
	assert_true(min_after > max_before);
	for (i = 0; i < 2; i++) {
		assert_int_equal(pooler_port(i, &paused), PGT.new_port);
		assert_false(paused);
	}
	assert_true(fenced(PGT.old_ci));
	assert_int_equal(pgtest_val(PGT.new_ci, "SELECT count(*) FROM pg_subscription"), 0);
	assert_int_equal(pgtest_val(PGT.old_ci, "SELECT count(*) FROM pg_replication_slots"), 0);
	assert_int_equal(pgtest_val(PGT.old_ci, "SELECT count(*) FROM pg_publication"), 0);
	assert_int_equal(pgtest_val(PGT.old_ci,
	                            "SELECT count(*) FROM pg_subscription WHERE subname = "
	                            "'ferry_rev_sub' AND subenabled"),
	                 1);
	assert_true(gap_a < 5000000);
}

static void test_rollback_carries_new_writes_back(void **state)
{
	struct ferry_error err = { 0 };
	struct orch_result rep;
	struct db_lag lag;
	struct pgload load;
	int64_t t0, t1, before_old;
	bool paused = true;
	off_t mark[2];
	int rc, i;

	(void)state;
	open_engine();
	/* the engine's sessions were opened with log_statement = all (the
	 * cutover test); the ALTER ROLE is undone at once for later ones */
	log_ferry_statements(false, mark);
	/* writes on the new writer reach the fenced old database through
	 * reverse replication: default_transaction_read_only does not stop
	 * the apply worker */
	before_old = pgtest_val(PGT.old_ci, "SELECT count(*) FROM orders");
	assert_int_equal(pgload_start(&load, E.pgb_app[0], 500, 4000000), 0);
	wait_acks(&load, 300);
	wait_replicated(&load, PGT.old_ci);
	assert_int_equal(E.eng->lag(E.d.h, DB_REVERSE, &lag, &err), 0);
	assert_int_equal(lag.apply_errors, 0);
	t0 = time_mono_us();
	rc = do_switch(DB_REVERSE, &rep, &err);
	t1 = time_mono_us();
	if (rc < 0)
		fail_msg("rollback: %s", err.msg);
	printf("  rollback steps: %s\n", rep.timings);
	assert_described_ran(DB_REVERSE, mark);
	wait_acks(&load, 200);
	pgload_stop(&load);
	printf("  rollback: pause %lld ms (client-seen %.1f ms), carried back %lld transactions, "
	       "%lld bytes of WAL; old gained %lld rows\n",
	       (long long)rep.pause_ms,
	       pgload_max_gap_us(&load, t0 - 1000000, t1 + 1000000) / 1000.0,
	       (long long)rep.db[0].carried_txns, (long long)rep.db[0].carried_bytes,
	       (long long)(pgtest_val(PGT.old_ci, "SELECT count(*) FROM orders") - before_old));
	assert_true(rep.db[0].carried_txns > 0 || rep.db[0].carried_bytes > 0);
	orch_result_release(&rep);
	assert_int_equal(missing_acks(&load, PGT.old_ci), 0);
	assert_int_equal(load.dup_errors, 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(pooler_port(i, &paused), PGT.old_port);
		assert_false(paused);
	}
	assert_false(fenced(PGT.old_ci));
	assert_true(fenced(PGT.new_ci));
	/* forward replication re-created without a copy: back to the soak */
	assert_int_equal(pgtest_val(PGT.new_ci,
	                            "SELECT count(*) FROM pg_subscription WHERE subname = "
	                            "'ferry_sub' AND subenabled"),
	                 1);
	assert_int_equal(pgtest_val(PGT.old_ci, "SELECT count(*) FROM pg_subscription"), 0);
	assert_int_equal(pgtest_val(PGT.new_ci, "SELECT count(*) FROM pg_replication_slots"), 0);
	wait_replicated(&load, PGT.new_ci);
	pgload_release(&load);
	pgload_release(&load_a);
	pgload_release(&load_b);
}

static void test_crash_after_reverse_slot_is_completed(void **state)
{
	struct ferry_error err = { 0 };
	struct orch_result rep;
	bool paused = false;
	int st, i;

	(void)state;
	st = crash_child("point", DB_FORWARD);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_int_equal(pooler_port(1, &paused), PGT.old_port);
	assert_true(paused);
	close_engine();
	open_engine();
	assert_int_equal(do_recover(DB_FORWARD, &rep, &err), 0);
	assert_int_equal(rep.outcome, ORCH_DONE);
	orch_result_release(&rep);
	for (i = 0; i < 2; i++) {
		assert_int_equal(pooler_port(i, &paused), PGT.new_port);
		assert_false(paused);
	}
	assert_true(fenced(PGT.old_ci));
	assert_false(fenced(PGT.new_ci));
	assert_int_equal(
	        pgtest_val(E.pgb_app[1], "INSERT INTO orders (ledger) VALUES (8) RETURNING 1"), 1);
	assert_int_equal(pgtest_val(PGT.new_ci, "SELECT count(*) FROM orders WHERE ledger = 8"), 1);
	assert_int_equal(pgtest_val(PGT.old_ci,
	                            "SELECT count(*) FROM pg_subscription WHERE subname = "
	                            "'ferry_rev_sub'"),
	                 1);
	/* a second recovery finds it done */
	assert_int_equal(do_recover(DB_FORWARD, &rep, &err), 0);
	assert_int_equal(rep.outcome, ORCH_DONE);
	orch_result_release(&rep);
}

/* The way back's apply worker ended (killed twice: the launcher starts it
 * again only wal_retrieve_retry_interval, 5 s, after its last start): its
 * subscription is enabled, its slot idle.  The inspection must not peek
 * that slot: a peek holds it, and a worker that asks for it then fails and
 * is not started again for 5 s (a rollback right after a cutover was
 * refused "worker missing" that way).  It says "not known to be caught
 * up" instead of the peek's "nothing pending". */
#define REV_WORKER                                                                                 \
	"FROM pg_stat_subscription w JOIN pg_subscription s ON s.oid = w.subid WHERE s.subname = " \
	"'ferry_rev_sub' AND w.pid IS NOT NULL AND w.relid IS NULL"

static void test_inspect_leaves_a_slot_its_worker_is_taking_alone(void **state)
{
	struct ferry_error err = { 0 };
	struct db_inspect ins;
	int round;

	(void)state;
	for (round = 0; round < 2; round++) {
		wait_val(PGT.old_ci, 1, "the reverse apply worker", "SELECT count(*) " REV_WORKER);
		pgtest_sql(PGT.old_ci, "SELECT pg_terminate_backend(w.pid) " REV_WORKER);
	}
	wait_val(PGT.new_ci, 0, "the reverse slot in use",
	         "SELECT count(*) FROM pg_replication_slots WHERE active");
	if (pgtest_val(PGT.old_ci, "SELECT count(*) " REV_WORKER) != 0)
		fail_msg("the worker came back at once: nothing tested");
	if (E.eng->sw->inspect(E.d.h, DB_REVERSE, &ins, &err) < 0)
		fail_msg("inspect: %s", err.msg);
	assert_true(ins.forward_running);
	assert_int_equal(ins.caught_up, 0);
	/* the worker comes back, takes its slot and confirms */
	wait_val(PGT.new_ci, 1, "the reverse slot in use",
	         "SELECT count(*) FROM pg_replication_slots WHERE active");
	for (round = 0; ins.caught_up != 1; round++) {
		if (round == 1000)
			fail_msg("the inspection never saw the way back caught up");
		usleep(20000);
		if (E.eng->sw->inspect(E.d.h, DB_REVERSE, &ins, &err) < 0)
			fail_msg("inspect: %s", err.msg);
	}
}

/* Fault injection (SQLite's test6.c, STYLE "Tests"): kill -9 the switch
 * before each of its steps in turn, recover, and check that the world is
 * consistent: one writer, every pooler pointing at it and running, the
 * other side fenced and fed by replication, and a write through the pooler
 * reaching both. */
static void test_kill_before_every_step_then_recover_is_consistent(void **state)
{
	static const char *const steps[] = {
		"preflight",      "prepare",      "pause",
		"fence",          "position",     "wait_applied",
		"finalize",       "stop_forward", "prepare_reverse",
		"unfence_target", "point",        "confirm",
		"fence_holds",    "commit",       "resume",
		"start_reverse",  "drop_forward", NULL,
	};
	struct ferry_error err = { 0 };
	struct orch_result rep;
	enum db_direction dir = DB_REVERSE; /* new is the writer now */
	int64_t ledger = 9000000;
	size_t k;
	int i;

	(void)state;
	for (k = 0; steps[k]; k++) {
		bool paused = true, to_writer;
		const char *writer, *other;
		int writer_port, st;

		st = crash_child(steps[k], dir);
		if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
			fail_msg("step %s: the switch did not reach it", steps[k]);
		close_engine();
		open_engine();
		if (do_recover(dir, &rep, &err) < 0)
			fail_msg("step %s: recover: %s", steps[k], err.msg);
		assert_true(rep.outcome == ORCH_DONE || rep.outcome == ORCH_UNDONE);
		to_writer = rep.outcome == ORCH_DONE;
		orch_result_release(&rep);
		/* DB_FORWARD moves writes to new, DB_REVERSE to old */
		if ((dir == DB_FORWARD) == to_writer) {
			writer = PGT.new_ci;
			other = PGT.old_ci;
			writer_port = PGT.new_port;
		} else {
			writer = PGT.old_ci;
			other = PGT.new_ci;
			writer_port = PGT.old_port;
		}
		printf("  killed before %-20s -> %s, writer %s\n", steps[k],
		       to_writer ? "completed" : "undone", writer == PGT.new_ci ? "new" : "old");
		for (i = 0; i < 2; i++) {
			assert_int_equal(pooler_port(i, &paused), writer_port);
			assert_false(paused);
		}
		assert_false(fenced(writer));
		assert_true(fenced(other));
		ledger++;
		assert_int_equal(pgtest_val(E.pgb_app[k % 2],
		                            "INSERT INTO orders (ledger) VALUES (%lld) RETURNING 1",
		                            (long long)ledger),
		                 1);
		assert_int_equal(pgtest_val(writer,
		                            "SELECT count(*) FROM orders WHERE ledger = %lld",
		                            (long long)ledger),
		                 1);
		{
			int64_t until = time_mono_ms() + 20000;
			while (pgtest_val(other, "SELECT count(*) FROM orders WHERE ledger = %lld",
			                  (long long)ledger) != 1) {
				if (time_mono_ms() > until)
					fail_msg("step %s: the write never reached the other side",
					         steps[k]);
				usleep(10000);
			}
		}
		if (to_writer)
			dir = dir == DB_FORWARD ? DB_REVERSE : DB_FORWARD;
	}
}

static void test_teardown_leaves_no_replication_object(void **state)
{
	struct ferry_error err = { 0 };
	const char *side[2] = { PGT.old_ci, PGT.new_ci };
	int i;

	(void)state;
	open_engine();
	if (E.eng->teardown(E.d.h, &err) < 0)
		fail_msg("teardown: %s", err.msg);
	assert_int_equal(E.eng->teardown(E.d.h, &err), 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(pgtest_val(side[i], "SELECT count(*) FROM pg_subscription"), 0);
		assert_int_equal(pgtest_val(side[i], "SELECT count(*) FROM pg_replication_slots"),
		                 0);
		assert_int_equal(pgtest_val(side[i], "SELECT count(*) FROM pg_publication"), 0);
	}
	close_engine();
}

static void test_conninfo_scrubbed_of_password(void **state)
{
	char *s = pgsql_conninfo_scrub("host=h port=5 password=hunter2 dbname=shop");

	(void)state;
	assert_null(strstr(s, "hunter2"));
	assert_non_null(strstr(s, "dbname=shop"));
	free(s);
	s = pgsql_conninfo_scrub("postgresql://u:hunter2@h/db");
	assert_null(strstr(s, "hunter2"));
	free(s);
}

static void test_wrong_password_is_refused_without_showing_it(void **state)
{
	struct ferry_error err = { 0 };
	struct pgsql_conn *c = NULL;
	char *ci = xasprintf("%s password=hunter2-in-conninfo", PGT.old_ci);

	(void)state;
	assert_int_equal(pgsql_connect(&c, PGT.old_ci, "hunter2-wrong", "database main old", &err),
	                 FERRY_EAUTH);
	assert_null(c);
	assert_non_null(strstr(err.msg, "database main old"));
	assert_null(strstr(err.msg, "hunter2"));
	assert_null(strstr(err.hint, "hunter2"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(pgsql_connect(&c, ci, NULL, "database main old", &err), FERRY_EAUTH);
	assert_null(strstr(err.msg, "hunter2"));
	free(ci);
	/* the right one works, and the server knows ferry by name */
	c = conn(PGT.old_ci, PGT.pw);
	{
		char *app = NULL;
		assert_int_equal(pgsql_query_value(c, "SELECT current_setting('application_name')",
		                                   0, NULL, time_mono_ms() + 5000, &app, &err),
		                 0);
		assert_string_equal(app, "ferry");
		free(app);
	}
	/* the SQLSTATE is kept */
	assert_int_equal(pgsql_exec(c, "SELECT 1/0", 0, NULL, time_mono_ms() + 5000, NULL, &err),
	                 FERRY_EREFUSED);
	assert_non_null(strstr(err.msg, "SQLSTATE 22012"));
	assert_string_equal(pgsql_sqlstate(c), "22012");
	/* a deadline cancels a query and leaves the connection usable */
	assert_int_equal(
	        pgsql_exec(c, "SELECT pg_sleep(5)", 0, NULL, time_mono_ms() + 100, NULL, &err),
	        FERRY_ETIMEDOUT);
	assert_int_equal(pgsql_exec(c, "SELECT 1", 0, NULL, time_mono_ms() + 5000, NULL, &err), 0);
	pgsql_free(c);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conninfo_scrubbed_of_password),
		cmocka_unit_test(test_wrong_password_is_refused_without_showing_it),
		cmocka_unit_test(test_readiness_refuses_replica_wal_and_table_without_pk),
		cmocka_unit_test(test_replication_under_mixed_load_ends_equal),
		cmocka_unit_test(test_apply_error_got_past_is_not_current),
		cmocka_unit_test(test_budget_overrun_leaves_old_writer_unchanged),
		cmocka_unit_test(test_crash_before_the_fence_is_undone),
		cmocka_unit_test(test_served_waits_for_queued_clients),
		cmocka_unit_test_teardown(test_wait_applied_flushes_what_nothing_commits,
		                          reset_wal_writer_delay),
		cmocka_unit_test_teardown(test_preflight_waits_for_a_stream_still_connecting,
		                          restore_stream_conninfo),
		cmocka_unit_test(test_prepare_writes_the_relcache_init_file_again),
		cmocka_unit_test_teardown(test_unfence_leaves_prepares_connection_open,
		                          unfence_new),
		cmocka_unit_test(test_switch_under_load_loses_no_acknowledged_write),
		cmocka_unit_test(test_rollback_carries_new_writes_back),
		cmocka_unit_test(test_crash_after_reverse_slot_is_completed),
		cmocka_unit_test(test_inspect_leaves_a_slot_its_worker_is_taking_alone),
		cmocka_unit_test(test_kill_before_every_step_then_recover_is_consistent),
		cmocka_unit_test(test_teardown_leaves_no_replication_object),
	};
	const char *dir;
	int rc;

	if (argc == 5 && !strcmp(argv[1], "--crash-at"))
		return crash_main(argv[2], argv[3], argv[4]);
	dir = getenv("FERRY_PGTEST_DIR");
	if (!dir) {
		fprintf(stderr, "run through run.sh (FERRY_PGTEST_DIR unset)\n");
		return 77;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	setup_env(dir);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (E.d.h)
		close_engine();
	pgtest_release();
	return rc;
}
