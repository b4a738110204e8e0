/*
 * fetch.h - getting content the node lacks (docs/protocol.md, "Content
 * delivery").
 *
 * One transfer runs at a time (others wait their turn, in the order plays
 * asked for them). The node publishes {"node","content","from","count"} on
 * its fetch topic (bulk connection) for a window of chunks; the controller
 * answers each chunk with a signed content envelope. Chunks are appended in
 * order to <cache>/<id>.part and fsync'd; a chunk out of order is dropped
 * and asked for again. The next window is asked for when a window is
 * complete, or after FETCH_SILENCE_MS without a chunk.
 *
 * The chunk size, count and total size are kept in <cache>/<id>.partinfo
 * (written atomically with the first chunk), so after a restart or a broken
 * link the transfer resumes at chunk size(.part) / chunk size - logged as
 * "resuming <id> at chunk K of N". When the last chunk is on disk the
 * SHA-256 of the whole file is checked against the id; a match is renamed to
 * <id>.opus (content_ready), a mismatch deletes the .part and starts over
 * (after FETCH_MAX_RESTARTS, content_failed).
 *
 * The window: the node asks for FETCH_WINDOW chunks; a controller that sends
 * fewer per request (its delivery.window) is recognised after the first
 * silence and asked for that many from then on.
 */
#ifndef LOAXA_NODE_FETCH_H
#define LOAXA_NODE_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define FETCH_WINDOW 16
#define FETCH_SILENCE_MS 5000
#define FETCH_MAX_RESTARTS 3

struct node;

struct fetch {
	struct fetch *next;
	char id[CONTENT_ID_LEN + 1];
	uint8_t hash[32];
	uint64_t expect_bytes;   /* from the play command, 0 = unknown */
	int fd;                  /* .part, open for appending; -1 when not active */
	int active;
	uint32_t chunk_size;     /* 0 until known */
	uint32_t chunk_count;
	uint64_t total;
	uint32_t next_chunk;     /* the one we wait for */
	uint32_t req_from, req_end; /* last window asked for */
	uint32_t got_in_req;     /* chunks of that window received in order */
	int64_t last_activity;   /* mono ms: last chunk or request */
	int64_t started;         /* mono ms */
	int restarts;
	int write_errors;
	uint64_t bytes_this_run;
};

struct fetcher {
	struct fetch *head, *tail;
	uint32_t window;         /* what the controller answers per request */
};

void fetch_init(struct node *n);
void fetch_free(struct node *n);

/* Make sure content id gets fetched (no-op when cached or already underway). */
void fetch_want(struct node *n, const char *id, uint64_t bytes);

/*
 * Nobody needs id any more (its plays failed or were stopped): stop asking
 * for it. What is on disk stays, for a later resume.
 */
void fetch_cancel(struct node *n, const char *id);

/* A verified content envelope's body arrived on topic. */
void fetch_on_chunk(struct node *n, const char *topic, const uint8_t *body, size_t len);

/* The bulk connection (re)connected: ask again where we are. */
void fetch_on_connect(struct node *n);

void fetch_tick(struct node *n, int64_t mono);
int64_t fetch_next_deadline(const struct node *n);
/* Registers this module's tick with the event loop (main.c). */
struct loop;
int fetch_register(struct loop *l, struct node *n);

#endif
