/*
 * upper.h - bulletins from above: signed commands of the district and the
 * province, taken by a commune's node even while its own controller is down.
 *
 * The commune controller's trust document (keys.h, docs/protocol.md "Trust
 * document") may carry the commune's place in the hierarchy and the keys of
 * the levels above it with what each may do:
 *
 *   "area":  {"commune": "12345", "district": "412", "province": "40"}
 *   "upper": [{"level": "district", "code": "412", "key": "<64 hex>",
 *              "may": ["emergency", "priority"]}, ...]
 *
 * The node keeps that part in <state_dir>/upper.json (atomic) so it holds
 * after a restart with no controller, subscribes to loaxa/area/<code>/cmd
 * for each upper level listed, and checks every message there with a
 * verifier of its own per upper key (site = the area code, sequences in
 * <state_dir>/upper-<code>.seq): signature, times, replay as for the
 * commune's own commands. Then the body: its destination ("to":
 * {"area": ..., "communes": [...], "villages": [...]}) must be this node's
 * commune, district or province at or below the signer's level, and name
 * this node's commune and one of its zones when narrowed; the kind must be
 * in the signer's "may". Anything else is refused, logged and counted in
 * the status under rejected.upper.
 *
 * Content: an upper emergency names a clip of the node's pre-positioned
 * emergency set ("flood", "storm", ..., emergency.h) and sounds it after
 * the alert tone; a node without that clip sounds the tone alone. Nothing
 * is fetched: the commune controller, which serves content, may be down.
 */
#ifndef LOAXA_NODE_UPPER_H
#define LOAXA_NODE_UPPER_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"

struct node;

#define UPPER_MAX 4            /* upper keys listed at once (two levels, rotation) */
#define UPPER_CODE_MAX 8       /* area codes: 2, 3 or 5 digits */
#define UPPER_SUBS_MAX 8       /* loaxa/area/<code>/cmd subscriptions in one run */

/* What an upper level may do ("may"). */
#define UPPER_MAY_EMERGENCY 0x1
#define UPPER_MAY_PRIORITY  0x2

enum area_level { AREA_NONE = 0, AREA_COMMUNE = 1, AREA_DISTRICT = 2, AREA_PROVINCE = 3 };

struct upper_key {
	enum area_level level;
	char code[UPPER_CODE_MAX];
	uint8_t pk[32];
	unsigned may;
};

/* The area part of a trust document, parsed and checked. */
struct upper_doc {
	char area[4][UPPER_CODE_MAX];   /* by enum area_level; "" = not given */
	struct upper_key keys[UPPER_MAX];
	size_t nkeys;
};

struct node_upper {
	struct upper_doc doc;
	struct verifier ver[UPPER_MAX]; /* one per doc.keys[i] */
	int ver_ok[UPPER_MAX];
	char subscribed[UPPER_SUBS_MAX][UPPER_CODE_MAX];
	size_t nsubscribed;
	uint64_t refused;               /* every area message refused, any reason */
	uint64_t accepted;
};

/* Parse names: "commune", "district", "province"; AREA_NONE when unknown. */
enum area_level area_level_parse(const char *s);
const char *area_level_name(enum area_level l);
/* 1 when s is an area code of that level: province 2 digits, district 3, commune 5. */
int area_code_valid(enum area_level l, const char *s);

/*
 * The "area" and "upper" fields of a trust document body (others ignored).
 * Both absent: an empty doc (no upper level trusted). 0, or -EINVAL with err.
 */
int upper_doc_parse(const uint8_t *body, size_t len, struct upper_doc *d, char *err,
		    size_t errlen);

/* Load <state_dir>/upper.json at start (after node_keys_init). 0 or -errno. */
int upper_init(struct node *n);
/* A trust document was applied: take its area part (saved, subscribed). */
void upper_apply(struct node *n, const struct upper_doc *d);
/* Registers the on-connect subscription hook (before node_mqtt_start). */
int upper_register(struct node *n);

/*
 * One message on loaxa/area/<code>/cmd: 1 when acted on, 0 when refused
 * (logged and counted). now: controller-clock ms. Exposed for unit tests.
 */
int upper_on_message(struct node *n, const char *topic, const void *payload, size_t len,
		     int64_t now);

/*
 * Everything upper_on_message checks, without acting (unit tests): 0 with
 * *ec filled (clips resolved, ec->from and ec->issued_at set) and *start 1
 * for emergency_start, 0 for emergency_stop; else -EACCES with why.
 */
struct emerg_cmd;
int upper_check(struct node *n, const char *topic, const void *payload, size_t len,
		int64_t now, struct emerg_cmd *ec, int *start, char *why, size_t whylen);

/*
 * The destination check alone (unit tests): 0 when "to" (a JSON text of the
 * object) addresses this node for a signer of that level and code, else
 * -EACCES with why.
 */
int upper_dest_check(const struct node *n, const char *to_json, enum area_level signer,
		     const char *signer_code, char *why, size_t whylen);

/* Adds "upper" (refused count) to the status' rejected object. */
struct json_t;
void upper_rejected_json(const struct node *n, struct json_t *rejected);
/* {"area": {...}, "upper": ["district 412", ...], "accepted": N} or NULL. */
struct json_t *upper_status_json(const struct node *n);
void upper_free(struct node *n);

#endif
