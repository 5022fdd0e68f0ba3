/*
 * stream.h - a client byte stream to a server, over TCP or TLS, where every
 * call has a deadline.
 *
 * The Redis engine's transport (db/redis_conn.c formats and parses the
 * protocol on top of it): Debian's hiredis 0.14 has no TLS, and its own
 * socket calls block without a millisecond deadline.  This file owns the
 * socket and, for TLS, the OpenSSL session; it is the only file of db/ that
 * includes OpenSSL headers.
 *
 *	struct stream *s;
 *	stream_connect(&s, "10.0.0.5", 6379, NULL, deadline, "database cache old", &err);
 *	stream_write(s, buf, len, deadline, &err);        all of it, or an error
 *	stream_read(s, chunk, sizeof(chunk), deadline, &got, &err);   1..n bytes
 *	stream_free(s);
 *
 * Deadlines are time_mono_ms() values.  A call that passes its deadline
 * returns FERRY_ETIMEDOUT and leaves the stream unusable (a request may be
 * half sent, a reply half read): the caller frees it and connects again.
 * Host names are resolved with getaddrinfo(), which has no deadline: use an
 * address where a name server may be slow.  TLS is 1.2 or later, the chain
 * verified against ca_file and the certificate checked for the host (an IP
 * literal against its iPAddress, a name per RFC 6125).  SIGPIPE never
 * reaches ferry: plain writes use MSG_NOSIGNAL, and OpenSSL's are made with
 * SIGPIPE blocked.
 *
 * Ownership: the stream copies nothing from the config after connect; the
 * caller frees it with stream_free() (NULL-safe).
 */
#ifndef FERRY_DB_STREAM_H
#define FERRY_DB_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct stream;

struct stream_tls {
	const char *ca_file;   /* PEM: the CAs that may sign the server's certificate;
	                        * NULL: the system store */
	const char *cert_file; /* PEM client certificate, or NULL (none sent) */
	const char *key_file;  /* its key; NULL: in cert_file */
	const char *name;      /* the name the certificate must hold; NULL: the host */
};

/* Connects to host:port (a name or an IP literal), with a TLS handshake when
 * tls is not NULL.  what names the server in every message.  Returns 0 and
 * *out, or FERRY_EUNREACH (no answer, refused, handshake failed),
 * FERRY_ETIMEDOUT, FERRY_EAUTH (the certificate is not trusted or not for
 * the name), FERRY_ENOTFOUND/FERRY_EIO (a TLS file cannot be loaded). */
int stream_connect(struct stream **out, const char *host, uint16_t port,
                   const struct stream_tls *tls, int64_t deadline, const char *what,
                   struct ferry_error *err);

/* Sends all len bytes.  Returns 0, FERRY_EUNREACH (closed, reset) or
 * FERRY_ETIMEDOUT. */
int stream_write(struct stream *s, const void *data, size_t len, int64_t deadline,
                 struct ferry_error *err);

/* Reads what is there, at least one byte (waiting for it until deadline),
 * at most cap.  Returns 0 and *got > 0, FERRY_EUNREACH (closed by the
 * server, reset) or FERRY_ETIMEDOUT. */
int stream_read(struct stream *s, void *data, size_t cap, int64_t deadline, size_t *got,
                struct ferry_error *err);

/* Whether the stream is TLS (for messages). */
int stream_is_tls(const struct stream *s);

void stream_free(struct stream *s);

#endif
