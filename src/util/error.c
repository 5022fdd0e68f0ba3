/*
 * error.c - filling and printing struct ferry_error.  See error.h.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

int ferry_error_set(struct ferry_error *err, int code, const char *hint, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	snprintf(err->hint, sizeof(err->hint), "%s", hint ? hint : "");
	return code;
}

int ferry_error_prefix(struct ferry_error *err, const char *fmt, ...)
{
	char prefix[256], old[sizeof(err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
	return err->code;
}

void ferry_error_print(const struct ferry_error *err, FILE *fp)
{
	fprintf(fp, "ferry: %s\n", err->msg[0] ? err->msg : ferry_strerror(err->code));
	if (err->hint[0])
		fprintf(fp, "  hint: %s\n", err->hint);
}

const char *ferry_strerror(int code)
{
	switch (code) {
	case FERRY_OK: return "success";
	case FERRY_EINVAL: return "invalid input";
	case FERRY_EIO: return "I/O error";
	case FERRY_EUNREACH: return "unreachable";
	case FERRY_ETIMEDOUT: return "timed out";
	case FERRY_EAUTH: return "authentication refused";
	case FERRY_EREFUSED: return "refused";
	case FERRY_ECHANGED: return "changed by someone else";
	case FERRY_ENOTFOUND: return "not found";
	case FERRY_ELOCKED: return "locked by another run";
	case FERRY_ECHECK: return "check failed";
	case FERRY_EPROTO: return "protocol error";
	case FERRY_EBUDGET: return "time budget exceeded";
	case FERRY_ESTATE: return "wrong state";
	case FERRY_EINTERNAL: return "internal error";
	}
	return "unknown error";
}

const char *ferry_error_id(int code)
{
	switch (code) {
	case FERRY_OK: return "ok";
	case FERRY_EINVAL: return "invalid";
	case FERRY_EIO: return "io";
	case FERRY_EUNREACH: return "unreachable";
	case FERRY_ETIMEDOUT: return "timed_out";
	case FERRY_EAUTH: return "auth";
	case FERRY_EREFUSED: return "refused";
	case FERRY_ECHANGED: return "changed";
	case FERRY_ENOTFOUND: return "not_found";
	case FERRY_ELOCKED: return "locked";
	case FERRY_ECHECK: return "check_failed";
	case FERRY_EPROTO: return "protocol";
	case FERRY_EBUDGET: return "budget";
	case FERRY_ESTATE: return "state";
	case FERRY_EINTERNAL: return "internal";
	}
	return "unknown";
}

void ferry_bug(const char *file, int line, const char *func, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "BUG: %s:%d: %s: ", file, line, func);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
