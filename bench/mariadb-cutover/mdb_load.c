/*
 * mdb_load.c - the write load of bench/mariadb-cutover: RATE inserts per
 * second into shop.ledger, spread over threads, each a client that
 * reconnects on a dropped connection (as real drivers do) to the address
 * in TARGET_FILE (the switch rewrites it; a runbook's "repoint"), with a
 * ledger of acknowledged writes (one key per line in LEDGER).
 *
 *	mdb_load TARGET_FILE RATE LEDGER
 * Runs until SIGTERM, then prints one line:
 *	acked=N errors=N reconnects=N max_gap_ms=N worst_conn_errors=N max_gap_any_ms=N
 * SIGUSR1 marks the start of the switch, SIGUSR2 its end.  max_gap_ms:
 * the longest time without an acknowledged write that overlaps the switch
 * (the pause as clients see it; without the signals, of the whole run);
 * max_gap_any_ms: the longest of the whole run (a stall of the machine
 * before or after the switch counts there only); worst_conn_errors: the
 * most failed statements on one connection.  MDB_LOAD_TRACE set: each
 * failure on stderr, with its CLOCK_MONOTONIC time in ms.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
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
static bool trace; /* MDB_LOAD_TRACE set: each failure on stderr */
static const char *target_file;
static int nthreads;
static double per_thread_rate;
static FILE *ledger;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t acked, errors, reconnects, last_ack, max_gap, max_gap_any, worst_conn;
/* the switch's window (SIGUSR1 at its start, SIGUSR2 at its end), mono ms */
static _Atomic int64_t win0, win1;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

/* clock_gettime is async-signal-safe, a lock-free atomic may be stored */
static void on_window(int sig)
{
	atomic_store(sig == SIGUSR1 ? &win0 : &win1, time_mono_ms());
}

/* A gap [from, to] between two acknowledged writes: the largest one that
 * overlaps the switch's window is its pause as clients see it (a stall
 * of a shared machine seconds before the switch is not); without a
 * window, the largest of the run. */
static void gap_seen(int64_t from, int64_t to)
{
	int64_t w0 = atomic_load(&win0), w1 = atomic_load(&win1);

	if (to - from > max_gap_any)
		max_gap_any = to - from;
	if (w0 && to >= w0 && (!w1 || from <= w1) && to - from > max_gap)
		max_gap = to - from;
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
			    mdb_connect(&c, ci, NULL, "load", 0, time_mono_ms() + 1000, &err) < 0) {
				if (trace)
					fprintf(stderr, "mdb_load: %lld thread %d: connect: %s\n",
					        (long long)time_mono_ms(), id, err.msg);
				continue;
			}
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
			if (last_ack)
				gap_seen(last_ack, now);
			last_ack = now;
			acked++;
			fprintf(ledger, "%lld\n", (long long)key);
			pthread_mutex_unlock(&mu);
		} else {
			pthread_mutex_lock(&mu);
			errors++;
			pthread_mutex_unlock(&mu);
			conn_errors++;
			if (trace)
				fprintf(stderr, "mdb_load: %lld thread %d: %s\n",
				        (long long)time_mono_ms(), id, err.msg);
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
	trace = getenv("MDB_LOAD_TRACE") != NULL;
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGUSR1, on_window);
	signal(SIGUSR2, on_window);
	for (i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, run, (void *)(intptr_t)i);
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	fclose(ledger);
	printf("acked=%lld errors=%lld reconnects=%lld max_gap_ms=%lld worst_conn_errors=%lld "
	       "max_gap_any_ms=%lld\n",
	       (long long)acked, (long long)errors, (long long)(reconnects - nthreads),
	       (long long)(atomic_load(&win0) ? max_gap : max_gap_any), (long long)worst_conn,
	       (long long)max_gap_any);
	return 0;
}
