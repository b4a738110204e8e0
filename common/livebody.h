/*
 * livebody.h - the binary body of a `live` envelope (docs/protocol.md, "Live
 * audio"): a batch of consecutive 20 ms Opus frames of one live session,
 * with the controller-clock capture time of the first frame.
 *
 *   off len field (integers big-endian)
 *     0   1 version (2; 1 had no destination and is refused)
 *     1   1 flags: bit 0 = the session's last batch
 *     2   1 level: 0 relay, 3 live, 4 emergency (play_level numbering)
 *     3   1 frame count n, 1..LIVE_MAX_FRAMES
 *     4   4 session id (random per session; a new id = a new stream)
 *     8   4 sequence number of the first frame (frames of a session count from 0)
 *    12   8 capture time of the first frame, us since the epoch, controller clock
 *    20   2 frame duration, ms (20)
 *    22   2 latency, ms: a frame plays at its capture time + latency
 *    24   1 destination length d, 1..LIVE_TO_MAX
 *    25   d destination: the topic below loaxa/<site>/ this body is for
 *           ("zone/thon-1/live", "node/n1/live"); the node compares it with
 *           the topic it came on, so a broker cannot republish a batch for
 *           one zone on another's topic (docs/protocol.md, "Destination")
 *  25+d   . n times: length L, then L bytes of Opus. L (1..LIVE_MAX_FRAME_BYTES) is
 *           one byte when below 128, else two bytes 0x8000 | L (a 24 kbps frame
 *           is ~60 bytes: one byte each, which keeps the wire overhead down)
 *
 * Frame i of the batch has sequence seq + i and capture time t0 + i * frame
 * duration. Each frame is a raw Opus packet (48 kHz mono, in-band FEC):
 * no Ogg, whose ~1 s pages are wrong for live.
 */
#ifndef LOAXA_LIVEBODY_H
#define LOAXA_LIVEBODY_H

#include <stddef.h>
#include <stdint.h>

#define LIVE_HEADER_LEN 24
#define LIVE_BODY_VERSION 2
#define LIVE_TO_MAX 63 /* node/<31>/live is 41 */
#define LIVE_MAX_FRAMES 50
#define LIVE_MAX_FRAME_BYTES 1275 /* the largest Opus packet */
#define LIVE_FLAG_LAST 0x01

struct live_batch {
	uint8_t flags;
	uint8_t level;
	uint32_t session;
	uint32_t seq;
	int64_t t0_us;
	uint16_t frame_ms;
	uint16_t latency_ms;
	char to[LIVE_TO_MAX + 1]; /* destination, e.g. "zone/thon-1/live" */
	unsigned nframes;
	const uint8_t *frame[LIVE_MAX_FRAMES];
	uint16_t len[LIVE_MAX_FRAMES];
};

/* Serialize b into out (at most cap bytes). Returns the length or -ENOSPC/-EINVAL. */
int live_body_write(const struct live_batch *b, uint8_t *out, size_t cap);
/* Parse and check every field; frames point into buf. -EINVAL with why filled. */
int live_body_parse(const uint8_t *buf, size_t len, struct live_batch *b, char *why,
		    size_t whylen);

#endif
