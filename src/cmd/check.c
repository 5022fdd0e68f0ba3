/*
 * check.c - `ferry check PLAN [--json]`: run every check now, change
 * nothing, print one row per check with the migration failure it prevents.
 *
 * The rows come from each family: the way into each host first (ssh and
 * sudo through its exec prefix, core/host_checks.h), DNS (here, through
 * the provider interface: the record exists, points at the old host, its
 * TTL, the key),
 * the load balancers' runtime APIs (here, read only: each answers at a
 * level that may set weights, and has the backend and both servers),
 * databases (their readiness) and hosts (hosts/checks.h: env, egress, TLS,
 * health, host diff).  Exit 0 when no row failed, 1 otherwise, 2 for a
 * usage or plan error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "util/check.h"
#include "core/answers.h"
#include "core/endpoints.h"
#include "core/orchestrator.h"
#include "core/support.h"
#include "journal/journal.h"
#include "util/mem.h"
#include "db/db.h"
#include "plan/plan.h"
#include "dns/dns.h"
#include "core/host_checks.h"
#include "traffic/traffic.h"

static const char prevents_exists[] =
        "moving a name that does not exist, or a typo in the plan that leaves the real name "
        "on the old server";
static const char prevents_points[] =
        "a record that does not point where the plan thinks: the cutover's compare-and-swap "
        "would refuse, or the wrong service would move";
static const char prevents_ttl[] =
        "TTL not reduced before cutover - traffic split between old and new for up to one "
        "old TTL";
static const char prevents_key[] =
        "a DNS change refused at cutover time (wrong key, clock skew, ACL), with the "
        "databases already moved";
static const char prevents_resolver[] =
        "clients resolving the old address long after the cutover, because their resolver "
        "still holds a long TTL";

/* What the credentials row names: the TSIG key, or the provider. */
static const char *access_object(const struct plan_dns *d)
{
	return !strcmp(d->provider, "rfc2136") ? d->key.name : d->provider;
}

static void dns_checks(const struct plan *p, struct check_rows *rows)
{
	const struct plan_dns *d = &p->dns;
	struct dns_state old = endpoints_dns_state(&p->host_old);
	struct ferry_error err = { 0 };
	struct dns_provider *dns = NULL;
	char want[512];
	size_t i;

	if (endpoints_dns_open(p, &dns, &err) < 0) {
		check_rows_add(rows, "dns.key", access_object(d), CHECK_FAIL, prevents_key, "%s",
		               err.msg);
		return;
	}
	if (dns_check_access(dns, &err) < 0)
		check_rows_add(rows, "dns.key", access_object(d), CHECK_FAIL, prevents_key, "%s",
		               err.msg);
	else if (!strcmp(d->provider, "rfc2136"))
		check_rows_add(rows, "dns.key", d->key.name, CHECK_OK, prevents_key,
		               "key accepted by %s for updates to %s (nothing changed)", d->server,
		               d->zone);
	else
		check_rows_add(rows, "dns.key", d->provider, CHECK_OK, prevents_key,
		               "credentials accepted for changes to zone %s (nothing changed; "
		               "the swap is %s)",
		               d->zone,
		               dns_ops(dns)->atomic ? "atomic" : "read-compare-write, not atomic");
	dns_state_format(&old, want, sizeof(want));
	for (i = 0; i < d->records.n; i++) {
		const char *name = d->records.v[i];
		struct dns_rrset rs;
		char have[512];
		bool same;

		dns_rrset_init(&rs);
		if (dns_query(dns, name, &rs, &err) < 0) {
			check_rows_add(rows, "dns.record", name, CHECK_FAIL, prevents_exists, "%s",
			               err.msg);
			dns_rrset_release(&rs);
			continue;
		}
		dns_rrset_format(&rs, have, sizeof(have));
		check_rows_add(rows, "dns.record", name, CHECK_OK, prevents_exists,
		               "served by %s: %s", d->server ? d->server : d->provider, have);
		same = dns_rrset_matches(&rs, &old);
		/* A DNS-only plan without hosts has nothing to compare with. */
		if (p->host_old.present)
			check_rows_add(rows, "dns.points", name, same ? CHECK_OK : CHECK_FAIL,
			               prevents_points, "holds %s, %s hosts.old's %s", have,
			               same ? "exactly" : "not", want);
		if (rs.ttl <= d->ttl.cutover)
			check_rows_add(rows, "dns.ttl", name, CHECK_OK, prevents_ttl,
			               "TTL %u, at or below the cutover TTL %u", rs.ttl,
			               d->ttl.cutover);
		else
			check_rows_add(rows, "dns.ttl", name, CHECK_WARN, prevents_ttl,
			               "TTL %u is above the cutover TTL %u: 'ferry run' lowers it "
			               "step by step ('ferry plan' shows when)",
			               rs.ttl, d->ttl.cutover);
		dns_rrset_release(&rs);
	}
	for (i = 0; i < d->resolvers.n; i++) {
		struct dns_rrset rs;

		if (!d->records.n)
			break;
		dns_rrset_init(&rs);
		if (dns_resolve(d->resolvers.v[i], d->records.v[0], 0, &rs, &err) < 0)
			check_rows_add(rows, "dns.resolver", d->resolvers.v[i], CHECK_FAIL,
			               prevents_resolver, "%s", err.msg);
		else
			check_rows_add(rows, "dns.resolver", d->resolvers.v[i],
			               rs.ttl <= d->ttl.cutover ? CHECK_OK : CHECK_WARN,
			               prevents_resolver,
			               "hands out %s with TTL %u (cutover TTL %u)", d->records.v[0],
			               rs.ttl, d->ttl.cutover);
		dns_rrset_release(&rs);
	}
	dns_close(dns);
}

static const char prevents_api[] =
        "a traffic step or the cutover's switch of all traffic refused by the load balancer "
        "inside the validation or the cutover window";
static const char prevents_server[] =
        "weights set on a server that is not in the backend: the split never happens, or "
        "the wrong server takes the traffic";

/* One side's balancer ("old": traffic.admin, "new": traffic.admin_new),
 * read only: it answers, may change weights (unless traffic.via is dns:
 * then its counters are only read), and has the backend with both
 * servers; new's balancer only with the new server (ferry reads its
 * counters after DNS moves the clients there, nothing else). */
static void traffic_side(const struct plan *p, const struct traffic_driver *drv, const char *side,
                         const char *admin, struct check_rows *rows)
{
	const struct plan_traffic *t = &p->traffic;
	const char *const servers[] = { t->server_old, t->server_new };
	struct traffic_options opt = TRAFFIC_OPTIONS_INIT;
	struct ferry_error err = { 0 };
	struct traffic_lb *lb = NULL;
	struct traffic_stats st;
	char object[160], level[32];
	bool can = false;
	size_t i;

	traffic_stats_init(&st);
	opt.mode = TRAFFIC_MODE_ONESHOT;
	snprintf(object, sizeof(object), "%s %s", side, admin);
	if (drv->open(admin, &opt, &lb, &err) < 0) {
		check_rows_add(rows, "lb.api", object, CHECK_FAIL, prevents_api, "%s", err.msg);
		goto out;
	}
	if (!drv->access)
		check_rows_add(rows, "lb.api", object, CHECK_OK, prevents_api,
		               "answers (%s cannot say its access level)", drv->name);
	else if (drv->access(lb, &can, level, sizeof(level), &err) < 0)
		check_rows_add(rows, "lb.api", object, CHECK_WARN, prevents_api,
		               "answers, but its access level is unknown: %s", err.msg);
	else if (!can && !strcmp(t->via, "dns"))
		check_rows_add(rows, "lb.api", object, CHECK_OK, prevents_api,
		               "answers at level %s (enough: with traffic.via dns its counters "
		               "are only read)",
		               level);
	else if (!can)
		check_rows_add(rows, "lb.api", object, CHECK_FAIL, prevents_api,
		               "answers at level %s, which cannot set weights: give ferry a "
		               "socket at level admin (stats socket ... level admin)",
		               level);
	else
		check_rows_add(rows, "lb.api", object, CHECK_OK, prevents_api,
		               "answers at level %s (weights can be set; nothing changed)", level);
	if (drv->stats(lb, t->backend, &st, &err) < 0) {
		check_rows_add(rows, "lb.backend", object, CHECK_FAIL, prevents_server, "%s",
		               err.msg);
		goto out;
	}
	for (i = !strcmp(side, "new"); i < 2; i++) {
		const struct traffic_server_stats *s = traffic_stats_find(&st, servers[i]);

		snprintf(object, sizeof(object), "%s %s/%s", side, t->backend, servers[i]);
		if (!s)
			check_rows_add(rows, "lb.server", object, CHECK_FAIL, prevents_server,
			               "no server %s in backend %s of %s (traffic.servers.%s)",
			               servers[i], t->backend, admin, i ? "new" : "old");
		else
			check_rows_add(rows, "lb.server", object,
			               !strncmp(s->status, "DOWN", 4) ||
			                               !strncmp(s->status, "MAINT", 5)
			                       ? CHECK_WARN
			                       : CHECK_OK,
			               prevents_server, "status %s, weight %lld", s->status,
			               (long long)s->weight);
	}
out:
	traffic_stats_release(&st);
	if (lb)
		drv->close(lb);
}

/* The traffic section's runtime APIs, read only (set weight is first used
 * inside the validation, and for all traffic inside the cutover window). */
static void traffic_checks(const struct plan *p, struct check_rows *rows)
{
	const struct traffic_driver *drv = traffic_driver_find(support_traffic_driver(&p->traffic));

	if (!drv)
		return; /* refused at plan time (core/support.c) */
	traffic_side(p, drv, "old", p->traffic.admin, rows);
	if (p->traffic.admin_new)
		traffic_side(p, drv, "new", p->traffic.admin_new, rows);
}

/* Where the switch endpoints should point now: at old until the cutover
 * of the journal's current round is done (then new), read-only. */
static enum db_direction next_switch(const char *state)
{
	struct journal *j = NULL;
	char *round = NULL, *phase = NULL, object[64];
	enum db_direction dir = DB_FORWARD;

	if (!state || journal_open(&j, state, JOURNAL_OPEN_READONLY, NULL) < 0)
		return DB_FORWARD;
	if (journal_phase_get(j, &phase, NULL, NULL) == 0 &&
	    (!strcmp(phase, "decommission") || !strcmp(phase, "done")))
		dir = DB_REVERSE;
	if (journal_get(j, "cutover.round", &round, NULL) < 0)
		round = xstrdup("1");
	snprintf(object, sizeof(object), "cutover (round %s)", round);
	if (journal_step_find_done(j, "cutover.switched", object, NULL, NULL) == 0)
		dir = DB_REVERSE;
	free(round);
	free(phase);
	journal_close(j);
	return dir;
}

struct db_each {
	enum db_direction dir;
	struct check_rows *rows;
};

static void db_switch_rows(struct endpoints_db *d, void *ctx)
{
	struct db_each *x = ctx;
	struct ferry_error err = { 0 };

	orch_check(&d, 1, x->dir, x->rows, &err);
}

/* Each database's readiness for replication (db.h's check), and its
 * switch endpoints read-only (they answer, point where the next switch
 * expects, are not paused, what ferry writes can be written), as rows. */
static void db_checks(const struct plan *p, const char *state, struct check_rows *rows)
{
	struct db_each x = { next_switch(state), rows };

	rollback_db_rows(p, rows, db_switch_rows, &x);
}

static void rehearse_say(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "%s\n", line);
}

/* --rehearse: the DNS part of a rollback on rollback.canary, timed and
 * journaled (it changes the canary, and puts it back). */
static int rehearse(const struct plan *p, const char *state, struct ferry_error *err)
{
	struct journal *j = NULL;
	int64_t ms;
	int r;

	r = journal_open(&j, state, JOURNAL_OPEN_CREATE, err);
	if (r == 0)
		r = journal_lock(j, err);
	if (r == FERRY_ELOCKED)
		snprintf(err->hint, sizeof(err->hint),
		         "a `ferry run` of this plan holds its journal: rehearse while no run "
		         "is going (e.g. between `ferry run --no-wait` calls)");
	if (r == 0)
		r = rollback_rehearse(p, j, rehearse_say, NULL, &ms, err);
	journal_close(j);
	return r;
}

/* The five rollback answers, from the plan, the journal and the rows. */
static void answer_rows(const struct plan *p, const char *state, struct check_rows *rows)
{
	struct rollback_answers a;
	struct journal *j = NULL;

	if (state && journal_open(&j, state, JOURNAL_OPEN_READONLY, NULL) < 0)
		j = NULL;
	rollback_answers_build(p, j, rows, &a);
	rollback_answers_rows(&a, rows);
	journal_close(j);
}

static int print_json(const struct plan *p, const struct check_rows *rows)
{
	json_t *o = json_object(), *a = json_array();
	size_t i;

	for (i = 0; i < rows->n; i++) {
		const struct check_row *r = &rows->v[i];

		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s}", "check", r->check,
		                                   "object", r->object, "status",
		                                   check_status_name(r->status), "message",
		                                   r->message, "prevents", r->prevents));
	}
	json_object_set_new(o, "plan", json_string(p->name));
	json_object_set_new(o, "ok", json_boolean(check_rows_worst(rows) != CHECK_FAIL));
	json_object_set_new(o, "checks", a);
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(o);
	return 0;
}

static void print_table(const struct plan *p, const struct check_rows *rows)
{
	size_t i, nfail = 0, nwarn = 0;

	printf("checks of plan %s (changes nothing)\n\n", p->name);
	for (i = 0; i < rows->n; i++) {
		const struct check_row *r = &rows->v[i];
		const char *on = cmd_sgr(stdout, r->status == CHECK_OK     ? "green"
		                                 : r->status == CHECK_WARN ? "yellow"
		                                                           : "red"),
		           *off = cmd_sgr(stdout, "reset");

		nfail += r->status == CHECK_FAIL;
		nwarn += r->status == CHECK_WARN;
		printf("%s%-4s%s  %-13s %-26s %s\n", on, check_status_name(r->status), off,
		       r->check, r->object, r->message);
		if (r->status != CHECK_OK && r->prevents[0])
			printf("      %-13s %-26s prevents: %s\n", "", "", r->prevents);
	}
	printf("\n%zu check%s: %zu ok, %zu warning%s, %zu failed\n", rows->n,
	       rows->n == 1 ? "" : "s", rows->n - nfail - nwarn, nwarn, nwarn == 1 ? "" : "s",
	       nfail);
}

enum {
	OPT_REHEARSE = CMD_OPT_FIRST_PRIVATE,
};

static int own_option(int opt, const char *arg, void *ctx)
{
	(void)arg;
	if (opt != OPT_REHEARSE)
		return 1;
	*(bool *)ctx = true;
	return 0;
}

int cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONGOPTS,
		{ "rehearse", no_argument, NULL, OPT_REHEARSE },
		{ 0 },
	};
	bool rehearse_first = false;
	struct cmd_common c = { 0 };
	struct ferry_error err = { 0 };
	struct check_rows rows;
	struct plan *p = NULL;
	char *state = NULL;
	int code = EXIT_DONE;

	if (!cmd_start(argc, argv, longopts, own_option, &rehearse_first, &c, &p, &state, &code))
		return code;
	check_rows_init(&rows);
	if (rehearse_first && rehearse(p, state, &err) < 0) {
		code = cmd_fail(&err);
		goto out;
	}
	hosts_access_rows(p, &rows);
	if (p->dns.present)
		dns_checks(p, &rows);
	if (p->traffic.present)
		traffic_checks(p, &rows);
	db_checks(p, state, &rows);
	if (hosts_checks_wanted(p) && hosts_checks_run(p, &rows, &err) < 0) {
		code = cmd_fail(&err);
		goto out;
	}
	answer_rows(p, state, &rows);
	if (c.json)
		print_json(p, &rows);
	else
		print_table(p, &rows);
	code = check_rows_worst(&rows) == CHECK_FAIL ? EXIT_FAILED : EXIT_DONE;
out:
	check_rows_release(&rows);
	plan_free(p);
	free(state);
	return code;
}
