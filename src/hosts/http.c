/*
 * http.c - see http.h.  One easy handle per check: the URL is parsed with
 * curl_url() to find the host and port for CURLOPT_RESOLVE; curl's error
 * buffer gives the reason when no response came.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "hosts/http.h"
#include "util/mem.h"

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * n;
}

int hosts_http_check(const char *url, const char *address, const char *ca_file,
                     int64_t connect_timeout_ms, int64_t timeout_ms, struct hosts_http_result *res,
                     struct ferry_error *err)
{
	static bool inited;
	char errbuf[CURL_ERROR_SIZE] = "";
	char *host = NULL, *port = NULL, *scheme = NULL, *pin = NULL;
	struct curl_slist *resolve = NULL;
	CURLU *u = NULL;
	CURL *c = NULL;
	CURLcode cr;
	curl_off_t total = 0;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	if (!inited) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return ferry_error_set(err, FERRY_EIO, NULL,
			                       "health %s: cannot set up curl", url);
		inited = true;
	}
	u = curl_url();
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
		rc = ferry_error_set(err, FERRY_EINVAL, "write a full URL: https://NAME/PATH",
		                     "health %s: not a URL", url);
		goto out;
	}
	res->tls = !strcmp(scheme, "https");
	c = curl_easy_init();
	if (!c) {
		rc = ferry_error_set(err, FERRY_EIO, NULL, "health %s: cannot set up curl", url);
		goto out;
	}
	if (address) {
		/* CURLOPT_RESOLVE: "HOST:PORT:ADDRESS", an IPv6 address bracketed */
		bool v6 = strchr(address, ':') != NULL;

		pin = xasprintf("%s:%s:%s%s%s", host, port, v6 ? "[" : "", address, v6 ? "]" : "");
		resolve = curl_slist_append(NULL, pin);
		if (!resolve) {
			rc = ferry_error_set(err, FERRY_EIO, NULL, "health %s: out of memory", url);
			goto out;
		}
		curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "ferry-health-check");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	cr = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &total);
	res->latency_ms = (int64_t)(total / 1000);
	if (cr != CURLE_OK) {
		snprintf(res->error, sizeof(res->error), "%s",
		         errbuf[0] ? errbuf : curl_easy_strerror(cr));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
	res->tls_verified = res->tls;
out:
	if (c)
		curl_easy_cleanup(c);
	curl_slist_free_all(resolve);
	free(pin);
	curl_free(scheme);
	curl_free(port);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

int hosts_http_post_json(const char *url, const char *body, int64_t timeout_ms, long *status,
                         struct ferry_error *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	char shown[512];
	struct curl_slist *hdr = NULL;
	CURLcode cc;
	CURL *c;

	hosts_http_origin(url, shown, sizeof(shown));
	c = curl_easy_init();
	if (!c)
		return ferry_error_set(err, FERRY_EIO, NULL, "webhook %s: cannot set up libcurl",
		                       shown);
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "ferry-hook");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	cc = curl_easy_perform(c);
	*status = 0;
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK)
		return ferry_error_set(err, FERRY_EUNREACH, "check the hook's URL in the plan",
		                       "webhook %s: %s", shown,
		                       errbuf[0] ? errbuf : curl_easy_strerror(cc));
	return 0;
}

void hosts_http_origin(const char *url, char *out, size_t size)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;

	/* RFC 3986 §3: scheme "://" authority; the userinfo, path, query and
	 * fragment are left out, as any of them may hold a token */
	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
			port = NULL;
		snprintf(out, size, "%s://%s%s%s", scheme, host, port ? ":" : "", port ? port : "");
	} else {
		snprintf(out, size, "(a URL that cannot be parsed)");
	}
	curl_free(port);
	curl_free(host);
	curl_free(scheme);
	curl_url_cleanup(u);
}

struct get_sink {
	struct buf *body;
	bool too_big;
};

/* Returning less than size * n makes curl stop with CURLE_WRITE_ERROR. */
static size_t keep(char *p, size_t size, size_t n, void *ctx)
{
	struct get_sink *sink = ctx;

	if (buf_add(sink->body, p, size * n) < 0) {
		sink->too_big = true;
		return 0;
	}
	return size * n;
}

/* Frees a header list after wiping it: a header may carry an API key. */
static void headers_free(struct curl_slist *h)
{
	struct curl_slist *i;

	for (i = h; i; i = i->next)
		explicit_bzero(i->data, strlen(i->data));
	curl_slist_free_all(h);
}

int hosts_http_request(const struct hosts_http_request *rq, long *status, struct buf *body,
                       struct ferry_error *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	char shown[512];
	struct get_sink sink = { body, false };
	struct curl_slist *hdr = NULL, *next;
	const char *method = rq->method ? rq->method : "GET", *why;
	size_t i;
	CURLcode cc;
	CURL *c;
	int code;

	*status = 0;
	hosts_http_origin(rq->url, shown, sizeof(shown));
	c = curl_easy_init();
	if (!c)
		return ferry_error_set(err, FERRY_EIO, NULL, "%s %s: cannot set up libcurl", method,
		                       shown);
	for (i = 0; rq->headers && rq->headers[i]; i++) {
		next = curl_slist_append(hdr, rq->headers[i]);
		if (!next) {
			headers_free(hdr);
			curl_easy_cleanup(c);
			return ferry_error_set(err, FERRY_EIO, NULL, "%s %s: out of memory", method,
			                       shown);
		}
		hdr = next;
	}
	curl_easy_setopt(c, CURLOPT_URL, rq->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (rq->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, rq->ca_file);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)rq->timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)rq->timeout_ms);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "ferry");
	if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (rq->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	headers_free(hdr);
	if (cc == CURLE_OK)
		return 0;
	why = errbuf[0] ? errbuf : curl_easy_strerror(cc);
	if (sink.too_big)
		return ferry_error_set(err, FERRY_EPROTO, "is this the right URL?",
		                       "%s %s: the reply is larger than %zu bytes", method, shown,
		                       body->max);
	switch (cc) {
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return ferry_error_set(err, FERRY_EINVAL, "write a full URL: http://HOST:PORT",
		                       "%s %s: %s", method, shown, why);
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT: code = FERRY_EUNREACH; break;
	case CURLE_OPERATION_TIMEDOUT: code = FERRY_ETIMEDOUT; break;
	default: code = FERRY_EPROTO; break;
	}
	return ferry_error_set(err, code, "check that the server runs and the URL in the plan",
	                       "%s %s: %s", method, shown, why);
}

int hosts_http_get(const char *url, int64_t timeout_ms, long *status, struct buf *body,
                   struct ferry_error *err)
{
	struct hosts_http_request rq = { .url = url, .timeout_ms = timeout_ms };

	return hosts_http_request(&rq, status, body, err);
}

int hosts_http_url_split(const char *url, char **host, char **path, struct ferry_error *err)
{
	char *h = NULL, *port = NULL, *p = NULL;
	CURLU *u = curl_url();
	int rc = 0;

	*host = *path = NULL;
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &p, 0) != CURLUE_OK) {
		char shown[512];

		hosts_http_origin(url, shown, sizeof(shown));
		rc = ferry_error_set(err, FERRY_EINVAL, "write a full URL: https://HOST[:PORT]",
		                     "%s: not a URL", shown);
		goto out;
	}
	/* curl sends the port in Host only when it is not the scheme's
	 * default (RFC 9110 §7.2); CURLU_NO_DEFAULT_PORT answers just that. */
	if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_NO_DEFAULT_PORT) == CURLUE_OK && port)
		*host = xasprintf("%s:%s", h, port);
	else
		*host = xstrdup(h);
	*path = xstrdup(p);
out:
	curl_free(h);
	curl_free(port);
	curl_free(p);
	curl_url_cleanup(u);
	return rc;
}

char *hosts_http_url_query(const char *url, const char *name, const char *value,
                           struct ferry_error *err)
{
	CURLU *u = curl_url();
	char *param = xasprintf("%s=%s", name, value);
	char *s = NULL, *out = NULL;

	/* With CURLU_APPENDQUERY, CURLU_URLENCODE leaves the first '=' alone
	 * and encodes the rest (curl_url_set(3)). */
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_QUERY, param, CURLU_APPENDQUERY | CURLU_URLENCODE) !=
	            CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &s, 0) != CURLUE_OK) {
		char shown[512];

		hosts_http_origin(url, shown, sizeof(shown));
		ferry_error_set(err, FERRY_EINVAL, "write a full URL: http://HOST:PORT",
		                "%s: not a URL", shown);
		goto out;
	}
	out = xstrdup(s);
out:
	curl_free(s);
	curl_url_cleanup(u);
	free(param);
	return out;
}
