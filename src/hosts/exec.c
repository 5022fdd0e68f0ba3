/*
 * exec.c - see exec.h.
 *
 * One child, three descriptors and a pidfd in one poll() loop: stdin is a
 * socketpair so that a child that stops reading gives EPIPE from
 * send(MSG_NOSIGNAL) instead of a SIGPIPE to ferry; stdout and stderr are
 * pipes read into bounded buffers; the pidfd (pidfd_open(2)) says when the
 * child exits without a SIGCHLD handler.  The child is spawned with
 * posix_spawnp(3) in a new process group (POSIX_SPAWN_SETPGROUP) with
 * default signal dispositions, so kill(-pgid) at the deadline reaches every
 * process it started (an `ssh`, an `ip netns exec`, the remote shell's
 * children when the prefix is empty).  Its environment is ferry's without
 * the plan's secret variables (util/secret.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hosts/exec.h"
#include "util/mem.h"
#include "util/secret.h"
#include "util/timeutil.h"

void hosts_exec_result_init(struct hosts_exec_result *r)
{
	buf_init(&r->out, HOSTS_EXEC_OUT_MAX);
	buf_init(&r->err, HOSTS_EXEC_ERR_MAX);
	r->status = -1;
	r->timed_out = false;
	r->elapsed_ms = 0;
}

void hosts_exec_result_release(struct hosts_exec_result *r)
{
	buf_release(&r->out);
	buf_release(&r->err);
	r->status = -1;
}

int hosts_sh_quote(struct buf *b, const char *s)
{
	int rc = buf_addch(b, '\'');

	for (; rc == 0 && *s; s++)
		rc = *s == '\'' ? buf_adds(b, "'\\''") : buf_addch(b, *s);
	return rc ? rc : buf_addch(b, '\'');
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Reads what is available on *fd into b; closes *fd at EOF.  Returns 0,
 * or FERRY_EPROTO when b would pass its limit, FERRY_EIO on error. */
static int drain(int *fd, struct buf *b)
{
	char chunk[16384];
	ssize_t n;

	for (;;) {
		n = read(*fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0)
			return FERRY_EIO;
		if (n == 0) {
			close_fd(fd);
			return 0;
		}
		if (buf_add(b, chunk, (size_t)n) < 0)
			return FERRY_EPROTO;
	}
}

static int status_of(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return -1;
}

int hosts_exec(const struct hosts_target *target, const char *const *argv, const char *in,
               size_t inlen, int64_t timeout_ms, struct hosts_exec_result *r,
               struct ferry_error *err)
{
	const char *host = target && target->name ? target->name : "local";
	int in_sp[2] = { -1, -1 }, out_p[2] = { -1, -1 }, err_p[2] = { -1, -1 };
	int pidfd = -1, wstatus = 0, rc = 0;
	size_t nexec = target ? target->nexec : 0, nargs = 0, i, sent = 0;
	char **full = NULL, **envp = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, defsigs;
	bool fa_init = false, attr_init = false, exited = false;
	int64_t start = time_mono_ms(), deadline = start + timeout_ms;
	pid_t pid = -1, pgid = -1;

	while (argv && argv[nargs])
		nargs++;
	if (nexec + nargs == 0)
		return ferry_error_set(err, FERRY_EINVAL, NULL, "host %s: empty command", host);
	full = xcalloc(nexec + nargs + 1, sizeof(*full));
	for (i = 0; i < nexec; i++)
		full[i] = target->exec[i];
	for (i = 0; i < nargs; i++)
		full[nexec + i] = (char *)argv[i];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_sp) < 0 ||
	    pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0) {
		rc = ferry_error_set(err, FERRY_EIO, NULL, "host %s: cannot create pipes: %s", host,
		                     strerror(errno));
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	fa_init = true;
	posix_spawn_file_actions_adddup2(&fa, in_sp[1], 0);
	posix_spawn_file_actions_adddup2(&fa, out_p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err_p[1], 2);
	posix_spawnattr_init(&attr);
	attr_init = true;
	sigemptyset(&none);
	sigemptyset(&defsigs);
	sigaddset(&defsigs, SIGPIPE);
	sigaddset(&defsigs, SIGINT);
	sigaddset(&defsigs, SIGTERM);
	sigaddset(&defsigs, SIGHUP);
	sigaddset(&defsigs, SIGCHLD);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defsigs);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	                                        POSIX_SPAWN_SETSIGDEF);
	envp = secret_env_child();
	rc = posix_spawnp(&pid, full[0], &fa, &attr, full, envp);
	if (rc != 0) {
		int e = rc;

		pid = -1;
		rc = ferry_error_set(
		        err, e == ENOENT ? FERRY_ENOTFOUND : FERRY_EIO,
		        e == ENOENT ? "install it or fix the host's exec prefix in the plan" : NULL,
		        "host %s: cannot run '%s': %s", host, full[0], strerror(e));
		goto out;
	}
	pgid = pid;
	close_fd(&in_sp[1]);
	close_fd(&out_p[1]);
	close_fd(&err_p[1]);
	fcntl(in_sp[0], F_SETFL, O_NONBLOCK);
	fcntl(out_p[0], F_SETFL, O_NONBLOCK);
	fcntl(err_p[0], F_SETFL, O_NONBLOCK);
	if (inlen == 0)
		close_fd(&in_sp[0]);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

	while (out_p[0] >= 0 || err_p[0] >= 0 || !exited) {
		struct pollfd pfd[4];
		int n = 0, left;
		int64_t now = time_mono_ms();

		if (now >= deadline) {
			r->timed_out = true;
			rc = ferry_error_set(err, FERRY_ETIMEDOUT,
			                     "check that the host answers; the command was killed",
			                     "host %s: '%s' did not finish within %lld ms", host,
			                     full[0], (long long)timeout_ms);
			goto out;
		}
		left = (int)(deadline - now);
		if (pidfd < 0 && out_p[0] < 0 && err_p[0] < 0 && left > 10)
			left = 10; /* no pidfd: poll waitpid below */
		if (in_sp[0] >= 0)
			pfd[n++] = (struct pollfd){ .fd = in_sp[0], .events = POLLOUT };
		if (out_p[0] >= 0)
			pfd[n++] = (struct pollfd){ .fd = out_p[0], .events = POLLIN };
		if (err_p[0] >= 0)
			pfd[n++] = (struct pollfd){ .fd = err_p[0], .events = POLLIN };
		if (pidfd >= 0 && !exited)
			pfd[n++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
		if (poll(pfd, (nfds_t)n, left) < 0 && errno != EINTR) {
			rc = ferry_error_set(err, FERRY_EIO, NULL, "host %s: poll: %s", host,
			                     strerror(errno));
			goto out;
		}
		if (in_sp[0] >= 0) {
			ssize_t w = send(in_sp[0], in + sent, inlen - sent,
			                 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (w > 0)
				sent += (size_t)w;
			/* EPIPE: the command does not read all its input; that
			 * is its business, its exit status tells. */
			if (sent == inlen || (w < 0 && errno != EAGAIN && errno != EINTR))
				close_fd(&in_sp[0]);
		}
		if (out_p[0] >= 0)
			rc = drain(&out_p[0], &r->out);
		if (rc == 0 && err_p[0] >= 0)
			rc = drain(&err_p[0], &r->err);
		if (rc < 0) {
			rc = ferry_error_set(err, rc,
			                     rc == FERRY_EPROTO
			                             ? "the host sent more than expected; "
			                               "the command was killed"
			                             : NULL,
			                     "host %s: '%s' %s", host, full[0],
			                     rc == FERRY_EPROTO ? "wrote more output than the limit"
			                                        : "output could not be read");
			goto out;
		}
		if (!exited) {
			pid_t w = waitpid(pid, &wstatus, WNOHANG);

			if (w == pid) {
				exited = true;
				pid = -1;
			}
		}
	}
	r->status = status_of(wstatus);
out:
	/* The group outlives its leader while a member lives, and Linux does
	 * not reuse a pid that is still a process group id. */
	if (pgid > 0 && (rc < 0 || pid > 0))
		kill(-pgid, SIGKILL);
	if (pid > 0) {
		while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
			;
		r->status = status_of(wstatus);
	}
	r->elapsed_ms = time_mono_ms() - start;
	if (pidfd >= 0)
		close(pidfd);
	close_fd(&in_sp[0]);
	close_fd(&in_sp[1]);
	close_fd(&out_p[0]);
	close_fd(&out_p[1]);
	close_fd(&err_p[0]);
	close_fd(&err_p[1]);
	if (attr_init)
		posix_spawnattr_destroy(&attr);
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	free(full);
	free(envp);
	return rc;
}
