/*
 * plan_internal.h - what the files of the plan module share; not for
 * use outside src/plan/plan*.c.
 *
 *  plan.c           the only user of libfyaml: loads the document and offers
 *                   a typed reader over it (struct plan_sect, plan_get_*);
 *                   struct fy_node stays opaque everywhere else
 *  plan_read.c      typed values on top of the reader (durations, secrets, ...)
 *  plan_sections.c  the sections, read through those into the model
 *  plan_validate.c  checks on single values, diagnostics, freeing the
 *                   model, reading secrets
 *
 * The value checks take a C string and return true when it is acceptable,
 * or false with *why set to a static phrase that completes "VALUE is ...".
 * The reader functions report every problem themselves (with the path of
 * the key, e.g. "dns.ttl.steps[2]", and its place) and return NULL/false/-1;
 * callers just go on.
 */
#ifndef FERRY_PLAN_PLAN_INTERNAL_H
#define FERRY_PLAN_PLAN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "plan/plan.h"

/* One loading run: where diagnostics go and how many errors were found. */
struct plan_ctx {
	const char *file; /* the name used in messages */
	struct plan_diags *diags;
	size_t first;   /* diags->v[first..] are this run's */
	size_t nerrors; /* all of them, also those not kept */
};

/* Past this many errors a file is garbage: later ones are counted, not kept. */
#define PLAN_MAX_ERRORS 100

/* Sorts this run's diagnostics by place (stable) and notes the errors that
 * were not kept. */
void plan_ctx_finish(struct plan_ctx *c);

__attribute__((format(printf, 4, 5))) void plan_ctx_error(struct plan_ctx *c, struct plan_pos pos,
                                                          const char *hint, const char *fmt, ...);
__attribute__((format(printf, 4, 5))) void plan_ctx_warn(struct plan_ctx *c, struct plan_pos pos,
                                                         const char *hint, const char *fmt, ...);

struct fy_node; /* a libfyaml node: opaque outside plan.c */

/* One walk over a document. */
struct plan_walk {
	struct plan_ctx c;
	struct plan *p;
	unsigned flags;  /* enum plan_load_flags */
	size_t budget;   /* nodes left to visit, aliases counted each time */
	bool budget_hit; /* reported once */
	struct plan_pos hosts_pos, dns_pos, checks_pos, traffic_via_pos;
	bool need_old, need_new; /* poolers' include files live on the hosts */
	struct plan_pos need_old_pos, need_new_pos;
};

/* A mapping being read: its node, its path in messages, where it is. */
struct plan_sect {
	struct plan_walk *w;
	struct fy_node *map; /* NULL when the section is absent or broken */
	char path[160];
	struct plan_pos pos;
	const char *const *keys; /* the keys valid here, NULL-terminated */
};

/* ---- the reader (plan.c) ---- */

/* Opens n as a mapping whose valid keys are keys, reporting unknown ones
 * (with a "did you mean").  False (s->map NULL) when n is not a mapping. */
bool plan_sect_open(struct plan_walk *w, struct plan_sect *s, struct fy_node *n,
                    struct plan_pos pos, const char *path, const char *const *keys);
bool plan_sect_has(struct plan_sect *s, const char *key);
void plan_sect_missing(struct plan_sect *s, const char *key, const char *hint);
/* The value of key with aliases followed, or NULL (reported when required).
 * *pos is where it is; path receives "SECTION.KEY". */
struct fy_node *plan_sect_get(struct plan_sect *s, const char *key, bool required,
                              struct plan_pos *pos, char *path, size_t pathlen);
/* The child mapping under key (see plan_sect_open). */
bool plan_get_map(struct plan_sect *s, const char *key, bool required, struct plan_sect *child,
                  const char *const *keys);
/* Calls fn for each element of the list under key, with path
 * "SECTION.KEY[i]".  Returns the count, or -1 when absent or not a list. */
typedef void (*plan_item_fn)(struct plan_walk *w, struct fy_node *n, const char *path,
                             struct plan_pos pos, size_t i, void *arg);
long plan_get_list(struct plan_sect *s, const char *key, bool required, plan_item_fn fn, void *arg);
/* n's text: a non-null scalar, at most 4096 bytes, no NUL.  Caller frees. */
char *plan_scalar_dup(struct plan_walk *w, struct fy_node *n, const char *path, struct plan_pos pos,
                      const char *expected);
/* n as a whole number in min..max (a plain scalar, not quoted). */
bool plan_int_value(struct plan_walk *w, struct fy_node *n, const char *path, struct plan_pos pos,
                    long min, long max, long *out);
/* The `name` of a mapping node, for messages; "" if none. */
void plan_node_name_hint(struct fy_node *n, char *out, size_t outlen);
void plan_join_path(char *out, size_t outlen, const char *base, const char *key);

/* ---- typed values (plan_read.c) ---- */

/* Each reads key of s, reports what is wrong, and returns NULL / false / -1
 * when the key is absent or wrong (leaving *out as it was, so that a default
 * set before stays). */
char *plan_get_str(struct plan_sect *s, const char *key, bool required, struct plan_pos *pos);
bool plan_get_duration(struct plan_sect *s, const char *key, int64_t *ms); /* > 0 */
bool plan_get_pct(struct plan_sect *s, const char *key, double *pct);
bool plan_pct_value(struct plan_walk *w, const char *v, const char *path, struct plan_pos pos,
                    double *out);
bool plan_get_int(struct plan_sect *s, const char *key, long min, long max, long *out);
bool plan_get_bool(struct plan_sect *s, const char *key, bool *out); /* true/false only */
/* A plain number; required: reported when absent. */
double plan_get_number(struct plan_walk *w, struct plan_sect *s, const char *key, bool *ok);
/* One of names (NULL-terminated): its index; def when absent; -1 when
 * wrong (reported as "unknown WHAT", with a "did you mean"). */
int plan_get_enum(struct plan_sect *s, const char *key, bool required, const char *what,
                  const char *const *names, int def);
/* A conninfo / an http(s) URL; a password inside (for a URL, a token in
 * its query too: plan_url_has_secret) is an "inline secret". */
char *plan_get_conninfo(struct plan_sect *s, const char *key, bool required);
char *plan_get_url(struct plan_sect *s, const char *key, bool required);
/* The same check on a URL already read (the hooks' short form). */
void plan_url_check(struct plan_walk *w, const char *url, const char *path, struct plan_pos pos,
                    bool ref_ok);
/* A URL that may hold a token (a webhook, the Prometheus API): exactly one
 * of the keys url (into *url), url_file or url_env (into *ref, as
 * plan_get_secret_ref). */
void plan_get_url_or_ref(struct plan_sect *s, bool required, char **url, struct plan_secret *ref);
/* Exactly one of file_key / env_key into out; a file is checked to exist
 * and to be private (warnings only). */
void plan_get_secret_ref(struct plan_sect *s, const char *file_key, const char *env_key,
                         struct plan_secret *out);

enum plan_str_check {
	PLAN_STR_ANY,       /* not empty */
	PLAN_STR_IP_PORT53, /* an address, port 53 by default */
	PLAN_STR_HOST_PORT, /* a name or address, port required */
	PLAN_STR_DNS_NAME,  /* stored normalised */
};

struct plan_strv_arg {
	struct plan_strv *out;
	enum plan_str_check check;
};

/* A plan_item_fn that appends checked strings to ((plan_strv_arg *)arg)->out. */
void plan_strv_item(struct plan_walk *w, struct fy_node *n, const char *path, struct plan_pos pos,
                    size_t i, void *arg);
long plan_get_strv(struct plan_sect *s, const char *key, bool required, struct plan_strv *out,
                   enum plan_str_check check);
void plan_inline_secret(struct plan_walk *w, struct plan_pos pos, const char *path);

/* ---- sections (plan_sections.c) ---- */

/* hosts, dns, databases, traffic, checks, rollback, schedule */
void plan_parse_sections(struct plan_walk *w, struct plan_sect *top);
/* What needs more than one section; run last. */
void plan_cross_check(struct plan_walk *w);

/* ---- values (plan_validate.c) ---- */

/* The candidate closest to word by edit distance, if close enough to be a
 * likely typo; NULL otherwise.  cands is NULL-terminated. */
const char *plan_suggest(const char *word, const char *const *cands);

/* "a, b, c" of cands into out (truncated to outlen). */
void plan_join(const char *const *cands, char *out, size_t outlen);

/* An IPv4 or IPv6 literal (inet_pton). */
bool plan_is_ip(const char *s);
/* The same address, however written ("2001:db8::1" and "2001:DB8:0::1"). */
bool plan_same_ip(const char *a, const char *b);

/*
 * Splits "HOST:PORT" ("[v6]:PORT" for IPv6).  PORT may be left out when
 * defport != 0.  need_ip demands an address literal for HOST; otherwise a
 * host name is allowed too.  On success *host (caller frees) and *port are
 * set.
 */
bool plan_hostport(const char *s, bool need_ip, uint16_t defport, char **host, uint16_t *port,
                   const char **why);

/* Normalises an absolute DNS name: checks labels (1..63 octets of letters,
 * digits, '-' and '_', 253 in all), strips one trailing dot, folds case.
 * Returns a new string or NULL with *why set. */
char *plan_dns_name(const char *s, const char **why);
/* name (normalised) is zone or below it. */
bool plan_name_in_zone(const char *name, const char *zone);

/* An IANA time zone that exists as a TZif file under $TZDIR or
 * /usr/share/zoneinfo; "..", absolute and odd names are refused. */
bool plan_time_zone_ok(const char *zone, const char **why);
/* "HH:MM", 00:00..23:59, into minutes after midnight. */
bool plan_hhmm(const char *s, int *minutes, const char **why);
/* "sun".."sat" or "sunday".."saturday", any case; -1 if neither. */
int plan_weekday_parse(const char *s);

/* A conninfo ("key=value ..." or a URI) that carries a password. */
bool plan_conninfo_has_password(const char *s);
/* A URL with a password in its userinfo ("https://u:p@host/"). */
bool plan_url_has_password(const char *s);
/* That, or a query parameter named as a secret (plan_key_is_secret: token,
 * api_key, ...; and key, auth, sig, signature, code):
 * "https://h/hook?token=x". */
bool plan_url_has_secret(const char *s);
/* A key whose scalar value would be a secret (secret, password, token, ...). */
bool plan_key_is_secret(const char *key);
/* A plan, database or hook name: letters, digits, '.', '_', '-'. */
bool plan_simple_name(const char *s);

void plan_strv_push(struct plan_strv *v, char *s); /* takes s */
void plan_strv_release(struct plan_strv *v);

#endif
