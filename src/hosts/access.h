/*
 * access.h - can ferry reach a host through its exec prefix, and become
 * what the prefix says there (sudo)?  `ferry check`'s ssh and sudo rows.
 *
 * The plan's prefix is split at its first `sudo` word: the part before it
 * is the way in (ssh, ip netns exec, ...; nothing when sudo comes first)
 * and the whole prefix is the way to the user ferry works as.  Each part
 * runs `sh -s` with a one-line script on stdin, exactly as the probe and
 * the persistent shells run it, so a sudoers rule that allows ferry's
 * commands (sh, sh -s) and nothing else passes:
 *
 *	PREFIX-BEFORE-SUDO... sh -s   <<< "echo ferry-access $(id -un) $(id -u)"
 *	PREFIX... sh -s               <<< the same
 *
 * A failure keeps the command's own words: the first and last lines of
 * its stderr (ssh's "Permission denied (publickey).", "Host key
 * verification failed.", "Connection refused"; sudo's "a password is
 * required"), and a hint chosen from them.
 *
 *	struct hosts_access a;
 *	hosts_access_init(&a);
 *	hosts_access_check(&target, 15000, &a);
 *	... a.way.state, a.way.detail, a.sudo.state ...
 *	hosts_access_release(&a);
 *
 * Ownership: the result owns its strings; the target is borrowed.
 */
#ifndef FERRY_HOSTS_ACCESS_H
#define FERRY_HOSTS_ACCESS_H

#include <stdbool.h>
#include <stdint.h>

#include "hosts/exec.h"

enum hosts_access_state {
	HOSTS_ACCESS_NONE, /* not part of the prefix, or not tried */
	HOSTS_ACCESS_OK,
	HOSTS_ACCESS_WARN, /* works, with a caveat in detail */
	HOSTS_ACCESS_FAIL,
};

struct hosts_access_part {
	enum hosts_access_state state;
	char *detail;     /* one line for people: who ferry is there, or the error text */
	const char *hint; /* static; NULL when ok */
	int64_t elapsed_ms;
};

struct hosts_access {
	bool ssh;      /* the way in is ssh (its row is "ssh", else "exec") */
	char *command; /* the way in, for messages: "ssh ferryop@10.77.0.2" */
	struct hosts_access_part way;
	struct hosts_access_part sudo;
};

void hosts_access_init(struct hosts_access *a);
void hosts_access_release(struct hosts_access *a);

/* Runs both parts of t's prefix (t->nexec > 0), each within timeout_ms,
 * and fills a.  The sudo part is tried only when the prefix has a sudo
 * word and the way in works.  Never fails: what went wrong is in a. */
void hosts_access_check(const struct hosts_target *t, int64_t timeout_ms, struct hosts_access *a);

#endif
