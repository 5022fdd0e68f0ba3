/*
 * probe_sockets.c - the probe's socket tables (`ss -tan` lines, or
 * /proc/net/tcp and tcp6 where ss is missing) turned into the derived
 * `ports` and `conns` facts of a fingerprint.  probe.c hands each line of
 * the ss and proctcp sections to hosts_sockets_line(), which keeps the
 * listening and established sockets and the host's own addresses;
 * hosts_sockets_facts() then adds one `ports` fact per listening port
 * (its widest bind) and one `conns` fact per outbound peer.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hosts/probe_internal.h"
#include "util/mem.h"

struct ep {
	int af; /* AF_INET or AF_INET6; v4-mapped addresses are stored as AF_INET */
	unsigned char a[16];
	unsigned port;
};

enum {
	SCOPE_LOOPBACK = 1,
	SCOPE_ADDRESS = 2,
	SCOPE_ANY = 3
};
static const char *const scope_names[] = { "?", "loopback", "address", "any" };

struct listen_sock {
	unsigned port;
	int scope;
};
struct estab_sock {
	unsigned lport;
	struct ep remote;
};

static bool is_wild(const struct ep *e)
{
	static const unsigned char zero[16];

	return !memcmp(e->a, zero, e->af == AF_INET ? 4 : 16);
}

static bool is_loop(const struct ep *e)
{
	static const unsigned char one6[16] = { [15] = 1 };

	return e->af == AF_INET ? e->a[0] == 127 : !memcmp(e->a, one6, 16);
}

static void ep_normalize(struct ep *e)
{
	static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (e->af == AF_INET6 && !memcmp(e->a, mapped, 12)) {
		memmove(e->a, e->a + 12, 4);
		memset(e->a + 4, 0, 12);
		e->af = AF_INET;
	}
}

static void ep_format(const struct ep *e, char *out, size_t outlen)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(e->af, e->a, a, sizeof(a));
	if (e->af == AF_INET6)
		snprintf(out, outlen, "[%s]:%u", a, e->port);
	else
		snprintf(out, outlen, "%s:%u", a, e->port);
}

static bool parse_port(const char *s, unsigned *port)
{
	unsigned long v = 0;

	if (!*s || strlen(s) > 5)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v > 65535)
		return false;
	*port = (unsigned)v;
	return true;
}

/* ss's "ADDR:PORT": 10.0.0.1:80, [::1]:80, *:80, 127.0.0.53%lo:53, [::]:*.
 * A port of "*" is allowed when star_ok (a listener's peer). */
static bool parse_ss_ep(char *s, struct ep *e, bool star_ok)
{
	char *colon = strrchr(s, ':'), *pct;
	size_t n;

	if (!colon)
		return false;
	*colon = '\0';
	memset(e, 0, sizeof(*e));
	if (!strcmp(colon + 1, "*")) {
		if (!star_ok)
			return false;
	} else if (!parse_port(colon + 1, &e->port)) {
		return false;
	}
	n = strlen(s);
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s[n - 1] = '\0';
		s++;
	}
	pct = strchr(s, '%');
	if (pct)
		*pct = '\0';
	if (!strcmp(s, "*")) {
		e->af = AF_INET6;
		return true;
	}
	if (inet_pton(AF_INET, s, e->a) == 1) {
		e->af = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, e->a) == 1) {
		e->af = AF_INET6;
		ep_normalize(e);
		return true;
	}
	return false;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* /proc/net/tcp's "0100007F:0035": each 32-bit word of the address is
 * printed as the host stores it (%08X of the network-order word), so on a
 * little-endian host the bytes of each word come out reversed. */
static bool parse_proc_ep(const char *s, size_t hexlen, struct ep *e)
{
	size_t i;
	unsigned port = 0;

	if (strlen(s) != hexlen + 5 || s[hexlen] != ':')
		return false;
	memset(e, 0, sizeof(*e));
	e->af = hexlen == 8 ? AF_INET : AF_INET6;
	for (i = 0; i < hexlen; i += 2) {
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);
		size_t word = i / 8, byte = (i % 8) / 2;

		if (hi < 0 || lo < 0)
			return false;
		e->a[word * 4 + (3 - byte)] = (unsigned char)(hi << 4 | lo);
	}
	for (i = hexlen + 1; i < hexlen + 5; i++) {
		int v = hexval(s[i]);

		if (v < 0)
			return false;
		port = port << 4 | (unsigned)v;
	}
	e->port = port;
	ep_normalize(e);
	return true;
}

/* Splits s (modified) on runs of spaces into at most max fields. */
static size_t split_ws(char *s, char **f, size_t max)
{
	size_t n = 0;
	char *save = NULL, *tok;

	for (tok = strtok_r(s, " ", &save); tok && n < max; tok = strtok_r(NULL, " ", &save))
		f[n++] = tok;
	return n;
}

static void add_own(struct hosts_sockets *c, const struct ep *local)
{
	if (is_wild(local))
		return;
	XGROW(c->own, c->aown, c->nown + 1);
	c->own[c->nown] = *local;
	c->own[c->nown].port = 0;
	c->nown++;
}

static void add_listen(struct hosts_sockets *c, const struct ep *local)
{
	XGROW(c->ls, c->als, c->nls + 1);
	c->ls[c->nls].port = local->port;
	c->ls[c->nls].scope = is_wild(local)   ? SCOPE_ANY
	                      : is_loop(local) ? SCOPE_LOOPBACK
	                                       : SCOPE_ADDRESS;
	c->nls++;
	add_own(c, local);
}

static void add_estab(struct hosts_sockets *c, const struct ep *local, const struct ep *remote)
{
	XGROW(c->es, c->aes, c->nes + 1);
	c->es[c->nes].lport = local->port;
	c->es[c->nes].remote = *remote;
	c->nes++;
	add_own(c, local);
}

int hosts_sockets_line(struct hosts_sockets *c, size_t lineno, bool ss, const char *key,
                       const char *value, struct ferry_error *err)
{
	char tmp[HOSTS_PROBE_LINE_MAX + 1], *f[6];
	struct ep local, remote;
	size_t n;
	bool listen, estab;

	snprintf(tmp, sizeof(tmp), "%s", value);
	n = split_ws(tmp, f, 6);
	if (ss) {
		if (strcmp(key, "tcp"))
			goto bad;
		if (n < 5)
			goto bad;
		listen = !strcmp(f[0], "LISTEN");
		estab = !strcmp(f[0], "ESTAB");
		if (!listen && !estab)
			return 0;
		if (!parse_ss_ep(f[3], &local, false) || !parse_ss_ep(f[4], &remote, listen))
			goto bad;
	} else {
		size_t hexlen = !strcmp(key, "tcp") ? 8 : !strcmp(key, "tcp6") ? 32 : 0;

		if (!hexlen || n < 4)
			goto bad;
		listen = !strcmp(f[3], "0A"); /* TCP_LISTEN, include/net/tcp_states.h */
		estab = !strcmp(f[3], "01");  /* TCP_ESTABLISHED */
		if (!listen && !estab)
			return 0;
		if (!parse_proc_ep(f[1], hexlen, &local) || !parse_proc_ep(f[2], hexlen, &remote))
			goto bad;
	}
	if (listen)
		add_listen(c, &local);
	else
		add_estab(c, &local, &remote);
	return 0;
bad:
	return ferry_error_set(err, FERRY_EPROTO, NULL,
	                       "probe output line %zu: malformed %s socket line", lineno,
	                       ss ? "ss" : "/proc/net/tcp");
}

static int listen_cmp(const void *a, const void *b)
{
	const struct listen_sock *x = a, *y = b;

	return x->port != y->port ? (x->port < y->port ? -1 : 1) : 0;
}

static int ep_cmp(const struct ep *x, const struct ep *y)
{
	int r;

	if (x->af != y->af)
		return x->af < y->af ? -1 : 1;
	r = memcmp(x->a, y->a, sizeof(x->a));
	if (r)
		return r;
	return x->port != y->port ? (x->port < y->port ? -1 : 1) : 0;
}

static int own_cmp(const void *a, const void *b)
{
	return ep_cmp(a, b);
}

/* Is e's address one of the host's own (a connection to itself)? */
static bool is_own(const struct hosts_sockets *c, const struct ep *e)
{
	struct ep k = *e;

	k.port = 0;
	return c->nown && bsearch(&k, c->own, c->nown, sizeof(*c->own), own_cmp);
}

static int estab_cmp(const void *a, const void *b)
{
	const struct estab_sock *x = a, *y = b;

	return ep_cmp(&x->remote, &y->remote);
}

void hosts_sockets_facts(struct hosts_sockets *c, struct hosts_fingerprint *fp)
{
	size_t i, j;
	char key[64];

	/* ports: the widest bind of each listening port (sorted: hostile
	 * output of 100000 sockets must not cost a quadratic loop) */
	xqsort(c->ls, c->nls, sizeof(*c->ls), listen_cmp);
	for (i = 0; i < c->nls; i = j) {
		int scope = c->ls[i].scope;

		for (j = i + 1; j < c->nls && c->ls[j].port == c->ls[i].port; j++)
			if (c->ls[j].scope > scope)
				scope = c->ls[j].scope;
		snprintf(key, sizeof(key), "%u", c->ls[i].port);
		hosts_fact_add(fp, HOSTS_CAT_PORTS, key, scope_names[scope]);
	}
	/* conns: outbound only.  A connection whose local port is one of
	 * ours is a client talking to us, not a third party we depend on. */
	xqsort(c->es, c->nes, sizeof(*c->es), estab_cmp);
	xqsort(c->own, c->nown, sizeof(*c->own), own_cmp);
	for (i = 0; i < c->nes; i = j) {
		const struct estab_sock *e = &c->es[i];
		struct listen_sock probe = { .port = e->lport };
		size_t count = 0;
		char n[32];

		for (j = i; j < c->nes && !ep_cmp(&c->es[j].remote, &e->remote); j++) {
			probe.port = c->es[j].lport;
			/* bsearch(3) must not be given NULL, even with 0
			 * elements (C11 §7.22.5; found by tests/fuzz) */
			if (!c->nls || !bsearch(&probe, c->ls, c->nls, sizeof(*c->ls), listen_cmp))
				count++;
		}
		if (!count || is_loop(&e->remote) || is_wild(&e->remote) || is_own(c, &e->remote))
			continue;
		ep_format(&e->remote, key, sizeof(key));
		snprintf(n, sizeof(n), "%zu", count);
		hosts_fact_add(fp, HOSTS_CAT_CONNS, key, n);
	}
}

void hosts_sockets_release(struct hosts_sockets *c)
{
	free(c->ls);
	free(c->es);
	free(c->own);
	memset(c, 0, sizeof(*c));
}
