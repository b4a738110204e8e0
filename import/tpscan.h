/*
 * tpscan.h - libebur128's true peak of a long stream at a fraction of its
 * cost.
 *
 * libebur128 oversamples every sample 4x to find the true peak: for a
 * 10-minute file that is about as much work as decoding it. Only the
 * chunks that might hold the maximum need it. The stream goes through our
 * own vectorised copy of the same interpolator (limiter.h) first; a chunk
 * whose peak comes within HOT of the highest seen so far is then measured
 * by libebur128, after 24 samples of context so that its interpolator
 * starts from the real history, and the answer is libebur128's maximum
 * over those chunks. Because both use the same filter, a chunk skipped is
 * a chunk libebur128 would have found lower anyway.
 */
#ifndef LOAXA_IMPORT_TPSCAN_H
#define LOAXA_IMPORT_TPSCAN_H

#include <stddef.h>
#include <stdint.h>

#include <ebur128.h>

#include "limiter.h"

#define TPSCAN_CTX 24
#define TPSCAN_MAX_CHUNK 5760

struct tpscan {
	ebur128_state *st;             /* fed only candidate chunks */
	struct truepeak fast;
	float ctx[TPSCAN_CTX];         /* the samples before the pending chunk */
	size_t ctx_len;
	float pend[2 * TPSCAN_MAX_CHUNK + TP_DELAY]; /* chunk awaiting its last peaks */
	size_t pend_len;
	float pend_fast;               /* fast peak of the pending chunk so far */
	float best_fast;
	float bound;                   /* truepeak_gain_bound(), a hair over */
	double best;                   /* libebur128's answer so far (linear) */
	uint64_t chunks, measured;     /* how much libebur128 had to look at */
	float peaks[TP_BLOCK];
};

int tpscan_init(struct tpscan *t);
/* n <= TPSCAN_MAX_CHUNK samples, in order. */
int tpscan_add(struct tpscan *t, const float *x, size_t n);
/* True peak (linear, libebur128's) of everything added. */
int tpscan_finish(struct tpscan *t, double *peak);
void tpscan_free(struct tpscan *t);

#endif
