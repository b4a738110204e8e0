/*
 * sse.h - the last events of the controller for GET /v1/events
 * (Server-Sent Events): node status changes, play and emergency
 * confirmations, alarms.
 *
 * A ring of the newest SSE_RING events, each with a sequence number (the
 * SSE "id"), its kind (the SSE "event"), the node it concerns ("" for the
 * whole station: scope filters use it) and its JSON text. A stream keeps
 * the last number it sent; a browser that reconnects sends it back as
 * Last-Event-ID and gets what it missed, or, when the ring has moved past
 * it, a "reset" event that says to reload (sse_next). Pure data: api.c
 * owns the ring and the connections.
 */
#ifndef LOAXA_CTL_SSE_H
#define LOAXA_CTL_SSE_H

#include <stddef.h>
#include <stdint.h>

#define SSE_RING 256
#define SSE_KIND_MAX 16
#define SSE_NODE_MAX 64
/* An event's JSON longer than this is not sent (a stream's one write). */
#define SSE_TEXT_MAX 4096

struct sse_event {
	uint64_t seq;
	char kind[SSE_KIND_MAX];
	char node[SSE_NODE_MAX];
	char *text;
};

struct sse_ring {
	struct sse_event ev[SSE_RING];
	uint64_t first; /* the number of the first event of this run */
	uint64_t next;  /* the number the next event gets */
};

/*
 * first: the number of the first event, > 0. api.c starts from the wall
 * clock in microseconds, so numbers grow across restarts of the
 * controller: a browser's Last-Event-ID of a previous run is older than
 * the ring and gets "reset", never a wait for numbers already given.
 */
void sse_init(struct sse_ring *r, uint64_t first);
void sse_free(struct sse_ring *r);

/* Add an event (text is copied). 0, -EINVAL (kind, node or text too long,
 * or a newline in text: it would end the SSE field) or -ENOMEM. */
int sse_push(struct sse_ring *r, const char *kind, const char *node, const char *text);

/* The newest sequence number given (0: none yet). */
uint64_t sse_last(const struct sse_ring *r);

/*
 * The first event after seq, or NULL when there is none yet. *lost is
 * set when events after seq have left the ring already (the stream must
 * say "reset").
 */
const struct sse_event *sse_next(const struct sse_ring *r, uint64_t seq, int *lost);

/*
 * One event as SSE text ("id: N\nevent: K\ndata: JSON\n\n") into buf.
 * Returns its length, or 0 when it does not fit in len.
 */
size_t sse_format(const struct sse_event *e, char *buf, size_t len);

/* Parse a Last-Event-ID header: the number, or 0 when absent or not one. */
uint64_t sse_parse_last_id(const char *s);

#endif
