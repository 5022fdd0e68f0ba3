/*
 * redis_conn.h - the Redis protocol layer: the only code that includes
 * hiredis.
 *
 * hiredis formats each command (redisFormatCommandArgv) and parses replies
 * from whatever bytes arrive (its redisReader); the bytes travel over
 * db/stream.h (TCP or TLS, a deadline on every call), because Debian's
 * hiredis 0.14 has no TLS and no millisecond deadlines.  No RESP is written
 * by hand.
 *
 * Calling sequence:
 *	struct redis_endpoint ep;
 *	redis_endpoint_parse("rediss://ferry@10.0.0.5:6380?ca=/etc/ferry/ca.pem", &ep, &err);
 *	struct redis_conn *c;
 *	redis_connect(&c, &ep, password, "database cache old", deadline, &err);
 *	struct redis_reply r;
 *	redis_cmd(c, deadline, &r, &err, "INFO", "replication", NULL);
 *	redis_info_int(r.str, "master_repl_offset", -1);
 *	redis_reply_release(&r);
 *	redis_conn_free(c);
 *	redis_endpoint_release(&ep);
 *
 * Pipelining: redis_append() queues commands, redis_flush() sends them and
 * reads one reply each, in order, in one round trip.
 *
 * Deadlines are time_mono_ms() values.  After a transport error or a passed
 * deadline the connection is broken (a reply may be half read):
 * redis_conn_ok() turns false and every later call fails at once until
 * redis_reconnect(), so that a step inside the write pause never opens a
 * connection behind the caller's back.
 *
 * Secrets: the password is used for AUTH and kept (wiped at free) for a
 * reconnect; every formatted command is wiped once sent (CONFIG SET
 * masterauth carries one), and redis_reply_release() wipes the strings of a
 * reply (CONFIG GET masterauth returns one).  A reply larger than
 * REDIS_REPLY_MAX (Redis's own proto-max-bulk-len, 512 MB) breaks the
 * connection instead of growing without bound.
 *
 * Ownership: a struct redis_reply owns its strings and elements; an
 * endpoint owns its strings; the connection copies what it keeps.
 */
#ifndef FERRY_DB_REDIS_CONN_H
#define FERRY_DB_REDIS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define REDIS_DEFAULT_PORT 6379
#define REDIS_REPLY_MAX    ((size_t)512 << 20)

/* Where ferry reaches a server, parsed from the plan's source / target:
 *	redis://[USER@]HOST[:PORT]
 *	rediss://[USER@]HOST[:PORT][?ca=PATH][&cert=PATH][&key=PATH][&name=NAME]
 * HOST a name, an IPv4 literal or an IPv6 literal in brackets; rediss is
 * TLS (ca: the CA file, default the system store; cert and key: a client
 * certificate, which Redis asks for unless tls-auth-clients is no; name:
 * the name the server's certificate holds, default HOST).  No password
 * (it comes from the plan's password), no database number: ferry moves
 * the whole server, all its databases. */
struct redis_endpoint {
	char *host;
	uint16_t port;
	char *user; /* NULL: the default user */
	bool tls;
	char *ca, *cert, *key, *name; /* NULL when not given */
};

/* Returns 0 and fills ep (release it), or FERRY_EINVAL with what is wrong
 * and the form in the hint. */
int redis_endpoint_parse(const char *url, struct redis_endpoint *ep, struct ferry_error *err);
void redis_endpoint_release(struct redis_endpoint *ep);

enum redis_type {
	REDIS_STRING = 1,
	REDIS_ARRAY,
	REDIS_INTEGER,
	REDIS_NIL,
	REDIS_STATUS,
	REDIS_ERROR,
};

struct redis_reply {
	enum redis_type type;
	int64_t integer; /* REDIS_INTEGER */
	char *str;       /* STRING, STATUS, ERROR: len bytes and a NUL; else NULL */
	size_t len;
	struct redis_reply *v; /* ARRAY: n elements (NULL when n is 0) */
	size_t n;
};
void redis_reply_release(struct redis_reply *r); /* wipes the strings */

struct redis_conn;

/* Connects to ep, authenticates (AUTH [user] password when password is not
 * NULL; AUTH user "" for a user without one, as an ACL user with nopass
 * takes) and names the connection "ferry" (CLIENT SETNAME, skipped where
 * CLIENT is disabled).  what names the server in every message.  Returns
 * 0, or the errors of stream_connect(), FERRY_EAUTH (credentials
 * refused), FERRY_EREFUSED (another error reply). */
int redis_connect(struct redis_conn **out, const struct redis_endpoint *ep, const char *password,
                  const char *what, int64_t deadline, struct ferry_error *err);
/* Drops the connection and makes it again with the same endpoint and
 * credentials.  Not for a write pause: it resolves and connects. */
int redis_reconnect(struct redis_conn *c, int64_t deadline, struct ferry_error *err);
bool redis_conn_ok(const struct redis_conn *c);
/* Whether the server took the password at the last connect (false when
 * none was given, or the server asks for none). */
bool redis_conn_authed(const struct redis_conn *c);
const char *redis_conn_what(const struct redis_conn *c);
void redis_conn_free(struct redis_conn *c); /* NULL-safe */

/* Queues one command (argvlen NULL: every argument a C string). */
void redis_append(struct redis_conn *c, int argc, const char *const *argv, const size_t *argvlen);
/* Sends what is queued and reads n replies into replies[0..n-1] (released
 * by the caller, also on error).  An error reply is a reply, not a
 * failure.  Returns 0, FERRY_EUNREACH / FERRY_ETIMEDOUT (the connection is
 * then broken), FERRY_EPROTO (a reply hiredis cannot parse, or too big). */
int redis_flush(struct redis_conn *c, size_t n, struct redis_reply *replies, int64_t deadline,
                struct ferry_error *err);

/* One command, its arguments as C strings ending with NULL.  An error
 * reply becomes FERRY_EREFUSED ("WHAT: CONFIG: ERR ...") and is not
 * returned.  out may be NULL (the reply is discarded). */
int redis_cmd(struct redis_conn *c, int64_t deadline, struct redis_reply *out,
              struct ferry_error *err, const char *arg0, ...) __attribute__((sentinel));

/* The same with an argument vector (binary-safe when argvlen is given). */
int redis_cmdv(struct redis_conn *c, int argc, const char *const *argv, const size_t *argvlen,
               int64_t deadline, struct redis_reply *out, struct ferry_error *err);

/* Fields of an INFO reply ("name:value" lines; "# Section" lines skipped).
 * redis_info_str copies the value into out (truncated to outlen) and
 * returns true, or false when the field is absent; redis_info_int returns
 * its integer value, or def when absent or not an integer. */
bool redis_info_str(const char *info, const char *field, char *out, size_t outlen);
int64_t redis_info_int(const char *info, const char *field, int64_t def);

#endif
