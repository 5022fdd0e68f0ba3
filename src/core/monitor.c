/*
 * monitor.c - watching the new side for a while: every second, the load
 * balancer's counters (requests, 5xx, response time, old and new side by
 * side), ferry's own health probe of the new address under its real name,
 * and the rollback triggers over a sliding window (core/trigger.h).
 *
 * The validate phase holds each traffic step with it; the cutover phase
 * watches the monitor period with it.  Every observation goes to the
 * journal as samples (rps, err_pct, rtime_ms per side, health_ms), so that
 * `ferry status` and `ferry report` show what the decision was based on.
 *
 * The loop sleeps until the next whole second on the monotonic clock, not a
 * fixed second after the work, so its rate does not drift.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/endpoints.h"
#include "core/engine_internal.h"
#include "core/support.h"
#include "core/trigger.h"
#include "hosts/http.h"
#include "hosts/prometheus.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

int engine_traffic(struct engine *e, struct ferry_error *err)
{
	const struct plan_traffic *t = &e->plan->traffic;
	struct traffic_options o = TRAFFIC_OPTIONS_INIT;

	if (e->lb)
		return 0;
	e->lb_drv = traffic_driver_find(support_traffic_driver(t));
	if (!e->lb_drv)
		return ferry_error_set(err, FERRY_EINVAL, NULL, "traffic: unknown balancer '%s'",
		                       t->via);
	return e->lb_drv->open(t->admin, &o, &e->lb, err);
}

int engine_split(struct engine *e, double pct, const char *why, struct ferry_error *err)
{
	const struct plan_traffic *t = &e->plan->traffic;
	char *detail, result[64];
	double eff = pct;
	int64_t id;
	int r;

	if (!strcmp(t->via, "dns"))
		return engine_dns_split(e, pct, why, err);
	detail = engine_detail("{s:f, s:s}", "pct", pct, "why", why);
	r = engine_step_begin(e, "traffic.split", t->backend, detail, &id, err);
	free(detail);
	if (r < 0)
		return r;
	r = engine_traffic(e, err);
	if (r == 0)
		r = traffic_split(e->lb_drv, e->lb, t->backend, t->server_old, t->server_new, pct,
		                  &eff, err);
	if (r < 0) {
		engine_step_done(e, id, "traffic.split", false, err->msg, NULL);
		return r;
	}
	journal_sample_add(e->j, "weight_new_pct", t->backend, time_wall_ms(), eff, NULL);
	engine_say(e, t->backend, "%g %% of requests to %s (%s)", eff, t->server_new, why);
	snprintf(result, sizeof(result), "effective %g %%", eff);
	return engine_step_done(e, id, "traffic.split", true, result, err);
}

void engine_way_back(struct engine *e)
{
	const struct plan *p = e->plan;
	int64_t now = time_mono_ms(), wall = time_wall_ms();
	size_t i;

	if (!p->ndatabases || now < e->wb_next_ms)
		return;
	e->wb_next_ms = now + 5000;
	if (!e->wb) {
		e->wb = xcalloc(p->ndatabases + 1, sizeof(*e->wb));
		e->wb_broken = xcalloc(p->ndatabases + 1, sizeof(*e->wb_broken));
	}
	for (i = 0; i < p->ndatabases; i++) {
		const char *name = p->databases[i].name;
		struct ferry_error err = { 0 };
		struct db_lag lag;
		char key[160], why[600];
		bool broken;
		int r = 0;

		if (!e->wb[i]) {
			r = endpoints_db_open(p, i, &e->wb[i], &err);
			if (r == 0)
				e->nwb = i + 1 > e->nwb ? i + 1 : e->nwb;
		}
		if (r == 0)
			r = e->wb[i]->eng->lag(e->wb[i]->h, DB_REVERSE, &lag, &err);
		if (r < 0) {
			snprintf(why, sizeof(why), "cannot tell: %s", err.msg);
			/* a connection lost is opened again next time */
			endpoints_db_close(e->wb[i]);
			e->wb[i] = NULL;
		} else if (lag.recovering && lag.worker_running) {
			snprintf(why, sizeof(why),
			         "recovering: %lld apply errors counted, not yet applied past; "
			         "%lld bytes behind",
			         (long long)lag.apply_errors, (long long)lag.bytes);
		} else if (!lag.worker_running || lag.apply_errors > 0) {
			snprintf(why, sizeof(why),
			         "broken: %s, %lld apply errors, %lld bytes behind",
			         lag.worker_running ? "the reverse apply runs"
			                            : "no reverse apply worker",
			         (long long)lag.apply_errors, (long long)lag.bytes);
		} else {
			snprintf(why, sizeof(why), "ok");
			journal_samples_begin(e->j, NULL);
			journal_sample_add(e->j, "reverse_lag_ms", name, wall, (double)lag.ms,
			                   NULL);
			journal_sample_add(e->j, "reverse_lag_bytes", name, wall, (double)lag.bytes,
			                   NULL);
			journal_samples_commit(e->j, NULL);
		}
		broken = strcmp(why, "ok") != 0;
		snprintf(key, sizeof(key), "wayback.%s", name);
		journal_set(e->j, key, why, NULL);
		if (broken != e->wb_broken[i]) {
			if (broken)
				engine_say(e, name,
				           "the way back is %s; a rollback now would be refused or "
				           "lose writes: fix it (ferry status shows it)",
				           why);
			else
				engine_say(e, name, "the way back works again");
			e->wb_broken[i] = broken;
		}
	}
}

/* One health probe of every checks.health URL against the new address. */
static void probe_health(struct engine *e, struct trigger_window *w, int64_t now_ms,
                         double *latency)
{
	const struct plan_checks *c = &e->plan->checks;
	char *ca = plan_path(e->plan, c->tls.ca_file);
	size_t i;

	*latency = -1;
	for (i = 0; i < c->nhealth; i++) {
		struct hosts_http_result res = { 0 };
		struct ferry_error err = { 0 };
		bool ok;

		if (hosts_http_check(c->health[i].url, e->plan->host_new.address, ca, 1000, 2000,
		                     &res, &err) < 0)
			res.status = 0;
		ok = res.status == c->health[i].status;
		trigger_add_health(w, now_ms, ok);
		if (res.status) {
			trigger_add_latency(w, now_ms, (double)res.latency_ms);
			*latency = (double)res.latency_ms;
		}
	}
	free(ca);
}

static void swap(struct traffic_stats *a, struct traffic_stats *b)
{
	struct traffic_stats t = *a;

	*a = *b;
	*b = t;
}

/* Adds what the new host's own balancer served (clients that followed the
 * DNS change reach it directly) to the new side of pair. */
static void add_new_side(struct engine *e, const struct traffic_stats *a,
                         const struct traffic_stats *b, struct traffic_pair *pair)
{
	struct traffic_sample s;
	int64_t req, errs;

	if (!e->lb_new || traffic_sample_between(a, b, e->plan->traffic.server_new, &s, NULL) < 0)
		return;
	req = pair->new.requests + s.requests;
	errs = pair->new.errors + s.errors;
	pair->new.rps += s.rps;
	if (req > 0) {
		pair->new.rtime_ms = (pair->new.rtime_ms *(double)pair->new.requests +
		                      s.rtime_ms *(double)s.requests) /
		                     (double)req;
		pair->new.err_pct = 100.0 * (double)errs / (double)req;
	}
	pair->new.requests = req;
	pair->new.errors = errs;
}

/* One second's observation into the triggers and the journal; share is
 * the realised share of new since the watch began (< 0: none yet). */
static void record(struct engine *e, struct trigger_window *w, int64_t wall,
                   const struct traffic_pair *pair, double share)
{
	trigger_add_requests(w, wall, pair->new.requests, pair->new.errors, pair->old.requests,
	                     pair->old.errors);
	trigger_set_lb_rtime(w, pair->new.rtime_ms, pair->old.rtime_ms);
	journal_samples_begin(e->j, NULL);
	journal_sample_add(e->j, "rps", "new", wall, pair->new.rps, NULL);
	journal_sample_add(e->j, "rps", "old", wall, pair->old.rps, NULL);
	journal_sample_add(e->j, "err_pct", "new", wall, pair->new.err_pct, NULL);
	journal_sample_add(e->j, "err_pct", "old", wall, pair->old.err_pct, NULL);
	journal_sample_add(e->j, "rtime_ms", "new", wall, pair->new.rtime_ms, NULL);
	journal_sample_add(e->j, "rtime_ms", "old", wall, pair->old.rtime_ms, NULL);
	/* Measured at the backends, beside the requested weight_new_pct: with
	 * weighted DNS, resolvers' caches make the two differ. */
	if (share >= 0)
		journal_sample_add(e->j, "share_new_pct", e->plan->traffic.backend, wall, share,
		                   NULL);
	journal_samples_commit(e->j, NULL);
}

int engine_monitor(struct engine *e, int64_t duration_ms, const char *label, char *evidence,
                   size_t evlen, struct ferry_error *err)
{
	const struct plan_traffic *t = &e->plan->traffic;
	struct trigger_result res[TRIGGER_NKINDS];
	struct traffic_stats prev, cur, prev2, cur2;
	const struct plan_rollback *rb = &e->plan->rollback;
	struct trigger_config cfg;
	struct trigger_window w;
	struct buf prom_url;
	int64_t start = time_mono_ms(), tick, wall, seen_new = 0, seen_all = 0;
	double share = -1;
	bool have_prev = false, blind;
	char why[300];
	int k, r = 1;

	/* The API's URL may be kept in a file or a variable (it may hold a
	 * token); one that cannot be read leaves the trigger unjudged, as a
	 * failed query does, and says so once. */
	buf_init(&prom_url, 64 << 10);
	if (rb->prometheus.present) {
		struct ferry_error perr = { 0 };

		if (rb->prometheus.url)
			buf_adds(&prom_url, rb->prometheus.url);
		else if (plan_secret_read(e->plan, &rb->prometheus.url_ref, &prom_url, &perr) < 0)
			engine_say(e, "prometheus",
			           "the query's URL cannot be read (%s): the "
			           "prometheus trigger is not judged",
			           perr.msg);
	}
	trigger_config_from_plan(&cfg, rb);
	trigger_window_init(&w, &cfg);
	traffic_stats_init(&prev);
	traffic_stats_init(&cur);
	traffic_stats_init(&prev2);
	traffic_stats_init(&cur2);
	if (t->present) {
		struct traffic_options o = TRAFFIC_OPTIONS_INIT;

		r = engine_traffic(e, err);
		if (r == 0 && t->admin_new && !e->lb_new)
			r = e->lb_drv->open(t->admin_new, &o, &e->lb_new, err);
		if (r < 0)
			goto out;
	}
	for (tick = start; tick - start < duration_ms; tick += 1000) {
		struct traffic_pair pair = { 0 };
		double health = -1;
		char left[32], htext[32], stext[32];

		time_sleep_until_ms(tick + 1000);
		wall = time_wall_ms();
		blind = false;
		if (t->present) {
			struct ferry_error se = { 0 };
			int rs = e->lb_drv->stats(e->lb, t->backend, &cur, &se);
			if (rs == 0 && e->lb_new)
				rs = e->lb_drv->stats(e->lb_new, t->backend, &cur2, &se);
			if (rs < 0) {
				/* cannot tell: counted, and too many in a row breach */
				blind = true;
				snprintf(why, sizeof(why), "balancer stats: %s", se.msg);
				have_prev = false;
			} else {
				if (have_prev &&
				    traffic_sample_pair(&prev, &cur, t->server_old, t->server_new,
				                        &pair, NULL) == 0) {
					add_new_side(e, &prev2, &cur2, &pair);
					seen_new += pair.new.requests;
					seen_all += pair.new.requests + pair.old.requests;
					share = seen_all ? 100.0 * (double)seen_new /
					                           (double)seen_all
					                 : -1;
					record(e, &w, wall, &pair, share);
				}
				swap(&prev, &cur);
				swap(&prev2, &cur2);
				have_prev = true;
			}
		}
		probe_health(e, &w, wall, &health);
		if (prom_url.len) {
			double v;

			struct ferry_error pe = { 0 };

			/* A failed query leaves the last value to age out of the
			 * window, and the second is blind */
			if (prometheus_query(prom_url.data, rb->prometheus.query, 800, &v, &pe) ==
			    0) {
				trigger_set_prometheus(&w, wall, v);
				journal_sample_add(e->j, "prometheus", "query", wall, v, NULL);
			} else {
				blind = true;
				snprintf(why, sizeof(why), "prometheus: %s", pe.msg);
			}
		}
		trigger_note_blind(&w, blind, why);
		if (e->watch_way_back)
			engine_way_back(e);
		if (health >= 0)
			journal_sample_add(e->j, "health_ms", "new", wall, health, NULL);
		trigger_evaluate(&w, wall, res);
		for (k = 0; k < TRIGGER_NKINDS; k++) {
			if (!res[k].breached)
				continue;
			snprintf(evidence, evlen, "%s", res[k].evidence);
			r = 0;
			goto out;
		}
		duration_human(duration_ms - (tick + 1000 - start), left, sizeof(left));
		/* no health check: say so, never "-1 ms" */
		if (health >= 0)
			snprintf(htext, sizeof(htext), "%.0f ms", health);
		else
			snprintf(htext, sizeof(htext), "not checked");
		if (share >= 0)
			snprintf(stext, sizeof(stext), "%.1f%%", share);
		else
			snprintf(stext, sizeof(stext), "unknown");
		engine_live(
		        e,
		        "%s: %s left | new %.0f rps %.1f%% 5xx %.0f ms | old %.0f rps %.1f%% 5xx "
		        "%.0f ms | realised %s to new | health %s",
		        label, left, pair.new.rps, pair.new.err_pct, pair.new.rtime_ms,
		        pair.old.rps, pair.old.err_pct, pair.old.rtime_ms, stext, htext);
	}
	r = 1;
out:
	traffic_stats_release(&prev);
	traffic_stats_release(&cur);
	traffic_stats_release(&prev2);
	traffic_stats_release(&cur2);
	trigger_window_release(&w);
	buf_release_secret(&prom_url);
	return r;
}
