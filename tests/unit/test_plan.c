/*
 * test_plan.c - the plan loader: the example plan field by field, the
 * smallest valid plans and their defaults, secrets, and a table of
 * malformed plans (tests/plans/bad/NN-name.yaml, each with NN-name.expect:
 * the exact "FILE:LINE:COLUMN: message" lines, hints left out) that must
 * all fail with FERRY_EINVAL and exactly those messages.  Hostile inputs
 * too big for the repository are built in memory here.
 *
 * Runs with its working directory in tests/unit (see meson.build).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan/plan.h"
#include "plan/plan_internal.h"
#include "util/mem.h"
#include "util/secret.h"

#define BAD_DIR "../plans/bad"

/* Loads text; returns the code and leaves the formatted diags in *out. */
static int load_text(const char *text, struct plan **p, char **out)
{
	struct plan_diags d = { 0 };
	struct ferry_error err = { 0 };
	struct buf b;
	int r;

	*p = NULL;
	r = plan_load_string("t.yaml", text, strlen(text), p, &d, &err);
	buf_init(&b, 1 << 20);
	assert_int_equal(plan_diags_format(&d, &b), 0);
	*out = buf_detach(&b, NULL);
	if (r == 0)
		assert_int_equal(plan_diags_errors(&d), 0);
	else
		assert_int_equal(err.code, FERRY_EINVAL);
	plan_diags_release(&d);
	return r;
}

static void expect_valid(const char *text, struct plan **p)
{
	char *diags;

	if (load_text(text, p, &diags) != 0)
		fail_msg("plan should be valid:\n%s", diags);
	free(diags);
}

static void expect_error(const char *text, const char *needle)
{
	struct plan *p;
	char *diags;

	assert_int_equal(load_text(text, &p, &diags), FERRY_EINVAL);
	assert_null(p);
	if (!strstr(diags, needle))
		fail_msg("expected '%s' in:\n%s", needle, diags);
	free(diags);
}

static void test_example_loads_with_every_field(void **state)
{
	struct plan_diags d = { 0 };
	struct ferry_error err = { 0 };
	struct plan *p = NULL;
	const struct plan_database *db;
	struct buf file;

	(void)state;
	assert_int_equal(plan_load("../../examples/shop.yaml", &p, &d, &err), 0);
	/* only warnings: the secret files are not in the repository */
	assert_int_equal(plan_diags_errors(&d), 0);
	plan_diags_release(&d);

	assert_string_equal(p->name, "shop");
	assert_string_equal(p->dir, "../../examples");
	assert_true(p->host_old.present);
	assert_string_equal(p->host_old.address, "10.77.0.2");
	assert_int_equal(p->host_old.exec.n, 4);
	assert_string_equal(p->host_old.exec.v[3], "old");
	assert_null(p->host_old.exec.v[4]);
	assert_string_equal(p->host_new.address, "10.77.0.3");
	assert_string_equal(p->host_new.exec.v[3], "new");

	assert_true(p->dns.present);
	assert_string_equal(p->dns.provider, "rfc2136");
	assert_string_equal(p->dns.server_host, "10.77.0.1");
	assert_int_equal(p->dns.server_port, 53);
	assert_string_equal(p->dns.zone, "shop.test");
	assert_true(p->dns.key.present);
	assert_string_equal(p->dns.key.name, "ferry-key");
	assert_int_equal(p->dns.key.algorithm, PLAN_TSIG_HMAC_SHA256);
	assert_string_equal(p->dns.key.secret.file, "secrets/tsig.secret");
	assert_null(p->dns.key.secret.env);
	assert_int_equal(p->dns.records.n, 2);
	assert_string_equal(p->dns.records.v[0], "www.shop.test");
	assert_string_equal(p->dns.records.v[1], "api.shop.test");
	assert_int_equal(p->dns.ttl.cutover, 60);
	assert_int_equal(p->dns.ttl.restore, 3600);
	assert_int_equal(p->dns.ttl.nsteps, 3);
	assert_int_equal(p->dns.ttl.steps[0], 3600);
	assert_int_equal(p->dns.ttl.steps[2], 60);
	assert_int_equal(p->dns.resolvers.n, 1);
	assert_string_equal(p->dns.resolvers.v[0], "10.77.0.1:5300");

	assert_int_equal(p->ndatabases, 1);
	db = plan_database_find(p, "main");
	assert_non_null(db);
	assert_int_equal(db->engine, PLAN_DB_POSTGRESQL);
	assert_string_equal(db->source, "host=10.77.0.2 port=5432 dbname=shop user=ferry");
	assert_string_equal(db->target, "host=10.77.0.3 port=5432 dbname=shop user=ferry");
	assert_string_equal(db->password.file, "secrets/pg.password");
	assert_false(db->checksum);
	assert_int_equal(db->pause_budget_ms, 5000);
	assert_int_equal(db->sw.via, PLAN_SWITCH_PGBOUNCER);
	assert_string_equal(db->sw.admin_old,
	                    "host=10.77.0.2 port=6432 dbname=pgbouncer user=ferry");
	assert_string_equal(db->sw.admin_new,
	                    "host=10.77.0.3 port=6432 dbname=pgbouncer user=ferry");
	assert_string_equal(db->sw.include_old, "/etc/pgbouncer/ferry-databases.ini");
	assert_string_equal(db->sw.include_new, "/etc/pgbouncer/ferry-databases.ini");
	assert_string_equal(db->sw.dbalias, "shop");
	assert_int_equal(db->pos.line, 73);
	assert_null(plan_database_find(p, "other"));

	assert_true(p->traffic.present);
	assert_string_equal(p->traffic.via, "haproxy");
	assert_string_equal(p->traffic.admin, "10.77.0.2:9999");
	assert_string_equal(p->traffic.backend, "web");
	assert_string_equal(p->traffic.server_old, "old");
	assert_string_equal(p->traffic.server_new, "new");
	assert_int_equal(p->traffic.nsteps, 3);
	assert_true(p->traffic.steps[0] == 1 && p->traffic.steps[1] == 5 &&
	            p->traffic.steps[2] == 25);
	assert_int_equal(p->traffic.step_hold_ms, 30 * 60 * 1000);

	assert_true(p->checks.present);
	assert_int_equal(p->checks.nhealth, 1);
	assert_string_equal(p->checks.health[0].url, "https://www.shop.test/healthz");
	assert_int_equal(p->checks.health[0].status, 200);
	assert_true(p->checks.env.present);
	assert_string_equal(p->checks.env.process, "shop-app");
	assert_string_equal(p->checks.env.ignore.v[0], "HOSTNAME");
	assert_string_equal(p->checks.egress.v[0], "payments.test:443");
	assert_true(p->checks.tls.present);
	assert_string_equal(p->checks.tls.names.v[0], "www.shop.test");
	assert_string_equal(p->checks.tls.ca_file, "ca.pem");
	assert_int_equal(p->checks.tls.min_days, 14);
	assert_int_equal(p->checks.packages.n, 3);
	assert_string_equal(p->checks.ignore.v[0], "kernel");

	assert_true(p->rollback.present);
	assert_string_equal(p->rollback.authority, "Dana Ops <dana@shop.test>");
	assert_true(p->rollback.error_rate == 1.0);
	assert_int_equal(p->rollback.latency_p99_ms, 800);
	assert_int_equal(p->rollback.health_failures, 3);
	assert_false(p->rollback.prometheus.present);
	assert_int_equal(p->rollback.window_ms, 72LL * 3600 * 1000);

	assert_true(p->schedule.present);
	assert_int_equal(p->schedule.replication_soak_ms, 24LL * 3600 * 1000);
	assert_int_equal(p->schedule.validation_ms, 24LL * 3600 * 1000);
	assert_int_equal(p->schedule.monitor_ms, 30 * 60 * 1000);
	assert_true(p->schedule.cutover_window.present);
	assert_int_equal(p->schedule.cutover_window.days, 1u << PLAN_SUN);
	assert_int_equal(p->schedule.cutover_window.from_min, 120);
	assert_int_equal(p->schedule.cutover_window.to_min, 360);
	assert_string_equal(p->schedule.cutover_window.zone, "Europe/Berlin");

	assert_int_equal(p->nhooks, 2);
	assert_non_null(plan_hook_find(p, "before_cutover"));
	assert_string_equal(plan_hook_find(p, "before_cutover")->argv.v[0], "/usr/bin/logger");
	assert_int_equal(plan_hook_find(p, "before_cutover")->argv.n, 4);
	assert_string_equal(plan_hook_find(p, "on_rollback")->url,
	                    "https://chat.shop.test/hooks/ferry");
	assert_null(plan_hook_find(p, "after_cutover"));
	plan_free(p);

	/* the compiled-in copy is the file, byte for byte */
	buf_init(&file, 1 << 20);
	assert_int_equal(buf_read_file(&file, "../../examples/shop.yaml"), 0);
	assert_int_equal(strlen(plan_example_yaml), file.len);
	assert_int_equal(plan_example_yaml_len, file.len);
	assert_memory_equal(plan_example_yaml, file.data, file.len);
	buf_release(&file);
}

static void test_database_only_plan_is_valid(void **state)
{
	struct plan *p;

	(void)state;
	/* The poolers' include files live on the hosts: a database-only
	 * plan names the hosts (their exec prefixes), nothing else. */
	expect_valid("name: db-only\n"
	             "hosts: {old: {address: 10.0.0.2}, new: {address: 10.0.0.3}}\n"
	             "databases:\n"
	             "  - name: main\n"
	             "    engine: postgresql\n"
	             "    source: \"host=10.0.0.2 dbname=shop\"\n"
	             "    target: \"host=10.0.0.3 dbname=shop\"\n"
	             "    password: {env: PGPASSWORD}\n"
	             "    switch:\n"
	             "      via: pgbouncer\n"
	             "      admin: {old: \"host=10.0.0.2 port=6432 dbname=pgbouncer\"}\n"
	             "      include: {old: /etc/pgbouncer/ferry.ini}\n",
	             &p);
	assert_false(p->dns.present);
	assert_false(p->traffic.present);
	assert_false(p->checks.present);
	assert_int_equal(p->ndatabases, 1);
	assert_string_equal(p->databases[0].password.env, "PGPASSWORD");
	/* named by the plan: no child of ferry inherits it */
	assert_true(secret_env_is_marked("PGPASSWORD"));
	assert_int_equal(p->databases[0].sw.via, PLAN_SWITCH_PGBOUNCER);
	/* the initial copy's defaults: ferry's parallel copy, 2 workers, the
	 * WAL guard's limits from the server's own cap */
	assert_int_equal(p->databases[0].initial_copy, PLAN_COPY_PARALLEL);
	assert_int_equal(p->databases[0].copy_jobs, 2);
	assert_int_equal(p->databases[0].wal_alarm_mb, 0);
	assert_int_equal(p->databases[0].wal_limit_mb, 0);
	plan_free(p);
	expect_valid("name: db-only\n"
	             "hosts: {old: {address: 10.0.0.2}, new: {address: 10.0.0.3}}\n"
	             "databases:\n"
	             "  - name: main\n"
	             "    engine: postgresql\n"
	             "    source: \"host=10.0.0.2 dbname=shop\"\n"
	             "    target: \"host=10.0.0.3 dbname=shop\"\n"
	             "    initial_copy: builtin\n"
	             "    copy_jobs: 8\n"
	             "    wal_alarm_mb: 1024\n"
	             "    wal_limit_mb: 4096\n"
	             "    switch:\n"
	             "      via: pgbouncer\n"
	             "      admin: {old: \"host=10.0.0.2 port=6432 dbname=pgbouncer\"}\n"
	             "      include: {old: /etc/pgbouncer/ferry.ini}\n",
	             &p);
	assert_int_equal(p->databases[0].initial_copy, PLAN_COPY_BUILTIN);
	assert_int_equal(p->databases[0].copy_jobs, 8);
	assert_int_equal(p->databases[0].wal_alarm_mb, 1024);
	assert_int_equal(p->databases[0].wal_limit_mb, 4096);
	plan_free(p);
}

static void test_urls_with_a_token_come_from_a_file_or_a_variable(void **state)
{
	struct plan *p;
	const struct plan_hook *h;

	(void)state;
	expect_valid("name: hooks\n"
	             "rollback:\n"
	             "  when:\n"
	             "    prometheus: {url_env: PROM_URL, query: up, threshold: 1}\n"
	             "hooks:\n"
	             "  before_cutover: {url_env: SLACK_HOOK_URL}\n"
	             "  after_cutover: {url_file: /etc/ferry/hook.url}\n"
	             "  on_rollback: {url: \"https://hooks.shop.test/x?channel=ops\"}\n"
	             "  before_prepare: https://hooks.shop.test/plain\n",
	             &p);
	assert_null(p->rollback.prometheus.url);
	assert_string_equal(p->rollback.prometheus.url_ref.env, "PROM_URL");
	h = plan_hook_find(p, "before_cutover");
	assert_null(h->url);
	assert_string_equal(h->url_ref.env, "SLACK_HOOK_URL");
	assert_true(secret_env_is_marked("SLACK_HOOK_URL"));
	assert_true(secret_env_is_marked("PROM_URL"));
	h = plan_hook_find(p, "after_cutover");
	assert_string_equal(h->url_ref.file, "/etc/ferry/hook.url");
	h = plan_hook_find(p, "on_rollback");
	assert_string_equal(h->url, "https://hooks.shop.test/x?channel=ops");
	assert_null(h->url_ref.env);
	h = plan_hook_find(p, "before_prepare");
	assert_string_equal(h->url, "https://hooks.shop.test/plain");
	plan_free(p);

	assert_true(plan_url_has_secret("https://h/x?token=a"));
	assert_true(plan_url_has_secret("https://h/x?a=1&access_token=a"));
	assert_true(plan_url_has_secret("https://h/x?API_KEY=a"));
	assert_true(plan_url_has_secret("https://h/api/x?code=a"));
	assert_true(plan_url_has_secret("https://h/x?sig=a&se=2030"));
	assert_true(plan_url_has_secret("https://u:p@h/x"));
	assert_false(plan_url_has_secret("https://h/x?channel=ops&tokens=3"));
	assert_false(plan_url_has_secret("https://h/token/x"));
	assert_false(plan_url_has_secret("https://h/x#token=a"));
}

static void test_dns_only_plan_is_valid(void **state)
{
	struct plan *p;

	(void)state;
	expect_valid("name: dns-only\n"
	             "hosts: {old: {address: 192.0.2.1}, new: {address: \"2001:db8::1\"}}\n"
	             "dns:\n"
	             "  server: \"[2001:db8::53]:5353\"\n"
	             "  zone: Example.TEST.\n"
	             "  records: [WWW.example.test., example.test]\n"
	             "  key: {name: k, algorithm: hmac-sha512, secret_env: TSIG_SECRET}\n",
	             &p);
	assert_int_equal(p->ndatabases, 0);
	assert_string_equal(p->dns.server_host, "2001:db8::53");
	assert_int_equal(p->dns.server_port, 5353);
	assert_string_equal(p->dns.zone, "example.test");
	assert_string_equal(p->dns.records.v[0], "www.example.test");
	assert_string_equal(p->dns.records.v[1], "example.test");
	assert_int_equal(p->dns.key.algorithm, PLAN_TSIG_HMAC_SHA512);
	assert_string_equal(p->dns.key.secret.env, "TSIG_SECRET");
	assert_true(secret_env_is_marked("TSIG_SECRET"));
	assert_string_equal(plan_tsig_alg_name(p->dns.key.algorithm), "hmac-sha512");
	plan_free(p);
}

/* Each side's record set: one address, several (A and AAAA), or a CNAME;
 * and each provider's keys. */
static void test_record_sets_and_providers(void **state)
{
	struct plan *p;

	(void)state;
	expect_valid("name: sets\n"
	             "hosts:\n"
	             "  old: {addresses: [10.0.0.2, \"2001:db8::2\", 10.0.0.4]}\n"
	             "  new: {cname: LB-1.Example.NET.}\n"
	             "dns:\n"
	             "  provider: powerdns\n"
	             "  api: \"http://127.0.0.1:8081\"\n"
	             "  api_key_env: PDNS_API_KEY\n"
	             "  zone: example.test\n"
	             "  records: [www.example.test]\n",
	             &p);
	assert_int_equal(p->host_old.addresses.n, 3);
	assert_string_equal(p->host_old.address, "10.0.0.2");
	assert_string_equal(p->host_old.addresses.v[1], "2001:db8::2");
	assert_null(p->host_old.cname);
	assert_null(p->host_new.address);
	assert_int_equal(p->host_new.addresses.n, 0);
	assert_string_equal(p->host_new.cname, "lb-1.example.net");
	assert_string_equal(p->dns.provider, "powerdns");
	assert_string_equal(p->dns.api, "http://127.0.0.1:8081");
	assert_string_equal(p->dns.api_key.env, "PDNS_API_KEY");
	/* named by the plan: no child of ferry inherits it (util/secret.h) */
	assert_true(secret_env_is_marked("PDNS_API_KEY"));
	assert_string_equal(p->dns.server_id, "localhost");
	assert_null(p->dns.server);
	plan_free(p);

	expect_valid("name: r53\n"
	             "hosts: {old: {address: 10.0.0.2}, new: {address: 10.0.0.3}}\n"
	             "dns:\n"
	             "  provider: route53\n"
	             "  hosted_zone_id: Z0123456789ABC\n"
	             "  access_key_id_env: AWS_ACCESS_KEY_ID\n"
	             "  secret_access_key_env: AWS_SECRET_ACCESS_KEY\n"
	             "  session_token_env: AWS_SESSION_TOKEN\n"
	             "  zone: example.test\n"
	             "  records: [www.example.test]\n",
	             &p);
	assert_string_equal(p->dns.api, "https://route53.amazonaws.com");
	assert_string_equal(p->dns.region, "us-east-1");
	assert_string_equal(p->dns.hosted_zone_id, "Z0123456789ABC");
	assert_null(p->dns.access_key_id);
	assert_string_equal(p->dns.access_key_id_ref.env, "AWS_ACCESS_KEY_ID");
	assert_string_equal(p->dns.secret_access_key.env, "AWS_SECRET_ACCESS_KEY");
	assert_string_equal(p->dns.session_token.env, "AWS_SESSION_TOKEN");
	assert_true(secret_env_is_marked("AWS_ACCESS_KEY_ID"));
	assert_true(secret_env_is_marked("AWS_SECRET_ACCESS_KEY"));
	assert_true(secret_env_is_marked("AWS_SESSION_TOKEN"));
	assert_false(secret_env_is_marked("AWS_REGION"));
	plan_free(p);

	expect_valid("name: cmd\n"
	             "hosts: {old: {address: 10.0.0.2}, new: {address: 10.0.0.3}}\n"
	             "dns:\n"
	             "  provider: command\n"
	             "  server: 10.0.0.53\n"
	             "  command: [lexicon-wrapper, --provider, cloudflare]\n"
	             "  command_timeout: 2m\n"
	             "  zone: example.test\n"
	             "  records: [www.example.test]\n",
	             &p);
	assert_int_equal(p->dns.command.n, 3);
	assert_string_equal(p->dns.command.v[0], "lexicon-wrapper");
	assert_int_equal(p->dns.command_timeout_ms, 120000);
	assert_string_equal(p->dns.server_host, "10.0.0.53");
	assert_false(p->dns.key.present);
	plan_free(p);
}

static void test_defaults(void **state)
{
	struct plan *p;

	(void)state;
	expect_valid("name: minimal\n", &p);
	assert_int_equal(p->rollback.window_ms, 72LL * 3600 * 1000);
	assert_true(p->rollback.error_rate < 0);
	assert_true(p->rollback.latency_p99_ms < 0);
	assert_true(p->rollback.health_failures < 0);
	assert_int_equal(p->schedule.replication_soak_ms, 24LL * 3600 * 1000);
	assert_int_equal(p->schedule.validation_ms, 24LL * 3600 * 1000);
	assert_int_equal(p->schedule.monitor_ms, 30 * 60 * 1000);
	assert_false(p->schedule.cutover_window.present);
	assert_int_equal(p->schedule.cutover_window.days, 0x7f);
	assert_string_equal(p->schedule.cutover_window.zone, "UTC");
	assert_int_equal(p->checks.tls.min_days, 14);
	assert_int_equal(p->dns.ttl.cutover, 60);
	plan_free(p);

	expect_valid(
	        "name: d\n"
	        "hosts: {old: {address: 10.0.0.2}, new: {address: 10.0.0.3}}\n"
	        "dns: {server: 10.0.0.1, zone: z.test, records: [a.z.test], key: {name: k,\n"
	        "      secret_file: /nonexistent/tsig}}\n"
	        "databases:\n"
	        "  - {name: main, engine: postgresql, source: \"host=a\", target: \"host=b\",\n"
	        "     switch: {via: pgbouncer, admin: {old: \"host=a port=6432\"},\n"
	        "              include: {old: /etc/pgbouncer/f.ini}}}\n"
	        "traffic: {admin: /run/haproxy.sock, backend: web, servers: {old: a, new: b}}\n"
	        "checks: {health: [{url: \"http://a.z.test/\"}]}\n"
	        "schedule: {validation: 6h, cutover_window: {from: \"22:00\", to: \"02:00\"}}\n",
	        &p);
	assert_string_equal(p->dns.provider, "rfc2136");
	assert_int_equal(p->dns.server_port, 53);
	assert_int_equal(p->dns.ttl.cutover, 60);
	assert_int_equal(p->dns.ttl.restore, 0);
	assert_int_equal(p->dns.ttl.nsteps, 1);
	assert_int_equal(p->dns.ttl.steps[0], 60);
	assert_int_equal(p->dns.key.algorithm, PLAN_TSIG_HMAC_SHA256);
	assert_int_equal(p->databases[0].pause_budget_ms, 5000);
	assert_string_equal(p->databases[0].sw.dbalias, "main");
	assert_null(p->databases[0].sw.admin_new);
	assert_string_equal(p->traffic.via, "haproxy");
	assert_int_equal(p->traffic.nsteps, 3);
	assert_true(p->traffic.steps[2] == 25);
	assert_int_equal(p->traffic.step_hold_ms, 2 * 3600 * 1000); /* 6h / 3 steps */
	assert_int_equal(p->checks.health[0].status, 200);
	assert_int_equal(p->schedule.cutover_window.days, 0x7f);
	assert_int_equal(p->schedule.cutover_window.from_min, 22 * 60);
	assert_int_equal(p->schedule.cutover_window.to_min, 2 * 60);
	assert_string_equal(p->schedule.cutover_window.zone, "UTC");
	plan_free(p);
}

/* ---- the table of malformed plans ---- */

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The diag lines of a load, with the folder taken off the file name. */
static char *bad_plan_lines(const char *path, int *code)
{
	struct plan_diags d = { 0 };
	struct ferry_error err = { 0 };
	struct plan *p = NULL;
	struct buf b;
	size_t i;

	*code = plan_load(path, &p, &d, &err);
	assert_null(p);
	buf_init(&b, 1 << 20);
	for (i = 0; i < d.n; i++) {
		const char *base = strrchr(d.v[i].file, '/');

		assert_non_null(d.v[i].msg);
		assert_int_equal(buf_addf(&b, "%s:%d:%d: %s%s\n", base ? base + 1 : d.v[i].file,
		                          d.v[i].line, d.v[i].column,
		                          d.v[i].warning ? "warning: " : "", d.v[i].msg),
		                 0);
	}
	if (*code == FERRY_EINVAL) {
		assert_int_equal(err.code, FERRY_EINVAL);
		assert_true(plan_diags_errors(&d) > 0);
		assert_non_null(strstr(err.msg, "error"));
	}
	plan_diags_release(&d);
	return buf_detach(&b, NULL);
}

static void test_bad_plans_report_exact_diagnostics(void **state)
{
	DIR *dir = opendir(BAD_DIR);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, i, failed = 0;

	(void)state;
	assert_non_null(dir);
	while ((e = readdir(dir)) != NULL) {
		size_t len = strlen(e->d_name);

		if (len > 5 && !strcmp(e->d_name + len - 5, ".yaml")) {
			names = xrealloc(names, (n + 1) * sizeof(*names));
			names[n++] = xstrdup(e->d_name);
		}
	}
	closedir(dir);
	qsort(names, n, sizeof(*names), by_name);
	/* STYLE: parsers get a table of at least 30 bad inputs */
	assert_true(n >= 30);

	for (i = 0; i < n; i++) {
		char *path = xasprintf("%s/%s", BAD_DIR, names[i]);
		char *expect_path =
		        xasprintf("%s/%.*s.expect", BAD_DIR, (int)(strlen(names[i]) - 5), names[i]);
		struct buf expect;
		char *got;
		int code;

		buf_init(&expect, 1 << 20);
		if (buf_read_file(&expect, expect_path) != 0)
			fail_msg("%s has no %s", path, expect_path);
		got = bad_plan_lines(path, &code);
		if (code != FERRY_EINVAL) {
			print_error("%s: returned %d, not FERRY_EINVAL\n", names[i], code);
			failed++;
		} else if (strcmp(got, expect.data) != 0) {
			print_error("%s:\n--- expected\n%s--- got\n%s", names[i], expect.data, got);
			failed++;
		}
		free(got);
		buf_release(&expect);
		free(expect_path);
		free(path);
		free(names[i]);
	}
	free(names);
	assert_int_equal(failed, 0);
}

/* ---- hostile input too big to keep in the repository ---- */

static void test_huge_scalar_is_refused(void **state)
{
	static const char head[] = "name: shop\nrollback:\n  authority: ";
	size_t n = 1 << 20, h = sizeof(head) - 1;
	char *text = xmalloc(h + n + 1);

	(void)state;
	memcpy(text, head, h);
	memset(text + h, 'x', n);
	text[h + n] = '\0';
	expect_error(text, "t.yaml:3:14: rollback.authority: value is too long (1048576 bytes");
	free(text);
}

static void test_file_over_4mib_is_refused(void **state)
{
	struct plan_diags d = { 0 };
	struct ferry_error err = { 0 };
	struct plan *p = NULL;
	size_t n = (4u << 20) + 1;
	char *text = xmalloc(n);

	(void)state;
	memset(text, '#', n);
	assert_int_equal(plan_load_string("big.yaml", text, n, &p, &d, &err), FERRY_EINVAL);
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.v[0].msg, "larger than"));
	plan_diags_release(&d);
	free(text);
}

static void test_long_list_is_cut(void **state)
{
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b, 4 << 20);
	assert_int_equal(buf_adds(&b, "name: shop\nchecks:\n  packages: ["), 0);
	for (i = 0; i < 150000; i++)
		assert_int_equal(buf_adds(&b, "p,"), 0);
	assert_int_equal(buf_adds(&b, "p]\n"), 0);
	expect_error(b.data, "t.yaml:3:2014: checks.packages: more than 1000 entries");
	buf_release(&b);
}

static void test_error_flood_is_capped(void **state)
{
	struct buf b;
	struct plan *p;
	char *diags;
	size_t i;

	(void)state;
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_adds(&b, "name: shop\n"), 0);
	for (i = 0; i < 500; i++)
		assert_int_equal(buf_addf(&b, "junk%zu: 1\n", i), 0);
	assert_int_equal(load_text(b.data, &p, &diags), FERRY_EINVAL);
	assert_non_null(strstr(diags, "t.yaml: 400 more errors not shown"));
	free(diags);
	buf_release(&b);
}

/* ---- single checks ---- */

static void test_more_bad_values(void **state)
{
	(void)state;
	expect_error("name: x\nhosts: {old: {address: 10.0.0.1, exec: [ssh, \"\"]}}\n",
	             "t.yaml:2:46: hosts.old.exec[1]: empty string");
	expect_error(
	        "name: x\nrollback: {when: {prometheus: {url: \"http://p:9090\", query: q}}}\n",
	        "rollback.when.prometheus: missing required key 'threshold'");
	expect_error("name: x\nrollback: {when: {prometheus: {url: \"http://p\", query: q, "
	             "threshold: lots}}}\n",
	             "rollback.when.prometheus.threshold: 'lots' is not a number");
	expect_error("name: x\ndatabases:\n  - {name: a, engine: redis, source: s, target: t, "
	             "checksum: yes}\n",
	             "databases[a].checksum: 'yes' is not true or false");
	expect_error("name: x\ndatabases:\n  - {name: a, engine: redis, source: s, target: t, "
	             "pause_budget: 0s}\n",
	             "databases[a].pause_budget: must be longer than 0");
	expect_error("name: x\nchecks: {env: {process: a, unit: b}}\n",
	             "checks.env: give exactly one of 'process', 'pidfile' or 'unit'");
	expect_error("name: \"a b\"\n", "name: 'a b' is not a name");
	expect_error("name: x\nschedule: {cutover_window: {from: \"02:00\", to: \"02:00\"}}\n",
	             "'from' and 'to' are equal");
	expect_error("name: x\ntraffic: {admin: \"10.0.0.1\", backend: b, servers: {old: a, new: "
	             "b}, steps: [0%]}\n",
	             "traffic.admin: '10.0.0.1': missing the port");
	expect_error("name: x\ntraffic: {admin: \"10.0.0.1:1\", backend: b, servers: {old: a}, "
	             "steps: [0%]}\n",
	             "traffic.steps[0]: a step must send more than 0%");
	expect_error("name: x\ntraffic: {admin: \"10.0.0.1:1\", backend: b, servers: {old: a}}\n",
	             "traffic.servers: missing required key 'new'");
	expect_error("name: x\ndns: {server: ns1.example:53, zone: z.test, records: [a.z.test]}\n",
	             "dns.server: 'ns1.example:53': not an IPv4 or IPv6 address");
	expect_error("name: x\nhosts: {old: {address: 10.0.0.1}, new: {address: 10.0.0.2}}\n"
	             "dns: {server: 10.0.0.9, zone: z.test, records: [a.z.test, A.z.test.]}\n",
	             "dns.records[1]: record 'a.z.test' is listed twice");
	expect_error("name: x\ndns: {server: 10.0.0.9, zone: \"z..test\", records: []}\n",
	             "dns.zone: 'z..test' is a name with an empty label");
	expect_error("name: x\ndns: {server: 10.0.0.9, zone: z.test, records: []}\n",
	             "dns.records: the list is empty");
	expect_error("name: x\ndns: {server: 10.0.0.9, zone: z.test, records: [a.z.test],\n"
	             "  key: {name: k, algorithm: hmac-sha257, secret_env: \"1X\"}}\n",
	             "dns.key.algorithm: unknown TSIG algorithm 'hmac-sha257'; did you mean "
	             "'hmac-sha256'?");
	expect_error("name: x\ndns: {server: 10.0.0.9, zone: z.test, records: [a.z.test],\n"
	             "  key: {name: k, secret_env: \"1X\"}}\n",
	             "dns.key.secret_env: '1X' is not an environment variable name");
	expect_error("name: x\nhosts: {old: {}}\nchecks: {egress: [\"payments:443\"]}\n",
	             "checks: the host checks compare hosts.old and hosts.new");
	expect_error("name: x\nhooks: {before_cutover: {cmd: x}}\n",
	             "hooks.before_cutover: unknown key 'cmd'");
	expect_error("name: x\nhooks: {before_cutover: 3.5}\n",
	             "hooks.before_cutover: not an http:// or https:// URL");
	expect_error("name: x\nhooks: {before_cutover: }\n",
	             "hooks.before_cutover: expected a command list or a URL, found nothing");
	expect_error("name: x\ndns:\n", "t.yaml:2:1: dns: expected a mapping, found nothing");
	expect_error("x: &a 1\nname: *b\n", "t.yaml:2:7: alias '*b' has no anchor");
	expect_error("name: x\n<<: {dns: 1}\n", "merge keys ('<<') are not supported");
	expect_error("{name: x, token: abc123}", "token: inline secret");
	expect_error("name: x\nhosts: {old: {address: 10.0.0.1}, new: {address: 10.0.0.1}}\n",
	             "t.yaml:2:35: hosts.new.address: the same address as hosts.old (10.0.0.1)");
	expect_error("name: x\ndatabases: [{name: a, engine: redis, source: s, target: s}]\n",
	             "databases[a]: source and target are the same");
	expect_error("name: x\ntraffic: {admin: \"10.0.0.1:1\", backend: b, servers: {old: a, new: "
	             "a}}\n",
	             "traffic.servers: old and new are the same server 'a'");
	expect_error("name: x\nextra: {api_key: abc}\n", "extra.api_key: inline secret");
	expect_error("name: x\nchecks: {health: [{url: \"https://u:p@h/\"}]}\n",
	             "checks.health[0].url: inline secret");
}

static void test_value_checks(void **state)
{
	const char *why;
	char *host, *n;
	uint16_t port;

	(void)state;
	assert_true(plan_hostport("10.0.0.1:53", true, 0, &host, &port, &why));
	assert_string_equal(host, "10.0.0.1");
	assert_int_equal(port, 53);
	free(host);
	assert_true(plan_hostport("[::1]", true, 53, &host, &port, &why));
	assert_string_equal(host, "::1");
	assert_int_equal(port, 53);
	free(host);
	assert_false(plan_hostport("[10.0.0.1]:53", true, 0, &host, &port, &why));
	assert_false(plan_hostport(":53", false, 0, &host, &port, &why));
	assert_false(plan_hostport("a:0", false, 0, &host, &port, &why));
	assert_false(plan_hostport("a:65536", false, 0, &host, &port, &why));
	assert_true(plan_hostport("a:65535", false, 0, &host, &port, &why));
	free(host);

	n = plan_dns_name("WWW.Shop.Test.", &why);
	assert_string_equal(n, "www.shop.test");
	free(n);
	assert_null(plan_dns_name(".", &why));
	assert_true(plan_name_in_zone("shop.test", "shop.test"));
	assert_true(plan_name_in_zone("a.shop.test", "shop.test"));
	assert_false(plan_name_in_zone("ashop.test", "shop.test"));

	assert_true(plan_conninfo_has_password("host=a password=x"));
	assert_true(plan_conninfo_has_password("host=a PASSWORD = x"));
	assert_true(plan_conninfo_has_password("postgresql://u:p@h/db"));
	assert_true(plan_conninfo_has_password("postgresql://h/db?password=x"));
	assert_false(plan_conninfo_has_password("host=a passfile=/x user=password"));
	assert_false(plan_conninfo_has_password("postgresql://u@h:5432/db"));
	/* every libpq keyword that ends in "password" holds a secret */
	assert_true(plan_conninfo_has_password("host=a sslpassword=x"));
	assert_true(plan_conninfo_has_password("sslpassword = x host=a"));
	assert_true(plan_conninfo_has_password("postgresql://h/db?sslmode=require&sslpassword=x"));
	assert_false(plan_conninfo_has_password("host=a sslkey=/password"));
	assert_false(plan_conninfo_has_password("postgresql://h/db?user=password"));

	assert_true(plan_key_is_secret("secret"));
	assert_true(plan_key_is_secret("tsig_secret"));
	assert_true(plan_key_is_secret("api-token"));
	assert_false(plan_key_is_secret("secret_file"));
	assert_false(plan_key_is_secret("tokens"));
	assert_true(plan_key_is_secret("sslpassword"));
	assert_true(plan_key_is_secret("adminpassword"));
	assert_true(plan_key_is_secret("db_passwd"));
	assert_false(plan_key_is_secret("password_file"));

	assert_true(plan_time_zone_ok("UTC", &why));
	assert_true(plan_time_zone_ok("Europe/Berlin", &why));
	assert_false(plan_time_zone_ok("/etc/localtime", &why));
	assert_false(plan_time_zone_ok("Europe/../../etc/passwd", &why));
	assert_false(plan_time_zone_ok("Europe", &why));   /* a folder */
	assert_false(plan_time_zone_ok("zone.tab", &why)); /* a file, not TZif */

	assert_int_equal(plan_weekday_parse("Sun"), PLAN_SUN);
	assert_int_equal(plan_weekday_parse("saturday"), PLAN_SAT);
	assert_int_equal(plan_weekday_parse("sa"), -1);
	assert_string_equal(plan_weekday_name(PLAN_WED), "wed");

	{
		static const char *const keys[] = { "server", "zone", "records", NULL };

		assert_string_equal(plan_suggest("sever", keys), "server");
		assert_string_equal(plan_suggest("zoen", keys), "zone");
		assert_null(plan_suggest("xyz", keys));
	}
}

/* ---- secrets ---- */

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_secret_read(void **state)
{
	char dir[] = "/tmp/ferry-test-plan-XXXXXX";
	struct plan_diags d = { 0 };
	struct ferry_error err = { 0 };
	struct plan_secret s = { 0 };
	struct plan *p = NULL;
	char *plan_path, *secret_path, *open_path;
	struct buf out;

	(void)state;
	assert_non_null(mkdtemp(dir));
	plan_path = xasprintf("%s/p.yaml", dir);
	secret_path = xasprintf("%s/pg.password", dir);
	open_path = xasprintf("%s/open.password", dir);
	write_file(plan_path,
	           "name: s\n"
	           "hosts: {old: {address: 10.0.0.2}, new: {address: 10.0.0.3}}\n"
	           "databases:\n"
	           "  - {name: a, engine: postgresql, source: \"host=a\", target: \"host=b\",\n"
	           "     password: {file: pg.password}, switch: {via: pgbouncer,\n"
	           "     admin: {old: \"host=a port=6432\"}, include: {old: /etc/a.ini}}}\n"
	           "  - {name: b, engine: postgresql, source: \"host=a\", target: \"host=b\",\n"
	           "     password: {file: open.password}, switch: {via: pgbouncer,\n"
	           "     admin: {old: \"host=a port=6432\"}, include: {old: /etc/b.ini}}}\n",
	           0644);
	write_file(secret_path, "s3cret-value\n\n", 0600);
	write_file(open_path, "x", 0644);

	assert_int_equal(plan_load(plan_path, &p, &d, &err), 0);
	/* the file others can read is a warning, the private one is not */
	assert_int_equal(d.n, 1);
	assert_true(d.v[0].warning);
	assert_int_equal(d.v[0].line, 8);
	assert_non_null(strstr(d.v[0].msg, "open.password can be read by group or others"));

	buf_init(&out, 0);
	assert_int_equal(plan_secret_read(p, &p->databases[0].password, &out, &err), 0);
	assert_string_equal(out.data, "s3cret-value");
	buf_release_secret(&out);

	s.env = "FERRY_TEST_PLAN_SECRET";
	setenv(s.env, "from-env\n", 1);
	buf_init(&out, 0);
	assert_int_equal(plan_secret_read(p, &s, &out, &err), 0);
	assert_string_equal(out.data, "from-env");
	buf_release_secret(&out);
	/* read once, it has left the environment (no child inherits it),
	 * and a second read in the same run still has it */
	assert_null(getenv(s.env));
	buf_init(&out, 0);
	assert_int_equal(plan_secret_read(p, &s, &out, &err), 0);
	assert_string_equal(out.data, "from-env");
	buf_release_secret(&out);

	s.env = "FERRY_TEST_PLAN_SECRET_UNSET";
	buf_init(&out, 0);
	assert_int_equal(plan_secret_read(p, &s, &out, &err), FERRY_ENOTFOUND);
	assert_non_null(strstr(err.msg, "FERRY_TEST_PLAN_SECRET_UNSET"));
	buf_release_secret(&out);

	s.env = NULL;
	s.file = "missing.password";
	buf_init(&out, 0);
	assert_int_equal(plan_secret_read(p, &s, &out, &err), FERRY_ENOTFOUND);
	assert_non_null(strstr(err.msg, "missing.password"));
	assert_null(strstr(err.msg, "s3cret"));
	buf_release_secret(&out);

	plan_free(p);
	plan_diags_release(&d);
	unlink(secret_path);
	unlink(open_path);
	unlink(plan_path);
	rmdir(dir);
	free(secret_path);
	free(open_path);
	free(plan_path);
}

static void test_missing_file(void **state)
{
	struct plan_diags d = { 0 };
	struct ferry_error err = { 0 };
	struct plan *p = NULL;

	(void)state;
	assert_int_equal(plan_load("../plans/no-such-plan.yaml", &p, &d, &err), FERRY_ENOTFOUND);
	assert_non_null(strstr(err.msg, "no-such-plan.yaml"));
	assert_int_equal(d.n, 0);
}

static void test_diags_format(void **state)
{
	struct plan *p;
	char *diags;

	(void)state;
	assert_int_equal(load_text("name: x\ndns: {sever: 1}\n", &p, &diags), FERRY_EINVAL);
	assert_non_null(strstr(diags, "t.yaml:2:7: dns: unknown key 'sever'; did you mean "
	                              "'server'?\n  hint: provider, server,"));
	free(diags);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_loads_with_every_field),
		cmocka_unit_test(test_database_only_plan_is_valid),
		cmocka_unit_test(test_urls_with_a_token_come_from_a_file_or_a_variable),
		cmocka_unit_test(test_dns_only_plan_is_valid),
		cmocka_unit_test(test_record_sets_and_providers),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_bad_plans_report_exact_diagnostics),
		cmocka_unit_test(test_huge_scalar_is_refused),
		cmocka_unit_test(test_file_over_4mib_is_refused),
		cmocka_unit_test(test_long_list_is_cut),
		cmocka_unit_test(test_error_flood_is_capped),
		cmocka_unit_test(test_more_bad_values),
		cmocka_unit_test(test_value_checks),
		cmocka_unit_test(test_secret_read),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_diags_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
