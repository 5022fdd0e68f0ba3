/*
 * main.c - argv to the command table (git-style: one file per command).
 *
 *	ferry [--version] [-v|-q] [--color WHEN] COMMAND [ARGS]
 *
 * The table below is the whole command line: `ferry help` prints its
 * summaries, `ferry help COMMAND` (or `ferry COMMAND --help`) a command's
 * usage, its options one line each and an example or two.  See
 * src/cmd/cmd.h for how to add a command.
 *
 * Before a command runs, main() says loudly on stderr when a test-only
 * environment variable is set (core/testenv.h), and notes `--json` so
 * that even a usage error is a JSON object on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/testenv.h"
#include "util/log.h"
#include "util/suggest.h"

struct cmd_entry {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
	const char *usage;
	/* One line per option, "  --NAME ARG<spaces>what it does\n"; the
	 * common ones (CMD_HELP_COMMON) are appended. */
	const char *options;
	const char *examples; /* "  $ ferry ...\n" lines */
};

#define JSON_OPT  "  --json\tprint one JSON object on stdout (errors too)\n"
#define STATE_OPT "  --state PATH\tthe journal (default: PLAN with .ferry.db for .yaml)\n"

static const struct cmd_entry commands[] = {
	{ "init", cmd_init, "write a commented starter plan", "ferry init [--force] [FILE]",
	  "  -f, --force\treplace FILE if it exists (default: refuse)\n",
	  "  $ ferry init shop.yaml\n" },
	{ "plan", cmd_plan, "validate a plan and print its timeline",
	  "ferry plan PLAN [--offline] [--json] [--state PATH]",
	  "  --offline\tvalidate without the network; TTLs from the plan's dns.ttl.steps\n" JSON_OPT
	          STATE_OPT,
	  "  $ ferry plan shop.yaml\n"
	  "  $ ferry plan shop.yaml --offline --json | jq .earliest_cutover\n" },
	{ "check", cmd_check, "run every check now, change nothing (but --rehearse)",
	  "ferry check PLAN [--rehearse] [--json] [--state PATH]",
	  "  --rehearse\tfirst time the DNS part of a rollback: rollback.canary to the new set "
	  "and back by compare-and-swap, resolvers watched; journaled\n" JSON_OPT STATE_OPT,
	  "  $ ferry check shop.yaml\n"
	  "  $ ferry check shop.yaml --rehearse\n"
	  "  $ ferry check shop.yaml --json | jq '.checks[] | select(.status != \"ok\")'\n" },
	{ "run", cmd_run, "advance the migration as far as the gates allow",
	  "ferry run PLAN [--until PHASE] [--no-wait] [--dry-run] [--now REASON] "
	  "[--heartbeat DURATION] [--json] [--state PATH]",
	  "  --until PHASE\tstop after PHASE (prepare replicate validate cutover decommission)\n"
	  "  --no-wait\texit 75 instead of waiting at a time gate (for cron)\n"
	  "  --dry-run\tprint every action from here to the end; change nothing\n"
	  "  --now REASON\tcut over outside the window; REASON is journaled\n"
	  "  --heartbeat DURATION\twithout a terminal, a line this often while waiting (default "
	  "1m; 0: none)\n"
	  "  --json\tone JSON object per line: each event, then the outcome or the "
	  "error\n" STATE_OPT,
	  "  $ ferry run shop.yaml --until prepare\n"
	  "  $ ferry run shop.yaml --now \"window missed, approved by Dana\"\n" },
	{ "status", cmd_status, "where the migration stands: phase, gates, lag, weights, triggers",
	  "ferry status PLAN [--json] [--watch] [--state PATH]",
	  "  --watch\tredraw every second (in place on a terminal)\n" JSON_OPT STATE_OPT,
	  "  $ ferry status shop.yaml\n"
	  "  $ ferry status shop.yaml --json | jq .phase\n" },
	{ "rollback", cmd_rollback, "run the recorded rollback plan",
	  "ferry rollback PLAN [--dry-run] [--reason TEXT] [--json] [--state PATH]",
	  "  --dry-run\tprint the recorded plan and every action; change nothing\n"
	  "  --reason TEXT\twhy, for the journal and the report\n"
	  "  --json\tone JSON object per line: each event, then the outcome or the "
	  "error\n" STATE_OPT,
	  "  $ ferry rollback shop.yaml --dry-run\n"
	  "  $ ferry rollback shop.yaml --reason \"checkout errors after cutover\"\n" },
	{ "report", cmd_report, "write the migration's HTML report from its journal",
	  "ferry report PLAN -o FILE.html|- [--state PATH]",
	  "  -o, --output FILE\twhere to write the page ('-': standard output)\n" STATE_OPT,
	  "  $ ferry report shop.yaml -o shop-report.html\n" },
	{ "probe", cmd_probe, "print this machine's fingerprint as JSON (env values as hashes)",
	  "ferry probe [--json] [--process NAME|--pidfile PATH|--unit UNIT] [--package NAME]... "
	  "[--salt HEX]",
	  "  --process NAME\tthe application's process, by name\n"
	  "  --pidfile PATH\tthe application's process, by pid file\n"
	  "  --unit UNIT\tthe application's process, by systemd unit\n"
	  "  --package NAME\ta package whose version to report (repeat)\n"
	  "  --salt HEX\tsalt the hashes (two runs compare)\n"
	  "  --json\taccepted; the output is JSON\n",
	  "  $ ferry probe --process shop-app --package postgresql-15 | jq .packages\n" },
	{ "help", cmd_help, "show help for ferry or a command", "ferry help [COMMAND]", "",
	  "  $ ferry help run\n" },
	{ "version", cmd_version, "print the version", "ferry version [--json]",
	  "  --json\tprint {\"version\": ...}\n", "  $ ferry version --json\n" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct cmd_entry *find(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

void cmd_usage(const char *cmd, FILE *fp)
{
	const struct cmd_entry *c = find(cmd);

	if (c)
		fprintf(fp, "usage: %s\n", c->usage);
}

/* Prints lines "  NAME\tTEXT" with NAME padded to a column. */
static void print_options(FILE *fp, const char *text)
{
	const char *p = text, *tab, *nl;

	while (*p) {
		nl = strchr(p, '\n');
		if (!nl)
			nl = p + strlen(p);
		tab = memchr(p, '\t', (size_t)(nl - p));
		if (tab)
			fprintf(fp, "%-24.*s %.*s\n", (int)(tab - p), p, (int)(nl - tab - 1),
			        tab + 1);
		else
			fprintf(fp, "%.*s\n", (int)(nl - p), p);
		p = *nl ? nl + 1 : nl;
	}
}

void cmd_help_print(const char *cmd, FILE *fp)
{
	const struct cmd_entry *c = find(cmd);

	if (!c)
		return;
	fprintf(fp, "usage: %s\n\n%s\n\noptions:\n", c->usage, c->summary);
	print_options(fp, c->options);
	print_options(fp, CMD_HELP_COMMON);
	fprintf(fp, "\nexample%s:\n%s\nsee also: man ferry-%s\n",
	        strchr(c->examples, '\n') != strrchr(c->examples, '\n') ? "s" : "", c->examples,
	        c->name);
}

static void overview(FILE *fp)
{
	size_t i;

	fprintf(fp, "usage: ferry [--version] [-v|-q] [--color WHEN] COMMAND [ARGS]\n\n"
	            "ferry moves a live service to a new server in five phases:\n"
	            "prepare, replicate, validate, cutover, decommission.\n\n"
	            "commands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(fp, "\n'ferry help COMMAND' shows a command's options; "
	            "'man ferry' the whole manual.\n");
}

/* "'plna' is not a command; did you mean 'plan'?" */
static int not_a_command(const char *word)
{
	const char *names[NCOMMANDS + 1], *s;
	char msg[256], hint[256];
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		names[i] = commands[i].name;
	names[NCOMMANDS] = NULL;
	s = suggest(word, names);
	if (s)
		snprintf(msg, sizeof(msg), "'%.64s' is not a command; did you mean '%s'?", word, s);
	else
		snprintf(msg, sizeof(msg), "'%.64s' is not a command", word);
	snprintf(hint, sizeof(hint), "'ferry help' lists the commands");
	return cmd_usage_error(NULL, msg, hint);
}

int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		overview(stdout);
		return EXIT_DONE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		cmd_help_print("help", stdout);
		return EXIT_DONE;
	}
	if (!find(argv[1]))
		return not_a_command(argv[1]);
	cmd_help_print(argv[1], stdout);
	return EXIT_DONE;
}

static int global_option(const char *arg)
{
	static const char *const opts[] = { "--version", "--help",  "--verbose",
		                            "--quiet",   "--color", NULL };
	char msg[256], word[80];
	const char *s;

	snprintf(word, sizeof(word), "%.*s", (int)strcspn(arg, "="), arg);
	s = suggest(word, opts);
	if (s)
		snprintf(msg, sizeof(msg), "unknown option '%.64s'; did you mean '%s'?", arg, s);
	else
		snprintf(msg, sizeof(msg), "unknown option '%.64s'", arg);
	return cmd_usage_error(NULL, msg, "'ferry help' shows the usage");
}

int main(int argc, char **argv)
{
	const struct cmd_entry *c;
	char warning[1024];
	int i = 1, k;

	for (k = 1; k < argc && strcmp(argv[k], "--"); k++)
		if (!strcmp(argv[k], "--json"))
			cmd_json_set(true);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--version"))
			return cmd_version(1, (char *[]){ "version", NULL });
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return cmd_help(1, (char *[]){ "help", NULL });
		else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
			log_level_current = log_level_current < LOG_LEVEL_DEBUG
			                            ? log_level_current + 1
			                            : LOG_LEVEL_DEBUG;
		else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))
			log_level_current = LOG_LEVEL_ERROR;
		else if (!strcmp(argv[i], "--json"))
			continue; /* noted above, for the errors */
		else if (!strncmp(argv[i], "--color=", 8)) {
			if (cmd_color_set(argv[i] + 8) < 0)
				return EXIT_USAGE;
		} else if (!strcmp(argv[i], "--color") && i + 1 < argc) {
			if (cmd_color_set(argv[++i]) < 0)
				return EXIT_USAGE;
		} else
			return global_option(argv[i]);
	}
	if (i >= argc) {
		overview(stderr);
		if (cmd_json())
			return cmd_usage_error(NULL, "no command given", "'ferry help' lists them");
		return EXIT_USAGE;
	}
	c = find(argv[i]);
	if (!c)
		return not_a_command(argv[i]);
	if (testenv_describe(warning, sizeof(warning)) > 0)
		fprintf(stderr, "%s", warning);
	return c->fn(argc - i, argv + i);
}
