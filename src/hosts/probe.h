/*
 * probe.h - a host's fingerprint: what the probe script finds on it, parsed.
 *
 * ferry sends src/hosts/probe.sh (compiled in) on stdin to `PREFIX... sh -s`
 * with a few variables in front (which process is the application, which
 * packages to look at, a salt).  The script prints lines
 *
 *	SECTION <TAB> KEY <TAB> VALUE <LF>
 *
 * first `ferry-probe	version	1`, last `end	probe	ok`.  hosts_probe_parse()
 * turns them into a sorted list of facts (category, key, value) and rejects,
 * with FERRY_EPROTO and the line number, anything else:
 *  - a missing first or end line (truncated output), data after the end line;
 *  - a line longer than HOSTS_PROBE_LINE_MAX, more than HOSTS_PROBE_LINES_MAX
 *    lines, a NUL byte or any control byte but TAB, a line without exactly
 *    two TABs, an empty section or key;
 *  - an unknown section (the script is compiled into the same binary, so an
 *    unknown section means the output is not ours);
 *  - the same key twice in a section;
 *  - an env value that is not 64 lower-case hex digits (a value in clear);
 *  - a malformed socket line (ss or /proc/net/tcp) in the LISTEN or
 *    ESTABLISHED state.
 * Allocation is bounded by the input: no fact outlives a limit check.
 *
 * Sections and the categories they fill:
 *	os        id, version_id, kernel
 *	timezone  zone
 *	locale    LANG
 *	app       source, found (yes|no), pid, matches, error
 *	env       NAME -> sha256(salt "\n" value), computed ON THE HOST
 *	ss        raw `ss -Htan` lines   -> ports, conns
 *	proctcp   raw /proc/net/tcp{,6} lines (key tcp|tcp6) -> ports, conns
 *	packages  NAME -> version, "-" if not installed, "?" if unknown
 *	cron      user:NAME or /etc/... path -> sha256
 *	limits    nofile, nproc, cpus, app.nofile, app.nproc
 * Derived: ports  PORT -> "any" | "address" | "loopback" (widest bind);
 *          conns  ADDR:PORT -> count of established outbound connections,
 *                 without loopback peers and without inbound connections
 *                 (local port one of the host's listening ports).
 * IPv6 addresses are written [ADDR]:PORT; /proc/net/tcp is read as a
 * little-endian host writes it (x86, arm64).
 *
 * Ownership: a fingerprint owns its facts; hosts_fingerprint_release().
 */
#ifndef FERRY_HOSTS_PROBE_H
#define FERRY_HOSTS_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "hosts/exec.h"
#include "util/buf.h"
#include "util/error.h"

#define HOSTS_PROBE_LINE_MAX  4096
#define HOSTS_PROBE_LINES_MAX 100000
#define HOSTS_PROBE_KEY_MAX   255

enum hosts_cat {
	HOSTS_CAT_OS,
	HOSTS_CAT_TIMEZONE,
	HOSTS_CAT_LOCALE,
	HOSTS_CAT_APP,
	HOSTS_CAT_ENV,
	HOSTS_CAT_PORTS,
	HOSTS_CAT_CONNS,
	HOSTS_CAT_PACKAGES,
	HOSTS_CAT_CRON,
	HOSTS_CAT_LIMITS,
	HOSTS_CAT_COUNT
};

/* "os", "timezone", ... (the names used in checks.ignore and JSON). */
const char *hosts_cat_name(enum hosts_cat c);

struct hosts_fact {
	enum hosts_cat cat;
	char *key;
	char *value;
};

/* Facts sorted by (cat, key); keys unique within a category. */
struct hosts_fingerprint {
	struct hosts_fact *v;
	size_t n, alloc;
};

/* What the probe looks for.  Every field may be NULL/0.  At most one of
 * process / pidfile / unit is used, in the order pidfile, unit, process. */
struct hosts_probe_opts {
	const char *process; /* by name: /proc/PID/comm (and argv[0] past 15 bytes) */
	const char *pidfile;
	const char *unit; /* systemd unit: its MainPID */
	char *const *packages;
	size_t npackages;
	const char *salt;   /* hex; NULL or "" = plain sha256 of the value */
	int64_t timeout_ms; /* 0: 30 s */
};

/* The script as compiled in (tools/embed.c). */
extern const char hosts_probe_sh[];
extern const size_t hosts_probe_sh_len;

void hosts_fingerprint_init(struct hosts_fingerprint *fp);
void hosts_fingerprint_release(struct hosts_fingerprint *fp);

/* Looks up a fact; NULL if absent. */
const struct hosts_fact *hosts_fingerprint_get(const struct hosts_fingerprint *fp,
                                               enum hosts_cat cat, const char *key);

/*
 * Parses probe output (data need not be NUL-terminated) into fp (which must
 * be empty).  Returns 0, or FERRY_EPROTO with "probe output line N: ..." in
 * err; fp is left empty on error.
 */
int hosts_probe_parse(const char *data, size_t len, struct hosts_fingerprint *fp,
                      struct ferry_error *err);

/*
 * Writes the script to send: variable assignments from o, then probe.sh.
 * mode is "probe" or "egress"; extra is appended to the assignments (egress
 * uses it; may be NULL).  Rejects (FERRY_EINVAL) a process, unit or package
 * name with characters outside [A-Za-z0-9._@:+-] and a pid file path with
 * control characters.
 */
int hosts_probe_script(const struct hosts_probe_opts *o, const char *mode, const char *extra,
                       struct buf *script, struct ferry_error *err);

/*
 * Runs the probe on target and parses its output into fp.  Returns 0, or
 * the hosts_exec() error, FERRY_EREFUSED when the script exits non-zero
 * (with the first line of its stderr), FERRY_EPROTO from the parser.  err
 * names the host.
 */
int hosts_probe_run(const struct hosts_target *t, const struct hosts_probe_opts *o,
                    struct hosts_fingerprint *fp, struct ferry_error *err);

/* Appends a random salt (32 hex digits, from getrandom) to b. */
int hosts_probe_salt(struct buf *b);

/* Shared by egress.c: checks the framing of probe-format output and calls
 * fn for each line between the first and the end line.  fn returns 0 or a
 * FERRY_E* code with err filled (it gets the line number).  end_mode is
 * "probe" or "egress". */
int hosts_lines_parse(const char *data, size_t len, const char *end_mode,
                      int (*fn)(void *ctx, size_t lineno, const char *section, const char *key,
                                const char *value, struct ferry_error *err),
                      void *ctx, struct ferry_error *err);

#endif
