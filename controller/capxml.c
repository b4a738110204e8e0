/*
 * capxml.c - CAP 1.2 alerts from outside bytes (capxml.h).
 */
#include "capxml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>

#define CAP_NS "urn:oasis:names:tc:emergency:cap:1.2"
#define DSIG_NS "http://www.w3.org/2000/09/xmldsig#"

/* etc/cap/CAP-v1.2.xsd as a C string (the Makefile makes it): the schema
 * travels inside the binary, so no path to it can be wrong or swapped. */
static const char cap_xsd[] =
#include <cap_xsd.inc> /* generated: $(O)/gen, from etc/cap/CAP-v1.2.xsd */
	;

static xmlSchemaPtr schema;

/* libxml2 prints its errors to stderr unless told otherwise: the errors
 * that matter are taken from the contexts, the rest are dropped. */
static void quiet(void *ctx, xmlErrorPtr e)
{
	(void)ctx;
	(void)e;
}

int cap_xml_init(void)
{
	xmlSchemaParserCtxtPtr pc;

	if (schema)
		return 0;
	xmlInitParser();
	xmlSetStructuredErrorFunc(NULL, quiet);
	pc = xmlSchemaNewMemParserCtxt(cap_xsd, (int)(sizeof(cap_xsd) - 1));
	if (!pc)
		return -EIO;
	xmlSchemaSetParserStructuredErrors(pc, quiet, NULL);
	schema = xmlSchemaParse(pc);
	xmlSchemaFreeParserCtxt(pc);
	return schema ? 0 : -EIO;
}

void cap_xml_free(void)
{
	if (schema)
		xmlSchemaFree(schema);
	schema = NULL;
}

void cap_alert_clear(struct cap_alert *a)
{
	size_t i, j;

	for (i = 0; i < CAP_MAX_INFO; i++)
		for (j = 0; j < CAP_MAX_RESOURCES; j++) {
			free(a->info[i].resources[j].deref);
			a->info[i].resources[j].deref = NULL;
		}
}

/* "/alert/info[2]/area[1]/geocode[3]/value": where an operator (or the
 * province's technician) finds the element, counted from 1 like XPath. */
static void node_path(xmlNodePtr n, char *out, size_t outlen)
{
	char seg[8][80];
	int depth = 0, i;
	size_t off = 0;

	out[0] = '\0';
	for (; n && n->type == XML_ELEMENT_NODE && depth < 8; n = n->parent) {
		xmlNodePtr s;
		int idx = 1, same = 0;

		for (s = n->parent ? n->parent->children : NULL; s; s = s->next) {
			if (s->type != XML_ELEMENT_NODE || xmlStrcmp(s->name, n->name))
				continue;
			same++;
			if (s == n)
				idx = same;
		}
		if (same > 1 || (n->parent && n->parent->type == XML_ELEMENT_NODE &&
				 (!xmlStrcmp(n->name, BAD_CAST "info") ||
				  !xmlStrcmp(n->name, BAD_CAST "area") ||
				  !xmlStrcmp(n->name, BAD_CAST "resource"))))
			snprintf(seg[depth], sizeof(seg[depth]), "%.60s[%d]",
				 (const char *)n->name, idx);
		else
			snprintf(seg[depth], sizeof(seg[depth]), "%.60s", (const char *)n->name);
		depth++;
	}
	for (i = depth - 1; i >= 0 && off + 1 < outlen; i--) {
		int w = snprintf(out + off, outlen - off, "/%s", seg[i]);

		if (w < 0)
			break;
		off += (size_t)w;
	}
}

/* libxml2's message without its trailing newline and the namespace noise
 * ("Element '{urn:oasis:...}urgency'" -> "Element 'urgency'"). */
static void clean_msg(const char *msg, char *out, size_t outlen)
{
	const char *ns = "{" CAP_NS "}";
	size_t nslen = strlen(ns), o = 0;

	for (; msg && *msg && o + 1 < outlen; msg++) {
		if (strncmp(msg, ns, nslen) == 0) {
			msg += nslen - 1;
			continue;
		}
		if (*msg == '\n')
			continue;
		out[o++] = *msg;
	}
	out[o] = '\0';
	while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '.'))
		out[--o] = '\0';
}

struct verr {
	int got;
	int line;
	char elem[256];
	char msg[384];
};

static void valid_err(void *ctx, xmlErrorPtr e)
{
	struct verr *v = ctx;

	if (v->got || !e)
		return;
	v->got = 1;
	v->line = e->line;
	if (e->node && ((xmlNodePtr)e->node)->type == XML_ELEMENT_NODE)
		node_path(e->node, v->elem, sizeof(v->elem));
	clean_msg(e->message, v->msg, sizeof(v->msg));
}

static int is_cap(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->ns && !xmlStrcmp(n->ns->href, BAD_CAST CAP_NS) &&
	       !xmlStrcmp(n->name, BAD_CAST name);
}

/* The text of n, trimmed, into out; longer text is cut at a UTF-8 boundary. */
static void text_of(xmlNodePtr n, char *out, size_t outlen)
{
	xmlChar *t = xmlNodeGetContent(n);
	const char *s = (const char *)t, *e;
	size_t len;

	out[0] = '\0';
	if (!t)
		return;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		e--;
	len = (size_t)(e - s);
	if (len >= outlen) {
		len = outlen - 1;
		while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
			len--;
	}
	memcpy(out, s, len);
	out[len] = '\0';
	xmlFree(t);
}

static void read_pair(xmlNodePtr n, char *name, size_t namelen, char *value, size_t valuelen)
{
	xmlNodePtr k;

	for (k = n->children; k; k = k->next) {
		if (is_cap(k, "valueName"))
			text_of(k, name, namelen);
		else if (is_cap(k, "value"))
			text_of(k, value, valuelen);
	}
}

static int read_resource(xmlNodePtr n, struct cap_resource *r)
{
	xmlNodePtr k;

	for (k = n->children; k; k = k->next) {
		if (is_cap(k, "resourceDesc"))
			text_of(k, r->desc, sizeof(r->desc));
		else if (is_cap(k, "mimeType"))
			text_of(k, r->mime, sizeof(r->mime));
		else if (is_cap(k, "uri"))
			text_of(k, r->uri, sizeof(r->uri));
		else if (is_cap(k, "derefUri")) {
			xmlChar *t = xmlNodeGetContent(k);

			if (!t)
				return -ENOMEM;
			r->deref_len = strlen((const char *)t);
			r->deref = strdup((const char *)t);
			xmlFree(t);
			if (!r->deref)
				return -ENOMEM;
		}
	}
	return 0;
}

static void append(char *dst, size_t dstlen, const char *sep, const char *s)
{
	size_t have = strlen(dst);

	if (!*s || have + 1 >= dstlen)
		return;
	snprintf(dst + have, dstlen - have, "%s%s", have ? sep : "", s);
}

static int read_info(xmlNodePtr n, struct cap_info *in)
{
	xmlNodePtr k, g;
	int rc;

	for (k = n->children; k; k = k->next) {
		if (is_cap(k, "language"))
			text_of(k, in->language, sizeof(in->language));
		else if (is_cap(k, "event"))
			text_of(k, in->event, sizeof(in->event));
		else if (is_cap(k, "urgency"))
			text_of(k, in->urgency, sizeof(in->urgency));
		else if (is_cap(k, "severity"))
			text_of(k, in->severity, sizeof(in->severity));
		else if (is_cap(k, "certainty"))
			text_of(k, in->certainty, sizeof(in->certainty));
		else if (is_cap(k, "headline"))
			text_of(k, in->headline, sizeof(in->headline));
		else if (is_cap(k, "description"))
			text_of(k, in->description, sizeof(in->description));
		else if (is_cap(k, "instruction"))
			text_of(k, in->instruction, sizeof(in->instruction));
		else if (is_cap(k, "resource") && in->nresources < CAP_MAX_RESOURCES) {
			rc = read_resource(k, &in->resources[in->nresources++]);
			if (rc < 0)
				return rc;
		} else if (is_cap(k, "area")) {
			for (g = k->children; g; g = g->next) {
				char d[256];

				if (is_cap(g, "areaDesc")) {
					text_of(g, d, sizeof(d));
					append(in->area_desc, sizeof(in->area_desc), "; ", d);
				} else if (is_cap(g, "geocode") && in->ngeocodes < CAP_MAX_GEOCODES) {
					struct cap_geocode *gc = &in->geocodes[in->ngeocodes++];

					read_pair(g, gc->name, sizeof(gc->name), gc->value,
						  sizeof(gc->value));
				}
			}
		}
	}
	/* the schema says default "en-US" */
	if (!in->language[0])
		snprintf(in->language, sizeof(in->language), "en-US");
	return 0;
}

static void set_err(char *err, size_t errlen, int *line, int l, char *elem, size_t elemlen,
		    const char *el, const char *msg)
{
	*line = l;
	snprintf(elem, elemlen, "%s", el ? el : "");
	if (l > 0 && el && *el)
		snprintf(err, errlen, "line %d, element %s: %s", l, el, msg);
	else if (l > 0)
		snprintf(err, errlen, "line %d: %s", l, msg);
	else
		snprintf(err, errlen, "%s", msg);
}

/* A line number for a byte offset (the refusals before libxml2 runs). */
static int line_at(const char *b, size_t off)
{
	int l = 1;
	size_t i;

	for (i = 0; i < off; i++)
		l += b[i] == '\n';
	return l;
}

static const char *find(const char *b, size_t len, const char *what)
{
	size_t wl = strlen(what), i;

	for (i = 0; i + wl <= len; i++)
		if (b[i] == what[0] && memcmp(b + i, what, wl) == 0)
			return b + i;
	return NULL;
}

int cap_parse(const void *buf, size_t len, struct cap_alert *a, int *line, char *elem,
	      size_t elemlen, char *err, size_t errlen)
{
	const char *b = buf, *p;
	xmlParserCtxtPtr pc = NULL;
	xmlSchemaValidCtxtPtr vc = NULL;
	xmlDocPtr doc = NULL;
	xmlNodePtr root, k;
	struct verr v;
	char msg[400];
	int rc = -EINVAL;

	memset(a, 0, sizeof(*a));
	*line = 0;
	elem[0] = err[0] = '\0';
	if (len > CAP_MAX_BYTES) {
		snprintf(err, errlen, "the alert is %zu bytes, more than the %d allowed", len,
			 CAP_MAX_BYTES);
		return -EFBIG;
	}
	if (len == 0) {
		snprintf(err, errlen, "the alert is empty");
		return -EINVAL;
	}
	/*
	 * Before libxml2: only UTF-8 (no UTF-16/32 byte order mark, no NUL),
	 * so the byte search below sees what the parser would; then no DOCTYPE
	 * and no ENTITY at all. CAP 1.2 defines no DTD, so nothing honest is
	 * lost, and neither an external entity (a file, a URL: XXE) nor an
	 * entity that expands into gigabytes (billion laughs) reaches a parser.
	 */
	if ((len >= 2 && (((unsigned char)b[0] == 0xFE && (unsigned char)b[1] == 0xFF) ||
			  ((unsigned char)b[0] == 0xFF && (unsigned char)b[1] == 0xFE))) ||
	    memchr(b, '\0', len)) {
		snprintf(err, errlen, "the alert is not UTF-8 text (UTF-16 or binary data): "
			 "send CAP 1.2 XML in UTF-8");
		return -EINVAL;
	}
	if ((p = find(b, len, "<!DOCTYPE")) || (p = find(b, len, "<!ENTITY"))) {
		set_err(err, errlen, line, line_at(b, (size_t)(p - b)), elem, elemlen, "",
			"a DOCTYPE or ENTITY declaration is not allowed in a CAP alert "
			"(refused: it could read files or expand without end)");
		return -EINVAL;
	}
	if (cap_xml_init() < 0) {
		snprintf(err, errlen, "the CAP 1.2 schema cannot be loaded (see the log)");
		return -EIO;
	}
	pc = xmlNewParserCtxt();
	if (!pc) {
		rc = -ENOMEM;
		goto out;
	}
	/* NONET: no network; no XML_PARSE_NOENT (entities are never
	 * substituted), no XML_PARSE_DTDLOAD/DTDATTR/DTDVALID, no HUGE (the
	 * parser keeps its limits on depth and text size) */
	doc = xmlCtxtReadMemory(pc, b, (int)len, "alert.xml", "UTF-8",
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
				XML_PARSE_NOCDATA);
	if (!doc) {
		const xmlError *e = xmlCtxtGetLastError(pc);

		clean_msg(e ? e->message : "not well-formed XML", msg, sizeof(msg));
		set_err(err, errlen, line, e ? e->line : 0, elem, elemlen, "", msg);
		if (!*line)
			*line = 0;
		goto out;
	}
	if (doc->intSubset || doc->extSubset) { /* belt and braces, see above */
		set_err(err, errlen, line, 1, elem, elemlen, "",
			"a DOCTYPE is not allowed in a CAP alert");
		goto out;
	}
	root = xmlDocGetRootElement(doc);
	if (!root || !is_cap(root, "alert")) {
		char what[200];

		snprintf(what, sizeof(what), "the document is not a CAP 1.2 alert: its root must "
			 "be <alert xmlns=\"%s\"> (found <%.60s>%s%.80s)", CAP_NS,
			 root ? (const char *)root->name : "nothing",
			 root && root->ns ? " in " : "",
			 root && root->ns ? (const char *)root->ns->href : "");
		set_err(err, errlen, line, root ? root->line : 0, elem, elemlen,
			root ? "/" : "", what);
		if (root)
			snprintf(elem, elemlen, "/%.60s", (const char *)root->name);
		goto out;
	}
	vc = xmlSchemaNewValidCtxt(schema);
	if (!vc) {
		rc = -ENOMEM;
		goto out;
	}
	memset(&v, 0, sizeof(v));
	xmlSchemaSetValidStructuredErrors(vc, valid_err, &v);
	if (xmlSchemaValidateDoc(vc, doc) != 0) {
		set_err(err, errlen, line, v.got ? v.line : 0, elem, elemlen, v.elem,
			v.got ? v.msg : "the alert does not follow the CAP 1.2 schema");
		goto out;
	}
	for (k = root->children; k; k = k->next) {
		if (is_cap(k, "identifier"))
			text_of(k, a->identifier, sizeof(a->identifier));
		else if (is_cap(k, "sender"))
			text_of(k, a->sender, sizeof(a->sender));
		else if (is_cap(k, "sent"))
			text_of(k, a->sent, sizeof(a->sent));
		else if (is_cap(k, "status"))
			text_of(k, a->status, sizeof(a->status));
		else if (is_cap(k, "msgType"))
			text_of(k, a->msg_type, sizeof(a->msg_type));
		else if (is_cap(k, "scope"))
			text_of(k, a->scope, sizeof(a->scope));
		else if (is_cap(k, "references"))
			text_of(k, a->references, sizeof(a->references));
		else if (k->type == XML_ELEMENT_NODE && k->ns &&
			 !xmlStrcmp(k->ns->href, BAD_CAST DSIG_NS) &&
			 !xmlStrcmp(k->name, BAD_CAST "Signature"))
			a->signed_xml = 1;
		else if (is_cap(k, "info")) {
			if (a->ninfo == CAP_MAX_INFO) {
				char el[64];

				snprintf(el, sizeof(el), "/alert/info[%d]", CAP_MAX_INFO + 1);
				snprintf(msg, sizeof(msg), "more than %d info blocks", CAP_MAX_INFO);
				set_err(err, errlen, line, k->line, elem, elemlen, el, msg);
				goto out;
			}
			rc = read_info(k, &a->info[a->ninfo++]);
			if (rc < 0)
				goto out;
			rc = -EINVAL;
		}
	}
	rc = 0;
out:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (vc)
		xmlSchemaFreeValidCtxt(vc);
	if (doc)
		xmlFreeDoc(doc);
	if (pc)
		xmlFreeParserCtxt(pc);
	return rc;
}
