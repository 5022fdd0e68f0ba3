/*
 * world.c - the journal's end state against the world (see world.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/endpoints.h"
#include "core/world.h"
#include "dns/dns.h"
#include "traffic/traffic.h"
#include "util/mem.h"
#include "util/timeutil.h"

static const char prevents_dns[] =
        "clients sent to a server the migration left behind, while ferry reports the "
        "migration complete";
static const char prevents_db[] =
        "writes going to a database the journal thinks was left behind, while ferry "
        "reports where they go";
static const char prevents_traffic[] =
        "requests split in a way the journal does not know, while ferry reports the "
        "migration complete";

/* What the journal's last DNS change (dns.cas or dns.cas_back) set on
 * name: its "to", as dns_state_format() wrote it ("a, b" or "CNAME x"),
 * or (older journals) one address or a list of them, as text "a, b" in
 * out; "" when the journal changed none. */
static void journal_dns(struct journal *j, const char *name, char *out, size_t len)
{
	static const char *const steps[] = { "dns.cas", "dns.cas_back" };
	struct journal_step s[2];
	json_t *d = NULL, *to;
	size_t i, k, used = 0;
	int best = -1;

	out[0] = '\0';
	memset(s, 0, sizeof(s));
	for (i = 0; i < 2; i++)
		if (journal_step_find_done(j, steps[i], name, &s[i], NULL) == 0 &&
		    (best < 0 || s[i].id > s[best].id))
			best = (int)i;
	if (best >= 0 && s[best].detail)
		d = json_loads(s[best].detail, 0, NULL);
	to = json_object_get(d, "to");
	if (json_is_string(to))
		snprintf(out, len, "%s", json_string_value(to));
	for (k = 0; json_is_array(to) && k < json_array_size(to) && used < len; k++)
		used += (size_t)snprintf(out + used, len - used, "%s%s", k ? ", " : "",
		                         json_string_value(json_array_get(to, k)));
	json_decref(d);
	for (i = 0; i < 2; i++)
		journal_step_release(&s[i]);
}

/* Whether rs holds the set text describes (journal_dns: "a, b" or "CNAME
 * x"), in any order. */
static bool holds(const struct dns_rrset *rs, const char *text)
{
	struct dns_rrset want;
	struct dns_state st;
	char *copy = xstrdup(text), *save = NULL, *a;
	bool same;

	dns_rrset_init(&want);
	if (!strncmp(copy, "CNAME ", 6))
		dns_rrset_set_cname(&want, copy + 6);
	else
		for (a = strtok_r(copy, ", ", &save); a; a = strtok_r(NULL, ", ", &save))
			dns_rrset_add(&want, a);
	st = dns_state_plain(&(struct dns_values){ want.addresses, want.n, want.cname });
	same = dns_rrset_matches(rs, &st);
	dns_rrset_release(&want);
	free(copy);
	return same;
}

static void dns_rows(const struct plan *p, struct journal *j, struct check_rows *rows)
{
	const struct plan_dns *d = &p->dns;
	size_t i;

	for (i = 0; i < d->records.n; i++) {
		const char *name = d->records.v[i];
		struct ferry_error err = { 0 };
		struct dns_rrset rs;
		char want[512], have[512];
		int r;

		journal_dns(j, name, want, sizeof(want));
		if (!want[0])
			continue; /* the journal moved nothing: nothing to compare */
		if (!d->server_host) {
			/* powerdns, route53: read only through the API, with its
			 * key, and status reads no secret */
			check_rows_add(rows, "world.dns", name, CHECK_WARN, prevents_dns,
			               "cannot tell: provider %s is read through its API, with its "
			               "key, and status reads no secret ('ferry check' reads the "
			               "record); the journal's last change set %s",
			               d->provider, want);
			continue;
		}
		dns_rrset_init(&rs);
		r = dns_authoritative_query(d->server_host, d->server_port, d->zone, name, 2000,
		                            &rs, &err);
		if (r == FERRY_ENOTFOUND) {
			/* the record is gone: that disagrees too */
			check_rows_add(rows, "world.dns", name, CHECK_FAIL, prevents_dns,
			               "%s, but the journal's last change set %s", err.msg, want);
		} else if (r < 0) {
			check_rows_add(rows, "world.dns", name, CHECK_WARN, prevents_dns,
			               "cannot tell: %s", err.msg);
		} else {
			dns_rrset_format(&rs, have, sizeof(have));
			if (holds(&rs, want))
				check_rows_add(rows, "world.dns", name, CHECK_OK, prevents_dns,
				               "%s answers %s, as the journal says", d->server,
				               have);
			else
				check_rows_add(
				        rows, "world.dns", name, CHECK_FAIL, prevents_dns,
				        "%s answers %s, but the journal's last change set %s",
				        d->server, have[0] ? have : "nothing", want);
		}
		dns_rrset_release(&rs);
	}
}

/* The share the journal's last traffic.split sent to new, or -1. */
static double journal_split(struct journal *j, const char *backend)
{
	struct journal_step s = { 0 };
	double pct = -1;
	json_t *d;

	if (journal_step_find_done(j, "traffic.split", backend, &s, NULL) < 0)
		return -1;
	d = s.detail ? json_loads(s.detail, 0, NULL) : NULL;
	if (json_is_number(json_object_get(d, "pct")))
		pct = json_number_value(json_object_get(d, "pct"));
	json_decref(d);
	journal_step_release(&s);
	return pct;
}

static void traffic_rows(const struct plan *p, struct journal *j, struct check_rows *rows)
{
	const struct plan_traffic *t = &p->traffic;
	const struct traffic_driver *drv = traffic_driver_find(t->via);
	const struct traffic_server_stats *so, *sn;
	struct traffic_options opt = TRAFFIC_OPTIONS_INIT;
	struct ferry_error err = { 0 };
	struct traffic_lb *lb = NULL;
	struct traffic_stats st;
	double want = journal_split(j, t->backend), have, eff;
	int wo, wn;

	if (!drv || want < 0)
		return; /* the journal split nothing: nothing to compare */
	traffic_stats_init(&st);
	opt.mode = TRAFFIC_MODE_ONESHOT;
	if (drv->open(t->admin, &opt, &lb, &err) < 0 || drv->stats(lb, t->backend, &st, &err) < 0) {
		check_rows_add(rows, "world.traffic", t->backend, CHECK_WARN, prevents_traffic,
		               "cannot tell: %s", err.msg);
		goto out;
	}
	so = traffic_stats_find(&st, t->server_old);
	sn = traffic_stats_find(&st, t->server_new);
	if (!so || !sn) {
		check_rows_add(rows, "world.traffic", t->backend, CHECK_FAIL, prevents_traffic,
		               "%s has no server %s in backend %s any more", t->admin,
		               so ? t->server_new : t->server_old, t->backend);
		goto out;
	}
	have = so->weight + sn->weight > 0
	               ? 100.0 * (double)sn->weight / (double)(so->weight + sn->weight)
	               : 0;
	/* compare with what the journal's split set, as weights */
	if (traffic_split_weights(want, &wo, &wn, &eff) < 0)
		eff = want;
	if (have > eff - 0.05 && have < eff + 0.05)
		check_rows_add(rows, "world.traffic", t->backend, CHECK_OK, prevents_traffic,
		               "%g %% to %s (weights %lld/%lld), as the journal says", have,
		               t->server_new, (long long)so->weight, (long long)sn->weight);
	else
		check_rows_add(rows, "world.traffic", t->backend, CHECK_FAIL, prevents_traffic,
		               "%g %% to %s (weights %lld/%lld), but the journal's last split "
		               "set %g %%",
		               have, t->server_new, (long long)so->weight, (long long)sn->weight,
		               eff);
out:
	traffic_stats_release(&st);
	if (lb)
		drv->close(lb);
}

/* Which side the journal says writes: new once the current round's
 * switch is done (a rollback starts a new round), old before. */
static enum db_side journal_writer(struct journal *j)
{
	char *round = NULL, object[64];
	enum db_side w = DB_OLD;

	if (journal_get(j, "cutover.round", &round, NULL) < 0)
		round = xstrdup("1");
	snprintf(object, sizeof(object), "databases (round %s)", round);
	if (journal_step_find_done(j, "db.switch", object, NULL, NULL) == 0)
		w = DB_NEW;
	free(round);
	return w;
}

void world_db_writers(const struct plan *p, struct journal *j, struct check_rows *rows)
{
	enum db_side w = journal_writer(j);
	size_t i, k;

	for (i = 0; i < p->ndatabases; i++) {
		struct endpoints_db *d = NULL;
		struct ferry_error err = { 0 };
		char want[300], object[160];

		/* the switch endpoints only (read-only; no database session) */
		if (endpoints_db_config(p, i, true, &d, &err) < 0) {
			check_rows_add(rows, "world.db", p->databases[i].name, CHECK_WARN,
			               prevents_db, "cannot tell: %s", err.msg);
			continue;
		}
		sw_target_format(&d->target[w], want, sizeof(want));
		for (k = 0; k < d->nsw; k++) {
			struct sw_where where;
			struct sw_endpoint *ep = NULL;

			snprintf(object, sizeof(object), "%s %s", p->databases[i].name,
			         d->swcfg[k].name);
			if (d->sw->open(&d->swcfg[k], &ep, &err) < 0 ||
			    d->sw->show(ep, &where, time_mono_ms() + 5000, &err) < 0)
				check_rows_add(rows, "world.db", object, CHECK_WARN, prevents_db,
				               "cannot tell: %s", err.msg);
			else if (!sw_where_is(&where, &d->target[w]) || where.paused)
				check_rows_add(rows, "world.db", object, CHECK_FAIL, prevents_db,
				               "points at %s:%d%s; the journal says %s (%s) writes",
				               where.host, where.port,
				               where.paused ? ", paused" : "", db_side_name(w),
				               want);
			else
				check_rows_add(rows, "world.db", object, CHECK_OK, prevents_db,
				               "points at %s (%s), as the journal says", want,
				               db_side_name(w));
			d->sw->close(ep);
		}
		endpoints_db_close(d);
	}
}

void world_compare(const struct plan *p, struct journal *j, struct check_rows *rows)
{
	if (p->dns.present)
		dns_rows(p, j, rows);
	if (p->traffic.present)
		traffic_rows(p, j, rows);
	world_db_writers(p, j, rows);
}
