/*
 * check.c - `ferry check PLAN [--json]`: run every check now, change
 * nothing, print one row per check with the migration failure it prevents.
 *
 * The rows come from each family: DNS (here, through the provider
 * interface: the record exists, points at the old host, its TTL, the key),
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
#include "core/endpoints.h"
#include "db/db.h"
#include "plan/plan.h"
#include "dns/dns.h"
#include "core/host_checks.h"

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

/* Each database's readiness for replication (db.h's check), as rows. */
static void db_checks(const struct plan *p, struct check_rows *rows)
{
	static const enum check_status map[] = {
		[DB_CHECK_OK] = CHECK_OK, [DB_CHECK_WARN] = CHECK_WARN, [DB_CHECK_FAIL] = CHECK_FAIL
	};
	size_t i, k;

	for (i = 0; i < p->ndatabases; i++) {
		struct ferry_error err = { 0 };
		struct endpoints_db *d = NULL;
		struct db_checks c = { 0 };
		char object[128];

		if (endpoints_db_open(p, i, &d, &err) < 0 || d->eng->check(d->h, &c, &err) < 0) {
			check_rows_add(rows, "db", p->databases[i].name, CHECK_FAIL,
			               "a migration that cannot reach its database", "%s", err.msg);
		} else {
			for (k = 0; k < c.n; k++) {
				snprintf(object, sizeof(object), "%s %s", p->databases[i].name,
				         c.v[k].name);
				check_rows_add(rows, "db", object, map[c.v[k].status],
				               c.v[k].prevents, "%s", c.v[k].message);
			}
		}
		db_checks_release(&c);
		endpoints_db_close(d);
	}
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
	bool color = isatty(STDOUT_FILENO);
	size_t i, nfail = 0, nwarn = 0;

	printf("checks of plan %s (changes nothing)\n\n", p->name);
	for (i = 0; i < rows->n; i++) {
		const struct check_row *r = &rows->v[i];
		const char *on = "", *off = "";

		if (color) {
			on = r->status == CHECK_OK     ? "\033[32m"
			     : r->status == CHECK_WARN ? "\033[33m"
			                               : "\033[1;31m";
			off = "\033[0m";
		}
		nfail += r->status == CHECK_FAIL;
		nwarn += r->status == CHECK_WARN;
		printf("%s%-4s%s  %-13s %-26s %s\n", on, check_status_name(r->status), off,
		       r->check, r->object, r->message);
		if (r->status != CHECK_OK && r->prevents[0])
			printf("      %-13s %-26s prevents: %s\n", "", "", r->prevents);
	}
	printf("\n%zu checks: %zu ok, %zu warning%s, %zu failed\n", rows->n,
	       rows->n - nfail - nwarn, nwarn, nwarn == 1 ? "" : "s", nfail);
}

int cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = { CMD_COMMON_LONGOPTS, { 0 } };
	struct cmd_common c = { 0 };
	struct ferry_error err = { 0 };
	struct check_rows rows;
	struct plan *p = NULL;
	int code = EXIT_DONE;

	if (!cmd_start(argc, argv, longopts, NULL, NULL, &c, &p, NULL, &code))
		return code;
	check_rows_init(&rows);
	if (p->dns.present)
		dns_checks(p, &rows);
	db_checks(p, &rows);
	if (hosts_checks_wanted(p) && hosts_checks_run(p, &rows, &err) < 0) {
		code = cmd_fail(&err);
		goto out;
	}
	if (c.json)
		print_json(p, &rows);
	else
		print_table(p, &rows);
	code = check_rows_worst(&rows) == CHECK_FAIL ? EXIT_FAILED : EXIT_DONE;
out:
	check_rows_release(&rows);
	plan_free(p);
	return code;
}
