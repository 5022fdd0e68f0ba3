/*
 * lab_conf.c - URLs and password files of the lab's programs (lab_conf.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab_conf.h"

static int copy_part(char *out, size_t len, const char *s, size_t n)
{
	if (n >= len)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

int lab_url_parse(const char *s, const char *scheme, unsigned default_port, struct lab_url *u,
                  struct ferry_error *err)
{
	size_t sl = strlen(scheme);
	const char *p, *at, *slash, *colon, *end;
	char *e;
	long port = default_port;

	memset(u, 0, sizeof(*u));
	if (strncmp(s, scheme, sl) != 0 || strncmp(s + sl, "://", 3) != 0)
		goto bad;
	p = s + sl + 3;
	slash = strchr(p, '/');
	end = slash ? slash : p + strlen(p);
	at = memchr(p, '@', (size_t)(end - p));
	if (at) {
		if (memchr(p, ':', (size_t)(at - p)))
			return ferry_error_set(err, FERRY_EINVAL,
			                       "give the password in a password file, not the URL",
			                       "%s URL: a password in the URL", scheme);
		if (copy_part(u->user, sizeof(u->user), p, (size_t)(at - p)) < 0)
			goto bad;
		p = at + 1;
	}
	colon = memchr(p, ':', (size_t)(end - p));
	if (copy_part(u->host, sizeof(u->host), p, (size_t)((colon ? colon : end) - p)) < 0 ||
	    !u->host[0])
		goto bad;
	if (colon) {
		errno = 0;
		port = strtol(colon + 1, &e, 10);
		if (errno || e != end || e == colon + 1 || port < 1 || port > 65535)
			goto bad;
	}
	u->port = (unsigned)port;
	if (slash && copy_part(u->database, sizeof(u->database), slash + 1, strlen(slash + 1)) < 0)
		goto bad;
	snprintf(u->shown, sizeof(u->shown), "%s://%s%s%s:%u%s%s", scheme, u->user,
	         u->user[0] ? "@" : "", u->host, u->port, u->database[0] ? "/" : "", u->database);
	return 0;
bad:
	return ferry_error_set(err, FERRY_EINVAL, NULL,
	                       "'%s' is not a %s://[USER@]HOST[:PORT][/DATABASE] URL", s, scheme);
}

int lab_password_read(const char *path, char *out, size_t len, struct ferry_error *err)
{
	FILE *fp = fopen(path, "r");
	size_t n;

	if (!fp)
		return ferry_error_set(err, FERRY_EIO, NULL, "password file %s: %s", path,
		                       strerror(errno));
	if (!fgets(out, (int)len, fp))
		out[0] = '\0';
	fclose(fp);
	n = strcspn(out, "\r\n");
	if (out[n] == '\0' && n == len - 1)
		return ferry_error_set(err, FERRY_EINVAL, NULL, "password file %s: line too long",
		                       path);
	out[n] = '\0';
	if (n == 0)
		return ferry_error_set(err, FERRY_EINVAL, NULL, "password file %s: empty", path);
	return 0;
}
