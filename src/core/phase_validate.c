/*
 * phase_validate.c - phase 3 (DESIGN §1): host checks as a hard gate, then
 * a weighted split through the load balancer in steps, each held for its
 * time while the rollback triggers are evaluated every second.
 *
 * During validation the new application servers write to the OLD database
 * (their pooler points there: the single-writer invariant, DESIGN §2), so
 * sending them a share of the traffic moves no data.
 *
 * A breach during a step sets the new server's weight to 0 and fails the
 * phase with the evidence (exit 1); the plan stays in validate, and the
 * next `ferry run` starts the steps again once the cause is fixed.  A hold
 * interrupted by a crash is held again from its start: unwatched time
 * never counts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/check.h"
#include "core/engine_internal.h"
#include "core/host_checks.h"
#include "util/mem.h"

/* The host checks (env, egress, TLS, health, host diff): every row must
 * pass before any traffic moves. */
static int host_gate(struct engine *e, struct ferry_error *err)
{
	struct check_rows rows;
	char evidence[1024] = "";
	size_t i, nfail = 0;
	int r;

	if (!hosts_checks_wanted(e->plan))
		return 0;
	check_rows_init(&rows);
	r = hosts_checks_run(e->plan, &rows, err);
	if (r < 0)
		goto out;
	for (i = 0; i < rows.n; i++) {
		if (rows.v[i].status != CHECK_FAIL)
			continue;
		if (nfail++ == 0)
			snprintf(evidence, sizeof(evidence), "%s %s: %s", rows.v[i].check,
			         rows.v[i].object, rows.v[i].message);
		engine_say(e, rows.v[i].object, "host check %s failed: %s", rows.v[i].check,
		           rows.v[i].message);
	}
	journal_gate_record(e->j, "validate", "host_checks", nfail == 0,
	                    nfail ? evidence : "every host check passed", NULL);
	if (nfail)
		r = ferry_error_set(
		        err, FERRY_ECHECK,
		        "'ferry check PLAN' lists every check; fix the new host and run "
		        "again",
		        "validate: %zu host check%s failed, first: %s", nfail,
		        nfail == 1 ? "" : "s", evidence);
	else
		engine_say(e, "validate", "%zu host checks passed", rows.n);
out:
	check_rows_release(&rows);
	return r;
}

/* A step's hold.  With weighted DNS at least one TTL: resolvers keep the
 * previous answer that long, so a shorter hold would judge the previous
 * step's traffic. */
static int64_t hold_ms(struct engine *e)
{
	const struct plan *p = e->plan;
	int64_t ttl_ms = (int64_t)p->dns.ttl.cutover * 1000;

	if (!strcmp(p->traffic.via, "dns") && p->traffic.step_hold_ms < ttl_ms)
		return ttl_ms;
	return p->traffic.step_hold_ms;
}

int phase_validate(struct engine *e, struct ferry_error *err)
{
	const struct plan_traffic *t = &e->plan->traffic;
	char object[64], evidence[512], *round = NULL, next[16];
	size_t i;
	int r;

	/* A breach starts the steps over: holds count within one round. */
	if (journal_get(e->j, "validate.round", &round, NULL) < 0)
		round = xstrdup("1");
	/* the forward slot still holds WAL on old while validation runs */
	r = engine_wal_guard(e, DB_FORWARD, err);
	if (r == 0)
		r = host_gate(e, err);
	if (r < 0 || !t->present)
		goto out;
	for (i = 0; i < t->nsteps; i++) {
		int64_t id = 0;

		snprintf(object, sizeof(object), "%s %g%% (round %s)", t->backend, t->steps[i],
		         round ? round : "1");
		if (journal_step_find_done(e->j, "traffic.hold", object, NULL, NULL) == 0)
			continue; /* held in an earlier run */
		r = engine_split(e, t->steps[i], "validation step", err);
		if (r < 0)
			goto out;
		r = engine_step_begin(e, "traffic.hold", object, NULL, &id, err);
		if (r < 0)
			goto out;
		r = engine_monitor(e, hold_ms(e), object, evidence, sizeof(evidence), err);
		if (r < 0) {
			if (id)
				engine_step_done(e, id, "traffic.hold", false, err->msg, NULL);
			goto out;
		}
		if (r == 0) {
			/* A trigger: no more traffic to new, then fail with the
			 * evidence. */
			engine_step_done(e, id, "traffic.hold", false, evidence, NULL);
			journal_gate_record(e->j, "validate", object, false, evidence, NULL);
			engine_say(e, object, "rollback trigger: %s", evidence);
			snprintf(next, sizeof(next), "%ld", strtol(round, NULL, 10) + 1);
			r = journal_set(e->j, "validate.round", next, err);
			if (r == 0)
				r = engine_split(e, 0, "rollback trigger during validation", err);
			if (r < 0)
				goto out;
			r = ferry_error_set(err, FERRY_ECHECK,
			                    "the new server gets no traffic now; fix it and run "
			                    "'ferry run' again to repeat the validation steps",
			                    "validate %s: %s", object, evidence);
			goto out;
		}
		if (id) {
			r = engine_step_done(e, id, "traffic.hold", true, "held, no trigger", err);
			if (r < 0)
				goto out;
			journal_gate_record(e->j, "validate", object, true, "held, no trigger",
			                    NULL);
		}
	}
	r = 0;
out:
	free(round);
	return r < 0 ? r : PHASE_PASSED;
}
