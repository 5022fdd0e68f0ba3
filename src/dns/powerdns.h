/*
 * powerdns.h - the powerdns driver's reply parsers on their own, for the
 * unit tests and the fuzzers (tests/fuzz/fuzz_powerdns.c): what the driver
 * does with the JSON the PowerDNS API sends back, without a socket.  The
 * driver itself is reached through dns.h (dns_powerdns_ops).
 *
 * Each takes body[0..len), a whole reply body as the server sent it (no
 * NUL needed), and never keeps a pointer into it.  where and zone name the
 * server and the zone in messages ("powerdns http://...", "shop.test").
 */
#ifndef FERRY_DNS_POWERDNS_H
#define FERRY_DNS_POWERDNS_H

#include <stddef.h>

#include "dns/native.h"
#include "util/error.h"

/* GET .../zones/ZONE.?rrset_name=NAME.: appends name's A, AAAA, CNAME and
 * LUA rrsets to out (addresses canonical, disabled records left out).
 * Returns 0 or FERRY_EPROTO (no rrsets list, an rrset without name, type,
 * ttl or records). */
int dns_powerdns_parse_rrsets(const char *body, size_t len, const char *where, const char *zone,
                              const char *name, struct dns_nlist *out, struct ferry_error *err);

/* GET .../zones/ZONE.: 0 when the zone's kind lets ferry change it here,
 * FERRY_EREFUSED for a secondary (a transfer would undo the change),
 * FERRY_EPROTO without a kind. */
int dns_powerdns_parse_zone(const char *body, size_t len, const char *where, const char *zone,
                            struct ferry_error *err);

/* The "error" text of an error reply, or the start of the body. */
void dns_powerdns_error_text(const char *body, size_t len, char *out, size_t outlen);

#endif
