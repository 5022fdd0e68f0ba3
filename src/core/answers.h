/*
 * answers.h - the five questions a cutover must have answers to before it
 * may start (DESIGN §1, issue 15): what triggers a rollback, who may
 * authorize one, how long it takes, what data it puts at risk, and when the
 * window for it ends.  `ferry check` shows them as rows, the cutover gate
 * refuses without them (unless the plan's rollback.waiver says why a run
 * may go without), and `ferry plan`, `ferry status` and the report show
 * them.
 *
 * Where each answer comes from:
 *   trigger    rollback.when (error rate, latency, health, Prometheus);
 *   authority  rollback.authority;
 *   duration   measured, never estimated: with DNS, a rehearsal of the DNS
 *              part on rollback.canary (rollback_rehearse(), journaled as
 *              "rollback.rehearsal"); with databases, the measured rollback
 *              of an earlier run of the same plan shape (rollback.evidence:
 *              that run's journal, its "rollback.duration_ms" and
 *              "rollback.shape");
 *   data       the way back healthy (the engines' readiness rows for the
 *              reverse stream: no acknowledged write lost) and what the
 *              engines say replication does not carry;
 *   window     rollback.window after the cutover.
 */
#ifndef FERRY_CORE_ANSWERS_H
#define FERRY_CORE_ANSWERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "journal/journal.h"
#include "plan/plan.h"
#include "util/check.h"
#include "util/error.h"

enum answer_id {
	ANSWER_TRIGGER,
	ANSWER_AUTHORITY,
	ANSWER_DURATION,
	ANSWER_DATA,
	ANSWER_WINDOW,
	ANSWER_N
};

enum answer_state {
	ANSWER_OK,      /* answered */
	ANSWER_MISSING, /* not answered: the gate refuses (text says why, hint how) */
	ANSWER_UNKNOWN, /* not asked in this view (e.g. the engines, offline) */
};

struct rollback_answer {
	const char *key;      /* "trigger", "authority", "duration", "data", "window" */
	const char *question; /* "what triggers a rollback" */
	enum answer_state state;
	char text[1024];
	char hint[512];
};

struct rollback_answers {
	struct rollback_answer a[ANSWER_N];
	bool complete;                     /* every answer OK */
	const char *waiver;                /* the plan's rollback.waiver (borrowed), or NULL */
	int64_t rehearsal_ms, evidence_ms; /* -1 when not measured */
};

/*
 * Builds the answers from the plan, the journal (NULL: none yet) and the
 * engines' readiness rows as `ferry check` makes them (check "db", object
 * "DATABASE ROW"; NULL: the engines were not asked, and the data answer
 * says what the gate last found, from the journal).
 */
void rollback_answers_build(const struct plan *p, struct journal *j, const struct check_rows *db,
                            struct rollback_answers *out);
/* The answers as rows for `ferry check` (check "rollback.KEY"): missing
 * answers fail, or warn under a waiver. */
void rollback_answers_rows(const struct rollback_answers *a, struct check_rows *rows);
/* {"complete": B, "waiver": S|null, "answers": [{key, question, state, text, hint}]} */
json_t *rollback_answers_json(const struct rollback_answers *a);
/* The answers' JSON (above) as text lines for plan and status. */
void rollback_answers_print(const json_t *o, FILE *f);

struct endpoints_db;
/* The engines' readiness rows of every database (read only), check "db",
 * object "DATABASE ROW" (or "DATABASE" when it cannot be asked); each (if
 * not NULL) is called with every database that answered, still open. */
void rollback_db_rows(const struct plan *p, struct check_rows *rows,
                      void (*each)(struct endpoints_db *d, void *ctx), void *ctx);

/* The plan's shape: what a rollback of it has to do ("dns=rfc2136x2
 * traffic=haproxy databases=postgresql"), compared with the evidence's. */
void rollback_shape(const struct plan *p, char *out, size_t len);

/*
 * The rehearsal: rollback.canary, which must hold hosts.old's set, moved to
 * hosts.new's by compare-and-swap at the cutover TTL and, once the
 * authoritative server and every watched resolver answer the new set, back
 * to the old set (at its own TTL) by compare-and-swap, timed from the start
 * of the move back until the server and every resolver answer the old set
 * again.  Journaled as the step dns.rehearse and the key
 * "rollback.rehearsal" (JSON: ms, forward_ms, canary, at, resolvers).  say
 * prints a line of progress.  A failure after the first swap puts the
 * canary back before returning.  Sets *ms.
 */
int rollback_rehearse(const struct plan *p, struct journal *j,
                      void (*say)(void *ctx, const char *line), void *ctx, int64_t *ms,
                      struct ferry_error *err);

#endif
