/*
 * upperctl.h - a district or province controller's bulletins for the communes
 * below it (issue 18.3; docs/protocol.md "Bulletins from above").
 *
 * A controller whose controller.cfg says area.level = "district" or
 * "province" signs an emergency with its own key, the envelope's site being
 * its area code, and publishes it (QoS 1, not retained) on
 * loaxa/area/<its code>/cmd of its broker. The communes' brokers take it in
 * through Mosquitto's own bridge (`loaxa broker-config --bridge`), and each
 * commune's nodes check it against the keys their commune listed in its
 * trust document (node/upper.h). The message names a clip of the nodes'
 * pre-positioned emergency set (tone, flood, storm, ...), never audio: it
 * must sound while a commune controller, which serves content, is down.
 *
 *   POST /v1/emergency/area       {"clip": "flood", "drill": false,
 *                                  "max_s": 1800, "area": "<code below or equal>",
 *                                  "communes": [...], "villages": [...]}
 *                                 -> 201 {"emergency": "e-a40-...", "topic": ...}
 *   POST /v1/emergency/area/stop  {"emergency": "e-a40-..."} -> 200
 *
 * Both need the approve permission (ctl_emergency_api checks it).
 */
#ifndef LOAXA_CTL_UPPER_H
#define LOAXA_CTL_UPPER_H

#include <stddef.h>

#include <jansson.h>

struct ctl;
struct ctl_principal;

void ctl_upper_api(struct ctl *c, const struct ctl_principal *who, const char *url,
		   const char *body, size_t len, unsigned *status, json_t **reply,
		   char *target, size_t targetlen);

/*
 * The body of an upper command (tests): cmd "emergency_start" or
 * "emergency_stop", checked against controller.cfg's area. NULL with err.
 */
json_t *ctl_upper_body(const struct ctl *c, const char *cmd, json_t *req, const char *id,
		       char *err, size_t errlen);

#endif
