/*
 * tpscan.c - see tpscan.h.
 */
#include "tpscan.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* Within 0.25 dB of the highest peak so far: worth an exact look. */
#define HOT 0.9716f

int tpscan_init(struct tpscan *t)
{
	memset(t, 0, sizeof(*t));
	t->st = ebur128_init(1, 48000, EBUR128_MODE_TRUE_PEAK);
	/* a hair over the bound: the interpolator's float sums round too */
	t->bound = truepeak_gain_bound() * 1.001f;
	return t->st ? 0 : -ENOMEM;
}

void tpscan_free(struct tpscan *t)
{
	if (t->st)
		ebur128_destroy(&t->st);
}

/* The pending chunk (with the samples after it that its peaks need) is
 * complete: measure it if it is hot, then make it the context. */
static int settle(struct tpscan *t, size_t tail, int force)
{
	size_t len = t->pend_len + tail, keep;

	t->chunks++;
	if (force || t->pend_fast >= t->best_fast * HOT) {
		double tp = 0;

		if ((t->ctx_len && ebur128_add_frames_float(t->st, t->ctx, t->ctx_len) !=
					   EBUR128_SUCCESS) ||
		    ebur128_add_frames_float(t->st, t->pend, len) != EBUR128_SUCCESS ||
		    ebur128_prev_true_peak(t->st, 0, &tp) != EBUR128_SUCCESS)
			return -ENOMEM;
		if (tp > t->best)
			t->best = tp;
		t->measured++;
	}
	if (t->pend_fast > t->best_fast)
		t->best_fast = t->pend_fast;
	/* the new context: the last TPSCAN_CTX samples of context + chunk */
	if (t->pend_len >= TPSCAN_CTX) {
		memcpy(t->ctx, t->pend + t->pend_len - TPSCAN_CTX, sizeof(t->ctx));
		t->ctx_len = TPSCAN_CTX;
	} else {
		keep = TPSCAN_CTX - t->pend_len;
		if (keep > t->ctx_len)
			keep = t->ctx_len;
		memmove(t->ctx, t->ctx + t->ctx_len - keep, keep * sizeof(float));
		memcpy(t->ctx + keep, t->pend, t->pend_len * sizeof(float));
		t->ctx_len = keep + t->pend_len;
	}
	t->pend_len = 0;
	t->pend_fast = 0;
	return 0;
}

int tpscan_add(struct tpscan *t, const float *x, size_t n)
{
	float new_fast = 0;
	size_t off, k, i, tail;
	int rc;

	if (n == 0)
		return 0;
	if (n > TPSCAN_MAX_CHUNK)
		return -EINVAL;
	/* peaks come TP_DELAY samples late: the first ones belong to the
	 * pending chunk, the rest to this one */
	for (off = 0; off < n; off += k) {
		float pk = 0;

		k = n - off < TP_BLOCK ? n - off : TP_BLOCK;
		/* a block whose loudest sample (history included) times the
		 * interpolator's largest gain stays under what would make its
		 * chunk hot cannot raise the answer: it moves the history on
		 * without the interpolator. Its chunk is still measured in full
		 * when another block makes it hot. */
		for (i = 0; i < TP_HIST; i++)
			pk = fabsf(t->fast.hist[i]) > pk ? fabsf(t->fast.hist[i]) : pk;
		for (i = 0; i < k; i++)
			pk = fabsf(x[off + i]) > pk ? fabsf(x[off + i]) : pk;
		if (pk * t->bound < t->best_fast * HOT) {
			truepeak_skip(&t->fast, x + off, k);
			continue;
		}
		truepeak_block(&t->fast, x + off, k, t->peaks);
		for (i = 0; i < k; i++) {
			if (off + i < TP_DELAY) {
				if (t->peaks[i] > t->pend_fast)
					t->pend_fast = t->peaks[i];
			} else if (t->peaks[i] > new_fast) {
				new_fast = t->peaks[i];
			}
		}
	}
	if (n < TP_DELAY || t->pend_len == 0) {
		/* too short to settle the pending chunk: merge (or start) */
		if (t->pend_len + n > sizeof(t->pend) / sizeof(float) - TP_DELAY &&
		    (rc = settle(t, 0, 1)) < 0)
			return rc;
		memcpy(t->pend + t->pend_len, x, n * sizeof(float));
		t->pend_len += n;
		if (new_fast > t->pend_fast)
			t->pend_fast = new_fast;
		return 0;
	}
	tail = TP_DELAY;
	memcpy(t->pend + t->pend_len, x, tail * sizeof(float));
	rc = settle(t, tail, 0);
	if (rc < 0)
		return rc;
	memcpy(t->pend, x, n * sizeof(float));
	t->pend_len = n;
	t->pend_fast = new_fast;
	return 0;
}

int tpscan_finish(struct tpscan *t, double *peak)
{
	int rc = 0;

	if (t->pend_len)
		rc = settle(t, 0, 1);
	*peak = t->best;
	return rc;
}
