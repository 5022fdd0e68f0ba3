/*
 * orchestrator.h - the switch (DESIGN §2 step 3), one protocol for every
 * engine and every switch driver, and one transaction over every database
 * of the plan: they move together or not at all.
 *
 * The model is git's ref transaction: prepare everything, then commit all
 * or abort all.  Engines (db/db.h, struct db_switch_ops) supply the steps on
 * a database, switch drivers (switch/switch.h) the verbs on what points the
 * applications at it; this file owns the order, the budget, the fan-out,
 * the undo and the recovery:
 *
 *   preflight     every database and endpoint checked, nothing changed;
 *                 a switch a crash or a failed undo left half done is
 *                 finished or undone first (recovery, below)
 *   prepare       engines' prepare, endpoints staged
 *   -- the write pause: SIGINT, SIGTERM and SIGHUP blocked; one deadline,
 *      the smallest pause_budget of the databases; no spawn, no connect --
 *   pause         PAUSE sent to every endpoint, then waited for
 *   fence         each database: writes refused on from
 *   position      each: from's position after the fence
 *   wait_applied  each: to has applied it
 *   finalize      each: sequences and the like
 *   stop_forward  each
 *   prepare_reverse  each: from now on to's writes are captured for from
 *   unfence_target   each database whose to was fenced (a rollback)
 *   point         POINT to every endpoint, then waited for
 *   confirm       every endpoint shown to point at to
 *   resume        RESUME to every endpoint: the commit point
 *   -- the pause ends --
 *   (the caller then runs orch_start_reverse / orch_drop_forward per
 *   database, each its own journaled, retried step)
 *
 * A step that fails, or the deadline, before the commit point: undo, with
 * one deadline of its own (budget + ORCH_UNDO_MS at the latest): every
 * endpoint pointed at to is reverted and shown to point at from again (one
 * that is not: to is fenced before anything resumes), the reverse capture
 * dropped, the forward stream restarted, from unfenced, every endpoint
 * resumed (REVERT and RESUME reach every endpoint; errors are collected,
 * never short-circuited).  An undo that could not put a database back
 * resumes nothing: the recovery that follows at once decides with the
 * clients still waiting.  Once any RESUME was sent, there is no undo: the
 * switch completes.
 *
 * Recovery (after a crash, a failed undo, or a preflight that finds a
 * switch half done) decides from positions, not from which objects exist.
 * Committed (an unpaused endpoint at an unfenced to, or a reverse stream
 * running): only completing keeps every write, so it completes (refusing,
 * with what to check, if a from is still writable).  Not committed: both
 * ways keep every write; it completes when every database's to already
 * holds every change of its fenced from (db_inspect.caught_up), else it
 * undoes (completing would hold the clients while a stream catches up,
 * undoing only unfences).  It first pauses every pausable endpoint, so that
 * clients wait instead of meeting a fenced database and no pooler is
 * re-pointed while it opens server connections.
 *
 * Fault injection (util/fault.h): every step is "db.STEP" for
 * FERRY_CRASH_AT (before it) and FERRY_FAIL_AT (per database or per
 * endpoint, in order: db.resume:2 is the second endpoint's RESUME); the
 * undo's are "db.undo.STEP", recovery's "db.recover.STEP".
 *
 * Ownership: the orchestrator borrows the databases (core/endpoints.h);
 * orch_open() opens their switch endpoints, which endpoints_db_close()
 * closes.  Results own their strings (orch_result_release).
 */
#ifndef FERRY_CORE_ORCHESTRATOR_H
#define FERRY_CORE_ORCHESTRATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/endpoints.h"
#include "util/check.h"
#include "util/error.h"

struct buf;

/* The undo's own time, past the budget at the latest. */
#define ORCH_UNDO_MS 200
/* Recovery's deadline per action (outside any pause). */
#define ORCH_RECOVER_MS 30000
/* After RESUME, how long the switch waits for the held endpoints to have
 * served their queued clients (switch.h, served) before it returns and
 * the steps after it connect to both sides. */
#define ORCH_SERVED_MS 1000

enum orch_outcome {
	ORCH_NONE,    /* nothing decided (a zeroed or released result): never
	               * read as done */
	ORCH_DONE,    /* to is the writer of every database */
	ORCH_REFUSED, /* the preflight refused: nothing changed */
	ORCH_UNDONE,  /* undone: from is the writer of every database, as before */
	ORCH_STUCK,   /* neither: a server went away during the undo and the
	               * recovery; nothing resumed that could write on both
	               * sides; the next run's recovery finishes it */
};

struct orch_db_result {
	char *fence_pos;        /* from's position at the fence, or NULL */
	int64_t sequences;      /* values finalize carried */
	int64_t carried_txns;   /* DB_REVERSE: transactions carried back */
	int64_t carried_bytes;  /* DB_REVERSE: bytes of change carried back */
	char reverse_note[192]; /* how the reverse stream began (db.h
	                         * reverse_note), "" when the engine says nothing */
};

struct orch_result {
	enum orch_outcome outcome;
	bool recovered;            /* the outcome was reached by recovery */
	int64_t pause_ms;          /* first PAUSE sent to the last RESUME answered */
	char last_step[48];        /* the last step started */
	char timings[1024];        /* "pause=0.4ms fence=2.1ms ..." */
	struct orch_db_result *db; /* one per database */
	size_t n;
};
void orch_result_release(struct orch_result *r);

struct orch_opts {
	bool block_signals; /* SIGINT, SIGTERM, SIGHUP held in the pause */
	/* Progress for people, outside the pause only; may be NULL. */
	void (*say)(void *ctx, const char *object, const char *line);
	void *ctx;
};

/* Opens every database's switch endpoints (connections, shells; before
 * any pause).  Idempotent. */
int orch_open(struct endpoints_db *const *dbs, size_t n, struct ferry_error *err);

/*
 * The switch of dbs[0..n) in direction dir.  Fills *res (release it) and
 * returns 0 when res->outcome is ORCH_DONE; else an error: FERRY_ECHECK
 * (refused, nothing changed), FERRY_EBUDGET (the pause would have overrun:
 * undone), another code (undone, or ORCH_STUCK: see res->outcome).
 */
int orch_switch(struct endpoints_db *const *dbs, size_t n, enum db_direction dir,
                const struct orch_opts *o, struct orch_result *res, struct ferry_error *err);

/*
 * orch_switch once the streams it drains are caught up (its preflight
 * refuses a lag over a second: db.h max_lag_ms): a stream
 * just started (the way back right after a cutover) or a burst of writes
 * can be behind for a while, and a switch asked for then, a rollback above
 * all, waits for it, saying so (o->say), rather than refuse.  A stream's
 * lag moves in steps (a report a second or so) and jumps on a loaded
 * machine: the wait can end on a moment under the limit and the preflight
 * find it over for its own few seconds.  Nothing changed then, so while a
 * stream is behind again the switch waits and tries again.  All bounded by
 * wait_ms (ORCH_LAG_WAIT_MS); the preflight then says what is still wrong.
 * Returns as orch_switch.
 */
#define ORCH_LAG_WAIT_MS 120000
int orch_switch_caught_up(struct endpoints_db *const *dbs, size_t n, enum db_direction dir,
                          int64_t wait_ms, const struct orch_opts *o, struct orch_result *res,
                          struct ferry_error *err);

/* Finishes or undoes a switch in direction dir that was interrupted
 * (decided from positions; see the top).  res->outcome is ORCH_DONE or
 * ORCH_UNDONE on success (0), ORCH_STUCK with an error. */
int orch_recover(struct endpoints_db *const *dbs, size_t n, enum db_direction dir,
                 const struct orch_opts *o, struct orch_result *res, struct ferry_error *err);

/* After ORCH_DONE, outside the pause, each its own retried step:
 * the reverse stream started (and for DB_REVERSE, what it carried back
 * counted into *r, which may be NULL; the engine's reverse_note too, in
 * either direction), the forward stream dropped. */
int orch_start_reverse(struct endpoints_db *d, enum db_direction dir, const char *fence_pos,
                       struct orch_db_result *r, struct ferry_error *err);
int orch_drop_forward(struct endpoints_db *d, enum db_direction dir, struct ferry_error *err);

/* Where d stands in direction dir's terms: *who 1 when to is the writer
 * (from fenced, to not, every endpoint at to and not paused), 0 when from
 * is (the opposite), -1 when neither, with what was seen in why.  Returns
 * 0, or an error when the world cannot be read. */
int orch_writer(struct endpoints_db *d, enum db_direction dir, int *who, char *why, size_t whylen,
                struct ferry_error *err);

/* Read-only checks of every endpoint of dbs (ferry check): it answers,
 * points where the next switch expects (from of dir), is not paused, and
 * what ferry writes can be written.  Rows appended to out. */
int orch_check(struct endpoints_db *const *dbs, size_t n, enum db_direction dir,
               struct check_rows *out, struct ferry_error *err);

/*
 * The dry run: every action of the switch of dbs in direction dir, in the
 * order it runs, one per line:
 *	STEP [pause] DATABASE TARGET: ACTION
 * TARGET "old"/"new" (the database's sides) or an endpoint's "NAME
 * console|host|api|shell"; "[pause]" inside the write pause.  The undo's
 * lines come last (STEP "undo").  dbs come from endpoints_db_config() (no
 * connection).  Returns 0, FERRY_EINVAL, FERRY_EPROTO (out full).
 */
int orch_describe(struct endpoints_db *const *dbs, size_t n, enum db_direction dir, struct buf *out,
                  struct ferry_error *err);

/* The pause budget of a transaction over dbs: the smallest one (ms). */
int64_t orch_budget(struct endpoints_db *const *dbs, size_t n);

#endif
