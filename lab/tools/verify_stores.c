/*
 * verify_stores.c - lab/verify's MariaDB and Redis (verify_stores.h),
 * through lab/lib's clients.
 */
#include <stdio.h>
#include <string.h>

#include "lab_mariadb.h"
#include "lab_redis.h"
#include "verify_stores.h"

void store_init(struct store *st, enum store_kind kind)
{
	memset(st, 0, sizeof(*st));
	st->kind = kind;
	st->name = kind == STORE_MARIADB ? "mariadb" : "redis";
}

int store_add(struct store *st, const char *url, struct ferry_error *err)
{
	struct store_server *s;

	if (st->nservers == STORE_MAX_SERVERS)
		return ferry_error_set(err, FERRY_EINVAL, NULL, "at most %d --%s",
		                       STORE_MAX_SERVERS, st->name);
	s = &st->servers[st->nservers];
	if (lab_url_parse(url, st->name, st->kind == STORE_MARIADB ? 3306 : 6379, &s->url, err) < 0)
		return err->code;
	st->nservers++;
	return 0;
}

int store_password_file(struct store *st, const char *path, struct ferry_error *err)
{
	return lab_password_read(path, st->password, sizeof(st->password), err);
}

static void probe(struct store *st, struct store_server *s)
{
	struct ferry_error err = { 0 };
	bool table = false, flag = false;
	int rc;

	if (st->kind == STORE_MARIADB) {
		s->my = lab_my_new(&s->url, st->password, "ferry-lab-verify");
		rc = lab_my_probe(s->my, &table, &flag, &err);
		s->usable = rc == 0 && table;
		s->candidate = s->usable && !flag;
		if (rc == 0)
			snprintf(s->why, sizeof(s->why), "%s",
			         !table ? "no table payments"
			         : flag ? "read_only"
			                : "writable");
	} else {
		s->redis = lab_redis_new(&s->url, st->password);
		rc = lab_redis_probe(s->redis, &flag, &err);
		s->usable = rc == 0;
		s->candidate = s->usable && flag;
		if (rc == 0)
			snprintf(s->why, sizeof(s->why), "%s", flag ? "master" : "replica");
	}
	if (rc < 0)
		snprintf(s->why, sizeof(s->why), "cannot read: %s", err.msg);
}

static bool holds(struct store *st, struct store_server *s, const char *id)
{
	bool held = false;

	if (st->kind == STORE_MARIADB)
		return lab_my_holds(s->my, id, &held, NULL) == 0 && held;
	return lab_redis_holds(s->redis, id, &held, NULL) == 0 && held;
}

int store_choose(struct store *st, const char *last_acked, struct ferry_error *err)
{
	size_t ncand = 0, nusable = 0;
	struct store_server *pick = NULL;

	for (size_t i = 0; i < st->nservers; i++) {
		struct store_server *s = &st->servers[i];

		probe(st, s);
		nusable += s->usable;
		ncand += s->candidate;
		if (s->candidate && !pick)
			pick = s;
	}
	if (nusable == 0)
		return ferry_error_set(err, FERRY_EUNREACH, "check the URLs and the password file",
		                       "%s: no server could be read (%s)", st->name,
		                       st->servers[0].why);
	if (ncand == 1) {
		st->primary = pick;
		snprintf(st->primary_why, sizeof(st->primary_why), "the only %s",
		         st->kind == STORE_MARIADB ? "writable server" : "master");
		return 0;
	}
	/* Ambiguous: the one that holds the most recent acknowledged write. */
	pick = NULL;
	for (size_t i = 0; i < st->nservers && last_acked && !pick; i++) {
		struct store_server *s = &st->servers[i];

		if (s->usable && (s->candidate || ncand == 0) && holds(st, s, last_acked))
			pick = s;
	}
	for (size_t i = 0; i < st->nservers && !pick; i++)
		if (st->servers[i].usable && (st->servers[i].candidate || ncand == 0))
			pick = &st->servers[i];
	st->primary = pick;
	snprintf(st->primary_why, sizeof(st->primary_why), "%s; chose %s",
	         ncand ? "ambiguous: several take writes" : "none takes writes",
	         last_acked ? "the first that holds the most recent acknowledged id"
	                    : "the first (no acknowledged id)");
	return 0;
}

struct prefix_filter {
	char *const *prefixes;
	size_t n;
	lab_id_fn fn;
	void *arg;
};

static void filtered(void *arg, const char *id)
{
	struct prefix_filter *f = arg;

	for (size_t i = 0; i < f->n; i++)
		if (strncmp(id, f->prefixes[i], strlen(f->prefixes[i])) == 0) {
			f->fn(f->arg, id);
			return;
		}
}

int store_scan(struct store *st, char *const *prefixes, size_t nprefixes, lab_id_fn fn, void *arg,
               struct ferry_error *err)
{
	struct prefix_filter f = { prefixes, nprefixes, fn, arg };

	if (st->kind == STORE_REDIS)
		return lab_redis_ids(st->primary->redis, filtered, &f, err);
	for (size_t i = 0; i < nprefixes; i++)
		if (lab_my_ids(st->primary->my, prefixes[i], fn, arg, err) < 0)
			return err->code;
	return 0;
}

void store_release(struct store *st)
{
	for (size_t i = 0; i < st->nservers; i++) {
		lab_my_free(st->servers[i].my);
		lab_redis_free(st->servers[i].redis);
	}
	explicit_bzero(st->password, sizeof(st->password));
}
