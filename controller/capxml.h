/*
 * capxml.h - read one CAP 1.2 alert (OASIS Common Alerting Protocol,
 * urn:oasis:names:tc:emergency:cap:1.2) from bytes that came from outside.
 *
 * Pure: no database, no network, no file. libxml2 parses the bytes with
 * XML_PARSE_NONET and without DTD loading or entity substitution; a
 * document that carries a DOCTYPE or an ENTITY declaration at all (the
 * door of XXE and "billion laughs"; CAP never needs one) is refused before
 * libxml2 sees it, and so is anything not UTF-8 (a UTF-16 document could
 * hide the DOCTYPE from that check) and anything over CAP_MAX_BYTES. The
 * document is then validated against the CAP 1.2 schema compiled into the
 * program (etc/cap/CAP-v1.2.xsd, from the OASIS specification) with
 * xmlSchemaValidateDoc, and only then read into struct cap_alert.
 *
 * A refusal says the line and the element at fault
 * ("line 14, element /alert/info[1]/urgency: ...") in err, and fills
 * *line and elem for the API's answer.
 */
#ifndef LOAXA_CTL_CAPXML_H
#define LOAXA_CTL_CAPXML_H

#include <stddef.h>
#include <stdint.h>

#define CAP_MAX_BYTES (8 * 1024 * 1024)  /* inline audio (derefUri) included */
#define CAP_MAX_INFO 8
#define CAP_MAX_AREAS 16
#define CAP_MAX_GEOCODES 64           /* over all areas of one info */
#define CAP_MAX_RESOURCES 4
#define CAP_TEXT_MAX 4096             /* headline, description, instruction each */
#define CAP_ID_MAX 256

struct cap_geocode {
	char name[64];
	char value[64];
};

struct cap_resource {
	char desc[256];
	char mime[64];
	char uri[1024];
	char *deref;                  /* base64 text (owned), NULL: none */
	size_t deref_len;
};

struct cap_info {
	char language[36];
	char event[256];
	char urgency[16];
	char severity[16];
	char certainty[16];
	char headline[512];
	char description[CAP_TEXT_MAX];
	char instruction[CAP_TEXT_MAX];
	char area_desc[512];          /* the areas' areaDesc, "; "-joined */
	struct cap_geocode geocodes[CAP_MAX_GEOCODES];
	size_t ngeocodes;
	struct cap_resource resources[CAP_MAX_RESOURCES];
	size_t nresources;
};

struct cap_alert {
	char identifier[CAP_ID_MAX];
	char sender[CAP_ID_MAX];
	char sent[40];
	char status[16];              /* Actual, Exercise, System, Test, Draft */
	char msg_type[16];            /* Alert, Update, Cancel, Ack, Error */
	char scope[16];
	char references[2048];        /* "sender,identifier,sent ..." */
	int signed_xml;               /* carries a ds:Signature element */
	struct cap_info info[CAP_MAX_INFO];
	size_t ninfo;
};

/* Compile the schema once (idempotent). 0 or -EIO. */
int cap_xml_init(void);
void cap_xml_free(void);

/*
 * Parse, validate and read. 0, or -EINVAL (the document is refused: err,
 * *line (0: none) and elem (may be "") say why and where), -EFBIG (too
 * big), -ENOMEM. a is zeroed first; free with cap_alert_clear even on
 * failure.
 */
int cap_parse(const void *buf, size_t len, struct cap_alert *a, int *line, char *elem,
	      size_t elemlen, char *err, size_t errlen);
void cap_alert_clear(struct cap_alert *a);

#endif
