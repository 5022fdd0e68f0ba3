/*
 * engine.c - the phase loop, journaled steps, crash resolution and time
 * gates.  See engine.h for the contract and engine_internal.h for how the
 * phases (phase_*.c) plug in.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/endpoints.h"
#include "core/engine_internal.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

static const char *const phase_names[] = {
	[ENGINE_PREPARE] = "prepare",           [ENGINE_REPLICATE] = "replicate",
	[ENGINE_VALIDATE] = "validate",         [ENGINE_CUTOVER] = "cutover",
	[ENGINE_DECOMMISSION] = "decommission", [ENGINE_DONE] = "done",
};

const char *engine_phase_name(enum engine_phase ph)
{
	return ph <= ENGINE_DONE ? phase_names[ph] : "?";
}

int engine_phase_parse(const char *s, enum engine_phase *out)
{
	size_t i;

	for (i = 0; i <= ENGINE_DONE; i++) {
		if (!strcmp(s, phase_names[i])) {
			*out = (enum engine_phase)i;
			return 0;
		}
	}
	return FERRY_EINVAL;
}

int engine_open(struct engine **out, const struct plan *p, const char *state,
                const struct engine_opts *opts, struct ferry_error *err)
{
	struct engine *e = xcalloc(1, sizeof(*e));
	char *phase = NULL, v[32];
	int64_t entered;
	int r;

	e->plan = p;
	e->opts = *opts;
	e->state = xstrdup(state);
	if (opts->dry_run) {
		/* A dry run reads the journal if there is one, and writes
		 * nothing, not even a journal. */
		r = journal_open(&e->j, state, JOURNAL_OPEN_READONLY, err);
		if (r == FERRY_ENOTFOUND) {
			e->phase = ENGINE_PREPARE;
			*out = e;
			return 0;
		}
	} else {
		r = journal_open(&e->j, state, JOURNAL_OPEN_CREATE, err);
		if (r == 0)
			r = journal_lock(e->j, err);
	}
	if (r < 0)
		goto fail;
	r = journal_phase_get(e->j, &phase, &entered, err);
	if (r == FERRY_ENOTFOUND) {
		e->phase = ENGINE_PREPARE;
	} else if (r < 0) {
		goto fail;
	} else if (engine_phase_parse(phase, &e->phase) == 0) {
		e->phase_since_ms = entered;
	} else {
		r = ferry_error_set(err, FERRY_ESTATE, "was the journal written by a newer ferry?",
		                    "journal %s: unknown phase '%s'", state, phase);
		goto fail;
	}
	free(phase);
	phase = NULL;
	if (opts->dry_run) {
		*out = e;
		return 0;
	}
	/* For the report, which reads the journal without the plan: its
	 * title and the trigger thresholds it draws. */
	r = journal_set(e->j, "plan.name", p->name, err);
	if (r < 0)
		goto fail;
	if (p->rollback.error_rate >= 0) {
		snprintf(v, sizeof(v), "%g", p->rollback.error_rate);
		journal_set(e->j, "trigger.error_rate", v, NULL);
	}
	if (p->rollback.latency_p99_ms >= 0) {
		snprintf(v, sizeof(v), "%lld", (long long)p->rollback.latency_p99_ms);
		journal_set(e->j, "trigger.latency_p99_ms", v, NULL);
	}
	*out = e;
	return 0;
fail:
	free(phase);
	engine_close(e);
	return r;
}

void engine_close(struct engine *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->nwb; i++)
		endpoints_db_close(e->wb[i]);
	free(e->wb);
	free(e->wb_broken);
	dns_close(e->dns);
	if (e->lb_drv) {
		e->lb_drv->close(e->lb);
		e->lb_drv->close(e->lb_new);
	}
	journal_close(e->j);
	free(e->state);
	free(e);
}

enum engine_phase engine_phase_now(const struct engine *e)
{
	return e->phase;
}

int64_t engine_phase_since(const struct engine *e)
{
	return e->phase_since_ms;
}

int64_t engine_waiting_until(const struct engine *e, const char **why)
{
	if (why)
		*why = e->wait_why;
	return e->wait_until;
}

int engine_dns(struct engine *e, struct ferry_error *err)
{
	if (e->dns)
		return 0;
	return endpoints_dns_open(e->plan, &e->dns, err);
}

/* FERRY_CRASH_AT=NAME or NAME:after (util/fault.h). */
void engine_crash_point(const char *name, bool after)
{
	fault_crash(name, after);
}

int engine_step_begin(struct engine *e, const char *name, const char *object, const char *detail,
                      int64_t *id, struct ferry_error *err)
{
	int r;

	r = journal_step_begin(e->j, engine_phase_name(e->phase), name, object, detail, id, err);
	if (r < 0)
		return r;
	engine_crash_point(name, false);
	return 0;
}

int engine_step_done(struct engine *e, int64_t id, const char *name, bool ok, const char *result,
                     struct ferry_error *err)
{
	engine_crash_point(name, true);
	return journal_step_done(e->j, id, ok, result, err);
}

char *engine_detail(const char *fmt, ...)
{
	json_t *v;
	va_list ap;
	char *s;

	va_start(ap, fmt);
	v = json_vpack_ex(NULL, 0, fmt, ap);
	va_end(ap);
	if (!v)
		BUG("bad pack format %s", fmt);
	s = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	if (!s)
		BUG("json_dumps failed");
	return s;
}

/* The time gate each phase can wait at (engine_wait), for the heartbeat. */
static const char *const time_gates[] = {
	[ENGINE_PREPARE] = "cutover_ttl",          [ENGINE_REPLICATE] = "soak",
	[ENGINE_VALIDATE] = "traffic steps",       [ENGINE_CUTOVER] = "cutover window",
	[ENGINE_DECOMMISSION] = "rollback window", [ENGINE_DONE] = "-",
};

static void emit(struct engine *e, enum engine_event_kind kind, const char *object,
                 const char *message, const char *line)
{
	struct engine_event ev = {
		.kind = kind,
		.phase = engine_phase_name(e->phase),
		.object = object ? object : "",
		.message = message,
		.line = line,
		.waiting_for = e->waiting ? e->wait_why : NULL,
		.gate = e->waiting ? time_gates[e->phase] : NULL,
		.until = e->waiting ? e->wait_until : 0,
	};

	if (e->opts.progress)
		e->opts.progress(e->opts.ctx, &ev);
}

void engine_say(struct engine *e, const char *object, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n = 0;

	if (object && *object)
		n = snprintf(line, sizeof(line), "%s: ", object);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	emit(e, ENGINE_EVENT_SAY, object, line + n, line);
	journal_event_add(e->j, LOG_LEVEL_INFO, object, NULL, "%s", line);
}

/* Without a terminal nothing shows a live line: every heartbeat_ms (and at
 * the first live line of a run) it goes out as a heartbeat, with the phase
 * and, in a time gate, what is waited for and until when. */
static void heartbeat(struct engine *e, const char *live)
{
	char line[1024], until[32], left[32];
	int64_t now = time_mono_ms();

	if (e->opts.progress_tty || e->opts.heartbeat_ms <= 0)
		return;
	if (e->heartbeat_last_ms && now - e->heartbeat_last_ms < e->opts.heartbeat_ms)
		return;
	e->heartbeat_last_ms = now;
	if (e->waiting) {
		time_rfc3339(e->wait_until, until, sizeof(until));
		duration_human((e->wait_until - time_now()) * 1000, left, sizeof(left));
		snprintf(line, sizeof(line),
		         "heartbeat: phase %s, gate %s, waiting for %s until %s, %s left",
		         engine_phase_name(e->phase), time_gates[e->phase], e->wait_why, until,
		         left);
	} else {
		snprintf(line, sizeof(line), "heartbeat: phase %s: %s", engine_phase_name(e->phase),
		         live);
	}
	emit(e, ENGINE_EVENT_HEARTBEAT, NULL, live, line);
}

void engine_live(struct engine *e, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	emit(e, ENGINE_EVENT_LIVE, NULL, line, line);
	heartbeat(e, line);
}

int engine_wait(struct engine *e, int64_t until, const char *fmt, ...)
{
	va_list ap;

	e->wait_until = until;
	va_start(ap, fmt);
	vsnprintf(e->wait_why, sizeof(e->wait_why), fmt, ap);
	va_end(ap);
	return PHASE_WAIT;
}

/* Steps a crashed run left open: their owners check the world. */
int engine_resolve(struct engine *e, struct ferry_error *err)
{
	struct journal_step_list l = { 0 };
	size_t i;
	int r;

	r = journal_steps_open(e->j, &l, err);
	if (r < 0)
		return r;
	for (i = 0; i < l.n && r >= 0; i++) {
		engine_say(e, l.v[i].object,
		           "step %s was interrupted (pid %lld); checking the world", l.v[i].name,
		           (long long)l.v[i].pid);
		r = phase_prepare_resolve(e, &l.v[i], err);
		if (r == 0)
			r = phase_cutover_resolve(e, &l.v[i], err);
		if (r == 0)
			r = journal_step_interrupt(e->j, l.v[i].id, "redone by a later run", err);
	}
	journal_step_list_release(&l);
	return r < 0 ? r : 0;
}

static int run_phase(struct engine *e, struct ferry_error *err)
{
	switch (e->phase) {
	case ENGINE_PREPARE: return phase_prepare(e, err);
	case ENGINE_REPLICATE: return phase_replicate(e, err);
	case ENGINE_VALIDATE: return phase_validate(e, err);
	case ENGINE_CUTOVER: return phase_cutover(e, err);
	case ENGINE_DECOMMISSION: return phase_decommission(e, err);
	case ENGINE_DONE: return PHASE_PASSED;
	}
	BUG("phase %d", (int)e->phase);
}

/* Sleeps until `until` (seconds), showing a countdown every second. */
static void wait_for(struct engine *e, int64_t until)
{
	char left[32];
	int64_t now;

	e->waiting = true;
	while ((now = time_now()) < until) {
		struct timespec ts = { .tv_sec = 1 };

		duration_human((until - now) * 1000, left, sizeof(left));
		engine_live(e, "%s: waiting %s", e->wait_why, left);
		/* the rollback window: the way back is watched while waited for */
		if (e->phase == ENGINE_DECOMMISSION)
			engine_way_back(e);
		nanosleep(&ts, NULL);
	}
	e->waiting = false;
}

static int run_loop(struct engine *e, enum engine_outcome *outcome, struct ferry_error *err)
{
	char now[32], *started = NULL, event[64];
	int r;

	if (e->opts.dry_run)
		BUG("a dry run describes (engine_describe), it does not run");

	if (journal_get(e->j, "prepare.started", &started, NULL) == FERRY_ENOTFOUND) {
		time_rfc3339(time_now(), now, sizeof(now));
		r = journal_phase_set(e->j, engine_phase_name(e->phase), err);
		if (r == 0)
			r = journal_set(e->j, "prepare.started", now, err);
		if (r < 0)
			return r;
	}
	free(started);
	r = engine_resolve(e, err);
	if (r < 0)
		return r;
	/* A rollback a crash interrupted is finished before anything
	 * else: one writer first. */
	if (journal_get(e->j, "rollback.pending", &started, NULL) == 0) {
		r = engine_rollback(e, started, err);
		free(started);
		if (r < 0)
			return r;
		*outcome = ENGINE_ROLLED_BACK;
		return 0;
	}
	for (;;) {
		if (e->phase == ENGINE_DONE) {
			*outcome = ENGINE_FINISHED;
			return 0;
		}
		if (e->phase != ENGINE_CUTOVER) { /* its hook runs just before the switch */
			snprintf(event, sizeof(event), "before_%s", engine_phase_name(e->phase));
			r = engine_hooks(e, event, err);
			if (r < 0)
				return r;
		}
		r = run_phase(e, err);
		if (r < 0) {
			journal_event_add(e->j, LOG_LEVEL_ERROR, engine_phase_name(e->phase), NULL,
			                  "%s", err->msg);
			return r;
		}
		if (r == PHASE_ROLLED_BACK) {
			*outcome = ENGINE_ROLLED_BACK;
			return 0;
		}
		if (r == PHASE_WAIT) {
			if (e->opts.no_wait) {
				*outcome = ENGINE_WAITING;
				return 0;
			}
			wait_for(e, e->wait_until);
			continue;
		}
		engine_say(e, engine_phase_name(e->phase), "gate holds; phase complete");
		snprintf(event, sizeof(event), "after_%s", engine_phase_name(e->phase));
		r = engine_hooks(e, event, err);
		if (r < 0)
			return r;
		if (e->opts.until_set && e->phase == e->opts.until) {
			*outcome = ENGINE_STOPPED;
			return 0;
		}
		e->phase++;
		r = journal_phase_set(e->j, engine_phase_name(e->phase), err);
		if (r < 0)
			return r;
	}
}

/* The error that stopped the last run, for `ferry status` (ENGINE_LAST_ERROR:
 * at, phase, code, message, hint); a new run clears it. */
int engine_run(struct engine *e, enum engine_outcome *outcome, struct ferry_error *err)
{
	char *v;
	int r;

	journal_unset(e->j, ENGINE_LAST_ERROR, NULL);
	r = run_loop(e, outcome, err);
	if (r < 0) {
		v = engine_detail("{s:I, s:s, s:s, s:s, s:s}", "at_ms", (json_int_t)time_wall_ms(),
		                  "phase", engine_phase_name(e->phase), "code", ferry_error_id(r),
		                  "message", err->msg, "hint", err->hint);
		journal_set(e->j, ENGINE_LAST_ERROR, v, NULL);
		free(v);
	}
	return r;
}
