/*
 * pgsql.c - the libpq layer (see pgsql.h).
 *
 * One query path: pgsql_send() puts a query on the wire (simple protocol
 * without parameters, extended with them), pgsql_wait() polls the socket
 * against a deadline and collects the results, copying what callers need
 * into a struct pgsql_result.  On a deadline the query is cancelled
 * (PQcancel) and the connection drained, so a fence or a pause is never
 * held longer than the caller allows.  This is the only file that includes
 * libpq-fe.h (tests/lint/lint.sh).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "db/pgsql.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/secretfile.h"
#include "util/timeutil.h"

struct pgsql_conn {
	PGconn *pg;
	char *what;
	char *conninfo; /* scrubbed */
	char sqlstate[6];
	bool busy;
	bool hard;  /* a deadline closes the connection (pgsql_set_hard_deadlines) */
	void *data; /* the owner's (pgsql_set_data) */
	char *note; /* the last notice whose text begins "ferry-" (pgsql_notice) */
};

void pgsql_result_init(struct pgsql_result *res)
{
	memset(res, 0, sizeof(*res));
}

void pgsql_result_release(struct pgsql_result *res)
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
	pgsql_result_init(res);
}

const char *pgsql_result_get(const struct pgsql_result *res, int row, int col)
{
	if (row < 0 || row >= res->nrows || col < 0 || col >= res->ncols)
		BUG("pgsql result: cell (%d,%d) outside %dx%d", row, col, res->nrows, res->ncols);
	return res->cells[row * res->ncols + col];
}

int64_t pgsql_result_int(const struct pgsql_result *res, int row, int col, int64_t def)
{
	const char *s = pgsql_result_get(res, row, col);
	char *end;
	long long v;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || (*end && *end != '.'))
		return def;
	return v;
}

static void copy_result(struct pgsql_result *res, PGresult *r)
{
	int i, j;

	pgsql_result_release(res);
	res->nrows = PQntuples(r);
	res->ncols = PQnfields(r);
	snprintf(res->cmdtag, sizeof(res->cmdtag), "%s", PQcmdStatus(r));
	if (res->ncols > 0) {
		res->names = xcalloc((size_t)res->ncols, sizeof(char *));
		for (j = 0; j < res->ncols; j++)
			res->names[j] = xstrdup(PQfname(r, j));
	}
	if (res->nrows > 0 && res->ncols > 0) {
		res->cells = xcalloc((size_t)res->nrows * (size_t)res->ncols, sizeof(char *));
		for (i = 0; i < res->nrows; i++)
			for (j = 0; j < res->ncols; j++)
				if (!PQgetisnull(r, i, j))
					res->cells[i * res->ncols + j] =
					        xstrdup(PQgetvalue(r, i, j));
	}
}

/* libpq messages end with a newline and may span lines; keep the first. */
static void first_line(char *out, size_t outlen, const char *msg)
{
	size_t n = strcspn(msg ? msg : "", "\n");

	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, msg ? msg : "", n);
	out[n] = '\0';
}

/* libpq's keywords that hold a secret: "password", "sslpassword" (the
 * client key's passphrase), and any later one named so. */
static bool secret_keyword(const char *k)
{
	size_t n = strlen(k);

	return n >= 8 && !strcmp(k + n - 8, "password");
}

char *pgsql_conninfo_scrub(const char *conninfo)
{
	PQconninfoOption *opts, *o;
	struct buf b;
	char *errmsg = NULL;

	opts = PQconninfoParse(conninfo, &errmsg);
	if (!opts) {
		PQfreemem(errmsg);
		return xstrdup("<unparsable conninfo>");
	}
	buf_init(&b, 1 << 16);
	for (o = opts; o->keyword; o++) {
		if (!o->val || secret_keyword(o->keyword))
			continue;
		/* values are shown as given: they are not secrets once the
		 * password is gone; quote the ones with spaces. */
		if (b.len)
			buf_addch(&b, ' ');
		if (strpbrk(o->val, " '\\") || !*o->val) {
			const char *p;
			buf_addf(&b, "%s='", o->keyword);
			for (p = o->val; *p; p++) {
				if (*p == '\'' || *p == '\\')
					buf_addch(&b, '\\');
				buf_addch(&b, *p);
			}
			buf_addch(&b, '\'');
		} else {
			buf_addf(&b, "%s=%s", o->keyword, o->val);
		}
	}
	PQconninfoFree(opts);
	return buf_detach(&b, NULL);
}

char *pgsql_conninfo_get(const char *conninfo, const char *keyword)
{
	PQconninfoOption *opts, *o;
	char *errmsg = NULL, *val = NULL;

	opts = PQconninfoParse(conninfo, &errmsg);
	if (!opts) {
		PQfreemem(errmsg);
		return NULL;
	}
	for (o = opts; o->keyword; o++)
		if (!strcmp(o->keyword, keyword) && o->val)
			val = xstrdup(o->val);
	PQconninfoFree(opts);
	return val;
}

static void add_kv(struct buf *b, const char *k, const char *v)
{
	const char *p;

	if (b->len)
		buf_addch(b, ' ');
	buf_addf(b, "%s='", k);
	for (p = v; *p; p++) {
		if (*p == '\'' || *p == '\\')
			buf_addch(b, '\\');
		buf_addch(b, *p);
	}
	buf_addch(b, '\'');
}

/* conninfo in the quoted keyword='value' form, without keyword (NULL:
 * without every secret keyword), with keyword=value added when value is
 * given.  NULL when conninfo does not parse. */
static char *conninfo_rewrite(const char *conninfo, const char *keyword, const char *value)
{
	PQconninfoOption *opts, *o;
	struct buf b;
	char *errmsg = NULL, *out;

	opts = PQconninfoParse(conninfo, &errmsg);
	if (!opts) {
		PQfreemem(errmsg);
		return NULL;
	}
	buf_init(&b, 1 << 16);
	for (o = opts; o->keyword; o++)
		if (o->val && (keyword ? strcmp(o->keyword, keyword) : !secret_keyword(o->keyword)))
			add_kv(&b, o->keyword, o->val);
	if (keyword && value)
		add_kv(&b, keyword, value);
	/* the options may have held a password: wipe libpq's copy too */
	for (o = opts; o->keyword; o++)
		if (o->val && secret_keyword(o->keyword))
			explicit_bzero(o->val, strlen(o->val));
	PQconninfoFree(opts);
	out = xstrndup(b.data, b.len);
	buf_release_secret(&b);
	return out;
}

char *pgsql_conninfo_set(const char *conninfo, const char *keyword, const char *value)
{
	return conninfo_rewrite(conninfo, keyword, value);
}

char *pgsql_conninfo_unsecret(const char *conninfo)
{
	return conninfo_rewrite(conninfo, NULL, NULL);
}

char *pgsql_quote_ident(const char *s)
{
	struct buf b;

	buf_init(&b, 1 << 16);
	buf_addch(&b, '"');
	for (; *s; s++) {
		if (*s == '"')
			buf_addch(&b, '"');
		buf_addch(&b, *s);
	}
	buf_addch(&b, '"');
	return buf_detach(&b, NULL);
}

char *pgsql_quote_literal(const char *s)
{
	struct buf b;

	/* E'' form so that backslashes mean the same whatever
	 * standard_conforming_strings says. */
	buf_init(&b, 1 << 20);
	buf_adds(&b, "E'");
	for (; *s; s++) {
		if (*s == '\'' || *s == '\\')
			buf_addch(&b, *s);
		buf_addch(&b, *s);
	}
	buf_addch(&b, '\'');
	return buf_detach(&b, NULL);
}

char *pgsql_pid_array(const int *pids, size_t n, const char *also)
{
	struct buf b;
	size_t i;

	buf_init(&b, 1 << 20);
	for (i = 0; i < n; i++)
		if (pids[i])
			buf_addf(&b, ",%d", pids[i]);
	if (also && also[0] == '{' && also[1] && also[1] != '}')
		buf_addf(&b, ",%.*s", (int)strlen(also) - 2, also + 1);
	if (!b.len) {
		buf_release(&b);
		return NULL;
	}
	b.data[0] = '{';
	buf_addch(&b, '}');
	return buf_detach(&b, NULL);
}

static int sqlstate_code(const char *st)
{
	if (!strncmp(st, "28", 2))
		return FERRY_EAUTH;
	if (!strncmp(st, "08", 2))
		return FERRY_EUNREACH;
	return FERRY_EREFUSED;
}

/* A notice whose text begins "ferry-" is a message of ferry's own SQL
 * (the fence's position): kept for pgsql_notice(), not logged. */
static void notice(void *arg, const PGresult *r)
{
	struct pgsql_conn *c = arg;
	const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	char line[512];

	if (primary && !strncmp(primary, "ferry-", 6)) {
		free(c->note);
		c->note = xstrdup(primary);
		return;
	}
	first_line(line, sizeof(line), PQresultErrorMessage(r));
	log_info("%s: %s", c->what, line);
}

int pgsql_connect(struct pgsql_conn **out, const char *conninfo, const char *password,
                  const char *what, struct ferry_error *err)
{
	const char *keys[6], *vals[6];
	char *scrubbed, *timeout = NULL, msg[400];
	struct pgsql_conn *c;
	int n = 0, code;

	*out = NULL;
	scrubbed = pgsql_conninfo_scrub(conninfo);
	timeout = pgsql_conninfo_get(conninfo, "connect_timeout");
	/* expand_dbname=1: the first "dbname" value is the whole conninfo,
	 * the keywords after it override it. */
	keys[n] = "dbname";
	vals[n++] = conninfo;
	keys[n] = "application_name";
	vals[n++] = "ferry";
	if (!timeout) {
		keys[n] = "connect_timeout";
		vals[n++] = "10";
	}
	if (password) {
		keys[n] = "password";
		vals[n++] = password;
	}
	keys[n] = NULL;
	vals[n] = NULL;
	free(timeout);

	c = xcalloc(1, sizeof(*c));
	c->what = xstrdup(what);
	c->conninfo = scrubbed;
	c->pg = PQconnectdbParams(keys, vals, 1);
	if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
		const char *m = c->pg ? PQerrorMessage(c->pg) : "out of memory";
		first_line(msg, sizeof(msg), m);
		code = FERRY_EUNREACH;
		if (strstr(m, "password authentication failed") || strstr(m, "no password") ||
		    strstr(m, "authentication failed"))
			code = FERRY_EAUTH;
		else if (strstr(m, "invalid connection option") || strstr(m, "missing \"=\""))
			code = FERRY_EINVAL;
		ferry_error_set(err, code,
		                code == FERRY_EAUTH ? "check the user and the password file"
		                                    : "check that the server runs and the conninfo",
		                "%s (%s): cannot connect: %s", what, c->conninfo, msg);
		pgsql_free(c);
		return code;
	}
	/* Server notices ("created replication slot ...") are ferry's to
	 * report, not libpq's to print on stderr. */
	PQsetNoticeReceiver(c->pg, notice, c);
	*out = c;
	return 0;
}

void pgsql_free(struct pgsql_conn *c)
{
	if (!c)
		return;
	if (c->pg)
		PQfinish(c->pg);
	free(c->what);
	free(c->conninfo);
	free(c->note);
	free(c);
}

const char *pgsql_what(const struct pgsql_conn *c)
{
	return c->what;
}

const char *pgsql_conninfo(const struct pgsql_conn *c)
{
	return c->conninfo;
}

int pgsql_server_version(const struct pgsql_conn *c)
{
	return c->pg ? PQserverVersion(c->pg) : 0;
}

int pgsql_backend_pid(const struct pgsql_conn *c)
{
	return c->pg ? PQbackendPID(c->pg) : 0;
}

const char *pgsql_sqlstate(const struct pgsql_conn *c)
{
	return c->sqlstate;
}

bool pgsql_ok(const struct pgsql_conn *c)
{
	return c && c->pg && PQstatus(c->pg) == CONNECTION_OK;
}

void pgsql_set_hard_deadlines(struct pgsql_conn *c, bool on)
{
	c->hard = on;
}

/* Closes the connection at once: what a hard deadline does instead of a
 * cancel, which would open a new connection and wait for the server. */
static void abandon(struct pgsql_conn *c)
{
	if (c->pg)
		PQfinish(c->pg);
	c->pg = NULL;
	c->busy = false;
}

int pgsql_send(struct pgsql_conn *c, const char *sql, int nparams, const char *const *params,
               struct ferry_error *err)
{
	int ok;
	char msg[400];

	if (!c->pg)
		return ferry_error_set(err, FERRY_EUNREACH, "retry: the next run reconnects",
		                       "%s: the connection was closed at a deadline", c->what);
	if (c->busy)
		return ferry_error_set(err, FERRY_ESTATE, NULL, "%s: a query is already in flight",
		                       c->what);
	c->sqlstate[0] = '\0';
	if (nparams == 0)
		ok = PQsendQuery(c->pg, sql);
	else
		ok = PQsendQueryParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
	if (!ok) {
		first_line(msg, sizeof(msg), PQerrorMessage(c->pg));
		return ferry_error_set(err, FERRY_EUNREACH, "check that the server is up",
		                       "%s: cannot send query: %s", c->what, msg);
	}
	c->busy = true;
	return 0;
}

/* Waits until the socket is readable or the deadline passes.  Returns 0,
 * FERRY_ETIMEDOUT or FERRY_EUNREACH. */
static int wait_readable(struct pgsql_conn *c, int64_t deadline_ms)
{
	struct pollfd pfd;
	int64_t left;
	int rc;

	pfd.fd = PQsocket(c->pg);
	pfd.events = POLLIN;
	if (pfd.fd < 0)
		return FERRY_EUNREACH;
	for (;;) {
		left = deadline_ms ? deadline_ms - time_mono_ms() : -1;
		if (deadline_ms && left <= 0)
			return FERRY_ETIMEDOUT;
		rc = poll(&pfd, 1, left > 1000000 ? 1000000 : (int)left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return FERRY_EUNREACH;
	}
}

static void cancel_and_drain(struct pgsql_conn *c)
{
	PGcancel *cn = PQgetCancel(c->pg);
	char ebuf[256];
	PGresult *r;
	int64_t until = time_mono_ms() + 2000;

	if (cn) {
		PQcancel(cn, ebuf, sizeof(ebuf));
		PQfreeCancel(cn);
	}
	/* Drain, bounded: a cancelled query ends quickly.  Every result up to
	 * the NULL that follows ReadyForQuery must be read; libpq can be busy
	 * again between the error result and ReadyForQuery, and a connection
	 * left there refuses the next query ("another command is already in
	 * progress"). */
	for (;;) {
		while (PQisBusy(c->pg)) {
			if (wait_readable(c, until) < 0 || !PQconsumeInput(c->pg))
				return;
		}
		r = PQgetResult(c->pg);
		if (!r)
			return;
		PQclear(r);
	}
}

int pgsql_wait(struct pgsql_conn *c, int64_t deadline_ms, struct pgsql_result *res,
               struct ferry_error *err)
{
	PGresult *r;
	int code = 0, rc;
	char msg[400];
	bool got = false;

	pgsql_result_init(res);
	if (!c->busy || !c->pg)
		return ferry_error_set(err, FERRY_ESTATE, NULL, "%s: no query in flight", c->what);
	for (;;) {
		while (PQisBusy(c->pg)) {
			rc = wait_readable(c, deadline_ms);
			if (rc == FERRY_ETIMEDOUT && c->hard) {
				abandon(c);
				return ferry_error_set(err, FERRY_ETIMEDOUT,
				                       "the server or the pooler is slow; retry, "
				                       "or raise the budget",
				                       "%s: no answer in time; connection closed",
				                       c->what);
			}
			if (rc == FERRY_ETIMEDOUT) {
				cancel_and_drain(c);
				c->busy = false;
				if (!code)
					code = ferry_error_set(err, FERRY_ETIMEDOUT,
					                       "the server or the pooler is slow; "
					                       "retry, or raise the budget",
					                       "%s: query did not finish in time",
					                       c->what);
				return code;
			}
			if (rc < 0 || !PQconsumeInput(c->pg)) {
				first_line(msg, sizeof(msg), PQerrorMessage(c->pg));
				c->busy = false;
				return ferry_error_set(err, FERRY_EUNREACH,
				                       "check that the server is up",
				                       "%s: connection lost: %s", c->what, msg);
			}
		}
		r = PQgetResult(c->pg);
		if (!r)
			break;
		switch (PQresultStatus(r)) {
		case PGRES_TUPLES_OK:
		case PGRES_COMMAND_OK:
		case PGRES_EMPTY_QUERY:
			if (!code)
				copy_result(res, r);
			got = true;
			break;
		case PGRES_COPY_OUT:
		case PGRES_COPY_IN:
		case PGRES_COPY_BOTH:
			PQclear(r);
			c->busy = false;
			cancel_and_drain(c);
			return ferry_error_set(err, FERRY_EINTERNAL, NULL,
			                       "%s: COPY through pgsql_exec", c->what);
		default: {
			const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
			if (!code) {
				snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", st ? st : "");
				snprintf(res->sqlstate, sizeof(res->sqlstate), "%s", c->sqlstate);
				first_line(msg, sizeof(msg), PQresultErrorMessage(r));
				code = ferry_error_set(err, st ? sqlstate_code(st) : FERRY_EUNREACH,
				                       NULL, "%s: %s (SQLSTATE %s)", c->what, msg,
				                       st ? st : "none");
			}
			break;
		}
		}
		PQclear(r);
	}
	c->busy = false;
	if (!code && !got)
		code = ferry_error_set(err, FERRY_EUNREACH, NULL, "%s: no result: %s", c->what,
		                       PQerrorMessage(c->pg));
	return code;
}

const char *pgsql_notice(const struct pgsql_conn *c, const char *prefix)
{
	size_t n = strlen(prefix);

	return c->note && !strncmp(c->note, prefix, n) ? c->note + n : NULL;
}

int pgsql_wait_notice(struct pgsql_conn *c, const char *prefix, int64_t deadline_ms,
                      struct ferry_error *err)
{
	char msg[400];
	int rc;

	if (!c->busy || !c->pg)
		return ferry_error_set(err, FERRY_ESTATE, NULL, "%s: no query in flight", c->what);
	free(c->note);
	c->note = NULL;
	for (;;) {
		/* PQisBusy parses what has arrived, notices first */
		bool busy = PQisBusy(c->pg);
		if (pgsql_notice(c, prefix))
			return 0;
		if (!busy)
			return ferry_error_set(err, FERRY_ESTATE, NULL,
			                       "%s: the query ended without its notice", c->what);
		rc = wait_readable(c, deadline_ms);
		if (rc == FERRY_ETIMEDOUT) {
			if (c->hard)
				abandon(c);
			return ferry_error_set(err, FERRY_ETIMEDOUT,
			                       "the server is slow; retry, or raise the budget",
			                       "%s: no answer in time%s", c->what,
			                       c->hard ? "; connection closed" : "");
		}
		if (rc < 0 || !PQconsumeInput(c->pg)) {
			first_line(msg, sizeof(msg), PQerrorMessage(c->pg));
			c->busy = false;
			return ferry_error_set(err, FERRY_EUNREACH, "check that the server is up",
			                       "%s: connection lost: %s", c->what, msg);
		}
	}
}

bool pgsql_busy(const struct pgsql_conn *c)
{
	return c && c->pg && c->busy;
}

bool pgsql_running(struct pgsql_conn *c)
{
	return pgsql_busy(c) && PQconsumeInput(c->pg) && PQisBusy(c->pg);
}

int pgsql_exec(struct pgsql_conn *c, const char *sql, int nparams, const char *const *params,
               int64_t deadline_ms, struct pgsql_result *res, struct ferry_error *err)
{
	struct pgsql_result tmp;
	int rc;

	rc = pgsql_send(c, sql, nparams, params, err);
	if (rc < 0) {
		if (res)
			pgsql_result_init(res);
		return rc;
	}
	rc = pgsql_wait(c, deadline_ms, res ? res : &tmp, err);
	if (!res)
		pgsql_result_release(&tmp);
	return rc;
}

int pgsql_query_value(struct pgsql_conn *c, const char *sql, int nparams, const char *const *params,
                      int64_t deadline_ms, char **out, struct ferry_error *err)
{
	struct pgsql_result r;
	int rc;

	*out = NULL;
	rc = pgsql_exec(c, sql, nparams, params, deadline_ms, &r, err);
	if (rc == 0 && (r.nrows != 1 || r.ncols < 1))
		rc = ferry_error_set(err, FERRY_EPROTO, NULL, "%s: expected one row, got %d",
		                     c->what, r.nrows);
	if (rc == 0)
		*out = xstrdup(pgsql_result_get(&r, 0, 0));
	pgsql_result_release(&r);
	return rc;
}

static void copy_out_abort(struct pgsql_conn *c);
static int copy_error(struct pgsql_conn *c, const PGresult *r, struct ferry_error *err);

int pgsql_copy_out_discard(struct pgsql_conn *c, const char *sql, int64_t max_bytes,
                           int64_t deadline_ms, int64_t *bytes, struct ferry_error *err)
{
	PGresult *r;
	char *row = NULL, msg[400];
	int n, code = 0;

	*bytes = 0;
	r = PQexec(c->pg, sql);
	if (PQresultStatus(r) != PGRES_COPY_OUT) {
		/* the server's error, read before the result is freed */
		code = copy_error(c, r, err);
		PQclear(r);
		return code;
	}
	PQclear(r);
	for (;;) {
		n = PQgetCopyData(c->pg, &row, 0);
		if (n < 0)
			break;
		*bytes += n;
		PQfreemem(row);
		if (*bytes >= max_bytes || (deadline_ms && time_mono_ms() > deadline_ms)) {
			copy_out_abort(c); /* enough for a rate */
			return 0;
		}
	}
	if (n == -2) {
		first_line(msg, sizeof(msg), PQerrorMessage(c->pg));
		code = ferry_error_set(err, FERRY_EUNREACH, NULL, "%s: COPY: %s", c->what, msg);
	}
	while ((r = PQgetResult(c->pg)) != NULL)
		PQclear(r);
	return code;
}

/* ---- password files for children ---------------------------------------- */

void pgsql_set_data(struct pgsql_conn *c, void *data)
{
	c->data = data;
}

void *pgsql_data(const struct pgsql_conn *c)
{
	return c->data;
}

char *pgsql_passfile_line(const char *password)
{
	struct buf line;
	const char *p;
	char *out;

	buf_init(&line, 64 << 10);
	buf_adds(&line, "*:*:*:*:");
	for (p = password; *p; p++) {
		if (*p == ':' || *p == '\\')
			buf_addch(&line, '\\');
		buf_addch(&line, *p);
	}
	buf_addch(&line, '\n');
	out = xstrndup(line.data, line.len);
	buf_release_secret(&line);
	return out;
}

int pgsql_passfile_create(struct pgsql_passfile *pf, const char *password, struct ferry_error *err)
{
	struct secretfile sf;
	char *line;
	int rc;

	memset(pf, 0, sizeof(*pf));
	line = pgsql_passfile_line(password);
	rc = secretfile_create(&sf, "ferry-pass", "pgpass", line, strlen(line), err);
	xfree_secret(line, 0);
	if (rc == 0) {
		pf->dir = sf.dir;
		pf->path = sf.path;
	}
	return rc;
}

void pgsql_passfile_remove(struct pgsql_passfile *pf)
{
	struct secretfile sf;

	if (!pf)
		return;
	sf.dir = pf->dir;
	sf.path = pf->path;
	secretfile_remove(&sf);
	pf->path = pf->dir = NULL;
}

/* ---- COPY from one server to another ------------------------------------ */

/* The server's error in r, SQLSTATE kept. */
static int copy_error(struct pgsql_conn *c, const PGresult *r, struct ferry_error *err)
{
	const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	char msg[400];

	snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", st ? st : "");
	first_line(msg, sizeof(msg), PQresultErrorMessage(r));
	return ferry_error_set(err, st ? sqlstate_code(st) : FERRY_EUNREACH, NULL,
	                       "%s: COPY: %s (SQLSTATE %s)", c->what, msg, st ? st : "none");
}

/* The first result of a query just sent: its status is want (COPY OUT or
 * COPY IN), or the server's error is reported. */
static int copy_begin(struct pgsql_conn *c, const char *sql, ExecStatusType want,
                      struct ferry_error *err)
{
	PGresult *r;
	char msg[400];
	int code = 0;

	if (c->busy)
		return ferry_error_set(err, FERRY_ESTATE, NULL, "%s: a query is already in flight",
		                       c->what);
	c->sqlstate[0] = '\0';
	if (!PQsendQuery(c->pg, sql)) {
		first_line(msg, sizeof(msg), PQerrorMessage(c->pg));
		return ferry_error_set(err, FERRY_EUNREACH, "check that the server is up",
		                       "%s: cannot send COPY: %s", c->what, msg);
	}
	r = PQgetResult(c->pg);
	if (PQresultStatus(r) != want)
		code = copy_error(c, r, err);
	PQclear(r);
	if (code < 0)
		while ((r = PQgetResult(c->pg)) != NULL)
			PQclear(r);
	return code;
}

/* Collects what follows the COPY data: the command's own result.  Returns
 * 0 or the server's error (first one kept). */
static int copy_finish(struct pgsql_conn *c, int code, struct ferry_error *err)
{
	PGresult *r;

	while ((r = PQgetResult(c->pg)) != NULL) {
		ExecStatusType s = PQresultStatus(r);
		if (s != PGRES_COMMAND_OK && s != PGRES_COPY_OUT && s != PGRES_COPY_IN && !code)
			code = copy_error(c, r, err);
		PQclear(r);
		/* a COPY IN still open here would loop forever: end it */
		if (s == PGRES_COPY_IN)
			PQputCopyEnd(c->pg, "ferry: copy abandoned");
		if (s == PGRES_COPY_OUT)
			break;
	}
	return code;
}

/* Stops a COPY OUT in progress and reads what is still in flight until
 * libpq reports its end, so that the connection can still roll its
 * transaction back. */
static void copy_out_abort(struct pgsql_conn *c)
{
	PGcancel *cn = PQgetCancel(c->pg);
	char ebuf[256], *row = NULL;
	PGresult *r;

	if (cn) {
		PQcancel(cn, ebuf, sizeof(ebuf));
		PQfreeCancel(cn);
	}
	while (PQgetCopyData(c->pg, &row, 0) >= 0)
		PQfreemem(row);
	while ((r = PQgetResult(c->pg)) != NULL)
		PQclear(r);
}

int pgsql_copy_stream(struct pgsql_conn *src, const char *out_sql, struct pgsql_conn *dst,
                      const char *in_sql, const int *stop, int64_t deadline_ms,
                      struct pgsql_copy_counters *cnt, struct ferry_error *err)
{
	char *row = NULL, msg[400];
	int n, rc, code = 0;
	bool src_open = false;

	rc = copy_begin(src, out_sql, PGRES_COPY_OUT, err);
	if (rc < 0)
		return rc;
	src_open = true;
	rc = copy_begin(dst, in_sql, PGRES_COPY_IN, err);
	if (rc < 0) {
		code = rc;
		goto out;
	}
	for (;;) {
		if (stop && __atomic_load_n(stop, __ATOMIC_RELAXED)) {
			code = ferry_error_set(err, FERRY_ESTATE, NULL, "%s: copy stopped",
			                       dst->what);
			break;
		}
		n = PQgetCopyData(src->pg, &row, 1);
		if (n == 0) {
			/* nothing buffered: wait for the socket, then read more */
			rc = wait_readable(src, deadline_ms ? deadline_ms : time_mono_ms() + 1000);
			if (rc == FERRY_ETIMEDOUT && !deadline_ms)
				rc = 0; /* a second's tick to look at *stop */
			if (rc == 0 && !PQconsumeInput(src->pg))
				rc = FERRY_EUNREACH;
			if (rc < 0) {
				first_line(msg, sizeof(msg), PQerrorMessage(src->pg));
				code = ferry_error_set(
				        err, rc, "check that the server is up", "%s: COPY: %s",
				        src->what,
				        rc == FERRY_ETIMEDOUT ? "did not finish in time" : msg);
				break;
			}
			continue;
		}
		if (n == -1) { /* the COPY's data is over */
			src_open = false;
			code = copy_finish(src, 0, err);
			break;
		}
		if (n < 0) {
			first_line(msg, sizeof(msg), PQerrorMessage(src->pg));
			code = ferry_error_set(err, FERRY_EUNREACH, NULL, "%s: COPY: %s", src->what,
			                       msg);
			break;
		}
		if (PQputCopyData(dst->pg, row, n) != 1) {
			PQfreemem(row);
			first_line(msg, sizeof(msg), PQerrorMessage(dst->pg));
			code = ferry_error_set(err, FERRY_EUNREACH, NULL, "%s: COPY: %s", dst->what,
			                       msg);
			break;
		}
		PQfreemem(row);
		__atomic_add_fetch(&cnt->rows, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&cnt->bytes, n, __ATOMIC_RELAXED);
	}
	/* the target's COPY: ended when all came through, else aborted so
	 * that nothing of a partial copy can commit */
	if (PQputCopyEnd(dst->pg, code < 0 ? "ferry: the source's COPY failed" : NULL) != 1 &&
	    code == 0) {
		first_line(msg, sizeof(msg), PQerrorMessage(dst->pg));
		code = ferry_error_set(err, FERRY_EUNREACH, NULL, "%s: COPY: %s", dst->what, msg);
	}
	code = copy_finish(dst, code, err);
out:
	if (src_open)
		copy_out_abort(src);
	return code;
}
