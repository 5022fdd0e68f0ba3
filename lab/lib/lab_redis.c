/*
 * lab_redis.c - the lab's Redis client (lab_redis.h): the one file of lab/
 * that includes hiredis.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "lab_redis.h"
#include "util/mem.h"
#include "util/timeutil.h"

enum {
	CONNECT_TIMEOUT_MS = 2000,
	COMMAND_TIMEOUT_MS = 10000,
	RETRY_GAP_MS = 20,
	SCAN_COUNT = 1000,
};

struct lab_redis {
	redisContext *c;
	struct lab_url url;
	char *password;
};

struct lab_redis *lab_redis_new(const struct lab_url *u, const char *password)
{
	struct lab_redis *r = xcalloc(1, sizeof(*r));

	r->url = *u;
	r->password = xstrdup(password ? password : "");
	return r;
}

static void disconnect(struct lab_redis *r)
{
	if (r->c)
		redisFree(r->c);
	r->c = NULL;
}

void lab_redis_free(struct lab_redis *r)
{
	if (!r)
		return;
	disconnect(r);
	explicit_bzero(r->password, strlen(r->password));
	free(r->password);
	free(r);
}

/* Sends one command (argv form: no formatting of the values) and returns
 * its reply, or NULL with err filled (the connection is then dropped). */
static redisReply *command(struct lab_redis *r, int argc, const char **argv,
                           struct ferry_error *err)
{
	redisReply *rep = redisCommandArgv(r->c, argc, argv, NULL);

	if (!rep) {
		ferry_error_set(err, FERRY_EUNREACH, NULL, "redis %s: %s: %s", r->url.shown,
		                argv[0], r->c->errstr[0] ? r->c->errstr : "connection lost");
		disconnect(r);
	}
	return rep;
}

static int connect_once(struct lab_redis *r, struct ferry_error *err)
{
	struct timeval ct = { CONNECT_TIMEOUT_MS / 1000, 0 };
	struct timeval cmd = { COMMAND_TIMEOUT_MS / 1000, 0 };
	const char *auth[3] = { "AUTH", r->url.user, r->password };
	redisReply *rep;
	int rc = 0;

	if (r->c)
		return 0;
	r->c = redisConnectWithTimeout(r->url.host, (int)r->url.port, ct);
	if (!r->c || r->c->err) {
		rc = ferry_error_set(err, FERRY_EUNREACH, NULL, "redis %s: connect: %s",
		                     r->url.shown, r->c ? r->c->errstr : "out of memory");
		disconnect(r);
		return rc;
	}
	redisSetTimeout(r->c, cmd);
	if (!r->password[0])
		return 0;
	/* AUTH USER PASSWORD (ACL), or AUTH PASSWORD without a user */
	rep = r->url.user[0] ? command(r, 3, auth, err)
	                     : command(r, 2, (const char *[]){ "AUTH", r->password }, err);
	if (!rep)
		return err ? err->code : FERRY_EUNREACH;
	if (rep->type == REDIS_REPLY_ERROR) {
		rc = ferry_error_set(err, FERRY_EAUTH, NULL, "redis %s: AUTH: %s", r->url.shown,
		                     rep->str);
		disconnect(r);
	}
	freeReplyObject(rep);
	return rc;
}

int lab_redis_cart(struct lab_redis *r, const char *id, const char *value, int retry_ms,
                   struct ferry_error *err)
{
	int64_t deadline = time_mono_ms() + retry_ms;
	char *key = xasprintf(LAB_REDIS_CART_PREFIX "%s", id);
	const char *argv[3] = { "SET", key, value };
	int rc;

	for (;;) {
		bool dropped = true;
		redisReply *rep;

		rc = connect_once(r, err);
		if (rc == 0 && (rep = command(r, 3, argv, err))) {
			dropped = false;
			if (rep->type == REDIS_REPLY_STATUS) {
				freeReplyObject(rep);
				break;
			}
			rc = ferry_error_set(
			        err, FERRY_EREFUSED, NULL, "redis %s: SET: %s", r->url.shown,
			        rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
			/* READONLY: a replica now; the switch points us elsewhere */
			if (rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "READONLY", 8)) {
				disconnect(r);
				rc = FERRY_EUNREACH;
			}
			freeReplyObject(rep);
		} else if (rc == 0) {
			rc = err ? err->code : FERRY_EUNREACH;
		}
		if (rc != FERRY_EUNREACH || time_mono_ms() >= deadline)
			break;
		if (!dropped || !r->c) {
			struct timespec ts = { 0, RETRY_GAP_MS * 1000000L };

			nanosleep(&ts, NULL);
		}
	}
	free(key);
	return rc;
}

int lab_redis_probe(struct lab_redis *r, bool *master, struct ferry_error *err)
{
	const char *argv[2] = { "INFO", "replication" };
	redisReply *rep;
	int rc = connect_once(r, err);

	if (rc < 0)
		return rc;
	rep = command(r, 2, argv, err);
	if (!rep)
		return err ? err->code : FERRY_EUNREACH;
	if (rep->type != REDIS_REPLY_STRING)
		rc = ferry_error_set(err, FERRY_EPROTO, NULL, "redis %s: INFO: %s", r->url.shown,
		                     rep->type == REDIS_REPLY_ERROR ? rep->str
		                                                    : "unexpected reply");
	else
		*master = strstr(rep->str, "role:master") != NULL;
	freeReplyObject(rep);
	return rc;
}

int lab_redis_holds(struct lab_redis *r, const char *id, bool *held, struct ferry_error *err)
{
	char *key = xasprintf(LAB_REDIS_CART_PREFIX "%s", id);
	const char *argv[2] = { "EXISTS", key };
	redisReply *rep = NULL;
	int rc = connect_once(r, err);

	if (rc == 0 && !(rep = command(r, 2, argv, err)))
		rc = err ? err->code : FERRY_EUNREACH;
	if (rep && rep->type != REDIS_REPLY_INTEGER)
		rc = ferry_error_set(err, FERRY_EPROTO, NULL, "redis %s: EXISTS: unexpected reply",
		                     r->url.shown);
	else if (rep)
		*held = rep->integer == 1;
	freeReplyObject(rep);
	free(key);
	return rc;
}

int lab_redis_ids(struct lab_redis *r, lab_id_fn fn, void *arg, struct ferry_error *err)
{
	char cursor[32] = "0", count[16];
	const char *argv[6] = {
		"SCAN", cursor, "MATCH", LAB_REDIS_CART_PREFIX "*", "COUNT", count
	};
	size_t plen = strlen(LAB_REDIS_CART_PREFIX);
	int rc = connect_once(r, err);

	snprintf(count, sizeof(count), "%d", SCAN_COUNT);
	while (rc == 0) {
		redisReply *rep = command(r, 6, argv, err), *keys;

		if (!rep)
			return err ? err->code : FERRY_EUNREACH;
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
		    rep->element[0]->type != REDIS_REPLY_STRING ||
		    rep->element[1]->type != REDIS_REPLY_ARRAY) {
			rc = ferry_error_set(
			        err, FERRY_EPROTO, NULL, "redis %s: SCAN: %s", r->url.shown,
			        rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
			freeReplyObject(rep);
			break;
		}
		keys = rep->element[1];
		for (size_t i = 0; i < keys->elements; i++)
			if (keys->element[i]->type == REDIS_REPLY_STRING &&
			    keys->element[i]->len > plen)
				fn(arg, keys->element[i]->str + plen);
		snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
		freeReplyObject(rep);
		if (strcmp(cursor, "0") == 0)
			break;
	}
	return rc;
}
