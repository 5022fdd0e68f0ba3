/*
 * test_mariadb_switch.c - the MariaDB switch through the orchestrator and
 * HAProxy, and its fault matrix (issue 12; the PostgreSQL one is
 * tests/integration/switch): two real MariaDB 10.11 servers, new
 * replicating from old, two HAProxy TCP frontends (the old host's and the
 * new host's) in front of them, and two writers (one per frontend) that
 * reconnect on a dropped connection and keep a ledger of acknowledged
 * writes.
 *
 * Each case makes one thing go wrong during a switch, in whichever
 * direction the world is in (a switch that completes turns it around):
 *   - FERRY_FAIL_AT at every step of the forward and the reverse switch,
 *     per endpoint where a step fans out;
 *   - a failure, then one in each step of the undo that follows it;
 *   - a failure, one in the undo, and one in the recovery after it;
 *   - kill -9 (FERRY_CRASH_AT, in a child) before every step, then the
 *     next run's recovery (orch_recover, as `ferry run` does for an open
 *     switch step) or its retry of the steps after the resume;
 *   - the old server restarted while this process soaked (its engine
 *     handle kept, as a long ferry run keeps it): a switch, and one whose
 *     fence overruns against an application's table lock (undone, and
 *     old still the writable writer once the lock goes);
 *   - SIGTERM inside the pause (the child must die of it only after the
 *     pause, the switch complete);
 *   - the new server killed (kill -9 of mariadbd) inside the pause and at
 *     the commit point, then started again by an operator before the next
 *     run: writable when it was the target (read_only is not kept across a
 *     restart, and it starts its configured replica), with read_only=ON
 *     when it was the fenced writer (start_new_server);
 *   - a clean switch.
 * After each: exactly one writer (read_only off there, on at the other
 * side), both HAProxies pointing at it, a probe write through each
 * frontend lands on it, no acknowledged write is missing there, the
 * writers go on, the stream for the next switch runs and catches up; for
 * a case without a crash the longest gap between acknowledgements is
 * within the budget + 250 ms.
 *
 * Prints one line per case and "N passed, M failed".  run_switch.sh starts
 * the servers (ports 16031-16043).  MATRIX_ONLY=TEXT runs the cases whose
 * name holds TEXT.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/orchestrator.h"
#include "db/db.h"
#include "db/mariadb.h"
#include "db/mariadb_conn.h"
#include "matrix.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define BUDGET_MS 1000
#define NLOAD     2

/* A writer: one client through one frontend. */
struct mload {
	pthread_t th;
	const char *ci;
	int id;
	volatile int stop;
	pthread_mutex_t mu;
	int64_t *keys, *at; /* acknowledged ledger keys, and when (us) */
	size_t n, alloc;
	int64_t errors, conns, worst; /* failed statements; connections; most on one */
	char last_error[256];
};

static struct {
	char *srv, *pw;
	int port[2], fe[2], api_port[2];
	char ci[2][256], app[NLOAD][256], api[2][64];
	struct plan_database pd;
	struct endpoints_db d;
	struct endpoints_db *dbs[1];
	struct mload load[NLOAD];
	int64_t probe;
} M;

/* ---- SQL ------------------------------------------------------------------- */

static int query(const char *ci, const char *q, char **out, struct ferry_error *err)
{
	bool ferry = strstr(ci, "user=ferry") != NULL;
	struct mdb_conn *c = NULL;
	int rc;

	*out = NULL;
	rc = mdb_connect(&c, ci, ferry ? M.pw : NULL, "matrix", ferry ? MDB_NO_DB : 0,
	                 time_mono_ms() + 5000, err);
	if (rc == 0)
		rc = mdb_value(c, q, time_mono_ms() + 20000, out, err);
	mdb_free(c);
	return rc;
}

__attribute__((format(printf, 2, 3))) static int64_t val(const char *ci, const char *fmt, ...)
{
	struct ferry_error err = { 0 };
	char q[4096], *v = NULL;
	int64_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	if (query(ci, q, &v, &err) < 0) {
		matrix_bad("%s (%.200s)", err.msg, q);
		return -1;
	}
	n = v ? strtoll(v, NULL, 10) : -1;
	free(v);
	return n;
}

/* ---- the writers ----------------------------------------------------------- */

static void *load_run(void *arg)
{
	struct mload *l = arg;
	struct mdb_conn *c = NULL;
	struct ferry_error err;
	int64_t seq = 0, on_conn = 0;

	while (!l->stop) {
		int64_t key = (int64_t)(l->id + 1) * 1000000000LL + seq;
		char q[160];
		int rc;

		if (!mdb_ok(c)) {
			mdb_free(c);
			c = NULL;
			if (mdb_connect(&c, l->ci, NULL, "writer", 0, time_mono_ms() + 2000, &err) <
			    0) {
				mdb_free(c);
				c = NULL;
				matrix_msleep(5);
				continue;
			}
			pthread_mutex_lock(&l->mu);
			l->conns++;
			if (on_conn > l->worst)
				l->worst = on_conn;
			pthread_mutex_unlock(&l->mu);
			on_conn = 0;
		}
		snprintf(q, sizeof(q), "INSERT INTO orders (ledger, note) VALUES (%lld, 'w')",
		         (long long)key);
		rc = mdb_exec(c, q, time_mono_ms() + 5000, NULL, &err);
		if (rc == 0 || mdb_errno(c) == 1062) { /* 1062: it landed, the answer was lost */
			pthread_mutex_lock(&l->mu);
			XGROW(l->keys, l->alloc, l->n + 1);
			l->at = xrealloc(l->at, l->alloc * sizeof(*l->at));
			l->keys[l->n] = key;
			l->at[l->n++] = time_mono_us();
			pthread_mutex_unlock(&l->mu);
			seq++;
		} else {
			pthread_mutex_lock(&l->mu);
			l->errors++;
			snprintf(l->last_error, sizeof(l->last_error), "%s", err.msg);
			pthread_mutex_unlock(&l->mu);
			on_conn++;
			/* read_only or a broken session: reconnect, through the switch */
			mdb_free(c);
			c = NULL;
		}
		matrix_msleep(10);
	}
	mdb_free(c);
	if (on_conn > l->worst)
		l->worst = on_conn;
	return NULL;
}

static size_t load_count(struct mload *l)
{
	size_t n;

	pthread_mutex_lock(&l->mu);
	n = l->n;
	pthread_mutex_unlock(&l->mu);
	return n;
}

/* The longest time without an acknowledgement within [t0, t1] (us). */
static int64_t load_max_gap(struct mload *l, int64_t t0, int64_t t1)
{
	int64_t prev = t0, gap = 0;
	size_t i;

	pthread_mutex_lock(&l->mu);
	for (i = 0; i < l->n; i++) {
		if (l->at[i] < t0)
			continue;
		if (l->at[i] > t1)
			break;
		if (l->at[i] - prev > gap)
			gap = l->at[i] - prev;
		prev = l->at[i];
	}
	if (t1 - prev > gap)
		gap = t1 - prev;
	pthread_mutex_unlock(&l->mu);
	return gap;
}

/* ---- the world ---------------------------------------------------------------- */

static void setup(const char *dir)
{
	struct endpoints_db *d = &M.d;
	int i;

	matrix.dir = DB_FORWARD;
	M.srv = xstrdup(dir);
	M.pw = matrix_password(dir);
	M.port[DB_OLD] = matrix_envint("MDB_OLD_PORT", 16031);
	M.port[DB_NEW] = matrix_envint("MDB_NEW_PORT", 16032);
	M.fe[0] = matrix_envint("HAP_OLD_FE", 16040),
	M.api_port[0] = matrix_envint("HAP_OLD_API", 16041);
	M.fe[1] = matrix_envint("HAP_NEW_FE", 16042),
	M.api_port[1] = matrix_envint("HAP_NEW_API", 16043);
	for (i = 0; i < 2; i++) {
		snprintf(M.ci[i], sizeof(M.ci[i]), "host=127.0.0.1 port=%d dbname=shop user=ferry",
		         M.port[i]);
		snprintf(M.api[i], sizeof(M.api[i]), "127.0.0.1:%d", M.api_port[i]);
		snprintf(M.app[i], sizeof(M.app[i]), "host=127.0.0.1 port=%d dbname=shop user=app",
		         M.fe[i]);
	}
	M.pd.name = (char *)"shop";
	d->pd = &M.pd;
	d->eng = db_engine_find("mariadb");
	d->cfg.name = "shop";
	d->cfg.old_conninfo = M.ci[DB_OLD];
	d->cfg.new_conninfo = M.ci[DB_NEW];
	d->cfg.old_password = M.pw;
	d->cfg.new_password = M.pw;
	d->cfg.pause_budget_ms = BUDGET_MS;
	d->cfg.soak_ms = 60000;
	d->cfg.rollback_window_ms = 3600000;
	d->budget_ms = BUDGET_MS;
	d->nsw = 2;
	d->target[DB_OLD] = (struct sw_target){ "127.0.0.1", M.port[DB_OLD], "shop" };
	d->target[DB_NEW] = (struct sw_target){ "127.0.0.1", M.port[DB_NEW], "shop" };
	for (i = 0; i < 2; i++)
		d->swcfg[i] = (struct sw_config){ .name = i ? "haproxy new" : "haproxy old",
			                          .api = M.api[i],
			                          .backend = "shop",
			                          .server = "db" };
	d->sw = sw_driver_find("haproxy");
	M.dbs[0] = d;
}

static void engine_open(void)
{
	struct ferry_error err = { 0 };

	if (!M.d.h && M.d.eng->open(&M.d.cfg, &M.d.h, &err) < 0)
		matrix_die("open: %s", err.msg);
}

/* The stream that feeds the next switch runs and is caught up. */
static bool caught_up(const struct db_lag *lag)
{
	return lag->worker_running && lag->events == 0 && lag->apply_errors == 0;
}

static int wait_ready(int64_t ms)
{
	return matrix_wait_ready(M.dbs, 1, ms, caught_up);
}

static void seed(void)
{
	struct ferry_error err = { 0 };
	int64_t until;
	char *v = NULL;
	int k;

	if (query(M.ci[DB_OLD],
	          "CREATE TABLE shop.orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, ledger BIGINT "
	          "NOT NULL UNIQUE, note VARCHAR(32))",
	          &v, &err) < 0)
		matrix_die("seed: %s", err.msg);
	engine_open();
	if (M.d.eng->replicate_start(M.d.h, &err) < 0)
		matrix_die("replicate: %s", err.msg);
	until = time_mono_ms() + 120000;
	for (;;) {
		struct db_progress p = { 0 };
		if (M.d.eng->progress(M.d.h, &p, &err) < 0)
			matrix_die("progress: %s", err.msg);
		if (p.n && p.ready == p.n) {
			db_progress_release(&p);
			break;
		}
		db_progress_release(&p);
		if (time_mono_ms() > until)
			matrix_die("the copy did not finish");
		matrix_msleep(50);
	}
	if (wait_ready(60000) < 0)
		matrix_die("%s", matrix.why);
	for (k = 0; k < NLOAD; k++) {
		struct mload *l = &M.load[k];
		l->id = k;
		l->ci = M.app[k];
		pthread_mutex_init(&l->mu, NULL);
		pthread_create(&l->th, NULL, load_run, l);
	}
	matrix_writers_wait(20, 30000, true);
}

/* The steps after the resume, as every later run retries them. */
static void after_steps(enum db_direction dir)
{
	int tries;

	for (tries = 0; tries < 5; tries++) {
		struct ferry_error err = { 0 };
		struct orch_db_result r = { 0 };
		if (orch_start_reverse(&M.d, dir, NULL, &r, &err) == 0 &&
		    orch_drop_forward(&M.d, dir, &err) == 0)
			return;
		if (tries == 4)
			matrix_bad("after-switch steps: %s", err.msg);
	}
}

/* ---- the invariants ---------------------------------------------------------- */

/* How many of writer k's acknowledged writes side w lacks. */
static int64_t missing(int k, enum db_side w)
{
	struct mload *l = &M.load[k];
	int64_t n, have;

	pthread_mutex_lock(&l->mu);
	n = (int64_t)l->n;
	pthread_mutex_unlock(&l->mu);
	if (n == 0)
		return 0;
	/* the keys of one writer are consecutive: count them in range */
	have = val(M.ci[w], "SELECT COUNT(*) FROM shop.orders WHERE ledger BETWEEN %lld AND %lld",
	           (long long)l->keys[0], (long long)l->keys[n - 1]);
	return have < 0 ? 0 : n - have;
}

/* The writers, as the harness sees them. */
static size_t writer_count(int k)
{
	return load_count(&M.load[k]);
}

static const char *writer_error(int k)
{
	return M.load[k].last_error;
}

static int64_t writer_gap(int k, int64_t t0, int64_t t1)
{
	return load_max_gap(&M.load[k], t0, t1);
}

static void probe(int k, int w)
{
	int64_t until = time_mono_ms() + 10000, key = 9000000000000LL + ++M.probe;
	struct ferry_error err = { 0 };
	char q[256], *v = NULL;

	snprintf(q, sizeof(q), "INSERT INTO orders (ledger, note) VALUES (%lld, 'probe')",
	         (long long)key);
	while (query(M.app[k], q, &v, &err) < 0) {
		if (strstr(err.msg, "error 1062"))
			break;
		if (time_mono_ms() > until) {
			matrix_bad("a write through frontend %d fails: %s", k, err.msg);
			return;
		}
		matrix_msleep(20);
	}
	free(v);
	if (val(M.ci[w], "SELECT COUNT(*) FROM shop.orders WHERE ledger = %lld", (long long)key) !=
	    1)
		matrix_bad("a write through frontend %d did not land on %s", k, db_side_name(w));
}

static void check_world(enum db_side w)
{
	int i, k;

	for (i = 0; i < 2; i++) {
		int port = matrix_haproxy_port(M.api[i], "shop");
		if (port != M.port[w])
			matrix_bad("haproxy %d points at %d, not at %s", i, port, db_side_name(w));
	}
	if (val(M.ci[w], "SELECT @@GLOBAL.read_only") != 0)
		matrix_bad("the writer %s is read_only", db_side_name(w));
	if (val(M.ci[1 - w], "SELECT @@GLOBAL.read_only") != 1)
		matrix_bad("%s is writable although %s writes", db_side_name(1 - w),
		           db_side_name(w));
	for (k = 0; k < NLOAD; k++)
		probe(k, w);
	matrix_ledger_check(w);
}

/* ---- the cases ----------------------------------------------------------------- */

/* The new server dies (kill -9 of mariadbd), and an operator starts it
 * again on its data directory. */
static void kill_new_server(void)
{
	matrix_sh("pid=$(cat %s/new.pid); kill -9 $pid; while kill -0 $pid 2>/dev/null; do sleep "
	          "0.01; "
	          "done",
	          M.srv);
}

/* read_only is not kept across a restart: an operator starts a writer
 * that died fenced in a switch (new, in a rollback) with read_only=ON, as
 * the docs ask (else the applications, still pointed at it, write there
 * while the other side may be writable already: ferry then refuses to
 * guess); the target of a switch (new, in a cutover) as its configuration
 * says, writable: ferry fences it again. */
static void start_new_server(enum db_direction dir)
{
	if (matrix_sh("cd %s && . ../../lib.sh && . ./servers.sh && mdb_run %s new %d 2%s",
	              getenv("MDB_SCRIPTS"), M.srv, M.port[DB_NEW],
	              dir == DB_REVERSE ? " --read-only=ON" : "") != 0)
		matrix_die("cannot start the new server again");
}

/* ---- old restarted while a long run soaks ------------------------------------ */

/* The budget of the case whose fence meets a held lock: the server's lock
 * wait (lock_wait_timeout, whole seconds: 1) outlasts the fence's
 * deadline by 700 ms, so a fence statement nobody stopped would still land
 * after the undo. */
#define HELD_BUDGET_MS 300

static struct mdb_conn *held; /* an application's session on old holding a lock */

/* old restarts (a crash, an operator) while this process, which keeps its
 * engine handle as a long ferry run does, soaks: the handle's sessions to
 * old (q and ctl) are dead but look open.  The switch starts once new
 * replicates from old again, as the soak would wait for. */
static void restart_old(void)
{
	int64_t until = time_mono_ms() + 60000;

	if (matrix_sh("cd %s && . ../../lib.sh && . ./servers.sh && stop_pid \"$(cat %s/old.pid)\" "
	              "&& mdb_run %s old %d 1",
	              getenv("MDB_SCRIPTS"), M.srv, M.srv, M.port[DB_OLD]) != 0)
		matrix_die("cannot restart the old server");
	while (val(M.ci[DB_NEW],
	           "SELECT VARIABLE_VALUE = 'ON' FROM information_schema.GLOBAL_STATUS "
	           "WHERE VARIABLE_NAME = 'SLAVE_RUNNING'") != 1) {
		if (time_mono_ms() > until) {
			matrix_bad("new does not replicate from old again 60 s after its restart");
			return;
		}
		matrix_msleep(50);
	}
}

/* ... and then an application holds a table lock on old: the fence's SET
 * GLOBAL read_only waits for it past its deadline, and only a KILL QUERY
 * from the control session (dead since the restart unless the switch
 * checked it) keeps it from landing later. */
static void restart_old_lock_held(void)
{
	char ci[256], *v = NULL;
	struct ferry_error err = { 0 };

	restart_old();
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d dbname=shop user=app", M.port[DB_OLD]);
	if (query(M.ci[DB_OLD], "CREATE TABLE IF NOT EXISTS shop.held (id INT PRIMARY KEY)", &v,
	          &err) < 0 ||
	    mdb_connect(&held, ci, NULL, "held", 0, time_mono_ms() + 5000, &err) < 0 ||
	    mdb_exec(held, "LOCK TABLES held WRITE", time_mono_ms() + 5000, NULL, &err) < 0)
		matrix_die("cannot hold a lock on old: %s", err.msg);
	free(v);
}

/* The switch ended (undone: its fence overran): the application lets the
 * lock go, and the fence's statement, unless it was stopped, takes effect
 * now; the case's checks then see old read_only. */
static void release_lock(enum db_direction dir)
{
	int64_t until = time_mono_ms() + 10000;

	(void)dir;
	mdb_free(held);
	held = NULL;
	while (val(M.ci[DB_OLD],
	           "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO "
	           "LIKE '%%SET GLOBAL read_only%%' AND ID <> CONNECTION_ID()") != 0) {
		if (time_mono_ms() > until) {
			matrix_bad(
			        "the fence's statement still runs on old 10 s after the lock went");
			return;
		}
		matrix_msleep(20);
	}
}

/* The child: a switch (SIGTERM at the fence, or FERRY_CRASH_AT from its
 * environment), then the steps after the resume. */
static void child(const char *dir, enum db_direction d, struct ferry_error *err)
{
	struct orch_result res;

	setup(dir);
	engine_open();
	if (orch_switch(M.dbs, 1, d, &matrix_opts, &res, err) == 0)
		after_steps(d);
}

static void run_case(const struct matrix_case *c)
{
	enum db_direction dir = matrix.dir;
	struct ferry_error err = { 0 };
	struct orch_result res = { 0 };
	enum orch_outcome outcome;
	int64_t t0, t1, gap;
	bool done_by_child = false;
	int rc;

	matrix_case_begin(c);
	t0 = time_mono_us();
	if (c->sigterm || c->crash_at) {
		matrix_child_run(M.srv, c, dir);
		if (c->crash_at && matrix_after_resume(c->crash_at)) {
			/* the switch was done: the next run retries what follows */
			res.outcome = ORCH_DONE;
			done_by_child = true;
		} else {
			/* the next run finds the switch step open: recovery */
			rc = orch_recover(M.dbs, 1, dir, &matrix_opts, &res, &err);
			if (rc < 0)
				matrix_bad("the next run's recovery failed: %s", err.msg);
			if (c->sigterm && res.outcome != ORCH_DONE)
				matrix_bad("SIGTERM inside the pause: the switch was not completed "
				           "first");
		}
		outcome = res.outcome;
	} else {
		M.d.budget_ms = c->act == restart_old_lock_held ? HELD_BUDGET_MS : BUDGET_MS;
		matrix_arm(c);
		rc = orch_switch(M.dbs, 1, dir, &matrix_opts, &res, &err);
		matrix_disarm();
		outcome = res.outcome;
		if (outcome == ORCH_REFUSED && !c->fail_at)
			matrix_bad("refused: %s", err.msg);
		else if (c->act == restart_old_lock_held && outcome != ORCH_UNDONE)
			matrix_bad("the fence did not overrun against the held lock: %s",
			           outcome == ORCH_DONE ? "done" : err.msg);
	}
	t1 = time_mono_us();
	if (c->repair)
		c->repair(dir);
	if (outcome == ORCH_STUCK) {
		/* the next run recovers first */
		orch_result_release(&res);
		memset(&err, 0, sizeof(err));
		rc = orch_recover(M.dbs, 1, dir, &matrix_opts, &res, &err);
		if (rc < 0)
			matrix_bad("the next run's recovery failed: %s", err.msg);
		outcome = res.outcome;
	}
	if (outcome == ORCH_DONE) {
		after_steps(dir);
		matrix.dir = dir == DB_FORWARD ? DB_REVERSE : DB_FORWARD;
	}
	/* a killed run, or a dead server, holds the writers until the next
	 * run, or the operator: no bound on their gap */
	gap = matrix_gap(t0, t1, 0,
	                 !c->crash_at && !c->sigterm && !c->act ? MATRIX_PAUSE_LIMIT_MS(BUDGET_MS)
	                                                        : 0);
	/* the next run's first sample of the stream (it re-fences a replica
	 * a restart left writable), then the world */
	wait_ready(60000);
	check_world(db_from(matrix.dir));
	matrix_writers_alive();
	matrix_case_end(c, dir, outcome, res.pause_ms, gap, wait_ready(60000) == 0,
	                done_by_child ? "by the killed run" : NULL);
	if (!c->fail_at && !c->crash_at && !c->sigterm)
		printf("     steps: %s\n", res.timings);
	orch_result_release(&res);
}

/* Every step of a switch through two HAProxies (no pausing endpoint:
 * pause, point, confirm and resume send nothing; commit:3 and :4 are the
 * show that confirms each POINT). */
static const char *const steps[] = {
	"db.preflight",
	"db.prepare",
	"db.stage:1",
	"db.stage:2",
	"db.fence",
	"db.position",
	"db.wait_applied",
	"db.finalize",
	"db.stop_forward",
	"db.prepare_reverse",
	"db.unfence_target",
	"db.commit:1",
	"db.commit:2",
	"db.commit:3",
	"db.start_reverse",
	"db.drop_forward",
	NULL,
};

/* A failure at the last step inside the pause, then one in each step of
 * the undo that follows it. */
static const char *const undo_steps[] = {
	"db.unfence_target,db.undo.fence_target",    "db.unfence_target,db.undo.drop_reverse",
	"db.unfence_target,db.undo.restart_forward", "db.unfence_target,db.undo.unfence",
	"db.stop_forward,db.undo.restart_forward",   NULL,
};

/* ... and then one in the recovery that follows a failed undo. */
static const char *const recover_steps[] = {
	"db.unfence_target,db.undo.unfence,db.recover.inspect",
	"db.unfence_target,db.undo.unfence,db.recover.point:1",
	"db.unfence_target,db.undo.restart_forward,db.recover.unfence",
	"db.position,db.undo.unfence,db.recover.fence",
	"db.prepare_reverse,db.undo.unfence,db.recover.prepare_reverse",
	NULL,
};

/* kill -9 before each step (the orchestrator's step names; start_reverse
 * and drop_forward are after the resume) */
static const char *const crash_steps[] = {
	"db.preflight",
	"db.prepare",
	"db.pause",
	"db.fence",
	"db.position",
	"db.wait_applied",
	"db.finalize",
	"db.stop_forward",
	"db.prepare_reverse",
	"db.unfence_target",
	"db.point",
	"db.confirm",
	"db.commit",
	"db.resume",
	"db.start_reverse",
	"db.drop_forward",
	NULL,
};

int main(int argc, char **argv)
{
	static struct matrix_table t;
	const char *dir;
	int round, k;
	size_t i;

	if ((k = matrix_child_main(argc, argv, child)) >= 0)
		return k;
	dir = getenv("FERRY_MDBTEST_DIR");
	if (!dir) {
		fprintf(stderr, "run through run_switch.sh (FERRY_MDBTEST_DIR unset)\n");
		return 77;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	setup(dir);
	matrix.load = (struct matrix_load){ .n = NLOAD,
		                            .count = writer_count,
		                            .last_error = writer_error,
		                            .gap_us = writer_gap,
		                            .missing = missing };
	seed();
	/* every step in both directions: twice through the list (a case
	 * that completes turns the world around) */
	matrix_table_steps(&t, steps, false, 2, false);
	matrix_table_steps(&t, undo_steps, false, 1, false);
	matrix_table_steps(&t, recover_steps, false, 1, false);
	matrix_table_steps(&t, crash_steps, true, 2, false);
	matrix_table_add(
	        &t, (struct matrix_case){ .name = "kill -9 in the undo (db.unfence_target failed)",
	                                  .fail_at = "db.unfence_target",
	                                  .crash_at = "db.undo.resume" });
	/* both ways: new is "to" in a cutover, "from" (the fenced writer)
	 * in a rollback */
	for (round = 0; round < 2; round++) {
		matrix_table_add(&t,
		                 (struct matrix_case){ .name = "new server killed inside the pause",
		                                       .act_at = "db.wait_applied",
		                                       .act = kill_new_server,
		                                       .repair = start_new_server,
		                                       .face = 1 + round });
		matrix_table_add(
		        &t, (struct matrix_case){ .name = "new server killed at the commit point",
		                                  .act_at = "db.commit",
		                                  .act = kill_new_server,
		                                  .repair = start_new_server,
		                                  .face = 1 + round });
	}
	/* old restarted while this process soaked, with the same engine
	 * handle: a switch, then one whose fence overruns (undone) */
	matrix_table_add(&t, (struct matrix_case){ .name = "old restarted before the switch",
	                                           .act_at = "db.preflight",
	                                           .act = restart_old,
	                                           .face = 1 });
	matrix_table_add(&t,
	                 (struct matrix_case){ .name = "old restarted, its fence meets a held lock",
	                                       .act_at = "db.preflight",
	                                       .act = restart_old_lock_held,
	                                       .repair = release_lock,
	                                       .face = 1 });
	matrix_table_add(
	        &t, (struct matrix_case){ .name = "SIGTERM inside the pause", .sigterm = true });
	matrix_table_add(&t, (struct matrix_case){ .name = "a clean switch" });
	matrix_table_add(&t, (struct matrix_case){ .name = "a clean switch back" });
	log_level_current = getenv("MATRIX_LOG") ? LOG_LEVEL_INFO : LOG_LEVEL_WARN;
	matrix_walk(&t, run_case);
	for (k = 0; k < NLOAD; k++) {
		M.load[k].stop = 1;
		pthread_join(M.load[k].th, NULL);
	}
	k = matrix_summary(
	        "%d cases; writes acknowledged: %zu %zu; failed statements %lld %lld, "
	        "at most %lld on one connection",
	        matrix.passed + matrix.failed, M.load[0].n, M.load[1].n,
	        (long long)M.load[0].errors, (long long)M.load[1].errors,
	        (long long)(M.load[0].worst > M.load[1].worst ? M.load[0].worst : M.load[1].worst));
	for (i = 0; i < M.d.nsw; i++)
		M.d.sw->close(M.d.swep[i]);
	M.d.eng->close(M.d.h);
	for (i = 0; i < NLOAD; i++) {
		free(M.load[i].keys);
		free(M.load[i].at);
	}
	xfree_secret(M.pw, 0);
	free(M.srv);
	return k;
}
