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
	struct curl_slist *hdr = NULL;
	CURLcode cc;
	CURL *c;

	c = curl_easy_init();
	if (!c)
		return ferry_error_set(err, FERRY_EIO, NULL, "webhook %s: cannot set up libcurl",
		                       url);
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
		                       "webhook %s: %s", url,
		                       errbuf[0] ? errbuf : curl_easy_strerror(cc));
	return 0;
}
