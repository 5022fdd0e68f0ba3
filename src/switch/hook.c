/*
 * hook.c - the hook switch driver (switch.h): the operator's own commands
 * point the applications at a database, for applications that read its
 * address from a file, a secret store or a platform API.
 *
 *	point   makes the applications use FERRY_SWITCH_HOST:PORT[/DBNAME]
 *	show    prints where they point now, HOST:PORT[/DBNAME], on its
 *	        first line
 *	revert  (optional) undoes point; without it, point is run with the
 *	        address show printed when the switch staged
 * Each command gets, in its environment, FERRY_SWITCH_HOST,
 * FERRY_SWITCH_PORT, FERRY_SWITCH_DBNAME (empty when the engine has none),
 * FERRY_SWITCH_SIDE (old|new) and FERRY_SWITCH_DATABASE (the plan's name),
 * and no secret.  Exit status 0 is success; anything else fails the step
 * with the command's first output line.
 *
 * The commands run in a persistent shell (hosts/shell.h) opened before the
 * pause, through the exec prefix of the host the plan names (none: this
 * machine), so ferry spawns nothing inside the pause (the shell starts the
 * operator's command, which is the point of a hook); a second shell is the
 * spare for after a deadline.  A hook cannot hold work: no PAUSE.
 */
#include <stdlib.h>
#include <string.h>

#include "hosts/shell.h"
#include "switch/switch.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

struct sw_endpoint {
	char *name, *database;
	struct host_shell *sh, *spare;
	char *point_words, *revert_words, *show_words; /* quoted argv */
	char *line_point, *line_revert;                /* staged */
	bool busy;
};

/* ---- the texts ---------------------------------------------------------------- */

static char *words(const char *const *argv, size_t n)
{
	struct buf b;
	size_t i;

	buf_init(&b, 1 << 16);
	for (i = 0; i < n; i++) {
		char *q = host_shell_quote(argv[i]);
		buf_addf(&b, "%s%s", i ? " " : "", q);
		free(q);
	}
	return buf_detach(&b, NULL);
}

/* "FERRY_SWITCH_HOST='h' ... WORDS": the command with its target */
static char *cmd_line(const char *wds, const char *host, int port, const char *dbname,
                      const char *side, const char *database)
{
	char *qh = host_shell_quote(host), *qd = host_shell_quote(dbname ? dbname : "");
	char *qs = host_shell_quote(side), *qdb = host_shell_quote(database ? database : "");
	char *line = xasprintf("FERRY_SWITCH_HOST=%s FERRY_SWITCH_PORT=%d FERRY_SWITCH_DBNAME=%s "
	                       "FERRY_SWITCH_SIDE=%s FERRY_SWITCH_DATABASE=%s %s",
	                       qh, port, qd, qs, qdb, wds);

	free(qh);
	free(qd);
	free(qs);
	free(qdb);
	return line;
}

static const char *other_side(const char *side)
{
	return side && !strcmp(side, "new") ? "old" : "new";
}

/* ---- the endpoint ---------------------------------------------------------- */

static void hk_close(struct sw_endpoint *k)
{
	if (!k)
		return;
	host_shell_free(k->sh);
	host_shell_free(k->spare);
	free(k->name);
	free(k->database);
	free(k->point_words);
	free(k->revert_words);
	free(k->show_words);
	free(k->line_point);
	free(k->line_revert);
	free(k);
}

static int config_ok(const struct sw_config *cfg, struct ferry_error *err)
{
	if (!cfg->npoint || !cfg->nshow)
		return ferry_error_set(err, FERRY_EINVAL, "set switch.point and switch.show",
		                       "%s: a hook switch needs a point and a show command",
		                       cfg->name);
	return 0;
}

static int hk_open(const struct sw_config *cfg, struct sw_endpoint **out, struct ferry_error *err)
{
	struct sw_endpoint *k;
	char *what;
	int rc;

	*out = NULL;
	rc = config_ok(cfg, err);
	if (rc < 0)
		return rc;
	k = xcalloc(1, sizeof(*k));
	k->name = xstrdup(cfg->name);
	k->database = xstrdup(cfg->database ? cfg->database : "");
	k->point_words = words(cfg->point_argv, cfg->npoint);
	k->show_words = words(cfg->show_argv, cfg->nshow);
	if (cfg->nrevert)
		k->revert_words = words(cfg->revert_argv, cfg->nrevert);
	what = xasprintf("%s shell", cfg->name);
	rc = host_shell_open(&k->sh, cfg->exec, cfg->nexec, what, err);
	if (rc == 0)
		rc = host_shell_open(&k->spare, cfg->exec, cfg->nexec, what, err);
	free(what);
	if (rc < 0) {
		hk_close(k);
		return rc;
	}
	*out = k;
	return 0;
}

static struct host_shell *shell(struct sw_endpoint *k)
{
	if (host_shell_broken(k->sh) && k->spare) {
		host_shell_free(k->sh);
		k->sh = k->spare;
		k->spare = NULL;
		k->busy = false;
	}
	return k->sh;
}

/* Runs line, which must exit 0; its output (bounded) in out if given. */
static int run_line(struct sw_endpoint *k, const char *line, int64_t deadline, struct buf *out,
                    struct ferry_error *err)
{
	struct buf o;
	int rc, status = 0;

	buf_init(&o, 64 << 10);
	rc = host_shell_run(shell(k), line, deadline, &o, &status, err);
	if (rc == 0 && status != 0)
		rc = ferry_error_set(err, FERRY_EREFUSED, "see what the hook printed",
		                     "%s: the hook exited %d: %.*s", k->name, status,
		                     (int)strcspn(o.data, "\n"), o.data);
	if (rc == 0 && out)
		buf_add(out, o.data, o.len);
	buf_release(&o);
	return rc;
}

static int hk_show(struct sw_endpoint *k, struct sw_where *w, int64_t deadline,
                   struct ferry_error *err)
{
	struct buf out;
	int rc;

	buf_init(&out, 64 << 10);
	rc = run_line(k, k->show_words, deadline, &out, err);
	if (rc == 0) {
		out.data[strcspn(out.data, "\n")] = '\0';
		rc = sw_where_parse(out.data, k->name, w, err);
	}
	buf_release(&out);
	return rc;
}

static int hk_stage(struct sw_endpoint *k, const struct sw_target *to, const char *side,
                    int64_t deadline, struct ferry_error *err)
{
	struct sw_where back;
	int rc;

	free(k->line_point);
	free(k->line_revert);
	k->line_point = k->line_revert = NULL;
	rc = hk_show(k, &back, deadline, err);
	if (rc < 0)
		return rc;
	k->line_point = cmd_line(k->point_words, to->host, to->port, to->dbname, side, k->database);
	k->line_revert =
	        cmd_line(k->revert_words ? k->revert_words : k->point_words, back.host, back.port,
	                 back.dbname[0] ? back.dbname : NULL, other_side(side), k->database);
	return 0;
}

static int hk_send(struct sw_endpoint *k, enum sw_action a, struct ferry_error *err)
{
	int rc;

	if (a == SW_PAUSE || a == SW_RESUME)
		return 0;
	if (!k->line_point)
		return ferry_error_set(err, FERRY_ESTATE, NULL, "%s: not staged", k->name);
	rc = host_shell_send(shell(k), a == SW_POINT ? k->line_point : k->line_revert, err);
	k->busy = rc == 0;
	return rc;
}

static int hk_wait(struct sw_endpoint *k, enum sw_action a, int64_t deadline,
                   struct ferry_error *err)
{
	struct buf o;
	int rc, status = 0;

	if (a == SW_PAUSE || a == SW_RESUME)
		return 0;
	if (!k->busy)
		return ferry_error_set(err, FERRY_ESTATE, NULL, "%s: nothing sent", k->name);
	k->busy = false;
	buf_init(&o, 64 << 10);
	rc = host_shell_wait(k->sh, deadline, &o, &status, err);
	if (rc == 0 && status != 0)
		rc = ferry_error_set(err, FERRY_EREFUSED, "see what the hook printed",
		                     "%s: the hook exited %d: %.*s", k->name, status,
		                     (int)strcspn(o.data, "\n"), o.data);
	buf_release(&o);
	return rc;
}

static int hk_point(struct sw_endpoint *k, const struct sw_target *to, const char *side,
                    int64_t deadline, struct ferry_error *err)
{
	char *line = cmd_line(k->point_words, to->host, to->port, to->dbname, side, k->database);
	int rc = run_line(k, line, deadline, NULL, err);

	free(line);
	return rc;
}

static int hk_check(struct sw_endpoint *k, const struct sw_target *expect, const char *object,
                    struct check_rows *out)
{
	struct ferry_error e = { 0 };
	struct sw_where w;
	char want[300];

	sw_target_format(expect, want, sizeof(want));
	if (hk_show(k, &w, time_mono_ms() + 10000, &e) < 0)
		check_rows_add(out, "switch hook", object, CHECK_FAIL,
		               "the cutover cannot tell where the applications point", "%s", e.msg);
	else if (!sw_where_is(&w, expect))
		check_rows_add(out, "switch hook", object, CHECK_FAIL,
		               "the cutover would move writes from a database the applications do "
		               "not use",
		               "%s: show says %s:%d, not %s", k->name, w.host, w.port, want);
	else
		check_rows_add(out, "switch hook", object, CHECK_OK, NULL,
		               "%s: show says the applications use %s", k->name, want);
	return 0;
}

static int hk_describe(const struct sw_config *cfg, int what, const struct sw_target *to,
                       const char *side, const char *prefix, struct buf *out,
                       struct ferry_error *err)
{
	char *pw = NULL, *line = NULL;
	struct buf o;
	int rc;

	rc = config_ok(cfg, err);
	if (rc < 0)
		return rc;
	buf_init(&o, 1 << 16);
	switch (what) {
	case SW_DESC_OPEN:
		buf_addf(&o, "%s %s shell: start ", prefix, cfg->name);
		if (cfg->nexec) {
			line = words(cfg->exec, cfg->nexec);
			buf_addf(&o, "%s ", line);
		}
		buf_adds(&o, "sh  -- twice (one spare), kept open: no spawn by ferry in the "
		             "pause\n");
		break;
	case SW_DESC_SHOW:
	case SW_DESC_STAGE:
		line = words(cfg->show_argv, cfg->nshow);
		buf_addf(&o, "%s %s shell: %s  -- %s\n", prefix, cfg->name, line,
		         what == SW_DESC_SHOW ? "prints HOST:PORT[/DBNAME]"
		                              : "where it points now, for a revert");
		break;
	case SW_POINT:
	case SW_DESC_POINT_NOW:
		pw = words(cfg->point_argv, cfg->npoint);
		line = cmd_line(pw, to->host, to->port, to->dbname, side, cfg->database);
		buf_addf(&o, "%s %s shell: %s\n", prefix, cfg->name, line);
		break;
	case SW_REVERT:
		pw = cfg->nrevert ? words(cfg->revert_argv, cfg->nrevert)
		                  : words(cfg->point_argv, cfg->npoint);
		buf_addf(&o, "%s %s shell: FERRY_SWITCH_HOST=... (where show said it pointed) %s\n",
		         prefix, cfg->name, pw);
		break;
	case SW_PAUSE:
	case SW_RESUME: break;
	default: BUG("describe %d", what);
	}
	free(pw);
	free(line);
	if (buf_add(out, o.data, o.len) < 0)
		rc = ferry_error_set(err, FERRY_EPROTO, "give the buffer more room",
		                     "%s: the description does not fit", cfg->name);
	buf_release(&o);
	return rc;
}

const struct sw_driver sw_hook = {
	.name = "hook",
	.can_pause = false,
	.open = hk_open,
	.close = hk_close,
	.show = hk_show,
	.stage = hk_stage,
	.send = hk_send,
	.wait = hk_wait,
	.point = hk_point,
	.check = hk_check,
	.describe = hk_describe,
};
