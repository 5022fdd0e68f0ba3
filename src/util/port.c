/*
 * port.c - see port.h.  Digits are checked by hand, not with strtol(),
 * which would also take leading spaces, a sign and any length.
 */
#include <string.h>

#include "util/port.h"

bool port_parse(const char *s, uint16_t *port)
{
	long v = 0;
	const char *p;

	if (!*s || strlen(s) > 5)
		return false;
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (*p - '0');
	}
	if (v < 1 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}
