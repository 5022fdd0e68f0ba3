/*
 * journal_steps.c - the journal's steps (the intent/completion protocol of
 * journal.h), the current phase with its history, and the key/value
 * table.  Every write is one journal_write_begin()/journal_write_end()
 * transaction (journal_sql.c).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "journal/journal_internal.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* ---- steps ---- */

void journal_step_release(struct journal_step *s)
{
	if (!s)
		return;
	free(s->phase);
	free(s->name);
	free(s->object);
	free(s->detail);
	free(s->result);
	memset(s, 0, sizeof(*s));
}

void journal_step_list_release(struct journal_step_list *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++)
		journal_step_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

const char *journal_step_state_name(enum journal_step_state st)
{
	switch (st) {
	case JOURNAL_STEP_OPEN: return "open";
	case JOURNAL_STEP_OK: return "ok";
	case JOURNAL_STEP_FAILED: return "failed";
	case JOURNAL_STEP_INTERRUPTED: return "interrupted";
	}
	return "unknown";
}

/* Fills *out from a row selected with STEP_COLS. */
static void step_from_row(sqlite3_stmt *s, struct journal_step *out)
{
	out->id = sqlite3_column_int64(s, 0);
	out->phase = journal_col_dup(s, 1);
	out->name = journal_col_dup(s, 2);
	out->object = journal_col_dup(s, 3);
	out->detail = journal_col_dup(s, 4);
	out->result = journal_col_dup(s, 5);
	out->state = (enum journal_step_state)sqlite3_column_int(s, 6);
	out->started_ms = sqlite3_column_int64(s, 7);
	out->finished_ms = sqlite3_column_int64(s, 8);
	out->pid = sqlite3_column_int64(s, 9);
}

int journal_step_begin(struct journal *j, const char *phase, const char *name, const char *object,
                       const char *detail, int64_t *id, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r;

	if (journal_require(j, "a step's phase", phase, err) < 0 ||
	    journal_require(j, "a step's name", name, err) < 0 ||
	    journal_check_text(j, "a step's detail", detail, TEXT_MAX, err) < 0)
		return FERRY_EINVAL;
	r = journal_write_begin(j, err);
	if (r < 0)
		return r;
	r = journal_stmt(j, ST_STEP_INSERT, &s, err);
	if (r < 0)
		goto out;
	journal_bind_text(s, 1, phase);
	journal_bind_text(s, 2, name);
	journal_bind_text(s, 3, object ? object : "");
	journal_bind_text(s, 4, detail);
	sqlite3_bind_int64(s, 5, time_wall_ms());
	sqlite3_bind_int64(s, 6, (int64_t)getpid());
	r = journal_stmt_done(j, s, "writing a step's intent", err);
	if (r == 0)
		*id = sqlite3_last_insert_rowid(j->db);
out:
	r = journal_write_end(j, r, err);
	if (r < 0)
		err_prefix(err, "step %s %s", name, object ? object : "");
	return r;
}

static int step_close(struct journal *j, int64_t id, enum journal_step_state state,
                      const char *result, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r, rc;

	r = journal_check_text(j, "a step's result", result, TEXT_MAX, err);
	if (r < 0)
		return r;
	r = journal_write_begin(j, err);
	if (r < 0)
		return r;
	r = journal_stmt(j, ST_STEP_CLOSE, &s, err);
	if (r < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, (int)state);
	journal_bind_text(s, 3, result);
	sqlite3_bind_int64(s, 4, time_wall_ms());
	r = journal_stmt_done(j, s, "writing a step's completion", err);
	if (r < 0 || sqlite3_changes(j->db) == 1)
		goto out;
	/* Nothing updated: tell a missing step from a closed one. */
	r = journal_stmt(j, ST_STEP_STATE, &s, err);
	if (r < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		r = ferry_error_set(err, FERRY_ESTATE,
		                    "a step is closed once; this is a bug in ferry",
		                    "journal %s: step %" PRId64 " is already %s", j->path, id,
		                    journal_step_state_name(sqlite3_column_int(s, 0)));
	else if (rc == SQLITE_DONE)
		r = ferry_error_set(err, FERRY_ENOTFOUND, NULL, "journal %s: no step %" PRId64,
		                    j->path, id);
	else
		r = journal_db_fail(j, rc, "reading a step", err);
	sqlite3_reset(s);
out:
	return journal_write_end(j, r, err);
}

int journal_step_done(struct journal *j, int64_t id, bool ok, const char *result,
                      struct ferry_error *err)
{
	return step_close(j, id, ok ? JOURNAL_STEP_OK : JOURNAL_STEP_FAILED, result, err);
}

int journal_step_interrupt(struct journal *j, int64_t id, const char *note, struct ferry_error *err)
{
	return step_close(j, id, JOURNAL_STEP_INTERRUPTED, note, err);
}

/* Appends every row of s (bound by the caller) to out. */
static int steps_collect(struct journal *j, sqlite3_stmt *s, struct journal_step_list *out,
                         struct ferry_error *err)
{
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		XGROW(out->v, out->alloc, out->n + 1);
		memset(&out->v[out->n], 0, sizeof(out->v[0]));
		step_from_row(s, &out->v[out->n]);
		out->n++;
	}
	return journal_rows_end(j, s, rc, 0, "reading steps", err);
}

int journal_steps_open(struct journal *j, struct journal_step_list *out, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r = journal_stmt(j, ST_STEPS_OPEN, &s, err);

	if (r < 0)
		return r;
	return steps_collect(j, s, out, err);
}

int journal_steps_all(struct journal *j, struct journal_step_list *out, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r = journal_stmt(j, ST_STEPS_ALL, &s, err);

	if (r < 0)
		return r;
	return steps_collect(j, s, out, err);
}

/* Reads at most one step row from s into out (if not NULL). */
static int step_one(struct journal *j, sqlite3_stmt *s, struct journal_step *out,
                    struct ferry_error *err)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW && out) {
		memset(out, 0, sizeof(*out));
		step_from_row(s, out);
	}
	return journal_row_end(j, s, rc, "reading a step", err);
}

int journal_step_find_done(struct journal *j, const char *name, const char *object,
                           struct journal_step *out, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r;

	if (journal_require(j, "a step's name", name, err) < 0)
		return FERRY_EINVAL;
	r = journal_stmt(j, ST_STEP_FIND_DONE, &s, err);
	if (r < 0)
		return r;
	journal_bind_text(s, 1, name);
	journal_bind_text(s, 2, object ? object : "");
	return step_one(j, s, out, err);
}

int journal_step_last_done(struct journal *j, const char *phase, struct journal_step *out,
                           struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r;

	if (journal_require(j, "a phase", phase, err) < 0)
		return FERRY_EINVAL;
	r = journal_stmt(j, ST_STEP_LAST_DONE, &s, err);
	if (r < 0)
		return r;
	journal_bind_text(s, 1, phase);
	return step_one(j, s, out, err);
}

/* ---- phase ---- */

int journal_phase_set(struct journal *j, const char *phase, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r;

	if (journal_require(j, "a phase", phase, err) < 0)
		return FERRY_EINVAL;
	r = journal_write_begin(j, err);
	if (r < 0)
		return r;
	r = journal_stmt(j, ST_PHASE_INSERT, &s, err);
	if (r < 0)
		goto out;
	journal_bind_text(s, 1, phase);
	sqlite3_bind_int64(s, 2, time_wall_ms());
	r = journal_stmt_done(j, s, "recording the phase", err);
out:
	return journal_write_end(j, r, err);
}

int journal_phase_get(struct journal *j, char **phase, int64_t *entered_ms, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r, rc;

	r = journal_stmt(j, ST_PHASE_GET, &s, err);
	if (r < 0)
		return r;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (phase)
			*phase = journal_col_dup(s, 0);
		if (entered_ms)
			*entered_ms = sqlite3_column_int64(s, 1);
	}
	return journal_row_end(j, s, rc, "reading the phase", err);
}

int journal_phases_foreach(struct journal *j,
                           int (*cb)(const char *phase, int64_t entered_ms, void *ctx), void *ctx,
                           struct ferry_error *err)
{
	sqlite3_stmt *s;
	int rc, r;

	r = journal_stmt(j, ST_PHASES_ALL, &s, err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		r = cb(journal_col_text(s, 0), sqlite3_column_int64(s, 1), ctx);
		if (r < 0)
			break;
	}
	return journal_rows_end(j, s, rc, r, "reading the phases", err);
}

/* ---- key/value ---- */

int journal_set(struct journal *j, const char *key, const char *value, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r;

	if (journal_require(j, "a key", key, err) < 0)
		return FERRY_EINVAL;
	if (!value)
		return ferry_error_set(err, FERRY_EINVAL, "use journal_unset() to remove a key",
		                       "journal %s: key %s: no value", j->path, key);
	r = journal_check_text(j, "a value", value, VALUE_MAX, err);
	if (r < 0)
		return r;
	r = journal_write_begin(j, err);
	if (r < 0)
		return r;
	r = journal_stmt(j, ST_KV_SET, &s, err);
	if (r < 0)
		goto out;
	journal_bind_text(s, 1, key);
	journal_bind_text(s, 2, value);
	sqlite3_bind_int64(s, 3, time_wall_ms());
	r = journal_stmt_done(j, s, "writing a value", err);
out:
	r = journal_write_end(j, r, err);
	if (r < 0)
		err_prefix(err, "key %s", key);
	return r;
}

int journal_get(struct journal *j, const char *key, char **value, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r, rc;

	*value = NULL;
	if (journal_require(j, "a key", key, err) < 0)
		return FERRY_EINVAL;
	r = journal_stmt(j, ST_KV_GET, &s, err);
	if (r < 0)
		return r;
	journal_bind_text(s, 1, key);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*value = journal_col_dup(s, 0);
	return journal_row_end(j, s, rc, "reading a value", err);
}

int journal_unset(struct journal *j, const char *key, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r;

	if (journal_require(j, "a key", key, err) < 0)
		return FERRY_EINVAL;
	r = journal_write_begin(j, err);
	if (r < 0)
		return r;
	r = journal_stmt(j, ST_KV_UNSET, &s, err);
	if (r < 0)
		goto out;
	journal_bind_text(s, 1, key);
	r = journal_stmt_done(j, s, "removing a value", err);
out:
	return journal_write_end(j, r, err);
}
