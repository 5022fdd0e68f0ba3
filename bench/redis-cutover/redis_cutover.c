/*
 * redis_cutover.c - benchmark: the write pause of the Redis switch done by
 * ferry's steps against an operator's runbook doing the same steps with
 * one redis-cli per step, under the same write load.
 *
 * Run by bench/redis-cutover/run.sh, which starts two redis-server
 * processes (old, new: plain TCP, requirepass and an ACL user) and an
 * HAProxy TCP frontend in front of them (the applications' way in; its
 * runtime API for the switch), and sets FERRY_REDISBENCH_DIR.  For each
 * rate (500 and 5000 writes/s), from the same start each time (new a
 * fresh replica of old, in sync, HAProxy at old):
 *   ferry:   the switch as `ferry run` does it: the orchestrator
 *            (core/orchestrator.h) with the Redis engine and the haproxy
 *            switch driver - fence (CLIENT PAUSE WRITE), position,
 *            wait_applied, stop_forward, prepare_reverse, then HAProxy
 *            repointed at the commit point - and after the resume
 *            start_reverse, which says how the way back resynced.
 *   runbook: runbook.sh, the same steps with one redis-cli per step and
 *            the same two HAProxy runtime API commands.
 * The load (tests/integration/redis/redisload.c) writes SET ledger:N at the
 * rate through HAProxy, connecting again when its connection is cut or old
 * answers READONLY; the pause is the longest gap between two acknowledged
 * writes around the switch, as a client sees it; lost counts acknowledged
 * writes missing on new; resync is how old resynced from new on the way
 * back (partial or full, from new's sync_partial_ok and sync_full).
 * Prints, per rate:
 *   engine=redis rate=R ferry_pause_ms=F runbook_pause_ms=B ratio=B/F lost=N
 *   resync=partial|full runbook_lost=N runbook_resync=... ferry_own_pause_ms=S
 * (the last: ferry's own view, the orchestrator's pause_ms: the fence to
 * the resume)
 */
#include <poll.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/orchestrator.h"
#include "db/db.h"
#include "db/redis.h"
#include "db/redis_conn.h"
#include "redisload.h"
#include "switch/switch.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

extern char **environ;

static char *dir, *pw, *here;
static double ferry_own_ms; /* the orchestrator's pause_ms */
static char old_url[128], new_url[128], app_url[128], api[64];
static int old_port, new_port, hap_port, api_port;
static struct endpoints_db bench_db;
static struct plan_database bench_pd = { .name = "cache" };

static int envint(const char *name, int def)
{
	const char *v = getenv(name);
	return v ? (int)strtol(v, NULL, 10) : def;
}

__attribute__((format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void nap_ms(int ms)
{
	poll(NULL, 0, ms);
}

static struct redis_conn *client(const char *url)
{
	struct redis_endpoint ep;
	struct ferry_error err = { 0 };
	struct redis_conn *c = NULL;

	if (redis_endpoint_parse(url, &ep, &err) < 0 ||
	    redis_connect(&c, &ep, pw, "bench", time_mono_ms() + 5000, &err) < 0)
		die("%s: %s", url, err.msg);
	redis_endpoint_release(&ep);
	return c;
}

static int64_t stat_of(const char *url, const char *section, const char *field)
{
	struct redis_conn *c = client(url);
	struct ferry_error err = { 0 };
	struct redis_reply r;
	int64_t v;

	if (redis_cmd(c, time_mono_ms() + 5000, &r, &err, "INFO", section, NULL) < 0)
		die("INFO: %s", err.msg);
	v = redis_info_int(r.str, field, -1);
	redis_reply_release(&r);
	redis_conn_free(c);
	return v;
}

static bool linked(const char *url)
{
	struct redis_conn *c = client(url);
	struct ferry_error err = { 0 };
	struct redis_reply r;
	char link[16] = "";

	if (redis_cmd(c, time_mono_ms() + 5000, &r, &err, "INFO", "replication", NULL) < 0)
		die("INFO: %s", err.msg);
	redis_info_str(r.str, "master_link_status", link, sizeof(link));
	redis_reply_release(&r);
	redis_conn_free(c);
	return !strcmp(link, "up");
}

static void wait_linked(const char *url, const char *what)
{
	int64_t end = time_mono_ms() + 30000;

	while (!linked(url)) {
		if (time_mono_ms() > end)
			die("%s: the replication link is not up after 30 s", what);
		nap_ms(10);
	}
}

/* The same start for every measurement: no replication, new emptied, then
 * new a replica of old by ferry's replicate_start, linked and in sync. */
static void reset_pair(void *h, const struct db_engine *eng)
{
	struct ferry_error err = { 0 };
	struct redis_conn *c;

	if (eng->teardown(h, &err) < 0)
		die("teardown: %s", err.msg);
	{
		/* the applications at old again */
		struct sw_endpoint *ep = NULL;
		if (sw_haproxy.open(&bench_db.swcfg[0], &ep, &err) < 0 ||
		    sw_haproxy.point(ep, &bench_db.target[DB_OLD], "old", time_mono_ms() + 5000,
		                     &err) < 0)
			die("haproxy: %s", err.msg);
		sw_haproxy.close(ep);
	}
	c = client(new_url);
	if (redis_cmd(c, time_mono_ms() + 30000, NULL, &err, "FLUSHALL", NULL) < 0)
		die("FLUSHALL: %s", err.msg);
	redis_conn_free(c);
	if (eng->replicate_start(h, &err) < 0)
		die("replicate_start: %s", err.msg);
	wait_linked(new_url, "new");
	while (stat_of(old_url, "replication", "master_repl_offset") >
	       stat_of(new_url, "replication", "slave_repl_offset"))
		nap_ms(5);
}

static void wait_acks(struct redisload *l, size_t n)
{
	size_t n0 = redisload_count(l);
	int64_t end = time_mono_ms() + 30000;

	while (redisload_count(l) < n0 + n) {
		if (time_mono_ms() > end)
			die("the load does not write (%s)", l->last_error);
		nap_ms(5);
	}
}

struct result {
	double pause_ms;
	int64_t lost;
	const char *resync;
};

static const char *resync_name(int64_t full0, int64_t full, int64_t part0, int64_t part)
{
	if (full > full0)
		return "full";
	if (part > part0)
		return "partial";
	return "unknown";
}

/* Runs the load at rate around one switch (switch_fn) and measures it. */
static void measure(int rate, int64_t id0, void (*switch_fn)(struct redisload *, void *, void *),
                    void *h, void *arg, struct result *res)
{
	struct redisload load = { .url = { app_url, app_url }, .password = pw };
	int64_t full0 = stat_of(new_url, "stats", "sync_full");
	int64_t part0 = stat_of(new_url, "stats", "sync_partial_ok");
	int64_t t0, t1;

	if (redisload_start(&load, rate, id0) < 0)
		die("load: %s", load.last_error);
	wait_acks(&load, (size_t)rate); /* a second of writes before */
	t0 = time_mono_us();
	switch_fn(&load, h, arg);
	t1 = time_mono_us();
	wait_acks(&load, (size_t)rate); /* and after */
	redisload_stop(&load);
	res->pause_ms = (double)redisload_max_gap_us(&load, t0, t1 + 1000000) / 1000.0;
	wait_linked(old_url, "old (the way back)");
	res->lost = redisload_lost_at(&load, new_url);
	res->resync = resync_name(full0, stat_of(new_url, "stats", "sync_full"), part0,
	                          stat_of(new_url, "stats", "sync_partial_ok"));
	if (load.errors > load.readonly + 5)
		fprintf(stderr, "bench: rate %d: %lld failed writes (last: %s)\n", rate,
		        (long long)load.errors, load.last_error);
	redisload_release(&load);
}

/* ferry: the switch as `ferry run` does it (phase_cutover.c): the
 * orchestrator, then the after-switch steps. */
static void ferry_switch(struct redisload *load, void *h, void *arg)
{
	struct endpoints_db *const dbs[1] = { &bench_db };
	const struct orch_opts o = { .block_signals = true };
	struct ferry_error err = { 0 };
	struct orch_result res = { 0 };

	(void)load;
	(void)arg;
	bench_db.h = h;
	if (orch_switch(dbs, 1, DB_FORWARD, &o, &res, &err) < 0 ||
	    orch_start_reverse(&bench_db, DB_FORWARD, res.db[0].fence_pos, &res.db[0], &err) < 0 ||
	    orch_drop_forward(&bench_db, DB_FORWARD, &err) < 0)
		die("ferry: %s", err.msg);
	ferry_own_ms = (double)res.pause_ms;
	if (strncmp(res.db[0].reverse_note, "resync=partial", 14))
		fprintf(stderr, "bench: the way back: %s\n", res.db[0].reverse_note);
	orch_result_release(&res);
}

/* runbook.sh, with its stdout read here: "point" moves the load to new. */
static void runbook_switch(struct redisload *load, void *h, void *arg)
{
	char *script = xasprintf("%s/runbook.sh", here);
	char *argv[] = { "sh", script, NULL };
	char oldp[32], newp[32], apip[32], *auth = xasprintf("REDISCLI_AUTH=%s", pw);
	char **env;
	posix_spawn_file_actions_t fa;
	int pfd[2], st;
	size_t n = 0, i;
	pid_t pid;
	FILE *out;
	char line[256];

	(void)h;
	(void)arg;
	for (i = 0; environ[i]; i++)
		;
	env = xcalloc(i + 5, sizeof(*env));
	for (i = 0; environ[i]; i++)
		if (strncmp(environ[i], "REDISCLI_AUTH=", 14))
			env[n++] = environ[i];
	snprintf(oldp, sizeof(oldp), "OLD_PORT=%d", old_port);
	snprintf(newp, sizeof(newp), "NEW_PORT=%d", new_port);
	snprintf(apip, sizeof(apip), "HAP_API=%d", api_port);
	env[n++] = oldp;
	env[n++] = newp;
	env[n++] = apip;
	env[n++] = auth; /* the operator's redis-cli takes the password so */
	if (pipe(pfd) < 0)
		die("pipe");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_addclose(&fa, pfd[0]);
	if (posix_spawnp(&pid, "sh", &fa, NULL, argv, env) != 0)
		die("cannot run %s", script);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	out = fdopen(pfd[0], "r");
	(void)load; /* the runbook repoints HAProxy itself */
	while (fgets(line, sizeof(line), out))
		;
	fclose(out);
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		die("runbook.sh failed");
	xfree_secret(auth, 0);
	free(env);
	free(script);
}

int main(void)
{
	static const int rates[] = { 500, 5000 };
	const struct db_engine *eng = db_engine_find("redis");
	struct db_config cfg = { 0 };
	struct ferry_error err = { 0 };
	struct buf b;
	void *h = NULL;
	char *path;
	size_t i;
	int64_t id0 = 1;

	dir = getenv("FERRY_REDISBENCH_DIR");
	here = getenv("BENCH_DIR");
	if (!dir || !here)
		die("run me through run.sh");
	old_port = envint("REDIS_OLD_PORT", 16150);
	new_port = envint("REDIS_NEW_PORT", 16151);
	hap_port = envint("HAP_PORT", 16152);
	api_port = envint("HAP_API_PORT", 16153);
	buf_init(&b, 4096);
	path = xasprintf("%s/ferry.pw", dir);
	if (buf_read_file(&b, path) < 0)
		die("cannot read %s", path);
	free(path);
	while (b.len && b.data[b.len - 1] == '\n')
		b.data[--b.len] = '\0';
	pw = xstrdup(b.data);
	buf_release_secret(&b);
	snprintf(old_url, sizeof(old_url), "redis://ferry@127.0.0.1:%d", old_port);
	snprintf(new_url, sizeof(new_url), "redis://ferry@127.0.0.1:%d", new_port);
	snprintf(app_url, sizeof(app_url), "redis://ferry@127.0.0.1:%d", hap_port);
	snprintf(api, sizeof(api), "127.0.0.1:%d", api_port);
	cfg.name = "cache";
	cfg.old_conninfo = old_url;
	cfg.new_conninfo = new_url;
	cfg.old_password = pw;
	cfg.new_password = pw;
	cfg.pause_budget_ms = 5000;
	if (eng->open(&cfg, &h, &err) < 0)
		die("open: %s", err.msg);
	/* the database as core/endpoints.c makes it from a plan with
	 * switch: { via: haproxy, admin: { old: API }, backend: cache,
	 * server: db } */
	bench_db.pd = &bench_pd;
	bench_db.eng = eng;
	bench_db.cfg = cfg;
	bench_db.budget_ms = cfg.pause_budget_ms;
	bench_db.sw = &sw_haproxy;
	bench_db.nsw = 1;
	bench_db.swcfg[0] = (struct sw_config){
		.name = "haproxy", .api = api, .backend = "cache", .server = "db"
	};
	bench_db.target[DB_OLD] = (struct sw_target){ "127.0.0.1", old_port, NULL };
	bench_db.target[DB_NEW] = (struct sw_target){ "127.0.0.1", new_port, NULL };
	for (i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		struct result f, r;

		reset_pair(h, eng);
		measure(rates[i], id0, ferry_switch, h, NULL, &f);
		id0 += 1000000;
		reset_pair(h, eng);
		measure(rates[i], id0, runbook_switch, h, NULL, &r);
		id0 += 1000000;
		printf("engine=redis rate=%d ferry_pause_ms=%.1f runbook_pause_ms=%.1f ratio=%.1f "
		       "lost=%lld resync=%s runbook_lost=%lld runbook_resync=%s "
		       "ferry_own_pause_ms=%.1f\n",
		       rates[i], f.pause_ms, r.pause_ms,
		       f.pause_ms > 0 ? r.pause_ms / f.pause_ms : 0, (long long)f.lost, f.resync,
		       (long long)r.lost, r.resync, ferry_own_ms);
		fflush(stdout);
	}
	sw_haproxy.close(bench_db.swep[0]);
	eng->teardown(h, &err);
	eng->close(h);
	xfree_secret(pw, 0);
	return 0;
}
