/*
 * trigger.h - the rollback triggers (the plan's rollback.when): decide from
 * a window of observations whether the new side is failing.
 *
 * Pure: no I/O and no clock; the caller feeds observations with their
 * monotonic time and asks for a verdict at a given time.  The validate
 * phase (each split step) and the cutover's monitor period both do
 *
 *	struct trigger_config cfg;
 *	struct trigger_window w;
 *	trigger_config_from_plan(&cfg, &plan->rollback);
 *	trigger_window_init(&w, &cfg);
 *	every second:
 *		trigger_add_requests(&w, now, pair.new.requests, pair.new.errors,
 *		                     pair.old.requests, pair.old.errors);
 *		trigger_add_latency(&w, now, probe_ms);     per health probe
 *		trigger_add_health(&w, now, probe_ok);      per health probe
 *		trigger_set_lb_rtime(&w, new_rtime, old_rtime);
 *		if (trigger_evaluate(&w, now, res) > 0) roll back, journal res[].evidence
 *	trigger_window_release(&w);
 *
 * Decisions (each a documented default in struct trigger_config):
 *  - Window: the last 10 s.  Observations older than that are forgotten.
 *  - Error rate: the 5xx share of the new side's responses in the window.
 *    It is judged only once the new side served at least 20 requests in
 *    the window, so 1 failure out of 2 requests (50 %) cannot roll back a
 *    1 % split; below that the result says "not judged".  It breaches
 *    only when the NEW side is above the threshold; the old side's rate is
 *    reported for context (a shared cause, e.g. the database, shows as
 *    both high) but never prevents or causes a breach.
 *  - Strictness: rates and latencies breach when strictly ABOVE the
 *    threshold ("error_rate: 1%" tolerates exactly 1 %); the health count
 *    breaches when it REACHES the threshold ("health_failures: 3" rolls
 *    back on the third consecutive failure).
 *  - Latency p99: exact on the window, nearest-rank (the smallest sample
 *    with at least 99 % of the samples at or below it), over a ring of the
 *    last 4096 samples (ferry's health probes, or any other per-request
 *    latencies).  With fewer than 100 samples that is the window's maximum,
 *    which errs towards rolling back; at least 5 samples are needed to
 *    judge.  HAProxy's rtime (a mean over its last 1024 requests, not a
 *    percentile) is reported beside it for context only.
 *  - Health failures: consecutive; one success resets the count, so
 *    fail, fail, ok, fail is 1, not 3.  Not windowed.
 *  - Prometheus: the latest value, if taken within the window, breaches
 *    when above its threshold; an older value is "not judged".
 *  - A trigger the plan does not set (a field < 0) is never judged and
 *    never breaches.
 *  - Cannot tell: a second in which a metric a set trigger needs could not
 *    be read (the balancer's stats, the Prometheus query failed) is blind
 *    (trigger_note_blind); blind_seconds of them in a row breach
 *    ("blind"), with the last reason: not knowing is not health.  One
 *    second that could be read resets the count.
 *
 * Ownership: struct trigger_window owns its rings (trigger_window_release).
 */
#ifndef FERRY_CORE_TRIGGER_H
#define FERRY_CORE_TRIGGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan/plan.h"

#define TRIGGER_WINDOW_MS_DEFAULT           10000
#define TRIGGER_MIN_REQUESTS_DEFAULT        20
#define TRIGGER_MIN_LATENCY_SAMPLES_DEFAULT 5
#define TRIGGER_LATENCY_RING_DEFAULT        4096
#define TRIGGER_BLIND_SECONDS_DEFAULT       10

enum trigger_kind {
	TRIGGER_ERROR_RATE,
	TRIGGER_LATENCY_P99,
	TRIGGER_HEALTH_FAILURES,
	TRIGGER_PROMETHEUS,
	TRIGGER_BLIND,
	TRIGGER_NKINDS
};

struct trigger_config {
	double error_rate_pct;   /* < 0: not set */
	int64_t latency_p99_ms;  /* < 0: not set */
	int health_failures;     /* < 0: not set */
	double prometheus_limit; /* used when prometheus_set */
	bool prometheus_set;
	int64_t window_ms;          /* > 0 */
	int64_t min_requests;       /* for the error rate */
	size_t min_latency_samples; /* for the p99 */
	size_t latency_ring;        /* samples kept */
	int blind_seconds;          /* consecutive blind seconds that breach */
};

struct trigger_result {
	enum trigger_kind kind;
	bool set;      /* the plan asks for this trigger */
	bool judged;   /* enough fresh data to decide */
	bool breached; /* judged and over the threshold */
	double value;  /* new side: percent, ms, count or the query's value */
	double threshold;
	double baseline; /* old side, for context (error rate, rtime); -1 if none */
	char evidence[320];
};

struct trigger_bucket {
	int64_t second; /* t_ms / 1000, or INT64_MIN when empty */
	int64_t new_req, new_5xx, old_req, old_5xx;
};

struct trigger_sample {
	int64_t t_ms;
	double ms;
};

struct trigger_window {
	struct trigger_config cfg;
	struct trigger_bucket *buckets; /* one per second of the window */
	size_t nbuckets;
	struct trigger_sample *lat; /* ring */
	size_t lat_head, lat_n;
	int health_consecutive;
	int64_t health_last_fail_ms;
	bool prom_have;
	double prom_value;
	int64_t prom_at_ms;
	bool rtime_have;
	double rtime_new_ms, rtime_old_ms;
	int blind_consecutive;
	char blind_why[200];
};

/* One second of observation: blind (why, a message without secrets) when
 * a metric a set trigger needs could not be read, else seeing. */
void trigger_note_blind(struct trigger_window *w, bool blind, const char *why);

/* Defaults above, every trigger unset. */
void trigger_config_init(struct trigger_config *c);
/* Defaults plus the thresholds of rb (NULL or !rb->present: none set). */
void trigger_config_from_plan(struct trigger_config *c, const struct plan_rollback *rb);

/* Copies cfg (invalid sizes are replaced by the defaults). */
void trigger_window_init(struct trigger_window *w, const struct trigger_config *cfg);
void trigger_window_release(struct trigger_window *w);

/* Counts of HTTP responses (and 5xx among them) seen at t_ms, e.g. the
 * delta between two balancer snapshots; added to t_ms's second.  Negative
 * counts are ignored. */
void trigger_add_requests(struct trigger_window *w, int64_t t_ms, int64_t new_req, int64_t new_5xx,
                          int64_t old_req, int64_t old_5xx);
/* One latency sample (ms) on the new side. */
void trigger_add_latency(struct trigger_window *w, int64_t t_ms, double ms);
/* One health check of the new side. */
void trigger_add_health(struct trigger_window *w, int64_t t_ms, bool ok);
void trigger_set_prometheus(struct trigger_window *w, int64_t t_ms, double value);
/* The balancer's mean response times, for the evidence only (< 0: unknown). */
void trigger_set_lb_rtime(struct trigger_window *w, double new_ms, double old_ms);

/*
 * Fills out[k] for every enum trigger_kind k as of now_ms and returns how
 * many are breached.
 */
int trigger_evaluate(const struct trigger_window *w, int64_t now_ms,
                     struct trigger_result out[TRIGGER_NKINDS]);

/* Nearest-rank percentile q (0 < q <= 100) of v[0..n-1] (reordered in
 * place); 0 when n == 0. */
double trigger_percentile(double *v, size_t n, double q);

const char *trigger_kind_name(enum trigger_kind k);

#endif
