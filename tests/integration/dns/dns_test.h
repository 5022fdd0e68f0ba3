/*
 * dns_test.h - what the DNS providers' integration tests share: reading a
 * secret file the harness wrote, opening a provider (failing the test on
 * an error), a plain state from an address list, and the check that no
 * error message or hint holds a secret.  Included after <cmocka.h>.
 */
#ifndef FERRY_TESTS_DNS_TEST_H
#define FERRY_TESTS_DNS_TEST_H

#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"
#include "util/buf.h"

/* The file's content without trailing newlines (caller frees), or NULL. */
static inline char *dns_test_read(const char *path)
{
	struct buf b;
	char *s;
	size_t len;

	buf_init(&b, 1 << 20);
	if (!path || buf_read_file(&b, path) < 0) {
		buf_release(&b);
		return NULL;
	}
	s = buf_detach(&b, &len);
	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		s[--len] = '\0';
	return s;
}

static inline struct dns_provider *dns_test_open(const char *provider, const struct dns_config *c)
{
	struct ferry_error err = { 0 };
	struct dns_provider *p = NULL;

	if (dns_open(provider, c, &p, &err) < 0)
		fail_msg("dns_open %s: %s", provider, err.msg);
	return p;
}

static inline struct dns_state dns_test_plain(char *const *a, size_t n, const char *cname)
{
	struct dns_values v = { a, n, cname };

	return dns_state_plain(&v);
}

/* e has a message, and neither it nor the hint holds any of secrets[0..n)
 * (NULL entries skipped).  FERRY_TEST_SHOW_ERRORS=1 prints each, to review
 * their wording. */
static inline void dns_test_no_secret(const struct ferry_error *e, const char *const *secrets,
                                      size_t n)
{
	size_t i;

	if (getenv("FERRY_TEST_SHOW_ERRORS"))
		fprintf(stderr, "msg:  %s\nhint: %s\n", e->msg, e->hint);
	assert_true(e->msg[0] != '\0');
	for (i = 0; i < n; i++) {
		if (!secrets[i])
			continue;
		assert_null(strstr(e->msg, secrets[i]));
		assert_null(strstr(e->hint, secrets[i]));
	}
}

#endif
