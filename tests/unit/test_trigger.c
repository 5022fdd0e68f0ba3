/*
 * test_trigger.c - the rollback triggers (core/trigger.c): thresholds,
 * the minimum request count, the window, strictness at the threshold,
 * consecutive health failures, the p99 on known data, unset triggers, and
 * the evidence strings an operator reads.  Every time is fixed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/trigger.h"

#define T0 1000000 /* a monotonic time in ms */

static void window_with(struct trigger_window *w, double err_pct, int64_t p99_ms, int health)
{
	struct trigger_config c;

	trigger_config_init(&c);
	c.error_rate_pct = err_pct;
	c.latency_p99_ms = p99_ms;
	c.health_failures = health;
	trigger_window_init(w, &c);
}

/* n seconds ending at T0, each with the given counts */
static void feed(struct trigger_window *w, int secs, int64_t nreq, int64_t n5, int64_t oreq,
                 int64_t o5)
{
	for (int i = secs - 1; i >= 0; i--)
		trigger_add_requests(w, T0 - i * 1000, nreq, n5, oreq, o5);
}

static void test_no_data_no_breach(void **state)
{
	struct trigger_window w;
	struct trigger_result r[TRIGGER_NKINDS];

	(void)state;
	window_with(&w, 1.0, 800, 3);
	assert_int_equal(trigger_evaluate(&w, T0, r), 0);
	assert_true(r[TRIGGER_ERROR_RATE].set);
	assert_false(r[TRIGGER_ERROR_RATE].judged);
	assert_false(r[TRIGGER_LATENCY_P99].judged);
	assert_false(r[TRIGGER_HEALTH_FAILURES].breached);
	assert_string_equal(r[TRIGGER_ERROR_RATE].evidence,
	                    "error rate on new not judged: 0 requests over the last 10 s, fewer "
	                    "than the 20 needed (threshold 1 %)");
	trigger_window_release(&w);
}

static void test_error_rate_below_threshold(void **state)
{
	struct trigger_window w;
	struct trigger_result r[TRIGGER_NKINDS];

	(void)state;
	window_with(&w, 5.0, -1, -1);
	feed(&w, 10, 100, 4, 1000, 1); /* 4 % */
	assert_int_equal(trigger_evaluate(&w, T0, r), 0);
	assert_true(r[TRIGGER_ERROR_RATE].judged);
	assert_false(r[TRIGGER_ERROR_RATE].breached);
	assert_true(r[TRIGGER_ERROR_RATE].value > 3.99 && r[TRIGGER_ERROR_RATE].value < 4.01);
	trigger_window_release(&w);
}

static void test_error_rate_exactly_at_threshold_does_not_breach(void **state)
{
	struct trigger_window w;
	struct trigger_result r[TRIGGER_NKINDS];

	(void)state;
	window_with(&w, 5.0, -1, -1);
	feed(&w, 10, 100, 5, 100, 0); /* exactly 5 %: strict > */
	assert_int_equal(trigger_evaluate(&w, T0, r), 0);
	assert_true(r[TRIGGER_ERROR_RATE].judged);
	assert_false(r[TRIGGER_ERROR_RATE].breached);
	assert_string_equal(r[TRIGGER_ERROR_RATE].evidence,
	                    "error rate on new 5.0 % (50 of 1000) over the last 10 s (old 0.0 %) "
	                    "<= 5 %");
	trigger_window_release(&w);
}

static void test_error_rate_above_threshold_breaches_with_evidence(void **state)
{
	struct trigger_window w;
	struct trigger_result r[TRIGGER_NKINDS];

	(void)state;
	window_with(&w, 5.0, -1, -1);
	/* new: 72 of 1000 fail; old: 1 of 1000 */
	feed(&w, 10, 100, 7, 100, 0);
	trigger_add_requests(&w, T0, 0, 2, 0, 1);
	assert_int_equal(trigger_evaluate(&w, T0, r), 1);
	assert_true(r[TRIGGER_ERROR_RATE].breached);
	assert_true(r[TRIGGER_ERROR_RATE].baseline > 0.09 && r[TRIGGER_ERROR_RATE].baseline < 0.11);
	assert_string_equal(r[TRIGGER_ERROR_RATE].evidence,
	                    "error rate on new 7.2 % (72 of 1000) over the last 10 s (old 0.1 %) "
	                    "> 5 %");
	trigger_window_release(&w);
}

static void test_error_rate_too_few_requests_not_judged(void **state)
{
	struct trigger_window w;
	struct trigger_result r[TRIGGER_NKINDS];

	(void)state;
	window_with(&w, 1.0, -1, -1);
	trigger_add_requests(&w, T0, 2, 1, 200, 0); /* 50 % of 2 */
	assert_int_equal(trigger_evaluate(&w, T0, r), 0);
	assert_false(r[TRIGGER_ERROR_RATE].judged);
	assert_false(r[TRIGGER_ERROR_RATE].breached);
	/* 19 then 20 requests: the 20th makes it judged */
	trigger_add_requests(&w, T0, 17, 0, 0, 0);
	assert_int_equal(trigger_evaluate(&w, T0, r), 0);
	trigger_add_requests(&w, T0, 1, 0, 0, 0);
	assert_int_equal(trigger_evaluate(&w, T0, r), 1);
	assert_true(r[TRIGGER_ERROR_RATE].judged);
	trigger_window_release(&w);
}

static void test_error_rate_old_errors_never_breach(void **state)
{
	struct trigger_window w;
	struct trigger_result r[TRIGGER_NKINDS];

	(void)state;
	window_with(&w, 1.0, -1, -1);
	feed(&w, 10, 100, 0, 100, 50); /* old fails, new fine */
	assert_int_equal(trigger_evaluate(&w, T0, r), 0);
	assert_true(r[TRIGGER_ERROR_RATE].judged);
	assert_true(r[TRIGGER_ERROR_RATE].baseline > 49.9);
	trigger_window_release(&w);
}

static void test_error_rate_forgets_outside_window(void **state)
{
	struct trigger_window w;
	struct trigger_result r[TRIGGER_NKINDS];

	(void)state;
	window_with(&w, 1.0, -1, -1);
	trigger_add_requests(&w, T0, 100, 100, 100, 0); /* a bad second */
	assert_int_equal(trigger_evaluate(&w, T0, r), 1);
	/* 9 s later it is still in the 10 s window, at 10 s it is gone */
	assert_int_equal(trigger_evaluate(&w, T0 + 9000, r), 1);
	assert_int_equal(trigger_evaluate(&w, T0 + 10000, r), 0);
	assert_false(r[TRIGGER_ERROR_RATE].judged);
	/* a new second reusing the same ring slot replaces the old counts */
	trigger_add_requests(&w, T0 + 10000, 100, 0, 100, 0);
	assert_int_equal(trigger_evaluate(&w, T0 + 10000, r), 0);
	assert_true(r[TRIGGER_ERROR_RATE].judged);
	assert_true(r[TRIGGER_ERROR_RATE].value == 0.0);
	trigger_window_release(&w);
}

static void test_health_failures_consecutive_breach(void **state)
{
	struct trigger_window w;
	struct trigger_result r[TRIGGER_NKINDS];

	(void)state;
	window_with(&w, -1, -1, 3);
	trigger_add_health(&w, T0, false);
	trigger_add_health(&w, T0 + 1000, false);
	assert_int_equal(trigger_evaluate(&w, T0 + 1000, r), 0);
	trigger_add_health(&w, T0 + 2000, false);
	assert_int_equal(trigger_evaluate(&w, T0 + 2000, r), 1);
	assert_true(r[TRIGGER_HEALTH_FAILURES].breached);
	assert_string_equal(r[TRIGGER_HEALTH_FAILURES].evidence,
	                    "3 consecutive health check failures on new >= 3");
	trigger_window_release(&w);
}

static void test_health_failures_interrupted_do_not_breach(void **state)
{
	struct trigger_window w;
	struct trigger_result r[TRIGGER_NKINDS];

	(void)state;
	window_with(&w, -1, -1, 3);
	trigger_add_health(&w, T0, false);
	trigger_add_health(&w, T0 + 1000, false);
	trigger_add_health(&w, T0 + 2000, true);
	trigger_add_health(&w, T0 + 3000, false);
	assert_int_equal(trigger_evaluate(&w, T0 + 3000, r), 0);
	assert_true(r[TRIGGER_HEALTH_FAILURES].value == 1.0);
	assert_string_equal(r[TRIGGER_HEALTH_FAILURES].evidence,
	                    "1 consecutive health check failures on new < 3");
	trigger_window_release(&w);
}

static void test_percentile_nearest_rank_on_known_data(void **state)
{
	double v[200];

	(void)state;
	/* 1..100 shuffled: p99 is 99, p50 is 50, p100 is 100 */
	for (int i = 0; i < 100; i++)
		v[i] = (double)((i * 37) % 100 + 1);
	assert_true(trigger_percentile(v, 100, 99.0) == 99.0);
	assert_true(trigger_percentile(v, 100, 50.0) == 50.0);
	assert_true(trigger_percentile(v, 100, 100.0) == 100.0);
	/* 1..200: rank ceil(0.99 * 200) = 198 */
	for (int i = 0; i < 200; i++)
		v[i] = (double)(200 - i);
	assert_true(trigger_percentile(v, 200, 99.0) == 198.0);
	/* fewer than 100 samples: the maximum */
	for (int i = 0; i < 10; i++)
		v[i] = (double)i;
	assert_true(trigger_percentile(v, 10, 99.0) == 9.0);
	assert_true(trigger_percentile(v, 0, 99.0) == 0.0);
}

static void test_latency_p99_breach_and_window(void **state)
{
	struct trigger_window w;
	struct trigger_result r[TRIGGER_NKINDS];

	(void)state;
	window_with(&w, -1, 800, -1);
	/* 200 samples over the window: 197 at 100 ms, 3 at 900 ms; rank 198
	 * is the first 900 */
	for (int i = 0; i < 200; i++)
		trigger_add_latency(&w, T0 - 9000 + i * 45, i < 197 ? 100.0 : 900.0);
	trigger_set_lb_rtime(&w, 120, 80);
	assert_int_equal(trigger_evaluate(&w, T0, r), 1);
	assert_true(r[TRIGGER_LATENCY_P99].value == 900.0);
	assert_string_equal(r[TRIGGER_LATENCY_P99].evidence,
	                    "latency p99 on new 900 ms over the last 10 s (200 samples; haproxy "
	                    "mean rtime new 120 ms, old 80 ms) > 800 ms");
	/* only 2 slow of 200: p99 is 100 ms */
	trigger_window_release(&w);
	window_with(&w, -1, 800, -1);
	for (int i = 0; i < 200; i++)
		trigger_add_latency(&w, T0 - 9000 + i * 45, i < 198 ? 100.0 : 900.0);
	assert_int_equal(trigger_evaluate(&w, T0, r), 0);
	assert_true(r[TRIGGER_LATENCY_P99].value == 100.0);
	/* 11 s later every sample is outside the window */
	assert_int_equal(trigger_evaluate(&w, T0 + 11000, r), 0);
	assert_false(r[TRIGGER_LATENCY_P99].judged);
	trigger_window_release(&w);
}

static void test_latency_exactly_at_threshold_and_too_few(void **state)
{
	struct trigger_window w;
	struct trigger_result r[TRIGGER_NKINDS];

	(void)state;
	window_with(&w, -1, 800, -1);
	for (int i = 0; i < 4; i++)
		trigger_add_latency(&w, T0, 5000.0);
	assert_int_equal(trigger_evaluate(&w, T0, r), 0); /* 4 < 5 samples */
	assert_false(r[TRIGGER_LATENCY_P99].judged);
	trigger_window_release(&w);
	window_with(&w, -1, 800, -1);
	for (int i = 0; i < 10; i++)
		trigger_add_latency(&w, T0, 800.0);
	assert_int_equal(trigger_evaluate(&w, T0, r), 0); /* == threshold */
	assert_true(r[TRIGGER_LATENCY_P99].judged);
	trigger_window_release(&w);
}

static void test_latency_ring_keeps_the_newest(void **state)
{
	struct trigger_config c;
	struct trigger_window w;
	struct trigger_result r[TRIGGER_NKINDS];

	(void)state;
	trigger_config_init(&c);
	c.latency_p99_ms = 800;
	c.latency_ring = 8;
	trigger_window_init(&w, &c);
	for (int i = 0; i < 8; i++)
		trigger_add_latency(&w, T0, 5000.0);
	for (int i = 0; i < 8; i++)
		trigger_add_latency(&w, T0, 10.0); /* push the slow ones out */
	assert_int_equal(trigger_evaluate(&w, T0, r), 0);
	assert_true(r[TRIGGER_LATENCY_P99].value == 10.0);
	trigger_window_release(&w);
}

static void test_unset_triggers_ignored(void **state)
{
	struct trigger_window w;
	struct trigger_result r[TRIGGER_NKINDS];

	(void)state;
	window_with(&w, -1, -1, -1);
	feed(&w, 10, 100, 100, 100, 0);
	for (int i = 0; i < 100; i++) {
		trigger_add_latency(&w, T0, 99999.0);
		trigger_add_health(&w, T0, false);
	}
	trigger_set_prometheus(&w, T0, 1e9);
	assert_int_equal(trigger_evaluate(&w, T0, r), 0);
	for (int k = 0; k < TRIGGER_NKINDS; k++) {
		assert_false(r[k].set);
		assert_false(r[k].breached);
	}
	assert_string_equal(r[TRIGGER_ERROR_RATE].evidence, "error_rate: not set in the plan");
	trigger_window_release(&w);
}

static void test_prometheus_fresh_and_stale(void **state)
{
	struct trigger_config c;
	struct trigger_window w;
	struct trigger_result r[TRIGGER_NKINDS];

	(void)state;
	trigger_config_init(&c);
	c.prometheus_set = true;
	c.prometheus_limit = 0.05;
	trigger_window_init(&w, &c);
	trigger_set_prometheus(&w, T0, 0.07);
	assert_int_equal(trigger_evaluate(&w, T0, r), 1);
	assert_string_equal(r[TRIGGER_PROMETHEUS].evidence, "prometheus query = 0.07 > 0.05");
	assert_int_equal(trigger_evaluate(&w, T0 + 10000, r), 0); /* stale */
	assert_false(r[TRIGGER_PROMETHEUS].judged);
	trigger_window_release(&w);
}

static void test_config_from_plan(void **state)
{
	struct plan_rollback rb;
	struct trigger_config c;

	(void)state;
	memset(&rb, 0, sizeof(rb));
	trigger_config_from_plan(&c, &rb); /* not present: nothing set */
	assert_true(c.error_rate_pct < 0 && c.latency_p99_ms < 0 && c.health_failures < 0);
	rb.present = true;
	rb.error_rate = 1.0;
	rb.latency_p99_ms = 800;
	rb.health_failures = -1;
	trigger_config_from_plan(&c, &rb);
	assert_true(c.error_rate_pct == 1.0);
	assert_int_equal(c.latency_p99_ms, 800);
	assert_true(c.health_failures < 0);
	assert_false(c.prometheus_set);
	assert_int_equal(c.window_ms, TRIGGER_WINDOW_MS_DEFAULT);
}

/* A metric that cannot be read is "cannot tell", not health: ten blind
 * seconds in a row breach; a second that could be read starts over; with
 * no trigger set there is nothing to be blind to. */
static void test_blind_seconds_breach(void **state)
{
	struct trigger_window w;
	struct trigger_result r[TRIGGER_NKINDS];
	int i;

	(void)state;
	window_with(&w, 1.0, -1, -1);
	for (i = 0; i < 9; i++)
		trigger_note_blind(&w, true, "haproxy stats: connection refused");
	assert_int_equal(trigger_evaluate(&w, T0, r), 0);
	assert_true(r[TRIGGER_BLIND].set);
	assert_false(r[TRIGGER_BLIND].breached);
	trigger_note_blind(&w, false, NULL);
	for (i = 0; i < 9; i++)
		trigger_note_blind(&w, true, "haproxy stats: connection refused");
	assert_int_equal(trigger_evaluate(&w, T0, r), 0);
	trigger_note_blind(&w, true, "prometheus: timed out");
	assert_int_equal(trigger_evaluate(&w, T0, r), 1);
	assert_true(r[TRIGGER_BLIND].breached);
	assert_string_equal(r[TRIGGER_BLIND].evidence,
	                    "cannot tell for 10 s in a row (prometheus: timed out) >= 10 s");
	trigger_window_release(&w);

	window_with(&w, -1, -1, -1);
	for (i = 0; i < 20; i++)
		trigger_note_blind(&w, true, "x");
	assert_int_equal(trigger_evaluate(&w, T0, r), 0);
	assert_false(r[TRIGGER_BLIND].set);
	trigger_window_release(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_data_no_breach),
		cmocka_unit_test(test_error_rate_below_threshold),
		cmocka_unit_test(test_error_rate_exactly_at_threshold_does_not_breach),
		cmocka_unit_test(test_error_rate_above_threshold_breaches_with_evidence),
		cmocka_unit_test(test_error_rate_too_few_requests_not_judged),
		cmocka_unit_test(test_error_rate_old_errors_never_breach),
		cmocka_unit_test(test_error_rate_forgets_outside_window),
		cmocka_unit_test(test_health_failures_consecutive_breach),
		cmocka_unit_test(test_health_failures_interrupted_do_not_breach),
		cmocka_unit_test(test_percentile_nearest_rank_on_known_data),
		cmocka_unit_test(test_latency_p99_breach_and_window),
		cmocka_unit_test(test_latency_exactly_at_threshold_and_too_few),
		cmocka_unit_test(test_latency_ring_keeps_the_newest),
		cmocka_unit_test(test_unset_triggers_ignored),
		cmocka_unit_test(test_prometheus_fresh_and_stale),
		cmocka_unit_test(test_config_from_plan),
		cmocka_unit_test(test_blind_seconds_breach),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
