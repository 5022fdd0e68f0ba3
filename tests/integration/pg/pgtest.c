/*
 * pgtest.c - the PostgreSQL test binaries' shared set-up (see pgtest.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db/pgsql.h"
#include "pgtest.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

struct pgtest PGT;

int pgtest_port(const char *env, int def)
{
	const char *v = getenv(env);
	return v ? (int)strtol(v, NULL, 10) : def;
}

void pgtest_ci(char *out, size_t size, int port, const char *dbname, const char *user)
{
	snprintf(out, size, "host=127.0.0.1 port=%d dbname=%s user=%s", port, dbname, user);
}

int pgtest_init(const char *dir, int old_port, int new_port)
{
	struct buf b;
	char *path = xasprintf("%s/ferry.pw", dir);

	buf_init(&b, 4096);
	if (buf_read_file(&b, path) < 0) {
		fprintf(stderr, "cannot read %s\n", path);
		free(path);
		buf_release_secret(&b);
		return -1;
	}
	free(path);
	while (b.len && b.data[b.len - 1] == '\n')
		b.data[--b.len] = '\0';
	PGT.pw = xstrdup(b.data);
	buf_release_secret(&b);
	PGT.dir = xstrdup(dir);
	PGT.old_port = pgtest_port("PG_OLD_PORT", old_port);
	PGT.new_port = pgtest_port("PG_NEW_PORT", new_port);
	pgtest_ci(PGT.old_ci, sizeof(PGT.old_ci), PGT.old_port, "shop", "ferry");
	pgtest_ci(PGT.new_ci, sizeof(PGT.new_ci), PGT.new_port, "shop", "ferry");
	PGT.sql_ms = 60000;
	PGT.val_ms = 60000;
	return 0;
}

void pgtest_config(struct db_config *cfg)
{
	cfg->name = "main";
	cfg->old_conninfo = PGT.old_ci;
	cfg->new_conninfo = PGT.new_ci;
	cfg->old_password = PGT.pw;
	cfg->new_password = PGT.pw;
}

void pgtest_release(void)
{
	xfree_secret(PGT.pw, 0);
	free(PGT.dir);
	PGT.pw = PGT.dir = NULL;
}

static struct pgsql_conn *connect_to(const char *ci, struct ferry_error *err)
{
	struct pgsql_conn *c = NULL;

	if (pgsql_connect(&c, ci, strstr(ci, "pgbouncer") ? NULL : PGT.pw, "test", err) < 0)
		return NULL;
	return c;
}

static char *format(const char *fmt, va_list ap)
{
	char *q;

	if (vasprintf(&q, fmt, ap) < 0)
		abort();
	return q;
}

static void run(const char *ci, bool rw, const char *fmt, va_list ap)
{
	struct ferry_error err = { 0 };
	struct pgsql_conn *c = connect_to(ci, &err);
	char *q;

	if (!c)
		fail_msg("connect: %s", err.msg);
	q = format(fmt, ap);
	if ((rw && pgsql_exec(c, "SET default_transaction_read_only = off", 0, NULL, 0, NULL,
	                      &err) < 0) ||
	    pgsql_exec(c, q, 0, NULL, time_mono_ms() + PGT.sql_ms, NULL, &err) < 0)
		fail_msg("%s: %s", q, err.msg);
	free(q);
	pgsql_free(c);
}

void pgtest_sql(const char *ci, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	run(ci, false, fmt, ap);
	va_end(ap);
}

void pgtest_sql_rw(const char *ci, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	run(ci, true, fmt, ap);
	va_end(ap);
}

/* q's first value into *v (NULL for SQL NULL); -1 on an error (in err) */
static int query(const char *ci, const char *q, char **v, struct ferry_error *err)
{
	struct pgsql_conn *c = connect_to(ci, err);
	int rc;

	*v = NULL;
	if (!c)
		return -1;
	rc = pgsql_query_value(c, q, 0, NULL, time_mono_ms() + PGT.val_ms, v, err);
	pgsql_free(c);
	return rc < 0 ? -1 : 0;
}

static char *value(const char *ci, const char *fmt, va_list ap)
{
	struct ferry_error err = { 0 };
	char *q = format(fmt, ap), *v;

	if (query(ci, q, &v, &err) < 0)
		fail_msg("%s: %s", q, err.msg);
	free(q);
	return v;
}

static int64_t number(char *v)
{
	int64_t n = v ? strtoll(v, NULL, 10) : -1;

	free(v);
	return n;
}

char *pgtest_str(const char *ci, const char *fmt, ...)
{
	va_list ap;
	char *v;

	va_start(ap, fmt);
	v = value(ci, fmt, ap);
	va_end(ap);
	return v ? v : xstrdup("");
}

int64_t pgtest_val(const char *ci, const char *fmt, ...)
{
	va_list ap;
	char *v;

	va_start(ap, fmt);
	v = value(ci, fmt, ap);
	va_end(ap);
	return number(v);
}

int64_t pgtest_val_try(const char *ci, const char *q)
{
	struct ferry_error err = { 0 };
	char *v;

	if (query(ci, q, &v, &err) < 0)
		return INT64_MIN;
	return number(v);
}
