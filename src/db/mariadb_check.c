/*
 * mariadb_check.c - the MariaDB engine's readiness checks (ferry check,
 * and the gate into replication): issue 12's list, with the reasons of
 * ENGINES.md A1.
 *
 * Each check is one row {name, ok/warn/fail, what is wrong and how to fix
 * it, the migration failure it prevents}.  They only read: server
 * variables and information_schema on both sides.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/mariadb_int.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* A typical logical copy rate (mariadb-dump | mariadb over a LAN): the
 * estimate of the copy's duration and of an offline dump-and-restore. */
#define COPY_BYTES_PER_S (20LL << 20)

struct vars {
	char *version, *log_bin, *format, *image, *server_id, *domain, *strict, *slave_updates,
	        *expire, *events, *inc, *off;
};

static const char vars_sql[] =
        "SELECT @@GLOBAL.version, @@GLOBAL.log_bin, @@GLOBAL.binlog_format, "
        "@@GLOBAL.binlog_row_image, @@GLOBAL.server_id, "
        "@@GLOBAL.gtid_domain_id, @@GLOBAL.gtid_strict_mode, @@GLOBAL.log_slave_updates, "
        "@@GLOBAL.binlog_expire_logs_seconds, @@GLOBAL.event_scheduler, "
        "@@GLOBAL.auto_increment_increment, "
        "@@GLOBAL.auto_increment_offset";

static int vars_read(struct mdb_conn *c, struct vars *v, struct ferry_error *err)
{
	struct mdb_result r;
	char **f[] = { &v->version,   &v->log_bin, &v->format, &v->image,
		       &v->server_id, &v->domain,  &v->strict, &v->slave_updates,
		       &v->expire,    &v->events,  &v->inc,    &v->off };
	size_t i;
	int rc;

	memset(v, 0, sizeof(*v));
	rc = mdb_exec(c, vars_sql, mdb_deadline(MDB_TIMEOUT_MS), &r, err);
	if (rc == 0 && r.nrows == 1)
		for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
			*f[i] = xstrdup(
			        mdb_result_get(&r, 0, (int)i) ? mdb_result_get(&r, 0, (int)i) : "");
	mdb_result_release(&r);
	return rc;
}

static void vars_release(struct vars *v)
{
	char **f[] = { &v->version,   &v->log_bin, &v->format, &v->image,
		       &v->server_id, &v->domain,  &v->strict, &v->slave_updates,
		       &v->expire,    &v->events,  &v->inc,    &v->off };
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		free(*f[i]);
}

static bool on(const char *v)
{
	return v && (!strcmp(v, "1") || !strcasecmp(v, "ON"));
}

/* One column of every row of sql on c, joined with ", " (at most 20). */
static int list(struct mdb_conn *c, const char *sql, struct buf *out, size_t *n,
                struct ferry_error *err)
{
	struct mdb_result r;
	int i, rc;

	*n = 0;
	rc = mdb_exec(c, sql, mdb_deadline(MDB_TIMEOUT_MS), &r, err);
	for (i = 0; rc == 0 && i < r.nrows; i++) {
		if (i < 20)
			buf_addf(out, "%s%s", i ? ", " : "",
			         mdb_result_get(&r, i, 0) ? mdb_result_get(&r, i, 0) : "NULL");
		else if (i == 20)
			buf_adds(out, ", ...");
		(*n)++;
	}
	mdb_result_release(&r);
	return rc;
}

static void check_side(struct db_checks *out, const char *side, const struct vars *v, bool is_new)
{
	char name[64];

	snprintf(name, sizeof(name), "%s log_bin", side);
	if (on(v->log_bin))
		db_checks_add(out, name, DB_CHECK_OK, NULL, "the binary log is on");
	else
		db_checks_add(out, name, DB_CHECK_FAIL,
		              is_new ? "the way back: old replicates from new's binary log after "
		                       "the cutover, and a rollback needs it"
		                     : "replication: new reads old's binary log",
		              "%s has no binary log; set log_bin (and log_basename) in the "
		              "server's configuration and restart it",
		              side);
	snprintf(name, sizeof(name), "%s binlog_format", side);
	if (!strcasecmp(v->format, "ROW"))
		db_checks_add(out, name, DB_CHECK_OK, NULL, "binlog_format is ROW");
	else
		db_checks_add(out, name, DB_CHECK_FAIL,
		              "statements that replay differently on the replica (NOW(), UUID(), "
		              "LIMIT without ORDER BY) and diverge silently",
		              "%s binlog_format is %s; SET GLOBAL binlog_format=ROW and set it in "
		              "the configuration (sessions opened before keep the old format: "
		              "restart the applications' connections)",
		              side, v->format);
	snprintf(name, sizeof(name), "%s binlog_row_image", side);
	if (!strcasecmp(v->image, "FULL"))
		db_checks_add(out, name, DB_CHECK_OK, NULL, "binlog_row_image is FULL");
	else
		db_checks_add(out, name, DB_CHECK_FAIL,
		              "row events that cannot find or rebuild the row on the replica",
		              "%s binlog_row_image is %s; SET GLOBAL binlog_row_image=FULL and set "
		              "it in the configuration",
		              side, v->image);
	snprintf(name, sizeof(name), "%s gtid_strict_mode", side);
	if (on(v->strict))
		db_checks_add(out, name, DB_CHECK_OK, NULL, "gtid_strict_mode is on");
	else
		db_checks_add(
		        out, name, DB_CHECK_FAIL,
		        "a replica that applies GTIDs out of order and diverges silently "
		        "(strict mode stops it with error 1950)",
		        "%s gtid_strict_mode is off; SET GLOBAL gtid_strict_mode=ON and set it "
		        "in the configuration",
		        side);
}

/* Binlog retention on a side against what ferry needs to read of it. */
static void check_retention(struct mdb *m, struct db_checks *out, const char *side,
                            const struct vars *v, int64_t need_ms, const char *why)
{
	char name[64], have[32], want[32];
	int64_t secs = strtoll(v->expire ? v->expire : "0", NULL, 10);

	snprintf(name, sizeof(name), "%s binlog retention", side);
	duration_human(need_ms, want, sizeof(want));
	if (secs == 0) {
		db_checks_add(out, name, DB_CHECK_OK, NULL,
		              "binary logs are kept until purged by hand (need %s: %s)", want, why);
		return;
	}
	duration_human(secs * 1000, have, sizeof(have));
	if (secs * 1000 >= need_ms)
		db_checks_add(out, name, DB_CHECK_OK, NULL, "binary logs kept %s (need %s: %s)",
		              have, want, why);
	else
		db_checks_add(out, name, DB_CHECK_FAIL,
		              "a replica that finds the binlog it needs purged and cannot go on "
		              "(error 1236): the copy must start over, or the rollback is lost",
		              "%s keeps binary logs %s, less than %s (%s); SET GLOBAL "
		              "binlog_expire_logs_seconds=%lld and set it in the configuration",
		              side, have, want, why, (long long)(need_ms / 1000 + 1));
	(void)m;
}

static void major_minor(const char *v, char *out, size_t n)
{
	const char *d = strchr(v, '.');

	d = d ? strchr(d + 1, '.') : NULL;
	snprintf(out, n, "%.*s", d ? (int)(d - v) : (int)strlen(v), v);
}

int mdb_check(void *h, struct db_checks *out, struct ferry_error *err)
{
	struct mdb *m = h;
	struct vars vo = { 0 }, vn = { 0 };
	char *db = mdb_quote(m->dbname), *sql = NULL, *v = NULL, *user = NULL;
	char mo[32], mn[32], est[32];
	struct buf b;
	size_t n;
	int64_t size = 0, events = 0, copy_ms, need;
	int rc;

	buf_init(&b, 1 << 20);
	rc = mdb_side_reconnect(m, &m->old, err);
	if (rc == 0)
		rc = mdb_side_reconnect(m, &m->new, err);
	if (rc == 0)
		rc = vars_read(m->old.q, &vo, err);
	if (rc == 0)
		rc = vars_read(m->new.q, &vn, err);
	if (rc < 0)
		goto out;

	major_minor(vo.version, mo, sizeof(mo));
	major_minor(vn.version, mn, sizeof(mn));
	if (!strcmp(mo, mn))
		db_checks_add(out, "version", DB_CHECK_OK, NULL, "old %s, new %s", vo.version,
		              vn.version);
	else
		db_checks_add(out, "version", DB_CHECK_WARN,
		              "checksums that differ only because the row format differs",
		              "old runs %s and new %s; the copy and replication work from an older "
		              "to a newer server, but CHECKSUM TABLE values compare only on equal "
		              "versions: verify with row counts",
		              vo.version, vn.version);
	check_side(out, "old", &vo, false);
	check_side(out, "new", &vn, true);

	if (!strcmp(vo.server_id, "0") || !strcmp(vn.server_id, "0") ||
	    !strcmp(vo.server_id, vn.server_id))
		db_checks_add(out, "server_id", DB_CHECK_FAIL,
		              "a replica that skips every event as its own (same server_id) or "
		              "refuses to start (0)",
		              "server_id is %s on old and %s on new; give each server its own "
		              "non-zero server_id in the configuration",
		              vo.server_id, vn.server_id);
	else
		db_checks_add(out, "server_id", DB_CHECK_OK, NULL, "old %s, new %s", vo.server_id,
		              vn.server_id);
	if (strcmp(vo.domain, vn.domain))
		db_checks_add(out, "gtid_domain_id", DB_CHECK_FAIL,
		              "a position after the switch that the way back cannot compare "
		              "(two domains, one writer)",
		              "gtid_domain_id is %s on old and %s on new; set new's to %s",
		              vo.domain, vn.domain, vo.domain);
	else
		db_checks_add(out, "gtid_domain_id", DB_CHECK_OK, NULL, "both %s", vo.domain);
	if (on(vn.slave_updates))
		db_checks_add(out, "new log_slave_updates", DB_CHECK_OK, NULL,
		              "new logs what it replicates");
	else
		db_checks_add(out, "new log_slave_updates", DB_CHECK_FAIL,
		              "a way back that starts from a binary log lacking everything "
		              "replicated before the cutover",
		              "new has log_slave_updates off; set log_slave_updates=ON in its "
		              "configuration and restart it");
	if (strcmp(vo.inc, vn.inc) || strcmp(vo.off, vn.off))
		db_checks_add(out, "auto_increment", DB_CHECK_FAIL,
		              "keys after the switch that collide with or skip the old ones",
		              "auto_increment_increment/offset are %s/%s on old and %s/%s on new; "
		              "make them equal",
		              vo.inc, vo.off, vn.inc, vn.off);
	else
		db_checks_add(out, "auto_increment", DB_CHECK_OK, NULL,
		              "auto_increment_increment/offset %s/%s on both", vo.inc, vo.off);

	/* size, and what the copy and an offline dump-and-restore cost */
	sql = xasprintf("SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM "
	                "information_schema.TABLES WHERE TABLE_SCHEMA = %s",
	                db);
	rc = mdb_value(m->old.q, sql, mdb_deadline(MDB_TIMEOUT_MS), &v, err);
	free(sql);
	sql = NULL;
	if (rc < 0)
		goto out;
	size = v ? strtoll(v, NULL, 10) : 0;
	free(v);
	v = NULL;
	copy_ms = size * 1000 / COPY_BYTES_PER_S + 1000;
	duration_human(copy_ms * 2, est, sizeof(est));
	db_checks_add(out, "size", DB_CHECK_OK, NULL,
	              "%s is %.1f MB; a dump and restore would stop its writes for about %s (at "
	              "%lld MB/s each way); ferry copies while writes go on",
	              m->dbname, (double)size / 1e6, est, COPY_BYTES_PER_S >> 20);

	need = copy_ms * 3 + m->cfg->soak_ms + m->cfg->rollback_window_ms;
	check_retention(m, out, "old", &vo, need, "the copy, the soak and the rollback window");
	check_retention(m, out, "new", &vn, m->cfg->rollback_window_ms + 3600000,
	                "the rollback window");

	/* tables without a key that row events can find rows by */
	sql = xasprintf("SELECT t.TABLE_NAME FROM information_schema.TABLES t WHERE "
	                "t.TABLE_SCHEMA = %s AND t.TABLE_TYPE = 'BASE TABLE' AND NOT EXISTS "
	                "(SELECT 1 FROM information_schema.STATISTICS s WHERE s.TABLE_SCHEMA = "
	                "t.TABLE_SCHEMA AND s.TABLE_NAME = t.TABLE_NAME AND s.NON_UNIQUE = 0 "
	                "GROUP BY s.INDEX_NAME HAVING SUM(s.NULLABLE = 'YES') = 0) ORDER BY 1",
	                db);
	buf_reset(&b);
	rc = list(m->old.q, sql, &b, &n, err);
	free(sql);
	sql = NULL;
	if (rc < 0)
		goto out;
	if (n)
		db_checks_add(out, "primary keys", DB_CHECK_FAIL,
		              "a replica that scans the whole table for every changed row and "
		              "falls behind without end",
		              "%zu table%s without a primary key or NOT NULL unique key: %s; add a "
		              "primary key",
		              n, n == 1 ? "" : "s", b.data);
	else
		db_checks_add(out, "primary keys", DB_CHECK_OK, NULL,
		              "every table has a primary key or a NOT NULL unique key");

	sql = xasprintf("SELECT CONCAT(TABLE_NAME, ' (', ENGINE, ')') FROM "
	                "information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = "
	                "'BASE TABLE' AND ENGINE <> 'InnoDB' ORDER BY 1",
	                db);
	buf_reset(&b);
	rc = list(m->old.q, sql, &b, &n, err);
	free(sql);
	sql = NULL;
	if (rc < 0)
		goto out;
	if (n)
		db_checks_add(out, "transactional tables", DB_CHECK_FAIL,
		              "a copy that is not consistent: --single-transaction sees only "
		              "InnoDB tables at one point in time",
		              "%zu table%s not in InnoDB: %s; ALTER TABLE ... ENGINE=InnoDB", n,
		              n == 1 ? "" : "s", b.data);
	else
		db_checks_add(out, "transactional tables", DB_CHECK_OK, NULL,
		              "every table is InnoDB");

	/* DEFINER accounts of views, routines, triggers, events on new */
	rc = mdb_value(m->new.q,
	               "SELECT GROUP_CONCAT(CONCAT(User, '@', Host) SEPARATOR '\\n') FROM "
	               "mysql.user",
	               mdb_deadline(MDB_TIMEOUT_MS), &user, err);
	if (rc < 0)
		goto out;
	{
		char *accounts = user ? user : (char *)"";
		struct mdb_result r;
		int i;
		sql = xasprintf(
		        "SELECT DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA = "
		        "%s UNION SELECT DEFINER FROM information_schema.ROUTINES WHERE "
		        "ROUTINE_SCHEMA = %s UNION SELECT DEFINER FROM "
		        "information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s UNION SELECT "
		        "DEFINER FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s",
		        db, db, db, db);
		rc = mdb_exec(m->old.q, sql, mdb_deadline(MDB_TIMEOUT_MS), &r, err);
		free(sql);
		sql = NULL;
		if (rc < 0)
			goto out;
		buf_reset(&b);
		n = 0;
		for (i = 0; i < r.nrows; i++) {
			const char *d = mdb_result_get(&r, i, 0);
			const char *p = accounts;
			bool found = false;
			size_t dl = d ? strlen(d) : 0;
			while (d && *p && !found) {
				size_t l = strcspn(p, "\n");
				found = l == dl && !strncmp(p, d, l);
				p += l + (p[l] == '\n');
			}
			if (d && !found)
				buf_addf(&b, "%s%s", n++ ? ", " : "", d);
		}
		mdb_result_release(&r);
	}
	if (n)
		db_checks_add(out, "definers", DB_CHECK_FAIL,
		              "views, routines, triggers and events that fail on new with 'the "
		              "user specified as a definer does not exist'",
		              "DEFINER account%s missing on new: %s; copy the accounts first "
		              "(mariadb-dump --system=users on old, loaded into new)",
		              n == 1 ? "" : "s", b.data);
	else
		db_checks_add(out, "definers", DB_CHECK_OK, NULL,
		              "every DEFINER account exists on new");

	events = mdb_count_events(m, m->old.q, mdb_deadline(MDB_TIMEOUT_MS), err);
	if (events < 0) {
		rc = (int)events;
		goto out;
	}
	if (events > 0 && !strcasecmp(vn.events, "DISABLED"))
		db_checks_add(
		        out, "events", DB_CHECK_FAIL, "events that never run after the cutover",
		        "%lld event%s on old, and new was started with "
		        "event_scheduler=DISABLED, which cannot be turned on at the promotion; "
		        "start new with event_scheduler=OFF",
		        (long long)events, events == 1 ? "" : "s");
	else
		db_checks_add(out, "events", DB_CHECK_OK, NULL,
		              "%lld event%s on old; new keeps its event scheduler off until it is "
		              "promoted (ferry turns it off, and on at the promotion)",
		              (long long)events, events == 1 ? "" : "s");

	/* who can write past read_only (the fence) */
	free(user);
	user = m->old.ep.user ? mdb_quote(m->old.ep.user) : xstrdup("CURRENT_USER()");
	sql = xasprintf("SELECT DISTINCT GRANTEE FROM information_schema.USER_PRIVILEGES WHERE "
	                "PRIVILEGE_TYPE IN ('SUPER', 'READ_ONLY ADMIN') AND GRANTEE NOT LIKE "
	                "CONCAT('''', %s, '''@%%') ORDER BY 1",
	                user);
	buf_reset(&b);
	rc = list(m->old.q, sql, &b, &n, err);
	free(sql);
	sql = NULL;
	if (rc < 0)
		goto out;
	if (n)
		db_checks_add(out, "read_only bypass", DB_CHECK_WARN,
		              "writes that pass the fence on old and are lost at the switch",
		              "%zu account%s can write past read_only on old (SUPER or READ_ONLY "
		              "ADMIN): %s; the fence kills their sessions, but an application "
		              "that connects as one of them straight to old keeps writing: REVOKE "
		              "READ_ONLY ADMIN, SUPER from the application's accounts",
		              n, n == 1 ? "" : "s", b.data);
	else
		db_checks_add(out, "read_only bypass", DB_CHECK_OK, NULL,
		              "no account but ferry's can write past read_only on old");

	/* new must be empty, or hold ferry's own copy */
	{
		char *state = NULL;
		sql = xasprintf(
		        "SELECT (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE "
		        "SCHEMA_NAME = %s), (SELECT COUNT(*) FROM information_schema.TABLES "
		        "WHERE TABLE_SCHEMA = '" MDB_META "' AND TABLE_NAME = 'copy')",
		        db);
		struct mdb_result r;
		rc = mdb_exec(m->new.q, sql, mdb_deadline(MDB_TIMEOUT_MS), &r, err);
		free(sql);
		sql = NULL;
		if (rc < 0)
			goto out;
		if (mdb_result_int(&r, 0, 1, 0) > 0)
			mdb_value(m->new.q, "SELECT state FROM " MDB_META ".copy WHERE id = 1",
			          mdb_deadline(MDB_TIMEOUT_MS), &state, err);
		if (state)
			db_checks_add(out, "new database", DB_CHECK_OK, NULL,
			              "new holds ferry's copy of %s (%s)", m->dbname, state);
		else if (mdb_result_int(&r, 0, 0, 0) > 0)
			db_checks_add(out, "new database", DB_CHECK_FAIL,
			              "a copy on top of rows that are not old's",
			              "new already has a database %s that ferry did not make; drop "
			              "it (ferry copies into an empty server)",
			              m->dbname);
		else
			db_checks_add(out, "new database", DB_CHECK_OK, NULL,
			              "new has no database %s yet: the copy makes it", m->dbname);
		mdb_result_release(&r);
		free(state);
	}
	rc = 0;
out:
	free(sql);
	free(v);
	free(user);
	free(db);
	vars_release(&vo);
	vars_release(&vn);
	buf_release(&b);
	return rc < 0 ? ferry_error_prefix(err, "database %s: readiness", m->cfg->name) : 0;
}
