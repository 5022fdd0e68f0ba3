/*
 * hooks.c - the plan's hooks (DESIGN §5): at each phase event, a command run
 * on this machine or a webhook POSTed, with one JSON object describing the
 * event ({"plan", "event", "phase", "round"}) on the command's standard
 * input or as the request body.
 *
 * Each hook is a journaled step, run once per cutover round.  A before_*
 * hook that fails (non-zero exit, a timeout, no answer, or an HTTP status
 * outside 2xx) blocks what it guards, like a gate, in the pattern of
 * Flagger's webhooks; a failing after_* or on_* hook is reported and
 * journaled but blocks nothing (what it follows has already happened).
 * Only the exit status and the first line of a command's output are
 * journaled: a hook's output is not ferry's to keep.
 *
 * A webhook's URL may hold a token (Slack's and most chat services' keep
 * it in the path): the plan may keep it in a file or an environment
 * variable (url_file, url_env), read only when the hook runs, and
 * wherever ferry names a webhook it shows scheme://host only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/engine_internal.h"
#include "hosts/exec.h"
#include "hosts/http.h"
#include "util/buf.h"
#include "util/mem.h"

#define HOOK_TIMEOUT_MS 60000

static void first_line(const char *s, char *out, size_t len)
{
	size_t n = strcspn(s, "\n");

	snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), s);
}

void engine_hook_label(const struct plan_hook *h, char *out, size_t len)
{
	char origin[256];

	if (h->url) {
		hosts_http_origin(h->url, origin, sizeof(origin));
		snprintf(out, len, "webhook %s", origin);
	} else if (h->url_ref.env) {
		snprintf(out, len, "webhook url_env %s", h->url_ref.env);
	} else if (h->url_ref.file) {
		snprintf(out, len, "webhook url_file %s", h->url_ref.file);
	} else {
		snprintf(out, len, "%s", h->argv.n ? h->argv.v[0] : "?");
	}
}

static int post(const struct plan *plan, const struct plan_hook *h, const char *body, char *result,
                size_t len, struct ferry_error *err)
{
	char origin[256];
	struct buf url;
	long status = 0;
	int r;

	buf_init(&url, 64 << 10); /* a secret's limit (plan_secret_read) */
	if (h->url)
		r = buf_adds(&url, h->url);
	else
		r = plan_secret_read(plan, &h->url_ref, &url, err);
	if (r < 0) {
		ferry_error_prefix(err, "hook %s: webhook URL", h->event);
		goto out;
	}
	hosts_http_origin(url.data, origin, sizeof(origin));
	r = hosts_http_post_json(url.data, body, HOOK_TIMEOUT_MS, &status, err);
	if (r < 0)
		goto out;
	snprintf(result, len, "HTTP %ld from %s", status, origin);
	if (status < 200 || status > 299)
		r = ferry_error_set(err, FERRY_ECHECK, NULL, "hook %s: webhook %s answered %ld",
		                    h->event, origin, status);
out:
	buf_release_secret(&url);
	return r;
}

static int run_one(const struct plan *plan, const struct plan_hook *h, const char *body,
                   char *result, size_t len, struct ferry_error *err)
{
	if (!h->argv.n) {
		return post(plan, h, body, result, len, err);
	} else {
		struct hosts_target local = { .name = "hook" };
		struct hosts_exec_result res;
		char line[200];
		int r;

		hosts_exec_result_init(&res);
		r = hosts_exec(&local, (const char *const *)h->argv.v, body, strlen(body),
		               HOOK_TIMEOUT_MS, &res, err);
		if (r == 0) {
			first_line(res.out.len ? res.out.data : res.err.data, line, sizeof(line));
			snprintf(result, len, "exit %d%s%s", res.status, line[0] ? ": " : "", line);
			if (res.status != 0)
				r = ferry_error_set(err, FERRY_ECHECK, NULL,
				                    "hook %s: %s exited %d%s%s", h->event,
				                    h->argv.v[0], res.status, line[0] ? ": " : "",
				                    line);
		}
		hosts_exec_result_release(&res);
		return r;
	}
}

int engine_hooks(struct engine *e, const char *event, struct ferry_error *err)
{
	bool blocking = !strncmp(event, "before_", 7);
	char *round = NULL, object[400], label[300], result[256];
	struct ferry_error local = { 0 };
	size_t i;
	int r = 0;

	if (!err)
		err = &local;
	if (journal_get(e->j, "cutover.round", &round, NULL) < 0)
		round = NULL;
	for (i = 0; i < e->plan->nhooks && r == 0; i++) {
		const struct plan_hook *h = &e->plan->hooks[i];
		json_t *ctx;
		char *body;
		int64_t id = 0;

		if (strcmp(h->event, event) != 0)
			continue;
		engine_hook_label(h, label, sizeof(label));
		snprintf(object, sizeof(object), "%s %s (round %s)", event, label,
		         round ? round : "1");
		if (journal_step_find_done(e->j, "hook", object, NULL, NULL) == 0)
			continue;
		r = engine_step_begin(e, "hook", object, NULL, &id, err);
		if (r < 0)
			break;
		ctx = json_pack("{s:s, s:s, s:s, s:s}", "plan", e->plan->name, "event", event,
		                "phase", engine_phase_name(e->phase), "round", round ? round : "1");
		body = json_dumps(ctx, JSON_COMPACT);
		json_decref(ctx);
		result[0] = '\0';
		r = run_one(e->plan, h, body, result, sizeof(result), err);
		free(body);
		engine_step_done(e, id, "hook", r == 0, r == 0 ? result : err->msg, NULL);
		engine_say(e, event, "hook %s: %s", label, r == 0 ? result : err->msg);
		if (r < 0 && !blocking)
			r = 0; /* reported and journaled; what it follows has happened */
		else if (r < 0) {
			char why[sizeof(err->msg)];

			memcpy(why, err->msg, sizeof(why));
			ferry_error_set(
			        err, FERRY_ECHECK,
			        "the hook guards this step; fix what it checks and run again",
			        "%s blocked by its hook: %.400s", event, why);
		}
	}
	free(round);
	return r;
}
