/*
 * answers.c - the five rollback questions (answers.h): built from the
 * plan, the journal, the engines' readiness rows and an earlier run's
 * journal; and the rehearsal of the DNS part on a canary name.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/answers.h"
#include "core/endpoints.h"
#include "db/db.h"
#include "dns/dns.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

static const struct {
	const char *key, *question;
} questions[ANSWER_N] = {
	[ANSWER_TRIGGER] = { "trigger", "what triggers a rollback" },
	[ANSWER_AUTHORITY] = { "authority", "who may authorize one" },
	[ANSWER_DURATION] = { "duration", "how long a rollback takes" },
	[ANSWER_DATA] = { "data", "what data is at risk" },
	[ANSWER_WINDOW] = { "window", "when the window ends" },
};

/* The engines' readiness rows that are the way back (the reverse stream's
 * prerequisites), and the ones that name what replication does not carry
 * (db/ *_check.c). */
static const char *const way_back_rows[] = {
	"new wal_level",
	"new replication slots",
	"new wal senders",
	"old role", /* postgresql */
	"new log_slave_updates",
	"server_id",
	"gtid_domain_id", /* mariadb */
	"roles",          /* redis */
	NULL,
};
static const char *const not_carried_rows[] = {
	"large objects",
	"unlogged tables",      /* postgresql */
	"transactional tables", /* mariadb */
	NULL,
};

/* What each engine's reverse stream keeps and does not keep. */
static const char *engine_statement(const char *engine)
{
	if (!strcmp(engine, "postgresql"))
		return "no acknowledged write is lost (the reverse stream starts inside the "
		       "cutover's pause and the rollback drains it); not carried back: DDL run on "
		       "the new side, large objects, unlogged tables' rows";
	if (!strcmp(engine, "mariadb"))
		return "no acknowledged write is lost (GTID replication new -> old from the "
		       "cutover's pause, drained by the rollback); non-transactional tables are "
		       "not safe across the pause";
	if (!strcmp(engine, "redis"))
		return "no acknowledged write is lost (the old server replicates the new one from "
		       "the cutover's pause and the rollback waits for its offset)";
	return "the engine says nothing about its way back";
}

static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return true;
	return false;
}

static void set(struct rollback_answer *a, enum answer_state st, const char *hint, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));
static void set(struct rollback_answer *a, enum answer_state st, const char *hint, const char *fmt,
                ...)
{
	va_list ap;

	a->state = st;
	va_start(ap, fmt);
	vsnprintf(a->text, sizeof(a->text), fmt, ap);
	va_end(ap);
	snprintf(a->hint, sizeof(a->hint), "%s", hint ? hint : "");
}

static void trigger(const struct plan *p, struct rollback_answer *a)
{
	const struct plan_rollback *rb = &p->rollback;
	struct buf b;

	buf_init(&b, 1024);
	if (rb->error_rate >= 0)
		buf_addf(&b, "%serror rate above %g %%", b.len ? ", " : "", rb->error_rate);
	if (rb->latency_p99_ms >= 0)
		buf_addf(&b, "%sp99 latency above %lld ms", b.len ? ", " : "",
		         (long long)rb->latency_p99_ms);
	if (rb->health_failures >= 0)
		buf_addf(&b, "%s%d health check failures in a row", b.len ? ", " : "",
		         rb->health_failures);
	if (rb->prometheus.present)
		buf_addf(&b, "%sthe Prometheus query above %g", b.len ? ", " : "",
		         rb->prometheus.threshold);
	if (b.len)
		set(a, ANSWER_OK, NULL,
		    "%s (during the monitor period: automatic; later: `ferry "
		    "rollback`)",
		    b.data);
	else
		set(a, ANSWER_MISSING,
		    "set rollback.when: { error_rate: 1%, latency_p99: 800ms, health_failures: 3 }",
		    "no trigger: rollback.when sets none");
	buf_release(&b);
}

static void fmt_ms(int64_t ms, char *out, size_t len)
{
	if (ms < 10000)
		snprintf(out, len, "%.1f s", (double)ms / 1000.0);
	else
		snprintf(out, len, "%lld s", (long long)((ms + 500) / 1000));
}

/* The rehearsal journaled in j: its ms and a description. */
static int64_t rehearsal(struct journal *j, char *out, size_t len)
{
	char *v = NULL, t[16];
	json_t *o;
	int64_t ms = -1;

	if (!j || journal_get(j, "rollback.rehearsal", &v, NULL) < 0)
		return -1;
	o = json_loads(v, 0, NULL);
	if (o && json_is_integer(json_object_get(o, "ms"))) {
		ms = json_integer_value(json_object_get(o, "ms"));
		fmt_ms(ms, t, sizeof(t));
		snprintf(out, len, "DNS part rehearsed in %s on %s (%s, %lld resolver(s) watched)",
		         t,
		         json_string_value(json_object_get(o, "canary"))
		                 ? json_string_value(json_object_get(o, "canary"))
		                 : "?",
		         json_string_value(json_object_get(o, "at"))
		                 ? json_string_value(json_object_get(o, "at"))
		                 : "?",
		         (long long)json_integer_value(json_object_get(o, "resolvers")));
	}
	json_decref(o);
	free(v);
	return ms;
}

/* The evidence journal's measured rollback, if of the same shape. */
static int64_t evidence(const struct plan *p, char *out, size_t len, char *why, size_t wlen)
{
	struct journal *ej = NULL;
	char *path, *dur = NULL, *shape = NULL, mine[256], t[16];
	int64_t ms = -1;

	path = p->rollback.evidence[0] == '/' || !p->dir
	               ? xstrdup(p->rollback.evidence)
	               : xasprintf("%s/%s", p->dir, p->rollback.evidence);
	rollback_shape(p, mine, sizeof(mine));
	if (journal_open(&ej, path, JOURNAL_OPEN_READONLY, NULL) < 0) {
		snprintf(why, wlen, "rollback.evidence %s cannot be read as a ferry journal",
		         p->rollback.evidence);
	} else if (journal_get(ej, "rollback.duration_ms", &dur, NULL) < 0) {
		snprintf(why, wlen, "rollback.evidence %s records no measured rollback",
		         p->rollback.evidence);
	} else if (journal_get(ej, "rollback.shape", &shape, NULL) < 0 || strcmp(shape, mine)) {
		snprintf(why, wlen, "rollback.evidence %s is of another plan shape (%s, not %s)",
		         p->rollback.evidence, shape ? shape : "unknown", mine);
	} else {
		ms = strtoll(dur, NULL, 10);
		fmt_ms(ms, t, sizeof(t));
		snprintf(out, len, "a whole rollback of this plan shape took %s (journal %s)", t,
		         p->rollback.evidence);
	}
	free(dur);
	free(shape);
	journal_close(ej);
	free(path);
	return ms;
}

static void duration(const struct plan *p, struct journal *j, struct rollback_answers *out)
{
	struct rollback_answer *a = &out->a[ANSWER_DURATION];
	char r[400] = "", e[400] = "", why[400] = "", hint[512] = "";
	bool need_r = p->dns.present, need_e = p->ndatabases > 0;

	out->rehearsal_ms = rehearsal(j, r, sizeof(r));
	out->evidence_ms = -1;
	if (p->rollback.evidence)
		out->evidence_ms = evidence(p, e, sizeof(e), why, sizeof(why));
	if (!need_r && !need_e) {
		set(a, ANSWER_OK, NULL,
		    "nothing to measure: a rollback only sets load-balancer "
		    "weights");
		return;
	}
	if (need_r && out->rehearsal_ms < 0)
		snprintf(hint, sizeof(hint), "%s",
		         p->rollback.canary
		                 ? "run `ferry check PLAN --rehearse` (moves "
		                   "rollback.canary to the new side and back, timed)"
		                 : "name a canary (rollback.canary: canary.ZONE, holding "
		                   "hosts.old's set), then `ferry check PLAN --rehearse`");
	else if (need_e && out->evidence_ms < 0)
		snprintf(hint, sizeof(hint), "%s",
		         why[0] ? "point rollback.evidence at the journal of a lab or staging run "
		                  "of this plan that was rolled back"
		                : "run this plan's shape in a lab or staging, roll it back, and "
		                  "name "
		                  "that journal in rollback.evidence");
	if (hint[0]) {
		set(a, ANSWER_MISSING, hint, "not measured: %s%s%s",
		    need_r && out->rehearsal_ms < 0 ? "no rehearsal of the DNS part" : r,
		    need_e ? "; " : "",
		    !need_e                 ? ""
		    : out->evidence_ms >= 0 ? e
		                            : (why[0] ? why
		                                      : "no earlier rollback of this plan shape "
		                                        "(rollback.evidence)"));
		return;
	}
	set(a, ANSWER_OK, NULL, "%s%s%s", need_r ? r : "", need_r && need_e ? "; " : "",
	    need_e ? e : "");
}

static void data(const struct plan *p, struct journal *j, const struct check_rows *db,
                 struct rollback_answer *a)
{
	struct buf b, bad;
	size_t i, k;

	if (!p->ndatabases) {
		set(a, ANSWER_OK, NULL, "none: the plan moves no database");
		return;
	}
	if (!db) {
		/* what the gate (or ferry check) found last */
		char *v = NULL;
		json_t *o = NULL, *arr;
		size_t x;
		json_t *it;

		if (j && journal_get(j, "rollback.answers", &v, NULL) == 0 &&
		    (o = json_loads(v, 0, NULL)) != NULL &&
		    json_is_array(arr = json_object_get(o, "answers"))) {
			json_array_foreach(arr, x, it)
			{
				const char *key = json_string_value(json_object_get(it, "key"));
				const char *st = json_string_value(json_object_get(it, "state"));
				const char *tx = json_string_value(json_object_get(it, "text"));

				if (key && st && tx && !strcmp(key, "data")) {
					set(a, !strcmp(st, "ok") ? ANSWER_OK : ANSWER_MISSING,
					    json_string_value(json_object_get(it, "hint")), "%s",
					    tx);
					json_decref(o);
					free(v);
					return;
				}
			}
		}
		json_decref(o);
		free(v);
		set(a, ANSWER_UNKNOWN, "`ferry check PLAN` asks the engines",
		    "the engines were not asked here (`ferry check` and the cutover gate ask "
		    "them)");
		return;
	}
	buf_init(&b, 1 << 16);
	buf_init(&bad, 1 << 16);
	for (i = 0; i < p->ndatabases; i++) {
		const char *name = p->databases[i].name;
		size_t nl = strlen(name);

		buf_addf(&b, "%s%s: %s", i ? "; " : "", name,
		         engine_statement(plan_db_engine_name(p->databases[i].engine)));
		for (k = 0; k < db->n; k++) {
			const struct check_row *r = &db->v[k];
			const char *row;

			if (strcmp(r->check, "db") || strncmp(r->object, name, nl))
				continue;
			if (r->object[nl] == '\0') { /* the database itself did not answer */
				buf_addf(&bad, "%s%s: %s", bad.len ? "; " : "", name, r->message);
				continue;
			}
			if (r->object[nl] != ' ')
				continue;
			row = r->object + nl + 1;
			if (in_list(row, way_back_rows) && r->status != CHECK_OK)
				buf_addf(&bad, "%s%s %s: %s", bad.len ? "; " : "", name, row,
				         r->message);
			else if (in_list(row, not_carried_rows) && r->status != CHECK_OK)
				buf_addf(&b, "; also not carried: %s", r->message);
		}
	}
	if (bad.len)
		set(a, ANSWER_MISSING,
		    "fix the way back first (the rows of `ferry check`): without the reverse "
		    "stream a rollback loses every write made on the new side",
		    "the way back is not healthy: %s", bad.data);
	else
		set(a, ANSWER_OK, NULL, "%s", b.data);
	buf_release(&b);
	buf_release(&bad);
}

static void window(const struct plan *p, struct journal *j, struct rollback_answer *a)
{
	char d[32], end[64] = "", *v = NULL;
	int64_t ms = p->rollback.window_ms;

	if (ms % 3600000 == 0)
		snprintf(d, sizeof(d), "%lldh", (long long)(ms / 3600000));
	else if (ms % 60000 == 0)
		snprintf(d, sizeof(d), "%lldm", (long long)(ms / 60000));
	else
		snprintf(d, sizeof(d), "%llds", (long long)(ms / 1000));
	if (j && journal_get(j, "cutover.done_ms", &v, NULL) == 0) {
		char t[32];

		time_rfc3339((strtoll(v, NULL, 10) + ms) / 1000, t, sizeof(t));
		snprintf(end, sizeof(end), ": it ends %s", t);
	}
	free(v);
	set(a, ANSWER_OK, NULL, "%s after the cutover%s%s", d,
	    p->rollback.window_set ? "" : " (the default; rollback.window sets it)", end);
}

void rollback_answers_build(const struct plan *p, struct journal *j, const struct check_rows *db,
                            struct rollback_answers *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < ANSWER_N; i++) {
		out->a[i].key = questions[i].key;
		out->a[i].question = questions[i].question;
	}
	out->waiver = p->rollback.waiver;
	trigger(p, &out->a[ANSWER_TRIGGER]);
	if (p->rollback.authority)
		set(&out->a[ANSWER_AUTHORITY], ANSWER_OK, NULL, "%s", p->rollback.authority);
	else
		set(&out->a[ANSWER_AUTHORITY], ANSWER_MISSING,
		    "set rollback.authority: \"Dana Ops <dana@shop.test>\"",
		    "nobody named: rollback.authority is not set");
	duration(p, j, out);
	data(p, j, db, &out->a[ANSWER_DATA]);
	window(p, j, &out->a[ANSWER_WINDOW]);
	out->complete = true;
	for (i = 0; i < ANSWER_N; i++)
		out->complete &= out->a[i].state == ANSWER_OK;
}

static const char *state_name(enum answer_state st)
{
	return st == ANSWER_OK ? "ok" : st == ANSWER_MISSING ? "missing" : "unknown";
}

void rollback_answers_rows(const struct rollback_answers *a, struct check_rows *rows)
{
	size_t i;

	for (i = 0; i < ANSWER_N; i++) {
		const struct rollback_answer *x = &a->a[i];
		char check[32];

		snprintf(check, sizeof(check), "rollback.%s", x->key);
		if (x->state == ANSWER_OK)
			check_rows_add(rows, check, x->question, CHECK_OK,
			               "a cutover without a way back decided in advance", "%s",
			               x->text);
		else if (a->waiver)
			check_rows_add(rows, check, x->question, CHECK_WARN,
			               "a cutover without a way back decided in advance",
			               "%s (waived: %s)", x->text, a->waiver);
		else
			check_rows_add(rows, check, x->question,
			               x->state == ANSWER_MISSING ? CHECK_FAIL : CHECK_WARN,
			               "a cutover without a way back decided in advance", "%s; %s",
			               x->text, x->hint);
	}
}

json_t *rollback_answers_json(const struct rollback_answers *a)
{
	json_t *o = json_object(), *arr = json_array();
	size_t i;

	for (i = 0; i < ANSWER_N; i++) {
		const struct rollback_answer *x = &a->a[i];

		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s?}", "key", x->key,
		                                     "question", x->question, "state",
		                                     state_name(x->state), "text", x->text, "hint",
		                                     x->hint[0] ? x->hint : NULL));
	}
	json_object_set_new(o, "complete", json_boolean(a->complete));
	json_object_set_new(o, "waiver", a->waiver ? json_string(a->waiver) : json_null());
	json_object_set_new(o, "rehearsal_ms",
	                    a->rehearsal_ms >= 0 ? json_integer(a->rehearsal_ms) : json_null());
	json_object_set_new(o, "evidence_ms",
	                    a->evidence_ms >= 0 ? json_integer(a->evidence_ms) : json_null());
	json_object_set_new(o, "answers", arr);
	return o;
}

void rollback_answers_print(const json_t *o, FILE *f)
{
	const char *waiver = json_string_value(json_object_get(o, "waiver"));
	bool complete = json_is_true(json_object_get(o, "complete"));
	json_t *it;
	size_t i;

	fprintf(f, "\nRollback: the five answers%s\n",
	        complete ? ""
	        : waiver ? " (incomplete, waived)"
	                 : " (incomplete: the cutover gate refuses)");
	json_array_foreach(json_object_get(o, "answers"), i, it)
	{
		const char *st = json_string_value(json_object_get(it, "state"));
		const char *hint = json_string_value(json_object_get(it, "hint"));
		bool ok = st && !strcmp(st, "ok");

		fprintf(f, "  %-26s %s%s\n", json_string_value(json_object_get(it, "question")),
		        ok                             ? ""
		        : st && !strcmp(st, "missing") ? "MISSING: "
		                                       : "NOT ASKED: ",
		        json_string_value(json_object_get(it, "text")));
		if (!ok && hint)
			fprintf(f, "  %-26s hint: %s\n", "", hint);
	}
	if (!complete && waiver)
		fprintf(f, "  %-26s %s\n", "waived by the plan", waiver);
}

void rollback_db_rows(const struct plan *p, struct check_rows *rows,
                      void (*each)(struct endpoints_db *d, void *ctx), void *ctx)
{
	static const enum check_status map[] = {
		[DB_CHECK_OK] = CHECK_OK, [DB_CHECK_WARN] = CHECK_WARN, [DB_CHECK_FAIL] = CHECK_FAIL
	};
	size_t i, k;

	for (i = 0; i < p->ndatabases; i++) {
		struct ferry_error err = { 0 };
		struct endpoints_db *d = NULL;
		struct db_checks c = { 0 };
		char object[128];

		if (endpoints_db_open(p, i, &d, &err) < 0 || d->eng->check(d->h, &c, &err) < 0) {
			check_rows_add(rows, "db", p->databases[i].name, CHECK_FAIL,
			               "a migration that cannot reach its database", "%s", err.msg);
		} else {
			for (k = 0; k < c.n; k++) {
				snprintf(object, sizeof(object), "%s %s", p->databases[i].name,
				         c.v[k].name);
				check_rows_add(rows, "db", object, map[c.v[k].status],
				               c.v[k].prevents, "%s", c.v[k].message);
			}
			if (each)
				each(d, ctx);
		}
		db_checks_release(&c);
		endpoints_db_close(d);
	}
}

void rollback_shape(const struct plan *p, char *out, size_t len)
{
	struct buf b;
	size_t i;

	buf_init(&b, 1024);
	if (p->dns.present)
		buf_addf(&b, "dns=%sx%zu", p->dns.provider, p->dns.records.n);
	if (p->traffic.present)
		buf_addf(&b, "%straffic=%s", b.len ? " " : "", p->traffic.via);
	for (i = 0; i < p->ndatabases; i++)
		buf_addf(&b, "%s%s",
		         i       ? ","
		         : b.len ? " databases="
		                 : "databases=",
		         plan_db_engine_name(p->databases[i].engine));
	snprintf(out, len, "%s", b.len ? b.data : "empty");
	buf_release(&b);
}

/* --- the rehearsal ---------------------------------------------------- */

static void sayf(void (*say)(void *, const char *), void *ctx, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void sayf(void (*say)(void *, const char *), void *ctx, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!say)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	say(ctx, line);
}

/* Until the server and every watched resolver answer st for name, or the
 * deadline (monotonic ms). */
static int wait_answers(const struct plan *p, struct dns_provider *dns, const char *name,
                        const struct dns_state *st, int64_t deadline, struct ferry_error *err)
{
	const struct plan_dns *d = &p->dns;
	char have[512] = "", who[300] = "";

	for (;;) {
		struct dns_rrset rs;
		struct timespec ts = { 0, 50 * 1000000L };
		bool all = true;
		size_t i;
		int r;

		dns_rrset_init(&rs);
		r = dns_query(dns, name, &rs, err);
		if (r < 0 && r != FERRY_ENOTFOUND) {
			dns_rrset_release(&rs);
			return r;
		}
		if (r < 0 || !dns_rrset_matches(&rs, st)) {
			all = false;
			dns_rrset_format(&rs, have, sizeof(have));
			snprintf(who, sizeof(who), "the server (%s)",
			         d->server ? d->server : d->provider);
		}
		dns_rrset_release(&rs);
		for (i = 0; all && i < d->resolvers.n; i++) {
			struct ferry_error rerr = { 0 };

			dns_rrset_init(&rs);
			r = dns_resolve(d->resolvers.v[i], name, 0, &rs, &rerr);
			if (r < 0 || !dns_rrset_matches(&rs, st)) {
				all = false;
				if (r < 0)
					snprintf(have, sizeof(have), "%s", rerr.msg);
				else
					dns_rrset_format(&rs, have, sizeof(have));
				snprintf(who, sizeof(who), "resolver %s", d->resolvers.v[i]);
			}
			dns_rrset_release(&rs);
		}
		if (all)
			return 0;
		if (time_mono_ms() > deadline) {
			char want[512];

			dns_state_format(st, want, sizeof(want));
			return ferry_error_set(
			        err, FERRY_ETIMEDOUT,
			        "a resolver that keeps an answer past its TTL makes the "
			        "real rollback as slow: find out why",
			        "rehearsal: %s still answers %s for %s, not %s", who, have, name,
			        want);
		}
		nanosleep(&ts, NULL);
	}
}

int rollback_rehearse(const struct plan *p, struct journal *j,
                      void (*say)(void *ctx, const char *line), void *ctx, int64_t *ms,
                      struct ferry_error *err)
{
	const char *canary = p->rollback.canary;
	struct dns_state st_old = endpoints_dns_state(&p->host_old);
	struct dns_state st_new = endpoints_dns_state(&p->host_new);
	struct dns_provider *dns = NULL;
	struct dns_rrset rs;
	char t_old[512], t_new[512], have[512], at[32], *detail = NULL, result[256];
	uint32_t ttl0 = 0, ttl = p->dns.ttl.cutover;
	int64_t id = 0, t0, t1 = 0, t2, wait_ms;
	bool moved = false;
	int r;

	*ms = -1;
	dns_rrset_init(&rs);
	if (!p->dns.present || !canary)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "name one in the plan: rollback: { canary: canary.ZONE }, a "
		                       "name that holds hosts.old's set and that no client uses",
		                       "rehearsal: the plan names no canary (rollback.canary)");
	dns_state_format(&st_old, t_old, sizeof(t_old));
	dns_state_format(&st_new, t_new, sizeof(t_new));
	r = endpoints_dns_open(p, &dns, err);
	if (r == 0)
		r = dns_query(dns, canary, &rs, err);
	if (r == FERRY_ENOTFOUND)
		r = ferry_error_set(err, FERRY_ECHECK,
		                    "create it with hosts.old's set (an A record like www's)",
		                    "rehearsal: the canary %s does not exist", canary);
	if (r < 0)
		goto out;
	if (!dns_rrset_matches(&rs, &st_old)) {
		dns_rrset_format(&rs, have, sizeof(have));
		r = ferry_error_set(
		        err, FERRY_ECHECK,
		        "the rehearsal starts where a cutover starts: put the canary on "
		        "hosts.old's set",
		        "rehearsal: the canary %s holds %s, not hosts.old's %s", canary, have,
		        t_old);
		goto out;
	}
	ttl0 = rs.ttl;
	/* a resolver may hold the new answer for one cutover TTL: that is the
	 * rollback's DNS time; ten seconds on top for the server itself */
	wait_ms = (int64_t)ttl * 1000 + 10000;
	detail = xasprintf("{\"canary\":\"%s\",\"from\":\"%s\",\"to\":\"%s\",\"ttl\":%u}", canary,
	                   t_old, t_new, ttl);
	r = journal_step_begin(j, "check", "dns.rehearse", canary, detail, &id, err);
	if (r < 0)
		goto out;
	sayf(say, ctx, "rehearsal: %s %s -> %s (TTL %u), compare-and-swap", canary, t_old, t_new,
	     ttl);
	t0 = time_mono_ms();
	r = dns_cas(dns, canary, &st_old, &st_new, ttl, err);
	if (r < 0)
		goto done;
	moved = true;
	r = wait_answers(p, dns, canary, &st_new, t0 + wait_ms, err);
	if (r < 0)
		goto done;
	t1 = time_mono_ms();
	sayf(say, ctx,
	     "rehearsal: the server and %zu resolver(s) answer %s after %lld ms; now back",
	     p->dns.resolvers.n, t_new, (long long)(t1 - t0));
	r = dns_cas(dns, canary, &st_new, &st_old, ttl0, err);
	if (r < 0)
		goto done;
	moved = false;
	r = wait_answers(p, dns, canary, &st_old, t1 + wait_ms, err);
	if (r < 0)
		goto done;
	t2 = time_mono_ms();
	*ms = t2 - t1;
	sayf(say, ctx,
	     "rehearsal: back on %s everywhere after %lld ms (the DNS part of a rollback)", t_old,
	     (long long)*ms);
done:
	if (moved) {
		/* put the canary back, whatever failed */
		struct ferry_error berr = { 0 };

		if (dns_cas(dns, canary, &st_new, &st_old, ttl0, &berr) < 0)
			sayf(say, ctx, "rehearsal: the canary %s could not be put back: %s", canary,
			     berr.msg);
		else
			sayf(say, ctx, "rehearsal: the canary %s is back on %s", canary, t_old);
	}
	if (r == 0)
		snprintf(result, sizeof(result), "%lld ms", (long long)*ms);
	journal_step_done(j, id, r == 0, r == 0 ? result : err->msg, NULL);
	if (r == 0) {
		char *v;

		time_rfc3339(time_now(), at, sizeof(at));
		v = xasprintf("{\"ms\":%lld,\"forward_ms\":%lld,\"canary\":\"%s\",\"at\":\"%s\","
		              "\"resolvers\":%zu,\"ttl\":%u}",
		              (long long)*ms, (long long)(t1 - t0), canary, at, p->dns.resolvers.n,
		              ttl);
		r = journal_set(j, "rollback.rehearsal", v, err);
		free(v);
	}
out:
	free(detail);
	dns_rrset_release(&rs);
	dns_close(dns);
	return r;
}
