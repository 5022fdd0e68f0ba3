/*
 * check.c - see check.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/check.h"
#include "util/buf.h"
#include "util/mem.h"

const char *check_status_name(enum check_status s)
{
	switch (s) {
	case CHECK_OK: return "ok";
	case CHECK_WARN: return "warn";
	case CHECK_FAIL: return "fail";
	}
	return "?";
}

void check_rows_init(struct check_rows *r)
{
	r->v = NULL;
	r->n = r->alloc = 0;
}

void check_rows_release(struct check_rows *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->v[i].check);
		free(r->v[i].object);
		free(r->v[i].message);
		free(r->v[i].prevents);
	}
	free(r->v);
	check_rows_init(r);
}

void check_rows_add(struct check_rows *r, const char *check, const char *object,
                    enum check_status status, const char *prevents, const char *fmt, ...)
{
	struct check_row *row;
	struct buf msg;
	va_list ap;

	buf_init(&msg, 4096);
	va_start(ap, fmt);
	if (buf_vaddf(&msg, fmt, ap) < 0)
		buf_adds(&msg, "(message too long)");
	va_end(ap);
	XGROW(r->v, r->alloc, r->n + 1);
	row = &r->v[r->n++];
	row->check = xstrdup(check);
	row->object = xstrdup(object);
	row->status = status;
	row->message = buf_detach(&msg, NULL);
	row->prevents = xstrdup(prevents ? prevents : "");
}

enum check_status check_rows_worst(const struct check_rows *r)
{
	enum check_status w = CHECK_OK;
	size_t i;

	for (i = 0; i < r->n; i++)
		if (r->v[i].status > w)
			w = r->v[i].status;
	return w;
}
