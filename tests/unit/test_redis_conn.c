/*
 * test_redis_conn.c - the Redis protocol layer (db/redis_conn.c over
 * db/stream.c) without a Redis: endpoint URLs, INFO fields, and replies
 * served by a scripted server thread on a loopback port the kernel picks
 * (binary strings, nesting, errors, pipelines split across packets, a
 * reply that never comes, bytes that are not RESP, AUTH refused).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/redis_conn.h"
#include "util/timeutil.h"

/* ---- endpoints ------------------------------------------------------------ */

static void test_endpoint_good(void **state)
{
	struct ferry_error err = { 0 };
	struct redis_endpoint ep;

	(void)state;
	assert_int_equal(redis_endpoint_parse("redis://cache.internal", &ep, &err), 0);
	assert_string_equal(ep.host, "cache.internal");
	assert_int_equal(ep.port, 6379);
	assert_null(ep.user);
	assert_false(ep.tls);
	redis_endpoint_release(&ep);

	assert_int_equal(redis_endpoint_parse("redis://ferry@10.0.0.5:6380/", &ep, &err), 0);
	assert_string_equal(ep.user, "ferry");
	assert_string_equal(ep.host, "10.0.0.5");
	assert_int_equal(ep.port, 6380);
	redis_endpoint_release(&ep);

	assert_int_equal(redis_endpoint_parse("rediss://u@[::1]:6390?ca=/etc/ca.pem&cert=/c.pem&"
	                                      "key=/k.pem&name=cache.shop.test",
	                                      &ep, &err),
	                 0);
	assert_true(ep.tls);
	assert_string_equal(ep.host, "::1");
	assert_int_equal(ep.port, 6390);
	assert_string_equal(ep.ca, "/etc/ca.pem");
	assert_string_equal(ep.cert, "/c.pem");
	assert_string_equal(ep.key, "/k.pem");
	assert_string_equal(ep.name, "cache.shop.test");
	redis_endpoint_release(&ep);
}

static void test_endpoint_bad(void **state)
{
	static const struct {
		const char *url, *msg;
	} bad[] = {
		{ "http://h", "'http://h': not a redis:// or rediss:// URL" },
		{ "redis://u:secret@h", "'redis://u:secret@h': a password in the URL; give it as "
		                        "the database's password" },
		{ "redis://h:0", "'redis://h:0': a port is 1 to 65535" },
		{ "redis://h:65536", "'redis://h:65536': a port is 1 to 65535" },
		{ "redis://h:", "'redis://h:': a port is 1 to 65535" },
		{ "redis://h/3", "'redis://h/3': a database number: ferry moves the whole server "
		                 "(every database); remove it" },
		{ "redis://h?ca=/x", "'redis://h?ca=/x': query keys are for rediss:// (TLS) only" },
		{ "rediss://h?foo=1",
		  "'rediss://h?foo=1': unknown query key (ca, cert, key, name)" },
		{ "rediss://h?ca=1&ca=2", "'rediss://h?ca=1&ca=2': a query key is given twice" },
		{ "rediss://h?key=/k", "'rediss://h?key=/k': key= without cert=" },
		{ "rediss://h?ca", "'rediss://h?ca': a query item is not KEY=VALUE" },
		{ "redis://", "'redis://': no host" },
		{ "redis://@h", "'redis://@h': an empty user name before '@'" },
		{ "redis://[::1", "'redis://[::1': unclosed '[' in host" },
		{ "redis://h x", "'redis://h x': spaces and %-escapes are not accepted" },
		{ "redis://h:1x", "'redis://h:1x': a port is 1 to 65535" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ferry_error err = { 0 };
		struct redis_endpoint ep;

		assert_int_equal(redis_endpoint_parse(bad[i].url, &ep, &err), FERRY_EINVAL);
		assert_string_equal(err.msg, bad[i].msg);
		assert_non_null(strstr(err.hint, "rediss://"));
		assert_null(ep.host);
	}
}

static void test_info_fields(void **state)
{
	const char *info = "# Replication\r\nrole:slave\r\nmaster_host:10.0.0.5\r\n"
	                   "master_port:6379\r\nslave_repl_offset:12345\r\nbad:12x\r\n";
	char v[16];

	(void)state;
	assert_true(redis_info_str(info, "role", v, sizeof(v)));
	assert_string_equal(v, "slave");
	assert_true(redis_info_str(info, "master_host", v, 4));
	assert_string_equal(v, "10.");
	assert_false(redis_info_str(info, "master", v, sizeof(v)));
	assert_int_equal(redis_info_int(info, "master_port", -1), 6379);
	assert_int_equal(redis_info_int(info, "slave_repl_offset", -1), 12345);
	assert_int_equal(redis_info_int(info, "bad", -1), -1);
	assert_int_equal(redis_info_int(info, "absent", -7), -7);
}

/* ---- a scripted server -------------------------------------------------- */

struct step {
	const char *expect; /* read until the request holds this ("" nothing) */
	const char *reply;  /* then send this (NULL: say nothing, hold on) */
	size_t len;         /* 0: strlen(reply) */
	const char *reply2; /* sent in a second packet */
};

static struct {
	int lfd;
	uint16_t port;
	pthread_t thread;
	const struct step *script;
	size_t nsteps;
	char got[65536]; /* everything the client sent */
	size_t ngot;
} S;

static void *serve(void *arg)
{
	int fd = accept(S.lfd, NULL, NULL);
	size_t i;

	(void)arg;
	S.ngot = 0;
	for (i = 0; fd >= 0 && i < S.nsteps; i++) {
		const struct step *st = &S.script[i];

		while (st->expect[0]) {
			ssize_t n;

			S.got[S.ngot] = '\0';
			if (memmem(S.got, S.ngot, st->expect, strlen(st->expect)))
				break;
			n = recv(fd, S.got + S.ngot, sizeof(S.got) - S.ngot - 1, 0);
			if (n <= 0)
				goto out;
			S.ngot += (size_t)n;
		}
		if (!st->reply) {
			char c;
			/* hold the connection until the client drops it */
			while (recv(fd, &c, 1, 0) > 0)
				;
			goto out;
		}
		send(fd, st->reply, st->len ? st->len : strlen(st->reply), MSG_NOSIGNAL);
		if (st->reply2) {
			usleep(20000);
			send(fd, st->reply2, strlen(st->reply2), MSG_NOSIGNAL);
		}
	}
out:
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void serve_start(const struct step *script, size_t n)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);

	S.script = script;
	S.nsteps = n;
	S.lfd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(S.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(S.lfd, 1), 0);
	getsockname(S.lfd, (struct sockaddr *)&a, &al);
	S.port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&S.thread, NULL, serve, NULL), 0);
}

static void serve_stop(void)
{
	pthread_join(S.thread, NULL);
	close(S.lfd);
}

static int connect_fake(struct redis_conn **c, const char *user, const char *pw,
                        struct ferry_error *err)
{
	struct redis_endpoint ep = { .host = (char *)"127.0.0.1",
		                     .port = S.port,
		                     .user = (char *)user };

	return redis_connect(c, &ep, pw, "fake", time_mono_ms() + 2000, err);
}

#define HELLO                                                                                      \
	{                                                                                          \
		"PING", "+OK\r\n+PONG\r\n", 0, NULL                                                \
	}

static void test_replies(void **state)
{
	static const struct step script[] = {
		HELLO,
		{ "GET", "$5\r\nab\0cd\r\n", 11, NULL },
		{ "NEST", "*3\r\n:42\r\n$-1\r\n*1\r\n+ok\r\n", 0, NULL },
		{ "BOOM", "-ERR boom\r\n", 0, NULL },
		{ "PERM", "-NOPERM this user has no permissions\r\n", 0, NULL },
		{ "THIRD", "+one\r\n:2\r\n$5\r", 0, "\nthree\r\n" },
	};
	struct ferry_error err = { 0 };
	struct redis_conn *c = NULL;
	struct redis_reply r, p[3];
	const char *argv[2] = { "SET", "k" };
	size_t i;

	(void)state;
	serve_start(script, sizeof(script) / sizeof(script[0]));
	assert_int_equal(connect_fake(&c, NULL, NULL, &err), 0);
	assert_non_null(memmem(S.got, S.ngot, "SETNAME", 7));
	assert_false(redis_conn_authed(c));

	assert_int_equal(redis_cmd(c, time_mono_ms() + 1000, &r, &err, "GET", "x", NULL), 0);
	assert_int_equal(r.type, REDIS_STRING);
	assert_int_equal(r.len, 5);
	assert_memory_equal(r.str, "ab\0cd", 5);
	redis_reply_release(&r);

	assert_int_equal(redis_cmd(c, time_mono_ms() + 1000, &r, &err, "NEST", NULL), 0);
	assert_int_equal(r.type, REDIS_ARRAY);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.v[0].integer, 42);
	assert_int_equal(r.v[1].type, REDIS_NIL);
	assert_int_equal(r.v[2].v[0].type, REDIS_STATUS);
	assert_string_equal(r.v[2].v[0].str, "ok");
	redis_reply_release(&r);

	assert_int_equal(redis_cmd(c, time_mono_ms() + 1000, &r, &err, "BOOM", NULL),
	                 FERRY_EREFUSED);
	assert_string_equal(err.msg, "fake: BOOM: ERR boom");
	assert_int_equal(r.type, 0); /* not returned */
	assert_int_equal(redis_cmd(c, time_mono_ms() + 1000, NULL, &err, "PERM", NULL),
	                 FERRY_EAUTH);
	assert_true(redis_conn_ok(c));

	/* a pipeline whose replies arrive in two packets, split mid-reply */
	redis_append(c, 2, argv, NULL);
	redis_append(c, 2, argv, NULL);
	argv[0] = "THIRD";
	redis_append(c, 2, argv, NULL);
	assert_int_equal(redis_flush(c, 3, p, time_mono_ms() + 1000, &err), 0);
	assert_string_equal(p[0].str, "one");
	assert_int_equal(p[1].integer, 2);
	assert_string_equal(p[2].str, "three");
	for (i = 0; i < 3; i++)
		redis_reply_release(&p[i]);
	redis_conn_free(c);
	serve_stop();
}

static void test_deadline_and_garbage(void **state)
{
	static const struct step silent[] = { HELLO, { "GET", NULL, 0, NULL } };
	static const struct step garbage[] = { HELLO, { "GET", "?what\r\n", 0, NULL } };
	struct ferry_error err = { 0 };
	struct redis_conn *c = NULL;
	int64_t t0;

	(void)state;
	serve_start(silent, 2);
	assert_int_equal(connect_fake(&c, NULL, NULL, &err), 0);
	t0 = time_mono_ms();
	assert_int_equal(redis_cmd(c, time_mono_ms() + 100, NULL, &err, "GET", "x", NULL),
	                 FERRY_ETIMEDOUT);
	assert_true(time_mono_ms() - t0 >= 100 && time_mono_ms() - t0 < 500);
	/* broken: the next call fails at once, without a new connection */
	assert_false(redis_conn_ok(c));
	assert_int_equal(redis_cmd(c, time_mono_ms() + 1000, NULL, &err, "PING", NULL),
	                 FERRY_EUNREACH);
	assert_non_null(strstr(err.msg, "lost earlier"));
	redis_conn_free(c);
	serve_stop();

	serve_start(garbage, 2);
	assert_int_equal(connect_fake(&c, NULL, NULL, &err), 0);
	assert_int_equal(redis_cmd(c, time_mono_ms() + 1000, NULL, &err, "GET", "x", NULL),
	                 FERRY_EPROTO);
	assert_false(redis_conn_ok(c));
	redis_conn_free(c);
	serve_stop();
}

static void test_auth(void **state)
{
	static const struct step refused[] = {
		{ "PING", "-WRONGPASS invalid username-password pair\r\n+OK\r\n+PONG\r\n", 0,
		  NULL },
	};
	static const struct step nopass[] = {
		{ "PING",
		  "-ERR AUTH <password> called without any password configured for the default "
		  "user.\r\n+OK\r\n+PONG\r\n",
		  0, NULL },
	};
	static const struct step needs[] = { { "PING",
		                               "+OK\r\n-NOAUTH Authentication required."
		                               "\r\n",
		                               0, NULL } };
	static const struct step ok[] = { { "PING", "+OK\r\n+OK\r\n+PONG\r\n", 0, NULL } };
	struct ferry_error err = { 0 };
	struct redis_conn *c = NULL;

	(void)state;
	serve_start(refused, 1);
	assert_int_equal(connect_fake(&c, "ferry", "pw", &err), FERRY_EAUTH);
	assert_non_null(memmem(S.got, S.ngot, "AUTH\r\n$5\r\nferry\r\n$2\r\npw", 23));
	assert_non_null(strstr(err.msg, "AUTH as ferry refused: WRONGPASS"));
	assert_null(strstr(err.msg, "pw"));
	serve_stop();

	serve_start(nopass, 1);
	assert_int_equal(connect_fake(&c, NULL, "pw", &err), 0);
	assert_false(redis_conn_authed(c));
	redis_conn_free(c);
	serve_stop();

	serve_start(needs, 1);
	assert_int_equal(connect_fake(&c, NULL, NULL, &err), FERRY_EAUTH);
	assert_non_null(strstr(err.hint, "password"));
	serve_stop();

	serve_start(ok, 1);
	assert_int_equal(connect_fake(&c, "ferry", "pw", &err), 0);
	assert_true(redis_conn_authed(c));
	redis_conn_free(c);
	serve_stop();

	/* a user and no password: AUTH user "" (an ACL user with nopass) */
	serve_start(ok, 1);
	assert_int_equal(connect_fake(&c, "np", NULL, &err), 0);
	assert_non_null(memmem(S.got, S.ngot, "AUTH\r\n$2\r\nnp\r\n$0\r\n\r\n", 20));
	assert_false(redis_conn_authed(c));
	redis_conn_free(c);
	serve_stop();
	serve_start(refused, 1);
	assert_int_equal(connect_fake(&c, "np", NULL, &err), FERRY_EAUTH);
	assert_non_null(strstr(err.hint, "needs a password"));
	serve_stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoint_good),        cmocka_unit_test(test_endpoint_bad),
		cmocka_unit_test(test_info_fields),          cmocka_unit_test(test_replies),
		cmocka_unit_test(test_deadline_and_garbage), cmocka_unit_test(test_auth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
