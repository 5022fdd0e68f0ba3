/*
 * pgload.h - a write load with a ledger, for the switch tests and the
 * benchmark: one thread inserts rows with unique ledger ids through a
 * pooler at a fixed rate and records every acknowledged write (ledger id,
 * the row id the sequence gave, when it was acknowledged).  The longest
 * gap between two acknowledgements is the write pause a client saw.
 */
#ifndef FERRY_TEST_PGLOAD_H
#define FERRY_TEST_PGLOAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct pgload_ack {
	int64_t ledger; /* unique per write */
	int64_t id;     /* the row's id from the sequence */
	int64_t at_us;  /* monotonic time of the acknowledgement */
};

struct pgload {
	char *conninfo;  /* through the pooler */
	int rate;        /* writes per second */
	int64_t ledger0; /* first ledger id */
	pthread_t thread;
	volatile bool stop;
	pthread_mutex_t lock;
	struct pgload_ack *acks;
	size_t nacks, alloc;
	int64_t errors, dup_errors; /* failed writes; of them unique violations */
	char last_error[256];
};

/* Starts the writer thread.  Inserts INTO orders (ledger, note). */
int pgload_start(struct pgload *l, const char *conninfo, int rate, int64_t ledger0);
/* Stops it and joins. */
void pgload_stop(struct pgload *l);
/* Acks so far (locked copy of the count). */
size_t pgload_count(struct pgload *l);
/* Longest gap between consecutive acks whose times fall in [from_us, to_us]
 * (0 = open), in microseconds. */
int64_t pgload_max_gap_us(struct pgload *l, int64_t from_us, int64_t to_us);
void pgload_release(struct pgload *l);

#endif
