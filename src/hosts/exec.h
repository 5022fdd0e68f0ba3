/*
 * exec.h - running one command on a host through the plan's exec prefix.
 *
 * A host is reached by an argv prefix, exactly as written in the plan:
 * `[ssh, deploy@old]`, `[ip, netns, exec, ferry-new]`, or none (this
 * machine).  hosts_exec() runs PREFIX... ARGV... as a child in its own
 * process group, feeds it stdin from a buffer, collects stdout and stderr
 * into bounded buffers and returns its exit status.  At the deadline the
 * whole process group is killed (SIGKILL), so an ssh that hangs or a
 * remote `sleep` left behind by a shell cannot outlive the call.
 *
 * Nothing is installed on the hosts: callers send a POSIX sh script on
 * stdin and run `PREFIX... sh -s` (see probe.h, egress.h).
 *
 *	struct hosts_exec_result r;
 *	hosts_exec_result_init(&r);
 *	rc = hosts_exec(&target, argv, script, len, 10000, &r, &err);
 *	... r.status, r.out.data ...
 *	hosts_exec_result_release(&r);
 *
 * Ownership: the result owns its two buffers; the target and argv are
 * borrowed for the call only.
 */
#ifndef FERRY_HOSTS_EXEC_H
#define FERRY_HOSTS_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/error.h"

#define HOSTS_EXEC_OUT_MAX (4u << 20)  /* stdout: 4 MiB */
#define HOSTS_EXEC_ERR_MAX (64u << 10) /* stderr: 64 KiB */

/* How to reach a host: a name for messages ("old", "new", "local"), the
 * argv prefix (n == 0: this machine) and the address others connect to. */
struct hosts_target {
	const char *name;
	char *const *exec; /* borrowed; exec[0..nexec-1] */
	size_t nexec;
	const char *address; /* may be NULL when unknown */
};

struct hosts_exec_result {
	struct buf out; /* at most HOSTS_EXEC_OUT_MAX bytes */
	struct buf err; /* at most HOSTS_EXEC_ERR_MAX bytes */
	int status;     /* exit status 0..255; 128 + N if killed by signal N; -1 if not run */
	bool timed_out;
	int64_t elapsed_ms;
};

void hosts_exec_result_init(struct hosts_exec_result *r);
void hosts_exec_result_release(struct hosts_exec_result *r);

/*
 * Runs target->exec... argv... (argv NULL-terminated, at least one element)
 * with stdin = in[0..inlen) then EOF, and waits at most timeout_ms.
 *
 * Returns 0 when the command ran to its end, whatever its exit status (the
 * caller judges r->status).  Returns FERRY_EINVAL for an empty command,
 * FERRY_ENOTFOUND when the first word cannot be run (not installed),
 * FERRY_ETIMEDOUT when the deadline passed (the group is killed; r holds
 * what was read so far and r->timed_out is set), FERRY_EPROTO when stdout
 * or stderr passed its limit (the group is killed), FERRY_EIO on a local
 * pipe or spawn failure.  err names the host and the command's first word.
 */
int hosts_exec(const struct hosts_target *target, const char *const *argv, const char *in,
               size_t inlen, int64_t timeout_ms, struct hosts_exec_result *r,
               struct ferry_error *err);

/* Appends s to b quoted for a POSIX shell ('...' with ' as '\''). */
int hosts_sh_quote(struct buf *b, const char *s);

#endif
