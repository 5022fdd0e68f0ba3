/*
 * dns.h - the DNS provider interface: read what a name holds, prove the
 * credentials, change a name only if it still holds what ferry expects.
 *
 * A provider is a table of function pointers (git's refs backends are the
 * model): the phase engine sees only struct dns_provider_ops and the
 * dns_*() wrappers below, never the driver.  Drivers:
 *   rfc2136   dynamic update with TSIG (ldns), src/dns/rfc2136.c
 *   powerdns  PowerDNS Authoritative's HTTP API, src/dns/powerdns.c
 *   route53   Amazon Route 53's API signed with SigV4, src/dns/route53.c
 *   command   an operator's command, checked over DNS, src/dns/command.c
 *
 * What a name holds is a *record set*: several A and AAAA addresses, or one
 * CNAME (RFC 1034 §3.6.2: a CNAME stands alone).  A plan names the set of
 * each side (hosts.old / hosts.new: address, addresses or cname).  Drivers
 * that can weight answers (ops->weights: powerdns LUA records, route53
 * weighted records) also hold a *split*: both sides' addresses, each side
 * answered with its weight, for the validation phase (traffic.via: dns).
 *
 * Calling sequence:
 *
 *	struct dns_config cfg = { .zone = "shop.test", .server_host = "10.77.0.1",
 *	                          .key_name = "ferry-key", .algorithm = "hmac-sha256",
 *	                          .secret = secret };
 *	struct dns_provider *p;
 *	if (dns_open("rfc2136", &cfg, &p, err) < 0) ...   (nothing sent yet)
 *	buf_release_secret(&secret);                       (the driver has a copy)
 *	dns_check_access(p, err);                          (changes nothing)
 *	dns_query(p, "www.shop.test", &rs, err);           (what is served now)
 *	dns_set_ttl(p, "www.shop.test", &old, 300, err);   (old: a struct dns_state)
 *	dns_cas(p, "www.shop.test", &old, &new, 60, err);
 *	dns_close(p);                                      (wipes the secret)
 *
 * Every change is a compare-and-swap: it applies only if the name still
 * holds exactly the expected state, and otherwise changes nothing and
 * returns FERRY_ECHANGED with what the name holds now.  How strong that is
 * depends on the provider (ops->atomic):
 *   atomic             the server checks and applies in one step: RFC 2136
 *                      prerequisites (§2.4.2), Route 53's change batch of
 *                      DELETE-old + CREATE-new (refused whole when the
 *                      DELETE does not match);
 *   read-compare-write ferry reads, compares, writes, and reads again to
 *                      verify (PowerDNS, whose API has no condition; the
 *                      command provider).  A change made by someone else
 *                      between the read and the write can be overwritten;
 *                      the verification read then reports it.
 *
 * Errors: FERRY_EINVAL (bad name, value or config; nothing sent),
 * FERRY_EUNREACH (refused, no route), FERRY_ETIMEDOUT (no answer within
 * timeout_ms), FERRY_EAUTH (credentials refused: TSIG BADKEY/BADSIG/BADTIME,
 * HTTP 401/403, an AWS signature refused), FERRY_EREFUSED (the server
 * refused the change or the zone), FERRY_ECHANGED, FERRY_ENOTFOUND (query
 * only), FERRY_EPROTO (an answer we cannot use).  Every refusal means the
 * server changed nothing, and the message says so; only when no
 * trustworthy answer came back may a change have been applied, and the
 * message says that instead.
 *
 * --dry-run prints what a change would send with dns_describe() (the
 * driver's text: nsupdate syntax, the API request), built by the same code
 * as the change itself; never a secret.
 *
 * Names are absolute without the trailing dot ("www.shop.test") and must lie
 * inside the configured zone.  Addresses are IPv4 or IPv6 text; a CNAME
 * target is a name (absolute, compared without case).  Messages name the
 * server and the record, and never contain a secret.
 *
 * Ownership: a struct dns_rrset owns its strings (dns_rrset_release frees
 * them); struct dns_values and struct dns_state borrow theirs for the call;
 * the provider copies everything it keeps from struct dns_config.
 */
#ifndef FERRY_DNS_DNS_H
#define FERRY_DNS_DNS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util/buf.h"
#include "util/error.h"

#define DNS_TIMEOUT_DEFAULT_MS 2000
/* Route 53 takes weights 0..255; PowerDNS any integer. */
#define DNS_WEIGHT_MAX 255

/* Everything any driver needs; each uses its part (see the driver). */
struct dns_config {
	const char *zone; /* "shop.test" (all) */
	int timeout_ms;   /* per operation; <= 0 means DNS_TIMEOUT_DEFAULT_MS */
	/* rfc2136 (required) and command (the authoritative server it reads):
	 * an IPv4 or IPv6 literal (no name lookup: bounded time) */
	const char *server_host;
	uint16_t server_port; /* 0 means 53 */
	/* The secret: rfc2136's base64 TSIG secret, powerdns's API key,
	 * route53's secret access key.  Borrowed: copied by open, wiped at
	 * close. */
	const char *secret;
	/* rfc2136 */
	const char *key_name;  /* TSIG key name, "ferry-key" */
	const char *algorithm; /* "hmac-sha256" (the plan checked the name) */
	/* powerdns and route53: the API's base URL ("http://127.0.0.1:8081",
	 * "https://route53.amazonaws.com") */
	const char *api;
	const char *server_id; /* powerdns: "localhost" when NULL */
	/* route53 */
	const char *hosted_zone_id; /* "Z0123456789ABC" */
	const char *region;         /* "us-east-1" when NULL */
	const char *access_key_id;  /* not a secret, but never logged either */
	const char *session_token;  /* optional; a secret: copied and wiped */
	/* command: the operator's argv (NULL-terminated) and how long one run
	 * and its verification may take (<= 0: 60 s) */
	char *const *command;
	int command_timeout_ms;
};

/* One side's value set, as the plan states it: addresses (A and AAAA
 * together), or one CNAME target (then n == 0).  Borrowed. */
struct dns_values {
	char *const *addresses;
	size_t n;
	const char *cname;
};

/* What ferry expects a name to hold, or wants it to hold: one value set, or
 * (split, drivers with ops->weights) both sides answered by weight: set
 * with weight, alt with alt_weight (0..DNS_WEIGHT_MAX, not both 0).  A
 * split is of addresses only. */
struct dns_state {
	struct dns_values set;
	bool split;
	struct dns_values alt;
	unsigned weight, alt_weight;
	/* split: a client keeps its side from one answer to the next (PowerDNS
	 * pickwhashed: by the resolver's address or its ECS subnet) instead of
	 * a new draw per answer (pickwrandom); Route 53 has no such choice
	 * and ignores it */
	bool sticky;
};

/* What a name holds, as its provider serves it. */
struct dns_rrset {
	char *name;       /* as asked, no trailing dot */
	uint32_t ttl;     /* the smallest TTL of the records */
	char **addresses; /* canonical text ("10.77.0.2", "2001:db8::1") */
	size_t n, alloc;
	char *cname; /* a CNAME's target (no trailing dot), n == 0 */
	/* Set when the name holds more than a plain set (a split, a LUA
	 * record, weighted records): the provider's own description of it,
	 * e.g. "LUA A pickwrandom(90 10.77.0.2, 10 10.77.0.3)"; addresses
	 * then lists every address it may answer with. */
	char *other;
};

/* An open provider.  Drivers embed it as their first member. */
struct dns_provider {
	const struct dns_provider_ops *ops;
};

struct dns_provider_ops {
	const char *name;
	bool atomic;  /* the server does the compare-and-swap (see above) */
	bool weights; /* can hold a split */
	/* Checks and copies cfg; sends nothing.  FERRY_EINVAL on a bad
	 * address, zone, key, URL or secret. */
	int (*open)(const struct dns_config *cfg, struct dns_provider **out,
	            struct ferry_error *err);
	/* What name holds now.  Fills *out (init'ed and released by the
	 * caller).  FERRY_ENOTFOUND when the name has no A, AAAA or CNAME. */
	int (*query)(struct dns_provider *p, const char *name, struct dns_rrset *out,
	             struct ferry_error *err);
	/* Reads name into *now and compares with st (the TTL is not
	 * compared): 0 when it holds st, FERRY_ECHANGED naming what it holds
	 * otherwise.  NULL: dns_expect() compares the query with
	 * dns_rrset_matches() (plain sets only). */
	int (*expect)(struct dns_provider *p, const char *name, const struct dns_state *st,
	              struct dns_rrset *now, struct ferry_error *err);
	/* Proves the credentials and the permission to change the zone, and
	 * changes nothing. */
	int (*check_access)(struct dns_provider *p, struct ferry_error *err);
	/* Makes name hold wanted at ttl, only if it holds expected (else
	 * FERRY_ECHANGED with what it holds now; nothing changed).  expected
	 * with no value (n == 0, no cname, not split) means "no A, AAAA or
	 * CNAME".  A refused swap reads the record back, so it may take up to
	 * twice the timeout. */
	int (*cas)(struct dns_provider *p, const char *name, const struct dns_state *expected,
	           const struct dns_state *wanted, uint32_t ttl, struct ferry_error *err);
	/* The dry run: appends to out what cas() would send (no connection,
	 * no secret), from the same builder. */
	int (*describe)(const struct dns_config *cfg, const char *name,
	                const struct dns_state *expected, const struct dns_state *wanted,
	                uint32_t ttl, struct buf *out, struct ferry_error *err);
	/* Wipes the secret and frees p. */
	void (*close)(struct dns_provider *p);
};

extern const struct dns_provider_ops dns_rfc2136_ops;
extern const struct dns_provider_ops dns_powerdns_ops;
extern const struct dns_provider_ops dns_route53_ops;
extern const struct dns_provider_ops dns_command_ops;

/* The driver called name, or NULL. */
const struct dns_provider_ops *dns_provider_find(const char *name);

/* Finds the driver and opens it.  FERRY_EINVAL for an unknown provider. */
int dns_open(const char *provider, const struct dns_config *cfg, struct dns_provider **out,
             struct ferry_error *err);
int dns_query(struct dns_provider *p, const char *name, struct dns_rrset *out,
              struct ferry_error *err);
int dns_expect(struct dns_provider *p, const char *name, const struct dns_state *st,
               struct dns_rrset *now, struct ferry_error *err);
int dns_check_access(struct dns_provider *p, struct ferry_error *err);
/* cas(st, st) at ttl: the TTL changes only if name still holds st. */
int dns_set_ttl(struct dns_provider *p, const char *name, const struct dns_state *st, uint32_t ttl,
                struct ferry_error *err);
int dns_cas(struct dns_provider *p, const char *name, const struct dns_state *expected,
            const struct dns_state *wanted, uint32_t ttl, struct ferry_error *err);
/* The dry run of dns_cas() for provider (FERRY_EINVAL if unknown). */
int dns_describe(const char *provider, const struct dns_config *cfg, const char *name,
                 const struct dns_state *expected, const struct dns_state *wanted, uint32_t ttl,
                 struct buf *out, struct ferry_error *err);
const struct dns_provider_ops *dns_ops(const struct dns_provider *p);
void dns_close(struct dns_provider *p); /* NULL-safe */

/*
 * Asks a recursive resolver at server ("ADDRESS[:PORT]", see
 * dns_server_parse) for name's A and AAAA records with RD set, as its
 * clients would, and fills *out: the TTL is what the resolver's cache hands
 * out now.  Used to watch the resolvers of the prepare gate (DESIGN §1).
 * Errors as dns_query(), with messages starting "resolver".
 */
int dns_resolve(const char *server, const char *name, int timeout_ms, struct dns_rrset *out,
                struct ferry_error *err);

/*
 * Asks the authoritative server host:port (an address literal) for name's
 * A, AAAA or CNAME with RD clear, without TSIG (rfc2136.c; the command
 * provider reads through it).  Errors as dns_query().
 */
int dns_authoritative_query(const char *host, uint16_t port, const char *zone, const char *name,
                            int timeout_ms, struct dns_rrset *out, struct ferry_error *err);

/* Splits "10.77.0.1:5300", "[::1]:53", "::1" or "10.77.0.1" into host
 * (hostlen bytes) and *port (53 when absent).  FERRY_EINVAL otherwise. */
int dns_server_parse(const char *spec, char *host, size_t hostlen, uint16_t *port,
                     struct ferry_error *err);

/* --- record sets and states (values.c) ---------------------------------- */

void dns_rrset_init(struct dns_rrset *rs);
void dns_rrset_release(struct dns_rrset *rs);
/* Appends a copy of addr (already canonical). */
void dns_rrset_add(struct dns_rrset *rs, const char *addr);
/* Sets the CNAME target (a copy, without a trailing dot). */
void dns_rrset_set_cname(struct dns_rrset *rs, const char *target);
/* The rrset's plain values (borrowing rs). */
struct dns_values dns_rrset_values(const struct dns_rrset *rs);

/* A plain state of v. */
struct dns_state dns_state_plain(const struct dns_values *v);
/* True when st has no value at all. */
bool dns_state_empty(const struct dns_state *st);

/* Checks a value set: addresses are IP literals, a CNAME target is a valid
 * name, not both, no duplicates.  what ("expected", "new") and name are
 * for the message.  FERRY_EINVAL otherwise; nothing sent. */
int dns_values_check(const char *name, const char *what, const struct dns_values *v,
                     struct ferry_error *err);
/* Checks a state: its sets (above); a split has addresses on both sides,
 * weights <= DNS_WEIGHT_MAX and not both 0. */
int dns_state_check(const char *name, const char *what, const struct dns_state *st,
                    struct ferry_error *err);

/* True when a and b hold the same addresses (order and spelling ignored)
 * or the same CNAME target (case and trailing dot ignored). */
bool dns_values_equal(const struct dns_values *a, const struct dns_values *b);
/* True when rs holds exactly the plain state st (TTL not compared).  A
 * split state never matches here (drivers with weights compare their own
 * records). */
bool dns_rrset_matches(const struct dns_rrset *rs, const struct dns_state *st);

/* "10.77.0.2, 2001:db8::2", "CNAME lb.example.net", "no address" */
void dns_values_format(const struct dns_values *v, char *out, size_t outlen);
/* As above, or "split 90: 10.77.0.2 / 10: 10.77.0.3". */
void dns_state_format(const struct dns_state *st, char *out, size_t outlen);
/* What rs holds: its other text, or its values. */
void dns_rrset_format(const struct dns_rrset *rs, char *out, size_t outlen);

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
/* True when a and b are the same name (case and one trailing dot ignored). */
bool dns_name_equal(const char *a, const char *b);
/* True when s is a host name ferry accepts as a CNAME target: labels of
 * 1..63 letters, digits, '-' and '_', 253 bytes at most, at least two
 * labels. */
bool dns_name_valid(const char *s);

/* --- the rfc2136 compare-and-swap as data ------------------------------ */

/*
 * The records of the one UPDATE behind rfc2136's cas, built once by
 * dns_change_build() so that the driver and --dry-run (which prints it with
 * dns_change_format()) cannot disagree:
 *   prerequisites, per type (A, AAAA, CNAME):
 *     each expected value, class IN, TTL 0   RFC 2136 §2.4.2 (value-dependent:
 *                                             the RRset is exactly these)
 *     or, when none of that type is expected, RFC 2136 §2.4.3 (RRset does not
 *     exist), class NONE
 *   updates: delete the A, AAAA and CNAME RRsets (§2.5.2, class ANY), then
 *     add each new value at the new TTL (§2.5.1, class IN).
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
enum dns_rr_type {
	DNS_TYPE_A,
	DNS_TYPE_AAAA,
	DNS_TYPE_CNAME,
};

struct dns_change_rr {
	enum dns_rr_section section;
	enum dns_rr_class cls;
	enum dns_rr_type type;
	uint32_t ttl;
	char data[256]; /* canonical address or target name, "" for no RDATA */
};

struct dns_change {
	char *name; /* the record, as given */
	uint32_t ttl;
	struct dns_change_rr *rr;
	size_t nrr, alloc;
};

/* Builds *c (released with dns_change_release, also after a failure).
 * FERRY_EINVAL, naming the record, for a name outside zone, a bad value
 * set, a split, or no new value. */
int dns_change_build(struct dns_change *c, const char *zone, const char *name,
                     const struct dns_state *expected, const struct dns_state *wanted, uint32_t ttl,
                     struct ferry_error *err);
void dns_change_release(struct dns_change *c);
const char *dns_rr_type_name(enum dns_rr_type t);

/* Appends the change in nsupdate(1)/knsupdate(1) syntax ("zone", "prereq
 * yxrrset ...", "update delete ...", "update add ...", "send"), with a
 * comment line naming the key but never its secret.  cfg gives server,
 * zone and key.  Returns 0 or FERRY_EPROTO when out is full. */
int dns_change_format(const struct dns_change *c, const struct dns_config *cfg, struct buf *out);

/* --- helpers shared by drivers (no foreign library) --------------------- */

/* Fills err the drivers' way: "dns NAME (WHERE): WHAT", or "dns zone ZONE
 * (WHERE): WHAT" when name is NULL; WHERE names the server ("server
 * 10.77.0.1:53", "powerdns http://..."); returns code. */
__attribute__((format(printf, 7, 0))) int dns_vfail(struct ferry_error *err, int code,
                                                    const char *where, const char *zone,
                                                    const char *name, const char *hint,
                                                    const char *fmt, va_list ap);
__attribute__((format(printf, 7, 8))) int dns_fail(struct ferry_error *err, int code,
                                                   const char *where, const char *zone,
                                                   const char *name, const char *hint,
                                                   const char *fmt, ...);

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
