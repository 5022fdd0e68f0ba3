/*
 * test_pgfence.c - the staged PostgreSQL fence (postgresql_switch.c:
 * pg_fence_arm, pg_fence_stage_on, pg_fence_release, pg_fence_cancel)
 * against two real PostgreSQL 15 clusters started by run_pgfence.sh
 * (ports 16700-16701), through the engine's switch steps:
 *   - with 50 idle sessions of the application on old, fence(old) leaves
 *     them alive, but a write from one of them does not commit (it waits
 *     on the fence's table lock: a statement_timeout ends it, the row is
 *     not there) and a session opened after the fence is read-only; after
 *     RESUME (start_reverse) they are gone and the fence stays;
 *   - an undo (unfence) before the commit point leaves them alive and
 *     writable;
 *   - ferry killed after the fence: the fence completes by itself (the
 *     sessions are gone, the fence is on, no table lock is left);
 *   - ferry's lock held by another session: the fence that ends every
 *     session inside the pause, as before;
 *   - a session begun while the fence's ALTER waits (writable) is ended
 *     after RESUME: the DO, sent with the ALTER, waits for its commit.
 * Without the staged fence (every session ended inside the pause) the
 * first two fail.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/db.h"
#include "db/pgsql.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define NSESS 50

static struct {
	char *pw, *dir;
	char old_ci[256], new_ci[256], app_ci[256];
	struct db_config cfg;
	const struct db_engine *eng;
	struct pgsql_conn *sess[NSESS];
	void *h; /* the engine, closed by teardown (a failed case's too) */
} E;

static int envint(const char *name, int def)
{
	const char *v = getenv(name);
	return v ? (int)strtol(v, NULL, 10) : def;
}

static void sql(const char *ci, const char *q)
{
	struct ferry_error err = { 0 };
	struct pgsql_conn *c = NULL;

	if (pgsql_connect(&c, ci, E.pw, "test", &err) < 0)
		fail_msg("connect: %s", err.msg);
	if (pgsql_exec(c, "SET default_transaction_read_only = off", 0, NULL, 0, NULL, &err) < 0 ||
	    pgsql_exec(c, q, 0, NULL, time_mono_ms() + 60000, NULL, &err) < 0)
		fail_msg("%s: %s", q, err.msg);
	pgsql_free(c);
}

static int64_t val(const char *ci, const char *q)
{
	struct ferry_error err = { 0 };
	struct pgsql_conn *c = NULL;
	char *v = NULL;
	int64_t n;

	if (pgsql_connect(&c, ci, E.pw, "test", &err) < 0)
		fail_msg("connect: %s", err.msg);
	if (pgsql_query_value(c, q, 0, NULL, time_mono_ms() + 60000, &v, &err) < 0)
		fail_msg("%s: %s", q, err.msg);
	pgsql_free(c);
	n = v ? strtoll(v, NULL, 10) : -1;
	free(v);
	return n;
}

/* the application's sessions on old (role app), as it opened them */
static int64_t app_sessions(void)
{
	return val(E.old_ci, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' AND "
	                     "datname = 'shop'");
}

static bool fenced(void)
{
	return val(E.old_ci, "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON "
	                     "d.oid = s.setdatabase WHERE d.datname = 'shop' AND "
	                     "'default_transaction_read_only=on' = ANY (s.setconfig)") == 1;
}

/* waits (deadline 20 s) until q on old answers want */
static bool wait_val(const char *q, int64_t want)
{
	int64_t until = time_mono_ms() + 20000;

	while (time_mono_ms() < until) {
		if (val(E.old_ci, q) == want)
			return true;
		usleep(10000);
	}
	return val(E.old_ci, q) == want;
}

static void sessions_open(void)
{
	struct ferry_error err = { 0 };
	int i;

	for (i = 0; i < NSESS; i++) {
		if (pgsql_connect(&E.sess[i], E.app_ci, NULL, "app", &err) < 0)
			fail_msg("app session: %s", err.msg);
		/* each has run something: an application's warm session */
		if (pgsql_exec(E.sess[i], "SELECT count(*) FROM t", 0, NULL, time_mono_ms() + 10000,
		               NULL, &err) < 0)
			fail_msg("app session: %s", err.msg);
	}
	assert_int_equal(app_sessions(), NSESS);
}

static void sessions_close(void)
{
	for (int i = 0; i < NSESS; i++) {
		pgsql_free(E.sess[i]);
		E.sess[i] = NULL;
	}
}

static int setup(void **state)
{
	(void)state;
	sql(E.old_ci, "ALTER DATABASE shop RESET default_transaction_read_only");
	sql(E.new_ci, "ALTER DATABASE shop RESET default_transaction_read_only");
	sql(E.old_ci, "DROP TABLE IF EXISTS t; CREATE TABLE t (id int PRIMARY KEY); GRANT ALL ON "
	              "t TO app");
	sql(E.new_ci, "DROP TABLE IF EXISTS t; CREATE TABLE t (id int PRIMARY KEY)");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sessions_close();
	if (E.h)
		E.eng->close(E.h);
	E.h = NULL;
	sql(E.old_ci, "DROP SUBSCRIPTION IF EXISTS ferry_rev_sub");
	sql(E.new_ci, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots");
	sql(E.new_ci, "DROP PUBLICATION IF EXISTS ferry_rev_pub");
	return 0;
}

static void *engine_prepared(void)
{
	struct ferry_error err = { 0 };
	void *h = NULL;
	int64_t t0;

	if (E.eng->open(&E.cfg, &h, &err) < 0)
		fail_msg("open: %s", err.msg);
	E.h = h;
	t0 = time_mono_ms();
	if (E.eng->sw->prepare(h, DB_FORWARD, &err) < 0)
		fail_msg("prepare: %s", err.msg);
	printf("prepare: %lld ms\n", (long long)(time_mono_ms() - t0));
	return h;
}

/* An INSERT from session s with a statement_timeout: 0 committed, else
 * the error's SQLSTATE in state. */
static int app_insert(struct pgsql_conn *s, int id, char state[6])
{
	struct ferry_error err = { 0 };
	char q[128];
	int rc;

	snprintf(q, sizeof(q), "SET statement_timeout = 300; INSERT INTO t VALUES (%d)", id);
	rc = pgsql_exec(s, q, 0, NULL, time_mono_ms() + 10000, NULL, &err);
	snprintf(state, 6, "%s", pgsql_sqlstate(s));
	return rc;
}

static void test_idle_sessions_live_until_resume(void **state)
{
	struct ferry_error err = { 0 };
	struct pgsql_conn *late = NULL;
	struct pgsql_result r;
	char *ro = NULL;
	char st[6];
	void *h;
	int64_t t0;

	(void)state;
	h = engine_prepared();
	sessions_open();
	t0 = time_mono_ms();
	assert_int_equal(E.eng->sw->fence(h, DB_OLD, time_mono_ms() + 5000, &err), 0);
	printf("fence(old) with %d idle sessions: %lld ms\n", NSESS,
	       (long long)(time_mono_ms() - t0));
	assert_true(fenced());
	/* alive, but a write does not commit: it waits on the fence's lock */
	assert_int_equal(app_sessions(), NSESS);
	assert_int_not_equal(app_insert(E.sess[0], 1, st), 0);
	assert_string_equal(st, "57014");
	/* another waits for as long as the fence holds */
	assert_int_equal(pgsql_send(E.sess[1], "INSERT INTO t VALUES (2)", 0, NULL, &err), 0);
	assert_true(wait_val("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
	                     "WHERE a.usename = 'app' AND l.relation = 't'::regclass AND NOT "
	                     "l.granted",
	                     1));
	/* a session that starts under the fence is read-only (a write waits
	 * on the lock first: the parser locks the table) */
	if (pgsql_connect(&late, E.app_ci, NULL, "late", &err) < 0 ||
	    pgsql_query_value(late, "SHOW default_transaction_read_only", 0, NULL,
	                      time_mono_ms() + 5000, &ro, &err) < 0)
		fail_msg("late session: %s", err.msg);
	assert_string_equal(ro, "on");
	free(ro);
	pgsql_free(late);
	/* the switch goes on: the reverse slot, then after RESUME the reverse
	 * stream, which lets the fence end its sessions first */
	assert_int_equal(E.eng->sw->prepare_reverse(h, DB_FORWARD, time_mono_ms() + 5000, &err), 0);
	assert_int_equal(E.eng->sw->start_reverse(h, DB_FORWARD, &err), 0);
	assert_int_equal(app_sessions(), 0);
	assert_int_not_equal(pgsql_wait(E.sess[1], time_mono_ms() + 10000, &r, &err), 0);
	pgsql_result_release(&r);
	assert_int_equal(val(E.old_ci, "SELECT count(*) FROM t"), 0);
	assert_true(fenced());
}

static void test_undo_leaves_sessions_writable(void **state)
{
	struct ferry_error err = { 0 };
	char st[6];
	void *h;

	(void)state;
	h = engine_prepared();
	sessions_open();
	assert_int_equal(E.eng->sw->fence(h, DB_OLD, time_mono_ms() + 5000, &err), 0);
	assert_int_equal(E.eng->sw->unfence(h, DB_OLD, time_mono_ms() + 5000, &err), 0);
	assert_false(fenced());
	assert_int_equal(app_sessions(), NSESS);
	assert_int_equal(app_insert(E.sess[0], 1, st), 0);
	assert_int_equal(app_insert(E.sess[NSESS - 1], 2, st), 0);
	assert_int_equal(val(E.old_ci, "SELECT count(*) FROM t"), 2);
	/* the fence's own session is idle again: no lock left on t */
	assert_int_equal(val(E.old_ci, "SELECT count(*) FROM pg_locks WHERE relation = "
	                               "'t'::regclass AND mode = 'ShareLock'"),
	                 0);
}

static void test_killed_ferry_fence_completes(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	sessions_open();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ferry_error err = { 0 };
		void *h = engine_prepared();
		if (E.eng->sw->fence(h, DB_OLD, time_mono_ms() + 5000, &err) < 0)
			_exit(3);
		/* the sessions still live when ferry dies */
		if (app_sessions() != NSESS)
			_exit(4);
		kill(getpid(), SIGKILL);
		_exit(5);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_true(wait_val("SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' AND "
	                     "datname = 'shop'",
	                     0));
	assert_true(fenced());
	assert_true(wait_val("SELECT count(*) FROM pg_locks WHERE relation = 't'::regclass", 0));
}

/* A session that begins while the ALTER waits (here on a lock the test
 * holds on pg_db_role_setting) reads the old default, writable: the DO,
 * sent at the same time as the ALTER, must take the time that tells the
 * sessions apart only once the ALTER has committed, or that session
 * outlives the fence.  The child holds the lock (from another database:
 * the catalog is shared, and the fence ends shop's sessions that hold a
 * transaction), opens that session once the ALTER waits, then lets the
 * lock go. */
static void test_session_begun_while_the_alter_waits_is_ended(void **state)
{
	struct ferry_error err = { 0 };
	int up[2], down[2], status;
	char ro[8] = "";
	pid_t pid;
	void *h;

	(void)state;
	h = engine_prepared();
	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(down), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct pgsql_conn *holder = NULL, *mid = NULL;
		char *v = NULL, c, ci[300];
		close(up[0]);
		close(down[1]);
		snprintf(ci, sizeof(ci), "%s dbname=postgres", E.old_ci);
		if (pgsql_connect(&holder, ci, E.pw, "holder", &err) < 0 ||
		    pgsql_exec(holder,
		               "BEGIN; LOCK TABLE pg_db_role_setting IN SHARE ROW EXCLUSIVE MODE",
		               0, NULL, time_mono_ms() + 5000, NULL, &err) < 0)
			_exit(3);
		if (write(up[1], "l", 1) != 1 ||
		    !wait_val("SELECT count(*) FROM pg_locks WHERE relation = "
		              "'pg_db_role_setting'::regclass AND NOT granted",
		              1))
			_exit(4);
		if (pgsql_connect(&mid, E.app_ci, NULL, "mid", &err) < 0 ||
		    pgsql_exec(mid, "SET application_name = 'mid'", 0, NULL, time_mono_ms() + 5000,
		               NULL, &err) < 0 ||
		    pgsql_query_value(mid, "SHOW default_transaction_read_only", 0, NULL,
		                      time_mono_ms() + 5000, &v, &err) < 0)
			_exit(5);
		if (write(up[1], v ? v : "?", v ? strlen(v) : 1) < 0 ||
		    pgsql_exec(holder, "COMMIT", 0, NULL, time_mono_ms() + 5000, NULL, &err) < 0)
			_exit(6);
		/* the session stays open until the test has looked */
		if (read(down[0], &c, 1) < 0)
			_exit(7);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	assert_int_equal(read(up[0], ro, 1), 1);
	assert_int_equal(E.eng->sw->fence(h, DB_OLD, time_mono_ms() + 5000, &err), 0);
	if (read(up[0], ro, sizeof(ro) - 1) <= 0) {
		waitpid(pid, &status, 0);
		fail_msg("the child: status %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	/* the window was real: it began writable */
	assert_string_equal(ro, "off");
	assert_true(fenced());
	assert_int_equal(val(E.old_ci, "SELECT count(*) FROM pg_stat_activity WHERE "
	                               "application_name = 'mid'"),
	                 1);
	assert_int_equal(E.eng->sw->prepare_reverse(h, DB_FORWARD, time_mono_ms() + 5000, &err), 0);
	assert_int_equal(E.eng->sw->start_reverse(h, DB_FORWARD, &err), 0);
	assert_int_equal(val(E.old_ci, "SELECT count(*) FROM pg_stat_activity WHERE "
	                               "application_name = 'mid'"),
	                 0);
	close(down[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(up[0]);
}

/* The lock taken elsewhere: the fence that ends every session inside
 * the pause, as before */
static void test_lock_held_elsewhere_ends_sessions_in_the_pause(void **state)
{
	struct ferry_error err = { 0 };
	struct pgsql_conn *holder = NULL;
	void *h;

	(void)state;
	if (pgsql_connect(&holder, E.old_ci, E.pw, "holder", &err) < 0 ||
	    pgsql_exec(holder, "SELECT pg_advisory_lock(hashtext('ferry-fence'))", 0, NULL,
	               time_mono_ms() + 5000, NULL, &err) < 0)
		fail_msg("holder: %s", err.msg);
	h = engine_prepared();
	sessions_open();
	assert_int_equal(E.eng->sw->fence(h, DB_OLD, time_mono_ms() + 5000, &err), 0);
	assert_true(fenced());
	assert_true(wait_val("SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' AND "
	                     "datname = 'shop'",
	                     0));
	/* no table lock: nothing waits on a DO */
	assert_int_equal(val(E.old_ci, "SELECT count(*) FROM pg_locks WHERE relation = "
	                               "'t'::regclass"),
	                 0);
	pgsql_free(holder);
}

int main(void)
{
	struct buf b;
	char *path;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_idle_sessions_live_until_resume, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_undo_leaves_sessions_writable, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_killed_ferry_fence_completes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_held_elsewhere_ends_sessions_in_the_pause,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_begun_while_the_alter_waits_is_ended,
		                                setup, teardown),
	};

	E.dir = getenv("FERRY_PGTEST_DIR");
	if (!E.dir) {
		fprintf(stderr, "run through run_pgfence.sh\n");
		return 1;
	}
	path = xasprintf("%s/ferry.pw", E.dir);
	buf_init(&b, 4096);
	if (buf_read_file(&b, path) < 0)
		return 1;
	free(path);
	while (b.len && b.data[b.len - 1] == '\n')
		b.data[--b.len] = '\0';
	E.pw = xstrdup(b.data);
	buf_release_secret(&b);
	snprintf(E.old_ci, sizeof(E.old_ci), "host=127.0.0.1 port=%d dbname=shop user=ferry",
	         envint("PG_OLD_PORT", 16700));
	snprintf(E.new_ci, sizeof(E.new_ci), "host=127.0.0.1 port=%d dbname=shop user=ferry",
	         envint("PG_NEW_PORT", 16701));
	snprintf(E.app_ci, sizeof(E.app_ci), "host=127.0.0.1 port=%d dbname=shop user=app",
	         envint("PG_OLD_PORT", 16700));
	E.cfg.name = "main";
	E.cfg.old_conninfo = E.old_ci;
	E.cfg.new_conninfo = E.new_ci;
	E.cfg.old_password = E.pw;
	E.cfg.new_password = E.pw;
	E.eng = db_engine_find("postgresql");
	setvbuf(stdout, NULL, _IONBF, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
