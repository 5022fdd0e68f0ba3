/*
 * native.h - what the API providers (powerdns, route53) share: a name's
 * record sets as the provider holds them (struct dns_nlist: type,
 * weighted-set identity, TTL, values), and the read-and-compare that
 * every change and every expect() starts with.
 *
 * A driver supplies two functions (struct dns_native_ops): read() fills a
 * list with what the provider holds for a name (its A, AAAA and CNAME sets,
 * and the LUA, weighted or alias sets that stand in for them), and
 * from_state() turns a struct dns_state into the list the provider should
 * hold.  Comparing the two (TTL aside) is the "compare" of the
 * compare-and-swap, the same for both.
 *
 * Ownership: a list owns its strings; dns_nlist_release() frees them.
 */
#ifndef FERRY_DNS_NATIVE_H
#define FERRY_DNS_NATIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/dns.h"

struct dns_nrr {
	char type[8]; /* "A", "AAAA", "CNAME", "LUA" */
	char *set_id; /* a weighted set's identifier (route53); NULL when none */
	long weight;  /* -1 when not weighted */
	uint32_t ttl;
	char *alias; /* an alias target (route53) ferry does not change */
	char **v;    /* canonical addresses, a CNAME target with its dot, LUA text */
	size_t n, alloc;
};

struct dns_nlist {
	struct dns_nrr *r;
	size_t n, alloc;
};

void dns_nlist_release(struct dns_nlist *l);
/* A new record set. */
struct dns_nrr *dns_nlist_add(struct dns_nlist *l, const char *type, const char *set_id,
                              long weight, uint32_t ttl);
/* The plain set of type, added when missing. */
struct dns_nrr *dns_nlist_get(struct dns_nlist *l, const char *type, uint32_t ttl);
const struct dns_nrr *dns_nlist_find(const struct dns_nlist *l, const char *type);
void dns_nrr_add(struct dns_nrr *r, const char *v);

/* The same sets (identity, weight, values; TTL aside), in any order. */
bool dns_nlist_same(const struct dns_nlist *a, const struct dns_nlist *b);
/* "A 10.77.0.2, 10.77.0.4; CNAME lb.example.net." or "no record". */
void dns_nlist_format(const struct dns_nlist *l, char *out, size_t len);
/* l as a struct dns_rrset: A/AAAA values into addresses, a CNAME into
 * cname; a LUA, weighted or alias set makes it "other" (described), with
 * the addresses it may answer. */
void dns_nlist_to_rrset(const struct dns_nlist *l, const char *name, struct dns_rrset *rs);
/* Appends a plain value set: a CNAME (target with its dot), or A and AAAA
 * sets of v's addresses (canonical). */
void dns_nlist_plain(struct dns_nlist *l, const struct dns_values *v, uint32_t ttl);
/* Appends the set of v's addresses of family v6 (canonical) with that
 * identity and weight; NULL (nothing added) when v has none. */
struct dns_nrr *dns_nlist_family(struct dns_nlist *l, const struct dns_values *v, bool v6,
                                 const char *set_id, long weight, uint32_t ttl);
/* How many of v's addresses are of family v6. */
size_t dns_values_count_family(const struct dns_values *v, bool v6);
/* FERRY_EINVAL when a split has a family on one side only (its clients
 * would all go there). */
int dns_split_families(const char *name, const struct dns_state *st, struct ferry_error *err);

struct dns_native_ops {
	int (*read)(struct dns_provider *p, const char *name, struct dns_nlist *out,
	            struct ferry_error *err);
	int (*from_state)(const char *name, const struct dns_state *st, uint32_t ttl,
	                  struct dns_nlist *out, struct ferry_error *err);
};

/* FERRY_EINVAL unless name is a valid name inside zone.  where names the
 * provider in messages ("powerdns http://..."). */
int dns_native_check_name(const char *where, const char *zone, const char *name,
                          struct ferry_error *err);
/* The query op: read, as a dns_rrset; FERRY_ENOTFOUND when nothing. */
int dns_native_query(struct dns_provider *p, const struct dns_native_ops *no, const char *where,
                     const char *zone, const char *name, struct dns_rrset *out,
                     struct ferry_error *err);
/* Reads name into *have (and *now, when not NULL) and compares with st:
 * 0, or FERRY_ECHANGED naming both. */
int dns_native_compare(struct dns_provider *p, const struct dns_native_ops *no, const char *where,
                       const char *zone, const char *name, const struct dns_state *st,
                       struct dns_nlist *have, struct dns_rrset *now, struct ferry_error *err);
/* The checks every cas does before reading: the name, the new state, a
 * new value present.  Then builds *want from wanted at ttl. */
int dns_native_prepare(const struct dns_native_ops *no, const char *where, const char *zone,
                       const char *name, const struct dns_state *wanted, uint32_t ttl,
                       struct dns_nlist *want, struct ferry_error *err);

#endif
