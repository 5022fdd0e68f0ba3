/*
 * checks.h - the host checks as rows, for `ferry check` and the gates.
 *
 * hosts_checks_run() runs, for a plan, every host check: the fingerprint
 * diff old against new (diff.h), egress from both hosts (egress.h), TLS
 * certificates served by both addresses (tls.h) and HTTP health checks
 * against the new address under the real hostname (http.h).  Each finding
 * is a row {check, object, status, message, prevents}: `ferry check` prints
 * the rows as a table or JSON, the validate phase's gate passes only when
 * no row is CHECK_FAIL, and the prepare phase shows them as warnings.
 *
 * A check that cannot run (a host unreachable, a probe cut short) is itself
 * a CHECK_FAIL row: hosts_checks_run() returns an error only for a plan it
 * cannot use at all.  No row ever holds a secret: environment values appear
 * as hash prefixes only.
 *
 * Ownership: struct check_rows owns its rows and their strings;
 * check_rows_release() frees them.
 */
#ifndef FERRY_HOSTS_CHECKS_H
#define FERRY_HOSTS_CHECKS_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct plan;

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

/* Knobs for tests and for ferry check's options; zero means the default. */
struct hosts_checks_opts {
	unsigned tls_port;          /* 443 */
	int64_t probe_timeout_ms;   /* 30 s */
	int64_t connect_timeout_ms; /* egress, TLS, HTTP connect: 3 s */
	int64_t http_timeout_ms;    /* 10 s */
};

/*
 * Runs every host check of p->checks and appends rows to out.  Needs
 * p->host_old and p->host_new (their exec prefixes and addresses); a check
 * whose section is absent is skipped.  Returns 0 (whatever the rows say),
 * or FERRY_EINVAL when the plan has no hosts section.
 */
int hosts_checks_run(const struct plan *p, struct check_rows *out, struct ferry_error *err);
int hosts_checks_run_opts(const struct plan *p, const struct hosts_checks_opts *o,
                          struct check_rows *out, struct ferry_error *err);

#endif
