/*
 * trigger.c - the rollback triggers; the decisions are documented in
 * trigger.h.  Request counts live in a ring of per-second buckets, one per
 * second of the window, recycled when a bucket's second has passed;
 * latencies in a ring of timestamped samples from which the p99 of the
 * window is computed exactly (a sorted copy) when asked.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/trigger.h"
#include "util/mem.h"

void trigger_config_init(struct trigger_config *c)
{
	memset(c, 0, sizeof(*c));
	c->error_rate_pct = -1;
	c->latency_p99_ms = -1;
	c->health_failures = -1;
	c->prometheus_set = false;
	c->window_ms = TRIGGER_WINDOW_MS_DEFAULT;
	c->min_requests = TRIGGER_MIN_REQUESTS_DEFAULT;
	c->min_latency_samples = TRIGGER_MIN_LATENCY_SAMPLES_DEFAULT;
	c->latency_ring = TRIGGER_LATENCY_RING_DEFAULT;
	c->blind_seconds = TRIGGER_BLIND_SECONDS_DEFAULT;
}

void trigger_config_from_plan(struct trigger_config *c, const struct plan_rollback *rb)
{
	trigger_config_init(c);
	if (!rb || !rb->present)
		return;
	c->error_rate_pct = rb->error_rate;
	c->latency_p99_ms = rb->latency_p99_ms;
	c->health_failures = rb->health_failures;
	if (rb->prometheus.present) {
		c->prometheus_set = true;
		c->prometheus_limit = rb->prometheus.threshold;
	}
}

void trigger_window_init(struct trigger_window *w, const struct trigger_config *cfg)
{
	struct trigger_config def;

	trigger_config_init(&def);
	memset(w, 0, sizeof(*w));
	w->cfg = *cfg;
	if (w->cfg.window_ms <= 0)
		w->cfg.window_ms = def.window_ms;
	if (w->cfg.latency_ring == 0)
		w->cfg.latency_ring = def.latency_ring;
	if (w->cfg.min_latency_samples == 0)
		w->cfg.min_latency_samples = 1;
	w->nbuckets = (size_t)((w->cfg.window_ms + 999) / 1000);
	w->buckets = xcalloc(w->nbuckets, sizeof(*w->buckets));
	for (size_t i = 0; i < w->nbuckets; i++)
		w->buckets[i].second = INT64_MIN;
	w->lat = xcalloc(w->cfg.latency_ring, sizeof(*w->lat));
}

void trigger_window_release(struct trigger_window *w)
{
	free(w->buckets);
	free(w->lat);
	memset(w, 0, sizeof(*w));
}

void trigger_add_requests(struct trigger_window *w, int64_t t_ms, int64_t new_req, int64_t new_5xx,
                          int64_t old_req, int64_t old_5xx)
{
	int64_t sec = t_ms / 1000;
	struct trigger_bucket *b;

	if (t_ms < 0)
		return;
	b = &w->buckets[(size_t)(sec % (int64_t)w->nbuckets)];
	if (b->second != sec) {
		memset(b, 0, sizeof(*b));
		b->second = sec;
	}
	if (new_req > 0)
		b->new_req += new_req;
	if (new_5xx > 0)
		b->new_5xx += new_5xx;
	if (old_req > 0)
		b->old_req += old_req;
	if (old_5xx > 0)
		b->old_5xx += old_5xx;
}

void trigger_add_latency(struct trigger_window *w, int64_t t_ms, double ms)
{
	size_t cap = w->cfg.latency_ring;

	if (!(ms >= 0)) /* also NaN */
		return;
	w->lat[(w->lat_head + w->lat_n) % cap] = (struct trigger_sample){ t_ms, ms };
	if (w->lat_n < cap)
		w->lat_n++;
	else
		w->lat_head = (w->lat_head + 1) % cap;
}

void trigger_add_health(struct trigger_window *w, int64_t t_ms, bool ok)
{
	if (ok) {
		w->health_consecutive = 0;
		return;
	}
	w->health_consecutive++;
	w->health_last_fail_ms = t_ms;
}

void trigger_set_prometheus(struct trigger_window *w, int64_t t_ms, double value)
{
	w->prom_have = true;
	w->prom_value = value;
	w->prom_at_ms = t_ms;
}

void trigger_note_blind(struct trigger_window *w, bool blind, const char *why)
{
	if (!blind) {
		w->blind_consecutive = 0;
		return;
	}
	w->blind_consecutive++;
	snprintf(w->blind_why, sizeof(w->blind_why), "%s", why ? why : "");
}

void trigger_set_lb_rtime(struct trigger_window *w, double new_ms, double old_ms)
{
	w->rtime_have = true;
	w->rtime_new_ms = new_ms;
	w->rtime_old_ms = old_ms;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double trigger_percentile(double *v, size_t n, double q)
{
	size_t rank;

	if (n == 0)
		return 0;
	xqsort(v, n, sizeof(*v), cmp_double);
	/* nearest rank: ceil(q/100 * n), 1-based */
	rank = (size_t)ceil(q / 100.0 * (double)n - 1e-9);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

const char *trigger_kind_name(enum trigger_kind k)
{
	switch (k) {
	case TRIGGER_ERROR_RATE: return "error_rate";
	case TRIGGER_LATENCY_P99: return "latency_p99";
	case TRIGGER_HEALTH_FAILURES: return "health_failures";
	case TRIGGER_PROMETHEUS: return "prometheus";
	case TRIGGER_BLIND: return "blind";
	case TRIGGER_NKINDS: break;
	}
	return "?";
}

/* "10 s", "1.5 s" */
static void fmt_window(int64_t ms, char *out, size_t len)
{
	if (ms % 1000 == 0)
		snprintf(out, len, "%lld s", (long long)(ms / 1000));
	else
		snprintf(out, len, "%.1f s", (double)ms / 1000.0);
}

static void eval_error_rate(const struct trigger_window *w, int64_t now_ms, const char *win,
                            struct trigger_result *r)
{
	int64_t now_s = now_ms / 1000, from_s = now_s - (int64_t)w->nbuckets;
	int64_t nr = 0, n5 = 0, or_ = 0, o5 = 0;
	double old_pct;

	r->threshold = w->cfg.error_rate_pct;
	for (size_t i = 0; i < w->nbuckets; i++) {
		const struct trigger_bucket *b = &w->buckets[i];

		if (b->second > from_s && b->second <= now_s) {
			nr += b->new_req;
			n5 += b->new_5xx;
			or_ += b->old_req;
			o5 += b->old_5xx;
		}
	}
	old_pct = or_ ? 100.0 * (double)o5 / (double)or_ : -1;
	r->baseline = old_pct;
	if (nr < w->cfg.min_requests || nr == 0) {
		snprintf(r->evidence, sizeof(r->evidence),
		         "error rate on new not judged: %lld requests over the last %s, fewer than "
		         "the %lld needed (threshold %g %%)",
		         (long long)nr, win, (long long)w->cfg.min_requests, r->threshold);
		return;
	}
	r->judged = true;
	r->value = 100.0 * (double)n5 / (double)nr;
	r->breached = r->value > r->threshold;
	{
		char old[64];

		if (old_pct < 0)
			snprintf(old, sizeof(old), "old: no requests");
		else
			snprintf(old, sizeof(old), "old %.1f %%", old_pct);
		snprintf(r->evidence, sizeof(r->evidence),
		         "error rate on new %.1f %% (%lld of %lld) over the last %s (%s) %s %g %%",
		         r->value, (long long)n5, (long long)nr, win, old,
		         r->breached ? ">" : "<=", r->threshold);
	}
}

static void eval_latency(const struct trigger_window *w, int64_t now_ms, const char *win,
                         struct trigger_result *r)
{
	size_t cap = w->cfg.latency_ring, n = 0;
	double *v = xmalloc((w->lat_n ? w->lat_n : 1) * sizeof(*v));
	char lb[96] = "";

	r->threshold = (double)w->cfg.latency_p99_ms;
	for (size_t i = 0; i < w->lat_n; i++) {
		const struct trigger_sample *s = &w->lat[(w->lat_head + i) % cap];

		if (s->t_ms > now_ms - w->cfg.window_ms && s->t_ms <= now_ms)
			v[n++] = s->ms;
	}
	if (w->rtime_have) {
		r->baseline = w->rtime_old_ms;
		snprintf(lb, sizeof(lb), "; haproxy mean rtime new %.0f ms, old %.0f ms",
		         w->rtime_new_ms, w->rtime_old_ms);
	}
	if (n < w->cfg.min_latency_samples) {
		snprintf(r->evidence, sizeof(r->evidence),
		         "latency p99 on new not judged: %zu samples over the last %s, fewer than "
		         "the %zu needed (threshold %g ms%s)",
		         n, win, w->cfg.min_latency_samples, r->threshold, lb);
		free(v);
		return;
	}
	r->judged = true;
	r->value = trigger_percentile(v, n, 99.0);
	r->breached = r->value > r->threshold;
	snprintf(r->evidence, sizeof(r->evidence),
	         "latency p99 on new %.0f ms over the last %s (%zu samples%s) %s %g ms", r->value,
	         win, n, lb, r->breached ? ">" : "<=", r->threshold);
	free(v);
}

static void eval_health(const struct trigger_window *w, struct trigger_result *r)
{
	/* a threshold of 0 would breach with no failure at all: read it as 1 */
	int limit = w->cfg.health_failures > 0 ? w->cfg.health_failures : 1;

	r->threshold = limit;
	r->judged = true;
	r->value = w->health_consecutive;
	r->breached = w->health_consecutive >= limit;
	snprintf(r->evidence, sizeof(r->evidence),
	         "%d consecutive health check failures on new %s %d", w->health_consecutive,
	         r->breached ? ">=" : "<", limit);
}

static void eval_prometheus(const struct trigger_window *w, int64_t now_ms, const char *win,
                            struct trigger_result *r)
{
	r->threshold = w->cfg.prometheus_limit;
	if (!w->prom_have || w->prom_at_ms <= now_ms - w->cfg.window_ms) {
		snprintf(r->evidence, sizeof(r->evidence),
		         "prometheus query not judged: no value over the last %s (threshold %g)",
		         win, r->threshold);
		return;
	}
	r->judged = true;
	r->value = w->prom_value;
	r->breached = r->value > r->threshold;
	snprintf(r->evidence, sizeof(r->evidence), "prometheus query = %g %s %g", r->value,
	         r->breached ? ">" : "<=", r->threshold);
}

static void eval_blind(const struct trigger_window *w, struct trigger_result *r)
{
	r->threshold = w->cfg.blind_seconds;
	r->judged = true;
	r->value = w->blind_consecutive;
	r->breached = w->blind_consecutive >= w->cfg.blind_seconds;
	if (w->blind_consecutive)
		snprintf(r->evidence, sizeof(r->evidence),
		         "cannot tell for %d s in a row (%s) %s %d s", w->blind_consecutive,
		         w->blind_why, r->breached ? ">=" : "<", w->cfg.blind_seconds);
	else
		snprintf(r->evidence, sizeof(r->evidence), "every metric read");
}

int trigger_evaluate(const struct trigger_window *w, int64_t now_ms,
                     struct trigger_result out[TRIGGER_NKINDS])
{
	char win[32];
	int breached = 0;

	fmt_window(w->cfg.window_ms, win, sizeof(win));
	for (int k = 0; k < TRIGGER_NKINDS; k++) {
		struct trigger_result *r = &out[k];

		memset(r, 0, sizeof(*r));
		r->kind = (enum trigger_kind)k;
		r->baseline = -1;
		switch (r->kind) {
		case TRIGGER_ERROR_RATE: r->set = w->cfg.error_rate_pct >= 0; break;
		case TRIGGER_LATENCY_P99: r->set = w->cfg.latency_p99_ms >= 0; break;
		case TRIGGER_HEALTH_FAILURES: r->set = w->cfg.health_failures >= 0; break;
		case TRIGGER_PROMETHEUS: r->set = w->cfg.prometheus_set; break;
		case TRIGGER_BLIND:
			/* only where there is something to be blind to */
			r->set = w->cfg.blind_seconds > 0 &&
			         (w->cfg.error_rate_pct >= 0 || w->cfg.latency_p99_ms >= 0 ||
			          w->cfg.health_failures >= 0 || w->cfg.prometheus_set);
			break;
		case TRIGGER_NKINDS: break;
		}
		if (!r->set) {
			snprintf(r->evidence, sizeof(r->evidence), "%s: not set in the plan",
			         trigger_kind_name(r->kind));
			continue;
		}
		switch (r->kind) {
		case TRIGGER_ERROR_RATE: eval_error_rate(w, now_ms, win, r); break;
		case TRIGGER_LATENCY_P99: eval_latency(w, now_ms, win, r); break;
		case TRIGGER_HEALTH_FAILURES: eval_health(w, r); break;
		case TRIGGER_PROMETHEUS: eval_prometheus(w, now_ms, win, r); break;
		case TRIGGER_BLIND: eval_blind(w, r); break;
		case TRIGGER_NKINDS: break;
		}
		if (r->breached)
			breached++;
	}
	return breached;
}
