/*
 * haproxy_api.h - a connection to HAProxy's runtime API (the "stats
 * socket"), shared by the traffic driver (weights, drain, stats) and the
 * switch driver (a TCP backend's server address).
 *
 *	struct haproxy_api *a;
 *	haproxy_api_open("10.77.0.2:9999", NULL, &a, &err);   connects (interactive)
 *	haproxy_api_run(a, "show info", &reply, &err);        one command
 *	haproxy_api_send(a, cmd, &err); ... haproxy_api_wait(a, deadline, &reply, &err);
 *	haproxy_api_close(a);
 *
 * send/wait split one command so that several balancers work at once;
 * one command is in flight per connection.  A reply is the command's
 * output without the framing; it lives until the next command.  HAProxy
 * answers errors as text, so callers judge every reply
 * (haproxy_check_empty_reply() and friends in traffic.h).
 *
 * Ownership: a struct haproxy_api owns its socket and reply buffer.
 */
#ifndef FERRY_TRAFFIC_HAPROXY_API_H
#define FERRY_TRAFFIC_HAPROXY_API_H

#include <stdbool.h>
#include <stdint.h>

#include "traffic/traffic.h"
#include "util/error.h"

struct haproxy_api;

/* Connects to admin ("IP:PORT", "[v6]:PORT" or a unix socket path); opt
 * may be NULL (TRAFFIC_OPTIONS_INIT).  FERRY_EINVAL (a bad address),
 * FERRY_EUNREACH, FERRY_EAUTH, FERRY_EPROTO (not a runtime API). */
int haproxy_api_open(const char *admin, const struct traffic_options *opt, struct haproxy_api **out,
                     struct ferry_error *err);
void haproxy_api_close(struct haproxy_api *a); /* NULL-safe */

/* cmd has no newline.  wait's deadline is time_mono_ms(); 0 means the
 * reply timeout of the options.  A missed deadline closes the connection
 * (the next send opens a new one). */
int haproxy_api_send(struct haproxy_api *a, const char *cmd, struct ferry_error *err);
int haproxy_api_wait(struct haproxy_api *a, int64_t deadline, const char **reply,
                     struct ferry_error *err);
int haproxy_api_run(struct haproxy_api *a, const char *cmd, const char **reply,
                    struct ferry_error *err);

const char *haproxy_api_admin(const struct haproxy_api *a);
/* The connection is open. */
bool haproxy_api_ok(const struct haproxy_api *a);

/* HAProxy names are letters, digits, '-', '_', '.' and ':' (configuration
 * manual 2.3); anything else could smuggle a second command (';' or a
 * newline) into the line.  FERRY_EINVAL naming kind ("backend"). */
int haproxy_check_name(const char *kind, const char *name, struct ferry_error *err);
int haproxy_check_target(const char *backend, const char *server, struct ferry_error *err);

#endif
