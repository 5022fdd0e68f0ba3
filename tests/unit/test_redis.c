/*
 * test_redis.c - the parts of the Redis engine that need no server: the
 * dry run's texts (what replicate_start and teardown would send, written
 * out in full, with no password in them), the switch steps wired for the
 * orchestrator (their description is tests/unit/test_describe.c's), a bad
 * URL refused naming the database, and the position's text form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "db/db.h"
#include "db/redis.h"
#include "db/redis_int.h"
#include "util/buf.h"

static const struct db_config cfg = {
	.name = "cache",
	.old_conninfo = "redis://ferry@10.77.0.2:6379",
	.new_conninfo = "rediss://10.77.0.3:6380?ca=/etc/ferry/ca.pem",
	.old_password = "PwOldSecret",
	.new_password = "PwNewSecret",
	.pause_budget_ms = 2000,
};

static void test_describe_replicate(void **state)
{
	const struct db_engine *eng = db_engine_find("redis");
	struct ferry_error err = { 0 };
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 20);
	assert_int_equal(eng->describe_replicate(&cfg, &b, &err), 0);
	assert_string_equal(
	        b.data,
	        "open old: connect  -- redis://ferry@10.77.0.2:6379; AUTH as ferry with the plan's "
	        "password if it has one\n"
	        "open new: connect  -- rediss://10.77.0.3:6380?ca=/etc/ferry/ca.pem; AUTH with the "
	        "plan's password if it has one\n"
	        "replicaof new: INFO replication  -- nothing more when new replicates from old "
	        "already\n"
	        "replicaof new: INFO keyspace  -- refused when new holds keys: the full sync would "
	        "erase them\n"
	        "replicaof new: CONFIG GET masteruser; CONFIG GET masterauth\n"
	        "replicaof new: CONFIG SET masteruser  -- ferry; if it differs; only when the plan "
	        "gives a password (new replicates from old with them)\n"
	        "replicaof new: CONFIG SET masterauth (the plan's password, added)  -- if it "
	        "differs\n"
	        "replicaof old: CONFIG GET masteruser; CONFIG GET masterauth\n"
	        "replicaof old: CONFIG SET masteruser \"\"  -- if it differs; only when the plan "
	        "gives a password (for the way back after the switch)\n"
	        "replicaof old: CONFIG SET masterauth (the plan's password, added)  -- if it "
	        "differs\n"
	        "replicaof new: REPLICAOF  -- 10.77.0.2 6379: a full sync of every database, then "
	        "the stream\n");
	assert_null(strstr(b.data, "PwOldSecret"));
	assert_null(strstr(b.data, "PwNewSecret"));
	buf_release(&b);
}

static void test_describe_teardown(void **state)
{
	const struct db_engine *eng = db_engine_find("redis");
	struct ferry_error err = { 0 };
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 20);
	assert_int_equal(eng->describe_teardown(&cfg, &b, &err), 0);
	assert_non_null(strstr(b.data,
	                       "drop old: REPLICAOF NO ONE  -- if it replicates from new\n"
	                       "drop old: CONFIG GET masterauth\n"
	                       "drop old: CONFIG SET masterauth \"\"; CONFIG SET masteruser "
	                       "\"\"  -- where they still hold what ferry set\n"));
	assert_non_null(
	        strstr(b.data, "drop new: REPLICAOF NO ONE  -- if it replicates from old\n"));
	assert_null(strstr(b.data, "Secret"));
	buf_release(&b);
}

static void test_refusals(void **state)
{
	const struct db_engine *eng = db_engine_find("redis");
	struct db_config bad = cfg;
	struct ferry_error err = { 0 };
	struct buf b;
	void *h = (void *)1;

	(void)state;
	buf_init(&b, 1 << 20);
	/* the switch steps are the orchestrator's; an unknown one is refused */
	assert_non_null(eng->sw);
	assert_non_null(eng->sw->reverse_note);
	assert_int_equal(eng->sw->describe(&cfg, DB_FORWARD, "teleport", &b, &err), FERRY_EINVAL);
	assert_string_equal(err.msg, "database cache: no switch step teleport");
	/* a URL that is not one: refused before any connection (old's
	 * address is not reached: tests send nothing outside 127.0.0.0/8) */
	bad.new_conninfo = "host=10.77.0.3 port=6379";
	assert_int_equal(eng->describe_replicate(&bad, &b, &err), FERRY_EINVAL);
	assert_string_equal(err.msg, "database cache: 'host=10.77.0.3 port=6379': not a redis:// "
	                             "or rediss:// URL");
	assert_int_equal(eng->open(&bad, &h, &err), FERRY_EINVAL);
	assert_null(h);
	assert_string_equal(err.msg, "database cache new: 'host=10.77.0.3 port=6379': not a "
	                             "redis:// or rediss:// URL");
	assert_int_equal(b.len, 0);
	buf_release(&b);
}

static void test_position_text(void **state)
{
	struct redis_pos p = { "0123456789abcdef0123456789abcdef01234567", 42 }, q;
	char text[REDIS_POS_TEXT];

	(void)state;
	redis_pos_format(&p, text);
	assert_string_equal(text, "0123456789abcdef0123456789abcdef01234567:42");
	assert_int_equal(redis_pos_parse(text, &q), 0);
	assert_string_equal(q.replid, p.replid);
	assert_int_equal(q.offset, 42);
	assert_int_equal(redis_pos_parse("0123456789abcdef0123456789abcdef0123456:42", &q),
	                 FERRY_EINVAL);
	assert_int_equal(redis_pos_parse("0123456789abcdef0123456789abcdef01234567:", &q),
	                 FERRY_EINVAL);
	assert_int_equal(redis_pos_parse("0123456789abcdef0123456789abcdef01234567:-1", &q),
	                 FERRY_EINVAL);
	assert_int_equal(redis_pos_parse("0123456789ABCDEF0123456789abcdef01234567:1", &q),
	                 FERRY_EINVAL);
	assert_int_equal(redis_pos_parse("0123456789abcdef0123456789abcdef01234567:1x", &q),
	                 FERRY_EINVAL);
}

/* INFO replication of a replica of old restarted from its snapshot
 * (redis 7.0.15, tried: it comes back a master, old's id as its second) */
static void test_copy_of_old(void **state)
{
	static const char old[] = "# Replication\r\nrole:master\r\n"
	                          "master_replid:8a8cb30e1b2faefb25bd03a7a9c5b2c2ab7f6abf\r\n"
	                          "master_replid2:0000000000000000000000000000000000000000\r\n"
	                          "master_repl_offset:14\r\n";
	static const char restarted[] =
	        "# Replication\r\nrole:master\r\n"
	        "master_replid:92a7b84a6d42b356a43ba5c655546f15996ada9f\r\n"
	        "master_replid2:8a8cb30e1b2faefb25bd03a7a9c5b2c2ab7f6abf\r\n"
	        "master_repl_offset:14\r\nsecond_repl_offset:15\r\n";
	/* the same, written to since */
	static const char written[] = "# Replication\r\nrole:master\r\n"
	                              "master_replid:92a7b84a6d42b356a43ba5c655546f15996ada9f\r\n"
	                              "master_replid2:8a8cb30e1b2faefb25bd03a7a9c5b2c2ab7f6abf\r\n"
	                              "master_repl_offset:60\r\nsecond_repl_offset:15\r\n";
	/* a master with a history of its own, and one with none */
	static const char other[] = "# Replication\r\nrole:master\r\n"
	                            "master_replid:92a7b84a6d42b356a43ba5c655546f15996ada9f\r\n"
	                            "master_replid2:1111111111111111111111111111111111111111\r\n"
	                            "master_repl_offset:14\r\nsecond_repl_offset:15\r\n";
	static const char fresh[] = "# Replication\r\nrole:master\r\n"
	                            "master_replid:92a7b84a6d42b356a43ba5c655546f15996ada9f\r\n"
	                            "master_replid2:0000000000000000000000000000000000000000\r\n"
	                            "master_repl_offset:0\r\nsecond_repl_offset:-1\r\n";

	(void)state;
	assert_true(rd_copy_of(restarted, old));
	assert_false(rd_copy_of(written, old));
	assert_false(rd_copy_of(other, old));
	/* old's id2 is zeros too: zeros are no shared history */
	assert_false(rd_copy_of(fresh, old));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_describe_replicate), cmocka_unit_test(test_describe_teardown),
		cmocka_unit_test(test_refusals),           cmocka_unit_test(test_position_text),
		cmocka_unit_test(test_copy_of_old),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
