/*
 * secretfile.h - a file that hands a secret to a child process (a password
 * file for pg_dump, an option file for mariadb-dump): never argv or the
 * environment, which ps and /proc/PID/environ show.
 *
 * secretfile_create() makes a private folder (0700, under TMPDIR or /tmp,
 * named PREFIX-XXXXXX) holding one file NAME (0600) with text, and fills
 * sf->path.  secretfile_remove() overwrites the file's content with zeros,
 * removes both and frees sf's strings; NULL-safe and idempotent.
 * Returns 0 or FERRY_EIO.
 */
#ifndef FERRY_UTIL_SECRETFILE_H
#define FERRY_UTIL_SECRETFILE_H

#include <stddef.h>

#include "util/error.h"

struct secretfile {
	char *dir;
	char *path;
};

int secretfile_create(struct secretfile *sf, const char *prefix, const char *name, const char *text,
                      size_t len, struct ferry_error *err);
void secretfile_remove(struct secretfile *sf);

#endif
