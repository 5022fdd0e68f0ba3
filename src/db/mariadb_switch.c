/*
 * mariadb_switch.c - the MariaDB engine's steps of the switch (db.h,
 * struct db_switch_ops).  The orchestrator (core/orchestrator.c) owns the
 * order, the budget, the undo and the recovery; each function here does
 * one step, checks the world before it acts (a second call, or a call after
 * a crash, does nothing more) and is bounded by its deadline.
 *
 * One set of functions serves both ways: dir DB_FORWARD switches old ->
 * new, DB_REVERSE (the rollback) new -> old.  "from" is the writer being
 * replaced, "to" the one that becomes it (mdb_sides()).  What each side is
 * outside a switch:
 *	the writer    read_only=0, its event scheduler as the application
 *	              had it (ON when it had events and ferry never saw it)
 *	the replica   read_only=1, event scheduler OFF, replicating from the
 *	              writer by GTID (MASTER_USE_GTID=slave_pos)
 * read_only is the fence: inspect() reads it as fenced[], so the
 * replica is "fenced" too, and the orchestrator's unfence_target step is
 * what makes to writable.  The steps:
 *
 *   preflight        to replicates from from, both threads run, no error,
 *                    lag under max_lag; to has log_bin and
 *                    log_slave_updates (its binlog must hold from's
 *                    transactions for the way back)
 *   prepare          connections (q and ctl, the spare) checked with a
 *                    trivial statement each and reopened when lost (a
 *                    restart of the server leaves them looking open, and
 *                    a dead ctl cannot stop a fence that overran); the
 *                    writer's event scheduler noted; from made a replica
 *                    of to, not started: the filter and CHANGE MASTER TO
 *                    ... MASTER_USE_GTID=slave_pos (it makes the relay
 *                    log: 30 to 100 ms measured, too long for the pause);
 *                    the note of a start of this direction's reverse
 *                    stream cleared (inspect tells a stream start_reverse
 *                    started from one a restart of the server started);
 *                    to waited for up to from's position now (up to
 *                    max_lag), so that the pause waits only for the
 *                    writes of the last few ms
 *   fence(side)      two compound statements (mdb_fence_sql, mdb_kill_sql,
 *                    the second only when there are sessions): SET GLOBAL
 *                    read_only=1 with lock_wait_timeout and the deadline
 *                    (ENGINES.md A5: it takes the global read lock; past
 *                    the deadline ferry KILLs the statement from ctl so
 *                    that it cannot land after an undo), the event
 *                    scheduler off, then KILL CONNECTION of every session
 *                    but ferry's account, the server's threads and binlog
 *                    readers: their open transactions roll back (a commit
 *                    past read_only fails anyway) and the clients
 *                    reconnect through the switch; they answer how many
 *                    were killed and @@gtid_binlog_pos after it all
 *   position         from's @@gtid_binlog_pos: the fence's answer when
 *                    the fence ran in this process, else asked
 *   wait_applied     MASTER_GTID_WAIT(pos, 0.05) on to, in a loop (A6)
 *   finalize         nothing: row events carry AUTO_INCREMENT values
 *   stop_forward     STOP SLAVE on to (its configuration stays until
 *                    drop_forward: restart_forward is START SLAVE); what
 *                    to replicates from is checked first only outside
 *                    this process's switch (preflight saw it there)
 *   prepare_reverse  nothing in this process's switch (prepare and the
 *                    fence did it all); else from: read_only=1, event
 *                    scheduler OFF; it replicates
 *                    from to (prepare's configuration; a recovery whose
 *                    prepare never ran configures it here, with
 *                    MASTER_DEMOTE_TO_SLAVE=1).  Nothing is started and
 *                    no position set: to's binlog holds every write to
 *                    takes from now on, which is all "captured" means
 *                    here, and from's own position, where the stream must
 *                    start, is frozen by its fence
 *   unfence(side)    read_only=0 (unless side is a replica that applies:
 *                    a replica stays read_only; not asked of the target
 *                    whose replica this switch stopped), SLAVESIDE_DISABLED
 *                    events enabled (not binlogged), the scheduler as the
 *                    writer had it: one compound statement
 *                    (mdb_unfence_sql), a second only when there are
 *                    events to enable or to schedule
 *   start_reverse    after the resume: SET GLOBAL gtid_slave_pos =
 *                    @@gtid_current_pos on from (what MASTER_DEMOTE_TO_SLAVE
 *                    does, ENGINES.md A8: from starts at its own position),
 *                    START SLAVE; where it starts noted in _ferry (not
 *                    binlogged) for the rollback's count
 *   drop_forward     STOP SLAVE, RESET SLAVE ALL on to, filter cleared
 *   drop_reverse     the same on from (undo of prepare_reverse)
 *   restart_forward  to: read_only=1, event scheduler OFF, START SLAVE
 *   inspect, carried mariadb_inspect.c
 *
 * Each statement in the pause is a round trip that a loaded machine
 * stretches to 10-36 ms: a switch (prepare ran in this process, struct
 * mdb's sw_dir) sends five: the fence's two, MASTER_GTID_WAIT, STOP
 * SLAVE and unfence, trusting what preflight and prepare saw just before; inspect
 * and every step that ends or undoes a switch forget it, so a recovery
 * asks the servers at each step.
 *
 * Inside the pause a step sends only on the connections open() made (q,
 * then ctl when q was closed by a deadline): no spawn, no connect, polls at
 * <= 50 ms.  Outside the pause a closed connection is opened again, and
 * one that does not answer a trivial statement (mdb_side_refresh) too.  No
 * statement ferry sends to "to" inside the pause is binlogged: a GTID of
 * ferry's own there would be one "from" lacks (gtid_strict_mode).
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/mariadb_int.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* ---- connections and small helpers ---------------------------------- */

/* The connection of side s inside the pause (q, else ctl), or an error. */
static struct mdb_conn *conn(struct mdb *m, struct mdb_side *s, struct ferry_error *err)
{
	struct mdb_conn *c = mdb_conn_of(s);

	if (!c)
		ferry_error_set(err, FERRY_EUNREACH, "the next run reconnects and recovers",
		                "database %s %s: no open connection left", m->cfg->name, s->name);
	return c;
}

/* The connection of side s outside the pause: both of s checked, and
 * reopened if lost (mdb_side_refresh). */
static struct mdb_conn *conn_soft(struct mdb *m, struct mdb_side *s, struct ferry_error *err)
{
	if (mdb_side_refresh(m, s, err) < 0)
		return NULL;
	return s->q;
}

void mdb_sw_forget(struct mdb *m)
{
	m->sw_dir = 0;
	m->stopped = false;
	m->fenced[DB_OLD] = m->fenced[DB_NEW] = false;
	m->at_set[DB_OLD] = m->at_set[DB_NEW] = false;
}

/* 1 when this process's switch of dir is under way (mdb_sw_forget). */
static bool in_switch(const struct mdb *m, enum db_direction dir)
{
	return m->sw_dir == (int)dir + 1;
}

static struct mdb_side *side_of(struct mdb *m, enum db_side s)
{
	return s == DB_OLD ? &m->old : &m->new;
}

static int ex(struct mdb_conn *c, const char *sql, int64_t deadline, struct ferry_error *err)
{
	return mdb_exec(c, sql, deadline, NULL, err);
}

static int is_on(struct mdb_conn *c, const char *name, int64_t deadline, bool *val,
                 struct ferry_error *err)
{
	char *sql = xasprintf("SELECT @@GLOBAL.%s", name), *v = NULL;
	int rc = mdb_value(c, sql, deadline, &v, err);

	free(sql);
	if (rc == 0)
		*val = v && (!strcmp(v, "1") || !strcasecmp(v, "ON"));
	free(v);
	return rc;
}

/* ---- replication state of one side (mdb_repl_read: mariadb_inspect.c) -- */

/* 1 when s replicates from other, 0 when it has no replica configuration,
 * FERRY_ESTATE when it replicates from elsewhere (ferry does not touch
 * that). */
static int replicates_from(struct mdb *m, struct mdb_side *s, struct mdb_conn *c,
                           const struct mdb_side *other, int64_t deadline, struct mdb_repl *r,
                           struct ferry_error *err)
{
	int rc = mdb_repl_read(c, other, deadline, r, err);

	if (rc < 0)
		return rc;
	if (!r->configured)
		return 0;
	if (r->from_other)
		return 1;
	return ferry_error_set(err, FERRY_ESTATE,
	                       "RESET SLAVE ALL on it if that replication is stale",
	                       "database %s %s: replicates from %s, not from %s", m->cfg->name,
	                       s->name, r->source, other->name);
}

/* ---- events ---------------------------------------------------------- */

char *mdb_unfence_sql(const char *db)
{
	char *lit = mdb_quote(db), *sql;

	sql = xasprintf("BEGIN NOT ATOMIC SET GLOBAL read_only = 0; SELECT EVENT_NAME, STATUS FROM "
	                "information_schema.EVENTS WHERE EVENT_SCHEMA = %s; END",
	                lit);
	free(lit);
	return sql;
}

char *mdb_fence_sql(const char *secs)
{
	return xasprintf(
	        "BEGIN NOT ATOMIC SET SESSION lock_wait_timeout = %s; SET GLOBAL read_only "
	        "= 1; IF @@GLOBAL.event_scheduler = 'ON' THEN SET GLOBAL event_scheduler = "
	        "OFF; END IF; SELECT NULL, @@GLOBAL.gtid_binlog_pos UNION ALL SELECT ID, "
	        "NULL FROM information_schema.PROCESSLIST WHERE " MDB_SESSIONS_FENCED_WHERE "; END",
	        secs);
}

char *mdb_kill_sql(const char *const *ids, int n)
{
	struct buf b;
	int i;

	buf_init(&b, (size_t)-1 / 2);
	/* 1094 ER_NO_SUCH_THREAD: the session ended by itself meanwhile */
	buf_addf(&b,
	         "BEGIN NOT ATOMIC DECLARE n INT DEFAULT %d; DECLARE CONTINUE HANDLER FOR 1094 "
	         "SET n = n - 1; ",
	         n);
	for (i = 0; i < n; i++)
		buf_addf(&b, "KILL CONNECTION %s; ", ids[i]);
	buf_adds(&b, "SELECT n, @@GLOBAL.gtid_binlog_pos; END");
	return buf_detach(&b, NULL);
}

/* The writer's events, after unfence's first round trip answered r (its
 * EVENT_NAME, STATUS rows): the SLAVESIDE_DISABLED ones (made on the other
 * side after the copy, ENGINES.md A1) enabled without a binlog event, and
 * the scheduler ON when the writer ran it; one more round trip, and only
 * when there is something to do. */
static int events_writer(struct mdb *m, struct mdb_conn *c, const struct mdb_result *r,
                         int64_t deadline, struct ferry_error *err)
{
	char *d = mdb_ident(m->dbname);
	struct buf b;
	int i, rc = 0;

	buf_init(&b, (size_t)-1 / 2);
	buf_adds(&b, "BEGIN NOT ATOMIC ");
	for (i = 0; i < r->nrows; i++) {
		const char *st = mdb_result_get(r, i, 1);
		char *e;
		if (!st || strcmp(st, "SLAVESIDE_DISABLED"))
			continue;
		e = mdb_ident(mdb_result_get(r, i, 0) ? mdb_result_get(r, i, 0) : "");
		buf_addf(&b, MDB_SQL_EVENT_ENABLE "; ", d, e);
		free(e);
	}
	if (m->sched_writer != 0 && r->nrows > 0)
		buf_adds(&b, "SET GLOBAL event_scheduler = ON; ");
	buf_adds(&b, "END");
	if (strcmp(b.data, "BEGIN NOT ATOMIC END"))
		rc = ex(c, b.data, deadline, err);
	buf_release(&b);
	free(d);
	return rc;
}

/* The replica's: read_only=1, the scheduler off. */
static int replica_mode(struct mdb_conn *c, int64_t deadline, struct ferry_error *err)
{
	bool ro = false, ev = true;
	int rc = is_on(c, "read_only", deadline, &ro, err);

	if (rc == 0 && !ro)
		rc = ex(c, "SET GLOBAL read_only = 1", deadline, err);
	if (rc == 0)
		rc = is_on(c, "event_scheduler", deadline, &ev, err);
	if (rc == 0 && ev)
		rc = ex(c, "SET GLOBAL event_scheduler = OFF", deadline, err);
	return rc;
}

/* s made a replica of other, not started: the filter, then CHANGE MASTER
 * (with MASTER_DEMOTE_TO_SLAVE=1 when demote: s's own binlog position
 * becomes where it starts). */
static int reverse_configure(struct mdb *m, struct mdb_side *s, struct mdb_conn *c,
                             struct mdb_side *other, bool demote, int64_t deadline,
                             struct ferry_error *err)
{
	char *filter = mdb_filter(m), *qf = mdb_quote(filter), *sql;
	int rc;

	sql = xasprintf("SET GLOBAL replicate_wild_do_table = %s", qf);
	rc = ex(c, sql, deadline, err);
	free(sql);
	free(qf);
	free(filter);
	if (rc == 0) {
		sql = mdb_change_master_sql(m, s, other, demote, true);
		rc = ex(c, sql, deadline, err);
		xfree_secret(sql, strlen(sql));
	}
	return rc;
}

/* No note of a start of dir's reverse stream on from (c). */
static int reverse_note_clear(enum db_direction dir, struct mdb_conn *c, struct ferry_error *err)
{
	char *sql = xasprintf("DELETE FROM " MDB_META ".reverse WHERE dir = %d", (int)dir);
	int rc = mdb_exec_nolog(c, MDB_SQL_REVERSE_TABLE, mdb_deadline(MDB_TIMEOUT_MS), err);

	if (rc == 0)
		rc = mdb_exec_nolog(c, sql, mdb_deadline(MDB_TIMEOUT_MS), err);
	free(sql);
	return rc;
}

/* ---- before the pause -------------------------------------------------- */

static int sw_wait_applied(void *h, enum db_direction dir, const char *pos, int64_t deadline,
                           struct ferry_error *err);

/* to applies, before the pause, up to where from is now (up to max_lag):
 * the pause's wait_applied then waits only for the writes of the few ms
 * in between, not for a backlog a busy replica built.  Not caught up in
 * time is no error (preflight measured the lag; the budget bounds the
 * pause). */
static int catch_up_before(struct mdb *m, enum db_direction dir, struct mdb_conn *cf,
                           int64_t max_lag, struct ferry_error *err)
{
	char *pos = NULL;
	int rc = mdb_value(cf, MDB_SQL_POSITION, mdb_deadline(MDB_TIMEOUT_MS), &pos, err);

	if (rc == 0)
		rc = sw_wait_applied(m, dir, pos ? pos : "", time_mono_ms() + max_lag, err);
	if (rc == FERRY_ETIMEDOUT) {
		log_info("%s: going on, the pause waits for the rest", err->msg);
		rc = 0;
	}
	free(pos);
	return rc;
}

static int sw_preflight(void *h, enum db_direction dir, struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *from, *to;
	struct mdb_conn *cf, *ct;
	struct mdb_repl r;
	struct db_lag lag;
	int64_t max_lag = m->cfg->max_lag_ms ? m->cfg->max_lag_ms : 1000, t0;
	bool bin = false, upd = false;
	char *who = NULL;
	struct ferry_error e = { 0 };
	int rc;

	mdb_sw_forget(m);
	mdb_sides(m, dir, &from, &to);
	cf = conn_soft(m, from, err);
	ct = cf ? conn_soft(m, to, err) : NULL;
	if (!ct)
		return err->code;
	rc = replicates_from(m, to, ct, from, mdb_deadline(MDB_TIMEOUT_MS), &r, err);
	if (rc < 0)
		return rc;
	if (rc == 0 || !r.io || !r.sql || r.error[0])
		return ferry_error_set(err, FERRY_ECHECK, "start replication and let it catch up",
		                       "database %s: %s does not replicate from %s%s%s%s",
		                       m->cfg->name, to->name, from->name,
		                       rc == 0  ? " (no replication configured)"
		                       : !r.sql ? " (its SQL thread is stopped)"
		                       : !r.io  ? " (its IO thread is stopped)"
		                                : "",
		                       r.error[0] ? ": " : "", r.error);
	/* lag() writes a heartbeat and times the oldest one not applied; a
	 * fresh process has written none, and one written by an earlier
	 * process would read as a lag: wait for this process's to come
	 * through, up to max_lag */
	rc = db_engine_mariadb.lag(m, dir, &lag, err);
	for (t0 = time_mono_ms(); rc == 0;) {
		poll(NULL, 0, 10);
		rc = db_engine_mariadb.lag(m, dir, &lag, err);
		if (rc < 0 || !lag.worker_running || lag.apply_errors > 0 || lag.ms <= max_lag ||
		    time_mono_ms() - t0 > max_lag)
			break;
	}
	if (rc < 0)
		return rc;
	if (!lag.worker_running || lag.ms > max_lag || lag.apply_errors > 0)
		return ferry_error_set(err, FERRY_ECHECK, "wait for replication to catch up",
		                       "database %s: replication %s -> %s not ready: %lld "
		                       "transactions, %lld ms behind",
		                       m->cfg->name, from->name, to->name, (long long)lag.events,
		                       (long long)lag.ms);
	/* the way back: from will replicate from to's binlog, starting at the
	 * fence, which to's binlog holds only with log_slave_updates */
	rc = is_on(ct, "log_bin", mdb_deadline(MDB_TIMEOUT_MS), &bin, err);
	if (rc == 0)
		rc = is_on(ct, "log_slave_updates", mdb_deadline(MDB_TIMEOUT_MS), &upd, err);
	if (rc < 0)
		return rc;
	if (!bin || !upd)
		return ferry_error_set(
		        err, FERRY_ECHECK, "start it with log_bin and log_slave_updates=ON",
		        "database %s: %s has %s off: its binlog would not hold %s's "
		        "transactions, no reverse stream, no rollback",
		        m->cfg->name, to->name, !bin ? "log_bin" : "log_slave_updates", from->name);
	rc = mdb_repl_read(cf, to, mdb_deadline(MDB_TIMEOUT_MS), &r, err);
	if (rc < 0)
		return rc;
	if (r.configured && !r.from_other)
		return ferry_error_set(err, FERRY_ECHECK,
		                       "RESET SLAVE ALL on it if that replication is stale",
		                       "database %s: %s replicates from %s: it cannot take the "
		                       "reverse stream",
		                       m->cfg->name, from->name, r.source);
	/* the fence ends every other session of the writer: say whose */
	if (mdb_value(cf, MDB_SQL_SESSIONS_WHO, mdb_deadline(5000), &who, &e) == 0 && who)
		log_info("database %s: sessions the fence will end on %s: %s", m->cfg->name,
		         from->name, who);
	free(who);
	return 0;
}

static int sw_prepare(void *h, enum db_direction dir, struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *from, *to;
	struct mdb_conn *cf;
	struct mdb_repl r;
	bool ro = true, ev = false;
	int rc;

	mdb_sw_forget(m);
	mdb_sides(m, dir, &from, &to);
	/* both connections of both sides (ctl is the spare in the pause) */
	cf = conn_soft(m, from, err);
	if (!cf || !conn_soft(m, to, err))
		return err->code;
	/* how the writer runs its events: the new writer will do the same */
	rc = is_on(cf, "read_only", mdb_deadline(MDB_TIMEOUT_MS), &ro, err);
	if (rc == 0 && !ro)
		rc = is_on(cf, "event_scheduler", mdb_deadline(MDB_TIMEOUT_MS), &ev, err);
	if (rc == 0 && !ro)
		m->sched_writer = ev ? 1 : 0;
	/* the way back, configured and not started: CHANGE MASTER takes 30 to
	 * 100 ms (it makes the relay log), too long for the pause */
	if (rc == 0)
		rc = replicates_from(m, from, cf, to, mdb_deadline(MDB_TIMEOUT_MS), &r, err);
	if (rc == 0)
		rc = reverse_configure(m, from, cf, to, false, mdb_deadline(MDB_TIMEOUT_MS), err);
	/* this switch's reverse stream is not started yet (inspect) */
	if (rc >= 0)
		rc = reverse_note_clear(dir, cf, err);
	if (rc >= 0)
		rc = catch_up_before(m, dir, cf, m->cfg->max_lag_ms ? m->cfg->max_lag_ms : 1000,
		                     err);
	/* a wait past its deadline closes its connection, a restart of the
	 * server any: every one the pause may use checked again */
	if (rc >= 0 && (!conn_soft(m, from, err) || !conn_soft(m, to, err)))
		rc = err->code;
	/* the steps in the pause may now trust what this saw */
	if (rc >= 0)
		m->sw_dir = (int)dir + 1;
	return rc < 0 ? rc : 0;
}

/* ---- inside the pause -------------------------------------------------- */

/* The fence of s (mdb_fence_sql, then mdb_kill_sql when there are
 * sessions): read_only, the scheduler off, the sessions killed (*killed
 * of them) and the position after it, into m->fence_at[side]. */
static int fence_side(struct mdb *m, struct mdb_side *s, enum db_side side, int64_t deadline,
                      size_t *killed, struct ferry_error *err)
{
	struct mdb_conn *c = conn(m, s, err);
	struct mdb_result r = { 0 }, k = { 0 };
	const char *pos = NULL;
	int64_t secs;
	char n[32], *sql;
	int rc;

	*killed = 0;
	if (!c)
		return err->code;
	/* lock_wait_timeout is in whole seconds: at least 1; the deadline
	 * below is what bounds the wait */
	secs = (deadline - time_mono_ms() + 999) / 1000;
	snprintf(n, sizeof(n), "%lld", (long long)(secs < 1 ? 1 : secs));
	sql = mdb_fence_sql(n);
	rc = mdb_exec(c, sql, deadline, &r, err);
	free(sql);
	if (rc == FERRY_ETIMEDOUT) {
		/* the statement may still wait for the lock: stopped at once
		 * when ctl can (the wait ends sooner), and gone for sure
		 * before any unfence (fence_gone) */
		struct ferry_error e2 = { 0 };
		m->fence_tid[side] = mdb_thread_id(c);
		if (c == s->q && mdb_ok(s->ctl) && fault_fail("db.fence.kill", &e2) == 0) {
			char *kill = xasprintf("KILL QUERY %lu", mdb_thread_id(c));
			if (ex(s->ctl, kill, time_mono_ms() + 200, &e2) < 0)
				log_warn("database %s %s: %s", m->cfg->name, s->name, e2.msg);
			free(kill);
		}
	}
	if (rc == 0 && (r.nrows < 1 || r.ncols != 2))
		rc = ferry_error_set(err, FERRY_EPROTO, NULL, "the fence answered %d rows of %d",
		                     r.nrows, r.ncols);
	if (rc == 0)
		pos = mdb_result_get(&r, 0, 1);
	if (rc == 0 && r.nrows > 1) {
		const char **ids = xcalloc((size_t)r.nrows, sizeof(*ids));
		int i;
		for (i = 1; i < r.nrows; i++)
			ids[i - 1] = mdb_result_get(&r, i, 0) ? mdb_result_get(&r, i, 0) : "0";
		sql = mdb_kill_sql(ids, r.nrows - 1);
		free(ids);
		rc = mdb_exec(c, sql, deadline, &k, err);
		free(sql);
		if (rc == 0 && (k.nrows != 1 || k.ncols != 2))
			rc = ferry_error_set(err, FERRY_EPROTO, NULL,
			                     "the kills answered %d rows of %d", k.nrows, k.ncols);
		if (rc == 0) {
			int64_t x = mdb_result_int(&k, 0, 0, 0);
			*killed = x > 0 ? (size_t)x : 0;
			pos = mdb_result_get(&k, 0, 1);
		}
	}
	if (rc == 0) {
		snprintf(m->fence_at[side], sizeof(m->fence_at[side]), "%s", pos ? pos : "");
		m->at_set[side] = true;
	}
	mdb_result_release(&k);
	mdb_result_release(&r);
	return rc;
}

static int sw_fence(void *h, enum db_side side, int64_t deadline, struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *s = side_of(m, side);
	size_t killed = 0;
	int rc;

	m->fenced[side] = m->at_set[side] = false;
	rc = fence_side(m, s, side, deadline, &killed, err);
	m->killed[side] = killed;
	m->fenced[side] = rc == 0;
	return rc < 0 ? ferry_error_prefix(err, "database %s %s: fence", m->cfg->name, s->name) : 0;
}

/* A fence that ran out of its deadline may still wait for its lock on the
 * server (its KILL QUERY is asynchronous, and not sent at all when ctl
 * was lost or slow): its read_only = 1 would land after the unfence and
 * leave the side fenced, the undo's world not as it was (seen in
 * test_mariadb on a loaded machine).  Its session is killed and gone
 * before the fence is removed, as PostgreSQL's fence_gone does; on c,
 * which is never that session (a timed-out connection is broken). */
static int fence_gone(struct mdb *m, enum db_side side, struct mdb_conn *c, int64_t deadline,
                      struct ferry_error *err)
{
	unsigned long tid = m->fence_tid[side];
	char kill[160], count[128];
	int rc;

	if (!tid || tid == mdb_thread_id(c)) {
		m->fence_tid[side] = 0;
		return 0;
	}
	/* 1094 ER_NO_SUCH_THREAD: gone already */
	snprintf(kill, sizeof(kill),
	         "BEGIN NOT ATOMIC DECLARE CONTINUE HANDLER FOR 1094 BEGIN END; KILL CONNECTION "
	         "%lu; END",
	         tid);
	snprintf(count, sizeof(count),
	         "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %lu", tid);
	rc = fault_fail("db.unfence.fence_gone", err);
	if (rc == 0)
		rc = ex(c, kill, deadline, err);
	while (rc == 0) {
		char *v = NULL;
		bool gone;

		rc = mdb_value(c, count, deadline, &v, err);
		gone = rc == 0 && v && !strcmp(v, "0");
		free(v);
		if (rc < 0 || gone)
			break;
		if (time_mono_ms() >= deadline)
			rc = ferry_error_set(
			        err, FERRY_ETIMEDOUT,
			        "the recovery waits again; the session gives up its lock wait "
			        "after lock_wait_timeout (the pause budget, in seconds)",
			        "the session of the fence that ran out of time (%lu) has "
			        "not ended yet",
			        tid);
		else
			poll(NULL, 0, 5);
	}
	if (rc == 0)
		m->fence_tid[side] = 0;
	return rc;
}

static int sw_unfence(void *h, enum db_side side, int64_t deadline, struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *s = side_of(m, side),
	                *other = side_of(m, side == DB_OLD ? DB_NEW : DB_OLD);
	struct mdb_conn *c = conn(m, s, err);
	struct mdb_repl r = { 0 };
	int rc = 0;

	if (!c)
		return err->code;
	m->fenced[side] = m->at_set[side] = false;
	rc = fence_gone(m, side, c, deadline, err);
	if (rc < 0)
		return ferry_error_prefix(err, "database %s %s: unfence", m->cfg->name, s->name);
	/* in this process's switch, the target whose replica stop_forward
	 * just stopped: nothing applies there (no SHOW SLAVE STATUS) */
	if (!(m->sw_dir && m->stopped && side == db_to((enum db_direction)(m->sw_dir - 1))))
		rc = mdb_repl_read(c, other, deadline, &r, err);
	if (rc == 0 && r.sql) {
		/* a replica that applies stays read_only (the undo's recovery
		 * asks this of a replica it found fenced) */
		log_info("database %s %s: replicates from %s: it stays read_only", m->cfg->name,
		         s->name, r.source);
		return 0;
	}
	if (rc == 0) {
		struct mdb_result ev;
		char *sql = mdb_unfence_sql(m->dbname);
		rc = mdb_exec(c, sql, deadline, &ev, err);
		free(sql);
		if (rc == 0)
			rc = events_writer(m, c, &ev, deadline, err);
		mdb_result_release(&ev);
	}
	return rc < 0 ? ferry_error_prefix(err, "database %s %s: unfence", m->cfg->name, s->name)
	              : 0;
}

static int sw_position(void *h, enum db_direction dir, int64_t deadline, char **pos,
                       struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *from, *to;
	struct mdb_conn *c;
	int rc;

	*pos = NULL;
	mdb_sides(m, dir, &from, &to);
	if (m->fenced[db_from(dir)] && m->at_set[db_from(dir)]) {
		/* the fence read it last, after the sessions were gone and
		 * with read_only on: nothing can have moved it since */
		*pos = xstrdup(m->fence_at[db_from(dir)]);
		m->at_set[db_from(dir)] = false;
		rc = 0;
	} else {
		c = conn(m, from, err);
		if (!c)
			return err->code;
		rc = mdb_value(c, MDB_SQL_POSITION, deadline, pos, err);
	}
	if (rc == 0 && !*pos)
		*pos = xstrdup("");
	if (rc == 0) {
		snprintf(m->fence_pos, sizeof(m->fence_pos), "%s", *pos);
		m->fence_dir = (int)dir;
	}
	return rc < 0 ? ferry_error_prefix(err, "database %s %s: position", m->cfg->name,
	                                   from->name)
	              : 0;
}

/* FERRY_ECHECK when the replica's threads stopped with an error. */
static int replica_broken(struct mdb *m, struct mdb_side *s, const struct mdb_side *other,
                          struct mdb_conn *c, int64_t deadline, struct ferry_error *err)
{
	struct mdb_repl r;
	int rc = mdb_repl_read(c, other, deadline, &r, err);

	if (rc < 0)
		return rc;
	if (!r.configured)
		return ferry_error_set(err, FERRY_ECHECK, "start replication first",
		                       "database %s %s: no replication configured", m->cfg->name,
		                       s->name);
	if (!r.sql && r.error[0])
		return ferry_error_set(err, FERRY_ECHECK, "see the replica's error log",
		                       "database %s %s: replication stopped: %.200s", m->cfg->name,
		                       s->name, r.error);
	if (!r.sql && !r.io)
		return ferry_error_set(err, FERRY_ECHECK, "START SLAVE on it, or rerun",
		                       "database %s %s: replication is stopped", m->cfg->name,
		                       s->name);
	return 0;
}

static int sw_wait_applied(void *h, enum db_direction dir, const char *pos, int64_t deadline,
                           struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *from, *to;
	struct mdb_conn *c;
	char *q = mdb_quote(pos ? pos : ""), *sql, *v = NULL;
	int rc = 0, round = 0;

	mdb_sides(m, dir, &from, &to);
	c = conn(m, to, err);
	if (!c) {
		free(q);
		return err->code;
	}
	sql = xasprintf(MDB_SQL_GTID_WAIT, q);
	for (;;) {
		/* a query's slice is 50 ms: leave it 100 ms to come back */
		rc = mdb_value(c, sql, deadline + 100, &v, err);
		if (rc < 0)
			break;
		if (v && !strcmp(v, "0"))
			break;
		free(v);
		v = NULL;
		if ((++round % 10) == 0 || time_mono_ms() >= deadline) {
			rc = replica_broken(m, to, from, c, deadline + 100, err);
			if (rc < 0)
				break;
		}
		if (time_mono_ms() >= deadline) {
			rc = ferry_error_set(err, FERRY_ETIMEDOUT, "let replication catch up first",
			                     "%s did not apply up to %s in time", to->name,
			                     pos ? pos : "");
			break;
		}
	}
	free(v);
	free(sql);
	free(q);
	return rc < 0 ? ferry_error_prefix(err, "database %s: wait_applied", m->cfg->name) : 0;
}

static int sw_finalize(void *h, enum db_direction dir, int64_t deadline, int64_t *count,
                       struct ferry_error *err)
{
	(void)h;
	(void)dir;
	(void)deadline;
	(void)err;
	*count = 0; /* row events carry AUTO_INCREMENT values: nothing to carry */
	return 0;
}

static int sw_stop_forward(void *h, enum db_direction dir, int64_t deadline,
                           struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *from, *to;
	struct mdb_conn *c;
	struct mdb_repl r = { 0 };
	int rc;

	mdb_sides(m, dir, &from, &to);
	c = conn(m, to, err);
	if (!c)
		return err->code;
	/* preflight saw to replicate from from, and STOP SLAVE on a stopped
	 * replica is a note (1255), no error: one round trip */
	if (in_switch(m, dir))
		rc = ex(c, "STOP SLAVE", deadline, err);
	else
		rc = replicates_from(m, to, c, from, deadline, &r, err);
	if (rc == 1 && (r.io || r.sql))
		rc = ex(c, "STOP SLAVE", deadline, err);
	if (rc >= 0 && in_switch(m, dir))
		m->stopped = true;
	return rc < 0 ? ferry_error_prefix(err, "database %s %s: stop_forward", m->cfg->name,
	                                   to->name)
	              : 0;
}

static int sw_restart_forward(void *h, enum db_direction dir, int64_t deadline,
                              struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *from, *to;
	struct mdb_conn *c;
	struct mdb_repl r;
	int rc;

	mdb_sides(m, dir, &from, &to);
	mdb_sw_forget(m);
	c = conn(m, to, err);
	if (!c)
		return err->code;
	rc = replicates_from(m, to, c, from, deadline, &r, err);
	if (rc == 0)
		rc = ferry_error_set(err, FERRY_ESTATE,
		                     "the forward stream was dropped already: copy again",
		                     "no replication from %s to restart", from->name);
	if (rc == 1)
		rc = replica_mode(c, deadline, err);
	if (rc == 0 && !r.sql)
		rc = ex(c, "START SLAVE", deadline, err);
	return rc < 0 ? ferry_error_prefix(err, "database %s %s: restart_forward", m->cfg->name,
	                                   to->name)
	              : 0;
}

static int sw_prepare_reverse(void *h, enum db_direction dir, int64_t deadline,
                              struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *from, *to;
	struct mdb_conn *c;
	struct mdb_repl r;
	int rc, have;

	mdb_sides(m, dir, &from, &to);
	/* in this process's switch: prepare configured the stream and the
	 * fence made from read_only with its scheduler off; nothing left */
	if (in_switch(m, dir) && m->fenced[db_from(dir)])
		return 0;
	c = conn(m, from, err);
	if (!c)
		return err->code;
	have = replicates_from(m, from, c, to, deadline, &r, err);
	rc = have < 0 ? have : replica_mode(c, deadline, err);
	/* prepare() configured it; a recovery that finishes a switch whose
	 * prepare never ran configures it here, demoted */
	if (rc == 0 && have == 0)
		rc = reverse_configure(m, from, c, to, true, deadline, err);
	return rc < 0 ? ferry_error_prefix(err, "database %s %s: prepare_reverse", m->cfg->name,
	                                   from->name)
	              : 0;
}

/* No replication from other configured on s, no filter. */
static int replica_drop(struct mdb *m, struct mdb_side *s, struct mdb_conn *c,
                        struct mdb_side *other, int64_t deadline, struct ferry_error *err)
{
	struct mdb_repl r;
	int rc = replicates_from(m, s, c, other, deadline, &r, err);

	if (rc == 1 && (r.io || r.sql))
		rc = ex(c, "STOP SLAVE", deadline, err);
	if (rc == 1)
		rc = ex(c, "RESET SLAVE ALL", deadline, err);
	if (rc == 0)
		rc = ex(c, "SET GLOBAL replicate_wild_do_table = ''", deadline, err);
	return rc;
}

static int sw_drop_reverse(void *h, enum db_direction dir, int64_t deadline,
                           struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *from, *to;
	struct mdb_conn *c;
	int rc;

	mdb_sw_forget(m);
	mdb_sides(m, dir, &from, &to);
	c = conn(m, from, err);
	if (!c)
		return err->code;
	rc = replica_drop(m, from, c, to, deadline, err);
	return rc < 0 ? ferry_error_prefix(err, "database %s %s: drop_reverse", m->cfg->name,
	                                   from->name)
	              : 0;
}

/* ---- after the pause ----------------------------------------------------- */

/* Where the reverse stream of dir starts, kept on from (not binlogged), for
 * carried(): this run's fence position, else (a later run) from's current
 * position if nothing was kept yet. */
static int reverse_start_note(struct mdb *m, enum db_direction dir, struct mdb_conn *c,
                              struct ferry_error *err)
{
	char *q, *sql;
	int rc;

	rc = mdb_exec_nolog(c, MDB_SQL_REVERSE_TABLE, mdb_deadline(MDB_TIMEOUT_MS), err);
	if (rc < 0)
		return rc;
	if (m->fence_pos[0] && m->fence_dir == (int)dir) {
		q = mdb_quote(m->fence_pos);
		sql = xasprintf("REPLACE INTO " MDB_META ".reverse (dir, start) VALUES (%d, %s)",
		                (int)dir, q);
	} else {
		q = NULL;
		sql = xasprintf("INSERT IGNORE INTO " MDB_META ".reverse (dir, start) SELECT %d, "
		                "@@GLOBAL.gtid_current_pos",
		                (int)dir);
	}
	rc = mdb_exec_nolog(c, sql, mdb_deadline(MDB_TIMEOUT_MS), err);
	free(sql);
	free(q);
	return rc;
}

static int sw_start_reverse(void *h, enum db_direction dir, struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *from, *to;
	struct mdb_conn *c;
	struct mdb_repl r;
	int rc;

	mdb_sw_forget(m);
	mdb_sides(m, dir, &from, &to);
	c = conn_soft(m, from, err);
	if (!c)
		return err->code;
	rc = replicates_from(m, from, c, to, mdb_deadline(MDB_TIMEOUT_MS), &r, err);
	if (rc == 0)
		rc = ferry_error_set(err, FERRY_ESTATE, "run the switch again: it recovers first",
		                     "no replication from %s configured", to->name);
	if (m->killed[db_from(dir)])
		log_info("database %s %s: the fence ended %zu application session%s", m->cfg->name,
		         from->name, m->killed[db_from(dir)],
		         m->killed[db_from(dir)] == 1 ? "" : "s");
	m->killed[db_from(dir)] = 0;
	/* running, not noted: a restart of the server started it from
	 * wherever its slave position was, not from its own position */
	if (rc == 1 && r.sql) {
		int noted = mdb_reverse_noted(m, dir, err);
		rc = noted < 0 ? noted : noted ? 0 : 1;
		if (rc == 1)
			log_warn("database %s %s: replicates from %s, not started by ferry "
			         "(restarted?): started again at its own position",
			         m->cfg->name, from->name, to->name);
	}
	if (rc == 1) {
		/* ENGINES.md A8, as MASTER_DEMOTE_TO_SLAVE does it: the start is
		 * from's own position, which its fence froze at the switch */
		rc = reverse_start_note(m, dir, c, err);
		if (rc == 0 && (r.io || r.sql))
			rc = ex(c, "STOP SLAVE", mdb_deadline(MDB_TIMEOUT_MS), err);
		if (rc == 0)
			rc = ex(c, MDB_SQL_DEMOTE, mdb_deadline(MDB_TIMEOUT_MS), err);
		if (rc == 0)
			rc = ex(c, "START SLAVE", mdb_deadline(MDB_TIMEOUT_MS), err);
	}
	return rc < 0 ? ferry_error_prefix(err, "database %s %s: start_reverse", m->cfg->name,
	                                   from->name)
	              : 0;
}

static int sw_drop_forward(void *h, enum db_direction dir, struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *from, *to;
	struct mdb_conn *c;
	int rc;

	mdb_sw_forget(m);
	mdb_sides(m, dir, &from, &to);
	c = conn_soft(m, to, err);
	if (!c)
		return err->code;
	rc = replica_drop(m, to, c, from, mdb_deadline(MDB_TIMEOUT_MS), err);
	return rc < 0 ? ferry_error_prefix(err, "database %s %s: drop_forward", m->cfg->name,
	                                   to->name)
	              : 0;
}

const struct db_switch_ops mdb_switch_ops = {
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
	.inspect = mdb_sw_inspect,
	.carried = mdb_sw_carried,
	.describe = mdb_describe_step,
};
