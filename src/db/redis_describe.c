/*
 * redis_describe.c - the dry run of the Redis engine (db.h describe_*):
 * what replicate_start and teardown would send, in order, without a
 * connection.  The lines follow redis.c's code; a change there must be
 * mirrored here (tests/unit/test_describe.c holds the expected texts).
 *
 * The switch is not described: until the orchestrator calls the steps of
 * redis_switch.c, switch_run refuses, and so does its description (db.h:
 * the dry run refuses what the real run would).
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

	buf_addf(&d->o, "%s %s: %s", d->step, target, text);
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

	d->step = "open";
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

int rd_describe_switch(const struct db_config *cfg, enum db_direction dir, struct buf *out,
                       struct ferry_error *err)
{
	(void)dir;
	(void)out;
	return ferry_error_set(err, FERRY_EINVAL,
	                       "the Redis switch steps wait for the engine-neutral orchestrator",
	                       "database %s: ferry cannot switch Redis yet", cfg->name);
}

int rd_describe_teardown(const struct db_config *cfg, struct buf *out, struct ferry_error *err)
{
	struct desc d;
	enum redis_side s;

	if (desc_init(&d, cfg, err) == 0) {
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
