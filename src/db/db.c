/*
 * db.c - the engine table and the result helpers of db.h.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/mariadb.h"
#include "util/buf.h"
#include "util/mem.h"

static const struct db_engine *const engines[] = {
	&db_engine_postgresql,
	&db_engine_mariadb,
	&db_engine_redis,
};

const struct db_engine *db_engine_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(engines) / sizeof(engines[0]); i++)
		if (!strcmp(engines[i]->name, name))
			return engines[i];
	return NULL;
}

void db_checks_add(struct db_checks *c, const char *name, enum db_check_status st,
                   const char *prevents, const char *fmt, ...)
{
	struct db_check *k;
	struct buf b;
	va_list ap;

	XGROW(c->v, c->alloc, c->n + 1);
	k = &c->v[c->n++];
	buf_init(&b, 1 << 16);
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	k->name = xstrdup(name);
	k->status = st;
	k->message = buf_detach(&b, NULL);
	k->prevents = xstrdup(prevents ? prevents : "");
}

const struct db_check *db_checks_find(const struct db_checks *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (!strcmp(c->v[i].name, name))
			return &c->v[i];
	return NULL;
}

enum db_check_status db_checks_worst(const struct db_checks *c)
{
	enum db_check_status w = DB_CHECK_OK;
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->v[i].status > w)
			w = c->v[i].status;
	return w;
}

const char *db_check_status_name(enum db_check_status st)
{
	switch (st) {
	case DB_CHECK_OK: return "ok";
	case DB_CHECK_WARN: return "warn";
	case DB_CHECK_FAIL: return "fail";
	}
	return "?";
}

void db_checks_release(struct db_checks *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->v[i].name);
		free(c->v[i].message);
		free(c->v[i].prevents);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}

void db_progress_release(struct db_progress *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		free(p->v[i].name);
	free(p->v);
	memset(p, 0, sizeof(*p));
}

void db_verify_release(struct db_verify *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		free(v->v[i].name);
	free(v->v);
	memset(v, 0, sizeof(*v));
}

void db_schema_diff_release(struct db_schema_diff *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->v[i].object);
		free(d->v[i].old);
		free(d->v[i].new);
		free(d->v[i].message);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}
