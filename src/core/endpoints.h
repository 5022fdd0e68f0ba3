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

#include <stdbool.h>

#include "db/db.h"
#include "dns/dns.h"
#include "plan/plan.h"
#include "switch/switch.h"
#include "util/buf.h"
#include "util/error.h"

/*
 * Opens the DNS provider of p->dns (which must be present).  Sends nothing.
 * Returns 0 and *out (close with dns_close), or the errors of
 * plan_secret_read() and dns_open(), prefixed "dns".
 */
int endpoints_dns_open(const struct plan *p, struct dns_provider **out, struct ferry_error *err);
/* The provider's configuration from p->dns without any secret (a dry run
 * describes with it; endpoints_dns_open adds the secrets).  cfg borrows
 * the plan. */
void endpoints_dns_config(const struct plan *p, struct dns_config *cfg);
/* What the plan says host h's records hold (address, addresses or cname),
 * borrowing the plan; as a plain state. */
struct dns_values endpoints_dns_values(const struct plan_host *h);
struct dns_state endpoints_dns_state(const struct plan_host *h);

/*
 * One database of the plan, opened: its engine, the engine's handle, its
 * switch (the driver, one config per endpoint, and once orch_open() ran
 * the open endpoints), the targets the applications are pointed at, and
 * everything those borrow (the password).  The password is wiped at
 * endpoints_db_close().
 */
#define ENDPOINTS_SW_MAX 4
struct endpoints_db {
	const struct plan_database *pd;
	const struct db_engine *eng;
	void *h;
	struct db_config cfg;
	struct buf password;
	int64_t budget_ms; /* the pause budget */
	const struct sw_driver *sw;
	struct sw_config swcfg[ENDPOINTS_SW_MAX];
	struct sw_endpoint *swep[ENDPOINTS_SW_MAX]; /* orch_open() */
	size_t nsw;
	struct sw_target target[2]; /* DB_OLD, DB_NEW */
	char *target_host[2], *target_db[2];
};

/*
 * Opens database i of p: reads its password, connects to both sides
 * through the engine.  Returns 0 and *out (close with endpoints_db_close),
 * or an error naming the database.
 */
int endpoints_db_open(const struct plan *p, size_t i, struct endpoints_db **out,
                      struct ferry_error *err);
/* The same without connecting (d->h stays NULL), for a dry run; the
 * password is read only when secret is true. */
int endpoints_db_config(const struct plan *p, size_t i, bool secret, struct endpoints_db **out,
                        struct ferry_error *err);
void endpoints_db_close(struct endpoints_db *d); /* NULL-safe */

#endif
