/*
 * powerdns.c - the "powerdns" DNS provider: PowerDNS Authoritative (4.7)
 * through its HTTP API (libcurl in hosts/http.c, JSON with jansson).
 *
 * How the parts fit:
 *   api()        one request with the X-API-Key header (wiped after use),
 *                its status mapped to ferry's errors (401/403 EAUTH, 404
 *                EREFUSED: no such zone or server, 422 EREFUSED with the
 *                server's own text);
 *   read_name()  GET .../zones/ZONE.?rrset_name=NAME. into a list of
 *                rrsets (struct dns_nlist, native.h): the A, AAAA, CNAME
 *                and LUA records of the name, which is what ferry moves;
 *   from_state() what a struct dns_state is as PowerDNS rrsets: A and AAAA
 *                for a set, CNAME for an alias, a LUA A / LUA AAAA record
 *                "pickwrandom({{W,'ADDR'},...})" for a split;
 *   pdns_cas()   read, compare with the expected rrsets, PATCH (DELETE the
 *                types that go, REPLACE the ones that stay: one PATCH is one
 *                transaction in PowerDNS), flush the name from the packet
 *                cache (the PATCH handler purges only the zone's apex), and
 *                read again to verify.  The API has no condition, so this is
 *                read-compare-write: a change by someone else between the
 *                read and the PATCH is overwritten, and the verification
 *                read reports a change after it (ops.atomic is false).
 *
 * A split's per-address weight: pickwrandom picks one entry by weight, so
 * each address of a side gets that side's weight times the number of the
 * other side's addresses of its type (2 old + 1 new at 90/10: 90, 90, 20),
 * which keeps the sides' shares at 90/10 whatever the counts.
 *
 * The API key: copied at open, put into one header per request, wiped
 * after it and at close; messages name dns.api_key_file, never the value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "dns/dns.h"
#include "dns/native.h"
#include "dns/powerdns.h"
#include "hosts/http.h"
#include "util/log.h"
#include "util/mem.h"

#define API_TIMEOUT_DEFAULT_MS 10000
#define REPLY_MAX              (4 << 20)

struct pdns {
	struct dns_provider base;
	char *api;       /* "http://127.0.0.1:8081", no trailing slash */
	char *server_id; /* "localhost" */
	char *zone;      /* "shop.test" */
	char *zone_url;  /* api/api/v1/servers/ID/zones/ZONE. */
	char *key;       /* wiped at close */
	int timeout_ms;
	char where[600]; /* "powerdns http://..." */
};

static struct pdns *from(struct dns_provider *p)
{
	return (struct pdns *)p;
}

static const char *const types[] = { "A", "AAAA", "CNAME", "LUA" };

/* --- a state as rrsets ---------------------------------------------------- */

/* Appends "{W,'ADDR'}," for each address of family v6 in v. */
static void lua_entries(struct buf *b, const struct dns_values *v, bool v6, unsigned w)
{
	char canon[64];
	size_t i;

	for (i = 0; i < v->n; i++) {
		if ((strchr(v->addresses[i], ':') != NULL) != v6)
			continue;
		dns_address_canon(v->addresses[i], canon, sizeof(canon), NULL);
		buf_addf(b, "{%u,'%s'},", w, canon);
	}
}

/* st as the rrsets PowerDNS should hold (st was checked). */
static int from_state(const char *name, const struct dns_state *st, uint32_t ttl,
                      struct dns_nlist *out, struct ferry_error *err)
{
	int f, rc;

	memset(out, 0, sizeof(*out));
	if (!st->split) {
		dns_nlist_plain(out, &st->set, ttl);
		return 0;
	}
	rc = dns_split_families(name, st, err);
	if (rc < 0)
		return rc;
	for (f = 0; f < 2; f++) {
		size_t ns = dns_values_count_family(&st->set, f);
		size_t na = dns_values_count_family(&st->alt, f);
		struct buf b;

		if (!ns)
			continue;
		/* PowerDNS LUA records (docs/lua-records/functions.rst):
		 * pickwrandom picks one entry by weight per answer; pickwhashed
		 * by weight from a hash of the client (bestwho), so that the
		 * same client keeps its entry. */
		buf_init(&b, 1 << 16);
		buf_addf(&b, "%s \"%s({", f ? "AAAA" : "A",
		         st->sticky ? "pickwhashed" : "pickwrandom");
		lua_entries(&b, &st->set, f, st->weight * (unsigned)na);
		lua_entries(&b, &st->alt, f, st->alt_weight * (unsigned)ns);
		b.data[--b.len] = '\0'; /* the last ',' */
		buf_adds(&b, "})\"");
		dns_nrr_add(dns_nlist_get(out, "LUA", ttl), b.data);
		buf_release(&b);
	}
	return 0;
}

/* --- the API ------------------------------------------------------------- */

/* "dns NAME (WHERE): ..." for this driver (dns_fail). */
#define fail(pd, err, code, name, hint, ...)                                                       \
	dns_fail(err, code, (pd)->where, (pd)->zone, name, hint, __VA_ARGS__)

void dns_powerdns_error_text(const char *body, size_t len, char *out, size_t outlen)
{
	json_t *j = json_loadb(body, len, 0, NULL);
	const char *e = j ? json_string_value(json_object_get(j, "error")) : NULL;

	if (e)
		snprintf(out, outlen, "%.200s", e);
	else
		snprintf(out, outlen, "%.*s", (int)(len < 200 ? len : 200), body ? body : "");
	json_decref(j);
}

/* One request.  Returns 0 for 2xx (reply holds the body), or the error the
 * status means. */
static int api(struct pdns *pd, const char *method, const char *url, const char *body,
               const char *name, struct buf *reply, struct ferry_error *err)
{
	char *keyh = xasprintf("X-API-Key: %s", pd->key), text[256], hint[512];
	const char *headers[] = { keyh, "Accept: application/json",
		                  "Content-Type: application/json", "Expect:", NULL };
	struct hosts_http_request rq = { .method = method,
		                         .url = url,
		                         .headers = headers,
		                         .body = body,
		                         .body_len = body ? strlen(body) : 0,
		                         .timeout_ms = pd->timeout_ms };
	long status = 0;
	int rc;

	buf_reset(reply);
	rc = hosts_http_request(&rq, &status, reply, err);
	xfree_secret(keyh, 0);
	if (rc < 0) {
		if (rc == FERRY_ETIMEDOUT && body && err)
			snprintf(err->hint, sizeof(err->hint),
			         "ferry cannot tell whether PowerDNS applied the change: read the "
			         "record before retrying");
		return ferry_error_prefix(err, "dns %s (powerdns)", name ? name : pd->zone);
	}
	if (status >= 200 && status < 300)
		return 0;
	dns_powerdns_error_text(reply->data, reply->len, text, sizeof(text));
	switch (status) {
	case 401:
	case 403:
		return fail(pd, err, FERRY_EAUTH, name,
		            "dns.api_key_file (or api_key_env) must hold the server's api-key "
		            "(pdns.conf)",
		            "the API refused the key (HTTP %ld: %s)%s", status, text,
		            body ? "; nothing changed" : "");
	case 404:
		snprintf(hint, sizeof(hint),
		         "check dns.zone and dns.server_id (%s): the server must hold zone %s. "
		         "(pdnsutil list-all-zones)",
		         pd->server_id, pd->zone);
		return fail(pd, err, FERRY_EREFUSED, name, hint,
		            "no such zone or server (HTTP 404: %s)%s", text,
		            body ? "; nothing changed" : "");
	case 422:
		return fail(pd, err, FERRY_EREFUSED, name,
		            "the server refused the change as invalid: see its text",
		            "HTTP 422: %s%s", text, body ? "; nothing changed" : "");
	default:
		return fail(pd, err, FERRY_EPROTO, name, "see the server's log", "HTTP %ld: %s%s",
		            status, text, body ? "; PowerDNS may or may not have applied it" : "");
	}
}

int dns_powerdns_parse_rrsets(const char *body, size_t len, const char *where, const char *zone,
                              const char *name, struct dns_nlist *out, struct ferry_error *err)
{
	json_t *root = json_loadb(body, len, 0, NULL), *rrsets, *rr;
	size_t i, k;
	int rc = 0;

	rrsets = root ? json_object_get(root, "rrsets") : NULL;
	if (!json_is_array(rrsets)) {
		rc = dns_fail(err, FERRY_EPROTO, where, zone, name, "is dns.api PowerDNS's API?",
		              "the zone's reply has no rrsets list");
		goto out;
	}
	json_array_foreach(rrsets, i, rr)
	{
		const char *rname = json_string_value(json_object_get(rr, "name"));
		const char *type = json_string_value(json_object_get(rr, "type"));
		json_t *ttl = json_object_get(rr, "ttl"), *recs = json_object_get(rr, "records"),
		       *rec;
		size_t t;

		if (!rname || !type || !json_is_integer(ttl) || !json_is_array(recs)) {
			rc = dns_fail(err, FERRY_EPROTO, where, zone, name, NULL,
			              "an rrset without name, type, ttl or records");
			goto out;
		}
		for (t = 0; t < sizeof(types) / sizeof(types[0]); t++)
			if (!strcmp(type, types[t]))
				break;
		if (t == sizeof(types) / sizeof(types[0]) || !dns_name_equal(rname, name))
			continue;
		json_array_foreach(recs, k, rec)
		{
			const char *c = json_string_value(json_object_get(rec, "content"));
			char canon[64];

			if (!c)
				continue;
			/* A disabled record is not served; a REPLACE drops it. */
			if (json_is_true(json_object_get(rec, "disabled")))
				continue;
			if (t < 2 && dns_address_canon(c, canon, sizeof(canon), NULL) == 0)
				c = canon;
			dns_nrr_add(dns_nlist_get(out, types[t], (uint32_t)json_integer_value(ttl)),
			            c);
		}
	}
out:
	json_decref(root);
	return rc;
}

/* The name's A, AAAA, CNAME and LUA rrsets. */
static int read_name(struct dns_provider *p, const char *name, struct dns_nlist *out,
                     struct ferry_error *err)
{
	struct pdns *pd = from(p);
	char *qname = xasprintf("%s.", name), *url = NULL;
	struct buf reply;
	int rc;

	memset(out, 0, sizeof(*out));
	buf_init(&reply, REPLY_MAX);
	url = hosts_http_url_query(pd->zone_url, "rrset_name", qname, err);
	if (!url) {
		rc = FERRY_EINVAL;
		goto out;
	}
	rc = api(pd, "GET", url, NULL, name, &reply, err);
	if (rc == 0)
		rc = dns_powerdns_parse_rrsets(reply.data, reply.len, pd->where, pd->zone, name,
		                               out, err);
out:
	buf_release(&reply);
	free(url);
	free(qname);
	if (rc < 0)
		dns_nlist_release(out);
	return rc;
}

static int flush(struct pdns *pd, const char *name, struct ferry_error *err)
{
	char *base = xasprintf("%s/api/v1/servers/%s/cache/flush", pd->api, pd->server_id);
	char *qname = xasprintf("%s.", name), *url;
	struct buf reply;
	int rc = FERRY_EINVAL;

	buf_init(&reply, 1 << 16);
	url = hosts_http_url_query(base, "domain", qname, err);
	if (url)
		rc = api(pd, "PUT", url, NULL, name, &reply, err);
	buf_release(&reply);
	free(url);
	free(qname);
	free(base);
	return rc;
}

/* The PATCH body that makes name hold want, given what it holds (have):
 * DELETE first, so that a CNAME never meets another type of the name
 * (PowerDNS refuses that with 422). */
static char *patch_body(const char *name, const struct dns_nlist *have,
                        const struct dns_nlist *want)
{
	json_t *rrsets = json_array(), *root;
	char *qname = xasprintf("%s.", name), *s;
	size_t t, k;

	for (t = 0; t < sizeof(types) / sizeof(types[0]); t++)
		if (dns_nlist_find(have, types[t]) && !dns_nlist_find(want, types[t]))
			json_array_append_new(rrsets,
			                      json_pack("{s:s, s:s, s:s}", "name", qname, "type",
			                                types[t], "changetype", "DELETE"));
	for (t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		const struct dns_nrr *r = dns_nlist_find(want, types[t]);
		json_t *recs;

		if (!r)
			continue;
		recs = json_array();
		for (k = 0; k < r->n; k++)
			json_array_append_new(
			        recs, json_pack("{s:s, s:b}", "content", r->v[k], "disabled", 0));
		json_array_append_new(rrsets, json_pack("{s:s, s:s, s:I, s:s, s:o}", "name", qname,
		                                        "type", types[t], "ttl", (json_int_t)r->ttl,
		                                        "changetype", "REPLACE", "records", recs));
	}
	root = json_pack("{s:o}", "rrsets", rrsets);
	s = json_dumps(root, JSON_COMPACT);
	if (!s)
		BUG("json_dumps failed");
	json_decref(root);
	free(qname);
	return s;
}

/* --- the provider -------------------------------------------------------- */

static void pdns_close(struct dns_provider *p)
{
	struct pdns *pd = from(p);

	if (!pd)
		return;
	if (pd->key)
		xfree_secret(pd->key, 0);
	free(pd->api);
	free(pd->server_id);
	free(pd->zone);
	free(pd->zone_url);
	free(pd);
}

static int pdns_open(const struct dns_config *cfg, struct dns_provider **out,
                     struct ferry_error *err)
{
	struct pdns *pd = xcalloc(1, sizeof(*pd));
	size_t n;
	int rc = 0;

	pd->base.ops = &dns_powerdns_ops;
	pd->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : API_TIMEOUT_DEFAULT_MS;
	if (!cfg->api || (strncmp(cfg->api, "http://", 7) && strncmp(cfg->api, "https://", 8))) {
		rc = ferry_error_set(err, FERRY_EINVAL, "set dns.api: http://HOST:PORT",
		                     "dns powerdns: no API URL");
		goto out;
	}
	pd->api = xstrdup(cfg->api);
	n = strlen(pd->api);
	while (n > 0 && pd->api[n - 1] == '/')
		pd->api[--n] = '\0';
	snprintf(pd->where, sizeof(pd->where), "powerdns %s", pd->api);
	if (!cfg->zone || !cfg->zone[0] || !dns_name_valid(cfg->zone)) {
		rc = ferry_error_set(err, FERRY_EINVAL, "set dns.zone in the plan",
		                     "dns powerdns %s: no valid zone given", pd->api);
		goto out;
	}
	pd->zone = xstrdup(cfg->zone);
	n = strlen(pd->zone);
	if (pd->zone[n - 1] == '.')
		pd->zone[n - 1] = '\0';
	pd->server_id = xstrdup(cfg->server_id ? cfg->server_id : "localhost");
	if (!cfg->secret || !cfg->secret[0]) {
		rc = fail(pd, err, FERRY_EINVAL, NULL,
		          "set dns.api_key_file or dns.api_key_env (the server's api-key)",
		          "no API key");
		goto out;
	}
	pd->key = xstrdup(cfg->secret);
	if (strpbrk(pd->key, "\r\n")) {
		rc = fail(pd, err, FERRY_EINVAL, NULL, "the key file must hold the key on one line",
		          "the API key has a line break inside");
		goto out;
	}
	pd->zone_url =
	        xasprintf("%s/api/v1/servers/%s/zones/%s.", pd->api, pd->server_id, pd->zone);
	*out = &pd->base;
	pd = NULL;
out:
	pdns_close(pd ? &pd->base : NULL);
	return rc;
}

static const struct dns_native_ops native = { read_name, from_state };

static int pdns_query(struct dns_provider *p, const char *name, struct dns_rrset *out,
                      struct ferry_error *err)
{
	struct pdns *pd = from(p);

	return dns_native_query(p, &native, pd->where, pd->zone, name, out, err);
}

static int pdns_expect(struct dns_provider *p, const char *name, const struct dns_state *st,
                       struct dns_rrset *now, struct ferry_error *err)
{
	struct pdns *pd = from(p);
	struct dns_nlist have = { 0 };
	int rc = dns_native_compare(p, &native, pd->where, pd->zone, name, st, &have, now, err);

	dns_nlist_release(&have);
	return rc;
}

int dns_powerdns_parse_zone(const char *body, size_t len, const char *where, const char *zone,
                            struct ferry_error *err)
{
	json_t *root = json_loadb(body, len, 0, NULL);
	const char *kind = root ? json_string_value(json_object_get(root, "kind")) : NULL;
	int rc = 0;

	if (!kind)
		rc = dns_fail(err, FERRY_EPROTO, where, zone, NULL, "is dns.api PowerDNS's API?",
		              "the zone's reply has no kind");
	/* A secondary's data comes from its primary, which overwrites any
	 * change made here at the next transfer. */
	else if (!strcasecmp(kind, "Slave") || !strcasecmp(kind, "Secondary"))
		rc = dns_fail(err, FERRY_EREFUSED, where, zone, NULL,
		              "point dns.api at the server where the zone is Native or Primary",
		              "the zone is a %s here: a change would be undone by the next "
		              "transfer",
		              kind);
	json_decref(root);
	return rc;
}

static int pdns_check_access(struct dns_provider *p, struct ferry_error *err)
{
	struct pdns *pd = from(p);
	struct buf reply;
	int rc;

	buf_init(&reply, REPLY_MAX);
	/* Reading the zone proves the key (PowerDNS 4.7 has one key for the
	 * whole API: it reads everything it may change). */
	rc = api(pd, "GET", pd->zone_url, NULL, NULL, &reply, err);
	if (rc == 0)
		rc = dns_powerdns_parse_zone(reply.data, reply.len, pd->where, pd->zone, err);
	buf_release(&reply);
	return rc;
}

static int pdns_cas(struct dns_provider *p, const char *name, const struct dns_state *expected,
                    const struct dns_state *wanted, uint32_t ttl, struct ferry_error *err)
{
	struct pdns *pd = from(p);
	struct dns_nlist have = { 0 }, want = { 0 }, after = { 0 };
	struct buf reply;
	char *body = NULL, h[1024], w[1024];
	size_t i;
	int rc;

	buf_init(&reply, REPLY_MAX);
	rc = dns_native_prepare(&native, pd->where, pd->zone, name, wanted, ttl, &want, err);
	if (rc == 0)
		rc = dns_native_compare(p, &native, pd->where, pd->zone, name, expected, &have,
		                        NULL, err);
	if (rc < 0)
		goto out;
	body = patch_body(name, &have, &want);
	log_debug("dns %s (%s): PATCH %s", name, pd->where, body);
	rc = api(pd, "PATCH", pd->zone_url, body, name, &reply, err);
	if (rc == 0)
		rc = flush(pd, name, err);
	if (rc < 0)
		goto out;
	/* The verification read: what PowerDNS holds now, TTL included. */
	rc = read_name(p, name, &after, err);
	if (rc < 0)
		goto out;
	for (i = 0; i < after.n && rc == 0; i++)
		if (after.r[i].ttl != ttl)
			rc = FERRY_ECHANGED;
	if (rc < 0 || !dns_nlist_same(&after, &want)) {
		dns_nlist_format(&after, h, sizeof(h));
		dns_nlist_format(&want, w, sizeof(w));
		rc = fail(pd, err, FERRY_ECHANGED, name,
		          "PowerDNS's API has no conditional change: someone else wrote the name "
		          "at the same moment; find out who, then put it right by hand",
		          "after ferry's change the name holds %s, not %s", h, w);
		goto out;
	}
	dns_state_format(wanted, w, sizeof(w));
	log_info("dns %s (%s): now %s at TTL %u s", name, pd->where, w, ttl);
out:
	dns_nlist_release(&have);
	dns_nlist_release(&want);
	dns_nlist_release(&after);
	buf_release(&reply);
	free(body);
	return rc;
}

static int pdns_describe(const struct dns_config *cfg, const char *name,
                         const struct dns_state *expected, const struct dns_state *wanted,
                         uint32_t ttl, struct buf *out, struct ferry_error *err)
{
	struct dns_nlist have = { 0 }, want = { 0 };
	char h[1024], *body = NULL;
	int rc;

	rc = dns_state_check(name, "expected", expected, err);
	if (rc == 0)
		rc = dns_state_check(name, "new", wanted, err);
	if (rc == 0)
		rc = from_state(name, expected, 0, &have, err);
	if (rc == 0)
		rc = from_state(name, wanted, ttl, &want, err);
	if (rc < 0)
		goto out;
	dns_nlist_format(&have, h, sizeof(h));
	body = patch_body(name, &have, &want);
	if (buf_addf(out,
	             "; read-compare-write: GET the name, go on only if it holds %s\n"
	             "PATCH %s/api/v1/servers/%s/zones/%s.\n"
	             "X-API-Key: (dns.api_key_file)\n"
	             "%s\n"
	             "PUT %s/api/v1/servers/%s/cache/flush?domain=%s.\n"
	             "; then GET the name again to verify\n",
	             h, cfg->api, cfg->server_id ? cfg->server_id : "localhost", cfg->zone, body,
	             cfg->api, cfg->server_id ? cfg->server_id : "localhost", name) < 0)
		rc = ferry_error_set(err, FERRY_EPROTO, NULL,
		                     "dns %s: the request text is too long", name);
out:
	free(body);
	dns_nlist_release(&have);
	dns_nlist_release(&want);
	return rc;
}

const struct dns_provider_ops dns_powerdns_ops = {
	.name = "powerdns",
	.atomic = false,
	.weights = true,
	.open = pdns_open,
	.query = pdns_query,
	.expect = pdns_expect,
	.check_access = pdns_check_access,
	.cas = pdns_cas,
	.describe = pdns_describe,
	.close = pdns_close,
};
