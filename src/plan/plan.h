/*
 * plan.h - the migration plan: a typed model of the YAML file (DESIGN §4).
 *
 * plan_load() reads a YAML file with libfyaml, fills a struct plan, and
 * validates it.  Every problem found is appended to a struct plan_diags as
 * "FILE:LINE:COLUMN: message" plus a hint; loading goes on after an error so
 * that an operator sees every error of a file at once.  A plan with any
 * error is not returned.
 *
 * Ownership: a struct plan owns every string and array it points to;
 * plan_free() releases it all.  Callers borrow, and copy what must outlive
 * the plan.  Secrets are never in the plan: only the name of the file or of
 * the environment variable that holds them (plan_secret_read() fetches one).
 *
 * Every section but `name` is optional; the `present` flag of a section
 * says whether the file had it.  Durations are in milliseconds, TTLs in
 * seconds, percentages in percent (0..100).  Defaults are filled in whether
 * or not a section is present (see each field).
 *
 * Cross-section rules the loader enforces: dns needs each host's address,
 * addresses or cname (what the records hold before and after); the host
 * checks (env, egress, packages, ignore) need both hosts; health and TLS
 * checks need hosts.new.address; a pooler include file needs its host.
 * Lists hold at most 1000 entries; a value at most 4096 bytes; a file at
 * most 4 MiB; at most 100 errors are kept (and the rest counted).
 */
#ifndef FERRY_PLAN_PLAN_H
#define FERRY_PLAN_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/error.h"

/* Where a value was in the file, for errors found after loading. */
struct plan_pos {
	int line;   /* 1-based, 0 if unknown */
	int column; /* 1-based */
};

/* A list of strings (records, resolvers, argv, ignore lists, ...). */
struct plan_strv {
	char **v; /* NULL-terminated when n > 0 or v != NULL */
	size_t n;
};

/* A secret reference: exactly one of file / env is set. */
struct plan_secret {
	char *file; /* path, relative paths resolved against the plan's folder */
	char *env;  /* environment variable name */
};

/* A host and what its DNS records hold: one address (`address`), a set
 * (`addresses`: A and AAAA together), or an alias (`cname`); at most one
 * of the three keys. */
struct plan_host {
	bool present;
	char *address;              /* the first address as written, NULL if none */
	struct plan_strv addresses; /* every address as written (address included) */
	char *cname;                /* a CNAME target, normalised; NULL if none */
	struct plan_strv exec;      /* argv prefix; n == 0 means this machine */
	struct plan_pos pos;
};

enum plan_tsig_alg {
	PLAN_TSIG_HMAC_SHA256,
	PLAN_TSIG_HMAC_SHA384,
	PLAN_TSIG_HMAC_SHA512,
	PLAN_TSIG_HMAC_SHA1,
	PLAN_TSIG_HMAC_MD5,
};

struct plan_dns {
	bool present;
	char *provider; /* "rfc2136" (default), "powerdns", "route53", "command" */
	/* rfc2136 (required) and command (required: the authoritative server
	 * ferry reads); "address[:port]" as written; host and port below */
	char *server;
	char *server_host;
	uint16_t server_port; /* default 53 */
	char *zone;           /* absolute, no trailing dot, lower case */
	struct {
		bool present;                 /* rfc2136: dns.key is required */
		char *name;                   /* lower case, no trailing dot */
		enum plan_tsig_alg algorithm; /* default hmac-sha256 */
		struct plan_secret secret;
	} key;
	/* powerdns: the API's base URL (required), its key, the server id
	 * (default "localhost").  route53: the API's base URL (default
	 * https://route53.amazonaws.com). */
	char *api;
	struct plan_secret api_key;
	char *server_id;
	/* route53 */
	char *hosted_zone_id;
	char *region;                         /* default us-east-1 */
	char *access_key_id;                  /* as written, or: */
	struct plan_secret access_key_id_ref; /* access_key_id_env / _file */
	struct plan_secret secret_access_key;
	struct plan_secret session_token; /* optional */
	/* command */
	struct plan_strv command;
	int64_t command_timeout_ms; /* default 60 s */
	struct plan_strv records;   /* absolute names inside zone, no trailing dot */
	struct {
		uint32_t cutover; /* TTL while cutting over (default 60) */
		uint32_t restore; /* TTL set at decommission; 0: the TTL found before */
		uint32_t *steps;  /* descending, last == cutover; default {cutover} */
		size_t nsteps;
	} ttl;
	struct plan_strv resolvers; /* "address[:port]" as written (port 53 by
	                             * default), watched for the cutover TTL */
	struct plan_pos pos;
};

enum plan_db_engine {
	PLAN_DB_POSTGRESQL,
	PLAN_DB_MARIADB,
	PLAN_DB_REDIS
};
enum plan_switch_via {
	PLAN_SWITCH_NONE,
	PLAN_SWITCH_PGBOUNCER,
	PLAN_SWITCH_HAPROXY,
	PLAN_SWITCH_HOOK
};

struct plan_database {
	char *name;
	enum plan_db_engine engine;
	char *source; /* libpq-style conninfo, never with a password; != target */
	char *target;
	struct plan_secret password; /* optional: both NULL when not given */
	bool checksum;               /* compare per-table checksums too */
	int64_t pause_budget_ms;     /* default 5000 */
	/* initial_copy: "parallel" (the default: ferry copies, pgcopydb's
	 * way) or "builtin" (PostgreSQL's own table sync) */
	enum plan_db_copy {
		PLAN_COPY_PARALLEL,
		PLAN_COPY_BUILTIN
	} initial_copy;
	long copy_jobs; /* parallel copy workers, 1..64; default 2 */
	/* the WAL guard (MB of WAL a slot holds back on the writer): alarm
	 * past wal_alarm_mb, replication dropped past wal_limit_mb; 0: the
	 * defaults (db.h: db_wal_guard) */
	long wal_alarm_mb, wal_limit_mb;
	struct {
		enum plan_switch_via via;
		/* pgbouncer: admin console conninfo on each host; haproxy:
		 * the runtime API ("IP:PORT" or a unix socket path) */
		char *admin_old;
		char *admin_new;
		/* pgbouncer: the include file ferry owns on each host, and the
		 * [databases] entry name the application connects to */
		char *include_old;
		char *include_new;
		char *dbalias; /* default: the database's name */
		/* haproxy: the TCP backend in front of the database, its server */
		char *backend;
		char *server;
		/* hook: commands (point and show required), run on this machine
		 * or through the exec prefix of host ("old"/"new") */
		struct plan_strv point;
		struct plan_strv show;
		struct plan_strv revert;
		char *host; /* NULL, "old" or "new" */
		/* where the applications reach each side ("HOST:PORT"), when it
		 * is not where source/target say; NULL: from the conninfo */
		char *address_old;
		char *address_new;
	} sw;
	struct plan_pos pos;
};

struct plan_traffic {
	bool present;
	/* "haproxy" (the default): the balancer's weights split the requests;
	 * "dns": dns.records answer by weight (powerdns, route53), and the
	 * balancers below are only read, to measure the realised share */
	char *via;
	char *admin; /* "host:port" or a unix socket path */
	/* Optional: the new host's balancer (same backend and server names).
	 * After the DNS change clients reach it directly, so the monitor
	 * counts its requests too. */
	char *admin_new;
	char *backend;
	char *server_old; /* server names in the backend; not equal */
	char *server_new;
	double *steps; /* percent sent to new, ascending; default 1, 5, 25 */
	size_t nsteps;
	int64_t step_hold_ms; /* default: schedule.validation / nsteps */
	bool sticky;          /* via dns: a client keeps its side (default false) */
	struct plan_pos pos;
};

struct plan_health_check {
	char *url;
	long status; /* expected HTTP status, default 200 */
};

struct plan_checks {
	bool present;
	struct plan_health_check *health;
	size_t nhealth;
	struct {
		bool present;
		char *process; /* by process name */
		char *pidfile;
		char *unit; /* systemd unit */
		struct plan_strv ignore;
	} env;
	struct plan_strv egress; /* "host:port" */
	struct {
		bool present;
		struct plan_strv names;
		char *ca_file; /* as written; relative to the plan's folder */
		int min_days;  /* default 14 */
	} tls;
	struct plan_strv packages; /* packages compared between the hosts */
	struct plan_strv ignore;   /* host diff keys to ignore */
};

struct plan_rollback {
	bool present;
	char *authority;
	double error_rate;      /* percent; < 0 when not set */
	int64_t latency_p99_ms; /* < 0 when not set */
	int health_failures;    /* < 0 when not set */
	struct {
		bool present;
		char *url;                  /* the API's base URL, or */
		struct plan_secret url_ref; /* where it is kept (url_file, url_env) */
		char *query;
		double threshold;
	} prometheus;
	int64_t window_ms; /* default 72h */
	bool window_set;   /* written in the plan (else the default) */
	/* The rollback's duration measured (core/answers.h): a canary name
	 * inside dns.zone that `ferry check --rehearse` moves to the new set
	 * and back; an earlier journal whose rollback was measured (as
	 * written, relative to the plan's folder); a reason that lets the
	 * cutover go without every answer (a lab or staging run that is
	 * itself the measurement), shown wherever the answers are. */
	char *canary;
	struct plan_pos canary_pos;
	char *evidence;
	char *waiver;
};

enum plan_weekday {
	PLAN_SUN,
	PLAN_MON,
	PLAN_TUE,
	PLAN_WED,
	PLAN_THU,
	PLAN_FRI,
	PLAN_SAT
};

struct plan_window {
	bool present;
	unsigned days; /* bit (1 << enum plan_weekday); all days if not given */
	int from_min;  /* minutes after local midnight, 0..1439 */
	int to_min;    /* may be <= from_min: the window spans midnight */
	char *zone;    /* IANA name, checked to exist; default "UTC" */
};

struct plan_schedule {
	bool present;
	int64_t replication_soak_ms;       /* default 24h */
	int64_t validation_ms;             /* default 24h */
	int64_t monitor_ms;                /* default 30m */
	struct plan_window cutover_window; /* absent: any time */
};

struct plan_hook {
	char *event;           /* before_cutover, after_cutover, on_rollback, ... */
	struct plan_strv argv; /* a command (n > 0), or */
	char *url;             /* a webhook URL, http:// or https://, or */
	/* where the webhook URL is kept when it holds a token (url_file,
	 * url_env): read with plan_secret_read() when the hook runs */
	struct plan_secret url_ref;
};

/* Where an enumerated value (an engine, a provider, a driver) was written,
 * for the checks made after loading (plan_value_pos). */
struct plan_where {
	char *path; /* "dns.provider", "databases[main].engine" */
	struct plan_pos pos;
};

struct plan {
	char *path; /* the file it was loaded from (the name, for plan_load_string) */
	char *dir;  /* its folder, for resolving relative paths; NULL from a string */
	char *name;
	struct plan_host host_old;
	struct plan_host host_new;
	struct plan_dns dns;
	struct plan_database *databases;
	size_t ndatabases;
	struct plan_traffic traffic;
	struct plan_checks checks;
	struct plan_rollback rollback;
	struct plan_schedule schedule;
	struct plan_hook *hooks;
	size_t nhooks;
	struct plan_where *where; /* every enumerated value read, in file order */
	size_t nwhere, awhere;
};

/* One problem found in a plan file.  Warnings do not make a plan invalid
 * (a secret file others can read, ...). */
struct plan_diag {
	char *file;
	int line, column; /* 1-based; line 0 when the problem has no place */
	char *msg;
	char *hint; /* may be NULL */
	bool warning;
};

struct plan_diags {
	struct plan_diag *v;
	size_t n, alloc;
};

/*
 * Loads and validates path.  On success returns 0 and *out (caller frees
 * with plan_free).  On a plan error returns FERRY_EINVAL with every problem
 * in diags (and a summary in err); on an unreadable file FERRY_ENOTFOUND or
 * FERRY_EIO with err filled.  diags may hold warnings on success.
 */
int plan_load(const char *path, struct plan **out, struct plan_diags *diags,
              struct ferry_error *err);
enum plan_load_flags {
	/* A secret file the plan names must exist (an error, not a warning):
	 * for every command that is about to use the secrets, and `ferry plan`.
	 * Without it the plan is valid wherever its secrets are not (a laptop,
	 * the tests), with a warning. */
	PLAN_LOAD_SECRET_FILES = 1 << 0,
};
/* plan_load() with flags (enum plan_load_flags). */
int plan_load_flags(const char *path, unsigned flags, struct plan **out, struct plan_diags *diags,
                    struct ferry_error *err);
/* Same, from memory; name is used in messages. */
int plan_load_string(const char *name, const char *text, size_t len, struct plan **out,
                     struct plan_diags *diags, struct ferry_error *err);
void plan_free(struct plan *p);

void plan_diags_release(struct plan_diags *d);
/* Appends "FILE:LINE:COLUMN: MSG\n  hint: HINT\n" lines for every diag
 * ("FILE:LINE:COLUMN: warning: MSG" for a warning).  Returns 0 or
 * FERRY_EPROTO when out's maximum is reached. */
int plan_diags_format(const struct plan_diags *d, struct buf *out);
/* How many diags are errors (not warnings). */
size_t plan_diags_errors(const struct plan_diags *d);

/* Appends an error (or a warning) about p's file at pos, for the checks
 * made after loading: a value that names a driver this ferry does not have
 * (core/support.c).  hint may be NULL. */
__attribute__((format(printf, 6, 7))) void plan_diags_add(struct plan_diags *d,
                                                          const struct plan *p, bool warning,
                                                          struct plan_pos pos, const char *hint,
                                                          const char *fmt, ...);

/* Where the enumerated value at path ("dns.provider", "traffic.via",
 * "databases[main].engine", "databases[main].switch.via") was written;
 * {0, 0} when it was not (a default). */
struct plan_pos plan_value_pos(const struct plan *p, const char *path);

/* Reads a secret into out (which the caller releases with
 * buf_release_secret; initialised with max 0 it gets a 64 KiB limit).
 * Trailing newlines are removed.  A relative file is read from the plan's
 * folder (p may be NULL: the current one).  Returns 0, FERRY_ENOTFOUND (no
 * such file or variable), FERRY_EIO or FERRY_EINVAL (empty, too large).
 * Errors name the file or variable, never the value. */
int plan_secret_read(const struct plan *p, const struct plan_secret *s, struct buf *out,
                     struct ferry_error *err);

/* path resolved against the plan's folder when relative (as every file the
 * plan names is); NULL for NULL.  Caller frees. */
char *plan_path(const struct plan *p, const char *path);

/* The starter plan `ferry init` writes (examples/shop.yaml, compiled in). */
extern const char plan_example_yaml[];
extern const size_t plan_example_yaml_len; /* its length, without the NUL */

const char *plan_weekday_name(enum plan_weekday d);
/* Names as written in the plan ("postgresql", "pgbouncer", "hmac-sha256"). */
const char *plan_db_engine_name(enum plan_db_engine e);
const char *plan_switch_via_name(enum plan_switch_via v);
const char *plan_tsig_alg_name(enum plan_tsig_alg a);

/* The hook for an event ("before_cutover", ...), or NULL if the plan has
 * none.  The events a plan may name are listed in plan_hook_events. */
const struct plan_hook *plan_hook_find(const struct plan *p, const char *event);
extern const char *const plan_hook_events[]; /* NULL-terminated */

/* The database called name, or NULL. */
const struct plan_database *plan_database_find(const struct plan *p, const char *name);

#endif
