/*
 * plan.c - loading a plan: YAML (libfyaml) to struct plan, with every error
 * of the file reported at once as FILE:LINE:COLUMN.
 *
 * How the parts fit:
 *  - plan_load_string() checks the bytes (UTF-8, no NUL), lets libfyaml
 *    build the document with a diagnostic object that collects instead of
 *    printing, turns libfyaml's own errors (syntax, duplicate keys, tabs,
 *    depth) into diagnostics, and refuses a second document;
 *  - scan_secrets() walks the whole tree once for keys that would hold a
 *    secret inline, wherever they are;
 *  - the parse_*() functions walk one section each through a small typed
 *    reader (struct plan_sect: a mapping, its path for messages and its valid
 *    keys), report each problem and go on, and fill the model with defaults;
 *  - plan_cross_check() looks at what needs more than one section (the hosts
 *    that DNS, checks and poolers rely on, the step hold).
 *
 * Anchors and aliases are followed one step each time they are met, never
 * expanded in the document, and every node visited costs one unit of a
 * budget, so an alias bomb ("billion laughs") ends in an error, not in
 * memory exhaustion.  libfyaml's own depth limit bounds nesting.
 *
 * Value checks that need no YAML live in plan_validate.c.
 */
#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libfyaml.h>

#include "plan/plan_internal.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define PLAN_FILE_MAX (4u << 20) /* a plan is a few KiB; 4 MiB is hostile */
#define SCALAR_MAX    4096       /* the longest value a plan has reason to hold */
#define NODE_BUDGET   100000     /* nodes visited, aliases counted each time */
#define PLAN_LIST_MAX 1000       /* records, databases, packages, ... */

static struct plan_pos mark_pos(const struct fy_mark *m)
{
	struct plan_pos pos = { 0, 0 };

	if (m) {
		/* fy_mark is 0-based */
		pos.line = m->line + 1;
		pos.column = m->column + 1;
	}
	return pos;
}

/* Where a node starts: a scalar's token, else its first key or item (that
 * is where a block collection begins; a flow one is a column or two
 * earlier); fallback for an empty collection. */
static struct plan_pos node_pos(struct fy_node *n, struct plan_pos fallback)
{
	int depth;

	for (depth = 0; n && depth < 80; depth++) {
		void *it = NULL;

		if (fy_node_is_scalar(n)) {
			struct fy_token *t = fy_node_get_scalar_token(n);
			struct plan_pos pos = t ? mark_pos(fy_token_start_mark(t)) : fallback;
			enum fy_node_style st = fy_node_get_style(n);

			/* the mark of a quoted scalar or an alias is after its
			 * quote or '*'; the operator looks for those */
			if (t && pos.column > 1 &&
			    (st == FYNS_SINGLE_QUOTED || st == FYNS_DOUBLE_QUOTED ||
			     st == FYNS_ALIAS))
				pos.column--;
			return pos;
		}
		if (fy_node_is_mapping(n)) {
			struct fy_node_pair *pr = fy_node_mapping_iterate(n, &it);

			n = pr ? fy_node_pair_key(pr) : NULL;
		} else {
			n = fy_node_sequence_iterate(n, &it);
		}
	}
	return fallback;
}

static bool is_null(struct fy_node *n)
{
	const char *s;
	size_t len;

	if (!n)
		return true;
	if (!fy_node_is_scalar(n) || fy_node_get_style(n) != FYNS_PLAIN)
		return false;
	s = fy_node_get_scalar(n, &len);
	/* YAML 1.2 §10.3.2 (core schema): null, Null, NULL, ~ and empty */
	return len == 0 || (len == 1 && s[0] == '~') ||
	       (len == 4 &&
	        (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

static const char *kind(struct fy_node *n)
{
	if (is_null(n))
		return "nothing";
	if (fy_node_is_mapping(n))
		return "a mapping";
	if (fy_node_is_sequence(n))
		return "a list";
	return "a scalar";
}

/* Follows aliases and charges the budget.  NULL after reporting. */
static struct fy_node *resolve(struct plan_walk *w, struct fy_node *n, struct plan_pos at)
{
	int hops;

	if (!n)
		return NULL;
	if (w->budget == 0) {
		if (!w->budget_hit)
			plan_ctx_error(
			        &w->c, at, "a plan has a few hundred values; do not nest aliases",
			        "the plan is too large: more than %d values once aliases are "
			        "followed",
			        NODE_BUDGET);
		w->budget_hit = true;
		return NULL;
	}
	w->budget--;
	for (hops = 0; fy_node_is_alias(n); hops++) {
		struct fy_node *t = hops < 16 ? fy_node_resolve_alias(n) : NULL;

		if (!t) {
			size_t len = 0;
			const char *name = fy_node_get_scalar(n, &len);

			plan_ctx_error(&w->c, at,
			               "define the anchor (&NAME) before its use (*NAME)",
			               "alias '*%.*s' has no anchor",
			               name ? (int)(len > 64 ? 64 : len) : 0, name ? name : "");
			return NULL;
		}
		n = t;
	}
	return n;
}

void plan_join_path(char *out, size_t outlen, const char *base, const char *key)
{
	snprintf(out, outlen, "%s%s%s", base, *base ? "." : "", key);
}

/* The scalar text of n, checked: a non-null scalar, short, no NUL. */
char *plan_scalar_dup(struct plan_walk *w, struct fy_node *n, const char *path, struct plan_pos pos,
                      const char *expected)
{
	const char *s;
	size_t len, i;

	if (!n || is_null(n) || !fy_node_is_scalar(n)) {
		plan_ctx_error(&w->c, pos, NULL, "%s: expected %s, found %s", path, expected,
		               kind(n));
		return NULL;
	}
	s = fy_node_get_scalar(n, &len);
	if (!s)
		return NULL;
	if (len > SCALAR_MAX) {
		plan_ctx_error(&w->c, pos, NULL, "%s: value is too long (%zu bytes; at most %d)",
		               path, len, SCALAR_MAX);
		return NULL;
	}
	for (i = 0; i < len; i++) {
		/* "\x1b[2J" in a quoted scalar would reach the operator's
		 * terminal through our messages; no plan value needs one */
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			plan_ctx_error(&w->c, pos,
			               "write the value without escapes for control characters",
			               "%s: value contains control character 0x%02x", path,
			               (unsigned char)s[i]);
			return NULL;
		}
	}
	return xstrndup(s, len);
}

/* Opens n as a mapping with the given valid keys, reporting unknown keys.
 * Returns false (and leaves s->map NULL) when n is not a mapping. */
bool plan_sect_open(struct plan_walk *w, struct plan_sect *s, struct fy_node *n,
                    struct plan_pos pos, const char *path, const char *const *keys)
{
	struct fy_node_pair *pr;
	void *it = NULL;
	char valid[512];

	memset(s, 0, sizeof(*s));
	s->w = w;
	s->pos = pos;
	s->keys = keys;
	snprintf(s->path, sizeof(s->path), "%s", path);
	n = resolve(w, n, pos);
	if (!n)
		return false;
	if (!fy_node_is_mapping(n)) {
		plan_ctx_error(&w->c, node_pos(n, pos), NULL, "%s: expected a mapping, found %s",
		               path, kind(n));
		return false;
	}
	s->map = n;
	plan_join(keys, valid, sizeof(valid));
	while ((pr = fy_node_mapping_iterate(n, &it)) != NULL) {
		struct fy_node *k = fy_node_pair_key(pr), *v = fy_node_pair_value(pr);
		struct plan_pos kpos = node_pos(k, pos);
		const char *name, *sugg;
		size_t i;
		char *key;

		if (!k || !fy_node_is_scalar(k) || fy_node_is_alias(k) || is_null(k)) {
			plan_ctx_error(&w->c, kpos, NULL, "%s: keys must be plain names", path);
			continue;
		}
		key = plan_scalar_dup(w, k, path, kpos, "a key");
		if (!key)
			continue;
		for (i = 0; keys[i]; i++)
			if (!strcmp(keys[i], key))
				break;
		name = *path ? path : "the plan";
		/* scan_secrets() has reported it already */
		if (!keys[i] && plan_key_is_secret(key) && v && fy_node_is_scalar(v) &&
		    !is_null(v)) {
			free(key);
			continue;
		}
		if (!keys[i]) {
			sugg = plan_suggest(key, keys);
			if (sugg)
				plan_ctx_error(&w->c, kpos, valid[0] ? valid : NULL,
				               "%s: unknown key '%.64s'; did you mean '%s'?", name,
				               key, sugg);
			else if (!strcmp(key, "<<"))
				plan_ctx_error(&w->c, kpos,
				               "write the keys out, or use a plain alias",
				               "%s: merge keys ('<<') are not supported", name);
			else
				plan_ctx_error(&w->c, kpos, valid[0] ? valid : NULL,
				               "%s: unknown key '%.64s'", name, key);
		}
		free(key);
	}
	return true;
}

/* The raw value of key (NULL if absent) and its position (the value's, or
 * the key's when the value is empty). */
static struct fy_node *sect_raw(struct plan_sect *s, const char *key, struct plan_pos *pos)
{
	struct fy_node_pair *pr;
	void *it = NULL;

	if (!s->map)
		return NULL;
	while ((pr = fy_node_mapping_iterate(s->map, &it)) != NULL) {
		struct fy_node *k = fy_node_pair_key(pr);
		const char *ks;
		size_t len;

		if (!k || !fy_node_is_scalar(k) || fy_node_is_alias(k))
			continue;
		ks = fy_node_get_scalar(k, &len);
		if (ks && len == strlen(key) && !memcmp(ks, key, len)) {
			struct plan_pos kpos = node_pos(k, s->pos);

			*pos = node_pos(fy_node_pair_value(pr), kpos);
			if (fy_node_pair_value(pr) && !fy_node_is_scalar(fy_node_pair_value(pr)))
				*pos = kpos; /* "key:" says more than the first item */
			return fy_node_pair_value(pr) ? fy_node_pair_value(pr) : k;
		}
	}
	return NULL;
}

bool plan_sect_has(struct plan_sect *s, const char *key)
{
	struct plan_pos pos;

	return sect_raw(s, key, &pos) != NULL;
}

void plan_sect_missing(struct plan_sect *s, const char *key, const char *hint)
{
	plan_ctx_error(&s->w->c, s->pos, hint, "%s: missing required key '%s'",
	               *s->path ? s->path : "the plan", key);
}

/* The resolved value of key, or NULL (absent: reported when required). */
struct fy_node *plan_sect_get(struct plan_sect *s, const char *key, bool required,
                              struct plan_pos *pos, char *path, size_t pathlen)
{
	struct fy_node *n;

	plan_join_path(path, pathlen, s->path, key);
	n = sect_raw(s, key, pos);
	if (!n) {
		if (required && s->map)
			plan_sect_missing(s, key, NULL);
		return NULL;
	}
	return resolve(s->w, n, *pos);
}

bool plan_int_value(struct plan_walk *w, struct fy_node *n, const char *path, struct plan_pos pos,
                    long min, long max, long *out)
{
	char *v, *end;
	long x;
	bool ok = false;

	if (n && fy_node_is_scalar(n) && !is_null(n) && fy_node_get_style(n) != FYNS_PLAIN) {
		plan_ctx_error(&w->c, pos, "write the number without quotes",
		               "%s: expected a number, found a quoted string", path);
		return false;
	}
	v = plan_scalar_dup(w, n, path, pos, "a number");
	if (!v)
		return false;
	errno = 0;
	x = isdigit((unsigned char)v[0]) || v[0] == '-' ? strtol(v, &end, 10) : 0;
	if (!(isdigit((unsigned char)v[0]) || v[0] == '-') || *end || errno)
		plan_ctx_error(&w->c, pos, NULL, "%s: '%.64s' is not a whole number", path, v);
	else if (x < min || x > max)
		plan_ctx_error(&w->c, pos, NULL, "%s: %ld is out of range (%ld to %ld)", path, x,
		               min, max);
	else
		ok = true;
	if (ok)
		*out = x;
	free(v);
	return ok;
}

bool plan_get_map(struct plan_sect *s, const char *key, bool required, struct plan_sect *child,
                  const char *const *keys)
{
	struct plan_pos pos;
	char path[160];
	struct fy_node *raw;

	plan_join_path(path, sizeof(path), s->path, key);
	raw = sect_raw(s, key, &pos);
	memset(child, 0, sizeof(*child));
	child->w = s->w;
	snprintf(child->path, sizeof(child->path), "%s", path);
	if (!raw) {
		if (required && s->map)
			plan_sect_missing(s, key, NULL);
		return false;
	}
	/* "password: hunter2": scan_secrets() has said what is wrong */
	if (plan_key_is_secret(key) && fy_node_is_scalar(raw) && !is_null(raw))
		return false;
	return plan_sect_open(s->w, child, raw, pos, path, keys);
}

/* A list under key: calls item() for each element. Returns the count of
 * elements, or -1 when absent or not a list. */

long plan_get_list(struct plan_sect *s, const char *key, bool required, plan_item_fn fn, void *arg)
{
	struct plan_pos pos;
	char path[200], ipath[220];
	struct fy_node *n = plan_sect_get(s, key, required, &pos, path, sizeof(path)), *it;
	void *iter = NULL;
	size_t i = 0;

	if (!n)
		return -1;
	if (!fy_node_is_sequence(n)) {
		plan_ctx_error(&s->w->c, node_pos(n, pos), NULL, "%s: expected a list, found %s",
		               path, kind(n));
		return -1;
	}
	while ((it = fy_node_sequence_iterate(n, &iter)) != NULL) {
		struct plan_pos ipos = node_pos(it, pos);

		/* keeps the duplicate checks (quadratic) and the model small */
		if (i >= PLAN_LIST_MAX) {
			plan_ctx_error(&s->w->c, ipos, "split the migration into several plans",
			               "%s: more than %d entries", path, PLAN_LIST_MAX);
			break;
		}
		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		it = resolve(s->w, it, ipos);
		if (!it)
			break;
		fn(s->w, it, ipath, ipos, i++, arg);
	}
	if (i == 0 && required)
		plan_ctx_error(&s->w->c, pos, NULL, "%s: the list is empty", path);
	return (long)i;
}

static void scan_secrets(struct plan_walk *w, struct fy_node *n, const char *path, int depth)
{
	void *it = NULL;
	char sub[200];

	if (!n || depth > 64 || w->budget == 0)
		return;
	w->budget--;
	if (fy_node_is_mapping(n)) {
		struct fy_node_pair *pr;

		while ((pr = fy_node_mapping_iterate(n, &it)) != NULL) {
			struct fy_node *k = fy_node_pair_key(pr), *v = fy_node_pair_value(pr);
			const char *ks;
			size_t len;

			if (!k || !fy_node_is_scalar(k) || fy_node_is_alias(k))
				continue;
			ks = fy_node_get_scalar(k, &len);
			if (!ks || len > 64)
				continue;
			snprintf(sub, sizeof(sub), "%s%s%.*s", path, *path ? "." : "", (int)len,
			         ks);
			if (v && fy_node_is_scalar(v) && !is_null(v)) {
				char key[80];

				snprintf(key, sizeof(key), "%.*s", (int)len, ks);
				if (plan_key_is_secret(key))
					plan_inline_secret(
					        w,
					        node_pos(v, node_pos(k, (struct plan_pos){ 0, 0 })),
					        sub);
			} else {
				scan_secrets(w, v, sub, depth + 1);
			}
		}
	} else if (fy_node_is_sequence(n)) {
		struct fy_node *item;
		size_t i = 0;

		while ((item = fy_node_sequence_iterate(n, &it)) != NULL) {
			char name[64];

			/* "databases[main]", as the section parsers say it */
			plan_node_name_hint(item, name, sizeof(name));
			if (plan_simple_name(name))
				snprintf(sub, sizeof(sub), "%s[%s]", path, name);
			else
				snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			i++;
			scan_secrets(w, item, sub, depth + 1);
		}
	}
}

static void parse_hooks(struct plan_walk *w, struct plan_sect *top)
{
	struct plan *p = w->p;
	struct fy_node_pair *pr;
	void *it = NULL;
	struct plan_sect s;
	size_t i;

	if (!plan_get_map(top, "hooks", false, &s, plan_hook_events))
		return;
	while ((pr = fy_node_mapping_iterate(s.map, &it)) != NULL) {
		struct fy_node *k = fy_node_pair_key(pr), *v;
		struct plan_pos kpos = node_pos(k, s.pos), vpos;
		struct plan_hook *h;
		const char *ks;
		char path[120];
		size_t len;

		ks = k && fy_node_is_scalar(k) ? fy_node_get_scalar(k, &len) : NULL;
		if (!ks)
			continue;
		for (i = 0; plan_hook_events[i]; i++)
			if (strlen(plan_hook_events[i]) == len &&
			    !memcmp(plan_hook_events[i], ks, len))
				break;
		if (!plan_hook_events[i])
			continue; /* reported by plan_sect_open */
		snprintf(path, sizeof(path), "hooks.%s", plan_hook_events[i]);
		vpos = node_pos(fy_node_pair_value(pr), kpos);
		if (is_null(fy_node_pair_value(pr))) {
			plan_ctx_error(&w->c, kpos, NULL,
			               "%s: expected a command list or a URL, found nothing", path);
			continue;
		}
		v = resolve(w, fy_node_pair_value(pr), vpos);
		if (!v)
			continue; /* reported */
		p->hooks = xrealloc(p->hooks, (p->nhooks + 1) * sizeof(*p->hooks));
		h = &p->hooks[p->nhooks++];
		memset(h, 0, sizeof(*h));
		h->event = xstrdup(plan_hook_events[i]);
		if (fy_node_is_sequence(v)) {
			struct plan_strv_arg a = { &h->argv, PLAN_STR_ANY };
			struct fy_node *item;
			void *iit = NULL;
			size_t j = 0;

			while ((item = fy_node_sequence_iterate(v, &iit)) != NULL) {
				char ipath[140];
				struct plan_pos ipos = node_pos(item, kpos);

				snprintf(ipath, sizeof(ipath), "%s[%zu]", path, j++);
				item = resolve(w, item, ipos);
				if (!item)
					break;
				plan_strv_item(w, item, ipath, ipos, j, &a);
			}
			if (j == 0)
				plan_ctx_error(&w->c, kpos, NULL, "%s: the command is empty", path);
		} else if (fy_node_is_scalar(v) && !is_null(v)) {
			h->url = plan_scalar_dup(w, v, path, vpos, "a string");
			if (h->url && strncmp(h->url, "https://", 8) &&
			    strncmp(h->url, "http://", 7))
				plan_ctx_error(
				        &w->c, vpos,
				        "a command is a list: [/usr/local/bin/notify, --phase, x]",
				        "%s: not an http:// or https:// URL", path);
			else if (h->url)
				plan_url_check(w, h->url, path, vpos, true);
		} else if (fy_node_is_mapping(v)) {
			/* {url_file: PATH} / {url_env: NAME}: a URL with a token */
			static const char *const url_keys[] = { "url", "url_file", "url_env",
				                                NULL };
			struct plan_sect hs;

			if (plan_sect_open(w, &hs, v, vpos, path, url_keys))
				plan_get_url_or_ref(&hs, true, &h->url, &h->url_ref);
		} else {
			plan_ctx_error(&w->c, vpos,
			               "{url_file: PATH} or {url_env: NAME} for a URL with a token",
			               "%s: expected a command list or a URL, found %s", path,
			               kind(v));
		}
	}
}

/* What needs more than one section. */
void plan_node_name_hint(struct fy_node *n, char *out, size_t outlen)
{
	struct fy_node *name;
	const char *nm;
	size_t len;

	out[0] = '\0';
	if (!n || !fy_node_is_mapping(n))
		return;
	name = fy_node_mapping_lookup_by_string(n, "name", 4);
	if (!name || !fy_node_is_scalar(name) || fy_node_is_alias(name))
		return;
	nm = fy_node_get_scalar(name, &len);
	if (nm && len < outlen) {
		memcpy(out, nm, len);
		out[len] = '\0';
	}
}

/* ---- the document ---- */

/* The first byte that is not printable UTF-8 text, or len.  YAML 1.2 §5.1
 * (c-printable) allows tab, LF, CR and no other C0 control or DEL; RFC 3629
 * §4 says which byte sequences are UTF-8. */
static size_t bad_byte(const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0, n, k;

	while (i < len) {
		unsigned char c = s[i];

		if (c < 0x20 ? c != '\t' && c != '\n' && c != '\r' : c == 0x7f)
			return i;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3;
		else
			return i;
		for (k = 1; k <= n; k++)
			if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
				return i;
		i += n + 1;
	}
	return len;
}

static struct plan_pos offset_pos(const char *text, size_t off)
{
	struct plan_pos pos = { 1, 1 };
	size_t i;

	for (i = 0; i < off; i++) {
		if (text[i] == '\n') {
			pos.line++;
			pos.column = 1;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
			pos.column++;
		}
	}
	return pos;
}

static bool only_comments(const char *text, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (text[i] == '#') {
			while (i < len && text[i] != '\n')
				i++;
		} else if (isspace((unsigned char)text[i])) {
			i++;
		} else if (len - i >= 3 &&
		           (!memcmp(text + i, "---", 3) || !memcmp(text + i, "...", 3))) {
			i += 3;
		} else {
			return false;
		}
	}
	return true;
}

static void diag_output(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
	/* collected errors are read back with fy_diag_errors_iterate(); the
	 * rest of libfyaml's chatter must not reach stderr */
	(void)diag;
	(void)user;
	(void)buf;
	(void)len;
}

/* libfyaml's collected errors as diagnostics. Returns how many. */
static size_t yaml_errors(struct plan_walk *w, struct fy_diag *diag)
{
	struct fy_diag_error *e;
	void *it = NULL;
	size_t n = 0;

	while ((e = fy_diag_errors_iterate(diag, &it)) != NULL) {
		struct plan_pos pos = { e->line > 0 ? e->line : 1, e->column > 0 ? e->column : 1 };

		if (e->type < FYET_ERROR)
			continue;
		plan_ctx_error(&w->c, pos, "the file is not valid YAML here (YAML 1.2)", "%s",
		               e->msg && *e->msg ? e->msg : "invalid YAML");
		n++;
	}
	return n;
}

static void walk_plan(struct plan_walk *w, struct fy_node *root)
{
	static const char *const keys[] = { "name",    "hosts",  "dns",      "databases",
		                            "traffic", "checks", "rollback", "schedule",
		                            "hooks",   NULL };
	struct plan_pos pos = { 1, 1 };
	struct plan_sect top;

	scan_secrets(w, root, "", 0);
	w->budget = NODE_BUDGET;
	if (!plan_sect_open(w, &top, root, node_pos(root, pos), "", keys))
		return;
	w->p->name = plan_get_str(&top, "name", true, &pos);
	if (w->p->name && !plan_simple_name(w->p->name))
		plan_ctx_error(&w->c, pos, "it names the journal and the report",
		               "name: '%.64s' is not a name (letters, digits, '.', '_', '-')",
		               w->p->name);
	plan_parse_sections(w, &top);
	parse_hooks(w, &top);
	/* defaults of absent sections */
	if (!w->p->dns.present)
		w->p->dns.ttl.cutover = 60;
	plan_cross_check(w);
}

/* Parses text into w->p; problems go to the diagnostics. */
static void load_text(struct plan_walk *w, const char *text, size_t len)
{
	struct fy_diag_cfg dcfg;
	struct fy_parse_cfg cfg;
	struct fy_diag *diag = NULL;
	struct fy_parser *fyp = NULL;
	struct fy_document *doc = NULL, *doc2 = NULL;
	struct plan_pos pos = { 1, 1 };
	struct fy_node *root;
	size_t bad = bad_byte(text, len);

	if (bad < len) {
		unsigned char ch = (unsigned char)text[bad];

		plan_ctx_error(&w->c, offset_pos(text, bad),
		               "a plan is UTF-8 text, as YAML requires",
		               ch >= 0x80 ? "byte 0x%02x is not UTF-8 text"
		                          : "control character 0x%02x is not allowed in YAML",
		               ch);
		return;
	}
	if (only_comments(text, len)) {
		plan_ctx_error(&w->c, pos, "run 'ferry init' for a commented starter plan",
		               "the plan is empty");
		return;
	}

	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = diag_output;
	dcfg.colorize = false;
	diag = fy_diag_create(&dcfg);
	if (!diag)
		BUG("fy_diag_create failed");
	fy_diag_set_collect_errors(diag, true);
	memset(&cfg, 0, sizeof(cfg));
	/* no FYPCF_RESOLVE_DOCUMENT: aliases stay aliases (see top) */
	cfg.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG | FYPCF_JSON_NONE;
	cfg.diag = diag;
	fyp = fy_parser_create(&cfg);
	if (!fyp || fy_parser_set_string(fyp, text, len) != 0)
		BUG("fy_parser_create failed");

	doc = fy_parse_load_document(fyp);
	if (!doc || fy_diag_got_error(diag)) {
		if (yaml_errors(w, diag) == 0)
			plan_ctx_error(&w->c, pos, NULL, "not a valid YAML document");
		goto out;
	}
	root = fy_document_root(doc);
	if (!root || is_null(root)) {
		plan_ctx_error(&w->c, pos, "run 'ferry init' for a commented starter plan",
		               "the plan is empty");
		goto out;
	}
	doc2 = fy_parse_load_document(fyp);
	if (doc2 || fy_diag_got_error(diag)) {
		if (doc2)
			plan_ctx_error(&w->c, node_pos(fy_document_root(doc2), pos),
			               "remove the '---' line and what follows, or merge it",
			               "a plan is one YAML document; this is a second one");
		else
			yaml_errors(w, diag);
		goto out;
	}
	if (!fy_node_is_mapping(root)) {
		plan_ctx_error(
		        &w->c, node_pos(root, pos),
		        "start with 'name: ...' and the sections (hosts, dns, databases, ...)",
		        "the plan must be a mapping of sections, found %s", kind(root));
		goto out;
	}
	walk_plan(w, root);
out:
	if (doc2)
		fy_parse_document_destroy(fyp, doc2);
	if (doc)
		fy_parse_document_destroy(fyp, doc);
	if (fyp)
		fy_parser_destroy(fyp);
	fy_diag_destroy(diag);
}

static int load(const char *name, const char *dir, unsigned flags, const char *text, size_t len,
                struct plan **out, struct plan_diags *diags, struct ferry_error *err)
{
	struct plan_walk w;

	memset(&w, 0, sizeof(w));
	w.flags = flags;
	w.c.file = name;
	w.c.diags = diags;
	w.c.first = diags->n;
	w.budget = NODE_BUDGET;
	w.p = xcalloc(1, sizeof(*w.p));
	w.p->path = xstrdup(name);
	w.p->dir = xstrdup(dir);
	if (len > PLAN_FILE_MAX)
		plan_ctx_error(&w.c, (struct plan_pos){ 1, 1 }, NULL,
		               "the file is larger than %u bytes; it cannot be a plan",
		               PLAN_FILE_MAX);
	else
		load_text(&w, text, len);
	plan_ctx_finish(&w.c);
	if (w.c.nerrors > 0) {
		ferry_error_set(err, FERRY_EINVAL, "fix them and run 'ferry plan' again",
		                "plan %s: %zu error%s", name, w.c.nerrors,
		                w.c.nerrors == 1 ? "" : "s");
		plan_free(w.p);
		return FERRY_EINVAL;
	}
	*out = w.p;
	return 0;
}

int plan_load_string(const char *name, const char *text, size_t len, struct plan **out,
                     struct plan_diags *diags, struct ferry_error *err)
{
	return load(name, NULL, 0, text, len, out, diags, err);
}

int plan_load(const char *path, struct plan **out, struct plan_diags *diags,
              struct ferry_error *err)
{
	return plan_load_flags(path, 0, out, diags, err);
}

int plan_load_flags(const char *path, unsigned flags, struct plan **out, struct plan_diags *diags,
                    struct ferry_error *err)
{
	struct buf b;
	char *tmp;
	int r, e;

	/* one byte over the limit tells "too large" from "just fits" */
	buf_init(&b, PLAN_FILE_MAX + 1);
	r = buf_read_file(&b, path);
	e = errno;
	if (r == FERRY_ENOTFOUND)
		r = ferry_error_set(err, r, "run 'ferry init' to write a starter plan",
		                    "plan %s: no such file", path);
	else if (r == FERRY_EIO)
		r = ferry_error_set(err, r, NULL, "plan %s: cannot read it: %s", path, strerror(e));
	else if (r == FERRY_EPROTO)
		r = load(path, ".", flags, "", PLAN_FILE_MAX + 1, out, diags, err);
	if (r < 0) {
		buf_release(&b);
		return r;
	}
	tmp = xstrdup(path);
	r = load(path, dirname(tmp), flags, b.data, b.len, out, diags, err);
	free(tmp);
	buf_release(&b);
	return r;
}
