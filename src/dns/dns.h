/*
 * dns.h - the DNS provider interface: read a record, prove the key, change a
 * record only if it still holds what the plan expects.
 *
 * A provider is a table of function pointers (git's refs backends are the
 * model): the phase engine sees only struct dns_provider_ops and the
 * dns_*() wrappers below, never the driver.  Drivers: "rfc2136" (dynamic
 * update with TSIG over ldns, src/dns/rfc2136.c); later powerdns, route53,
 * cloudflare.
 *
 * Calling sequence:
 *
 *	struct dns_config cfg = { .server_host = "10.77.0.1", .server_port = 53,
 *	                          .zone = "shop.test", .key_name = "ferry-key",
 *	                          .algorithm = PLAN_TSIG_HMAC_SHA256,
 *	                          .secret = secret_b64, .timeout_ms = 0 };
 *	struct dns_provider *p;
 *	if (dns_open("rfc2136", &cfg, &p, err) < 0) ...   (no packet sent yet)
 *	buf_release_secret(&secret);                       (the driver has a copy)
 *	dns_check_key(p, err);                             (changes nothing)
 *	dns_query(p, "www.shop.test", &rs, err);           (what is served now)
 *	dns_set_ttl(p, "www.shop.test", rs.addresses, rs.n, 300, err);
 *	dns_cas(p, "www.shop.test", old, nold, new, nnew, 60, err);
 *	dns_close(p);                                      (wipes the secret)
 *
 * Every change is one atomic RFC 2136 UPDATE whose prerequisites state the
 * exact addresses expected (RFC 2136 §2.4.2), so a record changed by someone
 * else is never clobbered: the server refuses and the call returns
 * FERRY_ECHANGED.  Errors: FERRY_EINVAL (bad name, address or config; nothing
 * sent), FERRY_EUNREACH (refused, no route), FERRY_ETIMEDOUT (no answer
 * within timeout_ms), FERRY_EAUTH (TSIG BADKEY, BADSIG, BADTIME, or an
 * answer whose signature does not verify), FERRY_EREFUSED (NOTAUTH,
 * REFUSED, SERVFAIL), FERRY_ECHANGED, FERRY_ENOTFOUND (query only),
 * FERRY_EPROTO (an answer we cannot use).  Every refusal means the server
 * changed nothing, and the message says so; only when no trustworthy answer
 * came back (a timeout after sending, an answer that fails TSIG) may an
 * update have been applied, and the message says that instead.
 *
 * --dry-run prints the same UPDATE with dns_change_build() and
 * dns_change_format() (nsupdate syntax, no secret): the driver builds its
 * packet from the same records.
 *
 * Names are absolute without the trailing dot ("www.shop.test") and must lie
 * inside the configured zone.  Addresses are IPv4 or IPv6 text; A and AAAA
 * are handled together as one address set.  Messages name the server and
 * the record, and never contain the secret.
 *
 * Ownership: a struct dns_rrset owns its strings (dns_rrset_release frees
 * them); address arrays passed in are borrowed for the call; the provider
 * copies everything it keeps from struct dns_config.
 */
#ifndef FERRY_DNS_DNS_H
#define FERRY_DNS_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util/buf.h"
#include "util/error.h"

#define DNS_TIMEOUT_DEFAULT_MS 2000

struct dns_config {
	const char *server_host; /* IPv4 or IPv6 literal (no name lookup: bounded time) */
	uint16_t server_port;    /* 0 means 53 */
	const char *zone;        /* "shop.test" */
	const char *key_name;    /* TSIG key name, "ferry-key" */
	const char *algorithm;   /* "hmac-sha256" (the plan checked the name) */
	const char *secret;      /* base64 TSIG secret, borrowed: copied by open */
	int timeout_ms;          /* per operation; <= 0 means DNS_TIMEOUT_DEFAULT_MS */
};

/* A and AAAA records of one name, as served by the authoritative server. */
struct dns_rrset {
	char *name;       /* as asked, no trailing dot */
	uint32_t ttl;     /* the smallest TTL of the records */
	char **addresses; /* canonical text ("10.77.0.2", "2001:db8::1") */
	size_t n, alloc;
};

/* An open provider.  Drivers embed it as their first member. */
struct dns_provider {
	const struct dns_provider_ops *ops;
};

struct dns_provider_ops {
	const char *name;
	/* Checks and copies cfg; sends nothing.  FERRY_EINVAL on a bad
	 * address, zone, key name, algorithm or secret. */
	int (*open)(const struct dns_config *cfg, struct dns_provider **out,
	            struct ferry_error *err);
	/* Asks the authoritative server directly (RD=0) for A and AAAA of
	 * name.  Fills *out (init'ed by the caller, released by the caller).
	 * FERRY_ENOTFOUND when the name has no address (NXDOMAIN or no data). */
	int (*query)(struct dns_provider *p, const char *name, struct dns_rrset *out,
	             struct ferry_error *err);
	/* A signed UPDATE with a prerequisite only (the zone's SOA exists,
	 * RFC 2136 §2.4.1) and an empty update section: proves the server
	 * accepts the key and the zone for update, and changes nothing.
	 * Verifies the answer's TSIG. */
	int (*check_key)(struct dns_provider *p, struct ferry_error *err);
	/* Sets the TTL of name's addresses to ttl, only if name holds exactly
	 * addresses[0..n) (else FERRY_ECHANGED, nothing changed). */
	int (*set_ttl)(struct dns_provider *p, const char *name, char *const *addresses, size_t n,
	               uint32_t ttl, struct ferry_error *err);
	/* Replaces name's addresses old[0..nold) by new[0..nnew) at ttl, only
	 * if name holds exactly old (else FERRY_ECHANGED with what it holds now;
	 * nothing changed).  nold == 0 expects no address; nnew must be > 0.
	 * A refused swap reads the record back, so it may take up to twice
	 * the timeout. */
	int (*cas)(struct dns_provider *p, const char *name, char *const *old, size_t nold,
	           char *const *new_, size_t nnew, uint32_t ttl, struct ferry_error *err);
	/* Wipes the secret and frees p. */
	void (*close)(struct dns_provider *p);
};

extern const struct dns_provider_ops dns_rfc2136_ops;

/* The driver called name, or NULL. */
const struct dns_provider_ops *dns_provider_find(const char *name);

/* Finds the driver and opens it.  FERRY_EINVAL for an unknown provider. */
int dns_open(const char *provider, const struct dns_config *cfg, struct dns_provider **out,
             struct ferry_error *err);
int dns_query(struct dns_provider *p, const char *name, struct dns_rrset *out,
              struct ferry_error *err);
int dns_check_key(struct dns_provider *p, struct ferry_error *err);
int dns_set_ttl(struct dns_provider *p, const char *name, char *const *addresses, size_t n,
                uint32_t ttl, struct ferry_error *err);
int dns_cas(struct dns_provider *p, const char *name, char *const *old, size_t nold,
            char *const *new_, size_t nnew, uint32_t ttl, struct ferry_error *err);
void dns_close(struct dns_provider *p); /* NULL-safe */

/*
 * Asks a recursive resolver at server ("ADDRESS[:PORT]", see
 * dns_server_parse) for name's A and AAAA records with RD set, as its clients would, and
 * fills *out: the TTL is what the resolver's cache hands out now.  Used to
 * watch the resolvers of the prepare gate (DESIGN §1).  Errors as
 * dns_query(), with messages starting "resolver".
 */
int dns_resolve(const char *server, const char *name, int timeout_ms, struct dns_rrset *out,
                struct ferry_error *err);

/* Splits "10.77.0.1:5300", "[::1]:53", "::1" or "10.77.0.1" into host
 * (hostlen bytes) and *port (53 when absent).  FERRY_EINVAL otherwise. */
int dns_server_parse(const char *spec, char *host, size_t hostlen, uint16_t *port,
                     struct ferry_error *err);

/* --- struct dns_rrset ------------------------------------------------- */

void dns_rrset_init(struct dns_rrset *rs);
void dns_rrset_release(struct dns_rrset *rs);
/* Appends a copy of addr (already canonical). */
void dns_rrset_add(struct dns_rrset *rs, const char *addr);

/* --- the compare-and-swap as data ------------------------------------- */

/*
 * The records of the one UPDATE behind dns_cas() and dns_set_ttl(), built
 * once by dns_change_build() so that a driver and --dry-run (which prints
 * it with dns_change_format()) cannot disagree:
 *   prerequisites, per type (A, then AAAA):
 *     each expected address, class IN, TTL 0  RFC 2136 §2.4.2 (value-dependent:
 *                                             the RRset is exactly these)
 *     or, when none of that type is expected, RFC 2136 §2.4.3 (RRset does not
 *     exist), class NONE
 *   updates: delete the A and AAAA RRsets (§2.5.2, class ANY), then add each
 *     new address at the new TTL (§2.5.1, class IN).
 * The server applies all of it or nothing (RFC 2136 §3.2, §3.4).
 */
enum dns_rr_section {
	DNS_SECTION_PREREQ,
	DNS_SECTION_UPDATE,
};
enum dns_rr_class {
	DNS_CLASS_IN,
	DNS_CLASS_NONE,
	DNS_CLASS_ANY,
};

struct dns_change_rr {
	enum dns_rr_section section;
	enum dns_rr_class cls;
	bool aaaa; /* AAAA, else A */
	uint32_t ttl;
	char addr[48]; /* canonical text, "" for no RDATA */
};

struct dns_change {
	char *name;                /* the record, as given */
	struct dns_rrset expected; /* canonical, without duplicates */
	struct dns_rrset wanted;
	uint32_t ttl;
	struct dns_change_rr *rr;
	size_t nrr, alloc;
};

/* Builds *c (released with dns_change_release, also after a failure).
 * FERRY_EINVAL, naming the record, for a name outside zone, an address
 * that is not an IP literal, or no new address. */
int dns_change_build(struct dns_change *c, const char *zone, const char *name, char *const *old,
                     size_t nold, char *const *new_, size_t nnew, uint32_t ttl,
                     struct ferry_error *err);
void dns_change_release(struct dns_change *c);

/* Appends the change in nsupdate(1)/knsupdate(1) syntax ("zone", "prereq
 * yxrrset ...", "update delete ...", "update add ...", "send"), with a
 * comment line naming the key but never its secret.  cfg gives server,
 * zone and key.  Returns 0 or FERRY_EPROTO when out is full. */
int dns_change_format(const struct dns_change *c, const struct dns_config *cfg, struct buf *out);

/* --- helpers shared by drivers (no ldns) ------------------------------- */

/* Writes the canonical text of an IPv4/IPv6 address into out (at least 46
 * bytes) and its family (AF_INET, AF_INET6) into *family.  FERRY_EINVAL if
 * in is not an address literal. */
int dns_address_canon(const char *in, char *out, size_t outlen, int *family);

/* True when a and b hold the same set of addresses (order and spelling
 * ignored; an invalid address is only equal to the same text). */
bool dns_addresses_equal(char *const *a, size_t na, char *const *b, size_t nb);

/* "10.77.0.2, 10.77.0.3" (or "no address") into out, truncated to fit. */
void dns_addresses_format(char *const *a, size_t n, char *out, size_t outlen);

/* True when name equals zone or lies below it (case-insensitive, on label
 * boundaries; trailing dots ignored). */
bool dns_name_in_zone(const char *name, const char *zone);

/* Parses an address literal and port into *ss.  FERRY_EINVAL with a message
 * naming the server otherwise. */
int dns_sockaddr_parse(const char *host, uint16_t port, struct sockaddr_storage *ss,
                       socklen_t *sslen, struct ferry_error *err);

enum dns_transport {
	DNS_UDP,
	DNS_TCP,
};

/*
 * Sends one DNS message (query[0..qlen), ID in its first two bytes) to addr
 * and reads the answer with the same ID into reply (whose max bounds it),
 * before deadline_ms (a time_mono_ms() instant).  UDP resends the query
 * until the deadline (use it only for idempotent queries); TCP frames the
 * message with its two-byte length (RFC 1035 §4.2.2).  server names the
 * server in messages.  Returns 0, FERRY_EUNREACH (refused, no route),
 * FERRY_ETIMEDOUT, FERRY_EIO or FERRY_EPROTO (answer too large or cut).
 */
int dns_wire_exchange(const struct sockaddr_storage *addr, socklen_t addrlen, enum dns_transport tr,
                      const uint8_t *query, size_t qlen, int64_t deadline_ms, struct buf *reply,
                      const char *server, struct ferry_error *err);

#endif
