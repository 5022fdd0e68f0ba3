/*
 * plan.c - `ferry plan PLAN [--offline] [--json]`: validate the plan, ask
 * the DNS server what it serves now, and print the timeline: each TTL step
 * and when it may happen, the earliest cutover, the next cutover window,
 * the end of the rollback window.
 *
 * The live TTLs come from the authoritative server; what ferry already did
 * (the time of each TTL change, when prepare began) comes from the journal
 * if there is one.  With --offline nothing is asked of the network: the
 * TTLs are the longest the plan states (prepare_assumed_ttl), and the
 * output says so.  When the server cannot be asked, the plan is still
 * said to be valid first, then why, with the hint to use --offline.
 * Nothing is changed anywhere.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "core/answers.h"
#include "core/endpoints.h"
#include "journal/journal.h"
#include "plan/plan.h"
#include "core/prepare.h"
#include "core/schedule.h"
#include "dns/dns.h"
#include "util/mem.h"
#include "util/timeutil.h"

struct plan_view {
	struct plan *plan;
	bool offline;             /* the TTLs are the plan's, not the server's */
	struct dns_rrset *rrsets; /* one per p->dns.records */
	struct schedule_record *recs;
	size_t nrecs;
	struct schedule_timeline tl;
	struct rollback_answers answers;
	int64_t now;
};

static void view_release(struct plan_view *v)
{
	size_t i;

	for (i = 0; i < v->nrecs; i++)
		dns_rrset_release(&v->rrsets[i]);
	free(v->rrsets);
	free(v->recs);
	schedule_timeline_release(&v->tl);
	plan_free(v->plan);
}

/* Reads the live records and the journal's memory, computes the timeline. */
static int view_build(struct plan_view *v, const char *state, struct ferry_error *err)
{
	struct dns_provider *dns = NULL;
	struct journal *j = NULL;
	char *phase = NULL;
	int64_t prepare_start = SCHEDULE_UNKNOWN, entered;
	size_t i;
	int r;

	v->now = time_now();
	r = journal_open(&j, state, JOURNAL_OPEN_READONLY, err);
	if (r == FERRY_ENOTFOUND) {
		j = NULL; /* not run yet: nothing done */
		r = 0;
	} else if (r < 0) {
		return r;
	}
	if (j && journal_phase_get(j, &phase, &entered, NULL) == 0) {
		char *s = NULL;

		if (journal_get(j, "prepare.started", &s, NULL) == 0)
			time_parse_rfc3339(s, &prepare_start);
		free(s);
	}
	free(phase);

	if (v->plan->dns.present) {
		const struct plan_dns *d = &v->plan->dns;

		if (!v->offline) {
			r = endpoints_dns_open(v->plan, &dns, err);
			if (r < 0)
				goto out;
		}
		v->rrsets = xcalloc(d->records.n, sizeof(*v->rrsets));
		v->recs = xcalloc(d->records.n, sizeof(*v->recs));
		for (i = 0; i < d->records.n; i++) {
			dns_rrset_init(&v->rrsets[i]);
			v->nrecs = i + 1;
			if (v->offline)
				v->rrsets[i].ttl = prepare_assumed_ttl(d);
			else
				r = dns_query(dns, d->records.v[i], &v->rrsets[i], err);
			if (r < 0)
				goto out;
			r = prepare_record_load(j, d->records.v[i], v->rrsets[i].ttl, &v->recs[i],
			                        err);
			if (r < 0)
				goto out;
		}
	}
	r = schedule_timeline_compute(v->plan, v->recs, v->nrecs, v->now, prepare_start, &v->tl,
	                              err);
	rollback_answers_build(v->plan, j, NULL, &v->answers);
out:
	dns_close(dns);
	journal_close(j);
	return r;
}

static json_t *json_time(int64_t t)
{
	char s[32];

	if (t == SCHEDULE_FOREVER || t == SCHEDULE_UNKNOWN)
		return json_null();
	time_rfc3339(t, s, sizeof(s));
	return json_string(s);
}

static int print_json(const struct plan_view *v)
{
	json_t *o = json_object(), *recs = json_array(), *steps = json_array(), *win;
	const struct plan *p = v->plan;
	size_t i, k;

	json_object_set_new(o, "plan", json_string(p->name));
	json_object_set_new(o, "valid", json_true());
	json_object_set_new(o, "offline", json_boolean(v->offline));
	json_object_set_new(o, "now", json_time(v->now));
	for (i = 0; i < v->nrecs; i++) {
		json_t *r = json_object(), *addrs = json_array();

		for (k = 0; k < v->rrsets[i].n; k++)
			json_array_append_new(addrs, json_string(v->rrsets[i].addresses[k]));
		json_object_set_new(r, "name", json_string(p->dns.records.v[i]));
		json_object_set_new(r, "addresses", v->offline ? json_null() : addrs);
		if (v->offline)
			json_decref(addrs);
		if (v->rrsets[i].cname)
			json_object_set_new(r, "cname", json_string(v->rrsets[i].cname));
		if (v->rrsets[i].other)
			json_object_set_new(r, "holds", json_string(v->rrsets[i].other));
		json_object_set_new(r, "ttl_now", json_integer(v->rrsets[i].ttl));
		json_object_set_new(r, "ttl_from", json_string(v->offline ? "plan" : "server"));
		json_object_set_new(r, "cutover_ttl_effective", json_time(v->tl.ttl_effective[i]));
		json_array_append_new(recs, r);
	}
	json_object_set_new(o, "records", recs);
	for (i = 0; i < v->tl.nsteps; i++) {
		const struct schedule_ttl_step *s = &v->tl.steps[i];
		json_t *js = json_object();

		json_object_set_new(js, "record", json_string(p->dns.records.v[s->record]));
		json_object_set_new(js, "from_ttl", json_integer(s->from_ttl));
		json_object_set_new(js, "ttl", json_integer(s->ttl));
		json_object_set_new(js, "not_before", json_time(s->not_before));
		json_array_append_new(steps, js);
	}
	json_object_set_new(o, "ttl_steps", steps);
	json_object_set_new(o, "cutover_ttl_effective", json_time(v->tl.cutover_ttl_effective));
	json_object_set_new(o, "validated", json_time(v->tl.validated));
	json_object_set_new(o, "earliest_cutover", json_time(v->tl.earliest_cutover));
	win = json_object();
	json_object_set_new(win, "start", json_time(v->tl.window_start));
	json_object_set_new(win, "end", json_time(v->tl.window_end));
	json_object_set_new(win, "zone",
	                    json_string(p->schedule.cutover_window.present
	                                        ? p->schedule.cutover_window.zone
	                                        : "UTC"));
	json_object_set_new(o, "next_window", v->tl.has_window ? win : json_null());
	if (!v->tl.has_window)
		json_decref(win);
	json_object_set_new(o, "rollback_window_end", json_time(v->tl.rollback_window_end));
	json_object_set_new(o, "rollback", rollback_answers_json(&v->answers));
	json_object_set_new(o, "decommission", json_time(v->tl.decommission));
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(o);
	return EXIT_DONE;
}

/* "now", "in 5m 07s (Sun 2026-11-29 02:00 CET)" */
static void when(const struct plan_view *v, int64_t t, const char *zone, char *out, size_t len)
{
	char local[48], rel[32];

	if (t == SCHEDULE_FOREVER || t == SCHEDULE_UNKNOWN) {
		snprintf(out, len, "-");
		return;
	}
	schedule_format_local(t, zone, local, sizeof(local), NULL);
	if (t <= v->now) {
		snprintf(out, len, "now (%s)", local);
		return;
	}
	duration_human((t - v->now) * 1000, rel, sizeof(rel));
	snprintf(out, len, "in %s (%s)", rel, local);
}

static int print_table(const struct plan_view *v)
{
	const struct plan *p = v->plan;
	const char *zone =
	        p->schedule.cutover_window.present ? p->schedule.cutover_window.zone : "UTC";
	char a[96], b[96];
	size_t i;

	printf("plan %s (%s): valid\n", p->name, p->path);
	if (v->nrecs) {
		char src[300];

		if (p->dns.server_host)
			snprintf(src, sizeof(src), "%s:%u", p->dns.server_host,
			         (unsigned)p->dns.server_port);
		else
			snprintf(src, sizeof(src), "%s", p->dns.provider);
		if (v->offline)
			printf("\nDNS records (--offline: %s not asked; each TTL assumed to be %u, "
			       "the longest the plan states)\n",
			       src, v->rrsets[0].ttl);
		else if (p->dns.server_host)
			printf("\nDNS records, as served by %s\n", src);
		else
			printf("\nDNS records, as %s serves them\n", src);
		printf("  %-28s %-24s %s\n", "RECORD", "HOLDS",
		       v->offline ? "TTL ASSUMED" : "TTL NOW");
		for (i = 0; i < v->nrecs; i++) {
			if (v->offline)
				snprintf(a, sizeof(a), "(not asked)");
			else
				dns_rrset_format(&v->rrsets[i], a, sizeof(a));
			printf("  %-28s %-24s %u\n", p->dns.records.v[i], a, v->rrsets[i].ttl);
		}
		printf("\nTTL step-down (one old TTL between steps, so no resolver holds a long "
		       "TTL)\n");
		if (!v->tl.nsteps)
			printf("  nothing to do: every record is at or below the cutover TTL %u\n",
			       p->dns.ttl.cutover);
		else
			printf("  %-28s %-16s %s\n", "RECORD", "TTL", "NOT BEFORE");
		for (i = 0; i < v->tl.nsteps; i++) {
			const struct schedule_ttl_step *s = &v->tl.steps[i];

			snprintf(a, sizeof(a), "%u -> %u", s->from_ttl, s->ttl);
			when(v, s->not_before, zone, b, sizeof(b));
			printf("  %-28s %-16s %s\n", p->dns.records.v[s->record], a, b);
		}
	}
	printf("\nTimeline\n");
	if (v->nrecs) {
		when(v, v->tl.cutover_ttl_effective, zone, b, sizeof(b));
		printf("  %-34s %s\n", "cutover TTL in effect everywhere", b);
	}
	when(v, v->tl.validated, zone, b, sizeof(b));
	printf("  %-34s %s\n", "replication soak + validation done", b);
	when(v, v->tl.earliest_cutover, zone, b, sizeof(b));
	printf("  %-34s %s\n", "earliest cutover", b);
	if (v->tl.has_window) {
		schedule_format_local(v->tl.window_start, zone, a, sizeof(a), NULL);
		schedule_format_local(v->tl.window_end, zone, b, sizeof(b), NULL);
		printf("  %-34s %s - %s\n", "cutover window", a, b);
	} else {
		printf("  %-34s %s\n", "cutover window", "any time (the plan sets none)");
	}
	when(v, v->tl.rollback_window_end, zone, b, sizeof(b));
	printf("  %-34s %s\n", "rollback window ends", b);
	when(v, v->tl.decommission, zone, b, sizeof(b));
	printf("  %-34s %s\n", "decommission", b);
	{
		json_t *o = rollback_answers_json(&v->answers);

		rollback_answers_print(o, stdout);
		json_decref(o);
	}
	return EXIT_DONE;
}

enum {
	OPT_OFFLINE = CMD_OPT_FIRST_PRIVATE,
};

static int own_option(int opt, const char *arg, void *ctx)
{
	(void)arg;
	if (opt != OPT_OFFLINE)
		return 1;
	*(bool *)ctx = true;
	return 0;
}

int cmd_plan(int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONGOPTS,
		{ "offline", no_argument, NULL, OPT_OFFLINE },
		{ 0 },
	};
	struct cmd_common c = { 0 };
	struct ferry_error err = { 0 };
	struct plan_view v = { 0 };
	char *state = NULL;
	int code = EXIT_DONE, r;

	if (!cmd_start(argc, argv, longopts, own_option, &v.offline, &c, &v.plan, &state, &code))
		return code;
	r = view_build(&v, state, &err);
	if (r < 0) {
		/* The plan is valid: say so before what could not be asked. */
		if (!c.json)
			printf("plan %s (%s): valid; its timeline needs the DNS server\n",
			       v.plan->name, v.plan->path);
		if (r == FERRY_EUNREACH || r == FERRY_ETIMEDOUT || r == FERRY_EIO ||
		    r == FERRY_EAUTH || r == FERRY_EREFUSED)
			snprintf(err.hint, sizeof(err.hint),
			         "'ferry plan %s --offline' validates without the network and "
			         "takes the TTLs from the plan",
			         v.plan->path);
		code = cmd_fail_exit(&err, EXIT_FAILED);
	} else {
		code = c.json ? print_json(&v) : print_table(&v);
	}
	free(state);
	view_release(&v);
	return code;
}
