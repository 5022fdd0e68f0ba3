/*
 * mem.h - allocation that never returns NULL.
 *
 * Out of memory aborts with the size in the message: the journal makes
 * every step resumable, so dying is the simplest correct answer.
 * xfree_secret() wipes a buffer that held a secret before freeing it.
 */
#ifndef FERRY_UTIL_MEM_H
#define FERRY_UTIL_MEM_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s); /* NULL in, NULL out */
char *xstrndup(const char *s, size_t n);
__attribute__((format(printf, 1, 2))) char *xasprintf(const char *fmt, ...);

/* Grows *arr (of *alloc elements of size elsize) to hold at least n. */
void *xgrow(void *arr, size_t *alloc, size_t n, size_t elsize);
#define XGROW(arr, alloc, n) ((arr) = xgrow((arr), &(alloc), (n), sizeof(*(arr))))

/* qsort(3) that accepts base == NULL with n == 0 (qsort itself must not be
 * given NULL, C11 §7.22.5). */
void xqsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));

/* explicit_bzero over len bytes of p (or strlen(p) if len is 0), then free. */
void xfree_secret(char *p, size_t len);

#endif
