/*
 * keys.h - the controller key's lifecycle: expiry, rotation, revocation.
 *
 * The controller publishes one signed "trust document" (envelope type
 * `key`, retained, QoS 1) on <root>/zone/all/key:
 *   {"keys":    [{"key": "<pk hex>", "not_after": ms}],   keys to trust
 *    "retire":  [{"key": "<pk hex>", "at": ms}],          old keys, until at
 *    "revoked_keys":  ["<pk hex>"],                       never again
 *    "revoked_nodes": ["n3"]}                             decommissioned
 * Retained, so a node that was offline gets the latest one when it comes
 * back, signed by a key it still trusts (the old key stays trusted on the
 * node until "at"). The document is re-issued (new sequence) at start when
 * none was issued yet, on rotation and on node revocation, and re-published
 * after every reconnect in case the broker lost it.
 *
 * Rotation (`loaxa key rotate`): a new key pair is written next to the
 * current one as <key>.next, recorded, announced signed by the current key,
 * and ROTATE_SWITCH_MS later the controller signs with it (<key>.next
 * becomes <key>, the old one is kept as <key>.old). The delay lets the
 * announcement reach nodes before anything signed by the new key; a crash
 * in between is finished at the next start. Keys expire (keys.lifetime_days)
 * and the controller raises an alarm 30 days ahead (log, GET /v1/keys).
 */
#ifndef LOAXA_CTL_KEYS_H
#define LOAXA_CTL_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct ctl;

#define ROTATE_SWITCH_MS 2000
#define KEY_ALARM_DAYS 30

int ctl_keys_start(struct ctl *c);
void ctl_keys_tick(struct ctl *c);
void ctl_keys_stop(struct ctl *c);

int ctl_keys_handle(struct ctl *c, const char *method, const char *url, json_t *req,
		    unsigned *status, json_t **reply, char *target, size_t tlen);

/* Re-issue the trust document (a node was revoked). */
void ctl_keys_revoked_changed(struct ctl *c);

/* "recovery_key = \"<hex>\";\n" for node bundles, or "" when none is set. */
void ctl_keys_recovery_line(struct ctl *c, char *out, size_t outlen);

/*
 * {"current": "<key id>", "not_after": ms, "days_left": N, "alarm": bool,
 *  "rotation_pending": bool} for status pages and alarms (new reference).
 */
json_t *ctl_keys_status_json(struct ctl *c);

/*
 * Key and certificate expiry (30 days ahead, checked daily and after a
 * rotation) as alarms for the alarm table: kind "key" or "cert", the key
 * naming which. Fills at most max, returns how many.
 */
#define CTL_KEYS_ALARMS_MAX 8
struct ctl_alarm_want;
int ctl_keys_alarms(struct ctl *c, struct ctl_alarm_want *out, int max);

#endif
