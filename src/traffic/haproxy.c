/*
 * haproxy.c - the HAProxy driver of traffic.h, over the runtime API
 * connection of haproxy_api.h.  HAProxy answers errors as text and `set
 * weight` / `set server ... state` answer nothing on success, so ANY
 * other reply is a failure that quotes the text
 * (haproxy_check_empty_reply).  `show stat BACKEND 4 -1` (servers of one
 * backend only) is parsed strictly by column name.  The parsing is pure
 * and lives in haproxy_reply.c.
 */
#include <stdlib.h>
#include <string.h>

#include "traffic/haproxy_api.h"
#include "traffic/traffic.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* The traffic driver's handle is the API connection itself. */
struct traffic_lb {
	struct haproxy_api *api;
};

static int hap_open(const char *admin, const struct traffic_options *opt, struct traffic_lb **out,
                    struct ferry_error *err)
{
	struct traffic_lb *lb = xcalloc(1, sizeof(*lb));
	int rc = haproxy_api_open(admin, opt, &lb->api, err);

	if (rc < 0) {
		free(lb);
		return rc;
	}
	*out = lb;
	return 0;
}

static void hap_close(struct traffic_lb *lb)
{
	if (!lb)
		return;
	haproxy_api_close(lb->api);
	free(lb);
}

static int run_expect_empty(struct traffic_lb *lb, const char *backend, const char *server,
                            const char *cmd, struct ferry_error *err)
{
	char what[256];
	const char *reply = NULL;
	int rc = haproxy_api_run(lb->api, cmd, &reply, err);

	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "%s %s/%s", haproxy_api_admin(lb->api), backend, server);
	return haproxy_check_empty_reply(reply, what, cmd, err);
}

/* The `set weight` command, checked: what hap_set_weight() sends and the
 * dry run prints. */
static int hap_format_set_weight(const char *backend, const char *server, int weight,
                                 struct buf *out, struct ferry_error *err)
{
	int rc = haproxy_check_target(backend, server, err);

	if (rc < 0)
		return rc;
	if (weight < 0 || weight > TRAFFIC_WEIGHT_MAX)
		return ferry_error_set(err, FERRY_EINVAL, NULL,
		                       "haproxy %s/%s: weight %d outside 0..%d", backend, server,
		                       weight, TRAFFIC_WEIGHT_MAX);
	if (buf_addf(out, "set weight %s/%s %d", backend, server, weight) < 0)
		return ferry_error_set(err, FERRY_EPROTO, NULL, "haproxy %s/%s: command too long",
		                       backend, server);
	return 0;
}

static int hap_set_weight(struct traffic_lb *lb, const char *backend, const char *server,
                          int weight, struct ferry_error *err)
{
	struct buf cmd;
	int rc;

	buf_init(&cmd, 1024);
	rc = hap_format_set_weight(backend, server, weight, &cmd, err);
	if (rc == 0)
		rc = run_expect_empty(lb, backend, server, cmd.data, err);
	if (rc == 0)
		log_info("haproxy %s: %s/%s weight %d", haproxy_api_admin(lb->api), backend, server,
		         weight);
	buf_release(&cmd);
	return rc;
}

static int hap_get_weight(struct traffic_lb *lb, const char *backend, const char *server,
                          int *current, int *initial, struct ferry_error *err)
{
	char cmd[256], what[256], line[256];
	const char *reply = NULL;
	int rc = haproxy_check_target(backend, server, err);

	if (rc < 0)
		return rc;
	snprintf(cmd, sizeof(cmd), "get weight %s/%s", backend, server);
	rc = haproxy_api_run(lb->api, cmd, &reply, err);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "%s %s/%s", haproxy_api_admin(lb->api), backend, server);
	/* the reply is one line: without its newline */
	snprintf(line, sizeof(line), "%.*s", (int)strcspn(reply, "\n"), reply);
	return haproxy_parse_weight(line, what, current, initial, err);
}

static int set_state(struct traffic_lb *lb, const char *backend, const char *server,
                     const char *state, struct ferry_error *err)
{
	char cmd[256];
	int rc = haproxy_check_target(backend, server, err);

	if (rc < 0)
		return rc;
	/* Management guide: "set server <b>/<s> state [ ready | drain | maint ]" */
	snprintf(cmd, sizeof(cmd), "set server %s/%s state %s", backend, server, state);
	rc = run_expect_empty(lb, backend, server, cmd, err);
	if (rc == 0)
		log_info("haproxy %s: %s/%s state %s", haproxy_api_admin(lb->api), backend, server,
		         state);
	return rc;
}

static int hap_drain(struct traffic_lb *lb, const char *backend, const char *server,
                     struct ferry_error *err)
{
	return set_state(lb, backend, server, "drain", err);
}

static int hap_ready(struct traffic_lb *lb, const char *backend, const char *server,
                     struct ferry_error *err)
{
	return set_state(lb, backend, server, "ready", err);
}

static int hap_stats(struct traffic_lb *lb, const char *backend, struct traffic_stats *out,
                     struct ferry_error *err)
{
	char cmd[256];
	const char *reply = NULL;
	int rc = haproxy_check_name("backend", backend, err);

	if (rc < 0)
		return rc;
	/* Management guide: "show stat [<iid>|<proxy>] [<type>] [<sid>]";
	 * type 4 = servers, sid -1 = all of them. */
	snprintf(cmd, sizeof(cmd), "show stat %s 4 -1", backend);
	rc = haproxy_api_run(lb->api, cmd, &reply, err);
	if (rc < 0)
		return rc;
	if (reply[0] != '#') {
		char what[256];

		snprintf(what, sizeof(what), "%s backend %s", haproxy_api_admin(lb->api), backend);
		return haproxy_reply_error(reply, what, cmd, err);
	}
	rc = haproxy_parse_stat(reply, strlen(reply), backend, out, err);
	if (rc < 0) {
		if (err)
			ferry_error_prefix(err, "%s", haproxy_api_admin(lb->api));
		return rc;
	}
	out->at_ms = time_mono_ms();
	if (out->n == 0)
		return ferry_error_set(err, FERRY_ENOTFOUND,
		                       "check traffic.backend in the plan against haproxy.cfg",
		                       "haproxy %s: backend %s: no such backend, or no servers",
		                       haproxy_api_admin(lb->api), backend);
	return 0;
}

/* Management guide: "show cli level" answers the level of this CLI
 * connection; `set weight` and `set server` need "admin". */
static int hap_access(struct traffic_lb *lb, bool *can_change, char *level, size_t len,
                      struct ferry_error *err)
{
	const char *cmd = "show cli level", *rest, *reply = NULL;
	char first[16];
	size_t n;
	int rc = haproxy_api_run(lb->api, cmd, &reply, err);

	if (rc < 0)
		return rc;
	/* one line, one of the three levels; anything else is an error text */
	n = strcspn(reply, "\n");
	rest = reply + n;
	snprintf(first, sizeof(first), "%.*s", (int)(n < sizeof(first) ? n : 0), reply);
	if ((strcmp(first, "admin") && strcmp(first, "operator") && strcmp(first, "user")) ||
	    strspn(rest, "\n") != strlen(rest))
		return haproxy_reply_error(reply, haproxy_api_admin(lb->api), cmd, err);
	snprintf(level, len, "%s", first);
	*can_change = !strcmp(first, "admin");
	return 0;
}

const struct traffic_driver traffic_haproxy = {
	.name = "haproxy",
	.open = hap_open,
	.close = hap_close,
	.set_weight = hap_set_weight,
	.format_set_weight = hap_format_set_weight,
	.get_weight = hap_get_weight,
	.drain = hap_drain,
	.ready = hap_ready,
	.stats = hap_stats,
	.access = hap_access,
};
