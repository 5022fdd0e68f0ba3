/*
 * postgresql_int.h - what the PostgreSQL engine's files share.
 *
 * postgresql.c holds open/close, replication, lag, verification and
 * teardown; postgresql_check.c the readiness checks; postgresql_schema.c
 * the schema drift check; postgresql_switch.c
 * the switch and its recovery; postgresql_sql.c the statement texts all of
 * them send; postgresql_describe.c the dry run, which prints those same
 * texts without a connection.  Both work
 * on a struct pg and name ferry's objects through struct pg_names, which
 * makes the rollback the cutover with the names swapped.
 *
 * Object names (fixed, so that recovery can find them without a journal):
 *	forward:  publication ferry_pub on old, slot ferry_sub_DB on old,
 *	          subscription ferry_sub on new
 *	reverse:  publication ferry_rev_pub on new, slot ferry_rev_DB on new,
 *	          subscription ferry_rev_sub on old
 * Publications and subscriptions belong to a database; slots to the whole
 * server, so theirs carry DB, the plan's name of the database (lower case,
 * other characters '_'): two databases of one server move side by side.
 */
#ifndef FERRY_DB_POSTGRESQL_INT_H
#define FERRY_DB_POSTGRESQL_INT_H

#include "db/db.h"
#include "db/pgsql.h"

/* The staged fence of one side (postgresql_switch.c: pg_fence_arm...):
 * the fence connection, and where its DO is. */
struct pg_fence_stage {
	struct pgsql_conn *fence; /* the fence connection (owned) */
	int main_pid;             /* the main connection that holds the lock, 0: none */
	bool running;             /* the DO was sent and has not been collected */
	int pid;                  /* the fence connection's backend, while running */
	char *before;             /* "{pids}": the sessions shown before the ALTER */
	int64_t ended;            /* sessions the DO ended (its last notice) */
};

struct pg {
	const struct db_config *cfg;
	char slot_fwd[64], slot_rev[64]; /* pg_slot_names() */
	struct pgsql_conn *old, *new;
	/* Spares for the write pause, opened by the switch's prepare step: a
	 * step after a hard deadline closed the main connection uses them
	 * (postgresql_switch.c: conn_pause). */
	struct pgsql_conn *old_spare, *new_spare;
	/* prepare's connection to the target (warm_side), left open until
	 * the reverse stream starts (pg_init_file_warm) */
	struct pgsql_conn *warm;
	enum db_side warm_side;
	char *dbname[2];                 /* current_database() of each side, read once */
	char slot_lsn[64];               /* where the reverse slot of this switch starts */
	char *fence_pos[2];              /* the position the last fence of a side read */
	int fence_pid[2];                /* the backend that last sent a side's fence */
	struct pg_fence_stage *stage[2]; /* the staged fence of a side (prepare) */
	/* Each stream's apply errors (0 forward, 1 reverse): the count that
	 * the stream has applied past, the count last seen above it, and the
	 * source's position when it was seen (postgresql.c: stream_errors). */
	int64_t err_past[2], err_seen[2];
	char err_pos[2][32];
};

/* The names for a switch in direction dir: "from" is the writer being
 * fenced, "to" the one becoming the writer. */
struct pg_names {
	struct pgsql_conn *from, *to; /* the main connections */
	enum db_side from_id, to_id;
	const char *from_side, *to_side; /* "old", "new" */
	const char *cur_pub;             /* on from, consumed by cur_sub */
	const char *cur_slot;            /* on from */
	const char *cur_sub;             /* on to */
	const char *new_pub;             /* on to */
	const char *new_slot;            /* on to */
	const char *new_sub;             /* on from, created after the resume */
	const char *to_from_from;        /* conninfo for new_sub (how from reaches to) */
	const char *to_password;
};

void pg_names_get(struct pg *p, enum db_direction dir, struct pg_names *n);
/* The slots of database cfg->name: "ferry_sub_main", "ferry_rev_main". */
void pg_slot_names(const struct db_config *cfg, char fwd[64], char rev[64]);

/* Closes *c and opens it again to conninfo, so that the relation cache's
 * init file of its database is written again (postgresql_switch.c). */
int pg_init_file_warm(struct pgsql_conn **c, const char *conninfo, const char *password,
                      const char *what, struct ferry_error *err);
/* A deadline `ms` from now. */
int64_t pg_deadline(int64_t ms);
#define PG_TIMEOUT_MS 30000
/* how long the preflight gives a stream to apply past the apply errors
 * counted before (postgresql.c: stream_errors) */
#define PG_ERR_PROOF_MS 5000

/* Does a subscription / slot / publication exist (on conn's database)?
 * Return 1, 0, or a negative error. */
int pg_sub_exists(struct pgsql_conn *c, const char *name, bool *enabled, char **slot,
                  struct ferry_error *err);
int pg_slot_exists(struct pgsql_conn *c, const char *name, bool *active, struct ferry_error *err);
int pg_pub_exists(struct pgsql_conn *c, const char *name, struct ferry_error *err);

/* CREATE PUBLICATION name FOR ALL TABLES if missing. */
int pg_pub_ensure(struct pgsql_conn *c, const char *name, struct ferry_error *err);
/* Drops the subscription without touching its remote slot (disable, slot
 * NONE, drop), if it exists. */
int pg_sub_drop_local(struct pgsql_conn *c, const char *name, struct ferry_error *err);
/* Drops the slot (waiting up to timeout for it to become inactive) and
 * the publication, if they exist. */
int pg_slot_drop(struct pgsql_conn *c, const char *name, int64_t deadline_ms,
                 struct ferry_error *err);
int pg_pub_drop(struct pgsql_conn *c, const char *name, struct ferry_error *err);
/* CREATE SUBSCRIPTION name CONNECTION conninfo PUBLICATION pub WITH
 * (...opts).  A password is written to a file on the subscriber's host
 * (c's side, through its exec prefix: <data_directory>/NAME.pgpass,
 * 0600, the server's user) that CONNECTION names with passfile=: the
 * statement never holds it.  When the file cannot be written (no shell or
 * no data directory there: a managed service) the password goes into
 * CONNECTION instead, with a warning.  c must be one of a struct pg's
 * connections (pgsql_data). */
int pg_sub_create(struct pgsql_conn *c, const char *name, const char *conninfo,
                  const char *password, const char *pub, const char *opts, struct ferry_error *err);
/* Removes that file (if it exists). */
int pg_sub_passfile_remove(struct pgsql_conn *c, const char *sub, struct ferry_error *err);
char *pg_sub_passfile_path(const char *datadir, const char *sub);

/* Is default_transaction_read_only set for conn's database (the fence)? */
int pg_fence_get(struct pgsql_conn *c, bool *on, struct ferry_error *err);
/* Sets or removes the fence on database dbname (NULL: asks the server for
 * its current database first). */
/* *dbname, or when NULL the connection's current database (then in
 * *owned, which the caller frees). */
int pg_dbname(struct pgsql_conn *c, const char **dbname, char **owned, int64_t deadline_ms,
              struct ferry_error *err);
int pg_fence_set(struct pgsql_conn *c, const char *dbname, bool on, int64_t deadline_ms,
                 struct ferry_error *err);
/* The switch's steps on bare connections (postgresql_switch.c; the
 * bench's floor, bench/pg-cutover, runs the same ones):
 * pg_fence_on: the fence on dbname over c and every other client session
 * but keep (a pid array literal, NULL for none) signalled, in one round
 * trip; then the wait,
 * until none of them can commit any more, and *pos (may be NULL) the insert
 * position after that (what names the side in errors).  pg_unfence_on: the
 * fence removed and the sessions begun under it ended but keep, one round
 * trip.
 * pg_warm: the pause's statements that only read, run once on c before
 * it (PL/pgSQL loaded, the catalogs they read cached: a fresh backend's
 * first DO block took ~25 ms here).
 * pg_applied_wait: until slot (on from) confirms pos.  pg_sequences_copy:
 * every sequence of from set on to (never backwards). */
int pg_fence_on(struct pgsql_conn *c, const char *dbname, const char *keep, const char *what,
                int64_t deadline, char **pos, struct ferry_error *err);
int pg_unfence_on(struct pgsql_conn *c, const char *dbname, const char *keep, int64_t deadline,
                  struct ferry_error *err);
/* The staged fence: what the pause pays does not grow with the sessions.
 * pg_fence_arm (before the pause): st's fence connection opened on
 * conninfo (kept open, its timeouts off) and main given the advisory
 * lock; returns 0, 1 when the staged fence cannot be used (too many
 * tables for the server's lock table, or the lock is taken: err says
 * why, the caller uses pg_fence_on), or an error.  pg_fence_armed: st is
 * ready on main.  pg_fence_stage_on (in the pause): the ALTER committed
 * over c (main) and the DO sent on the fence connection (keep: a pid
 * array literal, ferry's sessions); returns once the DO holds every
 * table IN SHARE MODE, *pos its insert position.  pg_fence_release
 * (after RESUME): main lets the lock go and the DO's end is waited for
 * (it ends the sessions begun before the ALTER; st->ended); at the
 * deadline FERRY_ETIMEDOUT, the DO still running (not cancelled: its
 * table locks hold; the next call waits again).
 * pg_fence_cancel: the DO cancelled (from c) and its end waited for, or
 * its backend ended when its connection was lost; nothing it did but
 * the end of the sessions with a write in flight remains.
 * pg_fence_stage_free: st's connection closed (a DO still waiting
 * completes when main closes) and st freed; NULL-safe. */
int pg_fence_arm(struct pgsql_conn *main, struct pg_fence_stage **st, const char *conninfo,
                 const char *password, const char *what, int64_t deadline, struct ferry_error *err);
bool pg_fence_armed(const struct pgsql_conn *main, const struct pg_fence_stage *st);
int pg_fence_stage_on(struct pgsql_conn *c, struct pg_fence_stage *st, const char *dbname,
                      const char *keep, const char *what, int64_t deadline, char **pos,
                      struct ferry_error *err);
int pg_fence_release(struct pgsql_conn *main, struct pg_fence_stage *st, int64_t deadline,
                     struct ferry_error *err);
int pg_fence_cancel(struct pgsql_conn *c, struct pg_fence_stage *st, int64_t deadline,
                    struct ferry_error *err);
void pg_fence_stage_free(struct pg_fence_stage *st);
int pg_warm(struct pgsql_conn *c, int64_t deadline, struct ferry_error *err);
int pg_applied_wait(struct pgsql_conn *from, const char *slot, const char *pos, const char *what,
                    int64_t deadline, struct ferry_error *err);
int pg_sequences_copy(struct pgsql_conn *from, struct pgsql_conn *to, int64_t deadline,
                      int64_t *count, struct ferry_error *err);
/* (Re)connects side's main connection if it is closed (outside a pause). */
int pg_reconnect(struct pg *p, enum db_side side, struct ferry_error *err);

/* current_setting(setting) (malloc'd), NULL on error. */
char *pg_show(struct pgsql_conn *c, const char *setting, struct ferry_error *err);
/* The integer a one-value query returns, -1 on error. */
int64_t pg_count(struct pgsql_conn *c, const char *sql, struct ferry_error *err);

int pg_check(void *h, struct db_checks *out, struct ferry_error *err);
/* postgresql_schema.c: the schema fingerprints and their differences. */
int pg_schema_diff(void *h, struct db_schema_diff *out, struct ferry_error *err);
/* A retry's question: was the schema copied already?  Decided from the
 * schema diff, not from "a table exists": 0 when new has no table (copy
 * it), 1 when new's schema is old's (with pre_data_only, indexes,
 * constraints and triggers may still be missing: the parallel copy adds
 * them after the data), FERRY_ESTATE naming the first difference
 * otherwise (something else is in the new database). */
int pg_schema_copied(struct pg *p, bool pre_data_only, struct ferry_error *err);

/* postgresql_sql.c: the statement texts (see there).  Builders return a
 * malloc'd string; pg_sql_sub_create()'s result holds whatever conninfo
 * it was given (a password too): the caller wipes it (xfree_secret). */
struct buf;
extern const char pg_sql_session_rw[], pg_sql_sub_exists[], pg_sql_slot_exists[],
        pg_sql_pub_exists[], pg_sql_slot_drop[], pg_sql_current_db[], pg_sql_fence_get[],
        pg_sql_setting[], pg_sql_lag_slot[], pg_sql_lag_sub[], pg_sql_lag_errors[],
        pg_sql_sessions_who[], pg_sql_terminate[], pg_sql_terminate_starting[],
        pg_sql_sessions_left[], pg_sql_wal_lsn[], pg_sql_wait_applied[], pg_sql_wal_flush[],
        pg_sql_sequences[], pg_sql_create_slot[], pg_sql_count_tables[], pg_sql_carried_start[],
        pg_sql_lsn_diff[], pg_sql_carried_txns[], pg_sql_slot_state[], pg_sql_pending_changes[],
        pg_sql_slot_start[];
extern const char pg_sql_slot_wal[], pg_post_data_options[], pg_sql_data_directory[],
        pg_sql_large_objects_named[], pg_sql_is_superuser[], pg_sql_fence_wait[],
        pg_sql_sessions_fenced[], pg_sql_backend_end[], pg_sql_fence_lock[], pg_sql_fence_unlock[],
        pg_sql_fence_cancel[], pg_sql_fence_conn[], pg_sql_fence_fits[];
extern const char pg_sql_slot_confirmed[], pg_sql_copy_tables[], pg_sql_copy_snapshot_begin[],
        pg_sql_post_data_present[];
/* CREATE_REPLICATION_SLOT slot ... EXPORT_SNAPSHOT */
char *pg_sql_copy_slot(const char *slot);
char *pg_sql_snapshot_set(const char *snapshot);
/* COPY of table's cols out (blocks [lo, hi), hi < 0 open; lo < 0 the whole
 * table) and in */
char *pg_sql_copy_out(const char *table, const char *cols, int64_t lo, int64_t hi);
char *pg_sql_copy_in(const char *table, const char *cols);
/* verb "CREATE", "SET", "ADD"; tables quoted */
char *pg_sql_pub_tables(const char *pub, const char *verb, const char *const *tables, size_t n);
char *pg_sql_truncate(const char *const *tables, size_t n);
extern const char *const pg_dump_argv[]; /* NULL-terminated; "-d CONNINFO" follows */
extern const char *const pg_dump_pre_argv[], *const pg_dump_post_argv[]; /* no "-d" */
extern const char *const pg_psql_argv[];
char *pg_sql_pub_create(const char *pub);
char *pg_sql_pub_drop(const char *pub);
char *pg_sql_sub_drop(const char *sub);
/* ALTER SUBSCRIPTION sub WHAT ("DISABLE", "ENABLE", "SET (slot_name = NONE)") */
char *pg_sql_sub_alter(const char *sub, const char *what);
char *pg_sql_sub_create(const char *sub, const char *conninfo, const char *pub, const char *opts);
char *pg_sub_opts_on_slot(const char *slot);
char *pg_sub_opts_forward(const char *slot);
char *pg_sql_sub_comment(const char *sub, const char *start_lsn);
/* The fence (on) or its removal on database dbname (quoted here). */
char *pg_sql_fence(const char *dbname, bool on);
char *pg_sql_fence_end(const char *dbname, bool on, const char *keep);
/* the staged fence's ALTER (answers the time and the sessions before it)
 * and its DO (postgresql_sql.c) */
char *pg_sql_fence_stage(const char *dbname);
char *pg_sql_fence_do(const char *ts, const char *keep);
/* Appends one sequence to a batched SELECT setval(...), ... statement. */
void pg_sql_setval_add(struct buf *sql, bool first, const char *name_lit, const char *value);
/* What teardown drops, in order: subscriptions first (they hold the
 * slots through their walsenders), then slots, then publications. */
enum pg_obj_kind {
	PG_OBJ_SUB,
	PG_OBJ_SLOT,
	PG_OBJ_PUB,
};
struct pg_teardown_item {
	enum pg_obj_kind kind;
	bool on_new;      /* on the new server, else the old one */
	const char *name; /* a slot's: NULL, then pg_teardown_name() */
	bool last;
};
extern const struct pg_teardown_item pg_teardown_order[]; /* ends with last */
/* The object's name (a slot's from p's names). */
const char *pg_teardown_name(const struct pg *p, const struct pg_teardown_item *t);

/* The setvals of one round trip (a select list holds at most 1664). */
#define PG_SETVAL_BATCH 1000

/* postgresql_dump.c: the client programs as children (passwords through
 * PGPASSFILE only).  pg_dump_pipe() runs dump_argv on old piped into
 * psql_argv on new; pg_run_client() runs argv against new (on_new) or
 * old and, when out is given, appends its stdout there; pgoptions (may
 * be NULL) becomes the child's PGOPTIONS.  An argv whose
 * last element is "-d" gets the side's conninfo after it.  Return 0,
 * FERRY_EIO (cannot run), FERRY_EREFUSED (the program failed: its stderr's
 * head in the message). */
int pg_dump_pipe(struct pg *p, const char *const *dump_argv, const char *const *psql_argv,
                 struct ferry_error *err);
int pg_run_client(struct pg *p, bool on_new, const char *const *argv, const char *pgoptions,
                  struct buf *out, struct ferry_error *err);

/* postgresql_copy.c: the parallel initial copy (replicate_start when
 * cfg->copy_method is DB_COPY_PARALLEL), and its progress for
 * eng->progress() while it runs. */
int pg_copy_replicate(struct pg *p, struct ferry_error *err);

/* postgresql_describe.c: the dry run (db.h) */
int pg_describe_replicate(const struct db_config *cfg, struct buf *out, struct ferry_error *err);
int pg_describe_step(const struct db_config *cfg, enum db_direction dir, const char *step,
                     struct buf *out, struct ferry_error *err);
int pg_describe_teardown(const struct db_config *cfg, struct buf *out, struct ferry_error *err);

/* postgresql_switch.c: the switch's steps (db.h, struct db_switch_ops) */
extern const struct db_switch_ops pg_switch_ops;
int pg_target(const struct db_config *cfg, enum db_side side, char **host, int *port, char **dbname,
              struct ferry_error *err);

#endif
