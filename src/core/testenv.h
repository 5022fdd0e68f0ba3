/*
 * testenv.h - the environment variables that change what ferry does, for
 * the tests only: a fake clock, crash and failure injection.
 *
 *	FERRY_NOW       ferry's wall clock for schedules (util/timeutil.c)
 *	FERRY_CRASH_AT  SIGKILL at a named step (core/engine.c)
 *	FERRY_FAIL_AT   a named step returns an error instead of acting
 *
 * A production run must never have one set by accident, so every command
 * says so loudly on stderr (src/main.c prints what testenv_describe()
 * writes).  Its table (testenv.c) is the one place that names them: a new
 * test-only variable is added there.
 */
#ifndef FERRY_CORE_TESTENV_H
#define FERRY_CORE_TESTENV_H

#include <stddef.h>

/* Writes one warning line per variable that is set (not empty) into out,
 * "ferry: WARNING: FERRY_NOW=... is set: ...\n", truncated to len.
 * Returns how many are set. */
size_t testenv_describe(char *out, size_t len);

#endif
