/*
 * error.h - the one error convention of ferry.
 *
 * Library functions return 0 on success or a negative FERRY_E* code, and on
 * failure fill a caller-provided struct ferry_error where the failure
 * happens: what failed (naming the object: "dns www.shop.test: ..."), and a
 * hint an operator can act on.  On success the struct is left untouched, so a
 * caller may pass one struct down a whole call chain.  Nothing below
 * src/cmd/ prints or exits; the command prints the error once
 * (ferry_error_print) and picks the exit code.
 *
 * The struct owns no heap memory: messages are truncated to fit.  Never put
 * a secret into a message.
 */
#ifndef FERRY_UTIL_ERROR_H
#define FERRY_UTIL_ERROR_H

#include <stdio.h>

enum ferry_errcode {
	FERRY_OK = 0,
	FERRY_EINVAL = -1,    /* bad argument or bad input (plan, option) */
	FERRY_EIO = -2,       /* local I/O: files, pipes */
	FERRY_EUNREACH = -3,  /* a server did not answer / connection refused */
	FERRY_ETIMEDOUT = -4, /* a deadline passed */
	FERRY_EAUTH = -5,     /* credentials refused (TSIG, password) */
	FERRY_EREFUSED = -6,  /* the server understood and said no */
	FERRY_ECHANGED = -7,  /* compare-and-swap: the world is not as expected */
	FERRY_ENOTFOUND = -8, /* the object does not exist */
	FERRY_ELOCKED = -9,   /* another run holds the lock */
	FERRY_ECHECK = -10,   /* a check or gate failed */
	FERRY_EPROTO = -11,   /* a reply we do not understand */
	FERRY_EBUDGET = -12,  /* a time budget (the write pause) overran */
	FERRY_ESTATE = -13,   /* the journal or the world is in a state that forbids this */
	FERRY_EINTERNAL = -14,
};

struct ferry_error {
	int code;       /* the negative FERRY_E* code, 0 if none */
	char msg[512];  /* "OBJECT: what went wrong" */
	char hint[512]; /* what to do about it, may be empty */
};

/* Fills err (if not NULL) and returns code, so that callers can write
 * `return ferry_error_set(err, FERRY_EIO, "check the path", "plan %s: %s", ...)`.
 * hint may be NULL. */
__attribute__((format(printf, 4, 5))) int ferry_error_set(struct ferry_error *err, int code,
                                                          const char *hint, const char *fmt, ...);

/* Prefixes err->msg with "PREFIX: " (for adding the object one level up).
 * Returns err->code. */
__attribute__((format(printf, 2, 3))) int ferry_error_prefix(struct ferry_error *err,
                                                             const char *fmt, ...);

/* Prints "ferry: MSG" and "  hint: HINT" to fp. */
void ferry_error_print(const struct ferry_error *err, FILE *fp);

/* A short name for a code ("unreachable", "timed out", ...). */
const char *ferry_strerror(int code);
/* A stable identifier for a code, for scripts (`--json`): "invalid",
 * "io", "unreachable", "timed_out", "auth", "refused", "changed",
 * "not_found", "locked", "check_failed", "protocol", "budget", "state",
 * "internal". */
const char *ferry_error_id(int code);

/* Broken internal invariant: prints file:line and aborts. */
#define BUG(...) ferry_bug(__FILE__, __LINE__, __func__, __VA_ARGS__)
__attribute__((noreturn, format(printf, 4, 5))) void ferry_bug(const char *file, int line,
                                                               const char *func, const char *fmt,
                                                               ...);

#endif
