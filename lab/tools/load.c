/*
 * load.c - the lab's write-load generator (lab/load; LAB-CONTRACT).
 *
 * It plays the shop's customers during a migration: it sends POST /orders
 * with unique ids (PREFIX-N) at a fixed rate and writes one ledger line per
 * request, so that lab/verify can prove afterwards that no acknowledged write
 * was lost and measure the write pause.
 *
 * How the parts fit:
 *   - Open loop: request N is due at t0 + N/rate whatever happened to the
 *     ones before it, and its send time in the ledger is that scheduled
 *     time, so a stall (a paused pooler) shows up as latency instead of
 *     being hidden by a sender that waits for answers ("coordinated
 *     omission").  A late loop catches up by sending everything that is due.
 *   - One curl multi handle carries all requests over at most --conns
 *     keep-alive connections (CURLMOPT_MAX_TOTAL_CONNECTIONS); curl holds
 *     at most --conns transfers, the rest wait in the tool's own queue,
 *     oldest first (req_start).  Easy handles are recycled.
 *   - The name is resolved with ldns through the resolver (--resolver), like
 *     a client library that honours the answer's TTL: resolved again when
 *     the TTL has run out.  Requests go to the resolved address with
 *     CURLOPT_CONNECT_TO (the URL, SNI and Host keep the name).  curl keys
 *     connection reuse on the connect-to target as well as the name
 *     (url.c ConnectionExists), so when the address changes new requests
 *     open connections to the new address and never reuse one to the old
 *     address; idle old connections are closed when the connection limit
 *     needs room, or after MAX_IDLE_S idle.  That is below the lab
 *     HAProxy's `timeout http-keep-alive` (10 s): a connection the server
 *     closes as a request goes out on it fails the request ("Send
 *     failure: Broken pipe"), and connections opened together in a burst
 *     idle out together (3-14 such errors a lab run before).  Requests already sent
 *     finish on the connection they have, as with any client.
 *     --address IP:PORT skips DNS (tests).
 *   - Ledger: TSV, buffered stdio, flushed every second and at exit:
 *       id  send_ms  done_ms  http_status  served_by  address
 *     (wall-clock ms; status 0 = transport error or aborted; served_by
 *     from X-Served-By, "-" when absent).  Every request that was sent gets
 *     a line, even if aborted at exit, so that verify can tell an unknown
 *     outcome from an unexpected row.
 *   - Stops at --duration, when --until-file exists, or on SIGINT/SIGTERM;
 *     then waits for the requests in flight (each has a 10 s timeout; a
 *     second signal aborts them).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <ldns/ldns.h>

#include "util/error.h"
#include "util/mem.h"
#include "util/timeutil.h"

enum {
	REQUEST_TIMEOUT_MS = 10000, /* a paused write waits: a long ack, not an error */
	MAX_DURATION_MS = 3600 * 1000,
	MAX_RATE = 20000,
	MAX_CONNS = 1000,
	MAX_IDLE_S = 5, /* under the lab HAProxy's timeout http-keep-alive 10s */
	/* a queued request with less than this left of its timeout fails
	 * unsent: sent, it would be aborted mid-transfer, and an aborted
	 * HTTP/1.1 transfer closes its connection (a new TLS handshake) */
	MIN_SEND_BUDGET_MS = 1000,
	RESOLVE_RETRY_MS = 1000,
	MIN_TTL_MS = 1000, /* a TTL of 0 would mean one query per request */
	POLL_MAX_MS = 100,
	LEDGER_BUFFER = 1 << 20,
	ERRORS_SHOWN_PER_SECOND = 3,
};

struct opts {
	double rate;
	int64_t duration_ms;
	long conns;
	const char *resolver; /* IP[:PORT] */
	const char *name;
	const char *ca;
	const char *ledger;
	const char *prefix;
	const char *until_file;
	const char *address; /* fixed IP:PORT, no DNS */
	const char *path;
	long port;
	long retries;
	bool plain;
	bool insecure;
};

/* The address requests go to now, and when to ask DNS again. */
struct target {
	char ip[INET6_ADDRSTRLEN];
	long port;
	char hostport[INET6_ADDRSTRLEN + 8]; /* as written to the ledger */
	struct curl_slist *connect_to;       /* for requests sent to this address */
	int64_t expires_us;                  /* INT64_MAX with --address */
	ldns_resolver *res;
	ldns_rdf *qname;
	struct curl_slist *old; /* connect_to lists of earlier addresses, freed at exit */
};

struct req {
	CURL *easy;
	struct req *next_free;   /* on the free list */
	struct req *prev, *next; /* on the in-flight list */
	struct req *next_queued; /* on the queue of requests waiting for a connection */
	bool in_curl;            /* handed to curl (else queued) */
	int attempt;
	int64_t send_ms; /* wall */
	int64_t send_us; /* monotonic, for latency */
	char id[96];
	char body[160];
	char address[INET6_ADDRSTRLEN + 8];
	char served_by[32];
	char errbuf[CURL_ERROR_SIZE];
};

struct stats {
	uint64_t sent, acked, errors, inflight;
	uint64_t tick_errors_shown;
	int64_t *lat; /* latencies (ms) of the requests completed in this second */
	size_t nlat, alloclat;
};

struct load {
	struct opts o;
	char url[512];
	struct target t;
	CURLM *multi;
	struct curl_slist *headers;
	FILE *ledger;
	struct req *free_reqs;
	struct req *inflight; /* queued or in curl: for aborting at a second signal */
	struct req *queue_head, *queue_tail; /* due, waiting for a free connection (FIFO) */
	long in_curl;                        /* transfers curl holds: at most o.conns */
	struct stats st;
	int64_t t0_us, t0_wall_ms;
};

static volatile sig_atomic_t signals_seen;

static void on_signal(int sig)
{
	(void)sig;
	signals_seen++;
}

static int64_t wall_ms(const struct load *l, int64_t mono_us)
{
	return l->t0_wall_ms + (mono_us - l->t0_us) / 1000;
}

/* ---- DNS ---- */

static int split_hostport(const char *s, char *ip, size_t iplen, long *port, long defport)
{
	const char *colon = strrchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	char *end;

	if (n == 0 || n >= iplen)
		return -1;
	memcpy(ip, s, n);
	ip[n] = '\0';
	*port = defport;
	if (colon) {
		errno = 0;
		*port = strtol(colon + 1, &end, 10);
		if (errno || *end || end == colon + 1 || *port < 1 || *port > 65535)
			return -1;
	}
	return 0;
}

static int dns_setup(struct target *t, const struct opts *o, struct ferry_error *err)
{
	char ip[INET6_ADDRSTRLEN];
	long port;
	ldns_rdf *ns;
	struct timeval tv = { 1, 0 };

	if (split_hostport(o->resolver, ip, sizeof(ip), &port, 53) < 0)
		return ferry_error_set(err, FERRY_EINVAL, "give --resolver IP:PORT",
		                       "resolver '%s': not IP[:PORT]", o->resolver);
	ns = ldns_rdf_new_frm_str(strchr(ip, ':') ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, ip);
	if (!ns)
		return ferry_error_set(err, FERRY_EINVAL, NULL, "resolver '%s': not an IP address",
		                       o->resolver);
	t->res = ldns_resolver_new();
	ldns_resolver_push_nameserver(t->res, ns);
	ldns_rdf_deep_free(ns);
	ldns_resolver_set_port(t->res, (uint16_t)port);
	ldns_resolver_set_recursive(t->res, true);
	ldns_resolver_set_retry(t->res, 1);
	ldns_resolver_set_timeout(t->res, tv);
	t->qname = ldns_dname_new_frm_str(o->name);
	if (!t->qname)
		return ferry_error_set(err, FERRY_EINVAL, NULL, "name '%s': not a domain name",
		                       o->name);
	return 0;
}

/* Asks the resolver for the A record; sets ip (and *ttl, seconds). */
static int dns_resolve(struct target *t, const char *name, char *ip, size_t iplen, uint32_t *ttl,
                       struct ferry_error *err)
{
	ldns_pkt *pkt = NULL;
	ldns_rr_list *as = NULL;
	ldns_status s;
	char *str = NULL;
	int ret;

	s = ldns_resolver_send(&pkt, t->res, t->qname, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD);
	if (s != LDNS_STATUS_OK) {
		ret = ferry_error_set(err, FERRY_EUNREACH, "is the resolver up?",
		                      "dns %s: no answer: %s", name, ldns_get_errorstr_by_id(s));
		goto out;
	}
	if (ldns_pkt_get_rcode(pkt) != LDNS_RCODE_NOERROR) {
		ret = ferry_error_set(err, FERRY_ENOTFOUND, NULL, "dns %s: rcode %d", name,
		                      (int)ldns_pkt_get_rcode(pkt));
		goto out;
	}
	as = ldns_pkt_rr_list_by_type(pkt, LDNS_RR_TYPE_A, LDNS_SECTION_ANSWER);
	if (!as || ldns_rr_list_rr_count(as) == 0) {
		ret = ferry_error_set(err, FERRY_ENOTFOUND, NULL, "dns %s: no A record", name);
		goto out;
	}
	str = ldns_rdf2str(ldns_rr_a_address(ldns_rr_list_rr(as, 0)));
	if (!str || strlen(str) >= iplen) {
		ret = ferry_error_set(err, FERRY_EPROTO, NULL, "dns %s: bad A record", name);
		goto out;
	}
	memcpy(ip, str, strlen(str) + 1);
	*ttl = ldns_rr_ttl(ldns_rr_list_rr(as, 0));
	ret = 0;
out:
	free(str);
	ldns_rr_list_deep_free(as);
	ldns_pkt_free(pkt);
	return ret;
}

static void target_set(struct load *l, const char *ip, long port)
{
	struct target *t = &l->t;
	char entry[600];

	if (t->connect_to) {
		/* Requests in flight still point at the old list: keep it. */
		t->connect_to->next = t->old;
		t->old = t->connect_to;
		t->connect_to = NULL;
	}
	snprintf(t->ip, sizeof(t->ip), "%s", ip);
	t->port = port;
	snprintf(t->hostport, sizeof(t->hostport), "%s:%ld", ip, port);
	/* CURLOPT_CONNECT_TO(3): "HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT". */
	snprintf(entry, sizeof(entry), "%s:%ld:%s:%ld", l->o.name, l->o.port, ip, port);
	t->connect_to = curl_slist_append(NULL, entry);
	if (!t->connect_to)
		BUG("curl_slist_append failed");
}

/* Resolves again when the TTL has run out.  Returns -1 only when there is
 * no address at all (the first resolution failed). */
static int target_refresh(struct load *l, int64_t now_us)
{
	struct target *t = &l->t;
	struct ferry_error err = { 0 };
	char ip[INET6_ADDRSTRLEN];
	uint32_t ttl = 0;
	int64_t ttl_ms;

	if (now_us < t->expires_us)
		return 0;
	if (dns_resolve(t, l->o.name, ip, sizeof(ip), &ttl, &err) < 0) {
		fprintf(stderr, "load: %s%s\n", err.msg,
		        t->connect_to ? "; keeping the last address" : "");
		t->expires_us = now_us + RESOLVE_RETRY_MS * 1000;
		return t->connect_to ? 0 : -1;
	}
	ttl_ms = (int64_t)ttl * 1000;
	if (ttl_ms < MIN_TTL_MS)
		ttl_ms = MIN_TTL_MS;
	t->expires_us = now_us + ttl_ms * 1000;
	if (!t->connect_to || strcmp(ip, t->ip) != 0) {
		fprintf(stderr, "load: dns %s -> %s (TTL %" PRIu32 "s)%s%s\n", l->o.name, ip, ttl,
		        t->connect_to ? ", was " : "", t->connect_to ? t->ip : "");
		target_set(l, ip, l->o.port);
	}
	return 0;
}

/* ---- requests ---- */

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	(void)ptr;
	(void)userdata;
	return size * nmemb;
}

/* Picks X-Served-By out of the response headers (CURLOPT_HEADERFUNCTION). */
static size_t on_header(char *line, size_t size, size_t nmemb, void *userdata)
{
	struct req *r = userdata;
	size_t n = size * nmemb;
	static const char name[] = "x-served-by:";
	size_t i, j;

	if (n <= sizeof(name) - 1 || strncasecmp(line, name, sizeof(name) - 1) != 0)
		return n;
	i = sizeof(name) - 1;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	j = n;
	while (j > i && (line[j - 1] == '\r' || line[j - 1] == '\n' || line[j - 1] == ' '))
		j--;
	if (j - i >= sizeof(r->served_by))
		j = i + sizeof(r->served_by) - 1;
	for (size_t k = i; k < j; k++) /* the ledger is TSV */
		r->served_by[k - i] = (line[k] == '\t') ? ' ' : line[k];
	r->served_by[j - i] = '\0';
	return n;
}

static struct req *req_get(struct load *l)
{
	struct req *r = l->free_reqs;

	if (r) {
		l->free_reqs = r->next_free;
		return r;
	}
	r = xcalloc(1, sizeof(*r));
	r->easy = curl_easy_init();
	if (!r->easy)
		BUG("curl_easy_init failed");
	return r;
}

static void req_put(struct load *l, struct req *r)
{
	r->next_free = l->free_reqs;
	l->free_reqs = r;
}

/*
 * A due request waits in the tool's own queue (FIFO, oldest first) and goes
 * to curl only when one of the --conns connections is free, as a client
 * with a fixed connection pool does.  Handing curl every due request would
 * leave the surplus in curl's pending list, which is not first come, first
 * served: a request woken there for a freed connection loses it to one
 * added later and goes back to the end of the list, so under a backlog the
 * oldest requests starve until their 10 s timeout while newer ones pass.
 */
static void req_start(struct load *l, struct req *r, int64_t sched_us)
{
	r->send_us = sched_us;
	r->send_ms = wall_ms(l, sched_us);
	/* the ledger's address of a request that never leaves the queue;
	 * req_dispatch sets the one it is sent to */
	snprintf(r->address, sizeof(r->address), "%s", l->t.hostport);
	snprintf(r->served_by, sizeof(r->served_by), "-");
	r->in_curl = false;
	r->next_queued = NULL;
	if (l->queue_tail)
		l->queue_tail->next_queued = r;
	else
		l->queue_head = r;
	l->queue_tail = r;
	r->prev = NULL;
	r->next = l->inflight;
	if (r->next)
		r->next->prev = r;
	l->inflight = r;
	l->st.sent++;
	l->st.inflight++;
}

/* Hands the queued request r to curl, to the current address, with what is
 * left of its REQUEST_TIMEOUT_MS. */
static void req_dispatch(struct load *l, struct req *r, int64_t now_us)
{
	CURL *e = r->easy;
	int64_t left_ms = REQUEST_TIMEOUT_MS - (now_us - r->send_us) / 1000;

	snprintf(r->address, sizeof(r->address), "%s", l->t.hostport);
	snprintf(r->served_by, sizeof(r->served_by), "-");
	r->errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, l->url);
	curl_easy_setopt(e, CURLOPT_CONNECT_TO, l->t.connect_to);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, l->headers);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	/* never reuse a connection idle as long as the server keeps one */
	curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, (long)MAX_IDLE_S);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(left_ms > 1 ? left_ms : 1));
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	if (l->o.ca)
		curl_easy_setopt(e, CURLOPT_CAINFO, l->o.ca);
	if (l->o.insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (curl_multi_add_handle(l->multi, e) != CURLM_OK)
		BUG("curl_multi_add_handle failed");
	r->in_curl = true;
	l->in_curl++;
}

static void req_new(struct load *l, uint64_t n, int64_t sched_us)
{
	struct req *r = req_get(l);

	r->attempt = 0;
	snprintf(r->id, sizeof(r->id), "%s-%" PRIu64, l->o.prefix, n);
	snprintf(r->body, sizeof(r->body), "{\"id\":\"%s\",\"amount_cents\":%" PRIu64 "}", r->id,
	         100 + n % 10000);
	req_start(l, r, sched_us);
}

/* A request is over (status 0: transport error or aborted). */
static void req_finish(struct load *l, struct req *r, long status, CURLcode rc, int64_t now_us)
{
	int64_t lat_ms = (now_us - r->send_us) / 1000;

	if (r->in_curl) {
		curl_multi_remove_handle(l->multi, r->easy);
		r->in_curl = false;
		l->in_curl--;
	} else {
		/* queued requests finish from the queue's head (dispatch,
		 * expire_queued) or all at once (abort_all) */
		l->queue_head = r->next_queued;
		if (!l->queue_head)
			l->queue_tail = NULL;
	}
	if (r->prev)
		r->prev->next = r->next;
	else
		l->inflight = r->next;
	if (r->next)
		r->next->prev = r->prev;
	l->st.inflight--;
	fprintf(l->ledger, "%s\t%" PRId64 "\t%" PRId64 "\t%ld\t%s\t%s\n", r->id, r->send_ms,
	        wall_ms(l, now_us), status, r->served_by, r->address);
	if (status >= 200 && status < 300) {
		l->st.acked++;
		XGROW(l->st.lat, l->st.alloclat, l->st.nlat + 1);
		l->st.lat[l->st.nlat++] = lat_ms;
	} else {
		l->st.errors++;
		if (l->st.tick_errors_shown++ < ERRORS_SHOWN_PER_SECOND)
			fprintf(stderr, "load: %s to %s: %s\n", r->id, r->address,
			        status ? "HTTP error status"
			               : (r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc)));
		if (status == 0 || status >= 500) {
			if (r->attempt < l->o.retries && !signals_seen) {
				/* --retry: the same id again, now, to the current address. */
				r->attempt++;
				req_start(l, r, now_us);
				return;
			}
		}
	}
	req_put(l, r);
}

static void drain_done(struct load *l)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(l->multi, &left))) {
		struct req *r = NULL;
		long status = 0;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (m->data.result == CURLE_OK)
			curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		req_finish(l, r, status, m->data.result, time_mono_us());
	}
}

/* After a second signal: every request still in flight is recorded as 0. */
static void abort_all(struct load *l)
{
	while (l->inflight) {
		/* the queue from its head, then what curl holds */
		struct req *r = l->queue_head ? l->queue_head : l->inflight;

		l->st.tick_errors_shown = ERRORS_SHOWN_PER_SECOND;
		r->attempt = (int)l->o.retries;
		req_finish(l, r, 0, CURLE_ABORTED_BY_CALLBACK, time_mono_us());
	}
}

static bool overdue(const struct req *r, int64_t now_us)
{
	return now_us - r->send_us >= (int64_t)REQUEST_TIMEOUT_MS * 1000;
}

static bool too_late_to_send(const struct req *r, int64_t now_us)
{
	return now_us - r->send_us >= (int64_t)(REQUEST_TIMEOUT_MS - MIN_SEND_BUDGET_MS) * 1000;
}

/*
 * Every request is held to REQUEST_TIMEOUT_MS from its send time: a queued
 * one with less than MIN_SEND_BUDGET_MS of it left fails unsent (the queue
 * is in send order: a retry goes in at its end, sent now), and one in curl
 * has only the rest as CURLOPT_TIMEOUT_MS; the sweep of those is a safety
 * net.  Without the budget a backlog is metastable: every request leaving
 * the queue with a few ms left is aborted on the wire, each abort closes a
 * keep-alive connection, the connections spend their time in TLS
 * handshakes, and the backlog never drains (issues 12/13).
 */
static void expire_queued(struct load *l, int64_t now_us)
{
	struct req *r;

	while ((r = l->queue_head) && too_late_to_send(r, now_us)) {
		snprintf(r->errbuf, sizeof(r->errbuf),
		         "not sent: %d ms queued, all %ld connections busy, under %d ms left",
		         (int)((now_us - r->send_us) / 1000), l->o.conns, MIN_SEND_BUDGET_MS);
		req_finish(l, r, 0, CURLE_OPERATION_TIMEDOUT, now_us);
	}
}

static void expire_overdue(struct load *l, int64_t now_us)
{
	struct req *r, *next;

	expire_queued(l, now_us);
	for (r = l->inflight; r; r = next) {
		next = r->next;
		if (!r->in_curl || !overdue(r, now_us))
			continue;
		snprintf(r->errbuf, sizeof(r->errbuf), "no answer within %d ms",
		         REQUEST_TIMEOUT_MS);
		req_finish(l, r, 0, CURLE_OPERATION_TIMEDOUT, now_us);
	}
}

/* Hands queued requests to curl, oldest first, while a connection is free. */
static void dispatch(struct load *l, int64_t now_us)
{
	struct req *r;

	expire_queued(l, now_us);
	while (l->in_curl < l->o.conns && (r = l->queue_head)) {
		l->queue_head = r->next_queued;
		if (!l->queue_head)
			l->queue_tail = NULL;
		req_dispatch(l, r, now_us);
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void progress(struct load *l, int64_t now_us)
{
	struct stats *s = &l->st;
	char p99[32] = "-";

	if (s->nlat) {
		xqsort(s->lat, s->nlat, sizeof(*s->lat), cmp_i64);
		snprintf(p99, sizeof(p99), "%" PRId64, s->lat[(size_t)ceil(0.99 * s->nlat) - 1]);
	}
	fprintf(stderr,
	        "load: %3" PRId64 "s sent=%" PRIu64 " acked=%" PRIu64 " errors=%" PRIu64
	        " inflight=%" PRIu64 " addr=%s p99_ms=%s\n",
	        (now_us - l->t0_us) / 1000000, s->sent, s->acked, s->errors, s->inflight,
	        l->t.hostport, p99);
	s->nlat = 0;
	s->tick_errors_shown = 0;
	fflush(l->ledger);
}

/* ---- options and main ---- */

static void usage(FILE *fp)
{
	fprintf(fp,
	        "usage: ferry-lab-load --rate N --duration D --ledger FILE\n"
	        "         (--resolver IP:PORT | --address IP:PORT) [--name www.shop.test]\n"
	        "         [--conns 8] [--ca FILE] [--prefix RUNID] [--until-file F] [--retry N]\n"
	        "         [--port P] [--path /orders] [--plain] [--insecure]\n"
	        "  Sends POST https://NAME/orders at N per second (open loop), one ledger line\n"
	        "  per request: id send_ms done_ms http_status served_by address.\n");
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static bool prefix_valid(const char *p)
{
	size_t n = strlen(p);

	if (n == 0 || n > 64)
		return false;
	return strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "conns", required_argument, NULL, 'c' },
		{ "resolver", required_argument, NULL, 'R' },
		{ "name", required_argument, NULL, 'n' },
		{ "ca", required_argument, NULL, 'C' },
		{ "ledger", required_argument, NULL, 'l' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "until-file", required_argument, NULL, 'u' },
		{ "address", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'P' },
		{ "path", required_argument, NULL, 'x' },
		{ "retry", required_argument, NULL, 't' },
		{ "plain", no_argument, NULL, 'k' },
		{ "insecure", no_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long v;
	int c, idx = 0;

	/* Options may repeat; the last wins (the lab/load wrapper puts its
	 * defaults first), and --address and --resolver replace each other. */
	while ((c = getopt_long(argc, argv, "", lo, &idx)) != -1) {
		switch (c) {
		case 'r':
			if (parse_long(optarg, 1, MAX_RATE, &v) < 0)
				goto bad;
			o->rate = (double)v;
			break;
		case 'd':
			if (duration_parse(optarg, &o->duration_ms) < 0 || o->duration_ms <= 0 ||
			    o->duration_ms > MAX_DURATION_MS)
				goto bad;
			break;
		case 'c':
			if (parse_long(optarg, 1, MAX_CONNS, &o->conns) < 0)
				goto bad;
			break;
		case 'R':
			o->resolver = optarg;
			o->address = NULL;
			break;
		case 'n': o->name = optarg; break;
		case 'C': o->ca = optarg; break;
		case 'l': o->ledger = optarg; break;
		case 'p': o->prefix = optarg; break;
		case 'u': o->until_file = optarg; break;
		case 'a':
			o->address = optarg;
			o->resolver = NULL;
			break;
		case 'P':
			if (parse_long(optarg, 1, 65535, &o->port) < 0)
				goto bad;
			break;
		case 'x': o->path = optarg; break;
		case 't':
			if (parse_long(optarg, 0, 10, &o->retries) < 0)
				goto bad;
			break;
		case 'k': o->plain = true; break;
		case 'i': o->insecure = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind != argc || !o->rate || !o->duration_ms || !o->ledger ||
	    (!o->resolver == !o->address)) {
		fprintf(stderr, "ferry-lab-load: need --rate, --duration, --ledger and one of "
		                "--resolver or --address\n");
		usage(stderr);
		return -1;
	}
	if (o->prefix && !prefix_valid(o->prefix)) {
		fprintf(stderr, "ferry-lab-load: --prefix: 1-64 of [A-Za-z0-9._-]\n");
		return -1;
	}
	if (o->path[0] != '/') {
		fprintf(stderr, "ferry-lab-load: --path must start with /\n");
		return -1;
	}
	return 0;
bad:
	fprintf(stderr,
	        "ferry-lab-load: --%s '%s': out of range (rate 1-%d/s, duration up to 1h like "
	        "'20s', conns 1-%d, port 1-65535, retry 0-10)\n",
	        lo[idx].name, optarg, MAX_RATE, MAX_CONNS);
	return -1;
}

static int setup(struct load *l, struct ferry_error *err)
{
	struct opts *o = &l->o;
	char ip[INET6_ADDRSTRLEN];
	long port;

	if (!o->port)
		o->port = o->plain ? 80 : 443;
	if (o->address) {
		if (split_hostport(o->address, ip, sizeof(ip), &port, o->port) < 0)
			return ferry_error_set(err, FERRY_EINVAL, NULL, "address '%s': not IP:PORT",
			                       o->address);
		/* The URL names the same port, so that Host and the connect-to
		 * match: the address stands in for DNS, not for a proxy. */
		o->port = port;
		target_set(l, ip, port);
		l->t.expires_us = INT64_MAX;
	} else if (dns_setup(&l->t, o, err) < 0) {
		return err->code;
	}
	snprintf(l->url, sizeof(l->url), "%s://%s:%ld%s", o->plain ? "http" : "https", o->name,
	         o->port, o->path);
	l->ledger = fopen(o->ledger, "w");
	if (!l->ledger)
		return ferry_error_set(err, FERRY_EIO, NULL, "ledger %s: %s", o->ledger,
		                       strerror(errno));
	setvbuf(l->ledger, NULL, _IOFBF, LEDGER_BUFFER);
	l->multi = curl_multi_init();
	if (!l->multi)
		BUG("curl_multi_init failed");
	curl_multi_setopt(l->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, o->conns);
	curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, o->conns);
	l->headers = curl_slist_append(NULL, "Content-Type: application/json");
	l->headers = curl_slist_append(l->headers, "Expect:");
	return 0;
}

static bool until_file_exists(const struct load *l)
{
	return l->o.until_file && access(l->o.until_file, F_OK) == 0;
}

static int64_t due_us(const struct load *l, uint64_t n)
{
	return l->t0_us + (int64_t)((double)n * 1e6 / l->o.rate);
}

static int run(struct load *l)
{
	int64_t end_us, next_tick_us, next_check_us = 0, next_expire_us = 0;
	uint64_t n = 0;
	bool sending = true, aborted = false;
	const char *why = "duration reached";
	int running;

	l->t0_us = time_mono_us();
	l->t0_wall_ms = time_wall_ms();
	end_us = l->t0_us + l->o.duration_ms * 1000;
	next_tick_us = l->t0_us + 1000000;
	if (target_refresh(l, l->t0_us) < 0)
		return -1;
	for (;;) {
		int64_t now = time_mono_us();
		long wait_ms = POLL_MAX_MS;

		if (sending && signals_seen) {
			sending = false;
			why = "signal";
		} else if (sending && now >= next_check_us) {
			next_check_us = now + 100000;
			if (until_file_exists(l)) {
				sending = false;
				why = "until-file exists";
			}
		}
		if (sending && now >= end_us) {
			/* The schedule, not the clock, decides what a run sends:
			 * every request due before the end, even one a slow
			 * loop reaches late. */
			while (due_us(l, n) < end_us) {
				req_new(l, n + 1, due_us(l, n));
				n++;
			}
			sending = false;
		}
		if (!sending && signals_seen > 1 && !aborted) {
			aborted = true;
			fprintf(stderr, "load: second signal: aborting %" PRIu64 " requests\n",
			        l->st.inflight);
			abort_all(l);
		}
		if (sending) {
			target_refresh(l, now);
			/* Request n+1 is due at t0 + n/rate (open loop). */
			while (due_us(l, n) <= now && due_us(l, n) < end_us) {
				req_new(l, n + 1, due_us(l, n));
				n++;
			}
			wait_ms = (long)((due_us(l, n) - now + 999) / 1000);
		}
		dispatch(l, now);
		curl_multi_perform(l->multi, &running);
		drain_done(l);
		now = time_mono_us();
		if (l->queue_head && l->in_curl < l->o.conns) {
			/* connections freed: their next requests go out now */
			dispatch(l, now);
			curl_multi_perform(l->multi, &running);
			drain_done(l);
		}
		if (now >= next_expire_us) {
			expire_overdue(l, now);
			next_expire_us = now + 100000;
		}
		if (now >= next_tick_us) {
			progress(l, now);
			next_tick_us += 1000000;
		}
		if (!sending && l->st.inflight == 0)
			break;
		if (wait_ms > POLL_MAX_MS)
			wait_ms = POLL_MAX_MS;
		if (wait_ms < 0)
			wait_ms = 0;
		curl_multi_poll(l->multi, NULL, 0, (int)wait_ms, NULL);
	}
	fprintf(stderr,
	        "load: stopped (%s): sent=%" PRIu64 " acked=%" PRIu64 " errors=%" PRIu64
	        " ledger=%s\n",
	        why, l->st.sent, l->st.acked, l->st.errors, l->o.ledger);
	return 0;
}

static void cleanup(struct load *l)
{
	struct req *r;

	while ((r = l->free_reqs)) {
		l->free_reqs = r->next_free;
		curl_easy_cleanup(r->easy);
		free(r);
	}
	if (l->multi)
		curl_multi_cleanup(l->multi);
	curl_slist_free_all(l->headers);
	curl_slist_free_all(l->t.connect_to);
	curl_slist_free_all(l->t.old);
	if (l->t.qname)
		ldns_rdf_deep_free(l->t.qname);
	if (l->t.res)
		ldns_resolver_deep_free(l->t.res);
	if (l->ledger && fclose(l->ledger) != 0)
		fprintf(stderr, "load: ledger %s: %s\n", l->o.ledger, strerror(errno));
	free(l->st.lat);
}

int main(int argc, char **argv)
{
	struct load l = { 0 };
	struct ferry_error err = { 0 };
	struct sigaction sa = { 0 };
	char prefix[32];
	int ret = 1;

	l.o.conns = 8;
	l.o.name = "www.shop.test";
	l.o.path = "/orders";
	if (parse_opts(argc, argv, &l.o) < 0)
		return 2;
	if (!l.o.prefix) {
		snprintf(prefix, sizeof(prefix), "r%" PRId64, time_wall_ms() / 1000);
		l.o.prefix = prefix;
	}
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "load: curl_global_init failed\n");
		return 1;
	}
	if (setup(&l, &err) < 0) {
		fprintf(stderr, "load: %s%s%s\n", err.msg, err.hint[0] ? "; " : "", err.hint);
		goto out;
	}
	fprintf(stderr, "load: %s at %.0f/s for %" PRId64 " ms over %ld connections, ids %s-N\n",
	        l.url, l.o.rate, l.o.duration_ms, l.o.conns, l.o.prefix);
	if (run(&l) < 0)
		goto out;
	ret = 0;
out:
	cleanup(&l);
	curl_global_cleanup();
	return ret;
}
