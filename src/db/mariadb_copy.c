/*
 * mariadb_copy.c - the initial copy: mariadb-dump of old, piped through
 * ferry into the mariadb client on new, in a thread of its own so that
 * progress() can report while it runs.
 *
 *	mariadb-dump --single-transaction --master-data=2 --gtid --routines
 *	             --triggers --events --hex-blob --databases DB   (old)
 *	  | ferry (counts bytes, notes the table, reads the GTID)
 *	  | mariadb --init-command='SET SESSION sql_log_bin=0'       (new)
 *
 * With --single-transaction and --master-data the 10.11 client reads the
 * snapshot's binlog position inside the transaction (Binlog_snapshot_file
 * and _position) and takes no global read lock; --gtid adds the matching
 * GTID position as a comment, "-- SET GLOBAL gtid_slave_pos='0-1-42';",
 * which ferry reads (ENGINES.md A2; mysqldump.c).  The load runs with
 * sql_log_bin=0: new's binlog must not get GTIDs of its own that would be
 * ahead of old's in the same domain (gtid_strict_mode stops replication on
 * an out-of-order sequence number, error 1950).
 *
 * Passwords reach the children in option files of mode 0600
 * (--defaults-extra-file, mariadb_conn.h), never in argv or environment.
 * The children run in a process group of their own, so a ^C at ferry's
 * terminal does not cut the copy's pipe in the middle; close() ends them.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db/mariadb_int.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/secret.h"

const char *const mdb_dump_argv[] = {
	"mariadb-dump",
	"--single-transaction",
	"--master-data=2",
	"--gtid",
	"--routines",
	"--triggers",
	"--events",
	"--hex-blob",
	"--quick",
	"--databases",
	NULL,
};
const char *const mdb_client_argv[] = {
	"mariadb",          "--init-command=SET SESSION sql_log_bin=0",
	"--binary-mode",    "--batch",
	"--no-auto-rehash", NULL,
};

struct copy_table {
	char *name;
	int64_t bytes;
};

struct mdb_copy {
	pthread_t th;
	bool started;
	pthread_mutex_t mu;
	/* under mu */
	bool done;
	int rc;
	char errmsg[400];
	struct copy_table *tables;
	size_t ntables, alloc;
	int64_t bytes;
	char gtid[1024];
	/* the thread's own */
	pid_t dump, client;
	int out_fd, in_fd, err_fd; /* dump's stdout, client's stdin, both's stderr */
	struct mdb_optfile of_old, of_new;
	char *dbname;
	char line[512];
	size_t linelen;
	bool line_long;
};

/* One line of the dump's text (its first 511 bytes): the GTID in the head,
 * and where each table's data starts. */
static void scan_line(struct mdb_copy *c)
{
	static const char gtid_pre[] = "-- SET GLOBAL gtid_slave_pos='";
	static const char data_pre[] = "-- Dumping data for table `";
	static const char ddl_pre[] = "-- Table structure for table `";
	const char *l = c->line, *name = NULL;
	char *q;

	if (!strncmp(l, gtid_pre, sizeof(gtid_pre) - 1)) {
		const char *v = l + sizeof(gtid_pre) - 1;
		size_t n = strcspn(v, "'");
		pthread_mutex_lock(&c->mu);
		snprintf(c->gtid, sizeof(c->gtid), "%.*s", (int)n, v);
		pthread_mutex_unlock(&c->mu);
		return;
	}
	if (!strncmp(l, data_pre, sizeof(data_pre) - 1))
		name = l + sizeof(data_pre) - 1;
	else if (!strncmp(l, ddl_pre, sizeof(ddl_pre) - 1))
		name = l + sizeof(ddl_pre) - 1;
	if (!name)
		return;
	pthread_mutex_lock(&c->mu);
	if (!c->ntables ||
	    strncmp(c->tables[c->ntables - 1].name, name, strlen(c->tables[c->ntables - 1].name))) {
		XGROW(c->tables, c->alloc, c->ntables + 1);
		c->tables[c->ntables].name = xstrdup(name);
		q = strrchr(c->tables[c->ntables].name, '`');
		if (q)
			*q = '\0';
		c->tables[c->ntables].bytes = 0;
		c->ntables++;
	}
	pthread_mutex_unlock(&c->mu);
}

static void scan(struct mdb_copy *c, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n') {
			c->line[c->linelen] = '\0';
			if (!c->line_long || c->linelen)
				scan_line(c);
			c->linelen = 0;
			c->line_long = false;
		} else if (c->linelen < sizeof(c->line) - 1) {
			c->line[c->linelen++] = p[i];
		} else {
			c->line_long = true;
		}
	}
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *pump(void *arg)
{
	struct mdb_copy *c = arg;
	char chunk[1 << 16];
	sigset_t set;
	ssize_t n;
	int st, sd = -1, sc = -1, broken = 0;

	/* a client that dies must not kill ferry with SIGPIPE */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (;;) {
		n = read(c->out_fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		scan(c, chunk, (size_t)n);
		if (write_all(c->in_fd, chunk, (size_t)n) < 0) {
			broken = 1;
			break;
		}
		pthread_mutex_lock(&c->mu);
		c->bytes += n;
		if (c->ntables)
			c->tables[c->ntables - 1].bytes += n;
		pthread_mutex_unlock(&c->mu);
	}
	close(c->in_fd);
	c->in_fd = -1;
	if (broken)
		kill(c->dump, SIGTERM);
	if (waitpid(c->dump, &st, 0) == c->dump)
		sd = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (waitpid(c->client, &st, 0) == c->client)
		sc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	pthread_mutex_lock(&c->mu);
	if (sd != 0 || sc != 0 || !c->gtid[0]) {
		char head[300] = "";
		ssize_t got;
		lseek(c->err_fd, 0, SEEK_SET);
		got = read(c->err_fd, head, sizeof(head) - 1);
		head[got > 0 ? got : 0] = '\0';
		c->rc = FERRY_EREFUSED;
		snprintf(c->errmsg, sizeof(c->errmsg), "mariadb-dump %d, mariadb %d%s: %s", sd, sc,
		         sd == 0 && sc == 0 ? ", no GTID position in the dump" : "", head);
	}
	c->done = true;
	pthread_mutex_unlock(&c->mu);
	mdb_optfile_remove(&c->of_old);
	mdb_optfile_remove(&c->of_new);
	return NULL;
}

static int spawn(const char *prog, char **argv, int in, int out, int errfd, pid_t *pid,
                 struct ferry_error *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	char **envp;
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&at, 0);
	envp = secret_env_child(); /* no secret the plan names */
	rc = posix_spawnp(pid, prog, &fa, &at, argv, envp);
	free(envp);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		*pid = 0;
		return ferry_error_set(err, FERRY_EIO,
		                       "install the MariaDB client (mariadb-client)",
		                       "cannot run %s: %s", prog, strerror(rc));
	}
	return 0;
}

/* argv: the option file first (the client wants it first), then fixed. */
static char **build_argv(const char *const *fixed, const char *optfile, const char *last)
{
	size_t n = 0, i;
	char **v;

	while (fixed[n])
		n++;
	v = xcalloc(n + 4, sizeof(char *));
	v[0] = xstrdup(fixed[0]);
	v[1] = xasprintf("--defaults-extra-file=%s", optfile);
	for (i = 1; i < n; i++)
		v[i + 1] = xstrdup(fixed[i]);
	if (last)
		v[n + 1] = xstrdup(last);
	return v;
}

static void free_argv(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

int mdb_copy_start(struct mdb *m, struct ferry_error *err)
{
	struct mdb_copy *c = xcalloc(1, sizeof(*c));
	char tmpl[] = "/tmp/ferry-copy-XXXXXX";
	char **dargv = NULL, **cargv = NULL;
	int p1[2] = { -1, -1 }, p2[2] = { -1, -1 }, devnull = -1, rc;

	pthread_mutex_init(&c->mu, NULL);
	c->out_fd = c->in_fd = c->err_fd = -1;
	c->dbname = xstrdup(m->dbname);
	m->copy = c;
	rc = mdb_optfile_create(&c->of_old, &m->old.ep, m->old.password, err);
	if (rc == 0)
		rc = mdb_optfile_create(&c->of_new, &m->new.ep, m->new.password, err);
	if (rc < 0)
		goto fail;
	c->err_fd = mkstemp(tmpl);
	if (c->err_fd < 0 || pipe2(p1, O_CLOEXEC) < 0 || pipe2(p2, O_CLOEXEC) < 0) {
		rc = ferry_error_set(err, FERRY_EIO, NULL, "copy: %s", strerror(errno));
		goto fail;
	}
	unlink(tmpl);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	dargv = build_argv(mdb_dump_argv, c->of_old.path, m->dbname);
	cargv = build_argv(mdb_client_argv, c->of_new.path, NULL);
	rc = spawn("mariadb-dump", dargv, devnull, p1[1], c->err_fd, &c->dump, err);
	if (rc == 0)
		rc = spawn("mariadb", cargv, p2[0], devnull, c->err_fd, &c->client, err);
	close(p1[1]);
	close(p2[0]);
	p1[1] = p2[0] = -1;
	c->out_fd = p1[0];
	c->in_fd = p2[1];
	p1[0] = p2[1] = -1;
	if (rc < 0)
		goto fail;
	if (pthread_create(&c->th, NULL, pump, c) != 0) {
		rc = ferry_error_set(err, FERRY_EIO, NULL, "copy: cannot start a thread");
		goto fail;
	}
	c->started = true;
	free_argv(dargv);
	free_argv(cargv);
	if (devnull >= 0)
		close(devnull);
	return 0;
fail:
	free_argv(dargv);
	free_argv(cargv);
	if (devnull >= 0)
		close(devnull);
	if (p1[0] >= 0)
		close(p1[0]);
	if (p1[1] >= 0)
		close(p1[1]);
	if (p2[0] >= 0)
		close(p2[0]);
	if (p2[1] >= 0)
		close(p2[1]);
	mdb_copy_free(m);
	return ferry_error_prefix(err, "database %s", m->cfg->name);
}

int mdb_copy_poll(struct mdb *m, struct ferry_error *err)
{
	struct mdb_copy *c = m->copy;
	int rc = 1;

	if (!c)
		return ferry_error_set(err, FERRY_ESTATE, NULL, "database %s: no copy running",
		                       m->cfg->name);
	pthread_mutex_lock(&c->mu);
	if (c->done)
		rc = c->rc == 0
		             ? 0
		             : ferry_error_set(err, c->rc,
		                               "see the message; fix the cause and run again: the "
		                               "copy starts over",
		                               "database %s: the copy failed (%s)", m->cfg->name,
		                               c->errmsg);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

const char *mdb_copy_gtid(const struct mdb *m)
{
	return m->copy ? m->copy->gtid : "";
}

void mdb_copy_progress(const struct mdb *m, struct db_progress *out)
{
	struct mdb_copy *c = m->copy;
	size_t i;

	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	for (i = 0; i < c->ntables; i++) {
		struct db_table_progress *t;
		XGROW(out->v, out->alloc, out->n + 1);
		t = &out->v[out->n++];
		t->name = xasprintf("%s.%s", c->dbname, c->tables[i].name);
		t->state = i + 1 < c->ntables || c->done ? 'd' : 'c';
		t->ready = false;
		t->bytes = c->tables[i].bytes;
	}
	if (!c->ntables) { /* the head of the dump: no table yet */
		XGROW(out->v, out->alloc, out->n + 1);
		out->v[out->n].name = xasprintf("%s (starting)", c->dbname);
		out->v[out->n].state = 'c';
		out->v[out->n].ready = false;
		out->v[out->n].bytes = c->bytes;
		out->n++;
	}
	pthread_mutex_unlock(&c->mu);
}

void mdb_copy_free(struct mdb *m)
{
	struct mdb_copy *c = m->copy;
	size_t i;

	if (!c)
		return;
	if (c->started) {
		/* ends the copy early if it still runs: the pump sees EOF
		 * (each child leads a group of its own) */
		pthread_mutex_lock(&c->mu);
		if (!c->done) {
			kill(-c->dump, SIGTERM);
			kill(-c->client, SIGTERM);
		}
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->th, NULL);
	} else {
		int st;
		if (c->dump > 0) {
			kill(c->dump, SIGTERM);
			waitpid(c->dump, &st, 0);
		}
		if (c->client > 0) {
			kill(c->client, SIGTERM);
			waitpid(c->client, &st, 0);
		}
	}
	if (c->out_fd >= 0)
		close(c->out_fd);
	if (c->in_fd >= 0)
		close(c->in_fd);
	if (c->err_fd >= 0)
		close(c->err_fd);
	mdb_optfile_remove(&c->of_old);
	mdb_optfile_remove(&c->of_new);
	for (i = 0; i < c->ntables; i++)
		free(c->tables[i].name);
	free(c->tables);
	free(c->dbname);
	pthread_mutex_destroy(&c->mu);
	free(c);
	m->copy = NULL;
}
