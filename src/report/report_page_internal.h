/*
 * report_page_internal.h - what report_page.c and report_charts.c share:
 * the page being written and its append helpers, and the chart sections.
 * The public interface is report_model.h (report_page_write()).
 *
 * The first failing append (the page's size limit) is kept in p->r and
 * turns every later append into a no-op, so sections need no error paths.
 */
#ifndef FERRY_REPORT_REPORT_PAGE_INTERNAL_H
#define FERRY_REPORT_REPORT_PAGE_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "report/report_model.h"
#include "report/report_svg.h"
#include "util/buf.h"

#define FULL_W    1080 /* viewBox width of a full-width chart */
#define HALF_W    520  /* ... and of a chart in a two-column grid */
#define MAX_MARKS 8    /* cutover and rollback markers per chart */

/* The first failing append wins; later calls do nothing. */
struct page {
	struct buf *b;
	int r;
	const struct report_model *m;
	const struct report_options *opt;
};

__attribute__((format(printf, 2, 3))) static inline void out(struct page *p, const char *fmt, ...)
{
	va_list ap;

	if (p->r < 0)
		return;
	va_start(ap, fmt);
	p->r = buf_vaddf(p->b, fmt, ap);
	va_end(ap);
}

static inline void esc(struct page *p, const char *s)
{
	if (p->r == 0)
		p->r = report_html_escape(p->b, s);
}

static inline void nodata(struct page *p, int w, int h, const char *what)
{
	if (p->r == 0)
		p->r = report_nodata_html(p->b, w, h, what);
}

static inline void section_open(struct page *p, const char *id, const char *title, const char *sub)
{
	out(p, "<section class=\"card\" id=\"%s\"><h2>%s</h2><p class=\"sub\">%s</p>\n", id, title,
	    sub);
}

/* Escaped text, cut at max bytes (on a UTF-8 boundary) with an ellipsis. */
void report_cut(struct page *p, const char *s, size_t max);

/* Markers common to the time charts (cutover, rollback); v has room for
 * max.  Returns how many it filled. */
size_t report_vmarks(const struct report_model *m, struct report_vmark *v, size_t max);

/* The sections of report_charts.c, in page order (the rollback section
 * only when the model has a rollback plan). */
void report_ttl_section(struct page *p);
void report_lag_section(struct page *p);
void report_traffic_section(struct page *p);
void report_health_section(struct page *p);
void report_pause_section(struct page *p);
void report_rollback_section(struct page *p);

#endif
