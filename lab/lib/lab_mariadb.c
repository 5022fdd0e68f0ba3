/*
 * lab_mariadb.c - the lab's MariaDB client (lab_mariadb.h): the one file of
 * lab/ that includes Connector/C.
 *
 * The blocking API with second-granularity timeouts is right here: the lab
 * app is a plain application, and its worker thread waiting on a paused
 * database is what the write-pause measurement has to see.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "lab_mariadb.h"
#include "util/mem.h"
#include "util/timeutil.h"

enum {
	CONNECT_TIMEOUT_S = 2,
	RW_TIMEOUT_S = 10,
	RETRY_GAP_MS = 20, /* between two attempts on a refused connection */
};

struct lab_my {
	MYSQL *conn;
	struct lab_url url;
	char *password;
	char *program;
};

struct lab_my *lab_my_new(const struct lab_url *u, const char *password, const char *program)
{
	struct lab_my *m = xcalloc(1, sizeof(*m));

	m->url = *u;
	m->password = xstrdup(password ? password : "");
	m->program = xstrdup(program);
	return m;
}

static void disconnect(struct lab_my *m)
{
	if (m->conn)
		mysql_close(m->conn);
	m->conn = NULL;
}

void lab_my_free(struct lab_my *m)
{
	if (!m)
		return;
	disconnect(m);
	explicit_bzero(m->password, strlen(m->password));
	free(m->password);
	free(m->program);
	free(m);
}

static int fail(struct lab_my *m, const char *what, struct ferry_error *err)
{
	unsigned no = m->conn ? mysql_errno(m->conn) : 0;
	int code = no == ER_ACCESS_DENIED_ERROR               ? FERRY_EAUTH
	           : no >= CR_MIN_ERROR && no <= CR_MAX_ERROR ? FERRY_EUNREACH
	                                                      : FERRY_EREFUSED;

	return ferry_error_set(err, code, NULL, "mariadb %s: %s: %s", m->url.shown, what,
	                       m->conn ? mysql_error(m->conn) : "out of memory");
}

static int connect_once(struct lab_my *m, struct ferry_error *err)
{
	unsigned int ct = CONNECT_TIMEOUT_S, rw = RW_TIMEOUT_S;
	int rc;

	if (m->conn)
		return 0;
	m->conn = mysql_init(NULL);
	if (!m->conn)
		return fail(m, "connect", err);
	mysql_options(m->conn, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
	mysql_options(m->conn, MYSQL_OPT_READ_TIMEOUT, &rw);
	mysql_options(m->conn, MYSQL_OPT_WRITE_TIMEOUT, &rw);
	mysql_optionsv(m->conn, MYSQL_OPT_CONNECT_ATTR_ADD, "program_name", m->program);
	if (mysql_real_connect(m->conn, m->url.host, m->url.user[0] ? m->url.user : NULL,
	                       m->password, m->url.database[0] ? m->url.database : NULL,
	                       m->url.port, NULL, 0)) {
		return 0;
	}
	rc = fail(m, "connect", err);
	disconnect(m);
	return rc;
}

/* A failure worth a new connection and another attempt. */
static bool retryable(unsigned no)
{
	return no == CR_SERVER_GONE_ERROR || no == CR_SERVER_LOST || no == CR_CONN_HOST_ERROR ||
	       no == CR_CONNECTION_ERROR || no == ER_OPTION_PREVENTS_STATEMENT ||
	       no == ER_CONNECTION_KILLED || no == ER_SERVER_SHUTDOWN ||
	       no == CR_SERVER_LOST_EXTENDED;
}

/* Runs sql (no result set) until it succeeds, a non-retryable error, or
 * retry_ms have passed. */
static int exec_retry(struct lab_my *m, const char *sql, int retry_ms, struct ferry_error *err)
{
	int64_t deadline = time_mono_ms() + retry_ms;

	for (;;) {
		unsigned no = CR_CONNECTION_ERROR;
		int rc = connect_once(m, err);

		if (rc == 0) {
			if (mysql_real_query(m->conn, sql, strlen(sql)) == 0)
				return 0;
			no = mysql_errno(m->conn);
			rc = fail(m, "statement", err);
			disconnect(m); /* the next attempt starts clean */
		}
		if (rc == FERRY_EAUTH || !retryable(no) || time_mono_ms() >= deadline)
			return rc;
		if (no != CR_SERVER_GONE_ERROR && no != CR_SERVER_LOST) {
			struct timespec ts = { 0, RETRY_GAP_MS * 1000000L };

			nanosleep(&ts, NULL);
		}
	}
}

/* s as a hexadecimal literal, X'...': mysql_hex_string needs no connection
 * (mysql_escape_string would need the library's character set set up), and
 * nothing in s can end the literal. */
static char *quoted(const char *s)
{
	size_t n = strlen(s);
	char *q = xmalloc(2 * n + 4);
	unsigned long len;

	q[0] = 'X';
	q[1] = '\'';
	len = mysql_hex_string(q + 2, s, (unsigned long)n);
	q[len + 2] = '\'';
	q[len + 3] = '\0';
	return q;
}

int lab_my_payment(struct lab_my *m, const char *id, long long amount_cents, const char *served_by,
                   int retry_ms, struct ferry_error *err)
{
	char *qid = quoted(id), *qby = quoted(served_by), *sql;
	int rc;

	sql = xasprintf("INSERT IGNORE INTO payments (id, amount_cents, served_by) "
	                "VALUES (%s, %lld, %s)",
	                qid, amount_cents, qby);
	rc = exec_retry(m, sql, retry_ms, err);
	free(sql);
	free(qid);
	free(qby);
	return rc;
}

/* Runs sql and hands back its result (caller frees), or NULL with err. */
static MYSQL_RES *query(struct lab_my *m, const char *sql, bool stream, struct ferry_error *err)
{
	MYSQL_RES *res;

	if (connect_once(m, err) < 0)
		return NULL;
	if (mysql_real_query(m->conn, sql, strlen(sql)) != 0) {
		fail(m, "query", err);
		disconnect(m);
		return NULL;
	}
	res = stream ? mysql_use_result(m->conn) : mysql_store_result(m->conn);
	if (!res) {
		fail(m, "query", err);
		disconnect(m);
	}
	return res;
}

int lab_my_probe(struct lab_my *m, bool *has_table, bool *read_only, struct ferry_error *err)
{
	MYSQL_RES *res =
	        query(m,
	              "SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE "
	              "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'payments'), @@read_only",
	              false, err);
	MYSQL_ROW row;

	if (!res)
		return err ? err->code : FERRY_EUNREACH;
	row = mysql_fetch_row(res);
	*has_table = row && row[0] && strcmp(row[0], "0") != 0;
	*read_only = row && row[1] && strcmp(row[1], "0") != 0;
	mysql_free_result(res);
	return 0;
}

int lab_my_holds(struct lab_my *m, const char *id, bool *held, struct ferry_error *err)
{
	char *q, *sql;
	MYSQL_RES *res;

	q = quoted(id);
	sql = xasprintf("SELECT 1 FROM payments WHERE id = %s", q);
	free(q);
	res = query(m, sql, false, err);
	free(sql);
	if (!res)
		return err ? err->code : FERRY_EUNREACH;
	*held = mysql_num_rows(res) == 1;
	mysql_free_result(res);
	return 0;
}

int lab_my_ids(struct lab_my *m, const char *prefix, lab_id_fn fn, void *arg,
               struct ferry_error *err)
{
	char *q, *sql;
	MYSQL_RES *res;
	MYSQL_ROW row;

	q = quoted(prefix);
	/* LEFT(), not LIKE: a prefix's _ and % are not wildcards. */
	sql = xasprintf("SELECT id FROM payments WHERE LEFT(id, CHAR_LENGTH(%s)) = %s", q, q);
	free(q);
	res = query(m, sql, true, err);
	free(sql);
	if (!res)
		return err ? err->code : FERRY_EUNREACH;
	while ((row = mysql_fetch_row(res)))
		if (row[0])
			fn(arg, row[0]);
	if (mysql_errno(m->conn)) {
		int rc = fail(m, "scan payments", err);

		mysql_free_result(res);
		disconnect(m);
		return rc;
	}
	mysql_free_result(res);
	return 0;
}
