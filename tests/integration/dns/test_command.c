/*
 * test_command.c - the command DNS provider with a real provider script
 * (nsupdate-provider.sh, which edits the zone through RFC 2136) against a
 * real Knot server, so that ferry's before (compare) and after (verify)
 * reads run against a real authoritative answer.
 *
 * Run through knot.sh (KNOT_PORT_LO=16200, KNOT_PORT_SPAN=20: the dns helper's
 * ports); the script's path is argv[1].  The script logs each run to
 * FERRY_TEST_PROVIDER_LOG, so a test can tell whether ferry ran it, and
 * FERRY_TEST_PROVIDER_MODE makes it fail, do nothing, or hang.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dns/dns.h"
#include "dns_test.h"
#include "util/buf.h"
#include "util/secret.h"
#include "util/timeutil.h"

static uint16_t port;
static const char *script;
static char logpath[256];

static struct dns_config config(char *const *argv)
{
	struct dns_config c = {
		.zone = "shop.test",
		.server_host = "127.0.0.1",
		.server_port = port,
		.command = argv,
		.command_timeout_ms = 5000,
	};
	return c;
}

static struct dns_provider *open_default(void)
{
	static char *argv[3];
	struct dns_config c;
	struct ferry_error err = { 0 };
	struct dns_provider *p = NULL;

	argv[0] = "sh";
	argv[1] = (char *)script;
	argv[2] = NULL;
	c = config(argv);
	if (dns_open("command", &c, &p, &err) < 0)
		fail_msg("dns_open: %s", err.msg);
	return p;
}

/* How many times the script ran since the last call. */
static int runs(void)
{
	struct buf b;
	int n = 0;
	size_t i;

	buf_init(&b, 1 << 16);
	if (buf_read_file(&b, logpath) == 0)
		for (i = 0; i < b.len; i++)
			n += b.data[i] == '\n';
	buf_release(&b);
	unlink(logpath);
	return n;
}

static void holds(struct dns_provider *p, const char *name, const struct dns_state *st,
                  uint32_t ttl)
{
	struct ferry_error err = { 0 };
	struct dns_rrset rs;

	dns_rrset_init(&rs);
	if (dns_query(p, name, &rs, &err) < 0)
		fail_msg("query %s: %s", name, err.msg);
	assert_true(dns_rrset_matches(&rs, st));
	assert_int_equal(rs.ttl, ttl);
	dns_rrset_release(&rs);
}

static void test_check_access_runs_the_check(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };

	(void)state;
	runs();
	if (dns_check_access(p, &err) < 0)
		fail_msg("check: %s", err.msg);
	assert_int_equal(runs(), 1);
	assert_false(dns_ops(p)->atomic);
	assert_false(dns_ops(p)->weights);
	setenv("FERRY_TEST_PROVIDER_MODE", "fail", 1);
	assert_int_equal(dns_check_access(p, &err), FERRY_EREFUSED);
	unsetenv("FERRY_TEST_PROVIDER_MODE");
	assert_non_null(strstr(err.msg, "exited 3: provider: permission denied for zone"));
	dns_close(p);
}

static void test_cas_runs_the_command_and_verifies(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2", "10.77.0.4", "2001:db8::2" };
	struct dns_state so = dns_test_plain(old, 3, NULL),
	                 scn = dns_test_plain(NULL, 0, "lb-new.example.net");

	(void)state;
	runs();
	if (dns_cas(p, "multi.shop.test", &so, &scn, 60, &err) < 0)
		fail_msg("cas: %s", err.msg);
	assert_int_equal(runs(), 1);
	holds(p, "multi.shop.test", &scn, 60);
	if (dns_cas(p, "multi.shop.test", &scn, &so, 120, &err) < 0)
		fail_msg("cas back: %s", err.msg);
	holds(p, "multi.shop.test", &so, 120);
	/* a TTL step is a replace of the same set */
	if (dns_set_ttl(p, "multi.shop.test", &so, 30, &err) < 0)
		fail_msg("set_ttl: %s", err.msg);
	holds(p, "multi.shop.test", &so, 30);
	dns_close(p);
}

/* The compare: a record that is not the expected set is refused and the
 * command never runs. */
static void test_cas_refused_without_running_the_command(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *stale[] = { "10.77.0.9" }, *nw[] = { "10.77.0.3" }, *now[] = { "10.77.0.2" };
	struct dns_state ss = dns_test_plain(stale, 1, NULL), sn = dns_test_plain(nw, 1, NULL);
	struct dns_state snow = dns_test_plain(now, 1, NULL);

	(void)state;
	runs();
	assert_int_equal(dns_cas(p, "race.shop.test", &ss, &sn, 60, &err), FERRY_ECHANGED);
	assert_non_null(strstr(err.msg, "10.77.0.2"));
	assert_non_null(strstr(err.msg, "the command was not run"));
	assert_int_equal(runs(), 0);
	holds(p, "race.shop.test", &snow, 3600);
	assert_int_equal(dns_cas(p, "nope.shop.test", &ss, &sn, 60, &err), FERRY_ECHANGED);
	assert_int_equal(runs(), 0);
	dns_close(p);
}

/* The verification: a command that says it did it, but did not. */
static void test_cas_verify_catches_a_command_that_did_nothing(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.3" };
	struct dns_state so = dns_test_plain(old, 1, NULL), sn = dns_test_plain(nw, 1, NULL);
	int64_t t0 = time_mono_ms();

	(void)state;
	setenv("FERRY_TEST_PROVIDER_MODE", "noop", 1);
	assert_int_equal(dns_cas(p, "cas.shop.test", &so, &sn, 60, &err), FERRY_ECHANGED);
	unsetenv("FERRY_TEST_PROVIDER_MODE");
	assert_non_null(strstr(err.msg, "after the command the server holds 10.77.0.2"));
	/* it polled until the deadline (5 s), not once */
	assert_true(time_mono_ms() - t0 >= 4000);
	holds(p, "cas.shop.test", &so, 3600);
	dns_close(p);
}

static void test_cas_command_failure_and_hang(void **state)
{
	struct dns_provider *p = open_default();
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2" }, *nw[] = { "10.77.0.3" };
	struct dns_state so = dns_test_plain(old, 1, NULL), sn = dns_test_plain(nw, 1, NULL);
	int64_t t0;

	(void)state;
	setenv("FERRY_TEST_PROVIDER_MODE", "fail", 1);
	assert_int_equal(dns_cas(p, "auth.shop.test", &so, &sn, 60, &err), FERRY_EREFUSED);
	assert_non_null(strstr(err.msg, "permission denied"));
	setenv("FERRY_TEST_PROVIDER_MODE", "hang", 1);
	t0 = time_mono_ms();
	assert_int_equal(dns_cas(p, "auth.shop.test", &so, &sn, 60, &err), FERRY_ETIMEDOUT);
	assert_true(time_mono_ms() - t0 < 8000);
	assert_non_null(strstr(err.msg, "killed"));
	unsetenv("FERRY_TEST_PROVIDER_MODE");
	holds(p, "auth.shop.test", &so, 3600);
	dns_close(p);
}

/* The plan's secret variables are ferry's: the command does not get them
 * (marked by the plan loader, util/secret.h), and still gets the rest of
 * the environment. */
static void test_command_does_not_inherit_the_plans_secrets(void **state)
{
	static char *argv[3];
	struct dns_config c;
	struct ferry_error err = { 0 };
	struct dns_provider *p;
	char path[300];
	struct buf env;

	(void)state;
	argv[0] = "sh";
	argv[1] = (char *)script;
	c = config(argv);
	p = dns_test_open("command", &c);
	setenv("FERRY_TEST_PLAN_SECRET", "s3cr3t-value-of-the-plan", 1);
	secret_env_mark("FERRY_TEST_PLAN_SECRET");
	setenv("FERRY_TEST_PROVIDER_MODE", "envdump", 1);
	if (dns_check_access(p, &err) < 0)
		fail_msg("check: %s", err.msg);
	unsetenv("FERRY_TEST_PROVIDER_MODE");
	unsetenv("FERRY_TEST_PLAN_SECRET");
	snprintf(path, sizeof(path), "%s.env", logpath);
	buf_init(&env, 1 << 20);
	assert_int_equal(buf_read_file(&env, path), 0);
	assert_null(strstr(env.data, "FERRY_TEST_PLAN_SECRET"));
	assert_null(strstr(env.data, "s3cr3t-value-of-the-plan"));
	assert_non_null(strstr(env.data, "FERRY_TEST_PROVIDER_LOG="));
	buf_release(&env);
	unlink(path);
	runs();
	dns_close(p);
}

static void test_dry_run_shows_command_and_stdin(void **state)
{
	char *argv[] = { "lexicon-wrapper", "--provider", "my provider", NULL };
	struct dns_config c = config(argv);
	struct ferry_error err = { 0 };
	char *old[] = { "10.77.0.2" };
	struct dns_state so = dns_test_plain(old, 1, NULL),
	                 scn = dns_test_plain(NULL, 0, "lb.example.net");
	struct buf out;

	(void)state;
	buf_init(&out, 1 << 16);
	assert_int_equal(dns_describe("command", &c, "www.shop.test", &so, &scn, 60, &out, &err),
	                 0);
	assert_non_null(strstr(out.data, "run: 'lexicon-wrapper' '--provider' 'my provider'"));
	assert_non_null(strstr(out.data,
	                       "stdin: {\"action\":\"replace\",\"zone\":\"shop.test\",\"name\":"
	                       "\"www.shop.test\",\"ttl\":60,\"old\":{\"addresses\":["
	                       "\"10.77.0.2\"]},\"new\":{\"cname\":\"lb.example.net\"}}"));
	buf_release(&out);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_access_runs_the_check),
		cmocka_unit_test(test_cas_runs_the_command_and_verifies),
		cmocka_unit_test(test_cas_refused_without_running_the_command),
		cmocka_unit_test(test_cas_verify_catches_a_command_that_did_nothing),
		cmocka_unit_test(test_cas_command_failure_and_hang),
		cmocka_unit_test(test_command_does_not_inherit_the_plans_secrets),
		cmocka_unit_test(test_dry_run_shows_command_and_stdin),
	};
	const char *p = getenv("FERRY_TEST_DNS_PORT"), *kf = getenv("FERRY_TEST_DNS_KEY_FILE");

	if (argc != 2 || !p || !kf) {
		fprintf(stderr, "usage: knot.sh test_command PROVIDER_SCRIPT\n");
		return 1;
	}
	script = argv[1];
	port = (uint16_t)strtoul(p, NULL, 10);
	snprintf(logpath, sizeof(logpath), "%s.runs", kf);
	setenv("FERRY_TEST_PROVIDER_LOG", logpath, 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
