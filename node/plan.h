/*
 * plan.h - the node's schedule: the controller's signed plan, kept on disk
 * and played from the node's own clock, with or without a link.
 *
 * The controller publishes each node's plan (envelope type plan, retained,
 * on <root>/node/<id>/plan; body in docs/protocol.md, "Plans"). The node:
 *
 *  - accepts it only through envelope_open() (signature, site, times,
 *    sequence); the envelope's sequence is the plan's sequence. The same
 *    sequence again (a retained plan redelivered on every reconnect) changes
 *    nothing; a lower one is a replay and is refused;
 *  - checks every field of the body; a plan with one bad field is refused as
 *    a whole, logged with the field ("plan 17 refused: items[3].level: must
 *    be one of ..."), and the last valid plan stays in force: a missing or
 *    broken plan never cancels anything;
 *  - writes the raw envelope bytes to <state_dir>/plan.env (atomically)
 *    and replaces the plan in memory in one step; items of the old plan
 *    that had not started leave the queue, the new plan's are handed over
 *    when they come due;
 *  - asks for every content and chime it lacks at once (fetch.c), in the
 *    order of their air times, so they are on disk long before they play;
 *  - hands each item to the queue (queue.c) shortly before its time
 *    (PLAN_HANDOFF_MS, or its amplifier warm-up plus the device lead when
 *    longer): the queue applies priorities, the player aligns the first
 *    sample to `at`;
 *  - remembers every occurrence that started (or failed for good) in
 *    <state_dir>/played, written atomically, so that neither a re-plan nor a
 *    restart plays an occurrence twice;
 *  - after a restart, reads plan.env again and checks its signature again
 *    (a file on disk is not trusted more than the network), and plays on
 *    until the plan's horizon even when the broker never comes back.
 *
 * An item whose expiry passes before it could be handed over (the node was
 * off, its content never came) ends as play_failed with reason "expired".
 */
#ifndef LOAXA_NODE_PLAN_H
#define LOAXA_NODE_PLAN_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "queue.h"
#include "util.h"

#define PLAN_MAX_ITEMS 2000
/* Items go to the queue this long before their time (at least). */
#define PLAN_HANDOFF_MS 30000
/* Default latest start when an item gives no `expires`: 10 minutes late. */
#define PLAN_DEFAULT_EXPIRY_MS 600000
/* Amplifier warm-up accepted per item, seconds. */
#define PLAN_MAX_WARMUP_S 600
/* Played occurrences are remembered this long after their time. */
#define PLAN_DONE_KEEP_MS (8LL * 24 * 3600 * 1000)
/* Status: upcoming items within this window, at most this many. */
#define PLAN_UPCOMING_MS (24LL * 3600 * 1000)
#define PLAN_UPCOMING_MAX 50

struct node;
struct envelope;

struct plan_item {
	char id[QUEUE_ID_MAX];
	char item[64];
	char title[256];
	int64_t at;
	int64_t expires;
	char content[CONTENT_ID_LEN + 1];   /* "" for a relay source */
	uint64_t bytes;
	int64_t duration_ms;                /* -1 = not given */
	enum play_level level;
	int volume;
	char chime[CONTENT_ID_LEN + 1];     /* "" = none */
	uint64_t chime_bytes;
	int warmup_s;                       /* -1 = not given */
	char source[256];                   /* relay items (issue 5): "alsa:..."|"url:..." */
	int64_t until;
	int done;                           /* node side: started or ended for good */
};

struct plan {
	uint64_t seq;
	int64_t generated;
	int64_t horizon;
	struct plan_item *items;            /* sorted by at */
	size_t n;
	int revokes_me;                     /* "revoked" lists this node */
};

struct plan_done {
	char id[QUEUE_ID_MAX];
	int64_t at;
};

struct node_plan {
	char path[PATH_MAX];                /* <state_dir>/plan.env */
	char done_path[PATH_MAX];           /* <state_dir>/played */
	struct plan cur;
	int have;
	struct plan_done *done;
	size_t ndone, done_cap;
	uint64_t refused;
	/*
	 * Relay items (a source instead of content) are live's (issue 5): when
	 * set, called once when such an item comes due; returns 0 when it took it.
	 */
	int (*relay_start)(struct node *n, const struct plan_item *it);
};

/* Load plan.env (signature checked again) and played. Never fatal. */
int plan_init(struct node *n);
void plan_free(struct node *n);

/*
 * A plan envelope that passed envelope_open() (or was a duplicate of the
 * sequence in force), with its raw bytes for the disk.
 */
void plan_on_envelope(struct node *n, const char *topic, const uint8_t *raw, size_t len,
		      const struct envelope *env);

void plan_tick(struct node *n);
int64_t plan_next_deadline(const struct node *n);
/* Registers this module's tick with the event loop (main.c). */
struct loop;
int plan_register(struct loop *l, struct node *n);

/* The occurrence started or ended for good: never play it again. */
void plan_mark_done(struct node *n, const char *id, int64_t at);
int plan_is_done(const struct node *n, const char *id);
/* 1 when an item still to play needs this content or chime. */
int plan_references(const struct node *n, const char *content);
/* Cache eviction: in the queue or still needed by the plan. */
int plan_or_queue_uses(void *node, const char *content);

/* Status fields "plan" and "upcoming" (new references). */
struct json_t;
void plan_status(struct node *n, struct json_t *status);

/*
 * Parse and check a plan body (pure; unit tests). node: this node's id.
 * Returns 0, or -EINVAL with why naming the field ("items[2].at: ..."), or
 * -EXDEV when the plan is for another node (its "node" field).
 * On success out->items is malloc'd (plan_clear frees it).
 */
int plan_parse(const uint8_t *body, size_t len, const char *node, struct plan *out, char *why,
	       size_t whylen);
void plan_clear(struct plan *p);

#endif
