/*
 * test_shell.c - the persistent host shell (hosts/shell.c) on this machine
 * (an empty exec prefix): commands, exit statuses, output, files, deadlines,
 * and quoting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hosts/shell.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/secret.h"
#include "util/timeutil.h"

static struct host_shell *open_local(void)
{
	struct ferry_error err = { 0 };
	struct host_shell *sh = NULL;

	assert_int_equal(host_shell_open(&sh, NULL, 0, "host local", &err), 0);
	return sh;
}

static void test_shell_runs_commands_and_keeps_status_and_output(void **state)
{
	struct ferry_error err = { 0 };
	struct host_shell *sh = open_local();
	struct buf out;
	int status = -1, pid;

	(void)state;
	buf_init(&out, 4096);
	assert_int_equal(host_shell_run(sh, "echo hello; echo err >&2", 0, &out, &status, &err), 0);
	assert_int_equal(status, 0);
	assert_string_equal(out.data, "hello\nerr\n");
	buf_reset(&out);
	assert_int_equal(
	        host_shell_run(sh, "exit_code() { return 3; }; exit_code", 0, &out, &status, &err),
	        0);
	assert_int_equal(status, 3);
	/* the same process serves every command: no spawn per command */
	pid = host_shell_pid(sh);
	buf_reset(&out);
	assert_int_equal(host_shell_run(sh, "echo $$", 0, &out, &status, &err), 0);
	assert_int_equal((int)strtol(out.data, NULL, 10), pid);
	buf_release(&out);
	host_shell_free(sh);
}

static void test_shell_writes_files_exactly(void **state)
{
	struct ferry_error err = { 0 };
	struct host_shell *sh = open_local();
	char path[] = "/tmp/ferry-shell-XXXXXX";
	const char *data = "[databases]\nshop = host=10.77.0.3 dbname='it''s'\n$HOME `x`\n";
	struct buf got;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(host_shell_write_file(sh, path, data, "0644", 0, &err), 0);
	buf_init(&got, 4096);
	assert_int_equal(buf_read_file(&got, path), 0);
	assert_string_equal(got.data, data);
	buf_release(&got);
	unlink(path);
	host_shell_free(sh);
}

static void test_shell_deadline_breaks_the_shell(void **state)
{
	struct ferry_error err = { 0 };
	struct host_shell *sh = open_local();
	int64_t t0 = time_mono_ms();

	(void)state;
	assert_int_equal(host_shell_run(sh, "sleep 5", time_mono_ms() + 100, NULL, NULL, &err),
	                 FERRY_ETIMEDOUT);
	assert_true(time_mono_ms() - t0 < 2000);
	/* its output would be out of step: refused from now on */
	assert_int_equal(host_shell_run(sh, "true", 0, NULL, NULL, &err), FERRY_ESTATE);
	host_shell_free(sh);
}

static void test_shell_reports_a_missing_prefix_command(void **state)
{
	struct ferry_error err = { 0 };
	struct host_shell *sh = NULL;
	const char *prefix[] = { "/nonexistent/ferry-ssh", "host" };

	(void)state;
	assert_true(host_shell_open(&sh, prefix, 2, "host old", &err) < 0);
	assert_null(sh);
	assert_non_null(strstr(err.msg, "host old"));
}

static void test_shell_quote_survives_the_shell(void **state)
{
	struct ferry_error err = { 0 };
	struct host_shell *sh = open_local();
	const char *nasty = "a'b \"c\" $d `e` \\f";
	char *q = host_shell_quote(nasty), *cmd;
	struct buf out;

	(void)state;
	buf_init(&out, 4096);
	cmd = malloc(strlen(q) + 32);
	snprintf(cmd, strlen(q) + 32, "printf %%s %s", q);
	assert_int_equal(host_shell_run(sh, cmd, 0, &out, NULL, &err), 0);
	assert_string_equal(out.data, nasty);
	free(cmd);
	free(q);
	buf_release(&out);
	host_shell_free(sh);
}

static void test_shell_gets_no_secret_variable(void **state)
{
	struct ferry_error err = { 0 };
	struct host_shell *sh;
	struct buf out;
	int status = -1;

	(void)state;
	setenv("FERRY_T_SHELL_SECRET", "tok-shell-789", 1);
	setenv("FERRY_T_SHELL_PLAIN", "plain-value", 1);
	secret_env_mark("FERRY_T_SHELL_SECRET");
	sh = open_local();
	buf_init(&out, 1 << 20);
	assert_int_equal(host_shell_run(sh, "cat /proc/$$/environ | tr '\\000' '\\n'", 0, &out,
	                                &status, &err),
	                 0);
	assert_int_equal(status, 0);
	assert_non_null(strstr(out.data, "FERRY_T_SHELL_PLAIN=plain-value"));
	assert_null(strstr(out.data, "tok-shell-789"));
	buf_release(&out);
	host_shell_free(sh);
	secret_env_reset();
	unsetenv("FERRY_T_SHELL_SECRET");
	unsetenv("FERRY_T_SHELL_PLAIN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shell_gets_no_secret_variable),
		cmocka_unit_test(test_shell_runs_commands_and_keeps_status_and_output),
		cmocka_unit_test(test_shell_writes_files_exactly),
		cmocka_unit_test(test_shell_deadline_breaks_the_shell),
		cmocka_unit_test(test_shell_reports_a_missing_prefix_command),
		cmocka_unit_test(test_shell_quote_survives_the_shell),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
