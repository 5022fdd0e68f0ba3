/*
 * log.c - see log.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "util/log.h"

enum log_level log_level_current = LOG_LEVEL_WARN;

static const char *names[] = { "error", "warning", "info", "debug" };

void log_write(enum log_level lvl, const char *file, int line, const char *func, const char *fmt,
               ...)
{
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	if (log_level_current >= LOG_LEVEL_DEBUG)
		fprintf(stderr, "%s.%03ld %s: %s:%d %s: ", stamp, ts.tv_nsec / 1000000, names[lvl],
		        file, line, func);
	else
		fprintf(stderr, "%s %s: ", stamp, names[lvl]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
