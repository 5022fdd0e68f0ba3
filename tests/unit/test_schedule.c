/*
 * test_schedule.c - TTL step timing, cutover windows across zones and DST,
 * and the plan timeline.  Every instant is fixed (never the real clock);
 * expected values were worked out by hand from the zone rules (EU: last
 * Sunday of March/October at 01:00 UTC; US: second Sunday of March and
 * first Sunday of November at 02:00 local).  Needs the tzdata package.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plan/plan.h"
#include "core/schedule.h"
#include "util/error.h"
#include "util/timeutil.h"

#define H 3600
#define D 86400

static int64_t T(const char *rfc3339)
{
	int64_t t = 0;

	if (time_parse_rfc3339(rfc3339, &t) != 0)
		fail_msg("bad test time %s", rfc3339);
	return t;
}

static char zone_utc[] = "UTC";
static char zone_berlin[] = "Europe/Berlin";
static char zone_ny[] = "America/New_York";

static struct plan_window window(unsigned days, int from_min, int to_min, char *zone)
{
	struct plan_window w;

	memset(&w, 0, sizeof(w));
	w.present = true;
	w.days = days;
	w.from_min = from_min;
	w.to_min = to_min;
	w.zone = zone;
	return w;
}

#define SUN (1u << PLAN_SUN)
#define SAT (1u << PLAN_SAT)
#define ALL 0x7fu

static void assert_next(const struct plan_window *w, const char *t, const char *want_start,
                        const char *want_end)
{
	struct ferry_error err = { 0 };
	int64_t s = 0, e = 0;
	char got_s[32], got_e[32];

	assert_int_equal(schedule_window_next(w, T(t), &s, &e, &err), 0);
	time_rfc3339(s, got_s, sizeof(got_s));
	time_rfc3339(e, got_e, sizeof(got_e));
	assert_string_equal(got_s, want_start);
	assert_string_equal(got_e, want_end);
}

static bool inside(const struct plan_window *w, const char *t)
{
	struct ferry_error err = { 0 };
	bool in = false;

	assert_int_equal(schedule_window_contains(w, T(t), &in, &err), 0);
	return in;
}

static void assert_local(int64_t t, const char *zone, const char *want)
{
	struct ferry_error err = { 0 };
	char out[64];

	assert_int_equal(schedule_format_local(t, zone, out, sizeof(out), &err), 0);
	assert_string_equal(out, want);
}

/* ---- TTL steps ---- */

static const uint32_t steps3[] = { 3600, 300, 60 };

static void test_step_waits_one_old_ttl(void **state)
{
	struct schedule_record r = { "www.shop.test", 86400, 0, 0 };
	struct schedule_ttl_step out[3];
	struct ferry_error err = { 0 };
	int64_t now = T("2026-11-26T06:00:00Z");
	size_t n = 99;

	(void)state;
	r.last_change = now - 30 * D; /* untouched for a month */
	assert_int_equal(schedule_ttl_steps(&r, steps3, 3, now, out, &n, &err), 0);
	assert_int_equal(n, 3);
	/* 86400 -> 3600 now: the live TTL has long been in effect. */
	assert_int_equal(out[0].from_ttl, 86400);
	assert_int_equal(out[0].ttl, 3600);
	assert_int_equal(out[0].not_before, now);
	/* 3600 -> 300 once no resolver can hold the 86400 answer. */
	assert_int_equal(out[1].from_ttl, 3600);
	assert_int_equal(out[1].ttl, 300);
	assert_int_equal(out[1].not_before, now + 86400);
	/* 300 -> 60 once no resolver can hold the 3600 answer. */
	assert_int_equal(out[2].from_ttl, 300);
	assert_int_equal(out[2].ttl, 60);
	assert_int_equal(out[2].not_before, now + 86400 + 3600);
	assert_int_equal(schedule_ttl_effective(&r, out, n, now), now + 86400 + 3600 + 300);
	assert_int_equal(err.code, 0);
}

static void test_first_step_waits_for_the_change_that_set_the_live_ttl(void **state)
{
	/* ferry lowered 86400 -> 3600 1000 s ago (journal). */
	struct schedule_record r = { "www.shop.test", 3600, 0, 86400 };
	struct schedule_ttl_step out[3];
	struct ferry_error err = { 0 };
	int64_t now = T("2026-11-26T06:00:00Z");
	size_t n = 0;

	(void)state;
	r.last_change = now - 1000;
	assert_int_equal(schedule_ttl_steps(&r, steps3, 3, now, out, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].ttl, 300);
	assert_int_equal(out[0].not_before, now - 1000 + 86400);
	assert_int_equal(out[1].ttl, 60);
	assert_int_equal(out[1].not_before, now - 1000 + 86400 + 3600);
	assert_int_equal(schedule_ttl_effective(&r, out, n, now), now - 1000 + 86400 + 3600 + 300);
}

static void test_recomputing_after_each_step_keeps_the_plan(void **state)
{
	/* Take every step at its not_before and recompute from the journal's
	 * view: the remaining dates must not move. */
	struct schedule_record r = { "www.shop.test", 86400, 0, 0 };
	struct schedule_ttl_step first[3], out[3];
	struct ferry_error err = { 0 };
	int64_t now = T("2026-11-26T06:00:00Z");
	size_t n0 = 0, n = 0, k;

	(void)state;
	r.last_change = now - 365 * D;
	assert_int_equal(schedule_ttl_steps(&r, steps3, 3, now, first, &n0, &err), 0);
	assert_int_equal(n0, 3);
	for (k = 0; k < n0; k++) {
		now = first[k].not_before;
		r.prev_ttl = r.live_ttl;
		r.live_ttl = first[k].ttl;
		r.last_change = now;
		assert_int_equal(schedule_ttl_steps(&r, steps3, 3, now, out, &n, &err), 0);
		assert_int_equal(n, n0 - k - 1);
		if (n > 0)
			assert_int_equal(out[0].not_before, first[k + 1].not_before);
		assert_int_equal(schedule_ttl_effective(&r, out, n, now),
		                 schedule_ttl_effective(NULL, first, n0, 0));
	}
}

static void test_live_ttl_already_low_leaves_only_lower_steps(void **state)
{
	struct schedule_record r = { "api.shop.test", 300, 0, 3600 };
	struct schedule_ttl_step out[3];
	struct ferry_error err = { 0 };
	int64_t now = T("2026-11-26T06:00:00Z");
	size_t n = 0;

	(void)state;
	r.last_change = now - 2 * H;
	assert_int_equal(schedule_ttl_steps(&r, steps3, 3, now, out, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].from_ttl, 300);
	assert_int_equal(out[0].ttl, 60);
	assert_int_equal(out[0].not_before, now);
	assert_int_equal(schedule_ttl_effective(&r, out, n, now), now + 300);
}

static void test_live_ttl_at_cutover_needs_no_step(void **state)
{
	struct schedule_record r = { "api.shop.test", 60, 0, 300 };
	struct schedule_ttl_step out[3];
	struct ferry_error err = { 0 };
	int64_t now = T("2026-11-26T06:00:00Z");
	size_t n = 99;

	(void)state;
	/* Lowered from 300 a minute ago: in effect everywhere 300 s later. */
	r.last_change = now - 60;
	assert_int_equal(schedule_ttl_steps(&r, steps3, 3, now, out, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(schedule_ttl_effective(&r, out, n, now), now + 240);
	/* Long ago: in effect now, never in the past. */
	r.last_change = now - D;
	assert_int_equal(schedule_ttl_effective(&r, out, n, now), now);
	/* Below the cutover TTL: never raised. */
	r.live_ttl = 30;
	assert_int_equal(schedule_ttl_steps(&r, steps3, 3, now, out, &n, &err), 0);
	assert_int_equal(n, 0);
}

static void test_first_step_without_history_is_due_now(void **state)
{
	struct schedule_record r = { "www.shop.test", 86400, SCHEDULE_UNKNOWN, 0 };
	struct schedule_ttl_step out[3];
	struct ferry_error err = { 0 };
	int64_t now = T("2026-11-26T06:00:00Z");
	size_t n = 0;

	(void)state;
	/* No change ferry knows of: lowering is safe at once; each later
	 * step waits one old TTL. */
	assert_int_equal(schedule_ttl_steps(&r, steps3, 3, now, out, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(out[0].not_before, now);
	assert_int_equal(out[1].not_before, now + 86400);
	assert_int_equal(out[2].not_before, now + 86400 + 3600);
	/* A known change makes the first step wait until it is in effect. */
	r.last_change = now - 100;
	r.prev_ttl = 7200;
	assert_int_equal(schedule_ttl_steps(&r, steps3, 3, now, out, &n, &err), 0);
	assert_int_equal(out[0].not_before, now - 100 + 7200);
}

static void test_steps_above_live_ttl_are_never_applied(void **state)
{
	static const uint32_t steps[] = { 86400, 3600, 300, 60 };
	struct schedule_record r = { "www.shop.test", 1800, 0, 0 };
	struct schedule_ttl_step out[4];
	struct ferry_error err = { 0 };
	int64_t now = T("2026-11-26T06:00:00Z");
	size_t n = 0, i;

	(void)state;
	r.last_change = now - 30 * D;
	assert_int_equal(schedule_ttl_steps(&r, steps, 4, now, out, &n, &err), 0);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++)
		assert_true(out[i].ttl < r.live_ttl);
	assert_int_equal(out[0].from_ttl, 1800);
	assert_int_equal(out[0].ttl, 300);
	assert_int_equal(out[0].not_before, now);
	assert_int_equal(out[1].ttl, 60);
	assert_int_equal(out[1].not_before, now + 1800);

	/* A live TTL between two steps, not equal to any. */
	r.live_ttl = 7200;
	assert_int_equal(schedule_ttl_steps(&r, steps3, 3, now, out, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(out[0].from_ttl, 7200);
	assert_int_equal(out[1].not_before, now + 7200);
}

static void test_effective_is_last_step_plus_the_ttl_it_replaced(void **state)
{
	static const uint32_t steps[] = { 60 };
	struct schedule_record r = { "www.shop.test", 600, 0, 0 };
	struct schedule_ttl_step out[1];
	struct ferry_error err = { 0 };
	int64_t now = T("2026-11-26T06:00:00Z");
	size_t n = 0;

	(void)state;
	r.last_change = now - D;
	assert_int_equal(schedule_ttl_steps(&r, steps, 1, now, out, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].not_before, now);
	assert_int_equal(schedule_ttl_effective(&r, out, n, now), now + 600);
}

static void test_bad_steps_are_refused_naming_the_record(void **state)
{
	static const uint32_t ascending[] = { 60, 300 };
	static const uint32_t equal[] = { 300, 300 };
	static const uint32_t zero[] = { 300, 0 };
	struct schedule_record r = { "www.shop.test", 3600, 0, 0 };
	struct schedule_ttl_step out[2];
	struct ferry_error err = { 0 };
	size_t n = 0;

	(void)state;
	assert_int_equal(schedule_ttl_steps(&r, ascending, 2, 0, out, &n, &err), FERRY_EINVAL);
	assert_non_null(strstr(err.msg, "www.shop.test"));
	assert_non_null(strstr(err.msg, "descending"));
	assert_int_equal(schedule_ttl_steps(&r, equal, 2, 0, out, &n, &err), FERRY_EINVAL);
	assert_int_equal(schedule_ttl_steps(&r, zero, 2, 0, out, &n, &err), FERRY_EINVAL);
	assert_int_equal(schedule_ttl_steps(&r, steps3, 0, 0, out, &n, &err), FERRY_EINVAL);
	assert_int_equal(schedule_ttl_steps(&r, NULL, 3, 0, out, &n, &err), FERRY_EINVAL);
}

/* ---- Windows: basics in UTC ---- */

static void test_window_inside_returns_the_current_window(void **state)
{
	struct plan_window w = window(SUN, 2 * 60, 6 * 60, zone_utc);

	(void)state;
	assert_next(&w, "2026-11-29T03:00:00Z", "2026-11-29T02:00:00Z", "2026-11-29T06:00:00Z");
	assert_next(&w, "2026-11-29T02:00:00Z", "2026-11-29T02:00:00Z", "2026-11-29T06:00:00Z");
	assert_true(inside(&w, "2026-11-29T02:00:00Z"));
	assert_true(inside(&w, "2026-11-29T05:59:59Z"));
}

/* The copy-time gate: sync + soak must end before the next window closes. */
static void test_sync_and_soak_must_end_before_the_next_window_closes(void **state)
{
	struct plan_window w = window(SUN, 2 * 60, 6 * 60, zone_utc), none;
	struct ferry_error err = { 0 };
	int64_t ends, ws, we;
	bool fits;

	(void)state;
	memset(&none, 0, sizeof(none));
	/* Thursday noon: 1 h of sync + 24 h of soak end Friday 13:00, before
	 * Sunday 06:00 */
	assert_int_equal(schedule_sync_fits(&w, T("2026-11-26T12:00:00Z"), 3600000, 86400000, &fits,
	                                    &ends, &ws, &we, &err),
	                 0);
	assert_true(fits);
	assert_int_equal(ends, T("2026-11-27T13:00:00Z"));
	assert_int_equal(we, T("2026-11-29T06:00:00Z"));
	/* 4 days of sync do not: refused, with the window it was held against */
	assert_int_equal(schedule_sync_fits(&w, T("2026-11-26T12:00:00Z"), 4 * 86400000LL, 86400000,
	                                    &fits, &ends, &ws, &we, &err),
	                 0);
	assert_false(fits);
	assert_int_equal(ws, T("2026-11-29T02:00:00Z"));
	/* inside the window, ending before it closes */
	assert_int_equal(schedule_sync_fits(&w, T("2026-11-29T02:30:00Z"), 60000, 60000, &fits,
	                                    &ends, &ws, &we, &err),
	                 0);
	assert_true(fits);
	/* no window: any time */
	assert_int_equal(schedule_sync_fits(&none, T("2026-11-26T12:00:00Z"), 40 * 86400000LL,
	                                    86400000, &fits, &ends, &ws, &we, &err),
	                 0);
	assert_true(fits);
}

static void test_window_before_returns_that_days_window(void **state)
{
	struct plan_window w = window(SUN, 2 * 60, 6 * 60, zone_utc);

	(void)state;
	assert_next(&w, "2026-11-29T01:59:59Z", "2026-11-29T02:00:00Z", "2026-11-29T06:00:00Z");
	assert_next(&w, "2026-11-26T05:43:00Z", "2026-11-29T02:00:00Z", "2026-11-29T06:00:00Z");
	assert_false(inside(&w, "2026-11-29T01:59:59Z"));
}

static void test_window_after_end_returns_next_week(void **state)
{
	struct plan_window w = window(SUN, 2 * 60, 6 * 60, zone_utc);

	(void)state;
	/* The end is exclusive. */
	assert_false(inside(&w, "2026-11-29T06:00:00Z"));
	assert_next(&w, "2026-11-29T06:00:00Z", "2026-12-06T02:00:00Z", "2026-12-06T06:00:00Z");
	assert_next(&w, "2026-11-29T23:00:00Z", "2026-12-06T02:00:00Z", "2026-12-06T06:00:00Z");
}

static void test_every_weekday_mask_finds_its_day(void **state)
{
	static const char *const names[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	struct ferry_error err = { 0 };
	/* Sunday 2026-11-29 12:00, after that day's 10:00-11:00. */
	int64_t t = T("2026-11-29T12:00:00Z"), sun = T("2026-11-29T10:00:00Z");
	int d;

	(void)state;
	for (d = PLAN_SUN; d <= PLAN_SAT; d++) {
		struct plan_window w = window(1u << d, 10 * 60, 11 * 60, zone_utc);
		int64_t s = 0, e = 0, want = sun + (int64_t)(d == PLAN_SUN ? 7 : d) * D;
		char txt[64];

		assert_int_equal(schedule_window_next(&w, t, &s, &e, &err), 0);
		assert_int_equal(s, want);
		assert_int_equal(e, want + H);
		assert_int_equal(schedule_format_local(s, "UTC", txt, sizeof(txt), &err), 0);
		assert_memory_equal(txt, names[d], 3);
	}
	/* Every day: tomorrow. Two days (mon|fri): Monday first. */
	{
		struct plan_window all = window(ALL, 10 * 60, 11 * 60, zone_utc);
		struct plan_window two =
		        window((1u << PLAN_MON) | (1u << PLAN_FRI), 10 * 60, 11 * 60, zone_utc);

		assert_next(&all, "2026-11-29T12:00:00Z", "2026-11-30T10:00:00Z",
		            "2026-11-30T11:00:00Z");
		assert_next(&two, "2026-11-29T12:00:00Z", "2026-11-30T10:00:00Z",
		            "2026-11-30T11:00:00Z");
		assert_next(&two, "2026-11-30T11:00:00Z", "2026-12-04T10:00:00Z",
		            "2026-12-04T11:00:00Z");
	}
}

static void test_window_spanning_midnight_holds_both_sides(void **state)
{
	/* sat 23:00 -> 02:00: 2026-11-28 is a Saturday. */
	struct plan_window w = window(SAT, 23 * 60, 2 * 60, zone_utc);

	(void)state;
	assert_next(&w, "2026-11-28T23:30:00Z", "2026-11-28T23:00:00Z", "2026-11-29T02:00:00Z");
	assert_next(&w, "2026-11-29T01:00:00Z", "2026-11-28T23:00:00Z", "2026-11-29T02:00:00Z");
	assert_true(inside(&w, "2026-11-28T23:00:00Z"));
	assert_true(inside(&w, "2026-11-29T01:59:59Z"));
	assert_false(inside(&w, "2026-11-29T02:00:00Z"));
	assert_false(inside(&w, "2026-11-28T22:59:59Z"));
	assert_next(&w, "2026-11-29T02:00:00Z", "2026-12-05T23:00:00Z", "2026-12-06T02:00:00Z");
}

static void test_window_spanning_midnight_belongs_to_its_start_day(void **state)
{
	/* sun 23:00 -> 02:00 is Sunday night into Monday, not Saturday night
	 * into Sunday. */
	struct plan_window w = window(SUN, 23 * 60, 2 * 60, zone_utc);

	(void)state;
	assert_false(inside(&w, "2026-11-29T01:00:00Z"));
	assert_next(&w, "2026-11-29T01:00:00Z", "2026-11-29T23:00:00Z", "2026-11-30T02:00:00Z");
	assert_true(inside(&w, "2026-11-30T01:00:00Z"));
	assert_false(inside(&w, "2026-11-28T23:30:00Z"));
}

static void test_window_from_equal_to_is_a_whole_day(void **state)
{
	struct plan_window w = window(SUN, 0, 0, zone_utc);

	(void)state;
	assert_next(&w, "2026-11-29T12:00:00Z", "2026-11-29T00:00:00Z", "2026-11-30T00:00:00Z");
	assert_false(inside(&w, "2026-11-30T00:00:00Z"));
}

static void test_absent_window_means_any_time(void **state)
{
	struct plan_window w;
	struct ferry_error err = { 0 };
	int64_t s = 0, e = 0;

	(void)state;
	memset(&w, 0, sizeof(w));
	assert_int_equal(schedule_window_next(&w, 1000, &s, &e, &err), 0);
	assert_int_equal(s, 1000);
	assert_int_equal(e, SCHEDULE_FOREVER);
	assert_int_equal(schedule_window_next(NULL, 1000, &s, &e, &err), 0);
	assert_true(inside(&w, "2026-11-29T12:00:00Z"));
}

/* ---- Windows in real zones ---- */

static void test_window_in_berlin_is_local_time(void **state)
{
	struct plan_window w = window(SUN, 2 * 60, 6 * 60, zone_berlin);

	(void)state;
	/* CET = UTC+1 in November. */
	assert_next(&w, "2026-11-26T05:43:00Z", "2026-11-29T01:00:00Z", "2026-11-29T05:00:00Z");
	assert_local(T("2026-11-29T01:00:00Z"), "Europe/Berlin", "Sun 2026-11-29 02:00 CET");
	/* CEST = UTC+2 in summer. */
	assert_next(&w, "2026-07-01T00:00:00Z", "2026-07-05T00:00:00Z", "2026-07-05T04:00:00Z");
	assert_local(T("2026-07-05T00:00:00Z"), "Europe/Berlin", "Sun 2026-07-05 02:00 CEST");
	/* A Saturday 23:30 UTC is already Sunday 00:30 in Berlin. */
	{
		struct plan_window early = window(SUN, 0, 60, zone_berlin);

		assert_true(inside(&early, "2026-11-28T23:30:00Z"));
	}
}

static void test_window_in_new_york_is_local_time(void **state)
{
	struct plan_window w = window(SUN, 2 * 60, 6 * 60, zone_ny);

	(void)state;
	assert_next(&w, "2026-11-26T05:43:00Z", "2026-11-29T07:00:00Z", "2026-11-29T11:00:00Z");
	assert_local(T("2026-11-29T07:00:00Z"), "America/New_York", "Sun 2026-11-29 02:00 EST");
	/* Sunday 03:00 UTC is still Saturday in New York. */
	assert_false(inside(&w, "2026-11-29T03:00:00Z"));
}

static void test_spring_forward_window_starts_at_first_valid_instant_berlin(void **state)
{
	/* 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00 UTC. */
	struct plan_window w = window(SUN, 2 * 60, 6 * 60, zone_berlin);

	(void)state;
	assert_next(&w, "2026-03-27T00:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T04:00:00Z");
	assert_local(T("2026-03-29T01:00:00Z"), "Europe/Berlin", "Sun 2026-03-29 03:00 CEST");
	assert_false(inside(&w, "2026-03-29T00:59:59Z"));
	assert_true(inside(&w, "2026-03-29T01:00:00Z"));
	/* A window from 02:30 starts at the jump too. */
	{
		struct plan_window half = window(SUN, 2 * 60 + 30, 4 * 60, zone_berlin);

		assert_next(&half, "2026-03-28T00:00:00Z", "2026-03-29T01:00:00Z",
		            "2026-03-29T02:00:00Z");
	}
	/* A window that ends in the gap ends at the jump. */
	{
		struct plan_window ending = window(SUN, 60, 2 * 60 + 30, zone_berlin);

		assert_next(&ending, "2026-03-28T00:00:00Z", "2026-03-29T00:00:00Z",
		            "2026-03-29T01:00:00Z");
	}
}

static void test_fall_back_window_starts_at_first_occurrence_berlin(void **state)
{
	/* 2026-10-25: 03:00 CEST falls back to 02:00 CET at 01:00 UTC, so
	 * 02:00-03:00 happens twice; 02:00 is taken in CEST (00:00 UTC). */
	struct plan_window w = window(SUN, 2 * 60, 6 * 60, zone_berlin);

	(void)state;
	assert_next(&w, "2026-10-24T00:00:00Z", "2026-10-25T00:00:00Z", "2026-10-25T05:00:00Z");
	assert_local(T("2026-10-25T00:00:00Z"), "Europe/Berlin", "Sun 2026-10-25 02:00 CEST");
	assert_local(T("2026-10-25T05:00:00Z"), "Europe/Berlin", "Sun 2026-10-25 06:00 CET");
	/* The window is five hours long that day. */
	assert_true(inside(&w, "2026-10-25T04:59:59Z"));
}

static void test_window_swallowed_by_spring_forward_moves_to_next_week(void **state)
{
	/* 02:15-02:45 does not exist in Berlin on 2026-03-29. */
	struct plan_window w = window(SUN, 2 * 60 + 15, 2 * 60 + 45, zone_berlin);

	(void)state;
	assert_next(&w, "2026-03-28T12:00:00Z", "2026-04-05T00:15:00Z", "2026-04-05T00:45:00Z");
	assert_false(inside(&w, "2026-03-29T01:00:00Z"));
	/* The week before it existed, in CET. */
	assert_next(&w, "2026-03-21T12:00:00Z", "2026-03-22T01:15:00Z", "2026-03-22T01:45:00Z");
}

static void test_spring_forward_window_starts_at_first_valid_instant_new_york(void **state)
{
	/* 2026-03-08: 02:00 EST jumps to 03:00 EDT at 07:00 UTC. */
	struct plan_window w = window(SUN, 2 * 60, 4 * 60, zone_ny);

	(void)state;
	assert_next(&w, "2026-03-07T00:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z");
	assert_local(T("2026-03-08T07:00:00Z"), "America/New_York", "Sun 2026-03-08 03:00 EDT");
}

static void test_fall_back_window_starts_at_first_occurrence_new_york(void **state)
{
	/* 2026-11-01: 02:00 EDT falls back to 01:00 EST at 06:00 UTC, so
	 * 01:00-02:00 happens twice. */
	struct plan_window w = window(SUN, 60, 3 * 60, zone_ny);
	struct plan_window short_w = window(SUN, 90, 105, zone_ny);

	(void)state;
	assert_next(&w, "2026-10-31T00:00:00Z", "2026-11-01T05:00:00Z", "2026-11-01T08:00:00Z");
	assert_local(T("2026-11-01T05:00:00Z"), "America/New_York", "Sun 2026-11-01 01:00 EDT");
	/* 01:30-01:45 is the first 01:30-01:45 (EDT) only: at the second
	 * 01:35 (EST) the window is over and the next is a week later. */
	assert_next(&short_w, "2026-10-31T00:00:00Z", "2026-11-01T05:30:00Z",
	            "2026-11-01T05:45:00Z");
	assert_false(inside(&short_w, "2026-11-01T06:35:00Z"));
	assert_next(&short_w, "2026-11-01T06:35:00Z", "2026-11-08T06:30:00Z",
	            "2026-11-08T06:45:00Z");
}

/* Walks a window through 2026 (plus a margin) and checks every occurrence:
 * ordered, non-empty, on a listed weekday, at the listed local time except
 * on DST days (counted in *shifted); then, hour by hour through the year,
 * that contains() is true exactly inside the occurrences found. */
static void scan_year(char *zone, unsigned days, int from_min, int to_min, int *shifted)
{
	static const char *const names[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	struct plan_window w = window(days, from_min, to_min, zone);
	struct ferry_error err = { 0 };
	int64_t t = T("2026-01-01T00:00:00Z"), stop = T("2027-01-02T00:00:00Z");
	int64_t starts[400], ends[400], prev_end = INT64_MIN, s = 0, e = 0, h;
	char want_hm[8], txt[64];
	size_t count = 0, i = 0;
	int d;

	snprintf(want_hm, sizeof(want_hm), "%02d:%02d", from_min / 60, from_min % 60);
	while (t < stop) {
		bool in = false, listed = false;

		assert_int_equal(schedule_window_next(&w, t, &s, &e, &err), 0);
		assert_true(s < e);
		assert_true(e > t);
		assert_true(s >= prev_end);
		assert_true(e - s <= D + 2 * H);
		assert_int_equal(schedule_window_contains(&w, s, &in, &err), 0);
		assert_true(in);
		assert_int_equal(schedule_window_contains(&w, e - 1, &in, &err), 0);
		assert_true(in);
		assert_int_equal(schedule_format_local(s, zone, txt, sizeof(txt), &err), 0);
		for (d = 0; d < 7; d++)
			if ((days & (1u << d)) && memcmp(txt, names[d], 3) == 0)
				listed = true;
		assert_true(listed);
		/* "Sun 2026-03-29 03:00 CEST": the time is at offset 15. */
		if (memcmp(txt + 15, want_hm, 5) != 0)
			(*shifted)++;
		assert_true(count < sizeof(starts) / sizeof(starts[0]));
		starts[count] = s;
		ends[count] = e;
		count++;
		prev_end = e;
		t = e;
	}
	assert_true(count >= 52);
	for (h = T("2026-01-01T00:00:00Z"); h < T("2027-01-01T00:00:00Z"); h += H) {
		bool in = true;

		while (i < count && ends[i] <= h)
			i++;
		assert_true(i < count);
		assert_int_equal(schedule_window_contains(&w, h, &in, &err), 0);
		assert_int_equal(in, starts[i] <= h);
	}
	assert_int_equal(err.code, 0);
}

static void test_windows_for_a_whole_year_scan_without_error(void **state)
{
	int shifted;

	(void)state;
	shifted = 0;
	scan_year(zone_utc, SUN, 120, 360, &shifted);
	scan_year(zone_utc, ALL, 23 * 60, 60, &shifted);
	assert_int_equal(shifted, 0);
	/* Berlin: 02:00 does not exist once (2026-03-29) -> 03:00. */
	shifted = 0;
	scan_year(zone_berlin, SUN, 120, 360, &shifted);
	assert_int_equal(shifted, 1);
	shifted = 0;
	scan_year(zone_berlin, ALL, 150, 210, &shifted);
	assert_int_equal(shifted, 1);
	shifted = 0;
	scan_year(zone_berlin, SAT, 23 * 60, 2 * 60, &shifted);
	assert_int_equal(shifted, 0);
	shifted = 0;
	scan_year(zone_berlin, ALL, 0, 0, &shifted);
	assert_int_equal(shifted, 0);
	/* New York: 02:00 does not exist once (2026-03-08). */
	shifted = 0;
	scan_year(zone_ny, SUN, 120, 360, &shifted);
	assert_int_equal(shifted, 1);
	shifted = 0;
	scan_year(zone_ny, ALL, 60, 120, &shifted);
	assert_int_equal(shifted, 0);
	/* Half-hour DST (Lord Howe) and no DST with a fractional offset. */
	{
		char lord_howe[] = "Australia/Lord_Howe", kolkata[] = "Asia/Kolkata";

		shifted = 0;
		scan_year(lord_howe, ALL, 120, 180, &shifted);
		assert_int_equal(shifted, 1);
		shifted = 0;
		scan_year(kolkata, SUN | SAT, 22 * 60 + 30, 30, &shifted);
		assert_int_equal(shifted, 0);
	}
}

/* ---- Errors and the environment ---- */

static void test_bad_zone_is_refused_naming_it(void **state)
{
	char typo[] = "Europe/Berln", path[] = "../../etc/passwd", folder[] = "Europe";
	char *bad[] = { typo, path, folder };
	struct ferry_error err = { 0 };
	int64_t s, e;
	char out[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct plan_window w = window(SUN, 120, 360, bad[i]);

		memset(&err, 0, sizeof(err));
		assert_int_equal(schedule_window_next(&w, 0, &s, &e, &err), FERRY_EINVAL);
		assert_non_null(strstr(err.msg, bad[i]));
		assert_true(err.hint[0] != '\0');
		assert_int_equal(schedule_zone_check(bad[i], NULL), FERRY_EINVAL);
	}
	assert_int_equal(schedule_zone_check("", NULL), FERRY_EINVAL);
	assert_int_equal(schedule_zone_check(NULL, NULL), FERRY_EINVAL);
	assert_int_equal(schedule_format_local(0, "Mars/Olympus", out, sizeof(out), &err),
	                 FERRY_EINVAL);
	assert_string_equal(out, "");
	assert_int_equal(schedule_zone_check("Europe/Berlin", &err), 0);
	assert_int_equal(schedule_zone_check("UTC", &err), 0);
}

static void test_bad_window_is_refused(void **state)
{
	struct ferry_error err = { 0 };
	struct plan_window none = window(0, 120, 360, zone_utc);
	struct plan_window late = window(SUN, 120, 1440, zone_utc);
	struct plan_window neg = window(SUN, -1, 360, zone_utc);
	int64_t s, e;

	(void)state;
	assert_int_equal(schedule_window_next(&none, 0, &s, &e, &err), FERRY_EINVAL);
	assert_non_null(strstr(err.msg, "no days"));
	assert_int_equal(schedule_window_next(&late, 0, &s, &e, &err), FERRY_EINVAL);
	assert_int_equal(schedule_window_next(&neg, 0, &s, &e, &err), FERRY_EINVAL);
}

static void test_zone_functions_restore_tz(void **state)
{
	struct plan_window w = window(SUN, 120, 360, zone_berlin);
	struct ferry_error err = { 0 };
	int64_t s, e;
	char out[64];

	(void)state;
	setenv("TZ", "UTC", 1);
	assert_int_equal(schedule_window_next(&w, 0, &s, &e, &err), 0);
	assert_string_equal(getenv("TZ"), "UTC");
	assert_int_equal(schedule_format_local(0, "America/New_York", out, sizeof(out), &err), 0);
	assert_string_equal(getenv("TZ"), "UTC");
	unsetenv("TZ");
	assert_int_equal(schedule_window_next(&w, 0, &s, &e, &err), 0);
	assert_null(getenv("TZ"));
	setenv("TZ", "UTC", 1);
	/* Also after an error. */
	{
		struct plan_window bad = window(SUN, 120, 360, zone_berlin);

		bad.days = 0;
		assert_int_equal(schedule_window_next(&bad, 0, &s, &e, &err), FERRY_EINVAL);
		assert_string_equal(getenv("TZ"), "UTC");
	}
}

static void test_format_local_names_day_and_zone(void **state)
{
	(void)state;
	assert_local(T("2026-11-29T01:00:00Z"), "Europe/Berlin", "Sun 2026-11-29 02:00 CET");
	assert_local(T("2026-11-26T05:43:00Z"), NULL, "Thu 2026-11-26 05:43 UTC");
	assert_local(T("2026-11-26T05:43:00Z"), "Asia/Kolkata", "Thu 2026-11-26 11:13 IST");
}

/* ---- The timeline ---- */

static uint32_t plan_steps[] = { 3600, 300, 60 };

static void shop_plan(struct plan *p, struct plan_window w)
{
	memset(p, 0, sizeof(*p));
	p->dns.present = true;
	p->dns.ttl.cutover = 60;
	p->dns.ttl.steps = plan_steps;
	p->dns.ttl.nsteps = 3;
	p->schedule.present = true;
	p->schedule.replication_soak_ms = 24 * 3600 * 1000LL;
	p->schedule.validation_ms = 24 * 3600 * 1000LL;
	p->schedule.monitor_ms = 30 * 60 * 1000LL;
	p->schedule.cutover_window = w;
	p->rollback.window_ms = 72 * 3600 * 1000LL;
}

static void test_timeline_waits_for_soak_then_the_next_window(void **state)
{
	struct plan p;
	struct schedule_timeline tl;
	struct ferry_error err = { 0 };
	int64_t now = T("2026-11-26T06:00:00Z"); /* a Thursday */
	struct schedule_record recs[2] = {
		{ "www.shop.test", 86400, 0, 0 },
		{ "api.shop.test", 300, 0, 3600 },
	};

	(void)state;
	recs[0].last_change = now - 30 * D;
	recs[1].last_change = now - 100;
	shop_plan(&p, window(SUN, 120, 360, zone_berlin));
	assert_int_equal(schedule_timeline_compute(&p, recs, 2, now, now, &tl, &err), 0);
	assert_int_equal(tl.nsteps, 4);
	assert_int_equal(tl.steps[0].record, 0);
	assert_int_equal(tl.steps[2].record, 0);
	assert_int_equal(tl.steps[3].record, 1);
	assert_int_equal(tl.steps[3].ttl, 60);
	assert_int_equal(tl.steps[3].not_before, now + 3500);
	assert_int_equal(tl.ttl_effective[0], now + 86400 + 3600 + 300);
	assert_int_equal(tl.ttl_effective[1], now + 3500 + 300);
	assert_int_equal(tl.cutover_ttl_effective, now + 86400 + 3600 + 300);
	assert_int_equal(tl.validated, T("2026-11-28T06:00:00Z"));
	assert_true(tl.has_window);
	assert_int_equal(tl.earliest_cutover, T("2026-11-29T01:00:00Z"));
	assert_int_equal(tl.window_start, T("2026-11-29T01:00:00Z"));
	assert_int_equal(tl.window_end, T("2026-11-29T05:00:00Z"));
	assert_int_equal(tl.rollback_window_end, T("2026-12-02T01:00:00Z"));
	assert_int_equal(tl.decommission, tl.rollback_window_end);
	schedule_timeline_release(&tl);
	assert_null(tl.steps);
}

static void test_timeline_inside_a_window_cuts_over_at_once(void **state)
{
	struct plan p;
	struct schedule_timeline tl;
	struct ferry_error err = { 0 };
	int64_t now = T("2026-11-26T06:00:00Z");
	struct schedule_record rec = { "www.shop.test", 60, 0, 0 };

	(void)state;
	rec.last_change = now - 30 * D;
	/* Saturday 05:00-08:00 UTC holds the soak's end (Sat 06:00). */
	shop_plan(&p, window(SAT, 5 * 60, 8 * 60, zone_utc));
	assert_int_equal(schedule_timeline_compute(&p, &rec, 1, now, now, &tl, &err), 0);
	assert_int_equal(tl.nsteps, 0);
	assert_int_equal(tl.earliest_cutover, T("2026-11-28T06:00:00Z"));
	assert_int_equal(tl.window_start, T("2026-11-28T05:00:00Z"));
	assert_int_equal(tl.rollback_window_end, T("2026-12-01T06:00:00Z"));
	schedule_timeline_release(&tl);
}

static void test_timeline_ttl_gate_can_be_the_later_one(void **state)
{
	struct plan p;
	struct plan_window none;
	struct schedule_timeline tl;
	struct ferry_error err = { 0 };
	int64_t now = T("2026-11-26T06:00:00Z");
	struct schedule_record rec = { "www.shop.test", 86400, SCHEDULE_UNKNOWN, 0 };

	(void)state;
	memset(&none, 0, sizeof(none));
	shop_plan(&p, none);
	p.schedule.replication_soak_ms = 3600 * 1000LL;
	p.schedule.validation_ms = 1; /* rounded up to a second */
	/* prepare began a day ago */
	assert_int_equal(schedule_timeline_compute(&p, &rec, 1, now, now - D, &tl, &err), 0);
	assert_int_equal(tl.validated, now - D + 3601);
	assert_false(tl.has_window);
	assert_int_equal(tl.window_end, SCHEDULE_FOREVER);
	assert_int_equal(tl.earliest_cutover, now + 86400 + 3600 + 300);
	assert_int_equal(tl.decommission, tl.earliest_cutover + 72 * H);
	schedule_timeline_release(&tl);

	/* No records (a plan without DNS): the soak alone, never before now. */
	p.schedule.replication_soak_ms = 0;
	p.schedule.validation_ms = 0;
	assert_int_equal(schedule_timeline_compute(&p, NULL, 0, now, now - D, &tl, &err), 0);
	assert_int_equal(tl.earliest_cutover, now);
	schedule_timeline_release(&tl);
}

static void test_timeline_error_names_the_window_and_leaves_nothing(void **state)
{
	char typo[] = "Europe/Berln";
	struct plan p;
	struct schedule_timeline tl;
	struct ferry_error err = { 0 };
	struct schedule_record rec = { "www.shop.test", 60, 0, 0 };

	(void)state;
	shop_plan(&p, window(SUN, 120, 360, typo));
	assert_int_equal(schedule_timeline_compute(&p, &rec, 1, 0, 0, &tl, &err), FERRY_EINVAL);
	assert_non_null(strstr(err.msg,
	                       "cutover window: zone Europe/Berln: not in the time-zone database"));
	assert_null(tl.steps);
	assert_null(tl.ttl_effective);
	schedule_timeline_release(&tl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_step_waits_one_old_ttl),
		cmocka_unit_test(test_first_step_waits_for_the_change_that_set_the_live_ttl),
		cmocka_unit_test(test_recomputing_after_each_step_keeps_the_plan),
		cmocka_unit_test(test_live_ttl_already_low_leaves_only_lower_steps),
		cmocka_unit_test(test_live_ttl_at_cutover_needs_no_step),
		cmocka_unit_test(test_first_step_without_history_is_due_now),
		cmocka_unit_test(test_steps_above_live_ttl_are_never_applied),
		cmocka_unit_test(test_effective_is_last_step_plus_the_ttl_it_replaced),
		cmocka_unit_test(test_bad_steps_are_refused_naming_the_record),
		cmocka_unit_test(test_window_inside_returns_the_current_window),
		cmocka_unit_test(test_window_before_returns_that_days_window),
		cmocka_unit_test(test_window_after_end_returns_next_week),
		cmocka_unit_test(test_sync_and_soak_must_end_before_the_next_window_closes),
		cmocka_unit_test(test_every_weekday_mask_finds_its_day),
		cmocka_unit_test(test_window_spanning_midnight_holds_both_sides),
		cmocka_unit_test(test_window_spanning_midnight_belongs_to_its_start_day),
		cmocka_unit_test(test_window_from_equal_to_is_a_whole_day),
		cmocka_unit_test(test_absent_window_means_any_time),
		cmocka_unit_test(test_window_in_berlin_is_local_time),
		cmocka_unit_test(test_window_in_new_york_is_local_time),
		cmocka_unit_test(test_spring_forward_window_starts_at_first_valid_instant_berlin),
		cmocka_unit_test(test_fall_back_window_starts_at_first_occurrence_berlin),
		cmocka_unit_test(test_window_swallowed_by_spring_forward_moves_to_next_week),
		cmocka_unit_test(test_spring_forward_window_starts_at_first_valid_instant_new_york),
		cmocka_unit_test(test_fall_back_window_starts_at_first_occurrence_new_york),
		cmocka_unit_test(test_windows_for_a_whole_year_scan_without_error),
		cmocka_unit_test(test_bad_zone_is_refused_naming_it),
		cmocka_unit_test(test_bad_window_is_refused),
		cmocka_unit_test(test_zone_functions_restore_tz),
		cmocka_unit_test(test_format_local_names_day_and_zone),
		cmocka_unit_test(test_timeline_waits_for_soak_then_the_next_window),
		cmocka_unit_test(test_timeline_inside_a_window_cuts_over_at_once),
		cmocka_unit_test(test_timeline_ttl_gate_can_be_the_later_one),
		cmocka_unit_test(test_timeline_error_names_the_window_and_leaves_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
