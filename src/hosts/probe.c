/*
 * probe.c - see probe.h.
 *
 * Three layers: hosts_lines_parse() checks the framing of the line format
 * (header, end line, limits, bytes) and hands each line to a callback;
 * probe_line() files a line into the fingerprint, handing socket lines to
 * probe_sockets.c on the side; finish() has probe_sockets.c add the
 * derived `ports` and `conns` facts, sorts, and rejects duplicate keys.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "hosts/probe_internal.h"
#include "util/mem.h"

static const char *const cat_names[HOSTS_CAT_COUNT] = {
	[HOSTS_CAT_OS] = "os",         [HOSTS_CAT_TIMEZONE] = "timezone",
	[HOSTS_CAT_LOCALE] = "locale", [HOSTS_CAT_APP] = "app",
	[HOSTS_CAT_ENV] = "env",       [HOSTS_CAT_PORTS] = "ports",
	[HOSTS_CAT_CONNS] = "conns",   [HOSTS_CAT_PACKAGES] = "packages",
	[HOSTS_CAT_CRON] = "cron",     [HOSTS_CAT_LIMITS] = "limits",
};

const char *hosts_cat_name(enum hosts_cat c)
{
	return c < HOSTS_CAT_COUNT ? cat_names[c] : "?";
}

void hosts_fingerprint_init(struct hosts_fingerprint *fp)
{
	fp->v = NULL;
	fp->n = fp->alloc = 0;
}

void hosts_fingerprint_release(struct hosts_fingerprint *fp)
{
	size_t i;

	for (i = 0; i < fp->n; i++) {
		free(fp->v[i].key);
		free(fp->v[i].value);
	}
	free(fp->v);
	hosts_fingerprint_init(fp);
}

static int fact_cmp(const void *a, const void *b)
{
	const struct hosts_fact *x = a, *y = b;

	if (x->cat != y->cat)
		return x->cat < y->cat ? -1 : 1;
	return strcmp(x->key, y->key);
}

const struct hosts_fact *hosts_fingerprint_get(const struct hosts_fingerprint *fp,
                                               enum hosts_cat cat, const char *key)
{
	struct hosts_fact k = { .cat = cat, .key = (char *)key };

	if (!fp->n)
		return NULL;
	return bsearch(&k, fp->v, fp->n, sizeof(*fp->v), fact_cmp);
}

void hosts_fact_add(struct hosts_fingerprint *fp, enum hosts_cat cat, const char *key,
                    const char *value)
{
	XGROW(fp->v, fp->alloc, fp->n + 1);
	fp->v[fp->n].cat = cat;
	fp->v[fp->n].key = xstrdup(key);
	fp->v[fp->n].value = xstrdup(value);
	fp->n++;
}

/* ---- framing ---- */

int hosts_lines_parse(const char *data, size_t len, const char *end_mode,
                      int (*fn)(void *ctx, size_t lineno, const char *section, const char *key,
                                const char *value, struct ferry_error *err),
                      void *ctx, struct ferry_error *err)
{
	struct buf line;
	size_t pos = 0, lineno = 0, i;
	bool ended = false;
	int rc = 0;

	buf_init(&line, HOSTS_PROBE_LINE_MAX);
	while (pos < len) {
		size_t avail = len - pos, ll;
		const char *start = data + pos, *nl;
		char *t1, *t2;

		lineno++;
		if (lineno > HOSTS_PROBE_LINES_MAX) {
			rc = ferry_error_set(err, FERRY_EPROTO, NULL,
			                     "probe output: more than %d lines",
			                     HOSTS_PROBE_LINES_MAX);
			goto out;
		}
		nl = memchr(start, '\n',
		            avail < HOSTS_PROBE_LINE_MAX + 1 ? avail : HOSTS_PROBE_LINE_MAX + 1);
		if (!nl && avail > HOSTS_PROBE_LINE_MAX) {
			rc = ferry_error_set(err, FERRY_EPROTO, NULL,
			                     "probe output line %zu: longer than %d bytes", lineno,
			                     HOSTS_PROBE_LINE_MAX);
			goto out;
		}
		if (!nl) {
			rc = ferry_error_set(
			        err, FERRY_EPROTO,
			        "the probe was cut short (connection lost or killed?)",
			        "probe output line %zu: truncated (no newline at the end)", lineno);
			goto out;
		}
		ll = (size_t)(nl - start);
		for (i = 0; i < ll; i++) {
			unsigned char c = (unsigned char)start[i];

			if (c == 0 || (c < 0x20 && c != '\t') || c == 0x7f) {
				rc = ferry_error_set(err, FERRY_EPROTO,
				                     "the output is not from ferry's probe script",
				                     "probe output line %zu: %s at column %zu",
				                     lineno, c ? "control byte" : "NUL byte",
				                     i + 1);
				goto out;
			}
		}
		pos += ll + 1;
		if (ended) {
			rc = ferry_error_set(err, FERRY_EPROTO, NULL,
			                     "probe output line %zu: data after the end line",
			                     lineno);
			goto out;
		}
		buf_reset(&line);
		if (buf_add(&line, start, ll) < 0)
			BUG("line of %zu bytes passed the check", ll);
		if (lineno == 1) {
			if (strcmp(line.data, "ferry-probe\tversion\t1")) {
				rc = ferry_error_set(
				        err, FERRY_EPROTO,
				        "does the host's shell print something on start?",
				        "probe output line 1: not the ferry-probe version 1 "
				        "header");
				goto out;
			}
			continue;
		}
		t1 = strchr(line.data, '\t');
		t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		if (!t2 || strchr(t2 + 1, '\t')) {
			rc = ferry_error_set(
			        err, FERRY_EPROTO, NULL,
			        "probe output line %zu: expected SECTION<TAB>KEY<TAB>VALUE",
			        lineno);
			goto out;
		}
		*t1++ = '\0';
		*t2++ = '\0';
		if (!line.data[0] || !t1[0] || strlen(t1) > HOSTS_PROBE_KEY_MAX) {
			rc = ferry_error_set(
			        err, FERRY_EPROTO, NULL,
			        "probe output line %zu: empty section, or key empty or "
			        "longer than %d bytes",
			        lineno, HOSTS_PROBE_KEY_MAX);
			goto out;
		}
		if (!strcmp(line.data, "end")) {
			if (strcmp(t1, end_mode) || strcmp(t2, "ok")) {
				rc = ferry_error_set(err, FERRY_EPROTO, NULL,
				                     "probe output line %zu: bad end line", lineno);
				goto out;
			}
			ended = true;
			continue;
		}
		rc = fn(ctx, lineno, line.data, t1, t2, err);
		if (rc < 0)
			goto out;
	}
	if (lineno == 0) {
		rc = ferry_error_set(err, FERRY_EPROTO, "does the host have a POSIX sh?",
		                     "probe output: empty");
	} else if (!ended) {
		rc = ferry_error_set(
		        err, FERRY_EPROTO, "the probe was cut short (connection lost or killed?)",
		        "probe output: truncated after line %zu (no end line)", lineno);
	}
out:
	buf_release(&line);
	return rc;
}

struct parse_ctx {
	struct hosts_fingerprint *fp;
	unsigned *lines; /* line of each fact, for duplicate messages */
	size_t lines_alloc;
	struct hosts_sockets socks;
};

/* ---- sections ---- */

static bool is_hash(const char *v)
{
	size_t i;

	for (i = 0; v[i]; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
			return false;
	return i == 64;
}

static bool one_of(const char *key, const char *const *keys)
{
	for (; *keys; keys++)
		if (!strcmp(key, *keys))
			return true;
	return false;
}

static int probe_line(void *vctx, size_t lineno, const char *section, const char *key,
                      const char *value, struct ferry_error *err)
{
	static const char *const os_keys[] = { "id", "version_id", "kernel", NULL };
	static const char *const tz_keys[] = { "zone", NULL };
	static const char *const locale_keys[] = { "LANG", NULL };
	static const char *const app_keys[] = {
		"source", "found", "pid", "matches", "error", NULL
	};
	static const char *const limit_keys[] = { "nofile",     "nproc",     "cpus",
		                                  "app.nofile", "app.nproc", NULL };
	struct parse_ctx *c = vctx;
	const char *const *keys = NULL;
	enum hosts_cat cat;

	if (!strcmp(section, "ss") || !strcmp(section, "proctcp"))
		return hosts_sockets_line(&c->socks, lineno, section[0] == 's', key, value, err);
	if (!strcmp(section, "os")) {
		cat = HOSTS_CAT_OS;
		keys = os_keys;
	} else if (!strcmp(section, "timezone")) {
		cat = HOSTS_CAT_TIMEZONE;
		keys = tz_keys;
	} else if (!strcmp(section, "locale")) {
		cat = HOSTS_CAT_LOCALE;
		keys = locale_keys;
	} else if (!strcmp(section, "app")) {
		cat = HOSTS_CAT_APP;
		keys = app_keys;
	} else if (!strcmp(section, "limits")) {
		cat = HOSTS_CAT_LIMITS;
		keys = limit_keys;
	} else if (!strcmp(section, "env")) {
		cat = HOSTS_CAT_ENV;
	} else if (!strcmp(section, "packages")) {
		cat = HOSTS_CAT_PACKAGES;
	} else if (!strcmp(section, "cron")) {
		cat = HOSTS_CAT_CRON;
	} else {
		return ferry_error_set(err, FERRY_EPROTO,
		                       "the output is not from this ferry's probe",
		                       "probe output line %zu: unknown section", lineno);
	}
	if (keys && !one_of(key, keys))
		return ferry_error_set(err, FERRY_EPROTO, NULL,
		                       "probe output line %zu: unknown key in section %s", lineno,
		                       section);
	/* Never echo the value: a hostile or broken probe might put a secret
	 * there. */
	if ((cat == HOSTS_CAT_ENV || cat == HOSTS_CAT_CRON) && !is_hash(value))
		return ferry_error_set(err, FERRY_EPROTO, NULL,
		                       "probe output line %zu: %s %s: value is not a sha256 hash",
		                       lineno, section, cat == HOSTS_CAT_ENV ? key : "entry");
	XGROW(c->lines, c->lines_alloc, c->fp->n + 1);
	c->lines[c->fp->n] = (unsigned)lineno;
	hosts_fact_add(c->fp, cat, key, value);
	return 0;
}

struct line_fact {
	struct hosts_fact f;
	unsigned line;
};

static int line_fact_cmp(const void *a, const void *b)
{
	const struct line_fact *x = a, *y = b;
	int r = fact_cmp(&x->f, &y->f);

	if (r)
		return r;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int finish(struct parse_ctx *c, struct ferry_error *err)
{
	struct hosts_fingerprint *fp = c->fp;
	size_t i, nfacts = fp->n;
	struct line_fact *sorted;

	hosts_sockets_facts(&c->socks, fp);
	/* Sort with each fact's line number alongside (qsort is not stable), to
	 * name the later line of a duplicate. */
	sorted = xcalloc(fp->n ? fp->n : 1, sizeof(*sorted));
	for (i = 0; i < fp->n; i++) {
		sorted[i].f = fp->v[i];
		sorted[i].line = i < nfacts ? c->lines[i] : 0;
	}
	xqsort(sorted, fp->n, sizeof(*sorted), line_fact_cmp);
	for (i = 0; i < fp->n; i++)
		fp->v[i] = sorted[i].f;
	for (i = 1; i < fp->n; i++) {
		if (fact_cmp(&fp->v[i - 1], &fp->v[i]))
			continue;
		unsigned line = sorted[i].line;

		free(sorted);
		return ferry_error_set(err, FERRY_EPROTO, NULL,
		                       "probe output line %u: duplicate key in section %s", line,
		                       hosts_cat_name(fp->v[i].cat));
	}
	free(sorted);
	return 0;
}

int hosts_probe_parse(const char *data, size_t len, struct hosts_fingerprint *fp,
                      struct ferry_error *err)
{
	struct parse_ctx c = { .fp = fp };
	int rc;

	rc = hosts_lines_parse(data, len, "probe", probe_line, &c, err);
	if (rc == 0)
		rc = finish(&c, err);
	if (rc < 0)
		hosts_fingerprint_release(fp);
	free(c.lines);
	hosts_sockets_release(&c.socks);
	return rc;
}

/* ---- running ---- */

static bool valid_name(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("._@:+-", c)))
			return false;
	}
	return n > 0 && n <= HOSTS_PROBE_KEY_MAX;
}

static bool valid_path(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int assign(struct buf *b, const char *name, const char *value)
{
	int rc = buf_addf(b, "%s=", name);

	if (rc == 0)
		rc = hosts_sh_quote(b, value);
	return rc ? rc : buf_addch(b, '\n');
}

int hosts_probe_script(const struct hosts_probe_opts *o, const char *mode, const char *extra,
                       struct buf *script, struct ferry_error *err)
{
	struct buf pk;
	size_t i;
	int rc = 0;

	buf_init(&pk, 1 << 16);
	if (o->process && !valid_name(o->process)) {
		rc = ferry_error_set(err, FERRY_EINVAL, "use the name as shown by `ps -o comm`",
		                     "checks.env.process: '%s' is not a process name", o->process);
		goto out;
	}
	if (o->unit && !valid_name(o->unit)) {
		rc = ferry_error_set(err, FERRY_EINVAL, NULL,
		                     "checks.env.unit: '%s' is not a systemd unit name", o->unit);
		goto out;
	}
	if (o->pidfile && (!valid_path(o->pidfile) || !o->pidfile[0])) {
		rc = ferry_error_set(err, FERRY_EINVAL, NULL,
		                     "checks.env.pidfile: path has control characters");
		goto out;
	}
	if (o->salt && !valid_name(o->salt) && o->salt[0]) {
		rc = ferry_error_set(err, FERRY_EINVAL, NULL, "probe salt: not a hex string");
		goto out;
	}
	for (i = 0; i < o->npackages; i++) {
		if (!valid_name(o->packages[i])) {
			rc = ferry_error_set(err, FERRY_EINVAL, NULL,
			                     "checks.packages: '%s' is not a package name",
			                     o->packages[i]);
			goto out;
		}
		if ((i && buf_addch(&pk, ' ') < 0) || buf_adds(&pk, o->packages[i]) < 0) {
			rc = ferry_error_set(err, FERRY_EINVAL, NULL, "checks.packages: too many");
			goto out;
		}
	}
	rc = assign(script, "FERRY_MODE", mode);
	if (!rc)
		rc = assign(script, "FERRY_SALT", o->salt ? o->salt : "");
	if (!rc)
		rc = assign(script, "FERRY_PACKAGES", pk.data);
	if (!rc && o->pidfile)
		rc = assign(script, "FERRY_PIDFILE", o->pidfile);
	if (!rc && o->unit)
		rc = assign(script, "FERRY_UNIT", o->unit);
	if (!rc && o->process)
		rc = assign(script, "FERRY_PROCESS", o->process);
	if (!rc && extra)
		rc = buf_adds(script, extra);
	if (!rc)
		rc = buf_add(script, hosts_probe_sh, hosts_probe_sh_len);
	if (rc)
		rc = ferry_error_set(err, FERRY_EINVAL, NULL, "probe script: too large");
out:
	buf_release(&pk);
	return rc;
}

/* The first line of stderr, without control bytes, for an error message. */
static void first_line(const struct buf *b, char *out, size_t outlen)
{
	size_t i, n = 0;

	for (i = 0; i < b->len && b->data[i] != '\n' && n + 1 < outlen; i++)
		if ((unsigned char)b->data[i] >= 0x20 && b->data[i] != 0x7f)
			out[n++] = b->data[i];
	out[n] = '\0';
}

int hosts_probe_run(const struct hosts_target *t, const struct hosts_probe_opts *o,
                    struct hosts_fingerprint *fp, struct ferry_error *err)
{
	static const char *const argv[] = { "sh", "-s", NULL };
	const char *host = t && t->name ? t->name : "local";
	struct hosts_exec_result r;
	struct buf script;
	char line[200];
	int rc;

	buf_init(&script, 1 << 20);
	hosts_exec_result_init(&r);
	rc = hosts_probe_script(o, "probe", NULL, &script, err);
	if (rc < 0)
		goto out;
	rc = hosts_exec(t, argv, script.data, script.len, o->timeout_ms ? o->timeout_ms : 30000, &r,
	                err);
	if (rc < 0)
		goto out;
	if (r.status != 0) {
		first_line(&r.err, line, sizeof(line));
		rc = ferry_error_set(err, FERRY_EREFUSED,
		                     "run the exec prefix by hand: PREFIX sh -c true",
		                     "host %s: probe exited with status %d%s%s", host, r.status,
		                     line[0] ? ": " : "", line);
		goto out;
	}
	rc = hosts_probe_parse(r.out.data, r.out.len, fp, err);
	if (rc < 0)
		ferry_error_prefix(err, "host %s", host);
out:
	hosts_exec_result_release(&r);
	buf_release(&script);
	return rc;
}

int hosts_probe_salt(struct buf *b)
{
	unsigned char raw[16];
	size_t i;
	int rc = 0;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return FERRY_EIO;
	for (i = 0; i < sizeof(raw) && rc == 0; i++)
		rc = buf_addf(b, "%02x", raw[i]);
	return rc;
}
