/*
 * status.c - `ferry status PLAN [--json] [--watch]`: where a migration
 * stands, read from its journal (never changing it, never taking the run
 * lock, so it works while `ferry run` is busy): the phase and since when,
 * whether a run is active, the error that stopped the last run, the latest
 * evaluation of each gate with its evidence, the latest value of every
 * series (lag, weights, error rate, latency) against the plan's
 * thresholds, the traffic split's requested share beside the realised one,
 * steps that a crash left open, after the cutover whether the
 * world (DNS answers, traffic weights, the databases' writers) still is
 * as the journal says the migration left it (core/world.h), and the exact
 * next command.
 *
 * build() makes one JSON object of it all; the text is printed from that
 * object, so the two never say different things.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "core/answers.h"
#include "core/engine.h"
#include "core/world.h"
#include "journal/journal.h"
#include "plan/plan.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

enum {
	OPT_WATCH = CMD_OPT_FIRST_PRIVATE
};

/* The newest evaluation of each (phase, gate). */
static int collect_gate(const struct journal_gate *g, void *ctx)
{
	json_t *gates = ctx, *o = json_object();
	char key[256], t[32];

	time_rfc3339(g->t_ms / 1000, t, sizeof(t));
	snprintf(key, sizeof(key), "%s/%s", g->phase, g->gate);
	json_object_set_new(o, "phase", json_string(g->phase));
	json_object_set_new(o, "gate", json_string(g->gate));
	json_object_set_new(o, "ok", json_boolean(g->ok));
	json_object_set_new(o, "evidence", json_string(g->evidence));
	json_object_set_new(o, "at", json_string(t));
	json_object_set_new(gates, key, o); /* a later one replaces an earlier one */
	return 0;
}

struct series_ctx {
	struct journal *j;
	json_t *out;
};

struct status_view {
	const struct plan *p;
	const char *state;     /* the journal */
	const char *state_opt; /* --state as given, NULL for the default */
};

static int last_point(int64_t t_ms, double value, void *ctx)
{
	double *last = ctx;

	(void)t_ms;
	*last = value;
	return 0;
}

static int collect_series(const char *series, const char *object, void *vctx)
{
	struct series_ctx *c = vctx;
	double last = 0;
	json_t *s;

	/* Only the last minute is read: a status is about now. */
	journal_samples_foreach(c->j, series, object, time_wall_ms() - 60000, INT64_MAX, last_point,
	                        &last, NULL);
	s = json_object_get(c->out, series);
	if (!s) {
		s = json_object();
		json_object_set_new(c->out, series, s);
	}
	/* no series is negative but where a driver could not tell (-1):
	 * unknown, never a -1 in the output */
	json_object_set_new(s, object[0] ? object : "-", last < 0 ? json_null() : json_real(last));
	return 0;
}

/* The last value of series/object at any time, or NaN. */
static double last_ever(struct journal *j, const char *series, const char *object)
{
	double last = NAN;

	journal_samples_foreach(j, series, object, 0, INT64_MAX, last_point, &last, NULL);
	return last;
}

/* The split: the share requested (the weights ferry set) beside the share
 * realised (the requests the backends served, since the step began). */
static json_t *traffic(const struct plan *p, struct journal *j)
{
	double want, got;
	json_t *o;

	if (!p->traffic.present)
		return json_null();
	want = last_ever(j, "weight_new_pct", p->traffic.backend);
	got = last_ever(j, "share_new_pct", p->traffic.backend);
	o = json_pack("{s:s, s:s}", "via", p->traffic.via, "backend", p->traffic.backend);
	json_object_set_new(o, "requested_pct", isnan(want) ? json_null() : json_real(want));
	json_object_set_new(o, "realised_pct", isnan(got) ? json_null() : json_real(got));
	return o;
}

/* Each database's initial sync, as the replicate phase last recorded it. */
static json_t *progress(const struct plan *p, struct journal *j)
{
	json_t *o = json_object();
	char key[160], *v = NULL;
	size_t i;

	for (i = 0; i < p->ndatabases; i++) {
		json_t *tables;

		snprintf(key, sizeof(key), "replicate.progress.%s", p->databases[i].name);
		if (journal_get(j, key, &v, NULL) < 0)
			continue;
		tables = json_loads(v, 0, NULL);
		free(v);
		if (tables)
			json_object_set_new(o, p->databases[i].name, tables);
	}
	return o;
}

/* Each database's way back after a cutover: what the last sample said
 * (wayback.DATABASE), and whether the reverse stream was started and the
 * forward one dropped in this round (the after-switch steps, retried by
 * every run while missing). */
static json_t *way_back(const struct plan *p, struct journal *j)
{
	json_t *o = json_object();
	char *round = NULL, object[160];
	size_t i;

	if (journal_get(j, "cutover.round", &round, NULL) < 0)
		round = xstrdup("1");
	snprintf(object, sizeof(object), "databases (round %s)", round);
	if (journal_step_find_done(j, "db.switch", object, NULL, NULL) < 0) {
		free(round);
		return o; /* no cutover in this round: no way back to watch */
	}
	for (i = 0; i < p->ndatabases; i++) {
		const char *name = p->databases[i].name;
		char key[160], *state = NULL;
		bool started, dropped;

		snprintf(key, sizeof(key), "wayback.%s", name);
		journal_get(j, key, &state, NULL);
		snprintf(object, sizeof(object), "%s (round %s)", name, round);
		started = journal_step_find_done(j, "db.start_reverse", object, NULL, NULL) == 0;
		dropped = journal_step_find_done(j, "db.drop_forward", object, NULL, NULL) == 0;
		json_object_set_new(
		        o, name,
		        json_pack("{s:s?, s:b, s:b, s:b}", "sampled", state, "reverse_started",
		                  started, "forward_dropped", dropped, "alarm",
		                  !started || !dropped || (state && strcmp(state, "ok"))));
		free(state);
	}
	free(round);
	return o;
}

/* A word for a shell command line: quoted when it holds anything special. */
static void shell_word(struct buf *b, const char *w)
{
	const char *c;

	if (*w && strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	                    "-_./:+=@%,") == strlen(w)) {
		buf_adds(b, w);
		return;
	}
	buf_adds(b, "'");
	for (c = w; *c; c++)
		if (*c == '\'')
			buf_adds(b, "'\\''");
		else
			buf_addf(b, "%c", *c);
	buf_adds(b, "'");
}

/* "ferry CMD PLAN [--state S] [EXTRA]", as the operator would type it;
 * state NULL: the one status was given. */
static json_t *command(const struct status_view *sv, const char *cmd, const char *state,
                       const char *extra)
{
	struct buf b;
	json_t *s;

	buf_init(&b, 8192);
	buf_addf(&b, "ferry %s ", cmd);
	shell_word(&b, sv->p->path);
	if (!state)
		state = sv->state_opt;
	if (state) {
		buf_adds(&b, " --state ");
		shell_word(&b, state);
	}
	if (extra)
		buf_addf(&b, " %s", extra);
	s = json_string(b.data);
	buf_release(&b);
	return s;
}

/* After the cutover the journal says where everything points: compare it
 * with the world (core/world.h), read only.  null before the cutover. */
static json_t *world(const struct plan *p, struct journal *j, const char *phase)
{
	struct check_rows rows;
	json_t *a;
	size_t i;

	if (!phase || (strcmp(phase, "decommission") && strcmp(phase, "done")))
		return json_null();
	check_rows_init(&rows);
	world_compare(p, j, &rows);
	a = json_array();
	for (i = 0; i < rows.n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s}", "check", rows.v[i].check,
		                                   "object", rows.v[i].object, "status",
		                                   check_status_name(rows.v[i].status), "message",
		                                   rows.v[i].message));
	check_rows_release(&rows);
	return a;
}

/* Whether a world row disagrees with the journal. */
static bool world_disagrees(const json_t *o)
{
	const json_t *w = json_object_get(o, "world");
	size_t i;

	for (i = 0; i < json_array_size(w); i++)
		if (!strcmp(json_string_value(json_object_get(json_array_get(w, i), "status")),
		            "fail"))
			return true;
	return false;
}

/* What to type next, and why (DESIGN §5: every state says its way on). */
static json_t *next_step(const struct status_view *sv, const json_t *o)
{
	const json_t *err = json_object_get(o, "last_error");
	const char *phase = json_string_value(json_object_get(o, "phase"));
	json_t *run = json_object_get(o, "run"), *n = json_object();
	char why[1024], *st;

	if (json_is_true(json_object_get(run, "active"))) {
		snprintf(why, sizeof(why), "a run is active (pid %lld); watch it",
		         (long long)json_integer_value(json_object_get(run, "pid")));
		json_object_set_new(n, "command", command(sv, "status", NULL, "--watch"));
	} else if (json_is_true(json_object_get(o, "rollback_pending"))) {
		snprintf(why, sizeof(why),
		         "a rollback was interrupted; the next run finishes it "
		         "before anything else");
		json_object_set_new(n, "command", command(sv, "run", NULL, NULL));
	} else if (json_array_size(json_object_get(o, "open_steps"))) {
		snprintf(why, sizeof(why),
		         "a run was interrupted; the next one checks the world "
		         "for its open steps first");
		json_object_set_new(n, "command", command(sv, "run", NULL, NULL));
	} else if (json_is_object(err)) {
		const char *hint = json_string_value(json_object_get(err, "hint"));

		snprintf(why, sizeof(why), "the last run failed in %s; %s%s",
		         json_string_value(json_object_get(err, "phase")),
		         hint && *hint ? "first: " : "fix what it says, then run again",
		         hint && *hint ? hint : "");
		json_object_set_new(n, "command", command(sv, "run", NULL, NULL));
	} else if (world_disagrees(o)) {
		snprintf(why, sizeof(why),
		         "the world disagrees with the journal's end state "
		         "(above): find out who changed it; check shows the rest");
		json_object_set_new(n, "command", command(sv, "check", NULL, NULL));
	} else if (phase && !strcmp(phase, "done")) {
		snprintf(why, sizeof(why),
		         "the migration is complete; another one of this plan "
		         "needs a new journal");
		st = cmd_state_path_next(sv->state);
		json_object_set_new(n, "command", command(sv, "run", st, NULL));
		free(st);
	} else {
		snprintf(why, sizeof(why), "goes on from the %s phase as far as the gates allow",
		         phase);
		json_object_set_new(n, "command", command(sv, "run", NULL, NULL));
	}
	json_object_set_new(n, "why", json_string(why));
	return n;
}

/* A threshold, or null when the plan sets none (never a -1). */
static json_t *threshold(double v)
{
	return v < 0 ? json_null() : json_real(v);
}

static json_t *build(const struct status_view *sv, struct journal *j, struct ferry_error *err)
{
	const struct plan *p = sv->p;
	json_t *o = json_object(), *gates = json_object(), *series = json_object(), *open, *run;
	struct series_ctx sc = { j, series };
	struct journal_step_list steps = { 0 };
	char *phase = NULL, *v = NULL, t[32];
	int64_t entered = 0;
	long pid = 0;
	size_t i;

	json_object_set_new(o, "plan", json_string(p->name));
	json_object_set_new(o, "plan_path", json_string(p->path));
	if (journal_phase_get(j, &phase, &entered, err) == 0) {
		time_rfc3339(entered / 1000, t, sizeof(t));
		json_object_set_new(o, "phase", json_string(phase));
		json_object_set_new(o, "since", json_string(t));
		if (!strcmp(phase, "done"))
			json_object_set_new(o, "finished", json_string(t));
	} else {
		json_object_set_new(o, "phase", json_string("not started"));
	}
	free(phase);
	run = json_object();
	json_object_set_new(run, "active", json_boolean(journal_lock_holder(sv->state, &pid) == 1));
	json_object_set_new(run, "pid", pid > 0 ? json_integer(pid) : json_null());
	json_object_set_new(o, "run", run);
	if (journal_get(j, ENGINE_LAST_ERROR, &v, NULL) == 0) {
		json_t *e = json_loads(v, 0, NULL);

		if (json_is_string(json_object_get(e, "hint"))) {
			char hint[1024];

			cmd_hint_expand(json_string_value(json_object_get(e, "hint")), hint,
			                sizeof(hint));
			json_object_set_new(e, "hint", json_string(hint));
		}
		if (e && json_integer_value(json_object_get(e, "at_ms"))) {
			time_rfc3339(json_integer_value(json_object_get(e, "at_ms")) / 1000, t,
			             sizeof(t));
			json_object_set_new(e, "at", json_string(t));
			json_object_del(e, "at_ms");
		}
		json_object_set_new(o, "last_error", e ? e : json_null());
		free(v);
	} else {
		json_object_set_new(o, "last_error", json_null());
	}
	v = NULL;
	json_object_set_new(o, "rollback_pending",
	                    json_boolean(journal_get(j, "rollback.pending", &v, NULL) == 0));
	free(v);
	journal_gates_foreach(j, NULL, collect_gate, gates, NULL);
	json_object_set_new(o, "gates", gates);
	journal_series_foreach(j, collect_series, &sc, NULL);
	json_object_set_new(o, "latest", series);
	open = json_array();
	if (journal_steps_open(j, &steps, NULL) == 0)
		for (i = 0; i < steps.n; i++)
			json_array_append_new(open,
			                      json_pack("{s:s, s:s, s:I}", "step", steps.v[i].name,
			                                "object", steps.v[i].object, "pid",
			                                (json_int_t)steps.v[i].pid));
	journal_step_list_release(&steps);
	json_object_set_new(o, "open_steps", open);
	json_object_set_new(o, "initial_sync", progress(p, j));
	json_object_set_new(o, "traffic", traffic(p, j));
	json_object_set_new(o, "way_back", way_back(p, j));
	{
		struct rollback_answers a;

		rollback_answers_build(p, j, NULL, &a);
		json_object_set_new(o, "rollback", rollback_answers_json(&a));
	}
	json_object_set_new(o, "thresholds",
	                    json_pack("{s:o, s:o, s:o}", "error_rate_pct",
	                              threshold(p->rollback.error_rate), "latency_p99_ms",
	                              threshold((double)p->rollback.latency_p99_ms),
	                              "health_failures", threshold(p->rollback.health_failures)));
	json_object_set_new(o, "world",
	                    world(p, j, json_string_value(json_object_get(o, "phase"))));
	json_object_set_new(o, "next", next_step(sv, o));
	return o;
}

/* "error rate > 1 %, p99 > 800 ms, 3 health failures", or "none set". */
static void triggers_text(const json_t *th, char *out, size_t len)
{
	const json_t *er = json_object_get(th, "error_rate_pct");
	const json_t *p99 = json_object_get(th, "latency_p99_ms");
	const json_t *hf = json_object_get(th, "health_failures");
	size_t used = 0;

	out[0] = '\0';
	if (json_is_number(er))
		used += (size_t)snprintf(out + used, len - used, "error rate > %g %%",
		                         json_number_value(er));
	if (json_is_number(p99) && used < len)
		used += (size_t)snprintf(out + used, len - used, "%sp99 > %g ms", used ? ", " : "",
		                         json_number_value(p99));
	if (json_is_number(hf) && used < len)
		used += (size_t)snprintf(out + used, len - used, "%s%g health failures in a row",
		                         used ? ", " : "", json_number_value(hf));
	if (!used)
		snprintf(out, len, "none set (rollback.when in the plan)");
}

static void print_table(const json_t *o)
{
	const char *key, *k2, *ok = cmd_sgr(stdout, "green"), *bad = cmd_sgr(stdout, "red"),
	                      *bold = cmd_sgr(stdout, "bold"), *off = cmd_sgr(stdout, "reset");
	const json_t *err = json_object_get(o, "last_error"), *run = json_object_get(o, "run");
	json_t *v, *v2;
	char text[512];
	size_t i;

	printf("plan %s: phase %s", json_string_value(json_object_get(o, "plan")),
	       json_string_value(json_object_get(o, "phase")));
	if (json_object_get(o, "since"))
		printf(" since %s", json_string_value(json_object_get(o, "since")));
	printf("\n");
	if (json_is_true(json_object_get(run, "active")))
		printf("a run is active (pid %lld)\n",
		       (long long)json_integer_value(json_object_get(run, "pid")));
	else
		printf("no run is active\n");
	if (json_is_object(err)) {
		printf("\n%slast error%s (%s, in %s): %s\n", bad, off,
		       json_string_value(json_object_get(err, "at")),
		       json_string_value(json_object_get(err, "phase")),
		       json_string_value(json_object_get(err, "message")));
		if (json_string_length(json_object_get(err, "hint")))
			printf("  hint: %s\n", json_string_value(json_object_get(err, "hint")));
	}
	printf("\ngates (latest evaluation)\n");
	if (!json_object_size(json_object_get(o, "gates")))
		printf("  none evaluated yet\n");
	json_object_foreach(json_object_get(o, "gates"), key, v)
	{
		bool held = json_is_true(json_object_get(v, "ok"));

		printf("  %s%-4s%s %-32s %s\n", held ? ok : bad, held ? "ok" : "HOLD", off, key,
		       json_string_value(json_object_get(v, "evidence")));
	}
	printf("\nlatest values (last minute)\n");
	if (!json_object_size(json_object_get(o, "latest")))
		printf("  none\n");
	json_object_foreach(json_object_get(o, "latest"), key, v)
	{
		json_object_foreach(v, k2, v2)
		{
			if (json_is_null(v2))
				printf("  %-16s %-24s unknown\n", key, k2);
			else
				printf("  %-16s %-24s %.3g\n", key, k2, json_real_value(v2));
		}
	}
	v = json_object_get(o, "traffic");
	if (json_is_object(v)) {
		json_t *want = json_object_get(v, "requested_pct"),
		       *got = json_object_get(v, "realised_pct");

		printf("\ntraffic split (via %s): requested ",
		       json_string_value(json_object_get(v, "via")));
		if (json_is_real(want))
			printf("%.3g %% to new", json_real_value(want));
		else
			printf("nothing yet");
		if (json_is_real(got))
			printf(", realised %.3g %% (requests served by the backends)",
			       json_real_value(got));
		printf("\n");
	}
	triggers_text(json_object_get(o, "thresholds"), text, sizeof(text));
	printf("\nrollback triggers: %s\n", text);
	rollback_answers_print(json_object_get(o, "rollback"), stdout);
	json_object_foreach(json_object_get(o, "initial_sync"), key, v)
	{
		size_t ready = 0, n = json_array_size(v);

		for (i = 0; i < n; i++)
			ready += json_is_true(json_object_get(json_array_get(v, i), "ready"));
		printf("initial sync of %s: %zu/%zu tables ready\n", key, ready, n);
	}
	json_object_foreach(json_object_get(o, "way_back"), key, v)
	{
		const char *st = json_string_value(json_object_get(v, "sampled"));
		if (!json_is_true(json_object_get(v, "alarm"))) {
			printf("way back of %s: ok (reverse stream runs)\n", key);
			continue;
		}
		printf("ALARM way back of %s:%s%s%s%s\n", key,
		       json_is_true(json_object_get(v, "reverse_started"))
		               ? ""
		               : " the reverse stream was not started;",
		       json_is_true(json_object_get(v, "forward_dropped"))
		               ? ""
		               : " the forward stream was not dropped;",
		       st && strcmp(st, "ok") ? " last sample: " : "",
		       st && strcmp(st, "ok") ? st : "");
		printf("      `ferry run` retries the missing steps; a rollback needs the reverse "
		       "stream\n");
	}
	v = json_object_get(o, "open_steps");
	if (json_array_size(v))
		printf("\nopen steps (a run was interrupted inside them)\n");
	for (i = 0; i < json_array_size(v); i++)
		printf("  %s %s (pid %lld)\n",
		       json_string_value(json_object_get(json_array_get(v, i), "step")),
		       json_string_value(json_object_get(json_array_get(v, i), "object")),
		       (long long)json_integer_value(json_object_get(json_array_get(v, i), "pid")));
	v = json_object_get(o, "world");
	if (json_array_size(v))
		printf("\nthe world, asked now, against the journal's end state\n");
	for (i = 0; i < json_array_size(v); i++) {
		const json_t *r = json_array_get(v, i);
		const char *st = json_string_value(json_object_get(r, "status"));

		printf("  %s%-4s%s %-14s %-20s %s\n",
		       !strcmp(st, "ok")     ? ok
		       : !strcmp(st, "fail") ? bad
		                             : "",
		       !strcmp(st, "ok")     ? "ok"
		       : !strcmp(st, "fail") ? "DIFF"
		                             : "?",
		       off, json_string_value(json_object_get(r, "check")),
		       json_string_value(json_object_get(r, "object")),
		       json_string_value(json_object_get(r, "message")));
	}
	v = json_object_get(o, "next");
	printf("\n%snext:%s %s\n  (%s)\n", bold, off,
	       json_string_value(json_object_get(v, "command")),
	       json_string_value(json_object_get(v, "why")));
}

static int own_option(int opt, const char *arg, void *ctx)
{
	(void)arg;
	if (opt != OPT_WATCH)
		return 1;
	*(bool *)ctx = true;
	return 0;
}

int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONGOPTS,
		{ "watch", no_argument, NULL, OPT_WATCH },
		{ 0 },
	};
	struct cmd_common c = { .secrets_optional = true };
	struct ferry_error err = { 0 };
	struct status_view sv = { 0 };
	struct plan *p = NULL;
	bool watch = false, tty;
	char *state = NULL;
	int code = EXIT_DONE, r;

	if (!cmd_start(argc, argv, longopts, own_option, &watch, &c, &p, &state, &code))
		return code;
	sv.p = p;
	sv.state = state;
	sv.state_opt = c.state;
	/* Only a terminal is redrawn in place: a pipe or a log file gets each
	 * status after the other, with no escape codes. */
	tty = isatty(STDOUT_FILENO);
	for (;;) {
		struct journal *j = NULL;
		json_t *o;
		char now[32];

		r = journal_open(&j, state, JOURNAL_OPEN_READONLY, &err);
		if (r < 0) {
			if (r == FERRY_ENOTFOUND) {
				char hint[600];

				snprintf(hint, sizeof(hint), "start it: ferry run %s%s%s", p->path,
				         c.state ? " --state " : "", c.state ? c.state : "");
				ferry_error_set(&err, r, hint, "plan %s has no journal at %s yet",
				                p->name, state);
			}
			code = cmd_fail(&err);
			break;
		}
		o = build(&sv, j, &err);
		journal_close(j);
		if (watch && !c.json && tty) {
			fputs("\033[H\033[2J", stdout); /* home, clear: refresh in place */
		} else if (watch && !c.json) {
			time_rfc3339(time_now(), now, sizeof(now));
			printf("--- %s\n", now);
		}
		if (c.json) {
			json_dumpf(o, stdout,
			           (watch ? JSON_COMPACT : JSON_INDENT(2)) | JSON_PRESERVE_ORDER);
			fputc('\n', stdout);
		} else {
			print_table(o);
		}
		json_decref(o);
		fflush(stdout);
		if (!watch)
			break;
		sleep(1);
	}
	free(state);
	plan_free(p);
	return code;
}
