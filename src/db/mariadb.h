/*
 * mariadb.h - the MariaDB engine (db_engine_mariadb, db.h) and its switch
 * steps, each a function bounded by a deadline.
 *
 * Replication is MariaDB's own GTID replication: a consistent copy with
 * mariadb-dump --single-transaction --master-data=2 --gtid piped into new,
 * then CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos and START SLAVE on
 * new, which is kept read_only with its event scheduler off.
 *
 * The switch (engine-common brief; issue 11's orchestrator calls these in
 * this order inside the write pause, then the last two after the resume):
 *	mariadb_fence(h, dir, deadline)          from: read_only=1, sessions killed
 *	mariadb_position(h, dir, &pos)           from: @@gtid_binlog_pos
 *	mariadb_wait_applied(h, dir, pos, dl)    to: MASTER_GTID_WAIT(pos) in a loop
 *	mariadb_promote(h, dir, deadline)        to: STOP SLAVE, read_only=0, events on
 *	mariadb_prepare_reverse(h, dir, dl)      from: CHANGE MASTER to "to", demoted
 *	(the switch driver points the applications at "to"; resume)
 *	mariadb_start_reverse(h, dir, dl)        from: START SLAVE
 *	mariadb_drop_forward(h, dir, dl)         to: RESET SLAVE ALL
 * with the undos inside the pause, in reverse order:
 *	mariadb_unprepare_reverse, mariadb_unpromote, mariadb_unfence.
 * dir DB_FORWARD: from = old, to = new; DB_REVERSE (a rollback): from =
 * new, to = old.  Each step checks the world before acting (a second call
 * does nothing), sends only on connections opened by open(), polls at
 * <= 50 ms and returns FERRY_ETIMEDOUT at its deadline (time_mono_ms()).
 * mariadb_inspect() tells where each side stands after a crash.
 *
 * The handle h is the one eng->open() returned for db_engine_mariadb.
 */
#ifndef FERRY_DB_MARIADB_H
#define FERRY_DB_MARIADB_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "util/error.h"

extern const struct db_engine db_engine_mariadb;

int mariadb_fence(void *h, enum db_direction dir, int64_t deadline, struct ferry_error *err);
int mariadb_unfence(void *h, enum db_direction dir, int64_t deadline, struct ferry_error *err);
/* *pos: malloc'd GTID list ("0-1-42"), "" when nothing was written. */
int mariadb_position(void *h, enum db_direction dir, int64_t deadline, char **pos,
                     struct ferry_error *err);
/* FERRY_ETIMEDOUT when "to" has not applied pos by the deadline;
 * FERRY_ECHECK when its replication stopped with an error. */
int mariadb_wait_applied(void *h, enum db_direction dir, const char *pos, int64_t deadline,
                         struct ferry_error *err);
int mariadb_promote(void *h, enum db_direction dir, int64_t deadline, struct ferry_error *err);
int mariadb_unpromote(void *h, enum db_direction dir, int64_t deadline, struct ferry_error *err);
int mariadb_prepare_reverse(void *h, enum db_direction dir, int64_t deadline,
                            struct ferry_error *err);
int mariadb_unprepare_reverse(void *h, enum db_direction dir, int64_t deadline,
                              struct ferry_error *err);
int mariadb_start_reverse(void *h, enum db_direction dir, int64_t deadline,
                          struct ferry_error *err);
int mariadb_drop_forward(void *h, enum db_direction dir, int64_t deadline, struct ferry_error *err);

/* Where one side stands (mariadb_inspect). */
struct mariadb_side_state {
	bool read_only;
	bool events_on;   /* event_scheduler=ON */
	bool replica;     /* a replication source is configured */
	bool io_running;  /* Slave_IO_Running=Yes */
	bool sql_running; /* Slave_SQL_Running=Yes */
	char source[128]; /* "HOST:PORT" it replicates from, "" if none */
	char last_error[256];
	char binlog_pos[512]; /* @@gtid_binlog_pos */
	char slave_pos[512];  /* @@gtid_slave_pos */
};
int mariadb_inspect(void *h, struct mariadb_side_state *old, struct mariadb_side_state *new,
                    struct ferry_error *err);

#endif
