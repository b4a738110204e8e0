/*
 * jitter.h - the live jitter buffer: Opus frames of one live session, keyed
 * by their sequence number (a frame's capture time is the session's base
 * time + seq * 20 ms, so the key is the timestamp).
 *
 * Frames arrive in batches, possibly late, duplicated or not at all; the
 * player asks for the frame it needs now (jitter_get), the one after it for
 * in-band FEC, and drops what it has played (jitter_release_before). A frame
 * that arrives after its turn counts as late and is not stored; one more than
 * JITTER_SLOTS ahead of the player (10 s) is refused (a wrong clock, or
 * another stream).
 */
#ifndef LOAXA_NODE_JITTER_H
#define LOAXA_NODE_JITTER_H

#include <stddef.h>
#include <stdint.h>

#include "livebody.h"

#define JITTER_SLOTS 512 /* 10.24 s of 20 ms frames: the largest latency fits */

struct jitter_slot {
	uint32_t seq;
	int used;
	uint16_t len;
	uint8_t data[LIVE_MAX_FRAME_BYTES];
};

struct jitter {
	struct jitter_slot *slots;  /* JITTER_SLOTS, allocated by jitter_init */
	uint32_t floor;             /* frames below this are played or given up */
	uint64_t stored, late, dups, too_far;
};

enum jitter_put_result { JITTER_STORED = 0, JITTER_DUP, JITTER_LATE, JITTER_TOO_FAR };

int jitter_init(struct jitter *j);
void jitter_free(struct jitter *j);
void jitter_reset(struct jitter *j, uint32_t floor);
enum jitter_put_result jitter_put(struct jitter *j, uint32_t seq, const uint8_t *data,
				  size_t len);
/* The frame seq if stored, else NULL. */
const struct jitter_slot *jitter_get(const struct jitter *j, uint32_t seq);
/* Everything below seq is done with. */
void jitter_release_before(struct jitter *j, uint32_t seq);

#endif
