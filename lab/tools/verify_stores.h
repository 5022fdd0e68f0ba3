/*
 * verify_stores.h - lab/verify's other databases: the MariaDB that holds the
 * app's payment rows and the Redis that holds its carts (verify.c checks
 * PostgreSQL's orders itself).
 *
 * Each store has one or more servers (old's and new's); store_choose()
 * probes them and picks the primary the app writes to now: for MariaDB the
 * one with the payments table that is not read_only, for Redis the master;
 * when that leaves more or fewer than one, the one that holds the most
 * recent acknowledged id.  store_scan() then hands every id of the run's
 * prefixes that the primary holds to a callback.
 */
#ifndef FERRY_LAB_VERIFY_STORES_H
#define FERRY_LAB_VERIFY_STORES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lab_conf.h"
#include "util/error.h"

enum store_kind {
	STORE_MARIADB,
	STORE_REDIS,
	STORE_KINDS,
};

enum {
	STORE_MAX_SERVERS = 4
};

struct store_server {
	struct lab_url url;
	struct lab_my *my;
	struct lab_redis *redis;
	bool usable;    /* answered (MariaDB: and has the payments table) */
	bool candidate; /* takes writes: not read_only / role master */
	char why[200];
};

struct store {
	enum store_kind kind;
	const char *name; /* "mariadb", "redis" */
	char password[256];
	struct store_server servers[STORE_MAX_SERVERS];
	size_t nservers;
	struct store_server *primary;
	char primary_why[200];
	/* results, filled by the caller's scan callback */
	uint64_t rows, lost, unexpected;
};

void store_init(struct store *st, enum store_kind kind);
/* Adds a server by URL (mariadb://USER@HOST:PORT/DB, redis://USER@HOST:PORT). */
int store_add(struct store *st, const char *url, struct ferry_error *err);
/* The password of every server of the store, from a file. */
int store_password_file(struct store *st, const char *path, struct ferry_error *err);
/* Probes the servers and picks the primary; last_acked may be NULL. */
int store_choose(struct store *st, const char *last_acked, struct ferry_error *err);
/* Calls fn with every id on the primary that starts with one of prefixes. */
int store_scan(struct store *st, char *const *prefixes, size_t nprefixes, lab_id_fn fn, void *arg,
               struct ferry_error *err);
void store_release(struct store *st);

#endif
