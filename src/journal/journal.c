/*
 * journal.c - the SQLite journal of a plan: opening, the schema, closing
 * and the run lock.  See journal.h for the model and the step protocol.
 * The journal_*.c files are the only users of sqlite3.h; they share
 * struct journal through journal_internal.h:
 *   journal_sql.c     prepared statements, error mapping, transactions;
 *   journal_steps.c   steps, the phase, key/value;
 *   journal_series.c  events, samples, gates.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <sqlite3.h>

#include "journal/journal_internal.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* 'FRRY': PRAGMA application_id, https://sqlite.org/pragma.html#pragma_application_id */
#define JOURNAL_APPLICATION_ID 0x46525259

#define BUSY_TIMEOUT_MS        5000 /* sqlite3_busy_timeout: waits inside SQLite */

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
/* ---- open, schema, close ---- */

static int schema_version_get(struct journal *j, int *version, struct ferry_error *err)
{
	sqlite3_stmt *s;
	int r, rc;

	r = journal_stmt(j, ST_VERSION, &s, err);
	if (r < 0)
		return r;
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return journal_db_fail(j, rc, "reading the schema version", err);
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
		return journal_db_fail(j, rc, sql, err);
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

	r = journal_tx_begin(j, err);
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
			r = journal_db_fail(j, rc, "recording the schema version", err);
			goto out;
		}
	}
	if (version == 0) {
		char *sql = xasprintf("PRAGMA application_id = %d", JOURNAL_APPLICATION_ID);

		rc = sqlite3_exec(j->db, sql, NULL, NULL, NULL);
		free(sql);
		if (rc != SQLITE_OK) {
			r = journal_db_fail(j, rc, "marking the file as a ferry journal", err);
			goto out;
		}
	}
out:
	return journal_write_end(j, r, err);
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
		r = journal_db_fail(j, rc, "opening", err);
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
				snprintf(mode, sizeof(mode), "%s", journal_col_text(s, 0));
		}
		sqlite3_finalize(s);
		if (rc != SQLITE_ROW) {
			r = journal_db_fail(j, rc, "switching to WAL mode", err);
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
			r = journal_db_fail(j, rc, "setting pragmas", err);
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

			if (journal_batch_flush(j, &e) < 0)
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
	journal_series_cache_clear(j);
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

int journal_lock_holder(const char *path, long *pid)
{
	char *lockpath = xasprintf("%s.lock", path), want[80], *line, *save = NULL;
	struct buf locks;
	struct stat st;
	int r = 0;

	*pid = 0;
	buf_init(&locks, 4 << 20);
	if (stat(lockpath, &st) < 0) {
		r = errno == ENOENT ? 0 : FERRY_EIO;
		goto out;
	}
	if (buf_read_file(&locks, "/proc/locks") < 0) {
		r = FERRY_EIO;
		goto out;
	}
	/* proc(5): "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF", the
	 * device in hex, the inode in decimal; a waiter's line has "->" */
	snprintf(want, sizeof(want), "%02x:%02x:%" PRIuMAX, major(st.st_dev), minor(st.st_dev),
	         (uintmax_t)st.st_ino);
	for (line = strtok_r(locks.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[6], *fs = NULL, *end;
		size_t n = 0;

		for (f[0] = strtok_r(line, " ", &fs); f[n] && n < 5;
		     f[n] = strtok_r(NULL, " ", &fs))
			n++;
		if (n < 5 || strcmp(f[1], "FLOCK") || strcmp(f[5] ? f[5] : "", want))
			continue;
		*pid = strtol(f[4], &end, 10);
		if (end == f[4] || *pid < 0)
			*pid = 0;
		r = 1;
		break;
	}
out:
	buf_release(&locks);
	free(lockpath);
	return r;
}

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
