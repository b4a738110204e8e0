/*
 * pcmstore.h - the decoded audio between pass 1 and pass 2.
 *
 * Pass 1 appends mono 48 kHz float samples; pass 2 reads them back, as often
 * as it needs to. Short inputs stay in memory; past spill_after samples the
 * store moves to an unlinked temp file (O_TMPFILE) in a directory of the
 * caller's choice, so a 4 h input (2.7 GB as float) never sits in RAM and
 * nothing is left on disk whatever happens to the process.
 */
#ifndef LOAXA_IMPORT_PCMSTORE_H
#define LOAXA_IMPORT_PCMSTORE_H

#include <stddef.h>
#include <stdint.h>

struct pcm_store {
	float *mem;          /* in memory: all samples; spilled: write buffer */
	size_t len, cap;     /* samples in mem, its capacity */
	int fd;              /* spill file, -1 while in memory */
	uint64_t total;      /* samples appended */
	uint64_t spill_after;
	char dir[4096];      /* where a spill file goes */
	uint64_t read_pos;   /* next sample pass 2 reads */
	float *rbuf;         /* read buffer when spilled */
	size_t rcap;
};

void pcm_store_init(struct pcm_store *s, const char *dir, uint64_t spill_after);
/* Room for n samples in memory up front (a hint: saves regrowing). */
void pcm_store_reserve(struct pcm_store *s, uint64_t n);
int pcm_store_append(struct pcm_store *s, const float *x, size_t n);
/* All appended; switches to reading from the start. */
int pcm_store_finish(struct pcm_store *s);
void pcm_store_rewind(struct pcm_store *s);
/* Up to max samples at *x (valid until the next call); 0 at the end. */
int pcm_store_read(struct pcm_store *s, const float **x, size_t max, size_t *n);
/* Copy n samples from position pos (after finish); -EINVAL past the end. */
int pcm_store_read_at(struct pcm_store *s, uint64_t pos, float *out, size_t n);
void pcm_store_free(struct pcm_store *s);

#endif
