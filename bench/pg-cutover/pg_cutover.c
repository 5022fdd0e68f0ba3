/*
 * pg_cutover.c - benchmark: the write pause of ferry's PostgreSQL cutover
 * against an operator's runbook doing the same steps with psql, and the
 * time to reach "in sync" against a pg_dump | pg_restore.
 *
 * Run by bench/pg-cutover/run.sh, which starts the servers
 * (tests/integration/pg/cluster.sh) and sets FERRY_PGTEST_DIR.  For each
 * rate (500 and 5000 writes/s, split over writer threads through both
 * poolers), with the old database the writer and replication running:
 *   ferry:   switch old -> new under load; the longest gap between two
 *            acknowledged writes seen by any writer is the pause; every
 *            acknowledged write is looked up on new (lost = missing);
 *            then ferry rolls back (not measured).
 *   runbook: the same with runbook.sh (one psql per step), then ferry
 *            rolls back again.
 * Prints: rate=R ferry_pause_ms=F runbook_pause_ms=B ratio=B/F lost=N
 * Then, unless BENCH_DB_MB=0: a database of BENCH_DB_MB MB (default 1024)
 * is replicated to "in sync" by ferry, and copied by pg_dump -Fc |
 * pg_restore, each timed:  db_mb=M in_sync_s=S dump_restore_s=D
 */
#include <pthread.h>
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
#include "db/pgsql.h"
#include "pgload.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

extern char **environ;

static char *tmpdir, *pw;
static char old_ci[256], new_ci[256], admin[2][256], app[2][256], inc[2][512];
static int old_port, new_port;

static int envint(const char *name, int def)
{
	const char *v = getenv(name);
	return v ? (int)strtol(v, NULL, 10) : def;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void sql(const char *ci, const char *q)
{
	struct ferry_error err = { 0 };
	struct pgsql_conn *c = NULL;

	/* the database may carry ferry's read-only fence */
	if (pgsql_connect(&c, ci, pw, "bench", &err) < 0 ||
	    pgsql_exec(c, "SET default_transaction_read_only = off", 0, NULL, 0, NULL, &err) < 0 ||
	    pgsql_exec(c, q, 0, NULL, 0, NULL, &err) < 0)
		die("%s: %s", q, err.msg);
	pgsql_free(c);
}

static int64_t val(const char *ci, const char *q)
{
	struct ferry_error err = { 0 };
	struct pgsql_conn *c = NULL;
	char *v = NULL;
	int64_t n;

	if (pgsql_connect(&c, ci, pw, "bench", &err) < 0 ||
	    pgsql_query_value(c, q, 0, NULL, 0, &v, &err) < 0)
		die("%s: %s", q, err.msg);
	n = v ? strtoll(v, NULL, 10) : -1;
	free(v);
	pgsql_free(c);
	return n;
}

static int64_t missing(struct pgload *l, const char *ci)
{
	struct buf arr;
	char *q;
	int64_t found;
	size_t i;

	buf_init(&arr, 256 << 20);
	for (i = 0; i < l->nacks; i++)
		buf_addf(&arr, "%s%lld", i ? "," : "", (long long)l->acks[i].ledger);
	q = xasprintf("SELECT count(DISTINCT ledger) FROM orders WHERE ledger = ANY ('{%s}')",
	              arr.data);
	found = val(ci, q);
	free(q);
	buf_release(&arr);
	return (int64_t)l->nacks - found;
}

#define NLOAD 4

struct run {
	struct pgload load[NLOAD];
	int n;
};

static void load_start(struct run *r, int rate, int64_t base)
{
	int i;

	/* one thread cannot do 5000 synchronous round trips a second on a
	 * busy machine: split the rate, half through each pooler */
	r->n = rate >= 2000 ? NLOAD : 2;
	for (i = 0; i < r->n; i++)
		if (pgload_start(&r->load[i], app[i % 2], rate / r->n, base + i * 10000000LL) < 0)
			die("writer");
	for (i = 0; i < r->n; i++) {
		int64_t until = time_mono_ms() + 20000;
		while (pgload_count(&r->load[i]) < 200) {
			if (time_mono_ms() > until)
				die("writer %d stalled: %s", i, r->load[i].last_error);
			usleep(5000);
		}
	}
}

/* Stops the writers after 1 s more of writes; returns the longest gap
 * (ms) in [t0, t1] and the number of acknowledged writes missing on ci. */
static double achieved; /* writes/s over the last run, all writers */

static double load_finish(struct run *r, int64_t t0, int64_t t1, const char *ci, int64_t *lost)
{
	int64_t gap = 0, g, first = INT64_MAX, last = 0, n = 0;
	int i;

	usleep(1000000);
	*lost = 0;
	for (i = 0; i < r->n; i++) {
		pgload_stop(&r->load[i]);
		if (r->load[i].nacks > 1) {
			n += (int64_t)r->load[i].nacks;
			if (r->load[i].acks[0].at_us < first)
				first = r->load[i].acks[0].at_us;
			if (r->load[i].acks[r->load[i].nacks - 1].at_us > last)
				last = r->load[i].acks[r->load[i].nacks - 1].at_us;
		}
		g = pgload_max_gap_us(&r->load[i], t0 - 200000, t1 + 500000);
		if (g > gap)
			gap = g;
		*lost += missing(&r->load[i], ci);
		pgload_release(&r->load[i]);
	}
	achieved = last > first ? n * 1e6 / (double)(last - first) : 0;
	return gap / 1000.0;
}

static void wait_lag(const struct db_engine *eng, void *h, enum db_direction dir)
{
	struct ferry_error err = { 0 };
	struct db_lag lag;
	int64_t until = time_mono_ms() + 120000;

	for (;;) {
		if (eng->lag(h, dir, &lag, &err) == 0 && lag.worker_running && lag.ms < 500 &&
		    lag.bytes < (1 << 20))
			return;
		if (time_mono_ms() > until)
			die("replication never caught up: %s", err.msg);
		usleep(20000);
	}
}

static int run_cmd(char *const argv[])
{
	pid_t pid;
	int st;

	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		return -1;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ferry's switch as `ferry run` makes it: the orchestrator, then the
 * reverse stream started and the forward one dropped. */
static int bench_switch(struct endpoints_db *const dbs[1], enum db_direction dir,
                        const struct orch_opts *o, struct orch_result *rep, struct ferry_error *err)
{
	int rc;

	orch_result_release(rep);
	rc = orch_switch(dbs, 1, dir, o, rep, err);
	if (rc == 0)
		rc = orch_start_reverse(dbs[0], dir, rep->db[0].fence_pos, &rep->db[0], err);
	if (rc == 0)
		rc = orch_drop_forward(dbs[0], dir, err);
	return rc;
}

static void bench_close(struct endpoints_db *d)
{
	size_t j;

	for (j = 0; j < d->nsw; j++) {
		d->sw->close(d->swep[j]);
		d->swep[j] = NULL;
	}
	d->eng->close(d->h);
	d->h = NULL;
}

/* the runbook ended every other session, ferry's included */
static void bench_reopen(struct endpoints_db *d)
{
	struct ferry_error err = { 0 };

	bench_close(d);
	if (d->eng->open(&d->cfg, &d->h, &err) < 0)
		die("reopen: %s", err.msg);
}

/* Writes on the big database while ferry's initial sync runs: inserts,
 * updates and deletes at about 200/s on one connection to old. */
struct sync_writer {
	pthread_t th;
	const char *ci;
	volatile int stop;
	int64_t ops;
};

static void *sync_writer_main(void *arg)
{
	struct sync_writer *w = arg;
	struct ferry_error err = { 0 };
	struct pgsql_conn *c = NULL;
	static const char *const q[] = {
		"INSERT INTO events (kind, body) VALUES (7, md5(random()::text))",
		"UPDATE events SET body = md5(random()::text) WHERE id = (SELECT (random() * "
		"100000)::bigint + 1)",
		"DELETE FROM events WHERE id = (SELECT (random() * 100000)::bigint + 1)",
	};

	if (pgsql_connect(&c, w->ci, pw, "bench writer", &err) < 0)
		die("writer: %s", err.msg);
	while (!w->stop) {
		if (pgsql_exec(c, q[w->ops % 3], 0, NULL, time_mono_ms() + 30000, NULL, &err) < 0)
			die("writer: %s", err.msg);
		w->ops++;
		usleep(5000);
	}
	pgsql_free(c);
	return NULL;
}

static void in_sync_bench(const struct db_config *base, int mb)
{
	struct sync_writer w = { 0 };
	struct ferry_error err = { 0 };
	struct db_config cfg = *base;
	struct db_progress prog = { 0 };
	char big_old[256], big_new[256], *q, dump[1024];
	const struct db_engine *eng = db_engine_find("postgresql");
	void *h = NULL;
	int64_t t0, sync_ms, dump_ms, rows;
	char *sh_argv[] = { (char *)"sh", (char *)"-c", dump, NULL };

	snprintf(big_old, sizeof(big_old), "host=127.0.0.1 port=%d dbname=big user=ferry",
	         old_port);
	snprintf(big_new, sizeof(big_new), "host=127.0.0.1 port=%d dbname=big user=ferry",
	         new_port);
	sql(old_ci, "DROP DATABASE IF EXISTS big");
	sql(old_ci, "CREATE DATABASE big");
	sql(new_ci, "DROP DATABASE IF EXISTS big");
	sql(new_ci, "CREATE DATABASE big");
	sql(new_ci, "DROP DATABASE IF EXISTS big_dump");
	sql(new_ci, "CREATE DATABASE big_dump");
	/* rows of ~1 kB with an index: about 1.1 MB per 1000 rows on disk */
	rows = (int64_t)mb * 900;
	sql(big_old, "CREATE TABLE events (id bigserial PRIMARY KEY, at timestamptz NOT NULL "
	             "DEFAULT now(), kind int NOT NULL, body text NOT NULL); CREATE INDEX ON "
	             "events (kind)");
	q = xasprintf("INSERT INTO events (kind, body) SELECT g %% 97, md5(g::text) || "
	              "repeat(md5((g * 7)::text), 30) FROM generate_series(1, %lld) g",
	              (long long)rows);
	sql(big_old, q);
	free(q);
	mb = (int)(val(big_old, "SELECT pg_database_size('big')") >> 20);

	cfg.old_conninfo = big_old;
	cfg.new_conninfo = big_new;
	if (eng->open(&cfg, &h, &err) < 0)
		die("open: %s", err.msg);
	w.ci = big_old;
	if (pthread_create(&w.th, NULL, sync_writer_main, &w) != 0)
		die("writer thread");
	t0 = time_mono_ms();
	if (eng->replicate_start(h, &err) < 0)
		die("replicate: %s", err.msg);
	for (;;) {
		db_progress_release(&prog);
		if (eng->progress(h, &prog, &err) < 0)
			die("progress: %s", err.msg);
		if (prog.n > 0 && prog.ready == prog.n)
			break;
		usleep(100000);
	}
	db_progress_release(&prog);
	wait_lag(eng, h, DB_FORWARD);
	sync_ms = time_mono_ms() - t0;
	w.stop = 1;
	pthread_join(w.th, NULL);
	fprintf(stderr, "  sync (%s, %d jobs): %lld writes on old during it\n",
	        cfg.copy_method == DB_COPY_BUILTIN ? "builtin" : "parallel",
	        cfg.copy_jobs ? cfg.copy_jobs : 2, (long long)w.ops);
	if (eng->teardown(h, &err) < 0)
		die("teardown: %s", err.msg);
	eng->close(h);

	snprintf(dump, sizeof(dump),
	         "PGPASSFILE=%s/pgpass /usr/lib/postgresql/15/bin/pg_dump -Fc -d '%s' | "
	         "PGPASSFILE=%s/pgpass /usr/lib/postgresql/15/bin/pg_restore -d "
	         "'host=127.0.0.1 port=%d dbname=big_dump user=ferry'",
	         tmpdir, big_old, tmpdir, new_port);
	t0 = time_mono_ms();
	if (run_cmd(sh_argv) != 0)
		die("pg_dump | pg_restore failed");
	dump_ms = time_mono_ms() - t0;
	printf("db_mb=%d in_sync_s=%.1f dump_restore_s=%.1f ratio=%.2f (writes go on during the "
	       "sync; a dump and restore stops them for its whole time)\n",
	       mb, sync_ms / 1000.0, dump_ms / 1000.0,
	       dump_ms > 0 ? (double)sync_ms / (double)dump_ms : 0.0);
}

int main(void)
{
	struct ferry_error err = { 0 };
	static struct endpoints_db d;
	static struct plan_database pd = { .name = "bench" };
	struct endpoints_db *const dbs[1] = { &d };
	const struct orch_opts o = { .block_signals = true };
	struct orch_result rep = { 0 };
	struct db_config cfg;
	const struct db_engine *eng = db_engine_find("postgresql");
	struct buf b;
	void *h = NULL;
	int rates[] = { 500, 5000 };
	int pgb[2], i, ri;
	const char *sizes = getenv("BENCH_DB_MB") ? getenv("BENCH_DB_MB") : "1024";
	char *rb_argv[4];
	char *rb;

	tmpdir = getenv("FERRY_PGTEST_DIR");
	if (!tmpdir)
		die("run through bench/pg-cutover/run.sh");
	buf_init(&b, 4096);
	{
		char *p = xasprintf("%s/ferry.pw", tmpdir);
		if (buf_read_file(&b, p) < 0)
			die("cannot read %s", p);
		free(p);
	}
	while (b.len && b.data[b.len - 1] == '\n')
		b.data[--b.len] = '\0';
	pw = xstrdup(b.data);
	buf_release_secret(&b);
	old_port = envint("PG_OLD_PORT", 15421);
	new_port = envint("PG_NEW_PORT", 15422);
	pgb[0] = envint("PGB_OLD_PORT", 15430);
	pgb[1] = envint("PGB_NEW_PORT", 15431);
	snprintf(old_ci, sizeof(old_ci), "host=127.0.0.1 port=%d dbname=shop user=ferry", old_port);
	snprintf(new_ci, sizeof(new_ci), "host=127.0.0.1 port=%d dbname=shop user=ferry", new_port);
	for (i = 0; i < 2; i++) {
		snprintf(admin[i], sizeof(admin[i]),
		         "host=127.0.0.1 port=%d dbname=pgbouncer user=ferry", pgb[i]);
		snprintf(app[i], sizeof(app[i]), "host=127.0.0.1 port=%d dbname=shop user=app",
		         pgb[i]);
		snprintf(inc[i], sizeof(inc[i]), "%s/%s.db.ini", tmpdir, i ? "pgb_new" : "pgb_old");
		d.swcfg[i].name = i ? "pooler new" : "pooler old";
		d.swcfg[i].admin = admin[i];
		d.swcfg[i].include_path = inc[i];
		d.swcfg[i].dbalias = "shop";
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.name = "bench";
	cfg.old_conninfo = old_ci;
	cfg.new_conninfo = new_ci;
	cfg.old_password = pw;
	cfg.new_password = pw;
	cfg.pause_budget_ms = 5000;
	/* BENCH_COPY=builtin measures PostgreSQL's own table sync instead */
	cfg.copy_method = getenv("BENCH_COPY") && !strcmp(getenv("BENCH_COPY"), "builtin")
	                          ? DB_COPY_BUILTIN
	                          : DB_COPY_PARALLEL;
	cfg.copy_jobs = envint("BENCH_COPY_JOBS", 0);
	d.pd = &pd;
	d.eng = eng;
	d.cfg = cfg;
	d.budget_ms = 5000;
	d.sw = sw_driver_find("pgbouncer");
	d.nsw = 2;
	d.target[DB_OLD] = (struct sw_target){ "127.0.0.1", old_port, "shop" };
	d.target[DB_NEW] = (struct sw_target){ "127.0.0.1", new_port, "shop" };
	setvbuf(stdout, NULL, _IONBF, 0);
	if (!envint("BENCH_PAUSE", 1))
		goto sync;

	sql(old_ci, "CREATE TABLE orders (id bigserial PRIMARY KEY, ledger bigint NOT NULL UNIQUE, "
	            "note text, at timestamptz DEFAULT now()); GRANT ALL ON ALL TABLES IN SCHEMA "
	            "public TO app; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO app");
	if (eng->open(&d.cfg, &h, &err) < 0 || eng->replicate_start(h, &err) < 0)
		die("setup: %s", err.msg);
	d.h = h;
	wait_lag(eng, h, DB_FORWARD);
	rb = xasprintf("%s/runbook.sh", getenv("BENCH_DIR") ? getenv("BENCH_DIR") : ".");
	rb_argv[0] = (char *)"sh";
	rb_argv[1] = rb;
	rb_argv[2] = tmpdir;
	rb_argv[3] = NULL;

	for (ri = 0; ri < 2; ri++) {
		struct run r;
		int64_t t0, t1, lost_f, lost_b;
		double ferry_ms, book_ms;
		int64_t base = (int64_t)(ri + 1) * 1000000000LL;

		/* ferry */
		load_start(&r, rates[ri], base);
		t0 = time_mono_us();
		if (bench_switch(dbs, DB_FORWARD, &o, &rep, &err) < 0)
			die("ferry switch: %s", err.msg);
		t1 = time_mono_us();
		ferry_ms = load_finish(&r, t0, t1, new_ci, &lost_f);
		fprintf(stderr, "  ferry run: %.0f writes/s acknowledged\n", achieved);
		fprintf(stderr, "  ferry steps: %s\n", rep.timings);
		wait_lag(eng, h, DB_REVERSE);
		if (bench_switch(dbs, DB_REVERSE, &o, &rep, &err) < 0)
			die("ferry rollback: %s", err.msg);
		wait_lag(eng, h, DB_FORWARD);

		/* the runbook */
		load_start(&r, rates[ri], base + 500000000LL);
		t0 = time_mono_us();
		if (run_cmd(rb_argv) != 0)
			die("runbook failed");
		t1 = time_mono_us();
		book_ms = load_finish(&r, t0, t1, new_ci, &lost_b);
		fprintf(stderr, "  runbook run: %.0f writes/s acknowledged\n", achieved);
		/* the runbook ended every other session, ferry's included */
		bench_reopen(&d);
		h = d.h;
		wait_lag(eng, h, DB_REVERSE);
		if (bench_switch(dbs, DB_REVERSE, &o, &rep, &err) < 0)
			die("ferry rollback after the runbook: %s", err.msg);
		wait_lag(eng, h, DB_FORWARD);

		printf("rate=%d ferry_pause_ms=%.1f runbook_pause_ms=%.1f ratio=%.1f lost=%lld "
		       "(runbook lost=%lld)\n",
		       rates[ri], ferry_ms, book_ms, ferry_ms > 0 ? book_ms / ferry_ms : 0.0,
		       (long long)lost_f, (long long)lost_b);
	}
	if (eng->teardown(h, &err) < 0)
		die("teardown: %s", err.msg);
	bench_close(&d);
	free(rb);
sync:
	/* BENCH_DB_MB: sizes separated by commas ("1024,4096"); 0 skips */
	for (const char *sz = sizes; *sz;) {
		char *end;
		long mb = strtol(sz, &end, 10);
		if (mb > 0)
			in_sync_bench(&cfg, (int)mb);
		sz = *end == ',' ? end + 1 : end + strlen(end);
	}
	xfree_secret(pw, 0);
	return 0;
}
