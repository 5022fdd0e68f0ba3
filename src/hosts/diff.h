/*
 * diff.h - comparing two fingerprints (probe.h): old host against new.
 *
 * hosts_diff_run() walks both sorted fact lists once and reports every key
 * missing on the new host, different, or extra on the new host, in the
 * categories os, timezone, locale, app, env, ports, packages, cron and
 * limits (conns are the egress check's input, not diffed).  Rows come only
 * for differences.  Hashes (env, cron) are shown as "sha256:" and their
 * first 12 hex digits; no value is ever shown in clear.
 *
 * Severities (the failure each prevents is in the row):
 *
 *	category   missing on new      different                 extra on new
 *	os         warn                warn (kernel too)         ok
 *	timezone   fail                fail                      fail
 *	locale     warn                warn                      ok
 *	app.found  fail: the application runs on old, not on new
 *	env        FAIL                warn                      ok
 *	ports      warn                warn (other bind scope)   ok
 *	packages   fail if installed on old and not on new; version differs: warn
 *	cron       warn                warn                      warn (runs twice)
 *	limits     warn                warn if lower on new, ok if higher
 *
 * env is compared only when both hosts found the application and read its
 * environment; otherwise one app row says why.  Variables that differ by
 * nature between two processes are never compared: HOSTNAME, PWD, OLDPWD,
 * SHLVL, _, INVOCATION_ID, JOURNAL_STREAM, SYSTEMD_EXEC_PID, MANAGERPID,
 * LISTEN_PID, LISTEN_FDS, NOTIFY_SOCKET.  app.pid, app.matches, app.source
 * are not compared.
 *
 * Ignoring: env names in ign->env (checks.env.ignore); keys in ign->keys
 * (checks.ignore) as "CATEGORY" (all of it), "CATEGORY.*" or "CATEGORY.KEY"
 * ("os.kernel", "ports.9100", "env.DEBUG").  An ignored difference is still
 * a row, with ignored = true and verdict CHECK_OK, so reports show it.
 *
 * Ownership: a struct hosts_diff owns its rows' strings; hosts_diff_release().
 */
#ifndef FERRY_HOSTS_DIFF_H
#define FERRY_HOSTS_DIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "util/check.h"
#include "hosts/probe.h"

enum hosts_change {
	HOSTS_MISSING,   /* on old, not on new */
	HOSTS_DIFFERENT, /* on both, other value */
	HOSTS_EXTRA      /* on new only */
};

const char *hosts_change_name(enum hosts_change c); /* "missing on new", ... */

struct hosts_diff_row {
	enum hosts_cat cat;
	char *key;
	char *old_value; /* NULL when missing on old; hashes shortened */
	char *new_value; /* NULL when missing on new */
	enum hosts_change change;
	enum check_status verdict;
	bool ignored;
	const char *prevents; /* static text */
};

struct hosts_diff {
	struct hosts_diff_row *v;
	size_t n, alloc;
};

struct hosts_diff_ignore {
	char *const *env; /* variable names */
	size_t nenv;
	char *const *keys; /* CATEGORY[.KEY|.*] */
	size_t nkeys;
};

void hosts_diff_init(struct hosts_diff *d);
void hosts_diff_release(struct hosts_diff *d);

/* Compares old with new into d (appending).  ign may be NULL.  Cannot fail. */
void hosts_diff_run(const struct hosts_fingerprint *old_fp, const struct hosts_fingerprint *new_fp,
                    const struct hosts_diff_ignore *ign, struct hosts_diff *d);

/* Appends one check row per diff row (check = category, object = key). */
void hosts_diff_rows(const struct hosts_diff *d, struct check_rows *out);

#endif
