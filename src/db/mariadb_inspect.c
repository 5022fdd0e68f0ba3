/*
 * mariadb_inspect.c - where a MariaDB switch stands (db.h, the inspect and
 * carried steps of struct db_switch_ops; the others are in
 * mariadb_switch.c).
 *
 * inspect() reads both sides outside any pause (reconnecting a lost
 * connection): read_only (the fence, fenced[]), whether each side
 * replicates from the other and its threads run (the forward stream, to
 * from from; the reverse one, from from to), and the GTID positions: to
 * holds every change of from when, in every domain, its binlog (which
 * holds what it applied, with log_slave_updates) or its slave position is
 * at from's binlog position.  A server restarted inside a switch comes
 * back writable (SET GLOBAL read_only is not kept) and starts every
 * configured replica: a forward stream counts as running only on a
 * read_only to, a reverse one only when start_reverse noted its start.
 * The orchestrator decides recovery from these.  carried() counts, for the rollback's report, the transactions
 * between where the cutover's reverse stream started (noted in
 * _ferry.reverse by start_reverse) and the rollback's fence.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/mariadb_int.h"
#include "util/mem.h"

int mdb_repl_read(struct mdb_conn *c, const struct mdb_side *other, int64_t deadline,
                  struct mdb_repl *out, struct ferry_error *err)
{
	struct mdb_result st;
	const char *host, *port, *v;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = mdb_slave_status(c, deadline, &st, err);
	if (rc < 0 || st.nrows == 0) {
		mdb_result_release(&st);
		return rc;
	}
	out->configured = true;
	host = mdb_result_named(&st, 0, "Master_Host");
	port = mdb_result_named(&st, 0, "Master_Port");
	out->from_other = host && port &&
	                  !strcmp(host, other->ep_in.host ? other->ep_in.host : "127.0.0.1") &&
	                  !strcmp(port, other->ep_in.port ? other->ep_in.port : "3306");
	snprintf(out->source, sizeof(out->source), "%s:%s", host ? host : "?", port ? port : "?");
	v = mdb_result_named(&st, 0, "Slave_IO_Running");
	out->io = v && (!strcmp(v, "Yes") || !strcmp(v, "Connecting"));
	v = mdb_result_named(&st, 0, "Slave_SQL_Running");
	out->sql = v && !strcmp(v, "Yes");
	v = mdb_result_named(&st, 0, "Last_SQL_Error");
	if (!v || !*v)
		v = mdb_result_named(&st, 0, "Last_IO_Error");
	snprintf(out->error, sizeof(out->error), "%s", v ? v : "");
	mdb_result_release(&st);
	return 0;
}

int mdb_sw_carried(void *h, enum db_direction dir, const char *fence_pos, int64_t *txns,
                   int64_t *bytes, struct ferry_error *err)
{
	struct mdb *m = h;
	struct mdb_side *from, *to;
	struct mdb_conn *c;
	char *sql, *start = NULL;
	int rc;

	*txns = *bytes = 0;
	mdb_sides(m, dir, &from, &to);
	if (mdb_side_reconnect(m, to, err) < 0)
		return err->code;
	c = to->q;
	/* the stream that carried writes back is the one the switch the
	 * other way started, noted on its from: this switch's to */
	sql = xasprintf("SELECT start FROM " MDB_META ".reverse WHERE dir = %d",
	                dir == DB_FORWARD ? (int)DB_REVERSE : (int)DB_FORWARD);
	rc = mdb_value(c, sql, mdb_deadline(5000), &start, err);
	free(sql);
	if (rc == 0 && start && fence_pos)
		*txns = mdb_gtid_distance(fence_pos, start);
	free(start);
	return rc < 0 ? ferry_error_prefix(err, "database %s: carried", m->cfg->name) : 0;
}

/* ---- recovery ------------------------------------------------------------- */

/* Per domain, the larger sequence number of a and b: what a replica holds
 * (its own binlog, or with log_slave_updates off, its slave position). */
static int64_t distance_to(const char *from_bin, const char *to_bin, const char *to_slave)
{
	int64_t a = mdb_gtid_distance(from_bin, to_bin), b = mdb_gtid_distance(from_bin, to_slave);

	return a < b ? a : b;
}

static int inspect_once(struct mdb *m, struct mariadb_side_state *old,
                        struct mariadb_side_state *new, struct ferry_error *err)
{
	struct mariadb_side_state *st[2] = { old, new };
	struct mdb_side *sd[2] = { &m->old, &m->new };
	int rc = 0, i;

	for (i = 0; rc == 0 && i < 2; i++) {
		struct mariadb_side_state *o = st[i];
		struct mdb_conn *c = mdb_side_reconnect(m, sd[i], err) == 0 ? sd[i]->q : NULL;
		struct mdb_result r;
		struct mdb_repl rp;
		int64_t dl = mdb_deadline(MDB_TIMEOUT_MS);

		memset(o, 0, sizeof(*o));
		if (!c)
			return err->code;
		rc = mdb_exec(c,
		              "SELECT @@GLOBAL.read_only, @@GLOBAL.event_scheduler, "
		              "@@GLOBAL.gtid_binlog_pos, @@GLOBAL.gtid_slave_pos",
		              dl, &r, err);
		if (rc == 0 && r.nrows == 1) {
			o->read_only = !strcmp(mdb_result_get(&r, 0, 0) ?: "", "1");
			o->events_on = !strcasecmp(mdb_result_get(&r, 0, 1) ?: "", "ON");
			snprintf(o->binlog_pos, sizeof(o->binlog_pos), "%s",
			         mdb_result_get(&r, 0, 2) ?: "");
			snprintf(o->slave_pos, sizeof(o->slave_pos), "%s",
			         mdb_result_get(&r, 0, 3) ?: "");
		}
		mdb_result_release(&r);
		if (rc == 0)
			rc = mdb_repl_read(c, sd[1 - i], dl, &rp, err);
		if (rc == 0 && rp.configured) {
			o->replica = true;
			o->from_other = rp.from_other;
			o->io_running = rp.io;
			o->sql_running = rp.sql;
			snprintf(o->source, sizeof(o->source), "%s", rp.source);
			snprintf(o->last_error, sizeof(o->last_error), "%s", rp.error);
		}
	}
	return rc;
}

int mariadb_inspect(void *h, struct mariadb_side_state *old, struct mariadb_side_state *new,
                    struct ferry_error *err)
{
	struct mdb *m = h;
	int rc = inspect_once(m, old, new, err);

	/* a session a restart of the server dropped: once more on new ones */
	if (rc < 0 && mdb_lost_and_back(m, rc))
		rc = inspect_once(m, old, new, err);
	return rc < 0 ? ferry_error_prefix(err, "database %s: inspect", m->cfg->name) : 0;
}

int mdb_reverse_noted(struct mdb *m, enum db_direction dir, struct ferry_error *err)
{
	struct mdb_side *from, *to;
	char *sql, *v = NULL;
	int rc;

	mdb_sides(m, dir, &from, &to);
	sql = xasprintf("SELECT COUNT(*) FROM " MDB_META ".reverse WHERE dir = %d", (int)dir);
	rc = mdb_value(from->q, sql, mdb_deadline(MDB_TIMEOUT_MS), &v, err);
	free(sql);
	if (rc < 0 && mdb_ok(from->q) && mdb_errno(from->q) == 1146) /* no table yet */
		rc = 0;
	else if (rc == 0)
		rc = v && strcmp(v, "0") ? 1 : 0;
	free(v);
	return rc;
}

int mdb_sw_inspect(void *h, enum db_direction dir, struct db_inspect *out, struct ferry_error *err)
{
	struct mariadb_side_state s[2], *f, *t;
	int rc, noted;

	memset(out, 0, sizeof(*out));
	/* a recovery or a new switch starts here: it asks the servers */
	mdb_sw_forget(h);
	rc = mariadb_inspect(h, &s[DB_OLD], &s[DB_NEW], err);
	if (rc < 0)
		return rc;
	noted = mdb_reverse_noted(h, dir, err);
	if (noted < 0)
		return ferry_error_prefix(err, "database %s: inspect",
		                          ((struct mdb *)h)->cfg->name);
	f = &s[db_from(dir)];
	t = &s[db_to(dir)];
	out->fenced[DB_OLD] = s[DB_OLD].read_only;
	out->fenced[DB_NEW] = s[DB_NEW].read_only;
	out->forward_exists = t->replica && t->from_other;
	/* ferry's forward stream is a replica that applies and is read_only:
	 * one a restart left writable is restarted (restart_forward makes it
	 * read_only again) */
	out->forward_running = out->forward_exists && t->sql_running && t->read_only;
	out->caught_up = distance_to(f->binlog_pos, t->binlog_pos, t->slave_pos) == 0;
	out->reverse_ready = f->replica && f->from_other;
	/* started by start_reverse, not by the server: prepare() configures
	 * the reverse stream before the pause, and a server that restarts
	 * starts every configured replica */
	out->reverse_running = out->reverse_ready && f->sql_running && noted;
	snprintf(out->detail, sizeof(out->detail),
	         "read_only old %s new %s; %s replicates from %s: %s; %s %s %s; reverse %s",
	         s[DB_OLD].read_only ? "on" : "off", s[DB_NEW].read_only ? "on" : "off",
	         db_side_name(db_to(dir)), db_side_name(db_from(dir)),
	         !out->forward_exists   ? "no"
	         : out->forward_running ? "running"
	                                : "stopped",
	         db_side_name(db_to(dir)), out->caught_up ? "holds" : "lacks", f->binlog_pos,
	         out->reverse_running ? "running"
	         : out->reverse_ready ? "configured"
	                              : "none");
	return 0;
}
