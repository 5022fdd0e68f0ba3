/*
 * pgtest.h - the set-up the PostgreSQL test binaries share (test_pg,
 * test_pg_drift, test_pgcopy, test_pgfence): ferry's password from
 * $FERRY_PGTEST_DIR/ferry.pw, the two clusters' ports and conninfos, and
 * one-statement helpers that fail the running cmocka case on an error.
 *
 *	if (pgtest_init(dir, 15450, 15451) < 0)
 *		return 1;
 *	pgtest_sql(PGT.old_ci, "CREATE TABLE t%d (id int)", 1);
 *	n = pgtest_val(PGT.new_ci, "SELECT count(*) FROM t1");
 *	pgtest_release();
 *
 * Each helper opens its own connection (application_name "test") and
 * closes it; a conninfo that names pgbouncer connects without a password
 * (its admin console).
 */
#ifndef FERRY_TESTS_PGTEST_H
#define FERRY_TESTS_PGTEST_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

struct pgtest {
	char *dir; /* $FERRY_PGTEST_DIR (a copy) */
	char *pw;  /* ferry.pw without its trailing newlines: a secret */
	int old_port, new_port;
	char old_ci[256], new_ci[256]; /* 127.0.0.1, dbname shop, user ferry */
	int64_t sql_ms, val_ms;        /* pgtest_sql's and pgtest_val's deadline */
};

extern struct pgtest PGT;

/* reads DIR/ferry.pw and the ports (PG_OLD_PORT, PG_NEW_PORT, else the
 * defaults); deadlines of 60 s. -1 (said on stderr) if the file is
 * unreadable. */
int pgtest_init(const char *dir, int old_port, int new_port);
void pgtest_release(void);
/* database "main": PGT's conninfos, ferry's password on both sides */
void pgtest_config(struct db_config *cfg);

/* $ENV as a port, else def */
int pgtest_port(const char *env, int def);
/* "host=127.0.0.1 port=PORT dbname=DBNAME user=USER" */
void pgtest_ci(char *out, size_t size, int port, const char *dbname, const char *user);

/* runs the statement(s); fails the case on an error */
void pgtest_sql(const char *ci, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* the same after SET default_transaction_read_only = off (a fenced old
 * database: for set-up, never to show that a side is writable) */
void pgtest_sql_rw(const char *ci, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* the first value ("" for NULL; caller frees); fails the case on an error */
char *pgtest_str(const char *ci, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* the first value as a number (-1 for NULL); fails the case on an error */
int64_t pgtest_val(const char *ci, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* pgtest_val() that answers INT64_MIN on an error instead (a poll that
 * runs while a fence ends the sessions) */
int64_t pgtest_val_try(const char *ci, const char *q);

#endif
