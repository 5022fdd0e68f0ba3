/*
 * journal.c - the SQLite journal of a plan.  See journal.h for the model
 * and the step protocol; this file is its only user of sqlite3.h.
 *
 * How the parts fit:
 *  - journal_open() creates the file itself (open(2) with mode 0600, so the
 *    -wal and -shm files SQLite makes later copy that mode), switches it to
 *    WAL with synchronous=FULL, then brings the schema to
 *    JOURNAL_SCHEMA_VERSION by running migrations[] in one BEGIN IMMEDIATE
 *    transaction.  The file is marked with an application_id so that a
 *    foreign database is refused instead of being written into.
 *  - Every statement is prepared once, on first use, and kept in stmts[]
 *    (SQLITE_PREPARE_PERSISTENT); sample insertion is one bind + step.
 *  - Writes go through write_begin()/write_end(): BEGIN IMMEDIATE retried
 *    while busy (the pgcopydb catalog.c pattern), COMMIT or ROLLBACK.  A
 *    sample batch is a transaction kept open across journal_sample_add()
 *    calls; any other write commits it first, so the batch never holds back
 *    a step's intent.  Sample transactions commit with synchronous=NORMAL:
 *    in WAL mode that is still crash-consistent and survives the death of
 *    the process (the data is in the kernel's page cache), and the next
 *    FULL commit fsyncs the WAL with them in it.
 *  - The run lock is flock(2) on PATH.lock, a file distinct from anything
 *    SQLite itself locks (SQLite uses fcntl(2) locks on the database; mixing
 *    the two on one file would work on Linux but is not worth the doubt).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/journal.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* 'FRRY': PRAGMA application_id, https://sqlite.org/pragma.html#pragma_application_id */
#define JOURNAL_APPLICATION_ID 0x46525259

#define BUSY_TIMEOUT_MS        5000          /* sqlite3_busy_timeout: waits inside SQLite */
#define BUSY_RETRY_MS          10000         /* our own retry of BEGIN IMMEDIATE on top of it */
#define TEXT_MAX               (64 * 1024)   /* detail, result, evidence, events */
#define VALUE_MAX              (1024 * 1024) /* key/value values (the rollback plan) */
#define EVENT_MAX              4096

/*
 * The schema, one entry per version.  Never edit a released entry: add a
 * new one that migrates from the previous version.  Entry N runs when the
 * file is at version N-1; each runs inside the transaction that records it
 * in schema_version.
 */
static const char *const migrations[] = {
	NULL,
	/* 1: the first schema. */
	"CREATE TABLE schema_version ("
	"  version INTEGER PRIMARY KEY,"
	"  applied_ms INTEGER NOT NULL);"
	"CREATE TABLE steps ("
	"  id INTEGER PRIMARY KEY,"
	"  phase TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  object TEXT NOT NULL DEFAULT '',"
	"  detail TEXT,"
	"  state INTEGER NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2, 3)),"
	"  result TEXT,"
	"  started_ms INTEGER NOT NULL,"
	"  finished_ms INTEGER,"
	"  pid INTEGER NOT NULL);"
	"CREATE INDEX steps_name_object ON steps(name, object, state);"
	"CREATE INDEX steps_phase ON steps(phase, state);"
	"CREATE INDEX steps_open ON steps(id) WHERE state = 0;"
	"CREATE TABLE phases ("
	"  id INTEGER PRIMARY KEY,"
	"  phase TEXT NOT NULL,"
	"  entered_ms INTEGER NOT NULL);"
	"CREATE TABLE kv ("
	"  key TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL,"
	"  updated_ms INTEGER NOT NULL);"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY,"
	"  t_ms INTEGER NOT NULL,"
	"  level TEXT NOT NULL CHECK (level IN ('error', 'warn', 'info', 'debug')),"
	"  object TEXT NOT NULL DEFAULT '',"
	"  message TEXT NOT NULL);"
	"CREATE INDEX events_t ON events(t_ms);"
	"CREATE TABLE series ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  object TEXT NOT NULL DEFAULT '',"
	"  UNIQUE (name, object));"
	"CREATE TABLE samples ("
	"  series_id INTEGER NOT NULL REFERENCES series(id),"
	"  t_ms INTEGER NOT NULL,"
	"  value REAL NOT NULL);"
	"CREATE INDEX samples_series_t ON samples(series_id, t_ms);"
	"CREATE TABLE gates ("
	"  id INTEGER PRIMARY KEY,"
	"  t_ms INTEGER NOT NULL,"
	"  phase TEXT NOT NULL,"
	"  gate TEXT NOT NULL,"
	"  ok INTEGER NOT NULL CHECK (ok IN (0, 1)),"
	"  evidence TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX gates_phase ON gates(phase, id);",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == JOURNAL_SCHEMA_VERSION + 1,
               "one migration per schema version");

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SYNC_NORMAL,
	ST_SYNC_FULL,
	ST_VERSION,
	ST_STEP_INSERT,
	ST_STEP_CLOSE,
	ST_STEP_STATE,
	ST_STEPS_OPEN,
	ST_STEPS_ALL,
	ST_STEP_FIND_DONE,
	ST_STEP_LAST_DONE,
	ST_PHASE_INSERT,
	ST_PHASE_GET,
	ST_PHASES_ALL,
	ST_KV_SET,
	ST_KV_GET,
	ST_KV_UNSET,
	ST_EVENT_INSERT,
	ST_EVENTS_RANGE,
	ST_SERIES_INSERT,
	ST_SERIES_GET,
	ST_SAMPLE_INSERT,
	ST_SAMPLES_RANGE,
	ST_SERIES_ALL,
	ST_GATE_INSERT,
	ST_GATES_ALL,
	ST_GATES_PHASE,
	ST__COUNT
};

#define STEP_COLS "id, phase, name, object, detail, result, state, started_ms, finished_ms, pid"

static const char *const stmt_sql[ST__COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
	[ST_SYNC_FULL] = "PRAGMA synchronous = FULL",
	[ST_VERSION] = "SELECT coalesce(max(version), 0) FROM schema_version",
	[ST_STEP_INSERT] = "INSERT INTO steps (phase, name, object, detail, started_ms, pid)"
	                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_STEP_CLOSE] = "UPDATE steps SET state = ?2, result = ?3, finished_ms = ?4"
	                  " WHERE id = ?1 AND state = 0",
	[ST_STEP_STATE] = "SELECT state FROM steps WHERE id = ?1",
	[ST_STEPS_OPEN] = "SELECT " STEP_COLS " FROM steps WHERE state = 0 ORDER BY id",
	[ST_STEPS_ALL] = "SELECT " STEP_COLS " FROM steps ORDER BY id",
	[ST_STEP_FIND_DONE] = "SELECT " STEP_COLS " FROM steps"
	                      " WHERE name = ?1 AND object = ?2 AND state = 1"
	                      " ORDER BY id DESC LIMIT 1",
	[ST_STEP_LAST_DONE] = "SELECT " STEP_COLS " FROM steps WHERE phase = ?1 AND state = 1"
	                      " ORDER BY id DESC LIMIT 1",
	[ST_PHASE_INSERT] = "INSERT INTO phases (phase, entered_ms) VALUES (?1, ?2)",
	[ST_PHASE_GET] = "SELECT phase, entered_ms FROM phases ORDER BY id DESC LIMIT 1",
	[ST_PHASES_ALL] = "SELECT phase, entered_ms FROM phases ORDER BY id",
	[ST_KV_SET] = "INSERT INTO kv (key, value, updated_ms) VALUES (?1, ?2, ?3)"
	              " ON CONFLICT (key) DO UPDATE"
	              " SET value = excluded.value, updated_ms = excluded.updated_ms",
	[ST_KV_GET] = "SELECT value FROM kv WHERE key = ?1",
	[ST_KV_UNSET] = "DELETE FROM kv WHERE key = ?1",
	[ST_EVENT_INSERT] = "INSERT INTO events (t_ms, level, object, message)"
	                    " VALUES (?1, ?2, ?3, ?4)",
	[ST_EVENTS_RANGE] = "SELECT id, t_ms, level, object, message FROM events"
	                    " WHERE t_ms >= ?1 AND t_ms < ?2 ORDER BY t_ms, id",
	[ST_SERIES_INSERT] = "INSERT OR IGNORE INTO series (name, object) VALUES (?1, ?2)",
	[ST_SERIES_GET] = "SELECT id FROM series WHERE name = ?1 AND object = ?2",
	[ST_SAMPLE_INSERT] = "INSERT INTO samples (series_id, t_ms, value) VALUES (?1, ?2, ?3)",
	[ST_SAMPLES_RANGE] = "SELECT s.t_ms, s.value FROM series r"
	                     " JOIN samples s ON s.series_id = r.id"
	                     " WHERE r.name = ?1 AND r.object = ?2"
	                     " AND s.t_ms >= ?3 AND s.t_ms < ?4 ORDER BY s.t_ms, s.rowid",
	[ST_SERIES_ALL] = "SELECT name, object FROM series ORDER BY name, object",
	[ST_GATE_INSERT] = "INSERT INTO gates (t_ms, phase, gate, ok, evidence)"
	                   " VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_GATES_ALL] = "SELECT id, t_ms, phase, gate, ok, evidence FROM gates ORDER BY id",
	[ST_GATES_PHASE] = "SELECT id, t_ms, phase, gate, ok, evidence FROM gates"
	                   " WHERE phase = ?1 ORDER BY id",
};

/* A series id cached by (name, object), so that a sample costs one insert. */
struct series_cache {
	char *name;
	char *object;
	int64_t id;
};

struct journal {
	sqlite3 *db;
	char *path;
	bool readonly;
	int lock_fd;   /* -1 unless this journal holds the run lock */
	bool batch;    /* journal_samples_begin() called, not yet committed */
	bool batch_tx; /* the batch's transaction is open */
	bool relaxed;  /* synchronous is NORMAL for a sample transaction */
	sqlite3_stmt *stmts[ST__COUNT];
	struct series_cache *series;
	size_t nseries, series_alloc;
};

/* ---- error mapping ---- */

/* Fills err from the last SQLite error of j and returns the ferry code.
 * rc is the failing SQLite result code. */
static int db_fail(struct journal *j, int rc, const char *what, struct ferry_error *err)
{
	const char *msg = j->db ? sqlite3_errmsg(j->db) : sqlite3_errstr(rc);

	switch (rc & 0xff) {
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return ferry_error_set(err, FERRY_ESTATE,
		                       "move the file aside and restore the journal from a backup; "
		                       "ferry will not overwrite it",
		                       "journal %s: %s: the file is not a valid journal (%s)",
		                       j->path, what, msg);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return ferry_error_set(err, FERRY_ETIMEDOUT,
		                       "another process holds the journal's write lock; retry",
		                       "journal %s: %s: busy for more than %d ms (%s)", j->path,
		                       what, BUSY_RETRY_MS, msg);
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
		return ferry_error_set(err, FERRY_EIO,
		                       "check the permissions of the file and of its folder",
		                       "journal %s: %s: %s", j->path, what, msg);
	case SQLITE_FULL:
		return ferry_error_set(err, FERRY_EIO, "free space on the journal's file system",
		                       "journal %s: %s: %s", j->path, what, msg);
	default:
		return ferry_error_set(err, FERRY_EIO, NULL, "journal %s: %s: %s", j->path, what,
		                       msg);
	}
}

/* Adds the object one level up, when the caller passed an err. */
#define err_prefix(err, ...)                                                                       \
	do {                                                                                       \
		if (err)                                                                           \
			ferry_error_prefix((err), __VA_ARGS__);                                    \
	} while (0)

/* ---- statements ---- */

/* Sets *out to the prepared statement id, reset and with no bindings.
 * Returns 0 or a ferry code. */
static int stmt(struct journal *j, enum stmt_id id, sqlite3_stmt **out, struct ferry_error *err)
{
	sqlite3_stmt *s = j->stmts[id];
	int rc;

	*out = NULL;
	if (s) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		*out = s;
		return 0;
	}
	rc = sqlite3_prepare_v3(j->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
	if (rc != SQLITE_OK)
		return db_fail(j, rc, "preparing a statement", err);
	j->stmts[id] = s;
	*out = s;
	return 0;
}

/* Steps s to completion (a statement that returns no rows).  Returns 0 or
 * a ferry code. */
static int stmt_done(struct journal *j, sqlite3_stmt *s, const char *what, struct ferry_error *err)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_fail(j, rc, what, err);
	return 0;
}

static int run(struct journal *j, enum stmt_id id, const char *what, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r = stmt(j, id, &s, err);

	if (r < 0)
		return r;
	return stmt_done(j, s, what, err);
}

/* Binds text or NULL (SQLITE_TRANSIENT: SQLite copies it). */
static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

static char *col_dup(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? xstrdup((const char *)t) : NULL;
}

static const char *col_text(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? (const char *)t : "";
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- transactions ---- */

static void series_cache_clear(struct journal *j)
{
	size_t i;

	for (i = 0; i < j->nseries; i++) {
		free(j->series[i].name);
		free(j->series[i].object);
	}
	j->nseries = 0;
}

/*
 * BEGIN IMMEDIATE takes the write lock up front, so a transaction never has
 * to upgrade a read lock (the upgrade is what deadlocks in SQLite and
 * returns SQLITE_BUSY without calling the busy handler).  Retried with a
 * growing pause on top of the busy timeout, until BUSY_RETRY_MS.
 */
static int tx_begin(struct journal *j, struct ferry_error *err)
{
	int64_t deadline = time_mono_ms() + BUSY_RETRY_MS;
	int64_t pause = 1;
	sqlite3_stmt *s;
	int r, rc;

	r = stmt(j, ST_BEGIN, &s, err);
	if (r < 0)
		return r;
	for (;;) {
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc == SQLITE_DONE)
			return 0;
		if ((rc & 0xff) != SQLITE_BUSY || time_mono_ms() >= deadline)
			return db_fail(j, rc, "beginning a transaction", err);
		sleep_ms(pause);
		pause = pause < 100 ? pause * 2 : 100;
	}
}

/* Back to synchronous=FULL after a sample transaction.  SQLite refuses
 * to change the safety level inside a transaction, so it is switched
 * around BEGIN and COMMIT; write_begin() checks it is FULL again before
 * any durable write. */
static int sync_restore(struct journal *j, struct ferry_error *err)
{
	int r;

	if (!j->relaxed)
		return 0;
	r = run(j, ST_SYNC_FULL, "restoring synchronous=FULL", err);
	if (r == 0)
		j->relaxed = false;
	return r;
}

static void tx_rollback(struct journal *j)
{
	sqlite3_stmt *s;

	if (stmt(j, ST_ROLLBACK, &s, NULL) == 0 && sqlite3_get_autocommit(j->db) == 0) {
		sqlite3_step(s);
		sqlite3_reset(s);
	}
	/* Series rows inserted by the rolled-back transaction are gone. */
	series_cache_clear(j);
	sync_restore(j, NULL);
}

static int tx_commit(struct journal *j, struct ferry_error *err)
{
	int r = run(j, ST_COMMIT, "committing", err);

	if (r < 0) {
		tx_rollback(j);
		return r;
	}
	sync_restore(j, NULL);
	return 0;
}

/* Begins a sample transaction, committed with synchronous=NORMAL (see the
 * top of this file). */
static int tx_begin_samples(struct journal *j, struct ferry_error *err)
{
	int r = run(j, ST_SYNC_NORMAL, "setting synchronous=NORMAL", err);

	if (r < 0)
		return r;
	j->relaxed = true;
	r = tx_begin(j, err);
	if (r < 0)
		sync_restore(j, NULL);
	return r;
}

/* Commits the open sample batch transaction, if any; the batch stays
 * logically open and the next sample reopens a transaction. */
static int batch_flush(struct journal *j, struct ferry_error *err)
{
	if (!j->batch_tx)
		return 0;
	j->batch_tx = false;
	return tx_commit(j, err);
}

/* Starts a durable write: refuses on a read-only journal, commits any
 * sample batch so far, and begins an immediate transaction. */
static int write_begin(struct journal *j, struct ferry_error *err)
{
	int r;

	if (j->readonly)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "this command opened the journal read-only (a bug in ferry)",
		                       "journal %s: opened read-only", j->path);
	r = batch_flush(j, err);
	if (r < 0)
		return r;
	r = sync_restore(j, err);
	if (r < 0)
		return r;
	return tx_begin(j, err);
}

/* Ends a durable write: commits if r is 0, rolls back otherwise.  Returns
 * r or the commit's error. */
static int write_end(struct journal *j, int r, struct ferry_error *err)
{
	if (r < 0) {
		tx_rollback(j);
		return r;
	}
	return tx_commit(j, err);
}

static int check_text(struct journal *j, const char *what, const char *v, size_t max,
                      struct ferry_error *err)
{
	if (v && strlen(v) > max)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "journal entries are short; keep bulk data "
		                       "elsewhere",
		                       "journal %s: %s is longer than %zu bytes", j->path, what,
		                       max);
	return 0;
}

static int require(struct journal *j, const char *what, const char *v, struct ferry_error *err)
{
	if (!v || !*v)
		return ferry_error_set(err, FERRY_EINVAL, NULL, "journal %s: %s is required",
		                       j->path, what);
	return 0;
}

/* ---- open, schema, close ---- */

static int schema_version_get(struct journal *j, int *version, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r, rc;

	r = stmt(j, ST_VERSION, &s, err);
	if (r < 0)
		return r;
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return db_fail(j, rc, "reading the schema version", err);
	}
	*version = sqlite3_column_int(s, 0);
	sqlite3_reset(s);
	return 0;
}

/* Reads one integer from a pragma or query into *v. */
static int query_int(struct journal *j, const char *sql, int64_t *v, struct ferry_error *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	rc = sqlite3_prepare_v2(j->db, sql, -1, &s, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			*v = sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		return db_fail(j, rc, sql, err);
	return 0;
}

/*
 * What the file holds: a new file (no tables, application_id 0), a ferry
 * journal at some version, or something else.  Sets *version (0 for a new
 * file).  Runs inside the caller's transaction for read-write opens.
 */
static int schema_inspect(struct journal *j, int *version, struct ferry_error *err)
{
	int64_t appid = 0, ntables = 0;
	int r;

	r = query_int(j, "PRAGMA application_id", &appid, err);
	if (r < 0)
		return r;
	r = query_int(j, "SELECT count(*) FROM sqlite_schema", &ntables, err);
	if (r < 0)
		return r;
	if (appid == 0 && ntables == 0) {
		*version = 0;
		return 0;
	}
	if (appid != JOURNAL_APPLICATION_ID)
		return ferry_error_set(
		        err, FERRY_ESTATE,
		        "pass the plan's own journal with --state, or move this file "
		        "aside",
		        "journal %s: this SQLite file is not a ferry journal "
		        "(application_id 0x%08" PRIx64 ")",
		        j->path, (uint64_t)appid);
	r = schema_version_get(j, version, err);
	if (r < 0)
		return r;
	if (*version > JOURNAL_SCHEMA_VERSION)
		return ferry_error_set(err, FERRY_ESTATE,
		                       "use the ferry release that wrote it, or newer",
		                       "journal %s: schema version %d was written by a newer ferry "
		                       "(this one knows up to %d)",
		                       j->path, *version, JOURNAL_SCHEMA_VERSION);
	return 0;
}

/* Brings a read-write journal to JOURNAL_SCHEMA_VERSION, in one immediate
 * transaction so that two processes opening a new file at once do not
 * both create the schema. */
static int schema_migrate(struct journal *j, struct ferry_error *err)
{
	char *errmsg = NULL;
	sqlite3_stmt *s;
	int version, v, r, rc;

	r = tx_begin(j, err);
	if (r < 0)
		return r;
	r = schema_inspect(j, &version, err);
	if (r < 0)
		goto out;
	for (v = version + 1; v <= JOURNAL_SCHEMA_VERSION; v++) {
		rc = sqlite3_exec(j->db, migrations[v], NULL, NULL, &errmsg);
		if (rc != SQLITE_OK) {
			r = ferry_error_set(err, FERRY_EIO, NULL,
			                    "journal %s: migrating the schema to version %d: %s",
			                    j->path, v, errmsg ? errmsg : sqlite3_errstr(rc));
			sqlite3_free(errmsg);
			goto out;
		}
		s = NULL;
		rc = sqlite3_prepare_v2(
		        j->db, "INSERT INTO schema_version (version, applied_ms) VALUES (?, ?)", -1,
		        &s, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_int(s, 1, v);
			sqlite3_bind_int64(s, 2, time_wall_ms());
			rc = sqlite3_step(s);
		}
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE) {
			r = db_fail(j, rc, "recording the schema version", err);
			goto out;
		}
	}
	if (version == 0) {
		char *sql = xasprintf("PRAGMA application_id = %d", JOURNAL_APPLICATION_ID);

		rc = sqlite3_exec(j->db, sql, NULL, NULL, NULL);
		free(sql);
		if (rc != SQLITE_OK) {
			r = db_fail(j, rc, "marking the file as a ferry journal", err);
			goto out;
		}
	}
out:
	return write_end(j, r, err);
}

/* Creates path with mode 0600 if it does not exist.  Sets *created. */
static int file_create(const char *path, bool *created, struct ferry_error *err)
{
	int fd;

	*created = false;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			return 0;
		return ferry_error_set(err, FERRY_EIO,
		                       "check that the folder exists and is writable",
		                       "journal %s: cannot create: %s", path, strerror(errno));
	}
	/* The umask may have taken bits away; 0600 is what DESIGN §5 says. */
	if (fchmod(fd, 0600) < 0) {
		int e = errno;

		close(fd);
		return ferry_error_set(err, FERRY_EIO, NULL, "journal %s: chmod 0600: %s", path,
		                       strerror(e));
	}
	close(fd);
	*created = true;
	return 0;
}

/* SQLite gives the -wal and -shm files the database file's mode (see
 * findCreateFileMode() in os_unix.c); this makes sure of it. */
static void sidecars_chmod(const char *path)
{
	static const char *const sfx[] = { "-wal", "-shm" };
	size_t i;

	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		char *p = xasprintf("%s%s", path, sfx[i]);

		if (chmod(p, 0600) < 0 && errno != ENOENT)
			log_warn("journal %s: chmod 0600 %s: %s", path, p, strerror(errno));
		free(p);
	}
}

int journal_open(struct journal **out, const char *path, unsigned flags, struct ferry_error *err)
{
	bool readonly = flags & JOURNAL_OPEN_READONLY;
	bool create = flags & JOURNAL_OPEN_CREATE;
	struct journal *j = NULL;
	char mode[16] = "";
	bool created = false;
	struct stat st;
	int r, rc;

	*out = NULL;
	if ((readonly && create) ||
	    (flags & ~(unsigned)(JOURNAL_OPEN_CREATE | JOURNAL_OPEN_READONLY)))
		return ferry_error_set(
		        err, FERRY_EINVAL, NULL,
		        "journal %s: bad open flags 0x%x (CREATE and READONLY exclude "
		        "each other)",
		        path, flags);
	if (stat(path, &st) < 0) {
		if (errno != ENOENT)
			return ferry_error_set(err, FERRY_EIO, NULL, "journal %s: %s", path,
			                       strerror(errno));
		if (!create)
			return ferry_error_set(
			        err, FERRY_ENOTFOUND,
			        "`ferry run PLAN` creates it; or pass the right --state",
			        "journal %s: no such file", path);
	} else if (!S_ISREG(st.st_mode)) {
		return ferry_error_set(err, FERRY_EINVAL, NULL, "journal %s: not a regular file",
		                       path);
	}
	if (create) {
		r = file_create(path, &created, err);
		if (r < 0)
			return r;
	}

	j = xcalloc(1, sizeof(*j));
	j->path = xstrdup(path);
	j->readonly = readonly;
	j->lock_fd = -1;
	/* No SQLITE_OPEN_CREATE: the file exists, made by us with its mode. */
	rc = sqlite3_open_v2(path, &j->db, readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE,
	                     NULL);
	if (rc != SQLITE_OK) {
		r = db_fail(j, rc, "opening", err);
		goto out;
	}
	sqlite3_extended_result_codes(j->db, 1);
	sqlite3_busy_timeout(j->db, BUSY_TIMEOUT_MS);

	if (!readonly) {
		/* The first statement that reads the file: a file of garbage
		 * fails here with SQLITE_NOTADB. */
		sqlite3_stmt *s = NULL;

		rc = sqlite3_prepare_v2(j->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
		if (rc == SQLITE_OK) {
			rc = sqlite3_step(s);
			if (rc == SQLITE_ROW)
				snprintf(mode, sizeof(mode), "%s", col_text(s, 0));
		}
		sqlite3_finalize(s);
		if (rc != SQLITE_ROW) {
			r = db_fail(j, rc, "switching to WAL mode", err);
			goto out;
		}
		if (strcmp(mode, "wal") != 0) {
			r = ferry_error_set(
			        err, FERRY_EIO,
			        "the journal must be on a local file system that supports "
			        "shared memory (WAL mode)",
			        "journal %s: journal_mode is '%s', not 'wal'", path, mode);
			goto out;
		}
		/* https://sqlite.org/pragma.html#pragma_synchronous: FULL makes
		 * a commit durable across power loss in WAL mode too. */
		rc = sqlite3_exec(j->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON",
		                  NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			r = db_fail(j, rc, "setting pragmas", err);
			goto out;
		}
		r = schema_migrate(j, err);
		if (r < 0)
			goto out;
		if (created)
			sidecars_chmod(path);
	} else {
		int version;

		r = schema_inspect(j, &version, err);
		if (r < 0)
			goto out;
		if (version < JOURNAL_SCHEMA_VERSION) {
			r = ferry_error_set(err, FERRY_ESTATE,
			                    version == 0 ? "`ferry run PLAN` fills it"
			                                 : "`ferry run PLAN` upgrades it",
			                    "journal %s: schema version %d, this ferry reads %d",
			                    path, version, JOURNAL_SCHEMA_VERSION);
			goto out;
		}
	}
	*out = j;
	j = NULL;
	r = 0;
out:
	journal_close(j);
	return r;
}

void journal_close(struct journal *j)
{
	size_t i;

	if (!j)
		return;
	if (j->db) {
		if (j->batch_tx) {
			struct ferry_error e = { 0 };

			if (batch_flush(j, &e) < 0)
				log_warn("%s (samples of the open batch are lost)", e.msg);
		}
		for (i = 0; i < ST__COUNT; i++)
			sqlite3_finalize(j->stmts[i]);
		if (sqlite3_close(j->db) != SQLITE_OK)
			log_warn("journal %s: close: %s", j->path, sqlite3_errmsg(j->db));
	}
	if (j->lock_fd >= 0) {
		/* Clear the pid so that nobody reads a dead holder's pid; the
		 * lock goes with the close. */
		if (ftruncate(j->lock_fd, 0) < 0)
			log_debug("journal %s: truncating the lock file: %s", j->path,
			          strerror(errno));
		close(j->lock_fd);
	}
	series_cache_clear(j);
	free(j->series);
	free(j->path);
	free(j);
}

const char *journal_path(const struct journal *j)
{
	return j->path;
}

int journal_schema_version(struct journal *j, int *version, struct ferry_error *err)
{
	return schema_version_get(j, version, err);
}

/* ---- the run lock ---- */

int journal_lock(struct journal *j, struct ferry_error *err)
{
	char *lockpath = NULL;
	char pidtext[32];
	struct buf b;
	int fd = -1, r = 0, e;
	ssize_t n;

	if (j->lock_fd >= 0)
		return 0;
	if (j->readonly)
		return ferry_error_set(err, FERRY_EINVAL, NULL,
		                       "journal %s: a read-only journal cannot take the run lock",
		                       j->path);
	buf_init(&b, 64);
	lockpath = xasprintf("%s.lock", j->path);
	fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = ferry_error_set(err, FERRY_EIO, "check the folder's permissions",
		                    "journal %s: cannot open the lock file %s: %s", j->path,
		                    lockpath, strerror(errno));
		goto out;
	}
	/* flock(2): the lock belongs to this open file description and is
	 * dropped by the kernel when the last descriptor closes, also on
	 * SIGKILL. */
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		e = errno;
		if (e != EWOULDBLOCK) {
			r = ferry_error_set(err, FERRY_EIO, NULL, "journal %s: flock %s: %s",
			                    j->path, lockpath, strerror(e));
			goto out;
		}
		if (buf_read_fd(&b, fd) < 0 || b.len == 0) {
			snprintf(pidtext, sizeof(pidtext), "pid unknown");
		} else {
			char *end;
			long pid = strtol(b.data, &end, 10);

			if (end == b.data || pid <= 0)
				snprintf(pidtext, sizeof(pidtext), "pid unknown");
			else
				snprintf(pidtext, sizeof(pidtext), "pid %ld", pid);
		}
		r = ferry_error_set(
		        err, FERRY_ELOCKED,
		        "wait for that run to finish, or stop it; a run that died has "
		        "already released the lock, so retry",
		        "journal %s: another ferry run of this plan holds the lock (%s)", j->path,
		        pidtext);
		goto out;
	}
	n = snprintf(pidtext, sizeof(pidtext), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pidtext, (size_t)n, 0) != n) {
		r = ferry_error_set(err, FERRY_EIO, NULL, "journal %s: writing the pid to %s: %s",
		                    j->path, lockpath, strerror(errno));
		goto out;
	}
	j->lock_fd = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	buf_release(&b);
	free(lockpath);
	return r;
}

/* ---- steps ---- */

void journal_step_release(struct journal_step *s)
{
	if (!s)
		return;
	free(s->phase);
	free(s->name);
	free(s->object);
	free(s->detail);
	free(s->result);
	memset(s, 0, sizeof(*s));
}

void journal_step_list_release(struct journal_step_list *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++)
		journal_step_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

const char *journal_step_state_name(enum journal_step_state st)
{
	switch (st) {
	case JOURNAL_STEP_OPEN: return "open";
	case JOURNAL_STEP_OK: return "ok";
	case JOURNAL_STEP_FAILED: return "failed";
	case JOURNAL_STEP_INTERRUPTED: return "interrupted";
	}
	return "unknown";
}

/* Fills *out from a row selected with STEP_COLS. */
static void step_from_row(sqlite3_stmt *s, struct journal_step *out)
{
	out->id = sqlite3_column_int64(s, 0);
	out->phase = col_dup(s, 1);
	out->name = col_dup(s, 2);
	out->object = col_dup(s, 3);
	out->detail = col_dup(s, 4);
	out->result = col_dup(s, 5);
	out->state = (enum journal_step_state)sqlite3_column_int(s, 6);
	out->started_ms = sqlite3_column_int64(s, 7);
	out->finished_ms = sqlite3_column_int64(s, 8);
	out->pid = sqlite3_column_int64(s, 9);
}

int journal_step_begin(struct journal *j, const char *phase, const char *name, const char *object,
                       const char *detail, int64_t *id, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r;

	if (require(j, "a step's phase", phase, err) < 0 ||
	    require(j, "a step's name", name, err) < 0 ||
	    check_text(j, "a step's detail", detail, TEXT_MAX, err) < 0)
		return FERRY_EINVAL;
	r = write_begin(j, err);
	if (r < 0)
		return r;
	r = stmt(j, ST_STEP_INSERT, &s, err);
	if (r < 0)
		goto out;
	bind_text(s, 1, phase);
	bind_text(s, 2, name);
	bind_text(s, 3, object ? object : "");
	bind_text(s, 4, detail);
	sqlite3_bind_int64(s, 5, time_wall_ms());
	sqlite3_bind_int64(s, 6, (int64_t)getpid());
	r = stmt_done(j, s, "writing a step's intent", err);
	if (r == 0)
		*id = sqlite3_last_insert_rowid(j->db);
out:
	r = write_end(j, r, err);
	if (r < 0)
		err_prefix(err, "step %s %s", name, object ? object : "");
	return r;
}

static int step_close(struct journal *j, int64_t id, enum journal_step_state state,
                      const char *result, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r, rc;

	r = check_text(j, "a step's result", result, TEXT_MAX, err);
	if (r < 0)
		return r;
	r = write_begin(j, err);
	if (r < 0)
		return r;
	r = stmt(j, ST_STEP_CLOSE, &s, err);
	if (r < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, (int)state);
	bind_text(s, 3, result);
	sqlite3_bind_int64(s, 4, time_wall_ms());
	r = stmt_done(j, s, "writing a step's completion", err);
	if (r < 0 || sqlite3_changes(j->db) == 1)
		goto out;
	/* Nothing updated: tell a missing step from a closed one. */
	r = stmt(j, ST_STEP_STATE, &s, err);
	if (r < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		r = ferry_error_set(err, FERRY_ESTATE,
		                    "a step is closed once; this is a bug in ferry",
		                    "journal %s: step %" PRId64 " is already %s", j->path, id,
		                    journal_step_state_name(sqlite3_column_int(s, 0)));
	else if (rc == SQLITE_DONE)
		r = ferry_error_set(err, FERRY_ENOTFOUND, NULL, "journal %s: no step %" PRId64,
		                    j->path, id);
	else
		r = db_fail(j, rc, "reading a step", err);
	sqlite3_reset(s);
out:
	return write_end(j, r, err);
}

int journal_step_done(struct journal *j, int64_t id, bool ok, const char *result,
                      struct ferry_error *err)
{
	return step_close(j, id, ok ? JOURNAL_STEP_OK : JOURNAL_STEP_FAILED, result, err);
}

int journal_step_interrupt(struct journal *j, int64_t id, const char *note, struct ferry_error *err)
{
	return step_close(j, id, JOURNAL_STEP_INTERRUPTED, note, err);
}

/* Appends every row of s (bound by the caller) to out. */
static int steps_collect(struct journal *j, sqlite3_stmt *s, struct journal_step_list *out,
                         struct ferry_error *err)
{
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		XGROW(out->v, out->alloc, out->n + 1);
		memset(&out->v[out->n], 0, sizeof(out->v[0]));
		step_from_row(s, &out->v[out->n]);
		out->n++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_fail(j, rc, "reading steps", err);
	return 0;
}

int journal_steps_open(struct journal *j, struct journal_step_list *out, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r = stmt(j, ST_STEPS_OPEN, &s, err);

	if (r < 0)
		return r;
	return steps_collect(j, s, out, err);
}

int journal_steps_all(struct journal *j, struct journal_step_list *out, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r = stmt(j, ST_STEPS_ALL, &s, err);

	if (r < 0)
		return r;
	return steps_collect(j, s, out, err);
}

/* Reads at most one step row from s into out (if not NULL). */
static int step_one(struct journal *j, sqlite3_stmt *s, struct journal_step *out,
                    struct ferry_error *err)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW && out) {
		memset(out, 0, sizeof(*out));
		step_from_row(s, out);
	}
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return FERRY_ENOTFOUND;
	return db_fail(j, rc, "reading a step", err);
}

int journal_step_find_done(struct journal *j, const char *name, const char *object,
                           struct journal_step *out, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r;

	if (require(j, "a step's name", name, err) < 0)
		return FERRY_EINVAL;
	r = stmt(j, ST_STEP_FIND_DONE, &s, err);
	if (r < 0)
		return r;
	bind_text(s, 1, name);
	bind_text(s, 2, object ? object : "");
	return step_one(j, s, out, err);
}

int journal_step_last_done(struct journal *j, const char *phase, struct journal_step *out,
                           struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r;

	if (require(j, "a phase", phase, err) < 0)
		return FERRY_EINVAL;
	r = stmt(j, ST_STEP_LAST_DONE, &s, err);
	if (r < 0)
		return r;
	bind_text(s, 1, phase);
	return step_one(j, s, out, err);
}

/* ---- phase ---- */

int journal_phase_set(struct journal *j, const char *phase, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r;

	if (require(j, "a phase", phase, err) < 0)
		return FERRY_EINVAL;
	r = write_begin(j, err);
	if (r < 0)
		return r;
	r = stmt(j, ST_PHASE_INSERT, &s, err);
	if (r < 0)
		goto out;
	bind_text(s, 1, phase);
	sqlite3_bind_int64(s, 2, time_wall_ms());
	r = stmt_done(j, s, "recording the phase", err);
out:
	return write_end(j, r, err);
}

int journal_phase_get(struct journal *j, char **phase, int64_t *entered_ms, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r, rc;

	r = stmt(j, ST_PHASE_GET, &s, err);
	if (r < 0)
		return r;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (phase)
			*phase = col_dup(s, 0);
		if (entered_ms)
			*entered_ms = sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return FERRY_ENOTFOUND;
	return db_fail(j, rc, "reading the phase", err);
}

int journal_phases_foreach(struct journal *j,
                           int (*cb)(const char *phase, int64_t entered_ms, void *ctx), void *ctx,
                           struct ferry_error *err)
{
	sqlite3_stmt *s;
	int rc, r;

	r = stmt(j, ST_PHASES_ALL, &s, err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		r = cb(col_text(s, 0), sqlite3_column_int64(s, 1), ctx);
		if (r < 0)
			break;
	}
	sqlite3_reset(s);
	if (r < 0)
		return r;
	if (rc != SQLITE_DONE)
		return db_fail(j, rc, "reading the phases", err);
	return 0;
}

/* ---- key/value ---- */

int journal_set(struct journal *j, const char *key, const char *value, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r;

	if (require(j, "a key", key, err) < 0)
		return FERRY_EINVAL;
	if (!value)
		return ferry_error_set(err, FERRY_EINVAL, "use journal_unset() to remove a key",
		                       "journal %s: key %s: no value", j->path, key);
	r = check_text(j, "a value", value, VALUE_MAX, err);
	if (r < 0)
		return r;
	r = write_begin(j, err);
	if (r < 0)
		return r;
	r = stmt(j, ST_KV_SET, &s, err);
	if (r < 0)
		goto out;
	bind_text(s, 1, key);
	bind_text(s, 2, value);
	sqlite3_bind_int64(s, 3, time_wall_ms());
	r = stmt_done(j, s, "writing a value", err);
out:
	r = write_end(j, r, err);
	if (r < 0)
		err_prefix(err, "key %s", key);
	return r;
}

int journal_get(struct journal *j, const char *key, char **value, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r, rc;

	*value = NULL;
	if (require(j, "a key", key, err) < 0)
		return FERRY_EINVAL;
	r = stmt(j, ST_KV_GET, &s, err);
	if (r < 0)
		return r;
	bind_text(s, 1, key);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*value = col_dup(s, 0);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return FERRY_ENOTFOUND;
	return db_fail(j, rc, "reading a value", err);
}

int journal_unset(struct journal *j, const char *key, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r;

	if (require(j, "a key", key, err) < 0)
		return FERRY_EINVAL;
	r = write_begin(j, err);
	if (r < 0)
		return r;
	r = stmt(j, ST_KV_UNSET, &s, err);
	if (r < 0)
		goto out;
	bind_text(s, 1, key);
	r = stmt_done(j, s, "removing a value", err);
out:
	return write_end(j, r, err);
}

/* ---- events ---- */

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

static enum log_level level_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (enum log_level)i;
	return LOG_LEVEL_INFO;
}

int journal_event_add(struct journal *j, enum log_level level, const char *object,
                      struct ferry_error *err, const char *fmt, ...)
{
	char msg[EVENT_MAX];
	sqlite3_stmt *s;
	va_list ap;
	int r;

	if ((unsigned)level > LOG_LEVEL_DEBUG)
		return ferry_error_set(err, FERRY_EINVAL, NULL, "journal %s: bad event level %d",
		                       j->path, (int)level);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r = write_begin(j, err);
	if (r < 0)
		return r;
	r = stmt(j, ST_EVENT_INSERT, &s, err);
	if (r < 0)
		goto out;
	sqlite3_bind_int64(s, 1, time_wall_ms());
	bind_text(s, 2, level_names[level]);
	bind_text(s, 3, object ? object : "");
	bind_text(s, 4, msg);
	r = stmt_done(j, s, "writing an event", err);
out:
	return write_end(j, r, err);
}

int journal_events_foreach(struct journal *j, int64_t from_ms, int64_t to_ms,
                           int (*cb)(const struct journal_event *ev, void *ctx), void *ctx,
                           struct ferry_error *err)
{
	sqlite3_stmt *s;
	struct journal_event ev;
	int rc, r;

	r = stmt(j, ST_EVENTS_RANGE, &s, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, from_ms);
	sqlite3_bind_int64(s, 2, to_ms);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		ev.id = sqlite3_column_int64(s, 0);
		ev.t_ms = sqlite3_column_int64(s, 1);
		ev.level = level_parse(col_text(s, 2));
		ev.object = col_text(s, 3);
		ev.message = col_text(s, 4);
		r = cb(&ev, ctx);
		if (r < 0)
			break;
	}
	sqlite3_reset(s);
	if (r < 0)
		return r;
	if (rc != SQLITE_DONE)
		return db_fail(j, rc, "reading events", err);
	return 0;
}

/* ---- samples ---- */

void journal_points_release(struct journal_points *p)
{
	if (!p)
		return;
	free(p->v);
	memset(p, 0, sizeof(*p));
}

/* The id of series (name, object), created if needed.  Runs inside the
 * sample transaction, so a new series row commits with its first point. */
static int series_id(struct journal *j, const char *name, const char *object, int64_t *id,
                     struct ferry_error *err)
{
	sqlite3_stmt *s;
	size_t i;
	int r, rc;

	for (i = 0; i < j->nseries; i++) {
		if (strcmp(j->series[i].name, name) == 0 &&
		    strcmp(j->series[i].object, object) == 0) {
			*id = j->series[i].id;
			return 0;
		}
	}
	r = stmt(j, ST_SERIES_INSERT, &s, err);
	if (r < 0)
		return r;
	bind_text(s, 1, name);
	bind_text(s, 2, object);
	r = stmt_done(j, s, "creating a series", err);
	if (r < 0)
		return r;
	r = stmt(j, ST_SERIES_GET, &s, err);
	if (r < 0)
		return r;
	bind_text(s, 1, name);
	bind_text(s, 2, object);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return db_fail(j, rc == SQLITE_DONE ? SQLITE_INTERNAL : rc, "finding a series",
		               err);
	XGROW(j->series, j->series_alloc, j->nseries + 1);
	j->series[j->nseries].name = xstrdup(name);
	j->series[j->nseries].object = xstrdup(object);
	j->series[j->nseries].id = *id;
	j->nseries++;
	return 0;
}

static int sample_insert(struct journal *j, const char *series, const char *object, int64_t t_ms,
                         double value, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int64_t sid = 0;
	int r;

	r = series_id(j, series, object, &sid, err);
	if (r < 0)
		return r;
	r = stmt(j, ST_SAMPLE_INSERT, &s, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, sid);
	sqlite3_bind_int64(s, 2, t_ms);
	sqlite3_bind_double(s, 3, value);
	return stmt_done(j, s, "writing a sample", err);
}

int journal_sample_add(struct journal *j, const char *series, const char *object, int64_t t_ms,
                       double value, struct ferry_error *err)
{
	int r;

	if (require(j, "a series name", series, err) < 0)
		return FERRY_EINVAL;
	if (!object)
		object = "";
	if (j->readonly)
		return write_begin(j, err); /* fills the read-only error */
	if (j->batch) {
		if (!j->batch_tx) {
			r = tx_begin_samples(j, err);
			if (r < 0)
				return r;
			j->batch_tx = true;
		}
		r = sample_insert(j, series, object, t_ms, value, err);
		if (r < 0) {
			/* The batch's earlier points go with it; say so. */
			tx_rollback(j);
			j->batch_tx = false;
			err_prefix(err, "series %s %s (the open batch was rolled back)", series,
			           object);
		}
		return r;
	}
	r = tx_begin_samples(j, err);
	if (r < 0)
		return r;
	r = sample_insert(j, series, object, t_ms, value, err);
	if (r < 0) {
		tx_rollback(j);
		return r;
	}
	return tx_commit(j, err);
}

int journal_samples_begin(struct journal *j, struct ferry_error *err)
{
	if (j->readonly)
		return write_begin(j, err);
	if (j->batch)
		return ferry_error_set(err, FERRY_ESTATE,
		                       "commit the open batch first (a bug in ferry)",
		                       "journal %s: a sample batch is already open", j->path);
	/* The transaction itself opens with the first point. */
	j->batch = true;
	return 0;
}

int journal_samples_commit(struct journal *j, struct ferry_error *err)
{
	if (!j->batch)
		return ferry_error_set(err, FERRY_ESTATE, "call journal_samples_begin() first",
		                       "journal %s: no sample batch is open", j->path);
	j->batch = false;
	return batch_flush(j, err);
}

int journal_samples_foreach(struct journal *j, const char *series, const char *object,
                            int64_t from_ms, int64_t to_ms,
                            int (*cb)(int64_t t_ms, double value, void *ctx), void *ctx,
                            struct ferry_error *err)
{
	sqlite3_stmt *s;
	int rc, r = 0;

	if (require(j, "a series name", series, err) < 0)
		return FERRY_EINVAL;
	r = stmt(j, ST_SAMPLES_RANGE, &s, err);
	if (r < 0)
		return r;
	bind_text(s, 1, series);
	bind_text(s, 2, object ? object : "");
	sqlite3_bind_int64(s, 3, from_ms);
	sqlite3_bind_int64(s, 4, to_ms);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		r = cb(sqlite3_column_int64(s, 0), sqlite3_column_double(s, 1), ctx);
		if (r < 0)
			break;
	}
	sqlite3_reset(s);
	if (r < 0)
		return r;
	if (rc != SQLITE_DONE)
		return db_fail(j, rc, "reading samples", err);
	return 0;
}

static int points_append(int64_t t_ms, double value, void *ctx)
{
	struct journal_points *p = ctx;

	XGROW(p->v, p->alloc, p->n + 1);
	p->v[p->n].t_ms = t_ms;
	p->v[p->n].value = value;
	p->n++;
	return 0;
}

int journal_samples_get(struct journal *j, const char *series, const char *object, int64_t from_ms,
                        int64_t to_ms, struct journal_points *out, struct ferry_error *err)
{
	return journal_samples_foreach(j, series, object, from_ms, to_ms, points_append, out, err);
}

int journal_series_foreach(struct journal *j,
                           int (*cb)(const char *series, const char *object, void *ctx), void *ctx,
                           struct ferry_error *err)
{
	sqlite3_stmt *s;
	int rc, r;

	r = stmt(j, ST_SERIES_ALL, &s, err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		r = cb(col_text(s, 0), col_text(s, 1), ctx);
		if (r < 0)
			break;
	}
	sqlite3_reset(s);
	if (r < 0)
		return r;
	if (rc != SQLITE_DONE)
		return db_fail(j, rc, "reading series", err);
	return 0;
}

/* ---- gates ---- */

int journal_gate_record(struct journal *j, const char *phase, const char *gate, bool ok,
                        const char *evidence, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r;

	if (require(j, "a phase", phase, err) < 0 || require(j, "a gate name", gate, err) < 0 ||
	    check_text(j, "a gate's evidence", evidence, TEXT_MAX, err) < 0)
		return FERRY_EINVAL;
	r = write_begin(j, err);
	if (r < 0)
		return r;
	r = stmt(j, ST_GATE_INSERT, &s, err);
	if (r < 0)
		goto out;
	sqlite3_bind_int64(s, 1, time_wall_ms());
	bind_text(s, 2, phase);
	bind_text(s, 3, gate);
	sqlite3_bind_int(s, 4, ok ? 1 : 0);
	bind_text(s, 5, evidence ? evidence : "");
	r = stmt_done(j, s, "recording a gate", err);
out:
	r = write_end(j, r, err);
	if (r < 0)
		err_prefix(err, "gate %s", gate);
	return r;
}

int journal_gates_foreach(struct journal *j, const char *phase,
                          int (*cb)(const struct journal_gate *g, void *ctx), void *ctx,
                          struct ferry_error *err)
{
	sqlite3_stmt *s;
	struct journal_gate g;
	int rc, r;

	r = stmt(j, phase ? ST_GATES_PHASE : ST_GATES_ALL, &s, err);
	if (r < 0)
		return r;
	if (phase)
		bind_text(s, 1, phase);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		g.id = sqlite3_column_int64(s, 0);
		g.t_ms = sqlite3_column_int64(s, 1);
		g.phase = col_text(s, 2);
		g.gate = col_text(s, 3);
		g.ok = sqlite3_column_int(s, 4) != 0;
		g.evidence = col_text(s, 5);
		r = cb(&g, ctx);
		if (r < 0)
			break;
	}
	sqlite3_reset(s);
	if (r < 0)
		return r;
	if (rc != SQLITE_DONE)
		return db_fail(j, rc, "reading gates", err);
	return 0;
}
