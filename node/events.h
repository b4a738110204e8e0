/*
 * events.h - what the node tells the controller happened, delivered at least
 * once and kept on disk until the controller says it has it.
 *
 * Every event (node_started, play_*, content_*, cmd_done, events_dropped...;
 * JSON in docs/protocol.md) gets an id "<node>-<boot>-<n>", unique for the
 * life of the node because the boot counter never goes back. It is first
 * written to <state_dir>/events/<id>.json with write_file_atomic() (write to a
 * temporary file, fsync, rename, fsync the directory): after a crash or a
 * power cut an entry is either complete or absent. A leftover temporary file
 * is a torn write and is removed; an entry that does not parse as a JSON
 * object (a damaged disk) is skipped, removed and counted as dropped.
 *
 * Delivery: entries are published with QoS 1 on the control connection, at
 * most EVENTS_WINDOW unacknowledged at a time, oldest first. A broker PUBACK
 * proves nothing (the broker keeps its queue in memory, see
 * docs/protocol.md): an entry leaves the journal only when the controller
 * acknowledges its id with a signed {"cmd":"ack","ids":[...]} command. If no
 * acknowledgement comes within EVENTS_RESEND_MS, the unacknowledged entries
 * are sent again; after a reconnect and at the next start everything left is
 * sent again. The controller stores each (node, id) once, so a resend is
 * harmless.
 *
 * The journal holds at most health.journal_max entries. Beyond, the oldest
 * is dropped with a warning; drops are counted in the status ("journal") and
 * reported once the link is back by an events_dropped event naming how many
 * and which ids. The count of unreported drops is kept in
 * <state_dir>/events.dropped so a restart does not forget it.
 */
#ifndef LOAXA_NODE_EVENTS_H
#define LOAXA_NODE_EVENTS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define EVENTS_MAX_PENDING_DEFAULT 1000
#define EVENTS_WINDOW 64
#define EVENTS_RESEND_MS 45000 /* > the controller's ack deferral while playing */
#define EVENT_ID_MAX 80

struct node;

struct event_pending {
	char id[EVENT_ID_MAX];
	uint64_t boot, seq;   /* for ordering */
	int64_t sent_mono;    /* when published on this connection, 0 = not yet */
};

struct node_events {
	char dir[PATH_MAX];
	uint64_t counter;
	struct event_pending *pending;
	size_t npending, cap;
	size_t max;                   /* health.journal_max */
	uint64_t acked;               /* entries acknowledged since start */
	uint64_t dropped;             /* entries dropped since start */
	uint64_t unreported;          /* drops not yet told in an event */
	char first_dropped[EVENT_ID_MAX], last_dropped[EVENT_ID_MAX];
	int clean_start;              /* the previous run stopped cleanly */
};

/*
 * What an event says besides its type. Unused fields: NULL, -1 for start_ms
 * and duration_ms, 0 for the others (so a designated initializer that names
 * only what it uses is right). The proof-of-play fields (occurrence ...
 * preemptor) are those of plan items (docs/protocol.md).
 */
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
	json_t *extra;           /* more fields, merged in (borrowed; may be NULL) */
};

#define EV_DRILL_NONE 0       /* not an emergency event: no "drill" field */
#define EV_DRILL_NO 1         /* "drill": false */
#define EV_DRILL_YES 2        /* "drill": true */

/* An event_info with every field unset. */
#define EVENT_INFO_INIT { .start_ms = -1, .duration_ms = -1 }

/* Load the journal (after the boot counter) and journal node_started. */
int events_init(struct node *n);
/* Clean stop: remember it, so the next node_started says so. */
void events_mark_clean_stop(struct node *n);
void events_free(struct node *n);

/* Journal and publish one event. Returns 0 or -errno (logged). */
int events_emit(struct node *n, const char *type, const struct event_info *info);

/* The controller has these ids: drop them from the journal. Returns how many. */
size_t events_ack(struct node *n, const char *const *ids, size_t count);

void events_on_connect(struct node *n);
void events_on_disconnect(struct node *n);
void events_tick(struct node *n, int64_t mono);
int64_t events_next_deadline(const struct node *n);
/* Registers this module's tick with the event loop (main.c). */
struct loop;
int events_register(struct loop *l, struct node *n);

/* "journal" object of the status: pending, acked, dropped. */
json_t *events_status_json(const struct node *n);

#endif
