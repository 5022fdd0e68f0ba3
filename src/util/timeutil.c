/*
 * timeutil.c - see timeutil.h.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/error.h"
#include "util/timeutil.h"

int64_t time_now(void)
{
	const char *fake = getenv("FERRY_NOW");
	int64_t t;

	if (fake && *fake && time_parse_rfc3339(fake, &t) == 0)
		return t;
	return (int64_t)time(NULL);
}

int64_t time_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t time_mono_ms(void)
{
	return time_mono_us() / 1000;
}

void time_sleep_until_ms(int64_t mono_ms)
{
	struct timespec ts;

	ts.tv_sec = mono_ms / 1000;
	ts.tv_nsec = (mono_ms % 1000) * 1000000;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
		;
}

int64_t time_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const struct {
	const char *name;
	int64_t ms;
} units[] = {
	{ "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 },
};

int duration_parse(const char *s, int64_t *ms)
{
	const char *p = s;
	int64_t n = 0;
	size_t i;

	if (!s || !isdigit((unsigned char)*p))
		return FERRY_EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (n > (INT64_MAX - 9) / 10)
			return FERRY_EINVAL;
		n = n * 10 + (*p - '0');
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].name) != 0)
			continue;
		if (n > INT64_MAX / units[i].ms)
			return FERRY_EINVAL;
		*ms = n * units[i].ms;
		return 0;
	}
	return FERRY_EINVAL;
}

void duration_format(int64_t ms, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms != 0 && ms % units[i].ms == 0) {
			snprintf(out, outlen, "%lld%s", (long long)(ms / units[i].ms),
			         units[i].name);
			return;
		}
	}
	snprintf(out, outlen, "%lldms", (long long)ms);
}

void duration_human(int64_t ms, char *out, size_t outlen)
{
	int64_t s = (ms + 999) / 1000;

	if (s < 0)
		s = 0;
	if (s >= 86400)
		snprintf(out, outlen, "%lldd %lldh", (long long)(s / 86400),
		         (long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(out, outlen, "%lldh %02lldm", (long long)(s / 3600),
		         (long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(out, outlen, "%lldm %02llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(out, outlen, "%llds", (long long)s);
}

int percent_parse(const char *s, double *pct)
{
	const char *p = s;
	double v;
	char *end;

	if (!s || !isdigit((unsigned char)*p))
		return FERRY_EINVAL;
	while (isdigit((unsigned char)*p) || *p == '.')
		p++;
	if (strcmp(p, "%") != 0)
		return FERRY_EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end != p || v < 0 || v > 100)
		return FERRY_EINVAL;
	*pct = v;
	return 0;
}

void time_rfc3339(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int time_parse_rfc3339(const char *s, int64_t *t)
{
	struct tm tm = { 0 };
	const char *end;

	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return FERRY_EINVAL;
	*t = (int64_t)timegm(&tm);
	return 0;
}
