/*
 * livebody.c - see livebody.h.
 */
#include "livebody.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bytes.h"

int live_body_write(const struct live_batch *b, uint8_t *out, size_t cap)
{
	size_t tl = strnlen(b->to, sizeof(b->to)), off = LIVE_HEADER_LEN + 1 + tl;
	uint64_t t = (uint64_t)b->t0_us;
	unsigned i;

	if (b->nframes < 1 || b->nframes > LIVE_MAX_FRAMES || tl < 1 || tl > LIVE_TO_MAX)
		return -EINVAL;
	if (cap < off)
		return -ENOSPC;
	out[0] = LIVE_BODY_VERSION;
	out[1] = b->flags;
	out[2] = b->level;
	out[3] = (uint8_t)b->nframes;
	put_be32(out + 4, b->session);
	put_be32(out + 8, b->seq);
	put_be32(out + 12, (uint32_t)(t >> 32));
	put_be32(out + 16, (uint32_t)t);
	put_be16(out + 20, b->frame_ms);
	put_be16(out + 22, b->latency_ms);
	out[LIVE_HEADER_LEN] = (uint8_t)tl;
	memcpy(out + LIVE_HEADER_LEN + 1, b->to, tl);
	for (i = 0; i < b->nframes; i++) {
		if (b->len[i] < 1 || b->len[i] > LIVE_MAX_FRAME_BYTES)
			return -EINVAL;
		size_t hl = b->len[i] < 128 ? 1 : 2;

		if (off + hl + b->len[i] > cap)
			return -ENOSPC;
		if (hl == 1)
			out[off] = (uint8_t)b->len[i];
		else
			put_be16(out + off, (uint16_t)(0x8000 | b->len[i]));
		memcpy(out + off + hl, b->frame[i], b->len[i]);
		off += hl + (size_t)b->len[i];
	}
	return (int)off;
}

int live_body_parse(const uint8_t *buf, size_t len, struct live_batch *b, char *why,
		    size_t whylen)
{
	size_t off = LIVE_HEADER_LEN + 1, tl, j;
	unsigned i;

	memset(b, 0, sizeof(*b));
	if (len < LIVE_HEADER_LEN + 1) {
		snprintf(why, whylen, "live body of %zu bytes is shorter than its %d-byte header",
			 len, LIVE_HEADER_LEN + 1);
		return -EINVAL;
	}
	if (buf[0] != LIVE_BODY_VERSION) {
		snprintf(why, whylen, "live body version %u (this node speaks %d)", buf[0],
			 LIVE_BODY_VERSION);
		return -EINVAL;
	}
	tl = buf[LIVE_HEADER_LEN];
	if (tl < 1 || tl > LIVE_TO_MAX || off + tl > len) {
		snprintf(why, whylen, "live body: destination length %zu is not 1..%d or runs "
			 "past the body", tl, LIVE_TO_MAX);
		return -EINVAL;
	}
	for (j = 0; j < tl; j++) {
		char ch = (char)buf[off + j];

		/* topic characters only: it is compared with a topic and logged */
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '_' || ch == '/')) {
			snprintf(why, whylen, "live body: the destination holds a byte 0x%02x "
				 "that no topic has", (unsigned)buf[off + j]);
			return -EINVAL;
		}
		b->to[j] = ch;
	}
	b->to[tl] = '\0';
	off += tl;
	b->flags = buf[1];
	b->level = buf[2];
	b->nframes = buf[3];
	b->session = get_be32(buf + 4);
	b->seq = get_be32(buf + 8);
	b->t0_us = (int64_t)(((uint64_t)get_be32(buf + 12) << 32) | get_be32(buf + 16));
	b->frame_ms = get_be16(buf + 20);
	b->latency_ms = get_be16(buf + 22);
	if (b->flags & ~LIVE_FLAG_LAST) {
		snprintf(why, whylen, "live body: unknown flags 0x%02x", b->flags);
		return -EINVAL;
	}
	if (b->level != 0 && b->level != 3 && b->level != 4) {
		snprintf(why, whylen, "live body: level %u is not relay (0), live (3) or "
			 "emergency (4)", b->level);
		return -EINVAL;
	}
	if (b->nframes < 1 || b->nframes > LIVE_MAX_FRAMES) {
		snprintf(why, whylen, "live body: frame count %u is not 1..%d", b->nframes,
			 LIVE_MAX_FRAMES);
		return -EINVAL;
	}
	if (b->frame_ms != 20) {
		snprintf(why, whylen, "live body: frame duration %u ms (only 20 is spoken)",
			 b->frame_ms);
		return -EINVAL;
	}
	if (b->latency_ms < 20 || b->latency_ms > 10000) {
		snprintf(why, whylen, "live body: latency %u ms is not 20..10000",
			 b->latency_ms);
		return -EINVAL;
	}
	if (b->t0_us <= 0) {
		snprintf(why, whylen, "live body: capture time is not a time");
		return -EINVAL;
	}
	for (i = 0; i < b->nframes; i++) {
		uint16_t l;
		size_t hl;

		if (off + 1 > len || ((buf[off] & 0x80) && off + 2 > len)) {
			snprintf(why, whylen, "live body: frame %u is cut off", i);
			return -EINVAL;
		}
		hl = (buf[off] & 0x80) ? 2 : 1;
		l = hl == 1 ? buf[off] : (uint16_t)(get_be16(buf + off) & 0x7fff);
		if (l < 1 || l > LIVE_MAX_FRAME_BYTES || (hl == 2 && l < 128) ||
		    off + hl + l > len) {
			snprintf(why, whylen, "live body: frame %u has a bad length %u", i, l);
			return -EINVAL;
		}
		b->len[i] = l;
		b->frame[i] = buf + off + hl;
		off += hl + (size_t)l;
	}
	if (off != len) {
		snprintf(why, whylen, "live body: %zu bytes after the last frame", len - off);
		return -EINVAL;
	}
	return 0;
}
