/*
 * test_journal.c - the SQLite journal: file mode and WAL, reopening, the run
 * lock across processes (and its release when the holder is SIGKILLed), a
 * crash between a step's intent and its completion, samples, key/value,
 * events, gates, and the errors for a corrupt or missing file.
 *
 * Every test works in its own temporary folder, made by the setup and
 * removed by the teardown even when the test fails.  Crashes are real: a
 * forked child opens its own journal and dies by _exit() or SIGKILL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "journal/journal.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/timeutil.h"

struct fixture {
	char dir[64];
	char path[128];
	pid_t child; /* a forked child still to reap, killed by the teardown */
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/ferry-test-journal-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/shop.ferry.db", f->dir);
	*state = f;
	return 0;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	/* A test that failed between fork() and reap() leaves no process. */
	if (f->child > 0) {
		kill(f->child, SIGKILL);
		waitpid(f->child, NULL, 0);
	}
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct journal *open_ok(const char *path, unsigned flags)
{
	struct ferry_error err = { 0 };
	struct journal *j = NULL;
	int r = journal_open(&j, path, flags, &err);

	if (r != 0)
		fail_msg("journal_open %s: %d %s (%s)", path, r, err.msg, err.hint);
	assert_non_null(j);
	return j;
}

static mode_t file_mode(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

/* Removes the journal and its -wal, -shm and .lock files. */
static void remove_journal(const char *path)
{
	static const char *const sfx[] = { "", "-wal", "-shm", ".lock" };
	char p[256];
	size_t i;

	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		unlink(p);
	}
}

/* Waits for a child and returns its raw status. */
static int reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	return status;
}

static void test_create_makes_file_0600_in_wal_mode(void **state)
{
	struct fixture *f = *state;
	struct ferry_error err = { 0 };
	unsigned char hdr[100];
	struct journal *j;
	char side[160];
	mode_t old;
	int fd;

	/* With umask 0 a careless create would give 0644 or 0666. */
	old = umask(0);
	j = open_ok(f->path, JOURNAL_OPEN_CREATE);
	umask(old);
	assert_int_equal(journal_set(j, "k", "v", &err), 0);
	assert_int_equal(file_mode(f->path), 0600);
	snprintf(side, sizeof(side), "%s-wal", f->path);
	assert_int_equal(file_mode(side), 0600);
	snprintf(side, sizeof(side), "%s-shm", f->path);
	assert_int_equal(file_mode(side), 0600);

	/* https://sqlite.org/fileformat2.html §1.3: header bytes 18 and 19
	 * are 2 for a WAL database. */
	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, hdr, sizeof(hdr)), sizeof(hdr));
	close(fd);
	assert_memory_equal(hdr, "SQLite format 3", 16);
	assert_int_equal(hdr[18], 2);
	assert_int_equal(hdr[19], 2);
	journal_close(j);
}

static void test_reopen_keeps_data_and_schema_version(void **state)
{
	struct fixture *f = *state;
	struct ferry_error err = { 0 };
	struct journal_step st;
	struct journal *j;
	int64_t id, entered;
	char *v = NULL, *phase = NULL;
	int version = -1;

	j = open_ok(f->path, JOURNAL_OPEN_CREATE);
	assert_int_equal(journal_schema_version(j, &version, &err), 0);
	assert_int_equal(version, JOURNAL_SCHEMA_VERSION);
	assert_int_equal(journal_phase_set(j, "prepare", &err), 0);
	assert_int_equal(journal_set(j, "cutover.rollback_plan", "{\"dns\":[]}", &err), 0);
	assert_int_equal(journal_step_begin(j, "prepare", "dns.ttl", "www.shop.test",
	                                    "{\"from\":86400,\"to\":3600}", &id, &err),
	                 0);
	assert_int_equal(journal_step_done(j, id, true, "{\"serial\":7}", &err), 0);
	journal_close(j);

	/* Read-write again (no migration to do), then read-only. */
	j = open_ok(f->path, 0);
	assert_int_equal(journal_schema_version(j, &version, &err), 0);
	assert_int_equal(version, JOURNAL_SCHEMA_VERSION);
	journal_close(j);

	j = open_ok(f->path, JOURNAL_OPEN_READONLY);
	assert_int_equal(journal_get(j, "cutover.rollback_plan", &v, &err), 0);
	assert_string_equal(v, "{\"dns\":[]}");
	assert_int_equal(journal_phase_get(j, &phase, &entered, &err), 0);
	assert_string_equal(phase, "prepare");
	assert_true(entered > 0);
	assert_int_equal(journal_step_find_done(j, "dns.ttl", "www.shop.test", &st, &err), 0);
	assert_int_equal(st.id, id);
	assert_int_equal(st.state, JOURNAL_STEP_OK);
	assert_string_equal(st.detail, "{\"from\":86400,\"to\":3600}");
	assert_string_equal(st.result, "{\"serial\":7}");
	assert_true(st.finished_ms >= st.started_ms);
	journal_step_release(&st);
	free(v);
	free(phase);
	journal_close(j);
}

static void test_readonly_journal_refuses_writes_and_lock(void **state)
{
	struct fixture *f = *state;
	struct ferry_error err = { 0 };
	struct journal *j;
	int64_t id;

	journal_close(open_ok(f->path, JOURNAL_OPEN_CREATE));
	j = open_ok(f->path, JOURNAL_OPEN_READONLY);
	assert_int_equal(journal_set(j, "k", "v", &err), FERRY_EINVAL);
	assert_non_null(strstr(err.msg, "read-only"));
	assert_int_equal(journal_step_begin(j, "p", "n", NULL, NULL, &id, &err), FERRY_EINVAL);
	assert_int_equal(journal_sample_add(j, "lag_ms", "main", 1, 1.0, &err), FERRY_EINVAL);
	assert_int_equal(journal_lock(j, &err), FERRY_EINVAL);
	journal_close(j);
}

static void test_open_missing_file_is_notfound(void **state)
{
	struct fixture *f = *state;
	struct ferry_error err = { 0 };
	struct journal *j = (struct journal *)1;

	assert_int_equal(journal_open(&j, f->path, JOURNAL_OPEN_READONLY, &err), FERRY_ENOTFOUND);
	assert_null(j);
	assert_non_null(strstr(err.msg, f->path));
	assert_true(err.hint[0] != '\0');
	assert_int_equal(journal_open(&j, f->path, 0, &err), FERRY_ENOTFOUND);
	/* Neither attempt created the file. */
	assert_int_equal(access(f->path, F_OK), -1);
	assert_int_equal(
	        journal_open(&j, f->path, JOURNAL_OPEN_READONLY | JOURNAL_OPEN_CREATE, &err),
	        FERRY_EINVAL);
}

static void test_garbage_file_gives_clear_error(void **state)
{
	struct fixture *f = *state;
	struct ferry_error err = { 0 };
	struct journal *j = NULL;
	char junk[8192], back[8192];
	unsigned flags[] = { 0, JOURNAL_OPEN_CREATE, JOURNAL_OPEN_READONLY };
	size_t i;
	int fd;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 131 + 7);
	fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, sizeof(junk)), sizeof(junk));
	close(fd);

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(journal_open(&j, f->path, flags[i], &err), FERRY_ESTATE);
		assert_null(j);
		assert_non_null(strstr(err.msg, f->path));
		assert_non_null(strstr(err.msg, "not a valid journal"));
		assert_true(err.hint[0] != '\0');
	}
	/* And the file was left as it was. */
	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, back, sizeof(back)), sizeof(back));
	close(fd);
	assert_memory_equal(junk, back, sizeof(junk));
}

static void test_foreign_sqlite_file_is_refused(void **state)
{
	struct fixture *f = *state;
	struct ferry_error err = { 0 };
	struct journal *j = NULL;
	unsigned char id[4] = { 0, 0, 0, 42 };
	int fd;

	/* A valid SQLite file whose application_id is not ferry's (header
	 * offset 68, https://sqlite.org/fileformat2.html §1.3.15).  The clean
	 * close has checkpointed and removed the WAL, so patching the main file
	 * is safe. */
	j = open_ok(f->path, JOURNAL_OPEN_CREATE);
	assert_int_equal(journal_set(j, "k", "v", &err), 0);
	journal_close(j);
	fd = open(f->path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, id, sizeof(id), 68), sizeof(id));
	close(fd);
	j = NULL;
	assert_int_equal(journal_open(&j, f->path, 0, &err), FERRY_ESTATE);
	assert_null(j);
	assert_non_null(strstr(err.msg, "not a ferry journal"));
	assert_int_equal(journal_open(&j, f->path, JOURNAL_OPEN_READONLY, &err), FERRY_ESTATE);

	/* A folder that does not exist cannot hold a new journal. */
	snprintf(f->path, sizeof(f->path), "%s/no/such/dir.db", f->dir);
	assert_int_equal(journal_open(&j, f->path, JOURNAL_OPEN_CREATE, &err), FERRY_EIO);
	assert_non_null(strstr(err.msg, "cannot create"));
}

/* The pid named in "... (pid N)". */
static long pid_in(const char *msg)
{
	const char *p = strstr(msg, "(pid ");

	return p ? strtol(p + 5, NULL, 10) : -1;
}

static void test_lock_refused_while_held_and_free_after_sigkill(void **state)
{
	struct fixture *f = *state;
	struct ferry_error err = { 0 };
	struct journal *j, *j2;
	int ready[2], status;
	long holder;
	pid_t child;
	char c;

	journal_close(open_ok(f->path, JOURNAL_OPEN_CREATE));
	/* no lock file yet: nobody holds it */
	assert_int_equal(journal_lock_holder(f->path, &holder), 0);

	/* A child takes the lock and waits to be killed. */
	assert_int_equal(pipe(ready), 0);
	child = fork();
	assert_true(child >= 0);
	f->child = child;
	if (child == 0) {
		struct journal *cj = NULL;

		close(ready[0]);
		if (journal_open(&cj, f->path, 0, NULL) < 0 || journal_lock(cj, NULL) < 0)
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);

	/* journal_lock_holder() sees the child, from /proc/locks */
	assert_int_equal(journal_lock_holder(f->path, &holder), 1);
	assert_int_equal(holder, (long)child);

	j = open_ok(f->path, 0);
	assert_int_equal(journal_lock(j, &err), FERRY_ELOCKED);
	assert_int_equal(pid_in(err.msg), (long)child);
	assert_non_null(strstr(err.msg, f->path));
	assert_true(err.hint[0] != '\0');
	/* The journal is still readable and writable without the lock (the
	 * lock is between runs, not between connections). */
	assert_int_equal(journal_set(j, "k", "v", &err), 0);

	/* kill -9: the kernel drops the lock, nothing stale remains. */
	assert_int_equal(kill(child, SIGKILL), 0);
	status = reap(child);
	f->child = 0;
	assert_true(WIFSIGNALED(status));
	assert_int_equal(journal_lock_holder(f->path, &holder), 0);
	assert_int_equal(journal_lock(j, &err), 0);
	assert_int_equal(journal_lock(j, &err), 0); /* already held: fine */
	assert_int_equal(journal_lock_holder(f->path, &holder), 1);
	assert_int_equal(holder, (long)getpid());

	/* Now this process holds it: a second journal, even in the same
	 * process, is refused (flock belongs to the open file), naming this
	 * pid.  (No forked child here: SQLite forbids carrying an open
	 * connection's file across fork(), see https://sqlite.org/howtocorrupt.html
	 * §2.6; the first half of this test has the child hold the lock.) */
	j2 = open_ok(f->path, 0);
	assert_int_equal(journal_lock(j2, &err), FERRY_ELOCKED);
	assert_int_equal(pid_in(err.msg), (long)getpid());
	journal_close(j2);

	/* Closing releases it. */
	journal_close(j);
	j = open_ok(f->path, 0);
	assert_int_equal(journal_lock(j, &err), 0);
	journal_close(j);
}

/* The child's part of the crash test: a step whose intent is written and
 * whose completion never is.  how: 0 = _exit(), 1 = SIGKILL. */
static void crash_child(const char *path, int how)
{
	struct journal *cj = NULL;
	int64_t id;

	if (journal_open(&cj, path, 0, NULL) < 0 || journal_lock(cj, NULL) < 0)
		_exit(1);
	if (journal_step_begin(cj, "cutover", "pgbouncer.pause", "main@old",
	                       "{\"host\":\"10.77.0.2\"}", &id, NULL) < 0)
		_exit(1);
	/* ... the action would run here ... */
	if (how == 0)
		_exit(0);
	kill(getpid(), SIGKILL);
	_exit(1);
}

static void test_crash_between_intent_and_done_leaves_one_open_step(void **state)
{
	struct fixture *f = *state;
	struct ferry_error err = { 0 };
	struct journal_step_list open = { 0 }, all = { 0 };
	struct journal_step st;
	struct journal *j;
	int64_t before, redo;
	int how, status;
	pid_t child;

	for (how = 0; how < 2; how++) {
		remove_journal(f->path);
		j = open_ok(f->path, JOURNAL_OPEN_CREATE);
		assert_int_equal(
		        journal_step_begin(j, "cutover", "preflight", NULL, NULL, &before, &err),
		        0);
		assert_int_equal(journal_step_done(j, before, true, NULL, &err), 0);
		journal_close(j);

		child = fork();
		assert_true(child >= 0);
		f->child = child;
		if (child == 0)
			crash_child(f->path, how);
		status = reap(child);
		f->child = 0;
		if (how == 0)
			assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		else
			assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

		/* The resumed run. */
		j = open_ok(f->path, 0);
		assert_int_equal(journal_lock(j, &err), 0);
		assert_int_equal(journal_steps_open(j, &open, &err), 0);
		assert_int_equal(open.n, 1);
		assert_int_equal(open.v[0].state, JOURNAL_STEP_OPEN);
		assert_string_equal(open.v[0].phase, "cutover");
		assert_string_equal(open.v[0].name, "pgbouncer.pause");
		assert_string_equal(open.v[0].object, "main@old");
		assert_string_equal(open.v[0].detail, "{\"host\":\"10.77.0.2\"}");
		assert_null(open.v[0].result);
		assert_int_equal(open.v[0].finished_ms, 0);
		assert_int_equal(open.v[0].pid, child);
		assert_true(open.v[0].id > before);

		/* Not done; the step before it is. */
		assert_int_equal(
		        journal_step_find_done(j, "pgbouncer.pause", "main@old", NULL, &err),
		        FERRY_ENOTFOUND);
		assert_int_equal(journal_step_find_done(j, "preflight", NULL, NULL, &err), 0);

		/* Resume: mark it interrupted, redo it as a new step. */
		assert_int_equal(
		        journal_step_interrupt(j, open.v[0].id, "resumed by a new run", &err), 0);
		assert_int_equal(journal_step_begin(j, "cutover", "pgbouncer.pause", "main@old",
		                                    NULL, &redo, &err),
		                 0);
		assert_int_equal(journal_step_done(j, redo, true, "{\"paused\":true}", &err), 0);
		assert_int_equal(journal_step_done(j, open.v[0].id, true, NULL, &err),
		                 FERRY_ESTATE);
		assert_int_equal(journal_step_done(j, redo + 100, true, NULL, &err),
		                 FERRY_ENOTFOUND);
		journal_step_list_release(&open);

		assert_int_equal(journal_steps_open(j, &open, &err), 0);
		assert_int_equal(open.n, 0);
		assert_int_equal(
		        journal_step_find_done(j, "pgbouncer.pause", "main@old", &st, &err), 0);
		assert_int_equal(st.id, redo);
		journal_step_release(&st);

		assert_int_equal(journal_steps_all(j, &all, &err), 0);
		assert_int_equal(all.n, 3);
		assert_int_equal(all.v[0].state, JOURNAL_STEP_OK);
		assert_int_equal(all.v[1].state, JOURNAL_STEP_INTERRUPTED);
		assert_string_equal(all.v[1].result, "resumed by a new run");
		assert_int_equal(all.v[2].state, JOURNAL_STEP_OK);
		assert_true(all.v[0].id < all.v[1].id && all.v[1].id < all.v[2].id);
		journal_step_list_release(&all);
		journal_step_list_release(&open);
		journal_close(j);
	}
}

static void test_steps_failed_and_last_done_of_phase(void **state)
{
	struct fixture *f = *state;
	struct ferry_error err = { 0 };
	struct journal_step st;
	struct journal *j;
	int64_t a, b, c;

	j = open_ok(f->path, JOURNAL_OPEN_CREATE);
	assert_int_equal(journal_step_last_done(j, "prepare", &st, &err), FERRY_ENOTFOUND);
	assert_int_equal(
	        journal_step_begin(j, "prepare", "dns.ttl", "www", "{\"to\":3600}", &a, &err), 0);
	assert_int_equal(journal_step_done(j, a, true, NULL, &err), 0);
	assert_int_equal(
	        journal_step_begin(j, "prepare", "dns.ttl", "api", "{\"to\":3600}", &b, &err), 0);
	assert_int_equal(journal_step_done(j, b, false, "{\"rcode\":\"REFUSED\"}", &err), 0);
	assert_int_equal(
	        journal_step_begin(j, "replicate", "pg.publication", "main", NULL, &c, &err), 0);
	assert_int_equal(journal_step_done(j, c, true, NULL, &err), 0);

	/* A failed step is not done. */
	assert_int_equal(journal_step_find_done(j, "dns.ttl", "api", NULL, &err), FERRY_ENOTFOUND);
	assert_int_equal(journal_step_last_done(j, "prepare", &st, &err), 0);
	assert_int_equal(st.id, a);
	assert_string_equal(st.object, "www");
	journal_step_release(&st);
	assert_int_equal(journal_step_last_done(j, "replicate", &st, &err), 0);
	assert_int_equal(st.id, c);
	journal_step_release(&st);

	/* Required names. */
	assert_int_equal(journal_step_begin(j, "prepare", "", NULL, NULL, &a, &err), FERRY_EINVAL);
	assert_int_equal(journal_step_begin(j, NULL, "x", NULL, NULL, &a, &err), FERRY_EINVAL);
	journal_close(j);
}

struct collected {
	char text[1024];
	int n;
};

static int collect_phase(const char *phase, int64_t entered_ms, void *ctx)
{
	struct collected *c = ctx;
	size_t len = strlen(c->text);

	assert_true(entered_ms > 0);
	snprintf(c->text + len, sizeof(c->text) - len, "%s;", phase);
	c->n++;
	return 0;
}

static void test_phase_history(void **state)
{
	struct collected c = { "", 0 };
	struct fixture *f = *state;
	struct ferry_error err = { 0 };
	struct journal *j;
	char *phase = NULL;
	int64_t t0 = time_wall_ms(), t1;

	j = open_ok(f->path, JOURNAL_OPEN_CREATE);
	assert_int_equal(journal_phase_get(j, &phase, &t1, &err), FERRY_ENOTFOUND);
	assert_null(phase);
	assert_int_equal(journal_phase_set(j, "prepare", &err), 0);
	assert_int_equal(journal_phase_set(j, "replicate", &err), 0);
	assert_int_equal(journal_phase_get(j, &phase, &t1, &err), 0);
	assert_string_equal(phase, "replicate");
	assert_true(t1 >= t0 && t1 <= time_wall_ms());
	free(phase);
	assert_int_equal(journal_phases_foreach(j, collect_phase, &c, &err), 0);
	assert_string_equal(c.text, "prepare;replicate;");
	journal_close(j);
}

static void test_kv_set_get_overwrite_unset(void **state)
{
	struct fixture *f = *state;
	struct ferry_error err = { 0 };
	struct journal *j;
	char *v = NULL;

	j = open_ok(f->path, JOURNAL_OPEN_CREATE);
	assert_int_equal(journal_get(j, "dns.www.shop.test.last_ttl_change", &v, &err),
	                 FERRY_ENOTFOUND);
	assert_null(v);
	assert_int_equal(journal_set(j, "dns.www.shop.test.last_ttl_change", "1764135480000", &err),
	                 0);
	assert_int_equal(journal_get(j, "dns.www.shop.test.last_ttl_change", &v, &err), 0);
	assert_string_equal(v, "1764135480000");
	free(v);
	assert_int_equal(journal_set(j, "dns.www.shop.test.last_ttl_change", "1764135999000", &err),
	                 0);
	assert_int_equal(journal_get(j, "dns.www.shop.test.last_ttl_change", &v, &err), 0);
	assert_string_equal(v, "1764135999000");
	free(v);
	/* An empty value is a value. */
	assert_int_equal(journal_set(j, "empty", "", &err), 0);
	assert_int_equal(journal_get(j, "empty", &v, &err), 0);
	assert_string_equal(v, "");
	free(v);
	assert_int_equal(journal_unset(j, "empty", &err), 0);
	assert_int_equal(journal_get(j, "empty", &v, &err), FERRY_ENOTFOUND);
	assert_int_equal(journal_set(j, "k", NULL, &err), FERRY_EINVAL);
	assert_int_equal(journal_set(j, "", "v", &err), FERRY_EINVAL);
	journal_close(j);
}

static int collect_event(const struct journal_event *ev, void *ctx)
{
	struct collected *c = ctx;
	size_t len = strlen(c->text);

	snprintf(c->text + len, sizeof(c->text) - len, "%s|%s|%s;",
	         ev->level == LOG_LEVEL_ERROR  ? "E"
	         : ev->level == LOG_LEVEL_WARN ? "W"
	                                       : "I",
	         ev->object, ev->message);
	c->n++;
	return 0;
}

static int stop_after_one(const struct journal_event *ev, void *ctx)
{
	(void)ev;
	(void)ctx;
	return FERRY_ECHECK;
}

static void test_events_in_order_with_levels(void **state)
{
	struct fixture *f = *state;
	struct ferry_error err = { 0 };
	struct collected c = { "", 0 };
	struct journal *j;
	int64_t t0 = time_wall_ms();

	j = open_ok(f->path, JOURNAL_OPEN_CREATE);
	assert_int_equal(journal_event_add(j, LOG_LEVEL_INFO, "main", &err, "lag %d ms", 40), 0);
	assert_int_equal(
	        journal_event_add(j, LOG_LEVEL_WARN, NULL, &err, "env: %s missing", "PAYMENTS_URL"),
	        0);
	assert_int_equal(journal_event_add(j, LOG_LEVEL_ERROR, "www.shop.test", &err, "refused"),
	                 0);
	assert_int_equal(journal_events_foreach(j, t0, INT64_MAX, collect_event, &c, &err), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.text, "I|main|lag 40 ms;W||env: PAYMENTS_URL missing;"
	                            "E|www.shop.test|refused;");
	/* An empty range, and a callback that stops the walk. */
	c.n = 0;
	assert_int_equal(journal_events_foreach(j, 0, t0, collect_event, &c, &err), 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(journal_events_foreach(j, t0, INT64_MAX, stop_after_one, NULL, &err),
	                 FERRY_ECHECK);
	journal_close(j);
}

static int collect_gate(const struct journal_gate *g, void *ctx)
{
	struct collected *c = ctx;
	size_t len = strlen(c->text);

	snprintf(c->text + len, sizeof(c->text) - len, "%s/%s=%d:%s;", g->phase, g->gate, g->ok,
	         g->evidence);
	c->n++;
	return 0;
}

static void test_gates_recorded_per_phase(void **state)
{
	struct fixture *f = *state;
	struct ferry_error err = { 0 };
	struct collected c = { "", 0 };
	struct journal *j;

	j = open_ok(f->path, JOURNAL_OPEN_CREATE);
	assert_int_equal(journal_gate_record(j, "prepare", "ttl.served", false,
	                                     "{\"served\":3600,\"want\":60}", &err),
	                 0);
	assert_int_equal(journal_gate_record(j, "replicate", "lag", true, NULL, &err), 0);
	assert_int_equal(
	        journal_gate_record(j, "prepare", "ttl.served", true, "{\"served\":60}", &err), 0);
	assert_int_equal(journal_gates_foreach(j, "prepare", collect_gate, &c, &err), 0);
	assert_string_equal(c.text, "prepare/ttl.served=0:{\"served\":3600,\"want\":60};"
	                            "prepare/ttl.served=1:{\"served\":60};");
	c.text[0] = '\0';
	c.n = 0;
	assert_int_equal(journal_gates_foreach(j, NULL, collect_gate, &c, &err), 0);
	assert_int_equal(c.n, 3);
	assert_non_null(strstr(c.text, "replicate/lag=1:;"));
	assert_int_equal(journal_gate_record(j, "prepare", NULL, true, NULL, &err), FERRY_EINVAL);
	journal_close(j);
}

static int sum_points(int64_t t_ms, double value, void *ctx)
{
	double *sum = ctx;

	(void)t_ms;
	*sum += value;
	return 0;
}

static void test_samples_range_series_and_objects(void **state)
{
	struct fixture *f = *state;
	struct ferry_error err = { 0 };
	struct journal_points p = { 0 };
	struct journal *j;
	double sum = 0;
	int64_t t;

	j = open_ok(f->path, JOURNAL_OPEN_CREATE);
	for (t = 1000; t < 11000; t += 1000) {
		assert_int_equal(journal_sample_add(j, "lag_ms", "main", t, (double)t / 100, &err),
		                 0);
		assert_int_equal(journal_sample_add(j, "lag_ms", "orders", t, -1, &err), 0);
	}
	assert_int_equal(journal_sample_add(j, "error_rate", NULL, 5000, 0.25, &err), 0);

	/* [3000, 6000): 3000, 4000, 5000 of main only, in time order. */
	assert_int_equal(journal_samples_get(j, "lag_ms", "main", 3000, 6000, &p, &err), 0);
	assert_int_equal(p.n, 3);
	assert_int_equal(p.v[0].t_ms, 3000);
	assert_int_equal(p.v[2].t_ms, 5000);
	assert_true(p.v[1].value == 40.0);
	journal_points_release(&p);

	assert_int_equal(journal_samples_get(j, "lag_ms", "main", INT64_MIN, INT64_MAX, &p, &err),
	                 0);
	assert_int_equal(p.n, 10);
	journal_points_release(&p);
	assert_int_equal(journal_samples_get(j, "error_rate", "", 0, INT64_MAX, &p, &err), 0);
	assert_int_equal(p.n, 1);
	assert_true(p.v[0].value == 0.25);
	journal_points_release(&p);
	assert_int_equal(journal_samples_get(j, "no_such_series", "main", 0, INT64_MAX, &p, &err),
	                 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(journal_samples_foreach(j, "lag_ms", "orders", 0, INT64_MAX, sum_points,
	                                         &sum, &err),
	                 0);
	assert_true(sum == -10.0);
	journal_close(j);

	/* Samples outlive the connection. */
	j = open_ok(f->path, JOURNAL_OPEN_READONLY);
	assert_int_equal(journal_samples_get(j, "lag_ms", "main", 0, INT64_MAX, &p, &err), 0);
	assert_int_equal(p.n, 10);
	journal_points_release(&p);
	journal_close(j);
}

static void test_sample_batch_commits_together(void **state)
{
	struct fixture *f = *state;
	struct ferry_error err = { 0 };
	struct journal_points p = { 0 };
	struct journal *j, *reader;
	int64_t t;

	j = open_ok(f->path, JOURNAL_OPEN_CREATE);
	reader = open_ok(f->path, JOURNAL_OPEN_READONLY);
	assert_int_equal(journal_samples_commit(j, &err), FERRY_ESTATE);
	assert_int_equal(journal_samples_begin(j, &err), 0);
	assert_int_equal(journal_samples_begin(j, &err), FERRY_ESTATE);
	for (t = 0; t < 2000; t++)
		assert_int_equal(journal_sample_add(j, "latency_ms", "www", t, 1.5, &err), 0);
	/* Another connection does not see an uncommitted batch. */
	assert_int_equal(journal_samples_get(reader, "latency_ms", "www", 0, INT64_MAX, &p, &err),
	                 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(journal_samples_commit(j, &err), 0);
	assert_int_equal(journal_samples_get(reader, "latency_ms", "www", 0, INT64_MAX, &p, &err),
	                 0);
	assert_int_equal(p.n, 2000);
	journal_points_release(&p);
	journal_close(reader);
	journal_close(j);
}

static void test_step_during_sample_batch_is_not_delayed(void **state)
{
	struct fixture *f = *state;
	struct ferry_error err = { 0 };
	struct journal_step_list open = { 0 };
	struct journal_points p = { 0 };
	struct journal *j;
	int status;
	pid_t child;

	journal_close(open_ok(f->path, JOURNAL_OPEN_CREATE));
	child = fork();
	assert_true(child >= 0);
	f->child = child;
	if (child == 0) {
		struct journal *cj = NULL;
		int64_t t, id;

		if (journal_open(&cj, f->path, 0, NULL) < 0 || journal_samples_begin(cj, NULL) < 0)
			_exit(1);
		for (t = 0; t < 100; t++)
			if (journal_sample_add(cj, "weight", "new", t, 5, NULL) < 0)
				_exit(1);
		/* The intent must be on disk now, batch or not. */
		if (journal_step_begin(cj, "validate", "haproxy.weight", "new", "{\"pct\":5}", &id,
		                       NULL) < 0)
			_exit(1);
		for (t = 100; t < 200; t++)
			if (journal_sample_add(cj, "weight", "new", t, 25, NULL) < 0)
				_exit(1);
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	status = reap(child);
	f->child = 0;
	assert_true(WIFSIGNALED(status));

	j = open_ok(f->path, 0);
	assert_int_equal(journal_steps_open(j, &open, &err), 0);
	assert_int_equal(open.n, 1);
	assert_string_equal(open.v[0].name, "haproxy.weight");
	journal_step_list_release(&open);
	/* The points before the step were committed with it; the rest of the
	 * batch died with the process. */
	assert_int_equal(journal_samples_get(j, "weight", "new", 0, INT64_MAX, &p, &err), 0);
	assert_int_equal(p.n, 100);
	assert_true(p.v[99].value == 5);
	journal_points_release(&p);
	journal_close(j);
}

static void test_text_limits(void **state)
{
	struct fixture *f = *state;
	struct ferry_error err = { 0 };
	struct journal *j;
	char *big = xmalloc(70000);
	int64_t id;

	memset(big, 'x', 69999);
	big[69999] = '\0';
	j = open_ok(f->path, JOURNAL_OPEN_CREATE);
	assert_int_equal(journal_step_begin(j, "p", "n", NULL, big, &id, &err), FERRY_EINVAL);
	assert_non_null(strstr(err.msg, "longer than"));
	/* key/value allows more (the rollback plan). */
	assert_int_equal(journal_set(j, "cutover.rollback_plan", big, &err), 0);
	free(big);
	journal_close(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_makes_file_0600_in_wal_mode, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_data_and_schema_version, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_readonly_journal_refuses_writes_and_lock,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_missing_file_is_notfound, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_garbage_file_gives_clear_error, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_foreign_sqlite_file_is_refused, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_lock_refused_while_held_and_free_after_sigkill,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(
		        test_crash_between_intent_and_done_leaves_one_open_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_steps_failed_and_last_done_of_phase, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_phase_history, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kv_set_get_overwrite_unset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_in_order_with_levels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gates_recorded_per_phase, setup, teardown),
		cmocka_unit_test_setup_teardown(test_samples_range_series_and_objects, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_sample_batch_commits_together, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_step_during_sample_batch_is_not_delayed, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_text_limits, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
