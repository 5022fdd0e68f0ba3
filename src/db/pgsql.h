/*
 * pgsql.h - the libpq layer: the only code that talks to libpq.
 *
 * Every query of ferry, to PostgreSQL or to a pgbouncer admin console, goes
 * through one path (pgsql_send() + pgsql_wait(), or pgsql_exec() which is
 * both): asynchronous libpq calls waited on with poll() against a deadline,
 * so that a query inside the cutover's write pause can never overrun the
 * pause budget unnoticed.  A query without parameters is sent with the
 * simple-query protocol (PQsendQuery), which pgbouncer's admin console
 * requires; one with parameters uses PQsendQueryParams.
 *
 * Calling sequence:
 *	struct pgsql_conn *c;
 *	pgsql_connect(&c, "host=... dbname=shop user=ferry", pw, "database main source", &err);
 *	struct pgsql_result r;
 *	pgsql_exec(c, "SELECT $1::int", 1, params, deadline_ms, &r, &err);
 *	pgsql_result_get(&r, 0, 0);  ... pgsql_result_release(&r);
 *	pgsql_free(c);
 *
 * Connections carry application_name=ferry and a connect_timeout.  The
 * password is handed over as a string the caller read from a secret file; it
 * goes to libpq as a separate keyword, is never copied, never logged.
 * Connection strings appear in messages only scrubbed (pgsql_conninfo_scrub).
 * Errors keep the server's SQLSTATE (in the message, and pgsql_sqlstate()).
 *
 * Ownership: a struct pgsql_result owns copies of every cell it holds
 * (callers never see a PGresult); pgsql_result_release() frees them.  A
 * struct pgsql_conn is owned by whoever connected it; pgsql_free() is
 * NULL-safe.  Deadlines are time_mono_ms() values; 0 means none.
 */
#ifndef FERRY_DB_PGSQL_H
#define FERRY_DB_PGSQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct pgsql_conn;

struct pgsql_result {
	int nrows;
	int ncols;
	char **cells;     /* nrows * ncols, row-major; NULL for SQL NULL */
	char **names;     /* ncols column names */
	char cmdtag[64];  /* "INSERT 0 1", "PAUSE", ... */
	char sqlstate[6]; /* "" on success */
};

/* Default connect timeout (seconds) when the conninfo sets none. */
#define PGSQL_CONNECT_TIMEOUT_S 10

/* Connects.  conninfo is a libpq keyword/value string or URI without a
 * password; password may be NULL (none, or ~/.pgpass).  what names the
 * endpoint in every message ("database main source").  Returns 0, or
 * FERRY_EUNREACH (cannot connect), FERRY_EAUTH (credentials refused),
 * FERRY_EINVAL (bad conninfo). */
int pgsql_connect(struct pgsql_conn **out, const char *conninfo, const char *password,
                  const char *what, struct ferry_error *err);
void pgsql_free(struct pgsql_conn *c);

/* The label given at connect, and the scrubbed conninfo. */
const char *pgsql_what(const struct pgsql_conn *c);
const char *pgsql_conninfo(const struct pgsql_conn *c);
/* server_version_num (150004), or 0 for pgbouncer's console. */
int pgsql_server_version(const struct pgsql_conn *c);
/* The backend's pid (0 for pgbouncer). */
int pgsql_backend_pid(const struct pgsql_conn *c);
/* The SQLSTATE of the last failed query, "" if none. */
const char *pgsql_sqlstate(const struct pgsql_conn *c);
/* true if the connection is still usable. */
bool pgsql_ok(const struct pgsql_conn *c);

/* Hard deadlines (for the write pause): when on, a pgsql_wait() that
 * reaches its deadline closes the connection instead of cancelling the
 * query (PQcancel opens a new connection and blocks), and returns
 * FERRY_ETIMEDOUT; every later call on c fails with FERRY_EUNREACH and the
 * caller uses another connection.  Off by default. */
void pgsql_set_hard_deadlines(struct pgsql_conn *c, bool on);

/* Sends one query (params: nparams text values, NULL entries are SQL NULL).
 * Returns 0, FERRY_EUNREACH (connection lost), FERRY_ESTATE (a query is
 * already in flight). */
int pgsql_send(struct pgsql_conn *c, const char *sql, int nparams, const char *const *params,
               struct ferry_error *err);
/* Waits for the query sent by pgsql_send() until deadline_ms (monotonic ms,
 * 0 = none).  On success fills res (which the caller releases) from the
 * last result of the query.  Returns 0; FERRY_EREFUSED (the server's error,
 * SQLSTATE kept in res->sqlstate and the message); FERRY_ETIMEDOUT (the query
 * is cancelled and the connection drained, best effort, so it may be reused);
 * FERRY_EUNREACH.  res is always initialised and must be released. */
int pgsql_wait(struct pgsql_conn *c, int64_t deadline_ms, struct pgsql_result *res,
               struct ferry_error *err);
/* Notices: one whose text begins "ferry-" (RAISE NOTICE in ferry's own
 * SQL) is kept, the last one per connection, instead of being logged.
 * pgsql_wait_notice() waits, while the query sent by pgsql_send() runs,
 * for such a notice that begins with prefix; the query stays in flight
 * (pgsql_wait() collects its end).  Returns 0; FERRY_ESTATE (the query
 * ended first: pgsql_wait() gives its result or error); FERRY_ETIMEDOUT
 * (with hard deadlines the connection is closed, else the query still
 * runs); FERRY_EUNREACH.  pgsql_notice(): the text after prefix of the
 * last such notice, or NULL.  pgsql_busy(): a query is in flight. */
int pgsql_wait_notice(struct pgsql_conn *c, const char *prefix, int64_t deadline_ms,
                      struct ferry_error *err);
const char *pgsql_notice(const struct pgsql_conn *c, const char *prefix);
bool pgsql_busy(const struct pgsql_conn *c);
/* The query sent by pgsql_send() still runs, as far as what has arrived
 * tells (read without blocking): false once its end (a result or an error)
 * is in, or the connection is lost; pgsql_wait() then gives which. */
bool pgsql_running(struct pgsql_conn *c);
/* pgsql_send() + pgsql_wait().  res may be NULL when the rows are not
 * wanted. */
int pgsql_exec(struct pgsql_conn *c, const char *sql, int nparams, const char *const *params,
               int64_t deadline_ms, struct pgsql_result *res, struct ferry_error *err);
/* pgsql_exec() for a single value: *out is a copy (caller frees), NULL for
 * SQL NULL.  Returns FERRY_EPROTO when the result is not one row. */
int pgsql_query_value(struct pgsql_conn *c, const char *sql, int nparams, const char *const *params,
                      int64_t deadline_ms, char **out, struct ferry_error *err);

/* Runs `COPY (...) TO STDOUT` (sql is the whole COPY statement) and
 * discards the data, stopping after max_bytes.  *bytes is what was read.
 * Used to measure the copy rate of a pair.  Returns 0 or an error. */
int pgsql_copy_out_discard(struct pgsql_conn *c, const char *sql, int64_t max_bytes,
                           int64_t deadline_ms, int64_t *bytes, struct ferry_error *err);

/* Streams one table (or a part of one) from src to dst without a file:
 * out_sql is a `COPY ... TO STDOUT` run on src, in_sql a `COPY ... FROM
 * STDIN` run on dst, and every row read from the one is written to the
 * other as it arrives.  Both connections must be idle; the caller owns
 * the transactions around the COPY on each side.  c->rows and c->bytes
 * are updated atomically after each row (another thread may read them
 * with __atomic_load_n for progress).  The copy gives up when
 * *stop becomes nonzero (another worker failed; stop may be NULL) or the
 * deadline (0 = none) passes: the target's COPY is then aborted, so
 * nothing of it commits.  Returns 0; FERRY_EREFUSED (either server's
 * error, SQLSTATE in the message); FERRY_ETIMEDOUT; FERRY_ESTATE
 * (stopped); FERRY_EUNREACH. */
struct pgsql_copy_counters {
	int64_t rows;
	int64_t bytes;
};
int pgsql_copy_stream(struct pgsql_conn *src, const char *out_sql, struct pgsql_conn *dst,
                      const char *in_sql, const int *stop, int64_t deadline_ms,
                      struct pgsql_copy_counters *c, struct ferry_error *err);

/* Quoting for SQL text built by the caller.  Returns a malloc'd string. */
char *pgsql_quote_ident(const char *s);
char *pgsql_quote_literal(const char *s);
/* An int array's text form, "{1,2,3}": the non-zero of pids[0..n), then
 * the members of also (that form too, "{}", or NULL).  NULL when it has
 * none.  Malloc'd. */
char *pgsql_pid_array(const int *pids, size_t n, const char *also);

/* A copy of conninfo with every keyword that ends in "password" removed
 * (password, sslpassword; the URI form too), in libpq's normalised
 * keyword=value form.  Returns a malloc'd string; never NULL (an
 * unparsable conninfo becomes "<unparsable conninfo>"). */
char *pgsql_conninfo_scrub(const char *conninfo);
/* The value of keyword in conninfo (malloc'd), or NULL if absent. */
char *pgsql_conninfo_get(const char *conninfo, const char *keyword);
/* A copy of conninfo with keyword set to value (value NULL: removed).  The
 * result may carry a secret when keyword is "password": wipe it with
 * xfree_secret().  Returns NULL if conninfo does not parse. */
char *pgsql_conninfo_set(const char *conninfo, const char *keyword, const char *value);
/* A copy of conninfo in the same quoted form as pgsql_conninfo_set()'s,
 * without any keyword that ends in "password".  NULL if it does not parse. */
char *pgsql_conninfo_unsecret(const char *conninfo);

/* A libpq password file for a child (pg_dump, psql, pg_restore): a
 * password must never reach a child's environment (PGPASSWORD shows in
 * /proc/PID/environ) or argv.  pgsql_passfile_create() makes a private
 * folder (0700) holding one file (0600) with the line "*:*:*:*:PASSWORD"
 * (libpq manual, "The Password File": ':' and '\' escaped), and fills
 * pf->path: give the child PGPASSFILE=pf->path.  pgsql_passfile_remove()
 * wipes the file's content, removes both and frees pf's strings;
 * NULL-safe and idempotent.  Returns 0 or FERRY_EIO. */
struct pgsql_passfile {
	char *dir;
	char *path;
};
int pgsql_passfile_create(struct pgsql_passfile *pf, const char *password, struct ferry_error *err);
void pgsql_passfile_remove(struct pgsql_passfile *pf);

/* The line "*:*:*:*:PASSWORD" of a password file, ':' and '\\' escaped,
 * newline-terminated (malloc'd: wipe it with xfree_secret). */
char *pgsql_passfile_line(const char *password);

/* A pointer the connection's owner keeps with it (NULL until set). */
void pgsql_set_data(struct pgsql_conn *c, void *data);
void *pgsql_data(const struct pgsql_conn *c);

void pgsql_result_init(struct pgsql_result *res);
void pgsql_result_release(struct pgsql_result *res);
/* Cell (row, col), NULL for SQL NULL; BUG() when out of range. */
const char *pgsql_result_get(const struct pgsql_result *res, int row, int col);
/* Integer of a cell (NULL and unparsable read as def). */
int64_t pgsql_result_int(const struct pgsql_result *res, int row, int col, int64_t def);

#endif
