/*
 * phase_decommission.c - phase 5 (DESIGN §1): once the rollback window has
 * closed, remove what the migration left behind, in an order that keeps a
 * way back for as long as possible: replication first (the reverse stream
 * was the rollback's path; from here on the old database falls behind),
 * then the TTL restored, then the old server drained from the load
 * balancer.  Each is a journaled, idempotent step.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/endpoints.h"
#include "core/engine_internal.h"
#include "core/orchestrator.h"
#include "core/prepare.h"
#include "util/timeutil.h"

static int teardown(struct engine *e, size_t i, struct ferry_error *err)
{
	const struct plan_database *pd = &e->plan->databases[i];
	struct endpoints_db *d = NULL;
	int64_t id = 0;
	int r;

	if (journal_step_find_done(e->j, "db.teardown", pd->name, NULL, NULL) == 0)
		return 0;
	r = engine_step_begin(e, "db.teardown", pd->name,
	                      "drop every slot, publication and subscription ferry made", &id, err);
	if (r == 0)
		r = endpoints_db_open(e->plan, i, &d, err);
	if (r == 0)
		r = d->eng->teardown(d->h, err);
	if (id)
		engine_step_done(e, id, "db.teardown", r == 0, r == 0 ? "removed" : err->msg, NULL);
	if (r == 0)
		engine_say(e, pd->name, "replication removed on both sides");
	endpoints_db_close(d);
	return r;
}

/* Before anything is removed: new is the writer of every database (old
 * fenced, new not, every switch endpoint at new and resumed).  A database
 * switched back, or a switch half done, refuses the whole decommission:
 * removing replication then would cut off a side that still takes
 * writes. */
static int writers_checked(struct engine *e, struct ferry_error *err)
{
	const struct plan *p = e->plan;
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < p->ndatabases; i++) {
		struct endpoints_db *d = NULL;
		char why[600];
		int w;

		if (journal_step_find_done(e->j, "db.teardown", p->databases[i].name, NULL, NULL) ==
		    0)
			continue;
		r = endpoints_db_open(p, i, &d, err);
		if (r == 0)
			r = orch_writer(d, DB_FORWARD, &w, why, sizeof(why), err);
		if (r == 0 && w != 1)
			r = ferry_error_set(err, FERRY_ESTATE,
			                    "run `ferry status`, and `ferry run` to recover a half "
			                    "done switch; nothing was removed",
			                    "decommission refused: new is not the writer of "
			                    "database %s (%s)",
			                    p->databases[i].name, why);
		endpoints_db_close(d);
	}
	return r;
}

static int restore_ttl(struct engine *e, const char *name, struct ferry_error *err)
{
	uint32_t ttl = prepare_restore_ttl(e->j, &e->plan->dns, name);
	struct dns_state want = endpoints_dns_state(&e->plan->host_new);
	struct dns_rrset rs;
	int64_t id = 0;
	char *detail;
	int r;

	dns_rrset_init(&rs);
	/* The record must still hold the plan's new set: whatever changed it
	 * since the cutover is someone else's, and ferry leaves it alone. */
	r = dns_expect(e->dns, name, &want, &rs, err);
	if (r == FERRY_ECHANGED) {
		engine_say(e, name, "TTL left as it is: %s", err->msg);
		r = 0;
		goto out;
	}
	if (r < 0 || rs.ttl == ttl)
		goto out;
	detail = engine_detail("{s:i, s:i}", "from_ttl", (int)rs.ttl, "ttl", (int)ttl);
	r = engine_step_begin(e, "dns.restore_ttl", name, detail, &id, err);
	free(detail);
	if (r == 0)
		r = dns_set_ttl(e->dns, name, &want, ttl, err);
	if (id)
		engine_step_done(e, id, "dns.restore_ttl", r == 0, r == 0 ? "restored" : err->msg,
		                 NULL);
	if (r == 0)
		engine_say(e, name, "TTL restored to %u", ttl);
out:
	dns_rrset_release(&rs);
	return r;
}

static int drain_old(struct engine *e, struct ferry_error *err)
{
	const struct plan_traffic *t = &e->plan->traffic;
	int64_t id = 0;
	int r;

	if (journal_step_find_done(e->j, "traffic.drain", t->server_old, NULL, NULL) == 0)
		return 0;
	r = engine_step_begin(e, "traffic.drain", t->server_old, "state drain", &id, err);
	if (r == 0)
		r = engine_traffic(e, err);
	if (r == 0)
		r = e->lb_drv->drain(e->lb, t->backend, t->server_old, err);
	if (id)
		engine_step_done(e, id, "traffic.drain", r == 0, r == 0 ? "drained" : err->msg,
		                 NULL);
	if (r == 0)
		engine_say(e, t->backend, "old server %s drained", t->server_old);
	return r;
}

int phase_decommission(struct engine *e, struct ferry_error *err)
{
	const struct plan *p = e->plan;
	char *done = NULL;
	int64_t cut = time_now(), end;
	size_t i;
	int r = 0;

	if (journal_get(e->j, "cutover.done_ms", &done, NULL) == 0)
		cut = strtoll(done, NULL, 10) / 1000;
	free(done);
	end = cut + (p->rollback.window_ms + 999) / 1000;
	if (time_now() < end) {
		/* the reverse slot holds WAL on new for the rollback window:
		 * past the limit the rollback is given up, not new's disk */
		r = engine_wal_guard(e, DB_REVERSE, err);
		if (r < 0 && err->code != FERRY_ECHECK)
			return r;
		if (r == 0)
			return engine_wait(e, end, "the rollback window");
		r = 0; /* dropped: nothing left to wait for */
	}
	r = writers_checked(e, err);
	for (i = 0; r == 0 && i < p->ndatabases; i++)
		r = teardown(e, i, err);
	if (r == 0 && p->dns.present) {
		r = engine_dns(e, err);
		for (i = 0; r == 0 && i < p->dns.records.n; i++)
			r = restore_ttl(e, p->dns.records.v[i], err);
	}
	/* via dns the balancers were only read: nothing of theirs to undo */
	if (r == 0 && p->traffic.present && strcmp(p->traffic.via, "dns") != 0)
		r = drain_old(e, err);
	if (r < 0)
		return r;
	journal_gate_record(e->j, "decommission", "cleanup", true,
	                    "replication removed, TTL restored, old server drained", NULL);
	return PHASE_PASSED;
}
