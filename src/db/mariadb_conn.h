/*
 * mariadb_conn.h - the Connector/C layer: the only code that talks to
 * libmariadb (lint: one foreign library, one file).
 *
 * Every statement ferry sends to MariaDB goes through mdb_exec(): the
 * non-blocking API of Connector/C (mysql_real_query_start/_cont,
 * mysql_store_result_start/_cont) waited on with poll() against a deadline
 * in monotonic milliseconds.  The blocking API's timeouts are whole seconds
 * (MYSQL_OPT_READ_TIMEOUT is an unsigned int), far too coarse for a write
 * pause of a few hundred milliseconds.
 *
 * Calling sequence:
 *	struct mdb_conn *c;
 *	mdb_connect(&c, "host=127.0.0.1 port=3306 user=ferry dbname=shop", pw,
 *	            "database main old", deadline, &err);
 *	struct mdb_result r;
 *	mdb_exec(c, "SELECT @@server_id", deadline, &r, &err);
 *	mdb_result_get(&r, 0, 0);  ... mdb_result_release(&r);
 *	mdb_free(c);
 *
 * Connection strings are libpq-style keyword=value lists (the plan's
 * syntax, parsed by libpq's parser through db/pgsql.h): host (a name, an
 * address, or an absolute path: the server's unix socket), port (3306),
 * user, dbname.  No password: it comes from a secret file and is handed
 * to the library as a separate argument, never copied, never logged.
 *
 * A statement that overruns its deadline leaves the protocol in the middle
 * of a reply: the connection is shut down at once (FERRY_ETIMEDOUT, and
 * mdb_ok() is false from then on).  The server may still be running the
 * statement: a caller that must know it stopped (the fence) kills it by
 * its thread id (mdb_thread_id) from another connection.
 *
 * Ownership: a struct mdb_result owns copies of every cell; release it
 * with mdb_result_release().  A struct mdb_conn is owned by whoever
 * connected it; mdb_free() is NULL-safe.  Deadlines are time_mono_ms()
 * values.
 */
#ifndef FERRY_DB_MARIADB_CONN_H
#define FERRY_DB_MARIADB_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct mdb_conn;

struct mdb_result {
	int nrows;
	int ncols;
	char **cells; /* nrows * ncols, row-major; NULL for SQL NULL */
	char **names; /* ncols column names */
	int64_t affected;
};

/* Where a conninfo points; every string malloc'd, NULL when absent. */
struct mdb_endpoint {
	char *host;   /* NULL: localhost; an absolute path: a unix socket */
	char *port;   /* NULL: 3306 */
	char *user;   /* NULL: the login name */
	char *dbname; /* NULL: none */
};

/* Parses conninfo.  Returns 0, or FERRY_EINVAL naming what. */
int mdb_endpoint_parse(const char *conninfo, const char *what, struct mdb_endpoint *ep,
                       struct ferry_error *err);
void mdb_endpoint_release(struct mdb_endpoint *ep);

/* Connects (non-blocking, bounded by deadline).  what names the endpoint in
 * every message ("database main old").  With MDB_NO_DB the conninfo's
 * dbname is not made the default database (ferry's own connections: the
 * database may not exist yet on new, and every statement names it).
 * Returns 0, or FERRY_EUNREACH, FERRY_EAUTH (credentials refused),
 * FERRY_ETIMEDOUT, FERRY_EINVAL (bad conninfo). */
enum mdb_connect_flags {
	MDB_NO_DB = 1,
};
int mdb_connect(struct mdb_conn **out, const char *conninfo, const char *password, const char *what,
                unsigned flags, int64_t deadline, struct ferry_error *err);
/* Closes (COM_QUIT, bounded to 100 ms).  NULL-safe. */
void mdb_free(struct mdb_conn *c);

/* Runs one statement: a compound one (BEGIN NOT ATOMIC ... END) too,
 * whose first result set is res's (the others are read and dropped; an
 * error in any is the statement's).  res may be NULL (the rows are read
 * and dropped).
 * Returns 0, or FERRY_EREFUSED (the server said no: mdb_errno() has its
 * error number), FERRY_EUNREACH (connection lost), FERRY_ETIMEDOUT (the
 * deadline passed: the connection is shut down). */
int mdb_exec(struct mdb_conn *c, const char *sql, int64_t deadline, struct mdb_result *res,
             struct ferry_error *err);
/* The first cell of the first row (malloc'd; NULL for no row or SQL
 * NULL) into *out. */
int mdb_value(struct mdb_conn *c, const char *sql, int64_t deadline, char **out,
              struct ferry_error *err);

const char *mdb_what(const struct mdb_conn *c);
/* The server's error number of the last failed statement, 0 if none. */
unsigned mdb_errno(const struct mdb_conn *c);
/* The server's id of this connection (for KILL). */
unsigned long mdb_thread_id(const struct mdb_conn *c);
/* false once the connection was lost or shut down. */
bool mdb_ok(const struct mdb_conn *c);

/* 'text' as an SQL string literal (quotes included), malloc'd. */
char *mdb_quote(const char *text);
/* `name` as an identifier (backticks doubled), malloc'd. */
char *mdb_ident(const char *name);

void mdb_result_release(struct mdb_result *res);
/* Cell (row, col), NULL for SQL NULL; BUG() when out of range. */
const char *mdb_result_get(const struct mdb_result *res, int row, int col);
/* The column called name, or -1. */
int mdb_result_col(const struct mdb_result *res, const char *name);
/* The cell of column name in row, NULL when absent or NULL. */
const char *mdb_result_named(const struct mdb_result *res, int row, const char *name);
/* Integer of a cell (NULL and unparsable read as def). */
int64_t mdb_result_int(const struct mdb_result *res, int row, int col, int64_t def);

/*
 * Credentials for a child (mariadb-dump, mariadb): never in argv or the
 * environment, where ps and /proc/PID/environ show them.
 * mdb_optfile_create() makes a private folder (0700) holding one option
 * file (0600) with a [client] group (host, port or socket, user, password;
 * values quoted as the option file syntax wants) and fills of->path: give
 * the child --defaults-extra-file=PATH as its first argument.
 * mdb_optfile_remove() wipes the file's content, removes both and frees
 * of's strings; NULL-safe and idempotent.  Returns 0 or FERRY_EIO.
 */
struct mdb_optfile {
	char *dir;
	char *path;
};
int mdb_optfile_create(struct mdb_optfile *of, const struct mdb_endpoint *ep, const char *password,
                       struct ferry_error *err);
void mdb_optfile_remove(struct mdb_optfile *of);

#endif
