/*
 * db.h - the database engine interface.
 *
 * The phase engine moves a database through the same stages whatever the
 * engine (PostgreSQL now; MariaDB with GTID replication and Redis later):
 *
 *	eng = db_engine_find("postgresql");
 *	eng->open(&cfg, &h, &err);              connects to both sides
 *	eng->check(h, &checks, &err);           readiness rows (ferry check)
 *	eng->replicate_start(h, &err);          schema copy + replication
 *	eng->progress(h, &prog, &err);          initial sync, per table
 *	eng->lag(h, DB_FORWARD, &lag, &err);    the soak, sampled every second
 *	eng->schema_diff(h, &diff, &err);       schema drift, every minute
 *	eng->verify(h, checksum, &ver, &err);   counts (+ checksums) compared
 *	eng->switch_run(h, DB_FORWARD, &hooks, &rep, &err);   the cutover
 *	eng->switch_run(h, DB_REVERSE, &hooks, &rep, &err);   a rollback
 *	eng->recover(h, dir, &rep, &err);       after a crash inside a switch
 *	eng->teardown(h, &err);                 decommission
 *	eng->close(h);
 *
 * A dry run needs no handle: eng->describe_switch(&cfg, dir, &buf, &err)
 * and its siblings append what the calls above would send.
 *
 * "old" and "new" are fixed by the plan (the old and the new server); a
 * direction says which way writes move: DB_FORWARD makes new the writer,
 * DB_REVERSE (a rollback) makes old the writer again.
 *
 * The switch (DESIGN §2 step 3) is a list of named steps (eng->switch_steps).
 * Before and after each step, switch_run() calls the optional hooks with the
 * step's name and the object it acts on, so that the journal can write an
 * intent row before and a done row after; a hook that returns < 0 stops the
 * switch before the step (a journal that cannot write must not let a side
 * effect happen unrecorded), and inside the pause that means an undo.  Each
 * step checks the world before acting, so recover() can finish or undo a
 * switch that died anywhere: it inspects the world (paused poolers, fence,
 * half-made slots and subscriptions), decides, and acts.
 *
 * Ownership: the config and the strings it points to are borrowed for the
 * handle's life (passwords included: the caller wipes them after close()).
 * Results (checks, progress, verify) own their strings; release them with
 * their _release function.
 */
#ifndef FERRY_DB_DB_H
#define FERRY_DB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct buf;

enum db_direction {
	DB_FORWARD, /* old -> new: the cutover */
	DB_REVERSE, /* new -> old: the rollback */
};

/* How replicate_start makes the first copy of the tables. */
enum db_copy_method {
	/* ferry copies (PostgreSQL: pgcopydb's approach): a slot with an
	 * exported snapshot; the tables without indexes and constraints; COPY
	 * streamed from old to new by copy_jobs workers under that snapshot,
	 * large tables split in block ranges; indexes and constraints built
	 * in parallel; then the subscription on that slot without a copy */
	DB_COPY_PARALLEL,
	/* the server's own table sync (PostgreSQL: CREATE SUBSCRIPTION with
	 * copy_data = true, into tables whose indexes already exist) */
	DB_COPY_BUILTIN,
};

struct db_progress;

/* One pooler host that serves the application (every one of them is fenced
 * and repointed). */
struct db_pooler {
	const char *name;           /* "pooler old" */
	const char *admin;          /* admin console conninfo */
	const char *admin_password; /* may be NULL */
	const char *const *exec;    /* host exec prefix (may be empty) */
	size_t nexec;
	const char *include_path; /* include file ferry owns on that host */
};

struct db_config {
	const char *name;         /* the plan's database name: "main" */
	const char *old_conninfo; /* ferry's conninfo to each side, no password */
	const char *new_conninfo;
	const char *old_password; /* may be NULL */
	const char *new_password;
	/* How each side reaches the other for replication (a subscription's
	 * CONNECTION); NULL: the conninfo above.  The password, if any, is
	 * written to a password file on the subscriber's host (old_exec,
	 * new_exec) that CONNECTION names with passfile=. */
	const char *old_from_new;
	const char *new_from_old;
	int64_t pause_budget_ms; /* 0: 5000 */
	const char *dbalias;     /* pooler [databases] entry the app uses */
	const char *pooler_old;  /* that entry's connstr for each side */
	const char *pooler_new;
	const struct db_pooler *poolers;
	size_t npoolers;
	int64_t max_lag_ms; /* preflight: 0 means 1000 */
	/* How to run commands on each database's host (an exec prefix, as
	 * hosts/shell.h takes it; n 0: this machine).  A subscription's
	 * password goes into a password file written there, in the server's
	 * data directory, never into SQL text. */
	const char *const *old_exec;
	size_t nold_exec;
	const char *const *new_exec;
	size_t nnew_exec;
	enum db_copy_method copy_method;
	int copy_jobs; /* parallel copy workers; 0: 2 */
	/* The parallel copy's ledger (a file ferry owns: the tables copied so
	 * far under the slot's snapshot), so that a copy interrupted by a
	 * crash resumes without copying finished tables again.  NULL: none, a
	 * restart copies everything again. */
	const char *copy_ledger;
	/* Called about twice a second from replicate_start while the parallel
	 * copy runs (NULL: not called); p is valid during the call only.  A
	 * nonzero return stops the copy: replicate_start then fails with
	 * FERRY_ECHECK, and what was copied stays for a resumption. */
	int (*copy_progress)(void *ctx, const struct db_progress *p);
	void *copy_progress_ctx;
};

enum db_check_status {
	DB_CHECK_OK,
	DB_CHECK_WARN,
	DB_CHECK_FAIL,
};

struct db_check {
	char *name; /* "wal_level" */
	enum db_check_status status;
	char *message;  /* what is wrong and how to fix it */
	char *prevents; /* the migration failure it prevents */
	/* the initial sync's estimated duration (the row that measured the
	 * copy rate: PostgreSQL's "size"), 0 elsewhere; the copy-time gate */
	int64_t estimate_ms;
};

struct db_checks {
	struct db_check *v;
	size_t n, alloc;
};

__attribute__((format(printf, 5, 6))) void db_checks_add(struct db_checks *c, const char *name,
                                                         enum db_check_status st,
                                                         const char *prevents, const char *fmt,
                                                         ...);
/* The first row named name, or NULL. */
const struct db_check *db_checks_find(const struct db_checks *c, const char *name);
/* The worst status of all rows. */
enum db_check_status db_checks_worst(const struct db_checks *c);
void db_checks_release(struct db_checks *c);
const char *db_check_status_name(enum db_check_status st);

struct db_table_progress {
	char *name;    /* schema.table */
	char state;    /* engine's code; PostgreSQL: srsubstate i d f s r, and
	                * for the parallel copy w (waiting), c (copying), k (copied) */
	bool ready;    /* copied and streaming (parallel copy: copied) */
	int64_t bytes; /* copied so far while copying, -1 unknown */
	/* the parallel copy fills these (else 0, -1 where unknown): */
	int64_t rows;       /* rows copied so far */
	int64_t rows_total; /* the planner's estimate, -1 unknown */
	int64_t rate;       /* bytes per second over the table's copy so far */
	int64_t eta_ms;     /* time left for this table, -1 unknown */
};

struct db_progress {
	struct db_table_progress *v;
	size_t n, alloc;
	size_t ready;
};
void db_progress_release(struct db_progress *p);

struct db_lag {
	int64_t bytes;        /* source WAL not yet confirmed by the target */
	int64_t ms;           /* age of the last confirmed position, 0 when caught up */
	int64_t apply_errors; /* apply + sync errors so far */
	bool worker_running;  /* an apply worker exists */
};

struct db_verify_table {
	char *name;
	int64_t rows_old, rows_new;
	char sum_old[33], sum_new[33]; /* "" unless checksums were asked */
	bool equal;
};

struct db_verify {
	struct db_verify_table *v;
	size_t n, alloc;
	bool equal; /* every table equal */
};
void db_verify_release(struct db_verify *v);

/* Schema drift (DESIGN §1 phase 2): DDL run on one side after the schema
 * copy, which logical replication does not carry.  Each side's schema is
 * a set of canonical lines, one per object ("column public.orders.note
 * text NOT NULL"); a row is an object missing on one side or defined
 * differently.  Warning rows (column order, extension version) are
 * reported but are not drift: replication maps columns by name, and an
 * extension's version may differ between hosts from the start. */
struct db_schema_diff_row {
	char *object;  /* "column public.orders.note", "index public.orders_note_idx" */
	char *old;     /* its definition on old, NULL when missing there */
	char *new;     /* its definition on new, NULL when missing there */
	char *message; /* what differs, the likely cause and what to do */
	bool warning;  /* not drift (see above) */
};

struct db_schema_diff {
	struct db_schema_diff_row *v; /* sorted by kind, then name */
	size_t n, alloc;
	size_t drift;                    /* rows that are not warnings: the gate wants 0 */
	size_t objects_old, objects_new; /* objects compared on each side */
	/* md5 (hex) of each side's canonical lines, warnings excluded: equal
	 * exactly when drift is 0 */
	char fingerprint_old[33], fingerprint_new[33];
};
void db_schema_diff_release(struct db_schema_diff *d);

/* The WAL a replication slot keeps on the writer (db_engine.slot_wal),
 * and what the WAL guard decides from it (db_wal_guard). */
struct db_slot_wal {
	int64_t retained;   /* bytes of WAL the slot holds back, -1 when no slot */
	int64_t keep_limit; /* the server's own cap (PostgreSQL:
	                     * max_slot_wal_keep_size), -1 none */
};

enum db_wal_verdict {
	DB_WAL_OK,
	DB_WAL_ALARM,   /* past the alarm: say so, go on */
	DB_WAL_DROPPED, /* past the hard limit: replication was torn down */
};

struct db_step_hooks {
	int (*before)(void *ctx, const char *step, const char *object);
	int (*after)(void *ctx, const char *step, const char *object);
	void *ctx;
};

struct db_switch_report {
	int64_t pause_ms;      /* fence to resume, as ferry measured it */
	char fence_pos[64];    /* the writer's position at the fence (LSN) */
	int64_t sequences;     /* sequence values copied */
	int64_t carried_txns;  /* DB_REVERSE: transactions carried back */
	int64_t carried_bytes; /* DB_REVERSE: WAL carried back */
	bool undone;           /* the switch was undone: old writer kept */
	bool completed;        /* recover(): the switch was finished */
	char last_step[48];    /* the last step started */
	char timings[512];     /* "pause_poolers=0.4ms fence_database=2.1ms ..." */
};

struct db_engine {
	const char *name;
	/* NULL-terminated names of the switch steps, in order. */
	const char *const *switch_steps;

	int (*open)(const struct db_config *cfg, void **h, struct ferry_error *err);
	void (*close)(void *h);
	/* Readiness: appends rows to out.  Returns 0 when the checks ran
	 * (whatever they found), an error when they could not run. */
	int (*check)(void *h, struct db_checks *out, struct ferry_error *err);
	/* Starts replication old -> new (schema, publication, subscription,
	 * initial copy in the background).  Idempotent. */
	int (*replicate_start)(void *h, struct ferry_error *err);
	int (*progress)(void *h, struct db_progress *out, struct ferry_error *err);
	/* Lag of the stream that carries dir's writes: DB_FORWARD old -> new
	 * (before a cutover), DB_REVERSE new -> old (after it). */
	int (*lag)(void *h, enum db_direction dir, struct db_lag *out, struct ferry_error *err);
	int (*verify)(void *h, bool checksum, struct db_verify *out, struct ferry_error *err);
	/* Compares the schemas of both sides (catalogs only: no table data,
	 * no sequence values, no owners or privileges).  Fills out (which the
	 * caller releases, also on error) and returns 0 whatever it found; an
	 * error only when the catalogs could not be read.  Read-only: one
	 * catalog query per side, both sides at once, in a read-only
	 * transaction; meant to run every minute (1000 tables: ~0.25 s). */
	int (*schema_diff)(void *h, struct db_schema_diff *out, struct ferry_error *err);
	/* The switch.  Returns 0 (done), FERRY_EBUDGET (the pause would have
	 * overrun: undone, writes go on to the old writer), FERRY_ECHECK
	 * (preflight refused: nothing changed), or another error (undone when
	 * rep->undone is set; else recover() must be run). */
	int (*switch_run)(void *h, enum db_direction dir, const struct db_step_hooks *hooks,
	                  struct db_switch_report *rep, struct ferry_error *err);
	/* After a crash during switch_run(h, dir): completes it when the new
	 * writer was already made safe, else undoes it.  Leaves no pooler
	 * paused.  rep->completed or rep->undone says which. */
	int (*recover)(void *h, enum db_direction dir, struct db_switch_report *rep,
	               struct ferry_error *err);
	/* Removes every slot, publication and subscription ferry made on
	 * either side.  Idempotent. */
	int (*teardown)(void *h, struct ferry_error *err);
	/* The WAL held back on the writer by the slot of dir's stream
	 * (DB_FORWARD: the slot on old, DB_REVERSE: the one on new); NULL when
	 * the engine has no slots.  Read-only. */
	int (*slot_wal)(void *h, enum db_direction dir, struct db_slot_wal *out,
	                struct ferry_error *err);

	/* The dry run (DESIGN §5): what replicate_start, switch_run(dir) and
	 * teardown would send, appended to out one action per line, in the
	 * order they run.  They take the config, not a handle: no connection
	 * is made and nothing changes, so a dry run works while a server is
	 * down.  The texts come from the code the real steps run.  A line is
	 *	STEP [pause] TARGET: ACTION
	 * STEP "open" (what open() does: each description starts with it),
	 * a name of switch_steps, "undo" (what the switch does only when a
	 * step inside the pause fails: the last lines), or for replicate and
	 * teardown "subscribe", "schema_copy", "publish", "drop"; "[pause]"
	 * when the action falls inside the write pause; TARGET "old" / "new"
	 * (a database side), "pooler NAME console" or "pooler NAME host" (its
	 * shell, started through the exec prefix), "local" (a process ferry
	 * spawns), "ferry" (a note on the pause); ACTION the exact SQL, console
	 * command or shell line, with "  -- " and a note where the real run
	 * depends on what it finds ($1 values, "if it exists", "for each
	 * sequence").  No password appears: conninfos are scrubbed, and a
	 * password that the real statement carries is said to be added.
	 * out is the caller's (give it a max of at least 1 MiB).  Return 0,
	 * FERRY_EINVAL (the config cannot be run: the message says why, and
	 * switch_run would refuse it the same way), FERRY_EPROTO (out full). */
	int (*describe_replicate)(const struct db_config *cfg, struct buf *out,
	                          struct ferry_error *err);
	int (*describe_switch)(const struct db_config *cfg, enum db_direction dir, struct buf *out,
	                       struct ferry_error *err);
	int (*describe_teardown)(const struct db_config *cfg, struct buf *out,
	                         struct ferry_error *err);
};

extern const struct db_engine db_engine_postgresql;

/* The WAL guard: samples eng->slot_wal for dir into *w, and decides with
 * alarm and limit (bytes; 0: the defaults, half and nine tenths of the
 * server's own cap when it has one, else 8 GiB and 32 GiB).  Past the
 * limit it tears replication down (eng->teardown) rather than let the
 * writer's disk fill, and returns DB_WAL_DROPPED with err saying what
 * that cost; *alarm_at and *limit_at get the thresholds used.  Returns a
 * verdict (>= 0) or a negative error (nothing was dropped). */
int db_wal_guard(const struct db_engine *eng, void *h, enum db_direction dir, int64_t alarm,
                 int64_t limit, struct db_slot_wal *w, int64_t *alarm_at, int64_t *limit_at,
                 struct ferry_error *err);
/* The same sample and thresholds without acting: DB_WAL_OK, DB_WAL_ALARM,
 * or DB_WAL_DROPPED meaning "past the limit" (nothing was dropped). */
int db_wal_verdict(const struct db_engine *eng, void *h, enum db_direction dir, int64_t alarm,
                   int64_t limit, struct db_slot_wal *w, int64_t *alarm_at, int64_t *limit_at,
                   struct ferry_error *err);

/* The engine called name ("postgresql"), or NULL. */
const struct db_engine *db_engine_find(const char *name);

#endif
