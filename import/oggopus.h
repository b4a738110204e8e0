/*
 * oggopus.h - an Ogg Opus stream (RFC 7845) written packet by packet.
 *
 * The import encodes with libopus directly (peakguard.h) instead of through
 * libopusenc: only then can it encode a frame again from a saved encoder
 * state before the packet is written. This writes what libopusenc would:
 * a first page with only the 19-byte OpusHead (import.c patches its output
 * gain in place), a page with the OpusTags, then the audio packets with
 * their granule positions; the last page's granule position cuts the
 * padding off, so players play exactly the input's length.
 */
#ifndef LOAXA_IMPORT_OGGOPUS_H
#define LOAXA_IMPORT_OGGOPUS_H

#include <stddef.h>
#include <stdint.h>

#include <ogg/ogg.h>

/* Each finished page, in order; non-zero stops the stream (write error). */
typedef int (*oggopus_write_fn)(void *user, const unsigned char *p, size_t n);

struct oggopus {
	ogg_stream_state os;
	int inited;
	oggopus_write_fn write;
	void *user;
	int64_t packetno;
	uint64_t granule;      /* end of the packets written so far */
	uint64_t end;          /* pre-skip + input length: the last granule */
	int err;               /* the write callback failed */
};

/*
 * Start a mono 48 kHz stream: serial number, pre-skip (the encoder's
 * lookahead), total input samples, vendor string and the "KEY=value" tags.
 * 0 or -errno.
 */
int oggopus_start(struct oggopus *w, int serial, unsigned preskip, uint64_t total,
		  const char *vendor, const char *const *tags, size_t ntags,
		  oggopus_write_fn write, void *user);
/* One packet of frame_samples (48 kHz); last: the stream ends with it. */
int oggopus_packet(struct oggopus *w, const unsigned char *data, size_t len,
		   unsigned frame_samples, int last);
void oggopus_free(struct oggopus *w);

#endif
