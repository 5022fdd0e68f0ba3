/*
 * endpoints.c - see endpoints.h.
 */
#include <stdlib.h>
#include <string.h>

#include "core/endpoints.h"

#include "db/pgsql.h"
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

/* The environment variables that hold the plan's secrets (NULL-terminated,
 * borrowing the plan; the caller frees the array): a command ferry runs
 * for the plan must not inherit them. */
static char **secret_vars(const struct plan *p)
{
	const struct plan_secret *dns[] = { &p->dns.key.secret, &p->dns.api_key,
		                            &p->dns.secret_access_key, &p->dns.session_token };
	char **v = xcalloc(4 + p->ndatabases + 1, sizeof(*v));
	size_t i, k = 0;

	for (i = 0; i < 4; i++)
		if (dns[i]->env)
			v[k++] = dns[i]->env;
	for (i = 0; i < p->ndatabases; i++)
		if (p->databases[i].password.env)
			v[k++] = p->databases[i].password.env;
	return v;
}

int endpoints_dns_open(const struct plan *p, struct dns_provider **out, struct ferry_error *err)
{
	const struct plan_dns *d = &p->dns;
	struct dns_config cfg;
	struct buf secret, token, keyid;
	char **drop = NULL;
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
	drop = secret_vars(p);
	cfg.command_env_drop = drop;
	cfg.secret = secret.len ? secret.data : NULL;
	cfg.session_token = token.len ? token.data : NULL;
	cfg.access_key_id = keyid.len ? keyid.data : d->access_key_id;
	r = dns_open(d->provider, &cfg, out, err);
out:
	buf_release_secret(&keyid);
	buf_release_secret(&token);
	buf_release_secret(&secret);
	free(drop);
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

/* The pooler's [databases] entry for a side: where pgbouncer connects,
 * without ferry's user (the application's user logs in through it). */
static char *pooler_entry(const char *conninfo)
{
	char *host = pgsql_conninfo_get(conninfo, "host");
	char *port = pgsql_conninfo_get(conninfo, "port");
	char *db = pgsql_conninfo_get(conninfo, "dbname");
	char *s = xasprintf("host=%s port=%s dbname=%s", host ? host : "localhost",
	                    port ? port : "5432", db ? db : "postgres");

	free(host);
	free(port);
	free(db);
	return s;
}

static void pooler_init(struct db_pooler *po, const char *name, const char *admin,
                        const char *password, const struct plan_host *host, const char *include)
{
	po->name = name;
	po->admin = admin;
	po->admin_password = password;
	po->exec = (const char *const *)host->exec.v;
	po->nexec = host->exec.n;
	po->include_path = include;
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
		r = ferry_error_set(err, FERRY_EINVAL, "ferry moves postgresql databases so far",
		                    "database %s: no engine for %s", pd->name,
		                    plan_db_engine_name(pd->engine));
		goto fail;
	}
	d->pooler_old = pooler_entry(pd->source);
	d->pooler_new = pooler_entry(pd->target);
	d->cfg.name = pd->name;
	d->cfg.old_conninfo = pd->source;
	d->cfg.new_conninfo = pd->target;
	d->cfg.old_password = pw;
	d->cfg.new_password = pw;
	d->cfg.pause_budget_ms = pd->pause_budget_ms;
	if (pd->sw.via == PLAN_SWITCH_PGBOUNCER) {
		pooler_init(&d->poolers[0], "pooler old", pd->sw.admin_old, pw, &p->host_old,
		            pd->sw.include_old);
		pooler_init(&d->poolers[1], "pooler new", pd->sw.admin_new, pw, &p->host_new,
		            pd->sw.include_new);
		d->cfg.poolers = d->poolers;
		d->cfg.npoolers = 2;
		d->cfg.dbalias = pd->sw.dbalias ? pd->sw.dbalias : pd->name;
		d->cfg.pooler_old = d->pooler_old;
		d->cfg.pooler_new = d->pooler_new;
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
	if (!d)
		return;
	if (d->h)
		d->eng->close(d->h);
	buf_release_secret(&d->password);
	free(d->pooler_old);
	free(d->pooler_new);
	free(d);
}
