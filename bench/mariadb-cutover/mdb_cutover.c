/*
 * mdb_cutover.c - ferry's side of bench/mariadb-cutover: the MariaDB
 * engine and the switch orchestrator with the haproxy driver, as `ferry
 * run` drives them, on a pair of servers run.sh started.
 *
 *	mdb_cutover replicate   ferry's replication old -> new (the copy,
 *	                        then GTID replication), until caught up
 *	mdb_cutover switch      the switch old -> new through HAProxy, then
 *	                        the steps after the resume; prints
 *	                        "pause_ms=N steps=..." (the orchestrator's own
 *	                        measure; the clients' is mdb_load's)
 * The environment says where: FERRY_MDBTEST_DIR (ferry.pw in it),
 * MDB_OLD_PORT, MDB_NEW_PORT, HAP_API (the runtime API, IP:PORT; backend
 * shop, server db).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/orchestrator.h"
#include "db/db.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "mdb_cutover: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static int envint(const char *name)
{
	const char *v = getenv(name);

	if (!v)
		die("%s is not set", name);
	return (int)strtol(v, NULL, 10);
}

int main(int argc, char **argv)
{
	static char ci[2][256], api[64];
	struct plan_database pd = { .name = (char *)"shop" };
	struct endpoints_db d = { 0 }, *dbs[1] = { &d };
	struct ferry_error err = { 0 };
	struct orch_result res;
	struct buf b;
	const char *dir = getenv("FERRY_MDBTEST_DIR"), *a = getenv("HAP_API");
	char *path, *pw;
	int port[2], s;

	if (argc != 2 || !dir || !a)
		die("usage: mdb_cutover replicate|switch (run by run.sh)");
	log_level_current = LOG_LEVEL_WARN;
	path = xasprintf("%s/ferry.pw", dir);
	buf_init(&b, 4096);
	if (buf_read_file(&b, path) < 0)
		die("cannot read %s", path);
	free(path);
	while (b.len && b.data[b.len - 1] == '\n')
		b.data[--b.len] = '\0';
	pw = xstrdup(b.data);
	buf_release_secret(&b);
	port[DB_OLD] = envint("MDB_OLD_PORT");
	port[DB_NEW] = envint("MDB_NEW_PORT");
	snprintf(api, sizeof(api), "%s", a);
	for (s = 0; s < 2; s++)
		snprintf(ci[s], sizeof(ci[s]), "host=127.0.0.1 port=%d dbname=shop user=ferry",
		         port[s]);
	d.pd = &pd;
	d.eng = db_engine_find("mariadb");
	d.cfg = (struct db_config){ .name = "shop",
		                    .old_conninfo = ci[DB_OLD],
		                    .new_conninfo = ci[DB_NEW],
		                    .old_password = pw,
		                    .new_password = pw,
		                    .pause_budget_ms = 5000,
		                    .soak_ms = 60000,
		                    .rollback_window_ms = 3600000 };
	d.budget_ms = 5000;
	d.sw = sw_driver_find("haproxy");
	d.nsw = 1;
	d.swcfg[0] = (struct sw_config){
		.name = "haproxy", .api = api, .backend = "shop", .server = "db"
	};
	d.target[DB_OLD] = (struct sw_target){ "127.0.0.1", port[DB_OLD], "shop" };
	d.target[DB_NEW] = (struct sw_target){ "127.0.0.1", port[DB_NEW], "shop" };
	if (d.eng->open(&d.cfg, &d.h, &err) < 0)
		die("open: %s", err.msg);
	if (!strcmp(argv[1], "replicate")) {
		int64_t until = time_mono_ms() + 300000;
		struct db_lag lag = { 0 };
		if (d.eng->replicate_start(d.h, &err) < 0)
			die("replicate: %s", err.msg);
		for (;;) {
			struct db_progress p = { 0 };
			struct timespec ts = { 0, 50000000 };
			if (d.eng->progress(d.h, &p, &err) < 0)
				die("progress: %s", err.msg);
			if (p.n && p.ready == p.n && d.eng->lag(d.h, DB_FORWARD, &lag, &err) == 0 &&
			    lag.worker_running && lag.events == 0) {
				db_progress_release(&p);
				break;
			}
			db_progress_release(&p);
			if (time_mono_ms() > until)
				die("replication did not catch up in 300 s");
			nanosleep(&ts, NULL);
		}
	} else if (!strcmp(argv[1], "switch")) {
		if (orch_switch(dbs, 1, DB_FORWARD, &(struct orch_opts){ .block_signals = true },
		                &res, &err) < 0)
			die("switch: %s", err.msg);
		printf("pause_ms=%lld steps=%s\n", (long long)res.pause_ms, res.timings);
		orch_result_release(&res);
		if (orch_start_reverse(&d, DB_FORWARD, NULL, NULL, &err) < 0 ||
		    orch_drop_forward(&d, DB_FORWARD, &err) < 0)
			die("after the switch: %s", err.msg);
	} else {
		die("unknown mode %s", argv[1]);
	}
	d.sw->close(d.swep[0]);
	d.eng->close(d.h);
	xfree_secret(pw, 0);
	return 0;
}
