/*
 * events.h - what the node tells the controller happened, delivered at least
 * once.
 *
 * Every event (play_started, play_finished, play_failed, content_ready,
 * content_failed; JSON in docs/protocol.md) gets an id "<node>-<boot>-<n>"
 * and is first written to <state_dir>/events/<id>.json (atomically), then
 * published with QoS 1 on the control connection. The file is removed when
 * the broker acknowledges it (PUBACK). Whatever is still in the journal is
 * published again after every reconnect and at the next start, so a broken
 * link or a restart loses no event; the controller stores each id once.
 * libmosquitto's in-memory queue is never relied on (it dies with the
 * process): while disconnected nothing is handed to it.
 *
 * The journal is bounded (EVENTS_MAX_PENDING); beyond, the oldest entries are
 * dropped with a warning.
 */
#ifndef LOAXA_NODE_EVENTS_H
#define LOAXA_NODE_EVENTS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define EVENTS_MAX_PENDING 1000

struct node;

struct event_pending {
	char id[80];
	uint64_t boot, seq; /* for ordering */
	int mid;            /* MQTT message id while in flight, 0 = not sent */
};

struct node_events {
	char dir[PATH_MAX];
	uint64_t counter;
	struct event_pending *pending;
	size_t npending, cap;
};

/* What an event says besides its type. Unused fields: NULL / 0 / -1. */
struct event_info {
	const char *broadcast;
	const char *content;
	int64_t start_ms;     /* -1: not started */
	int64_t duration_ms;  /* -1: omitted */
	const char *reason;
	const char *title;
	int drill;            /* EV_DRILL_*: emergency events always say which */
	/* plays (queue.c): its level; for plan items the occurrence, the plan's
	 * sequence, the scheduled time and the clock's error bound */
	const char *level;
	const char *occurrence;  /* NULL: not a plan item */
	uint64_t plan_seq;
	int64_t scheduled_ms;    /* 0: omitted */
	double error_ms;         /* with occurrence */
	const char *end;         /* finished|stopped|preempted|failed, NULL: omitted */
	const char *preemptor;   /* play_preempted / end "preempted" */
	int requeued;            /* play_preempted: queued again */
	uint64_t items;          /* plan_received: how many items */
};

#define EV_DRILL_NONE 0       /* not an emergency event: no "drill" field */
#define EV_DRILL_NO 1         /* "drill": false */
#define EV_DRILL_YES 2        /* "drill": true */

int events_init(struct node *n);
void events_free(struct node *n);

/* Journal and publish one event. Returns 0 or -errno (logged). */
int events_emit(struct node *n, const char *type, const struct event_info *info);

void events_on_connect(struct node *n);
void events_on_disconnect(struct node *n);
void events_on_publish(struct node *n, int mid);

#endif
