/*
 * loudness.h - predicts the loudness of the signal after gain and limiter.
 *
 * Normalising speech to -16 LUFS under a -1 dBTP ceiling usually needs a few
 * dB of limiting on the peaks (raw speech has 15-20 dB between its peaks and
 * its loudness), and limiting lowers the loudness again: by 1-2 LU for
 * peaky synthetic speech. Finding the gain that lands on the target by
 * encoding and measuring would cost a whole encode per try. Instead pass 1
 * keeps, per 2 ms segment, the true peak and the K-weighted energy (BS.1770
 * filter), and this model replays the limiter's gain curve on segments and
 * gates the result like BS.1770. A search over the gain takes milliseconds;
 * its answer is within about 0.1 LU of what the real limiter gives, and
 * the real output is measured anyway (kmeter below). Without gain and
 * limiter it is the input's integrated loudness (libebur128's within
 * 0.01 LU), so pass 1 needs no separate meter.
 */
#ifndef LOAXA_IMPORT_LOUDNESS_H
#define LOAXA_IMPORT_LOUDNESS_H

#include <stddef.h>
#include <stdint.h>

#include "limiter.h"

#define LM_SEGMENT 96 /* samples per segment: 2 ms at 48 kHz */

struct lmodel {
	float *peak;     /* true peak per segment (linear) */
	float *energy;   /* sum of K-weighted squares per segment */
	size_t n, cap;
	/* the segment being filled */
	double e;
	float p;
	size_t fill;
	/* K-weighting filter state (two biquads, transposed direct form II) */
	double s1[2], s2[2];
	struct truepeak tp;
	float pk[TP_BLOCK];
};

void lmodel_init(struct lmodel *m);
int lmodel_add(struct lmodel *m, const float *x, size_t n);
void lmodel_finish(struct lmodel *m);
void lmodel_free(struct lmodel *m);

/*
 * Integrated loudness (LUFS) of the audio after gain_db and a limiter with
 * ceiling limit_db (dBTP); limit_db >= 100 means no limiter. -HUGE_VAL for
 * silence.
 */
double lmodel_loudness(const struct lmodel *m, double gain_db, double limit_db);

/*
 * The gain that brings the limited audio to target_lufs, given the input's
 * loudness (lmodel_loudness(m, 0, 1000) or a meter's); never more than
 * max_extra_db above the plain target - input gain.
 */
double lmodel_solve_gain(const struct lmodel *m, double input_lufs, double target_lufs,
			 double limit_db, double max_extra_db);

/*
 * The integrated loudness (BS.1770-4, mono 48 kHz) of a stream: the same
 * K-weighting and gating, without the model's peaks. Measures the decoded
 * output in pass 2 at a third of libebur128's cost (its filter loops are
 * general over channels and rates); tests/unit/test_import.c holds it to
 * libebur128's figure.
 */
struct kmeter {
	double *q;       /* K-weighted sum of squares per 100 ms */
	size_t n, cap;
	double e;        /* the 100 ms being filled */
	size_t fill;
	double s1[2], s2[2];
};

void kmeter_init(struct kmeter *k);
int kmeter_add(struct kmeter *k, const float *x, size_t n);
/* LUFS; -HUGE_VAL for silence or under 400 ms. */
double kmeter_loudness(const struct kmeter *k);
void kmeter_free(struct kmeter *k);

#endif
