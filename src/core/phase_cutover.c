/*
 * phase_cutover.c - phase 4 (DESIGN §2): the single-writer cutover, then
 * the monitor period with automatic rollback; and the rollback itself,
 * which `ferry rollback` runs too.
 *
 * The cutover, in order (nothing before step 3 changes anything):
 *  1. the window: only inside the plan's cutover window, or with --now and
 *     a reason (journaled);
 *  2. preflight without side effects: the key, every record still on the
 *     old address at the cutover TTL, the load balancer's runtime API;
 *     every database's and every switch endpoint's preflight runs first
 *     inside the switch, before anything is paused;
 *  3. the rollback plan written to the journal and printed;
 *  4. every database switched at once (core/orchestrator.h: one write
 *     pause, all or nothing), then per database the reverse stream
 *     started and the forward one dropped, each its own retried step;
 *  5. the load balancer: all traffic to new;
 *  6. DNS: a compare-and-swap of each record from old to new;
 *  7. monitor for schedule.monitor; a trigger rolls back at once.
 *
 * A cutover and its rollback form a round (journal key cutover.round):
 * steps are journaled per round, so that after a rollback the next
 * cutover starts afresh.  A rollback in progress is remembered
 * (rollback.pending) and finished first by any later run.
 *
 * Inside the write pause ferry journals nothing (an fsync is not needed
 * there): the orchestrator honours FERRY_CRASH_AT and FERRY_FAIL_AT, and
 * its recovery inspects the world itself, which is why the switch of all
 * databases is one journaled step (db.switch or db.switch_back, object
 * "databases (round N)") whose open intent means "run orch_recover()".  A
 * switch the orchestrator could neither finish nor undo (ORCH_STUCK) leaves
 * that step open on purpose, so that the next run recovers it first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/answers.h"
#include "core/endpoints.h"
#include "core/engine_internal.h"
#include "core/orchestrator.h"
#include "core/prepare.h"
#include "core/schedule.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* "main (round 2)": in round (NULL: the journal's current one). */
static void round_object_at(struct engine *e, const char *name, const char *round, char *out,
                            size_t len)
{
	char *cur = NULL;

	if (!round && journal_get(e->j, "cutover.round", &cur, NULL) < 0)
		cur = xstrdup("1");
	snprintf(out, len, "%s (round %s)", name, round ? round : cur);
	free(cur);
}

static void round_object(struct engine *e, const char *name, char *out, size_t len)
{
	round_object_at(e, name, NULL, out, len);
}

/* A time for the report (journal key KEY, milliseconds). */
static void set_ms(struct engine *e, const char *key, int64_t ms)
{
	char v[32];

	snprintf(v, sizeof(v), "%lld", (long long)ms);
	journal_set(e->j, key, v, NULL);
}

static int bump(struct engine *e, const char *key, struct ferry_error *err)
{
	char *v = NULL, next[24];

	if (journal_get(e->j, key, &v, NULL) < 0)
		v = xstrdup("1");
	snprintf(next, sizeof(next), "%ld", strtol(v, NULL, 10) + 1);
	free(v);
	return journal_set(e->j, key, next, err);
}

/* --- DNS ------------------------------------------------------------------ */

/* Moves every record from the plan's value set of host `from` to that of
 * `to` at the cutover TTL, each a compare-and-swap that expects the PLAN's
 * set of `from` (never what was just read: a record someone else changed
 * is refused, not overwritten); forward, with traffic.via dns, the split
 * ferry journaled for it (split_dns.c).  A record already on `to` is left
 * alone (a resumed run). */
static int dns_move(struct engine *e, const char *step, const struct plan_host *from,
                    const struct plan_host *to, struct ferry_error *err)
{
	const struct plan_dns *d = &e->plan->dns;
	struct dns_state expect = endpoints_dns_state(from), want = endpoints_dns_state(to);
	char ftext[512], wtext[512];
	size_t i;
	int r = 0;

	if (!d->present)
		return 0;
	dns_state_format(&expect, ftext, sizeof(ftext));
	dns_state_format(&want, wtext, sizeof(wtext));
	r = engine_dns(e, err);
	for (i = 0; r >= 0 && i < d->records.n; i++) {
		const char *name = d->records.v[i];
		char *detail = engine_detail("{s:s, s:s, s:i}", "from", ftext, "to", wtext, "ttl",
		                             (int)d->ttl.cutover);
		struct dns_rrset rs;
		int64_t id = 0;

		if (from == &e->plan->host_old)
			engine_dns_expected(e, name, &expect);
		dns_rrset_init(&rs);
		r = dns_query(e->dns, name, &rs, err);
		if (r == 0 && dns_rrset_matches(&rs, &want) && rs.ttl == d->ttl.cutover) {
			dns_rrset_release(&rs);
			free(detail);
			continue; /* already there (a resumed run) */
		}
		if (r == FERRY_ENOTFOUND)
			r = 0; /* the compare-and-swap refuses it, saying so */
		if (r == 0)
			r = engine_step_begin(e, step, name, detail, &id, err);
		free(detail);
		if (r == 0) {
			r = dns_cas(e->dns, name, &expect, &want, d->ttl.cutover, err);
			engine_step_done(e, id, step, r == 0, r == 0 ? wtext : err->msg, NULL);
			if (r == 0)
				r = engine_dns_forget_split(e, name, err);
			if (r == 0)
				engine_say(e, name, "now holds %s (TTL %u)", wtext, d->ttl.cutover);
		}
		dns_rrset_release(&rs);
	}
	return r;
}

/* --- the rollback plan ---------------------------------------------------- */

/* One database's line of the rollback plan, in its engine's and its
 * switch's terms (a MariaDB or Redis database behind HAProxy has no
 * pooler to fence and no sequences to copy). */
static void rollback_plan_db(struct buf *b, const struct plan_database *d)
{
	const char *fence, *drain;

	switch (d->engine) {
	case PLAN_DB_MARIADB:
		fence = "fence the new database (read_only, the application's sessions ended)";
		drain = "let the old catch up through the reverse stream (GTID)";
		break;
	case PLAN_DB_REDIS:
		fence = "fence the new server (CLIENT PAUSE WRITE)";
		drain = "let the old catch up through its replication of the new";
		break;
	default:
		fence = "fence the new database";
		drain = "drain it to the old through reverse replication, copy sequences";
		break;
	}
	buf_addf(b, "  database %s: ", d->name);
	if (d->sw.via == PLAN_SWITCH_PGBOUNCER)
		buf_addf(b,
		         "fence the poolers, %s, %s, repoint the poolers at the old database, "
		         "resume",
		         fence, drain);
	else if (d->sw.via == PLAN_SWITCH_HAPROXY)
		buf_addf(b,
		         "%s, %s, point HAProxy's %s/%s at the old server, end the sessions to "
		         "the new one",
		         fence, drain, d->sw.backend, d->sw.server);
	else
		buf_addf(b, "%s, %s, %s", fence, drain,
		         d->sw.revert.n ? "run the switch's revert command"
		                        : "run the switch's point command with the old address");
	buf_addf(b, "; forward replication re-created without copy\n");
}

static int rollback_plan(struct engine *e, struct ferry_error *err)
{
	const struct plan *p = e->plan;
	struct buf b;
	size_t i;
	int r;

	buf_init(&b, 1 << 20);
	buf_addf(&b, "rollback plan for %s (authority: %s)\n", p->name,
	         p->rollback.authority ? p->rollback.authority : "not named");
	if (p->dns.present) {
		struct dns_state st_new = endpoints_dns_state(&p->host_new);
		struct dns_state st_old = endpoints_dns_state(&p->host_old);
		char t_new[512], t_old[512];

		const struct dns_provider_ops *ops = dns_provider_find(p->dns.provider);

		dns_state_format(&st_new, t_new, sizeof(t_new));
		dns_state_format(&st_old, t_old, sizeof(t_old));
		for (i = 0; i < p->dns.records.n; i++)
			buf_addf(&b,
			         "  dns: %s from %s back to %s, TTL %u (compare-and-swap, %s)\n",
			         p->dns.records.v[i], t_new, t_old, p->dns.ttl.cutover,
			         ops && ops->atomic ? "atomic" : "read-compare-write");
	}
	if (p->traffic.present && !strcmp(p->traffic.via, "dns"))
		buf_addf(&b, "  traffic: the DNS answers old only (the records above)\n");
	else if (p->traffic.present)
		buf_addf(&b, "  traffic: %s at %s: %s weight 100, %s weight 0\n",
		         p->traffic.backend, p->traffic.admin, p->traffic.server_old,
		         p->traffic.server_new);
	for (i = 0; i < p->ndatabases; i++)
		rollback_plan_db(&b, &p->databases[i]);
	r = journal_set(e->j, "rollback.plan", b.data, err);
	if (r == 0)
		engine_say(e, NULL, "%s", b.data);
	buf_release(&b);
	return r;
}

/* --- preflight ------------------------------------------------------------- */

/* True when this round's cutover began before (a crashed or failed
 * attempt): its DNS moves may have happened already. */
static bool cutover_begun(struct engine *e)
{
	struct journal_step_list l = { 0 };
	char object[64];
	bool found = false;
	size_t i;

	round_object(e, "cutover", object, sizeof(object));
	if (journal_steps_all(e->j, &l, NULL) < 0)
		return false;
	for (i = 0; i < l.n && !found; i++)
		found = !strcmp(l.v[i].name, "cutover.switched") && !strcmp(l.v[i].object, object);
	journal_step_list_release(&l);
	return found;
}

/* Every record must hold the plan's old value set at the cutover TTL
 * (or, in a resumed cutover, already the new set), checked before anything
 * is paused: a record on neither side refuses the cutover, naming what it
 * holds, with nothing changed. */
static int dns_preflight(struct engine *e, struct ferry_error *err)
{
	const struct plan *p = e->plan;
	struct dns_state st_old = endpoints_dns_state(&p->host_old);
	struct dns_state st_new = endpoints_dns_state(&p->host_new);
	bool resumed = cutover_begun(e);
	char have[512], t_old[512], t_new[512];
	size_t i;
	int r;

	r = engine_dns(e, err);
	if (r == 0)
		r = dns_check_access(e->dns, err);
	for (i = 0; r == 0 && i < p->dns.records.n; i++) {
		const char *name = p->dns.records.v[i];
		struct ferry_error xerr = { 0 };
		struct dns_rrset rs;

		/* the plan's old set, or the split ferry set (traffic.via dns) */
		engine_dns_expected(e, name, &st_old);
		dns_rrset_init(&rs);
		r = dns_expect(e->dns, name, &st_old, &rs, &xerr);
		if (r == FERRY_ECHANGED && resumed && dns_rrset_matches(&rs, &st_new))
			r = 0;
		if (r == FERRY_ECHANGED || r == FERRY_ENOTFOUND) {
			dns_rrset_format(&rs, have, sizeof(have));
			dns_state_format(&st_old, t_old, sizeof(t_old));
			dns_state_format(&st_new, t_new, sizeof(t_new));
			r = ferry_error_set(err, FERRY_ECHECK,
			                    "someone else changed the record since prepare: find "
			                    "out who and why, put it back to hosts.old's set (or "
			                    "fix the plan), then run again",
			                    "cutover refused before any database was paused: %s "
			                    "holds %s, neither hosts.old's %s nor hosts.new's %s; "
			                    "nothing was changed",
			                    name, r == FERRY_ENOTFOUND ? "no record" : have, t_old,
			                    t_new);
		} else if (r < 0) {
			*err = xerr;
		} else if (rs.ttl > p->dns.ttl.cutover) {
			r = ferry_error_set(err, FERRY_ECHECK,
			                    "the prepare phase lowers it; run 'ferry plan' to see "
			                    "when",
			                    "cutover refused: %s serves TTL %u, above the cutover "
			                    "TTL %u",
			                    name, rs.ttl, p->dns.ttl.cutover);
		}
		dns_rrset_release(&rs);
	}
	return r;
}

static int preflight(struct engine *e, struct ferry_error *err)
{
	const struct plan *p = e->plan;
	int r;

	if (p->dns.present) {
		r = dns_preflight(e, err);
		if (r < 0)
			return r;
	}
	if (p->traffic.present) {
		int w;

		r = engine_traffic(e, err);
		if (r == 0)
			r = e->lb_drv->get_weight(e->lb, p->traffic.backend, p->traffic.server_new,
			                          &w, NULL, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* --- databases -------------------------------------------------------------- */

struct dbset {
	struct endpoints_db **v;
	size_t n;
};

static void dbset_close(struct dbset *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		endpoints_db_close(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* Every database of the plan, connected. */
static int dbset_open(struct engine *e, struct dbset *s, struct ferry_error *err)
{
	size_t i;
	int r = 0;

	memset(s, 0, sizeof(*s));
	s->v = xcalloc(e->plan->ndatabases + 1, sizeof(*s->v));
	for (i = 0; r == 0 && i < e->plan->ndatabases; i++) {
		r = endpoints_db_open(e->plan, i, &s->v[i], err);
		if (r == 0)
			s->n++;
	}
	if (r < 0)
		dbset_close(s);
	return r;
}

static void orch_say(void *ctx, const char *object, const char *line)
{
	engine_say(ctx, object, "%s", line);
}

/* The journal object of the after-steps of database name: "main (round
 * 2)" for the cutover's, "main (round 2, back)" for the rollback's; in
 * round (NULL: the current one). */
static void after_object(struct engine *e, const char *name, enum db_direction dir,
                         const char *round, char *out, size_t len)
{
	char base[128];

	round_object_at(e, name, round, base, sizeof(base));
	if (dir == DB_REVERSE && base[0] && base[strlen(base) - 1] == ')')
		base[strlen(base) - 1] = '\0', snprintf(out, len, "%s, back)", base);
	else
		snprintf(out, len, "%s", base);
}

/*
 * After a switch in direction dir: per database, the reverse stream
 * started and the forward one dropped, each a journaled step a later run
 * retries until done (ferry status alarms while one is missing).  Errors
 * are reported and left to the retry: the switch itself is done.
 */
static int after_steps(struct engine *e, struct dbset *s, enum db_direction dir, const char *round,
                       struct orch_result *res, bool quiet)
{
	size_t i;
	int failed = 0;

	for (i = 0; i < s->n; i++) {
		struct endpoints_db *d = s->v[i];
		struct orch_db_result *dr = res && i < res->n ? &res->db[i] : NULL, retry = { 0 };
		static const char *const steps[2] = { "db.start_reverse", "db.drop_forward" };
		char object[160];
		int k;

		after_object(e, d->pd->name, dir, round, object, sizeof(object));
		for (k = 0; k < 2; k++) {
			struct ferry_error err = { 0 };
			const char *note;
			int64_t id = 0;
			int r;

			if (journal_step_find_done(e->j, steps[k], object, NULL, NULL) == 0)
				continue;
			r = engine_step_begin(e, steps[k], object,
			                      k == 0 ? "the way back: its stream started"
			                             : "the old way removed",
			                      &id, &err);
			if (r == 0)
				r = k == 0 ? orch_start_reverse(d, dir, dr ? dr->fence_pos : NULL,
				                                dr ? dr : &retry, &err)
				           : orch_drop_forward(d, dir, &err);
			note = k == 0 ? (dr ? dr : &retry)->reverse_note : "";
			if (id)
				engine_step_done(e, id, steps[k], r == 0,
				                 r < 0     ? err.msg
				                 : note[0] ? note
				                           : "done",
				                 NULL);
			if (r < 0) {
				failed++;
				engine_say(e, d->pd->name,
				           "%s failed (%s); retried by the next run, and `ferry "
				           "status` "
				           "shows it until then",
				           steps[k], err.msg);
				break;
			}
			/* the engine's word on how the way back began (Redis:
			 * partial or full resync) */
			if (note[0])
				engine_say(e, d->pd->name, "the way back: %s", note);
			if (k == 0 && dir == DB_REVERSE && dr && !quiet)
				engine_say(
				        e, d->pd->name,
				        "%lld transactions made on the new side were carried back",
				        (long long)dr->carried_txns);
		}
	}
	return failed;
}

/* The after-steps of the current round, if a switch in dir is done and
 * one of them is not (a retry). */
static void after_retry(struct engine *e, enum db_direction dir)
{
	struct ferry_error err = { 0 };
	struct dbset s;
	size_t i;
	bool missing = false;

	for (i = 0; i < e->plan->ndatabases && !missing; i++) {
		char object[160];
		after_object(e, e->plan->databases[i].name, dir, NULL, object, sizeof(object));
		missing =
		        journal_step_find_done(e->j, "db.start_reverse", object, NULL, NULL) < 0 ||
		        journal_step_find_done(e->j, "db.drop_forward", object, NULL, NULL) < 0;
	}
	if (!missing)
		return;
	if (dbset_open(e, &s, &err) < 0) {
		engine_say(e, "databases", "cannot retry the after-switch steps: %s", err.msg);
		return;
	}
	after_steps(e, &s, dir, NULL, NULL, true);
	dbset_close(&s);
}

/*
 * Every database switched in direction dir as one journaled step (step,
 * "databases (round N)").  Returns 0 when done (also when done before),
 * else the error; a switch the orchestrator left stuck keeps its step
 * open, for the next run's recovery.
 */
static int dbs_switch(struct engine *e, enum db_direction dir, const char *step,
                      struct ferry_error *err)
{
	struct orch_opts o = { .block_signals = true, .say = orch_say, .ctx = e };
	struct orch_result res = { 0 };
	struct dbset s = { 0 };
	char object[128], result[1280];
	int64_t id = 0;
	size_t i;
	int r;

	if (!e->plan->ndatabases)
		return 0;
	round_object(e, "databases", object, sizeof(object));
	if (journal_step_find_done(e->j, step, object, NULL, NULL) == 0) {
		after_retry(e, dir);
		return 0;
	}
	r = engine_step_begin(e, step, object,
	                      dir == DB_FORWARD ? "old -> new: the write pause"
	                                        : "new -> old: the write pause",
	                      &id, err);
	if (r == 0)
		r = dbset_open(e, &s, err);
	if (r < 0) {
		if (id)
			engine_step_done(e, id, step, false, err->msg, NULL);
		return r;
	}
	/* a rollback needs the cutover's after-steps done first: the way back
	 * started (it is what the rollback drains) and the forward stream
	 * dropped (its subscription would stand in for the one the rollback
	 * re-creates) */
	if (dir == DB_REVERSE) {
		dbset_close(&s);
		after_retry(e, DB_FORWARD);
		r = dbset_open(e, &s, err);
		if (r < 0) {
			engine_step_done(e, id, step, false, err->msg, NULL);
			return r;
		}
	}
	r = orch_switch_caught_up(s.v, s.n, dir, ORCH_LAG_WAIT_MS, &o, &res, err);
	if (res.outcome == ORCH_DONE) {
		snprintf(result, sizeof(result), "pause %lld ms%s; %s", (long long)res.pause_ms,
		         res.recovered ? " (completed by recovery)" : "", res.timings);
		for (i = 0; i < s.n; i++) {
			journal_sample_add(e->j, "write_pause_ms", s.v[i]->pd->name, time_wall_ms(),
			                   (double)res.pause_ms, NULL);
			engine_say(e, s.v[i]->pd->name, "%s; write pause %lld ms%s",
			           dir == DB_FORWARD ? "switched to the new database"
			                             : "switched back to the old database",
			           (long long)res.pause_ms,
			           res.db[i].fence_pos ? "" : " (recovered)");
		}
		engine_step_done(e, id, step, true, result, NULL);
		after_steps(e, &s, dir, NULL, &res, false);
		r = 0;
	} else if (res.outcome == ORCH_STUCK) {
		/* no done row: the next run's recovery finishes it */
		engine_say(e, "databases",
		           "the switch could be neither finished nor undone: %s; run `ferry run` "
		           "again (it recovers first)",
		           err->msg);
	} else {
		engine_step_done(e, id, step, false, err->msg, NULL);
	}
	orch_result_release(&res);
	dbset_close(&s);
	return r;
}

/* Called by the engine for an open db.switch / db.switch_back step left by
 * a crash or a stuck switch: the orchestrator's recovery finishes or undoes
 * it.  Returns 1 when it finished the switch (the step is done), 0 when it
 * undid it (the caller marks the step interrupted: it is redone). */
int phase_cutover_resolve(struct engine *e, const struct journal_step *s, struct ferry_error *err)
{
	struct orch_opts o = { .block_signals = false, .say = orch_say, .ctx = e };
	struct orch_result res = { 0 };
	struct dbset set = { 0 };
	enum db_direction dir;
	bool done;
	int r;

	if (!strcmp(s->name, "db.switch"))
		dir = DB_FORWARD;
	else if (!strcmp(s->name, "db.switch_back"))
		dir = DB_REVERSE;
	else
		return 0;
	r = dbset_open(e, &set, err);
	if (r == 0)
		r = orch_recover(set.v, set.n, dir, &o, &res, err);
	if (r < 0) {
		orch_result_release(&res);
		dbset_close(&set);
		return r;
	}
	done = res.outcome == ORCH_DONE;
	engine_say(e, "databases", "interrupted switch %s by recovery: no endpoint paused",
	           done ? "completed" : "undone");
	if (done) {
		/* the after-steps of the step's own round ("databases (round
		 * 1)"), which may be an earlier one than the journal's now */
		const char *at = strstr(s->object, "(round ");
		char round[24] = "";

		if (at)
			snprintf(round, sizeof(round), "%.*s", (int)strcspn(at + 7, ")"), at + 7);
		r = journal_step_done(e->j, s->id, true, "completed by recovery", err);
		if (r == 0)
			after_steps(e, &set, dir, round[0] ? round : NULL, &res, true);
	}
	orch_result_release(&res); /* outcome read before: release zeroes it */
	dbset_close(&set);
	if (r < 0)
		return r;
	return done ? 1 : 0;
}

/* --- rollback ----------------------------------------------------------- */

int engine_rollback(struct engine *e, const char *reason, struct ferry_error *err)
{
	const struct plan *p = e->plan;
	size_t i;
	int r;

	for (i = 0; i < p->ndatabases; i++)
		if (journal_step_find_done(e->j, "db.teardown", p->databases[i].name, NULL, NULL) ==
		    0)
			return ferry_error_set(err, FERRY_ESTATE,
			                       "the old database no longer receives the new side's "
			                       "writes; moving back is a new migration",
			                       "rollback refused: replication of database %s was "
			                       "removed at decommission",
			                       p->databases[i].name);
	if (e->opts.dry_run)
		BUG("a dry run describes the rollback (engine_describe), it does not run it");
	r = journal_set(e->j, "rollback.pending", reason, err);
	if (r < 0)
		return r;
	{
		/* the rollback's measured duration (rollback.evidence of a later
		 * plan of the same shape reads it): from the first rollback
		 * attempt of this round to its end */
		char *v = NULL, shape[256];

		if (journal_get(e->j, "rollback.started_ms", &v, NULL) < 0)
			set_ms(e, "rollback.started_ms", time_wall_ms());
		free(v);
		rollback_shape(p, shape, sizeof(shape));
		journal_set(e->j, "rollback.shape", shape, NULL);
	}
	engine_say(e, "rollback", "rolling back: %s", reason);
	engine_hooks(e, "on_rollback", NULL); /* reported; never blocks a rollback */
	r = dns_move(e, "dns.cas_back", &p->host_new, &p->host_old, err);
	if (r == 0 && p->traffic.present)
		r = engine_split(e, 0, "rollback", err);
	/* Only databases this round moved go back: all of them or none. */
	if (r == 0) {
		char object[128];
		round_object(e, "databases", object, sizeof(object));
		if (journal_step_find_done(e->j, "db.switch", object, NULL, NULL) == 0)
			r = dbs_switch(e, DB_REVERSE, "db.switch_back", err);
	}
	if (r < 0)
		return r;
	/* Back to the soak: the next cutover is a new round, validated
	 * again. */
	r = bump(e, "cutover.round", err);
	if (r == 0)
		r = bump(e, "validate.round", err);
	if (r == 0)
		r = journal_unset(e->j, "rollback.pending", err);
	if (r == 0) {
		char *v = NULL;
		int64_t now = time_wall_ms();

		set_ms(e, "rollback.done_ms", now);
		if (journal_get(e->j, "rollback.started_ms", &v, NULL) == 0) {
			set_ms(e, "rollback.duration_ms", now - strtoll(v, NULL, 10));
			journal_sample_add(e->j, "rollback_ms", p->name, now,
			                   (double)(now - strtoll(v, NULL, 10)), NULL);
			journal_unset(e->j, "rollback.started_ms", NULL);
		}
		free(v);
	}
	if (r == 0)
		r = journal_phase_set(e->j, engine_phase_name(ENGINE_REPLICATE), err);
	if (r == 0) {
		e->phase = ENGINE_REPLICATE;
		engine_say(e, "rollback",
		           "done: the old side serves everything again; the plan "
		           "is back in the replicate phase");
	}
	return r;
}

/* --- the five answers ------------------------------------------------------ */

/* The gate: every rollback answer (core/answers.h), journaled; without
 * one the cutover is refused, unless the plan waives it with a reason. */
static int answers_gate(struct engine *e, const char *object, struct ferry_error *err)
{
	struct rollback_answers a;
	struct check_rows db;
	const char *hint = NULL;
	struct buf missing;
	json_t *o;
	char *s;
	size_t i;
	int r = 0;

	check_rows_init(&db);
	rollback_db_rows(e->plan, &db, NULL, NULL);
	rollback_answers_build(e->plan, e->j, &db, &a);
	check_rows_release(&db);
	o = rollback_answers_json(&a);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s)
		journal_set(e->j, "rollback.answers", s, NULL);
	free(s);
	{
		/* as text too, for the report (which reads no JSON) */
		char *text = NULL;
		size_t tlen = 0;
		FILE *f = open_memstream(&text, &tlen);

		if (f) {
			o = rollback_answers_json(&a);
			rollback_answers_print(o, f);
			json_decref(o);
			fclose(f);
			journal_set(e->j, "rollback.answers_text", text + (text[0] == '\n'), NULL);
			free(text);
		}
	}
	buf_init(&missing, 1 << 16);
	for (i = 0; i < ANSWER_N; i++) {
		if (a.a[i].state == ANSWER_OK)
			continue;
		buf_addf(&missing, "%s%s (%s)", missing.len ? "; " : "", a.a[i].question,
		         a.a[i].text);
		if (!hint && a.a[i].hint[0])
			hint = a.a[i].hint;
	}
	if (a.complete) {
		journal_gate_record(e->j, "cutover", object, true,
		                    "the five rollback answers given", NULL);
	} else if (a.waiver) {
		engine_say(e, "cutover", "rollback answers missing, waived by the plan (%s): %s",
		           a.waiver, missing.data);
		journal_gate_record(e->j, "cutover", object, true, missing.data, NULL);
	} else {
		journal_gate_record(e->j, "cutover", object, false, missing.data, NULL);
		r = ferry_error_set(
		        err, FERRY_ECHECK, hint ? hint : "`ferry check PLAN` shows them",
		        "cutover refused before anything changed: no answer to %s", missing.data);
	}
	buf_release(&missing);
	return r;
}

/* --- the phase ----------------------------------------------------------- */

static int window_gate(struct engine *e, struct ferry_error *err)
{
	const struct plan_window *w = &e->plan->schedule.cutover_window;
	int64_t now = time_now(), start, end;
	bool inside;
	int r;

	if (!w->present)
		return PHASE_PASSED;
	r = schedule_window_contains(w, now, &inside, err);
	if (r < 0 || inside)
		return r < 0 ? r : PHASE_PASSED;
	if (e->opts.now_reason) {
		engine_say(e, "cutover", "outside the cutover window, by --now: %s",
		           e->opts.now_reason);
		journal_set(e->j, "cutover.now_reason", e->opts.now_reason, NULL);
		return PHASE_PASSED;
	}
	r = schedule_window_next(w, now, &start, &end, err);
	if (r < 0)
		return r;
	return engine_wait(e, start, "the cutover window");
}

static int cutover(struct engine *e, struct ferry_error *err)
{
	const struct plan *p = e->plan;
	char object[64];
	int64_t id = 0;
	int r;

	round_object(e, "cutover", object, sizeof(object));
	if (journal_step_find_done(e->j, "cutover.switched", object, NULL, NULL) == 0) {
		after_retry(e, DB_FORWARD);
		return 0;
	}
	if (!cutover_begun(e)) {
		char gate[64];

		round_object(e, "rollback answers", gate, sizeof(gate));
		r = answers_gate(e, gate, err);
		if (r < 0)
			return r;
	}
	r = preflight(e, err);
	if (r == 0)
		r = engine_hooks(e, "before_cutover", err);
	if (r < 0)
		return r;
	r = rollback_plan(e, err);
	if (r < 0)
		return r;
	r = engine_step_begin(e, "cutover.switched", object, NULL, &id, err);
	if (r < 0)
		return r;
	if (id) {
		set_ms(e, "cutover.started_ms", time_wall_ms());
		if (p->ndatabases)
			set_ms(e, "cutover.pause_budget_ms", p->databases[0].pause_budget_ms);
	}
	r = dbs_switch(e, DB_FORWARD, "db.switch", err);
	if (r < 0) {
		if (id)
			engine_step_done(e, id, "cutover.switched", false, err->msg, NULL);
		return ferry_error_prefix(err, "cutover failed, the old side still writes");
	}
	if (p->traffic.present) {
		r = engine_split(e, 100, "cutover", err);
		if (r < 0)
			return r;
	}
	r = dns_move(e, "dns.cas", &p->host_old, &p->host_new, err);
	if (r < 0)
		return r;
	if (id) {
		set_ms(e, "cutover.done_ms", time_wall_ms());
		r = engine_step_done(e, id, "cutover.switched", true, "done", err);
	}
	return r;
}

int phase_cutover(struct engine *e, struct ferry_error *err)
{
	char evidence[512], object[64];
	int r;

	r = window_gate(e, err);
	if (r != PHASE_PASSED)
		return r;
	r = cutover(e, err);
	if (r < 0)
		return r;
	round_object(e, "monitor", object, sizeof(object));
	e->watch_way_back = true;
	r = engine_monitor(e, e->plan->schedule.monitor_ms, object, evidence, sizeof(evidence),
	                   err);
	e->watch_way_back = false;
	if (r < 0)
		return r;
	if (r == 0) {
		journal_gate_record(e->j, "cutover", object, false, evidence, NULL);
		r = engine_rollback(e, evidence, err);
		return r < 0 ? r : PHASE_ROLLED_BACK;
	}
	journal_gate_record(e->j, "cutover", object, true, "monitor period passed, no trigger",
	                    NULL);
	return PHASE_PASSED;
}
