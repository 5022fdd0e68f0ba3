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
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/orchestrator.h"
#include "db/db.h"
#include "db/mariadb.h"
#include "db/mariadb_conn.h"
#include "traffic/haproxy_api.h"
#include "util/buf.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

extern char **environ;

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
	enum db_direction dir; /* the next switch */
	int passed, failed;
	char why[1024];
} M;

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "matrix: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

__attribute__((format(printf, 1, 2))) static void bad(const char *fmt, ...)
{
	va_list ap;

	if (M.why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(M.why, sizeof(M.why), fmt, ap);
	va_end(ap);
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static int envint(const char *name, int def)
{
	const char *v = getenv(name);
	return v ? (int)strtol(v, NULL, 10) : def;
}

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
		bad("%s (%.200s)", err.msg, q);
		return -1;
	}
	n = v ? strtoll(v, NULL, 10) : -1;
	free(v);
	return n;
}

/* HAProxy i's server shop/db: the port it points at. */
static int balancer(int i)
{
	struct ferry_error err = { 0 };
	struct haproxy_api *a = NULL;
	const char *reply = NULL, *p;
	int port = -1;

	if (haproxy_api_open(M.api[i], NULL, &a, &err) < 0 ||
	    haproxy_api_run(a, "show servers state shop", &reply, &err) < 0) {
		bad("haproxy %d: %s", i, err.msg);
		haproxy_api_close(a);
		return -1;
	}
	/* "3 shop 1 db 127.0.0.1 2 0 1 1 ... - PORT ...": srv_port is column 19 */
	for (p = reply; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		char line[1024], *tok, *save = NULL;
		int col = 0;
		snprintf(line, sizeof(line), "%.*s", (int)strcspn(p, "\n"), p);
		if (line[0] == '#' || !strchr(line, ' '))
			continue;
		for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save), col++)
			if (col == 18)
				port = (int)strtol(tok, NULL, 10);
	}
	haproxy_api_close(a);
	return port;
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
				sleep_ms(5);
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
		sleep_ms(10);
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

static const struct orch_opts opts = { .block_signals = true };

static void setup(const char *dir)
{
	struct endpoints_db *d = &M.d;
	struct buf b;
	int i;

	M.dir = DB_FORWARD;
	M.srv = xstrdup(dir);
	{
		char *path = xasprintf("%s/ferry.pw", dir);
		buf_init(&b, 4096);
		if (buf_read_file(&b, path) < 0)
			die("cannot read %s", path);
		free(path);
	}
	while (b.len && b.data[b.len - 1] == '\n')
		b.data[--b.len] = '\0';
	M.pw = xstrdup(b.data);
	buf_release_secret(&b);
	M.port[DB_OLD] = envint("MDB_OLD_PORT", 16031);
	M.port[DB_NEW] = envint("MDB_NEW_PORT", 16032);
	M.fe[0] = envint("HAP_OLD_FE", 16040), M.api_port[0] = envint("HAP_OLD_API", 16041);
	M.fe[1] = envint("HAP_NEW_FE", 16042), M.api_port[1] = envint("HAP_NEW_API", 16043);
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
		die("open: %s", err.msg);
}

/* Waits until the stream that feeds the next switch runs and is caught
 * up. */
static int wait_ready(int64_t ms)
{
	int64_t until = time_mono_ms() + ms;

	for (;;) {
		struct ferry_error err = { 0 };
		struct db_lag lag;
		if (M.d.eng->lag(M.d.h, M.dir, &lag, &err) == 0 && lag.worker_running &&
		    lag.events == 0 && lag.apply_errors == 0)
			return 0;
		if (time_mono_ms() > until) {
			bad("the stream for the next switch does not catch up (%s%s)", err.msg,
			    lag.detail);
			return -1;
		}
		sleep_ms(20);
	}
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
		die("seed: %s", err.msg);
	engine_open();
	if (M.d.eng->replicate_start(M.d.h, &err) < 0)
		die("replicate: %s", err.msg);
	until = time_mono_ms() + 120000;
	for (;;) {
		struct db_progress p = { 0 };
		if (M.d.eng->progress(M.d.h, &p, &err) < 0)
			die("progress: %s", err.msg);
		if (p.n && p.ready == p.n) {
			db_progress_release(&p);
			break;
		}
		db_progress_release(&p);
		if (time_mono_ms() > until)
			die("the copy did not finish");
		sleep_ms(50);
	}
	if (wait_ready(60000) < 0)
		die("%s", M.why);
	for (k = 0; k < NLOAD; k++) {
		struct mload *l = &M.load[k];
		l->id = k;
		l->ci = M.app[k];
		pthread_mutex_init(&l->mu, NULL);
		pthread_create(&l->th, NULL, load_run, l);
	}
	for (k = 0; k < NLOAD; k++) {
		until = time_mono_ms() + 30000;
		while (load_count(&M.load[k]) < 20) {
			if (time_mono_ms() > until)
				die("writer %d does not write: %s", k, M.load[k].last_error);
			sleep_ms(10);
		}
	}
}

static void writers_alive(void)
{
	size_t before[NLOAD];
	int k;

	for (k = 0; k < NLOAD; k++)
		before[k] = load_count(&M.load[k]);
	for (k = 0; k < NLOAD; k++) {
		int64_t until = time_mono_ms() + 10000;
		while (load_count(&M.load[k]) < before[k] + 5) {
			if (time_mono_ms() > until) {
				bad("writer %d stopped writing: %s", k, M.load[k].last_error);
				break;
			}
			sleep_ms(10);
		}
	}
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
			bad("after-switch steps: %s", err.msg);
	}
}

/* ---- the invariants ---------------------------------------------------------- */

/* How many of writer k's acknowledged writes side w lacks. */
static int64_t missing(int k, int w)
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
			bad("a write through frontend %d fails: %s", k, err.msg);
			return;
		}
		sleep_ms(20);
	}
	free(v);
	if (val(M.ci[w], "SELECT COUNT(*) FROM shop.orders WHERE ledger = %lld", (long long)key) !=
	    1)
		bad("a write through frontend %d did not land on %s", k, db_side_name(w));
}

static void check_world(enum db_side w)
{
	int i, k;

	for (i = 0; i < 2; i++) {
		int port = balancer(i);
		if (port != M.port[w])
			bad("haproxy %d points at %d, not at %s", i, port, db_side_name(w));
	}
	if (val(M.ci[w], "SELECT @@GLOBAL.read_only") != 0)
		bad("the writer %s is read_only", db_side_name(w));
	if (val(M.ci[1 - w], "SELECT @@GLOBAL.read_only") != 1)
		bad("%s is writable although %s writes", db_side_name(1 - w), db_side_name(w));
	for (k = 0; k < NLOAD; k++)
		probe(k, w);
	for (k = 0; k < NLOAD; k++) {
		int64_t until = time_mono_ms() + 15000, miss;
		/* a write acknowledged on the other side just before the
		 * switch reaches the writer through replication */
		while ((miss = missing(k, w)) > 0 && time_mono_ms() < until)
			sleep_ms(50);
		if (miss)
			bad("writer %d: %lld acknowledged writes are not on %s", k, (long long)miss,
			    db_side_name(w));
	}
}

/* ---- the cases ----------------------------------------------------------------- */

struct mcase {
	const char *name;
	const char *fail_at;               /* FERRY_FAIL_AT, or NULL */
	const char *crash_at;              /* FERRY_CRASH_AT (in a child), or NULL */
	bool sigterm;                      /* SIGTERM inside the pause, in a child */
	const char *act_at;                /* the step where act runs (once), or NULL */
	void (*act)(void);                 /* inside the pause */
	void (*repair)(enum db_direction); /* an operator's, before the next run */
	int way; /* 1 + the direction it needs (a clean switch first if not), or 0 */
};

static const struct mcase *cur;
static bool acted;

static void act_hook(const char *name, void *ctx)
{
	(void)ctx;
	if (cur && cur->act && !acted && !strcmp(name, cur->act_at)) {
		acted = true;
		cur->act();
	}
}

static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The new server dies (kill -9 of mariadbd), and an operator starts it
 * again on its data directory. */
static void kill_new_server(void)
{
	sh("pid=$(cat %s/new.pid); kill -9 $pid; while kill -0 $pid 2>/dev/null; do sleep 0.01; "
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
	if (sh("cd %s && . ../../lib.sh && . ./servers.sh && mdb_run %s new %d 2%s",
	       getenv("MDB_SCRIPTS"), M.srv, M.port[DB_NEW],
	       dir == DB_REVERSE ? " --read-only=ON" : "") != 0)
		die("cannot start the new server again");
}

static void sigterm_hook(const char *name, void *ctx)
{
	(void)ctx;
	if (!strcmp(name, "db.fence") && !acted) {
		acted = true;
		kill(getpid(), SIGTERM);
	}
}

/* The child: a switch (SIGTERM at the fence, or FERRY_CRASH_AT from its
 * environment), then the steps after the resume. */
static int child_main(const char *dir, const char *dirname, bool sigterm)
{
	struct ferry_error err = { 0 };
	struct orch_result res;
	enum db_direction d = strcmp(dirname, "forward") ? DB_REVERSE : DB_FORWARD;

	setup(dir);
	engine_open();
	if (sigterm)
		fault_set_hook(sigterm_hook, NULL);
	if (orch_switch(M.dbs, 1, d, &opts, &res, &err) == 0)
		after_steps(d);
	fprintf(stderr, "matrix child: still alive after the switch (%s)\n", err.msg);
	return 3;
}

static int run_child(enum db_direction dir, const struct mcase *c)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *argv[] = { exe, (char *)(c->sigterm ? "--sigterm-child" : "--crash-child"), M.srv,
		         (char *)(dir == DB_FORWARD ? "forward" : "reverse"), NULL };
	pid_t pid;
	int st, rc;

	if (n <= 0)
		die("readlink");
	exe[n] = '\0';
	if (c->crash_at)
		setenv("FERRY_CRASH_AT", c->crash_at, 1);
	if (c->fail_at)
		setenv("FERRY_FAIL_AT", c->fail_at, 1);
	rc = posix_spawn(&pid, exe, NULL, NULL, argv, environ);
	unsetenv("FERRY_CRASH_AT");
	unsetenv("FERRY_FAIL_AT");
	if (rc != 0 || waitpid(pid, &st, 0) != pid)
		die("cannot run the child");
	return st;
}

/* Was the switch of a child killed at step done before it? */
static bool after_resume(const char *step)
{
	return strstr(step, "start_reverse") || strstr(step, "drop_forward");
}

static void run_case(const struct mcase *c)
{
	enum db_direction dir;
	struct ferry_error err = { 0 };
	struct orch_result res = { 0 };
	enum orch_outcome outcome;
	enum db_side writer;
	int64_t t0, t1, gap = 0;
	bool done_by_child = false;
	int k, rc;

	if (c->way && (int)M.dir != c->way - 1)
		run_case(&(struct mcase){ .name = "a clean switch (for the next case's way)" });
	dir = M.dir;
	M.why[0] = '\0';
	acted = false;
	fault_reset();
	t0 = time_mono_us();
	if (c->sigterm || c->crash_at) {
		int st = run_child(dir, c);
		int want = c->sigterm ? SIGTERM : SIGKILL;
		if (!WIFSIGNALED(st) || WTERMSIG(st) != want)
			bad("the child was not ended by signal %d (status %d)", want, st);
		if (c->crash_at && after_resume(c->crash_at)) {
			/* the switch was done: the next run retries what follows */
			res.outcome = ORCH_DONE;
			done_by_child = true;
		} else {
			/* the next run finds the switch step open: recovery */
			rc = orch_recover(M.dbs, 1, dir, &opts, &res, &err);
			if (rc < 0)
				bad("the next run's recovery failed: %s", err.msg);
			if (c->sigterm && res.outcome != ORCH_DONE)
				bad("SIGTERM inside the pause: the switch was not completed first");
		}
		outcome = res.outcome;
	} else {
		if (c->fail_at)
			setenv("FERRY_FAIL_AT", c->fail_at, 1);
		cur = c;
		fault_set_hook(act_hook, NULL);
		rc = orch_switch(M.dbs, 1, dir, &opts, &res, &err);
		fault_set_hook(NULL, NULL);
		cur = NULL;
		unsetenv("FERRY_FAIL_AT");
		outcome = res.outcome;
		if (outcome == ORCH_REFUSED && !c->fail_at)
			bad("refused: %s", err.msg);
	}
	t1 = time_mono_us();
	if (c->repair)
		c->repair(dir);
	if (outcome == ORCH_STUCK) {
		/* the next run recovers first */
		orch_result_release(&res);
		memset(&err, 0, sizeof(err));
		rc = orch_recover(M.dbs, 1, dir, &opts, &res, &err);
		if (rc < 0)
			bad("the next run's recovery failed: %s", err.msg);
		outcome = res.outcome;
	}
	if (outcome == ORCH_DONE) {
		after_steps(dir);
		M.dir = dir == DB_FORWARD ? DB_REVERSE : DB_FORWARD;
	}
	writer = db_from(M.dir);
	/* a killed run, or a dead server, holds the writers until the next
	 * run, or the operator: no bound on their gap */
	if (!c->crash_at && !c->sigterm && !c->act) {
		for (k = 0; k < NLOAD; k++) {
			int64_t g = load_max_gap(&M.load[k], t0 - 200000, t1 + 200000);
			if (g > gap)
				gap = g;
		}
		if (gap > (int64_t)(BUDGET_MS + 250) * 1000)
			bad("writers saw a pause of %.0f ms, over the budget + 250 ms",
			    gap / 1000.0);
	}
	/* the next run's first sample of the stream (it re-fences a replica
	 * a restart left writable), then the world */
	wait_ready(60000);
	check_world(writer);
	writers_alive();
	if (wait_ready(60000) == 0 && !M.why[0])
		M.passed++;
	else
		M.failed++;
	printf("%-4s %-56s %s -> %-7s %s is the writer; ferry %lld ms%s%s%s\n",
	       M.why[0] ? "FAIL" : "ok", c->name, dir == DB_FORWARD ? "forward" : "reverse",
	       outcome == ORCH_DONE      ? "done"
	       : outcome == ORCH_UNDONE  ? "undone"
	       : outcome == ORCH_REFUSED ? "refused"
	                                 : "stuck",
	       db_side_name(writer), (long long)res.pause_ms,
	       done_by_child ? " (by the killed run)" : "", M.why[0] ? ": " : "", M.why);
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
	static struct mcase cases[160];
	static char names[64][96];
	const char *dir;
	size_t n = 0, i, nn = 0;
	int round, k;

	if (argc == 4 && !strcmp(argv[1], "--sigterm-child"))
		return child_main(argv[2], argv[3], true);
	if (argc == 4 && !strcmp(argv[1], "--crash-child"))
		return child_main(argv[2], argv[3], false);
	dir = getenv("FERRY_MDBTEST_DIR");
	if (!dir) {
		fprintf(stderr, "run through run_switch.sh (FERRY_MDBTEST_DIR unset)\n");
		return 77;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	setup(dir);
	seed();
	/* every step in both directions: twice through the list (a case
	 * that completes turns the world around) */
	for (round = 0; round < 2; round++)
		for (i = 0; steps[i]; i++)
			cases[n++] = (struct mcase){ .name = steps[i], .fail_at = steps[i] };
	for (i = 0; undo_steps[i]; i++)
		cases[n++] = (struct mcase){ .name = undo_steps[i], .fail_at = undo_steps[i] };
	for (i = 0; recover_steps[i]; i++)
		cases[n++] =
		        (struct mcase){ .name = recover_steps[i], .fail_at = recover_steps[i] };
	for (round = 0; round < 2; round++)
		for (i = 0; crash_steps[i]; i++) {
			snprintf(names[nn], sizeof(names[nn]), "kill -9 at %s", crash_steps[i]);
			cases[n++] =
			        (struct mcase){ .name = names[nn++], .crash_at = crash_steps[i] };
		}
	cases[n++] = (struct mcase){ .name = "kill -9 in the undo (db.unfence_target failed)",
		                     .fail_at = "db.unfence_target",
		                     .crash_at = "db.undo.resume" };
	/* both ways: new is "to" in a cutover, "from" (the fenced writer)
	 * in a rollback */
	for (round = 0; round < 2; round++) {
		cases[n++] = (struct mcase){ .name = "new server killed inside the pause",
			                     .act_at = "db.wait_applied",
			                     .act = kill_new_server,
			                     .repair = start_new_server,
			                     .way = 1 + (round ? DB_REVERSE : DB_FORWARD) };
		cases[n++] = (struct mcase){ .name = "new server killed at the commit point",
			                     .act_at = "db.commit",
			                     .act = kill_new_server,
			                     .repair = start_new_server,
			                     .way = 1 + (round ? DB_REVERSE : DB_FORWARD) };
	}
	cases[n++] = (struct mcase){ .name = "SIGTERM inside the pause", .sigterm = true };
	cases[n++] = (struct mcase){ .name = "a clean switch" };
	cases[n++] = (struct mcase){ .name = "a clean switch back" };
	log_level_current = getenv("MATRIX_LOG") ? LOG_LEVEL_INFO : LOG_LEVEL_WARN;
	for (i = 0; i < n; i++)
		if (!getenv("MATRIX_ONLY") || strstr(cases[i].name, getenv("MATRIX_ONLY")))
			run_case(&cases[i]);
	for (k = 0; k < NLOAD; k++) {
		M.load[k].stop = 1;
		pthread_join(M.load[k].th, NULL);
	}
	printf("%d passed, %d failed (%d cases; writes acknowledged: %zu %zu; failed statements "
	       "%lld %lld, at most %lld on one connection)\n",
	       M.passed, M.failed, M.passed + M.failed, M.load[0].n, M.load[1].n,
	       (long long)M.load[0].errors, (long long)M.load[1].errors,
	       (long long)(M.load[0].worst > M.load[1].worst ? M.load[0].worst : M.load[1].worst));
	for (i = 0; i < M.d.nsw; i++)
		M.d.sw->close(M.d.swep[i]);
	M.d.eng->close(M.d.h);
	for (k = 0; k < NLOAD; k++) {
		free(M.load[k].keys);
		free(M.load[k].at);
	}
	xfree_secret(M.pw, 0);
	free(M.srv);
	return M.failed ? 1 : 0;
}
