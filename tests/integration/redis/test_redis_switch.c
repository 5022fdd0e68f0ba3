/*
 * test_redis_switch.c - the Redis switch through the orchestrator and its
 * fault matrix (issue 13 on issue 11's switch): two real redis-server
 * processes over TLS (a test CA, client certificates, replication over
 * TLS), two HAProxy TCP backends in front of them (the old host's and the
 * new host's, the switch driver "haproxy"), and a write load through
 * each frontend with a ledger of acknowledged writes kept by the client (a
 * writer that reconnects on a dropped connection or a -READONLY).
 *
 * Each case makes one thing go wrong during a switch, in whichever
 * direction the world is in (a switch that completes turns it around):
 *   - FERRY_FAIL_AT at every step of the forward and the reverse switch
 *     (per endpoint where a step fans out);
 *   - a failure inside the pause and one in each step of the undo that
 *     follows, and one in the recovery after a failed undo; the budget
 *     overrun inside the pause;
 *   - kill -9 (FERRY_CRASH_AT, in a child process) before every step,
 *     followed by the next run's recovery (orch_recover, then the
 *     after-switch steps);
 *   - SIGTERM inside the pause (a child that must die of it only after
 *     the pause, the switch complete);
 *   - the new server killed inside the pause (undone; restarted, emptied
 *     and made a replica again as the replicate phase does);
 *   - a write forced on old after the pause (the way back becomes a full
 *     resync): start_reverse fails, and so does its retry by a fresh
 *     handle, naming the full resync.
 * After each: exactly one writer (a master; the other side its replica
 * with the link up), both HAProxies pointing at it, a probe write through
 * each frontend lands on it, no acknowledged write is missing there, and
 * the longest gap between acknowledgements is within the budget + 250 ms.
 * A switch that completes must say resync=partial.
 *
 * Prints one line per case and "N passed, M failed".  switch.sh starts the
 * servers (ports 16120-16125).
 */
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/orchestrator.h"
#include "db/db.h"
#include "db/redis.h"
#include "db/redis_conn.h"
#include "redisload.h"
#include "util/buf.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

extern char **environ;

#define BUDGET_MS 1000
#define NLOAD     2

static struct {
	char *srv, *pw;
	int port[2];      /* DB_OLD, DB_NEW */
	char url[2][512]; /* ferry's (and the checks') URL of each server */
	char fe[NLOAD][512];
	char api[2][64];
	struct plan_database pd;
	struct endpoints_db d;
	struct endpoints_db *dbs[1];
	struct redisload load[NLOAD];
	int64_t probe;
	enum db_direction dir; /* the next switch */
	int passed, failed;
	char why[1024]; /* the current case's first failure */
	char note[256]; /* what the case saw, for its line */
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

/* The first failure of a case, kept; the case goes on to the end. */
__attribute__((format(printf, 1, 2))) static void bad(const char *fmt, ...)
{
	va_list ap;

	if (M.why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(M.why, sizeof(M.why), fmt, ap);
	va_end(ap);
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- servers --------------------------------------------------------------- */

static struct redis_conn *client(const char *url)
{
	struct redis_endpoint ep;
	struct ferry_error err = { 0 };
	struct redis_conn *c = NULL;

	if (redis_endpoint_parse(url, &ep, &err) < 0)
		die("%s: %s", url, err.msg);
	if (redis_connect(&c, &ep, M.pw, "matrix", time_mono_ms() + 5000, &err) < 0)
		c = NULL;
	redis_endpoint_release(&ep);
	return c;
}

/* One command on a fresh connection to url; 0 or an error (err). */
static int cmd(const char *url, struct redis_reply *out, struct ferry_error *err, const char *a0,
               ...)
{
	const char *argv[8];
	struct redis_conn *c = client(url);
	va_list ap;
	int n = 0, rc;

	if (!c)
		return ferry_error_set(err, FERRY_EUNREACH, NULL, "%s: cannot connect", url);
	va_start(ap, a0);
	for (argv[n++] = a0; n < 8 && (argv[n] = va_arg(ap, const char *)); n++)
		;
	va_end(ap);
	rc = redis_cmdv(c, n, argv, NULL, time_mono_ms() + 10000, out, err);
	redis_conn_free(c);
	return rc;
}

static bool info_is(const char *url, const char *field, const char *want)
{
	struct ferry_error err = { 0 };
	struct redis_reply r;
	char v[64] = "";
	bool ok = false;

	if (cmd(url, &r, &err, "INFO", "replication", NULL) == 0) {
		ok = r.str && redis_info_str(r.str, field, v, sizeof(v)) && !strcmp(v, want);
		redis_reply_release(&r);
	}
	return ok;
}

/* ---- the world -------------------------------------------------------------- */

static const struct orch_opts opts = { .block_signals = true };

static void setup(const char *dir)
{
	struct endpoints_db *d = &M.d;
	struct buf b;
	int s;

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
	M.port[DB_OLD] = 16120;
	M.port[DB_NEW] = 16121;
	for (s = 0; s < 2; s++) {
		snprintf(M.url[s], sizeof(M.url[s]),
		         "rediss://ferry@127.0.0.1:%d?ca=%s/ca.crt&cert=%s/cli.crt&key=%s/cli.key",
		         M.port[s], dir, dir, dir);
		snprintf(M.fe[s], sizeof(M.fe[s]),
		         "rediss://ferry@127.0.0.1:%d?ca=%s/ca.crt&cert=%s/cli.crt&key=%s/cli.key",
		         16122 + 2 * s, dir, dir, dir);
		snprintf(M.api[s], sizeof(M.api[s]), "127.0.0.1:%d", 16123 + 2 * s);
	}
	M.pd.name = (char *)"cache";
	d->pd = &M.pd;
	d->eng = db_engine_find("redis");
	d->cfg.name = "cache";
	d->cfg.old_conninfo = M.url[DB_OLD];
	d->cfg.new_conninfo = M.url[DB_NEW];
	d->cfg.old_password = M.pw;
	d->cfg.new_password = M.pw;
	d->cfg.pause_budget_ms = BUDGET_MS;
	d->budget_ms = BUDGET_MS;
	d->nsw = 2;
	d->sw = sw_driver_find("haproxy");
	for (s = 0; s < 2; s++) {
		d->target[s] = (struct sw_target){ "127.0.0.1", M.port[s], NULL };
		d->swcfg[s] = (struct sw_config){ .name = s ? "haproxy new" : "haproxy old",
			                          .api = M.api[s],
			                          .backend = "cache",
			                          .server = "db" };
	}
	M.dbs[0] = d;
}

static void engine_open(void)
{
	struct ferry_error err = { 0 };

	if (!M.d.h && M.d.eng->open(&M.d.cfg, &M.d.h, &err) < 0)
		die("open: %s", err.msg);
}

/* The stream that feeds the next switch runs and is caught up. */
static int wait_ready(int64_t ms)
{
	int64_t until = time_mono_ms() + ms;

	for (;;) {
		struct ferry_error err = { 0 };
		struct db_lag lag;

		if (M.d.eng->lag(M.d.h, M.dir, &lag, &err) == 0 && lag.worker_running &&
		    lag.ms >= 0 && lag.ms < 500)
			return 0;
		if (time_mono_ms() > until) {
			bad("the stream for the next switch does not catch up (%s%s)", err.msg,
			    lag.detail);
			return -1;
		}
		msleep(20);
	}
}

static void seed(void)
{
	struct ferry_error err = { 0 };
	int k;

	engine_open();
	if (M.d.eng->replicate_start(M.d.h, &err) < 0)
		die("replicate: %s", err.msg);
	if (wait_ready(60000) < 0)
		die("%s", M.why);
	for (k = 0; k < NLOAD; k++) {
		M.load[k].url[0] = M.load[k].url[1] = M.fe[k];
		M.load[k].password = M.pw;
		if (redisload_start(&M.load[k], 100, 1000000000LL * (k + 1)) < 0)
			die("writer %d", k);
	}
	for (k = 0; k < NLOAD; k++) {
		int64_t until = time_mono_ms() + 30000;
		while (redisload_count(&M.load[k]) < 20) {
			if (time_mono_ms() > until)
				die("writer %d does not write: %s", k, M.load[k].last_error);
			msleep(10);
		}
	}
}

static void writers_alive(void)
{
	size_t before[NLOAD];
	int k;

	for (k = 0; k < NLOAD; k++)
		before[k] = redisload_count(&M.load[k]);
	for (k = 0; k < NLOAD; k++) {
		int64_t until = time_mono_ms() + 10000;
		while (redisload_count(&M.load[k]) < before[k] + 5) {
			if (time_mono_ms() > until) {
				bad("writer %d stopped writing: %s", k, M.load[k].last_error);
				break;
			}
			msleep(10);
		}
	}
}

/* The after-switch steps, as every later run retries them; the way
 * back's note kept for the case's line.  Returns the last error (0). */
static int after_steps(enum db_direction dir, struct ferry_error *err)
{
	struct orch_db_result r = { 0 };
	int tries, rc = 0;

	for (tries = 0; tries < 5; tries++) {
		memset(err, 0, sizeof(*err));
		rc = orch_start_reverse(&M.d, dir, NULL, &r, err);
		if (rc == 0)
			rc = orch_drop_forward(&M.d, dir, err);
		if (rc == 0 || rc == FERRY_ECHANGED)
			break;
	}
	snprintf(M.note, sizeof(M.note), "%s", r.reverse_note);
	return rc;
}

/* ---- the invariants ------------------------------------------------------------ */

static void probe(int k, int w)
{
	int64_t until = time_mono_ms() + 10000;
	struct ferry_error err = { 0 };
	struct redis_reply r;
	char key[64];

	snprintf(key, sizeof(key), "probe:%lld", (long long)++M.probe);
	while (cmd(M.fe[k], NULL, &err, "SET", key, "1", NULL) < 0) {
		if (time_mono_ms() > until) {
			bad("a write through frontend %d fails: %s", k, err.msg);
			return;
		}
		msleep(20);
	}
	if (cmd(M.url[w], &r, &err, "EXISTS", key, NULL) < 0 || r.integer != 1)
		bad("a write through frontend %d did not land on %s", k, db_side_name(w));
	else
		redis_reply_release(&r);
}

static void check_world(enum db_side w)
{
	enum db_side o = w == DB_OLD ? DB_NEW : DB_OLD;
	int64_t until;
	size_t j;
	int k;

	for (j = 0; j < M.d.nsw; j++) {
		struct ferry_error err = { 0 };
		struct sw_where at;
		if (!M.d.swep[j] && M.d.sw->open(&M.d.swcfg[j], &M.d.swep[j], &err) < 0) {
			bad("%s: %s", M.d.swcfg[j].name, err.msg);
			continue;
		}
		if (M.d.sw->show(M.d.swep[j], &at, time_mono_ms() + 5000, &err) < 0)
			bad("%s: %s", M.d.swcfg[j].name, err.msg);
		else if (!sw_where_is(&at, &M.d.target[w]))
			bad("%s points at %d, not at %s", M.d.swcfg[j].name, at.port,
			    db_side_name(w));
	}
	if (!info_is(M.url[w], "role", "master"))
		bad("the writer %s is not a master", db_side_name(w));
	until = time_mono_ms() + 20000;
	while (!info_is(M.url[o], "master_link_status", "up") ||
	       !info_is(M.url[o], "role", "slave")) {
		if (time_mono_ms() > until) {
			bad("%s is not a linked replica of %s", db_side_name(o), db_side_name(w));
			break;
		}
		msleep(20);
	}
	for (k = 0; k < NLOAD; k++)
		probe(k, w);
	for (k = 0; k < NLOAD; k++) {
		int64_t miss;
		until = time_mono_ms() + 15000;
		while ((miss = redisload_lost_at(&M.load[k], M.url[w])) != 0 &&
		       time_mono_ms() < until)
			msleep(50);
		if (miss)
			bad("writer %d: %lld acknowledged writes are not on %s", k, (long long)miss,
			    db_side_name(w));
	}
}

/* ---- the cases -------------------------------------------------------------------- */

struct mcase {
	const char *name;
	const char *fail_at;  /* FERRY_FAIL_AT, or NULL */
	const char *crash_at; /* FERRY_CRASH_AT in a child, or NULL */
	bool sigterm;         /* SIGTERM inside the pause, in a child */
	const char *act_at;   /* the fault point where act runs (once), or NULL */
	void (*act)(void);
	void (*repair)(void); /* what an operator does before the next run */
	bool want_full;       /* the way back must be reported a full resync */
	int face;             /* 1: run it forward, 2: reverse (a clean switch first) */
};

static const struct mcase *cur;
static bool acted;

static void hook(const char *name, void *ctx)
{
	(void)ctx;
	if (cur && cur->act && !acted && !strcmp(name, cur->act_at)) {
		acted = true;
		cur->act();
	}
}

/* The pause overruns its budget before unfence_target. */
static void overrun(void)
{
	msleep(BUDGET_MS + 20);
}

static int cmd_flushall(void)
{
	struct ferry_error err = { 0 };

	return cmd(M.url[DB_NEW], NULL, &err, "FLUSHALL", NULL);
}

static void kill_new(void)
{
	char *cmd = xasprintf("kill -9 $(cat %s/new.pid)", M.srv);

	if (system(cmd) != 0)
		bad("cannot kill new");
	free(cmd);
}

/* new restarted and made a replica of old again, as an operator would
 * with the replicate phase: a restart forgets REPLICAOF, and new comes
 * back as a master holding the snapshot of its last full sync (a replica
 * writes it to disk), which replicate_start refuses to erase: the
 * operator empties it first, as the refusal says. */
static void restart_new(void)
{
	struct ferry_error err = { 0 };
	char *cmd = xasprintf("sh %s/restart-new.sh", M.srv);

	if (system(cmd) != 0)
		bad("cannot restart new");
	free(cmd);
	if (!info_is(M.url[DB_NEW], "role", "master"))
		bad("the restarted new is not a master");
	if (cmd_flushall() < 0 || M.d.eng->replicate_start(M.d.h, &err) < 0)
		bad("replicate again: %s", err.msg);
}

/* Something writes to the old writer after the pause, and makes it a
 * replica of new again by hand: a full resync that erases the write. */
static void late_write(void)
{
	enum db_side from = db_from(M.dir), to = db_to(M.dir);
	struct ferry_error err = { 0 };
	char port[8];

	snprintf(port, sizeof(port), "%d", M.port[to]);
	if (cmd(M.url[from], NULL, &err, "REPLICAOF", "NO", "ONE", NULL) < 0 ||
	    cmd(M.url[from], NULL, &err, "CLIENT", "UNPAUSE", NULL) < 0 ||
	    cmd(M.url[from], NULL, &err, "SET", "late", "write", NULL) < 0 ||
	    cmd(M.url[from], NULL, &err, "REPLICAOF", "127.0.0.1", port, NULL) < 0)
		bad("late write: %s", err.msg);
}

/* The SIGTERM case's child: SIGTERM raised at the fence; it must die of
 * it only after the pause. */
static void sigterm_hook(const char *name, void *ctx)
{
	(void)ctx;
	if (!strcmp(name, "db.fence") && !acted) {
		acted = true;
		kill(getpid(), SIGTERM);
	}
}

/* The child of a crash case: the switch and its after-steps, as ferry run
 * does them, until FERRY_CRASH_AT (or SIGTERM) kills it. */
static int child_main(const char *dir, const char *dirname, bool sigterm)
{
	enum db_direction dir_ = strcmp(dirname, "forward") ? DB_REVERSE : DB_FORWARD;
	struct ferry_error err = { 0 };
	struct orch_result res;

	setup(dir);
	engine_open();
	if (sigterm)
		fault_set_hook(sigterm_hook, NULL);
	if (orch_switch(M.dbs, 1, dir_, &opts, &res, &err) == 0) {
		orch_start_reverse(&M.d, dir_, NULL, NULL, &err);
		orch_drop_forward(&M.d, dir_, &err);
	}
	fprintf(stderr, "matrix child: alive after the switch (%s)\n", err.msg);
	return 3;
}

static int run_child(const char *crash_at, enum db_direction dir)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *argv[] = { exe, (char *)(crash_at ? "--crash-child" : "--sigterm-child"), M.srv,
		         (char *)(dir == DB_FORWARD ? "forward" : "reverse"), NULL };
	pid_t pid;
	int st;

	if (n <= 0)
		die("readlink");
	exe[n] = '\0';
	if (crash_at)
		setenv("FERRY_CRASH_AT", crash_at, 1);
	if (posix_spawn(&pid, exe, NULL, NULL, argv, environ) != 0 || waitpid(pid, &st, 0) != pid)
		die("cannot run the child");
	unsetenv("FERRY_CRASH_AT");
	return st;
}

static const char *outcome_name(enum orch_outcome o)
{
	return o == ORCH_DONE      ? "done"
	       : o == ORCH_UNDONE  ? "undone"
	       : o == ORCH_REFUSED ? "refused"
	                           : "stuck";
}

static void run_case(const struct mcase *c)
{
	enum db_direction dir = M.dir;
	struct ferry_error err = { 0 };
	struct orch_result res = { 0 };
	enum orch_outcome outcome;
	bool after_done = false;
	int64_t t0, t1, gap = 0;
	int k, rc;

	M.why[0] = M.note[0] = '\0';
	cur = c;
	acted = false;
	fault_reset();
	t0 = time_mono_us();
	if (c->sigterm) {
		int st = run_child(NULL, dir);

		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGTERM)
			bad("the child was not ended by SIGTERM after the pause (status %d)", st);
		/* the next run finds the switch step open: recovery */
		rc = orch_recover(M.dbs, 1, dir, &opts, &res, &err);
		outcome = res.outcome;
		if (rc < 0 || outcome != ORCH_DONE)
			bad("SIGTERM inside the pause: the switch was not completed first (%s)",
			    err.msg);
	} else if (c->crash_at) {
		int st = run_child(c->crash_at, dir);
		bool switched = !strcmp(c->crash_at, "db.start_reverse") ||
		                !strcmp(c->crash_at, "db.drop_forward");

		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
			bad("the child did not die at %s (status %d)", c->crash_at, st);
		if (switched) {
			/* the switch step was done: the next run retries the
			 * after-switch steps */
			outcome = ORCH_DONE;
		} else {
			/* the switch step is open: the next run recovers */
			rc = orch_recover(M.dbs, 1, dir, &opts, &res, &err);
			outcome = res.outcome;
			if (rc < 0)
				bad("the next run's recovery failed: %s", err.msg);
		}
	} else {
		if (c->fail_at)
			setenv("FERRY_FAIL_AT", c->fail_at, 1);
		fault_set_hook(hook, NULL);
		rc = orch_switch(M.dbs, 1, dir, &opts, &res, &err);
		outcome = res.outcome;
		if (outcome == ORCH_DONE) {
			struct ferry_error e2 = { 0 };
			/* the after-steps of this run (its failure injected,
			 * or the late write acting) */
			after_done = after_steps(dir, &e2) == 0;
			if (c->want_full) {
				if (after_done || !strstr(e2.msg, "FULL resync"))
					bad("the full resync on the way back was not reported: "
					    "%s",
					    after_done ? M.note : e2.msg);
				else
					snprintf(M.note, sizeof(M.note), "%.200s", e2.msg);
			}
		}
		fault_set_hook(NULL, NULL);
		unsetenv("FERRY_FAIL_AT");
	}
	t1 = time_mono_us();
	if (outcome == ORCH_REFUSED && !c->fail_at)
		bad("refused: %s", err.msg);
	if (c->repair)
		c->repair();
	if (outcome == ORCH_STUCK) {
		orch_result_release(&res);
		memset(&err, 0, sizeof(err));
		if (orch_recover(M.dbs, 1, dir, &opts, &res, &err) < 0)
			bad("the next run's recovery failed: %s", err.msg);
		outcome = res.outcome;
	}
	if (outcome == ORCH_DONE) {
		if (c->want_full) {
			/* the next run's retry, by a fresh handle: it must see
			 * the full resync from the histories alone */
			struct ferry_error e2 = { 0 };
			M.d.eng->close(M.d.h);
			M.d.h = NULL;
			engine_open();
			if (after_steps(dir, &e2) == 0 || !strstr(e2.msg, "FULL resync"))
				bad("a later run does not see the full resync: %s",
				    e2.msg[0] ? e2.msg : M.note);
			snprintf(M.note, sizeof(M.note), "start_reverse, then a later run: %.200s",
			         e2.msg);
		} else if (!after_done) {
			struct ferry_error e2 = { 0 };
			if (after_steps(dir, &e2) < 0)
				bad("after-switch steps: %s", e2.msg);
			else if (strncmp(M.note, "resync=partial", 14))
				bad("the way back was not a partial resync: '%s'", M.note);
		} else if (strncmp(M.note, "resync=partial", 14)) {
			bad("the way back was not a partial resync: '%s'", M.note);
		}
		M.dir = dir == DB_FORWARD ? DB_REVERSE : DB_FORWARD;
	}
	for (k = 0; k < NLOAD; k++) {
		int64_t g = redisload_max_gap_us(&M.load[k], t0 - 200000, t1 + 200000);
		if (g > gap)
			gap = g;
	}
	if (gap > (int64_t)(BUDGET_MS + 250) * 1000)
		bad("writers saw a pause of %.0f ms, over the budget + 250 ms", gap / 1000.0);
	check_world(db_from(M.dir));
	writers_alive();
	if (wait_ready(60000) == 0 && !M.why[0])
		M.passed++;
	else
		M.failed++;
	printf("%-4s %-52s %s -> %-7s %s writes; ferry %lld ms, clients %.0f ms%s%s%s%s\n",
	       M.why[0] ? "FAIL" : "ok", c->name, dir == DB_FORWARD ? "forward" : "reverse",
	       outcome_name(outcome), db_side_name(db_from(M.dir)), (long long)res.pause_ms,
	       gap / 1000.0, M.note[0] ? "; " : "", M.note, M.why[0] ? ": " : "", M.why);
	orch_result_release(&res);
	cur = NULL;
}

/* Every step that can fail for one database behind two HAProxies (which
 * cannot hold work: no PAUSE, POINT at the commit point). */
static const char *const steps[] = {
	"db.preflight",    "db.prepare",         "db.stage:1",        "db.stage:2",
	"db.fence",        "db.position",        "db.wait_applied",   "db.finalize",
	"db.stop_forward", "db.prepare_reverse", "db.unfence_target", "db.commit:1",
	"db.commit:2",     "db.start_reverse",   "db.drop_forward",   NULL,
};

/* A failure inside the pause, then one in each step of the undo; then
 * one in the recovery after a failed undo. */
static const char *const undo_steps[] = {
	"db.unfence_target,db.undo.drop_reverse",
	"db.unfence_target,db.undo.restart_forward",
	"db.unfence_target,db.undo.unfence",
	"db.stop_forward,db.undo.restart_forward",
	"db.unfence_target,db.undo.unfence,db.recover.inspect",
	"db.unfence_target,db.undo.restart_forward,db.recover.point:1",
	"db.unfence_target,db.undo.drop_reverse,db.recover.unfence",
	"db.position,db.undo.unfence,db.recover.resume",
	NULL,
};

/* kill -9 before each step (both directions: the list is run twice). */
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
	static char names[160][96];
	const char *dir;
	size_t n = 0, i;
	int round, k;

	if (argc == 4 && !strcmp(argv[1], "--crash-child"))
		return child_main(argv[2], argv[3], false);
	if (argc == 4 && !strcmp(argv[1], "--sigterm-child"))
		return child_main(argv[2], argv[3], true);
	dir = getenv("FERRY_REDIS_DIR");
	if (!dir) {
		fprintf(stderr, "run through switch.sh (FERRY_REDIS_DIR unset)\n");
		return 77;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	setup(dir);
	seed();
	/* every step in both directions: the second round faces the other
	 * way (a step that fails inside the pause leaves it as it was) */
	for (round = 0; round < 2; round++)
		for (i = 0; steps[i]; i++)
			cases[n++] = (struct mcase){ .name = steps[i],
				                     .fail_at = steps[i],
				                     .face = i == 0 ? 1 + round : 0 };
	for (i = 0; undo_steps[i]; i++)
		cases[n++] = (struct mcase){ .name = undo_steps[i], .fail_at = undo_steps[i] };
	for (round = 0; round < 2; round++)
		cases[n++] = (struct mcase){ .name = "the budget overrun inside the pause",
			                     .act_at = "db.unfence_target",
			                     .act = overrun };
	cases[n++] = (struct mcase){ .name = "overrun, db.undo.fence_target",
		                     .fail_at = "db.undo.fence_target",
		                     .act_at = "db.unfence_target",
		                     .act = overrun };
	for (round = 0; round < 2; round++)
		for (i = 0; crash_steps[i]; i++) {
			snprintf(names[n], sizeof(names[n]), "kill -9 at %s", crash_steps[i]);
			cases[n] = (struct mcase){ .name = names[n],
				                   .crash_at = crash_steps[i],
				                   .face = i == 0 ? 1 + round : 0 };
			n++;
		}
	for (round = 0; round < 2; round++)
		cases[n++] = (struct mcase){ .name = "SIGTERM inside the pause", .sigterm = true };
	cases[n++] = (struct mcase){ .name = "new killed inside the pause",
		                     .act_at = "db.wait_applied",
		                     .act = kill_new,
		                     .repair = restart_new,
		                     .face = 1 };
	cases[n++] = (struct mcase){ .name = "a clean switch" };
	cases[n++] = (struct mcase){ .name = "a clean switch" };
	cases[n++] = (struct mcase){ .name = "a write forced on old after the pause",
		                     .act_at = "db.start_reverse",
		                     .act = late_write,
		                     .want_full = true,
		                     .face = 1 };
	/* MATRIX_ONLY=TEXT runs the cases whose name holds TEXT */
	log_level_current = getenv("MATRIX_LOG") ? LOG_LEVEL_INFO : LOG_LEVEL_WARN;
	for (i = 0; i < n; i++) {
		if (getenv("MATRIX_ONLY") && !strstr(cases[i].name, getenv("MATRIX_ONLY")))
			continue;
		if (cases[i].face && M.dir != (cases[i].face == 1 ? DB_FORWARD : DB_REVERSE))
			run_case(&(struct mcase){
			        .name = "a clean switch (to face the other way)" });
		run_case(&cases[i]);
	}
	for (k = 0; k < NLOAD; k++)
		redisload_stop(&M.load[k]);
	printf("%d passed, %d failed (%zu cases; writes acknowledged: %zu %zu; retried %lld %lld, "
	       "of them READONLY %lld %lld)\n",
	       M.passed, M.failed, n, redisload_count(&M.load[0]), redisload_count(&M.load[1]),
	       (long long)M.load[0].errors, (long long)M.load[1].errors,
	       (long long)M.load[0].readonly, (long long)M.load[1].readonly);
	{
		struct ferry_error err = { 0 };
		size_t j;
		for (j = 0; j < M.d.nsw; j++)
			M.d.sw->close(M.d.swep[j]);
		M.d.eng->teardown(M.d.h, &err);
		M.d.eng->close(M.d.h);
	}
	for (k = 0; k < NLOAD; k++)
		redisload_release(&M.load[k]);
	xfree_secret(M.pw, 0);
	free(M.srv);
	return M.failed ? 1 : 0;
}
