/*
 * postgresql_describe.c - the dry run of the PostgreSQL engine (DESIGN §5):
 * what replicate_start, switch_run and teardown would send, in order,
 * without a connection (db.h: describe_*).
 *
 * Each function here walks the same steps as its real counterpart, in the
 * same order, and prints the statement texts that postgresql_sql.c builds
 * for both; object names come from pg_names_get(), as in the switch (the
 * pooler lines and the order of the switch's steps come from the
 * orchestrator, core/orchestrator.c).  What depends on the world (a
 * subscription that already exists, the sequences, the LSN at the fence)
 * is a note after "  -- ".  A change to a step must be mirrored here: the
 * order is asserted by tests/unit/test_describe.c and, against real
 * servers, by tests/integration/pg.
 *
 * Lines are built in a private buffer and appended to the caller's at the
 * end, so a caller's buffer is either given the whole description or left
 * as it was.  No password is ever written: conninfos are scrubbed.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "db/postgresql_int.h"
#include "hosts/shell.h"
#include "util/buf.h"
#include "util/mem.h"

struct desc {
	struct pg p;       /* cfg only: no connections */
	struct pg_names n; /* names for the direction described */
	struct buf o;      /* the lines, appended to out at the end */
	const char *step;  /* the current step's name */
	bool pause;        /* the step is inside the write pause */
	int rc;            /* the first error */
	struct ferry_error *err;
};

static void desc_init(struct desc *d, const struct db_config *cfg, enum db_direction dir,
                      struct ferry_error *err)
{
	memset(d, 0, sizeof(*d));
	d->p.cfg = cfg;
	pg_names_get(&d->p, dir, &d->n);
	buf_init(&d->o, 16 << 20);
	d->err = err;
}

static int desc_finish(struct desc *d, struct buf *out)
{
	if (d->rc == 0 && buf_add(out, d->o.data, d->o.len) < 0)
		d->rc = ferry_error_set(d->err, FERRY_EPROTO, "give the buffer more room",
		                        "database %s: the dry run does not fit", d->p.cfg->name);
	buf_release(&d->o);
	return d->rc;
}

static void step(struct desc *d, const char *name, bool pause)
{
	d->step = name;
	d->pause = pause;
}

/* "STEP [pause] TARGET: TEXT  -- NOTE" */
__attribute__((format(printf, 4, 5))) static void line(struct desc *d, const char *target,
                                                       const char *text, const char *note, ...)
{
	va_list ap;

	buf_addf(&d->o, "%s%s%s%s: %s", d->step, d->pause ? " [pause]" : "", *d->step ? " " : "",
	         target, text);
	if (note) {
		buf_adds(&d->o, "  -- ");
		va_start(ap, note);
		buf_vaddf(&d->o, note, ap);
		va_end(ap);
	}
	buf_addch(&d->o, '\n');
}

/* Like line() for a built statement, which it frees. */
__attribute__((format(printf, 4, 5))) static void line_built(struct desc *d, const char *target,
                                                             char *sql, const char *note, ...)
{
	va_list ap;

	buf_addf(&d->o, "%s%s%s%s: %s", d->step, d->pause ? " [pause]" : "", *d->step ? " " : "",
	         target, sql);
	free(sql);
	if (note) {
		buf_adds(&d->o, "  -- ");
		va_start(ap, note);
		buf_vaddf(&d->o, note, ap);
		va_end(ap);
	}
	buf_addch(&d->o, '\n');
}

/* A conninfo as it may be printed: without any password (sslpassword
 * too). */
static char *ci_print(const char *conninfo)
{
	char *s = pgsql_conninfo_unsecret(conninfo);

	return s ? s : pgsql_conninfo_scrub(conninfo);
}

/* The database ALTER DATABASE names: the one the conninfo connects to
 * (the real step reads it with SELECT current_database()). */
static char *ci_dbname(const char *conninfo)
{
	char *db = pgsql_conninfo_get(conninfo, "dbname");

	return db ? db : xstrdup("<current database>");
}

static const char *side_conninfo(const struct desc *d, const char *side)
{
	return !strcmp(side, "old") ? d->p.cfg->old_conninfo : d->p.cfg->new_conninfo;
}

static void describe_open(struct desc *d)
{
	const struct db_config *c = d->p.cfg;
	const char *side[2] = { "old", "new" };
	const char *pw[2] = { c->old_password, c->new_password };
	int i;

	for (i = 0; i < 2; i++) {
		char *ci = pgsql_conninfo_scrub(side_conninfo(d, side[i]));
		char *text = xasprintf("connect %s", ci);
		if (pw[i])
			line(d, side[i], text, "password from its secret");
		else
			line(d, side[i], text, NULL);
		free(text);
		free(ci);
		line(d, side[i], pg_sql_session_rw, "ferry's own session is exempt from the fence");
	}
}

/* pg_sub_create(): the statement, with the conninfo printed scrubbed */
static void sub_create(struct desc *d, const char *target, const char *sub, const char *conninfo,
                       const char *password, const char *pub, const char *opts)
{
	char *ci = ci_print(conninfo);
	char *own = pgsql_conninfo_get(conninfo, "password");

	if (password) {
		char *path = pg_sub_passfile_path("<data_directory>", sub);
		char *withpf = pgsql_conninfo_set(ci, "passfile", path);
		line(d, target, pg_sql_data_directory, NULL);
		line(d, target, "write <data_directory>/<subscription>.pgpass",
		     "on that server's host through its exec prefix: 0600, its user's, the "
		     "password from its secret on the shell's stdin");
		line_built(d, target, pg_sql_sub_create(sub, withpf ? withpf : ci, pub, opts),
		           "the password is in that file, never in the statement");
		free(withpf);
		free(path);
	} else if (own) {
		line_built(d, target, pg_sql_sub_create(sub, ci, pub, opts), "%s",
		           "the conninfo's password is sent, not shown");
	} else {
		line_built(d, target, pg_sql_sub_create(sub, ci, pub, opts), NULL);
	}
	if (own)
		xfree_secret(own, 0);
	free(ci);
}

/* pg_sub_drop_local() */
static void sub_drop_local(struct desc *d, const char *target, const char *sub)
{
	line(d, target, pg_sql_sub_exists, "$1 = '%s'; the rest only if it exists", sub);
	line_built(d, target, pg_sql_sub_alter(sub, "DISABLE"), "if enabled");
	line_built(d, target, pg_sql_sub_alter(sub, "SET (slot_name = NONE)"),
	           "if it has a slot (that slot is dropped on its own side)");
	line_built(d, target, pg_sql_sub_drop(sub), NULL);
}

/* pg_slot_drop() */
static void slot_drop(struct desc *d, const char *target, const char *slot)
{
	line(d, target, pg_sql_slot_exists, "$1 = '%s'; polled every 10 ms until inactive", slot);
	line(d, target, pg_sql_slot_drop, "$1 = '%s'; if it exists", slot);
}

/* pg_pub_ensure() */
static void pub_ensure(struct desc *d, const char *target, const char *pub)
{
	line(d, target, pg_sql_pub_exists, "$1 = '%s'", pub);
	line_built(d, target, pg_sql_pub_create(pub), "if missing");
}

/* pg_fence_set() with the database name read in prepare */
static void fence_set(struct desc *d, const char *side, bool on)
{
	char *db = ci_dbname(side_conninfo(d, side));

	line_built(d, side, pg_sql_fence(db, on), NULL);
	free(db);
}

/* argv joined as a shell would read it: unsafe words quoted */
static void add_argv(struct buf *b, const char *const *argv, const char *last)
{
	size_t i;

	for (i = 0; argv[i] || last; i++) {
		const char *w = argv[i] ? argv[i] : last;
		bool plain = *w != '\0';
		const char *q;
		for (q = w; *q && plain; q++)
			plain = (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
			        (*q >= '0' && *q <= '9') || strchr("_./=:@%+,-", *q);
		if (i)
			buf_addch(b, ' ');
		if (plain) {
			buf_adds(b, w);
		} else {
			char *s = host_shell_quote(w);
			buf_adds(b, s);
			free(s);
		}
		if (!argv[i])
			break;
	}
}

/* pg_copy_replicate() (postgresql_copy.c), a fresh copy */
static void describe_parallel(struct desc *d)
{
	const struct db_config *c = d->p.cfg;
	int jobs = c->copy_jobs > 0 ? c->copy_jobs : 2;
	char *ci_old = pgsql_conninfo_scrub(c->old_conninfo);
	char *ci_new = pgsql_conninfo_scrub(c->new_conninfo);
	const char *t[1] = { "<each table>" };
	char *opts = pg_sub_opts_on_slot(d->p.slot_fwd);
	struct buf cmd;

	buf_init(&cmd, 1 << 20);
	step(d, "slot", false);
	line(d, "old", pg_sql_slot_confirmed,
	     "$1 = the slot's name; a slot left by a crashed copy resumes it when the copy ledger "
	     "names its position, else it is dropped and the copy starts over");
	step(d, "publish", false);
	line(d, "old", pg_sql_copy_tables, "the tables to copy");
	line(d, "old", pg_sql_pub_exists, "$1 = 'ferry_pub'");
	line_built(d, "old", pg_sql_pub_tables("ferry_pub", "CREATE", t, 1),
	           "ALTER PUBLICATION ... SET TABLE when it exists");
	step(d, "slot", false);
	line_built(d, "old", pg_sql_copy_slot(d->p.slot_fwd),
	           "on a replication connection (replication=database) held open while the copy "
	           "runs: the slot starts at the snapshot it exports");
	step(d, "schema_copy", false);
	line(d, "new", pg_sql_count_tables,
	     "when this is not 0 the schema diff decides: only missing indexes, constraints "
	     "and triggers are allowed, and the tables are emptied");
	add_argv(&cmd, pg_dump_pre_argv, NULL);
	buf_adds(&cmd, " --snapshot=<exported> -d ");
	add_argv(&cmd, (const char *const[]){ NULL }, ci_old);
	buf_adds(&cmd, " | ");
	add_argv(&cmd, pg_psql_argv, ci_new);
	line(d, "local", cmd.data, "environment PGAPPNAME=ferry%s%s",
	     c->old_password ? ", PGPASSFILE of old for pg_dump" : "",
	     c->new_password ? ", PGPASSFILE of new for psql" : "");
	step(d, "copy", false);
	line(d, "old", pg_sql_copy_snapshot_begin, "%d workers, each on its own connections", jobs);
	line_built(d, "old", pg_sql_snapshot_set("<exported>"), NULL);
	line_built(d, "old", pg_sql_copy_out("<table>", "<columns>", -1, -1),
	           "largest first; a table over 128 MB in block ranges (ctid), each its own "
	           "COPY");
	line_built(d, "new", pg_sql_copy_in("<table>", "<columns>"),
	           "streamed from the COPY above, no file; BEGIN ... COMMIT per part, then a "
	           "line in the copy ledger");
	step(d, "indexes", false);
	buf_reset(&cmd);
	add_argv(&cmd, pg_dump_post_argv, NULL);
	buf_adds(&cmd, " -f <private file> -d ");
	add_argv(&cmd, (const char *const[]){ NULL }, ci_old);
	line(d, "local", cmd.data, NULL);
	line(d, "new", pg_sql_post_data_present,
	     "what exists already is left out of pg_restore's list");
	buf_reset(&cmd);
	buf_addf(&cmd, "pg_restore --exit-on-error -j %d -L <list> <private file> -d ", jobs);
	add_argv(&cmd, (const char *const[]){ NULL }, ci_new);
	line(d, "local", cmd.data, "environment PGOPTIONS='%s'", pg_post_data_options);
	step(d, "subscribe", false);
	sub_create(d, "new", "ferry_sub", c->old_from_new ? c->old_from_new : c->old_conninfo,
	           c->old_password, "ferry_pub", opts);
	free(opts);
	buf_release(&cmd);
	free(ci_old);
	free(ci_new);
}

int pg_describe_replicate(const struct db_config *cfg, struct buf *out, struct ferry_error *err)
{
	struct desc d;
	struct buf cmd;
	char *ci_old, *ci_new;

	desc_init(&d, cfg, DB_FORWARD, err);
	step(&d, "open", false);
	describe_open(&d);
	/* pg_replicate_start() */
	step(&d, "subscribe", false);
	line(&d, "new", pg_sql_sub_exists,
	     "$1 = 'ferry_sub'; if it exists, replication runs: "
	     "nothing below is done");
	if (cfg->copy_method == DB_COPY_PARALLEL) {
		describe_parallel(&d);
		return desc_finish(&d, out);
	}
	step(&d, "schema_copy", false);
	line(&d, "new", pg_sql_count_tables,
	     "the schema is copied when this is 0; else the schema diff must find new's schema "
	     "equal to old's");
	ci_old = pgsql_conninfo_scrub(cfg->old_conninfo);
	ci_new = pgsql_conninfo_scrub(cfg->new_conninfo);
	buf_init(&cmd, 1 << 20);
	add_argv(&cmd, pg_dump_argv, ci_old);
	buf_adds(&cmd, " | ");
	add_argv(&cmd, pg_psql_argv, ci_new);
	line(&d, "local", cmd.data, "environment PGAPPNAME=ferry%s%s",
	     cfg->old_password ? ", PGPASSFILE of old for pg_dump" : "",
	     cfg->new_password ? ", PGPASSFILE of new for psql" : "");
	buf_release(&cmd);
	free(ci_old);
	free(ci_new);
	step(&d, "publish", false);
	line(&d, "old", pg_sql_pub_exists, "$1 = 'ferry_pub'");
	line(&d, "old", pg_sql_is_superuser, NULL);
	line_built(&d, "old", pg_sql_pub_create("ferry_pub"), "if missing, for a superuser");
	{
		const char *t[1] = { "<each table>" };
		line(&d, "old", pg_sql_copy_tables, "if missing, without SUPERUSER");
		line_built(&d, "old", pg_sql_pub_tables("ferry_pub", "CREATE", t, 1),
		           "if missing, without SUPERUSER (FOR ALL TABLES needs it)");
	}
	step(&d, "subscribe", false);
	{
		char *opts = pg_sub_opts_forward(d.p.slot_fwd);
		sub_create(&d, "new", "ferry_sub",
		           cfg->old_from_new ? cfg->old_from_new : cfg->old_conninfo,
		           cfg->old_password, "ferry_pub", opts);
		free(opts);
	}
	return desc_finish(&d, out);
}

int pg_describe_teardown(const struct db_config *cfg, struct buf *out, struct ferry_error *err)
{
	const struct pg_teardown_item *t;
	struct desc d;

	desc_init(&d, cfg, DB_FORWARD, err);
	step(&d, "open", false);
	describe_open(&d);
	step(&d, "drop", false);
	for (t = pg_teardown_order; !t->last; t++) {
		const char *side = t->on_new ? "new" : "old";
		const char *name = pg_teardown_name(&d.p, t);
		switch (t->kind) {
		case PG_OBJ_SUB:
			sub_drop_local(&d, side, name);
			if (t->on_new ? cfg->new_password : cfg->old_password) {
				char *path = pg_sub_passfile_path("<data_directory>", name);
				char *rm = xasprintf("rm -f %s", path);
				line(&d, side, pg_sql_data_directory, NULL);
				line(&d, side, rm,
				     "on that server's host, through its exec prefix");
				free(rm);
				free(path);
			}
			break;
		case PG_OBJ_SLOT: slot_drop(&d, side, name); break;
		case PG_OBJ_PUB: line_built(&d, side, pg_sql_pub_drop(name), NULL); break;
		}
	}
	return desc_finish(&d, out);
}

/* One step of the switch (postgresql_switch.c), as the orchestrator runs
 * it: the same statements in the same order.  Lines are "TARGET: TEXT";
 * the orchestrator prefixes the step and the pause mark. */
int pg_describe_step(const struct db_config *cfg, enum db_direction dir, const char *name,
                     struct buf *out, struct ferry_error *err)
{
	struct desc d;
	const struct pg_names *n;
	int64_t max_lag = cfg->max_lag_ms ? cfg->max_lag_ms : 1000;
	char *opts;

	desc_init(&d, cfg, dir, err);
	n = &d.n;
	step(&d, "", false);
	if (!strcmp(name, DB_SW_OPEN)) {
		describe_open(&d);
	} else if (!strcmp(name, DB_SW_PREFLIGHT)) {
		line(&d, n->to_side, pg_sql_sub_exists, "$1 = '%s'; must exist and be enabled",
		     n->cur_sub);
		line(&d, n->from_side, pg_sql_lag_slot,
		     "$1 = '%s', $2 = where the apply errors counted so far are past; the slot "
		     "must be in use (its worker connected; polled up to 5 s)",
		     n->cur_slot);
		line(&d, n->to_side, pg_sql_lag_sub,
		     "$1 = '%s'; lag must be under %lld ms (polled up to 5 s)", n->cur_sub,
		     (long long)max_lag);
		line(&d, n->to_side, pg_sql_lag_errors,
		     "$1 = '%s'; PostgreSQL >= 15; every error counts until the "
		     "stream applies past the position read with it (polled up to 5 s)",
		     n->cur_sub);
		line(&d, n->to_side, pg_sql_setting, "$1 = 'wal_level'; must be logical");
		line(&d, n->from_side, pg_sql_sessions_who,
		     "logged: the sessions the fence will end");
	} else if (!strcmp(name, DB_SW_PREPARE)) {
		line(&d, "old", pg_sql_current_db,
		     "if not read before: once per run, for the fence");
		line(&d, "new", pg_sql_current_db,
		     "if not read before: once per run, for the fence");
		line(&d, "old", "connect (a spare for the pause)", NULL);
		line(&d, "new", "connect (a spare for the pause)", NULL);
		for (int s = 0; s < 2; s++) {
			const char *side = s ? "new" : "old";
			line(&d, side, "DO $ferry$ BEGIN END $ferry$",
			     "on both connections: PL/pgSQL loaded before the pause");
			line(&d, side, pg_sql_fence_wait,
			     "$1 = '-infinity'; on both: its catalogs cached before the pause");
			line(&d, side, pg_sql_sequences, "on both: the same");
		}
		pub_ensure(&d, n->to_side, n->new_pub);
		line(&d, n->from_side, "connect (the fence's connection)",
		     "if not open: kept for the fence's DO");
		line(&d, n->from_side, pg_sql_fence_conn,
		     "on the fence's connection, then the warm-up statements above; if just "
		     "opened");
		line(&d, n->from_side, pg_sql_fence_fits,
		     "one lock per table for the fence's DO; over a quarter of the lock table, "
		     "the fence ends every session inside the pause; if not ready before");
		line(&d, n->from_side, pg_sql_fence_lock,
		     "held by the main connection until after RESUME; taken elsewhere, the fence "
		     "ends every session inside the pause; if not ready before");
		line(&d, n->from_side, pg_sql_sub_exists,
		     "$1 = '%s'; if missing, a stale slot is dropped:", n->new_sub);
		slot_drop(&d, n->to_side, n->new_slot);
		line(&d, n->to_side, "connect",
		     "its database's relation cache init file written again, which the "
		     "poolers' first connections after RESUME read; left open until the "
		     "reverse stream starts; a failure is logged");
	} else if (!strcmp(name, DB_SW_FENCE)) {
		char *db = ci_dbname(side_conninfo(&d, n->from_side));
		line_built(&d, n->from_side, pg_sql_fence_stage(db),
		           "one round trip: the sessions shown before the ALTER (they stay "
		           "writable), the ALTER committed, the sessions still starting ended");
		line_built(&d, n->from_side,
		           pg_sql_fence_do("<the time above>", "{<main pid>,<spare pid>}"),
		           "on the fence's connection, sent without waiting: its notice "
		           "ferry-fence-pos gives the fence position once every table is locked; "
		           "the rest runs after RESUME");
		line_built(&d, n->from_side, pg_sql_fence_end(db, true, "{<spare pid>}"),
		           "instead of the two above when the fence is not staged (a recovery, too "
		           "many tables): every session ended inside the pause but ferry's spare "
		           "connection; only if not staged");
		line(&d, n->from_side, pg_sql_fence_wait,
		     "$1 = the answer above; every millisecond until the first column is "
		     "set: the fence position; only if not staged");
		free(db);
	} else if (!strcmp(name, DB_SW_POSITION)) {
		line(&d, n->from_side, pg_sql_wal_lsn,
		     "only if the fence did not read it (a recovery)");
	} else if (!strcmp(name, DB_SW_WAIT_APPLIED)) {
		line(&d, n->from_side, pg_sql_wait_applied,
		     "$1 = the fence position, $2 = '%s'; every millisecond until the first is "
		     "true",
		     n->cur_slot);
		line(&d, n->from_side, pg_sql_wal_flush,
		     "a commit that flushes the WAL up to the fence position, once; only if "
		     "the second is false");
	} else if (!strcmp(name, DB_SW_FINALIZE)) {
		struct buf sql;
		char *lit = pgsql_quote_literal("<schema>.<sequence>");
		line(&d, n->from_side, pg_sql_sequences, NULL);
		buf_init(&sql, 1 << 16);
		pg_sql_setval_add(&sql, true, lit, "<last_value>");
		buf_adds(&sql, ", ...");
		line(&d, n->to_side, sql.data,
		     "for each sequence above, never moved backwards; %d per statement",
		     PG_SETVAL_BATCH);
		buf_release(&sql);
		free(lit);
	} else if (!strcmp(name, DB_SW_STOP_FORWARD)) {
		line_built(&d, n->to_side, pg_sql_sub_alter(n->cur_sub, "DISABLE"), NULL);
	} else if (!strcmp(name, DB_SW_PREPARE_REVERSE)) {
		line(&d, n->to_side, pg_sql_create_slot, "$1 = '%s'", n->new_slot);
	} else if (!strcmp(name, DB_SW_FENCE_HOLDS)) {
		line(&d, n->from_side, "<nothing sent: what has arrived on the fence's connection>",
		     "its DO must still run, or have completed: one that someone else ended lets "
		     "its locks go, and the switch is undone; if the fence was staged");
	} else if (!strcmp(name, DB_SW_UNFENCE_TARGET)) {
		char *db = ci_dbname(side_conninfo(&d, n->to_side));
		line_built(&d, n->to_side,
		           pg_sql_fence_end(db, false, "{<spare pid>,<relation cache pid>}"),
		           "only if it is fenced; sessions begun under the fence keep its default: "
		           "ended, but ferry's (its spare connection; prepare's connection, which "
		           "wrote the relation cache init file)");
		free(db);
	} else if (!strcmp(name, DB_SW_START_REVERSE)) {
		line(&d, n->from_side, pg_sql_fence_unlock,
		     "the fence's DO goes on: it ends the sessions begun before the fence, and "
		     "its end is waited for (it says how many); if the fence was staged");
		line(&d, n->from_side, pg_sql_sub_exists, "$1 = '%s'; created only if missing",
		     n->new_sub);
		opts = pg_sub_opts_on_slot(n->new_slot);
		sub_create(&d, n->from_side, n->new_sub, n->to_from_from, n->to_password,
		           n->new_pub, opts);
		free(opts);
		line_built(&d, n->from_side, pg_sql_sub_comment(n->new_sub, "<slot start LSN>"),
		           "where the reverse stream starts");
		if (dir == DB_REVERSE) {
			line(&d, n->to_side, pg_sql_carried_start,
			     "$1 = '%s'; counts what was carried back", n->cur_sub);
			line(&d, n->from_side, pg_sql_lsn_diff,
			     "$1 = the fence position, $2 = the start");
			line(&d, n->from_side, pg_sql_carried_txns, "$3 = '%s'", n->cur_slot);
		}
	} else if (!strcmp(name, DB_SW_DROP_FORWARD)) {
		sub_drop_local(&d, n->to_side, n->cur_sub);
		slot_drop(&d, n->from_side, n->cur_slot);
		line_built(&d, n->from_side, pg_sql_pub_drop(n->cur_pub), NULL);
	} else if (!strcmp(name, DB_SW_UNDO_FENCE_TARGET)) {
		fence_set(&d, n->to_side, true);
	} else if (!strcmp(name, DB_SW_UNDO_DROP_REVERSE)) {
		slot_drop(&d, n->to_side, n->new_slot);
	} else if (!strcmp(name, DB_SW_UNDO_RESTART_FORWARD)) {
		line_built(&d, n->to_side, pg_sql_sub_alter(n->cur_sub, "ENABLE"), NULL);
	} else if (!strcmp(name, DB_SW_UNDO_UNFENCE)) {
		char *db = ci_dbname(side_conninfo(&d, n->from_side));
		line(&d, n->from_side, pg_sql_fence_cancel,
		     "$1 = the fence's DO, whose error is waited for: no idle session was ended; "
		     "if the fence was staged");
		line_built(&d, n->from_side,
		           pg_sql_fence_end(db, false, "{<spare pid>,<sessions before>}"),
		           "sessions begun under the fence keep its default: ended, but ferry's "
		           "spare connection and those shown before a staged fence");
		free(db);
	} else {
		buf_release(&d.o);
		return ferry_error_set(err, FERRY_EINVAL, NULL, "database %s: no switch step %s",
		                       cfg->name, name);
	}
	return desc_finish(&d, out);
}
