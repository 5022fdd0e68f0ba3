/*
 * journal_sql.c - the statement and transaction layer under the journal
 * (see journal.c for how the parts fit, journal_internal.h for the list).
 *
 *  - Every statement is prepared once, on first use, and kept in
 *    j->stmts[] (SQLITE_PREPARE_PERSISTENT); sample insertion is one bind
 *    + step.  stmt_sql[] below is the whole SQL the journal runs, besides
 *    the schema and pragmas of journal.c.
 *  - Writes go through journal_write_begin()/journal_write_end(): BEGIN
 *    IMMEDIATE retried while busy (the pgcopydb catalog.c pattern), COMMIT
 *    or ROLLBACK.  A sample batch is a transaction kept open across
 *    journal_sample_add() calls; any other write commits it first, so the
 *    batch never holds back a step's intent.  Sample transactions commit
 *    with synchronous=NORMAL (see journal.c).
 *  - journal_db_fail() maps a SQLite result code to a ferry code and
 *    message naming the journal's file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "journal/journal_internal.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define BUSY_RETRY_MS 10000 /* our own retry of BEGIN IMMEDIATE on top of the busy timeout */

#define STEP_COLS     "id, phase, name, object, detail, result, state, started_ms, finished_ms, pid"

static const char *const stmt_sql[ST__COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
	[ST_SYNC_FULL] = "PRAGMA synchronous = FULL",
	[ST_VERSION] = "SELECT coalesce(max(version), 0) FROM schema_version",
	[ST_STEP_INSERT] = "INSERT INTO steps (phase, name, object, detail, started_ms, pid)"
	                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_STEP_CLOSE] = "UPDATE steps SET state = ?2, result = ?3, finished_ms = ?4"
	                  " WHERE id = ?1 AND state = 0",
	[ST_STEP_STATE] = "SELECT state FROM steps WHERE id = ?1",
	[ST_STEPS_OPEN] = "SELECT " STEP_COLS " FROM steps WHERE state = 0 ORDER BY id",
	[ST_STEPS_ALL] = "SELECT " STEP_COLS " FROM steps ORDER BY id",
	[ST_STEP_FIND_DONE] = "SELECT " STEP_COLS " FROM steps"
	                      " WHERE name = ?1 AND object = ?2 AND state = 1"
	                      " ORDER BY id DESC LIMIT 1",
	[ST_STEP_LAST_DONE] = "SELECT " STEP_COLS " FROM steps WHERE phase = ?1 AND state = 1"
	                      " ORDER BY id DESC LIMIT 1",
	[ST_PHASE_INSERT] = "INSERT INTO phases (phase, entered_ms) VALUES (?1, ?2)",
	[ST_PHASE_GET] = "SELECT phase, entered_ms FROM phases ORDER BY id DESC LIMIT 1",
	[ST_PHASES_ALL] = "SELECT phase, entered_ms FROM phases ORDER BY id",
	[ST_KV_SET] = "INSERT INTO kv (key, value, updated_ms) VALUES (?1, ?2, ?3)"
	              " ON CONFLICT (key) DO UPDATE"
	              " SET value = excluded.value, updated_ms = excluded.updated_ms",
	[ST_KV_GET] = "SELECT value FROM kv WHERE key = ?1",
	[ST_KV_UNSET] = "DELETE FROM kv WHERE key = ?1",
	[ST_EVENT_INSERT] = "INSERT INTO events (t_ms, level, object, message)"
	                    " VALUES (?1, ?2, ?3, ?4)",
	[ST_EVENTS_RANGE] = "SELECT id, t_ms, level, object, message FROM events"
	                    " WHERE t_ms >= ?1 AND t_ms < ?2 ORDER BY t_ms, id",
	[ST_SERIES_INSERT] = "INSERT OR IGNORE INTO series (name, object) VALUES (?1, ?2)",
	[ST_SERIES_GET] = "SELECT id FROM series WHERE name = ?1 AND object = ?2",
	[ST_SAMPLE_INSERT] = "INSERT INTO samples (series_id, t_ms, value) VALUES (?1, ?2, ?3)",
	[ST_SAMPLES_RANGE] = "SELECT s.t_ms, s.value FROM series r"
	                     " JOIN samples s ON s.series_id = r.id"
	                     " WHERE r.name = ?1 AND r.object = ?2"
	                     " AND s.t_ms >= ?3 AND s.t_ms < ?4 ORDER BY s.t_ms, s.rowid",
	[ST_SERIES_ALL] = "SELECT name, object FROM series ORDER BY name, object",
	[ST_GATE_INSERT] = "INSERT INTO gates (t_ms, phase, gate, ok, evidence)"
	                   " VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_GATES_ALL] = "SELECT id, t_ms, phase, gate, ok, evidence FROM gates ORDER BY id",
	[ST_GATES_PHASE] = "SELECT id, t_ms, phase, gate, ok, evidence FROM gates"
	                   " WHERE phase = ?1 ORDER BY id",
};

/* ---- error mapping ---- */

/* Fills err from the last SQLite error of j and returns the ferry code.
 * rc is the failing SQLite result code. */
int journal_db_fail(struct journal *j, int rc, const char *what, struct ferry_error *err)
{
	const char *msg = j->db ? sqlite3_errmsg(j->db) : sqlite3_errstr(rc);

	switch (rc & 0xff) {
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return ferry_error_set(err, FERRY_ESTATE,
		                       "move the file aside and restore the journal from a backup; "
		                       "ferry will not overwrite it",
		                       "journal %s: %s: the file is not a valid journal (%s)",
		                       j->path, what, msg);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return ferry_error_set(err, FERRY_ETIMEDOUT,
		                       "another process holds the journal's write lock; retry",
		                       "journal %s: %s: busy for more than %d ms (%s)", j->path,
		                       what, BUSY_RETRY_MS, msg);
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
		return ferry_error_set(err, FERRY_EIO,
		                       "check the permissions of the file and of its folder",
		                       "journal %s: %s: %s", j->path, what, msg);
	case SQLITE_FULL:
		return ferry_error_set(err, FERRY_EIO, "free space on the journal's file system",
		                       "journal %s: %s: %s", j->path, what, msg);
	default:
		return ferry_error_set(err, FERRY_EIO, NULL, "journal %s: %s: %s", j->path, what,
		                       msg);
	}
}

/* Adds the object one level up, when the caller passed an err. */
/* ---- statements ---- */

/* Sets *out to the prepared statement id, reset and with no bindings.
 * Returns 0 or a ferry code. */
int journal_stmt(struct journal *j, enum stmt_id id, sqlite3_stmt **out, struct ferry_error *err)
{
	sqlite3_stmt *s = j->stmts[id];
	int rc;

	*out = NULL;
	if (s) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		*out = s;
		return 0;
	}
	rc = sqlite3_prepare_v3(j->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
	if (rc != SQLITE_OK)
		return journal_db_fail(j, rc, "preparing a statement", err);
	j->stmts[id] = s;
	*out = s;
	return 0;
}

/* Steps s to completion (a statement that returns no rows).  Returns 0 or
 * a ferry code. */
int journal_stmt_done(struct journal *j, sqlite3_stmt *s, const char *what, struct ferry_error *err)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return journal_db_fail(j, rc, what, err);
	return 0;
}

int journal_run(struct journal *j, enum stmt_id id, const char *what, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r = journal_stmt(j, id, &s, err);

	if (r < 0)
		return r;
	return journal_stmt_done(j, s, what, err);
}

/* Binds text or NULL (SQLITE_TRANSIENT: SQLite copies it). */
void journal_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

char *journal_col_dup(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? xstrdup((const char *)t) : NULL;
}

const char *journal_col_text(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? (const char *)t : "";
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int journal_rows_end(struct journal *j, sqlite3_stmt *s, int rc, int r, const char *what,
                     struct ferry_error *err)
{
	sqlite3_reset(s);
	if (r < 0)
		return r;
	if (rc != SQLITE_DONE)
		return journal_db_fail(j, rc, what, err);
	return 0;
}

int journal_row_end(struct journal *j, sqlite3_stmt *s, int rc, const char *what,
                    struct ferry_error *err)
{
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return FERRY_ENOTFOUND;
	return journal_db_fail(j, rc, what, err);
}

/* ---- transactions ---- */

void journal_series_cache_clear(struct journal *j)
{
	size_t i;

	for (i = 0; i < j->nseries; i++) {
		free(j->series[i].name);
		free(j->series[i].object);
	}
	j->nseries = 0;
}

/*
 * BEGIN IMMEDIATE takes the write lock up front, so a transaction never has
 * to upgrade a read lock (the upgrade is what deadlocks in SQLite and
 * returns SQLITE_BUSY without calling the busy handler).  Retried with a
 * growing pause on top of the busy timeout, until BUSY_RETRY_MS.
 */
int journal_tx_begin(struct journal *j, struct ferry_error *err)
{
	int64_t deadline = time_mono_ms() + BUSY_RETRY_MS;
	int64_t pause = 1;
	sqlite3_stmt *s;
	int r, rc;

	r = journal_stmt(j, ST_BEGIN, &s, err);
	if (r < 0)
		return r;
	for (;;) {
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc == SQLITE_DONE)
			return 0;
		if ((rc & 0xff) != SQLITE_BUSY || time_mono_ms() >= deadline)
			return journal_db_fail(j, rc, "beginning a transaction", err);
		sleep_ms(pause);
		pause = pause < 100 ? pause * 2 : 100;
	}
}

/* Back to synchronous=FULL after a sample transaction.  SQLite refuses
 * to change the safety level inside a transaction, so it is switched
 * around BEGIN and COMMIT; journal_write_begin() checks it is FULL again before
 * any durable write. */
static int sync_restore(struct journal *j, struct ferry_error *err)
{
	int r;

	if (!j->relaxed)
		return 0;
	r = journal_run(j, ST_SYNC_FULL, "restoring synchronous=FULL", err);
	if (r == 0)
		j->relaxed = false;
	return r;
}

void journal_tx_rollback(struct journal *j)
{
	sqlite3_stmt *s;

	if (journal_stmt(j, ST_ROLLBACK, &s, NULL) == 0 && sqlite3_get_autocommit(j->db) == 0) {
		sqlite3_step(s);
		sqlite3_reset(s);
	}
	/* Series rows inserted by the rolled-back transaction are gone. */
	journal_series_cache_clear(j);
	sync_restore(j, NULL);
}

int journal_tx_commit(struct journal *j, struct ferry_error *err)
{
	int r = journal_run(j, ST_COMMIT, "committing", err);

	if (r < 0) {
		journal_tx_rollback(j);
		return r;
	}
	sync_restore(j, NULL);
	return 0;
}

/* Begins a sample transaction, committed with synchronous=NORMAL (see the
 * top of this file). */
int journal_tx_begin_samples(struct journal *j, struct ferry_error *err)
{
	int r = journal_run(j, ST_SYNC_NORMAL, "setting synchronous=NORMAL", err);

	if (r < 0)
		return r;
	j->relaxed = true;
	r = journal_tx_begin(j, err);
	if (r < 0)
		sync_restore(j, NULL);
	return r;
}

/* Commits the open sample batch transaction, if any; the batch stays
 * logically open and the next sample reopens a transaction. */
int journal_batch_flush(struct journal *j, struct ferry_error *err)
{
	if (!j->batch_tx)
		return 0;
	j->batch_tx = false;
	return journal_tx_commit(j, err);
}

/* Starts a durable write: refuses on a read-only journal, commits any
 * sample batch so far, and begins an immediate transaction. */
int journal_write_begin(struct journal *j, struct ferry_error *err)
{
	int r;

	if (j->readonly)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "this command opened the journal read-only (a bug in ferry)",
		                       "journal %s: opened read-only", j->path);
	r = journal_batch_flush(j, err);
	if (r < 0)
		return r;
	r = sync_restore(j, err);
	if (r < 0)
		return r;
	return journal_tx_begin(j, err);
}

/* Ends a durable write: commits if r is 0, rolls back otherwise.  Returns
 * r or the commit's error. */
int journal_write_end(struct journal *j, int r, struct ferry_error *err)
{
	if (r < 0) {
		journal_tx_rollback(j);
		return r;
	}
	return journal_tx_commit(j, err);
}

int journal_check_text(struct journal *j, const char *what, const char *v, size_t max,
                       struct ferry_error *err)
{
	if (v && strlen(v) > max)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "journal entries are short; keep bulk data "
		                       "elsewhere",
		                       "journal %s: %s is longer than %zu bytes", j->path, what,
		                       max);
	return 0;
}

int journal_require(struct journal *j, const char *what, const char *v, struct ferry_error *err)
{
	if (!v || !*v)
		return ferry_error_set(err, FERRY_EINVAL, NULL, "journal %s: %s is required",
		                       j->path, what);
	return 0;
}
