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
 *   - the loop of replicas that a failed drop_reverse leaves, as the
 *     recovery finds it: both links up, or to's down (it must end a
 *     master all the same);
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
 * the longest gap between acknowledgements is within MATRIX_PAUSE_LIMIT_MS.
 * A switch that completes must say resync=partial.
 *
 * Prints one line per case and "N passed, M failed".  switch.sh starts the
 * servers (ports 16120-16125).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/orchestrator.h"
#include "db/db.h"
#include "db/redis.h"
#include "db/redis_conn.h"
#include "matrix.h"
#include "redisload.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

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
	char note[256]; /* what the case saw, for its line */
} M;

/* ---- servers --------------------------------------------------------------- */

static struct redis_conn *client(const char *url)
{
	struct redis_endpoint ep;
	struct ferry_error err = { 0 };
	struct redis_conn *c = NULL;

	if (redis_endpoint_parse(url, &ep, &err) < 0)
		matrix_die("%s: %s", url, err.msg);
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

static void setup(const char *dir)
{
	struct endpoints_db *d = &M.d;
	int s;

	matrix.dir = DB_FORWARD;
	M.srv = xstrdup(dir);
	M.pw = matrix_password(dir);
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
		matrix_die("open: %s", err.msg);
}

/* The stream that feeds the next switch runs and is caught up. */
static bool caught_up(const struct db_lag *lag)
{
	return lag->worker_running && lag->ms >= 0 && lag->ms < 500;
}

static int wait_ready(int64_t ms)
{
	return matrix_wait_ready(M.dbs, 1, ms, caught_up);
}

static void seed(void)
{
	struct ferry_error err = { 0 };
	int k;

	engine_open();
	if (M.d.eng->replicate_start(M.d.h, &err) < 0)
		matrix_die("replicate: %s", err.msg);
	if (wait_ready(60000) < 0)
		matrix_die("%s", matrix.why);
	for (k = 0; k < NLOAD; k++) {
		M.load[k].url[0] = M.load[k].url[1] = M.fe[k];
		M.load[k].password = M.pw;
		if (redisload_start(&M.load[k], 100, 1000000000LL * (k + 1)) < 0)
			matrix_die("writer %d", k);
	}
	matrix_writers_wait(20, 30000, true);
}

/* The writers, as the harness sees them. */
static size_t writer_count(int k)
{
	return redisload_count(&M.load[k]);
}

static const char *writer_error(int k)
{
	return M.load[k].last_error;
}

static int64_t writer_gap(int k, int64_t t0, int64_t t1)
{
	return redisload_max_gap_us(&M.load[k], t0, t1);
}

static int64_t missing(int k, enum db_side w)
{
	return redisload_lost_at(&M.load[k], M.url[w]);
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
			matrix_bad("a write through frontend %d fails: %s", k, err.msg);
			return;
		}
		matrix_msleep(20);
	}
	if (cmd(M.url[w], &r, &err, "EXISTS", key, NULL) < 0 || r.integer != 1)
		matrix_bad("a write through frontend %d did not land on %s", k, db_side_name(w));
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
			matrix_bad("%s: %s", M.d.swcfg[j].name, err.msg);
			continue;
		}
		if (M.d.sw->show(M.d.swep[j], &at, time_mono_ms() + 5000, &err) < 0)
			matrix_bad("%s: %s", M.d.swcfg[j].name, err.msg);
		else if (!sw_where_is(&at, &M.d.target[w]))
			matrix_bad("%s points at %d, not at %s", M.d.swcfg[j].name, at.port,
			           db_side_name(w));
	}
	if (!info_is(M.url[w], "role", "master"))
		matrix_bad("the writer %s is not a master", db_side_name(w));
	until = time_mono_ms() + 20000;
	while (!info_is(M.url[o], "master_link_status", "up") ||
	       !info_is(M.url[o], "role", "slave")) {
		if (time_mono_ms() > until) {
			matrix_bad("%s is not a linked replica of %s", db_side_name(o),
			           db_side_name(w));
			break;
		}
		matrix_msleep(20);
	}
	for (k = 0; k < NLOAD; k++)
		probe(k, w);
	matrix_ledger_check(w);
}

/* ---- the cases -------------------------------------------------------------------- */

/* The pause overruns its budget before unfence_target. */
static void overrun(void)
{
	matrix_msleep(BUDGET_MS + 20);
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
		matrix_bad("cannot kill new");
	free(cmd);
}

/* new restarted and made a replica of old again, as an operator would
 * with the replicate phase: a restart forgets REPLICAOF, and new comes
 * back as a master holding the snapshot of its last full sync (a replica
 * writes it to disk), which replicate_start refuses to erase: the
 * operator empties it first, as the refusal says. */
static void restart_new(enum db_direction dir)
{
	struct ferry_error err = { 0 };
	char *cmd = xasprintf("sh %s/restart-new.sh", M.srv);

	(void)dir;
	if (system(cmd) != 0)
		matrix_bad("cannot restart new");
	free(cmd);
	if (!info_is(M.url[DB_NEW], "role", "master"))
		matrix_bad("the restarted new is not a master");
	if (cmd_flushall() < 0 || M.d.eng->replicate_start(M.d.h, &err) < 0)
		matrix_bad("replicate again: %s", err.msg);
}

/* Something writes to the old writer after the pause, and makes it a
 * replica of new again by hand: a full resync that erases the write. */
static void late_write(void)
{
	enum db_side from = db_from(matrix.dir), to = db_to(matrix.dir);
	struct ferry_error err = { 0 };
	char port[8];

	snprintf(port, sizeof(port), "%d", M.port[to]);
	if (cmd(M.url[from], NULL, &err, "REPLICAOF", "NO", "ONE", NULL) < 0 ||
	    cmd(M.url[from], NULL, &err, "CLIENT", "UNPAUSE", NULL) < 0 ||
	    cmd(M.url[from], NULL, &err, "SET", "late", "write", NULL) < 0 ||
	    cmd(M.url[from], NULL, &err, "REPLICAOF", "127.0.0.1", port, NULL) < 0)
		matrix_bad("late write: %s", err.msg);
}

/* Waits until side's link to its master is up (matrix_bad after 5 s). */
static void link_up(enum db_side side)
{
	int64_t until = time_mono_ms() + 5000;

	while (!info_is(M.url[side], "master_link_status", "up")) {
		if (time_mono_ms() > until) {
			matrix_bad("%s's link to its master did not come up", db_side_name(side));
			return;
		}
		matrix_msleep(5);
	}
}

/* The loop a failed undo leaves when drop_reverse fails: from stays a
 * replica of to, and restart_forward makes to a replica of from.  These
 * acts run before restart_forward: from's link is up by then (as on a
 * slow machine), so it stays up and to's can come up too, or (with a
 * masterauth to refuses) not. */
static char saved_auth[256];

static void loop_from_linked(void)
{
	link_up(db_from(matrix.dir));
}

static void loop_to_linked(void)
{
	link_up(db_to(matrix.dir));
}

static void loop_to_refused(void)
{
	enum db_side to = db_to(matrix.dir);
	struct ferry_error err = { 0 };
	struct redis_reply r;

	link_up(db_from(matrix.dir));
	if (cmd(M.url[to], &r, &err, "CONFIG", "GET", "masterauth", NULL) < 0 ||
	    r.type != REDIS_ARRAY || r.n != 2 || !r.v[1].str)
		matrix_bad("CONFIG GET masterauth: %s", err.msg);
	else
		snprintf(saved_auth, sizeof(saved_auth), "%s", r.v[1].str);
	redis_reply_release(&r);
	if (cmd(M.url[to], NULL, &err, "CONFIG", "SET", "masterauth", "not-the-password", NULL) < 0)
		matrix_bad("CONFIG SET masterauth: %s", err.msg);
}

static void loop_repair(enum db_direction dir)
{
	struct ferry_error err = { 0 };

	if (cmd(M.url[db_to(dir)], NULL, &err, "CONFIG", "SET", "masterauth", saved_auth, NULL) < 0)
		matrix_bad("CONFIG SET masterauth: %s", err.msg);
	explicit_bzero(saved_auth, sizeof(saved_auth));
}

/* The child of a crash case: the switch and its after-steps, as ferry run
 * does them, until FERRY_CRASH_AT (or SIGTERM) kills it. */
static void child(const char *dir, enum db_direction d, struct ferry_error *err)
{
	struct orch_result res;

	setup(dir);
	engine_open();
	if (orch_switch(M.dbs, 1, d, &matrix_opts, &res, err) == 0) {
		orch_start_reverse(&M.d, d, NULL, NULL, err);
		orch_drop_forward(&M.d, d, err);
	}
}

static void run_case(const struct matrix_case *c)
{
	enum db_direction dir = matrix.dir;
	struct ferry_error err = { 0 };
	struct orch_result res = { 0 };
	enum orch_outcome outcome;
	bool after_done = false;
	int64_t t0, t1, gap;
	int rc;

	M.note[0] = '\0';
	matrix_case_begin(c);
	t0 = time_mono_us();
	if (c->sigterm) {
		matrix_child_run(M.srv, c, dir);
		/* the next run finds the switch step open: recovery */
		rc = orch_recover(M.dbs, 1, dir, &matrix_opts, &res, &err);
		outcome = res.outcome;
		if (rc < 0 || outcome != ORCH_DONE)
			matrix_bad(
			        "SIGTERM inside the pause: the switch was not completed first (%s)",
			        err.msg);
	} else if (c->crash_at) {
		matrix_child_run(M.srv, c, dir);
		if (matrix_after_resume(c->crash_at)) {
			/* the switch step was done: the next run retries the
			 * after-switch steps */
			outcome = ORCH_DONE;
		} else {
			/* the switch step is open: the next run recovers */
			rc = orch_recover(M.dbs, 1, dir, &matrix_opts, &res, &err);
			outcome = res.outcome;
			if (rc < 0)
				matrix_bad("the next run's recovery failed: %s", err.msg);
		}
	} else {
		matrix_arm(c);
		rc = orch_switch(M.dbs, 1, dir, &matrix_opts, &res, &err);
		outcome = res.outcome;
		if (outcome == ORCH_DONE) {
			struct ferry_error e2 = { 0 };
			/* the after-steps of this run (its failure injected,
			 * or the late write acting) */
			after_done = after_steps(dir, &e2) == 0;
			if (c->after_error) {
				if (after_done || !strstr(e2.msg, c->after_error))
					matrix_bad("the way back's %s was not reported: %s",
					           c->after_error, after_done ? M.note : e2.msg);
				else
					snprintf(M.note, sizeof(M.note), "%.200s", e2.msg);
			}
		}
		matrix_disarm();
	}
	t1 = time_mono_us();
	if (outcome == ORCH_REFUSED && !c->fail_at)
		matrix_bad("refused: %s", err.msg);
	if (c->repair)
		c->repair(dir);
	if (outcome == ORCH_STUCK) {
		orch_result_release(&res);
		memset(&err, 0, sizeof(err));
		if (orch_recover(M.dbs, 1, dir, &matrix_opts, &res, &err) < 0)
			matrix_bad("the next run's recovery failed: %s", err.msg);
		outcome = res.outcome;
	}
	if (outcome == ORCH_DONE) {
		if (c->after_error) {
			/* the next run's retry, by a fresh handle: it must see
			 * the full resync from the histories alone */
			struct ferry_error e2 = { 0 };
			M.d.eng->close(M.d.h);
			M.d.h = NULL;
			engine_open();
			if (after_steps(dir, &e2) == 0 || !strstr(e2.msg, c->after_error))
				matrix_bad("a later run does not see the %s: %s", c->after_error,
				           e2.msg[0] ? e2.msg : M.note);
			snprintf(M.note, sizeof(M.note), "start_reverse, then a later run: %.200s",
			         e2.msg);
		} else if (!after_done) {
			struct ferry_error e2 = { 0 };
			if (after_steps(dir, &e2) < 0)
				matrix_bad("after-switch steps: %s", e2.msg);
			else if (strncmp(M.note, "resync=partial", 14))
				matrix_bad("the way back was not a partial resync: '%s'", M.note);
		} else if (strncmp(M.note, "resync=partial", 14)) {
			matrix_bad("the way back was not a partial resync: '%s'", M.note);
		}
		matrix.dir = dir == DB_FORWARD ? DB_REVERSE : DB_FORWARD;
	}
	gap = matrix_gap(t0, t1, 0, MATRIX_PAUSE_LIMIT_MS(BUDGET_MS));
	check_world(db_from(matrix.dir));
	matrix_writers_alive();
	matrix_case_end(c, dir, outcome, res.pause_ms, gap, wait_ready(60000) == 0, M.note);
	orch_result_release(&res);
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
	static struct matrix_table t;
	const char *dir;
	int round, k;

	if ((k = matrix_child_main(argc, argv, child)) >= 0)
		return k;
	dir = getenv("FERRY_REDIS_DIR");
	if (!dir) {
		fprintf(stderr, "run through switch.sh (FERRY_REDIS_DIR unset)\n");
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
	/* every step in both directions: the second round faces the other
	 * way (a step that fails inside the pause leaves it as it was) */
	matrix_table_steps(&t, steps, false, 2, true);
	matrix_table_steps(&t, undo_steps, false, 1, false);
	for (round = 0; round < 2; round++)
		matrix_table_add(
		        &t, (struct matrix_case){ .name = "the budget overrun inside the pause",
		                                  .act_at = "db.unfence_target",
		                                  .act = overrun });
	matrix_table_add(&t, (struct matrix_case){ .name = "overrun, db.undo.fence_target",
	                                           .fail_at = "db.undo.fence_target",
	                                           .act_at = "db.unfence_target",
	                                           .act = overrun });
	matrix_table_steps(&t, crash_steps, true, 2, true);
	for (round = 0; round < 2; round++)
		matrix_table_add(&t, (struct matrix_case){ .name = "SIGTERM inside the pause",
		                                           .sigterm = true });
	matrix_table_add(&t, (struct matrix_case){ .name = "new killed inside the pause",
	                                           .act_at = "db.wait_applied",
	                                           .act = kill_new,
	                                           .repair = restart_new,
	                                           .face = 1 });
	matrix_table_add(&t, (struct matrix_case){ .name = "a clean switch" });
	matrix_table_add(&t, (struct matrix_case){ .name = "a clean switch" });
	matrix_table_add(&t, (struct matrix_case){ .name = "a write forced on old after the pause",
	                                           .act_at = "db.start_reverse",
	                                           .act = late_write,
	                                           .after_error = "FULL resync",
	                                           .face = 1 });
	/* the loop a failed undo leaves, as the recovery finds it: both links
	 * up, or to's down (it must still end a replica) */
	matrix_table_add(&t,
	                 (struct matrix_case){ .name = "a loop of replicas, both linked",
	                                       .fail_at = "db.unfence_target,db.undo.drop_reverse",
	                                       .act_at = "db.undo.restart_forward",
	                                       .act = loop_from_linked,
	                                       .then_at = "db.recover.inspect",
	                                       .then = loop_to_linked });
	matrix_table_add(&t,
	                 (struct matrix_case){ .name = "a loop of replicas, to's link down",
	                                       .fail_at = "db.unfence_target,db.undo.drop_reverse",
	                                       .act_at = "db.undo.restart_forward",
	                                       .act = loop_to_refused,
	                                       .repair = loop_repair });
	/* MATRIX_ONLY=TEXT runs the cases whose name holds TEXT */
	log_level_current = getenv("MATRIX_LOG") ? LOG_LEVEL_INFO : LOG_LEVEL_WARN;
	matrix_walk(&t, run_case);
	for (k = 0; k < NLOAD; k++)
		redisload_stop(&M.load[k]);
	k = matrix_summary("%zu cases; writes acknowledged: %zu %zu; retried %lld %lld, of them "
	                   "READONLY %lld %lld",
	                   t.n, redisload_count(&M.load[0]), redisload_count(&M.load[1]),
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
	for (round = 0; round < NLOAD; round++)
		redisload_release(&M.load[round]);
	xfree_secret(M.pw, 0);
	free(M.srv);
	return k;
}
