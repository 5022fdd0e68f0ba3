/*
 * fuzz_haproxy.c - HAProxy's runtime API replies (traffic/haproxy_reply.c):
 * a `show stat` CSV (every backend, and one), the reply to a command that
 * answers nothing, and a `get weight` reply.  Seeds: the unit tests' and
 * HAProxy's own replies.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "traffic/traffic.h"
#include "util/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct traffic_stats st;
	struct ferry_error err = { 0 };
	char *text = xstrndup((const char *)data, size); /* replies are read as text */
	int cur, init;

	traffic_stats_init(&st);
	haproxy_parse_stat((const char *)data, size, NULL, &st, &err);
	haproxy_parse_stat((const char *)data, size, "app", &st, &err);
	traffic_stats_release(&st);
	haproxy_check_empty_reply(text, "server app/new", "set weight app/new 10", &err);
	haproxy_reply_error(text, "backend app", "show stat", &err);
	haproxy_parse_weight(text, "server app/new", &cur, &init, &err);
	free(text);
	return 0;
}
