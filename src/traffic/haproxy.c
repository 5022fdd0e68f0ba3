/*
 * haproxy.c - the HAProxy driver of traffic.h, over the runtime API
 * (HAProxy management guide, "9.3. Unix Socket commands"; the same CLI
 * listens on TCP with `stats socket ipv4@ADDR:PORT level admin`).
 *
 * Three parts:
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
 *    sent again once on a new connection (every command here is
 *    idempotent, so a repeat is harmless).
 *  - the commands and their replies.  HAProxy answers errors as text and
 *    `set weight` / `set server ... state` answer nothing on success, so
 *    ANY other reply is a failure that quotes the text
 *    (haproxy_check_empty_reply).  `show stat BACKEND 4 -1` (servers of
 *    one backend only) is parsed strictly by column name.  The parsing is
 *    pure and lives in haproxy_reply.c.
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

#include "traffic/traffic.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/port.h"
#include "util/timeutil.h"

struct traffic_lb {
	char *admin; /* as given, for messages */
	struct traffic_options opt;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int fd; /* the interactive connection, -1 when closed */
	struct buf reply;
};

/* ---- connection ---------------------------------------------------- */

static int parse_admin(struct traffic_lb *lb, const char *admin, struct ferry_error *err)
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

static int lb_connect(struct traffic_lb *lb, int *out, struct ferry_error *err)
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

/* The reply of an interactive command is complete (see the top comment). */
static bool prompt_done(const struct buf *b)
{
	if (b->len == 3 && memcmp(b->data, "\n> ", 3) == 0)
		return true;
	return b->len >= 4 && memcmp(b->data + b->len - 4, "\n\n> ", 4) == 0;
}

/*
 * Reads one reply into b: to the prompt (interactive) or to EOF.  Returns
 * 0, FERRY_ETIMEDOUT, FERRY_EPROTO (over max), FERRY_EUNREACH (closed
 * before a complete reply; *got_any says whether anything came).
 */
static int read_reply(int fd, struct buf *b, bool interactive, int64_t deadline, bool *got_any)
{
	char chunk[8192];

	*got_any = false;
	for (;;) {
		ssize_t r;
		int rc;

		if (interactive && prompt_done(b))
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

static void lb_hangup(struct traffic_lb *lb)
{
	if (lb->fd >= 0)
		close(lb->fd);
	lb->fd = -1;
}

static int io_error(struct traffic_lb *lb, int rc, const char *cmd, struct ferry_error *err)
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
static int lb_open_interactive(struct traffic_lb *lb, struct ferry_error *err)
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
		rc = read_reply(lb->fd, &lb->reply, true, deadline, &got);
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

/*
 * Runs one command and leaves its output in lb->reply, without the
 * framing (the terminating empty line and prompt).  cmd has no newline.
 */
static int lb_run(struct traffic_lb *lb, const char *cmd, struct ferry_error *err)
{
	bool interactive = lb->opt.mode == TRAFFIC_MODE_INTERACTIVE;
	char line[512];
	size_t len;
	int rc = 0;

	len = (size_t)snprintf(line, sizeof(line), "%s\n", cmd);
	if (len >= sizeof(line))
		BUG("haproxy command too long: %s", cmd);
	for (int attempt = 0; attempt < 2; attempt++) {
		bool fresh = false, got = false;
		int64_t deadline;

		if (!interactive || lb->fd < 0) {
			rc = interactive ? lb_open_interactive(lb, err)
			                 : lb_connect(lb, &lb->fd, err);
			if (rc < 0)
				return rc;
			fresh = true;
		}
		deadline = time_mono_ms() + lb->opt.reply_timeout_ms;
		buf_reset(&lb->reply);
		rc = send_all(lb->fd, line, len, deadline);
		if (rc == 0)
			rc = read_reply(lb->fd, &lb->reply, interactive, deadline, &got);
		if (!interactive || rc < 0)
			lb_hangup(lb);
		/* HAProxy closed an idle interactive connection (stats
		 * timeout): try once more on a new one. */
		if (rc == FERRY_EUNREACH && interactive && !fresh && !got) {
			log_debug("haproxy %s: connection closed while idle; reconnecting",
			          lb->admin);
			continue;
		}
		break;
	}
	if (rc < 0)
		return io_error(lb, rc, cmd, err);
	/* Strip the framing: "\n> " or "\n\n> " (interactive), "\n" at the
	 * end (non-interactive). */
	if (interactive)
		lb->reply.len -= 2; /* "> ": read_reply saw at least "\n> " */
	if (lb->reply.len == 0 || lb->reply.data[lb->reply.len - 1] != '\n')
		return ferry_error_set(err, FERRY_EPROTO, "is this HAProxy's runtime API?",
		                       "haproxy %s: reply to '%s' does not end with an empty line",
		                       lb->admin, cmd);
	lb->reply.len--;
	lb->reply.data[lb->reply.len] = '\0';
	return 0;
}

/* ---- the driver ------------------------------------------------------ */

/* HAProxy names are letters, digits, '-', '_', '.' and ':' (configuration
 * manual 2.3); anything else could smuggle a second command (';' or a
 * newline) into the line. */
static int check_name(const char *kind, const char *name, struct ferry_error *err)
{
	if (!name || !*name || strlen(name) > 100 ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:") !=
	            strlen(name))
		return ferry_error_set(err, FERRY_EINVAL,
		                       "HAProxy names use letters, digits, '-', '_', '.', ':'",
		                       "haproxy: bad %s name '%.100s'", kind, name ? name : "");
	return 0;
}

static int check_target(const char *backend, const char *server, struct ferry_error *err)
{
	int rc = check_name("backend", backend, err);

	if (rc == 0)
		rc = check_name("server", server, err);
	return rc;
}

static int hap_open(const char *admin, const struct traffic_options *opt, struct traffic_lb **out,
                    struct ferry_error *err)
{
	struct traffic_lb *lb = xcalloc(1, sizeof(*lb));
	struct traffic_options def = TRAFFIC_OPTIONS_INIT;
	int rc;

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
			rc = lb_run(lb, "show info", err);
	}
	if (rc < 0) {
		traffic_haproxy.close(lb);
		return rc;
	}
	*out = lb;
	return 0;
}

static void hap_close(struct traffic_lb *lb)
{
	if (!lb)
		return;
	lb_hangup(lb);
	buf_release(&lb->reply);
	free(lb->admin);
	free(lb);
}

static int run_expect_empty(struct traffic_lb *lb, const char *backend, const char *server,
                            const char *cmd, struct ferry_error *err)
{
	char what[256];
	int rc = lb_run(lb, cmd, err);

	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "%s %s/%s", lb->admin, backend, server);
	return haproxy_check_empty_reply(lb->reply.data, what, cmd, err);
}

/* The `set weight` command, checked: what hap_set_weight() sends and the
 * dry run prints. */
static int hap_format_set_weight(const char *backend, const char *server, int weight,
                                 struct buf *out, struct ferry_error *err)
{
	int rc = check_target(backend, server, err);

	if (rc < 0)
		return rc;
	if (weight < 0 || weight > TRAFFIC_WEIGHT_MAX)
		return ferry_error_set(err, FERRY_EINVAL, NULL,
		                       "haproxy %s/%s: weight %d outside 0..%d", backend, server,
		                       weight, TRAFFIC_WEIGHT_MAX);
	if (buf_addf(out, "set weight %s/%s %d", backend, server, weight) < 0)
		return ferry_error_set(err, FERRY_EPROTO, NULL, "haproxy %s/%s: command too long",
		                       backend, server);
	return 0;
}

static int hap_set_weight(struct traffic_lb *lb, const char *backend, const char *server,
                          int weight, struct ferry_error *err)
{
	struct buf cmd;
	int rc;

	buf_init(&cmd, 1024);
	rc = hap_format_set_weight(backend, server, weight, &cmd, err);
	if (rc == 0)
		rc = run_expect_empty(lb, backend, server, cmd.data, err);
	if (rc == 0)
		log_info("haproxy %s: %s/%s weight %d", lb->admin, backend, server, weight);
	buf_release(&cmd);
	return rc;
}

static int hap_get_weight(struct traffic_lb *lb, const char *backend, const char *server,
                          int *current, int *initial, struct ferry_error *err)
{
	char cmd[256], what[256];
	int rc = check_target(backend, server, err);

	if (rc < 0)
		return rc;
	snprintf(cmd, sizeof(cmd), "get weight %s/%s", backend, server);
	rc = lb_run(lb, cmd, err);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "%s %s/%s", lb->admin, backend, server);
	/* the reply is one line: drop its newline */
	if (lb->reply.len && lb->reply.data[lb->reply.len - 1] == '\n')
		lb->reply.data[--lb->reply.len] = '\0';
	return haproxy_parse_weight(lb->reply.data, what, current, initial, err);
}

static int set_state(struct traffic_lb *lb, const char *backend, const char *server,
                     const char *state, struct ferry_error *err)
{
	char cmd[256];
	int rc = check_target(backend, server, err);

	if (rc < 0)
		return rc;
	/* Management guide: "set server <b>/<s> state [ ready | drain | maint ]" */
	snprintf(cmd, sizeof(cmd), "set server %s/%s state %s", backend, server, state);
	rc = run_expect_empty(lb, backend, server, cmd, err);
	if (rc == 0)
		log_info("haproxy %s: %s/%s state %s", lb->admin, backend, server, state);
	return rc;
}

static int hap_drain(struct traffic_lb *lb, const char *backend, const char *server,
                     struct ferry_error *err)
{
	return set_state(lb, backend, server, "drain", err);
}

static int hap_ready(struct traffic_lb *lb, const char *backend, const char *server,
                     struct ferry_error *err)
{
	return set_state(lb, backend, server, "ready", err);
}

static int hap_stats(struct traffic_lb *lb, const char *backend, struct traffic_stats *out,
                     struct ferry_error *err)
{
	char cmd[256];
	int rc = check_name("backend", backend, err);

	if (rc < 0)
		return rc;
	/* Management guide: "show stat [<iid>|<proxy>] [<type>] [<sid>]";
	 * type 4 = servers, sid -1 = all of them. */
	snprintf(cmd, sizeof(cmd), "show stat %s 4 -1", backend);
	rc = lb_run(lb, cmd, err);
	if (rc < 0)
		return rc;
	if (lb->reply.data[0] != '#') {
		char what[256];

		snprintf(what, sizeof(what), "%s backend %s", lb->admin, backend);
		return haproxy_reply_error(lb->reply.data, what, cmd, err);
	}
	rc = haproxy_parse_stat(lb->reply.data, lb->reply.len, backend, out, err);
	if (rc < 0) {
		if (err)
			ferry_error_prefix(err, "%s", lb->admin);
		return rc;
	}
	out->at_ms = time_mono_ms();
	if (out->n == 0)
		return ferry_error_set(err, FERRY_ENOTFOUND,
		                       "check traffic.backend in the plan against haproxy.cfg",
		                       "haproxy %s: backend %s: no such backend, or no servers",
		                       lb->admin, backend);
	return 0;
}

/* Management guide: "show cli level" answers the level of this CLI
 * connection; `set weight` and `set server` need "admin". */
static int hap_access(struct traffic_lb *lb, bool *can_change, char *level, size_t len,
                      struct ferry_error *err)
{
	const char *cmd = "show cli level", *rest;
	char first[16];
	size_t n;
	int rc = lb_run(lb, cmd, err);

	if (rc < 0)
		return rc;
	/* one line, one of the three levels; anything else is an error text */
	n = strcspn(lb->reply.data, "\n");
	rest = lb->reply.data + n;
	snprintf(first, sizeof(first), "%.*s", (int)(n < sizeof(first) ? n : 0), lb->reply.data);
	if ((strcmp(first, "admin") && strcmp(first, "operator") && strcmp(first, "user")) ||
	    strspn(rest, "\n") != strlen(rest))
		return haproxy_reply_error(lb->reply.data, lb->admin, cmd, err);
	snprintf(level, len, "%s", first);
	*can_change = !strcmp(first, "admin");
	return 0;
}

const struct traffic_driver traffic_haproxy = {
	.name = "haproxy",
	.open = hap_open,
	.close = hap_close,
	.set_weight = hap_set_weight,
	.format_set_weight = hap_format_set_weight,
	.get_weight = hap_get_weight,
	.drain = hap_drain,
	.ready = hap_ready,
	.stats = hap_stats,
	.access = hap_access,
};
