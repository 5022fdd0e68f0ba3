/*
 * status.c - `ferry status PLAN [--json] [--watch]`: where a migration
 * stands, read from its journal (never changing it, never taking the run
 * lock, so it works while `ferry run` is busy): the phase and since when,
 * the latest evaluation of each gate with its evidence, the latest value of
 * every series (lag, weights, error rate, latency) against the plan's
 * thresholds, and steps that a crash left open.
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
#include "journal/journal.h"
#include "plan/plan.h"
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
	json_object_set_new(s, object[0] ? object : "-", json_real(last));
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

static json_t *build(const struct plan *p, struct journal *j, struct ferry_error *err)
{
	json_t *o = json_object(), *gates = json_object(), *series = json_object(), *open;
	struct series_ctx sc = { j, series };
	struct journal_step_list steps = { 0 };
	char *phase = NULL, t[32];
	int64_t entered = 0;
	size_t i;

	json_object_set_new(o, "plan", json_string(p->name));
	if (journal_phase_get(j, &phase, &entered, err) == 0) {
		time_rfc3339(entered / 1000, t, sizeof(t));
		json_object_set_new(o, "phase", json_string(phase));
		json_object_set_new(o, "since", json_string(t));
	} else {
		json_object_set_new(o, "phase", json_string("not started"));
	}
	free(phase);
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
	json_object_set_new(o, "thresholds",
	                    json_pack("{s:f, s:I, s:i}", "error_rate_pct", p->rollback.error_rate,
	                              "latency_p99_ms", (json_int_t)p->rollback.latency_p99_ms,
	                              "health_failures", p->rollback.health_failures));
	return o;
}

static void print_table(const json_t *o)
{
	const char *key, *k2;
	json_t *v, *v2;
	size_t i;

	printf("plan %s: phase %s", json_string_value(json_object_get(o, "plan")),
	       json_string_value(json_object_get(o, "phase")));
	if (json_object_get(o, "since"))
		printf(" since %s", json_string_value(json_object_get(o, "since")));
	printf("\n\ngates (latest evaluation)\n");
	if (!json_object_size(json_object_get(o, "gates")))
		printf("  none evaluated yet\n");
	json_object_foreach(json_object_get(o, "gates"), key, v)
	        printf("  %-4s %-32s %s\n", json_is_true(json_object_get(v, "ok")) ? "ok" : "HOLD",
	               key, json_string_value(json_object_get(v, "evidence")));
	printf("\nlatest values (last minute)\n");
	if (!json_object_size(json_object_get(o, "latest")))
		printf("  none\n");
	json_object_foreach(json_object_get(o, "latest"), key, v) json_object_foreach(v, k2, v2)
	        printf("  %-16s %-24s %.3g\n", key, k2, json_real_value(v2));
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
	v = json_object_get(o, "thresholds");
	printf("\nrollback triggers: error rate > %g %%, p99 > %lld ms, %d health failures\n",
	       json_real_value(json_object_get(v, "error_rate_pct")),
	       (long long)json_integer_value(json_object_get(v, "latency_p99_ms")),
	       (int)json_integer_value(json_object_get(v, "health_failures")));
	json_object_foreach(json_object_get(o, "initial_sync"), key, v)
	{
		size_t ready = 0, n = json_array_size(v);

		for (i = 0; i < n; i++)
			ready += json_is_true(json_object_get(json_array_get(v, i), "ready"));
		printf("initial sync of %s: %zu/%zu tables ready\n", key, ready, n);
	}
	v = json_object_get(o, "open_steps");
	for (i = 0; i < json_array_size(v); i++)
		printf("open step (a run was interrupted): %s %s (pid %lld)\n",
		       json_string_value(json_object_get(json_array_get(v, i), "step")),
		       json_string_value(json_object_get(json_array_get(v, i), "object")),
		       (long long)json_integer_value(json_object_get(json_array_get(v, i), "pid")));
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
	struct cmd_common c = { 0 };
	struct ferry_error err = { 0 };
	struct plan *p = NULL;
	bool watch = false;
	char *state = NULL;
	int code = EXIT_DONE, r;

	if (!cmd_start(argc, argv, longopts, own_option, &watch, &c, &p, &state, &code))
		return code;
	for (;;) {
		struct journal *j = NULL;
		json_t *o;

		r = journal_open(&j, state, JOURNAL_OPEN_READONLY, &err);
		if (r < 0) {
			if (r == FERRY_ENOTFOUND)
				ferry_error_set(&err, r, "run 'ferry run PLAN' to start",
				                "plan %s has no journal at %s yet", p->name, state);
			code = cmd_fail(&err);
			break;
		}
		o = build(p, j, &err);
		journal_close(j);
		if (watch && !c.json)
			fputs("\033[H\033[2J", stdout); /* home, clear: refresh in place */
		if (c.json) {
			json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
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
