/*
 * version.c - `ferry version` / `ferry --version`.
 */
#include <stdio.h>

#include "cmd/cmd.h"
#include "version.h"

int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("ferry %s\n", FERRY_VERSION);
	return EXIT_DONE;
}
