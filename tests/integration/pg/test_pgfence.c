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
 *     after RESUME: the time that tells the sessions apart is read after
 *     the ALTER's commit.
 * Without the staged fence (every session ended inside the pause) the
 * first two fail.
 * Then the paths where the staged fence fails, made to fail for real:
 *   - its DO refused before the position (a table created after prepare
 *     that ferry's role, without SUPERUSER, may not lock): the fence that
 *     ends every session, with a position, and the log says why;
 *   - after RESUME a session begun before the fence cannot be ended
 *     (SIGSTOP): start_reverse times out, the DO keeps its lock, the next
 *     call completes it;
 *   - the DO cancelled by someone else after the pause: start_reverse
 *     ends every session itself; inside the pause: the last engine step
 *     before the resume refuses, and the undo leaves the sessions
 *     writable;
 *   - an undo after the fence's backend was ended by someone else, or
 *     after fence() ran out of time on a prepared writer's lock (the fence
 *     connection closed, the DO still waiting): the fence removed, the
 *     sessions alive and writable, no DO left;
 *   - prepare does not arm it (more tables than a quarter of the lock
 *     table; a table ferry's role may not lock): the sessions end inside
 *     the pause, and prepare says why;
 *   - ferry killed while the DO waits for a prepared writer's lock (before
 *     its position): no session begun before the fence writes, and a new
 *     process fences again or undoes;
 *   - a role without SUPERUSER (only what ferry-check(1) lists) through
 *     the staged fence: another role's sessions live in the pause, cannot
 *     commit, and end after RESUME.
 * FERRY_PGFENCE_ONLY=PATTERN runs the cases whose name matches.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/db.h"
#include "db/pgsql.h"
#include "pgtest.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define NSESS 50

static struct {
	char app_ci[256];
	struct db_config cfg;
	const struct db_engine *eng;
	char lite_ci[256];
	struct pgsql_conn *sess[NSESS];
	void *h;       /* the engine, closed by teardown (a failed case's too) */
	pid_t stopped; /* a backend a case stopped (SIGSTOP): let go by teardown */
	int cap_fd, saved_fd;
} E;

/* the application's sessions on old (role app), as it opened them */
static int64_t app_sessions(void)
{
	return pgtest_val(PGT.old_ci,
	                  "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' AND "
	                  "datname = 'shop'");
}

static bool fenced(void)
{
	return pgtest_val(PGT.old_ci,
	                  "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON "
	                  "d.oid = s.setdatabase WHERE d.datname = 'shop' AND "
	                  "'default_transaction_read_only=on' = ANY (s.setconfig)") == 1;
}

/* waits (deadline 20 s) until q on old answers want */
static bool wait_val(const char *q, int64_t want)
{
	int64_t until = time_mono_ms() + 20000;

	while (time_mono_ms() < until) {
		if (pgtest_val_try(PGT.old_ci, q) == want)
			return true;
		usleep(10000);
	}
	return pgtest_val(PGT.old_ci, "%s", q) == want;
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
	pgtest_sql_rw(PGT.old_ci, "ALTER DATABASE shop RESET default_transaction_read_only");
	pgtest_sql_rw(PGT.new_ci, "ALTER DATABASE shop RESET default_transaction_read_only");
	pgtest_sql_rw(PGT.old_ci,
	              "DROP TABLE IF EXISTS t; CREATE TABLE t (id int PRIMARY KEY); GRANT ALL ON "
	              "t TO app");
	pgtest_sql_rw(PGT.new_ci, "DROP TABLE IF EXISTS t; CREATE TABLE t (id int PRIMARY KEY)");
	return 0;
}

static char *capture_end(void);

static int teardown(void **state)
{
	(void)state;
	if (E.cap_fd >= 0)
		free(capture_end());
	if (E.stopped > 0)
		kill(E.stopped, SIGCONT);
	E.stopped = 0;
	sessions_close();
	if (E.h)
		E.eng->close(E.h);
	E.h = NULL;
	E.cfg.old_conninfo = PGT.old_ci;
	E.cfg.old_password = PGT.pw;
	if (pgtest_val(PGT.old_ci,
	               "SELECT count(*) FROM pg_prepared_xacts WHERE gid = 'ferry_test_hold'") > 0)
		pgtest_sql_rw(PGT.old_ci, "ROLLBACK PREPARED 'ferry_test_hold'");
	pgtest_sql_rw(PGT.old_ci,
	              "ALTER DATABASE shop OWNER TO postgres; DROP TABLE IF EXISTS t2; DROP SCHEMA "
	              "IF EXISTS many CASCADE");
	pgtest_sql_rw(PGT.old_ci, "DROP SUBSCRIPTION IF EXISTS ferry_rev_sub");
	pgtest_sql_rw(PGT.new_ci,
	              "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots");
	pgtest_sql_rw(PGT.new_ci, "DROP PUBLICATION IF EXISTS ferry_rev_pub");
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
	assert_int_equal(E.eng->sw->fence_holds(h, DB_OLD, time_mono_ms() + 5000, &err), 0);
	assert_int_equal(E.eng->sw->start_reverse(h, DB_FORWARD, &err), 0);
	assert_int_equal(app_sessions(), 0);
	assert_int_not_equal(pgsql_wait(E.sess[1], time_mono_ms() + 10000, &r, &err), 0);
	pgsql_result_release(&r);
	assert_int_equal(pgtest_val(PGT.old_ci, "SELECT count(*) FROM t"), 0);
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
	assert_int_equal(pgtest_val(PGT.old_ci, "SELECT count(*) FROM t"), 2);
	/* the fence's own session is idle again: no lock left on t */
	assert_int_equal(pgtest_val(PGT.old_ci, "SELECT count(*) FROM pg_locks WHERE relation = "
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
 * holds on pg_db_role_setting) reads the old default, writable: the time
 * that tells the sessions apart (the DO ends those begun before it) must
 * be read once the ALTER has committed, or that session outlives the
 * fence (a DO sent with the ALTER that read its own time at once did).  The child holds the lock (from another database:
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
		snprintf(ci, sizeof(ci), "%s dbname=postgres", PGT.old_ci);
		if (pgsql_connect(&holder, ci, PGT.pw, "holder", &err) < 0 ||
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
	assert_int_equal(pgtest_val(PGT.old_ci, "SELECT count(*) FROM pg_stat_activity WHERE "
	                                        "application_name = 'mid'"),
	                 1);
	assert_int_equal(E.eng->sw->prepare_reverse(h, DB_FORWARD, time_mono_ms() + 5000, &err), 0);
	assert_int_equal(E.eng->sw->start_reverse(h, DB_FORWARD, &err), 0);
	assert_int_equal(pgtest_val(PGT.old_ci, "SELECT count(*) FROM pg_stat_activity WHERE "
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
	if (pgsql_connect(&holder, PGT.old_ci, PGT.pw, "holder", &err) < 0 ||
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
	assert_int_equal(pgtest_val(PGT.old_ci, "SELECT count(*) FROM pg_locks WHERE relation = "
	                                        "'t'::regclass"),
	                 0);
	pgsql_free(holder);
}

/* ---- the paths that fail (issue 16) ------------------------------------ */

/* ferry's log lines (stderr, at info level) from capture_start() to
 * capture_end(), which returns them (and shows them; teardown ends a
 * capture that a failed assertion left, so that its message shows) */
static void capture_start(void)
{
	char tmpl[] = "/tmp/ferry-pgfence-log.XXXXXX";

	E.cap_fd = mkstemp(tmpl);
	assert_true(E.cap_fd >= 0);
	unlink(tmpl);
	fflush(stderr);
	E.saved_fd = dup(2);
	assert_true(E.saved_fd >= 0 && dup2(E.cap_fd, 2) == 2);
	log_level_current = LOG_LEVEL_INFO;
}

static char *capture_end(void)
{
	struct buf b;
	char chunk[4096];
	ssize_t n;

	fflush(stderr);
	log_level_current = LOG_LEVEL_WARN;
	dup2(E.saved_fd, 2);
	close(E.saved_fd);
	buf_init(&b, 4096);
	lseek(E.cap_fd, 0, SEEK_SET);
	while ((n = read(E.cap_fd, chunk, sizeof(chunk))) > 0)
		buf_add(&b, chunk, (size_t)n);
	close(E.cap_fd);
	E.cap_fd = E.saved_fd = -1;
	buf_addch(&b, '\0');
	printf("%s", b.data);
	return buf_detach(&b, NULL);
}

/* ferry's role on old becomes lite: no SUPERUSER, only what
 * ferry-check(1) lists for a source without it (REPLICATION, ownership of
 * the tables and the database, pg_signal_backend, pg_read_all_stats);
 * pg_hba trusts it on loopback: no password */
static void lite_use(void)
{
	pgtest_sql_rw(PGT.old_ci,
	              "DO $$ BEGIN CREATE ROLE lite LOGIN REPLICATION; EXCEPTION WHEN "
	              "duplicate_object THEN NULL; END $$; GRANT pg_signal_backend, "
	              "pg_read_all_stats TO lite; ALTER DATABASE shop OWNER TO lite; ALTER TABLE t "
	              "OWNER TO lite; GRANT ALL ON t TO app");
	assert_int_equal(pgtest_val(PGT.old_ci,
	                            "SELECT count(*) FROM pg_roles WHERE rolname = 'lite' AND "
	                            "NOT rolsuper"),
	                 1);
	E.cfg.old_conninfo = E.lite_ci;
	E.cfg.old_password = NULL;
}

/* a prepared transaction holding a write lock on t: no session ends it,
 * and the fence's LOCK waits for it (teardown rolls it back) */
static void prepared_hold(void)
{
	pgtest_sql_rw(PGT.old_ci,
	              "BEGIN; INSERT INTO t VALUES (100); PREPARE TRANSACTION 'ferry_test_hold'");
}

/* the engine prepared, the application's sessions open, old fenced */
static void *staged_fence(void)
{
	struct ferry_error err = { 0 };
	void *h = engine_prepared();

	sessions_open();
	assert_int_equal(E.eng->sw->fence(h, DB_OLD, time_mono_ms() + 5000, &err), 0);
	return h;
}

/* the fence's DO: the backend that waits for ferry's advisory lock */
static int64_t do_waiting_pid(void)
{
	assert_true(wait_val("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT "
	                     "granted",
	                     1));
	return pgtest_val(PGT.old_ci,
	                  "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
}

static const char q_do_lock_waits[] = "SELECT count(*) FROM pg_locks WHERE relation = "
                                      "'t'::regclass AND mode = 'ShareLock' AND NOT granted";
static const char q_no_lock_on_t[] = "SELECT count(*) FROM pg_locks WHERE relation = "
                                     "'t'::regclass";
static const char q_app_sessions[] = "SELECT count(*) FROM pg_stat_activity WHERE usename = "
                                     "'app' AND datname = 'shop'";

/* the fence that ends every session in the pause: a position, the fence
 * on, every application session gone (a staged one keeps them until
 * start_reverse, past wait_val's deadline), no table lock left */
static void assert_fence_ended_every_session(void *h)
{
	struct ferry_error err = { 0 };
	char *pos = NULL;

	assert_int_equal(E.eng->sw->position(h, DB_FORWARD, time_mono_ms() + 5000, &pos, &err), 0);
	assert_non_null(pos);
	assert_non_null(strchr(pos, '/'));
	free(pos);
	assert_true(fenced());
	assert_true(wait_val(q_app_sessions, 0));
	assert_true(wait_val(q_no_lock_on_t, 0));
}

/* 2a. After RESUME a session begun before the fence cannot be ended
 * quickly (stopped: its SIGTERM waits): start_reverse's wait for the DO
 * runs out, the DO goes on (its table lock holds), and the next call
 * completes it once the session has ended. */
static char proc_state(pid_t pid)
{
	char path[64], st = '?';
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%*d (%*[^)]) %c", &st) != 1)
			st = '?';
		fclose(f);
	}
	return st;
}

static void test_release_timeout_next_call_completes(void **state)
{
	struct ferry_error err = { 0 };
	int64_t t0, until;
	void *h;
	int rc;

	(void)state;
	h = staged_fence();
	assert_int_equal(E.eng->sw->prepare_reverse(h, DB_FORWARD, time_mono_ms() + 5000, &err), 0);
	E.stopped = pgsql_backend_pid(E.sess[NSESS / 2]);
	assert_int_equal(kill(E.stopped, SIGSTOP), 0);
	until = time_mono_ms() + 5000;
	while (proc_state(E.stopped) != 'T' && time_mono_ms() < until)
		usleep(1000);
	assert_int_equal(proc_state(E.stopped), 'T');
	t0 = time_mono_ms();
	rc = E.eng->sw->start_reverse(h, DB_FORWARD, &err);
	printf("start_reverse with a stopped session: %d (%s) after %lld ms\n", rc, err.msg,
	       (long long)(time_mono_ms() - t0));
	assert_int_equal(rc, FERRY_ETIMEDOUT);
	/* the DO still runs: it holds its lock on t, no write commits */
	assert_int_equal(pgtest_val(PGT.old_ci, "SELECT count(*) FROM pg_locks WHERE relation = "
	                                        "'t'::regclass AND mode = 'ShareLock' AND granted"),
	                 1);
	assert_true(fenced());
	assert_int_equal(kill(E.stopped, SIGCONT), 0);
	E.stopped = 0;
	assert_int_equal(E.eng->sw->start_reverse(h, DB_FORWARD, &err), 0);
	assert_int_equal(app_sessions(), 0);
	assert_true(fenced());
	assert_true(wait_val(q_no_lock_on_t, 0));
	assert_int_equal(pgtest_val(PGT.old_ci, "SELECT count(*) FROM t"), 0);
}

/* 2b. The DO fails after the pause (cancelled by someone else while it
 * waits for ferry's lock): start_reverse ends every session itself. */
static void test_do_failed_after_position_ends_every_session(void **state)
{
	struct ferry_error err = { 0 };
	char q[96], *log;
	void *h;
	int rc;

	(void)state;
	h = staged_fence();
	assert_int_equal(app_sessions(), NSESS);
	assert_int_equal(E.eng->sw->prepare_reverse(h, DB_FORWARD, time_mono_ms() + 5000, &err), 0);
	snprintf(q, sizeof(q), "SELECT pg_cancel_backend(%lld)::int", (long long)do_waiting_pid());
	assert_int_equal(pgtest_val(PGT.old_ci, "%s", q), 1);
	assert_true(wait_val(q_no_lock_on_t, 0));
	capture_start();
	rc = E.eng->sw->start_reverse(h, DB_FORWARD, &err);
	log = capture_end();
	assert_int_equal(rc, 0);
	assert_non_null(strstr(log, "database main old: the fence's end failed ("));
	free(log);
	assert_true(fenced());
	assert_true(wait_val(q_app_sessions, 0));
}

/* 2c. The DO cancelled by someone else inside the pause: its table locks
 * are gone, so a session begun before the fence could write to old after
 * the position; fence_holds, the last look before the commit point,
 * refuses, and the undo leaves old the writer, its sessions alive and
 * writable. */
static void test_do_ended_in_the_pause_undoes(void **state)
{
	struct ferry_error err = { 0 };
	char q[96], st[6];
	void *h;

	(void)state;
	h = staged_fence();
	snprintf(q, sizeof(q), "SELECT pg_cancel_backend(%lld)::int", (long long)do_waiting_pid());
	assert_int_equal(pgtest_val(PGT.old_ci, "%s", q), 1);
	assert_true(wait_val(q_no_lock_on_t, 0));
	assert_int_equal(E.eng->sw->prepare_reverse(h, DB_FORWARD, time_mono_ms() + 5000, &err), 0);
	assert_int_equal(E.eng->sw->fence_holds(h, DB_OLD, time_mono_ms() + 5000, &err),
	                 FERRY_ESTATE);
	assert_non_null(strstr(err.msg, "the fence's DO ended inside the pause"));
	assert_int_equal(E.eng->sw->drop_reverse(h, DB_FORWARD, time_mono_ms() + 5000, &err), 0);
	assert_int_equal(E.eng->sw->unfence(h, DB_OLD, time_mono_ms() + 5000, &err), 0);
	assert_false(fenced());
	assert_int_equal(app_sessions(), NSESS);
	assert_int_equal(app_insert(E.sess[0], 1, st), 0);
	assert_int_equal(pgtest_val(PGT.old_ci, "SELECT count(*) FROM t"), 1);
}

/* 3a. An undo after the fence's backend was ended by someone else: the
 * fence is removed at once, the sessions live on, writable. */
static void test_undo_after_fence_backend_terminated(void **state)
{
	struct ferry_error err = { 0 };
	char q[96], st[6];
	int64_t t0;
	void *h;

	(void)state;
	h = staged_fence();
	snprintf(q, sizeof(q), "SELECT pg_terminate_backend(%lld)::int",
	         (long long)do_waiting_pid());
	assert_int_equal(pgtest_val(PGT.old_ci, "%s", q), 1);
	assert_true(wait_val("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT "
	                     "granted",
	                     0));
	t0 = time_mono_ms();
	assert_int_equal(E.eng->sw->unfence(h, DB_OLD, time_mono_ms() + 5000, &err), 0);
	printf("unfence: %lld ms\n", (long long)(time_mono_ms() - t0));
	assert_true(time_mono_ms() - t0 < 5000);
	assert_false(fenced());
	assert_int_equal(app_sessions(), NSESS);
	assert_int_equal(app_insert(E.sess[0], 1, st), 0);
	assert_int_equal(app_insert(E.sess[NSESS - 1], 2, st), 0);
	assert_int_equal(pgtest_val(PGT.old_ci, "SELECT count(*) FROM t"), 2);
	assert_int_equal(pgtest_val(PGT.old_ci, q_no_lock_on_t), 0);
}

/* 3b + 5. A prepared transaction holds a write lock on t: the DO's LOCK
 * waits, fence() runs out of its deadline (the fence connection closed,
 * the ALTER committed) and the switch is undone: unfence ends the DO that
 * still waits on the server, removes the fence, and the sessions live on,
 * writable once the transaction is gone. */
static void test_lock_wait_past_deadline_undone(void **state)
{
	struct ferry_error err = { 0 };
	char st[6];
	int64_t t0;
	void *h;
	int rc;

	(void)state;
	prepared_hold();
	h = engine_prepared();
	sessions_open();
	t0 = time_mono_ms();
	rc = E.eng->sw->fence(h, DB_OLD, time_mono_ms() + 1000, &err);
	printf("fence with a prepared writer: %d (%s) after %lld ms\n", rc, err.msg,
	       (long long)(time_mono_ms() - t0));
	assert_int_equal(rc, FERRY_ETIMEDOUT);
	assert_true(time_mono_ms() - t0 < 3000);
	assert_true(fenced());
	/* the DO still waits on the server */
	assert_int_equal(pgtest_val(PGT.old_ci, q_do_lock_waits), 1);
	t0 = time_mono_ms();
	assert_int_equal(E.eng->sw->unfence(h, DB_OLD, time_mono_ms() + 5000, &err), 0);
	assert_true(time_mono_ms() - t0 < 5000);
	assert_false(fenced());
	assert_int_equal(pgtest_val(PGT.old_ci, q_do_lock_waits), 0);
	assert_int_equal(app_sessions(), NSESS);
	pgtest_sql_rw(PGT.old_ci, "ROLLBACK PREPARED 'ferry_test_hold'");
	assert_int_equal(app_insert(E.sess[0], 1, st), 0);
	assert_int_equal(pgtest_val(PGT.old_ci, "SELECT count(*) FROM t"), 1);
	assert_int_equal(pgtest_val(PGT.old_ci, q_no_lock_on_t), 0);
}

/* 4a. More tables than a quarter of the lock table: prepare says so and
 * the fence ends every session inside the pause. */
static void test_arm_refused_too_many_tables(void **state)
{
	struct ferry_error err = { 0 };
	char q[256], *log;
	int64_t locks, have, n;
	void *h;

	(void)state;
	locks = pgtest_val(PGT.old_ci,
	                   "SELECT current_setting('max_locks_per_transaction')::bigint * "
	                   "(current_setting('max_connections')::bigint + "
	                   "current_setting('max_prepared_transactions')::bigint)");
	have = pgtest_val(PGT.old_ci, "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN "
	                              "('pg_catalog', 'information_schema')");
	n = locks / 4 + 1 - have;
	snprintf(q, sizeof(q),
	         "CREATE SCHEMA many; DO $$ BEGIN FOR i IN 1..%lld LOOP EXECUTE "
	         "format('CREATE TABLE many.t%%s (id int)', i); END LOOP; END $$",
	         (long long)n);
	pgtest_sql_rw(PGT.old_ci, "%s", q);
	capture_start();
	h = engine_prepared();
	log = capture_end();
	snprintf(q, sizeof(q),
	         "database main old: the fence will end every session inside the pause "
	         "(database main old: %lld tables for a lock table of %lld)",
	         (long long)(n + have), (long long)locks);
	assert_non_null(strstr(log, q));
	free(log);
	sessions_open();
	assert_int_equal(E.eng->sw->fence(h, DB_OLD, time_mono_ms() + 5000, &err), 0);
	assert_fence_ended_every_session(h);
}

/* A table that ferry's role (no SUPERUSER) may not lock: the fence ends
 * every session inside the pause, and says why.  *state false (4b): the
 * table is there at prepare, which does not arm the staged fence; true
 * (1): it is created after prepare armed it, the DO fails before it gives
 * the position, the ALTER is on and the fence that ends every session
 * finishes the job. */
static void test_table_not_lockable(void **state)
{
	struct ferry_error err = { 0 };
	bool after_arm = *(const bool *)*state;
	char *log;
	void *h;

	lite_use();
	if (!after_arm)
		pgtest_sql_rw(PGT.old_ci, "CREATE TABLE t2 (id int)");
	capture_start();
	h = engine_prepared();
	if (after_arm)
		pgtest_sql_rw(PGT.old_ci, "CREATE TABLE t2 (id int)");
	sessions_open();
	assert_int_equal(E.eng->sw->fence(h, DB_OLD, time_mono_ms() + 5000, &err), 0);
	log = capture_end();
	assert_non_null(strstr(log, after_arm ? "database main old: the staged fence failed ("
	                                      : "database main old: the fence will end every "
	                                        "session inside the pause (database main old: "
	                                        "ferry's role may not lock 1 tables)"));
	assert_true(!after_arm || strstr(log, "permission denied for table t2"));
	free(log);
	assert_fence_ended_every_session(h);
}

/* 5. ferry killed before the position: the DO waits on a prepared
 * writer's lock when ferry dies; once that is gone the DO runs on without
 * its client (client_connection_check_interval = 0) and no session begun
 * before the fence can write.  Then a new process sees the fence
 * (inspect) and fences again, or undoes: answers h, the new process's
 * engine. */
static void *killed_before_position(void)
{
	struct ferry_error err = { 0 };
	struct db_inspect in;
	char st[6];
	pid_t pid;
	int status, i;
	void *h;

	prepared_hold();
	sessions_open();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ferry_error e = { 0 };
		void *hc = engine_prepared();
		E.eng->sw->fence(hc, DB_OLD, time_mono_ms() + 60000, &e);
		_exit(3);
	}
	assert_true(wait_val(q_do_lock_waits, 1));
	assert_true(fenced());
	assert_int_equal(app_sessions(), NSESS);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	pgtest_sql_rw(PGT.old_ci, "ROLLBACK PREPARED 'ferry_test_hold'");
	/* the DO ends */
	assert_true(wait_val(q_no_lock_on_t, 0));
	assert_true(wait_val("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'", 0));
	printf("after the DO: %lld application sessions left\n", (long long)app_sessions());
	assert_true(fenced());
	/* no session begun before the fence writes (each ended, or
	 * read-only) */
	for (i = 0; i < NSESS; i++)
		assert_int_not_equal(app_insert(E.sess[i], 1000 + i, st), 0);
	assert_int_equal(pgtest_val(PGT.old_ci, "SELECT count(*) FROM t"), 0);
	/* the recovery: a new process */
	if (E.eng->open(&E.cfg, &h, &err) < 0)
		fail_msg("open: %s", err.msg);
	E.h = h;
	memset(&in, 0, sizeof(in));
	assert_int_equal(E.eng->sw->inspect(h, DB_FORWARD, &in, &err), 0);
	assert_true(in.fenced[DB_OLD]);
	return h;
}

/* an INSERT from a session of the application opened now (app_insert) */
static int late_insert(int id, char state[6])
{
	struct ferry_error err = { 0 };
	struct pgsql_conn *late = NULL;
	int rc;

	if (pgsql_connect(&late, E.app_ci, NULL, "late", &err) < 0)
		fail_msg("late session: %s", err.msg);
	rc = app_insert(late, id, state);
	pgsql_free(late);
	return rc;
}

/* *state: the recovery fences (false) or undoes (true) */
static void test_killed_before_position_recovery(void **state)
{
	struct ferry_error err = { 0 };
	bool undo = *(const bool *)*state;
	char st[6];
	void *h = killed_before_position();

	if (undo) {
		assert_int_equal(E.eng->sw->unfence(h, DB_OLD, time_mono_ms() + 5000, &err), 0);
		assert_false(fenced());
		assert_int_equal(late_insert(7, st), 0);
		assert_int_equal(pgtest_val(PGT.old_ci, "SELECT count(*) FROM t"), 1);
		assert_int_equal(pgtest_val(PGT.old_ci, q_no_lock_on_t), 0);
		return;
	}
	assert_int_equal(E.eng->sw->fence(h, DB_OLD, time_mono_ms() + 5000, &err), 0);
	assert_true(fenced());
	assert_true(wait_val(q_app_sessions, 0));
	assert_int_not_equal(late_insert(7, st), 0);
	assert_string_equal(st, "25006");
}

/* A role without SUPERUSER (lite) through the staged fence: the sessions
 * of another role without it stay alive in the pause, cannot commit a
 * write, and are ended after RESUME.  PostgreSQL 15 lets only a superuser
 * create the reverse subscription: the superuser made it beforehand, so
 * start_reverse completes the fence and finds it there. */
static void test_no_superuser_staged_fence(void **state)
{
	struct ferry_error err = { 0 };
	char st[6];
	void *h;

	(void)state;
	lite_use();
	pgtest_sql_rw(
	        PGT.old_ci,
	        "CREATE SUBSCRIPTION ferry_rev_sub CONNECTION 'host=127.0.0.1 port=1 "
	        "dbname=shop' PUBLICATION ferry_rev_pub WITH (connect = false, slot_name = NONE)");
	h = staged_fence();
	assert_true(fenced());
	assert_int_equal(app_sessions(), NSESS);
	assert_int_not_equal(app_insert(E.sess[0], 1, st), 0);
	assert_string_equal(st, "57014");
	assert_int_equal(pgtest_val(PGT.old_ci,
	                            "SELECT count(*) FROM pg_stat_activity a JOIN pg_locks l "
	                            "USING (pid) WHERE a.usename = 'lite' AND l.relation = "
	                            "'t'::regclass AND l.mode = 'ShareLock' AND l.granted"),
	                 1);
	assert_int_equal(E.eng->sw->start_reverse(h, DB_FORWARD, &err), 0);
	assert_int_equal(app_sessions(), 0);
	assert_true(fenced());
	assert_true(wait_val(q_no_lock_on_t, 0));
	assert_int_equal(pgtest_val(PGT.old_ci, "SELECT count(*) FROM t"), 0);
}

int main(void)
{
	static bool refence = false, undo = true, at_arm = false, after_arm = true;
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
		{ "test_do_refused_before_position_ends_every_session", test_table_not_lockable,
		  setup, teardown, &after_arm },
		cmocka_unit_test_setup_teardown(test_release_timeout_next_call_completes, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_do_failed_after_position_ends_every_session,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_do_ended_in_the_pause_undoes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_undo_after_fence_backend_terminated, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_lock_wait_past_deadline_undone, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_arm_refused_too_many_tables, setup, teardown),
		{ "test_arm_refused_no_privilege", test_table_not_lockable, setup, teardown,
		  &at_arm },
		{ "test_killed_before_position_recovery_fences",
		  test_killed_before_position_recovery, setup, teardown, &refence },
		{ "test_killed_before_position_recovery_undoes",
		  test_killed_before_position_recovery, setup, teardown, &undo },
		cmocka_unit_test_setup_teardown(test_no_superuser_staged_fence, setup, teardown),
	};

	E.cap_fd = E.saved_fd = -1;
	if (!getenv("FERRY_PGTEST_DIR")) {
		fprintf(stderr, "run through run_pgfence.sh\n");
		return 1;
	}
	if (pgtest_init(getenv("FERRY_PGTEST_DIR"), 16700, 16701) < 0)
		return 1;
	pgtest_ci(E.lite_ci, sizeof(E.lite_ci), PGT.old_port, "shop", "lite");
	pgtest_ci(E.app_ci, sizeof(E.app_ci), PGT.old_port, "shop", "app");
	pgtest_config(&E.cfg);
	E.eng = db_engine_find("postgresql");
	setvbuf(stdout, NULL, _IONBF, 0);
	/* FERRY_PGFENCE_ONLY: the cases whose name matches (cmocka's filter) */
	if (getenv("FERRY_PGFENCE_ONLY"))
		cmocka_set_test_filter(getenv("FERRY_PGFENCE_ONLY"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
