/*
 * native.c - see native.h.  No foreign library.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/native.h"
#include "util/mem.h"

void dns_nlist_release(struct dns_nlist *l)
{
	size_t i, k;

	for (i = 0; i < l->n; i++) {
		for (k = 0; k < l->r[i].n; k++)
			free(l->r[i].v[k]);
		free(l->r[i].v);
		free(l->r[i].set_id);
		free(l->r[i].alias);
	}
	free(l->r);
	memset(l, 0, sizeof(*l));
}

struct dns_nrr *dns_nlist_add(struct dns_nlist *l, const char *type, const char *set_id,
                              long weight, uint32_t ttl)
{
	struct dns_nrr *r;

	XGROW(l->r, l->alloc, l->n + 1);
	r = &l->r[l->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->type, sizeof(r->type), "%s", type);
	r->set_id = set_id ? xstrdup(set_id) : NULL;
	r->weight = weight;
	r->ttl = ttl;
	return r;
}

const struct dns_nrr *dns_nlist_find(const struct dns_nlist *l, const char *type)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->r[i].type, type) && !l->r[i].set_id)
			return &l->r[i];
	return NULL;
}

struct dns_nrr *dns_nlist_get(struct dns_nlist *l, const char *type, uint32_t ttl)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->r[i].type, type) && !l->r[i].set_id)
			return &l->r[i];
	return dns_nlist_add(l, type, NULL, -1, ttl);
}

void dns_nrr_add(struct dns_nrr *r, const char *v)
{
	XGROW(r->v, r->alloc, r->n + 1);
	r->v[r->n++] = xstrdup(v);
}

static bool values_same(const struct dns_nrr *a, const struct dns_nrr *b)
{
	size_t i, j;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++) {
		bool found = false;

		for (j = 0; j < b->n && !found; j++)
			found = !strcmp(a->type, "CNAME") ? dns_name_equal(a->v[i], b->v[j])
			                                  : !strcmp(a->v[i], b->v[j]);
		if (!found)
			return false;
	}
	return true;
}

static bool nrr_same(const struct dns_nrr *a, const struct dns_nrr *b)
{
	return !strcmp(a->type, b->type) && !a->alias && !b->alias && a->weight == b->weight &&
	       !a->set_id == !b->set_id && (!a->set_id || !strcmp(a->set_id, b->set_id)) &&
	       values_same(a, b);
}

bool dns_nlist_same(const struct dns_nlist *a, const struct dns_nlist *b)
{
	size_t i, j;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++) {
		bool found = false;

		for (j = 0; j < b->n && !found; j++)
			found = nrr_same(&a->r[i], &b->r[j]);
		if (!found)
			return false;
	}
	return true;
}

void dns_nlist_format(const struct dns_nlist *l, char *out, size_t len)
{
	size_t i, k, used = 0;

	out[0] = '\0';
	if (!l->n)
		snprintf(out, len, "no record");
	for (i = 0; i < l->n && used < len; i++) {
		const struct dns_nrr *r = &l->r[i];

		used += (size_t)snprintf(out + used, len - used, "%s%s", i ? "; " : "", r->type);
		if (r->set_id && used < len)
			used += (size_t)snprintf(out + used, len - used, " [%s weight %ld]",
			                         r->set_id, r->weight);
		if (r->alias && used < len)
			used += (size_t)snprintf(out + used, len - used, " alias to %s", r->alias);
		for (k = 0; k < r->n && used < len; k++)
			used += (size_t)snprintf(out + used, len - used, "%s%s", k ? ", " : " ",
			                         r->v[k]);
	}
}

/* The addresses of a LUA record ferry wrote: each between single quotes
 * ("{90,'10.77.0.2'}"). */
static void lua_addresses(const char *text, struct dns_rrset *rs)
{
	const char *p = text;

	while ((p = strchr(p, '\'')) != NULL) {
		const char *q = strchr(p + 1, '\'');
		char *a;

		if (!q)
			break;
		a = xstrndup(p + 1, (size_t)(q - p - 1));
		dns_rrset_add(rs, a);
		free(a);
		p = q + 1;
	}
}

void dns_nlist_to_rrset(const struct dns_nlist *l, const char *name, struct dns_rrset *rs)
{
	char text[2048];
	bool other = false, have_ttl = false;
	size_t i, k;

	free(rs->name);
	rs->name = xstrdup(name);
	for (i = 0; i < l->n; i++) {
		const struct dns_nrr *r = &l->r[i];
		bool lua = !strcmp(r->type, "LUA");

		if (!have_ttl || r->ttl < rs->ttl)
			rs->ttl = r->ttl;
		have_ttl = true;
		other |= lua || r->set_id || r->alias;
		for (k = 0; k < r->n; k++) {
			if (lua)
				lua_addresses(r->v[k], rs);
			else if (!strcmp(r->type, "CNAME"))
				dns_rrset_set_cname(rs, r->v[k]);
			else
				dns_rrset_add(rs, r->v[k]);
		}
	}
	if (other) {
		dns_nlist_format(l, text, sizeof(text));
		rs->other = xstrdup(text);
	}
}

static bool is_v6(const char *a)
{
	return strchr(a, ':') != NULL;
}

size_t dns_values_count_family(const struct dns_values *v, bool v6)
{
	size_t i, k = 0;

	for (i = 0; i < v->n; i++)
		k += is_v6(v->addresses[i]) == v6;
	return k;
}

struct dns_nrr *dns_nlist_family(struct dns_nlist *l, const struct dns_values *v, bool v6,
                                 const char *set_id, long weight, uint32_t ttl)
{
	struct dns_nrr *r = NULL;
	char canon[64];
	size_t i;

	for (i = 0; i < v->n; i++) {
		if (is_v6(v->addresses[i]) != v6)
			continue;
		if (!r)
			r = dns_nlist_add(l, v6 ? "AAAA" : "A", set_id, weight, ttl);
		if (dns_address_canon(v->addresses[i], canon, sizeof(canon), NULL) < 0)
			BUG("address %s was checked", v->addresses[i]);
		dns_nrr_add(r, canon);
	}
	return r;
}

void dns_nlist_plain(struct dns_nlist *l, const struct dns_values *v, uint32_t ttl)
{
	if (v->cname) {
		size_t n = strlen(v->cname);
		char *t = xasprintf("%s%s", v->cname, n && v->cname[n - 1] == '.' ? "" : ".");

		dns_nrr_add(dns_nlist_add(l, "CNAME", NULL, -1, ttl), t);
		free(t);
	}
	dns_nlist_family(l, v, false, NULL, -1, ttl);
	dns_nlist_family(l, v, true, NULL, -1, ttl);
}

int dns_split_families(const char *name, const struct dns_state *st, struct ferry_error *err)
{
	int f;

	for (f = 0; f < 2; f++)
		if (!dns_values_count_family(&st->set, f) != !dns_values_count_family(&st->alt, f))
			return ferry_error_set(
			        err, FERRY_EINVAL,
			        "give both sides addresses of the same families (IPv4 on both, or "
			        "IPv6 on both, or both on both)",
			        "dns %s: weighted answers: only one side has %s addresses, whose "
			        "clients would all go there; nothing sent",
			        name, f ? "IPv6" : "IPv4");
	return 0;
}

int dns_native_check_name(const char *where, const char *zone, const char *name,
                          struct ferry_error *err)
{
	if (!dns_name_valid(name) && !dns_name_equal(name, zone))
		return dns_fail(err, FERRY_EINVAL, where, zone, name, NULL,
		                "not a valid domain name");
	if (!dns_name_in_zone(name, zone))
		return dns_fail(err, FERRY_EINVAL, where, zone, name,
		                "list only names inside dns.zone", "the name is outside zone %s",
		                zone);
	return 0;
}

int dns_native_query(struct dns_provider *p, const struct dns_native_ops *no, const char *where,
                     const char *zone, const char *name, struct dns_rrset *out,
                     struct ferry_error *err)
{
	struct dns_nlist l = { 0 };
	int rc = dns_native_check_name(where, zone, name, err);

	if (rc == 0)
		rc = no->read(p, name, &l, err);
	if (rc < 0)
		return rc;
	dns_nlist_to_rrset(&l, name, out);
	if (!l.n)
		rc = dns_fail(
		        err, FERRY_ENOTFOUND, where, zone, name,
		        "ferry moves A, AAAA and CNAME records; check the name in dns.records",
		        "the name has no A, AAAA or CNAME record in zone %s", zone);
	dns_nlist_release(&l);
	return rc;
}

int dns_native_compare(struct dns_provider *p, const struct dns_native_ops *no, const char *where,
                       const char *zone, const char *name, const struct dns_state *st,
                       struct dns_nlist *have, struct dns_rrset *now, struct ferry_error *err)
{
	struct dns_nlist want = { 0 };
	char h[1024], w[1024];
	int rc;

	rc = dns_native_check_name(where, zone, name, err);
	if (rc == 0)
		rc = dns_state_check(name, "expected", st, err);
	if (rc == 0)
		rc = no->from_state(name, st, 0, &want, err);
	if (rc == 0)
		rc = no->read(p, name, have, err);
	if (rc == 0 && now)
		dns_nlist_to_rrset(have, name, now);
	if (rc == 0 && !dns_nlist_same(have, &want)) {
		dns_nlist_format(have, h, sizeof(h));
		dns_nlist_format(&want, w, sizeof(w));
		rc = dns_fail(
		        err, FERRY_ECHANGED, where, zone, name,
		        "someone else changed the record: find out who and why before going on",
		        "holds %s, not %s as expected; nothing changed", h, w);
	}
	dns_nlist_release(&want);
	return rc;
}

int dns_native_prepare(const struct dns_native_ops *no, const char *where, const char *zone,
                       const char *name, const struct dns_state *wanted, uint32_t ttl,
                       struct dns_nlist *want, struct ferry_error *err)
{
	int rc = dns_native_check_name(where, zone, name, err);

	if (rc == 0)
		rc = dns_state_check(name, "new", wanted, err);
	if (rc == 0 && dns_state_empty(wanted))
		rc = dns_fail(err, FERRY_EINVAL, where, zone, name, NULL,
		              "no new value given; nothing sent");
	if (rc == 0)
		rc = no->from_state(name, wanted, ttl, want, err);
	return rc;
}
