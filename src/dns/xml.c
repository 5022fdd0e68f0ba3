/*
 * xml.c - see xml.h.  A recursive-descent reader over the whole reply
 * (held in memory, bounded by the caller's buffer).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/xml.h"
#include "util/error.h"
#include "util/mem.h"

#define XML_DEPTH_MAX 64
#define XML_NODES_MAX 100000

struct reader {
	const char *s;
	size_t len, pos;
	size_t nodes;
	char *why;
	size_t whylen;
};

static int bad(struct reader *r, const char *what)
{
	snprintf(r->why, r->whylen, "%s at byte %zu", what, r->pos);
	return FERRY_EPROTO;
}

static bool at(struct reader *r, const char *lit)
{
	size_t n = strlen(lit);

	return r->pos + n <= r->len && !memcmp(r->s + r->pos, lit, n);
}

static void skip_space(struct reader *r)
{
	while (r->pos < r->len && strchr(" \t\r\n", r->s[r->pos]))
		r->pos++;
}

/* Skips "<?xml ...?>", comments and white space between elements. */
static int skip_misc(struct reader *r)
{
	for (;;) {
		const char *end;

		skip_space(r);
		if (at(r, "<?xml")) {
			end = memmem(r->s + r->pos, r->len - r->pos, "?>", 2);
			if (!end)
				return bad(r, "unterminated XML declaration");
			r->pos = (size_t)(end - r->s) + 2;
		} else if (at(r, "<!--")) {
			end = memmem(r->s + r->pos + 4, r->len - r->pos - 4, "-->", 3);
			if (!end)
				return bad(r, "unterminated comment");
			r->pos = (size_t)(end - r->s) + 3;
		} else if (at(r, "<!") || at(r, "<?")) {
			return bad(r, "a DTD, CDATA or processing instruction");
		} else {
			return 0;
		}
	}
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.' || c == ':';
}

static char *read_name(struct reader *r)
{
	size_t start = r->pos;

	while (r->pos < r->len && name_char(r->s[r->pos]))
		r->pos++;
	if (r->pos == start)
		return NULL;
	return xstrndup(r->s + start, r->pos - start);
}

/* Appends the UTF-8 of code point c. */
static int put_utf8(struct buf *b, unsigned long c)
{
	char u[4];
	size_t n;

	if (c < 0x80) {
		u[0] = (char)c;
		n = 1;
	} else if (c < 0x800) {
		u[0] = (char)(0xc0 | (c >> 6));
		u[1] = (char)(0x80 | (c & 0x3f));
		n = 2;
	} else if (c < 0x10000) {
		u[0] = (char)(0xe0 | (c >> 12));
		u[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		u[2] = (char)(0x80 | (c & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (c >> 18));
		u[1] = (char)(0x80 | ((c >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((c >> 6) & 0x3f));
		u[3] = (char)(0x80 | (c & 0x3f));
		n = 4;
	}
	return buf_add(b, u, n);
}

/* An entity or character reference at r->pos ('&'), decoded into b. */
static int entity(struct reader *r, struct buf *b)
{
	static const char *const names[][2] = { { "&amp;", "&" },
		                                { "&lt;", "<" },
		                                { "&gt;", ">" },
		                                { "&quot;", "\"" },
		                                { "&apos;", "'" } };
	const char *semi;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (at(r, names[i][0])) {
			r->pos += strlen(names[i][0]);
			return buf_adds(b, names[i][1]);
		}
	}
	semi = memchr(r->s + r->pos, ';', r->len - r->pos);
	if (at(r, "&#") && semi && semi - (r->s + r->pos) <= 10) {
		bool x = r->s[r->pos + 2] == 'x';
		char num[12], *end;
		unsigned long c;
		size_t n = (size_t)(semi - (r->s + r->pos)) - (x ? 3 : 2);

		memcpy(num, r->s + r->pos + (x ? 3 : 2), n);
		num[n] = '\0';
		c = strtoul(num, &end, x ? 16 : 10);
		if (n && !*end && c > 0 && c <= 0x10ffff) {
			r->pos = (size_t)(semi - r->s) + 1;
			return put_utf8(b, c);
		}
	}
	return bad(r, "an unknown entity");
}

static int element(struct reader *r, int depth, struct xml_node **out)
{
	struct xml_node *n;
	struct buf text;
	int rc;

	if (depth > XML_DEPTH_MAX)
		return bad(r, "elements nested too deep");
	if (++r->nodes > XML_NODES_MAX)
		return bad(r, "too many elements");
	if (!at(r, "<"))
		return bad(r, "'<' expected");
	r->pos++;
	n = xcalloc(1, sizeof(*n));
	n->name = read_name(r);
	if (!n->name) {
		xml_free(n);
		return bad(r, "an element name expected");
	}
	/* attributes: name="value" or name='value', dropped */
	for (;;) {
		char q;
		const char *end;

		skip_space(r);
		if (at(r, "/>")) {
			r->pos += 2;
			n->text = xstrdup("");
			*out = n;
			return 0;
		}
		if (at(r, ">")) {
			r->pos++;
			break;
		}
		free(read_name(r));
		skip_space(r);
		if (!at(r, "=") || r->pos + 1 >= r->len) {
			xml_free(n);
			return bad(r, "an attribute without a value");
		}
		r->pos++;
		skip_space(r);
		q = r->pos < r->len ? r->s[r->pos] : 0;
		end = (q == '"' || q == '\'') ? memchr(r->s + r->pos + 1, q, r->len - r->pos - 1)
		                              : NULL;
		if (!end) {
			xml_free(n);
			return bad(r, "an attribute value without quotes");
		}
		r->pos = (size_t)(end - r->s) + 1;
	}
	buf_init(&text, 1 << 20);
	rc = 0;
	while (rc == 0) {
		if (r->pos >= r->len) {
			rc = bad(r, "the document ends inside an element");
		} else if (at(r, "</")) {
			char *close;

			r->pos += 2;
			close = read_name(r);
			skip_space(r);
			if (!close || strcmp(close, n->name) != 0 || !at(r, ">"))
				rc = bad(r, "a closing tag that does not match");
			else
				r->pos++;
			free(close);
			break;
		} else if (at(r, "<!--") || at(r, "<?") || at(r, "<!")) {
			rc = skip_misc(r);
		} else if (at(r, "<")) {
			struct xml_node *kid = NULL;

			rc = element(r, depth + 1, &kid);
			if (rc == 0) {
				XGROW(n->kids, n->alloc, n->nkids + 1);
				n->kids[n->nkids++] = kid;
			}
		} else if (at(r, "&")) {
			rc = entity(r, &text);
		} else {
			rc = buf_addch(&text, r->s[r->pos++]);
			if (rc < 0)
				rc = bad(r, "text too long");
		}
	}
	n->text = buf_detach(&text, NULL);
	buf_release(&text);
	if (rc < 0) {
		xml_free(n);
		return rc;
	}
	*out = n;
	return 0;
}

int xml_parse(const char *s, size_t len, struct xml_node **root, char *why, size_t whylen)
{
	struct reader r = { s, len, 0, 0, why, whylen };
	int rc;

	*root = NULL;
	rc = skip_misc(&r);
	if (rc == 0)
		rc = element(&r, 0, root);
	if (rc == 0)
		rc = skip_misc(&r);
	if (rc == 0 && r.pos != r.len)
		rc = bad(&r, "content after the document element");
	/* whatever failed after the document element (an unterminated comment
	 * after it too): no tree, none leaked (found by fuzz_route53) */
	if (rc < 0) {
		xml_free(*root);
		*root = NULL;
	}
	return rc;
}

void xml_free(struct xml_node *n)
{
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n->nkids; i++)
		xml_free(n->kids[i]);
	free(n->kids);
	free(n->name);
	free(n->text);
	free(n);
}

const struct xml_node *xml_child(const struct xml_node *n, const char *name)
{
	size_t i;

	for (i = 0; n && i < n->nkids; i++)
		if (!strcmp(n->kids[i]->name, name))
			return n->kids[i];
	return NULL;
}

const char *xml_path_text(const struct xml_node *n, const char *const *path)
{
	size_t i;

	for (i = 0; n && path[i]; i++)
		n = xml_child(n, path[i]);
	return n ? n->text : NULL;
}

int xml_escape(struct buf *b, const char *s)
{
	int rc = 0;

	for (; *s && rc == 0; s++) {
		switch (*s) {
		case '&': rc = buf_adds(b, "&amp;"); break;
		case '<': rc = buf_adds(b, "&lt;"); break;
		case '>': rc = buf_adds(b, "&gt;"); break;
		case '"': rc = buf_adds(b, "&quot;"); break;
		case '\'': rc = buf_adds(b, "&apos;"); break;
		default: rc = buf_addch(b, *s); break;
		}
	}
	return rc;
}
