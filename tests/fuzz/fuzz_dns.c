/*
 * fuzz_dns.c - DNS answers as the rfc2136 driver reads them (dns/rfc2136.c
 * through ldns): the answer to an A and an AAAA question from the
 * authoritative server and from a resolver, and the answer to a
 * TSIG-signed UPDATE.  Seeds: Knot's real answers (corpus/dns, made by
 * make-dns-seeds.sh).
 */
#include "dns/rfc2136.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* any base64 secret: no fuzzed answer carries a valid MAC */
	static const char secret[] = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I=";
	struct ferry_error err = { 0 };
	struct dns_rrset rs;
	int i;

	for (i = 0; i < 4; i++) {
		dns_rrset_init(&rs);
		dns_rfc2136_parse_answer(data, size, "shop.test", "www.shop.test", i & 1, i & 2,
		                         &rs, &err);
		dns_rrset_release(&rs);
	}
	dns_rfc2136_parse_update_answer(data, size, "shop.test", "ferry-key", secret, &err);
	return 0;
}
