/*
 * mkjournal.c - writes the journal of a realistic migration, for the
 * report test: `mkjournal PATH [replicate]` creates PATH (it must not
 * exist).  With "replicate" the story stops in the middle of the first
 * soak: a migration in progress, with no cutover yet.
 *
 * The story, about 40 hours of it: prepare lowers the TTL of two records
 * 86400 -> 3600 -> 300 -> 60 a TTL apart; replicate copies 2 GB and soaks
 * for six hours with lag sampled every second (21600 points per series,
 * so the report must thin them); validate finds a blocked egress port,
 * then splits traffic 1 %, 5 %, 25 %; the first cutover pauses writes for
 * 38 ms, then the new side's error rate breaches the 1 % trigger and
 * ferry rolls back; after a second soak the second cutover holds, and
 * decommission restores the TTL.  One event carries "<script>" and "&"
 * to prove the page escapes journal text.
 *
 * The journal stamps steps, phases, events and gates with time_wall_ms().
 * To write hours of history in a second, this program is linked without
 * util/timeutil.c and brings its own clock (below) that the story
 * advances by hand.  Everything else is the real journal code.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal/journal.h"
#include "util/error.h"
#include "util/timeutil.h"

/* ---- the clock the journal reads ---- */

static int64_t now_ms;

int64_t time_wall_ms(void)
{
	return now_ms;
}

int64_t time_now(void)
{
	return now_ms / 1000;
}

int64_t time_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t time_mono_ms(void)
{
	return time_mono_us() / 1000;
}

/* ---- helpers that die on the first error: this is a test fixture ---- */

static struct journal *J;
static struct ferry_error E;

#define S  1000LL
#define MN (60 * S)
#define HR (60 * MN)

static void check(int r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "mkjournal: %s: %s\n", what, E.msg);
		exit(1);
	}
}

static void phase(const char *p)
{
	check(journal_phase_set(J, p, &E), p);
}

static void step(const char *ph, const char *name, const char *obj, int64_t took, bool ok,
                 const char *result)
{
	int64_t id;

	check(journal_step_begin(J, ph, name, obj, NULL, &id, &E), name);
	now_ms += took;
	check(journal_step_done(J, id, ok, result, &E), name);
}

static void gate(const char *ph, const char *g, bool ok, const char *evidence)
{
	check(journal_gate_record(J, ph, g, ok, evidence, &E), g);
}

__attribute__((format(printf, 3, 4))) static void event(enum log_level l, const char *obj,
                                                        const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	check(journal_event_add(J, l, obj, &E, "%s", msg), "event");
}

static void kv(const char *k, const char *v)
{
	check(journal_set(J, k, v, &E), k);
}

static void kv_ms(const char *k, int64_t v)
{
	char s[32];

	snprintf(s, sizeof(s), "%lld", (long long)v);
	kv(k, s);
}

static void sample(const char *series, const char *obj, int64_t t, double v)
{
	check(journal_sample_add(J, series, obj, t, v, &E), series);
}

/* Deterministic noise in [0, 1): the report must be the same every run. */
static double noise(void)
{
	static uint64_t x = 88172645463325252ULL;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return (double)(x >> 11) / 9007199254740992.0;
}

/* Lag every second for dur ms from now: a copy that drains from `from`
 * bytes, then a soak around 0.1 s with one spike at spike_at (0: none). */
static void lag(int64_t dur, double from, int64_t drain, int64_t spike_at)
{
	int64_t t;

	check(journal_samples_begin(J, &E), "batch");
	for (t = 0; t < dur; t += S) {
		double bytes, secs;

		if (t < drain) {
			bytes = from * (1 - (double)t / (double)drain) + 2e6 * noise();
			secs = 40 * (1 - (double)t / (double)drain) + noise();
		} else {
			bytes = 2e4 + 9e4 * noise() * noise();
			secs = 0.05 + 0.2 * noise() * noise();
		}
		if (spike_at && t >= spike_at && t < spike_at + 40 * S) {
			bytes += 2.4e7 * (1 - (double)(t - spike_at) / (40.0 * S));
			secs += 1.6 * (1 - (double)(t - spike_at) / (40.0 * S));
		}
		sample("lag_bytes", "main", now_ms + t, bytes);
		sample("lag_seconds", "main", now_ms + t, secs);
	}
	check(journal_samples_commit(J, &E), "batch");
}

/* Load balancer statistics every 5 s for dur ms at weight w (percent to
 * new); err_new_at: when the new side starts failing (0: never). */
static void traffic(int64_t dur, double w, int64_t err_new_at)
{
	int64_t t;

	check(journal_samples_begin(J, &E), "batch");
	for (t = 0; t < dur; t += 5 * S) {
		double total = 220 + 40 * sin((double)(now_ms + t) / (6.0 * HR)) + 10 * noise();
		bool failing = err_new_at && t >= err_new_at;

		sample("rps", "old", now_ms + t, total * (100 - w) / 100);
		sample("rps", "new", now_ms + t, total * w / 100);
		sample("err_pct", "old", now_ms + t, w < 100 ? 0.08 + 0.1 * noise() : 0);
		sample("err_pct", "new", now_ms + t,
		       w > 0 ? (failing ? 2.1 + 0.8 * noise() : 0.06 + 0.12 * noise()) : 0);
		sample("rtime_ms", "old", now_ms + t, 46 + 12 * noise());
		sample("rtime_ms", "new", now_ms + t,
		       failing ? 210 + 90 * noise() : 34 + 9 * noise());
		sample("health_ms", "new", now_ms + t,
		       failing ? 180 + 60 * noise() : 12 + 5 * noise());
	}
	check(journal_samples_commit(J, &E), "batch");
}

static void weight(double w)
{
	sample("weight_new_pct", "web", now_ms, w);
}

static void ttl(int64_t v)
{
	sample("ttl", "www.shop.test", now_ms, (double)v);
	sample("ttl", "api.shop.test", now_ms + 400, (double)v);
}

static void cutover(const char *note, double pause_ms, double client_ms)
{
	phase("cutover");
	kv_ms("cutover.started_ms", now_ms);
	step("cutover", "preflight", "", 900, true, "{\"lag_s\":0.08}");
	gate("cutover", "preflight", true, "{\"dns\":\"ok\",\"lb\":\"ok\",\"lag_s\":0.08}");
	kv("rollback.plan",
	   "dns: www.shop.test A 10.77.0.3 -> 10.77.0.2 (ttl 60), api.shop.test A 10.77.0.3 -> "
	   "10.77.0.2 (ttl 60)\n"
	   "haproxy web: set weight old 100, new 0\n"
	   "database main: pgbouncer PAUSE on new; drain reverse replication (new -> old);\n"
	   "               drop subscription ferry_rev; create forward slot from the fence "
	   "position;\n"
	   "               point pgbouncer on old and new at 10.77.0.2; RESUME\n");
	step("cutover", "pgbouncer.pause", "main@old", 3, true, "{\"paused_ms\":3}");
	step("cutover", "pgbouncer.pause", "main@new", 2, true, "{\"paused_ms\":2}");
	step("cutover", "db.fence", "main", 6, true, "{\"lsn\":\"0/3A1F2B8\"}");
	step("cutover", "replication.wait_applied", "main", 14, true, "{\"lsn\":\"0/3A1F2B8\"}");
	step("cutover", "sequences.copy", "main", 5, true, "{\"sequences\":4}");
	step("cutover", "reverse.start", "main", 4, true, "{\"slot\":\"ferry_rev\"}");
	step("cutover", "pgbouncer.resume", "main", 3, true, NULL);
	sample("write_pause_ms", "main", now_ms, pause_ms);
	sample("client_pause_ms", "ledger", now_ms + 2 * S, client_ms);
	step("cutover", "haproxy.weights", "web", 40, true, "{\"old\":0,\"new\":100}");
	weight(100);
	step("cutover", "dns.cas", "www.shop.test", 120, true, "{\"A\":\"10.77.0.3\"}");
	step("cutover", "dns.cas", "api.shop.test", 110, true, "{\"A\":\"10.77.0.3\"}");
	kv_ms("cutover.done_ms", now_ms);
	event(LOG_LEVEL_INFO, "main", "%s: writes paused %.0f ms (budget 5 s)", note, pause_ms);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "replicate") != 0)) {
		fprintf(stderr, "usage: mkjournal PATH [replicate]\n");
		return 2;
	}
	/* Friday 2026-11-20 08:00:00 UTC. */
	now_ms = 1795161600000LL;
	check(journal_open(&J, argv[1], JOURNAL_OPEN_CREATE, &E), argv[1]);
	kv("plan.name", "shop");
	kv("cutover.pause_budget_ms", "5000");
	kv("trigger.error_rate", "1");
	kv("trigger.latency_p99_ms", "800");

	/* ---- prepare ---- */
	phase("prepare");
	event(LOG_LEVEL_INFO, NULL, "plan shop: 2 records, 1 database, backend web");
	step("prepare", "dns.check", "shop.test", 240, true, "{\"tsig\":\"accepted\"}");
	step("prepare", "db.check", "main", 800, true, "{\"wal_level\":\"logical\"}");
	step("prepare", "lb.check", "web", 60, true, NULL);
	event(LOG_LEVEL_WARN, "old",
	      "host check: environment variable PAYMENTS_URL missing on new");
	ttl(86400);
	now_ms += 30 * S;
	step("prepare", "ttl.lower", "www.shop.test", 130, true, "{\"from\":86400,\"to\":3600}");
	step("prepare", "ttl.lower", "api.shop.test", 120, true, "{\"from\":86400,\"to\":3600}");
	ttl(3600);
	gate("prepare", "ttl.cutover_served", false,
	     "{\"served\":3600,\"want\":60,\"next_step_at\":\"2026-11-21T08:00:31Z\"}");
	now_ms += 24 * HR;
	step("prepare", "ttl.lower", "www.shop.test", 110, true, "{\"from\":3600,\"to\":300}");
	step("prepare", "ttl.lower", "api.shop.test", 100, true, "{\"from\":3600,\"to\":300}");
	ttl(300);
	gate("prepare", "ttl.cutover_served", false, "{\"served\":300,\"want\":60}");
	now_ms += HR;
	step("prepare", "ttl.lower", "www.shop.test", 90, true, "{\"from\":300,\"to\":60}");
	step("prepare", "ttl.lower", "api.shop.test", 95, true, "{\"from\":300,\"to\":60}");
	ttl(60);
	now_ms += 5 * MN;
	gate("prepare", "ttl.cutover_served", true,
	     "{\"served\":60,\"resolvers\":{\"10.77.0.1:5300\":60},\"since_change_s\":300}");

	/* ---- replicate ---- */
	phase("replicate");
	step("replicate", "schema.copy", "main", 4 * S, true, "{\"tables\":12}");
	step("replicate", "publication.create", "main", 40, true, "{\"name\":\"ferry_pub\"}");
	step("replicate", "subscription.create", "main", 300, true, "{\"name\":\"ferry_sub\"}");
	event(LOG_LEVEL_INFO, "main", "initial sync of 12 tables (2.1 GB) started");
	lag(argc == 3 ? 2 * HR : 6 * HR + 25 * MN, 2.1e9, 25 * MN, 3 * HR + 12 * MN);
	now_ms += 25 * MN;
	event(LOG_LEVEL_INFO, "main", "initial sync done: 12 tables, 8410233 rows");
	gate("replicate", "soak", false, "{\"lag_max_s\":0.3,\"soaked\":\"0s\",\"want\":\"6h\"}");
	if (argc == 3) {
		/* In progress: the soak's samples so far only. */
		journal_close(J);
		return 0;
	}
	now_ms += 3 * HR + 12 * MN;
	event(LOG_LEVEL_WARN, "main", "lag 1.7 s after a bulk UPDATE on orders; soak restarted");
	gate("replicate", "soak", false,
	     "{\"lag_max_s\":1.71,\"soaked\":\"3h12m\",\"want\":\"6h\"}");
	now_ms += 2 * HR + 48 * MN;
	step("replicate", "rowcount.compare", "main", 9 * S, true,
	     "{\"tables\":12,\"equal\":true}");
	gate("replicate", "soak", true,
	     "{\"lag_max_s\":0.31,\"soaked\":\"6h\",\"drift\":false,\"rows_equal\":true}");

	/* ---- validate ---- */
	phase("validate");
	gate("validate", "host.egress", false,
	     "{\"new\":{\"payments.test:443\":\"connection refused\"}}");
	event(LOG_LEVEL_ERROR, "new",
	      "egress payments.test:443 refused from new; hook say: <script>alert('x')</script> "
	      "& fix the firewall");
	now_ms += 20 * MN;
	gate("validate", "host.egress", true, "{\"new\":{\"payments.test:443\":\"ok\"}}");
	gate("validate", "host.env", true, "{\"missing\":[],\"ignored\":[\"HOSTNAME\"]}");
	gate("validate", "host.tls", true, "{\"www.shop.test\":{\"days_left\":63}}");
	gate("validate", "health", true, "{\"https://www.shop.test/healthz\":200}");
	weight(0);
	traffic(10 * MN, 0, 0);
	now_ms += 10 * MN;
	{
		static const double steps[] = { 1, 5, 25 };
		size_t i;

		for (i = 0; i < 3; i++) {
			char ev[96];

			step("validate", "haproxy.weights", "web", 30, true, NULL);
			weight(steps[i]);
			traffic(HR, steps[i], 0);
			now_ms += HR;
			snprintf(ev, sizeof(ev),
			         "{\"weight\":%g,\"err_new\":0.11,\"err_old\":0.12}", steps[i]);
			gate("validate", "split", true, ev);
		}
	}

	/* ---- the first cutover, rolled back ---- */
	cutover("cutover 1", 38, 61);
	lag(9 * MN, 0, 0, 0); /* reverse replication, new -> old */
	traffic(7 * MN, 100, 6 * MN);
	now_ms += 6 * MN + 20 * S;
	event(LOG_LEVEL_ERROR, "web", "trigger error_rate breached on new: 2.4 %% > 1 %% for 30 s");
	gate("cutover", "monitor", false, "{\"error_rate_new\":2.4,\"trigger\":1}");
	phase("rolled_back");
	step("rolled_back", "dns.cas", "www.shop.test", 120, true, "{\"A\":\"10.77.0.2\"}");
	step("rolled_back", "dns.cas", "api.shop.test", 110, true, "{\"A\":\"10.77.0.2\"}");
	step("rolled_back", "haproxy.weights", "web", 35, true, "{\"old\":100,\"new\":0}");
	weight(0);
	step("rolled_back", "db.fence", "main@new", 5, true, NULL);
	step("rolled_back", "reverse.drain", "main", 21, true, "{\"writes_carried_back\":1843}");
	step("rolled_back", "pgbouncer.resume", "main", 3, true, NULL);
	kv_ms("rollback.done_ms", now_ms);
	event(LOG_LEVEL_WARN, "main", "rolled back: 1843 writes made on new carried back to old");
	now_ms += 40 * S;
	traffic(50 * MN, 0, 0);

	/* ---- a second soak and validation, then the second cutover ---- */
	now_ms += 3 * MN;
	phase("replicate");
	lag(2 * HR, 0, 0, 0);
	now_ms += 2 * HR;
	gate("replicate", "soak", true, "{\"lag_max_s\":0.24,\"soaked\":\"2h\"}");
	phase("validate");
	event(LOG_LEVEL_INFO, "new", "fix deployed: connection pool size raised to 40");
	step("validate", "haproxy.weights", "web", 30, true, NULL);
	weight(25);
	traffic(HR, 25, 0);
	now_ms += HR;
	gate("validate", "split", true, "{\"weight\":25,\"err_new\":0.09,\"err_old\":0.12}");
	cutover("cutover 2", 42, 57);
	traffic(40 * MN, 100, 0);
	lag(40 * MN, 0, 0, 0);
	now_ms += 30 * MN;
	gate("cutover", "monitor", true, "{\"error_rate_new\":0.1,\"p99_ms\":118,\"for\":\"30m\"}");

	/* ---- decommission ---- */
	now_ms += 10 * MN;
	phase("decommission");
	step("decommission", "subscription.drop", "main", 200, true, NULL);
	step("decommission", "slot.drop", "main@new", 30, true, NULL);
	step("decommission", "ttl.restore", "www.shop.test", 100, true, "{\"ttl\":3600}");
	step("decommission", "ttl.restore", "api.shop.test", 100, true, "{\"ttl\":3600}");
	ttl(3600);
	step("decommission", "haproxy.drain", "old", 60, true, NULL);
	step("decommission", "hook", "before_decommission", 1500, false,
	     "exit status 1: archive-old.sh: no space left on device");
	event(LOG_LEVEL_WARN, "old", "hook before_decommission failed; old servers left running");
	now_ms += 2 * MN;
	phase("done");
	event(LOG_LEVEL_INFO, NULL, "migration done");
	journal_close(J);
	return 0;
}
