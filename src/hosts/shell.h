/*
 * shell.h - a persistent shell on a host, reached through its exec prefix.
 *
 * A host is reached by an argv prefix from the plan (hosts.*.exec):
 * [ssh, deploy@old.example.com], [ip, netns, exec, ferry-old], or nothing
 * for this machine.  host_shell_open() spawns PREFIX... sh once, with its
 * stdin, stdout and stderr on one socket, and keeps it; every command after
 * that is a line written to the already-running shell, so a command run
 * inside the cutover's write pause costs no process spawn, no ssh handshake,
 * only a round trip.
 *
 *	struct host_shell *sh;
 *	host_shell_open(&sh, argv, n, "host old", &err);
 *	host_shell_run(sh, "mv -f a.next a", deadline, &out, &status, &err);
 *	host_shell_free(sh);
 *
 * Each command is followed by `echo TOKEN $?` where TOKEN is unique per
 * command, and the reply is read (poll() against a deadline) until that
 * line: what came before it is the command's output (stdout and stderr),
 * bounded.  After a timeout the shell is unusable (its output is out of
 * step) and every later call fails with FERRY_ESTATE.
 *
 * Ownership: a struct host_shell owns its process and socket;
 * host_shell_free() closes stdin, waits briefly, then kills the process.
 * Commands are shell text: callers quote values with host_shell_quote().
 */
#ifndef FERRY_HOSTS_SHELL_H
#define FERRY_HOSTS_SHELL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/error.h"

struct host_shell;

/* Spawns prefix[0..n-1] + "sh" (n may be 0: a local sh).  what names the
 * host in messages.  Returns 0, FERRY_EIO (spawn failed) or
 * FERRY_EUNREACH (the shell did not answer a first echo within 30 s). */
int host_shell_open(struct host_shell **out, const char *const *prefix, size_t n, const char *what,
                    struct ferry_error *err);
void host_shell_free(struct host_shell *sh);

/* Runs cmd (one or more lines of sh) and waits for it until deadline_ms
 * (time_mono_ms(); 0 = none).  out (may be NULL) receives its output, up to
 * out->max.  *status (may be NULL) receives its exit status.  Returns 0 when
 * the command ran (whatever its status), FERRY_ETIMEDOUT, FERRY_EUNREACH
 * (the shell died), FERRY_ESTATE (the shell is unusable). */
int host_shell_run(struct host_shell *sh, const char *cmd, int64_t deadline_ms, struct buf *out,
                   int *status, struct ferry_error *err);

/* host_shell_run() in two halves, so that commands on several hosts run
 * at the same time: send writes the command (one in flight per shell),
 * wait reads its completion as host_shell_run() does. */
int host_shell_send(struct host_shell *sh, const char *cmd, struct ferry_error *err);
int host_shell_wait(struct host_shell *sh, int64_t deadline_ms, struct buf *out, int *status,
                    struct ferry_error *err);

/* Writes data to path on the host (through a here-document with a unique
 * delimiter), mode as octal text ("0644").  Returns 0 or an error; a
 * non-zero exit status is FERRY_EIO with the output in the message. */
int host_shell_write_file(struct host_shell *sh, const char *path, const char *data,
                          const char *mode, int64_t deadline_ms, struct ferry_error *err);

/* Returns s in single quotes for sh (malloc'd). */
char *host_shell_quote(const char *s);

/* true when sh is NULL or unusable (dead, or out of step after a
 * timeout): a caller with a spare shell switches to it. */
bool host_shell_broken(const struct host_shell *sh);

/* The pid of the local process (the shell or its prefix command). */
int host_shell_pid(const struct host_shell *sh);

#endif
