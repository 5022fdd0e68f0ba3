/*
 * test_prom_it.c - prometheus_query() against a real Prometheus that
 * prom.sh started (FERRY_TEST_PROM_URL), scraping itself as job "self":
 * one series, a sum, a scalar, a query encoded with spaces and '+', no
 * sample, several series, a range vector, a syntax error whose text comes
 * from the server, a URL that is not the API, and a port nobody listens on
 * (FERRY_TEST_PROM_DEAD_URL), which must fail fast.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "hosts/prometheus.h"

#define TIMEOUT_MS 5000
#define SENTINEL   -12345.0

static const char *url(void)
{
	const char *u = getenv("FERRY_TEST_PROM_URL");

	if (!u)
		fail_msg("FERRY_TEST_PROM_URL is not set: run through prom.sh");
	return u;
}

static int query(const char *base, const char *q, double *v, struct ferry_error *err)
{
	*v = SENTINEL;
	memset(err, 0, sizeof(*err));
	return prometheus_query(base, q, TIMEOUT_MS, v, err);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_one_series(void **state)
{
	struct ferry_error err;
	double v;

	(void)state;
	if (query(url(), "up{job=\"self\"}", &v, &err) != 0)
		fail_msg("%s", err.msg);
	assert_true(v == 1.0);
}

static void test_sum_scalar_and_encoding(void **state)
{
	struct ferry_error err;
	char base[512];
	double v;

	(void)state;
	if (query(url(), "sum(up)", &v, &err) != 0)
		fail_msg("%s", err.msg);
	assert_true(v == 1.0);
	/* resultType "scalar" */
	if (query(url(), "scalar(sum(up))", &v, &err) != 0)
		fail_msg("%s", err.msg);
	assert_true(v == 1.0);
	/* spaces, '+', '&' and '#' must reach the server as written; a
	 * trailing '/' on the base URL is fine */
	snprintf(base, sizeof(base), "%s/", url());
	if (query(base, "sum(up{job=\"self\"}) + 2 * count(up{job=~\"s.*&#\"} or vector(1))", &v,
	          &err) != 0)
		fail_msg("%s", err.msg);
	assert_true(v == 3.0);
	/* a number a trigger would use: a rate over the last few scrapes */
	if (query(url(), "sum(rate(prometheus_http_requests_total[1m])) >= 0 or vector(0)", &v,
	          &err) != 0)
		fail_msg("%s", err.msg);
	assert_true(v >= 0.0);
}

static void test_no_sample(void **state)
{
	struct ferry_error err;
	double v;

	(void)state;
	assert_int_equal(query(url(), "up{job=\"nobody\"}", &v, &err), FERRY_ENOTFOUND);
	assert_string_equal(err.msg,
	                    "prometheus 'up{job=\"nobody\"}': the query returned no sample");
	assert_true(v == SENTINEL);
}

static void test_several_series(void **state)
{
	struct ferry_error err;
	double v;

	(void)state;
	assert_int_equal(query(url(), "{__name__=~\"prometheus_build_info|up\"}", &v, &err),
	                 FERRY_EINVAL);
	assert_non_null(
	        strstr(err.msg, "the query returns 2 series; aggregate it (e.g. sum(...))"));
	assert_true(v == SENTINEL);
}

static void test_range_vector(void **state)
{
	struct ferry_error err;
	double v;

	(void)state;
	assert_int_equal(query(url(), "up[1m]", &v, &err), FERRY_EINVAL);
	assert_non_null(strstr(err.msg, "range vector"));
}

static void test_syntax_error(void **state)
{
	struct ferry_error err;
	double v;

	(void)state;
	assert_int_equal(query(url(), "sum(up{job=\"self\"", &v, &err), FERRY_EINVAL);
	/* the server's own words: 'invalid parameter "query": 1:18: parse error: ...' */
	if (!strstr(err.msg, "the server refused the query: invalid parameter \"query\"") ||
	    !strstr(err.msg, "parse error"))
		fail_msg("unexpected message: %s", err.msg);
	assert_true(v == SENTINEL);
}

static void test_not_the_api(void **state)
{
	struct ferry_error err;
	char base[512];
	double v;

	(void)state;
	/* /metrics/api/v1/query is a 404 with a text body */
	snprintf(base, sizeof(base), "%s/metrics", url());
	assert_int_equal(query(base, "up", &v, &err), FERRY_EPROTO);
	assert_non_null(strstr(err.msg, "HTTP 404"));
	assert_int_equal(query("ftp://127.0.0.1:1", "up", &v, &err), FERRY_EINVAL);
	assert_int_equal(query("not a url", "up", &v, &err), FERRY_EINVAL);
}

static void test_unreachable(void **state)
{
	const char *dead = getenv("FERRY_TEST_PROM_DEAD_URL");
	struct ferry_error err;
	int64_t t0, took;
	double v;

	(void)state;
	assert_non_null(dead);
	t0 = now_ms();
	assert_int_equal(query(dead, "up", &v, &err), FERRY_EUNREACH);
	took = now_ms() - t0;
	/* refused on loopback: far below the timeout */
	if (took > 500)
		fail_msg("unreachable took %lld ms", (long long)took);
	assert_non_null(strstr(err.msg, "prometheus 'up': GET http://127.0.0.1:"));
	assert_true(v == SENTINEL);
}

static void test_no_credentials_in_messages(void **state)
{
	const char *dead = getenv("FERRY_TEST_PROM_DEAD_URL");
	struct ferry_error err;
	char base[512];
	double v;

	(void)state;
	assert_non_null(dead);
	assert_int_equal(strncmp(dead, "http://", 7), 0);
	snprintf(base, sizeof(base), "http://ferry:s3cr3t-pw@%s", dead + 7);
	assert_int_equal(query(base, "up", &v, &err), FERRY_EUNREACH);
	if (strstr(err.msg, "s3cr3t") || strstr(err.hint, "s3cr3t"))
		fail_msg("password in the message: %s", err.msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_series),
		cmocka_unit_test(test_sum_scalar_and_encoding),
		cmocka_unit_test(test_no_sample),
		cmocka_unit_test(test_several_series),
		cmocka_unit_test(test_range_vector),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_not_the_api),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_no_credentials_in_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
