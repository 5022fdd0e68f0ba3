/*
 * test_prometheus.c - prometheus_parse() (hosts/prometheus.c) on replies of
 * the Prometheus HTTP API as servers write them, and on hostile ones: each
 * reply must give the one number, or the documented code and a message an
 * operator can act on, and never a crash (run it under ASan too).  And
 * the URL as messages show it (hosts/http.c): scheme://host only, whatever
 * token its userinfo, path or query hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hosts/http.h"
#include "hosts/prometheus.h"
#include "util/buf.h"

#define SENTINEL -12345.0

/* Parses s; returns the code and leaves the value in *v (SENTINEL if untouched). */
static int parse(const char *s, double *v, struct ferry_error *err)
{
	*v = SENTINEL;
	memset(err, 0, sizeof(*err));
	return prometheus_parse(s, strlen(s), v, err);
}

static void test_vector_one_sample(void **state)
{
	struct ferry_error err;
	double v;

	(void)state;
	assert_int_equal(parse("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
	                       "\"result\":[{\"metric\":{\"__name__\":\"up\",\"job\":\"self\"},"
	                       "\"value\":[1764138000.123,\"1.5\"]}]}}",
	                       &v, &err),
	                 0);
	assert_true(v == 1.5);
	assert_int_equal(err.code, 0); /* untouched on success */
	/* integers, exponents and negatives as Go writes them */
	assert_int_equal(parse("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
	                       "\"result\":[{\"metric\":{},\"value\":[1764138000,\"-2.5e-05\"]}]},"
	                       "\"warnings\":[\"x\"]}",
	                       &v, &err),
	                 0);
	assert_true(v == -2.5e-05);
}

static void test_scalar(void **state)
{
	struct ferry_error err;
	double v;

	(void)state;
	assert_int_equal(parse("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
	                       "\"result\":[1764138000.5,\"42\"]}}",
	                       &v, &err),
	                 0);
	assert_true(v == 42.0);
}

static void test_empty_vector(void **state)
{
	struct ferry_error err;
	double v;

	(void)state;
	assert_int_equal(parse("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
	                       "\"result\":[]}}",
	                       &v, &err),
	                 FERRY_ENOTFOUND);
	assert_string_equal(err.msg, "the query returned no sample");
	assert_non_null(strstr(err.hint, "sum(...)"));
	assert_true(v == SENTINEL);
}

static void test_several_series(void **state)
{
	struct ferry_error err;
	double v;

	(void)state;
	assert_int_equal(parse("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
	                       "\"result\":[{\"metric\":{\"job\":\"a\"},\"value\":[1,\"1\"]},"
	                       "{\"metric\":{\"job\":\"b\"},\"value\":[1,\"0\"]},"
	                       "{\"metric\":{\"job\":\"c\"},\"value\":[1,\"1\"]}]}}",
	                       &v, &err),
	                 FERRY_EINVAL);
	assert_string_equal(err.msg, "the query returns 3 series; aggregate it (e.g. sum(...)) so "
	                             "it yields one number");
	assert_true(v == SENTINEL);
}

static void test_error_status(void **state)
{
	struct ferry_error err;
	double v;

	(void)state;
	/* what Prometheus 2.42 answers to "up{" (HTTP 400) */
	assert_int_equal(
	        parse("{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":"
	              "\"invalid parameter \\\"query\\\": 1:4: parse error: unexpected end "
	              "of input inside braces\"}",
	              &v, &err),
	        FERRY_EINVAL);
	assert_string_equal(err.msg, "the server refused the query: invalid parameter \"query\": "
	                             "1:4: parse error: unexpected end of input inside braces");
	assert_int_equal(parse("{\"status\":\"error\",\"errorType\":\"timeout\",\"error\":\"query "
	                       "timed out in expression evaluation\"}",
	                       &v, &err),
	                 FERRY_ETIMEDOUT);
	assert_int_equal(parse("{\"status\":\"error\",\"errorType\":\"execution\",\"error\":"
	                       "\"a\\u001b[31mb\\nc\"}",
	                       &v, &err),
	                 FERRY_EREFUSED);
	/* a terminal escape and a newline from the server do not reach the message */
	assert_string_equal(err.msg, "the server refused the query: a?[31mb?c");
	assert_int_equal(parse("{\"status\":\"error\",\"error\":42}", &v, &err), FERRY_EREFUSED);
	assert_int_equal(parse("{\"status\":\"pending\"}", &v, &err), FERRY_EPROTO);
	assert_true(v == SENTINEL);
}

static void test_not_finite(void **state)
{
	static const char *const bad[] = { "NaN", "+Inf", "-Inf" };
	struct ferry_error err;
	char json[256];
	double v;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(json, sizeof(json),
		         "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
		         "\"result\":[{\"metric\":{},\"value\":[1,\"%s\"]}]}}",
		         bad[i]);
		assert_int_equal(parse(json, &v, &err), FERRY_EINVAL);
		assert_non_null(strstr(err.msg, bad[i]));
		assert_true(v == SENTINEL);
	}
	snprintf(json, sizeof(json),
	         "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
	         "\"result\":[1,\"NaN\"]}}");
	assert_int_equal(parse(json, &v, &err), FERRY_EINVAL);
}

static void test_wrong_types(void **state)
{
	static const char *const replies[] = {
		"[]",
		"\"success\"",
		"{}",
		"{\"status\":1}",
		"{\"status\":\"success\"}",
		"{\"status\":\"success\",\"data\":[]}",
		"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\"}}",
		"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":{}}}",
		"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[1]}}",
		"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{}]}}",
		"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
		"\"result\":[{\"value\":[1,1.5]}]}}",
		"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
		"\"result\":[{\"value\":[\"1\",\"1.5\"]}]}}",
		"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
		"\"result\":[{\"value\":[1,\"1.5\",3]}]}}",
		"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
		"\"result\":[{\"value\":[1,\"\"]}]}}",
		"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
		"\"result\":[{\"value\":[1,\" 1\"]}]}}",
		"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
		"\"result\":[{\"value\":[1,\"1.5x\"]}]}}",
		"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
		"\"result\":[{\"value\":[1,\"1e999\"]}]}}",
		"{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":\"1\"}}",
		"{\"status\":\"success\",\"data\":{\"resultType\":\"table\",\"result\":[]}}",
		"{\"status\":\"success\",\"status\":\"error\"}", /* duplicate key */
	};
	struct ferry_error err;
	double v;

	(void)state;
	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		int rc = parse(replies[i], &v, &err);

		if (rc != FERRY_EPROTO)
			fail_msg("reply %zu (%s): %d, not FERRY_EPROTO", i, replies[i], rc);
		assert_true(err.msg[0] != '\0');
		assert_true(v == SENTINEL);
	}
}

static void test_range_and_string(void **state)
{
	struct ferry_error err;
	double v;

	(void)state;
	assert_int_equal(parse("{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\","
	                       "\"result\":[{\"metric\":{},\"values\":[[1,\"1\"],[2,\"1\"]]}]}}",
	                       &v, &err),
	                 FERRY_EINVAL);
	assert_string_equal(err.msg, "the query returns a range vector, not a number");
	assert_int_equal(parse("{\"status\":\"success\",\"data\":{\"resultType\":\"string\","
	                       "\"result\":[1,\"x\"]}}",
	                       &v, &err),
	                 FERRY_EINVAL);
}

static void test_garbage(void **state)
{
	static const char *const replies[] = {
		"",
		"<html><body>502 Bad Gateway</body></html>",
		"not json",
		"{\"status\":",
		"\xff\xfe\x00\x01",
	};
	struct ferry_error err;
	double v;

	(void)state;
	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		assert_int_equal(parse(replies[i], &v, &err), FERRY_EPROTO);
		assert_non_null(strstr(err.msg, "not JSON"));
	}
	/* NUL bytes inside the given length */
	memset(&err, 0, sizeof(err));
	assert_int_equal(prometheus_parse("{\"status\":\"succ\0ess\"}", 21, &v, &err),
	                 FERRY_EPROTO);
}

static void test_truncated(void **state)
{
	const char *full =
	        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{"
	        "\"metric\":{\"job\":\"self\"},\"value\":[1764138000.1,\"1\"]}]}}";
	struct ferry_error err;
	size_t n = strlen(full);
	double v;

	(void)state;
	/* every proper prefix is refused (the data need not be NUL-terminated:
	 * the copy has no NUL) */
	for (size_t len = 0; len < n; len++) {
		char *copy = malloc(len ? len : 1);

		memcpy(copy, full, len);
		memset(&err, 0, sizeof(err));
		v = SENTINEL;
		assert_int_equal(prometheus_parse(copy, len, &v, &err), FERRY_EPROTO);
		assert_true(v == SENTINEL);
		free(copy);
	}
	assert_int_equal(prometheus_parse(full, n, &v, &err), 0);
	assert_true(v == 1.0);
}

static void test_deeply_nested(void **state)
{
	struct buf b;
	struct ferry_error err;
	double v;

	(void)state;
	/* 100000 levels: jansson stops at JSON_PARSER_MAX_DEPTH, no stack overflow */
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_adds(&b, "{\"status\":\"success\",\"data\":"), 0);
	for (int i = 0; i < 100000; i++)
		assert_int_equal(buf_addch(&b, '['), 0);
	for (int i = 0; i < 100000; i++)
		assert_int_equal(buf_addch(&b, ']'), 0);
	assert_int_equal(buf_addch(&b, '}'), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(prometheus_parse(b.data, b.len, &v, &err), FERRY_EPROTO);
	assert_non_null(strstr(err.msg, "not JSON"));
	buf_release(&b);
}

static void test_huge(void **state)
{
	struct buf b;
	struct ferry_error err;
	double v;
	int i;

	(void)state;
	/* A well-formed reply past the limit is refused before parsing. */
	buf_init(&b, 4 << 20);
	assert_int_equal(buf_adds(&b, "{\"status\":\"success\",\"pad\":\""), 0);
	while (b.len < PROMETHEUS_MAX_REPLY + 10)
		assert_int_equal(buf_adds(&b, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
		                 0);
	assert_int_equal(
	        buf_adds(&b, "\",\"data\":{\"resultType\":\"scalar\",\"result\":[1,\"1\"]}}"), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(prometheus_parse(b.data, b.len, &v, &err), FERRY_EPROTO);
	assert_non_null(strstr(err.msg, "more than the 1048576 allowed"));

	/* 10000 series under the limit: counted, not taken */
	buf_reset(&b);
	assert_int_equal(buf_adds(&b, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
	                              "\"result\":["),
	                 0);
	for (i = 0; i < 10000; i++)
		assert_int_equal(buf_addf(&b, "%s{\"metric\":{\"i\":\"%d\"},\"value\":[1,\"%d\"]}",
		                          i ? "," : "", i, i),
		                 0);
	assert_int_equal(buf_adds(&b, "]}}"), 0);
	assert_true(b.len < PROMETHEUS_MAX_REPLY);
	memset(&err, 0, sizeof(err));
	assert_int_equal(prometheus_parse(b.data, b.len, &v, &err), FERRY_EINVAL);
	assert_non_null(strstr(err.msg, "returns 10000 series"));

	/* a long error text is truncated, the message still ends */
	buf_reset(&b);
	assert_int_equal(
	        buf_adds(&b, "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\""), 0);
	for (i = 0; i < 100000; i++)
		assert_int_equal(buf_addch(&b, 'e'), 0);
	assert_int_equal(buf_adds(&b, "\"}"), 0);
	assert_int_equal(prometheus_parse(b.data, b.len, &v, &err), FERRY_EINVAL);
	assert_true(strlen(err.msg) < sizeof(err.msg));
	buf_release(&b);
}

static void test_urls_are_shown_by_their_origin(void **state)
{
	/* a loopback port where nothing listens (the tests' range 16600-16699) */
	static const char unreachable[] = "http://u:tok-pw@127.0.0.1:16601/services/tok-path?"
	                                  "token=tok-query#tok-frag";
	struct ferry_error err = { 0 };
	char out[256];
	long status;
	struct buf body;
	double v;

	(void)state;
	hosts_http_origin("https://u:p@hooks.slack.test:8443/services/T0/B0/XXXX?token=y#f", out,
	                  sizeof(out));
	assert_string_equal(out, "https://hooks.slack.test:8443");
	hosts_http_origin("https://hooks.slack.test/services/T0/B0/XXXX", out, sizeof(out));
	assert_string_equal(out, "https://hooks.slack.test");
	hosts_http_origin("http://[::1]:9090/api", out, sizeof(out));
	assert_string_equal(out, "http://[::1]:9090");
	hosts_http_origin("not a url at all", out, sizeof(out));
	assert_string_equal(out, "(a URL that cannot be parsed)");

	/* the messages of a failed request name the origin only */
	assert_true(hosts_http_post_json(unreachable, "{}", 2000, &status, &err) < 0);
	assert_non_null(strstr(err.msg, "http://127.0.0.1:16601"));
	assert_null(strstr(err.msg, "tok-"));
	buf_init(&body, 1024);
	memset(&err, 0, sizeof(err));
	assert_true(hosts_http_get(unreachable, 2000, &status, &body, &err) < 0);
	assert_non_null(strstr(err.msg, "http://127.0.0.1:16601"));
	assert_null(strstr(err.msg, "tok-"));
	buf_release(&body);
	memset(&err, 0, sizeof(err));
	assert_true(prometheus_query(unreachable, "up", 2000, &v, &err) < 0);
	assert_null(strstr(err.msg, "tok-"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector_one_sample),
		cmocka_unit_test(test_scalar),
		cmocka_unit_test(test_empty_vector),
		cmocka_unit_test(test_several_series),
		cmocka_unit_test(test_error_status),
		cmocka_unit_test(test_not_finite),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_range_and_string),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_deeply_nested),
		cmocka_unit_test(test_huge),
		cmocka_unit_test(test_urls_are_shown_by_their_origin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
