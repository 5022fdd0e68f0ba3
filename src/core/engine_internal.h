/*
 * engine_internal.h - what the phases (phase_*.c) share with engine.c.
 *
 * A phase is a function that does its side effects as journaled steps and
 * then evaluates its gate.  It returns
 *	PHASE_PASSED  the gate holds: the engine records it and moves on;
 *	PHASE_WAIT    a time gate is not due: e->wait_until / e->wait_why set;
 *	< 0           a failure (FERRY_ECHECK for a gate that does not hold,
 *	              with the evidence in err).
 *
 * A step:
 *	r = engine_step_begin(e, "dns.set_ttl", rec, detail, &id, err);
 *	... the side effect ...
 *	engine_step_done(e, id, r == 0, result, err);
 * The step's intent is durable before the side effect starts.
 */
#ifndef FERRY_CORE_ENGINE_INTERNAL_H
#define FERRY_CORE_ENGINE_INTERNAL_H

#include "core/engine.h"
#include "db/db.h"
#include "journal/journal.h"
#include "dns/dns.h"
#include "traffic/traffic.h"

enum {
	PHASE_WAIT = 0,
	PHASE_PASSED = 1,
	PHASE_ROLLED_BACK = 2,
};

struct engine {
	const struct plan *plan;
	struct journal *j;
	struct engine_opts opts;
	enum engine_phase phase;
	int64_t phase_since_ms;   /* when the journal entered it (0: not yet) */
	struct dns_provider *dns; /* opened on first use */
	const struct traffic_driver *lb_drv;
	struct traffic_lb *lb;     /* opened on first use */
	struct traffic_lb *lb_new; /* traffic.admin_new, opened by the monitor */
	char *state;               /* the journal's path (files ferry keeps beside it) */
	int64_t wait_until;        /* seconds, for PHASE_WAIT */
	char wait_why[256];
	/* The way back (monitor.c: engine_way_back): after a cutover, the
	 * reverse streams are sampled while ferry watches. */
	bool watch_way_back;
	struct endpoints_db **wb; /* opened on first use */
	size_t nwb;
	int64_t wb_next_ms;        /* the next sample, time_mono_ms() */
	bool *wb_broken;           /* per database, the last state said */
	bool waiting;              /* inside a time gate's wait (wait_for) */
	int64_t heartbeat_last_ms; /* monotonic; 0: none yet */
};

/* Writes the intent of step name on object (NULL for none) in the current
 * phase, durably.  Returns 0 with *id set, or the journal's error.  Honours
 * FERRY_CRASH_AT=name.  (A dry run never gets here: dryrun.c describes.) */
int engine_step_begin(struct engine *e, const char *name, const char *object, const char *detail,
                      int64_t *id, struct ferry_error *err);
/* Records the step's completion.  Honours FERRY_CRASH_AT=name:after (a crash
 * after the side effect, before this row). */
int engine_step_done(struct engine *e, int64_t id, const char *name, bool ok, const char *result,
                     struct ferry_error *err);

/* The WAL guard (wal_guard.c): samples the slot of dir's stream of one
 * open database (engine_wal_guard_db; *last_alarm throttles the alarm to
 * one a minute) or of every database of the plan (engine_wal_guard), and
 * past the plan's limit drops replication: FERRY_ECHECK saying what that
 * costs.  0 otherwise. */
struct endpoints_db;
int engine_wal_guard_db(struct engine *e, struct endpoints_db *d, enum db_direction dir,
                        int64_t *last_alarm, struct ferry_error *err);
int engine_wal_guard(struct engine *e, enum db_direction dir, struct ferry_error *err);

/* Progress and event lines. */
__attribute__((format(printf, 3, 4))) void engine_say(struct engine *e, const char *object,
                                                      const char *fmt, ...);
__attribute__((format(printf, 2, 3))) void engine_live(struct engine *e, const char *fmt, ...);

/* Sets the wait and returns PHASE_WAIT. */
__attribute__((format(printf, 3, 4))) int engine_wait(struct engine *e, int64_t until,
                                                      const char *fmt, ...);

/* Opens e->dns if needed. */
int engine_dns(struct engine *e, struct ferry_error *err);
/* Opens e->lb (the plan's load balancer runtime API) if needed. */
int engine_traffic(struct engine *e, struct ferry_error *err);

/* A step's detail as compact JSON from a jansson pack format ("{s:i}", ...).
 * Caller frees. */
char *engine_detail(const char *fmt, ...);

/* Sends pct percent of the plan's traffic to the new server, as the step
 * "traffic.split" (why says what for, in the journal and the output). */
int engine_split(struct engine *e, double pct, const char *why, struct ferry_error *err);

/*
 * The split by weighted DNS (split_dns.c), for traffic.via: dns:
 * engine_dns_split() is engine_split()'s work in that mode (pct 0: the
 * plain old set; 100: nothing, the cutover's DNS move does it);
 * engine_dns_expected() is what a record holds by ferry's own journal (the
 * plan's old set, or the split ferry set last), the expected value of the
 * next change; engine_dns_forget_split() after a record left its split.
 */
int engine_dns_split(struct engine *e, double pct, const char *why, struct ferry_error *err);
void engine_dns_expected(struct engine *e, const char *name, struct dns_state *st);
int engine_dns_forget_split(struct engine *e, const char *name, struct ferry_error *err);
/* What the records hold at pct percent to new: the plain old set (0), the
 * split with its weights, the plain new set (100); *eff the percent the
 * weights give.  The state borrows the plan. */
void engine_dns_split_state(const struct plan *p, double pct, struct dns_state *st, double *eff);

/*
 * Watches the new side for duration_ms (monitor.c): every second the load
 * balancer's counters and a health probe go to the journal and into the
 * rollback triggers.  Returns 1 when the time passed with no trigger, 0 on
 * a breach (its evidence in evidence), or a negative error.
 */
int engine_monitor(struct engine *e, int64_t duration_ms, const char *label, char *evidence,
                   size_t evlen, struct ferry_error *err);

/*
 * Samples the way back of every database (its reverse stream: lag, apply
 * errors, a worker) at most every 5 s, into the journal (reverse_lag_ms,
 * reverse_lag_bytes) and the key wayback.DATABASE ("ok" or what is wrong).
 * A broken way back, or one that cannot be read, is said once when it
 * breaks and once when it heals; it does not roll back (a rollback needs
 * that very stream), it makes the operator see it before a rollback is
 * refused.
 */
void engine_way_back(struct engine *e);

/* The phases. */
int phase_prepare(struct engine *e, struct ferry_error *err);
int phase_replicate(struct engine *e, struct ferry_error *err);
int phase_validate(struct engine *e, struct ferry_error *err);
int phase_cutover(struct engine *e, struct ferry_error *err);
int phase_decommission(struct engine *e, struct ferry_error *err);
/* Resolves an open db.switch / db.switch_back step (recover()).  Returns 1
 * if it was one and the switch was completed, 0 to mark it interrupted. */
int phase_cutover_resolve(struct engine *e, const struct journal_step *s, struct ferry_error *err);

/* Runs the plan's hooks for event (hooks.c): once per cutover round, each a
 * journaled step; a failing before_* hook returns FERRY_ECHECK. */
int engine_hooks(struct engine *e, const char *event, struct ferry_error *err);
/* How a hook is named in the journal, messages, the dry run and the
 * report: its command's name, a webhook's origin only (scheme://host: the
 * path and query may hold a token), or where its URL is kept ("url_env
 * NAME", "url_file PATH"). */
void engine_hook_label(const struct plan_hook *h, char *out, size_t len);

/* FERRY_CRASH_AT: kills the process at the named point (see engine.h). */
void engine_crash_point(const char *name, bool after);
/* Resolves an open dns.* step left by a crashed run: checks the world and
 * records the step done or interrupted.  Returns 1 if it was a dns step. */
int phase_prepare_resolve(struct engine *e, const struct journal_step *s, struct ferry_error *err);

#endif
