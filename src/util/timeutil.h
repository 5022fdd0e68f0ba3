/*
 * timeutil.h - clocks, durations, percentages and RFC 3339 times.
 *
 * Wall-clock instants are int64_t seconds since the epoch (UTC); durations
 * and monotonic readings are int64_t milliseconds unless the name says
 * otherwise.  Parsers accept exactly what the plan file documents:
 *	duration:   <digits><unit>, unit one of ms s m h d   ("90s", "800ms", "3d")
 *	percentage: <number>%   with an optional fraction     ("1%", "0.5%")
 * and reject everything else (no bare numbers, no spaces, no overflow).
 */
#ifndef FERRY_UTIL_TIMEUTIL_H
#define FERRY_UTIL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

int64_t time_now(void);     /* wall clock, seconds; FERRY_NOW overrides (tests) */
int64_t time_mono_ms(void); /* CLOCK_MONOTONIC in milliseconds */
int64_t time_mono_us(void); /* CLOCK_MONOTONIC in microseconds */
int64_t time_wall_ms(void); /* CLOCK_REALTIME in milliseconds */
/* Sleeps until time_mono_ms() reaches mono_ms (at once if it has). */
void time_sleep_until_ms(int64_t mono_ms);

/* Returns 0 and sets *ms, or FERRY_EINVAL. */
int duration_parse(const char *s, int64_t *ms);
/* Writes the shortest exact form ("90s", "2h", "1d", "800ms") into out. */
void duration_format(int64_t ms, char *out, size_t outlen);
/* A human form for countdowns: "1d 2h", "3h 04m", "5m 07s", "12s". */
void duration_human(int64_t ms, char *out, size_t outlen);

/* Returns 0 and sets *pct (0..100), or FERRY_EINVAL. */
int percent_parse(const char *s, double *pct);

/* "2026-11-26T05:38:00Z" into out (at least 21 bytes). */
void time_rfc3339(int64_t t, char *out, size_t outlen);
/* Parses "YYYY-MM-DDTHH:MM:SSZ" (UTC only). Returns 0 or FERRY_EINVAL. */
int time_parse_rfc3339(const char *s, int64_t *t);

#endif
