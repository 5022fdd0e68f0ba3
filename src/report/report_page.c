/*
 * report_page.c - the report page, section by section, from a struct
 * report_model (report_model.h): the header with the key figures, the phase
 * timeline, the chart sections (TTL, replication lag, traffic, errors and
 * latency, write pause) and the rollback plan (report_charts.c), and the
 * tables of gates, steps and events.  Each section is a function that appends to the page; the
 * first failed append (the page's size limit) is kept in struct page and
 * turns every later append into a no-op, so sections need no error paths.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_page_internal.h"
#include "report/report_svg.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* ---- formatting ---- */

static bool multi_day(const struct report_model *m)
{
	return m->t_last > m->t_first && m->t_first / 86400000 != m->t_last / 86400000;
}

/* "HH:MM:SS" or, for a migration over several days, "MM-DD HH:MM:SS". */
static void clock_str(const struct report_model *m, int64_t t_ms, char *out, size_t outlen)
{
	char full[32];

	if (t_ms <= 0) {
		snprintf(out, outlen, "-");
		return;
	}
	time_rfc3339(t_ms / 1000, full, sizeof(full));
	/* full is "YYYY-MM-DDTHH:MM:SSZ" */
	if (multi_day(m))
		snprintf(out, outlen, "%.5s %.8s", full + 5, full + 11);
	else
		snprintf(out, outlen, "%.8s", full + 11);
}

static void dur_str(int64_t ms, char *out, size_t outlen)
{
	if (ms < 0)
		ms = 0;
	if (ms < 1000)
		snprintf(out, outlen, "%lld ms", (long long)ms);
	else if (ms < 10000)
		snprintf(out, outlen, "%.1f s", (double)ms / 1000);
	else
		duration_human(ms, out, outlen);
}

static const char *level_name(enum log_level l)
{
	switch (l) {
	case LOG_LEVEL_ERROR: return "error";
	case LOG_LEVEL_WARN: return "warn";
	case LOG_LEVEL_INFO: return "info";
	case LOG_LEVEL_DEBUG: return "debug";
	}
	return "info";
}

/* Escaped text, cut at max bytes (on a UTF-8 boundary) with an ellipsis. */
static int esc_cut(struct buf *b, const char *s, size_t max)
{
	size_t n = strlen(s);
	char *cut;
	int r;

	if (n <= max)
		return report_html_escape(b, s);
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	cut = xstrndup(s, max);
	r = report_html_escape(b, cut);
	free(cut);
	if (r == 0)
		r = buf_adds(b, "&hellip;");
	return r;
}

void report_cut(struct page *p, const char *s, size_t max)
{
	if (p->r == 0)
		p->r = esc_cut(p->b, s, max);
}

enum status {
	ST_IDLE,
	ST_RUNNING,
	ST_DONE,
	ST_ROLLED_BACK
};

static enum status status_of(const struct report_model *m)
{
	const char *last;

	if (m->nphases == 0)
		return ST_IDLE;
	last = m->phases[m->nphases - 1].name;
	if (!strcmp(last, "done") || !strcmp(last, "complete") || !strcmp(last, "completed") ||
	    !strcmp(last, "finished"))
		return ST_DONE;
	if (!strcmp(last, "rolled_back") || !strcmp(last, "rollback"))
		return ST_ROLLED_BACK;
	return ST_RUNNING;
}

/* The latest point of series name over every object, or NAN. */
static double series_max(const struct report_model *m, const char *name, bool last_only)
{
	double v = NAN;
	size_t i;

	for (i = 0; i < m->nseries; i++) {
		const struct report_series *s = &m->series[i];
		double x = last_only ? s->vlast : s->vmax;

		if (strcmp(s->name, name) != 0 || s->raw_n == 0)
			continue;
		if (isnan(v) || x > v)
			v = x;
	}
	return v;
}

static void header(struct page *p, const char *title)
{
	const struct report_model *m = p->m;
	enum status st = status_of(m);
	static const char *const st_cls[] = { "st-idle", "st-run", "st-done", "st-rb" };
	char t0[32], t1[32], gen[32], d[32];
	int64_t gen_ms = p->opt->generated_ms ? p->opt->generated_ms : time_wall_ms();
	size_t i, nrb = 0;

	for (i = 0; i < m->nphases; i++)
		nrb += !strcmp(m->phases[i].name, "rolled_back") ||
		       !strcmp(m->phases[i].name, "rollback");

	time_rfc3339(gen_ms / 1000, gen, sizeof(gen));
	out(p, "<header class=\"top\"><div class=\"eyebrow\">ferry &middot; migration "
	       "report</div><h1><span>");
	esc(p, title);
	out(p, "</span><span class=\"status %s\">", st_cls[st]);
	switch (st) {
	case ST_IDLE: out(p, "not started"); break;
	case ST_DONE:
		out(p, "done");
		if (nrb)
			out(p, " &middot; after %zu rollback%s", nrb, nrb > 1 ? "s" : "");
		break;
	case ST_ROLLED_BACK: out(p, "rolled back"); break;
	case ST_RUNNING:
		out(p, "in progress &middot; ");
		esc(p, m->phases[m->nphases - 1].name);
		break;
	}
	out(p, "</span></h1><div class=\"meta\">");
	if (p->opt->plan_path) {
		out(p, "plan <code>");
		esc(p, p->opt->plan_path);
		out(p, "</code> &middot; ");
	}
	out(p, "journal <code>");
	esc(p, journal_path(m->j));
	out(p, "</code> &middot; generated %s</div></header>\n", gen);

	/* Key figures. */
	out(p, "<dl class=\"kpis\">");
	if (m->t_first <= m->t_last) {
		time_rfc3339(m->t_first / 1000, t0, sizeof(t0));
		time_rfc3339(m->t_last / 1000, t1, sizeof(t1));
		dur_str(m->t_last - m->t_first, d, sizeof(d));
		out(p,
		    "<div class=\"kpi\"><dt>Started (UTC)</dt><dd>%.10s<small>%.8s</small></dd>"
		    "</div>",
		    t0, t0 + 11);
		out(p,
		    "<div class=\"kpi\"><dt>%s (UTC)</dt><dd>%.10s<small>%.8s</small></dd></div>",
		    st == ST_RUNNING ? "Last activity" : "Ended", t1, t1 + 11);
		out(p,
		    "<div class=\"kpi\"><dt>Duration</dt><dd>%s<small>%zu phase entr%s</small>"
		    "</dd></div>",
		    d, m->nphases, m->nphases == 1 ? "y" : "ies");
	}
	{
		double pause = series_max(m, "write_pause_ms", true);
		char v[48], bud[48];
		bool over = isfinite(m->pause_budget_ms) && pause > m->pause_budget_ms;

		if (isfinite(pause)) {
			report_format_value(pause, REPORT_UNIT_MS, v, sizeof(v));
			if (isfinite(m->pause_budget_ms))
				report_format_value(m->pause_budget_ms, REPORT_UNIT_MS, bud,
				                    sizeof(bud));
			else
				snprintf(bud, sizeof(bud), "not recorded");
			out(p,
			    "<div class=\"kpi %s\"><dt>Write pause</dt><dd>%s<small>budget %s"
			    "</small></dd></div>",
			    over ? "bad" : "good", v, bud);
		} else {
			out(p,
			    "<div class=\"kpi\"><dt>Write pause</dt><dd>&ndash;<small>no cutover "
			    "yet</small></dd></div>");
		}
	}
	{
		double lag = series_max(m, "lag_seconds", false);
		char v[48];

		if (isfinite(lag)) {
			report_format_value(lag, REPORT_UNIT_SECONDS, v, sizeof(v));
			out(p,
			    "<div class=\"kpi\"><dt>Peak replication lag</dt><dd>%s<small>over "
			    "the whole run</small></dd></div>",
			    v);
		} else {
			out(p,
			    "<div class=\"kpi\"><dt>Peak replication lag</dt><dd>&ndash;<small>no "
			    "samples yet</small></dd></div>");
		}
	}
	out(p,
	    "<div class=\"kpi%s\"><dt>Gate evaluations</dt><dd>%zu<small>%zu passed "
	    "&middot; %zu held</small></dd></div>",
	    m->ngates && m->ngates == m->ngates_ok ? " good" : "", m->ngates, m->ngates_ok,
	    m->ngates - m->ngates_ok);
	{
		size_t failed = 0;

		for (i = 0; i < m->steps.n; i++)
			failed += m->steps.v[i].state == JOURNAL_STEP_FAILED;
		out(p,
		    "<div class=\"kpi\"><dt>Steps</dt><dd>%zu<small>%zu failed &middot; %zu "
		    "events with warnings</small></dd></div>",
		    m->steps.n, failed, m->nwarn + m->nerror);
	}
	if (m->rollback_done || st == ST_ROLLED_BACK) {
		clock_str(m, m->rollback_done, t0, sizeof(t0));
		out(p,
		    "<div class=\"kpi bad\"><dt>Rollback</dt><dd>yes<small>done %s UTC</small>"
		    "</dd></div>",
		    t0);
	} else {
		out(p, "<div class=\"kpi\"><dt>Rollback</dt><dd>none<small>%s</small></dd></div>",
		    m->rollback_plan ? "plan recorded, not run" : "no plan recorded yet");
	}
	out(p, "</dl>\n");
	out(p,
	    "<nav class=\"toc\"><a href=\"#timeline\">Timeline</a><a href=\"#dns\">DNS TTL</a>"
	    "<a href=\"#replication\">Replication</a><a href=\"#traffic\">Traffic</a>"
	    "<a href=\"#health\">Errors &amp; latency</a><a href=\"#pause\">Write pause</a>"
	    "%s<a href=\"#gates\">Gates</a><a href=\"#steps\">Steps</a>"
	    "<a href=\"#events\">Events</a></nav>\n",
	    m->rollback_plan ? "<a href=\"#rollback\">Rollback plan</a>" : "");
}
/* Markers common to the time charts: every entry into the cutover phase
 * and every rollback, from the phase history (the key/values hold only
 * the last cutover).  v has room for max. */
size_t report_vmarks(const struct report_model *m, struct report_vmark *v, size_t max)
{
	size_t n = 0, i;

	for (i = 0; i < m->nphases && n < max; i++) {
		if (!strcmp(m->phases[i].name, "cutover"))
			v[n++] = (struct report_vmark){ "cutover", m->phases[i].t_ms };
		else if (!strcmp(m->phases[i].name, "rolled_back") ||
		         !strcmp(m->phases[i].name, "rollback"))
			v[n++] = (struct report_vmark){ "rollback", m->phases[i].t_ms };
	}
	if (n > 0)
		return n;
	/* No phase history of them: the key/values, when present. */
	if (m->cutover_started || m->cutover_done)
		v[n++] = (struct report_vmark){ "cutover", m->cutover_started ? m->cutover_started
			                                                      : m->cutover_done };
	if (m->rollback_done)
		v[n++] = (struct report_vmark){ "rollback", m->rollback_done };
	return n;
}
/* ---- timeline ---- */

static const char *const phase_order[] = {
	"prepare", "replicate", "validate", "cutover", "decommission", "rolled_back", "done",
};

static const char *phase_class(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(phase_order) / sizeof(phase_order[0]); i++)
		if (!strcmp(name, phase_order[i]))
			return name;
	if (!strcmp(name, "rollback"))
		return "rollback";
	return "other";
}

/* Rows of the timeline: known phases in their order, then the others in
 * the order first seen (in phases or gates). */
static size_t timeline_rows(const struct report_model *m, const char **rows, size_t max)
{
	size_t n = 0, i, k;
	const char *cand;

	for (i = 0; i < sizeof(phase_order) / sizeof(phase_order[0]); i++) {
		bool found = false;

		for (k = 0; k < m->nphases && !found; k++)
			found = !strcmp(m->phases[k].name, phase_order[i]);
		for (k = 0; k < m->ngates && !found; k++)
			found = !strcmp(m->gates[k].phase, phase_order[i]);
		if (found && n < max)
			rows[n++] = phase_order[i];
	}
	for (i = 0; i < m->nphases + m->ngates; i++) {
		cand = i < m->nphases ? m->phases[i].name : m->gates[i - m->nphases].phase;
		for (k = 0; k < n && strcmp(rows[k], cand); k++)
			;
		if (k == n && n < max)
			rows[n++] = cand;
	}
	return n;
}

static void timeline(struct page *p)
{
	const struct report_model *m = p->m;
	const char *rows[24];
	size_t nrows, i, k;
	const double lx = 120, rx = FULL_W - 16, top = 34, rh = 34, bh = 20;
	double h, x0, x1, last_x[24][2];
	struct report_scale xs;
	struct report_ticks xt;
	struct report_vmark vm[MAX_MARKS];
	size_t nvm;
	int64_t t0 = m->t_first, t1 = m->t_last, span;
	char label[64], a[32], b[32];

	section_open(p, "timeline", "Phase timeline",
	             "Each bar is a phase from the moment it was entered until the next one; ticks "
	             "are gate evaluations (green: passed, red: held). Times in UTC.");
	nrows = timeline_rows(m, rows, 24);
	if (nrows == 0 || t0 > t1) {
		nodata(p, FULL_W, 160, "no phase entered yet");
		out(p, "</section>\n");
		return;
	}
	if (t1 - t0 < 10000)
		t1 = t0 + 10000;
	span = t1 - t0;
	h = top + rh * (double)nrows + 34;
	xs = (struct report_scale){ (double)t0, (double)t1, lx, rx, false };
	report_ticks_time(t0, t1, 10, &xt);
	out(p,
	    "<svg class=\"timeline\" viewBox=\"0 0 %d %.0f\" role=\"img\" "
	    "aria-label=\"phase timeline\">\n",
	    FULL_W, h);
	for (i = 0; i < nrows; i++) {
		double y = top + rh * (double)i;

		out(p,
		    "<rect class=\"row-bg\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
		    "rx=\"4\"/><text class=\"row-label\" x=\"0\" y=\"%.1f\">",
		    lx, y + (rh - bh) / 2, rx - lx, bh, y + rh / 2 + 4);
		esc(p, rows[i]);
		out(p, "</text>\n");
		last_x[i][0] = last_x[i][1] = -1e9;
	}
	for (i = 0; i < xt.n; i++) {
		double x = report_scale_map(&xs, xt.v[i]);

		report_format_clock((int64_t)xt.v[i], span, label, sizeof(label));
		out(p,
		    "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
		    "<text class=\"xl\" x=\"%.1f\" y=\"%.1f\">%s</text>\n",
		    x, x, top - 4, h - 26, x, h - 8, label);
	}
	for (i = 0; i < m->nphases; i++) {
		int64_t s = m->phases[i].t_ms;
		int64_t e = i + 1 < m->nphases ? m->phases[i + 1].t_ms : m->t_last;
		double w;

		for (k = 0; k < nrows && strcmp(rows[k], m->phases[i].name); k++)
			;
		x0 = report_scale_map(&xs, (double)s);
		x1 = report_scale_map(&xs, (double)e);
		w = x1 - x0 < 3 ? 3 : x1 - x0;
		dur_str(e - s, label, sizeof(label));
		clock_str(m, s, a, sizeof(a));
		clock_str(m, e, b, sizeof(b));
		out(p,
		    "<rect class=\"ph p-%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
		    "rx=\"4\"><title>",
		    phase_class(m->phases[i].name), x0, top + rh * (double)k + (rh - bh) / 2, w,
		    bh);
		esc(p, m->phases[i].name);
		out(p, ": %s to %s UTC (%s)</title></rect>", a, b, label);
		/* The duration inside the bar when it fits, else after it. */
		if (w > 7.0 * (double)strlen(label) + 12)
			out(p, "<text class=\"ph-label\" x=\"%.1f\" y=\"%.1f\">%s</text>\n",
			    x0 + w / 2, top + rh * (double)k + rh / 2 + 4, label);
		else if (x0 + w + 7.0 * (double)strlen(label) + 8 < rx)
			out(p, "<text class=\"ph-out\" x=\"%.1f\" y=\"%.1f\">%s</text>\n",
			    x0 + w + 5, top + rh * (double)k + rh / 2 + 4, label);
		else
			out(p, "\n");
	}
	for (i = 0; i < m->ngates; i++) {
		const struct report_gate *g = &m->gates[i];
		double x = report_scale_map(&xs, (double)g->t_ms), y;

		for (k = 0; k < nrows && strcmp(rows[k], g->phase); k++)
			;
		if (k == nrows)
			continue;
		/* One tick per pixel and outcome: a gate polled every second for
		 * a day would otherwise be 86400 ticks. */
		if (fabs(x - last_x[k][g->ok]) < 1.5)
			continue;
		last_x[k][g->ok] = x;
		y = top + rh * (double)k + (rh - bh) / 2 - 3;
		clock_str(m, g->t_ms, a, sizeof(a));
		out(p, "<line class=\"%s\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"><title>",
		    g->ok ? "g-ok" : "g-bad", x, x, y, y + bh + 6);
		esc(p, g->gate);
		out(p, " %s at %s UTC: ", g->ok ? "passed" : "held", a);
		report_cut(p, g->evidence, 300);
		out(p, "</title></line>\n");
	}
	nvm = report_vmarks(m, vm, MAX_MARKS);
	if (p->r == 0)
		p->r = report_marks_svg(p->b, vm, nvm, &xs, top - 8, h - 26, 10);
	out(p, "</svg>\n</section>\n");
}
/* ---- tables ---- */

static void gates_section(struct page *p)
{
	const struct report_model *m = p->m;
	size_t i, keep = m->max_rows / 2 ? m->max_rows / 2 : 1;
	char t[32];

	section_open(p, "gates", "Gates", "Every evaluation of a phase's gate and its evidence.");
	if (m->ngates == 0) {
		nodata(p, FULL_W, 90, "no gate evaluated yet");
		out(p, "</section>\n");
		return;
	}
	out(p, "<div class=\"tablewrap\"><table><thead><tr><th>time (UTC)</th><th>phase</th>"
	       "<th>gate</th><th>result</th><th>evidence</th></tr></thead><tbody>\n");
	for (i = 0; i < m->ngates; i++) {
		const struct report_gate *g = &m->gates[i];

		if (m->ngates > 2 * keep && i == keep) {
			out(p,
			    "<tr><td class=\"gap\" colspan=\"5\">&hellip; %zu evaluations not "
			    "shown "
			    "&hellip;</td></tr>\n",
			    m->ngates - 2 * keep);
			i = m->ngates - keep;
			g = &m->gates[i];
		}
		clock_str(m, g->t_ms, t, sizeof(t));
		out(p, "<tr><td class=\"t\">%s</td><td>", t);
		esc(p, g->phase);
		out(p, "</td><td>");
		esc(p, g->gate);
		out(p, "</td><td><span class=\"tag %s\">%s</span></td><td class=\"ev mono\">",
		    g->ok ? "ok" : "failed", g->ok ? "passed" : "held");
		report_cut(p, g->evidence, 600);
		out(p, "</td></tr>\n");
	}
	out(p, "</tbody></table></div></section>\n");
}

static void steps_section(struct page *p)
{
	const struct report_model *m = p->m;
	size_t i, keep = m->max_rows / 2 ? m->max_rows / 2 : 1;
	char t[32], d[32];

	section_open(p, "steps", "Steps",
	             "Every side effect, journaled before and after it happened.");
	if (m->steps.n == 0) {
		nodata(p, FULL_W, 90, "no step yet");
		out(p, "</section>\n");
		return;
	}
	out(p, "<div class=\"tablewrap\"><table><thead><tr><th>start (UTC)</th><th>phase</th>"
	       "<th>step</th><th>object</th><th>state</th><th>duration</th><th>result</th></tr>"
	       "</thead><tbody>\n");
	for (i = 0; i < m->steps.n; i++) {
		const struct journal_step *s = &m->steps.v[i];

		if (m->steps.n > 2 * keep && i == keep) {
			out(p,
			    "<tr><td class=\"gap\" colspan=\"7\">&hellip; %zu steps not shown "
			    "&hellip;</td></tr>\n",
			    m->steps.n - 2 * keep);
			i = m->steps.n - keep;
			s = &m->steps.v[i];
		}
		clock_str(m, s->started_ms, t, sizeof(t));
		if (s->finished_ms)
			dur_str(s->finished_ms - s->started_ms, d, sizeof(d));
		else
			snprintf(d, sizeof(d), "-");
		out(p, "<tr><td class=\"t\">%s</td><td>", t);
		esc(p, s->phase);
		out(p, "</td><td class=\"mono\">");
		esc(p, s->name);
		out(p, "</td><td>");
		esc(p, s->object);
		out(p,
		    "</td><td><span class=\"tag %s\">%s</span></td><td class=\"num\">%s</td>"
		    "<td class=\"ev mono\">",
		    journal_step_state_name(s->state), journal_step_state_name(s->state), d);
		report_cut(p, s->result ? s->result : "", 400);
		out(p, "</td></tr>\n");
	}
	out(p, "</tbody></table></div></section>\n");
}

static void event_row(struct page *p, const struct report_event *e)
{
	char t[32];

	clock_str(p->m, e->t_ms, t, sizeof(t));
	out(p,
	    "<tr class=\"lv-%s\"><td class=\"t\">%s</td><td><span class=\"tag %s\">%s</span>"
	    "</td><td>",
	    level_name(e->level), t, level_name(e->level), level_name(e->level));
	esc(p, e->object);
	out(p, "</td><td class=\"ev\">");
	report_cut(p, e->message, 1000);
	out(p, "</td></tr>\n");
}

static void events_section(struct page *p)
{
	const struct report_model *m = p->m;
	size_t i;

	section_open(p, "events", "Events", "What ferry logged to the journal, oldest first.");
	if (m->nevents == 0) {
		nodata(p, FULL_W, 90, "no event yet");
		out(p, "</section>\n");
		return;
	}
	out(p, "<div class=\"tablewrap\"><table><thead><tr><th>time (UTC)</th><th>level</th>"
	       "<th>object</th><th>message</th></tr></thead><tbody>\n");
	for (i = 0; i < m->nhead; i++)
		event_row(p, &m->head[i]);
	if (m->nevents > m->nhead + m->nring)
		out(p,
		    "<tr><td class=\"gap\" colspan=\"4\">&hellip; %zu events not shown "
		    "&hellip;</td></tr>\n",
		    m->nevents - m->nhead - m->nring);
	for (i = 0; i < m->nring; i++)
		event_row(p, &m->ring[(m->ring_start + i) % m->keep]);
	out(p, "</tbody></table></div></section>\n");
}

int report_page_write(struct buf *b, const struct report_model *m, const struct report_options *opt,
                      const char *title)
{
	struct page pg = { b, 0, m, opt };
	struct page *p = &pg;

	out(p, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	       "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
	       "<meta name=\"generator\" content=\"ferry\"><title>");
	esc(p, title);
	out(p, " &middot; ferry report</title>\n<style>\n%s</style></head>\n<body><main>\n",
	    report_css);
	header(p, title);
	timeline(p);
	report_ttl_section(p);
	report_lag_section(p);
	report_traffic_section(p);
	report_health_section(p);
	report_pause_section(p);
	report_rollback_section(p);
	gates_section(p);
	steps_section(p);
	events_section(p);
	out(p, "<footer>Made by ferry from the journal alone. All times UTC.</footer>\n"
	       "</main></body></html>\n");
	return p->r;
}
