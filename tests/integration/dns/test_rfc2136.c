/*
 * test_rfc2136.c - the rfc2136 DNS provider against a real Knot DNS server.
 *
 * Run through knot.sh, which starts knotd on 127.0.0.1 and passes the port
 * and the key files in FERRY_TEST_DNS_*.  Each test that changes the zone
 * works on its own record (ttl, cas, race, auth, dual...), so the tests do
 * not depend on each other's order.  Failure cases use fake servers made
 * here: a TCP port bound but not listening (refuses), and sockets that
 * never answer (time out).  Every error returned is checked to contain no
 * secret.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dns/dns.h"
#include "util/buf.h"
#include "util/timeutil.h"

static uint16_t port;
/* Added to the wall clock that ldns signs with (see gettimeofday below). */
static long clock_skew_s;
static char *secret;       /* ferry-key */
static char *other_secret; /* other-key: known to the server, not in the ACL */

/*
 * ldns stamps TSIG "time signed" with gettimeofday(); this definition in
 * the executable interposes on libc's for libldns, so a test can skew the
 * clock that signs without touching the machine's clock.  Every other
 * caller sees the true time while clock_skew_s is 0.
 */
int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec ts;

	(void)tz;
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return -1;
	tv->tv_sec = ts.tv_sec + clock_skew_s;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

static char *read_secret(const char *env)
{
	const char *path = getenv(env);
	struct buf b;
	char *s;
	size_t len;

	if (!path) {
		fprintf(stderr, "%s not set: run this test through knot.sh\n", env);
		exit(1);
	}
	buf_init(&b, 4096);
	if (buf_read_file(&b, path) < 0) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(1);
	}
	s = buf_detach(&b, &len);
	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		s[--len] = '\0';
	return s;
}

static struct dns_config config(void)
{
	struct dns_config c = {
		.server_host = "127.0.0.1",
		.server_port = port,
		.zone = "shop.test",
		.key_name = "ferry-key",
		.algorithm = "hmac-sha256",
		.secret = secret,
		.timeout_ms = 2000,
	};
	return c;
}

/* The tests speak in address arrays; the interface takes states. */
static int cas_addrs(struct dns_provider *p, const char *name, char *const *old, size_t nold,
                     char *const *nw, size_t nnew, uint32_t ttl, struct ferry_error *err)
{
	struct dns_values vo = { old, nold, NULL }, vn = { nw, nnew, NULL };
	struct dns_state so = dns_state_plain(&vo), sn = dns_state_plain(&vn);

	return dns_cas(p, name, &so, &sn, ttl, err);
}

static int set_ttl_addrs(struct dns_provider *p, const char *name, char *const *addrs, size_t n,
                         uint32_t ttl, struct ferry_error *err)
{
	struct dns_values v = { addrs, n, NULL };
	struct dns_state st = dns_state_plain(&v);

	return dns_set_ttl(p, name, &st, ttl, err);
}

static struct dns_provider *open_cfg(const struct dns_config *c)
{
	struct ferry_error err = { 0 };
	struct dns_provider *p = NULL;
	int rc = dns_open("rfc2136", c, &p, &err);

	if (rc < 0)
		fail_msg("dns_open: %s", err.msg);
	return p;
}

static struct dns_provider *open_default(void)
{
	struct dns_config c = config();

	return open_cfg(&c);
}

/* No message or hint ever holds a secret (nor a large part of one). */
static void assert_no_secret(const struct ferry_error *e)
{
	const char *secrets[] = { secret, other_secret };
	size_t i;

	/* FERRY_TEST_SHOW_ERRORS=1 prints every message checked, to review
	 * their wording. */
	if (getenv("FERRY_TEST_SHOW_ERRORS"))
		fprintf(stderr, "msg:  %s\nhint: %s\n", e->msg, e->hint);
	for (i = 0; i < 2; i++) {
		char part[12];

		snprintf(part, sizeof(part), "%s", secrets[i]);
		assert_null(strstr(e->msg, part));
		assert_null(strstr(e->hint, part));
	}
}

static void assert_holds(const char *name, const char *addr, uint32_t ttl)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	struct dns_rrset rs;

	dns_rrset_init(&rs);
	if (dns_query(p, name, &rs, &err) < 0)
		fail_msg("query %s: %s", name, err.msg);
	assert_int_equal(rs.n, 1);
	assert_string_equal(rs.addresses[0], addr);
	assert_int_equal(rs.ttl, ttl);
	dns_rrset_release(&rs);
	dns_close(p);
}

/* The zone's SOA serial as kdig sees it: an independent reader. */
static unsigned long soa_serial(void)
{
	char cmd[160], line[256], *end, *sp;
	unsigned long serial;
	FILE *fp;

	snprintf(cmd, sizeof(cmd), "kdig @127.0.0.1 -p %u +short +norec shop.test SOA", port);
	fp = popen(cmd, "r");
	assert_non_null(fp);
	assert_non_null(fgets(line, sizeof(line), fp));
	pclose(fp);
	/* "ns.shop.test. hostmaster.shop.test. SERIAL ..." */
	sp = strchr(line, ' ');
	assert_non_null(sp);
	sp = strchr(sp + 1, ' ');
	assert_non_null(sp);
	errno = 0;
	serial = strtoul(sp + 1, &end, 10);
	assert_int_equal(errno, 0);
	assert_true(end > sp + 1);
	return serial;
}

/* --- reading ------------------------------------------------------------ */

static void test_query_returns_addresses_and_ttl(void **state)
{
	(void)state;
	assert_holds("www.shop.test", "10.77.0.2", 3600);
	assert_holds("api.shop.test", "10.77.0.2", 3600);
}

static void test_query_returns_a_and_aaaa_together(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	struct dns_rrset rs;
	char *want[] = { "2001:db8::2", "10.77.0.2" };

	(void)state;
	dns_rrset_init(&rs);
	assert_int_equal(dns_query(p, "dual.shop.test", &rs, &err), 0);
	assert_int_equal(rs.n, 2);
	assert_true(dns_addresses_equal(rs.addresses, rs.n, want, 2));
	assert_string_equal(rs.name, "dual.shop.test");
	dns_rrset_release(&rs);
	dns_close(p);
}

/* 40 A records do not fit 512 bytes: the UDP answer is truncated and the
 * query is retried over TCP (RFC 7766 §5). */
static void test_query_truncated_answer_retries_over_tcp(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	struct dns_rrset rs;
	char text[40][16], *want[40];
	size_t i;

	(void)state;
	for (i = 0; i < 40; i++) {
		snprintf(text[i], sizeof(text[i]), "10.77.1.%zu", i + 1);
		want[i] = text[i];
	}
	dns_rrset_init(&rs);
	if (dns_query(p, "big.shop.test", &rs, &err) < 0)
		fail_msg("query: %s", err.msg);
	assert_int_equal(rs.n, 40);
	assert_true(dns_addresses_equal(rs.addresses, rs.n, want, 40));
	dns_rrset_release(&rs);
	dns_close(p);
}

static void test_query_missing_name_is_not_found(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	struct dns_rrset rs;

	(void)state;
	dns_rrset_init(&rs);
	assert_int_equal(dns_query(p, "nosuch.shop.test", &rs, &err), FERRY_ENOTFOUND);
	assert_non_null(strstr(err.msg, "nosuch.shop.test"));
	assert_non_null(strstr(err.msg, "NXDOMAIN"));
	assert_non_null(strstr(err.msg, "127.0.0.1"));
	assert_true(err.hint[0] != '\0');
	/* a name with other data but no address */
	memset(&err, 0, sizeof(err));
	assert_int_equal(dns_query(p, "token.shop.test", &rs, &err), FERRY_ENOTFOUND);
	assert_non_null(strstr(err.msg, "no A, AAAA or CNAME"));
	dns_rrset_release(&rs);
	dns_close(p);
}

static void test_query_alias_returns_its_cname(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	struct dns_rrset rs;

	(void)state;
	dns_rrset_init(&rs);
	if (dns_query(p, "alias.shop.test", &rs, &err) < 0)
		fail_msg("query: %s", err.msg);
	assert_string_equal(rs.cname, "www.shop.test");
	assert_int_equal(rs.n, 0); /* www's A follows in the answer: not alias's */
	assert_int_equal(rs.ttl, 3600);
	dns_rrset_release(&rs);
	dns_close(p);
}

/* --- the key ------------------------------------------------------------ */

static void test_check_key_accepted_and_serial_unchanged(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	unsigned long before = soa_serial();

	(void)state;
	if (dns_check_access(p, &err) < 0)
		fail_msg("check_key: %s", err.msg);
	assert_int_equal(err.code, 0); /* untouched on success */
	assert_int_equal(soa_serial(), before);
	dns_close(p);
}

static void test_wrong_secret_is_badsig_and_changes_nothing(void **state)
{
	struct dns_config c = config();
	struct dns_provider *p;
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.66" };

	(void)state;
	c.secret = other_secret;
	p = open_cfg(&c);
	assert_int_equal(dns_check_access(p, &err), FERRY_EAUTH);
	assert_non_null(strstr(err.msg, "BADSIG"));
	assert_non_null(strstr(err.msg, "ferry-key"));
	assert_non_null(strstr(err.msg, "127.0.0.1"));
	assert_no_secret(&err);
	memset(&err, 0, sizeof(err));
	assert_int_equal(cas_addrs(p, "auth.shop.test", old, 1, nw, 1, 60, &err), FERRY_EAUTH);
	assert_non_null(strstr(err.msg, "BADSIG"));
	assert_non_null(strstr(err.msg, "auth.shop.test"));
	assert_non_null(strstr(err.msg, "nothing changed"));
	assert_no_secret(&err);
	dns_close(p);
	assert_holds("auth.shop.test", "10.77.0.2", 3600);
}

static void test_unknown_key_is_badkey(void **state)
{
	struct dns_config c = config();
	struct dns_provider *p;
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.66" };

	(void)state;
	c.key_name = "no-such-key";
	p = open_cfg(&c);
	assert_int_equal(dns_check_access(p, &err), FERRY_EAUTH);
	assert_non_null(strstr(err.msg, "BADKEY"));
	assert_non_null(strstr(err.msg, "no-such-key"));
	assert_true(err.hint[0] != '\0');
	assert_no_secret(&err);
	memset(&err, 0, sizeof(err));
	assert_int_equal(cas_addrs(p, "auth.shop.test", old, 1, nw, 1, 60, &err), FERRY_EAUTH);
	assert_no_secret(&err);
	dns_close(p);
	assert_holds("auth.shop.test", "10.77.0.2", 3600);
}

/* Knot answers a key that it knows but whose ACL does not allow the update
 * with BADKEY too (knot's process_query ACL check); BIND says REFUSED. */
static void test_key_not_allowed_by_acl_is_refused(void **state)
{
	struct dns_config c = config();
	struct dns_provider *p;
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.66" };
	int rc;

	(void)state;
	c.key_name = "other-key";
	c.secret = other_secret;
	p = open_cfg(&c);
	rc = cas_addrs(p, "auth.shop.test", old, 1, nw, 1, 60, &err);
	assert_true(rc == FERRY_EAUTH || rc == FERRY_EREFUSED);
	assert_true(strstr(err.msg, "BADKEY") || strstr(err.msg, "REFUSED") ||
	            strstr(err.msg, "NOTAUTH"));
	assert_non_null(strstr(err.msg, "other-key"));
	assert_non_null(strstr(err.hint, "acl"));
	assert_no_secret(&err);
	dns_close(p);
	assert_holds("auth.shop.test", "10.77.0.2", 3600);
}

static void test_zone_not_served_is_notauth(void **state)
{
	struct dns_config c = config();
	struct dns_provider *p;
	struct ferry_error err = { 0 };

	(void)state;
	c.zone = "other.test";
	p = open_cfg(&c);
	assert_int_equal(dns_check_access(p, &err), FERRY_EREFUSED);
	assert_non_null(strstr(err.msg, "NOTAUTH"));
	assert_non_null(strstr(err.msg, "other.test"));
	assert_no_secret(&err);
	dns_close(p);
}

static void test_name_outside_zone_rejected_before_sending(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.3" };

	(void)state;
	assert_int_equal(cas_addrs(p, "www.other.test", old, 1, nw, 1, 60, &err), FERRY_EINVAL);
	assert_non_null(strstr(err.msg, "outside zone shop.test"));
	dns_close(p);
}

static void test_open_rejects_bad_config(void **state)
{
	struct dns_config c = config();
	struct dns_provider *p = NULL;
	struct ferry_error err = { 0 };

	(void)state;
	c.secret = "this is *not* base64!";
	assert_int_equal(dns_open("rfc2136", &c, &p, &err), FERRY_EINVAL);
	assert_null(p);
	assert_null(strstr(err.msg, "not* base64"));
	assert_non_null(strstr(err.msg, "ferry-key"));

	c = config();
	c.server_host = "dns.example.com";
	assert_int_equal(dns_open("rfc2136", &c, &p, &err), FERRY_EINVAL);
	assert_non_null(strstr(err.msg, "dns.example.com"));

	c = config();
	assert_int_equal(dns_open("route66", &c, &p, &err), FERRY_EINVAL);
	assert_non_null(strstr(err.msg, "route66"));
	assert_null(p);
}

/* --- changing ----------------------------------------------------------- */

static void test_set_ttl_lowers_ttl_and_keeps_addresses(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	struct dns_rrset rs;
	unsigned long before = soa_serial();

	(void)state;
	dns_rrset_init(&rs);
	assert_int_equal(dns_query(p, "ttl.shop.test", &rs, &err), 0);
	assert_int_equal(rs.ttl, 3600);
	if (set_ttl_addrs(p, "ttl.shop.test", rs.addresses, rs.n, 300, &err) < 0)
		fail_msg("set_ttl: %s", err.msg);
	dns_rrset_release(&rs);
	assert_holds("ttl.shop.test", "10.77.0.2", 300);
	assert_true(soa_serial() > before); /* the server did apply an update */
	/* and again down to 60: the TTL is not part of the prerequisite */
	dns_rrset_init(&rs);
	assert_int_equal(dns_query(p, "ttl.shop.test", &rs, &err), 0);
	assert_int_equal(set_ttl_addrs(p, "ttl.shop.test", rs.addresses, rs.n, 60, &err), 0);
	dns_rrset_release(&rs);
	assert_holds("ttl.shop.test", "10.77.0.2", 60);
	dns_close(p);
}

static void test_set_ttl_refused_when_addresses_differ(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *stale[] = { "10.77.0.9" };

	(void)state;
	assert_int_equal(set_ttl_addrs(p, "api.shop.test", stale, 1, 300, &err), FERRY_ECHANGED);
	assert_non_null(strstr(err.msg, "api.shop.test"));
	assert_non_null(strstr(err.msg, "holds 10.77.0.2 (TTL 3600)"));
	assert_non_null(strstr(err.msg, "not 10.77.0.9"));
	assert_non_null(strstr(err.msg, "changed nothing"));
	assert_no_secret(&err);
	dns_close(p);
	assert_holds("api.shop.test", "10.77.0.2", 3600);
}

static void test_cas_applies(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.3" };

	(void)state;
	if (cas_addrs(p, "cas.shop.test", old, 1, nw, 1, 60, &err) < 0)
		fail_msg("cas: %s", err.msg);
	assert_holds("cas.shop.test", "10.77.0.3", 60);
	/* and back, as a rollback does */
	assert_int_equal(cas_addrs(p, "cas.shop.test", nw, 1, old, 1, 3600, &err), 0);
	assert_holds("cas.shop.test", "10.77.0.2", 3600);
	dns_close(p);
}

static void test_cas_www_to_new_host(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.3" };

	(void)state;
	if (cas_addrs(p, "www.shop.test", old, 1, nw, 1, 60, &err) < 0)
		fail_msg("cas: %s", err.msg);
	assert_holds("www.shop.test", "10.77.0.3", 60);
	dns_close(p);
}

static void test_cas_refused_when_record_changed(void **state)
{
	struct dns_provider *ferry = open_default(), *other = open_default();
	struct ferry_error err = { 0 };
	struct dns_rrset seen;
	char *theirs[] = { "10.77.0.9" }, *nw[] = { "10.77.0.3" };

	(void)state;
	/* ferry reads the record ... */
	dns_rrset_init(&seen);
	assert_int_equal(dns_query(ferry, "race.shop.test", &seen, &err), 0);
	assert_string_equal(seen.addresses[0], "10.77.0.2");
	/* ... someone else changes it ... */
	if (cas_addrs(other, "race.shop.test", seen.addresses, seen.n, theirs, 1, 600, &err) < 0)
		fail_msg("other party's cas: %s", err.msg);
	/* ... and ferry's swap from the stale value is refused. */
	assert_int_equal(
	        cas_addrs(ferry, "race.shop.test", seen.addresses, seen.n, nw, 1, 60, &err),
	        FERRY_ECHANGED);
	assert_non_null(strstr(err.msg, "race.shop.test"));
	assert_non_null(strstr(err.msg, "holds 10.77.0.9 (TTL 600)"));
	assert_non_null(strstr(err.msg, "ferry changed nothing"));
	assert_true(err.hint[0] != '\0');
	assert_no_secret(&err);
	dns_rrset_release(&seen);
	dns_close(ferry);
	dns_close(other);
	assert_holds("race.shop.test", "10.77.0.9", 600);
}

/* The plan expects only the A record; an AAAA someone added must not be
 * silently deleted by the swap (RFC 2136 §2.4.3 prerequisite). */
static void test_cas_refused_when_unexpected_aaaa_exists(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	struct dns_rrset rs;
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.3" };
	char *both[] = { "10.77.0.2", "2001:DB8:0::2" }, *nw2[] = { "10.77.0.3", "2001:db8::3" };
	char *want[] = { "10.77.0.3", "2001:db8::3" };

	(void)state;
	assert_int_equal(cas_addrs(p, "dual.shop.test", old, 1, nw, 1, 60, &err), FERRY_ECHANGED);
	assert_non_null(strstr(err.msg, "2001:db8::2"));
	assert_no_secret(&err);
	/* with the whole set (spelled differently) it goes through */
	if (cas_addrs(p, "dual.shop.test", both, 2, nw2, 2, 60, &err) < 0)
		fail_msg("cas: %s", err.msg);
	dns_rrset_init(&rs);
	assert_int_equal(dns_query(p, "dual.shop.test", &rs, &err), 0);
	assert_true(dns_addresses_equal(rs.addresses, rs.n, want, 2));
	assert_int_equal(rs.ttl, 60);
	dns_rrset_release(&rs);
	dns_close(p);
}

/* Record sets: several A and AAAA move to a CNAME (a cloud load balancer)
 * and back, each a compare-and-swap on the whole set. */
static void test_cas_moves_address_set_to_cname_and_back(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	struct dns_rrset rs;
	char *set[] = { "10.77.0.4", "2001:db8::2", "10.77.0.2" };
	struct dns_values vset = { set, 3, NULL }, vcn = { NULL, 0, "lb-new.example.net" };
	struct dns_state sset = dns_state_plain(&vset), scn = dns_state_plain(&vcn);

	(void)state;
	if (dns_cas(p, "multi.shop.test", &sset, &scn, 60, &err) < 0)
		fail_msg("cas to cname: %s", err.msg);
	dns_rrset_init(&rs);
	assert_int_equal(dns_query(p, "multi.shop.test", &rs, &err), 0);
	assert_string_equal(rs.cname, "lb-new.example.net");
	assert_int_equal(rs.n, 0);
	assert_int_equal(rs.ttl, 60);
	assert_true(dns_rrset_matches(&rs, &scn));
	dns_rrset_release(&rs);
	/* the set no longer holds: refused, naming the CNAME */
	assert_int_equal(dns_cas(p, "multi.shop.test", &sset, &scn, 60, &err), FERRY_ECHANGED);
	assert_non_null(strstr(err.msg, "CNAME lb-new.example.net"));
	if (dns_cas(p, "multi.shop.test", &scn, &sset, 120, &err) < 0)
		fail_msg("cas back: %s", err.msg);
	dns_rrset_init(&rs);
	assert_int_equal(dns_query(p, "multi.shop.test", &rs, &err), 0);
	assert_null(rs.cname);
	assert_true(dns_rrset_matches(&rs, &sset));
	assert_int_equal(rs.ttl, 120);
	dns_rrset_release(&rs);
	dns_close(p);
}

/* A CNAME changed by someone else (another target) is not overwritten. */
static void test_cas_refused_when_cname_target_changed(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	struct dns_rrset rs;
	char *nw[] = { "10.77.0.3" };
	struct dns_values vstale = { NULL, 0, "lb-other.example.net" }, vnew = { nw, 1, NULL };
	struct dns_values vnow = { NULL, 0, "LB-OLD.example.net." };
	struct dns_state stale = dns_state_plain(&vstale), snew = dns_state_plain(&vnew);
	struct dns_state snow = dns_state_plain(&vnow);

	(void)state;
	assert_int_equal(dns_cas(p, "cn.shop.test", &stale, &snew, 60, &err), FERRY_ECHANGED);
	assert_non_null(strstr(err.msg, "CNAME lb-old.example.net"));
	assert_non_null(strstr(err.msg, "changed nothing"));
	dns_rrset_init(&rs);
	assert_int_equal(dns_query(p, "cn.shop.test", &rs, &err), 0);
	assert_string_equal(rs.cname, "lb-old.example.net");
	assert_int_equal(rs.ttl, 3600);
	/* the target compares without case or trailing dot */
	assert_true(dns_rrset_matches(&rs, &snow));
	dns_rrset_release(&rs);
	dns_close(p);
}

static void test_cas_rejects_bad_addresses(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2" }, *bad[] = { "10.77.0.300" };

	(void)state;
	assert_int_equal(cas_addrs(p, "auth.shop.test", old, 1, bad, 1, 60, &err), FERRY_EINVAL);
	assert_non_null(strstr(err.msg, "10.77.0.300"));
	assert_int_equal(cas_addrs(p, "auth.shop.test", old, 1, bad, 0, 60, &err), FERRY_EINVAL);
	dns_close(p);
	assert_holds("auth.shop.test", "10.77.0.2", 3600);
}

static void test_clock_skew_is_badtime(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.66" };
	int rc;

	(void)state;
	clock_skew_s = 3600; /* RFC 8945 §5.2.3: beyond the 300 s fudge */
	rc = cas_addrs(p, "auth.shop.test", old, 1, nw, 1, 60, &err);
	clock_skew_s = 0;
	assert_int_equal(rc, FERRY_EAUTH);
	assert_non_null(strstr(err.msg, "BADTIME"));
	assert_non_null(strstr(err.msg, "ahead of the server"));
	assert_non_null(strstr(err.msg, "nothing changed"));
	assert_non_null(strstr(err.hint, "NTP"));
	assert_no_secret(&err);
	dns_close(p);
	assert_holds("auth.shop.test", "10.77.0.2", 3600);
}

/* Runs knsupdate on text, signed with ferry-key; returns its
 * exit status. */
static int knsupdate(const char *text)
{
	char dir[512], keyf[600], txtf[600], cmd[1400];
	const char *kf = getenv("FERRY_TEST_DNS_KEY_FILE");
	FILE *fp;
	int rc;

	/* In knot.sh's folder, which it removes on exit. */
	snprintf(dir, sizeof(dir), "%s", kf);
	*strrchr(dir, '/') = '\0';
	snprintf(keyf, sizeof(keyf), "%s/knsupdate.key", dir);
	snprintf(txtf, sizeof(txtf), "%s/knsupdate.txt", dir);
	fp = fopen(keyf, "w");
	assert_non_null(fp);
	fprintf(fp, "hmac-sha256:ferry-key:%s\n", secret);
	fclose(fp);
	fp = fopen(txtf, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	snprintf(cmd, sizeof(cmd), "knsupdate -k '%s' <'%s' >/dev/null 2>&1", keyf, txtf);
	rc = system(cmd);
	unlink(keyf);
	unlink(txtf);
	assert_true(WIFEXITED(rc));
	return WEXITSTATUS(rc);
}

/* --dry-run prints the change as knsupdate text; that text, run by another
 * tool, makes exactly the change (and is refused the same way once stale). */
static void test_dry_run_text_is_the_update_ferry_sends(void **state)
{
	struct dns_config cfg = config();
	struct ferry_error err = { 0 };
	struct dns_change c;
	struct buf text, want;
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.3" };
	struct dns_values vo = { old, 1, NULL }, vn = { nw, 1, NULL };
	struct dns_state so = dns_state_plain(&vo), sn = dns_state_plain(&vn);

	(void)state;
	assert_int_equal(dns_change_build(&c, "shop.test", "nsup.shop.test", &so, &sn, 60, &err),
	                 0);
	buf_init(&text, 1 << 16);
	buf_init(&want, 1 << 16);
	assert_int_equal(dns_change_format(&c, &cfg, &text), 0);
	buf_addf(&want,
	         "; signed with TSIG key ferry-key (hmac-sha256)\n"
	         "server 127.0.0.1 %u\n"
	         "zone shop.test.\n"
	         "prereq yxrrset nsup.shop.test. IN A 10.77.0.2\n"
	         "prereq nxrrset nsup.shop.test. IN AAAA\n"
	         "prereq nxrrset nsup.shop.test. IN CNAME\n"
	         "update delete nsup.shop.test. IN A\n"
	         "update delete nsup.shop.test. IN AAAA\n"
	         "update delete nsup.shop.test. IN CNAME\n"
	         "update add nsup.shop.test. 60 IN A 10.77.0.3\n"
	         "send\n",
	         port);
	assert_string_equal(text.data, want.data);
	assert_null(strstr(text.data, secret));

	assert_int_equal(knsupdate(text.data), 0);
	assert_holds("nsup.shop.test", "10.77.0.3", 60);
	assert_int_not_equal(knsupdate(text.data), 0); /* stale now: NXRRSET */
	assert_holds("nsup.shop.test", "10.77.0.3", 60);

	buf_release(&text);
	buf_release(&want);
	dns_change_release(&c);
}

/* --- unreachable, silent and forged servers ------------------------------ */

static int bound_socket(int type, uint16_t *out_port, uint16_t want)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, type, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(want);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		close(fd);
		return -1;
	}
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	*out_port = ntohs(sin.sin_port);
	return fd;
}

static void test_stopped_server_is_unreachable(void **state)
{
	struct dns_config c = config();
	struct dns_provider *p;
	struct ferry_error err = { 0 };
	struct dns_rrset rs;
	uint16_t dead;
	/* Bound but not listening: the kernel answers a connect with RST, and
	 * no UDP socket holds the port, so a datagram gets ICMP unreachable. */
	int fd = bound_socket(SOCK_STREAM, &dead, 0);
	int64_t t0;

	(void)state;
	c.server_port = dead;
	p = open_cfg(&c);
	t0 = time_mono_ms();
	assert_int_equal(dns_check_access(p, &err), FERRY_EUNREACH);
	assert_true(time_mono_ms() - t0 < 1000);
	assert_non_null(strstr(err.msg, "refused"));
	assert_true(err.hint[0] != '\0');
	assert_no_secret(&err);
	dns_rrset_init(&rs);
	t0 = time_mono_ms();
	assert_int_equal(dns_query(p, "www.shop.test", &rs, &err), FERRY_EUNREACH);
	assert_true(time_mono_ms() - t0 < 1000);
	assert_non_null(strstr(err.msg, "www.shop.test"));
	dns_rrset_release(&rs);
	dns_close(p);
	close(fd);
}

static void test_silent_server_times_out_within_timeout(void **state)
{
	struct dns_config c = config();
	struct dns_provider *p;
	struct ferry_error err = { 0 };
	struct dns_rrset rs;
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.3" };
	uint16_t silent;
	int tcp = bound_socket(SOCK_STREAM, &silent, 0), udp;
	int64_t t0, took;

	(void)state;
	/* TCP: accepted by the kernel's backlog, never read.  UDP: the same
	 * port, never read. */
	assert_int_equal(listen(tcp, 4), 0);
	udp = bound_socket(SOCK_DGRAM, &silent, silent);
	assert_true(udp >= 0);
	c.server_port = silent;
	c.timeout_ms = 300;
	p = open_cfg(&c);

	dns_rrset_init(&rs);
	t0 = time_mono_ms();
	assert_int_equal(dns_query(p, "www.shop.test", &rs, &err), FERRY_ETIMEDOUT);
	took = time_mono_ms() - t0;
	assert_true(took >= 290 && took < 800);
	assert_non_null(strstr(err.msg, "no answer"));

	t0 = time_mono_ms();
	assert_int_equal(cas_addrs(p, "www.shop.test", old, 1, nw, 1, 60, &err), FERRY_ETIMEDOUT);
	took = time_mono_ms() - t0;
	assert_true(took >= 290 && took < 800);
	assert_non_null(strstr(err.msg, "www.shop.test"));
	/* an update that got no answer may have been applied: never claim
	 * otherwise */
	assert_null(strstr(err.msg, "nothing changed"));
	assert_non_null(strstr(err.hint, "cannot tell"));
	assert_no_secret(&err);
	dns_rrset_release(&rs);
	dns_close(p);
	close(udp);
	close(tcp);
}

/* A server that echoes the update back with QR set: a NOERROR answer
 * whose TSIG is the request's, not a valid response MAC (RFC 8945 §5.3).
 * ferry must not believe it. */
static void test_forged_answer_fails_tsig_verification(void **state)
{
	struct dns_config c = config();
	struct dns_provider *p;
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.3" };
	uint16_t fake;
	int lfd = bound_socket(SOCK_STREAM, &fake, 0), status;
	pid_t pid;

	(void)state;
	assert_int_equal(listen(lfd, 1), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint8_t msg[65537];
		size_t len, got = 0;
		int cfd = accept(lfd, NULL, NULL);

		if (cfd < 0)
			_exit(1);
		while (got < 2 || got < 2 + (((size_t)msg[0] << 8) | msg[1])) {
			ssize_t n = read(cfd, msg + got, sizeof(msg) - got);

			if (n <= 0)
				_exit(1);
			got += (size_t)n;
		}
		len = got;
		msg[2 + 2] |= 0x80; /* QR: this is an answer */
		if (write(cfd, msg, len) != (ssize_t)len)
			_exit(1);
		close(cfd);
		_exit(0);
	}
	c.server_port = fake;
	p = open_cfg(&c);
	assert_int_equal(cas_addrs(p, "www.shop.test", old, 1, nw, 1, 60, &err), FERRY_EAUTH);
	assert_non_null(strstr(err.msg, "does not verify"));
	assert_non_null(strstr(err.msg, "may have been applied"));
	assert_no_secret(&err);
	dns_close(p);
	close(lfd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* --- helpers that need no server ---------------------------------------- */

static void test_address_sets_compare_canonically(void **state)
{
	char *a[] = { "10.0.0.1", "2001:DB8::1" }, *b[] = { "2001:db8:0:0::1", "10.0.0.1" };
	char *c[] = { "10.0.0.1" }, out[64];

	(void)state;
	assert_true(dns_addresses_equal(a, 2, b, 2));
	assert_false(dns_addresses_equal(a, 2, c, 1));
	assert_false(dns_addresses_equal(c, 1, a, 2));
	assert_true(dns_addresses_equal(NULL, 0, NULL, 0));
	dns_addresses_format(a, 2, out, sizeof(out));
	assert_string_equal(out, "10.0.0.1, 2001:DB8::1");
	dns_addresses_format(NULL, 0, out, sizeof(out));
	assert_string_equal(out, "no address");
	assert_int_equal(dns_address_canon("10.0.0.256", out, sizeof(out), NULL), FERRY_EINVAL);
}

static void test_name_in_zone_on_label_boundaries(void **state)
{
	(void)state;
	assert_true(dns_name_in_zone("www.shop.test", "shop.test"));
	assert_true(dns_name_in_zone("WWW.Shop.Test.", "shop.test"));
	assert_true(dns_name_in_zone("shop.test", "shop.test."));
	assert_false(dns_name_in_zone("www.myshop.test", "shop.test"));
	assert_false(dns_name_in_zone("shop.test.evil", "shop.test"));
	assert_false(dns_name_in_zone("test", "shop.test"));
}

int main(void)
{
	const char *p = getenv("FERRY_TEST_DNS_PORT");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address_sets_compare_canonically),
		cmocka_unit_test(test_name_in_zone_on_label_boundaries),
		cmocka_unit_test(test_open_rejects_bad_config),
		cmocka_unit_test(test_query_returns_addresses_and_ttl),
		cmocka_unit_test(test_query_returns_a_and_aaaa_together),
		cmocka_unit_test(test_query_truncated_answer_retries_over_tcp),
		cmocka_unit_test(test_query_missing_name_is_not_found),
		cmocka_unit_test(test_query_alias_returns_its_cname),
		cmocka_unit_test(test_check_key_accepted_and_serial_unchanged),
		cmocka_unit_test(test_wrong_secret_is_badsig_and_changes_nothing),
		cmocka_unit_test(test_unknown_key_is_badkey),
		cmocka_unit_test(test_key_not_allowed_by_acl_is_refused),
		cmocka_unit_test(test_zone_not_served_is_notauth),
		cmocka_unit_test(test_name_outside_zone_rejected_before_sending),
		cmocka_unit_test(test_set_ttl_lowers_ttl_and_keeps_addresses),
		cmocka_unit_test(test_set_ttl_refused_when_addresses_differ),
		cmocka_unit_test(test_cas_applies),
		cmocka_unit_test(test_cas_www_to_new_host),
		cmocka_unit_test(test_cas_refused_when_record_changed),
		cmocka_unit_test(test_cas_refused_when_unexpected_aaaa_exists),
		cmocka_unit_test(test_cas_moves_address_set_to_cname_and_back),
		cmocka_unit_test(test_cas_refused_when_cname_target_changed),
		cmocka_unit_test(test_cas_rejects_bad_addresses),
		cmocka_unit_test(test_dry_run_text_is_the_update_ferry_sends),
		cmocka_unit_test(test_clock_skew_is_badtime),
		cmocka_unit_test(test_stopped_server_is_unreachable),
		cmocka_unit_test(test_silent_server_times_out_within_timeout),
		cmocka_unit_test(test_forged_answer_fails_tsig_verification),
	};
	char *end;
	long v;
	int rc;

	if (!p) {
		fprintf(stderr, "FERRY_TEST_DNS_PORT not set: run this test through knot.sh\n");
		return 1;
	}
	v = strtol(p, &end, 10);
	if (*end || v <= 0 || v > 65535) {
		fprintf(stderr, "FERRY_TEST_DNS_PORT '%s' is not a port\n", p);
		return 1;
	}
	port = (uint16_t)v;
	secret = read_secret("FERRY_TEST_DNS_KEY_FILE");
	other_secret = read_secret("FERRY_TEST_DNS_OTHER_FILE");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(secret);
	free(other_secret);
	return rc;
}
