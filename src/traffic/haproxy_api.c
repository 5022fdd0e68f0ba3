/*
 * haproxy_api.c - HAProxy's runtime API as a connection (haproxy_api.h):
 * the traffic driver (haproxy.c) and the switch driver (switch/haproxy.c)
 * both talk through it (management guide, "9.3. Unix Socket commands";
 * the same CLI listens on TCP with `stats socket ipv4@ADDR:PORT level
 * admin`).
 *
 *  - the connection: TCP ("host:port", "[v6]:port", numeric only, so no
 *    DNS lookup can stall the cutover) or a unix socket path; connect and
 *    reply deadlines (2 s by default); every reply read into a bounded
 *    struct buf.
 *  - the framing.  HAProxy ends each reply with an empty line.  In
 *    non-interactive mode (TRAFFIC_MODE_ONESHOT) it then closes; in
 *    interactive mode (`prompt`, TRAFFIC_MODE_INTERACTIVE, the default) it
 *    prints the prompt "> " and waits for the next command on the same
 *    connection, so a reply is complete when it is "\n> " (no output) or
 *    ends with "\n\n> ".  The interactive connection is opened by open(),
 *    that is before the cutover's pause; HAProxy closes it after `stats
 *    timeout` (10 s by default) of silence, in which case the command is
 *    sent again once on a new connection (every command ferry sends is
 *    idempotent, so a repeat is harmless).  A reply that misses its
 *    deadline closes the connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "traffic/haproxy_api.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/port.h"
#include "util/timeutil.h"

struct haproxy_api {
	char *admin; /* as given, for messages */
	struct traffic_options opt;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int fd; /* the interactive connection, -1 when closed */
	struct buf reply;
	char cmd[512]; /* the command in flight (send/wait), "" if none */
	int nprompts;  /* its commands (";" separates them): as many prompts */
	bool fresh;    /* its connection was opened for it */
};

/* ---- connection ---------------------------------------------------- */

static int parse_admin(struct haproxy_api *lb, const char *admin, struct ferry_error *err)
{
	struct addrinfo hints, *res = NULL;
	char host[256];
	const char *port, *h = admin;
	size_t hlen;
	uint16_t portnum; /* checked here; getaddrinfo() takes the text */
	int rc;

	if (admin[0] == '/') {
		struct sockaddr_un *un = (struct sockaddr_un *)&lb->addr;

		if (strlen(admin) >= sizeof(un->sun_path))
			return ferry_error_set(err, FERRY_EINVAL, "use a shorter path",
			                       "haproxy %s: unix socket path too long", admin);
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, admin, strlen(admin) + 1);
		lb->addrlen = sizeof(*un);
		return 0;
	}
	if (h[0] == '[') {
		const char *close = strchr(h, ']');

		if (!close || close[1] != ':')
			goto bad;
		h++;
		hlen = (size_t)(close - h);
		port = close + 2;
	} else {
		const char *colon = strrchr(h, ':');

		if (!colon || strchr(h, ':') != colon)
			goto bad;
		hlen = (size_t)(colon - h);
		port = colon + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host) || !port_parse(port, &portnum))
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0 || !res)
		goto bad;
	memcpy(&lb->addr, res->ai_addr, res->ai_addrlen);
	lb->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
bad:
	return ferry_error_set(err, FERRY_EINVAL,
	                       "give traffic.admin as IP:PORT, [IPv6]:PORT or an absolute unix "
	                       "socket path (numeric: no DNS lookup during a cutover)",
	                       "haproxy %s: not an admin address", admin);
}

static int wait_fd(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		int64_t left = deadline_ms - time_mono_ms();
		struct pollfd p = { .fd = fd, .events = events };
		int rc;

		if (left <= 0)
			return FERRY_ETIMEDOUT;
		rc = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return FERRY_EIO;
	}
}

static int lb_connect(struct haproxy_api *lb, int *out, struct ferry_error *err)
{
	int64_t deadline = time_mono_ms() + lb->opt.connect_timeout_ms;
	int fd, rc, soerr = 0;
	socklen_t slen = sizeof(soerr);

	fd = socket(lb->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ferry_error_set(err, FERRY_EIO, NULL, "haproxy %s: socket: %s", lb->admin,
		                       strerror(errno));
	rc = connect(fd, (struct sockaddr *)&lb->addr, lb->addrlen);
	if (rc < 0 && errno == EINPROGRESS) {
		rc = wait_fd(fd, POLLOUT, deadline);
		if (rc == FERRY_ETIMEDOUT) {
			close(fd);
			return ferry_error_set(err, FERRY_EUNREACH,
			                       "check traffic.admin and that HAProxy runs",
			                       "haproxy %s: no answer to connect within %lld ms",
			                       lb->admin, (long long)lb->opt.connect_timeout_ms);
		}
		if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) == 0 && soerr)
			errno = soerr, rc = -1;
	}
	if (rc < 0) {
		int e = errno;

		close(fd);
		if (e == EACCES || e == EPERM)
			return ferry_error_set(err, FERRY_EAUTH,
			                       "run ferry as a user that may open the socket",
			                       "haproxy %s: connect: %s", lb->admin, strerror(e));
		return ferry_error_set(err, FERRY_EUNREACH,
		                       "check traffic.admin, that HAProxy runs, and its `stats "
		                       "socket` line",
		                       "haproxy %s: connect: %s", lb->admin, strerror(e));
	}
	*out = fd;
	return 0;
}

static int send_all(int fd, const char *s, size_t len, int64_t deadline)
{
	while (len) {
		ssize_t w = send(fd, s, len, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				int rc = wait_fd(fd, POLLOUT, deadline);

				if (rc < 0)
					return rc;
				continue;
			}
			return FERRY_EUNREACH; /* EPIPE, ECONNRESET: the peer closed */
		}
		s += w;
		len -= (size_t)w;
	}
	return 0;
}

/* The reply of an interactive line of n commands is complete: HAProxy
 * ends each command's output with an empty line and a prompt "> " (a line
 * "a; b" answers "A\n\n> \n> "), so n prompts, the last at the end. */
static bool prompt_done(const struct buf *b, int n)
{
	size_t i;
	int seen = 0;

	if (b->len < 2 || memcmp(b->data + b->len - 2, "> ", 2) != 0)
		return false;
	for (i = 0; i + 1 < b->len; i++)
		if ((i == 0 || b->data[i - 1] == '\n') && b->data[i] == '>' &&
		    b->data[i + 1] == ' ')
			seen++;
	return seen >= n;
}

/*
 * Reads one reply into b: to the prompt (interactive) or to EOF.  Returns
 * 0, FERRY_ETIMEDOUT, FERRY_EPROTO (over max), FERRY_EUNREACH (closed
 * before a complete reply; *got_any says whether anything came).
 */
static int read_reply(int fd, struct buf *b, bool interactive, int prompts, int64_t deadline,
                      bool *got_any)
{
	char chunk[8192];

	*got_any = false;
	for (;;) {
		ssize_t r;
		int rc;

		if (interactive && prompt_done(b, prompts))
			return 0;
		rc = wait_fd(fd, POLLIN, deadline);
		if (rc < 0)
			return rc;
		r = recv(fd, chunk, sizeof(chunk), 0);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return FERRY_EUNREACH;
		}
		if (r == 0)
			return interactive ? FERRY_EUNREACH : 0;
		*got_any = true;
		if (buf_add(b, chunk, (size_t)r) < 0)
			return FERRY_EPROTO;
	}
}

static void lb_hangup(struct haproxy_api *lb)
{
	if (lb->fd >= 0)
		close(lb->fd);
	lb->fd = -1;
}

static int io_error(struct haproxy_api *lb, int rc, const char *cmd, struct ferry_error *err)
{
	switch (rc) {
	case FERRY_ETIMEDOUT:
		return ferry_error_set(err, FERRY_ETIMEDOUT,
		                       "HAProxy may be overloaded; raise the reply timeout if it "
		                       "is only slow",
		                       "haproxy %s: no complete reply to '%s' within %lld ms",
		                       lb->admin, cmd, (long long)lb->opt.reply_timeout_ms);
	case FERRY_EPROTO:
		return ferry_error_set(err, FERRY_EPROTO, NULL,
		                       "haproxy %s: reply to '%s' longer than %zu bytes", lb->admin,
		                       cmd, lb->opt.max_reply);
	default:
		return ferry_error_set(err, FERRY_EUNREACH, "check that HAProxy still runs",
		                       "haproxy %s: connection closed during '%s'", lb->admin, cmd);
	}
}

/* Opens the interactive connection and switches it to prompt mode. */
static int lb_open_interactive(struct haproxy_api *lb, struct ferry_error *err)
{
	int64_t deadline;
	bool got;
	int rc;

	rc = lb_connect(lb, &lb->fd, err);
	if (rc < 0)
		return rc;
	deadline = time_mono_ms() + lb->opt.reply_timeout_ms;
	buf_reset(&lb->reply);
	rc = send_all(lb->fd, "prompt\n", 7, deadline);
	if (rc == 0)
		rc = read_reply(lb->fd, &lb->reply, true, 1, deadline, &got);
	if (rc < 0) {
		lb_hangup(lb);
		return io_error(lb, rc, "prompt", err);
	}
	if (strcmp(lb->reply.data, "\n> ") != 0) {
		lb_hangup(lb);
		return ferry_error_set(err, FERRY_EPROTO, "is this HAProxy's runtime API?",
		                       "haproxy %s: unexpected reply to 'prompt'", lb->admin);
	}
	return 0;
}

/* Sends cmd (no newline), opening the connection first if it is closed.
 * The reply is collected by api_wait(). */
int haproxy_api_send(struct haproxy_api *lb, const char *cmd, struct ferry_error *err)
{
	bool interactive = lb->opt.mode == TRAFFIC_MODE_INTERACTIVE;
	char line[520];
	size_t len;
	int rc;

	len = (size_t)snprintf(line, sizeof(line), "%s\n", cmd);
	if (len >= sizeof(line) || strlen(cmd) >= sizeof(lb->cmd))
		BUG("haproxy command too long: %s", cmd);
	snprintf(lb->cmd, sizeof(lb->cmd), "%s", cmd);
	lb->nprompts = 1;
	for (const char *p = cmd; *p; p++)
		lb->nprompts += *p == ';';
	lb->fresh = false;
	if (!interactive || lb->fd < 0) {
		rc = interactive ? lb_open_interactive(lb, err) : lb_connect(lb, &lb->fd, err);
		if (rc < 0) {
			lb->cmd[0] = '\0';
			return rc;
		}
		lb->fresh = true;
	}
	buf_reset(&lb->reply);
	rc = send_all(lb->fd, line, len, time_mono_ms() + lb->opt.reply_timeout_ms);
	if (rc < 0) {
		lb_hangup(lb);
		/* sent on an idle connection HAProxy had closed: the reply
		 * wait finds it and the command goes out again once */
		if (!lb->fresh && interactive)
			return 0;
		lb->cmd[0] = '\0';
		return io_error(lb, rc, cmd, err);
	}
	return 0;
}

/* Strips the framing: "\n> " or "\n\n> " (interactive), "\n" at the
 * end (non-interactive). */
static int unframe(struct haproxy_api *lb, const char *cmd, struct ferry_error *err)
{
	if (lb->opt.mode == TRAFFIC_MODE_INTERACTIVE) {
		/* every prompt out: "> " at the start of a line */
		size_t i, o = 0, n = lb->reply.len;
		char *d = lb->reply.data;
		bool bol = true; /* at the beginning of a line of the reply as read */
		for (i = 0; i < n; i++) {
			if (bol && d[i] == '>' && i + 1 < n && d[i + 1] == ' ') {
				i++;
				bol = false;
				continue;
			}
			bol = d[i] == '\n';
			d[o++] = d[i];
		}
		lb->reply.len = o;
		d[o] = '\0';
	}
	if (lb->reply.len == 0 || lb->reply.data[lb->reply.len - 1] != '\n')
		return ferry_error_set(err, FERRY_EPROTO, "is this HAProxy's runtime API?",
		                       "haproxy %s: reply to '%s' does not end with an empty line",
		                       lb->admin, cmd);
	lb->reply.len--;
	lb->reply.data[lb->reply.len] = '\0';
	return 0;
}

int haproxy_api_wait(struct haproxy_api *lb, int64_t deadline, const char **reply,
                     struct ferry_error *err)
{
	bool interactive = lb->opt.mode == TRAFFIC_MODE_INTERACTIVE;
	char cmd[512];
	bool got = false;
	int rc;

	if (!lb->cmd[0])
		return ferry_error_set(err, FERRY_ESTATE, NULL, "haproxy %s: no command in flight",
		                       lb->admin);
	snprintf(cmd, sizeof(cmd), "%s", lb->cmd);
	lb->cmd[0] = '\0';
	if (deadline <= 0)
		deadline = time_mono_ms() + lb->opt.reply_timeout_ms;
	rc = lb->fd < 0 ? FERRY_EUNREACH
	                : read_reply(lb->fd, &lb->reply, interactive, lb->nprompts, deadline, &got);
	if (!interactive || rc < 0)
		lb_hangup(lb);
	/* HAProxy closed an idle interactive connection (stats timeout):
	 * once more on a new one (every command ferry sends is idempotent) */
	if (rc == FERRY_EUNREACH && interactive && !lb->fresh && !got) {
		log_debug("haproxy %s: connection closed while idle; reconnecting", lb->admin);
		rc = haproxy_api_send(lb, cmd, err);
		if (rc < 0)
			return rc;
		lb->fresh = true;
		rc = read_reply(lb->fd, &lb->reply, interactive, lb->nprompts, deadline, &got);
		if (!interactive || rc < 0)
			lb_hangup(lb);
	}
	if (rc < 0)
		return io_error(lb, rc, cmd, err);
	rc = unframe(lb, cmd, err);
	if (rc == 0 && reply)
		*reply = lb->reply.data;
	return rc;
}

int haproxy_api_run(struct haproxy_api *lb, const char *cmd, const char **reply,
                    struct ferry_error *err)
{
	int rc = haproxy_api_send(lb, cmd, err);

	return rc < 0 ? rc : haproxy_api_wait(lb, 0, reply, err);
}

int haproxy_api_open(const char *admin, const struct traffic_options *opt, struct haproxy_api **out,
                     struct ferry_error *err)
{
	struct haproxy_api *lb = xcalloc(1, sizeof(*lb));
	struct traffic_options def = TRAFFIC_OPTIONS_INIT;
	int rc;

	*out = NULL;
	lb->admin = xstrdup(admin ? admin : "");
	lb->opt = opt ? *opt : def;
	if (lb->opt.connect_timeout_ms <= 0)
		lb->opt.connect_timeout_ms = def.connect_timeout_ms;
	if (lb->opt.reply_timeout_ms <= 0)
		lb->opt.reply_timeout_ms = def.reply_timeout_ms;
	if (lb->opt.max_reply == 0)
		lb->opt.max_reply = def.max_reply;
	lb->fd = -1;
	buf_init(&lb->reply, lb->opt.max_reply);
	rc = parse_admin(lb, lb->admin, err);
	if (rc == 0) {
		/* Interactive: connect now, before any time-critical step.
		 * One-shot: check that it answers (a harmless command). */
		if (lb->opt.mode == TRAFFIC_MODE_INTERACTIVE)
			rc = lb_open_interactive(lb, err);
		else
			rc = haproxy_api_run(lb, "show info", NULL, err);
	}
	if (rc < 0) {
		haproxy_api_close(lb);
		return rc;
	}
	*out = lb;
	return 0;
}

void haproxy_api_close(struct haproxy_api *lb)
{
	if (!lb)
		return;
	lb_hangup(lb);
	buf_release(&lb->reply);
	free(lb->admin);
	free(lb);
}

const char *haproxy_api_admin(const struct haproxy_api *lb)
{
	return lb->admin;
}

bool haproxy_api_ok(const struct haproxy_api *lb)
{
	return lb && lb->fd >= 0;
}

/* HAProxy names are letters, digits, '-', '_', '.' and ':' (configuration
 * manual 2.3); anything else could smuggle a second command (';' or a
 * newline) into the line. */
int haproxy_check_name(const char *kind, const char *name, struct ferry_error *err)
{
	if (!name || !*name || strlen(name) > 100 ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:") !=
	            strlen(name))
		return ferry_error_set(err, FERRY_EINVAL,
		                       "HAProxy names use letters, digits, '-', '_', '.', ':'",
		                       "haproxy: bad %s name '%.100s'", kind, name ? name : "");
	return 0;
}

int haproxy_check_target(const char *backend, const char *server, struct ferry_error *err)
{
	int rc = haproxy_check_name("backend", backend, err);

	if (rc == 0)
		rc = haproxy_check_name("server", server, err);
	return rc;
}
