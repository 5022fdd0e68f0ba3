/*
 * checks.c - see checks.h.  Runs the host checks of a plan in the order an
 * operator reads them: the probe of both hosts and their diff, egress from
 * both hosts (to the plan's endpoints and the ones the old host was seen
 * talking to), TLS for each name on both addresses, then HTTP health
 * checks against the new address (with the old one for comparison).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"
#include "core/host_checks.h"
#include "hosts/access.h"
#include "hosts/diff.h"
#include "hosts/egress.h"
#include "hosts/http.h"
#include "hosts/probe.h"
#include "hosts/tls.h"
#include "util/mem.h"

static const char prevents_probe[] =
        "nothing about this host can be verified (env, ports, packages, cron)";
static const char prevents_egress[] =
        "a firewall that lets the old server reach a third party (payments, mail, an API) "
        "and blocks the new one";
static const char prevents_tls[] =
        "a certificate installed by hand on the old server only: clients fail after the DNS "
        "change";
static const char prevents_health[] =
        "sending traffic to a new server that does not answer correctly under its real name";

static void target_of(const struct plan_host *h, const char *name, struct hosts_target *t)
{
	t->name = name;
	t->exec = h->exec.v;
	t->nexec = h->exec.n;
	t->address = h->address;
}

/* ---- the way in: ssh, sudo ---- */

static const char prevents_way[] =
        "every command on the host failing when it is needed: the probe, and the pooler's "
        "files inside the cutover's write pause";
static const char prevents_sudo[] =
        "a pooler file that cannot be written or an application's environment that cannot be "
        "read, found inside the cutover window instead of now";

static enum check_status access_status(enum hosts_access_state s)
{
	return s == HOSTS_ACCESS_OK ? CHECK_OK : s == HOSTS_ACCESS_WARN ? CHECK_WARN : CHECK_FAIL;
}

static void access_part_row(struct check_rows *out, const char *check, const char *host,
                            const char *prevents, const struct hosts_access_part *part)
{
	if (part->state == HOSTS_ACCESS_NONE)
		return;
	if (part->hint)
		check_rows_add(out, check, host, access_status(part->state), prevents,
		               "%s (hint: %s)", part->detail, part->hint);
	else
		check_rows_add(out, check, host, access_status(part->state), prevents, "%s",
		               part->detail);
}

void hosts_access_rows(const struct plan *p, struct check_rows *out)
{
	const struct plan_host *hosts[2] = { &p->host_old, &p->host_new };
	static const char *const names[2] = { "old", "new" };
	size_t i;

	for (i = 0; i < 2; i++) {
		struct hosts_target t;
		struct hosts_access a;

		if (!hosts[i]->present || hosts[i]->exec.n == 0)
			continue;
		target_of(hosts[i], names[i], &t);
		hosts_access_init(&a);
		hosts_access_check(&t, 15000, &a);
		access_part_row(out, a.ssh ? "ssh" : "exec", names[i], prevents_way, &a.way);
		access_part_row(out, "sudo", names[i], prevents_sudo, &a.sudo);
		hosts_access_release(&a);
	}
}

/* ---- egress ---- */

static void egress_rows(const struct plan *p, const struct hosts_target *old_t,
                        const struct hosts_target *new_t, const struct hosts_fingerprint *old_fp,
                        const struct hosts_checks_opts *o, struct check_rows *out)
{
	struct hosts_egress eo, en;
	struct ferry_error err = { 0 };
	char **eps = NULL;
	size_t n = 0, alloc = 0, i, j, nplan = p->checks.egress.n;
	int rc_old, rc_new;

	for (i = 0; i < p->checks.egress.n; i++) {
		XGROW(eps, alloc, n + 1);
		eps[n++] = p->checks.egress.v[i];
	}
	for (i = 0; old_fp && i < old_fp->n; i++) {
		bool dup = false;

		if (old_fp->v[i].cat != HOSTS_CAT_CONNS)
			continue;
		for (j = 0; j < n && !dup; j++)
			dup = !strcmp(eps[j], old_fp->v[i].key);
		if (dup || n >= HOSTS_EGRESS_MAX)
			continue;
		XGROW(eps, alloc, n + 1);
		eps[n++] = old_fp->v[i].key;
	}
	if (n == 0) {
		free(eps);
		return;
	}
	hosts_egress_init(&eo);
	hosts_egress_init(&en);
	rc_old = hosts_egress_run(old_t, eps, n, o->connect_timeout_ms, &eo, &err);
	if (rc_old < 0)
		check_rows_add(out, "egress", "old", CHECK_WARN, prevents_egress,
		               "cannot test egress from the old host: %s", err.msg);
	rc_new = hosts_egress_run(new_t, eps, n, o->connect_timeout_ms, &en, &err);
	if (rc_new < 0) {
		check_rows_add(out, "egress", "new", CHECK_FAIL, prevents_egress,
		               "cannot test egress from the new host: %s", err.msg);
		goto out;
	}
	for (i = 0; i < n; i++) {
		const struct hosts_egress_result *rn = &en.v[i];
		const struct hosts_egress_result *ro = rc_old == 0 ? &eo.v[i] : NULL;
		const char *why = i < nplan ? "" : " (seen in use on the old host)";
		bool old_ok = ro && ro->state == HOSTS_EGRESS_OK;

		if (rn->state == HOSTS_EGRESS_OK)
			check_rows_add(out, "egress", eps[i], CHECK_OK, prevents_egress,
			               "new host reaches %s%s", eps[i], why);
		else if (rn->state == HOSTS_EGRESS_CANNOT)
			check_rows_add(out, "egress", eps[i], CHECK_WARN, prevents_egress,
			               "new host cannot test %s: %s", eps[i], rn->detail);
		else if (old_ok || !ro)
			check_rows_add(out, "egress", eps[i], CHECK_FAIL, prevents_egress,
			               "new host cannot reach %s%s: %s (%s)%s", eps[i], why,
			               hosts_egress_state_name(rn->state), rn->detail,
			               old_ok ? "; the old host reaches it" : "");
		else
			check_rows_add(out, "egress", eps[i], CHECK_WARN, prevents_egress,
			               "neither host reaches %s%s: new %s (%s), old %s (%s)",
			               eps[i], why, hosts_egress_state_name(rn->state), rn->detail,
			               hosts_egress_state_name(ro->state), ro->detail);
	}
out:
	hosts_egress_release(&eo);
	hosts_egress_release(&en);
	free(eps);
}

/* ---- TLS ---- */

static bool tls_good(const struct hosts_tls_result *r, int min_days)
{
	return r->handshake && r->chain_ok && r->name_ok && r->days_left >= min_days;
}

/* "serves CN=..., issued by ..., expires in N days" or why not. */
static void tls_describe(const struct hosts_tls_result *r, const char *name, int min_days,
                         struct buf *b)
{
	if (!r->connected)
		buf_addf(b, "is not reachable (%s)", r->error);
	else if (!r->handshake)
		buf_addf(b, "serves no certificate for this name (%s)", r->error);
	else if (!r->chain_ok)
		buf_addf(b, "serves %s, issued by %s, not trusted (%s)", r->subject, r->issuer,
		         r->error);
	else if (!r->name_ok)
		buf_addf(b, "serves %s, which is not valid for %s", r->subject, name);
	else if (r->days_left < min_days)
		buf_addf(b, "serves %s, which expires in %lld days (checks.tls.min_days: %d)",
		         r->subject, (long long)r->days_left, min_days);
	else
		buf_addf(b, "serves %s, issued by %s, expires in %lld days", r->subject, r->issuer,
		         (long long)r->days_left);
}

static void tls_rows(const struct plan *p, const char *ca_file, const struct hosts_checks_opts *o,
                     struct check_rows *out)
{
	int min_days = p->checks.tls.min_days;
	size_t i;

	for (i = 0; i < p->checks.tls.names.n; i++) {
		const char *name = p->checks.tls.names.v[i];
		struct hosts_tls_result rn, ro;
		struct ferry_error err = { 0 };
		struct buf msg;
		bool have_old;

		if (hosts_tls_probe(p->host_new.address, o->tls_port, name, ca_file,
		                    o->connect_timeout_ms, &rn, &err) < 0) {
			check_rows_add(out, "tls", name, CHECK_FAIL, prevents_tls, "%s", err.msg);
			continue;
		}
		have_old = p->host_old.address &&
		           hosts_tls_probe(p->host_old.address, o->tls_port, name, ca_file,
		                           o->connect_timeout_ms, &ro, &err) == 0;
		buf_init(&msg, 4096);
		buf_addf(&msg, "new host %s ", p->host_new.address);
		tls_describe(&rn, name, min_days, &msg);
		if (have_old) {
			buf_addf(&msg, "; old host %s ", p->host_old.address);
			tls_describe(&ro, name, min_days, &msg);
			if (tls_good(&rn, min_days) && tls_good(&ro, min_days) &&
			    strcmp(rn.issuer, ro.issuer))
				buf_adds(&msg, " (another issuer than the old host's)");
		}
		check_rows_add(out, "tls", name, tls_good(&rn, min_days) ? CHECK_OK : CHECK_FAIL,
		               prevents_tls, "%s", msg.data);
		buf_release(&msg);
	}
}

/* ---- health ---- */

static void health_describe(const struct hosts_http_result *r, struct buf *b)
{
	if (!r->status)
		buf_addf(b, "no response (%s)", r->error);
	else
		buf_addf(b, "status %ld in %lld ms%s", r->status, (long long)r->latency_ms,
		         r->tls_verified ? ", TLS verified" : "");
}

static void health_rows(const struct plan *p, const char *ca_file,
                        const struct hosts_checks_opts *o, struct check_rows *out)
{
	size_t i;

	for (i = 0; i < p->checks.nhealth; i++) {
		const struct plan_health_check *h = &p->checks.health[i];
		struct hosts_http_result rn, ro;
		struct ferry_error err = { 0 };
		long want = h->status ? h->status : 200;
		struct buf msg;
		bool have_old;

		if (hosts_http_check(h->url, p->host_new.address, ca_file, o->connect_timeout_ms,
		                     o->http_timeout_ms, &rn, &err) < 0) {
			check_rows_add(out, "health", h->url, CHECK_FAIL, prevents_health, "%s",
			               err.msg);
			continue;
		}
		have_old =
		        p->host_old.address &&
		        hosts_http_check(h->url, p->host_old.address, ca_file,
		                         o->connect_timeout_ms, o->http_timeout_ms, &ro, &err) == 0;
		buf_init(&msg, 4096);
		buf_addf(&msg, "new host %s: ", p->host_new.address);
		health_describe(&rn, &msg);
		if (rn.status && rn.status != want)
			buf_addf(&msg, ", expected %ld", want);
		if (have_old) {
			buf_addf(&msg, "; old host %s: ", p->host_old.address);
			health_describe(&ro, &msg);
		}
		check_rows_add(out, "health", h->url, rn.status == want ? CHECK_OK : CHECK_FAIL,
		               prevents_health, "%s", msg.data);
		buf_release(&msg);
	}
}

/* ---- all ---- */

int hosts_checks_run(const struct plan *p, struct check_rows *out, struct ferry_error *err)
{
	static const struct hosts_checks_opts defaults = { 0 };

	return hosts_checks_run_opts(p, &defaults, out, err);
}

int hosts_checks_run_opts(const struct plan *p, const struct hosts_checks_opts *opts,
                          struct check_rows *out, struct ferry_error *err)
{
	struct hosts_checks_opts o = *opts;
	struct hosts_target old_t, new_t;
	struct hosts_fingerprint fo, fn;
	struct hosts_probe_opts po = { 0 };
	struct ferry_error perr = { 0 };
	struct buf salt;
	char *ca_file = NULL;
	int rc_old, rc_new;

	if (!p->host_old.present || !p->host_new.present || !p->host_new.address)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "add hosts: { old: {address, exec}, new: {address, exec} }",
		                       "plan %s: host checks need hosts.old and hosts.new",
		                       p->name ? p->name : "?");
	if (!o.tls_port)
		o.tls_port = 443;
	if (!o.probe_timeout_ms)
		o.probe_timeout_ms = 30000;
	if (!o.connect_timeout_ms)
		o.connect_timeout_ms = 3000;
	if (!o.http_timeout_ms)
		o.http_timeout_ms = 10000;
	target_of(&p->host_old, "old", &old_t);
	target_of(&p->host_new, "new", &new_t);
	if (p->checks.tls.ca_file)
		ca_file = p->checks.tls.ca_file[0] != '/' && p->dir
		                  ? xasprintf("%s/%s", p->dir, p->checks.tls.ca_file)
		                  : xstrdup(p->checks.tls.ca_file);

	/* One salt for both hosts of this run: their hashes compare, and
	 * they mean nothing outside it. */
	buf_init(&salt, 64);
	if (hosts_probe_salt(&salt) < 0)
		BUG("getrandom failed");
	po.salt = salt.data;
	po.process = p->checks.env.process;
	po.pidfile = p->checks.env.pidfile;
	po.unit = p->checks.env.unit;
	po.packages = p->checks.packages.v;
	po.npackages = p->checks.packages.n;
	po.timeout_ms = o.probe_timeout_ms;
	hosts_fingerprint_init(&fo);
	hosts_fingerprint_init(&fn);
	rc_old = hosts_probe_run(&old_t, &po, &fo, &perr);
	if (rc_old < 0)
		check_rows_add(out, "probe", "old", CHECK_FAIL, prevents_probe, "%s", perr.msg);
	rc_new = hosts_probe_run(&new_t, &po, &fn, &perr);
	if (rc_new < 0)
		check_rows_add(out, "probe", "new", CHECK_FAIL, prevents_probe, "%s", perr.msg);
	if (rc_old == 0 && rc_new == 0) {
		struct hosts_diff_ignore ign = {
			.env = p->checks.env.ignore.v,
			.nenv = p->checks.env.ignore.n,
			.keys = p->checks.ignore.v,
			.nkeys = p->checks.ignore.n,
		};
		struct hosts_diff d;

		hosts_diff_init(&d);
		hosts_diff_run(&fo, &fn, &ign, &d);
		if (d.n == 0)
			check_rows_add(out, "diff", "old/new", CHECK_OK, NULL,
			               "%zu facts compared, no difference", fo.n);
		hosts_diff_rows(&d, out);
		hosts_diff_release(&d);
	}
	egress_rows(p, &old_t, &new_t, rc_old == 0 ? &fo : NULL, &o, out);
	tls_rows(p, ca_file, &o, out);
	health_rows(p, ca_file, &o, out);
	hosts_fingerprint_release(&fo);
	hosts_fingerprint_release(&fn);
	buf_release(&salt);
	free(ca_file);
	return 0;
}

bool hosts_checks_wanted(const struct plan *p)
{
	return p->checks.present && p->host_old.present && p->host_old.address &&
	       p->host_new.present && p->host_new.address;
}
