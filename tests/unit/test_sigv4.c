/*
 * test_sigv4.c - ferry's AWS Signature Version 4 on AWS's published test
 * vectors: the "Signature Version 4 Test Suite" of the AWS General
 * Reference (region us-east-1, service "service", key AKIDEXAMPLE, date
 * 20150830T123600Z; the files as kept in aws-c-auth's and bazel's
 * third_party/aws-sig-v4-test-suite): each request's Authorization header
 * must match the suite's .authz file byte for byte, and one canonical
 * request its .creq file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dns/sigv4.h"

static const struct sigv4_key suite_key = {
	.access_key_id = "AKIDEXAMPLE",
	.secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
	.region = "us-east-1",
	.service = "service",
};

#define DATE "20150830T123600Z"
#define CRED "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
#define TOKEN                                                                                      \
	"AQoDYXdzEPT//////////"                                                                    \
	"wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxf"                     \
	"pSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KP" \
	"kyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbq" \
	"BAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="

struct vector {
	const char *name;
	const char *method, *path, *query;
	struct sigv4_header headers[5];
	size_t nheaders;
	const char *body;
	const char *authz;
};

#define HOST                                                                                       \
	{                                                                                          \
		"Host", "example.amazonaws.com"                                                    \
	}
#define XDATE                                                                                      \
	{                                                                                          \
		"X-Amz-Date", DATE                                                                 \
	}

static const struct vector vectors[] = {
	{ "get-vanilla",
	  "GET",
	  "/",
	  NULL,
	  { HOST, XDATE },
	  2,
	  NULL,
	  CRED "SignedHeaders=host;x-amz-date, "
	       "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" },
	{ "get-vanilla-query-order-key-case",
	  "GET",
	  "/",
	  "Param2=value2&Param1=value1",
	  { HOST, XDATE },
	  2,
	  NULL,
	  CRED "SignedHeaders=host;x-amz-date, "
	       "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500" },
	{ "get-vanilla-query-unreserved",
	  "GET",
	  "/",
	  "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
	  "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
	  { HOST, XDATE },
	  2,
	  NULL,
	  CRED "SignedHeaders=host;x-amz-date, "
	       "Signature=9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197" },
	{ "get-vanilla-empty-query-key",
	  "GET",
	  "/",
	  "Param1=value1",
	  { HOST, XDATE },
	  2,
	  NULL,
	  CRED "SignedHeaders=host;x-amz-date, "
	       "Signature=a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb" },
	{ "get-vanilla-utf8-query",
	  "GET",
	  "/",
	  "\xe1\x88\xb4=bar",
	  { HOST, XDATE },
	  2,
	  NULL,
	  CRED "SignedHeaders=host;x-amz-date, "
	       "Signature=2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04" },
	{ "get-header-value-trim",
	  "GET",
	  "/",
	  NULL,
	  { HOST, { "My-Header1", " value1" }, { "My-Header2", " \"a   b   c\"" }, XDATE },
	  4,
	  NULL,
	  CRED "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
	       "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736" },
	{ "post-vanilla",
	  "POST",
	  "/",
	  NULL,
	  { HOST, XDATE },
	  2,
	  NULL,
	  CRED "SignedHeaders=host;x-amz-date, "
	       "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b" },
	{ "post-header-key-sort",
	  "POST",
	  "/",
	  NULL,
	  { HOST, { "My-Header1", "value1" }, XDATE },
	  3,
	  NULL,
	  CRED "SignedHeaders=host;my-header1;x-amz-date, "
	       "Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c" },
	{ "post-x-www-form-urlencoded",
	  "POST",
	  "/",
	  NULL,
	  { { "Content-Type", "application/x-www-form-urlencoded" }, HOST, XDATE },
	  3,
	  "Param1=value1",
	  CRED "SignedHeaders=content-type;host;x-amz-date, "
	       "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a" },
	{ "post-sts-header-before",
	  "POST",
	  "/",
	  NULL,
	  { HOST, XDATE, { "X-Amz-Security-Token", TOKEN } },
	  3,
	  NULL,
	  CRED "SignedHeaders=host;x-amz-date;x-amz-security-token, "
	       "Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead" },
};

static void test_signature_matches_every_published_vector(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *v = &vectors[i];
		struct sigv4_request rq = { v->method,
			                    v->path,
			                    v->query,
			                    v->headers,
			                    v->nheaders,
			                    v->body,
			                    v->body ? strlen(v->body) : 0 };
		struct ferry_error err = { 0 };
		struct buf authz;

		buf_init(&authz, 4096);
		if (sigv4_sign(&suite_key, &rq, DATE, &authz, NULL, &err) < 0)
			fail_msg("%s: %s", v->name, err.msg);
		if (strcmp(authz.data, v->authz) != 0)
			fail_msg("%s:\n got  %s\n want %s", v->name, authz.data, v->authz);
		buf_release(&authz);
	}
}

/* post-x-www-form-urlencoded.creq, byte for byte. */
static void test_canonical_request_matches_the_suite(void **state)
{
	const struct vector *v = &vectors[8];
	struct sigv4_request rq = { v->method,   v->path, v->query,       v->headers,
		                    v->nheaders, v->body, strlen(v->body) };
	struct ferry_error err = { 0 };
	struct buf authz, creq;

	(void)state;
	buf_init(&authz, 4096);
	buf_init(&creq, 4096);
	assert_int_equal(sigv4_sign(&suite_key, &rq, DATE, &authz, &creq, &err), 0);
	assert_string_equal(creq.data,
	                    "POST\n/\n\n"
	                    "content-type:application/x-www-form-urlencoded\n"
	                    "host:example.amazonaws.com\n"
	                    "x-amz-date:20150830T123600Z\n\n"
	                    "content-type;host;x-amz-date\n"
	                    "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
	buf_release(&authz);
	buf_release(&creq);
}

/* What Route 53 gets: the path kept, the query sorted and encoded, and
 * nothing of the secret in the outputs. */
static void test_route53_request_and_refusals(void **state)
{
	struct sigv4_header h[] = { { "Host", "127.0.0.1:16240" }, { "X-Amz-Date", DATE } };
	struct sigv4_request rq = { "GET",
		                    "/2013-04-01/hostedzone/Z1/rrset",
		                    "name=www.shop.test.&maxitems=10",
		                    h,
		                    2,
		                    NULL,
		                    0 };
	struct sigv4_key k = suite_key;
	struct ferry_error err = { 0 };
	struct buf authz, creq;

	(void)state;
	k.service = "route53";
	buf_init(&authz, 4096);
	buf_init(&creq, 4096);
	assert_int_equal(sigv4_sign(&k, &rq, DATE, &authz, &creq, &err), 0);
	assert_non_null(strstr(creq.data, "GET\n/2013-04-01/hostedzone/Z1/rrset\n"
	                                  "maxitems=10&name=www.shop.test.\n"
	                                  "host:127.0.0.1:16240\n"));
	assert_non_null(strstr(authz.data, "/20150830/us-east-1/route53/aws4_request"));
	assert_null(strstr(authz.data, k.secret));
	assert_null(strstr(creq.data, k.secret));
	buf_reset(&authz);
	assert_int_equal(sigv4_sign(&k, &rq, "2015-08-30", &authz, NULL, &err), FERRY_EINVAL);
	rq.query = "a=%zz";
	assert_int_equal(sigv4_sign(&k, &rq, DATE, &authz, NULL, &err), FERRY_EINVAL);
	rq.query = NULL;
	k.secret = "";
	assert_int_equal(sigv4_sign(&k, &rq, DATE, &authz, NULL, &err), FERRY_EINVAL);
	buf_release(&authz);
	buf_release(&creq);
}

static void test_date_format(void **state)
{
	char d[32];

	(void)state;
	sigv4_date(1440938160LL, d, sizeof(d)); /* 2015-08-30 12:36:00 UTC */
	assert_string_equal(d, DATE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signature_matches_every_published_vector),
		cmocka_unit_test(test_canonical_request_matches_the_suite),
		cmocka_unit_test(test_route53_request_and_refusals),
		cmocka_unit_test(test_date_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
