/*
 * tls.c - see tls.h.  A non-blocking socket and SSL_connect() driven by
 * poll() until one deadline; verification with SSL_VERIFY_NONE so that the
 * handshake completes and the certificate can be read even when it would
 * be refused, then SSL_get_verify_result() for the chain and
 * X509_check_host() for the name.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "hosts/tls.h"
#include "util/timeutil.h"

static void name_line(X509_NAME *n, char *out, size_t outlen)
{
	BIO *b = BIO_new(BIO_s_mem());
	int len;

	out[0] = '\0';
	if (!b)
		return;
	if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0) {
		len = BIO_read(b, out, (int)outlen - 1);
		out[len > 0 ? len : 0] = '\0';
	}
	BIO_free(b);
}

static void ssl_err(char *out, size_t outlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[200];

	if (e) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(out, outlen, "%s: %s", what, buf);
	} else {
		snprintf(out, outlen, "%s", what);
	}
	ERR_clear_error();
}

/* Waits for fd to be ready for ev until deadline; 0, or -1 on timeout. */
static int wait_fd(int fd, short ev, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = ev };

	for (;;) {
		int64_t left = deadline - time_mono_ms();
		int r;

		if (left <= 0)
			return -1;
		r = poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

int hosts_tls_probe(const char *address, unsigned port, const char *name, const char *ca_file,
                    int64_t timeout_ms, struct hosts_tls_result *res, struct ferry_error *err)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int64_t deadline = time_mono_ms() + timeout_ms;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	X509 *cert = NULL;
	int fd = -1, rc = 0, soerr = 0;
	socklen_t el = sizeof(soerr);
	long vr;
	sigset_t pipe_set, old_set;
	struct timespec zero = { 0, 0 };

	memset(res, 0, sizeof(*res));
	/* A server that closes early must not kill ferry with SIGPIPE from
	 * OpenSSL's write(): block it here, discard it at the end. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, address, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, address, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in6);
	} else {
		rc = ferry_error_set(err, FERRY_EINVAL, "give the host's address as an IP literal",
		                     "tls %s: address '%s' is not an IP address", name, address);
		goto out;
	}

	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		rc = ferry_error_set(err, FERRY_EIO, NULL, "tls %s: cannot create an SSL context",
		                     name);
		goto out;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1
	            : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		ERR_clear_error();
		rc = ferry_error_set(
		        err, access(ca_file ? ca_file : "/", R_OK) ? FERRY_ENOTFOUND : FERRY_EIO,
		        "checks.tls.ca_file must be a PEM file of CA certificates",
		        "tls %s: cannot load CA file %s", name,
		        ca_file ? ca_file : "(system store)");
		goto out;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = ferry_error_set(err, FERRY_EIO, NULL, "tls %s: socket: %s", name,
		                     strerror(errno));
		goto out;
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
		snprintf(res->error, sizeof(res->error), "connect: %s", strerror(errno));
		goto out;
	}
	if (wait_fd(fd, POLLOUT, deadline) < 0) {
		snprintf(res->error, sizeof(res->error), "connect: timed out after %lld ms",
		         (long long)timeout_ms);
		goto out;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el) < 0 || soerr) {
		snprintf(res->error, sizeof(res->error), "connect: %s",
		         strerror(soerr ? soerr : errno));
		goto out;
	}
	res->connected = true;

	ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_set_tlsext_host_name(ssl, name) != 1) {
		ssl_err(res->error, sizeof(res->error), "cannot set up TLS");
		goto out;
	}
	for (;;) {
		int r = SSL_connect(ssl), e;

		if (r == 1)
			break;
		e = SSL_get_error(ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) <
			    0) {
				snprintf(res->error, sizeof(res->error),
				         "handshake: timed out after %lld ms",
				         (long long)timeout_ms);
				goto out;
			}
			continue;
		}
		if (e == SSL_ERROR_SYSCALL && !ERR_peek_error())
			snprintf(res->error, sizeof(res->error),
			         "handshake failed: connection closed by the server");
		else
			ssl_err(res->error, sizeof(res->error), "handshake failed");
		goto out;
	}
	res->handshake = true;
	cert = SSL_get1_peer_certificate(ssl);
	if (!cert) {
		snprintf(res->error, sizeof(res->error), "the server sent no certificate");
		goto out;
	}
	name_line(X509_get_subject_name(cert), res->subject, sizeof(res->subject));
	name_line(X509_get_issuer_name(cert), res->issuer, sizeof(res->issuer));
	{
		struct tm tm;

		if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1) {
			res->not_after = (int64_t)timegm(&tm);
			res->days_left = (res->not_after - time_now()) / 86400;
			if (res->not_after < time_now() && (time_now() - res->not_after) % 86400)
				res->days_left--;
		}
	}
	/* RFC 6125 §6.4: DNS-ID in subjectAltName; no partial wildcards. */
	res->name_ok =
	        X509_check_host(cert, name, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
	vr = SSL_get_verify_result(ssl);
	res->chain_ok = vr == X509_V_OK;
	if (!res->chain_ok)
		snprintf(res->error, sizeof(res->error), "certificate not trusted: %s",
		         X509_verify_cert_error_string(vr));
	else if (!res->name_ok)
		snprintf(res->error, sizeof(res->error), "certificate not valid for %s", name);
out:
	ERR_clear_error();
	X509_free(cert);
	if (ssl) {
		if (res->handshake)
			SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(ctx);
	while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
		;
	pthread_sigmask(SIG_SETMASK, &old_set, NULL);
	return rc;
}
