/*
 * dryrun.c - `ferry run --dry-run` and `ferry rollback --dry-run` (DESIGN
 * §5): every action the remaining phases, or the rollback, would take, in
 * order, with the exact DNS updates (dns_change_format), SQL statements and
 * pooler commands (the database engine's describe_*), and load balancer
 * runtime API commands (traffic_describe_split).
 *
 * It reads (the journal's phase, the records as the DNS server serves them
 * now) and changes nothing: none of the phases' step functions runs, and the
 * texts come from the same builders the real steps send, so what is shown
 * is what would be sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/endpoints.h"
#include "core/engine_internal.h"
#include "core/orchestrator.h"
#include "core/prepare.h"
#include "core/schedule.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* Appends text with each line indented by four spaces. */
static void indent(struct buf *out, const char *text)
{
	const char *p = text, *nl;

	while (*p) {
		nl = strchr(p, '\n');
		if (!nl)
			nl = p + strlen(p);
		buf_addf(out, "    %.*s\n", (int)(nl - p), p);
		p = *nl ? nl + 1 : nl;
	}
}

/* The one change that makes name hold `to` at ttl, expecting `from`, as
 * the provider would send it. */
static int dns_update(const struct plan *p, const char *name, const struct dns_state *from,
                      const struct dns_state *to, uint32_t ttl, struct buf *out,
                      struct ferry_error *err)
{
	struct dns_config cfg;
	struct buf text;
	int r;

	endpoints_dns_config(p, &cfg);
	buf_init(&text, 1 << 16);
	r = dns_describe(p->dns.provider, &cfg, name, from, to, ttl, &text, err);
	if (r == 0)
		indent(out, text.data);
	buf_release(&text);
	return r;
}

static void when(int64_t t, int64_t now, char *s, size_t len)
{
	char at[32], rel[32];

	time_rfc3339(t, at, sizeof(at));
	if (t <= now) {
		snprintf(s, len, "now");
		return;
	}
	duration_human((t - now) * 1000, rel, sizeof(rel));
	snprintf(s, len, "in %s, %s", rel, at);
}

/* What a dry run could not read goes to unread, one line each, and the
 * description goes on with what the plan states. */
static void not_read(struct buf *unread, const struct ferry_error *err)
{
	buf_addf(unread, "  %s\n", err->msg);
}

static int describe_prepare(struct engine *e, struct buf *out, struct buf *unread,
                            struct ferry_error *err)
{
	const struct plan_dns *d = &e->plan->dns;
	struct dns_state old = endpoints_dns_state(&e->plan->host_old);
	struct ferry_error rerr = { 0 };
	int64_t now = time_now();
	bool reach;
	size_t i, k, n;
	int r = 0;

	if (!d->present)
		return 0;
	reach = engine_dns(e, &rerr) == 0;
	if (!reach)
		not_read(unread, &rerr);
	for (i = 0; r == 0 && i < d->records.n; i++) {
		struct schedule_ttl_step *st = xcalloc(d->ttl.nsteps, sizeof(*st));
		struct schedule_record rec;
		struct dns_rrset rs;
		char at[64];

		dns_rrset_init(&rs);
		if (reach && dns_query(e->dns, d->records.v[i], &rs, &rerr) < 0) {
			not_read(unread, &rerr);
			reach = false;
		}
		if (!reach) {
			/* the plan's word for it: its longest TTL, on the old host */
			dns_rrset_release(&rs);
			dns_rrset_init(&rs);
			rs.ttl = prepare_assumed_ttl(d);
			buf_addf(out,
			         "  dns: %s not read: TTL assumed %u (the plan's longest), "
			         "values as hosts.old states them\n",
			         d->records.v[i], rs.ttl);
		}
		r = prepare_record_load(e->j, d->records.v[i], rs.ttl, &rec, err);
		if (r == 0)
			r = schedule_ttl_steps(&rec, d->ttl.steps, d->ttl.nsteps, now, st, &n, err);
		for (k = 0; r == 0 && k < n; k++) {
			when(st[k].not_before, now, at, sizeof(at));
			buf_addf(out, "  dns: %s TTL %u -> %u (%s):\n", d->records.v[i],
			         st[k].from_ttl, st[k].ttl, at);
			r = dns_update(e->plan, d->records.v[i], &old, &old, st[k].ttl, out, err);
		}
		dns_rrset_release(&rs);
		free(st);
	}
	if (r == 0)
		buf_addf(out,
		         "  gate: every record at TTL %u for one old TTL; watched resolvers "
		         "agree\n",
		         d->ttl.cutover);
	return r;
}

static int each_db(struct engine *e,
                   int (*fn)(struct endpoints_db *d, struct buf *text, struct ferry_error *err),
                   const char *what, bool reverse_order, struct buf *out, struct ferry_error *err)
{
	size_t k, i;
	int r = 0;

	for (k = 0; r == 0 && k < e->plan->ndatabases; k++) {
		struct endpoints_db *d = NULL;
		struct buf text;

		i = reverse_order ? e->plan->ndatabases - 1 - k : k;
		buf_init(&text, 1 << 20);
		r = endpoints_db_config(e->plan, i, false, &d, err);
		if (r == 0)
			r = fn(d, &text, err);
		if (r == 0) {
			buf_addf(out, "  database %s: %s:\n", d->pd->name, what);
			indent(out, text.data);
		}
		buf_release(&text);
		endpoints_db_close(d);
	}
	return r;
}

static int replicate_text(struct endpoints_db *d, struct buf *t, struct ferry_error *err)
{
	return d->eng->describe_replicate(&d->cfg, t, err);
}

/* The switch of every database (one transaction, one write pause). */
static int switch_text(struct engine *e, enum db_direction dir, const char *what, struct buf *out,
                       struct ferry_error *err)
{
	struct endpoints_db **dbs;
	size_t i, n = 0;
	struct buf text;
	int r = 0;

	if (!e->plan->ndatabases)
		return 0;
	dbs = xcalloc(e->plan->ndatabases + 1, sizeof(*dbs));
	for (i = 0; r == 0 && i < e->plan->ndatabases; i++) {
		r = endpoints_db_config(e->plan, i, false, &dbs[i], err);
		if (r == 0)
			n++;
	}
	buf_init(&text, 16 << 20);
	if (r == 0)
		r = orch_describe(dbs, n, dir, &text, err);
	if (r == 0) {
		buf_addf(out, "  databases");
		for (i = 0; i < n; i++)
			buf_addf(out, "%s %s", i ? "," : "", dbs[i]->pd->name);
		buf_addf(out, ": %s:\n", what);
		indent(out, text.data);
	}
	buf_release(&text);
	for (i = 0; i < n; i++)
		endpoints_db_close(dbs[i]);
	free(dbs);
	return r;
}

static int teardown_text(struct endpoints_db *d, struct buf *t, struct ferry_error *err)
{
	return d->eng->describe_teardown(&d->cfg, t, err);
}

/* The split by weighted DNS: each record's change from the split of
 * from_pct (< 0: what the journal says it holds) to pct's. */
static int split_dns(struct engine *e, double from_pct, double pct, struct buf *out,
                     struct ferry_error *err)
{
	const struct plan *p = e->plan;
	struct dns_state from, to;
	double eff;
	size_t i;
	int r = 0;

	if (pct >= 100) {
		buf_addf(out, "  traffic: all to new by the DNS change below\n");
		return 0;
	}
	engine_dns_split_state(p, pct, &to, &eff);
	for (i = 0; r == 0 && i < p->dns.records.n; i++) {
		if (from_pct < 0)
			engine_dns_expected(e, p->dns.records.v[i], &from);
		else
			engine_dns_split_state(p, from_pct, &from, &eff);
		engine_dns_split_state(p, pct, &to, &eff);
		buf_addf(out, "  traffic: %s answers %g %% new (weighted DNS):\n",
		         p->dns.records.v[i], eff);
		r = dns_update(p, p->dns.records.v[i], &from, &to, p->dns.ttl.cutover, out, err);
	}
	return r;
}

static int split(struct engine *e, double pct, struct buf *out, struct ferry_error *err)
{
	const struct plan_traffic *t = &e->plan->traffic;
	const struct traffic_driver *drv = traffic_driver_find(t->via);
	struct buf text;
	int r;

	if (!strcmp(t->via, "dns"))
		return split_dns(e, -1, pct, out, err);
	if (!drv)
		return ferry_error_set(err, FERRY_EINVAL, NULL, "traffic: unknown balancer '%s'",
		                       t->via);
	buf_init(&text, 1 << 16);
	r = traffic_describe_split(drv, t->backend, t->server_old, t->server_new, pct, &text, err);
	if (r == 0) {
		buf_addf(out, "  traffic: %g %% to %s, runtime API %s:\n", pct, t->server_new,
		         t->admin);
		indent(out, text.data);
	}
	buf_release(&text);
	return r;
}

/* Every record moved between the hosts' value sets at the cutover TTL. */
static int dns_move(struct engine *e, bool back, struct buf *out, struct ferry_error *err)
{
	const struct plan *p = e->plan;
	struct dns_state st_old = endpoints_dns_state(&p->host_old);
	struct dns_state st_new = endpoints_dns_state(&p->host_new);
	const struct dns_state *from = back ? &st_new : &st_old, *to = back ? &st_old : &st_new;
	char tf[512], tt[512];
	size_t i;
	int r = 0;

	if (!p->dns.present)
		return 0;
	dns_state_format(from, tf, sizeof(tf));
	dns_state_format(to, tt, sizeof(tt));
	for (i = 0; r == 0 && i < p->dns.records.n; i++) {
		struct dns_state split;
		double eff;

		/* weighted DNS: forward, the records leave the last step's split */
		if (!back && p->traffic.present && !strcmp(p->traffic.via, "dns")) {
			if (e->phase <= ENGINE_VALIDATE && p->traffic.nsteps)
				engine_dns_split_state(p, p->traffic.steps[p->traffic.nsteps - 1],
				                       &split, &eff);
			else
				engine_dns_expected(e, p->dns.records.v[i], &split);
			from = &split;
			dns_state_format(from, tf, sizeof(tf));
		}
		buf_addf(out, "  dns: %s from %s to %s, TTL %u (compare-and-swap):\n",
		         p->dns.records.v[i], tf, tt, p->dns.ttl.cutover);
		r = dns_update(p, p->dns.records.v[i], from, to, p->dns.ttl.cutover, out, err);
	}
	return r;
}

static void hooks(struct engine *e, const char *event, struct buf *out)
{
	size_t i;

	for (i = 0; i < e->plan->nhooks; i++)
		if (!strcmp(e->plan->hooks[i].event, event)) {
			char label[300];

			engine_hook_label(&e->plan->hooks[i], label, sizeof(label));
			buf_addf(out, "  hook %s: %s\n", event, label);
		}
}

static int describe_rollback(struct engine *e, struct buf *out, struct ferry_error *err)
{
	int r;

	hooks(e, "on_rollback", out);
	r = dns_move(e, true, out, err);
	if (r == 0 && e->plan->traffic.present)
		r = split(e, 0, out, err);
	if (r == 0)
		r = switch_text(e, DB_REVERSE, "the reverse switch, all together (one write pause)",
		                out, err);
	if (r == 0)
		buf_addf(out, "  then: back to the replicate phase (forward replication without "
		              "copy)\n");
	return r;
}

int engine_describe(struct engine *e, bool rollback, struct buf *out, struct ferry_error *err)
{
	const struct plan *p = e->plan;
	char d1[32], d2[32];
	struct buf unread;
	size_t i;
	int r = 0;

	if (rollback) {
		buf_addf(out, "== rollback (nothing below is done: --dry-run)\n");
		return describe_rollback(e, out, err);
	}
	buf_init(&unread, 1 << 16);
	for (i = e->phase; r == 0 && i < ENGINE_DONE; i++) {
		char before[64];

		buf_addf(out, "== %s%s\n", engine_phase_name(i),
		         i == e->phase ? " (the current phase)" : "");
		snprintf(before, sizeof(before), "before_%s", engine_phase_name(i));
		if (i != ENGINE_CUTOVER)
			hooks(e, before, out);
		switch ((enum engine_phase)i) {
		case ENGINE_PREPARE: r = describe_prepare(e, out, &unread, err); break;
		case ENGINE_REPLICATE:
			r = each_db(e, replicate_text, "start replication", false, out, err);
			duration_format(p->schedule.replication_soak_ms, d1, sizeof(d1));
			buf_addf(out,
			         "  soak: lag sampled every second for %s (< 1 s throughout), "
			         "schema fingerprints compared every minute, row counts "
			         "compared\n",
			         d1);
			break;
		case ENGINE_VALIDATE:
			if (p->checks.present)
				buf_addf(out, "  host checks (read only): the gate; 'ferry check' "
				              "runs them now\n");
			for (size_t k = 0; r == 0 && p->traffic.present && k < p->traffic.nsteps;
			     k++) {
				if (!strcmp(p->traffic.via, "dns"))
					r = split_dns(e, k ? p->traffic.steps[k - 1] : -1,
					              p->traffic.steps[k], out, err);
				else
					r = split(e, p->traffic.steps[k], out, err);
				duration_format(p->traffic.step_hold_ms, d1, sizeof(d1));
				buf_addf(out, "  hold %s, rollback triggers every second\n", d1);
			}
			break;
		case ENGINE_CUTOVER:
			if (p->schedule.cutover_window.present)
				buf_addf(out, "  only inside the cutover window (or with --now "
				              "REASON)\n");
			buf_addf(out, "  preflight (read only): DNS key and records, the runtime "
			              "API, replication lag\n");
			hooks(e, "before_cutover", out);
			buf_addf(out, "  the rollback plan is journaled and printed; it is:\n");
			r = describe_rollback(e, out, err);
			if (r == 0)
				r = switch_text(e, DB_FORWARD,
				                "the switch, all together (one write pause)", out,
				                err);
			if (r == 0 && p->traffic.present)
				r = split(e, 100, out, err);
			if (r == 0)
				r = dns_move(e, false, out, err);
			duration_format(p->schedule.monitor_ms, d1, sizeof(d1));
			buf_addf(out, "  monitor %s: on a rollback trigger, the rollback above\n",
			         d1);
			hooks(e, "after_cutover", out);
			break;
		case ENGINE_DECOMMISSION:
			duration_format(p->rollback.window_ms, d2, sizeof(d2));
			buf_addf(out, "  after the rollback window (%s from the cutover):\n", d2);
			r = each_db(e, teardown_text, "remove replication", false, out, err);
			for (size_t k = 0; r == 0 && p->dns.present && k < p->dns.records.n; k++) {
				struct dns_state nv = endpoints_dns_state(&p->host_new);
				uint32_t ttl =
				        prepare_restore_ttl(e->j, &p->dns, p->dns.records.v[k]);

				buf_addf(out, "  dns: %s TTL restored to %u:\n",
				         p->dns.records.v[k], ttl);
				r = dns_update(p, p->dns.records.v[k], &nv, &nv, ttl, out, err);
			}
			if (r == 0 && p->traffic.present)
				buf_addf(out,
				         "  traffic: drain %s in %s (runtime API: set server %s/%s "
				         "state drain)\n",
				         p->traffic.server_old, p->traffic.backend,
				         p->traffic.backend, p->traffic.server_old);
			break;
		case ENGINE_DONE: break;
		}
		if (i != ENGINE_CUTOVER) {
			snprintf(before, sizeof(before), "after_%s", engine_phase_name(i));
			hooks(e, before, out);
		}
	}
	if (r == 0 && unread.len)
		buf_addf(out,
		         "== not read (the description above takes the plan's values "
		         "instead)\n%s",
		         unread.data);
	buf_release(&unread);
	return r;
}
