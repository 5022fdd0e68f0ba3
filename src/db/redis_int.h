/*
 * redis_int.h - what the files of the Redis engine share: the handle and
 * small helpers over db/redis_conn.h.
 *
 *	redis.c           open, replication, progress, lag, verification, teardown
 *	redis_check.c     readiness rows
 *	redis_switch.c    the switch steps and the inspection (redis.h)
 *	redis_describe.c  the dry run
 *
 * Ownership: the handle owns its endpoints and connections; the config
 * (and the passwords it points to) is borrowed for the handle's life.
 */
#ifndef FERRY_DB_REDIS_INT_H
#define FERRY_DB_REDIS_INT_H

#include "db/db.h"
#include "db/redis.h"
#include "db/redis_conn.h"

/* A command outside the write pause. */
#define RD_TIMEOUT_MS 10000

struct rd {
	const struct db_config *cfg;
	struct redis_endpoint ep[2]; /* [REDIS_OLD], [REDIS_NEW] */
	struct redis_conn *c[2];
	/* The source's sync counters when this handle first saw the stream
	 * up (indexed by the source's side; taken false until then): a rise
	 * afterwards is a resync. */
	bool base_taken[2];
	int64_t base_full[2], base_partial_ok[2];
	/* The new writer's counters taken by stop_forward, before the way
	 * back starts (redis_start_reverse compares). */
	bool rev_taken[2];
	int64_t rev_full[2], rev_partial_ok[2];
	/* full syncs the source served while progress() watched the first
	 * sync: a rise by RD_SYNC_LOOP is a loop */
	bool sync_taken;
	int64_t sync_full0;
	/* The switch (redis_switch.c): a second connection per side opened
	 * by prepare, for the steps after a deadline closed the first one
	 * inside the pause; the fence position of this run's switch, set by
	 * position (have_pos false outside a switch, or after an undo); the
	 * CLIENT PAUSE this handle sent per side, until when (time_mono_ms(),
	 * 0 none); where the history a side took over by stop_forward ends
	 * (its second_repl_offset - 1; -1 unknown): the other side resyncs
	 * partially from it while at or before that offset; the way back's
	 * verdict for the switch report. */
	struct redis_conn *spare[2];
	bool have_pos;
	struct redis_pos pos;
	int64_t paused_until[2];
	int64_t promoted_end[2];
	char reverse_note[192];
};

#define RD_SYNC_LOOP 3

static inline enum redis_side rd_other(enum redis_side s)
{
	return s == REDIS_OLD ? REDIS_NEW : REDIS_OLD;
}

static inline const char *rd_side_name(enum redis_side s)
{
	return s == REDIS_OLD ? "old" : "new";
}

static inline const char *rd_password(const struct rd *r, enum redis_side s)
{
	return s == REDIS_OLD ? r->cfg->old_password : r->cfg->new_password;
}

int64_t rd_deadline(int64_t ms);

/* The side's connection, connected again first if it was lost (never
 * inside a write pause: the steps use r->c[side] as it is). */
int rd_conn(struct rd *r, enum redis_side s, struct redis_conn **out, struct ferry_error *err);

/* The connection to side s for a step inside the write pause: the main
 * one while it is open, else the spare (never a new connection). */
struct redis_conn *rd_pause_conn(struct rd *r, enum redis_side s);

/* INFO section ("" for the default sections) of a side, reconnecting if
 * needed.  *text is the caller's (free). */
int rd_info(struct rd *r, enum redis_side s, const char *section, char **text,
            struct ferry_error *err);

/* Whether an INFO replication text shows a replica of ep. */
bool rd_replica_of(const char *info, const struct redis_endpoint *ep);

/* Sets masteruser / masterauth on side s for replicating from the other
 * side (the other's URL user and password), unless they already hold
 * those values.  Not for a write pause: it may reconnect.  conn/deadline
 * given: uses them as they are (inside the pause). */
int rd_set_master_auth(struct rd *r, enum redis_side s, struct redis_conn *c, int64_t deadline,
                       struct ferry_error *err);
/* Clears them where they still hold what ferry set. */
int rd_clear_master_auth(struct rd *r, enum redis_side s, struct redis_conn *c, int64_t deadline,
                         struct ferry_error *err);

/* Whether new's keys came from old's stream and nothing else (INFO
 * replication texts of new and old): a replica of old restarted from its
 * own snapshot comes back a master whose previous replication id
 * (master_replid2) is old's, and has taken no write since (its offset is
 * still where that history ended).  A sync from old then loses nothing. */
bool rd_copy_of(const char *new_repl, const char *old_repl);

/* Sum of keys= over the db lines of an INFO keyspace text; with dbs not
 * NULL also keys per database (dbs[0..15], zero when absent). */
int64_t rd_keyspace_keys(const char *info, int64_t *dbs, size_t ndbs);

/* verify (redis_verify.c). */
int rd_verify(void *h, bool checksum, struct db_verify *out, struct ferry_error *err);

/* The readiness rows (redis_check.c). */
int rd_check(void *h, struct db_checks *out, struct ferry_error *err);

/* The dry run (redis_describe.c). */
int rd_describe_replicate(const struct db_config *cfg, struct buf *out, struct ferry_error *err);
int rd_describe_step(const struct db_config *cfg, enum db_direction dir, const char *step,
                     struct buf *out, struct ferry_error *err);
int rd_describe_teardown(const struct db_config *cfg, struct buf *out, struct ferry_error *err);

/* The switch's steps for the orchestrator (redis_switch.c). */
extern const struct db_switch_ops rd_switch_ops;

/* The master's replication address as REPLICAOF takes it: host, port. */
void rd_port_text(const struct redis_endpoint *ep, char out[8]);

#endif
