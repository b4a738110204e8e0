/*
 * queue.h - plays the node was told to make, in priority order.
 *
 * A verified play command, a plan item coming due (plan.c), an emergency
 * (emergency.c) or a live session (live.c) wants the one audio output. The rules, one model for
 * the whole system (docs/node.md, "Priorities"):
 *
 *   relay < normal < priority < live < emergency
 *
 * - a higher level preempts a lower one at once: the current play is faded
 *   out (PLAYOUT_FADE) and the higher one starts;
 * - a preempted item that is still valid (now < its expiry) goes back into
 *   the queue, ahead of the later items of its level, so it plays again
 *   (from its beginning: half an announcement means nothing to a listener)
 *   after the preemptor; one no longer valid ends as play_preempted;
 * - equal levels queue: among the items that are ready (content in the
 *   cache) and due (their start time has come), the highest level goes
 *   first, then the one that arrived first.
 *
 * An item that cannot start before its expiry (content missing, or the
 * output held by higher levels) fails: for a command, with "content not
 * delivered before the command expired" (no content) or "expired before it
 * could start"; for a plan item with reason "expired".
 *
 * Every outcome is an event (play_started, play_finished, play_failed,
 * play_preempted) and a log line in plain words: "playing <content> for
 * broadcast <b>", "finished <content> for broadcast <b> after 5.1 s", "play
 * of broadcast <b> failed: ...", "broadcast <b> (content <c>) preempted by
 * e-1 after 3.2 s; re-queued: it plays again from the start afterwards".
 *
 * All times here are controller time (clock.h): a play command's `at`, a
 * plan item's `at` and `expires` are in the controller's clock.
 */
#ifndef LOAXA_NODE_QUEUE_H
#define LOAXA_NODE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define QUEUE_MAX 64
/* Open the device this long before a scheduled play (amplifier, device setup). */
#define QUEUE_WARM_UP_MS 1000
/*
 * A scheduled item is handed to the player this long before its time plus
 * the device buffer, so that a preempted play has faded out and drained and
 * the player can pad with silence to put the first sample exactly on `at`.
 */
#define QUEUE_START_LEAD_MS 300
#define QUEUE_ID_MAX 96

struct node;

/* Order matters: a higher value preempts a lower one. */
enum play_level {
	LEVEL_RELAY = 0,
	LEVEL_NORMAL,
	LEVEL_PRIORITY,
	LEVEL_LIVE,      /* live sessions only (operator microphone), never a play command */
	LEVEL_EMERGENCY,
	LEVEL_COUNT
};

struct play_item {
	struct play_item *next;
	char broadcast[QUEUE_ID_MAX];  /* broadcast id, or the occurrence id of a plan item */
	char content[CONTENT_ID_LEN + 1];
	char chime[CONTENT_ID_LEN + 1]; /* "" = none; played right before the content */
	char title[256];
	uint64_t bytes;        /* 0 = not given */
	uint64_t chime_bytes;
	int64_t duration_ms;   /* -1 = not given */
	int64_t at;            /* controller clock ms, 0 = as soon as ready */
	int64_t expires;       /* controller clock ms: latest acceptable start */
	enum play_level level;
	int volume;
	int warmup_s;          /* amplifier lead for this item (plan items), -1 = default */
	/* plan items (plan.c): occurrence id = broadcast, and the plan's sequence */
	int from_plan;
	uint64_t plan_seq;
	/* set by the queue */
	int ready;             /* content (and chime) are in the cache */
	uint64_t order;        /* arrival order: equal levels play first come, first served */
	int64_t start_ms;      /* controller clock of the first sample, 0 before */
	int preempting;        /* a higher level is fading this one out */
	char preemptor[QUEUE_ID_MAX];
	int preemptions;       /* how often it was preempted so far */
};

struct play_queue {
	struct play_item *head, *tail;
	size_t n;
	struct play_item *current;
	uint64_t next_order;
	/* set while the current play fades out for a preemptor (live.c reads it) */
	char preempted_by[QUEUE_ID_MAX];
};

const char *play_level_name(enum play_level l);
int play_level_parse(const char *s, enum play_level *out);

/* Empty queue; hooks itself to the player (call after playout_init). */
void queue_init(struct node *n);

/* Take a play (copied). Returns 0 or -errno; every refusal is logged. */
int queue_add(struct node *n, const struct play_item *item);
/* Stop broadcast (NULL: everything). Returns how many plays it ended. */
int queue_stop(struct node *n, const char *broadcast);
/*
 * Remove plan items that have not started (a newer plan replaces them),
 * silently: they are not failures. Returns how many.
 */
int queue_drop_plan_items(struct node *n);

void queue_content_ready(struct node *n, const char *content);
void queue_content_failed(struct node *n, const char *content, const char *reason);

void queue_tick(struct node *n);
int64_t queue_next_deadline(const struct node *n);
/* Registers this module's tick with the event loop (main.c). */
struct loop;
int queue_register(struct loop *l, struct node *n);

/*
 * Someone outside the queue (an emergency, emergency.c; a live session,
 * live.c) takes the player: fade the current play out and, when it has
 * stopped, re-queue it if still valid (it plays again from the start after
 * the preemptor), else drop it; either way a play_preempted event names the
 * preemptor. While emergency_holds() or live_holds(), the queue starts
 * nothing; an emergency play (the only level above live) makes a live
 * session yield (live_yield). Returns 1 when a play was (being) preempted,
 * 0 when none was playing.
 */
int queue_preempt(struct node *n, const char *by);

const struct play_item *queue_current(const struct play_queue *q);
size_t queue_pending(const struct play_queue *q);
/* For cache eviction: 1 when content is queued or playing. */
int queue_uses(void *node, const char *content);
/* 1 when any queued item still waits for content. */
int queue_wants(const struct node *n, const char *content);
/* 1 when the occurrence (plan item id) is queued or playing. */
int queue_has_occurrence(const struct node *n, const char *id);

/* Shutdown: the current play and every queued one end as play_failed. */
void queue_shutdown(struct node *n, const char *reason);

/*
 * The decisions, pure (exposed for unit tests):
 * queue_pick: the item to start now among ready, due items (highest level,
 * then arrival), or NULL; lead_ms: how early a scheduled item is due.
 * queue_preempts: 1 when candidate must cut the current play.
 * queue_requeue_ok: 1 when a preempted item is still valid at now.
 */
struct play_item *queue_pick(const struct play_queue *q, int64_t now, int64_t lead_ms);
int queue_preempts(enum play_level current, enum play_level candidate);
int queue_requeue_ok(const struct play_item *it, int64_t now);

#endif
