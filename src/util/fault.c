/*
 * fault.c - see fault.h.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fault.h"

/* How often each name has been reached, for NAME:N.  A handful of names
 * per process is all a test uses. */
#define FAULT_NAMES 64
static struct {
	char name[64];
	unsigned calls;
} counts[FAULT_NAMES];

static void (*hook)(const char *name, void *ctx);
static void *hook_ctx;

void fault_set_hook(void (*fn)(const char *name, void *ctx), void *ctx)
{
	hook = fn;
	hook_ctx = ctx;
}

void fault_reset(void)
{
	memset(counts, 0, sizeof(counts));
}

static unsigned count_call(const char *name)
{
	size_t i;

	for (i = 0; i < FAULT_NAMES; i++) {
		if (!counts[i].name[0]) {
			snprintf(counts[i].name, sizeof(counts[i].name), "%s", name);
			return ++counts[i].calls;
		}
		if (!strcmp(counts[i].name, name))
			return ++counts[i].calls;
	}
	return 0;
}

void fault_crash(const char *name, bool after)
{
	const char *at = getenv("FERRY_CRASH_AT");
	size_t n;

	if (!at || !*at)
		return;
	n = strlen(name);
	if (strncmp(at, name, n) != 0)
		return;
	if ((!after && at[n] == '\0') || (after && !strcmp(at + n, ":after"))) {
		fprintf(stderr, "ferry: FERRY_CRASH_AT=%s: crashing now\n", at);
		kill(getpid(), SIGKILL);
	}
}

/* Does one item of FERRY_FAIL_AT ("NAME" or "NAME:N", len bytes) name
 * name?  *want: its N, 0 for every call. */
static bool item_names(const char *item, size_t len, const char *name, unsigned *want)
{
	size_t n = strlen(name);
	char num[16], *end;
	long v;

	*want = 0;
	if (len < n || strncmp(item, name, n) != 0 || (len > n && item[n] != ':'))
		return false;
	if (len == n)
		return true;
	if (len - n - 1 == 0 || len - n - 1 >= sizeof(num))
		return false;
	memcpy(num, item + n + 1, len - n - 1);
	num[len - n - 1] = '\0';
	v = strtol(num, &end, 10);
	if (*end || v <= 0)
		return false;
	*want = (unsigned)v;
	return true;
}

int fault_fail(const char *name, struct ferry_error *err)
{
	const char *at = getenv("FERRY_FAIL_AT"), *p;
	unsigned call = 0, want;
	bool named = false, hit = false;
	size_t len;

	if (hook)
		hook(name, hook_ctx);
	if (!at || !*at)
		return 0;
	for (p = at; *p; p += len + (p[len] == ',')) {
		len = strcspn(p, ",");
		named = named || item_names(p, len, name, &want);
	}
	if (!named)
		return 0;
	call = count_call(name); /* once per call, however many items name it */
	for (p = at; *p && !hit; p += len + (p[len] == ',')) {
		len = strcspn(p, ",");
		hit = item_names(p, len, name, &want) && (!want || want == call);
	}
	if (!hit)
		return 0;
	fprintf(stderr, "ferry: FERRY_FAIL_AT=%s: failing %s (call %u)\n", at, name, call);
	return ferry_error_set(err, FERRY_EIO, "unset FERRY_FAIL_AT (a test variable)",
	                       "%s: injected failure (FERRY_FAIL_AT)", name);
}

int fault_point(const char *name, struct ferry_error *err)
{
	fault_crash(name, false);
	return fault_fail(name, err);
}
