/*
 * pgbouncer.c - the pooler switch (see pgbouncer.h).
 *
 * The admin console speaks the PostgreSQL protocol but only the simple-query
 * form, which is what db/pgsql.c sends for a query without parameters.  The
 * include file is handled through hosts/shell.c so that inside the write
 * pause nothing is spawned by ferry: the `mv` runs in the shell opened
 * before the pause.
 *
 * Every text sent (console commands, shell lines, the include file) is
 * built by one of the small builders below, which pgbouncer_describe()
 * uses too: the dry run prints what the switch sends.
 */
#include <stdlib.h>
#include <string.h>

#include "db/pgsql.h"
#include "hosts/shell.h"
#include "switch/pgbouncer.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

struct pgbouncer {
	char *name;
	char *alias;
	char *raw;                /* the include file's path */
	char *path, *next, *prev; /* shell-quoted paths */
	struct pgsql_conn *admin;
	struct host_shell *sh;
};

/* ---- the texts, shared by the real calls and pgbouncer_describe() ---- */

static const char cmd_show[] = "SHOW DATABASES";
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
 * the text.  It was checked to be a plain name. */
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

/* The include file for alias -> connstr, or NULL with err set when
 * connstr holds a password (pgbouncer reads it from its auth_file). */
static char *include_data(const char *name, const char *alias, const char *connstr,
                          struct ferry_error *err)
{
	if (strstr(connstr, "password")) {
		ferry_error_set(err, FERRY_EINVAL, "use pgbouncer's auth_file",
		                "%s: refusing to write a password into the include file", name);
		return NULL;
	}
	return xasprintf("[databases]\n%s = %s\n", alias, connstr);
}

static char *copy_cmd(const char *from, const char *to)
{
	return xasprintf("cp -f %s %s", from, to);
}

/* idempotent: a second commit finds no staged file and only reloads */
static char *commit_cmd(const char *next, const char *path)
{
	return xasprintf("if [ -e %s ]; then mv -f %s %s; fi", next, next, path);
}

const char *pgbouncer_name(const struct pgbouncer *pb)
{
	return pb->name;
}

void pgbouncer_free(struct pgbouncer *pb)
{
	if (!pb)
		return;
	pgsql_free(pb->admin);
	host_shell_free(pb->sh);
	free(pb->name);
	free(pb->alias);
	free(pb->raw);
	free(pb->path);
	free(pb->next);
	free(pb->prev);
	free(pb);
}

int pgbouncer_open(struct pgbouncer **out, const struct pgbouncer_config *cfg,
                   struct ferry_error *err)
{
	struct pgbouncer *pb;
	char *tmp;
	int rc;

	*out = NULL;
	if (!cfg->dbalias || !*cfg->dbalias || !cfg->include_path || !*cfg->include_path)
		return ferry_error_set(err, FERRY_EINVAL, "set switch.dbalias and the include path",
		                       "%s: no database alias or include file", cfg->name);
	pb = xcalloc(1, sizeof(*pb));
	pb->name = xstrdup(cfg->name);
	pb->alias = xstrdup(cfg->dbalias);
	pb->raw = xstrdup(cfg->include_path);
	paths_make(cfg->include_path, &pb->path, &pb->next, &pb->prev);
	rc = pgsql_connect(&pb->admin, cfg->admin, cfg->admin_password, cfg->name, err);
	if (rc < 0)
		goto out;
	tmp = xasprintf("%s host", cfg->name);
	rc = host_shell_open(&pb->sh, cfg->exec, cfg->nexec, tmp, err);
	free(tmp);
out:
	if (rc < 0) {
		pgbouncer_free(pb);
		return rc;
	}
	*out = pb;
	return 0;
}

int pgbouncer_show(struct pgbouncer *pb, char **host, int *port, char **dbname, bool *paused,
                   int64_t deadline_ms, struct ferry_error *err)
{
	struct pgsql_result r;
	int rc, i, j, cname = -1, chost = -1, cport = -1, cdb = -1, cpaused = -1;

	*host = *dbname = NULL;
	*port = 0;
	*paused = false;
	rc = pgsql_exec(pb->admin, cmd_show, 0, NULL, deadline_ms, &r, err);
	if (rc < 0)
		goto out;
	for (j = 0; j < r.ncols; j++) {
		if (!strcmp(r.names[j], "name"))
			cname = j;
		else if (!strcmp(r.names[j], "host"))
			chost = j;
		else if (!strcmp(r.names[j], "port"))
			cport = j;
		else if (!strcmp(r.names[j], "database"))
			cdb = j;
		else if (!strcmp(r.names[j], "paused"))
			cpaused = j;
	}
	if (cname < 0 || chost < 0 || cport < 0 || cdb < 0) {
		rc = ferry_error_set(err, FERRY_EPROTO, "is this pgbouncer >= 1.8?",
		                     "%s: SHOW DATABASES lacks expected columns", pb->name);
		goto out;
	}
	for (i = 0; i < r.nrows; i++) {
		const char *n = pgsql_result_get(&r, i, cname);
		if (!n || strcmp(n, pb->alias))
			continue;
		*host = xstrdup(pgsql_result_get(&r, i, chost));
		*port = (int)pgsql_result_int(&r, i, cport, 0);
		*dbname = xstrdup(pgsql_result_get(&r, i, cdb));
		if (cpaused >= 0)
			*paused = pgsql_result_int(&r, i, cpaused, 0) != 0;
		goto out;
	}
	rc = ferry_error_set(err, FERRY_ENOTFOUND, "check the include file and the alias",
	                     "%s: no database '%s' in SHOW DATABASES", pb->name, pb->alias);
out:
	pgsql_result_release(&r);
	return rc;
}

int pgbouncer_pause_send(struct pgbouncer *pb, struct ferry_error *err)
{
	char sql[300];
	int rc = admin_cmd(pb->name, pb->alias, "PAUSE", sql, sizeof(sql), err);

	return rc < 0 ? rc : pgsql_send(pb->admin, sql, 0, NULL, err);
}

int pgbouncer_pause_wait(struct pgbouncer *pb, int64_t deadline_ms, struct ferry_error *err)
{
	struct pgsql_result r;
	int rc;

	rc = pgsql_wait(pb->admin, deadline_ms, &r, err);
	pgsql_result_release(&r);
	/* "already in progress" / "already paused": the fence holds */
	if (rc < 0 && rc != FERRY_ETIMEDOUT && err && strstr(err->msg, "already"))
		return 0;
	if (rc == FERRY_ETIMEDOUT) {
		/* the cancelled PAUSE may have left the pool paused */
		struct ferry_error e2 = { 0 };
		pgbouncer_resume(pb, time_mono_ms() + 2000, &e2);
	}
	return rc;
}

int pgbouncer_resume_send(struct pgbouncer *pb, struct ferry_error *err)
{
	char sql[300];
	int rc = admin_cmd(pb->name, pb->alias, "RESUME", sql, sizeof(sql), err);

	return rc < 0 ? rc : pgsql_send(pb->admin, sql, 0, NULL, err);
}

int pgbouncer_resume_wait(struct pgbouncer *pb, int64_t deadline_ms, struct ferry_error *err)
{
	struct ferry_error e = { 0 };
	struct pgsql_result r;
	int rc = pgsql_wait(pb->admin, deadline_ms, &r, &e);

	pgsql_result_release(&r);
	/* pgbouncer answers 08P01 "database X is not paused" */
	if (rc < 0 && strstr(e.msg, "is not paused"))
		return 0;
	if (rc < 0 && err)
		*err = e;
	return rc;
}

int pgbouncer_resume(struct pgbouncer *pb, int64_t deadline_ms, struct ferry_error *err)
{
	int rc = pgbouncer_resume_send(pb, err);

	return rc < 0 ? rc : pgbouncer_resume_wait(pb, deadline_ms, err);
}

static int reload(struct pgbouncer *pb, int64_t deadline_ms, struct ferry_error *err)
{
	return pgsql_exec(pb->admin, cmd_reload, 0, NULL, deadline_ms, NULL, err);
}

int pgbouncer_stage(struct pgbouncer *pb, const char *connstr, int64_t deadline_ms,
                    struct ferry_error *err)
{
	char *data, *cmd, *unq;
	struct buf out;
	int rc, status = 0;

	data = include_data(pb->name, pb->alias, connstr, err);
	if (!data)
		return err ? err->code : FERRY_EINVAL;
	unq = xasprintf("%s.ferry-next", pb->raw);
	rc = host_shell_write_file(pb->sh, unq, data, include_mode, deadline_ms, err);
	free(unq);
	free(data);
	if (rc < 0)
		return rc;
	buf_init(&out, 4096);
	cmd = copy_cmd(pb->path, pb->prev);
	rc = host_shell_run(pb->sh, cmd, deadline_ms, &out, &status, err);
	if (rc == 0 && status != 0)
		rc = ferry_error_set(err, FERRY_EIO, "check the include file on the host",
		                     "%s: cannot keep a copy of the include file: %.200s", pb->name,
		                     out.data);
	free(cmd);
	buf_release(&out);
	return rc;
}

static int shell_then_reload(struct pgbouncer *pb, const char *cmd, int64_t deadline_ms,
                             struct ferry_error *err)
{
	struct buf out;
	int rc, status = 0;

	buf_init(&out, 4096);
	rc = host_shell_run(pb->sh, cmd, deadline_ms, &out, &status, err);
	if (rc == 0 && status != 0)
		rc = ferry_error_set(err, FERRY_EIO, "check the include file on the host",
		                     "%s: %.200s", pb->name, out.data);
	buf_release(&out);
	if (rc == 0)
		rc = reload(pb, deadline_ms, err);
	return rc;
}

int pgbouncer_commit_send(struct pgbouncer *pb, struct ferry_error *err)
{
	char *cmd = commit_cmd(pb->next, pb->path);
	int rc = host_shell_send(pb->sh, cmd, err);

	free(cmd);
	return rc;
}

int pgbouncer_commit_reload(struct pgbouncer *pb, int64_t deadline_ms, struct ferry_error *err)
{
	struct buf out;
	int rc, status = 0;

	buf_init(&out, 4096);
	rc = host_shell_wait(pb->sh, deadline_ms, &out, &status, err);
	if (rc == 0 && status != 0)
		rc = ferry_error_set(err, FERRY_EIO, "check the include file on the host",
		                     "%s: %.200s", pb->name, out.data);
	buf_release(&out);
	return rc < 0 ? rc : pgsql_send(pb->admin, cmd_reload, 0, NULL, err);
}

int pgbouncer_commit_wait(struct pgbouncer *pb, int64_t deadline_ms, struct ferry_error *err)
{
	struct pgsql_result r;
	int rc = pgsql_wait(pb->admin, deadline_ms, &r, err);

	pgsql_result_release(&r);
	return rc;
}

int pgbouncer_commit(struct pgbouncer *pb, int64_t deadline_ms, struct ferry_error *err)
{
	int rc = pgbouncer_commit_send(pb, err);

	if (rc == 0)
		rc = pgbouncer_commit_reload(pb, deadline_ms, err);
	return rc < 0 ? rc : pgbouncer_commit_wait(pb, deadline_ms, err);
}

int pgbouncer_revert(struct pgbouncer *pb, int64_t deadline_ms, struct ferry_error *err)
{
	char *cmd = copy_cmd(pb->prev, pb->path);
	int rc = shell_then_reload(pb, cmd, deadline_ms, err);

	free(cmd);
	return rc;
}

int pgbouncer_point(struct pgbouncer *pb, const char *connstr, int64_t deadline_ms,
                    struct ferry_error *err)
{
	char *data, *unq;
	int rc;

	data = include_data(pb->name, pb->alias, connstr, err);
	if (!data)
		return err ? err->code : FERRY_EINVAL;
	unq = xstrdup(pb->raw);
	rc = host_shell_write_file(pb->sh, unq, data, include_mode, deadline_ms, err);
	free(unq);
	free(data);
	if (rc == 0)
		rc = reload(pb, deadline_ms, err);
	return rc;
}

/* ---- the dry run -------------------------------------------------------- */

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

int pgbouncer_describe(const struct pgbouncer_config *cfg, enum pgbouncer_action act,
                       const char *connstr, const char *prefix, struct buf *out,
                       struct ferry_error *err)
{
	char *path = NULL, *next = NULL, *prev = NULL, *data = NULL, *cmd = NULL;
	const char *const sh_argv[] = { "sh" };
	char sql[300];
	struct buf o;
	int rc = 0;

	if (!cfg->dbalias || !*cfg->dbalias || !cfg->include_path || !*cfg->include_path)
		return ferry_error_set(err, FERRY_EINVAL, "set switch.dbalias and the include path",
		                       "%s: no database alias or include file", cfg->name);
	paths_make(cfg->include_path, &path, &next, &prev);
	/* built apart, then appended whole: a full out fails cleanly */
	buf_init(&o, 1 << 20);
	switch (act) {
	case PGBOUNCER_OPEN: {
		char *admin = pgsql_conninfo_scrub(cfg->admin);
		buf_addf(&o, "%s %s console: connect %s%s\n", prefix, cfg->name, admin,
		         cfg->admin_password ? "  -- password from its secret" : "");
		free(admin);
		buf_addf(&o, "%s %s host: start ", prefix, cfg->name);
		add_argv(&o, cfg->exec, cfg->nexec);
		if (cfg->nexec)
			buf_addch(&o, ' ');
		add_argv(&o, sh_argv, 1);
		buf_adds(&o, "  -- kept open: no spawn inside the pause\n");
		break;
	}
	case PGBOUNCER_SHOW:
		buf_addf(&o, "%s %s console: %s  -- alias %s must be listed\n", prefix, cfg->name,
		         cmd_show, cfg->dbalias);
		break;
	case PGBOUNCER_STAGE:
	case PGBOUNCER_POINT:
		data = include_data(cfg->name, cfg->dbalias, connstr ? connstr : "", err);
		if (!data) {
			rc = err ? err->code : FERRY_EINVAL;
			break;
		}
		buf_addf(&o, "%s %s host: write %s (mode %s): ", prefix, cfg->name,
		         act == PGBOUNCER_STAGE ? next : path, include_mode);
		add_oneline(&o, data);
		buf_addch(&o, '\n');
		if (act == PGBOUNCER_STAGE) {
			cmd = copy_cmd(path, prev);
			buf_addf(&o, "%s %s host: %s\n", prefix, cfg->name, cmd);
		} else {
			buf_addf(&o, "%s %s console: %s\n", prefix, cfg->name, cmd_reload);
		}
		break;
	case PGBOUNCER_PAUSE:
	case PGBOUNCER_RESUME:
		rc = admin_cmd(cfg->name, cfg->dbalias, act == PGBOUNCER_PAUSE ? "PAUSE" : "RESUME",
		               sql, sizeof(sql), err);
		if (rc == 0)
			buf_addf(&o, "%s %s console: %s\n", prefix, cfg->name, sql);
		break;
	case PGBOUNCER_COMMIT:
	case PGBOUNCER_REVERT:
		cmd = act == PGBOUNCER_COMMIT ? commit_cmd(next, path) : copy_cmd(prev, path);
		buf_addf(&o, "%s %s host: %s\n", prefix, cfg->name, cmd);
		buf_addf(&o, "%s %s console: %s\n", prefix, cfg->name, cmd_reload);
		break;
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
