/*
 * report.h - `ferry report`: one self-contained HTML page that tells a team
 * the story of a migration from its journal (DESIGN §5, §6).
 *
 * The page needs nothing but itself: inline CSS, SVG charts drawn here
 * (report/report_svg.c), no script, no font or image from outside, so it can
 * be mailed, attached to a ticket or archived as it is.  It shows, top to
 * bottom: the header (plan, status, start, end, duration) with key
 * figures; the phase timeline with every gate evaluation as a tick; TTL
 * steps per record; replication lag per database; traffic weights; error
 * rate and latency old vs new with the rollback triggers; the cutover
 * write pause against its budget; the rollback plan; the gates with their
 * evidence; the steps; the events.
 *
 * It reads only the journal, opened read-only by the caller (a run may be
 * writing at the same time).  The series it draws, by name and object:
 *	lag_bytes, lag_seconds        database name
 *	weight_new_pct                load balancer backend
 *	rps, err_pct, rtime_ms        "old", "new"
 *	health_ms                     "new"
 *	ttl                           record name (a step chart)
 *	write_pause_ms                database name (one point per cutover)
 *	client_pause_ms               "ledger" (as a client measured it)
 * and the keys "cutover.started_ms", "cutover.done_ms", "rollback.plan",
 * "rollback.done_ms", "cutover.pause_budget_ms", "trigger.error_rate",
 * "trigger.latency_p99_ms" and "plan.name" when present.  Anything
 * missing becomes a "no data" placeholder, never a broken chart.
 *
 * Every string from the journal is HTML-escaped.  A series longer than
 * max_points is thinned by min/max buckets, and the step and event tables
 * keep their first and last rows past a cap, so the page stays small (a
 * few hundred KiB for a week-long migration).
 */
#ifndef FERRY_REPORT_REPORT_H
#define FERRY_REPORT_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "journal/journal.h"
#include "util/buf.h"
#include "util/error.h"

struct report_options {
	const char *title;     /* the plan's name; NULL: "plan.name" or the journal's file name */
	const char *plan_path; /* shown under the title; NULL: not shown */
	int64_t generated_ms;  /* when the page is made (UTC ms); 0: now */
	size_t max_points;     /* points per series before thinning; 0: 2000 */
	size_t max_rows;       /* rows per table (steps, events); 0: 2000 */
};

/*
 * Appends the page for journal j to out (initialised by the caller, whose
 * maximum bounds the page).  opt may be NULL for the defaults; strings in
 * it are borrowed.  Returns 0, or FERRY_EIO (reading the journal, with
 * err naming it) or FERRY_EPROTO (the page would pass out's maximum).  On
 * failure out holds a partial page that the caller discards.
 */
int report_render(struct journal *j, const struct report_options *opt, struct buf *out,
                  struct ferry_error *err);

#endif
