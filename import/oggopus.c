/*
 * oggopus.c - see oggopus.h.
 */
#include "oggopus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A page holds about this many bytes of packets: ~1.4 s at 24 kbps, the
 * size libogg chooses by itself. */
#define PAGE_FILL 4096

static int put_pages(struct oggopus *w, int flush)
{
	ogg_page pg;

	while (flush ? ogg_stream_flush(&w->os, &pg) : ogg_stream_pageout_fill(&w->os, &pg, PAGE_FILL)) {
		if (w->err)
			return -EIO;
		if (w->write(w->user, pg.header, (size_t)pg.header_len) != 0 ||
		    w->write(w->user, pg.body, (size_t)pg.body_len) != 0) {
			w->err = 1;
			return -EIO;
		}
	}
	return w->err ? -EIO : 0;
}

static void le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

int oggopus_start(struct oggopus *w, int serial, unsigned preskip, uint64_t total,
		  const char *vendor, const char *const *tags, size_t ntags,
		  oggopus_write_fn write, void *user)
{
	unsigned char head[19];
	unsigned char *t = NULL;
	size_t tlen, off, i;
	ogg_packet op;
	int rc;

	memset(w, 0, sizeof(*w));
	if (ogg_stream_init(&w->os, serial) != 0)
		return -ENOMEM;
	w->inited = 1;
	w->write = write;
	w->user = user;
	w->end = preskip + total;

	/* RFC 7845 5.1: version 1, mono, pre-skip, 48 kHz, gain 0, family 0 */
	memcpy(head, "OpusHead", 8);
	head[8] = 1;
	head[9] = 1;
	head[10] = (unsigned char)preskip;
	head[11] = (unsigned char)(preskip >> 8);
	le32(head + 12, 48000);
	head[16] = head[17] = 0;
	head[18] = 0;
	memset(&op, 0, sizeof(op));
	op.packet = head;
	op.bytes = sizeof(head);
	op.b_o_s = 1;
	op.packetno = w->packetno++;
	if (ogg_stream_packetin(&w->os, &op) != 0)
		return -ENOMEM;
	if ((rc = put_pages(w, 1)) < 0)
		return rc;

	/* RFC 7845 5.2 */
	tlen = 8 + 4 + strlen(vendor) + 4;
	for (i = 0; i < ntags; i++)
		tlen += 4 + strlen(tags[i]);
	t = malloc(tlen);
	if (!t)
		return -ENOMEM;
	memcpy(t, "OpusTags", 8);
	off = 8;
	le32(t + off, (uint32_t)strlen(vendor));
	memcpy(t + off + 4, vendor, strlen(vendor));
	off += 4 + strlen(vendor);
	le32(t + off, (uint32_t)ntags);
	off += 4;
	for (i = 0; i < ntags; i++) {
		le32(t + off, (uint32_t)strlen(tags[i]));
		memcpy(t + off + 4, tags[i], strlen(tags[i]));
		off += 4 + strlen(tags[i]);
	}
	memset(&op, 0, sizeof(op));
	op.packet = t;
	op.bytes = (long)tlen;
	op.packetno = w->packetno++;
	rc = ogg_stream_packetin(&w->os, &op) != 0 ? -ENOMEM : put_pages(w, 1);
	free(t);
	return rc;
}

int oggopus_packet(struct oggopus *w, const unsigned char *data, size_t len,
		   unsigned frame_samples, int last)
{
	ogg_packet op;

	w->granule += frame_samples;
	memset(&op, 0, sizeof(op));
	op.packet = (unsigned char *)(uintptr_t)data;
	op.bytes = (long)len;
	op.packetno = w->packetno++;
	/* the last packet's end is the input's end: players cut the rest */
	op.granulepos = (ogg_int64_t)(last && w->end < w->granule ? w->end : w->granule);
	op.e_o_s = last;
	if (ogg_stream_packetin(&w->os, &op) != 0)
		return -ENOMEM;
	return put_pages(w, last);
}

void oggopus_free(struct oggopus *w)
{
	if (w->inited)
		ogg_stream_clear(&w->os);
	w->inited = 0;
}
