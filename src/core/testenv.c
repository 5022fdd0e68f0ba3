/*
 * testenv.c - the test-only environment variables (see testenv.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/testenv.h"

static const struct {
	const char *name;
	const char *effect;
} vars[] = {
	{ "FERRY_NOW", "the clock is fake: every time gate and window uses it" },
	{ "FERRY_CRASH_AT", "ferry kills itself (SIGKILL) at the named step" },
	{ "FERRY_FAIL_AT", "the named step fails on purpose" },
};

size_t testenv_describe(char *out, size_t len)
{
	size_t i, n = 0, used = 0;

	if (len)
		out[0] = '\0';
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i].name);
		int w;

		if (!v || !*v)
			continue;
		n++;
		if (used >= len)
			continue;
		w = snprintf(out + used, len - used,
		             "ferry: WARNING: %s=%.64s is set: %s. It is for tests only; "
		             "unset it for a real migration.\n",
		             vars[i].name, v, vars[i].effect);
		if (w > 0)
			used += (size_t)w;
	}
	return n;
}
