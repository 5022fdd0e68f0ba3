/*
 * tls.h - which certificate does an address serve for a name?
 *
 * A certificate installed by hand on the old server years ago is the one
 * nobody remembers to move.  hosts_tls_probe() connects from ferry's
 * machine to ADDRESS:PORT, sends SNI = name, completes a TLS handshake
 * (OpenSSL; TLS 1.2 or later) and reports what it found: the chain
 * verified against the system store or ca_file, whether the certificate is
 * valid for the name (X509_check_host, RFC 6125), subject, issuer, expiry.
 * The chain and the name are judged separately so that a report can say
 * "valid chain, wrong name" or "right name, expired".
 *
 * Connect and handshake share one deadline.  This is the only file that
 * includes OpenSSL headers.
 */
#ifndef FERRY_HOSTS_TLS_H
#define FERRY_HOSTS_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

struct hosts_tls_result {
	bool connected;    /* TCP connection made */
	bool handshake;    /* TLS handshake completed (a certificate was served) */
	bool chain_ok;     /* chain verified (trusted, in its validity period) */
	bool name_ok;      /* the certificate is valid for the name */
	char subject[256]; /* RFC 2253, "CN=www.shop.test" */
	char issuer[256];
	int64_t not_after; /* seconds since the epoch, 0 if no certificate */
	int64_t days_left; /* whole days from now to not_after, negative when expired */
	char error[256];   /* why not: "connection refused", the handshake or verify error */
};

/*
 * Probes address (an IPv4 or IPv6 literal) on port with SNI name.  ca_file
 * may be NULL (the system store).  Returns 0 whatever the server did (res
 * says it), FERRY_EINVAL for an address that is not a literal,
 * FERRY_ENOTFOUND/FERRY_EIO when ca_file cannot be loaded.
 */
int hosts_tls_probe(const char *address, unsigned port, const char *name, const char *ca_file,
                    int64_t timeout_ms, struct hosts_tls_result *res, struct ferry_error *err);

#endif
