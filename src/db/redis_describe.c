/*
 * redis_describe.c - the dry run of the Redis engine (db.h describe_*):
 * what replicate_start and teardown would send, in order, without a
 * connection.  The lines follow redis.c's code; a change there must be
 * mirrored here (tests/unit/test_describe.c holds the expected texts).
 *
 * rd_describe_step() describes each switch step of redis_switch.c (its
 * ops, at the end) for the orchestrator's dry run, as "TARGET: TEXT  --
 * NOTE" lines without a step name (the orchestrator prefixes them).
 */
#include <stdarg.h>
#include <string.h>

#include "db/redis_int.h"
#include "util/buf.h"

struct desc {
	struct redis_endpoint ep[2];
	struct buf o;
	const char *step;
	int rc;
};

static int desc_init(struct desc *d, const struct db_config *cfg, struct ferry_error *err)
{
	memset(d, 0, sizeof(*d));
	buf_init(&d->o, 1 << 20);
	d->rc = redis_endpoint_parse(cfg->old_conninfo, &d->ep[REDIS_OLD], err);
	if (d->rc == 0)
		d->rc = redis_endpoint_parse(cfg->new_conninfo, &d->ep[REDIS_NEW], err);
	if (d->rc < 0)
		ferry_error_prefix(err, "database %s", cfg->name);
	return d->rc;
}

static int desc_finish(struct desc *d, const struct db_config *cfg, struct buf *out,
                       struct ferry_error *err)
{
	if (d->rc == 0 && buf_add(out, d->o.data, d->o.len) < 0)
		d->rc = ferry_error_set(err, FERRY_EPROTO, "give the buffer more room",
		                        "database %s: the dry run does not fit", cfg->name);
	buf_release(&d->o);
	redis_endpoint_release(&d->ep[0]);
	redis_endpoint_release(&d->ep[1]);
	return d->rc;
}

__attribute__((format(printf, 4, 5))) static void line(struct desc *d, const char *target,
                                                       const char *text, const char *note, ...)
{
	va_list ap;

	if (d->step[0])
		buf_addf(&d->o, "%s ", d->step);
	buf_addf(&d->o, "%s: %s", target, text);
	if (note) {
		buf_adds(&d->o, "  -- ");
		va_start(ap, note);
		buf_vaddf(&d->o, note, ap);
		va_end(ap);
	}
	buf_addch(&d->o, '\n');
}

static void open_lines(struct desc *d, const struct db_config *cfg)
{
	const char *url[2] = { cfg->old_conninfo, cfg->new_conninfo };
	enum redis_side s;

	for (s = REDIS_OLD; s <= REDIS_NEW; s++)
		line(d, rd_side_name(s), "connect",
		     "%s; AUTH%s%s with the plan's password if it has one", url[s],
		     d->ep[s].user ? " as " : "", d->ep[s].user ? d->ep[s].user : "");
}

/* The credentials side s replicates from the other side with. */
static void auth_lines(struct desc *d, enum redis_side s, const char *why)
{
	const char *user = d->ep[rd_other(s)].user;

	line(d, rd_side_name(s), "CONFIG GET masteruser; CONFIG GET masterauth", NULL);
	line(d, rd_side_name(s), user ? "CONFIG SET masteruser" : "CONFIG SET masteruser \"\"",
	     "%s%sif it differs; only when the plan gives a password (%s)", user ? user : "",
	     user ? "; " : "", why);
	line(d, rd_side_name(s), "CONFIG SET masterauth (the plan's password, added)",
	     "if it differs");
}

int rd_describe_replicate(const struct db_config *cfg, struct buf *out, struct ferry_error *err)
{
	struct desc d;

	if (desc_init(&d, cfg, err) == 0) {
		d.step = "open";
		open_lines(&d, cfg);
		d.step = "replicaof";
		line(&d, "new", "INFO replication",
		     "nothing more when new replicates from old already");
		line(&d, "new", "INFO keyspace",
		     "refused when new holds keys: the full sync would erase them");
		auth_lines(&d, REDIS_NEW, "new replicates from old with them");
		auth_lines(&d, REDIS_OLD, "for the way back after the switch");
		line(&d, "new", "REPLICAOF",
		     "%s %u: a full sync of every database, then the stream", d.ep[REDIS_OLD].host,
		     (unsigned)d.ep[REDIS_OLD].port);
	}
	return desc_finish(&d, cfg, out, err);
}

/* The switch's steps (redis_switch.c, its ops at the end), from -> to. */
static void step_lines(struct desc *d, const struct db_config *cfg, enum db_direction dir,
                       const char *name)
{
	enum redis_side from = dir == DB_FORWARD ? REDIS_OLD : REDIS_NEW, to = rd_other(from);
	const char *f = rd_side_name(from), *t = rd_side_name(to);
	const struct redis_endpoint *fe = &d->ep[from], *te = &d->ep[to];
	int64_t budget = cfg->pause_budget_ms > 0 ? cfg->pause_budget_ms : 5000;
	int64_t max_lag = cfg->max_lag_ms ? cfg->max_lag_ms : 1000;

	if (!strcmp(name, DB_SW_OPEN)) {
		open_lines(d, cfg);
	} else if (!strcmp(name, DB_SW_PREFLIGHT)) {
		line(d, f, "INFO replication", "must be a master: the writer");
		line(d, t, "INFO replication", "must be a replica of %s (%s %u) with its link up",
		     f, fe->host, (unsigned)fe->port);
		line(d, f, "INFO stats", "sync_full, sync_partial_ok: the stream's resyncs");
		line(d, f, "INFO replication", "master_repl_offset");
		line(d, t, "INFO replication",
		     "every millisecond until slave_repl_offset reaches it: the lag, at most %lld "
		     "ms",
		     (long long)max_lag);
	} else if (!strcmp(name, DB_SW_PREPARE)) {
		line(d, "old", "connect (a spare for the pause)", NULL);
		line(d, "new", "connect (a spare for the pause)", NULL);
		auth_lines(d, from, "for the way back, before the pause");
	} else if (!strcmp(name, DB_SW_FENCE)) {
		line(d, f, "INFO replication", "a replica refuses writes already: nothing more");
		line(d, f, "CLIENT PAUSE <ms> WRITE",
		     "<ms> to the pause's deadline, at most %lld: writes wait, reads go on; it "
		     "ends "
		     "by itself",
		     (long long)budget);
	} else if (!strcmp(name, DB_SW_POSITION)) {
		line(d, f, "INFO replication",
		     "master_replid:master_repl_offset, the fence position; must be a master");
	} else if (!strcmp(name, DB_SW_WAIT_APPLIED)) {
		line(d, t, "INFO replication",
		     "every millisecond until slave_repl_offset reaches the fence position "
		     "(replication id %s's)",
		     f);
	} else if (!strcmp(name, DB_SW_FINALIZE)) {
		/* nothing: the stream carries keys, TTLs and scripts' effects */
	} else if (!strcmp(name, DB_SW_STOP_FORWARD)) {
		line(d, t, "INFO replication", "nothing more when it is a master already");
		line(d, t, "REPLICAOF NO ONE; INFO replication; INFO stats",
		     "one round trip; its replid2 must hold %s's history up to the fence + 1; "
		     "sync_full and sync_partial_ok kept for the way back",
		     f);
	} else if (!strcmp(name, DB_SW_PREPARE_REVERSE)) {
		line(d, f, "INFO replication",
		     "nothing more when it replicates from %s already; refused when its offset "
		     "moved past the fence (a full resync would erase those writes)",
		     t);
		auth_lines(d, from, "set in prepare: nothing to set here");
		line(d, f, "REPLICAOF",
		     "%s %u: a partial resync (%s keeps %s's history as replid2)", te->host,
		     (unsigned)te->port, t, f);
	} else if (!strcmp(name, DB_SW_UNFENCE_TARGET)) {
		line(d, t, "CLIENT UNPAUSE", NULL);
	} else if (!strcmp(name, DB_SW_START_REVERSE)) {
		line(d, f, "INFO replication", NULL);
		line(d, t, "INFO stats",
		     "only in a run that did not promote %s: sync_full and sync_partial_ok before "
		     "the way back",
		     t);
		line(d, f, "INFO replication", "as prepare_reverse: nothing more when done");
		line(d, f, "REPLICAOF", "%s %u: only if not done", te->host, (unsigned)te->port);
		line(d, f, "CLIENT UNPAUSE",
		     "a replica refuses writes by itself: late writers get -READONLY");
		line(d, f, "INFO replication", "every 5 ms until master_link_status:up");
		line(d, t, "INFO stats; INFO replication", NULL);
		line(d, f, "INFO replication",
		     "resync=partial when %s's sync_partial_ok rose and sync_full did not (or, "
		     "without counters, when %s keeps %s's previous replication id): a full "
		     "resync fails the step",
		     t, f, t);
	} else if (!strcmp(name, DB_SW_DROP_FORWARD)) {
		line(d, t, "CONFIG GET masterauth", NULL);
		line(d, t, "CONFIG SET masterauth \"\"; CONFIG SET masteruser \"\"",
		     "where they still hold what ferry set for replicating from %s", f);
	} else if (!strcmp(name, DB_SW_UNDO_FENCE_TARGET)) {
		line(d, t, "INFO replication", "a replica refuses writes already: nothing more");
		line(d, t, "CLIENT PAUSE <ms> WRITE", "<ms> to the undo's deadline");
	} else if (!strcmp(name, DB_SW_UNDO_DROP_REVERSE)) {
		line(d, f, "INFO replication", NULL);
		line(d, f, "REPLICAOF NO ONE", "if it replicates from %s", t);
	} else if (!strcmp(name, DB_SW_UNDO_RESTART_FORWARD)) {
		line(d, t, "INFO replication", NULL);
		line(d, t, "REPLICAOF",
		     "%s %u: unless it replicates from %s already; partial if %s had linked to %s, "
		     "else a full resync (nothing lost: %s took no write)",
		     fe->host, (unsigned)fe->port, f, f, t, t);
		line(d, t, "CLIENT UNPAUSE", "if the undo paused it");
	} else if (!strcmp(name, DB_SW_UNDO_UNFENCE)) {
		line(d, f, "CLIENT UNPAUSE", NULL);
	} else {
		d->rc = FERRY_EINVAL;
	}
}

int rd_describe_step(const struct db_config *cfg, enum db_direction dir, const char *name,
                     struct buf *out, struct ferry_error *err)
{
	struct desc d;

	if (desc_init(&d, cfg, err) == 0) {
		d.step = "";
		step_lines(&d, cfg, dir, name);
		if (d.rc < 0)
			ferry_error_set(err, FERRY_EINVAL, NULL, "database %s: no switch step %s",
			                cfg->name, name);
	}
	return desc_finish(&d, cfg, out, err);
}

int rd_describe_teardown(const struct db_config *cfg, struct buf *out, struct ferry_error *err)
{
	struct desc d;
	enum redis_side s;

	if (desc_init(&d, cfg, err) == 0) {
		d.step = "open";
		open_lines(&d, cfg);
		d.step = "drop";
		for (s = REDIS_OLD; s <= REDIS_NEW; s++) {
			line(&d, rd_side_name(s), "INFO replication", NULL);
			line(&d, rd_side_name(s), "REPLICAOF NO ONE", "if it replicates from %s",
			     rd_side_name(rd_other(s)));
			line(&d, rd_side_name(s), "CONFIG GET masterauth", NULL);
			line(&d, rd_side_name(s),
			     "CONFIG SET masterauth \"\"; CONFIG SET masteruser \"\"",
			     "where they still hold what ferry set");
		}
	}
	return desc_finish(&d, cfg, out, err);
}
