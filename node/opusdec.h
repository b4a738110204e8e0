/*
 * opusdec.h - decode opusfile's packets with one plain Opus decoder.
 *
 * opusfile reads our content (container, pre-skip, end trimming, gaps) and
 * normally decodes through libopus' multistream API. That API recomputes
 * decoder sizes on every packet, and in libopus 1.3 each of those runs the
 * run-time CPU detection: on a virtual machine every CPUID instruction is a
 * trap to the hypervisor, and decoding cost three times what it needs.
 * loaxa content is always channel mapping family 0 (one stream, mono or
 * stereo), which a single-stream decoder handles exactly the same, so we
 * hand opusfile a decode callback (op_set_decode_callback) that uses one.
 * Anything else (surround files) still goes through opusfile's own decoder.
 *
 * The decoder is kept between plays (a reset is cheaper than a new one):
 * one struct opusdec per player, attached to each file it opens.
 */
#ifndef LOAXA_OPUSDEC_H
#define LOAXA_OPUSDEC_H

#include <stddef.h>

struct OggOpusFile;
struct opusdec;

/* A decoder holder, or NULL when out of memory. */
struct opusdec *opusdec_new(void);

/* Decode of's family-0 links with d's decoder from now on. No seeking on of
 * afterwards (the decoder's state is reset per link, not per seek). */
void opusdec_attach(struct opusdec *d, struct OggOpusFile *of);

/* Packets d decoded itself (opusfile's decoder did the rest). */
unsigned long opusdec_packets(const struct opusdec *d);

/* Mix n interleaved frames of `channels` down to mono, in place. */
void opusdec_mono(short *pcm, int n, int channels);

/*
 * Decode all of path, mixed down to mono, into a new buffer (*pcm, *n
 * samples, the caller frees it). Returns 0; -EFBIG when it is longer than
 * max samples; -EINVAL when it is not Ogg Opus; -EIO when it cannot be
 * decoded to the end; -ENOMEM.
 */
int opusdec_decode_file(const char *path, size_t max, short **pcm, size_t *n);

/* Free it all (NULL is fine). */
void opusdec_free(struct opusdec *d);

#endif
