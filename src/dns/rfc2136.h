/*
 * rfc2136.h - the rfc2136 driver's answer parsers on their own, for the
 * unit tests and the fuzzers (tests/fuzz/fuzz_dns.c): what the driver does
 * with the bytes a server sends back, without a socket.  The driver itself
 * is reached through dns.h (dns_rfc2136_ops).
 *
 * Both take wire[0..len), a whole DNS message as a server would send it,
 * and never keep a pointer into it.  zone names the zone in messages.
 */
#ifndef FERRY_DNS_RFC2136_H
#define FERRY_DNS_RFC2136_H

#include <stdbool.h>
#include <stddef.h>

#include "dns/dns.h"
#include "util/error.h"

/*
 * The answer to a question for name's A (aaaa false) or AAAA records, as
 * query_type() reads it: the question must match, the answer be NOERROR
 * and authoritative (unless recursive).  Appends the addresses to out, or
 * sets out->cname when the name is an alias (the lowest TTL in out->ttl).
 * Returns 0, FERRY_ENOTFOUND (NXDOMAIN), FERRY_EINVAL (a bad name),
 * FERRY_EREFUSED or FERRY_EPROTO.
 */
int dns_rfc2136_parse_answer(const void *wire, size_t len, const char *zone, const char *name,
                             bool aaaa, bool recursive, struct dns_rrset *out,
                             struct ferry_error *err);

/*
 * The answer to an UPDATE signed with key_name (hmac-sha256, base64
 * secret, borrowed), as update_run() judges it: an UPDATE answer whose
 * TSIG verifies, then its RCODE.  Returns 0 or the error update_run()
 * would (FERRY_EAUTH, FERRY_ECHANGED, FERRY_EREFUSED, FERRY_EPROTO, ...).
 */
int dns_rfc2136_parse_update_answer(const void *wire, size_t len, const char *zone,
                                    const char *key_name, const char *secret,
                                    struct ferry_error *err);

#endif
