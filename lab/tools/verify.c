/*
 * verify.c - checks a load ledger against the final primary (lab/verify;
 * LAB-CONTRACT).
 *
 * The proof of a migration: every write that lab/load saw acknowledged
 * (HTTP 2xx) must be in the database that is the primary at the end, no row
 * of the run may be there that the ledger never sent, and the longest gap
 * between two consecutive acknowledgements is the write pause the customers
 * saw.
 *
 * How the parts fit:
 *   1. ledger_load() reads the whole ledger into one buffer and splits it in
 *      place (ids point into the buffer); one hash set (struct idset, open
 *      addressing) holds every id sent, with its number of acknowledgements.
 *   2. primary_choose() connects to every --db and picks the primary: no
 *      enabled subscription for this database and not read-only; if that
 *      leaves more or fewer than one, the one holding the most recent
 *      acknowledged id.  Connection strings are shown without passwords.
 *   3. primary_scan() COPYs out the ids of the run's prefixes (one pass,
 *      no per-id queries: a million ids take seconds) and marks each in the
 *      set; an id the set does not know is unexpected.
 *   3b. with --mariadb / --redis, verify_stores.c picks the primary of each
 *      of those stores too (the app's payment rows, its carts) and scans
 *      the run's ids there; each store marks its own bit in the slot.
 *   4. report(): lost = acknowledged ids missing in any database checked
 *      (and counted per database); duplicated = ids
 *      acknowledged more than once; pause = the largest gap between
 *      consecutive done_ms of acknowledgements; latency = done_ms - send_ms
 *      (send_ms is the scheduled time, see load.c); the share served by
 *      old/new per second.  Human text, or one JSON value with --json.
 *
 * Exit: 0 when lost = 0 and unexpected = 0, 1 otherwise (or when no
 * database could be read), 2 on a usage error or an unreadable ledger.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "util/buf.h"
#include "verify_stores.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/timeutil.h"

enum {
	MAX_DBS = 8,
	MAX_PREFIXES = 16,
	LIST_MAX = 10, /* ids listed per kind of problem */
};

#define LEDGER_MAX ((size_t)4 << 30)

enum served {
	SERVED_OTHER,
	SERVED_OLD,
	SERVED_NEW,
};

struct rec {
	const char *id; /* points into the ledger buffer */
	int64_t send_ms, done_ms;
	int status;
	enum served served;
};

struct slot {
	const char *id; /* NULL: empty */
	uint32_t acks;
	bool in_db;
	bool lost_counted;
	uint8_t in_store;   /* bit 1 << STORE_*: found in that store */
	uint8_t lost_store; /* bit 1 << STORE_*: counted lost there */
};

struct idset {
	struct slot *slots;
	size_t mask;
};

struct db {
	const char *conninfo;
	char shown[256]; /* without the password */
	PGconn *conn;
	bool usable;    /* connected and has the orders table */
	bool candidate; /* writable and not a subscriber */
	char why[128];
};

struct idlist {
	const char *ids[LIST_MAX];
	size_t n;
};

struct verify {
	const char *ledger_path;
	struct buf ledger;
	struct rec *recs;
	size_t nrecs, allocrecs;
	struct idset set;
	char *prefixes[MAX_PREFIXES];
	size_t nprefixes;
	struct db dbs[MAX_DBS];
	size_t ndbs;
	struct db *primary;
	char primary_why[256];
	struct store stores[STORE_KINDS]; /* used when it has servers */
	/* results */
	uint64_t acked, transport_errors, http4xx, http5xx, other_status;
	uint64_t lost, lost_pg, duplicated, unexpected, db_rows;
	struct idlist lost_ids, dup_ids;
	char *unexpected_ids[LIST_MAX];
	size_t nunexpected_ids;
	int64_t pause_ms, pause_from_ms, pause_to_ms;
	const char *pause_before, *pause_after;
	int64_t p50, p99, lat_max;
	uint64_t served[3];
};

/* ---- the id set ---- */

static uint64_t hash_id(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static void idset_init(struct idset *set, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n)
		cap <<= 1;
	set->slots = xcalloc(cap, sizeof(*set->slots));
	set->mask = cap - 1;
}

/* Returns the slot of id; inserts it when add is true, else NULL if absent. */
static struct slot *idset_find(struct idset *set, const char *id, bool add)
{
	size_t i = hash_id(id) & set->mask;

	while (set->slots[i].id) {
		if (strcmp(set->slots[i].id, id) == 0)
			return &set->slots[i];
		i = (i + 1) & set->mask;
	}
	if (!add)
		return NULL;
	set->slots[i].id = id;
	return &set->slots[i];
}

static void idlist_add(struct idlist *l, const char *id)
{
	if (l->n < LIST_MAX)
		l->ids[l->n++] = id;
}

/* ---- the ledger ---- */

static int parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || end == s)
		return -1;
	*out = v;
	return 0;
}

static int prefix_note(struct verify *v, const char *id, struct ferry_error *err)
{
	const char *dash = strrchr(id, '-');
	size_t n = dash ? (size_t)(dash - id) : 0;

	if (n == 0)
		return ferry_error_set(err, FERRY_EINVAL, "ids are PREFIX-N",
		                       "ledger %s: id '%s' has no prefix", v->ledger_path, id);
	for (size_t i = 0; i < v->nprefixes; i++)
		if (strncmp(v->prefixes[i], id, n + 1) == 0 && v->prefixes[i][n + 1] == '\0')
			return 0;
	if (v->nprefixes == MAX_PREFIXES)
		return ferry_error_set(err, FERRY_EINVAL, NULL,
		                       "ledger %s: more than %d run prefixes", v->ledger_path,
		                       MAX_PREFIXES);
	v->prefixes[v->nprefixes++] = xstrndup(id, n + 1); /* "PREFIX-" */
	return 0;
}

static int ledger_line(struct verify *v, char *line, size_t lineno, struct ferry_error *err)
{
	char *f[6];
	char *save = NULL, *p;
	size_t nf = 0;
	int64_t status;
	struct rec *r;

	for (p = strtok_r(line, "\t", &save); p && nf < 6; p = strtok_r(NULL, "\t", &save))
		f[nf++] = p;
	if (nf != 6 || p)
		return ferry_error_set(err, FERRY_EINVAL, "is this a lab/load ledger?",
		                       "ledger %s:%zu: want 6 tab-separated fields", v->ledger_path,
		                       lineno);
	XGROW(v->recs, v->allocrecs, v->nrecs + 1);
	r = &v->recs[v->nrecs];
	r->id = f[0];
	if (parse_i64(f[1], &r->send_ms) < 0 || parse_i64(f[2], &r->done_ms) < 0 ||
	    parse_i64(f[3], &status) < 0 || status < 0 || status > 999)
		return ferry_error_set(err, FERRY_EINVAL, NULL,
		                       "ledger %s:%zu: send_ms, done_ms and status must be numbers",
		                       v->ledger_path, lineno);
	r->status = (int)status;
	r->served = strcmp(f[4], "old") == 0   ? SERVED_OLD
	            : strcmp(f[4], "new") == 0 ? SERVED_NEW
	                                       : SERVED_OTHER;
	v->nrecs++;
	return prefix_note(v, r->id, err);
}

static int ledger_load(struct verify *v, struct ferry_error *err)
{
	char *p, *end, *nl;
	size_t lineno = 0;
	int r;

	r = buf_read_file(&v->ledger, v->ledger_path);
	if (r < 0)
		return ferry_error_set(err, r, NULL, "ledger %s: %s", v->ledger_path,
		                       r == FERRY_ENOTFOUND ? "no such file"
		                       : r == FERRY_EPROTO  ? "too large"
		                                            : strerror(errno));
	p = v->ledger.data;
	end = p + v->ledger.len;
	while (p < end) {
		lineno++;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl) {
			/* A load generator killed mid-write leaves half a line. */
			fprintf(stderr, "verify: ledger %s:%zu: incomplete last line ignored\n",
			        v->ledger_path, lineno);
			break;
		}
		*nl = '\0';
		if (*p && ledger_line(v, p, lineno, err) < 0)
			return err->code;
		p = nl + 1;
	}
	idset_init(&v->set, v->nrecs);
	for (size_t i = 0; i < v->nrecs; i++) {
		struct slot *s = idset_find(&v->set, v->recs[i].id, true);

		if (v->recs[i].status >= 200 && v->recs[i].status < 300)
			s->acks++;
	}
	return 0;
}

/* ---- the databases ---- */

static void conninfo_shown(const char *conninfo, char *out, size_t outlen)
{
	static const char *const shown[] = { "host", "hostaddr", "port", "dbname", "user", NULL };
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	struct buf b;

	buf_init(&b, outlen - 1);
	for (PQconninfoOption *o = opts; o && o->keyword; o++) {
		for (size_t i = 0; shown[i]; i++)
			if (o->val && *o->val && strcmp(o->keyword, shown[i]) == 0)
				buf_addf(&b, "%s%s=%s", b.len ? " " : "", o->keyword, o->val);
	}
	snprintf(out, outlen, "%s", b.len ? b.data : "(defaults)");
	buf_release(&b);
	PQconninfoFree(opts);
}

static void db_probe(struct db *d)
{
	const char *const keys[] = { "connect_timeout", "fallback_application_name", "dbname",
		                     NULL };
	const char *const vals[] = { "5", "ferry-lab-verify", d->conninfo, NULL };
	PGresult *res;

	d->conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(d->conn) != CONNECTION_OK) {
		snprintf(d->why, sizeof(d->why), "cannot connect: %.*s",
		         (int)strcspn(PQerrorMessage(d->conn), "\n"), PQerrorMessage(d->conn));
		return;
	}
	res = PQexec(d->conn, "SELECT to_regclass('public.orders') IS NOT NULL, "
	                      "current_setting('default_transaction_read_only')::bool OR "
	                      "pg_is_in_recovery(), "
	                      "(SELECT count(*) FROM pg_subscription s WHERE s.subenabled AND "
	                      "s.subdbid = (SELECT oid FROM pg_database WHERE datname = "
	                      "current_database()))");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(d->why, sizeof(d->why), "cannot inspect: %.*s",
		         (int)strcspn(PQresultErrorMessage(res), "\n"), PQresultErrorMessage(res));
	} else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		snprintf(d->why, sizeof(d->why), "no table orders");
	} else {
		bool ro = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
		bool sub = strcmp(PQgetvalue(res, 0, 2), "0") != 0;

		d->usable = true;
		d->candidate = !ro && !sub;
		snprintf(d->why, sizeof(d->why), "%s, %s", ro ? "read-only" : "writable",
		         sub ? "subscriber" : "no subscription");
	}
	PQclear(res);
}

static bool db_holds(struct db *d, const char *id)
{
	const char *params[1] = { id };
	PGresult *res = PQexecParams(d->conn, "SELECT 1 FROM orders WHERE id = $1", 1, NULL, params,
	                             NULL, NULL, 0);
	bool held = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;

	PQclear(res);
	return held;
}

static const char *most_recent_ack(const struct verify *v)
{
	const struct rec *best = NULL;

	for (size_t i = 0; i < v->nrecs; i++) {
		const struct rec *r = &v->recs[i];

		if (r->status >= 200 && r->status < 300 && (!best || r->done_ms > best->done_ms))
			best = r;
	}
	return best ? best->id : NULL;
}

static int primary_choose(struct verify *v, struct ferry_error *err)
{
	size_t ncand = 0, nusable = 0;
	struct db *pick = NULL;
	const char *last;

	for (size_t i = 0; i < v->ndbs; i++) {
		db_probe(&v->dbs[i]);
		nusable += v->dbs[i].usable;
		ncand += v->dbs[i].candidate;
		if (v->dbs[i].candidate && !pick)
			pick = &v->dbs[i];
	}
	if (nusable == 0)
		return ferry_error_set(err, FERRY_EUNREACH, "check --db and PGPASSFILE",
		                       "no database could be read (%s)", v->dbs[0].why);
	if (ncand == 1) {
		v->primary = pick;
		snprintf(v->primary_why, sizeof(v->primary_why),
		         "the only writable database that is not a subscriber");
		return 0;
	}
	/* Ambiguous: the one that holds the most recent acknowledged write. */
	last = most_recent_ack(v);
	pick = NULL;
	for (size_t i = 0; i < v->ndbs && last; i++) {
		struct db *d = &v->dbs[i];

		if (d->usable && (d->candidate || ncand == 0) && db_holds(d, last)) {
			pick = d;
			break;
		}
	}
	for (size_t i = 0; i < v->ndbs && !pick; i++)
		if (v->dbs[i].usable && (v->dbs[i].candidate || ncand == 0))
			pick = &v->dbs[i];
	v->primary = pick;
	snprintf(v->primary_why, sizeof(v->primary_why), "%s; chose %s",
	         ncand ? "ambiguous: several writable databases without subscription"
	               : "no database is writable without subscription",
	         last ? "the first that holds the most recent acknowledged id"
	              : "the first (no acknowledged id)");
	return 0;
}

static int primary_scan(struct verify *v, struct ferry_error *err)
{
	PGconn *c = v->primary->conn;

	for (size_t i = 0; i < v->nprefixes; i++) {
		char *lit = PQescapeLiteral(c, v->prefixes[i], strlen(v->prefixes[i]));
		char *sql, *row = NULL;
		PGresult *res;
		int n;

		if (!lit)
			return ferry_error_set(err, FERRY_EPROTO, NULL, "database %s: %s",
			                       v->primary->shown, PQerrorMessage(c));
		/* COPY takes no parameters; the prefix is quoted by libpq. */
		sql = xasprintf("COPY (SELECT id FROM orders WHERE starts_with(id, %s)) TO STDOUT",
		                lit);
		PQfreemem(lit);
		res = PQexec(c, sql);
		free(sql);
		if (PQresultStatus(res) != PGRES_COPY_OUT) {
			ferry_error_set(err, FERRY_EPROTO, NULL, "database %s: COPY orders: %.*s",
			                v->primary->shown,
			                (int)strcspn(PQresultErrorMessage(res), "\n"),
			                PQresultErrorMessage(res));
			PQclear(res);
			return err->code;
		}
		PQclear(res);
		while ((n = PQgetCopyData(c, &row, 0)) > 0) {
			struct slot *s;

			if (row[n - 1] == '\n')
				row[n - 1] = '\0';
			v->db_rows++;
			s = idset_find(&v->set, row, false);
			if (s) {
				s->in_db = true;
			} else {
				v->unexpected++;
				if (v->nunexpected_ids < LIST_MAX)
					v->unexpected_ids[v->nunexpected_ids++] = xstrdup(row);
			}
			PQfreemem(row);
		}
		res = PQgetResult(c);
		if (n == -2 || PQresultStatus(res) != PGRES_COMMAND_OK) {
			ferry_error_set(err, FERRY_EPROTO, NULL, "database %s: COPY orders: %.*s",
			                v->primary->shown, (int)strcspn(PQerrorMessage(c), "\n"),
			                PQerrorMessage(c));
			PQclear(res);
			return err->code;
		}
		PQclear(res);
		while ((res = PQgetResult(c)))
			PQclear(res);
	}
	return 0;
}

/* ---- MariaDB and Redis ---- */

struct store_mark {
	struct verify *v;
	struct store *st;
};

static void store_mark(void *arg, const char *id)
{
	struct store_mark *m = arg;
	struct slot *s = idset_find(&m->v->set, id, false);

	m->st->rows++;
	if (s)
		s->in_store |= (uint8_t)(1u << m->st->kind);
	else
		m->st->unexpected++;
}

static int stores_scan(struct verify *v, struct ferry_error *err)
{
	const char *last = most_recent_ack(v);

	for (int k = 0; k < STORE_KINDS; k++) {
		struct store *st = &v->stores[k];
		struct store_mark m = { v, st };

		if (st->nservers == 0)
			continue;
		if (store_choose(st, last, err) < 0 ||
		    store_scan(st, v->prefixes, v->nprefixes, store_mark, &m, err) < 0)
			return err->code;
	}
	return 0;
}

static uint64_t stores_unexpected(const struct verify *v)
{
	uint64_t n = 0;

	for (int k = 0; k < STORE_KINDS; k++)
		n += v->stores[k].unexpected;
	return n;
}

/* ---- the analysis ---- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int cmp_done(const void *a, const void *b)
{
	const struct rec *x = *(const struct rec *const *)a, *y = *(const struct rec *const *)b;

	return (x->done_ms > y->done_ms) - (x->done_ms < y->done_ms);
}

/* Nearest-rank percentile of a sorted array. */
static int64_t pct(const int64_t *sorted, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)ceil(p / 100.0 * (double)n);
	return sorted[k ? k - 1 : 0];
}

static void analyse(struct verify *v, const struct rec ***acked_out)
{
	const struct rec **acked = xmalloc((v->nrecs + 1) * sizeof(*acked));
	int64_t *lat = xmalloc((v->nrecs + 1) * sizeof(*lat));
	size_t na = 0;

	for (size_t i = 0; i < v->nrecs; i++) {
		const struct rec *r = &v->recs[i];
		struct slot *s;

		if (r->status == 0)
			v->transport_errors++;
		else if (r->status >= 400 && r->status < 500)
			v->http4xx++;
		else if (r->status >= 500)
			v->http5xx++;
		else if (r->status < 200 || r->status >= 300)
			v->other_status++;
		if (r->status < 200 || r->status >= 300)
			continue;
		acked[na] = r;
		lat[na++] = r->done_ms - r->send_ms;
		v->served[r->served]++;
		s = idset_find(&v->set, r->id, false);
		if (!s->lost_counted && !s->in_db)
			v->lost_pg++;
		for (int k = 0; k < STORE_KINDS; k++) {
			uint8_t bit = (uint8_t)(1u << k);

			if (v->stores[k].nservers && !(s->in_store & bit) &&
			    !(s->lost_store & bit)) {
				s->lost_store |= bit;
				v->stores[k].lost++;
			}
		}
		if (!s->lost_counted && (!s->in_db || s->lost_store)) {
			s->lost_counted = true;
			v->lost++;
			idlist_add(&v->lost_ids, r->id);
		}
	}
	v->acked = na;
	for (size_t i = 0; i < v->nrecs; i++) {
		struct slot *s = idset_find(&v->set, v->recs[i].id, false);

		if (s->acks > 1 && s->acks != UINT32_MAX) {
			v->duplicated++;
			idlist_add(&v->dup_ids, s->id);
			s->acks = UINT32_MAX; /* count each id once */
		}
	}
	xqsort(lat, na, sizeof(*lat), cmp_i64);
	v->p50 = pct(lat, na, 50);
	v->p99 = pct(lat, na, 99);
	v->lat_max = na ? lat[na - 1] : 0;
	xqsort(acked, na, sizeof(*acked), cmp_done);
	for (size_t i = 1; i < na; i++) {
		int64_t gap = acked[i]->done_ms - acked[i - 1]->done_ms;

		if (gap > v->pause_ms || i == 1) {
			v->pause_ms = gap;
			v->pause_from_ms = acked[i - 1]->done_ms;
			v->pause_to_ms = acked[i]->done_ms;
			v->pause_before = acked[i - 1]->id;
			v->pause_after = acked[i]->id;
		}
	}
	free(lat);
	*acked_out = acked;
}

/* ---- output ---- */

static void fmt_ms(int64_t ms, char *out, size_t outlen)
{
	char s[32];

	time_rfc3339(ms / 1000, s, sizeof(s));
	s[strlen(s) - 1] = '\0'; /* drop the Z, add the milliseconds */
	snprintf(out, outlen, "%s.%03dZ", s, (int)(ms % 1000));
}

/* Per second since the first acknowledgement: [old, new, other]. */
static uint64_t (*per_second(const struct verify *v, const struct rec **acked, size_t *nsec,
                             int64_t *first_s))[3]
{
	uint64_t(*sec)[3];
	size_t n;

	*nsec = 0;
	if (v->acked == 0)
		return NULL;
	*first_s = acked[0]->done_ms / 1000;
	n = (size_t)(acked[v->acked - 1]->done_ms / 1000 - *first_s + 1);
	sec = xcalloc(n, sizeof(*sec));
	for (size_t i = 0; i < v->acked; i++)
		sec[acked[i]->done_ms / 1000 - *first_s][acked[i]->served]++;
	*nsec = n;
	return sec;
}

static void list_print(const char *what, const char *const *ids, size_t n, uint64_t total)
{
	if (!total)
		return;
	printf("  %s (%s%zu):", what, total > n ? "first " : "", n);
	for (size_t i = 0; i < n; i++)
		printf(" %s", ids[i]);
	printf("\n");
}

static int share_pct(const uint64_t *c, int which)
{
	uint64_t t = c[0] + c[1] + c[2];

	return t ? (int)((c[which] * 100 + t / 2) / t) : 0;
}

static void print_human(const struct verify *v, const struct rec **acked)
{
	char from[40], to[40], span[48];
	uint64_t(*sec)[3];
	size_t nsec, start = 0;
	int64_t first_s = 0;

	printf("ledger      %s (prefix", v->ledger_path);
	for (size_t i = 0; i < v->nprefixes; i++)
		printf(" %.*s", (int)strlen(v->prefixes[i]) - 1, v->prefixes[i]);
	printf(")\n");
	for (size_t i = 0; i < v->ndbs; i++)
		printf("%-11s %s: %s\n", &v->dbs[i] == v->primary ? "primary" : "database",
		       v->dbs[i].shown, v->dbs[i].why);
	printf("            (%s)\n", v->primary_why);
	for (int k = 0; k < STORE_KINDS; k++) {
		const struct store *st = &v->stores[k];

		for (size_t i = 0; i < st->nservers; i++)
			printf("%-11s %s: %s\n",
			       &st->servers[i] == st->primary ? "primary" : st->name,
			       st->servers[i].url.shown, st->servers[i].why);
		if (st->nservers)
			printf("            (%s)\n", st->primary_why);
	}
	printf("requests    %zu\n", v->nrecs);
	printf("acked       %" PRIu64 " (2xx)\n", v->acked);
	printf("errors      %" PRIu64 " (transport %" PRIu64 ", 4xx %" PRIu64 ", 5xx %" PRIu64
	       ", other %" PRIu64 ")\n",
	       v->transport_errors + v->http4xx + v->http5xx + v->other_status, v->transport_errors,
	       v->http4xx, v->http5xx, v->other_status);
	printf("lost        %" PRIu64 " (acknowledged, missing in the primary)\n", v->lost);
	printf("  by database: postgresql %" PRIu64, v->lost_pg);
	for (int k = 0; k < STORE_KINDS; k++)
		if (v->stores[k].nservers)
			printf(", %s %" PRIu64 " (%" PRIu64 " rows, %" PRIu64 " unexpected)",
			       v->stores[k].name, v->stores[k].lost, v->stores[k].rows,
			       v->stores[k].unexpected);
	printf("\n");
	list_print("lost ids", v->lost_ids.ids, v->lost_ids.n, v->lost);
	printf("duplicated  %" PRIu64 " (ids acknowledged more than once)\n", v->duplicated);
	list_print("duplicated ids", v->dup_ids.ids, v->dup_ids.n, v->duplicated);
	printf("unexpected  %" PRIu64 " (rows of the run the ledger never sent; %" PRIu64
	       " rows scanned)\n",
	       v->unexpected, v->db_rows);
	list_print("unexpected ids", (const char *const *)v->unexpected_ids, v->nunexpected_ids,
	           v->unexpected);
	if (v->acked > 1) {
		fmt_ms(v->pause_from_ms, from, sizeof(from));
		fmt_ms(v->pause_to_ms, to, sizeof(to));
		printf("pause       %" PRId64 " ms, from %s (%s) to %s (%s)\n", v->pause_ms, from,
		       v->pause_before, to, v->pause_after);
	}
	printf("latency     p50 %" PRId64 " ms, p99 %" PRId64 " ms, max %" PRId64 " ms\n", v->p50,
	       v->p99, v->lat_max);
	printf("served by   old %" PRIu64 " (%d%%), new %" PRIu64 " (%d%%), other %" PRIu64 "\n",
	       v->served[SERVED_OLD], share_pct(v->served, SERVED_OLD), v->served[SERVED_NEW],
	       share_pct(v->served, SERVED_NEW), v->served[SERVED_OTHER]);
	/* Seconds with the same split are merged into one line. */
	sec = per_second(v, acked, &nsec, &first_s);
	for (size_t i = 1; i <= nsec; i++) {
		if (i < nsec &&
		    share_pct(sec[i], SERVED_OLD) == share_pct(sec[start], SERVED_OLD) &&
		    share_pct(sec[i], SERVED_NEW) == share_pct(sec[start], SERVED_NEW))
			continue;
		uint64_t c[3] = { 0, 0, 0 };

		for (size_t k = start; k < i; k++)
			for (int j = 0; j < 3; j++)
				c[j] += sec[k][j];
		snprintf(span, sizeof(span), "%zus-%zus", start, i - 1);
		printf("  %-12s old %3d%% new %3d%% other %3d%% (%" PRIu64 " acks)\n", span,
		       share_pct(c, SERVED_OLD), share_pct(c, SERVED_NEW),
		       share_pct(c, SERVED_OTHER), c[0] + c[1] + c[2]);
		start = i;
	}
	free(sec);
	printf("verify: acknowledged=%" PRIu64 " lost=%" PRIu64 " duplicated=%" PRIu64
	       " unexpected=%" PRIu64 " pause_ms=%" PRId64 " p50_ms=%" PRId64 " p99_ms=%" PRId64,
	       v->acked, v->lost, v->duplicated, v->unexpected, v->pause_ms, v->p50, v->p99);
	/* the per-database counts after the line's older fields (scripts read them) */
	printf(" lost_postgresql=%" PRIu64, v->lost_pg);
	for (int k = 0; k < STORE_KINDS; k++)
		if (v->stores[k].nservers)
			printf(" lost_%s=%" PRIu64 " unexpected_%s=%" PRIu64, v->stores[k].name,
			       v->stores[k].lost, v->stores[k].name, v->stores[k].unexpected);
	printf("\n");
}

static json_t *ids_json(const char *const *ids, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(ids[i]));
	return a;
}

static void print_json(const struct verify *v, const struct rec **acked)
{
	json_t *root, *dbs = json_array(), *secs = json_array(), *pfx = json_array();
	uint64_t(*sec)[3];
	size_t nsec;
	int64_t first_s = 0;
	char from[40] = "", to[40] = "";
	json_t *lost_by = json_pack("{s:I}", "postgresql", (json_int_t)v->lost_pg);
	json_t *stores = json_array();

	for (int k = 0; k < STORE_KINDS; k++) {
		const struct store *st = &v->stores[k];
		json_t *servers;

		if (!st->nservers)
			continue;
		servers = json_array();
		for (size_t i = 0; i < st->nservers; i++)
			json_array_append_new(servers, json_pack("{s:s, s:s, s:b}", "url",
			                                         st->servers[i].url.shown, "state",
			                                         st->servers[i].why, "primary",
			                                         &st->servers[i] == st->primary));
		json_object_set_new(lost_by, st->name, json_integer((json_int_t)st->lost));
		json_array_append_new(stores,
		                      json_pack("{s:s, s:o, s:s, s:I, s:I, s:I}", "database",
		                                st->name, "servers", servers, "primary_reason",
		                                st->primary_why, "rows", (json_int_t)st->rows,
		                                "lost", (json_int_t)st->lost, "unexpected",
		                                (json_int_t)st->unexpected));
	}
	for (size_t i = 0; i < v->ndbs; i++)
		json_array_append_new(dbs, json_pack("{s:s, s:s, s:b}", "db", v->dbs[i].shown,
		                                     "state", v->dbs[i].why, "primary",
		                                     &v->dbs[i] == v->primary));
	for (size_t i = 0; i < v->nprefixes; i++)
		json_array_append_new(pfx,
		                      json_stringn(v->prefixes[i], strlen(v->prefixes[i]) - 1));
	sec = per_second(v, acked, &nsec, &first_s);
	for (size_t i = 0; i < nsec; i++)
		json_array_append_new(secs, json_pack("{s:I, s:I, s:I, s:I}", "second",
		                                      (json_int_t)(first_s + (int64_t)i), "old",
		                                      (json_int_t)sec[i][SERVED_OLD], "new",
		                                      (json_int_t)sec[i][SERVED_NEW], "other",
		                                      (json_int_t)sec[i][SERVED_OTHER]));
	free(sec);
	if (v->acked > 1) {
		fmt_ms(v->pause_from_ms, from, sizeof(from));
		fmt_ms(v->pause_to_ms, to, sizeof(to));
	}
	root = json_pack(
	        "{s:s, s:o, s:o, s:s, s:I, s:I, s:{s:I, s:I, s:I, s:I}, s:I, s:o, s:I, s:o, s:I, "
	        "s:o, s:I, s:{s:I, s:s, s:s, s:s?, s:s?}, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I}, "
	        "s:o, s:b}",
	        "ledger", v->ledger_path, "prefixes", pfx, "databases", dbs, "primary_reason",
	        v->primary_why, "requests", (json_int_t)v->nrecs, "acknowledged",
	        (json_int_t)v->acked, "errors", "transport", (json_int_t)v->transport_errors,
	        "http_4xx", (json_int_t)v->http4xx, "http_5xx", (json_int_t)v->http5xx, "other",
	        (json_int_t)v->other_status, "lost", (json_int_t)v->lost, "lost_ids",
	        ids_json(v->lost_ids.ids, v->lost_ids.n), "duplicated", (json_int_t)v->duplicated,
	        "duplicated_ids", ids_json(v->dup_ids.ids, v->dup_ids.n), "unexpected",
	        (json_int_t)v->unexpected, "unexpected_ids",
	        ids_json((const char *const *)v->unexpected_ids, v->nunexpected_ids), "db_rows",
	        (json_int_t)v->db_rows, "pause", "ms", (json_int_t)v->pause_ms, "from", from, "to",
	        to, "last_ack_before", v->pause_before, "first_ack_after", v->pause_after,
	        "latency_ms", "p50", (json_int_t)v->p50, "p99", (json_int_t)v->p99, "max",
	        (json_int_t)v->lat_max, "served_by", "old", (json_int_t)v->served[SERVED_OLD],
	        "new", (json_int_t)v->served[SERVED_NEW], "other",
	        (json_int_t)v->served[SERVED_OTHER], "per_second", secs, "ok",
	        v->lost == 0 && v->unexpected == 0 && stores_unexpected(v) == 0);
	if (!root)
		BUG("json_pack of the report failed");
	json_object_set_new(root, "lost_by_database", lost_by);
	json_object_set_new(root, "stores", stores);
	json_dumpf(root, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(root);
}

/* ---- main ---- */

static void usage(FILE *fp)
{
	fprintf(fp,
	        "usage: ferry-lab-verify --ledger FILE --db CONNINFO [--db CONNINFO ...]\n"
	        "         [--mariadb mariadb://USER@HOST:PORT/DB ... [--mariadb-password-file F]]\n"
	        "         [--redis redis://USER@HOST:PORT ... [--redis-password-file F]] [--json]\n"
	        "  Checks every acknowledged write of a lab/load ledger against the current\n"
	        "  primary: the order in PostgreSQL, and with --mariadb / --redis its payment\n"
	        "  row and its cart there.  Exit 0: lost = 0 and unexpected = 0 everywhere;\n"
	        "  1: otherwise; 2: usage.  Passwords come from PGPASSFILE or PGPASSWORD and\n"
	        "  the password files, never from the command line.\n");
}

static void release(struct verify *v)
{
	for (size_t i = 0; i < v->ndbs; i++)
		if (v->dbs[i].conn)
			PQfinish(v->dbs[i].conn);
	for (size_t i = 0; i < v->nprefixes; i++)
		free(v->prefixes[i]);
	for (size_t i = 0; i < v->nunexpected_ids; i++)
		free(v->unexpected_ids[i]);
	for (int k = 0; k < STORE_KINDS; k++)
		store_release(&v->stores[k]);
	free(v->set.slots);
	free(v->recs);
	buf_release(&v->ledger);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ledger", required_argument, NULL, 'l' },
		{ "db", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "mariadb", required_argument, NULL, 'm' },
		{ "mariadb-password-file", required_argument, NULL, 'M' },
		{ "redis", required_argument, NULL, 'r' },
		{ "redis-password-file", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct verify v = { 0 };
	struct ferry_error err = { 0 };
	const struct rec **acked = NULL;
	bool json = false;
	int c, ret = 2;

	buf_init(&v.ledger, LEDGER_MAX);
	store_init(&v.stores[STORE_MARIADB], STORE_MARIADB);
	store_init(&v.stores[STORE_REDIS], STORE_REDIS);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'l': v.ledger_path = optarg; break;
		case 'd':
			if (v.ndbs == MAX_DBS) {
				fprintf(stderr, "ferry-lab-verify: at most %d --db\n", MAX_DBS);
				return 2;
			}
			v.dbs[v.ndbs].conninfo = optarg;
			conninfo_shown(optarg, v.dbs[v.ndbs].shown, sizeof(v.dbs[v.ndbs].shown));
			v.ndbs++;
			break;
		case 'j': json = true; break;
		case 'm':
		case 'r':
			if (store_add(&v.stores[c == 'm' ? STORE_MARIADB : STORE_REDIS], optarg,
			              &err) < 0)
				goto fail;
			break;
		case 'M':
		case 'R':
			if (store_password_file(&v.stores[c == 'M' ? STORE_MARIADB : STORE_REDIS],
			                        optarg, &err) < 0)
				goto fail;
			break;
		case 'h':
			usage(stdout);
			release(&v);
			return 0;
		default:
			usage(stderr);
			release(&v);
			return 2;
		}
	}
	if (optind != argc || !v.ledger_path || v.ndbs == 0) {
		usage(stderr);
		return 2;
	}
	if (ledger_load(&v, &err) < 0)
		goto fail;
	ret = 1;
	if (primary_choose(&v, &err) < 0 || primary_scan(&v, &err) < 0 || stores_scan(&v, &err) < 0)
		goto fail;
	analyse(&v, &acked);
	if (json)
		print_json(&v, acked);
	else
		print_human(&v, acked);
	ret = v.lost == 0 && v.unexpected == 0 && stores_unexpected(&v) == 0 ? 0 : 1;
	goto out;
fail:
	fprintf(stderr, "verify: %s%s%s\n", err.msg, err.hint[0] ? "; " : "", err.hint);
out:
	free(acked);
	release(&v);
	return ret;
}
