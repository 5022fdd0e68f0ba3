/*
 * redisload.c - see redisload.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/redis_conn.h"
#include "redisload.h"
#include "util/mem.h"
#include "util/timeutil.h"

static struct redis_conn *connect_side(struct redisload *l, int side, char *why, size_t whylen)
{
	struct redis_endpoint ep;
	struct ferry_error err = { 0 };
	struct redis_conn *c = NULL;

	if (redis_endpoint_parse(l->url[side], &ep, &err) == 0) {
		redis_connect(&c, &ep, l->password, side ? "load new" : "load old",
		              time_mono_ms() + 2000, &err);
		redis_endpoint_release(&ep);
	}
	if (!c)
		snprintf(why, whylen, "%s", err.msg);
	return c;
}

static void sleep_until_us(int64_t at)
{
	int64_t left = at - time_mono_us();

	if (left > 0) {
		struct timespec ts = { left / 1000000, (left % 1000000) * 1000 };

		nanosleep(&ts, NULL);
	}
}

static void *writer(void *arg)
{
	struct redisload *l = arg;
	struct redis_conn *c = NULL;
	int64_t id = l->id0, next = time_mono_us();
	int side = -1;

	while (!l->stop) {
		struct ferry_error err = { 0 };
		struct redis_reply rep;
		char key[40], val[24];
		int rc;

		if (!c || !redis_conn_ok(c) || side != l->target) {
			redis_conn_free(c);
			side = l->target;
			c = connect_side(l, side, l->last_error, sizeof(l->last_error));
			l->reconnects++;
			if (!c) {
				l->errors++;
				sleep_until_us(time_mono_us() + 2000);
				continue;
			}
		}
		snprintf(key, sizeof(key), "ledger:%lld", (long long)id);
		snprintf(val, sizeof(val), "%lld", (long long)id);
		/* a paused writer holds the reply: a long deadline, as an
		 * application's own timeout would be */
		rc = redis_cmd(c, time_mono_ms() + 10000, &rep, &err, "SET", key, val, NULL);
		if (rc == 0) {
			int64_t now = time_mono_us();

			pthread_mutex_lock(&l->lock);
			XGROW(l->acks, l->alloc, l->nacks + 1);
			l->acks[l->nacks].id = id;
			l->acks[l->nacks++].at_us = now;
			pthread_mutex_unlock(&l->lock);
			id++;
			next += 1000000 / l->rate;
			if (next < now - 100000)
				next = now; /* behind after a pause: no burst to catch up */
			sleep_until_us(next);
		} else {
			/* not acknowledged: the same id again, on the side that
			 * takes writes now */
			l->errors++;
			if (strstr(err.msg, "READONLY")) {
				l->readonly++;
				redis_conn_free(c);
				c = NULL;
				sleep_until_us(time_mono_us() + 200);
			}
			snprintf(l->last_error, sizeof(l->last_error), "%s", err.msg);
		}
		redis_reply_release(&rep);
	}
	redis_conn_free(c);
	return NULL;
}

int redisload_start(struct redisload *l, int rate, int64_t id0)
{
	l->rate = rate;
	l->id0 = id0;
	l->stop = false;
	pthread_mutex_init(&l->lock, NULL);
	if (pthread_create(&l->thread, NULL, writer, l) != 0) {
		snprintf(l->last_error, sizeof(l->last_error), "pthread_create failed");
		return -1;
	}
	return 0;
}

void redisload_stop(struct redisload *l)
{
	l->stop = true;
	pthread_join(l->thread, NULL);
}

size_t redisload_count(struct redisload *l)
{
	size_t n;

	pthread_mutex_lock(&l->lock);
	n = l->nacks;
	pthread_mutex_unlock(&l->lock);
	return n;
}

int64_t redisload_max_gap_us(struct redisload *l, int64_t from_us, int64_t to_us)
{
	int64_t gap = 0;
	size_t i;

	pthread_mutex_lock(&l->lock);
	for (i = 1; i < l->nacks; i++) {
		int64_t a = l->acks[i - 1].at_us, b = l->acks[i].at_us;

		if ((from_us && b < from_us) || (to_us && a > to_us))
			continue;
		if (b - a > gap)
			gap = b - a;
	}
	pthread_mutex_unlock(&l->lock);
	return gap;
}

int64_t redisload_lost(struct redisload *l, int side)
{
	return redisload_lost_at(l, l->url[side]);
}

int64_t redisload_lost_at(struct redisload *l, const char *url)
{
	struct redis_endpoint ep;
	struct ferry_error err = { 0 };
	struct redis_conn *c = NULL;
	int64_t lost = 0, *ids;
	size_t i = 0, n, batch;

	if (redis_endpoint_parse(url, &ep, &err) < 0)
		return -1;
	redis_connect(&c, &ep, l->password, "ledger check", time_mono_ms() + 2000, &err);
	redis_endpoint_release(&ep);
	if (!c)
		return -1;
	/* the writer may go on: the acknowledgements so far, copied */
	pthread_mutex_lock(&l->lock);
	n = l->nacks;
	ids = xcalloc(n + 1, sizeof(*ids));
	for (i = 0; i < n; i++)
		ids[i] = l->acks[i].id;
	pthread_mutex_unlock(&l->lock);
	i = 0;
	while (i < n && lost >= 0) {
		struct redis_reply rep[1000];
		size_t k;

		batch = n - i < 1000 ? n - i : 1000;
		for (k = 0; k < batch; k++) {
			char key[40];
			const char *argv[2] = { "EXISTS", key };

			snprintf(key, sizeof(key), "ledger:%lld", (long long)ids[i + k]);
			redis_append(c, 2, argv, NULL);
		}
		if (redis_flush(c, batch, rep, time_mono_ms() + 10000, &err) < 0)
			lost = -1;
		for (k = 0; k < batch; k++) {
			if (lost >= 0 && rep[k].integer != 1)
				lost++;
			redis_reply_release(&rep[k]);
		}
		i += batch;
	}
	free(ids);
	redis_conn_free(c);
	return lost;
}

void redisload_release(struct redisload *l)
{
	free(l->acks);
	l->acks = NULL;
	l->nacks = l->alloc = 0;
	pthread_mutex_destroy(&l->lock);
}
