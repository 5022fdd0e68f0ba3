/*
 * pgbouncer.h - the pooler switch: fence and repoint a pgbouncer.
 *
 * ferry moves an application's writes by acting on every pgbouncer that
 * serves it (the old host's and the new host's: during validation both point
 * at the old database).  It uses two interfaces pgbouncer already has:
 *  - the admin console (the "pgbouncer" pseudo-database, simple-query
 *    protocol): PAUSE db (returns once every server connection of db is idle,
 *    clients then queue), RESUME db, RELOAD, SHOW DATABASES;
 *  - an include file ferry owns on the pooler's host: pgbouncer.ini holds
 *    one line `%include PATH`, and PATH holds `[databases]\nALIAS = CONNSTR`.
 *    Repointing is writing PATH and RELOAD.
 *
 * Everything that costs time is done before the write pause: the admin
 * connection and a persistent shell on the host (hosts/shell.h) are opened
 * by pgbouncer_open(), and pgbouncer_stage() writes the next include file to
 * PATH.ferry-next.  Inside the pause, pgbouncer_commit() only sends
 * `mv -f PATH.ferry-next PATH` over the open shell and RELOAD over the open
 * console.
 *
 * Calling sequence (cutover):
 *	pgbouncer_open(&pb, &cfg, &err);            before the pause
 *	pgbouncer_stage(pb, "host=new port=5432 dbname=shop", &err);
 *	pgbouncer_pause_send(pb); pgbouncer_pause_wait(pb, deadline);  fence
 *	pgbouncer_commit(pb, deadline, &err);        repoint
 *	pgbouncer_resume(pb, deadline, &err);
 *	pgbouncer_free(pb);
 * Every step is idempotent: RESUME of a database that is not paused and
 * a commit whose staged file is already in place succeed.
 *
 * Ownership: a struct pgbouncer owns its admin connection and its host
 * shell.  The admin password is borrowed during pgbouncer_open() only.
 */
#ifndef FERRY_SWITCH_PGBOUNCER_H
#define FERRY_SWITCH_PGBOUNCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct pgbouncer_config {
	const char *name;           /* "pooler old": names it in messages */
	const char *admin;          /* conninfo of the admin console (dbname=pgbouncer) */
	const char *admin_password; /* may be NULL */
	const char *const *exec;    /* the host's exec prefix, nexec may be 0 */
	size_t nexec;
	const char *include_path; /* the include file ferry owns on that host */
	const char *dbalias;      /* the [databases] entry the application uses */
};

struct pgbouncer;

/* Opens the admin console and the host shell.  Returns 0, FERRY_EUNREACH,
 * FERRY_EAUTH, FERRY_EIO. */
int pgbouncer_open(struct pgbouncer **out, const struct pgbouncer_config *cfg,
                   struct ferry_error *err);
void pgbouncer_free(struct pgbouncer *pb);
const char *pgbouncer_name(const struct pgbouncer *pb);

/* The alias's entry as pgbouncer sees it now (SHOW DATABASES): host, port,
 * database name (each malloc'd; may be NULL) and whether it is paused.
 * Returns 0, FERRY_ENOTFOUND (no such alias), or an error. */
int pgbouncer_show(struct pgbouncer *pb, char **host, int *port, char **dbname, bool *paused,
                   int64_t deadline_ms, struct ferry_error *err);

/* PAUSE ALIAS, split so that several poolers pause in parallel.  wait
 * returns 0 once pgbouncer answered (every server connection idle);
 * FERRY_ETIMEDOUT (the PAUSE is cancelled by a RESUME, best effort). */
int pgbouncer_pause_send(struct pgbouncer *pb, struct ferry_error *err);
int pgbouncer_pause_wait(struct pgbouncer *pb, int64_t deadline_ms, struct ferry_error *err);
/* RESUME ALIAS; a database that is not paused counts as success. */
int pgbouncer_resume(struct pgbouncer *pb, int64_t deadline_ms, struct ferry_error *err);

/* Writes "[databases]\nALIAS = CONNSTR\n" to PATH.ferry-next on the host
 * and copies the current PATH to PATH.ferry-prev (before the pause).  connstr must not hold a password. */
int pgbouncer_stage(struct pgbouncer *pb, const char *connstr, int64_t deadline_ms,
                    struct ferry_error *err);
/* Moves PATH.ferry-next over PATH (if staged) and sends RELOAD.  Returns 0,
 * FERRY_ENOTFOUND (nothing staged and nothing to do is still 0: the move is
 * skipped when the staged file is gone), or an error. */
int pgbouncer_commit(struct pgbouncer *pb, int64_t deadline_ms, struct ferry_error *err);
/* pgbouncer_commit() and pgbouncer_resume() in parts, so that several
 * poolers are repointed and resumed at once inside the pause:
 *	commit_send (the mv goes out) -> commit_reload (mv done, RELOAD goes
 *	out) -> commit_wait (RELOAD done);  resume_send -> resume_wait. */
int pgbouncer_commit_send(struct pgbouncer *pb, struct ferry_error *err);
int pgbouncer_commit_reload(struct pgbouncer *pb, int64_t deadline_ms, struct ferry_error *err);
int pgbouncer_commit_wait(struct pgbouncer *pb, int64_t deadline_ms, struct ferry_error *err);
int pgbouncer_resume_send(struct pgbouncer *pb, struct ferry_error *err);
int pgbouncer_resume_wait(struct pgbouncer *pb, int64_t deadline_ms, struct ferry_error *err);

/* Puts back the include file as it was when staged (PATH.ferry-prev) and
 * RELOADs: the undo of a commit inside a pause that overran its budget. */
int pgbouncer_revert(struct pgbouncer *pb, int64_t deadline_ms, struct ferry_error *err);
/* Writes PATH directly and RELOADs (recovery and undo, outside a pause). */
int pgbouncer_point(struct pgbouncer *pb, const char *connstr, int64_t deadline_ms,
                    struct ferry_error *err);

/* The dry run: what a call would send to the pooler cfg, appended to out
 * without connecting, one line per command:
 *	"PREFIX NAME console: RELOAD" or "PREFIX NAME host: SHELL LINE"
 * NAME is cfg->name.  The texts come from the builders the calls use.
 *	PGBOUNCER_OPEN    pgbouncer_open(): the console (conninfo scrubbed)
 *	                  and the host shell (exec prefix + sh)
 *	PGBOUNCER_SHOW    pgbouncer_show()
 *	PGBOUNCER_STAGE   pgbouncer_stage(connstr): the staged file's content
 *	                  and the copy of the current one
 *	PGBOUNCER_PAUSE / _RESUME / _COMMIT / _REVERT / _POINT(connstr)
 * connstr is used by STAGE and POINT only.  Returns 0, FERRY_EINVAL
 * (what the real call would refuse: no alias or include path, an alias
 * that is not a plain name, a password in connstr), FERRY_EPROTO (out
 * reached its max). */
enum pgbouncer_action {
	PGBOUNCER_OPEN,
	PGBOUNCER_SHOW,
	PGBOUNCER_STAGE,
	PGBOUNCER_PAUSE,
	PGBOUNCER_COMMIT,
	PGBOUNCER_RESUME,
	PGBOUNCER_REVERT,
	PGBOUNCER_POINT,
};
struct buf;
int pgbouncer_describe(const struct pgbouncer_config *cfg, enum pgbouncer_action act,
                       const char *connstr, const char *prefix, struct buf *out,
                       struct ferry_error *err);

#endif
