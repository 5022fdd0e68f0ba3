/*
 * report_svg.c - see report_svg.h.
 *
 * The parts, bottom up: escaping; number and clock formatting; nice ticks
 * for values and calendar ticks for time; scales; thinning; and
 * report_chart_html(), which lays a chart out as a plot rectangle inside
 * fixed margins (y labels left, time labels below) and draws, in order,
 * grid, axes labels, thresholds, markers, then the lines on top.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/report_svg.h"
#include "util/error.h"
#include "util/mem.h"

int report_html_escape(struct buf *b, const char *s)
{
	const char *p, *run;
	int r = 0;

	if (!s)
		return 0;
	for (run = p = s; *p && r == 0; p++) {
		const char *ent = NULL;

		switch (*p) {
		case '&': ent = "&amp;"; break;
		case '<': ent = "&lt;"; break;
		case '>': ent = "&gt;"; break;
		case '"': ent = "&quot;"; break;
		case '\'': ent = "&#39;"; break;
		}
		if (!ent)
			continue;
		r = buf_add(b, run, (size_t)(p - run));
		if (r == 0)
			r = buf_adds(b, ent);
		run = p + 1;
	}
	if (r == 0)
		r = buf_add(b, run, strlen(run));
	return r;
}

/* ---- numbers ---- */

/* v with at most `dec` decimals, trailing zeros (and a bare point) cut. */
static void trimmed(double v, int dec, char *out, size_t outlen)
{
	char *dot, *e;

	snprintf(out, outlen, "%.*f", dec, v);
	dot = strchr(out, '.');
	if (!dot)
		return;
	e = out + strlen(out) - 1;
	while (e > dot && *e == '0')
		*e-- = '\0';
	if (e == dot)
		*e = '\0';
	if (strcmp(out, "-0") == 0)
		snprintf(out, outlen, "0");
}

static int decimals_for(double v)
{
	double a = fabs(v);

	if (a >= 100)
		return 0;
	if (a >= 10)
		return 1;
	return 2;
}

/* v scaled by the largest of the given steps it reaches, with its suffix. */
static void scaled(double v, const double *step, const char *const *suffix, size_t n,
                   const char *sep, char *out, size_t outlen)
{
	char num[48];
	size_t i = 0;

	while (i + 1 < n && fabs(v) >= step[i + 1])
		i++;
	trimmed(v / step[i], decimals_for(v / step[i]), num, sizeof(num));
	snprintf(out, outlen, "%s%s%s", num, *suffix[i] ? sep : "", suffix[i]);
}

void report_format_value(double v, enum report_unit u, char *out, size_t outlen)
{
	static const double k[] = { 1, 1e3, 1e6, 1e9, 1e12 };
	static const char *const num_sfx[] = { "", "k", "M", "G", "T" };
	static const char *const byte_sfx[] = { "B", "kB", "MB", "GB", "TB" };
	char num[48];

	if (!isfinite(v)) {
		snprintf(out, outlen, "-");
		return;
	}
	switch (u) {
	case REPORT_UNIT_BYTES: scaled(v, k, byte_sfx, 5, " ", out, outlen); return;
	case REPORT_UNIT_NUMBER: scaled(v, k, num_sfx, 5, "", out, outlen); return;
	case REPORT_UNIT_RPS:
		scaled(v, k, num_sfx, 5, "", num, sizeof(num));
		snprintf(out, outlen, "%s/s", num);
		return;
	case REPORT_UNIT_PERCENT:
		trimmed(v, decimals_for(v), num, sizeof(num));
		snprintf(out, outlen, "%s %%", num);
		return;
	case REPORT_UNIT_MS:
		if (fabs(v) >= 1000) {
			trimmed(v / 1000, decimals_for(v / 1000), num, sizeof(num));
			snprintf(out, outlen, "%s s", num);
		} else {
			trimmed(v, fabs(v) >= 10 ? 0 : 1, num, sizeof(num));
			snprintf(out, outlen, "%s ms", num);
		}
		return;
	case REPORT_UNIT_SECONDS:
		if (fabs(v) >= 120) {
			trimmed(v / 60, decimals_for(v / 60), num, sizeof(num));
			snprintf(out, outlen, "%s min", num);
		} else {
			trimmed(v, decimals_for(v), num, sizeof(num));
			snprintf(out, outlen, "%s s", num);
		}
		return;
	case REPORT_UNIT_TTL: {
		static const double unit_s[] = { 86400, 3600, 60, 1 };
		static const char *const unit_n[] = { "d", "h", "m", "s" };
		long long s = llround(v);
		size_t i;

		for (i = 0; i < 4; i++) {
			if (s != 0 && s % (long long)unit_s[i] == 0) {
				snprintf(out, outlen, "%lld%s", s / (long long)unit_s[i],
				         unit_n[i]);
				return;
			}
		}
		snprintf(out, outlen, "%llds", s);
		return;
	}
	}
	trimmed(v, 2, out, outlen);
}

void report_format_clock(int64_t t_ms, int64_t span_ms, char *out, size_t outlen)
{
	time_t tt = (time_t)(t_ms >= 0 ? t_ms / 1000 : (t_ms - 999) / 1000);
	struct tm tm;

	gmtime_r(&tt, &tm);
	if (span_ms < 86400000)
		strftime(out, outlen, span_ms > 7200000 ? "%H:%M" : "%H:%M:%S", &tm);
	else
		strftime(out, outlen, "%m-%d %H:%M", &tm);
}

double report_nice_num(double x, bool round)
{
	double e, f, nf;

	if (!isfinite(x) || x <= 0)
		return 0;
	e = floor(log10(x));
	/* Rounded to 9 digits, so that 0.7 / 0.1 = 6.9999999999 counts as 7. */
	f = nearbyint(x / pow(10, e) * 1e9) / 1e9;
	if (round)
		nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
	else
		nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
	return nf * pow(10, e);
}

void report_ticks_nice(double lo, double hi, int target, struct report_ticks *t)
{
	double step, v, k, dec;

	memset(t, 0, sizeof(*t));
	if (target < 2)
		target = 2;
	if (target > REPORT_TICKS_MAX - 2)
		target = REPORT_TICKS_MAX - 2;
	if (!isfinite(lo) || !isfinite(hi)) {
		lo = 0;
		hi = 1;
	}
	if (hi < lo) {
		v = lo;
		lo = hi;
		hi = v;
	}
	if (hi == lo) {
		/* One value: show it in the middle of a sensible range. */
		if (lo == 0) {
			hi = 1;
		} else {
			double d = fabs(lo) * 0.5;

			lo -= d;
			hi += d;
		}
	}
	step = report_nice_num(report_nice_num(hi - lo, false) / (target - 1), true);
	if (step <= 0)
		step = 1;
	t->step = step;
	/* Ticks as k * step, then (for fractional steps) rounded to the
	 * step's decimals, so that 6 * 0.05 is 0.3 and not 0.30000000000000004. */
	dec = step < 1 ? pow(10, 1 - floor(log10(step))) : 0;
	for (k = floor(lo / step + 1e-9); k <= ceil(hi / step - 1e-9) && t->n < REPORT_TICKS_MAX;
	     k++)
		t->v[t->n++] = dec ? nearbyint(k * step * dec) / dec : k * step;
	if (t->n == 0)
		t->v[t->n++] = 0;
	t->lo = t->v[0];
	t->hi = t->v[t->n - 1];
}

void report_ticks_time(int64_t lo_ms, int64_t hi_ms, int target, struct report_ticks *t)
{
	static const int64_t steps[] = {
		1000,      2000,      5000,       10000,      15000,    30000,
		60000,     120000,    300000,     600000,     900000,   1800000,
		3600000,   7200000,   10800000,   21600000,   43200000, 86400000,
		172800000, 604800000, 1209600000, 2592000000,
	};
	size_t i;
	int64_t step = steps[sizeof(steps) / sizeof(steps[0]) - 1], v;

	memset(t, 0, sizeof(*t));
	if (target < 2)
		target = 2;
	if (target > REPORT_TICKS_MAX)
		target = REPORT_TICKS_MAX;
	if (hi_ms < lo_ms) {
		v = lo_ms;
		lo_ms = hi_ms;
		hi_ms = v;
	}
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if ((hi_ms - lo_ms) / steps[i] + 1 <= target) {
			step = steps[i];
			break;
		}
	}
	/* A span longer than target * 30 days is coarsened by whole months. */
	while ((hi_ms - lo_ms) / step + 1 > REPORT_TICKS_MAX)
		step *= 2;
	t->lo = (double)lo_ms;
	t->hi = (double)hi_ms;
	t->step = (double)step;
	v = lo_ms >= 0 ? (lo_ms + step - 1) / step * step : lo_ms / step * step;
	for (; v <= hi_ms && t->n < REPORT_TICKS_MAX; v += step)
		t->v[t->n++] = (double)v;
}

double report_scale_map(const struct report_scale *s, double v)
{
	double d0 = s->d0, d1 = s->d1;

	if (s->log) {
		if (d0 <= 0)
			d0 = 1e-9;
		if (d1 <= 0)
			d1 = d0;
		if (v < d0)
			v = d0;
		d0 = log10(d0);
		d1 = log10(d1);
		v = log10(v);
	}
	if (d1 == d0)
		return (s->r0 + s->r1) / 2;
	return s->r0 + (v - d0) * (s->r1 - s->r0) / (d1 - d0);
}

void report_thin(const struct journal_point *in, size_t n, size_t max, struct journal_points *out)
{
	size_t buckets, b, i, lo, hi, imin, imax;

	if (max < 4)
		max = 4;
	if (n <= max) {
		XGROW(out->v, out->alloc, out->n + n);
		if (n)
			memcpy(out->v + out->n, in, n * sizeof(*in));
		out->n += n;
		return;
	}
	buckets = max / 2;
	XGROW(out->v, out->alloc, out->n + 2 * buckets);
	for (b = 0; b < buckets; b++) {
		/* Bucket b holds points [lo, hi): an even share, the remainder
		 * spread, so every point is in exactly one bucket. */
		lo = b * n / buckets;
		hi = (b + 1) * n / buckets;
		imin = imax = lo;
		for (i = lo + 1; i < hi; i++) {
			if (in[i].value < in[imin].value)
				imin = i;
			if (in[i].value > in[imax].value)
				imax = i;
		}
		if (imin == imax) {
			out->v[out->n++] = in[imin];
		} else {
			out->v[out->n++] = in[imin < imax ? imin : imax];
			out->v[out->n++] = in[imin < imax ? imax : imin];
		}
	}
}

/* ---- charts ---- */

/* Margins around the plot rectangle, in viewBox units. */
#define M_LEFT   64
#define M_RIGHT  18
#define M_TOP    14
#define M_BOTTOM 30

int report_nodata_html(struct buf *b, int width, int height, const char *what)
{
	int r;

	r = buf_addf(b,
	             "<div class=\"nodata\" style=\"aspect-ratio:%d/%d\">"
	             "<span>no data",
	             width, height);
	if (r == 0 && what && *what) {
		r = buf_adds(b, " &middot; ");
		if (r == 0)
			r = report_html_escape(b, what);
	}
	if (r == 0)
		r = buf_adds(b, "</span></div>\n");
	return r;
}

static int legend(struct buf *b, const struct report_chart *c)
{
	size_t i;
	int r;

	if (c->nlines < 2 && c->nhlines == 0 && !(c->flags & REPORT_CHART_LEGEND))
		return 0;
	r = buf_adds(b, "<div class=\"legend\">");
	for (i = 0; r == 0 && i < c->nlines; i++) {
		r = buf_addf(b, "<span><i class=\"key %s\"></i>", c->lines[i].cls);
		if (r == 0)
			r = report_html_escape(b, c->lines[i].label);
		if (r == 0)
			r = buf_adds(b, "</span>");
	}
	for (i = 0; r == 0 && i < c->nhlines; i++) {
		r = buf_adds(b, "<span><i class=\"key dash\"></i>");
		if (r == 0)
			r = report_html_escape(b, c->hlines[i].label);
		if (r == 0)
			r = buf_adds(b, "</span>");
	}
	if (r == 0)
		r = buf_adds(b, "</div>\n");
	return r;
}

/* The distinct values of every line, ascending, at most max of them. */
static size_t distinct_values(const struct report_chart *c, double *v, size_t max)
{
	size_t n = 0, i, k, m;

	for (i = 0; i < c->nlines; i++) {
		for (k = 0; k < c->lines[i].n; k++) {
			double x = c->lines[i].v[k].value;

			if (x <= 0)
				continue;
			for (m = 0; m < n && v[m] != x; m++)
				;
			if (m < n)
				continue;
			if (n == max)
				return n;
			v[n++] = x;
		}
	}
	/* Insertion sort: n is tiny. */
	for (i = 1; i < n; i++) {
		double x = v[i];

		for (k = i; k > 0 && v[k - 1] > x; k--)
			v[k] = v[k - 1];
		v[k] = x;
	}
	return n;
}

/* The y domain and ticks of c (log or linear). */
static void y_axis(const struct report_chart *c, struct report_scale *ys, struct report_ticks *yt)
{
	double lo = INFINITY, hi = -INFINITY;
	size_t i, k;

	for (i = 0; i < c->nlines; i++) {
		for (k = 0; k < c->lines[i].n; k++) {
			double v = c->lines[i].v[k].value;

			if (!isfinite(v) || ((c->flags & REPORT_CHART_LOG_Y) && v <= 0))
				continue;
			if (v < lo)
				lo = v;
			if (v > hi)
				hi = v;
		}
	}
	for (i = 0; i < c->nhlines; i++) {
		if (c->hlines[i].value < lo)
			lo = c->hlines[i].value;
		if (c->hlines[i].value > hi)
			hi = c->hlines[i].value;
	}
	if (c->ymax > hi)
		hi = c->ymax;
	if (c->flags & REPORT_CHART_LOG_Y) {
		double d;

		memset(yt, 0, sizeof(*yt));
		if (!isfinite(lo)) {
			lo = 1;
			hi = 10;
		}
		yt->n = distinct_values(c, yt->v, 9);
		if (yt->n <= 8) {
			/* Few values (TTL steps): tick exactly those, with half a
			 * decade of room above and below. */
			yt->lo = lo / 3.16;
			yt->hi = hi * 3.16;
		} else {
			/* A measured series: whole decades. */
			yt->n = 0;
			yt->lo = pow(10, floor(log10(lo)));
			yt->hi = pow(10, ceil(log10(hi)));
			if (yt->hi <= yt->lo)
				yt->hi = yt->lo * 10;
			for (d = yt->lo; d <= yt->hi * 1.001 && yt->n < REPORT_TICKS_MAX; d *= 10)
				yt->v[yt->n++] = d;
		}
		*ys = (struct report_scale){ yt->lo, yt->hi, 0, 0, true };
		return;
	}
	if (!isfinite(lo)) {
		lo = 0;
		hi = 1;
	}
	if ((c->flags & REPORT_CHART_ZERO_Y) && lo > 0)
		lo = 0;
	report_ticks_nice(lo, hi, 5, yt);
	*ys = (struct report_scale){ yt->lo, yt->hi, 0, 0, false };
}

static int line_path(struct buf *b, const struct report_line *l, const struct report_scale *xs,
                     const struct report_scale *ys, bool step, double x_end)
{
	double x = 0, y = 0;
	int64_t gap;
	size_t k;
	int r = 0;

	if (l->n == 0)
		return 0;
	/* A pause in sampling (nothing measured between two phases) is a gap
	 * in the line, not a straight segment across it. */
	gap = l->n > 1 ? 8 * (l->v[l->n - 1].t_ms - l->v[0].t_ms) / (int64_t)(l->n - 1) : 0;
	if (gap < 30000)
		gap = 30000;
	/* More points than units of width: a thinner stroke keeps a noisy
	 * series from reading as a solid band. */
	r = buf_addf(b, "<path class=\"ln %s%s\" d=\"", l->cls,
	             (double)l->n > (xs->r1 - xs->r0) ? " dense" : "");
	for (k = 0; r == 0 && k < l->n; k++) {
		x = report_scale_map(xs, (double)l->v[k].t_ms);
		y = report_scale_map(ys, l->v[k].value);
		if (k == 0 || (!step && l->v[k].t_ms - l->v[k - 1].t_ms > gap))
			r = buf_addf(b, "M%.1f %.1f", x, y);
		else if (step)
			r = buf_addf(b, "H%.1fV%.1f", x, y);
		else
			r = buf_addf(b, "L%.1f %.1f", x, y);
	}
	if (r == 0 && step && x_end > x)
		r = buf_addf(b, "H%.1f", x_end);
	if (r == 0)
		r = buf_adds(b, "\"/>\n");
	return r;
}

/* Dots with a tooltip for short series (a lone point would not show as a
 * line at all); step charts get a dot at every change. */
static int line_dots(struct buf *b, const struct report_chart *c, const struct report_line *l,
                     const struct report_scale *xs, const struct report_scale *ys, int64_t span)
{
	char when[32], val[48];
	size_t k;
	int r = 0;

	if (l->n > 60 || (l->n > 1 && !(c->flags & REPORT_CHART_STEP)))
		return 0;
	for (k = 0; r == 0 && k < l->n; k++) {
		report_format_clock(l->v[k].t_ms, span, when, sizeof(when));
		report_format_value(l->v[k].value, c->unit, val, sizeof(val));
		r = buf_addf(b, "<circle class=\"dot %s\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\"><title>",
		             l->cls, report_scale_map(xs, (double)l->v[k].t_ms),
		             report_scale_map(ys, l->v[k].value));
		if (r == 0)
			r = report_html_escape(b, l->label);
		if (r == 0)
			r = buf_addf(b, " %s UTC: %s</title></circle>\n", when, val);
	}
	return r;
}

int report_marks_svg(struct buf *b, const struct report_vmark *v, size_t n,
                     const struct report_scale *xs, double y0, double y1, double label_y)
{
	double lo = xs->d0 < xs->d1 ? xs->d0 : xs->d1, hi = xs->d0 < xs->d1 ? xs->d1 : xs->d0;
	double last_end = -1e9, x, gx0, gx1, width;
	size_t i = 0, j, k, nlab;
	int r = 0, row = 0;
	char label[128];

	while (r == 0 && i < n) {
		if ((double)v[i].t_ms < lo || (double)v[i].t_ms > hi) {
			i++;
			continue;
		}
		/* A group: marks closer than 70 units share one label. */
		gx0 = gx1 = report_scale_map(xs, (double)v[i].t_ms);
		label[0] = '\0';
		nlab = 0;
		for (j = i; j < n && r == 0; j++) {
			if ((double)v[j].t_ms < lo || (double)v[j].t_ms > hi)
				break;
			x = report_scale_map(xs, (double)v[j].t_ms);
			if (j > i && x - gx1 >= 70)
				break;
			gx1 = x;
			r = buf_addf(b,
			             "<line class=\"mark\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" "
			             "y2=\"%.1f\"><title>",
			             x, x, y0, y1);
			if (r == 0)
				r = report_html_escape(b, v[j].label);
			if (r == 0)
				r = buf_adds(b, "</title></line>\n");
			if (nlab < 4) {
				k = strlen(label);
				snprintf(label + k, sizeof(label) - k, "%s%s",
				         nlab ? " \xc2\xb7 " : "", v[j].label);
			}
			nlab++;
		}
		i = j;
		if (r < 0)
			break;
		width = 5.8 * (double)strlen(label);
		x = gx0 + 4;
		if (x + width > xs->r1)
			x = gx1 - 4 - width;
		/* Labels that would touch the previous one take the next row. */
		row = x < last_end + 8 ? (row + 1) % 2 : 0;
		last_end = x + width;
		r = buf_addf(b, "<text class=\"ml\" x=\"%.1f\" y=\"%.1f\">", x, label_y + 12 * row);
		if (r == 0)
			r = report_html_escape(b, label);
		if (r == 0)
			r = buf_adds(b, "</text>\n");
	}
	return r;
}

int report_chart_html(struct buf *b, const struct report_chart *c)
{
	struct report_scale xs, ys;
	struct report_ticks xt, yt;
	char label[64];
	double px0 = M_LEFT, px1 = c->width - M_RIGHT, py0 = M_TOP, py1 = c->height - M_BOTTOM;
	int64_t t0 = c->t0_ms, t1 = c->t1_ms;
	size_t i, k, total = 0;
	int r;

	for (i = 0; i < c->nlines; i++)
		total += c->lines[i].n;
	if (total == 0)
		return report_nodata_html(b, c->width, c->height, NULL);
	if (t1 <= t0) {
		t0 = INT64_MAX;
		t1 = INT64_MIN;
		for (i = 0; i < c->nlines; i++) {
			for (k = 0; k < c->lines[i].n; k++) {
				if (c->lines[i].v[k].t_ms < t0)
					t0 = c->lines[i].v[k].t_ms;
				if (c->lines[i].v[k].t_ms > t1)
					t1 = c->lines[i].v[k].t_ms;
			}
		}
	}
	if (t1 - t0 < 10000) {
		/* A burst (or one point): give it room to be seen. */
		int64_t mid = t0 + (t1 - t0) / 2;

		t0 = mid - 30000;
		t1 = mid + 30000;
	}
	xs = (struct report_scale){ (double)t0, (double)t1, px0, px1, false };
	y_axis(c, &ys, &yt);
	ys.r0 = py1;
	ys.r1 = py0;
	report_ticks_time(t0, t1, (int)((px1 - px0) / 90), &xt);

	r = legend(b, c);
	if (r == 0)
		r = buf_addf(b,
		             "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" "
		             "aria-label=\"",
		             c->width, c->height);
	if (r == 0)
		r = report_html_escape(b, c->title);
	if (r == 0)
		r = buf_adds(b, "\">\n");

	/* Horizontal grid and y labels. */
	for (i = 0; r == 0 && i < yt.n; i++) {
		double y = report_scale_map(&ys, yt.v[i]);

		report_format_value(yt.v[i], c->unit, label, sizeof(label));
		r = buf_addf(
		        b,
		        "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
		        "<text class=\"yl\" x=\"%.1f\" y=\"%.1f\">%s</text>\n",
		        px0, px1, y, y, px0 - 8, y + 3.5, label);
	}
	/* Vertical grid and time labels. */
	for (i = 0; r == 0 && i < xt.n; i++) {
		double x = report_scale_map(&xs, xt.v[i]);

		report_format_clock((int64_t)xt.v[i], t1 - t0, label, sizeof(label));
		r = buf_addf(
		        b,
		        "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
		        "<text class=\"xl\" x=\"%.1f\" y=\"%.1f\">%s</text>\n",
		        x, x, py0, py1, x, py1 + 18, label);
	}
	if (r == 0)
		r = buf_addf(
		        b,
		        "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n",
		        px0, px1, py1, py1);

	for (i = 0; r == 0 && i < c->nhlines; i++) {
		double y = report_scale_map(&ys, c->hlines[i].value);

		r = buf_addf(b,
		             "<line class=\"thr\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
		             "<text class=\"thl\" x=\"%.1f\" y=\"%.1f\">",
		             px0, px1, y, y, px1 - 4, y - 5);
		if (r == 0)
			r = report_html_escape(b, c->hlines[i].label);
		if (r == 0)
			r = buf_adds(b, "</text>\n");
	}
	if (r == 0)
		r = report_marks_svg(b, c->vmarks, c->nvmarks, &xs, py0, py1, py0 + 10);
	for (i = 0; r == 0 && i < c->nlines; i++)
		r = line_path(b, &c->lines[i], &xs, &ys, c->flags & REPORT_CHART_STEP, px1);
	for (i = 0; r == 0 && i < c->nlines; i++)
		r = line_dots(b, c, &c->lines[i], &xs, &ys, t1 - t0);
	if (r == 0)
		r = buf_adds(b, "</svg>\n");
	return r;
}
