/*
 * redis_switch.c - the Redis engine's switch steps and the inspection of
 * the world (redis.h has the order and the reasons).
 *
 * Inside the write pause a step uses the connection it finds (no connect,
 * no resolve) and sends at most a few commands, each bounded by the
 * step's deadline; waiting is polling INFO every millisecond.  A command
 * that passes the deadline closes its connection (redis_conn.h), so
 * nothing is left half read; the next step on that side fails at once
 * ("lost earlier") and the pause ends by itself at the fence's deadline.
 * The steps after the resume (start_reverse, drop_forward) and
 * redis_inspect() may connect again.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/redis_int.h"
#include "util/mem.h"
#include "util/timeutil.h"

void redis_pos_format(const struct redis_pos *pos, char out[REDIS_POS_TEXT])
{
	snprintf(out, REDIS_POS_TEXT, "%s:%lld", pos->replid, (long long)pos->offset);
}

int redis_pos_parse(const char *text, struct redis_pos *pos)
{
	char *end;
	long long off;
	size_t i;

	for (i = 0; i < 40; i++)
		if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
			return FERRY_EINVAL;
	if (text[40] != ':' || text[41] < '0' || text[41] > '9')
		return FERRY_EINVAL;
	off = strtoll(text + 41, &end, 10);
	if (*end || off < 0)
		return FERRY_EINVAL;
	memcpy(pos->replid, text, 40);
	pos->replid[40] = '\0';
	pos->offset = off;
	return 0;
}

static int step_fail(struct rd *r, const char *step, struct ferry_error *err)
{
	return ferry_error_prefix(err, "database %s: %s", r->cfg->name, step);
}

static int expired(struct rd *r, const char *step, int64_t deadline, struct ferry_error *err)
{
	if (time_mono_ms() < deadline)
		return 0;
	return ferry_error_set(err, FERRY_ETIMEDOUT, NULL, "database %s: %s: deadline passed",
	                       r->cfg->name, step);
}

struct redis_conn *rd_pause_conn(struct rd *r, enum redis_side s)
{
	if (redis_conn_ok(r->c[s]) || !r->spare[s] || !redis_conn_ok(r->spare[s]))
		return r->c[s];
	return r->spare[s];
}

/* INFO replication of side s on its connection as it is. */
static int info_repl(struct rd *r, enum redis_side s, int64_t deadline, char **text,
                     struct ferry_error *err)
{
	struct redis_reply rep;
	int rc = redis_cmd(rd_pause_conn(r, s), deadline, &rep, err, "INFO", "replication", NULL);

	*text = rc == 0 ? xstrdup(rep.str ? rep.str : "") : NULL;
	redis_reply_release(&rep);
	return rc;
}

static void pos_of(const char *info, struct redis_pos *pos)
{
	if (!redis_info_str(info, "master_replid", pos->replid, sizeof(pos->replid)))
		pos->replid[0] = '\0';
	pos->offset = redis_info_int(info, "master_repl_offset", -1);
}

static bool is_master(const char *info)
{
	char role[16] = "";

	redis_info_str(info, "role", role, sizeof(role));
	return !strcmp(role, "master");
}

/* ---- fence ------------------------------------------------------------- */

int redis_fence(void *h, enum redis_side from, int64_t deadline, struct ferry_error *err)
{
	struct rd *r = h;
	int64_t ms = deadline - time_mono_ms();
	char arg[24];
	int rc;

	if (ms <= 0)
		return expired(r, "fence", deadline, err);
	/* CLIENT PAUSE's timeout is the deadline: a ferry that dies inside
	 * the pause leaves it no longer than its budget */
	snprintf(arg, sizeof(arg), "%lld", (long long)ms);
	/* counted as paused from before the command: a reply lost to the
	 * deadline may still have paused it */
	r->paused_until[from] = time_mono_ms() + ms;
	rc = redis_cmd(rd_pause_conn(r, from), deadline, NULL, err, "CLIENT", "PAUSE", arg, "WRITE",
	               NULL);
	return rc < 0 ? step_fail(r, "fence", err) : 0;
}

int redis_unfence(void *h, enum redis_side from, int64_t deadline, struct ferry_error *err)
{
	struct rd *r = h;
	int rc = redis_cmd(rd_pause_conn(r, from), deadline, NULL, err, "CLIENT", "UNPAUSE", NULL);

	if (rc == 0)
		r->paused_until[from] = 0;
	return rc < 0 ? step_fail(r, "unfence", err) : 0;
}

int redis_position(void *h, enum redis_side from, int64_t deadline, struct redis_pos *pos,
                   struct ferry_error *err)
{
	struct rd *r = h;
	char *info = NULL;
	int rc = info_repl(r, from, deadline, &info, err);

	if (rc == 0 && !is_master(info))
		rc = ferry_error_set(err, FERRY_ECHANGED, "inspect both sides before going on",
		                     "%s is not a master: it is not the writer",
		                     rd_side_name(from));
	if (rc == 0) {
		pos_of(info, pos);
		if (strlen(pos->replid) != 40 || pos->offset < 0)
			rc = ferry_error_set(err, FERRY_EPROTO, NULL,
			                     "%s: INFO replication has no master_replid / "
			                     "master_repl_offset",
			                     rd_side_name(from));
	}
	free(info);
	return rc < 0 ? step_fail(r, "position", err) : 0;
}

/* ---- wait_applied ------------------------------------------------------ */

/* Whether info (of the side that should follow pos) shows pos applied:
 * 1 yes, 0 not yet, FERRY_ECHANGED never (another history). */
static int applied(const char *info, const struct redis_pos *pos, struct ferry_error *err)
{
	char id[41] = "", link[16] = "";

	if (is_master(info)) {
		/* promoted already: pos is in its previous history */
		redis_info_str(info, "master_replid2", id, sizeof(id));
		if (!strcmp(id, pos->replid) &&
		    redis_info_int(info, "second_repl_offset", -1) - 1 >= pos->offset)
			return 1;
		return ferry_error_set(err, FERRY_ECHANGED, "inspect both sides",
		                       "it is a master whose history does not hold %s:%lld",
		                       pos->replid, (long long)pos->offset);
	}
	redis_info_str(info, "master_link_status", link, sizeof(link));
	redis_info_str(info, "master_replid", id, sizeof(id));
	if (strcmp(link, "up"))
		return 0; /* the link may come back before the deadline */
	if (strcmp(id, pos->replid))
		return ferry_error_set(err, FERRY_ECHANGED, "inspect both sides",
		                       "it follows replication id %s, not the writer's %s", id,
		                       pos->replid);
	return redis_info_int(info, "slave_repl_offset", -1) >= pos->offset;
}

int redis_wait_applied(void *h, enum redis_side to, const struct redis_pos *pos, int64_t deadline,
                       struct ferry_error *err)
{
	struct rd *r = h;
	int rc;

	for (;;) {
		char *info = NULL;

		rc = info_repl(r, to, deadline, &info, err);
		if (rc == 0)
			rc = applied(info, pos, err);
		free(info);
		if (rc != 0)
			break;
		rc = expired(r, "wait_applied", deadline, err);
		if (rc < 0)
			return ferry_error_set(
			        err, FERRY_ETIMEDOUT,
			        "the stream is behind: retry when the lag is lower",
			        "database %s: wait_applied: %s has not applied %s:%lld "
			        "by the deadline",
			        r->cfg->name, rd_side_name(to), pos->replid,
			        (long long)pos->offset);
		poll(NULL, 0, 1);
	}
	return rc < 0 ? step_fail(r, "wait_applied", err) : 0;
}

/* ---- stop_forward ------------------------------------------------------ */

/* Whether a promoted side (to) keeps pos's history as replid2 up to pos
 * or further, and where it ends (r->promoted_end[to]): the old writer
 * resyncs partially while at or before that offset.  Further than pos
 * is not a write: CLIENT PAUSE WRITE still lets the master PING its
 * replicas every repl-ping-replica-period (14 bytes of stream), and one
 * that reached to before its promotion moved both offsets past pos. */
static int promoted_at(struct rd *r, enum redis_side to, const char *info,
                       const struct redis_pos *pos, struct ferry_error *err)
{
	char id2[41] = "";
	int64_t second;

	redis_info_str(info, "master_replid2", id2, sizeof(id2));
	second = redis_info_int(info, "second_repl_offset", -1);
	if (!strcmp(id2, pos->replid) && second - 1 >= pos->offset) {
		r->promoted_end[to] = second - 1;
		return 0;
	}
	return ferry_error_set(err, FERRY_ECHANGED,
	                       "the way back would be a full resync: undo, then inspect",
	                       "promoted with previous history %s up to %lld, short of the fence "
	                       "%s:%lld",
	                       id2, (long long)second - 1, pos->replid, (long long)pos->offset);
}

/* Without a fence position (a recovery that finishes a switch): whether
 * to, promoted (to_info), holds everything from holds: from follows to
 * already, or from is a master whose history to keeps as replid2 up to
 * from's offset or further. */
static int from_contained(struct rd *r, enum redis_side to, const char *to_info, int64_t deadline,
                          struct ferry_error *err)
{
	enum redis_side from = rd_other(to);
	char *fi = NULL, id2[41] = "";
	struct redis_pos fp;
	int64_t second;
	int rc = info_repl(r, from, deadline, &fi, err);

	if (rc < 0 || rd_replica_of(fi, &r->ep[to]))
		goto out;
	pos_of(fi, &fp);
	redis_info_str(to_info, "master_replid2", id2, sizeof(id2));
	second = redis_info_int(to_info, "second_repl_offset", -1);
	if (!is_master(fi) || strcmp(id2, fp.replid) || second - 1 < fp.offset)
		rc = ferry_error_set(
		        err, FERRY_ECHANGED,
		        "undo (the old writer keeps its writes), then inspect both sides",
		        "%s holds writes %s lacks: %s is at %s:%lld, %s's previous "
		        "history %s ends at %lld",
		        rd_side_name(from), rd_side_name(to), rd_side_name(from), fp.replid,
		        (long long)fp.offset, rd_side_name(to), id2, (long long)second - 1);
out:
	free(fi);
	return rc;
}

int redis_stop_forward(void *h, enum redis_side to, const struct redis_pos *pos, int64_t deadline,
                       struct ferry_error *err)
{
	struct rd *r = h;
	struct redis_conn *c = rd_pause_conn(r, to);
	const char *cmds[3][3] = { { "REPLICAOF", "NO", "ONE" },
		                   { "INFO", "replication", NULL },
		                   { "INFO", "stats", NULL } };
	struct redis_reply rep[3];
	char *info = NULL;
	size_t i;
	int rc;

	rc = info_repl(r, to, deadline, &info, err);
	if (rc == 0 && is_master(info)) {
		/* done earlier */
		rc = pos ? promoted_at(r, to, info, pos, err)
		         : from_contained(r, to, info, deadline, err);
		free(info);
		return rc < 0 ? step_fail(r, "stop_forward", err) : 0;
	}
	free(info);
	if (rc < 0)
		return step_fail(r, "stop_forward", err);
	/* promote, and read the new history and the counters the way back
	 * will be judged by, in one round trip */
	redis_append(c, 3, cmds[0], NULL);
	redis_append(c, 2, cmds[1], NULL);
	redis_append(c, 2, cmds[2], NULL);
	rc = redis_flush(c, 3, rep, deadline, err);
	if (rc == 0 && rep[0].type == REDIS_ERROR)
		rc = ferry_error_set(err, FERRY_EREFUSED, NULL, "%s: REPLICAOF NO ONE: %s",
		                     rd_side_name(to), rep[0].str);
	if (rc == 0 && (!rep[1].str || !rep[2].str))
		rc = ferry_error_set(err, FERRY_EPROTO, NULL, "%s: INFO refused", rd_side_name(to));
	if (rc == 0) {
		r->rev_taken[to] = true;
		r->rev_full[to] = redis_info_int(rep[2].str, "sync_full", 0);
		r->rev_partial_ok[to] = redis_info_int(rep[2].str, "sync_partial_ok", 0);
		rc = pos ? promoted_at(r, to, rep[1].str, pos, err)
		         : from_contained(r, to, rep[1].str, deadline, err);
	}
	for (i = 0; i < 3; i++)
		redis_reply_release(&rep[i]);
	return rc < 0 ? step_fail(r, "stop_forward", err) : 0;
}

int redis_undo_stop_forward(void *h, enum redis_side to, int64_t deadline, struct ferry_error *err)
{
	struct rd *r = h;
	const struct redis_endpoint *from = &r->ep[rd_other(to)];
	char port[8], *info = NULL;
	int rc;

	rc = info_repl(r, to, deadline, &info, err);
	if (rc == 0 && !rd_replica_of(info, from)) {
		/* to keeps from's history as replid2: it resumes partially */
		rd_port_text(from, port);
		rc = redis_cmd(rd_pause_conn(r, to), deadline, NULL, err, "REPLICAOF", from->host,
		               port, NULL);
	}
	free(info);
	return rc < 0 ? step_fail(r, "undo stop_forward", err) : 0;
}

/* ---- the way back ------------------------------------------------------- */

/* Makes from a replica of the other side unless it is one; with pos, only
 * if from is still in pos's history, at pos or (past it by the PINGs a
 * paused master still sends) no further than the other side's promoted
 * history reaches: its writes since would be lost in a full resync.  c
 * and deadline as the caller has them. */
static int make_replica(struct rd *r, enum redis_side from, const struct redis_pos *pos,
                        struct redis_conn *c, int64_t deadline, struct ferry_error *err)
{
	const struct redis_endpoint *to = &r->ep[rd_other(from)];
	int64_t end = r->promoted_end[rd_other(from)];
	struct redis_pos now;
	char port[8], *info = NULL;
	struct redis_reply rep;
	int rc;

	rc = redis_cmd(c, deadline, &rep, err, "INFO", "replication", NULL);
	if (rc < 0)
		return rc;
	info = xstrdup(rep.str ? rep.str : "");
	redis_reply_release(&rep);
	if (rd_replica_of(info, to))
		goto out; /* done earlier */
	pos_of(info, &now);
	if (pos && end < 0)
		end = pos->offset; /* promoted by another process: at pos */
	if (pos &&
	    (strcmp(now.replid, pos->replid) || now.offset < pos->offset || now.offset > end)) {
		rc = ferry_error_set(err, FERRY_ECHANGED,
		                     "keep it the writer (undo); its late writes would be lost",
		                     "%s moved on after the fence (%s:%lld, fence %s:%lld, %s's "
		                     "history ends at %lld): making it a replica would erase its "
		                     "later writes in a full resync",
		                     rd_side_name(from), now.replid, (long long)now.offset,
		                     pos->replid, (long long)pos->offset,
		                     rd_side_name(rd_other(from)), (long long)end);
		goto out;
	}
	rc = rd_set_master_auth(r, from, c, deadline, err);
	if (rc == 0) {
		rd_port_text(to, port);
		rc = redis_cmd(c, deadline, NULL, err, "REPLICAOF", to->host, port, NULL);
	}
out:
	free(info);
	return rc;
}

int redis_prepare_reverse(void *h, enum redis_side from, const struct redis_pos *pos,
                          int64_t deadline, struct ferry_error *err)
{
	struct rd *r = h;
	int rc = make_replica(r, from, pos, rd_pause_conn(r, from), deadline, err);

	return rc < 0 ? step_fail(r, "prepare_reverse", err) : 0;
}

int redis_undo_prepare_reverse(void *h, enum redis_side from, int64_t deadline,
                               struct ferry_error *err)
{
	struct rd *r = h;
	char *info = NULL;
	int rc;

	rc = info_repl(r, from, deadline, &info, err);
	if (rc == 0 && rd_replica_of(info, &r->ep[rd_other(from)]))
		rc = redis_cmd(rd_pause_conn(r, from), deadline, NULL, err, "REPLICAOF", "NO",
		               "ONE", NULL);
	free(info);
	return rc < 0 ? step_fail(r, "undo prepare_reverse", err) : 0;
}

int redis_start_reverse(void *h, enum redis_side from, const struct redis_pos *pos,
                        int64_t deadline, struct redis_reverse *rev, struct ferry_error *err)
{
	struct rd *r = h;
	enum redis_side to = rd_other(from);
	struct redis_conn *c;
	char *stats = NULL, *fi = NULL, *ti = NULL;
	bool base;
	int rc;

	memset(rev, 0, sizeof(*rev));
	base = r->rev_taken[to];
	rev->full0 = r->rev_full[to];
	rev->partial0 = r->rev_partial_ok[to];
	rc = rd_conn(r, from, &c, err);
	if (rc == 0 && !base) {
		/* no counters from the promotion (another process did it):
		 * taken now, if from has not resynced yet */
		char *info = NULL;

		rc = rd_info(r, from, "replication", &info, err);
		if (rc == 0 && !rd_replica_of(info, &r->ep[to]))
			rc = rd_info(r, to, "stats", &stats, err);
		if (rc == 0 && stats) {
			rev->full0 = redis_info_int(stats, "sync_full", 0);
			rev->partial0 = redis_info_int(stats, "sync_partial_ok", 0);
			base = true;
		}
		free(info);
		free(stats);
		stats = NULL;
	}
	if (rc == 0)
		rc = make_replica(r, from, pos, c, deadline, err);
	/* a replica refuses writes by itself: the fence's pause is lifted,
	 * and late writers there get -READONLY at once */
	if (rc == 0)
		rc = redis_cmd(c, deadline, NULL, err, "CLIENT", "UNPAUSE", NULL);
	if (rc == 0)
		r->paused_until[from] = 0;
	while (rc == 0) {
		char *info = NULL, link[16] = "";

		rc = rd_info(r, from, "replication", &info, err);
		if (rc == 0)
			redis_info_str(info, "master_link_status", link, sizeof(link));
		free(info);
		if (rc < 0 || !strcmp(link, "up"))
			break;
		if (time_mono_ms() >= deadline)
			rc = ferry_error_set(
			        err, FERRY_ETIMEDOUT, "run it again: the link may be slow",
			        "%s is not linked to %s yet", rd_side_name(from), rd_side_name(to));
		else
			poll(NULL, 0, 5);
	}
	if (rc == 0) {
		rev->linked = true;
		rc = rd_info(r, to, "stats", &stats, err);
	}
	if (rc == 0)
		rc = rd_info(r, from, "replication", &fi, err);
	if (rc == 0)
		rc = rd_info(r, to, "replication", &ti, err);
	if (rc == 0) {
		rev->full = redis_info_int(stats, "sync_full", 0);
		rev->partial = redis_info_int(stats, "sync_partial_ok", 0);
		/* The histories, which outlive this process: a partial resync
		 * leaves from with to's previous replication id as its replid2,
		 * as to has it; a full one clears from's. */
		redis_info_str(fi, "master_replid2", rev->replid2_from, sizeof(rev->replid2_from));
		redis_info_str(ti, "master_replid2", rev->replid2_to, sizeof(rev->replid2_to));
		if (base && rev->full > rev->full0)
			rev->resync = 2;
		else if (base && rev->partial > rev->partial0)
			rev->resync = 1;
		if (rev->resync == 0) {
			rev->by_history = true;
			rev->resync = strspn(rev->replid2_from, "0") != strlen(rev->replid2_from) &&
			                              !strcmp(rev->replid2_from, rev->replid2_to)
			                      ? 1
			                      : 2;
		}
		if (rev->resync == 1)
			r->rev_taken[to] = false; /* judged: not again */
		if (rev->resync == 2 && !rev->by_history)
			rc = ferry_error_set(err, FERRY_ECHANGED,
			                     "compare the data (ferry verify) and find what wrote "
			                     "to the old writer after the fence",
			                     "the way back %s -> %s was a FULL resync (sync_full "
			                     "%lld -> %lld), not a partial one: %s's own history "
			                     "was replaced by a snapshot of %s, and whatever it "
			                     "took after the fence is gone",
			                     rd_side_name(to), rd_side_name(from),
			                     (long long)rev->full0, (long long)rev->full,
			                     rd_side_name(from), rd_side_name(to));
		else if (rev->resync == 2)
			rc = ferry_error_set(err, FERRY_ECHANGED,
			                     "compare the data (ferry verify) and find what wrote "
			                     "to the old writer after the fence",
			                     "the way back %s -> %s was a FULL resync: %s does not "
			                     "continue %s's history (its previous replication id "
			                     "is %s, %s's is %s): %s's own history was replaced "
			                     "by a snapshot of %s, and whatever it took after the "
			                     "fence is gone",
			                     rd_side_name(to), rd_side_name(from),
			                     rd_side_name(from), rd_side_name(to),
			                     rev->replid2_from, rd_side_name(to), rev->replid2_to,
			                     rd_side_name(from), rd_side_name(to));
	}
	free(stats);
	free(fi);
	free(ti);
	return rc < 0 ? step_fail(r, "start_reverse", err) : 0;
}

int redis_drop_forward(void *h, enum redis_side to, int64_t deadline, struct ferry_error *err)
{
	struct rd *r = h;
	struct redis_conn *c;
	int rc = rd_conn(r, to, &c, err);

	if (rc == 0)
		rc = rd_clear_master_auth(r, to, c, deadline, err);
	return rc < 0 ? step_fail(r, "drop_forward", err) : 0;
}

/* ---- inspect ------------------------------------------------------------ */

static void state_fill(struct rd *r, enum redis_side s, const char *repl, const char *ks,
                       struct redis_state *st)
{
	char link[16] = "";

	st->reachable = true;
	st->master = is_master(repl);
	st->replicates_other = rd_replica_of(repl, &r->ep[rd_other(s)]);
	redis_info_str(repl, "master_link_status", link, sizeof(link));
	st->link_up = !st->master && !strcmp(link, "up");
	if (!st->master) {
		redis_info_str(repl, "master_host", st->master_host, sizeof(st->master_host));
		st->master_port = (int)redis_info_int(repl, "master_port", 0);
	}
	pos_of(repl, &st->pos);
	redis_info_str(repl, "master_replid2", st->replid2, sizeof(st->replid2));
	st->second_offset = redis_info_int(repl, "second_repl_offset", -1);
	st->applied = st->master ? -1 : redis_info_int(repl, "slave_repl_offset", -1);
	st->keys = rd_keyspace_keys(ks, NULL, 0);
}

int redis_inspect(void *h, int64_t deadline, struct redis_world *w, struct ferry_error *err)
{
	struct rd *r = h;
	int s;

	(void)err;
	memset(w, 0, sizeof(*w));
	for (s = 0; s < 2; s++) {
		struct redis_state *st = &w->side[s];
		const char *cmds[2][2] = { { "INFO", "replication" }, { "INFO", "keyspace" } };
		struct ferry_error e = { 0 };
		struct redis_reply rep[2];
		int rc = 0;

		if (!redis_conn_ok(r->c[s]))
			rc = redis_reconnect(r->c[s], deadline, &e);
		if (rc == 0) {
			redis_append(r->c[s], 2, cmds[0], NULL);
			redis_append(r->c[s], 2, cmds[1], NULL);
			rc = redis_flush(r->c[s], 2, rep, deadline, &e);
			if (rc == 0 && (!rep[0].str || !rep[1].str || rep[0].type == REDIS_ERROR))
				rc = ferry_error_set(&e, FERRY_EREFUSED, NULL, "INFO: %s",
				                     rep[0].str ? rep[0].str : "no text");
			if (rc == 0)
				state_fill(r, (enum redis_side)s, rep[0].str, rep[1].str, st);
			redis_reply_release(&rep[0]);
			redis_reply_release(&rep[1]);
		}
		if (rc < 0)
			snprintf(st->error, sizeof(st->error), "%s", e.msg);
	}
	return 0;
}

/* ---- the orchestrator's steps (db.h, struct db_switch_ops) ---------------- */

static enum redis_side side_of(enum db_side s)
{
	return s == DB_OLD ? REDIS_OLD : REDIS_NEW;
}

static enum redis_side from_of(enum db_direction dir)
{
	return side_of(db_from(dir));
}

static enum redis_side to_of(enum db_direction dir)
{
	return side_of(db_to(dir));
}

static const struct redis_pos *pos_now(struct rd *r)
{
	return r->have_pos ? &r->pos : NULL;
}

static int sw_preflight(void *h, enum db_direction dir, struct ferry_error *err)
{
	struct rd *r = h;
	enum redis_side from = from_of(dir), to = to_of(dir);
	int64_t max_lag = r->cfg->max_lag_ms ? r->cfg->max_lag_ms : 1000;
	struct db_lag lag;
	char *info = NULL;
	int rc;

	rc = rd_info(r, from, "replication", &info, err);
	if (rc == 0 && !is_master(info))
		rc = ferry_error_set(err, FERRY_ECHECK, "look at both sides: ferry status",
		                     "database %s: %s is not a master: it is not the writer",
		                     r->cfg->name, rd_side_name(from));
	free(info);
	if (rc == 0)
		rc = db_engine_redis.lag(h, dir, &lag, err);
	if (rc < 0)
		return rc;
	/* a full resync seen earlier is the replicate phase's concern (and
	 * an undone switch causes one): not a reason to refuse now */
	if (!lag.worker_running || lag.bytes < 0 || lag.ms > max_lag)
		return ferry_error_set(
		        err, FERRY_ECHECK,
		        "wait for replication to catch up (ferry status shows it)",
		        "database %s: replication %s -> %s not ready: lag %lld bytes, %lld ms "
		        "(at most %lld)%s%s",
		        r->cfg->name, rd_side_name(from), rd_side_name(to), (long long)lag.bytes,
		        (long long)lag.ms, (long long)max_lag, lag.detail[0] ? "; " : "",
		        lag.detail);
	return 0;
}

static int open_spare(struct rd *r, enum redis_side s, struct ferry_error *err)
{
	char what[160];

	if (r->spare[s] && redis_conn_ok(r->spare[s]))
		return 0;
	redis_conn_free(r->spare[s]);
	r->spare[s] = NULL;
	snprintf(what, sizeof(what), "database %s %s (spare)", r->cfg->name, rd_side_name(s));
	return redis_connect(&r->spare[s], &r->ep[s], rd_password(r, s), what,
	                     rd_deadline(RD_TIMEOUT_MS), err);
}

static int sw_prepare(void *h, enum db_direction dir, struct ferry_error *err)
{
	struct rd *r = h;
	struct redis_conn *c;
	int rc = 0, s;

	r->have_pos = false;
	r->rev_taken[REDIS_OLD] = r->rev_taken[REDIS_NEW] = false;
	r->promoted_end[REDIS_OLD] = r->promoted_end[REDIS_NEW] = -1;
	r->reverse_note[0] = '\0';
	for (s = 0; s < 2 && rc == 0; s++) {
		rc = rd_conn(r, (enum redis_side)s, &c, err);
		if (rc == 0)
			rc = open_spare(r, (enum redis_side)s, err);
	}
	/* from's credentials for replicating from to, which prepare_reverse
	 * then finds set: no CONFIG SET inside the pause */
	if (rc == 0)
		rc = rd_set_master_auth(r, from_of(dir), NULL, 0, err);
	return rc < 0 ? ferry_error_prefix(err, "database %s: prepare", r->cfg->name) : 0;
}

static int sw_fence(void *h, enum db_side side, int64_t deadline, struct ferry_error *err)
{
	struct rd *r = h;
	enum redis_side s = side_of(side);
	int64_t budget = r->cfg->pause_budget_ms > 0 ? r->cfg->pause_budget_ms : 5000;
	char *info = NULL;
	int rc = info_repl(r, s, deadline, &info, err);
	bool master = rc == 0 && is_master(info);

	free(info);
	if (rc < 0)
		return step_fail(r, "fence", err);
	if (!master)
		return 0; /* a replica refuses writes by itself (-READONLY) */
	/* the pause ends by itself at the deadline, and never later than one
	 * budget from now (a recovery's deadline is longer) */
	if (deadline > time_mono_ms() + budget)
		deadline = time_mono_ms() + budget;
	return redis_fence(h, s, deadline, err);
}

static int sw_unfence(void *h, enum db_side side, int64_t deadline, struct ferry_error *err)
{
	return redis_unfence(h, side_of(side), deadline, err);
}

static int sw_position(void *h, enum db_direction dir, int64_t deadline, char **pos,
                       struct ferry_error *err)
{
	struct rd *r = h;
	char text[REDIS_POS_TEXT];
	int rc = redis_position(h, from_of(dir), deadline, &r->pos, err);

	*pos = NULL;
	if (rc < 0)
		return rc;
	r->have_pos = true;
	redis_pos_format(&r->pos, text);
	*pos = xstrdup(text);
	return 0;
}

static int sw_wait_applied(void *h, enum db_direction dir, const char *pos, int64_t deadline,
                           struct ferry_error *err)
{
	struct rd *r = h;
	struct redis_pos p;

	if (!pos || redis_pos_parse(pos, &p) < 0)
		return ferry_error_set(err, FERRY_EINVAL, NULL,
		                       "database %s: wait_applied: '%s' is not a Redis position "
		                       "(REPLID:OFFSET)",
		                       r->cfg->name, pos ? pos : "");
	return redis_wait_applied(h, to_of(dir), &p, deadline, err);
}

static int sw_finalize(void *h, enum db_direction dir, int64_t deadline, int64_t *count,
                       struct ferry_error *err)
{
	/* the stream carries everything: a key, its TTL, a script's effects */
	(void)h, (void)dir, (void)deadline, (void)err;
	*count = 0;
	return 0;
}

static int sw_stop_forward(void *h, enum db_direction dir, int64_t deadline,
                           struct ferry_error *err)
{
	return redis_stop_forward(h, to_of(dir), pos_now(h), deadline, err);
}

static int sw_restart_forward(void *h, enum db_direction dir, int64_t deadline,
                              struct ferry_error *err)
{
	struct rd *r = h;
	enum redis_side to = to_of(dir);
	int rc;

	r->have_pos = false;
	r->rev_taken[to] = false; /* the promotion's counters: undone */
	r->promoted_end[to] = -1;
	rc = redis_undo_stop_forward(h, to, deadline, err);
	/* to is a replica again, which refuses writes by itself: the undo's
	 * pause of it (fence_target) is lifted */
	if (rc == 0 && r->paused_until[to])
		rc = redis_unfence(h, to, deadline, err);
	/* to may come back by a full resync (redis.h): the stream's health
	 * is judged afresh from here */
	r->base_taken[from_of(dir)] = false;
	return rc;
}

static int sw_prepare_reverse(void *h, enum db_direction dir, int64_t deadline,
                              struct ferry_error *err)
{
	return redis_prepare_reverse(h, from_of(dir), pos_now(h), deadline, err);
}

static int sw_drop_reverse(void *h, enum db_direction dir, int64_t deadline,
                           struct ferry_error *err)
{
	return redis_undo_prepare_reverse(h, from_of(dir), deadline, err);
}

static int sw_start_reverse(void *h, enum db_direction dir, struct ferry_error *err)
{
	struct rd *r = h;
	enum redis_side from = from_of(dir), to = to_of(dir);
	struct redis_reverse rev;
	int rc;

	rc = redis_start_reverse(h, from, pos_now(r), rd_deadline(RD_TIMEOUT_MS), &rev, err);
	if (rev.linked && rev.resync == 1 && !rev.by_history)
		snprintf(r->reverse_note, sizeof(r->reverse_note),
		         "resync=partial (%s's sync_partial_ok %lld -> %lld, sync_full %lld -> "
		         "%lld)",
		         rd_side_name(to), (long long)rev.partial0, (long long)rev.partial,
		         (long long)rev.full0, (long long)rev.full);
	else if (rev.linked && rev.resync == 1)
		snprintf(r->reverse_note, sizeof(r->reverse_note),
		         "resync=partial (%s continues %s's history: both keep %.8s... as the "
		         "previous replication id)",
		         rd_side_name(from), rd_side_name(to), rev.replid2_to);
	else if (rev.linked)
		snprintf(r->reverse_note, sizeof(r->reverse_note), "resync=full");
	return rc;
}

static int sw_drop_forward(void *h, enum db_direction dir, struct ferry_error *err)
{
	return redis_drop_forward(h, to_of(dir), rd_deadline(RD_TIMEOUT_MS), err);
}

static int sw_reverse_note(void *h, enum db_direction dir, char *out, size_t len)
{
	struct rd *r = h;

	(void)dir;
	snprintf(out, len, "%s", r->reverse_note);
	return r->reverse_note[0] ? 0 : FERRY_ENOTFOUND;
}

/* "master at 1a2b3c4d:1234 (paused by ferry)", "replica of new, link up,
 * at 1234" */
static void side_text(struct rd *r, enum redis_side s, const struct redis_state *st, char *out,
                      size_t len)
{
	if (st->master)
		snprintf(out, len, "master at %.8s:%lld%s", st->pos.replid,
		         (long long)st->pos.offset,
		         r->paused_until[s] > time_mono_ms() ? " (paused by ferry)" : "");
	else
		snprintf(out, len, "replica of %s%s%.64s:%d, link %s, at %lld",
		         st->replicates_other ? rd_side_name(rd_other(s)) : "",
		         st->replicates_other ? " " : "", st->master_host, st->master_port,
		         st->link_up ? "up" : "down", (long long)st->applied);
}

/*
 * Where a switch in dir stands, in db.h's terms:
 *   fenced[s]        s refuses writes: a replica, or paused by this handle
 *   forward_exists   to follows from, or both are masters (to was promoted
 *                    and can follow from again: restart_forward)
 *   forward_running  to follows from, link up
 *   caught_up        to holds every write of from: as its replica, by the
 *                    offsets; promoted, when its previous history reaches
 *                    from's offset; either way, when from follows to
 *                    already, linked, in to's history
 *   reverse_ready    from is a replica of to (prepare_reverse done)
 *   reverse_running  ... with its link up
 */
static int sw_inspect(void *h, enum db_direction dir, struct db_inspect *out,
                      struct ferry_error *err)
{
	struct rd *r = h;
	enum redis_side from = from_of(dir), to = to_of(dir);
	const struct redis_state *f, *t;
	struct redis_world w;
	char ft[160], tt[160];
	int s;

	memset(out, 0, sizeof(*out));
	out->caught_up = -1;
	redis_inspect(h, rd_deadline(RD_TIMEOUT_MS), &w, err);
	for (s = 0; s < 2; s++) {
		if (!w.side[s].reachable)
			return ferry_error_set(
			        err, FERRY_EUNREACH,
			        "start it or mend the network; the next run recovers",
			        "database %s: %s cannot be read: %s", r->cfg->name,
			        rd_side_name((enum redis_side)s), w.side[s].error);
		out->fenced[s] = !w.side[s].master || r->paused_until[s] > time_mono_ms();
	}
	f = &w.side[from];
	t = &w.side[to];
	out->forward_running = t->replicates_other && t->link_up;
	/* two masters in a switch: to was promoted (stop_forward), whatever
	 * from did since (an undone prepare_reverse shifts its id) */
	out->forward_exists = t->replicates_other || (t->master && f->master);
	if (t->replicates_other)
		/* as its replica; or from follows to, linked (a loop that a
		 * failed undo leaves): from holds nothing to lacks */
		out->caught_up = (t->link_up && f->master && t->applied >= f->pos.offset) ||
		                                 (f->replicates_other && f->link_up &&
		                                  !strcmp(f->pos.replid, t->pos.replid))
		                         ? 1
		                         : 0;
	else if (t->master)
		out->caught_up = (f->replicates_other && !strcmp(f->pos.replid, t->pos.replid)) ||
		                                 (!strcmp(t->replid2, f->pos.replid) &&
		                                  t->second_offset - 1 >= f->pos.offset)
		                         ? 1
		                         : 0;
	out->reverse_ready = f->replicates_other;
	out->reverse_running = f->replicates_other && f->link_up;
	side_text(r, REDIS_OLD, &w.side[REDIS_OLD], ft, sizeof(ft));
	side_text(r, REDIS_NEW, &w.side[REDIS_NEW], tt, sizeof(tt));
	snprintf(out->detail, sizeof(out->detail), "old %s; new %s", ft, tt);
	return 0;
}

const struct db_switch_ops rd_switch_ops = {
	.preflight = sw_preflight,
	.prepare = sw_prepare,
	.fence = sw_fence,
	.unfence = sw_unfence,
	.position = sw_position,
	.wait_applied = sw_wait_applied,
	.finalize = sw_finalize,
	.stop_forward = sw_stop_forward,
	.restart_forward = sw_restart_forward,
	.prepare_reverse = sw_prepare_reverse,
	.drop_reverse = sw_drop_reverse,
	.start_reverse = sw_start_reverse,
	.drop_forward = sw_drop_forward,
	.inspect = sw_inspect,
	.reverse_note = sw_reverse_note,
	.describe = rd_describe_step,
};
