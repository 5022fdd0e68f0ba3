/*
 * test_hosts_it.c - the host checks against this machine, loopback only.
 *
 * Runs real processes and servers, all started here and killed in the
 * group teardown (and by PR_SET_PDEATHSIG if this test dies first):
 *  - two copies of /bin/sleep named ferry-test-app-a and ferry-test-app-b
 *    with different environments (a has SHOP_API_KEY, b has not), as the
 *    application on the "old" and the "new" host of one machine;
 *  - a TCP listener on 127.0.0.1:15650 (this process) for egress and ports;
 *  - `openssl s_server -www` on 127.0.0.1:15660 (certificate for
 *    www.shop.test by a test CA, 365 days) and :15661 (2 days left).
 * Ports 15650-15669; a temp dir for the CA, keys and the app copies.
 * Every wait polls a condition with a deadline.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "plan/plan.h"
#include "core/host_checks.h"
#include "hosts/diff.h"
#include "hosts/egress.h"
#include "hosts/exec.h"
#include "hosts/http.h"
#include "hosts/probe.h"
#include "hosts/tls.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define PORT_LISTEN   15650
#define PORT_CLOSED   15652
#define PORT_TLS      15660
#define PORT_TLS_SOON 15661
#define PORT_HTTP_OFF 15669
#define CANARY        "ferry-canary-7f3a9c1e-do-not-leak"

static char tmpdir[] = "/tmp/ferry-hosts-it.XXXXXX";
static pid_t children[8];
static size_t nchildren;
static int listen_fd = -1;
static pid_t app_a, app_b;
static const struct hosts_target local = { .name = "local" };

static pid_t spawn(char *const argv[], char *const envp[])
{
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	children[nchildren++] = pid;
	return pid;
}

/* Runs a shell script here; returns its exit status. */
static int sh(const char *script, struct buf *out)
{
	static const char *const argv[] = { "sh", "-s", NULL };
	struct hosts_exec_result r;
	struct ferry_error err = { 0 };
	int rc;

	hosts_exec_result_init(&r);
	rc = hosts_exec(&local, argv, script, strlen(script), 60000, &r, &err);
	if (rc < 0) {
		fprintf(stderr, "sh: %s\n", err.msg);
		hosts_exec_result_release(&r);
		return -1;
	}
	if (r.status != 0)
		fprintf(stderr, "sh: status %d: %s\n", r.status, r.err.data);
	if (out)
		buf_add(out, r.out.data, r.out.len);
	rc = r.status;
	hosts_exec_result_release(&r);
	return rc;
}

static bool port_open(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static bool wait_port(unsigned port)
{
	int64_t deadline = time_mono_ms() + 10000;

	while (time_mono_ms() < deadline) {
		if (port_open(port))
			return true;
		poll(NULL, 0, 20);
	}
	return false;
}

/* Waits until /proc/PID/cmdline shows the exec'd program. */
static bool wait_exec(pid_t pid, const char *name)
{
	int64_t deadline = time_mono_ms() + 5000;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	while (time_mono_ms() < deadline) {
		struct buf b;
		bool ok;

		buf_init(&b, 1 << 16);
		ok = buf_read_file(&b, path) == 0 && strstr(b.data, name);
		buf_release(&b);
		if (ok)
			return true;
		poll(NULL, 0, 10);
	}
	return false;
}

static int setup(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT_LISTEN) };
	char *script, *path_a, *path_b, *pem, *key, *soon;
	int one = 1;

	(void)state;
	if (!mkdtemp(tmpdir))
		return -1;
	script = xasprintf(
	        "set -e\ncd %s\n"
	        "cp /bin/sleep ferry-test-app-a\ncp /bin/sleep ferry-test-app-b\n"
	        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	        " -keyout ca.key -out ca.pem -days 30 -subj '/CN=ferry test CA' 2>/dev/null\n"
	        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	        " -keyout www.key -out www.csr -subj '/CN=www.shop.test' 2>/dev/null\n"
	        "printf 'subjectAltName=DNS:www.shop.test\\n' > san.ext\n"
	        "openssl x509 -req -in www.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
	        " -out www.pem -days 365 -extfile san.ext 2>/dev/null\n"
	        "openssl x509 -req -in www.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
	        " -out soon.pem -days 2 -extfile san.ext 2>/dev/null\n",
	        tmpdir);
	if (sh(script, NULL) != 0)
		return -1;
	free(script);

	path_a = xasprintf("%s/ferry-test-app-a", tmpdir);
	path_b = xasprintf("%s/ferry-test-app-b", tmpdir);
	{
		char *argv_a[] = { path_a, "100", NULL }, *argv_b[] = { path_b, "100", NULL };
		char *env_a[] = { "PATH=/usr/bin:/bin", "SHOP_API_KEY=" CANARY,
			          "DB_URL=postgres://old/shop", "LANG=C.UTF-8", NULL };
		char *env_b[] = { "PATH=/usr/bin:/bin", "DB_URL=postgres://new/shop",
			          "LANG=C.UTF-8", NULL };

		app_a = spawn(argv_a, env_a);
		app_b = spawn(argv_b, env_b);
	}
	if (!wait_exec(app_a, "ferry-test-app-a") || !wait_exec(app_b, "ferry-test-app-b"))
		return -1;
	free(path_a);
	free(path_b);

	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(listen_fd, 64) < 0)
		return -1;

	pem = xasprintf("%s/www.pem", tmpdir);
	key = xasprintf("%s/www.key", tmpdir);
	soon = xasprintf("%s/soon.pem", tmpdir);
	{
		char *env[] = { "PATH=/usr/bin:/bin", NULL };
		char *good[] = { "/usr/bin/openssl",
			         "s_server",
			         "-quiet",
			         "-www",
			         "-accept",
			         "127.0.0.1:15660",
			         "-cert",
			         pem,
			         "-key",
			         key,
			         NULL };
		char *near[] = { "/usr/bin/openssl",
			         "s_server",
			         "-quiet",
			         "-www",
			         "-accept",
			         "127.0.0.1:15661",
			         "-cert",
			         soon,
			         "-key",
			         key,
			         NULL };

		spawn(good, env);
		spawn(near, env);
	}
	free(pem);
	free(key);
	free(soon);
	if (!wait_port(PORT_TLS) || !wait_port(PORT_TLS_SOON))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	size_t i;
	char *script;

	(void)state;
	for (i = 0; i < nchildren; i++)
		kill(children[i], SIGKILL);
	for (i = 0; i < nchildren; i++)
		waitpid(children[i], NULL, 0);
	if (listen_fd >= 0)
		close(listen_fd);
	script = xasprintf("rm -rf '%s'\n", tmpdir);
	sh(script, NULL);
	free(script);
	return 0;
}

/* ---- exec ---- */

static void test_exec_empty_prefix_status_and_streams(void **state)
{
	static const char *const argv[] = { "sh", "-c", "cat; echo out; echo err >&2; exit 3",
		                            NULL };
	struct hosts_exec_result r;
	struct ferry_error err = { 0 };

	(void)state;
	hosts_exec_result_init(&r);
	assert_int_equal(hosts_exec(&local, argv, "in:", 3, 5000, &r, &err), 0);
	assert_int_equal(r.status, 3);
	assert_string_equal(r.out.data, "in:out\n");
	assert_string_equal(r.err.data, "err\n");
	hosts_exec_result_release(&r);
}

static void test_exec_prefix_is_prepended(void **state)
{
	static char *prefix[] = { "env", "FOO=1" };
	static const char *const argv[] = { "sh", "-c", "printf %s \"$FOO\"", NULL };
	struct hosts_target t = { .name = "new", .exec = prefix, .nexec = 2 };
	struct hosts_exec_result r;
	struct ferry_error err = { 0 };

	(void)state;
	hosts_exec_result_init(&r);
	assert_int_equal(hosts_exec(&t, argv, NULL, 0, 5000, &r, &err), 0);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out.data, "1");
	hosts_exec_result_release(&r);
}

static void test_exec_timeout_kills_the_process_group(void **state)
{
	static const char *const argv[] = { "sh", "-c", "sleep 100 & echo $!; sleep 100", NULL };
	struct hosts_exec_result r;
	struct ferry_error err = { 0 };
	int64_t start = time_mono_ms(), deadline;
	long bg;

	(void)state;
	hosts_exec_result_init(&r);
	assert_int_equal(hosts_exec(&local, argv, NULL, 0, 300, &r, &err), FERRY_ETIMEDOUT);
	assert_true(r.timed_out);
	assert_true(time_mono_ms() - start < 3000);
	assert_non_null(strstr(err.msg, "did not finish within 300 ms"));
	bg = strtol(r.out.data, NULL, 10);
	assert_true(bg > 1);
	/* the background sleep was in the group: it dies too */
	deadline = time_mono_ms() + 3000;
	while (kill((pid_t)bg, 0) == 0 && time_mono_ms() < deadline)
		poll(NULL, 0, 10);
	assert_int_equal(kill((pid_t)bg, 0), -1);
	assert_int_equal(errno, ESRCH);
	hosts_exec_result_release(&r);
}

static void test_exec_missing_program_and_output_limit(void **state)
{
	static const char *const missing[] = { "/nonexistent/ferry-nothing", NULL };
	static const char *const flood[] = { "head", "-c", "5000000", "/dev/zero", NULL };
	struct hosts_exec_result r;
	struct ferry_error err = { 0 };

	(void)state;
	hosts_exec_result_init(&r);
	assert_int_equal(hosts_exec(&local, missing, NULL, 0, 5000, &r, &err), FERRY_ENOTFOUND);
	assert_non_null(strstr(err.msg, "cannot run '/nonexistent/ferry-nothing'"));
	hosts_exec_result_release(&r);
	hosts_exec_result_init(&r);
	assert_int_equal(hosts_exec(&local, flood, NULL, 0, 5000, &r, &err), FERRY_EPROTO);
	assert_true(r.out.len <= HOSTS_EXEC_OUT_MAX);
	hosts_exec_result_release(&r);
}

/* ---- probe ---- */

static void test_probe_fingerprints_this_machine(void **state)
{
	struct hosts_probe_opts o = { 0 };
	struct hosts_fingerprint fp;
	struct ferry_error err = { 0 };
	struct utsname u;
	const struct hosts_fact *f;
	char port[16];

	(void)state;
	hosts_fingerprint_init(&fp);
	assert_int_equal(hosts_probe_run(&local, &o, &fp, &err), 0);
	uname(&u);
	f = hosts_fingerprint_get(&fp, HOSTS_CAT_OS, "kernel");
	assert_non_null(f);
	assert_string_equal(f->value, u.release);
	assert_non_null(hosts_fingerprint_get(&fp, HOSTS_CAT_TIMEZONE, "zone"));
	assert_non_null(hosts_fingerprint_get(&fp, HOSTS_CAT_LIMITS, "nofile"));
	snprintf(port, sizeof(port), "%d", PORT_LISTEN);
	f = hosts_fingerprint_get(&fp, HOSTS_CAT_PORTS, port);
	assert_non_null(f);
	assert_string_equal(f->value, "loopback");
	hosts_fingerprint_release(&fp);
}

static bool contains(const struct buf *b, const char *s)
{
	return b->len && memmem(b->data, b->len, s, strlen(s));
}

static void test_env_capture_diff_names_missing_variable(void **state)
{
	struct hosts_probe_opts oa = { .process = "ferry-test-app-a" };
	struct hosts_probe_opts ob = { .process = "ferry-test-app-b" };
	struct hosts_fingerprint fa, fb;
	struct ferry_error err = { 0 };
	struct hosts_diff d;
	struct check_rows rows;
	struct buf salt, all;
	const struct hosts_fact *f;
	size_t i;
	bool missing = false, different = false;

	(void)state;
	buf_init(&salt, 64);
	buf_init(&all, 1 << 20);
	assert_int_equal(hosts_probe_salt(&salt), 0);
	oa.salt = ob.salt = salt.data;
	hosts_fingerprint_init(&fa);
	hosts_fingerprint_init(&fb);
	assert_int_equal(hosts_probe_run(&local, &oa, &fa, &err), 0);
	assert_int_equal(hosts_probe_run(&local, &ob, &fb, &err), 0);
	/* the right processes: same comm ("ferry-test-app-"), told apart by argv[0] */
	f = hosts_fingerprint_get(&fa, HOSTS_CAT_APP, "pid");
	assert_non_null(f);
	assert_int_equal(strtol(f->value, NULL, 10), app_a);
	f = hosts_fingerprint_get(&fb, HOSTS_CAT_APP, "pid");
	assert_int_equal(strtol(f->value, NULL, 10), app_b);
	assert_non_null(hosts_fingerprint_get(&fa, HOSTS_CAT_ENV, "SHOP_API_KEY"));
	assert_null(hosts_fingerprint_get(&fb, HOSTS_CAT_ENV, "SHOP_API_KEY"));
	/* the same value on both hosts hashes the same with one salt */
	assert_string_equal(hosts_fingerprint_get(&fa, HOSTS_CAT_ENV, "LANG")->value,
	                    hosts_fingerprint_get(&fb, HOSTS_CAT_ENV, "LANG")->value);

	hosts_diff_init(&d);
	hosts_diff_run(&fa, &fb, NULL, &d);
	check_rows_init(&rows);
	hosts_diff_rows(&d, &rows);
	for (i = 0; i < d.n; i++) {
		if (d.v[i].cat != HOSTS_CAT_ENV)
			continue;
		if (!strcmp(d.v[i].key, "SHOP_API_KEY")) {
			missing = d.v[i].change == HOSTS_MISSING && d.v[i].verdict == CHECK_FAIL;
		} else if (!strcmp(d.v[i].key, "DB_URL")) {
			different =
			        d.v[i].change == HOSTS_DIFFERENT && d.v[i].verdict == CHECK_WARN;
		} else {
			fail_msg("unexpected env row %s", d.v[i].key);
		}
	}
	assert_true(missing);
	assert_true(different);
	assert_int_equal(check_rows_worst(&rows), CHECK_FAIL);

	/* the canary is in no fact, row, or message */
	for (i = 0; i < fa.n; i++)
		buf_addf(&all, "%s=%s\n", fa.v[i].key, fa.v[i].value);
	for (i = 0; i < rows.n; i++)
		buf_addf(&all, "%s %s %s %s\n", rows.v[i].check, rows.v[i].object,
		         rows.v[i].message, rows.v[i].prevents);
	assert_false(contains(&all, CANARY));
	assert_false(contains(&all, "postgres://"));
	assert_true(contains(&all, "SHOP_API_KEY"));

	check_rows_release(&rows);
	hosts_diff_release(&d);
	hosts_fingerprint_release(&fa);
	hosts_fingerprint_release(&fb);
	buf_release(&all);
	buf_release(&salt);
}

static void test_canary_never_in_raw_probe_or_ferry_probe_output(void **state)
{
	static const char *const argv[] = { "sh", "-s", NULL };
	struct hosts_probe_opts o = { .process = "ferry-test-app-a" };
	struct hosts_exec_result r;
	struct ferry_error err = { 0 };
	struct buf script;
	const char *bin = getenv("FERRY_BIN");

	(void)state;
	buf_init(&script, 1 << 20);
	assert_int_equal(hosts_probe_script(&o, "probe", NULL, &script, &err), 0);
	hosts_exec_result_init(&r);
	assert_int_equal(hosts_exec(&local, argv, script.data, script.len, 30000, &r, &err), 0);
	assert_int_equal(r.status, 0);
	assert_true(contains(&r.out, "env\tSHOP_API_KEY\t"));
	assert_false(contains(&r.out, CANARY));
	assert_false(contains(&r.err, CANARY));
	hosts_exec_result_release(&r);
	buf_release(&script);

	if (!bin) {
		skip();
		return;
	}
	{
		const char *const cmd[] = { bin, "probe", "--json", "--process", "ferry-test-app-a",
			                    NULL };

		hosts_exec_result_init(&r);
		assert_int_equal(hosts_exec(&local, cmd, NULL, 0, 30000, &r, &err), 0);
		assert_int_equal(r.status, 0);
		assert_true(contains(&r.out, "\"SHOP_API_KEY\": \"sha256:"));
		assert_false(contains(&r.out, CANARY));
		assert_false(contains(&r.err, CANARY));
		hosts_exec_result_release(&r);
	}
	{
		/* exit codes (DESIGN §5): usage and a bad name are usage errors */
		const char *const extra[] = { bin, "probe", "surplus", NULL };
		const char *const badname[] = { bin, "probe", "--process", "a b", NULL };

		hosts_exec_result_init(&r);
		assert_int_equal(hosts_exec(&local, extra, NULL, 0, 30000, &r, &err), 0);
		assert_int_equal(r.status, 2);
		hosts_exec_result_release(&r);
		hosts_exec_result_init(&r);
		assert_int_equal(hosts_exec(&local, badname, NULL, 0, 30000, &r, &err), 0);
		assert_int_equal(r.status, 2);
		assert_true(contains(&r.err, "is not a process name"));
		hosts_exec_result_release(&r);
	}
}

/* ---- egress ---- */

static void test_egress_reachable_and_refused(void **state)
{
	static char *eps[] = { "127.0.0.1:15650", "127.0.0.1:15652" };
	struct hosts_egress e;
	struct ferry_error err = { 0 };

	(void)state;
	hosts_egress_init(&e);
	assert_int_equal(hosts_egress_run(&local, eps, 2, 2000, &e, &err), 0);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.v[0].endpoint, "127.0.0.1:15650");
	assert_int_equal(e.v[0].state, HOSTS_EGRESS_OK);
	assert_string_equal(e.v[1].endpoint, "127.0.0.1:15652");
	assert_int_equal(e.v[1].state, HOSTS_EGRESS_REFUSED);
	assert_non_null(strstr(e.v[1].detail, "Connection refused"));
	hosts_egress_release(&e);
}

/* ---- TLS ---- */

static void test_tls_name_matches_wrong_name_and_expiry(void **state)
{
	struct hosts_tls_result r;
	struct ferry_error err = { 0 };
	char *ca = xasprintf("%s/ca.pem", tmpdir);

	(void)state;
	assert_int_equal(
	        hosts_tls_probe("127.0.0.1", PORT_TLS, "www.shop.test", ca, 3000, &r, &err), 0);
	assert_true(r.handshake);
	assert_true(r.chain_ok);
	assert_true(r.name_ok);
	assert_string_equal(r.subject, "CN=www.shop.test");
	assert_string_equal(r.issuer, "CN=ferry test CA");
	assert_true(r.days_left >= 363 && r.days_left <= 365);

	assert_int_equal(
	        hosts_tls_probe("127.0.0.1", PORT_TLS, "api.shop.test", ca, 3000, &r, &err), 0);
	assert_true(r.chain_ok);
	assert_false(r.name_ok);
	assert_string_equal(r.error, "certificate not valid for api.shop.test");

	/* the system store does not know the test CA */
	assert_int_equal(
	        hosts_tls_probe("127.0.0.1", PORT_TLS, "www.shop.test", NULL, 3000, &r, &err), 0);
	assert_false(r.chain_ok);
	assert_non_null(strstr(r.error, "certificate not trusted"));

	assert_int_equal(
	        hosts_tls_probe("127.0.0.1", PORT_TLS_SOON, "www.shop.test", ca, 3000, &r, &err),
	        0);
	assert_true(r.chain_ok && r.name_ok);
	assert_true(r.days_left >= 0 && r.days_left < 14);

	assert_int_equal(
	        hosts_tls_probe("127.0.0.1", PORT_CLOSED, "www.shop.test", ca, 3000, &r, &err), 0);
	assert_false(r.connected);
	assert_string_equal(r.error, "connect: Connection refused");

	/* a plain TCP listener that never answers: the handshake deadline */
	{
		int64_t start = time_mono_ms();

		assert_int_equal(hosts_tls_probe("127.0.0.1", PORT_LISTEN, "www.shop.test", ca, 300,
		                                 &r, &err),
		                 0);
		assert_true(r.connected);
		assert_false(r.handshake);
		assert_string_equal(r.error, "handshake: timed out after 300 ms");
		assert_true(time_mono_ms() - start < 2000);
	}
	free(ca);
}

/* ---- health ---- */

static void test_health_pinned_address_status_and_unreachable(void **state)
{
	struct hosts_http_result r;
	struct ferry_error err = { 0 };
	char *ca = xasprintf("%s/ca.pem", tmpdir);

	(void)state;
	/* www.shop.test does not resolve here: only the pin reaches it */
	assert_int_equal(hosts_http_check("https://www.shop.test:15660/", "127.0.0.1", ca, 2000,
	                                  5000, &r, &err),
	                 0);
	assert_int_equal(r.status, 200);
	assert_true(r.tls_verified);
	assert_true(r.latency_ms >= 0 && r.latency_ms < 5000);

	assert_int_equal(hosts_http_check("https://www.shop.test:15669/", "127.0.0.1", ca, 2000,
	                                  5000, &r, &err),
	                 0);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.error, "15669"));

	assert_int_equal(hosts_http_check("https://www.shop.test:15660/", "127.0.0.1", NULL, 2000,
	                                  5000, &r, &err),
	                 0);
	assert_int_equal(r.status, 0); /* not trusted without the CA */
	assert_false(r.tls_verified);
	free(ca);
}

/* ---- all checks over a plan ---- */

static const struct check_row *row(const struct check_rows *rows, const char *check,
                                   const char *object)
{
	size_t i;

	for (i = 0; i < rows->n; i++)
		if (!strcmp(rows->v[i].check, check) && !strcmp(rows->v[i].object, object))
			return &rows->v[i];
	return NULL;
}

static void test_checks_run_rows(void **state)
{
	/* old = this machine; new = this machine in a fresh network namespace
	 * with loopback down, so that egress from new fails where old works */
	static char *new_exec[] = { "unshare", "--net" };
	static char *egress[] = { "127.0.0.1:15650", "127.0.0.1:15652", NULL };
	static char *names[] = { "www.shop.test", NULL };
	struct plan_health_check health[3];
	struct plan p;
	struct hosts_checks_opts o = { .tls_port = PORT_TLS, .connect_timeout_ms = 2000 };
	struct check_rows rows;
	struct ferry_error err = { 0 };
	const struct check_row *r;
	char *ca = xasprintf("%s/ca.pem", tmpdir);
	size_t i;

	(void)state;
	if (geteuid() != 0) { /* unshare --net needs root */
		free(ca);
		skip();
		return;
	}
	memset(&p, 0, sizeof(p));
	p.name = "it";
	p.host_old = (struct plan_host){ .present = true, .address = "127.0.0.1" };
	p.host_new = (struct plan_host){ .present = true,
		                         .address = "127.0.0.1",
		                         .exec = { new_exec, 2 } };
	p.checks.present = true;
	p.checks.egress = (struct plan_strv){ egress, 2 };
	p.checks.tls.present = true;
	p.checks.tls.names = (struct plan_strv){ names, 1 };
	p.checks.tls.ca_file = ca;
	p.checks.tls.min_days = 14;
	health[0] = (struct plan_health_check){ "https://www.shop.test:15660/", 200 };
	health[1] = (struct plan_health_check){ "https://www.shop.test:15660/x", 204 };
	health[2] = (struct plan_health_check){ "https://www.shop.test:15669/", 200 };
	p.checks.health = health;
	p.checks.nhealth = 3;

	check_rows_init(&rows);
	assert_int_equal(hosts_checks_run_opts(&p, &o, &rows, &err), 0);
	for (i = 0; i < rows.n; i++)
		fprintf(stderr, "  %-7s %-32s %-4s %s\n", rows.v[i].check, rows.v[i].object,
		        check_status_name(rows.v[i].status), rows.v[i].message);

	r = row(&rows, "egress", "127.0.0.1:15650");
	assert_non_null(r);
	assert_int_equal(r->status, CHECK_FAIL);
	assert_non_null(strstr(r->message, "new host cannot reach 127.0.0.1:15650"));
	assert_non_null(strstr(r->message, "the old host reaches it"));
	r = row(&rows, "egress", "127.0.0.1:15652");
	assert_int_equal(r->status, CHECK_WARN);
	assert_non_null(strstr(r->message, "neither host reaches"));

	r = row(&rows, "tls", "www.shop.test");
	assert_int_equal(r->status, CHECK_OK);
	assert_non_null(strstr(r->message, "new host 127.0.0.1 serves CN=www.shop.test"));

	assert_int_equal(row(&rows, "health", "https://www.shop.test:15660/")->status, CHECK_OK);
	r = row(&rows, "health", "https://www.shop.test:15660/x");
	assert_int_equal(r->status, CHECK_FAIL);
	assert_non_null(strstr(r->message, "status 200"));
	assert_non_null(strstr(r->message, "expected 204"));
	r = row(&rows, "health", "https://www.shop.test:15669/");
	assert_int_equal(r->status, CHECK_FAIL);
	assert_non_null(strstr(r->message, "no response"));
	assert_int_equal(check_rows_worst(&rows), CHECK_FAIL);
	check_rows_release(&rows);

	/* the soon-expiring certificate fails min_days */
	o.tls_port = PORT_TLS_SOON;
	p.checks.egress.n = 0;
	p.checks.nhealth = 0;
	check_rows_init(&rows);
	assert_int_equal(hosts_checks_run_opts(&p, &o, &rows, &err), 0);
	r = row(&rows, "tls", "www.shop.test");
	assert_int_equal(r->status, CHECK_FAIL);
	assert_non_null(strstr(r->message, "(checks.tls.min_days: 14)"));
	check_rows_release(&rows);
	free(ca);
}

/* ---- the lab (suite lab): its deliberate faults, flagged in /run/ferry-lab/faults ---- */

static bool lab_fault(const char *name)
{
	char *p = xasprintf("/run/ferry-lab/faults/%s", name);
	bool on = access(p, F_OK) == 0;

	free(p);
	return on;
}

static void test_lab_faults_are_caught(void **state)
{
	static char *old_exec[] = { "ip", "netns", "exec", "ferry-old" };
	static char *new_exec[] = { "ip", "netns", "exec", "ferry-new" };
	static char *egress[] = { "payments.shop.test:443", NULL };
	static char *names[] = { "www.shop.test", NULL };
	static char *env_ignore[] = { "APP_HOST", "LISTEN", "PIDFILE", NULL };
	struct plan_health_check health = { "https://www.shop.test/healthz", 200 };
	struct plan p;
	struct check_rows rows;
	struct ferry_error err = { 0 };
	const struct check_row *r;
	size_t i;

	(void)state;
	if (access("/run/ferry-lab/ca/ca.pem", R_OK) || access("/run/netns/ferry-new", F_OK)) {
		skip();
		return;
	}
	memset(&p, 0, sizeof(p));
	p.name = "shop";
	p.host_old = (struct plan_host){ .present = true,
		                         .address = "10.77.0.2",
		                         .exec = { old_exec, 4 } };
	p.host_new = (struct plan_host){ .present = true,
		                         .address = "10.77.0.3",
		                         .exec = { new_exec, 4 } };
	p.checks.present = true;
	p.checks.env.present = true;
	p.checks.env.process = "ferry-lab-app";
	p.checks.env.ignore = (struct plan_strv){ env_ignore, 3 };
	p.checks.egress = (struct plan_strv){ egress, 1 };
	p.checks.tls.present = true;
	p.checks.tls.names = (struct plan_strv){ names, 1 };
	p.checks.tls.ca_file = "/run/ferry-lab/ca/ca.pem";
	p.checks.tls.min_days = 14;
	p.checks.health = &health;
	p.checks.nhealth = 1;

	check_rows_init(&rows);
	assert_int_equal(hosts_checks_run(&p, &rows, &err), 0);
	for (i = 0; i < rows.n; i++)
		fprintf(stderr, "  %-7s %-28s %-4s %s\n", rows.v[i].check, rows.v[i].object,
		        check_status_name(rows.v[i].status), rows.v[i].message);
	assert_null(row(&rows, "probe", "old"));
	assert_null(row(&rows, "probe", "new"));

	r = row(&rows, "env", "SHOP_API_KEY");
	if (lab_fault("env")) {
		assert_non_null(r);
		assert_int_equal(r->status, CHECK_FAIL);
	} else {
		assert_true(!r || r->status != CHECK_FAIL);
	}
	r = row(&rows, "tls", "www.shop.test");
	assert_non_null(r);
	assert_int_equal(r->status, lab_fault("cert") ? CHECK_FAIL : CHECK_OK);
	if (lab_fault("cert"))
		assert_non_null(strstr(r->message, "new host 10.77.0.3"));
	r = row(&rows, "egress", "payments.shop.test:443");
	assert_non_null(r);
	assert_int_equal(r->status, lab_fault("egress") ? CHECK_FAIL : CHECK_OK);
	check_rows_release(&rows);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest lab[] = {
		cmocka_unit_test(test_lab_faults_are_caught),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_empty_prefix_status_and_streams),
		cmocka_unit_test(test_exec_prefix_is_prepended),
		cmocka_unit_test(test_exec_timeout_kills_the_process_group),
		cmocka_unit_test(test_exec_missing_program_and_output_limit),
		cmocka_unit_test(test_probe_fingerprints_this_machine),
		cmocka_unit_test(test_env_capture_diff_names_missing_variable),
		cmocka_unit_test(test_canary_never_in_raw_probe_or_ferry_probe_output),
		cmocka_unit_test(test_egress_reachable_and_refused),
		cmocka_unit_test(test_tls_name_matches_wrong_name_and_expiry),
		cmocka_unit_test(test_health_pinned_address_status_and_unreachable),
		cmocka_unit_test(test_checks_run_rows),
	};

	if (argc > 1 && !strcmp(argv[1], "lab"))
		return access("/run/netns/ferry-new", F_OK)
		               ? 77 /* meson: skipped */
		               : cmocka_run_group_tests(lab, NULL, NULL);
	return cmocka_run_group_tests(tests, setup, teardown);
}
