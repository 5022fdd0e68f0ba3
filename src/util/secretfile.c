/*
 * secretfile.c - see secretfile.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "util/mem.h"
#include "util/secretfile.h"

int secretfile_create(struct secretfile *sf, const char *prefix, const char *name, const char *text,
                      size_t len, struct ferry_error *err)
{
	const char *tmp = getenv("TMPDIR");
	int fd, rc = 0;

	memset(sf, 0, sizeof(*sf));
	sf->dir = xasprintf("%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
	if (!mkdtemp(sf->dir)) {
		rc = ferry_error_set(err, FERRY_EIO, "check TMPDIR",
		                     "cannot make a private folder for a password file: %s",
		                     strerror(errno));
		free(sf->dir);
		sf->dir = NULL;
		return rc;
	}
	sf->path = xasprintf("%s/%s", sf->dir, name);
	fd = open(sf->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		rc = ferry_error_set(err, FERRY_EIO, "check TMPDIR",
		                     "cannot write a password file in %s: %s", sf->dir,
		                     strerror(errno));
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		secretfile_remove(sf);
	return rc;
}

void secretfile_remove(struct secretfile *sf)
{
	if (!sf)
		return;
	if (sf->path) {
		int fd = open(sf->path, O_WRONLY | O_CLOEXEC);
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0) {
			char *zero = xcalloc(1, (size_t)st.st_size);
			if (write(fd, zero, (size_t)st.st_size) < 0)
				log_debug("password file: cannot wipe: %s", strerror(errno));
			free(zero);
		}
		if (fd >= 0)
			close(fd);
		unlink(sf->path);
	}
	if (sf->dir)
		rmdir(sf->dir);
	free(sf->path);
	free(sf->dir);
	sf->path = sf->dir = NULL;
}
