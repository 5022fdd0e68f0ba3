/*
 * stream.c - see stream.h.  A non-blocking socket driven by poll() until
 * each call's deadline; for TLS an OpenSSL session on that socket whose
 * WANT_READ / WANT_WRITE answers are waited on the same way.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "db/stream.h"
#include "util/fdwait.h"
#include "util/mem.h"
#include "util/timeutil.h"

struct stream {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	char what[128];
};

/* OpenSSL writes with write(2): a server that closed would kill ferry with
 * SIGPIPE.  Blocked around each call, any pending one discarded after. */
struct pipe_guard {
	sigset_t set, old;
};

static void pipe_block(struct pipe_guard *g)
{
	sigemptyset(&g->set);
	sigaddset(&g->set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &g->set, &g->old);
}

static void pipe_unblock(struct pipe_guard *g)
{
	struct timespec zero = { 0, 0 };

	while (sigtimedwait(&g->set, NULL, &zero) > 0)
		;
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

static int timed_out(struct stream *s, const char *doing, struct ferry_error *err)
{
	return ferry_error_set(err, FERRY_ETIMEDOUT, NULL, "%s: %s: deadline passed", s->what,
	                       doing);
}

static const char *ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (!e)
		return "connection closed by the server";
	ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static int tcp_connect(struct stream *s, const char *host, uint16_t port, int64_t deadline,
                       struct ferry_error *err)
{
	struct addrinfo hints = { 0 }, *res = NULL, *ai;
	char portstr[8], why[160] = "no address";
	int r, one = 1;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
	r = getaddrinfo(host, portstr, &hints, &res);
	if (r != 0)
		return ferry_error_set(err, FERRY_EUNREACH, "check the host name in the plan",
		                       "%s: cannot resolve %s: %s", s->what, host, gai_strerror(r));
	for (ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		int soerr = 0;
		socklen_t el = sizeof(soerr);

		if (fd < 0) {
			snprintf(why, sizeof(why), "socket: %s", strerror(errno));
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
			snprintf(why, sizeof(why), "%s", strerror(errno));
			close(fd);
			continue;
		}
		r = fd_wait(fd, POLLOUT, deadline);
		if (r == 0 && (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el) < 0 || soerr)) {
			snprintf(why, sizeof(why), "%s", strerror(soerr ? soerr : errno));
			r = FERRY_EUNREACH;
		}
		if (r < 0) {
			close(fd);
			if (r == FERRY_ETIMEDOUT) {
				freeaddrinfo(res);
				return ferry_error_set(err, FERRY_ETIMEDOUT,
				                       "is the server up and the port open?",
				                       "%s: connect to %s port %u: timed out",
				                       s->what, host, (unsigned)port);
			}
			continue;
		}
		/* requests are small and latency is the point: no Nagle */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		s->fd = fd;
		break;
	}
	freeaddrinfo(res);
	if (s->fd < 0)
		return ferry_error_set(err, FERRY_EUNREACH, "is the server up and the port open?",
		                       "%s: cannot connect to %s port %u: %s", s->what, host,
		                       (unsigned)port, why);
	return 0;
}

static int tls_setup(struct stream *s, const char *host, const struct stream_tls *tls,
                     struct ferry_error *err)
{
	const char *name = tls->name ? tls->name : host;
	struct in6_addr a6;
	struct in_addr a4;
	bool ip = inet_pton(AF_INET, name, &a4) == 1 || inet_pton(AF_INET6, name, &a6) == 1;
	char why[200];

	s->ctx = SSL_CTX_new(TLS_client_method());
	if (!s->ctx)
		return ferry_error_set(err, FERRY_EIO, NULL, "%s: cannot create a TLS context: %s",
		                       s->what, ssl_reason(why, sizeof(why)));
	SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(s->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
	if (tls->ca_file ? SSL_CTX_load_verify_locations(s->ctx, tls->ca_file, NULL) != 1
	                 : SSL_CTX_set_default_verify_paths(s->ctx) != 1) {
		ERR_clear_error();
		return ferry_error_set(err,
		                       tls->ca_file && access(tls->ca_file, R_OK) ? FERRY_ENOTFOUND
		                                                                  : FERRY_EIO,
		                       "the CA file must be a readable PEM file of CA certificates",
		                       "%s: cannot load the CA file %s", s->what,
		                       tls->ca_file ? tls->ca_file : "(the system store)");
	}
	if (tls->cert_file &&
	    (SSL_CTX_use_certificate_chain_file(s->ctx, tls->cert_file) != 1 ||
	     SSL_CTX_use_PrivateKey_file(s->ctx, tls->key_file ? tls->key_file : tls->cert_file,
	                                 SSL_FILETYPE_PEM) != 1 ||
	     SSL_CTX_check_private_key(s->ctx) != 1)) {
		ERR_clear_error();
		return ferry_error_set(
		        err, FERRY_EIO, "give a readable PEM certificate and its key",
		        "%s: cannot load the client certificate %s", s->what, tls->cert_file);
	}
	SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER, NULL);
	s->ssl = SSL_new(s->ctx);
	if (!s->ssl || SSL_set_fd(s->ssl, s->fd) != 1)
		return ferry_error_set(err, FERRY_EIO, NULL, "%s: cannot set up TLS: %s", s->what,
		                       ssl_reason(why, sizeof(why)));
	/* RFC 6125: an IP literal is checked against iPAddress entries, a
	 * name against DNS-IDs (and sent as SNI, RFC 6066 §3: never an IP) */
	if (ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl), name) != 1)
			return ferry_error_set(err, FERRY_EINVAL, NULL, "%s: bad address %s",
			                       s->what, name);
	} else if (SSL_set_tlsext_host_name(s->ssl, name) != 1 ||
	           SSL_set1_host(s->ssl, name) != 1) {
		return ferry_error_set(err, FERRY_EINVAL, NULL, "%s: bad TLS name %s", s->what,
		                       name);
	}
	return 0;
}

static int tls_handshake(struct stream *s, int64_t deadline, struct ferry_error *err)
{
	struct pipe_guard g;
	char why[200];
	int rc = 0;

	pipe_block(&g);
	for (;;) {
		int r = SSL_connect(s->ssl), e;

		if (r == 1)
			break;
		e = SSL_get_error(s->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			rc = fd_wait(s->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
			if (rc < 0) {
				/* a plain port reads the hello as a command
				 * and waits for its end */
				rc = ferry_error_set(
				        err, FERRY_ETIMEDOUT, "is the port a TLS port (tls-port)?",
				        "%s: TLS handshake: no answer by the deadline", s->what);
				break;
			}
			continue;
		}
		if (SSL_get_verify_result(s->ssl) != X509_V_OK) {
			rc = ferry_error_set(
			        err, FERRY_EAUTH,
			        "the server's certificate must be signed by the CA file and name "
			        "the host it is reached at",
			        "%s: TLS: the server's certificate is refused: %s", s->what,
			        X509_verify_cert_error_string(SSL_get_verify_result(s->ssl)));
			ERR_clear_error();
		} else {
			rc = ferry_error_set(
			        err, FERRY_EUNREACH,
			        "is the port a TLS port (tls-port), and does the server "
			        "accept the client certificate?",
			        "%s: TLS handshake failed: %s", s->what,
			        ssl_reason(why, sizeof(why)));
		}
		break;
	}
	pipe_unblock(&g);
	return rc;
}

int stream_connect(struct stream **out, const char *host, uint16_t port,
                   const struct stream_tls *tls, int64_t deadline, const char *what,
                   struct ferry_error *err)
{
	struct stream *s = xcalloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	s->fd = -1;
	snprintf(s->what, sizeof(s->what), "%s", what);
	rc = tcp_connect(s, host, port, deadline, err);
	if (rc == 0 && tls)
		rc = tls_setup(s, host, tls, err);
	if (rc == 0 && tls)
		rc = tls_handshake(s, deadline, err);
	if (rc < 0) {
		stream_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int stream_write(struct stream *s, const void *data, size_t len, int64_t deadline,
                 struct ferry_error *err)
{
	const char *p = data;
	char why[200];

	while (len > 0) {
		short ev = POLLOUT;
		int rc;

		if (s->ssl) {
			struct pipe_guard g;
			int r, e;

			pipe_block(&g);
			r = SSL_write(s->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
			e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(s->ssl, r);
			pipe_unblock(&g);
			if (r > 0) {
				p += r;
				len -= (size_t)r;
				continue;
			}
			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				return ferry_error_set(err, FERRY_EUNREACH, NULL,
				                       "%s: TLS write: %s", s->what,
				                       ssl_reason(why, sizeof(why)));
			ev = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		} else {
			ssize_t n = send(s->fd, p, len, MSG_NOSIGNAL);

			if (n > 0) {
				p += n;
				len -= (size_t)n;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
				return ferry_error_set(err, FERRY_EUNREACH, NULL, "%s: send: %s",
				                       s->what, strerror(errno));
		}
		rc = fd_wait(s->fd, ev, deadline);
		if (rc == FERRY_ETIMEDOUT)
			return timed_out(s, "sending", err);
		if (rc < 0)
			return ferry_error_set(err, rc, NULL, "%s: poll: %s", s->what,
			                       strerror(errno));
	}
	return 0;
}

int stream_read(struct stream *s, void *data, size_t cap, int64_t deadline, size_t *got,
                struct ferry_error *err)
{
	char why[200];

	*got = 0;
	for (;;) {
		short ev = POLLIN;
		int rc;

		if (s->ssl) {
			struct pipe_guard g;
			int r, e;

			pipe_block(&g);
			r = SSL_read(s->ssl, data, cap > INT32_MAX ? INT32_MAX : (int)cap);
			e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(s->ssl, r);
			pipe_unblock(&g);
			if (r > 0) {
				*got = (size_t)r;
				return 0;
			}
			if (e == SSL_ERROR_ZERO_RETURN)
				return ferry_error_set(err, FERRY_EUNREACH, NULL,
				                       "%s: the server closed the connection",
				                       s->what);
			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				return ferry_error_set(err, FERRY_EUNREACH, NULL,
				                       "%s: TLS read: %s", s->what,
				                       ssl_reason(why, sizeof(why)));
			ev = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		} else {
			ssize_t n = recv(s->fd, data, cap, 0);

			if (n > 0) {
				*got = (size_t)n;
				return 0;
			}
			if (n == 0)
				return ferry_error_set(err, FERRY_EUNREACH, NULL,
				                       "%s: the server closed the connection",
				                       s->what);
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return ferry_error_set(err, FERRY_EUNREACH, NULL, "%s: recv: %s",
				                       s->what, strerror(errno));
		}
		rc = fd_wait(s->fd, ev, deadline);
		if (rc == FERRY_ETIMEDOUT)
			return timed_out(s, "waiting for the reply", err);
		if (rc < 0)
			return ferry_error_set(err, rc, NULL, "%s: poll: %s", s->what,
			                       strerror(errno));
	}
}

int stream_is_tls(const struct stream *s)
{
	return s && s->ssl != NULL;
}

void stream_free(struct stream *s)
{
	if (!s)
		return;
	if (s->ssl) {
		struct pipe_guard g;

		/* one close_notify, without waiting for the server's */
		pipe_block(&g);
		SSL_shutdown(s->ssl);
		pipe_unblock(&g);
		SSL_free(s->ssl);
	}
	SSL_CTX_free(s->ctx);
	ERR_clear_error();
	if (s->fd >= 0)
		close(s->fd);
	free(s);
}
