/*
 * dns.c - the provider table, the dns_*() wrappers, and the helpers that
 * every driver shares and that need no DNS library: address sets, zone
 * membership, and the transport of a DNS message over UDP or TCP.
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
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dns/dns.h"
#include "util/mem.h"
#include "util/timeutil.h"

static const struct dns_provider_ops *const providers[] = {
	&dns_rfc2136_ops,
};

const struct dns_provider_ops *dns_provider_find(const char *name)
{
	size_t i;

	for (i = 0; name && i < sizeof(providers) / sizeof(providers[0]); i++)
		if (!strcmp(providers[i]->name, name))
			return providers[i];
	return NULL;
}

int dns_open(const char *provider, const struct dns_config *cfg, struct dns_provider **out,
             struct ferry_error *err)
{
	const struct dns_provider_ops *ops = dns_provider_find(provider);

	if (!ops)
		return ferry_error_set(err, FERRY_EINVAL, "the providers ferry knows: rfc2136",
		                       "dns: unknown provider '%s'", provider ? provider : "");
	return ops->open(cfg, out, err);
}

int dns_query(struct dns_provider *p, const char *name, struct dns_rrset *out,
              struct ferry_error *err)
{
	return p->ops->query(p, name, out, err);
}

int dns_check_key(struct dns_provider *p, struct ferry_error *err)
{
	return p->ops->check_key(p, err);
}

int dns_set_ttl(struct dns_provider *p, const char *name, char *const *addresses, size_t n,
                uint32_t ttl, struct ferry_error *err)
{
	return p->ops->set_ttl(p, name, addresses, n, ttl, err);
}

int dns_cas(struct dns_provider *p, const char *name, char *const *old, size_t nold,
            char *const *new_, size_t nnew, uint32_t ttl, struct ferry_error *err)
{
	return p->ops->cas(p, name, old, nold, new_, nnew, ttl, err);
}

void dns_close(struct dns_provider *p)
{
	if (p)
		p->ops->close(p);
}

void dns_rrset_init(struct dns_rrset *rs)
{
	memset(rs, 0, sizeof(*rs));
}

void dns_rrset_release(struct dns_rrset *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		free(rs->addresses[i]);
	free(rs->addresses);
	free(rs->name);
	dns_rrset_init(rs);
}

void dns_rrset_add(struct dns_rrset *rs, const char *addr)
{
	XGROW(rs->addresses, rs->alloc, rs->n + 1);
	rs->addresses[rs->n++] = xstrdup(addr);
}

void dns_change_release(struct dns_change *c)
{
	free(c->name);
	dns_rrset_release(&c->expected);
	dns_rrset_release(&c->wanted);
	free(c->rr);
	memset(c, 0, sizeof(*c));
}

static void change_add(struct dns_change *c, enum dns_rr_section sec, enum dns_rr_class cls,
                       bool aaaa, uint32_t ttl, const char *addr)
{
	struct dns_change_rr *rr;

	XGROW(c->rr, c->alloc, c->nrr + 1);
	rr = &c->rr[c->nrr++];
	memset(rr, 0, sizeof(*rr));
	rr->section = sec;
	rr->cls = cls;
	rr->aaaa = aaaa;
	rr->ttl = ttl;
	snprintf(rr->addr, sizeof(rr->addr), "%s", addr ? addr : "");
}

/* Canonicalises in[0..n) into out, dropping duplicates. */
static int canon_set(const char *name, const char *which, char *const *in, size_t n,
                     struct dns_rrset *out, struct ferry_error *err)
{
	char canon[INET6_ADDRSTRLEN];
	size_t i, j;

	for (i = 0; i < n; i++) {
		bool dup = false;

		if (!in[i] || dns_address_canon(in[i], canon, sizeof(canon), NULL) < 0)
			return ferry_error_set(
			        err, FERRY_EINVAL, "give IPv4 or IPv6 addresses",
			        "dns %s: %s address '%s' is not an IP address; nothing "
			        "sent",
			        name, which, in[i] ? in[i] : "");
		for (j = 0; j < out->n && !dup; j++)
			dup = !strcmp(out->addresses[j], canon);
		if (!dup)
			dns_rrset_add(out, canon);
	}
	return 0;
}

int dns_change_build(struct dns_change *c, const char *zone, const char *name, char *const *old,
                     size_t nold, char *const *new_, size_t nnew, uint32_t ttl,
                     struct ferry_error *err)
{
	size_t i;
	int t, rc;

	memset(c, 0, sizeof(*c));
	c->name = xstrdup(name);
	c->ttl = ttl;
	if (!dns_name_in_zone(name, zone))
		return ferry_error_set(err, FERRY_EINVAL, "list only names inside dns.zone",
		                       "dns %s: the name is outside zone %s; nothing sent", name,
		                       zone);
	rc = canon_set(name, "expected", old, nold, &c->expected, err);
	if (rc == 0)
		rc = canon_set(name, "new", new_, nnew, &c->wanted, err);
	if (rc < 0)
		return rc;
	if (c->wanted.n == 0)
		return ferry_error_set(err, FERRY_EINVAL, NULL,
		                       "dns %s: no new address given; nothing sent", name);
	for (t = 0; t < 2; t++) {
		bool aaaa = t == 1, any = false;

		for (i = 0; i < c->expected.n; i++) {
			if ((strchr(c->expected.addresses[i], ':') != NULL) != aaaa)
				continue;
			change_add(c, DNS_SECTION_PREREQ, DNS_CLASS_IN, aaaa, 0,
			           c->expected.addresses[i]);
			any = true;
		}
		if (!any)
			change_add(c, DNS_SECTION_PREREQ, DNS_CLASS_NONE, aaaa, 0, NULL);
	}
	change_add(c, DNS_SECTION_UPDATE, DNS_CLASS_ANY, false, 0, NULL);
	change_add(c, DNS_SECTION_UPDATE, DNS_CLASS_ANY, true, 0, NULL);
	for (i = 0; i < c->wanted.n; i++)
		change_add(c, DNS_SECTION_UPDATE, DNS_CLASS_IN, strchr(c->wanted.addresses[i], ':'),
		           ttl, c->wanted.addresses[i]);
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
		const char *type = rr->aaaa ? "AAAA" : "A";

		if (rr->section == DNS_SECTION_PREREQ && rr->cls == DNS_CLASS_IN)
			rc = buf_addf(out, "prereq yxrrset %s. IN %s %s\n", c->name, type,
			              rr->addr);
		else if (rr->section == DNS_SECTION_PREREQ)
			rc = buf_addf(out, "prereq nxrrset %s. IN %s\n", c->name, type);
		else if (rr->cls == DNS_CLASS_ANY)
			rc = buf_addf(out, "update delete %s. IN %s\n", c->name, type);
		else
			rc = buf_addf(out, "update add %s. %u IN %s %s\n", c->name, rr->ttl, type,
			              rr->addr);
	}
	if (rc == 0)
		rc = buf_adds(out, "send\n");
	return rc;
}

int dns_address_canon(const char *in, char *out, size_t outlen, int *family)
{
	unsigned char bin[sizeof(struct in6_addr)];
	int af = strchr(in, ':') ? AF_INET6 : AF_INET;

	if (inet_pton(af, in, bin) != 1 || !inet_ntop(af, bin, out, outlen))
		return FERRY_EINVAL;
	if (family)
		*family = af;
	return 0;
}

/* True when every address of a is in b. */
static bool addresses_subset(char *const *a, size_t na, char *const *b, size_t nb)
{
	char ca[INET6_ADDRSTRLEN], cb[INET6_ADDRSTRLEN];
	size_t i, j;

	for (i = 0; i < na; i++) {
		const char *x = dns_address_canon(a[i], ca, sizeof(ca), NULL) ? a[i] : ca;
		bool found = false;

		for (j = 0; j < nb && !found; j++) {
			const char *y = dns_address_canon(b[j], cb, sizeof(cb), NULL) ? b[j] : cb;

			found = !strcmp(x, y);
		}
		if (!found)
			return false;
	}
	return true;
}

bool dns_addresses_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
	return addresses_subset(a, na, b, nb) && addresses_subset(b, nb, a, na);
}

void dns_addresses_format(char *const *a, size_t n, char *out, size_t outlen)
{
	size_t i, used = 0;

	if (!outlen)
		return;
	out[0] = '\0';
	if (n == 0) {
		snprintf(out, outlen, "no address");
		return;
	}
	for (i = 0; i < n && used < outlen; i++) {
		int w = snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", a[i]);

		if (w < 0)
			break;
		used += (size_t)w;
	}
}

bool dns_name_in_zone(const char *name, const char *zone)
{
	size_t ln = strlen(name), lz = strlen(zone);

	if (ln && name[ln - 1] == '.')
		ln--;
	if (lz && zone[lz - 1] == '.')
		lz--;
	if (lz == 0)
		return true; /* the root holds every name */
	if (ln < lz || strncasecmp(name + ln - lz, zone, lz) != 0)
		return false;
	return ln == lz || name[ln - lz - 1] == '.';
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
