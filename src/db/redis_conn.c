/*
 * redis_conn.c - see redis_conn.h.  hiredis formats and parses; the bytes
 * go through db/stream.c.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "db/redis_conn.h"
#include "db/stream.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/port.h"

struct redis_conn {
	struct stream *s;
	redisReader *reader;
	struct buf out;   /* formatted commands not yet sent */
	size_t queued;    /* commands in out */
	bool append_full; /* out would have passed its maximum */
	bool ok;
	bool authed;              /* the server took the password (it asks for one) */
	struct redis_endpoint ep; /* a copy, for redis_reconnect() */
	char *password;
	char what[128];
};

/* ---- endpoints --------------------------------------------------------- */

static const char endpoint_hint[] =
        "redis://[USER@]HOST[:PORT] or rediss://[USER@]HOST[:PORT]?ca=PATH&cert=PATH&key=PATH";

void redis_endpoint_release(struct redis_endpoint *ep)
{
	free(ep->host);
	free(ep->user);
	free(ep->ca);
	free(ep->cert);
	free(ep->key);
	free(ep->name);
	memset(ep, 0, sizeof(*ep));
}

static int bad_url(struct ferry_error *err, const char *url, const char *why)
{
	return ferry_error_set(err, FERRY_EINVAL, endpoint_hint, "'%.100s': %s", url, why);
}

/* One "key=value" of the query into ep. */
static int query_item(struct redis_endpoint *ep, const char *url, const char *item, size_t len,
                      struct ferry_error *err)
{
	static const char *const keys[] = { "ca", "cert", "key", "name", NULL };
	const char *eq = memchr(item, '=', len);
	char **slot[] = { &ep->ca, &ep->cert, &ep->key, &ep->name };
	size_t klen, i;

	if (!eq || eq == item || (size_t)(eq - item) + 1 == len)
		return bad_url(err, url, "a query item is not KEY=VALUE");
	klen = (size_t)(eq - item);
	for (i = 0; keys[i]; i++) {
		if (strlen(keys[i]) != klen || strncmp(item, keys[i], klen))
			continue;
		if (*slot[i])
			return bad_url(err, url, "a query key is given twice");
		*slot[i] = xstrndup(eq + 1, len - klen - 1);
		return 0;
	}
	return bad_url(err, url, "unknown query key (ca, cert, key, name)");
}

int redis_endpoint_parse(const char *url, struct redis_endpoint *ep, struct ferry_error *err)
{
	const char *p, *host, *hend, *q;
	char portstr[8];
	int rc = 0;

	memset(ep, 0, sizeof(*ep));
	ep->port = REDIS_DEFAULT_PORT;
	if (!strncmp(url, "redis://", 8)) {
		p = url + 8;
	} else if (!strncmp(url, "rediss://", 9)) {
		p = url + 9;
		ep->tls = true;
	} else {
		return bad_url(err, url, "not a redis:// or rediss:// URL");
	}
	if (strpbrk(p, " \t\r\n%"))
		return bad_url(err, url, "spaces and %-escapes are not accepted");
	q = strchr(p, '@');
	if (q && (!strchr(p, '/') || q < strchr(p, '/')) &&
	    (!strchr(p, '?') || q < strchr(p, '?'))) {
		if (memchr(p, ':', (size_t)(q - p)))
			return bad_url(err, url,
			               "a password in the URL; give it as the database's password");
		if (q == p)
			return bad_url(err, url, "an empty user name before '@'");
		ep->user = xstrndup(p, (size_t)(q - p));
		p = q + 1;
	}
	if (*p == '[') {
		host = p + 1;
		hend = strchr(host, ']');
		if (!hend || hend == host)
			return (redis_endpoint_release(ep),
			        bad_url(err, url, "unclosed '[' in host"));
		p = hend + 1;
	} else {
		host = p;
		hend = p + strcspn(p, ":/?");
		p = hend;
	}
	if (hend == host) {
		rc = bad_url(err, url, "no host");
		goto out;
	}
	ep->host = xstrndup(host, (size_t)(hend - host));
	if (*p == ':') {
		size_t n = strcspn(p + 1, "/?");

		if (n == 0 || n >= sizeof(portstr)) {
			rc = bad_url(err, url, "a port is 1 to 65535");
			goto out;
		}
		memcpy(portstr, p + 1, n);
		portstr[n] = '\0';
		if (!port_parse(portstr, &ep->port)) {
			rc = bad_url(err, url, "a port is 1 to 65535");
			goto out;
		}
		p += 1 + n;
	}
	if (*p == '/') {
		p++;
		if (*p && *p != '?') {
			rc = bad_url(err, url,
			             "a database number: ferry moves the whole server (every "
			             "database); remove it");
			goto out;
		}
	}
	if (*p == '?') {
		if (!ep->tls) {
			rc = bad_url(err, url, "query keys are for rediss:// (TLS) only");
			goto out;
		}
		p++;
		while (*p && rc == 0) {
			size_t n = strcspn(p, "&");

			rc = query_item(ep, url, p, n, err);
			p += n;
			if (*p == '&')
				p++;
		}
	} else if (*p) {
		rc = bad_url(err, url, "unexpected text after the host");
	}
	if (rc == 0 && ep->key && !ep->cert)
		rc = bad_url(err, url, "key= without cert=");
out:
	if (rc < 0)
		redis_endpoint_release(ep);
	return rc;
}

static void endpoint_copy(struct redis_endpoint *to, const struct redis_endpoint *from)
{
	to->host = xstrdup(from->host);
	to->port = from->port;
	to->user = xstrdup(from->user);
	to->tls = from->tls;
	to->ca = xstrdup(from->ca);
	to->cert = xstrdup(from->cert);
	to->key = xstrdup(from->key);
	to->name = xstrdup(from->name);
}

/* ---- replies ----------------------------------------------------------- */

void redis_reply_release(struct redis_reply *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n; i++)
		redis_reply_release(&r->v[i]);
	free(r->v);
	if (r->str)
		xfree_secret(r->str, r->len + 1);
	memset(r, 0, sizeof(*r));
}

static void reply_convert(const redisReply *h, struct redis_reply *r)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	switch (h->type) {
	case REDIS_REPLY_STRING: r->type = REDIS_STRING; break;
	case REDIS_REPLY_ARRAY: r->type = REDIS_ARRAY; break;
	case REDIS_REPLY_INTEGER: r->type = REDIS_INTEGER; break;
	case REDIS_REPLY_STATUS: r->type = REDIS_STATUS; break;
	case REDIS_REPLY_ERROR: r->type = REDIS_ERROR; break;
	default: r->type = REDIS_NIL; break;
	}
	r->integer = h->integer;
	if (h->str) {
		/* binary-safe: DUMP payloads hold NUL bytes */
		r->str = xmalloc(h->len + 1);
		memcpy(r->str, h->str, h->len);
		r->str[h->len] = '\0';
		r->len = h->len;
	}
	if (r->type == REDIS_ARRAY && h->elements) {
		r->n = h->elements;
		r->v = xcalloc(r->n, sizeof(*r->v));
		for (i = 0; i < r->n; i++)
			reply_convert(h->element[i], &r->v[i]);
	}
}

/* ---- the connection ---------------------------------------------------- */

static void conn_drop(struct redis_conn *c)
{
	stream_free(c->s);
	c->s = NULL;
	if (c->reader)
		redisReaderFree(c->reader);
	c->reader = NULL;
	c->ok = false;
	if (c->out.len)
		explicit_bzero(c->out.data, c->out.len);
	buf_reset(&c->out);
	c->queued = 0;
	c->append_full = false;
}

static int broken(struct redis_conn *c, struct ferry_error *err)
{
	return ferry_error_set(err, FERRY_EUNREACH, "ferry connects again outside the pause",
	                       "%s: the connection was lost earlier", c->what);
}

void redis_append(struct redis_conn *c, int argc, const char *const *argv, const size_t *argvlen)
{
	char *cmd = NULL;
	int len;

	len = redisFormatCommandArgv(&cmd, argc, (const char **)argv, argvlen);
	if (len < 0)
		BUG("redisFormatCommandArgv: out of memory");
	if (buf_add(&c->out, cmd, (size_t)len) < 0)
		c->append_full = true;
	explicit_bzero(cmd, (size_t)len);
	redisFreeCommand(cmd);
	c->queued++;
}

/* Reads one reply. */
static int read_reply(struct redis_conn *c, struct redis_reply *out, int64_t deadline,
                      struct ferry_error *err)
{
	size_t fed = 0;
	char chunk[16384];

	for (;;) {
		void *reply = NULL;
		size_t got;
		int rc;

		if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
			rc = ferry_error_set(err, FERRY_EPROTO, NULL, "%s: bad reply: %s", c->what,
			                     c->reader->errstr);
			conn_drop(c);
			return rc;
		}
		if (reply) {
			reply_convert(reply, out);
			freeReplyObject(reply);
			return 0;
		}
		if (fed > REDIS_REPLY_MAX) {
			conn_drop(c);
			return ferry_error_set(err, FERRY_EPROTO, NULL,
			                       "%s: a reply larger than %zu MB", c->what,
			                       REDIS_REPLY_MAX >> 20);
		}
		rc = stream_read(c->s, chunk, sizeof(chunk), deadline, &got, err);
		if (rc < 0) {
			conn_drop(c);
			return rc;
		}
		if (redisReaderFeed(c->reader, chunk, got) != REDIS_OK) {
			conn_drop(c);
			return ferry_error_set(err, FERRY_EPROTO, NULL, "%s: cannot buffer a reply",
			                       c->what);
		}
		fed += got;
		explicit_bzero(chunk, got);
	}
}

int redis_flush(struct redis_conn *c, size_t n, struct redis_reply *replies, int64_t deadline,
                struct ferry_error *err)
{
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		memset(&replies[i], 0, sizeof(replies[i]));
	if (!c->ok)
		return broken(c, err);
	if (c->append_full) {
		conn_drop(c);
		return ferry_error_set(err, FERRY_EPROTO, NULL, "%s: too many commands at once",
		                       c->what);
	}
	if (c->queued != n)
		BUG("redis_flush: %zu commands queued, %zu replies asked", c->queued, n);
	rc = stream_write(c->s, c->out.data, c->out.len, deadline, err);
	explicit_bzero(c->out.data, c->out.len);
	buf_reset(&c->out);
	c->queued = 0;
	if (rc < 0) {
		conn_drop(c);
		return rc;
	}
	for (i = 0; i < n && rc == 0; i++)
		rc = read_reply(c, &replies[i], deadline, err);
	return rc;
}

int redis_cmdv(struct redis_conn *c, int argc, const char *const *argv, const size_t *argvlen,
               int64_t deadline, struct redis_reply *out, struct ferry_error *err)
{
	struct redis_reply r;
	int rc;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!c->ok)
		return broken(c, err);
	redis_append(c, argc, argv, argvlen);
	rc = redis_flush(c, 1, &r, deadline, err);
	if (rc == 0 && r.type == REDIS_ERROR) {
		bool perm = !strncmp(r.str, "NOPERM", 6) || !strncmp(r.str, "NOAUTH", 6);

		/* the command's name only: arguments may be secrets */
		rc = ferry_error_set(err, perm ? FERRY_EAUTH : FERRY_EREFUSED,
		                     perm ? "grant ferry's user the command (ACL SETUSER)" : NULL,
		                     "%s: %.*s: %s", c->what,
		                     argvlen ? (int)argvlen[0] : (int)strlen(argv[0]), argv[0],
		                     r.str);
	}
	if (rc == 0 && out)
		*out = r;
	else
		redis_reply_release(&r);
	return rc;
}

int redis_cmd(struct redis_conn *c, int64_t deadline, struct redis_reply *out,
              struct ferry_error *err, const char *arg0, ...)
{
	const char *argv[16];
	int argc = 0;
	va_list ap;

	argv[argc++] = arg0;
	va_start(ap, arg0);
	for (;;) {
		const char *a = va_arg(ap, const char *);

		if (!a)
			break;
		if (argc == 16)
			BUG("redis_cmd: more than 16 arguments");
		argv[argc++] = a;
	}
	va_end(ap);
	return redis_cmdv(c, argc, argv, NULL, deadline, out, err);
}

/* AUTH (with a password or a user), CLIENT SETNAME and PING in one round
 * trip. */
static int handshake(struct redis_conn *c, int64_t deadline, struct ferry_error *err)
{
	const char *auth[3] = { "AUTH", NULL, NULL };
	const char *setname[3] = { "CLIENT", "SETNAME", "ferry" };
	const char *ping[1] = { "PING" };
	struct redis_reply r[3];
	size_t n = 0, i;
	int rc;

	/* a user without a password: an ACL user with nopass takes any */
	if (c->password || c->ep.user) {
		int argc = 1;

		if (c->ep.user)
			auth[argc++] = c->ep.user;
		auth[argc++] = c->password ? c->password : "";
		redis_append(c, argc, auth, NULL);
		n++;
	}
	redis_append(c, 3, setname, NULL);
	redis_append(c, 1, ping, NULL);
	n += 2;
	rc = redis_flush(c, n, r, deadline, err);
	if (rc == 0 && n == 3 && r[0].type == REDIS_ERROR &&
	    !(strstr(r[0].str, "without any password configured") && !c->ep.user)) {
		/* "WRONGPASS invalid username-password pair or user is disabled." */
		rc = ferry_error_set(err, FERRY_EAUTH,
		                     c->password ? "check the database's password and the user in "
		                                   "the URL"
		                                 : "the user needs a password: give the database's "
		                                   "password in the plan",
		                     "%s: AUTH%s%s refused: %s", c->what, c->ep.user ? " as " : "",
		                     c->ep.user ? c->ep.user : "", r[0].str);
	}
	if (rc == 0)
		c->authed = c->password && n == 3 && r[0].type != REDIS_ERROR;
	if (rc == 0 && r[n - 1].type == REDIS_ERROR)
		rc = ferry_error_set(
		        err, !strncmp(r[n - 1].str, "NOAUTH", 6) ? FERRY_EAUTH : FERRY_EREFUSED,
		        !strncmp(r[n - 1].str, "NOAUTH", 6)
		                ? "the server wants a password: give the database's "
		                  "password in the plan"
		                : NULL,
		        "%s: PING: %s", c->what, r[n - 1].str);
	for (i = 0; i < n; i++)
		redis_reply_release(&r[i]);
	return rc;
}

static int conn_open(struct redis_conn *c, int64_t deadline, struct ferry_error *err)
{
	struct stream_tls tls = { c->ep.ca, c->ep.cert, c->ep.key, c->ep.name };
	int rc;

	rc = stream_connect(&c->s, c->ep.host, c->ep.port, c->ep.tls ? &tls : NULL, deadline,
	                    c->what, err);
	if (rc < 0)
		return rc;
	c->reader = redisReaderCreate();
	if (!c->reader)
		BUG("redisReaderCreate: out of memory");
	c->ok = true;
	rc = handshake(c, deadline, err);
	if (rc < 0)
		conn_drop(c);
	return rc;
}

int redis_connect(struct redis_conn **out, const struct redis_endpoint *ep, const char *password,
                  const char *what, int64_t deadline, struct ferry_error *err)
{
	struct redis_conn *c = xcalloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	buf_init(&c->out, (size_t)256 << 20);
	endpoint_copy(&c->ep, ep);
	c->password = xstrdup(password);
	snprintf(c->what, sizeof(c->what), "%s", what);
	rc = conn_open(c, deadline, err);
	if (rc < 0) {
		redis_conn_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int redis_reconnect(struct redis_conn *c, int64_t deadline, struct ferry_error *err)
{
	conn_drop(c);
	return conn_open(c, deadline, err);
}

bool redis_conn_authed(const struct redis_conn *c)
{
	return c && c->authed;
}

bool redis_conn_ok(const struct redis_conn *c)
{
	return c && c->ok;
}

const char *redis_conn_what(const struct redis_conn *c)
{
	return c->what;
}

void redis_conn_free(struct redis_conn *c)
{
	if (!c)
		return;
	conn_drop(c);
	buf_release_secret(&c->out);
	redis_endpoint_release(&c->ep);
	xfree_secret(c->password, 0);
	free(c);
}

/* ---- INFO -------------------------------------------------------------- */

bool redis_info_str(const char *info, const char *field, char *out, size_t outlen)
{
	size_t flen = strlen(field);
	const char *p = info;

	while (p && *p) {
		if (!strncmp(p, field, flen) && p[flen] == ':') {
			const char *v = p + flen + 1;
			size_t n = strcspn(v, "\r\n");

			if (outlen) {
				if (n >= outlen)
					n = outlen - 1;
				memcpy(out, v, n);
				out[n] = '\0';
			}
			return true;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return false;
}

int64_t redis_info_int(const char *info, const char *field, int64_t def)
{
	char v[32], *end;
	long long n;

	if (!redis_info_str(info, field, v, sizeof(v)) || !v[0])
		return def;
	n = strtoll(v, &end, 10);
	return *end ? def : (int64_t)n;
}
