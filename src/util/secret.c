/*
 * secret.c - see secret.h.  A small table of marked names, each with the
 * value taken from the environment (NULL until taken).  Linear search: a
 * plan names a handful of variables.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"

extern char **environ;

struct secret_var {
	char *name;
	char *value; /* NULL until taken */
};

static struct secret_var *vars;
static size_t nvars, avars;

static struct secret_var *find(const char *name)
{
	size_t i;

	for (i = 0; i < nvars; i++)
		if (!strcmp(vars[i].name, name))
			return &vars[i];
	return NULL;
}

static struct secret_var *mark(const char *name)
{
	struct secret_var *v = find(name);

	if (v)
		return v;
	XGROW(vars, avars, nvars + 1);
	v = &vars[nvars++];
	v->name = xstrdup(name);
	v->value = NULL;
	return v;
}

void secret_env_mark(const char *name)
{
	if (name && *name)
		mark(name);
}

bool secret_env_is_marked(const char *name)
{
	return name && find(name) != NULL;
}

int secret_env_take(const char *name, struct buf *out)
{
	struct secret_var *v = mark(name);
	char *cur = getenv(name);

	if (cur) {
		/* A value set again after the first take wins, as a fresh
		 * getenv() would have it. */
		if (*cur) {
			if (v->value)
				xfree_secret(v->value, 0);
			v->value = xstrdup(cur);
		}
		/* getenv() points into "NAME=value": wipe it in place before
		 * the pointer leaves environ, since the original block stays
		 * readable in /proc/PID/environ after unsetenv(). */
		explicit_bzero(cur, strlen(cur));
		unsetenv(name);
	}
	if (!v->value)
		return FERRY_ENOTFOUND;
	return buf_adds(out, v->value);
}

char **secret_env_child(void)
{
	size_t n = 0, i, k = 0;
	char **env;

	while (environ && environ[n])
		n++;
	env = xcalloc(n + 1, sizeof(*env));
	for (i = 0; i < n; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
		bool secret = false;
		size_t j;

		for (j = 0; j < nvars && !secret; j++)
			secret = strlen(vars[j].name) == len &&
			         !memcmp(vars[j].name, environ[i], len);
		if (!secret)
			env[k++] = environ[i];
	}
	env[k] = NULL;
	return env;
}

void secret_env_reset(void)
{
	size_t i;

	for (i = 0; i < nvars; i++) {
		free(vars[i].name);
		if (vars[i].value)
			xfree_secret(vars[i].value, 0);
	}
	free(vars);
	vars = NULL;
	nvars = avars = 0;
}
