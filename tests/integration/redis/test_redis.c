/*
 * test_redis.c - the Redis engine against real servers (run.sh starts
 * them): old on plain TCP with requirepass and an ACL user, new over TLS
 * with client certificates, and spare servers for the refusals.
 *
 * The cases run in order and share the servers, the way a migration
 * does: connections refused as they should be, readiness and its
 * refusals, replication under a mixed load (SET, SET+EXPIRE, INCR,
 * MULTI/EXEC, EVAL, large hashes and sets), verification that finds a
 * difference, lag that sees a link down and a full resync, each switch
 * step alone (and its undo), the switch there and back with a ledger, a
 * late write that turns the way back into a full resync (detected), and
 * the teardown.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/db.h"
#include "db/redis.h"
#include "db/redis_conn.h"
#include "redisload.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define OLD_PORT     16101
#define NEW_PORT     16102
#define SPARE_PORT   16103
#define CLUSTER_PORT 16104
#define RENAMED_PORT 16105
#define LIM_PORT     16106
#define LOOPOLD_PORT 16107
#define LOOPNEW_PORT 16108
#define NOBODY_PORT  16199

static struct {
	char *dir;
	char *pw;
	char old_url[128], new_url[512], spare_url[128], cluster_url[128], renamed_url[128],
	        lim_url[128], loopold_url[128], loopnew_url[128];
	const struct db_engine *eng;
} E;

/* ---- helpers ------------------------------------------------------------ */

static enum redis_side rd_test_other(enum redis_side s)
{
	return s == REDIS_OLD ? REDIS_NEW : REDIS_OLD;
}

static void setup_env(void)
{
	struct buf b;
	char *path;

	E.dir = getenv("FERRY_REDIS_DIR");
	if (!E.dir) {
		fprintf(stderr, "run me through run.sh (FERRY_REDIS_DIR)\n");
		exit(1);
	}
	buf_init(&b, 4096);
	path = xasprintf("%s/ferry.pw", E.dir);
	if (buf_read_file(&b, path) < 0) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(1);
	}
	free(path);
	while (b.len && b.data[b.len - 1] == '\n')
		b.data[--b.len] = '\0';
	E.pw = xstrdup(b.data);
	buf_release_secret(&b);
	snprintf(E.old_url, sizeof(E.old_url), "redis://ferry@127.0.0.1:%d", OLD_PORT);
	snprintf(E.new_url, sizeof(E.new_url),
	         "rediss://127.0.0.1:%d?ca=%s/ca.crt&cert=%s/cli.crt&key=%s/cli.key", NEW_PORT,
	         E.dir, E.dir, E.dir);
	snprintf(E.spare_url, sizeof(E.spare_url), "redis://127.0.0.1:%d", SPARE_PORT);
	snprintf(E.cluster_url, sizeof(E.cluster_url), "redis://127.0.0.1:%d", CLUSTER_PORT);
	snprintf(E.renamed_url, sizeof(E.renamed_url), "redis://127.0.0.1:%d", RENAMED_PORT);
	snprintf(E.lim_url, sizeof(E.lim_url), "redis://ferry@127.0.0.1:%d", LIM_PORT);
	snprintf(E.loopold_url, sizeof(E.loopold_url), "redis://127.0.0.1:%d", LOOPOLD_PORT);
	snprintf(E.loopnew_url, sizeof(E.loopnew_url), "redis://127.0.0.1:%d", LOOPNEW_PORT);
	E.eng = db_engine_find("redis");
}

static void config(struct db_config *cfg, const char *old_url, const char *new_url)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->name = "cache";
	cfg->old_conninfo = old_url;
	cfg->new_conninfo = new_url;
	cfg->old_password = E.pw;
	cfg->new_password = E.pw;
	cfg->pause_budget_ms = 5000;
}

/* The engine on (old_url, new_url); cfg must outlive the handle. */
static void *open_pair(struct db_config *cfg, const char *old_url, const char *new_url)
{
	struct ferry_error err = { 0 };
	void *h = NULL;

	config(cfg, old_url, new_url);
	if (E.eng->open(cfg, &h, &err) < 0)
		fail_msg("open: %s (%s)", err.msg, err.hint);
	return h;
}

/* A test-side client of url. */
static struct redis_conn *client(const char *url)
{
	struct redis_endpoint ep;
	struct ferry_error err = { 0 };
	struct redis_conn *c = NULL;

	if (redis_endpoint_parse(url, &ep, &err) < 0)
		fail_msg("%s", err.msg);
	if (redis_connect(&c, &ep, E.pw, "test client", time_mono_ms() + 5000, &err) < 0)
		fail_msg("connect %s: %s", url, err.msg);
	redis_endpoint_release(&ep);
	return c;
}

/* Runs a command (NULL-terminated strings), fails the test on an error;
 * returns the reply (release it) when out is given. */
static void cmd_(struct redis_conn *c, struct redis_reply *out, const char *a0, ...)
{
	const char *argv[16];
	struct ferry_error err = { 0 };
	struct redis_reply r;
	int argc = 0;
	va_list ap;

	argv[argc++] = a0;
	va_start(ap, a0);
	while ((argv[argc] = va_arg(ap, const char *)) != NULL)
		argc++;
	va_end(ap);
	if (redis_cmdv(c, argc, argv, NULL, time_mono_ms() + 10000, &r, &err) < 0)
		fail_msg("%s: %s", a0, err.msg);
	if (out)
		*out = r;
	else
		redis_reply_release(&r);
}
#define cmd(c, ...) cmd_((c), NULL, __VA_ARGS__, NULL)

static int64_t info_int(struct redis_conn *c, const char *section, const char *field)
{
	struct redis_reply r;
	int64_t v;

	cmd_(c, &r, "INFO", section, NULL);
	v = redis_info_int(r.str, field, -1);
	redis_reply_release(&r);
	return v;
}

static bool info_is(struct redis_conn *c, const char *section, const char *field, const char *want)
{
	struct redis_reply r;
	char v[128] = "";

	cmd_(c, &r, "INFO", section, NULL);
	redis_info_str(r.str, field, v, sizeof(v));
	redis_reply_release(&r);
	return !strcmp(v, want);
}

/* Waits until field of INFO section is want, up to ms. */
static void wait_info(struct redis_conn *c, const char *section, const char *field,
                      const char *want, int64_t ms)
{
	int64_t end = time_mono_ms() + ms;

	while (!info_is(c, section, field, want)) {
		if (time_mono_ms() > end)
			fail_msg("%s never became %s", field, want);
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
}

static const struct db_check *row(const struct db_checks *c, const char *name, const char *side)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (!strcmp(c->v[i].name, name) &&
		    (!side || !strncmp(c->v[i].message, side, strlen(side))))
			return &c->v[i];
	fail_msg("no check row %s", name);
	return NULL;
}

static void print_checks(const struct db_checks *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		printf("  %-4s %-18s %s\n", db_check_status_name(c->v[i].status), c->v[i].name,
		       c->v[i].message);
}

static void checks_of(const char *old_url, const char *new_url, struct db_checks *out)
{
	struct db_config cfg;
	struct ferry_error err = { 0 };
	void *h = open_pair(&cfg, old_url, new_url);

	memset(out, 0, sizeof(*out));
	if (E.eng->check(h, out, &err) < 0)
		fail_msg("check: %s", err.msg);
	print_checks(out);
	E.eng->close(h);
}

static int64_t ms_since(int64_t t0)
{
	return time_mono_ms() - t0;
}

/* ---- connections -------------------------------------------------------- */

static void test_open_refusals(void **state)
{
	struct db_config cfg;
	struct ferry_error err = { 0 };
	char url[600];
	void *h = NULL;

	(void)state;
	config(&cfg, "redis://127.0.0.1:16101/3", E.new_url);
	assert_int_equal(E.eng->open(&cfg, &h, &err), FERRY_EINVAL);
	assert_non_null(strstr(err.msg, "database number"));

	config(&cfg, E.old_url, E.new_url);
	cfg.old_password = "wrong";
	assert_int_equal(E.eng->open(&cfg, &h, &err), FERRY_EAUTH);
	assert_non_null(strstr(err.msg, "database cache old"));

	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", NOBODY_PORT);
	config(&cfg, url, E.new_url);
	assert_int_equal(E.eng->open(&cfg, &h, &err), FERRY_EUNREACH);

	/* new's certificate is not signed by this CA */
	snprintf(url, sizeof(url),
	         "rediss://127.0.0.1:%d?ca=%s/other-ca.crt&cert=%s/cli.crt&key=%s/cli.key",
	         NEW_PORT, E.dir, E.dir, E.dir);
	config(&cfg, E.old_url, url);
	assert_int_equal(E.eng->open(&cfg, &h, &err), FERRY_EAUTH);
	assert_non_null(strstr(err.msg, "certificate"));

	/* new asks for a client certificate (tls-auth-clients yes) */
	snprintf(url, sizeof(url), "rediss://127.0.0.1:%d?ca=%s/ca.crt", NEW_PORT, E.dir);
	config(&cfg, E.old_url, url);
	assert_int_equal(E.eng->open(&cfg, &h, &err), FERRY_EUNREACH);
	assert_null(h);
}

/* ---- readiness ----------------------------------------------------------- */

static void test_check_ready(void **state)
{
	struct db_checks c;

	(void)state;
	checks_of(E.old_url, E.new_url, &c);
	assert_int_not_equal(db_checks_worst(&c), DB_CHECK_FAIL);
	assert_int_equal(row(&c, "version", NULL)->status, DB_CHECK_OK);
	assert_int_equal(row(&c, "mode", NULL)->status, DB_CHECK_OK);
	assert_int_equal(row(&c, "new_empty", NULL)->status, DB_CHECK_OK);
	assert_int_equal(row(&c, "tls", "new")->status, DB_CHECK_OK);
	assert_int_equal(row(&c, "tls", "old")->status, DB_CHECK_OK);
	assert_int_equal(row(&c, "credentials", "old")->status, DB_CHECK_OK);
	assert_int_equal(row(&c, "credentials", "new")->status, DB_CHECK_OK);
	assert_int_equal(row(&c, "commands", "new")->status, DB_CHECK_OK);
	assert_int_equal(row(&c, "clock", NULL)->status, DB_CHECK_OK);
	assert_int_equal(row(&c, "output_buffer", NULL)->status, DB_CHECK_OK);
	/* --save '' on both: the operator is told */
	assert_int_equal(row(&c, "persistence", NULL)->status, DB_CHECK_WARN);
	db_checks_release(&c);
}

static void test_check_refusals(void **state)
{
	struct redis_conn *spare = client(E.spare_url), *old = client(E.old_url);
	struct db_checks c;
	struct db_config cfg;
	struct ferry_error err = { 0 };
	void *h;

	(void)state;
	/* a target that holds keys: refused, and replication does not start */
	cmd(spare, "SET", "precious", "1");
	checks_of(E.old_url, E.spare_url, &c);
	assert_int_equal(row(&c, "new_empty", NULL)->status, DB_CHECK_FAIL);
	assert_non_null(strstr(row(&c, "new_empty", NULL)->message, "1 keys"));
	/* old replicates back over TLS, spare is plain TCP */
	assert_int_equal(row(&c, "tls", "old")->status, DB_CHECK_FAIL);
	db_checks_release(&c);
	h = open_pair(&cfg, E.old_url, E.spare_url);
	assert_int_equal(E.eng->replicate_start(h, &err), FERRY_ECHECK);
	assert_non_null(strstr(err.msg, "would erase"));
	E.eng->close(h);
	assert_true(info_is(spare, "replication", "role", "master"));
	cmd(spare, "FLUSHALL");

	/* a target with less memory than old uses */
	cmd(spare, "CONFIG", "SET", "maxmemory", "65536");
	checks_of(E.old_url, E.spare_url, &c);
	assert_int_equal(row(&c, "memory", NULL)->status, DB_CHECK_FAIL);
	db_checks_release(&c);
	cmd(spare, "CONFIG", "SET", "maxmemory", "0");

	/* cluster mode: out of scope */
	checks_of(E.old_url, E.cluster_url, &c);
	assert_int_equal(row(&c, "mode", NULL)->status, DB_CHECK_FAIL);
	assert_non_null(strstr(row(&c, "mode", NULL)->message, "out of ferry's scope"));
	db_checks_release(&c);

	/* CONFIG renamed away */
	checks_of(E.old_url, E.renamed_url, &c);
	assert_int_equal(row(&c, "commands", "new")->status, DB_CHECK_FAIL);
	assert_non_null(strstr(row(&c, "commands", "new")->message, "config"));
	db_checks_release(&c);

	/* a user that may not replicate (PSYNC) nor CONFIG SET */
	checks_of(E.old_url, E.lim_url, &c);
	assert_int_equal(row(&c, "credentials", "new")->status, DB_CHECK_FAIL);
	assert_non_null(strstr(row(&c, "credentials", "new")->message, "PSYNC"));
	assert_non_null(strstr(row(&c, "credentials", "new")->message, "CONFIG"));
	db_checks_release(&c);

	/* a replica buffer limit no full sync fits in */
	cmd(old, "CONFIG", "SET", "client-output-buffer-limit", "replica 1 0 0");
	checks_of(E.old_url, E.new_url, &c);
	assert_int_equal(row(&c, "output_buffer", NULL)->status, DB_CHECK_FAIL);
	db_checks_release(&c);
	cmd(old, "CONFIG", "SET", "client-output-buffer-limit", "replica 268435456 67108864 60");

	redis_conn_free(spare);
	redis_conn_free(old);
}

/* ---- replication ----------------------------------------------------------- */

/* The mixed load: each round one of every kind, counted. */
static struct {
	pthread_t thread;
	volatile bool stop;
	int64_t rounds;
	char error[256];
} W;

static void *mixed_writer(void *arg)
{
	struct redis_conn *c = client(E.old_url);
	static const char script[] =
	        "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])";

	(void)arg;
	while (!W.stop) {
		struct ferry_error err = { 0 };
		char k[32], v[32], f[32];
		const char *multi[][4] = {
			{ "MULTI" },
			{ "SET", k, v },
			{ "INCR", "multi:count" },
			{ "HSET", "big:hash", f, v },
			{ "EXEC" },
		};
		static const int margc[] = { 1, 3, 2, 4, 1 };
		struct redis_reply rep[5];
		size_t i;
		int rc = 0;

		snprintf(v, sizeof(v), "v%lld", (long long)W.rounds);
		snprintf(f, sizeof(f), "f%lld", (long long)(W.rounds % 3000));
		snprintf(k, sizeof(k), "s:%lld", (long long)W.rounds);
		rc = redis_cmd(c, time_mono_ms() + 5000, NULL, &err, "SET", k, v, NULL);
		k[0] = 'e'; /* SET, then EXPIRE */
		if (rc == 0)
			rc = redis_cmd(c, time_mono_ms() + 5000, NULL, &err, "SET", k, v, NULL);
		if (rc == 0)
			rc = redis_cmd(c, time_mono_ms() + 5000, NULL, &err, "EXPIRE", k, "3600",
			               NULL);
		k[0] = 'x'; /* SET with EX */
		if (rc == 0)
			rc = redis_cmd(c, time_mono_ms() + 5000, NULL, &err, "SET", k, v, "EX",
			               "600", NULL);
		if (rc == 0)
			rc = redis_cmd(c, time_mono_ms() + 5000, NULL, &err, "INCR", "counter",
			               NULL);
		k[0] = 't'; /* inside MULTI */
		for (i = 0; rc == 0 && i < 5; i++)
			redis_append(c, margc[i], multi[i], NULL);
		if (rc == 0)
			rc = redis_flush(c, 5, rep, time_mono_ms() + 5000, &err);
		for (i = 0; i < 5; i++)
			redis_reply_release(&rep[i]);
		if (rc == 0) {
			snprintf(k, sizeof(k), "ev:%lld", (long long)W.rounds);
			rc = redis_cmd(c, time_mono_ms() + 5000, NULL, &err, "EVAL", script, "2", k,
			               "ev:count", v, NULL);
		}
		if (rc == 0)
			rc = redis_cmd(c, time_mono_ms() + 5000, NULL, &err, "SADD", "big:set", v,
			               NULL);
		if (rc < 0) {
			snprintf(W.error, sizeof(W.error), "%s", err.msg);
			break;
		}
		W.rounds++;
	}
	redis_conn_free(c);
	return NULL;
}

static void test_replicate_under_load(void **state)
{
	struct redis_conn *old = client(E.old_url), *new = client(E.new_url);
	struct db_config cfg;
	struct ferry_error err = { 0 };
	struct db_verify v = { 0 };
	bool seen_not_ready = false;
	int64_t t0, counter_new;
	void *h;
	int i;

	(void)state;
	/* a dataset before replication: the full sync carries it */
	for (i = 0; i < 200; i++) {
		char k[32];
		size_t j;

		for (j = 0; j < 50; j++) {
			const char *argv[3] = { "SET", k, "preloaded-value-of-some-length" };

			snprintf(k, sizeof(k), "pre:%d", i * 50 + (int)j);
			redis_append(old, 3, argv, NULL);
		}
		{
			struct redis_reply rep[50];

			assert_int_equal(redis_flush(old, 50, rep, time_mono_ms() + 5000, &err), 0);
			for (j = 0; j < 50; j++)
				redis_reply_release(&rep[j]);
		}
	}
	cmd(old, "SELECT", "3");
	cmd(old, "SET", "in-db3", "x");
	cmd(old, "SELECT", "0");
	W.stop = false;
	assert_int_equal(pthread_create(&W.thread, NULL, mixed_writer, NULL), 0);

	h = open_pair(&cfg, E.old_url, E.new_url);
	assert_int_equal(E.eng->replicate_start(h, &err), 0);
	assert_int_equal(E.eng->replicate_start(h, &err), 0); /* idempotent */
	t0 = time_mono_ms();
	for (;;) {
		struct db_progress p = { 0 };

		if (E.eng->progress(h, &p, &err) < 0)
			fail_msg("progress: %s", err.msg);
		assert_int_equal(p.n, 1);
		assert_string_equal(p.v[0].name, "full_sync");
		if (p.ready == 1) {
			db_progress_release(&p);
			break;
		}
		seen_not_ready = true;
		db_progress_release(&p);
		if (ms_since(t0) > 30000)
			fail_msg("the full sync did not finish in 30 s");
		struct timespec ts = { 0, 20000000 };
		nanosleep(&ts, NULL);
	}
	assert_true(seen_not_ready);
	/* the stream carries the load */
	{
		struct db_lag lag;

		assert_int_equal(E.eng->lag(h, DB_FORWARD, &lag, &err), 0);
		assert_true(lag.worker_running);
		assert_true(lag.bytes >= 0);
		assert_true(lag.ms >= 0 && lag.ms < 2000);
		printf("  lag under load: %lld bytes, %lld ms\n", (long long)lag.bytes,
		       (long long)lag.ms);
	}
	while (W.rounds < 300 && !W.error[0] && ms_since(t0) < 30000) {
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	W.stop = true;
	pthread_join(W.thread, NULL);
	if (W.error[0])
		fail_msg("writer: %s", W.error);
	printf("  %lld rounds of SET, SET+EXPIRE, SET EX, INCR, MULTI/EXEC, EVAL, SADD\n",
	       (long long)W.rounds);
	{
		struct db_lag lag;

		t0 = time_mono_ms();
		do {
			assert_int_equal(E.eng->lag(h, DB_FORWARD, &lag, &err), 0);
		} while (lag.bytes != 0 && ms_since(t0) < 10000);
		assert_int_equal(lag.bytes, 0);
		assert_int_equal(lag.ms, 0);
		assert_int_equal(lag.apply_errors, 0);
	}
	{
		struct redis_reply a, b;

		cmd_(old, &a, "GET", "counter", NULL);
		cmd_(new, &b, "GET", "counter", NULL);
		assert_string_equal(a.str, b.str);
		counter_new = strtoll(b.str, NULL, 10);
		assert_int_equal(counter_new, W.rounds);
		redis_reply_release(&a);
		redis_reply_release(&b);
		cmd_(new, &a, "GET", "ev:count", NULL);
		assert_int_equal(strtoll(a.str, NULL, 10), W.rounds);
		redis_reply_release(&a);
		cmd_(new, &a, "GET", "multi:count", NULL);
		assert_int_equal(strtoll(a.str, NULL, 10), W.rounds);
		redis_reply_release(&a);
		cmd_(new, &a, "TTL", "x:1", NULL);
		assert_true(a.integer > 0 && a.integer <= 600);
		redis_reply_release(&a);
		cmd_(new, &a, "TTL", "e:1", NULL);
		assert_true(a.integer > 600 && a.integer <= 3600);
		redis_reply_release(&a);
		cmd_(new, &a, "TTL", "t:1", NULL);
		assert_int_equal(a.integer, -1);
		redis_reply_release(&a);
	}
	/* counts, then every value both ways, then a sample */
	assert_int_equal(E.eng->verify(h, false, &v, &err), 0);
	assert_true(v.equal);
	assert_int_equal(v.n, 2); /* db0 and db3 */
	db_verify_release(&v);
	t0 = time_mono_ms();
	assert_int_equal(E.eng->verify(h, true, &v, &err), 0);
	printf("  full value comparison: %lld keys in %lld ms, digest %s\n",
	       (long long)v.v[0].rows_old, (long long)ms_since(t0), v.v[0].sum_old);
	assert_true(v.equal);
	assert_string_equal(v.v[0].sum_old, v.v[0].sum_new);
	assert_string_not_equal(v.v[0].sum_old, "0000000000000000");
	db_verify_release(&v);
	assert_int_equal(redis_verify_values(h, 50, &v, &err), 0);
	assert_true(v.equal);
	db_verify_release(&v);
	E.eng->close(h);
	redis_conn_free(old);
	redis_conn_free(new);
}

static void test_verify_finds_differences(void **state)
{
	struct redis_conn *new = client(E.new_url);
	struct db_config cfg;
	struct ferry_error err = { 0 };
	struct db_verify v = { 0 };
	void *h = open_pair(&cfg, E.old_url, E.new_url);

	(void)state;
	/* writes that bypass replication: a replica made writable */
	cmd(new, "CONFIG", "SET", "replica-read-only", "no");
	cmd(new, "SET", "pre:7", "changed on new");
	assert_int_equal(E.eng->verify(h, false, &v, &err), 0);
	assert_true(v.equal); /* same counts */
	db_verify_release(&v);
	assert_int_equal(E.eng->verify(h, true, &v, &err), 0);
	assert_false(v.equal);
	assert_string_not_equal(v.v[0].sum_old, v.v[0].sum_new);
	db_verify_release(&v);
	cmd(new, "SET", "only-on-new", "1");
	cmd(new, "SET", "pre:7", "preloaded-value-of-some-length");
	assert_int_equal(E.eng->verify(h, true, &v, &err), 0);
	assert_false(v.equal);
	assert_int_equal(v.v[0].rows_new, v.v[0].rows_old + 1);
	assert_string_not_equal(v.v[0].sum_old, v.v[0].sum_new);
	db_verify_release(&v);
	cmd(new, "DEL", "only-on-new");
	cmd(new, "CONFIG", "SET", "replica-read-only", "yes");
	assert_int_equal(E.eng->verify(h, true, &v, &err), 0);
	assert_true(v.equal);
	db_verify_release(&v);
	E.eng->close(h);
	redis_conn_free(new);
}

static void test_lag_sees_link_down_and_full_resync(void **state)
{
	struct redis_conn *old = client(E.old_url), *new = client(E.new_url);
	struct db_config cfg;
	struct ferry_error err = { 0 };
	struct db_lag lag;
	int64_t t0;
	void *h = open_pair(&cfg, E.old_url, E.new_url);
	int i;

	(void)state;
	assert_int_equal(E.eng->lag(h, DB_FORWARD, &lag, &err), 0);
	assert_true(lag.worker_running);
	assert_string_equal(lag.detail, "");
	/* the link down: new cannot authenticate any more */
	cmd(new, "CONFIG", "SET", "masterauth", "wrong");
	cmd(old, "CLIENT", "KILL", "TYPE", "replica");
	t0 = time_mono_ms();
	do {
		assert_int_equal(E.eng->lag(h, DB_FORWARD, &lag, &err), 0);
	} while (lag.worker_running && ms_since(t0) < 5000);
	assert_false(lag.worker_running);
	printf("  %s\n", lag.detail);
	assert_non_null(strstr(lag.detail, "is down"));
	/* back: a partial resync */
	cmd(new, "CONFIG", "SET", "masterauth", E.pw);
	t0 = time_mono_ms();
	do {
		assert_int_equal(E.eng->lag(h, DB_FORWARD, &lag, &err), 0);
	} while (!lag.worker_running && ms_since(t0) < 10000);
	assert_true(lag.worker_running);
	assert_int_equal(lag.apply_errors, 0);
	printf("  %s\n", lag.detail);
	assert_non_null(strstr(lag.detail, "partial"));
	/* a drop longer than the backlog holds: a full resync, reported */
	cmd(old, "CONFIG", "SET", "repl-backlog-size", "16384");
	cmd(new, "CONFIG", "SET", "masterauth", "wrong");
	cmd(old, "CLIENT", "KILL", "TYPE", "replica");
	wait_info(new, "replication", "master_link_status", "down", 5000);
	{
		/* 2 MB of stream, far past the 16 kB backlog */
		char *big = xcalloc(1, 10001);

		memset(big, 'x', 10000);
		for (i = 0; i < 200; i++)
			cmd(old, "SET", "filler", big);
		free(big);
	}
	cmd(new, "CONFIG", "SET", "masterauth", E.pw);
	t0 = time_mono_ms();
	do {
		assert_int_equal(E.eng->lag(h, DB_FORWARD, &lag, &err), 0);
	} while ((!lag.worker_running || lag.apply_errors == 0) && ms_since(t0) < 10000);
	printf("  %s\n", lag.detail);
	assert_int_equal(lag.apply_errors, 1);
	assert_non_null(strstr(lag.detail, "full resync"));
	cmd(old, "CONFIG", "SET", "repl-backlog-size", "1048576");
	E.eng->close(h);
	redis_conn_free(old);
	redis_conn_free(new);
}

/* A writer as fast as it goes, 4 kB values, until told to stop.  A write
 * that fails (a loaded machine makes one wait past its 5 s) does not stop
 * it: it writes on, on a new connection if that one broke. */
static struct {
	pthread_t thread;
	volatile bool stop;
	char url[128];
	int64_t writes, errors;
} F;

static void *flood(void *arg)
{
	struct redis_conn *c = client(F.url);
	struct redis_endpoint ep;
	char *v = xcalloc(1, 4097);
	int64_t i = 0;

	(void)arg;
	memset(v, 'v', 4096);
	if (redis_endpoint_parse(F.url, &ep, &(struct ferry_error){ 0 }) < 0)
		abort();
	while (!F.stop) {
		struct ferry_error err = { 0 };
		char k[32];

		snprintf(k, sizeof(k), "flood:%lld", (long long)(i++ % 1000));
		if (c && redis_cmd(c, time_mono_ms() + 5000, NULL, &err, "SET", k, v, NULL) == 0) {
			F.writes++;
			continue;
		}
		F.errors++;
		if (c && !redis_conn_ok(c)) {
			redis_conn_free(c);
			c = NULL;
		}
		if (!c && redis_connect(&c, &ep, E.pw, "flood", time_mono_ms() + 5000, &err) < 0)
			c = NULL;
	}
	redis_endpoint_release(&ep);
	free(v);
	redis_conn_free(c);
	return NULL;
}

static void test_full_sync_loop_detected(void **state)
{
	struct redis_conn *lo = client(E.loopold_url);
	struct db_config cfg;
	struct ferry_error err = { 0 };
	int64_t t0;
	void *h;
	int i, rc = 0;

	(void)state;
	/* 20 MB to send: long enough for the writes meanwhile to pass the
	 * replica's 64 kB limit (run.sh), every time */
	for (i = 0; i < 20; i++) {
		struct redis_reply rep;
		char n[16];

		snprintf(n, sizeof(n), "%d", i * 1000);
		cmd_(lo, &rep, "EVAL",
		     "for i = 1, 1000 do redis.call('SET', 'big:' .. (ARGV[1] + i), "
		     "string.rep('x', 1000)) end",
		     "0", n, NULL);
		redis_reply_release(&rep);
	}
	snprintf(F.url, sizeof(F.url), "%s", E.loopold_url);
	F.stop = false;
	F.writes = F.errors = 0;
	assert_int_equal(pthread_create(&F.thread, NULL, flood, NULL), 0);
	h = open_pair(&cfg, E.loopold_url, E.loopnew_url);
	assert_int_equal(E.eng->replicate_start(h, &err), 0);
	/* three restarts of a 20 MB sync: seconds alone, longer on a loaded
	 * machine (make check runs this beside the lab) */
	t0 = time_mono_ms();
	while (ms_since(t0) < 180000) {
		struct db_progress p = { 0 };

		rc = E.eng->progress(h, &p, &err);
		db_progress_release(&p);
		if (rc < 0)
			break;
		struct timespec ts = { 0, 100000000 };
		nanosleep(&ts, NULL);
	}
	F.stop = true;
	pthread_join(F.thread, NULL);
	printf("  after %lld ms (%lld writes, %lld failed): %s\n", (long long)ms_since(t0),
	       (long long)F.writes, (long long)F.errors, err.msg);
	assert_int_equal(rc, FERRY_ECHECK);
	assert_non_null(strstr(err.msg, "restarted"));
	assert_non_null(strstr(err.hint, "client-output-buffer-limit"));
	assert_int_equal(E.eng->teardown(h, &err), 0);
	E.eng->close(h);
	redis_conn_free(lo);
}

/* ---- the switch steps ------------------------------------------------------ */

static void test_fence_alone(void **state)
{
	struct redis_conn *old = client(E.old_url), *app = client(E.old_url);
	struct db_config cfg;
	struct ferry_error err = { 0 };
	struct redis_reply r;
	int64_t t0;
	void *h = open_pair(&cfg, E.old_url, E.new_url);

	(void)state;
	/* writes wait, reads go on; unfence lets them through */
	assert_int_equal(redis_fence(h, REDIS_OLD, time_mono_ms() + 3000, &err), 0);
	assert_int_equal(redis_cmd(app, time_mono_ms() + 100, NULL, &err, "SET", "f", "1", NULL),
	                 FERRY_ETIMEDOUT);
	assert_false(redis_conn_ok(app));
	cmd_(old, &r, "GET", "counter", NULL);
	assert_int_equal(r.type, REDIS_STRING);
	redis_reply_release(&r);
	assert_int_equal(redis_unfence(h, REDIS_OLD, time_mono_ms() + 1000, &err), 0);
	assert_int_equal(redis_reconnect(app, time_mono_ms() + 2000, &err), 0);
	t0 = time_mono_ms();
	cmd(app, "SET", "f", "2");
	assert_true(ms_since(t0) < 100);

	/* the pause ends by itself at the deadline */
	assert_int_equal(redis_fence(h, REDIS_OLD, time_mono_ms() + 300, &err), 0);
	t0 = time_mono_ms();
	cmd(app, "SET", "f", "3");
	printf("  a write waited %lld ms for a 300 ms fence\n", (long long)ms_since(t0));
	assert_true(ms_since(t0) >= 200 && ms_since(t0) < 1500);

	/* a deadline already gone: nothing is paused */
	assert_int_equal(redis_fence(h, REDIS_OLD, time_mono_ms() - 1, &err), FERRY_ETIMEDOUT);
	t0 = time_mono_ms();
	cmd(app, "SET", "f", "4");
	assert_true(ms_since(t0) < 100);
	E.eng->close(h);
	redis_conn_free(old);
	redis_conn_free(app);
}

static void test_position_and_wait_alone(void **state)
{
	struct redis_conn *old = client(E.old_url);
	struct db_config cfg;
	struct ferry_error err = { 0 };
	struct redis_pos pos, far, back;
	char text[REDIS_POS_TEXT];
	struct redis_reply r;
	int64_t t0;
	void *h = open_pair(&cfg, E.old_url, E.new_url);

	(void)state;
	cmd(old, "SET", "w", "1");
	assert_int_equal(redis_position(h, REDIS_OLD, time_mono_ms() + 1000, &pos, &err), 0);
	cmd_(old, &r, "INFO", "replication", NULL);
	assert_int_equal(pos.offset, redis_info_int(r.str, "master_repl_offset", -1));
	redis_reply_release(&r);
	redis_pos_format(&pos, text);
	assert_int_equal(redis_pos_parse(text, &back), 0);
	assert_string_equal(back.replid, pos.replid);
	assert_int_equal(back.offset, pos.offset);
	assert_int_equal(redis_pos_parse("xyz:1", &back), FERRY_EINVAL);
	/* new is not the writer */
	assert_int_equal(redis_position(h, REDIS_NEW, time_mono_ms() + 1000, &back, &err),
	                 FERRY_ECHANGED);

	assert_int_equal(redis_wait_applied(h, REDIS_NEW, &pos, time_mono_ms() + 2000, &err), 0);
	/* an offset never reached: the deadline, not later */
	far = pos;
	far.offset += 1000000000;
	t0 = time_mono_ms();
	assert_int_equal(redis_wait_applied(h, REDIS_NEW, &far, time_mono_ms() + 200, &err),
	                 FERRY_ETIMEDOUT);
	printf("  wait_applied gave up after %lld ms (deadline 200)\n", (long long)ms_since(t0));
	assert_true(ms_since(t0) >= 200 && ms_since(t0) < 260);
	/* a command cut by the deadline closes the connection (nothing half
	 * read is left): a call outside the pause makes it again */
	{
		struct redis_world w;

		assert_int_equal(redis_inspect(h, time_mono_ms() + 2000, &w, &err), 0);
		assert_true(w.side[REDIS_NEW].reachable);
	}
	/* another history */
	memset(far.replid, 'a', 40);
	assert_int_equal(redis_wait_applied(h, REDIS_NEW, &far, time_mono_ms() + 200, &err),
	                 FERRY_ECHANGED);
	E.eng->close(h);
	redis_conn_free(old);
}

/* fence, position, wait: the start of every switch */
static void pause_and_catch_up(void *h, enum redis_side from, struct redis_pos *pos, int64_t budget)
{
	struct ferry_error err = { 0 };
	int64_t deadline = time_mono_ms() + budget;

	if (redis_fence(h, from, deadline, &err) < 0 ||
	    redis_position(h, from, deadline, pos, &err) < 0 ||
	    redis_wait_applied(h, rd_test_other(from), pos, deadline, &err) < 0)
		fail_msg("%s", err.msg);
}

static void test_stop_forward_and_undo_alone(void **state)
{
	struct redis_conn *old = client(E.old_url), *new = client(E.new_url);
	struct db_config cfg;
	struct ferry_error err = { 0 };
	struct redis_world w;
	struct redis_pos pos;
	int64_t full0 = info_int(old, "stats", "sync_full");
	int64_t part0 = info_int(old, "stats", "sync_partial_ok");
	void *h = open_pair(&cfg, E.old_url, E.new_url);

	(void)state;
	pause_and_catch_up(h, REDIS_OLD, &pos, 5000);
	assert_int_equal(redis_stop_forward(h, REDIS_NEW, &pos, time_mono_ms() + 1000, &err), 0);
	assert_true(info_is(new, "replication", "role", "master"));
	assert_int_equal(redis_inspect(h, time_mono_ms() + 1000, &w, &err), 0);
	assert_true(w.side[REDIS_NEW].master);
	assert_string_equal(w.side[REDIS_NEW].replid2, pos.replid);
	assert_int_equal(w.side[REDIS_NEW].second_offset, pos.offset + 1);
	/* again: done already */
	assert_int_equal(redis_stop_forward(h, REDIS_NEW, &pos, time_mono_ms() + 1000, &err), 0);
	/* undone: new follows old again, partially */
	assert_int_equal(redis_undo_stop_forward(h, REDIS_NEW, time_mono_ms() + 1000, &err), 0);
	assert_int_equal(redis_undo_stop_forward(h, REDIS_NEW, time_mono_ms() + 1000, &err), 0);
	assert_int_equal(redis_unfence(h, REDIS_OLD, time_mono_ms() + 1000, &err), 0);
	wait_info(new, "replication", "master_link_status", "up", 10000);
	/* new took a replication id of its own at its promotion, which old
	 * has never seen: its way back to old is a full resync (nothing
	 * lost: new took no write; the cost is a reload of the dataset) */
	printf("  undone: old served sync_full %lld -> %lld, sync_partial_ok %lld -> %lld\n",
	       (long long)full0, (long long)info_int(old, "stats", "sync_full"), (long long)part0,
	       (long long)info_int(old, "stats", "sync_partial_ok"));
	assert_int_equal(info_int(old, "stats", "sync_full"), full0 + 1);
	assert_int_equal(info_int(old, "stats", "sync_partial_ok"), part0);
	cmd(old, "SET", "after-undo", "1");
	{
		struct db_verify v = { 0 };
		int64_t t0 = time_mono_ms();

		do {
			db_verify_release(&v);
			assert_int_equal(E.eng->verify(h, false, &v, &err), 0);
		} while (!v.equal && ms_since(t0) < 5000);
		assert_true(v.equal);
		db_verify_release(&v);
	}
	E.eng->close(h);
	redis_conn_free(old);
	redis_conn_free(new);
}

static void test_prepare_reverse_and_undo_alone(void **state)
{
	struct redis_conn *old = client(E.old_url), *new = client(E.new_url);
	struct db_config cfg;
	struct ferry_error err = { 0 };
	struct redis_world w;
	struct redis_pos pos;
	int64_t full0 = info_int(old, "stats", "sync_full");
	int64_t part0 = info_int(old, "stats", "sync_partial_ok");
	void *h = open_pair(&cfg, E.old_url, E.new_url);

	(void)state;
	pause_and_catch_up(h, REDIS_OLD, &pos, 5000);
	assert_int_equal(redis_stop_forward(h, REDIS_NEW, &pos, time_mono_ms() + 1000, &err), 0);
	assert_int_equal(redis_prepare_reverse(h, REDIS_OLD, &pos, time_mono_ms() + 1000, &err), 0);
	assert_true(info_is(old, "replication", "role", "slave"));
	assert_int_equal(redis_prepare_reverse(h, REDIS_OLD, &pos, time_mono_ms() + 1000, &err), 0);
	assert_int_equal(redis_inspect(h, time_mono_ms() + 1000, &w, &err), 0);
	assert_true(w.side[REDIS_OLD].replicates_other);
	assert_true(w.side[REDIS_NEW].master);
	/* once old has followed new's new history (a partial resync: old
	 * was at the fence), old knows new's id, and the undo is partial
	 * both ways */
	wait_info(old, "replication", "master_link_status", "up", 5000);
	assert_int_equal(info_int(new, "stats", "sync_full"), 0);
	/* the whole undo, in reverse order */
	assert_int_equal(redis_undo_prepare_reverse(h, REDIS_OLD, time_mono_ms() + 1000, &err), 0);
	assert_int_equal(redis_undo_prepare_reverse(h, REDIS_OLD, time_mono_ms() + 1000, &err), 0);
	assert_true(info_is(old, "replication", "role", "master"));
	assert_int_equal(redis_undo_stop_forward(h, REDIS_NEW, time_mono_ms() + 1000, &err), 0);
	assert_int_equal(redis_unfence(h, REDIS_OLD, time_mono_ms() + 1000, &err), 0);
	wait_info(new, "replication", "master_link_status", "up", 10000);
	assert_int_equal(info_int(old, "stats", "sync_full"), full0);
	assert_true(info_int(old, "stats", "sync_partial_ok") > part0);
	cmd(old, "SET", "after-undo-2", "1");
	assert_int_equal(redis_inspect(h, time_mono_ms() + 1000, &w, &err), 0);
	assert_true(w.side[REDIS_OLD].master);
	assert_true(w.side[REDIS_NEW].replicates_other);
	assert_true(w.side[REDIS_NEW].link_up);
	E.eng->close(h);
	redis_conn_free(old);
	redis_conn_free(new);
}

/* One whole switch from -> to by the steps in the orchestrator's order;
 * load->target flips where the switch driver would point. */
static void switch_by_steps(void *h, enum redis_side from, struct redisload *load,
                            struct redis_reverse *rev, int64_t *pause_ms)
{
	enum redis_side to = rd_test_other(from);
	struct ferry_error err = { 0 };
	struct redis_pos pos;
	int64_t t0 = time_mono_ms(), deadline = t0 + 5000;

	pause_and_catch_up(h, from, &pos, 5000);
	if (redis_stop_forward(h, to, &pos, deadline, &err) < 0 ||
	    redis_prepare_reverse(h, from, &pos, deadline, &err) < 0)
		fail_msg("%s", err.msg);
	if (load)
		load->target = to;
	if (redis_unfence(h, from, deadline, &err) < 0)
		fail_msg("%s", err.msg);
	*pause_ms = ms_since(t0);
	if (redis_start_reverse(h, from, &pos, time_mono_ms() + 10000, rev, &err) < 0 ||
	    redis_drop_forward(h, to, time_mono_ms() + 1000, &err) < 0)
		fail_msg("%s", err.msg);
}

/* Waits until info_int(c, section, field) >= want, up to ms; returns it. */
static int64_t wait_int(struct redis_conn *c, const char *section, const char *field, int64_t want,
                        int64_t ms)
{
	int64_t end = time_mono_ms() + ms, v;

	while ((v = info_int(c, section, field)) < want) {
		if (time_mono_ms() > end)
			fail_msg("%s stayed at %lld, short of %lld", field, (long long)v,
			         (long long)want);
		struct timespec ts = { 0, 2000000 };
		nanosleep(&ts, NULL);
	}
	return v;
}

/* A master under CLIENT PAUSE WRITE still PINGs its replicas every
 * repl-ping-replica-period seconds (10 by default): 14 bytes of stream
 * ("*1\r\n$4\r\nPING\r\n") that move old's offset, and new's once it
 * arrives, past the fence position.  A switch whose pause meets one goes
 * on, and the way back is still a partial resync. */
static void test_ping_inside_the_pause(void **state)
{
	struct redis_conn *old = client(E.old_url), *new = client(E.new_url);
	struct db_config cfg;
	struct ferry_error err = { 0 };
	struct redis_reverse rev;
	struct redis_pos pos;
	int64_t at, pause_ms;
	void *h = open_pair(&cfg, E.old_url, E.new_url);

	(void)state;
	cmd(old, "CONFIG", "SET", "repl-ping-replica-period", "1");
	pause_and_catch_up(h, REDIS_OLD, &pos, 5000);
	/* the next PING, at most a second away, and on new too */
	at = wait_int(old, "replication", "master_repl_offset", pos.offset + 1, 3000);
	printf("  a PING inside the pause: old's offset %lld -> %lld\n", (long long)pos.offset,
	       (long long)at);
	assert_int_equal(at, pos.offset + 14);
	wait_int(new, "replication", "slave_repl_offset", at, 3000);
	assert_int_equal(redis_stop_forward(h, REDIS_NEW, &pos, time_mono_ms() + 1000, &err), 0);
	assert_int_equal(redis_prepare_reverse(h, REDIS_OLD, &pos, time_mono_ms() + 1000, &err), 0);
	assert_int_equal(redis_unfence(h, REDIS_OLD, time_mono_ms() + 1000, &err), 0);
	assert_int_equal(
	        redis_start_reverse(h, REDIS_OLD, &pos, time_mono_ms() + 10000, &rev, &err), 0);
	assert_true(rev.linked);
	assert_int_equal(rev.resync, 1);
	assert_int_equal(redis_drop_forward(h, REDIS_NEW, time_mono_ms() + 1000, &err), 0);
	cmd(old, "CONFIG", "SET", "repl-ping-replica-period", "10");
	/* and back, as the next tests find the world */
	switch_by_steps(h, REDIS_NEW, NULL, &rev, &pause_ms);
	assert_int_equal(rev.resync, 1);
	assert_true(info_is(old, "replication", "role", "master"));
	E.eng->close(h);
	redis_conn_free(old);
	redis_conn_free(new);
}

static void test_switch_there_and_back(void **state)
{
	struct redis_conn *old = client(E.old_url), *new = client(E.new_url);
	struct redisload load = { .url = { E.old_url, E.new_url }, .password = E.pw };
	struct db_config cfg;
	struct redis_reverse rev;
	struct redis_reply r;
	int64_t pause_ms;
	size_t n0;
	void *h = open_pair(&cfg, E.old_url, E.new_url);

	(void)state;
	assert_int_equal(redisload_start(&load, 500, 1), 0);
	while (redisload_count(&load) < 100) {
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	switch_by_steps(h, REDIS_OLD, &load, &rev, &pause_ms);
	printf("  forward: steps took %lld ms; the way back resynced %s (sync_partial_ok %lld -> "
	       "%lld, sync_full %lld -> %lld)\n",
	       (long long)pause_ms, rev.resync == 1 ? "partially" : "?", (long long)rev.partial0,
	       (long long)rev.partial, (long long)rev.full0, (long long)rev.full);
	assert_true(rev.linked);
	assert_int_equal(rev.resync, 1);
	assert_int_equal(rev.full, rev.full0);
	assert_int_equal(rev.partial, rev.partial0 + 1);
	/* verification follows the writer, new now, old its replica: every
	 * value compared is equal (the counts, read a moment apart under
	 * the load, may differ by the writes in between) */
	{
		struct db_verify v = { 0 };
		struct ferry_error err = { 0 };

		assert_int_equal(E.eng->verify(h, true, &v, &err), 0);
		assert_string_equal(v.v[0].sum_old, v.v[0].sum_new);
		assert_true(llabs(v.v[0].rows_old - v.v[0].rows_new) < 100);
		db_verify_release(&v);
	}
	/* new's credentials for old are ferry's no more */
	cmd_(new, &r, "CONFIG", "GET", "masterauth", NULL);
	assert_string_equal(r.v[1].str, "");
	redis_reply_release(&r);
	n0 = redisload_count(&load);
	while (redisload_count(&load) < n0 + 100) {
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	/* and back: a rollback is the same switch the other way */
	switch_by_steps(h, REDIS_NEW, &load, &rev, &pause_ms);
	printf("  back: steps took %lld ms; partial %d\n", (long long)pause_ms, rev.resync == 1);
	assert_int_equal(rev.resync, 1);
	n0 = redisload_count(&load);
	while (redisload_count(&load) < n0 + 100) {
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	redisload_stop(&load);
	printf("  ledger: %zu acknowledged writes, %lld retried (%lld READONLY), longest gap "
	       "%.1f ms\n",
	       load.nacks, (long long)load.errors, (long long)load.readonly,
	       redisload_max_gap_us(&load, 0, 0) / 1000.0);
	assert_int_equal(redisload_lost(&load, REDIS_OLD), 0);
	wait_info(new, "replication", "master_link_status", "up", 10000);
	assert_int_equal(redisload_lost(&load, REDIS_NEW), 0);
	redisload_release(&load);
	E.eng->close(h);
	redis_conn_free(old);
	redis_conn_free(new);
}

/* ---- kill -9 after each step ------------------------------------------------ */

static const char *const kill_steps[] = {
	"fence", "position", "wait_applied", "stop_forward", "prepare_reverse", "unfence", NULL
};

/* In a child: the forward switch's steps up to and including kill_steps[k],
 * then SIGKILL.  The pause's budget is 400 ms from the fence; the child
 * takes the deadline after its connections are open (a TLS handshake
 * under a sanitizer on a loaded machine may take longer than that) and
 * tells it to the parent through a pipe. */
static void die_after(size_t k, int64_t *deadline_out)
{
	int64_t deadline = 0;
	int pfd[2];
	pid_t pid;
	int st;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct db_config cfg;
		struct ferry_error err = { 0 };
		struct redis_pos pos;
		void *h = NULL;
		int rc;

		close(pfd[0]);
		config(&cfg, E.old_url, E.new_url);
		if (E.eng->open(&cfg, &h, &err) < 0)
			_exit(3);
		deadline = time_mono_ms() + 400;
		if (write(pfd[1], &deadline, sizeof(deadline)) != sizeof(deadline))
			_exit(5);
		rc = redis_fence(h, REDIS_OLD, deadline, &err);
		if (rc == 0 && k >= 1)
			rc = redis_position(h, REDIS_OLD, deadline, &pos, &err);
		if (rc == 0 && k >= 2)
			rc = redis_wait_applied(h, REDIS_NEW, &pos, deadline, &err);
		if (rc == 0 && k >= 3)
			rc = redis_stop_forward(h, REDIS_NEW, &pos, deadline, &err);
		if (rc == 0 && k >= 4)
			rc = redis_prepare_reverse(h, REDIS_OLD, &pos, deadline, &err);
		if (rc == 0 && k >= 5)
			rc = redis_unfence(h, REDIS_OLD, deadline, &err);
		if (rc < 0) {
			fprintf(stderr, "child: %s\n", err.msg);
			_exit(4);
		}
		raise(SIGKILL);
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &deadline, sizeof(deadline)), sizeof(deadline));
	close(pfd[0]);
	*deadline_out = deadline;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

/* new a fresh replica of old, linked and caught up, as before a switch */
static void fresh_replica(void *h, struct redis_conn *old, struct redis_conn *new)
{
	struct ferry_error err = { 0 };
	int64_t t0;

	assert_int_equal(E.eng->teardown(h, &err), 0);
	cmd(new, "FLUSHALL");
	assert_int_equal(E.eng->replicate_start(h, &err), 0);
	wait_info(new, "replication", "master_link_status", "up", 20000);
	t0 = time_mono_ms();
	while (info_int(old, "replication", "master_repl_offset") >
	       info_int(new, "replication", "slave_repl_offset")) {
		assert_true(ms_since(t0) < 10000);
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
}

static void test_kill9_after_each_step(void **state)
{
	struct redis_conn *old = client(E.old_url), *new = client(E.new_url);
	struct db_config cfg;
	struct ferry_error err = { 0 };
	void *h = open_pair(&cfg, E.old_url, E.new_url);
	size_t k;

	(void)state;
	for (k = 0; kill_steps[k]; k++) {
		struct redis_world w;
		struct redis_reply r;
		int64_t deadline, t0;

		fresh_replica(h, old, new);
		cmd(old, "SET", "before-crash", kill_steps[k]);
		die_after(k, &deadline);
		/* no server stays paused past the budget: a write on old is
		 * answered by then - taken, or refused as old is a replica */
		t0 = time_mono_ms();
		cmd_(old, &r, "EXISTS", "before-crash", NULL);
		redis_reply_release(&r);
		{
			struct redis_conn *app = client(E.old_url);
			int rc = redis_cmd(app, time_mono_ms() + 2000, NULL, &err, "SET",
			                   "after-crash", "1", NULL);

			assert_true(time_mono_ms() <= deadline + 250);
			printf("  kill -9 after %-15s: a write on old answered %lld ms after the "
			       "crash "
			       "(%s)\n",
			       kill_steps[k], (long long)ms_since(t0), rc == 0 ? "taken" : err.msg);
			if (k >= 4) {
				assert_int_equal(rc, FERRY_EREFUSED);
				assert_non_null(strstr(err.msg, "READONLY"));
			} else {
				assert_int_equal(rc, 0);
			}
			redis_conn_free(app);
		}
		assert_int_equal(redis_inspect(h, time_mono_ms() + 2000, &w, &err), 0);
		assert_true(w.side[REDIS_OLD].reachable && w.side[REDIS_NEW].reachable);
		if (k <= 2) {
			/* nothing changed: old the writer, new its replica */
			assert_true(w.side[REDIS_OLD].master);
			assert_true(w.side[REDIS_NEW].replicates_other);
		} else if (k == 3) {
			/* both masters; new's history holds old's up to the fence,
			 * old may have taken writes since its pause ran out: its
			 * offset is past new's second_offset - 1 (recovery keeps
			 * old, the applications never left it) */
			assert_true(w.side[REDIS_OLD].master);
			assert_true(w.side[REDIS_NEW].master);
			assert_string_equal(w.side[REDIS_NEW].replid2,
			                    w.side[REDIS_OLD].pos.replid);
			assert_true(w.side[REDIS_OLD].pos.offset >=
			            w.side[REDIS_NEW].second_offset - 1);
		} else {
			/* one writer, new; old its replica */
			assert_true(w.side[REDIS_NEW].master);
			assert_true(w.side[REDIS_OLD].replicates_other);
		}
	}
	fresh_replica(h, old, new);
	E.eng->close(h);
	redis_conn_free(old);
	redis_conn_free(new);
}

static void test_late_write_makes_full_resync(void **state)
{
	struct redis_conn *old = client(E.old_url), *new = client(E.new_url);
	struct db_config cfg;
	struct ferry_error err = { 0 };
	struct redis_reverse rev;
	struct redis_pos pos;
	void *h = open_pair(&cfg, E.old_url, E.new_url);

	(void)state;
	pause_and_catch_up(h, REDIS_OLD, &pos, 5000);
	assert_int_equal(redis_stop_forward(h, REDIS_NEW, &pos, time_mono_ms() + 1000, &err), 0);
	/* the pause ends with old still a master, and something writes */
	assert_int_equal(redis_unfence(h, REDIS_OLD, time_mono_ms() + 1000, &err), 0);
	cmd(old, "SET", "late", "write");
	/* the way back would erase it: refused */
	assert_int_equal(redis_prepare_reverse(h, REDIS_OLD, &pos, time_mono_ms() + 1000, &err),
	                 FERRY_ECHANGED);
	printf("  %s\n", err.msg);
	assert_non_null(strstr(err.msg, "moved on after the fence"));
	assert_true(info_is(old, "replication", "role", "master"));
	/* forced without the fence position: the full resync is seen */
	assert_int_equal(
	        redis_start_reverse(h, REDIS_OLD, NULL, time_mono_ms() + 10000, &rev, &err),
	        FERRY_ECHANGED);
	printf("  %s\n", err.msg);
	assert_int_equal(rev.resync, 2);
	assert_true(rev.full > rev.full0);
	assert_non_null(strstr(err.msg, "FULL resync"));
	wait_info(old, "replication", "master_link_status", "up", 10000);
	{
		struct redis_reply r;

		cmd_(old, &r, "EXISTS", "late", NULL);
		assert_int_equal(r.integer, 0); /* what the full resync cost */
		redis_reply_release(&r);
	}
	E.eng->close(h);
	redis_conn_free(old);
	redis_conn_free(new);
}

static void test_teardown(void **state)
{
	struct redis_conn *old = client(E.old_url), *new = client(E.new_url);
	struct db_config cfg;
	struct ferry_error err = { 0 };
	struct redis_world w;
	struct redis_reply r;
	void *h = open_pair(&cfg, E.old_url, E.new_url);

	(void)state;
	assert_int_equal(E.eng->teardown(h, &err), 0);
	assert_int_equal(E.eng->teardown(h, &err), 0);
	assert_int_equal(redis_inspect(h, time_mono_ms() + 1000, &w, &err), 0);
	assert_true(w.side[REDIS_OLD].master);
	assert_true(w.side[REDIS_NEW].master);
	cmd_(old, &r, "CONFIG", "GET", "masterauth", NULL);
	assert_string_equal(r.v[1].str, "");
	redis_reply_release(&r);
	cmd_(old, &r, "CONFIG", "GET", "masteruser", NULL);
	assert_string_equal(r.v[1].str, "");
	redis_reply_release(&r);
	cmd_(new, &r, "CONFIG", "GET", "masterauth", NULL);
	assert_string_equal(r.v[1].str, "");
	redis_reply_release(&r);
	E.eng->close(h);
	redis_conn_free(old);
	redis_conn_free(new);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_refusals),
		cmocka_unit_test(test_check_ready),
		cmocka_unit_test(test_check_refusals),
		cmocka_unit_test(test_replicate_under_load),
		cmocka_unit_test(test_verify_finds_differences),
		cmocka_unit_test(test_lag_sees_link_down_and_full_resync),
		cmocka_unit_test(test_full_sync_loop_detected),
		cmocka_unit_test(test_fence_alone),
		cmocka_unit_test(test_position_and_wait_alone),
		cmocka_unit_test(test_stop_forward_and_undo_alone),
		cmocka_unit_test(test_prepare_reverse_and_undo_alone),
		cmocka_unit_test(test_ping_inside_the_pause),
		cmocka_unit_test(test_switch_there_and_back),
		cmocka_unit_test(test_kill9_after_each_step),
		cmocka_unit_test(test_late_write_makes_full_resync),
		cmocka_unit_test(test_teardown),
	};

	setup_env();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
