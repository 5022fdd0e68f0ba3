/*
 * endpoints.c - see endpoints.h.
 */
#include <stdlib.h>

#include "core/endpoints.h"

#include "db/pgsql.h"
#include "util/buf.h"
#include "util/mem.h"

int endpoints_dns_open(const struct plan *p, struct dns_provider **out, struct ferry_error *err)
{
	struct dns_config cfg = { 0 };
	struct buf secret;
	int r;

	if (!p->dns.present)
		return ferry_error_set(err, FERRY_EINVAL, NULL, "plan %s has no dns section",
		                       p->path);
	buf_init(&secret, 4096);
	r = plan_secret_read(p, &p->dns.key.secret, &secret, err);
	if (r < 0) {
		ferry_error_prefix(err, "dns key %s", p->dns.key.name);
		goto out;
	}
	cfg.server_host = p->dns.server_host;
	cfg.server_port = p->dns.server_port;
	cfg.zone = p->dns.zone;
	cfg.key_name = p->dns.key.name;
	cfg.algorithm = plan_tsig_alg_name(p->dns.key.algorithm);
	cfg.secret = secret.data;
	r = dns_open(p->dns.provider, &cfg, out, err);
out:
	buf_release_secret(&secret);
	return r;
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
	d->cfg.old_exec = (const char *const *)p->host_old.exec.v;
	d->cfg.nold_exec = p->host_old.exec.n;
	d->cfg.new_exec = (const char *const *)p->host_new.exec.v;
	d->cfg.nnew_exec = p->host_new.exec.n;
	d->cfg.copy_method =
	        pd->initial_copy == PLAN_COPY_BUILTIN ? DB_COPY_BUILTIN : DB_COPY_PARALLEL;
	d->cfg.copy_jobs = (int)pd->copy_jobs;
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
