/*
 * ratelimit.h - how many messages a node may send the controller.
 *
 * The broker's ACL lets a node publish only on its own status, event,
 * fetch (and time) topics, but a stolen board or a broken node could still
 * publish there as fast as its link allows, and every status and event is a
 * database write, every fetch up to a window of content chunks. Each node
 * has a token bucket per kind (rates below: far above what a healthy node
 * sends, also when it replays its event journal after days offline); what
 * exceeds it is dropped before parsing, logged once per 10 s per node and
 * kind, and counted (GET /v1/security).
 */
#ifndef LOAXA_CTL_RATELIMIT_H
#define LOAXA_CTL_RATELIMIT_H

#include <stdint.h>

#include <jansson.h>

/* per second, burst */
#define RL_STATUS_RATE 5
#define RL_STATUS_BURST 30
#define RL_EVENT_RATE 200
#define RL_EVENT_BURST 2000
#define RL_FETCH_RATE 20
#define RL_FETCH_BURST 100
#define RL_OTHER_RATE 20
#define RL_OTHER_BURST 100

/*
 * 0 when node may send this message of kind ("status", "event", "fetch",
 * anything else counts as "other") at monotonic time now_ms, -EBUSY when it
 * must be dropped.
 */
int ctl_ratelimit_inbound(const char *node, const char *kind, int64_t now_ms);

/*
 * Count (and log at most every 10 s per node and kind) a request another
 * module refused for a limit of its own, e.g. "fetch_busy" (delivery.h).
 */
void ctl_ratelimit_refused(const char *node, const char *kind, const char *why,
			   int64_t now_ms);

/* {"<node>": {"status": n, "event": n, "fetch_busy": n, ...}} of the drops so far. */
json_t *ctl_ratelimit_json(void);

/* Forget everything (tests). */
void ctl_ratelimit_reset(void);

#endif
