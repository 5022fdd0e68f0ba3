/*
 * app.c - the lab application: a small order service that the lab migrates.
 *
 * It is the "real application" of the lab (LAB-CONTRACT, DESIGN §7): it writes
 * orders through the local pgbouncer and calls a third-party payments endpoint
 * before each write, so that a migration has an egress dependency, a database
 * behind a pooler and a web tier to move.  With MARIADB_URL it also writes
 * the order's payment row to MariaDB, and with REDIS_URL the order's cart to
 * Redis, each through the local HAProxy's TCP frontend (lab/lib: a client
 * that reconnects on a dropped connection); an order is acknowledged (2xx)
 * only when every write succeeded.
 *
 * How the parts fit:
 *   - Configuration comes only from the environment (config_load()).
 *   - libmicrohttpd runs an internal thread pool; each worker thread owns one
 *     PGconn and one curl easy handle (struct worker, created on first use and
 *     freed by a pthread key destructor when MHD stops the thread).  A query
 *     blocks its worker thread: a paused pooler makes requests wait, which is
 *     exactly what the write-pause measurement needs to see.
 *   - The database is reached with PQexecParams only: pgbouncer in transaction
 *     mode cannot keep named prepared statements across transactions.
 *   - MariaDB and Redis: one struct lab_my / lab_redis per worker too; their
 *     passwords come from MARIADB_PASSWORD_FILE / REDIS_PASSWORD_FILE, read
 *     once at start.  All three writes are idempotent on the order id, so a
 *     client's retry of a failed order never writes twice.
 *   - The main thread blocks every signal it handles and waits for them with
 *     sigwait(): SIGUSR1/SIGUSR2 switch the fault mode (every POST /orders
 *     answers 500), SIGTERM/SIGINT stop the daemon cleanly.
 *
 * Routes: POST /orders, GET /orders/ID, GET /healthz; every response carries
 * X-Served-By: APP_HOST.  SHOP_API_KEY and FERRY_CANARY_SECRET are never
 * logged; DATABASE_URL carries no password (PGPASSFILE/PGPASSWORD do).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <microhttpd.h>

#include "lab_mariadb.h"
#include "lab_redis.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

enum {
	/* A request holds its thread through four blocking calls, so the
	 * app serves at most APP_THREADS / latency requests a second.  With
	 * 8, a machine shared with other work (make check runs the sanitizer
	 * suite beside the lab) pushed that under lab/load's 500/s during the
	 * validation split: the queue grew to 1000 requests and, in CI, past
	 * the 10 s timeout.  Alone, 8 threads saturate between 1000 and
	 * 1500/s, 32 between 1500 and 2000/s (lab/load --rate R, 15 s). */
	APP_THREADS = 32,
	BODY_MAX = 16 * 1024, /* an order is a few dozen bytes */
	ID_MAX = 200,
	PAYMENTS_TIMEOUT_MS = 2000,
	/* how long a MariaDB or Redis write is retried on new connections (a
	 * switch drops them): inside lab/load's 10 s request timeout */
	STORE_RETRY_MS = 8000,
	PASSWORD_MAX = 256,
};

struct config {
	const char *database_url;
	const char *payments_url;
	const char *payments_ca;
	const char *host; /* APP_HOST: old | new */
	const char *listen;
	const char *pidfile;
	bool api_key_set;
	struct sockaddr_in addr;
	bool mariadb, redis; /* MARIADB_URL, REDIS_URL given */
	struct lab_url mariadb_url, redis_url;
	char mariadb_password[PASSWORD_MAX], redis_password[PASSWORD_MAX];
};

static struct config cfg;
static atomic_int fault_mode;
static atomic_llong last_db_log_ms;
static pthread_key_t worker_key;

/* The per-thread state of one MHD worker thread. */
struct worker {
	PGconn *db;
	struct lab_my *my;
	struct lab_redis *redis;
	CURL *curl;
	struct curl_slist *headers;
	char curl_err[CURL_ERROR_SIZE];
};

/* The per-request state MHD keeps in *con_cls between callbacks. */
struct request {
	struct buf body;
	bool too_big;
};

static void worker_free(void *p)
{
	struct worker *w = p;

	if (!w)
		return;
	if (w->db)
		PQfinish(w->db);
	lab_my_free(w->my);
	lab_redis_free(w->redis);
	if (w->curl)
		curl_easy_cleanup(w->curl);
	curl_slist_free_all(w->headers);
	free(w);
}

static struct worker *worker_get(void)
{
	struct worker *w = pthread_getspecific(worker_key);

	if (w)
		return w;
	w = xcalloc(1, sizeof(*w));
	if (cfg.mariadb)
		w->my = lab_my_new(&cfg.mariadb_url, cfg.mariadb_password, "ferry-lab-app");
	if (cfg.redis)
		w->redis = lab_redis_new(&cfg.redis_url, cfg.redis_password);
	if (pthread_setspecific(worker_key, w) != 0)
		BUG("pthread_setspecific failed");
	return w;
}

/* A stopped database makes every request fail; one line a second is enough. */
static bool db_log_allowed(void)
{
	long long now = time_mono_ms();
	long long last = atomic_load(&last_db_log_ms);

	if (now - last < 1000)
		return false;
	return atomic_compare_exchange_strong(&last_db_log_ms, &last, now);
}

static const char *one_line(const char *msg)
{
	static __thread char line[256];
	size_t n = strcspn(msg, "\n");

	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	memcpy(line, msg, n);
	line[n] = '\0';
	return line;
}

static int db_connect(struct worker *w)
{
	/* PQconnectdbParams(3): with expand_dbname the conninfo in "dbname" is
	 * expanded in place, so it overrides the defaults listed before it. */
	const char *const keys[] = { "connect_timeout", "fallback_application_name", "dbname",
		                     NULL };
	const char *const vals[] = { "5", "ferry-lab-app", cfg.database_url, NULL };

	if (w->db && PQstatus(w->db) == CONNECTION_OK)
		return 0;
	if (w->db)
		PQfinish(w->db);
	w->db = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(w->db) == CONNECTION_OK)
		return 0;
	if (db_log_allowed())
		log_warn("app %s: database: cannot connect: %s", cfg.host,
		         one_line(PQerrorMessage(w->db)));
	PQfinish(w->db);
	w->db = NULL;
	return -1;
}

/*
 * Runs one statement with text parameters.  Returns the result (caller
 * clears it) when it is PGRES_TUPLES_OK or PGRES_COMMAND_OK, NULL otherwise.
 * A statement that failed because the connection broke is run once more on a
 * new connection: every statement of this app is idempotent (the insert has
 * ON CONFLICT DO NOTHING), so the retry cannot write twice.
 */
static PGresult *db_exec(struct worker *w, const char *sql, int nparams, const char *const *params)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		PGresult *res;
		ExecStatusType st;

		if (db_connect(w) < 0)
			return NULL;
		res = PQexecParams(w->db, sql, nparams, NULL, params, NULL, NULL, 0);
		st = PQresultStatus(res);
		if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
			return res;
		if (db_log_allowed())
			log_warn("app %s: database: %s", cfg.host,
			         one_line(res ? PQresultErrorMessage(res) : PQerrorMessage(w->db)));
		PQclear(res);
		if (PQstatus(w->db) != CONNECTION_BAD)
			return NULL;
		PQfinish(w->db);
		w->db = NULL;
	}
	return NULL;
}

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	(void)ptr;
	(void)userdata;
	return size * nmemb;
}

static int payments_setup(struct worker *w)
{
	if (w->curl)
		return 0;
	w->curl = curl_easy_init();
	if (!w->curl)
		return -1;
	w->headers = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(w->curl, CURLOPT_URL, cfg.payments_url);
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, w->headers);
	/* libcurl-thread(3): no signals from a multi-threaded program. */
	curl_easy_setopt(w->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(w->curl, CURLOPT_TIMEOUT_MS, (long)PAYMENTS_TIMEOUT_MS);
	curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, discard_body);
	curl_easy_setopt(w->curl, CURLOPT_ERRORBUFFER, w->curl_err);
	if (cfg.payments_ca)
		curl_easy_setopt(w->curl, CURLOPT_CAINFO, cfg.payments_ca);
	return 0;
}

/* Charges the order; returns 0 when the endpoint answered 2xx. */
static int payments_charge(struct worker *w, const char *id, json_int_t amount)
{
	char *body = NULL;
	json_t *j;
	CURLcode rc;
	long status = 0;

	if (payments_setup(w) < 0)
		return -1;
	j = json_pack("{s:s, s:I}", "order", id, "amount_cents", amount);
	if (j)
		body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!body)
		return -1;
	w->curl_err[0] = '\0';
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, body);
	rc = curl_easy_perform(w->curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, NULL);
	free(body);
	if (rc == CURLE_OK && status >= 200 && status < 300)
		return 0;
	if (db_log_allowed())
		log_warn("app %s: payments %s: %s", cfg.host, cfg.payments_url,
		         rc != CURLE_OK ? (w->curl_err[0] ? w->curl_err : curl_easy_strerror(rc))
		                        : "unexpected HTTP status");
	return -1;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, const char *type,
                             const char *body)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "X-Served-By", cfg.host);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned int status, const char *msg)
{
	char *s;
	json_t *j = json_pack("{s:s, s:s}", "error", msg, "served_by", cfg.host);
	enum MHD_Result ret;

	s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!s)
		return MHD_NO;
	ret = reply(c, status, "application/json", s);
	free(s);
	return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned int status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	enum MHD_Result ret;

	json_decref(j);
	if (!s)
		return reply_error(c, 500, "out of memory building the reply");
	ret = reply(c, status, "application/json", s);
	free(s);
	return ret;
}

static bool id_valid(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n <= ID_MAX;
}

/* The order's payment row (MariaDB) and cart (Redis), where configured;
 * returns 0 when every configured write succeeded. */
static int stores_write(struct worker *w, const char *id, json_int_t amount)
{
	struct ferry_error err = { 0 };
	char cart[96];

	if (w->my &&
	    lab_my_payment(w->my, id, (long long)amount, cfg.host, STORE_RETRY_MS, &err) < 0)
		goto fail;
	snprintf(cart, sizeof(cart), "amount_cents=%" JSON_INTEGER_FORMAT " served_by=%s", amount,
	         cfg.host);
	if (w->redis && lab_redis_cart(w->redis, id, cart, STORE_RETRY_MS, &err) < 0)
		goto fail;
	return 0;
fail:
	if (db_log_allowed())
		log_warn("app %s: %s", cfg.host, err.msg);
	return -1;
}

static enum MHD_Result post_order(struct MHD_Connection *c, struct request *rq)
{
	struct worker *w = worker_get();
	json_error_t jerr;
	json_t *in = NULL, *out = NULL;
	const char *id = NULL;
	json_int_t amount = 0;
	char amount_s[32];
	const char *params[3];
	PGresult *res = NULL;
	unsigned int status = 201;
	enum MHD_Result ret;

	if (rq->too_big)
		return reply_error(c, 413, "body too large");
	in = json_loadb(rq->body.data, rq->body.len, 0, &jerr);
	if (!in || json_unpack(in, "{s:s, s:I}", "id", &id, "amount_cents", &amount) != 0 ||
	    !id_valid(id)) {
		ret = reply_error(c, 400, "want {\"id\":\"<string>\",\"amount_cents\":<int>}");
		goto out;
	}
	if (atomic_load(&fault_mode)) {
		ret = reply_error(c, 500, "fault mode (SIGUSR1)");
		goto out;
	}
	if (payments_charge(w, id, amount) < 0) {
		ret = reply_error(c, 502, "payments endpoint failed");
		goto out;
	}
	snprintf(amount_s, sizeof(amount_s), "%" JSON_INTEGER_FORMAT, amount);
	params[0] = id;
	params[1] = amount_s;
	params[2] = cfg.host;
	res = db_exec(w,
	              "INSERT INTO orders (id, amount_cents, served_by) VALUES ($1, $2, $3) "
	              "ON CONFLICT (id) DO NOTHING RETURNING order_no",
	              3, params);
	if (res && PQntuples(res) == 0) {
		/* It existed: answer with the order number it already has. */
		PQclear(res);
		status = 200;
		res = db_exec(w, "SELECT order_no FROM orders WHERE id = $1", 1, params);
	}
	if (!res || PQntuples(res) != 1) {
		ret = reply_error(c, 500, "database error");
		goto out;
	}
	if (stores_write(w, id, amount) < 0) {
		ret = reply_error(c, 500, "payment or cart store error");
		goto out;
	}
	out = json_pack("{s:s, s:I, s:s}", "id", id, "order_no",
	                (json_int_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10), "served_by",
	                cfg.host);
	ret = reply_json(c, status, out);
out:
	PQclear(res);
	json_decref(in);
	return ret;
}

static enum MHD_Result get_order(struct MHD_Connection *c, const char *id)
{
	struct worker *w = worker_get();
	const char *params[1] = { id };
	PGresult *res;
	json_t *out;

	if (!id_valid(id))
		return reply_error(c, 404, "no such order");
	res = db_exec(w,
	              "SELECT id, order_no, amount_cents, served_by, "
	              "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
	              "FROM orders WHERE id = $1",
	              1, params);
	if (!res)
		return reply_error(c, 500, "database error");
	if (PQntuples(res) != 1) {
		PQclear(res);
		return reply_error(c, 404, "no such order");
	}
	out = json_pack("{s:s, s:I, s:I, s:s, s:s}", "id", PQgetvalue(res, 0, 0), "order_no",
	                (json_int_t)strtoll(PQgetvalue(res, 0, 1), NULL, 10), "amount_cents",
	                (json_int_t)strtoll(PQgetvalue(res, 0, 2), NULL, 10), "served_by",
	                PQgetvalue(res, 0, 3), "created_at", PQgetvalue(res, 0, 4));
	PQclear(res);
	return reply_json(c, 200, out);
}

static enum MHD_Result get_healthz(struct MHD_Connection *c)
{
	struct worker *w = worker_get();
	PGresult *res = db_exec(w, "SELECT 1", 0, NULL);

	if (!res)
		return reply(c, 503, "text/plain", "unavailable: database\n");
	PQclear(res);
	/* The deliberate fault of the lab: a missing variable is reported, but
	 * the app keeps serving, as real apps do until the code path needs it. */
	if (!cfg.api_key_set)
		return reply(c, 200, "text/plain", "degraded: SHOP_API_KEY missing\n");
	return reply(c, 200, "text/plain", "ok\n");
}

/* MHD_AccessHandlerCallback: called once with the headers, then once per
 * chunk of upload data, then once more with *upload_data_size == 0. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
	struct request *rq = *con_cls;

	(void)cls;
	(void)version;
	if (strcmp(method, "POST") == 0) {
		if (!rq) {
			rq = xcalloc(1, sizeof(*rq));
			buf_init(&rq->body, BODY_MAX);
			*con_cls = rq;
			return MHD_YES;
		}
		if (*upload_data_size) {
			if (buf_add(&rq->body, upload_data, *upload_data_size) < 0)
				rq->too_big = true;
			*upload_data_size = 0;
			return MHD_YES;
		}
		if (strcmp(url, "/orders") == 0)
			return post_order(c, rq);
		return reply_error(c, 404, "no such route");
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply_error(c, 405, "method not allowed");
	if (strcmp(url, "/healthz") == 0)
		return get_healthz(c);
	if (strncmp(url, "/orders/", 8) == 0)
		return get_order(c, url + 8);
	return reply_error(c, 404, "no such route");
}

static void request_done(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (!rq)
		return;
	buf_release(&rq->body);
	free(rq);
	*con_cls = NULL;
}

static int parse_listen(const char *s, struct sockaddr_in *sa)
{
	const char *colon = strrchr(s, ':');
	char host[INET_ADDRSTRLEN];
	char *end;
	long port;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 1 || port > 65535)
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* NAME_URL and NAME_PASSWORD_FILE (optional: no password) into u and pw;
 * *on says whether NAME_URL was given. */
static int store_config(const char *name, const char *scheme, unsigned port, bool *on,
                        struct lab_url *u, char *pw, size_t pwlen)
{
	struct ferry_error err = { 0 };
	char var[64];
	const char *url, *pwfile;

	snprintf(var, sizeof(var), "%s_URL", name);
	url = getenv(var);
	snprintf(var, sizeof(var), "%s_PASSWORD_FILE", name);
	pwfile = getenv(var);
	*on = url && *url;
	if (!*on)
		return 0;
	if (lab_url_parse(url, scheme, port, u, &err) < 0 ||
	    (pwfile && *pwfile && lab_password_read(pwfile, pw, pwlen, &err) < 0)) {
		fprintf(stderr, "ferry-lab-app: %s_URL: %s\n", name, err.msg);
		return -1;
	}
	return 0;
}

static int config_load(void)
{
	const char *key = getenv("SHOP_API_KEY");

	cfg.database_url = getenv("DATABASE_URL");
	cfg.payments_url = getenv("PAYMENTS_URL");
	cfg.payments_ca = getenv("PAYMENTS_CA");
	cfg.host = getenv("APP_HOST");
	cfg.listen = getenv("LISTEN");
	cfg.pidfile = getenv("PIDFILE");
	cfg.api_key_set = key && *key;
	if (!cfg.database_url || !cfg.payments_url || !cfg.host || !cfg.listen) {
		fprintf(stderr,
		        "ferry-lab-app: set DATABASE_URL, PAYMENTS_URL, APP_HOST and LISTEN "
		        "(and PAYMENTS_CA, SHOP_API_KEY, PIDFILE as needed)\n");
		return -1;
	}
	if (parse_listen(cfg.listen, &cfg.addr) < 0) {
		fprintf(stderr, "ferry-lab-app: LISTEN '%s' is not IPv4:PORT\n", cfg.listen);
		return -1;
	}
	if (store_config("MARIADB", "mariadb", 3306, &cfg.mariadb, &cfg.mariadb_url,
	                 cfg.mariadb_password, sizeof(cfg.mariadb_password)) < 0 ||
	    store_config("REDIS", "redis", 6379, &cfg.redis, &cfg.redis_url, cfg.redis_password,
	                 sizeof(cfg.redis_password)) < 0)
		return -1;
	return 0;
}

static int pidfile_write(void)
{
	FILE *fp;

	if (!cfg.pidfile)
		return 0;
	fp = fopen(cfg.pidfile, "w");
	if (!fp) {
		log_error("app %s: pidfile %s: %s", cfg.host, cfg.pidfile, strerror(errno));
		return -1;
	}
	fprintf(fp, "%ld\n", (long)getpid());
	if (fclose(fp) != 0) {
		log_error("app %s: pidfile %s: %s", cfg.host, cfg.pidfile, strerror(errno));
		return -1;
	}
	return 0;
}

int main(void)
{
	struct MHD_Daemon *d = NULL;
	sigset_t set;
	int sig, ret = 1;

	log_level_current = LOG_LEVEL_INFO;
	if (config_load() < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	/* Blocked before any thread starts, so every thread inherits the mask
	 * and only sigwait() below ever sees these signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("app %s: curl_global_init failed", cfg.host);
		return 1;
	}
	if (pthread_key_create(&worker_key, worker_free) != 0)
		BUG("pthread_key_create failed");
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG, 0,
	                     NULL, NULL, handle, NULL, MHD_OPTION_THREAD_POOL_SIZE,
	                     (unsigned int)APP_THREADS, MHD_OPTION_SOCK_ADDR, &cfg.addr,
	                     MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
	                     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60, MHD_OPTION_END);
	if (!d) {
		log_error("app %s: cannot listen on %s (address in use or not configured?)",
		          cfg.host, cfg.listen);
		goto out;
	}
	if (pidfile_write() < 0)
		goto out;
	log_info("app %s: listening on %s, %d threads%s%s%s%s%s", cfg.host, cfg.listen, APP_THREADS,
	         cfg.mariadb ? "; payments to " : "", cfg.mariadb ? cfg.mariadb_url.shown : "",
	         cfg.redis ? "; carts to " : "", cfg.redis ? cfg.redis_url.shown : "",
	         cfg.api_key_set ? "" : " (degraded: SHOP_API_KEY missing)");
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGUSR1) {
			atomic_store(&fault_mode, 1);
			log_info("app %s: fault mode on: POST /orders answers 500", cfg.host);
		} else if (sig == SIGUSR2) {
			atomic_store(&fault_mode, 0);
			log_info("app %s: fault mode off", cfg.host);
		} else {
			log_info("app %s: %s, stopping", cfg.host, strsignal(sig));
			break;
		}
	}
	ret = 0;
out:
	if (d)
		MHD_stop_daemon(d);
	if (cfg.pidfile && ret == 0)
		unlink(cfg.pidfile);
	curl_global_cleanup();
	return ret;
}
