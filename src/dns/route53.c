/*
 * route53.c - the "route53" DNS provider: Amazon Route 53's REST API
 * (version 2013-04-01), each request signed with SigV4 (sigv4.c), XML
 * read with xml.c, HTTP through hosts/http.c.
 *
 * How the parts fit:
 *   api()          one signed request; its status and error code mapped to
 *                  ferry's errors (403 SignatureDoesNotMatch, AccessDenied...:
 *                  EAUTH; 404 NoSuchHostedZone: EREFUSED; 400
 *                  InvalidChangeBatch: ECHANGED; throttling: EREFUSED);
 *   read_name()    ListResourceRecordSets from the name on: its A, AAAA and
 *                  CNAME record sets (struct dns_nlist), weighted ones with their
 *                  SetIdentifier and Weight;
 *   from_state()   a struct dns_state as record sets: A/AAAA/CNAME for a
 *                  set, weighted A/AAAA sets "ferry-old" and "ferry-new"
 *                  (the state's set and alt) for a split;
 *   r53_cas()      read, compare with the expected sets, then ONE
 *                  ChangeResourceRecordSets batch: DELETE every set the name
 *                  holds, exactly as read (TTL included), and CREATE the
 *                  wanted ones.  Route 53 applies a batch whole or refuses
 *                  it whole, and refuses a DELETE that does not match what
 *                  it holds: a change by someone else after the read makes
 *                  the batch fail with nothing changed.  A true
 *                  compare-and-swap (ops.atomic).  Then GetChange until
 *                  INSYNC (the change is on every Route 53 server).
 *
 * What was tested against what: the signer on AWS's published SigV4 test
 * vectors; this driver against a fake Route 53 in the tests
 * (tests/integration/dns/route53_fake.py) that checks every request's
 * signature with python3-botocore and implements the batch semantics
 * above; never against the real service (docs/ferry-plan.5.scd says so).
 *
 * Secrets: the secret access key and the session token are copied at open
 * and wiped at close; the key goes only into sigv4_sign(), the token into
 * one header per request, wiped after it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns/dns.h"
#include "dns/native.h"
#include "dns/route53.h"
#include "dns/sigv4.h"
#include "dns/xml.h"
#include "hosts/http.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define API_TIMEOUT_DEFAULT_MS 10000
#define SYNC_TIMEOUT_MS        300000 /* Route 53: "usually within 60 seconds" */
#define REPLY_MAX              (4 << 20)
#define API_PATH               "/2013-04-01"

struct r53 {
	struct dns_provider base;
	char *api;    /* "https://route53.amazonaws.com", no trailing slash */
	char *host;   /* what curl sends as Host, which is signed */
	char *prefix; /* the API URL's own path, "" usually */
	char *zone_id;
	char *zone;
	char *region;
	char *key_id;
	char *secret; /* wiped at close */
	char *token;  /* wiped at close; NULL without one */
	int timeout_ms;
	char where[160]; /* "route53 zone Z1" */
};

static struct r53 *from(struct dns_provider *p)
{
	return (struct r53 *)p;
}

/* "dns NAME (WHERE): ..." for this driver (dns_fail). */
#define fail(r, err, code, name, hint, ...)                                                        \
	dns_fail(err, code, (r)->where, (r)->zone, name, hint, __VA_ARGS__)

/* --- record sets ------------------------------------------------------- */

/* st as the record sets Route 53 should hold (st was checked). */
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
	/* Route 53 weighted records (routing-policy-weighted): one record set
	 * per side and family, the same name and type, each with its
	 * SetIdentifier and Weight; share = weight / sum. */
	for (f = 0; f < 2; f++) {
		dns_nlist_family(out, &st->set, f, "ferry-old", (long)st->weight, ttl);
		dns_nlist_family(out, &st->alt, f, "ferry-new", (long)st->alt_weight, ttl);
	}
	return 0;
}

/* --- the API ------------------------------------------------------------ */

void dns_route53_parse_error(const char *body, size_t len, char *code, size_t clen, char *msg,
                             size_t mlen)
{
	static const char *const pcode[] = { "Error", "Code", NULL };
	static const char *const pmsg[] = { "Error", "Message", NULL };
	static const char *const pbatch[] = { "Messages", "Message", NULL };
	struct xml_node *root = NULL;
	char why[128];
	const char *c = NULL, *m = NULL;

	if (xml_parse(body, len, &root, why, sizeof(why)) == 0) {
		if (!strcmp(root->name, "InvalidChangeBatch")) {
			c = "InvalidChangeBatch";
			m = xml_path_text(root, pbatch);
		} else {
			c = xml_path_text(root, pcode);
			m = xml_path_text(root, pmsg);
		}
	}
	snprintf(code, clen, "%s", c ? c : "");
	if (m)
		snprintf(msg, mlen, "%.300s", m);
	else
		snprintf(msg, mlen, "%.*s", (int)(len < 300 ? len : 300), body ? body : "");
	xml_free(root);
}

/* One signed request (query without '?', may be NULL); 0 for 2xx with the
 * reply's body in reply.  change: a POST that changes records (what its
 * refusals mean). */
static int api(struct r53 *r, const char *method, const char *path, const char *query,
               const char *body, const char *name, struct buf *reply, struct ferry_error *err)
{
	char date[32], *hhost = NULL, *hdate = NULL, *htoken = NULL, *hauth = NULL, *url = NULL;
	char *full = xasprintf("%s%s", r->prefix, path), code[64], msg[400], hint[400];
	struct sigv4_header sh[4];
	struct sigv4_key key = { r->key_id, r->secret, r->region, "route53" };
	struct sigv4_request srq = { method, full, query, sh, 0, body, body ? strlen(body) : 0 };
	const char *headers[8];
	size_t nh = 0;
	struct buf authz;
	long status = 0;
	int rc;

	buf_init(&authz, 4096);
	buf_reset(reply);
	/* The signature's date is the real clock's, never FERRY_NOW: AWS
	 * refuses a request more than 5 minutes off. */
	sigv4_date((long long)(time_wall_ms() / 1000), date, sizeof(date));
	sh[srq.nheaders++] = (struct sigv4_header){ "Host", r->host };
	sh[srq.nheaders++] = (struct sigv4_header){ "X-Amz-Date", date };
	if (r->token)
		sh[srq.nheaders++] = (struct sigv4_header){ "X-Amz-Security-Token", r->token };
	if (body)
		sh[srq.nheaders++] = (struct sigv4_header){ "Content-Type", "text/xml" };
	rc = sigv4_sign(&key, &srq, date, &authz, NULL, err);
	if (rc < 0)
		goto out;
	hhost = xasprintf("Host: %s", r->host);
	hdate = xasprintf("X-Amz-Date: %s", date);
	hauth = xasprintf("Authorization: %s", authz.data);
	headers[nh++] = hhost;
	headers[nh++] = hdate;
	if (r->token) {
		htoken = xasprintf("X-Amz-Security-Token: %s", r->token);
		headers[nh++] = htoken;
	}
	if (body)
		headers[nh++] = "Content-Type: text/xml";
	headers[nh++] = hauth;
	headers[nh++] = "Expect:";
	headers[nh] = NULL;
	url = query && query[0] ? xasprintf("%s%s?%s", r->api, path, query)
	                        : xasprintf("%s%s", r->api, path);
	{
		struct hosts_http_request rq = { .method = method,
			                         .url = url,
			                         .headers = headers,
			                         .body = body,
			                         .body_len = body ? strlen(body) : 0,
			                         .timeout_ms = r->timeout_ms };

		rc = hosts_http_request(&rq, &status, reply, err);
	}
	if (rc < 0) {
		if (rc == FERRY_ETIMEDOUT && body && err)
			snprintf(err->hint, sizeof(err->hint),
			         "ferry cannot tell whether Route 53 took the change: read the "
			         "record "
			         "before retrying");
		ferry_error_prefix(err, "dns %s (%s)", name ? name : r->zone, r->where);
		goto out;
	}
	if (status >= 200 && status < 300)
		goto out;
	dns_route53_parse_error(reply->data, reply->len, code, sizeof(code), msg, sizeof(msg));
	if (status == 403 || !strcmp(code, "SignatureDoesNotMatch") ||
	    !strcmp(code, "InvalidClientTokenId") || !strcmp(code, "AccessDenied") ||
	    !strcmp(code, "ExpiredToken") || !strcmp(code, "IncompleteSignature")) {
		snprintf(hint, sizeof(hint), "%s",
		         !strcmp(code, "AccessDenied")
		                 ? "give the key's IAM policy route53:GetHostedZone, "
		                   "route53:ListResourceRecordSets, "
		                   "route53:ChangeResourceRecordSets "
		                   "and route53:GetChange on this zone"
		                 : "check the access key ID and the secret access key in the plan "
		                   "(and the session token, and this host's clock)");
		rc = fail(r, err, FERRY_EAUTH, name, hint,
		          "Route 53 refused the request: %s (HTTP %ld): %s%s",
		          code[0] ? code : "denied", status, msg, body ? "; nothing changed" : "");
	} else if (status == 404 || !strcmp(code, "NoSuchHostedZone")) {
		rc = fail(r, err, FERRY_EREFUSED, name,
		          "check dns.hosted_zone_id: the ID of the zone in the Route 53 console",
		          "no such hosted zone %s (%s): %s", r->zone_id, code, msg);
	} else if (!strcmp(code, "InvalidChangeBatch")) {
		rc = fail(
		        r, err, FERRY_ECHANGED, name,
		        "someone else changed the record after ferry read it: find out who and "
		        "why before going on",
		        "Route 53 refused the change batch whole (InvalidChangeBatch: %s); nothing "
		        "changed",
		        msg);
	} else if (!strcmp(code, "Throttling") || !strcmp(code, "PriorRequestNotComplete")) {
		rc = fail(r, err, FERRY_EREFUSED, name, "run ferry again in a minute",
		          "Route 53 is busy (%s: %s)%s", code, msg,
		          body ? "; nothing changed" : "");
	} else {
		rc = fail(r, err, FERRY_EPROTO, name, "see the message from Route 53",
		          "HTTP %ld %s: %s%s", status, code, msg,
		          body ? "; Route 53 may or may not have taken the change" : "");
	}
out:
	if (htoken)
		xfree_secret(htoken, 0);
	if (hauth)
		xfree_secret(hauth, 0);
	free(hhost);
	free(hdate);
	free(url);
	free(full);
	buf_release(&authz);
	return rc;
}

static int parse_reply(const char *body, size_t len, const char *where, const char *zone,
                       const char *name, struct xml_node **root, struct ferry_error *err)
{
	char why[128];

	if (xml_parse(body, len, root, why, sizeof(why)) < 0)
		return dns_fail(err, FERRY_EPROTO, where, zone, name, "is dns.api Route 53's API?",
		                "cannot read the reply as XML (%s)", why);
	return 0;
}

/* Route 53 writes some characters of names as \ooo (octal); ferry's names
 * have none of them (letters, digits, '-', '_'), so a name with one is not
 * ours. */
static int read_set(const char *where, const char *zone, const char *name,
                    const struct xml_node *set, struct dns_nlist *out, bool *ours,
                    struct ferry_error *err)
{
	static const char *const ptarget[] = { "AliasTarget", "DNSName", NULL };
	const char *rname = xml_path_text(set, (const char *const[]){ "Name", NULL });
	const char *type = xml_path_text(set, (const char *const[]){ "Type", NULL });
	const char *ttl = xml_path_text(set, (const char *const[]){ "TTL", NULL });
	const char *sid = xml_path_text(set, (const char *const[]){ "SetIdentifier", NULL });
	const char *weight = xml_path_text(set, (const char *const[]){ "Weight", NULL });
	const char *alias = xml_path_text(set, ptarget);
	const struct xml_node *recs = xml_child(set, "ResourceRecords");
	struct dns_nrr *rec;
	size_t i;

	*ours = rname && dns_name_equal(rname, name);
	if (!*ours)
		return 0;
	if (!type)
		return dns_fail(err, FERRY_EPROTO, where, zone, name, NULL,
		                "a record set without a type");
	if (strcmp(type, "A") && strcmp(type, "AAAA") && strcmp(type, "CNAME"))
		return 0;
	rec = dns_nlist_add(out, type, sid, weight ? strtol(weight, NULL, 10) : -1,
	                    ttl ? (uint32_t)strtoul(ttl, NULL, 10) : 0);
	if (alias)
		rec->alias = xstrdup(alias);
	for (i = 0; recs && i < recs->nkids; i++) {
		const char *v =
		        xml_path_text(recs->kids[i], (const char *const[]){ "Value", NULL });
		char canon[64];

		if (!v)
			continue;
		if (strcmp(type, "CNAME") && dns_address_canon(v, canon, sizeof(canon), NULL) == 0)
			v = canon;
		dns_nrr_add(rec, v);
	}
	return 0;
}

void dns_route53_next_release(struct dns_route53_next *n)
{
	free(n->name);
	free(n->type);
	free(n->id);
	memset(n, 0, sizeof(*n));
}

int dns_route53_parse_rrsets(const char *body, size_t len, const char *where, const char *zone,
                             const char *name, struct dns_nlist *out, struct dns_route53_next *next,
                             struct ferry_error *err)
{
	struct xml_node *root = NULL;
	const struct xml_node *sets;
	const char *trunc, *nn, *nt, *ni;
	bool more = true, ours;
	size_t i;
	int rc;

	memset(next, 0, sizeof(*next));
	rc = parse_reply(body, len, where, zone, name, &root, err);
	if (rc < 0)
		return rc;
	sets = xml_child(root, "ResourceRecordSets");
	for (i = 0; sets && i < sets->nkids && rc == 0 && more; i++) {
		rc = read_set(where, zone, name, sets->kids[i], out, &ours, err);
		more = ours; /* sorted by name: past ours, done */
	}
	trunc = xml_path_text(root, (const char *const[]){ "IsTruncated", NULL });
	nn = xml_path_text(root, (const char *const[]){ "NextRecordName", NULL });
	nt = xml_path_text(root, (const char *const[]){ "NextRecordType", NULL });
	ni = xml_path_text(root, (const char *const[]){ "NextRecordIdentifier", NULL });
	if (rc == 0 && more && trunc && !strcmp(trunc, "true") && nn && dns_name_equal(nn, name)) {
		next->more = true;
		next->name = xstrdup(nn);
		next->type = nt ? xstrdup(nt) : NULL;
		next->id = ni ? xstrdup(ni) : NULL;
	}
	xml_free(root);
	return rc;
}

/* The name's A, AAAA and CNAME record sets, all pages. */
static int read_name(struct dns_provider *p, const char *name, struct dns_nlist *out,
                     struct ferry_error *err)
{
	struct r53 *r = from(p);
	char *path = xasprintf(API_PATH "/hostedzone/%s/rrset", r->zone_id);
	struct dns_route53_next next = { .more = true, .name = xasprintf("%s.", name) };
	struct buf reply, q;
	int rc = 0, page;

	memset(out, 0, sizeof(*out));
	buf_init(&reply, REPLY_MAX);
	buf_init(&q, 4096);
	for (page = 0; page < 20 && next.more; page++) {
		buf_reset(&q);
		/* names are letters, digits, '-', '_' and '.' (checked): nothing
		 * to percent-encode */
		buf_addf(&q, "maxitems=100&name=%s", next.name);
		if (next.type)
			buf_addf(&q, "&type=%s", next.type);
		if (next.id)
			buf_addf(&q, "&identifier=%s", next.id);
		rc = api(r, "GET", path, q.data, NULL, name, &reply, err);
		dns_route53_next_release(&next);
		if (rc == 0)
			rc = dns_route53_parse_rrsets(reply.data, reply.len, r->where, r->zone,
			                              name, out, &next, err);
		if (rc < 0)
			break;
	}
	dns_route53_next_release(&next);
	buf_release(&q);
	buf_release(&reply);
	free(path);
	if (rc < 0)
		dns_nlist_release(out);
	return rc;
}

/* Appends one <Change> for record set x of name. */
static void change_xml(struct buf *b, const char *action, const char *name, const struct dns_nrr *x,
                       bool ttl_known)
{
	size_t k;

	buf_addf(b, "<Change><Action>%s</Action><ResourceRecordSet><Name>", action);
	xml_escape(b, name);
	buf_addf(b, ".</Name><Type>%s</Type>", x->type);
	if (x->set_id) {
		buf_adds(b, "<SetIdentifier>");
		xml_escape(b, x->set_id);
		buf_addf(b, "</SetIdentifier><Weight>%ld</Weight>", x->weight);
	}
	if (ttl_known)
		buf_addf(b, "<TTL>%u</TTL><ResourceRecords>", x->ttl);
	else
		buf_adds(b, "<TTL>(as read)</TTL><ResourceRecords>");
	for (k = 0; k < x->n; k++) {
		buf_adds(b, "<ResourceRecord><Value>");
		xml_escape(b, x->v[k]);
		buf_adds(b, "</Value></ResourceRecord>");
	}
	buf_adds(b, "</ResourceRecords></ResourceRecordSet></Change>");
}

/* The ChangeResourceRecordSets body: DELETE each of del, CREATE each of
 * add, in one batch. */
static char *batch_xml(const char *name, const struct dns_nlist *del, const struct dns_nlist *add,
                       bool del_ttl_known)
{
	struct buf b;
	size_t i;

	buf_init(&b, 1 << 20);
	buf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	             "<ChangeResourceRecordSetsRequest "
	             "xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">"
	             "<ChangeBatch><Comment>ferry</Comment><Changes>");
	for (i = 0; i < del->n; i++)
		change_xml(&b, "DELETE", name, &del->r[i], del_ttl_known);
	for (i = 0; i < add->n; i++)
		change_xml(&b, "CREATE", name, &add->r[i], true);
	buf_adds(&b, "</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>");
	return buf_detach(&b, NULL);
}

int dns_route53_parse_change(const char *body, size_t len, const char *where, const char *zone,
                             const char *name, char *id, size_t idlen, bool *insync,
                             struct ferry_error *err)
{
	static const char *const pid[] = { "ChangeInfo", "Id", NULL };
	static const char *const pstatus[] = { "ChangeInfo", "Status", NULL };
	struct xml_node *root = NULL;
	const char *cid, *status;
	int rc;

	*insync = false;
	rc = parse_reply(body, len, where, zone, name, &root, err);
	if (rc < 0)
		return rc;
	status = xml_path_text(root, pstatus);
	*insync = status && !strcmp(status, "INSYNC");
	if (id) {
		/* "/change/C2682N5HXP0BZ4": the last element goes into the
		 * GetChange URL, so it must be a plain ID */
		cid = xml_path_text(root, pid);
		if (cid && strrchr(cid, '/'))
			cid = strrchr(cid, '/') + 1;
		if (!cid || !cid[0] || strlen(cid) >= idlen ||
		    strspn(cid,
		           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") !=
		            strlen(cid))
			rc = dns_fail(
			        err, FERRY_EPROTO, where, zone, name, NULL,
			        "the change's reply has no ChangeInfo/Id that is a change ID");
		else
			snprintf(id, idlen, "%s", cid);
	}
	xml_free(root);
	return rc;
}

/* GetChange until INSYNC. */
static int wait_insync(struct r53 *r, const char *name, const char *id, struct ferry_error *err)
{
	int64_t deadline = time_mono_ms() + SYNC_TIMEOUT_MS, pause_ms = 200;
	char *path = xasprintf(API_PATH "/change/%s", id);
	struct buf reply;
	int rc;

	buf_init(&reply, REPLY_MAX);
	for (;;) {
		struct timespec ts;
		bool insync;

		rc = api(r, "GET", path, NULL, NULL, name, &reply, err);
		if (rc == 0)
			rc = dns_route53_parse_change(reply.data, reply.len, r->where, r->zone,
			                              name, NULL, 0, &insync, err);
		if (rc < 0 || insync)
			break;
		if (time_mono_ms() + pause_ms > deadline) {
			rc = fail(r, err, FERRY_ETIMEDOUT, name,
			          "Route 53 took the change but has not published it everywhere: "
			          "check the change in the console, then run ferry again",
			          "change %s still PENDING after %d s", id, SYNC_TIMEOUT_MS / 1000);
			break;
		}
		ts.tv_sec = pause_ms / 1000;
		ts.tv_nsec = (pause_ms % 1000) * 1000000L;
		nanosleep(&ts, NULL);
		if (pause_ms < 5000)
			pause_ms *= 2;
	}
	buf_release(&reply);
	free(path);
	return rc;
}

/* Sends a batch; 0 when Route 53 took it and it is INSYNC. */
static int send_batch(struct r53 *r, const char *name, const char *body, struct ferry_error *err)
{
	char *path = xasprintf(API_PATH "/hostedzone/%s/rrset/", r->zone_id), id[128];
	struct buf reply;
	bool insync;
	int rc;

	buf_init(&reply, REPLY_MAX);
	log_debug("dns %s (%s): ChangeResourceRecordSets %s", name, r->where, body);
	rc = api(r, "POST", path, NULL, body, name, &reply, err);
	if (rc == 0)
		rc = dns_route53_parse_change(reply.data, reply.len, r->where, r->zone, name, id,
		                              sizeof(id), &insync, err);
	if (rc == 0 && !insync)
		rc = wait_insync(r, name, id, err);
	buf_release(&reply);
	free(path);
	return rc;
}

/* --- the provider ------------------------------------------------------- */

static void r53_close(struct dns_provider *p)
{
	struct r53 *r = from(p);

	if (!r)
		return;
	if (r->secret)
		xfree_secret(r->secret, 0);
	if (r->token)
		xfree_secret(r->token, 0);
	free(r->api);
	free(r->host);
	free(r->prefix);
	free(r->zone_id);
	free(r->zone);
	free(r->region);
	free(r->key_id);
	free(r);
}

static int r53_open(const struct dns_config *cfg, struct dns_provider **out,
                    struct ferry_error *err)
{
	struct r53 *r = xcalloc(1, sizeof(*r));
	size_t n;
	int rc = 0;

	r->base.ops = &dns_route53_ops;
	r->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : API_TIMEOUT_DEFAULT_MS;
	r->api = xstrdup(cfg->api ? cfg->api : "https://route53.amazonaws.com");
	n = strlen(r->api);
	while (n > 0 && r->api[n - 1] == '/')
		r->api[--n] = '\0';
	rc = hosts_http_url_split(r->api, &r->host, &r->prefix, err);
	if (rc < 0)
		goto out;
	if (!strcmp(r->prefix, "/"))
		r->prefix[0] = '\0';
	if (!cfg->hosted_zone_id || !cfg->hosted_zone_id[0] ||
	    strspn(cfg->hosted_zone_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") !=
	            strlen(cfg->hosted_zone_id)) {
		rc = ferry_error_set(err, FERRY_EINVAL, "set dns.hosted_zone_id: Z0123456789ABC",
		                     "dns route53: no valid hosted zone ID");
		goto out;
	}
	r->zone_id = xstrdup(cfg->hosted_zone_id);
	snprintf(r->where, sizeof(r->where), "route53 zone %s", r->zone_id);
	if (!cfg->zone || !dns_name_valid(cfg->zone)) {
		rc = ferry_error_set(err, FERRY_EINVAL, "set dns.zone in the plan",
		                     "dns route53 zone %s: no valid zone name", r->zone_id);
		goto out;
	}
	r->zone = xstrdup(cfg->zone);
	n = strlen(r->zone);
	if (r->zone[n - 1] == '.')
		r->zone[n - 1] = '\0';
	r->region = xstrdup(cfg->region ? cfg->region : "us-east-1");
	if (!cfg->access_key_id || !cfg->access_key_id[0] || !cfg->secret || !cfg->secret[0]) {
		rc = fail(r, err, FERRY_EINVAL, NULL,
		          "set dns.access_key_id (or access_key_id_env) and "
		          "dns.secret_access_key_file (or _env)",
		          "no access key ID or no secret access key");
		goto out;
	}
	r->key_id = xstrdup(cfg->access_key_id);
	r->secret = xstrdup(cfg->secret);
	if (cfg->session_token && cfg->session_token[0])
		r->token = xstrdup(cfg->session_token);
	if (strpbrk(r->key_id, "\r\n/ ") || strpbrk(r->secret, "\r\n") ||
	    (r->token && strpbrk(r->token, "\r\n"))) {
		rc = fail(r, err, FERRY_EINVAL, NULL,
		          "each credential file holds one value on one line",
		          "an access key ID, secret or session token with a line break or space");
		goto out;
	}
	*out = &r->base;
	r = NULL;
out:
	r53_close(r ? &r->base : NULL);
	return rc;
}

static const struct dns_native_ops native = { read_name, from_state };

static int r53_query(struct dns_provider *p, const char *name, struct dns_rrset *out,
                     struct ferry_error *err)
{
	struct r53 *r = from(p);

	return dns_native_query(p, &native, r->where, r->zone, name, out, err);
}

static int r53_expect(struct dns_provider *p, const char *name, const struct dns_state *st,
                      struct dns_rrset *now, struct ferry_error *err)
{
	struct r53 *r = from(p);
	struct dns_nlist have = { 0 };
	int rc = dns_native_compare(p, &native, r->where, r->zone, name, st, &have, now, err);

	dns_nlist_release(&have);
	return rc;
}

int dns_route53_parse_zone(const char *body, size_t len, const char *where, const char *zone,
                           const char *zone_id, struct ferry_error *err)
{
	static const char *const pname[] = { "HostedZone", "Name", NULL };
	struct xml_node *root = NULL;
	const char *zname;
	int rc;

	rc = parse_reply(body, len, where, zone, NULL, &root, err);
	if (rc < 0)
		return rc;
	zname = xml_path_text(root, pname);
	if (!zname || !dns_name_equal(zname, zone))
		rc = dns_fail(err, FERRY_EREFUSED, where, zone, NULL,
		              "dns.hosted_zone_id and dns.zone must name the same zone",
		              "hosted zone %s is %.100s, not %s", zone_id,
		              zname ? zname : "(no name)", zone);
	xml_free(root);
	return rc;
}

static int r53_check_access(struct dns_provider *p, struct ferry_error *err)
{
	struct r53 *r = from(p);
	char *path = xasprintf(API_PATH "/hostedzone/%s", r->zone_id), *body = NULL, *probe;
	char token[32];
	struct dns_nlist del = { 0 }, none = { 0 };
	struct buf reply;
	int rc;

	buf_init(&reply, REPLY_MAX);
	rc = api(r, "GET", path, NULL, NULL, NULL, &reply, err);
	if (rc == 0)
		rc = dns_route53_parse_zone(reply.data, reply.len, r->where, r->zone, r->zone_id,
		                            err);
	if (rc < 0)
		goto out;
	/* The permission to change, proved without changing: a batch that
	 * DELETEs a record set no zone holds (a random TXT value) is checked
	 * for permission first and then refused whole as InvalidChangeBatch;
	 * AccessDenied means the key may not change the zone. */
	snprintf(token, sizeof(token), "\"ferry-check-%lld\"", (long long)time_wall_ms());
	probe = xasprintf("_ferry-check.%s", r->zone);
	dns_nrr_add(dns_nlist_add(&del, "TXT", NULL, -1, 1), token);
	body = batch_xml(probe, &del, &none, true);
	{
		char *cpath = xasprintf(API_PATH "/hostedzone/%s/rrset/", r->zone_id);
		struct ferry_error perr = { 0 };

		rc = api(r, "POST", cpath, NULL, body, probe, &reply, &perr);
		free(cpath);
		if (rc == FERRY_ECHANGED) {
			rc = 0; /* refused as invalid: allowed to change */
		} else if (rc == 0) {
			rc = fail(r, err, FERRY_EPROTO, NULL, "look at _ferry-check in the zone",
			          "Route 53 accepted the DELETE of a record set that cannot exist");
		} else {
			*err = perr;
		}
	}
	free(probe);
out:
	dns_nlist_release(&del);
	buf_release(&reply);
	free(body);
	free(path);
	return rc;
}

static int r53_cas(struct dns_provider *p, const char *name, const struct dns_state *expected,
                   const struct dns_state *wanted, uint32_t ttl, struct ferry_error *err)
{
	struct r53 *r = from(p);
	struct dns_nlist have = { 0 }, want = { 0 };
	char *body = NULL, w[512];
	int rc;

	rc = dns_native_prepare(&native, r->where, r->zone, name, wanted, ttl, &want, err);
	if (rc == 0)
		rc = dns_native_compare(p, &native, r->where, r->zone, name, expected, &have, NULL,
		                        err);
	if (rc < 0)
		goto out;
	body = batch_xml(name, &have, &want, true);
	rc = send_batch(r, name, body, err);
	if (rc < 0)
		goto out;
	dns_state_format(wanted, w, sizeof(w));
	log_info("dns %s (%s): now %s at TTL %u s", name, r->where, w, ttl);
out:
	dns_nlist_release(&have);
	dns_nlist_release(&want);
	free(body);
	return rc;
}

static int r53_describe(const struct dns_config *cfg, const char *name,
                        const struct dns_state *expected, const struct dns_state *wanted,
                        uint32_t ttl, struct buf *out, struct ferry_error *err)
{
	struct dns_nlist have = { 0 }, want = { 0 };
	char *body = NULL;
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
	body = batch_xml(name, &have, &want, false);
	if (buf_addf(out,
	             "; atomic: one batch, refused whole unless the DELETEs match what the "
	             "zone holds\n"
	             "POST %s" API_PATH "/hostedzone/%s/rrset/\n"
	             "Authorization: AWS4-HMAC-SHA256 Credential=(dns.access_key_id)/.../%s/"
	             "route53/aws4_request, ...\n"
	             "%s\n"
	             "; then GET " API_PATH "/change/ID until INSYNC\n",
	             cfg->api ? cfg->api : "https://route53.amazonaws.com", cfg->hosted_zone_id,
	             cfg->region ? cfg->region : "us-east-1", body) < 0)
		rc = ferry_error_set(err, FERRY_EPROTO, NULL,
		                     "dns %s: the request text is too long", name);
out:
	free(body);
	dns_nlist_release(&have);
	dns_nlist_release(&want);
	return rc;
}

const struct dns_provider_ops dns_route53_ops = {
	.name = "route53",
	.atomic = true,
	.weights = true,
	.open = r53_open,
	.query = r53_query,
	.expect = r53_expect,
	.check_access = r53_check_access,
	.cas = r53_cas,
	.describe = r53_describe,
	.close = r53_close,
};
