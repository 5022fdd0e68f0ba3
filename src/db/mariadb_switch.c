/*
 * mariadb_switch.c - the switch steps of the MariaDB engine (mariadb.h has
 * their order), each bounded by a deadline, each checking the world before
 * it acts so that a second call, or a call after a crash, does nothing
 * more.  They send only on the connections open() made: no spawn, no new
 * connection, no fixed sleep (engine-common brief).
 *
 * The fence (ENGINES.md A5): SET GLOBAL read_only=1 takes the global read
 * lock, so it waits for running writes and table locks; the wait is
 * bounded by lock_wait_timeout (whole seconds) and by the statement's
 * deadline, past which ferry kills the statement from the side's control
 * connection (KILL QUERY), so that a late read_only=1 cannot land after an
 * undo.  Then the sessions of everyone but ferry, the server's own threads
 * and replicas reading the binlog are killed (KILL CONNECTION): their open
 * transactions roll back and the clients reconnect through the switch.
 * The wait (A6): MASTER_GTID_WAIT(pos, 0.05) in a loop; 0 is done, -1 a
 * timeout.  Promotion (A7) and the way back (A8: MASTER_DEMOTE_TO_SLAVE=1
 * turns the old writer's own binlog GTIDs into its slave position).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/mariadb_int.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define POLL_S "0.05" /* MASTER_GTID_WAIT's slice: the step polls at <= 50 ms */

/* The connection of side s, or an error naming it. */
static struct mdb_conn *conn(struct mdb *m, struct mdb_side *s, struct ferry_error *err)
{
	struct mdb_conn *c = mdb_conn_of(s);

	if (!c)
		ferry_error_set(err, FERRY_EUNREACH, "check the server; the step can be retried",
		                "database %s %s: no connection left", m->cfg->name, s->name);
	return c;
}

static int left_ok(struct mdb *m, struct mdb_side *s, const char *step, int64_t deadline,
                   struct ferry_error *err)
{
	if (time_mono_ms() < deadline)
		return 0;
	return ferry_error_set(err, FERRY_ETIMEDOUT, "raise pause_budget, or retry",
	                       "database %s %s: %s: out of time", m->cfg->name, s->name, step);
}

static int ex(struct mdb_conn *c, const char *sql, int64_t deadline, struct ferry_error *err)
{
	return mdb_exec(c, sql, deadline, NULL, err);
}

/* A variable of c as text (malloc'd) or NULL on error. */
static char *var(struct mdb_conn *c, const char *name, int64_t deadline, struct ferry_error *err)
{
	char *sql = xasprintf("SELECT @@GLOBAL.%s", name), *v = NULL;

	if (mdb_value(c, sql, deadline, &v, err) < 0) {
		free(v);
		v = NULL;
	}
	free(sql);
	return v;
}

static int is_on(struct mdb_conn *c, const char *name, int64_t deadline, bool *val,
                 struct ferry_error *err)
{
	char *v = var(c, name, deadline, err);

	if (!v)
		return err->code ? err->code : FERRY_EPROTO;
	*val = !strcmp(v, "1") || !strcasecmp(v, "ON");
	free(v);
	return 0;
}

/* ---- fence ----------------------------------------------------------- */

static int set_read_only(struct mdb *m, struct mdb_side *s, int64_t deadline,
                         struct ferry_error *err)
{
	struct mdb_conn *c = conn(m, s, err);
	int64_t secs;
	char *sql;
	bool ro;
	int rc;

	if (!c)
		return err->code;
	rc = is_on(c, "read_only", deadline, &ro, err);
	if (rc < 0 || ro)
		return rc;
	/* lock_wait_timeout is in whole seconds: at least 1; the deadline
	 * below is what bounds the wait */
	secs = (deadline - time_mono_ms() + 999) / 1000;
	sql = xasprintf("SET SESSION lock_wait_timeout = %lld", (long long)(secs < 1 ? 1 : secs));
	rc = ex(c, sql, deadline, err);
	free(sql);
	if (rc < 0)
		return rc;
	rc = ex(c, "SET GLOBAL read_only = 1", deadline, err);
	if (rc == FERRY_ETIMEDOUT && c == s->q && mdb_ok(s->ctl)) {
		/* the statement may still wait for the lock: stop it, so that
		 * it cannot take effect after an undo */
		char *kill = xasprintf("KILL QUERY %lu", mdb_thread_id(c));
		struct ferry_error e2;
		if (ex(s->ctl, kill, time_mono_ms() + 200, &e2) < 0)
			log_warn("database %s %s: %s", m->cfg->name, s->name, e2.msg);
		free(kill);
	}
	return rc;
}

/* Kills every session on s but ferry's own, the server's threads and the
 * replicas reading its binlog. */
static int kill_sessions(struct mdb *m, struct mdb_side *s, int64_t deadline, size_t *killed,
                         struct ferry_error *err)
{
	struct mdb_conn *c = conn(m, s, err);
	struct mdb_result r;
	char *sql;
	int i, rc;

	*killed = 0;
	if (!c)
		return err->code;
	sql = xasprintf("SELECT ID FROM information_schema.PROCESSLIST WHERE ID NOT IN (%lu, %lu) "
	                "AND COMMAND NOT IN ('Daemon', 'Binlog Dump', 'Slave_IO', 'Slave_SQL', "
	                "'Slave_worker') AND USER NOT IN ('system user', 'event_scheduler')",
	                mdb_ok(s->q) ? mdb_thread_id(s->q) : 0UL,
	                mdb_ok(s->ctl) ? mdb_thread_id(s->ctl) : 0UL);
	rc = mdb_exec(c, sql, deadline, &r, err);
	free(sql);
	for (i = 0; rc == 0 && i < r.nrows; i++) {
		sql = xasprintf("KILL CONNECTION %s", mdb_result_get(&r, i, 0));
		rc = ex(c, sql, deadline, err);
		free(sql);
		if (rc < 0 && mdb_errno(c) == 1094) /* gone meanwhile: ER_NO_SUCH_THREAD */
			rc = 0;
		else if (rc == 0)
			(*killed)++;
	}
	mdb_result_release(&r);
	return rc;
}

int mariadb_fence(void *h, enum db_direction dir, int64_t deadline, struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *from, *to;
	size_t killed = 0;
	int rc;

	mdb_sides(m, dir, &from, &to);
	rc = set_read_only(m, from, deadline, err);
	if (rc == 0)
		rc = kill_sessions(m, from, deadline, &killed, err);
	if (rc == 0)
		log_info("database %s %s: read_only, %zu session%s killed", m->cfg->name,
		         from->name, killed, killed == 1 ? "" : "s");
	return rc < 0 ? ferry_error_prefix(err, "fence") : 0;
}

int mariadb_unfence(void *h, enum db_direction dir, int64_t deadline, struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *from, *to;
	struct mdb_conn *c;
	bool ro;
	int rc;

	mdb_sides(m, dir, &from, &to);
	c = conn(m, from, err);
	if (!c)
		return err->code;
	rc = is_on(c, "read_only", deadline, &ro, err);
	if (rc == 0 && ro)
		rc = ex(c, "SET GLOBAL read_only = 0", deadline, err);
	return rc < 0 ? ferry_error_prefix(err, "unfence") : 0;
}

int mariadb_position(void *h, enum db_direction dir, int64_t deadline, char **pos,
                     struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *from, *to;
	struct mdb_conn *c;
	int rc;

	*pos = NULL;
	mdb_sides(m, dir, &from, &to);
	c = conn(m, from, err);
	if (!c)
		return err->code;
	rc = mdb_value(c, "SELECT @@GLOBAL.gtid_binlog_pos", deadline, pos, err);
	if (rc == 0 && !*pos)
		*pos = xstrdup("");
	return rc < 0 ? ferry_error_prefix(err, "position") : 0;
}

/* ---- wait ------------------------------------------------------------ */

/* FERRY_ECHECK when the replica's threads stopped with an error. */
static int replica_broken(struct mdb *m, struct mdb_side *s, struct mdb_conn *c, int64_t deadline,
                          struct ferry_error *err)
{
	struct mdb_result st;
	const char *io, *sq, *e;
	int rc;

	rc = mdb_slave_status(c, deadline, &st, err);
	if (rc < 0)
		return rc;
	if (st.nrows == 0) {
		rc = ferry_error_set(err, FERRY_ECHECK, "start replication first",
		                     "database %s %s: no replication configured", m->cfg->name,
		                     s->name);
	} else {
		sq = mdb_result_named(&st, 0, "Slave_SQL_Running");
		io = mdb_result_named(&st, 0, "Slave_IO_Running");
		e = mdb_result_named(&st, 0, "Last_SQL_Error");
		if (sq && strcmp(sq, "Yes") && e && *e)
			rc = ferry_error_set(err, FERRY_ECHECK, "see the replica's error log",
			                     "database %s %s: replication stopped: %.200s",
			                     m->cfg->name, s->name, e);
		else if (sq && strcmp(sq, "Yes") && io && strcmp(io, "Yes"))
			rc = ferry_error_set(err, FERRY_ECHECK, "START SLAVE on it, or rerun",
			                     "database %s %s: replication is stopped", m->cfg->name,
			                     s->name);
	}
	mdb_result_release(&st);
	return rc;
}

int mariadb_wait_applied(void *h, enum db_direction dir, const char *pos, int64_t deadline,
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
	sql = xasprintf("SELECT MASTER_GTID_WAIT(%s, " POLL_S ")", q);
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
			rc = replica_broken(m, to, c, deadline + 100, err);
			if (rc < 0)
				break;
		}
		rc = left_ok(m, to, "wait_applied", deadline, err);
		if (rc < 0)
			break;
	}
	free(v);
	free(sql);
	free(q);
	return rc < 0 ? ferry_error_prefix(err, "wait_applied %s", pos ? pos : "") : 0;
}

/* ---- promote --------------------------------------------------------- */

/* Events that replication brought in are SLAVESIDE_DISABLED (ENGINES.md
 * A1): enabled at the promotion, with the scheduler. */
static int events_on(struct mdb *m, struct mdb_conn *c, int64_t deadline, struct ferry_error *err)
{
	struct mdb_result r;
	char *db = mdb_quote(m->dbname), *sql;
	int64_t n;
	int i, rc;

	sql = xasprintf("SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s "
	                "AND STATUS = 'SLAVESIDE_DISABLED'",
	                db);
	rc = mdb_exec(c, sql, deadline, &r, err);
	free(sql);
	for (i = 0; rc == 0 && i < r.nrows; i++) {
		char *d = mdb_ident(m->dbname), *e = mdb_ident(mdb_result_get(&r, i, 0));
		sql = xasprintf("ALTER EVENT %s.%s ENABLE", d, e);
		rc = ex(c, sql, deadline, err);
		free(sql);
		free(d);
		free(e);
	}
	mdb_result_release(&r);
	free(db);
	if (rc < 0)
		return rc;
	n = mdb_count_events(m, c, deadline, err);
	if (n < 0)
		return (int)n;
	return n > 0 ? ex(c, "SET GLOBAL event_scheduler = ON", deadline, err) : 0;
}

int mariadb_promote(void *h, enum db_direction dir, int64_t deadline, struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *from, *to;
	struct mdb_result st;
	struct mdb_conn *c;
	bool ro;
	int rc;

	mdb_sides(m, dir, &from, &to);
	c = conn(m, to, err);
	if (!c)
		return err->code;
	rc = mdb_slave_status(c, deadline, &st, err);
	if (rc == 0 && st.nrows > 0) {
		const char *io = mdb_result_named(&st, 0, "Slave_IO_Running");
		const char *sq = mdb_result_named(&st, 0, "Slave_SQL_Running");
		if ((io && strcmp(io, "No")) || (sq && strcmp(sq, "No")))
			rc = ex(c, "STOP SLAVE", deadline, err);
	}
	mdb_result_release(&st);
	if (rc == 0)
		rc = is_on(c, "read_only", deadline, &ro, err);
	if (rc == 0 && ro)
		rc = ex(c, "SET GLOBAL read_only = 0", deadline, err);
	if (rc == 0)
		rc = events_on(m, c, deadline, err);
	return rc < 0 ? ferry_error_prefix(err, "promote") : 0;
}

int mariadb_unpromote(void *h, enum db_direction dir, int64_t deadline, struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *from, *to;
	struct mdb_result st;
	struct mdb_conn *c;
	int rc;

	mdb_sides(m, dir, &from, &to);
	c = conn(m, to, err);
	if (!c)
		return err->code;
	rc = ex(c, "SET GLOBAL read_only = 1", deadline, err);
	if (rc == 0)
		rc = ex(c, "SET GLOBAL event_scheduler = OFF", deadline, err);
	if (rc == 0)
		rc = mdb_slave_status(c, deadline, &st, err);
	if (rc == 0 && st.nrows > 0) {
		const char *sq = mdb_result_named(&st, 0, "Slave_SQL_Running");
		if (sq && strcmp(sq, "Yes"))
			rc = ex(c, "START SLAVE", deadline, err);
	}
	if (rc == 0 && st.nrows == 0)
		rc = ferry_error_set(
		        err, FERRY_ESTATE, "the forward stream was dropped already: copy again",
		        "database %s %s: no replication to restart", m->cfg->name, to->name);
	mdb_result_release(&st);
	return rc < 0 ? ferry_error_prefix(err, "unpromote") : 0;
}

/* ---- the way back ---------------------------------------------------- */

/* 1 when s replicates from other (host and port), 0 when it has no
 * replica configuration, FERRY_ESTATE when it replicates from elsewhere. */
static int replicates_from(struct mdb *m, struct mdb_side *s, struct mdb_conn *c,
                           const struct mdb_side *other, int64_t deadline, struct ferry_error *err)
{
	struct mdb_result st;
	const char *host, *port;
	int rc;

	rc = mdb_slave_status(c, deadline, &st, err);
	if (rc < 0)
		return rc;
	if (st.nrows > 0) {
		host = mdb_result_named(&st, 0, "Master_Host");
		port = mdb_result_named(&st, 0, "Master_Port");
		if (host && port &&
		    !strcmp(host, other->ep_in.host ? other->ep_in.host : "127.0.0.1") &&
		    !strcmp(port, other->ep_in.port ? other->ep_in.port : "3306"))
			rc = 1;
		else
			rc = ferry_error_set(err, FERRY_ESTATE,
			                     "RESET SLAVE ALL on it if that replication is stale",
			                     "database %s %s: replicates from %s:%s, not from %s",
			                     m->cfg->name, s->name, host ? host : "?",
			                     port ? port : "?", other->name);
	}
	mdb_result_release(&st);
	return rc;
}

int mariadb_prepare_reverse(void *h, enum db_direction dir, int64_t deadline,
                            struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *from, *to;
	struct mdb_conn *c;
	char *sql, *filter, *qf;
	int rc;

	mdb_sides(m, dir, &from, &to);
	c = conn(m, from, err);
	if (!c)
		return err->code;
	rc = replicates_from(m, from, c, to, deadline, err);
	if (rc != 0)
		return rc < 0 ? ferry_error_prefix(err, "prepare_reverse") : 0;
	rc = ex(c, "SET GLOBAL read_only = 1", deadline, err);
	if (rc == 0)
		rc = ex(c, "SET GLOBAL event_scheduler = OFF", deadline, err);
	if (rc == 0) {
		filter = mdb_filter(m);
		qf = mdb_quote(filter);
		sql = xasprintf("SET GLOBAL replicate_wild_do_table = %s", qf);
		rc = ex(c, sql, deadline, err);
		free(sql);
		free(qf);
		free(filter);
	}
	if (rc == 0) {
		sql = mdb_change_master_sql(m, from, to, true, true);
		rc = ex(c, sql, deadline, err);
		xfree_secret(sql, strlen(sql));
	}
	return rc < 0 ? ferry_error_prefix(err, "prepare_reverse") : 0;
}

int mariadb_unprepare_reverse(void *h, enum db_direction dir, int64_t deadline,
                              struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *from, *to;
	struct mdb_conn *c;
	int rc;

	mdb_sides(m, dir, &from, &to);
	c = conn(m, from, err);
	if (!c)
		return err->code;
	rc = replicates_from(m, from, c, to, deadline, err);
	if (rc == 1)
		rc = ex(c, "STOP SLAVE", deadline, err);
	if (rc == 0)
		rc = ex(c, "RESET SLAVE ALL", deadline, err);
	if (rc == 0)
		rc = ex(c, "SET GLOBAL replicate_wild_do_table = ''", deadline, err);
	if (rc == 0) {
		int64_t n = mdb_count_events(m, c, deadline, err);
		rc = n < 0   ? (int)n
		     : n > 0 ? ex(c, "SET GLOBAL event_scheduler = ON", deadline, err)
		             : 0;
	}
	return rc < 0 ? ferry_error_prefix(err, "unprepare_reverse") : 0;
}

int mariadb_start_reverse(void *h, enum db_direction dir, int64_t deadline, struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *from, *to;
	struct mdb_result st;
	struct mdb_conn *c;
	int rc;

	mdb_sides(m, dir, &from, &to);
	c = conn(m, from, err);
	if (!c)
		return err->code;
	rc = replicates_from(m, from, c, to, deadline, err);
	if (rc == 0)
		rc = ferry_error_set(err, FERRY_ESTATE, "run prepare_reverse first",
		                     "database %s %s: no replication from %s configured",
		                     m->cfg->name, from->name, to->name);
	if (rc < 0)
		return ferry_error_prefix(err, "start_reverse");
	rc = mdb_slave_status(c, deadline, &st, err);
	if (rc == 0) {
		const char *io = mdb_result_named(&st, 0, "Slave_IO_Running");
		const char *sq = mdb_result_named(&st, 0, "Slave_SQL_Running");
		if (!io || !sq || strcmp(sq, "Yes") || !strcmp(io, "No"))
			rc = ex(c, "START SLAVE", deadline, err);
	}
	mdb_result_release(&st);
	return rc < 0 ? ferry_error_prefix(err, "start_reverse") : 0;
}

int mariadb_drop_forward(void *h, enum db_direction dir, int64_t deadline, struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *from, *to;
	struct mdb_conn *c;
	int rc;

	mdb_sides(m, dir, &from, &to);
	c = conn(m, to, err);
	if (!c)
		return err->code;
	rc = replicates_from(m, to, c, from, deadline, err);
	if (rc == 1) {
		rc = ex(c, "STOP SLAVE", deadline, err);
		if (rc == 0)
			rc = ex(c, "RESET SLAVE ALL", deadline, err);
	}
	if (rc == 0)
		rc = ex(c, "SET GLOBAL replicate_wild_do_table = ''", deadline, err);
	return rc < 0 ? ferry_error_prefix(err, "drop_forward") : 0;
}

/* ---- inspect --------------------------------------------------------- */

static int inspect_side(struct mdb *m, struct mdb_side *s, struct mariadb_side_state *o,
                        struct ferry_error *err)
{
	struct mdb_conn *c;
	struct mdb_result r, st;
	int64_t deadline = mdb_deadline(MDB_TIMEOUT_MS);
	const char *v;
	int rc;

	memset(o, 0, sizeof(*o));
	rc = mdb_side_reconnect(m, s, err);
	if (rc < 0)
		return rc;
	c = s->q;
	rc = mdb_exec(c,
	              "SELECT @@GLOBAL.read_only, @@GLOBAL.event_scheduler, "
	              "@@GLOBAL.gtid_binlog_pos, @@GLOBAL.gtid_slave_pos",
	              deadline, &r, err);
	if (rc == 0 && r.nrows == 1) {
		o->read_only = !strcmp(mdb_result_get(&r, 0, 0) ?: "", "1");
		o->events_on = !strcasecmp(mdb_result_get(&r, 0, 1) ?: "", "ON");
		snprintf(o->binlog_pos, sizeof(o->binlog_pos), "%s",
		         mdb_result_get(&r, 0, 2) ?: "");
		snprintf(o->slave_pos, sizeof(o->slave_pos), "%s", mdb_result_get(&r, 0, 3) ?: "");
	}
	mdb_result_release(&r);
	if (rc == 0)
		rc = mdb_slave_status(c, deadline, &st, err);
	if (rc == 0 && st.nrows > 0) {
		o->replica = true;
		v = mdb_result_named(&st, 0, "Slave_IO_Running");
		o->io_running = v && !strcmp(v, "Yes");
		v = mdb_result_named(&st, 0, "Slave_SQL_Running");
		o->sql_running = v && !strcmp(v, "Yes");
		snprintf(o->source, sizeof(o->source), "%s:%s",
		         mdb_result_named(&st, 0, "Master_Host") ?: "?",
		         mdb_result_named(&st, 0, "Master_Port") ?: "?");
		v = mdb_result_named(&st, 0, "Last_SQL_Error");
		if (!v || !*v)
			v = mdb_result_named(&st, 0, "Last_IO_Error");
		snprintf(o->last_error, sizeof(o->last_error), "%s", v ?: "");
	}
	if (rc == 0)
		mdb_result_release(&st);
	return rc;
}

int mariadb_inspect(void *h, struct mariadb_side_state *old, struct mariadb_side_state *new,
                    struct ferry_error *err)
{
	struct mdb *m = h;
	int rc = inspect_side(m, &m->old, old, err);

	if (rc == 0)
		rc = inspect_side(m, &m->new, new, err);
	return rc < 0 ? ferry_error_prefix(err, "database %s: inspect", m->cfg->name) : 0;
}
