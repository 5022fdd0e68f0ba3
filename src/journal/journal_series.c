/*
 * journal_series.c - what the journal keeps over time: events (the log
 * for `ferry status` and the report), samples of the time series, and
 * gate evaluations with their evidence.  Samples are the one write with a
 * transaction of their own kind: journal_tx_begin_samples() relaxes
 * synchronous to NORMAL, and journal_samples_begin() keeps that
 * transaction open across points (see journal.c, journal_sql.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "journal/journal_internal.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* ---- events ---- */

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

static enum log_level level_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (enum log_level)i;
	return LOG_LEVEL_INFO;
}

int journal_event_add(struct journal *j, enum log_level level, const char *object,
                      struct ferry_error *err, const char *fmt, ...)
{
	char msg[EVENT_MAX];
	sqlite3_stmt *s;
	va_list ap;
	int r;

	if ((unsigned)level > LOG_LEVEL_DEBUG)
		return ferry_error_set(err, FERRY_EINVAL, NULL, "journal %s: bad event level %d",
		                       j->path, (int)level);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r = journal_write_begin(j, err);
	if (r < 0)
		return r;
	r = journal_stmt(j, ST_EVENT_INSERT, &s, err);
	if (r < 0)
		goto out;
	sqlite3_bind_int64(s, 1, time_wall_ms());
	journal_bind_text(s, 2, level_names[level]);
	journal_bind_text(s, 3, object ? object : "");
	journal_bind_text(s, 4, msg);
	r = journal_stmt_done(j, s, "writing an event", err);
out:
	return journal_write_end(j, r, err);
}

int journal_events_foreach(struct journal *j, int64_t from_ms, int64_t to_ms,
                           int (*cb)(const struct journal_event *ev, void *ctx), void *ctx,
                           struct ferry_error *err)
{
	sqlite3_stmt *s;
	struct journal_event ev;
	int rc, r;

	r = journal_stmt(j, ST_EVENTS_RANGE, &s, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, from_ms);
	sqlite3_bind_int64(s, 2, to_ms);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		ev.id = sqlite3_column_int64(s, 0);
		ev.t_ms = sqlite3_column_int64(s, 1);
		ev.level = level_parse(journal_col_text(s, 2));
		ev.object = journal_col_text(s, 3);
		ev.message = journal_col_text(s, 4);
		r = cb(&ev, ctx);
		if (r < 0)
			break;
	}
	return journal_rows_end(j, s, rc, r, "reading events", err);
}

/* ---- samples ---- */

void journal_points_release(struct journal_points *p)
{
	if (!p)
		return;
	free(p->v);
	memset(p, 0, sizeof(*p));
}

/* The id of series (name, object), created if needed.  Runs inside the
 * sample transaction, so a new series row commits with its first point. */
static int series_id(struct journal *j, const char *name, const char *object, int64_t *id,
                     struct ferry_error *err)
{
	sqlite3_stmt *s;
	size_t i;
	int r, rc;

	for (i = 0; i < j->nseries; i++) {
		if (strcmp(j->series[i].name, name) == 0 &&
		    strcmp(j->series[i].object, object) == 0) {
			*id = j->series[i].id;
			return 0;
		}
	}
	r = journal_stmt(j, ST_SERIES_INSERT, &s, err);
	if (r < 0)
		return r;
	journal_bind_text(s, 1, name);
	journal_bind_text(s, 2, object);
	r = journal_stmt_done(j, s, "creating a series", err);
	if (r < 0)
		return r;
	r = journal_stmt(j, ST_SERIES_GET, &s, err);
	if (r < 0)
		return r;
	journal_bind_text(s, 1, name);
	journal_bind_text(s, 2, object);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return journal_db_fail(j, rc == SQLITE_DONE ? SQLITE_INTERNAL : rc,
		                       "finding a series", err);
	XGROW(j->series, j->series_alloc, j->nseries + 1);
	j->series[j->nseries].name = xstrdup(name);
	j->series[j->nseries].object = xstrdup(object);
	j->series[j->nseries].id = *id;
	j->nseries++;
	return 0;
}

static int sample_insert(struct journal *j, const char *series, const char *object, int64_t t_ms,
                         double value, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int64_t sid = 0;
	int r;

	r = series_id(j, series, object, &sid, err);
	if (r < 0)
		return r;
	r = journal_stmt(j, ST_SAMPLE_INSERT, &s, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, sid);
	sqlite3_bind_int64(s, 2, t_ms);
	sqlite3_bind_double(s, 3, value);
	return journal_stmt_done(j, s, "writing a sample", err);
}

int journal_sample_add(struct journal *j, const char *series, const char *object, int64_t t_ms,
                       double value, struct ferry_error *err)
{
	int r;

	if (journal_require(j, "a series name", series, err) < 0)
		return FERRY_EINVAL;
	if (!object)
		object = "";
	if (j->readonly)
		return journal_write_begin(j, err); /* fills the read-only error */
	if (j->batch) {
		if (!j->batch_tx) {
			r = journal_tx_begin_samples(j, err);
			if (r < 0)
				return r;
			j->batch_tx = true;
		}
		r = sample_insert(j, series, object, t_ms, value, err);
		if (r < 0) {
			/* The batch's earlier points go with it; say so. */
			journal_tx_rollback(j);
			j->batch_tx = false;
			err_prefix(err, "series %s %s (the open batch was rolled back)", series,
			           object);
		}
		return r;
	}
	r = journal_tx_begin_samples(j, err);
	if (r < 0)
		return r;
	r = sample_insert(j, series, object, t_ms, value, err);
	if (r < 0) {
		journal_tx_rollback(j);
		return r;
	}
	return journal_tx_commit(j, err);
}

int journal_samples_begin(struct journal *j, struct ferry_error *err)
{
	if (j->readonly)
		return journal_write_begin(j, err);
	if (j->batch)
		return ferry_error_set(err, FERRY_ESTATE,
		                       "commit the open batch first (a bug in ferry)",
		                       "journal %s: a sample batch is already open", j->path);
	/* The transaction itself opens with the first point. */
	j->batch = true;
	return 0;
}

int journal_samples_commit(struct journal *j, struct ferry_error *err)
{
	if (!j->batch)
		return ferry_error_set(err, FERRY_ESTATE, "call journal_samples_begin() first",
		                       "journal %s: no sample batch is open", j->path);
	j->batch = false;
	return journal_batch_flush(j, err);
}

int journal_samples_foreach(struct journal *j, const char *series, const char *object,
                            int64_t from_ms, int64_t to_ms,
                            int (*cb)(int64_t t_ms, double value, void *ctx), void *ctx,
                            struct ferry_error *err)
{
	sqlite3_stmt *s;
	int rc, r = 0;

	if (journal_require(j, "a series name", series, err) < 0)
		return FERRY_EINVAL;
	r = journal_stmt(j, ST_SAMPLES_RANGE, &s, err);
	if (r < 0)
		return r;
	journal_bind_text(s, 1, series);
	journal_bind_text(s, 2, object ? object : "");
	sqlite3_bind_int64(s, 3, from_ms);
	sqlite3_bind_int64(s, 4, to_ms);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		r = cb(sqlite3_column_int64(s, 0), sqlite3_column_double(s, 1), ctx);
		if (r < 0)
			break;
	}
	return journal_rows_end(j, s, rc, r, "reading samples", err);
}

static int points_append(int64_t t_ms, double value, void *ctx)
{
	struct journal_points *p = ctx;

	XGROW(p->v, p->alloc, p->n + 1);
	p->v[p->n].t_ms = t_ms;
	p->v[p->n].value = value;
	p->n++;
	return 0;
}

int journal_samples_get(struct journal *j, const char *series, const char *object, int64_t from_ms,
                        int64_t to_ms, struct journal_points *out, struct ferry_error *err)
{
	return journal_samples_foreach(j, series, object, from_ms, to_ms, points_append, out, err);
}

int journal_series_foreach(struct journal *j,
                           int (*cb)(const char *series, const char *object, void *ctx), void *ctx,
                           struct ferry_error *err)
{
	sqlite3_stmt *s;
	int rc, r;

	r = journal_stmt(j, ST_SERIES_ALL, &s, err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		r = cb(journal_col_text(s, 0), journal_col_text(s, 1), ctx);
		if (r < 0)
			break;
	}
	return journal_rows_end(j, s, rc, r, "reading series", err);
}

/* ---- gates ---- */

int journal_gate_record(struct journal *j, const char *phase, const char *gate, bool ok,
                        const char *evidence, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r;

	if (journal_require(j, "a phase", phase, err) < 0 ||
	    journal_require(j, "a gate name", gate, err) < 0 ||
	    journal_check_text(j, "a gate's evidence", evidence, TEXT_MAX, err) < 0)
		return FERRY_EINVAL;
	r = journal_write_begin(j, err);
	if (r < 0)
		return r;
	r = journal_stmt(j, ST_GATE_INSERT, &s, err);
	if (r < 0)
		goto out;
	sqlite3_bind_int64(s, 1, time_wall_ms());
	journal_bind_text(s, 2, phase);
	journal_bind_text(s, 3, gate);
	sqlite3_bind_int(s, 4, ok ? 1 : 0);
	journal_bind_text(s, 5, evidence ? evidence : "");
	r = journal_stmt_done(j, s, "recording a gate", err);
out:
	r = journal_write_end(j, r, err);
	if (r < 0)
		err_prefix(err, "gate %s", gate);
	return r;
}

int journal_gates_foreach(struct journal *j, const char *phase,
                          int (*cb)(const struct journal_gate *g, void *ctx), void *ctx,
                          struct ferry_error *err)
{
	sqlite3_stmt *s;
	struct journal_gate g;
	int rc, r;

	r = journal_stmt(j, phase ? ST_GATES_PHASE : ST_GATES_ALL, &s, err);
	if (r < 0)
		return r;
	if (phase)
		journal_bind_text(s, 1, phase);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		g.id = sqlite3_column_int64(s, 0);
		g.t_ms = sqlite3_column_int64(s, 1);
		g.phase = journal_col_text(s, 2);
		g.gate = journal_col_text(s, 3);
		g.ok = sqlite3_column_int(s, 4) != 0;
		g.evidence = journal_col_text(s, 5);
		r = cb(&g, ctx);
		if (r < 0)
			break;
	}
	return journal_rows_end(j, s, rc, r, "reading gates", err);
}
