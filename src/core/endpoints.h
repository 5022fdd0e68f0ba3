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

#include "plan/plan.h"
#include "db/db.h"
#include "dns/dns.h"
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
 * One database of the plan, opened: its engine, the engine's handle, and
 * everything the engine's config borrows (the password, the poolers, the
 * pooler entries derived from the conninfos).  The password is wiped at
 * endpoints_db_close().
 */
struct endpoints_db {
	const struct plan_database *pd;
	const struct db_engine *eng;
	void *h;
	struct db_config cfg;
	struct db_pooler poolers[2];
	struct buf password;
	char *pooler_old, *pooler_new; /* "host=H port=P dbname=D" */
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
