/*
 * command.c - the "command" DNS provider: any other provider through an
 * operator's command (lexicon, which Debian packages with ~80 providers, a
 * terraform or cloud CLI wrapper), with ferry reading the zone's
 * authoritative server over DNS before (compare) and after (verify).
 *
 * The contract with the command (docs/ferry-plan.5.scd, "provider:
 * command"): ferry runs dns.command as is (no shell), with a JSON document
 * on stdin and nothing secret in its argv or stdin; the command's own
 * credentials come from its environment or files, as usual for that tool.
 *   {"action": "check", "zone": "shop.test"}
 *       prove the credentials and the permission to change the zone, and
 *       change nothing; exit 0 when they hold.
 *   {"action": "replace", "zone": "shop.test", "name": "www.shop.test",
 *    "ttl": 60, "old": {"addresses": ["10.77.0.2"]},
 *    "new": {"cname": "lb.example.net"}}
 *       make name hold exactly "new" (addresses: its A and AAAA records;
 *       cname: one CNAME) at ttl, removing its other A, AAAA and CNAME
 *       records; exit 0 when done.  "old" is what ferry found there.
 * A non-zero exit is a refusal; the last line of stderr is quoted.
 *
 * The swap is read-compare-write, never atomic (ops.atomic is false): ferry
 * reads the authoritative answer and runs the command only if it holds the
 * expected set, then polls the authoritative server until it holds the new
 * set at the new TTL, within dns.command_timeout for the command and the
 * verification together (a provider may take a while to publish).  A change
 * by someone else between the read and the command is overwritten; after
 * it, the verification reports it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "dns/dns.h"
#include "hosts/exec.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define COMMAND_TIMEOUT_DEFAULT_MS 60000
#define VERIFY_POLL_MS             200

struct command {
	struct dns_provider base;
	char **argv; /* NULL-terminated copy */
	char *host;  /* the authoritative server, an address literal */
	uint16_t port;
	char where[128]; /* "command lexicon-wrapper, server 10.0.0.53:53" */
	char *zone;
	int timeout_ms;
	int command_timeout_ms;
};

static struct command *from(struct dns_provider *p)
{
	return (struct command *)p;
}

/* "dns NAME (WHERE): ..." for this driver (dns_fail). */
#define fail(c, err, code, name, hint, ...)                                                        \
	dns_fail(err, code, (c)->where, (c)->zone, name, hint, __VA_ARGS__)

static void command_close(struct dns_provider *p)
{
	struct command *c = from(p);
	size_t i;

	if (!c)
		return;
	for (i = 0; c->argv && c->argv[i]; i++)
		free(c->argv[i]);
	free(c->argv);
	free(c->host);
	free(c->zone);
	free(c);
}

static int command_open(const struct dns_config *cfg, struct dns_provider **out,
                        struct ferry_error *err)
{
	struct command *c = xcalloc(1, sizeof(*c));
	struct sockaddr_storage ss;
	socklen_t sl;
	size_t n = 0, i;
	int rc;

	c->base.ops = &dns_command_ops;
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DNS_TIMEOUT_DEFAULT_MS;
	c->command_timeout_ms =
	        cfg->command_timeout_ms > 0 ? cfg->command_timeout_ms : COMMAND_TIMEOUT_DEFAULT_MS;
	while (cfg->command && cfg->command[n])
		n++;
	if (n == 0) {
		rc = ferry_error_set(err, FERRY_EINVAL,
		                     "set dns.command: the program and its arguments, as a list",
		                     "dns command: no command given");
		goto out;
	}
	c->argv = xcalloc(n + 1, sizeof(*c->argv));
	for (i = 0; i < n; i++)
		c->argv[i] = xstrdup(cfg->command[i]);
	rc = dns_sockaddr_parse(cfg->server_host, cfg->server_port, &ss, &sl, err);
	if (rc < 0) {
		ferry_error_prefix(err, "dns command %s", c->argv[0]);
		goto out;
	}
	c->host = xstrdup(cfg->server_host);
	c->port = cfg->server_port ? cfg->server_port : 53;
	snprintf(c->where, sizeof(c->where),
	         strchr(c->host, ':') ? "command %s, server [%s]:%u" : "command %s, server %s:%u",
	         c->argv[0], c->host, c->port);
	if (!cfg->zone || !dns_name_valid(cfg->zone)) {
		rc = ferry_error_set(err, FERRY_EINVAL, "set dns.zone in the plan",
		                     "dns command %s: no valid zone given", c->argv[0]);
		goto out;
	}
	c->zone = xstrdup(cfg->zone);
	*out = &c->base;
	c = NULL;
out:
	command_close(c ? &c->base : NULL);
	return rc;
}

static int command_query(struct dns_provider *p, const char *name, struct dns_rrset *out,
                         struct ferry_error *err)
{
	struct command *c = from(p);

	return dns_authoritative_query(c->host, c->port, c->zone, name, c->timeout_ms, out, err);
}

/* {"addresses": [...]} or {"cname": "..."} or {} */
static json_t *values_json(const struct dns_values *v)
{
	json_t *o = json_object(), *a;
	char canon[64];
	size_t i;

	if (v->cname) {
		json_object_set_new(o, "cname", json_string(v->cname));
	} else if (v->n) {
		a = json_array();
		for (i = 0; i < v->n; i++) {
			if (dns_address_canon(v->addresses[i], canon, sizeof(canon), NULL) < 0)
				BUG("address %s was checked", v->addresses[i]);
			json_array_append_new(a, json_string(canon));
		}
		json_object_set_new(o, "addresses", a);
	}
	return o;
}

/* The stdin of a replace (a new string). */
static char *replace_json(const char *zone, const char *name, const struct dns_state *old,
                          const struct dns_state *new_, uint32_t ttl)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:o, s:o}", "action", "replace", "zone", zone,
	                      "name", name, "ttl", (json_int_t)ttl, "old", values_json(&old->set),
	                      "new", values_json(&new_->set));
	char *s = json_dumps(o, JSON_COMPACT);

	if (!s)
		BUG("json_dumps failed");
	json_decref(o);
	return s;
}

/* The last non-empty line of a command's stderr, for a message. */
static void last_line(const struct buf *b, char *out, size_t len)
{
	const char *end = b->data + b->len, *start;

	while (end > b->data && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	start = end;
	while (start > b->data && start[-1] != '\n')
		start--;
	snprintf(out, len, "%.*s", (int)(end - start), start);
	if (!out[0])
		snprintf(out, len, "(nothing on stderr)");
}

/* Runs the command with in on stdin until deadline (time_mono_ms).  0 when
 * it exited 0; what else it did is in err. */
static int run(struct command *c, const char *name, const char *in, int64_t deadline,
               struct ferry_error *err)
{
	struct hosts_target local = { .name = "local" };
	struct hosts_exec_result r;
	int64_t left = deadline - time_mono_ms();
	char line[300];
	int rc;

	hosts_exec_result_init(&r);
	/* hosts_exec: ferry's environment without the plan's secret
	 * variables (util/secret.h), which are ferry's, not the command's */
	rc = hosts_exec(&local, (const char *const *)c->argv, in, strlen(in), left > 0 ? left : 1,
	                &r, err);
	if (rc == FERRY_ETIMEDOUT) {
		rc = fail(c, err, FERRY_ETIMEDOUT, name,
		          "raise dns.command_timeout, or find out why the command hangs; read the "
		          "record before running ferry again",
		          "the command did not finish within dns.command_timeout (%d ms) and was "
		          "killed; it may have changed the record",
		          c->command_timeout_ms);
	} else if (rc < 0) {
		ferry_error_prefix(err, "dns %s (%s)", name ? name : c->zone, c->where);
	} else if (r.status != 0) {
		last_line(&r.err, line, sizeof(line));
		rc = fail(
		        c, err, FERRY_EREFUSED, name,
		        "run the command by hand with the same JSON on stdin (ferry run --dry-run "
		        "shows it) and see what it says",
		        "the command exited %d: %s", r.status, line);
	}
	hosts_exec_result_release(&r);
	return rc;
}

static int command_check_access(struct dns_provider *p, struct ferry_error *err)
{
	struct command *c = from(p);
	json_t *o = json_pack("{s:s, s:s}", "action", "check", "zone", c->zone);
	char *in = json_dumps(o, JSON_COMPACT);
	int rc;

	json_decref(o);
	rc = run(c, NULL, in, time_mono_ms() + c->command_timeout_ms, err);
	free(in);
	return rc;
}

static int check_name(struct command *c, const char *name, struct ferry_error *err)
{
	if (!dns_name_in_zone(name, c->zone))
		return fail(c, err, FERRY_EINVAL, name, "list only names inside dns.zone",
		            "the name is outside zone %s; nothing run", c->zone);
	return 0;
}

static int command_cas(struct dns_provider *p, const char *name, const struct dns_state *expected,
                       const struct dns_state *wanted, uint32_t ttl, struct ferry_error *err)
{
	struct command *c = from(p);
	int64_t deadline = time_mono_ms() + c->command_timeout_ms;
	struct dns_rrset now;
	char *in = NULL, have[512], want[512];
	int rc;

	dns_rrset_init(&now);
	rc = check_name(c, name, err);
	if (rc == 0 && (expected->split || wanted->split))
		rc = fail(c, err, FERRY_EINVAL, name,
		          "weighted answers need provider powerdns or route53",
		          "the command provider cannot weight answers; nothing run");
	if (rc == 0)
		rc = dns_state_check(name, "expected", expected, err);
	if (rc == 0)
		rc = dns_state_check(name, "new", wanted, err);
	if (rc == 0 && dns_state_empty(wanted))
		rc = fail(c, err, FERRY_EINVAL, name, NULL, "no new value given; nothing run");
	/* compare: the authoritative answer must hold the expected set */
	if (rc == 0)
		rc = dns_expect(p, name, expected, &now, err);
	if (rc == FERRY_ECHANGED) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		ferry_error_set(err, FERRY_ECHANGED,
		                "someone else changed the record since ferry read it: find out "
		                "who and why before going on",
		                "%s; the command was not run", msg);
	}
	if (rc < 0)
		goto out;
	in = replace_json(c->zone, name, expected, wanted, ttl);
	log_debug("dns %s (%s): running the command with %s", name, c->where, in);
	rc = run(c, name, in, deadline, err);
	if (rc < 0)
		goto out;
	/* verify: poll until the server holds the new set at the new TTL */
	for (;;) {
		struct ferry_error qerr = { 0 };

		dns_rrset_release(&now);
		dns_rrset_init(&now);
		rc = command_query(p, name, &now, &qerr);
		if (rc == 0 && dns_rrset_matches(&now, wanted) && now.ttl == ttl)
			break;
		if (time_mono_ms() + VERIFY_POLL_MS > deadline) {
			dns_state_format(wanted, want, sizeof(want));
			if (rc == 0)
				dns_rrset_format(&now, have, sizeof(have));
			else
				snprintf(have, sizeof(have), "nothing readable (%s)", qerr.msg);
			rc = fail(
			        c, err, FERRY_ECHANGED, name,
			        "the command said it succeeded: check what it did, and whether "
			        "dns.server is the zone's authoritative server",
			        "after the command the server holds %s (TTL %u), not %s at TTL %u "
			        "within dns.command_timeout",
			        have, now.ttl, want, ttl);
			goto out;
		}
		{
			struct timespec ts = { 0, VERIFY_POLL_MS * 1000000L };

			nanosleep(&ts, NULL);
		}
	}
	dns_state_format(wanted, want, sizeof(want));
	log_info("dns %s (%s): now %s at TTL %u s", name, c->where, want, ttl);
	rc = 0;
out:
	free(in);
	dns_rrset_release(&now);
	return rc;
}

static int command_describe(const struct dns_config *cfg, const char *name,
                            const struct dns_state *expected, const struct dns_state *wanted,
                            uint32_t ttl, struct buf *out, struct ferry_error *err)
{
	char have[512];
	char *in;
	size_t i;
	int rc;

	if (expected->split || wanted->split)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "weighted answers need provider powerdns or route53",
		                       "dns %s: the command provider cannot weight answers", name);
	rc = dns_state_check(name, "expected", expected, err);
	if (rc == 0)
		rc = dns_state_check(name, "new", wanted, err);
	if (rc < 0)
		return rc;
	dns_state_format(expected, have, sizeof(have));
	in = replace_json(cfg->zone, name, expected, wanted, ttl);
	rc = buf_addf(out, "; read-compare-write: ask %s, go on only if it holds %s\n",
	              cfg->server_host, have);
	for (i = 0; rc == 0 && cfg->command && cfg->command[i]; i++) {
		rc = buf_adds(out, i ? " " : "run: ");
		if (rc == 0)
			rc = hosts_sh_quote(out, cfg->command[i]);
	}
	if (rc == 0)
		rc = buf_addf(out, "\nstdin: %s\n; then ask again until it holds the new set\n",
		              in);
	free(in);
	if (rc < 0)
		return ferry_error_set(err, FERRY_EPROTO, NULL, "dns %s: the text is too long",
		                       name);
	return 0;
}

const struct dns_provider_ops dns_command_ops = {
	.name = "command",
	.atomic = false,
	.weights = false,
	.open = command_open,
	.query = command_query,
	.expect = NULL,
	.check_access = command_check_access,
	.cas = command_cas,
	.describe = command_describe,
	.close = command_close,
};
