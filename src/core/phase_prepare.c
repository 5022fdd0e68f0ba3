/*
 * phase_prepare.c - phase 1: the DNS TTL step-down and its gate (DESIGN §1).
 *
 * Each pass reads what the authoritative server serves now, asks the
 * schedule which TTL step is due for each record, and takes the due ones:
 * one journaled step "dns.set_ttl" per change, a compare-and-swap on the
 * record's addresses (dns_set_ttl), after which the journal remembers when
 * and from which TTL it changed (prepare.h).  The gate holds when every
 * record serves the cutover TTL, at least the previous TTL has passed since
 * the last change (no resolver can still hold the longer one), and every
 * watched resolver hands out a TTL no higher than the cutover TTL.
 * Otherwise the phase waits for the earliest of those instants.
 *
 * A crash between the intent and the done row of a step leaves the
 * question "did the server apply it?"; phase_prepare_resolve() asks the
 * server: if the record serves the step's TTL the change happened, and is
 * taken as made at the time of the resume, which can only lengthen the
 * wait (the safe side).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/endpoints.h"
#include "core/engine_internal.h"
#include "core/prepare.h"
#include "core/schedule.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* Checks that rs holds exactly the plan's old value set: the cutover's
 * compare-and-swap expects it, so a difference found now would only refuse
 * later, with the TTLs already lowered. */
static int check_points_old(struct engine *e, const char *name, const struct dns_rrset *rs,
                            struct ferry_error *err)
{
	struct dns_state old = endpoints_dns_state(&e->plan->host_old);
	char have[512], want[512];

	if (dns_rrset_matches(rs, &old))
		return 0;
	dns_rrset_format(rs, have, sizeof(have));
	dns_state_format(&old, want, sizeof(want));
	return ferry_error_set(err, FERRY_ECHECK,
	                       "fix dns.records or hosts.old (address, addresses or cname); "
	                       "ferry moves a record only from the old host's exact value set",
	                       "dns %s holds %s, not hosts.old's %s", name, have, want);
}

static int set_ttl(struct engine *e, const char *name, const struct dns_rrset *rs,
                   const struct schedule_ttl_step *st, struct ferry_error *err)
{
	char *detail =
	        engine_detail("{s:i, s:i}", "from_ttl", (int)st->from_ttl, "ttl", (int)st->ttl);
	struct dns_state old;
	char result[64];
	int64_t id = 0;
	int r;

	(void)rs;
	r = engine_step_begin(e, "dns.set_ttl", name, detail, &id, err);
	free(detail);
	if (r < 0)
		return r;
	/* rs matched the plan's old set (check_points_old): expect that. */
	old = endpoints_dns_state(&e->plan->host_old);
	r = dns_set_ttl(e->dns, name, &old, st->ttl, err);
	if (r < 0) {
		engine_step_done(e, id, "dns.set_ttl", false, err->msg, NULL);
		return r;
	}
	r = prepare_record_store(e->j, name, st->from_ttl, time_now(), err);
	if (r < 0)
		return r;
	snprintf(result, sizeof(result), "ttl %u", st->ttl);
	engine_say(e, name, "TTL %u -> %u", st->from_ttl, st->ttl);
	/* The TTL before and after, so that the report draws the step. */
	journal_sample_add(e->j, "ttl", name, time_wall_ms() - 1, st->from_ttl, NULL);
	journal_sample_add(e->j, "ttl", name, time_wall_ms(), st->ttl, NULL);
	return engine_step_done(e, id, "dns.set_ttl", true, result, err);
}

/* One record: take its due step, if any; *ready is when the cutover TTL is
 * in effect everywhere for it, *next when its next step is due. */
static int prepare_record(struct engine *e, const char *name, int64_t now, int64_t *ready,
                          int64_t *next, struct ferry_error *err)
{
	const struct plan_dns *d = &e->plan->dns;
	struct schedule_ttl_step *steps = xcalloc(d->ttl.nsteps, sizeof(*steps));
	struct schedule_record rec;
	struct dns_rrset rs;
	size_t n = 0;
	int r;

	dns_rrset_init(&rs);
	*next = SCHEDULE_FOREVER;
	r = dns_query(e->dns, name, &rs, err);
	if (r < 0)
		goto out;
	r = check_points_old(e, name, &rs, err);
	if (r < 0)
		goto out;
	r = prepare_record_load(e->j, name, rs.ttl, &rec, err);
	if (r < 0)
		goto out;
	if (rec.last_change == SCHEDULE_UNKNOWN && rs.ttl <= d->ttl.cutover) {
		/* At the cutover TTL already, with no change of ferry's known:
		 * count one TTL from this first look, once (otherwise every run
		 * would count it from its own now, and the gate would never
		 * hold). */
		r = prepare_record_store(e->j, name, rs.ttl, now, err);
		if (r < 0)
			goto out;
		rec.last_change = now;
		rec.prev_ttl = rs.ttl;
	}
	r = schedule_ttl_steps(&rec, d->ttl.steps, d->ttl.nsteps, now, steps, &n, err);
	if (r < 0)
		goto out;
	if (n > 0 && steps[0].not_before <= now) {
		r = set_ttl(e, name, &rs, &steps[0], err);
		if (r < 0)
			goto out;
		/* The world moved: the rest follows from the new state. */
		rec.live_ttl = steps[0].ttl;
		rec.prev_ttl = steps[0].from_ttl;
		rec.last_change = now;
		r = schedule_ttl_steps(&rec, d->ttl.steps, d->ttl.nsteps, now, steps, &n, err);
		if (r < 0)
			goto out;
	}
	if (n > 0)
		*next = steps[0].not_before;
	*ready = schedule_ttl_effective(&rec, steps, n, now);
	r = 0;
out:
	dns_rrset_release(&rs);
	free(steps);
	return r;
}

/* Watched resolvers must hand out no more than the cutover TTL.  Sets
 * *ready to when the longest cached answer expires (now if none). */
static int check_resolvers(struct engine *e, int64_t now, int64_t *ready, char *evidence,
                           size_t len, struct ferry_error *err)
{
	const struct plan_dns *d = &e->plan->dns;
	size_t i, k;
	int r;

	*ready = now;
	for (i = 0; i < d->resolvers.n; i++) {
		for (k = 0; k < d->records.n; k++) {
			struct dns_rrset rs;

			dns_rrset_init(&rs);
			r = dns_resolve(d->resolvers.v[i], d->records.v[k], 0, &rs, err);
			if (r < 0) {
				dns_rrset_release(&rs);
				return r;
			}
			if (rs.ttl > d->ttl.cutover) {
				snprintf(evidence, len, "resolver %s hands out %s with TTL %u > %u",
				         d->resolvers.v[i], d->records.v[k], rs.ttl,
				         d->ttl.cutover);
				if (now + (int64_t)(rs.ttl - d->ttl.cutover) > *ready)
					*ready = now + (int64_t)(rs.ttl - d->ttl.cutover);
			}
			dns_rrset_release(&rs);
		}
	}
	return 0;
}

int phase_prepare(struct engine *e, struct ferry_error *err)
{
	const struct plan_dns *d = &e->plan->dns;
	int64_t now = time_now(), ready = now, next = SCHEDULE_FOREVER, rr, rn, res;
	char evidence[512] = "";
	size_t i;
	int r;

	if (!d->present)
		return PHASE_PASSED;
	r = engine_dns(e, err);
	if (r < 0)
		return r;
	r = dns_check_access(e->dns, err);
	if (r < 0)
		return r;
	for (i = 0; i < d->records.n; i++) {
		r = prepare_record(e, d->records.v[i], now, &rr, &rn, err);
		if (r < 0)
			return r;
		if (rr > ready)
			ready = rr;
		if (rn < next)
			next = rn;
	}
	if (next != SCHEDULE_FOREVER)
		return engine_wait(e, next, "next TTL step");
	if (ready > now)
		return engine_wait(e, ready, "cutover TTL %u in effect everywhere", d->ttl.cutover);
	r = check_resolvers(e, now, &res, evidence, sizeof(evidence), err);
	if (r < 0)
		return r;
	if (res > now) {
		journal_gate_record(e->j, "prepare", "resolvers", false, evidence, NULL);
		return engine_wait(e, res, "%s", evidence);
	}
	snprintf(evidence, sizeof(evidence),
	         "%zu record(s) at TTL %u for at least one old TTL; %zu resolver(s) agree",
	         d->records.n, d->ttl.cutover, d->resolvers.n);
	journal_gate_record(e->j, "prepare", "cutover_ttl", true, evidence, NULL);
	return PHASE_PASSED;
}

int phase_prepare_resolve(struct engine *e, const struct journal_step *s, struct ferry_error *err)
{
	json_int_t from = 0, ttl = 0;
	struct dns_rrset rs;
	json_t *detail;
	int r;

	if (strcmp(s->name, "dns.set_ttl") != 0)
		return 0;
	detail = s->detail ? json_loads(s->detail, 0, NULL) : NULL;
	if (!detail || json_unpack(detail, "{s:I, s:I}", "from_ttl", &from, "ttl", &ttl) < 0)
		from = ttl = 0; /* unreadable: redo the step */
	json_decref(detail);
	r = engine_dns(e, err);
	if (r < 0)
		return r;
	dns_rrset_init(&rs);
	r = dns_query(e->dns, s->object, &rs, err);
	if (r < 0)
		goto out;
	if (ttl && rs.ttl == ttl) {
		/* Applied before the crash: when exactly is unknown, and now is
		 * the late bound, which only lengthens the next wait. */
		r = prepare_record_store(e->j, s->object, (uint32_t)from, time_now(), err);
		if (r == 0)
			r = journal_step_done(e->j, s->id, true, "applied before a crash", err);
		r = r < 0 ? r : 1;
	} else {
		r = 0; /* not applied: the caller marks it interrupted; redone */
	}
out:
	dns_rrset_release(&rs);
	return r;
}
