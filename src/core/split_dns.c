/*
 * split_dns.c - the validation split by weighted DNS (traffic.via: dns):
 * each record answers with the old set or the new set by weight (PowerDNS
 * LUA pickwrandom, Route 53 weighted record sets; the provider decides
 * how, dns.h's struct dns_state says what).
 *
 * The state of each record is journaled ("dns.split.NAME" = "W_OLD W_NEW"
 * while a split is in place), so that every change is a compare-and-swap
 * against what ferry itself set last: a step expects the previous step's
 * split, the way back to the plain old set expects the current one, and
 * the cutover's DNS move expects the split it finds journaled (phase
 * cutover asks engine_dns_expected()).  A change that took effect before a
 * crash but was not journaled is recognised: the record already holds what
 * the step wants.
 *
 * The balancers are only read in this mode: traffic.admin and admin_new
 * give the requests each side served (monitor.c), from which the realised
 * share is measured; the weights ferry sets are the requested share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/endpoints.h"
#include "core/engine_internal.h"
#include "util/mem.h"
#include "util/timeutil.h"

static char *split_key(const char *name)
{
	return xasprintf("dns.split.%s", name);
}

void engine_dns_expected(struct engine *e, const char *name, struct dns_state *st)
{
	char *key = split_key(name), *v = NULL, *end;
	unsigned long wo, wn;

	*st = endpoints_dns_state(&e->plan->host_old);
	/* a dry run may have no journal: nothing done yet */
	if (e->j && journal_get(e->j, key, &v, NULL) == 0) {
		wo = strtoul(v, &end, 10);
		wn = strtoul(end, NULL, 10);
		st->split = true;
		st->alt = endpoints_dns_values(&e->plan->host_new);
		st->weight = (unsigned)wo;
		st->alt_weight = (unsigned)wn;
		st->sticky = e->plan->traffic.sticky;
	}
	free(v);
	free(key);
}

int engine_dns_forget_split(struct engine *e, const char *name, struct ferry_error *err)
{
	char *key = split_key(name);
	int r = journal_unset(e->j, key, err);

	free(key);
	return r == FERRY_ENOTFOUND ? 0 : r;
}

/* Weights for pct within what every provider takes (0..DNS_WEIGHT_MAX). */
static void weights(double pct, unsigned *wo, unsigned *wn, double *eff)
{
	int o, n;

	traffic_split_weights(pct, &o, &n, eff);
	if (o > DNS_WEIGHT_MAX) { /* 256 for a fraction of a percent */
		n = n * DNS_WEIGHT_MAX / o;
		if (n < 1)
			n = 1;
		o = DNS_WEIGHT_MAX;
		*eff = 100.0 * n / (o + n);
	}
	*wo = (unsigned)o;
	*wn = (unsigned)n;
}

/* One record to `to`, expecting what the journal says it holds. */
static int split_record(struct engine *e, const char *name, const struct dns_state *to,
                        struct ferry_error *err)
{
	struct dns_state from;
	struct ferry_error xerr = { 0 };
	char *key = split_key(name), v[32];
	int r;

	engine_dns_expected(e, name, &from);
	/* already there: a step applied before a crash, or a no-op */
	if (dns_expect(e->dns, name, to, NULL, &xerr) == 0)
		r = 0;
	else
		r = dns_cas(e->dns, name, &from, to, e->plan->dns.ttl.cutover, err);
	if (r == 0 && to->split) {
		snprintf(v, sizeof(v), "%u %u", to->weight, to->alt_weight);
		r = journal_set(e->j, key, v, err);
	} else if (r == 0) {
		r = engine_dns_forget_split(e, name, err);
	}
	free(key);
	return r;
}

void engine_dns_split_state(const struct plan *p, double pct, struct dns_state *st, double *eff)
{
	unsigned wo, wn;

	*eff = pct <= 0 ? 0 : 100;
	if (pct >= 100) {
		*st = endpoints_dns_state(&p->host_new);
		return;
	}
	*st = endpoints_dns_state(&p->host_old);
	if (pct <= 0)
		return;
	weights(pct, &wo, &wn, eff);
	st->split = true;
	st->alt = endpoints_dns_values(&p->host_new);
	st->weight = wo;
	st->alt_weight = wn;
	st->sticky = p->traffic.sticky;
}

int engine_dns_split(struct engine *e, double pct, const char *why, struct ferry_error *err)
{
	const struct plan *p = e->plan;
	const struct plan_traffic *t = &p->traffic;
	struct dns_state to;
	char *detail, result[96];
	double eff;
	int64_t id = 0;
	size_t i;
	int r;

	if (pct >= 100) {
		/* The cutover: the records move from the split to the new set
		 * with its compare-and-swap (phase_cutover.c's dns_move). */
		engine_say(e, t->backend, "all requests to new by the DNS change below (%s)", why);
		return 0;
	}
	engine_dns_split_state(p, pct, &to, &eff);
	detail = engine_detail("{s:f, s:s, s:i, s:i}", "pct", pct, "why", why, "weight_old",
	                       (int)(to.split ? to.weight : 100), "weight_new",
	                       (int)(to.split ? to.alt_weight : 0));
	r = engine_step_begin(e, "traffic.split", t->backend, detail, &id, err);
	free(detail);
	if (r < 0)
		return r;
	r = engine_dns(e, err);
	for (i = 0; r == 0 && i < p->dns.records.n; i++)
		r = split_record(e, p->dns.records.v[i], &to, err);
	if (r < 0) {
		engine_step_done(e, id, "traffic.split", false, err->msg, NULL);
		return r;
	}
	journal_sample_add(e->j, "weight_new_pct", t->backend, time_wall_ms(), eff, NULL);
	if (to.split)
		engine_say(e, t->backend,
		           "DNS answers %g %% new (weights %u/%u on %zu record(s), TTL %u s) (%s)",
		           eff, to.weight, to.alt_weight, p->dns.records.n, p->dns.ttl.cutover,
		           why);
	else
		engine_say(e, t->backend, "DNS answers old only (%s)", why);
	snprintf(result, sizeof(result), "requested %g %%", eff);
	return engine_step_done(e, id, "traffic.split", true, result, err);
}
