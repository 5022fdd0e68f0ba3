/*
 * prometheus.c - see prometheus.h.  Two parts: prometheus_parse() walks the
 * API's JSON with jansson, checking the type of every field it touches
 * before it reads it (a reply is outside data); prometheus_query() builds
 * the URL (hosts_http_url_query: curl encodes the query), GETs it into a
 * bounded buffer (hosts_http_get) and hands the body to the parser.
 *
 * Prometheus answers a bad query with HTTP 400 and a JSON body
 * {"status":"error","errorType":"bad_data","error":"..."}, so the body is
 * parsed whatever the HTTP status; only a non-2xx reply that is not such a
 * body becomes "HTTP NNN".
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hosts/http.h"
#include "hosts/prometheus.h"
#include "util/buf.h"
#include "util/mem.h"

#define API_HINT "check that the URL is a Prometheus server's (http://HOST:9090)"

/* Copies s into out for a message: printable ASCII kept, anything else
 * (terminal escapes, newlines from a hostile server) shown as '?'. */
static void clean_text(const char *s, char *out, size_t size)
{
	size_t i = 0;

	for (; *s && i + 1 < size; s++, i++)
		out[i] = isprint((unsigned char)*s) ? *s : '?';
	out[i] = '\0';
}

/* A sample's value: [TIMESTAMP, "DECIMAL"].  Prometheus writes floats as
 * Go's strconv.FormatFloat(v, 'f', -1, 64), and "NaN", "+Inf", "-Inf". */
static int parse_value(json_t *pair, double *value, struct ferry_error *err)
{
	json_t *ts, *v;
	const char *s;
	char *end;
	char shown[64];
	double d;

	if (!json_is_array(pair) || json_array_size(pair) != 2)
		return ferry_error_set(err, FERRY_EPROTO, API_HINT,
		                       "a sample's value is not [timestamp, \"number\"]");
	ts = json_array_get(pair, 0);
	v = json_array_get(pair, 1);
	if (!json_is_number(ts) || !json_is_string(v))
		return ferry_error_set(err, FERRY_EPROTO, API_HINT,
		                       "a sample's value is not [timestamp, \"number\"]");
	s = json_string_value(v);
	clean_text(s, shown, sizeof(shown));
	errno = 0;
	d = strtod(s, &end);
	/* strtod skips leading blanks and takes hex: the API writes neither */
	if (!*s || isspace((unsigned char)*s) || *end || end == s || errno == ERANGE)
		return ferry_error_set(err, FERRY_EPROTO, API_HINT,
		                       "the sample's value \"%s\" is not a number", shown);
	if (!isfinite(d))
		return ferry_error_set(err, FERRY_EINVAL,
		                       "write a query that yields a finite number, e.g. guard a "
		                       "ratio against division by zero",
		                       "the query yields %s, which cannot be compared with the "
		                       "threshold",
		                       shown);
	*value = d;
	return 0;
}

static int parse_api_error(json_t *root, struct ferry_error *err)
{
	json_t *type = json_object_get(root, "errorType");
	json_t *text = json_object_get(root, "error");
	const char *t = json_is_string(type) ? json_string_value(type) : "";
	char shown[320];
	int code = FERRY_EREFUSED;

	clean_text(json_is_string(text) ? json_string_value(text) : "(no error text)", shown,
	           sizeof(shown));
	if (!strcmp(t, "bad_data"))
		code = FERRY_EINVAL;
	else if (!strcmp(t, "timeout"))
		code = FERRY_ETIMEDOUT;
	return ferry_error_set(err, code,
	                       code == FERRY_EINVAL
	                               ? "fix rollback.when.prometheus.query in the plan"
	                               : "check the Prometheus server",
	                       "the server refused the query: %s", shown);
}

int prometheus_parse(const char *json, size_t len, double *value, struct ferry_error *err)
{
	json_error_t jerr;
	json_t *root, *status, *data, *type, *result;
	const char *t;
	size_t n;
	int rc;

	if (len > PROMETHEUS_MAX_REPLY)
		return ferry_error_set(err, FERRY_EPROTO, API_HINT,
		                       "the reply is %zu bytes, more than the %d allowed", len,
		                       PROMETHEUS_MAX_REPLY);
	/* JSON_REJECT_DUPLICATES: a reply with two "status" keys is not the
	 * API's; JSON_ALLOW_NUL is left off. */
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		char shown[160];

		clean_text(jerr.text, shown, sizeof(shown));
		return ferry_error_set(err, FERRY_EPROTO, API_HINT,
		                       "the reply is not JSON (%s, at byte %d)", shown,
		                       jerr.position);
	}
	rc = FERRY_EPROTO;
	status = json_object_get(root, "status");
	if (!json_is_object(root) || !json_is_string(status)) {
		ferry_error_set(err, rc, API_HINT, "the reply has no \"status\"");
		goto out;
	}
	if (!strcmp(json_string_value(status), "error")) {
		rc = parse_api_error(root, err);
		goto out;
	}
	if (strcmp(json_string_value(status), "success") != 0) {
		char shown[64];

		clean_text(json_string_value(status), shown, sizeof(shown));
		ferry_error_set(err, rc, API_HINT, "the reply's status is \"%s\"", shown);
		goto out;
	}
	data = json_object_get(root, "data");
	type = json_object_get(data, "resultType"); /* NULL-safe, and for a non-object */
	result = json_object_get(data, "result");
	if (!json_is_object(data) || !json_is_string(type) || !result) {
		ferry_error_set(err, rc, API_HINT,
		                "the reply has no data.resultType and data.result");
		goto out;
	}
	t = json_string_value(type);
	if (!strcmp(t, "scalar")) {
		rc = parse_value(result, value, err);
		goto out;
	}
	if (!strcmp(t, "matrix") || !strcmp(t, "string")) {
		rc = ferry_error_set(err, FERRY_EINVAL,
		                     "write an instant query that yields one number, e.g. "
		                     "sum(rate(http_requests_total{code=~\"5..\"}[1m]))",
		                     "the query returns a %s, not a number",
		                     t[0] == 'm' ? "range vector" : "string");
		goto out;
	}
	if (strcmp(t, "vector") != 0 || !json_is_array(result)) {
		char shown[64];

		clean_text(t, shown, sizeof(shown));
		ferry_error_set(err, rc, API_HINT, "the reply's resultType \"%s\" is unknown",
		                shown);
		goto out;
	}
	n = json_array_size(result);
	if (n == 0) {
		rc = ferry_error_set(err, FERRY_ENOTFOUND,
		                     "check the metric's name and labels, or wrap it so that it "
		                     "always yields a number: sum(...) or (... or vector(0))",
		                     "the query returned no sample");
		goto out;
	}
	if (n > 1) {
		rc = ferry_error_set(
		        err, FERRY_EINVAL, "fix rollback.when.prometheus.query in the plan",
		        "the query returns %zu series; aggregate it (e.g. sum(...)) so it "
		        "yields one number",
		        n);
		goto out;
	}
	if (!json_is_object(json_array_get(result, 0))) {
		ferry_error_set(err, rc, API_HINT, "the sample is not an object");
		goto out;
	}
	rc = parse_value(json_object_get(json_array_get(result, 0), "value"), value, err);
out:
	json_decref(root);
	return rc;
}

int prometheus_query(const char *base_url, const char *query, int64_t timeout_ms, double *value,
                     struct ferry_error *err)
{
	struct buf body;
	char *base, *url = NULL;
	size_t n;
	long status = 0;
	int rc;

	buf_init(&body, PROMETHEUS_MAX_REPLY);
	/* BASE/api/v1/query, whether BASE ends in '/' or not */
	base = xstrdup(base_url);
	n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		base[--n] = '\0';
	url = xasprintf("%s/api/v1/query", base);
	free(base);
	base = url;
	url = hosts_http_url_query(base, "query", query, err);
	free(base);
	if (!url) {
		rc = FERRY_EINVAL;
		goto out;
	}
	rc = hosts_http_get(url, timeout_ms, &status, &body, err);
	if (rc < 0)
		goto out;
	rc = prometheus_parse(body.data, body.len, value, err);
	/* A 5xx or a 404 with a body that is not the API's says more as a
	 * status than as "not JSON". */
	if (rc == FERRY_EPROTO && (status < 200 || status > 299))
		rc = ferry_error_set(err, FERRY_EPROTO, API_HINT,
		                     "HTTP %ld from the server, not an API reply", status);
out:
	if (rc < 0)
		ferry_error_prefix(err, "prometheus '%.120s'", query);
	free(url);
	buf_release(&body);
	return rc;
}
