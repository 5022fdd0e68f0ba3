/*
 * fuzz_powerdns.c - the PowerDNS API's JSON replies as the powerdns driver
 * reads them (dns/powerdns.c through jansson): a zone's rrsets for a name
 * (read before and after every change), the zone itself (check_access:
 * its kind), and an error reply's text.  Seeds: a real pdns_server 4.7's
 * replies (corpus/powerdns, made by make-seeds.sh).
 */
#include <stdlib.h>
#include <string.h>

#include "dns/powerdns.h"
#include "fuzz.h"
#include "util/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes, no NUL after: an overread is caught */
	char *body = xmalloc(size ? size : 1), text[256];
	static const char *const names[] = { "www.shop.test", "multi.shop.test",
		                             "weight.shop.test" };
	struct ferry_error err = { 0 };
	size_t i;

	memcpy(body, data, size);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct dns_nlist l = { 0 };
		struct dns_rrset rs;
		char out[1024];

		if (dns_powerdns_parse_rrsets(body, size, "powerdns http://127.0.0.1:1",
		                              "shop.test", names[i], &l, &err) == 0) {
			/* what read() hands on: the compare and the query */
			dns_nlist_format(&l, out, sizeof(out));
			dns_rrset_init(&rs);
			dns_nlist_to_rrset(&l, names[i], &rs);
			dns_rrset_release(&rs);
		}
		dns_nlist_release(&l);
	}
	dns_powerdns_parse_zone(body, size, "powerdns http://127.0.0.1:1", "shop.test", &err);
	dns_powerdns_error_text(body, size, text, sizeof(text));
	free(body);
	return 0;
}
