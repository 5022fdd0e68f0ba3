/*
 * support.c - plan values against the driver tables (see support.h).
 */
#include <stdio.h>
#include <string.h>

#include "core/support.h"
#include "switch/switch.h"
#include "db/db.h"
#include "dns/dns.h"
#include "traffic/traffic.h"

/*
 * The drivers that point the applications at a database.  src/switch/
 * has no driver table yet (issue 11 builds one: pgbouncer, haproxy, hook);
 * until it lands, pgbouncer is the one there is, driven by the database
 * engine.  This function is where switch/switch.h's lookup goes.
 */
static bool switch_built(const char *name)
{
	return sw_driver_find(name) != NULL;
}

/* "postgresql, ..." : the names of the plan's enumeration that pass built(). */
static void built_list(const char *(*name_of)(int), bool (*built)(const char *), char *out,
                       size_t len)
{
	size_t used = 0;
	int i;

	out[0] = '\0';
	for (i = 0; strcmp(name_of(i), "?") && used < len; i++) {
		int n;

		if (!built(name_of(i)))
			continue;
		n = snprintf(out + used, len - used, "%s%s", used ? ", " : "", name_of(i));
		if (n > 0)
			used += (size_t)n;
	}
}

static const char *engine_name(int i)
{
	return plan_db_engine_name((enum plan_db_engine)i);
}

static bool engine_built(const char *name)
{
	return db_engine_find(name) != NULL;
}

static const char *switch_name(int i)
{
	/* PLAN_SWITCH_NONE is no driver: start at the first real one */
	return plan_switch_via_name((enum plan_switch_via)(i + 1));
}

/* "PATH: this ferry has no 'VALUE' WHAT (not built yet)", hint: what is. */
static void not_built(const struct plan *p, struct plan_diags *d, const char *path,
                      const char *value, const char *what, const char *hint)
{
	plan_diags_add(d, p, false, plan_value_pos(p, path), hint,
	               "%s: this ferry has no '%s' %s (not built yet)", path, value, what);
}

size_t support_check_plan(const struct plan *p, struct plan_diags *d)
{
	char path[200], have[200], hint[300];
	size_t i, n = 0;

	for (i = 0; i < p->ndatabases; i++) {
		const struct plan_database *db = &p->databases[i];
		const char *eng = plan_db_engine_name(db->engine);
		const char *via = plan_switch_via_name(db->sw.via);

		if (!engine_built(eng)) {
			snprintf(path, sizeof(path), "databases[%s].engine", db->name);
			built_list(engine_name, engine_built, have, sizeof(have));
			snprintf(hint, sizeof(hint), "this ferry moves: %s", have);
			not_built(p, d, path, eng, "engine", hint);
			n++;
		}
		if (db->sw.via != PLAN_SWITCH_NONE && !switch_built(via)) {
			snprintf(path, sizeof(path), "databases[%s].switch.via", db->name);
			built_list(switch_name, switch_built, have, sizeof(have));
			snprintf(hint, sizeof(hint), "this ferry switches through: %s", have);
			not_built(p, d, path, via, "switch", hint);
			n++;
		}
	}
	if (p->dns.present && !dns_provider_find(p->dns.provider)) {
		not_built(p, d, "dns.provider", p->dns.provider, "provider",
		          "ferry-plan(5) lists the providers this ferry has");
		n++;
	}
	if (p->traffic.present && !traffic_driver_find(support_traffic_driver(&p->traffic))) {
		not_built(p, d, "traffic.via", p->traffic.via, "load balancer driver",
		          "ferry-plan(5) lists the load balancers this ferry drives");
		n++;
	}
	return n;
}

const char *support_traffic_driver(const struct plan_traffic *t)
{
	return !strcmp(t->via, "dns") ? "haproxy" : t->via;
}
