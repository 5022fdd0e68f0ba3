/*
 * check.h - the result of a check as a row, shared by every check family
 * (DNS, databases, hosts) and printed by `ferry check` as a table or JSON.
 *
 * A row says what was checked (check, object), how it came out (status), a
 * one-line message for people, and the migration failure the check
 * prevents.  A gate passes when no row is CHECK_FAIL.  No row ever holds a
 * secret.
 *
 * Ownership: struct check_rows owns its rows and their strings;
 * check_rows_release() frees them.
 */
#ifndef FERRY_UTIL_CHECK_H
#define FERRY_UTIL_CHECK_H

#include <stddef.h>

enum check_status {
	CHECK_OK,
	CHECK_WARN,
	CHECK_FAIL
};

/* "ok", "warn", "fail" */
const char *check_status_name(enum check_status s);

struct check_row {
	char *check;  /* "env", "ports", "egress", "tls", "health", "probe", ... */
	char *object; /* what it is about: "SHOP_API_KEY", "10.77.0.1:443", a URL */
	enum check_status status;
	char *message;  /* one line, for people */
	char *prevents; /* the failure this check prevents; may be "" */
};

struct check_rows {
	struct check_row *v;
	size_t n, alloc;
};

void check_rows_init(struct check_rows *r);
void check_rows_release(struct check_rows *r);
/* Appends a row (strings copied); prevents may be NULL. */
__attribute__((format(printf, 6, 7))) void check_rows_add(struct check_rows *r, const char *check,
                                                          const char *object,
                                                          enum check_status status,
                                                          const char *prevents, const char *fmt,
                                                          ...);
/* The worst status of all rows (CHECK_OK when empty). */
enum check_status check_rows_worst(const struct check_rows *r);

#endif
