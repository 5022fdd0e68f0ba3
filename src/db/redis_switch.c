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

/* INFO replication of side s on its connection as it is. */
static int info_repl(struct rd *r, enum redis_side s, int64_t deadline, char **text,
                     struct ferry_error *err)
{
	struct redis_reply rep;
	int rc = redis_cmd(r->c[s], deadline, &rep, err, "INFO", "replication", NULL);

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
	rc = redis_cmd(r->c[from], deadline, NULL, err, "CLIENT", "PAUSE", arg, "WRITE", NULL);
	return rc < 0 ? step_fail(r, "fence", err) : 0;
}

int redis_unfence(void *h, enum redis_side from, int64_t deadline, struct ferry_error *err)
{
	struct rd *r = h;
	int rc = redis_cmd(r->c[from], deadline, NULL, err, "CLIENT", "UNPAUSE", NULL);

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

/* Whether a promoted side keeps pos's history as replid2 up to exactly
 * pos (so that the old writer, still at pos, resyncs partially). */
static int promoted_at(const char *info, const struct redis_pos *pos, struct ferry_error *err)
{
	char id2[41] = "";
	int64_t second;

	redis_info_str(info, "master_replid2", id2, sizeof(id2));
	second = redis_info_int(info, "second_repl_offset", -1);
	if (!pos || (!strcmp(id2, pos->replid) && second == pos->offset + 1))
		return 0;
	return ferry_error_set(err, FERRY_ECHANGED,
	                       "the way back would be a full resync: undo, then inspect",
	                       "promoted with previous history %s up to %lld, not at the fence "
	                       "%s:%lld",
	                       id2, (long long)second - 1, pos->replid, (long long)pos->offset);
}

int redis_stop_forward(void *h, enum redis_side to, const struct redis_pos *pos, int64_t deadline,
                       struct ferry_error *err)
{
	struct rd *r = h;
	const char *cmds[3][3] = { { "REPLICAOF", "NO", "ONE" },
		                   { "INFO", "replication", NULL },
		                   { "INFO", "stats", NULL } };
	struct redis_reply rep[3];
	char *info = NULL;
	size_t i;
	int rc;

	rc = info_repl(r, to, deadline, &info, err);
	if (rc == 0 && is_master(info)) {
		rc = promoted_at(info, pos, err); /* done earlier */
		free(info);
		return rc < 0 ? step_fail(r, "stop_forward", err) : 0;
	}
	free(info);
	if (rc < 0)
		return step_fail(r, "stop_forward", err);
	/* promote, and read the new history and the counters the way back
	 * will be judged by, in one round trip */
	redis_append(r->c[to], 3, cmds[0], NULL);
	redis_append(r->c[to], 2, cmds[1], NULL);
	redis_append(r->c[to], 2, cmds[2], NULL);
	rc = redis_flush(r->c[to], 3, rep, deadline, err);
	if (rc == 0 && rep[0].type == REDIS_ERROR)
		rc = ferry_error_set(err, FERRY_EREFUSED, NULL, "%s: REPLICAOF NO ONE: %s",
		                     rd_side_name(to), rep[0].str);
	if (rc == 0 && (!rep[1].str || !rep[2].str))
		rc = ferry_error_set(err, FERRY_EPROTO, NULL, "%s: INFO refused", rd_side_name(to));
	if (rc == 0) {
		r->rev_taken[to] = true;
		r->rev_full[to] = redis_info_int(rep[2].str, "sync_full", 0);
		r->rev_partial_ok[to] = redis_info_int(rep[2].str, "sync_partial_ok", 0);
		rc = promoted_at(rep[1].str, pos, err);
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
		rc = redis_cmd(r->c[to], deadline, NULL, err, "REPLICAOF", from->host, port, NULL);
	}
	free(info);
	return rc < 0 ? step_fail(r, "undo stop_forward", err) : 0;
}

/* ---- the way back ------------------------------------------------------- */

/* Makes from a replica of the other side unless it is one; with pos, only
 * if from is still exactly at pos.  c and deadline as the caller has them. */
static int make_replica(struct rd *r, enum redis_side from, const struct redis_pos *pos,
                        struct redis_conn *c, int64_t deadline, struct ferry_error *err)
{
	const struct redis_endpoint *to = &r->ep[rd_other(from)];
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
	if (pos && (strcmp(now.replid, pos->replid) || now.offset != pos->offset)) {
		rc = ferry_error_set(err, FERRY_ECHANGED,
		                     "keep it the writer (undo); its late writes would be lost",
		                     "%s moved on after the fence (%s:%lld, fence %s:%lld): making "
		                     "it a replica would erase its later writes in a full resync",
		                     rd_side_name(from), now.replid, (long long)now.offset,
		                     pos->replid, (long long)pos->offset);
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
	int rc = make_replica(r, from, pos, r->c[from], deadline, err);

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
		rc = redis_cmd(r->c[from], deadline, NULL, err, "REPLICAOF", "NO", "ONE", NULL);
	free(info);
	return rc < 0 ? step_fail(r, "undo prepare_reverse", err) : 0;
}

int redis_start_reverse(void *h, enum redis_side from, const struct redis_pos *pos,
                        int64_t deadline, struct redis_reverse *rev, struct ferry_error *err)
{
	struct rd *r = h;
	enum redis_side to = rd_other(from);
	struct redis_conn *c;
	char *stats = NULL;
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
	if (rc == 0) {
		rev->full = redis_info_int(stats, "sync_full", 0);
		rev->partial = redis_info_int(stats, "sync_partial_ok", 0);
		if (base && rev->full > rev->full0)
			rev->resync = 2;
		else if (base && rev->partial > rev->partial0)
			rev->resync = 1;
		if (rev->resync == 2)
			rc = ferry_error_set(err, FERRY_ECHANGED,
			                     "compare the data (ferry verify) and find what wrote "
			                     "to the old writer "
			                     "after the fence",
			                     "the way back %s -> %s was a FULL resync (sync_full "
			                     "%lld -> %lld), not a "
			                     "partial one: %s's own history was replaced by a "
			                     "snapshot of %s, and "
			                     "whatever it took after the fence is gone",
			                     rd_side_name(to), rd_side_name(from),
			                     (long long)rev->full0, (long long)rev->full,
			                     rd_side_name(from), rd_side_name(to));
	}
	free(stats);
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
