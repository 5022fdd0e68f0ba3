/*
 * postgresql_dump.c - the PostgreSQL client programs ferry runs as
 * children: pg_dump piped into psql (the schema copy) and single programs
 * (pg_dump to a file, pg_restore) for the parallel copy's indexes and
 * constraints.
 *
 * A child gets the caller's environment without the plan's secret
 * variables (util/secret.h) and without the operator's
 * PGPASSWORD, PGPASSFILE and PGAPPNAME, plus PGAPPNAME=ferry and, when the
 * side has a password, PGPASSFILE naming a private password file
 * (pgsql_passfile_create): a password never reaches a child's environment
 * (/proc/PID/environ) or argv (its conninfo there is scrubbed: ps shows
 * it).  A caller may set PGOPTIONS (server
 * settings for the child's sessions).  Its stderr goes to an unlinked temporary
 * file whose head becomes the error message when it fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db/postgresql_int.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/secret.h"

struct child {
	pid_t pid;
	char **base; /* secret_env_child() */
	char **env;
	char *own[3]; /* PGAPPNAME=..., PGPASSFILE=..., PGOPTIONS=... */
	struct pgsql_passfile pf;
};

static int child_env(struct child *ch, const char *password, const char *pgoptions,
                     struct ferry_error *err)
{
	size_t i, n = 0;
	char **base;
	int rc;

	ch->base = base = secret_env_child();
	for (i = 0; base[i]; i++)
		;
	ch->env = xcalloc(i + 4, sizeof(char *));
	/* the operator's own PG variables are left out: ferry's come instead */
	for (i = 0; base[i]; i++) {
		if (!strncmp(base[i], "PGPASSWORD=", 11) || !strncmp(base[i], "PGPASSFILE=", 11) ||
		    !strncmp(base[i], "PGAPPNAME=", 10) ||
		    (pgoptions && !strncmp(base[i], "PGOPTIONS=", 10)))
			continue;
		ch->env[n++] = base[i];
	}
	ch->own[0] = xstrdup("PGAPPNAME=ferry");
	ch->env[n++] = ch->own[0];
	if (pgoptions) {
		ch->own[2] = xasprintf("PGOPTIONS=%s", pgoptions);
		ch->env[n++] = ch->own[2];
	}
	if (password) {
		rc = pgsql_passfile_create(&ch->pf, password, err);
		if (rc < 0)
			return rc;
		ch->own[1] = xasprintf("PGPASSFILE=%s", ch->pf.path);
		ch->env[n++] = ch->own[1];
	}
	return 0;
}

/* Ends the child if it still runs; removes its password file. */
static void child_release(struct child *ch)
{
	int st;

	if (ch->pid > 0) {
		kill(ch->pid, SIGTERM);
		waitpid(ch->pid, &st, 0);
	}
	ch->pid = 0;
	pgsql_passfile_remove(&ch->pf);
	free(ch->own[0]);
	free(ch->own[1]);
	free(ch->own[2]);
	free(ch->env);
	free(ch->base);
	memset(ch, 0, sizeof(*ch));
}

/* Starts argv with stdin, stdout, stderr on the given fds (-1: /dev/null
 * for stdin and stdout). */
static int child_start(struct child *ch, char *const argv[], const char *password,
                       const char *pgoptions, int in, int out, int errfd, struct ferry_error *err)
{
	posix_spawn_file_actions_t fa;
	int rc;

	rc = child_env(ch, password, pgoptions, err);
	if (rc < 0)
		return rc;
	posix_spawn_file_actions_init(&fa);
	if (in >= 0)
		posix_spawn_file_actions_adddup2(&fa, in, 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (out >= 0)
		posix_spawn_file_actions_adddup2(&fa, out, 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	rc = posix_spawnp(&ch->pid, argv[0], &fa, NULL, argv, ch->env);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		ch->pid = 0;
		return ferry_error_set(err, FERRY_EIO, "install the PostgreSQL client programs",
		                       "cannot run %s: %s", argv[0], strerror(rc));
	}
	return 0;
}

/* Waits for the child: its exit status, -1 if it did not exit. */
static int child_wait(struct child *ch)
{
	int st;

	if (waitpid(ch->pid, &st, 0) < 0)
		st = -1;
	ch->pid = 0;
	return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The head of the children's stderr, for a message. */
static void errfile_head(int fd, char *out, size_t outlen)
{
	ssize_t got;

	lseek(fd, 0, SEEK_SET);
	got = read(fd, out, outlen - 1);
	out[got > 0 ? got : 0] = '\0';
}

static int errfile_open(struct ferry_error *err)
{
	char tmpl[] = "/tmp/ferry-pgerr-XXXXXX";
	int fd = mkstemp(tmpl);

	if (fd < 0)
		return ferry_error_set(err, FERRY_EIO, "check /tmp", "cannot make a file: %s",
		                       strerror(errno));
	unlink(tmpl);
	return fd;
}

/* argv (NULL-terminated) with the conninfo appended, scrubbed of any
 * password (argv shows in ps), when its last element is "-d": a new array
 * of borrowed strings but that one (free it with argv_free). */
static char **with_conninfo(const char *const *argv, const char *conninfo)
{
	size_t n;
	char **v;

	for (n = 0; argv[n]; n++)
		;
	v = xcalloc(n + 2, sizeof(char *));
	memcpy(v, argv, n * sizeof(char *));
	if (n && !strcmp(argv[n - 1], "-d"))
		v[n] = pgsql_conninfo_scrub(conninfo);
	return v;
}

static void argv_free(char **v)
{
	size_t n;

	for (n = 0; v[n]; n++)
		;
	if (n >= 2 && !strcmp(v[n - 2], "-d"))
		free(v[n - 1]);
	free(v);
}

int pg_dump_pipe(struct pg *p, const char *const *dump_argv, const char *const *psql_argv,
                 struct ferry_error *err)
{
	const struct db_config *c = p->cfg;
	struct child d = { 0 }, q = { 0 };
	char **da = with_conninfo(dump_argv, c->old_conninfo);
	char **qa = with_conninfo(psql_argv, c->new_conninfo);
	int pfd[2] = { -1, -1 }, efd, rc, sd, sq;
	char head[1024];

	efd = errfile_open(err);
	if (efd < 0) {
		rc = efd;
		goto out;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		rc = ferry_error_set(err, FERRY_EIO, NULL, "database %s: pipe: %s", c->name,
		                     strerror(errno));
		goto out;
	}
	rc = child_start(&d, da, c->old_password, NULL, -1, pfd[1], efd, err);
	if (rc == 0)
		rc = child_start(&q, qa, c->new_password, NULL, pfd[0], -1, efd, err);
	close(pfd[0]);
	close(pfd[1]);
	if (rc < 0)
		goto out;
	sd = child_wait(&d);
	sq = child_wait(&q);
	if (sd != 0 || sq != 0) {
		errfile_head(efd, head, sizeof(head));
		rc = ferry_error_set(err, FERRY_EREFUSED,
		                     "fix the cause on the new server, then run again: the copy "
		                     "runs in one transaction, so nothing of it was kept",
		                     "database %s: schema copy failed (%s %d, %s %d): %.300s",
		                     c->name, da[0], sd, qa[0], sq, head);
	}
out:
	child_release(&d);
	child_release(&q);
	if (efd >= 0)
		close(efd);
	argv_free(da);
	argv_free(qa);
	return rc < 0 ? rc : 0;
}

int pg_run_client(struct pg *p, bool on_new, const char *const *argv, const char *pgoptions,
                  struct buf *out, struct ferry_error *err)
{
	const struct db_config *c = p->cfg;
	struct child ch = { 0 };
	char **a = with_conninfo(argv, on_new ? c->new_conninfo : c->old_conninfo);
	int efd, ofd = -1, rc, st;
	char tmpl[] = "/tmp/ferry-pgout-XXXXXX", head[1024];

	efd = errfile_open(err);
	if (efd < 0) {
		argv_free(a);
		return efd;
	}
	if (out) {
		ofd = mkstemp(tmpl);
		if (ofd < 0) {
			rc = ferry_error_set(err, FERRY_EIO, "check /tmp", "cannot make a file: %s",
			                     strerror(errno));
			goto out;
		}
		unlink(tmpl);
	}
	rc = child_start(&ch, a, on_new ? c->new_password : c->old_password, pgoptions, -1, ofd,
	                 efd, err);
	if (rc < 0)
		goto out;
	st = child_wait(&ch);
	if (st != 0) {
		errfile_head(efd, head, sizeof(head));
		rc = ferry_error_set(err, FERRY_EREFUSED, "fix the cause, then run again",
		                     "database %s: %s on %s failed (%d): %.300s", c->name, a[0],
		                     on_new ? "new" : "old", st, head);
		goto out;
	}
	if (out) {
		lseek(ofd, 0, SEEK_SET);
		if (buf_read_fd(out, ofd) < 0)
			rc = ferry_error_set(err, FERRY_EIO, NULL,
			                     "database %s: %s: output too large", c->name, a[0]);
	}
out:
	child_release(&ch);
	if (ofd >= 0)
		close(ofd);
	close(efd);
	argv_free(a);
	return rc < 0 ? rc : 0;
}
