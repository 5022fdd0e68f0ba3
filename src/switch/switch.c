/*
 * switch.c - what the switch drivers and their callers share (switch.h):
 * where an endpoint points, compared, printed and parsed.  The driver
 * table is in drivers.c.
 */
#include <stdlib.h>
#include <string.h>

#include "switch/switch.h"

bool sw_where_is(const struct sw_where *w, const struct sw_target *t)
{
	if (strcmp(w->host, t->host) || w->port != t->port)
		return false;
	return !w->dbname[0] || !t->dbname || !strcmp(w->dbname, t->dbname);
}

void sw_target_format(const struct sw_target *t, char *out, size_t len)
{
	bool v6 = strchr(t->host, ':') != NULL;

	snprintf(out, len, "%s%s%s:%d%s%s", v6 ? "[" : "", t->host, v6 ? "]" : "", t->port,
	         t->dbname ? "/" : "", t->dbname ? t->dbname : "");
}

int sw_where_parse(const char *text, const char *what, struct sw_where *w, struct ferry_error *err)
{
	const char *p = text, *hend, *port;
	char *end;
	long v;
	size_t hl;

	memset(w, 0, sizeof(*w));
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '[') {
		hend = strchr(++p, ']');
		if (!hend || hend[1] != ':')
			goto bad;
		port = hend + 2;
	} else {
		hend = strchr(p, ':');
		if (!hend)
			goto bad;
		port = hend + 1;
	}
	hl = (size_t)(hend - p);
	if (hl == 0 || hl >= sizeof(w->host))
		goto bad;
	memcpy(w->host, p, hl);
	w->host[hl] = '\0';
	v = strtol(port, &end, 10);
	if (end == port || v <= 0 || v > 65535)
		goto bad;
	w->port = (int)v;
	if (*end == '/') {
		size_t dl = strcspn(end + 1, " \t\r\n");
		if (dl == 0 || dl >= sizeof(w->dbname))
			goto bad;
		memcpy(w->dbname, end + 1, dl);
		w->dbname[dl] = '\0';
		end += 1 + dl;
	}
	while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
		end++;
	if (*end)
		goto bad;
	return 0;
bad:
	return ferry_error_set(err, FERRY_EPROTO, "print HOST:PORT or HOST:PORT/DBNAME",
	                       "%s: cannot read where it points from '%.100s'", what, text);
}
