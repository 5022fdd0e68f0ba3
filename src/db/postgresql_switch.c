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
 *                    of an undone attempt dropped; spare connections
 *   fence(side)      default_transaction_read_only on side's database, and
 *                    its client sessions ended (a writer that bypasses the
 *                    pooler cannot commit any more)
 *   position         pg_current_wal_insert_lsn() after the fence
 *   wait_applied     the slot's confirmed_flush_lsn reaches it (the
 *                    subscription commits synchronously, so confirmed
 *                    means applied), polled every millisecond
 *   finalize         setval on the target for every sequence
 *   stop_forward     the current subscription disabled
 *   prepare_reverse  the reverse slot on the target: after the forward
 *                    apply stopped, before any write is let in
 *   unfence(side)    the fence removed
 *   start_reverse    the reverse subscription (no copy, existing slot)
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
	if (rc < 0)
		return rc;
	if (!lag.worker_running || lag.ms > max_lag || lag.apply_errors > 0)
		return ferry_error_set(
		        err, FERRY_ECHECK, "wait for replication to catch up and fix apply errors",
		        "database %s: replication %s -> %s not ready: lag %lld bytes, "
		        "%lld ms, worker %s, %lld apply errors",
		        p->cfg->name, n.from_side, n.to_side, (long long)lag.bytes,
		        (long long)lag.ms, lag.worker_running ? "running" : "missing",
		        (long long)lag.apply_errors);
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
	/* a reverse slot left by an earlier, undone attempt would hold WAL
	 * from a stale position: start from a clean one */
	have_sub = pg_sub_exists(n.from, n.new_sub, NULL, NULL, err);
	if (have_sub < 0)
		return have_sub;
	if (have_sub == 0)
		rc = pg_slot_drop(n.to, n.new_slot, pg_deadline(PG_TIMEOUT_MS), err);
	return rc;
}

/* ---- inside the pause ------------------------------------------------- */

/* pg_sql_fence_end() on c; dbname NULL: c's database (a recovery's
 * connections did not read it in prepare).  *ts: its answer. */
static int fence_end(struct pgsql_conn *c, const char *dbname, bool on, int keep, int64_t deadline,
                     char **ts, struct ferry_error *err)
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

int pg_fence_on(struct pgsql_conn *c, const char *dbname, int keep, const char *what,
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

/* ferry's spare connection on side: the fence and the unfence leave it
 * open (it is exempt from the fence, as the main one) */
static int spare_pid(struct pg *p, enum db_side s)
{
	return pgsql_ok(*spare_of(p, s)) ? pgsql_backend_pid(*spare_of(p, s)) : 0;
}

static int sw_fence(void *h, enum db_side side, int64_t deadline, struct ferry_error *err)
{
	struct pg *p = h;
	struct pgsql_conn *c = conn_pause(p, side, err);
	char what[160];
	int rc;

	free(p->fence_pos[side]);
	p->fence_pos[side] = NULL;
	if (!c)
		return err ? err->code : FERRY_EUNREACH;
	/* kept while the fence may still run on the server (fence_gone) */
	p->fence_pid[side] = pgsql_backend_pid(c);
	snprintf(what, sizeof(what), "database %s %s", p->cfg->name, db_side_name(side));
	rc = pg_fence_on(c, dbname(p, side), c == *spare_of(p, side) ? 0 : spare_pid(p, side), what,
	                 deadline, &p->fence_pos[side], err);
	if (rc == 0 || pgsql_ok(c))
		p->fence_pid[side] = 0;
	return rc;
}

int pg_unfence_on(struct pgsql_conn *c, const char *dbname, int keep, int64_t deadline,
                  struct ferry_error *err)
{
	/* A session that started under the fence keeps its read-only
	 * default after the RESET: the client sessions are ended (the
	 * applications reconnect, writable; the apply workers are not client
	 * backends).  Signalled only: nothing waits for them here. */
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
	char pid[24], *n = NULL;
	const char *params[1] = { pid };
	int rc;

	if (!p->fence_pid[side] || p->fence_pid[side] == pgsql_backend_pid(c))
		return 0;
	snprintf(pid, sizeof(pid), "%d", p->fence_pid[side]);
	for (;;) {
		free(n);
		n = NULL;
		rc = pgsql_query_value(c, pg_sql_backend_end, 1, params, deadline, &n, err);
		if (rc < 0 || (n && !strcmp(n, "0")))
			break;
		if (time_mono_ms() >= deadline) {
			rc = ferry_error_set(
			        err, FERRY_ETIMEDOUT, "retry: the next run recovers",
			        "database %s %s: the fence's session (pid %s) did not end",
			        p->cfg->name, db_side_name(side), pid);
			break;
		}
		poll(NULL, 0, 1);
	}
	free(n);
	if (rc == 0)
		p->fence_pid[side] = 0;
	return rc;
}

static int sw_unfence(void *h, enum db_side side, int64_t deadline, struct ferry_error *err)
{
	struct pg *p = h;
	struct pgsql_conn *c = conn_pause(p, side, err);
	int rc;

	if (!c)
		return err ? err->code : FERRY_EUNREACH;
	rc = fence_gone(p, side, c, deadline, err);
	if (rc < 0)
		return rc;
	return pg_unfence_on(c, dbname(p, side), c == *spare_of(p, side) ? 0 : spare_pid(p, side),
	                     deadline, err);
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
	char *ok = NULL;
	int rc;

	for (;;) {
		rc = pgsql_query_value(from, pg_sql_wait_applied, 2, params, deadline, &ok, err);
		if (rc < 0)
			return rc;
		if (ok && !strcmp(ok, "t")) {
			free(ok);
			return 0;
		}
		free(ok);
		ok = NULL;
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

static int sw_start_reverse(void *h, enum db_direction dir, struct ferry_error *err)
{
	struct pg *p = h;
	struct pg_names n;
	const char *params[1];
	char *opts, *sql, *lsn = NULL;
	int rc;

	if (!conn_soft(p, DB_OLD, err) || !conn_soft(p, DB_NEW, err))
		return err ? err->code : FERRY_EUNREACH;
	pg_names_get(p, dir, &n);
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
	.start_reverse = sw_start_reverse,
	.drop_forward = sw_drop_forward,
	.inspect = sw_inspect,
	.carried = sw_carried,
	.describe = pg_describe_step,
};
