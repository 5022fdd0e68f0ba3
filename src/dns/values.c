/*
 * values.c - record sets as data: what a name holds (struct dns_rrset),
 * what ferry expects or wants it to hold (struct dns_values, struct
 * dns_state), their checks, comparisons and texts.  Every driver and the
 * phase engine share these, so that "the same set" means one thing: the
 * same addresses in any order and spelling, or the same CNAME target in
 * any case.  No foreign library.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/dns.h"
#include "util/mem.h"

void dns_rrset_init(struct dns_rrset *rs)
{
	memset(rs, 0, sizeof(*rs));
}

void dns_rrset_release(struct dns_rrset *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		free(rs->addresses[i]);
	free(rs->addresses);
	free(rs->name);
	free(rs->cname);
	free(rs->other);
	dns_rrset_init(rs);
}

void dns_rrset_add(struct dns_rrset *rs, const char *addr)
{
	XGROW(rs->addresses, rs->alloc, rs->n + 1);
	rs->addresses[rs->n++] = xstrdup(addr);
}

void dns_rrset_set_cname(struct dns_rrset *rs, const char *target)
{
	size_t n = strlen(target);

	free(rs->cname);
	rs->cname = xstrndup(target, n > 1 && target[n - 1] == '.' ? n - 1 : n);
}

struct dns_values dns_rrset_values(const struct dns_rrset *rs)
{
	struct dns_values v = { rs->addresses, rs->n, rs->cname };

	return v;
}

struct dns_state dns_state_plain(const struct dns_values *v)
{
	struct dns_state st;

	memset(&st, 0, sizeof(st));
	st.set = *v;
	return st;
}

bool dns_state_empty(const struct dns_state *st)
{
	return !st->split && st->set.n == 0 && !st->set.cname;
}

int dns_address_canon(const char *in, char *out, size_t outlen, int *family)
{
	unsigned char bin[sizeof(struct in6_addr)];
	int af = strchr(in, ':') ? AF_INET6 : AF_INET;

	if (inet_pton(af, in, bin) != 1 || !inet_ntop(af, bin, out, outlen))
		return FERRY_EINVAL;
	if (family)
		*family = af;
	return 0;
}

bool dns_name_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 1 && a[la - 1] == '.')
		la--;
	if (lb > 1 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

bool dns_name_valid(const char *s)
{
	size_t n = strlen(s), label = 0, labels = 0, i;

	if (n > 1 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return false;
	for (i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (label == 0 || label > 63)
				return false;
			labels++;
			label = 0;
		} else if (isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_') {
			label++;
		} else {
			return false;
		}
	}
	return labels >= 2;
}

int dns_values_check(const char *name, const char *what, const struct dns_values *v,
                     struct ferry_error *err)
{
	char canon[INET6_ADDRSTRLEN], ci[INET6_ADDRSTRLEN];
	size_t i, j;

	if (v->cname && v->n)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "a CNAME stands alone (RFC 1034 §3.6.2): give addresses "
		                       "or a cname",
		                       "dns %s: the %s set has both addresses and a CNAME; nothing "
		                       "sent",
		                       name, what);
	if (v->cname && !dns_name_valid(v->cname))
		return ferry_error_set(err, FERRY_EINVAL, "give a host name such as lb.example.net",
		                       "dns %s: %s CNAME target '%s' is not a host name; nothing "
		                       "sent",
		                       name, what, v->cname);
	for (i = 0; i < v->n; i++) {
		if (!v->addresses[i] ||
		    dns_address_canon(v->addresses[i], canon, sizeof(canon), NULL) < 0)
			return ferry_error_set(err, FERRY_EINVAL, "give IPv4 or IPv6 addresses",
			                       "dns %s: %s address '%s' is not an IP address; "
			                       "nothing sent",
			                       name, what, v->addresses[i] ? v->addresses[i] : "");
		for (j = 0; j < i; j++) {
			dns_address_canon(v->addresses[j], ci, sizeof(ci), NULL);
			if (!strcmp(ci, canon))
				return ferry_error_set(err, FERRY_EINVAL, "list each address once",
				                       "dns %s: %s address %s is listed twice; "
				                       "nothing sent",
				                       name, what, canon);
		}
	}
	return 0;
}

int dns_state_check(const char *name, const char *what, const struct dns_state *st,
                    struct ferry_error *err)
{
	int r = dns_values_check(name, what, &st->set, err);

	if (r < 0 || !st->split)
		return r;
	r = dns_values_check(name, what, &st->alt, err);
	if (r < 0)
		return r;
	if (!st->set.n || !st->alt.n)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "weighted answers need addresses on both sides (hosts.old "
		                       "and hosts.new), not a CNAME",
		                       "dns %s: the %s split has a side without addresses; nothing "
		                       "sent",
		                       name, what);
	if (st->weight > DNS_WEIGHT_MAX || st->alt_weight > DNS_WEIGHT_MAX ||
	    st->weight + st->alt_weight == 0)
		return ferry_error_set(
		        err, FERRY_EINVAL, NULL,
		        "dns %s: the %s split's weights %u/%u are not 0..%d with one "
		        "above 0; nothing sent",
		        name, what, st->weight, st->alt_weight, DNS_WEIGHT_MAX);
	return 0;
}

/* True when every address of a is in b. */
static bool addresses_subset(char *const *a, size_t na, char *const *b, size_t nb)
{
	char ca[INET6_ADDRSTRLEN], cb[INET6_ADDRSTRLEN];
	size_t i, j;

	for (i = 0; i < na; i++) {
		const char *x = dns_address_canon(a[i], ca, sizeof(ca), NULL) ? a[i] : ca;
		bool found = false;

		for (j = 0; j < nb && !found; j++) {
			const char *y = dns_address_canon(b[j], cb, sizeof(cb), NULL) ? b[j] : cb;

			found = !strcmp(x, y);
		}
		if (!found)
			return false;
	}
	return true;
}

bool dns_addresses_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
	return addresses_subset(a, na, b, nb) && addresses_subset(b, nb, a, na);
}

bool dns_values_equal(const struct dns_values *a, const struct dns_values *b)
{
	if (a->cname || b->cname)
		return a->cname && b->cname && a->n == 0 && b->n == 0 &&
		       dns_name_equal(a->cname, b->cname);
	return dns_addresses_equal(a->addresses, a->n, b->addresses, b->n);
}

bool dns_rrset_matches(const struct dns_rrset *rs, const struct dns_state *st)
{
	struct dns_values v = dns_rrset_values(rs);

	if (st->split || rs->other)
		return false;
	return dns_values_equal(&v, &st->set);
}

void dns_addresses_format(char *const *a, size_t n, char *out, size_t outlen)
{
	size_t i, used = 0;

	if (!outlen)
		return;
	out[0] = '\0';
	if (n == 0) {
		snprintf(out, outlen, "no address");
		return;
	}
	for (i = 0; i < n && used < outlen; i++) {
		int w = snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", a[i]);

		if (w < 0)
			break;
		used += (size_t)w;
	}
}

void dns_values_format(const struct dns_values *v, char *out, size_t outlen)
{
	if (v->cname && v->n == 0)
		snprintf(out, outlen, "CNAME %s", v->cname);
	else
		dns_addresses_format(v->addresses, v->n, out, outlen);
}

void dns_state_format(const struct dns_state *st, char *out, size_t outlen)
{
	char a[512], b[512];

	dns_values_format(&st->set, a, sizeof(a));
	if (!st->split) {
		snprintf(out, outlen, "%s", a);
		return;
	}
	dns_values_format(&st->alt, b, sizeof(b));
	snprintf(out, outlen, "split %u: %s / %u: %s", st->weight, a, st->alt_weight, b);
}

void dns_rrset_format(const struct dns_rrset *rs, char *out, size_t outlen)
{
	struct dns_values v = dns_rrset_values(rs);

	if (rs->other)
		snprintf(out, outlen, "%s", rs->other);
	else
		dns_values_format(&v, out, outlen);
}

bool dns_name_in_zone(const char *name, const char *zone)
{
	size_t ln = strlen(name), lz = strlen(zone);

	if (ln && name[ln - 1] == '.')
		ln--;
	if (lz && zone[lz - 1] == '.')
		lz--;
	if (lz == 0)
		return true; /* the root holds every name */
	if (ln < lz || strncasecmp(name + ln - lz, zone, lz) != 0)
		return false;
	return ln == lz || name[ln - lz - 1] == '.';
}
