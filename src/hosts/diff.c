/*
 * diff.c - see diff.h.  One merge walk over two sorted fact lists; the
 * severity table of diff.h lives in verdict() and prevents_for().
 */
#include <stdlib.h>
#include <string.h>

#include "hosts/diff.h"
#include "util/mem.h"

static const char *const volatile_env[] = {
	"HOSTNAME",   "PWD",           "OLDPWD",         "SHLVL",
	"_",          "INVOCATION_ID", "JOURNAL_STREAM", "SYSTEMD_EXEC_PID",
	"MANAGERPID", "LISTEN_PID",    "LISTEN_FDS",     "NOTIFY_SOCKET",
	NULL,
};

const char *hosts_change_name(enum hosts_change c)
{
	switch (c) {
	case HOSTS_MISSING: return "missing on new";
	case HOSTS_DIFFERENT: return "different";
	case HOSTS_EXTRA: return "extra on new";
	}
	return "?";
}

void hosts_diff_init(struct hosts_diff *d)
{
	d->v = NULL;
	d->n = d->alloc = 0;
}

void hosts_diff_release(struct hosts_diff *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->v[i].key);
		free(d->v[i].old_value);
		free(d->v[i].new_value);
	}
	free(d->v);
	hosts_diff_init(d);
}

static bool in_list(const char *s, char *const *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(s, v[i]))
			return true;
	return false;
}

static bool ignored(const struct hosts_diff_ignore *ign, enum hosts_cat cat, const char *key)
{
	const char *cn = hosts_cat_name(cat);
	size_t i, cl = strlen(cn);

	if (!ign)
		return false;
	if (cat == HOSTS_CAT_ENV && in_list(key, ign->env, ign->nenv))
		return true;
	for (i = 0; i < ign->nkeys; i++) {
		const char *k = ign->keys[i];

		if (strncmp(k, cn, cl))
			continue;
		if (k[cl] == '\0' ||
		    (k[cl] == '.' && (!strcmp(k + cl + 1, "*") || !strcmp(k + cl + 1, key))))
			return true;
	}
	return false;
}

/* A limit as a number; "unlimited" is the largest. */
static unsigned long long limit_value(const char *s, bool *ok)
{
	char *end;
	unsigned long long v;

	*ok = true;
	if (!strcmp(s, "unlimited"))
		return ~0ULL;
	v = strtoull(s, &end, 10);
	if (!*s || *end)
		*ok = false;
	return v;
}

static enum check_status verdict(enum hosts_cat cat, enum hosts_change ch, const char *key,
                                 const char *o, const char *n)
{
	bool ok1, ok2;

	switch (cat) {
	case HOSTS_CAT_TIMEZONE: return CHECK_FAIL;
	case HOSTS_CAT_ENV:
		return ch == HOSTS_MISSING     ? CHECK_FAIL
		       : ch == HOSTS_DIFFERENT ? CHECK_WARN
		                               : CHECK_OK;
	case HOSTS_CAT_OS:
	case HOSTS_CAT_LOCALE:
	case HOSTS_CAT_PORTS: return ch == HOSTS_EXTRA ? CHECK_OK : CHECK_WARN;
	case HOSTS_CAT_CRON: return CHECK_WARN;
	case HOSTS_CAT_APP: return CHECK_FAIL;
	case HOSTS_CAT_PACKAGES:
		if (ch != HOSTS_DIFFERENT)
			return CHECK_WARN;
		if (strcmp(o, "-") && !strcmp(n, "-"))
			return CHECK_FAIL;
		return strcmp(o, "-") ? CHECK_WARN : CHECK_OK;
	case HOSTS_CAT_LIMITS:
		if (ch != HOSTS_DIFFERENT)
			return CHECK_WARN;
		if (limit_value(n, &ok1) > limit_value(o, &ok2) && ok1 && ok2)
			return CHECK_OK;
		return CHECK_WARN;
	case HOSTS_CAT_CONNS:
	case HOSTS_CAT_COUNT: break;
	}
	(void)key;
	return CHECK_WARN;
}

static const char *prevents_for(enum hosts_cat cat, enum hosts_change ch)
{
	switch (cat) {
	case HOSTS_CAT_ENV:
		return ch == HOSTS_MISSING
		               ? "the app starts on the new host without this variable (set by "
		                 "hand "
		                 "on the old server only) and fails at its first use"
		               : "the new host runs with another value (other credentials or "
		                 "endpoint)";
	case HOSTS_CAT_TIMEZONE:
		return "local-time logic, cron jobs and reports shift by hours after the move";
	case HOSTS_CAT_OS: return "a library or behaviour that differs between releases";
	case HOSTS_CAT_LOCALE: return "sorting, number and date formats or encodings change";
	case HOSTS_CAT_APP:
		return "the application is not running (or not readable) on the new host";
	case HOSTS_CAT_PORTS:
		return "a service the old host offers (metrics, admin, a sidecar) is missing on "
		       "the new one";
	case HOSTS_CAT_PACKAGES:
		return "a dependency missing or at another version on the new host";
	case HOSTS_CAT_CRON:
		return ch == HOSTS_EXTRA
		               ? "a scheduled job runs twice (on both hosts)"
		               : "a scheduled job is missing or different on the new host";
	case HOSTS_CAT_LIMITS: return "too many open files or processes under production load";
	case HOSTS_CAT_CONNS:
	case HOSTS_CAT_COUNT: break;
	}
	return "";
}

static char *shown(enum hosts_cat cat, const char *v)
{
	if (!v)
		return NULL;
	if (cat == HOSTS_CAT_ENV || cat == HOSTS_CAT_CRON)
		return xasprintf("sha256:%.12s", v);
	return xstrdup(v);
}

static void add(struct hosts_diff *d, const struct hosts_diff_ignore *ign, enum hosts_cat cat,
                const char *key, const char *o, const char *n, enum hosts_change ch)
{
	struct hosts_diff_row *r;

	XGROW(d->v, d->alloc, d->n + 1);
	r = &d->v[d->n++];
	r->cat = cat;
	r->key = xstrdup(key);
	r->old_value = shown(cat, o);
	r->new_value = shown(cat, n);
	r->change = ch;
	r->ignored = ignored(ign, cat, key);
	r->verdict = r->ignored ? CHECK_OK : verdict(cat, ch, key, o, n);
	r->prevents = prevents_for(cat, ch);
}

static bool compared(enum hosts_cat cat, const char *key, bool env_ok)
{
	static const char *const none[] = { NULL };
	const char *const *v = none;

	if (cat == HOSTS_CAT_CONNS)
		return false;
	if (cat == HOSTS_CAT_APP)
		return false; /* handled by app_rows() */
	if (cat == HOSTS_CAT_ENV) {
		if (!env_ok)
			return false;
		v = volatile_env;
	}
	for (; *v; v++)
		if (!strcmp(*v, key))
			return false;
	return true;
}

static const char *get(const struct hosts_fingerprint *fp, enum hosts_cat cat, const char *key)
{
	const struct hosts_fact *f = hosts_fingerprint_get(fp, cat, key);

	return f ? f->value : NULL;
}

/* The app rows; returns whether both environments can be compared. */
static bool app_rows(const struct hosts_fingerprint *o, const struct hosts_fingerprint *n,
                     const struct hosts_diff_ignore *ign, struct hosts_diff *d)
{
	const char *of = get(o, HOSTS_CAT_APP, "found"), *nf = get(n, HOSTS_CAT_APP, "found");
	const char *oe = get(o, HOSTS_CAT_APP, "error"), *ne = get(n, HOSTS_CAT_APP, "error");
	bool o_yes = of && !strcmp(of, "yes"), n_yes = nf && !strcmp(nf, "yes");

	if (!of && !nf)
		return false; /* no application configured */
	if (o_yes && !n_yes)
		add(d, ign, HOSTS_CAT_APP, "found", "yes", nf ? nf : "no", HOSTS_DIFFERENT);
	if (o_yes && oe && !ne)
		add(d, ign, HOSTS_CAT_APP, "error", oe, "none", HOSTS_DIFFERENT);
	if (n_yes && ne)
		add(d, ign, HOSTS_CAT_APP, "error", oe ? oe : "none", ne, HOSTS_DIFFERENT);
	return o_yes && n_yes && !oe && !ne;
}

void hosts_diff_run(const struct hosts_fingerprint *old_fp, const struct hosts_fingerprint *new_fp,
                    const struct hosts_diff_ignore *ign, struct hosts_diff *d)
{
	size_t i = 0, j = 0;
	bool env_ok = app_rows(old_fp, new_fp, ign, d);

	while (i < old_fp->n || j < new_fp->n) {
		const struct hosts_fact *o = i < old_fp->n ? &old_fp->v[i] : NULL;
		const struct hosts_fact *n = j < new_fp->n ? &new_fp->v[j] : NULL;
		int c;

		if (!o)
			c = 1;
		else if (!n)
			c = -1;
		else if (o->cat != n->cat)
			c = o->cat < n->cat ? -1 : 1;
		else
			c = strcmp(o->key, n->key);
		if (c < 0) {
			if (compared(o->cat, o->key, env_ok))
				add(d, ign, o->cat, o->key, o->value, NULL, HOSTS_MISSING);
			i++;
		} else if (c > 0) {
			if (compared(n->cat, n->key, env_ok))
				add(d, ign, n->cat, n->key, NULL, n->value, HOSTS_EXTRA);
			j++;
		} else {
			if (strcmp(o->value, n->value) && compared(o->cat, o->key, env_ok))
				add(d, ign, o->cat, o->key, o->value, n->value, HOSTS_DIFFERENT);
			i++;
			j++;
		}
	}
}

void hosts_diff_rows(const struct hosts_diff *d, struct check_rows *out)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		const struct hosts_diff_row *r = &d->v[i];

		check_rows_add(out, hosts_cat_name(r->cat), r->key, r->verdict, r->prevents,
		               "%s%s: old %s, new %s", r->ignored ? "ignored, " : "",
		               hosts_change_name(r->change), r->old_value ? r->old_value : "(none)",
		               r->new_value ? r->new_value : "(none)");
	}
}
