/*
 * cmd.h - the commands of ferry, one file each (src/cmd/NAME.c).
 *
 * A command parses its arguments, calls into core/ and the drivers, prints
 * results on stdout (or one JSON value with --json) and returns an exit code
 * from the table below.  It is the only layer that prints or exits.
 *
 * Adding a command:
 *  1. write src/cmd/NAME.c with `int cmd_NAME(int argc, char **argv)`;
 *     argv[0] is the command name, options follow (getopt_long, with
 *     CMD_COMMON_LONGOPTS and cmd_common_option() for the shared ones);
 *  2. declare it below and add a row to the table in src/main.c, with its
 *     one-line summary and usage text;
 *  3. add it to src/cmd/meson.build;
 *  4. write docs/ferry-NAME.1.scd and a README section;
 *  5. test its exit codes in tests/integration/.
 */
#ifndef FERRY_CMD_CMD_H
#define FERRY_CMD_CMD_H

#include <stdbool.h>
#include <stdio.h>

#include "plan/plan.h"
#include "util/error.h"

/* Exit codes (DESIGN §5); tests assert them. */
enum ferry_exit {
	EXIT_DONE = 0,
	EXIT_FAILED = 1, /* a check or gate failed */
	EXIT_USAGE = 2,  /* usage or plan error */
	EXIT_ROLLED_BACK = 3,
	EXIT_WAITING = 75, /* --no-wait and a time gate not yet due */
};

/* Options every command understands. */
struct cmd_common {
	bool json;
	const char *state; /* --state PATH, NULL for the default */
	/* Set by a command that reads no secret (status): a missing secret
	 * file is then a warning, not a plan error. */
	bool secrets_optional;
};

enum {
	CMD_OPT_JSON = 0x1000,
	CMD_OPT_STATE,
	CMD_OPT_COLOR,
	CMD_OPT_FIRST_PRIVATE = 0x1100, /* commands number their own from here */
};

#define CMD_COMMON_LONGOPTS                                                                        \
	{ "help", no_argument, NULL, 'h' }, { "json", no_argument, NULL, CMD_OPT_JSON },           \
	        { "state", required_argument, NULL, CMD_OPT_STATE },                               \
	        { "color", required_argument, NULL, CMD_OPT_COLOR },                               \
	        { "verbose", no_argument, NULL, 'v' },                                             \
	{                                                                                          \
		"quiet", no_argument, NULL, 'q'                                                    \
	}
#define CMD_COMMON_SHORTOPTS "hvq"

struct option;

/* The help lines of the common options (main.c prints them after a
 * command's own, "  NAME\tTEXT" each). */
#define CMD_HELP_COMMON                                                                            \
	"  --color WHEN\tauto (default: on a terminal, unless NO_COLOR is set), always, never\n"   \
	"  -v, --verbose\tmore log lines on stderr (twice: debug)\n"                               \
	"  -q, --quiet\terrors only\n"                                                             \
	"  -h, --help\tthis help\n"

/*
 * getopt_long() for a command: the common short options plus shortopts,
 * with getopt's own messages off.  An unknown option or a missing argument
 * is reported here, the ferry way ("did you mean '--json'?" from longopts,
 * as JSON on stdout under --json), and returned as '?' (the caller then
 * returns EXIT_USAGE, or lets cmd_common_option() do it).
 */
int cmd_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts);

/*
 * Handles one of the common options.  Returns 1 if it was one (and handled),
 * 0 if opt is not common, or -1 when the command must end now with
 * *exit_code: after its --help, a bad --color value or '?' (reported by
 * cmd_getopt()).
 */
int cmd_common_option(const char *cmd, int opt, const char *arg, struct cmd_common *c,
                      int *exit_code);

/* Prints "usage: ..." for cmd (from the table in main.c) to fp. */
void cmd_usage(const char *cmd, FILE *fp);
/* Prints cmd's whole help: usage, summary, options one line each, examples. */
void cmd_help_print(const char *cmd, FILE *fp);

/*
 * A usage error: "ferry CMD: MSG" (cmd may be NULL), "  hint: HINT" (may be
 * NULL) and cmd's usage line on stderr; under --json also the error object
 * on stdout (code "usage").  Returns EXIT_USAGE.
 */
int cmd_usage_error(const char *cmd, const char *msg, const char *hint);

/* --json anywhere on the command line (main.c sets it before the command
 * parses its options), so that every failure is a JSON object on stdout. */
void cmd_json_set(bool on);
bool cmd_json(void);
/* JSON lines (run, rollback): an error is one compact line like the events
 * before it. */
void cmd_json_lines_set(bool on);

/* --color=WHEN: "auto", "always" or "never".  Returns 0, or EXIT_USAGE
 * after saying why. */
int cmd_color_set(const char *when);
/* Whether to colour what goes to fp: --color=always, or auto (the default)
 * with fp a terminal, TERM not "dumb" and NO_COLOR unset or empty. */
bool cmd_color(FILE *fp);
/* The escape sequence for a colour ("green", "yellow", "red", "bold",
 * "reset"), or "" when fp gets no colour. */
const char *cmd_sgr(FILE *fp, const char *name);

/*
 * Shows a run's events (core/engine.h, engine_opts.progress with ctx a
 * struct cmd_progress): lines on stdout; live lines replaced in place on
 * a terminal (stderr), dropped elsewhere, where heartbeats stand in for
 * them; under --json one compact JSON object per line, {"t", "event":
 * "say"|"heartbeat", "phase", "object", "message", "waiting_for",
 * "until"}.
 */
struct engine_event;
struct cmd_progress {
	bool tty;  /* stderr is a terminal (and not --json): live lines shown */
	bool json; /* JSON lines on stdout */
	bool live_shown;
};
void cmd_progress_init(struct cmd_progress *pr, bool json);
void cmd_progress(void *ctx, const struct engine_event *ev);
/* One JSON line {"t", "event": EVENT, ...} from a jansson pack format of
 * the rest (stolen), for the outcome of run and rollback. */
void cmd_json_event(const char *event, const char *fmt, ...);

/* The default journal path for a plan: "DIR/NAME.ferry.db" where the plan is
 * DIR/NAME.yaml (or .yml).  Caller frees. */
char *cmd_state_path(const char *plan_path, const char *override);

/* A journal for the next migration of the same plan once one is complete:
 * STATE's name with today's date, "shop-20261126.ferry.db".  Caller frees. */
char *cmd_state_path_next(const char *state);

/* Prints err the one way ferry prints errors (stderr; under --json also
 * the object {"ok": false, "code", "message", "hint", "where", "exit"} on
 * stdout);
 * returns EXIT_USAGE for FERRY_EINVAL and EXIT_FAILED otherwise. */
int cmd_fail(const struct ferry_error *err);
/* The same with the exit code given. */
int cmd_fail_exit(const struct ferry_error *err, int exit_code);
/* hint with the word PLAN replaced by the plan's path as the command was
 * given it (cmd_start), so a hint is a command to copy. */
void cmd_hint_expand(const char *hint, char *out, size_t len);

/* Loads and validates the plan at path, printing every diagnostic (and
 * warnings) on stderr (and under --json the error object with every
 * diagnostic on stdout).  Also refuses a value that names something this
 * ferry does not have (core/support.h), and, unless secrets_optional, a
 * secret file that does not exist.  Returns EXIT_DONE and *out, or
 * EXIT_USAGE. */
int cmd_load_plan(const char *path, bool secrets_optional, struct plan **out);

/*
 * The prologue of a command that takes one PLAN: parses argv with
 * cmd_getopt(longopts), giving each option first to own (may be NULL),
 * which returns 0 when it took the option, 1 when it is not its own, or -1
 * for a bad value (it printed why); then the common options; then exactly
 * one PLAN, which it loads (printing every diagnostic) into *p, with the
 * journal's path in *state (when state is not NULL; caller frees).
 * Returns true to go on, or false with the exit code in *exit_code (usage
 * printed, or --help done).
 */
bool cmd_start(int argc, char **argv, const struct option *longopts,
               int (*own)(int opt, const char *arg, void *ctx), void *ctx, struct cmd_common *c,
               struct plan **p, char **state, int *exit_code);

int cmd_help(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_probe(int argc, char **argv);

#endif
