/*
 * fuzz_probe.c - what a host sends back to the probe script (hosts/probe.c)
 * and to the egress check (hosts/egress.c), parsed as ferry parses it.
 * Seeds: the script's real output on this machine, and the unit tests'.
 */
#include "fuzz.h"
#include "hosts/egress.h"
#include "hosts/probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *const endpoints[] = { "127.0.0.1:16600", "payments.shop.test:443" };
	struct hosts_fingerprint fp;
	struct hosts_egress eg;
	struct ferry_error err = { 0 };

	hosts_fingerprint_init(&fp);
	hosts_probe_parse((const char *)data, size, &fp, &err);
	hosts_fingerprint_release(&fp);
	hosts_egress_init(&eg);
	hosts_egress_parse((const char *)data, size, endpoints, 2, &eg, &err);
	hosts_egress_release(&eg);
	return 0;
}
