/*
 * dns.c - the provider table, the dns_*() wrappers, the rfc2136 change as
 * data (dns_change_build, shared by the driver and --dry-run), and the
 * transport of a DNS message over UDP or TCP.  No foreign library; the
 * record sets themselves are in values.c.
 *
 * The transport lives here rather than in ldns because ldns's own send
 * functions fold "connection refused", "no route" and "no answer" into one
 * status and apply their timeout per try; ferry must tell an operator which
 * of those happened and must stay within one deadline per operation.  The
 * bytes sent and received are built and parsed by the driver (ldns).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dns/dns.h"
#include "util/mem.h"
#include "util/timeutil.h"

static const struct dns_provider_ops *const providers[] = {
	&dns_rfc2136_ops,
	&dns_powerdns_ops,
	&dns_route53_ops,
	&dns_command_ops,
};

const struct dns_provider_ops *dns_provider_find(const char *name)
{
	size_t i;

	for (i = 0; name && i < sizeof(providers) / sizeof(providers[0]); i++)
		if (!strcmp(providers[i]->name, name))
			return providers[i];
	return NULL;
}

static int unknown(const char *provider, struct ferry_error *err)
{
	char names[128] = "";
	size_t i, used = 0;

	for (i = 0; i < sizeof(providers) / sizeof(providers[0]) && used < sizeof(names); i++)
		used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "",
		                         providers[i]->name);
	return ferry_error_set(err, FERRY_EINVAL, NULL,
	                       "dns: unknown provider '%s' (ferry knows %s)",
	                       provider ? provider : "", names);
}

int dns_open(const char *provider, const struct dns_config *cfg, struct dns_provider **out,
             struct ferry_error *err)
{
	const struct dns_provider_ops *ops = dns_provider_find(provider);

	if (!ops)
		return unknown(provider, err);
	return ops->open(cfg, out, err);
}

const struct dns_provider_ops *dns_ops(const struct dns_provider *p)
{
	return p->ops;
}

int dns_query(struct dns_provider *p, const char *name, struct dns_rrset *out,
              struct ferry_error *err)
{
	return p->ops->query(p, name, out, err);
}

int dns_expect(struct dns_provider *p, const char *name, const struct dns_state *st,
               struct dns_rrset *now, struct ferry_error *err)
{
	char have[512], want[512];
	int r;

	if (p->ops->expect)
		return p->ops->expect(p, name, st, now, err);
	r = p->ops->query(p, name, now, err);
	if (r == FERRY_ENOTFOUND) {
		if (dns_state_empty(st))
			return 0;
		dns_state_format(st, want, sizeof(want));
		return ferry_error_set(err, FERRY_ECHANGED,
		                       "someone else removed the record: find out who and why "
		                       "before going on",
		                       "dns %s: holds no A, AAAA or CNAME record, not %s", name,
		                       want);
	}
	if (r < 0)
		return r;
	if (dns_rrset_matches(now, st))
		return 0;
	dns_rrset_format(now, have, sizeof(have));
	dns_state_format(st, want, sizeof(want));
	return ferry_error_set(err, FERRY_ECHANGED,
	                       "someone else changed the record: find out who and why before "
	                       "going on",
	                       "dns %s: holds %s (TTL %u), not %s", name, have, now->ttl, want);
}

int dns_check_access(struct dns_provider *p, struct ferry_error *err)
{
	return p->ops->check_access(p, err);
}

int dns_set_ttl(struct dns_provider *p, const char *name, const struct dns_state *st, uint32_t ttl,
                struct ferry_error *err)
{
	return p->ops->cas(p, name, st, st, ttl, err);
}

int dns_cas(struct dns_provider *p, const char *name, const struct dns_state *expected,
            const struct dns_state *wanted, uint32_t ttl, struct ferry_error *err)
{
	return p->ops->cas(p, name, expected, wanted, ttl, err);
}

int dns_describe(const char *provider, const struct dns_config *cfg, const char *name,
                 const struct dns_state *expected, const struct dns_state *wanted, uint32_t ttl,
                 struct buf *out, struct ferry_error *err)
{
	const struct dns_provider_ops *ops = dns_provider_find(provider);

	if (!ops)
		return unknown(provider, err);
	return ops->describe(cfg, name, expected, wanted, ttl, out, err);
}

void dns_close(struct dns_provider *p)
{
	if (p)
		p->ops->close(p);
}

/* --- the rfc2136 change ------------------------------------------------ */

const char *dns_rr_type_name(enum dns_rr_type t)
{
	static const char *const names[] = { "A", "AAAA", "CNAME" };

	return names[t];
}

void dns_change_release(struct dns_change *c)
{
	free(c->name);
	free(c->rr);
	memset(c, 0, sizeof(*c));
}

static void change_add(struct dns_change *c, enum dns_rr_section sec, enum dns_rr_class cls,
                       enum dns_rr_type type, uint32_t ttl, const char *data)
{
	struct dns_change_rr *rr;

	XGROW(c->rr, c->alloc, c->nrr + 1);
	rr = &c->rr[c->nrr++];
	memset(rr, 0, sizeof(*rr));
	rr->section = sec;
	rr->cls = cls;
	rr->type = type;
	rr->ttl = ttl;
	snprintf(rr->data, sizeof(rr->data), "%s", data ? data : "");
}

/* Adds the records of v of type t (canonical text; a CNAME target
 * absolute with its dot) in section sec; returns how many. */
static size_t change_values(struct dns_change *c, enum dns_rr_section sec, enum dns_rr_class cls,
                            enum dns_rr_type t, uint32_t ttl, const struct dns_values *v)
{
	char canon[INET6_ADDRSTRLEN], target[256];
	size_t i, k = 0;
	int af;

	if (t == DNS_TYPE_CNAME) {
		if (!v->cname)
			return 0;
		snprintf(target, sizeof(target), "%s%s", v->cname,
		         v->cname[strlen(v->cname) - 1] == '.' ? "" : ".");
		change_add(c, sec, cls, t, ttl, target);
		return 1;
	}
	for (i = 0; i < v->n; i++) {
		if (dns_address_canon(v->addresses[i], canon, sizeof(canon), &af) < 0)
			BUG("address %s was checked", v->addresses[i]);
		if ((af == AF_INET6) != (t == DNS_TYPE_AAAA))
			continue;
		change_add(c, sec, cls, t, ttl, canon);
		k++;
	}
	return k;
}

int dns_change_build(struct dns_change *c, const char *zone, const char *name,
                     const struct dns_state *expected, const struct dns_state *wanted, uint32_t ttl,
                     struct ferry_error *err)
{
	enum dns_rr_type t;
	int rc;

	memset(c, 0, sizeof(*c));
	c->name = xstrdup(name);
	c->ttl = ttl;
	if (!dns_name_in_zone(name, zone))
		return ferry_error_set(err, FERRY_EINVAL, "list only names inside dns.zone",
		                       "dns %s: the name is outside zone %s; nothing sent", name,
		                       zone);
	if (expected->split || wanted->split)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "weighted answers need provider powerdns or route53; split "
		                       "the traffic with traffic.via: haproxy instead",
		                       "dns %s: RFC 2136 cannot weight answers; nothing sent",
		                       name);
	rc = dns_state_check(name, "expected", expected, err);
	if (rc == 0)
		rc = dns_state_check(name, "new", wanted, err);
	if (rc < 0)
		return rc;
	if (dns_state_empty(wanted))
		return ferry_error_set(err, FERRY_EINVAL, NULL,
		                       "dns %s: no new address or CNAME given; nothing sent", name);
	for (t = DNS_TYPE_A; t <= DNS_TYPE_CNAME; t++)
		if (change_values(c, DNS_SECTION_PREREQ, DNS_CLASS_IN, t, 0, &expected->set) == 0)
			change_add(c, DNS_SECTION_PREREQ, DNS_CLASS_NONE, t, 0, NULL);
	for (t = DNS_TYPE_A; t <= DNS_TYPE_CNAME; t++)
		change_add(c, DNS_SECTION_UPDATE, DNS_CLASS_ANY, t, 0, NULL);
	for (t = DNS_TYPE_A; t <= DNS_TYPE_CNAME; t++)
		change_values(c, DNS_SECTION_UPDATE, DNS_CLASS_IN, t, ttl, &wanted->set);
	return 0;
}

int dns_change_format(const struct dns_change *c, const struct dns_config *cfg, struct buf *out)
{
	size_t i;
	int rc;

	rc = buf_addf(out, "; signed with TSIG key %s (%s)\nserver %s %u\nzone %s.\n",
	              cfg->key_name, cfg->algorithm, cfg->server_host,
	              cfg->server_port ? cfg->server_port : 53, cfg->zone);
	for (i = 0; i < c->nrr && rc == 0; i++) {
		const struct dns_change_rr *rr = &c->rr[i];
		const char *type = dns_rr_type_name(rr->type);

		if (rr->section == DNS_SECTION_PREREQ && rr->cls == DNS_CLASS_IN)
			rc = buf_addf(out, "prereq yxrrset %s. IN %s %s\n", c->name, type,
			              rr->data);
		else if (rr->section == DNS_SECTION_PREREQ)
			rc = buf_addf(out, "prereq nxrrset %s. IN %s\n", c->name, type);
		else if (rr->cls == DNS_CLASS_ANY)
			rc = buf_addf(out, "update delete %s. IN %s\n", c->name, type);
		else
			rc = buf_addf(out, "update add %s. %u IN %s %s\n", c->name, rr->ttl, type,
			              rr->data);
	}
	if (rc == 0)
		rc = buf_adds(out, "send\n");
	return rc;
}

int dns_vfail(struct ferry_error *err, int code, const char *where, const char *zone,
              const char *name, const char *hint, const char *fmt, va_list ap)
{
	char what[400];

	vsnprintf(what, sizeof(what), fmt, ap);
	if (name)
		return ferry_error_set(err, code, hint, "dns %s (%s): %s", name, where, what);
	return ferry_error_set(err, code, hint, "dns zone %s (%s): %s", zone, where, what);
}

int dns_fail(struct ferry_error *err, int code, const char *where, const char *zone,
             const char *name, const char *hint, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = dns_vfail(err, code, where, zone, name, hint, fmt, ap);
	va_end(ap);
	return rc;
}

int dns_server_parse(const char *spec, char *host, size_t hostlen, uint16_t *port,
                     struct ferry_error *err)
{
	const char *colon = strrchr(spec, ':'), *h = spec;
	size_t n = strlen(spec);
	unsigned long v = 53;
	char *end;

	if (spec[0] == '[') { /* [v6]:port */
		const char *close = strchr(spec, ']');

		if (!close || (close[1] && close[1] != ':'))
			goto bad;
		h = spec + 1;
		n = (size_t)(close - h);
		colon = close[1] ? close + 1 : NULL;
	} else if (colon && strchr(spec, ':') != colon) {
		colon = NULL; /* a bare IPv6 address */
	} else if (colon) {
		n = (size_t)(colon - spec);
	}
	if (colon) {
		errno = 0;
		v = strtoul(colon + 1, &end, 10);
		if (errno || end == colon + 1 || *end || v == 0 || v > 65535)
			goto bad;
	}
	if (n == 0 || n >= hostlen)
		goto bad;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (uint16_t)v;
	return 0;
bad:
	return ferry_error_set(err, FERRY_EINVAL,
	                       "write it as ADDRESS, ADDRESS:PORT or [IPv6]:PORT",
	                       "dns server '%s': not an address with an optional port", spec);
}

int dns_sockaddr_parse(const char *host, uint16_t port, struct sockaddr_storage *ss,
                       socklen_t *sslen, struct ferry_error *err)
{
	memset(ss, 0, sizeof(*ss));
	if (!port)
		port = 53;
	if (host && strchr(host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons(port);
			*sslen = sizeof(*s6);
			return 0;
		}
	} else if (host) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
			s4->sin_family = AF_INET;
			s4->sin_port = htons(port);
			*sslen = sizeof(*s4);
			return 0;
		}
	}
	return ferry_error_set(err, FERRY_EINVAL,
	                       "give the authoritative server as an IP address (dns.server: "
	                       "10.77.0.1:53), so that no name lookup can stall ferry",
	                       "dns server '%s': not an IPv4 or IPv6 address", host ? host : "");
}

/* Milliseconds left before deadline, at least 0. */
static int remaining_ms(int64_t deadline_ms)
{
	int64_t left = deadline_ms - time_mono_ms();

	if (left <= 0)
		return 0;
	return left > 60000 ? 60000 : (int)left;
}

static int socket_error(int e, const char *server, const char *what, struct ferry_error *err)
{
	switch (e) {
	case ECONNREFUSED:
		return ferry_error_set(err, FERRY_EUNREACH,
		                       "check that the DNS server runs and listens on this address "
		                       "and port (and that no firewall rejects it)",
		                       "server %s: connection refused (%s)", server, what);
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EHOSTDOWN:
	case ENETDOWN:
	case EADDRNOTAVAIL:
		return ferry_error_set(err, FERRY_EUNREACH,
		                       "check the server address in the plan and the route to it",
		                       "server %s: unreachable (%s: %s)", server, what,
		                       strerror(e));
	default:
		return ferry_error_set(err, FERRY_EIO, NULL, "server %s: %s: %s", server, what,
		                       strerror(e));
	}
}

static int timed_out(const char *server, enum dns_transport tr, int64_t started_ms,
                     struct ferry_error *err)
{
	return ferry_error_set(err, FERRY_ETIMEDOUT,
	                       "check that the server runs and that nothing drops DNS "
	                       "packets between here and it; raise the timeout if the "
	                       "link is slow",
	                       "server %s: no answer over %s within %lld ms", server,
	                       tr == DNS_TCP ? "TCP" : "UDP",
	                       (long long)(time_mono_ms() - started_ms));
}

/* Waits for events on fd until the deadline: 1 ready, 0 timed out, <0 errno. */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		int r = poll(&pfd, 1, remaining_ms(deadline_ms));

		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

static int exchange_udp(int fd, const uint8_t *query, size_t qlen, int64_t deadline_ms,
                        struct buf *reply, const char *server, struct ferry_error *err)
{
	int64_t started = time_mono_ms();
	/* RFC 1035 §4.2.1 allows 512 bytes without EDNS; ldns sends none, so
	 * a longer answer is malformed.  65535 covers anything. */
	uint8_t *pkt = xmalloc(65535);
	int64_t resend_at = started;
	int rc;

	for (;;) {
		ssize_t n;
		int w;
		int64_t now = time_mono_ms();

		if (now >= deadline_ms) {
			rc = timed_out(server, DNS_UDP, started, err);
			goto out;
		}
		if (now >= resend_at) {
			/* Resend at 1/3 of what is left, so that one lost packet does
			 * not cost the whole deadline. */
			if (send(fd, query, qlen, 0) < 0) {
				rc = socket_error(errno, server, "send", err);
				goto out;
			}
			resend_at = now + (deadline_ms - now) / 3;
			if (resend_at - now < 100)
				resend_at = now + 100;
		}
		w = wait_fd(fd, POLLIN, resend_at < deadline_ms ? resend_at : deadline_ms);
		if (w < 0) {
			rc = socket_error(-w, server, "poll", err);
			goto out;
		}
		if (w == 0)
			continue;
		n = recv(fd, pkt, 65535, 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			rc = socket_error(errno, server, "receive", err);
			goto out;
		}
		/* A connected UDP socket only hears from the server; still, an
		 * answer to an older query (other ID) is not ours. */
		if (n < 12 || pkt[0] != query[0] || pkt[1] != query[1])
			continue;
		buf_reset(reply);
		if (buf_add(reply, pkt, (size_t)n) < 0) {
			rc = ferry_error_set(err, FERRY_EPROTO, NULL,
			                     "server %s: answer of %zd bytes is too large", server,
			                     n);
			goto out;
		}
		rc = 0;
		goto out;
	}
out:
	free(pkt);
	return rc;
}

/* Reads exactly len bytes from a TCP socket before the deadline. */
static int read_full(int fd, uint8_t *p, size_t len, int64_t deadline_ms, int64_t started,
                     const char *server, struct ferry_error *err)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n;
		int w = wait_fd(fd, POLLIN, deadline_ms);

		if (w < 0)
			return socket_error(-w, server, "poll", err);
		if (w == 0)
			return timed_out(server, DNS_TCP, started, err);
		n = recv(fd, p + got, len - got, 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return socket_error(errno, server, "receive", err);
		}
		if (n == 0)
			return ferry_error_set(err, FERRY_EPROTO,
			                       "the server closed the connection before answering; "
			                       "see its log",
			                       "server %s: connection closed after %zu of %zu "
			                       "bytes",
			                       server, got, len);
		got += (size_t)n;
	}
	return 0;
}

static int exchange_tcp(int fd, const struct sockaddr_storage *addr, socklen_t addrlen,
                        const uint8_t *query, size_t qlen, int64_t deadline_ms, struct buf *reply,
                        const char *server, struct ferry_error *err)
{
	int64_t started = time_mono_ms();
	uint8_t *msg = NULL, lenb[2];
	size_t sent = 0, mlen;
	int rc, w, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (qlen > 65535)
		return ferry_error_set(err, FERRY_EINVAL, NULL,
		                       "server %s: message of %zu bytes is too large", server,
		                       qlen);
	if (connect(fd, (const struct sockaddr *)addr, addrlen) < 0 && errno != EINPROGRESS)
		return socket_error(errno, server, "connect", err);
	w = wait_fd(fd, POLLOUT, deadline_ms);
	if (w < 0)
		return socket_error(-w, server, "connect", err);
	if (w == 0)
		return timed_out(server, DNS_TCP, started, err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		return socket_error(errno, server, "connect", err);
	if (soerr)
		return socket_error(soerr, server, "connect", err);

	/* RFC 1035 §4.2.2: a two-byte length, then the message, in one write. */
	mlen = qlen + 2;
	msg = xmalloc(mlen);
	msg[0] = (uint8_t)(qlen >> 8);
	msg[1] = (uint8_t)(qlen & 0xff);
	memcpy(msg + 2, query, qlen);
	while (sent < mlen) {
		ssize_t n;

		w = wait_fd(fd, POLLOUT, deadline_ms);
		if (w < 0) {
			rc = socket_error(-w, server, "send", err);
			goto out;
		}
		if (w == 0) {
			rc = timed_out(server, DNS_TCP, started, err);
			goto out;
		}
		n = send(fd, msg + sent, mlen - sent, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			rc = socket_error(errno, server, "send", err);
			goto out;
		}
		sent += (size_t)n;
	}
	free(msg);
	msg = NULL;

	rc = read_full(fd, lenb, 2, deadline_ms, started, server, err);
	if (rc < 0)
		goto out;
	mlen = ((size_t)lenb[0] << 8) | lenb[1];
	if (mlen < 12) {
		rc = ferry_error_set(err, FERRY_EPROTO, NULL,
		                     "server %s: answer of %zu bytes is too short", server, mlen);
		goto out;
	}
	msg = xmalloc(mlen);
	rc = read_full(fd, msg, mlen, deadline_ms, started, server, err);
	if (rc < 0)
		goto out;
	if (msg[0] != query[0] || msg[1] != query[1]) {
		rc = ferry_error_set(err, FERRY_EPROTO, NULL,
		                     "server %s: answer carries another message ID", server);
		goto out;
	}
	buf_reset(reply);
	if (buf_add(reply, msg, mlen) < 0) {
		rc = ferry_error_set(err, FERRY_EPROTO, NULL,
		                     "server %s: answer of %zu bytes is too large", server, mlen);
		goto out;
	}
	rc = 0;
out:
	free(msg);
	return rc;
}

int dns_wire_exchange(const struct sockaddr_storage *addr, socklen_t addrlen, enum dns_transport tr,
                      const uint8_t *query, size_t qlen, int64_t deadline_ms, struct buf *reply,
                      const char *server, struct ferry_error *err)
{
	int fd, rc;

	if (qlen < 12)
		BUG("dns message of %zu bytes", qlen);
	fd = socket(addr->ss_family,
	            (tr == DNS_TCP ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return socket_error(errno, server, "socket", err);
	if (tr == DNS_TCP) {
		rc = exchange_tcp(fd, addr, addrlen, query, qlen, deadline_ms, reply, server, err);
	} else if (connect(fd, (const struct sockaddr *)addr, addrlen) < 0) {
		/* A connected UDP socket reports ICMP "port unreachable" as
		 * ECONNREFUSED instead of leaving us to wait for the deadline. */
		rc = socket_error(errno, server, "connect", err);
	} else {
		rc = exchange_udp(fd, query, qlen, deadline_ms, reply, server, err);
	}
	close(fd);
	return rc;
}
