/*
 * world.h - does the world still look the way the journal says a
 * migration left it?
 *
 * A journal that says "complete" can be wrong about today: someone moved a
 * DNS record back by hand, reloaded HAProxy with the old weights, or
 * pointed a pooler at the old database.  `ferry status` compares, read
 * only, what the journal says the migration's end state is with what the
 * world answers now, one row each (util/check.h: CHECK_OK they agree,
 * CHECK_FAIL they disagree, CHECK_WARN the world could not be asked):
 *
 *	world.dns      each record: the set (addresses or a CNAME) the
 *	               authoritative server answers (asked without the key, as
 *	               any client would) against the one the journal's last DNS
 *	               change set; for the providers read only through their
 *	               API (powerdns, route53) CHECK_WARN, as that takes a key;
 *	world.traffic  the share of the traffic the load balancer's weights
 *	               send to the new server against the journal's last split;
 *	world.db       each database's writer, where the poolers point
 *	               (world_db_writers: filled from the switch drivers).
 */
#ifndef FERRY_CORE_WORLD_H
#define FERRY_CORE_WORLD_H

#include "journal/journal.h"
#include "plan/plan.h"
#include "util/check.h"

/* Appends the rows above for plan p and its journal j to rows. */
void world_compare(const struct plan *p, struct journal *j, struct check_rows *rows);

/*
 * The databases' writers: for each database of p, where the applications'
 * writes go now (which side the poolers point at, which side accepts
 * writes) against the journal's end state.  Not built yet: it needs the
 * switch drivers' "show where it points" (issue 11); until then it says so
 * in one CHECK_WARN row per database.
 */
void world_db_writers(const struct plan *p, struct journal *j, struct check_rows *rows);

#endif
