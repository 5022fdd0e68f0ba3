/*
 * log.h - logging to stderr.
 *
 * Results go to stdout; logs go to stderr.  Every line carries the level and,
 * at debug level, file:line:function.  The level is tested before anything
 * is formatted.  Prefix the object a line concerns, pgbouncer-style:
 *	log_info("database %s: subscription created", db->name);
 * Never log a secret or an unscrubbed connection string.
 */
#ifndef FERRY_UTIL_LOG_H
#define FERRY_UTIL_LOG_H

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};

extern enum log_level log_level_current;

__attribute__((format(printf, 5, 6))) void log_write(enum log_level lvl, const char *file, int line,
                                                     const char *func, const char *fmt, ...);

#define LOG_AT(lvl, ...)                                                                           \
	do {                                                                                       \
		if ((lvl) <= log_level_current)                                                    \
			log_write((lvl), __FILE__, __LINE__, __func__, __VA_ARGS__);               \
	} while (0)

#define log_error(...) LOG_AT(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  LOG_AT(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  LOG_AT(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) LOG_AT(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
