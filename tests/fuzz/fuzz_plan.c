/*
 * fuzz_plan.c - the plan loader (plan/plan.c over libfyaml) on any bytes:
 * loads, formats the diagnostics, frees.  Seeds: tests/plans/bad,
 * examples/shop.yaml and corpus/plan.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "plan/plan.h"
#include "util/buf.h"
#include "util/secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct plan_diags d = { 0 };
	struct ferry_error err = { 0 };
	struct plan *p = NULL;
	struct buf out;

	if (plan_load_string("fuzz.yaml", (const char *)data, size, &p, &d, &err) == 0)
		plan_free(p);
	buf_init(&out, 1 << 20);
	plan_diags_format(&d, &out);
	buf_release(&out);
	plan_diags_release(&d);
	/* the loader marks the secret variables a plan names */
	secret_env_reset();
	return 0;
}
