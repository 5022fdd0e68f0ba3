/*
 * rfc2136.c - the "rfc2136" DNS provider: reads records straight from the
 * authoritative server and changes them with TSIG-signed dynamic updates
 * (RFC 2136, RFC 8945), built, signed, parsed and verified with ldns.  The
 * only file of ferry that includes ldns.
 *
 * How the parts fit:
 *   query_type()   one question (A or AAAA) with RD=0 over UDP, TCP when the
 *                  answer is truncated; answer_read() judges the answer;
 *                  rfc2136_query() asks both.
 *   update_run()   signs an UPDATE, sends it over TCP (an update must not be
 *                  resent blindly the way UDP would); update_answer() parses
 *                  the answer, authenticates it (answer_auth) and maps its
 *                  RCODE (rcode_error).
 *   dns_rfc2136_parse_*()  the two answer readers without a socket, for the
 *                  tests and the fuzzers (rfc2136.h).
 *   rfc2136_cas()  the compare-and-swap (set_ttl is one too): turns the
 *                  records of dns_change_build() (dns.c: value-dependent
 *                  prerequisites on A, AAAA and CNAME, RFC 2136 §2.4.2 and
 *                  §2.4.3, then delete and re-add, §2.5) into one UPDATE; on
 *                  NXRRSET/YXRRSET reads the record back to say what it
 *                  holds now.
 *   dns_authoritative_query()  the same reads without a key, for the
 *                  command provider.
 * The transport (sockets, deadline) is dns_wire_exchange() in dns.c.
 *
 * The secret: copied at open, wiped at close; ldns decodes it again for each
 * signature into memory it frees without wiping (ldns 1.8 tsig.c), which we
 * cannot change from here.  It never reaches a message: messages name the
 * key, never its value.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "dns/dns.h"
#include "dns/rfc2136.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* RFC 8945 §5.2.3: the usual fudge is 300 s. */
#define TSIG_FUDGE 300
/* RFC 8945 §3: TSIG error codes (in the TSIG RR, not the header). */
#define TSIG_BADSIG  16
#define TSIG_BADKEY  17
#define TSIG_BADTIME 18
/* Answers are read into a bounded buffer: no DNS message exceeds 64 KiB. */
#define REPLY_MAX 65536

struct rfc2136 {
	struct dns_provider base; /* first: the provider handed out */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char server[INET6_ADDRSTRLEN + 16]; /* "127.0.0.1:15353", for messages */
	char *zone;                         /* "shop.test" */
	char *key_name;                     /* "ferry-key." absolute, as ldns signs it */
	char *key_label;                    /* "ferry-key", for messages */
	const char *alg;                    /* ldns algorithm name, "hmac-sha256." */
	const char *alg_label;              /* "hmac-sha256", for messages */
	char *secret;                       /* base64; wiped at close */
	int timeout_ms;
	bool recursive; /* asking a resolver (dns_resolve), not the primary */
};

static struct rfc2136 *from(struct dns_provider *p)
{
	return (struct rfc2136 *)p;
}

/* Fills err with "dns OBJECT (server S): WHAT"; OBJECT is the record or, for
 * NULL, the zone. */
__attribute__((format(printf, 6, 7))) static int fail(const struct rfc2136 *r,
                                                      struct ferry_error *err, int code,
                                                      const char *name, const char *hint,
                                                      const char *fmt, ...)
{
	char where[sizeof(r->server) + 8];
	va_list ap;
	int rc;

	snprintf(where, sizeof(where), "server %s", r->server);
	va_start(ap, fmt);
	rc = dns_vfail(err, code, where, r->zone, name, hint, fmt, ap);
	va_end(ap);
	return rc;
}

/* "www.shop.test" -> owned absolute dname "www.shop.test." */
static ldns_rdf *dname_new(const char *name)
{
	size_t n = strlen(name);
	char *abs = (n && name[n - 1] == '.') ? xstrdup(name) : xasprintf("%s.", name);
	ldns_rdf *d = ldns_dname_new_frm_str(abs);

	free(abs);
	return d;
}

/* True when ldns accepts name as a domain name (labels <= 63 bytes, name
 * <= 255), checked before any packet is built from it. */
static bool name_ok(const char *name)
{
	ldns_rdf *d;

	if (!name || !name[0])
		return false;
	d = dname_new(name);
	if (!d)
		return false;
	ldns_rdf_deep_free(d);
	return true;
}

/* An RR without TTL meaning (prerequisites) or with (updates); addr NULL
 * gives an empty RDATA, as RFC 2136 §2.4.1, §2.4.3 and §2.5.2 require. */
static ldns_rr *rr_new(const char *owner, ldns_rr_type type, ldns_rr_class cls, uint32_t ttl,
                       const char *addr)
{
	ldns_rr *rr = ldns_rr_new();

	ldns_rr_set_owner(rr, dname_new(owner));
	ldns_rr_set_type(rr, type);
	ldns_rr_set_class(rr, cls);
	ldns_rr_set_ttl(rr, ttl);
	if (addr) {
		ldns_rdf *rd =
		        type == LDNS_RR_TYPE_CNAME
		                ? ldns_dname_new_frm_str(addr)
		                : ldns_rdf_new_frm_str(type == LDNS_RR_TYPE_A ? LDNS_RDF_TYPE_A
		                                                              : LDNS_RDF_TYPE_AAAA,
		                                       addr);

		if (!rd)
			BUG("address %s was checked but ldns rejects it", addr);
		ldns_rr_push_rdf(rr, rd);
	}
	return rr;
}

static void push(ldns_rr_list *l, ldns_rr *rr)
{
	if (!ldns_rr_list_push_rr(l, rr))
		BUG("ldns_rr_list_push_rr failed");
}

/* The plan's algorithm name and the owner name ldns signs with. */
static const char *tsig_alg_name(const char *a, const char **label)
{
	static const char *const names[][2] = {
		{ "hmac-sha256", "hmac-sha256." },           { "hmac-sha384", "hmac-sha384." },
		{ "hmac-sha512", "hmac-sha512." },           { "hmac-sha1", "hmac-sha1." },
		{ "hmac-md5", "hmac-md5.sig-alg.reg.int." },
	};
	size_t i;

	for (i = 0; a && i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(a, names[i][0])) {
			*label = names[i][0];
			return names[i][1];
		}
	return NULL;
}

static void rfc2136_close(struct dns_provider *p)
{
	struct rfc2136 *r = from(p);

	if (!r)
		return;
	if (r->secret)
		xfree_secret(r->secret, 0);
	free(r->zone);
	free(r->key_name);
	free(r->key_label);
	free(r);
}

/* Signs a throw-away query: proves ldns knows the algorithm and can decode
 * the secret, before any packet goes out. */
static int sign_probe(struct rfc2136 *r, struct ferry_error *err)
{
	ldns_pkt *q = ldns_pkt_query_new(dname_new(r->zone), LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, 0);
	ldns_rdf *raw = NULL;
	ldns_status st;

	if (!q)
		BUG("ldns_pkt_query_new failed");
	/* Decode the secret first: ldns_pkt_tsig_sign() leaks on a bad one. */
	st = ldns_str2rdf_b64(&raw, r->secret);
	if (st != LDNS_STATUS_OK || !raw || ldns_rdf_size(raw) == 0) {
		if (raw) {
			explicit_bzero(ldns_rdf_data(raw), ldns_rdf_size(raw));
			ldns_rdf_deep_free(raw);
		}
		ldns_pkt_free(q);
		return fail(r, err, FERRY_EINVAL, NULL,
		            "the secret file must hold the key's base64 secret, as in the server's "
		            "key definition (keymgr -t NAME hmac-sha256 prints one)",
		            "TSIG key '%s': the secret is not valid base64", r->key_label);
	}
	explicit_bzero(ldns_rdf_data(raw), ldns_rdf_size(raw));
	ldns_rdf_deep_free(raw);
	st = ldns_pkt_tsig_sign(q, r->key_name, r->secret, TSIG_FUDGE, r->alg, NULL);
	ldns_pkt_free(q);
	if (st == LDNS_STATUS_OK)
		return 0;
	if (st == LDNS_STATUS_CRYPTO_UNKNOWN_ALGO)
		return fail(
		        r, err, FERRY_EINVAL, NULL,
		        "use hmac-sha256 or hmac-sha512 (the ldns on this host cannot sign with "
		        "this one)",
		        "TSIG key '%s': algorithm %s is not supported by ldns", r->key_label,
		        r->alg_label);
	return fail(r, err, FERRY_EINVAL,
	            "the secret file must hold the key's base64 secret, as in the server's key "
	            "definition (keymgr -t NAME hmac-sha256 prints one)",
	            "TSIG key '%s': cannot sign with the secret (%s)", r->key_label,
	            ldns_get_errorstr_by_id(st));
}

static int rfc2136_open(const struct dns_config *cfg, struct dns_provider **out,
                        struct ferry_error *err)
{
	struct rfc2136 *r = xcalloc(1, sizeof(*r));
	size_t kl;
	int rc;

	r->base.ops = &dns_rfc2136_ops;
	r->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DNS_TIMEOUT_DEFAULT_MS;
	rc = dns_sockaddr_parse(cfg->server_host, cfg->server_port, &r->addr, &r->addrlen, err);
	if (rc < 0)
		goto out;
	snprintf(r->server, sizeof(r->server), strchr(cfg->server_host, ':') ? "[%s]:%u" : "%s:%u",
	         cfg->server_host, cfg->server_port ? cfg->server_port : 53);
	if (!cfg->zone || !cfg->zone[0]) {
		rc = ferry_error_set(err, FERRY_EINVAL, "set dns.zone in the plan",
		                     "dns server %s: no zone given", r->server);
		goto out;
	}
	r->zone = xstrdup(cfg->zone);
	kl = strlen(r->zone);
	if (kl > 1 && r->zone[kl - 1] == '.')
		r->zone[kl - 1] = '\0';
	if (!name_ok(r->zone)) {
		rc = ferry_error_set(err, FERRY_EINVAL, "set dns.zone to a domain name",
		                     "dns server %s: zone '%s' is not a valid domain name",
		                     r->server, r->zone);
		goto out;
	}
	if (!cfg->key_name || !name_ok(cfg->key_name) || !cfg->secret || !cfg->secret[0]) {
		rc = fail(r, err, FERRY_EINVAL, NULL,
		          "set dns.key.name and dns.key.secret_file in the plan",
		          "no valid TSIG key name, or no secret");
		goto out;
	}
	r->alg = tsig_alg_name(cfg->algorithm, &r->alg_label);
	if (!r->alg) {
		rc = fail(r, err, FERRY_EINVAL, NULL,
		          "use hmac-sha256, -sha384, -sha512, -sha1 or -md5",
		          "TSIG algorithm '%s' is unknown", cfg->algorithm ? cfg->algorithm : "");
		goto out;
	}
	kl = strlen(cfg->key_name);
	r->key_label = xstrndup(cfg->key_name, cfg->key_name[kl - 1] == '.' ? kl - 1 : kl);
	r->key_name = xasprintf("%s.", r->key_label);
	r->secret = xstrdup(cfg->secret);
	rc = sign_probe(r, err);
	if (rc < 0)
		goto out;
	*out = &r->base;
	r = NULL;
out:
	rfc2136_close(r ? &r->base : NULL);
	return rc;
}

/* --- reading ------------------------------------------------------------ */

static const char *rcode_name(int rcode)
{
	static const char *const names[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
		                             "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
		                             "NXRRSET", "NOTAUTH", "NOTZONE" };

	if (rcode >= 0 && (size_t)rcode < sizeof(names) / sizeof(names[0]))
		return names[rcode];
	return "unknown RCODE";
}

/* Sends q (unsigned) and parses the answer into *resp: UDP first, TCP when
 * the answer is truncated (RFC 1035 §4.2.1, RFC 7766 §5). */
static int query_send(struct rfc2136 *r, const char *name, ldns_pkt *q, int64_t deadline,
                      ldns_pkt **resp, struct ferry_error *err)
{
	enum dns_transport tr = DNS_UDP;
	uint8_t *wire = NULL;
	size_t wlen;
	struct buf reply;
	int rc;

	buf_init(&reply, REPLY_MAX);
	ldns_pkt_set_random_id(q);
	if (ldns_pkt2wire(&wire, q, &wlen) != LDNS_STATUS_OK)
		BUG("cannot encode a query for %s", name);
	for (;;) {
		rc = dns_wire_exchange(&r->addr, r->addrlen, tr, wire, wlen, deadline, &reply,
		                       r->server, err);
		if (rc < 0) {
			ferry_error_prefix(err, "dns %s", name);
			goto out;
		}
		if (ldns_wire2pkt(resp, (const uint8_t *)reply.data, reply.len) != LDNS_STATUS_OK) {
			rc = fail(r, err, FERRY_EPROTO, name, NULL,
			          "cannot parse the answer (%zu bytes)", reply.len);
			goto out;
		}
		if (!ldns_pkt_tc(*resp) || tr == DNS_TCP)
			break;
		ldns_pkt_free(*resp);
		*resp = NULL;
		tr = DNS_TCP;
	}
	rc = 0;
out:
	free(wire);
	buf_release(&reply);
	return rc;
}

/* Adds the addresses of one type in resp, the answer to a question for
 * owner, to out.  Sets *nxdomain on NXDOMAIN.  resp is outside data: every
 * count and type is checked before it is used. */
static int answer_read(struct rfc2136 *r, const char *name, ldns_rr_type type,
                       const ldns_rdf *owner, const ldns_pkt *resp, struct dns_rrset *out,
                       bool *have_ttl, bool *nxdomain, struct ferry_error *err)
{
	ldns_rr_list *ans, *qs;
	size_t i;
	int rcode;

	/* The ID matched; the question must too (RFC 5452 §4.3). */
	qs = ldns_pkt_question(resp);
	if (!ldns_pkt_qr(resp) || ldns_rr_list_rr_count(qs) != 1 ||
	    ldns_rr_get_type(ldns_rr_list_rr(qs, 0)) != type ||
	    ldns_dname_compare(ldns_rr_owner(ldns_rr_list_rr(qs, 0)), owner) != 0)
		return fail(r, err, FERRY_EPROTO, name, NULL,
		            "the answer does not match the question asked");
	rcode = ldns_pkt_get_rcode(resp);
	if (rcode == LDNS_RCODE_NXDOMAIN) {
		*nxdomain = true;
		return 0;
	}
	if (rcode != LDNS_RCODE_NOERROR)
		return fail(
		        r, err, rcode == LDNS_RCODE_REFUSED ? FERRY_EREFUSED : FERRY_EPROTO, name,
		        "check dns.server: it must be the zone's authoritative server (its "
		        "primary), not a resolver",
		        "the server answered %s to a question for the record", rcode_name(rcode));
	if (!r->recursive && !ldns_pkt_aa(resp))
		return fail(r, err, FERRY_EREFUSED, name,
		            "check dns.server: it must be the zone's authoritative server (its "
		            "primary), not a resolver",
		            "the answer is not authoritative (AA flag clear): the server does not "
		            "serve zone %s",
		            r->zone);
	ans = ldns_pkt_answer(resp);
	for (i = 0; i < ldns_rr_list_rr_count(ans); i++) {
		ldns_rr *rr = ldns_rr_list_rr(ans, i);
		char *text;

		if (ldns_dname_compare(ldns_rr_owner(rr), owner) != 0)
			continue;
		if (ldns_rr_rd_count(rr) != 1)
			continue;
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME) {
			/* RFC 1034 §3.6.2: an alias holds nothing else; the
			 * answer may go on with the target's records (another
			 * owner, skipped above). */
			text = ldns_rdf2str(ldns_rr_rdf(rr, 0));
			if (!text)
				BUG("ldns_rdf2str failed");
			dns_rrset_set_cname(out, text);
			free(text);
		} else if (ldns_rr_get_type(rr) == type) {
			text = ldns_rdf2str(ldns_rr_rdf(rr, 0));
			if (!text)
				BUG("ldns_rdf2str failed");
			dns_rrset_add(out, text);
			free(text);
		} else {
			continue;
		}
		if (!*have_ttl || ldns_rr_ttl(rr) < out->ttl)
			out->ttl = ldns_rr_ttl(rr);
		*have_ttl = true;
	}
	return 0;
}

/* Adds the addresses of one type to out.  Sets *nxdomain on NXDOMAIN. */
static int query_type(struct rfc2136 *r, const char *name, ldns_rr_type type, int64_t deadline,
                      struct dns_rrset *out, bool *have_ttl, bool *nxdomain,
                      struct ferry_error *err)
{
	ldns_rdf *owner = dname_new(name);
	ldns_pkt *q = NULL, *resp = NULL;
	int rc;

	/* RD clear: we ask the authoritative server itself; set only when
	 * asking a resolver what its clients are told (dns_resolve). */
	q = ldns_pkt_query_new(ldns_rdf_clone(owner), type, LDNS_RR_CLASS_IN,
	                       r->recursive ? LDNS_RD : 0);
	if (!q)
		BUG("ldns_pkt_query_new failed");
	rc = query_send(r, name, q, deadline, &resp, err);
	if (rc == 0)
		rc = answer_read(r, name, type, owner, resp, out, have_ttl, nxdomain, err);
	ldns_pkt_free(resp);
	ldns_pkt_free(q);
	ldns_rdf_deep_free(owner);
	return rc;
}

static int query_deadline(struct rfc2136 *r, const char *name, struct dns_rrset *out,
                          int64_t deadline, struct ferry_error *err)
{
	bool have_ttl = false, nx = false;
	int rc;

	if (!name_ok(name))
		return fail(r, err, FERRY_EINVAL, name, NULL, "not a valid domain name");
	if (r->zone && !dns_name_in_zone(name, r->zone))
		return fail(r, err, FERRY_EINVAL, name, "list only names inside dns.zone",
		            "the name is outside zone %s", r->zone);
	free(out->name);
	out->name = xstrdup(name);
	rc = query_type(r, name, LDNS_RR_TYPE_A, deadline, out, &have_ttl, &nx, err);
	/* An alias answers every type with its CNAME: one question is enough. */
	if (rc == 0 && !nx && !out->cname)
		rc = query_type(r, name, LDNS_RR_TYPE_AAAA, deadline, out, &have_ttl, &nx, err);
	if (rc < 0)
		return rc;
	if (nx)
		return fail(r, err, FERRY_ENOTFOUND, name,
		            "check the name in dns.records; the server has no such name",
		            "no such name in zone %s (NXDOMAIN)", r->zone);
	if (out->n == 0 && !out->cname)
		return fail(r, err, FERRY_ENOTFOUND, name,
		            "ferry moves A, AAAA and CNAME records; check the name in dns.records",
		            "the name has no A, AAAA or CNAME record");
	return 0;
}

static int rfc2136_query(struct dns_provider *p, const char *name, struct dns_rrset *out,
                         struct ferry_error *err)
{
	struct rfc2136 *r = from(p);

	return query_deadline(r, name, out, time_mono_ms() + r->timeout_ms, err);
}

int dns_authoritative_query(const char *host, uint16_t port, const char *zone, const char *name,
                            int timeout_ms, struct dns_rrset *out, struct ferry_error *err)
{
	struct rfc2136 r = { .zone = (char *)zone };
	int rc;

	rc = dns_sockaddr_parse(host, port, &r.addr, &r.addrlen, err);
	if (rc < 0)
		return rc;
	snprintf(r.server, sizeof(r.server), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
	         port ? port : 53);
	r.timeout_ms = timeout_ms > 0 ? timeout_ms : DNS_TIMEOUT_DEFAULT_MS;
	return query_deadline(&r, name, out, time_mono_ms() + r.timeout_ms, err);
}

int dns_resolve(const char *server, const char *name, int timeout_ms, struct dns_rrset *out,
                struct ferry_error *err)
{
	struct rfc2136 r = { .recursive = true };
	char host[INET6_ADDRSTRLEN];
	uint16_t port;
	int rc;

	rc = dns_server_parse(server, host, sizeof(host), &port, err);
	if (rc == 0)
		rc = dns_sockaddr_parse(host, port, &r.addr, &r.addrlen, err);
	if (rc < 0)
		return rc;
	snprintf(r.server, sizeof(r.server), "%s", server);
	r.timeout_ms = timeout_ms > 0 ? timeout_ms : DNS_TIMEOUT_DEFAULT_MS;
	rc = query_deadline(&r, name, out, time_mono_ms() + r.timeout_ms, err);
	if (rc < 0)
		ferry_error_prefix(err, "resolver");
	return rc;
}

/* --- updating ----------------------------------------------------------- */

/* Maps the RCODE of an update answer (RFC 2136 §2.2) to an error.  Every
 * refusal means the server applied nothing (RFC 2136 §3.2, §3.4). */
static int rcode_error(struct rfc2136 *r, const char *name, int rcode, struct ferry_error *err)
{
	char hint[512];

	switch (rcode) {
	case LDNS_RCODE_NOERROR: return 0;
	case LDNS_RCODE_NXRRSET:
	case LDNS_RCODE_YXRRSET:
	case LDNS_RCODE_YXDOMAIN:
		return fail(r, err, FERRY_ECHANGED, name,
		            "someone else changed the record since the plan was made: find out "
		            "who, then re-run ferry",
		            "the record is not what the plan expects (%s); ferry changed nothing",
		            rcode_name(rcode));
	case LDNS_RCODE_NOTAUTH:
		snprintf(hint, sizeof(hint),
		         "check dns.zone and dns.server (the zone's primary); on the server, "
		         "allow updates of %s with key '%s' (Knot: an acl with action: update "
		         "and key: %s, listed in the zone's acl)",
		         r->zone, r->key_label, r->key_label);
		return fail(r, err, FERRY_EREFUSED, name, hint,
		            "the server is not authoritative for zone %s or does not let key "
		            "'%s' update it (NOTAUTH); nothing changed",
		            r->zone, r->key_label);
	case LDNS_RCODE_REFUSED:
		snprintf(hint, sizeof(hint),
		         "on the server, allow updates of %s with key '%s' (Knot: an acl with "
		         "action: update and key: %s; BIND: update-policy)",
		         r->zone, r->key_label, r->key_label);
		return fail(r, err, FERRY_EREFUSED, name, hint,
		            "the server refused the update (REFUSED): its policy does not let "
		            "key '%s' change this record; nothing changed",
		            r->key_label);
	case LDNS_RCODE_NOTZONE:
		return fail(r, err, FERRY_EINVAL, name, "list only names inside dns.zone",
		            "the name is outside zone %s (NOTZONE); nothing changed", r->zone);
	case LDNS_RCODE_SERVFAIL:
		return fail(r, err, FERRY_EREFUSED, name,
		            "the server could not apply the update: see its log",
		            "the server failed (SERVFAIL); nothing changed");
	default:
		return fail(r, err, FERRY_EPROTO, name,
		            "the server does not accept this update: see its log",
		            "the server answered %s (%d); nothing changed", rcode_name(rcode),
		            rcode);
	}
}

/* Reads a 48-bit TSIG time (RFC 8945 §4.2). */
static int64_t tsig_time(const uint8_t *p)
{
	int64_t t = 0;
	int i;

	for (i = 0; i < 6; i++)
		t = (t << 8) | p[i];
	return t;
}

/* RFC 8945 §5.2.3: a BADTIME answer is signed and its Other Data holds the
 * server's clock, so the message can say by how much the clocks differ. */
static int badtime(struct rfc2136 *r, const char *name, const ldns_rr *tsig,
                   struct ferry_error *err)
{
	const ldns_rdf *ours = ldns_rr_rdf(tsig, 1), *other = ldns_rr_rdf(tsig, 6);
	const char *hint = "the clocks of this host and the server differ by more than the "
	                   "300 s TSIG allows: check NTP on both (timedatectl, chronyc tracking)";

	/* other: 2-byte length then the server's 48-bit time */
	if (ours && other && ldns_rdf_size(ours) == 6 && ldns_rdf_size(other) == 8) {
		int64_t skew = tsig_time(ldns_rdf_data(ours)) - tsig_time(ldns_rdf_data(other) + 2);

		return fail(r, err, FERRY_EAUTH, name, hint,
		            "the server rejected the TSIG time of key '%s' (BADTIME): this host's "
		            "clock is %lld s %s the server's; nothing changed",
		            r->key_label, (long long)(skew < 0 ? -skew : skew),
		            skew < 0 ? "behind" : "ahead of");
	}
	return fail(r, err, FERRY_EAUTH, name, hint,
	            "the server rejected the TSIG time of key '%s' (BADTIME): clock skew; "
	            "nothing changed",
	            r->key_label);
}

/* Authenticates an update answer (RFC 8945 §5.3, §5.4). */
static int answer_auth(struct rfc2136 *r, const char *name, ldns_pkt *resp, const struct buf *wire,
                       const ldns_rdf *query_mac, struct ferry_error *err)
{
	ldns_rr *tsig = ldns_pkt_tsig(resp);
	int rcode = ldns_pkt_get_rcode(resp);
	char hint[512];
	int terr, rc;

	if (!tsig || ldns_rr_rd_count(tsig) < 7) {
		if (rcode == LDNS_RCODE_NOERROR)
			return fail(r, err, FERRY_EPROTO, name,
			            "query the record to see whether it changed; check that "
			            "nothing between ferry and the server strips TSIG",
			            "the server answered NOERROR without a TSIG signature, so "
			            "ferry cannot trust that the update was applied");
		/* An unsigned refusal: report it, and say it was not signed. */
		rc = rcode_error(r, name, rcode, err);
		if (err) {
			size_t l = strlen(err->msg);

			snprintf(err->msg + l, sizeof(err->msg) - l, " (unsigned answer)");
		}
		return rc;
	}
	terr = ldns_rdf2native_int16(ldns_rr_rdf(tsig, 5));
	/* RFC 8945 §5.3.2: BADKEY and BADSIG answers carry no MAC; there is
	 * nothing to verify, and the server refused before applying anything. */
	if (terr == TSIG_BADKEY) {
		snprintf(hint, sizeof(hint),
		         "check dns.key.name and dns.key.algorithm (%s) in the plan against the "
		         "server's key definitions, and that the zone's acl names key '%s'",
		         r->alg_label, r->key_label);
		return fail(r, err, FERRY_EAUTH, name, hint,
		            "the server does not know TSIG key '%s' with algorithm %s, or does not "
		            "accept it for this zone (BADKEY); nothing changed",
		            r->key_label, r->alg_label);
	}
	if (terr == TSIG_BADSIG) {
		snprintf(hint, sizeof(hint),
		         "the secret in dns.key.secret_file differs from the server's secret for "
		         "key '%s': copy it again from the server's key definition",
		         r->key_label);
		return fail(r, err, FERRY_EAUTH, name, hint,
		            "the server rejected the signature of TSIG key '%s' (BADSIG): wrong "
		            "secret; nothing changed",
		            r->key_label);
	}
	if (!ldns_pkt_tsig_verify(resp, (const uint8_t *)wire->data, wire->len, r->key_name,
	                          r->secret, query_mac)) {
		/* ldns 1.8 takes the TSIG RR out of resp while it verifies
		 * and does not put it back when it cannot compute the MAC (an
		 * algorithm it does not know): hand it back, or nobody frees
		 * it (found by tests/fuzz/fuzz_dns.c). */
		if (!ldns_pkt_tsig(resp))
			ldns_pkt_set_tsig(resp, tsig);
		return fail(
		        r, err, FERRY_EAUTH, name,
		        "query the record to see whether it changed; check that nothing between "
		        "ferry and the server rewrites DNS messages",
		        "the answer's TSIG signature does not verify with key '%s' (answer %s)%s",
		        r->key_label, rcode_name(rcode),
		        rcode == LDNS_RCODE_NOERROR ? "; the update may have been applied" : "");
	}
	if (terr == TSIG_BADTIME)
		return badtime(r, name, tsig, err);
	if (terr != 0)
		return fail(r, err, FERRY_EAUTH, name, "see the server's log",
		            "the server rejected TSIG key '%s' (TSIG error %d); nothing changed",
		            r->key_label, terr);
	return rcode_error(r, name, rcode, err);
}

/* Parses and authenticates reply, the answer to an UPDATE whose request MAC
 * was query_mac, and maps its RCODE.  reply is outside data. */
static int update_answer(struct rfc2136 *r, const char *name, const struct buf *reply,
                         const ldns_rdf *query_mac, struct ferry_error *err)
{
	ldns_pkt *resp = NULL;
	int rc;

	if (ldns_wire2pkt(&resp, (const uint8_t *)reply->data, reply->len) != LDNS_STATUS_OK ||
	    !ldns_pkt_qr(resp) || ldns_pkt_get_opcode(resp) != LDNS_PACKET_UPDATE)
		rc = fail(r, err, FERRY_EPROTO, name, "query the record to see whether it changed",
		          "the answer to the update is not a DNS UPDATE answer (%zu bytes)",
		          reply->len);
	else
		rc = answer_auth(r, name, resp, reply, query_mac, err);
	ldns_pkt_free(resp);
	return rc;
}

/* One signed UPDATE of zone r->zone with prerequisites pr and updates up
 * (both borrowed).  name (NULL: the zone) is for messages. */
static int update_run(struct rfc2136 *r, const char *name, const ldns_rr_list *pr,
                      const ldns_rr_list *up, struct ferry_error *err)
{
	ldns_pkt *pkt = NULL;
	uint8_t *wire = NULL;
	size_t wlen;
	struct buf reply;
	ldns_status st;
	int rc;

	buf_init(&reply, REPLY_MAX);
	pkt = ldns_update_pkt_new(dname_new(r->zone), LDNS_RR_CLASS_IN, pr, up, NULL);
	if (!pkt)
		BUG("ldns_update_pkt_new failed");
	/* RFC 2136 §2.2: the header bits other than opcode are zero in a
	 * request; ldns sets RD. */
	ldns_pkt_set_rd(pkt, false);
	ldns_pkt_set_random_id(pkt);
	st = ldns_pkt_tsig_sign(pkt, r->key_name, r->secret, TSIG_FUDGE, r->alg, NULL);
	if (st != LDNS_STATUS_OK) {
		rc = fail(r, err, FERRY_EINVAL, name, NULL,
		          "cannot sign the update with key '%s': %s", r->key_label,
		          ldns_get_errorstr_by_id(st));
		goto out;
	}
	if (ldns_pkt2wire(&wire, pkt, &wlen) != LDNS_STATUS_OK)
		BUG("cannot encode an update");
	log_debug("dns %s (server %s): sending update, %zu bytes", name ? name : r->zone, r->server,
	          wlen);
	rc = dns_wire_exchange(&r->addr, r->addrlen, DNS_TCP, wire, wlen,
	                       time_mono_ms() + r->timeout_ms, &reply, r->server, err);
	if (rc == FERRY_ETIMEDOUT && err) {
		/* The update may have reached the server: say so, never claim
		 * that nothing changed. */
		snprintf(err->hint, sizeof(err->hint),
		         "ferry cannot tell whether the server applied the update: query the "
		         "record before retrying; check that the server runs and that nothing "
		         "drops DNS over TCP");
	}
	if (rc < 0) {
		if (name)
			ferry_error_prefix(err, "dns %s", name);
		else
			ferry_error_prefix(err, "dns zone %s", r->zone);
		goto out;
	}
	rc = update_answer(r, name, &reply, ldns_rr_rdf(ldns_pkt_tsig(pkt), 3), err);
out:
	ldns_pkt_free(pkt);
	free(wire);
	buf_release(&reply);
	return rc;
}

static int rfc2136_check_access(struct dns_provider *p, struct ferry_error *err)
{
	struct rfc2136 *r = from(p);
	ldns_rr_list *pr = ldns_rr_list_new(), *up = ldns_rr_list_new();
	int rc;

	/* RFC 2136 §2.4.1: "RRset exists (value independent)" for the apex
	 * SOA, which holds in every zone; §3.4: an empty update section is
	 * valid and changes nothing (not even the serial). */
	push(pr, rr_new(r->zone, LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_ANY, 0, NULL));
	rc = update_run(r, NULL, pr, up, err);
	ldns_rr_list_deep_free(pr);
	ldns_rr_list_deep_free(up);
	return rc;
}

/* After a refused compare-and-swap: reads the record back so that the
 * message says what it holds now. */
static void describe_changed(struct rfc2136 *r, const char *name, const struct dns_state *expected,
                             struct ferry_error *err)
{
	struct ferry_error qerr = { 0 };
	struct dns_rrset now;
	char want[512], have[512], hint[512];
	int rc;

	dns_rrset_init(&now);
	dns_state_format(expected, want, sizeof(want));
	snprintf(hint, sizeof(hint), "%s",
	         "someone else changed the record since ferry read it: find out who and why, "
	         "then re-run ferry (it reads the record again) or put it back by hand");
	rc = query_deadline(r, name, &now, time_mono_ms() + r->timeout_ms, &qerr);
	if (rc == 0) {
		dns_rrset_format(&now, have, sizeof(have));
		fail(r, err, FERRY_ECHANGED, name, hint,
		     "the record holds %s (TTL %u), not %s as expected; ferry changed nothing",
		     have, now.ttl, want);
	} else if (rc == FERRY_ENOTFOUND) {
		fail(r, err, FERRY_ECHANGED, name, hint,
		     "the record has no address now, not %s as expected; ferry changed nothing",
		     want);
	} else {
		fail(r, err, FERRY_ECHANGED, name, hint,
		     "the record is no longer %s as expected; ferry changed nothing (reading it "
		     "back failed: %s)",
		     want, qerr.msg);
	}
	dns_rrset_release(&now);
}

static ldns_rr_type rr_type(enum dns_rr_type t)
{
	static const ldns_rr_type types[] = {
		[DNS_TYPE_A] = LDNS_RR_TYPE_A,
		[DNS_TYPE_AAAA] = LDNS_RR_TYPE_AAAA,
		[DNS_TYPE_CNAME] = LDNS_RR_TYPE_CNAME,
	};

	return types[t];
}

/* The compare-and-swap: the records come from dns_change_build() (dns.h),
 * the same ones --dry-run prints. */
static int rfc2136_cas(struct dns_provider *p, const char *name, const struct dns_state *expected,
                       const struct dns_state *wanted, uint32_t ttl, struct ferry_error *err)
{
	static const ldns_rr_class classes[] = {
		[DNS_CLASS_IN] = LDNS_RR_CLASS_IN,
		[DNS_CLASS_NONE] = LDNS_RR_CLASS_NONE,
		[DNS_CLASS_ANY] = LDNS_RR_CLASS_ANY,
	};
	struct rfc2136 *r = from(p);
	ldns_rr_list *pr = ldns_rr_list_new(), *up = ldns_rr_list_new();
	struct dns_change c;
	char now[512];
	size_t i;
	int rc;

	rc = dns_change_build(&c, r->zone, name, expected, wanted, ttl, err);
	if (rc == 0 && !name_ok(name))
		rc = fail(r, err, FERRY_EINVAL, name, NULL,
		          "not a valid domain name; nothing sent");
	if (rc < 0)
		goto out;
	for (i = 0; i < c.nrr; i++) {
		const struct dns_change_rr *x = &c.rr[i];

		push(x->section == DNS_SECTION_PREREQ ? pr : up,
		     rr_new(name, rr_type(x->type), classes[x->cls], x->ttl,
		            x->data[0] ? x->data : NULL));
	}
	rc = update_run(r, name, pr, up, err);
	if (rc == FERRY_ECHANGED)
		describe_changed(r, name, expected, err);
	if (rc == 0) {
		dns_state_format(wanted, now, sizeof(now));
		log_info("dns %s (server %s): now %s at TTL %u s", name, r->server, now, ttl);
	}
out:
	ldns_rr_list_deep_free(pr);
	ldns_rr_list_deep_free(up);
	dns_change_release(&c);
	return rc;
}

static int rfc2136_describe(const struct dns_config *cfg, const char *name,
                            const struct dns_state *expected, const struct dns_state *wanted,
                            uint32_t ttl, struct buf *out, struct ferry_error *err)
{
	struct dns_change c;
	int rc;

	rc = dns_change_build(&c, cfg->zone, name, expected, wanted, ttl, err);
	if (rc == 0 && dns_change_format(&c, cfg, out) < 0)
		rc = ferry_error_set(err, FERRY_EPROTO, NULL, "dns %s: the update text is too long",
		                     name);
	dns_change_release(&c);
	return rc;
}

const struct dns_provider_ops dns_rfc2136_ops = {
	.name = "rfc2136",
	.atomic = true,
	.weights = false,
	.open = rfc2136_open,
	.query = rfc2136_query,
	.expect = NULL,
	.check_access = rfc2136_check_access,
	.cas = rfc2136_cas,
	.describe = rfc2136_describe,
	.close = rfc2136_close,
};

/* --- the answer parsers alone (rfc2136.h) ------------------------------- */

/* A provider that exists only to name things in messages: no socket. */
static void parse_only(struct rfc2136 *r, const char *zone, bool recursive)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->server, sizeof(r->server), "(parse only)");
	r->zone = (char *)zone;
	r->recursive = recursive;
}

int dns_rfc2136_parse_answer(const void *wire, size_t len, const char *zone, const char *name,
                             bool aaaa, bool recursive, struct dns_rrset *out,
                             struct ferry_error *err)
{
	struct rfc2136 r;
	ldns_rdf *owner;
	ldns_pkt *resp = NULL;
	bool have_ttl = false, nx = false;
	int rc;

	parse_only(&r, zone, recursive);
	if (!name_ok(name))
		return fail(&r, err, FERRY_EINVAL, name, NULL, "not a valid domain name");
	if (ldns_wire2pkt(&resp, wire, len) != LDNS_STATUS_OK)
		return fail(&r, err, FERRY_EPROTO, name, NULL,
		            "cannot parse the answer (%zu bytes)", len);
	owner = dname_new(name);
	rc = answer_read(&r, name, aaaa ? LDNS_RR_TYPE_AAAA : LDNS_RR_TYPE_A, owner, resp, out,
	                 &have_ttl, &nx, err);
	if (rc == 0 && nx)
		rc = FERRY_ENOTFOUND;
	ldns_rdf_deep_free(owner);
	ldns_pkt_free(resp);
	return rc;
}

int dns_rfc2136_parse_update_answer(const void *wire, size_t len, const char *zone,
                                    const char *key_name, const char *secret,
                                    struct ferry_error *err)
{
	struct rfc2136 r;
	struct buf reply;
	int rc;

	parse_only(&r, zone, false);
	r.key_name = xasprintf("%s.", key_name);
	r.key_label = (char *)key_name;
	r.alg = tsig_alg_name("hmac-sha256", &r.alg_label);
	r.secret = (char *)secret;
	buf_init(&reply, REPLY_MAX);
	rc = buf_add(&reply, wire, len);
	if (rc < 0)
		rc = fail(&r, err, FERRY_EPROTO, NULL, NULL, "the answer is larger than %d bytes",
		          REPLY_MAX);
	else
		rc = update_answer(&r, NULL, &reply, NULL, err);
	buf_release(&reply);
	free(r.key_name);
	return rc;
}
