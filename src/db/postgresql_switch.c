/*
 * postgresql_switch.c - the single-writer switch for PostgreSQL (DESIGN §2
 * step 3) and its recovery after a crash.
 *
 * One function serves both ways: the cutover (DB_FORWARD, old -> new) and
 * the rollback (DB_REVERSE, new -> old) differ only in the names that
 * pg_names_get() gives.  The steps, in order:
 *
 *   preflight          no side effect: pooler consoles answer, lag < 1 s,
 *                      the subscription runs, the new writer can publish
 *   prepare_reverse    the publication on the new writer (harmless)
 *   stage_poolers      the next include file written on each pooler host
 *   -- the write pause: from here on no spawn, no new connection, no sleep
 *      longer than a poll interval; every wait is bounded by the budget --
 *   pause_poolers      PAUSE on every pooler, in parallel
 *   fence_database     default_transaction_read_only on the old writer's
 *                      database, and its client sessions ended (a writer
 *                      that bypasses the pooler cannot commit any more)
 *   note_position      pg_current_wal_lsn() after the fence
 *   wait_applied       the slot's confirmed_flush_lsn reaches it (the
 *                      subscription commits synchronously, so confirmed
 *                      means applied), polled every millisecond
 *   copy_sequences     setval on the new writer for every sequence
 *   stop_forward       the current subscription disabled
 *   create_reverse_slot  the reverse slot on the new writer: after the
 *                      forward apply stopped, before any write is let in
 *   unfence_target     (rollback only) the fence on the new writer removed
 *   repoint_poolers    mv of the staged include file + RELOAD, per pooler
 *   resume_poolers     RESUME on every pooler: the pause ends
 *   -- outside the pause --
 *   start_reverse      the reverse subscription (no copy, existing slot)
 *   drop_forward       the forward subscription, slot and publication
 *
 * The old writer keeps its fence after the switch: applications must never
 * write to it again; the reverse subscription's apply worker is not
 * affected by default_transaction_read_only (it does not go through the
 * executor's read-only check; tests/integration/pg proves it).
 *
 * If a step inside the pause fails or the budget runs out, undo() puts back
 * what was done (reverse slot dropped, subscription re-enabled, poolers
 * reverted, fence cleared) and resumes the poolers on the old writer.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "db/postgresql_int.h"
#include "switch/pgbouncer.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

const char *const pg_switch_steps[] = {
	"preflight",      "prepare_reverse",     "stage_poolers",  "pause_poolers",
	"fence_database", "note_position",       "wait_applied",   "copy_sequences",
	"stop_forward",   "create_reverse_slot", "unfence_target", "repoint_poolers",
	"resume_poolers", "start_reverse",       "drop_forward",   NULL,
};

/* What was attempted inside the pause, for undo(). */
struct pause_state {
	bool paused, fenced, stopped, slot, unfenced, repointed;
	bool to_fenced; /* the new writer had a fence before (rollback) */
};

struct run {
	struct pg *p;
	struct pg_names n;
	const struct db_step_hooks *hooks;
	struct db_switch_report *rep;
	enum db_direction dir;
	int64_t deadline;  /* end of the pause budget; 0 outside the pause */
	int64_t step_t0;   /* when the current step started (us) */
	char slot_lsn[64]; /* where the reverse slot starts */
};

static int hook(struct run *r, bool before, const char *step, struct ferry_error *err)
{
	const struct db_step_hooks *h = r->hooks;
	int rc = 0;

	if (before) {
		snprintf(r->rep->last_step, sizeof(r->rep->last_step), "%s", step);
		r->step_t0 = time_mono_us();
	} else {
		size_t len = strlen(r->rep->timings);
		snprintf(r->rep->timings + len, sizeof(r->rep->timings) - len, "%s%s=%.1fms",
		         len ? " " : "", step, (time_mono_us() - r->step_t0) / 1000.0);
	}
	if (!h)
		return 0;
	if (before && h->before)
		rc = h->before(h->ctx, step, r->p->cfg->name);
	else if (!before && h->after)
		rc = h->after(h->ctx, step, r->p->cfg->name);
	if (rc < 0)
		return ferry_error_set(err, FERRY_EIO, "check the journal",
		                       "database %s: step %s: the journal hook refused",
		                       r->p->cfg->name, step);
	return 0;
}

/* ---- steps before the pause ------------------------------------------- */

static int preflight(struct run *r, struct pause_state *ps, struct ferry_error *err)
{
	struct pg *p = r->p;
	struct pg_names *n = &r->n;
	struct db_lag lag;
	int64_t max_lag = p->cfg->max_lag_ms ? p->cfg->max_lag_ms : 1000;
	bool enabled = false, fence = false;
	char *wal = NULL;
	size_t i;
	int rc;

	rc = pg_poolers_open(p, err);
	if (rc < 0)
		return rc;
	for (i = 0; i < p->npb; i++) {
		char *host = NULL, *db = NULL;
		int port = 0;
		bool paused = false;
		rc = pgbouncer_show(p->pb[i], &host, &port, &db, &paused, pg_deadline(5000), err);
		free(host);
		free(db);
		if (rc < 0)
			return rc;
	}
	rc = pg_sub_exists(n->to, n->cur_sub, &enabled, NULL, err);
	if (rc < 0)
		return rc;
	if (rc == 0 || !enabled)
		return ferry_error_set(err, FERRY_ECHECK, "start replication and let it catch up",
		                       "database %s: subscription %s on %s is %s", p->cfg->name,
		                       n->cur_sub, n->to_side, rc == 0 ? "missing" : "disabled");
	rc = db_engine_postgresql.lag(p, r->dir, &lag, err);
	if (rc < 0)
		return rc;
	if (!lag.worker_running || lag.ms > max_lag || lag.apply_errors > 0)
		return ferry_error_set(
		        err, FERRY_ECHECK, "wait for replication to catch up and fix apply errors",
		        "database %s: replication %s -> %s not ready: lag %lld bytes, "
		        "%lld ms, worker %s, %lld apply errors",
		        p->cfg->name, n->from_side, n->to_side, (long long)lag.bytes,
		        (long long)lag.ms, lag.worker_running ? "running" : "missing",
		        (long long)lag.apply_errors);
	/* the new writer must be able to publish (reverse replication) */
	{
		const char *params[1] = { "wal_level" };
		rc = pgsql_query_value(n->to, pg_sql_setting, 1, params, pg_deadline(PG_TIMEOUT_MS),
		                       &wal, err);
		if (rc < 0)
			return rc;
		if (!wal || strcmp(wal, "logical")) {
			rc = ferry_error_set(err, FERRY_ECHECK,
			                     "set wal_level=logical on it and restart it",
			                     "database %s: %s cannot publish (wal_level=%s): no "
			                     "reverse replication, no rollback",
			                     p->cfg->name, n->to_side, wal ? wal : "?");
			free(wal);
			return rc;
		}
		free(wal);
	}
	/* the fence ends every other session of the writer: say whose */
	{
		char *who = NULL;
		struct ferry_error e = { 0 };
		if (pgsql_query_value(n->from, pg_sql_sessions_who, 0, NULL, pg_deadline(5000),
		                      &who, &e) == 0 &&
		    who)
			log_info("database %s: sessions the fence will end on %s (poolers and "
			         "direct "
			         "writers): %s",
			         p->cfg->name, n->from_side, who);
		free(who);
	}
	rc = pg_fence_get(n->from, &fence, err);
	if (rc < 0)
		return rc;
	if (fence)
		return ferry_error_set(err, FERRY_ESTATE, "run the recovery (ferry run resumes it)",
		                       "database %s: %s is already fenced: a switch is half done",
		                       p->cfg->name, n->from_side);
	rc = pg_fence_get(n->to, &ps->to_fenced, err);
	if (rc < 0)
		return rc;
	if (!p->cfg->dbalias || !n->to_pooler_connstr)
		return ferry_error_set(err, FERRY_EINVAL, "set the pooler entries in the plan",
		                       "database %s: no pooler alias or connstr", p->cfg->name);
	return 0;
}

static int prepare_reverse(struct run *r, struct ferry_error *err)
{
	int rc, have_sub;

	rc = pg_pub_ensure(r->n.to, r->n.new_pub, err);
	if (rc < 0)
		return rc;
	/* a reverse slot left by an earlier, undone attempt would hold WAL
	 * from a stale position: start from a clean one */
	have_sub = pg_sub_exists(r->n.from, r->n.new_sub, NULL, NULL, err);
	if (have_sub < 0)
		return have_sub;
	if (have_sub == 0)
		rc = pg_slot_drop(r->n.to, r->n.new_slot, pg_deadline(PG_TIMEOUT_MS), err);
	return rc;
}

/* ---- steps inside the pause ------------------------------------------- */

static int pause_poolers(struct run *r, struct ferry_error *err)
{
	struct pg *p = r->p;
	size_t i, sent = 0;
	int rc = 0, rc2;

	/* in parallel: the pause starts when the slowest pooler's in-flight
	 * transactions end, not after the sum of them */
	for (i = 0; i < p->npb && rc == 0; i++) {
		rc = pgbouncer_pause_send(p->pb[i], err);
		if (rc == 0)
			sent++;
	}
	for (i = 0; i < sent; i++) {
		struct ferry_error e = { 0 };
		rc2 = pgbouncer_pause_wait(p->pb[i], r->deadline, &e);
		if (rc2 < 0 && rc == 0) {
			rc = rc2;
			*err = e;
		}
	}
	return rc;
}

static int fence_database(struct run *r, struct ferry_error *err)
{
	struct pgsql_conn *c = r->n.from;
	char *ts = NULL, *again = NULL, *left = NULL;
	int rc;

	rc = pg_fence_set(c, true, r->deadline, err);
	if (rc < 0)
		return rc;
	/* Sessions opened before the ALTER keep their old default: end them
	 * (client backends only; walsenders and ferry's own stay).  Signal
	 * only: pg_terminate_backend(pid, timeout) polls every 100 ms
	 * (pg_wait_until_termination), we poll every millisecond.  Sessions
	 * that start after the ALTER get the read-only default and may stay;
	 * the first statement's timestamp tells them apart.  Each statement is
	 * its own transaction and so sees a fresh pg_stat_activity. */
	for (;;) {
		int64_t l = r->deadline - time_mono_ms();
		if (l <= 0) {
			rc = ferry_error_set(err, FERRY_ETIMEDOUT,
			                     "find the session that does not end",
			                     "database %s: %s sessions on %s did not end in time",
			                     r->p->cfg->name, left ? left : "some", r->n.from_side);
			break;
		}
		rc = pgsql_query_value(c, pg_sql_terminate, 0, NULL, r->deadline, ts ? &again : &ts,
		                       err);
		free(again);
		again = NULL;
		if (rc < 0)
			break;
		free(left);
		left = NULL;
		rc = pgsql_query_value(c, pg_sql_sessions_left, 1, (const char *const *)&ts,
		                       r->deadline, &left, err);
		if (rc < 0 || (left && !strcmp(left, "0")))
			break;
		poll(NULL, 0, 1);
	}
	free(ts);
	free(left);
	return rc;
}

static int wait_applied(struct run *r, struct ferry_error *err)
{
	const char *params[2] = { r->rep->fence_pos, r->n.cur_slot };
	char *ok = NULL;
	int rc;

	for (;;) {
		rc = pgsql_query_value(r->n.from, pg_sql_wait_applied, 2, params, r->deadline, &ok,
		                       err);
		if (rc < 0)
			return rc;
		if (ok && !strcmp(ok, "t")) {
			free(ok);
			return 0;
		}
		free(ok);
		ok = NULL;
		if (time_mono_ms() >= r->deadline)
			return ferry_error_set(err, FERRY_ETIMEDOUT,
			                       "let replication catch up first",
			                       "database %s: %s did not apply up to %s in time",
			                       r->p->cfg->name, r->n.to_side, r->rep->fence_pos);
		poll(NULL, 0, 1);
	}
}

static int copy_sequences(struct run *r, struct ferry_error *err)
{
	struct pgsql_result res;
	struct buf sql;
	int rc, i, inbatch = 0;

	rc = pgsql_exec(r->n.from, pg_sql_sequences, 0, NULL, r->deadline, &res, err);
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
			rc = pgsql_exec(r->n.to, sql.data, 0, NULL, r->deadline, NULL, err);
			buf_reset(&sql);
			inbatch = 0;
		}
	}
	if (rc == 0)
		r->rep->sequences = res.nrows;
	buf_release(&sql);
	pgsql_result_release(&res);
	return rc;
}

static int sub_alter(struct pgsql_conn *c, const char *sub, const char *what, int64_t deadline,
                     struct ferry_error *err)
{
	char *sql = pg_sql_sub_alter(sub, what);
	int rc = pgsql_exec(c, sql, 0, NULL, deadline, NULL, err);

	free(sql);
	return rc;
}

static int create_reverse_slot(struct run *r, struct ferry_error *err)
{
	const char *params[1] = { r->n.new_slot };
	char *lsn = NULL;
	int rc;

	rc = pgsql_query_value(r->n.to, pg_sql_create_slot, 1, params, r->deadline, &lsn, err);
	if (rc == 0)
		snprintf(r->slot_lsn, sizeof(r->slot_lsn), "%s", lsn ? lsn : "");
	free(lsn);
	return rc;
}

/* Runs send on every pooler, then wait on each of those sent: the
 * poolers work at the same time.  Returns the first error. */
static int all_poolers(struct pg *p, int (*send)(struct pgbouncer *, struct ferry_error *),
                       int (*wait)(struct pgbouncer *, int64_t, struct ferry_error *),
                       int64_t deadline, struct ferry_error *err)
{
	size_t i, sent = 0;
	int rc = 0, rc2;

	for (i = 0; i < p->npb && rc == 0; i++) {
		rc = send(p->pb[i], err);
		if (rc == 0)
			sent++;
	}
	for (i = 0; i < sent; i++) {
		struct ferry_error e = { 0 };
		rc2 = wait(p->pb[i], deadline, &e);
		if (rc2 < 0 && rc == 0) {
			rc = rc2;
			if (err)
				*err = e;
		}
	}
	return rc;
}

static int resume_all(struct pg *p, int64_t deadline, struct ferry_error *err)
{
	return all_poolers(p, pgbouncer_resume_send, pgbouncer_resume_wait, deadline, err);
}

/* mv on every pooler host at once, then RELOAD on every pooler at once */
static int repoint_all(struct pg *p, int64_t deadline, struct ferry_error *err)
{
	bool *reloading = xcalloc(p->npb + 1, sizeof(bool));
	size_t i, sent = 0;
	int rc = 0, rc2;

	for (i = 0; i < p->npb && rc == 0; i++) {
		rc = pgbouncer_commit_send(p->pb[i], err);
		if (rc == 0)
			sent++;
	}
	for (i = 0; i < sent; i++) {
		struct ferry_error e = { 0 };
		rc2 = pgbouncer_commit_reload(p->pb[i], deadline, &e);
		reloading[i] = rc2 == 0;
		if (rc2 < 0 && rc == 0) {
			rc = rc2;
			*err = e;
		}
	}
	for (i = 0; i < sent; i++) {
		struct ferry_error e = { 0 };
		if (!reloading[i])
			continue;
		rc2 = pgbouncer_commit_wait(p->pb[i], deadline, &e);
		if (rc2 < 0 && rc == 0) {
			rc = rc2;
			*err = e;
		}
	}
	free(reloading);
	return rc;
}

/* Puts back what the pause did, newest first, and resumes on the old
 * writer.  Every action is idempotent and bounded on its own (the budget
 * is already spent). */
static int undo(struct run *r, const struct pause_state *ps, struct ferry_error *err)
{
	struct pg *p = r->p;
	struct pg_names *n = &r->n;
	size_t i;
	int rc = 0, rc2;

#define UNDO(call)                                                                                 \
	do {                                                                                       \
		struct ferry_error e_ = { 0 };                                                     \
		struct ferry_error *err_ = &e_;                                                    \
		rc2 = (call);                                                                      \
		if (rc2 < 0) {                                                                     \
			log_error("database %s: undo: %s", p->cfg->name, e_.msg);                  \
			if (rc == 0) {                                                             \
				rc = rc2;                                                          \
				if (err)                                                           \
					*err = e_;                                                 \
			}                                                                          \
		}                                                                                  \
	} while (0)

	if (ps->repointed)
		for (i = 0; i < p->npb; i++)
			UNDO(pgbouncer_revert(p->pb[i], pg_deadline(10000), err_));
	if (ps->unfenced)
		UNDO(pg_fence_set(n->to, true, pg_deadline(10000), err_));
	if (ps->slot)
		UNDO(pg_slot_drop(n->to, n->new_slot, pg_deadline(10000), err_));
	if (ps->stopped)
		UNDO(sub_alter(n->to, n->cur_sub, "ENABLE", pg_deadline(10000), err_));
	if (ps->fenced)
		UNDO(pg_fence_set(n->from, false, pg_deadline(10000), err_));
	if (ps->paused)
		UNDO(resume_all(p, pg_deadline(10000), err_));
#undef UNDO
	return rc;
}

/* ---- steps after the pause -------------------------------------------- */

static int start_reverse(struct run *r, struct ferry_error *err)
{
	struct pg_names *n = &r->n;
	char *opts, *sql;
	int rc;

	rc = pg_sub_exists(n->from, n->new_sub, NULL, NULL, err);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	opts = pg_sub_opts_reverse(n->new_slot);
	rc = pg_sub_create(n->from, n->new_sub, n->to_from_from, n->to_password, n->new_pub, opts,
	                   err);
	free(opts);
	if (rc < 0)
		return rc;
	/* keep where the stream started, for the rollback's "carried back"
	 * count; the catalog survives a crash of ferry */
	sql = pg_sql_sub_comment(n->new_sub, r->slot_lsn);
	rc = pgsql_exec(n->from, sql, 0, NULL, pg_deadline(PG_TIMEOUT_MS), NULL, err);
	free(sql);
	return rc;
}

/* DB_REVERSE: how much the reverse stream carried back since the cutover. */
static void count_carried(struct run *r)
{
	struct ferry_error e = { 0 };
	struct pgsql_result res;
	const char *params[3] = { r->n.cur_sub, r->rep->fence_pos, r->n.cur_slot };
	char *start = NULL;

	/* the comment written by start_reverse on the old side */
	if (pgsql_query_value(r->n.to, pg_sql_carried_start, 1, params, pg_deadline(5000), &start,
	                      &e) == 0 &&
	    start) {
		const char *p2[2] = { r->rep->fence_pos, start };
		char *d = NULL;
		if (pgsql_query_value(r->n.from, pg_sql_lsn_diff, 2, p2, pg_deadline(5000), &d,
		                      &e) == 0 &&
		    d)
			r->rep->carried_bytes = strtoll(d, NULL, 10);
		free(d);
	}
	free(start);
	if (pgsql_exec(r->n.from, pg_sql_carried_txns, 3, params, pg_deadline(5000), &res, &e) ==
	            0 &&
	    res.nrows == 1)
		r->rep->carried_txns = pgsql_result_int(&res, 0, 0, 0);
	pgsql_result_release(&res);
}

static int drop_forward(struct run *r, struct ferry_error *err)
{
	struct pg_names *n = &r->n;
	int rc;

	rc = pg_sub_drop_local(n->to, n->cur_sub, err);
	if (rc == 0)
		rc = pg_slot_drop(n->from, n->cur_slot, pg_deadline(PG_TIMEOUT_MS), err);
	if (rc == 0)
		rc = pg_pub_drop(n->from, n->cur_pub, err);
	return rc;
}

/* ---- the switch -------------------------------------------------------- */

#define STEP(name, call)                                                                           \
	do {                                                                                       \
		rc = hook(&r, true, (name), err);                                                  \
		if (rc == 0)                                                                       \
			rc = (call);                                                               \
		if (rc == 0)                                                                       \
			rc = hook(&r, false, (name), err);                                         \
		if (rc < 0)                                                                        \
			goto fail;                                                                 \
	} while (0)

int pg_switch_run(void *h, enum db_direction dir, const struct db_step_hooks *hooks,
                  struct db_switch_report *rep, struct ferry_error *err)
{
	struct pg *p = h;
	struct pause_state ps = { 0 };
	struct run r = { .p = p, .hooks = hooks, .rep = rep, .dir = dir };
	int64_t budget = p->cfg->pause_budget_ms > 0 ? p->cfg->pause_budget_ms : 5000;
	int64_t t0 = 0;
	bool in_pause = false;
	size_t i;
	int rc;

	memset(rep, 0, sizeof(*rep));
	pg_names_get(p, dir, &r.n);

	STEP("preflight", preflight(&r, &ps, err));
	STEP("prepare_reverse", prepare_reverse(&r, err));
	STEP("stage_poolers", ({
		     int rc_ = 0;
		     for (i = 0; i < p->npb && rc_ == 0; i++)
			     rc_ = pgbouncer_stage(p->pb[i], r.n.to_pooler_connstr,
			                           pg_deadline(PG_TIMEOUT_MS), err);
		     rc_;
	     }));

	/* the pause: budget counted from the first PAUSE sent */
	t0 = time_mono_us();
	r.deadline = time_mono_ms() + budget;
	in_pause = true;
	ps.paused = true;
	STEP("pause_poolers", pause_poolers(&r, err));
	ps.fenced = true;
	STEP("fence_database", fence_database(&r, err));
	STEP("note_position", ({
		     char *lsn = NULL;
		     int rc_ = pgsql_query_value(r.n.from, pg_sql_wal_lsn, 0, NULL, r.deadline,
		                                 &lsn, err);
		     if (rc_ == 0)
			     snprintf(rep->fence_pos, sizeof(rep->fence_pos), "%s", lsn);
		     free(lsn);
		     rc_;
	     }));
	STEP("wait_applied", wait_applied(&r, err));
	STEP("copy_sequences", copy_sequences(&r, err));
	ps.stopped = true;
	STEP("stop_forward", sub_alter(r.n.to, r.n.cur_sub, "DISABLE", r.deadline, err));
	ps.slot = true;
	STEP("create_reverse_slot", create_reverse_slot(&r, err));
	if (ps.to_fenced) {
		ps.unfenced = true;
		STEP("unfence_target", pg_fence_set(r.n.to, false, r.deadline, err));
	}
	ps.repointed = true;
	STEP("repoint_poolers", repoint_all(p, r.deadline, err));
	/* past this point the new writer takes writes: no undo any more, a
	 * failure to resume is retried by recover() */
	in_pause = false;
	STEP("resume_poolers", resume_all(p, pg_deadline(10000), err));
	rep->pause_ms = (time_mono_us() - t0 + 999) / 1000;
	r.deadline = 0;
	log_info("database %s: %s is the writer; pause %lld ms, fence at %s (%s)", p->cfg->name,
	         r.n.to_side, (long long)rep->pause_ms, rep->fence_pos, rep->timings);

	STEP("start_reverse", start_reverse(&r, err));
	if (dir == DB_REVERSE)
		count_carried(&r);
	STEP("drop_forward", drop_forward(&r, err));
	return 0;

fail:
	if (!in_pause)
		return rc;
	{
		bool overran = time_mono_ms() >= r.deadline || rc == FERRY_ETIMEDOUT;
		struct ferry_error ue = { 0 };
		int urc = undo(&r, &ps, &ue);
		rep->pause_ms = (time_mono_us() - t0 + 999) / 1000;
		if (urc < 0) {
			/* the world is half-switched: recover() must finish */
			return ferry_error_set(
			        err, FERRY_ESTATE,
			        "run the recovery (ferry run resumes the switch)",
			        "database %s: switch failed at %s and the undo failed "
			        "too: %s",
			        p->cfg->name, rep->last_step, ue.msg);
		}
		rep->undone = true;
		if (overran)
			return ferry_error_set(
			        err, FERRY_EBUDGET, "let the lag settle, or raise pause_budget",
			        "database %s: the write pause would overrun its "
			        "budget of %lld ms at step %s; undone, %s is still "
			        "the writer",
			        p->cfg->name, (long long)budget, rep->last_step, r.n.from_side);
		return ferry_error_prefix(err,
		                          "database %s: switch undone at step %s (%s is still "
		                          "the writer)",
		                          p->cfg->name, rep->last_step, r.n.from_side);
	}
}

/* ---- recovery ---------------------------------------------------------- */

int pg_recover(void *h, enum db_direction dir, struct db_switch_report *rep,
               struct ferry_error *err)
{
	struct pg *p = h;
	struct pg_names n;
	bool cur_enabled = false, complete;
	int cur_sub, new_slot, new_sub, rc = 0;
	size_t i;

	memset(rep, 0, sizeof(*rep));
	pg_names_get(p, dir, &n);
	rc = pg_poolers_open(p, err);
	if (rc < 0)
		return rc;
	cur_sub = pg_sub_exists(n.to, n.cur_sub, &cur_enabled, NULL, err);
	if (cur_sub < 0)
		return cur_sub;
	new_slot = pg_slot_exists(n.to, n.new_slot, NULL, err);
	if (new_slot < 0)
		return new_slot;
	new_sub = pg_sub_exists(n.from, n.new_sub, NULL, NULL, err);
	if (new_sub < 0)
		return new_sub;

	/* The forward apply stopped only after the new writer had applied
	 * everything up to the fence, and the reverse slot exists only after
	 * that: from then on finishing is safe and undoing is not (the new
	 * writer may have taken writes).  Before it, nothing was let in on
	 * the new side: undo. */
	complete = new_sub == 1 || ((cur_sub == 0 || !cur_enabled) && new_slot == 1);
	if (complete) {
		bool to_fenced = false;
		log_info("database %s: recovery: finishing the switch to %s", p->cfg->name,
		         n.to_side);
		rc = pg_fence_set(n.from, true, pg_deadline(PG_TIMEOUT_MS), err);
		if (rc == 0)
			rc = pg_fence_get(n.to, &to_fenced, err);
		if (rc == 0 && to_fenced)
			rc = pg_fence_set(n.to, false, pg_deadline(PG_TIMEOUT_MS), err);
		for (i = 0; i < p->npb && rc == 0; i++)
			rc = pgbouncer_point(p->pb[i], n.to_pooler_connstr,
			                     pg_deadline(PG_TIMEOUT_MS), err);
		if (rc == 0)
			rc = resume_all(p, pg_deadline(PG_TIMEOUT_MS), err);
		if (rc == 0 && new_sub == 0) {
			struct run r = { .p = p, .n = n, .rep = rep };
			char *lsn = NULL;
			/* where the reverse slot starts, for the carried count */
			const char *params[1] = { n.new_slot };
			rc = pgsql_query_value(
			        n.to,
			        "SELECT confirmed_flush_lsn FROM pg_replication_slots "
			        "WHERE slot_name = $1",
			        1, params, pg_deadline(PG_TIMEOUT_MS), &lsn, err);
			if (rc == 0)
				snprintf(r.slot_lsn, sizeof(r.slot_lsn), "%s", lsn ? lsn : "");
			free(lsn);
			if (rc == 0)
				rc = start_reverse(&r, err);
		}
		if (rc == 0) {
			struct run r = { .p = p, .n = n, .rep = rep };
			rc = drop_forward(&r, err);
		}
		rep->completed = rc == 0;
	} else {
		log_info("database %s: recovery: undoing the switch, %s stays the writer",
		         p->cfg->name, n.from_side);
		if (new_slot == 1)
			rc = pg_slot_drop(n.to, n.new_slot, pg_deadline(PG_TIMEOUT_MS), err);
		if (rc == 0 && cur_sub == 1 && !cur_enabled)
			rc = sub_alter(n.to, n.cur_sub, "ENABLE", pg_deadline(PG_TIMEOUT_MS), err);
		for (i = 0; i < p->npb && rc == 0; i++)
			if (n.from_pooler_connstr)
				rc = pgbouncer_point(p->pb[i], n.from_pooler_connstr,
				                     pg_deadline(PG_TIMEOUT_MS), err);
		if (rc == 0)
			rc = pg_fence_set(n.from, false, pg_deadline(PG_TIMEOUT_MS), err);
		if (rc == 0)
			rc = resume_all(p, pg_deadline(PG_TIMEOUT_MS), err);
		rep->undone = rc == 0;
	}
	if (rc < 0) {
		/* whatever failed, never leave a pooler paused */
		resume_all(p, pg_deadline(5000), NULL);
		return ferry_error_prefix(err, "database %s: recovery", p->cfg->name);
	}
	return 0;
}
