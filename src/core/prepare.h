/*
 * prepare.h - the prepare phase's memory of each record's TTL.
 *
 * The schedule (schedule.h) needs to know when a record's TTL last changed
 * and what it was before, to know how long a resolver may still hold the
 * old answer.  ferry keeps that in the journal under
 *	dns.RECORD.last_change   seconds since the epoch
 *	dns.RECORD.prev_ttl      the TTL before that change
 *	dns.RECORD.original_ttl  the TTL before ferry's first change (restored
 *	                         at decommission unless the plan says otherwise)
 * written by the TTL step (after the DNS server accepted it) and read by
 * `ferry plan`, `ferry status` and the prepare gate.
 */
#ifndef FERRY_CORE_PREPARE_H
#define FERRY_CORE_PREPARE_H

#include <stdint.h>

#include "journal/journal.h"
#include "core/schedule.h"

/*
 * Fills *out for record with its live TTL and what the journal j knows
 * (j may be NULL: nothing is known).  out->name borrows record.
 * Returns 0 or FERRY_EIO.
 */
int prepare_record_load(struct journal *j, const char *record, uint32_t live_ttl,
                        struct schedule_record *out, struct ferry_error *err);

/* Records that record's TTL changed from prev_ttl at `when` (seconds), and
 * remembers prev_ttl as the original TTL on the first change. */
int prepare_record_store(struct journal *j, const char *record, uint32_t prev_ttl, int64_t when,
                         struct ferry_error *err);

/* The TTL a record is assumed to have when the DNS server is not asked
 * (`ferry plan --offline`, a dry run that cannot reach it): the longest the
 * plan states, dns.ttl.steps[0] or dns.ttl.restore, so that the timeline
 * errs on the late side. */
uint32_t prepare_assumed_ttl(const struct plan_dns *d);

/* The TTL to restore at decommission: the plan's dns.ttl.restore, else the
 * original TTL, else 3600. */
uint32_t prepare_restore_ttl(struct journal *j, const struct plan_dns *d, const char *record);

#endif
