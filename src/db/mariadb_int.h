/*
 * mariadb_int.h - what the files of the MariaDB engine share
 * (mariadb.c: open, replication, lag, verify, teardown; mariadb_copy.c:
 * the initial copy; mariadb_check.c: readiness; mariadb_switch.c: the
 * switch steps, mariadb_inspect.c: where a switch stands; mariadb_describe.c:
 * the dry run).
 *
 * Ownership: struct mdb owns its connections, endpoints and the copy; the
 * config it points to is borrowed for the handle's life.
 */
#ifndef FERRY_DB_MARIADB_INT_H
#define FERRY_DB_MARIADB_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "db/mariadb.h"
#include "db/mariadb_conn.h"
#include "util/buf.h"

/* Statements outside the pause: long enough for a busy server, short
 * enough that a hung one is noticed. */
#define MDB_TIMEOUT_MS 10000
/* mdb_side_refresh()'s trivial statement: a live session answers at once */
#define MDB_PING_MS 2000
/* ferry's own database on both sides: the heartbeat and the copy's state.
 * Written with sql_log_bin=0 except the heartbeat row, which must travel. */
#define MDB_META "_ferry"

/* One side, as a step sees it. */
struct mdb_side {
	const char *name;          /* "old" / "new" */
	struct mdb_conn *q;        /* statements */
	struct mdb_conn *ctl;      /* KILL QUERY of q's statement past a deadline */
	struct mdb_endpoint ep;    /* ferry's endpoint of this side */
	const char *conninfo;      /* ferry's conninfo */
	const char *password;      /* may be NULL */
	const char *from_other;    /* how the other side reaches this one */
	struct mdb_endpoint ep_in; /* from_other parsed */
};

struct mdb_copy;

#define MDB_HB_RING 64

struct mdb {
	const struct db_config *cfg;
	struct mdb_side old, new;
	char *dbname; /* the application's database (old's dbname) */
	struct mdb_copy *copy;
	/* heartbeats written by this process: seq and time_mono_ms() */
	struct {
		int64_t seq, mono;
	} hb[MDB_HB_RING];
	int64_t hb_last;
	/* the switch (mariadb_switch.c): how the writer ran its event
	 * scheduler before it (-1 not seen: ON when it has events), the
	 * fence position this process read and its direction, the sessions
	 * the last fence of each side killed */
	int sched_writer;
	char fence_pos[512];
	int fence_dir;
	size_t killed[2];
	/* the session of a fence that ran out of its deadline, which may
	 * still wait for its lock on that side (fence_gone), 0 when none;
	 * kept across mdb_sw_forget: it is the server's state */
	unsigned long fence_tid[2];
	/* the switch of this process under way: dir + 1 from a prepare that
	 * succeeded, 0 when none (inspect, and every step that ends or
	 * undoes a switch, clear it).  While it is set the steps in the
	 * pause trust what preflight and prepare saw (to replicates from
	 * from, from's way back configured) instead of asking again: a
	 * round trip less each.  fenced[]: the last fence of that side
	 * succeeded and nothing unfenced it since; fence_at[] the position
	 * it read, at_set[] until position() takes it; stopped:
	 * stop_forward of sw_dir succeeded */
	int sw_dir;
	bool fenced[2], at_set[2], stopped;
	char fence_at[2][512];
};

int64_t mdb_deadline(int64_t ms);
/* from (the writer before the switch in dir) and to (the writer after). */
void mdb_sides(struct mdb *m, enum db_direction dir, struct mdb_side **from, struct mdb_side **to);
/* Forgets what this process's switch saw (struct mdb's sw_dir, fenced[],
 * at_set[], stopped): the next steps ask the servers again. */
void mdb_sw_forget(struct mdb *m);
/* q, or ctl when q was lost; NULL when both are. */
struct mdb_conn *mdb_conn_of(struct mdb_side *s);
/* Reconnects a lost q or ctl (outside the pause only). */
int mdb_side_reconnect(struct mdb *m, struct mdb_side *s, struct ferry_error *err);
/* mdb_side_reconnect() after each open session of s answered a trivial
 * statement within MDB_PING_MS: one the server dropped (a restart of it,
 * its wait_timeout) looks open until a statement fails on it, and ctl is
 * used only when the fence overruns.  Outside the pause only. */
int mdb_side_refresh(struct mdb *m, struct mdb_side *s, struct ferry_error *err);
/* After a call outside the pause that failed with rc: true when a q of m
 * was lost by it (2006, 2013: the server dropped it, a restart say) and
 * both sides are connected again, so that the call may run once more. */
bool mdb_lost_and_back(struct mdb *m, int rc);

/* The replication filter that keeps the stream to the application's
 * database and ferry's: "db.%,_ferry.%" with LIKE wildcards escaped. */
char *mdb_filter(const struct mdb *m);
/* CHANGE MASTER TO ... on to, pointing at from (password included when
 * with_password: the text is then a secret, free it with xfree_secret). */
char *mdb_change_master_sql(const struct mdb *m, const struct mdb_side *to,
                            const struct mdb_side *from, bool demote, bool with_password);
/* One row of SHOW SLAVE STATUS on conn into r (nrows 0: no replica). */
int mdb_slave_status(struct mdb_conn *c, int64_t deadline, struct mdb_result *r,
                     struct ferry_error *err);
/* Runs sql with sql_log_bin=0 (ferry's own objects, never replicated). */
int mdb_exec_nolog(struct mdb_conn *c, const char *sql, int64_t deadline, struct ferry_error *err);
/* Ensures _ferry and its tables on one side (sql_log_bin=0). */
int mdb_meta_ensure(struct mdb_conn *c, struct ferry_error *err);
/* Count of events in the application's database on c, or < 0. */
int64_t mdb_count_events(struct mdb *m, struct mdb_conn *c, int64_t deadline,
                         struct ferry_error *err);

/* The sum over domains of max(0, seq(a) - seq(b)) for GTID lists
 * "D-S-N,...": how many transactions a has that b has not applied. */
int64_t mdb_gtid_distance(const char *a, const char *b);

/* ---- the initial copy (mariadb_copy.c) ------------------------------ */

/* Starts mariadb-dump of old piped through ferry into mariadb on new, in a
 * thread; the GTID position is read from the dump's head. */
int mdb_copy_start(struct mdb *m, struct ferry_error *err);
/* 1 while running, 0 when done (ok), < 0 when it failed (err filled). */
int mdb_copy_poll(struct mdb *m, struct ferry_error *err);
/* The GTID position of the finished copy (borrowed). */
const char *mdb_copy_gtid(const struct mdb *m);
/* Appends a row per table seen so far (state 'c' copying, 'd' dumped). */
void mdb_copy_progress(const struct mdb *m, struct db_progress *out);
/* Stops the children and the thread (close()). */
void mdb_copy_free(struct mdb *m);

extern const char *const mdb_dump_argv[];
extern const char *const mdb_client_argv[];

/* ---- the switch (mariadb_switch.c, described by mariadb_describe.c) -- */

/* The sessions the fence kills: all but ferry's account's, the server's
 * threads and the replicas reading the binlog. */
#define MDB_SESSIONS_FENCED_WHERE                                                                  \
	"ID <> CONNECTION_ID() AND USER <> SUBSTRING_INDEX(CURRENT_USER(), '@', 1) AND COMMAND "   \
	"NOT IN ('Daemon', 'Binlog Dump', 'Binlog Dump GTID', 'Slave_IO', 'Slave_SQL', "           \
	"'Slave_worker') AND USER NOT IN ('system user', 'event_scheduler')"
#define MDB_SQL_SESSIONS_FENCED                                                                    \
	"SELECT ID FROM information_schema.PROCESSLIST WHERE " MDB_SESSIONS_FENCED_WHERE
#define MDB_SQL_SESSIONS_WHO                                                                       \
	"SELECT GROUP_CONCAT(DISTINCT CONCAT(USER, '@', SUBSTRING_INDEX(HOST, ':', 1)) SEPARATOR " \
	"', ') FROM information_schema.PROCESSLIST WHERE " MDB_SESSIONS_FENCED_WHERE
#define MDB_SQL_POSITION "SELECT @@GLOBAL.gtid_binlog_pos"
/* The fence (ENGINES.md A5) in one compound statement: read_only=1 with
 * the lock wait bounded (secs: seconds, or "$1" for the dry run), the
 * event scheduler off; it answers its rows: first (NULL, the position),
 * then (ID, NULL) for each session MDB_SESSIONS_FENCED names.  A plain
 * SELECT, no cursor: MariaDB 10.11.19 crashed here (signal 11 in
 * sp_cursor::open freeing its temporary table) running a FOR loop over
 * an information_schema table in such a statement.  Malloc'd. */
char *mdb_fence_sql(const char *secs);
/* The kills of the fence in one compound statement: KILL CONNECTION of
 * each of the n ids (one gone already is no error), then one row: how many
 * were killed, and the position after it all.  Malloc'd. */
char *mdb_kill_sql(const char *const *ids, int n);
/* unfence's first round trip: read_only=0, then the rows (EVENT_NAME,
 * STATUS) of the database's events (db: its name).  Malloc'd. */
char *mdb_unfence_sql(const char *db);
/* MASTER_GTID_WAIT's slice: the step polls at <= 50 ms; %s the position */
#define MDB_SQL_GTID_WAIT "SELECT MASTER_GTID_WAIT(%s, 0.05)"
/* %s the database as a literal */
#define MDB_SQL_SLAVESIDE_EVENTS                                                                   \
	"SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s AND STATUS = "   \
	"'SLAVESIDE_DISABLED'"
/* %s.%s the event; not binlogged: the other side has it enabled */
#define MDB_SQL_EVENT_ENABLE "SET STATEMENT sql_log_bin = 0 FOR ALTER EVENT %s.%s ENABLE"
/* where a demoted writer's replication starts: its own position */
#define MDB_SQL_DEMOTE "SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_current_pos"
#define MDB_SQL_REVERSE_TABLE                                                                      \
	"CREATE TABLE IF NOT EXISTS " MDB_META ".reverse (dir INT PRIMARY KEY, start TEXT NOT "    \
	"NULL) ENGINE=InnoDB"

/* One side's replication, as SHOW SLAVE STATUS has it (mariadb_inspect.c). */
struct mdb_repl {
	bool configured; /* SHOW SLAVE STATUS has a row */
	bool from_other; /* ... and it names the other side (other's ep_in) */
	bool io, sql;    /* Slave_IO_Running Yes (or Connecting), Slave_SQL_Running Yes */
	char source[160];
	char error[256];
};
int mdb_repl_read(struct mdb_conn *c, const struct mdb_side *other, int64_t deadline,
                  struct mdb_repl *out, struct ferry_error *err);
/* The inspect and carried steps (mariadb_inspect.c). */
int mdb_sw_inspect(void *h, enum db_direction dir, struct db_inspect *out, struct ferry_error *err);
/* 1 when start_reverse of dir noted its start on from (it does before
 * START SLAVE; prepare clears it), 0 when not (a stream that runs then was
 * started by a restart of the server), or an error. */
int mdb_reverse_noted(struct mdb *m, enum db_direction dir, struct ferry_error *err);
int mdb_sw_carried(void *h, enum db_direction dir, const char *fence_pos, int64_t *txns,
                   int64_t *bytes, struct ferry_error *err);

extern const struct db_switch_ops mdb_switch_ops;
int mdb_describe_step(const struct db_config *cfg, enum db_direction dir, const char *step,
                      struct buf *out, struct ferry_error *err);

/* ---- the engine's other parts ---------------------------------------- */

int mdb_check(void *h, struct db_checks *out, struct ferry_error *err);
int mdb_describe_replicate(const struct db_config *cfg, struct buf *out, struct ferry_error *err);
int mdb_describe_teardown(const struct db_config *cfg, struct buf *out, struct ferry_error *err);

#endif
