/*
 * delivery.h - content to nodes, in chunks, on request (docs/protocol.md,
 * "Content delivery").
 *
 * A node publishes {"node","content","from","count"} on its fetch topic;
 * the controller answers each chunk from .. from+count-1 with one signed
 * envelope of type content on <root>/node/<id>/content, sent on the bulk
 * connection. Unknown content is answered once with total size 0 and chunk
 * count 0.
 *
 * Chunks are not all handed to libmosquitto at once (a district of nodes
 * asking at the same moment would queue gigabytes in memory): requests
 * become jobs, and ctl_delivery_pump, called on every turn of the loop,
 * sends chunks round-robin across jobs while the bulk connection has no
 * bytes waiting for the socket and fewer than 2 x delivery.window chunks
 * are unacknowledged. A new request of the same node for the same content
 * replaces the old range (the node asks again after 5 s of silence).
 */
#ifndef LOAXA_CTL_DELIVERY_H
#define LOAXA_CTL_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct ctl;

/* At most this many requests wait at once; more are dropped (logged). */
#define CTL_MAX_FETCH_JOBS 1024
/*
 * At most this many contents per node at once: a node fetches one at a
 * time, so a node asking for more (a stolen board) would only take slots
 * and open files from the others. More are refused, counted as
 * "fetch_busy" in GET /v1/security and logged; the node asks again later.
 */
#define CTL_MAX_FETCH_JOBS_PER_NODE 4
/* Content envelopes are void this long after they are sent. */
#define CTL_CONTENT_TTL_MS (5 * 60 * 1000)

struct ctl_fetch_req {
	char node[32];
	char content[CONTENT_ID_LEN + 1];
	uint32_t from;
	uint32_t count;
};

struct ctl_fetch_job;

struct ctl_delivery {
	struct ctl_fetch_job *head, *tail;
	int njobs;
	uint64_t chunks_sent;
};

int ctl_parse_fetch(const char *node, const void *payload, size_t len,
		    struct ctl_fetch_req *req, char *err, size_t errlen);

/*
 * Handle a fetch request from node's topic: 0 = queued or answered,
 * 1 = ignored on purpose (chunk out of range), -EINVAL = invalid (warning
 * logged).
 */
int ctl_delivery_on_fetch(struct ctl *c, const char *node, const void *payload,
			  size_t len);

/* Send a few of the chunks that can be sent now (CTL_DELIVERY_BATCH). */
void ctl_delivery_pump(struct ctl *c);
/* 1 when more could be sent at once: the loop must not sleep in poll(). */
int ctl_delivery_more(struct ctl *c);
/* Drop every waiting job (bulk connection lost, shutdown). */
void ctl_delivery_reset(struct ctl *c);
/* Read fetch requests, drop the jobs of a lost bulk connection (mqtt.h's
 * table and hooks; main.c's list of parts). */
int ctl_delivery_register(struct ctl *c);

#endif
