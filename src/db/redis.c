/*
 * redis.c - the Redis engine (Redis >= 6.2, standalone): replication by
 * Redis's own REPLICAOF, progress of the full sync, lag, verification and
 * teardown.  The readiness rows are in redis_check.c, the switch steps in
 * redis_switch.c, the dry run in redis_describe.c; the protocol is
 * db/redis_conn.c.
 *
 * Replication (Redis manual, "Redis replication"): new is made a replica of
 * old.  With a password, new first gets masteruser (the old URL's user,
 * when there is one) and masterauth (the plan's password) by CONFIG SET,
 * in memory only (no CONFIG REWRITE): they are the credentials new
 * replicates with, readable with CONFIG GET by whoever may run it there.
 * Old gets new's the same way at once, for the way back after the switch.
 * Then REPLICAOF old: old sends a snapshot (the full sync, by default
 * streamed without touching its disk) and new replaces its own dataset
 * with it - so a new side that holds keys is refused - then the command
 * stream follows.
 *
 * Lag is the offset difference old master_repl_offset - new
 * slave_repl_offset, read on both (the replica's own acknowledgement
 * reaches old only about once a second), and in milliseconds the time new
 * takes to reach the offset old had when sampled.  The stream is watched
 * for its failures: a link that is down, and resyncs counted on the source
 * (INFO stats sync_full, sync_partial_ok), a full sync that restarts in a
 * loop (output buffer limit too small) while progress() follows it, a full
 * resync after the stream was up (the backlog did not cover a link drop).
 *
 * Teardown leaves no replication ferry made: a side that replicates from
 * the other is made a master (REPLICAOF NO ONE) and loses the credentials
 * ferry gave it, where they still hold ferry's values.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/redis_int.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

int64_t rd_deadline(int64_t ms)
{
	return time_mono_ms() + ms;
}

void rd_port_text(const struct redis_endpoint *ep, char out[8])
{
	snprintf(out, 8, "%u", (unsigned)ep->port);
}

int rd_conn(struct rd *r, enum redis_side s, struct redis_conn **out, struct ferry_error *err)
{
	int rc = 0;

	if (!redis_conn_ok(r->c[s]))
		rc = redis_reconnect(r->c[s], rd_deadline(RD_TIMEOUT_MS), err);
	*out = rc == 0 ? r->c[s] : NULL;
	return rc;
}

int rd_info(struct rd *r, enum redis_side s, const char *section, char **text,
            struct ferry_error *err)
{
	struct redis_conn *c;
	struct redis_reply rep;
	int rc;

	*text = NULL;
	rc = rd_conn(r, s, &c, err);
	if (rc == 0)
		rc = section[0] ? redis_cmd(c, rd_deadline(RD_TIMEOUT_MS), &rep, err, "INFO",
		                            section, NULL)
		                : redis_cmd(c, rd_deadline(RD_TIMEOUT_MS), &rep, err, "INFO", NULL);
	if (rc < 0)
		return rc;
	*text = xstrdup(rep.str ? rep.str : "");
	redis_reply_release(&rep);
	return 0;
}

bool rd_replica_of(const char *info, const struct redis_endpoint *ep)
{
	char role[16], host[256];

	if (!redis_info_str(info, "role", role, sizeof(role)) || strcmp(role, "slave"))
		return false;
	if (!redis_info_str(info, "master_host", host, sizeof(host)))
		return false;
	return !strcmp(host, ep->host) && redis_info_int(info, "master_port", -1) == ep->port;
}

int64_t rd_keyspace_keys(const char *info, int64_t *dbs, size_t ndbs)
{
	const char *p = info;
	int64_t sum = 0;

	if (dbs)
		memset(dbs, 0, ndbs * sizeof(*dbs));
	/* "db0:keys=12,expires=3,avg_ttl=0" */
	for (; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		char *end;
		long db, keys;

		if (strncmp(p, "db", 2))
			continue;
		db = strtol(p + 2, &end, 10);
		if (end == p + 2 || strncmp(end, ":keys=", 6))
			continue;
		keys = strtol(end + 6, &end, 10);
		sum += keys;
		if (dbs && db >= 0 && (size_t)db < ndbs)
			dbs[db] = keys;
	}
	return sum;
}

bool rd_copy_of(const char *new_repl, const char *old_repl)
{
	char id2[64] = "", old_id[64] = "", old_id2[64] = "";

	/* "0000...": no previous history */
	if (!redis_info_str(new_repl, "master_replid2", id2, sizeof(id2)) ||
	    id2[strspn(id2, "0")] == '\0')
		return false;
	redis_info_str(old_repl, "master_replid", old_id, sizeof(old_id));
	redis_info_str(old_repl, "master_replid2", old_id2, sizeof(old_id2));
	if (strcmp(id2, old_id) && strcmp(id2, old_id2))
		return false;
	return redis_info_int(new_repl, "master_repl_offset", -1) + 1 ==
	       redis_info_int(new_repl, "second_repl_offset", -1);
}

/* CONFIG GET name into *value (the caller wipes and frees). */
static int config_get(struct redis_conn *c, const char *name, int64_t deadline, char **value,
                      struct ferry_error *err)
{
	struct redis_reply rep;
	int rc;

	*value = NULL;
	rc = redis_cmd(c, deadline, &rep, err, "CONFIG", "GET", name, NULL);
	if (rc < 0)
		return rc;
	if (rep.type == REDIS_ARRAY && rep.n == 2 && rep.v[1].str)
		*value = xstrdup(rep.v[1].str);
	redis_reply_release(&rep);
	return 0;
}

int rd_set_master_auth(struct rd *r, enum redis_side s, struct redis_conn *c, int64_t deadline,
                       struct ferry_error *err)
{
	const char *user = r->ep[rd_other(s)].user, *pw = rd_password(r, rd_other(s));
	const char *get_user[3] = { "CONFIG", "GET", "masteruser" };
	const char *get_pw[3] = { "CONFIG", "GET", "masterauth" };
	const char *set_user[4] = { "CONFIG", "SET", "masteruser", user ? user : "" };
	const char *set_pw[4] = { "CONFIG", "SET", "masterauth", pw };
	struct redis_reply rep[2];
	bool differ[2] = { false, false };
	size_t n = 0, i;
	int rc = 0;

	if (!pw || !redis_conn_authed(r->c[rd_other(s)]))
		return 0; /* the other side asks for no password */
	if (!c) {
		rc = rd_conn(r, s, &c, err);
		deadline = rd_deadline(RD_TIMEOUT_MS);
		if (rc < 0)
			return rc;
	}
	/* both values in one round trip, then what differs in another */
	redis_append(c, 3, get_user, NULL);
	redis_append(c, 3, get_pw, NULL);
	rc = redis_flush(c, 2, rep, deadline, err);
	for (i = 0; rc == 0 && i < 2; i++) {
		const char *want = i == 0 ? set_user[3] : pw;
		const char *have = rep[i].type == REDIS_ARRAY && rep[i].n == 2 && rep[i].v[1].str
		                           ? rep[i].v[1].str
		                           : NULL;

		if (!have)
			rc = ferry_error_set(err, FERRY_EREFUSED, "grant ferry's user CONFIG",
			                     "%s: CONFIG GET %s: %s", redis_conn_what(c),
			                     i == 0 ? "masteruser" : "masterauth",
			                     rep[i].str ? rep[i].str : "unexpected reply");
		else
			differ[i] = strcmp(have, want) != 0;
	}
	redis_reply_release(&rep[0]);
	redis_reply_release(&rep[1]);
	if (rc < 0)
		return rc;
	for (i = 0; i < 2; i++) {
		if (differ[i]) {
			redis_append(c, 4, i == 0 ? set_user : set_pw, NULL);
			n++;
		}
	}
	if (n) {
		rc = redis_flush(c, n, rep, deadline, err);
		for (i = 0; i < n; i++) {
			if (rc == 0 && rep[i].type == REDIS_ERROR)
				rc = ferry_error_set(err, FERRY_EREFUSED, NULL,
				                     "%s: CONFIG SET: %s", redis_conn_what(c),
				                     rep[i].str);
			redis_reply_release(&rep[i]);
		}
	}
	return rc;
}

int rd_clear_master_auth(struct rd *r, enum redis_side s, struct redis_conn *c, int64_t deadline,
                         struct ferry_error *err)
{
	const char *user = r->ep[rd_other(s)].user, *pw = rd_password(r, rd_other(s));
	char *cur_user = NULL, *cur_pw = NULL;
	int rc = 0;

	if (!c) {
		rc = rd_conn(r, s, &c, err);
		deadline = rd_deadline(RD_TIMEOUT_MS);
	}
	if (rc == 0)
		rc = config_get(c, "masterauth", deadline, &cur_pw, err);
	if (rc == 0 && pw && cur_pw && !strcmp(cur_pw, pw)) {
		rc = redis_cmd(c, deadline, NULL, err, "CONFIG", "SET", "masterauth", "", NULL);
		if (rc == 0 && user)
			rc = config_get(c, "masteruser", deadline, &cur_user, err);
		if (rc == 0 && user && cur_user && !strcmp(cur_user, user))
			rc = redis_cmd(c, deadline, NULL, err, "CONFIG", "SET", "masteruser", "",
			               NULL);
	}
	free(cur_user);
	xfree_secret(cur_pw, 0);
	return rc;
}

/* ---- open / close ------------------------------------------------------ */

static void rd_close(void *h)
{
	struct rd *r = h;
	int s;

	if (!r)
		return;
	for (s = 0; s < 2; s++) {
		redis_conn_free(r->c[s]);
		redis_conn_free(r->spare[s]);
		redis_endpoint_release(&r->ep[s]);
	}
	free(r);
}

static int rd_open(const struct db_config *cfg, void **h, struct ferry_error *err)
{
	struct rd *r = xcalloc(1, sizeof(*r));
	const char *url[2] = { cfg->old_conninfo, cfg->new_conninfo };
	char what[160];
	int s, rc = 0;

	*h = NULL;
	r->cfg = cfg;
	r->promoted_end[REDIS_OLD] = r->promoted_end[REDIS_NEW] = -1;
	/* both URLs read before any connection is made */
	for (s = 0; s < 2 && rc == 0; s++) {
		rc = redis_endpoint_parse(url[s], &r->ep[s], err);
		if (rc < 0)
			ferry_error_prefix(err, "database %s %s", cfg->name,
			                   rd_side_name((enum redis_side)s));
	}
	for (s = 0; s < 2 && rc == 0; s++) {
		snprintf(what, sizeof(what), "database %s %s", cfg->name,
		         rd_side_name((enum redis_side)s));
		rc = redis_connect(&r->c[s], &r->ep[s], rd_password(r, (enum redis_side)s), what,
		                   rd_deadline(RD_TIMEOUT_MS), err);
	}
	if (rc < 0) {
		rd_close(r);
		return rc;
	}
	*h = r;
	return 0;
}

/* ---- replication ------------------------------------------------------- */

static int rd_replicate_start(void *h, struct ferry_error *err);

static int rd_replicate_resume(void *h, struct ferry_error *err)
{
	struct rd *r = h;
	char *repl = NULL;
	bool on;
	int rc;

	rc = rd_info(r, REDIS_NEW, "replication", &repl, err);
	if (rc < 0)
		return ferry_error_prefix(err, "database %s: replicate", r->cfg->name);
	on = rd_replica_of(repl, &r->ep[REDIS_OLD]);
	free(repl);
	if (on)
		return 0;
	rc = rd_replicate_start(h, err);
	return rc < 0 ? rc : 1;
}

static int rd_replicate_start(void *h, struct ferry_error *err)
{
	struct rd *r = h;
	const char *name = r->cfg->name;
	char *repl = NULL, *old_repl = NULL, *ks = NULL, role[16] = "", port[8];
	struct redis_conn *c;
	bool copy = false;
	int64_t keys;
	int rc;

	rc = rd_info(r, REDIS_NEW, "replication", &repl, err);
	if (rc < 0)
		goto out;
	if (rd_replica_of(repl, &r->ep[REDIS_OLD]))
		goto out; /* already replicating */
	redis_info_str(repl, "role", role, sizeof(role));
	if (strcmp(role, "master")) {
		char host[256] = "";

		redis_info_str(repl, "master_host", host, sizeof(host));
		rc = ferry_error_set(err, FERRY_ESTATE,
		                     "new must be a master of its own before ferry makes it a "
		                     "replica of old",
		                     "database %s: new is a replica of %s port %lld, not of old",
		                     name, host, (long long)redis_info_int(repl, "master_port", 0));
		goto out;
	}
	rc = rd_info(r, REDIS_NEW, "keyspace", &ks, err);
	if (rc < 0)
		goto out;
	keys = rd_keyspace_keys(ks, NULL, 0);
	if (keys > 0) {
		rc = rd_info(r, REDIS_OLD, "replication", &old_repl, err);
		if (rc < 0)
			goto out;
		copy = rd_copy_of(repl, old_repl);
	}
	if (keys > 0 && copy) {
		log_info("database %s: new holds %lld keys of an earlier sync from old (restarted "
		         "from its snapshot, no write since): the sync from old replaces them",
		         name, (long long)keys);
	} else if (keys > 0) {
		rc = ferry_error_set(err, FERRY_ECHECK,
		                     "empty new first (FLUSHALL) if its keys are not needed",
		                     "database %s: new holds %lld keys, which the full sync from "
		                     "old would erase",
		                     name, (long long)keys);
		goto out;
	}
	/* new's credentials for old now; old's for new too, so that the
	 * switch does not spend its pause on them (old is a master: they
	 * mean nothing to it until it replicates from new) */
	rc = rd_set_master_auth(r, REDIS_NEW, NULL, 0, err);
	if (rc == 0)
		rc = rd_set_master_auth(r, REDIS_OLD, NULL, 0, err);
	if (rc == 0)
		rc = rd_conn(r, REDIS_NEW, &c, err);
	if (rc == 0) {
		rd_port_text(&r->ep[REDIS_OLD], port);
		log_info("database %s: REPLICAOF %s %s on new (a full sync from old)", name,
		         r->ep[REDIS_OLD].host, port);
		rc = redis_cmd(c, rd_deadline(RD_TIMEOUT_MS), NULL, err, "REPLICAOF",
		               r->ep[REDIS_OLD].host, port, NULL);
	}
out:
	free(repl);
	free(old_repl);
	free(ks);
	return rc < 0 ? ferry_error_prefix(err, "database %s: replicate", name) : 0;
}

/* The source's resync counters (INFO stats). */
static int sync_counters(struct rd *r, enum redis_side src, int64_t *full, int64_t *partial_ok,
                         struct ferry_error *err)
{
	char *stats = NULL;
	int rc = rd_info(r, src, "stats", &stats, err);

	if (rc == 0) {
		*full = redis_info_int(stats, "sync_full", 0);
		*partial_ok = redis_info_int(stats, "sync_partial_ok", 0);
	}
	free(stats);
	return rc;
}

/* The full sync as one item, "full_sync": state 'w' waiting for the link,
 * 's' the snapshot in transfer, 'l' new loading it, 'r' streaming. */
static int rd_progress(void *h, struct db_progress *out, struct ferry_error *err)
{
	struct rd *r = h;
	struct db_table_progress *t;
	char *repl = NULL, *pers = NULL, link[16] = "";
	int64_t full = 0, partial = 0;
	int rc;

	rc = rd_info(r, REDIS_NEW, "replication", &repl, err);
	if (rc == 0)
		rc = rd_info(r, REDIS_NEW, "persistence", &pers, err);
	if (rc == 0)
		rc = sync_counters(r, REDIS_OLD, &full, &partial, err);
	if (rc < 0)
		goto out;
	if (!rd_replica_of(repl, &r->ep[REDIS_OLD])) {
		rc = ferry_error_set(err, FERRY_ESTATE, "start replication first ('ferry run')",
		                     "database %s: new is not a replica of old", r->cfg->name);
		goto out;
	}
	XGROW(out->v, out->alloc, out->n + 1);
	t = &out->v[out->n++];
	memset(t, 0, sizeof(*t));
	t->name = xstrdup("full_sync");
	t->bytes = -1;
	redis_info_str(repl, "master_link_status", link, sizeof(link));
	if (!strcmp(link, "up")) {
		t->state = 'r';
		t->ready = true;
		out->ready++;
	} else if (redis_info_int(pers, "loading", 0) == 1) {
		t->state = 'l';
		t->bytes = redis_info_int(pers, "loading_loaded_bytes", -1);
	} else if (redis_info_int(repl, "master_sync_in_progress", 0) == 1) {
		t->state = 's';
		t->bytes = redis_info_int(repl, "master_sync_read_bytes", -1);
	} else {
		t->state = 'w';
	}
	if (t->ready) {
		r->sync_taken = false;
	} else if (!r->sync_taken) {
		r->sync_taken = true;
		r->sync_full0 = full;
	} else if (full - r->sync_full0 >= RD_SYNC_LOOP) {
		rc = ferry_error_set(
		        err, FERRY_ECHECK,
		        "raise the replica limit on old (CONFIG SET client-output-buffer-limit "
		        "\"replica 0 0 0\" lifts it) or check repl-timeout; old's log names the "
		        "cause",
		        "database %s: the full sync restarted %lld times without finishing: old "
		        "cuts the replica, most often at its output buffer limit",
		        r->cfg->name, (long long)(full - r->sync_full0));
	}
out:
	free(repl);
	free(pers);
	return rc;
}

/* The stream's health: link, and resyncs since it was first seen up. */
static void stream_health(struct rd *r, enum redis_side src, const char *to_repl, int64_t full,
                          int64_t partial, struct db_lag *out)
{
	int64_t nfull, npartial;

	out->worker_running = false;
	if (!rd_replica_of(to_repl, &r->ep[src])) {
		snprintf(out->detail, sizeof(out->detail), "%s is not a replica of %s",
		         rd_side_name(rd_other(src)), rd_side_name(src));
		return;
	}
	{
		char link[16] = "";

		redis_info_str(to_repl, "master_link_status", link, sizeof(link));
		out->worker_running = !strcmp(link, "up");
	}
	if (!out->worker_running) {
		snprintf(out->detail, sizeof(out->detail),
		         "the replication link %s -> %s is down (for %lld s; a sync in progress: "
		         "%s)",
		         rd_side_name(src), rd_side_name(rd_other(src)),
		         (long long)redis_info_int(to_repl, "master_link_down_since_seconds", -1),
		         redis_info_int(to_repl, "master_sync_in_progress", 0) ? "yes" : "no");
		return;
	}
	if (!r->base_taken[src]) {
		r->base_taken[src] = true;
		r->base_full[src] = full;
		r->base_partial_ok[src] = partial;
		return;
	}
	nfull = full - r->base_full[src];
	npartial = partial - r->base_partial_ok[src];
	out->apply_errors = nfull;
	if (nfull > 0)
		snprintf(out->detail, sizeof(out->detail),
		         "%lld full resync%s %s -> %s since the stream was up (and %lld partial): "
		         "the replication backlog (repl-backlog-size on %s) did not cover a link "
		         "drop",
		         (long long)nfull, nfull == 1 ? "" : "s", rd_side_name(src),
		         rd_side_name(rd_other(src)), (long long)npartial, rd_side_name(src));
	else if (npartial > 0)
		snprintf(out->detail, sizeof(out->detail),
		         "the link %s -> %s dropped %lld time%s and resumed (partial resyncs)",
		         rd_side_name(src), rd_side_name(rd_other(src)), (long long)npartial,
		         npartial == 1 ? "" : "s");
}

/* How long to takes to reach the offset from had: the lag in time.  Polled
 * every millisecond, for at most LAG_WAIT_MS. */
#define LAG_WAIT_MS 2000

static int rd_lag(void *h, enum db_direction dir, struct db_lag *out, struct ferry_error *err)
{
	struct rd *r = h;
	enum redis_side src = dir == DB_FORWARD ? REDIS_OLD : REDIS_NEW, dst = rd_other(src);
	char *from = NULL, *to = NULL;
	int64_t target, applied, full = 0, partial = 0, t0;
	int rc;

	memset(out, 0, sizeof(*out));
	out->bytes = -1;
	/* the replica first: a resync that brought its link up was counted
	 * by the source before (it accepts the PSYNC first) */
	rc = rd_info(r, dst, "replication", &to, err);
	if (rc == 0)
		rc = sync_counters(r, src, &full, &partial, err);
	if (rc == 0)
		rc = rd_info(r, src, "replication", &from, err);
	if (rc < 0)
		goto out;
	t0 = time_mono_ms();
	target = redis_info_int(from, "master_repl_offset", -1);
	stream_health(r, src, to, full, partial, out);
	applied = redis_info_int(to, "slave_repl_offset", -1);
	if (!out->worker_running) {
		out->ms = -1;
		goto out;
	}
	if (target < 0 || applied < 0) {
		rc = ferry_error_set(err, FERRY_EPROTO, NULL,
		                     "INFO replication shows no master_repl_offset on %s or no "
		                     "slave_repl_offset on %s",
		                     rd_side_name(src), rd_side_name(dst));
		goto out;
	}
	out->bytes = target > applied ? target - applied : 0;
	while (applied < target && time_mono_ms() - t0 < LAG_WAIT_MS) {
		free(to);
		to = NULL;
		poll(NULL, 0, 1);
		rc = rd_info(r, dst, "replication", &to, err);
		if (rc < 0)
			goto out;
		applied = redis_info_int(to, "slave_repl_offset", -1);
	}
	out->ms = out->bytes ? time_mono_ms() - t0 : 0;
out:
	free(from);
	free(to);
	return rc < 0 ? ferry_error_prefix(err, "database %s: lag", r->cfg->name) : 0;
}

/* ---- teardown ---------------------------------------------------------- */

static int rd_teardown(void *h, struct ferry_error *err)
{
	struct rd *r = h;
	int s, rc = 0;

	for (s = 0; s < 2 && rc == 0; s++) {
		enum redis_side side = (enum redis_side)s;
		struct redis_conn *c;
		char *repl = NULL;

		rc = rd_info(r, side, "replication", &repl, err);
		if (rc == 0 && rd_replica_of(repl, &r->ep[rd_other(side)])) {
			log_info("database %s: REPLICAOF NO ONE on %s", r->cfg->name,
			         rd_side_name(side));
			rc = rd_conn(r, side, &c, err);
			if (rc == 0)
				rc = redis_cmd(c, rd_deadline(RD_TIMEOUT_MS), NULL, err,
				               "REPLICAOF", "NO", "ONE", NULL);
		}
		if (rc == 0)
			rc = rd_clear_master_auth(r, side, NULL, 0, err);
		free(repl);
	}
	return rc < 0 ? ferry_error_prefix(err, "database %s: teardown", r->cfg->name) : 0;
}

/* ---- where the applications reach a side -------------------------------- */

static int rd_target(const struct db_config *cfg, enum db_side side, char **host, int *port,
                     char **dbname, struct ferry_error *err)
{
	struct redis_endpoint ep = { 0 };
	int rc = redis_endpoint_parse(side == DB_OLD ? cfg->old_conninfo : cfg->new_conninfo, &ep,
	                              err);

	if (rc < 0)
		return ferry_error_prefix(err, "database %s %s", cfg->name, db_side_name(side));
	*host = xstrdup(ep.host);
	*port = ep.port;
	*dbname = NULL; /* the whole server */
	redis_endpoint_release(&ep);
	return 0;
}

const struct db_engine db_engine_redis = {
	.name = "redis",
	.open = rd_open,
	.close = rd_close,
	.check = rd_check,
	.replicate_start = rd_replicate_start,
	.replicate_resume = rd_replicate_resume,
	.progress = rd_progress,
	.lag = rd_lag,
	.verify = rd_verify,
	.schema_diff = NULL, /* no schema: a key holds any type */
	.target = rd_target,
	.teardown = rd_teardown,
	.describe_replicate = rd_describe_replicate,
	.describe_teardown = rd_describe_teardown,
	.sw = &rd_switch_ops,
};
