/*
 * report_charts.c - the chart sections of the report page (TTL,
 * replication lag, traffic, errors and latency, write pause) and the
 * rollback plan, each drawn from the series of the report_model by
 * report_svg.c.  report_page.c calls them in page order; they append to
 * the page through the helpers of report_page_internal.h.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report/report_page_internal.h"
#include "report/report_svg.h"

static void chart(struct page *p, const struct report_chart *c)
{
	if (p->r == 0)
		p->r = report_chart_html(p->b, c);
}
/* The objects that have series name, in journal order. */
static size_t objects_of(const struct report_model *m, const char *name, const char **v, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < m->nseries && n < max; i++)
		if (!strcmp(m->series[i].name, name))
			v[n++] = m->series[i].object;
	return n;
}

static struct report_line line_of(const struct report_series *s, const char *label, const char *cls)
{
	struct report_line l = { label, cls, NULL, 0 };

	if (s) {
		l.v = s->pts.v;
		l.n = s->pts.n;
	}
	return l;
}

void report_ttl_section(struct page *p)
{
	const struct report_model *m = p->m;
	const char *obj[64];
	size_t n = objects_of(m, "ttl", obj, 64), i;
	struct report_vmark vm[MAX_MARKS];
	size_t nvm = report_vmarks(m, vm, MAX_MARKS);

	section_open(
	        p, "dns", "DNS TTL",
	        "The TTL served for each record after each change (log scale). ferry lowers it "
	        "step by step, never faster than one old TTL per step.");
	if (n == 0)
		nodata(p, FULL_W, 140, "no TTL change recorded");
	out(p, "<div class=\"grid2\">\n");
	for (i = 0; i < n; i++) {
		struct report_line l =
		        line_of(report_model_series(m, "ttl", obj[i]), obj[i], "s-acc");
		struct report_chart c = { .title = obj[i],
			                  .width = HALF_W,
			                  .height = 200,
			                  .unit = REPORT_UNIT_TTL,
			                  .flags = REPORT_CHART_STEP | REPORT_CHART_LOG_Y,
			                  .lines = &l,
			                  .nlines = 1,
			                  .vmarks = vm,
			                  .nvmarks = nvm };
		const struct report_series *s = report_model_series(m, "ttl", obj[i]);

		/* A TTL holds until the next change: draw it to the end. */
		if (s && s->raw_n) {
			c.t0_ms = s->t_first;
			c.t1_ms = m->t_last;
		}
		out(p, "<div><h3>");
		esc(p, obj[i]);
		out(p, "</h3>");
		chart(p, &c);
		out(p, "</div>\n");
	}
	out(p, "</div></section>\n");
}

void report_lag_section(struct page *p)
{
	const struct report_model *m = p->m;
	const char *obj[64], *more[64];
	size_t n = objects_of(m, "lag_seconds", obj, 64), nb, i, k;
	struct report_vmark vm[MAX_MARKS];
	size_t nvm = report_vmarks(m, vm, MAX_MARKS);

	/* Databases with only a byte series count too. */
	nb = objects_of(m, "lag_bytes", more, 64);
	for (i = 0; i < nb; i++) {
		for (k = 0; k < n && strcmp(obj[k], more[i]); k++)
			;
		if (k == n && n < 64)
			obj[n++] = more[i];
	}
	section_open(p, "replication", "Replication lag",
	             "Per database, sampled every second during replication and the soak: how far "
	             "the target is behind the source, in bytes of WAL and in seconds.");
	if (n == 0)
		nodata(p, FULL_W, 140, "no replication samples");
	for (i = 0; i < n; i++) {
		struct report_hline gate = { "soak gate 1 s", 1 };
		struct report_line lb = line_of(report_model_series(m, "lag_bytes", obj[i]),
		                                "bytes behind", "s-acc");
		struct report_line ls = line_of(report_model_series(m, "lag_seconds", obj[i]),
		                                "seconds behind (log scale)", "s-acc");
		struct report_chart cb = { .title = "replication lag in bytes",
			                   .width = HALF_W,
			                   .height = 210,
			                   .unit = REPORT_UNIT_BYTES,
			                   .flags = REPORT_CHART_ZERO_Y | REPORT_CHART_LEGEND,
			                   .lines = &lb,
			                   .nlines = 1,
			                   .vmarks = vm,
			                   .nvmarks = nvm };
		struct report_chart cs = cb;

		cs.title = "replication lag in seconds";
		cs.unit = REPORT_UNIT_SECONDS;
		cs.lines = &ls;
		/* Log scale: the initial copy (minutes behind) and the soak
		 * (tenths of a second) on one chart; the line is the soak's gate
		 * (DESIGN §1: lag < 1 s over the whole soak window). */
		cs.flags = REPORT_CHART_LOG_Y | REPORT_CHART_LEGEND;
		cs.hlines = &gate;
		cs.nhlines = 1;
		out(p, "<h3 style=\"margin-top:%s\">database <span class=\"obj\">",
		    i ? "18px" : "0");
		esc(p, obj[i]);
		out(p, "</span></h3><div class=\"grid2\"><div>");
		chart(p, &cb);
		out(p, "</div><div>");
		chart(p, &cs);
		out(p, "</div></div>\n");
	}
	out(p, "</section>\n");
}

void report_traffic_section(struct page *p)
{
	const struct report_model *m = p->m;
	static const char *const cls[] = { "s-c1", "s-c2", "s-c3", "s-c4", "s-c5" };
	const char *obj[5];
	size_t n = objects_of(m, "weight_new_pct", obj, 5), i;
	struct report_line lw[6], rps[2];
	const struct report_series *real;
	struct report_vmark vm[MAX_MARKS];
	size_t nvm = report_vmarks(m, vm, MAX_MARKS);
	struct report_chart cw = { .title = "traffic to the new servers",
		                   .width = HALF_W,
		                   .height = 220,
		                   .unit = REPORT_UNIT_PERCENT,
		                   .flags = REPORT_CHART_STEP | REPORT_CHART_ZERO_Y,
		                   .lines = lw,
		                   .nlines = n,
		                   .vmarks = vm,
		                   .nvmarks = nvm,
		                   .ymax = 100 };
	struct report_chart cr = { .title = "requests per second",
		                   .width = HALF_W,
		                   .height = 220,
		                   .unit = REPORT_UNIT_RPS,
		                   .flags = REPORT_CHART_ZERO_Y,
		                   .lines = rps,
		                   .nlines = 2,
		                   .vmarks = vm,
		                   .nvmarks = nvm };

	for (i = 0; i < n; i++) {
		const struct report_series *s = report_model_series(m, "weight_new_pct", obj[i]);

		lw[i] = line_of(s, obj[i], cls[i]);
		/* A weight holds until the next change: draw it to the end. */
		if (s && s->raw_n) {
			if (cw.t1_ms == 0 || s->t_first < cw.t0_ms)
				cw.t0_ms = s->t_first;
			cw.t1_ms = m->t_last;
		}
	}
	/* The realised share (requests the backends served) beside the
	 * requested weight: they differ with weighted DNS. */
	real = n ? report_model_series(m, "share_new_pct", obj[0]) : NULL;
	if (real && real->raw_n)
		lw[cw.nlines++] = line_of(real, "realised", "s-new");
	rps[0] = line_of(report_model_series(m, "rps", "old"), "old", "s-old");
	rps[1] = line_of(report_model_series(m, "rps", "new"), "new", "s-new");
	section_open(p, "traffic", "Traffic",
	             "The share of requests sent to the new servers, step by step, as requested "
	             "(balancer or DNS weights) and as realised (what the backends served), "
	             "and the requests each side served.");
	if (n == 0 && rps[0].n == 0 && rps[1].n == 0) {
		nodata(p, FULL_W, 110, "the traffic split starts in the validate phase");
		out(p, "</section>\n");
		return;
	}
	out(p, "<div class=\"grid2\"><div><h3>weight to new <span class=\"obj\">per "
	       "backend</span></h3>");
	if (n == 1) {
		out(p, "<div class=\"legend\"><span><i class=\"key s-c1\"></i>backend ");
		esc(p, obj[0]);
		out(p, " requested</span>");
		if (cw.nlines > n)
			out(p, "<span><i class=\"key s-new\"></i>realised at the backends</span>");
		out(p, "</div>");
	}
	if (n == 0)
		nodata(p, HALF_W, 220, NULL);
	else
		chart(p, &cw);
	out(p, "</div><div><h3>requests per second <span class=\"obj\">old vs new</span></h3>");
	chart(p, &cr);
	out(p, "</div></div></section>\n");
}

void report_health_section(struct page *p)
{
	const struct report_model *m = p->m;
	struct report_line le[2], lr[2], lh;
	struct report_hline he, hl;
	struct report_vmark vm[MAX_MARKS];
	size_t nvm = report_vmarks(m, vm, MAX_MARKS);
	char lbl_e[64], lbl_l[64], v[48];
	struct report_chart ce = { .title = "error rate",
		                   .width = HALF_W,
		                   .height = 220,
		                   .unit = REPORT_UNIT_PERCENT,
		                   .flags = REPORT_CHART_ZERO_Y,
		                   .lines = le,
		                   .nlines = 2,
		                   .vmarks = vm,
		                   .nvmarks = nvm };
	struct report_chart cl = ce, ch = ce;

	le[0] = line_of(report_model_series(m, "err_pct", "old"), "old", "s-old");
	le[1] = line_of(report_model_series(m, "err_pct", "new"), "new", "s-new");
	lr[0] = line_of(report_model_series(m, "rtime_ms", "old"), "old", "s-old");
	lr[1] = line_of(report_model_series(m, "rtime_ms", "new"), "new", "s-new");
	lh = line_of(report_model_series(m, "health_ms", "new"), "new", "s-new");
	if (isfinite(m->trig_err_pct)) {
		report_format_value(m->trig_err_pct, REPORT_UNIT_PERCENT, v, sizeof(v));
		snprintf(lbl_e, sizeof(lbl_e), "rollback trigger %s", v);
		he = (struct report_hline){ lbl_e, m->trig_err_pct };
		ce.hlines = &he;
		ce.nhlines = 1;
	}
	cl.title = "response time";
	cl.unit = REPORT_UNIT_MS;
	cl.lines = lr;
	if (isfinite(m->trig_lat_ms)) {
		report_format_value(m->trig_lat_ms, REPORT_UNIT_MS, v, sizeof(v));
		snprintf(lbl_l, sizeof(lbl_l), "rollback trigger p99 %s", v);
		hl = (struct report_hline){ lbl_l, m->trig_lat_ms };
		cl.hlines = &hl;
		cl.nhlines = 1;
	}
	ch.title = "health probe latency";
	ch.unit = REPORT_UNIT_MS;
	ch.lines = &lh;
	ch.nlines = 1;
	section_open(p, "health", "Errors and latency",
	             "Old against new, per second, from the load balancer's statistics; dashed: "
	             "the plan's rollback triggers.");
	if (le[0].n + le[1].n + lr[0].n + lr[1].n + lh.n == 0) {
		nodata(p, FULL_W, 110, "measured from the validate phase on");
		out(p, "</section>\n");
		return;
	}
	out(p,
	    "<div class=\"grid2\"><div><h3>error rate <span class=\"obj\">5xx share</span></h3>");
	chart(p, &ce);
	out(p, "</div><div><h3>response time <span class=\"obj\">average</span></h3>");
	chart(p, &cl);
	out(p, "</div><div><h3>health probe <span class=\"obj\">new servers, ferry's own "
	       "check</span></h3>");
	chart(p, &ch);
	out(p, "</div></div></section>\n");
}

/* One row: the last pause of series s as a big number, a bar against the
 * budget, and the pauses of earlier cutovers (after a rollback) in small. */
static void pause_row(struct page *p, const struct report_series *s, const char *what, double scale,
                      double budget, const char *fill)
{
	const double w = FULL_W - 190, bh = 16;
	struct report_scale xs = { 0, scale, 0, w, false };
	char v[48], bud[48];
	double ms = s->vlast, x = report_scale_map(&xs, ms);
	const char *sp;
	size_t i;

	report_format_value(ms, REPORT_UNIT_MS, v, sizeof(v));
	/* "42 ms" as a big number and a small unit. */
	sp = strrchr(v, ' ');
	out(p, "<div class=\"pause\"><div><div class=\"big\">%.*s<small>%s</small></div>",
	    sp ? (int)(sp - v) : (int)strlen(v), v, sp ? sp + 1 : "");
	out(p, "<div class=\"who\">");
	esc(p, what);
	out(p, " <b>");
	esc(p, s->object);
	out(p, "</b>");
	if (s->pts.n > 1) {
		out(p, "<br>earlier cutover%s: ", s->pts.n > 2 ? "s" : "");
		for (i = 0; i + 1 < s->pts.n && i < 5; i++) {
			report_format_value(s->pts.v[i].value, REPORT_UNIT_MS, v, sizeof(v));
			out(p, "%s%s", i ? ", " : "", v);
		}
	}
	out(p, "</div></div>");
	out(p,
	    "<svg class=\"bar\" viewBox=\"0 0 %.0f 40\" role=\"img\" aria-label=\"write pause "
	    "against the budget\">"
	    "<rect class=\"track\" x=\"0\" y=\"6\" width=\"%.1f\" height=\"%.0f\" rx=\"8\"/>"
	    "<rect class=\"%s\" x=\"0\" y=\"6\" width=\"%.1f\" height=\"%.0f\" rx=\"8\"/>",
	    w, w, bh, fill, x < bh ? bh : x, bh);
	if (isfinite(budget) && budget > 0) {
		double bx = report_scale_map(&xs, budget), pct = 100 * ms / budget;

		report_format_value(budget, REPORT_UNIT_MS, bud, sizeof(bud));
		report_format_value(pct, REPORT_UNIT_PERCENT, v, sizeof(v));
		out(p,
		    "<text class=\"pct\" x=\"%.1f\" y=\"18.5\">%s of the budget</text>"
		    "<line class=\"budget\" x1=\"%.1f\" x2=\"%.1f\" y1=\"1\" y2=\"27\"/>"
		    "<text x=\"%.1f\" y=\"38\" style=\"text-anchor:end\">budget %s</text>",
		    (x < bh ? bh : x) + 8, v, bx, bx, bx - 2, bud);
	}
	out(p, "<text x=\"0\" y=\"38\">0</text></svg></div>\n");
}

void report_pause_section(struct page *p)
{
	const struct report_model *m = p->m;
	const char *obj[64], *cli[8];
	size_t n = objects_of(m, "write_pause_ms", obj, 64);
	size_t nc = objects_of(m, "client_pause_ms", cli, 8), i;
	double scale = isfinite(m->pause_budget_ms) ? m->pause_budget_ms : 0;
	const struct report_series *s;

	for (i = 0; i < n; i++) {
		s = report_model_series(m, "write_pause_ms", obj[i]);
		if (s->vlast > scale)
			scale = s->vlast;
	}
	for (i = 0; i < nc; i++) {
		s = report_model_series(m, "client_pause_ms", cli[i]);
		if (s->vlast > scale)
			scale = s->vlast;
	}
	scale = scale > 0 ? scale * 1.08 : 1;
	section_open(
	        p, "pause", "Cutover write pause",
	        "How long writes were held during the single-writer switch, as ferry measured "
	        "it (fence to resume), and as the client saw it when one reported; against the "
	        "plan's budget.");
	if (n == 0 && nc == 0)
		nodata(p, FULL_W, 120, "no cutover yet");
	for (i = 0; i < n; i++) {
		s = report_model_series(m, "write_pause_ms", obj[i]);
		pause_row(p, s, "database", scale, m->pause_budget_ms,
		          isfinite(m->pause_budget_ms) && s->vlast > m->pause_budget_ms
		                  ? "fill-bad"
		                  : "fill-ok");
	}
	for (i = 0; i < nc; i++) {
		s = report_model_series(m, "client_pause_ms", cli[i]);
		pause_row(p, s, "client", scale, m->pause_budget_ms, "fill-cli");
	}
	out(p, "</section>\n");
}

void report_rollback_section(struct page *p)
{
	const struct report_model *m = p->m;

	if (m->rollback_answers) {
		section_open(
		        p, "answers", "Rollback: the five answers",
		        "What the cutover gate found before anything changed: the trigger, "
		        "who may authorize, how long a rollback takes (measured), what data is "
		        "at risk, when the window ends.");
		out(p, "<pre class=\"plan\">");
		report_cut(p, m->rollback_answers, 64 * 1024);
		out(p, "</pre></section>\n");
	}
	if (!m->rollback_plan)
		return;
	section_open(p, "rollback", "Rollback plan",
	             "Written to the journal before the cutover changed anything: what "
	             "<code>ferry rollback</code> runs.");
	out(p, "<pre class=\"plan\">");
	report_cut(p, m->rollback_plan, 64 * 1024);
	out(p, "</pre></section>\n");
}
