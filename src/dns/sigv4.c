/*
 * sigv4.c - see sigv4.h.  The only file of the dns module that includes
 * OpenSSL (SHA-256 and HMAC-SHA256 through EVP and HMAC()).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "dns/sigv4.h"
#include "util/mem.h"

static void hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(data, len, md);
	hex(md, sizeof(md), out);
}

static void hmac(const unsigned char *key, size_t keylen, const void *data, size_t len,
                 unsigned char out[32])
{
	unsigned int n = 32;

	if (!HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &n) || n != 32)
		BUG("HMAC-SHA256 failed");
}

/* RFC 3986 §2.3 unreserved characters are kept; every other byte becomes
 * %XX (upper case); '/' is kept when slash is true (the path). */
static int encode(struct buf *b, const char *s, size_t n, bool slash)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];

		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
		    (slash && c == '/'))
			rc = buf_addch(b, (char)c);
		else
			rc = buf_addf(b, "%%%02X", c);
	}
	return rc;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes %XX (and nothing else: '+' stays, as AWS treats it) into a new
 * string; NULL on a bad escape. */
static char *decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1);
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			int h = i + 2 < n ? hexval(s[i + 1]) : -1;
			int l = i + 2 < n ? hexval(s[i + 2]) : -1;

			if (h < 0 || l < 0) {
				free(out);
				return NULL;
			}
			out[k++] = (char)(h * 16 + l);
			i += 2;
		} else {
			out[k++] = s[i];
		}
	}
	out[k] = '\0';
	return out;
}

struct param {
	char *name, *value; /* encoded the canonical way */
};

static int param_cmp(const void *a, const void *b)
{
	const struct param *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

/* The canonical query string of q into b. */
static int canonical_query(struct buf *b, const char *q, struct ferry_error *err)
{
	struct param *v = NULL;
	size_t n = 0, alloc = 0, i;
	const char *p = q;
	int rc = 0;

	while (p && *p) {
		const char *end = strchr(p, '&'), *eq;
		char *name, *value;
		struct buf e;

		if (!end)
			end = p + strlen(p);
		if (end == p) {
			p++;
			continue;
		}
		eq = memchr(p, '=', (size_t)(end - p));
		name = decode(p, (size_t)((eq ? eq : end) - p));
		value = eq ? decode(eq + 1, (size_t)(end - eq - 1)) : xstrdup("");
		if (!name || !value) {
			free(name);
			free(value);
			rc = ferry_error_set(err, FERRY_EINVAL, NULL,
			                     "sigv4: bad percent-encoding in the query '%.100s'",
			                     q);
			goto out;
		}
		XGROW(v, alloc, n + 1);
		buf_init(&e, 1 << 16);
		encode(&e, name, strlen(name), false);
		v[n].name = buf_detach(&e, NULL);
		encode(&e, value, strlen(value), false);
		v[n].value = buf_detach(&e, NULL);
		buf_release(&e);
		n++;
		free(name);
		free(value);
		p = *end ? end + 1 : end;
	}
	xqsort(v, n, sizeof(*v), param_cmp);
	for (i = 0; i < n && rc == 0; i++)
		rc = buf_addf(b, "%s%s=%s", i ? "&" : "", v[i].name, v[i].value);
out:
	for (i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
	return rc;
}

struct hdr {
	char *name;  /* lower case */
	char *value; /* trimmed, spaces folded */
};

static int hdr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct hdr *)a)->name, ((const struct hdr *)b)->name);
}

static char *fold(const char *s)
{
	char *out = xmalloc(strlen(s) + 1);
	size_t k = 0;
	bool space = false;

	while (*s == ' ' || *s == '\t')
		s++;
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t') {
			space = true;
			continue;
		}
		if (space && k)
			out[k++] = ' ';
		space = false;
		out[k++] = *s;
	}
	out[k] = '\0';
	return out;
}

/* Canonical headers ("name:value\n"...) into b and the signed list into
 * signed_; repeated names are joined with ',' in the order given. */
static int canonical_headers(const struct sigv4_request *rq, struct buf *b, struct buf *signed_)
{
	struct hdr *h = xcalloc(rq->nheaders ? rq->nheaders : 1, sizeof(*h));
	size_t i, n = 0, k;
	int rc = 0;

	for (i = 0; i < rq->nheaders; i++) {
		char *name = xstrdup(rq->headers[i].name), *value = fold(rq->headers[i].value);

		for (k = 0; name[k]; k++)
			name[k] = (char)tolower((unsigned char)name[k]);
		for (k = 0; k < n && strcmp(h[k].name, name) != 0; k++)
			;
		if (k < n) {
			char *joined = xasprintf("%s,%s", h[k].value, value);

			free(h[k].value);
			h[k].value = joined;
			free(name);
			free(value);
		} else {
			h[n].name = name;
			h[n].value = value;
			n++;
		}
	}
	/* stable enough: names are unique now */
	xqsort(h, n, sizeof(*h), hdr_cmp);
	for (i = 0; i < n && rc == 0; i++) {
		rc = buf_addf(b, "%s:%s\n", h[i].name, h[i].value);
		if (rc == 0)
			rc = buf_addf(signed_, "%s%s", i ? ";" : "", h[i].name);
	}
	for (i = 0; i < n; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
	return rc;
}

static bool date_ok(const char *d)
{
	size_t i;

	if (!d || strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z')
		return false;
	for (i = 0; i < 15; i++)
		if (i != 8 && !isdigit((unsigned char)d[i]))
			return false;
	return true;
}

void sigv4_date(long long t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, outlen, "%Y%m%dT%H%M%SZ", &tm);
}

int sigv4_sign(const struct sigv4_key *key, const struct sigv4_request *rq, const char *amz_date,
               struct buf *authz, struct buf *creq_out, struct ferry_error *err)
{
	unsigned char k[32], k2[32], sig[32];
	char date[9], body_hash[65], creq_hash[65], sighex[65], *kinit = NULL;
	struct buf creq, headers, signed_, sts;
	int rc;

	if (!date_ok(amz_date))
		return ferry_error_set(err, FERRY_EINVAL, NULL, "sigv4: '%s' is not an X-Amz-Date",
		                       amz_date ? amz_date : "");
	if (!key->access_key_id || !key->access_key_id[0] || !key->secret || !key->secret[0] ||
	    !key->region || !key->region[0] || !key->service || !key->service[0])
		return ferry_error_set(
		        err, FERRY_EINVAL,
		        "give the access key ID, the secret access key and the region",
		        "sigv4: missing credentials or region");
	memcpy(date, amz_date, 8);
	date[8] = '\0';
	buf_init(&creq, 1 << 20);
	buf_init(&headers, 1 << 16);
	buf_init(&signed_, 1 << 12);
	buf_init(&sts, 1 << 12);

	/* the canonical request */
	rc = buf_addf(&creq, "%s\n", rq->method);
	if (rc == 0)
		rc = encode(&creq, rq->path && rq->path[0] ? rq->path : "/",
		            rq->path && rq->path[0] ? strlen(rq->path) : 1, true);
	if (rc == 0)
		rc = buf_addch(&creq, '\n');
	if (rc == 0)
		rc = canonical_query(&creq, rq->query, err);
	if (rc == FERRY_EINVAL)
		goto out;
	if (rc == 0)
		rc = buf_addch(&creq, '\n');
	if (rc == 0)
		rc = canonical_headers(rq, &headers, &signed_);
	sha256_hex(rq->body ? rq->body : "", rq->body ? rq->body_len : 0, body_hash);
	if (rc == 0)
		rc = buf_addf(&creq, "%s\n%s\n%s", headers.data, signed_.data, body_hash);
	if (rc < 0)
		goto full;

	/* the string to sign, the key, the signature */
	sha256_hex(creq.data, creq.len, creq_hash);
	rc = buf_addf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, date,
	              key->region, key->service, creq_hash);
	if (rc < 0)
		goto full;
	kinit = xasprintf("AWS4%s", key->secret);
	hmac((unsigned char *)kinit, strlen(kinit), date, strlen(date), k);
	hmac(k, sizeof(k), key->region, strlen(key->region), k2);
	hmac(k2, sizeof(k2), key->service, strlen(key->service), k);
	hmac(k, sizeof(k), "aws4_request", 12, k2);
	hmac(k2, sizeof(k2), sts.data, sts.len, sig);
	hex(sig, sizeof(sig), sighex);
	rc = buf_addf(authz,
	              "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
	              "Signature=%s",
	              key->access_key_id, date, key->region, key->service, signed_.data, sighex);
	if (rc == 0 && creq_out)
		rc = buf_add(creq_out, creq.data, creq.len);
	if (rc < 0)
		goto full;
	rc = 0;
	goto out;
full:
	rc = ferry_error_set(err, FERRY_EPROTO, NULL, "sigv4: the request is too large to sign");
out:
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(k2, sizeof(k2));
	if (kinit)
		xfree_secret(kinit, 0);
	buf_release(&creq);
	buf_release(&headers);
	buf_release(&signed_);
	buf_release(&sts);
	return rc;
}
