/*
 * test_mariadb.c - the MariaDB engine against two real MariaDB 10.11
 * servers started by run.sh (old on 16001, new on 16002).
 *
 * The cases run in order on one pair, as a migration meets them:
 * readiness (a clean pair passes; no primary key, MyISAM, STATEMENT format
 * and equal server_ids are refused, each by its row), the copy and
 * replication under inserts, updates and deletes with equal checksums
 * (and a difference that verify finds), lag with an apply error, each
 * switch step alone (the fence against a held lock, the wait against a
 * stopped replica, the undos), the whole forward and reverse sequence
 * under a writer with a ledger of acknowledged writes, lag after a
 * restart of old, and the teardown.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/db.h"
#include "db/mariadb.h"
#include "db/mariadb_conn.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define SW (E.eng->sw)

static struct {
	char *pw;
	char old_ci[256], new_ci[256], app_old[256], app_new[256];
	struct db_config cfg;
	const struct db_engine *eng;
	void *h;
} E;

static int envint(const char *name, int def)
{
	const char *v = getenv(name);
	return v ? (int)strtol(v, NULL, 10) : def;
}

static void setup_env(const char *dir)
{
	struct buf b;
	char *path = xasprintf("%s/ferry.pw", dir);

	buf_init(&b, 4096);
	if (buf_read_file(&b, path) < 0) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(1);
	}
	free(path);
	while (b.len && b.data[b.len - 1] == '\n')
		b.data[--b.len] = '\0';
	E.pw = xstrdup(b.data);
	buf_release_secret(&b);
	snprintf(E.old_ci, sizeof(E.old_ci), "host=127.0.0.1 port=%d dbname=shop user=ferry",
	         envint("MDB_OLD_PORT", 16001));
	snprintf(E.new_ci, sizeof(E.new_ci), "host=127.0.0.1 port=%d dbname=shop user=ferry",
	         envint("MDB_NEW_PORT", 16002));
	snprintf(E.app_old, sizeof(E.app_old), "host=127.0.0.1 port=%d dbname=shop user=app",
	         envint("MDB_OLD_PORT", 16001));
	snprintf(E.app_new, sizeof(E.app_new), "host=127.0.0.1 port=%d dbname=shop user=app",
	         envint("MDB_NEW_PORT", 16002));
	E.cfg.name = "main";
	E.cfg.old_conninfo = E.old_ci;
	E.cfg.new_conninfo = E.new_ci;
	E.cfg.old_password = E.pw;
	E.cfg.new_password = E.pw;
	E.cfg.soak_ms = 60000;
	E.cfg.rollback_window_ms = 3600000;
	E.eng = db_engine_find("mariadb");
}

static struct mdb_conn *conn(const char *ci)
{
	struct ferry_error err = { 0 };
	struct mdb_conn *c = NULL;

	if (mdb_connect(&c, ci, strstr(ci, "user=ferry") ? E.pw : NULL, "test",
	                strstr(ci, "user=ferry") ? MDB_NO_DB : 0, time_mono_ms() + 10000, &err) < 0)
		fail_msg("connect %s: %s", ci, err.msg);
	return c;
}

/* Runs statements (';'-free each) on ci as ferry; fails the test on error. */
__attribute__((format(printf, 2, 3))) static void sql(const char *ci, const char *fmt, ...)
{
	struct ferry_error err = { 0 };
	struct mdb_conn *c = conn(ci);
	char *q;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&q, fmt, ap) < 0)
		abort();
	va_end(ap);
	if (mdb_exec(c, q, time_mono_ms() + 60000, NULL, &err) < 0)
		fail_msg("%s: %s", q, err.msg);
	free(q);
	mdb_free(c);
}

/* The first cell of a query (malloc'd, "" for NULL). */
__attribute__((format(printf, 2, 3))) static char *val(const char *ci, const char *fmt, ...)
{
	struct ferry_error err = { 0 };
	struct mdb_conn *c = conn(ci);
	char *q, *v = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&q, fmt, ap) < 0)
		abort();
	va_end(ap);
	if (mdb_value(c, q, time_mono_ms() + 60000, &v, &err) < 0)
		fail_msg("%s: %s", q, err.msg);
	free(q);
	mdb_free(c);
	return v ? v : xstrdup("");
}

static void assert_val(const char *ci, const char *q, const char *want)
{
	char *v = val(ci, "%s", q);

	assert_string_equal(v, want);
	free(v);
}

static int64_t ival(const char *ci, const char *q)
{
	char *v = val(ci, "%s", q);
	int64_t n = strtoll(v, NULL, 10);

	free(v);
	return n;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void open_engine(void)
{
	struct ferry_error err = { 0 };

	if (E.h)
		return;
	if (E.eng->open(&E.cfg, &E.h, &err) < 0)
		fail_msg("open: %s", err.msg);
}

static const struct db_check *row(struct db_checks *c, const char *name)
{
	const struct db_check *k = db_checks_find(c, name);

	if (!k)
		fail_msg("no readiness row '%s'", name);
	return k;
}

static void check(struct db_checks *c)
{
	struct ferry_error err = { 0 };

	open_engine();
	memset(c, 0, sizeof(*c));
	if (E.eng->check(E.h, c, &err) < 0)
		fail_msg("check: %s", err.msg);
}

/* ---- readiness -------------------------------------------------------- */

static void make_schema(void)
{
	sql(E.old_ci, "CREATE DATABASE shop");
	sql(E.old_ci, "CREATE TABLE shop.orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
	              "amount INT NOT NULL, note VARCHAR(64), updated INT NOT NULL DEFAULT 0)");
	sql(E.old_ci, "CREATE TABLE shop.ledger (k VARCHAR(32) NOT NULL, v INT, UNIQUE KEY (k))");
	sql(E.old_ci, "CREATE TABLE shop.audit (id INT AUTO_INCREMENT PRIMARY KEY, what "
	              "VARCHAR(32))");
	sql(E.old_ci, "CREATE DEFINER = ferry@'%%' TRIGGER shop.orders_ai AFTER INSERT ON "
	              "shop.orders FOR EACH ROW INSERT INTO shop.audit (what) VALUES ('insert')");
	sql(E.old_ci, "CREATE DEFINER = ferry@'%%' VIEW shop.big AS SELECT id FROM shop.orders "
	              "WHERE amount > 100");
	sql(E.old_ci, "CREATE DEFINER = ferry@'%%' EVENT shop.tick ON SCHEDULE EVERY 1 HOUR DO "
	              "DELETE FROM shop.audit WHERE id < 0");
	sql(E.old_ci, "INSERT INTO shop.orders (amount, note) SELECT seq, CONCAT('n', seq) FROM "
	              "shop.seq_1_to_5000");
	sql(E.old_ci, "INSERT INTO shop.ledger VALUES ('a', 1), ('b', 2)");
}

static void test_clean_pair_is_ready(void **state)
{
	struct db_checks c;
	size_t i;

	(void)state;
	make_schema();
	check(&c);
	for (i = 0; i < c.n; i++)
		if (c.v[i].status == DB_CHECK_FAIL)
			fail_msg("row %s fails: %s", c.v[i].name, c.v[i].message);
	assert_int_equal(row(&c, "events")->status, DB_CHECK_OK);
	assert_non_null(strstr(row(&c, "events")->message, "1 event"));
	assert_non_null(strstr(row(&c, "size")->message, "dump and restore"));
	db_checks_release(&c);
}

static void test_table_without_key_is_refused(void **state)
{
	struct db_checks c;

	(void)state;
	sql(E.old_ci, "CREATE TABLE shop.nokey (a INT, b INT NULL, UNIQUE KEY (b))");
	check(&c);
	assert_int_equal(row(&c, "primary keys")->status, DB_CHECK_FAIL);
	assert_non_null(strstr(row(&c, "primary keys")->message, "nokey"));
	assert_null(strstr(row(&c, "primary keys")->message, "ledger"));
	assert_true(strlen(row(&c, "primary keys")->prevents) > 0);
	db_checks_release(&c);
	sql(E.old_ci, "DROP TABLE shop.nokey");
}

static void test_myisam_table_is_refused(void **state)
{
	struct db_checks c;

	(void)state;
	sql(E.old_ci, "CREATE TABLE shop.legacy (id INT PRIMARY KEY) ENGINE=MyISAM");
	check(&c);
	assert_int_equal(row(&c, "transactional tables")->status, DB_CHECK_FAIL);
	assert_non_null(strstr(row(&c, "transactional tables")->message, "legacy (MyISAM)"));
	db_checks_release(&c);
	sql(E.old_ci, "DROP TABLE shop.legacy");
	check(&c);
	assert_int_equal(row(&c, "transactional tables")->status, DB_CHECK_OK);
	db_checks_release(&c);
}

static void test_statement_format_is_refused(void **state)
{
	struct db_checks c;

	(void)state;
	sql(E.old_ci, "SET GLOBAL binlog_format = 'STATEMENT'");
	check(&c);
	assert_int_equal(row(&c, "old binlog_format")->status, DB_CHECK_FAIL);
	assert_non_null(strstr(row(&c, "old binlog_format")->message, "STATEMENT"));
	assert_int_equal(row(&c, "new binlog_format")->status, DB_CHECK_OK);
	db_checks_release(&c);
	sql(E.old_ci, "SET GLOBAL binlog_format = 'ROW'");
}

static void test_equal_server_id_is_refused(void **state)
{
	struct db_checks c;

	(void)state;
	sql(E.new_ci, "SET GLOBAL server_id = 1");
	check(&c);
	assert_int_equal(row(&c, "server_id")->status, DB_CHECK_FAIL);
	assert_non_null(strstr(row(&c, "server_id")->message, "1 on old and 1 on new"));
	db_checks_release(&c);
	sql(E.new_ci, "SET GLOBAL server_id = 2");
	check(&c);
	assert_int_equal(row(&c, "server_id")->status, DB_CHECK_OK);
	db_checks_release(&c);
}

static void test_missing_definer_is_refused(void **state)
{
	struct db_checks c;

	(void)state;
	sql(E.old_ci, "CREATE USER reporter@'%%'");
	sql(E.old_ci, "GRANT SELECT ON shop.* TO reporter@'%%'");
	sql(E.old_ci, "CREATE DEFINER = reporter@'%%' VIEW shop.small AS SELECT id FROM "
	              "shop.orders WHERE amount < 10");
	check(&c);
	assert_int_equal(row(&c, "definers")->status, DB_CHECK_FAIL);
	assert_non_null(strstr(row(&c, "definers")->message, "reporter@%"));
	db_checks_release(&c);
	sql(E.old_ci, "DROP VIEW shop.small");
	sql(E.old_ci, "DROP USER reporter@'%%'");
}

/* ---- a writer with a ledger ------------------------------------------ */

struct writer {
	pthread_t th;
	const char *ci; /* where it writes (switched by the test) */
	volatile int stop;
	int64_t acked;      /* inserts acknowledged */
	int64_t errors;     /* failed statements */
	int64_t reconnects; /* connections opened after the first */
	int64_t next;       /* the next key */
	pthread_mutex_t mu;
	int64_t *keys;
	size_t nkeys, alloc;
};

static void *write_loop(void *arg)
{
	struct writer *w = arg;
	struct mdb_conn *c = NULL;
	struct ferry_error err;
	const char *at = NULL, *ci;
	int64_t i = 0;

	while (!w->stop) {
		char *q;
		int64_t k;
		pthread_mutex_lock(&w->mu);
		ci = w->ci;
		pthread_mutex_unlock(&w->mu);
		if (ci != at) { /* the switch closes the sessions (HAProxy's shutdown sessions) */
			mdb_free(c);
			c = NULL;
			at = ci;
		}
		if (!mdb_ok(c)) {
			mdb_free(c);
			c = NULL;
			if (mdb_connect(&c, ci, NULL, "writer", 0, time_mono_ms() + 2000, &err) <
			    0) {
				mdb_free(c);
				c = NULL;
				sleep_ms(5);
				continue;
			}
			w->reconnects++;
		}
		k = 1000000 + w->next;
		switch (i++ % 4) {
		case 0:
		case 1:
			q = xasprintf(
			        "INSERT INTO orders (id, amount, note) VALUES (%lld, %lld, 'w')",
			        (long long)k, (long long)(k % 1000));
			break;
		case 2:
			q = xasprintf("UPDATE orders SET updated = updated + 1 WHERE id = %lld",
			              (long long)(1 + i % 5000));
			break;
		default:
			q = xasprintf("DELETE FROM audit WHERE id = %lld",
			              (long long)(1 + i % 3000));
			break;
		}
		if (mdb_exec(c, q, time_mono_ms() + 5000, NULL, &err) == 0) {
			if (strncmp(q, "INSERT", 6) == 0) {
				pthread_mutex_lock(&w->mu);
				XGROW(w->keys, w->alloc, w->nkeys + 1);
				w->keys[w->nkeys++] = k;
				w->acked++;
				pthread_mutex_unlock(&w->mu);
				w->next++;
			}
		} else {
			w->errors++;
			if (strncmp(q, "INSERT", 6) == 0 && mdb_errno(c) == 1062)
				w->next++; /* the insert landed before the error: keep going */
			if (mdb_ok(c) && mdb_errno(c) == 1290) /* read_only: wait for the switch */
				sleep_ms(2);
		}
		free(q);
		sleep_ms(2);
	}
	mdb_free(c);
	return NULL;
}

static void writer_start(struct writer *w, const char *ci)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->mu, NULL);
	w->ci = ci;
	w->reconnects = -1;
	pthread_create(&w->th, NULL, write_loop, w);
}

static void writer_point(struct writer *w, const char *ci)
{
	pthread_mutex_lock(&w->mu);
	w->ci = ci;
	pthread_mutex_unlock(&w->mu);
}

static void wait_acked(struct writer *w, int64_t more)
{
	int64_t until = time_mono_ms() + 20000, want;

	pthread_mutex_lock(&w->mu);
	want = w->acked + more;
	pthread_mutex_unlock(&w->mu);
	while (w->acked < want) {
		if (time_mono_ms() > until)
			fail_msg("the writer made no progress (%lld errors)", (long long)w->errors);
		sleep_ms(10);
	}
}

static void writer_stop(struct writer *w)
{
	w->stop = 1;
	pthread_join(w->th, NULL);
}

/* Every acknowledged insert is on ci. */
static void assert_ledger(struct writer *w, const char *ci)
{
	int64_t have = ival(ci, "SELECT COUNT(*) FROM shop.orders WHERE id >= 1000000");
	int64_t lost = 0;
	size_t i;

	for (i = 0; i < w->nkeys && have < (int64_t)w->nkeys; i++) {
		char *v = val(ci, "SELECT COUNT(*) FROM shop.orders WHERE id = %lld",
		              (long long)w->keys[i]);
		lost += !strcmp(v, "0");
		free(v);
	}
	if (lost)
		fail_msg("%lld acknowledged writes lost", (long long)lost);
	assert_true(have >= (int64_t)w->nkeys);
}

/* ---- replication ------------------------------------------------------ */

static void wait_caught_up(enum db_direction dir, int64_t ms)
{
	struct ferry_error err = { 0 };
	int64_t until = time_mono_ms() + ms;
	struct db_lag lag;

	for (;;) {
		if (E.eng->lag(E.h, dir, &lag, &err) < 0)
			fail_msg("lag: %s", err.msg);
		if (lag.apply_errors)
			fail_msg("replication reports errors");
		if (lag.events == 0)
			return;
		if (time_mono_ms() > until)
			fail_msg("not caught up: %lld events behind", (long long)lag.events);
		sleep_ms(50);
	}
}

static void test_copy_and_replication_under_writes_end_equal(void **state)
{
	struct ferry_error err = { 0 };
	struct writer w;
	struct db_verify v = { 0 };
	struct db_lag lag;
	int64_t until;
	bool seen_copy = false;
	size_t i;

	(void)state;
	open_engine();
	writer_start(&w, E.app_old);
	sleep_ms(200);
	if (E.eng->replicate_start(E.h, &err) < 0)
		fail_msg("replicate_start: %s", err.msg);
	/* a second call while copying changes nothing */
	if (E.eng->replicate_start(E.h, &err) < 0)
		fail_msg("replicate_start again: %s", err.msg);
	until = time_mono_ms() + 120000;
	for (;;) {
		struct db_progress p = { 0 };
		if (E.eng->progress(E.h, &p, &err) < 0)
			fail_msg("progress: %s", err.msg);
		if (p.n && p.ready == p.n) {
			db_progress_release(&p);
			break;
		}
		for (i = 0; i < p.n; i++)
			seen_copy = seen_copy || p.v[i].state == 'c' || p.v[i].state == 'd';
		db_progress_release(&p);
		if (time_mono_ms() > until)
			fail_msg("the copy did not finish in 120 s");
		sleep_ms(20);
	}
	(void)seen_copy;
	assert_val(E.new_ci, "SELECT @@read_only", "1");
	assert_val(E.new_ci, "SELECT @@event_scheduler", "OFF");
	/* the trigger, the view and the event came along */
	assert_int_equal(ival(E.new_ci, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE "
	                                "TRIGGER_SCHEMA = 'shop'"),
	                 1);
	assert_int_equal(ival(E.new_ci, "SELECT COUNT(*) FROM information_schema.VIEWS WHERE "
	                                "TABLE_SCHEMA = 'shop'"),
	                 1);
	assert_int_equal(ival(E.new_ci, "SELECT COUNT(*) FROM information_schema.EVENTS WHERE "
	                                "EVENT_SCHEMA = 'shop'"),
	                 1);
	sleep_ms(1500); /* let the writer go on while streaming */
	if (E.eng->lag(E.h, DB_FORWARD, &lag, &err) < 0)
		fail_msg("lag: %s", err.msg);
	assert_true(lag.worker_running);
	assert_int_equal(lag.apply_errors, 0);
	assert_true(lag.ms >= 0);
	/* sampled as the soak does, once a second, each time just after a
	 * transaction the replica has not applied yet (5000 rows): it is
	 * milliseconds behind.  lag() used to time the heartbeat written by
	 * the call before, a second old, and read ~1000 ms (the soak's
	 * limit): the lab's soak kept starting over */
	for (i = 0; i < 3; i++) {
		sleep_ms(1000);
		sql(E.old_ci,
		    "INSERT INTO shop.ledger (k, v) SELECT CONCAT('lag%zu-', seq), seq FROM "
		    "shop.seq_1_to_5000",
		    i);
		if (E.eng->lag(E.h, DB_FORWARD, &lag, &err) < 0)
			fail_msg("lag: %s", err.msg);
		if (lag.ms >= 500)
			fail_msg("sample %zu: lag %lld ms (%lld transactions) on a replica that "
			         "keeps up",
			         i, (long long)lag.ms, (long long)lag.events);
	}
	writer_stop(&w);
	assert_true(w.acked > 100);
	wait_caught_up(DB_FORWARD, 30000);
	if (E.eng->lag(E.h, DB_FORWARD, &lag, &err) < 0)
		fail_msg("lag: %s", err.msg);
	sleep_ms(300);
	wait_caught_up(DB_FORWARD, 30000);
	if (E.eng->verify(E.h, true, &v, &err) < 0)
		fail_msg("verify: %s", err.msg);
	for (i = 0; i < v.n; i++)
		if (!v.v[i].equal)
			fail_msg("%s differs: %lld/%lld rows, %s/%s", v.v[i].name,
			         (long long)v.v[i].rows_old, (long long)v.v[i].rows_new,
			         v.v[i].sum_old, v.v[i].sum_new);
	assert_true(v.equal);
	assert_int_equal(v.n, 3);
	assert_true(strlen(v.v[0].sum_old) > 0);
	db_verify_release(&v);
	assert_ledger(&w, E.new_ci);

	/* a row changed on new alone: the checksum finds it, not the count */
	sql(E.new_ci, "SET STATEMENT sql_log_bin=0 FOR UPDATE shop.orders SET note = 'x' WHERE "
	              "id = 7");
	if (E.eng->verify(E.h, true, &v, &err) < 0)
		fail_msg("verify: %s", err.msg);
	assert_false(v.equal);
	db_verify_release(&v);
	if (E.eng->verify(E.h, false, &v, &err) < 0)
		fail_msg("verify: %s", err.msg);
	assert_true(v.equal);
	db_verify_release(&v);
	sql(E.new_ci, "SET STATEMENT sql_log_bin=0 FOR UPDATE shop.orders SET note = 'n7' WHERE "
	              "id = 7");
	free(w.keys);
}

static void test_apply_error_shows_in_lag(void **state)
{
	struct ferry_error err = { 0 };
	struct db_lag lag;
	int64_t until = time_mono_ms() + 20000;

	(void)state;
	open_engine();
	sql(E.new_ci, "SET STATEMENT sql_log_bin=0 FOR INSERT INTO shop.ledger VALUES ('dup', 0)");
	sql(E.old_ci, "INSERT INTO shop.ledger VALUES ('dup', 1)");
	for (;;) {
		if (E.eng->lag(E.h, DB_FORWARD, &lag, &err) < 0)
			fail_msg("lag: %s", err.msg);
		/* the server records the error a moment before its SQL thread
		 * stops (seen under ASan): wait for both */
		if (lag.apply_errors && !lag.worker_running)
			break;
		if (time_mono_ms() > until)
			fail_msg("the duplicate key did not stop the replica (errors %d, running "
			         "%d)",
			         (int)lag.apply_errors, (int)lag.worker_running);
		sleep_ms(50);
	}
	/* repaired: the replica applies the event again */
	sql(E.new_ci, "SET STATEMENT sql_log_bin=0 FOR DELETE FROM shop.ledger WHERE k = 'dup'");
	sql(E.new_ci, "START SLAVE");
	wait_caught_up(DB_FORWARD, 20000);
	assert_int_equal(ival(E.new_ci, "SELECT v FROM shop.ledger WHERE k = 'dup'"), 1);
}

/* A shell command (sh -c) with servers.sh loaded; its exit status. */
__attribute__((format(printf, 1, 2))) static int servers_sh(const char *fmt, ...)
{
	char *cmd, *full;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	full = xasprintf("cd '%s' && . ../../lib.sh && . ./servers.sh && %s", getenv("MDB_SCRIPTS"),
	                 cmd);
	rc = system(full);
	free(full);
	free(cmd);
	return rc;
}

/* One column of SHOW SLAVE STATUS on new (malloc'd, "" when absent). */
static char *slave_field(const char *name)
{
	struct ferry_error err = { 0 };
	struct mdb_conn *c = conn(E.new_ci);
	struct mdb_result r = { 0 };
	const char *v;
	char *out;

	if (mdb_exec(c, "SHOW SLAVE STATUS", time_mono_ms() + 10000, &r, &err) < 0)
		fail_msg("SHOW SLAVE STATUS: %s", err.msg);
	v = r.nrows ? mdb_result_named(&r, 0, name) : NULL;
	out = xstrdup(v ? v : "");
	mdb_result_release(&r);
	mdb_free(c);
	return out;
}

/* Old restarts while new replicates from it (issue 16: PostgreSQL counts
 * such a restart as an apply error for ever).  While old is down the
 * replica's IO thread records its failed reconnects (Last_IO_Errno 2003,
 * Slave_IO_Running Connecting); the server clears the errno when the IO
 * thread connects again (MariaDB 10.11, observed), so once the replica
 * applies a write made after the restart lag() counts no apply error. */
static void test_restart_of_old_leaves_no_apply_error(void **state)
{
	struct ferry_error err = { 0 };
	const char *dir = getenv("FERRY_MDBTEST_DIR");
	struct db_lag lag;
	int64_t until;
	bool seen_after = false;
	int rc;
	char *v;

	(void)state;
	open_engine();
	wait_caught_up(DB_FORWARD, 20000);
	if (servers_sh("stop_pid \"$(cat '%s/old.pid')\"", dir) != 0)
		fail_msg("cannot stop the old server");
	/* the error is there to be cleared: the replica cannot reconnect */
	until = time_mono_ms() + 30000;
	for (;;) {
		v = slave_field("Last_IO_Errno");
		if (strcmp(v, "0") && strcmp(v, ""))
			break;
		free(v);
		if (time_mono_ms() > until)
			fail_msg("old is down but the replica records no IO error");
		sleep_ms(50);
	}
	free(v);
	v = slave_field("Slave_IO_Running");
	assert_string_equal(v, "Connecting");
	free(v);
	if (servers_sh("mdb_run '%s' old %d 1", dir, envint("MDB_OLD_PORT", 16001)) != 0)
		fail_msg("cannot start the old server again");
	sql(E.old_ci, "INSERT INTO shop.ledger VALUES ('restart', 1)");
	until = time_mono_ms() + 30000;
	for (;;) {
		/* the engine's session to old died with it (2013 on the
		 * next statement): lag() connects again and answers, no
		 * failed sample for the soak to stop at */
		memset(&lag, 0, sizeof(lag));
		rc = E.eng->lag(E.h, DB_FORWARD, &lag, &err);
		if (rc < 0)
			fail_msg("lag after old restarted: %s", err.msg);
		seen_after = seen_after || lag.apply_errors;
		if (rc == 0 && lag.apply_errors == 0 && lag.worker_running && lag.events == 0)
			break;
		if (time_mono_ms() > until) {
			v = slave_field("Last_IO_Errno");
			fail_msg("30 s after old restarted: lag counts %lld apply errors, %lld "
			         "events "
			         "behind, running %d (Last_IO_Errno %s)",
			         (long long)lag.apply_errors, (long long)lag.events,
			         (int)lag.worker_running, v);
		}
		sleep_ms(50);
	}
	assert_int_equal(ival(E.new_ci, "SELECT v FROM shop.ledger WHERE k = 'restart'"), 1);
	v = slave_field("Last_IO_Errno");
	assert_string_equal(v, "0");
	free(v);
	print_message("old restarted; lag() %s the IO error before the replica reconnected\n",
	              seen_after ? "counted" : "did not see");
}

/* ---- the switch steps, one by one ------------------------------------ */

/* Sessions in the fence's statement that waits for the lock on old
 * (PROCESSLIST's INFO shows the part of the compound statement that
 * runs) */
#define Q_FENCES_RUNNING                                                                           \
	"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SET GLOBAL read_only "  \
	"= 1'"

/* The fence against a lock held elsewhere stops at its deadline; its
 * statement, which may still wait for the lock on the server, is gone
 * before the undo's unfence: once the lock goes nothing sets read_only.
 * With kill, ferry's KILL QUERY is sent (it usually ends the wait at once);
 * without it (FERRY_FAIL_AT=db.fence.kill: ctl lost or slow, as under
 * load) the statement still waits when the unfence comes, and only the
 * unfence's wait for its session keeps it from landing after. */
static void fence_past_deadline_then_unfence(bool kill)
{
	struct ferry_error err = { 0 };
	struct mdb_conn *locker = conn(E.old_ci);
	int64_t t0, took;
	int rc;

	open_engine();
	if (mdb_exec(locker, "LOCK TABLES shop.audit WRITE", time_mono_ms() + 5000, NULL, &err) < 0)
		fail_msg("lock: %s", err.msg);
	if (!kill)
		setenv("FERRY_FAIL_AT", "db.fence.kill", 1);
	t0 = time_mono_ms();
	rc = SW->fence(E.h, DB_OLD, t0 + 300, &err);
	took = time_mono_ms() - t0;
	unsetenv("FERRY_FAIL_AT");
	assert_int_equal(rc, FERRY_ETIMEDOUT);
	assert_true(took < 700);
	if (!kill) {
		assert_int_equal(ival(E.old_ci, Q_FENCES_RUNNING), 1);
		/* an unfence that cannot see it gone fails and unfences
		 * nothing; the next one waits for it again */
		setenv("FERRY_FAIL_AT", "db.unfence.fence_gone", 1);
		rc = SW->unfence(E.h, DB_OLD, time_mono_ms() + 10000, &err);
		unsetenv("FERRY_FAIL_AT");
		assert_true(rc < 0);
		assert_int_equal(ival(E.old_ci, Q_FENCES_RUNNING), 1);
	}
	if (SW->unfence(E.h, DB_OLD, time_mono_ms() + 10000, &err) < 0)
		fail_msg("unfence: %s", err.msg);
	assert_int_equal(ival(E.old_ci, Q_FENCES_RUNNING), 0);
	mdb_free(locker);
	assert_val(E.old_ci, "SELECT @@read_only", "0");
	/* the step can be retried (its connection is replaced outside the pause) */
	if (E.eng->lag(E.h, DB_FORWARD, &(struct db_lag){ 0 }, &err) < 0)
		fail_msg("lag: %s", err.msg);
}

static void test_fence_against_a_held_lock_stops_at_its_deadline(void **state)
{
	(void)state;
	fence_past_deadline_then_unfence(true);
}

static void test_fence_past_its_deadline_not_killed_is_gone_before_the_unfence(void **state)
{
	(void)state;
	fence_past_deadline_then_unfence(false);
}

static void test_fence_refuses_writes_and_unfence_undoes_it(void **state)
{
	struct ferry_error err = { 0 };
	struct mdb_conn *app = conn(E.app_old), *app2;
	char *pos = NULL;

	(void)state;
	open_engine();
	if (mdb_exec(app, "INSERT INTO orders (amount) VALUES (1)", time_mono_ms() + 5000, NULL,
	             &err) < 0)
		fail_msg("insert: %s", err.msg);
	if (SW->fence(E.h, DB_OLD, time_mono_ms() + 2000, &err) < 0)
		fail_msg("fence: %s", err.msg);
	if (SW->fence(E.h, DB_OLD, time_mono_ms() + 2000, &err) < 0)
		fail_msg("fence again: %s", err.msg);
	assert_val(E.old_ci, "SELECT @@read_only", "1");
	/* the app's session was killed; a new one cannot write */
	assert_int_not_equal(mdb_exec(app, "INSERT INTO orders (amount) VALUES (2)",
	                              time_mono_ms() + 5000, NULL, &err),
	                     0);
	app2 = conn(E.app_old);
	assert_int_equal(mdb_exec(app2, "INSERT INTO orders (amount) VALUES (3)",
	                          time_mono_ms() + 5000, NULL, &err),
	                 FERRY_EREFUSED);
	assert_int_equal(mdb_errno(app2), 1290); /* ER_OPTION_PREVENTS_STATEMENT */
	if (SW->position(E.h, DB_FORWARD, time_mono_ms() + 1000, &pos, &err) < 0)
		fail_msg("position: %s", err.msg);
	assert_non_null(strstr(pos, "0-1-"));
	if (SW->wait_applied(E.h, DB_FORWARD, pos, time_mono_ms() + 5000, &err) < 0)
		fail_msg("wait_applied: %s", err.msg);
	assert_int_equal(ival(E.new_ci, "SELECT COUNT(*) FROM shop.orders WHERE amount = 1"),
	                 ival(E.old_ci, "SELECT COUNT(*) FROM shop.orders WHERE amount = 1"));
	if (SW->unfence(E.h, DB_OLD, time_mono_ms() + 1000, &err) < 0)
		fail_msg("unfence: %s", err.msg);
	if (SW->unfence(E.h, DB_OLD, time_mono_ms() + 1000, &err) < 0)
		fail_msg("unfence again: %s", err.msg);
	if (mdb_exec(app2, "INSERT INTO orders (amount) VALUES (4)", time_mono_ms() + 5000, NULL,
	             &err) < 0)
		fail_msg("insert after unfence: %s", err.msg);
	free(pos);
	mdb_free(app);
	mdb_free(app2);
}

static void test_wait_applied_stops_at_its_deadline_when_the_replica_lags(void **state)
{
	struct ferry_error err = { 0 };
	char *pos = NULL;
	int64_t t0, took;
	int rc;

	(void)state;
	open_engine();
	sql(E.new_ci, "STOP SLAVE SQL_THREAD");
	sql(E.old_ci, "INSERT INTO shop.orders (amount) VALUES (5)");
	if (SW->position(E.h, DB_FORWARD, time_mono_ms() + 1000, &pos, &err) < 0)
		fail_msg("position: %s", err.msg);
	t0 = time_mono_ms();
	rc = SW->wait_applied(E.h, DB_FORWARD, pos, t0 + 250, &err);
	took = time_mono_ms() - t0;
	assert_true(rc == FERRY_ETIMEDOUT || rc == FERRY_ECHECK);
	assert_true(took < 600);
	sql(E.new_ci, "START SLAVE SQL_THREAD");
	if (SW->wait_applied(E.h, DB_FORWARD, pos, time_mono_ms() + 5000, &err) < 0)
		fail_msg("wait_applied: %s", err.msg);
	free(pos);
}

static void test_switch_steps_are_undone(void **state)
{
	struct ferry_error err = { 0 };
	struct mariadb_side_state so, sn;
	int64_t dl = time_mono_ms() + 5000, n = 0;

	(void)state;
	open_engine();
	/* the writer runs its events: the new writer will, the old one not */
	sql(E.old_ci, "SET GLOBAL event_scheduler = ON");
	/* an event made on old after the copy reaches new disabled there
	 * (SLAVESIDE_DISABLED): the unfence enables it, unbinlogged */
	sql(E.old_ci, "CREATE DEFINER = ferry@'%%' EVENT shop.`to``ck` ON SCHEDULE EVERY 1 HOUR DO "
	              "DELETE FROM shop.orders WHERE amount < 0");
	wait_caught_up(DB_FORWARD, 10000);
	assert_val(E.new_ci,
	           "SELECT STATUS FROM information_schema.EVENTS WHERE EVENT_NAME = 'to`ck'",
	           "SLAVESIDE_DISABLED");
	if (SW->prepare(E.h, DB_FORWARD, &err) < 0 || SW->fence(E.h, DB_OLD, dl, &err) < 0 ||
	    SW->stop_forward(E.h, DB_FORWARD, dl, &err) < 0 ||
	    SW->stop_forward(E.h, DB_FORWARD, dl, &err) < 0 ||
	    SW->prepare_reverse(E.h, DB_FORWARD, dl, &err) < 0 ||
	    SW->prepare_reverse(E.h, DB_FORWARD, dl, &err) < 0 ||
	    SW->unfence(E.h, DB_NEW, dl, &err) < 0 || SW->unfence(E.h, DB_NEW, dl, &err) < 0)
		fail_msg("%s", err.msg);
	if (mariadb_inspect(E.h, &so, &sn, &err) < 0)
		fail_msg("inspect: %s", err.msg);
	assert_false(sn.read_only);
	assert_true(sn.events_on);
	assert_val(E.new_ci,
	           "SELECT STATUS FROM information_schema.EVENTS WHERE EVENT_NAME = 'to`ck'",
	           "ENABLED");
	assert_false(sn.sql_running);
	assert_true(so.read_only);
	assert_false(so.events_on);
	assert_true(so.replica && so.from_other);
	assert_false(so.sql_running);
	/* nothing ferry sent to new in the pause was binlogged */
	assert_string_equal(sn.binlog_pos, so.binlog_pos);
	/* the undos, newest first, each twice */
	if (SW->fence(E.h, DB_NEW, dl, &err) < 0 || SW->fence(E.h, DB_NEW, dl, &err) < 0 ||
	    SW->drop_reverse(E.h, DB_FORWARD, dl, &err) < 0 ||
	    SW->drop_reverse(E.h, DB_FORWARD, dl, &err) < 0 ||
	    SW->restart_forward(E.h, DB_FORWARD, dl, &err) < 0 ||
	    SW->restart_forward(E.h, DB_FORWARD, dl, &err) < 0 ||
	    SW->unfence(E.h, DB_OLD, dl, &err) < 0)
		fail_msg("%s", err.msg);
	if (mariadb_inspect(E.h, &so, &sn, &err) < 0)
		fail_msg("inspect: %s", err.msg);
	assert_true(sn.read_only);
	assert_false(sn.events_on);
	assert_true(sn.replica);
	assert_true(sn.sql_running);
	assert_false(so.read_only);
	assert_true(so.events_on);
	assert_false(so.replica);
	/* a replica that applies stays read_only when asked to unfence */
	if (SW->unfence(E.h, DB_NEW, dl, &err) < 0)
		fail_msg("%s", err.msg);
	assert_val(E.new_ci, "SELECT @@read_only", "1");
	sql(E.old_ci, "SET GLOBAL event_scheduler = OFF");
	sql(E.old_ci, "DROP EVENT shop.`to``ck`");
	sql(E.old_ci, "INSERT INTO shop.orders (amount) VALUES (6)");
	wait_caught_up(DB_FORWARD, 10000);
	(void)n;
}

/* The switch's steps in the orchestrator's order (without a switch
 * driver: the writer is pointed by hand); the steps after the resume
 * twice.  Returns the pause in ms. */
static int64_t switch_all(enum db_direction dir, struct writer *w, const char *to_ci)
{
	struct ferry_error err = { 0 };
	int64_t t0, dl, pause, n;
	char *pos = NULL;

	if (SW->preflight(E.h, dir, &err) < 0 || SW->prepare(E.h, dir, &err) < 0)
		fail_msg("before the switch: %s", err.msg);
	t0 = time_mono_ms();
	dl = t0 + 2000;
	if (SW->fence(E.h, db_from(dir), dl, &err) < 0 ||
	    SW->position(E.h, dir, dl, &pos, &err) < 0 ||
	    SW->wait_applied(E.h, dir, pos, dl, &err) < 0 ||
	    SW->finalize(E.h, dir, dl, &n, &err) < 0 || SW->stop_forward(E.h, dir, dl, &err) < 0 ||
	    SW->prepare_reverse(E.h, dir, dl, &err) < 0 ||
	    SW->unfence(E.h, db_to(dir), dl, &err) < 0)
		fail_msg("switch: %s", err.msg);
	writer_point(w, to_ci);
	pause = time_mono_ms() - t0;
	if (SW->start_reverse(E.h, dir, &err) < 0 || SW->drop_forward(E.h, dir, &err) < 0 ||
	    SW->start_reverse(E.h, dir, &err) < 0 || SW->drop_forward(E.h, dir, &err) < 0)
		fail_msg("after the switch: %s", err.msg);
	free(pos);
	return pause;
}

static void test_switch_and_rollback_under_writes_lose_nothing(void **state)
{
	struct ferry_error err = { 0 };
	struct mariadb_side_state so, sn;
	struct writer w;
	struct db_verify v = { 0 };
	int64_t pause;

	(void)state;
	open_engine();
	writer_start(&w, E.app_old);
	sleep_ms(500);
	pause = switch_all(DB_FORWARD, &w, E.app_new);
	print_message("forward pause %lld ms\n", (long long)pause);
	wait_acked(&w, 50);
	if (mariadb_inspect(E.h, &so, &sn, &err) < 0)
		fail_msg("inspect: %s", err.msg);
	assert_true(so.read_only);
	assert_true(so.replica && so.io_running && so.sql_running);
	assert_false(sn.read_only);
	assert_false(sn.replica);
	wait_caught_up(DB_REVERSE, 10000);

	/* the rollback: the same steps the other way */
	pause = switch_all(DB_REVERSE, &w, E.app_old);
	print_message("reverse pause %lld ms\n", (long long)pause);
	wait_acked(&w, 50);
	writer_stop(&w);
	print_message("writer: %lld acked, %lld errors, %lld reconnects\n", (long long)w.acked,
	              (long long)w.errors, (long long)w.reconnects);
	if (mariadb_inspect(E.h, &so, &sn, &err) < 0)
		fail_msg("inspect: %s", err.msg);
	assert_false(so.read_only);
	assert_false(so.replica);
	assert_true(sn.read_only);
	assert_true(sn.replica && sn.sql_running);
	wait_caught_up(DB_FORWARD, 10000);
	assert_ledger(&w, E.old_ci);
	assert_ledger(&w, E.new_ci);
	if (E.eng->verify(E.h, true, &v, &err) < 0)
		fail_msg("verify: %s", err.msg);
	assert_true(v.equal);
	db_verify_release(&v);
	free(w.keys);
}

static void test_teardown_leaves_no_replication(void **state)
{
	struct ferry_error err = { 0 };
	struct mariadb_side_state so, sn;

	(void)state;
	open_engine();
	if (E.eng->teardown(E.h, &err) < 0)
		fail_msg("teardown: %s", err.msg);
	if (E.eng->teardown(E.h, &err) < 0)
		fail_msg("teardown again: %s", err.msg);
	if (mariadb_inspect(E.h, &so, &sn, &err) < 0)
		fail_msg("inspect: %s", err.msg);
	assert_false(so.replica);
	assert_false(sn.replica);
	assert_int_equal(ival(E.new_ci, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE "
	                                "SCHEMA_NAME = '_ferry'"),
	                 0);
	assert_int_equal(ival(E.old_ci, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE "
	                                "SCHEMA_NAME = '_ferry'"),
	                 0);
	assert_val(E.new_ci, "SELECT @@replicate_wild_do_table", "");
	E.eng->close(E.h);
	E.h = NULL;
}

int main(void)
{
	const char *dir = getenv("FERRY_MDBTEST_DIR");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_pair_is_ready),
		cmocka_unit_test(test_table_without_key_is_refused),
		cmocka_unit_test(test_myisam_table_is_refused),
		cmocka_unit_test(test_statement_format_is_refused),
		cmocka_unit_test(test_equal_server_id_is_refused),
		cmocka_unit_test(test_missing_definer_is_refused),
		cmocka_unit_test(test_copy_and_replication_under_writes_end_equal),
		cmocka_unit_test(test_apply_error_shows_in_lag),
		cmocka_unit_test(test_fence_against_a_held_lock_stops_at_its_deadline),
		cmocka_unit_test(
		        test_fence_past_its_deadline_not_killed_is_gone_before_the_unfence),
		cmocka_unit_test(test_fence_refuses_writes_and_unfence_undoes_it),
		cmocka_unit_test(test_wait_applied_stops_at_its_deadline_when_the_replica_lags),
		cmocka_unit_test(test_switch_steps_are_undone),
		cmocka_unit_test(test_switch_and_rollback_under_writes_lose_nothing),
		cmocka_unit_test(test_restart_of_old_leaves_no_apply_error),
		cmocka_unit_test(test_teardown_leaves_no_replication),
	};

	if (!dir) {
		fprintf(stderr, "run through run.sh (FERRY_MDBTEST_DIR unset)\n");
		return 1;
	}
	setup_env(dir);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
