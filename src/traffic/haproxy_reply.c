/*
 * haproxy_reply.c - the pure half of the HAProxy driver (haproxy.c): what
 * the runtime API's replies mean.  Error text classified (HAProxy answers
 * errors as text; `set weight` answers nothing on success), `get weight`
 * parsed, and `show stat` CSV parsed strictly, by column name.  No I/O, so
 * tests/unit/test_haproxy.c covers it all without a server.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "traffic/traffic.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"

/* ---- replies (pure) ------------------------------------------------- */

/* The first line of text, at most 200 bytes, for quoting in a message. */
static void first_line(const char *text, char *out, size_t outlen)
{
	size_t n = strcspn(text, "\r\n");

	if (n > 200)
		n = 200;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, text, n);
	out[n] = '\0';
}

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* An error reply: what it means. */
int haproxy_reply_error(const char *reply, const char *what, const char *cmd,
                        struct ferry_error *err)
{
	char quote[256];

	first_line(reply, quote, sizeof(quote));
	if (starts(reply, "No such server") || starts(reply, "No such backend") ||
	    starts(reply, "No such proxy"))
		return ferry_error_set(err, FERRY_ENOTFOUND,
		                       "check traffic.backend and traffic.servers in the plan "
		                       "against `show servers state` on the balancer",
		                       "haproxy %s: '%s': \"%s\"", what, cmd, quote);
	if (starts(reply, "Permission denied"))
		return ferry_error_set(err, FERRY_EAUTH,
		                       "the runtime API needs `level admin` on its `stats socket` "
		                       "line in haproxy.cfg",
		                       "haproxy %s: '%s': \"%s\"", what, cmd, quote);
	if (starts(reply, "Unknown command"))
		return ferry_error_set(err, FERRY_EPROTO, "HAProxy 2.0 or later is needed",
		                       "haproxy %s: '%s': \"%s\"", what, cmd, quote);
	return ferry_error_set(err, FERRY_EREFUSED, NULL, "haproxy %s: '%s' refused: \"%s\"", what,
	                       cmd, quote);
}

int haproxy_check_empty_reply(const char *reply, const char *what, const char *cmd,
                              struct ferry_error *err)
{
	/* Management guide: these commands print nothing on success. */
	if (reply[0] == '\0')
		return 0;
	return haproxy_reply_error(reply, what, cmd, err);
}

static int parse_uint(const char *s, size_t len, int64_t *out)
{
	int64_t v = 0;

	if (len == 0 || len > 18)
		return FERRY_EPROTO;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return FERRY_EPROTO;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int haproxy_parse_weight(const char *reply, const char *what, int *current, int *initial,
                         struct ferry_error *err)
{
	const char *p = reply, *q;
	int64_t cur, init;
	char quote[256];

	if (*p < '0' || *p > '9')
		return haproxy_reply_error(reply, what, "get weight", err);
	/* "N (initial M)" */
	q = p + strspn(p, "0123456789");
	if (parse_uint(p, (size_t)(q - p), &cur) < 0 || !starts(q, " (initial "))
		goto bad;
	p = q + strlen(" (initial ");
	q = p + strspn(p, "0123456789");
	if (parse_uint(p, (size_t)(q - p), &init) < 0 || strcmp(q, ")") != 0)
		goto bad;
	if (cur > TRAFFIC_WEIGHT_MAX || init > TRAFFIC_WEIGHT_MAX)
		goto bad;
	if (current)
		*current = (int)cur;
	if (initial)
		*initial = (int)init;
	return 0;
bad:
	first_line(reply, quote, sizeof(quote));
	return ferry_error_set(err, FERRY_EPROTO, NULL,
	                       "haproxy %s: 'get weight': expected \"N (initial M)\", got \"%s\"",
	                       what, quote);
}

/* ---- show stat CSV (pure) -------------------------------------------- */

/* One CSV field at *p, before end: HAProxy quotes a field holding a comma
 * or a quote, doubling the quotes (its csv_enc()).  Unquotes it into f,
 * moves *p past it and its comma, and sets *more when a comma followed
 * (so "a,b," is three fields, the last empty).  0 or FERRY_EPROTO. */
static int csv_field(const char **p, const char *end, struct buf *f, bool *more)
{
	const char *s = *p;

	buf_reset(f);
	if (s < end && *s == '"') {
		for (s++;; s++) {
			if (s >= end)
				return FERRY_EPROTO; /* no closing quote */
			if (*s == '"') {
				if (s + 1 < end && s[1] == '"')
					s++; /* a doubled quote stands for one */
				else
					break;
			}
			if (buf_addch(f, *s) < 0)
				return FERRY_EPROTO;
		}
		s++; /* the closing quote */
		if (s < end && *s != ',')
			return FERRY_EPROTO;
	} else {
		const char *c = memchr(s, ',', (size_t)(end - s));
		const char *stop = c ? c : end;

		if (memchr(s, '"', (size_t)(stop - s)))
			return FERRY_EPROTO;
		if (buf_add(f, s, (size_t)(stop - s)) < 0)
			return FERRY_EPROTO;
		s = stop;
	}
	*more = s < end;
	*p = *more ? s + 1 : s;
	return 0;
}

/* Splits the line [s, end) into fields (owned strings, free_fields). */
static int csv_line(const char *s, const char *end, char ***fields, size_t *n)
{
	struct buf f;
	size_t alloc = 0;
	bool more = true;
	int rc = 0;

	*fields = NULL;
	*n = 0;
	buf_init(&f, 1 << 16);
	while (more) {
		rc = csv_field(&s, end, &f, &more);
		if (rc < 0)
			break;
		XGROW(*fields, alloc, *n + 1);
		(*fields)[(*n)++] = xstrndup(f.data, f.len);
	}
	buf_release(&f);
	return rc;
}

static void free_fields(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

enum stat_col {
	COL_PXNAME,
	COL_SVNAME,
	COL_STATUS,
	COL_WEIGHT,
	COL_STOT,
	COL_SCUR,
	COL_HRSP_1XX,
	COL_HRSP_2XX,
	COL_HRSP_3XX,
	COL_HRSP_4XX,
	COL_HRSP_5XX,
	COL_HRSP_OTHER,
	COL_RTIME,
	COL_TTIME,
	COL_REQ_TOT, /* optional: not in every version for servers */
	COL_N
};

static const char *const col_names[COL_N] = {
	"pxname",   "svname",   "status",   "weight",     "stot",  "scur",  "hrsp_1xx", "hrsp_2xx",
	"hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other", "rtime", "ttime", "req_tot",
};

static int num_field(const char *s, int64_t *out)
{
	if (!*s) {
		*out = -1; /* HAProxy leaves a field empty where it does not apply */
		return 0;
	}
	return parse_uint(s, strlen(s), out);
}

int haproxy_parse_stat(const char *csv, size_t len, const char *backend, struct traffic_stats *out,
                       struct ferry_error *err)
{
	const char *p = csv, *end = csv + len;
	char **hdr = NULL, **row = NULL;
	size_t nhdr = 0, nrow = 0;
	int col[COL_N];
	int lineno = 1, rc = 0;

	traffic_stats_reset(out);
	for (int c = 0; c < COL_N; c++)
		col[c] = -1;
	/* Management guide 9.1: the header line starts with "# ". */
	if (len < 2 || memcmp(p, "# ", 2) != 0) {
		rc = ferry_error_set(
		        err, FERRY_EPROTO, "is this HAProxy's runtime API?",
		        "haproxy show stat: line 1: no \"# pxname,svname,...\" header");
		goto out;
	}
	{
		const char *nl = memchr(p, '\n', len);
		const char *eol = nl ? nl : end;

		if (csv_line(p + 2, eol, &hdr, &nhdr) < 0) {
			rc = ferry_error_set(err, FERRY_EPROTO, NULL,
			                     "haproxy show stat: line 1: bad CSV");
			goto out;
		}
		p = nl ? nl + 1 : end;
	}
	for (size_t i = 0; i < nhdr; i++)
		for (int c = 0; c < COL_N; c++)
			if (col[c] < 0 && strcmp(hdr[i], col_names[c]) == 0)
				col[c] = (int)i;
	for (int c = 0; c < COL_REQ_TOT; c++) {
		if (col[c] < 0) {
			rc = ferry_error_set(err, FERRY_EPROTO, "HAProxy 1.8 or later is needed",
			                     "haproxy show stat: line 1: no column '%s'",
			                     col_names[c]);
			goto out;
		}
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		struct traffic_server_stats r;
		int64_t *nums[] = { &r.weight,  &r.stot,     &r.scur,    &r.hrsp[0],
			            &r.hrsp[1], &r.hrsp[2],  &r.hrsp[3], &r.hrsp[4],
			            &r.hrsp[5], &r.rtime_ms, &r.ttime_ms };
		const int numcol[] = { COL_WEIGHT,     COL_STOT,     COL_SCUR,     COL_HRSP_1XX,
			               COL_HRSP_2XX,   COL_HRSP_3XX, COL_HRSP_4XX, COL_HRSP_5XX,
			               COL_HRSP_OTHER, COL_RTIME,    COL_TTIME };

		lineno++;
		if (eol == p) { /* only trailing empty lines are allowed */
			p = nl ? nl + 1 : end;
			while (p < end && *p == '\n') /* the reply is not NUL-terminated */
				p++;
			if (p < end) {
				rc = ferry_error_set(
				        err, FERRY_EPROTO, NULL,
				        "haproxy show stat: line %d: empty line inside "
				        "the table",
				        lineno);
				goto out;
			}
			break;
		}
		free_fields(row, nrow);
		row = NULL;
		if (csv_line(p, eol, &row, &nrow) < 0) {
			rc = ferry_error_set(err, FERRY_EPROTO, NULL,
			                     "haproxy show stat: line %d: bad CSV quoting", lineno);
			goto out;
		}
		if (nrow != nhdr) {
			rc = ferry_error_set(
			        err, FERRY_EPROTO, NULL,
			        "haproxy show stat: line %d: %zu fields, header has %zu", lineno,
			        nrow, nhdr);
			goto out;
		}
		p = nl ? nl + 1 : end;
		if (strcmp(row[col[COL_SVNAME]], "FRONTEND") == 0 ||
		    strcmp(row[col[COL_SVNAME]], "BACKEND") == 0)
			continue;
		if (backend && strcmp(row[col[COL_PXNAME]], backend) != 0)
			continue;
		memset(&r, 0, sizeof(r));
		r.req_tot = -1;
		for (size_t k = 0; k < sizeof(numcol) / sizeof(numcol[0]); k++) {
			if (num_field(row[col[numcol[k]]], nums[k]) < 0) {
				rc = ferry_error_set(err, FERRY_EPROTO, NULL,
				                     "haproxy show stat: line %d: column %s: not a "
				                     "number",
				                     lineno, col_names[numcol[k]]);
				goto out;
			}
		}
		if (col[COL_REQ_TOT] >= 0 && num_field(row[col[COL_REQ_TOT]], &r.req_tot) < 0) {
			rc = ferry_error_set(
			        err, FERRY_EPROTO, NULL,
			        "haproxy show stat: line %d: column req_tot: not a number", lineno);
			goto out;
		}
		r.backend = xstrdup(row[col[COL_PXNAME]]);
		r.server = xstrdup(row[col[COL_SVNAME]]);
		r.status = xstrdup(row[col[COL_STATUS]]);
		XGROW(out->v, out->alloc, out->n + 1);
		out->v[out->n++] = r;
	}
out:
	free_fields(hdr, nhdr);
	free_fields(row, nrow);
	if (rc < 0)
		traffic_stats_reset(out);
	return rc;
}
