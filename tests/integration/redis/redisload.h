/*
 * redisload.h - a write load with a ledger, for the Redis switch tests and
 * the benchmark: one thread writes SET ledger:<id> <id> (ids unique,
 * increasing) at a fixed rate and records every acknowledged write (id,
 * when).  It writes to the side named by ->target, as an application
 * behind a switch driver would: on a dropped connection or a -READONLY
 * reply (a demoted writer) it connects to the side ->target names now and
 * sends the same write again.  The longest gap between two
 * acknowledgements is the write pause a client saw.
 */
#ifndef FERRY_TEST_REDISLOAD_H
#define FERRY_TEST_REDISLOAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct redisload_ack {
	int64_t id;
	int64_t at_us; /* monotonic time of the acknowledgement */
};

struct redisload {
	const char *url[2]; /* old, new (redis_endpoint_parse) */
	const char *password;
	volatile int target; /* 0 old, 1 new: where writes go now */
	int rate;            /* writes per second */
	int64_t id0;         /* first id */
	pthread_t thread;
	volatile bool stop;
	pthread_mutex_t lock;
	struct redisload_ack *acks;
	size_t nacks, alloc;
	int64_t errors, reconnects, readonly;
	char last_error[256];
};

/* Starts the writer thread (0, or -1 with last_error). */
int redisload_start(struct redisload *l, int rate, int64_t id0);
void redisload_stop(struct redisload *l);
size_t redisload_count(struct redisload *l);
/* Longest gap between consecutive acks with times in [from_us, to_us]
 * (0 = open), in microseconds. */
int64_t redisload_max_gap_us(struct redisload *l, int64_t from_us, int64_t to_us);
/* Acknowledged writes missing on the side url[side] (EXISTS, pipelined);
 * -1 when it cannot be asked. */
int64_t redisload_lost(struct redisload *l, int side);
/* The same on the server at url (the writer may still run). */
int64_t redisload_lost_at(struct redisload *l, const char *url);
void redisload_release(struct redisload *l);

#endif
