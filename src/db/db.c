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
	memset(k, 0, sizeof(*k));
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

int db_wal_verdict(const struct db_engine *eng, void *h, enum db_direction dir, int64_t alarm,
                   int64_t limit, struct db_slot_wal *w, int64_t *alarm_at, int64_t *limit_at,
                   struct ferry_error *err)
{
	int rc;

	w->retained = w->keep_limit = -1;
	*alarm_at = *limit_at = 0;
	if (!eng->slot_wal)
		return DB_WAL_OK;
	rc = eng->slot_wal(h, dir, w, err);
	if (rc < 0)
		return rc;
	/* the server invalidates a slot past its own cap, which ends
	 * replication just the same, but silently: stop short of it */
	if (!limit)
		limit = w->keep_limit > 0 ? w->keep_limit / 10 * 9 : 32LL << 30;
	if (!alarm)
		alarm = w->keep_limit > 0 ? w->keep_limit / 2 : 8LL << 30;
	if (alarm > limit)
		alarm = limit;
	*alarm_at = alarm;
	*limit_at = limit;
	if (w->retained < 0 || w->retained < alarm)
		return DB_WAL_OK;
	return w->retained < limit ? DB_WAL_ALARM : DB_WAL_DROPPED;
}

int db_wal_guard(const struct db_engine *eng, void *h, enum db_direction dir, int64_t alarm,
                 int64_t limit, struct db_slot_wal *w, int64_t *alarm_at, int64_t *limit_at,
                 struct ferry_error *err)
{
	struct ferry_error e2 = { 0 };
	int rc;

	rc = db_wal_verdict(eng, h, dir, alarm, limit, w, alarm_at, limit_at, err);
	if (rc != DB_WAL_DROPPED)
		return rc;
	limit = *limit_at;
	rc = eng->teardown(h, &e2);
	if (rc < 0)
		return ferry_error_set(err, rc, e2.hint,
		                       "the replication slot holds back %lld MB of WAL, past the "
		                       "limit of %lld MB, and could not be dropped: %s",
		                       (long long)(w->retained >> 20), (long long)(limit >> 20),
		                       e2.msg);
	if (dir == DB_FORWARD)
		ferry_error_set(err, FERRY_ECHECK,
		                "find why replication stalled (the new server down, an apply "
		                "error), then 'ferry run' starts the initial sync again",
		                "the replication slot held back %lld MB of WAL, past the limit of "
		                "%lld MB: replication was stopped and its slot dropped so that the "
		                "writer's disk does not fill; this costs a new initial sync",
		                (long long)(w->retained >> 20), (long long)(limit >> 20));
	else
		ferry_error_set(
		        err, FERRY_ECHECK,
		        "the new database stays the writer; 'ferry run' decommissions",
		        "the reverse replication slot held back %lld MB of WAL on new, past "
		        "the limit of %lld MB: the reverse stream was stopped and its slot "
		        "dropped so that new's disk does not fill; this costs the rollback "
		        "(writes made on new can no longer be carried back to old)",
		        (long long)(w->retained >> 20), (long long)(limit >> 20));
	return DB_WAL_DROPPED;
}
