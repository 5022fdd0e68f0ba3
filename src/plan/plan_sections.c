/*
 * plan_sections.c - the sections of a plan (hosts, dns, databases, traffic,
 * checks, rollback, schedule) read into the model, each value checked and
 * defaulted, and the checks that need more than one section.
 *
 * It reads the document only through the reader of plan.c and the typed
 * values of plan_read.c (struct plan_sect, plan_get_*(), see
 * plan_internal.h), so it never touches libfyaml; every problem is reported with its place and the
 * walk goes on, so that one run shows every error of a file.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plan/plan_internal.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* ---- sections ---- */

struct addr_arg {
	struct plan_host *h;
	const char *path;
};

static void address_item(struct plan_walk *w, struct fy_node *n, const char *path,
                         struct plan_pos pos, size_t i, void *arg)
{
	struct plan_host *h = ((struct addr_arg *)arg)->h;
	char *v = plan_scalar_dup(w, n, path, pos, "an address");
	size_t j;

	(void)i;
	if (!v)
		return;
	if (!plan_is_ip(v)) {
		plan_ctx_error(&w->c, pos, "write an address such as 10.0.0.2 or 2001:db8::2",
		               "%s: '%.64s' is not an IPv4 or IPv6 address", path, v);
		free(v);
		return;
	}
	for (j = 0; j < h->addresses.n; j++) {
		if (plan_same_ip(h->addresses.v[j], v)) {
			plan_ctx_error(&w->c, pos, NULL, "%s: address %s is listed twice", path, v);
			free(v);
			return;
		}
	}
	plan_strv_push(&h->addresses, v);
}

static void parse_host(struct plan_walk *w, struct plan_sect *hosts, const char *key,
                       struct plan_host *h)
{
	static const char *const keys[] = { "address", "addresses", "cname", "exec", NULL };
	struct addr_arg a = { h, NULL };
	struct plan_sect s;
	struct plan_pos pos;
	const char *why;
	char *v;
	int given;

	if (!plan_get_map(hosts, key, false, &s, keys))
		return;
	h->present = true;
	h->pos = s.pos;
	given = plan_sect_has(&s, "address") + plan_sect_has(&s, "addresses") +
	        plan_sect_has(&s, "cname");
	if (given > 1)
		plan_ctx_error(&w->c, s.pos,
		               "one address, a list of addresses, or a CNAME target (a CNAME "
		               "stands alone, RFC 1034 §3.6.2)",
		               "%s: give only one of 'address', 'addresses' and 'cname'", s.path);
	h->address = plan_get_str(&s, "address", false, &pos);
	if (h->address && !plan_is_ip(h->address)) {
		plan_ctx_error(&w->c, pos, "write an address such as 10.0.0.2 or 2001:db8::2",
		               "%s.address: '%.64s' is not an IPv4 or IPv6 address", s.path,
		               h->address);
		free(h->address);
		h->address = NULL;
	}
	if (h->address) {
		plan_strv_push(&h->addresses, xstrdup(h->address));
	} else if (plan_get_list(&s, "addresses", false, address_item, &a) == 0) {
		plan_ctx_error(&w->c, s.pos, NULL, "%s.addresses: the list is empty", s.path);
	}
	if (!h->address && h->addresses.n)
		h->address = xstrdup(h->addresses.v[0]);
	v = plan_get_str(&s, "cname", false, &pos);
	if (v) {
		h->cname = plan_dns_name(v, &why);
		if (!h->cname)
			plan_ctx_error(&w->c, pos,
			               "the host name the alias points at, e.g. "
			               "lb-123.elb.example.net",
			               "%s.cname: '%.64s' is %s", s.path, v, why);
		free(v);
	}
	plan_get_strv(&s, "exec", false, &h->exec, PLAN_STR_ANY);
}

static void parse_hosts(struct plan_walk *w, struct plan_sect *top)
{
	static const char *const keys[] = { "old", "new", NULL };
	struct plan_sect s;

	if (!plan_get_map(top, "hosts", false, &s, keys))
		return;
	w->hosts_pos = s.pos;
	parse_host(w, &s, "old", &w->p->host_old);
	parse_host(w, &s, "new", &w->p->host_new);
}

struct steps_arg {
	struct plan_dns *dns;
	struct plan_pos *pos;
};

static void ttl_step_item(struct plan_walk *w, struct fy_node *n, const char *path,
                          struct plan_pos pos, size_t i, void *arg)
{
	struct steps_arg *a = arg;
	long v;

	(void)i;
	/* RFC 2181 §8: a TTL is 31 bits */
	if (!plan_int_value(w, n, path, pos, 1, 2147483647L, &v))
		return;
	a->dns->ttl.steps =
	        xrealloc(a->dns->ttl.steps, (a->dns->ttl.nsteps + 1) * sizeof(uint32_t));
	a->pos = xrealloc(a->pos, (a->dns->ttl.nsteps + 1) * sizeof(*a->pos));
	a->pos[a->dns->ttl.nsteps] = pos;
	a->dns->ttl.steps[a->dns->ttl.nsteps++] = (uint32_t)v;
}

static void parse_ttl(struct plan_walk *w, struct plan_sect *dns_s, struct plan_dns *dns)
{
	static const char *const keys[] = { "cutover", "restore", "steps", NULL };
	struct steps_arg a = { dns, NULL };
	struct plan_sect s;
	long v;
	size_t i;
	bool bad = false;

	dns->ttl.cutover = 60;
	if (plan_get_map(dns_s, "ttl", false, &s, keys)) {
		if (plan_get_int(&s, "cutover", 1, 2147483647L, &v))
			dns->ttl.cutover = (uint32_t)v;
		if (plan_get_int(&s, "restore", 1, 2147483647L, &v))
			dns->ttl.restore = (uint32_t)v;
		plan_get_list(&s, "steps", false, ttl_step_item, &a);
	}
	for (i = 1; i < dns->ttl.nsteps && !bad; i++) {
		if (dns->ttl.steps[i] >= dns->ttl.steps[i - 1]) {
			plan_ctx_error(&w->c, a.pos[i],
			               "list the TTLs from the longest to the cutover TTL",
			               "%s.steps: TTL steps must descend, but %u follows %u",
			               s.path, dns->ttl.steps[i], dns->ttl.steps[i - 1]);
			bad = true;
		}
	}
	if (!bad && dns->ttl.nsteps > 0 && dns->ttl.steps[dns->ttl.nsteps - 1] != dns->ttl.cutover)
		plan_ctx_error(&w->c, a.pos[dns->ttl.nsteps - 1],
		               "end the steps with the cutover TTL, or change ttl.cutover",
		               "%s.steps: the last step is %u, not the cutover TTL %u", s.path,
		               dns->ttl.steps[dns->ttl.nsteps - 1], dns->ttl.cutover);
	if (dns->ttl.nsteps == 0) {
		dns->ttl.steps = xmalloc(sizeof(uint32_t));
		dns->ttl.steps[0] = dns->ttl.cutover;
		dns->ttl.nsteps = 1;
	}
	free(a.pos);
}

struct records_arg {
	struct plan_dns *dns;
};

static void record_item(struct plan_walk *w, struct fy_node *n, const char *path,
                        struct plan_pos pos, size_t i, void *arg)
{
	struct plan_dns *dns = ((struct records_arg *)arg)->dns;
	char *v = plan_scalar_dup(w, n, path, pos, "a string"), *norm;
	const char *why;
	size_t j;

	(void)i;
	if (!v)
		return;
	norm = plan_dns_name(v, &why);
	if (!norm) {
		plan_ctx_error(&w->c, pos, NULL, "%s: '%.64s' is %s", path, v, why);
	} else if (dns->zone && !plan_name_in_zone(norm, dns->zone)) {
		plan_ctx_error(&w->c, pos, "records are absolute names inside dns.zone",
		               "%s: '%.64s' is outside the zone %s", path, v, dns->zone);
	} else {
		for (j = 0; j < dns->records.n; j++)
			if (!strcmp(dns->records.v[j], norm))
				break;
		if (j < dns->records.n) {
			plan_ctx_error(&w->c, pos, NULL, "%s: record '%s' is listed twice", path,
			               norm);
		} else {
			plan_strv_push(&dns->records, norm);
			norm = NULL;
		}
	}
	free(norm);
	free(v);
}

/* Which provider uses which key: a key the chosen provider does not use is
 * an error (it would be ignored silently otherwise). */
static const struct {
	const char *key;
	const char *providers; /* space-separated */
} dns_key_users[] = {
	{ "server", "rfc2136 command" },
	{ "key", "rfc2136" },
	{ "api", "powerdns route53" },
	{ "api_key_file", "powerdns" },
	{ "api_key_env", "powerdns" },
	{ "server_id", "powerdns" },
	{ "hosted_zone_id", "route53" },
	{ "region", "route53" },
	{ "access_key_id", "route53" },
	{ "access_key_id_env", "route53" },
	{ "secret_access_key_file", "route53" },
	{ "secret_access_key_env", "route53" },
	{ "session_token_file", "route53" },
	{ "session_token_env", "route53" },
	{ "command", "command" },
	{ "command_timeout", "command" },
};

static bool word_in(const char *word, const char *list)
{
	size_t n = strlen(word);
	const char *p = list;

	while ((p = strstr(p, word)) != NULL) {
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

static void dns_keys_for_provider(struct plan_walk *w, struct plan_sect *s, const char *provider)
{
	struct plan_pos pos;
	char path[200];
	size_t i;

	for (i = 0; i < sizeof(dns_key_users) / sizeof(dns_key_users[0]); i++) {
		if (word_in(provider, dns_key_users[i].providers) ||
		    !plan_sect_get(s, dns_key_users[i].key, false, &pos, path, sizeof(path)))
			continue;
		plan_ctx_error(&w->c, pos, "leave it out, or choose a provider that uses it",
		               "%s: provider %s does not use this key (it is for %s)", path,
		               provider, dns_key_users[i].providers);
	}
}

static void parse_dns_server(struct plan_walk *w, struct plan_sect *s, struct plan_dns *dns)
{
	struct plan_pos pos;
	const char *why;

	dns->server = plan_get_str(s, "server", true, &pos);
	if (dns->server &&
	    !plan_hostport(dns->server, true, 53, &dns->server_host, &dns->server_port, &why))
		plan_ctx_error(&w->c, pos, "write ADDRESS[:PORT] of the primary, e.g. 10.0.0.1:53",
		               "dns.server: '%.64s': %s", dns->server, why);
}

static void parse_dns_tsig(struct plan_walk *w, struct plan_sect *s, struct plan_dns *dns)
{
	static const char *const key_keys[] = { "name", "algorithm", "secret_file", "secret_env",
		                                NULL };
	static const char *const algs[] = { "hmac-sha256", "hmac-sha384", "hmac-sha512",
		                            "hmac-sha1",   "hmac-md5",    NULL };
	struct plan_sect ks;
	struct plan_pos pos;
	const char *why;
	char *v;
	int i;

	/* DESIGN §1: every DNS change is signed; an unsigned update would be
	 * refused by any server worth migrating */
	if (!plan_get_map(s, "key", true, &ks, key_keys))
		return;
	dns->key.present = true;
	v = plan_get_str(&ks, "name", true, &pos);
	if (v) {
		dns->key.name = plan_dns_name(v, &why);
		if (!dns->key.name)
			plan_ctx_error(&w->c, pos, NULL, "dns.key.name: '%.64s' is %s", v, why);
		free(v);
	}
	i = plan_get_enum(&ks, "algorithm", false, "TSIG algorithm", algs, 0);
	dns->key.algorithm = (enum plan_tsig_alg)(i < 0 ? 0 : i);
	plan_get_secret_ref(&ks, "secret_file", "secret_env", &dns->key.secret);
}

static void parse_dns_route53(struct plan_walk *w, struct plan_sect *s, struct plan_dns *dns)
{
	struct plan_pos pos;
	const char *p;

	dns->hosted_zone_id = plan_get_str(s, "hosted_zone_id", true, &pos);
	for (p = dns->hosted_zone_id; p && *p; p++) {
		if (!isalnum((unsigned char)*p)) {
			plan_ctx_error(&w->c, pos,
			               "the zone's ID from the Route 53 console, e.g. "
			               "Z0123456789ABCDEFGHIJ (without /hostedzone/)",
			               "dns.hosted_zone_id: '%.64s' is not a hosted zone ID",
			               dns->hosted_zone_id);
			break;
		}
	}
	dns->region = plan_get_str(s, "region", false, &pos);
	if (!dns->region)
		dns->region = xstrdup("us-east-1");
	if (plan_sect_has(s, "access_key_id") && plan_sect_has(s, "access_key_id_env"))
		plan_ctx_error(&w->c, s->pos, NULL,
		               "dns: give either 'access_key_id' or 'access_key_id_env', not both");
	else if (plan_sect_has(s, "access_key_id_env"))
		plan_get_secret_ref(s, "access_key_id_file", "access_key_id_env",
		                    &dns->access_key_id_ref);
	else
		dns->access_key_id = plan_get_str(s, "access_key_id", true, &pos);
	plan_get_secret_ref(s, "secret_access_key_file", "secret_access_key_env",
	                    &dns->secret_access_key);
	if (plan_sect_has(s, "session_token_file") || plan_sect_has(s, "session_token_env"))
		plan_get_secret_ref(s, "session_token_file", "session_token_env",
		                    &dns->session_token);
}

static void parse_dns(struct plan_walk *w, struct plan_sect *top)
{
	static const char *const keys[] = { "provider",
		                            "server",
		                            "zone",
		                            "key",
		                            "api",
		                            "api_key_file",
		                            "api_key_env",
		                            "server_id",
		                            "hosted_zone_id",
		                            "region",
		                            "access_key_id",
		                            "access_key_id_env",
		                            "secret_access_key_file",
		                            "secret_access_key_env",
		                            "session_token_file",
		                            "session_token_env",
		                            "command",
		                            "command_timeout",
		                            "records",
		                            "ttl",
		                            "resolvers",
		                            NULL };
	static const char *const providers[] = { "rfc2136", "powerdns", "route53", "command",
		                                 NULL };
	struct plan_dns *dns = &w->p->dns;
	struct records_arg ra = { dns };
	struct plan_sect s;
	struct plan_pos pos;
	const char *why;
	char *v;
	int i;

	if (!plan_get_map(top, "dns", false, &s, keys))
		return;
	dns->present = true;
	dns->pos = w->dns_pos = s.pos;
	i = plan_get_enum(&s, "provider", false, "provider", providers, 0);
	dns->provider = xstrdup(providers[i < 0 ? 0 : i]);
	dns_keys_for_provider(w, &s, dns->provider);
	if (!strcmp(dns->provider, "rfc2136") || !strcmp(dns->provider, "command"))
		parse_dns_server(w, &s, dns);

	v = plan_get_str(&s, "zone", true, &pos);
	if (v) {
		dns->zone = plan_dns_name(v, &why);
		if (!dns->zone)
			plan_ctx_error(&w->c, pos, NULL, "dns.zone: '%.64s' is %s", v, why);
		free(v);
	}
	if (!strcmp(dns->provider, "rfc2136")) {
		parse_dns_tsig(w, &s, dns);
	} else if (!strcmp(dns->provider, "powerdns")) {
		dns->api = plan_get_url(&s, "api", true);
		plan_get_secret_ref(&s, "api_key_file", "api_key_env", &dns->api_key);
		dns->server_id = plan_get_str(&s, "server_id", false, &pos);
		if (dns->server_id && !plan_simple_name(dns->server_id))
			plan_ctx_error(&w->c, pos, NULL, "dns.server_id: '%.64s' is not a name",
			               dns->server_id);
		if (!dns->server_id)
			dns->server_id = xstrdup("localhost");
	} else if (!strcmp(dns->provider, "route53")) {
		dns->api = plan_get_url(&s, "api", false);
		if (!dns->api)
			dns->api = xstrdup("https://route53.amazonaws.com");
		parse_dns_route53(w, &s, dns);
	} else {
		plan_get_strv(&s, "command", true, &dns->command, PLAN_STR_ANY);
		dns->command_timeout_ms = 60000;
		plan_get_duration(&s, "command_timeout", &dns->command_timeout_ms);
	}

	plan_get_list(&s, "records", true, record_item, &ra);
	parse_ttl(w, &s, dns);
	plan_get_strv(&s, "resolvers", false, &dns->resolvers, PLAN_STR_IP_PORT53);
}

/* "HOST:PORT" ("[v6]:PORT"): where the applications reach a side */
static char *switch_address(struct plan_walk *w, struct plan_sect *s, const char *key)
{
	struct plan_pos pos;
	char *v = plan_get_str(s, key, false, &pos);
	const char *colon;
	char *end;
	long port;

	if (!v)
		return NULL;
	colon = strrchr(v, ':');
	port = colon ? strtol(colon + 1, &end, 10) : 0;
	if (!colon || colon == v || !*(colon + 1) || *end || port <= 0 || port > 65535 ||
	    (strchr(v, ':') != colon && v[0] != '['))
		plan_ctx_error(&w->c, pos, "write HOST:PORT, or [IPv6]:PORT",
		               "%s.%s: '%.64s' is not HOST:PORT", s->path, key, v);
	return v;
}

static void parse_switch(struct plan_walk *w, struct plan_sect *dbs, struct plan_database *db)
{
	static const char *const keys[] = { "via",     "admin",  "include", "database",
		                            "backend", "server", "point",   "show",
		                            "revert",  "host",   "address", NULL };
	static const char *const sides[] = { "old", "new", NULL };
	static const char *const vias[] = { "pgbouncer", "haproxy", "hook", NULL };
	static const char *const hosts[] = { "old", "new", NULL };
	struct plan_sect s, admin, inc, addr;
	struct plan_pos pos;
	bool pgb, hap, hook;
	int via;

	/* Required: at the cutover ferry must repoint what the application
	 * connects through, or the old database keeps taking writes. */
	if (!plan_get_map(dbs, "switch", true, &s, keys))
		return;
	via = plan_get_enum(&s, "via", true, "switch", vias, -1);
	db->sw.via = via < 0 ? PLAN_SWITCH_NONE : (enum plan_switch_via)(via + 1);
	/* whether this ferry has the driver: core/support.c asks its table */
	if (db->sw.via == PLAN_SWITCH_PGBOUNCER && db->engine != PLAN_DB_POSTGRESQL)
		plan_ctx_error(&w->c, s.pos, "switch it through haproxy or a hook",
		               "%s.via: pgbouncer speaks PostgreSQL's protocol, not %s's", s.path,
		               plan_db_engine_name(db->engine));
	pgb = db->sw.via == PLAN_SWITCH_PGBOUNCER;
	hap = db->sw.via == PLAN_SWITCH_HAPROXY;
	hook = db->sw.via == PLAN_SWITCH_HOOK;

	/* admin: pgbouncer's consoles (conninfos) or HAProxy's runtime APIs */
	if (plan_get_map(&s, "admin", pgb || hap, &admin, sides)) {
		if (hap) {
			db->sw.admin_old = plan_get_str(&admin, "old", false, &pos);
			db->sw.admin_new = plan_get_str(&admin, "new", false, &pos);
		} else {
			db->sw.admin_old = plan_get_conninfo(&admin, "old", false);
			db->sw.admin_new = plan_get_conninfo(&admin, "new", false);
		}
		if (!plan_sect_has(&admin, "old") && !plan_sect_has(&admin, "new"))
			plan_ctx_error(&w->c, admin.pos, NULL,
			               "%s: give the %s on 'old', 'new' or both", admin.path,
			               hap ? "runtime API of the HAProxy"
			                   : "admin console of the pooler");
		if (hook)
			plan_ctx_error(&w->c, admin.pos,
			               "a hook switch runs switch.point and switch.show",
			               "%s: a hook switch has no admin", admin.path);
	}
	if (plan_get_map(&s, "include", false, &inc, sides)) {
		db->sw.include_old = plan_get_str(&inc, "old", false, &pos);
		if (db->sw.include_old && db->sw.include_old[0] != '/')
			plan_ctx_error(&w->c, pos, NULL, "%s.old: '%.64s' is not an absolute path",
			               inc.path, db->sw.include_old);
		db->sw.include_new = plan_get_str(&inc, "new", false, &pos);
		if (db->sw.include_new && db->sw.include_new[0] != '/')
			plan_ctx_error(&w->c, pos, NULL, "%s.new: '%.64s' is not an absolute path",
			               inc.path, db->sw.include_new);
		if (!pgb)
			plan_ctx_error(
			        &w->c, inc.pos, "only a pgbouncer switch writes an include file",
			        "%s: not used with via: %s", inc.path, via >= 0 ? vias[via] : "?");
	}
	if (pgb) {
		/* ferry repoints a pgbouncer by rewriting the include file it owns
		 * and RELOADing, so each console needs its file */
		if (db->sw.admin_old && !db->sw.include_old)
			plan_ctx_error(
			        &w->c, inc.map ? inc.pos : s.pos,
			        "the [databases] file ferry owns, %include'd by pgbouncer.ini",
			        "%s: missing include.old for the old host's pgbouncer", s.path);
		if (db->sw.admin_new && !db->sw.include_new)
			plan_ctx_error(
			        &w->c, inc.map ? inc.pos : s.pos,
			        "the [databases] file ferry owns, %include'd by pgbouncer.ini",
			        "%s: missing include.new for the new host's pgbouncer", s.path);
	}
	if (db->sw.include_old && !w->need_old) {
		w->need_old = true;
		w->need_old_pos = inc.pos;
	}
	if (db->sw.include_new && !w->need_new) {
		w->need_new = true;
		w->need_new_pos = inc.pos;
	}
	db->sw.dbalias = plan_get_str(&s, "database", false, &pos);
	if (db->sw.dbalias && !plan_simple_name(db->sw.dbalias))
		plan_ctx_error(&w->c, pos, NULL, "%s.database: '%.64s' is not a database name",
		               s.path, db->sw.dbalias);
	if (!db->sw.dbalias && db->name)
		db->sw.dbalias = xstrdup(db->name);

	/* haproxy: the TCP backend and its server */
	db->sw.backend = plan_get_str(&s, "backend", hap, &pos);
	db->sw.server = plan_get_str(&s, "server", hap, &pos);
	if (!hap && (db->sw.backend || db->sw.server))
		plan_ctx_error(&w->c, s.pos, "backend and server name an HAProxy TCP backend",
		               "%s: backend/server are used with via: haproxy only", s.path);

	/* hook: the operator's commands */
	plan_get_strv(&s, "point", hook, &db->sw.point, PLAN_STR_ANY);
	plan_get_strv(&s, "show", hook, &db->sw.show, PLAN_STR_ANY);
	plan_get_strv(&s, "revert", false, &db->sw.revert, PLAN_STR_ANY);
	if (!hook && (db->sw.point.n || db->sw.show.n || db->sw.revert.n))
		plan_ctx_error(&w->c, s.pos, "point, show and revert are a hook switch's commands",
		               "%s: point/show/revert are used with via: hook only", s.path);
	via = plan_get_enum(&s, "host", false, "host", hosts, -1);
	if (via >= 0) {
		db->sw.host = xstrdup(hosts[via]);
		if (via == 0 && !w->need_old) {
			w->need_old = true;
			w->need_old_pos = s.pos;
		}
		if (via == 1 && !w->need_new) {
			w->need_new = true;
			w->need_new_pos = s.pos;
		}
	}

	if (plan_get_map(&s, "address", false, &addr, sides)) {
		db->sw.address_old = switch_address(w, &addr, "old");
		db->sw.address_new = switch_address(w, &addr, "new");
	}
}

struct db_arg {
	struct plan_pos *name_pos; /* per database, for "defined twice" */
};

static void database_item(struct plan_walk *w, struct fy_node *n, const char *path,
                          struct plan_pos pos, size_t i, void *arg)
{
	static const char *const keys[] = {
		"name",         "engine",       "source", "target",       "password",
		"checksum",     "pause_budget", "switch", "initial_copy", "copy_jobs",
		"wal_alarm_mb", "wal_limit_mb", NULL
	};
	static const char *const copies[] = { "parallel", "builtin", NULL };
	static const char *const engines[] = { "postgresql", "mariadb", "redis", NULL };
	static const char *const pw_keys[] = { "file", "env", NULL };
	struct db_arg *a = arg;
	struct plan *p = w->p;
	struct plan_database *db;
	char tmp[64];
	struct plan_sect s, pw;
	struct plan_pos npos = pos;
	char dpath[120];
	size_t j;
	int e;

	/* name the database in messages as soon as it has a usable name */
	snprintf(dpath, sizeof(dpath), "%s", path);
	plan_node_name_hint(n, tmp, sizeof(tmp));
	if (plan_simple_name(tmp))
		snprintf(dpath, sizeof(dpath), "databases[%s]", tmp);
	if (!plan_sect_open(w, &s, n, pos, dpath, keys))
		return;

	p->databases = xrealloc(p->databases, (p->ndatabases + 1) * sizeof(*p->databases));
	a->name_pos = xrealloc(a->name_pos, (p->ndatabases + 1) * sizeof(*a->name_pos));
	db = &p->databases[p->ndatabases];
	memset(db, 0, sizeof(*db));
	db->pos = s.pos;
	db->pause_budget_ms = 5000;

	db->name = plan_get_str(&s, "name", true, &npos);
	a->name_pos[p->ndatabases] = npos;
	if (db->name && !plan_simple_name(db->name)) {
		plan_ctx_error(&w->c, npos, NULL,
		               "%s.name: '%.64s' is not a name (letters, digits, '.', '_', '-')",
		               s.path, db->name);
	} else if (db->name) {
		for (j = 0; j < p->ndatabases; j++) {
			if (p->databases[j].name && !strcmp(p->databases[j].name, db->name)) {
				plan_ctx_error(&w->c, npos, "give each database its own name",
				               "%s.name: database '%s' is defined twice (first at "
				               "line %d)",
				               s.path, db->name, a->name_pos[j].line);
				break;
			}
		}
	}
	e = plan_get_enum(&s, "engine", true, "engine", engines, -1);
	db->engine = (enum plan_db_engine)(e < 0 ? 0 : e);
	db->source = plan_get_conninfo(&s, "source", true);
	db->target = plan_get_conninfo(&s, "target", true);
	if (db->source && db->target && !strcmp(db->source, db->target))
		plan_ctx_error(&w->c, s.pos, "the target is the new server's database",
		               "%s: source and target are the same", s.path);
	if (plan_get_map(&s, "password", false, &pw, pw_keys))
		plan_get_secret_ref(&pw, "file", "env", &db->password);
	plan_get_bool(&s, "checksum", &db->checksum);
	plan_get_duration(&s, "pause_budget", &db->pause_budget_ms);
	e = plan_get_enum(&s, "initial_copy", false, "initial copy", copies, -1);
	db->initial_copy = e == 1 ? PLAN_COPY_BUILTIN : PLAN_COPY_PARALLEL;
	db->copy_jobs = 2;
	plan_get_int(&s, "copy_jobs", 1, 64, &db->copy_jobs);
	plan_get_int(&s, "wal_alarm_mb", 1, 1L << 30, &db->wal_alarm_mb);
	plan_get_int(&s, "wal_limit_mb", 1, 1L << 30, &db->wal_limit_mb);
	if (db->wal_alarm_mb && db->wal_limit_mb && db->wal_alarm_mb > db->wal_limit_mb) {
		struct plan_pos apos = s.pos;
		char apath[200];

		plan_sect_get(&s, "wal_alarm_mb", false, &apos, apath, sizeof(apath));
		plan_ctx_error(&w->c, apos, "the alarm comes before the limit",
		               "%s: %ld is above wal_limit_mb (%ld)", apath, db->wal_alarm_mb,
		               db->wal_limit_mb);
	}
	p->ndatabases++; /* before the switch, so that a failure there frees it */
	parse_switch(w, &s, db);
	(void)i;
}

static void parse_databases(struct plan_walk *w, struct plan_sect *top)
{
	struct db_arg a = { NULL };

	(void)w;
	plan_get_list(top, "databases", false, database_item, &a);
	free(a.name_pos);
}

struct pct_arg {
	struct plan_traffic *t;
	struct plan_pos *pos;
};

static void pct_item(struct plan_walk *w, struct fy_node *n, const char *path, struct plan_pos pos,
                     size_t i, void *arg)
{
	struct pct_arg *a = arg;
	char *v = plan_scalar_dup(w, n, path, pos, "a percentage");
	double d;

	(void)i;
	if (!v)
		return;
	if (plan_pct_value(w, v, path, pos, &d)) {
		if (d <= 0) {
			plan_ctx_error(&w->c, pos, NULL, "%s: a step must send more than 0%%",
			               path);
		} else {
			a->t->steps = xrealloc(a->t->steps, (a->t->nsteps + 1) * sizeof(double));
			a->pos = xrealloc(a->pos, (a->t->nsteps + 1) * sizeof(*a->pos));
			a->pos[a->t->nsteps] = pos;
			a->t->steps[a->t->nsteps++] = d;
		}
	}
	free(v);
}

static void parse_traffic(struct plan_walk *w, struct plan_sect *top)
{
	static const char *const keys[] = { "via",   "admin",     "admin_new", "backend", "servers",
		                            "steps", "step_hold", "sticky",    NULL };
	static const char *const server_keys[] = { "old", "new", NULL };
	static const char *const vias[] = { "haproxy", "dns", NULL };
	static const double def_steps[] = { 1, 5, 25 };
	struct plan_traffic *t = &w->p->traffic;
	struct pct_arg a = { t, NULL };
	struct plan_sect s, sv;
	struct plan_pos pos;
	const char *why;
	char *host;
	uint16_t port;
	size_t i;
	int via;

	if (!plan_get_map(top, "traffic", false, &s, keys))
		return;
	t->present = true;
	t->pos = s.pos;
	via = plan_get_enum(&s, "via", false, "traffic split", vias, 0);
	t->via = xstrdup(vias[via < 0 ? 0 : via]);
	w->traffic_via_pos = s.pos;
	t->admin = plan_get_str(&s, "admin", true, &pos);
	if (t->admin && t->admin[0] != '/') {
		if (!plan_hostport(t->admin, true, 0, &host, &port, &why))
			plan_ctx_error(&w->c, pos,
			               "HAProxy's 'stats socket' as ADDRESS:PORT or a socket path",
			               "traffic.admin: '%.64s': %s", t->admin, why);
		else
			free(host);
	}
	t->admin_new = plan_get_str(&s, "admin_new", false, &pos);
	if (t->admin_new && t->admin_new[0] != '/') {
		if (!plan_hostport(t->admin_new, true, 0, &host, &port, &why))
			plan_ctx_error(&w->c, pos,
			               "the new host's HAProxy 'stats socket' as ADDRESS:PORT or a "
			               "socket path",
			               "traffic.admin_new: '%.64s': %s", t->admin_new, why);
		else
			free(host);
	}
	t->backend = plan_get_str(&s, "backend", true, NULL);
	if (plan_get_map(&s, "servers", true, &sv, server_keys)) {
		t->server_old = plan_get_str(&sv, "old", true, NULL);
		t->server_new = plan_get_str(&sv, "new", true, &pos);
		if (t->server_old && t->server_new && !strcmp(t->server_old, t->server_new))
			plan_ctx_error(&w->c, pos,
			               "the names of the two server lines in the backend",
			               "traffic.servers: old and new are the same server '%.64s'",
			               t->server_new);
	}
	plan_get_list(&s, "steps", false, pct_item, &a);
	for (i = 1; i < t->nsteps; i++) {
		if (t->steps[i] <= t->steps[i - 1]) {
			plan_ctx_error(&w->c, a.pos[i], "list the shares from the smallest up",
			               "traffic.steps: steps must ascend, but %g%% follows %g%%",
			               t->steps[i], t->steps[i - 1]);
			break;
		}
	}
	free(a.pos);
	if (t->nsteps == 0 && !plan_sect_has(&s, "steps")) {
		t->steps = xmalloc(sizeof(def_steps));
		memcpy(t->steps, def_steps, sizeof(def_steps));
		t->nsteps = 3;
	}
	plan_get_duration(&s, "step_hold", &t->step_hold_ms);
	if (plan_get_bool(&s, "sticky", &t->sticky) && strcmp(t->via, "dns") != 0)
		plan_ctx_error(&w->c, s.pos, "leave it out, or split with via: dns",
		               "traffic.sticky: only the weighted DNS split (via: dns) takes it");
}

static void health_item(struct plan_walk *w, struct fy_node *n, const char *path,
                        struct plan_pos pos, size_t i, void *arg)
{
	static const char *const keys[] = { "url", "status", NULL };
	struct plan_checks *ck = arg;
	struct plan_health_check *h;
	struct plan_sect s;
	long st;

	(void)i;
	if (!plan_sect_open(w, &s, n, pos, path, keys))
		return;
	ck->health = xrealloc(ck->health, (ck->nhealth + 1) * sizeof(*ck->health));
	h = &ck->health[ck->nhealth++];
	h->url = plan_get_url(&s, "url", true);
	h->status = 200;
	if (plan_get_int(&s, "status", 100, 599, &st))
		h->status = st;
}

static void parse_checks(struct plan_walk *w, struct plan_sect *top)
{
	static const char *const keys[] = { "health",   "env",    "egress", "tls",
		                            "packages", "ignore", NULL };
	static const char *const env_keys[] = { "process", "pidfile", "unit", "ignore", NULL };
	static const char *const tls_keys[] = { "names", "ca_file", "min_days", NULL };
	struct plan_checks *ck = &w->p->checks;
	struct plan_sect s, env, tls;
	long v;
	int nsrc;

	ck->tls.min_days = 14;
	if (!plan_get_map(top, "checks", false, &s, keys))
		return;
	ck->present = true;
	w->checks_pos = s.pos;
	plan_get_list(&s, "health", false, health_item, ck);
	if (plan_get_map(&s, "env", false, &env, env_keys)) {
		ck->env.present = true;
		ck->env.process = plan_get_str(&env, "process", false, NULL);
		ck->env.pidfile = plan_get_str(&env, "pidfile", false, NULL);
		ck->env.unit = plan_get_str(&env, "unit", false, NULL);
		plan_get_strv(&env, "ignore", false, &ck->env.ignore, PLAN_STR_ANY);
		nsrc = plan_sect_has(&env, "process") + plan_sect_has(&env, "pidfile") +
		       plan_sect_has(&env, "unit");
		if (nsrc != 1)
			plan_ctx_error(
			        &w->c, env.pos,
			        "the application whose environment is compared on both hosts",
			        "checks.env: give exactly one of 'process', 'pidfile' or 'unit'");
	}
	plan_get_strv(&s, "egress", false, &ck->egress, PLAN_STR_HOST_PORT);
	if (plan_get_map(&s, "tls", false, &tls, tls_keys)) {
		ck->tls.present = true;
		plan_get_strv(&tls, "names", true, &ck->tls.names, PLAN_STR_DNS_NAME);
		ck->tls.ca_file = plan_get_str(&tls, "ca_file", false, NULL);
		if (plan_get_int(&tls, "min_days", 0, 3650, &v))
			ck->tls.min_days = (int)v;
	}
	plan_get_strv(&s, "packages", false, &ck->packages, PLAN_STR_ANY);
	plan_get_strv(&s, "ignore", false, &ck->ignore, PLAN_STR_ANY);
}

static void parse_rollback(struct plan_walk *w, struct plan_sect *top)
{
	static const char *const keys[] = { "authority", "when",   "window", "canary",
		                            "evidence",  "waiver", NULL };
	static const char *const when_keys[] = { "error_rate", "latency_p99", "health_failures",
		                                 "prometheus", NULL };
	static const char *const prom_keys[] = { "url",   "url_file",  "url_env",
		                                 "query", "threshold", NULL };
	struct plan_rollback *rb = &w->p->rollback;
	struct plan_sect s, when, prom;
	struct plan_pos pos;
	char *canary;
	long v;
	bool ok;

	rb->error_rate = -1;
	rb->latency_p99_ms = -1;
	rb->health_failures = -1;
	rb->window_ms = 72 * 3600 * 1000LL;
	if (!plan_get_map(top, "rollback", false, &s, keys))
		return;
	rb->present = true;
	rb->authority = plan_get_str(&s, "authority", false, &pos);
	if (rb->authority && !rb->authority[0])
		plan_ctx_error(&w->c, pos,
		               "name who may decide a rollback: \"Dana Ops <dana@shop.test>\"",
		               "rollback.authority: empty");
	if (plan_get_map(&s, "when", false, &when, when_keys)) {
		plan_get_pct(&when, "error_rate", &rb->error_rate);
		plan_get_duration(&when, "latency_p99", &rb->latency_p99_ms);
		if (plan_get_int(&when, "health_failures", 1, 1000000, &v))
			rb->health_failures = (int)v;
		if (plan_get_map(&when, "prometheus", false, &prom, prom_keys)) {
			rb->prometheus.present = true;
			plan_get_url_or_ref(&prom, true, &rb->prometheus.url,
			                    &rb->prometheus.url_ref);
			rb->prometheus.query = plan_get_str(&prom, "query", true, NULL);
			rb->prometheus.threshold = plan_get_number(w, &prom, "threshold", &ok);
		}
	}
	rb->window_set = plan_get_duration(&s, "window", &rb->window_ms);
	canary = plan_get_str(&s, "canary", false, &rb->canary_pos);
	if (canary) {
		const char *why;

		rb->canary = plan_dns_name(canary, &why);
		if (!rb->canary)
			plan_ctx_error(&w->c, rb->canary_pos,
			               "a name inside dns.zone: canary.shop.test",
			               "rollback.canary: '%.64s' is %s", canary, why);
		free(canary);
	}
	rb->evidence = plan_get_str(&s, "evidence", false, &pos);
	if (rb->evidence && !rb->evidence[0])
		plan_ctx_error(
		        &w->c, pos,
		        "the journal of an earlier run of this plan's shape that rolled back: "
		        "staging.ferry.db",
		        "rollback.evidence: empty");
	rb->waiver = plan_get_str(&s, "waiver", false, &pos);
	if (rb->waiver && !rb->waiver[0])
		plan_ctx_error(&w->c, pos, "say why this cutover may go without every answer",
		               "rollback.waiver: a reason must not be empty");
}

static void day_item(struct plan_walk *w, struct fy_node *n, const char *path, struct plan_pos pos,
                     size_t i, void *arg)
{
	static const char *const names[] = {
		"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
	};
	unsigned *days = arg;
	char *v = plan_scalar_dup(w, n, path, pos, "a weekday");
	const char *sugg;
	int d;

	(void)i;
	if (!v)
		return;
	d = plan_weekday_parse(v);
	if (d >= 0) {
		*days |= 1u << d;
	} else {
		sugg = plan_suggest(v, names);
		if (sugg)
			plan_ctx_error(&w->c, pos, "sun, mon, tue, wed, thu, fri, sat",
			               "%s: unknown weekday '%.64s'; did you mean '%s'?", path, v,
			               sugg);
		else
			plan_ctx_error(&w->c, pos, "sun, mon, tue, wed, thu, fri, sat",
			               "%s: unknown weekday '%.64s'", path, v);
	}
	free(v);
}

static void parse_schedule(struct plan_walk *w, struct plan_sect *top)
{
	static const char *const keys[] = { "replication_soak", "validation", "monitor",
		                            "cutover_window", NULL };
	static const char *const win_keys[] = { "days", "from", "to", "zone", NULL };
	struct plan_schedule *sc = &w->p->schedule;
	struct plan_window *win = &sc->cutover_window;
	struct plan_pos fpos, tpos, zpos;
	struct plan_sect s, ws;
	const char *why;
	char *from, *to;
	bool okf = false, okt = false;

	sc->replication_soak_ms = 24 * 3600 * 1000LL;
	sc->validation_ms = 24 * 3600 * 1000LL;
	sc->monitor_ms = 30 * 60 * 1000LL;
	win->days = 0x7f;
	if (!plan_get_map(top, "schedule", false, &s, keys))
		return;
	sc->present = true;
	plan_get_duration(&s, "replication_soak", &sc->replication_soak_ms);
	plan_get_duration(&s, "validation", &sc->validation_ms);
	plan_get_duration(&s, "monitor", &sc->monitor_ms);
	if (!plan_get_map(&s, "cutover_window", false, &ws, win_keys))
		return;
	win->present = true;
	if (plan_sect_has(&ws, "days")) {
		win->days = 0;
		if (plan_get_list(&ws, "days", true, day_item, &win->days) > 0 && win->days == 0)
			win->days = 0x7f; /* all items were wrong and reported */
	}
	from = plan_get_str(&ws, "from", true, &fpos);
	to = plan_get_str(&ws, "to", true, &tpos);
	if (from && !(okf = plan_hhmm(from, &win->from_min, &why)))
		plan_ctx_error(&w->c, fpos, "write a 24-hour time such as 02:00, in quotes",
		               "%s.from: '%.64s' is %s", ws.path, from, why);
	if (to && !(okt = plan_hhmm(to, &win->to_min, &why)))
		plan_ctx_error(&w->c, tpos, "write a 24-hour time such as 06:00, in quotes",
		               "%s.to: '%.64s' is %s", ws.path, to, why);
	if (okf && okt && win->from_min == win->to_min)
		plan_ctx_error(&w->c, tpos, "leave cutover_window out to allow any time",
		               "%s: 'from' and 'to' are equal: the window would be empty", ws.path);
	free(from);
	free(to);
	win->zone = plan_get_str(&ws, "zone", false, &zpos);
	if (win->zone && !plan_time_zone_ok(win->zone, &why)) {
		plan_ctx_error(&w->c, zpos, "an IANA name such as Europe/Berlin or UTC",
		               "%s.zone: '%.64s' is %s", ws.path, win->zone, why);
	}
	if (!win->zone)
		win->zone = xstrdup("UTC");
}

/* True when h's addresses include one of family v6. */
static bool has_family(const struct plan_host *h, bool v6)
{
	size_t i;

	for (i = 0; i < h->addresses.n; i++)
		if ((strchr(h->addresses.v[i], ':') != NULL) == v6)
			return true;
	return false;
}

/* traffic.via: dns weights the answers of dns.records: a provider that can,
 * and address sets on both sides of the same families. */
static void weighted_dns_check(struct plan_walk *w)
{
	const struct plan *p = w->p;
	int f;

	if (!p->dns.present) {
		plan_ctx_error(&w->c, w->traffic_via_pos,
		               "add a dns section (provider powerdns or route53), or split with "
		               "via: haproxy",
		               "traffic.via: dns weights the answers of dns.records, and the plan "
		               "has no dns section");
		return;
	}
	if (strcmp(p->dns.provider, "powerdns") && strcmp(p->dns.provider, "route53"))
		plan_ctx_error(&w->c, w->traffic_via_pos,
		               "weighted answers: provider powerdns (LUA records) or route53 "
		               "(weighted record sets)",
		               "traffic.via: dns needs a provider that can weight answers, not %s",
		               p->dns.provider);
	if (p->host_old.cname || p->host_new.cname) {
		plan_ctx_error(&w->c, w->traffic_via_pos,
		               "give both hosts address or addresses, or split with via: haproxy",
		               "traffic.via: dns weights addresses; a side that is a CNAME cannot "
		               "be weighted here");
		return;
	}
	for (f = 0; f < 2; f++)
		if (has_family(&p->host_old, f) != has_family(&p->host_new, f))
			plan_ctx_error(&w->c, w->traffic_via_pos,
			               "give both hosts IPv4, or IPv6, or both",
			               "traffic.via: dns: only one host has %s addresses, whose "
			               "clients could not be split",
			               f ? "IPv6" : "IPv4");
}

void plan_cross_check(struct plan_walk *w)
{
	struct plan *p = w->p;
	const char *need = "add hosts: { old: { address: ... }, new: { address: ... } }";

	if (p->host_old.address && p->host_new.address &&
	    !strcmp(p->host_old.address, p->host_new.address))
		plan_ctx_error(&w->c, p->host_new.pos, NULL,
		               "hosts.new.address: the same address as hosts.old (%s)",
		               p->host_new.address);
	if (p->dns.present) {
		if (!p->host_old.address && !p->host_old.cname)
			plan_ctx_error(
			        &w->c, w->dns_pos, need,
			        "dns: needs hosts.old.address (the address the records point at "
			        "now), or addresses or cname");
		if (!p->host_new.address && !p->host_new.cname)
			plan_ctx_error(
			        &w->c, w->dns_pos, need,
			        "dns: needs hosts.new.address (the address the records will point "
			        "at), or addresses or cname");
	}
	if (p->rollback.canary) {
		size_t k;

		if (!p->dns.present || !p->dns.zone)
			plan_ctx_error(
			        &w->c, p->rollback.canary_pos,
			        "the canary is a name in dns.zone; add a dns section or remove it",
			        "rollback.canary: the plan has no dns section");
		else if (!plan_name_in_zone(p->rollback.canary, p->dns.zone))
			plan_ctx_error(
			        &w->c, p->rollback.canary_pos,
			        "a name inside dns.zone that no client uses: canary.shop.test",
			        "rollback.canary: '%s' is outside the zone %s", p->rollback.canary,
			        p->dns.zone);
		for (k = 0; p->dns.present && k < p->dns.records.n; k++)
			if (!strcmp(p->dns.records.v[k], p->rollback.canary))
				plan_ctx_error(
				        &w->c, p->rollback.canary_pos,
				        "the rehearsal moves the canary to the new side and back: "
				        "name one no client uses",
				        "rollback.canary: '%s' is one of dns.records",
				        p->rollback.canary);
	}
	if (p->checks.present) {
		bool diff = p->checks.env.present || p->checks.egress.n || p->checks.packages.n ||
		            p->checks.ignore.n;

		if (diff && (!p->host_old.present || !p->host_new.present))
			plan_ctx_error(&w->c, w->checks_pos, need,
			               "checks: the host checks compare hosts.old and hosts.new; "
			               "both are needed");
		if ((p->checks.nhealth || p->checks.tls.present) && !p->host_new.address)
			plan_ctx_error(&w->c, w->checks_pos, need,
			               "checks: health and TLS checks reach the new server at "
			               "hosts.new.address, which is missing");
	}
	if (w->need_old && !p->host_old.present)
		plan_ctx_error(&w->c, w->need_old_pos, need,
		               "switch.include.old: the file is written on hosts.old, which is "
		               "missing");
	if (w->need_new && !p->host_new.present)
		plan_ctx_error(&w->c, w->need_new_pos, need,
		               "switch.include.new: the file is written on hosts.new, which is "
		               "missing");
	if (!p->schedule.cutover_window.zone)
		p->schedule.cutover_window.zone = xstrdup("UTC");
	if (p->traffic.present && p->traffic.step_hold_ms <= 0 && p->traffic.nsteps > 0)
		p->traffic.step_hold_ms = p->schedule.validation_ms / (int64_t)p->traffic.nsteps;
	if (p->traffic.present && !strcmp(p->traffic.via, "dns"))
		weighted_dns_check(w);
}

void plan_parse_sections(struct plan_walk *w, struct plan_sect *top)
{
	parse_hosts(w, top);
	parse_dns(w, top);
	parse_databases(w, top);
	parse_traffic(w, top);
	parse_checks(w, top);
	parse_rollback(w, top);
	parse_schedule(w, top);
}
