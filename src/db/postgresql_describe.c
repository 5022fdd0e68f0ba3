/*
 * postgresql_describe.c - the dry run of the PostgreSQL engine (DESIGN §5):
 * what replicate_start, switch_run and teardown would send, in order,
 * without a connection (db.h: describe_*).
 *
 * Each function here walks the same steps as its real counterpart, in the
 * same order, and prints the statement texts that postgresql_sql.c builds
 * for both; the pooler lines come from pgbouncer_describe(), which uses the
 * builders of the pooler switch itself; object names come from
 * pg_names_get(), as in the switch.  What depends on the world (a
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
#include "switch/pgbouncer.h"
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

	buf_addf(&d->o, "%s%s %s: %s", d->step, d->pause ? " [pause]" : "", target, text);
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

	buf_addf(&d->o, "%s%s %s: %s", d->step, d->pause ? " [pause]" : "", target, sql);
	free(sql);
	if (note) {
		buf_adds(&d->o, "  -- ");
		va_start(ap, note);
		buf_vaddf(&d->o, note, ap);
		va_end(ap);
	}
	buf_addch(&d->o, '\n');
}

/* The same action on every pooler, through pgbouncer_describe(). */
static void poolers(struct desc *d, enum pgbouncer_action act, const char *connstr)
{
	const struct db_config *c = d->p.cfg;
	struct pgbouncer_config pc;
	char *prefix;
	size_t i;

	if (d->rc < 0)
		return;
	prefix = xasprintf("%s%s", d->step, d->pause ? " [pause]" : "");
	for (i = 0; i < c->npoolers && d->rc == 0; i++) {
		pg_pooler_config(c, i, &pc);
		d->rc = pgbouncer_describe(&pc, act, connstr, prefix, &d->o, d->err);
		if (d->rc < 0)
			ferry_error_prefix(d->err, "database %s", c->name);
	}
	free(prefix);
}

/* A conninfo as it may be printed: without any password. */
static char *ci_print(const char *conninfo)
{
	char *s = pgsql_conninfo_set(conninfo, "password", NULL);

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

	step(d, "open", false);
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

/* pg_fence_set(); note (may be NULL) applies to both statements */
static void fence_set(struct desc *d, const char *side, bool on, const char *note)
{
	char *db = ci_dbname(side_conninfo(d, side));

	if (note) {
		line(d, side, pg_sql_current_db, "%s", note);
		line_built(d, side, pg_sql_fence(db, on), "%s", note);
	} else {
		line(d, side, pg_sql_current_db, NULL);
		line_built(d, side, pg_sql_fence(db, on), NULL);
	}
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
	struct buf cmd;

	buf_init(&cmd, 1 << 20);
	step(d, "slot", false);
	line(d, "old", pg_sql_slot_confirmed,
	     "$1 = 'ferry_sub'; a slot left by a crashed copy resumes it when the copy ledger "
	     "names its position, else it is dropped and the copy starts over");
	step(d, "publish", false);
	line(d, "old", pg_sql_copy_tables, "the tables to copy");
	line(d, "old", pg_sql_pub_exists, "$1 = 'ferry_pub'");
	line_built(d, "old", pg_sql_pub_tables("ferry_pub", "CREATE", t, 1),
	           "ALTER PUBLICATION ... SET TABLE when it exists");
	step(d, "slot", false);
	line(d, "old", pg_sql_copy_slot,
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
	           c->old_password, "ferry_pub", pg_sub_opts_copied);
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
	sub_create(&d, "new", "ferry_sub",
	           cfg->old_from_new ? cfg->old_from_new : cfg->old_conninfo, cfg->old_password,
	           "ferry_pub", pg_sub_opts_forward);
	return desc_finish(&d, out);
}

int pg_describe_teardown(const struct db_config *cfg, struct buf *out, struct ferry_error *err)
{
	const struct pg_teardown_item *t;
	struct desc d;

	desc_init(&d, cfg, DB_FORWARD, err);
	describe_open(&d);
	step(&d, "drop", false);
	for (t = pg_teardown_order; t->name; t++) {
		const char *side = t->on_new ? "new" : "old";
		switch (t->kind) {
		case PG_OBJ_SUB:
			sub_drop_local(&d, side, t->name);
			if (t->on_new ? cfg->new_password : cfg->old_password) {
				char *path = pg_sub_passfile_path("<data_directory>", t->name);
				char *rm = xasprintf("rm -f %s", path);
				line(&d, side, pg_sql_data_directory, NULL);
				line(&d, side, rm,
				     "on that server's host, through its exec prefix");
				free(rm);
				free(path);
			}
			break;
		case PG_OBJ_SLOT: slot_drop(&d, side, t->name); break;
		case PG_OBJ_PUB: line_built(&d, side, pg_sql_pub_drop(t->name), NULL); break;
		}
	}
	return desc_finish(&d, out);
}

/* Mirrors pg_switch_run() step by step (postgresql_switch.c). */
int pg_describe_switch(const struct db_config *cfg, enum db_direction dir, struct buf *out,
                       struct ferry_error *err)
{
	struct desc d;
	const struct pg_names *n;
	int64_t budget = cfg->pause_budget_ms > 0 ? cfg->pause_budget_ms : 5000;
	int64_t max_lag = cfg->max_lag_ms ? cfg->max_lag_ms : 1000;
	char *opts;

	desc_init(&d, cfg, dir, err);
	n = &d.n;
	/* what preflight refuses without a side effect, refused here too */
	if (!cfg->dbalias || !n->to_pooler_connstr) {
		buf_release(&d.o);
		return ferry_error_set(err, FERRY_EINVAL, "set the pooler entries in the plan",
		                       "database %s: no pooler alias or connstr", cfg->name);
	}
	describe_open(&d);

	step(&d, "preflight", false);
	poolers(&d, PGBOUNCER_OPEN, NULL);
	poolers(&d, PGBOUNCER_SHOW, NULL);
	line(&d, n->to_side, pg_sql_sub_exists, "$1 = '%s'; must exist and be enabled", n->cur_sub);
	line(&d, n->from_side, pg_sql_lag_slot, "$1 = '%s'", n->cur_slot);
	line(&d, n->to_side, pg_sql_lag_sub, "$1 = '%s'; lag must be under %lld ms", n->cur_sub,
	     (long long)max_lag);
	line(&d, n->to_side, pg_sql_lag_errors, "$1 = '%s'; PostgreSQL >= 15; must be 0",
	     n->cur_sub);
	line(&d, n->to_side, pg_sql_setting, "$1 = 'wal_level'; must be logical");
	line(&d, n->from_side, pg_sql_sessions_who, "logged: the sessions the fence will end");
	line(&d, n->from_side, pg_sql_fence_get, "must be 0: not fenced yet");
	line(&d, n->to_side, pg_sql_fence_get, "if not 0, unfence_target removes that fence");

	step(&d, "prepare_reverse", false);
	pub_ensure(&d, n->to_side, n->new_pub);
	line(&d, n->from_side, pg_sql_sub_exists,
	     "$1 = '%s'; if missing, a stale slot is dropped:", n->new_sub);
	slot_drop(&d, n->to_side, n->new_slot);

	step(&d, "stage_poolers", false);
	poolers(&d, PGBOUNCER_STAGE, n->to_pooler_connstr);

	step(&d, "pause_poolers", true);
	line(&d, "ferry", "the write pause starts",
	     "budget %lld ms from here to RESUME, or all is undone", (long long)budget);
	poolers(&d, PGBOUNCER_PAUSE, NULL);

	step(&d, "fence_database", true);
	fence_set(&d, n->from_side, true, NULL);
	line(&d, n->from_side, pg_sql_terminate, "every millisecond, until the count below is 0");
	line(&d, n->from_side, pg_sql_sessions_left, "$1 = the first answer above");

	step(&d, "note_position", true);
	line(&d, n->from_side, pg_sql_wal_lsn, "the fence position");

	step(&d, "wait_applied", true);
	line(&d, n->from_side, pg_sql_wait_applied,
	     "$1 = the fence position, $2 = '%s'; every millisecond until true", n->cur_slot);

	step(&d, "copy_sequences", true);
	line(&d, n->from_side, pg_sql_sequences, NULL);
	{
		struct buf sql;
		char *lit = pgsql_quote_literal("<schema>.<sequence>");
		buf_init(&sql, 1 << 16);
		pg_sql_setval_add(&sql, true, lit, "<last_value>");
		buf_adds(&sql, ", ...");
		line(&d, n->to_side, sql.data, "for each sequence above, %d per statement",
		     PG_SETVAL_BATCH);
		buf_release(&sql);
		free(lit);
	}

	step(&d, "stop_forward", true);
	line_built(&d, n->to_side, pg_sql_sub_alter(n->cur_sub, "DISABLE"), NULL);

	step(&d, "create_reverse_slot", true);
	line(&d, n->to_side, pg_sql_create_slot, "$1 = '%s'", n->new_slot);

	step(&d, "unfence_target", true);
	fence_set(&d, n->to_side, false, "only if it was fenced (a rollback)");

	step(&d, "repoint_poolers", true);
	poolers(&d, PGBOUNCER_COMMIT, NULL);

	step(&d, "resume_poolers", true);
	poolers(&d, PGBOUNCER_RESUME, NULL);
	line(&d, "ferry", "the write pause ends", "%s is the writer", n->to_side);

	step(&d, "start_reverse", false);
	line(&d, n->from_side, pg_sql_sub_exists, "$1 = '%s'; created only if missing", n->new_sub);
	opts = pg_sub_opts_reverse(n->new_slot);
	sub_create(&d, n->from_side, n->new_sub, n->to_from_from, n->to_password, n->new_pub, opts);
	free(opts);
	line_built(&d, n->from_side, pg_sql_sub_comment(n->new_sub, "<slot start LSN>"),
	           "where the reverse stream starts");
	if (dir == DB_REVERSE) {
		line(&d, n->to_side, pg_sql_carried_start,
		     "$1 = '%s'; counts what was carried back", n->cur_sub);
		line(&d, n->from_side, pg_sql_lsn_diff, "$1 = the fence position, $2 = the start");
		line(&d, n->from_side, pg_sql_carried_txns, "$3 = '%s'", n->cur_slot);
	}

	step(&d, "drop_forward", false);
	sub_drop_local(&d, n->to_side, n->cur_sub);
	slot_drop(&d, n->from_side, n->cur_slot);
	line_built(&d, n->from_side, pg_sql_pub_drop(n->cur_pub), NULL);

	/* undo(): only when a step inside the pause fails or overruns */
	step(&d, "undo", true);
	line(&d, "ferry", "only if a step inside the pause fails or the budget runs out",
	     "then, newest first, each for what was done:");
	poolers(&d, PGBOUNCER_REVERT, NULL);
	fence_set(&d, n->to_side, true, "if unfence_target ran");
	slot_drop(&d, n->to_side, n->new_slot);
	line_built(&d, n->to_side, pg_sql_sub_alter(n->cur_sub, "ENABLE"), NULL);
	fence_set(&d, n->from_side, false, NULL);
	poolers(&d, PGBOUNCER_RESUME, NULL);
	return desc_finish(&d, out);
}
