/*
 * test_powerdns.c - the powerdns DNS provider against a real PowerDNS
 * Authoritative server (pdns_server 4.7, SQLite backend, HTTP API).
 *
 * Run through pdns.sh, which starts the server and passes its ports and
 * the API key in FERRY_TEST_PDNS_*.  Each test that changes the zone works
 * on its own name.  What the server serves is read back over DNS with kdig
 * (an independent reader); the "other party" that changes a record behind
 * ferry's back is pdnsutil, writing the SQLite backend directly.  Every
 * error returned is checked to contain no secret.  The weighted answers are
 * counted over DNS by the test itself (ldns packets on one UDP socket).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ldns/ldns.h>

#include <cmocka.h>

#include "dns/dns.h"
#include "dns_test.h"
#include "util/buf.h"
#include "util/timeutil.h"

static const char *api, *pdns_dir;
static uint16_t dns_port;
static char *key;

static struct dns_config config(void)
{
	struct dns_config c = {
		.zone = "shop.test",
		.api = api,
		.server_id = "localhost",
		.secret = key,
		.timeout_ms = 5000,
	};
	return c;
}

static struct dns_provider *open_cfg(const struct dns_config *c)
{
	return dns_test_open("powerdns", c);
}

static void assert_no_secret(const struct ferry_error *e)
{
	const char *secrets[] = { key };

	dns_test_no_secret(e, secrets, 1);
}

static struct dns_provider *open_default(void)
{
	struct dns_config c = config();

	return open_cfg(&c);
}

/* What the server answers over DNS for name/type: the answers, sorted,
 * space-separated ("" for none), and the TTL of the first (0 for none). */
static void dig(const char *name, const char *type, char *out, size_t len, unsigned *ttl)
{
	char cmd[256], line[512];
	FILE *fp;
	size_t used = 0;

	snprintf(cmd, sizeof(cmd),
	         "kdig @127.0.0.1 -p %u +noall +answer +norec %s %s | awk '{print $2, $5}' | "
	         "sort -k2",
	         dns_port, name, type);
	fp = popen(cmd, "r");
	assert_non_null(fp);
	out[0] = '\0';
	if (ttl)
		*ttl = 0;
	while (fgets(line, sizeof(line), fp)) {
		char *sp = strchr(line, ' ');

		line[strcspn(line, "\n")] = '\0';
		if (!sp)
			continue;
		*sp = '\0';
		if (ttl && !*ttl)
			*ttl = (unsigned)strtoul(line, NULL, 10);
		used += (size_t)snprintf(out + used, len - used, "%s%s", used ? " " : "", sp + 1);
	}
	pclose(fp);
}

/* The other party: pdnsutil replace-rrset, straight into the backend
 * (label relative to the zone);
 * content is one or more space-separated values. */
static void pdnsutil_replace(const char *name, const char *type, const char *ttl,
                             const char *content)
{
	char cmd[1024];
	int rc;

	snprintf(cmd, sizeof(cmd),
	         "pdnsutil --config-dir=%s replace-rrset shop.test %s %s %s %s >/dev/null 2>&1",
	         pdns_dir, name, type, ttl, content);
	rc = system(cmd);
	assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
	/* pdnsutil does not touch the server's caches. */
	snprintf(cmd, sizeof(cmd), "pdns_control --config-dir=%s purge >/dev/null 2>&1", pdns_dir);
	rc = system(cmd);
	assert_true(WIFEXITED(rc));
}

/* --- reading and the key ---------------------------------------------- */

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
	assert_null(rs.cname);
	assert_int_equal(rs.ttl, 3600);
	dns_rrset_release(&rs);

	dns_rrset_init(&rs);
	if (dns_query(p, "cn.shop.test", &rs, &err) < 0)
		fail_msg("query: %s", err.msg);
	assert_string_equal(rs.cname, "lb-old.example.net");
	assert_int_equal(rs.n, 0);
	dns_rrset_release(&rs);

	dns_rrset_init(&rs);
	assert_int_equal(dns_query(p, "nope.shop.test", &rs, &err), FERRY_ENOTFOUND);
	assert_no_secret(&err);
	assert_int_equal(dns_query(p, "www.other.test", &rs, &err), FERRY_EINVAL);
	dns_rrset_release(&rs);
	dns_close(p);
}

static void test_check_access_accepts_the_key(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };

	(void)state;
	if (dns_check_access(p, &err) < 0)
		fail_msg("check_access: %s", err.msg);
	assert_false(dns_ops(p)->atomic);
	assert_true(dns_ops(p)->weights);
	dns_close(p);
}

static void test_wrong_api_key_is_eauth_and_changes_nothing(void **state)
{
	struct dns_config c = config();
	struct ferry_error err = { 0 };
	struct dns_provider *p;
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.9" };
	struct dns_state so = dns_test_plain(old, 1, NULL), sn = dns_test_plain(nw, 1, NULL);
	char got[256];

	(void)state;
	c.secret = "not-the-key";
	p = open_cfg(&c);
	assert_int_equal(dns_check_access(p, &err), FERRY_EAUTH);
	assert_non_null(strstr(err.msg, "401"));
	assert_no_secret(&err);
	assert_int_equal(dns_cas(p, "www.shop.test", &so, &sn, 60, &err), FERRY_EAUTH);
	assert_no_secret(&err);
	dns_close(p);
	dig("www.shop.test", "A", got, sizeof(got), NULL);
	assert_string_equal(got, "10.77.0.2");
}

static void test_unknown_zone_is_refused(void **state)
{
	struct dns_config c = config();
	struct ferry_error err = { 0 };
	struct dns_provider *p;

	(void)state;
	c.zone = "nope.test";
	p = open_cfg(&c);
	assert_int_equal(dns_check_access(p, &err), FERRY_EREFUSED);
	assert_non_null(strstr(err.msg, "404"));
	assert_no_secret(&err);
	dns_close(p);
}

/* A port on loopback where nothing listens: refused at once. */
static void test_server_down_is_unreachable(void **state)
{
	struct dns_config c = config();
	struct ferry_error err = { 0 };
	struct dns_provider *p;
	int64_t t0;

	(void)state;
	c.api = "http://127.0.0.1:16239";
	p = open_cfg(&c);
	t0 = time_mono_ms();
	assert_int_equal(dns_check_access(p, &err), FERRY_EUNREACH);
	assert_true(time_mono_ms() - t0 < 5000);
	assert_non_null(strstr(err.msg, "127.0.0.1:16239"));
	assert_no_secret(&err);
	dns_close(p);
}

static void test_open_rejects_bad_config(void **state)
{
	struct dns_config c = config();
	struct ferry_error err = { 0 };
	struct dns_provider *p = NULL;

	(void)state;
	c.secret = NULL;
	assert_int_equal(dns_open("powerdns", &c, &p, &err), FERRY_EINVAL);
	c = config();
	c.api = "ftp://127.0.0.1";
	assert_int_equal(dns_open("powerdns", &c, &p, &err), FERRY_EINVAL);
	c = config();
	c.secret = "a\nb";
	assert_int_equal(dns_open("powerdns", &c, &p, &err), FERRY_EINVAL);
	assert_null(p);
}

/* --- changes -------------------------------------------------------- */

static void test_ttl_steps_keep_the_values(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *a[] = { "10.77.0.2" }, *stale[] = { "10.77.0.7" };
	struct dns_state st = dns_test_plain(a, 1, NULL), sst = dns_test_plain(stale, 1, NULL);
	char got[256];
	unsigned ttl;

	(void)state;
	if (dns_set_ttl(p, "ttl.shop.test", &st, 300, &err) < 0)
		fail_msg("set_ttl: %s", err.msg);
	dig("ttl.shop.test", "A", got, sizeof(got), &ttl);
	assert_string_equal(got, "10.77.0.2");
	assert_int_equal(ttl, 300);
	if (dns_set_ttl(p, "ttl.shop.test", &st, 60, &err) < 0)
		fail_msg("set_ttl: %s", err.msg);
	dig("ttl.shop.test", "A", got, sizeof(got), &ttl);
	assert_int_equal(ttl, 60);
	assert_int_equal(dns_set_ttl(p, "ttl.shop.test", &sst, 30, &err), FERRY_ECHANGED);
	assert_non_null(strstr(err.msg, "10.77.0.2"));
	assert_no_secret(&err);
	dig("ttl.shop.test", "A", got, sizeof(got), &ttl);
	assert_int_equal(ttl, 60);
	dns_close(p);
}

static void test_cas_applies(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.3" };
	struct dns_state so = dns_test_plain(old, 1, NULL), sn = dns_test_plain(nw, 1, NULL);
	char got[256];
	unsigned ttl;

	(void)state;
	if (dns_cas(p, "cas.shop.test", &so, &sn, 60, &err) < 0)
		fail_msg("cas: %s", err.msg);
	dig("cas.shop.test", "A", got, sizeof(got), &ttl);
	assert_string_equal(got, "10.77.0.3");
	assert_int_equal(ttl, 60);
	dns_close(p);
}

/* Another party changed the record after ferry's last look: refused,
 * named, and left as the other party set it. */
static void test_cas_refused_after_another_party_changed_it(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.3" };
	struct dns_state so = dns_test_plain(old, 1, NULL), sn = dns_test_plain(nw, 1, NULL);
	char got[256];

	(void)state;
	pdnsutil_replace("race", "A", "600", "10.77.0.66");
	assert_int_equal(dns_cas(p, "race.shop.test", &so, &sn, 60, &err), FERRY_ECHANGED);
	assert_non_null(strstr(err.msg, "10.77.0.66"));
	assert_non_null(strstr(err.msg, "nothing changed"));
	assert_no_secret(&err);
	dig("race.shop.test", "A", got, sizeof(got), NULL);
	assert_string_equal(got, "10.77.0.66");
	dns_close(p);
}

/* Several A and AAAA to a CNAME (a cloud balancer) and back, over DNS. */
static void test_cas_set_to_cname_and_back(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *set[] = { "2001:DB8::2", "10.77.0.4", "10.77.0.2" };
	struct dns_state sset = dns_test_plain(set, 3, NULL),
	                 scn = dns_test_plain(NULL, 0, "lb-new.example.net");
	char got[256];
	unsigned ttl;

	(void)state;
	if (dns_cas(p, "multi.shop.test", &sset, &scn, 60, &err) < 0)
		fail_msg("cas to cname: %s", err.msg);
	dig("multi.shop.test", "CNAME", got, sizeof(got), &ttl);
	assert_string_equal(got, "lb-new.example.net.");
	assert_int_equal(ttl, 60);
	dig("multi.shop.test", "AAAA", got, sizeof(got), NULL);
	assert_string_equal(got, "lb-new.example.net."); /* the alias answers alone */
	assert_int_equal(dns_cas(p, "multi.shop.test", &sset, &scn, 60, &err), FERRY_ECHANGED);
	assert_non_null(strstr(err.msg, "CNAME lb-new.example.net."));
	if (dns_cas(p, "multi.shop.test", &scn, &sset, 120, &err) < 0)
		fail_msg("cas back: %s", err.msg);
	dig("multi.shop.test", "A", got, sizeof(got), &ttl);
	assert_string_equal(got, "10.77.0.2 10.77.0.4");
	assert_int_equal(ttl, 120);
	dig("multi.shop.test", "AAAA", got, sizeof(got), NULL);
	assert_string_equal(got, "2001:db8::2");
	dns_close(p);
}

/* A set that gained an address behind ferry's back is not the set ferry
 * expects: the expected set must match exactly, not be included. */
static void test_cas_refused_when_the_set_grew(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.3" };
	struct dns_state so = dns_test_plain(old, 1, NULL), sn = dns_test_plain(nw, 1, NULL);
	char got[256];

	(void)state;
	pdnsutil_replace("api", "A", "3600", "10.77.0.2 10.77.0.5");
	assert_int_equal(dns_cas(p, "api.shop.test", &so, &sn, 60, &err), FERRY_ECHANGED);
	assert_non_null(strstr(err.msg, "10.77.0.5"));
	dig("api.shop.test", "A", got, sizeof(got), NULL);
	assert_string_equal(got, "10.77.0.2 10.77.0.5");
	dns_close(p);
}

/* A CNAME whose target another party changed is refused. */
static void test_cas_refused_when_cname_target_changed(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *nw[] = { "10.77.0.3" };
	struct dns_state so = dns_test_plain(NULL, 0, "lb-old.example.net"),
	                 sn = dns_test_plain(nw, 1, NULL);
	char got[256];

	(void)state;
	pdnsutil_replace("cn", "CNAME", "3600", "lb-other.example.net.");
	assert_int_equal(dns_cas(p, "cn.shop.test", &so, &sn, 60, &err), FERRY_ECHANGED);
	assert_non_null(strstr(err.msg, "lb-other.example.net"));
	dig("cn.shop.test", "CNAME", got, sizeof(got), NULL);
	assert_string_equal(got, "lb-other.example.net.");
	dns_close(p);
}

/* The dry run shows the PATCH ferry sends, without the key. */
static void test_dry_run_text_is_the_request(void **state)
{
	struct dns_config c = config();
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.3", "2001:db8::3" };
	struct dns_state so = dns_test_plain(old, 1, NULL), sn = dns_test_plain(nw, 2, NULL);
	struct buf out;

	(void)state;
	buf_init(&out, 1 << 16);
	assert_int_equal(dns_describe("powerdns", &c, "dry.shop.test", &so, &sn, 60, &out, &err),
	                 0);
	assert_non_null(strstr(out.data, "read-compare-write"));
	assert_non_null(strstr(out.data, "PATCH "));
	assert_non_null(strstr(out.data, "/api/v1/servers/localhost/zones/shop.test."));
	assert_non_null(strstr(out.data, "\"type\":\"AAAA\",\"ttl\":60,\"changetype\":"
	                                 "\"REPLACE\",\"records\":[{\"content\":\"2001:db8::3\""));
	assert_non_null(strstr(out.data, "cache/flush?domain=dry.shop.test."));
	assert_null(strstr(out.data, key));
	buf_release(&out);
}

/* --- weighted answers ------------------------------------------------- */

/* Asks the server over DNS n times (A, one UDP socket, ldns for the
 * packets: the test's own reader) and counts answers equal to addr.
 * Queries go out 50 at a time, so that the server's threads, not the
 * round trip, set the pace. */
static unsigned count_answers(const char *name, const char *addr, unsigned n)
{
	enum {
		WINDOW = 50
	};
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(dns_port) };
	ldns_rdf *owner = ldns_dname_new_frm_str(name);
	ldns_pkt *q =
	        ldns_pkt_query_new(ldns_rdf_clone(owner), LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0);
	struct timeval tv = { 5, 0 };
	uint8_t *wire = NULL, reply[4096];
	size_t wlen;
	unsigned i, k, hits = 0, batch;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	for (i = 0; i < n; i += batch) {
		batch = n - i < WINDOW ? n - i : WINDOW;
		for (k = 0; k < batch; k++) {
			ldns_pkt_set_id(q, (uint16_t)(k + 1));
			assert_int_equal(ldns_pkt2wire(&wire, q, &wlen), LDNS_STATUS_OK);
			assert_int_equal(send(fd, wire, wlen, 0), (ssize_t)wlen);
			free(wire);
		}
		for (k = 0; k < batch; k++) {
			ldns_pkt *resp = NULL;
			ldns_rr_list *ans;
			char *text;
			ssize_t got = recv(fd, reply, sizeof(reply), 0);

			if (got <= 0)
				fail_msg("no answer to query %u of %u", i + k, n);
			assert_int_equal(ldns_wire2pkt(&resp, reply, (size_t)got), LDNS_STATUS_OK);
			ans = ldns_pkt_answer(resp);
			/* pickwrandom answers one address */
			assert_int_equal(ldns_rr_list_rr_count(ans), 1);
			text = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ans, 0), 0));
			hits += !strcmp(text, addr);
			free(text);
			ldns_pkt_free(resp);
		}
	}
	close(fd);
	ldns_pkt_free(q);
	ldns_rdf_deep_free(owner);
	return hits;
}

/* 10,000 queries at 90/10 land within 2 points of 10 %; then all back. */
static void test_split_90_10_lands_within_two_percent(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.3" };
	struct dns_state so = dns_test_plain(old, 1, NULL);
	struct dns_state split = { .set = so.set, .split = true, .alt = { nw, 1, NULL } };
	struct dns_rrset rs;
	unsigned hits;
	double share;

	(void)state;
	split.weight = 90;
	split.alt_weight = 10;
	if (dns_cas(p, "weight.shop.test", &so, &split, 5, &err) < 0)
		fail_msg("split: %s", err.msg);
	/* what the provider reads back: the split, described */
	dns_rrset_init(&rs);
	assert_int_equal(dns_query(p, "weight.shop.test", &rs, &err), 0);
	assert_non_null(rs.other);
	assert_non_null(strstr(rs.other, "pickwrandom({{90,'10.77.0.2'},{10,'10.77.0.3'}})"));
	assert_int_equal(rs.n, 2);
	assert_int_equal(rs.ttl, 5);
	assert_false(dns_rrset_matches(&rs, &so));
	dns_rrset_release(&rs);
	assert_int_equal(dns_expect(p, "weight.shop.test", &split, NULL, &err), 0);
	assert_int_equal(dns_expect(p, "weight.shop.test", &so, NULL, &err), FERRY_ECHANGED);

	hits = count_answers("weight.shop.test.", "10.77.0.3", 10000);
	share = hits / 100.0;
	print_message("90/10: %u of 10000 answers to new (%.2f %%)\n", hits, share);
	assert_true(share >= 8.0 && share <= 12.0);

	/* a step: the split with other weights expects the old split */
	split.weight = 75;
	split.alt_weight = 25;
	assert_int_equal(dns_cas(p, "weight.shop.test", &split, &so, 5, &err), FERRY_ECHANGED);
	{
		struct dns_state was = split;

		was.weight = 90;
		was.alt_weight = 10;
		if (dns_cas(p, "weight.shop.test", &was, &split, 5, &err) < 0)
			fail_msg("step: %s", err.msg);
	}
	hits = count_answers("weight.shop.test.", "10.77.0.3", 2000);
	print_message("75/25: %u of 2000 answers to new\n", hits);
	assert_true(hits >= 400 && hits <= 600);

	/* weight 0 for new: never answered */
	{
		struct dns_state was = split;

		split.weight = 100;
		split.alt_weight = 0;
		if (dns_cas(p, "weight.shop.test", &was, &split, 5, &err) < 0)
			fail_msg("0: %s", err.msg);
	}
	assert_int_equal(count_answers("weight.shop.test.", "10.77.0.3", 500), 0);
	/* and back to the plain old record */
	if (dns_cas(p, "weight.shop.test", &split, &so, 5, &err) < 0)
		fail_msg("back: %s", err.msg);
	assert_int_equal(count_answers("weight.shop.test.", "10.77.0.2", 50), 50);
	dns_close(p);
}

/* Each family gets its own LUA record; a side without a family is
 * refused (its clients would all go one way). */
static void test_split_per_family(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2", "2001:db8::2" }, *nw[] = { "10.77.0.3", "2001:db8::3" };
	char *only4[] = { "10.77.0.3" };
	struct dns_state so = dns_test_plain(old, 2, NULL);
	struct dns_state split = { .set = so.set, .split = true, .alt = { nw, 2, NULL } };
	struct dns_state bad = { .set = so.set, .split = true, .alt = { only4, 1, NULL } };
	char got[256];

	(void)state;
	split.weight = bad.weight = 50;
	split.alt_weight = bad.alt_weight = 50;
	assert_int_equal(dns_cas(p, "weight6.shop.test", &so, &bad, 5, &err), FERRY_EINVAL);
	assert_non_null(strstr(err.msg, "IPv6"));
	if (dns_cas(p, "weight6.shop.test", &so, &split, 5, &err) < 0)
		fail_msg("split: %s", err.msg);
	dig("weight6.shop.test", "AAAA", got, sizeof(got), NULL);
	assert_true(!strcmp(got, "2001:db8::2") || !strcmp(got, "2001:db8::3"));
	if (dns_cas(p, "weight6.shop.test", &split, &so, 5, &err) < 0)
		fail_msg("back: %s", err.msg);
	dig("weight6.shop.test", "AAAA", got, sizeof(got), NULL);
	assert_string_equal(got, "2001:db8::2");
	dns_close(p);
}

/* A sticky split (pickwhashed): one client, here one socket's address,
 * always gets the same side; the record reads back as pickwhashed. */
static void test_sticky_split_keeps_a_client_on_its_side(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.3" };
	struct dns_state so = dns_test_plain(old, 1, NULL);
	struct dns_state split = { .set = so.set, .split = true, .alt = { nw, 1, NULL } };
	struct dns_rrset rs;
	unsigned to_new;

	(void)state;
	split.weight = split.alt_weight = 50;
	split.sticky = true;
	if (dns_cas(p, "dry.shop.test", &so, &split, 5, &err) < 0)
		fail_msg("split: %s", err.msg);
	dns_rrset_init(&rs);
	assert_int_equal(dns_query(p, "dry.shop.test", &rs, &err), 0);
	assert_non_null(strstr(rs.other, "pickwhashed({{50,'10.77.0.2'},{50,'10.77.0.3'}})"));
	dns_rrset_release(&rs);
	/* a random split of the same weights is not what is there */
	split.sticky = false;
	assert_int_equal(dns_expect(p, "dry.shop.test", &split, NULL, &err), FERRY_ECHANGED);
	split.sticky = true;
	to_new = count_answers("dry.shop.test.", "10.77.0.3", 200);
	print_message("sticky 50/50: %u of 200 answers to new, from one client\n", to_new);
	assert_true(to_new == 0 || to_new == 200);
	if (dns_cas(p, "dry.shop.test", &split, &so, 5, &err) < 0)
		fail_msg("back: %s", err.msg);
	dns_close(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_rejects_bad_config),
		cmocka_unit_test(test_query_reads_sets_and_cnames),
		cmocka_unit_test(test_check_access_accepts_the_key),
		cmocka_unit_test(test_wrong_api_key_is_eauth_and_changes_nothing),
		cmocka_unit_test(test_unknown_zone_is_refused),
		cmocka_unit_test(test_server_down_is_unreachable),
		cmocka_unit_test(test_ttl_steps_keep_the_values),
		cmocka_unit_test(test_cas_applies),
		cmocka_unit_test(test_cas_refused_after_another_party_changed_it),
		cmocka_unit_test(test_cas_set_to_cname_and_back),
		cmocka_unit_test(test_cas_refused_when_the_set_grew),
		cmocka_unit_test(test_cas_refused_when_cname_target_changed),
		cmocka_unit_test(test_dry_run_text_is_the_request),
		cmocka_unit_test(test_split_90_10_lands_within_two_percent),
		cmocka_unit_test(test_split_per_family),
		cmocka_unit_test(test_sticky_split_keeps_a_client_on_its_side),
	};
	const char *port = getenv("FERRY_TEST_PDNS_DNS_PORT"),
	           *kf = getenv("FERRY_TEST_PDNS_KEY_FILE");
	int rc;

	api = getenv("FERRY_TEST_PDNS_API");
	pdns_dir = getenv("FERRY_TEST_PDNS_DIR");
	if (!api || !port || !kf || !pdns_dir) {
		fprintf(stderr, "FERRY_TEST_PDNS_* not set: run this test through pdns.sh\n");
		return 1;
	}
	dns_port = (uint16_t)strtoul(port, NULL, 10);
	key = dns_test_read(kf);
	if (!key) {
		fprintf(stderr, "cannot read %s\n", kf);
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(key);
	return rc;
}
