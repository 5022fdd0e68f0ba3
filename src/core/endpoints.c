/*
 * endpoints.c - see endpoints.h.
 */
#include "core/endpoints.h"
#include "util/buf.h"

int endpoints_dns_open(const struct plan *p, struct dns_provider **out, struct ferry_error *err)
{
	struct dns_config cfg = { 0 };
	struct buf secret;
	int r;

	if (!p->dns.present)
		return ferry_error_set(err, FERRY_EINVAL, NULL, "plan %s has no dns section",
		                       p->path);
	buf_init(&secret, 4096);
	r = plan_secret_read(p, &p->dns.key.secret, &secret, err);
	if (r < 0) {
		ferry_error_prefix(err, "dns key %s", p->dns.key.name);
		goto out;
	}
	cfg.server_host = p->dns.server_host;
	cfg.server_port = p->dns.server_port;
	cfg.zone = p->dns.zone;
	cfg.key_name = p->dns.key.name;
	cfg.algorithm = p->dns.key.algorithm;
	cfg.secret = secret.data;
	r = dns_open(p->dns.provider, &cfg, out, err);
out:
	buf_release_secret(&secret);
	return r;
}
