/*
 * test_hosts.c - the host checks without hosts: the probe-output parser
 * (good output, truncation, huge lines, binary bytes, duplicates, unknown
 * sections), the socket tables, the diff's verdicts and ignore lists, the
 * egress parser, the script builder, and a command's environment (no
 * secret variable).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hosts/diff.h"
#include "hosts/egress.h"
#include "hosts/exec.h"
#include "hosts/probe.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"

#define H_A  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define H_B  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define H_C  "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

#define HEAD "ferry-probe\tversion\t1\n"
#define END  "end\tprobe\tok\n"

static const char good[] =
        HEAD "os\tid\tdebian\n"
             "os\tversion_id\t12\n"
             "os\tkernel\t6.1.0-18-amd64\n"
             "timezone\tzone\tEurope/Berlin\n"
             "locale\tLANG\tC.UTF-8\n"
             "app\tsource\tprocess:shop-app\n"
             "app\tfound\tyes\n"
             "app\tpid\t812\n"
             "env\tSHOP_API_KEY\t" H_A "\n"
             "env\tDB_URL\t" H_B "\n"
             "env\tHOSTNAME\t" H_C "\n"
             "ss\ttcp\tLISTEN 0      4096   0.0.0.0:443    0.0.0.0:*\n"
             "ss\ttcp\tLISTEN 0      4096   [::]:443       [::]:*\n"
             "ss\ttcp\tLISTEN 0      244    127.0.0.1:5432 0.0.0.0:*\n"
             "ss\ttcp\tLISTEN 0      128    127.0.0.53%lo:53 0.0.0.0:*\n"
             "ss\ttcp\tLISTEN 0      128    10.77.0.2:6432 0.0.0.0:*\n"
             "ss\ttcp\tESTAB  0      0      10.77.0.2:40000 10.77.0.1:443\n"
             "ss\ttcp\tESTAB  0      0      10.77.0.2:40002 10.77.0.1:443\n"
             "ss\ttcp\tESTAB  0      0      [::ffff:10.77.0.2]:40004 [::ffff:10.77.0.9]:25\n"
             "ss\ttcp\tESTAB  0      0      10.77.0.2:443 10.77.0.254:51234\n"
             "ss\ttcp\tESTAB  0      0      127.0.0.1:40010 127.0.0.1:5432\n"
             "ss\ttcp\tESTAB  0      0      10.77.0.2:40030 10.77.0.2:6432\n"
             "ss\ttcp\tTIME-WAIT 0   0      10.77.0.2:40020 10.77.0.1:80\n"
             "packages\tpostgresql-15\t15.5-0+deb12u1\n"
             "packages\thaproxy\t-\n"
             "cron\tuser:root\t" H_A "\n"
             "cron\t/etc/cron.d/shop\t" H_B "\n"
             "limits\tnofile\t1024\n"
             "limits\tapp.nofile\t65536\n" END;

static void parse_ok(const char *text, struct hosts_fingerprint *fp)
{
	struct ferry_error err = { 0 };
	int rc;

	hosts_fingerprint_init(fp);
	rc = hosts_probe_parse(text, strlen(text), fp, &err);
	if (rc)
		fail_msg("parse failed: %s", err.msg);
}

static const char *get(const struct hosts_fingerprint *fp, enum hosts_cat c, const char *key)
{
	const struct hosts_fact *f = hosts_fingerprint_get(fp, c, key);

	return f ? f->value : NULL;
}

static void test_parse_good_output(void **state)
{
	struct hosts_fingerprint fp;

	(void)state;
	parse_ok(good, &fp);
	assert_string_equal(get(&fp, HOSTS_CAT_OS, "id"), "debian");
	assert_string_equal(get(&fp, HOSTS_CAT_TIMEZONE, "zone"), "Europe/Berlin");
	assert_string_equal(get(&fp, HOSTS_CAT_ENV, "SHOP_API_KEY"), H_A);
	assert_string_equal(get(&fp, HOSTS_CAT_PACKAGES, "haproxy"), "-");
	assert_string_equal(get(&fp, HOSTS_CAT_CRON, "user:root"), H_A);
	assert_string_equal(get(&fp, HOSTS_CAT_LIMITS, "app.nofile"), "65536");
	/* the widest bind wins; a zone index is dropped */
	assert_string_equal(get(&fp, HOSTS_CAT_PORTS, "443"), "any");
	assert_string_equal(get(&fp, HOSTS_CAT_PORTS, "5432"), "loopback");
	assert_string_equal(get(&fp, HOSTS_CAT_PORTS, "53"), "loopback");
	assert_string_equal(get(&fp, HOSTS_CAT_PORTS, "6432"), "address");
	/* outbound only: two to the payments endpoint, a v4-mapped one;
	 * not the inbound client on :443, not loopback, not TIME-WAIT */
	assert_string_equal(get(&fp, HOSTS_CAT_CONNS, "10.77.0.1:443"), "2");
	assert_string_equal(get(&fp, HOSTS_CAT_CONNS, "10.77.0.9:25"), "1");
	assert_null(get(&fp, HOSTS_CAT_CONNS, "10.77.0.254:51234"));
	assert_null(get(&fp, HOSTS_CAT_CONNS, "127.0.0.1:5432"));
	assert_null(get(&fp, HOSTS_CAT_CONNS, "10.77.0.1:80"));
	assert_null(get(&fp, HOSTS_CAT_CONNS, "10.77.0.2:6432")); /* to itself */
	hosts_fingerprint_release(&fp);
}

static void test_parse_proc_net_tcp(void **state)
{
	struct hosts_fingerprint fp;

	(void)state;
	parse_ok(HEAD
	         /* 127.0.0.1:53 LISTEN */
	         "proctcp\ttcp\t0: 0100007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 "
	         "00000000     0        0 95 1\n"
	         /* 0.0.0.0:80 LISTEN */
	         "proctcp\ttcp\t1: 00000000:0050 00000000:0000 0A 00000000:00000000\n"
	         /* 192.168.0.2:50000 -> 10.0.0.1:443 ESTABLISHED */
	         "proctcp\ttcp\t2: 0200A8C0:C350 0100000A:01BB 01 00000000:00000000\n"
	         /* 192.168.0.2:80 <- 10.0.0.7:50001: inbound */
	         "proctcp\ttcp\t3: 0200A8C0:0050 0700000A:C351 01 00000000:00000000\n"
	         /* [::]:22 LISTEN, [2001:db8::1]:443 ESTABLISHED */
	         "proctcp\ttcp6\t0: 00000000000000000000000000000000:0016 "
	         "00000000000000000000000000000000:0000 0A 0\n"
	         "proctcp\ttcp6\t1: 00000000000000000000000001000000:C352 "
	         "B80D0120000000000000000001000000:01BB 01 0\n" END,
	         &fp);
	assert_string_equal(get(&fp, HOSTS_CAT_PORTS, "53"), "loopback");
	assert_string_equal(get(&fp, HOSTS_CAT_PORTS, "80"), "any");
	assert_string_equal(get(&fp, HOSTS_CAT_PORTS, "22"), "any");
	assert_string_equal(get(&fp, HOSTS_CAT_CONNS, "10.0.0.1:443"), "1");
	assert_string_equal(get(&fp, HOSTS_CAT_CONNS, "[2001:db8::1]:443"), "1");
	assert_null(get(&fp, HOSTS_CAT_CONNS, "10.0.0.7:50001"));
	hosts_fingerprint_release(&fp);
}

/* Bad inputs, each with the exact message expected. */
static void test_parse_rejects_bad_output(void **state)
{
	static const struct {
		const char *in;
		size_t len; /* 0: strlen */
		const char *msg;
	} bad[] = {
		{ "", 0, "probe output: empty" },
		{ HEAD "os\tid\tdebian\n", 0,
		  "probe output: truncated after line 2 (no end line)" },
		{ HEAD "os\tid\tdeb", 0, "probe output line 2: truncated (no newline at the end)" },
		{ "hello\n" HEAD END, 0,
		  "probe output line 1: not the ferry-probe version 1 header" },
		{ HEAD "os\tid\tdebian\n" END "os\tkernel\tx\n", 0,
		  "probe output line 4: data after the end line" },
		{ HEAD "os\tid\n" END, 0,
		  "probe output line 2: expected SECTION<TAB>KEY<TAB>VALUE" },
		{ HEAD "os\tid\tx\ty\n" END, 0,
		  "probe output line 2: expected SECTION<TAB>KEY<TAB>VALUE" },
		{ HEAD "\tid\tx\n" END, 0,
		  "probe output line 2: empty section, or key empty or longer than 255 bytes" },
		{ HEAD "os\tid\tdeb\0ian\n" END, sizeof(HEAD "os\tid\tdeb\0ian\n" END) - 1,
		  "probe output line 2: NUL byte at column 10" },
		{ HEAD "os\tid\tdeb\x1b[31mian\n" END, 0,
		  "probe output line 2: control byte at column 10" },
		{ HEAD "os\tid\tdebian\r\n" END, 0,
		  "probe output line 2: control byte at column 13" },
		{ HEAD "env\tA\t" H_A "\nenv\tB\t" H_B "\nenv\tA\t" H_C "\n" END, 0,
		  "probe output line 4: duplicate key in section env" },
		{ HEAD "os\tid\tdebian\nos\tid\tubuntu\n" END, 0,
		  "probe output line 3: duplicate key in section os" },
		{ HEAD "users\troot\t0\n" END, 0, "probe output line 2: unknown section" },
		{ HEAD "os\tcodename\tbookworm\n" END, 0,
		  "probe output line 2: unknown key in section os" },
		{ HEAD "env\tSHOP_API_KEY\thunter2-in-clear\n" END, 0,
		  "probe output line 2: env SHOP_API_KEY: value is not a sha256 hash" },
		{ HEAD "ss\ttcp\tLISTEN 0 128 0.0.0.0:99999 0.0.0.0:*\n" END, 0,
		  "probe output line 2: malformed ss socket line" },
		{ HEAD "ss\ttcp\tESTAB 0 0 10.0.0.1:1 10.0.0.2:*\n" END, 0,
		  "probe output line 2: malformed ss socket line" },
		{ HEAD "proctcp\ttcp\t0: 0100007G:0035 00000000:0000 0A\n" END, 0,
		  "probe output line 2: malformed /proc/net/tcp socket line" },
		{ HEAD "end\tegress\tok\n", 0, "probe output line 2: bad end line" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct hosts_fingerprint fp;
		struct ferry_error err = { 0 };
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].in);

		hosts_fingerprint_init(&fp);
		assert_int_equal(hosts_probe_parse(bad[i].in, len, &fp, &err), FERRY_EPROTO);
		if (strcmp(err.msg, bad[i].msg))
			fail_msg("case %zu: got '%s', want '%s'", i, err.msg, bad[i].msg);
		assert_int_equal(fp.n, 0);
		/* never echo a value that might be a secret */
		assert_null(strstr(err.msg, "hunter2"));
	}
}

static void test_parse_rejects_10mb_line_without_reading_it_all(void **state)
{
	size_t n = 10u << 20;
	char *big = xmalloc(n + sizeof(HEAD) + sizeof(END));
	struct hosts_fingerprint fp;
	struct ferry_error err = { 0 };

	(void)state;
	memcpy(big, HEAD "os\tid\t", sizeof(HEAD "os\tid\t") - 1);
	memset(big + sizeof(HEAD "os\tid\t") - 1, 'x', n);
	memcpy(big + n, "\n" END, sizeof("\n" END) - 1);
	hosts_fingerprint_init(&fp);
	assert_int_equal(hosts_probe_parse(big, n + sizeof(END), &fp, &err), FERRY_EPROTO);
	assert_string_equal(err.msg, "probe output line 2: longer than 4096 bytes");
	free(big);
}

static void test_parse_rejects_random_binary(void **state)
{
	unsigned char junk[4096];
	unsigned seed = 12345;
	size_t i, round;

	(void)state;
	for (round = 0; round < 50; round++) {
		struct hosts_fingerprint fp;
		struct ferry_error err = { 0 };

		memcpy(junk, HEAD, sizeof(HEAD) - 1);
		for (i = sizeof(HEAD) - 1; i < sizeof(junk); i++) {
			seed = seed * 1103515245u + 12345u;
			junk[i] = (unsigned char)(seed >> 16);
		}
		hosts_fingerprint_init(&fp);
		assert_int_equal(hosts_probe_parse((char *)junk, sizeof(junk), &fp, &err),
		                 FERRY_EPROTO);
		assert_int_equal(fp.n, 0);
	}
}

static void test_parse_rejects_too_many_lines(void **state)
{
	struct buf b;
	struct hosts_fingerprint fp;
	struct ferry_error err = { 0 };
	size_t i;

	(void)state;
	buf_init(&b, 64u << 20);
	buf_adds(&b, HEAD);
	for (i = 0; i < HOSTS_PROBE_LINES_MAX + 5; i++)
		buf_addf(&b, "ss\ttcp\tTIME-WAIT 0 0 10.0.0.1:%zu 10.0.0.2:80\n", i % 60000 + 1);
	buf_adds(&b, END);
	hosts_fingerprint_init(&fp);
	assert_int_equal(hosts_probe_parse(b.data, b.len, &fp, &err), FERRY_EPROTO);
	assert_string_equal(err.msg, "probe output: more than 100000 lines");
	buf_release(&b);
}

/* ---- diff ---- */

static const struct hosts_diff_row *find_row(const struct hosts_diff *d, enum hosts_cat c,
                                             const char *key)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (d->v[i].cat == c && !strcmp(d->v[i].key, key))
			return &d->v[i];
	return NULL;
}

static const char old_fp_text[] = HEAD "os\tid\tdebian\n"
                                       "os\tkernel\t6.1.0-18\n"
                                       "timezone\tzone\tEurope/Berlin\n"
                                       "app\tfound\tyes\n"
                                       "env\tSHOP_API_KEY\t" H_A "\n"
                                       "env\tDB_URL\t" H_B "\n"
                                       "env\tDEBUG\t" H_A "\n"
                                       "env\tHOSTNAME\t" H_A "\n"
                                       "env\tLEGACY\t" H_A "\n"
                                       "ss\ttcp\tLISTEN 0 1 0.0.0.0:443 0.0.0.0:*\n"
                                       "ss\ttcp\tLISTEN 0 1 0.0.0.0:9100 0.0.0.0:*\n"
                                       "packages\tlibssl3\t3.0.11\n"
                                       "packages\tcurl\t7.88\n"
                                       "cron\t/etc/cron.d/shop\t" H_A "\n"
                                       "limits\tnofile\t65536\n"
                                       "limits\tapp.nofile\t1024\n" END;

static const char new_fp_text[] = HEAD "os\tid\tdebian\n"
                                       "os\tkernel\t6.1.0-25\n"
                                       "timezone\tzone\tUTC\n"
                                       "app\tfound\tyes\n"
                                       "env\tDB_URL\t" H_C "\n"
                                       "env\tDEBUG\t" H_B "\n"
                                       "env\tHOSTNAME\t" H_B "\n"
                                       "env\tNEW_ONLY\t" H_A "\n"
                                       "ss\ttcp\tLISTEN 0 1 127.0.0.1:443 0.0.0.0:*\n"
                                       "ss\ttcp\tLISTEN 0 1 0.0.0.0:22 0.0.0.0:*\n"
                                       "packages\tlibssl3\t3.0.13\n"
                                       "packages\tcurl\t-\n"
                                       "cron\t/etc/cron.d/shop\t" H_A "\n"
                                       "cron\t/etc/cron.d/backup\t" H_B "\n"
                                       "limits\tnofile\t1024\n"
                                       "limits\tapp.nofile\t4096\n" END;

static void test_diff_missing_different_extra_ignored(void **state)
{
	static char *env_ignore[] = { "LEGACY" };
	static char *keys_ignore[] = { "os.kernel", "env.DEBUG" };
	struct hosts_diff_ignore ign = { env_ignore, 1, keys_ignore, 2 };
	struct hosts_fingerprint o, n;
	struct hosts_diff d;
	const struct hosts_diff_row *r;

	(void)state;
	parse_ok(old_fp_text, &o);
	parse_ok(new_fp_text, &n);
	hosts_diff_init(&d);
	hosts_diff_run(&o, &n, &ign, &d);

	r = find_row(&d, HOSTS_CAT_ENV, "SHOP_API_KEY");
	assert_non_null(r);
	assert_int_equal(r->change, HOSTS_MISSING);
	assert_int_equal(r->verdict, CHECK_FAIL);
	assert_string_equal(r->old_value, "sha256:aaaaaaaaaaaa");
	assert_null(r->new_value);

	r = find_row(&d, HOSTS_CAT_ENV, "DB_URL");
	assert_int_equal(r->change, HOSTS_DIFFERENT);
	assert_int_equal(r->verdict, CHECK_WARN);
	assert_string_equal(r->old_value, "sha256:bbbbbbbbbbbb");
	assert_string_equal(r->new_value, "sha256:cccccccccccc");

	r = find_row(&d, HOSTS_CAT_ENV, "NEW_ONLY");
	assert_int_equal(r->change, HOSTS_EXTRA);
	assert_int_equal(r->verdict, CHECK_OK);

	r = find_row(&d, HOSTS_CAT_ENV, "LEGACY"); /* checks.env.ignore */
	assert_true(r->ignored);
	assert_int_equal(r->verdict, CHECK_OK);
	r = find_row(&d, HOSTS_CAT_ENV, "DEBUG"); /* checks.ignore env.DEBUG */
	assert_true(r->ignored);
	r = find_row(&d, HOSTS_CAT_OS, "kernel"); /* checks.ignore os.kernel */
	assert_true(r->ignored);
	assert_int_equal(r->verdict, CHECK_OK);
	assert_null(find_row(&d, HOSTS_CAT_ENV, "HOSTNAME")); /* differs by nature */
	assert_null(find_row(&d, HOSTS_CAT_OS, "id"));        /* equal */

	assert_int_equal(find_row(&d, HOSTS_CAT_TIMEZONE, "zone")->verdict, CHECK_FAIL);
	r = find_row(&d, HOSTS_CAT_PORTS, "443");
	assert_int_equal(r->change, HOSTS_DIFFERENT);
	assert_string_equal(r->new_value, "loopback");
	assert_int_equal(r->verdict, CHECK_WARN);
	assert_int_equal(find_row(&d, HOSTS_CAT_PORTS, "9100")->verdict, CHECK_WARN);
	assert_int_equal(find_row(&d, HOSTS_CAT_PORTS, "22")->verdict, CHECK_OK);
	assert_int_equal(find_row(&d, HOSTS_CAT_PACKAGES, "libssl3")->verdict, CHECK_WARN);
	assert_int_equal(find_row(&d, HOSTS_CAT_PACKAGES, "curl")->verdict, CHECK_FAIL);
	assert_null(find_row(&d, HOSTS_CAT_CRON, "/etc/cron.d/shop"));
	assert_int_equal(find_row(&d, HOSTS_CAT_CRON, "/etc/cron.d/backup")->verdict, CHECK_WARN);
	assert_int_equal(find_row(&d, HOSTS_CAT_LIMITS, "nofile")->verdict, CHECK_WARN);
	assert_int_equal(find_row(&d, HOSTS_CAT_LIMITS, "app.nofile")->verdict, CHECK_OK);

	hosts_diff_release(&d);
	hosts_fingerprint_release(&o);
	hosts_fingerprint_release(&n);
}

static void test_diff_app_missing_on_new_is_one_failure(void **state)
{
	struct hosts_fingerprint o, n;
	struct hosts_diff d;
	struct check_rows rows;
	const struct hosts_diff_row *r;

	(void)state;
	parse_ok(old_fp_text, &o);
	parse_ok(HEAD "app\tsource\tprocess:shop-app\napp\tfound\tno\n" END, &n);
	hosts_diff_init(&d);
	hosts_diff_run(&o, &n, NULL, &d);
	r = find_row(&d, HOSTS_CAT_APP, "found");
	assert_non_null(r);
	assert_int_equal(r->verdict, CHECK_FAIL);
	assert_null(find_row(&d, HOSTS_CAT_ENV, "SHOP_API_KEY")); /* not one row per variable */

	check_rows_init(&rows);
	hosts_diff_rows(&d, &rows);
	assert_int_equal(rows.n, d.n);
	assert_int_equal(check_rows_worst(&rows), CHECK_FAIL);
	check_rows_release(&rows);
	hosts_diff_release(&d);
	hosts_fingerprint_release(&o);
	hosts_fingerprint_release(&n);
}

static void test_diff_ignore_whole_category(void **state)
{
	static char *keys_ignore[] = { "timezone", "ports.*" };
	struct hosts_diff_ignore ign = { NULL, 0, keys_ignore, 2 };
	struct hosts_fingerprint o, n;
	struct hosts_diff d;
	size_t i;

	(void)state;
	parse_ok(old_fp_text, &o);
	parse_ok(new_fp_text, &n);
	hosts_diff_init(&d);
	hosts_diff_run(&o, &n, &ign, &d);
	for (i = 0; i < d.n; i++)
		if (d.v[i].cat == HOSTS_CAT_TIMEZONE || d.v[i].cat == HOSTS_CAT_PORTS)
			assert_true(d.v[i].ignored);
	hosts_diff_release(&d);
	hosts_fingerprint_release(&o);
	hosts_fingerprint_release(&n);
}

/* ---- egress ---- */

static void test_egress_parse_states_and_silence(void **state)
{
	static char *eps[] = { "127.0.0.1:15601", "127.0.0.1:15602", "payments.test:443" };
	static const char out[] = "ferry-probe\tversion\t1\n"
	                          "egress\t127.0.0.1:15602\trefused: connect: Connection refused\n"
	                          "egress\t127.0.0.1:15601\tok: \n"
	                          "end\tegress\tok\n";
	struct hosts_egress e;
	struct ferry_error err = { 0 };

	(void)state;
	hosts_egress_init(&e);
	assert_int_equal(hosts_egress_parse(out, strlen(out), eps, 3, &e, &err), 0);
	assert_int_equal(e.n, 3);
	assert_int_equal(e.v[0].state, HOSTS_EGRESS_OK);
	assert_int_equal(e.v[1].state, HOSTS_EGRESS_REFUSED);
	assert_string_equal(e.v[1].detail, "connect: Connection refused");
	assert_int_equal(e.v[2].state, HOSTS_EGRESS_TIMEOUT); /* no line: no answer */
	hosts_egress_release(&e);
}

static void test_egress_parse_rejects_foreign_lines(void **state)
{
	static char *eps[] = { "127.0.0.1:15601" };
	static const char *const bad[] = {
		"ferry-probe\tversion\t1\negress\t10.0.0.1:22\tok: \nend\tegress\tok\n",
		"ferry-probe\tversion\t1\negress\t127.0.0.1:15601\tmaybe: \nend\tegress\tok\n",
		("ferry-probe\tversion\t1\negress\t127.0.0.1:15601\tok: \n"
		 "egress\t127.0.0.1:15601\tok: \nend\tegress\tok\n"),
		"ferry-probe\tversion\t1\negress\t127.0.0.1:15601\tok: \n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct hosts_egress e;
		struct ferry_error err = { 0 };

		hosts_egress_init(&e);
		assert_int_equal(hosts_egress_parse(bad[i], strlen(bad[i]), eps, 1, &e, &err),
		                 FERRY_EPROTO);
		hosts_egress_release(&e);
	}
}

static void test_endpoint_validation(void **state)
{
	(void)state;
	assert_true(hosts_endpoint_valid("payments.test:443"));
	assert_true(hosts_endpoint_valid("10.77.0.1:443"));
	assert_true(hosts_endpoint_valid("[2001:db8::1]:443"));
	assert_false(hosts_endpoint_valid("payments.test"));
	assert_false(hosts_endpoint_valid("payments.test:0"));
	assert_false(hosts_endpoint_valid("payments.test:65536"));
	assert_false(hosts_endpoint_valid("a;rm -rf /:443"));
	assert_false(hosts_endpoint_valid("$(id):443"));
	assert_false(hosts_endpoint_valid(":443"));
}

/* ---- script ---- */

static void test_script_quotes_and_rejects_names(void **state)
{
	static char *pk_ok[] = { "postgresql-15", "libssl3" };
	static char *pk_bad[] = { "x'; reboot; '" };
	struct hosts_probe_opts o = { .pidfile = "/run/it's.pid",
		                      .packages = pk_ok,
		                      .npackages = 2 };
	struct ferry_error err = { 0 };
	struct buf s;

	(void)state;
	buf_init(&s, 1 << 20);
	assert_int_equal(hosts_probe_script(&o, "probe", NULL, &s, &err), 0);
	assert_non_null(strstr(s.data, "FERRY_PIDFILE='/run/it'\\''s.pid'\n"));
	assert_non_null(strstr(s.data, "FERRY_PACKAGES='postgresql-15 libssl3'\n"));
	assert_non_null(strstr(s.data, "printf 'ferry-probe\\tversion\\t1\\n'"));
	buf_reset(&s);

	o.packages = pk_bad;
	o.npackages = 1;
	assert_int_equal(hosts_probe_script(&o, "probe", NULL, &s, &err), FERRY_EINVAL);
	o.npackages = 0;
	o.process = "shop app";
	assert_int_equal(hosts_probe_script(&o, "probe", NULL, &s, &err), FERRY_EINVAL);
	assert_string_equal(err.msg, "checks.env.process: 'shop app' is not a process name");
	buf_release(&s);
}

static void test_sh_quote(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 256);
	assert_int_equal(hosts_sh_quote(&b, "a'b c$(x)"), 0);
	assert_string_equal(b.data, "'a'\\''b c$(x)'");
	buf_release(&b);
}

static void test_exec_child_gets_no_secret_variable(void **state)
{
	static const char *const argv[] = { "env", NULL };
	struct hosts_target local = { .name = "local" };
	struct hosts_exec_result res;
	struct ferry_error err = { 0 };
	struct buf b;

	(void)state;
	setenv("FERRY_T_EXEC_SECRET", "tok-exec-123", 1);
	setenv("FERRY_T_EXEC_READ", "tok-exec-456", 1);
	setenv("FERRY_T_EXEC_PLAIN", "plain-value", 1);
	secret_env_mark("FERRY_T_EXEC_SECRET"); /* named by the plan, not read */
	buf_init(&b, 64);
	assert_int_equal(secret_env_take("FERRY_T_EXEC_READ", &b), 0);
	buf_release_secret(&b);
	hosts_exec_result_init(&res);
	assert_int_equal(hosts_exec(&local, argv, NULL, 0, 10000, &res, &err), 0);
	assert_int_equal(res.status, 0);
	assert_non_null(strstr(res.out.data, "FERRY_T_EXEC_PLAIN=plain-value"));
	assert_null(strstr(res.out.data, "tok-exec-123"));
	assert_null(strstr(res.out.data, "tok-exec-456"));
	hosts_exec_result_release(&res);
	secret_env_reset();
	unsetenv("FERRY_T_EXEC_SECRET");
	unsetenv("FERRY_T_EXEC_PLAIN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good_output),
		cmocka_unit_test(test_exec_child_gets_no_secret_variable),
		cmocka_unit_test(test_parse_proc_net_tcp),
		cmocka_unit_test(test_parse_rejects_bad_output),
		cmocka_unit_test(test_parse_rejects_10mb_line_without_reading_it_all),
		cmocka_unit_test(test_parse_rejects_random_binary),
		cmocka_unit_test(test_parse_rejects_too_many_lines),
		cmocka_unit_test(test_diff_missing_different_extra_ignored),
		cmocka_unit_test(test_diff_app_missing_on_new_is_one_failure),
		cmocka_unit_test(test_diff_ignore_whole_category),
		cmocka_unit_test(test_egress_parse_states_and_silence),
		cmocka_unit_test(test_egress_parse_rejects_foreign_lines),
		cmocka_unit_test(test_endpoint_validation),
		cmocka_unit_test(test_script_quotes_and_rejects_names),
		cmocka_unit_test(test_sh_quote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
