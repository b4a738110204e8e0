/*
 * emergency.h - the controller's side of emergency broadcasts.
 *
 * Clips. A small named set of stored content (table emergency_clips): the
 * alert tone "tone", the drill preamble "drill" ("Đây là diễn tập"), and the
 * canned messages ("flood", "storm", "fire", "all-clear", ...), set with
 * POST /v1/emergency/clips/<name> {"content": id} (scripts/emergency-clips.sh
 * makes them with espeak-ng at setup). The set has an id (first 16 hex
 * digits of the SHA-256 of its "name content" lines). Nodes report the set
 * they hold in their status ("emergency": {"clips_set": ...}); a node that
 * holds another set gets the list (command "emergency_clips") on its own cmd
 * topic, at most every CTL_CLIPS_RESEND_MS, and fetches the audio ahead of
 * any need. A changed set also goes out at once on <root>/zone/all/cmd.
 *
 * Activation. POST /v1/emergency {"clip"|"content", "zone"|"node"|"all",
 * "drill", "max_s"} stores the emergency as a broadcast of level emergency
 * (id "e-..." or, for a drill, "d-...", with one target row per node; its
 * expires column is the end of the maximum duration) and publishes one
 * signed emergency_start (drill: envelope flag bit 0 too). Nodes confirm with
 * events emergency_started / emergency_ended, which move the target rows to
 * started / finished (GET /v1/broadcasts/<id> shows them).
 * POST /v1/emergency/stop {"emergency": id?} stops that one, or every
 * emergency still within its maximum duration; with none known it still
 * publishes a stop without id on zone/all (nodes stop whatever is active).
 */
#ifndef LOAXA_CTL_EMERGENCY_H
#define LOAXA_CTL_EMERGENCY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct ctl;
struct ctl_principal;

#define CTL_EMERGENCY_TTL_MS (5 * 60 * 1000) /* commands are void after this */
#define CTL_CLIPS_RESEND_MS 20000
#define CTL_EMERGENCY_MAX_S 86400
#define CTL_EMERGENCY_DEFAULT_MAX_S 1800

int ctl_emergency_init(struct ctl *c);
void ctl_emergency_free(struct ctl *c);

/*
 * Everything under /v1/emergency, for who (auth.h: starting or stopping an
 * emergency and changing its clips need the approve permission, and the
 * target must be in who's zones). Fills *status (HTTP), *reply (new
 * reference: the answer or {"error": ...}) and target (for the audit log).
 */
void ctl_emergency_api(struct ctl *c, const struct ctl_principal *who, const char *method,
		       const char *url, const char *body, size_t len, unsigned *status,
		       json_t **reply, char *target, size_t targetlen);

/* A node's status arrived (online): send it the clip list if it holds another set. */
void ctl_emergency_on_status(struct ctl *c, const char *node, const void *payload,
			     size_t len);

#endif
