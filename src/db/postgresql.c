/*
 * postgresql.c - the PostgreSQL engine: logical replication,
 * lag, verification and teardown (the switch is in postgresql_switch.c).
 *
 * Replication is PostgreSQL's own logical replication (manual, chapter
 * "Logical Replication"): the schema is copied with pg_dump | psql (logical
 * replication carries no DDL), a publication FOR ALL TABLES on the old
 * database, a subscription on the new one that copies each table and then
 * streams.  The subscription is created with synchronous_commit=on so that
 * the position it confirms to the old side (the slot's confirmed_flush_lsn)
 * is the position it has applied, without waiting for the WAL writer: the
 * switch waits on exactly that.
 *
 * A subscription's password never goes into its CONNECTION: ferry writes
 * it to a password file on the subscriber's host (in the data directory,
 * 0600, the server's user; through the host's exec prefix), and the
 * CONNECTION names it with passfile=, so that no SQL text a server log or
 * pg_stat_activity shows holds it.  Teardown removes the file.  A
 * subscriber ferry cannot write a file on (a managed service) gets the
 * password in CONNECTION, with a warning.
 *
 * The initial copy is postgresql_copy.c's (the parallel copy) unless the
 * plan asks for the built-in table sync.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/postgresql_int.h"
#include "hosts/shell.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/secret.h"
#include "util/timeutil.h"

int64_t pg_deadline(int64_t ms)
{
	return time_mono_ms() + ms;
}

void pg_slot_names(const struct db_config *cfg, char fwd[64], char rev[64])
{
	char db[40];
	size_t i;

	/* the plan's names are [A-Za-z0-9._-]: a slot takes [a-z0-9_] */
	for (i = 0; cfg->name[i] && i < sizeof(db) - 1; i++) {
		char ch = cfg->name[i];
		db[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a')
		        : ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) ? ch
		                                                                 : '_';
	}
	db[i] = '\0';
	snprintf(fwd, 64, "ferry_sub_%s", db);
	snprintf(rev, 64, "ferry_rev_%s", db);
}

void pg_names_get(struct pg *p, enum db_direction dir, struct pg_names *n)
{
	const struct db_config *c = p->cfg;

	memset(n, 0, sizeof(*n));
	if (!p->slot_fwd[0])
		pg_slot_names(c, p->slot_fwd, p->slot_rev);
	if (dir == DB_FORWARD) {
		n->from = p->old;
		n->to = p->new;
		n->from_id = DB_OLD;
		n->to_id = DB_NEW;
		n->from_side = "old";
		n->to_side = "new";
		n->cur_pub = "ferry_pub";
		n->cur_slot = p->slot_fwd;
		n->cur_sub = "ferry_sub";
		n->new_pub = "ferry_rev_pub";
		n->new_slot = p->slot_rev;
		n->new_sub = "ferry_rev_sub";
		n->to_from_from = c->new_from_old ? c->new_from_old : c->new_conninfo;
		n->to_password = c->new_password;
	} else {
		n->from = p->new;
		n->to = p->old;
		n->from_id = DB_NEW;
		n->to_id = DB_OLD;
		n->from_side = "new";
		n->to_side = "old";
		n->cur_pub = "ferry_rev_pub";
		n->cur_slot = p->slot_rev;
		n->cur_sub = "ferry_rev_sub";
		n->new_pub = "ferry_pub";
		n->new_slot = p->slot_fwd;
		n->new_sub = "ferry_sub";
		n->to_from_from = c->old_from_new ? c->old_from_new : c->old_conninfo;
		n->to_password = c->old_password;
	}
}

/* ---- small catalog helpers ------------------------------------------ */

int pg_sub_exists(struct pgsql_conn *c, const char *name, bool *enabled, char **slot,
                  struct ferry_error *err)
{
	const char *params[1] = { name };
	struct pgsql_result r;
	int rc;

	if (slot)
		*slot = NULL;
	rc = pgsql_exec(c, pg_sql_sub_exists, 1, params, pg_deadline(PG_TIMEOUT_MS), &r, err);
	if (rc == 0) {
		rc = r.nrows > 0;
		if (rc && enabled)
			*enabled = !strcmp(pgsql_result_get(&r, 0, 0), "t");
		if (rc && slot)
			*slot = xstrdup(pgsql_result_get(&r, 0, 1));
	}
	pgsql_result_release(&r);
	return rc;
}

int pg_slot_exists(struct pgsql_conn *c, const char *name, bool *active, struct ferry_error *err)
{
	const char *params[1] = { name };
	struct pgsql_result r;
	int rc;

	rc = pgsql_exec(c, pg_sql_slot_exists, 1, params, pg_deadline(PG_TIMEOUT_MS), &r, err);
	if (rc == 0) {
		rc = r.nrows > 0;
		if (rc && active)
			*active = !strcmp(pgsql_result_get(&r, 0, 0), "t");
	}
	pgsql_result_release(&r);
	return rc;
}

int pg_pub_exists(struct pgsql_conn *c, const char *name, struct ferry_error *err)
{
	const char *params[1] = { name };
	struct pgsql_result r;
	int rc;

	rc = pgsql_exec(c, pg_sql_pub_exists, 1, params, pg_deadline(PG_TIMEOUT_MS), &r, err);
	if (rc == 0)
		rc = r.nrows > 0;
	pgsql_result_release(&r);
	return rc;
}

/* Runs sql (built by postgresql_sql.c, which the dry run prints too) and
 * frees it. */
static int exec_built(struct pgsql_conn *c, char *sql, int64_t deadline, struct ferry_error *err)
{
	int rc = pgsql_exec(c, sql, 0, NULL, deadline, NULL, err);

	free(sql);
	return rc;
}

int pg_pub_ensure(struct pgsql_conn *c, const char *name, struct ferry_error *err)
{
	int rc = pg_pub_exists(c, name, err);

	if (rc != 0)
		return rc < 0 ? rc : 0;
	return exec_built(c, pg_sql_pub_create(name), pg_deadline(PG_TIMEOUT_MS), err);
}

int pg_pub_drop(struct pgsql_conn *c, const char *name, struct ferry_error *err)
{
	return exec_built(c, pg_sql_pub_drop(name), pg_deadline(PG_TIMEOUT_MS), err);
}

int pg_sub_drop_local(struct pgsql_conn *c, const char *name, struct ferry_error *err)
{
	bool enabled = false;
	char *slot = NULL;
	int rc = pg_sub_exists(c, name, &enabled, &slot, err);

	if (rc <= 0)
		return rc;
	rc = 0;
	/* CREATE SUBSCRIPTION manual: a subscription whose slot is NONE can
	 * be dropped without reaching the publisher; it must be disabled
	 * first.  The remote slot is dropped by the caller on its side. */
	if (enabled)
		rc = exec_built(c, pg_sql_sub_alter(name, "DISABLE"), pg_deadline(PG_TIMEOUT_MS),
		                err);
	if (rc == 0 && slot)
		rc = exec_built(c, pg_sql_sub_alter(name, "SET (slot_name = NONE)"),
		                pg_deadline(PG_TIMEOUT_MS), err);
	if (rc == 0)
		rc = exec_built(c, pg_sql_sub_drop(name), pg_deadline(PG_TIMEOUT_MS), err);
	free(slot);
	return rc;
}

int pg_slot_drop(struct pgsql_conn *c, const char *name, int64_t deadline_ms,
                 struct ferry_error *err)
{
	const char *params[1] = { name };
	bool active = false;
	int rc;

	/* a walsender lingers a moment after its subscription is disabled */
	for (;;) {
		rc = pg_slot_exists(c, name, &active, err);
		if (rc <= 0)
			return rc;
		if (!active)
			break;
		if (time_mono_ms() > deadline_ms)
			return ferry_error_set(
			        err, FERRY_ETIMEDOUT,
			        "find the consumer in pg_stat_replication and stop it",
			        "%s: replication slot %s is still in use", pgsql_what(c), name);
		poll(NULL, 0, 10);
	}
	return pgsql_exec(c, pg_sql_slot_drop, 1, params, deadline_ms, NULL, err);
}

/* The subscriber's host shell, through the exec prefix of c's side. */
static int sub_host_shell(struct pgsql_conn *c, struct host_shell **sh, struct ferry_error *err)
{
	struct pg *p = pgsql_data(c);
	const struct db_config *cfg = p->cfg;
	bool on_new = c == p->new;
	char what[256];

	snprintf(what, sizeof(what), "database %s %s host", cfg->name, on_new ? "new" : "old");
	return host_shell_open(sh, on_new ? cfg->new_exec : cfg->old_exec,
	                       on_new ? cfg->nnew_exec : cfg->nold_exec, what, err);
}

char *pg_sub_passfile_path(const char *datadir, const char *sub)
{
	return xasprintf("%s/%s.pgpass", datadir, sub);
}

/* Writes the password file of subscription sub on the subscriber's host
 * (c's side): in the data directory, 0600, owned by the server's user,
 * so that its walreceiver can read it (libpq ignores a password file
 * that others can read).  The password travels on the shell's stdin (a
 * here-document), never in argv; the buffers are wiped.  *path: the
 * file's path (malloc'd). */
static int sub_passfile_write(struct pgsql_conn *c, const char *sub, const char *password,
                              char **path, struct ferry_error *err)
{
	struct host_shell *sh = NULL;
	struct buf cmd, out;
	char *datadir = NULL, *qpath = NULL, *qdir = NULL, *line = NULL;
	int rc, status = 0;

	*path = NULL;
	buf_init(&cmd, 1 << 20);
	buf_init(&out, 4096);
	rc = pgsql_query_value(c, pg_sql_data_directory, 0, NULL, pg_deadline(PG_TIMEOUT_MS),
	                       &datadir, err);
	if (rc == 0)
		rc = sub_host_shell(c, &sh, err);
	if (rc < 0)
		goto out;
	*path = pg_sub_passfile_path(datadir ? datadir : "", sub);
	qpath = host_shell_quote(*path);
	qdir = host_shell_quote(datadir ? datadir : "");
	line = pgsql_passfile_line(password);
	/* written beside and renamed: another database's subscription on
	 * the same server shares the file (one name per subscription) and
	 * its walreceiver must never read it half written */
	buf_addf(&cmd,
	         "umask 077; cat > %s.tmp <<'FERRY_PASSFILE_EOF' && chown \"$(stat -c %%u %s)\" "
	         "%s.tmp && chmod 600 %s.tmp && mv -f %s.tmp %s\n%sFERRY_PASSFILE_EOF",
	         qpath, qdir, qpath, qpath, qpath, qpath, line);
	rc = host_shell_run(sh, cmd.data, pg_deadline(PG_TIMEOUT_MS), &out, &status, err);
	if (rc == 0 && status != 0 && out.data)
		out.data[strcspn(out.data, "\n")] = '\0'; /* the shell's first line */
	if (rc == 0 && status != 0)
		rc = ferry_error_set(err, FERRY_EIO,
		                     "the host's exec prefix must be able to write into the data "
		                     "directory",
		                     "%s: cannot write the subscription's password file %s: %.200s",
		                     pgsql_what(c), *path, out.data ? out.data : "");
out:
	buf_release_secret(&cmd);
	buf_release(&out);
	xfree_secret(line, 0);
	free(qpath);
	free(qdir);
	free(datadir);
	host_shell_free(sh);
	return rc;
}

int pg_sub_passfile_remove(struct pgsql_conn *c, const char *sub, struct ferry_error *err)
{
	struct host_shell *sh = NULL;
	char *datadir = NULL, *path = NULL, *qpath = NULL, *cmd = NULL;
	int rc;

	rc = pgsql_query_value(c, pg_sql_data_directory, 0, NULL, pg_deadline(PG_TIMEOUT_MS),
	                       &datadir, err);
	if (rc == 0)
		rc = sub_host_shell(c, &sh, err);
	if (rc == 0) {
		path = pg_sub_passfile_path(datadir ? datadir : "", sub);
		qpath = host_shell_quote(path);
		cmd = xasprintf("rm -f %s", qpath);
		rc = host_shell_run(sh, cmd, pg_deadline(PG_TIMEOUT_MS), NULL, NULL, err);
	}
	free(cmd);
	free(qpath);
	free(path);
	free(datadir);
	host_shell_free(sh);
	return rc;
}

int pg_sub_create(struct pgsql_conn *c, const char *name, const char *conninfo,
                  const char *password, const char *pub, const char *opts, struct ferry_error *err)
{
	char *ci = NULL, *sql, *path = NULL;
	int rc;

	/* the password goes into a file on the subscriber's host that the
	 * CONNECTION names: a statement holding it would show in the server's
	 * log (log_statement, errors) and in pg_stat_activity */
	if (password) {
		struct ferry_error pe = { 0 };
		if (sub_passfile_write(c, name, password, &path, &pe) < 0) {
			/* a subscriber ferry cannot write a file on (a managed
			 * service: no host shell, no data directory) gets the
			 * password in CONNECTION, which PostgreSQL keeps in
			 * pg_subscription (superusers only); said, not hidden */
			log_warn("%s: subscription %s: no password file on the subscriber's host "
			         "(%s): the password goes into its CONNECTION instead; keep "
			         "log_statement below ddl on that server",
			         pgsql_what(c), name, pe.msg);
			free(path);
			path = NULL;
		}
	}
	if (path)
		ci = pgsql_conninfo_set(conninfo, "passfile", path);
	else if (password)
		ci = pgsql_conninfo_set(conninfo, "password", password);
	else
		ci = xstrdup(conninfo);
	free(path);
	if (!ci)
		return ferry_error_set(err, FERRY_EINVAL, "fix the conninfo in the plan",
		                       "%s: cannot parse the replication conninfo", pgsql_what(c));
	sql = pg_sql_sub_create(name, ci, pub, opts);
	rc = pgsql_exec(c, sql, 0, NULL, pg_deadline(120000), NULL, err);
	/* the conninfo may still hold a password the plan wrote into it */
	xfree_secret(sql, 0);
	xfree_secret(ci, 0);
	return rc;
}

int pg_fence_get(struct pgsql_conn *c, bool *on, struct ferry_error *err)
{
	char *v = NULL;
	int rc;

	rc = pgsql_query_value(c, pg_sql_fence_get, 0, NULL, pg_deadline(PG_TIMEOUT_MS), &v, err);
	if (rc == 0)
		*on = v && strcmp(v, "0") != 0;
	free(v);
	return rc;
}

int pg_dbname(struct pgsql_conn *c, const char **dbname, char **owned, int64_t deadline_ms,
              struct ferry_error *err)
{
	int rc;

	*owned = NULL;
	if (*dbname)
		return 0;
	rc = pgsql_query_value(c, pg_sql_current_db, 0, NULL, deadline_ms, owned, err);
	if (rc == 0)
		*dbname = *owned ? *owned : "";
	return rc;
}

int pg_fence_set(struct pgsql_conn *c, const char *dbname, bool on, int64_t deadline_ms,
                 struct ferry_error *err)
{
	char *db = NULL;
	int rc;

	rc = pg_dbname(c, &dbname, &db, deadline_ms, err);
	if (rc < 0)
		return rc;
	rc = exec_built(c, pg_sql_fence(dbname, on), deadline_ms, err);
	free(db);
	return rc;
}

/* ---- open / close ----------------------------------------------------- */

static void pg_close(void *h)
{
	struct pg *p = h;

	if (!p)
		return;
	pgsql_free(p->old);
	pgsql_free(p->new);
	/* after the main connections: a DO still waiting completes */
	pg_fence_stage_free(p->stage[DB_OLD]);
	pg_fence_stage_free(p->stage[DB_NEW]);
	pgsql_free(p->old_spare);
	pgsql_free(p->new_spare);
	pgsql_free(p->warm);
	free(p->fence_pos[DB_OLD]);
	free(p->fence_pos[DB_NEW]);
	free(p->dbname[DB_OLD]);
	free(p->dbname[DB_NEW]);
	free(p);
}

static int connect_side(struct pg *p, const char *side, const char *conninfo, const char *password,
                        struct pgsql_conn **out, struct ferry_error *err)
{
	char what[256];
	int rc;

	snprintf(what, sizeof(what), "database %s %s", p->cfg->name, side);
	rc = pgsql_connect(out, conninfo, password, what, err);
	if (rc < 0)
		return rc;
	pgsql_set_data(*out, p); /* pg_sub_create() finds the side's host */
	/* ferry's own sessions are exempt from the fence it sets on a
	 * database (ALTER DATABASE ... SET default_transaction_read_only):
	 * a session-level SET overrides the per-database default. */
	return pgsql_exec(*out, pg_sql_session_rw, 0, NULL, pg_deadline(PG_TIMEOUT_MS), NULL, err);
}

int pg_reconnect(struct pg *p, enum db_side side, struct ferry_error *err)
{
	const struct db_config *c = p->cfg;
	struct pgsql_conn **conn = side == DB_OLD ? &p->old : &p->new;

	if (pgsql_ok(*conn))
		return 0;
	pgsql_free(*conn);
	*conn = NULL;
	return connect_side(p, db_side_name(side),
	                    side == DB_OLD ? c->old_conninfo : c->new_conninfo,
	                    side == DB_OLD ? c->old_password : c->new_password, conn, err);
}

static int pg_open(const struct db_config *cfg, void **h, struct ferry_error *err)
{
	struct pg *p = xcalloc(1, sizeof(*p));
	int rc;

	*h = NULL;
	p->cfg = cfg;
	pg_slot_names(cfg, p->slot_fwd, p->slot_rev);
	rc = connect_side(p, "old", cfg->old_conninfo, cfg->old_password, &p->old, err);
	if (rc == 0)
		rc = connect_side(p, "new", cfg->new_conninfo, cfg->new_password, &p->new, err);
	if (rc < 0) {
		pg_close(p);
		return rc;
	}
	*h = p;
	return 0;
}

/* ---- replication ------------------------------------------------------ */

/* The forward publication for the table sync: FOR ALL TABLES needs
 * SUPERUSER; a role without it (a managed service's) publishes the tables
 * it owns by name (CREATE PUBLICATION ... FOR TABLE). */
static int pub_ensure_forward(struct pg *p, struct ferry_error *err)
{
	struct pgsql_result r;
	const char **names = NULL;
	int rc, i;

	rc = pg_pub_exists(p->old, "ferry_pub", err);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (pg_count(p->old, pg_sql_is_superuser, err) == 1)
		return exec_built(p->old, pg_sql_pub_create("ferry_pub"),
		                  pg_deadline(PG_TIMEOUT_MS), err);
	rc = pgsql_exec(p->old, pg_sql_copy_tables, 0, NULL, pg_deadline(PG_TIMEOUT_MS), &r, err);
	if (rc == 0) {
		names = xcalloc((size_t)r.nrows + 1, sizeof(char *));
		for (i = 0; i < r.nrows; i++)
			names[i] = pgsql_result_get(&r, i, 0);
		rc = exec_built(p->old,
		                pg_sql_pub_tables("ferry_pub", "CREATE", names, (size_t)r.nrows),
		                pg_deadline(PG_TIMEOUT_MS), err);
	}
	free(names);
	pgsql_result_release(&r);
	return rc;
}

static int pg_replicate_start(void *h, struct ferry_error *err)
{
	struct pg *p = h;
	const struct db_config *c = p->cfg;
	int rc;

	rc = pg_sub_exists(p->new, "ferry_sub", NULL, NULL, err);
	if (rc != 0)
		return rc < 0 ? rc : 0; /* already replicating */
	if (c->copy_method == DB_COPY_PARALLEL)
		return pg_copy_replicate(p, err);
	/* a retry: the schema copy ran in one transaction, so new is either
	 * empty or complete; the diff tells which, and refuses anything else */
	rc = pg_schema_copied(p, false, err);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		log_info("database %s: copying the schema old -> new", c->name);
		rc = pg_dump_pipe(p, pg_dump_argv, pg_psql_argv, err);
		if (rc < 0)
			return rc;
	}
	rc = pub_ensure_forward(p, err);
	if (rc < 0)
		return rc;
	log_info("database %s: creating subscription ferry_sub on new", c->name);
	{
		char *opts = pg_sub_opts_forward(p->slot_fwd);
		rc = pg_sub_create(p->new, "ferry_sub",
		                   c->old_from_new ? c->old_from_new : c->old_conninfo,
		                   c->old_password, "ferry_pub", opts, err);
		free(opts);
	}
	return rc;
}

static int pg_progress(void *h, struct db_progress *out, struct ferry_error *err)
{
	struct pg *p = h;
	struct pgsql_result r;
	int i, rc;
	const char *sql14 =
	        "SELECT r.srrelid::regclass::text, r.srsubstate, coalesce((SELECT "
	        "bytes_processed FROM pg_stat_progress_copy pc WHERE pc.relid = r.srrelid), -1) "
	        "FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid WHERE "
	        "s.subname = 'ferry_sub' ORDER BY 1";
	const char *sql10 = "SELECT r.srrelid::regclass::text, r.srsubstate, -1 FROM "
	                    "pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid "
	                    "WHERE s.subname = 'ferry_sub' ORDER BY 1";

	rc = pgsql_exec(p->new, pgsql_server_version(p->new) >= 140000 ? sql14 : sql10, 0, NULL,
	                pg_deadline(PG_TIMEOUT_MS), &r, err);
	if (rc < 0)
		return rc;
	for (i = 0; i < r.nrows; i++) {
		struct db_table_progress *t;
		XGROW(out->v, out->alloc, out->n + 1);
		t = &out->v[out->n++];
		t->name = xstrdup(pgsql_result_get(&r, i, 0));
		t->state = pgsql_result_get(&r, i, 1)[0];
		t->ready = t->state == 'r' || t->state == 's';
		t->bytes = pgsql_result_int(&r, i, 2, -1);
		t->rows = 0;
		t->rows_total = t->rate = t->eta_ms = -1;
		if (t->ready)
			out->ready++;
	}
	pgsql_result_release(&r);
	return 0;
}

/* PostgreSQL counts every apply error a stream ever met
 * (pg_stat_subscription_stats), those it got past too: each restart of
 * the publisher adds one.  An error is past once the stream has applied
 * everything the source held when the count was seen to grow; until then
 * the stream is recovering (db.h).  In this process's memory: a new run
 * proves it again, in a second or two for a stream that applies. */
static void stream_errors(struct pg *p, int d, int64_t count, const char *pos, bool past,
                          struct db_lag *out)
{
	if (count < p->err_seen[d]) /* the statistics were reset */
		p->err_past[d] = p->err_seen[d] = 0;
	if (count <= p->err_past[d])
		return;
	if (count == p->err_seen[d] && past) {
		log_info("database %s: replication has applied past the %lld apply errors "
		         "counted before",
		         p->cfg->name, (long long)(count - p->err_past[d]));
		p->err_past[d] = count;
		return;
	}
	if (count != p->err_seen[d]) {
		p->err_seen[d] = count;
		snprintf(p->err_pos[d], sizeof(p->err_pos[d]), "%s", pos);
	}
	out->apply_errors = count - p->err_past[d];
	out->recovering = true;
}

static int lag_read(struct pg *p, enum db_direction dir, void *o, struct ferry_error *err)
{
	struct db_lag *out = o;
	struct pg_names n;
	struct pgsql_result r;
	const char *ps[2];
	char pos[32] = "";
	bool past = false, active = false;
	int d = dir == DB_FORWARD ? 0 : 1, rc;

	/* the stream carrying dir's writes: forward before the cutover is
	 * ferry_sub (old -> new); after it the reverse is ferry_rev_sub */
	pg_names_get(p, dir == DB_FORWARD ? DB_FORWARD : DB_REVERSE, &n);
	memset(out, 0, sizeof(*out));
	out->bytes = -1;
	ps[0] = n.cur_slot;
	ps[1] = p->err_pos[d][0] ? p->err_pos[d] : "0/0";
	rc = pgsql_exec(n.from, pg_sql_lag_slot, 2, ps, pg_deadline(PG_TIMEOUT_MS), &r, err);
	if (rc < 0)
		return rc;
	if (r.nrows == 1) {
		out->bytes = pgsql_result_int(&r, 0, 0, -1);
		snprintf(pos, sizeof(pos), "%s", pgsql_result_get(&r, 0, 1) ?: "");
		past = !strcmp(pgsql_result_get(&r, 0, 2) ?: "f", "t");
		active = !strcmp(pgsql_result_get(&r, 0, 3) ?: "f", "t");
	}
	pgsql_result_release(&r);
	if (out->bytes < 0) {
		return ferry_error_set(err, FERRY_ENOTFOUND, "start replication first",
		                       "database %s: no replication slot %s on %s", p->cfg->name,
		                       n.cur_slot, n.from_side);
	}
	ps[0] = n.cur_sub;
	rc = pgsql_exec(n.to, pg_sql_lag_sub, 1, ps, pg_deadline(PG_TIMEOUT_MS), &r, err);
	if (rc < 0)
		return rc;
	if (r.nrows >= 1) {
		out->worker_running = !strcmp(pgsql_result_get(&r, 0, 0) ?: "f", "t");
		/* enabled and no worker yet: the launcher starts it (a stream
		 * just created, or just enabled by a cutover) */
		out->starting =
		        !out->worker_running && !strcmp(pgsql_result_get(&r, 0, 2) ?: "f", "t");
		/* a worker whose walsender has not taken the slot: that
		 * session may still be starting on the source, holding the
		 * lock on its database that the fence's "still starting"
		 * looks for; ended, the worker is started again only after
		 * wal_retrieve_retry_interval (5 s by default) */
		out->connecting = out->worker_running && !active;
		/* latest_end_time moves only with traffic or keepalives: when
		 * nothing is pending the lag is zero whatever its age */
		out->ms = out->bytes == 0 ? 0 : pgsql_result_int(&r, 0, 1, -1);
	}
	pgsql_result_release(&r);
	if (pgsql_server_version(n.to) >= 150000) {
		rc = pgsql_exec(n.to, pg_sql_lag_errors, 1, ps, pg_deadline(PG_TIMEOUT_MS), &r,
		                err);
		if (rc == 0 && r.nrows == 1)
			stream_errors(p, d, pgsql_result_int(&r, 0, 0, 0), pos, past, out);
		pgsql_result_release(&r);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int slot_wal_read(struct pg *p, enum db_direction dir, void *o, struct ferry_error *err)
{
	struct db_slot_wal *out = o;
	struct pg_names n;
	struct pgsql_result r;
	const char *ps[1];
	int rc;

	pg_names_get(p, dir, &n);
	out->retained = out->keep_limit = -1;
	ps[0] = n.cur_slot;
	rc = pgsql_exec(n.from, pg_sql_slot_wal, 1, ps, pg_deadline(PG_TIMEOUT_MS), &r, err);
	if (rc == 0 && r.nrows == 1) {
		out->retained = pgsql_result_int(&r, 0, 0, -1);
		out->keep_limit = pgsql_result_int(&r, 0, 1, -1);
	}
	pgsql_result_release(&r);
	return rc;
}

/* A read outside the switch (the soak's, every second), on connections
 * that a restart of either server may have left dead since the last one:
 * a closed connection is opened again first, and a read that loses one
 * is made once more on a new one.  A server still down answers
 * FERRY_EUNREACH. */
static int pg_read(struct pg *p,
                   int (*fn)(struct pg *, enum db_direction, void *, struct ferry_error *),
                   enum db_direction dir, void *out, struct ferry_error *err)
{
	int rc, tries;

	for (tries = 0;; tries++) {
		rc = pg_reconnect(p, DB_OLD, err);
		if (rc == 0)
			rc = pg_reconnect(p, DB_NEW, err);
		if (rc == 0)
			rc = fn(p, dir, out, err);
		if (rc == 0 || tries || (pgsql_ok(p->old) && pgsql_ok(p->new)))
			return rc;
	}
}

static int pg_lag(void *h, enum db_direction dir, struct db_lag *out, struct ferry_error *err)
{
	return pg_read(h, lag_read, dir, out, err);
}

static int pg_slot_wal(void *h, enum db_direction dir, struct db_slot_wal *out,
                       struct ferry_error *err)
{
	return pg_read(h, slot_wal_read, dir, out, err);
}

/* ---- verification ----------------------------------------------------- */

/* Every logged table: name, its primary key columns (quoted, in order;
 * '' if none), and the key's type when it is a single column ('' if not). */
static const char tables_sql[] =
        "SELECT format('%I.%I', n.nspname, c.relname), coalesce((SELECT "
        "string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord) FROM pg_index i, "
        "unnest(i.indkey) WITH ORDINALITY k(attnum, ord) JOIN pg_attribute a ON a.attnum = "
        "k.attnum WHERE i.indrelid = c.oid AND i.indisprimary AND a.attrelid = c.oid), ''), "
        "coalesce((SELECT format_type(a.atttypid, a.atttypmod) FROM pg_index i JOIN "
        "pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] WHERE i.indrelid = "
        "c.oid AND i.indisprimary AND i.indnkeyatts = 1), '') "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
        "AND c.relpersistence = 'p' AND n.nspname NOT IN ('pg_catalog','information_schema') "
        "AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1";

/* Rows per checksum chunk: string_agg holds 32 bytes per row of one
 * chunk, so memory on the server stays bounded whatever the table. */
#define VERIFY_CHUNK_ROWS 50000

/* One chunk (pk in (lo, hi]; NULL = open) on conn: adds its row count to
 * *rows and its hash to sums. */
static int chunk_sum(struct pgsql_conn *c, const char *sql, const char *lo, const char *hi,
                     int64_t *rows, struct buf *sums, struct ferry_error *err)
{
	const char *params[2] = { lo, hi };
	struct pgsql_result r;
	int rc;

	rc = pgsql_exec(c, sql, 2, params, pg_deadline(600000), &r, err);
	if (rc == 0 && r.nrows == 1) {
		*rows += pgsql_result_int(&r, 0, 0, 0);
		buf_adds(sums, pgsql_result_get(&r, 0, 1) ?: "");
	}
	pgsql_result_release(&r);
	return rc;
}

/* The checksum of a table with a one-column primary key, in chunks of
 * VERIFY_CHUNK_ROWS keys whose bounds come from the old side; both sides
 * hash the same key ranges (a last open range catches rows only the new
 * side has).  The table's sum is the md5 of the chunks' sums. */
static int table_sum_chunked(struct pg *p, const char *table, const char *pk, const char *type,
                             struct db_verify_table *t, struct ferry_error *err)
{
	struct buf so, sn;
	char *bound_sql, *sum_sql, *lo = NULL, *hi = NULL, *v = NULL;
	const char *params[1];
	int rc;

	buf_init(&so, 64 << 20);
	buf_init(&sn, 64 << 20);
	bound_sql = xasprintf("SELECT max(k)::text FROM (SELECT %s AS k FROM %s WHERE $1::text IS "
	                      "NULL OR %s > $1::%s ORDER BY %s LIMIT %d) s",
	                      pk, table, pk, type, pk, VERIFY_CHUNK_ROWS);
	sum_sql = xasprintf("SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' ORDER BY "
	                    "%s)), '') FROM %s t WHERE ($1::text IS NULL OR %s > $1::%s) AND "
	                    "($2::text IS NULL OR %s <= $2::%s)",
	                    pk, table, pk, type, pk, type);
	for (;;) {
		params[0] = lo;
		rc = pgsql_query_value(p->old, bound_sql, 1, params, pg_deadline(600000), &hi, err);
		if (rc == 0)
			rc = chunk_sum(p->old, sum_sql, lo, hi, &t->rows_old, &so, err);
		if (rc == 0)
			rc = chunk_sum(p->new, sum_sql, lo, hi, &t->rows_new, &sn, err);
		if (rc < 0 || !hi)
			break;
		free(lo);
		lo = hi;
		hi = NULL;
	}
	params[0] = so.data;
	if (rc == 0)
		rc = pgsql_query_value(p->old, "SELECT md5($1)", 1, params, pg_deadline(60000), &v,
		                       err);
	if (rc == 0)
		snprintf(t->sum_old, sizeof(t->sum_old), "%s", v ? v : "");
	free(v);
	v = NULL;
	params[0] = sn.data;
	if (rc == 0)
		rc = pgsql_query_value(p->old, "SELECT md5($1)", 1, params, pg_deadline(60000), &v,
		                       err);
	if (rc == 0)
		snprintf(t->sum_new, sizeof(t->sum_new), "%s", v ? v : "");
	free(v);
	free(lo);
	free(hi);
	free(bound_sql);
	free(sum_sql);
	buf_release(&so);
	buf_release(&sn);
	return rc;
}

/* Row count, and with checksum the ordered hash of all rows in one go
 * (tables without a one-column key: ordered by the key, or the row). */
static int table_sum(struct pgsql_conn *c, const char *table, const char *order, bool checksum,
                     int64_t *rows, char sum[33], struct ferry_error *err)
{
	char *sql;
	struct pgsql_result r;
	int rc;

	if (checksum)
		sql = xasprintf(
		        "SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' ORDER BY "
		        "%s)), '') FROM %s t",
		        *order ? order : "t::text", table);
	else
		sql = xasprintf("SELECT count(*), '' FROM %s t", table);
	rc = pgsql_exec(c, sql, 0, NULL, pg_deadline(600000), &r, err);
	if (rc == 0 && r.nrows == 1) {
		*rows = pgsql_result_int(&r, 0, 0, -1);
		snprintf(sum, 33, "%s", pgsql_result_get(&r, 0, 1) ?: "");
	}
	pgsql_result_release(&r);
	free(sql);
	return rc;
}

static int pg_verify(void *h, bool checksum, struct db_verify *out, struct ferry_error *err)
{
	struct pg *p = h;
	struct pgsql_result r;
	int i, rc;

	rc = pgsql_exec(p->old, tables_sql, 0, NULL, pg_deadline(PG_TIMEOUT_MS), &r, err);
	if (rc < 0)
		return rc;
	out->equal = true;
	for (i = 0; i < r.nrows; i++) {
		struct db_verify_table *t;
		const char *name = pgsql_result_get(&r, i, 0);
		const char *order = pgsql_result_get(&r, i, 1);
		const char *type = pgsql_result_get(&r, i, 2);
		XGROW(out->v, out->alloc, out->n + 1);
		t = &out->v[out->n++];
		memset(t, 0, sizeof(*t));
		t->name = xstrdup(name);
		if (checksum && *type) {
			rc = table_sum_chunked(p, name, order, type, t, err);
		} else {
			rc = table_sum(p->old, name, order, checksum, &t->rows_old, t->sum_old,
			               err);
			if (rc == 0)
				rc = table_sum(p->new, name, order, checksum, &t->rows_new,
				               t->sum_new, err);
		}
		if (rc < 0)
			break;
		t->equal = t->rows_old == t->rows_new && !strcmp(t->sum_old, t->sum_new);
		if (!t->equal)
			out->equal = false;
	}
	pgsql_result_release(&r);
	return rc < 0 ? ferry_error_prefix(err, "database %s: verify", p->cfg->name) : 0;
}

/* ---- teardown --------------------------------------------------------- */

static int pg_teardown(void *h, struct ferry_error *err)
{
	struct pg *p = h;
	const struct pg_teardown_item *t;
	int rc = 0;

	/* the order of pg_teardown_order, which the dry run prints too */
	for (t = pg_teardown_order; !t->last && rc == 0; t++) {
		struct pgsql_conn *c = t->on_new ? p->new : p->old;
		const char *name = pg_teardown_name(p, t);
		switch (t->kind) {
		case PG_OBJ_SUB:
			rc = pg_sub_drop_local(c, name, err);
			if (rc == 0 && (p->cfg->new_password || p->cfg->old_password)) {
				/* best effort: a subscriber without a file has none */
				struct ferry_error pe = { 0 };
				if (pg_sub_passfile_remove(c, name, &pe) < 0)
					log_info("%s: %s's password file: %s", pgsql_what(c), name,
					         pe.msg);
			}
			break;
		case PG_OBJ_SLOT:
			rc = pg_slot_drop(c, name, pg_deadline(PG_TIMEOUT_MS), err);
			break;
		case PG_OBJ_PUB: rc = pg_pub_drop(c, name, err); break;
		}
	}
	return rc < 0 ? ferry_error_prefix(err, "database %s: teardown", p->cfg->name) : 0;
}

const struct db_engine db_engine_postgresql = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.check = pg_check,
	.replicate_start = pg_replicate_start,
	.progress = pg_progress,
	.lag = pg_lag,
	.verify = pg_verify,
	.schema_diff = pg_schema_diff,
	.target = pg_target,
	.teardown = pg_teardown,
	.slot_wal = pg_slot_wal,
	.describe_replicate = pg_describe_replicate,
	.describe_teardown = pg_describe_teardown,
	.sw = &pg_switch_ops,
};
