/*
 * journal.h - the journal: one SQLite file per plan, the memory that makes
 * `ferry run` resumable after kill -9 at any instant (DESIGN §6).
 *
 * What it holds:
 *   steps    every side effect ferry has on the world, as an intent written
 *            before the action and a completion written after it;
 *   phase    the current phase and when it was entered (with its history);
 *   kv       small named text values ("cutover.rollback_plan", ...);
 *   events   a log of what happened, for `ferry status` and the report;
 *   samples  time series (lag, error rate, latency, write pause, weights);
 *   gates    every gate evaluation with its evidence.
 * Nothing secret is ever written here: callers pass names, positions and
 * outcomes, never a key, a password or an unscrubbed connection string.
 *
 * Durability.  The file is in WAL mode with synchronous=FULL, so a row is
 * on disk when the call that wrote it returns: a step's intent survives a
 * crash of the process or of the machine.  The one exception is samples,
 * committed with synchronous=NORMAL: they survive kill -9 but a power loss
 * may drop the last few (any later durable write flushes them too).  Every
 * write runs in a BEGIN IMMEDIATE transaction retried while another
 * connection holds the write lock (5 s busy timeout).
 *
 * Opening.  `ferry run` and `ferry rollback` open with JOURNAL_OPEN_CREATE
 * and then take the run lock with journal_lock(); `ferry status` and
 * `ferry report` open with JOURNAL_OPEN_READONLY and no lock, and may read
 * while a run writes.  A new file is created with mode 0600 (its -wal and
 * -shm files too), the schema is created or migrated forward by version
 * number; a file written by a newer ferry is refused.
 *
 * The run lock is flock(2) on a sidecar file PATH.lock that holds the pid
 * of the holder.  The kernel drops the lock when the holder dies, however
 * it dies, so a crashed run never leaves a stale lock; the file itself
 * stays (deleting it would race with a new locker).
 *
 * The step protocol.  Every action with a side effect is bracketed:
 *
 *	int64_t id;
 *	if (journal_step_begin(j, "cutover", "pgbouncer.pause", "main@old",
 *	                       "{\"host\":\"10.77.0.2\"}", &id, err) < 0)
 *		return err->code;                  // nothing done yet
 *	rc = do_the_action();                      // the side effect
 *	journal_step_done(j, id, rc == 0, "{\"paused_ms\":3}", err);
 *
 * journal_step_begin() returns only after the intent is durable, so a
 * crash at any instant leaves either no row (the action never started), an
 * open row (the action may or may not have happened) or a closed row.
 * A resumed run first calls journal_steps_open(): for each open step it
 * checks the world (every step is idempotent or can tell whether it
 * already happened) and then either closes it with journal_step_done()
 * (the action had taken effect) or marks it with journal_step_interrupt()
 * and begins the action again as a new step.  journal_step_find_done()
 * tells whether a (name, object) step ever completed, so a resumed run
 * skips what is done.
 *
 * Ownership: struct journal is opaque and owned by whoever opened it.
 * String arguments are borrowed for the duration of the call.  Every
 * struct the journal fills (journal_step, journal_step_list,
 * journal_gate, journal_points) owns its memory and has a _release();
 * strings returned through char ** are the caller's to free().  Rows
 * passed to a foreach callback are borrowed for the duration of the
 * callback only, and the callback must not call back into the journal.
 *
 * Errors follow util/error.h.  Lookups that find nothing return
 * FERRY_ENOTFOUND and leave err untouched, because "not there" is an
 * answer, not a failure.  SQLite failures are FERRY_EIO with the file and
 * SQLite's message; a write lock held by another connection for more than
 * 10 s is FERRY_ETIMEDOUT; a file that is not a ferry journal or not a
 * database is FERRY_ESTATE.
 *
 * Sizes: detail, result, gate evidence up to 64 KiB; key/value values up
 * to 1 MiB (the rollback plan); event messages are truncated at 4 KiB.
 * Longer text is refused with FERRY_EINVAL: the journal is not a blob
 * store.
 *
 * A struct journal is used from one thread at a time; a forked child must
 * open its own.
 */
#ifndef FERRY_JOURNAL_JOURNAL_H
#define FERRY_JOURNAL_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/log.h"

struct journal;

/* The schema version this ferry writes (see journal.c, migrations[]). */
#define JOURNAL_SCHEMA_VERSION 1

enum journal_open_flags {
	JOURNAL_OPEN_CREATE = 1 << 0,   /* create the file if it is missing */
	JOURNAL_OPEN_READONLY = 1 << 1, /* no writes, no lock, no migration */
};

/*
 * Opens the journal at path.  flags: JOURNAL_OPEN_CREATE or
 * JOURNAL_OPEN_READONLY (not both), or 0 to open an existing file read-write.
 * Returns 0 and sets *out (close with journal_close()), or
 *   FERRY_ENOTFOUND  the file does not exist and CREATE was not given;
 *   FERRY_ESTATE     not a database, corrupt, not a ferry journal, or
 *                    written by a newer ferry (schema version too high);
 *   FERRY_EIO        the file cannot be created or opened;
 *   FERRY_EINVAL     bad flags.
 * A read-write open creates or migrates the schema.  Opening does not take
 * the run lock: see journal_lock().
 */
int journal_open(struct journal **out, const char *path, unsigned flags, struct ferry_error *err);

/* Commits an open sample batch, closes the file and releases the run lock
 * if held.  NULL-safe. */
void journal_close(struct journal *j);

/* The path given to journal_open() (borrowed). */
const char *journal_path(const struct journal *j);

/*
 * Takes the run lock (PATH.lock, see the top of this file) without
 * waiting.  Returns 0 (also when this journal already holds it),
 * FERRY_ELOCKED naming the pid of the holder when another run holds it,
 * FERRY_EINVAL on a read-only journal, or FERRY_EIO.  Released by
 * journal_close() or by the death of the process.
 */
int journal_lock(struct journal *j, struct ferry_error *err);

/*
 * Whether a run holds the lock of the journal at path, without touching the
 * lock (so it cannot get in the way of a run that starts at that instant):
 * it looks the lock file's inode up in /proc/locks (Linux).  Returns 1 and
 * *pid (the holder's, 0 if unknown), 0 when no run holds it (or the lock
 * file does not exist), or FERRY_EIO when it cannot tell.
 */
int journal_lock_holder(const char *path, long *pid);

/* Sets *version to the file's schema version.  Returns 0 or FERRY_EIO. */
int journal_schema_version(struct journal *j, int *version, struct ferry_error *err);

/* ---- steps ---- */

enum journal_step_state {
	JOURNAL_STEP_OPEN = 0,        /* intent written, no completion (yet) */
	JOURNAL_STEP_OK = 1,          /* the action succeeded */
	JOURNAL_STEP_FAILED = 2,      /* the action ran and failed */
	JOURNAL_STEP_INTERRUPTED = 3, /* found open by a later run, redone as a new step */
};

struct journal_step {
	int64_t id; /* increasing: the order steps were begun in */
	char *phase;
	char *name;
	char *object; /* "" when none */
	char *detail; /* NULL when none */
	char *result; /* NULL when none or still open */
	enum journal_step_state state;
	int64_t started_ms;
	int64_t finished_ms; /* 0 while open */
	int64_t pid;         /* the process that began it */
};

struct journal_step_list {
	struct journal_step *v;
	size_t n;
	size_t alloc;
};

/* Frees the strings of s (not s itself) and zeroes it.  NULL-safe. */
void journal_step_release(struct journal_step *s);
/* Releases every step and the array.  NULL-safe. */
void journal_step_list_release(struct journal_step_list *l);

/* Human name of a state: "open", "ok", "failed", "interrupted". */
const char *journal_step_state_name(enum journal_step_state st);

/*
 * Writes the intent of a step, durably, before the action.  phase and name
 * are required (FERRY_EINVAL otherwise); object may be NULL (stored as "");
 * detail is a short text (JSON written by the caller) or NULL.  Sets *id.
 * Returns 0, FERRY_EINVAL (read-only journal or missing names) or FERRY_EIO.
 */
int journal_step_begin(struct journal *j, const char *phase, const char *name, const char *object,
                       const char *detail, int64_t *id, struct ferry_error *err);

/*
 * Records the completion of open step id: ok or failed, with an optional
 * short result text.  Returns 0, FERRY_ENOTFOUND (no such step),
 * FERRY_ESTATE (the step is not open any more) or FERRY_EIO.
 */
int journal_step_done(struct journal *j, int64_t id, bool ok, const char *result,
                      struct ferry_error *err);

/* Marks open step id as interrupted (a resumed run will redo its action as
 * a new step); note may be NULL.  Returns as journal_step_done(). */
int journal_step_interrupt(struct journal *j, int64_t id, const char *note,
                           struct ferry_error *err);

/* Appends every open step, oldest first, to *out (which the caller
 * initialised to zeros).  Returns 0 or FERRY_EIO. */
int journal_steps_open(struct journal *j, struct journal_step_list *out, struct ferry_error *err);

/* Appends every step in the order they were begun (for the report). */
int journal_steps_all(struct journal *j, struct journal_step_list *out, struct ferry_error *err);

/*
 * Finds the latest step (name, object) that completed with OK; object NULL
 * means "".  Returns 0 and fills *out if out is not NULL (release it), or
 * FERRY_ENOTFOUND (err untouched), or FERRY_EIO.
 */
int journal_step_find_done(struct journal *j, const char *name, const char *object,
                           struct journal_step *out, struct ferry_error *err);

/* Finds the last step of phase that completed with OK.  Returns as
 * journal_step_find_done(). */
int journal_step_last_done(struct journal *j, const char *phase, struct journal_step *out,
                           struct ferry_error *err);

/* ---- phase ---- */

/* Records that phase was entered now (keeps the history).  Returns 0,
 * FERRY_EINVAL or FERRY_EIO. */
int journal_phase_set(struct journal *j, const char *phase, struct ferry_error *err);

/* Sets *phase (caller frees) and *entered_ms (either may be NULL) to the
 * current phase.  Returns 0, FERRY_ENOTFOUND (no phase entered yet, err
 * untouched) or FERRY_EIO. */
int journal_phase_get(struct journal *j, char **phase, int64_t *entered_ms,
                      struct ferry_error *err);

/* Calls cb for each phase entry, oldest first.  cb returns 0 to go on, or
 * a negative code that stops the walk and is returned. */
int journal_phases_foreach(struct journal *j,
                           int (*cb)(const char *phase, int64_t entered_ms, void *ctx), void *ctx,
                           struct ferry_error *err);

/* ---- key/value ---- */

/* Sets key to value (both required, text), replacing any old value.
 * Returns 0, FERRY_EINVAL or FERRY_EIO. */
int journal_set(struct journal *j, const char *key, const char *value, struct ferry_error *err);

/* Sets *value to a copy of key's value (caller frees).  Returns 0,
 * FERRY_ENOTFOUND (err untouched) or FERRY_EIO. */
int journal_get(struct journal *j, const char *key, char **value, struct ferry_error *err);

/* Removes key; absent keys are fine.  Returns 0 or FERRY_EIO. */
int journal_unset(struct journal *j, const char *key, struct ferry_error *err);

/* ---- events ---- */

struct journal_event {
	int64_t id;
	int64_t t_ms;
	enum log_level level;
	const char *object; /* "" when none */
	const char *message;
};

/* Logs an event now.  object may be NULL.  The message is formatted like
 * printf and is truncated at 4 KiB.  Returns 0, FERRY_EINVAL or FERRY_EIO. */
__attribute__((format(printf, 5, 6))) int journal_event_add(struct journal *j, enum log_level level,
                                                            const char *object,
                                                            struct ferry_error *err,
                                                            const char *fmt, ...);

/* Calls cb for each event with from_ms <= t_ms < to_ms, oldest first.
 * cb returns 0 to go on or a negative code that stops and is returned. */
int journal_events_foreach(struct journal *j, int64_t from_ms, int64_t to_ms,
                           int (*cb)(const struct journal_event *ev, void *ctx), void *ctx,
                           struct ferry_error *err);

/* ---- samples ---- */

struct journal_point {
	int64_t t_ms;
	double value;
};

struct journal_points {
	struct journal_point *v;
	size_t n;
	size_t alloc;
};

void journal_points_release(struct journal_points *p);

/*
 * Adds one point to series (e.g. "lag_ms", "error_rate", "latency_p99_ms",
 * "write_pause_ms", "weight") for object (NULL = "").  Cheap: the statement
 * stays prepared and series ids are cached.  Outside a batch each call is a
 * transaction of its own; inside journal_samples_begin()/_commit() points
 * are committed together.  Returns 0, FERRY_EINVAL or FERRY_EIO.
 */
int journal_sample_add(struct journal *j, const char *series, const char *object, int64_t t_ms,
                       double value, struct ferry_error *err);

/*
 * Opens a sample batch: points added until journal_samples_commit() are
 * committed together.  Any other write made during a batch (a step, an
 * event, ...) first commits the points so far and does not wait for the
 * batch, so a batch never delays a step's intent.  Returns 0, FERRY_ESTATE
 * (a batch is already open), FERRY_EINVAL or FERRY_EIO.
 */
int journal_samples_begin(struct journal *j, struct ferry_error *err);
/* Commits the batch.  Returns 0, FERRY_ESTATE (no batch open) or FERRY_EIO. */
int journal_samples_commit(struct journal *j, struct ferry_error *err);

/* Calls cb for each point of (series, object) with from_ms <= t_ms < to_ms,
 * in time order.  An unknown series has no points (returns 0). */
int journal_samples_foreach(struct journal *j, const char *series, const char *object,
                            int64_t from_ms, int64_t to_ms,
                            int (*cb)(int64_t t_ms, double value, void *ctx), void *ctx,
                            struct ferry_error *err);

/* Appends the same points to *out (zeroed by the caller). */
int journal_samples_get(struct journal *j, const char *series, const char *object, int64_t from_ms,
                        int64_t to_ms, struct journal_points *out, struct ferry_error *err);

/* Calls cb for each (series, object) that has ever had a point, ordered by
 * name then object, so a reader (the report) can find every database or
 * record without the plan.  cb returns 0 to go on or a negative code that
 * stops and is returned.  Returns 0 or FERRY_EIO. */
int journal_series_foreach(struct journal *j,
                           int (*cb)(const char *series, const char *object, void *ctx), void *ctx,
                           struct ferry_error *err);

/* ---- gates ---- */

struct journal_gate {
	int64_t id;
	int64_t t_ms;
	const char *phase;
	const char *gate;
	bool ok;
	const char *evidence; /* "" when none */
};

/* Records one evaluation of gate in phase, now.  evidence is short text
 * (JSON or a sentence) or NULL.  Returns 0, FERRY_EINVAL or FERRY_EIO. */
int journal_gate_record(struct journal *j, const char *phase, const char *gate, bool ok,
                        const char *evidence, struct ferry_error *err);

/* Calls cb for each gate evaluation of phase (NULL: every phase), oldest
 * first.  cb returns 0 to go on or a negative code that stops and is
 * returned. */
int journal_gates_foreach(struct journal *j, const char *phase,
                          int (*cb)(const struct journal_gate *g, void *ctx), void *ctx,
                          struct ferry_error *err);

#endif
