/*
 * test_xml.c - the little XML reader of the Route 53 provider (dns/xml.c):
 * what it reads, and what it refuses instead of guessing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "dns/xml.h"
#include "util/error.h"

static void test_reads_route53_replies(void **state)
{
	static const char doc[] =
	        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	        "<ListResourceRecordSetsResponse xmlns=\"https://route53.amazonaws.com/doc/"
	        "2013-04-01/\"><!-- a comment --><ResourceRecordSets><ResourceRecordSet>"
	        "<Name>www.shop.test.</Name><Type>TXT</Type><TTL>60</TTL><ResourceRecords>"
	        "<ResourceRecord><Value>&quot;a &amp; b &lt;c&gt; &#65;&#x42; &#x1234;&quot;"
	        "</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>"
	        "</ResourceRecordSets><IsTruncated>false</IsTruncated><Empty/>"
	        "</ListResourceRecordSetsResponse>\n";
	static const char *const pv[] = { "ResourceRecordSets",
		                          "ResourceRecordSet",
		                          "ResourceRecords",
		                          "ResourceRecord",
		                          "Value",
		                          NULL };
	static const char *const pt[] = { "IsTruncated", NULL };
	static const char *const pe[] = { "Empty", NULL };
	struct xml_node *root = NULL;
	char why[128];

	(void)state;
	assert_int_equal(xml_parse(doc, strlen(doc), &root, why, sizeof(why)), 0);
	assert_string_equal(root->name, "ListResourceRecordSetsResponse");
	assert_string_equal(xml_path_text(root, pv), "\"a & b <c> AB \xe1\x88\xb4\"");
	assert_string_equal(xml_path_text(root, pt), "false");
	assert_string_equal(xml_path_text(root, pe), "");
	assert_null(xml_child(root, "Nope"));
	xml_free(root);
}

static void test_refuses_what_it_does_not_read(void **state)
{
	static const char *const bad[] = {
		"<a><b></a>",
		"<a>",
		"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
		"<a><![CDATA[x]]></a>",
		"<a>&bogus;</a>",
		"<a attr=unquoted></a>",
		"<a></a><b></b>",
		"<a></a><!-- unterminated", /* fuzz_route53: the tree leaked */
		"text",
	};
	struct xml_node *root;
	char why[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		root = NULL;
		if (xml_parse(bad[i], strlen(bad[i]), &root, why, sizeof(why)) != FERRY_EPROTO)
			fail_msg("accepted: %s", bad[i]);
		assert_null(root);
		assert_non_null(strstr(why, "at byte"));
	}
}

static void test_nesting_is_bounded(void **state)
{
	char doc[2000] = "";
	struct xml_node *root = NULL;
	char why[128];
	int i;

	(void)state;
	for (i = 0; i < 100; i++)
		strcat(doc, "<a>");
	assert_int_equal(xml_parse(doc, strlen(doc), &root, why, sizeof(why)), FERRY_EPROTO);
	assert_non_null(strstr(why, "too deep"));
}

static void test_escape(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 256);
	assert_int_equal(xml_escape(&b, "<a & 'b'>\""), 0);
	assert_string_equal(b.data, "&lt;a &amp; &apos;b&apos;&gt;&quot;");
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_route53_replies),
		cmocka_unit_test(test_refuses_what_it_does_not_read),
		cmocka_unit_test(test_nesting_is_bounded),
		cmocka_unit_test(test_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
