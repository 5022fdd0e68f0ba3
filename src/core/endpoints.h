/*
 * endpoints.h - opening the plan's endpoints with their secrets.
 *
 * The one place where a plan's section becomes a driver's configuration:
 * the secret is read from its file or environment variable (plan.h), handed
 * to the driver, and wiped at once.  Commands and the phase engine call
 * these instead of filling driver configs themselves.
 */
#ifndef FERRY_CORE_ENDPOINTS_H
#define FERRY_CORE_ENDPOINTS_H

#include "core/plan.h"
#include "dns/dns.h"
#include "util/error.h"

/*
 * Opens the DNS provider of p->dns (which must be present).  Sends nothing.
 * Returns 0 and *out (close with dns_close), or the errors of
 * plan_secret_read() and dns_open(), prefixed "dns".
 */
int endpoints_dns_open(const struct plan *p, struct dns_provider **out, struct ferry_error *err);

#endif
