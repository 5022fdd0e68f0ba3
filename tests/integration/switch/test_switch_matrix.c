/*
 * test_switch_matrix.c - the switch's fault matrix (issue 11): two real
 * PostgreSQL clusters, two databases moved together in one plan (shop
 * through two pgbouncers, pay through two HAProxy TCP backends), under a
 * write load through every endpoint with a ledger of acknowledged writes.
 *
 * Each case makes one thing go wrong during a switch, in whichever
 * direction the world is in (a switch that completes turns it around):
 *   - FERRY_FAIL_AT at every step of the forward and the reverse switch,
 *     per endpoint where a step fans out;
 *   - a failure and then one in the undo that follows it (every undo step);
 *   - a failure, one in the undo, and one in the recovery after it;
 *   - the new host's pgbouncer killed inside the pause (its console gone);
 *   - the new server stopped inside the pause (the path to it dropped);
 *   - SIGTERM inside the pause (a child process that must die only after
 *     the pause, the switch complete).
 * After each (and after what the next run does: recovery of a stuck
 * switch, the after-switch steps, a server an operator restarts): exactly
 * one writer per database, every endpoint at it and none paused, the
 * writer unfenced (and old fenced once new writes), a probe write through
 * every endpoint lands on the writer, no acknowledged write is missing
 * there, and the longest gap between acknowledgements of the writers that
 * kept their endpoint is within the budget + 250 ms (twice the budget +
 * 1 s when the undo failed too: the recovery pauses again).  The writer's
 * sequences are past every id it holds.
 *
 * Prints one line per case and a summary "N passed, M failed".  run.sh
 * starts the servers (ports 16501-16529).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/orchestrator.h"
#include "matrix.h"
#include "db/db.h"
#include "db/pgsql.h"
#include "pgload.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define BUDGET_MS 1000
#define NDB       2
#define NLOAD     4

static struct {
	char *srv, *pw; /* the servers' folder; ferry's password */
	int port[2];    /* DB_OLD, DB_NEW: the servers */
	int pgb[2], hap_api[2], hap_fe[2];
	char ci[NDB][2][256]; /* ferry's conninfo per database and side */
	char admin[2][256], inc[2][512], api[2][64];
	char app[NLOAD][256]; /* the writers' endpoints */
	struct plan_database pd[NDB];
	struct endpoints_db d[NDB];
	struct endpoints_db *dbs[NDB];
	struct pgload load[NLOAD];
	int64_t ledger;
} M;

static const char *const dbname[NDB] = { "shop", "pay" };
/* writer k: through which endpoint, of which database */
static const int load_db[NLOAD] = { 0, 0, 1, 1 };

/* ---- SQL and consoles ------------------------------------------------------ */

static int query(const char *ci, const char *pw, const char *q, char **out, struct ferry_error *err)
{
	struct pgsql_conn *c = NULL;
	int rc;

	*out = NULL;
	rc = pgsql_connect(&c, ci, pw, "matrix", err);
	if (rc == 0)
		rc = pgsql_query_value(c, q, 0, NULL, time_mono_ms() + 20000, out, err);
	pgsql_free(c);
	return rc;
}

static int64_t val(const char *ci, const char *fmt, ...)
{
	struct ferry_error err = { 0 };
	char q[4096], *v = NULL;
	int64_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	if (query(ci, strstr(ci, "user=ferry") ? M.pw : NULL, q, &v, &err) < 0) {
		matrix_bad("%s (%.200s)", err.msg, q);
		return -1;
	}
	n = v ? strtoll(v, NULL, 10) : -1;
	free(v);
	return n;
}

/* pgbouncer i's entry for shop: the port it points at; *paused. */
static int pooler(int i, bool *paused)
{
	struct ferry_error err = { 0 };
	struct pgsql_conn *c = NULL;
	struct pgsql_result r;
	int port = -1, j, k;

	*paused = false;
	if (pgsql_connect(&c, M.admin[i], NULL, "matrix", &err) < 0) {
		matrix_bad("pooler %d: %s", i, err.msg);
		return -1;
	}
	if (pgsql_exec(c, "SHOW DATABASES", 0, NULL, time_mono_ms() + 5000, &r, &err) == 0) {
		for (j = 0; j < r.nrows; j++) {
			if (strcmp(pgsql_result_get(&r, j, 0), "shop"))
				continue;
			for (k = 0; k < r.ncols; k++) {
				if (!strcmp(r.names[k], "port"))
					port = (int)pgsql_result_int(&r, j, k, -1);
				if (!strcmp(r.names[k], "paused"))
					*paused = pgsql_result_int(&r, j, k, 0) != 0;
			}
		}
	}
	pgsql_result_release(&r);
	pgsql_free(c);
	return port;
}

static bool fenced(int db, int side)
{
	return val(M.ci[db][side],
	           "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = "
	           "s.setdatabase WHERE d.datname = current_database() AND "
	           "'default_transaction_read_only=on' = ANY (s.setconfig)") > 0;
}

/* ---- the world ---------------------------------------------------------------- */

static void setup(const char *dir)
{
	int i, s;

	matrix.dir = DB_FORWARD;
	M.ledger = 1;
	M.srv = xstrdup(dir);
	M.pw = matrix_password(dir);
	M.port[DB_OLD] = matrix_envint("PG_OLD_PORT", 16501);
	M.port[DB_NEW] = matrix_envint("PG_NEW_PORT", 16502);
	M.pgb[0] = matrix_envint("PGB_OLD_PORT", 16510);
	M.pgb[1] = matrix_envint("PGB_NEW_PORT", 16511);
	M.hap_fe[0] = 16520, M.hap_api[0] = 16521, M.hap_fe[1] = 16522, M.hap_api[1] = 16523;
	for (i = 0; i < 2; i++) {
		snprintf(M.admin[i], sizeof(M.admin[i]),
		         "host=127.0.0.1 port=%d dbname=pgbouncer user=ferry", M.pgb[i]);
		snprintf(M.inc[i], sizeof(M.inc[i]), "%s/%s.db.ini", dir,
		         i ? "pgb_new" : "pgb_old");
		snprintf(M.api[i], sizeof(M.api[i]), "127.0.0.1:%d", M.hap_api[i]);
		snprintf(M.app[i], sizeof(M.app[i]),
		         "host=127.0.0.1 port=%d dbname=shop user=app connect_timeout=2", M.pgb[i]);
		snprintf(M.app[2 + i], sizeof(M.app[2 + i]),
		         "host=127.0.0.1 port=%d dbname=pay user=app connect_timeout=2",
		         M.hap_fe[i]);
	}
	for (i = 0; i < NDB; i++) {
		struct endpoints_db *d = &M.d[i];
		for (s = 0; s < 2; s++)
			snprintf(M.ci[i][s], sizeof(M.ci[i][s]),
			         "host=127.0.0.1 port=%d dbname=%s user=ferry", M.port[s],
			         dbname[i]);
		M.pd[i].name = (char *)dbname[i];
		d->pd = &M.pd[i];
		d->eng = db_engine_find("postgresql");
		d->cfg.name = dbname[i];
		d->cfg.old_conninfo = M.ci[i][DB_OLD];
		d->cfg.new_conninfo = M.ci[i][DB_NEW];
		d->cfg.old_password = M.pw;
		d->cfg.new_password = M.pw;
		d->cfg.pause_budget_ms = BUDGET_MS;
		d->budget_ms = BUDGET_MS;
		d->nsw = 2;
		d->target[DB_OLD] = (struct sw_target){ "127.0.0.1", M.port[DB_OLD], dbname[i] };
		d->target[DB_NEW] = (struct sw_target){ "127.0.0.1", M.port[DB_NEW], dbname[i] };
		for (s = 0; s < 2; s++) {
			struct sw_config *c = &d->swcfg[s];
			if (i == 0) {
				c->name = s ? "pooler new" : "pooler old";
				c->admin = M.admin[s];
				c->include_path = M.inc[s];
				c->dbalias = "shop";
			} else {
				c->name = s ? "haproxy new" : "haproxy old";
				c->api = M.api[s];
				c->backend = "pay";
				c->server = "db";
			}
		}
		d->sw = sw_driver_find(i == 0 ? "pgbouncer" : "haproxy");
		M.dbs[i] = d;
	}
}

static void engines_open(void)
{
	struct ferry_error err = { 0 };
	int i;

	for (i = 0; i < NDB; i++)
		if (!M.d[i].h && M.d[i].eng->open(&M.d[i].cfg, &M.d[i].h, &err) < 0)
			matrix_die("open %s: %s", dbname[i], err.msg);
}

/* What the next `ferry run` starts with: engine handles of its own (the
 * fence ended this process's sessions, a stopped server dropped them). */
static void engines_reopen(void)
{
	int i;

	for (i = 0; i < NDB; i++) {
		M.d[i].eng->close(M.d[i].h);
		M.d[i].h = NULL;
	}
	engines_open();
}

/* The stream that feeds the next switch is caught up. */
static bool caught_up(const struct db_lag *lag)
{
	return lag->worker_running && lag->bytes == 0 && lag->apply_errors == 0;
}

static int wait_ready(int64_t ms)
{
	return matrix_wait_ready(M.dbs, NDB, ms, caught_up);
}

static void seed(void)
{
	struct ferry_error err = { 0 };
	int i, k;

	for (i = 0; i < NDB; i++) {
		char *ci = xasprintf("host=127.0.0.1 port=%d dbname=%s user=app", M.port[DB_OLD],
		                     dbname[i]);
		struct pgsql_conn *c = NULL;
		if (pgsql_connect(&c, ci, NULL, "matrix", &err) < 0 ||
		    pgsql_exec(
		            c,
		            "CREATE TABLE orders (id bigserial PRIMARY KEY, ledger bigint NOT NULL "
		            "UNIQUE, note text, at timestamptz DEFAULT now())",
		            0, NULL, time_mono_ms() + 20000, NULL, &err) < 0)
			matrix_die("seed %s: %s", dbname[i], err.msg);
		pgsql_free(c);
		free(ci);
	}
	engines_open();
	for (i = 0; i < NDB; i++)
		if (M.d[i].eng->replicate_start(M.d[i].h, &err) < 0)
			matrix_die("replicate %s: %s", dbname[i], err.msg);
	if (wait_ready(60000) < 0)
		matrix_die("%s", matrix.why);
	for (k = 0; k < NLOAD; k++)
		if (pgload_start(&M.load[k], M.app[k], 100, 1000000000LL * (k + 1)) < 0)
			matrix_die("writer %d", k);
	matrix_writers_wait(20, 30000, true);
}

/* The after-switch steps, as every later run retries them. */
static void after_steps(enum db_direction dir)
{
	int i, tries;

	for (i = 0; i < NDB; i++) {
		for (tries = 0; tries < 5; tries++) {
			struct ferry_error err = { 0 };
			if (orch_start_reverse(&M.d[i], dir, NULL, NULL, &err) == 0 &&
			    orch_drop_forward(&M.d[i], dir, &err) == 0)
				break;
			if (tries == 4)
				matrix_bad("after-switch steps of %s: %s", dbname[i], err.msg);
		}
	}
}

/* ---- the invariants ---------------------------------------------------------- */

/* Every acknowledged write of writer k is on side w of its database. */
static int64_t missing(int k, enum db_side w)
{
	struct pgload *l = &M.load[k];
	struct buf arr;
	int64_t found, n, i;

	buf_init(&arr, 64 << 20);
	buf_addch(&arr, '{');
	pthread_mutex_lock(&l->lock);
	n = (int64_t)l->nacks;
	for (i = 0; i < n; i++)
		buf_addf(&arr, "%s%lld", i ? "," : "", (long long)l->acks[i].ledger);
	pthread_mutex_unlock(&l->lock);
	buf_addch(&arr, '}');
	{
		struct ferry_error err = { 0 };
		struct pgsql_conn *c = NULL;
		const char *params[1] = { arr.data };
		char *v = NULL;

		found = -1;
		if (pgsql_connect(&c, M.ci[load_db[k]][w], M.pw, "matrix", &err) == 0 &&
		    pgsql_query_value(c,
		                      "SELECT count(DISTINCT ledger) FROM orders WHERE ledger = "
		                      "ANY ($1::bigint[])",
		                      1, params, time_mono_ms() + 30000, &v, &err) == 0)
			found = v ? strtoll(v, NULL, 10) : -1;
		else
			matrix_bad("counting writer %d's acknowledged writes: %s", k, err.msg);
		free(v);
		pgsql_free(c);
	}
	buf_release(&arr);
	return found < 0 ? 0 : n - found;
}

/* The writers, as the harness sees them. */
static size_t load_count(int k)
{
	return pgload_count(&M.load[k]);
}

static const char *load_error(int k)
{
	return M.load[k].last_error;
}

static int64_t load_gap(int k, int64_t t0, int64_t t1)
{
	return pgload_max_gap_us(&M.load[k], t0, t1);
}

/* A write through endpoint k of database db lands on side w (retried
 * for a while: a client that reconnects through HAProxy may first meet a
 * closed session). */
static void probe(int k, int w)
{
	int64_t until = time_mono_ms() + 10000, ledger = 9000000000000LL + M.ledger++;
	struct ferry_error err = { 0 };
	char q[256], *v = NULL, last[300] = "";
	int tries = 0;

	snprintf(q, sizeof(q),
	         "INSERT INTO orders (ledger, note) VALUES (%lld, 'probe') RETURNING 1",
	         (long long)ledger);
	while (tries++, query(M.app[k], NULL, q, &v, &err) < 0) {
		snprintf(last, sizeof(last), "%s", err.msg);
		/* committed, but the answer was lost: it is there */
		if (strstr(err.msg, "orders_ledger_key"))
			break;
		if (time_mono_ms() > until) {
			matrix_bad("a write through endpoint %d fails: %s", k, err.msg);
			return;
		}
		usleep(20000);
	}
	free(v);
	if (val(M.ci[load_db[k]][w], "SELECT count(*) FROM orders WHERE ledger = %lld",
	        (long long)ledger) != 1)
		matrix_bad("a write through endpoint %d did not land on %s (%d tries, last error "
		           "'%s'; on "
		           "%s: %lld)",
		           k, db_side_name(w), tries, last, db_side_name(!w),
		           (long long)val(M.ci[load_db[k]][!w],
		                          "SELECT count(*) FROM orders WHERE ledger = %lld",
		                          (long long)ledger));
}

/* For a failure's log: what pgbouncer i holds. */
static void dump_pooler(int i)
{
	static const char *const what[] = { "SHOW DATABASES", "SHOW POOLS", "SHOW SERVERS",
		                            "SHOW CLIENTS" };
	size_t j;

	for (j = 0; j < sizeof(what) / sizeof(what[0]); j++)
		matrix_sh("runuser -u postgres -- /usr/lib/postgresql/15/bin/psql -X -h 127.0.0.1 "
		          "-p %d "
		          "-U "
		          "ferry -d pgbouncer -c '%s' >&2",
		          M.pgb[i], what[j]);
}

static void check_world(enum db_side w)
{
	int i, k;
	bool paused;

	for (i = 0; i < 2; i++) {
		int port = pooler(i, &paused);
		if (port != M.port[w] || paused)
			matrix_bad("pgbouncer %d points at %d%s, not at %s", i, port,
			           paused ? " paused" : "", db_side_name(w));
		if ((port = matrix_haproxy_port(M.api[i], "pay")) != M.port[w])
			matrix_bad("haproxy %d points at %d, not at %s", i, port, db_side_name(w));
	}
	for (i = 0; i < NDB; i++) {
		/* the writer hands out ids past every row it holds (the
		 * switch carried the sequences over) */
		/* (one statement: its snapshot is taken before the
		 * sequence is read, so every row it sees has an id the
		 * sequence handed out already) */
		int64_t max = val(M.ci[i][w], "SELECT coalesce(max(id), 0) FROM orders");
		if (val(M.ci[i][w],
		        "SELECT count(*) FROM pg_sequences WHERE sequencename = 'orders_id_seq' "
		        "AND "
		        "coalesce(last_value, 0) < (SELECT coalesce(max(id), 0) FROM orders)") != 0)
			matrix_bad(
			        "database %s: the writer's sequence is below its rows' ids (%lld)",
			        dbname[i], (long long)max);
		if (fenced(i, w))
			matrix_bad("database %s: the writer %s is fenced", dbname[i],
			           db_side_name(w));
		if (w == DB_NEW && !fenced(i, DB_OLD))
			matrix_bad("database %s: old is not fenced although new writes", dbname[i]);
	}
	for (k = 0; k < NLOAD; k++) {
		probe(k, w);
		if (matrix.why[0] && k < 2 && getenv("MATRIX_DEBUG")) {
			dump_pooler(k);
			getenv("MATRIX_DEBUG")[0] == 's' ? (void)matrix_sh("sleep 600") : (void)0;
		}
	}
	matrix_ledger_check(w);
}

/* ---- the cases ----------------------------------------------------------------- */

static void kill_pgbouncer_new(void)
{
	matrix_sh("kill -9 $(cat %s/pgb_new.pid)", M.srv);
}

static void restart_pgbouncer_new(enum db_direction dir)
{
	(void)dir;
	matrix_sh("rm -f %s/pgb_new.pid; runuser -u postgres -- pgbouncer -d %s/pgb_new.ini", M.srv,
	          M.srv);
	matrix_sh("for i in $(seq 100); do runuser -u postgres -- /usr/lib/postgresql/15/bin/psql "
	          "-X -q "
	          "-h 127.0.0.1 -p %d -U ferry -d pgbouncer -c 'SHOW VERSION' >/dev/null 2>&1 && "
	          "exit 0; "
	          "sleep 0.05; done; exit 1",
	          M.pgb[1]);
}

static void stop_new_server(void)
{
	matrix_sh("runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D %s/new -m immediate "
	          "-w "
	          "stop "
	          ">/dev/null 2>&1",
	          M.srv);
}

static void start_new_server(enum db_direction dir)
{
	(void)dir;
	if (matrix_sh("runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D %s/new -l "
	              "%s/new.log "
	              "-w "
	              "-t 60 start >/dev/null",
	              M.srv, M.srv) != 0)
		matrix_die("cannot start the new server again");
	engines_reopen();
}

/* A statement through pgbouncer 0 that keeps its server connection busy
 * for three budgets (transaction pooling): that pooler's PAUSE cannot
 * complete inside the budget.  Started before the preflight, running
 * before it returns. */
#define PSQL "/usr/lib/postgresql/15/bin/psql -X -q -At"

static void long_statement(void)
{
	matrix_sh(PSQL " 'host=127.0.0.1 port=%d dbname=shop user=app' -c 'SELECT pg_sleep(%d)' "
	               ">/dev/null 2>&1 &",
	          M.pgb[0], 3 * BUDGET_MS / 1000);
	if (matrix_sh(
	            "for i in $(seq 200); do " PSQL
	            " 'host=127.0.0.1 port=%d dbname=shop user=app' -c "
	            "\"SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE "
	            "'SELECT pg_sleep%%'\" 2>/dev/null | grep -qx 1 && exit 0; sleep 0.02; done; "
	            "exit 1",
	            M.pgb[0]) != 0)
		matrix_bad("the long statement did not start");
}

/* Its end, before the next case (it ends by itself). */
static void long_statement_gone(enum db_direction dir)
{
	(void)dir;
	if (matrix_sh(
	            "for i in $(seq 500); do " PSQL
	            " 'host=127.0.0.1 port=%d dbname=shop user=app' -c "
	            "\"SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%%' "
	            "AND pid <> pg_backend_pid()\" 2>/dev/null | grep -qx 0 && exit 0; sleep 0.02; "
	            "done; exit 1",
	            M.pgb[0]) != 0)
		matrix_bad("the long statement did not end");
}

/* The SIGTERM case's child: the switch (SIGTERM raised at the fence by
 * the harness); it must die of it only after the pause. */
static void child(const char *dir, enum db_direction d, struct ferry_error *err)
{
	struct orch_result res;

	setup(dir);
	engines_open();
	orch_switch(M.dbs, NDB, d, &matrix_opts, &res, err);
}

static void run_case(const struct matrix_case *c)
{
	enum db_direction dir = matrix.dir;
	struct ferry_error err = { 0 };
	struct orch_result res = { 0 };
	enum orch_outcome outcome;
	int64_t t0, t1, gap, limit_ms;
	int rc;

	/* one failure: the budget; a failed undo adds the recovery's own
	 * pause (it pauses the poolers again, points, resumes) */
	limit_ms = c->fail_at && (strstr(c->fail_at, "undo.") || strstr(c->fail_at, "recover."))
	                   ? 2 * BUDGET_MS + 1000
	                   : MATRIX_PAUSE_LIMIT_MS(BUDGET_MS);
	matrix_case_begin(c);
	t0 = time_mono_us();
	if (c->sigterm) {
		matrix_child_run(M.srv, c, dir);
		/* the next run finds the switch step open: recovery */
		engines_reopen();
		rc = orch_recover(M.dbs, NDB, dir, &matrix_opts, &res, &err);
		outcome = res.outcome;
		if (rc == 0 && outcome != ORCH_DONE)
			matrix_bad("SIGTERM inside the pause: the switch was not completed first");
	} else {
		matrix_arm(c);
		rc = orch_switch(M.dbs, NDB, dir, &matrix_opts, &res, &err);
		matrix_disarm();
		outcome = res.outcome;
	}
	t1 = time_mono_us();
	if (outcome == ORCH_REFUSED && !c->fail_at)
		matrix_bad("refused: %s", err.msg);
	if (c->repair)
		c->repair(dir);
	if (outcome == ORCH_STUCK) {
		/* the next run recovers first */
		orch_result_release(&res);
		memset(&err, 0, sizeof(err));
		engines_reopen();
		if (orch_recover(M.dbs, NDB, dir, &matrix_opts, &res, &err) < 0)
			matrix_bad("the next run's recovery failed: %s", err.msg);
		outcome = res.outcome;
	}
	if (outcome == ORCH_DONE) {
		after_steps(dir);
		matrix.dir = dir == DB_FORWARD ? DB_REVERSE : DB_FORWARD;
	}
	gap = matrix_gap(t0, t1, c->dead_load, limit_ms);
	/* the next switch's from is the writer now */
	check_world(db_from(matrix.dir));
	matrix_writers_alive();
	matrix_case_end(c, dir, outcome, res.pause_ms, gap, wait_ready(60000) == 0, NULL);
	orch_result_release(&res);
}

/* Every step of a switch, per endpoint where it fans out (2 poolers, 2
 * balancers; a step on the databases is per database). */
static const char *const steps[] = {
	"db.preflight",
	"db.prepare",
	"db.stage:1",
	"db.stage:3",
	"db.pause:1",
	"db.pause:2",
	"db.fence:1",
	"db.fence:2",
	"db.position:2",
	"db.wait_applied:1",
	"db.wait_applied:2",
	"db.finalize",
	"db.stop_forward:2",
	"db.prepare_reverse:1",
	"db.unfence_target:2",
	"db.point:1",
	"db.point:2",
	"db.confirm:2",
	"db.fence_holds:2",
	"db.commit:1",
	"db.commit:2",
	"db.resume:1",
	"db.resume:2",
	"db.start_reverse",
	"db.drop_forward",
	NULL,
};

/* A failure inside the pause, then one in each step of the undo. */
static const char *const undo_steps[] = {
	"db.confirm,db.undo.revert:1",        "db.confirm,db.undo.revert:2",
	"db.confirm,db.undo.fence_target",    "db.confirm,db.undo.drop_reverse:2",
	"db.confirm,db.undo.restart_forward", "db.confirm,db.undo.unfence:1",
	"db.confirm,db.undo.resume:2",        NULL,
};

/* ... and then one in the recovery that follows a failed undo. */
static const char *const recover_steps[] = {
	"db.confirm,db.undo.unfence,db.recover.inspect",
	"db.confirm,db.undo.unfence,db.recover.point:3",
	"db.confirm,db.undo.unfence,db.recover.unfence",
	"db.confirm,db.undo.unfence,db.recover.resume:1",
	"db.position,db.undo.resume,db.recover.fence",
	"db.position,db.undo.resume,db.recover.prepare_reverse",
	NULL,
};

int main(int argc, char **argv)
{
	static struct matrix_table t;
	const char *dir;
	size_t i;
	int k;

	if ((k = matrix_child_main(argc, argv, child)) >= 0)
		return k;
	dir = getenv("FERRY_PGTEST_DIR");
	if (!dir) {
		fprintf(stderr, "run through run.sh (FERRY_PGTEST_DIR unset)\n");
		return 77;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	setup(dir);
	matrix.load = (struct matrix_load){ .n = NLOAD,
		                            .count = load_count,
		                            .last_error = load_error,
		                            .gap_us = load_gap,
		                            .missing = missing };
	seed();
	/* every step, in both directions: twice through the list (a case
	 * that completes turns the world around) */
	matrix_table_steps(&t, steps, false, 2, false);
	matrix_table_steps(&t, undo_steps, false, 1, false);
	matrix_table_steps(&t, recover_steps, false, 1, false);
	matrix_table_add(&t, (struct matrix_case){ .name = "pgbouncer new killed inside the pause",
	                                           .act_at = "db.fence",
	                                           .act = kill_pgbouncer_new,
	                                           .repair = restart_pgbouncer_new,
	                                           .dead_load = 1 + 1 });
	matrix_table_add(&t, (struct matrix_case){ .name = "new server stopped inside the pause",
	                                           .act_at = "db.wait_applied",
	                                           .act = stop_new_server,
	                                           .repair = start_new_server });
	matrix_table_add(&t,
	                 (struct matrix_case){ .name = "a long statement: PAUSE cannot complete",
	                                       .act_at = "db.preflight",
	                                       .act = long_statement,
	                                       .repair = long_statement_gone });
	matrix_table_add(
	        &t, (struct matrix_case){ .name = "SIGTERM inside the pause", .sigterm = true });
	matrix_table_add(&t, (struct matrix_case){ .name = "a clean switch" });
	/* MATRIX_ONLY=TEXT runs the cases whose name holds TEXT (to look
	 * at one); the log shows what the orchestrator said */
	log_level_current = LOG_LEVEL_INFO;
	matrix_walk(&t, run_case);
	for (k = 0; k < NLOAD; k++) {
		pgload_stop(&M.load[k]);
		if (M.load[k].dup_errors)
			printf("note: writer %d met %lld duplicate keys (a write that committed "
			       "but whose answer was lost, tried again)\n",
			       k, (long long)M.load[k].dup_errors);
	}
	k = matrix_summary("%zu cases, writes acknowledged: %zu %zu %zu %zu", t.n,
	                   pgload_count(&M.load[0]), pgload_count(&M.load[1]),
	                   pgload_count(&M.load[2]), pgload_count(&M.load[3]));
	for (i = 0; i < NDB; i++) {
		struct ferry_error err = { 0 };
		size_t j;
		for (j = 0; j < M.d[i].nsw; j++)
			M.d[i].sw->close(M.d[i].swep[j]);
		M.d[i].eng->teardown(M.d[i].h, &err);
		M.d[i].eng->close(M.d[i].h);
	}
	for (i = 0; i < NLOAD; i++)
		pgload_release(&M.load[i]);
	xfree_secret(M.pw, 0);
	free(M.srv);
	return k;
}
