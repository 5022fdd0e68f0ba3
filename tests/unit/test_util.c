/*
 * test_util.c - the bounded buffer, durations, percentages, RFC 3339,
 * port numbers, secret environment variables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/port.h"
#include "util/secret.h"
#include "util/timeutil.h"

static void test_buf_appends_and_stays_terminated(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 64);
	assert_string_equal(b.data, "");
	assert_int_equal(buf_adds(&b, "abc"), 0);
	assert_int_equal(buf_addf(&b, "-%d", 42), 0);
	assert_int_equal(buf_addch(&b, '!'), 0);
	assert_string_equal(b.data, "abc-42!");
	assert_int_equal(b.len, 7);
	buf_release(&b);
}

static void test_buf_refuses_past_max_and_keeps_content(void **state)
{
	struct buf b;
	char big[100];

	(void)state;
	memset(big, 'x', sizeof(big));
	buf_init(&b, 10);
	assert_int_equal(buf_adds(&b, "12345"), 0);
	assert_int_equal(buf_add(&b, big, 6), FERRY_EPROTO);
	assert_string_equal(b.data, "12345");
	assert_int_equal(buf_add(&b, big, 5), 0);
	assert_int_equal(b.len, 10);
	assert_int_equal(buf_addch(&b, 'y'), FERRY_EPROTO);
	assert_int_equal(buf_addf(&b, "%s", "z"), FERRY_EPROTO);
	buf_release(&b);
}

static void test_duration_parse_accepts_documented_units(void **state)
{
	static const struct {
		const char *in;
		int64_t ms;
	} ok[] = {
		{ "90s", 90000 },    { "30m", 1800000 }, { "48h", 172800000 },
		{ "3d", 259200000 }, { "800ms", 800 },   { "0s", 0 },
	};
	int64_t ms;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(duration_parse(ok[i].in, &ms), 0);
		assert_int_equal(ms, ok[i].ms);
	}
}

static void test_duration_parse_rejects_malformed(void **state)
{
	static const char *bad[] = {
		"", "90", "s", "-5s", "5 s", "1.5h", "5x", "5sec", "99999999999999999999d", "1d2h"
	};
	int64_t ms = 7;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(duration_parse(bad[i], &ms), FERRY_EINVAL);
		assert_int_equal(ms, 7);
	}
}

static void test_duration_format_round_trips(void **state)
{
	char out[32];
	int64_t ms;

	(void)state;
	duration_format(90000, out, sizeof(out));
	assert_string_equal(out, "90s");
	duration_format(86400000, out, sizeof(out));
	assert_string_equal(out, "1d");
	duration_format(800, out, sizeof(out));
	assert_string_equal(out, "800ms");
	assert_int_equal(duration_parse(out, &ms), 0);
	assert_int_equal(ms, 800);
	duration_human(3723000, out, sizeof(out));
	assert_string_equal(out, "1h 02m");
}

static void test_percent_parse(void **state)
{
	double p;

	(void)state;
	assert_int_equal(percent_parse("1%", &p), 0);
	assert_true(p == 1.0);
	assert_int_equal(percent_parse("0.5%", &p), 0);
	assert_true(p == 0.5);
	assert_int_equal(percent_parse("100%", &p), 0);
	assert_int_equal(percent_parse("101%", &p), FERRY_EINVAL);
	assert_int_equal(percent_parse("5", &p), FERRY_EINVAL);
	assert_int_equal(percent_parse("%", &p), FERRY_EINVAL);
	assert_int_equal(percent_parse("1.2.3%", &p), FERRY_EINVAL);
	assert_int_equal(percent_parse("-1%", &p), FERRY_EINVAL);
}

static void test_rfc3339_round_trip(void **state)
{
	char out[32];
	int64_t t;

	(void)state;
	time_rfc3339(1795671480, out, sizeof(out));
	assert_string_equal(out, "2026-11-26T05:38:00Z");
	assert_int_equal(time_parse_rfc3339(out, &t), 0);
	assert_int_equal(t, 1795671480);
	assert_int_equal(time_parse_rfc3339("2026-11-26 05:38:00", &t), FERRY_EINVAL);
}

static void test_port_parse(void **state)
{
	uint16_t port = 7;

	(void)state;
	assert_true(port_parse("1", &port));
	assert_int_equal(port, 1);
	assert_true(port_parse("443", &port));
	assert_int_equal(port, 443);
	assert_true(port_parse("65535", &port));
	assert_int_equal(port, 65535);
	assert_true(port_parse("00053", &port));
	assert_int_equal(port, 53);
	/* refused, and *port left alone */
	assert_false(port_parse("", &port));
	assert_false(port_parse("0", &port));
	assert_false(port_parse("65536", &port));
	assert_false(port_parse("000053", &port));
	assert_false(port_parse("+53", &port));
	assert_false(port_parse(" 53", &port));
	assert_false(port_parse("53 ", &port));
	assert_false(port_parse("5x", &port));
	assert_false(port_parse("-1", &port));
	assert_int_equal(port, 53);
}

static bool child_has(char **env, const char *entry)
{
	for (; *env; env++)
		if (!strcmp(*env, entry))
			return true;
	return false;
}

static void test_secret_env_is_taken_wiped_and_kept(void **state)
{
	struct buf b;
	char *where, **env;

	(void)state;
	setenv("FERRY_T_SECRET", "tok-123", 1);
	setenv("FERRY_T_PLAIN", "visible", 1);
	where = getenv("FERRY_T_SECRET");
	buf_init(&b, 64);
	assert_int_equal(secret_env_take("FERRY_T_SECRET", &b), 0);
	assert_string_equal(b.data, "tok-123");
	/* gone from the environment, its bytes wiped where they were */
	assert_null(getenv("FERRY_T_SECRET"));
	assert_int_equal(where[0], '\0');
	assert_true(secret_env_is_marked("FERRY_T_SECRET"));
	/* a second read in the same run still works */
	buf_reset(&b);
	assert_int_equal(secret_env_take("FERRY_T_SECRET", &b), 0);
	assert_string_equal(b.data, "tok-123");
	buf_release_secret(&b);
	/* never set, or empty: not found */
	buf_init(&b, 64);
	assert_int_equal(secret_env_take("FERRY_T_NEVER_SET", &b), FERRY_ENOTFOUND);
	setenv("FERRY_T_EMPTY", "", 1);
	assert_int_equal(secret_env_take("FERRY_T_EMPTY", &b), FERRY_ENOTFOUND);
	/* too long for the caller's buffer */
	setenv("FERRY_T_LONG", "0123456789", 1);
	buf_release(&b);
	buf_init(&b, 4);
	assert_int_equal(secret_env_take("FERRY_T_LONG", &b), FERRY_EPROTO);
	buf_release(&b);

	/* marked but not read: still kept from children */
	setenv("FERRY_T_MARKED", "tok-456", 1);
	secret_env_mark("FERRY_T_MARKED");
	env = secret_env_child();
	assert_false(child_has(env, "FERRY_T_MARKED=tok-456"));
	assert_true(child_has(env, "FERRY_T_PLAIN=visible"));
	free(env);
	assert_non_null(getenv("FERRY_T_MARKED")); /* ferry's own is left */

	secret_env_reset();
	assert_false(secret_env_is_marked("FERRY_T_MARKED"));
	env = secret_env_child();
	assert_true(child_has(env, "FERRY_T_MARKED=tok-456"));
	free(env);
	unsetenv("FERRY_T_MARKED");
	unsetenv("FERRY_T_PLAIN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_appends_and_stays_terminated),
		cmocka_unit_test(test_buf_refuses_past_max_and_keeps_content),
		cmocka_unit_test(test_duration_parse_accepts_documented_units),
		cmocka_unit_test(test_duration_parse_rejects_malformed),
		cmocka_unit_test(test_duration_format_round_trips),
		cmocka_unit_test(test_percent_parse),
		cmocka_unit_test(test_rfc3339_round_trip),
		cmocka_unit_test(test_port_parse),
		cmocka_unit_test(test_secret_env_is_taken_wiped_and_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
