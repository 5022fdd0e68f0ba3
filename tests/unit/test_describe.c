/*
 * test_describe.c - the dry run's driver half (DESIGN §5): the exact
 * actions the PostgreSQL engine's replicate_start and teardown, and the
 * orchestrator's switch through two pgbouncers (both ways), would send,
 * the Redis switch through two HAProxy TCP backends (both ways), and the
 * runtime API commands of a traffic split, all produced without a
 * connection.  The expected texts are
 * written out in full so that a change to what the switch sends shows up
 * here; every description is also searched for the passwords the config
 * holds (in its secrets and inside its conninfos), which must never appear.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/orchestrator.h"
#include "db/db.h"
#include "traffic/traffic.h"
#include "util/buf.h"
#include "util/error.h"

static const char *const exec_old[] = { "ip", "netns", "exec", "ferry-old" };

static const struct db_config cfg = {
	.name = "main",
	.old_conninfo = "host=10.77.0.2 port=5432 dbname=shop user=ferry password=PwOldCi",
	.new_conninfo = "host=10.77.0.3 port=5432 dbname=shop user=ferry",
	.old_password = "PwOldSecret",
	.new_password = "PwNewSecret",
	.new_from_old = "host=10.77.0.3 dbname=shop user=repl password=PwReplCi",
	.pause_budget_ms = 2000,
};

static const struct plan_database pd_main = { .name = "main" };

/* The database as core/endpoints.c makes it from a plan: two pgbouncers
 * (the old host's reached through its exec prefix), the targets the
 * applications are pointed at. */
static void db_init(struct endpoints_db *d)
{
	memset(d, 0, sizeof(*d));
	d->pd = &pd_main;
	d->eng = db_engine_find("postgresql");
	d->cfg = cfg;
	d->budget_ms = 2000;
	d->sw = sw_driver_find("pgbouncer");
	d->nsw = 2;
	d->swcfg[0] = (struct sw_config){
		.name = "pooler old",
		.admin = "host=127.0.0.1 port=6432 dbname=pgbouncer user=pgbouncer "
		         "password=PwAdminCi",
		.admin_password = "PwAdminSecret",
		.exec = exec_old,
		.nexec = 4,
		.include_path = "/etc/pgbouncer/ferry db.ini",
		.dbalias = "shop",
	};
	d->swcfg[1] = (struct sw_config){
		.name = "pooler new",
		.admin = "host=127.0.0.1 port=6433 dbname=pgbouncer user=pgbouncer",
		.include_path = "/etc/pgbouncer/ferry.ini",
		.dbalias = "shop",
	};
	d->target[DB_OLD] = (struct sw_target){ "10.77.0.2", 5432, "shop" };
	d->target[DB_NEW] = (struct sw_target){ "10.77.0.3", 5432, "shop" };
}

static const char *const secrets[] = { "PwAdminCi",   "PwAdminSecret", "PwOldCi",  "PwOldSecret",
	                               "PwNewSecret", "PwReplCi",      "password=" };

static void assert_no_secret(const char *text)
{
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		if (strstr(text, secrets[i])) {
			fprintf(stderr, "found '%s' in:\n%s", secrets[i], text);
			fail();
		}
}

/* Reads the expected text tests/unit/describe/NAME (the test runs in
 * tests/unit); FERRY_TEST_PRINT=1 prints what was produced instead of
 * comparing, to review and update a file after a deliberate change. */
static void assert_golden(const char *name, const char *got)
{
	char path[256];
	struct buf want;

	if (getenv("FERRY_TEST_PRINT")) {
		fprintf(stderr, "==> %s\n%s", name, got);
		return;
	}
	snprintf(path, sizeof(path), "describe/%s", name);
	buf_init(&want, 1 << 20);
	assert_int_equal(buf_read_file(&want, path), 0);
	if (strcmp(got, want.data)) {
		size_t i = 0;
		while (got[i] && got[i] == want.data[i])
			i++;
		fprintf(stderr, "%s differs at byte %zu:\n got: %.300s\nwant: %.300s\n", name, i,
		        got + i, want.data + i);
		buf_release(&want);
		fail();
	}
	buf_release(&want);
}

/* The orchestrator's steps in the order they run (core/orchestrator.c),
 * and which of them are inside the write pause. */
static const struct {
	const char *name;
	bool pause;
} order[] = {
	{ "open", false },           { "preflight", false },     { "prepare", false },
	{ "pause", true },           { "fence", true },          { "position", true },
	{ "wait_applied", true },    { "finalize", true },       { "stop_forward", true },
	{ "prepare_reverse", true }, { "unfence_target", true }, { "point", true },
	{ "confirm", true },         { "fence_holds", true },    { "commit", true },
	{ "resume", true },          { "served", false },        { "start_reverse", false },
	{ "drop_forward", false },   { "undo", true },
};

/* Every line is "STEP [pause] DATABASE|ferry ...: ACTION"; the steps come
 * in the orchestrator's order; exactly the steps inside the pause, and
 * the undo's, are marked [pause]. */
static void assert_switch_shape(const char *text)
{
	const char *line = text;
	size_t k = 0, n_order = sizeof(order) / sizeof(order[0]);

	while (*line) {
		const char *nl = strchr(line, '\n');
		size_t n = strcspn(line, " ");
		bool pause = !strncmp(line + n, " [pause] ", 9);

		assert_non_null(nl);
		assert_non_null(memchr(line, ':', (size_t)(nl - line)));
		while (k < n_order &&
		       (strlen(order[k].name) != n || strncmp(line, order[k].name, n)))
			k++;
		if (k == n_order) {
			fprintf(stderr, "step out of order or unknown: %.*s\n", (int)n, line);
			fail();
		}
		if (pause != order[k].pause) {
			fprintf(stderr, "pause mark wrong on: %.*s\n", (int)(nl - line), line);
			fail();
		}
		line = nl + 1;
	}
	assert_int_equal(k, n_order - 1); /* it ends with the undo */
}

static void describe(enum db_direction dir, struct buf *b, int want)
{
	struct endpoints_db d, *dbs[1] = { &d };
	struct ferry_error err = { 0 };

	db_init(&d);
	assert_int_equal(orch_describe(dbs, 1, dir, b, &err), want);
}

static void test_switch_forward(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 20);
	describe(DB_FORWARD, &b, 0);
	assert_no_secret(b.data);
	assert_switch_shape(b.data);
	/* the key actions, whatever else the golden file holds */
	assert_non_null(strstr(b.data, "fence [pause] main old: BEGIN; ALTER DATABASE \"shop\" SET "
	                               "default_transaction_read_only = on; COMMIT; "));
	assert_non_null(strstr(b.data, "pause [pause] main pooler old console: PAUSE shop\n"));
	assert_non_null(strstr(b.data, "position [pause] main old: SELECT "
	                               "pg_current_wal_insert_lsn()"));
	assert_non_null(strstr(b.data, "stop_forward [pause] main new: ALTER SUBSCRIPTION "
	                               "\"ferry_sub\" DISABLE\n"));
	assert_non_null(strstr(b.data, "confirm [pause] main pooler new console: SHOW DATABASES"));
	/* the password is in a file on the subscriber's host, not in the SQL */
	assert_non_null(strstr(b.data, "CONNECTION E'user=''repl'' dbname=''shop'' "
	                               "host=''10.77.0.3'' passfile=''<data_directory>/"
	                               "ferry_rev_sub.pgpass''' PUBLICATION \"ferry_rev_pub\""));
	assert_golden("switch_forward.txt", b.data);
	buf_release(&b);
}

static void test_switch_reverse(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 20);
	describe(DB_REVERSE, &b, 0);
	assert_no_secret(b.data);
	assert_switch_shape(b.data);
	/* the rollback fences new, repoints the poolers at old, and removes
	 * the fence the cutover left on old */
	assert_non_null(strstr(b.data, "fence [pause] main new: BEGIN; ALTER DATABASE \"shop\" SET "
	                               "default_transaction_read_only = on; COMMIT; "));
	assert_non_null(strstr(b.data, "shop = host=10.77.0.2 port=5432 dbname=shop\\n\n"));
	assert_non_null(strstr(b.data,
	                       "unfence_target [pause] main old: BEGIN; ALTER DATABASE \"shop\" "
	                       "RESET default_transaction_read_only"));
	assert_golden("switch_reverse.txt", b.data);
	buf_release(&b);
}

/* A Redis database behind two HAProxy TCP backends (the old host's and
 * the new host's runtime API), as core/endpoints.c makes it. */
static const struct plan_database pd_cache = { .name = "cache" };

static void redis_init(struct endpoints_db *d)
{
	static const struct db_config rcfg = {
		.name = "cache",
		.old_conninfo = "redis://ferry@10.77.0.2:6379",
		.new_conninfo = "rediss://10.77.0.3:6380?ca=/etc/ferry/ca.pem",
		.old_password = "PwOldSecret",
		.new_password = "PwNewSecret",
		.pause_budget_ms = 2000,
	};

	memset(d, 0, sizeof(*d));
	d->pd = &pd_cache;
	d->eng = db_engine_find("redis");
	d->cfg = rcfg;
	d->budget_ms = 2000;
	d->sw = sw_driver_find("haproxy");
	d->nsw = 2;
	d->swcfg[0] = (struct sw_config){
		.name = "haproxy old", .api = "10.77.0.2:9999", .backend = "cache", .server = "db"
	};
	d->swcfg[1] = (struct sw_config){
		.name = "haproxy new", .api = "10.77.0.3:9999", .backend = "cache", .server = "db"
	};
	d->target[DB_OLD] = (struct sw_target){ "10.77.0.2", 6379, NULL };
	d->target[DB_NEW] = (struct sw_target){ "10.77.0.3", 6380, NULL };
}

static void test_switch_redis(void **state)
{
	struct endpoints_db d, *dbs[1] = { &d };
	struct ferry_error err = { 0 };
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 20);
	redis_init(&d);
	assert_int_equal(orch_describe(dbs, 1, DB_FORWARD, &b, &err), 0);
	assert_no_secret(b.data);
	assert_switch_shape(b.data);
	assert_non_null(strstr(b.data, "fence [pause] cache old: CLIENT PAUSE <ms> WRITE  -- "));
	assert_non_null(strstr(b.data, "stop_forward [pause] cache new: REPLICAOF NO ONE; "));
	assert_non_null(strstr(b.data, "prepare_reverse [pause] cache old: REPLICAOF  -- "
	                               "10.77.0.3 6380: a partial resync"));
	assert_non_null(strstr(b.data, "start_reverse cache old: CLIENT UNPAUSE"));
	assert_golden("switch_redis_forward.txt", b.data);
	buf_reset(&b);
	/* the rollback: the same steps, new -> old */
	assert_int_equal(orch_describe(dbs, 1, DB_REVERSE, &b, &err), 0);
	assert_no_secret(b.data);
	assert_switch_shape(b.data);
	assert_non_null(strstr(b.data, "fence [pause] cache new: CLIENT PAUSE <ms> WRITE  -- "));
	assert_non_null(strstr(b.data, "prepare_reverse [pause] cache new: REPLICAOF  -- "
	                               "10.77.0.2 6379: a partial resync"));
	assert_golden("switch_redis_reverse.txt", b.data);
	buf_release(&b);
}

/* A MariaDB database behind two HAProxy TCP backends (the engine without
 * a pausing pooler): the fence is read_only, the commit point is the
 * HAProxy POINT, the reverse stream is MASTER_DEMOTE_TO_SLAVE. */
static const struct db_config cfg_mdb = {
	.name = "pay",
	.old_conninfo = "host=10.77.0.2 port=3306 dbname=pay user=ferry password=PwOldCi",
	.new_conninfo = "host=10.77.0.3 port=3306 dbname=pay user=ferry",
	.old_password = "PwOldSecret",
	.new_password = "PwNewSecret",
	.pause_budget_ms = 2000,
};
static const struct plan_database pd_pay = { .name = "pay" };

static void describe_mdb(enum db_direction dir, struct buf *b)
{
	struct endpoints_db d, *dbs[1] = { &d };
	struct ferry_error err = { 0 };

	memset(&d, 0, sizeof(d));
	d.pd = &pd_pay;
	d.eng = db_engine_find("mariadb");
	d.cfg = cfg_mdb;
	d.budget_ms = 2000;
	d.sw = sw_driver_find("haproxy");
	d.nsw = 2;
	d.swcfg[0] = (struct sw_config){
		.name = "haproxy old", .api = "127.0.0.1:9901", .backend = "pay", .server = "db"
	};
	d.swcfg[1] = (struct sw_config){ .name = "haproxy new",
		                         .api = "/run/haproxy/admin.sock",
		                         .backend = "pay",
		                         .server = "db" };
	d.target[DB_OLD] = (struct sw_target){ "10.77.0.2", 3306, "pay" };
	d.target[DB_NEW] = (struct sw_target){ "10.77.0.3", 3306, "pay" };
	assert_int_equal(orch_describe(dbs, 1, dir, b, &err), 0);
	assert_no_secret(b->data);
	assert_switch_shape(b->data);
}

static void test_mariadb_switch(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 20);
	describe_mdb(DB_FORWARD, &b);
	/* the fence and the position, then the kills: two round trips */
	assert_non_null(strstr(b.data, "fence [pause] pay old: BEGIN NOT ATOMIC "));
	assert_non_null(strstr(b.data, "SET GLOBAL read_only = 1; IF @@GLOBAL.event_scheduler"));
	assert_non_null(strstr(b.data,
	                       "fence [pause] pay old: BEGIN NOT ATOMIC DECLARE n INT DEFAULT "
	                       "2; DECLARE CONTINUE HANDLER FOR 1094 SET n = n - 1; KILL "
	                       "CONNECTION $2; KILL CONNECTION ...; SELECT n, "
	                       "@@GLOBAL.gtid_binlog_pos; END  -- "));
	assert_non_null(
	        strstr(b.data, "position [pause] pay old: SELECT @@GLOBAL.gtid_binlog_pos"));
	assert_non_null(strstr(b.data, "wait_applied [pause] pay new: SELECT MASTER_GTID_WAIT("));
	assert_non_null(strstr(b.data, "stop_forward [pause] pay new: STOP SLAVE"));
	assert_non_null(strstr(b.data, "prepare_reverse [pause] pay old: CHANGE MASTER TO "
	                               "MASTER_HOST='10.77.0.3', MASTER_PORT=3306"));
	assert_non_null(strstr(b.data, "MASTER_DEMOTE_TO_SLAVE=1"));
	assert_non_null(strstr(b.data,
	                       "unfence_target [pause] pay new: BEGIN NOT ATOMIC SET GLOBAL "
	                       "read_only = 0; SELECT EVENT_NAME, STATUS FROM"));
	assert_non_null(strstr(b.data, "commit [pause] pay haproxy new api: set server pay/db addr "
	                               "10.77.0.3 port 3306; shutdown sessions server pay/db"));
	assert_non_null(strstr(b.data, "start_reverse pay old: START SLAVE"));
	assert_non_null(strstr(b.data, "drop_forward pay new: RESET SLAVE ALL"));
	assert_golden("mariadb_switch_forward.txt", b.data);
	buf_reset(&b);
	describe_mdb(DB_REVERSE, &b);
	assert_non_null(strstr(b.data, "fence [pause] pay new: BEGIN NOT ATOMIC "));
	assert_non_null(strstr(b.data,
	                       "unfence_target [pause] pay old: BEGIN NOT ATOMIC SET GLOBAL "
	                       "read_only = 0"));
	assert_non_null(strstr(b.data, "start_reverse pay old: SELECT start FROM _ferry.reverse"));
	assert_golden("mariadb_switch_reverse.txt", b.data);
	buf_release(&b);
}

static void test_replicate_and_teardown(void **state)
{
	const struct db_engine *eng = db_engine_find("postgresql");
	struct ferry_error err = { 0 };
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 20);
	assert_int_equal(eng->describe_replicate(&cfg, &b, &err), 0);
	assert_no_secret(b.data);
	assert_golden("replicate.txt", b.data);
	buf_reset(&b);
	{
		/* initial_copy: builtin (the server's own table sync) */
		struct db_config c = cfg;
		c.copy_method = DB_COPY_BUILTIN;
		assert_int_equal(eng->describe_replicate(&c, &b, &err), 0);
		assert_no_secret(b.data);
		assert_golden("replicate-builtin.txt", b.data);
		buf_reset(&b);
	}
	assert_int_equal(eng->describe_teardown(&cfg, &b, &err), 0);
	assert_no_secret(b.data);
	assert_golden("teardown.txt", b.data);
	buf_release(&b);
}

/* What the switch would refuse, the description refuses; a caller's
 * buffer is either given the whole text or left as it was. */
static void test_refusals(void **state)
{
	struct endpoints_db d, *dbs[1] = { &d };
	struct ferry_error err = { 0 };
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 20);
	buf_adds(&b, "kept\n");
	db_init(&d);
	d.swcfg[0].dbalias = "shop; RELOAD";
	assert_int_equal(orch_describe(dbs, 1, DB_FORWARD, &b, &err), FERRY_EINVAL);
	assert_non_null(strstr(err.msg, "pooler old"));
	assert_string_equal(b.data, "kept\n");

	db_init(&d);
	d.target[DB_NEW].dbname = "shop password=PwPooler";
	memset(&err, 0, sizeof(err));
	assert_int_equal(orch_describe(dbs, 1, DB_FORWARD, &b, &err), FERRY_EINVAL);
	assert_null(strstr(err.msg, "PwPooler"));
	assert_string_equal(b.data, "kept\n");
	buf_release(&b);

	buf_init(&b, 64);
	buf_adds(&b, "kept\n");
	describe(DB_FORWARD, &b, FERRY_EPROTO);
	assert_string_equal(b.data, "kept\n");
	buf_release(&b);
}

static void split(double pct, const char *want)
{
	const struct traffic_driver *drv = traffic_driver_find("haproxy");
	struct ferry_error err = { 0 };
	struct buf b;

	buf_init(&b, 4096);
	assert_int_equal(traffic_describe_split(drv, "web", "old", "new", pct, &b, &err), 0);
	assert_string_equal(b.data, want);
	buf_release(&b);
}

static void test_split_commands(void **state)
{
	const struct traffic_driver *drv = traffic_driver_find("haproxy");
	struct ferry_error err = { 0 };
	struct buf b;

	(void)state;
	/* the server whose weight is not 0 first: never both at 0 */
	split(0, "set weight web/old 100\nset weight web/new 0\n");
	split(25, "set weight web/new 25\nset weight web/old 75\n");
	split(100, "set weight web/new 100\nset weight web/old 0\n");
	split(0.5, "set weight web/new 1\nset weight web/old 199\n");

	buf_init(&b, 4096);
	assert_int_equal(traffic_describe_split(drv, "web", "old", "new", 100.5, &b, &err),
	                 FERRY_EINVAL);
	assert_int_equal(traffic_describe_split(drv, "web", "old", "new server", 5, &b, &err),
	                 FERRY_EINVAL);
	assert_int_equal(b.len, 0);
	buf_release(&b);
	buf_init(&b, 30);
	assert_int_equal(traffic_describe_split(drv, "web", "old", "new", 5, &b, &err),
	                 FERRY_EPROTO);
	assert_int_equal(b.len, 0);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_switch_forward),
		cmocka_unit_test(test_switch_reverse),
		cmocka_unit_test(test_switch_redis),
		cmocka_unit_test(test_mariadb_switch),
		cmocka_unit_test(test_replicate_and_teardown),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_split_commands),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
