/*
 * mariadb_conn.c - see mariadb_conn.h.  The only file that includes
 * <mysql.h>.
 *
 * Each call of the non-blocking API returns the events it waits for
 * (MYSQL_WAIT_READ/WRITE/EXCEPT, and MYSQL_WAIT_TIMEOUT when the library
 * runs a timer of its own); nb_wait() polls the socket for them, never
 * past the caller's deadline, and hands the events that happened to the
 * matching _cont call (Connector/C manual, "Non-blocking API").
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "db/mariadb_conn.h"
#include "db/pgsql.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/secretfile.h"
#include "util/timeutil.h"

struct mdb_conn {
	MYSQL *m;
	char *what;
	unsigned last_errno;
	bool broken;
};

/* ---- endpoints --------------------------------------------------------- */

int mdb_endpoint_parse(const char *conninfo, const char *what, struct mdb_endpoint *ep,
                       struct ferry_error *err)
{
	char *chk;

	memset(ep, 0, sizeof(*ep));
	/* the plan's syntax is libpq's: its parser says whether it parses */
	chk = pgsql_conninfo_scrub(conninfo ? conninfo : "");
	if (!conninfo || !strcmp(chk, "<unparsable conninfo>")) {
		free(chk);
		return ferry_error_set(err, FERRY_EINVAL,
		                       "write it as 'host=H port=P user=U dbname=D'",
		                       "%s: the connection string does not parse", what);
	}
	free(chk);
	ep->host = pgsql_conninfo_get(conninfo, "host");
	ep->port = pgsql_conninfo_get(conninfo, "port");
	ep->user = pgsql_conninfo_get(conninfo, "user");
	ep->dbname = pgsql_conninfo_get(conninfo, "dbname");
	if (ep->port) {
		char *end;
		long v = strtol(ep->port, &end, 10);
		if (*end || v <= 0 || v > 65535) {
			int rc = ferry_error_set(err, FERRY_EINVAL, "a TCP port, 1-65535",
			                         "%s: port '%.32s' is not a port", what, ep->port);
			mdb_endpoint_release(ep);
			return rc;
		}
	}
	return 0;
}

void mdb_endpoint_release(struct mdb_endpoint *ep)
{
	free(ep->host);
	free(ep->port);
	free(ep->user);
	free(ep->dbname);
	memset(ep, 0, sizeof(*ep));
}

/* ---- the non-blocking loop ------------------------------------------- */

/* Waits for the events in status.  Returns the events that happened (a
 * positive MYSQL_WAIT_* set), or FERRY_ETIMEDOUT (deadline passed),
 * FERRY_EUNREACH (poll failed). */
static int nb_wait(struct mdb_conn *c, int status, int64_t deadline)
{
	struct pollfd p = { .fd = (int)mysql_get_socket(c->m), .events = 0 };
	int64_t left;
	int timeout, rc, lib = -1, out = 0;

	for (;;) {
		left = deadline - time_mono_ms();
		if (left <= 0)
			return FERRY_ETIMEDOUT;
		timeout = left > 1000000 ? 1000000 : (int)left;
		if (status & MYSQL_WAIT_TIMEOUT) {
			lib = (int)mysql_get_timeout_value_ms(c->m);
			if (lib < timeout)
				timeout = lib;
		}
		p.events = 0;
		if (status & MYSQL_WAIT_READ)
			p.events |= POLLIN;
		if (status & MYSQL_WAIT_WRITE)
			p.events |= POLLOUT;
		if (status & MYSQL_WAIT_EXCEPT)
			p.events |= POLLPRI;
		rc = poll(&p, 1, timeout);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return FERRY_EUNREACH;
		if (rc == 0) {
			if ((status & MYSQL_WAIT_TIMEOUT) && timeout == lib)
				return MYSQL_WAIT_TIMEOUT;
			continue; /* the deadline check above ends it */
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR))
			out |= MYSQL_WAIT_READ;
		if (p.revents & (POLLOUT | POLLHUP | POLLERR))
			out |= MYSQL_WAIT_WRITE;
		if (p.revents & POLLPRI)
			out |= MYSQL_WAIT_EXCEPT;
		return out ? out : (status & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE));
	}
}

/* After a deadline or a lost connection: no half-read reply may be taken
 * for the next statement's. */
static void conn_break(struct mdb_conn *c)
{
	int fd;

	if (c->broken)
		return;
	c->broken = true;
	fd = (int)mysql_get_socket(c->m);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

static int code_of(unsigned e)
{
	switch (e) {
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_UNKNOWN_HOST:
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_SERVER_LOST_EXTENDED: return FERRY_EUNREACH;
	case ER_ACCESS_DENIED_ERROR:
	case ER_DBACCESS_DENIED_ERROR: return FERRY_EAUTH;
	default: return FERRY_EREFUSED;
	}
}

/* The error of the last call, set on err. */
static int conn_error(struct mdb_conn *c, const char *doing, struct ferry_error *err)
{
	unsigned e = mysql_errno(c->m);
	int code = code_of(e);

	c->last_errno = e;
	if (code == FERRY_EUNREACH)
		conn_break(c);
	return ferry_error_set(err, code,
	                       code == FERRY_EUNREACH ? "check that the server is up and reachable"
	                       : code == FERRY_EAUTH  ? "check the user and the password file"
	                                              : NULL,
	                       "%s: %s: %s (error %u)", c->what, doing, mysql_error(c->m), e);
}

static int timed_out(struct mdb_conn *c, const char *doing, struct ferry_error *err)
{
	conn_break(c);
	return ferry_error_set(err, FERRY_ETIMEDOUT, "the server is slow or a lock is held; retry",
	                       "%s: %s did not finish in time", c->what, doing);
}

/* ---- connect / close ------------------------------------------------- */

int mdb_connect(struct mdb_conn **out, const char *conninfo, const char *password, const char *what,
                unsigned flags, int64_t deadline, struct ferry_error *err)
{
	struct mdb_endpoint ep;
	struct mdb_conn *c;
	MYSQL *ret = NULL;
	unsigned int proto, secs;
	const char *host;
	int status, rc;
	unsigned port;

	*out = NULL;
	rc = mdb_endpoint_parse(conninfo, what, &ep, err);
	if (rc < 0)
		return rc;
	c = xcalloc(1, sizeof(*c));
	c->what = xstrdup(what);
	c->m = mysql_init(NULL);
	if (!c->m)
		BUG("mysql_init: out of memory");
	mysql_options(c->m, MYSQL_OPT_NONBLOCK, 0);
	/* a backstop only: the deadline below is what bounds the connect */
	secs = (unsigned)((deadline - time_mono_ms()) / 1000 + 1);
	mysql_options(c->m, MYSQL_OPT_CONNECT_TIMEOUT, &secs);
	mysql_options(c->m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_optionsv(c->m, MYSQL_OPT_CONNECT_ATTR_ADD, "program_name", "ferry");
	/* mdb_quote() escapes backslashes: make sure they are escapes here */
	mysql_options(c->m, MYSQL_INIT_COMMAND,
	              "SET SESSION sql_mode=REPLACE(@@sql_mode,'NO_BACKSLASH_ESCAPES','')");
	/* libpq's meaning of host: a path is a socket, anything else TCP
	 * (Connector/C would take "localhost" as the default socket) */
	host = ep.host ? ep.host : "127.0.0.1";
	proto = host[0] == '/' ? MYSQL_PROTOCOL_SOCKET : MYSQL_PROTOCOL_TCP;
	mysql_options(c->m, MYSQL_OPT_PROTOCOL, &proto);
	port = ep.port ? (unsigned)strtoul(ep.port, NULL, 10) : 3306;
	status = mysql_real_connect_start(&ret, c->m, host[0] == '/' ? NULL : host, ep.user,
	                                  password, (flags & MDB_NO_DB) ? NULL : ep.dbname, port,
	                                  host[0] == '/' ? host : NULL, 0);
	while (status) {
		int ev = nb_wait(c, status, deadline);
		if (ev < 0) {
			rc = ferry_error_set(err, ev == FERRY_ETIMEDOUT ? FERRY_ETIMEDOUT : ev,
			                     "check that the server is up and reachable",
			                     "%s: no connection in time", what);
			goto fail;
		}
		status = mysql_real_connect_cont(&ret, c->m, ev);
	}
	if (!ret) {
		rc = conn_error(c, "cannot connect", err);
		if (rc == FERRY_EREFUSED)
			rc = FERRY_EUNREACH;
		err->code = rc;
		goto fail;
	}
	mdb_endpoint_release(&ep);
	*out = c;
	return 0;
fail:
	mdb_endpoint_release(&ep);
	mdb_free(c);
	return rc;
}

void mdb_free(struct mdb_conn *c)
{
	int status;
	int64_t until;

	if (!c)
		return;
	if (c->m) {
		until = time_mono_ms() + 100;
		if (c->broken || mysql_get_socket(c->m) < 0) {
			mysql_close(c->m); /* nothing to send on a dead socket */
		} else {
			status = mysql_close_start(c->m);
			while (status) {
				int ev = nb_wait(c, status, until);
				if (ev < 0) {
					conn_break(c);
					ev = MYSQL_WAIT_READ | MYSQL_WAIT_WRITE;
				}
				status = mysql_close_cont(c->m, ev);
			}
		}
	}
	free(c->what);
	free(c);
}

/* ---- statements ------------------------------------------------------ */

void mdb_result_release(struct mdb_result *res)
{
	int i;

	if (!res)
		return;
	for (i = 0; i < res->nrows * res->ncols; i++)
		free(res->cells[i]);
	for (i = 0; i < res->ncols; i++)
		free(res->names[i]);
	free(res->cells);
	free(res->names);
	memset(res, 0, sizeof(*res));
}

static void copy_result(MYSQL_RES *r, struct mdb_result *res)
{
	MYSQL_FIELD *f = mysql_fetch_fields(r);
	MYSQL_ROW row;
	unsigned long *len;
	int i = 0, j;

	res->ncols = (int)mysql_num_fields(r);
	res->nrows = (int)mysql_num_rows(r);
	res->names = xcalloc((size_t)res->ncols + 1, sizeof(char *));
	for (j = 0; j < res->ncols; j++)
		res->names[j] = xstrdup(f[j].name);
	res->cells = xcalloc((size_t)res->nrows * (size_t)res->ncols + 1, sizeof(char *));
	/* a stored result is in memory: fetching does no I/O */
	while (i < res->nrows && (row = mysql_fetch_row(r))) {
		len = mysql_fetch_lengths(r);
		for (j = 0; j < res->ncols; j++)
			if (row[j])
				res->cells[i * res->ncols + j] = xstrndup(row[j], len[j]);
		i++;
	}
	res->nrows = i;
}

/* The continuations nb_finish() drives. */
enum nb_op {
	NB_QUERY,
	NB_STORE,
	NB_NEXT
};

/* Drives a call of the non-blocking API to its end: status is what its
 * _start returned, out its result (int * for NB_QUERY and NB_NEXT,
 * MYSQL_RES ** for NB_STORE).  Returns 0, or FERRY_ETIMEDOUT /
 * FERRY_EUNREACH with the connection shut down. */
static int nb_finish(struct mdb_conn *c, enum nb_op op, int status, void *out, int64_t deadline,
                     const char *doing, struct ferry_error *err)
{
	while (status) {
		int ev = nb_wait(c, status, deadline);
		if (ev == FERRY_ETIMEDOUT)
			return timed_out(c, doing, err);
		if (ev < 0) {
			conn_break(c);
			return ferry_error_set(err, FERRY_EUNREACH, NULL, "%s: connection lost",
			                       c->what);
		}
		switch (op) {
		case NB_QUERY: status = mysql_real_query_cont(out, c->m, ev); break;
		case NB_STORE: status = mysql_store_result_cont(out, c->m, ev); break;
		case NB_NEXT: status = mysql_next_result_cont(out, c->m, ev); break;
		}
	}
	return 0;
}

/* The current result of c: its rows into res when res has none yet (the
 * first result set of a statement is the one a caller gets). */
static int take_result(struct mdb_conn *c, int64_t deadline, struct mdb_result *res,
                       struct ferry_error *err)
{
	MYSQL_RES *r = NULL;
	int rc;

	if (mysql_field_count(c->m) == 0) {
		if (res && !res->ncols)
			res->affected = (int64_t)mysql_affected_rows(c->m);
		return 0;
	}
	rc = nb_finish(c, NB_STORE, mysql_store_result_start(&r, c->m), &r, deadline,
	               "reading a result", err);
	if (rc < 0)
		return rc;
	if (!r)
		return conn_error(c, "reading a result", err);
	if (res && !res->ncols)
		copy_result(r, res);
	mysql_free_result(r);
	return 0;
}

static int exec_all(struct mdb_conn *c, const char *sql, int64_t deadline, struct mdb_result *res,
                    struct ferry_error *err)
{
	int ret = 0, rc;

	if (c->broken)
		return ferry_error_set(err, FERRY_EUNREACH, "reconnect",
		                       "%s: the connection was lost earlier", c->what);
	c->last_errno = 0;
	rc = nb_finish(c, NB_QUERY,
	               mysql_real_query_start(&ret, c->m, sql, (unsigned long)strlen(sql)), &ret,
	               deadline, "a statement", err);
	if (rc < 0)
		return rc;
	if (ret)
		return conn_error(c, "statement refused", err);
	rc = take_result(c, deadline, res, err);
	/* a compound statement (BEGIN NOT ATOMIC ... END) that SELECTs sends
	 * its result sets, then the status of the whole: every one is read,
	 * and an error in any is the statement's */
	while (rc == 0 && mysql_more_results(c->m)) {
		rc = nb_finish(c, NB_NEXT, mysql_next_result_start(&ret, c->m), &ret, deadline,
		               "a statement", err);
		if (rc < 0)
			break;
		if (ret > 0)
			rc = conn_error(c, "statement refused", err);
		else if (ret == 0)
			rc = take_result(c, deadline, res, err);
	}
	return rc;
}

int mdb_exec(struct mdb_conn *c, const char *sql, int64_t deadline, struct mdb_result *res,
             struct ferry_error *err)
{
	struct mdb_result mine;
	int rc;

	if (!res)
		res = &mine;
	memset(res, 0, sizeof(*res));
	rc = exec_all(c, sql, deadline, res, err);
	if (rc < 0 || res == &mine)
		mdb_result_release(res);
	return rc;
}

int mdb_value(struct mdb_conn *c, const char *sql, int64_t deadline, char **out,
              struct ferry_error *err)
{
	struct mdb_result r;
	int rc;

	*out = NULL;
	rc = mdb_exec(c, sql, deadline, &r, err);
	if (rc == 0 && r.nrows > 0 && r.ncols > 0)
		*out = xstrdup(r.cells[0]);
	mdb_result_release(&r);
	return rc;
}

const char *mdb_what(const struct mdb_conn *c)
{
	return c->what;
}

unsigned mdb_errno(const struct mdb_conn *c)
{
	return c->last_errno;
}

unsigned long mdb_thread_id(const struct mdb_conn *c)
{
	return mysql_thread_id(c->m);
}

bool mdb_ok(const struct mdb_conn *c)
{
	return c && !c->broken;
}

const char *mdb_result_get(const struct mdb_result *res, int row, int col)
{
	if (row < 0 || row >= res->nrows || col < 0 || col >= res->ncols)
		BUG("mdb_result_get(%d, %d) outside %dx%d", row, col, res->nrows, res->ncols);
	return res->cells[row * res->ncols + col];
}

int mdb_result_col(const struct mdb_result *res, const char *name)
{
	int j;

	for (j = 0; j < res->ncols; j++)
		if (!strcasecmp(res->names[j], name))
			return j;
	return -1;
}

const char *mdb_result_named(const struct mdb_result *res, int row, const char *name)
{
	int j = mdb_result_col(res, name);

	return j < 0 || row >= res->nrows ? NULL : res->cells[row * res->ncols + j];
}

int64_t mdb_result_int(const struct mdb_result *res, int row, int col, int64_t def)
{
	const char *v = mdb_result_get(res, row, col);
	char *end;
	long long n;

	if (!v || !*v)
		return def;
	errno = 0;
	n = strtoll(v, &end, 10);
	return errno || *end ? def : (int64_t)n;
}

/* ---- quoting --------------------------------------------------------- */

char *mdb_quote(const char *text)
{
	struct buf b;
	const char *p;

	buf_init(&b, (size_t)-1 / 2);
	buf_addch(&b, '\'');
	/* ferry's sessions run without NO_BACKSLASH_ESCAPES (mdb_connect's
	 * init command), so a backslash escapes and is doubled itself */
	for (p = text; *p; p++) {
		if (*p == '\'' || *p == '\\')
			buf_addch(&b, *p);
		buf_addch(&b, *p);
	}
	buf_addch(&b, '\'');
	return buf_detach(&b, NULL);
}

char *mdb_ident(const char *name)
{
	struct buf b;
	const char *p;

	buf_init(&b, (size_t)-1 / 2);
	buf_addch(&b, '`');
	for (p = name; *p; p++) {
		if (*p == '`')
			buf_addch(&b, '`');
		buf_addch(&b, *p);
	}
	buf_addch(&b, '`');
	return buf_detach(&b, NULL);
}

/* ---- option files for children --------------------------------------- */

/* A value of an option file, quoted (my_print_defaults' syntax: a quoted
 * value ends at the same quote, backslash escapes inside). */
static void opt_line(struct buf *b, const char *key, const char *val)
{
	const char *p;

	buf_addf(b, "%s=\"", key);
	for (p = val; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_addch(b, '\\');
		buf_addch(b, *p);
	}
	buf_adds(b, "\"\n");
}

int mdb_optfile_create(struct mdb_optfile *of, const struct mdb_endpoint *ep, const char *password,
                       struct ferry_error *err)
{
	struct secretfile sf;
	struct buf text;
	int rc;

	memset(of, 0, sizeof(*of));
	buf_init(&text, 64 << 10);
	buf_adds(&text, "[client]\n");
	if (ep->host && ep->host[0] == '/') {
		opt_line(&text, "socket", ep->host);
		buf_adds(&text, "protocol=socket\n");
	} else {
		opt_line(&text, "host", ep->host ? ep->host : "127.0.0.1");
		buf_adds(&text, "protocol=tcp\n");
		opt_line(&text, "port", ep->port ? ep->port : "3306");
	}
	if (ep->user)
		opt_line(&text, "user", ep->user);
	if (password)
		opt_line(&text, "password", password);
	rc = secretfile_create(&sf, "ferry-my", "my.cnf", text.data, text.len, err);
	buf_release_secret(&text);
	if (rc == 0) {
		of->dir = sf.dir;
		of->path = sf.path;
	}
	return rc;
}

void mdb_optfile_remove(struct mdb_optfile *of)
{
	struct secretfile sf;

	if (!of)
		return;
	sf.dir = of->dir;
	sf.path = of->path;
	secretfile_remove(&sf);
	of->path = of->dir = NULL;
}
