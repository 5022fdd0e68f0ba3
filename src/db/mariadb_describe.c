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

	buf_addf(&d->o, "%s%s %s: %s", d->step, d->pause ? " [pause]" : "", target, text);
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

int mdb_describe_switch(const struct db_config *cfg, enum db_direction dir, struct buf *out,
                        struct ferry_error *err)
{
	struct desc d;
	struct mdb_side *from, *to;
	char *cm;

	if (desc_init(&d, cfg, err) < 0)
		return desc_finish(&d, out, err);
	open_lines(&d);
	mdb_sides(&d.m, dir, &from, &to);
	d.pause = true;
	d.step = "fence";
	line(&d, from->name, "SET SESSION lock_wait_timeout = $1", "$1: the budget left, seconds");
	line(&d, from->name, "SET GLOBAL read_only = 1",
	     "KILL QUERY from the control connection "
	     "past the deadline");
	line(&d, from->name, "KILL CONNECTION $1",
	     "for each session but ferry's, the server's "
	     "threads and binlog readers");
	d.step = "position";
	line(&d, from->name, "SELECT @@GLOBAL.gtid_binlog_pos", NULL);
	d.step = "wait_applied";
	line(&d, to->name, "SELECT MASTER_GTID_WAIT($1, 0.05)", "until 0, within the budget");
	d.step = "promote";
	line(&d, to->name, "STOP SLAVE", NULL);
	line(&d, to->name, "SET GLOBAL read_only = 0", NULL);
	line(&d, to->name, "ALTER EVENT $1 ENABLE", "for each SLAVESIDE_DISABLED event");
	line(&d, to->name, "SET GLOBAL event_scheduler = ON", "if it has events");
	d.step = "prepare_reverse";
	line(&d, from->name, "SET GLOBAL event_scheduler = OFF", NULL);
	cm = mdb_change_master_sql(&d.m, from, to, true, false);
	line(&d, from->name, cm, NULL);
	free(cm);
	d.pause = false;
	d.step = "start_reverse";
	line(&d, from->name, "START SLAVE", "after the resume, retried");
	d.step = "drop_forward";
	line(&d, to->name, "RESET SLAVE ALL", "after the resume, retried");
	d.step = "undo";
	d.pause = true;
	line(&d, from->name, "RESET SLAVE ALL", "if prepare_reverse ran");
	line(&d, to->name, "SET GLOBAL read_only = 1; START SLAVE", "if promote ran");
	line(&d, from->name, "SET GLOBAL read_only = 0", NULL);
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
