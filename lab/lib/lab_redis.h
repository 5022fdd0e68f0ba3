/*
 * lab_redis.h - the lab's Redis client (hiredis): the app's carts and
 * lab/verify's scan of them.
 *
 * A struct lab_redis is one connection, made (and AUTHenticated, as the
 * URL's user with the password) on first use and made again after it
 * drops: a command that fails on a dropped connection (HAProxy's
 * "shutdown sessions server" at a switch) or with READONLY (a write that
 * reached the old primary after it became a replica) is sent again on a new
 * connection until a deadline, as a real client's retry policy does.  SET
 * is idempotent, so a retry never writes twice.  Not thread-safe.
 */
#ifndef FERRY_LAB_REDIS_H
#define FERRY_LAB_REDIS_H

#include <stdbool.h>

#include "lab_conf.h"
#include "util/error.h"

/* The key of an order's cart: cart:ID. */
#define LAB_REDIS_CART_PREFIX "cart:"

struct lab_redis;

struct lab_redis *lab_redis_new(const struct lab_url *u, const char *password);
void lab_redis_free(struct lab_redis *r);

/* SET cart:ID VALUE; retries as above for up to retry_ms. */
int lab_redis_cart(struct lab_redis *r, const char *id, const char *value, int retry_ms,
                   struct ferry_error *err);

/* Whether the server is a master (role:master in INFO replication). */
int lab_redis_probe(struct lab_redis *r, bool *master, struct ferry_error *err);

/* Whether cart:ID exists. */
int lab_redis_holds(struct lab_redis *r, const char *id, bool *held, struct ferry_error *err);

/* Calls fn with the ID of every cart:ID key (SCAN). */
int lab_redis_ids(struct lab_redis *r, lab_id_fn fn, void *arg, struct ferry_error *err);

#endif
