/*
 * secret.h - secrets held in environment variables, kept from children.
 *
 * A plan may name an environment variable that holds a secret (a TSIG
 * key, a database password, a webhook URL with its token).  Every child
 * ferry starts (hooks, pg_dump, psql, ssh, the host shells) would inherit
 * it and show it in /proc/PID/environ, so:
 *
 *  - secret_env_mark(NAME): the plan loader marks every variable the plan
 *    names as a secret, read yet or not;
 *  - secret_env_take(NAME, out): the only way ferry reads one.  The first
 *    take copies the value into a private store, wipes its bytes where they
 *    lie (the process's original environment block is what
 *    /proc/PID/environ shows) and removes the variable from the
 *    environment; a later take in the same run answers from the store;
 *  - secret_env_child(): the environment every spawn path gives a child:
 *    ferry's own without any marked variable.
 *
 *	secret_env_mark("PG_PASSWORD");           at plan load
 *	secret_env_take("PG_PASSWORD", &b);       when the secret is needed
 *	envp = secret_env_child();
 *	posix_spawnp(&pid, argv[0], &fa, &attr, argv, envp);
 *	free(envp);
 *
 * The store is process-wide and single-threaded, like the environment it
 * edits.  It owns its copies and wipes them in secret_env_reset().
 */
#ifndef FERRY_UTIL_SECRET_H
#define FERRY_UTIL_SECRET_H

#include <stdbool.h>

#include "util/buf.h"

/* Marks name as holding a secret: no child gets it.  Idempotent. */
void secret_env_mark(const char *name);

/* Whether name is marked (taken ones are marked). */
bool secret_env_is_marked(const char *name);

/*
 * Appends the value of the secret variable name to out, marks it, and
 * takes it out of the environment (see above).  Returns 0, FERRY_ENOTFOUND
 * when it is not set or empty (and was never taken), FERRY_EPROTO when out
 * would pass its maximum.
 */
int secret_env_take(const char *name, struct buf *out);

/*
 * A NULL-terminated copy of the environment's pointer vector without the
 * marked variables: pass it to posix_spawn, then free() the vector (not its
 * strings, which are the environment's).  Valid until the environment
 * changes.  Never NULL.
 */
char **secret_env_child(void);

/* Wipes and forgets every stored value and mark (tests, and ferry's exit). */
void secret_env_reset(void);

#endif
