/*
 * run.c - `ferry run PLAN`: advance the migration as far as the gates
 * allow (core/engine.h does the work; this file parses options and shows
 * progress).
 *
 * Exit codes (DESIGN §5): 0 done (or --until reached), 1 a gate or step
 * failed, 2 usage or plan error, 3 rolled back, 75 --no-wait and a time
 * gate not yet due.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/engine.h"
#include "util/timeutil.h"

enum {
	OPT_UNTIL = CMD_OPT_FIRST_PRIVATE,
	OPT_NO_WAIT,
	OPT_DRY_RUN,
	OPT_NOW,
};

struct progress {
	bool tty;
	bool live_shown; /* a live line is on the screen, to be overwritten */
};

static void progress(void *ctx, bool live, const char *line)
{
	struct progress *pr = ctx;

	if (live) {
		if (!pr->tty)
			return; /* countdowns only on a terminal */
		fprintf(stderr, "\r\033[K%s", line);
		pr->live_shown = true;
		return;
	}
	if (pr->live_shown)
		fputs("\r\033[K", stderr);
	pr->live_shown = false;
	printf("%s\n", line);
	fflush(stdout);
}

int cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONGOPTS,
		{ "until", required_argument, NULL, OPT_UNTIL },
		{ "no-wait", no_argument, NULL, OPT_NO_WAIT },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "now", required_argument, NULL, OPT_NOW },
		{ 0 },
	};
	struct progress pr = { .tty = isatty(STDERR_FILENO) };
	struct engine_opts o = { .progress = progress, .ctx = &pr, .progress_tty = pr.tty };
	struct cmd_common c = { 0 };
	struct ferry_error err = { 0 };
	enum engine_outcome outcome;
	struct engine *e = NULL;
	struct plan *p = NULL;
	char *state = NULL, at[32];
	const char *why;
	int opt, code = EXIT_DONE, r;

	while ((opt = getopt_long(argc, argv, CMD_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_UNTIL:
			if (engine_phase_parse(optarg, &o.until) < 0) {
				fprintf(stderr,
				        "ferry run: --until %s: not a phase (prepare, replicate, "
				        "validate, cutover, decommission)\n",
				        optarg);
				return EXIT_USAGE;
			}
			o.until_set = true;
			break;
		case OPT_NO_WAIT: o.no_wait = true; break;
		case OPT_DRY_RUN: o.dry_run = true; break;
		case OPT_NOW: o.now_reason = optarg; break;
		default:
			r = cmd_common_option(argv[0], opt, optarg, &c, &code);
			if (r < 0)
				return code;
			if (r == 0)
				return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		cmd_usage(argv[0], stderr);
		return EXIT_USAGE;
	}
	code = cmd_load_plan(argv[optind], &p);
	if (code != EXIT_DONE)
		return code;
	state = cmd_state_path(argv[optind], c.state);
	r = engine_open(&e, p, state, &o, &err);
	if (r == 0)
		r = engine_run(e, &outcome, &err);
	if (r < 0) {
		code = cmd_fail(&err);
		goto out;
	}
	switch (outcome) {
	case ENGINE_FINISHED:
		printf("ferry: migration %s complete\n", p->name);
		code = EXIT_DONE;
		break;
	case ENGINE_STOPPED: code = EXIT_DONE; break;
	case ENGINE_WAITING:
		time_rfc3339(engine_waiting_until(e, &why), at, sizeof(at));
		printf("ferry: waiting until %s: %s\n", at, why);
		code = o.dry_run ? EXIT_DONE : EXIT_WAITING;
		break;
	case ENGINE_ROLLED_BACK: code = EXIT_ROLLED_BACK; break;
	}
out:
	engine_close(e);
	free(state);
	plan_free(p);
	return code;
}
