/*
 * journal.h - the controller's half of the node journal: acknowledgements.
 *
 * A node keeps every event on disk until the controller acknowledges its id
 * (node/events.h). Once an event is stored (or found stored before: a
 * resend), its id is queued here; ctl_journal_flush() sends, per node, one
 * signed command {"cmd":"ack","ids":[...]} on <root>/node/<id>/cmd with up to
 * CTL_ACK_BATCH ids. It runs on every tick (once a second) and at once when
 * a node has a full batch, so a node that reconnects after a long outage
 * drains its journal in batches instead of one command per event. While the
 * node plays, acks wait (at most CTL_ACK_DEFER_MS).
 *
 * Acks are not stored: if the controller stops before sending them, the node
 * sends those events again after its resend timeout, and they are
 * acknowledged then (the database deduplicates by (node, id)).
 */
#ifndef LOAXA_CTL_JOURNAL_H
#define LOAXA_CTL_JOURNAL_H

#include <stddef.h>

#include "db.h"

#define CTL_ACK_BATCH 200
/*
 * Acks are held back while a node plays (status: playing, live or an active
 * emergency), at most this long: each signed command makes the node write
 * its sequence state with fsync, and on a busy SD card that can stall the
 * audio for a few hundred ms. Below the node's resend time (EVENTS_RESEND_MS).
 */
#define CTL_ACK_DEFER_MS 30000
/* A node's ids waiting beyond this are dropped (it sends them again). */
#define CTL_ACK_MAX_WAITING 5000

struct ctl;

struct ctl_ack_node {
	struct ctl_ack_node *next;
	char node[CTL_NAME_MAX];
	char (*ids)[CTL_ID_MAX];
	size_t n, cap;
	int64_t first_mono;   /* when the oldest waiting id was queued */
};

struct ctl_journal {
	struct ctl_ack_node *nodes;
	unsigned long long acks_sent;   /* ack commands, for /metrics */
	unsigned long long ids_acked;
};

/* Queue an acknowledgement of event id of node. */
void ctl_journal_ack(struct ctl *c, const char *node, const char *id);
/* Send what is queued (only when connected). */
void ctl_journal_flush(struct ctl *c);
void ctl_journal_free(struct ctl *c);

/*
 * Sign and publish one command body (JSON) to a node's cmd topic. Shared by
 * acks and maintenance commands. Returns 0, -ENOTCONN (queued by
 * libmosquitto for when the link returns) or another -errno.
 */
int ctl_send_node_cmd(struct ctl *c, const char *node, json_t *body, int64_t ttl_ms);

#endif
