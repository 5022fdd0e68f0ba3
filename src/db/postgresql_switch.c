/*
 * postgresql_switch.c - the PostgreSQL engine's steps of the switch
 * (db.h, struct db_switch_ops).  The orchestrator (core/orchestrator.c)
 * owns the order, the budget, the undo and the recovery; each function
 * here does one step, checks the world before it acts, and is bounded by
 * its deadline.
 *
 * One set of functions serves both ways: the cutover (DB_FORWARD, old ->
 * new) and the rollback (DB_REVERSE, new -> old) differ only in the names
 * pg_names_get() gives:
 *
 *   preflight        the subscription runs, lag < max, no apply error, the
 *                    target can publish (wal_level=logical)
 *   prepare          the publication on the target; a stale reverse slot
 *                    of an undone attempt dropped; spare connections; the
 *                    staged fence armed on the source (below)
 *   fence(side)      default_transaction_read_only on side's database, and
 *                    every table locked against writes (a writer that
 *                    bypasses the pooler cannot commit any more); its
 *                    client sessions are ended after RESUME
 *   position         pg_current_wal_insert_lsn() after the fence
 *   wait_applied     the slot's confirmed_flush_lsn reaches it (the
 *                    subscription commits synchronously, so confirmed
 *                    means applied), polled every millisecond
 *   finalize         setval on the target for every sequence
 *   stop_forward     the current subscription disabled
 *   prepare_reverse  the reverse slot on the target: after the forward
 *                    apply stopped, before any write is let in
 *   fence_holds      a staged fence's DO still runs (or completed): the
 *                    last look before the commit point, no round trip
 *   unfence(side)    the fence removed
 *   start_reverse    the staged fence completed (its sessions ended), then
 *                    the reverse subscription (no copy, existing slot)
 *   drop_forward     the forward subscription, slot and publication
 *   inspect          fences, subscriptions, slots; whether the target
 *                    holds every change of the source (confirmed position
 *                    of a slot in use, else a peek for pending changes)
 *
 * The old writer keeps its fence after the switch: applications must
 * never write to it again; the reverse subscription's apply worker is not
 * affected by default_transaction_read_only (it does not go through the
 * executor's read-only check; tests/integration/pg proves it).
 *
 * The staged fence (docs/design.md, "A fence whose cost grew with the
 * sessions"): ending N sessions costs the server N exits (~5 ms of CPU each
 * here), so the pause does not end the idle ones.  prepare gives the main
 * connection two advisory locks and opens a fence connection; fence sends
 * at once the ALTER (committed, then the second lock let go) on the main
 * connection and one DO on the fence connection that ends only the
 * sessions with a write in flight, locks every user table IN SHARE MODE,
 * waits for the second lock (the ALTER has committed: the time after it
 * tells the writable sessions from the read-only ones), raises the fence
 * position as a notice, and waits for the first lock;
 * start_reverse (after RESUME) releases the lock: the DO ends every session
 * begun before the ALTER and commits.  An undo cancels the DO: the idle
 * sessions live on, writable.  ferry dying lets the lock go: the DO
 * completes by itself.  A fence that was not armed (a recovery, an undo,
 * too many tables for the lock table) ends every session inside the pause
 * (pg_fence_on).
 *
 * Inside the pause every statement goes over a connection with hard
 * deadlines (a deadline closes it); a step after such a close uses the
 * spare connection prepare() opened.  Outside the pause a closed
 * connection is opened again.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "db/postgresql_int.h"
#include "util/buf.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* ---- connections ------------------------------------------------------- */

static struct pgsql_conn **main_of(struct pg *p, enum db_side s)
{
	return s == DB_OLD ? &p->old : &p->new;
}

static struct pgsql_conn **spare_of(struct pg *p, enum db_side s)
{
	return s == DB_OLD ? &p->old_spare : &p->new_spare;
}

/* The connection to side for a step inside the pause: the main one while
 * it is open, else the spare; hard deadlines on. */
static struct pgsql_conn *conn_pause(struct pg *p, enum db_side s, struct ferry_error *err)
{
	struct pgsql_conn *c = *main_of(p, s);

	if (!pgsql_ok(c))
		c = *spare_of(p, s);
	if (!pgsql_ok(c)) {
		ferry_error_set(err, FERRY_EUNREACH, "the next run reconnects and recovers",
		                "database %s %s: no open connection left in the pause",
		                p->cfg->name, db_side_name(s));
		return NULL;
	}
	pgsql_set_hard_deadlines(c, true);
	return c;
}

/* The connection for a step outside the pause: reopened if it was closed,
 * hard deadlines off. */
static struct pgsql_conn *conn_soft(struct pg *p, enum db_side s, struct ferry_error *err)
{
	if (pg_reconnect(p, s, err) < 0)
		return NULL;
	pgsql_set_hard_deadlines(*main_of(p, s), false);
	return *main_of(p, s);
}

static const char *dbname(struct pg *p, enum db_side s)
{
	return p->dbname[s];
}

/* ---- before the pause ------------------------------------------------- */

static int sw_preflight(void *h, enum db_direction dir, struct ferry_error *err)
{
	struct pg *p = h;
	struct pg_names n;
	struct db_lag lag;
	int64_t max_lag = p->cfg->max_lag_ms ? p->cfg->max_lag_ms : 1000;
	bool enabled = false;
	char *wal = NULL, *who = NULL;
	int64_t until;
	const char *params[1] = { "wal_level" };
	struct ferry_error e = { 0 };
	int rc;

	if (!conn_soft(p, DB_OLD, err) || !conn_soft(p, DB_NEW, err))
		return err ? err->code : FERRY_EUNREACH;
	pg_names_get(p, dir, &n);
	rc = pg_sub_exists(n.to, n.cur_sub, &enabled, NULL, err);
	if (rc < 0)
		return rc;
	if (rc == 0 || !enabled)
		return ferry_error_set(err, FERRY_ECHECK, "start replication and let it catch up",
		                       "database %s: subscription %s on %s is %s", p->cfg->name,
		                       n.cur_sub, n.to_side, rc == 0 ? "missing" : "disabled");
	rc = db_engine_postgresql.lag(p, dir, &lag, err);
	/* errors counted before (a new run knows nothing of them): past once
	 * the stream applies what the source holds now, which a stream that
	 * runs does within its lag.  And the lag is the age of the last
	 * position the receiver reported, which under a steady stream of
	 * writes moves in steps (a report a second or so): one sample over
	 * the limit is not a stream that is behind; a few seconds of them
	 * are (the caller waited for the lag before, so this is short) */
	for (until = time_mono_ms() + PG_ERR_PROOF_MS;
	     rc == 0 && lag.worker_running &&
	     (lag.recovering || lag.connecting || (lag.apply_errors == 0 && lag.ms > max_lag)) &&
	     time_mono_ms() < until;) {
		poll(NULL, 0, 10);
		rc = db_engine_postgresql.lag(p, dir, &lag, err);
	}
	if (rc < 0)
		return rc;
	/* its session on from may still be starting: the fence would end
	 * it, and the pause would wait for a worker started again seconds
	 * later */
	if (lag.worker_running && lag.connecting)
		return ferry_error_set(err, FERRY_ECHECK,
		                       "run again in a few seconds; if it stays so, the source's "
		                       "log says why the stream cannot connect",
		                       "database %s: replication %s -> %s not ready: its worker "
		                       "has not connected to %s yet (slot %s not in use)",
		                       p->cfg->name, n.from_side, n.to_side, n.from_side,
		                       n.cur_slot);
	if (!lag.worker_running || lag.ms > max_lag || lag.apply_errors > 0)
		return ferry_error_set(
		        err, FERRY_ECHECK, "wait for replication to catch up and fix apply errors",
		        "database %s: replication %s -> %s not ready: lag %lld bytes, "
		        "%lld ms, worker %s, %lld apply errors%s",
		        p->cfg->name, n.from_side, n.to_side, (long long)lag.bytes,
		        (long long)lag.ms, lag.worker_running ? "running" : "missing",
		        (long long)lag.apply_errors,
		        lag.recovering ? " (not yet applied past)" : "");
	/* the new writer must be able to publish (reverse replication) */
	rc = pgsql_query_value(n.to, pg_sql_setting, 1, params, pg_deadline(PG_TIMEOUT_MS), &wal,
	                       err);
	if (rc < 0)
		return rc;
	if (!wal || strcmp(wal, "logical"))
		rc = ferry_error_set(err, FERRY_ECHECK,
		                     "set wal_level=logical on it and restart it",
		                     "database %s: %s cannot publish (wal_level=%s): no reverse "
		                     "replication, no rollback",
		                     p->cfg->name, n.to_side, wal ? wal : "?");
	free(wal);
	if (rc < 0)
		return rc;
	/* the fence ends every other session of the writer: say whose */
	if (pgsql_query_value(n.from, pg_sql_sessions_who, 0, NULL, pg_deadline(5000), &who, &e) ==
	            0 &&
	    who)
		log_info("database %s: sessions the fence will end on %s (poolers and direct "
		         "writers): %s",
		         p->cfg->name, n.from_side, who);
	free(who);
	return 0;
}

static int open_spare(struct pg *p, enum db_side s, struct ferry_error *err)
{
	const struct db_config *c = p->cfg;
	struct pgsql_conn **sp = spare_of(p, s);
	char what[256];
	int rc;

	if (pgsql_ok(*sp))
		return 0;
	pgsql_free(*sp);
	*sp = NULL;
	snprintf(what, sizeof(what), "database %s %s (spare)", c->name, db_side_name(s));
	rc = pgsql_connect(sp, s == DB_OLD ? c->old_conninfo : c->new_conninfo,
	                   s == DB_OLD ? c->old_password : c->new_password, what, err);
	if (rc == 0)
		rc = pgsql_exec(*sp, pg_sql_session_rw, 0, NULL, pg_deadline(PG_TIMEOUT_MS), NULL,
		                err);
	return rc;
}

int pg_warm(struct pgsql_conn *c, int64_t deadline, struct ferry_error *err)
{
	const char *never[1] = { "-infinity" };
	int rc = pgsql_exec(c, "DO $ferry$ BEGIN END $ferry$", 0, NULL, deadline, NULL, err);

	if (rc == 0)
		rc = pgsql_exec(c, pg_sql_fence_wait, 1, never, deadline, NULL, err);
	if (rc == 0)
		rc = pgsql_exec(c, pg_sql_sequences, 0, NULL, deadline, NULL, err);
	return rc;
}

/* The staged fence of side, ready for the pause: when it cannot be (too
 * many tables, the lock taken, the fence connection refused) the fence
 * ends every session inside the pause, as it says. */
static int arm(struct pg *p, enum db_side s)
{
	const struct db_config *c = p->cfg;
	struct ferry_error e = { 0 };
	char what[160];
	int rc;

	snprintf(what, sizeof(what), "database %s %s", c->name, db_side_name(s));
	rc = pg_fence_arm(*main_of(p, s), &p->stage[s],
	                  s == DB_OLD ? c->old_conninfo : c->new_conninfo,
	                  s == DB_OLD ? c->old_password : c->new_password, what,
	                  pg_deadline(PG_TIMEOUT_MS), &e);
	if (rc != 0)
		log_info("%s: the fence will end every session inside the pause (%s)", what, e.msg);
	return 0;
}

static int sw_prepare(void *h, enum db_direction dir, struct ferry_error *err)
{
	struct pg *p = h;
	struct pg_names n;
	int rc, have_sub, s;

	for (s = DB_OLD; s <= DB_NEW; s++) {
		struct pgsql_conn *c = conn_soft(p, (enum db_side)s, err);
		if (!c)
			return err ? err->code : FERRY_EUNREACH;
		/* the fence names the database: read it now, not in the pause */
		if (!p->dbname[s]) {
			rc = pgsql_query_value(c, pg_sql_current_db, 0, NULL,
			                       pg_deadline(PG_TIMEOUT_MS), &p->dbname[s], err);
			if (rc < 0)
				return rc;
		}
		rc = open_spare(p, (enum db_side)s, err);
		if (rc == 0)
			rc = pg_warm(c, pg_deadline(PG_TIMEOUT_MS), err);
		if (rc == 0)
			rc = pg_warm(*spare_of(p, (enum db_side)s), pg_deadline(PG_TIMEOUT_MS),
			             err);
		if (rc < 0)
			return rc;
	}
	pg_names_get(p, dir, &n);
	rc = pg_pub_ensure(n.to, n.new_pub, err);
	if (rc < 0)
		return rc;
	rc = arm(p, n.from_id);
	if (rc < 0)
		return rc;
	/* a reverse slot left by an earlier, undone attempt would hold WAL
	 * from a stale position: start from a clean one */
	have_sub = pg_sub_exists(n.from, n.new_sub, NULL, NULL, err);
	if (have_sub < 0)
		return have_sub;
	if (have_sub == 0)
		rc = pg_slot_drop(n.to, n.new_slot, pg_deadline(PG_TIMEOUT_MS), err);
	if (rc == 0) {
		const struct db_config *c = p->cfg;
		struct ferry_error e = { 0 };
		char what[160];

		snprintf(what, sizeof(what), "database %s %s", c->name, n.to_side);
		p->warm_side = n.to_id;
		/* the pause does not depend on it */
		if (pg_init_file_warm(
		            &p->warm, n.to_id == DB_OLD ? c->old_conninfo : c->new_conninfo,
		            n.to_id == DB_OLD ? c->old_password : c->new_password, what, &e) < 0)
			log_warn("%s: %s (the poolers' first connections after RESUME may "
			         "build its relation cache from the catalogs)",
			         what, e.msg);
	}
	return rc;
}

/* The relation cache's init file of the target's database, written again
 * before the pause.  A catalog change removes it (CREATE PUBLICATION FOR
 * ALL TABLES, which is prepare's reverse publication; DDL; a vacuum of a
 * catalog), and the next backend to start builds its relation cache from
 * the catalogs and writes the file back.  With no backend started in
 * between, those are the poolers' first server connections to the target
 * after RESUME, each building it while the clients wait (watched in
 * bench/pg-cutover: the file was gone from prepare's publication until
 * about 20 ms after RESUME).  A connection opened now writes it; it is
 * left open (*c) until the reverse stream starts, after the pause, since a
 * backend's exit costs CPU that would meet the pause.  Nothing ferry does
 * inside the pause changes a catalog that the file holds.  Its failure is
 * the caller's to log, not to act on (FERRY_FAIL_AT=db.prepare.relcache,
 * test_pg). */
int pg_init_file_warm(struct pgsql_conn **c, const char *conninfo, const char *password,
                      const char *what, struct ferry_error *err)
{
	char name[200];
	int rc;

	pgsql_free(*c);
	*c = NULL;
	rc = fault_fail("db.prepare.relcache", err);
	if (rc < 0)
		return rc;
	snprintf(name, sizeof(name), "%s (relation cache)", what);
	return pgsql_connect(c, conninfo, password, name, err);
}

/* ---- inside the pause ------------------------------------------------- */

/* pg_sql_fence_end() on c; dbname NULL: c's database (a recovery's
 * connections did not read it in prepare).  *ts: its answer. */
static int fence_end(struct pgsql_conn *c, const char *dbname, bool on, const char *keep,
                     int64_t deadline, char **ts, struct ferry_error *err)
{
	char *sql, *db = NULL;
	int rc;

	*ts = NULL;
	rc = pg_dbname(c, &dbname, &db, deadline, err);
	if (rc < 0)
		return rc;
	sql = pg_sql_fence_end(dbname, on, keep);
	rc = pgsql_query_value(c, sql, 0, NULL, deadline, ts, err);
	free(sql);
	free(db);
	return rc;
}

int pg_fence_on(struct pgsql_conn *c, const char *dbname, const char *keep, const char *what,
                int64_t deadline, char **pos, struct ferry_error *err)
{
	struct pgsql_result r;
	char *ts = NULL;
	const char *left = "some";
	int rc;

	if (pos)
		*pos = NULL;
	/* the fence and the signals in one round trip (pg_sql_fence_end) */
	rc = fence_end(c, dbname, true, keep, deadline, &ts, err);
	if (rc < 0)
		return rc;
	/* then only the sessions that could still commit are waited for,
	 * polled every millisecond (pg_terminate_backend(pid, timeout) polls
	 * every 100 ms); the position comes with the answer that finds none */
	memset(&r, 0, sizeof(r));
	for (;;) {
		const char *params[1] = { ts };
		rc = pgsql_exec(c, pg_sql_fence_wait, 1, params, deadline, &r, err);
		if (rc < 0)
			break;
		if (r.nrows == 1 && pgsql_result_get(&r, 0, 0)) {
			if (pos)
				*pos = xstrdup(pgsql_result_get(&r, 0, 0));
			break;
		}
		left = r.nrows == 1 && pgsql_result_get(&r, 0, 1) ? pgsql_result_get(&r, 0, 1)
		                                                  : "some";
		if (time_mono_ms() >= deadline) {
			rc = ferry_error_set(err, FERRY_ETIMEDOUT,
			                     "find the session that does not end",
			                     "%s: %s sessions did not end in time", what, left);
			break;
		}
		pgsql_result_release(&r);
		poll(NULL, 0, 1);
	}
	pgsql_result_release(&r);
	free(ts);
	return rc;
}

/* ---- the staged fence ---------------------------------------------------- */

int pg_fence_arm(struct pgsql_conn *main, struct pg_fence_stage **stp, const char *conninfo,
                 const char *password, const char *what, int64_t deadline, struct ferry_error *err)
{
	struct pg_fence_stage *st = *stp;
	struct pgsql_result r;
	char *got = NULL, name[200];
	int rc;

	if (st && st->running)
		return ferry_error_set(err, FERRY_ESTATE, NULL, "%s: a fence is still running",
		                       what);
	if (!st)
		st = *stp = xcalloc(1, sizeof(*st));
	/* a fence connection left from an earlier switch may have been
	 * ended since (a fence that ends every session): asked, else opened
	 * again */
	if (pgsql_ok(st->fence) &&
	    pgsql_exec(st->fence, "SELECT 1", 0, NULL, deadline, NULL, NULL) < 0) {
		pgsql_free(st->fence);
		st->fence = NULL;
	}
	if (!pgsql_ok(st->fence)) {
		pgsql_free(st->fence);
		st->fence = NULL;
		snprintf(name, sizeof(name), "%s (fence)", what);
		rc = pgsql_connect(&st->fence, conninfo, password, name, err);
		if (rc == 0)
			rc = pgsql_exec(st->fence, pg_sql_fence_conn, 0, NULL, deadline, NULL, err);
		if (rc == 0)
			rc = pg_warm(st->fence, deadline, err);
		if (rc < 0)
			return rc;
	}
	/* one lock per table for the DO: a database whose tables would take
	 * a quarter of the server's lock table keeps the fence that ends
	 * every session inside the pause */
	rc = pgsql_exec(main, pg_sql_fence_fits, 0, NULL, deadline, &r, err);
	if (rc == 0 && r.nrows == 1 &&
	    pgsql_result_int(&r, 0, 0, 0) * 4 > pgsql_result_int(&r, 0, 1, 0))
		rc = ferry_error_set(err, FERRY_ECHECK, "raise max_locks_per_transaction",
		                     "%s: %lld tables for a lock table of %lld", what,
		                     (long long)pgsql_result_int(&r, 0, 0, 0),
		                     (long long)pgsql_result_int(&r, 0, 1, 0));
	else if (rc == 0 && r.nrows == 1 && pgsql_result_int(&r, 0, 2, 0) > 0)
		rc = ferry_error_set(err, FERRY_ECHECK, "grant it UPDATE on every table",
		                     "%s: ferry's role may not lock %lld tables", what,
		                     (long long)pgsql_result_int(&r, 0, 2, 0));
	pgsql_result_release(&r);
	if (rc == FERRY_ECHECK)
		return 1;
	if (rc < 0)
		return rc;
	/* taken once per main connection: advisory locks count, and the
	 * DO waits until the last is let go */
	if (st->main_pid == pgsql_backend_pid(main))
		return 0;
	rc = pgsql_query_value(main, pg_sql_fence_lock, 0, NULL, deadline, &got, err);
	if (rc == 0 && (!got || strcmp(got, "t")))
		rc = ferry_error_set(err, FERRY_ECHECK, NULL,
		                     "%s: another session holds ferry's fence lock", what);
	free(got);
	if (rc == FERRY_ECHECK)
		return 1;
	if (rc == 0)
		st->main_pid = pgsql_backend_pid(main);
	return rc;
}

bool pg_fence_armed(const struct pgsql_conn *main, const struct pg_fence_stage *st)
{
	return st && !st->running && st->main_pid && pgsql_ok(main) &&
	       pgsql_backend_pid(main) == st->main_pid && pgsql_ok(st->fence) &&
	       !pgsql_busy(st->fence);
}

int pg_fence_stage_on(struct pgsql_conn *c, struct pg_fence_stage *st, const char *dbname,
                      const char *keep, const char *what, int64_t deadline, char **pos,
                      struct ferry_error *err)
{
	struct pgsql_result r;
	char *sql;
	int rc;

	*pos = NULL;
	free(st->before);
	st->before = NULL;
	/* the ALTER committed, the sessions still starting ended: one round
	 * trip; the answer is the time after it and the sessions before it */
	sql = pg_sql_fence_stage(dbname);
	rc = pgsql_exec(c, sql, 0, NULL, deadline, &r, err);
	free(sql);
	if (rc == 0 && (r.nrows != 1 || r.ncols != 2 || !pgsql_result_get(&r, 0, 0)))
		rc = ferry_error_set(err, FERRY_EPROTO, NULL, "%s: the fence answered %d rows",
		                     what, r.nrows);
	if (rc == 0) {
		st->before = xstrdup(pgsql_result_get(&r, 0, 1) ?: "{}");
		sql = pg_sql_fence_do(pgsql_result_get(&r, 0, 0), keep);
		pgsql_set_hard_deadlines(st->fence, true);
		rc = pgsql_send(st->fence, sql, 0, NULL, err);
		free(sql);
	}
	pgsql_result_release(&r);
	if (rc < 0)
		return rc;
	st->running = true;
	st->pid = pgsql_backend_pid(st->fence);
	st->ended = 0;
	rc = pgsql_wait_notice(st->fence, "ferry-fence-pos ", deadline, err);
	if (rc == FERRY_ESTATE) {
		/* the DO ended before its notice: its error says why */
		rc = pgsql_wait(st->fence, deadline, &r, err);
		pgsql_result_release(&r);
		st->running = false;
		st->pid = 0;
		if (rc == 0)
			rc = ferry_error_set(err, FERRY_EPROTO, NULL,
			                     "%s: the fence gave no position", what);
		return rc;
	}
	if (rc == 0)
		*pos = xstrdup(pgsql_notice(st->fence, "ferry-fence-pos "));
	return rc;
}

int pg_fence_release(struct pgsql_conn *main, struct pg_fence_stage *st, int64_t deadline,
                     struct ferry_error *err)
{
	struct pgsql_result r;
	const char *n;
	char *got = NULL;
	int rc = 0;

	/* a main connection opened again holds no lock: the old one's end
	 * let it go */
	if (st->main_pid && pgsql_ok(main) && pgsql_backend_pid(main) == st->main_pid)
		rc = pgsql_query_value(main, pg_sql_fence_unlock, 0, NULL, deadline, &got, err);
	free(got);
	if (rc < 0)
		return rc;
	st->main_pid = 0;
	if (!st->running)
		return 0;
	pgsql_set_hard_deadlines(st->fence, false);
	/* its last notice, then its end; at the deadline it is not cancelled
	 * (pgsql_wait would: its table locks would go while sessions begun
	 * before the fence still live) */
	rc = pgsql_wait_notice(st->fence, "ferry-fence-ended ", deadline, err);
	if (rc == FERRY_ETIMEDOUT && pgsql_busy(st->fence))
		return rc; /* still running: the next call waits again */
	if (rc == 0 || rc == FERRY_ESTATE) {
		rc = pgsql_wait(st->fence, deadline, &r, err);
		pgsql_result_release(&r);
	}
	st->running = false;
	st->pid = 0;
	n = pgsql_notice(st->fence, "ferry-fence-ended ");
	st->ended = n ? strtoll(n, NULL, 10) : 0;
	return rc;
}

/* Ends backend pid (from c) and waits until it is gone. */
static int backend_gone(struct pgsql_conn *c, int pid, const char *what, int64_t deadline,
                        struct ferry_error *err)
{
	char pids[24], *n = NULL;
	const char *params[1] = { pids };
	int rc;

	snprintf(pids, sizeof(pids), "%d", pid);
	for (;;) {
		free(n);
		n = NULL;
		rc = pgsql_query_value(c, pg_sql_backend_end, 1, params, deadline, &n, err);
		if (rc < 0 || (n && !strcmp(n, "0")))
			break;
		if (time_mono_ms() >= deadline) {
			rc = ferry_error_set(err, FERRY_ETIMEDOUT, "retry: the next run recovers",
			                     "%s: the fence's session (pid %s) did not end", what,
			                     pids);
			break;
		}
		poll(NULL, 0, 1);
	}
	free(n);
	return rc;
}

int pg_fence_cancel(struct pgsql_conn *c, struct pg_fence_stage *st, int64_t deadline,
                    struct ferry_error *err)
{
	struct pgsql_result r;
	char pid[24];
	const char *params[1] = { pid };
	int rc;

	if (!st || !st->running)
		return 0;
	snprintf(pid, sizeof(pid), "%d", st->pid);
	if (pgsql_ok(st->fence) && pgsql_busy(st->fence)) {
		struct ferry_error e = { 0 };
		rc = pgsql_exec(c, pg_sql_fence_cancel, 1, params, deadline, NULL, err);
		if (rc < 0)
			return rc;
		/* its error (57014), or its end when it had completed */
		rc = pgsql_wait(st->fence, deadline, &r, &e);
		pgsql_result_release(&r);
		if (rc == 0 || rc == FERRY_EREFUSED) {
			st->running = false;
			st->pid = 0;
			return 0;
		}
	}
	/* its connection is gone: the backend may still run the DO */
	rc = backend_gone(c, st->pid, pgsql_what(c), deadline, err);
	if (rc == 0) {
		pgsql_free(st->fence);
		st->fence = NULL;
		st->running = false;
		st->pid = 0;
	}
	return rc;
}

void pg_fence_stage_free(struct pg_fence_stage *st)
{
	if (!st)
		return;
	pgsql_free(st->fence);
	free(st->before);
	free(st);
}

/* ferry's spare connection on side: the fence and the unfence leave it
 * open (it is exempt from the fence, as the main one) */
static int spare_pid(struct pg *p, enum db_side s)
{
	return pgsql_ok(*spare_of(p, s)) ? pgsql_backend_pid(*spare_of(p, s)) : 0;
}

/* What a fence or an unfence over c (its own session is spared by
 * pg_backend_pid()) leaves open on side: ferry's spare connection; with
 * warm, prepare's connection too (it never writes, and its end would be
 * a backend's exit inside the pause); and the pids of also.  A pid array
 * literal, or NULL. */
static char *ferry_pids(struct pg *p, enum db_side side, struct pgsql_conn *c, bool warm,
                        const char *also)
{
	int pids[2] = { c == *spare_of(p, side) ? 0 : spare_pid(p, side), 0 };

	if (warm && pgsql_ok(p->warm) && p->warm_side == side)
		pids[1] = pgsql_backend_pid(p->warm);
	return pgsql_pid_array(pids, 2, also);
}

static int sw_fence(void *h, enum db_side side, int64_t deadline, struct ferry_error *err)
{
	struct pg *p = h;
	struct pgsql_conn *c = conn_pause(p, side, err);
	struct pg_fence_stage *st = p->stage[side];
	char what[160], *keep;
	int rc;

	free(p->fence_pos[side]);
	p->fence_pos[side] = NULL;
	if (!c)
		return err ? err->code : FERRY_EUNREACH;
	/* kept while the fence may still run on the server (fence_gone) */
	p->fence_pid[side] = pgsql_backend_pid(c);
	snprintf(what, sizeof(what), "database %s %s", p->cfg->name, db_side_name(side));
	keep = ferry_pids(p, side, c, false, NULL);
	if (pg_fence_armed(c, st)) {
		/* the DO runs on the fence's connection: main is kept too */
		int main_pid = pgsql_backend_pid(c);
		char *staged = pgsql_pid_array(&main_pid, 1, keep);
		rc = pg_fence_stage_on(c, st, dbname(p, side), staged, what, deadline,
		                       &p->fence_pos[side], err);
		free(staged);
		/* its DO refused (a lock it may not take...): the ALTER is
		 * on, the fence that ends every session finishes the job */
		if (rc == FERRY_EREFUSED && !st->running && pgsql_ok(c)) {
			log_info("%s: the staged fence failed (%s): ending every session", what,
			         err ? err->msg : "");
			rc = pg_fence_on(c, dbname(p, side), keep, what, deadline,
			                 &p->fence_pos[side], err);
		}
	} else {
		/* not staged (a recovery, an undo, a database with too many
		 * tables): every session ended inside the pause; a DO still
		 * running is ended with them */
		if (st && st->running) {
			pgsql_free(st->fence);
			st->fence = NULL;
			st->running = false;
		}
		rc = pg_fence_on(c, dbname(p, side), keep, what, deadline, &p->fence_pos[side],
		                 err);
	}
	free(keep);
	if (rc == 0 || pgsql_ok(c))
		p->fence_pid[side] = 0;
	return rc;
}

int pg_unfence_on(struct pgsql_conn *c, const char *dbname, const char *keep, int64_t deadline,
                  struct ferry_error *err)
{
	/* A session that started under the fence keeps its read-only
	 * default after the RESET: the client sessions are ended (the
	 * applications reconnect, writable; the apply workers are not client
	 * backends) but keep (ferry's, and those a staged fence saw before
	 * its ALTER).  Signalled only: nothing waits for them here. */
	char *ts = NULL;
	int rc = fence_end(c, dbname, false, keep, deadline, &ts, err);

	free(ts);
	return rc;
}

/* A fence whose connection was closed at a deadline may still be running
 * on the server: its backend is ended, and gone, before the fence is
 * removed, or its ALTER could commit after the RESET and leave the fence
 * on. */
static int fence_gone(struct pg *p, enum db_side side, struct pgsql_conn *c, int64_t deadline,
                      struct ferry_error *err)
{
	char what[160];
	int rc;

	if (!p->fence_pid[side] || p->fence_pid[side] == pgsql_backend_pid(c))
		return 0;
	snprintf(what, sizeof(what), "database %s %s", p->cfg->name, db_side_name(side));
	rc = backend_gone(c, p->fence_pid[side], what, deadline, err);
	if (rc == 0)
		p->fence_pid[side] = 0;
	return rc;
}

static int sw_unfence(void *h, enum db_side side, int64_t deadline, struct ferry_error *err)
{
	struct pg *p = h;
	struct pgsql_conn *c = conn_pause(p, side, err);
	char *keep;
	int rc;

	if (!c)
		return err ? err->code : FERRY_EUNREACH;
	rc = fence_gone(p, side, c, deadline, err);
	/* a staged fence's DO is cancelled first: it would end the sessions
	 * once ferry's lock goes */
	if (rc == 0)
		rc = pg_fence_cancel(c, p->stage[side], deadline, err);
	if (rc < 0)
		return rc;
	/* prepare's connection to the target lives on too */
	keep = ferry_pids(p, side, c, true, p->stage[side] ? p->stage[side]->before : NULL);
	rc = pg_unfence_on(c, dbname(p, side), keep, deadline, err);
	free(keep);
	if (rc == 0 && p->stage[side]) {
		free(p->stage[side]->before);
		p->stage[side]->before = NULL;
	}
	return rc;
}

static int sw_position(void *h, enum db_direction dir, int64_t deadline, char **pos,
                       struct ferry_error *err)
{
	struct pg *p = h;
	struct pgsql_conn *c = conn_pause(p, db_from(dir), err);

	*pos = NULL;
	/* the fence read it once no session could commit any more */
	if (p->fence_pos[db_from(dir)]) {
		*pos = p->fence_pos[db_from(dir)];
		p->fence_pos[db_from(dir)] = NULL;
		return 0;
	}
	return c ? pgsql_query_value(c, pg_sql_wal_lsn, 0, NULL, deadline, pos, err)
	         : (err ? err->code : FERRY_EUNREACH);
}

int pg_applied_wait(struct pgsql_conn *from, const char *slot, const char *pos, const char *what,
                    int64_t deadline, struct ferry_error *err)
{
	const char *params[2] = { pos, slot };
	struct pgsql_result r;
	bool flushed = false;
	int rc;

	for (;;) {
		rc = pgsql_exec(from, pg_sql_wait_applied, 2, params, deadline, &r, err);
		if (rc < 0)
			return rc;
		if (r.nrows == 1 && !strcmp(pgsql_result_get(&r, 0, 0) ?: "f", "t")) {
			pgsql_result_release(&r);
			return 0;
		}
		/* pos is the insert pointer, and the walsender sends nothing
		 * past the flush pointer.  WAL that no synchronous commit
		 * flushed (an asynchronous commit, a page a read pruned)
		 * waits for the WAL writer, every wal_writer_delay (200 ms by
		 * default), and nothing else commits on a fenced source: one
		 * commit of ours flushes it now (once; its error is not the
		 * switch's, the polls go on to the deadline) */
		if (!flushed && r.nrows == 1 && !strcmp(pgsql_result_get(&r, 0, 1) ?: "t", "f")) {
			struct ferry_error e = { 0 };
			flushed = true;
			if (pgsql_exec(from, pg_sql_wal_flush, 0, NULL, deadline, NULL, &e) < 0)
				log_info("%s: cannot flush the WAL up to %s: %s", what, pos, e.msg);
		}
		pgsql_result_release(&r);
		if (time_mono_ms() >= deadline)
			return ferry_error_set(err, FERRY_ETIMEDOUT,
			                       "let replication catch up first",
			                       "%s did not apply up to %s in time", what, pos);
		poll(NULL, 0, 1);
	}
}

static int sw_wait_applied(void *h, enum db_direction dir, const char *pos, int64_t deadline,
                           struct ferry_error *err)
{
	struct pg *p = h;
	struct pg_names n;
	struct pgsql_conn *c = conn_pause(p, db_from(dir), err);
	char what[160];

	if (!c)
		return err ? err->code : FERRY_EUNREACH;
	pg_names_get(p, dir, &n);
	snprintf(what, sizeof(what), "database %s: %s", p->cfg->name, n.to_side);
	return pg_applied_wait(c, n.cur_slot, pos, what, deadline, err);
}

int pg_sequences_copy(struct pgsql_conn *from, struct pgsql_conn *to, int64_t deadline,
                      int64_t *count, struct ferry_error *err)
{
	struct pgsql_result res;
	struct buf sql;
	int rc, i, inbatch = 0;

	*count = 0;
	rc = pgsql_exec(from, pg_sql_sequences, 0, NULL, deadline, &res, err);
	if (rc < 0)
		return rc;
	buf_init(&sql, 64 << 20);
	for (i = 0; i < res.nrows && rc == 0; i++) {
		char *lit = pgsql_quote_literal(pgsql_result_get(&res, i, 0));
		pg_sql_setval_add(&sql, inbatch == 0, lit, pgsql_result_get(&res, i, 1));
		free(lit);
		/* one round trip for up to 1000 sequences (a select list holds
		 * at most 1664 entries) */
		if (++inbatch == PG_SETVAL_BATCH || i == res.nrows - 1) {
			rc = pgsql_exec(to, sql.data, 0, NULL, deadline, NULL, err);
			buf_reset(&sql);
			inbatch = 0;
		}
	}
	if (rc == 0)
		*count = res.nrows;
	buf_release(&sql);
	pgsql_result_release(&res);
	return rc;
}

static int sw_finalize(void *h, enum db_direction dir, int64_t deadline, int64_t *count,
                       struct ferry_error *err)
{
	struct pg *p = h;
	struct pgsql_conn *from = conn_pause(p, db_from(dir), err);
	struct pgsql_conn *to = from ? conn_pause(p, db_to(dir), err) : NULL;

	*count = 0;
	if (!to)
		return err ? err->code : FERRY_EUNREACH;
	return pg_sequences_copy(from, to, deadline, count, err);
}

static int sub_alter(struct pgsql_conn *c, const char *sub, const char *what, int64_t deadline,
                     struct ferry_error *err)
{
	char *sql = pg_sql_sub_alter(sub, what);
	int rc = pgsql_exec(c, sql, 0, NULL, deadline, NULL, err);

	free(sql);
	return rc;
}

static int forward_set(struct pg *p, enum db_direction dir, bool on, int64_t deadline,
                       struct ferry_error *err)
{
	struct pgsql_conn *to = conn_pause(p, db_to(dir), err);
	struct pg_names n;

	if (!to)
		return err ? err->code : FERRY_EUNREACH;
	pg_names_get(p, dir, &n);
	return sub_alter(to, n.cur_sub, on ? "ENABLE" : "DISABLE", deadline, err);
}

static int sw_stop_forward(void *h, enum db_direction dir, int64_t deadline,
                           struct ferry_error *err)
{
	return forward_set(h, dir, false, deadline, err);
}

static int sw_restart_forward(void *h, enum db_direction dir, int64_t deadline,
                              struct ferry_error *err)
{
	return forward_set(h, dir, true, deadline, err);
}

/* A staged fence's DO still holds its table locks, or completed.  Asked
 * last before the commit point: a DO that failed in the pause (cancelled
 * or ended by someone else) let the locks go, and a session begun before
 * the fence may write to side after the position: the switch is undone.
 * Without a round trip (what has arrived on its connection). */
static int sw_fence_holds(void *h, enum db_side side, int64_t deadline, struct ferry_error *err)
{
	struct pg *p = h;
	struct pg_fence_stage *st = p->stage[side];
	struct ferry_error e = { 0 };
	struct pgsql_result r;
	int rc;

	if (!st || !st->running || pgsql_running(st->fence))
		return 0;
	rc = pgsql_wait(st->fence, deadline, &r, &e);
	pgsql_result_release(&r);
	/* its end came (else its backend may still run it: the undo ends it) */
	if (rc == 0 || rc == FERRY_EREFUSED) {
		st->running = false;
		st->pid = 0;
	}
	/* completed: the main connection, closed at a deadline, let its lock
	 * go, and the DO ended every session begun before the fence */
	if (rc == 0)
		return 0;
	return ferry_error_set(err, FERRY_ESTATE, "find what cancels or ends ferry's sessions",
	                       "database %s %s: the fence's DO ended inside the pause (%s)",
	                       p->cfg->name, db_side_name(side), rc < 0 ? e.msg : "no error");
}

static int sw_prepare_reverse(void *h, enum db_direction dir, int64_t deadline,
                              struct ferry_error *err)
{
	struct pg *p = h;
	struct pgsql_conn *to = conn_pause(p, db_to(dir), err);
	struct pg_names n;
	const char *params[1];
	char *lsn = NULL;
	int rc;

	if (!to)
		return err ? err->code : FERRY_EUNREACH;
	pg_names_get(p, dir, &n);
	params[0] = n.new_slot;
	rc = pgsql_query_value(to, pg_sql_create_slot, 1, params, deadline, &lsn, err);
	/* 42710 duplicate_object: a recovery that finishes a switch finds the
	 * slot made by the run it finishes */
	if (rc < 0 && !strcmp(pgsql_sqlstate(to), "42710"))
		rc = pgsql_query_value(to, pg_sql_slot_start, 1, params, deadline, &lsn, err);
	if (rc == 0)
		snprintf(p->slot_lsn, sizeof(p->slot_lsn), "%s", lsn ? lsn : "");
	free(lsn);
	return rc;
}

static int sw_drop_reverse(void *h, enum db_direction dir, int64_t deadline,
                           struct ferry_error *err)
{
	struct pg *p = h;
	struct pgsql_conn *to = conn_pause(p, db_to(dir), err);
	struct pg_names n;

	if (!to)
		return err ? err->code : FERRY_EUNREACH;
	pg_names_get(p, dir, &n);
	return pg_slot_drop(to, n.new_slot, deadline, err);
}

/* ---- after the pause ----------------------------------------------------- */

/* After RESUME: a staged fence's DO is let go and waited for (it ends
 * the sessions begun before the fence), before anything else on side (the
 * reverse subscription's apply would wait on its table locks).  A DO
 * that failed leaves the fence without its end: the fence that ends
 * every session is run then. */
static int fence_complete(struct pg *p, enum db_side side, struct ferry_error *err)
{
	struct pg_fence_stage *st = p->stage[side];
	struct pgsql_conn *c = *main_of(p, side);
	struct ferry_error e = { 0 };
	char what[160], *keep;
	bool was;
	int rc;

	if (!st || (!st->running && !st->main_pid))
		return 0;
	snprintf(what, sizeof(what), "database %s %s", p->cfg->name, db_side_name(side));
	was = st->running;
	rc = pg_fence_release(c, st, pg_deadline(PG_TIMEOUT_MS), &e);
	if (rc == 0) {
		if (was)
			log_info("%s: the fence ended %lld sessions begun before it", what,
			         (long long)st->ended);
		return 0;
	}
	if (st->running) {
		if (err)
			*err = e;
		return rc;
	}
	log_info("%s: the fence's end failed (%s): ending every session", what, e.msg);
	keep = ferry_pids(p, side, c, false, NULL);
	rc = pg_fence_on(c, dbname(p, side), keep, what, pg_deadline(PG_TIMEOUT_MS), NULL, err);
	free(keep);
	return rc;
}

static int sw_start_reverse(void *h, enum db_direction dir, struct ferry_error *err)
{
	struct pg *p = h;
	struct pg_names n;
	const char *params[1];
	char *opts, *sql, *lsn = NULL;
	int rc;

	/* after the switch: its exit no longer meets the pause */
	pgsql_free(p->warm);
	p->warm = NULL;
	if (!conn_soft(p, DB_OLD, err) || !conn_soft(p, DB_NEW, err))
		return err ? err->code : FERRY_EUNREACH;
	pg_names_get(p, dir, &n);
	rc = fence_complete(p, n.from_id, err);
	if (rc < 0)
		return rc;
	rc = pg_sub_exists(n.from, n.new_sub, NULL, NULL, err);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	/* where the reverse slot starts, for the rollback's "carried back"
	 * count: this run's, or the slot's own after a crash */
	if (!p->slot_lsn[0]) {
		params[0] = n.new_slot;
		rc = pgsql_query_value(n.to, pg_sql_slot_start, 1, params,
		                       pg_deadline(PG_TIMEOUT_MS), &lsn, err);
		if (rc < 0)
			return rc;
		snprintf(p->slot_lsn, sizeof(p->slot_lsn), "%s", lsn ? lsn : "");
		free(lsn);
	}
	opts = pg_sub_opts_on_slot(n.new_slot);
	rc = pg_sub_create(n.from, n.new_sub, n.to_from_from, n.to_password, n.new_pub, opts, err);
	free(opts);
	if (rc < 0)
		return rc;
	/* the catalog keeps the start across a crash of ferry */
	sql = pg_sql_sub_comment(n.new_sub, p->slot_lsn);
	rc = pgsql_exec(n.from, sql, 0, NULL, pg_deadline(PG_TIMEOUT_MS), NULL, err);
	free(sql);
	return rc;
}

static int sw_drop_forward(void *h, enum db_direction dir, struct ferry_error *err)
{
	struct pg *p = h;
	struct pg_names n;
	int rc;

	if (!conn_soft(p, DB_OLD, err) || !conn_soft(p, DB_NEW, err))
		return err ? err->code : FERRY_EUNREACH;
	pg_names_get(p, dir, &n);
	rc = pg_sub_drop_local(n.to, n.cur_sub, err);
	if (rc == 0)
		rc = pg_slot_drop(n.from, n.cur_slot, pg_deadline(PG_TIMEOUT_MS), err);
	if (rc == 0)
		rc = pg_pub_drop(n.from, n.cur_pub, err);
	return rc;
}

static int sw_carried(void *h, enum db_direction dir, const char *fence_pos, int64_t *txns,
                      int64_t *bytes, struct ferry_error *err)
{
	struct pg *p = h;
	struct pg_names n;
	struct pgsql_result res;
	const char *params[3];
	char *start = NULL;
	int rc;

	*txns = *bytes = 0;
	if (!conn_soft(p, DB_OLD, err) || !conn_soft(p, DB_NEW, err))
		return err ? err->code : FERRY_EUNREACH;
	pg_names_get(p, dir, &n);
	params[0] = n.cur_sub;
	params[1] = fence_pos ? fence_pos : "";
	params[2] = n.cur_slot;
	/* the comment written by start_reverse on the side written back to */
	rc = pgsql_query_value(n.to, pg_sql_carried_start, 1, params, pg_deadline(5000), &start,
	                       err);
	if (rc == 0 && start && fence_pos && *fence_pos) {
		const char *p2[2] = { fence_pos, start };
		char *d = NULL;
		rc = pgsql_query_value(n.from, pg_sql_lsn_diff, 2, p2, pg_deadline(5000), &d, err);
		if (rc == 0 && d)
			*bytes = strtoll(d, NULL, 10);
		free(d);
	}
	free(start);
	if (rc < 0)
		return rc;
	rc = pgsql_exec(n.from, pg_sql_carried_txns, 3, params, pg_deadline(5000), &res, err);
	if (rc == 0 && res.nrows == 1)
		*txns = pgsql_result_int(&res, 0, 0, 0);
	pgsql_result_release(&res);
	return rc;
}

/* ---- recovery ----------------------------------------------------------- */

/* Does to hold every change from holds, as far as slot (on from) knows?
 * *out 1, 0, or -1 without the slot.  running: the subscription that
 * consumes slot is enabled. */
static int caught_up(struct pgsql_conn *from, const char *slot, const char *pub, bool running,
                     int *out, struct ferry_error *err)
{
	bool wait_idle = !running;
	const char *params[2] = { slot, pub };
	struct pgsql_result r;
	char *pending = NULL;
	int rc;

	int64_t until = pg_deadline(2000);

	/* a walsender lingers a moment after its subscription was disabled:
	 * wait for it to let go of the slot, so that the slot can be peeked */
	for (;;) {
		rc = pgsql_exec(from, pg_sql_slot_state, 1, params, pg_deadline(PG_TIMEOUT_MS), &r,
		                err);
		if (rc < 0)
			return rc;
		if (!wait_idle || r.nrows == 0 || time_mono_ms() > until ||
		    strcmp(pgsql_result_get(&r, 0, 0) ?: "f", "t"))
			break;
		pgsql_result_release(&r);
		poll(NULL, 0, 10);
	}
	*out = -1;
	if (r.nrows == 0) {
		pgsql_result_release(&r);
		return 0;
	}
	if (!strcmp(pgsql_result_get(&r, 0, 0) ?: "f", "t")) {
		/* in use: its consumer confirms up to the end of WAL once it
		 * has applied everything */
		*out = !strcmp(pgsql_result_get(&r, 0, 1) ?: "f", "t");
		pgsql_result_release(&r);
		return 0;
	}
	pgsql_result_release(&r);
	/* Not in use, but its subscription is enabled: the worker is being
	 * started, and a peek now would hold the slot just as the worker asks
	 * for it, which fails the worker ("replication slot ... is active
	 * for PID") and the launcher tries again only after
	 * wal_retrieve_retry_interval: not known to be caught up, no peek. */
	if (running) {
		*out = 0;
		return 0;
	}
	/* not in use (the subscription is disabled): any data change left in
	 * it was never applied on the other side */
	rc = pgsql_query_value(from, pg_sql_pending_changes, 2, params, pg_deadline(PG_TIMEOUT_MS),
	                       &pending, err);
	if (rc == 0)
		*out = pending && !strcmp(pending, "0");
	free(pending);
	return rc;
}

static int sw_inspect(void *h, enum db_direction dir, struct db_inspect *out,
                      struct ferry_error *err)
{
	struct pg *p = h;
	struct pg_names n;
	bool enabled = false;
	int rc, s;

	memset(out, 0, sizeof(*out));
	out->caught_up = -1;
	for (s = DB_OLD; s <= DB_NEW; s++) {
		struct pgsql_conn *c = conn_soft(p, (enum db_side)s, err);
		if (!c)
			return err ? err->code : FERRY_EUNREACH;
		rc = pg_fence_get(c, &out->fenced[s], err);
		if (rc < 0)
			return rc;
	}
	pg_names_get(p, dir, &n);
	rc = pg_sub_exists(n.to, n.cur_sub, &enabled, NULL, err);
	if (rc < 0)
		return rc;
	out->forward_exists = rc == 1;
	out->forward_running = rc == 1 && enabled;
	rc = caught_up(n.from, n.cur_slot, n.cur_pub, out->forward_running, &out->caught_up, err);
	if (rc < 0)
		return rc;
	rc = pg_slot_exists(n.to, n.new_slot, NULL, err);
	if (rc < 0)
		return rc;
	out->reverse_ready = rc == 1;
	rc = pg_sub_exists(n.from, n.new_sub, NULL, NULL, err);
	if (rc < 0)
		return rc;
	out->reverse_running = rc == 1;
	snprintf(out->detail, sizeof(out->detail),
	         "fence old %s new %s; %s %s; %s %s; slot %s %s; %s %s",
	         out->fenced[DB_OLD] ? "on" : "off", out->fenced[DB_NEW] ? "on" : "off", n.cur_sub,
	         !out->forward_exists   ? "missing"
	         : out->forward_running ? "enabled"
	                                : "disabled",
	         n.cur_slot,
	         out->caught_up == 1   ? "caught up"
	         : out->caught_up == 0 ? "behind"
	                               : "missing",
	         n.new_slot, out->reverse_ready ? "exists" : "missing", n.new_sub,
	         out->reverse_running ? "exists" : "missing");
	return 0;
}

/* ---- where applications reach a side ------------------------------------ */

int pg_target(const struct db_config *cfg, enum db_side side, char **host, int *port, char **db,
              struct ferry_error *err)
{
	const char *ci = side == DB_OLD ? cfg->old_conninfo : cfg->new_conninfo;
	char *h = pgsql_conninfo_get(ci, "host"), *pt = pgsql_conninfo_get(ci, "port");
	char *d = pgsql_conninfo_get(ci, "dbname"), *end = NULL;
	long v = pt ? strtol(pt, &end, 10) : 5432;

	if ((pt && (*end || v <= 0 || v > 65535)) || (h && strchr(h, ','))) {
		free(h);
		free(pt);
		free(d);
		return ferry_error_set(err, FERRY_EINVAL, "give one host and a numeric port",
		                       "database %s: the %s conninfo has no single host:port",
		                       cfg->name, db_side_name(side));
	}
	*host = h ? h : xstrdup("localhost");
	*port = (int)v;
	*db = d ? d : xstrdup("postgres");
	free(pt);
	return 0;
}

const struct db_switch_ops pg_switch_ops = {
	.preflight = sw_preflight,
	.prepare = sw_prepare,
	.fence = sw_fence,
	.unfence = sw_unfence,
	.position = sw_position,
	.wait_applied = sw_wait_applied,
	.finalize = sw_finalize,
	.stop_forward = sw_stop_forward,
	.restart_forward = sw_restart_forward,
	.prepare_reverse = sw_prepare_reverse,
	.drop_reverse = sw_drop_reverse,
	.fence_holds = sw_fence_holds,
	.start_reverse = sw_start_reverse,
	.drop_forward = sw_drop_forward,
	.inspect = sw_inspect,
	.carried = sw_carried,
	.describe = pg_describe_step,
};
