/*
 * mariadb_describe.c - the dry run of the MariaDB engine (DESIGN §5, db.h
 * describe_*): what replicate_start, the switch steps and teardown would
 * send, in order, without a connection.  The texts come from the builders
 * the real steps use (mdb_dump_argv, mdb_client_argv, mdb_filter,
 * mdb_change_master_sql); what depends on the world is a note after
 * "  -- ".  No password is written: MASTER_PASSWORD is shown as a
 * placeholder.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "db/mariadb_int.h"
#include "util/mem.h"

struct desc {
	struct mdb m; /* config and endpoints only: no connections */
	struct buf o;
	const char *step;
	bool pause;
	int rc;
};

static int desc_init(struct desc *d, const struct db_config *cfg, struct ferry_error *err)
{
	memset(d, 0, sizeof(*d));
	d->m.cfg = cfg;
	buf_init(&d->o, 16 << 20);
	d->m.old.name = "old";
	d->m.new.name = "new";
	d->rc = mdb_endpoint_parse(cfg->old_conninfo, "old", &d->m.old.ep, err);
	if (d->rc == 0)
		d->rc = mdb_endpoint_parse(cfg->old_from_new ? cfg->old_from_new
		                                             : cfg->old_conninfo,
		                           "old", &d->m.old.ep_in, err);
	if (d->rc == 0)
		d->rc = mdb_endpoint_parse(cfg->new_conninfo, "new", &d->m.new.ep, err);
	if (d->rc == 0)
		d->rc = mdb_endpoint_parse(cfg->new_from_old ? cfg->new_from_old
		                                             : cfg->new_conninfo,
		                           "new", &d->m.new.ep_in, err);
	if (d->rc == 0 && !d->m.old.ep.dbname)
		d->rc = ferry_error_set(err, FERRY_EINVAL,
		                        "add dbname=NAME to the connection string",
		                        "database %s old: no database named", cfg->name);
	if (d->rc == 0)
		d->m.dbname = xstrdup(d->m.old.ep.dbname);
	return d->rc;
}

static int desc_finish(struct desc *d, struct buf *out, struct ferry_error *err)
{
	if (d->rc == 0 && buf_add(out, d->o.data, d->o.len) < 0)
		d->rc = ferry_error_set(err, FERRY_EPROTO, "give the buffer more room",
		                        "database %s: the dry run does not fit", d->m.cfg->name);
	buf_release(&d->o);
	mdb_endpoint_release(&d->m.old.ep);
	mdb_endpoint_release(&d->m.old.ep_in);
	mdb_endpoint_release(&d->m.new.ep);
	mdb_endpoint_release(&d->m.new.ep_in);
	free(d->m.dbname);
	return d->rc;
}

__attribute__((format(printf, 4, 5))) static void line(struct desc *d, const char *target,
                                                       const char *text, const char *note, ...)
{
	va_list ap;

	if (*d->step)
		buf_addf(&d->o, "%s%s ", d->step, d->pause ? " [pause]" : "");
	buf_addf(&d->o, "%s: %s", target, text);
	if (note) {
		buf_adds(&d->o, "  -- ");
		va_start(ap, note);
		buf_vaddf(&d->o, note, ap);
		va_end(ap);
	}
	buf_addch(&d->o, '\n');
}

static void open_lines(struct desc *d)
{
	if (!d->step || *d->step)
		d->step = "open";
	d->pause = false;
	line(d, "old", "connect", "%s:%s as %s", d->m.old.ep.host ? d->m.old.ep.host : "127.0.0.1",
	     d->m.old.ep.port ? d->m.old.ep.port : "3306",
	     d->m.old.ep.user ? d->m.old.ep.user : "?");
	line(d, "new", "connect", "%s:%s as %s", d->m.new.ep.host ? d->m.new.ep.host : "127.0.0.1",
	     d->m.new.ep.port ? d->m.new.ep.port : "3306",
	     d->m.new.ep.user ? d->m.new.ep.user : "?");
}

static void argv_text(struct buf *b, const char *const *v, const char *last)
{
	size_t i;

	buf_addf(b, "%s --defaults-extra-file=<0600 option file>", v[0]);
	for (i = 1; v[i]; i++)
		buf_addf(b, " '%s'", v[i]);
	if (last)
		buf_addf(b, " %s", last);
}

int mdb_describe_replicate(const struct db_config *cfg, struct buf *out, struct ferry_error *err)
{
	struct desc d;
	struct buf cmd;
	char *filter, *cm;

	if (desc_init(&d, cfg, err) < 0)
		return desc_finish(&d, out, err);
	open_lines(&d);
	d.step = "schema_copy";
	line(&d, "old", "CREATE DATABASE IF NOT EXISTS " MDB_META " (heartbeat table)",
	     "sql_log_bin=0");
	line(&d, "new", "CREATE DATABASE IF NOT EXISTS " MDB_META " (heartbeat, copy state)",
	     "sql_log_bin=0");
	line(&d, "new", "SET GLOBAL read_only = 1", NULL);
	line(&d, "new", "SET GLOBAL event_scheduler = OFF", NULL);
	buf_init(&cmd, 1 << 16);
	argv_text(&cmd, mdb_dump_argv, d.m.dbname);
	buf_adds(&cmd, " | ");
	argv_text(&cmd, mdb_client_argv, NULL);
	line(&d, "local", cmd.data, "in the background; progress per table");
	buf_release(&cmd);
	d.step = "subscribe";
	filter = mdb_filter(&d.m);
	line(&d, "new", "STOP SLAVE", NULL);
	line(&d, "new", "SET GLOBAL replicate_wild_do_table = ", "'%s'", filter);
	line(&d, "new", "SET GLOBAL gtid_slave_pos = $1", "$1: the GTID position in the dump");
	cm = mdb_change_master_sql(&d.m, &d.m.new, &d.m.old, false, false);
	line(&d, "new", cm, NULL);
	line(&d, "new", "START SLAVE", NULL);
	free(cm);
	free(filter);
	return desc_finish(&d, out, err);
}

/* The filter and CHANGE MASTER that make s a replica of other. */
__attribute__((format(printf, 5, 6))) static void reverse_lines(struct desc *d, struct mdb_side *s,
                                                                struct mdb_side *other, bool demote,
                                                                const char *note, ...)
{
	char *filter = mdb_filter(&d->m), *qf = mdb_quote(filter), *sql, n[256];
	va_list ap;

	va_start(ap, note);
	vsnprintf(n, sizeof(n), note, ap);
	va_end(ap);
	sql = xasprintf("SET GLOBAL replicate_wild_do_table = %s", qf);
	line(d, s->name, sql, "%s", n);
	free(sql);
	sql = mdb_change_master_sql(&d->m, s, other, demote, false);
	line(d, s->name, sql, "%s", n);
	free(sql);
	free(qf);
	free(filter);
}

/* One step of the switch (db.h, describe): lines "TARGET: TEXT  -- NOTE",
 * without the step's name (the orchestrator adds it). */
int mdb_describe_step(const struct db_config *cfg, enum db_direction dir, const char *step,
                      struct buf *out, struct ferry_error *err)
{
	struct desc d;
	struct mdb_side *from, *to;
	const char *f, *t;
	int64_t max_lag = cfg->max_lag_ms ? cfg->max_lag_ms : 1000;

	if (desc_init(&d, cfg, err) < 0)
		return desc_finish(&d, out, err);
	mdb_sides(&d.m, dir, &from, &to);
	f = from->name;
	t = to->name;
	d.step = "";
	if (!strcmp(step, DB_SW_OPEN)) {
		open_lines(&d);
		line(&d, "old", "connect",
		     "a spare: KILL QUERY past a deadline, and what follows it");
		line(&d, "new", "connect",
		     "a spare: KILL QUERY past a deadline, and what follows it");
	} else if (!strcmp(step, DB_SW_PREFLIGHT)) {
		line(&d, t, "SHOW SLAVE STATUS",
		     "must replicate from %s, both threads running, no error", f);
		line(&d, t,
		     "SELECT @@gtid_slave_pos, (SELECT seq FROM " MDB_META
		     ".heartbeat WHERE id = 1), ...",
		     "the lag: GTID distance and heartbeat age, under %lld ms", (long long)max_lag);
		line(&d, f, "INSERT INTO " MDB_META ".heartbeat ... ON DUPLICATE KEY UPDATE ...",
		     "the next heartbeat");
		line(&d, t, "SELECT @@GLOBAL.log_bin", "must be 1: the way back reads its binlog");
		line(&d, t, "SELECT @@GLOBAL.log_slave_updates", "must be 1");
		line(&d, f, "SHOW SLAVE STATUS", "must not replicate from elsewhere");
		line(&d, f, MDB_SQL_SESSIONS_WHO, "logged: the sessions the fence will end");
	} else if (!strcmp(step, DB_SW_PREPARE)) {
		line(&d, "old", "connect (and a spare for the pause)", "if lost");
		line(&d, "new", "connect (and a spare for the pause)", "if lost");
		line(&d, f, "SELECT @@GLOBAL.read_only", NULL);
		line(&d, f, "SELECT @@GLOBAL.event_scheduler",
		     "if writable: %s's scheduler will run as it does", t);
		reverse_lines(&d, from, to, false,
		              "if it does not replicate from %s yet: the way back, not started", t);
		line(&d, f, MDB_SQL_REVERSE_TABLE, "sql_log_bin=0");
		{
			char *del = xasprintf("DELETE FROM " MDB_META ".reverse WHERE dir = %d",
			                      (int)dir);
			line(&d, f, del,
			     "sql_log_bin=0; not started by this switch yet (a restart of the "
			     "server "
			     "would start it: recovery tells them apart)");
			free(del);
		}
		line(&d, f, MDB_SQL_POSITION, "where %s is now", f);
		line(&d, t, "SELECT MASTER_GTID_WAIT($1, 0.05)",
		     "until it holds that, up to %lld ms: the pause then waits only for the "
		     "writes in between",
		     (long long)max_lag);
	} else if (!strcmp(step, DB_SW_FENCE) || !strcmp(step, DB_SW_UNDO_FENCE_TARGET)) {
		const char *s = !strcmp(step, DB_SW_FENCE) ? f : t;
		char *sql = mdb_fence_sql("$1");
		const char *ids[] = { "$2", "..." };
		line(&d, s, sql,
		     "$1: the budget left, seconds; past the deadline: KILL QUERY of it from the "
		     "spare connection; answers the position and the sessions to end");
		free(sql);
		sql = mdb_kill_sql(ids, 2);
		line(&d, s, sql, "if there are any: each of them; answers the position again");
		free(sql);
	} else if (!strcmp(step, DB_SW_POSITION)) {
		line(&d, f, MDB_SQL_POSITION,
		     "the fence position: the one the fence answered, else asked again");
	} else if (!strcmp(step, DB_SW_WAIT_APPLIED)) {
		line(&d, t, "SELECT MASTER_GTID_WAIT($1, 0.05)",
		     "$1 = the fence position; again until 0, within the budget");
		line(&d, t, "SHOW SLAVE STATUS",
		     "every 10th round: a stopped replica fails the step");
	} else if (!strcmp(step, DB_SW_FINALIZE)) {
		line(&d, t, "nothing", "row events carry AUTO_INCREMENT values");
	} else if (!strcmp(step, DB_SW_STOP_FORWARD)) {
		line(&d, t, "SHOW SLAVE STATUS",
		     "in a recovery only (preflight saw it in a switch)");
		line(&d, t, "STOP SLAVE", "the configuration stays until drop_forward");
	} else if (!strcmp(step, DB_SW_PREPARE_REVERSE)) {
		line(&d, f, "nothing",
		     "in a switch: prepare made it a replica of %s, not started; the fence made "
		     "it read_only, its scheduler off",
		     t);
		line(&d, f, "SHOW SLAVE STATUS", "in a recovery:");
		line(&d, f, "SET GLOBAL read_only = 1", "if 0");
		line(&d, f, "SET GLOBAL event_scheduler = OFF", "if ON");
		reverse_lines(&d, from, to, true, "only if prepare did not (a recovery)");
	} else if (!strcmp(step, DB_SW_UNFENCE_TARGET) || !strcmp(step, DB_SW_UNDO_UNFENCE)) {
		const char *s = !strcmp(step, DB_SW_UNFENCE_TARGET) ? t : f;
		char *sql = mdb_unfence_sql(d.m.dbname);
		line(&d, s,
		     "KILL CONNECTION $1; SELECT COUNT(*) FROM information_schema.PROCESSLIST "
		     "WHERE ID = $1",
		     "only if this process's fence of it ran out of time: its session, which may "
		     "still wait for its lock, gone first (polled)");
		line(&d, s, "SHOW SLAVE STATUS",
		     "a replica that applies stays read_only (not asked of a target whose "
		     "replica stop_forward stopped)");
		line(&d, s, sql, "the database's events");
		free(sql);
		line(&d, s,
		     "BEGIN NOT ATOMIC SET STATEMENT sql_log_bin = 0 FOR ALTER EVENT $1 ENABLE; "
		     "...; "
		     "SET GLOBAL event_scheduler = ON; END",
		     "only if there is any: each SLAVESIDE_DISABLED event, not binlogged; the "
		     "scheduler if the writer ran it and there are events");
	} else if (!strcmp(step, DB_SW_START_REVERSE)) {
		line(&d, f, "SHOW SLAVE STATUS", "must replicate from %s", t);
		{
			char *sel = xasprintf("SELECT COUNT(*) FROM " MDB_META
			                      ".reverse WHERE dir = %d",
			                      (int)dir);
			line(&d, f, sel,
			     "if it runs: started by ferry, nothing more; else a restart "
			     "of the server started it, from a stale position");
			free(sel);
		}
		line(&d, f, MDB_SQL_REVERSE_TABLE, "sql_log_bin=0");
		line(&d, f, "REPLACE INTO " MDB_META ".reverse (dir, start) VALUES ($1, $2)",
		     "sql_log_bin=0; where the stream starts: the fence position");
		line(&d, f, "STOP SLAVE", "if a thread runs");
		line(&d, f, MDB_SQL_DEMOTE,
		     "as MASTER_DEMOTE_TO_SLAVE: it starts at its own position, frozen by the "
		     "fence");
		line(&d, f, "START SLAVE", "after the resume, retried");
		if (dir == DB_REVERSE)
			line(&d, t, "SELECT start FROM " MDB_META ".reverse WHERE dir = 0",
			     "counts what was carried back: GTID distance to the fence");
	} else if (!strcmp(step, DB_SW_DROP_FORWARD) || !strcmp(step, DB_SW_UNDO_DROP_REVERSE)) {
		const char *s = !strcmp(step, DB_SW_DROP_FORWARD) ? t : f;
		line(&d, s, "SHOW SLAVE STATUS", "only if it replicates from %s:", s == t ? f : t);
		line(&d, s, "STOP SLAVE", "if a thread runs");
		line(&d, s, "RESET SLAVE ALL", NULL);
		line(&d, s, "SET GLOBAL replicate_wild_do_table = ''", NULL);
	} else if (!strcmp(step, DB_SW_UNDO_RESTART_FORWARD)) {
		line(&d, t, "SET GLOBAL read_only = 1", "if 0");
		line(&d, t, "SET GLOBAL event_scheduler = OFF", "if ON");
		line(&d, t, "START SLAVE", "if its SQL thread is stopped");
	} else {
		d.rc = ferry_error_set(err, FERRY_EINVAL, NULL, "database %s: no switch step '%s'",
		                       cfg->name, step);
	}
	return desc_finish(&d, out, err);
}

int mdb_describe_teardown(const struct db_config *cfg, struct buf *out, struct ferry_error *err)
{
	struct desc d;
	const char *side[2] = { "new", "old" };
	int i;

	if (desc_init(&d, cfg, err) < 0)
		return desc_finish(&d, out, err);
	open_lines(&d);
	d.step = "drop";
	for (i = 0; i < 2; i++) {
		line(&d, side[i], "STOP SLAVE; RESET SLAVE ALL", "if it replicates");
		line(&d, side[i], "SET GLOBAL replicate_wild_do_table = ''", NULL);
		line(&d, side[i], "DROP DATABASE IF EXISTS " MDB_META, "sql_log_bin=0");
	}
	return desc_finish(&d, out, err);
}
