/*
 * host_checks.h - the host checks as rows, for `ferry check` and the gates.
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
 * The rows are util/check.h's, shared with the DNS and database checks.
 */
#ifndef FERRY_CORE_HOST_CHECKS_H
#define FERRY_CORE_HOST_CHECKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/check.h"
#include "util/error.h"

struct plan;

/* Whether p asks for host checks: a `checks` section, and both hosts with
 * an address (a database-only plan names its hosts for the poolers' files
 * only, and gets no host checks unless it has a `checks` section). */
bool hosts_checks_wanted(const struct plan *p);

/*
 * The way into each host that has an exec prefix, up front: a row "ssh"
 * (or "exec" for another prefix) whether the prefix reaches a shell, and a
 * row "sudo" whether the prefix's sudo runs it without a password
 * (hosts/access.h).  A failing row keeps the command's own error text.
 */
void hosts_access_rows(const struct plan *p, struct check_rows *out);

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
