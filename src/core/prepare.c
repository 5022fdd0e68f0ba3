/*
 * prepare.c - see prepare.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/prepare.h"

static int get_i64(struct journal *j, const char *record, const char *what, int64_t *v,
                   struct ferry_error *err)
{
	char key[512], *s = NULL, *end;
	long long n;
	int r;

	snprintf(key, sizeof(key), "dns.%s.%s", record, what);
	r = journal_get(j, key, &s, err);
	if (r < 0)
		return r;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end == s || *end) {
		r = ferry_error_set(err, FERRY_ESTATE, "the journal was edited by hand?",
		                    "journal key %s holds '%s', not a number", key, s);
		free(s);
		return r;
	}
	free(s);
	*v = n;
	return 0;
}

int prepare_record_load(struct journal *j, const char *record, uint32_t live_ttl,
                        struct schedule_record *out, struct ferry_error *err)
{
	int64_t when, prev;
	int r;

	out->name = record;
	out->live_ttl = live_ttl;
	out->last_change = SCHEDULE_UNKNOWN;
	out->prev_ttl = 0;
	if (!j)
		return 0;
	r = get_i64(j, record, "last_change", &when, err);
	if (r == FERRY_ENOTFOUND)
		return 0;
	if (r < 0)
		return r;
	r = get_i64(j, record, "prev_ttl", &prev, err);
	if (r < 0 && r != FERRY_ENOTFOUND)
		return r;
	out->last_change = when;
	out->prev_ttl = r == 0 && prev > 0 && prev <= UINT32_MAX ? (uint32_t)prev : 0;
	return 0;
}

int prepare_record_store(struct journal *j, const char *record, uint32_t prev_ttl, int64_t when,
                         struct ferry_error *err)
{
	char key[512], val[32];
	int r;

	char *orig = NULL;

	/* The TTL before ferry's first change, restored at decommission. */
	snprintf(key, sizeof(key), "dns.%s.original_ttl", record);
	snprintf(val, sizeof(val), "%u", prev_ttl);
	r = journal_get(j, key, &orig, NULL);
	free(orig);
	if (r == FERRY_ENOTFOUND)
		r = journal_set(j, key, val, err);
	else if (r < 0)
		return ferry_error_set(err, r, NULL, "journal: cannot read %s", key);
	if (r < 0)
		return r;
	snprintf(key, sizeof(key), "dns.%s.prev_ttl", record);
	r = journal_set(j, key, val, err);
	if (r < 0)
		return r;
	snprintf(key, sizeof(key), "dns.%s.last_change", record);
	snprintf(val, sizeof(val), "%lld", (long long)when);
	return journal_set(j, key, val, err);
}

uint32_t prepare_assumed_ttl(const struct plan_dns *d)
{
	uint32_t ttl = d->ttl.nsteps ? d->ttl.steps[0] : d->ttl.cutover;

	return d->ttl.restore > ttl ? d->ttl.restore : ttl;
}

uint32_t prepare_restore_ttl(struct journal *j, const struct plan_dns *d, const char *record)
{
	int64_t v;

	if (d->ttl.restore)
		return d->ttl.restore;
	if (j && get_i64(j, record, "original_ttl", &v, NULL) == 0 && v > 0 && v <= UINT32_MAX)
		return (uint32_t)v;
	return 3600;
}
