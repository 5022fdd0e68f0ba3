/*
 * mariadb.h - the MariaDB engine (db_engine_mariadb, db.h).
 *
 * Replication is MariaDB's own GTID replication: a consistent copy with
 * mariadb-dump --single-transaction --master-data=2 --gtid piped into new,
 * then CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos and START SLAVE on
 * new, which is kept read_only with its event scheduler off.
 *
 * The switch is the orchestrator's (core/orchestrator.h) through
 * db_engine_mariadb.sw; mariadb_switch.c has what each step sends:
 * read_only=1 and the sessions killed on the old writer, its
 * @@gtid_binlog_pos, MASTER_GTID_WAIT on the new one, STOP SLAVE, the old
 * writer made a replica of the new one with MASTER_DEMOTE_TO_SLAVE=1,
 * read_only=0 on the new writer; START SLAVE of the reverse stream and
 * RESET SLAVE ALL of the forward one after the resume.
 *
 * mariadb_inspect() tells where each side stands (the tests read it; the
 * orchestrator's inspect() is built on it).  The handle h is the one
 * eng->open() returned for db_engine_mariadb.
 */
#ifndef FERRY_DB_MARIADB_H
#define FERRY_DB_MARIADB_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "util/error.h"

extern const struct db_engine db_engine_mariadb;

/* Where one side stands (mariadb_inspect). */
struct mariadb_side_state {
	bool read_only;
	bool events_on;   /* event_scheduler=ON */
	bool replica;     /* a replication source is configured */
	bool from_other;  /* ... and it is the other side */
	bool io_running;  /* Slave_IO_Running Yes or Connecting */
	bool sql_running; /* Slave_SQL_Running=Yes */
	char source[160]; /* "HOST:PORT" it replicates from, "" if none */
	char last_error[256];
	char binlog_pos[512]; /* @@gtid_binlog_pos */
	char slave_pos[512];  /* @@gtid_slave_pos */
};
/* Reads both sides (reconnecting a lost connection: outside the pause). */
int mariadb_inspect(void *h, struct mariadb_side_state *old, struct mariadb_side_state *new,
                    struct ferry_error *err);

#endif
