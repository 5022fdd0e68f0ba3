/*
 * mdb_load.c - the write load of bench/mariadb-cutover: RATE inserts per
 * second into shop.ledger, spread over threads, each a client that
 * reconnects on a dropped connection (as real drivers do) to the address
 * in TARGET_FILE (the switch rewrites it; a runbook's "repoint"), with a
 * ledger of acknowledged writes (one key per line in LEDGER).
 *
 *	mdb_load TARGET_FILE RATE LEDGER
 * Runs until SIGTERM, then prints one line:
 *	acked=N errors=N reconnects=N max_gap_ms=N worst_conn_errors=N
 * max_gap_ms: the longest time without an acknowledged write (the pause
 * as clients see it); worst_conn_errors: the most failed statements on
 * one connection.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/mariadb_conn.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define MAX_THREADS 16

static volatile sig_atomic_t stop;
static const char *target_file;
static int nthreads;
static double per_thread_rate;
static FILE *ledger;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t acked, errors, reconnects, last_ack, max_gap, worst_conn;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static char *target(void)
{
	struct buf b;

	buf_init(&b, 4096);
	if (buf_read_file(&b, target_file) < 0) {
		buf_release(&b);
		return NULL;
	}
	while (b.len && b.data[b.len - 1] == '\n')
		b.data[--b.len] = '\0';
	return buf_detach(&b, NULL);
}

static void *run(void *arg)
{
	int id = (int)(intptr_t)arg;
	struct mdb_conn *c = NULL;
	struct ferry_error err;
	int64_t seq = 0, conn_errors = 0, start = time_mono_ms(), n = 0;
	char *ci = NULL;

	while (!stop) {
		int64_t due = start + (int64_t)((double)n * 1000.0 / per_thread_rate);
		int64_t now = time_mono_ms(), key;
		char *q;
		if (now < due) {
			struct timespec ts = { 0, (long)(due - now) * 1000000L };
			nanosleep(&ts, NULL);
			continue;
		}
		n++;
		if (!mdb_ok(c)) {
			mdb_free(c);
			c = NULL;
			free(ci);
			ci = target();
			if (!ci ||
			    mdb_connect(&c, ci, NULL, "load", 0, time_mono_ms() + 1000, &err) < 0)
				continue;
			pthread_mutex_lock(&mu);
			reconnects++;
			if (conn_errors > worst_conn)
				worst_conn = conn_errors;
			pthread_mutex_unlock(&mu);
			conn_errors = 0;
		}
		key = (int64_t)id * 1000000000LL + seq;
		q = xasprintf("INSERT INTO ledger (k) VALUES (%lld)", (long long)key);
		if (mdb_exec(c, q, time_mono_ms() + 5000, NULL, &err) == 0) {
			seq++;
			pthread_mutex_lock(&mu);
			now = time_mono_ms();
			if (last_ack && now - last_ack > max_gap)
				max_gap = now - last_ack;
			last_ack = now;
			acked++;
			fprintf(ledger, "%lld\n", (long long)key);
			pthread_mutex_unlock(&mu);
		} else {
			pthread_mutex_lock(&mu);
			errors++;
			pthread_mutex_unlock(&mu);
			conn_errors++;
			if (mdb_errno(c) == 1062)
				seq++; /* it landed before the connection broke */
			else if (mdb_ok(c) && mdb_errno(c) == 1290)
				mdb_free(c), c = NULL; /* read_only: reconnect via the switch */
		}
		free(q);
	}
	mdb_free(c);
	free(ci);
	pthread_mutex_lock(&mu);
	if (conn_errors > worst_conn)
		worst_conn = conn_errors;
	pthread_mutex_unlock(&mu);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[MAX_THREADS];
	double rate;
	int i;

	if (argc != 4) {
		fprintf(stderr, "usage: mdb_load TARGET_FILE RATE LEDGER\n");
		return 2;
	}
	target_file = argv[1];
	rate = strtod(argv[2], NULL);
	ledger = fopen(argv[3], "w");
	if (!ledger || rate <= 0)
		return 2;
	nthreads = (int)(rate / 500) + 1;
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;
	per_thread_rate = rate / nthreads;
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	for (i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, run, (void *)(intptr_t)i);
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	fclose(ledger);
	printf("acked=%lld errors=%lld reconnects=%lld max_gap_ms=%lld worst_conn_errors=%lld\n",
	       (long long)acked, (long long)errors, (long long)(reconnects - nthreads),
	       (long long)max_gap, (long long)worst_conn);
	return 0;
}
