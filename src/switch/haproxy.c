/*
 * haproxy.c - the HAProxy TCP switch driver (switch.h): an HAProxy TCP
 * backend in front of a database, for engines without a pausing pooler.
 *
 * Pointing is two runtime API commands on one line, run in order by
 * HAProxy (management guide 9.3):
 *	set server BACKEND/SERVER addr IP port PORT; shutdown sessions server BACKEND/SERVER
 * New connections go to the new address at once; the sessions still open
 * to the old one are ended, so that clients reconnect (as real drivers do)
 * and land on the new address.  HAProxy cannot hold new work, so this
 * driver has no PAUSE: the database's fence refuses writes while it
 * switches, and the orchestrator points it only at the commit point.
 *
 * `set server ... addr` answers "IP changed from ..." or "no need to
 * change the addr..." ending in " by 'stats socket command'"; `shutdown
 * sessions` answers nothing.  Any other text is an error (HAProxy 2.6,
 * checked by tests/integration/switch).  Where it points is read from
 * `show servers state BACKEND` by column name (srv_name, srv_addr,
 * srv_port).  The address must be numeric: HAProxy takes no name there.
 *
 * Two runtime API connections are opened: a reply that misses its
 * deadline closes one, and what follows goes over the other.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "switch/switch.h"
#include "traffic/haproxy_api.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

struct sw_endpoint {
	char *name, *api, *backend, *server;
	struct haproxy_api *main, *spare;
	struct sw_where back; /* where it pointed when staged: REVERT's target */
	char *cmd_point, *cmd_revert;
	bool staged;
};

/* ---- the texts -------------------------------------------------------------- */

static int numeric(const char *host)
{
	unsigned char b[16];

	return inet_pton(AF_INET, host, b) == 1 || inet_pton(AF_INET6, host, b) == 1;
}

static int point_cmd(const char *name, const char *backend, const char *server, const char *host,
                     int port, char **out, struct ferry_error *err)
{
	int rc = haproxy_check_target(backend, server, err);

	*out = NULL;
	if (rc < 0)
		return rc;
	if (!numeric(host))
		return ferry_error_set(err, FERRY_EINVAL,
		                       "give the database's address as an IP in the plan's "
		                       "conninfo: HAProxy's `set server addr` takes no name",
		                       "%s: '%.100s' is not an IP address", name, host);
	*out = xasprintf("set server %s/%s addr %s port %d; shutdown sessions server %s/%s",
	                 backend, server, host, port, backend, server);
	return 0;
}

static char *show_cmd(const char *backend)
{
	return xasprintf("show servers state %s", backend);
}

/* The reply to point_cmd(): every line HAProxy's answer to a change of
 * address made by this socket. */
static int point_reply_ok(const char *name, const char *cmd, const char *reply,
                          struct ferry_error *err)
{
	const char *p = reply, *nl;

	for (; *p; p = *nl ? nl + 1 : nl) {
		nl = strchr(p, '\n');
		if (!nl)
			nl = p + strlen(p);
		if (nl == p)
			continue;
		if (!memmem(p, (size_t)(nl - p), " by 'stats socket command'", 26))
			return ferry_error_set(err, FERRY_EREFUSED,
			                       "check the backend and server names in the plan",
			                       "%s: '%s' answered: %.*s", name, cmd,
			                       (int)(nl - p > 200 ? 200 : nl - p), p);
	}
	return 0;
}

/* ---- connections -------------------------------------------------------------- */

static void hx_close(struct sw_endpoint *x)
{
	if (!x)
		return;
	haproxy_api_close(x->main);
	haproxy_api_close(x->spare);
	free(x->name);
	free(x->api);
	free(x->backend);
	free(x->server);
	free(x->cmd_point);
	free(x->cmd_revert);
	free(x);
}

static int config_ok(const struct sw_config *cfg, struct ferry_error *err)
{
	if (!cfg->api || !*cfg->api)
		return ferry_error_set(err, FERRY_EINVAL, "set switch.admin (the runtime API)",
		                       "%s: no runtime API address", cfg->name);
	return haproxy_check_target(cfg->backend, cfg->server, err);
}

static int hx_open(const struct sw_config *cfg, struct sw_endpoint **out, struct ferry_error *err)
{
	struct sw_endpoint *x;
	int rc;

	*out = NULL;
	rc = config_ok(cfg, err);
	if (rc < 0)
		return rc;
	x = xcalloc(1, sizeof(*x));
	x->name = xstrdup(cfg->name);
	x->api = xstrdup(cfg->api);
	x->backend = xstrdup(cfg->backend);
	x->server = xstrdup(cfg->server);
	rc = haproxy_api_open(cfg->api, NULL, &x->main, err);
	if (rc == 0)
		rc = haproxy_api_open(cfg->api, NULL, &x->spare, err);
	if (rc < 0) {
		hx_close(x);
		return ferry_error_prefix(err, "%s", cfg->name);
	}
	*out = x;
	return 0;
}

/* The connection to use: the main one, or the spare once a deadline
 * closed the main one. */
static struct haproxy_api *api(struct sw_endpoint *x)
{
	if (!haproxy_api_ok(x->main) && haproxy_api_ok(x->spare)) {
		haproxy_api_close(x->main);
		x->main = x->spare;
		x->spare = NULL;
	}
	return x->main;
}

/* ---- the verbs ------------------------------------------------------------ */

static int parse_state(struct sw_endpoint *x, const char *reply, struct sw_where *w,
                       struct ferry_error *err)
{
	const char *p = reply, *nl;
	int cname = -1, caddr = -1, cport = -1;
	bool header = false;

	memset(w, 0, sizeof(*w));
	for (; *p; p = *nl ? nl + 1 : nl) {
		char line[2048], *tok, *save = NULL;
		int col = 0;
		const char *name = NULL, *addr = NULL, *port = NULL;

		nl = strchr(p, '\n');
		if (!nl)
			nl = p + strlen(p);
		snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
		if (!strncmp(line, "# ", 2)) {
			for (tok = strtok_r(line + 2, " ", &save); tok;
			     tok = strtok_r(NULL, " ", &save), col++) {
				if (!strcmp(tok, "srv_name"))
					cname = col;
				else if (!strcmp(tok, "srv_addr"))
					caddr = col;
				else if (!strcmp(tok, "srv_port"))
					cport = col;
			}
			header = true;
			continue;
		}
		if (!header || cname < 0 || caddr < 0 || cport < 0)
			continue;
		for (tok = strtok_r(line, " ", &save); tok;
		     tok = strtok_r(NULL, " ", &save), col++) {
			if (col == cname)
				name = tok;
			else if (col == caddr)
				addr = tok;
			else if (col == cport)
				port = tok;
		}
		if (!name || strcmp(name, x->server) || !addr || !port)
			continue;
		snprintf(w->host, sizeof(w->host), "%s", addr);
		w->port = (int)strtol(port, NULL, 10);
		return 0;
	}
	if (!header)
		return ferry_error_set(err, FERRY_ENOTFOUND, "check switch.backend in the plan",
		                       "%s: backend %s: %.200s", x->name, x->backend, reply);
	return ferry_error_set(err, FERRY_ENOTFOUND, "check switch.server in the plan",
	                       "%s: no server %s in backend %s", x->name, x->server, x->backend);
}

static int hx_show(struct sw_endpoint *x, struct sw_where *w, int64_t deadline,
                   struct ferry_error *err)
{
	char *cmd = show_cmd(x->backend);
	const char *reply = NULL;
	int rc = haproxy_api_send(api(x), cmd, err);

	if (rc == 0)
		rc = haproxy_api_wait(x->main, deadline, &reply, err);
	if (rc == 0)
		rc = parse_state(x, reply, w, err);
	free(cmd);
	return rc;
}

static int hx_stage(struct sw_endpoint *x, const struct sw_target *to, const char *side,
                    int64_t deadline, struct ferry_error *err)
{
	int rc;

	(void)side;
	free(x->cmd_point);
	free(x->cmd_revert);
	x->cmd_point = x->cmd_revert = NULL;
	rc = hx_show(x, &x->back, deadline, err);
	if (rc == 0)
		rc = point_cmd(x->name, x->backend, x->server, to->host, to->port, &x->cmd_point,
		               err);
	if (rc == 0)
		rc = point_cmd(x->name, x->backend, x->server, x->back.host, x->back.port,
		               &x->cmd_revert, err);
	x->staged = rc == 0;
	return rc;
}

static int hx_send(struct sw_endpoint *x, enum sw_action a, struct ferry_error *err)
{
	switch (a) {
	case SW_PAUSE:
	case SW_RESUME: return 0; /* cannot hold work: the orchestrator knows */
	case SW_POINT:
	case SW_REVERT:
		if (!x->staged)
			return ferry_error_set(err, FERRY_ESTATE, NULL, "%s: not staged", x->name);
		return haproxy_api_send(api(x), a == SW_POINT ? x->cmd_point : x->cmd_revert, err);
	}
	BUG("sw_action %d", (int)a);
}

static int hx_wait(struct sw_endpoint *x, enum sw_action a, int64_t deadline,
                   struct ferry_error *err)
{
	const char *reply = NULL;
	int rc;

	if (a == SW_PAUSE || a == SW_RESUME)
		return 0;
	rc = haproxy_api_wait(x->main, deadline, &reply, err);
	return rc < 0 ? rc
	              : point_reply_ok(x->name, a == SW_POINT ? x->cmd_point : x->cmd_revert, reply,
	                               err);
}

static int hx_point(struct sw_endpoint *x, const struct sw_target *to, const char *side,
                    int64_t deadline, struct ferry_error *err)
{
	const char *reply = NULL;
	char *cmd = NULL;
	int rc;

	(void)side;
	rc = point_cmd(x->name, x->backend, x->server, to->host, to->port, &cmd, err);
	if (rc == 0)
		rc = haproxy_api_send(api(x), cmd, err);
	if (rc == 0)
		rc = haproxy_api_wait(x->main, deadline, &reply, err);
	if (rc == 0)
		rc = point_reply_ok(x->name, cmd, reply, err);
	free(cmd);
	return rc;
}

static int hx_check(struct sw_endpoint *x, const struct sw_target *expect, const char *object,
                    struct check_rows *out)
{
	struct ferry_error e = { 0 };
	struct sw_where w;
	char want[300], *cmd = NULL;

	if (hx_show(x, &w, time_mono_ms() + 5000, &e) < 0) {
		check_rows_add(out, "balancer", object, CHECK_FAIL,
		               "the cutover cannot repoint the applications' connections", "%s",
		               e.msg);
		return 0;
	}
	sw_target_format(expect, want, sizeof(want));
	if (point_cmd(x->name, x->backend, x->server, expect->host, expect->port, &cmd, &e) < 0)
		check_rows_add(out, "balancer", object, CHECK_FAIL,
		               "the cutover cannot repoint the applications' connections", "%s",
		               e.msg);
	else if (!sw_where_is(&w, expect))
		check_rows_add(out, "balancer", object, CHECK_FAIL,
		               "the cutover would move writes from a database the applications do "
		               "not use",
		               "%s: %s/%s points at %s:%d, not at %s", x->name, x->backend,
		               x->server, w.host, w.port, want);
	else
		check_rows_add(out, "balancer", object, CHECK_OK, NULL,
		               "%s: runtime API answers, %s/%s points at %s", x->name, x->backend,
		               x->server, want);
	free(cmd);
	return 0;
}

static int hx_describe(const struct sw_config *cfg, int what, const struct sw_target *to,
                       const char *side, const char *prefix, struct buf *out,
                       struct ferry_error *err)
{
	char *cmd = NULL, *show = NULL;
	struct buf o;
	int rc;

	(void)side;
	rc = config_ok(cfg, err);
	if (rc < 0)
		return rc;
	buf_init(&o, 1 << 16);
	show = show_cmd(cfg->backend);
	switch (what) {
	case SW_DESC_OPEN:
		buf_addf(&o, "%s %s api: connect %s  -- twice (one spare), kept open\n", prefix,
		         cfg->name, cfg->api);
		break;
	case SW_DESC_SHOW:
		buf_addf(&o, "%s %s api: %s  -- server %s must be listed\n", prefix, cfg->name,
		         show, cfg->server);
		break;
	case SW_DESC_STAGE:
		rc = point_cmd(cfg->name, cfg->backend, cfg->server, to->host, to->port, &cmd, err);
		if (rc == 0)
			buf_addf(&o, "%s %s api: %s  -- where it points now, for a revert\n",
			         prefix, cfg->name, show);
		break;
	case SW_POINT:
	case SW_DESC_POINT_NOW:
		rc = point_cmd(cfg->name, cfg->backend, cfg->server, to->host, to->port, &cmd, err);
		if (rc == 0)
			buf_addf(&o, "%s %s api: %s\n", prefix, cfg->name, cmd);
		break;
	case SW_REVERT:
		buf_addf(&o,
		         "%s %s api: set server %s/%s addr <where it pointed> port <its port>; "
		         "shutdown sessions server %s/%s\n",
		         prefix, cfg->name, cfg->backend, cfg->server, cfg->backend, cfg->server);
		break;
	case SW_PAUSE:
	case SW_RESUME: break;
	default: BUG("describe %d", what);
	}
	free(cmd);
	free(show);
	if (rc == 0 && buf_add(out, o.data, o.len) < 0)
		rc = ferry_error_set(err, FERRY_EPROTO, "give the buffer more room",
		                     "%s: the description does not fit", cfg->name);
	buf_release(&o);
	return rc;
}

const struct sw_driver sw_haproxy = {
	.name = "haproxy",
	.can_pause = false,
	.open = hx_open,
	.close = hx_close,
	.show = hx_show,
	.stage = hx_stage,
	.send = hx_send,
	.wait = hx_wait,
	.point = hx_point,
	.check = hx_check,
	.describe = hx_describe,
};
