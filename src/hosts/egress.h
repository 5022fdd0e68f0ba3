/*
 * egress.h - can a host reach the third parties its application talks to?
 *
 * A firewall that lets the old server reach the payment provider but not
 * the new one is invisible until the first payment after the cutover.
 * hosts_egress_run() sends probe.sh in egress mode to a host (through its
 * exec prefix): the host opens a TCP connection to every endpoint in
 * parallel (bash's /dev/tcp under `timeout`, else `nc -z -w`, else it says
 * it cannot test) and prints one line per endpoint:
 *	egress <TAB> HOST:PORT <TAB> STATE: DETAIL
 * STATE is ok, refused, timeout, unreachable, dns, error or cannot.
 * The check (checks.c) runs it on both hosts and fails each endpoint the
 * old host reaches and the new one does not.
 *
 * Endpoints are "HOST:PORT" with HOST a name, an IPv4 address or a
 * bracketed IPv6 address.  Ownership: struct hosts_egress owns its strings.
 */
#ifndef FERRY_HOSTS_EGRESS_H
#define FERRY_HOSTS_EGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hosts/exec.h"
#include "util/error.h"

#define HOSTS_EGRESS_MAX 256 /* endpoints per run */

enum hosts_egress_state {
	HOSTS_EGRESS_OK,
	HOSTS_EGRESS_REFUSED,
	HOSTS_EGRESS_TIMEOUT,
	HOSTS_EGRESS_UNREACHABLE,
	HOSTS_EGRESS_DNS,
	HOSTS_EGRESS_ERROR,
	HOSTS_EGRESS_CANNOT /* no tool on the host to test with */
};

/* "ok", "refused", "timed out", "unreachable", "name not resolved",
 * "error", "cannot test" */
const char *hosts_egress_state_name(enum hosts_egress_state s);

struct hosts_egress_result {
	char *endpoint;
	enum hosts_egress_state state;
	char *detail; /* the tool's message, one line, may be "" */
};

/* Results in the order of the endpoints given. */
struct hosts_egress {
	struct hosts_egress_result *v;
	size_t n, alloc;
};

void hosts_egress_init(struct hosts_egress *e);
void hosts_egress_release(struct hosts_egress *e);

/* Returns true if s is a valid "HOST:PORT" endpoint. */
bool hosts_endpoint_valid(const char *s);

/*
 * Tries every endpoint from target, each with connect_timeout_ms (whole
 * seconds on the host, at least 1), all in parallel.  Appends one result
 * per endpoint to out.  Returns 0, FERRY_EINVAL for an invalid endpoint or
 * more than HOSTS_EGRESS_MAX, the hosts_exec() error when the host cannot
 * be reached (a deadline passing is not one: unanswered endpoints are
 * reported as timed out), FERRY_EPROTO for output that is not ours.
 */
int hosts_egress_run(const struct hosts_target *target, char *const *endpoints, size_t n,
                     int64_t connect_timeout_ms, struct hosts_egress *out, struct ferry_error *err);

/* The parsing half of hosts_egress_run(), for tests: output of the script
 * for endpoints[0..n) into out. */
int hosts_egress_parse(const char *data, size_t len, char *const *endpoints, size_t n,
                       struct hosts_egress *out, struct ferry_error *err);

#endif
