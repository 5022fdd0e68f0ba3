/*
 * version.c - `ferry version [--json]` / `ferry --version`.
 */
#include <getopt.h>
#include <stdio.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "version.h"

int cmd_version(int argc, char **argv)
{
	static const struct option longopts[] = { CMD_COMMON_LONGOPTS, { 0 } };
	struct cmd_common c = { 0 };
	int opt, r, code = EXIT_DONE;
	json_t *o;

	optind = 1;
	while ((opt = cmd_getopt(argc, argv, NULL, longopts)) != -1) {
		r = cmd_common_option(argv[0], opt, optarg, &c, &code);
		if (r < 0)
			return code;
		if (r == 0)
			return EXIT_USAGE;
	}
	if (optind < argc)
		return cmd_usage_error(argv[0], "takes no arguments", NULL);
	if (!c.json) {
		printf("ferry %s\n", FERRY_VERSION);
		return EXIT_DONE;
	}
	o = json_pack("{s:s}", "version", FERRY_VERSION);
	json_dumpf(o, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(o);
	return EXIT_DONE;
}
