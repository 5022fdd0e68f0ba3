/*
 * wal_guard.c - the WAL guard of the phases (db.h: db_wal_guard): while a
 * replication slot exists ferry samples the WAL it holds back on its
 * writer, alarms past the plan's wal_alarm_mb, and past wal_limit_mb
 * drops replication rather than let the disk fill, saying what that costs.
 *
 * The replicate phase samples the forward slot every second of the soak
 * (and every 5 s of the initial sync) with its open handle; validate
 * samples it once per run, and the rollback window samples the reverse
 * slot each time `ferry run` waits on it.  Every sample goes into the
 * journal's series wal_retained_bytes.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/endpoints.h"
#include "core/engine_internal.h"
#include "util/timeutil.h"

int engine_wal_guard_db(struct engine *e, struct endpoints_db *d, enum db_direction dir,
                        int64_t *last_alarm, struct ferry_error *err)
{
	struct db_slot_wal w;
	int64_t alarm_at, limit_at;
	char key[160];
	int v;

	v = db_wal_guard(d->eng, d->h, dir, (int64_t)d->pd->wal_alarm_mb << 20,
	                 (int64_t)d->pd->wal_limit_mb << 20, &w, &alarm_at, &limit_at, err);
	if (v < 0)
		return v;
	if (w.retained >= 0) {
		journal_samples_begin(e->j, NULL);
		journal_sample_add(e->j, "wal_retained_bytes", d->pd->name, time_wall_ms(),
		                   (double)w.retained, NULL);
		journal_samples_commit(e->j, NULL);
	}
	if (v == DB_WAL_ALARM && time_mono_ms() - *last_alarm >= 60000) {
		engine_say(
		        e, d->pd->name,
		        "warning: the %s replication slot holds back %lld MB of WAL on %s (alarm "
		        "at %lld MB; replication is dropped at %lld MB)",
		        dir == DB_FORWARD ? "forward" : "reverse", (long long)(w.retained >> 20),
		        dir == DB_FORWARD ? "old" : "new", (long long)(alarm_at >> 20),
		        (long long)(limit_at >> 20));
		*last_alarm = time_mono_ms();
	}
	if (v != DB_WAL_DROPPED)
		return 0;
	if (dir == DB_FORWARD) {
		/* the next run starts replication over */
		snprintf(key, sizeof(key), "replicate.restart.%s", d->pd->name);
		journal_set(e->j, key, "1", NULL);
	}
	journal_gate_record(e->j, dir == DB_FORWARD ? "replicate" : "decommission", "wal_guard",
	                    false, err->msg, NULL);
	engine_say(e, d->pd->name, "%s", err->msg);
	return ferry_error_prefix(err, "database %s", d->pd->name);
}

int engine_wal_guard(struct engine *e, enum db_direction dir, struct ferry_error *err)
{
	size_t i;
	int r = 0;

	for (i = 0; i < e->plan->ndatabases && r == 0; i++) {
		struct endpoints_db *d = NULL;
		int64_t last_alarm = -60000;

		r = endpoints_db_open(e->plan, i, &d, err);
		if (r == 0)
			r = engine_wal_guard_db(e, d, dir, &last_alarm, err);
		endpoints_db_close(d);
	}
	return r;
}
