/*
 * test_haproxy.c - the pure half of the HAProxy driver: `show stat` CSV
 * parsed strictly by column name, replies classified (empty = success,
 * any text = an error that quotes it), `get weight` parsed, split weights
 * and their rounding, and rates from two snapshots.  No server: the
 * integration test (tests/integration/traffic) talks to a real HAProxy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "traffic/traffic.h"
#include "util/error.h"

/* HAProxy 2.6's header, cut after check_desc, and rows to match; every
 * line ends with a comma, as HAProxy's do, and check_desc is a quoted
 * field holding a comma and doubled quotes (HAProxy's csv_enc()). */
#define HDR                                                                                        \
	"# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr," \
	"wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,"        \
	"throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,"              \
	"check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,"         \
	"req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,"      \
	"lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,check_desc,\n"

/* 64 fields each, like the header */
#define ROW(px, sv, scur, stot, status, weight, h2, h5, reqtot, rtime)                             \
	px "," sv ",0,0," scur ",0,," stot ",0,0,,0,,0,0,0,0," status "," weight                   \
	   ",1,0,,,2,,,1,3,1,,0,,2,0,,0,,,,0," h2 ",0,0," h5 ",0,,,," reqtot                       \
	   ",0,0,,,,,-1,,,0,0," rtime ",5,\"Layer7, \"\"quoted\"\"\",\n"

static const char two_servers[] =
        HDR ROW("web", "old", "1", "300", "UP", "100", "290", "0", "290", "12")
                ROW("web", "new", "0", "100", "no check", "10", "0", "100", "100",
                    "3") "web,BACKEND,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,110,2,0,,,2,,,1,3,0,,0,,1,0,,0,"
                         ",,,0,0,0,0,0,0,,"
                         ",,0,0,0,,,,,-1,,,0,0,0,0,,\n"
                         "\n";

static void test_parse_stat_by_column_name(void **state)
{
	struct traffic_stats s;
	struct ferry_error err = { 0 };
	const struct traffic_server_stats *o, *n;

	(void)state;
	traffic_stats_init(&s);
	assert_int_equal(haproxy_parse_stat(two_servers, strlen(two_servers), "web", &s, &err), 0);
	assert_int_equal(s.n, 2); /* BACKEND row skipped */
	o = traffic_stats_find(&s, "old");
	n = traffic_stats_find(&s, "new");
	assert_non_null(o);
	assert_non_null(n);
	assert_string_equal(o->backend, "web");
	assert_string_equal(o->status, "UP");
	assert_string_equal(n->status, "no check");
	assert_int_equal(o->stot, 300);
	assert_int_equal(o->scur, 1);
	assert_int_equal(o->weight, 100);
	assert_int_equal(n->weight, 10);
	assert_int_equal(o->hrsp[1], 290);
	assert_int_equal(n->hrsp[4], 100);
	assert_int_equal(n->req_tot, 100);
	assert_int_equal(o->rtime_ms, 12);
	assert_int_equal(o->ttime_ms, 5);
	assert_int_equal(n->hrsp[5], 0);
	traffic_stats_release(&s);
}

static void test_parse_stat_columns_in_another_order(void **state)
{
	static const char csv[] = "# svname,pxname,hrsp_5xx,hrsp_4xx,hrsp_3xx,hrsp_2xx,hrsp_1xx,"
	                          "hrsp_other,weight,status,stot,scur,ttime,rtime\n"
	                          "new,web,7,0,0,3,0,0,256,DRAIN,10,0,,\n";
	struct traffic_stats s;
	struct ferry_error err = { 0 };

	(void)state;
	traffic_stats_init(&s);
	assert_int_equal(haproxy_parse_stat(csv, strlen(csv), NULL, &s, &err), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.v[0].hrsp[4], 7);
	assert_int_equal(s.v[0].hrsp[1], 3);
	assert_int_equal(s.v[0].weight, 256);
	assert_string_equal(s.v[0].status, "DRAIN");
	assert_int_equal(s.v[0].rtime_ms, -1); /* empty: not applicable */
	assert_int_equal(s.v[0].req_tot, -1);  /* no such column */
	traffic_stats_release(&s);
}

static void test_parse_stat_unquotes_fields(void **state)
{
	static const char csv[] = "# pxname,svname,status,weight,stot,scur,hrsp_1xx,hrsp_2xx,"
	                          "hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,rtime,ttime,\n"
	                          "web,\"new\",\"a, \"\"b\"\"\",1,2,3,4,5,6,7,8,9,10,11,\n";
	struct traffic_stats s;
	struct ferry_error err = { 0 };

	(void)state;
	traffic_stats_init(&s);
	assert_int_equal(haproxy_parse_stat(csv, strlen(csv), "web", &s, &err), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.v[0].server, "new");
	assert_string_equal(s.v[0].status, "a, \"b\"");
	assert_int_equal(s.v[0].ttime_ms, 11);
	traffic_stats_release(&s);
}

static void test_parse_stat_filters_backend(void **state)
{
	struct traffic_stats s;
	struct ferry_error err = { 0 };

	(void)state;
	traffic_stats_init(&s);
	assert_int_equal(haproxy_parse_stat(two_servers, strlen(two_servers), "api", &s, &err), 0);
	assert_int_equal(s.n, 0);
	traffic_stats_release(&s);
}

static const struct {
	const char *csv;
	const char *msg;
} bad_stats[] = {
	{ "", "haproxy show stat: line 1: no \"# pxname,svname,...\" header" },
	{ "No such proxy.\n", "haproxy show stat: line 1: no \"# pxname,svname,...\" header" },
	{ "# pxname,svname,status\nweb,old,UP\n", "haproxy show stat: line 1: no column 'weight'" },
	{ "# pxname,svname,status,weight,stot,scur,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,"
	  "hrsp_other,rtime,ttime\n"
	  "web,old,UP,1,2,3,4,5,6,7,8,9,10\n",
	  "haproxy show stat: line 2: 13 fields, header has 14" },
	{ "# pxname,svname,status,weight,stot,scur,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,"
	  "hrsp_other,rtime,ttime\n"
	  "web,old,UP,1,2,3,4,5,6,7,-8,9,10,11\n",
	  "haproxy show stat: line 2: column hrsp_5xx: not a number" },
	{ "# pxname,svname,status,weight,stot,scur,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,"
	  "hrsp_other,rtime,ttime\n"
	  "web,old,UP,1x,2,3,4,5,6,7,8,9,10,11\n",
	  "haproxy show stat: line 2: column weight: not a number" },
	{ "# pxname,svname,status,weight,stot,scur,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,"
	  "hrsp_other,rtime,ttime\n"
	  "web,\"old,UP,1,2,3,4,5,6,7,8,9,10,11\n",
	  "haproxy show stat: line 2: bad CSV quoting" },
	{ "# pxname,svname,status,weight,stot,scur,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,"
	  "hrsp_other,rtime,ttime\n"
	  "web,\"old\"x,UP,1,2,3,4,5,6,7,8,9,10,11\n",
	  "haproxy show stat: line 2: bad CSV quoting" },
	{ "# pxname,svname,status,weight,stot,scur,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,"
	  "hrsp_other,rtime,ttime\n"
	  "web,old,UP,1,2,3,4,5,6,7,8,9,10,11,12\n",
	  "haproxy show stat: line 2: 15 fields, header has 14" },
	{ "# pxname,svname,status,weight,stot,scur,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,"
	  "hrsp_other,rtime,ttime\n"
	  "\nweb,old,UP,1,2,3,4,5,6,7,8,9,10,11\n",
	  "haproxy show stat: line 2: empty line inside the table" },
};

static void test_parse_stat_rejects_bad_input(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_stats) / sizeof(bad_stats[0]); i++) {
		struct traffic_stats s;
		struct ferry_error err = { 0 };
		int rc;

		traffic_stats_init(&s);
		rc = haproxy_parse_stat(bad_stats[i].csv, strlen(bad_stats[i].csv), NULL, &s, &err);
		if (rc != FERRY_EPROTO || strcmp(err.msg, bad_stats[i].msg) != 0)
			fail_msg("case %zu: rc %d msg '%s', want '%s'", i, rc, err.msg,
			         bad_stats[i].msg);
		assert_int_equal(s.n, 0);
		traffic_stats_release(&s);
	}
}

static void test_empty_reply_is_success_any_text_is_failure(void **state)
{
	struct ferry_error err = { 0 };

	(void)state;
	assert_int_equal(haproxy_check_empty_reply("", "lb web/new", "set weight web/new 1", &err),
	                 0);
	assert_int_equal(err.code, 0); /* untouched */
	assert_int_equal(haproxy_check_empty_reply("No such server.\n", "lb web/nope",
	                                           "set weight web/nope 1", &err),
	                 FERRY_ENOTFOUND);
	assert_string_equal(err.msg, "haproxy lb web/nope: 'set weight web/nope 1': \"No such "
	                             "server.\"");
	assert_int_equal(haproxy_check_empty_reply("No such backend.\n", "x", "c", &err),
	                 FERRY_ENOTFOUND);
	assert_int_equal(haproxy_check_empty_reply("Permission denied\n", "x", "c", &err),
	                 FERRY_EAUTH);
	assert_non_null(strstr(err.hint, "level admin"));
	assert_int_equal(haproxy_check_empty_reply("Unknown command, but maybe...\n  help\n", "x",
	                                           "c", &err),
	                 FERRY_EPROTO);
	assert_int_equal(
	        haproxy_check_empty_reply("Backend is using a static LB algorithm and only "
	                                  "accepts weights '0%' and '100%'.\n",
	                                  "x", "set weight web/new 5", &err),
	        FERRY_EREFUSED);
	assert_string_equal(err.msg, "haproxy x: 'set weight web/new 5' refused: \"Backend is "
	                             "using a static LB algorithm and only accepts weights '0%' "
	                             "and '100%'.\"");
	/* even a lone newline is an unexpected reply */
	assert_int_equal(haproxy_check_empty_reply("\n", "x", "c", &err), FERRY_EREFUSED);
}

static void test_parse_weight(void **state)
{
	struct ferry_error err = { 0 };
	int cur = -1, init = -1;

	(void)state;
	assert_int_equal(haproxy_parse_weight("10 (initial 100)", "x", &cur, &init, &err), 0);
	assert_int_equal(cur, 10);
	assert_int_equal(init, 100);
	assert_int_equal(haproxy_parse_weight("No such server.", "x", &cur, &init, &err),
	                 FERRY_ENOTFOUND);
	assert_int_equal(haproxy_parse_weight("10 (initial 100", "x", &cur, &init, &err),
	                 FERRY_EPROTO);
	assert_int_equal(haproxy_parse_weight("10", "x", &cur, &init, &err), FERRY_EPROTO);
	assert_int_equal(haproxy_parse_weight("300 (initial 1)", "x", &cur, &init, &err),
	                 FERRY_EPROTO);
	assert_int_equal(haproxy_parse_weight("10 (initial 100) extra", "x", &cur, &init, &err),
	                 FERRY_EPROTO);
}

static void test_split_weights_rounding(void **state)
{
	int o, n;
	double eff;

	(void)state;
	assert_int_equal(traffic_split_weights(25, &o, &n, &eff), 0);
	assert_int_equal(o, 75);
	assert_int_equal(n, 25);
	assert_true(eff == 25.0);
	assert_int_equal(traffic_split_weights(0, &o, &n, &eff), 0);
	assert_int_equal(o, 100);
	assert_int_equal(n, 0);
	assert_int_equal(traffic_split_weights(100, &o, &n, &eff), 0);
	assert_int_equal(o, 0);
	assert_int_equal(n, 100);
	assert_true(eff == 100.0);
	assert_int_equal(traffic_split_weights(1, &o, &n, &eff), 0);
	assert_int_equal(o, 99);
	assert_int_equal(n, 1);
	assert_int_equal(traffic_split_weights(0.5, &o, &n, &eff), 0);
	assert_int_equal(o, 199);
	assert_int_equal(n, 1);
	assert_true(eff == 0.5);
	assert_int_equal(traffic_split_weights(12.5, &o, &n, &eff), 0);
	assert_int_equal(o, 7);
	assert_int_equal(n, 1);
	/* 0.1 % cannot be reached with weights <= 256: the closest is 256/1 */
	assert_int_equal(traffic_split_weights(0.1, &o, &n, &eff), 0);
	assert_int_equal(o, 256);
	assert_int_equal(n, 1);
	assert_true(eff > 0.389 && eff < 0.39);
	/* 33.3 %: no pair is exact; the closest is within 0.05 % */
	assert_int_equal(traffic_split_weights(33.3, &o, &n, &eff), 0);
	assert_true(eff > 33.25 && eff < 33.35);
	assert_true(eff == 100.0 * n / (o + n));
	assert_true(o <= TRAFFIC_WEIGHT_MAX && n <= TRAFFIC_WEIGHT_MAX);
	assert_int_equal(traffic_split_weights(-1, &o, &n, &eff), FERRY_EINVAL);
	assert_int_equal(traffic_split_weights(100.5, &o, &n, &eff), FERRY_EINVAL);
	assert_int_equal(traffic_split_weights(0.0 / 0.0, &o, &n, &eff), FERRY_EINVAL);
}

static void add_row(struct traffic_stats *s, const char *server, int64_t h2, int64_t h5,
                    int64_t rtime)
{
	struct traffic_server_stats r;

	memset(&r, 0, sizeof(r));
	r.backend = strdup("web");
	r.server = strdup(server);
	r.status = strdup("UP");
	r.hrsp[1] = h2;
	r.hrsp[4] = h5;
	r.stot = h2 + h5;
	r.rtime_ms = rtime;
	r.req_tot = -1;
	s->v = realloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->alloc = s->n + 1;
	s->v[s->n++] = r;
}

static void test_sample_pair_from_two_snapshots(void **state)
{
	struct traffic_stats a, b;
	struct traffic_pair p;
	struct ferry_error err = { 0 };

	(void)state;
	traffic_stats_init(&a);
	traffic_stats_init(&b);
	a.at_ms = 10000;
	add_row(&a, "old", 1000, 0, 5);
	add_row(&a, "new", 10, 0, 5);
	b.at_ms = 12000; /* 2 s later */
	add_row(&b, "old", 1300, 0, 7);
	add_row(&b, "new", 10, 100, 9);
	assert_int_equal(traffic_sample_pair(&a, &b, "old", "new", &p, &err), 0);
	assert_true(p.old.rps == 150.0);
	assert_true(p.old.err_pct == 0.0);
	assert_true(p.old.rtime_ms == 7.0);
	assert_true(p.new.rps == 50.0);
	assert_true(p.new.err_pct == 100.0);
	assert_int_equal(p.new.requests, 100);
	assert_int_equal(p.new.errors, 100);
	/* unknown server, snapshots out of order, counters reset */
	assert_int_equal(traffic_sample_pair(&a, &b, "old", "nope", &p, &err), FERRY_ENOTFOUND);
	assert_int_equal(traffic_sample_pair(&b, &a, "old", "new", &p, &err), FERRY_EINVAL);
	b.at_ms = 20000;
	b.v[0].hrsp[1] = 5;
	assert_int_equal(traffic_sample_pair(&a, &b, "old", "new", &p, &err), FERRY_ESTATE);
	traffic_stats_release(&a);
	traffic_stats_release(&b);
}

static void test_driver_table(void **state)
{
	(void)state;
	assert_ptr_equal(traffic_driver_find("haproxy"), &traffic_haproxy);
	assert_null(traffic_driver_find("nginx"));
	assert_null(traffic_driver_find(NULL));
}

static void test_open_rejects_bad_admin_address(void **state)
{
	static const char *const bad[] = { "",          "10.77.0.2", "host.example:9999",
		                           "[::1]9999", "1.2.3.4:",  "1.2.3.4:99999" };
	struct traffic_lb *lb = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ferry_error err = { 0 };

		assert_int_equal(traffic_haproxy.open(bad[i], NULL, &lb, &err), FERRY_EINVAL);
		assert_non_null(strstr(err.msg, "not an admin address"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_stat_by_column_name),
		cmocka_unit_test(test_parse_stat_columns_in_another_order),
		cmocka_unit_test(test_parse_stat_unquotes_fields),
		cmocka_unit_test(test_parse_stat_filters_backend),
		cmocka_unit_test(test_parse_stat_rejects_bad_input),
		cmocka_unit_test(test_empty_reply_is_success_any_text_is_failure),
		cmocka_unit_test(test_parse_weight),
		cmocka_unit_test(test_split_weights_rounding),
		cmocka_unit_test(test_sample_pair_from_two_snapshots),
		cmocka_unit_test(test_driver_table),
		cmocka_unit_test(test_open_rejects_bad_admin_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
