/*
 * redis_check.c - the Redis engine's readiness rows (db.h check; `ferry
 * check`), each with the migration failure it prevents (ENGINES.md B1).
 *
 * Everything is read, nothing changed: per side one pipeline of INFO (the
 * default sections), CONFIG GET of the settings that matter, COMMAND INFO
 * of the commands ferry sends (a renamed or disabled one is unknown), ACL
 * WHOAMI; then ACL DRYRUN of those commands for the user (7.0 and later),
 * TIME around ferry's own clock, and after one second a second INFO stats
 * on old: its input rate stands for the write rate the replication buffers
 * must hold.
 *
 * Sizing (Redis manual, "Redis replication"; the GitLab.com incident in
 * ENGINES.md): during a full sync old keeps every write for the replica in
 * that replica's output buffer until the replica has received and loaded
 * the snapshot; past the replica class's hard limit, or its soft limit for
 * longer than its seconds, old drops the replica and the sync starts over,
 * forever.  The sync time is estimated as repl-diskless-sync-delay plus
 * twice the dataset at RD_SYNC_BPS (transfer, then load), and the buffer
 * must hold twice the measured rate over it.  The backlog must hold
 * RD_GAP_S seconds of writes, or a link drop that long turns into a full
 * resync.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/redis_int.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define RD_SYNC_BPS (50.0 * 1024 * 1024) /* assumed transfer and load rate */
#define RD_GAP_S    60                   /* link drop the backlog must cover */

/* CONFIG GET names, in the order of struct side's cfg[]. */
static const char *const cfg_names[] = {
	"repl-backlog-size",
	"client-output-buffer-limit",
	"maxmemory",
	"appendonly",
	"save",
	"tls-replication",
	"replica-read-only",
	"repl-diskless-sync-delay",
	NULL,
};
enum {
	C_BACKLOG,
	C_COBL,
	C_MAXMEM,
	C_AOF,
	C_SAVE,
	C_TLSREPL,
	C_RRO,
	C_DELAY,
	C_N
};

/* The commands ferry sends, for COMMAND INFO and ACL DRYRUN. */
static const char *const needed[] = { "replicaof", "config", "client", "info", "scan",
	                              "dump",      "pttl",   "select", "time", NULL };

struct side {
	char *info;       /* INFO, default sections */
	char *cfg[C_N];   /* NULL: CONFIG GET refused */
	char unknown[96]; /* commands COMMAND INFO does not know */
	bool cmd_ok;      /* COMMAND INFO answered */
	char user[64];    /* ACL WHOAMI, "" when refused */
	int64_t clock_ms; /* server clock minus ferry's */
	int64_t clock_unc;
	bool clock_ok;
	int64_t info_at; /* time_mono_ms() when INFO answered */
};

static void side_release(struct side *sd)
{
	size_t i;

	free(sd->info);
	for (i = 0; i < C_N; i++)
		free(sd->cfg[i]);
}

static int gather(struct rd *r, enum redis_side s, struct side *sd, struct ferry_error *err)
{
	struct redis_reply rep[C_N + 3];
	struct redis_conn *c;
	const char *argv[12];
	size_t i, n = 0;
	int rc;

	rc = rd_conn(r, s, &c, err);
	if (rc < 0)
		return rc;
	argv[0] = "INFO";
	redis_append(c, 1, argv, NULL);
	for (i = 0; cfg_names[i]; i++) {
		argv[0] = "CONFIG";
		argv[1] = "GET";
		argv[2] = cfg_names[i];
		redis_append(c, 3, argv, NULL);
	}
	argv[0] = "COMMAND";
	argv[1] = "INFO";
	for (n = 0; needed[n]; n++)
		argv[2 + n] = needed[n];
	redis_append(c, 2 + (int)n, argv, NULL);
	argv[0] = "ACL";
	argv[1] = "WHOAMI";
	redis_append(c, 2, argv, NULL);
	rc = redis_flush(c, C_N + 3, rep, rd_deadline(RD_TIMEOUT_MS), err);
	sd->info_at = time_mono_ms();
	if (rc == 0 && rep[0].type != REDIS_STRING)
		rc = ferry_error_set(err, FERRY_EREFUSED, "grant ferry's user INFO", "%s: INFO: %s",
		                     redis_conn_what(c), rep[0].str ? rep[0].str : "no text");
	if (rc == 0) {
		sd->info = xstrdup(rep[0].str);
		for (i = 0; i < C_N; i++)
			if (rep[1 + i].type == REDIS_ARRAY && rep[1 + i].n == 2)
				sd->cfg[i] = xstrdup(rep[1 + i].v[1].str);
		sd->cmd_ok = rep[1 + C_N].type == REDIS_ARRAY && rep[1 + C_N].n == n;
		for (i = 0; sd->cmd_ok && i < n; i++) {
			if (rep[1 + C_N].v[i].type != REDIS_NIL)
				continue;
			snprintf(sd->unknown + strlen(sd->unknown),
			         sizeof(sd->unknown) - strlen(sd->unknown), "%s%s",
			         sd->unknown[0] ? ", " : "", needed[i]);
		}
		if (rep[2 + C_N].type == REDIS_STRING || rep[2 + C_N].type == REDIS_STATUS)
			snprintf(sd->user, sizeof(sd->user), "%s", rep[2 + C_N].str);
	}
	for (i = 0; i < C_N + 3; i++)
		redis_reply_release(&rep[i]);
	if (rc < 0)
		return rc;
	/* TIME, bracketed by ferry's clock: the offset within half the round
	 * trip */
	{
		struct redis_reply t;
		int64_t t1 = time_wall_ms(), t2;

		rc = redis_cmd(c, rd_deadline(RD_TIMEOUT_MS), &t, NULL, "TIME", NULL);
		t2 = time_wall_ms();
		if (rc == 0 && t.type == REDIS_ARRAY && t.n == 2 && t.v[0].str && t.v[1].str) {
			int64_t server = strtoll(t.v[0].str, NULL, 10) * 1000 +
			                 strtoll(t.v[1].str, NULL, 10) / 1000;

			sd->clock_ms = server - (t1 + t2) / 2;
			sd->clock_unc = (t2 - t1) / 2 + 1;
			sd->clock_ok = true;
		}
		redis_reply_release(&t);
	}
	return 0;
}

static int64_t cfg_int(const struct side *sd, int k, int64_t def)
{
	char *end;
	long long v;

	if (!sd->cfg[k] || !sd->cfg[k][0])
		return def;
	v = strtoll(sd->cfg[k], &end, 10);
	return *end ? def : (int64_t)v;
}

/* The replica class of client-output-buffer-limit: hard, soft, seconds. */
static bool cobl_replica(const char *v, int64_t *hard, int64_t *soft, int64_t *secs)
{
	const char *p = v ? strstr(v, "slave ") : NULL;
	char *end;

	if (!p && v)
		p = strstr(v, "replica ");
	if (!p)
		return false;
	p = strchr(p, ' ') + 1;
	*hard = strtoll(p, &end, 10);
	*soft = strtoll(end, &end, 10);
	*secs = strtoll(end, &end, 10);
	return true;
}

/* A size for a message: "512 B", "12.5 kB", "1.0 MB", "3.2 GB"; "no limit"
 * for 0 when zero_unlimited. */
struct size_text {
	char s[24];
};

static struct size_text sz(int64_t bytes, bool zero_unlimited)
{
	struct size_text t;
	double b = (double)bytes;

	if (bytes == 0 && zero_unlimited)
		snprintf(t.s, sizeof(t.s), "no limit");
	else if (b < 1024)
		snprintf(t.s, sizeof(t.s), "%lld B", (long long)bytes);
	else if (b < 1024.0 * 1024)
		snprintf(t.s, sizeof(t.s), "%.1f kB", b / 1024);
	else if (b < 1024.0 * 1024 * 1024)
		snprintf(t.s, sizeof(t.s), "%.1f MB", b / (1024.0 * 1024));
	else
		snprintf(t.s, sizeof(t.s), "%.1f GB", b / (1024.0 * 1024 * 1024));
	return t;
}

static void row_version(struct db_checks *out, struct side sd[2])
{
	char v[2][32];
	bool ok = true;
	int s;

	for (s = 0; s < 2; s++) {
		long major = 0, minor = 0;
		char *end;

		if (!redis_info_str(sd[s].info, "redis_version", v[s], sizeof(v[s])))
			snprintf(v[s], sizeof(v[s]), "unknown");
		major = strtol(v[s], &end, 10);
		if (*end == '.')
			minor = strtol(end + 1, NULL, 10);
		if (major < 6 || (major == 6 && minor < 2))
			ok = false;
	}
	db_checks_add(out, "version", ok ? DB_CHECK_OK : DB_CHECK_FAIL,
	              "a switch that cannot pause writes alone (CLIENT PAUSE WRITE needs 6.2)",
	              ok ? "old %s, new %s (6.2 or later)"
	                 : "old %s, new %s: ferry needs Redis 6.2 or later on both (CLIENT PAUSE "
	                   "WRITE); upgrade first",
	              v[0], v[1]);
}

static void row_mode(struct db_checks *out, struct side sd[2])
{
	char mode[2][32];
	int s, bad = -1;

	for (s = 0; s < 2; s++) {
		if (!redis_info_str(sd[s].info, "redis_mode", mode[s], sizeof(mode[s])))
			snprintf(mode[s], sizeof(mode[s]), "standalone");
		if (redis_info_int(sd[s].info, "cluster_enabled", 0) == 1 ||
		    strcmp(mode[s], "standalone"))
			bad = s;
	}
	if (bad < 0)
		db_checks_add(out, "mode", DB_CHECK_OK, NULL, "standalone on both");
	else
		db_checks_add(out, "mode", DB_CHECK_FAIL,
		              "moving one shard of a cluster as if it were the whole dataset",
		              "%s runs in %s mode: Redis Cluster (and Sentinel) are out of ferry's "
		              "scope; ferry moves standalone servers (a cluster moves by its own "
		              "slot migration)",
		              rd_side_name((enum redis_side)bad),
		              redis_info_int(sd[bad].info, "cluster_enabled", 0) ? "cluster"
		                                                                 : mode[bad]);
}

static void row_roles(struct rd *r, struct db_checks *out, struct side sd[2], bool *replicating)
{
	static const char prevents[] =
	        "copying a replica instead of the writer, or a new side fed by another master";
	char role[2][16], host[256] = "";

	*replicating = rd_replica_of(sd[REDIS_NEW].info, &r->ep[REDIS_OLD]);
	redis_info_str(sd[REDIS_OLD].info, "role", role[0], sizeof(role[0]));
	redis_info_str(sd[REDIS_NEW].info, "role", role[1], sizeof(role[1]));
	if (strcmp(role[0], "master")) {
		redis_info_str(sd[REDIS_OLD].info, "master_host", host, sizeof(host));
		db_checks_add(out, "roles", DB_CHECK_FAIL, prevents,
		              "old is a replica (of %s port %lld): give its master as the source",
		              host,
		              (long long)redis_info_int(sd[REDIS_OLD].info, "master_port", 0));
	} else if (strcmp(role[1], "master") && !*replicating) {
		redis_info_str(sd[REDIS_NEW].info, "master_host", host, sizeof(host));
		db_checks_add(
		        out, "roles", DB_CHECK_FAIL, prevents,
		        "new is a replica of %s port %lld, not of old: REPLICAOF NO ONE on new "
		        "first",
		        host, (long long)redis_info_int(sd[REDIS_NEW].info, "master_port", 0));
	} else {
		db_checks_add(out, "roles", DB_CHECK_OK, prevents, "old is a master; new %s",
		              *replicating ? "already replicates from old" : "is a master");
	}
}

static void row_new_empty(struct db_checks *out, struct side sd[2], bool replicating)
{
	int64_t keys = rd_keyspace_keys(sd[REDIS_NEW].info, NULL, 0);

	if (keys == 0 || replicating)
		db_checks_add(out, "new_empty", DB_CHECK_OK, NULL, "new holds %s",
		              keys ? "old's keys (replicating)" : "no keys");
	else if (rd_copy_of(sd[REDIS_NEW].info, sd[REDIS_OLD].info))
		db_checks_add(out, "new_empty", DB_CHECK_OK, NULL,
		              "new holds %lld keys of an earlier sync from old and no write since: "
		              "the sync from old replaces them",
		              (long long)keys);
	else
		db_checks_add(out, "new_empty", DB_CHECK_FAIL, "losing the data already on new",
		              "new holds %lld keys, which the full sync from old would erase: "
		              "empty it (FLUSHALL) if they are not needed, or pick another target",
		              (long long)keys);
}

static void row_memory(struct db_checks *out, struct side sd[2])
{
	static const char prevents[] =
	        "a new side that runs out of memory during the full sync or after the cutover "
	        "(a replica ignores maxmemory)";
	int64_t used = redis_info_int(sd[REDIS_OLD].info, "used_memory", -1);
	int64_t maxmem = cfg_int(&sd[REDIS_NEW], C_MAXMEM, 0);
	int64_t ram = redis_info_int(sd[REDIS_NEW].info, "total_system_memory", 0);
	int64_t room = maxmem > 0 ? maxmem : ram;
	const char *what = maxmem > 0 ? "maxmemory" : "RAM";

	if (used < 0 || room <= 0)
		db_checks_add(out, "memory", DB_CHECK_WARN, prevents,
		              "cannot tell: old's used_memory or new's maxmemory / RAM unknown");
	else if (room < used)
		db_checks_add(out, "memory", DB_CHECK_FAIL, prevents,
		              "old uses %s but new has %s (%s): give new more memory",
		              sz(used, false).s, sz(room, false).s, what);
	else if (room < used + used / 4)
		db_checks_add(out, "memory", DB_CHECK_WARN, prevents,
		              "old uses %s and new has %s (%s): less than 25%% to spare",
		              sz(used, false).s, sz(room, false).s, what);
	else
		db_checks_add(out, "memory", DB_CHECK_OK, prevents, "old uses %s; new has %s (%s)",
		              sz(used, false).s, sz(room, false).s, what);
}

static void row_buffers(struct db_checks *out, struct side sd[2], double rate)
{
	int64_t dataset = redis_info_int(sd[REDIS_OLD].info, "used_memory_dataset", 0);
	double sync_s =
	        (double)cfg_int(&sd[REDIS_OLD], C_DELAY, 5) + 2.0 * (double)dataset / RD_SYNC_BPS;
	static const char loop[] = "a full sync that restarts in a loop";
	static const char drop[] = "a full resync after a link drop";
	int64_t need, hard, soft, secs;
	int s;

	if (sync_s < 1)
		sync_s = 1;
	need = (int64_t)(2.0 * rate * sync_s) + 1;
	if (!cobl_replica(sd[REDIS_OLD].cfg[C_COBL], &hard, &soft, &secs))
		db_checks_add(out, "output_buffer", DB_CHECK_WARN, loop,
		              "cannot tell: CONFIG GET client-output-buffer-limit refused on old");
	else if ((hard > 0 && need > hard) || (soft > 0 && need > soft && sync_s > (double)secs))
		db_checks_add(
		        out, "output_buffer", DB_CHECK_FAIL, loop,
		        "old's replica buffer limit (hard %s, soft %s for %lld s) is below the "
		        "%s a full sync needs (%s/s of writes for an estimated %.0f s): raise "
		        "it on old, e.g. CONFIG SET client-output-buffer-limit \"replica %lld "
		        "%lld %lld\"",
		        sz(hard, true).s, sz(soft, true).s, (long long)secs, sz(need, false).s,
		        sz((int64_t)rate, false).s, sync_s, (long long)need * 2, (long long)need,
		        (long long)secs);
	else
		db_checks_add(
		        out, "output_buffer", DB_CHECK_OK, loop,
		        "old's replica buffer limit (hard %s, soft %s for %lld s) holds the %s "
		        "a full sync needs (%s/s of writes for about %.0f s)",
		        sz(hard, true).s, sz(soft, true).s, (long long)secs, sz(need, false).s,
		        sz((int64_t)rate, false).s, sync_s);
	for (s = 0; s < 2; s++) {
		const char *side = rd_side_name((enum redis_side)s);
		int64_t backlog = cfg_int(&sd[s], C_BACKLOG, -1);
		int64_t gap = backlog > 0 && rate > 0 ? (int64_t)((double)backlog / rate) : -1;

		if (backlog < 0)
			db_checks_add(out, "backlog", DB_CHECK_WARN, drop,
			              "%s: cannot tell (CONFIG GET repl-backlog-size refused)",
			              side);
		else if (rate > 0 && (double)backlog < rate * RD_GAP_S)
			db_checks_add(
			        out, "backlog", DB_CHECK_WARN, drop,
			        "%s: repl-backlog-size %s holds %lld s of writes (%s/s), less "
			        "than %d s: a longer link drop %s means a full resync; CONFIG SET "
			        "repl-backlog-size %lld",
			        side, sz(backlog, false).s, (long long)gap,
			        sz((int64_t)rate, false).s, RD_GAP_S,
			        s == REDIS_OLD ? "during replication" : "after the cutover",
			        (long long)(rate * RD_GAP_S * 2));
		else
			db_checks_add(out, "backlog", DB_CHECK_OK, drop,
			              "%s: repl-backlog-size %s covers %s of writes", side,
			              sz(backlog, false).s,
			              gap < 0 ? "any time" : "a minute or more");
	}
}

static void row_persistence(struct db_checks *out, struct side sd[2])
{
	static const char prevents[] = "losing the dataset when new restarts after the cutover";
	bool aof[2], rdb[2];
	int s;

	for (s = 0; s < 2; s++) {
		aof[s] = sd[s].cfg[C_AOF] && !strcmp(sd[s].cfg[C_AOF], "yes");
		rdb[s] = sd[s].cfg[C_SAVE] && sd[s].cfg[C_SAVE][0];
	}
	if (!sd[REDIS_NEW].cfg[C_AOF] || !sd[REDIS_NEW].cfg[C_SAVE])
		db_checks_add(out, "persistence", DB_CHECK_WARN, prevents,
		              "cannot tell: CONFIG GET appendonly / save refused on new");
	else if (!aof[1] && !rdb[1])
		db_checks_add(
		        out, "persistence", DB_CHECK_WARN, prevents,
		        "new persists nothing (appendonly no, save \"\"): after the cutover a "
		        "restart of new loses every key%s",
		        aof[0] || rdb[0] ? ", while old persists" : "");
	else if (aof[0] != aof[1] || rdb[0] != rdb[1])
		db_checks_add(
		        out, "persistence", DB_CHECK_WARN, prevents,
		        "old and new persist differently (appendonly %s/%s, save \"%s\"/\"%s\")",
		        aof[0] ? "yes" : "no", aof[1] ? "yes" : "no",
		        sd[0].cfg[C_SAVE] ? sd[0].cfg[C_SAVE] : "?", sd[1].cfg[C_SAVE]);
	else
		db_checks_add(out, "persistence", DB_CHECK_OK, prevents, "new persists (%s%s%s)",
		              aof[1] ? "appendonly" : "", aof[1] && rdb[1] ? ", " : "",
		              rdb[1] ? "snapshots" : "");
}

static void row_commands(struct db_checks *out, struct side sd[2])
{
	static const char prevents[] = "a switch step that cannot run (rename-command)";
	int s;

	for (s = 0; s < 2; s++) {
		const char *side = rd_side_name((enum redis_side)s);

		if (!sd[s].cmd_ok)
			db_checks_add(out, "commands", DB_CHECK_WARN, prevents,
			              "%s: cannot tell (COMMAND INFO refused)", side);
		else if (sd[s].unknown[0])
			db_checks_add(
			        out, "commands", DB_CHECK_FAIL, prevents,
			        "%s does not know %s: renamed or disabled (rename-command in its "
			        "configuration); ferry needs them under their own names",
			        side, sd[s].unknown);
		else
			db_checks_add(
			        out, "commands", DB_CHECK_OK, prevents,
			        "%s: REPLICAOF, CONFIG, CLIENT and the others under their names",
			        side);
	}
}

/* ACL DRYRUN of what ferry and the replication link send as the user. */
static void row_credentials(struct rd *r, struct db_checks *out, struct side sd[2])
{
	static const char prevents[] =
	        "a replica that cannot authenticate to its master, or a switch step refused midway";
	static const char *const probes[][5] = {
		{ "INFO", "replication", NULL },
		{ "CONFIG", "SET", "masterauth", "x", NULL },
		{ "CLIENT", "PAUSE", "1", "WRITE", NULL },
		{ "CLIENT", "UNPAUSE", NULL },
		{ "REPLICAOF", "NO", "ONE", NULL },
		{ "SCAN", "0", NULL },
		{ "DUMP", "k", NULL },
		{ "PSYNC", "?", "-1", NULL },
		{ "REPLCONF", "ACK", "0", NULL },
		{ NULL },
	};
	int s;

	for (s = 0; s < 2; s++) {
		const char *side = rd_side_name((enum redis_side)s);
		char denied[256] = "", why[256] = "";
		struct redis_conn *c;
		size_t i;
		bool told = true;

		if (!sd[s].user[0] || rd_conn(r, (enum redis_side)s, &c, NULL) < 0) {
			db_checks_add(out, "credentials", DB_CHECK_WARN, prevents,
			              "%s: cannot tell (ACL WHOAMI refused)", side);
			continue;
		}
		for (i = 0; probes[i][0] && told; i++) {
			const char *argv[8] = { "ACL", "DRYRUN", sd[s].user };
			struct redis_reply rep;
			int argc = 3, k;

			for (k = 0; probes[i][k]; k++)
				argv[argc++] = probes[i][k];
			if (redis_cmdv(c, argc, argv, NULL, rd_deadline(RD_TIMEOUT_MS), &rep,
			               NULL) < 0) {
				told = false;
				break;
			}
			if (rep.type == REDIS_STRING && rep.str && strcmp(rep.str, "OK")) {
				snprintf(denied + strlen(denied), sizeof(denied) - strlen(denied),
				         "%s%s%s%s", denied[0] ? ", " : "", probes[i][0],
				         probes[i][1] && !strcmp(probes[i][0], "CLIENT") ? " " : "",
				         probes[i][1] && !strcmp(probes[i][0], "CLIENT")
				                 ? probes[i][1]
				                 : "");
				if (!why[0])
					snprintf(why, sizeof(why), "%s", rep.str);
			}
			redis_reply_release(&rep);
		}
		if (!told)
			db_checks_add(out, "credentials", DB_CHECK_WARN, prevents,
			              "%s: cannot tell (ACL DRYRUN needs Redis 7 and the +acl "
			              "permission)",
			              side);
		else if (denied[0])
			db_checks_add(out, "credentials", DB_CHECK_FAIL, prevents,
			              "%s: user %s may not run %s (%s): grant them (ACL SETUSER %s "
			              "+@all, or +psync +replconf +config ... ~*)",
			              side, sd[s].user, denied, why, sd[s].user);
		else
			db_checks_add(
			        out, "credentials", DB_CHECK_OK, prevents,
			        "%s: user %s may run ferry's commands and replicate (PSYNC)%s",
			        side, sd[s].user,
			        rd_password(r, (enum redis_side)s)
			                ? "; the other side authenticates with masterauth"
			                : "");
	}
}

static void row_tls(struct rd *r, struct db_checks *out, struct side sd[2])
{
	static const char prevents[] = "a replica that cannot connect to its master";
	int s;

	for (s = 0; s < 2; s++) {
		enum redis_side rep = (enum redis_side)s, master = rd_other(rep);
		bool want = r->ep[master].tls;
		const char *v = sd[rep].cfg[C_TLSREPL];

		if (!v)
			db_checks_add(out, "tls", DB_CHECK_WARN, prevents,
			              "%s: cannot tell (CONFIG GET tls-replication refused)",
			              rd_side_name(rep));
		else if (want != !strcmp(v, "yes"))
			db_checks_add(out, "tls", DB_CHECK_FAIL, prevents,
			              "%s replicates from %s over %s (as ferry reaches it) but has "
			              "tls-replication %s: CONFIG SET tls-replication %s on %s%s",
			              rd_side_name(rep), rd_side_name(master), want ? "TLS" : "TCP",
			              v, want ? "yes" : "no", rd_side_name(rep),
			              want ? " (with its tls-cert-file and tls-ca-cert-file)" : "");
		else
			db_checks_add(out, "tls", DB_CHECK_OK, prevents, "%s reaches %s over %s",
			              rd_side_name(rep), rd_side_name(master),
			              want ? "TLS" : "TCP");
	}
}

static void row_clock(struct db_checks *out, struct side sd[2])
{
	static const char prevents[] =
	        "keys expiring early or late on new (expiry times are absolute)";
	int64_t expires = 0;
	const char *p = sd[REDIS_OLD].info;
	int64_t skew, unc;

	for (; p && (p = strstr(p, ",expires=")) != NULL; p++)
		expires += strtoll(p + 9, NULL, 10);
	if (!sd[0].clock_ok || !sd[1].clock_ok) {
		db_checks_add(out, "clock", DB_CHECK_WARN, prevents, "cannot tell (TIME refused)");
		return;
	}
	skew = sd[REDIS_NEW].clock_ms - sd[REDIS_OLD].clock_ms;
	unc = sd[0].clock_unc + sd[1].clock_unc;
	if (llabs(skew) - unc > 1000)
		db_checks_add(
		        out, "clock", DB_CHECK_FAIL, prevents,
		        "new's clock is %+lld ms off old's (+-%lld ms); %lld keys have a TTL: "
		        "sync the clocks (NTP, chrony) first",
		        (long long)skew, (long long)unc, (long long)expires);
	else if (llabs(skew) - unc > 100)
		db_checks_add(out, "clock", DB_CHECK_WARN, prevents,
		              "new's clock is %+lld ms off old's (+-%lld ms); %lld keys have a TTL",
		              (long long)skew, (long long)unc, (long long)expires);
	else
		db_checks_add(out, "clock", DB_CHECK_OK, prevents,
		              "new's clock is %+lld ms off old's (+-%lld ms); %lld keys have a TTL",
		              (long long)skew, (long long)unc, (long long)expires);
}

static void row_read_only(struct db_checks *out, struct side sd[2])
{
	const char *v = sd[REDIS_NEW].cfg[C_RRO];

	if (v && !strcmp(v, "no"))
		db_checks_add(out, "replica_read_only", DB_CHECK_WARN,
		              "writes on new before the cutover, silently lost or diverging",
		              "new has replica-read-only no: a client writing there while it "
		              "replicates diverges from old");
}

int rd_check(void *h, struct db_checks *out, struct ferry_error *err)
{
	struct rd *r = h;
	struct side sd[2];
	int64_t t0, in0, in1;
	double rate = 0;
	bool replicating = false;
	int rc = 0, s;

	memset(sd, 0, sizeof(sd));
	for (s = 0; s < 2 && rc == 0; s++)
		rc = gather(r, (enum redis_side)s, &sd[s], err);
	if (rc < 0)
		goto out;
	t0 = sd[REDIS_OLD].info_at;
	in0 = redis_info_int(sd[REDIS_OLD].info, "total_net_input_bytes", 0);
	row_version(out, sd);
	row_mode(out, sd);
	row_roles(r, out, sd, &replicating);
	row_new_empty(out, sd, replicating);
	row_memory(out, sd);
	row_persistence(out, sd);
	row_commands(out, sd);
	row_credentials(r, out, sd);
	row_tls(r, out, sd);
	row_clock(out, sd);
	row_read_only(out, sd);
	/* the write rate over at least a second */
	{
		char *stats = NULL;
		int64_t left = t0 + 1000 - time_mono_ms();

		if (left > 0) {
			struct timespec ts = { left / 1000, (left % 1000) * 1000000 };

			nanosleep(&ts, NULL);
		}
		rc = rd_info(r, REDIS_OLD, "stats", &stats, err);
		if (rc < 0)
			goto out;
		in1 = redis_info_int(stats, "total_net_input_bytes", 0);
		rate = (double)(in1 - in0) * 1000.0 / (double)(time_mono_ms() - t0);
		free(stats);
	}
	db_checks_add(out, "write_rate", DB_CHECK_OK, NULL,
	              "old takes about %s/s of commands (its input over one second)",
	              sz((int64_t)rate, false).s);
	row_buffers(out, sd, rate);
out:
	for (s = 0; s < 2; s++)
		side_release(&sd[s]);
	return rc < 0 ? ferry_error_prefix(err, "database %s: check", r->cfg->name) : 0;
}
