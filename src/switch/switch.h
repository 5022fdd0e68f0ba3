/*
 * switch.h - the switch drivers: what points the applications at a database.
 *
 * Applications reach a database through something ferry can repoint:
 *   pgbouncer  a pooler that can hold new work (PAUSE), repointed by
 *              rewriting the include file ferry owns and RELOAD;
 *   haproxy    an HAProxy TCP backend in front of the database (engines with
 *              no pausing pooler: MariaDB, Redis), repointed with `set server
 *              BACKEND/SERVER addr IP port PORT`, its open sessions ended with
 *              `shutdown sessions server BACKEND/SERVER` so that clients
 *              reconnect to the new address;
 *   hook       the operator's own commands (point, revert, show), for
 *              applications that read their database address from a file, a
 *              secret store or a platform API.
 * One instance is an endpoint (the old host's pgbouncer, the new host's
 * HAProxy, the hook).  The orchestrator (core/orchestrator.h) drives every
 * endpoint of every database through the same actions; a driver supplies
 * the verbs, never the order:
 *
 *	open(cfg)            before the pause: connections and shells opened,
 *	                     a spare one among them (below)
 *	show                 where it points now, and whether it is paused
 *	stage(target)        before the pause: the next target made ready
 *	send/wait PAUSE      hold new work (a driver without can_pause: no-op)
 *	send/wait POINT      to the staged target
 *	send/wait RESUME     let the held work through (no-op without can_pause)
 *	served               after RESUME: no client waits for a connection
 *	                     any more (optional; the steps after the switch,
 *	                     which connect to both sides, wait for it)
 *	send/wait REVERT     back to where it pointed when staged
 *	point(target)        outside a pause: point directly (recovery)
 *	describe             the dry run: the exact commands, no connection
 *
 * Actions are split into send (the command goes out, no waiting) and wait
 * (its answer, against a deadline in time_mono_ms()), so that every
 * endpoint works at the same time inside the pause.  Every action is
 * idempotent: POINT when already pointed, RESUME when not paused, REVERT
 * when never pointed all succeed.
 *
 * Deadlines are hard: a wait that reaches its deadline abandons what it
 * waited on (the connection is closed, never a blocking cancel) and
 * returns FERRY_ETIMEDOUT; the endpoint then uses the spare connection it
 * opened in open() for what follows (a RESUME after a PAUSE that could not
 * complete), so nothing after a timeout needs a new connection either.
 *
 * Ownership: an endpoint owns its connections, shells and copies of what
 * it needs from the config; the config and the password are borrowed
 * during open() only.
 */
#ifndef FERRY_SWITCH_SWITCH_H
#define FERRY_SWITCH_SWITCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/check.h"
#include "util/error.h"

struct buf;

/* Where the applications' connections go: one side's database as the
 * applications reach it. */
struct sw_target {
	const char *host;   /* an address (haproxy needs an IP) or a name */
	int port;           /* > 0 */
	const char *dbname; /* the database's name on the server; NULL when the
	                     * engine has none (Redis) */
};

/* What show() found. */
struct sw_where {
	char host[256];
	int port;
	char dbname[128]; /* "" when the driver does not know one */
	bool paused;
};

enum sw_action {
	SW_PAUSE,
	SW_POINT,
	SW_RESUME,
	SW_REVERT,
};

/* One endpoint's configuration, filled by core/endpoints.c from the plan.
 * Only the fields of its driver are used. */
struct sw_config {
	const char *name;        /* "pooler old", "haproxy new", "hook": in messages */
	const char *const *exec; /* the host's exec prefix; nexec may be 0 */
	size_t nexec;            /* (pgbouncer's include file, the hook's shell) */
	/* pgbouncer */
	const char *admin;          /* admin console conninfo (dbname=pgbouncer) */
	const char *admin_password; /* may be NULL */
	const char *include_path;   /* the [databases] file ferry owns */
	const char *dbalias;        /* the entry the applications use */
	/* haproxy */
	const char *api;     /* runtime API: "IP:PORT" or a unix socket path */
	const char *backend; /* the TCP backend in front of the database */
	const char *server;  /* its server line */
	/* hook: shell commands; the target is in their environment as
	 * FERRY_SWITCH_HOST, FERRY_SWITCH_PORT, FERRY_SWITCH_DBNAME,
	 * FERRY_SWITCH_SIDE (old|new) and FERRY_SWITCH_DATABASE (the plan's
	 * name); show prints HOST:PORT[/DBNAME] on its first line */
	const char *const *point_argv;
	size_t npoint;
	const char *const *revert_argv; /* may be empty: point at the old target */
	size_t nrevert;
	const char *const *show_argv;
	size_t nshow;
	const char *database; /* the plan's database name */
};

struct sw_endpoint; /* a driver's open endpoint; opaque */

struct sw_driver {
	const char *name; /* as in the plan's switch.via */
	bool can_pause;   /* holds new work while paused (pgbouncer) */

	/* Opens the endpoint (connections, shells, a spare).  Returns 0,
	 * FERRY_EINVAL (a config the driver cannot use), FERRY_EUNREACH,
	 * FERRY_EAUTH, FERRY_EIO. */
	int (*open)(const struct sw_config *cfg, struct sw_endpoint **out, struct ferry_error *err);
	void (*close)(struct sw_endpoint *ep); /* NULL-safe */
	/* Where it points now.  FERRY_ENOTFOUND: it knows no such entry. */
	int (*show)(struct sw_endpoint *ep, struct sw_where *out, int64_t deadline,
	            struct ferry_error *err);
	/* Makes to the target of the next POINT, and remembers where it
	 * points now for REVERT.  Before the pause. */
	int (*stage)(struct sw_endpoint *ep, const struct sw_target *to, const char *side,
	             int64_t deadline, struct ferry_error *err);
	int (*send)(struct sw_endpoint *ep, enum sw_action a, struct ferry_error *err);
	int (*wait)(struct sw_endpoint *ep, enum sw_action a, int64_t deadline,
	            struct ferry_error *err);
	/* After RESUME: 0 once no client of the endpoint waits for a server
	 * connection (pgbouncer: SHOW POOLS' cl_waiting is 0 for the entry),
	 * FERRY_ETIMEDOUT at the deadline.  NULL where nothing is held. */
	int (*served)(struct sw_endpoint *ep, int64_t deadline, struct ferry_error *err);
	/* Points at to now, outside a pause (recovery, undo after a failed
	 * revert); does not resume. */
	int (*point)(struct sw_endpoint *ep, const struct sw_target *to, const char *side,
	             int64_t deadline, struct ferry_error *err);
	/* Read-only checks for `ferry check` and the cutover's preflight
	 * (it answers, the entry exists, the file ferry writes can be
	 * written, where it points): rows appended to out.  Returns 0
	 * whatever the rows say. */
	int (*check)(struct sw_endpoint *ep, const struct sw_target *expect, const char *object,
	             struct check_rows *out);
	/* The dry run: the commands action a sends (stage and point take to
	 * and side; "open" and "show" too: SW_DESC_*), one per line as
	 * "PREFIX NAME console|host|api|shell: COMMAND", appended to out, no
	 * connection.  FERRY_EINVAL for what open() would refuse,
	 * FERRY_EPROTO when out is full. */
	int (*describe)(const struct sw_config *cfg, int what, const struct sw_target *to,
	                const char *side, const char *prefix, struct buf *out,
	                struct ferry_error *err);
};

/* describe()'s what: an enum sw_action, or one of these. */
enum {
	SW_DESC_OPEN = 100,
	SW_DESC_SHOW,
	SW_DESC_STAGE,
	SW_DESC_POINT_NOW,
	SW_DESC_SERVED,
};

extern const struct sw_driver sw_pgbouncer, sw_haproxy, sw_hook;

/* The driver called name ("pgbouncer", "haproxy", "hook"), or NULL. */
const struct sw_driver *sw_driver_find(const char *name);

/* Whether w is t (host, port, and the database name when both know
 * one). */
bool sw_where_is(const struct sw_where *w, const struct sw_target *t);

/* "HOST:PORT[/DBNAME]" into out. */
void sw_target_format(const struct sw_target *t, char *out, size_t len);

/* Parses show()'s text "HOST:PORT[/DBNAME]" ("[v6]:PORT" too) into w.
 * Returns 0 or FERRY_EPROTO naming what. */
int sw_where_parse(const char *text, const char *what, struct sw_where *w, struct ferry_error *err);

#endif
