/*
 * pgload.c - see pgload.h.  Uses ferry's own libpq layer (db/pgsql.h).
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "db/pgsql.h"
#include "pgload.h"
#include "util/mem.h"
#include "util/timeutil.h"

static void *run(void *arg)
{
	struct pgload *l = arg;
	struct pgsql_conn *c = NULL;
	struct ferry_error err = { 0 };
	int64_t ledger = l->ledger0, next = time_mono_us();
	int64_t interval = 1000000 / (l->rate > 0 ? l->rate : 1);
	char lbuf[32];

	while (!l->stop) {
		const char *params[1] = { lbuf };
		char *id = NULL;
		int rc;
		int64_t now = time_mono_us();

		if (now < next) {
			int64_t w = (next - now) / 1000;
			if (w > 0)
				poll(NULL, 0, (int)w);
			continue;
		}
		next += interval;
		if (!c || !pgsql_ok(c)) {
			pgsql_free(c);
			c = NULL;
			if (pgsql_connect(&c, l->conninfo, NULL, "load", &err) < 0) {
				l->errors++;
				snprintf(l->last_error, sizeof(l->last_error), "%s", err.msg);
				poll(NULL, 0, 1);
				continue;
			}
		}
		snprintf(lbuf, sizeof(lbuf), "%lld", (long long)ledger);
		rc = pgsql_query_value(c,
		                       "INSERT INTO orders (ledger, note) VALUES ($1, 'load') "
		                       "RETURNING id",
		                       1, params, time_mono_ms() + 20000, &id, &err);
		if (rc == 0) {
			pthread_mutex_lock(&l->lock);
			XGROW(l->acks, l->alloc, l->nacks + 1);
			l->acks[l->nacks].ledger = ledger;
			l->acks[l->nacks].id = strtoll(id, NULL, 10);
			l->acks[l->nacks].at_us = time_mono_us();
			l->nacks++;
			pthread_mutex_unlock(&l->lock);
			ledger++;
		} else {
			/* not acknowledged: the same ledger id is tried again,
			 * unless it is there already (a write that committed but
			 * whose answer was lost): then the next one */
			l->errors++;
			if (!strcmp(pgsql_sqlstate(c), "23505") && strstr(err.msg, "ledger")) {
				l->dup_errors++;
				ledger++;
			}
			snprintf(l->last_error, sizeof(l->last_error), "%s", err.msg);
		}
		free(id);
	}
	pgsql_free(c);
	return NULL;
}

int pgload_start(struct pgload *l, const char *conninfo, int rate, int64_t ledger0)
{
	memset(l, 0, sizeof(*l));
	l->conninfo = xstrdup(conninfo);
	l->rate = rate;
	l->ledger0 = ledger0;
	pthread_mutex_init(&l->lock, NULL);
	return pthread_create(&l->thread, NULL, run, l) == 0 ? 0 : -1;
}

void pgload_stop(struct pgload *l)
{
	l->stop = true;
	pthread_join(l->thread, NULL);
}

size_t pgload_count(struct pgload *l)
{
	size_t n;

	pthread_mutex_lock(&l->lock);
	n = l->nacks;
	pthread_mutex_unlock(&l->lock);
	return n;
}

int64_t pgload_max_gap_us(struct pgload *l, int64_t from_us, int64_t to_us)
{
	int64_t gap = 0;
	size_t i;

	pthread_mutex_lock(&l->lock);
	for (i = 1; i < l->nacks; i++) {
		if (from_us && l->acks[i].at_us < from_us)
			continue;
		if (to_us && l->acks[i - 1].at_us > to_us)
			break;
		if (l->acks[i].at_us - l->acks[i - 1].at_us > gap)
			gap = l->acks[i].at_us - l->acks[i - 1].at_us;
	}
	pthread_mutex_unlock(&l->lock);
	return gap;
}

void pgload_release(struct pgload *l)
{
	free(l->conninfo);
	free(l->acks);
	pthread_mutex_destroy(&l->lock);
}
