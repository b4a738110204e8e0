/*
 * limiter.h - true-peak detection and a look-ahead true-peak limiter.
 *
 * The detector oversamples 4x with the interpolation filter libebur128 uses
 * for its true peak (49-tap Hann-windowed sinc, ITU-R BS.1770-4 annex 2), so
 * what the limiter holds down is what libebur128 (and our verification) will
 * measure. Unlike libebur128 it works on fixed blocks with contiguous loops
 * the compiler vectorises, and gives a peak per sample, not one per file.
 *
 * The limiter delays the signal by LIMITER_LOOKAHEAD (+ the detector's 6
 * samples) and lowers the gain smoothly ahead of every peak so that it never
 * has to clip: gain = moving average over the look-ahead of (sliding minimum
 * of the required gain, with a slow release). The average of values that are
 * each at or below the required gain at the peak is itself at or below it,
 * so the ceiling holds on the samples and, to within a small fraction of a
 * dB, between them.
 */
#ifndef LOAXA_IMPORT_LIMITER_H
#define LOAXA_IMPORT_LIMITER_H

#include <stddef.h>
#include <stdint.h>

#define TP_HIST 12          /* input history the interpolator needs */
#define TP_DELAY 6          /* samples between input and its peak value */
#define TP_BLOCK 256        /* detector block (fixed: vectorised loops) */
#define LIMITER_LOOKAHEAD 240 /* 5 ms at 48 kHz */

struct truepeak {
	float hist[TP_HIST];
};

/* Peak of the 4x oversampled signal per input sample, 6 samples late:
 * peak[k] covers input sample k - TP_DELAY and the three points after it.
 * n <= TP_BLOCK. */
void truepeak_block(struct truepeak *tp, const float *x, size_t n, float *peak);

/* The interpolator's largest gain (sum of the |taps| of its loudest
 * branch): no peak of a block exceeds this times the block's loudest
 * sample, the TP_HIST before it included. */
float truepeak_gain_bound(void);
/* Move the history on over x (any n) without computing its peaks: for a
 * block the bound says is quiet enough. */
void truepeak_skip(struct truepeak *tp, const float *x, size_t n);

/* True peak (linear) of a whole buffer, for tests and checks. */
float truepeak_of(const float *x, size_t n);

struct limiter {
	struct truepeak tp;
	float ceiling;            /* linear */
	float release;            /* per-sample release coefficient */
	float tp_bound;           /* truepeak_gain_bound(), for detect() */
	float h;                  /* held/released gain */
	double boxsum;            /* sum of the last LOOKAHEAD+1 h values */
	double inv_w;             /* 1 / (LOOKAHEAD+1) */
	float hring[LIMITER_LOOKAHEAD + 1];
	float xring[LIMITER_LOOKAHEAD + 1]; /* delayed input samples */
	size_t ring_pos;
	/* monotonic deque for the sliding minimum of the required gain */
	float dq_val[LIMITER_LOOKAHEAD + 2];
	uint64_t dq_idx[LIMITER_LOOKAHEAD + 2];
	size_t dq_head, dq_len;
	uint64_t in_count;        /* samples given to the detector */
	uint64_t step;            /* samples past the detector */
	uint64_t out_count;       /* samples delivered */
	double min_gain;          /* deepest gain reduction applied */
	uint64_t limited;         /* samples whose gain was below 1 */
};

void limiter_init(struct limiter *l, double ceiling_dbtp);
/* Process n input samples; writes at most n to out, *nout how many. */
void limiter_process(struct limiter *l, const float *in, size_t n, float *out,
		     size_t *nout);
/* After the last input: the remaining LIMITER_LOOKAHEAD + TP_DELAY samples
 * (or fewer for a very short input); out must hold that many. */
void limiter_flush(struct limiter *l, float *out, size_t *nout);
#define LIMITER_LATENCY (LIMITER_LOOKAHEAD + TP_DELAY)

#endif
