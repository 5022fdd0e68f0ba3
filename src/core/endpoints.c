/*
 * endpoints.c - see endpoints.h.
 */
#include <stdlib.h>
#include <string.h>

#include "core/endpoints.h"
#include "util/buf.h"
#include "util/mem.h"

void endpoints_dns_config(const struct plan *p, struct dns_config *cfg)
{
	const struct plan_dns *d = &p->dns;

	memset(cfg, 0, sizeof(*cfg));
	cfg->zone = d->zone;
	cfg->server_host = d->server_host;
	cfg->server_port = d->server_port;
	cfg->key_name = d->key.name;
	if (d->key.present)
		cfg->algorithm = plan_tsig_alg_name(d->key.algorithm);
	cfg->api = d->api;
	cfg->server_id = d->server_id;
	cfg->hosted_zone_id = d->hosted_zone_id;
	cfg->region = d->region;
	cfg->command = d->command.v;
	cfg->command_timeout_ms = (int)d->command_timeout_ms;
}

/* The plan's secret reference for the provider's main secret. */
static const struct plan_secret *main_secret(const struct plan_dns *d)
{
	if (!strcmp(d->provider, "rfc2136"))
		return &d->key.secret;
	if (!strcmp(d->provider, "powerdns"))
		return &d->api_key;
	if (!strcmp(d->provider, "route53"))
		return &d->secret_access_key;
	return NULL;
}

static int read_secret(const struct plan *p, const struct plan_secret *s, const char *what,
                       struct buf *out, struct ferry_error *err)
{
	int r;

	if (!s || (!s->file && !s->env))
		return 0;
	r = plan_secret_read(p, s, out, err);
	if (r < 0)
		ferry_error_prefix(err, "dns %s", what);
	return r;
}

int endpoints_dns_open(const struct plan *p, struct dns_provider **out, struct ferry_error *err)
{
	const struct plan_dns *d = &p->dns;
	struct dns_config cfg;
	struct buf secret, token, keyid;
	int r;

	if (!d->present)
		return ferry_error_set(err, FERRY_EINVAL, NULL, "plan %s has no dns section",
		                       p->path);
	buf_init(&secret, 4096);
	buf_init(&token, 4096);
	buf_init(&keyid, 4096);
	endpoints_dns_config(p, &cfg);
	r = read_secret(p, main_secret(d), !strcmp(d->provider, "rfc2136") ? d->key.name : "secret",
	                &secret, err);
	if (r == 0)
		r = read_secret(p, &d->session_token, "session token", &token, err);
	if (r == 0)
		r = read_secret(p, &d->access_key_id_ref, "access key id", &keyid, err);
	if (r < 0)
		goto out;
	cfg.secret = secret.len ? secret.data : NULL;
	cfg.session_token = token.len ? token.data : NULL;
	cfg.access_key_id = keyid.len ? keyid.data : d->access_key_id;
	r = dns_open(d->provider, &cfg, out, err);
out:
	buf_release_secret(&keyid);
	buf_release_secret(&token);
	buf_release_secret(&secret);
	return r;
}

struct dns_values endpoints_dns_values(const struct plan_host *h)
{
	struct dns_values v = { h->addresses.v, h->addresses.n, h->cname };

	return v;
}

struct dns_state endpoints_dns_state(const struct plan_host *h)
{
	struct dns_values v = endpoints_dns_values(h);

	return dns_state_plain(&v);
}

/* Where the applications reach side: the plan's switch.address, else
 * what the engine reads from the side's conninfo. */
static int target_init(struct endpoints_db *d, enum db_side side, const char *address,
                       struct ferry_error *err)
{
	char *host = NULL, *db = NULL;
	int port = 0, r;

	r = d->eng->target(&d->cfg, side, &host, &port, &db, err);
	if (r < 0)
		return r;
	if (address) {
		const char *colon = strrchr(address, ':');
		free(host);
		if (address[0] == '[')
			host = xstrndup(address + 1, (size_t)(colon - address - 2));
		else
			host = xstrndup(address, (size_t)(colon - address));
		port = (int)strtol(colon + 1, NULL, 10);
	}
	d->target_host[side] = host;
	d->target_db[side] = db;
	d->target[side].host = host;
	d->target[side].port = port;
	d->target[side].dbname = db;
	return 0;
}

static void sw_exec(struct sw_config *c, const struct plan_host *h)
{
	c->exec = (const char *const *)h->exec.v;
	c->nexec = h->exec.n;
}

/* The endpoints of pd's switch: one per side the plan names (pgbouncer,
 * haproxy), or the one hook. */
static void switch_init(struct endpoints_db *d, const struct plan *p, const char *pw)
{
	const struct plan_database *pd = d->pd;
	const char *admin[2] = { pd->sw.admin_old, pd->sw.admin_new };
	const char *include[2] = { pd->sw.include_old, pd->sw.include_new };
	const struct plan_host *host[2] = { &p->host_old, &p->host_new };
	static const char *const pooler_name[2] = { "pooler old", "pooler new" };
	static const char *const haproxy_name[2] = { "haproxy old", "haproxy new" };
	int side;

	d->sw = sw_driver_find(plan_switch_via_name(pd->sw.via));
	if (!d->sw)
		return;
	if (pd->sw.via == PLAN_SWITCH_HOOK) {
		struct sw_config *c = &d->swcfg[d->nsw++];
		c->name = "hook";
		c->point_argv = (const char *const *)pd->sw.point.v;
		c->npoint = pd->sw.point.n;
		c->show_argv = (const char *const *)pd->sw.show.v;
		c->nshow = pd->sw.show.n;
		c->revert_argv = (const char *const *)pd->sw.revert.v;
		c->nrevert = pd->sw.revert.n;
		c->database = pd->name;
		if (pd->sw.host)
			sw_exec(c, !strcmp(pd->sw.host, "old") ? &p->host_old : &p->host_new);
		return;
	}
	for (side = 0; side < 2; side++) {
		struct sw_config *c;
		if (!admin[side])
			continue;
		c = &d->swcfg[d->nsw++];
		if (pd->sw.via == PLAN_SWITCH_PGBOUNCER) {
			c->name = pooler_name[side];
			c->admin = admin[side];
			c->admin_password = pw;
			c->include_path = include[side];
			c->dbalias = pd->sw.dbalias ? pd->sw.dbalias : pd->name;
			sw_exec(c, host[side]);
		} else {
			c->name = haproxy_name[side];
			c->api = admin[side];
			c->backend = pd->sw.backend;
			c->server = pd->sw.server;
		}
	}
}

int endpoints_db_config(const struct plan *p, size_t i, bool secret, struct endpoints_db **out,
                        struct ferry_error *err)
{
	const struct plan_database *pd = &p->databases[i];
	struct endpoints_db *d = xcalloc(1, sizeof(*d));
	const char *pw = NULL;
	int r = 0;

	d->pd = pd;
	buf_init(&d->password, 4096);
	if (secret && (pd->password.file || pd->password.env)) {
		r = plan_secret_read(p, &pd->password, &d->password, err);
		if (r < 0) {
			ferry_error_prefix(err, "database %s", pd->name);
			goto fail;
		}
		pw = d->password.data;
	}
	d->eng = db_engine_find(plan_db_engine_name(pd->engine));
	if (!d->eng) {
		r = ferry_error_set(
		        err, FERRY_EINVAL, "ferry moves postgresql, mariadb and redis databases",
		        "database %s: no engine for %s", pd->name, plan_db_engine_name(pd->engine));
		goto fail;
	}
	d->cfg.name = pd->name;
	d->cfg.old_conninfo = pd->source;
	d->cfg.new_conninfo = pd->target;
	d->cfg.old_password = pw;
	d->cfg.new_password = pw;
	d->budget_ms = pd->pause_budget_ms;
	d->cfg.pause_budget_ms = pd->pause_budget_ms;
	d->cfg.old_exec = (const char *const *)p->host_old.exec.v;
	d->cfg.nold_exec = p->host_old.exec.n;
	d->cfg.new_exec = (const char *const *)p->host_new.exec.v;
	d->cfg.nnew_exec = p->host_new.exec.n;
	d->cfg.copy_method =
	        pd->initial_copy == PLAN_COPY_BUILTIN ? DB_COPY_BUILTIN : DB_COPY_PARALLEL;
	d->cfg.copy_jobs = (int)pd->copy_jobs;
	d->cfg.soak_ms = p->schedule.replication_soak_ms;
	d->cfg.rollback_window_ms = p->rollback.window_ms;
	r = target_init(d, DB_OLD, pd->sw.address_old, err);
	if (r == 0)
		r = target_init(d, DB_NEW, pd->sw.address_new, err);
	if (r < 0)
		goto fail;
	switch_init(d, p, pw);
	if (!d->sw) {
		r = ferry_error_set(err, FERRY_EINVAL, "set switch.via in the plan",
		                    "database %s: no switch driver for '%s'", pd->name,
		                    plan_switch_via_name(pd->sw.via));
		goto fail;
	}
	*out = d;
	return 0;
fail:
	endpoints_db_close(d);
	return r;
}

int endpoints_db_open(const struct plan *p, size_t i, struct endpoints_db **out,
                      struct ferry_error *err)
{
	struct endpoints_db *d = NULL;
	int r;

	r = endpoints_db_config(p, i, true, &d, err);
	if (r == 0)
		r = d->eng->open(&d->cfg, &d->h, err);
	if (r < 0) {
		endpoints_db_close(d);
		return r;
	}
	*out = d;
	return 0;
}

void endpoints_db_close(struct endpoints_db *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->nsw; i++)
		if (d->swep[i])
			d->sw->close(d->swep[i]);
	if (d->h)
		d->eng->close(d->h);
	buf_release_secret(&d->password);
	for (i = 0; i < 2; i++) {
		free(d->target_host[i]);
		free(d->target_db[i]);
	}
	free(d);
}
