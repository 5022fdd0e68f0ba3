/*
 * main.c - argv to the command table (git-style: one file per command).
 *
 *	ferry [-v|-q] COMMAND [ARGS]
 *
 * The table below is the whole command line; `ferry help` prints it and
 * `ferry help COMMAND` prints a command's usage.  See src/cmd/cmd.h for how
 * to add one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/log.h"

struct cmd_entry {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
	const char *usage;
};

static const struct cmd_entry commands[] = {
	{ "init", cmd_init, "write a commented starter plan", "ferry init [--force] [FILE]" },
	{ "plan", cmd_plan, "validate a plan and print its timeline",
	  "ferry plan PLAN [--json] [--state PATH]" },
	{ "check", cmd_check, "run every check now, change nothing",
	  "ferry check PLAN [--json] [--state PATH]" },
	{ "run", cmd_run, "advance the migration as far as the gates allow",
	  "ferry run PLAN [--until PHASE] [--no-wait] [--dry-run] [--now REASON] [--state PATH]" },
	{ "status", cmd_status, "where the migration stands: phase, gates, lag, weights, triggers",
	  "ferry status PLAN [--json] [--watch] [--state PATH]" },
	{ "rollback", cmd_rollback, "run the recorded rollback plan",
	  "ferry rollback PLAN [--dry-run] [--reason TEXT] [--state PATH]" },
	{ "report", cmd_report, "write the migration's HTML report from its journal",
	  "ferry report PLAN -o FILE.html|- [--state PATH]" },
	{ "probe", cmd_probe, "print this machine's fingerprint as JSON (env values as hashes)",
	  "ferry probe [--json] [--process NAME|--pidfile PATH|--unit UNIT] [--package NAME]... "
	  "[--salt HEX]" },
	{ "help", cmd_help, "show help for ferry or a command", "ferry help [COMMAND]" },
	{ "version", cmd_version, "print the version", "ferry version" },
};

static const struct cmd_entry *find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
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

static void overview(FILE *fp)
{
	size_t i;

	fprintf(fp, "usage: ferry [--version] [-v|-q] COMMAND [ARGS]\n\n"
	            "ferry moves a live service to a new server in five phases:\n"
	            "prepare, replicate, validate, cutover, decommission.\n\n"
	            "commands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(fp, "\n'ferry help COMMAND' shows a command's options; "
	            "'man ferry' the whole manual.\n");
}

int cmd_help(int argc, char **argv)
{
	const struct cmd_entry *c;

	if (argc < 2) {
		overview(stdout);
		return EXIT_DONE;
	}
	c = find(argv[1]);
	if (!c) {
		fprintf(stderr, "ferry: '%s' is not a command; see 'ferry help'\n", argv[1]);
		return EXIT_USAGE;
	}
	printf("usage: %s\n\n%s\n", c->usage, c->summary);
	return EXIT_DONE;
}

int main(int argc, char **argv)
{
	const struct cmd_entry *c;
	int i = 1;

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
		else {
			fprintf(stderr, "ferry: unknown option '%s'\n", argv[i]);
			overview(stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		overview(stderr);
		return EXIT_USAGE;
	}
	c = find(argv[i]);
	if (!c) {
		fprintf(stderr, "ferry: '%s' is not a command; see 'ferry help'\n", argv[i]);
		return EXIT_USAGE;
	}
	return c->fn(argc - i, argv + i);
}
