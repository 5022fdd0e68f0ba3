/*
 * pgbouncer.c - the pgbouncer switch driver (switch.h).
 *
 * ferry acts on every pgbouncer that serves the application through two
 * interfaces pgbouncer already has:
 *  - the admin console (the "pgbouncer" pseudo-database, simple-query
 *    protocol): PAUSE db (answers once every server connection of db is
 *    idle; clients then queue), RESUME db, RELOAD, SHOW DATABASES;
 *  - an include file ferry owns on the pooler's host: pgbouncer.ini holds
 *    one line `%include PATH`, and PATH holds `[databases]\nALIAS = CONNSTR`.
 *    Pointing is writing PATH and RELOAD.
 *
 * Everything that costs time happens in open() and stage(), before the
 * pause: two admin connections (the second a spare) and two persistent
 * shells on the host (hosts/shell.h; the second a spare) are opened, and
 * the next include file is written to PATH.ferry-next and the current one
 * copied to PATH.ferry-prev.  Inside the pause POINT only renames
 * PATH.ferry-next to PATH (rename(2) on ferry's own host, where no process
 * is spawned; `mv` over the open shell on another) and sends RELOAD over
 * the open console; REVERT copies PATH.ferry-prev back.
 *
 * Both admin connections have hard deadlines (pgsql_set_hard_deadlines): a
 * PAUSE that cannot complete (a long statement holds a server connection)
 * is abandoned at its deadline by closing the connection, and the RESUME
 * that undoes it goes over the spare; a shell that missed a deadline is
 * likewise replaced by the spare shell.
 *
 * Every text sent (console commands, shell lines, the include file) comes
 * from one of the small builders below, which describe() uses too: the dry
 * run prints what the switch sends.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/pgsql.h"
#include "hosts/shell.h"
#include "switch/switch.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

struct sw_endpoint {
	char *name;
	char *alias;
	char *raw;                /* the include file's path */
	char *path, *next, *prev; /* shell-quoted paths */
	struct pgsql_conn *admin, *admin_spare;
	struct host_shell *sh, *sh_spare;
	bool shell_busy; /* POINT/REVERT: the shell command is in flight */
	bool local;      /* the host is ferry's own (no exec prefix) */
	int point_errno; /* a local POINT's rename(2): 0 or its errno */
};

/* ---- the texts, shared by the real calls and describe() ----------------- */

static const char cmd_show[] = "SHOW DATABASES";
static const char cmd_pools[] = "SHOW POOLS";
static const char cmd_reload[] = "RELOAD";
static const char include_mode[] = "0644";

/* The include file's path and its two siblings, shell-quoted. */
static void paths_make(const char *raw, char **path, char **next, char **prev)
{
	char *tmp;

	*path = host_shell_quote(raw);
	tmp = xasprintf("%s.ferry-next", raw);
	*next = host_shell_quote(tmp);
	free(tmp);
	tmp = xasprintf("%s.ferry-prev", raw);
	*prev = host_shell_quote(tmp);
	free(tmp);
}

/* pgbouncer's admin console does not take parameters: the alias goes into
 * the text.  It is checked to be a plain name. */
static int admin_cmd(const char *name, const char *alias, const char *verb, char *sql, size_t len,
                     struct ferry_error *err)
{
	const char *p;

	for (p = alias; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return ferry_error_set(err, FERRY_EINVAL, "use a plain database alias",
			                       "%s: alias '%s' has characters ferry will not "
			                       "send to the admin console",
			                       name, alias);
	snprintf(sql, len, "%s %s", verb, alias);
	return 0;
}

/* The [databases] entry for a target: where pgbouncer connects, without
 * ferry's user (the application's user logs in through it). */
static char *connstr(const struct sw_target *t)
{
	return xasprintf("host=%s port=%d dbname=%s", t->host, t->port,
	                 t->dbname ? t->dbname : "postgres");
}

/* The include file for alias -> target, or NULL with err set for a value
 * that would break the file (pgbouncer reads passwords from its
 * auth_file; a newline would add an entry). */
static char *include_data(const char *name, const char *alias, const struct sw_target *t,
                          struct ferry_error *err)
{
	char *cs = connstr(t), *data = NULL;

	/* never quoted: it may hold a secret */
	if (strpbrk(cs, "\n\r") || strstr(cs, "password"))
		ferry_error_set(err, FERRY_EINVAL,
		                "use pgbouncer's auth_file for passwords, and plain names",
		                "%s: refusing to write a password or a line break into the "
		                "include file",
		                name);
	else
		data = xasprintf("[databases]\n%s = %s\n", alias, cs);
	free(cs);
	return data;
}

static char *copy_cmd(const char *from, const char *to)
{
	return xasprintf("cp -f %s %s", from, to);
}

/* idempotent: a second POINT finds no staged file and only reloads */
static char *commit_cmd(const char *next, const char *path)
{
	return xasprintf("if [ -e %s ]; then mv -f %s %s; fi", next, next, path);
}

/* read-only: can ferry write the file and its siblings? */
static char *writable_cmd(const char *raw)
{
	char *dir = xstrdup(raw), *slash = strrchr(dir, '/'), *qdir, *qpath, *cmd;

	if (slash && slash != dir)
		*slash = '\0';
	else
		snprintf(dir, strlen(dir) + 1, "/");
	qdir = host_shell_quote(dir);
	qpath = host_shell_quote(raw);
	cmd = xasprintf("test -w %s && { [ ! -e %s ] || test -w %s; }", qdir, qpath, qpath);
	free(dir);
	free(qdir);
	free(qpath);
	return cmd;
}

/* ---- the connections ------------------------------------------------------ */

static void pb_close(struct sw_endpoint *pb)
{
	if (!pb)
		return;
	pgsql_free(pb->admin);
	pgsql_free(pb->admin_spare);
	host_shell_free(pb->sh);
	host_shell_free(pb->sh_spare);
	free(pb->name);
	free(pb->alias);
	free(pb->raw);
	free(pb->path);
	free(pb->next);
	free(pb->prev);
	free(pb);
}

static int config_ok(const struct sw_config *cfg, struct ferry_error *err)
{
	char sql[300];

	if (!cfg->dbalias || !*cfg->dbalias || !cfg->include_path || !*cfg->include_path ||
	    !cfg->admin)
		return ferry_error_set(
		        err, FERRY_EINVAL, "set switch.admin, switch.include and switch.database",
		        "%s: no admin console, include file or database alias", cfg->name);
	return admin_cmd(cfg->name, cfg->dbalias, "SHOW", sql, sizeof(sql), err);
}

static int pb_open(const struct sw_config *cfg, struct sw_endpoint **out, struct ferry_error *err)
{
	struct sw_endpoint *pb;
	char *what;
	int rc;

	*out = NULL;
	rc = config_ok(cfg, err);
	if (rc < 0)
		return rc;
	pb = xcalloc(1, sizeof(*pb));
	pb->name = xstrdup(cfg->name);
	pb->alias = xstrdup(cfg->dbalias);
	pb->raw = xstrdup(cfg->include_path);
	pb->local = cfg->nexec == 0;
	paths_make(cfg->include_path, &pb->path, &pb->next, &pb->prev);
	rc = pgsql_connect(&pb->admin, cfg->admin, cfg->admin_password, cfg->name, err);
	if (rc == 0)
		rc = pgsql_connect(&pb->admin_spare, cfg->admin, cfg->admin_password, cfg->name,
		                   err);
	if (rc == 0) {
		pgsql_set_hard_deadlines(pb->admin, true);
		pgsql_set_hard_deadlines(pb->admin_spare, true);
		what = xasprintf("%s host", cfg->name);
		rc = host_shell_open(&pb->sh, cfg->exec, cfg->nexec, what, err);
		if (rc == 0)
			rc = host_shell_open(&pb->sh_spare, cfg->exec, cfg->nexec, what, err);
		free(what);
	}
	if (rc < 0) {
		pb_close(pb);
		return rc;
	}
	*out = pb;
	return 0;
}

/* The admin connection to use: the main one, or the spare once the main
 * one was closed at a deadline. */
static struct pgsql_conn *admin(struct sw_endpoint *pb)
{
	if (!pgsql_ok(pb->admin) && pb->admin_spare) {
		pgsql_free(pb->admin);
		pb->admin = pb->admin_spare;
		pb->admin_spare = NULL;
	}
	return pb->admin;
}

static struct host_shell *shell(struct sw_endpoint *pb)
{
	if (host_shell_broken(pb->sh) && pb->sh_spare) {
		host_shell_free(pb->sh);
		pb->sh = pb->sh_spare;
		pb->sh_spare = NULL;
		pb->shell_busy = false;
	}
	return pb->sh;
}

static int admin_exec(struct sw_endpoint *pb, const char *sql, int64_t deadline,
                      struct pgsql_result *res, struct ferry_error *err)
{
	return pgsql_exec(admin(pb), sql, 0, NULL, deadline, res, err);
}

static int shell_run(struct sw_endpoint *pb, const char *cmd, int64_t deadline,
                     struct ferry_error *err)
{
	struct buf out;
	int rc, status = 0;

	buf_init(&out, 4096);
	rc = host_shell_run(shell(pb), cmd, deadline, &out, &status, err);
	if (rc == 0 && status != 0)
		rc = ferry_error_set(err, FERRY_EIO, "check the include file on the host",
		                     "%s: %.200s", pb->name, out.data);
	buf_release(&out);
	return rc;
}

/* ---- the verbs ------------------------------------------------------------ */

/* The index of r's column called name, or -1. */
static int col(const struct pgsql_result *r, const char *name)
{
	int j;

	for (j = 0; j < r->ncols; j++)
		if (!strcmp(r->names[j], name))
			return j;
	return -1;
}

static int pb_show(struct sw_endpoint *pb, struct sw_where *w, int64_t deadline,
                   struct ferry_error *err)
{
	struct pgsql_result r;
	int rc, i, cname, chost, cport, cdb, cpaused;

	memset(w, 0, sizeof(*w));
	rc = admin_exec(pb, cmd_show, deadline, &r, err);
	if (rc < 0)
		goto out;
	cname = col(&r, "name");
	chost = col(&r, "host");
	cport = col(&r, "port");
	cdb = col(&r, "database");
	cpaused = col(&r, "paused");
	if (cname < 0 || chost < 0 || cport < 0 || cdb < 0) {
		rc = ferry_error_set(err, FERRY_EPROTO, "is this pgbouncer >= 1.8?",
		                     "%s: SHOW DATABASES lacks expected columns", pb->name);
		goto out;
	}
	for (i = 0; i < r.nrows; i++) {
		const char *n = pgsql_result_get(&r, i, cname);
		if (!n || strcmp(n, pb->alias))
			continue;
		snprintf(w->host, sizeof(w->host), "%s", pgsql_result_get(&r, i, chost) ?: "");
		w->port = (int)pgsql_result_int(&r, i, cport, 0);
		snprintf(w->dbname, sizeof(w->dbname), "%s", pgsql_result_get(&r, i, cdb) ?: "");
		if (cpaused >= 0)
			w->paused = pgsql_result_int(&r, i, cpaused, 0) != 0;
		goto out;
	}
	rc = ferry_error_set(err, FERRY_ENOTFOUND, "check the include file and the alias",
	                     "%s: no database '%s' in SHOW DATABASES", pb->name, pb->alias);
out:
	pgsql_result_release(&r);
	return rc;
}

/* After RESUME the clients that queued in the pause wait for server
 * connections to the new target, which pgbouncer opens one at a time per
 * pool: polled every 2 ms until none of the entry's waits.  Each poll
 * has half a second of its own, so that reaching the deadline does not
 * close the console connection (its deadlines are hard). */
static int pb_served(struct sw_endpoint *pb, int64_t deadline, struct ferry_error *err)
{
	for (;;) {
		struct pgsql_result r;
		int64_t waiting = 0, now = time_mono_ms();
		int rc, i, cdb = -1, cwait = -1;

		rc = admin_exec(pb, cmd_pools, deadline > now + 500 ? deadline : now + 500, &r,
		                err);
		if (rc == 0) {
			cdb = col(&r, "database");
			cwait = col(&r, "cl_waiting");
		}
		if (rc == 0 && (cdb < 0 || cwait < 0))
			rc = ferry_error_set(err, FERRY_EPROTO, NULL,
			                     "%s: SHOW POOLS lacks expected columns", pb->name);
		for (i = 0; rc == 0 && i < r.nrows; i++) {
			const char *n = pgsql_result_get(&r, i, cdb);
			if (n && !strcmp(n, pb->alias))
				waiting += pgsql_result_int(&r, i, cwait, 0);
		}
		pgsql_result_release(&r);
		if (rc < 0 || waiting == 0)
			return rc;
		if (time_mono_ms() >= deadline)
			return ferry_error_set(err, FERRY_ETIMEDOUT, NULL,
			                       "%s: %lld clients still wait for a connection",
			                       pb->name, (long long)waiting);
		poll(NULL, 0, 2);
	}
}

static int pb_stage(struct sw_endpoint *pb, const struct sw_target *to, const char *side,
                    int64_t deadline, struct ferry_error *err)
{
	char *data, *cmd, *unq;
	int rc;

	(void)side;
	data = include_data(pb->name, pb->alias, to, err);
	if (!data)
		return err ? err->code : FERRY_EINVAL;
	unq = xasprintf("%s.ferry-next", pb->raw);
	rc = host_shell_write_file(shell(pb), unq, data, include_mode, deadline, err);
	free(unq);
	free(data);
	if (rc < 0)
		return rc;
	cmd = copy_cmd(pb->path, pb->prev);
	rc = shell_run(pb, cmd, deadline, err);
	free(cmd);
	return rc < 0 ? ferry_error_prefix(err, "cannot keep a copy of the include file") : 0;
}

static int pb_send(struct sw_endpoint *pb, enum sw_action a, struct ferry_error *err)
{
	char sql[300], *cmd;
	int rc;

	switch (a) {
	case SW_PAUSE:
	case SW_RESUME:
		rc = admin_cmd(pb->name, pb->alias, a == SW_PAUSE ? "PAUSE" : "RESUME", sql,
		               sizeof(sql), err);
		return rc < 0 ? rc : pgsql_send(admin(pb), sql, 0, NULL, err);
	case SW_POINT:
		/* on ferry's own host the staged file is renamed here: no
		 * process is spawned inside the pause (a missing one was
		 * renamed by an earlier POINT, as commit_cmd) */
		if (pb->local) {
			char *next = xasprintf("%s.ferry-next", pb->raw);
			pb->point_errno = rename(next, pb->raw) == 0 || errno == ENOENT ? 0 : errno;
			free(next);
			pb->shell_busy = true;
			return 0;
		}
		/* fallthrough */
	case SW_REVERT:
		cmd = a == SW_POINT ? commit_cmd(pb->next, pb->path) : copy_cmd(pb->prev, pb->path);
		rc = host_shell_send(shell(pb), cmd, err);
		free(cmd);
		pb->shell_busy = rc == 0;
		return rc;
	}
	BUG("sw_action %d", (int)a);
}

static int pb_wait(struct sw_endpoint *pb, enum sw_action a, int64_t deadline,
                   struct ferry_error *err)
{
	struct ferry_error e = { 0 };
	struct pgsql_result r;
	struct buf out;
	int rc, status = 0;

	switch (a) {
	case SW_PAUSE:
		rc = pgsql_wait(admin(pb), deadline, &r, &e);
		pgsql_result_release(&r);
		/* "already paused" / "already in progress": the pause holds */
		if (rc < 0 && rc != FERRY_ETIMEDOUT && strstr(e.msg, "already"))
			return 0;
		break;
	case SW_RESUME:
		rc = pgsql_wait(admin(pb), deadline, &r, &e);
		pgsql_result_release(&r);
		/* pgbouncer answers 08P01 "database X is not paused" */
		if (rc < 0 && strstr(e.msg, "is not paused"))
			return 0;
		break;
	case SW_POINT:
	case SW_REVERT:
		if (!pb->shell_busy)
			return ferry_error_set(err, FERRY_ESTATE, NULL, "%s: nothing sent",
			                       pb->name);
		pb->shell_busy = false;
		if (a == SW_POINT && pb->local) {
			rc = pb->point_errno == 0
			             ? admin_exec(pb, cmd_reload, deadline, NULL, &e)
			             : ferry_error_set(
			                       &e, FERRY_EIO, "check the include file's folder",
			                       "%s: cannot rename %s.ferry-next: %s", pb->name,
			                       pb->raw, strerror(pb->point_errno));
			break;
		}
		buf_init(&out, 4096);
		rc = host_shell_wait(pb->sh, deadline, &out, &status, &e);
		if (rc == 0 && status != 0)
			rc = ferry_error_set(&e, FERRY_EIO, "check the include file on the host",
			                     "%s: %.200s", pb->name, out.data);
		buf_release(&out);
		if (rc == 0)
			rc = admin_exec(pb, cmd_reload, deadline, NULL, &e);
		break;
	default: BUG("sw_action %d", (int)a);
	}
	if (rc < 0 && err)
		*err = e;
	return rc;
}

static int pb_point(struct sw_endpoint *pb, const struct sw_target *to, const char *side,
                    int64_t deadline, struct ferry_error *err)
{
	char *data;
	int rc;

	(void)side;
	data = include_data(pb->name, pb->alias, to, err);
	if (!data)
		return err ? err->code : FERRY_EINVAL;
	rc = host_shell_write_file(shell(pb), pb->raw, data, include_mode, deadline, err);
	free(data);
	if (rc == 0)
		rc = admin_exec(pb, cmd_reload, deadline, NULL, err);
	return rc;
}

static int pb_check(struct sw_endpoint *pb, const struct sw_target *expect, const char *object,
                    struct check_rows *out)
{
	struct ferry_error e = { 0 };
	struct sw_where w;
	char want[400], *cmd;
	int rc;

	rc = pb_show(pb, &w, time_mono_ms() + 5000, &e);
	if (rc < 0) {
		check_rows_add(out, "pooler", object, CHECK_FAIL,
		               "the cutover cannot pause or repoint this pooler", "%s", e.msg);
		return 0;
	}
	sw_target_format(expect, want, sizeof(want));
	if (!sw_where_is(&w, expect))
		check_rows_add(out, "pooler", object, CHECK_FAIL,
		               "the cutover would move writes from a database the "
		               "applications do not use",
		               "%s: %s points at %s:%d/%s, not at %s", pb->name, pb->alias, w.host,
		               w.port, w.dbname, want);
	else if (w.paused)
		check_rows_add(out, "pooler", object, CHECK_FAIL,
		               "writes held by a pause nobody will end",
		               "%s: %s is paused; RESUME it (or let `ferry run` recover)", pb->name,
		               pb->alias);
	else
		check_rows_add(out, "pooler", object, CHECK_OK, NULL,
		               "%s: console answers, %s points at %s, not paused", pb->name,
		               pb->alias, want);
	cmd = writable_cmd(pb->raw);
	rc = shell_run(pb, cmd, time_mono_ms() + 5000, &e);
	free(cmd);
	if (rc < 0)
		check_rows_add(out, "pooler include", object, CHECK_FAIL,
		               "the repoint inside the write pause fails, and the switch is undone",
		               "%s: %s cannot be written by ferry: %s", pb->name, pb->raw, e.msg);
	else
		check_rows_add(out, "pooler include", object, CHECK_OK, NULL,
		               "%s: %s and its folder can be written", pb->name, pb->raw);
	return 0;
}

/* ---- the dry run ---------------------------------------------------------- */

/* argv joined for reading: words with anything but [A-Za-z0-9_./=:@%+,-]
 * are shell-quoted, so the line is the command as a shell would take it */
static void add_argv(struct buf *out, const char *const *argv, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const char *w = argv[i];
		bool plain = *w != '\0';
		const char *p;
		for (p = w; *p && plain; p++)
			plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			        (*p >= '0' && *p <= '9') || strchr("_./=:@%+,-", *p);
		if (i)
			buf_addch(out, ' ');
		if (plain) {
			buf_adds(out, w);
		} else {
			char *q = host_shell_quote(w);
			buf_adds(out, q);
			free(q);
		}
	}
}

/* data with its newlines written as \n, on one line */
static void add_oneline(struct buf *out, const char *data)
{
	for (; *data; data++)
		if (*data == '\n')
			buf_adds(out, "\\n");
		else
			buf_addch(out, *data);
}

static int pb_describe(const struct sw_config *cfg, int what, const struct sw_target *to,
                       const char *side, const char *prefix, struct buf *out,
                       struct ferry_error *err)
{
	char *path = NULL, *next = NULL, *prev = NULL, *data = NULL, *cmd = NULL;
	const char *const sh_argv[] = { "sh" };
	char sql[300];
	struct buf o;
	int rc;

	(void)side;
	rc = config_ok(cfg, err);
	if (rc < 0)
		return rc;
	paths_make(cfg->include_path, &path, &next, &prev);
	/* built apart, then appended whole: a full out fails cleanly */
	buf_init(&o, 1 << 20);
	switch (what) {
	case SW_DESC_OPEN: {
		char *ci = pgsql_conninfo_scrub(cfg->admin);
		buf_addf(&o, "%s %s console: connect %s%s\n", prefix, cfg->name, ci,
		         cfg->admin_password ? "  -- password from its secret" : "");
		buf_addf(&o,
		         "%s %s console: connect %s  -- a spare, for a RESUME after a "
		         "deadline\n",
		         prefix, cfg->name, ci);
		free(ci);
		buf_addf(&o, "%s %s host: start ", prefix, cfg->name);
		add_argv(&o, cfg->exec, cfg->nexec);
		if (cfg->nexec)
			buf_addch(&o, ' ');
		add_argv(&o, sh_argv, 1);
		buf_adds(&o, "  -- twice (one spare), kept open: no spawn inside the pause\n");
		break;
	}
	case SW_DESC_SHOW:
		buf_addf(&o, "%s %s console: %s  -- alias %s must be listed\n", prefix, cfg->name,
		         cmd_show, cfg->dbalias);
		break;
	case SW_DESC_SERVED:
		buf_addf(&o,
		         "%s %s console: %s  -- every 2 ms until no client of %s waits for "
		         "a connection\n",
		         prefix, cfg->name, cmd_pools, cfg->dbalias);
		break;
	case SW_DESC_STAGE:
	case SW_DESC_POINT_NOW:
		data = include_data(cfg->name, cfg->dbalias, to, err);
		if (!data) {
			rc = err ? err->code : FERRY_EINVAL;
			break;
		}
		buf_addf(&o, "%s %s host: write %s (mode %s): ", prefix, cfg->name,
		         what == SW_DESC_STAGE ? next : path, include_mode);
		add_oneline(&o, data);
		buf_addch(&o, '\n');
		if (what == SW_DESC_STAGE) {
			cmd = copy_cmd(path, prev);
			buf_addf(&o, "%s %s host: %s\n", prefix, cfg->name, cmd);
		} else {
			buf_addf(&o, "%s %s console: %s\n", prefix, cfg->name, cmd_reload);
		}
		break;
	case SW_PAUSE:
	case SW_RESUME:
		rc = admin_cmd(cfg->name, cfg->dbalias, what == SW_PAUSE ? "PAUSE" : "RESUME", sql,
		               sizeof(sql), err);
		if (rc == 0)
			buf_addf(&o, "%s %s console: %s\n", prefix, cfg->name, sql);
		break;
	case SW_POINT:
	case SW_REVERT:
		cmd = what == SW_POINT ? commit_cmd(next, path) : copy_cmd(prev, path);
		if (what == SW_POINT && cfg->nexec == 0)
			buf_addf(
			        &o,
			        "%s %s host: rename %s %s  -- by ferry (rename(2)), if it exists\n",
			        prefix, cfg->name, next, path);
		else
			buf_addf(&o, "%s %s host: %s\n", prefix, cfg->name, cmd);
		buf_addf(&o, "%s %s console: %s\n", prefix, cfg->name, cmd_reload);
		break;
	default: BUG("describe %d", what);
	}
	free(cmd);
	free(data);
	free(path);
	free(next);
	free(prev);
	if (rc == 0 && buf_add(out, o.data, o.len) < 0)
		rc = ferry_error_set(err, FERRY_EPROTO, "give the buffer more room",
		                     "%s: the description does not fit", cfg->name);
	buf_release(&o);
	return rc;
}

const struct sw_driver sw_pgbouncer = {
	.name = "pgbouncer",
	.can_pause = true,
	.open = pb_open,
	.close = pb_close,
	.show = pb_show,
	.stage = pb_stage,
	.send = pb_send,
	.wait = pb_wait,
	.served = pb_served,
	.point = pb_point,
	.check = pb_check,
	.describe = pb_describe,
};
