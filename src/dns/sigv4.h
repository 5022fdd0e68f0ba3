/*
 * sigv4.h - AWS Signature Version 4 (the request signing of Route 53 and
 * every AWS API), written in ferry on OpenSSL's SHA-256 and HMAC.
 *
 * Why not libcurl's CURLOPT_AWS_SIGV4: curl 7.88 (Debian 12) signs wrongly
 * with a non-default port (curl #9550, exactly what a local test server
 * uses), with '=' and other characters in URLs (#13754) and with query
 * parameters without a value (#8107).  Here the signing is a pure
 * function, checked on AWS's published test vectors (tests/unit/
 * test_sigv4.c) and, in the Route 53 tests, by python3-botocore.
 *
 * The steps (AWS General Reference, "Create a signed AWS API request"):
 *   canonical request  METHOD \n URI \n QUERY \n HEADERS \n SIGNED \n HASH
 *                      URI: each byte but unreserved ones and '/'
 *                      percent-encoded; QUERY: each name and value decoded,
 *                      then encoded the same way, sorted by name then
 *                      value; HEADERS: names lower case, values trimmed
 *                      with inner runs of spaces folded to one, sorted by
 *                      name, repeated names joined with ','; HASH: hex
 *                      SHA-256 of the body
 *   string to sign     "AWS4-HMAC-SHA256" \n DATE \n SCOPE \n hex(SHA-256(creq))
 *   key                HMAC chain "AWS4"+secret -> date -> region -> service
 *                      -> "aws4_request"
 *   Authorization      "AWS4-HMAC-SHA256 Credential=ID/SCOPE,
 *                      SignedHeaders=a;b, Signature=hex(HMAC(key, sts))"
 *
 *	struct sigv4_header h[] = { { "Host", "route53.amazonaws.com" },
 *	                            { "X-Amz-Date", "20150830T123600Z" } };
 *	struct sigv4_request rq = { "POST", "/2013-04-01/hostedzone/Z1/rrset/",
 *	                            NULL, h, 2, body, body_len };
 *	sigv4_sign(&key, &rq, "20150830T123600Z", &authz, NULL, err);
 *
 * Every header given is signed: give exactly those the request sends and
 * that must be signed (Host, X-Amz-Date, X-Amz-Security-Token when a
 * session token is used, Content-Type).  The secret's derived keys are
 * wiped after use; the secret never reaches an output or a message.
 * Ownership: everything is borrowed for the call; the outputs are the
 * caller's buffers.
 */
#ifndef FERRY_DNS_SIGV4_H
#define FERRY_DNS_SIGV4_H

#include <stddef.h>

#include "util/buf.h"
#include "util/error.h"

struct sigv4_key {
	const char *access_key_id;
	const char *secret;  /* the secret access key */
	const char *region;  /* "us-east-1" */
	const char *service; /* "route53" */
};

struct sigv4_header {
	const char *name;
	const char *value;
};

struct sigv4_request {
	const char *method;
	const char *path;  /* as sent, "/" at least */
	const char *query; /* as sent, without '?'; NULL or "" for none */
	const struct sigv4_header *headers;
	size_t nheaders;
	const char *body; /* NULL for none */
	size_t body_len;
};

/*
 * Signs rq at amz_date ("YYYYMMDDTHHMMSSZ", which must also be rq's
 * X-Amz-Date header) and appends the Authorization header's value to
 * authz; creq, when not NULL, receives the canonical request (for tests).
 * Returns 0, or FERRY_EINVAL for a bad date, an empty key or region, or a
 * bad percent-encoding in the query; FERRY_EPROTO when an output is full.
 */
int sigv4_sign(const struct sigv4_key *key, const struct sigv4_request *rq, const char *amz_date,
               struct buf *authz, struct buf *creq, struct ferry_error *err);

/* The X-Amz-Date of the wall-clock time t (seconds, UTC) into out (at
 * least 17 bytes). */
void sigv4_date(long long t, char *out, size_t outlen);

#endif
