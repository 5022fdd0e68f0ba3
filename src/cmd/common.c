/*
 * common.c - what every command shares: the option loop and its errors
 * ("did you mean"), the journal path, colour, loading the plan, and
 * printing an error (as text on stderr, and under --json as one object on
 * stdout, so that a script never reads an empty stdout).
 */
#include <ctype.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "core/engine.h"
#include "core/support.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/suggest.h"
#include "util/timeutil.h"

enum color_mode {
	COLOR_AUTO,
	COLOR_ALWAYS,
	COLOR_NEVER
};

static bool json_mode, json_lines;
static const char *plan_arg; /* the PLAN the command was given, for hints */
static enum color_mode color_mode = COLOR_AUTO;

void cmd_json_set(bool on)
{
	json_mode = on;
}

bool cmd_json(void)
{
	return json_mode;
}

void cmd_json_lines_set(bool on)
{
	json_lines = on;
}

static json_t *json_now(void)
{
	char t[32];

	time_rfc3339(time_now(), t, sizeof(t));
	return json_string(t);
}

/* Prints o on stdout (compact for JSON lines) and frees it. */
static void json_put(json_t *o)
{
	json_dumpf(o, stdout, json_lines ? JSON_COMPACT : JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(o);
}

/* {"ok": false, "code": CODE, "message": ..., "hint": ..., "where": ...,
 * "exit": N}, plus "errors"/"warnings" (stolen) when given; in JSON lines
 * also "t" and "event": "error". */
static void json_error(const char *code, const char *msg, const char *hint, const char *where,
                       int exit_code, json_t *errors, json_t *warnings)
{
	json_t *o = json_object();

	if (json_lines) {
		json_object_set_new(o, "t", json_now());
		json_object_set_new(o, "event", json_string("error"));
	}
	json_object_set_new(o, "ok", json_false());
	json_object_set_new(o, "code", json_string(code));
	json_object_set_new(o, "message", json_string(msg));
	json_object_set_new(o, "hint", hint && *hint ? json_string(hint) : json_null());
	json_object_set_new(o, "where", where && *where ? json_string(where) : json_null());
	json_object_set_new(o, "exit", json_integer(exit_code));
	if (errors)
		json_object_set_new(o, "errors", errors);
	if (warnings)
		json_object_set_new(o, "warnings", warnings);
	json_put(o);
}

void cmd_progress_init(struct cmd_progress *pr, bool json)
{
	memset(pr, 0, sizeof(*pr));
	pr->json = json;
	pr->tty = !json && isatty(STDERR_FILENO);
	if (json)
		cmd_json_lines_set(true);
}

void cmd_json_event(const char *event, const char *fmt, ...)
{
	json_t *o = json_object(), *rest;
	va_list ap;

	json_object_set_new(o, "t", json_now());
	json_object_set_new(o, "event", json_string(event));
	va_start(ap, fmt);
	rest = json_vpack_ex(NULL, 0, fmt, ap);
	va_end(ap);
	if (!rest)
		BUG("bad pack format %s", fmt);
	json_object_update(o, rest);
	json_decref(rest);
	json_put(o);
}

void cmd_progress(void *ctx, const struct engine_event *ev)
{
	struct cmd_progress *pr = ctx;
	char until[32];
	json_t *o;

	if (pr->json) {
		if (ev->kind == ENGINE_EVENT_LIVE)
			return; /* the heartbeats carry them, at a pace a log can take */
		o = json_object();
		json_object_set_new(o, "t", json_now());
		json_object_set_new(
		        o, "event",
		        json_string(ev->kind == ENGINE_EVENT_HEARTBEAT ? "heartbeat" : "say"));
		json_object_set_new(o, "phase", json_string(ev->phase));
		json_object_set_new(o, "object", json_string(ev->object));
		json_object_set_new(o, "message", json_string(ev->message));
		if (ev->waiting_for) {
			time_rfc3339(ev->until, until, sizeof(until));
			json_object_set_new(o, "gate", json_string(ev->gate));
			json_object_set_new(o, "waiting_for", json_string(ev->waiting_for));
			json_object_set_new(o, "until", json_string(until));
		}
		json_put(o);
		return;
	}
	if (ev->kind == ENGINE_EVENT_LIVE) {
		if (!pr->tty)
			return; /* countdowns only on a terminal; heartbeats elsewhere */
		fprintf(stderr, "\r\033[K%s", ev->line);
		pr->live_shown = true;
		return;
	}
	if (pr->live_shown)
		fputs("\r\033[K", stderr);
	pr->live_shown = false;
	printf("%s\n", ev->line);
	fflush(stdout);
}

int cmd_usage_error(const char *cmd, const char *msg, const char *hint)
{
	fprintf(stderr, "ferry%s%s: %s\n", cmd ? " " : "", cmd ? cmd : "", msg);
	if (hint && *hint)
		fprintf(stderr, "  hint: %s\n", hint);
	if (cmd)
		cmd_usage(cmd, stderr);
	if (json_mode)
		json_error("usage", msg, hint, NULL, EXIT_USAGE, NULL, NULL);
	return EXIT_USAGE;
}

/* "--jsn" -> "did you mean '--json'?" among the long options. */
static void bad_option(const char *cmd, const char *word, const struct option *longopts,
                       bool missing_arg)
{
	char msg[256], hint[128], name[80];
	const char *names[128], *s = NULL;
	size_t n = 0, len;

	len = strcspn(word, "=");
	snprintf(name, sizeof(name), "%.*s", (int)(len < 64 ? len : 64), word);
	if (missing_arg) {
		snprintf(msg, sizeof(msg), "option '%s' needs a value", name);
		snprintf(hint, sizeof(hint), "'ferry help %s' says what it takes", cmd);
		cmd_usage_error(cmd, msg, hint);
		return;
	}
	if (!strncmp(name, "--", 2)) {
		for (; longopts && longopts[n].name && n < 127; n++)
			names[n] = longopts[n].name;
		names[n] = NULL;
		s = suggest(name + 2, names);
	}
	if (s)
		snprintf(msg, sizeof(msg), "unknown option '%s'; did you mean '--%s'?", name, s);
	else
		snprintf(msg, sizeof(msg), "unknown option '%s'", name);
	snprintf(hint, sizeof(hint), "'ferry help %s' lists its options", cmd);
	cmd_usage_error(cmd, msg, hint);
}

int cmd_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
	char opts[64], word[3] = "-?";
	int opt;

	snprintf(opts, sizeof(opts), ":%s%s", CMD_COMMON_SHORTOPTS, shortopts ? shortopts : "");
	opterr = 0;
	opt = getopt_long(argc, argv, opts, longopts, NULL);
	if (opt != '?' && opt != ':')
		return opt;
	/* A long option's word is the one getopt just passed; a short one is
	 * optopt (which is 0 for an unknown long option). */
	if (optind > 0 && optind <= argc && !strncmp(argv[optind - 1], "--", 2)) {
		bad_option(argv[0], argv[optind - 1], longopts, opt == ':');
	} else {
		word[1] = (char)optopt;
		bad_option(argv[0], word, longopts, opt == ':');
	}
	return '?';
}

int cmd_color_set(const char *when)
{
	char msg[128];

	if (!strcmp(when, "auto"))
		color_mode = COLOR_AUTO;
	else if (!strcmp(when, "always"))
		color_mode = COLOR_ALWAYS;
	else if (!strcmp(when, "never"))
		color_mode = COLOR_NEVER;
	else {
		snprintf(msg, sizeof(msg), "--color %.32s: expected auto, always or never", when);
		return cmd_usage_error(NULL, msg, "auto colours a terminal unless NO_COLOR is set");
	}
	return 0;
}

bool cmd_color(FILE *fp)
{
	const char *no = getenv("NO_COLOR"), *term = getenv("TERM");

	if (color_mode != COLOR_AUTO)
		return color_mode == COLOR_ALWAYS;
	/* https://no-color.org: present and not empty */
	if (no && *no)
		return false;
	if (term && !strcmp(term, "dumb"))
		return false;
	return isatty(fileno(fp));
}

const char *cmd_sgr(FILE *fp, const char *name)
{
	static const struct {
		const char *name, *seq;
	} sgr[] = {
		{ "green", "\033[32m" }, { "yellow", "\033[33m" }, { "red", "\033[1;31m" },
		{ "bold", "\033[1m" },   { "reset", "\033[0m" },
	};
	size_t i;

	if (!cmd_color(fp))
		return "";
	for (i = 0; i < sizeof(sgr) / sizeof(sgr[0]); i++)
		if (!strcmp(sgr[i].name, name))
			return sgr[i].seq;
	return "";
}

int cmd_common_option(const char *cmd, int opt, const char *arg, struct cmd_common *c,
                      int *exit_code)
{
	switch (opt) {
	case CMD_OPT_JSON:
		c->json = true;
		json_mode = true;
		return 1;
	case CMD_OPT_STATE: c->state = arg; return 1;
	case CMD_OPT_COLOR:
		if (cmd_color_set(arg) == 0)
			return 1;
		*exit_code = EXIT_USAGE;
		return -1;
	case 'v':
		if (log_level_current < LOG_LEVEL_DEBUG)
			log_level_current++;
		return 1;
	case 'q': log_level_current = LOG_LEVEL_ERROR; return 1;
	case 'h':
		cmd_help_print(cmd, stdout);
		*exit_code = EXIT_DONE;
		return -1;
	case '?':
		*exit_code = EXIT_USAGE; /* cmd_getopt() said why */
		return -1;
	}
	return 0;
}

char *cmd_state_path(const char *plan_path, const char *override)
{
	size_t n = strlen(plan_path);

	if (override)
		return xstrdup(override);
	if (n > 5 && !strcmp(plan_path + n - 5, ".yaml"))
		n -= 5;
	else if (n > 4 && !strcmp(plan_path + n - 4, ".yml"))
		n -= 4;
	return xasprintf("%.*s.ferry.db", (int)n, plan_path);
}

void cmd_hint_expand(const char *hint, char *out, size_t len)
{
	const char *p = hint, *at;
	size_t used = 0;

	out[0] = '\0';
	while (plan_arg && (at = strstr(p, "PLAN")) != NULL) {
		bool word = (at == hint || !isalnum((unsigned char)at[-1])) &&
		            !isalnum((unsigned char)at[4]) && at[4] != '_';
		int n = snprintf(out + used, len > used ? len - used : 0, "%.*s%s", (int)(at - p),
		                 p, word ? plan_arg : "PLAN");

		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
		p = at + 4;
	}
	snprintf(out + used, len > used ? len - used : 0, "%s", p);
}

char *cmd_state_path_next(const char *state)
{
	size_t n = strlen(state);
	char day[32];

	time_rfc3339(time_now(), day, sizeof(day));
	if (n > 9 && !strcmp(state + n - 9, ".ferry.db"))
		n -= 9;
	return xasprintf("%.*s-%.4s%.2s%.2s.ferry.db", (int)n, state, day, day + 5, day + 8);
}

int cmd_fail_exit(const struct ferry_error *err, int exit_code)
{
	struct ferry_error e = *err;

	cmd_hint_expand(err->hint, e.hint, sizeof(e.hint));
	ferry_error_print(&e, stderr);
	if (json_mode)
		json_error(ferry_error_id(e.code), e.msg[0] ? e.msg : ferry_strerror(e.code),
		           e.hint, NULL, exit_code, NULL, NULL);
	return exit_code;
}

int cmd_fail(const struct ferry_error *err)
{
	return cmd_fail_exit(err, err->code == FERRY_EINVAL ? EXIT_USAGE : EXIT_FAILED);
}

/* "FILE:LINE:COLUMN" of a diagnostic (FILE alone when it has no place). */
static void diag_where(const struct plan_diag *g, char *out, size_t len)
{
	if (g->line > 0)
		snprintf(out, len, "%s:%d:%d", g->file, g->line, g->column);
	else
		snprintf(out, len, "%s", g->file);
}

/* The diagnostics as {"where", "message", "hint"} objects, errors or
 * warnings. */
static json_t *diags_json(const struct plan_diags *d, bool warnings)
{
	json_t *a = json_array();
	char where[1024];
	size_t i;

	for (i = 0; i < d->n; i++) {
		const struct plan_diag *g = &d->v[i];

		if (g->warning != warnings)
			continue;
		diag_where(g, where, sizeof(where));
		json_array_append_new(a, json_pack("{s:s, s:s, s:o}", "where", where, "message",
		                                   g->msg, "hint",
		                                   g->hint ? json_string(g->hint) : json_null()));
	}
	return a;
}

int cmd_load_plan(const char *path, bool secrets_optional, struct plan **out)
{
	struct ferry_error err = { 0 };
	struct plan_diags diags = { 0 };
	char where[1024] = "";
	struct buf text;
	size_t i, n;
	int r;

	r = plan_load_flags(path, secrets_optional ? 0 : PLAN_LOAD_SECRET_FILES, out, &diags, &err);
	if (r == 0 && (n = support_check_plan(*out, &diags)) > 0) {
		r = ferry_error_set(&err, FERRY_EINVAL, "fix them and run 'ferry plan' again",
		                    "plan %s: %zu error%s", path, n, n == 1 ? "" : "s");
		plan_free(*out);
		*out = NULL;
	}
	buf_init(&text, 1 << 20);
	plan_diags_format(&diags, &text);
	fputs(text.data, stderr);
	buf_release(&text);
	if (r < 0) {
		ferry_error_print(&err, stderr);
		for (i = 0; i < diags.n && !where[0]; i++)
			if (!diags.v[i].warning)
				diag_where(&diags.v[i], where, sizeof(where));
		if (json_mode)
			json_error(r == FERRY_EINVAL ? "plan" : ferry_error_id(r), err.msg,
			           err.hint, where, EXIT_USAGE, diags_json(&diags, false),
			           diags_json(&diags, true));
	}
	plan_diags_release(&diags);
	/* DESIGN §5: a plan error is a usage error */
	return r < 0 ? EXIT_USAGE : EXIT_DONE;
}

bool cmd_start(int argc, char **argv, const struct option *longopts,
               int (*own)(int opt, const char *arg, void *ctx), void *ctx, struct cmd_common *c,
               struct plan **p, char **state, int *exit_code)
{
	int opt, r;

	*exit_code = EXIT_DONE;
	while ((opt = cmd_getopt(argc, argv, NULL, longopts)) != -1) {
		r = own && opt != '?' ? own(opt, optarg, ctx) : 1;
		if (r < 0) {
			*exit_code = EXIT_USAGE;
			return false;
		}
		if (r == 0)
			continue;
		r = cmd_common_option(argv[0], opt, optarg, c, exit_code);
		if (r < 0)
			return false;
		if (r == 0) {
			*exit_code = EXIT_USAGE;
			return false;
		}
	}
	if (optind + 1 != argc) {
		*exit_code = cmd_usage_error(argv[0],
		                             optind >= argc ? "expected a PLAN (a .yaml file)"
		                                            : "expected one PLAN, found more",
		                             NULL);
		return false;
	}
	plan_arg = argv[optind];
	*exit_code = cmd_load_plan(argv[optind], c->secrets_optional, p);
	if (*exit_code != EXIT_DONE)
		return false;
	if (state)
		*state = cmd_state_path(argv[optind], c->state);
	return true;
}
