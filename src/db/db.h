/*
 * db.h - the database engine interface.
 *
 * The phase engine moves a database through the same stages whatever the
 * engine (PostgreSQL; MariaDB with GTID replication and Redis next):
 *
 *	eng = db_engine_find("postgresql");
 *	eng->open(&cfg, &h, &err);              connects to both sides
 *	eng->check(h, &checks, &err);           readiness rows (ferry check)
 *	eng->replicate_start(h, &err);          schema copy + replication
 *	eng->progress(h, &prog, &err);          initial sync, per table
 *	eng->lag(h, DB_FORWARD, &lag, &err);    the soak, sampled every second
 *	eng->schema_diff(h, &diff, &err);       schema drift, every minute
 *	eng->verify(h, checksum, &ver, &err);   counts (+ checksums) compared
 *	eng->sw->*                               the switch's steps (below)
 *	eng->teardown(h, &err);                 decommission
 *	eng->close(h);
 *
 * The switch (DESIGN §2 step 3) is one protocol for every engine, owned by
 * the orchestrator (core/orchestrator.h): it decides the order, the budget,
 * the undo and the recovery.  An engine supplies the small steps of struct
 * db_switch_ops, each of which does one thing and checks the world before
 * it acts (so a repeat is harmless); applications are repointed by a switch
 * driver (switch/switch.h), never by the engine.
 *
 * A dry run needs no handle: eng->describe_replicate(&cfg, &buf, &err),
 * eng->sw->describe(&cfg, dir, step, &buf, &err) and describe_teardown
 * append what the calls would send.
 *
 * "old" and "new" are fixed by the plan (the old and the new server); a
 * direction says which way writes move: DB_FORWARD makes new the writer,
 * DB_REVERSE (a rollback) makes old the writer again.  In a switch, "from"
 * is the side being replaced as the writer and "to" the side becoming it.
 *
 * Ownership: the config and the strings it points to are borrowed for the
 * handle's life (passwords included: the caller wipes them after close()).
 * Results (checks, progress, verify, positions) are the caller's; release
 * them with their _release function or free().
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

enum db_side {
	DB_OLD,
	DB_NEW,
};

/* The side a switch in direction dir replaces as the writer, and the one
 * that becomes it. */
static inline enum db_side db_from(enum db_direction dir)
{
	return dir == DB_FORWARD ? DB_OLD : DB_NEW;
}
static inline enum db_side db_to(enum db_direction dir)
{
	return dir == DB_FORWARD ? DB_NEW : DB_OLD;
}
/* "old", "new" */
static inline const char *db_side_name(enum db_side s)
{
	return s == DB_OLD ? "old" : "new";
}

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
	int64_t pause_budget_ms; /* the switch's budget (for messages); 0: 5000 */
	int64_t max_lag_ms;      /* preflight: 0 means 1000 */
	/* How long the source's log must outlive the copy (MariaDB binlog
	 * retention): the replication soak and the rollback window. */
	int64_t soak_ms;
	int64_t rollback_window_ms;
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
	int64_t bytes;        /* source changes (WAL, binlog, offset) not yet confirmed
	                       * by the target; -1 unknown */
	int64_t ms;           /* age of the last confirmed position, 0 when caught up */
	int64_t apply_errors; /* apply + sync errors the stream has not yet
	                       * applied past */
	bool recovering;      /* they may be past: the stream has not yet
	                       * applied what the source held when they were
	                       * counted (PostgreSQL counts every error, a
	                       * restart of the publisher too); callers wait,
	                       * bounded, before they call them current */
	bool worker_running;  /* an apply worker exists */
	bool starting;        /* no worker yet, but the stream is enabled: its
	                       * worker is on its way (the engines whose
	                       * streams start asynchronously set it) */
	bool connecting;      /* the worker runs but its source has not yet
	                       * handed it the stream (PostgreSQL: the slot is
	                       * not in use): its session on the source may
	                       * still be starting, which a fence ends */
	int64_t events;       /* transactions not yet applied (MariaDB: GTID
	                       * sequence distance summed over domains), 0
	                       * where the engine does not count them */
	/* What the engine says about the stream when something is wrong
	 * ("link down for 12 s", "2 full resyncs: ..."), for messages; "" when
	 * it has nothing to say.  (Redis) */
	char detail[256];
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

/* Where a switch stands, as inspect() reads it from both servers; the
 * orchestrator decides recovery from it (core/orchestrator.c). */
struct db_inspect {
	bool fenced[2];       /* per side: application writes refused */
	bool forward_exists;  /* the stream from -> to still exists */
	bool forward_running; /* ... and applies */
	int caught_up;        /* 1: to holds every change from holds; 0: not
	                          * (yet); -1: cannot tell (no forward stream) */
	bool reverse_ready;   /* prepare_reverse done: every write to takes
	                          * from now on reaches from later */
	bool reverse_running; /* start_reverse done */
	char detail[256];     /* what was seen, for the log */
};

/* The steps of a switch in direction dir (DESIGN §2 step 3), called by the
 * orchestrator in this order; a step returns 0 or an error and never
 * blocks past its deadline (time_mono_ms()).  Inside the write pause a
 * step spawns nothing, opens no connection and sleeps no longer than a
 * poll interval (<= 10 ms); a deadline there closes the connection
 * instead of cancelling (pgsql_set_hard_deadlines), and the step after it
 * uses a spare connection opened before the pause.
 *
 *   before the pause (no change an application sees):
 *	preflight        read only: the stream runs, lag under max_lag, the
 *	                 target can take a reverse stream; FERRY_ECHECK when
 *	                 not ready (with what to do)
 *	prepare          what can be made ready outside the pause (a
 *	                 publication); idempotent
 *   inside the pause:
 *	fence(side)      application writes on side refused (and its open
 *	                 sessions ended, so that none commits after)
 *	position         from's position after the fence, as text (malloc'd)
 *	wait_applied     to has applied everything up to pos
 *	finalize         what the stream does not carry (sequences); *count
 *	stop_forward     the stream from -> to stopped
 *	prepare_reverse  every write to takes from now on is captured for
 *	                 from (the reverse slot)
 *	unfence(side)    the target takes writes again (if it was fenced)
 *	fence_holds(side) from's fence still holds: the last look before
 *	                 the commit point, after every endpoint shows to
 *	                 (optional: NULL where nothing can end a fence
 *	                 unseen; PostgreSQL's staged fence is a running
 *	                 DO that someone else may cancel)
 *   after the resume (retried until done; idempotent):
 *	start_reverse    the stream to -> from runs
 *	drop_forward     the stream from -> to removed with what it held
 *   the undo of the steps above, newest first:
 *	fence(to) if unfenced, drop_reverse, restart_forward, unfence(from)
 *   after a crash or a failed undo:
 *	inspect          both sides read (struct db_inspect)
 *   the report:
 *	carried          DB_REVERSE: what the reverse stream carried back
 *	                 since the cutover (optional)
 *	reverse_note     after start_reverse: one line on how the reverse
 *	                 stream began, for the switch report (Redis:
 *	                 "resync=partial (...)"); 0, or FERRY_ENOTFOUND when
 *	                 there is nothing to say (optional)
 *   the dry run:
 *	describe         what step (a DB_SW_* name below) sends, one line
 *	                 per statement, as "TARGET: TEXT  -- NOTE" (TARGET
 *	                 "old"/"new"), appended to out; no connection
 */
struct db_switch_ops {
	int (*preflight)(void *h, enum db_direction dir, struct ferry_error *err);
	int (*prepare)(void *h, enum db_direction dir, struct ferry_error *err);
	int (*fence)(void *h, enum db_side side, int64_t deadline, struct ferry_error *err);
	int (*unfence)(void *h, enum db_side side, int64_t deadline, struct ferry_error *err);
	int (*position)(void *h, enum db_direction dir, int64_t deadline, char **pos,
	                struct ferry_error *err);
	int (*wait_applied)(void *h, enum db_direction dir, const char *pos, int64_t deadline,
	                    struct ferry_error *err);
	int (*finalize)(void *h, enum db_direction dir, int64_t deadline, int64_t *count,
	                struct ferry_error *err);
	int (*stop_forward)(void *h, enum db_direction dir, int64_t deadline,
	                    struct ferry_error *err);
	int (*restart_forward)(void *h, enum db_direction dir, int64_t deadline,
	                       struct ferry_error *err);
	int (*prepare_reverse)(void *h, enum db_direction dir, int64_t deadline,
	                       struct ferry_error *err);
	int (*drop_reverse)(void *h, enum db_direction dir, int64_t deadline,
	                    struct ferry_error *err);
	int (*fence_holds)(void *h, enum db_side side, int64_t deadline, struct ferry_error *err);
	int (*start_reverse)(void *h, enum db_direction dir, struct ferry_error *err);
	int (*drop_forward)(void *h, enum db_direction dir, struct ferry_error *err);
	int (*inspect)(void *h, enum db_direction dir, struct db_inspect *out,
	               struct ferry_error *err);
	int (*carried)(void *h, enum db_direction dir, const char *fence_pos, int64_t *txns,
	               int64_t *bytes, struct ferry_error *err);
	int (*reverse_note)(void *h, enum db_direction dir, char *out, size_t len);
	int (*describe)(const struct db_config *cfg, enum db_direction dir, const char *step,
	                struct buf *out, struct ferry_error *err);
};

/* The step names of describe() and of the journal ("db.fence"), in the
 * order the orchestrator runs them. */
#define DB_SW_PREFLIGHT       "preflight"
#define DB_SW_PREPARE         "prepare"
#define DB_SW_FENCE           "fence"
#define DB_SW_POSITION        "position"
#define DB_SW_WAIT_APPLIED    "wait_applied"
#define DB_SW_FINALIZE        "finalize"
#define DB_SW_STOP_FORWARD    "stop_forward"
#define DB_SW_PREPARE_REVERSE "prepare_reverse"
#define DB_SW_UNFENCE_TARGET  "unfence_target"
#define DB_SW_FENCE_HOLDS     "fence_holds"
#define DB_SW_START_REVERSE   "start_reverse"
#define DB_SW_DROP_FORWARD    "drop_forward"
#define DB_SW_OPEN            "open"
/* the undo's, in the order they run */
#define DB_SW_UNDO_FENCE_TARGET    "undo.fence_target"
#define DB_SW_UNDO_DROP_REVERSE    "undo.drop_reverse"
#define DB_SW_UNDO_RESTART_FORWARD "undo.restart_forward"
#define DB_SW_UNDO_UNFENCE         "undo.unfence"

struct db_engine {
	const char *name;

	int (*open)(const struct db_config *cfg, void **h, struct ferry_error *err);
	void (*close)(void *h);
	/* Readiness: appends rows to out.  Returns 0 when the checks ran
	 * (whatever they found), an error when they could not run. */
	int (*check)(void *h, struct db_checks *out, struct ferry_error *err);
	/* Starts replication old -> new (schema, publication, subscription,
	 * initial copy in the background).  Idempotent. */
	int (*replicate_start)(void *h, struct ferry_error *err);
	/* A later run of the replicate phase, replicate_start done: puts
	 * back a stream the server forgot (Redis: a replica restarted without
	 * its REPLICAOF, an empty master again).  0 when the stream is there,
	 * 1 when it started it again, an error when it may not (new holds
	 * keys of its own).  NULL where the server keeps its stream across a
	 * restart (PostgreSQL's subscription, MariaDB's master.info). */
	int (*replicate_resume)(void *h, struct ferry_error *err);
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
	/* Where the applications reach side's database (the switch drivers
	 * point them there): host, port and the database name (malloc'd;
	 * dbname may be NULL), derived from the config.  FERRY_EINVAL when
	 * the config does not say. */
	int (*target)(const struct db_config *cfg, enum db_side side, char **host, int *port,
	              char **dbname, struct ferry_error *err);
	/* Removes every slot, publication and subscription ferry made on
	 * either side.  Idempotent. */
	int (*teardown)(void *h, struct ferry_error *err);
	/* The WAL held back on the writer by the slot of dir's stream
	 * (DB_FORWARD: the slot on old, DB_REVERSE: the one on new); NULL when
	 * the engine has no slots.  Read-only. */
	int (*slot_wal)(void *h, enum db_direction dir, struct db_slot_wal *out,
	                struct ferry_error *err);

	/* The dry run (DESIGN §5): what replicate_start and teardown would
	 * send (the switch's steps describe themselves: sw.describe),
	 * appended to out one action per line, in the order they run.  They
	 * take the config, not a handle: no connection is made and nothing
	 * changes, so a dry run works while a server is down.  The texts come
	 * from the code the real steps run.  A line is
	 *	STEP TARGET: ACTION
	 * STEP "open" (what open() does: each description starts with it),
	 * or "subscribe", "schema_copy", "publish", "drop"; TARGET "old" /
	 * "new" (a database side), "local" (a process ferry spawns); ACTION
	 * the exact SQL or command line, with "  -- " and a note where the
	 * real run depends on what it finds ($1 values, "if it exists").  No
	 * password appears: conninfos are scrubbed, and a password that the
	 * real statement carries is said to be added.  out is the caller's
	 * (give it a max of at least 1 MiB).  Return 0, FERRY_EINVAL (the
	 * config cannot be run: the message says why), FERRY_EPROTO (out
	 * full). */
	int (*describe_replicate)(const struct db_config *cfg, struct buf *out,
	                          struct ferry_error *err);
	int (*describe_teardown)(const struct db_config *cfg, struct buf *out,
	                         struct ferry_error *err);

	const struct db_switch_ops *sw;
};

extern const struct db_engine db_engine_postgresql;
extern const struct db_engine db_engine_redis;

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
