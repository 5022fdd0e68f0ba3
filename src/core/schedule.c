/*
 * schedule.c - TTL steps, cutover windows and the plan's timeline.
 *
 * Three parts, see schedule.h for the rules they implement:
 *  - TTL steps: plain arithmetic over the records' live TTLs.
 *  - Zones: tz_enter()/tz_leave() switch the C library to a zone (TZ,
 *    tzset) and back; local_to_utc() turns a local wall-clock time into an
 *    instant, resolving DST gaps and overlaps by round trip through
 *    localtime_r(), because mktime() with tm_isdst = -1 guesses in both
 *    cases (POSIX leaves them unspecified).  Windows are found by walking
 *    local calendar days (proleptic Gregorian day numbers, computed here so
 *    that no struct tm arithmetic depends on the zone).
 *  - The timeline: both of the above for one plan.
 *
 * A "wall" value is a local time expressed as seconds since 1970-01-01
 * 00:00 local, i.e. instant + UTC offset; it is what a clock on the wall in
 * that zone shows, and it jumps at DST changes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/schedule.h"
#include "util/error.h"
#include "util/mem.h"

#define DAY 86400

/* Instants handled: about +-34000 years, far inside time_t and int tm_year. */
#define SCHEDULE_TMAX ((int64_t)1 << 40)

/* ---- TTL steps ---- */

static int check_steps(const struct schedule_record *rec, const uint32_t *steps, size_t nsteps,
                       struct ferry_error *err)
{
	const char *name = rec && rec->name ? rec->name : "record";
	size_t i;

	if (!steps || nsteps == 0)
		return ferry_error_set(err, FERRY_EINVAL, "list the TTLs under dns.ttl.steps",
		                       "dns %s: no TTL steps", name);
	for (i = 0; i < nsteps; i++) {
		if (steps[i] == 0)
			return ferry_error_set(err, FERRY_EINVAL, "use TTLs of at least 1 second",
			                       "dns %s: TTL step %zu is 0", name, i + 1);
		if (i > 0 && steps[i] >= steps[i - 1])
			return ferry_error_set(
			        err, FERRY_EINVAL,
			        "list dns.ttl.steps from the longest TTL to the cutover TTL",
			        "dns %s: TTL steps are not strictly descending (%u then %u)", name,
			        steps[i - 1], steps[i]);
	}
	return 0;
}

/* When every resolver holds the record with at most the live TTL: one old
 * TTL after the change that set it (the live TTL standing in for an
 * unknown old one, `now` for an unknown change time). */
static int64_t live_horizon(const struct schedule_record *rec, int64_t now)
{
	int64_t last = rec->last_change == SCHEDULE_UNKNOWN ? now : rec->last_change;
	uint32_t old = rec->prev_ttl ? rec->prev_ttl : rec->live_ttl;

	return last + (int64_t)old;
}

int schedule_ttl_steps(const struct schedule_record *rec, const uint32_t *steps, size_t nsteps,
                       int64_t now, struct schedule_ttl_step *out, size_t *nout,
                       struct ferry_error *err)
{
	int64_t t;
	uint32_t prev;
	size_t i, n = 0;
	int rc;

	if (!rec || !out || !nout)
		return ferry_error_set(err, FERRY_EINVAL, NULL, "schedule: no record given");
	rc = check_steps(rec, steps, nsteps, err);
	if (rc < 0)
		return rc;
	/* Lowering a TTL is always safe; what must wait is the next step,
	 * until this one is in effect everywhere.  So the first step waits
	 * only for a change ferry itself made (or knows of): with no history
	 * there is nothing to wait for, and the live TTL bounds what resolvers
	 * hold from then on. */
	t = rec->last_change == SCHEDULE_UNKNOWN ? now : live_horizon(rec, now);
	if (t < now)
		t = now;
	prev = rec->live_ttl;
	for (i = 0; i < nsteps; i++) {
		/* Never raise a TTL in prepare; a step equal to the live TTL is done. */
		if (steps[i] >= prev)
			continue;
		out[n].record = 0;
		out[n].from_ttl = prev;
		out[n].ttl = steps[i];
		out[n].not_before = t;
		n++;
		/* The next step waits until no resolver can hold the TTL this
		 * step replaced (schedule.h: the TTL rule). */
		t += prev;
		prev = steps[i];
	}
	*nout = n;
	return 0;
}

int64_t schedule_ttl_effective(const struct schedule_record *rec,
                               const struct schedule_ttl_step *steps, size_t n, int64_t now)
{
	int64_t t;

	if (steps && n > 0)
		t = steps[n - 1].not_before + (int64_t)steps[n - 1].from_ttl;
	else if (rec)
		t = live_horizon(rec, now);
	else
		t = now;
	return t < now ? now : t;
}

/* ---- Zones ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The proleptic Gregorian date of a day number (days since 1970-01-01),
 * H. Hinnant's civil_from_days
 * (http://howardhinnant.github.io/date_algorithms.html). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

int schedule_zone_check(const char *zone, struct ferry_error *err)
{
	static const char hint[] = "use an IANA zone name such as Europe/Berlin, America/New_York "
	                           "or UTC (the tzdata package provides the database)";
	const char *dir = getenv("TZDIR");
	char path[512], magic[4];
	const char *p;
	size_t got;
	FILE *fp;

	if (!zone || !*zone)
		return ferry_error_set(err, FERRY_EINVAL, hint, "zone: empty name");
	/* Names only, never a path: no leading '/', no '.' (so no ".."). */
	for (p = zone; *p; p++) {
		char c = *p;

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '/' || c == '_' || c == '-' || c == '+'))
			return ferry_error_set(err, FERRY_EINVAL, hint,
			                       "zone %.100s: not a time-zone name", zone);
	}
	if (zone[0] == '/' || strlen(zone) > 200)
		return ferry_error_set(err, FERRY_EINVAL, hint, "zone %.100s: not a time-zone name",
		                       zone);
	/* glibc falls back to UTC for a zone it cannot load, so UTC works
	 * even without the database. */
	if (strcmp(zone, "UTC") == 0)
		return 0;
	if (!dir || !*dir)
		dir = "/usr/share/zoneinfo";
	snprintf(path, sizeof(path), "%s/%s", dir, zone);
	fp = fopen(path, "rb");
	if (!fp)
		return ferry_error_set(err, FERRY_EINVAL, hint,
		                       "zone %s: not in the time-zone database (%s)", zone, dir);
	/* tzfile(5): every zone file starts with the magic "TZif". */
	got = fread(magic, 1, sizeof(magic), fp);
	fclose(fp);
	if (got != sizeof(magic) || memcmp(magic, "TZif", 4) != 0)
		return ferry_error_set(err, FERRY_EINVAL, hint,
		                       "zone %s: %s is not a time-zone file", zone, path);
	return 0;
}

struct tz_saved {
	char *old; /* the previous TZ, NULL if it was unset */
};

/* Switches the C library to zone; tz_leave() restores the previous TZ. */
static int tz_enter(const char *zone, struct tz_saved *s, struct ferry_error *err)
{
	const char *old;
	char spec[256];
	int rc;

	rc = schedule_zone_check(zone, err);
	if (rc < 0)
		return rc;
	old = getenv("TZ");
	s->old = xstrdup(old);
	/* The leading ':' asks for a file of the database (tzset(3)), so a
	 * name is never parsed as a POSIX TZ rule string. */
	snprintf(spec, sizeof(spec), ":%s", zone);
	if (setenv("TZ", spec, 1) != 0) {
		free(s->old);
		s->old = NULL;
		return ferry_error_set(err, FERRY_EINTERNAL, NULL, "zone %s: cannot set TZ", zone);
	}
	tzset();
	return 0;
}

static void tz_leave(struct tz_saved *s)
{
	if (s->old)
		setenv("TZ", s->old, 1);
	else
		unsetenv("TZ");
	free(s->old);
	s->old = NULL;
	tzset();
}

/* The wall-clock reading of instant u in the current zone. */
static int64_t wall_of(int64_t u)
{
	time_t tt = (time_t)u;
	struct tm tm;

	if (!localtime_r(&tt, &tm))
		BUG("localtime_r failed for %lld", (long long)u);
	return u + tm.tm_gmtoff;
}

/*
 * The instant whose wall-clock reading is wall, in the current zone.  In a
 * fall-back overlap the first (earliest) occurrence; in a spring-forward
 * gap the first instant after the gap.  Candidates: mktime()'s answer and
 * wall minus the UTC offsets in force a day before and a day after (one
 * of them is right unless wall is in a gap); each is kept only if its
 * round trip gives wall back.
 */
static int local_to_utc(int64_t wall, int64_t *out)
{
	int64_t cand[3], lo, hi, best = INT64_MAX;
	int64_t y;
	struct tm tm;
	time_t m;
	int i, n = 0, mon, mday, secs;

	civil_from_days(floor_div(wall, DAY), &y, &mon, &mday);
	secs = (int)(wall - floor_div(wall, DAY) * DAY);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)(y - 1900);
	tm.tm_mon = mon - 1;
	tm.tm_mday = mday;
	tm.tm_hour = secs / 3600;
	tm.tm_min = secs / 60 % 60;
	tm.tm_sec = secs % 60;
	tm.tm_isdst = -1;
	m = mktime(&tm);
	if (m != (time_t)-1)
		cand[n++] = (int64_t)m;
	cand[n++] = wall - (wall_of(wall - DAY) - (wall - DAY));
	cand[n++] = wall - (wall_of(wall + DAY) - (wall + DAY));
	for (i = 0; i < n; i++)
		if (wall_of(cand[i]) == wall && cand[i] < best)
			best = cand[i];
	if (best != INT64_MAX) {
		*out = best;
		return 0;
	}
	/* A gap: the offset candidates lie on both sides of the transition
	 * (before it the wall clock reads less than wall, after it more);
	 * the first instant reading at least wall is the transition. */
	lo = cand[n - 2] < cand[n - 1] ? cand[n - 2] : cand[n - 1];
	hi = cand[n - 2] < cand[n - 1] ? cand[n - 1] : cand[n - 2];
	if (wall_of(lo) >= wall || wall_of(hi) < wall)
		return FERRY_EINTERNAL;
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;

		if (wall_of(mid) >= wall)
			hi = mid;
		else
			lo = mid;
	}
	*out = hi;
	return 0;
}

static int check_window(const struct plan_window *w, int64_t t, struct ferry_error *err)
{
	if ((w->days & 0x7f) == 0)
		return ferry_error_set(err, FERRY_EINVAL, "list at least one day (sun..sat)",
		                       "cutover window: no days");
	if (w->from_min < 0 || w->from_min >= 1440 || w->to_min < 0 || w->to_min >= 1440)
		return ferry_error_set(err, FERRY_EINVAL, "write times as HH:MM, 00:00 to 23:59",
		                       "cutover window: time out of range (%d, %d minutes)",
		                       w->from_min, w->to_min);
	if (t <= -SCHEDULE_TMAX || t >= SCHEDULE_TMAX)
		return ferry_error_set(err, FERRY_EINVAL, NULL,
		                       "cutover window: instant %lld out of range", (long long)t);
	return 0;
}

int schedule_window_next(const struct plan_window *w, int64_t t, int64_t *start, int64_t *end,
                         struct ferry_error *err)
{
	const char *zone;
	struct tz_saved saved;
	int64_t day0, k;
	int rc;

	if (!w || !w->present) {
		*start = t;
		*end = SCHEDULE_FOREVER;
		return 0;
	}
	rc = check_window(w, t, err);
	if (rc < 0)
		return rc;
	zone = w->zone ? w->zone : "UTC";
	rc = tz_enter(zone, &saved, err);
	if (rc < 0) {
		if (err)
			ferry_error_prefix(err, "cutover window");
		return rc;
	}
	day0 = floor_div(wall_of(t), DAY);
	/* From the day before (a window spanning midnight may hold t) over
	 * two weeks (one weekday whose window DST swallowed once). */
	rc = FERRY_ENOTFOUND;
	for (k = -1; k <= 15; k++) {
		int64_t day = day0 + k, s, e;
		int wday = (int)(((day + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */

		if (!(w->days & (1u << wday)))
			continue;
		if (local_to_utc(day * DAY + w->from_min * 60, &s) < 0 ||
		    local_to_utc((day + (w->to_min <= w->from_min)) * DAY + w->to_min * 60, &e) <
		            0) {
			rc = ferry_error_set(err, FERRY_EINTERNAL, NULL,
			                     "cutover window: zone %s: cannot resolve a local time",
			                     zone);
			break;
		}
		if (e <= s)
			continue; /* DST leaves nothing of it that day */
		if (e > t) {
			*start = s;
			*end = e;
			rc = 0;
			break;
		}
	}
	tz_leave(&saved);
	if (rc == FERRY_ENOTFOUND)
		rc = ferry_error_set(err, FERRY_EINVAL, "widen the cutover window",
		                     "cutover window: none in the two weeks after the given time "
		                     "(zone %s)",
		                     zone);
	return rc;
}

int schedule_window_contains(const struct plan_window *w, int64_t t, bool *inside,
                             struct ferry_error *err)
{
	int64_t s, e;
	int rc;

	rc = schedule_window_next(w, t, &s, &e, err);
	if (rc < 0)
		return rc;
	*inside = s <= t && t < e;
	return 0;
}

int schedule_sync_fits(const struct plan_window *w, int64_t now, int64_t sync_ms, int64_t soak_ms,
                       bool *fits, int64_t *ends, int64_t *wstart, int64_t *wend,
                       struct ferry_error *err)
{
	int rc;

	*ends = now + (sync_ms + soak_ms + 999) / 1000;
	*fits = true;
	*wstart = now;
	*wend = SCHEDULE_FOREVER;
	if (!w->present)
		return 0;
	rc = schedule_window_next(w, now, wstart, wend, err);
	if (rc < 0)
		return rc;
	*fits = *ends < *wend;
	return 0;
}

int schedule_format_local(int64_t t, const char *zone, char *out, size_t outlen,
                          struct ferry_error *err)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	struct tz_saved saved;
	time_t tt = (time_t)t;
	struct tm tm;
	int rc;

	if (outlen > 0)
		out[0] = '\0';
	if (t <= -SCHEDULE_TMAX || t >= SCHEDULE_TMAX)
		return ferry_error_set(err, FERRY_EINVAL, NULL, "instant %lld out of range",
		                       (long long)t);
	rc = tz_enter(zone ? zone : "UTC", &saved, err);
	if (rc < 0)
		return rc;
	if (localtime_r(&tt, &tm))
		/* tm_zone points into the zone data tzset() may free: format
		 * before leaving. */
		snprintf(out, outlen, "%s %04d-%02d-%02d %02d:%02d %s", days[tm.tm_wday],
		         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		         tm.tm_zone ? tm.tm_zone : "");
	else
		rc = ferry_error_set(err, FERRY_EINTERNAL, NULL, "instant %lld: localtime_r failed",
		                     (long long)t);
	tz_leave(&saved);
	return rc;
}

/* ---- The timeline ---- */

static int64_t ms_to_s_up(int64_t ms)
{
	return ms <= 0 ? 0 : ms / 1000 + (ms % 1000 != 0);
}

int schedule_timeline_compute(const struct plan *p, const struct schedule_record *recs,
                              size_t nrecs, int64_t now, int64_t prepare_start,
                              struct schedule_timeline *tl, struct ferry_error *err)
{
	const uint32_t *steps = p->dns.ttl.steps;
	size_t nsteps = p->dns.ttl.nsteps, i;
	uint32_t cutover_only = p->dns.ttl.cutover;
	int64_t c0;
	int rc = 0;

	memset(tl, 0, sizeof(*tl));
	/* A plan without explicit steps goes straight to the cutover TTL. */
	if (nsteps == 0 && cutover_only > 0) {
		steps = &cutover_only;
		nsteps = 1;
	}
	tl->nrecords = nrecs;
	tl->ttl_effective = xcalloc(nrecs ? nrecs : 1, sizeof(*tl->ttl_effective));
	tl->steps = xcalloc(nrecs * nsteps > 0 ? nrecs * nsteps : 1, sizeof(*tl->steps));
	tl->cutover_ttl_effective = now;
	for (i = 0; i < nrecs; i++) {
		struct schedule_ttl_step *mine = tl->steps + tl->nsteps;
		size_t n = 0, j;

		rc = schedule_ttl_steps(&recs[i], steps, nsteps, now, mine, &n, err);
		if (rc < 0)
			goto out;
		for (j = 0; j < n; j++)
			mine[j].record = i;
		tl->nsteps += n;
		tl->ttl_effective[i] = schedule_ttl_effective(&recs[i], mine, n, now);
		if (tl->ttl_effective[i] > tl->cutover_ttl_effective)
			tl->cutover_ttl_effective = tl->ttl_effective[i];
	}
	tl->validated = (prepare_start == SCHEDULE_UNKNOWN ? now : prepare_start) +
	                ms_to_s_up(p->schedule.replication_soak_ms) +
	                ms_to_s_up(p->schedule.validation_ms);
	c0 = tl->cutover_ttl_effective > tl->validated ? tl->cutover_ttl_effective : tl->validated;
	if (c0 < now)
		c0 = now;
	tl->has_window = p->schedule.cutover_window.present;
	rc = schedule_window_next(&p->schedule.cutover_window, c0, &tl->window_start,
	                          &tl->window_end, err);
	if (rc < 0)
		goto out;
	tl->earliest_cutover = tl->window_start > c0 ? tl->window_start : c0;
	tl->rollback_window_end = tl->earliest_cutover + ms_to_s_up(p->rollback.window_ms);
	tl->decommission = tl->rollback_window_end;
out:
	if (rc < 0)
		schedule_timeline_release(tl);
	return rc;
}

void schedule_timeline_release(struct schedule_timeline *tl)
{
	if (!tl)
		return;
	free(tl->steps);
	free(tl->ttl_effective);
	memset(tl, 0, sizeof(*tl));
}
