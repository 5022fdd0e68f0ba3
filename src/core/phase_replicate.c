/*
 * phase_replicate.c - phase 2 (DESIGN §1): per database, readiness, then
 * replication started (schema copy, publication, subscription with initial
 * copy), the initial sync followed with progress, then a soak with lag
 * sampled every second into the journal.
 *
 * The gate: every table synced, lag below 1 s over the whole soak window,
 * no apply error, and the row counts equal.  A sample at or above 1 s
 * starts the soak window over; an apply error fails the phase.  Counts are
 * compared under live writes, so a table may differ by what the last
 * second wrote (lag < 1 s): two counts a second apart tell how much that is,
 * and only a larger difference fails.
 *
 * The soak is watched, not waited: a run that is interrupted starts the
 * soak again, so unwatched time never counts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/endpoints.h"
#include "core/engine_internal.h"
#include "core/schedule.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define LAG_LIMIT_MS 1000

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* The copy-time gate, before replication starts: the initial sync (the
 * engine's estimate from the measured copy rate) plus the soak must end
 * before the next cutover window closes, else the plan is refused with the
 * numbers.  Replication already started (a resumed run) is not held. */
static int copy_time_gate(struct engine *e, struct endpoints_db *d, int64_t sync_ms,
                          struct ferry_error *err)
{
	const struct plan_schedule *sc = &e->plan->schedule;
	int64_t now = time_now(), ends, ws, we;
	char sync[32], soak[32], t_end[64] = "?", t_ws[64] = "?", t_we[64] = "?", ev[400];
	bool fits;
	int r;

	if (journal_step_find_done(e->j, "db.replicate_start", d->pd->name, NULL, NULL) == 0)
		return 0;
	r = schedule_sync_fits(&sc->cutover_window, now, sync_ms, sc->replication_soak_ms, &fits,
	                       &ends, &ws, &we, err);
	if (r < 0)
		return r;
	duration_human(sync_ms / 1000 * 1000 + 1000, sync, sizeof(sync));
	duration_human(sc->replication_soak_ms, soak, sizeof(soak));
	schedule_format_local(ends, sc->cutover_window.zone, t_end, sizeof(t_end), NULL);
	schedule_format_local(ws, sc->cutover_window.zone, t_ws, sizeof(t_ws), NULL);
	schedule_format_local(we, sc->cutover_window.zone, t_we, sizeof(t_we), NULL);
	if (fits)
		snprintf(ev, sizeof(ev), "initial sync about %s + soak %s end %s%s%s", sync, soak,
		         t_end, sc->cutover_window.present ? ", before the window closes at " : "",
		         sc->cutover_window.present ? t_we : "");
	else
		snprintf(ev, sizeof(ev),
		         "initial sync about %s + soak %s end %s, after the next cutover window "
		         "(%s to %s) closes",
		         sync, soak, t_end, t_ws, t_we);
	journal_gate_record(e->j, "replicate", "copy_time", fits, ev, NULL);
	if (fits)
		return 0;
	return ferry_error_set(err, FERRY_ECHECK,
	                       "shorten schedule.replication_soak or widen "
	                       "schedule.cutover_window, then run again",
	                       "database %s: refused: %s", d->pd->name, ev);
}

/* Readiness: a failing row stops the phase before anything is made. */
static int readiness(struct engine *e, struct endpoints_db *d, struct ferry_error *err)
{
	struct db_checks c = { 0 };
	char evidence[768] = "";
	size_t i, nfail = 0;
	int r;

	r = d->eng->check(d->h, &c, err);
	if (r < 0)
		goto out;
	for (i = 0; i < c.n; i++) {
		if (c.v[i].status == DB_CHECK_WARN)
			engine_say(e, d->pd->name, "warning: %s", c.v[i].message);
		if (c.v[i].status != DB_CHECK_FAIL)
			continue;
		if (nfail++ == 0)
			snprintf(evidence, sizeof(evidence), "%s: %s", c.v[i].name, c.v[i].message);
	}
	journal_gate_record(e->j, "replicate", "readiness", nfail == 0, nfail ? evidence : "ready",
	                    NULL);
	if (nfail)
		r = ferry_error_set(
		        err, FERRY_ECHECK, "'ferry check PLAN' lists every readiness check",
		        "database %s: not ready for replication: %s", d->pd->name, evidence);
	for (i = 0; r == 0 && i < c.n; i++)
		if (c.v[i].estimate_ms > 0)
			r = copy_time_gate(e, d, c.v[i].estimate_ms, err);
out:
	db_checks_release(&c);
	return r;
}

/* The initial sync per table, for `ferry status --json`: journal key
 * replicate.progress.DB holds [{"table", "state", "ready", "bytes", "rows",
 * "rows_total", "rate", "eta_ms"}...] (rate in bytes/s; -1 unknown). */
static void record_progress(struct engine *e, struct endpoints_db *d, const struct db_progress *p)
{
	json_t *a = json_array();
	char key[160], *text;
	size_t i;

	for (i = 0; i < p->n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s#, s:b, s:I, s:I, s:I, s:I, s:I}",
		                                   "table", p->v[i].name, "state", &p->v[i].state,
		                                   (size_t)1, "ready", p->v[i].ready, "bytes",
		                                   (json_int_t)p->v[i].bytes, "rows",
		                                   (json_int_t)p->v[i].rows, "rows_total",
		                                   (json_int_t)p->v[i].rows_total, "rate",
		                                   (json_int_t)p->v[i].rate, "eta_ms",
		                                   (json_int_t)p->v[i].eta_ms));
	text = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	snprintf(key, sizeof(key), "replicate.progress.%s", d->pd->name);
	if (text)
		journal_set(e->j, key, text, NULL);
	free(text);
}

static int wal_guard(struct engine *e, struct endpoints_db *d, int64_t *last_alarm,
                     struct ferry_error *err)
{
	return engine_wal_guard_db(e, d, DB_FORWARD, last_alarm, err);
}

struct copy_watch {
	struct engine *e;
	struct endpoints_db *d;
	int64_t last_say, last_record, last_guard, last_alarm;
	bool past_limit; /* the WAL guard's limit: the copy was stopped */
};

/* The WAL guard while the copy runs: the slot holds WAL from the copy's
 * start on.  Every 5 s: a sample, an alarm, and past the limit the copy
 * stopped (start() then drops replication, out of the copy's way). */
static int copy_guard(struct copy_watch *w)
{
	struct ferry_error e = { 0 };
	struct db_slot_wal sw;
	int64_t a, l, now = time_mono_ms();
	int v;

	if (now - w->last_guard < 5000)
		return 0;
	w->last_guard = now;
	v = db_wal_verdict(w->d->eng, w->d->h, DB_FORWARD, (int64_t)w->d->pd->wal_alarm_mb << 20,
	                   (int64_t)w->d->pd->wal_limit_mb << 20, &sw, &a, &l, &e);
	if (v >= 0 && sw.retained >= 0) {
		journal_samples_begin(w->e->j, NULL);
		journal_sample_add(w->e->j, "wal_retained_bytes", w->d->pd->name, time_wall_ms(),
		                   (double)sw.retained, NULL);
		journal_samples_commit(w->e->j, NULL);
	}
	if (v == DB_WAL_ALARM && now - w->last_alarm >= 60000) {
		engine_say(w->e, w->d->pd->name,
		           "warning: the replication slot holds back %lld MB of WAL on old during "
		           "the copy (alarm at %lld MB; replication is dropped at %lld MB)",
		           (long long)(sw.retained >> 20), (long long)(a >> 20),
		           (long long)(l >> 20));
		w->last_alarm = now;
	}
	w->past_limit = v == DB_WAL_DROPPED;
	return w->past_limit;
}

/* The parallel copy's progress (db_config.copy_progress): a live line on
 * a terminal (the table copying now, its rate and ETA), a line every 10 s
 * elsewhere, the journal every 2 s for `ferry status --json`. */
static int copy_progress(void *ctx, const struct db_progress *p)
{
	struct copy_watch *w = ctx;
	int64_t bytes = 0, rate = 0, eta = 0, now = time_mono_ms();
	const struct db_table_progress *cur = NULL;
	char left[32] = "?";
	size_t i;

	for (i = 0; i < p->n; i++) {
		bytes += p->v[i].bytes;
		if (p->v[i].state == 'c') {
			rate += p->v[i].rate;
			if (!cur)
				cur = &p->v[i];
			if (p->v[i].eta_ms > eta)
				eta = p->v[i].eta_ms;
		}
	}
	if (eta > 0)
		duration_human(eta / 1000 * 1000 + 1000, left, sizeof(left));
	engine_live(w->e, "%s: copy %zu/%zu tables, %.1f MB, %.1f MB/s%s%s%s%s", w->d->pd->name,
	            p->ready, p->n, (double)bytes / 1e6, (double)rate / 1e6, cur ? ", now " : "",
	            cur ? cur->name : "", cur && eta > 0 ? ", left " : "",
	            cur && eta > 0 ? left : "");
	if (now - w->last_say >= 10000 && !w->e->opts.progress_tty) {
		engine_say(w->e, w->d->pd->name, "copy %zu/%zu tables, %.1f MB", p->ready, p->n,
		           (double)bytes / 1e6);
		w->last_say = now;
	}
	if (now - w->last_record >= 2000 || p->ready == p->n) {
		record_progress(w->e, w->d, p);
		w->last_record = now;
	}
	return copy_guard(w);
}

/* A run after the start: the engine puts back a stream its server
 * forgot (a restarted Redis replica), saying so. */
static int resume(struct engine *e, struct endpoints_db *d, struct ferry_error *err)
{
	int r;

	if (!d->eng->replicate_resume)
		return 0;
	r = d->eng->replicate_resume(d->h, err);
	if (r > 0)
		engine_say(e, d->pd->name,
		           "new no longer replicated from old (restarted?): replication started "
		           "again, with a full sync");
	return r < 0 ? r : 0;
}

static int start(struct engine *e, struct endpoints_db *d, struct ferry_error *err)
{
	struct copy_watch w = {
		.e = e, .d = d, .last_guard = time_mono_ms(), .last_alarm = -60000
	};
	char *ledger = NULL;
	int64_t id;
	int r;

	char key[160], *restart = NULL;

	/* the WAL guard dropped replication: it starts over */
	snprintf(key, sizeof(key), "replicate.restart.%s", d->pd->name);
	if (journal_get(e->j, key, &restart, NULL) < 0 || !restart || strcmp(restart, "1")) {
		free(restart);
		if (journal_step_find_done(e->j, "db.replicate_start", d->pd->name, NULL, NULL) ==
		    0)
			return resume(e, d, err);
	} else {
		free(restart);
	}
	r = engine_step_begin(e, "db.replicate_start", d->pd->name,
	                      d->pd->initial_copy == PLAN_COPY_BUILTIN
	                              ? "schema copy, publication ferry_pub, subscription "
	                                "ferry_sub (table sync)"
	                              : "slot ferry_sub, schema, parallel copy, indexes, "
	                                "subscription ferry_sub",
	                      &id, err);
	if (r < 0)
		return r;
	/* the copy's ledger lives beside the journal: a run that died in the
	 * copy resumes it from there (the step above is not done yet) */
	ledger = xasprintf("%s.copy-%s", e->state, d->pd->name);
	d->cfg.copy_ledger = ledger;
	d->cfg.copy_progress = copy_progress;
	d->cfg.copy_progress_ctx = &w;
	engine_say(e, d->pd->name, "copying the schema and the tables, starting replication");
	r = d->eng->replicate_start(d->h, err);
	d->cfg.copy_progress = NULL;
	d->cfg.copy_ledger = NULL;
	free(ledger);
	if (r < 0 && w.past_limit) {
		/* stopped by the WAL guard: now drop, and say what it costs */
		int64_t last = -60000;
		int g = wal_guard(e, d, &last, err);
		if (g < 0)
			r = g;
	}
	engine_step_done(e, id, "db.replicate_start", r == 0, r == 0 ? "started" : err->msg, NULL);
	if (r == 0)
		journal_set(e->j, key, "0", NULL);
	return r;
}

/* Follows the initial copy until every table streams. */
static int initial_sync(struct engine *e, struct endpoints_db *d, struct ferry_error *err)
{
	int64_t last_say = 0, last_alarm = -60000, last_guard = 0;
	int r;

	for (;;) {
		struct db_progress p = { 0 };
		int64_t bytes = 0;
		size_t i;

		if (time_mono_ms() - last_guard >= 5000) {
			r = wal_guard(e, d, &last_alarm, err);
			if (r < 0)
				return r;
			last_guard = time_mono_ms();
		}
		r = d->eng->progress(d->h, &p, err);
		if (r < 0)
			return r;
		for (i = 0; i < p.n; i++)
			if (p.v[i].bytes > 0)
				bytes += p.v[i].bytes;
		record_progress(e, d, &p);
		if (p.ready == p.n) {
			engine_say(e, d->pd->name, "initial sync done: %zu tables streaming", p.n);
			db_progress_release(&p);
			return 0;
		}
		{
			char bar[31];
			size_t k, fill = p.n ? p.ready * 30 / p.n : 0;

			for (k = 0; k < 30; k++)
				bar[k] = k < fill ? '#' : '.';
			bar[30] = '\0';
			engine_live(e, "%s: initial sync [%s] %zu/%zu tables ready, %.1f MB copied",
			            d->pd->name, bar, p.ready, p.n, (double)bytes / 1e6);
		}
		if (time_mono_ms() - last_say >= 10000 && !e->opts.progress_tty) {
			engine_say(e, d->pd->name, "initial sync %zu/%zu tables ready", p.ready,
			           p.n);
			last_say = time_mono_ms();
		}
		db_progress_release(&p);
		sleep_ms(500);
	}
}

/* DDL run on the source after the schema copy, which logical replication
 * does not carry (DESIGN §1): a drift fails the phase, naming the objects. */
static int drift(struct engine *e, struct endpoints_db *d, struct ferry_error *err)
{
	struct db_schema_diff diff = { 0 };
	char evidence[512] = "";
	size_t i;
	int r;

	if (!d->eng->schema_diff)
		return 0;
	r = d->eng->schema_diff(d->h, &diff, err);
	if (r < 0)
		goto out;
	for (i = 0; i < diff.n && !evidence[0]; i++)
		if (!diff.v[i].warning)
			snprintf(evidence, sizeof(evidence), "%s", diff.v[i].message);
	if (!evidence[0])
		snprintf(evidence, sizeof(evidence), "schema fingerprints equal (%s)",
		         diff.fingerprint_old);
	journal_gate_record(e->j, "replicate", "schema_drift", diff.drift == 0, evidence, NULL);
	if (diff.drift)
		r = ferry_error_set(err, FERRY_ECHECK,
		                    "apply the same DDL on the new database, then 'ferry run' "
		                    "again",
		                    "database %s: schema drift (%zu object%s): %s", d->pd->name,
		                    diff.drift, diff.drift == 1 ? "" : "s", evidence);
out:
	db_schema_diff_release(&diff);
	return r;
}

/* Lag under LAG_LIMIT_MS for the whole soak window. */
#define NO_WORKER_GRACE_MS 30000
static int soak(struct engine *e, struct endpoints_db *d, struct ferry_error *err)
{
	int64_t window = e->plan->schedule.replication_soak_ms, start = time_mono_ms(), tick;
	int64_t drift_at = start; /* schema fingerprints compared every minute */
	int64_t last_alarm = -60000, no_worker_since = 0, unreachable_since = 0;
	bool unknown = false;
	char left[32];
	int r;

	for (tick = start;; tick += 1000) {
		struct db_lag lag = { 0 };
		int64_t wall = time_wall_ms(), now;

		r = wal_guard(e, d, &last_alarm, err);
		if (r == 0)
			r = d->eng->lag(d->h, DB_FORWARD, &lag, err);
		/* a server that does not answer (restarting, say) is waited
		 * for, saying so, up to NO_WORKER_GRACE_MS; the engine opens
		 * its sessions again at the next call */
		if (r == FERRY_EUNREACH) {
			int64_t t = time_mono_ms();
			if (!unreachable_since) {
				unreachable_since = t;
				engine_say(e, d->pd->name,
				           "replication: cannot read the lag (%s); waiting up to "
				           "%lld s for the servers",
				           err ? err->msg : "unreachable",
				           (long long)(NO_WORKER_GRACE_MS / 1000));
			}
			if (t - unreachable_since < NO_WORKER_GRACE_MS) {
				start = t; /* the soak starts over once it can read */
				time_sleep_until_ms(tick + 1000);
				continue;
			}
		}
		if (r < 0)
			return r;
		unreachable_since = 0;
		journal_samples_begin(e->j, NULL);
		journal_sample_add(e->j, "lag_bytes", d->pd->name, wall, (double)lag.bytes, NULL);
		journal_sample_add(e->j, "lag_seconds", d->pd->name, wall, lag.ms / 1000.0, NULL);
		journal_samples_commit(e->j, NULL);
		/* a worker that is not running yet (just created, or in the
		 * server's retry interval after a failed start), or a stream
		 * that may be past the errors counted (recovering: after a
		 * restart of a server, say), is waited for, saying so, up to
		 * NO_WORKER_GRACE_MS; apply errors are not */
		if ((lag.apply_errors == 0 && !lag.worker_running) || lag.recovering) {
			int64_t t = time_mono_ms();
			if (!no_worker_since) {
				no_worker_since = t;
				if (lag.recovering)
					engine_say(
					        e, d->pd->name,
					        "replication: %lld apply errors counted; waiting "
					        "up to %lld s for it to apply past them",
					        (long long)lag.apply_errors,
					        (long long)(NO_WORKER_GRACE_MS / 1000));
				else
					engine_say(e, d->pd->name,
					           "replication: no apply worker yet; waiting up "
					           "to %lld s for it to start",
					           (long long)(NO_WORKER_GRACE_MS / 1000));
			}
			if (t - no_worker_since < NO_WORKER_GRACE_MS) {
				start = t; /* the soak starts once it runs */
				time_sleep_until_ms(tick + 1000);
				continue;
			}
		} else if (lag.worker_running) {
			no_worker_since = 0;
		}
		if ((lag.apply_errors > 0 || !lag.worker_running) && lag.detail[0])
			return ferry_error_set(
			        err, FERRY_ECHECK,
			        "see the servers' logs and fix the cause; 'ferry run' "
			        "resumes",
			        "database %s: replication: %s", d->pd->name, lag.detail);
		if (lag.apply_errors > 0 || !lag.worker_running)
			return ferry_error_set(
			        err, FERRY_ECHECK,
			        "see the new server's log (pg_stat_subscription_stats) and fix the "
			        "cause; 'ferry run' resumes",
			        "database %s: replication %s", d->pd->name,
			        lag.apply_errors ? "reports apply errors" : "has no apply worker");
		now = time_mono_ms();
		if (now >= drift_at) {
			r = drift(e, d, err);
			if (r < 0)
				return r;
			drift_at = now + 60000;
		}
		if (lag.ms >= LAG_LIMIT_MS) {
			engine_say(e, d->pd->name, "lag %lld ms >= 1 s: the soak starts over",
			           (long long)lag.ms);
			start = now;
		} else if (lag.ms < 0 && lag.bytes != 0) {
			/* behind, and the stream has not yet said how far (no
			 * position confirmed yet): not a healthy second */
			if (!unknown)
				engine_say(e, d->pd->name,
				           "lag not known yet (%lld bytes behind): the soak waits "
				           "for the stream's first confirmed position",
				           (long long)lag.bytes);
			unknown = true;
			start = now;
		} else {
			unknown = false;
		}
		if (now - start >= window) {
			r = drift(e, d, err); /* and once more at the end */
			if (r < 0)
				return r;
			break;
		}
		duration_human(window - (now - start), left, sizeof(left));
		engine_live(e, "%s: soak, lag %lld ms, %lld bytes, %s left", d->pd->name,
		            (long long)lag.ms, (long long)lag.bytes, left);
		time_sleep_until_ms(tick + 1000);
	}
	journal_gate_record(e->j, "replicate", "soak", true, "lag < 1 s over the soak window",
	                    NULL);
	return 0;
}

/* Counts equal, or apart by no more than one second of writes. */
static int counts(struct engine *e, struct endpoints_db *d, struct ferry_error *err)
{
	struct db_verify a = { 0 }, b = { 0 };
	char evidence[512] = "";
	size_t i, bad = 0;
	int r;

	r = d->eng->verify(d->h, false, &a, err);
	if (r == 0 && !a.equal) {
		sleep_ms(1000);
		r = d->eng->verify(d->h, d->pd->checksum, &b, err);
	}
	if (r < 0)
		goto out;
	for (i = 0; !a.equal && i < b.n && i < a.n; i++) {
		int64_t moved = llabs(b.v[i].rows_old - a.v[i].rows_old) + 1;
		int64_t apart = llabs(b.v[i].rows_old - b.v[i].rows_new);

		if (b.v[i].equal || apart <= moved)
			continue;
		if (bad++ == 0)
			snprintf(evidence, sizeof(evidence), "%s: %lld rows on old, %lld on new",
			         b.v[i].name, (long long)b.v[i].rows_old,
			         (long long)b.v[i].rows_new);
	}
	if (!bad)
		snprintf(evidence, sizeof(evidence), "%zu tables, row counts equal%s", a.n,
		         a.equal ? "" : " within one second of writes");
	journal_gate_record(e->j, "replicate", "row_counts", bad == 0, evidence, NULL);
	engine_say(e, d->pd->name, "%s", evidence);
	if (bad)
		r = ferry_error_set(err, FERRY_ECHECK,
		                    "compare the two databases; replication may have skipped rows",
		                    "database %s: %zu table%s differ: %s", d->pd->name, bad,
		                    bad == 1 ? "" : "s", evidence);
out:
	db_verify_release(&a);
	db_verify_release(&b);
	return r;
}

int phase_replicate(struct engine *e, struct ferry_error *err)
{
	size_t i;
	int r = 0;

	for (i = 0; i < e->plan->ndatabases && r >= 0; i++) {
		struct endpoints_db *d = NULL;

		r = endpoints_db_open(e->plan, i, &d, err);
		if (r == 0)
			r = readiness(e, d, err);
		if (r == 0)
			r = start(e, d, err);
		if (r == 0)
			r = initial_sync(e, d, err);
		if (r == 0)
			r = soak(e, d, err);
		if (r == 0)
			r = counts(e, d, err);
		endpoints_db_close(d);
	}
	return r < 0 ? r : PHASE_PASSED;
}
