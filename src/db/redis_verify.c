/*
 * redis_verify.c - verification of the Redis engine: key counts per
 * database, and on request the values compared key by key (db.h verify,
 * redis.h redis_verify_values).
 *
 * Everything is compared under live writes, so each comparison is made at
 * one point of the stream: the writer (old, or new once old replicates
 * from it) is read first together with its master_repl_offset (one
 * pipeline: Redis runs a connection's commands in order), the replica once
 * it has applied that offset.  A key written in
 * between may still differ; it is read again (RD_ROUNDS times in all)
 * before it counts as different.
 *
 * Values: keys come from SCAN (old's keyspace; in a full comparison new's
 * too, for keys only new has); each is compared by DUMP (Redis's own
 * serialization of the value) and its TTL (PTTL, within a second plus the
 * time between the two reads).  DUMP holds the value in its internal
 * encoding and, for a set or hash kept as a hash table, in table order,
 * which may differ between two servers holding the same value (a replica
 * loads its table from the snapshot at another size).  Where DUMPs differ,
 * the value is compared in a canonical form (members sorted) before it
 * counts as different.
 *
 * A database's digest (sum_old, sum_new: 16 hex digits) is the sum over
 * its compared keys of FNV-1a 64 of key and value; a key found equal
 * contributes its old digest to both sides, so the digests are equal
 * exactly when every compared key was.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/redis_int.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define RD_MAX_DBS 256
#define RD_ROUNDS  3
#define SCAN_COUNT "500"
#define WAIT_MS    2000

static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ULL

/* Waits until dst applied target (slave_repl_offset), polled every
 * millisecond, at most ms.  0 (reached or not), or an error. */
static int wait_offset(struct rd *r, enum redis_side dst, int64_t target, int64_t ms,
                       struct ferry_error *err)
{
	int64_t end = time_mono_ms() + ms;

	for (;;) {
		char *repl = NULL;
		int64_t applied;
		int rc = rd_info(r, dst, "replication", &repl, err);

		if (rc < 0)
			return rc;
		applied = redis_info_int(repl, "slave_repl_offset", -1);
		free(repl);
		if (applied < 0 || applied >= target || time_mono_ms() >= end)
			return 0;
		poll(NULL, 0, 1);
	}
}

/* Sends the queued commands of side s plus INFO replication when offset is
 * not NULL (its master_repl_offset into *offset), and reads n replies. */
static int run(struct rd *r, enum redis_side s, size_t n, struct redis_reply *rep, int64_t *offset,
               struct ferry_error *err)
{
	struct redis_reply info;
	int rc;

	if (offset) {
		const char *argv[2] = { "INFO", "replication" };

		redis_append(r->c[s], 2, argv, NULL);
	}
	memset(&info, 0, sizeof(info));
	rc = redis_flush(r->c[s], n + (offset ? 1 : 0), rep, rd_deadline(RD_TIMEOUT_MS), err);
	if (offset) {
		/* the INFO reply is this function's: taken out of rep */
		info = rep[n];
		memset(&rep[n], 0, sizeof(rep[n]));
		*offset = rc == 0 && info.str ? redis_info_int(info.str, "master_repl_offset", -1)
		                              : -1;
	}
	redis_reply_release(&info);
	return rc;
}

static void queue(struct redis_conn *c, const char *cmd, const char *key, size_t klen)
{
	const char *argv[2] = { cmd, key };
	size_t len[2] = { strlen(cmd), klen };

	redis_append(c, 2, argv, len);
}

static void queue_select(struct redis_conn *c, int db)
{
	char n[12];
	const char *argv[2] = { "SELECT", n };

	snprintf(n, sizeof(n), "%d", db);
	redis_append(c, 2, argv, NULL);
}

/* ---- canonical values ------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	const struct redis_reply *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->str, y->str, n);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* A field and its value of HGETALL, sorted by field. */
struct pair {
	const struct redis_reply *field, *value;
};

static int cmp_pair(const void *a, const void *b)
{
	return cmp_str(((const struct pair *)a)->field, ((const struct pair *)b)->field);
}

static uint64_t fnv_item(uint64_t h, const struct redis_reply *r)
{
	if (r->str)
		h = fnv(h, r->str, r->len);
	return fnv(h, "\0", 1);
}

/* The digest of key's value in a form independent of its encoding. */
static int canonical(struct rd *r, enum redis_side s, int db, const struct redis_reply *key,
                     uint64_t *out, struct ferry_error *err)
{
	struct redis_reply rep[3];
	const char *type;
	uint64_t h = FNV_INIT;
	size_t i;
	int rc;

	queue_select(r->c[s], db);
	queue(r->c[s], "TYPE", key->str, key->len);
	rc = redis_flush(r->c[s], 2, rep, rd_deadline(RD_TIMEOUT_MS), err);
	if (rc < 0)
		goto out;
	type = rep[1].str ? rep[1].str : "none";
	h = fnv(h, type, strlen(type));
	if (!strcmp(type, "set") || !strcmp(type, "hash")) {
		struct redis_reply *v;
		size_t n, w;

		queue(r->c[s], !strcmp(type, "set") ? "SMEMBERS" : "HGETALL", key->str, key->len);
		rc = redis_flush(r->c[s], 1, &rep[2], rd_deadline(RD_TIMEOUT_MS), err);
		if (rc < 0)
			goto out;
		v = rep[2].v;
		n = rep[2].n;
		w = !strcmp(type, "set") ? 1 : 2;
		if (w == 2) {
			struct pair *pairs = xcalloc(n / 2 + 1, sizeof(*pairs));

			for (i = 0; i + 1 < n; i += 2) {
				pairs[i / 2].field = &v[i];
				pairs[i / 2].value = &v[i + 1];
			}
			xqsort(pairs, n / 2, sizeof(*pairs), cmp_pair);
			for (i = 0; i < n / 2; i++)
				h = fnv_item(fnv_item(h, pairs[i].field), pairs[i].value);
			free(pairs);
		} else {
			xqsort(v, n, sizeof(*v), cmp_str);
			for (i = 0; i < n; i++)
				h = fnv_item(h, &v[i]);
		}
	} else {
		/* ordered types: their reply is canonical as it comes */
		const char *argv[5] = { "DUMP", key->str, NULL, NULL, NULL };
		size_t len[5] = { 4, key->len, 0, 0, 0 };
		int argc = 2;

		if (!strcmp(type, "string")) {
			argv[0] = "GET";
			len[0] = 3;
		} else if (!strcmp(type, "list")) {
			argv[0] = "LRANGE";
			argv[2] = "0";
			argv[3] = "-1";
			argc = 4;
		} else if (!strcmp(type, "zset")) {
			argv[0] = "ZRANGE";
			argv[2] = "0";
			argv[3] = "-1";
			argv[4] = "WITHSCORES";
			argc = 5;
		} else if (!strcmp(type, "stream")) {
			argv[0] = "XRANGE";
			argv[2] = "-";
			argv[3] = "+";
			argc = 4;
		}
		for (i = 0; i < (size_t)argc; i++)
			if (i != 1)
				len[i] = strlen(argv[i]);
		redis_append(r->c[s], argc, argv, len);
		rc = redis_flush(r->c[s], 1, &rep[2], rd_deadline(RD_TIMEOUT_MS), err);
		if (rc < 0)
			goto out;
		if (rep[2].type == REDIS_ARRAY) {
			for (i = 0; i < rep[2].n; i++) {
				/* stream entries nest: id, [field, value...] */
				const struct redis_reply *e = &rep[2].v[i];
				size_t k;

				if (e->str)
					h = fnv(h, e->str, e->len);
				for (k = 0; k < e->n; k++) {
					if (e->v[k].str)
						h = fnv(h, e->v[k].str, e->v[k].len);
					for (size_t m = 0; m < e->v[k].n; m++)
						if (e->v[k].v[m].str)
							h = fnv(h, e->v[k].v[m].str,
							        e->v[k].v[m].len);
				}
				h = fnv(h, "\0", 1);
			}
		} else if (rep[2].str) {
			h = fnv(h, rep[2].str, rep[2].len);
		}
	}
	*out = h;
out:
	for (i = 0; i < 3; i++)
		redis_reply_release(&rep[i]);
	return rc;
}

/* ---- key batches -------------------------------------------------------- */

struct dbsum {
	uint64_t old, new;
	int64_t compared, differ;
};

/* Queues DUMP and PTTL of every key not yet found equal on side s. */
static size_t queue_keys(struct rd *r, enum redis_side s, int db, const struct redis_reply *keys,
                         size_t n, const bool *equal)
{
	size_t i, k = 0;

	queue_select(r->c[s], db);
	for (i = 0; i < n; i++) {
		if (equal[i])
			continue;
		queue(r->c[s], "DUMP", keys[i].str, keys[i].len);
		queue(r->c[s], "PTTL", keys[i].str, keys[i].len);
		k++;
	}
	return k;
}

/* Whether the value read on old (DUMP d0, PTTL t0) and on new is the
 * same, read slack ms apart; on the last round a DUMP difference is
 * settled by the canonical form. */
static int same_value(struct rd *r, int db, const struct redis_reply *key,
                      const struct redis_reply *d0, int64_t t0, const struct redis_reply *d1,
                      int64_t t1, int64_t slack, bool last, bool *same, struct ferry_error *err)
{
	uint64_t c0, c1;
	int rc;

	*same = false;
	if ((t0 < 0 || t1 < 0) ? t0 != t1 : llabs(t0 - t1) > slack)
		return 0;
	if (d0->type == REDIS_NIL && d1->type == REDIS_NIL) {
		*same = true; /* gone on both sides meanwhile */
		return 0;
	}
	if (!d0->str || !d1->str)
		return 0;
	if (!cmp_str(d0, d1)) {
		*same = true;
		return 0;
	}
	if (!last)
		return 0;
	rc = canonical(r, REDIS_OLD, db, key, &c0, err);
	if (rc == 0)
		rc = canonical(r, REDIS_NEW, db, key, &c1, err);
	*same = rc == 0 && c0 == c1;
	return rc;
}

/* Compares keys[0..n-1] (SCAN replies) of database db, read on src (the
 * writer) first. */
static int compare_keys(struct rd *r, enum redis_side src, int db, const struct redis_reply *keys,
                        size_t n, struct dbsum *sum, struct ferry_error *err)
{
	enum redis_side dst = rd_other(src);
	struct redis_reply *ro = xcalloc(2 * n + 2, sizeof(*ro));
	struct redis_reply *rn = xcalloc(2 * n + 2, sizeof(*rn));
	bool *equal = xcalloc(n ? n : 1, sizeof(*equal));
	size_t i, k, left = n;
	int round, rc = 0;

	for (round = 0; round < RD_ROUNDS && left > 0 && rc == 0; round++) {
		bool last = round == RD_ROUNDS - 1;
		int64_t offset = -1, t0 = time_mono_ms();

		k = queue_keys(r, src, db, keys, n, equal);
		rc = run(r, src, 2 * k + 1, src == REDIS_OLD ? ro : rn, &offset, err);
		if (rc == 0 && offset >= 0)
			rc = wait_offset(r, dst, offset, WAIT_MS, err);
		if (rc == 0) {
			queue_keys(r, dst, db, keys, n, equal);
			rc = run(r, dst, 2 * k + 1, dst == REDIS_OLD ? ro : rn, NULL, err);
		}
		for (i = 0, k = 0; rc == 0 && i < n; i++) {
			const struct redis_reply *d0 = &ro[1 + 2 * k], *d1 = &rn[1 + 2 * k];
			int64_t slack = 1000 + time_mono_ms() - t0;

			if (equal[i])
				continue;
			rc = same_value(r, db, &keys[i], d0, ro[2 + 2 * k].integer, d1,
			                rn[2 + 2 * k].integer, slack, last, &equal[i], err);
			k++;
			if (equal[i] || last) {
				uint64_t h = fnv(FNV_INIT, keys[i].str, keys[i].len);
				uint64_t h0 = d0->str ? fnv(h, d0->str, d0->len) : h;
				uint64_t h1 = d1->str ? fnv(h, d1->str, d1->len) : fnv(h, "", 1);

				sum->old += h0;
				sum->new += equal[i] ? h0 : h1;
				sum->compared++;
				sum->differ += !equal[i];
			}
			if (equal[i])
				left--;
		}
		for (i = 0; i < 2 * n + 2; i++) {
			redis_reply_release(&ro[i]);
			redis_reply_release(&rn[i]);
		}
	}
	free(ro);
	free(rn);
	free(equal);
	return rc;
}

/* One SCAN step on side s of database db.  *cursor in and out (0 at the
 * end); keys into *rep (an array, released by the caller). */
static int scan_step(struct rd *r, enum redis_side s, int db, uint64_t *cursor,
                     struct redis_reply *keys, struct ferry_error *err)
{
	char cur[24];
	const char *argv[4] = { "SCAN", cur, "COUNT", SCAN_COUNT };
	struct redis_reply rep[2];
	int rc;

	memset(keys, 0, sizeof(*keys));
	snprintf(cur, sizeof(cur), "%llu", (unsigned long long)*cursor);
	queue_select(r->c[s], db);
	redis_append(r->c[s], 4, argv, NULL);
	rc = redis_flush(r->c[s], 2, rep, rd_deadline(RD_TIMEOUT_MS), err);
	if (rc == 0 && (rep[1].type != REDIS_ARRAY || rep[1].n != 2 || !rep[1].v[0].str ||
	                rep[1].v[1].type != REDIS_ARRAY))
		rc = ferry_error_set(err, FERRY_EPROTO, NULL, "%s: SCAN: unexpected reply",
		                     redis_conn_what(r->c[s]));
	if (rc == 0) {
		*cursor = strtoull(rep[1].v[0].str, NULL, 10);
		*keys = rep[1].v[1];
		memset(&rep[1].v[1], 0, sizeof(rep[1].v[1]));
	}
	redis_reply_release(&rep[0]);
	redis_reply_release(&rep[1]);
	return rc;
}

/* Keys of a batch of the replica's that src does not have (EXISTS 0),
 * moved to the front of keys; their count. */
static int only_on_replica(struct rd *r, enum redis_side src, int db, struct redis_reply *keys,
                           size_t n, size_t *nmiss, struct ferry_error *err)
{
	struct redis_reply *rep = xcalloc(n + 1, sizeof(*rep));
	size_t i, m = 0;
	int rc;

	queue_select(r->c[src], db);
	for (i = 0; i < n; i++)
		queue(r->c[src], "EXISTS", keys[i].str, keys[i].len);
	rc = redis_flush(r->c[src], n + 1, rep, rd_deadline(RD_TIMEOUT_MS), err);
	for (i = 0; rc == 0 && i < n; i++) {
		if (rep[1 + i].integer == 0) {
			struct redis_reply t = keys[m];

			keys[m++] = keys[i];
			keys[i] = t;
		}
	}
	for (i = 0; i < n + 1; i++)
		redis_reply_release(&rep[i]);
	free(rep);
	*nmiss = m;
	return rc;
}

/* Compares the values of database db: sample keys of src (the writer)
 * from a random cursor, or (sample 0) every key of both sides. */
static int compare_db(struct rd *r, enum redis_side src, int db, int64_t keys_src, int64_t sample,
                      struct dbsum *sum, struct ferry_error *err)
{
	uint64_t cursor = 0;
	int64_t seen = 0;
	int rc = 0, wraps = 0;

	if (sample > 0 && keys_src > 0) {
		/* a table of keys_src entries has at least that many buckets: a
		 * cursor below the next power of two starts inside it */
		uint64_t size = 1;

		while (size < (uint64_t)keys_src)
			size <<= 1;
		cursor = ((uint64_t)random() << 31 ^ (uint64_t)random()) & (size - 1);
	}
	do {
		struct redis_reply keys;

		rc = scan_step(r, src, db, &cursor, &keys, err);
		if (rc == 0 && keys.n) {
			size_t n = keys.n;

			if (sample > 0 && seen + (int64_t)n > sample)
				n = (size_t)(sample - seen);
			rc = compare_keys(r, src, db, keys.v, n, sum, err);
			seen += (int64_t)n;
		}
		redis_reply_release(&keys);
		if (rc == 0 && cursor == 0 && sample > 0 && seen < sample && wraps++ == 0 &&
		    keys_src > seen)
			cursor = 1; /* from the table's start up to where the sample began */
		if (sample > 0 && seen >= sample)
			break;
	} while (rc == 0 && cursor != 0);
	if (rc < 0 || sample > 0)
		return rc;
	/* keys only the replica has */
	do {
		struct redis_reply keys;
		size_t miss = 0;

		rc = scan_step(r, rd_other(src), db, &cursor, &keys, err);
		if (rc == 0 && keys.n)
			rc = only_on_replica(r, src, db, keys.v, keys.n, &miss, err);
		if (rc == 0 && miss)
			rc = compare_keys(r, src, db, keys.v, miss, sum, err);
		redis_reply_release(&keys);
	} while (rc == 0 && cursor != 0);
	return rc;
}

/* The side that takes the writes: new once it is a master that old
 * replicates from (after the cutover), else old. */
static int writer(struct rd *r, enum redis_side *src, struct ferry_error *err)
{
	char *repl = NULL;
	int rc = rd_info(r, REDIS_OLD, "replication", &repl, err);

	*src = rc == 0 && rd_replica_of(repl, &r->ep[REDIS_NEW]) ? REDIS_NEW : REDIS_OLD;
	free(repl);
	return rc;
}

/* INFO keyspace of src (and its offset), then of the other side once it
 * applied it; keys per database into keys[side]. */
static int keyspaces(struct rd *r, enum redis_side src, int64_t *keys[2], struct ferry_error *err)
{
	struct redis_reply rep[2];
	int64_t offset = -1;
	char *ks = NULL;
	const char *argv[2] = { "INFO", "keyspace" };
	struct redis_conn *c;
	int rc;

	rc = rd_conn(r, REDIS_OLD, &c, err);
	if (rc == 0)
		rc = rd_conn(r, REDIS_NEW, &c, err);
	if (rc < 0)
		return rc;
	redis_append(r->c[src], 2, argv, NULL);
	memset(rep, 0, sizeof(rep));
	rc = run(r, src, 1, rep, &offset, err);
	if (rc == 0)
		rd_keyspace_keys(rep[0].str ? rep[0].str : "", keys[src], RD_MAX_DBS);
	redis_reply_release(&rep[0]);
	if (rc == 0 && offset >= 0)
		rc = wait_offset(r, rd_other(src), offset, WAIT_MS, err);
	if (rc == 0)
		rc = rd_info(r, rd_other(src), "keyspace", &ks, err);
	if (rc == 0)
		rd_keyspace_keys(ks, keys[rd_other(src)], RD_MAX_DBS);
	free(ks);
	return rc;
}

/* sample < 0: counts only. */
static int verify(struct rd *r, int64_t sample, struct db_verify *out, struct ferry_error *err)
{
	int64_t *ko = xcalloc(RD_MAX_DBS, sizeof(*ko)), *kn = xcalloc(RD_MAX_DBS, sizeof(*kn));
	int64_t *keys[2] = { ko, kn };
	enum redis_side src = REDIS_OLD;
	int db, rc;

	rc = writer(r, &src, err);
	if (rc == 0)
		rc = keyspaces(r, src, keys, err);
	out->equal = true;
	for (db = 0; rc == 0 && db < RD_MAX_DBS; db++) {
		struct db_verify_table *t;
		struct dbsum sum = { 0, 0, 0, 0 };

		if (!ko[db] && !kn[db])
			continue;
		XGROW(out->v, out->alloc, out->n + 1);
		t = &out->v[out->n++];
		memset(t, 0, sizeof(*t));
		t->name = xasprintf("db%d", db);
		t->rows_old = ko[db];
		t->rows_new = kn[db];
		if (sample >= 0) {
			rc = compare_db(r, src, db, keys[src][db], sample, &sum, err);
			snprintf(t->sum_old, sizeof(t->sum_old), "%016llx",
			         (unsigned long long)sum.old);
			snprintf(t->sum_new, sizeof(t->sum_new), "%016llx",
			         (unsigned long long)sum.new);
		}
		t->equal = t->rows_old == t->rows_new && !strcmp(t->sum_old, t->sum_new);
		if (!t->equal)
			out->equal = false;
	}
	/* the connections go back to database 0 */
	if (rc == 0 && sample >= 0) {
		enum redis_side s;

		for (s = REDIS_OLD; s <= REDIS_NEW && rc == 0; s++)
			rc = redis_cmd(r->c[s], rd_deadline(RD_TIMEOUT_MS), NULL, err, "SELECT",
			               "0", NULL);
	}
	free(ko);
	free(kn);
	return rc < 0 ? ferry_error_prefix(err, "database %s: verify", r->cfg->name) : 0;
}

int rd_verify(void *h, bool checksum, struct db_verify *out, struct ferry_error *err)
{
	return verify(h, checksum ? 0 : -1, out, err);
}

int redis_verify_values(void *h, int64_t sample, struct db_verify *out, struct ferry_error *err)
{
	return verify(h, sample < 0 ? 0 : sample, out, err);
}
