/*
 * matrix.h - the harness the three switch fault matrices share
 * (switch/test_switch_matrix.c for PostgreSQL, mariadb/test_mariadb_switch.c,
 * redis/test_redis_switch.c).  A matrix is a table of cases, each one thing
 * going wrong during a switch (FERRY_FAIL_AT at a step, kill -9 through
 * FERRY_CRASH_AT in a child, SIGTERM in a child, an act inside the pause),
 * run in turn against real servers under a write load with a ledger of
 * acknowledged writes; after each the test checks its world, and the
 * harness prints one line per case and the summary "N passed, M failed".
 *
 * What stays in each test: its servers, its engine and switch setup, its
 * writers (behind struct matrix_load), the checks of its world (where the
 * endpoints point, who is fenced, the probe write) and the order of what
 * its run_case does.
 *
 * Calling sequence:
 *	main:     rc = matrix_child_main(argc, argv, child);   first: a case's
 *	          if (rc >= 0) return rc;                       child re-runs us
 *	          setup, seed (matrix.load set, matrix_writers_wait);
 *	          matrix_table_steps / matrix_table_add ...;
 *	          matrix_walk(&table, run_case);
 *	          return matrix_summary("...", ...);
 *	run_case: matrix_case_begin(c);
 *	          c->sigterm || c->crash_at ? matrix_child_run(srv, c, dir)
 *	                                    : matrix_arm(c), orch_switch, matrix_disarm();
 *	          ... the next run's recovery, the after-switch steps ...
 *	          gap = matrix_gap(t0, t1, c->dead_load, limit_ms);
 *	          the world's checks, matrix_ledger_check(w), matrix_writers_alive();
 *	          matrix_case_end(c, dir, outcome, pause_ms, gap, ready, note);
 *
 * Ownership: the harness owns nothing of the test's; matrix_password()
 * returns a string the caller frees with xfree_secret().
 */
#ifndef FERRY_TEST_MATRIX_H
#define FERRY_TEST_MATRIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/orchestrator.h"
#include "db/db.h"

/* One case.  A field left zero does not apply. */
struct matrix_case {
	const char *name;
	const char *fail_at;                   /* FERRY_FAIL_AT (in the run, or the child's) */
	const char *crash_at;                  /* FERRY_CRASH_AT, in a child */
	bool sigterm;                          /* SIGTERM at db.fence, in a child */
	const char *act_at;                    /* the fault point where act runs (once) */
	void (*act)(void);                     /* inside the pause, in this process */
	const char *then_at;                   /* a later point where then runs (once, */
	void (*then)(void);                    /* after act) */
	void (*repair)(enum db_direction dir); /* an operator's, before the next run */
	int dead_load;                         /* 1 + a writer whose endpoint died (its gap is
	                          * not bounded), or 0 */
	const char *after_error;               /* the after-switch steps must fail saying this */
	int face;                              /* 1 + the direction the case needs (a clean
	                          * switch runs first when the world faces the
	                          * other way), or 0 */
};

/* The table of a matrix: its cases, and the names it made for them. */
#define MATRIX_MAX 200
struct matrix_table {
	struct matrix_case c[MATRIX_MAX];
	char names[MATRIX_MAX][96];
	size_t n;
};

/* The test's writers, for the waits and the ledger checks (k < n). */
struct matrix_load {
	int n;
	size_t (*count)(int k);                    /* acknowledged writes so far */
	const char *(*last_error)(int k);          /* for a message */
	int64_t (*gap_us)(int k, int64_t t0_us,    /* the longest time without an */
	                  int64_t t1_us);          /* acknowledgement in [t0, t1] */
	int64_t (*missing)(int k, enum db_side w); /* acknowledged writes not
	                                            * on w (< 0: cannot tell) */
};

/* The state of a matrix. */
struct matrix {
	char why[1024];        /* the current case's first failure, "" */
	int passed, failed;    /* the cases so far */
	enum db_direction dir; /* the next switch's direction */
	struct matrix_load load;
};
extern struct matrix matrix;

/* The orchestrator's options for every switch of a matrix (signals blocked
 * inside the pause, as ferry run has them). */
extern const struct orch_opts matrix_opts;

/* ---- small tools --------------------------------------------------------- */

/* "matrix: MESSAGE" on stderr, then exit(1): the servers or the harness
 * cannot go on. */
__attribute__((format(printf, 1, 2), noreturn)) void matrix_die(const char *fmt, ...);
/* Keeps the first failure of the current case in matrix.why; the case
 * goes on to the end. */
__attribute__((format(printf, 1, 2))) void matrix_bad(const char *fmt, ...);
/* system() of a formatted command line: its exit status, or -1. */
__attribute__((format(printf, 1, 2))) int matrix_sh(const char *fmt, ...);
/* The environment variable NAME as a number, or def when unset. */
int matrix_envint(const char *name, int def);
void matrix_msleep(int64_t ms);
/* DIR/ferry.pw without its trailing newlines (dies when unreadable). */
char *matrix_password(const char *dir);
/* The port HAProxy's server BACKEND/db points at, through the runtime API
 * at ADDR ("127.0.0.1:PORT"); -1 (and matrix_bad) when it cannot tell. */
int matrix_haproxy_port(const char *addr, const char *backend);

/* ---- the table ------------------------------------------------------------- */

/* Adds c (dies when the table is full). */
void matrix_table_add(struct matrix_table *t, struct matrix_case c);
/* Adds a case per step of the NULL-ended list, ROUNDS times over: with
 * crash false each fails there (FERRY_FAIL_AT, named as the step), with
 * crash true a child is killed there (FERRY_CRASH_AT, "kill -9 at STEP").
 * With faced, round r's first case faces direction r (1 + r). */
void matrix_table_steps(struct matrix_table *t, const char *const *steps, bool crash, int rounds,
                        bool faced);
/* Runs run_case on every case (MATRIX_ONLY=TEXT: those whose name holds
 * TEXT), a clean switch before a case that faces the other way. */
void matrix_walk(const struct matrix_table *t, void (*run_case)(const struct matrix_case *c));

/* ---- a case ------------------------------------------------------------------ */

/* The start of a case: no failure yet, its act not done, the fault
 * counters reset. */
void matrix_case_begin(const struct matrix_case *c);
/* The in-process switch's fault plumbing: FERRY_FAIL_AT=c->fail_at and
 * the hook that runs c->act once at c->act_at, then c->then once at
 * c->then_at; matrix_disarm() undoes both. */
void matrix_arm(const struct matrix_case *c);
void matrix_disarm(void);
/* The child of a case: runs the test's binary again with FERRY_CRASH_AT
 * and FERRY_FAIL_AT of the case in its environment (none left in ours),
 * switching DIR on the servers in SRV; it must die of SIGKILL (crash_at)
 * or SIGTERM (sigterm, raised at db.fence) else matrix_bad. */
void matrix_child_run(const char *srv, const struct matrix_case *c, enum db_direction dir);
/* In main, first: when argv says this process is such a child, runs
 * child(srv, dir, err) (the test's switch; SIGTERM raised at db.fence for
 * a SIGTERM case) and returns 3 (it was to die); else -1. */
int matrix_child_main(int argc, char **argv,
                      void (*child)(const char *srv, enum db_direction dir,
                                    struct ferry_error *err));
/* Is STEP one after the resume (the switch was done when a child died
 * there: the next run retries what follows)? */
bool matrix_after_resume(const char *step);

/* Waits up to MS for every database's stream that feeds the next switch
 * (matrix.dir) to be caught up as caught_up says; 0, or -1 and
 * matrix_bad. */
int matrix_wait_ready(struct endpoints_db *const *dbs, size_t n, int64_t ms,
                      bool (*caught_up)(const struct db_lag *lag));
/* Waits for every writer to have MORE acknowledged writes than now
 * (within MS each): on a writer that does not, matrix_die when fatal,
 * else matrix_bad. */
void matrix_writers_wait(size_t more, int64_t ms, bool fatal);
/* Every writer goes on writing after the case (5 more, 10 s each). */
void matrix_writers_alive(void);
/* The longest gap between acknowledgements of the writers within
 * [t0 - 200 ms, t1 + 200 ms], but writer dead_load - 1; over limit_ms (0:
 * no bound): matrix_bad naming each writer's.  Returns it (us). */
int64_t matrix_gap(int64_t t0_us, int64_t t1_us, int dead_load, int64_t limit_ms);
/* The longest pause writers may see in a switch with that budget, even
 * one that fails at its end (an overrun): the budget, the undo's own
 * bound, then 250 ms for a writer's next round trip on a loaded machine
 * (ASan, and the lab running beside the suite). */
#define MATRIX_PAUSE_LIMIT_MS(budget) ((budget) + ORCH_UNDO_MS + 250)
/* No acknowledged write of any writer is missing on w (waits up to 15 s
 * each for what replication still carries), else matrix_bad. */
void matrix_ledger_check(enum db_side w);
/* The end of a case: counted passed when ready (the stream for the next
 * switch caught up) and nothing failed, and its line printed:
 * ok|FAIL, name, direction -> outcome, the writer, the pause, the
 * clients' longest gap, note, the first failure. */
void matrix_case_end(const struct matrix_case *c, enum db_direction dir, enum orch_outcome outcome,
                     int64_t pause_ms, int64_t gap_us, bool ready, const char *note);
/* "N passed, M failed (WHAT)" on stdout; the exit status (1 on a
 * failure). */
__attribute__((format(printf, 1, 2))) int matrix_summary(const char *fmt, ...);

#endif
