/*
 * lab_mariadb.h - the lab's MariaDB client (Connector/C): the app's payment
 * rows and lab/verify's scan of them.
 *
 * A struct lab_my is one connection, made on first use and made again after
 * it drops (a switch's "shutdown sessions server" in HAProxy, a server
 * killed): a statement that fails on a dropped connection, or on a fenced
 * server (read_only), is run again on a new connection until a deadline,
 * as a real application's driver and retry policy do.  Every statement is
 * idempotent, so a retry never writes twice.  Not thread-safe: one per
 * thread.
 */
#ifndef FERRY_LAB_MARIADB_H
#define FERRY_LAB_MARIADB_H

#include <stdbool.h>

#include "lab_conf.h"
#include "util/error.h"

struct lab_my;

/* Keeps copies of u and password; connects on first use. */
struct lab_my *lab_my_new(const struct lab_url *u, const char *password, const char *program);
void lab_my_free(struct lab_my *m);

/* INSERT IGNORE INTO payments (id, amount_cents, served_by): the row
 * exists afterwards (written now or before).  Retries as above for up to
 * retry_ms. */
int lab_my_payment(struct lab_my *m, const char *id, long long amount_cents, const char *served_by,
                   int retry_ms, struct ferry_error *err);

/* Whether the database has the payments table and the server is
 * read_only (a replica, or a fenced old primary). */
int lab_my_probe(struct lab_my *m, bool *has_table, bool *read_only, struct ferry_error *err);

/* Whether payments holds id. */
int lab_my_holds(struct lab_my *m, const char *id, bool *held, struct ferry_error *err);

/* Calls fn with every payments id that starts with prefix (one streamed
 * query). */
int lab_my_ids(struct lab_my *m, const char *prefix, lab_id_fn fn, void *arg,
               struct ferry_error *err);

#endif
