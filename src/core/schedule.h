/*
 * schedule.h - when things may happen: TTL steps, cutover windows, dates.
 *
 * Pure functions over plain data (DESIGN §1, the prepare gate and the
 * cutover window): no clock is read (the caller passes `now`), nothing is
 * printed, and the only outside data read is the C library's time-zone
 * database.  `ferry plan` prints schedule_timeline_compute()'s answer; the
 * phase engine asks the same functions whether a time gate is due.
 *
 * Units follow plan.h: instants are int64_t seconds since the epoch (UTC),
 * TTLs are uint32_t seconds, plan durations are int64_t milliseconds.
 *
 * The TTL rule.  A resolver that fetched a record just before a TTL change
 * may hold it for the whole old TTL.  So a change from TTL a to TTL b made
 * at time T is "in effect everywhere" at T + a, and the next step waits for
 * that: step k+1 no sooner than T_k + (the TTL step k replaced).  Without
 * that wait the chain's end would be unsound: after 86400 -> 3600 -> 300,
 * a resolver could still hold the 86400 answer when the last step is taken.
 * The cutover TTL is in effect everywhere at T_last + (the TTL the last
 * step replaced).  The first step waits for the change that put the live
 * TTL in place, when one is known: last_change + prev_ttl (the live TTL
 * standing in for an unknown prev_ttl).  With no known change the first
 * step may be taken now: lowering a TTL is always safe, and what the
 * resolvers may hold from then on is bounded by the live TTL.  (For
 * schedule_ttl_effective() with no step left, an unknown change time is
 * taken as `now`: it may have happened just now.)  Steps at
 * or above the live TTL are skipped: prepare never raises a TTL.
 *
 * Windows.  A struct plan_window is a set of weekdays plus a local
 * [from, to) in an IANA zone; a window whose `to` is at or before its
 * `from` spans midnight and belongs to the day it starts on.  Local times
 * that do not exist (spring forward) map to the first valid instant after
 * the gap; local times that occur twice (fall back) map to the first
 * occurrence.  A window that is empty on some day because of that (sun
 * 02:00-02:30 on the day Europe/Berlin skips 02:00-03:00) does not exist
 * that day.
 *
 * NOT THREAD-SAFE: the zone functions set the TZ environment variable,
 * call tzset() and restore TZ afterwards (the C library has no per-call
 * zone).  Call them from one thread only.
 *
 * Ownership: struct schedule_timeline owns its arrays and is released with
 * schedule_timeline_release(); every other struct here is plain data, and
 * pointers passed in are borrowed for the duration of the call.
 */
#ifndef FERRY_CORE_SCHEDULE_H
#define FERRY_CORE_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan/plan.h"
#include "util/error.h"

/* An instant that is not known (no journal entry yet). */
#define SCHEDULE_UNKNOWN INT64_MIN
/* The end of a window that never closes (plan without a cutover window). */
#define SCHEDULE_FOREVER INT64_MAX

/* What is known about one record's TTL right now. */
struct schedule_record {
	const char *name;    /* borrowed, for messages and output */
	uint32_t live_ttl;   /* what the authoritative server serves now */
	int64_t last_change; /* when the live TTL was set, or SCHEDULE_UNKNOWN */
	uint32_t prev_ttl;   /* the TTL before that change, 0 if unknown */
};

/* One TTL step still to be taken for one record. */
struct schedule_ttl_step {
	size_t record;      /* index into the records given (0 for a single record) */
	uint32_t from_ttl;  /* the TTL in effect before this step */
	uint32_t ttl;       /* the TTL this step sets */
	int64_t not_before; /* earliest instant the step may be applied */
};

/*
 * The steps that remain for rec, given the plan's steps (strictly
 * descending, the last one the cutover TTL), each with the earliest instant
 * it may be applied assuming every step is taken at its not_before.  None
 * is earlier than now.  out must have room for nsteps entries; *nout is set
 * to the number written (0 when the live TTL is already at or below the
 * cutover TTL); out[i].record is 0.
 * Returns 0, or FERRY_EINVAL (err filled, naming the record) when steps is
 * empty, not strictly descending, or a TTL is 0.
 */
int schedule_ttl_steps(const struct schedule_record *rec, const uint32_t *steps, size_t nsteps,
                       int64_t now, struct schedule_ttl_step *out, size_t *nout,
                       struct ferry_error *err);

/*
 * The instant from which no resolver can hold rec's record with a TTL above
 * the cutover TTL, given the steps schedule_ttl_steps() returned for it
 * (n may be 0; rec is only read then, and NULL means "in effect now").
 * Never earlier than now.
 */
int64_t schedule_ttl_effective(const struct schedule_record *rec,
                               const struct schedule_ttl_step *steps, size_t n, int64_t now);

/*
 * Checks that zone names a time zone of the C library's database (a
 * TZif file under $TZDIR or /usr/share/zoneinfo; "UTC" is always valid).
 * Returns 0, or FERRY_EINVAL with a hint naming the zone and the database.
 */
int schedule_zone_check(const char *zone, struct ferry_error *err);

/*
 * The window w that contains t, or else the first one that starts after t.
 * Sets *start and *end (UTC, end exclusive); *start may be before t when t
 * is inside.  A window that is not present means "any time": *start = t,
 * *end = SCHEDULE_FOREVER.
 * Returns 0, or FERRY_EINVAL (err filled) for an unknown zone, no days,
 * minutes out of 0..1439, or when no window exists in the two weeks after t
 * (every day's window swallowed by DST).  Messages start "cutover window:".
 */
int schedule_window_next(const struct plan_window *w, int64_t t, int64_t *start, int64_t *end,
                         struct ferry_error *err);

/* The copy-time gate: replication started at now (seconds) needs sync_ms
 * for the initial sync and soak_ms for the soak; it must end before the
 * next cutover window of w closes (the window that contains the end, or
 * else the first one after now).  Sets *fits, and *ends and the window
 * (*wstart, *wend) it was held against.  A w that is not present always
 * fits.  Returns 0 or the errors of schedule_window_next(). */
int schedule_sync_fits(const struct plan_window *w, int64_t now, int64_t sync_ms, int64_t soak_ms,
                       bool *fits, int64_t *ends, int64_t *wstart, int64_t *wend,
                       struct ferry_error *err);

/* Sets *inside to whether t is inside a window of w (start <= t < end).
 * Returns 0 or the errors of schedule_window_next(). */
int schedule_window_contains(const struct plan_window *w, int64_t t, bool *inside,
                             struct ferry_error *err);

/*
 * Formats t in zone for people: "Sun 2026-11-29 02:00 CET" (English day
 * names whatever the locale).  zone NULL means UTC.  out should have room
 * for 40 bytes; the text is truncated to outlen.
 * Returns 0, or FERRY_EINVAL for an unknown zone (out is then "").
 */
int schedule_format_local(int64_t t, const char *zone, char *out, size_t outlen,
                          struct ferry_error *err);

/* Every date of one plan, for `ferry plan` and the gates. */
struct schedule_timeline {
	struct schedule_ttl_step *steps; /* all records' steps, by record then time */
	size_t nsteps;
	int64_t *ttl_effective; /* per record: schedule_ttl_effective() */
	size_t nrecords;
	int64_t cutover_ttl_effective; /* the latest of ttl_effective (now if none) */
	int64_t validated;             /* prepare start + replication soak + validation */
	int64_t earliest_cutover;      /* the later of the two, moved into a window */
	bool has_window;               /* the plan has a cutover window */
	int64_t window_start;          /* the window earliest_cutover lies in */
	int64_t window_end;            /* (SCHEDULE_FOREVER without a window) */
	int64_t rollback_window_end;   /* earliest_cutover + rollback.window */
	int64_t decommission;          /* = rollback_window_end */
};

/*
 * Computes the timeline of plan p from its records' TTL state (recs[i]
 * describes p->dns.records.v[i] or whatever the caller lists; nrecs may be
 * 0 when the plan has no DNS section), now, and prepare_start (when the
 * prepare phase began, SCHEDULE_UNKNOWN = now).  Uses p->dns.ttl.steps,
 * p->schedule (replication_soak_ms, validation_ms, cutover_window) and
 * p->rollback.window_ms; calls no plan.c function.  Durations are rounded
 * up to whole seconds.  On success fills *tl (caller releases it with
 * schedule_timeline_release); on error *tl is left empty.
 * Returns 0, or the errors of schedule_ttl_steps() (naming the record) and
 * schedule_window_next() ("cutover window: ...").
 */
int schedule_timeline_compute(const struct plan *p, const struct schedule_record *recs,
                              size_t nrecs, int64_t now, int64_t prepare_start,
                              struct schedule_timeline *tl, struct ferry_error *err);

/* Frees tl's arrays and zeroes it; NULL-safe. */
void schedule_timeline_release(struct schedule_timeline *tl);

#endif
