/*
 * redis.h - the Redis engine's switch steps, its world inspection and its
 * sampled verification, for tests and the benchmark.  The engine-neutral
 * switch orchestrator calls them through db.h's table
 * (db_engine_find("redis")->sw, at the end of redis_switch.c): fence and
 * unfence take a side, the others a direction (from, to); the fence
 * position travels as text ("REPLID:OFFSET") and is kept by the handle
 * for stop_forward and prepare_reverse; the undo's steps are
 * restart_forward = redis_undo_stop_forward (and the undo's pause of to
 * lifted), drop_reverse = redis_undo_prepare_reverse; start_reverse is
 * redis_start_reverse, whose verdict reverse_note() gives the switch
 * report ("resync=partial (...)").
 *
 * A Redis server moves whole: replication copies every database of old to
 * new (REPLICAOF: a full sync, then the command stream).  The switch moves
 * the single writer from one side ("from") to the other ("to") with these
 * steps, in this order, each bounded by an absolute deadline
 * (time_mono_ms()) that nothing inside it may pass (no new connection, no
 * fixed sleep; polls every millisecond or so):
 *
 *	redis_fence(h, from, budget_deadline)      CLIENT PAUSE <ms> WRITE
 *	redis_position(h, from, d, &pos)           master_replid:master_repl_offset
 *	redis_wait_applied(h, to, &pos, d)         INFO replication on to, until it applied pos
 *	redis_stop_forward(h, to, &pos, d)         REPLICAOF NO ONE on to
 *	redis_prepare_reverse(h, from, &pos, d)    REPLICAOF to on from (a partial resync)
 *	   (the switch driver points the applications at to)
 *	redis_unfence(h, from, d)                  CLIENT UNPAUSE: late writers get READONLY
 *	redis_start_reverse(h, from, &pos, d, &rev)   after the resume: link up, partial?
 *	redis_drop_forward(h, to, d)               after the resume: ferry's masterauth off to
 *
 * Undo inside the pause, in reverse order: redis_undo_prepare_reverse()
 * (REPLICAOF NO ONE on from), redis_undo_stop_forward() (REPLICAOF from on
 * to), redis_unfence().  The pause ends by itself at budget_deadline
 * (CLIENT PAUSE's timeout), so a ferry killed inside it leaves no server
 * paused for longer.  What the undo costs (tests/integration/redis): to
 * took a replication id of its own at its promotion; it resumes from from
 * with a partial resync only if from knows that id, that is if from had
 * linked to to after prepare_reverse before it was undone; otherwise to
 * resyncs in full (nothing is lost - to took no write - but to reloads
 * the dataset before it is a replica again).
 *
 * Every step checks the world first and does nothing when it finds its
 * work done, so a step may be run again after a crash.  After a kill -9
 * (tests/integration/redis): up to wait_applied nothing has changed and
 * old takes writes again at the deadline; after stop_forward both are
 * masters, new's replid2 holds old's history up to the fence and old may
 * have gone past it (keep old: the applications never left it; new comes
 * back by a full resync); from prepare_reverse on new is the one writer
 * and old answers READONLY at once, paused or not.  redis_inspect()
 * reads where each side stands (role, whom it replicates from, replication
 * ids and offsets) for recovery to decide from positions.
 *
 * Why the way back is a partial resync (ENGINES.md B4, Redis
 * replication.c masterTryPartialResynchronization): REPLICAOF NO ONE on to
 * keeps from's replication id as to's replid2, valid up to the fence
 * offset + 1; from then asks PSYNC <from's id> <fence + 1>, which to
 * accepts as partial as long as from took no write after the fence.
 * redis_prepare_reverse() refuses when from's offset moved past pos (its
 * late writes would be erased by the full resync), and
 * redis_start_reverse() reports a full resync as an error whatever caused
 * it.
 *
 * Return values: 0, FERRY_ETIMEDOUT (the deadline passed: on a step inside
 * the pause the connection is then closed and the caller undoes),
 * FERRY_ECHANGED (the world is not what the step expects: replication ids
 * or offsets differ, a side replicates from elsewhere), FERRY_EREFUSED /
 * FERRY_EAUTH (the server said no), FERRY_EUNREACH.
 */
#ifndef FERRY_DB_REDIS_H
#define FERRY_DB_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "util/error.h"

enum redis_side {
	REDIS_OLD = 0,
	REDIS_NEW = 1,
};

/* A writer's position: its replication id and its offset in that
 * history.  As text (journal, messages): "REPLID:OFFSET". */
struct redis_pos {
	char replid[41];
	int64_t offset;
};
#define REDIS_POS_TEXT 64
void redis_pos_format(const struct redis_pos *pos, char out[REDIS_POS_TEXT]);
/* Returns 0, or FERRY_EINVAL for text that is not REPLID:OFFSET. */
int redis_pos_parse(const char *text, struct redis_pos *pos);

int redis_fence(void *h, enum redis_side from, int64_t deadline, struct ferry_error *err);
int redis_unfence(void *h, enum redis_side from, int64_t deadline, struct ferry_error *err);
int redis_position(void *h, enum redis_side from, int64_t deadline, struct redis_pos *pos,
                   struct ferry_error *err);
int redis_wait_applied(void *h, enum redis_side to, const struct redis_pos *pos, int64_t deadline,
                       struct ferry_error *err);
/* pos may be NULL (then to's replid2 is not checked against it). */
int redis_stop_forward(void *h, enum redis_side to, const struct redis_pos *pos, int64_t deadline,
                       struct ferry_error *err);
int redis_undo_stop_forward(void *h, enum redis_side to, int64_t deadline, struct ferry_error *err);
/* pos may be NULL: no check that from stayed at the fence (recovery that
 * has lost it; redis_start_reverse still reports a full resync). */
int redis_prepare_reverse(void *h, enum redis_side from, const struct redis_pos *pos,
                          int64_t deadline, struct ferry_error *err);
int redis_undo_prepare_reverse(void *h, enum redis_side from, int64_t deadline,
                               struct ferry_error *err);

/* What the way back did. */
struct redis_reverse {
	bool linked; /* from's link to the new writer is up */
	int resync;  /* 1 partial, 2 full, 0 not known (not linked) */
	/* resync judged from the histories (no counters from before the
	 * promotion: another process promoted): partial when from keeps the
	 * new writer's previous replication id as its own replid2 */
	bool by_history;
	char replid2_from[41], replid2_to[41];
	int64_t full; /* the new writer's sync_full, before and after */
	int64_t full0;
	int64_t partial; /* its sync_partial_ok, before and after */
	int64_t partial0;
};
/* Makes from a replica of to if it is not (as prepare_reverse), lifts
 * the fence's CLIENT PAUSE on from (a replica refuses writes by itself),
 * waits until the link is up, and says how it resynced: by the new
 * writer's sync counters when this handle took them at the promotion,
 * else by the histories (so that a later run sees a full resync too).
 * Returns 0 (rev->resync partial), FERRY_ECHANGED when it was a full
 * resync (the message says why that loses writes), FERRY_ETIMEDOUT (the
 * link is not up yet: run it again). */
int redis_start_reverse(void *h, enum redis_side from, const struct redis_pos *pos,
                        int64_t deadline, struct redis_reverse *rev, struct ferry_error *err);
/* Clears the credentials ferry gave to (masteruser, masterauth) for the
 * forward stream, where they are still ferry's.  Idempotent. */
int redis_drop_forward(void *h, enum redis_side to, int64_t deadline, struct ferry_error *err);

/* Where one side stands. */
struct redis_state {
	bool reachable;
	bool master;           /* role:master (takes writes unless paused) */
	bool replicates_other; /* a replica of the other side of the plan */
	bool link_up;          /* as a replica: master_link_status:up */
	char master_host[256]; /* as a replica: whom from ("" as a master) */
	int master_port;
	struct redis_pos pos;  /* master_replid and master_repl_offset */
	char replid2[41];      /* the previous history, "000..." when none */
	int64_t second_offset; /* where replid2 ends (+1), -1 when none */
	int64_t applied;       /* as a replica: slave_repl_offset, else -1 */
	int64_t keys;          /* over all databases */
	char error[256];       /* why not reachable */
};
struct redis_world {
	struct redis_state side[2]; /* [REDIS_OLD], [REDIS_NEW] */
};
/* Fills w from both sides; a side that cannot be reached is reported as
 * such (reachable false), not as an error.  Returns 0. */
int redis_inspect(void *h, int64_t deadline, struct redis_world *w, struct ferry_error *err);

/* The value comparison of db.h's verify(checksum), on a sample: in each
 * database, up to sample keys from a random place of old's keyspace (SCAN
 * from a random cursor), each compared with new (DUMP, and the TTL); 0
 * compares every key both ways, as verify(h, true) does.  Fills out like
 * verify (one row per database: key counts, and in sum_old/sum_new the
 * digests of the values compared, equal when every compared key is). */
int redis_verify_values(void *h, int64_t sample, struct db_verify *out, struct ferry_error *err);

#endif
