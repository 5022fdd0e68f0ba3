/*
 * traffic.h - the load balancer interface: weighted split, drain, stats.
 *
 * The validate phase moves a share of the requests to the new servers in
 * steps (DESIGN §1: 1 %, 5 %, 25 %), the cutover sends all of it there
 * (DESIGN §2 step 4), a rollback sends it back, and decommission drains the
 * old server.  All of that is a handful of operations on two servers of one
 * backend, which each balancer driver implements in a struct traffic_driver
 * (HAProxy's runtime API today; others can come later).  The phase engine
 * only sees this header.
 *
 * Calling sequence:
 *
 *	const struct traffic_driver *drv = traffic_driver_find("haproxy");
 *	struct traffic_lb *lb;
 *	struct traffic_options opt = TRAFFIC_OPTIONS_INIT;
 *	if (drv->open(plan->traffic.admin, &opt, &lb, &err) < 0) ...   // connects
 *	traffic_split(drv, lb, backend, "old", "new", 25.0, &eff, &err);
 *	drv->stats(lb, backend, &s0, &err);  ... later ...  drv->stats(lb, backend, &s1, &err);
 *	traffic_sample_pair(&s0, &s1, "old", "new", &pair, &err);
 *	drv->close(lb);
 *
 * Open the connection before a time-critical section (the cutover's write
 * pause): a driver that keeps one (HAProxy in interactive mode) then spends
 * no connect time inside it.  Every operation is idempotent, so a driver may
 * retry one on a fresh connection when the balancer closed an idle one.
 *
 * Errors: FERRY_EUNREACH (cannot connect), FERRY_ETIMEDOUT (no reply in
 * time), FERRY_ENOTFOUND (no such backend or server), FERRY_EAUTH (the
 * admin interface is not at a level that allows changes), FERRY_EREFUSED
 * (the balancer answered with any other error text, which the message
 * quotes), FERRY_EPROTO (a reply we do not understand), FERRY_EINVAL (bad
 * argument).  Messages name the balancer address and the BACKEND/SERVER.
 *
 * Ownership: a struct traffic_lb belongs to its driver and is freed by
 * close(); a struct traffic_stats owns its rows (traffic_stats_release).
 * Names passed in are borrowed for the duration of the call.
 */
#ifndef FERRY_TRAFFIC_TRAFFIC_H
#define FERRY_TRAFFIC_TRAFFIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct buf;

/* Weights are what HAProxy accepts for `set weight`: 0..256. */
#define TRAFFIC_WEIGHT_MAX 256

enum traffic_mode {
	/* One persistent connection in HAProxy's interactive mode (`prompt`):
	 * no connect inside the write pause.  The default. */
	TRAFFIC_MODE_INTERACTIVE,
	/* A new connection per command (HAProxy's non-interactive mode). */
	TRAFFIC_MODE_ONESHOT,
};

struct traffic_options {
	int64_t connect_timeout_ms; /* default 2000 */
	int64_t reply_timeout_ms;   /* default 2000: from sending to the whole reply */
	size_t max_reply;           /* bound on one reply, default 4 MiB */
	enum traffic_mode mode;
};
#define TRAFFIC_OPTIONS_INIT                                                                       \
	{                                                                                          \
		2000, 2000, (size_t)4 << 20, TRAFFIC_MODE_INTERACTIVE                              \
	}

/* Counters of one server from one stats snapshot.  -1 where the balancer
 * left the field empty. */
struct traffic_server_stats {
	char *backend;    /* owned */
	char *server;     /* owned */
	char *status;     /* owned: "UP", "DOWN", "DRAIN", "MAINT", "no check", ... */
	int64_t stot;     /* total sessions */
	int64_t scur;     /* current sessions */
	int64_t hrsp[6];  /* HTTP responses 1xx, 2xx, 3xx, 4xx, 5xx, other */
	int64_t req_tot;  /* HTTP requests, -1 if the balancer does not count them */
	int64_t rtime_ms; /* average response time over the last 1024 requests */
	int64_t ttime_ms; /* average total session time over the last 1024 */
	int64_t weight;
};

/* One snapshot: the rows of one backend and when they were taken. */
struct traffic_stats {
	int64_t at_ms; /* time_mono_ms() when the reply was complete */
	struct traffic_server_stats *v;
	size_t n, alloc;
};

/* What happened on one server between two snapshots. */
struct traffic_sample {
	double rps;       /* HTTP requests per second */
	double err_pct;   /* 5xx share of the HTTP responses, percent; 0 if none */
	double rtime_ms;  /* the balancer's average response time at the end */
	int64_t requests; /* HTTP responses counted in the interval */
	int64_t errors;   /* 5xx responses in the interval */
	double seconds;   /* length of the interval */
};

/* The old and the new server side by side. */
struct traffic_pair {
	struct traffic_sample old, new;
};

struct traffic_lb; /* a driver's connection; opaque */

struct traffic_driver {
	const char *name; /* "haproxy", as in the plan's traffic.via */

	/* Connects to admin ("host:port", "[v6]:port", or a unix socket path).
	 * On success *out is the caller's until close(). */
	int (*open)(const char *admin, const struct traffic_options *opt, struct traffic_lb **out,
	            struct ferry_error *err);
	void (*close)(struct traffic_lb *lb); /* NULL-safe */

	/* weight 0..TRAFFIC_WEIGHT_MAX; anything else is FERRY_EINVAL. */
	int (*set_weight)(struct traffic_lb *lb, const char *backend, const char *server,
	                  int weight, struct ferry_error *err);
	/* The dry run: appends to out the exact command set_weight sends
	 * (HAProxy: "set weight BACKEND/SERVER N"), no newline, without a
	 * connection; refuses what set_weight refuses (FERRY_EINVAL), and
	 * FERRY_EPROTO when out is full.  set_weight sends the same text. */
	int (*format_set_weight)(const char *backend, const char *server, int weight,
	                         struct buf *out, struct ferry_error *err);
	/* *current and *initial (either may be NULL). */
	int (*get_weight)(struct traffic_lb *lb, const char *backend, const char *server,
	                  int *current, int *initial, struct ferry_error *err);
	/* Drain: no new requests, existing sessions finish.  ready: undo. */
	int (*drain)(struct traffic_lb *lb, const char *backend, const char *server,
	             struct ferry_error *err);
	int (*ready)(struct traffic_lb *lb, const char *backend, const char *server,
	             struct ferry_error *err);
	/* Fills *out (which must be initialised, and is reset first) with the
	 * rows of backend's servers. */
	int (*stats)(struct traffic_lb *lb, const char *backend, struct traffic_stats *out,
	             struct ferry_error *err);
	/* Read-only, for `ferry check`: whether this connection may change
	 * weights and states (HAProxy: `show cli level` is "admin"), with the
	 * access level in level (e.g. "operator").  Returns 0, or an error
	 * when the balancer cannot say (FERRY_EPROTO: an older balancer
	 * without the command).  May be NULL in a driver: not checked. */
	int (*access)(struct traffic_lb *lb, bool *can_change, char *level, size_t len,
	              struct ferry_error *err);
};

/* The driver named name, or NULL. */
const struct traffic_driver *traffic_driver_find(const char *name);

extern const struct traffic_driver traffic_haproxy;

/*
 * Weights that send pct percent (0..100) of the requests to new, for a
 * weighted round robin where a server's share is its weight over the sum.
 *
 * Rounding: a whole percent p gives old = 100 - p, new = p (exact, and easy
 * to read in `show stat`).  A fractional percent gives the pair of integer
 * weights in 0..256 whose share new / (old + new) is closest to pct, the
 * smallest such pair on a tie: 0.5 % is old 199 / new 1 (exact), 12.5 % is
 * 7 / 1, 0.1 % cannot be reached and gives 256 / 1 = 0.39 %.  Any pct > 0
 * gives new >= 1, so a step is never silently 0 %.  Returns 0 and sets
 * *w_old, *w_new, *effective (the percent those weights give), or
 * FERRY_EINVAL for pct outside 0..100 or NaN.
 */
int traffic_split_weights(double pct, int *w_old, int *w_new, double *effective);

/*
 * Sets the weights from traffic_split_weights() on backend/old and
 * backend/new.  The server whose weight is not 0 is set first, so the
 * backend never has both at 0, even for a moment (0 % and 100 %).  On
 * success *effective (may be NULL) is the percent new now receives.  A
 * failure on the second server leaves the first one changed: the message
 * says which; calling again with the same pct is the way forward.
 */
int traffic_split(const struct traffic_driver *drv, struct traffic_lb *lb, const char *backend,
                  const char *server_old, const char *server_new, double pct, double *effective,
                  struct ferry_error *err);

/*
 * The dry run of traffic_split(): appends to out the runtime API commands
 * it would send, one per line, in the order it sends them (from the same
 * code: the order and weights of traffic_split(), the text of the
 * driver's format_set_weight()):
 *	set weight web/new 25
 *	set weight web/old 75
 * No connection.  Returns 0, FERRY_EINVAL (pct out of range, a name the
 * driver refuses), FERRY_EPROTO (out full: left as it was).
 */
int traffic_describe_split(const struct traffic_driver *drv, const char *backend,
                           const char *server_old, const char *server_new, double pct,
                           struct buf *out, struct ferry_error *err);

void traffic_stats_init(struct traffic_stats *s);
void traffic_stats_release(struct traffic_stats *s);
void traffic_stats_reset(struct traffic_stats *s);
/* The row of server, or NULL. */
const struct traffic_server_stats *traffic_stats_find(const struct traffic_stats *s,
                                                      const char *server);

/*
 * What happened on server between snapshots a (earlier) and b.  Requests
 * are counted as the sum of the HTTP response classes (req_tot is not
 * filled for servers by every HAProxy version).  Returns 0, FERRY_ENOTFOUND
 * (server missing from either snapshot), FERRY_EINVAL (b not after a) or
 * FERRY_ESTATE (a counter went backwards: the balancer was reloaded or its
 * counters cleared; take a new first snapshot).
 */
int traffic_sample_between(const struct traffic_stats *a, const struct traffic_stats *b,
                           const char *server, struct traffic_sample *out, struct ferry_error *err);
/* Both servers at once. */
int traffic_sample_pair(const struct traffic_stats *a, const struct traffic_stats *b,
                        const char *server_old, const char *server_new, struct traffic_pair *out,
                        struct ferry_error *err);

/* HAProxy's replies (haproxy_reply.c; pure: no I/O, unit-tested). */

/* Parses a `show stat` CSV reply into out (reset first), keeping the rows
 * of backend (all server rows when backend is NULL) and skipping FRONTEND
 * and BACKEND rows.  Strict: the first line must be the "# pxname,svname,"
 * header, every row must have as many fields as the header, columns are
 * found by name, and a required column missing (pxname, svname, status,
 * weight, stot, scur, hrsp_1xx..hrsp_other, rtime, ttime) is FERRY_EPROTO.
 * Numbers must be decimal and in range.  Errors name the line. */
int haproxy_parse_stat(const char *csv, size_t len, const char *backend, struct traffic_stats *out,
                       struct ferry_error *err);

/* Classifies a reply to a command that answers nothing on success (`set
 * weight`, `set server`): 0 for an empty reply, else the error the text
 * means (ENOTFOUND for "No such server."/"No such backend.", EAUTH for
 * "Permission denied", EPROTO for "Unknown command", EREFUSED otherwise)
 * with the text quoted in the message.  what names the object. */
int haproxy_check_empty_reply(const char *reply, const char *what, const char *cmd,
                              struct ferry_error *err);

/* The error an unexpected reply means, as above, for any command. */
int haproxy_reply_error(const char *reply, const char *what, const char *cmd,
                        struct ferry_error *err);

/* Parses a `get weight` reply "N (initial M)". */
int haproxy_parse_weight(const char *reply, const char *what, int *current, int *initial,
                         struct ferry_error *err);

#endif
