/*
 * xml.h - the little XML that Route 53's API speaks: a strict reader of a
 * reply into a tree of elements and their text, and escaping for the
 * requests ferry writes.
 *
 * Not a general XML parser (Debian's standard one, libxml2, is not among
 * ferry's libraries, DESIGN §8, and Route 53 needs none of its power):
 * elements, character data, the five predefined entities and numeric
 * character references, an XML declaration, comments; attributes are read
 * over and dropped (xmlns), namespaces prefixes are kept as part of the
 * name.  No DTD, no CDATA, no processing instruction other than the
 * declaration: a reply with one is refused (FERRY_EPROTO), never guessed
 * at.  Bounded: 64 levels, 100,000 elements.
 *
 * Ownership: xml_parse() returns a tree the caller frees with xml_free();
 * the lookups return pointers into it.
 */
#ifndef FERRY_DNS_XML_H
#define FERRY_DNS_XML_H

#include <stddef.h>

#include "util/buf.h"

struct xml_node {
	char *name;
	char *text; /* the character data directly inside, entities decoded */
	struct xml_node **kids;
	size_t nkids, alloc;
};

/* Parses s[0..len).  Returns 0 and *root, or FERRY_EPROTO with why (a
 * short phrase and the byte offset). */
int xml_parse(const char *s, size_t len, struct xml_node **root, char *why, size_t whylen);
void xml_free(struct xml_node *n); /* NULL-safe */

/* The first child element called name, or NULL. */
const struct xml_node *xml_child(const struct xml_node *n, const char *name);
/* The text of the element at a path of child names ("ChangeInfo", "Id",
 * NULL-terminated list), or NULL. */
const char *xml_path_text(const struct xml_node *n, const char *const *path);

/* Appends s with & < > " ' escaped.  Returns 0 or FERRY_EPROTO (full). */
int xml_escape(struct buf *b, const char *s);

#endif
