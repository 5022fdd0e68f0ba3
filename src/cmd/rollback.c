/*
 * rollback.c - `ferry rollback PLAN`: run the recorded rollback plan by
 * hand, any time from the validate phase until the rollback window closes
 * (DESIGN §1, §2).
 *
 * In validate it sends no more traffic to the new server.  After a cutover
 * it runs the cutover in reverse (DNS, weights, each database drained back
 * through reverse replication) and returns the plan to the replicate
 * phase.  --dry-run prints the recorded plan and every action, changing
 * nothing.  Exit 0 when rolled back, 1 when it failed or is not possible
 * any more, 2 for a usage or plan error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/engine.h"
#include "journal/journal.h"
#include "util/buf.h"
#include "util/timeutil.h"

enum {
	OPT_DRY_RUN = CMD_OPT_FIRST_PRIVATE,
	OPT_REASON
};

/* The rollback plan the cutover recorded, for --dry-run. */
static char *recorded(const char *state)
{
	struct journal *j = NULL;
	char *plan = NULL;

	if (journal_open(&j, state, JOURNAL_OPEN_READONLY, NULL) == 0)
		journal_get(j, "rollback.plan", &plan, NULL);
	journal_close(j);
	return plan;
}

struct rollback_opts {
	struct engine_opts *eo;
	const char *reason;
};

static int own_option(int opt, const char *arg, void *ctx)
{
	struct rollback_opts *ro = ctx;

	if (opt == OPT_REASON && (!*arg || strspn(arg, " \t") == strlen(arg))) {
		cmd_usage_error("rollback", "--reason needs a text: it is journaled", NULL);
		return -1;
	}
	if (opt == OPT_DRY_RUN)
		ro->eo->dry_run = true;
	else if (opt == OPT_REASON)
		ro->reason = arg;
	else
		return 1;
	return 0;
}

int cmd_rollback(int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONGOPTS,
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "reason", required_argument, NULL, OPT_REASON },
		{ 0 },
	};
	struct cmd_progress pr;
	struct engine_opts o = { .progress = cmd_progress, .ctx = &pr, .heartbeat_ms = 60000 };
	struct cmd_common c = { 0 };
	struct ferry_error err = { 0 };
	struct rollback_opts ro = { &o, "by hand (ferry rollback)" };
	struct engine *e = NULL;
	struct plan *p = NULL;
	char *state = NULL, *plan_text = NULL;
	int code = EXIT_DONE, r;

	if (!cmd_start(argc, argv, longopts, own_option, &ro, &c, &p, &state, &code))
		return code;
	cmd_progress_init(&pr, c.json);
	o.progress_tty = pr.tty;
	if (o.dry_run)
		plan_text = recorded(state);
	if (plan_text && !c.json)
		printf("recorded at the cutover:\n%s\n", plan_text);
	r = engine_open(&e, p, state, &o, &err);
	if (r < 0)
		goto fail;
	switch (engine_phase_now(e)) {
	case ENGINE_PREPARE:
	case ENGINE_REPLICATE:
		if (c.json)
			cmd_json_event("outcome", "{s:s, s:s, s:s, s:i}", "outcome",
			               "nothing_to_do", "plan", p->name, "phase",
			               engine_phase_name(engine_phase_now(e)), "exit", EXIT_DONE);
		else
			printf("ferry: plan %s is in %s: no traffic and no writes moved yet, "
			       "nothing to roll back\n",
			       p->name, engine_phase_name(engine_phase_now(e)));
		code = EXIT_DONE;
		goto out;
	case ENGINE_DONE:
		ferry_error_set(&err, FERRY_ESTATE,
		                "the migration is complete; moving back is a new migration",
		                "plan %s: the rollback window has closed and replication was "
		                "removed",
		                p->name);
		goto fail;
	case ENGINE_VALIDATE:
	case ENGINE_CUTOVER:
	case ENGINE_DECOMMISSION: break;
	}
	if (o.dry_run) {
		struct buf text;

		buf_init(&text, 16 << 20);
		r = engine_describe(e, true, &text, &err);
		if (r == 0 && c.json)
			cmd_json_event("dry_run", "{s:s, s:s?, s:s}", "plan", p->name, "recorded",
			               plan_text, "actions", text.data);
		else if (r == 0)
			printf("%s", text.data);
		buf_release(&text);
		if (r < 0)
			goto fail;
		code = EXIT_DONE;
		goto out;
	}
	r = engine_resolve(e, &err);
	if (r < 0)
		goto fail;
	r = engine_rollback(e, ro.reason, &err);
	if (r < 0)
		goto fail;
	code = EXIT_DONE;
	if (c.json)
		cmd_json_event("outcome", "{s:s, s:s, s:i}", "outcome", "rolled_back", "plan",
		               p->name, "exit", code);
	goto out;
fail:
	code = cmd_fail(&err);
out:
	free(plan_text);
	engine_close(e);
	free(state);
	plan_free(p);
	return code;
}
