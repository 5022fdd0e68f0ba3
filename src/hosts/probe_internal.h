/*
 * probe_internal.h - what probe.c and probe_sockets.c share; the public
 * interface is probe.h.
 */
#ifndef FERRY_HOSTS_PROBE_INTERNAL_H
#define FERRY_HOSTS_PROBE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "hosts/probe.h"
#include "util/error.h"

/* Appends the fact (cat, key, value) to fp, copying key and value. */
void hosts_fact_add(struct hosts_fingerprint *fp, enum hosts_cat cat, const char *key,
                    const char *value);

/* The sockets seen in the probe's socket sections (probe_sockets.c).
 * Zero-initialise it; hosts_sockets_release() frees what it holds. */
struct hosts_sockets {
	struct listen_sock *ls;
	size_t nls, als;
	struct estab_sock *es;
	size_t nes, aes;
	struct ep *own; /* the host's own addresses (port 0), from its sockets */
	size_t nown, aown;
};

/* Files one line of the ss (ss true) or proctcp section: key is the
 * protocol, value the rest of the line.  Sockets in states other than
 * listening and established are skipped.  Returns 0, or FERRY_EPROTO for
 * a malformed line (the message names lineno, never the value). */
int hosts_sockets_line(struct hosts_sockets *c, size_t lineno, bool ss, const char *key,
                       const char *value, struct ferry_error *err);

/* Adds the derived facts to fp: `ports` (each listening port with its
 * widest bind: loopback, address or any) and `conns` (each outbound peer
 * with its connection count; peers on loopback, our own addresses and
 * connections to our listening ports are left out).  Sorts c's arrays. */
void hosts_sockets_facts(struct hosts_sockets *c, struct hosts_fingerprint *fp);

/* Frees what c holds and zeroes it. */
void hosts_sockets_release(struct hosts_sockets *c);

#endif
