/*
 * orchestrator.c - the switch for every engine and switch driver (see
 * orchestrator.h for the protocol, the undo and the recovery).
 *
 * A run keeps, per database, what it has done (fenced, stopped, reverse,
 * unfenced_to) and, per endpoint, whether a PAUSE or a POINT went out:
 * the undo puts back exactly that, newest first.  Nothing here writes to
 * the journal or logs inside the pause; the caller journals the switch as
 * one step and an open step means "run orch_recover()".
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/orchestrator.h"
#include "util/buf.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

struct dbst {
	bool to_was_fenced; /* before the switch */
	bool fenced, stopped, reverse, unfenced_to;
	bool paused[ENDPOINTS_SW_MAX];  /* a PAUSE went out */
	bool pointed[ENDPOINTS_SW_MAX]; /* a POINT went out */
	bool bad[ENDPOINTS_SW_MAX];     /* undo: not shown back at from */
	bool sent[ENDPOINTS_SW_MAX];    /* the current action's send */
	bool ok[ENDPOINTS_SW_MAX];      /* the current action succeeded */
};

struct run {
	struct endpoints_db *const *dbs;
	size_t n;
	enum db_direction dir;
	const struct orch_opts *o;
	struct orch_result *res;
	struct dbst *st;
	int64_t step_t0; /* us */
	char prefix[16]; /* "db.", "db.undo.", "db.recover." */
};

/* ---- small helpers -------------------------------------------------------- */

static void say(struct run *r, const char *object, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_info("%s: %s", object ? object : "switch", line);
	if (r->o && r->o->say)
		r->o->say(r->o->ctx, object, line);
}

static const struct sw_target *from_t(const struct endpoints_db *d, enum db_direction dir)
{
	return &d->target[db_from(dir)];
}

static const struct sw_target *to_t(const struct endpoints_db *d, enum db_direction dir)
{
	return &d->target[db_to(dir)];
}

/* The fault-injection name of step s in this run: "db.fence". */
static const char *fname(struct run *r, const char *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s", r->prefix, s);
	return buf;
}

static void step_begin(struct run *r, const char *s)
{
	char name[64];

	snprintf(r->res->last_step, sizeof(r->res->last_step), "%s", s);
	r->step_t0 = time_mono_us();
	fault_crash(fname(r, s, name, sizeof(name)), false);
}

static void step_end(struct run *r, const char *s)
{
	size_t len = strlen(r->res->timings);

	snprintf(r->res->timings + len, sizeof(r->res->timings) - len, "%s%s=%.1fms",
	         len ? " " : "", s, (time_mono_us() - r->step_t0) / 1000.0);
}

/* An injected failure of step s (one call), or 0. */
static int injected(struct run *r, const char *s, struct ferry_error *err)
{
	char name[64];

	return fault_fail(fname(r, s, name, sizeof(name)), err);
}

/* Keeps the first error: the one that started the trouble. */
static void keep(int *rc, struct ferry_error *err, int rc2, const struct ferry_error *e2)
{
	if (rc2 < 0 && *rc == 0) {
		*rc = rc2;
		if (err)
			*err = *e2;
	}
}

static void block_signals(bool on, sigset_t *saved)
{
	sigset_t s;

	if (!on) {
		sigprocmask(SIG_SETMASK, saved, NULL);
		return;
	}
	sigemptyset(&s);
	sigaddset(&s, SIGINT);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGHUP);
	sigprocmask(SIG_BLOCK, &s, saved);
}

/* ---- fan-out to endpoints ---------------------------------------------- */

typedef bool (*ep_filter)(struct run *r, size_t i, size_t j);

static bool pausing_eps(struct run *r, size_t i, size_t j)
{
	(void)j;
	return r->dbs[i]->sw->can_pause;
}

/* Endpoints that take traffic the moment they point somewhere: their
 * POINT is the commit point. */
static bool live_eps(struct run *r, size_t i, size_t j)
{
	(void)j;
	return !r->dbs[i]->sw->can_pause;
}

/* Every endpoint that want selects is shown to point at the target of
 * side. */
static int confirm(struct run *r, const char *s, ep_filter want, enum db_side side,
                   int64_t deadline, struct ferry_error *err)
{
	size_t i, j;
	int rc = 0;

	for (i = 0; rc == 0 && i < r->n; i++) {
		struct endpoints_db *d = r->dbs[i];
		for (j = 0; rc == 0 && j < d->nsw; j++) {
			struct sw_where w;
			if (!want(r, i, j))
				continue;
			rc = injected(r, s, err);
			if (rc == 0)
				rc = d->sw->show(d->swep[j], &w, deadline, err);
			if (rc == 0 && !sw_where_is(&w, &d->target[side]))
				rc = ferry_error_set(err, FERRY_ESTATE,
				                     "check that nothing else rewrites its config",
				                     "database %s: %s points at %s:%d, not at %s",
				                     d->pd->name, d->swcfg[j].name, w.host, w.port,
				                     db_side_name(side));
		}
	}
	return rc;
}

/*
 * Action a on every endpoint that want selects: every send first, then
 * every wait, against deadline.  Every endpoint is tried whatever the
 * others do; the first error is returned.  mark (may be NULL) is set for
 * each endpoint whose send went out.
 */
static int fan(struct run *r, const char *s, enum sw_action a, ep_filter want, int64_t deadline,
               bool mark_paused, bool mark_pointed, struct ferry_error *err)
{
	size_t i, j;
	int rc = 0;

	for (i = 0; i < r->n; i++) {
		struct endpoints_db *d = r->dbs[i];
		for (j = 0; j < d->nsw; j++) {
			struct ferry_error e = { 0 };
			int rc2;

			r->st[i].sent[j] = false;
			r->st[i].ok[j] = false;
			if (!want(r, i, j))
				continue;
			rc2 = injected(r, s, &e);
			if (rc2 == 0)
				rc2 = d->sw->send(d->swep[j], a, &e);
			if (rc2 == 0) {
				r->st[i].sent[j] = true;
				if (mark_paused)
					r->st[i].paused[j] = true;
				if (mark_pointed)
					r->st[i].pointed[j] = true;
			}
			keep(&rc, err, rc2, &e);
		}
	}
	for (i = 0; i < r->n; i++) {
		struct endpoints_db *d = r->dbs[i];
		for (j = 0; j < d->nsw; j++) {
			struct ferry_error e = { 0 };
			int rc2;
			if (!r->st[i].sent[j])
				continue;
			rc2 = d->sw->wait(d->swep[j], a, deadline, &e);
			r->st[i].ok[j] = rc2 == 0;
			keep(&rc, err, rc2, &e);
		}
	}
	return rc;
}

/*
 * Past the commit point: each endpoint that want selects and that did not
 * take action a (POINT or RESUME) is tried once more at once, before any
 * heavier recovery: the fastest way on for its clients.  A POINT is
 * confirmed by show.  Returns 0 when every one took it.
 */
static int retry_committed(struct run *r, enum sw_action a, ep_filter want, int64_t deadline,
                           struct ferry_error *err)
{
	size_t i, j;
	int rc = 0;

	for (i = 0; i < r->n; i++) {
		struct endpoints_db *d = r->dbs[i];
		for (j = 0; j < d->nsw; j++) {
			struct ferry_error e = { 0 };
			struct sw_where w;
			int rc2;

			if (!want(r, i, j) || r->st[i].ok[j])
				continue;
			if (a == SW_POINT) {
				rc2 = d->sw->point(d->swep[j], to_t(d, r->dir),
				                   db_side_name(db_to(r->dir)), deadline, &e);
				if (rc2 == 0)
					rc2 = d->sw->show(d->swep[j], &w, deadline, &e);
				if (rc2 == 0 && !sw_where_is(&w, to_t(d, r->dir)))
					rc2 = ferry_error_set(&e, FERRY_ESTATE, NULL,
					                      "%s: points at %s:%d after a retry",
					                      d->swcfg[j].name, w.host, w.port);
			} else {
				rc2 = d->sw->send(d->swep[j], a, &e);
				if (rc2 == 0)
					rc2 = d->sw->wait(d->swep[j], a, deadline, &e);
			}
			r->st[i].ok[j] = rc2 == 0;
			keep(&rc, err, rc2, &e);
		}
	}
	return rc;
}

/* ---- the engines' steps, on every database ---------------------------- */

/* Runs fn on every database in order, stopping at the first error (inside
 * the pause one error is enough: the undo follows). */
#define EACH_DB(r, s, rc, err, call)                                                               \
	do {                                                                                       \
		for (i = 0; (rc) == 0 && i < (r)->n; i++) {                                        \
			struct endpoints_db *d = (r)->dbs[i];                                      \
			struct dbst *st = &(r)->st[i];                                             \
			(void)st;                                                                  \
			(rc) = injected((r), (s), (err));                                          \
			if ((rc) == 0)                                                             \
				(rc) = (call);                                                     \
			if ((rc) < 0)                                                              \
				ferry_error_prefix((err), "database %s", d->pd->name);             \
		}                                                                                  \
	} while (0)

int64_t orch_budget(struct endpoints_db *const *dbs, size_t n)
{
	int64_t b = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (dbs[i]->budget_ms > 0 && (b == 0 || dbs[i]->budget_ms < b))
			b = dbs[i]->budget_ms;
	return b > 0 ? b : 5000;
}

int orch_open(struct endpoints_db *const *dbs, size_t n, struct ferry_error *err)
{
	size_t i, j;
	int rc;

	for (i = 0; i < n; i++) {
		struct endpoints_db *d = dbs[i];
		if (!d->eng->sw)
			return ferry_error_set(
			        err, FERRY_EINVAL,
			        "move it with 'ferry run --until validate' for now",
			        "database %s: this ferry's %s engine cannot switch yet",
			        d->pd->name, d->eng->name);
		for (j = 0; j < d->nsw; j++) {
			if (d->swep[j])
				continue;
			rc = d->sw->open(&d->swcfg[j], &d->swep[j], err);
			if (rc < 0)
				return ferry_error_prefix(err, "database %s", d->pd->name);
		}
	}
	return 0;
}

/* Every endpoint closed and opened again: a switch or a recovery starts
 * from fresh connections (a pooler restarted since the last one left its
 * connections dead), all before any pause. */
static int open_fresh(struct endpoints_db *const *dbs, size_t n, struct ferry_error *err)
{
	size_t i, j;

	for (i = 0; i < n; i++)
		for (j = 0; j < dbs[i]->nsw; j++) {
			dbs[i]->sw->close(dbs[i]->swep[j]);
			dbs[i]->swep[j] = NULL;
		}
	return orch_open(dbs, n, err);
}

void orch_result_release(struct orch_result *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n; i++)
		free(r->db[i].fence_pos);
	free(r->db);
	memset(r, 0, sizeof(*r));
}

static void result_init(struct orch_result *res, size_t n)
{
	memset(res, 0, sizeof(*res));
	res->db = xcalloc(n + 1, sizeof(*res->db));
	res->n = n;
}

/* ---- undo ---------------------------------------------------------------- */

/*
 * Puts back what this run did, newest first, with one deadline.  Returns 0
 * when every database is as it was (from the writer, every endpoint at
 * from and resumed), else the first error.
 */
static int undo(struct run *r, int64_t deadline, struct ferry_error *err)
{
	char failed[48];
	size_t i, j;
	int rc = 0;

	snprintf(failed, sizeof(failed), "%s", r->res->last_step);
	snprintf(r->prefix, sizeof(r->prefix), "db.undo.");
	/* every endpoint a POINT went to is reverted, then shown */
	step_begin(r, "revert");
	for (i = 0; i < r->n; i++)
		for (j = 0; j < r->dbs[i]->nsw; j++)
			r->st[i].bad[j] = false;
	{
		struct ferry_error e = { 0 };
		size_t k;
		/* want: pointed endpoints */
		for (i = 0; i < r->n; i++) {
			struct endpoints_db *d = r->dbs[i];
			for (j = 0; j < d->nsw; j++) {
				int rc2;
				r->st[i].sent[j] = false;
				if (!r->st[i].pointed[j])
					continue;
				rc2 = injected(r, "revert", &e);
				if (rc2 == 0)
					rc2 = d->sw->send(d->swep[j], SW_REVERT, &e);
				r->st[i].sent[j] = rc2 == 0;
				r->st[i].bad[j] = rc2 < 0;
				keep(&rc, err, rc2, &e);
			}
		}
		for (i = 0; i < r->n; i++) {
			struct endpoints_db *d = r->dbs[i];
			for (k = 0; k < d->nsw; k++) {
				int rc2;
				if (!r->st[i].sent[k])
					continue;
				rc2 = d->sw->wait(d->swep[k], SW_REVERT, deadline, &e);
				if (rc2 == 0) {
					struct sw_where w;
					/* resumed only once shown back at from */
					rc2 = d->sw->show(d->swep[k], &w, deadline, &e);
					if (rc2 == 0 && !sw_where_is(&w, from_t(d, r->dir)))
						rc2 = ferry_error_set(&e, FERRY_ESTATE, NULL,
						                      "%s: still points at %s:%d "
						                      "after the revert",
						                      d->swcfg[k].name, w.host,
						                      w.port);
				}
				r->st[i].bad[k] = rc2 < 0;
				keep(&rc, err, rc2, &e);
			}
		}
	}
	step_end(r, "revert");

	for (i = 0; i < r->n; i++) {
		struct endpoints_db *d = r->dbs[i];
		struct dbst *st = &r->st[i];
		struct ferry_error e = { 0 };
		bool any_bad = false;
		int rc2;

		for (j = 0; j < d->nsw; j++)
			any_bad |= st->bad[j];
		/* to takes no write while anything may still point at it */
		if (any_bad || st->unfenced_to) {
			rc2 = injected(r, "fence_target", &e);
			if (rc2 == 0)
				rc2 = d->eng->sw->fence(d->h, db_to(r->dir), deadline, &e);
			if (rc2 == 0)
				st->unfenced_to = false;
			keep(&rc, err, rc2, &e);
			if (rc2 == 0)
				for (j = 0; j < d->nsw; j++)
					st->bad[j] = false; /* fenced: harmless if resumed */
		}
		if (st->reverse) {
			rc2 = injected(r, "drop_reverse", &e);
			if (rc2 == 0)
				rc2 = d->eng->sw->drop_reverse(d->h, r->dir, deadline, &e);
			if (rc2 == 0)
				st->reverse = false;
			keep(&rc, err, rc2, &e);
		}
		if (st->stopped) {
			rc2 = injected(r, "restart_forward", &e);
			if (rc2 == 0)
				rc2 = d->eng->sw->restart_forward(d->h, r->dir, deadline, &e);
			if (rc2 == 0)
				st->stopped = false;
			keep(&rc, err, rc2, &e);
		}
		if (st->fenced) {
			rc2 = injected(r, "unfence", &e);
			if (rc2 == 0)
				rc2 = d->eng->sw->unfence(d->h, db_from(r->dir), deadline, &e);
			if (rc2 == 0)
				st->fenced = false;
			keep(&rc, err, rc2, &e);
		}
	}

	/* RESUME reaches every paused endpoint but one that may still point
	 * at an unfenced to: that one stays paused for the recovery.  When a
	 * database is not back as it was, none is resumed: the recovery that
	 * follows decides from positions while the clients wait, and points
	 * no unpaused pooler (pgbouncer counts a server login its RELOAD cuts
	 * short as a failed login and then connects to nothing for
	 * server_login_retry, 15 s by default) */
	if (rc < 0) {
		snprintf(r->prefix, sizeof(r->prefix), "db.");
		snprintf(r->res->last_step, sizeof(r->res->last_step), "%s", failed);
		return rc;
	}
	step_begin(r, "resume");
	{
		struct ferry_error e = { 0 };
		for (i = 0; i < r->n; i++) {
			struct endpoints_db *d = r->dbs[i];
			for (j = 0; j < d->nsw; j++) {
				int rc2;
				r->st[i].sent[j] = false;
				if (!r->st[i].paused[j] || r->st[i].bad[j])
					continue;
				rc2 = injected(r, "resume", &e);
				if (rc2 == 0)
					rc2 = d->sw->send(d->swep[j], SW_RESUME, &e);
				r->st[i].sent[j] = rc2 == 0;
				keep(&rc, err, rc2, &e);
			}
		}
		for (i = 0; i < r->n; i++) {
			struct endpoints_db *d = r->dbs[i];
			for (j = 0; j < d->nsw; j++) {
				int rc2;
				if (!r->st[i].sent[j])
					continue;
				rc2 = d->sw->wait(d->swep[j], SW_RESUME, deadline, &e);
				if (rc2 == 0)
					r->st[i].paused[j] = false;
				keep(&rc, err, rc2, &e);
			}
		}
		for (i = 0; i < r->n; i++)
			for (j = 0; j < r->dbs[i]->nsw; j++)
				if (r->st[i].paused[j] && rc == 0)
					rc = ferry_error_set(err, FERRY_ESTATE, NULL,
					                     "%s: left paused",
					                     r->dbs[i]->swcfg[j].name);
	}
	step_end(r, "resume");
	snprintf(r->prefix, sizeof(r->prefix), "db.");
	snprintf(r->res->last_step, sizeof(r->res->last_step), "%s", failed);
	return rc;
}

/* ---- recovery ------------------------------------------------------------ */

struct recst {
	struct db_inspect ins;
	struct sw_where where[ENDPOINTS_SW_MAX];
	bool known[ENDPOINTS_SW_MAX];
	bool can_complete;
};

static int inspect_all(struct run *r, struct recst *rs, struct ferry_error *err)
{
	size_t i, j;
	int rc = 0;

	for (i = 0; i < r->n && rc == 0; i++) {
		struct endpoints_db *d = r->dbs[i];
		rc = injected(r, "inspect", err);
		if (rc == 0)
			rc = d->eng->sw->inspect(d->h, r->dir, &rs[i].ins, err);
		if (rc < 0) {
			ferry_error_prefix(err, "database %s", d->pd->name);
			break;
		}
		for (j = 0; j < d->nsw; j++) {
			struct ferry_error e = { 0 };
			rs[i].known[j] = d->sw->show(d->swep[j], &rs[i].where[j],
			                             time_mono_ms() + 5000, &e) == 0;
		}
	}
	return rc;
}

/* Lets a running forward stream of a fenced from catch up, bounded. */
static int catch_up(struct run *r, struct endpoints_db *d, struct ferry_error *err)
{
	int64_t deadline = time_mono_ms() + ORCH_RECOVER_MS;
	char *pos = NULL;
	int rc;

	rc = d->eng->sw->position(d->h, r->dir, deadline, &pos, err);
	if (rc == 0)
		rc = d->eng->sw->wait_applied(d->h, r->dir, pos, deadline, err);
	free(pos);
	return rc;
}

/* Points endpoint j of d at side unless the inspection saw it there,
 * then confirms with show: a recovery believes only what it read. */
static int recover_point(struct run *r, struct endpoints_db *d, const struct recst *rs, size_t j,
                         enum db_side side, int64_t deadline, struct ferry_error *e)
{
	const struct sw_target *t = &d->target[side];
	struct sw_where w;
	int rc = injected(r, "point", e);

	if (rc == 0 && (!rs->known[j] || !sw_where_is(&rs->where[j], t)))
		rc = d->sw->point(d->swep[j], t, db_side_name(side), deadline, e);
	if (rc == 0)
		rc = d->sw->show(d->swep[j], &w, deadline, e);
	if (rc == 0 && !sw_where_is(&w, t))
		rc = ferry_error_set(e, FERRY_ESTATE, NULL, "%s: points at %s:%d, not at %s",
		                     d->swcfg[j].name, w.host, w.port, db_side_name(side));
	return rc;
}

static int recover_complete(struct run *r, struct recst *rs, struct ferry_error *err)
{
	int64_t deadline = time_mono_ms() + ORCH_RECOVER_MS;
	size_t i, j;
	int rc = 0;

	for (i = 0; i < r->n; i++) {
		struct endpoints_db *d = r->dbs[i];
		struct db_inspect *ins = &rs[i].ins;
		struct ferry_error e = { 0 };
		int64_t count = 0;
		int rc2 = 0;

		say(r, d->pd->name, "recovery: finishing the switch to %s (%s)",
		    db_side_name(db_to(r->dir)), ins->detail);
		/* again: a session that predates a fence a crash cut short */
		rc2 = injected(r, "fence", &e);
		if (rc2 == 0)
			rc2 = d->eng->sw->fence(d->h, db_from(r->dir), deadline, &e);
		if (rc2 == 0 && ins->forward_running && ins->caught_up != 1)
			rc2 = catch_up(r, d, &e);
		/* monotonic: never moves a sequence of to backwards */
		if (rc2 == 0 && ins->forward_exists)
			rc2 = d->eng->sw->finalize(d->h, r->dir, deadline, &count, &e);
		/* a stream that exists stops, applying or not: one that does
		 * not apply now may still follow from (a replica whose link
		 * is down), and to would stay read-only */
		if (rc2 == 0 && ins->forward_exists)
			rc2 = d->eng->sw->stop_forward(d->h, r->dir, deadline, &e);
		if (rc2 == 0 && !ins->reverse_ready && !ins->reverse_running) {
			rc2 = injected(r, "prepare_reverse", &e);
			if (rc2 == 0)
				rc2 = d->eng->sw->prepare_reverse(d->h, r->dir, deadline, &e);
		}
		if (rc2 == 0 && ins->fenced[db_to(r->dir)])
			rc2 = d->eng->sw->unfence(d->h, db_to(r->dir), deadline, &e);
		if (rc2 < 0) {
			ferry_error_prefix(&e, "database %s", d->pd->name);
			keep(&rc, err, rc2, &e);
			continue; /* its endpoints stay where they are */
		}
		for (j = 0; j < d->nsw; j++) {
			rc2 = recover_point(r, d, &rs[i], j, db_to(r->dir), deadline, &e);
			if (rc2 == 0) {
				rc2 = injected(r, "resume", &e);
				if (rc2 == 0 && d->sw->can_pause) {
					rc2 = d->sw->send(d->swep[j], SW_RESUME, &e);
					if (rc2 == 0)
						rc2 = d->sw->wait(d->swep[j], SW_RESUME, deadline,
						                  &e);
				}
			}
			keep(&rc, err, rc2, &e);
		}
	}
	return rc;
}

static int recover_undo(struct run *r, struct recst *rs, struct ferry_error *err)
{
	int64_t deadline = time_mono_ms() + ORCH_RECOVER_MS;
	size_t i, j;
	int rc = 0;

	for (i = 0; i < r->n; i++) {
		struct endpoints_db *d = r->dbs[i];
		struct db_inspect *ins = &rs[i].ins;
		bool safe = true;
		int rc2 = 0;

		say(r, d->pd->name, "recovery: undoing the switch, %s stays the writer (%s)",
		    db_side_name(db_from(r->dir)), ins->detail);
		for (j = 0; j < d->nsw; j++) {
			struct ferry_error e = { 0 };
			rc2 = recover_point(r, d, &rs[i], j, db_from(r->dir), deadline, &e);
			safe = safe && rc2 == 0;
			keep(&rc, err, rc2, &e);
		}
		{
			struct ferry_error e = { 0 };
			/* to as it is outside a switch: fenced after a cutover
			 * (old, in a rollback's terms), and always while an
			 * endpoint may still point at it */
			if (!safe || r->dir == DB_REVERSE) {
				rc2 = d->eng->sw->fence(d->h, db_to(r->dir), deadline, &e);
				if (rc2 == 0)
					safe = true;
			} else if (ins->fenced[db_to(r->dir)]) {
				rc2 = d->eng->sw->unfence(d->h, db_to(r->dir), deadline, &e);
			}
			keep(&rc, err, rc2, &e);
			rc2 = 0;
			if (ins->reverse_ready && !ins->reverse_running)
				rc2 = d->eng->sw->drop_reverse(d->h, r->dir, deadline, &e);
			if (rc2 == 0 && ins->forward_exists && !ins->forward_running)
				rc2 = d->eng->sw->restart_forward(d->h, r->dir, deadline, &e);
			if (rc2 == 0 && ins->fenced[db_from(r->dir)]) {
				rc2 = injected(r, "unfence", &e);
				if (rc2 == 0)
					rc2 = d->eng->sw->unfence(d->h, db_from(r->dir), deadline,
					                          &e);
			}
			if (rc2 < 0)
				ferry_error_prefix(&e, "database %s", d->pd->name);
			keep(&rc, err, rc2, &e);
		}
		for (j = 0; safe && d->sw->can_pause && j < d->nsw; j++) {
			struct ferry_error e = { 0 };
			rc2 = injected(r, "resume", &e);
			if (rc2 == 0)
				rc2 = d->sw->send(d->swep[j], SW_RESUME, &e);
			if (rc2 == 0)
				rc2 = d->sw->wait(d->swep[j], SW_RESUME, deadline, &e);
			keep(&rc, err, rc2, &e);
		}
	}
	return rc;
}

/* Before the recovery changes anything, the pausable endpoints it would
 * disturb are paused, as in a switch: one it re-points (or cannot tell
 * where it points), or one at the side whose fence it changes (ending
 * that side's sessions).  Clients then wait instead of meeting a fenced
 * database, and no pgbouncer is re-pointed or has its server sessions
 * ended while it opens new ones (it counts a login cut short as failed
 * and then opens none for server_login_retry, 15 s by default).  An
 * endpoint already where the recovery leads, on a side it leaves alone,
 * is not paused again (a RESUME just sent would only flap).  A pooler
 * that cannot be paused in time is recovered anyway (the fences keep
 * writes right); what the recovery does not resume stays paused for the
 * next. */
static void recover_pause(struct run *r, const struct recst *rs, bool complete)
{
	size_t i, j;

	for (i = 0; i < r->n; i++) {
		struct endpoints_db *d = r->dbs[i];
		const struct db_inspect *ins = &rs[i].ins;
		enum db_side side = complete ? db_to(r->dir) : db_from(r->dir);
		const struct sw_target *t = complete ? to_t(d, r->dir) : from_t(d, r->dir);
		int64_t deadline = time_mono_ms() + (d->budget_ms > 0 ? d->budget_ms : 5000);
		bool sent[ENDPOINTS_SW_MAX] = { false };

		if (!d->sw->can_pause)
			continue;
		for (j = 0; j < d->nsw; j++) {
			struct ferry_error e = { 0 };
			if (rs[i].known[j] &&
			    (rs[i].where[j].paused ||
			     (sw_where_is(&rs[i].where[j], t) && !ins->fenced[side])))
				continue;
			sent[j] = d->sw->send(d->swep[j], SW_PAUSE, &e) == 0;
			if (!sent[j])
				say(r, d->pd->name, "recovery: cannot pause %s (%s)",
				    d->swcfg[j].name, e.msg);
		}
		for (j = 0; j < d->nsw; j++) {
			struct ferry_error e = { 0 };
			if (sent[j] && d->sw->wait(d->swep[j], SW_PAUSE, deadline, &e) < 0)
				say(r, d->pd->name, "recovery: %s did not pause (%s)",
				    d->swcfg[j].name, e.msg);
		}
	}
}

static int recover(struct run *r, struct ferry_error *err)
{
	struct recst *rs = xcalloc(r->n + 1, sizeof(*rs));
	bool all = true, committed = false, ready = true;
	size_t i;
	int rc;

	snprintf(r->prefix, sizeof(r->prefix), "db.recover.");
	rc = inspect_all(r, rs, err);
	if (rc < 0)
		goto out;
	for (i = 0; i < r->n; i++) {
		struct endpoints_db *d = r->dbs[i];
		struct db_inspect *ins = &rs[i].ins;
		size_t j;
		/* past the commit point: an endpoint lets work reach an
		 * unfenced to, or the reverse stream runs; from then on only
		 * completing keeps every write */
		if (ins->reverse_running)
			committed = true;
		for (j = 0; j < d->nsw && !ins->fenced[db_to(r->dir)]; j++)
			if (rs[i].known[j] && !rs[i].where[j].paused &&
			    sw_where_is(&rs[i].where[j], to_t(d, r->dir)))
				committed = true;
		/* from refuses writes, and to has every change of from, or a
		 * running stream still brings the rest, or the forward stream
		 * was stopped (only ever after to had applied everything) and
		 * the way back is ready */
		rs[i].can_complete = ins->fenced[db_from(r->dir)] &&
		                     (ins->caught_up == 1 || ins->forward_running ||
		                      (!ins->forward_running && ins->caught_up != 0 &&
		                       (ins->reverse_ready || ins->reverse_running)));
		all = all && rs[i].can_complete;
		ready = ready && ins->caught_up == 1;
	}
	/* not committed: both ways keep every write; completing would wait
	 * for a stream to catch up (one just restarted may take seconds to
	 * start applying) while the clients wait, undoing only unfences */
	if (!committed && !ready)
		all = false;
	if (committed && !all) {
		for (i = 0; i < r->n; i++)
			if (!rs[i].ins.fenced[db_from(r->dir)]) {
				rc = ferry_error_set(
				        err, FERRY_ESTATE,
				        "stop the applications' writes to both sides and "
				        "compare the databases before going on",
				        "database %s: writes may have reached both %s and "
				        "%s (%s)",
				        r->dbs[i]->pd->name, db_side_name(db_from(r->dir)),
				        db_side_name(db_to(r->dir)), rs[i].ins.detail);
				goto out;
			}
		all = true; /* committed, from fenced everywhere: complete */
	}
	recover_pause(r, rs, all);
	rc = all ? recover_complete(r, rs, err) : recover_undo(r, rs, err);
	if (rc == 0)
		r->res->outcome = all ? ORCH_DONE : ORCH_UNDONE;
out:
	if (rc < 0)
		r->res->outcome = ORCH_STUCK;
	r->res->recovered = true;
	snprintf(r->prefix, sizeof(r->prefix), "db.");
	free(rs);
	return rc;
}

int orch_recover(struct endpoints_db *const *dbs, size_t n, enum db_direction dir,
                 const struct orch_opts *o, struct orch_result *res, struct ferry_error *err)
{
	struct run r = { .dbs = dbs, .n = n, .dir = dir, .o = o, .res = res };
	int rc;

	result_init(res, n);
	rc = open_fresh(dbs, n, err);
	if (rc < 0) {
		res->outcome = ORCH_STUCK;
		return ferry_error_prefix(err, "recovery");
	}
	rc = recover(&r, err);
	return rc < 0 ? ferry_error_prefix(err, "recovery") : 0;
}

/* ---- the switch ------------------------------------------------------------ */

/* After RESUME: the held endpoints' queued clients served before the
 * switch returns (ORCH_SERVED_MS at most), so that the steps after it
 * (start_reverse, drop_forward: connections to both sides) do not compete
 * with the poolers' first server connections to to.  Outside the pause;
 * an endpoint that cannot tell is not waited for. */
static void served(struct run *r)
{
	int64_t deadline = time_mono_ms() + ORCH_SERVED_MS;
	size_t i, j;

	step_begin(r, "served");
	for (i = 0; i < r->n; i++) {
		struct endpoints_db *d = r->dbs[i];
		for (j = 0; d->sw->can_pause && d->sw->served && j < d->nsw; j++) {
			struct ferry_error e = { 0 };
			if (d->sw->served(d->swep[j], deadline, &e) < 0)
				log_debug("%s: %s", d->swcfg[j].name, e.msg);
		}
	}
	step_end(r, "served");
}

/* A database that a crash or a failed undo left half switched: from
 * fenced, an endpoint paused, or pointing at to. */
static bool half_done(const struct endpoints_db *d, enum db_direction dir,
                      const struct db_inspect *ins, const struct sw_where *w, size_t nw)
{
	size_t j;

	if (ins->fenced[db_from(dir)])
		return true;
	for (j = 0; j < nw; j++)
		if (w[j].paused || sw_where_is(&w[j], to_t(d, dir)))
			return true;
	return false;
}

/* err prefixed "database NAME: " unless it says so already (the engines'
 * own preflight messages do). */
static int db_prefixed(struct ferry_error *err, const char *name)
{
	size_t n = strlen(name);

	if (!strncmp(err->msg, "database ", 9) && !strncmp(err->msg + 9, name, n) &&
	    err->msg[9 + n] == ':')
		return err->code;
	return ferry_error_prefix(err, "database %s", name);
}

static int preflight(struct run *r, bool *recovered, struct ferry_error *err)
{
	struct sw_where w[ENDPOINTS_SW_MAX];
	size_t i, j;
	int rc = 0;

	*recovered = false;
	for (i = 0; i < r->n && rc == 0; i++) {
		struct endpoints_db *d = r->dbs[i];
		struct db_inspect ins;

		rc = injected(r, "preflight", err);
		if (rc == 0)
			rc = d->eng->sw->inspect(d->h, r->dir, &ins, err);
		for (j = 0; rc == 0 && j < d->nsw; j++)
			rc = d->sw->show(d->swep[j], &w[j], time_mono_ms() + 5000, err);
		if (rc < 0)
			return db_prefixed(err, d->pd->name);
		if (half_done(d, r->dir, &ins, w, d->nsw)) {
			*recovered = true;
			return 0;
		}
		r->st[i].to_was_fenced = ins.fenced[db_to(r->dir)];
		for (j = 0; j < d->nsw; j++) {
			char want[300];
			if (sw_where_is(&w[j], from_t(d, r->dir)))
				continue;
			sw_target_format(from_t(d, r->dir), want, sizeof(want));
			return ferry_error_set(err, FERRY_ECHECK,
			                       "point it at the writer, or fix the plan's "
			                       "conninfos",
			                       "database %s: %s points at %s:%d, not at %s (the "
			                       "writer): the switch would move writes nobody "
			                       "makes",
			                       d->pd->name, d->swcfg[j].name, w[j].host, w[j].port,
			                       want);
		}
		rc = d->eng->sw->preflight(d->h, r->dir, err);
		if (rc < 0)
			db_prefixed(err, d->pd->name);
	}
	return rc;
}

int orch_switch(struct endpoints_db *const *dbs, size_t n, enum db_direction dir,
                const struct orch_opts *o, struct orch_result *res, struct ferry_error *err)
{
	struct run r = { .dbs = dbs, .n = n, .dir = dir, .o = o, .res = res };
	int64_t budget = orch_budget(dbs, n), t0 = 0, deadline, undo_deadline, commit_deadline;
	bool recovered = false, in_pause = false, overran;
	char failed_at[48];
	sigset_t saved;
	size_t i;
	int rc;

	result_init(res, n);
	snprintf(r.prefix, sizeof(r.prefix), "db.");
	r.st = xcalloc(n + 1, sizeof(*r.st));

	step_begin(&r, "preflight");
	rc = open_fresh(dbs, n, err);
	if (rc == 0)
		rc = preflight(&r, &recovered, err);
	if (rc == 0 && recovered) {
		/* a half-done switch: finished or undone first */
		say(&r, NULL, "a switch %s was left half done; recovering it first",
		    dir == DB_FORWARD ? "to new" : "back to old");
		rc = recover(&r, err);
		if (rc < 0 || res->outcome == ORCH_DONE)
			goto out;
		memset(r.st, 0, (n + 1) * sizeof(*r.st));
		res->recovered = false;
		rc = preflight(&r, &recovered, err);
		if (rc == 0 && recovered)
			rc = ferry_error_set(err, FERRY_ESTATE, "run ferry run again",
			                     "the recovery left a switch half done");
	}
	if (rc < 0) {
		res->outcome = ORCH_REFUSED;
		if (rc != FERRY_ECHECK)
			ferry_error_prefix(err, "switch refused");
		goto out;
	}
	step_end(&r, "preflight");

	step_begin(&r, "prepare");
	EACH_DB(&r, "prepare", rc, err, d->eng->sw->prepare(d->h, dir, err));
	for (i = 0; rc == 0 && i < n; i++) {
		struct endpoints_db *d = dbs[i];
		for (size_t j = 0; rc == 0 && j < d->nsw; j++) {
			rc = injected(&r, "stage", err);
			if (rc == 0)
				rc = d->sw->stage(d->swep[j], to_t(d, dir),
				                  db_side_name(db_to(dir)), time_mono_ms() + 30000,
				                  err);
		}
	}
	if (rc < 0) {
		/* nothing the applications see has changed */
		res->outcome = ORCH_REFUSED;
		goto out;
	}
	step_end(&r, "prepare");

	/* ---- the write pause ---- */
	if (o && o->block_signals)
		block_signals(true, &saved);
	in_pause = true;
	t0 = time_mono_us();
	deadline = time_mono_ms() + budget;

	step_begin(&r, "pause");
	rc = fan(&r, "pause", SW_PAUSE, pausing_eps, deadline, true, false, err);
	if (rc < 0)
		goto fail;
	step_end(&r, "pause");

	step_begin(&r, "fence");
	EACH_DB(&r, "fence", rc, err,
	        (st->fenced = true, d->eng->sw->fence(d->h, db_from(dir), deadline, err)));
	if (rc < 0)
		goto fail;
	step_end(&r, "fence");

	step_begin(&r, "position");
	EACH_DB(&r, "position", rc, err,
	        d->eng->sw->position(d->h, dir, deadline, &res->db[i].fence_pos, err));
	if (rc < 0)
		goto fail;
	step_end(&r, "position");

	step_begin(&r, "wait_applied");
	EACH_DB(&r, "wait_applied", rc, err,
	        d->eng->sw->wait_applied(d->h, dir, res->db[i].fence_pos, deadline, err));
	if (rc < 0)
		goto fail;
	step_end(&r, "wait_applied");

	step_begin(&r, "finalize");
	EACH_DB(&r, "finalize", rc, err,
	        d->eng->sw->finalize(d->h, dir, deadline, &res->db[i].sequences, err));
	if (rc < 0)
		goto fail;
	step_end(&r, "finalize");

	step_begin(&r, "stop_forward");
	EACH_DB(&r, "stop_forward", rc, err,
	        (st->stopped = true, d->eng->sw->stop_forward(d->h, dir, deadline, err)));
	if (rc < 0)
		goto fail;
	step_end(&r, "stop_forward");

	step_begin(&r, "prepare_reverse");
	EACH_DB(&r, "prepare_reverse", rc, err,
	        (st->reverse = true, d->eng->sw->prepare_reverse(d->h, dir, deadline, err)));
	if (rc < 0)
		goto fail;
	step_end(&r, "prepare_reverse");

	step_begin(&r, "unfence_target");
	EACH_DB(&r, "unfence_target", rc, err,
	        !st->to_was_fenced ? 0
	                           : (st->unfenced_to = true,
	                              d->eng->sw->unfence(d->h, db_to(dir), deadline, err)));
	if (rc < 0)
		goto fail;
	step_end(&r, "unfence_target");

	/* the held endpoints pointed at to, and shown there */
	step_begin(&r, "point");
	rc = fan(&r, "point", SW_POINT, pausing_eps, deadline, false, true, err);
	if (rc < 0)
		goto fail;
	step_end(&r, "point");
	step_begin(&r, "confirm");
	rc = confirm(&r, "confirm", pausing_eps, db_to(dir), deadline, err);
	if (rc < 0)
		goto fail;
	step_end(&r, "confirm");
	/* the last look before the commit point: a fence that someone else
	 * ended inside the pause undoes the switch (db.h) */
	step_begin(&r, "fence_holds");
	EACH_DB(&r, "fence_holds", rc, err,
	        !d->eng->sw->fence_holds
	                ? 0
	                : d->eng->sw->fence_holds(d->h, db_from(dir), deadline, err));
	if (rc < 0)
		goto fail;
	step_end(&r, "fence_holds");
	if (time_mono_ms() >= deadline) {
		rc = ferry_error_set(err, FERRY_ETIMEDOUT, NULL,
		                     "the budget ran out before RESUME");
		goto fail;
	}

	/* The commit point: from here on to takes writes and the switch can
	 * only complete.  Endpoints that cannot hold work are pointed now
	 * (their clients reach to at once), then RESUME reaches every held
	 * one.  A failure here is recovered forward, never undone. */
	in_pause = false;
	commit_deadline = deadline + ORCH_UNDO_MS;
	if (commit_deadline < time_mono_ms() + ORCH_UNDO_MS)
		commit_deadline = time_mono_ms() + ORCH_UNDO_MS;
	step_begin(&r, "commit");
	rc = fan(&r, "commit", SW_POINT, live_eps, commit_deadline, false, true, err);
	if (rc < 0)
		rc = retry_committed(&r, SW_POINT, live_eps, commit_deadline, err);
	else
		rc = confirm(&r, "commit", live_eps, db_to(dir), commit_deadline, err);
	step_end(&r, "commit");
	step_begin(&r, "resume");
	{
		struct ferry_error e = { 0 };
		int rc2 = fan(&r, "resume", SW_RESUME, pausing_eps, commit_deadline, false, false,
		              &e);
		if (rc2 < 0)
			rc2 = retry_committed(&r, SW_RESUME, pausing_eps, commit_deadline, &e);
		keep(&rc, err, rc2, &e);
	}
	res->pause_ms = (time_mono_us() - t0 + 999) / 1000;
	step_end(&r, "resume");
	if (o && o->block_signals)
		block_signals(false, &saved);
	if (rc < 0) {
		struct ferry_error e2 = { 0 };
		say(&r, NULL, "%s failed (%s); the switch is committed: recovering forward",
		    res->last_step, err ? err->msg : "");
		rc = recover(&r, &e2);
		if (rc < 0 && err)
			*err = e2;
		goto out;
	}
	res->outcome = ORCH_DONE;
	served(&r);
	goto out;

fail:
	overran = time_mono_ms() >= deadline || rc == FERRY_ETIMEDOUT;
	snprintf(failed_at, sizeof(failed_at), "%s", res->last_step);
	undo_deadline = (time_mono_ms() > deadline ? time_mono_ms() : deadline) + ORCH_UNDO_MS;
	if (undo_deadline > deadline + ORCH_UNDO_MS)
		undo_deadline = deadline + ORCH_UNDO_MS;
	if (undo_deadline < time_mono_ms() + 50)
		undo_deadline = time_mono_ms() + 50;
	{
		struct ferry_error ue = { 0 };
		int urc = undo(&r, undo_deadline, &ue);

		res->pause_ms = (time_mono_us() - t0 + 999) / 1000;
		if (in_pause && o && o->block_signals)
			block_signals(false, &saved);
		in_pause = false;
		if (urc == 0) {
			res->outcome = ORCH_UNDONE;
			if (overran)
				rc = ferry_error_set(err, FERRY_EBUDGET,
				                     "let the lag settle, or raise pause_budget",
				                     "the write pause would overrun its budget of "
				                     "%lld ms at step %s; undone, %s is still the "
				                     "writer",
				                     (long long)budget, failed_at,
				                     db_side_name(db_from(dir)));
			else
				rc = ferry_error_prefix(err,
				                        "switch undone at step %s (%s is still "
				                        "the writer)",
				                        failed_at, db_side_name(db_from(dir)));
			goto out;
		}
		/* the undo did not put everything back: decide from positions */
		say(&r, NULL, "the undo failed (%s); recovering", ue.msg);
		{
			struct ferry_error re = { 0 };
			int rrc = recover(&r, &re);
			if (rrc < 0) {
				rc = ferry_error_set(
				        err, rrc, "run ferry run again: it recovers first",
				        "switch failed at %s; undo failed (%s); recovery "
				        "failed: %s",
				        failed_at, ue.msg, re.msg);
				goto out;
			}
		}
		if (res->outcome == ORCH_UNDONE)
			rc = ferry_error_prefix(err, "switch undone by recovery after step %s",
			                        failed_at);
		else
			rc = 0; /* completed by recovery */
	}
out:
	if (in_pause && o && o->block_signals)
		block_signals(false, &saved);
	free(r.st);
	return res->outcome == ORCH_DONE ? 0 : (rc < 0 ? rc : FERRY_ESTATE);
}

/* ---- the wait for the streams ------------------------------------------- */

/* The name of the first database whose stream in direction dir is to be
 * waited for before the pause (its lag in *lag), or NULL: one starting
 * (enabled, its worker not yet launched or not yet connected to the
 * source), one that runs and is behind, one recovering (apply errors
 * counted that it may be past: a server restarted, say).  Apply errors
 * and a stream that does not run (a switch half done, for the recovery)
 * are the preflight's to say. */
static const char *stream_behind(struct endpoints_db *const *dbs, size_t n, enum db_direction dir,
                                 struct db_lag *lag)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct endpoints_db *d = dbs[i];
		struct ferry_error err = { 0 };
		int64_t max = d->cfg.max_lag_ms ? d->cfg.max_lag_ms : 1000;

		memset(lag, 0, sizeof(*lag));
		if (!d->eng->lag || d->eng->lag(d->h, dir, lag, &err) < 0)
			continue; /* the preflight says why */
		if (lag->recovering ||
		    (lag->apply_errors == 0 &&
		     (lag->starting || lag->connecting || (lag->worker_running && lag->ms > max))))
			return d->pd->name;
	}
	return NULL;
}

static void wait_streams(struct run *r, int64_t until)
{
	const char *way = r->dir == DB_FORWARD ? "old -> new" : "new -> old";
	int64_t say_at = 0;

	for (;;) {
		struct db_lag lag;
		const char *name = stream_behind(r->dbs, r->n, r->dir, &lag);

		if (!name || time_mono_ms() >= until)
			return;
		if (time_mono_ms() >= say_at) {
			if (lag.recovering)
				say(r, name,
				    "waiting for replication %s to apply past the %lld apply "
				    "errors counted before the write pause",
				    way, (long long)lag.apply_errors);
			else if (lag.starting || lag.connecting)
				say(r, name,
				    "waiting for replication %s to start before the write pause: "
				    "%s, %lld bytes behind",
				    way,
				    lag.starting ? "no apply worker yet"
				                 : "its worker not yet connected",
				    (long long)lag.bytes);
			else
				say(r, name,
				    "waiting for replication %s to catch up before the write "
				    "pause: lag %lld ms, %lld bytes",
				    way, (long long)lag.ms, (long long)lag.bytes);
			say_at = time_mono_ms() + 5000;
		}
		time_sleep_until_ms(time_mono_ms() + 200);
	}
}

int orch_switch_caught_up(struct endpoints_db *const *dbs, size_t n, enum db_direction dir,
                          int64_t wait_ms, const struct orch_opts *o, struct orch_result *res,
                          struct ferry_error *err)
{
	struct run r = { .dbs = dbs, .n = n, .dir = dir, .o = o, .res = res };
	int64_t until = time_mono_ms() + wait_ms;
	int rc;

	for (;;) {
		struct db_lag lag;
		const char *name;

		wait_streams(&r, until);
		rc = orch_switch(dbs, n, dir, o, res, err);
		if (res->outcome != ORCH_REFUSED || time_mono_ms() >= until ||
		    !(name = stream_behind(dbs, n, dir, &lag)))
			return rc;
		say(&r, name,
		    "the switch was refused (%s); replication %s is behind again: waiting for it, "
		    "then trying again",
		    err ? err->msg : "", dir == DB_FORWARD ? "old -> new" : "new -> old");
		orch_result_release(res);
		if (err)
			memset(err, 0, sizeof(*err));
	}
}

/* ---- after the switch --------------------------------------------------- */

int orch_start_reverse(struct endpoints_db *d, enum db_direction dir, const char *fence_pos,
                       struct orch_db_result *r, struct ferry_error *err)
{
	int rc = fault_point("db.start_reverse", err);

	if (rc == 0)
		rc = d->eng->sw->start_reverse(d->h, dir, err);
	if (rc == 0 && r && d->eng->sw->reverse_note &&
	    d->eng->sw->reverse_note(d->h, dir, r->reverse_note, sizeof(r->reverse_note)) < 0)
		r->reverse_note[0] = '\0';
	if (rc == 0 && dir == DB_REVERSE && r && d->eng->sw->carried) {
		struct ferry_error e = { 0 };
		if (d->eng->sw->carried(d->h, dir, fence_pos, &r->carried_txns, &r->carried_bytes,
		                        &e) < 0)
			log_info("database %s: cannot count what was carried back: %s", d->pd->name,
			         e.msg);
	}
	return rc < 0 ? ferry_error_prefix(err, "database %s", d->pd->name) : 0;
}

int orch_drop_forward(struct endpoints_db *d, enum db_direction dir, struct ferry_error *err)
{
	int rc = fault_point("db.drop_forward", err);

	if (rc == 0)
		rc = d->eng->sw->drop_forward(d->h, dir, err);
	return rc < 0 ? ferry_error_prefix(err, "database %s", d->pd->name) : 0;
}

int orch_writer(struct endpoints_db *d, enum db_direction dir, int *who, char *why, size_t whylen,
                struct ferry_error *err)
{
	struct db_inspect ins;
	bool at_to = true, at_from = true;
	size_t j;
	int rc;

	rc = orch_open(&d, 1, err);
	if (rc == 0)
		rc = d->eng->sw->inspect(d->h, dir, &ins, err);
	if (rc < 0)
		return rc;
	for (j = 0; j < d->nsw; j++) {
		struct sw_where w;
		rc = d->sw->show(d->swep[j], &w, time_mono_ms() + 5000, err);
		if (rc < 0)
			return rc;
		at_to = at_to && !w.paused && sw_where_is(&w, to_t(d, dir));
		at_from = at_from && !w.paused && sw_where_is(&w, from_t(d, dir));
	}
	snprintf(why, whylen, "%s; endpoints at %s", ins.detail,
	         at_to     ? db_side_name(db_to(dir))
	         : at_from ? db_side_name(db_from(dir))
	                   : "neither");
	if (ins.fenced[db_from(dir)] && !ins.fenced[db_to(dir)] && at_to)
		*who = 1;
	else if (!ins.fenced[db_from(dir)] && at_from)
		*who = 0;
	else
		*who = -1;
	return 0;
}

int orch_check(struct endpoints_db *const *dbs, size_t n, enum db_direction dir,
               struct check_rows *out, struct ferry_error *err)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		struct endpoints_db *d = dbs[i];
		for (j = 0; j < d->nsw; j++) {
			struct ferry_error e = { 0 };
			char object[160];

			snprintf(object, sizeof(object), "%s %s", d->pd->name, d->swcfg[j].name);
			if (!d->swep[j] && d->sw->open(&d->swcfg[j], &d->swep[j], &e) < 0) {
				check_rows_add(out, "switch", object, CHECK_FAIL,
				               "the cutover cannot pause or repoint it", "%s",
				               e.msg);
				continue;
			}
			d->sw->check(d->swep[j], from_t(d, dir), object, out);
		}
	}
	(void)err;
	return 0;
}

/* ---- the dry run ----------------------------------------------------------- */

struct desc {
	struct endpoints_db *const *dbs;
	size_t n;
	enum db_direction dir;
	struct buf o;
	int rc;
	struct ferry_error *err;
};

/* Appends the engine's lines of step s for every database, each prefixed
 * "STEP[ [pause]] DATABASE ". */
static void desc_db(struct desc *x, const char *label, const char *s, bool pause)
{
	size_t i;

	for (i = 0; x->rc == 0 && i < x->n; i++) {
		struct endpoints_db *d = x->dbs[i];
		struct buf t;
		const char *p, *nl;

		if (d->eng->sw && !strcmp(s, DB_SW_FENCE_HOLDS) && !d->eng->sw->fence_holds)
			continue;
		if (!d->eng->sw) {
			if (!strcmp(s, DB_SW_OPEN))
				buf_addf(&x->o,
				         "%s %s ferry: this ferry's %s engine cannot switch yet\n",
				         label, d->pd->name, d->eng->name);
			continue;
		}
		buf_init(&t, 1 << 20);
		x->rc = d->eng->sw->describe(&d->cfg, x->dir, s, &t, x->err);
		for (p = t.data; x->rc == 0 && p && *p; p = *nl ? nl + 1 : nl) {
			nl = strchr(p, '\n');
			if (!nl)
				nl = p + strlen(p);
			buf_addf(&x->o, "%s%s %s %.*s\n", label, pause ? " [pause]" : "",
			         d->pd->name, (int)(nl - p), p);
		}
		buf_release(&t);
	}
}

/* Appends every endpoint's lines for what. */
static void desc_eps(struct desc *x, const char *label, int what, bool to_side, bool pause,
                     int which);

static void desc_ep(struct desc *x, const char *label, int what, bool to_side, bool pause,
                    bool held_only)
{
	desc_eps(x, label, what, to_side, pause, held_only ? 1 : 0);
}

static void desc_ep_live(struct desc *x, const char *label, int what, bool to_side)
{
	desc_eps(x, label, what, to_side, true, 2);
}

static void desc_eps(struct desc *x, const char *label, int what, bool to_side, bool pause,
                     int which /* 0 all, 1 held, 2 live */)
{
	size_t i, j;

	for (i = 0; x->rc == 0 && i < x->n; i++) {
		struct endpoints_db *d = x->dbs[i];
		enum db_side side = to_side ? db_to(x->dir) : db_from(x->dir);
		char prefix[128];

		if ((which == 1 && !d->sw->can_pause) || (which == 2 && d->sw->can_pause))
			continue;
		snprintf(prefix, sizeof(prefix), "%s%s %s", label, pause ? " [pause]" : "",
		         d->pd->name);
		for (j = 0; x->rc == 0 && j < d->nsw; j++)
			x->rc = d->sw->describe(&d->swcfg[j], what, &d->target[side],
			                        db_side_name(side), prefix, &x->o, x->err);
	}
}

static void note(struct desc *x, const char *label, bool pause, const char *fmt, ...)
{
	va_list ap;

	buf_addf(&x->o, "%s%s ferry: ", label, pause ? " [pause]" : "");
	va_start(ap, fmt);
	buf_vaddf(&x->o, fmt, ap);
	va_end(ap);
	buf_addch(&x->o, '\n');
}

int orch_describe(struct endpoints_db *const *dbs, size_t n, enum db_direction dir, struct buf *out,
                  struct ferry_error *err)
{
	struct desc x = { .dbs = dbs, .n = n, .dir = dir, .err = err };
	const char *from = db_side_name(db_from(dir)), *to = db_side_name(db_to(dir));

	buf_init(&x.o, 16 << 20);
	desc_db(&x, "open", DB_SW_OPEN, false);
	desc_ep(&x, "open", SW_DESC_OPEN, false, false, false);
	desc_db(&x, "preflight", DB_SW_PREFLIGHT, false);
	desc_ep(&x, "preflight", SW_DESC_SHOW, false, false, false);
	if (x.rc == 0)
		note(&x, "preflight", false,
		     "every endpoint must point at %s and not be paused; a switch left half done "
		     "is recovered first",
		     from);
	desc_db(&x, "prepare", DB_SW_PREPARE, false);
	desc_ep(&x, "prepare", SW_DESC_STAGE, true, false, false);
	if (x.rc == 0)
		note(&x, "pause", true,
		     "the write pause starts: budget %lld ms to RESUME, or all is "
		     "undone; SIGINT, SIGTERM, SIGHUP held",
		     (long long)orch_budget(dbs, n));
	desc_ep(&x, "pause", SW_PAUSE, true, true, true);
	desc_db(&x, "fence", DB_SW_FENCE, true);
	desc_db(&x, "position", DB_SW_POSITION, true);
	desc_db(&x, "wait_applied", DB_SW_WAIT_APPLIED, true);
	desc_db(&x, "finalize", DB_SW_FINALIZE, true);
	desc_db(&x, "stop_forward", DB_SW_STOP_FORWARD, true);
	desc_db(&x, "prepare_reverse", DB_SW_PREPARE_REVERSE, true);
	if (x.rc == 0)
		note(&x, "unfence_target", true,
		     "only for a database whose %s is fenced (a "
		     "rollback: the cutover left it fenced)",
		     to);
	desc_db(&x, "unfence_target", DB_SW_UNFENCE_TARGET, true);
	desc_ep(&x, "point", SW_POINT, true, true, true);
	desc_ep(&x, "confirm", SW_DESC_SHOW, true, true, true);
	if (x.rc == 0)
		note(&x, "confirm", true,
		     "every held endpoint must point at %s before anything resumes", to);
	desc_db(&x, "fence_holds", DB_SW_FENCE_HOLDS, true);
	if (x.rc == 0)
		note(&x, "fence_holds", true, "the commit point follows: no undo after it");
	desc_ep_live(&x, "commit", SW_POINT, true);
	desc_ep_live(&x, "commit", SW_DESC_SHOW, true);
	desc_ep(&x, "resume", SW_RESUME, true, true, true);
	if (x.rc == 0)
		note(&x, "resume", true, "the write pause ends: %s is the writer", to);
	desc_ep(&x, "served", SW_DESC_SERVED, true, false, true);
	desc_db(&x, "start_reverse", DB_SW_START_REVERSE, false);
	desc_db(&x, "drop_forward", DB_SW_DROP_FORWARD, false);
	if (x.rc == 0)
		note(&x, "undo", true,
		     "only if a step inside the pause fails or the budget runs out; then, newest "
		     "first, each for what was done, within %d ms more:",
		     ORCH_UNDO_MS);
	desc_ep(&x, "undo", SW_REVERT, false, true, false);
	desc_db(&x, "undo", DB_SW_UNDO_FENCE_TARGET, true);
	desc_db(&x, "undo", DB_SW_UNDO_DROP_REVERSE, true);
	desc_db(&x, "undo", DB_SW_UNDO_RESTART_FORWARD, true);
	desc_db(&x, "undo", DB_SW_UNDO_UNFENCE, true);
	desc_ep(&x, "undo", SW_RESUME, false, true, true);
	if (x.rc == 0 && buf_add(out, x.o.data, x.o.len) < 0)
		x.rc = ferry_error_set(err, FERRY_EPROTO, "give the buffer more room",
		                       "the switch's description does not fit");
	buf_release(&x.o);
	return x.rc;
}
