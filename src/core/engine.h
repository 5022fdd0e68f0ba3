/*
 * engine.h - the phase engine: carries a plan through prepare, replicate,
 * validate, cutover and decommission (DESIGN §1), one gate at a time.
 *
 * The journal is the engine's memory; the engine itself holds nothing that
 * matters between runs.  A run:
 *
 *	engine_open(&e, plan, state_path, &opts, err);   (takes the run lock)
 *	engine_run(e, &outcome, err);
 *	engine_close(e);
 *
 * engine_run() first resolves the steps an earlier run left open (a crash
 * between an intent and its done row): each step's owner checks the world
 * and either finishes it or records that it must be redone.  Then it
 * evaluates the current phase: a phase does its side effects as journaled
 * steps (engine_step_begin / engine_step_done), then evaluates its gate
 * from live checks plus the journal.  A gate that holds advances the phase;
 * a time gate not yet due waits (or returns ENGINE_WAITING under
 * opts.no_wait); a gate that fails stops the run with the evidence.
 *
 * Every side effect is a step; every step is idempotent or checks the world
 * before acting again (DESIGN §6), so kill -9 at any instant and a new run
 * finish correctly.  FERRY_CRASH_AT=NAME (the environment) kills the
 * process with SIGKILL right after the intent row of the step NAME (or
 * "NAME:after", right after its side effect, before the done row): the
 * fault injection of the crash tests.
 *
 * Ownership: the engine borrows the plan (which must outlive it) and owns
 * its journal and driver handles.
 */
#ifndef FERRY_CORE_ENGINE_H
#define FERRY_CORE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "plan/plan.h"
#include "util/error.h"

enum engine_phase {
	ENGINE_PREPARE,
	ENGINE_REPLICATE,
	ENGINE_VALIDATE,
	ENGINE_CUTOVER,
	ENGINE_DECOMMISSION,
	ENGINE_DONE,
};

const char *engine_phase_name(enum engine_phase ph);
/* Returns 0 and *out, or FERRY_EINVAL for an unknown name. */
int engine_phase_parse(const char *s, enum engine_phase *out);

enum engine_outcome {
	ENGINE_FINISHED, /* the migration is complete */
	ENGINE_STOPPED,  /* --until reached */
	ENGINE_WAITING,  /* --no-wait and a time gate not yet due */
	ENGINE_ROLLED_BACK,
};

/*
 * What a run tells its command, as it happens:
 *	ENGINE_EVENT_SAY        a line for the output and the journal's events;
 *	ENGINE_EVENT_LIVE       a progress line (a countdown, the soak's lag),
 *	                        about every second, replaced in place on a
 *	                        terminal and not journaled;
 *	ENGINE_EVENT_HEARTBEAT  without a terminal (opts.progress_tty false),
 *	                        the latest live line every opts.heartbeat_ms
 *	                        (and at the first one), so that a log shows a
 *	                        long wait is alive: phase, what it waits for.
 * Strings are borrowed for the call.
 */
enum engine_event_kind {
	ENGINE_EVENT_SAY,
	ENGINE_EVENT_LIVE,
	ENGINE_EVENT_HEARTBEAT,
};

struct engine_event {
	enum engine_event_kind kind;
	const char *phase;
	const char *object;      /* "" when none */
	const char *message;     /* the text after "OBJECT: " */
	const char *line;        /* "OBJECT: MESSAGE", as people read it */
	const char *waiting_for; /* a time gate being waited for, or NULL */
	const char *gate;        /* and its gate ("cutover window"), or NULL */
	int64_t until;           /* and when it is due (seconds), 0 otherwise */
};

struct engine_opts {
	bool until_set;
	enum engine_phase until; /* stop after this phase */
	bool no_wait;
	bool dry_run;           /* print every action, change nothing */
	const char *now_reason; /* --now: cut over outside the window (journaled) */
	bool progress_tty;      /* live lines are shown (a terminal): fewer plain lines */
	int64_t heartbeat_ms;   /* without a terminal: a heartbeat this often (0: none) */
	void (*progress)(void *ctx, const struct engine_event *ev);
	void *ctx;
};

struct engine;

/* Opens (creating) the journal at state, takes the run lock.  Errors:
 * FERRY_ELOCKED (another run), the journal's errors. */
int engine_open(struct engine **out, const struct plan *p, const char *state,
                const struct engine_opts *opts, struct ferry_error *err);
void engine_close(struct engine *e); /* NULL-safe */

/* Advances as far as the gates allow.  Returns 0 and *outcome, or a
 * negative code: FERRY_ECHECK for a failed gate (err holds the evidence),
 * or the error of the step that failed.  That error is also journaled
 * under the key ENGINE_LAST_ERROR as a JSON object (at_ms, phase, code,
 * message, hint), for `ferry status`; a run clears it when it starts. */
#define ENGINE_LAST_ERROR "run.last_error"
int engine_run(struct engine *e, enum engine_outcome *outcome, struct ferry_error *err);

/* Resolves the steps a crashed run left open (each owner checks the world
 * and completes or undoes).  engine_run() does it first; `ferry rollback`
 * calls it before engine_rollback(). */
int engine_resolve(struct engine *e, struct ferry_error *err);

/* Runs the rollback (DESIGN §2, in reverse: DNS, weights, then each
 * database) now, and returns the plan to the replicate phase.  reason is
 * journaled.  Also what `ferry rollback` runs. */
int engine_rollback(struct engine *e, const char *reason, struct ferry_error *err);

/*
 * Appends to out every action from the current phase to the end (or, with
 * rollback, every action of the rollback), in order, with the exact DNS
 * updates, SQL statements, pooler and runtime API commands (dryrun.c).
 * Reads the DNS records; changes nothing.  What it cannot read (the DNS
 * server unreachable: offline, or its key missing) it takes from the plan
 * (the longest TTL it states, hosts.old.address), says so where it is
 * used, and lists at the end under "== not read".  For an engine opened
 * with opts.dry_run.
 */
struct buf;
int engine_describe(struct engine *e, bool rollback, struct buf *out, struct ferry_error *err);

/* The phase the journal says the plan is in, and when it was entered
 * (milliseconds; 0 when no phase was entered yet). */
enum engine_phase engine_phase_now(const struct engine *e);
int64_t engine_phase_since(const struct engine *e);

/* When a run returned ENGINE_WAITING: the instant (seconds) it waits for and
 * why. */
int64_t engine_waiting_until(const struct engine *e, const char **why);

#endif
