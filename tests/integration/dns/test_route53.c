/*
 * test_route53.c - the route53 DNS provider against route53_fake.py, which
 * checks every request's SigV4 signature with python3-botocore (an
 * implementation independent of ferry's) and applies change batches whole
 * or not at all, as Route 53 does.
 *
 * Run through route53.sh, which starts the fake and passes its URL, the
 * zone ID and the credentials in FERRY_TEST_R53_*; with ROUTE53_TOKEN=1 the
 * fake also demands a session token, and every request carries it.  What
 * the fake holds is read from its records.json (not through ferry); its
 * requests.log says whether each request's signature verified.  Every
 * error returned is checked to contain no secret.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "dns/dns.h"
#include "dns_test.h"
#include "util/buf.h"
#include "util/timeutil.h"

static const char *api, *zone_id, *key_id, *dir;
static char *secret, *token;
static int deliberate_bad; /* requests the tests sign wrongly on purpose */

static struct dns_config config(void)
{
	struct dns_config c = {
		.zone = "shop.test",
		.api = api,
		.hosted_zone_id = zone_id,
		.region = "us-east-1",
		.access_key_id = key_id,
		.secret = secret,
		.session_token = token,
		.timeout_ms = 5000,
	};
	return c;
}

static struct dns_provider *open_cfg(const struct dns_config *c)
{
	return dns_test_open("route53", c);
}

static void rc_ok(int rc, const struct ferry_error *e)
{
	if (rc < 0)
		fail_msg("%s", e->msg);
}

static void assert_no_secret(const struct ferry_error *e)
{
	const char *secrets[] = { secret, token };

	dns_test_no_secret(e, secrets, 2);
}

static struct dns_provider *open_default(void)
{
	struct dns_config c = config();

	return open_cfg(&c);
}

/* The fake's record sets of name: "TYPE[/SETID/WEIGHT] TTL v1,v2; ..."
 * sorted, from records.json. */
static void held(const char *name, char *out, size_t len)
{
	char path[512], fqdn[256], line[512], *lines[32];
	json_t *root, *s;
	size_t i, k, n = 0, used = 0;

	snprintf(path, sizeof(path), "%s/records.json", dir);
	snprintf(fqdn, sizeof(fqdn), "%s.", name);
	root = json_load_file(path, 0, NULL);
	assert_non_null(root);
	json_array_foreach(root, i, s)
	{
		json_t *vals = json_object_get(s, "values"), *v;
		size_t lu;

		if (strcmp(json_string_value(json_object_get(s, "name")), fqdn) != 0)
			continue;
		lu = (size_t)snprintf(line, sizeof(line), "%s",
		                      json_string_value(json_object_get(s, "type")));
		if (json_object_get(s, "set_id"))
			lu += (size_t)snprintf(
			        line + lu, sizeof(line) - lu, "/%s/%lld",
			        json_string_value(json_object_get(s, "set_id")),
			        (long long)json_integer_value(json_object_get(s, "weight")));
		lu += (size_t)snprintf(line + lu, sizeof(line) - lu, " %lld",
		                       (long long)json_integer_value(json_object_get(s, "ttl")));
		json_array_foreach(vals, k, v) lu += (size_t)snprintf(
		        line + lu, sizeof(line) - lu, "%s%s", k ? "," : " ", json_string_value(v));
		lines[n++] = strdup(line);
	}
	json_decref(root);
	/* sort for a stable text */
	for (i = 0; i < n; i++)
		for (k = i + 1; k < n; k++)
			if (strcmp(lines[k], lines[i]) < 0) {
				char *t = lines[i];

				lines[i] = lines[k];
				lines[k] = t;
			}
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		used += (size_t)snprintf(out + used, len - used, "%s%s", i ? "; " : "", lines[i]);
		free(lines[i]);
	}
}

/* Lines of requests.log with signature=bad, and POSTs. */
static int count_log(const char *what)
{
	char path[512], *s, *p;
	int n = 0;

	snprintf(path, sizeof(path), "%s/requests.log", dir);
	s = dns_test_read(path);
	for (p = s; p && (p = strstr(p, what)) != NULL; p++)
		n++;
	free(s);
	return n;
}

/* Another party writes name's sets right after ferry's next read. */
static void race(const char *name, const char *records_json)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/race.json", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "{\"name\": \"%s.\", \"records\": %s}\n", name, records_json);
	fclose(f);
}

/* --- credentials and reading ---------------------------------------------- */

static void test_check_access_proves_read_and_change_permission(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char before[512], after[512], path[512];
	int posts = count_log("POST ");

	(void)state;
	held("_ferry-check.shop.test", before, sizeof(before));
	if (dns_check_access(p, &err) < 0)
		fail_msg("check_access: %s", err.msg);
	/* the permission probe is one POST, refused, nothing changed */
	assert_int_equal(count_log("POST "), posts + 1);
	held("_ferry-check.shop.test", after, sizeof(after));
	assert_string_equal(before, after);
	assert_true(dns_ops(p)->atomic);
	assert_true(dns_ops(p)->weights);
	/* a key that may read but not change */
	snprintf(path, sizeof(path), "%s/deny", dir);
	fclose(fopen(path, "w"));
	assert_int_equal(dns_check_access(p, &err), FERRY_EAUTH);
	unlink(path);
	assert_non_null(strstr(err.msg, "AccessDenied"));
	assert_non_null(strstr(err.hint, "route53:ChangeResourceRecordSets"));
	assert_no_secret(&err);
	dns_close(p);
}

static void test_wrong_secret_is_signature_mismatch(void **state)
{
	struct dns_config c = config();
	struct ferry_error err = { 0 };
	struct dns_provider *p;
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.9" };
	struct dns_state so = dns_test_plain(old, 1, NULL), sn = dns_test_plain(nw, 1, NULL);
	char got[512];
	int bad = count_log("signature=bad");

	(void)state;
	c.secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
	p = open_cfg(&c);
	assert_int_equal(dns_check_access(p, &err), FERRY_EAUTH);
	assert_non_null(strstr(err.msg, "SignatureDoesNotMatch"));
	assert_no_secret(&err);
	assert_int_equal(dns_cas(p, "www.shop.test", &so, &sn, 60, &err), FERRY_EAUTH);
	dns_close(p);
	assert_int_equal(count_log("signature=bad"), bad + 2);
	deliberate_bad += 2;
	c = config();
	c.access_key_id = "AKIANOTAKEY";
	p = open_cfg(&c);
	assert_int_equal(dns_check_access(p, &err), FERRY_EAUTH);
	assert_non_null(strstr(err.msg, "InvalidClientTokenId"));
	deliberate_bad++;
	dns_close(p);
	if (token) {
		c = config();
		c.session_token = NULL;
		p = open_cfg(&c);
		assert_int_equal(dns_check_access(p, &err), FERRY_EAUTH);
		deliberate_bad++;
		dns_close(p);
	}
	held("www.shop.test", got, sizeof(got));
	assert_string_equal(got, "A 3600 10.77.0.2");
}

static void test_unknown_zone_and_server_down(void **state)
{
	struct dns_config c = config();
	struct ferry_error err = { 0 };
	struct dns_provider *p;

	(void)state;
	c.hosted_zone_id = "ZNOSUCHZONE";
	p = open_cfg(&c);
	assert_int_equal(dns_check_access(p, &err), FERRY_EREFUSED);
	assert_non_null(strstr(err.msg, "ZNOSUCHZONE"));
	dns_close(p);
	c = config();
	c.zone = "other.test";
	p = open_cfg(&c);
	assert_int_equal(dns_check_access(p, &err), FERRY_EREFUSED);
	assert_non_null(strstr(err.msg, "is shop.test., not other.test"));
	dns_close(p);
	c = config();
	c.api = "http://127.0.0.1:16259"; /* outside the fakes' range (route53.sh) */
	p = open_cfg(&c);
	assert_int_equal(dns_check_access(p, &err), FERRY_EUNREACH);
	assert_no_secret(&err);
	dns_close(p);
}

static void test_open_rejects_bad_config(void **state)
{
	struct dns_config c = config();
	struct ferry_error err = { 0 };
	struct dns_provider *p = NULL;

	(void)state;
	c.hosted_zone_id = "/hostedzone/Z1";
	assert_int_equal(dns_open("route53", &c, &p, &err), FERRY_EINVAL);
	c = config();
	c.secret = NULL;
	assert_int_equal(dns_open("route53", &c, &p, &err), FERRY_EINVAL);
	c = config();
	c.access_key_id = "AKIA\nX";
	assert_int_equal(dns_open("route53", &c, &p, &err), FERRY_EINVAL);
	assert_null(p);
}

static void test_query_reads_sets_and_cnames(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *want[] = { "10.77.0.2", "10.77.0.4", "2001:db8::2" };
	struct dns_rrset rs;

	(void)state;
	dns_rrset_init(&rs);
	if (dns_query(p, "multi.shop.test", &rs, &err) < 0)
		fail_msg("query: %s", err.msg);
	assert_true(dns_addresses_equal(rs.addresses, rs.n, want, 3));
	assert_int_equal(rs.ttl, 3600);
	assert_null(rs.other);
	dns_rrset_release(&rs);
	dns_rrset_init(&rs);
	assert_int_equal(dns_query(p, "cn.shop.test", &rs, &err), 0);
	assert_string_equal(rs.cname, "lb-old.example.net");
	dns_rrset_release(&rs);
	dns_rrset_init(&rs);
	assert_int_equal(dns_query(p, "nope.shop.test", &rs, &err), FERRY_ENOTFOUND);
	dns_rrset_release(&rs);
	dns_close(p);
}

/* A name whose record sets span pages: ferry follows NextRecordName. */
static void test_query_follows_pages(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *want[] = { "10.77.0.2", "10.77.0.4", "2001:db8::2" }, path[512];
	struct dns_rrset rs;
	FILE *f;
	int gets = count_log("GET /2013-04-01/hostedzone/ZFERRYTEST/rrset");

	(void)state;
	snprintf(path, sizeof(path), "%s/maxitems", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("1\n", f);
	fclose(f);
	dns_rrset_init(&rs);
	rc_ok(dns_query(p, "multi.shop.test", &rs, &err), &err);
	unlink(path);
	assert_true(dns_addresses_equal(rs.addresses, rs.n, want, 3));
	/* A on the first page, AAAA on the second, the next name on a third */
	assert_true(count_log("GET /2013-04-01/hostedzone/ZFERRYTEST/rrset") >= gets + 2);
	dns_rrset_release(&rs);
	dns_close(p);
}

/* --- changes -------------------------------------------------------------- */

static void test_ttl_steps_and_cas(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *a[] = { "10.77.0.2" }, *nw[] = { "10.77.0.3" };
	struct dns_state st = dns_test_plain(a, 1, NULL), sn = dns_test_plain(nw, 1, NULL);
	char got[512];

	(void)state;
	if (dns_set_ttl(p, "ttl.shop.test", &st, 300, &err) < 0)
		fail_msg("set_ttl: %s", err.msg);
	held("ttl.shop.test", got, sizeof(got));
	assert_string_equal(got, "A 300 10.77.0.2");
	if (dns_cas(p, "cas.shop.test", &st, &sn, 60, &err) < 0)
		fail_msg("cas: %s", err.msg);
	held("cas.shop.test", got, sizeof(got));
	assert_string_equal(got, "A 60 10.77.0.3");
	dns_close(p);
}

static void test_cas_set_to_cname_and_back(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *set[] = { "2001:DB8::2", "10.77.0.4", "10.77.0.2" };
	struct dns_state sset = dns_test_plain(set, 3, NULL),
	                 scn = dns_test_plain(NULL, 0, "lb-new.example.net");
	char got[512];

	(void)state;
	if (dns_cas(p, "multi.shop.test", &sset, &scn, 60, &err) < 0)
		fail_msg("to cname: %s", err.msg);
	held("multi.shop.test", got, sizeof(got));
	assert_string_equal(got, "CNAME 60 lb-new.example.net.");
	if (dns_cas(p, "multi.shop.test", &scn, &sset, 120, &err) < 0)
		fail_msg("back: %s", err.msg);
	held("multi.shop.test", got, sizeof(got));
	assert_string_equal(got, "A 120 10.77.0.4,10.77.0.2; AAAA 120 2001:db8::2");
	dns_close(p);
}

/* Changed before ferry's read: the compare refuses, no batch is sent. */
static void test_cas_refused_when_changed_before_the_read(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	struct dns_rrset rs;
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.3" };
	struct dns_state so = dns_test_plain(old, 1, NULL), sn = dns_test_plain(nw, 1, NULL);
	char got[512];
	int posts;

	(void)state;
	race("api.shop.test", "[{\"name\": \"api.shop.test.\", \"type\": \"A\", \"ttl\": 600, "
	                      "\"values\": [\"10.77.0.66\"]}]");
	dns_rrset_init(&rs); /* this read triggers the other party */
	assert_int_equal(dns_query(p, "api.shop.test", &rs, &err), 0);
	dns_rrset_release(&rs);
	posts = count_log("POST ");
	assert_int_equal(dns_cas(p, "api.shop.test", &so, &sn, 60, &err), FERRY_ECHANGED);
	assert_non_null(strstr(err.msg, "10.77.0.66"));
	assert_non_null(strstr(err.msg, "nothing changed"));
	assert_int_equal(count_log("POST "), posts);
	held("api.shop.test", got, sizeof(got));
	assert_string_equal(got, "A 600 10.77.0.66");
	dns_close(p);
}

/* Changed between ferry's read and its batch: Route 53 refuses the stale
 * DELETE, and so the whole batch: a true compare-and-swap. */
static void test_stale_delete_refuses_the_whole_batch(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.3" };
	struct dns_state so = dns_test_plain(old, 1, NULL), sn = dns_test_plain(nw, 1, NULL);
	char got[512];
	int posts = count_log("POST ");

	(void)state;
	race("race.shop.test", "[{\"name\": \"race.shop.test.\", \"type\": \"A\", \"ttl\": 3600, "
	                       "\"values\": [\"10.77.0.77\"]}]");
	assert_int_equal(dns_cas(p, "race.shop.test", &so, &sn, 60, &err), FERRY_ECHANGED);
	if (!strstr(err.msg, "InvalidChangeBatch"))
		fail_msg("not refused by Route 53: %s", err.msg);
	assert_non_null(strstr(err.msg, "nothing changed"));
	assert_no_secret(&err);
	assert_int_equal(count_log("POST "), posts + 1); /* it was sent, and refused */
	held("race.shop.test", got, sizeof(got));
	assert_string_equal(got, "A 3600 10.77.0.77");
	dns_close(p);
}

static void test_weighted_split_steps_and_back(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.3" };
	struct dns_state so = dns_test_plain(old, 1, NULL), sn = dns_test_plain(nw, 1, NULL);
	struct dns_state split = { .set = so.set, .split = true, .alt = sn.set };
	struct dns_state next;
	struct dns_rrset rs;
	char got[512];

	(void)state;
	split.weight = 90;
	split.alt_weight = 10;
	if (dns_cas(p, "weight.shop.test", &so, &split, 60, &err) < 0)
		fail_msg("split: %s", err.msg);
	held("weight.shop.test", got, sizeof(got));
	assert_string_equal(got, "A/ferry-new/10 60 10.77.0.3; A/ferry-old/90 60 10.77.0.2");
	dns_rrset_init(&rs);
	assert_int_equal(dns_query(p, "weight.shop.test", &rs, &err), 0);
	assert_non_null(rs.other);
	assert_non_null(strstr(rs.other, "[ferry-old weight 90]"));
	dns_rrset_release(&rs);
	assert_int_equal(dns_expect(p, "weight.shop.test", &split, NULL, &err), 0);
	next = split;
	next.weight = 75;
	next.alt_weight = 25;
	assert_int_equal(dns_cas(p, "weight.shop.test", &next, &so, 60, &err), FERRY_ECHANGED);
	if (dns_cas(p, "weight.shop.test", &split, &next, 60, &err) < 0)
		fail_msg("step: %s", err.msg);
	held("weight.shop.test", got, sizeof(got));
	assert_string_equal(got, "A/ferry-new/25 60 10.77.0.3; A/ferry-old/75 60 10.77.0.2");
	if (dns_cas(p, "weight.shop.test", &next, &sn, 60, &err) < 0)
		fail_msg("to new: %s", err.msg);
	held("weight.shop.test", got, sizeof(got));
	assert_string_equal(got, "A 60 10.77.0.3");
	dns_close(p);
}

static void test_dry_run_text_is_the_batch(void **state)
{
	struct dns_config c = config();
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2" };
	struct dns_state so = dns_test_plain(old, 1, NULL),
	                 scn = dns_test_plain(NULL, 0, "lb.example.net");
	struct buf out;

	(void)state;
	buf_init(&out, 1 << 16);
	assert_int_equal(dns_describe("route53", &c, "www.shop.test", &so, &scn, 60, &out, &err),
	                 0);
	assert_non_null(strstr(out.data, "POST "));
	assert_non_null(strstr(out.data, "/2013-04-01/hostedzone/ZFERRYTEST/rrset/"));
	assert_non_null(strstr(out.data,
	                       "<Change><Action>DELETE</Action><ResourceRecordSet><Name>www.shop."
	                       "test.</Name><Type>A</Type><TTL>(as read)</TTL>"));
	assert_non_null(strstr(out.data, "<Action>CREATE</Action><ResourceRecordSet><Name>www.shop."
	                                 "test.</Name><Type>CNAME</Type><TTL>60</TTL>"));
	assert_null(strstr(out.data, secret));
	assert_null(strstr(out.data, key_id));
	buf_release(&out);
}

/* Last: every request but the deliberately wrong ones verified. */
static void test_every_request_signature_verified_by_botocore(void **state)
{
	(void)state;
	assert_true(count_log("signature=ok") > 10);
	assert_int_equal(count_log("signature=bad"), deliberate_bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_rejects_bad_config),
		cmocka_unit_test(test_check_access_proves_read_and_change_permission),
		cmocka_unit_test(test_wrong_secret_is_signature_mismatch),
		cmocka_unit_test(test_unknown_zone_and_server_down),
		cmocka_unit_test(test_query_reads_sets_and_cnames),
		cmocka_unit_test(test_query_follows_pages),
		cmocka_unit_test(test_ttl_steps_and_cas),
		cmocka_unit_test(test_cas_set_to_cname_and_back),
		cmocka_unit_test(test_cas_refused_when_changed_before_the_read),
		cmocka_unit_test(test_stale_delete_refuses_the_whole_batch),
		cmocka_unit_test(test_weighted_split_steps_and_back),
		cmocka_unit_test(test_dry_run_text_is_the_batch),
		cmocka_unit_test(test_every_request_signature_verified_by_botocore),
	};
	const char *sf = getenv("FERRY_TEST_R53_SECRET_FILE"),
	           *tf = getenv("FERRY_TEST_R53_TOKEN_FILE");
	int rc;

	api = getenv("FERRY_TEST_R53_API");
	zone_id = getenv("FERRY_TEST_R53_ZONE_ID");
	key_id = getenv("FERRY_TEST_R53_KEY_ID");
	dir = getenv("FERRY_TEST_R53_DIR");
	if (!api || !zone_id || !key_id || !dir || !sf) {
		fprintf(stderr, "FERRY_TEST_R53_* not set: run this test through route53.sh\n");
		return 1;
	}
	secret = dns_test_read(sf);
	token = tf ? dns_test_read(tf) : NULL;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(secret);
	free(token);
	return rc;
}
