/*
 * pgbouncer.c - the pooler switch (see pgbouncer.h).
 *
 * The admin console speaks the PostgreSQL protocol but only the simple-query
 * form, which is what db/pgsql.c sends for a query without parameters.  The
 * include file is handled through hosts/shell.c so that inside the write
 * pause nothing is spawned by ferry: the `mv` runs in the shell opened
 * before the pause.
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
	pb->path = host_shell_quote(cfg->include_path);
	tmp = xasprintf("%s.ferry-next", cfg->include_path);
	pb->next = host_shell_quote(tmp);
	free(tmp);
	tmp = xasprintf("%s.ferry-prev", cfg->include_path);
	pb->prev = host_shell_quote(tmp);
	free(tmp);
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
	rc = pgsql_exec(pb->admin, "SHOW DATABASES", 0, NULL, deadline_ms, &r, err);
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

/* pgbouncer's admin console does not take parameters: the alias goes into
 * the text.  It was checked to be a plain name. */
static int admin_cmd(struct pgbouncer *pb, const char *verb, char *sql, size_t len,
                     struct ferry_error *err)
{
	const char *p;

	for (p = pb->alias; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return ferry_error_set(err, FERRY_EINVAL, "use a plain database alias",
			                       "%s: alias '%s' has characters ferry will not "
			                       "send to the admin console",
			                       pb->name, pb->alias);
	snprintf(sql, len, "%s %s", verb, pb->alias);
	return 0;
}

int pgbouncer_pause_send(struct pgbouncer *pb, struct ferry_error *err)
{
	char sql[300];
	int rc = admin_cmd(pb, "PAUSE", sql, sizeof(sql), err);

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
	int rc = admin_cmd(pb, "RESUME", sql, sizeof(sql), err);

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
	return pgsql_exec(pb->admin, "RELOAD", 0, NULL, deadline_ms, NULL, err);
}

int pgbouncer_stage(struct pgbouncer *pb, const char *connstr, int64_t deadline_ms,
                    struct ferry_error *err)
{
	char *data, *cmd, *unq;
	struct buf out;
	int rc, status = 0;

	if (strstr(connstr, "password"))
		return ferry_error_set(err, FERRY_EINVAL, "use pgbouncer's auth_file",
		                       "%s: refusing to write a password into the include file",
		                       pb->name);
	data = xasprintf("[databases]\n%s = %s\n", pb->alias, connstr);
	unq = xasprintf("%s.ferry-next", pb->raw);
	rc = host_shell_write_file(pb->sh, unq, data, "0644", deadline_ms, err);
	free(unq);
	free(data);
	if (rc < 0)
		return rc;
	buf_init(&out, 4096);
	cmd = xasprintf("cp -f %s %s", pb->path, pb->prev);
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
	/* idempotent: a second commit finds no staged file and only reloads */
	char *cmd = xasprintf("if [ -e %s ]; then mv -f %s %s; fi", pb->next, pb->next, pb->path);
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
	return rc < 0 ? rc : pgsql_send(pb->admin, "RELOAD", 0, NULL, err);
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
	char *cmd = xasprintf("cp -f %s %s", pb->prev, pb->path);
	int rc = shell_then_reload(pb, cmd, deadline_ms, err);

	free(cmd);
	return rc;
}

int pgbouncer_point(struct pgbouncer *pb, const char *connstr, int64_t deadline_ms,
                    struct ferry_error *err)
{
	char *data, *unq;
	int rc;

	if (strstr(connstr, "password"))
		return ferry_error_set(err, FERRY_EINVAL, "use pgbouncer's auth_file",
		                       "%s: refusing to write a password into the include file",
		                       pb->name);
	data = xasprintf("[databases]\n%s = %s\n", pb->alias, connstr);
	unq = xstrdup(pb->raw);
	rc = host_shell_write_file(pb->sh, unq, data, "0644", deadline_ms, err);
	free(unq);
	free(data);
	if (rc == 0)
		rc = reload(pb, deadline_ms, err);
	return rc;
}
