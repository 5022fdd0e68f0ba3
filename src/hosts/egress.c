/*
 * egress.c - see egress.h.  The connecting is done by the host's own tools
 * (probe.sh, egress mode); this file writes the endpoint list into the
 * script, runs it and parses the answers strictly.
 */
#include <stdlib.h>
#include <string.h>

#include "hosts/egress.h"
#include "hosts/probe.h"
#include "util/mem.h"
#include "util/port.h"

static const char *const state_words[] = {
	[HOSTS_EGRESS_OK] = "ok",           [HOSTS_EGRESS_REFUSED] = "refused",
	[HOSTS_EGRESS_TIMEOUT] = "timeout", [HOSTS_EGRESS_UNREACHABLE] = "unreachable",
	[HOSTS_EGRESS_DNS] = "dns",         [HOSTS_EGRESS_ERROR] = "error",
	[HOSTS_EGRESS_CANNOT] = "cannot",
};

const char *hosts_egress_state_name(enum hosts_egress_state s)
{
	switch (s) {
	case HOSTS_EGRESS_OK: return "ok";
	case HOSTS_EGRESS_REFUSED: return "refused";
	case HOSTS_EGRESS_TIMEOUT: return "timed out";
	case HOSTS_EGRESS_UNREACHABLE: return "unreachable";
	case HOSTS_EGRESS_DNS: return "name not resolved";
	case HOSTS_EGRESS_ERROR: return "error";
	case HOSTS_EGRESS_CANNOT: return "cannot test";
	}
	return "?";
}

void hosts_egress_init(struct hosts_egress *e)
{
	e->v = NULL;
	e->n = e->alloc = 0;
}

void hosts_egress_release(struct hosts_egress *e)
{
	size_t i;

	for (i = 0; i < e->n; i++) {
		free(e->v[i].endpoint);
		free(e->v[i].detail);
	}
	free(e->v);
	hosts_egress_init(e);
}

bool hosts_endpoint_valid(const char *s)
{
	const char *colon = strrchr(s, ':'), *p;
	size_t hl;
	uint16_t port;

	if (!colon || colon == s || !port_parse(colon + 1, &port))
		return false;
	hl = (size_t)(colon - s);
	if (hl > 253 + 2)
		return false;
	if (s[0] == '[') {
		if (s[hl - 1] != ']' || hl < 3)
			return false;
		for (p = s + 1; p < colon - 1; p++)
			if (!strchr("0123456789abcdefABCDEF:.", *p))
				return false;
		return true;
	}
	for (p = s; p < colon; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
			return false;
	return true;
}

struct egress_ctx {
	char *const *endpoints;
	size_t n;
	struct hosts_egress *out;
	size_t base;
};

static int egress_line(void *vctx, size_t lineno, const char *section, const char *key,
                       const char *value, struct ferry_error *err)
{
	struct egress_ctx *c = vctx;
	struct hosts_egress_result *r = NULL;
	const char *colon;
	size_t i, wl;

	if (strcmp(section, "egress"))
		return ferry_error_set(err, FERRY_EPROTO, NULL,
		                       "egress output line %zu: unknown section", lineno);
	for (i = 0; i < c->n && !r; i++)
		if (!strcmp(c->endpoints[i], key))
			r = &c->out->v[c->base + i];
	if (!r)
		return ferry_error_set(err, FERRY_EPROTO, NULL,
		                       "egress output line %zu: an endpoint that was not asked for",
		                       lineno);
	if (r->detail)
		return ferry_error_set(err, FERRY_EPROTO, NULL,
		                       "egress output line %zu: %s answered twice", lineno, key);
	colon = strchr(value, ':');
	wl = colon ? (size_t)(colon - value) : strlen(value);
	for (i = 0; i < sizeof(state_words) / sizeof(state_words[0]); i++)
		if (strlen(state_words[i]) == wl && !strncmp(value, state_words[i], wl))
			break;
	if (i == sizeof(state_words) / sizeof(state_words[0]))
		return ferry_error_set(err, FERRY_EPROTO, NULL,
		                       "egress output line %zu: unknown state for %s", lineno, key);
	r->state = (enum hosts_egress_state)i;
	colon = colon ? colon + 1 : "";
	while (*colon == ' ')
		colon++;
	r->detail = xstrdup(colon);
	return 0;
}

int hosts_egress_parse(const char *data, size_t len, char *const *endpoints, size_t n,
                       struct hosts_egress *out, struct ferry_error *err)
{
	struct egress_ctx c = { .endpoints = endpoints, .n = n, .out = out, .base = out->n };
	size_t i;
	int rc;

	XGROW(out->v, out->alloc, out->n + n);
	for (i = 0; i < n; i++) {
		out->v[out->n + i].endpoint = xstrdup(endpoints[i]);
		out->v[out->n + i].state = HOSTS_EGRESS_TIMEOUT;
		out->v[out->n + i].detail = NULL;
	}
	out->n += n;
	rc = hosts_lines_parse(data, len, "egress", egress_line, &c, err);
	for (i = 0; i < n; i++) {
		struct hosts_egress_result *r = &out->v[c.base + i];

		if (!r->detail) {
			r->state = HOSTS_EGRESS_TIMEOUT;
			r->detail = xstrdup("no answer from the host in time");
		}
	}
	return rc;
}

int hosts_egress_run(const struct hosts_target *target, char *const *endpoints, size_t n,
                     int64_t connect_timeout_ms, struct hosts_egress *out, struct ferry_error *err)
{
	static const char *const argv[] = { "sh", "-s", NULL };
	const char *host = target && target->name ? target->name : "local";
	struct hosts_probe_opts o = { 0 };
	struct hosts_exec_result r;
	struct buf extra, script;
	int64_t secs = (connect_timeout_ms + 999) / 1000;
	size_t i;
	int rc = 0;

	buf_init(&extra, 1 << 20);
	buf_init(&script, 1 << 20);
	hosts_exec_result_init(&r);
	if (n > HOSTS_EGRESS_MAX) {
		rc = ferry_error_set(err, FERRY_EINVAL, NULL,
		                     "egress: %zu endpoints, at most %d per host", n,
		                     HOSTS_EGRESS_MAX);
		goto out;
	}
	if (secs < 1)
		secs = 1;
	rc = buf_adds(&extra, "FERRY_EGRESS='");
	for (i = 0; i < n && rc == 0; i++) {
		if (!hosts_endpoint_valid(endpoints[i])) {
			rc = ferry_error_set(err, FERRY_EINVAL,
			                     "write HOST:PORT, e.g. payments.test:443",
			                     "egress endpoint '%s': not HOST:PORT", endpoints[i]);
			goto out;
		}
		rc = buf_addf(&extra, "%s%s", i ? " " : "", endpoints[i]);
	}
	if (rc == 0)
		rc = buf_addf(&extra, "'\nFERRY_EGRESS_TIMEOUT=%lld\n", (long long)secs);
	if (rc == 0)
		rc = hosts_probe_script(&o, "egress", extra.data, &script, err);
	if (rc < 0)
		goto out;
	rc = hosts_exec(target, argv, script.data, script.len, secs * 1000 + 5000, &r, err);
	if (rc == FERRY_ETIMEDOUT) {
		/* What came in time is still an answer: keep its whole lines. */
		char *nl = memrchr(r.out.data, '\n', r.out.len);

		r.out.len = nl ? (size_t)(nl - r.out.data) + 1 : 0;
		if (r.out.len == 0)
			rc = buf_adds(&r.out, "ferry-probe\tversion\t1\n");
		if (buf_adds(&r.out, "end\tegress\tok\n") < 0) {
			rc = ferry_error_set(err, FERRY_EPROTO, NULL,
			                     "host %s: egress output too large", host);
			goto out;
		}
		rc = 0;
	}
	if (rc < 0)
		goto out;
	if (r.out.len == 0 && r.status != 0) {
		rc = ferry_error_set(err, FERRY_EREFUSED, NULL,
		                     "host %s: egress test exited with status %d", host, r.status);
		goto out;
	}
	rc = hosts_egress_parse(r.out.data, r.out.len, endpoints, n, out, err);
	if (rc < 0)
		ferry_error_prefix(err, "host %s", host);
out:
	hosts_exec_result_release(&r);
	buf_release(&script);
	buf_release(&extra);
	return rc;
}
