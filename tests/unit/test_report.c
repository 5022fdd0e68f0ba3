/*
 * test_report.c - the report: the SVG helpers (escaping, nice numbers and
 * ticks, scales, min/max thinning, value formatting, charts and their
 * "no data" placeholder) and whole pages rendered from real journals
 * written through the journal API: one with every series, a rollback, a
 * 50000-point series and hostile text; one empty; one too big for its
 * buffer.
 *
 * Journals live in a temporary folder made by the setup and removed by the
 * teardown, even when a test fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "journal/journal.h"
#include "report/report.h"
#include "report/report_svg.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/timeutil.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/ferry-test-report-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/shop.ferry.db", f->dir);
	*state = f;
	return 0;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* ---- escaping and formatting ---- */

static void test_escape_replaces_the_five_html_specials(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(report_html_escape(&b, "<a href=\"x\">'&'</a> plain"), 0);
	assert_string_equal(b.data, "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt; plain");
	buf_reset(&b);
	assert_int_equal(report_html_escape(&b, NULL), 0);
	assert_int_equal(report_html_escape(&b, ""), 0);
	assert_string_equal(b.data, "");
	buf_release(&b);
}

static void test_escape_fails_past_the_buffer_limit(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(report_html_escape(&b, "<<<<"), FERRY_EPROTO);
	buf_release(&b);
}

static void test_format_value_per_unit(void **state)
{
	static const struct {
		double v;
		enum report_unit u;
		const char *want;
	} cases[] = {
		{ 2e9, REPORT_UNIT_BYTES, "2 GB" },
		{ 1500, REPORT_UNIT_BYTES, "1.5 kB" },
		{ 0, REPORT_UNIT_BYTES, "0 B" },
		{ 42, REPORT_UNIT_MS, "42 ms" },
		{ 1500, REPORT_UNIT_MS, "1.5 s" },
		{ 0.5, REPORT_UNIT_MS, "0.5 ms" },
		{ 0.5, REPORT_UNIT_PERCENT, "0.5 %" },
		{ 25, REPORT_UNIT_PERCENT, "25 %" },
		{ 86400, REPORT_UNIT_TTL, "1d" },
		{ 300, REPORT_UNIT_TTL, "5m" },
		{ 90, REPORT_UNIT_TTL, "90s" },
		{ 3600, REPORT_UNIT_TTL, "1h" },
		{ 0.25, REPORT_UNIT_SECONDS, "0.25 s" },
		{ 300, REPORT_UNIT_SECONDS, "5 min" },
		{ 1234, REPORT_UNIT_NUMBER, "1.23k" },
		{ 120, REPORT_UNIT_RPS, "120/s" },
		{ NAN, REPORT_UNIT_MS, "-" },
	};
	char out[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		report_format_value(cases[i].v, cases[i].u, out, sizeof(out));
		assert_string_equal(out, cases[i].want);
	}
}

static void test_format_clock_short_and_long_spans(void **state)
{
	char out[32];
	int64_t t = 1795161600000LL + 3723000; /* 2026-11-20T09:02:03Z */

	(void)state;
	report_format_clock(t, 3600000, out, sizeof(out));
	assert_string_equal(out, "09:02:03");
	report_format_clock(t, 3 * 86400000LL, out, sizeof(out));
	assert_string_equal(out, "11-20 09:02");
}

/* ---- ticks and scales ---- */

static void test_nice_num_rounds_to_1_2_5(void **state)
{
	(void)state;
	assert_true(fabs(report_nice_num(23, false) - 50) < 1e-9);
	assert_true(fabs(report_nice_num(23, true) - 20) < 1e-9);
	assert_true(fabs(report_nice_num(0.7, true) - 1) < 1e-9);
	assert_true(fabs(report_nice_num(0.12, false) - 0.2) < 1e-9);
	assert_true(fabs(report_nice_num(1000, false) - 1000) < 1e-9);
	assert_true(report_nice_num(0, true) == 0);
	assert_true(report_nice_num(-3, true) == 0);
	assert_true(report_nice_num(NAN, true) == 0);
}

static void test_ticks_nice_cover_the_data_with_whole_steps(void **state)
{
	struct report_ticks t;

	(void)state;
	report_ticks_nice(0, 2.1e9, 5, &t);
	assert_true(t.step == 1e9);
	assert_int_equal(t.n, 4);
	assert_true(t.v[0] == 0 && t.v[3] == 3e9 && t.hi == 3e9 && t.lo == 0);

	/* Snapped to the step: 0.3 is 0.3, not 0.30000000000000004. */
	report_ticks_nice(0.1, 0.3, 5, &t);
	assert_int_equal(t.n, 5);
	assert_true(t.v[4] == 0.3);
	assert_true(t.v[1] == 0.15);

	/* One value is widened around itself; nothing finite gives [0, 1]. */
	report_ticks_nice(5, 5, 5, &t);
	assert_true(t.lo <= 2.5 && t.hi >= 7.5 && t.n >= 2);
	report_ticks_nice(NAN, INFINITY, 5, &t);
	assert_true(t.lo == 0 && t.hi == 1);
	report_ticks_nice(0, 0, 5, &t);
	assert_true(t.lo == 0 && t.hi == 1);
}

static void test_ticks_time_align_to_calendar_steps(void **state)
{
	const int64_t t0 = 1795161600000LL; /* 2026-11-20T08:00:00Z */
	struct report_ticks t;
	size_t i;

	(void)state;
	report_ticks_time(t0, t0 + 86400000, 10, &t);
	assert_true(t.step == 3 * 3600000.0);
	assert_true(t.n >= 8 && t.n <= 10);
	assert_true(t.v[0] == (double)(t0 + 3600000)); /* 09:00, a multiple of 3 h */
	for (i = 0; i < t.n; i++) {
		assert_true(fmod(t.v[i], t.step) == 0);
		assert_true(t.v[i] >= (double)t0 && t.v[i] <= (double)(t0 + 86400000));
	}
	report_ticks_time(t0, t0 + 45000, 6, &t);
	assert_true(t.step == 10000);
	/* A year in 10 ticks: coarsened, never more than the array holds. */
	report_ticks_time(t0, t0 + 365LL * 86400000, 10, &t);
	assert_true(t.n <= REPORT_TICKS_MAX && t.n >= 2);
}

static void test_scale_map_linear_log_and_degenerate(void **state)
{
	struct report_scale lin = { 0, 10, 0, 100, false };
	struct report_scale inv = { 0, 10, 200, 0, false };
	struct report_scale lg = { 1, 1000, 0, 300, true };
	struct report_scale flat = { 5, 5, 0, 100, false };

	(void)state;
	assert_true(fabs(report_scale_map(&lin, 5) - 50) < 1e-9);
	assert_true(fabs(report_scale_map(&inv, 10) - 0) < 1e-9);
	assert_true(fabs(report_scale_map(&lg, 10) - 100) < 1e-9);
	assert_true(fabs(report_scale_map(&lg, 0) - 0) < 1e-9); /* clamped to d0 */
	assert_true(fabs(report_scale_map(&flat, 5) - 50) < 1e-9);
}

/* ---- thinning ---- */

static void test_thin_bounds_size_and_keeps_the_spike(void **state)
{
	struct journal_point *in = xcalloc(100000, sizeof(*in));
	struct journal_points out = { 0 };
	bool spike = false, dip = false;
	size_t i;

	(void)state;
	for (i = 0; i < 100000; i++) {
		in[i].t_ms = 1000 * (int64_t)i;
		in[i].value = 1 + sin((double)i / 500);
	}
	in[54321].value = 1000; /* a one-second lag spike */
	in[77777].value = -50;
	report_thin(in, 100000, 2000, &out);
	assert_true(out.n <= 2000 && out.n > 1000);
	for (i = 0; i < out.n; i++) {
		spike |= out.v[i].value == 1000;
		dip |= out.v[i].value == -50;
		if (i)
			assert_true(out.v[i].t_ms > out.v[i - 1].t_ms);
	}
	assert_true(spike && dip);
	journal_points_release(&out);

	/* Short series are copied as they are. */
	report_thin(in, 10, 2000, &out);
	assert_int_equal(out.n, 10);
	assert_memory_equal(out.v, in, 10 * sizeof(*in));
	journal_points_release(&out);
	report_thin(in, 0, 2000, &out);
	assert_int_equal(out.n, 0);
	journal_points_release(&out);
	free(in);
}

/* ---- charts ---- */

static void test_chart_without_points_is_a_placeholder(void **state)
{
	struct report_line l = { "new", "s-new", NULL, 0 };
	struct report_chart c = {
		.title = "rps", .width = 520, .height = 200, .lines = &l, .nlines = 1
	};
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 20);
	assert_int_equal(report_chart_html(&b, &c), 0);
	assert_non_null(strstr(b.data, "class=\"nodata\""));
	assert_non_null(strstr(b.data, "no data"));
	assert_null(strstr(b.data, "<svg"));
	buf_release(&b);
}

static void test_chart_draws_axes_lines_legend_threshold_and_marks(void **state)
{
	struct journal_point a[3] = { { 1000000, 0.1 }, { 1060000, 0.4 }, { 1120000, 0.2 } };
	struct journal_point n[1] = { { 1090000, 2.5 } };
	struct report_line l[2] = { { "old <a&b>", "s-old", a, 3 }, { "new", "s-new", n, 1 } };
	struct report_hline h = { "trigger 1 %", 1 };
	struct report_vmark v[2] = { { "cutover", 1050000 }, { "outside", 5 } };
	struct report_chart c = { .title = "error \"rate\"",
		                  .width = 520,
		                  .height = 200,
		                  .unit = REPORT_UNIT_PERCENT,
		                  .flags = REPORT_CHART_ZERO_Y,
		                  .lines = l,
		                  .nlines = 2,
		                  .hlines = &h,
		                  .nhlines = 1,
		                  .vmarks = v,
		                  .nvmarks = 2 };
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 20);
	assert_int_equal(report_chart_html(&b, &c), 0);
	assert_non_null(strstr(b.data, "<div class=\"legend\">"));
	assert_non_null(strstr(b.data, "old &lt;a&amp;b&gt;"));
	assert_null(strstr(b.data, "<a&b>"));
	assert_non_null(strstr(b.data, "aria-label=\"error &quot;rate&quot;\""));
	assert_non_null(strstr(b.data, "viewBox=\"0 0 520 200\""));
	assert_non_null(strstr(b.data, "class=\"thr\""));
	assert_non_null(strstr(b.data, ">0 %</text>")); /* zero-based y axis */
	assert_non_null(strstr(b.data, ">cutover</text>"));
	assert_null(strstr(b.data, "outside")); /* a mark outside the domain */
	assert_non_null(strstr(b.data, "class=\"ln s-old\""));
	/* The lone point of "new" gets a dot with a tooltip. */
	assert_non_null(strstr(b.data, "<circle class=\"dot s-new\""));
	assert_non_null(strstr(b.data, "</svg>"));
	buf_release(&b);
}

static void test_step_chart_holds_the_last_value_to_the_end(void **state)
{
	struct journal_point p[2] = { { 0, 86400 }, { 600000, 60 } };
	struct report_line l = { "www", "s-acc", p, 2 };
	struct report_chart c = { .title = "ttl",
		                  .width = 520,
		                  .height = 200,
		                  .unit = REPORT_UNIT_TTL,
		                  .flags = REPORT_CHART_STEP | REPORT_CHART_LOG_Y,
		                  .lines = &l,
		                  .nlines = 1,
		                  .t0_ms = 0,
		                  .t1_ms = 1200000 };
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 20);
	assert_int_equal(report_chart_html(&b, &c), 0);
	/* Ticks at the TTLs seen, and the path ends with a horizontal run to
	 * the right edge of the plot (520 - 18). */
	assert_non_null(strstr(b.data, ">1d</text>"));
	assert_non_null(strstr(b.data, ">1m</text>"));
	assert_non_null(strstr(b.data, "H502.0\"/>"));
	buf_release(&b);
}

/* ---- whole pages ---- */

static void fill_journal(struct journal *j, bool huge)
{
	struct ferry_error err = { 0 };
	int64_t t0 = time_wall_ms() - 3600000, id, i;
	static const char *const series_old_new[] = { "rps", "err_pct", "rtime_ms" };
	size_t s;

	assert_int_equal(journal_phase_set(j, "prepare", &err), 0);
	assert_int_equal(
	        journal_step_begin(j, "prepare", "ttl.lower", "www.shop.test", NULL, &id, &err), 0);
	assert_int_equal(journal_step_done(j, id, true, "{\"to\":60}", &err), 0);
	assert_int_equal(journal_gate_record(j, "prepare", "ttl.cutover_served", true,
	                                     "{\"served\":60,\"note\":\"<b>&\"}", &err),
	                 0);
	assert_int_equal(journal_phase_set(j, "replicate", &err), 0);
	assert_int_equal(journal_phase_set(j, "validate", &err), 0);
	assert_int_equal(journal_phase_set(j, "cutover", &err), 0);
	assert_int_equal(
	        journal_step_begin(j, "cutover", "pgbouncer.pause", "main@old", NULL, &id, &err),
	        0);
	assert_int_equal(journal_step_done(j, id, false, "timeout <after> 5s & more", &err), 0);
	assert_int_equal(journal_event_add(j, LOG_LEVEL_ERROR, "web", &err,
	                                   "hook said <script>alert(1)</script> & left"),
	                 0);
	assert_int_equal(journal_phase_set(j, "rolled_back", &err), 0);
	assert_int_equal(
	        journal_set(j, "rollback.plan", "dns: www A new -> old\n<rollback/>", &err), 0);
	assert_int_equal(journal_set(j, "trigger.error_rate", "1%", &err), 0);
	assert_int_equal(journal_set(j, "trigger.latency_p99_ms", "800", &err), 0);
	assert_int_equal(journal_set(j, "cutover.pause_budget_ms", "5000", &err), 0);
	assert_int_equal(journal_set(j, "plan.name", "shop & <co>", &err), 0);

	assert_int_equal(journal_samples_begin(j, &err), 0);
	for (i = 0; i < (huge ? 50000 : 600); i++) {
		assert_int_equal(journal_sample_add(j, "lag_bytes", "main", t0 + i * 1000,
		                                    1e6 * (1 + sin((double)i / 30)), &err),
		                 0);
		assert_int_equal(journal_sample_add(j, "lag_seconds", "main", t0 + i * 1000,
		                                    0.1 + 0.05 * sin((double)i / 30), &err),
		                 0);
	}
	for (i = 0; i < 600; i++) {
		for (s = 0; s < 3; s++) {
			assert_int_equal(journal_sample_add(j, series_old_new[s], "old",
			                                    t0 + i * 1000, 10 + (double)(i % 7),
			                                    &err),
			                 0);
			assert_int_equal(journal_sample_add(j, series_old_new[s], "new",
			                                    t0 + i * 1000, 12 + (double)(i % 5),
			                                    &err),
			                 0);
		}
		assert_int_equal(journal_sample_add(j, "health_ms", "new", t0 + i * 1000, 14, &err),
		                 0);
	}
	assert_int_equal(journal_sample_add(j, "ttl", "www.shop.test", t0, 3600, &err), 0);
	assert_int_equal(journal_sample_add(j, "ttl", "www.shop.test", t0 + 60000, 60, &err), 0);
	assert_int_equal(journal_sample_add(j, "weight_new_pct", "web", t0, 0, &err), 0);
	assert_int_equal(journal_sample_add(j, "weight_new_pct", "web", t0 + 60000, 5, &err), 0);
	assert_int_equal(journal_sample_add(j, "weight_new_pct", "web", t0 + 120000, 100, &err), 0);
	assert_int_equal(journal_sample_add(j, "write_pause_ms", "main", t0 + 130000, 42, &err), 0);
	assert_int_equal(journal_sample_add(j, "client_pause_ms", "ledger", t0 + 131000, 61, &err),
	                 0);
	assert_int_equal(journal_samples_commit(j, &err), 0);
}

static char *render(const char *path, size_t max, int *rc)
{
	struct ferry_error err = { 0 };
	struct journal *j = NULL;
	struct report_options opt = { .generated_ms = 1795161600000LL };
	struct buf b;

	assert_int_equal(journal_open(&j, path, JOURNAL_OPEN_READONLY, &err), 0);
	buf_init(&b, max);
	*rc = report_render(j, &opt, &b, &err);
	journal_close(j);
	return buf_detach(&b, NULL);
}

static void test_page_with_every_series_and_a_rollback(void **state)
{
	static const char *const ids[] = { "timeline", "dns",   "replication", "traffic",
		                           "health",   "pause", "rollback",    "gates",
		                           "steps",    "events" };
	struct fixture *f = *state;
	struct ferry_error err = { 0 };
	struct journal *j = NULL;
	char *page, want[64];
	size_t i;
	int rc;

	assert_int_equal(journal_open(&j, f->path, JOURNAL_OPEN_CREATE, &err), 0);
	fill_journal(j, true);
	journal_close(j);

	page = render(f->path, 8u << 20, &rc);
	assert_int_equal(rc, 0);
	assert_true(strncmp(page, "<!DOCTYPE html>", 15) == 0);
	assert_non_null(strstr(page, "</html>"));
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		snprintf(want, sizeof(want), "id=\"%s\"", ids[i]);
		assert_non_null(strstr(page, want));
	}
	/* Status and the title from "plan.name", escaped. */
	assert_non_null(strstr(page, "rolled back"));
	assert_non_null(strstr(page, "<title>shop &amp; &lt;co&gt; &middot; ferry report</title>"));
	/* Journal text is inert wherever it lands. */
	assert_null(strstr(page, "<script"));
	assert_non_null(strstr(page, "hook said &lt;script&gt;alert(1)&lt;/script&gt; &amp; left"));
	assert_non_null(strstr(page, "timeout &lt;after&gt; 5s &amp; more"));
	assert_non_null(strstr(page, "&lt;rollback/&gt;"));
	assert_null(strstr(page, "<b>&"));
	/* Thresholds from the key/values, the pause against its budget. */
	assert_non_null(strstr(page, "rollback trigger 1 %"));
	assert_non_null(strstr(page, "rollback trigger p99 800 ms"));
	assert_non_null(strstr(page, "budget 5 s"));
	assert_non_null(strstr(page, ">42<small>ms</small>"));
	/* Every chart section has data: no placeholder on this page. */
	assert_null(strstr(page, "class=\"nodata\""));
	/* 50000 lag points per series, thinned: the page stays small. */
	assert_true(strlen(page) < 600 * 1024);
	/* Self-contained: nothing fetched from anywhere. */
	assert_null(strstr(page, "src="));
	assert_null(strstr(page, "http://"));
	assert_null(strstr(page, "https://"));
	free(page);
}

static void test_empty_journal_gives_placeholders(void **state)
{
	struct fixture *f = *state;
	struct ferry_error err = { 0 };
	struct journal *j = NULL;
	char *page;
	int rc;

	assert_int_equal(journal_open(&j, f->path, JOURNAL_OPEN_CREATE, &err), 0);
	journal_close(j);
	page = render(f->path, 1 << 20, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(page, "not started"));
	assert_non_null(strstr(page, "no phase entered yet"));
	assert_non_null(strstr(page, "no replication samples"));
	assert_non_null(strstr(page, "no cutover yet"));
	/* The title falls back to the journal's file name. */
	assert_non_null(strstr(page, "<title>shop &middot; ferry report</title>"));
	assert_null(strstr(page, "<path"));
	free(page);
}

static void test_page_past_its_limit_fails_cleanly(void **state)
{
	struct fixture *f = *state;
	struct ferry_error err = { 0 };
	struct journal *j = NULL;
	char *page;
	int rc;

	assert_int_equal(journal_open(&j, f->path, JOURNAL_OPEN_CREATE, &err), 0);
	fill_journal(j, false);
	journal_close(j);
	page = render(f->path, 16 * 1024, &rc);
	assert_int_equal(rc, FERRY_EPROTO);
	free(page);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_replaces_the_five_html_specials),
		cmocka_unit_test(test_escape_fails_past_the_buffer_limit),
		cmocka_unit_test(test_format_value_per_unit),
		cmocka_unit_test(test_format_clock_short_and_long_spans),
		cmocka_unit_test(test_nice_num_rounds_to_1_2_5),
		cmocka_unit_test(test_ticks_nice_cover_the_data_with_whole_steps),
		cmocka_unit_test(test_ticks_time_align_to_calendar_steps),
		cmocka_unit_test(test_scale_map_linear_log_and_degenerate),
		cmocka_unit_test(test_thin_bounds_size_and_keeps_the_spike),
		cmocka_unit_test(test_chart_without_points_is_a_placeholder),
		cmocka_unit_test(test_chart_draws_axes_lines_legend_threshold_and_marks),
		cmocka_unit_test(test_step_chart_holds_the_last_value_to_the_end),
		cmocka_unit_test_setup_teardown(test_page_with_every_series_and_a_rollback, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_empty_journal_gives_placeholders, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_page_past_its_limit_fails_cleanly, setup,
		                                teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
