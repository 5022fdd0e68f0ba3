/*
 * test_pgsql.c - the libpq layer's handling of secrets, without a server:
 * every keyword that ends in "password" (password, sslpassword) is
 * scrubbed from a conninfo before it can be printed, in the keyword=value
 * and the URI form; a child's password file is private and wiped; and the
 * pid arrays that tell the fence which sessions are ferry's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/pgsql.h"
#include "util/buf.h"
#include "util/mem.h"

static void test_scrub_removes_every_password_keyword(void **state)
{
	static const char *const in[] = {
		"host=h port=5 password=hunter2 dbname=shop",
		"host=h sslpassword=hunter2 sslkey=/k dbname=shop",
		"host=h password = 'hunter2' sslpassword='hunter2 2' dbname=shop",
		"postgresql://u:hunter2@h/shop?sslpassword=hunter2",
		"postgresql://u@h/shop?password=hunter2&sslpassword=hunter2",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		char *s = pgsql_conninfo_scrub(in[i]);
		char *u = pgsql_conninfo_unsecret(in[i]);

		assert_null(strstr(s, "hunter2"));
		assert_null(strstr(s, "password"));
		assert_non_null(strstr(s, "shop"));
		assert_non_null(u);
		assert_null(strstr(u, "hunter2"));
		assert_null(strstr(u, "password"));
		assert_non_null(strstr(u, "shop"));
		free(s);
		free(u);
	}
}

static void test_scrub_keeps_the_rest(void **state)
{
	char *s;

	(void)state;
	s = pgsql_conninfo_scrub("host=h sslpassword=x sslkey=/k/client.key dbname=shop");
	assert_string_equal(s, "dbname=shop host=h sslkey=/k/client.key"); /* libpq order */
	free(s);
	s = pgsql_conninfo_scrub("not a conninfo");
	assert_string_equal(s, "<unparsable conninfo>");
	free(s);
	/* set adds one, the rest stays */
	s = pgsql_conninfo_set("host=h dbname=shop", "password", "p:w");
	assert_non_null(strstr(s, "password='p:w'"));
	xfree_secret(s, 0);
}

static void test_passfile_is_private_and_removed(void **state)
{
	struct pgsql_passfile pf;
	struct ferry_error err = { 0 };
	struct stat st;
	struct buf b;

	(void)state;
	assert_int_equal(pgsql_passfile_create(&pf, "a:b\\c", &err), 0);
	assert_int_equal(stat(pf.dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(pf.path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	buf_init(&b, 1024);
	assert_int_equal(buf_read_file(&b, pf.path), 0);
	/* libpq, "The Password File": ':' and '\' escaped */
	assert_string_equal(b.data, "*:*:*:*:a\\:b\\\\c\n");
	buf_release(&b);
	{
		char *path = xstrdup(pf.path), *dir = xstrdup(pf.dir);

		pgsql_passfile_remove(&pf);
		assert_int_equal(access(path, F_OK), -1);
		assert_int_equal(access(dir, F_OK), -1);
		free(path);
		free(dir);
	}
	pgsql_passfile_remove(&pf); /* idempotent */
}

/* The fence's and the unfence's "keep": ferry's pids (0: no such
 * connection) and those a staged fence saw before its ALTER. */
static void test_pid_array_merges_and_skips_absent(void **state)
{
	const int some[3] = { 12, 0, 345 }, none[2] = { 0, 0 };
	char *s;

	(void)state;
	s = pgsql_pid_array(some, 3, NULL);
	assert_string_equal(s, "{12,345}");
	free(s);
	s = pgsql_pid_array(some, 3, "{7,8}");
	assert_string_equal(s, "{12,345,7,8}");
	free(s);
	s = pgsql_pid_array(some, 1, "{}");
	assert_string_equal(s, "{12}");
	free(s);
	s = pgsql_pid_array(none, 2, "{9}");
	assert_string_equal(s, "{9}");
	free(s);
	assert_null(pgsql_pid_array(none, 2, "{}"));
	assert_null(pgsql_pid_array(none, 2, NULL));
	assert_null(pgsql_pid_array(NULL, 0, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scrub_removes_every_password_keyword),
		cmocka_unit_test(test_scrub_keeps_the_rest),
		cmocka_unit_test(test_passfile_is_private_and_removed),
		cmocka_unit_test(test_pid_array_merges_and_skips_absent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
