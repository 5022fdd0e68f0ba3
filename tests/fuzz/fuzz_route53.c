/*
 * fuzz_route53.c - Route 53's XML replies as the route53 driver reads them
 * (dns/route53.c through dns/xml.c): a ListResourceRecordSets page (a
 * name's sets and where the next page starts), a ChangeResourceRecordSets
 * or GetChange reply (the change's ID and status), GetHostedZone (the
 * zone's name), and an error reply (code and message).  Seeds: the replies
 * of the tests' fake Route 53 (corpus/route53, made by make-seeds.sh) and
 * AWS's documented examples.
 */
#include <stdlib.h>
#include <string.h>

#include "dns/route53.h"
#include "fuzz.h"
#include "util/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char where[] = "route53 zone ZFERRYTEST";
	static const char *const names[] = { "www.shop.test", "multi.shop.test",
		                             "weight.shop.test" };
	/* a copy of exactly size bytes, no NUL after: an overread is caught */
	char *body = xmalloc(size ? size : 1), code[64], msg[400], id[128];
	struct ferry_error err = { 0 };
	bool insync;
	size_t i;

	memcpy(body, data, size);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct dns_route53_next next;
		struct dns_nlist l = { 0 };
		struct dns_rrset rs;
		char out[1024];

		if (dns_route53_parse_rrsets(body, size, where, "shop.test", names[i], &l, &next,
		                             &err) == 0) {
			/* what read() hands on: the compare and the query */
			dns_nlist_format(&l, out, sizeof(out));
			dns_rrset_init(&rs);
			dns_nlist_to_rrset(&l, names[i], &rs);
			dns_rrset_release(&rs);
		}
		dns_route53_next_release(&next);
		dns_nlist_release(&l);
	}
	dns_route53_parse_change(body, size, where, "shop.test", "www.shop.test", id, sizeof(id),
	                         &insync, &err);
	dns_route53_parse_zone(body, size, where, "shop.test", "ZFERRYTEST", &err);
	dns_route53_parse_error(body, size, code, sizeof(code), msg, sizeof(msg));
	free(body);
	return 0;
}
