/*
 * test_traffic_haproxy.c - the HAProxy driver against the real HAProxy that
 * run.sh starts (its top comment has the layout).  Two modes:
 *
 *   test_traffic_haproxy running HAPROXY CFG PIDFILE UNIX_SOCKET
 *	weights set and read back (TCP interactive, TCP one-shot, unix
 *	socket), a 25 % split measured with 400 real requests, stats that
 *	show new's 5xx share at 100 % and old's at 0 %, drain and ready,
 *	clear errors for wrong names, an operator-level socket and a server
 *	that never answers, and last a restart of HAProxy under an open
 *	interactive connection, which must reconnect by itself.
 *   test_traffic_haproxy stopped
 *	HAProxy is gone: FERRY_EUNREACH, fast.
 *
 * Requests are sent with libcurl (tests may use it; only src/hosts/http.c
 * may in src/).  Every wait polls a condition with a deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "traffic/traffic.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/timeutil.h"

#define ADMIN     "127.0.0.1:15705"
#define OPERATOR  "127.0.0.1:15706"
#define SILENT    "127.0.0.1:15709"
#define FRONT_URL "http://127.0.0.1:15700/"

extern char **environ;

static const char *haproxy_bin, *haproxy_cfg, *pidfile, *unix_sock;

static const struct traffic_driver *drv = &traffic_haproxy;

static struct traffic_lb *open_or_fail(const char *admin, enum traffic_mode mode)
{
	struct traffic_options opt = TRAFFIC_OPTIONS_INIT;
	struct ferry_error err = { 0 };
	struct traffic_lb *lb = NULL;

	opt.mode = mode;
	if (drv->open(admin, &opt, &lb, &err) < 0)
		fail_msg("open %s: %s (%s)", admin, err.msg, err.hint);
	return lb;
}

/* Polls until the admin API answers; HAProxy was just started. */
static void wait_admin_ready(void)
{
	int64_t deadline = time_mono_ms() + 10000;

	for (;;) {
		struct ferry_error err = { 0 };
		struct traffic_lb *lb = NULL;

		if (drv->open(ADMIN, NULL, &lb, &err) == 0) {
			drv->close(lb);
			return;
		}
		if (time_mono_ms() > deadline)
			fail_msg("HAProxy admin API not ready after 10 s: %s", err.msg);
		poll(NULL, 0, 20);
	}
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
	(void)p;
	(void)u;
	return size * n;
}

/* Sends n GETs through the frontend; counts answers by status. */
static void send_requests(int n, int *n200, int *n500)
{
	CURL *c = curl_easy_init();

	assert_non_null(c);
	*n200 = *n500 = 0;
	curl_easy_setopt(c, CURLOPT_URL, FRONT_URL);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	for (int i = 0; i < n; i++) {
		long code = 0;
		CURLcode rc = curl_easy_perform(c);

		if (rc != CURLE_OK)
			fail_msg("request %d: %s", i, curl_easy_strerror(rc));
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		if (code == 200)
			(*n200)++;
		else if (code == 500)
			(*n500)++;
		else
			fail_msg("request %d: unexpected status %ld", i, code);
	}
	curl_easy_cleanup(c);
}

static void set_both(struct traffic_lb *lb, int w_old, int w_new)
{
	struct ferry_error err = { 0 };

	if (drv->set_weight(lb, "web", "old", w_old, &err) < 0 ||
	    drv->set_weight(lb, "web", "new", w_new, &err) < 0)
		fail_msg("set weights: %s", err.msg);
}

static void expect_weight(struct traffic_lb *lb, const char *server, int want, int want_initial)
{
	struct ferry_error err = { 0 };
	int cur = -1, init = -1;

	if (drv->get_weight(lb, "web", server, &cur, &init, &err) < 0)
		fail_msg("get weight web/%s: %s", server, err.msg);
	assert_int_equal(cur, want);
	assert_int_equal(init, want_initial);
}

static void test_set_and_get_weight_every_transport(void **state)
{
	struct traffic_lb *lb;

	(void)state;
	lb = open_or_fail(ADMIN, TRAFFIC_MODE_INTERACTIVE);
	set_both(lb, 100, 42);
	expect_weight(lb, "new", 42, 100);
	expect_weight(lb, "old", 100, 100);
	drv->close(lb);

	lb = open_or_fail(ADMIN, TRAFFIC_MODE_ONESHOT);
	expect_weight(lb, "new", 42, 100);
	set_both(lb, 100, 0);
	expect_weight(lb, "new", 0, 100);
	drv->close(lb);

	lb = open_or_fail(unix_sock, TRAFFIC_MODE_INTERACTIVE);
	expect_weight(lb, "new", 0, 100);
	set_both(lb, 100, 7);
	expect_weight(lb, "new", 7, 100);
	drv->close(lb);
}

static void test_split_25_percent_measured(void **state)
{
	struct traffic_lb *lb = open_or_fail(ADMIN, TRAFFIC_MODE_INTERACTIVE);
	struct traffic_stats s0, s1;
	struct traffic_pair p;
	struct ferry_error err = { 0 };
	double eff = -1, share;
	int n200, n500;

	(void)state;
	traffic_stats_init(&s0);
	traffic_stats_init(&s1);
	if (traffic_split(drv, lb, "web", "old", "new", 25.0, &eff, &err) < 0)
		fail_msg("split: %s", err.msg);
	assert_true(eff == 25.0);
	expect_weight(lb, "old", 75, 100);
	expect_weight(lb, "new", 25, 100);

	if (drv->stats(lb, "web", &s0, &err) < 0)
		fail_msg("stats: %s", err.msg);
	assert_int_equal(traffic_stats_find(&s0, "new")->weight, 25);
	send_requests(400, &n200, &n500);
	/* a snapshot taken at once can be in the same millisecond */
	while (time_mono_ms() <= s0.at_ms)
		poll(NULL, 0, 1);
	if (drv->stats(lb, "web", &s1, &err) < 0)
		fail_msg("stats: %s", err.msg);

	share = 100.0 * n500 / (n200 + n500);
	print_message("split 25 %%: %d of 400 requests on new (%.1f %%)\n", n500, share);
	assert_true(share >= 20.0 && share <= 30.0);

	if (traffic_sample_pair(&s0, &s1, "old", "new", &p, &err) < 0)
		fail_msg("sample: %s", err.msg);
	print_message("stats: old %.0f req/s %.1f %% 5xx rtime %.0f ms; "
	              "new %.0f req/s %.1f %% 5xx rtime %.0f ms\n",
	              p.old.rps, p.old.err_pct, p.old.rtime_ms, p.new.rps, p.new.err_pct,
	              p.new.rtime_ms);
	/* the balancer's counters agree with what the client saw */
	assert_int_equal(p.new.requests, n500);
	assert_int_equal(p.old.requests, n200);
	assert_int_equal(p.new.errors, n500);
	assert_true(p.new.err_pct == 100.0);
	assert_true(p.old.err_pct == 0.0);
	assert_true(p.new.rps > 0 && p.old.rps > p.new.rps);

	traffic_stats_release(&s0);
	traffic_stats_release(&s1);
	drv->close(lb);
}

static void test_split_extremes_keep_a_server(void **state)
{
	struct traffic_lb *lb = open_or_fail(ADMIN, TRAFFIC_MODE_INTERACTIVE);
	struct ferry_error err = { 0 };
	int n200, n500;

	(void)state;
	assert_int_equal(traffic_split(drv, lb, "web", "old", "new", 100.0, NULL, &err), 0);
	expect_weight(lb, "old", 0, 100);
	send_requests(20, &n200, &n500);
	assert_int_equal(n500, 20);
	assert_int_equal(traffic_split(drv, lb, "web", "old", "new", 0.0, NULL, &err), 0);
	expect_weight(lb, "new", 0, 100);
	send_requests(20, &n200, &n500);
	assert_int_equal(n200, 20);
	assert_int_equal(traffic_split(drv, lb, "web", "old", "new", 0.5, NULL, &err), 0);
	expect_weight(lb, "old", 199, 100);
	expect_weight(lb, "new", 1, 100);
	drv->close(lb);
}

static void test_drain_and_ready(void **state)
{
	struct traffic_lb *lb = open_or_fail(ADMIN, TRAFFIC_MODE_INTERACTIVE);
	struct traffic_stats s;
	struct ferry_error err = { 0 };
	int n200, n500;

	(void)state;
	traffic_stats_init(&s);
	set_both(lb, 50, 50);
	if (drv->drain(lb, "web", "new", &err) < 0)
		fail_msg("drain: %s", err.msg);
	assert_int_equal(drv->stats(lb, "web", &s, &err), 0);
	assert_string_equal(traffic_stats_find(&s, "new")->status, "DRAIN");
	send_requests(40, &n200, &n500);
	assert_int_equal(n500, 0);
	if (drv->ready(lb, "web", "new", &err) < 0)
		fail_msg("ready: %s", err.msg);
	assert_int_equal(drv->stats(lb, "web", &s, &err), 0);
	assert_string_not_equal(traffic_stats_find(&s, "new")->status, "DRAIN");
	send_requests(40, &n200, &n500);
	assert_true(n500 >= 15 && n500 <= 25);
	traffic_stats_release(&s);
	drv->close(lb);
}

static void test_wrong_names_give_clear_errors(void **state)
{
	struct traffic_lb *lb = open_or_fail(ADMIN, TRAFFIC_MODE_INTERACTIVE);
	struct traffic_stats s;
	struct ferry_error err = { 0 };

	(void)state;
	traffic_stats_init(&s);
	assert_int_equal(drv->set_weight(lb, "web", "nope", 10, &err), FERRY_ENOTFOUND);
	assert_string_equal(err.msg, "haproxy 127.0.0.1:15705 web/nope: 'set weight web/nope 10': "
	                             "\"No such server.\"");
	assert_non_null(strstr(err.hint, "traffic.servers"));
	assert_int_equal(drv->get_weight(lb, "nope", "new", NULL, NULL, &err), FERRY_ENOTFOUND);
	assert_non_null(strstr(err.msg, "No such backend."));
	assert_int_equal(drv->drain(lb, "web", "nope", &err), FERRY_ENOTFOUND);
	assert_int_equal(drv->stats(lb, "nope", &s, &err), FERRY_ENOTFOUND);
	assert_non_null(strstr(err.msg, "No such proxy."));
	/* a name that would smuggle a second command never reaches HAProxy */
	assert_int_equal(drv->set_weight(lb, "web", "new 1;shutdown frontend fe", 1, &err),
	                 FERRY_EINVAL);
	assert_int_equal(drv->set_weight(lb, "web", "new", 257, &err), FERRY_EINVAL);
	/* the connection is still good after all of that */
	expect_weight(lb, "new", 50, 100);
	traffic_stats_release(&s);
	drv->close(lb);
}

static void test_operator_level_is_permission_denied(void **state)
{
	struct traffic_lb *lb = open_or_fail(OPERATOR, TRAFFIC_MODE_INTERACTIVE);
	struct ferry_error err = { 0 };

	(void)state;
	assert_int_equal(drv->set_weight(lb, "web", "new", 10, &err), FERRY_EAUTH);
	assert_non_null(strstr(err.msg, "Permission denied"));
	assert_non_null(strstr(err.hint, "level admin"));
	drv->close(lb);
}

static void test_silent_server_times_out(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(15709) };
	struct traffic_options opt = TRAFFIC_OPTIONS_INIT;
	struct ferry_error err = { 0 };
	struct traffic_lb *lb = NULL;
	int one = 1, fd, rc;
	int64_t t0, took;

	(void)state;
	/* listens, never accepts or answers: connect succeeds, no reply */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	opt.reply_timeout_ms = 300;
	t0 = time_mono_ms();
	rc = drv->open(SILENT, &opt, &lb, &err);
	took = time_mono_ms() - t0;
	close(fd);
	assert_int_equal(rc, FERRY_ETIMEDOUT);
	assert_non_null(strstr(err.msg, "no complete reply to 'prompt' within 300 ms"));
	assert_true(took >= 300 && took < 2000);
}

static void test_reply_over_the_bound_is_refused(void **state)
{
	struct traffic_options opt = TRAFFIC_OPTIONS_INIT;
	struct ferry_error err = { 0 };
	struct traffic_lb *lb = NULL;
	struct traffic_stats s;

	(void)state;
	traffic_stats_init(&s);
	opt.max_reply = 256; /* the show stat reply is several KiB */
	assert_int_equal(drv->open(ADMIN, &opt, &lb, &err), 0);
	assert_int_equal(drv->stats(lb, "web", &s, &err), FERRY_EPROTO);
	assert_non_null(strstr(err.msg, "longer than 256 bytes"));
	/* the connection was dropped (mid-reply) and a new one still works */
	expect_weight(lb, "new", 50, 100);
	traffic_stats_release(&s);
	drv->close(lb);
}

/* How long one `set weight` takes: what the cutover spends per weight. */
static void test_command_latency_interactive_vs_oneshot(void **state)
{
	static const enum traffic_mode modes[] = { TRAFFIC_MODE_INTERACTIVE, TRAFFIC_MODE_ONESHOT };
	static const char *const names[] = { "interactive", "one-shot" };

	(void)state;
	for (size_t m = 0; m < 2; m++) {
		struct traffic_lb *lb = open_or_fail(ADMIN, modes[m]);
		struct ferry_error err = { 0 };
		int64_t t0 = time_mono_us(), us;

		for (int i = 0; i < 200; i++)
			if (drv->set_weight(lb, "web", "new", 50, &err) < 0)
				fail_msg("set weight: %s", err.msg);
		us = (time_mono_us() - t0) / 200;
		print_message("set weight over %s connection: %lld us per command\n", names[m],
		              (long long)us);
		assert_true(us < 50000);
		drv->close(lb);
	}
}

static pid_t read_pid(void)
{
	struct buf b;
	long pid;

	buf_init(&b, 64);
	if (buf_read_file(&b, pidfile) < 0)
		fail_msg("cannot read %s", pidfile);
	pid = strtol(b.data, NULL, 10);
	buf_release(&b);
	return (pid_t)pid;
}

/* HAProxy restarted under an open interactive connection: the next command
 * finds it closed and is sent again on a new one.  (The same path serves
 * HAProxy closing an idle connection after `stats timeout`.) */
static void test_interactive_reconnects_after_restart(void **state)
{
	struct traffic_lb *lb = open_or_fail(ADMIN, TRAFFIC_MODE_INTERACTIVE);
	char *argv[] = { (char *)haproxy_bin, "-f", (char *)haproxy_cfg, "-D", "-p",
		         (char *)pidfile,     NULL };
	pid_t pid = read_pid(), child;
	int64_t deadline;
	int status;

	(void)state;
	expect_weight(lb, "new", 50, 100);
	assert_int_equal(kill(pid, SIGTERM), 0);
	deadline = time_mono_ms() + 5000;
	while (kill(pid, 0) == 0) {
		if (time_mono_ms() > deadline)
			fail_msg("HAProxy %d still running 5 s after SIGTERM", (int)pid);
		poll(NULL, 0, 10);
	}
	assert_int_equal(posix_spawn(&child, haproxy_bin, NULL, NULL, argv, environ), 0);
	assert_int_equal(waitpid(child, &status, 0), child); /* -D: the parent returns */
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	wait_admin_ready();
	/* a fresh process: the weight is back at its initial value */
	expect_weight(lb, "new", 100, 100);
	drv->close(lb);
}

static void test_stopped_haproxy_is_unreachable_fast(void **state)
{
	static const enum traffic_mode modes[] = { TRAFFIC_MODE_INTERACTIVE, TRAFFIC_MODE_ONESHOT };

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct traffic_options opt = TRAFFIC_OPTIONS_INIT;
		struct ferry_error err = { 0 };
		struct traffic_lb *lb = NULL;
		int64_t t0 = time_mono_ms(), took;
		int rc;

		opt.mode = modes[i];
		rc = drv->open(ADMIN, &opt, &lb, &err);
		took = time_mono_ms() - t0;
		assert_int_equal(rc, FERRY_EUNREACH);
		assert_null(lb);
		assert_string_equal(err.msg,
		                    "haproxy 127.0.0.1:15705: connect: Connection refused");
		print_message("stopped HAProxy reported unreachable in %lld ms\n", (long long)took);
		assert_true(took < 200);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest running[] = {
		cmocka_unit_test(test_set_and_get_weight_every_transport),
		cmocka_unit_test(test_split_25_percent_measured),
		cmocka_unit_test(test_split_extremes_keep_a_server),
		cmocka_unit_test(test_drain_and_ready),
		cmocka_unit_test(test_wrong_names_give_clear_errors),
		cmocka_unit_test(test_operator_level_is_permission_denied),
		cmocka_unit_test(test_silent_server_times_out),
		cmocka_unit_test(test_reply_over_the_bound_is_refused),
		cmocka_unit_test(test_command_latency_interactive_vs_oneshot),
		cmocka_unit_test(test_interactive_reconnects_after_restart),
	};
	const struct CMUnitTest stopped[] = {
		cmocka_unit_test(test_stopped_haproxy_is_unreachable_fast),
	};
	int rc;

	if (argc == 6 && strcmp(argv[1], "running") == 0) {
		haproxy_bin = argv[2];
		haproxy_cfg = argv[3];
		pidfile = argv[4];
		unix_sock = argv[5];
		curl_global_init(CURL_GLOBAL_DEFAULT);
		wait_admin_ready();
		rc = cmocka_run_group_tests_name("haproxy running", running, NULL, NULL);
		curl_global_cleanup();
		return rc;
	}
	if (argc == 2 && strcmp(argv[1], "stopped") == 0)
		return cmocka_run_group_tests_name("haproxy stopped", stopped, NULL, NULL);
	fprintf(stderr, "usage: %s running HAPROXY CFG PIDFILE SOCKET | stopped\n", argv[0]);
	return 2;
}
