/*
 * common.c - what every command shares: common options, the journal path,
 * printing an error.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/log.h"
#include "util/mem.h"

int cmd_common_option(const char *cmd, int opt, const char *arg, struct cmd_common *c,
                      int *exit_code)
{
	switch (opt) {
	case CMD_OPT_JSON: c->json = true; return 1;
	case CMD_OPT_STATE: c->state = arg; return 1;
	case 'v':
		if (log_level_current < LOG_LEVEL_DEBUG)
			log_level_current++;
		return 1;
	case 'q': log_level_current = LOG_LEVEL_ERROR; return 1;
	case 'h':
		cmd_usage(cmd, stdout);
		*exit_code = EXIT_DONE;
		return -1;
	case '?':
		cmd_usage(cmd, stderr);
		*exit_code = EXIT_USAGE;
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

int cmd_fail(const struct ferry_error *err)
{
	ferry_error_print(err, stderr);
	return err->code == FERRY_EINVAL ? EXIT_USAGE : EXIT_FAILED;
}

bool cmd_start(int argc, char **argv, const struct option *longopts,
               int (*own)(int opt, const char *arg, void *ctx), void *ctx, struct cmd_common *c,
               struct plan **p, char **state, int *exit_code)
{
	int opt, r;

	*exit_code = EXIT_DONE;
	while ((opt = getopt_long(argc, argv, CMD_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
		r = own ? own(opt, optarg, ctx) : 1;
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
		cmd_usage(argv[0], stderr);
		*exit_code = EXIT_USAGE;
		return false;
	}
	*exit_code = cmd_load_plan(argv[optind], p);
	if (*exit_code != EXIT_DONE)
		return false;
	if (state)
		*state = cmd_state_path(argv[optind], c->state);
	return true;
}
