/*
 * journal_internal.h - what the journal_*.c files share and nobody else
 * sees: struct journal, the statement ids, and the statement and
 * transaction helpers of journal_sql.c.  The public interface is
 * journal.h.  This header does not include sqlite3.h (only the
 * journal_*.c files may, tests/lint/lint.sh): it names SQLite's handles
 * by their struct tags, which are what sqlite3.h's typedefs stand for.
 *
 * Conventions of the helpers: they return 0 or a negative ferry code and
 * fill err (which may be NULL) with a message naming the journal's file.
 */
#ifndef FERRY_JOURNAL_JOURNAL_INTERNAL_H
#define FERRY_JOURNAL_JOURNAL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal/journal.h"
#include "util/error.h"

struct sqlite3;
struct sqlite3_stmt;

#define TEXT_MAX  (64 * 1024)   /* detail, result, evidence, events */
#define VALUE_MAX (1024 * 1024) /* key/value values (the rollback plan) */
#define EVENT_MAX 4096

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SYNC_NORMAL,
	ST_SYNC_FULL,
	ST_VERSION,
	ST_STEP_INSERT,
	ST_STEP_CLOSE,
	ST_STEP_STATE,
	ST_STEPS_OPEN,
	ST_STEPS_ALL,
	ST_STEP_FIND_DONE,
	ST_STEP_LAST_DONE,
	ST_PHASE_INSERT,
	ST_PHASE_GET,
	ST_PHASES_ALL,
	ST_KV_SET,
	ST_KV_GET,
	ST_KV_UNSET,
	ST_EVENT_INSERT,
	ST_EVENTS_RANGE,
	ST_SERIES_INSERT,
	ST_SERIES_GET,
	ST_SAMPLE_INSERT,
	ST_SAMPLES_RANGE,
	ST_SERIES_ALL,
	ST_GATE_INSERT,
	ST_GATES_ALL,
	ST_GATES_PHASE,
	ST__COUNT
};

/* A series id cached by (name, object), so that a sample costs one insert. */
struct series_cache {
	char *name;
	char *object;
	int64_t id;
};

struct journal {
	struct sqlite3 *db;
	char *path;
	bool readonly;
	int lock_fd;   /* -1 unless this journal holds the run lock */
	bool batch;    /* journal_samples_begin() called, not yet committed */
	bool batch_tx; /* the batch's transaction is open */
	bool relaxed;  /* synchronous is NORMAL for a sample transaction */
	struct sqlite3_stmt *stmts[ST__COUNT];
	struct series_cache *series;
	size_t nseries, series_alloc;
};
/* Adds the object one level up, when the caller passed an err. */
#define err_prefix(err, ...)                                                                       \
	do {                                                                                       \
		if (err)                                                                           \
			ferry_error_prefix((err), __VA_ARGS__);                                    \
	} while (0)

/* ---- journal_sql.c: statements ---- */

/* Fills err from the last SQLite error of j (or from rc when j has no
 * database yet) and returns the ferry code.  rc is the failing SQLite
 * result code; what says what the journal was doing. */
int journal_db_fail(struct journal *j, int rc, const char *what, struct ferry_error *err);

/* Sets *out to the prepared statement id, reset and with no bindings;
 * the statement stays owned by j. */
int journal_stmt(struct journal *j, enum stmt_id id, struct sqlite3_stmt **out,
                 struct ferry_error *err);

/* Steps s to completion (a statement that returns no rows), then resets it. */
int journal_stmt_done(struct journal *j, struct sqlite3_stmt *s, const char *what,
                      struct ferry_error *err);

/* journal_stmt() then journal_stmt_done(). */
int journal_run(struct journal *j, enum stmt_id id, const char *what, struct ferry_error *err);

/* Binds text or NULL to parameter i (SQLite copies it). */
void journal_bind_text(struct sqlite3_stmt *s, int i, const char *v);

/* Column i as a new string (the caller frees it), or NULL for NULL. */
char *journal_col_dup(struct sqlite3_stmt *s, int i);

/* Column i as text borrowed from s until its next step or reset; "" for NULL. */
const char *journal_col_text(struct sqlite3_stmt *s, int i);

/* Ends a loop over the rows of s that stopped at step result rc, with r
 * the last callback's return: resets s, then returns r if negative,
 * 0 if every row was read, or the SQLite error (what names the rows). */
int journal_rows_end(struct journal *j, struct sqlite3_stmt *s, int rc, int r, const char *what,
                     struct ferry_error *err);

/* Ends a lookup of at most one row, once its columns are read: resets s,
 * then returns 0 for a row, FERRY_ENOTFOUND (err untouched) for none, or
 * the SQLite error. */
int journal_row_end(struct journal *j, struct sqlite3_stmt *s, int rc, const char *what,
                    struct ferry_error *err);

/* ---- journal_sql.c: transactions ---- */

/* Forgets the cached series ids (their rows may have been rolled back). */
void journal_series_cache_clear(struct journal *j);

/* BEGIN IMMEDIATE, retried while another connection holds the write lock. */
int journal_tx_begin(struct journal *j, struct ferry_error *err);

/* Rolls back the open transaction if any, and restores synchronous=FULL. */
void journal_tx_rollback(struct journal *j);

/* Commits; on failure rolls back and returns the error. */
int journal_tx_commit(struct journal *j, struct ferry_error *err);

/* Begins a sample transaction, committed with synchronous=NORMAL. */
int journal_tx_begin_samples(struct journal *j, struct ferry_error *err);

/* Commits the open sample batch transaction, if any; the batch stays
 * logically open and the next sample reopens a transaction. */
int journal_batch_flush(struct journal *j, struct ferry_error *err);

/* Starts a durable write: refuses on a read-only journal, commits any
 * sample batch so far, and begins an immediate transaction. */
int journal_write_begin(struct journal *j, struct ferry_error *err);

/* Ends a durable write: commits if r is 0, rolls back otherwise.  Returns
 * r or the commit's error. */
int journal_write_end(struct journal *j, int r, struct ferry_error *err);

/* FERRY_EINVAL when v is longer than max bytes (what names it). */
int journal_check_text(struct journal *j, const char *what, const char *v, size_t max,
                       struct ferry_error *err);

/* FERRY_EINVAL when v is NULL or empty (what names it). */
int journal_require(struct journal *j, const char *what, const char *v, struct ferry_error *err);

#endif
