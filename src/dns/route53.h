/*
 * route53.h - the route53 driver's reply parsers on their own, for the
 * unit tests and the fuzzers (tests/fuzz/fuzz_route53.c): what the driver
 * does with the XML Route 53 sends back (read with dns/xml.c), without a
 * socket.  The driver itself is reached through dns.h (dns_route53_ops).
 *
 * Each takes body[0..len), a whole reply body as the server sent it (no
 * NUL needed), and never keeps a pointer into it.  where and zone name the
 * hosted zone and the zone in messages ("route53 zone Z1", "shop.test").
 */
#ifndef FERRY_DNS_ROUTE53_H
#define FERRY_DNS_ROUTE53_H

#include <stdbool.h>
#include <stddef.h>

#include "dns/native.h"
#include "util/error.h"

/* Where the next page of a ListResourceRecordSets starts, while it still
 * lists name's sets (more); the strings are owned. */
struct dns_route53_next {
	bool more;
	char *name, *type, *id;
};
void dns_route53_next_release(struct dns_route53_next *n);

/* One page of ListResourceRecordSets from name on: appends name's A, AAAA
 * and CNAME sets (weighted ones with their SetIdentifier and Weight, an
 * alias with its target) to out and fills *next.  Returns 0 or
 * FERRY_EPROTO (not XML, a set without a type). */
int dns_route53_parse_rrsets(const char *body, size_t len, const char *where, const char *zone,
                             const char *name, struct dns_nlist *out, struct dns_route53_next *next,
                             struct ferry_error *err);

/* A ChangeResourceRecordSets or GetChange reply: the change's ID (its last
 * path element) into id, and whether it is INSYNC.  Returns 0 or
 * FERRY_EPROTO (not XML, no ChangeInfo/Id). */
int dns_route53_parse_change(const char *body, size_t len, const char *where, const char *zone,
                             const char *name, char *id, size_t idlen, bool *insync,
                             struct ferry_error *err);

/* GetHostedZone: 0 when the hosted zone zone_id is zone, FERRY_EREFUSED
 * when it is another, FERRY_EPROTO when not XML. */
int dns_route53_parse_zone(const char *body, size_t len, const char *where, const char *zone,
                           const char *zone_id, struct ferry_error *err);

/* An error reply's code (<ErrorResponse><Error><Code>, or
 * "InvalidChangeBatch") and message, or "" and the start of the body. */
void dns_route53_parse_error(const char *body, size_t len, char *code, size_t clen, char *msg,
                             size_t mlen);

#endif
