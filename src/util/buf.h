/*
 * buf.h - a growable byte buffer with a maximum size.
 *
 * Everything that comes from outside (server replies, probe output, files)
 * is read into a struct buf, never a fixed array.  Every buffer is given a
 * maximum at init (curl's dynbuf rule): an append that would pass it fails
 * with FERRY_EPROTO and leaves the buffer as it was, so hostile input cannot
 * make ferry allocate without bound.  The data is always NUL-terminated.
 *
 *	struct buf b;
 *	buf_init(&b, 1 << 20);
 *	if (buf_addf(&b, "%s=%d", k, v) < 0) ...
 *	use(b.data, b.len);
 *	buf_release(&b);
 *
 * The buffer owns b.data; buf_detach() hands it to the caller.
 * buf_release_secret() wipes before freeing.
 */
#ifndef FERRY_UTIL_BUF_H
#define FERRY_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data; /* NUL-terminated; "" (static) until first append */
	size_t len;
	size_t alloc;
	size_t max;
};

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
void buf_release_secret(struct buf *b);
void buf_reset(struct buf *b); /* len = 0, keeps the memory */

/* Each returns 0, or FERRY_EPROTO when the result would exceed max. */
int buf_add(struct buf *b, const void *data, size_t len);
int buf_adds(struct buf *b, const char *s);
int buf_addch(struct buf *b, char c);
__attribute__((format(printf, 2, 3))) int buf_addf(struct buf *b, const char *fmt, ...);
int buf_vaddf(struct buf *b, const char *fmt, va_list ap);

/* Reads all of fd into b. Returns 0, FERRY_EIO or FERRY_EPROTO (too big). */
int buf_read_fd(struct buf *b, int fd);
/* Reads a whole file. Returns 0, FERRY_ENOTFOUND, FERRY_EIO or FERRY_EPROTO. */
int buf_read_file(struct buf *b, const char *path);

/* Returns the data (caller frees) and re-inits b with the same max. */
char *buf_detach(struct buf *b, size_t *len);

#endif
