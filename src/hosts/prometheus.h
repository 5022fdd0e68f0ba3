/*
 * prometheus.h - one number from a Prometheus server, for the rollback
 * trigger `rollback.when.prometheus` (core/trigger.h judges it).
 *
 * prometheus_query() asks the HTTP API for an instant query
 * (GET BASE/api/v1/query?query=Q, https://prometheus.io/docs/prometheus/
 * latest/querying/api/#instant-queries) and reduces the reply to one finite
 * double; prometheus_parse() is that reduction alone, so that hostile or
 * odd replies can be tested without a server.  The monitor loop calls
 * prometheus_query() once a second, so both are cheap and bounded: the
 * reply is read into a struct buf of at most PROMETHEUS_MAX_REPLY bytes and
 * jansson's parser limits nesting (JSON_PARSER_MAX_DEPTH).
 *
 * Nothing here keeps state or owns memory past a call.
 */
#ifndef FERRY_HOSTS_PROMETHEUS_H
#define FERRY_HOSTS_PROMETHEUS_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* A reply that passes this is refused: one number fits in a few hundred
 * bytes, and a query that returns thousands of series is a mistake. */
#define PROMETHEUS_MAX_REPLY (1024 * 1024)

/*
 * Reduces an API reply (json, len bytes, need not be NUL-terminated) to one
 * number.  Accepts {"status":"success","data":{"resultType":"vector",
 * "result":[ONE SAMPLE]}} (its value) or resultType "scalar" (its value),
 * a value being [TIMESTAMP, "DECIMAL"].  Returns 0 and sets *value, or:
 *  FERRY_ENOTFOUND  an empty vector ("the query returned no sample");
 *  FERRY_EINVAL     several series, a range vector (matrix) or a string, a
 *                   value that is NaN or infinite, status "error" with
 *                   errorType "bad_data" (the query is wrong);
 *  FERRY_ETIMEDOUT  status "error" with errorType "timeout";
 *  FERRY_EREFUSED   any other status "error";
 *  FERRY_EPROTO     anything else: not JSON, truncated, too deep, longer
 *                   than PROMETHEUS_MAX_REPLY, a field of the wrong type.
 * For a status "error" the message carries the API's "error" text (control
 * characters replaced, truncated).  Messages do not name the server or the
 * query: prometheus_query() prefixes them.  *value is untouched on error.
 */
int prometheus_parse(const char *json, size_t len, double *value, struct ferry_error *err);

/*
 * Runs query on the server at base_url (http://HOST:PORT, or with a path
 * prefix: http://HOST/prometheus; a trailing '/' is allowed) as an instant
 * query at the server's current time, with timeout_ms bounding the whole
 * request.  Returns 0 and sets *value, or the codes of prometheus_parse(),
 * or those of hosts_http_get(): FERRY_EINVAL for a bad URL, FERRY_EUNREACH
 * when the server cannot be reached, FERRY_ETIMEDOUT, FERRY_EPROTO for a
 * reply that is too big or not the API's (an HTTP status other than 2xx
 * with a body that is not an API error).  Messages start with
 * "prometheus 'QUERY': "; those about the connection name the URL (without
 * its user and password).
 */
int prometheus_query(const char *base_url, const char *query, int64_t timeout_ms, double *value,
                     struct ferry_error *err);

#endif
