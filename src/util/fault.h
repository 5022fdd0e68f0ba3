/*
 * fault.h - fault injection for the tests (STYLE: SQLite's test6.c): make a
 * named step crash or fail, so that the error paths run on purpose.
 *
 *	FERRY_CRASH_AT=NAME        SIGKILL at fault_point(NAME), before the step
 *	FERRY_CRASH_AT=NAME:after  SIGKILL at fault_crash(NAME, true), after it
 *	FERRY_FAIL_AT=NAME         every fault_point(NAME) returns an error
 *	FERRY_FAIL_AT=NAME:N       only the N-th call of NAME (1-based) fails;
 *	                           a step that fans out to several poolers
 *	                           calls it once per pooler, in order
 *	FERRY_FAIL_AT=A,B:2,...    several of the above (a failure, then one
 *	                           in the undo that follows it)
 *
 * A step calls fault_point() where it would act: on an injected failure it
 * returns FERRY_EIO with "NAME: injected failure (FERRY_FAIL_AT)" and the
 * step must behave as if its action had failed (it does not act).  Names
 * are the journal's step names ("dns.set_ttl", "db.fence",
 * "db.undo.resume", "db.recover.point").
 *
 * These variables change what a production binary does, so ferry warns on
 * stderr when one is set (core/testenv.c).
 */
#ifndef FERRY_UTIL_FAULT_H
#define FERRY_UTIL_FAULT_H

#include <stdbool.h>
#include <stdio.h>

#include "util/error.h"

/* SIGKILLs the process when FERRY_CRASH_AT names this point (NAME, or
 * NAME:after when after is true). */
void fault_crash(const char *name, bool after);

/* 0, or FERRY_EIO with err filled when FERRY_FAIL_AT names this call. */
int fault_fail(const char *name, struct ferry_error *err);

/* fault_crash(name, false), then fault_fail(name, err). */
int fault_point(const char *name, struct ferry_error *err);

/* For the tests that drive the switch in process: fn (may be NULL) is
 * called with the name at every fault_fail() (every call a step makes,
 * per database or endpoint), before any injected failure, so a test can act at an exact step (stop a server inside
 * the pause).  fault_reset() forgets the calls counted for NAME:N. */
void fault_set_hook(void (*fn)(const char *name, void *ctx), void *ctx);
void fault_reset(void);

#endif
