/*
 * report_model.h - inside the report (not a public interface): what
 * report.c reads from the journal, and the page writer that turns it into
 * HTML (report_page.c, with the stylesheet in report_style.c).
 *
 * A struct report_model owns every string and array it points to;
 * report_model_release() frees them.  The page writer only reads it.
 */
#ifndef FERRY_REPORT_REPORT_MODEL_H
#define FERRY_REPORT_REPORT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal/journal.h"
#include "report/report.h"
#include "util/buf.h"
#include "util/log.h"

struct report_phase {
	char *name;
	int64_t t_ms;
};

struct report_gate {
	int64_t t_ms;
	char *phase;
	char *gate;
	char *evidence;
	bool ok;
};

struct report_event {
	int64_t t_ms;
	enum log_level level;
	char *object;
	char *message;
};

struct report_series {
	char *name;
	char *object;
	struct journal_points pts; /* thinned */
	size_t raw_n;
	int64_t t_first, t_last;
	double vmax, vlast;
};

struct report_model {
	struct journal *j; /* borrowed from the caller of report_render() */
	size_t max_points, max_rows;

	struct report_phase *phases;
	size_t nphases, aphases;
	struct report_gate *gates;
	size_t ngates, agates, ngates_ok;
	struct journal_step_list steps;

	/* Events: the first `keep` in head, the last `keep` in a ring. */
	struct report_event *head, *ring;
	size_t nhead, nring, ring_start, keep;
	size_t nevents, nwarn, nerror;

	struct report_series *series;
	size_t nseries, aseries;

	int64_t t_first, t_last; /* every row's time, INT64_MAX/MIN when none */

	/* key/values, 0 or NAN when absent */
	int64_t cutover_started, cutover_done, rollback_done;
	double pause_budget_ms, trig_err_pct, trig_lat_ms;
	char *rollback_plan;
	char *rollback_answers; /* the five answers as the cutover gate found them */
	char *plan_name;
};

/* Finds series (name, object) in m, or NULL. */
const struct report_series *report_model_series(const struct report_model *m, const char *name,
                                                const char *object);

/*
 * Appends the whole page for m to b, titled title (borrowed).  Returns 0 or
 * FERRY_EPROTO when b's maximum would be passed (b then holds part of a
 * page).  Fills no error: the caller names the limit.
 */
int report_page_write(struct buf *b, const struct report_model *m, const struct report_options *opt,
                      const char *title);

/* The page's stylesheet (report_style.c). */
extern const char report_css[];

#endif
