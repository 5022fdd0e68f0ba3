/*
 * mariadb.c - the MariaDB engine: open, replication, lag, verification and
 * teardown (the copy is in mariadb_copy.c, readiness in mariadb_check.c,
 * the switch steps in mariadb_switch.c, the dry run in mariadb_describe.c).
 *
 * Replication is the server's own GTID replication (MariaDB KB "Setting
 * up a Replica with mariadb-dump"; ENGINES.md A2, A3):
 *   1. on both sides ferry's database _ferry (sql_log_bin=0): the
 *      heartbeat, and on new the copy's state (copying, copied, streaming),
 *      so that a run interrupted mid-copy starts the copy over instead of
 *      streaming onto half a database;
 *   2. new: read_only=1, event_scheduler=OFF (dumped events arrive
 *      ENABLED; they must not run before the promotion);
 *   3. the copy (mariadb_copy.c) in a thread: progress() follows it;
 *   4. when it is done: new gets the replication filter (the application's
 *      database and _ferry, so that other databases of old do not stop the
 *      stream), gtid_slave_pos from the dump, CHANGE MASTER TO ...
 *      MASTER_USE_GTID=slave_pos and START SLAVE.
 * replicate_start() does 1-3 and returns; progress() finishes 4 when the
 * copy is done, and restarts a copy that an earlier process left behind.
 *
 * Lag (ENGINES.md A4): GTID sequence distance per domain between the
 * writer's @@gtid_binlog_pos and the replica's @@gtid_slave_pos, and
 * seconds from a heartbeat row that lag() itself writes on the writer at
 * each call (the soak calls it every second) before it reads the replica's
 * position, not Seconds_Behind_Master
 * (which pt-heartbeat's manual calls unreliable).
 *
 * CHANGE MASTER's MASTER_PASSWORD is kept by the server in master.info
 * (a file of its data directory); there is no other place for it.  ferry
 * never prints it and wipes its copies.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/mariadb_int.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

int64_t mdb_deadline(int64_t ms)
{
	return time_mono_ms() + ms;
}

void mdb_sides(struct mdb *m, enum db_direction dir, struct mdb_side **from, struct mdb_side **to)
{
	*from = dir == DB_FORWARD ? &m->old : &m->new;
	*to = dir == DB_FORWARD ? &m->new : &m->old;
}

struct mdb_conn *mdb_conn_of(struct mdb_side *s)
{
	if (mdb_ok(s->q))
		return s->q;
	return mdb_ok(s->ctl) ? s->ctl : NULL;
}

static int side_connect(struct mdb *m, struct mdb_side *s, struct mdb_conn **c, const char *role,
                        struct ferry_error *err)
{
	char what[160];

	snprintf(what, sizeof(what), "database %s %s%s", m->cfg->name, s->name, role);
	mdb_free(*c);
	*c = NULL;
	return mdb_connect(c, s->conninfo, s->password, what, MDB_NO_DB,
	                   mdb_deadline(MDB_TIMEOUT_MS), err);
}

int mdb_side_reconnect(struct mdb *m, struct mdb_side *s, struct ferry_error *err)
{
	int rc = 0;

	if (!mdb_ok(s->q))
		rc = side_connect(m, s, &s->q, "", err);
	if (rc == 0 && !mdb_ok(s->ctl))
		rc = side_connect(m, s, &s->ctl, " (control)", err);
	return rc;
}

int mdb_side_refresh(struct mdb *m, struct mdb_side *s, struct ferry_error *err)
{
	struct mdb_conn *c[2] = { s->q, s->ctl };
	int i;

	for (i = 0; i < 2; i++) {
		struct ferry_error e = { 0 };
		/* a lost one is shut down by the failure (mdb_ok() false) */
		if (mdb_ok(c[i]) &&
		    mdb_exec(c[i], "DO 1", mdb_deadline(MDB_PING_MS), NULL, &e) < 0 &&
		    !mdb_ok(c[i]))
			log_info("%s; connecting again", e.msg);
	}
	return mdb_side_reconnect(m, s, err);
}

bool mdb_lost_and_back(struct mdb *m, int rc)
{
	struct ferry_error e = { 0 };

	if (rc != FERRY_EUNREACH || (mdb_ok(m->old.q) && mdb_ok(m->new.q)))
		return false;
	return mdb_side_reconnect(m, &m->old, &e) == 0 && mdb_side_reconnect(m, &m->new, &e) == 0;
}

static int side_init(struct mdb *m, struct mdb_side *s, const char *name, const char *conninfo,
                     const char *password, const char *from_other, struct ferry_error *err)
{
	char what[160];
	int rc;

	s->name = name;
	s->conninfo = conninfo;
	s->password = password;
	s->from_other = from_other ? from_other : conninfo;
	snprintf(what, sizeof(what), "database %s %s", m->cfg->name, name);
	rc = mdb_endpoint_parse(conninfo, what, &s->ep, err);
	if (rc == 0)
		rc = mdb_endpoint_parse(s->from_other, what, &s->ep_in, err);
	if (rc == 0 && !s->ep.dbname)
		rc = ferry_error_set(err, FERRY_EINVAL, "add dbname=NAME to the connection string",
		                     "%s: no database named", what);
	if (rc == 0 && s->ep_in.host && s->ep_in.host[0] == '/')
		rc = ferry_error_set(
		        err, FERRY_EINVAL, "give the address the other server reaches it at",
		        "%s: replication needs TCP, not the socket %s", what, s->ep_in.host);
	return rc;
}

static void mdb_close(void *h)
{
	struct mdb *m = h;
	struct mdb_side *sides[2] = { &m->old, &m->new };
	int i;

	if (!m)
		return;
	mdb_copy_free(m);
	for (i = 0; i < 2; i++) {
		mdb_free(sides[i]->q);
		mdb_free(sides[i]->ctl);
		mdb_endpoint_release(&sides[i]->ep);
		mdb_endpoint_release(&sides[i]->ep_in);
	}
	free(m->dbname);
	free(m);
}

static int mdb_open(const struct db_config *cfg, void **out, struct ferry_error *err)
{
	struct mdb *m = xcalloc(1, sizeof(*m));
	int rc;

	*out = NULL;
	m->cfg = cfg;
	m->sched_writer = -1;
	rc = side_init(m, &m->old, "old", cfg->old_conninfo, cfg->old_password, cfg->old_from_new,
	               err);
	if (rc == 0)
		rc = side_init(m, &m->new, "new", cfg->new_conninfo, cfg->new_password,
		               cfg->new_from_old, err);
	if (rc == 0 && strcmp(m->old.ep.dbname, m->new.ep.dbname))
		rc = ferry_error_set(err, FERRY_EINVAL,
		                     "replication keeps the database's name: use the same dbname",
		                     "database %s: dbname differs (old %s, new %s)", cfg->name,
		                     m->old.ep.dbname, m->new.ep.dbname);
	if (rc == 0) {
		m->dbname = xstrdup(m->old.ep.dbname);
		rc = mdb_side_reconnect(m, &m->old, err);
	}
	if (rc == 0)
		rc = mdb_side_reconnect(m, &m->new, err);
	if (rc < 0) {
		mdb_close(m);
		return rc;
	}
	*out = m;
	return 0;
}

/* ---- shared helpers ---------------------------------------------------- */

/* LIKE wildcards of a database name escaped for replicate_wild_do_table. */
static void like_escaped(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '_' || *s == '%' || *s == '\\')
			buf_addch(b, '\\');
		buf_addch(b, *s);
	}
}

char *mdb_filter(const struct mdb *m)
{
	struct buf b;

	buf_init(&b, 4096);
	like_escaped(&b, m->dbname);
	buf_adds(&b, ".%,");
	like_escaped(&b, MDB_META);
	buf_adds(&b, ".%");
	return buf_detach(&b, NULL);
}

char *mdb_change_master_sql(const struct mdb *m, const struct mdb_side *to,
                            const struct mdb_side *from, bool demote, bool with_password)
{
	char *host = mdb_quote(from->ep_in.host ? from->ep_in.host : "127.0.0.1");
	char *user = mdb_quote(from->ep_in.user ? from->ep_in.user : "root");
	char *pw = with_password && from->password ? mdb_quote(from->password) : NULL;
	char *s;

	(void)m;
	(void)to;
	s = xasprintf("CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%s, MASTER_USER=%s, "
	              "MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1%s",
	              host, from->ep_in.port ? from->ep_in.port : "3306", user,
	              pw ? pw : (with_password ? "''" : "'<password of the other side>'"),
	              demote ? ", MASTER_DEMOTE_TO_SLAVE=1" : "");
	free(host);
	free(user);
	if (pw)
		xfree_secret(pw, strlen(pw));
	return s;
}

int mdb_slave_status(struct mdb_conn *c, int64_t deadline, struct mdb_result *r,
                     struct ferry_error *err)
{
	return mdb_exec(c, "SHOW SLAVE STATUS", deadline, r, err);
}

int mdb_exec_nolog(struct mdb_conn *c, const char *sql, int64_t deadline, struct ferry_error *err)
{
	int rc = mdb_exec(c, "SET SESSION sql_log_bin=0", deadline, NULL, err);

	if (rc == 0)
		rc = mdb_exec(c, sql, deadline, NULL, err);
	if (mdb_ok(c)) {
		struct ferry_error e2;
		mdb_exec(c, "SET SESSION sql_log_bin=1", deadline, NULL, &e2);
	}
	return rc;
}

int mdb_meta_ensure(struct mdb_conn *c, struct ferry_error *err)
{
	static const char *const sql[] = {
		"CREATE DATABASE IF NOT EXISTS " MDB_META,
		"CREATE TABLE IF NOT EXISTS " MDB_META ".heartbeat (id INT PRIMARY KEY, seq "
		"BIGINT NOT NULL, ts DATETIME(6) NOT NULL) ENGINE=InnoDB",
		"CREATE TABLE IF NOT EXISTS " MDB_META ".copy (id INT PRIMARY KEY, state "
		"VARCHAR(16) NOT NULL, gtid TEXT NOT NULL) ENGINE=InnoDB",
		/* on both sides before the stream starts, so that the replica
		 * always has a row: until the first heartbeat arrives its age
		 * is the lag (large, not unknown) */
		"INSERT IGNORE INTO " MDB_META ".heartbeat (id, seq, ts) VALUES (1, 0, NOW(6))",
		NULL,
	};
	int rc = 0, i;

	for (i = 0; sql[i] && rc == 0; i++)
		rc = mdb_exec_nolog(c, sql[i], mdb_deadline(MDB_TIMEOUT_MS), err);
	return rc;
}

int64_t mdb_count_events(struct mdb *m, struct mdb_conn *c, int64_t deadline,
                         struct ferry_error *err)
{
	char *db = mdb_quote(m->dbname), *sql, *v = NULL;
	int64_t n = -1;
	int rc;

	sql = xasprintf("SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s",
	                db);
	rc = mdb_value(c, sql, deadline, &v, err);
	if (rc == 0)
		n = v ? strtoll(v, NULL, 10) : 0;
	free(v);
	free(sql);
	free(db);
	return rc < 0 ? rc : n;
}

/* seq of domain d in a GTID list, -1 if absent. */
static int64_t gtid_seq(const char *list, long d)
{
	const char *p = list;

	while (p && *p) {
		char *end;
		long dom = strtol(p, &end, 10);
		if (*end == '-') {
			const char *q = strchr(end + 1, '-');
			if (q && dom == d)
				return strtoll(q + 1, NULL, 10);
		}
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return -1;
}

int64_t mdb_gtid_distance(const char *a, const char *b)
{
	const char *p = a;
	int64_t sum = 0;

	while (p && *p) {
		char *end;
		long dom;
		while (*p == ' ' || *p == '\n')
			p++;
		dom = strtol(p, &end, 10);
		if (end != p && *end == '-') {
			int64_t sa = gtid_seq(a, dom), sb = gtid_seq(b ? b : "", dom);
			if (sa > sb)
				sum += sa - (sb < 0 ? 0 : sb);
		}
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return sum;
}

/* ---- replication ------------------------------------------------------ */

/* The copy's state on new ("" when none). */
static int copy_state(struct mdb *m, char **state, char **gtid, struct ferry_error *err)
{
	struct mdb_result r;
	int rc;

	*state = xstrdup("");
	if (gtid)
		*gtid = NULL;
	rc = mdb_exec(m->new.q,
	              "SELECT state, gtid FROM " MDB_META ".copy WHERE id = 1 UNION ALL SELECT '', "
	              "'' LIMIT 1",
	              mdb_deadline(MDB_TIMEOUT_MS), &r, err);
	if (rc < 0 && mdb_errno(m->new.q) == 1146) /* no such table: no copy yet */
		return 0;
	if (rc == 0 && r.nrows > 0) {
		free(*state);
		*state = xstrdup(mdb_result_get(&r, 0, 0) ? mdb_result_get(&r, 0, 0) : "");
		if (gtid)
			*gtid = xstrdup(mdb_result_get(&r, 0, 1));
	}
	mdb_result_release(&r);
	return rc;
}

static int set_copy_state(struct mdb *m, const char *state, const char *gtid,
                          struct ferry_error *err)
{
	char *qs = mdb_quote(state), *qg = mdb_quote(gtid ? gtid : ""), *sql;
	int rc;

	sql = xasprintf("REPLACE INTO " MDB_META ".copy (id, state, gtid) VALUES (1, %s, %s)", qs,
	                qg);
	rc = mdb_exec_nolog(m->new.q, sql, mdb_deadline(MDB_TIMEOUT_MS), err);
	free(sql);
	free(qs);
	free(qg);
	return rc;
}

/* Replication on new from old, starting at gtid (the dump's position). */
static int stream_start(struct mdb *m, const char *gtid, struct ferry_error *err)
{
	char *filter = mdb_filter(m), *qf = mdb_quote(filter), *qg = mdb_quote(gtid), *sql = NULL;
	char *cm = NULL;
	int rc;

	log_info("database %s: starting replication old -> new at %s", m->cfg->name,
	         *gtid ? gtid : "the beginning");
	rc = mdb_exec(m->new.q, "STOP SLAVE", mdb_deadline(MDB_TIMEOUT_MS), NULL, err);
	if (rc == 0) {
		sql = xasprintf("SET GLOBAL replicate_wild_do_table = %s", qf);
		rc = mdb_exec(m->new.q, sql, mdb_deadline(MDB_TIMEOUT_MS), NULL, err);
		free(sql);
	}
	if (rc == 0) {
		sql = xasprintf("SET GLOBAL gtid_slave_pos = %s", qg);
		rc = mdb_exec(m->new.q, sql, mdb_deadline(MDB_TIMEOUT_MS), NULL, err);
		free(sql);
	}
	if (rc == 0) {
		cm = mdb_change_master_sql(m, &m->new, &m->old, false, true);
		rc = mdb_exec(m->new.q, cm, mdb_deadline(MDB_TIMEOUT_MS), NULL, err);
		xfree_secret(cm, strlen(cm));
	}
	if (rc == 0)
		rc = mdb_exec(m->new.q, "START SLAVE", mdb_deadline(MDB_TIMEOUT_MS), NULL, err);
	if (rc == 0)
		rc = set_copy_state(m, "streaming", gtid, err);
	free(filter);
	free(qf);
	free(qg);
	return rc < 0 ? ferry_error_prefix(err, "database %s: replication", m->cfg->name) : 0;
}

/* Whether new already has the application's database. */
static int target_has_db(struct mdb *m, struct ferry_error *err)
{
	char *db = mdb_quote(m->dbname), *sql, *v = NULL;
	int rc;

	sql = xasprintf("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
	                db);
	rc = mdb_value(m->new.q, sql, mdb_deadline(MDB_TIMEOUT_MS), &v, err);
	if (rc == 0)
		rc = v && strcmp(v, "0") ? 1 : 0;
	free(v);
	free(sql);
	free(db);
	return rc;
}

/* Makes sure replication is on its way: the idempotent start, also called
 * by progress() when nothing is running. */
static int replication_ensure(struct mdb *m, struct ferry_error *err)
{
	char *state = NULL, *gtid = NULL;
	int rc;

	rc = mdb_side_reconnect(m, &m->old, err);
	if (rc == 0)
		rc = mdb_side_reconnect(m, &m->new, err);
	if (rc == 0)
		rc = copy_state(m, &state, &gtid, err);
	if (rc < 0)
		goto out;
	if (!strcmp(state, "streaming"))
		goto out;
	if (!strcmp(state, "copied")) {
		rc = stream_start(m, gtid ? gtid : "", err);
		goto out;
	}
	if (m->copy) {
		rc = mdb_copy_poll(m, err);
		if (rc >= 0) /* running, or done and finished by progress() */
			rc = 0;
		goto out;
	}
	rc = target_has_db(m, err);
	if (rc < 0)
		goto out;
	if (rc == 1 && strcmp(state, "copying")) {
		rc = ferry_error_set(err, FERRY_ESTATE,
		                     "ferry copies into an empty server: drop the database on new "
		                     "(it is not one ferry made)",
		                     "database %s: new already has a database %s", m->cfg->name,
		                     m->dbname);
		goto out;
	}
	if (rc == 1) {
		/* a copy that an earlier run left half done */
		char *sql, *id = mdb_ident(m->dbname);
		log_info("database %s: dropping the half-copied database on new", m->cfg->name);
		sql = xasprintf("DROP DATABASE %s", id);
		rc = mdb_exec_nolog(m->new.q, sql, mdb_deadline(600000), err);
		free(sql);
		free(id);
		if (rc < 0)
			goto out;
	}
	rc = mdb_meta_ensure(m->old.q, err);
	if (rc == 0)
		rc = mdb_meta_ensure(m->new.q, err);
	if (rc == 0)
		rc = mdb_exec(m->new.q, "SET GLOBAL read_only = 1", mdb_deadline(MDB_TIMEOUT_MS),
		              NULL, err);
	if (rc == 0)
		rc = mdb_exec(m->new.q, "SET GLOBAL event_scheduler = OFF",
		              mdb_deadline(MDB_TIMEOUT_MS), NULL, err);
	if (rc == 0)
		rc = set_copy_state(m, "copying", "", err);
	if (rc == 0) {
		log_info("database %s: copying old -> new (mariadb-dump | mariadb)", m->cfg->name);
		rc = mdb_copy_start(m, err);
	}
out:
	free(state);
	free(gtid);
	return rc;
}

static int mdb_replicate_start(void *h, struct ferry_error *err)
{
	return replication_ensure(h, err);
}

/* Every base table of the application's database on c, sorted. */
static int list_tables(struct mdb *m, struct mdb_conn *c, struct mdb_result *r,
                       struct ferry_error *err)
{
	char *db = mdb_quote(m->dbname), *sql;
	int rc;

	sql = xasprintf("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
	                "AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
	                db);
	rc = mdb_exec(c, sql, mdb_deadline(MDB_TIMEOUT_MS), r, err);
	free(sql);
	free(db);
	return rc;
}

static int mdb_progress(void *h, struct db_progress *out, struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_result r;
	char *state = NULL;
	bool streaming;
	int i, rc;

	if (m->copy) {
		rc = mdb_copy_poll(m, err);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			rc = set_copy_state(m, "copied", mdb_copy_gtid(m), err);
			if (rc == 0)
				rc = stream_start(m, mdb_copy_gtid(m), err);
			mdb_copy_free(m);
			if (rc < 0)
				return rc;
		}
	}
	rc = mdb_side_reconnect(m, &m->new, err);
	if (rc == 0)
		rc = copy_state(m, &state, NULL, err);
	if (rc == 0 && strcmp(state, "streaming") && !m->copy)
		rc = replication_ensure(m, err); /* an earlier run's copy died with it */
	if (rc < 0)
		goto out;
	if (m->copy) {
		mdb_copy_progress(m, out);
		goto out;
	}
	/* streaming once the replica's threads both run ('s' until then) */
	rc = mdb_slave_status(m->new.q, mdb_deadline(MDB_TIMEOUT_MS), &r, err);
	if (rc < 0)
		goto out;
	streaming = r.nrows > 0 &&
	            !strcmp(mdb_result_named(&r, 0, "Slave_IO_Running") ?: "", "Yes") &&
	            !strcmp(mdb_result_named(&r, 0, "Slave_SQL_Running") ?: "", "Yes");
	mdb_result_release(&r);
	rc = list_tables(m, m->old.q, &r, err);
	if (rc < 0)
		goto out;
	for (i = 0; i < r.nrows; i++) {
		struct db_table_progress *t;
		XGROW(out->v, out->alloc, out->n + 1);
		t = &out->v[out->n++];
		t->name = xasprintf("%s.%s", m->dbname, mdb_result_get(&r, i, 0));
		t->state = streaming ? 'r' : 's';
		t->ready = streaming;
		t->bytes = -1;
		out->ready += streaming;
	}
	mdb_result_release(&r);
out:
	free(state);
	return rc;
}

/* ---- lag --------------------------------------------------------------- */

static int64_t hb_written_at(const struct mdb *m, int64_t seq)
{
	int i;

	for (i = 0; i < MDB_HB_RING; i++)
		if (m->hb[i].seq == seq && m->hb[i].mono)
			return m->hb[i].mono;
	return -1;
}

static int lag_once(struct mdb *m, enum db_direction dir, struct db_lag *out,
                    struct ferry_error *err)
{
	struct mdb_side *from, *to;
	struct mdb_result st = { 0 }, tr = { 0 }, fr = { 0 }, ms = { 0 };
	int64_t tseq = -1, fseq = -1, next, at;
	const char *v;
	char *sql = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	out->bytes = -1;
	out->ms = -1;
	mdb_sides(m, dir, &from, &to);
	rc = mdb_side_reconnect(m, from, err);
	if (rc == 0)
		rc = mdb_side_reconnect(m, to, err);
	if (rc == 0)
		rc = mdb_slave_status(to->q, mdb_deadline(MDB_TIMEOUT_MS), &st, err);
	if (rc < 0)
		goto out;
	if (st.nrows == 0) {
		rc = ferry_error_set(err, FERRY_ENOTFOUND, "start replication first",
		                     "database %s: %s does not replicate from %s", m->cfg->name,
		                     to->name, from->name);
		goto out;
	}
	/* "Connecting": (re)connecting to the source, which the errno
	 * below reports when it fails */
	v = mdb_result_named(&st, 0, "Slave_IO_Running");
	out->worker_running = v && (!strcmp(v, "Yes") || !strcmp(v, "Connecting"));
	v = mdb_result_named(&st, 0, "Slave_SQL_Running");
	out->worker_running = out->worker_running && v && !strcmp(v, "Yes");
	v = mdb_result_named(&st, 0, "Last_IO_Errno");
	out->apply_errors += v && strcmp(v, "0") ? 1 : 0;
	v = mdb_result_named(&st, 0, "Last_SQL_Errno");
	out->apply_errors += v && strcmp(v, "0") ? 1 : 0;

	rc = mdb_exec(to->q,
	              "SELECT @@gtid_slave_pos, (SELECT seq FROM " MDB_META
	              ".heartbeat WHERE id = 1), (SELECT ts FROM " MDB_META
	              ".heartbeat WHERE id = 1), @@GLOBAL.read_only",
	              mdb_deadline(MDB_TIMEOUT_MS), &tr, err);
	/* a replica that applies is read_only: ferry made it so, and a
	 * restart of the server forgets SET GLOBAL (the switch never leaves
	 * one applying and writable) */
	if (rc == 0 && out->worker_running && tr.nrows == 1 &&
	    !strcmp(mdb_result_get(&tr, 0, 3) ?: "", "0")) {
		log_warn("database %s: %s replicates from %s but is writable (restarted?): "
		         "read_only set again",
		         m->cfg->name, to->name, from->name);
		rc = mdb_exec(to->q, "SET GLOBAL read_only = 1", mdb_deadline(MDB_TIMEOUT_MS), NULL,
		              err);
		if (rc == 0)
			rc = mdb_exec(to->q, "SET GLOBAL event_scheduler = OFF",
			              mdb_deadline(MDB_TIMEOUT_MS), NULL, err);
	}
	if (rc == 0)
		rc = mdb_exec(from->q,
		              "SELECT @@gtid_binlog_pos, (SELECT seq FROM " MDB_META
		              ".heartbeat WHERE id = 1)",
		              mdb_deadline(MDB_TIMEOUT_MS), &fr, err);
	if (rc == 0)
		rc = mdb_exec(from->q, "SHOW MASTER STATUS", mdb_deadline(MDB_TIMEOUT_MS), &ms,
		              err);
	if (rc < 0)
		goto out;
	tseq = mdb_result_int(&tr, 0, 1, -1);
	fseq = mdb_result_int(&fr, 0, 1, -1);
	/* The next heartbeat, written before the replica's position is read
	 * (again, below): a heartbeat written at the end of the call before
	 * would be a second old now, and under a steady load (a transaction
	 * always in flight, so events > 0) a replica that had applied it
	 * read as a second behind: the soak, sampling every second, saw
	 * lags of 1000 ms and started over (the lab's demo). */
	next = m->hb_last > fseq ? m->hb_last : fseq;
	if (tseq > next)
		next = tseq;
	next++;
	sql = xasprintf("INSERT INTO " MDB_META ".heartbeat (id, seq, ts) VALUES (1, %lld, NOW(6)) "
	                "ON DUPLICATE KEY UPDATE seq = VALUES(seq), ts = VALUES(ts)",
	                (long long)next);
	rc = mdb_exec(from->q, sql, mdb_deadline(MDB_TIMEOUT_MS), NULL, err);
	free(sql);
	sql = NULL;
	if (rc < 0)
		goto out;
	m->hb[next % MDB_HB_RING].seq = next;
	m->hb[next % MDB_HB_RING].mono = time_mono_ms();
	m->hb_last = next;
	mdb_result_release(&tr);
	rc = mdb_exec(to->q,
	              "SELECT @@gtid_slave_pos, (SELECT seq FROM " MDB_META
	              ".heartbeat WHERE id = 1), (SELECT ts FROM " MDB_META
	              ".heartbeat WHERE id = 1)",
	              mdb_deadline(MDB_TIMEOUT_MS), &tr, err);
	if (rc < 0)
		goto out;
	/* where the replica is now against where the writer was before the
	 * heartbeat: what it has not applied of that */
	out->events = mdb_gtid_distance(mdb_result_get(&fr, 0, 0), mdb_result_get(&tr, 0, 0));
	tseq = mdb_result_int(&tr, 0, 1, -1);
	if (ms.nrows == 1) {
		const char *f = mdb_result_named(&ms, 0, "File");
		const char *rf = mdb_result_named(&st, 0, "Relay_Master_Log_File");
		if (f && rf && !strcmp(f, rf))
			out->bytes = mdb_result_int(&ms, 0, mdb_result_col(&ms, "Position"), 0) -
			             mdb_result_int(&st, 0,
			                            mdb_result_col(&st, "Exec_Master_Log_Pos"), 0);
		if (out->bytes < 0 && f && rf && !strcmp(f, rf))
			out->bytes = 0;
	}
	if (out->events == 0) {
		out->ms = 0;
		out->bytes = 0;
	} else if ((at = hb_written_at(m, tseq + 1)) > 0) {
		/* the oldest heartbeat not yet applied was written then */
		out->ms = time_mono_ms() - at;
	} else if (mdb_result_get(&tr, 0, 2)) {
		/* written by an earlier process: the writer's clock says */
		char *ts = mdb_quote(mdb_result_get(&tr, 0, 2)), *d = NULL;
		sql = xasprintf("SELECT TIMESTAMPDIFF(MICROSECOND, %s, NOW(6)) DIV 1000", ts);
		free(ts);
		rc = mdb_value(from->q, sql, mdb_deadline(MDB_TIMEOUT_MS), &d, err);
		free(sql);
		sql = NULL;
		if (rc < 0)
			goto out;
		out->ms = d ? strtoll(d, NULL, 10) : -1;
		free(d);
	}
out:
	free(sql);
	mdb_result_release(&st);
	mdb_result_release(&tr);
	mdb_result_release(&fr);
	mdb_result_release(&ms);
	return rc;
}

static int mdb_lag(void *h, enum db_direction dir, struct db_lag *out, struct ferry_error *err)
{
	struct mdb *m = h;
	int rc = lag_once(m, dir, out, err);

	/* a session the server dropped looks open until a statement fails
	 * on it (2006, 2013): once more on new ones, not a failed sample */
	if (rc < 0 && mdb_lost_and_back(m, rc)) {
		log_info("database %s: lag: %s; connected again", m->cfg->name, err->msg);
		rc = lag_once(m, dir, out, err);
	}
	return rc < 0 ? ferry_error_prefix(err, "database %s: lag", m->cfg->name) : 0;
}

/* ---- verification ----------------------------------------------------- */

/* Rows (and the CHECKSUM TABLE value) of one table on c. */
static int table_sum(struct mdb *m, struct mdb_conn *c, const char *table, bool checksum,
                     int64_t *rows, char sum[33], struct ferry_error *err)
{
	char *db = mdb_ident(m->dbname), *t = mdb_ident(table), *sql;
	struct mdb_result r;
	int rc;

	sql = xasprintf("SELECT COUNT(*) FROM %s.%s", db, t);
	rc = mdb_exec(c, sql, mdb_deadline(600000), &r, err);
	if (rc == 0 && r.nrows == 1)
		*rows = mdb_result_int(&r, 0, 0, -1);
	mdb_result_release(&r);
	free(sql);
	if (rc == 0 && checksum) {
		/* CHECKSUM TABLE: computed by the server in one pass, O(1)
		 * memory, independent of row order; equal for equal rows on
		 * the same server version and row format (the copy creates the
		 * tables from the same DDL; the readiness row 'version' warns
		 * when the versions differ) */
		sql = xasprintf("CHECKSUM TABLE %s.%s", db, t);
		rc = mdb_exec(c, sql, mdb_deadline(600000), &r, err);
		if (rc == 0 && r.nrows == 1)
			snprintf(sum, 33, "%s",
			         mdb_result_get(&r, 0, 1) ? mdb_result_get(&r, 0, 1) : "");
		mdb_result_release(&r);
		free(sql);
	}
	free(db);
	free(t);
	return rc;
}

static int mdb_verify(void *h, bool checksum, struct db_verify *out, struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_result r;
	int i, rc;

	rc = mdb_side_reconnect(m, &m->old, err);
	if (rc == 0)
		rc = mdb_side_reconnect(m, &m->new, err);
	if (rc == 0)
		rc = list_tables(m, m->old.q, &r, err);
	if (rc < 0)
		return rc;
	out->equal = true;
	for (i = 0; i < r.nrows; i++) {
		struct db_verify_table *t;
		const char *name = mdb_result_get(&r, i, 0);
		XGROW(out->v, out->alloc, out->n + 1);
		t = &out->v[out->n++];
		memset(t, 0, sizeof(*t));
		t->name = xasprintf("%s.%s", m->dbname, name);
		rc = table_sum(m, m->old.q, name, checksum, &t->rows_old, t->sum_old, err);
		if (rc == 0)
			rc = table_sum(m, m->new.q, name, checksum, &t->rows_new, t->sum_new, err);
		if (rc < 0 && mdb_errno(m->new.q) == 1146) {
			t->rows_new = -1; /* missing on new */
			rc = 0;
		}
		if (rc < 0)
			break;
		t->equal = t->rows_old == t->rows_new && !strcmp(t->sum_old, t->sum_new);
		if (!t->equal)
			out->equal = false;
	}
	mdb_result_release(&r);
	return rc < 0 ? ferry_error_prefix(err, "database %s: verify", m->cfg->name) : 0;
}

/* ---- teardown --------------------------------------------------------- */

/* No replication configured on s, no filter, no _ferry. */
static int side_teardown(struct mdb *m, struct mdb_side *s, struct ferry_error *err)
{
	struct mdb_result st;
	int rc;

	rc = mdb_slave_status(s->q, mdb_deadline(MDB_TIMEOUT_MS), &st, err);
	if (rc == 0 && st.nrows > 0) {
		log_info("database %s: removing replication on %s", m->cfg->name, s->name);
		rc = mdb_exec(s->q, "STOP SLAVE", mdb_deadline(MDB_TIMEOUT_MS), NULL, err);
		if (rc == 0)
			rc = mdb_exec(s->q, "RESET SLAVE ALL", mdb_deadline(MDB_TIMEOUT_MS), NULL,
			              err);
	}
	mdb_result_release(&st);
	if (rc == 0)
		rc = mdb_exec(s->q, "SET GLOBAL replicate_wild_do_table = ''",
		              mdb_deadline(MDB_TIMEOUT_MS), NULL, err);
	if (rc == 0)
		rc = mdb_exec_nolog(s->q, "DROP DATABASE IF EXISTS " MDB_META,
		                    mdb_deadline(MDB_TIMEOUT_MS), err);
	return rc;
}

static int mdb_teardown(void *h, struct ferry_error *err)
{
	struct mdb *m = h;
	int rc;

	mdb_copy_free(m);
	rc = mdb_side_reconnect(m, &m->old, err);
	if (rc == 0)
		rc = mdb_side_reconnect(m, &m->new, err);
	if (rc == 0)
		rc = side_teardown(m, &m->new, err);
	if (rc == 0)
		rc = side_teardown(m, &m->old, err);
	return rc < 0 ? ferry_error_prefix(err, "database %s: teardown", m->cfg->name) : 0;
}

/* Where the applications reach side: the conninfo's host and port (the
 * database name is not part of a TCP backend's address). */
static int mdb_target(const struct db_config *cfg, enum db_side side, char **host, int *port,
                      char **dbname, struct ferry_error *err)
{
	struct mdb_endpoint ep = { 0 };
	char what[160], *end = NULL;
	long v = 3306;
	int rc;

	snprintf(what, sizeof(what), "database %s %s", cfg->name, db_side_name(side));
	rc = mdb_endpoint_parse(side == DB_OLD ? cfg->old_conninfo : cfg->new_conninfo, what, &ep,
	                        err);
	if (rc < 0)
		return rc;
	if (ep.port)
		v = strtol(ep.port, &end, 10);
	if ((ep.port && (*end || v <= 0 || v > 65535)) || (ep.host && ep.host[0] == '/'))
		rc = ferry_error_set(err, FERRY_EINVAL, "give a host and a TCP port",
		                     "%s: the applications reach a TCP address, not '%s'", what,
		                     ep.host && ep.host[0] == '/' ? ep.host : ep.port);
	if (rc == 0) {
		*host = ep.host ? xstrdup(ep.host) : xstrdup("localhost");
		*port = (int)v;
		*dbname = ep.dbname ? xstrdup(ep.dbname) : NULL;
	}
	mdb_endpoint_release(&ep);
	return rc;
}

const struct db_engine db_engine_mariadb = {
	.name = "mariadb",
	.open = mdb_open,
	.close = mdb_close,
	.check = mdb_check,
	.replicate_start = mdb_replicate_start,
	.progress = mdb_progress,
	.lag = mdb_lag,
	.verify = mdb_verify,
	.schema_diff = NULL,
	.target = mdb_target,
	.teardown = mdb_teardown,
	.describe_replicate = mdb_describe_replicate,
	.describe_teardown = mdb_describe_teardown,
	.sw = &mdb_switch_ops,
};
