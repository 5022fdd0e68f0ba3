/*
 * plan_validate.c - the parts of the plan module that do not touch YAML:
 * checks on single values (addresses, host:port, DNS names, time zones,
 * times of day, inline secrets), the "did you mean" suggestion, the
 * diagnostics list, freeing the model, and reading a secret.
 *
 * plan.c walks the document and calls these; keeping them here keeps
 * libfyaml in one file (STYLE: one foreign library, one file) and lets each
 * check be read on its own.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan/plan_internal.h"
#include "util/mem.h"
#include "util/port.h"
#include "util/secret.h"
#include "util/suggest.h"

/* A secret is a password or a key: 64 KiB is far more than any. */
#define SECRET_MAX (64 * 1024)

/* ---- diagnostics ---- */

static void diag_add(struct plan_ctx *c, struct plan_pos pos, bool warning, const char *hint,
                     const char *fmt, va_list ap)
{
	struct plan_diags *d = c->diags;
	struct plan_diag *g;
	char msg[1024];

	if (!warning && c->nerrors++ >= PLAN_MAX_ERRORS)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	XGROW(d->v, d->alloc, d->n + 1);
	g = &d->v[d->n++];
	g->file = xstrdup(c->file);
	g->line = pos.line;
	g->column = pos.column;
	g->msg = xstrdup(msg);
	g->hint = hint ? xstrdup(hint) : NULL;
	g->warning = warning;
}

void plan_ctx_finish(struct plan_ctx *c)
{
	struct plan_diags *d = c->diags;
	size_t i, j;

	/* insertion sort: stable, and there are at most ~PLAN_MAX_ERRORS */
	for (i = c->first + 1; i < d->n; i++) {
		struct plan_diag t = d->v[i];

		for (j = i; j > c->first &&
		            (d->v[j - 1].line > t.line ||
		             (d->v[j - 1].line == t.line && d->v[j - 1].column > t.column));
		     j--)
			d->v[j] = d->v[j - 1];
		d->v[j] = t;
	}
	/* an anchor used twice would say the same thing twice */
	for (i = j = c->first; i < d->n; i++) {
		struct plan_diag *g = &d->v[i];

		if (j > c->first && d->v[j - 1].line == g->line &&
		    d->v[j - 1].column == g->column && !strcmp(d->v[j - 1].msg, g->msg)) {
			if (!g->warning)
				c->nerrors--;
			free(g->file);
			free(g->msg);
			free(g->hint);
			continue;
		}
		d->v[j++] = *g;
	}
	d->n = j;
	if (c->nerrors > PLAN_MAX_ERRORS) {
		size_t total = c->nerrors;

		c->nerrors = 0; /* so that the note itself is kept */
		plan_ctx_error(c, (struct plan_pos){ 0, 0 }, "fix the first ones and try again",
		               "%zu more errors not shown", total - PLAN_MAX_ERRORS);
		c->nerrors = total;
	}
}

void plan_ctx_error(struct plan_ctx *c, struct plan_pos pos, const char *hint, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_add(c, pos, false, hint, fmt, ap);
	va_end(ap);
}

void plan_ctx_warn(struct plan_ctx *c, struct plan_pos pos, const char *hint, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_add(c, pos, true, hint, fmt, ap);
	va_end(ap);
}

void plan_diags_release(struct plan_diags *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
		free(d->v[i].hint);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

size_t plan_diags_errors(const struct plan_diags *d)
{
	size_t i, n = 0;

	for (i = 0; i < d->n; i++)
		if (!d->v[i].warning)
			n++;
	return n;
}

int plan_diags_format(const struct plan_diags *d, struct buf *out)
{
	size_t i;
	int r = 0;

	for (i = 0; i < d->n && r == 0; i++) {
		const struct plan_diag *g = &d->v[i];

		if (g->line > 0)
			r = buf_addf(out, "%s:%d:%d: %s%s\n", g->file, g->line, g->column,
			             g->warning ? "warning: " : "", g->msg);
		else
			r = buf_addf(out, "%s: %s%s\n", g->file, g->warning ? "warning: " : "",
			             g->msg);
		if (r == 0 && g->hint)
			r = buf_addf(out, "  hint: %s\n", g->hint);
	}
	return r;
}

/* ---- suggestions ---- */

const char *plan_suggest(const char *word, const char *const *cands)
{
	return suggest(word, cands);
}

void plan_join(const char *const *cands, char *out, size_t outlen)
{
	size_t i, len = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	for (i = 0; cands[i] && len < outlen; i++) {
		int n = snprintf(out + len, outlen - len, "%s%s", i ? ", " : "", cands[i]);

		if (n < 0)
			break;
		len += (size_t)n;
	}
}

/* ---- addresses and names ---- */

bool plan_is_ip(const char *s)
{
	unsigned char a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

bool plan_same_ip(const char *a, const char *b)
{
	unsigned char x[16] = { 0 }, y[16] = { 0 };
	int af = strchr(a, ':') ? AF_INET6 : AF_INET;

	if ((strchr(b, ':') ? AF_INET6 : AF_INET) != af)
		return false;
	if (inet_pton(af, a, x) != 1 || inet_pton(af, b, y) != 1)
		return !strcmp(a, b);
	return memcmp(x, y, sizeof(x)) == 0;
}

static bool host_name_ok(const char *s)
{
	const char *why;
	char *n = plan_dns_name(s, &why);

	free(n);
	return n != NULL;
}

bool plan_hostport(const char *s, bool need_ip, uint16_t defport, char **host, uint16_t *port,
                   const char **why)
{
	const char *colon, *hend, *hstart = s;
	char *h;

	if (s[0] == '[') {
		/* RFC 3986 §3.2.2: an IPv6 literal in brackets */
		hstart = s + 1;
		hend = strchr(s, ']');
		if (!hend) {
			*why = "missing ']' after an IPv6 address";
			return false;
		}
		colon = hend[1] == ':' ? hend + 1 : NULL;
		if (hend[1] && !colon) {
			*why = "not HOST:PORT";
			return false;
		}
	} else {
		colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon) {
			*why = "an IPv6 address without brackets; write [ADDRESS]:PORT";
			return false;
		}
		hend = colon ? colon : s + strlen(s);
	}
	if (hend == hstart) {
		*why = "missing the host";
		return false;
	}
	if (!colon && !defport) {
		*why = "missing the port";
		return false;
	}
	if (colon && !port_parse(colon + 1, port)) {
		*why = "not a valid port (1..65535)";
		return false;
	}
	if (!colon)
		*port = defport;
	h = xstrndup(hstart, (size_t)(hend - hstart));
	if (s[0] == '[' && !strchr(h, ':')) {
		*why = "not an IPv6 address inside '[...]'";
		free(h);
		return false;
	}
	if (need_ip ? !plan_is_ip(h) : !(plan_is_ip(h) || host_name_ok(h))) {
		*why = need_ip ? "not an IPv4 or IPv6 address" : "not a host name or address";
		free(h);
		return false;
	}
	*host = h;
	return true;
}

char *plan_dns_name(const char *s, const char **why)
{
	size_t len = strlen(s), label = 0, i;
	char *out;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0) {
		*why = "empty";
		return NULL;
	}
	/* RFC 1035 §2.3.4: 63 octets per label, 255 per name (253 as text) */
	if (len > 253) {
		*why = "longer than 253 characters";
		return NULL;
	}
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (label == 0) {
				*why = "a name with an empty label";
				return NULL;
			}
			label = 0;
			continue;
		}
		if (!isalnum(ch) && ch != '-' && ch != '_') {
			*why = "not a DNS name (letters, digits, '-', '_' and dots)";
			return NULL;
		}
		if (++label > 63) {
			*why = "a name with a label longer than 63 characters";
			return NULL;
		}
	}
	out = xstrndup(s, len);
	for (i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	return out;
}

bool plan_name_in_zone(const char *name, const char *zone)
{
	size_t ln = strlen(name), lz = strlen(zone);

	if (ln == lz)
		return strcmp(name, zone) == 0;
	return ln > lz && name[ln - lz - 1] == '.' && strcmp(name + ln - lz, zone) == 0;
}

bool plan_time_zone_ok(const char *zone, const char **why)
{
	const char *dir = getenv("TZDIR");
	char path[4096], magic[4];
	struct stat st;
	const char *p;
	int fd;
	ssize_t n;

	if (!dir || !*dir)
		dir = "/usr/share/zoneinfo";
	if (zone[0] == '/' || strstr(zone, "..") || strlen(zone) > 255) {
		*why = "not an IANA time zone name";
		return false;
	}
	for (p = zone; *p; p++) {
		if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p)) {
			*why = "not an IANA time zone name";
			return false;
		}
	}
	snprintf(path, sizeof(path), "%s/%s", dir, zone);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ELOOP)
		fd = open(path, O_RDONLY | O_CLOEXEC); /* Debian links aliases */
	if (fd < 0) {
		*why = "not a known time zone";
		return false;
	}
	/* tzfile(5): every zone file starts with "TZif" */
	n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, magic, 4) : -1;
	close(fd);
	if (n != 4 || memcmp(magic, "TZif", 4) != 0) {
		*why = "not a known time zone";
		return false;
	}
	return true;
}

bool plan_hhmm(const char *s, int *minutes, const char **why)
{
	int h, m;

	if (strlen(s) != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
	    s[2] != ':' || !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4])) {
		*why = "not a time of day HH:MM";
		return false;
	}
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (h > 23 || m > 59) {
		*why = "not a time of day (00:00 to 23:59)";
		return false;
	}
	*minutes = h * 60 + m;
	return true;
}

static const char *const weekdays[] = { "sunday",   "monday", "tuesday", "wednesday",
	                                "thursday", "friday", "saturday" };

int plan_weekday_parse(const char *s)
{
	int i;

	for (i = 0; i < 7; i++)
		if (!strcasecmp(s, weekdays[i]) ||
		    (strlen(s) == 3 && !strncasecmp(s, weekdays[i], 3)))
			return i;
	return -1;
}

const char *plan_weekday_name(enum plan_weekday d)
{
	static const char *const abbr[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

	return (unsigned)d < 7 ? abbr[d] : "?";
}

/* ---- inline secrets ---- */

/* Whether the word ending at end (exclusive) that starts at or after s
 * ends in "password" (password, sslpassword, ...): every such keyword of
 * libpq holds a secret (libpq §34.1.2). */
static bool ends_in_password(const char *start, const char *end)
{
	return end - start >= 8 && !strncasecmp(end - 8, "password", 8);
}

static bool keyword_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

bool plan_conninfo_has_password(const char *s)
{
	const char *p, *q;

	/* libpq §34.1.1: "keyword = value" with optional spaces around '=';
	 * a keyword starts the string or follows a blank */
	for (p = s; (p = strcasestr(p, "password")) != NULL; p += 8) {
		const char *k = p;

		while (k > s && keyword_char(k[-1]))
			k--;
		if (k != s && !isspace((unsigned char)k[-1]))
			continue;
		q = p + 8;
		while (isspace((unsigned char)*q))
			q++;
		if (*q == '=')
			return true;
	}
	/* the URI form, postgresql://user:secret@host/db?sslpassword=x
	 * (libpq §34.1.1.2): a userinfo password, or a query parameter */
	if (plan_url_has_password(s))
		return true;
	p = strstr(s, "://") ? strchr(s, '?') : NULL;
	while (p) {
		p++;
		q = p + strcspn(p, "=&#");
		if (*q == '=' && ends_in_password(p, q))
			return true;
		p = strchr(q, '&');
	}
	return false;
}

bool plan_url_has_password(const char *s)
{
	const char *p = strstr(s, "://"), *end, *colon;

	if (!p)
		return false;
	p += 3;
	/* RFC 3986 §3.2.1: userinfo ends at '@' before the path */
	end = p + strcspn(p, "/?#");
	colon = memchr(p, ':', (size_t)(end - p));
	return colon && memchr(colon, '@', (size_t)(end - colon)) != NULL;
}

bool plan_url_has_secret(const char *s)
{
	/* names services give a token in a query: ?key= (Google APIs),
	 * ?code= (Azure Functions), ?sig= / ?signature= (signed URLs) */
	static const char *const names[] = { "key", "auth", "sig", "signature", "code" };
	const char *p, *q;
	char name[65];
	size_t i, len;

	if (plan_url_has_password(s))
		return true;
	p = strchr(s, '?');
	while (p) {
		p++;
		len = strcspn(p, "=&#");
		q = p + len;
		if (len > 0 && len < sizeof(name)) {
			memcpy(name, p, len);
			name[len] = '\0';
			if (plan_key_is_secret(name))
				return true;
			for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
				if (!strcasecmp(name, names[i]))
					return true;
		}
		if (*q == '#')
			break;
		p = strchr(q, '&');
	}
	return false;
}

bool plan_key_is_secret(const char *key)
{
	static const char *const words[] = { "secret", "token", "apikey", "api_key" };
	size_t i, lk = strlen(key);

	/* "password", "sslpassword", "db-password", "passwd": any key that
	 * ends in one of these names a password, as libpq's keywords do */
	if (ends_in_password(key, key + lk) || (lk >= 6 && !strcasecmp(key + lk - 6, "passwd")))
		return true;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t lw = strlen(words[i]);

		/* "secret", "tsig_secret", "api-token": the word as the key or
		 * its last part */
		if (lk >= lw && !strcasecmp(key + lk - lw, words[i]) &&
		    (lk == lw || key[lk - lw - 1] == '_' || key[lk - lw - 1] == '-'))
			return true;
	}
	return false;
}

bool plan_simple_name(const char *s)
{
	const char *p;

	if (!*s || strlen(s) > 63)
		return false;
	for (p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			return false;
	return true;
}

/* ---- lists and freeing ---- */

void plan_strv_push(struct plan_strv *v, char *s)
{
	/* doubling, without an alloc field: grow when n + 1 reaches a power
	 * of two, to twice that (room for n + 2 with the NULL) */
	if (((v->n + 1) & v->n) == 0)
		v->v = xrealloc(v->v, 2 * (v->n + 1) * sizeof(*v->v));
	v->v[v->n++] = s;
	v->v[v->n] = NULL;
}

void plan_strv_release(struct plan_strv *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		free(v->v[i]);
	free(v->v);
	v->v = NULL;
	v->n = 0;
}

static void secret_release(struct plan_secret *s)
{
	free(s->file);
	free(s->env);
}

void plan_free(struct plan *p)
{
	size_t i;

	if (!p)
		return;
	free(p->path);
	free(p->dir);
	free(p->name);
	free(p->host_old.address);
	plan_strv_release(&p->host_old.addresses);
	free(p->host_old.cname);
	plan_strv_release(&p->host_old.exec);
	free(p->host_new.address);
	plan_strv_release(&p->host_new.addresses);
	free(p->host_new.cname);
	plan_strv_release(&p->host_new.exec);

	free(p->dns.provider);
	free(p->dns.server);
	free(p->dns.server_host);
	free(p->dns.zone);
	free(p->dns.key.name);
	secret_release(&p->dns.key.secret);
	free(p->dns.api);
	secret_release(&p->dns.api_key);
	free(p->dns.server_id);
	free(p->dns.hosted_zone_id);
	free(p->dns.region);
	free(p->dns.access_key_id);
	secret_release(&p->dns.access_key_id_ref);
	secret_release(&p->dns.secret_access_key);
	secret_release(&p->dns.session_token);
	plan_strv_release(&p->dns.command);
	plan_strv_release(&p->dns.records);
	free(p->dns.ttl.steps);
	plan_strv_release(&p->dns.resolvers);

	for (i = 0; i < p->ndatabases; i++) {
		struct plan_database *db = &p->databases[i];

		free(db->name);
		free(db->source);
		free(db->target);
		secret_release(&db->password);
		free(db->sw.admin_old);
		free(db->sw.admin_new);
		free(db->sw.include_old);
		free(db->sw.include_new);
		free(db->sw.dbalias);
		free(db->sw.backend);
		free(db->sw.server);
		plan_strv_release(&db->sw.point);
		plan_strv_release(&db->sw.show);
		plan_strv_release(&db->sw.revert);
		free(db->sw.host);
		free(db->sw.address_old);
		free(db->sw.address_new);
	}
	free(p->databases);

	free(p->traffic.via);
	free(p->traffic.admin);
	free(p->traffic.admin_new);
	free(p->traffic.backend);
	free(p->traffic.server_old);
	free(p->traffic.server_new);
	free(p->traffic.steps);

	for (i = 0; i < p->checks.nhealth; i++)
		free(p->checks.health[i].url);
	free(p->checks.health);
	free(p->checks.env.process);
	free(p->checks.env.pidfile);
	free(p->checks.env.unit);
	plan_strv_release(&p->checks.env.ignore);
	plan_strv_release(&p->checks.egress);
	plan_strv_release(&p->checks.tls.names);
	free(p->checks.tls.ca_file);
	plan_strv_release(&p->checks.packages);
	plan_strv_release(&p->checks.ignore);

	free(p->rollback.authority);
	free(p->rollback.canary);
	free(p->rollback.evidence);
	free(p->rollback.waiver);
	free(p->rollback.prometheus.url);
	secret_release(&p->rollback.prometheus.url_ref);
	free(p->rollback.prometheus.query);

	free(p->schedule.cutover_window.zone);

	for (i = 0; i < p->nhooks; i++) {
		free(p->hooks[i].event);
		plan_strv_release(&p->hooks[i].argv);
		free(p->hooks[i].url);
		secret_release(&p->hooks[i].url_ref);
	}
	free(p->hooks);
	for (i = 0; i < p->nwhere; i++)
		free(p->where[i].path);
	free(p->where);
	free(p);
}

struct plan_pos plan_value_pos(const struct plan *p, const char *path)
{
	size_t i;

	for (i = 0; i < p->nwhere; i++)
		if (!strcmp(p->where[i].path, path))
			return p->where[i].pos;
	return (struct plan_pos){ 0, 0 };
}

void plan_diags_add(struct plan_diags *d, const struct plan *p, bool warning, struct plan_pos pos,
                    const char *hint, const char *fmt, ...)
{
	struct plan_ctx c = { .file = p->path, .diags = d, .first = d->n };
	va_list ap;

	va_start(ap, fmt);
	diag_add(&c, pos, warning, hint, fmt, ap);
	va_end(ap);
}

/* ---- names and look-ups ---- */

const char *plan_db_engine_name(enum plan_db_engine e)
{
	switch (e) {
	case PLAN_DB_POSTGRESQL: return "postgresql";
	case PLAN_DB_MARIADB: return "mariadb";
	case PLAN_DB_REDIS: return "redis";
	}
	return "?";
}

const char *plan_switch_via_name(enum plan_switch_via v)
{
	switch (v) {
	case PLAN_SWITCH_NONE: return "none";
	case PLAN_SWITCH_PGBOUNCER: return "pgbouncer";
	case PLAN_SWITCH_HAPROXY: return "haproxy";
	case PLAN_SWITCH_HOOK: return "hook";
	}
	return "?";
}

const char *plan_tsig_alg_name(enum plan_tsig_alg a)
{
	switch (a) {
	case PLAN_TSIG_HMAC_SHA256: return "hmac-sha256";
	case PLAN_TSIG_HMAC_SHA384: return "hmac-sha384";
	case PLAN_TSIG_HMAC_SHA512: return "hmac-sha512";
	case PLAN_TSIG_HMAC_SHA1: return "hmac-sha1";
	case PLAN_TSIG_HMAC_MD5: return "hmac-md5";
	}
	return "?";
}

const char *const plan_hook_events[] = {
	"before_prepare",     "after_prepare",
	"before_replicate",   "before_validate",
	"before_cutover",     "after_cutover",
	"on_rollback",        "before_decommission",
	"after_decommission", NULL,
};

const struct plan_hook *plan_hook_find(const struct plan *p, const char *event)
{
	size_t i;

	for (i = 0; i < p->nhooks; i++)
		if (!strcmp(p->hooks[i].event, event))
			return &p->hooks[i];
	return NULL;
}

const struct plan_database *plan_database_find(const struct plan *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->ndatabases; i++)
		if (!strcmp(p->databases[i].name, name))
			return &p->databases[i];
	return NULL;
}

/* ---- secrets ---- */

static void strip_newlines(struct buf *b)
{
	while (b->len > 0 && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r'))
		b->data[--b->len] = '\0';
}

int plan_secret_read(const struct plan *p, const struct plan_secret *s, struct buf *out,
                     struct ferry_error *err)
{
	char *path = NULL;
	struct stat st;
	int fd = -1, r;

	if (out->max == 0)
		out->max = SECRET_MAX;
	if (s->env) {
		/* taken out of the environment: no child inherits it */
		r = secret_env_take(s->env, out);
		if (r == FERRY_ENOTFOUND)
			return ferry_error_set(err, FERRY_ENOTFOUND,
			                       "export it before running ferry, or use a file",
			                       "secret: environment variable %s is not set",
			                       s->env);
		if (r < 0)
			return ferry_error_set(err, FERRY_EINVAL, NULL,
			                       "secret: environment variable %s is too long",
			                       s->env);
		strip_newlines(out);
		return 0;
	}
	if (!s->file)
		return ferry_error_set(err, FERRY_ENOTFOUND,
		                       "name a file or an environment variable in the plan",
		                       "secret: none configured");
	path = plan_path(p, s->file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = ferry_error_set(err, errno == ENOENT ? FERRY_ENOTFOUND : FERRY_EIO,
		                    "check the path (relative paths start at the plan's folder)",
		                    "secret file %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = ferry_error_set(err, FERRY_EIO, NULL, "secret file %s: not a regular file",
		                    path);
		goto out;
	}
	/* Not an error (a shared bastion may rely on group access): the
	 * plan's diagnostics have said it, once (plan_read.c). */
	r = buf_read_fd(out, fd);
	if (r < 0) {
		r = ferry_error_set(err, r == FERRY_EPROTO ? FERRY_EINVAL : FERRY_EIO, NULL,
		                    "secret file %s: %s", path,
		                    r == FERRY_EPROTO ? "too large" : "read error");
		goto out;
	}
	strip_newlines(out);
	if (out->len == 0) {
		r = ferry_error_set(err, FERRY_EINVAL, "put the secret in the file",
		                    "secret file %s: empty", path);
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return r;
}

char *plan_path(const struct plan *p, const char *path)
{
	if (!path)
		return NULL;
	if (path[0] == '/' || !p || !p->dir)
		return xstrdup(path);
	return xasprintf("%s/%s", p->dir, path);
}
