/*
 * shell.c - a persistent shell on a host (see shell.h).
 *
 * The child gets one end of a socketpair as stdin, stdout and stderr; the
 * parent keeps the other end.  A socket rather than pipes so that a write to
 * a shell that died fails with EPIPE (send with MSG_NOSIGNAL) instead of
 * killing ferry with SIGPIPE.  Replies are read into a bounded buffer until
 * the command's completion token appears at the start of a line.  The
 * shell's environment is ferry's without the plan's secret variables
 * (util/secret.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hosts/shell.h"
#include "util/mem.h"
#include "util/secret.h"
#include "util/timeutil.h"

struct host_shell {
	pid_t pid;
	int fd;
	bool broken;
	unsigned long seq;
	char token[64]; /* of the command in flight, "" if none */
	char *what;
	struct buf pending; /* bytes read past the last token */
};

char *host_shell_quote(const char *s)
{
	struct buf b;

	buf_init(&b, 1 << 24);
	buf_addch(&b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			buf_adds(&b, "'\\''");
		else
			buf_addch(&b, *s);
	}
	buf_addch(&b, '\'');
	return buf_detach(&b, NULL);
}

bool host_shell_broken(const struct host_shell *sh)
{
	return !sh || sh->broken;
}

int host_shell_pid(const struct host_shell *sh)
{
	return (int)sh->pid;
}

static int send_all(struct host_shell *sh, const char *data, size_t len, struct ferry_error *err)
{
	ssize_t w;

	while (len > 0) {
		w = send(sh->fd, data, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			sh->broken = true;
			return ferry_error_set(err, FERRY_EUNREACH,
			                       "check the host's exec prefix (ssh, ip netns exec)",
			                       "%s: shell gone: %s", sh->what, strerror(errno));
		}
		data += w;
		len -= (size_t)w;
	}
	return 0;
}

int host_shell_open(struct host_shell **out, const char *const *prefix, size_t n, const char *what,
                    struct ferry_error *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, defsigs;
	struct host_shell *sh;
	char **argv, **envp;
	int sv[2], rc;
	size_t i;

	*out = NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return ferry_error_set(err, FERRY_EIO, NULL, "%s: socketpair: %s", what,
		                       strerror(errno));
	argv = xcalloc(n + 2, sizeof(char *));
	for (i = 0; i < n; i++)
		argv[i] = (char *)prefix[i];
	argv[n] = (char *)"sh";
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 2);
	sh = xcalloc(1, sizeof(*sh));
	sh->what = xstrdup(what);
	sh->fd = sv[0];
	buf_init(&sh->pending, 1 << 20);
	/* Its own process group: a ^C on ferry's terminal (SIGINT to the
	 * foreground group) must not kill the shell the switch needs to undo
	 * itself.  Signals ferry blocks in the pause are not blocked in it. */
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&defsigs);
	sigaddset(&defsigs, SIGINT);
	sigaddset(&defsigs, SIGTERM);
	sigaddset(&defsigs, SIGHUP);
	sigaddset(&defsigs, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defsigs);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	                                        POSIX_SPAWN_SETSIGDEF);
	envp = secret_env_child();
	rc = posix_spawnp(&sh->pid, argv[0], &fa, &attr, argv, envp);
	free(envp);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	free(argv);
	if (rc != 0) {
		sh->pid = 0;
		host_shell_free(sh);
		return ferry_error_set(err, FERRY_EIO, "check the host's exec prefix",
		                       "%s: cannot start %s: %s", what, n ? prefix[0] : "sh",
		                       strerror(rc));
	}
	rc = host_shell_run(sh, "true", time_mono_ms() + 30000, NULL, NULL, err);
	if (rc < 0) {
		host_shell_free(sh);
		return rc == FERRY_ETIMEDOUT ? FERRY_EUNREACH : rc;
	}
	*out = sh;
	return 0;
}

void host_shell_free(struct host_shell *sh)
{
	int64_t until;
	int st;

	if (!sh)
		return;
	if (sh->fd >= 0)
		close(sh->fd);
	if (sh->pid > 0) {
		/* the shell exits on EOF; give it a moment, then insist */
		until = time_mono_ms() + 2000;
		while (waitpid(sh->pid, &st, WNOHANG) == 0) {
			if (time_mono_ms() > until) {
				kill(sh->pid, SIGKILL);
				waitpid(sh->pid, &st, 0);
				break;
			}
			poll(NULL, 0, 5);
		}
	}
	buf_release(&sh->pending);
	free(sh->what);
	free(sh);
}

/* Finds "\nTOKEN " (or TOKEN at offset 0) in b; returns its offset or -1. */
static long find_token(const struct buf *b, const char *token)
{
	size_t tl = strlen(token);
	const char *p = b->data;

	while ((p = strstr(p, token)) != NULL) {
		if ((p == b->data || p[-1] == '\n') && strchr(p + tl, '\n'))
			return (long)(p - b->data);
		p += tl;
	}
	return -1;
}

int host_shell_send(struct host_shell *sh, const char *cmd, struct ferry_error *err)
{
	struct buf wire;
	int rc;

	if (sh->broken)
		return ferry_error_set(err, FERRY_ESTATE, "reconnect to the host",
		                       "%s: shell unusable after an earlier failure", sh->what);
	if (sh->token[0])
		return ferry_error_set(err, FERRY_ESTATE, NULL,
		                       "%s: a command is already in flight", sh->what);
	snprintf(sh->token, sizeof(sh->token), "ferry-done-%d-%lu", (int)getpid(), ++sh->seq);
	buf_init(&wire, 1 << 24);
	/* The braces keep the command's redirections to itself; stdin from
	 * /dev/null so that a command cannot eat the next one. */
	if (buf_addf(&wire, "{ %s\n} </dev/null 2>&1; echo \"\n%s $?\"\n", cmd, sh->token) < 0) {
		buf_release(&wire);
		sh->token[0] = '\0';
		return ferry_error_set(err, FERRY_EINVAL, NULL, "%s: command too long", sh->what);
	}
	rc = send_all(sh, wire.data, wire.len, err);
	buf_release(&wire);
	return rc;
}

int host_shell_run(struct host_shell *sh, const char *cmd, int64_t deadline_ms, struct buf *out,
                   int *status, struct ferry_error *err)
{
	int rc = host_shell_send(sh, cmd, err);

	return rc < 0 ? rc : host_shell_wait(sh, deadline_ms, out, status, err);
}

int host_shell_wait(struct host_shell *sh, int64_t deadline_ms, struct buf *out, int *status,
                    struct ferry_error *err)
{
	char token[64], chunk[4096];
	struct buf got;
	struct pollfd pfd;
	long at;
	int rc, left;
	ssize_t r;

	if (!sh->token[0])
		return ferry_error_set(err, FERRY_ESTATE, NULL, "%s: no command in flight",
		                       sh->what);
	snprintf(token, sizeof(token), "%s", sh->token);
	sh->token[0] = '\0';
	buf_init(&got, 1 << 20);
	buf_add(&got, sh->pending.data, sh->pending.len);
	buf_reset(&sh->pending);
	pfd.fd = sh->fd;
	pfd.events = POLLIN;
	while ((at = find_token(&got, token)) < 0) {
		left = -1;
		if (deadline_ms) {
			int64_t l = deadline_ms - time_mono_ms();
			if (l <= 0) {
				sh->broken = true;
				rc = ferry_error_set(err, FERRY_ETIMEDOUT, "check the host",
				                     "%s: command did not finish in time",
				                     sh->what);
				goto out;
			}
			left = l > 1000000 ? 1000000 : (int)l;
		}
		rc = poll(&pfd, 1, left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			continue;
		r = read(sh->fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			sh->broken = true;
			rc = ferry_error_set(err, FERRY_EUNREACH, "check the host's exec prefix",
			                     "%s: shell exited: %.200s", sh->what, got.data);
			goto out;
		}
		if (buf_add(&got, chunk, (size_t)r) < 0) {
			sh->broken = true;
			rc = ferry_error_set(err, FERRY_EPROTO, NULL,
			                     "%s: command output too large", sh->what);
			goto out;
		}
	}
	{
		const char *st = got.data + at + strlen(token) + 1;
		const char *nl = strchr(st, '\n');
		char *end;
		long v = strtol(st, &end, 10);

		if (status)
			*status = (end == st) ? -1 : (int)v;
		/* the echo starts with a newline of its own: drop it */
		if (out) {
			size_t n = (size_t)at;
			if (n > 0 && got.data[n - 1] == '\n')
				n--;
			buf_add(out, got.data, n);
		}
		buf_add(&sh->pending, nl + 1, got.len - (size_t)(nl + 1 - got.data));
	}
	rc = 0;
out:
	buf_release(&got);
	return rc;
}

int host_shell_write_file(struct host_shell *sh, const char *path, const char *data,
                          const char *mode, int64_t deadline_ms, struct ferry_error *err)
{
	char delim[64];
	char *qpath = host_shell_quote(path), *qmode = host_shell_quote(mode);
	struct buf cmd, out;
	int rc, status = 0;

	snprintf(delim, sizeof(delim), "FERRY_EOF_%d_%lu", (int)getpid(), sh->seq + 1);
	buf_init(&cmd, 1 << 24);
	buf_init(&out, 4096);
	if (strstr(data, delim)) {
		rc = ferry_error_set(err, FERRY_EINVAL, NULL, "%s: file content holds %s", sh->what,
		                     delim);
		goto out;
	}
	/* The here-document has no trailing newline of its own beyond the
	 * data's: printf %s through cat keeps the content exact enough for a
	 * config file (a final newline is added if missing). */
	buf_addf(&cmd, "umask 077; cat > %s <<'%s' && chmod %s %s\n%s%s%s", qpath, delim, qmode,
	         qpath, data, (*data && data[strlen(data) - 1] == '\n') ? "" : "\n", delim);
	rc = host_shell_run(sh, cmd.data, deadline_ms, &out, &status, err);
	if (rc == 0 && status != 0)
		rc = ferry_error_set(err, FERRY_EIO, "check the path and its permissions",
		                     "%s: cannot write %s: %.200s", sh->what, path, out.data);
out:
	buf_release(&cmd);
	buf_release(&out);
	free(qpath);
	free(qmode);
	return rc;
}
