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
#include "util/buf.h"
#include "util/suggest.h"
#include "util/timeutil.h"

enum {
	OPT_UNTIL = CMD_OPT_FIRST_PRIVATE,
	OPT_NO_WAIT,
	OPT_DRY_RUN,
	OPT_NOW,
	OPT_HEARTBEAT,
};

#define HEARTBEAT_DEFAULT_MS 60000

static int own_option(int opt, const char *arg, void *ctx)
{
	struct engine_opts *o = ctx;

	switch (opt) {
	case OPT_UNTIL:
		if (engine_phase_parse(arg, &o->until) < 0 || o->until == ENGINE_DONE) {
			const char *phases[ENGINE_DONE + 1], *s;
			char msg[160];
			int i;

			for (i = 0; i < ENGINE_DONE; i++)
				phases[i] = engine_phase_name((enum engine_phase)i);
			phases[ENGINE_DONE] = NULL;
			s = suggest(arg, phases);

			snprintf(msg, sizeof(msg), "--until %.32s: not a phase%s%s%s", arg,
			         s ? "; did you mean '" : "", s ? s : "", s ? "'?" : "");
			cmd_usage_error("run", msg,
			                "the phases: prepare, replicate, validate, cutover, "
			                "decommission");
			return -1;
		}
		o->until_set = true;
		return 0;
	case OPT_NO_WAIT: o->no_wait = true; return 0;
	case OPT_DRY_RUN: o->dry_run = true; return 0;
	case OPT_NOW:
		if (!*arg || strspn(arg, " \t") == strlen(arg)) {
			cmd_usage_error("run",
			                "--now needs a reason: it is journaled and shown in "
			                "the report",
			                "--now \"window missed; approved by NAME\"");
			return -1;
		}
		o->now_reason = arg;
		return 0;
	case OPT_HEARTBEAT:
		if (strcmp(arg, "0") &&
		    (duration_parse(arg, &o->heartbeat_ms) < 0 || o->heartbeat_ms < 1000)) {
			cmd_usage_error("run",
			                "--heartbeat: expected a duration of 1s or more, or 0",
			                "--heartbeat 5m; 0 for none");
			return -1;
		}
		if (!strcmp(arg, "0"))
			o->heartbeat_ms = 0;
		return 0;
	}
	return 1;
}

/* --dry-run: the text of engine_describe(), or under --json one object
 * {"event": "dry_run", "plan", "actions", "not_read"}. */
static int dry_run(struct engine *e, const struct plan *p, bool json, struct ferry_error *err)
{
	struct buf out;
	bool unread;
	int r;

	buf_init(&out, 16 << 20);
	r = engine_describe(e, false, &out, err);
	if (r < 0)
		goto done;
	unread = strstr(out.data, "\n== not read") != NULL;
	if (json)
		cmd_json_event("dry_run", "{s:s, s:s, s:b}", "plan", p->name, "actions", out.data,
		               "not_read", unread);
	else
		printf("dry run of plan %s: every action, in order; nothing is changed\n\n%s",
		       p->name, out.data);
	if (unread)
		fprintf(stderr, "ferry: the dry run could not read everything (listed under '== "
		                "not read' at its end); it shows the plan's values there\n");
done:
	buf_release(&out);
	return r;
}

/* A fresh run of a finished migration: when it finished, and how to start
 * another (a new journal), not "migration complete" as if it had just
 * happened. */
static int already_done(const struct plan *p, const char *state, const char *state_opt,
                        int64_t since_ms)
{
	char at[32], *next = cmd_state_path_next(state);

	time_rfc3339(since_ms / 1000, at, sizeof(at));
	if (cmd_json()) {
		cmd_json_event("outcome", "{s:s, s:s, s:s, s:s, s:i}", "outcome",
		               "already_finished", "plan", p->name, "finished", at, "next_state",
		               next, "exit", EXIT_DONE);
		free(next);
		return EXIT_DONE;
	}
	printf("ferry: migration %s already finished at %s (journal %s); nothing to do\n"
	       "  'ferry status %s%s%s' compares its end state with the world;\n"
	       "  to start another migration of this plan, give it a new journal:\n"
	       "  ferry run %s --state %s\n",
	       p->name, at, state, p->path, state_opt ? " --state " : "",
	       state_opt ? state_opt : "", p->path, next);
	free(next);
	return EXIT_DONE;
}

int cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONGOPTS,
		{ "until", required_argument, NULL, OPT_UNTIL },
		{ "no-wait", no_argument, NULL, OPT_NO_WAIT },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "now", required_argument, NULL, OPT_NOW },
		{ "heartbeat", required_argument, NULL, OPT_HEARTBEAT },
		{ 0 },
	};
	struct cmd_progress pr;
	struct engine_opts o = { .progress = cmd_progress,
		                 .ctx = &pr,
		                 .heartbeat_ms = HEARTBEAT_DEFAULT_MS };
	struct cmd_common c = { 0 };
	struct ferry_error err = { 0 };
	enum engine_outcome outcome;
	struct engine *e = NULL;
	struct plan *p = NULL;
	char *state = NULL, at[32];
	const char *why;
	int code = EXIT_DONE, r;

	if (!cmd_start(argc, argv, longopts, own_option, &o, &c, &p, &state, &code))
		return code;
	cmd_progress_init(&pr, c.json);
	o.progress_tty = pr.tty;
	r = engine_open(&e, p, state, &o, &err);
	if (r == 0 && o.dry_run) {
		r = dry_run(e, p, c.json, &err);
		if (r < 0)
			code = cmd_fail(&err);
		goto out;
	}
	if (r == 0 && engine_phase_now(e) == ENGINE_DONE) {
		code = already_done(p, state, c.state, engine_phase_since(e));
		goto out;
	}
	if (r == 0)
		r = engine_run(e, &outcome, &err);
	if (r < 0) {
		code = cmd_fail(&err);
		goto out;
	}
	switch (outcome) {
	case ENGINE_FINISHED:
		code = EXIT_DONE;
		if (c.json)
			cmd_json_event("outcome", "{s:s, s:s, s:i}", "outcome", "finished", "plan",
			               p->name, "exit", code);
		else
			printf("ferry: migration %s complete\n", p->name);
		break;
	case ENGINE_STOPPED:
		code = EXIT_DONE;
		if (c.json)
			cmd_json_event("outcome", "{s:s, s:s, s:s, s:i}", "outcome", "stopped",
			               "plan", p->name, "after", engine_phase_name(o.until), "exit",
			               code);
		break;
	case ENGINE_WAITING:
		time_rfc3339(engine_waiting_until(e, &why), at, sizeof(at));
		code = EXIT_WAITING;
		if (c.json)
			cmd_json_event("outcome", "{s:s, s:s, s:s, s:s, s:i}", "outcome", "waiting",
			               "plan", p->name, "until", at, "waiting_for", why, "exit",
			               code);
		else
			printf("ferry: waiting until %s: %s\n", at, why);
		break;
	case ENGINE_ROLLED_BACK:
		code = EXIT_ROLLED_BACK;
		if (c.json)
			cmd_json_event("outcome", "{s:s, s:s, s:i}", "outcome", "rolled_back",
			               "plan", p->name, "exit", code);
		break;
	}
out:
	engine_close(e);
	free(state);
	plan_free(p);
	return code;
}
