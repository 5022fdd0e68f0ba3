/*
 * test_orchestrator.c - the switch protocol (core/orchestrator.c) against a
 * scripted fake engine and a fake switch driver, no servers: the order of
 * the steps, the undo (newest first, every endpoint reached), recovery
 * decided from positions, two databases moving all or nothing, the budget,
 * signals held in the pause, and FERRY_FAIL_AT.
 *
 * The fakes keep a small world (fences, streams, where each endpoint
 * points and whether it is paused) and log every call, so a test asserts
 * both what was called, in which order, and where the world ended.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/orchestrator.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* ---- the fake world ------------------------------------------------------ */

struct fake_db {
	const char *name;
	bool fenced[2];
	bool fwd_exists, fwd_running, rev_ready, rev_running;
	int caught_up;      /* what inspect says while the forward stream exists */
	const char *fail;   /* the engine op that fails (once), or NULL */
	int64_t sleep_ms;   /* wait_applied sleeps this long (the budget test) */
	bool raise_sigterm; /* fence sends SIGTERM to this process */
};

struct fake_ep {
	struct fake_db *db;
	int index;
	int points; /* DB_OLD / DB_NEW */
	bool paused;
	int staged, back;
	const char *fail; /* the driver op that fails, or NULL */
	int pending;      /* action sent, -1 none */
};

static struct buf calls;

static void logf_(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&calls, fmt, ap);
	va_end(ap);
	buf_addch(&calls, ' ');
}

static bool sticky; /* a failure stays until the test clears it */

static int failing(const char **fail, const char *op, struct ferry_error *err)
{
	if (*fail && !strcmp(*fail, op)) {
		if (!sticky)
			*fail = NULL; /* once */
		return ferry_error_set(err, FERRY_EIO, NULL, "fake: %s failed", op);
	}
	return 0;
}

#define DB(h) ((struct fake_db *)(h))

static int fx_preflight(void *h, enum db_direction dir, struct ferry_error *err)
{
	(void)dir;
	logf_("%s.preflight", DB(h)->name);
	return failing(&DB(h)->fail, "preflight", err);
}

static int fx_prepare(void *h, enum db_direction dir, struct ferry_error *err)
{
	(void)dir;
	logf_("%s.prepare", DB(h)->name);
	return failing(&DB(h)->fail, "prepare", err);
}

static int fx_fence(void *h, enum db_side side, int64_t deadline, struct ferry_error *err)
{
	(void)deadline;
	logf_("%s.fence(%s)", DB(h)->name, db_side_name(side));
	if (DB(h)->raise_sigterm)
		kill(getpid(), SIGTERM);
	if (failing(&DB(h)->fail, "fence", err) < 0)
		return FERRY_EIO;
	DB(h)->fenced[side] = true;
	return 0;
}

static int fx_unfence(void *h, enum db_side side, int64_t deadline, struct ferry_error *err)
{
	(void)deadline;
	logf_("%s.unfence(%s)", DB(h)->name, db_side_name(side));
	if (failing(&DB(h)->fail, "unfence", err) < 0)
		return FERRY_EIO;
	DB(h)->fenced[side] = false;
	return 0;
}

static int fx_position(void *h, enum db_direction dir, int64_t deadline, char **pos,
                       struct ferry_error *err)
{
	(void)dir;
	(void)deadline;
	logf_("%s.position", DB(h)->name);
	*pos = xstrdup("0/42");
	return failing(&DB(h)->fail, "position", err);
}

static int fx_wait_applied(void *h, enum db_direction dir, const char *pos, int64_t deadline,
                           struct ferry_error *err)
{
	(void)dir;
	logf_("%s.wait_applied(%s)", DB(h)->name, pos);
	if (DB(h)->sleep_ms) {
		int64_t until = time_mono_ms() + DB(h)->sleep_ms;
		while (time_mono_ms() < until && time_mono_ms() < deadline)
			usleep(1000);
		if (time_mono_ms() >= deadline)
			return ferry_error_set(err, FERRY_ETIMEDOUT, NULL, "fake: not applied");
	}
	return failing(&DB(h)->fail, "wait_applied", err);
}

static int fx_finalize(void *h, enum db_direction dir, int64_t deadline, int64_t *count,
                       struct ferry_error *err)
{
	(void)dir;
	(void)deadline;
	logf_("%s.finalize", DB(h)->name);
	*count = 3;
	return failing(&DB(h)->fail, "finalize", err);
}

static int fx_stop_forward(void *h, enum db_direction dir, int64_t deadline,
                           struct ferry_error *err)
{
	(void)dir;
	(void)deadline;
	logf_("%s.stop_forward", DB(h)->name);
	if (failing(&DB(h)->fail, "stop_forward", err) < 0)
		return FERRY_EIO;
	DB(h)->fwd_running = false;
	return 0;
}

static int fx_restart_forward(void *h, enum db_direction dir, int64_t deadline,
                              struct ferry_error *err)
{
	(void)dir;
	(void)deadline;
	logf_("%s.restart_forward", DB(h)->name);
	if (failing(&DB(h)->fail, "restart_forward", err) < 0)
		return FERRY_EIO;
	DB(h)->fwd_running = true;
	return 0;
}

static int fx_prepare_reverse(void *h, enum db_direction dir, int64_t deadline,
                              struct ferry_error *err)
{
	(void)dir;
	(void)deadline;
	logf_("%s.prepare_reverse", DB(h)->name);
	if (failing(&DB(h)->fail, "prepare_reverse", err) < 0)
		return FERRY_EIO;
	DB(h)->rev_ready = true;
	return 0;
}

static int fx_drop_reverse(void *h, enum db_direction dir, int64_t deadline,
                           struct ferry_error *err)
{
	(void)dir;
	(void)deadline;
	logf_("%s.drop_reverse", DB(h)->name);
	if (failing(&DB(h)->fail, "drop_reverse", err) < 0)
		return FERRY_EIO;
	DB(h)->rev_ready = false;
	return 0;
}

static int fx_start_reverse(void *h, enum db_direction dir, struct ferry_error *err)
{
	(void)dir;
	logf_("%s.start_reverse", DB(h)->name);
	if (failing(&DB(h)->fail, "start_reverse", err) < 0)
		return FERRY_EIO;
	DB(h)->rev_running = true;
	return 0;
}

static int fx_drop_forward(void *h, enum db_direction dir, struct ferry_error *err)
{
	(void)dir;
	logf_("%s.drop_forward", DB(h)->name);
	if (failing(&DB(h)->fail, "drop_forward", err) < 0)
		return FERRY_EIO;
	DB(h)->fwd_exists = DB(h)->fwd_running = false;
	return 0;
}

static int fx_inspect(void *h, enum db_direction dir, struct db_inspect *out,
                      struct ferry_error *err)
{
	struct fake_db *f = DB(h);

	(void)dir;
	(void)err;
	memset(out, 0, sizeof(*out));
	out->fenced[DB_OLD] = f->fenced[DB_OLD];
	out->fenced[DB_NEW] = f->fenced[DB_NEW];
	out->forward_exists = f->fwd_exists;
	out->forward_running = f->fwd_running;
	out->caught_up = f->fwd_exists ? f->caught_up : -1;
	out->reverse_ready = f->rev_ready;
	out->reverse_running = f->rev_running;
	snprintf(out->detail, sizeof(out->detail), "fake");
	return 0;
}

static const struct db_switch_ops fake_ops = {
	.preflight = fx_preflight,
	.prepare = fx_prepare,
	.fence = fx_fence,
	.unfence = fx_unfence,
	.position = fx_position,
	.wait_applied = fx_wait_applied,
	.finalize = fx_finalize,
	.stop_forward = fx_stop_forward,
	.restart_forward = fx_restart_forward,
	.prepare_reverse = fx_prepare_reverse,
	.drop_reverse = fx_drop_reverse,
	.start_reverse = fx_start_reverse,
	.drop_forward = fx_drop_forward,
	.inspect = fx_inspect,
};

static const struct db_engine fake_engine = { .name = "fake", .sw = &fake_ops };

/* ---- the fake switch driver ------------------------------------------------ */

static struct fake_ep eps[4]; /* by endpoint config: swcfg[j].database is "k" */

#define EP(e) ((struct fake_ep *)(e))

static int fd_open(const struct sw_config *cfg, struct sw_endpoint **out, struct ferry_error *err)
{
	(void)err;
	*out = (struct sw_endpoint *)&eps[cfg->npoint];
	return 0;
}

static void fd_close(struct sw_endpoint *ep)
{
	(void)ep;
}

static const struct sw_target *targets; /* [2], the databases share them */

static int fd_show(struct sw_endpoint *e, struct sw_where *w, int64_t deadline,
                   struct ferry_error *err)
{
	(void)deadline;
	memset(w, 0, sizeof(*w));
	if (failing(&EP(e)->fail, "show", err) < 0)
		return FERRY_EIO;
	snprintf(w->host, sizeof(w->host), "%s", targets[EP(e)->points].host);
	w->port = targets[EP(e)->points].port;
	w->paused = EP(e)->paused;
	return 0;
}

static int fd_stage(struct sw_endpoint *e, const struct sw_target *to, const char *side,
                    int64_t deadline, struct ferry_error *err)
{
	(void)to;
	(void)deadline;
	logf_("%s.ep%d.stage(%s)", EP(e)->db->name, EP(e)->index, side);
	EP(e)->staged = !strcmp(side, "new") ? DB_NEW : DB_OLD;
	EP(e)->back = EP(e)->points;
	return failing(&EP(e)->fail, "stage", err);
}

static const char *const act[] = { "pause", "point", "resume", "revert" };

static int fd_send(struct sw_endpoint *e, enum sw_action a, struct ferry_error *err)
{
	logf_("%s.ep%d.%s", EP(e)->db->name, EP(e)->index, act[a]);
	if (failing(&EP(e)->fail, act[a], err) < 0)
		return FERRY_EIO;
	EP(e)->pending = (int)a;
	return 0;
}

static int fd_wait(struct sw_endpoint *e, enum sw_action a, int64_t deadline,
                   struct ferry_error *err)
{
	(void)deadline;
	(void)err;
	assert_int_equal(EP(e)->pending, (int)a);
	EP(e)->pending = -1;
	switch (a) {
	case SW_PAUSE: EP(e)->paused = true; break;
	case SW_RESUME: EP(e)->paused = false; break;
	case SW_POINT: EP(e)->points = EP(e)->staged; break;
	case SW_REVERT: EP(e)->points = EP(e)->back; break;
	}
	return 0;
}

static int fd_point(struct sw_endpoint *e, const struct sw_target *to, const char *side,
                    int64_t deadline, struct ferry_error *err)
{
	(void)to;
	(void)deadline;
	logf_("%s.ep%d.point_now(%s)", EP(e)->db->name, EP(e)->index, side);
	if (failing(&EP(e)->fail, "point_now", err) < 0)
		return FERRY_EIO;
	EP(e)->points = !strcmp(side, "new") ? DB_NEW : DB_OLD;
	return 0;
}

static struct sw_driver fake_driver = {
	.name = "fake",
	.can_pause = true,
	.open = fd_open,
	.close = fd_close,
	.show = fd_show,
	.stage = fd_stage,
	.send = fd_send,
	.wait = fd_wait,
	.point = fd_point,
};

/* ---- the databases ---------------------------------------------------------- */

static const struct sw_target tgt[2] = { { "10.0.0.2", 5432, NULL }, { "10.0.0.3", 5432, NULL } };
static struct fake_db fdb[2];
static struct plan_database pd[2];
static struct endpoints_db edb[2];
static struct endpoints_db *dbs[2] = { &edb[0], &edb[1] };

/* n databases with two endpoints each, replicating old -> new, the
 * applications on old: the world before a cutover. */
static void world(size_t n, bool can_pause)
{
	size_t i, j;

	buf_reset(&calls);
	targets = tgt;
	fake_driver.can_pause = can_pause;
	for (i = 0; i < 2; i++) {
		memset(&fdb[i], 0, sizeof(fdb[i]));
		fdb[i].name = i ? "b" : "a";
		fdb[i].fwd_exists = fdb[i].fwd_running = true;
		fdb[i].caught_up = 1;
		memset(&edb[i], 0, sizeof(edb[i]));
		pd[i].name = (char *)fdb[i].name;
		edb[i].pd = &pd[i];
		edb[i].eng = &fake_engine;
		edb[i].h = &fdb[i];
		edb[i].budget_ms = 2000;
		edb[i].sw = &fake_driver;
		edb[i].nsw = 2;
		edb[i].target[DB_OLD] = tgt[DB_OLD];
		edb[i].target[DB_NEW] = tgt[DB_NEW];
		for (j = 0; j < 2; j++) {
			struct fake_ep *e = &eps[i * 2 + j];
			memset(e, 0, sizeof(*e));
			e->db = &fdb[i];
			e->index = (int)j + 1;
			e->points = DB_OLD;
			e->pending = -1;
			edb[i].swcfg[j].name = j ? "ep2" : "ep1";
			edb[i].swcfg[j].npoint = i * 2 + j; /* which fake endpoint */
		}
	}
	(void)n;
}

/* One writer per database, every endpoint at it and not paused. */
static void assert_writer(size_t n, enum db_side writer)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		assert_false(fdb[i].fenced[writer]);
		assert_true(fdb[i].fenced[!writer] || writer == DB_OLD);
		for (j = 0; j < 2; j++) {
			assert_int_equal(eps[i * 2 + j].points, writer);
			assert_false(eps[i * 2 + j].paused);
		}
		if (writer == DB_OLD) {
			assert_true(fdb[i].fwd_running);
			assert_false(fdb[i].rev_ready);
		}
	}
}

static const struct orch_opts opts = { .block_signals = true };

/* ---- the cases -------------------------------------------------------------- */

static void test_switch_runs_the_protocol_in_order(void **state)
{
	struct ferry_error err = { 0 };
	struct orch_result res;

	(void)state;
	world(1, true);
	assert_int_equal(orch_switch(dbs, 1, DB_FORWARD, &opts, &res, &err), 0);
	assert_int_equal(res.outcome, ORCH_DONE);
	assert_string_equal(
	        calls.data,
	        "a.preflight a.prepare a.ep1.stage(new) a.ep2.stage(new) a.ep1.pause a.ep2.pause "
	        "a.fence(old) a.position a.wait_applied(0/42) a.finalize a.stop_forward "
	        "a.prepare_reverse a.ep1.point a.ep2.point a.ep1.resume a.ep2.resume ");
	assert_string_equal(res.db[0].fence_pos, "0/42");
	assert_int_equal(res.db[0].sequences, 3);
	assert_writer(1, DB_NEW);
	orch_result_release(&res);
	/* the after-steps, each on its own */
	assert_int_equal(orch_start_reverse(&edb[0], DB_FORWARD, NULL, NULL, &err), 0);
	assert_int_equal(orch_drop_forward(&edb[0], DB_FORWARD, &err), 0);
	assert_true(fdb[0].rev_running);
	assert_false(fdb[0].fwd_exists);
}

/* A failure at any step inside the pause puts back exactly what was done,
 * newest first, and resumes every endpoint on old. */
static void test_failure_at_each_step_is_undone(void **state)
{
	static const struct {
		const char *op;
		const char *undo; /* the calls the undo makes, in order */
	} cases[] = {
		{ "fence", "a.ep1.resume a.ep2.resume " },
		{ "position", "a.unfence(old) a.ep1.resume a.ep2.resume " },
		{ "wait_applied", "a.unfence(old) a.ep1.resume a.ep2.resume " },
		{ "finalize", "a.unfence(old) a.ep1.resume a.ep2.resume " },
		{ "stop_forward", "a.restart_forward a.unfence(old) a.ep1.resume a.ep2.resume " },
		{ "prepare_reverse", "a.drop_reverse a.restart_forward a.unfence(old) a.ep1.resume "
		                     "a.ep2.resume " },
	};
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct ferry_error err = { 0 };
		struct orch_result res;
		const char *tail;
		int rc;

		world(1, true);
		fdb[0].fail = cases[k].op;
		rc = orch_switch(dbs, 1, DB_FORWARD, &opts, &res, &err);
		assert_true(rc < 0);
		assert_int_equal(res.outcome, ORCH_UNDONE);
		assert_non_null(strstr(err.msg, "undone"));
		tail = calls.data + calls.len - strlen(cases[k].undo);
		if (strcmp(tail, cases[k].undo)) {
			fprintf(stderr, "%s: calls %s\n", cases[k].op, calls.data);
			fail();
		}
		assert_writer(1, DB_OLD);
		orch_result_release(&res);
	}
}

/* A POINT that fails on one endpoint: both are reverted (REVERT reaches
 * every pointed one), both resumed on old. */
static void test_point_failure_reverts_every_endpoint(void **state)
{
	struct ferry_error err = { 0 };
	struct orch_result res;

	(void)state;
	world(1, true);
	eps[1].fail = "point";
	assert_true(orch_switch(dbs, 1, DB_FORWARD, &opts, &res, &err) < 0);
	assert_int_equal(res.outcome, ORCH_UNDONE);
	assert_non_null(strstr(calls.data, "a.ep1.revert a.drop_reverse"));
	assert_writer(1, DB_OLD);
	orch_result_release(&res);
}

/* A revert that fails: the target is fenced before anything resumes, so
 * the endpoint left on it cannot write there; recovery then points it back
 * and nothing is left paused. */
static void test_failed_revert_fences_the_target_first(void **state)
{
	struct ferry_error err = { 0 };
	struct orch_result res;
	const char *fence_new, *resume;

	(void)state;
	world(1, true);
	eps[1].fail = "revert";
	/* both endpoints pointed, then the confirmation fails: undo */
	setenv("FERRY_FAIL_AT", "db.confirm", 1);
	assert_true(orch_switch(dbs, 1, DB_FORWARD, &opts, &res, &err) < 0);
	unsetenv("FERRY_FAIL_AT");
	fence_new = strstr(calls.data, "a.fence(new)");
	resume = strstr(calls.data, "a.ep1.resume");
	assert_non_null(fence_new);
	assert_non_null(resume);
	assert_true(fence_new < resume);
	/* recovery pointed ep2 back; in the end old is the only writer */
	assert_int_equal(res.outcome, ORCH_UNDONE);
	assert_true(res.recovered);
	assert_writer(1, DB_OLD);
	assert_false(fdb[0].fenced[DB_NEW]);
	orch_result_release(&res);
}

/* Once a RESUME went out on new, the switch only completes: a RESUME that
 * fails on one endpoint is recovered forward, never undone. */
static void test_failure_after_the_commit_point_completes(void **state)
{
	struct ferry_error err = { 0 };
	struct orch_result res;

	(void)state;
	world(1, true);
	eps[1].fail = "resume";
	assert_int_equal(orch_switch(dbs, 1, DB_FORWARD, &opts, &res, &err), 0);
	assert_int_equal(res.outcome, ORCH_DONE);
	/* tried once more at once: no heavier recovery needed */
	assert_false(res.recovered);
	assert_non_null(strstr(calls.data, "a.ep2.resume a.ep2.resume"));
	assert_null(strstr(calls.data, "revert"));
	assert_writer(1, DB_NEW);
	orch_result_release(&res);

	/* a pooler that will not resume: committed, never undone; recovery
	 * cannot finish either, so the switch is stuck for the next run,
	 * which finishes it once the pooler answers */
	world(1, true);
	eps[1].fail = "resume";
	sticky = true;
	assert_true(orch_switch(dbs, 1, DB_FORWARD, &opts, &res, &err) < 0);
	sticky = false;
	assert_int_equal(res.outcome, ORCH_STUCK);
	assert_null(strstr(calls.data, "revert"));
	assert_int_equal(eps[0].points, DB_NEW);
	assert_false(eps[0].paused);
	assert_true(eps[1].paused);
	assert_true(fdb[0].fenced[DB_OLD]);
	orch_result_release(&res);
	eps[1].fail = NULL;
	assert_int_equal(orch_recover(dbs, 1, DB_FORWARD, &opts, &res, &err), 0);
	assert_int_equal(res.outcome, ORCH_DONE);
	assert_writer(1, DB_NEW);
	orch_result_release(&res);
}

/* Two databases: the second fails inside the pause, the first, already
 * fenced and stopped, is undone too; neither moved. */
static void test_two_databases_move_all_or_nothing(void **state)
{
	struct ferry_error err = { 0 };
	struct orch_result res;

	(void)state;
	world(2, true);
	fdb[1].fail = "wait_applied";
	assert_true(orch_switch(dbs, 2, DB_FORWARD, &opts, &res, &err) < 0);
	assert_int_equal(res.outcome, ORCH_UNDONE);
	assert_non_null(strstr(err.msg, "database b"));
	assert_writer(2, DB_OLD);
	/* every endpoint of both was paused in one go, before any fence */
	assert_true(strstr(calls.data, "b.ep2.pause") < strstr(calls.data, "a.fence(old)"));
	orch_result_release(&res);

	world(2, true);
	assert_int_equal(orch_switch(dbs, 2, DB_FORWARD, &opts, &res, &err), 0);
	assert_writer(2, DB_NEW);
	orch_result_release(&res);
}

/* The preflight of every database runs before anything is paused, and a
 * refusal changes nothing. */
static void test_preflight_of_every_database_before_any_pause(void **state)
{
	struct ferry_error err = { 0 };
	struct orch_result res;

	(void)state;
	world(2, true);
	fdb[1].fail = "preflight";
	assert_true(orch_switch(dbs, 2, DB_FORWARD, &opts, &res, &err) < 0);
	assert_int_equal(res.outcome, ORCH_REFUSED);
	assert_null(strstr(calls.data, "pause"));
	assert_null(strstr(calls.data, "stage"));
	assert_writer(2, DB_OLD);
	orch_result_release(&res);

	/* an endpoint that points at neither side is refused by name */
	world(1, true);
	edb[0].target[DB_NEW] = (struct sw_target){ "10.0.0.9", 1, NULL };
	eps[0].points = DB_NEW; /* 10.0.0.3: neither 10.0.0.2 nor 10.0.0.9 */
	assert_true(orch_switch(dbs, 1, DB_FORWARD, &opts, &res, &err) < 0);
	assert_int_equal(res.outcome, ORCH_REFUSED);
	assert_non_null(strstr(err.msg, "ep1"));
	assert_null(strstr(calls.data, "pause"));
	orch_result_release(&res);
}

/* Recovery decides from positions: from fenced and to caught up ->
 * complete; from not fenced -> undo; an endpoint resumed on to (past the
 * commit point) -> complete. */
static void test_recovery_decides_from_positions(void **state)
{
	struct ferry_error err = { 0 };
	struct orch_result res;

	(void)state;
	/* killed after the fence, before the forward stream stopped */
	world(1, true);
	fdb[0].fenced[DB_OLD] = true;
	eps[0].paused = eps[1].paused = true;
	assert_int_equal(orch_recover(dbs, 1, DB_FORWARD, &opts, &res, &err), 0);
	assert_int_equal(res.outcome, ORCH_DONE);
	assert_writer(1, DB_NEW);
	orch_result_release(&res);

	/* killed before the fence: undo */
	world(1, true);
	eps[0].paused = eps[1].paused = true;
	assert_int_equal(orch_recover(dbs, 1, DB_FORWARD, &opts, &res, &err), 0);
	assert_int_equal(res.outcome, ORCH_UNDONE);
	assert_writer(1, DB_OLD);
	orch_result_release(&res);

	/* an undo that unfenced old and then died: old may have taken writes
	 * the reverse slot never saw; the slot's existence must not make it
	 * complete */
	world(1, true);
	fdb[0].rev_ready = true;
	fdb[0].fwd_running = false;
	eps[0].points = DB_NEW;
	eps[0].paused = true;
	assert_int_equal(orch_recover(dbs, 1, DB_FORWARD, &opts, &res, &err), 0);
	assert_int_equal(res.outcome, ORCH_UNDONE);
	assert_writer(1, DB_OLD);
	orch_result_release(&res);

	/* from fenced but to is behind and its stream stopped: cannot
	 * complete, and nothing resumed on to: undo */
	world(1, true);
	fdb[0].fenced[DB_OLD] = true;
	fdb[0].fwd_running = false;
	fdb[0].caught_up = 0;
	eps[0].paused = eps[1].paused = true;
	assert_int_equal(orch_recover(dbs, 1, DB_FORWARD, &opts, &res, &err), 0);
	assert_int_equal(res.outcome, ORCH_UNDONE);
	assert_writer(1, DB_OLD);
	orch_result_release(&res);

	/* past the commit point (ep1 resumed on new), ep2 still paused */
	world(1, true);
	fdb[0].fenced[DB_OLD] = true;
	fdb[0].fwd_running = false;
	fdb[0].rev_ready = true;
	eps[0].points = DB_NEW;
	eps[1].points = DB_NEW;
	eps[1].paused = true;
	assert_int_equal(orch_recover(dbs, 1, DB_FORWARD, &opts, &res, &err), 0);
	assert_int_equal(res.outcome, ORCH_DONE);
	assert_writer(1, DB_NEW);
	orch_result_release(&res);
}

/* The preflight of a later run finishes a half-done switch first. */
static void test_half_done_switch_is_recovered_first(void **state)
{
	struct ferry_error err = { 0 };
	struct orch_result res;

	(void)state;
	world(1, true);
	fdb[0].fenced[DB_OLD] = true;
	eps[0].paused = eps[1].paused = true;
	assert_int_equal(orch_switch(dbs, 1, DB_FORWARD, &opts, &res, &err), 0);
	assert_int_equal(res.outcome, ORCH_DONE);
	assert_true(res.recovered);
	assert_null(strstr(calls.data, "a.preflight")); /* no second switch */
	assert_writer(1, DB_NEW);
	orch_result_release(&res);
}

/* The budget is hard: a step that would run past it is cut at the
 * deadline, and every endpoint is resumed on old within the budget and
 * the undo's own time. */
static void test_budget_is_hard(void **state)
{
	struct ferry_error err = { 0 };
	struct orch_result res;
	int64_t t0;

	(void)state;
	world(1, true);
	edb[0].budget_ms = 100;
	fdb[0].sleep_ms = 5000;
	t0 = time_mono_ms();
	assert_int_equal(orch_switch(dbs, 1, DB_FORWARD, &opts, &res, &err), FERRY_EBUDGET);
	assert_int_equal(res.outcome, ORCH_UNDONE);
	assert_true(time_mono_ms() - t0 < 100 + ORCH_UNDO_MS + 250);
	assert_true(res.pause_ms <= 100 + ORCH_UNDO_MS + 250);
	assert_non_null(strstr(err.msg, "wait_applied"));
	assert_writer(1, DB_OLD);
	orch_result_release(&res);
}

static volatile sig_atomic_t got_term;
static size_t term_at; /* calls.len when the handler ran */

static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
	term_at = calls.len;
}

/* SIGTERM inside the pause waits until the pause is over. */
static void test_signals_wait_for_the_end_of_the_pause(void **state)
{
	struct ferry_error err = { 0 };
	struct orch_result res;
	struct sigaction sa, old;

	(void)state;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, &old);
	world(1, true);
	fdb[0].raise_sigterm = true;
	got_term = 0;
	assert_int_equal(orch_switch(dbs, 1, DB_FORWARD, &opts, &res, &err), 0);
	assert_true(got_term);
	/* delivered after the last RESUME, not at the fence that raised it */
	assert_true(term_at >= (size_t)(strstr(calls.data, "a.ep2.resume") - calls.data));
	sigaction(SIGTERM, &old, NULL);
	orch_result_release(&res);
}

/* Endpoints that cannot hold work are pointed at the commit point, after
 * the held ones are confirmed; a failure there completes, never undoes. */
static void test_live_endpoints_point_at_the_commit_point(void **state)
{
	struct ferry_error err = { 0 };
	struct orch_result res;

	(void)state;
	world(1, false);
	assert_int_equal(orch_switch(dbs, 1, DB_FORWARD, &opts, &res, &err), 0);
	assert_null(strstr(calls.data, "pause"));
	assert_non_null(strstr(calls.data, "a.prepare_reverse a.ep1.point a.ep2.point"));
	assert_writer(1, DB_NEW);
	orch_result_release(&res);

	world(1, false);
	eps[1].fail = "point";
	assert_int_equal(orch_switch(dbs, 1, DB_FORWARD, &opts, &res, &err), 0);
	assert_false(res.recovered);
	assert_non_null(strstr(calls.data, "a.ep2.point_now(new)"));
	assert_null(strstr(calls.data, "revert"));
	assert_writer(1, DB_NEW);
	orch_result_release(&res);
}

/* FERRY_FAIL_AT=db.STEP:N fails the N-th call of a step (per endpoint
 * where it fans out). */
static void test_fail_at_names_one_call(void **state)
{
	struct ferry_error err = { 0 };
	struct orch_result res;

	(void)state;
	world(2, true);
	setenv("FERRY_FAIL_AT", "db.fence:2", 1);
	assert_true(orch_switch(dbs, 2, DB_FORWARD, &opts, &res, &err) < 0);
	unsetenv("FERRY_FAIL_AT");
	assert_non_null(strstr(err.msg, "injected"));
	assert_non_null(strstr(err.msg, "database b"));
	assert_null(strstr(calls.data, "b.fence(old)")); /* it did not act */
	assert_non_null(strstr(calls.data, "a.unfence(old)"));
	assert_writer(2, DB_OLD);
	orch_result_release(&res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_switch_runs_the_protocol_in_order),
		cmocka_unit_test(test_failure_at_each_step_is_undone),
		cmocka_unit_test(test_point_failure_reverts_every_endpoint),
		cmocka_unit_test(test_failed_revert_fences_the_target_first),
		cmocka_unit_test(test_failure_after_the_commit_point_completes),
		cmocka_unit_test(test_two_databases_move_all_or_nothing),
		cmocka_unit_test(test_preflight_of_every_database_before_any_pause),
		cmocka_unit_test(test_recovery_decides_from_positions),
		cmocka_unit_test(test_half_done_switch_is_recovered_first),
		cmocka_unit_test(test_budget_is_hard),
		cmocka_unit_test(test_signals_wait_for_the_end_of_the_pause),
		cmocka_unit_test(test_live_endpoints_point_at_the_commit_point),
		cmocka_unit_test(test_fail_at_names_one_call),
	};
	int rc;

	buf_init(&calls, 1 << 20);
	unsetenv("FERRY_FAIL_AT");
	unsetenv("FERRY_CRASH_AT");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	buf_release(&calls);
	return rc;
}
