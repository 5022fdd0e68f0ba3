/*
 * report.c - see report.h.
 *
 * Two stages.  model_load() reads everything the page needs from the
 * journal into a struct report_model (report_model.h): phase history,
 * gates, steps, events (the first and last max_rows/2 of them), every
 * series (thinned as it is read, so a week of per-second samples never
 * sits in memory at once) and the few key/values.  report_page_write()
 * (report_page.c) then writes the page from the model alone, and the
 * charts are drawn by report_svg.c.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"
#include "report/report_model.h"
#include "report/report_svg.h"
#include "util/mem.h"

#define DEFAULT_MAX_POINTS 2000
#define DEFAULT_MAX_ROWS   2000

static void seen(struct report_model *m, int64_t t)
{
	if (t <= 0)
		return;
	if (t < m->t_first)
		m->t_first = t;
	if (t > m->t_last)
		m->t_last = t;
}

static void event_row_release(struct report_event *e)
{
	free(e->object);
	free(e->message);
}

static void model_release(struct report_model *m)
{
	size_t i;

	for (i = 0; i < m->nphases; i++)
		free(m->phases[i].name);
	free(m->phases);
	for (i = 0; i < m->ngates; i++) {
		free(m->gates[i].phase);
		free(m->gates[i].gate);
		free(m->gates[i].evidence);
	}
	free(m->gates);
	journal_step_list_release(&m->steps);
	for (i = 0; i < m->nhead; i++)
		event_row_release(&m->head[i]);
	free(m->head);
	for (i = 0; i < m->nring; i++)
		event_row_release(&m->ring[(m->ring_start + i) % m->keep]);
	free(m->ring);
	for (i = 0; i < m->nseries; i++) {
		free(m->series[i].name);
		free(m->series[i].object);
		journal_points_release(&m->series[i].pts);
	}
	free(m->series);
	free(m->rollback_plan);
	free(m->rollback_answers);
	free(m->plan_name);
}

/* ---- loading ---- */

static int on_phase(const char *phase, int64_t entered_ms, void *ctx)
{
	struct report_model *m = ctx;

	XGROW(m->phases, m->aphases, m->nphases + 1);
	m->phases[m->nphases].name = xstrdup(phase);
	m->phases[m->nphases].t_ms = entered_ms;
	m->nphases++;
	seen(m, entered_ms);
	return 0;
}

static int on_gate(const struct journal_gate *g, void *ctx)
{
	struct report_model *m = ctx;
	struct report_gate *r;

	XGROW(m->gates, m->agates, m->ngates + 1);
	r = &m->gates[m->ngates++];
	r->t_ms = g->t_ms;
	r->phase = xstrdup(g->phase);
	r->gate = xstrdup(g->gate);
	r->evidence = xstrdup(g->evidence);
	r->ok = g->ok;
	m->ngates_ok += g->ok;
	seen(m, g->t_ms);
	return 0;
}

static int on_event(const struct journal_event *ev, void *ctx)
{
	struct report_model *m = ctx;
	struct report_event row = { ev->t_ms, ev->level, xstrdup(ev->object),
		                    xstrdup(ev->message) };

	m->nevents++;
	m->nerror += ev->level == LOG_LEVEL_ERROR;
	m->nwarn += ev->level == LOG_LEVEL_WARN;
	seen(m, ev->t_ms);
	if (m->nhead < m->keep) {
		m->head[m->nhead++] = row;
	} else if (m->nring < m->keep) {
		m->ring[(m->ring_start + m->nring++) % m->keep] = row;
	} else {
		event_row_release(&m->ring[m->ring_start]);
		m->ring[m->ring_start] = row;
		m->ring_start = (m->ring_start + 1) % m->keep;
	}
	return 0;
}

static int on_series(const char *name, const char *object, void *ctx)
{
	struct report_model *m = ctx;

	XGROW(m->series, m->aseries, m->nseries + 1);
	memset(&m->series[m->nseries], 0, sizeof(m->series[0]));
	m->series[m->nseries].name = xstrdup(name);
	m->series[m->nseries].object = xstrdup(object);
	m->nseries++;
	return 0;
}

static int series_load(struct report_model *m, struct report_series *s, struct ferry_error *err)
{
	struct journal_points raw = { 0 };
	size_t i;
	int r;

	r = journal_samples_get(m->j, s->name, s->object, INT64_MIN, INT64_MAX, &raw, err);
	if (r < 0)
		goto out;
	s->raw_n = raw.n;
	s->vmax = -INFINITY;
	for (i = 0; i < raw.n; i++)
		if (raw.v[i].value > s->vmax)
			s->vmax = raw.v[i].value;
	if (raw.n) {
		s->t_first = raw.v[0].t_ms;
		s->t_last = raw.v[raw.n - 1].t_ms;
		s->vlast = raw.v[raw.n - 1].value;
		seen(m, s->t_first);
		seen(m, s->t_last);
	}
	report_thin(raw.v, raw.n, m->max_points, &s->pts);
out:
	journal_points_release(&raw);
	return r;
}

/* A number from a key, tolerating a unit suffix ("1%", "800ms", "5000"). */
static double kv_number(struct report_model *m, const char *key, struct ferry_error *err, int *rc)
{
	char *v = NULL, *end;
	double d = NAN;
	int r;

	r = journal_get(m->j, key, &v, err);
	if (r == FERRY_ENOTFOUND)
		return NAN;
	if (r < 0) {
		*rc = r;
		return NAN;
	}
	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || !isfinite(d))
		d = NAN;
	else if (*end && strcmp(end, "%") != 0 && strcmp(end, "ms") != 0 && strcmp(end, " %") != 0)
		d = NAN;
	free(v);
	return d;
}

static int64_t kv_ms(struct report_model *m, const char *key, struct ferry_error *err, int *rc)
{
	double d = kv_number(m, key, err, rc);

	/* A time in ms since the epoch; anything out of range is absent. */
	return isfinite(d) && d > 0 && d < 9e15 ? (int64_t)d : 0;
}

static int model_load(struct report_model *m, struct ferry_error *err)
{
	size_t i;
	int r, rc = 0;

	m->t_first = INT64_MAX;
	m->t_last = INT64_MIN;
	m->keep = m->max_rows / 2 ? m->max_rows / 2 : 1;
	m->head = xcalloc(m->keep, sizeof(*m->head));
	m->ring = xcalloc(m->keep, sizeof(*m->ring));

	r = journal_phases_foreach(m->j, on_phase, m, err);
	if (r == 0)
		r = journal_gates_foreach(m->j, NULL, on_gate, m, err);
	if (r == 0)
		r = journal_steps_all(m->j, &m->steps, err);
	if (r == 0)
		r = journal_events_foreach(m->j, INT64_MIN, INT64_MAX, on_event, m, err);
	if (r == 0)
		r = journal_series_foreach(m->j, on_series, m, err);
	for (i = 0; r == 0 && i < m->nseries; i++)
		r = series_load(m, &m->series[i], err);
	if (r < 0)
		return r;
	for (i = 0; i < m->steps.n; i++) {
		seen(m, m->steps.v[i].started_ms);
		seen(m, m->steps.v[i].finished_ms);
	}

	m->cutover_started = kv_ms(m, "cutover.started_ms", err, &rc);
	m->cutover_done = kv_ms(m, "cutover.done_ms", err, &rc);
	m->rollback_done = kv_ms(m, "rollback.done_ms", err, &rc);
	m->pause_budget_ms = kv_number(m, "cutover.pause_budget_ms", err, &rc);
	m->trig_err_pct = kv_number(m, "trigger.error_rate", err, &rc);
	m->trig_lat_ms = kv_number(m, "trigger.latency_p99_ms", err, &rc);
	if (rc < 0)
		return rc;
	r = journal_get(m->j, "rollback.plan", &m->rollback_plan, err);
	if (r < 0 && r != FERRY_ENOTFOUND)
		return r;
	r = journal_get(m->j, "rollback.answers_text", &m->rollback_answers, err);
	if (r < 0 && r != FERRY_ENOTFOUND)
		return r;
	r = journal_get(m->j, "plan.name", &m->plan_name, err);
	if (r < 0 && r != FERRY_ENOTFOUND)
		return r;
	return 0;
}

const struct report_series *report_model_series(const struct report_model *m, const char *name,
                                                const char *object)
{
	size_t i;

	for (i = 0; i < m->nseries; i++)
		if (!strcmp(m->series[i].name, name) && !strcmp(m->series[i].object, object))
			return &m->series[i];
	return NULL;
}

/* The page title when none is given: "plan.name", else the journal's file
 * name without its folder and ".ferry.db". */
static char *default_title(const struct report_model *m)
{
	const char *path = journal_path(m->j), *base = strrchr(path, '/');
	size_t n;

	if (m->plan_name && *m->plan_name)
		return xstrdup(m->plan_name);
	base = base ? base + 1 : path;
	n = strlen(base);
	if (n > 9 && !strcmp(base + n - 9, ".ferry.db"))
		n -= 9;
	return xstrndup(base, n);
}

int report_render(struct journal *j, const struct report_options *opt, struct buf *b,
                  struct ferry_error *err)
{
	static const struct report_options defaults = { 0 };
	struct report_model m = { 0 };
	char *title = NULL;
	int r;

	if (!opt)
		opt = &defaults;
	m.j = j;
	m.max_points = opt->max_points ? opt->max_points : DEFAULT_MAX_POINTS;
	m.max_rows = opt->max_rows ? opt->max_rows : DEFAULT_MAX_ROWS;
	r = model_load(&m, err);
	if (r < 0) {
		ferry_error_prefix(err, "report");
		goto out;
	}
	title = opt->title ? xstrdup(opt->title) : default_title(&m);
	r = report_page_write(b, &m, opt, title);
	if (r < 0)
		r = ferry_error_set(err, FERRY_EPROTO,
		                    "the journal holds more than a page can show; report a bug",
		                    "report: the page passed its size limit of %zu bytes", b->max);
out:
	free(title);
	model_release(&m);
	return r;
}
