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
 *   floor:   the bare protocol over connections opened before it (PAUSE
 *            on both poolers, ferry's fence, the insert position, the wait
 *            for new's apply, the sequences, the include files renamed and
 *            RELOAD, RESUME), nothing else in the pause; after it the
 *            forward stream is stopped and the reverse one started so that
 *            ferry can roll back.
 *   runbook: the same with runbook.sh (one psql per step), then ferry
 *            rolls back again.
 * Prints, per rate and run:
 *   rate=R ferry_pause_ms=F floor_pause_ms=L runbook_pause_ms=B
 *   ferry_over_floor=F/L runbook_over_ferry=B/F runbook_over_floor=B/L
 *   lost=N floor_lost=N runbook_lost=N sessions=S load=A
 * (load: the 1-minute load average when the rate's runs began;
 * runbook_over_floor: what the bare protocol itself gains on the runbook,
 * the most that runbook_over_ferry can reach without beating the floor).
 * BENCH_RUNS repeats every rate (default 1), BENCH_RATES picks them
 * ("500,5000"), BENCH_SESSIONS holds that many idle sessions open on old
 * during each switch (they are what the fence ends), BENCH_RUNBOOK=0
 * leaves the runbook out.
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
#include "db/postgresql_int.h"
#include "pgload.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

extern char **environ;

static char *tmpdir, *pw;
static char old_ci[256], new_ci[256], admin[2][256], app[2][256], inc[2][512];
static int old_port, new_port;
static int nsessions;
static int64_t floor_t0;   /* us */
static int64_t resumed_us; /* when the last RESUME was answered (BENCH_GAPS) */

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
	int64_t gap = 0, g, first = INT64_MAX, last = 0, n = 0, after = 0;
	int i;

	usleep(1000000);
	*lost = 0;
	for (i = 0; i < r->n; i++) {
		int64_t stop = time_mono_us();

		pgload_stop(&r->load[i]);
		/* a writer that never got an answer again: its pause lasts
		 * until now */
		if (r->load[i].nacks > 0 &&
		    stop - r->load[i].acks[r->load[i].nacks - 1].at_us > gap)
			gap = stop - r->load[i].acks[r->load[i].nacks - 1].at_us;
		if (r->load[i].errors)
			fprintf(stderr, "  writer %d: %lld errors, the last: %s\n", i,
			        (long long)r->load[i].errors, r->load[i].last_error);
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
		if (getenv("BENCH_GAPS"))
			for (size_t k = 1; k < r->load[i].nacks; k++) {
				struct pgload_ack *a = r->load[i].acks;
				if (a[k].at_us - a[k - 1].at_us > 20000 &&
				    a[k].at_us > t0 - 200000 && a[k - 1].at_us < t1 + 500000)
					fprintf(stderr,
					        "  writer %d: gap %.1f ms from t0+%.1f ms\n", i,
					        (a[k].at_us - a[k - 1].at_us) / 1000.0,
					        (a[k - 1].at_us - t0) / 1000.0);
			}
		*lost += missing(&r->load[i], ci);
		/* the clients' wait after RESUME: until each writer's first
		 * acknowledgement after it */
		for (size_t k = 0; resumed_us && k < r->load[i].nacks; k++)
			if (r->load[i].acks[k].at_us > resumed_us) {
				if (r->load[i].acks[k].at_us - resumed_us > after)
					after = r->load[i].acks[k].at_us - resumed_us;
				break;
			}
		pgload_release(&r->load[i]);
	}
	if (resumed_us)
		fprintf(stderr, "  the writers were answered %.1f ms after RESUME\n",
		        after / 1000.0);
	resumed_us = 0;
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
	if (getenv("BENCH_GAPS") && dir == DB_FORWARD) {
		/* the switch returned after its wait for the poolers' clients */
		const char *sv = strstr(rep->timings, "served=");
		double resumed = (time_mono_us() - floor_t0) / 1000.0 - (sv ? atof(sv + 7) : 0);

		fprintf(stderr, "  ferry PAUSE sent at t0+%.1f ms, RESUME answered at t0+%.1f ms\n",
		        resumed - (double)rep->pause_ms, resumed);
		resumed_us = floor_t0 + (int64_t)(resumed * 1000);
	}
	/* BENCH_SETTLE_MS: an experiment, the steps after the pause held
	 * back while the poolers open their first connections to new */
	if (rc == 0 && envint("BENCH_SETTLE_MS", 0) > 0)
		usleep((useconds_t)envint("BENCH_SETTLE_MS", 0) * 1000);
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

/* ferry's rollback between two measurements; a refusal (the reverse
 * stream's worker restarting, seen on this loaded machine) waits for the
 * stream again, three times at most */
static void bench_rollback(struct endpoints_db *const dbs[1], const struct orch_opts *o,
                           struct orch_result *rep, const char *after)
{
	struct ferry_error err = { 0 };
	int tries;

	for (tries = 1;; tries++) {
		wait_lag(dbs[0]->eng, dbs[0]->h, DB_REVERSE);
		if (bench_switch(dbs, DB_REVERSE, o, rep, &err) == 0)
			break;
		if (tries == 3 || rep->outcome != ORCH_REFUSED)
			die("ferry rollback after %s: %s", after, err.msg);
		fprintf(stderr, "  rollback refused (%s): again\n", err.msg);
		usleep(200000);
	}
	wait_lag(dbs[0]->eng, dbs[0]->h, DB_FORWARD);
}

/* the runbook ended every other session, ferry's included */
static void bench_reopen(struct endpoints_db *d)
{
	struct ferry_error err = { 0 };

	bench_close(d);
	if (d->eng->open(&d->cfg, &d->h, &err) < 0)
		die("reopen: %s", err.msg);
}

/* ---- the floor -------------------------------------------------------- */

/* the plan's database is "bench": ferry's slots carry its name */
#define SLOT_FWD "ferry_sub_bench"
#define SLOT_REV "ferry_rev_bench"

static double ms_since(int64_t *t)
{
	int64_t now = time_mono_us();
	double ms = (now - *t) / 1000.0;

	*t = now;
	return ms;
}

static void both_admin(struct pgsql_conn *adm[2], const char *cmd, int64_t deadline)
{
	struct ferry_error err = { 0 };
	struct pgsql_result r;
	int i;

	for (i = 0; i < 2; i++)
		if (pgsql_send(adm[i], cmd, 0, NULL, &err) < 0)
			die("floor: %s: %s", cmd, err.msg);
	for (i = 0; i < 2; i++) {
		int rc = pgsql_wait(adm[i], deadline, &r, &err);
		pgsql_result_release(&r);
		if (rc < 0)
			die("floor: %s: %s", cmd, err.msg);
	}
}

/* ferry's own wait after RESUME (the pgbouncer driver's `served`, on
 * the plan's poolers: opened first, before the pause), so that the
 * floor's steps after the pause do not compete with the poolers' first
 * connections to new either. */
static void floor_served(struct endpoints_db *const dbs[1], int64_t deadline)
{
	const struct endpoints_db *d = dbs[0];

	for (size_t j = 0; j < d->nsw; j++) {
		struct ferry_error err = { 0 };
		if (d->sw->served(d->swep[j], deadline, &err) < 0)
			die("floor: %s", err.msg);
	}
}

/* The floor's switch old -> new; its steps' times go to steps. */
static void floor_switch(struct endpoints_db *const dbs[1], char *steps, size_t len)
{
	struct ferry_error err = { 0 };
	struct pgsql_conn *old = NULL, *new = NULL, *warm = NULL, *adm[2] = { NULL, NULL };
	char *pos = NULL, *lsn = NULL, *ours = NULL, next[2][600];
	const char *slot[1] = { SLOT_REV };
	int64_t deadline, t, nseq;
	double ms[8];
	bool new_fenced = false;
	struct pg_fence_stage *st = NULL;
	char keep[32];
	int i, armed;

	/* before the pause, as ferry's prepare and stage: the connections,
	 * the reverse publication, the next include files */
	if (orch_open(dbs, 1, &err) < 0 || pgsql_connect(&old, old_ci, pw, "floor old", &err) < 0 ||
	    pgsql_exec(old, pg_sql_session_rw, 0, NULL, 0, NULL, &err) < 0 ||
	    pgsql_connect(&new, new_ci, pw, "floor new", &err) < 0 ||
	    pgsql_exec(new, pg_sql_session_rw, 0, NULL, 0, NULL, &err) < 0 ||
	    pg_pub_ensure(new, "ferry_rev_pub", &err) < 0 ||
	    pg_fence_get(new, &new_fenced, &err) < 0 || pg_warm(old, 0, &err) < 0 ||
	    pg_warm(new, 0, &err) < 0 ||
	    pg_init_file_warm(&warm, new_ci, pw, "floor new", &err) < 0)
		die("floor: %s", err.msg);
	/* the unfence of new ends the sessions begun under its fence, but
	 * not the bench's own (its relation cache connection, ferry's
	 * connections the bench keeps): ferry's spares its own the same way */
	if (new_fenced &&
	    pgsql_query_value(new,
	                      "SELECT '{' || coalesce(string_agg(pid::text, ','), '') || '}' FROM "
	                      "pg_stat_activity WHERE datname = current_database() AND usename = "
	                      "current_user",
	                      0, NULL, time_mono_ms() + 5000, &ours, &err) < 0)
		die("floor: %s", err.msg);
	/* ferry's staged fence, as its prepare arms it */
	armed = pg_fence_arm(old, &st, old_ci, pw, "floor old", time_mono_ms() + 30000, &err);
	if (armed < 0)
		die("floor: %s", err.msg);
	snprintf(keep, sizeof(keep), "{%d}", pgsql_backend_pid(old));
	for (i = 0; i < 2; i++) {
		char *data = xasprintf("[databases]\nshop = host=127.0.0.1 port=%d dbname=shop\n",
		                       new_port);
		FILE *fp;

		snprintf(next[i], sizeof(next[i]), "%s.floor-next", inc[i]);
		if (pgsql_connect(&adm[i], admin[i], pw, "floor pooler", &err) < 0)
			die("floor: %s", err.msg);
		fp = fopen(next[i], "w");
		if (!fp || fputs(data, fp) < 0 || fclose(fp) != 0)
			die("floor: cannot write %s", next[i]);
		free(data);
	}

	/* the pause */
	deadline = time_mono_ms() + 5000;
	t = time_mono_us();
	if (getenv("BENCH_GAPS"))
		fprintf(stderr, "  floor PAUSE sent at t0+%.1f ms\n", (t - floor_t0) / 1000.0);
	both_admin(adm, "PAUSE shop", deadline);
	ms[0] = ms_since(&t);
	/* ferry's fence, which reads the position once no session can commit */
	if ((armed == 0
	             ? pg_fence_stage_on(old, st, "shop", keep, "floor old", deadline, &pos, &err)
	             : pg_fence_on(old, "shop", NULL, "floor old", deadline, &pos, &err)) < 0)
		die("floor: fence: %s", err.msg);
	ms[1] = ms_since(&t);
	ms[2] = ms_since(&t);
	if (pg_applied_wait(old, SLOT_FWD, pos, "floor new", deadline, &err) < 0)
		die("floor: %s", err.msg);
	ms[3] = ms_since(&t);
	if (pg_sequences_copy(old, new, deadline, &nseq, &err) < 0)
		die("floor: sequences: %s", err.msg);
	ms[4] = ms_since(&t);
	/* new keeps the fence of an earlier rollback */
	if (new_fenced && pg_unfence_on(new, "shop", ours, deadline, &err) < 0)
		die("floor: unfence new: %s", err.msg);
	ms[5] = ms_since(&t);
	for (i = 0; i < 2; i++)
		if (rename(next[i], inc[i]) != 0)
			die("floor: cannot rename %s", next[i]);
	both_admin(adm, "RELOAD", deadline);
	ms[6] = ms_since(&t);
	both_admin(adm, "RESUME shop", deadline);
	ms[7] = ms_since(&t);
	if (getenv("BENCH_GAPS")) {
		fprintf(stderr, "  floor RESUME answered at t0+%.1f ms\n", (t - floor_t0) / 1000.0);
		resumed_us = t;
	}
	snprintf(steps, len,
	         "pause=%.1fms fence=%.1fms position=%.1fms wait_applied=%.1fms "
	         "sequences=%.1fms unfence_target=%.1fms point=%.1fms resume=%.1fms",
	         ms[0], ms[1], ms[2], ms[3], ms[4], ms[5], ms[6], ms[7]);

	floor_served(dbs, time_mono_ms() + ORCH_SERVED_MS);
	if (envint("BENCH_SETTLE_MS", 0) > 0)
		usleep((useconds_t)envint("BENCH_SETTLE_MS", 0) * 1000);
	/* after the pause, what ferry does inside it so that it can roll
	 * back: the forward stream stopped, the reverse slot (the writes new
	 * took before it are not carried back: nothing measured needs them) */
	if (armed == 0 && pg_fence_release(old, st, time_mono_ms() + 30000, &err) < 0)
		die("floor: the fence's end: %s", err.msg);
	pg_fence_stage_free(st);
	if (pgsql_exec(new, "ALTER SUBSCRIPTION ferry_sub DISABLE", 0, NULL, 0, NULL, &err) < 0 ||
	    pgsql_query_value(new, pg_sql_create_slot, 1, slot, 0, &lsn, &err) < 0)
		die("floor: after the pause: %s", err.msg);
	free(lsn);
	free(pos);
	free(ours);
	pgsql_free(old);
	pgsql_free(new);
	pgsql_free(warm);
	pgsql_free(adm[0]);
	pgsql_free(adm[1]);
}

/* Idle sessions on old for the fence to end (BENCH_SESSIONS). */
static struct pgsql_conn **sessions_open(void)
{
	struct pgsql_conn **s = xcalloc((size_t)nsessions + 1, sizeof(*s));
	struct ferry_error err = { 0 };
	char ci[256];
	int i;

	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d dbname=shop user=app", old_port);
	for (i = 0; i < nsessions; i++)
		if (pgsql_connect(&s[i], ci, NULL, "idle session", &err) < 0 ||
		    pgsql_exec(s[i], "SELECT 1", 0, NULL, 0, NULL, &err) < 0)
			die("idle session %d: %s", i, err.msg);
	return s;
}

static void sessions_close(struct pgsql_conn **s)
{
	int i;

	for (i = 0; i < nsessions; i++)
		pgsql_free(s[i]);
	free(s);
}

static double loadavg(void)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double l = -1;

	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
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
		("UPDATE events SET body = md5(random()::text) WHERE id = (SELECT (random() * "
		 "100000)::bigint + 1)"),
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
	int rates[16] = { 500, 5000 }, nrates = 2, runs = envint("BENCH_RUNS", 1), run;
	bool with_runbook = envint("BENCH_RUNBOOK", 1) != 0;
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
	if (getenv("BENCH_RATES")) {
		const char *p = getenv("BENCH_RATES");
		for (nrates = 0; *p && nrates < 16;) {
			char *end;
			rates[nrates++] = (int)strtol(p, &end, 10);
			p = *end == ',' ? end + 1 : end + strlen(end);
		}
	}
	nsessions = envint("BENCH_SESSIONS", 0);
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

	for (run = 0; run < runs; run++)
		for (ri = 0; ri < nrates; ri++) {
			struct run r;
			struct pgsql_conn **idle;
			int64_t t0, t1, lost_f = 0, lost_l = 0, lost_b = 0;
			double ferry_ms = 0, floor_ms = 0, book_ms = 0, load = loadavg();
			int64_t base = (int64_t)(run * nrates + ri + 1) * 1000000000LL;
			char floor_steps[512];
			int k;

			/* ferry and the floor back to back, first one then the
			 * other, in turn from run to run */
			for (k = 0; k < 2; k++) {
				bool floor_now = (k + run) % 2 == 1;
				int64_t *lost = floor_now ? &lost_l : &lost_f;
				double g;

				idle = sessions_open();
				load_start(&r, rates[ri], base + k * 250000000LL);
				t0 = time_mono_us();
				floor_t0 = t0;
				if (floor_now)
					floor_switch(dbs, floor_steps, sizeof(floor_steps));
				else if (bench_switch(dbs, DB_FORWARD, &o, &rep, &err) < 0)
					die("ferry switch: %s", err.msg);
				t1 = time_mono_us();
				g = load_finish(&r, t0, t1, new_ci, lost);
				sessions_close(idle);
				if (floor_now) {
					floor_ms = g;
					fprintf(stderr, "  floor run: %.0f writes/s acknowledged\n",
					        achieved);
					fprintf(stderr, "  floor steps: %s\n", floor_steps);
					/* the floor's fence ended ferry's sessions too */
					bench_reopen(&d);
					h = d.h;
					if (orch_start_reverse(&d, DB_FORWARD, NULL, NULL, &err) <
					            0 ||
					    orch_drop_forward(&d, DB_FORWARD, &err) < 0)
						die("after the floor: %s", err.msg);
				} else {
					ferry_ms = g;
					fprintf(stderr, "  ferry run: %.0f writes/s acknowledged\n",
					        achieved);
					fprintf(stderr, "  ferry steps: %s\n", rep.timings);
				}
				bench_rollback(dbs, &o, &rep, floor_now ? "the floor" : "ferry");
			}

			/* the runbook */
			if (with_runbook) {
				idle = sessions_open();
				load_start(&r, rates[ri], base + 500000000LL);
				t0 = time_mono_us();
				if (run_cmd(rb_argv) != 0)
					die("runbook failed");
				t1 = time_mono_us();
				book_ms = load_finish(&r, t0, t1, new_ci, &lost_b);
				sessions_close(idle);
				fprintf(stderr, "  runbook run: %.0f writes/s acknowledged\n",
				        achieved);
				/* the runbook ended every other session, ferry's included */
				bench_reopen(&d);
				h = d.h;
				bench_rollback(dbs, &o, &rep, "the runbook");
			}

			printf("rate=%d ferry_pause_ms=%.1f floor_pause_ms=%.1f "
			       "runbook_pause_ms=%.1f "
			       "ferry_over_floor=%.2f runbook_over_ferry=%.1f "
			       "runbook_over_floor=%.1f lost=%lld floor_lost=%lld "
			       "runbook_lost=%lld sessions=%d load=%.2f\n",
			       rates[ri], ferry_ms, floor_ms, book_ms,
			       floor_ms > 0 ? ferry_ms / floor_ms : 0.0,
			       ferry_ms > 0 ? book_ms / ferry_ms : 0.0,
			       floor_ms > 0 ? book_ms / floor_ms : 0.0, (long long)lost_f,
			       (long long)lost_l, (long long)lost_b, nsessions, load);
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
