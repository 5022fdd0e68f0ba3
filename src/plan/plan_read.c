/*
 * plan_read.c - typed values on top of the reader of plan.c: strings,
 * durations, percentages, numbers, booleans, lists of checked strings,
 * one-of-a-list names, connection strings and URLs (refused when they carry
 * a password), and secret references (a file or an environment variable).
 *
 * Each function reads one key of a struct plan_sect, reports what is wrong
 * with it (path and place) and returns "absent" (NULL, false, -1), so that
 * the section parsers in plan_sections.c read as a list of keys.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plan/plan_internal.h"
#include "util/mem.h"
#include "util/secret.h"
#include "util/timeutil.h"

char *plan_get_str(struct plan_sect *s, const char *key, bool required, struct plan_pos *posp)
{
	struct plan_pos pos;
	char path[200];
	struct fy_node *n = plan_sect_get(s, key, required, &pos, path, sizeof(path));

	if (posp)
		*posp = pos;
	if (!n)
		return NULL;
	return plan_scalar_dup(s->w, n, path, pos, "a string");
}

/* A plain scalar (numbers and booleans are not quoted in YAML). */
static char *get_plain(struct plan_sect *s, const char *key, const char *expected,
                       struct plan_pos *pos, char *path, size_t pathlen)
{
	struct fy_node *n = plan_sect_get(s, key, false, pos, path, pathlen);

	if (!n)
		return NULL;
	return plan_scalar_dup(s->w, n, path, *pos, expected);
}

bool plan_get_duration(struct plan_sect *s, const char *key, int64_t *ms)
{
	struct plan_pos pos;
	char path[200], *v = get_plain(s, key, "a duration", &pos, path, sizeof(path));
	int64_t d;
	bool ok = false;

	if (!v)
		return false;
	if (duration_parse(v, &d) < 0)
		plan_ctx_error(&s->w->c, pos, "write a number and a unit: 800ms, 90s, 30m, 48h, 3d",
		               "%s: '%.64s' is not a duration", path, v);
	else if (d <= 0)
		plan_ctx_error(&s->w->c, pos, NULL, "%s: must be longer than 0", path);
	else
		ok = true;
	if (ok)
		*ms = d;
	free(v);
	return ok;
}

bool plan_pct_value(struct plan_walk *w, const char *v, const char *path, struct plan_pos pos,
                    double *out)
{
	if (percent_parse(v, out) < 0) {
		plan_ctx_error(&w->c, pos, "write a number and '%', e.g. 5% or 0.5%",
		               "%s: '%.64s' is not a percentage between 0%% and 100%%", path, v);
		return false;
	}
	return true;
}

bool plan_get_pct(struct plan_sect *s, const char *key, double *pct)
{
	struct plan_pos pos;
	char path[200], *v = get_plain(s, key, "a percentage", &pos, path, sizeof(path));
	bool ok;

	if (!v)
		return false;
	ok = plan_pct_value(s->w, v, path, pos, pct);
	free(v);
	return ok;
}

bool plan_get_int(struct plan_sect *s, const char *key, long min, long max, long *out)
{
	struct plan_pos pos;
	char path[200];
	struct fy_node *n = plan_sect_get(s, key, false, &pos, path, sizeof(path));

	return n && plan_int_value(s->w, n, path, pos, min, max, out);
}

bool plan_get_bool(struct plan_sect *s, const char *key, bool *out)
{
	struct plan_pos pos;
	char path[200], *v = get_plain(s, key, "true or false", &pos, path, sizeof(path));
	bool ok = true;

	if (!v)
		return false;
	/* YAML 1.2 core schema booleans only: no yes/no/on/off surprises */
	if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE"))
		*out = true;
	else if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE"))
		*out = false;
	else {
		plan_ctx_error(&s->w->c, pos, NULL, "%s: '%.64s' is not true or false", path, v);
		ok = false;
	}
	free(v);
	return ok;
}

/* ---- lists of strings, checked ---- */

void plan_strv_item(struct plan_walk *w, struct fy_node *n, const char *path, struct plan_pos pos,
                    size_t i, void *arg)
{
	struct plan_strv_arg *a = arg;
	char *v = plan_scalar_dup(w, n, path, pos, "a string"), *host = NULL, *norm;
	const char *why = NULL;
	uint16_t port;

	(void)i;
	if (!v)
		return;
	switch (a->check) {
	case PLAN_STR_ANY:
		if (!*v) {
			plan_ctx_error(&w->c, pos, NULL, "%s: empty string", path);
			free(v);
			return;
		}
		break;
	case PLAN_STR_IP_PORT53:
	case PLAN_STR_HOST_PORT:
		if (!plan_hostport(v, a->check == PLAN_STR_IP_PORT53,
		                   a->check == PLAN_STR_IP_PORT53 ? 53 : 0, &host, &port, &why)) {
			plan_ctx_error(&w->c, pos,
			               a->check == PLAN_STR_IP_PORT53
			                       ? "write ADDRESS:PORT, e.g. 10.0.0.1:53"
			                       : "write HOST:PORT, e.g. api.example:443",
			               "%s: '%.64s': %s", path, v, why);
			free(v);
			return;
		}
		free(host);
		break;
	case PLAN_STR_DNS_NAME:
		norm = plan_dns_name(v, &why);
		if (!norm) {
			plan_ctx_error(&w->c, pos, NULL, "%s: '%.64s' is %s", path, v, why);
			free(v);
			return;
		}
		free(v);
		v = norm;
		break;
	}
	plan_strv_push(a->out, v);
}

long plan_get_strv(struct plan_sect *s, const char *key, bool required, struct plan_strv *out,
                   enum plan_str_check check)
{
	struct plan_strv_arg a = { out, check };

	return plan_get_list(s, key, required, plan_strv_item, &a);
}

/* ---- secrets ---- */

static void check_secret_file(struct plan_walk *w, const char *file, struct plan_pos pos)
{
	char *path =
	        file[0] == '/' || !w->p->dir ? xstrdup(file) : xasprintf("%s/%s", w->p->dir, file);
	struct stat st;

	/* Where the secrets are not (a laptop, the tests) a missing file is
	 * a warning; the commands that use them load with
	 * PLAN_LOAD_SECRET_FILES, and this is the one report of it. */
	if (stat(path, &st) < 0 && (w->flags & PLAN_LOAD_SECRET_FILES))
		plan_ctx_error(&w->c, pos, "create it (mode 0600), or correct the path",
		               "secret file %s does not exist", path);
	else if (stat(path, &st) < 0)
		plan_ctx_warn(&w->c, pos, "create it before 'ferry check' or 'ferry run'",
		              "secret file %s does not exist", path);
	else if (!S_ISREG(st.st_mode))
		plan_ctx_warn(&w->c, pos, NULL, "secret file %s is not a regular file", path);
	else if (st.st_mode & 077)
		plan_ctx_warn(&w->c, pos, "chmod 600 it",
		              "secret file %s can be read by group or others", path);
	free(path);
}

static bool env_name_ok(const char *s)
{
	const char *p;

	if (!*s || isdigit((unsigned char)*s))
		return false;
	for (p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return false;
	return true;
}

/* Reads file_key / env_key of s into out: exactly one must be there. */
void plan_get_secret_ref(struct plan_sect *s, const char *file_key, const char *env_key,
                         struct plan_secret *out)
{
	struct plan_pos fpos, epos;

	if (!s->map)
		return;
	out->file = plan_get_str(s, file_key, false, &fpos);
	out->env = plan_get_str(s, env_key, false, &epos);
	if (out->file && out->env) {
		plan_ctx_error(&s->w->c, epos, NULL, "%s: give either '%s' or '%s', not both",
		               s->path, file_key, env_key);
	} else if (!out->file && !out->env) {
		if (!plan_sect_has(s, file_key) && !plan_sect_has(s, env_key))
			plan_ctx_error(&s->w->c, s->pos, "secrets are never written in the plan",
			               "%s: missing '%s' or '%s'", s->path, file_key, env_key);
	} else if (out->file) {
		if (!*out->file)
			plan_ctx_error(&s->w->c, fpos, NULL, "%s.%s: empty path", s->path,
			               file_key);
		else
			check_secret_file(s->w, out->file, fpos);
	} else if (!env_name_ok(out->env)) {
		plan_ctx_error(&s->w->c, epos, NULL,
		               "%s.%s: '%.64s' is not an environment variable name", s->path,
		               env_key, out->env);
	} else {
		/* from now on no child of ferry inherits it (util/secret.h) */
		secret_env_mark(out->env);
	}
}

void plan_inline_secret(struct plan_walk *w, struct plan_pos pos, const char *path)
{
	plan_ctx_error(&w->c, pos, "a secret in the plan ends up in backups, tickets and terminals",
	               "%s: inline secret: put it in a file and use secret_file / password: "
	               "{file: ...}",
	               path);
}

/* Every key that names a secret and holds a value, anywhere in the tree.
 * Aliases are not followed: their anchor is scanned where it stands. */
char *plan_get_conninfo(struct plan_sect *s, const char *key, bool required)
{
	struct plan_pos pos;
	char *v = plan_get_str(s, key, required, &pos);

	if (v && plan_conninfo_has_password(v)) {
		char path[200];

		plan_join_path(path, sizeof(path), s->path, key);
		plan_inline_secret(s->w, pos, path);
	} else if (v && !*v) {
		plan_ctx_error(&s->w->c, pos, NULL, "%s.%s: empty connection string", s->path, key);
	}
	return v;
}

void plan_url_check(struct plan_walk *w, const char *url, const char *path, struct plan_pos pos,
                    bool ref_ok)
{
	/* The value is not echoed: a URL may hold a token in any part. */
	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
		plan_ctx_error(&w->c, pos, "write the whole URL: https://HOST/PATH",
		               "%s: not an http:// or https:// URL", path);
	else if (plan_url_has_secret(url))
		plan_ctx_error(&w->c, pos,
		               ref_ok ? "keep the whole URL in a file (url_file: PATH, mode 0600) "
		                        "or an environment variable (url_env: NAME)"
		                      : "a secret in the plan ends up in backups, tickets and "
		                        "terminals",
		               "%s: inline secret: the URL holds a password or a token", path);
}

char *plan_get_url(struct plan_sect *s, const char *key, bool required)
{
	struct plan_pos pos;
	char path[200], *v = plan_get_str(s, key, required, &pos);
	size_t i;
	bool ref_ok = false;

	if (!v)
		return NULL;
	plan_join_path(path, sizeof(path), s->path, key);
	for (i = 0; s->keys && s->keys[i]; i++)
		ref_ok = ref_ok || !strcmp(s->keys[i], "url_file");
	plan_url_check(s->w, v, path, pos, ref_ok);
	return v;
}

void plan_get_url_or_ref(struct plan_sect *s, bool required, char **url, struct plan_secret *ref)
{
	int n;

	if (!s->map)
		return;
	n = plan_sect_has(s, "url") + plan_sect_has(s, "url_file") + plan_sect_has(s, "url_env");
	if (n == 0 && required)
		plan_ctx_error(&s->w->c, s->pos,
		               "a URL that holds a token goes in a file (url_file) or an "
		               "environment variable (url_env)",
		               "%s: missing 'url', 'url_file' or 'url_env'", s->path);
	else if (n > 1)
		plan_ctx_error(&s->w->c, s->pos, NULL,
		               "%s: give one of 'url', 'url_file' or 'url_env', not %d", s->path,
		               n);
	else if (plan_sect_has(s, "url"))
		*url = plan_get_url(s, "url", true);
	else if (n == 1)
		plan_get_secret_ref(s, "url_file", "url_env", ref);
}

/* One of names (by index), or -1 after reporting "unknown WHAT". */
int plan_get_enum(struct plan_sect *s, const char *key, bool required, const char *what,
                  const char *const *names, int def)
{
	struct plan_pos pos;
	char path[200], list[200], *v = plan_get_str(s, key, required, &pos);
	const char *sugg;
	int i;

	if (!v)
		return plan_sect_has(s, key) ? -1 : def;
	plan_join_path(path, sizeof(path), s->path, key);
	for (i = 0; names[i]; i++) {
		if (!strcmp(names[i], v)) {
			struct plan *p = s->w->p;

			XGROW(p->where, p->awhere, p->nwhere + 1);
			p->where[p->nwhere].path = xstrdup(path);
			p->where[p->nwhere++].pos = pos;
			free(v);
			return i;
		}
	}
	plan_join(names, list, sizeof(list));
	sugg = plan_suggest(v, names);
	if (sugg)
		plan_ctx_error(&s->w->c, pos, list, "%s: unknown %s '%.64s'; did you mean '%s'?",
		               path, what, v, sugg);
	else
		plan_ctx_error(&s->w->c, pos, list, "%s: unknown %s '%.64s'", path, what, v);
	free(v);
	return -1;
}

double plan_get_number(struct plan_walk *w, struct plan_sect *s, const char *key, bool *ok)
{
	struct plan_pos pos;
	char path[200], *v = get_plain(s, key, "a number", &pos, path, sizeof(path)), *end;
	double d = 0;

	*ok = false;
	if (!v) {
		if (!plan_sect_has(s, key))
			plan_sect_missing(s, key, NULL);
		return 0;
	}
	errno = 0;
	d = strtod(v, &end);
	if (end == v || *end || errno || d != d)
		plan_ctx_error(&w->c, pos, NULL, "%s: '%.64s' is not a number", path, v);
	else
		*ok = true;
	free(v);
	return d;
}
