/*
 * queue.h - plays the node was told to make, in order.
 *
 * A verified play command becomes a play_item. It waits until its content
 * is in the cache (fetch.c gets it) and its start time `at` (controller
 * clock, 0 = as soon as possible) has come, then goes to the player. This
 * release queues every level in arrival order: among the items that are
 * ready and due, the oldest plays first, one at a time. An item whose content
 * has not arrived when its command expires fails with "content not delivered
 * before the command expired". A stop command removes queued items of that
 * broadcast (or all) and fades out the current one.
 *
 * Every outcome is an event (play_started, play_finished, play_failed) and a
 * log line in plain words: "playing <content> for broadcast <b>", "finished
 * <content> for broadcast <b> after 5.1 s", "play of broadcast <b> failed: ...".
 */
#ifndef LOAXA_NODE_QUEUE_H
#define LOAXA_NODE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define QUEUE_MAX 64
/* Open the device this long before a scheduled play (amplifier, device setup). */
#define QUEUE_WARM_UP_MS 1000

struct node;

enum play_level { LEVEL_RELAY = 0, LEVEL_NORMAL, LEVEL_PRIORITY, LEVEL_EMERGENCY };

struct play_item {
	struct play_item *next;
	char broadcast[64];
	char content[CONTENT_ID_LEN + 1];
	char title[256];
	uint64_t bytes;        /* 0 = not given */
	int64_t duration_ms;   /* -1 = not given */
	int64_t at;            /* wall clock ms, 0 = as soon as ready */
	int64_t expires;       /* wall clock ms: the command's expiry */
	enum play_level level;
	int volume;
	int ready;             /* content is in the cache */
	int64_t start_ms;      /* wall clock of the first sample, 0 before */
};

struct play_queue {
	struct play_item *head, *tail;
	size_t n;
	struct play_item *current;
	char preempted_by[64];  /* set while the current play fades out for a preemptor */
};

const char *play_level_name(enum play_level l);
int play_level_parse(const char *s, enum play_level *out);

/* Empty queue; hooks itself to the player (call after playout_init). */
void queue_init(struct node *n);

/* Take a play (copied). Returns 0 or -errno; every refusal is logged. */
int queue_add(struct node *n, const struct play_item *item);
/* Stop broadcast (NULL: everything). Returns how many plays it ended. */
int queue_stop(struct node *n, const char *broadcast);

void queue_content_ready(struct node *n, const char *content);
void queue_content_failed(struct node *n, const char *content, const char *reason);

void queue_tick(struct node *n);
int64_t queue_next_deadline(const struct node *n);

const struct play_item *queue_current(const struct play_queue *q);
size_t queue_pending(const struct play_queue *q);
/* For cache eviction: 1 when content is queued or playing. */
int queue_uses(void *node, const char *content);
/* 1 when any queued item still waits for content. */
int queue_wants(const struct node *n, const char *content);

/*
 * A higher level (an emergency) takes the player: fade the current play out
 * and, when it has stopped, re-queue it at the head if its command is still
 * valid (it plays again from the start after the preemptor), else drop it;
 * either way a play_preempted event names the preemptor. Returns 1 when a
 * play was preempted, 0 when none was playing.
 */
int queue_preempt(struct node *n, const char *by);

/* Shutdown: the current play and every queued one end as play_failed. */
void queue_shutdown(struct node *n, const char *reason);

#endif
