/*
 * http.h - HTTP health checks against a chosen address, under the real name.
 *
 * Before DNS or the load balancer send the new server anything, ferry asks
 * it directly: hosts_http_check() fetches a URL (https://www.shop.test/healthz)
 * with its host name pinned to the given address (libcurl CURLOPT_RESOLVE
 * "host:port:address"), so SNI, the Host header and the certificate check
 * all use the real name while the packets go to the new host.  The same
 * call against the old address gives the comparison.
 *
 * Redirects are not followed (the status is the answer); proxies from the
 * environment are not used; the body is read and discarded.  TLS is
 * verified against ca_file or the system store.  This is the only file
 * that includes libcurl headers.
 *
 * hosts_http_get() is the other read: a bounded GET whose body the caller
 * wants (the Prometheus API, hosts/prometheus.c), and hosts_http_url_query()
 * builds its URL with a query parameter encoded by curl (RFC 3986 2.1).
 * hosts_http_request() is the general form (method, headers, body) that
 * the DNS providers' APIs go through (dns/powerdns.c, dns/route53.c).
 */
#ifndef FERRY_HOSTS_HTTP_H
#define FERRY_HOSTS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/error.h"

struct hosts_http_result {
	long status;        /* the HTTP status, 0 when no response came */
	int64_t latency_ms; /* the whole request */
	bool tls;           /* the URL is https */
	bool tls_verified;  /* https and the certificate verified for the name */
	char error[256];    /* curl's reason when no response came */
};

/*
 * Fetches url with its host pinned to address (an IP literal; NULL: resolve
 * normally).  ca_file may be NULL.  Returns 0 whatever the server did (res
 * says it), FERRY_EINVAL for a URL curl cannot parse, FERRY_EIO when curl
 * cannot be set up.
 */
int hosts_http_check(const char *url, const char *address, const char *ca_file,
                     int64_t connect_timeout_ms, int64_t timeout_ms, struct hosts_http_result *res,
                     struct ferry_error *err);

/*
 * POSTs body (JSON) to url, for the plan's webhooks.  Sets *status to the
 * HTTP status.  Returns 0 whenever a response came (the caller judges the
 * status), FERRY_EUNREACH when none did (err says why), FERRY_EIO when
 * curl cannot be set up.  Messages name the URL by its origin only.
 */
int hosts_http_post_json(const char *url, const char *body, int64_t timeout_ms, long *status,
                         struct ferry_error *err);

/*
 * GETs url (http or https; no redirects, no proxy, TLS verified against the
 * system store) and appends the response body to body, whose max bounds it.
 * timeout_ms bounds the whole request, connecting included.  Sets *status
 * to the HTTP status (0 when no response came).  Returns 0 whenever a whole
 * response came, whatever its status (the caller judges it);
 * FERRY_EINVAL for a URL curl cannot parse or a scheme other than http(s);
 * FERRY_EUNREACH when the server could not be reached (refused, no route,
 * name unknown); FERRY_ETIMEDOUT when timeout_ms passed; FERRY_EPROTO when
 * the body would pass body->max (body then holds what fit) or the
 * exchange broke; FERRY_EIO when curl cannot be set up.  Messages name the
 * URL by its origin only (hosts_http_origin).
 */
int hosts_http_get(const char *url, int64_t timeout_ms, long *status, struct buf *body,
                   struct ferry_error *err);

/*
 * One HTTP request whose reply body the caller wants (the DNS providers'
 * APIs: PowerDNS, Route 53).  method NULL means GET; headers are "Name:
 * value" strings, NULL-terminated (NULL: none), and may carry a secret
 * (X-API-Key, Authorization): curl's copies are wiped after the request,
 * the caller wipes its own.  body (body_len bytes) is sent as is; an
 * "Expect:" header avoids curl's 100-continue wait.  No redirects, no
 * proxy, TLS verified against ca_file or the system store.  Returns and
 * fills as hosts_http_get(), whose errors name the method and the URL.
 */
struct hosts_http_request {
	const char *method;
	const char *url;
	const char *const *headers;
	const char *body;
	size_t body_len;
	int64_t timeout_ms;
	const char *ca_file;
};
int hosts_http_request(const struct hosts_http_request *rq, long *status, struct buf *body,
                       struct ferry_error *err);

/*
 * Splits url into *host ("HOST" or "HOST:PORT" when a port is written:
 * what curl sends as Host, which AWS signs) and *path ("/" at least),
 * both new strings the caller frees.  FERRY_EINVAL when curl cannot parse
 * it.
 */
int hosts_http_url_split(const char *url, char **host, char **path, struct ferry_error *err);

/*
 * Returns url with "name=value" appended to its query ('&' between
 * parameters), value percent-encoded by curl (CURLU_URLENCODE), in a new
 * string the caller frees.  NULL when url cannot be parsed (err says so,
 * FERRY_EINVAL).
 */
char *hosts_http_url_query(const char *url, const char *name, const char *value,
                           struct ferry_error *err);

/*
 * The URL as ferry prints it anywhere (messages, the journal, the report):
 * "scheme://host[:port]" into out, without the user, password, path, query
 * and fragment, where a webhook or an API keeps its token.  "(a URL that
 * cannot be parsed)" when curl cannot parse it.
 */
void hosts_http_origin(const char *url, char *out, size_t size);

#endif
