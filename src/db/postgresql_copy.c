/*
 * postgresql_copy.c - the parallel initial copy (pgcopydb's approach),
 * replicate_start when the plan asks for it (db.h: DB_COPY_PARALLEL).
 *
 * PostgreSQL's own table sync copies each table into a table whose
 * indexes already exist, with one or two workers; a dump and restore
 * builds the indexes after the data.  This copy does the latter without
 * stopping writes:
 *
 *   1. publish: publication ferry_pub FOR TABLE (every table copied), made
 *      before the slot, so that decoding from the slot finds it;
 *   2. slot: CREATE_REPLICATION_SLOT ferry_sub_<db> ... EXPORT_SNAPSHOT on a
 *      replication connection held open (and idle) while the copy runs:
 *      the slot's start is the snapshot, exactly;
 *   3. schema: pg_dump --section=pre-data --snapshot (tables, types,
 *      functions: no indexes, no constraints but NOT NULL and CHECK) into
 *      psql --single-transaction on new;
 *   4. copy: copy_jobs workers, each with a transaction on old that imports
 *      the snapshot and a connection to new, take the next table (largest
 *      first; tables over COPY_SPLIT_BYTES in block ranges, TID range
 *      scans) and stream COPY OUT into COPY IN (pgsql_copy_stream), no
 *      file between; each part commits on new on its own and is written to
 *      the ledger; the calling thread reports progress meanwhile;
 *   5. indexes: pg_dump -Fc --section=post-data to a private file, then
 *      pg_restore -j copy_jobs (indexes, constraints, triggers in
 *      dependency order), leaving out what exists on new already;
 *   6. subscribe: the subscription on the existing slot with copy_data =
 *      false: streaming begins exactly where the snapshot ends.
 *
 * Resuming (cfg->copy_ledger): the ledger holds the slot's start LSN, then
 * one line per part committed on new.  After a crash the snapshot is gone
 * but the slot is not (nothing consumed it: its confirmed position is
 * still the snapshot's).  Tables whose every part was committed are kept;
 * the others are emptied on new and handed to PostgreSQL's own table sync:
 * the publication is narrowed to the finished tables, the subscription made
 * on the slot without a copy, then the unfinished tables are added back
 * and ALTER SUBSCRIPTION ... REFRESH PUBLICATION copies them (the apply
 * worker skips a table's changes until its sync is done, which is what
 * makes this exact).  A slot without a ledger that matches it is dropped
 * and the copy starts over.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/postgresql_int.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* Tables larger than this are copied in parts of about COPY_PART_BYTES
 * (at most COPY_MAX_PARTS, at least copy_jobs), so that one large table
 * keeps every worker busy. */
#define COPY_SPLIT_BYTES  (128LL << 20)
#define COPY_PART_BYTES   (256LL << 20)
#define COPY_MAX_PARTS    32
#define COPY_DEFAULT_JOBS 2

struct ctable {
	char *name; /* quoted: "public"."orders" */
	char *cols; /* the columns COPY writes, quoted */
	int64_t size, pages, est_rows;
	int nparts;
	int parts_done;    /* committed on new (ledger) */
	int64_t start_ms;  /* first part started, 0 not yet */
	int64_t finish_ms; /* last part committed */
};

struct part {
	struct ctable *t;
	int i;          /* part number */
	int64_t lo, hi; /* block range; lo < 0: the whole table */
	int state;      /* 0 waiting, 1 copying, 2 committed (atomic) */
	struct pgsql_copy_counters cnt;
};

struct ledger_part {
	char *table;
	int part, nparts;
};

struct ledger {
	const char *path; /* NULL: no ledger */
	int fd;
	char lsn[32];             /* the slot's start */
	struct ledger_part *done; /* committed parts, as the ledger says */
	size_t ndone;
};

struct copy {
	struct pg *p;
	const char *snapshot;
	struct ctable *t;
	size_t nt;
	struct part *parts;
	size_t nparts, next;
	struct ledger lg;
	pthread_mutex_t mu; /* next, lg, rc, err */
	int stop;           /* atomic: a worker failed */
	int committed;      /* parts committed by this run */
	int rc;
	struct ferry_error err;
};

/* Fault injection (STYLE, tests): FERRY_CRASH_AT=pgcopy_part:N kills the
 * process (SIGKILL, as kill -9 would) once N parts are committed and in
 * the ledger. */
static void crash_point(int committed)
{
	const char *at = getenv("FERRY_CRASH_AT");

	if (at && !strncmp(at, "pgcopy_part:", 12) && strtol(at + 12, NULL, 10) == committed)
		kill(getpid(), SIGKILL);
}

/* The size of a part: FERRY_PGCOPY_PART_BYTES overrides it (tests split
 * small tables with it). */
static int64_t part_bytes(void)
{
	const char *v = getenv("FERRY_PGCOPY_PART_BYTES");
	int64_t n = v ? strtoll(v, NULL, 10) : 0;

	return n > 0 ? n : COPY_PART_BYTES;
}

/* ---- the ledger --------------------------------------------------------- */

static void ledger_release(struct ledger *lg)
{
	size_t i;

	if (lg->fd >= 0)
		close(lg->fd);
	lg->fd = -1;
	for (i = 0; i < lg->ndone; i++)
		free(lg->done[i].table);
	free(lg->done);
	lg->done = NULL;
	lg->ndone = 0;
}

/* Reads the ledger if there is one: lsn and the committed parts. */
static void ledger_load(struct ledger *lg, const char *path)
{
	struct buf b;
	char *line, *save = NULL;

	memset(lg, 0, sizeof(*lg));
	lg->fd = -1;
	lg->path = path;
	if (!path)
		return;
	buf_init(&b, 64 << 20);
	if (buf_read_file(&b, path) == 0 && b.data) {
		for (line = strtok_r(b.data, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			if (!strncmp(line, "slot\t", 5)) {
				snprintf(lg->lsn, sizeof(lg->lsn), "%s", line + 5);
			} else if (!strncmp(line, "done\t", 5)) {
				/* done TABLE PART NPARTS ROWS */
				char *f[4], *fs = NULL, *x = line + 5;
				int k;
				for (k = 0; k < 4; k++, x = NULL)
					f[k] = strtok_r(x, "\t", &fs);
				if (!f[2])
					continue;
				lg->done = xrealloc(lg->done, (lg->ndone + 1) * sizeof(*lg->done));
				lg->done[lg->ndone].table = xstrdup(f[0]);
				lg->done[lg->ndone].part = (int)strtol(f[1], NULL, 10);
				lg->done[lg->ndone++].nparts = (int)strtol(f[2], NULL, 10);
			}
		}
	}
	buf_release(&b);
}

static int ledger_write(struct ledger *lg, const char *line, struct ferry_error *err)
{
	size_t n = strlen(line);

	if (!lg->path)
		return 0;
	if (write(lg->fd, line, n) != (ssize_t)n || fdatasync(lg->fd) < 0)
		return ferry_error_set(err, FERRY_EIO, "check the disk of the state folder",
		                       "copy ledger %s: %s", lg->path, strerror(errno));
	return 0;
}

/* Starts a new ledger for a slot that starts at lsn. */
static int ledger_reset(struct ledger *lg, const char *lsn, struct ferry_error *err)
{
	char line[64];

	snprintf(lg->lsn, sizeof(lg->lsn), "%s", lsn);
	if (!lg->path)
		return 0;
	if (lg->fd >= 0)
		close(lg->fd);
	lg->fd = open(lg->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (lg->fd < 0)
		return ferry_error_set(err, FERRY_EIO, "check the state folder",
		                       "copy ledger %s: %s", lg->path, strerror(errno));
	snprintf(line, sizeof(line), "ferry copy ledger 1\nslot\t%s\n", lsn);
	return ledger_write(lg, line, err);
}

/* Did the ledger see every part of table committed? */
static bool ledger_table_done(const struct ledger *lg, const char *table)
{
	uint64_t seen = 0, want = 0;
	size_t i;

	for (i = 0; i < lg->ndone; i++) {
		const struct ledger_part *d = &lg->done[i];
		if (strcmp(d->table, table) || d->nparts < 1 || d->nparts > COPY_MAX_PARTS ||
		    d->part < 0 || d->part >= d->nparts)
			continue;
		want = d->nparts == 64 ? ~0ULL : (1ULL << d->nparts) - 1;
		seen |= 1ULL << d->part;
	}
	return want && seen == want;
}

static void ledger_remove(struct ledger *lg)
{
	if (lg->path)
		unlink(lg->path);
}

/* ---- the tables --------------------------------------------------------- */

static void tables_release(struct copy *cp)
{
	size_t i;

	for (i = 0; i < cp->nt; i++) {
		free(cp->t[i].name);
		free(cp->t[i].cols);
	}
	free(cp->t);
	free(cp->parts);
	cp->t = NULL;
	cp->parts = NULL;
	cp->nt = cp->nparts = 0;
}

/* The tables on old (under the snapshot when one is given) and their
 * parts. */
static int tables_list(struct copy *cp, const char *snapshot, struct ferry_error *err)
{
	struct pg *p = cp->p;
	struct ferry_error ignored = { 0 };
	struct pgsql_result r;
	int jobs = p->cfg->copy_jobs > 0 ? p->cfg->copy_jobs : COPY_DEFAULT_JOBS;
	bool tid_ranges = pgsql_server_version(p->old) >= 140000;
	int64_t split = part_bytes();
	size_t i, k, n = 0;
	int rc;

	pgsql_result_init(&r);
	rc = pgsql_exec(p->old, pg_sql_copy_snapshot_begin, 0, NULL, pg_deadline(PG_TIMEOUT_MS),
	                NULL, err);
	if (rc == 0 && snapshot) {
		char *sql = pg_sql_snapshot_set(snapshot);
		rc = pgsql_exec(p->old, sql, 0, NULL, pg_deadline(PG_TIMEOUT_MS), NULL, err);
		free(sql);
	}
	if (rc == 0)
		rc = pgsql_exec(p->old, pg_sql_copy_tables, 0, NULL, pg_deadline(PG_TIMEOUT_MS), &r,
		                err);
	pgsql_exec(p->old, "COMMIT", 0, NULL, pg_deadline(PG_TIMEOUT_MS), NULL, &ignored);
	if (rc < 0)
		goto out;
	cp->nt = (size_t)r.nrows;
	cp->t = xcalloc(cp->nt + 1, sizeof(*cp->t));
	for (i = 0; i < cp->nt; i++) {
		struct ctable *t = &cp->t[i];
		t->name = xstrdup(pgsql_result_get(&r, (int)i, 0));
		t->size = pgsql_result_int(&r, (int)i, 1, 0);
		t->pages = pgsql_result_int(&r, (int)i, 2, 0);
		t->est_rows = pgsql_result_int(&r, (int)i, 3, -1);
		t->cols = xstrdup(pgsql_result_get(&r, (int)i, 4) ?: "");
		t->nparts = 1;
		if (tid_ranges && t->size > (split < COPY_SPLIT_BYTES ? split : COPY_SPLIT_BYTES) &&
		    t->pages > 1) {
			int64_t want = t->size / split;
			if (want < jobs)
				want = jobs;
			if (want > COPY_MAX_PARTS)
				want = COPY_MAX_PARTS;
			if (want > t->pages)
				want = t->pages;
			t->nparts = (int)want;
		}
		n += (size_t)t->nparts;
	}
	cp->parts = xcalloc(n + 1, sizeof(*cp->parts));
	/* the largest tables first (the query's order), their parts together */
	for (i = 0; i < cp->nt; i++) {
		struct ctable *t = &cp->t[i];
		for (k = 0; k < (size_t)t->nparts; k++) {
			struct part *pt = &cp->parts[cp->nparts++];
			pt->t = t;
			pt->i = (int)k;
			pt->lo = t->nparts == 1 ? -1 : t->pages * (int64_t)k / t->nparts;
			/* the last part is open: a row may have moved past the
			 * size measured a moment ago */
			pt->hi = t->nparts == 1 || (int)k == t->nparts - 1
			                 ? -1
			                 : t->pages * (int64_t)(k + 1) / t->nparts;
		}
	}
out:
	pgsql_result_release(&r);
	return rc;
}

/* ---- the workers -------------------------------------------------------- */

struct worker {
	struct copy *cp;
	pthread_t th;
	bool started;
};

static void copy_fail(struct copy *cp, int rc, const struct ferry_error *e)
{
	pthread_mutex_lock(&cp->mu);
	if (cp->rc == 0) {
		cp->rc = rc;
		cp->err = *e;
	}
	pthread_mutex_unlock(&cp->mu);
	__atomic_store_n(&cp->stop, 1, __ATOMIC_RELAXED);
}

static int side_connect(struct pg *p, bool new_side, struct pgsql_conn **c, struct ferry_error *err)
{
	const struct db_config *cfg = p->cfg;
	char what[256];
	int rc;

	snprintf(what, sizeof(what), "database %s %s (copy)", cfg->name, new_side ? "new" : "old");
	rc = pgsql_connect(c, new_side ? cfg->new_conninfo : cfg->old_conninfo,
	                   new_side ? cfg->new_password : cfg->old_password, what, err);
	if (rc == 0)
		rc = pgsql_exec(*c, pg_sql_session_rw, 0, NULL, pg_deadline(PG_TIMEOUT_MS), NULL,
		                err);
	return rc;
}

/* One part: COPY streamed inside a transaction on new that commits it,
 * then the ledger line. */
static int part_copy(struct copy *cp, struct part *pt, struct pgsql_conn *src,
                     struct pgsql_conn *dst, struct ferry_error *err)
{
	struct ferry_error ignored = { 0 };
	char *out_sql = pg_sql_copy_out(pt->t->name, pt->t->cols, pt->lo, pt->hi);
	char *in_sql = pg_sql_copy_in(pt->t->name, pt->t->cols);
	char line[1024];
	int rc;

	rc = pgsql_exec(dst, "BEGIN", 0, NULL, pg_deadline(PG_TIMEOUT_MS), NULL, err);
	if (rc == 0)
		rc = pgsql_copy_stream(src, out_sql, dst, in_sql, &cp->stop, 0, &pt->cnt, err);
	if (rc == 0)
		rc = pgsql_exec(dst, "COMMIT", 0, NULL, pg_deadline(PG_TIMEOUT_MS), NULL, err);
	else
		pgsql_exec(dst, "ROLLBACK", 0, NULL, pg_deadline(5000), NULL, &ignored);
	free(out_sql);
	free(in_sql);
	if (rc < 0)
		return rc;
	__atomic_store_n(&pt->state, 2, __ATOMIC_RELEASE);
	snprintf(line, sizeof(line), "done\t%s\t%d\t%d\t%lld\n", pt->t->name, pt->i, pt->t->nparts,
	         (long long)pt->cnt.rows);
	pthread_mutex_lock(&cp->mu);
	if (++pt->t->parts_done == pt->t->nparts)
		pt->t->finish_ms = time_mono_ms();
	rc = ledger_write(&cp->lg, line, err);
	crash_point(++cp->committed);
	pthread_mutex_unlock(&cp->mu);
	return rc;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct copy *cp = w->cp;
	struct pgsql_conn *src = NULL, *dst = NULL;
	struct ferry_error err = { 0 };
	char *set = NULL;
	int rc;

	rc = side_connect(cp->p, false, &src, &err);
	if (rc == 0)
		rc = side_connect(cp->p, true, &dst, &err);
	/* every part this worker copies is read in one transaction that
	 * imports the slot's snapshot (manual, SET TRANSACTION) */
	if (rc == 0)
		rc = pgsql_exec(src, pg_sql_copy_snapshot_begin, 0, NULL,
		                pg_deadline(PG_TIMEOUT_MS), NULL, &err);
	if (rc == 0) {
		set = pg_sql_snapshot_set(cp->snapshot);
		rc = pgsql_exec(src, set, 0, NULL, pg_deadline(PG_TIMEOUT_MS), NULL, &err);
	}
	while (rc == 0 && !__atomic_load_n(&cp->stop, __ATOMIC_RELAXED)) {
		struct part *pt = NULL;

		pthread_mutex_lock(&cp->mu);
		while (cp->next < cp->nparts && !pt) {
			struct part *c = &cp->parts[cp->next++];
			if (__atomic_load_n(&c->state, __ATOMIC_ACQUIRE) == 0)
				pt = c;
		}
		if (pt) {
			pt->state = 1;
			if (!pt->t->start_ms)
				pt->t->start_ms = time_mono_ms();
		}
		pthread_mutex_unlock(&cp->mu);
		if (!pt)
			break;
		rc = part_copy(cp, pt, src, dst, &err);
		if (rc < 0)
			ferry_error_prefix(&err, "table %s", pt->t->name);
	}
	if (rc < 0 && rc != FERRY_ESTATE)
		copy_fail(cp, rc, &err);
	free(set);
	pgsql_free(src);
	pgsql_free(dst);
	return NULL;
}

/* The progress of the copy, per table, for cfg->copy_progress: its
 * answer (nonzero: stop). */
static int progress_report(struct copy *cp)
{
	const struct db_config *c = cp->p->cfg;
	struct db_progress pr = { 0 };
	int64_t now = time_mono_ms();
	size_t i, k = 0;

	int stop;

	if (!c->copy_progress)
		return 0;
	pr.n = pr.alloc = cp->nt;
	pr.v = xcalloc(cp->nt + 1, sizeof(*pr.v));
	pthread_mutex_lock(&cp->mu);
	for (i = 0; i < cp->nt; i++) {
		struct ctable *t = &cp->t[i];
		struct db_table_progress *tp = &pr.v[i];
		int64_t ms;

		tp->name = xstrdup(t->name);
		tp->rows_total = t->est_rows >= 0 ? t->est_rows : -1;
		tp->eta_ms = -1;
		for (; k < cp->nparts && cp->parts[k].t == t; k++) {
			tp->rows += __atomic_load_n(&cp->parts[k].cnt.rows, __ATOMIC_RELAXED);
			tp->bytes += __atomic_load_n(&cp->parts[k].cnt.bytes, __ATOMIC_RELAXED);
		}
		tp->ready = t->parts_done == t->nparts;
		tp->state = tp->ready ? 'k' : t->start_ms ? 'c' : 'w';
		if (tp->ready)
			pr.ready++;
		ms = (tp->ready ? t->finish_ms : now) - t->start_ms;
		if (t->start_ms && ms > 0)
			tp->rate = tp->bytes * 1000 / ms;
		if (tp->ready)
			tp->eta_ms = 0;
		else if (t->start_ms && tp->rows > 0 && tp->rows_total > tp->rows)
			tp->eta_ms = (int64_t)((double)ms * (double)(tp->rows_total - tp->rows) /
			                       (double)tp->rows);
	}
	pthread_mutex_unlock(&cp->mu);
	stop = c->copy_progress(c->copy_progress_ctx, &pr);
	db_progress_release(&pr);
	return stop;
}

/* Runs the workers until every part is committed or one fails. */
static int copy_parts(struct copy *cp, struct ferry_error *err)
{
	const struct db_config *c = cp->p->cfg;
	int jobs = c->copy_jobs > 0 ? c->copy_jobs : COPY_DEFAULT_JOBS, i, running;
	struct worker *w;

	if ((size_t)jobs > cp->nparts)
		jobs = (int)cp->nparts;
	w = xcalloc((size_t)jobs + 1, sizeof(*w));
	for (i = 0; i < jobs; i++) {
		w[i].cp = cp;
		w[i].started = pthread_create(&w[i].th, NULL, worker_main, &w[i]) == 0;
		if (!w[i].started) {
			struct ferry_error e = { 0 };
			ferry_error_set(&e, FERRY_EIO, NULL, "cannot start a copy worker");
			copy_fail(cp, FERRY_EIO, &e);
		}
	}
	/* report while the workers run: they end when the parts run out */
	for (;;) {
		size_t done = 0, k;

		for (k = 0; k < cp->nparts; k++)
			done += __atomic_load_n(&cp->parts[k].state, __ATOMIC_ACQUIRE) == 2;
		if (progress_report(cp)) {
			struct ferry_error e = { 0 };
			ferry_error_set(&e, FERRY_ECHECK, "see why the caller stopped it",
			                "copy stopped by the caller; the parts copied are kept");
			copy_fail(cp, FERRY_ECHECK, &e);
		}
		if (done == cp->nparts || __atomic_load_n(&cp->stop, __ATOMIC_RELAXED))
			break;
		poll(NULL, 0, 500);
	}
	for (i = 0, running = 0; i < jobs; i++)
		if (w[i].started)
			pthread_join(w[i].th, NULL), running++;
	free(w);
	(void)running;
	if (cp->rc < 0) {
		*err = cp->err;
		return cp->rc;
	}
	return 0;
}

/* ---- the steps around the copy ------------------------------------------ */

static const char **table_names(const struct copy *cp, int want_done, size_t *n)
{
	const char **v = xcalloc(cp->nt + 1, sizeof(char *));
	size_t i;

	*n = 0;
	for (i = 0; i < cp->nt; i++) {
		bool done = cp->t[i].parts_done == cp->t[i].nparts;
		if (want_done < 0 || done == (want_done > 0))
			v[(*n)++] = cp->t[i].name;
	}
	return v;
}

static int exec_free(struct pgsql_conn *c, char *sql, struct ferry_error *err)
{
	int rc = pgsql_exec(c, sql, 0, NULL, pg_deadline(600000), NULL, err);

	free(sql);
	return rc;
}

/* The publication lists tables (verb "SET" when it exists already). */
static int publish(struct copy *cp, const char **names, size_t n, struct ferry_error *err)
{
	struct pg *p = cp->p;
	int rc = pg_pub_exists(p->old, "ferry_pub", err);

	if (rc < 0)
		return rc;
	if (rc == 0)
		return exec_free(p->old, pg_sql_pub_tables("ferry_pub", "CREATE", names, n), err);
	if (n == 0) { /* SET TABLE needs a table: a publication of none instead */
		rc = pg_pub_drop(p->old, "ferry_pub", err);
		return rc < 0 ? rc
		              : exec_free(p->old, pg_sql_pub_tables("ferry_pub", "CREATE", NULL, 0),
		                          err);
	}
	return exec_free(p->old, pg_sql_pub_tables("ferry_pub", "SET", names, n), err);
}

static bool line_present(const char *line, const struct pgsql_result *have)
{
	static const struct {
		const char *desc, *key;
		int names; /* tokens after the schema: 1 (INDEX) or 2 (table, name) */
	} kinds[] = {
		{ "INDEX ", "INDEX", 1 },
		{ "CONSTRAINT ", "CONSTRAINT", 2 },
		{ "FK CONSTRAINT ", "CONSTRAINT", 2 },
		{ "TRIGGER ", "TRIGGER", 2 },
	};
	char copy[1024], key[1100], *tok[3], *save = NULL, *x;
	const char *s;
	size_t k;
	int i;

	/* "ID; TABLEOID OID DESC SCHEMA TAG OWNER" (pg_restore -l) */
	s = strchr(line, ';');
	if (!s || line[0] == ';')
		return false;
	for (i = 0, s++; i < 3 && s; i++)
		s = strchr(s + 1, ' ');
	if (!s)
		return false;
	s++;
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		size_t dl = strlen(kinds[k].desc);
		if (strncmp(s, kinds[k].desc, dl))
			continue;
		snprintf(copy, sizeof(copy), "%s", s + dl);
		for (i = 0, x = copy; i < 3; i++, x = NULL)
			tok[i] = strtok_r(x, " ", &save);
		if (!tok[kinds[k].names])
			return false;
		if (kinds[k].names == 1)
			snprintf(key, sizeof(key), "%s %s %s", kinds[k].key, tok[0], tok[1]);
		else
			snprintf(key, sizeof(key), "%s %s %s %s", kinds[k].key, tok[0], tok[1],
			         tok[2]);
		for (i = 0; i < have->nrows; i++)
			if (!strcmp(key, pgsql_result_get(have, i, 0) ?: ""))
				return true;
		return false;
	}
	return false;
}

/* Indexes, constraints and triggers: pg_dump -Fc --section=post-data into
 * a private folder, pg_restore -l for its list, what exists on new
 * already commented out (a retry), then pg_restore -j. */
static int post_data(struct copy *cp, struct ferry_error *err)
{
	struct pg *p = cp->p;
	int jobs = p->cfg->copy_jobs > 0 ? p->cfg->copy_jobs : COPY_DEFAULT_JOBS;
	char dir[] = "/tmp/ferry-post-XXXXXX", *file = NULL, *list = NULL, jstr[16];
	struct pgsql_result have;
	struct buf toc, kept;
	char *line, *save = NULL;
	int rc, fd = -1;

	pgsql_result_init(&have);
	buf_init(&toc, 256 << 20);
	buf_init(&kept, 256 << 20);
	if (!mkdtemp(dir))
		return ferry_error_set(err, FERRY_EIO, "check /tmp", "cannot make a folder: %s",
		                       strerror(errno));
	file = xasprintf("%s/post.dump", dir);
	list = xasprintf("%s/post.list", dir);
	snprintf(jstr, sizeof(jstr), "%d", jobs);
	{
		const char *dump[16];
		size_t k;
		for (k = 0; pg_dump_post_argv[k]; k++)
			dump[k] = pg_dump_post_argv[k];
		dump[k++] = "-f";
		dump[k++] = file;
		dump[k++] = "-d";
		dump[k] = NULL;
		rc = pg_run_client(p, false, dump, NULL, NULL, err);
	}
	if (rc == 0) {
		const char *ls[] = { "pg_restore", "-l", file, NULL };
		rc = pg_run_client(p, true, ls, NULL, &toc, err);
	}
	if (rc == 0)
		rc = pgsql_exec(p->new, pg_sql_post_data_present, 0, NULL,
		                pg_deadline(PG_TIMEOUT_MS), &have, err);
	if (rc < 0)
		goto out;
	for (line = strtok_r(toc.data ? toc.data : (char *)"", "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		buf_addf(&kept, "%s%s\n", line_present(line, &have) ? ";" : "", line);
	fd = open(list, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, kept.data, kept.len) != (ssize_t)kept.len) {
		rc = ferry_error_set(err, FERRY_EIO, "check /tmp", "cannot write %s: %s", list,
		                     strerror(errno));
		goto out;
	}
	{
		const char *restore[] = {
			"pg_restore", "--exit-on-error", "-j", jstr, "-L", list, file, "-d", NULL
		};
		/* index builds sort: give them memory (pgcopydb does the
		 * same); a session setting, nothing changes on the server */
		rc = pg_run_client(p, true, restore, pg_post_data_options, NULL, err);
	}
out:
	if (fd >= 0)
		close(fd);
	unlink(file);
	unlink(list);
	rmdir(dir);
	free(file);
	free(list);
	buf_release(&toc);
	buf_release(&kept);
	pgsql_result_release(&have);
	return rc;
}

/* The subscription on the copy's slot, without a copy; returns once its
 * apply worker runs, so that the caller's first lag sample finds it (with
 * copy_data = false there is no table sync to wait for). */
static int subscribe(struct pg *p, struct ferry_error *err)
{
	const struct db_config *c = p->cfg;
	const char *params[1] = { "ferry_sub" };
	int64_t deadline = pg_deadline(PG_TIMEOUT_MS);
	struct pgsql_result r;
	char *opts = pg_sub_opts_on_slot(p->slot_fwd);
	int rc;

	log_info("database %s: creating subscription ferry_sub on new (slot %s, no copy)", c->name,
	         p->slot_fwd);
	rc = pg_sub_create(p->new, "ferry_sub", c->old_from_new ? c->old_from_new : c->old_conninfo,
	                   c->old_password, "ferry_pub", opts, err);
	free(opts);
	while (rc == 0) {
		bool running;

		rc = pgsql_exec(p->new, pg_sql_lag_sub, 1, params, deadline, &r, err);
		running =
		        rc == 0 && r.nrows >= 1 && !strcmp(pgsql_result_get(&r, 0, 0) ?: "f", "t");
		pgsql_result_release(&r);
		if (rc < 0 || running)
			break;
		if (time_mono_ms() > deadline)
			return ferry_error_set(err, FERRY_ETIMEDOUT,
			                       "see the new server's log: the worker may fail to "
			                       "connect to old",
			                       "database %s: subscription ferry_sub has no apply "
			                       "worker %d s after its creation",
			                       c->name, PG_TIMEOUT_MS / 1000);
		poll(NULL, 0, 50);
	}
	return rc;
}

/* A fresh copy: slot and snapshot, schema, parts, indexes, subscription. */
static int copy_fresh(struct copy *cp, struct ferry_error *err)
{
	struct pg *p = cp->p;
	const struct db_config *c = p->cfg;
	struct pgsql_conn *repl = NULL;
	struct pgsql_result r;
	const char **names = NULL;
	char *ci = NULL, what[256], *snap = NULL, *snaparg = NULL;
	size_t n;
	int rc;

	pgsql_result_init(&r);
	/* the publication before the slot: decoding looks it up as of each
	 * change, and must find it from the slot's start on */
	rc = tables_list(cp, NULL, err);
	if (rc == 0) {
		names = table_names(cp, -1, &n);
		rc = publish(cp, names, n, err);
		free(names);
	}
	tables_release(cp);
	if (rc < 0)
		goto out;

	ci = pgsql_conninfo_set(c->old_conninfo, "replication", "database");
	if (!ci) {
		rc = ferry_error_set(err, FERRY_EINVAL, "fix the conninfo in the plan",
		                     "database %s: cannot parse the source conninfo", c->name);
		goto out;
	}
	snprintf(what, sizeof(what), "database %s old (replication)", c->name);
	rc = pgsql_connect(&repl, ci, c->old_password, what, err);
	if (rc == 0) {
		char *sql = pg_sql_copy_slot(p->slot_fwd);
		rc = pgsql_exec(repl, sql, 0, NULL, pg_deadline(PG_TIMEOUT_MS), &r, err);
		free(sql);
	}
	if (rc == 0 && (r.nrows != 1 || r.ncols < 3 || !pgsql_result_get(&r, 0, 2)))
		rc = ferry_error_set(err, FERRY_EPROTO, NULL,
		                     "database %s: CREATE_REPLICATION_SLOT returned no snapshot",
		                     c->name);
	if (rc < 0)
		goto out;
	snap = xstrdup(pgsql_result_get(&r, 0, 2));
	cp->snapshot = snap;
	log_info("database %s: slot %s at %s, snapshot %s", c->name, p->slot_fwd,
	         pgsql_result_get(&r, 0, 1), snap);
	rc = ledger_reset(&cp->lg, pgsql_result_get(&r, 0, 1), err);
	if (rc < 0)
		goto out;

	rc = tables_list(cp, snap, err);
	if (rc < 0)
		goto out;
	rc = pg_schema_copied(p, true, err);
	if (rc == 0) {
		const char *dump[16];
		size_t k;
		for (k = 0; pg_dump_pre_argv[k]; k++)
			dump[k] = pg_dump_pre_argv[k];
		snaparg = xasprintf("--snapshot=%s", snap);
		dump[k++] = snaparg;
		dump[k++] = "-d";
		dump[k] = NULL;
		log_info("database %s: copying the schema (without indexes) old -> new", c->name);
		rc = pg_dump_pipe(p, dump, pg_psql_argv, err);
	} else if (rc == 1 && cp->nt) {
		/* an earlier attempt's rows, if any: that copy is void now */
		names = table_names(cp, -1, &n);
		rc = exec_free(p->new, pg_sql_truncate(names, n), err);
		free(names);
	}
	if (rc < 0)
		goto out;

	log_info("database %s: copying %zu tables (%zu parts) old -> new", c->name, cp->nt,
	         cp->nparts);
	rc = cp->nparts ? copy_parts(cp, err) : 0;
	pgsql_free(repl); /* the snapshot is no longer needed */
	repl = NULL;
	if (rc < 0)
		goto out;
	log_info("database %s: building indexes and constraints", c->name);
	rc = post_data(cp, err);
	if (rc == 0)
		rc = subscribe(p, err);
	if (rc == 0)
		ledger_remove(&cp->lg);
out:
	pgsql_free(repl);
	pgsql_result_release(&r);
	xfree_secret(ci, 0);
	free(snap);
	free(snaparg);
	cp->snapshot = NULL;
	return rc;
}

/* After a crash: the finished tables are kept, the others go to the
 * server's table sync (see the top of the file). */
static int copy_resume(struct copy *cp, struct ferry_error *err)
{
	struct pg *p = cp->p;
	const char **done = NULL, **left = NULL;
	size_t nd = 0, nl = 0, i;
	int rc;

	rc = tables_list(cp, NULL, err);
	if (rc < 0)
		return rc;
	for (i = 0; i < cp->nt; i++) {
		cp->t[i].nparts = 1;
		cp->t[i].parts_done = ledger_table_done(&cp->lg, cp->t[i].name);
	}
	done = table_names(cp, 1, &nd);
	left = table_names(cp, 0, &nl);
	if (nd == 0) {
		/* nothing whole to keep: a fresh copy costs the same */
		free(done);
		free(left);
		tables_release(cp);
		rc = pg_slot_drop(p->old, p->slot_fwd, pg_deadline(PG_TIMEOUT_MS), err);
		return rc < 0 ? rc : copy_fresh(cp, err);
	}
	log_info("database %s: resuming the copy: %zu tables copied before are kept, %zu go to "
	         "the table sync",
	         p->cfg->name, nd, nl);
	if (nl)
		rc = exec_free(p->new, pg_sql_truncate(left, nl), err);
	if (rc == 0)
		rc = publish(cp, done, nd, err);
	if (rc == 0)
		rc = post_data(cp, err);
	if (rc == 0)
		rc = subscribe(p, err);
	if (rc == 0 && nl) {
		rc = exec_free(p->old, pg_sql_pub_tables("ferry_pub", "ADD", left, nl), err);
		if (rc == 0)
			rc = exec_free(
			        p->new,
			        pg_sql_sub_alter("ferry_sub",
			                         "REFRESH PUBLICATION WITH (copy_data = true)"),
			        err);
	}
	if (rc == 0)
		ledger_remove(&cp->lg);
	free(done);
	free(left);
	return rc;
}

int pg_copy_replicate(struct pg *p, struct ferry_error *err)
{
	struct copy cp;
	char *lsn = NULL;
	const char *params[1] = { p->slot_fwd };
	int rc;

	memset(&cp, 0, sizeof(cp));
	cp.p = p;
	pthread_mutex_init(&cp.mu, NULL);
	ledger_load(&cp.lg, p->cfg->copy_ledger);
	rc = pg_slot_exists(p->old, p->slot_fwd, NULL, err);
	if (rc == 1)
		rc = pgsql_query_value(p->old, pg_sql_slot_confirmed, 1, params,
		                       pg_deadline(PG_TIMEOUT_MS), &lsn, err);
	if (rc < 0)
		goto out;
	if (lsn && cp.lg.ndone && !strcmp(lsn, cp.lg.lsn)) {
		rc = copy_resume(&cp, err);
		goto out;
	}
	if (lsn) {
		log_info("database %s: slot %s is left from a copy that kept nothing: "
		         "starting over",
		         p->cfg->name, p->slot_fwd);
		rc = pg_slot_drop(p->old, p->slot_fwd, pg_deadline(PG_TIMEOUT_MS), err);
		if (rc < 0)
			goto out;
	}
	if (cp.lg.path) {
		rc = ledger_reset(&cp.lg, "-", err);
		if (rc < 0)
			goto out;
	}
	rc = copy_fresh(&cp, err);
out:
	if (rc < 0)
		ferry_error_prefix(err, "database %s: initial copy", p->cfg->name);
	free(lsn);
	tables_release(&cp);
	ledger_release(&cp.lg);
	pthread_mutex_destroy(&cp.mu);
	return rc;
}
