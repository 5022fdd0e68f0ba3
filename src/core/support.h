/*
 * support.h - does this ferry have what the plan names?
 *
 * The plan loader knows every name the plan format has (engine: mariadb,
 * switch: {via: hook}, ...); whether this build has a driver for it is
 * known only to the driver tables.  After the plan loads, the commands ask
 * them here, so a plan that names something not built is refused at plan
 * time, with FILE:LINE:COLUMN and a hint, and not hours later in the
 * replicate phase.  When a driver is added to its table (db/db.c,
 * dns/dns.c, traffic/traffic.c), plans naming it pass with no change here.
 */
#ifndef FERRY_CORE_SUPPORT_H
#define FERRY_CORE_SUPPORT_H

#include <stddef.h>

#include "plan/plan.h"

/* Appends an error to d for each value of p that names a database engine,
 * a DNS provider, a load balancer or a switch driver this ferry does not
 * have.  Returns how many. */
size_t support_check_plan(const struct plan *p, struct plan_diags *d);

/* The load balancer driver the traffic section t uses (traffic.h's table):
 * its via, or with via dns "haproxy", whose counters measure the realised
 * share while the DNS answers split (its weights are never set then). */
const char *support_traffic_driver(const struct plan_traffic *t);

#endif
