/*
 * report_svg.h - the drawing half of `ferry report`: HTML escaping, value
 * and time formatting, "nice" axis ticks, scales, min/max thinning and the
 * line/step charts, all written as inline SVG into a struct buf.
 *
 * Nothing here reads the journal: report.c gathers the series and hands
 * them over as arrays of struct journal_point.  A chart is drawn in a
 * fixed coordinate system (its viewBox) and the page's CSS scales it to
 * the width of its card, so the same numbers serve every screen.  Colours
 * are CSS classes ("s-new", "s-old", "s-acc", ...) defined once in the
 * page's stylesheet, which keeps the SVG small and the palette in one
 * place.
 *
 * Every function appends to a caller-owned buffer and returns 0 or
 * FERRY_EPROTO when the buffer's maximum would be passed (util/buf.h);
 * the buffer then holds a partial page, which the caller discards.
 * Arguments are borrowed for the duration of the call.
 */
#ifndef FERRY_REPORT_REPORT_SVG_H
#define FERRY_REPORT_REPORT_SVG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal/journal.h"
#include "util/buf.h"

/* Appends s with & < > " ' replaced by entities, so that any journal text
 * is inert in element content and in quoted attributes.  NULL appends
 * nothing. */
int report_html_escape(struct buf *b, const char *s);

/* ---- numbers and ticks ---- */

#define REPORT_TICKS_MAX 32

struct report_ticks {
	double lo, hi; /* the axis domain the ticks cover */
	double step;   /* distance between ticks (0 for irregular ticks) */
	double v[REPORT_TICKS_MAX];
	size_t n;
};

/*
 * The "nice number" (1, 2 or 5 times a power of ten) closest to x
 * (round) or not smaller than x (!round); Heckbert, "Nice numbers for
 * graph labels", Graphics Gems (1990).  x must be > 0; 0 is returned for
 * x <= 0 or non-finite x.
 */
double report_nice_num(double x, bool round);

/*
 * Nice ticks for a value axis spanning [lo, hi], about target of them
 * (2..REPORT_TICKS_MAX): the domain is widened to whole steps, so the
 * first and last ticks are its ends.  lo == hi is widened around the
 * value; non-finite input gives the domain [0, 1].
 */
void report_ticks_nice(double lo, double hi, int target, struct report_ticks *t);

/*
 * Ticks for a time axis [lo_ms, hi_ms] (UTC, ms): the smallest step of
 * the calendar-friendly table (1 s, 2 s, 5 s, ... 1 h, 3 h, 6 h, 1 d, 7 d)
 * that gives at most target ticks, at multiples of that step since the
 * epoch (midnight UTC for days).  The domain is not widened.
 */
void report_ticks_time(int64_t lo_ms, int64_t hi_ms, int target, struct report_ticks *t);

/* A map from a domain [d0, d1] to a range [r0, r1], linear or log10
 * (log: values <= 0 are clamped to d0, which must be > 0). */
struct report_scale {
	double d0, d1, r0, r1;
	bool log;
};

/* Maps v; a zero-width domain maps to the middle of the range. */
double report_scale_map(const struct report_scale *s, double v);

/*
 * Min/max thinning: when n > max, splits the points (in time order) into
 * max/2 buckets of consecutive points and keeps each bucket's lowest and
 * highest point, in time order, so peaks and dips survive (a lag spike of
 * one second stays visible in a day of samples).  Otherwise copies them.
 * max < 4 is taken as 4.  out is zeroed by the caller and released with
 * journal_points_release().
 */
void report_thin(const struct journal_point *in, size_t n, size_t max, struct journal_points *out);

enum report_unit {
	REPORT_UNIT_NUMBER,  /* 12, 1.5k, 2.3M */
	REPORT_UNIT_BYTES,   /* 512 B, 1.5 kB, 20 MB (SI, so nice ticks stay nice) */
	REPORT_UNIT_SECONDS, /* 0.25 s, 3 s, 2 min */
	REPORT_UNIT_MS,      /* 120 ms, 1.5 s */
	REPORT_UNIT_PERCENT, /* 0.5 %, 25 % */
	REPORT_UNIT_TTL,     /* seconds as a TTL: 60s, 5m, 1h, 1d */
	REPORT_UNIT_RPS,     /* 120/s */
};

/* Formats v with its unit, with at most 2 decimals and no trailing zeros. */
void report_format_value(double v, enum report_unit u, char *out, size_t outlen);

/* "HH:MM:SS" (span up to 2 h), "HH:MM" (up to a day) or "MM-DD HH:MM"
 * (UTC) for t_ms. */
void report_format_clock(int64_t t_ms, int64_t span_ms, char *out, size_t outlen);

/* ---- charts ---- */

/* One series: its points in time order, a label for the legend and a CSS
 * class for its colour ("s-new", "s-old", "s-acc", "s-c1".."s-c5"). */
struct report_line {
	const char *label;
	const char *cls;
	const struct journal_point *v;
	size_t n;
};

/* A horizontal dashed line: a trigger threshold. */
struct report_hline {
	const char *label;
	double value;
};

/* A vertical dashed line: the cutover, the rollback. */
struct report_vmark {
	const char *label;
	int64_t t_ms;
};

enum report_chart_flags {
	REPORT_CHART_STEP = 1 << 0,   /* a value holds until the next (TTL, weight) */
	REPORT_CHART_LOG_Y = 1 << 1,  /* log10 y axis, ticks at the values seen */
	REPORT_CHART_ZERO_Y = 1 << 2, /* the y axis starts at 0 */
	REPORT_CHART_LEGEND = 1 << 3, /* a legend even for one line */
};

struct report_chart {
	const char *title; /* the accessible name of the figure */
	int width, height; /* viewBox size */
	enum report_unit unit;
	unsigned flags;
	const struct report_line *lines;
	size_t nlines;
	const struct report_hline *hlines;
	size_t nhlines;
	const struct report_vmark *vmarks;
	size_t nvmarks;
	int64_t t0_ms, t1_ms; /* x domain; t1_ms <= t0_ms: from the data */
	double ymax;          /* the y axis reaches at least this (100 for weights); 0: data */
};

/*
 * Appends a legend (when there is more than one line or a threshold) and
 * the chart as <svg>: grid lines, y ticks with unit labels, UTC time
 * ticks, the lines, dashed thresholds and markers, and a <title> on each
 * point of a short series for a tooltip without JavaScript.  A chart
 * whose lines have no point at all becomes a "no data" placeholder of
 * the same size.  Step lines hold their last value to the end of the x
 * domain.
 */
int report_chart_html(struct buf *b, const struct report_chart *c);

/*
 * Appends a dashed vertical line from y0 to y1 for each mark whose time is
 * inside xs's domain, and the labels at label_y: marks closer than 70
 * units share one label ("cutover · rollback"), and a label that would
 * touch the previous one moves one row down.
 */
int report_marks_svg(struct buf *b, const struct report_vmark *v, size_t n,
                     const struct report_scale *xs, double y0, double y1, double label_y);

/* Appends the "no data" placeholder for a chart of this size. */
int report_nodata_html(struct buf *b, int width, int height, const char *what);

#endif
