/*
 * lab_conf.h - what the lab's programs share to reach MariaDB and Redis:
 * a URL naming a server and an account (no password), and a password file.
 *
 * The URL is SCHEME://[USER@]HOST[:PORT][/DATABASE] (mariadb://shop@
 * 127.0.0.1:3307/shop, redis://ferry@10.77.0.2:6379): the same shape as a
 * ferry plan's source and target.  A password is never in a URL, an argv or
 * the environment: it comes from a file (lab/up writes them 0600 under
 * $LAB_STATE/secrets), read once with lab_password_read().
 */
#ifndef FERRY_LAB_CONF_H
#define FERRY_LAB_CONF_H

#include <stddef.h>

#include "util/error.h"

struct lab_url {
	char user[64];
	char host[256];
	unsigned port;
	char database[64];
	char shown[400]; /* SCHEME://USER@HOST:PORT/DATABASE, for messages */
};

/* Parses s, which must start with SCHEME://; port defaults to
 * default_port.  Returns 0 or FERRY_EINVAL. */
int lab_url_parse(const char *s, const char *scheme, unsigned default_port, struct lab_url *u,
                  struct ferry_error *err);

/* Reads the first line of path (the password, without its newline) into
 * out.  Returns 0, FERRY_EIO or FERRY_EINVAL (empty, too long). */
int lab_password_read(const char *path, char *out, size_t len, struct ferry_error *err);

/* Called with each id a scan finds; arg is the caller's. */
typedef void (*lab_id_fn)(void *arg, const char *id);

#endif
