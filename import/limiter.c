/*
 * limiter.c - see limiter.h.
 */
#include "limiter.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#define TP_PHASES 3 /* phases 1..3; phase 0 is the input sample itself */
#define TP_TAPS 12

static float tp_coeff[TP_PHASES][TP_TAPS];
static int tp_index[TP_PHASES][TP_TAPS];
static pthread_once_t tp_once = PTHREAD_ONCE_INIT;

/*
 * The interpolation filter of libebur128 (and BS.1770-4 annex 2 in spirit):
 * 49 taps of sinc(m/4), Hann window, split into 4 polyphase branches. Branch
 * 0 is a pure delay of 6 samples (every other tap falls on a zero of the
 * sinc); branches 1..3 have 12 taps each and give the points at +1/4, +1/2
 * and +3/4 of a sample.
 */
static void tp_init_coeffs(void)
{
	int count[TP_PHASES] = { 0 };
	int j;

	for (j = 0; j < 49; j++) {
		double m = (double)j - 24.0, c = 1.0;
		int f = j % 4;

		if (fabs(m) > 1e-6)
			c = sin(m * M_PI / 4) / (m * M_PI / 4);
		c *= 0.5 * (1 - cos(2 * M_PI * j / 48));
		if (f == 0 || fabs(c) <= 1e-6)
			continue;
		tp_coeff[f - 1][count[f - 1]] = (float)c;
		tp_index[f - 1][count[f - 1]] = j / 4;
		count[f - 1]++;
	}
}

/*
 * x86-64: an AVX2 copy of the interpolator besides the SSE2 one, picked
 * when the program starts by what the processor has (GCC's function
 * multi-versioning). Eight lanes instead of four; no FMA, and -std=c11
 * contracts nothing, so both copies give the same floats bit for bit.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
	!defined(__SANITIZE_ADDRESS__)
#define TP_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define TP_CLONES
#endif

/*
 * One block through the interpolator. The loops run over the whole fixed
 * block (the tail past n is zero) so that even -O2 vectorises them.
 */
TP_CLONES static void tp_run(struct truepeak *tp, const float *x, size_t n, float *peak,
		   float *center)
{
	float buf[TP_HIST + TP_BLOCK];
	float acc[TP_PHASES][TP_BLOCK];
	size_t k;
	int f, t;

	pthread_once(&tp_once, tp_init_coeffs);
	memcpy(buf, tp->hist, sizeof(tp->hist));
	memcpy(buf + TP_HIST, x, n * sizeof(float));
	if (n < TP_BLOCK)
		memset(buf + TP_HIST + n, 0, (TP_BLOCK - n) * sizeof(float));
	memset(acc, 0, sizeof(acc));
	for (f = 0; f < TP_PHASES; f++) {
		for (t = 0; t < TP_TAPS; t++) {
			const float c = tp_coeff[f][t];
			const float *src = buf + TP_HIST - tp_index[f][t];
			float *a = acc[f];

			for (k = 0; k < TP_BLOCK; k++)
				a[k] += c * src[k];
		}
	}
	for (k = 0; k < TP_BLOCK; k++) {
		float p = fabsf(buf[TP_HIST - TP_DELAY + k]);
		float a1 = fabsf(acc[0][k]), a2 = fabsf(acc[1][k]), a3 = fabsf(acc[2][k]);

		p = p > a1 ? p : a1;
		p = p > a2 ? p : a2;
		p = p > a3 ? p : a3;
		acc[0][k] = p;
	}
	memcpy(peak, acc[0], n * sizeof(float));
	if (center)
		memcpy(center, buf + TP_HIST - TP_DELAY, n * sizeof(float));
	memcpy(tp->hist, buf + n, sizeof(tp->hist));
}

void truepeak_block(struct truepeak *tp, const float *x, size_t n, float *peak)
{
	tp_run(tp, x, n, peak, NULL);
}

float truepeak_gain_bound(void)
{
	float best = 1.0f; /* branch 0: the sample itself */
	int f, t;

	pthread_once(&tp_once, tp_init_coeffs);
	for (f = 0; f < TP_PHASES; f++) {
		float sum = 0;

		for (t = 0; t < TP_TAPS; t++)
			sum += fabsf(tp_coeff[f][t]);
		best = sum > best ? sum : best;
	}
	return best;
}

void truepeak_skip(struct truepeak *tp, const float *x, size_t n)
{
	if (n >= TP_HIST) {
		memcpy(tp->hist, x + n - TP_HIST, sizeof(tp->hist));
	} else {
		memmove(tp->hist, tp->hist + n, (TP_HIST - n) * sizeof(float));
		memcpy(tp->hist + TP_HIST - n, x, n * sizeof(float));
	}
}

float truepeak_of(const float *x, size_t n)
{
	struct truepeak tp;
	float peak[TP_BLOCK], zeros[TP_DELAY] = { 0 }, max = 0;
	size_t off, k, i;

	memset(&tp, 0, sizeof(tp));
	for (off = 0; off < n + TP_DELAY; off += k) {
		if (off < n) {
			k = n - off < TP_BLOCK ? n - off : TP_BLOCK;
			truepeak_block(&tp, x + off, k, peak);
		} else {
			k = TP_DELAY; /* push the last samples through */
			truepeak_block(&tp, zeros, k, peak);
		}
		for (i = 0; i < k; i++)
			if (peak[i] > max)
				max = peak[i];
	}
	return max;
}

void limiter_init(struct limiter *l, double ceiling_dbtp)
{
	size_t i;

	memset(l, 0, sizeof(*l));
	l->ceiling = (float)pow(10.0, ceiling_dbtp / 20.0);
	/* a hair over the bound: the interpolator's float sums round too */
	l->tp_bound = truepeak_gain_bound() * 1.001f;
	/* release: time constant 80 ms back towards unity gain */
	l->release = (float)(1.0 - exp(-1.0 / (0.080 * 48000.0)));
	l->h = 1.0f;
	for (i = 0; i <= LIMITER_LOOKAHEAD; i++)
		l->hring[i] = 1.0f;
	l->boxsum = LIMITER_LOOKAHEAD + 1;
	l->inv_w = 1.0 / (LIMITER_LOOKAHEAD + 1);
	l->min_gain = 1.0;
}

/*
 * One sample j past the detector: x is sample j, peak its true peak. Emits
 * sample j - LOOKAHEAD (once there is one) into *out and returns 1.
 */
static int limiter_step(struct limiter *l, float x, float peak, float *out)
{
	const size_t W = LIMITER_LOOKAHEAD + 1;
	uint64_t j = l->step++;
	float need = peak > l->ceiling ? l->ceiling / peak : 1.0f;
	float win, h, g;
	size_t p;

	/* sliding minimum of the needed gain over [j - LOOKAHEAD, j] */
	while (l->dq_len > 0) {
		size_t back = (l->dq_head + l->dq_len - 1) % (W + 1);
		if (l->dq_val[back] < need)
			break;
		l->dq_len--;
	}
	p = (l->dq_head + l->dq_len) % (W + 1);
	l->dq_val[p] = need;
	l->dq_idx[p] = j;
	l->dq_len++;
	while (l->dq_idx[l->dq_head] + LIMITER_LOOKAHEAD < j) {
		l->dq_head = (l->dq_head + 1) % (W + 1);
		l->dq_len--;
	}
	win = l->dq_val[l->dq_head];

	/* instant attack to the window minimum, slow release */
	h = l->h + (1.0f - l->h) * l->release;
	if (win < h)
		h = win;
	l->h = h;

	p = (size_t)(j % W);
	l->boxsum += (double)h - (double)l->hring[p];
	l->hring[p] = h;
	l->xring[p] = x;
	if (j < LIMITER_LOOKAHEAD)
		return 0;
	/* times 1/W, not divided by W: a division per sample was a quarter of
	 * the limiter's time; the float it rounds to is the same but for a
	 * last bit now and then */
	g = (float)(l->boxsum * l->inv_w);
	if (g > 1.0f)
		g = 1.0f;
	if (g < 1.0f) {
		l->limited++;
		if (g < l->min_gain)
			l->min_gain = g;
	}
	*out = l->xring[(p + 1) % W] * g;
	return 1;
}

/*
 * The detector for one block, skipping the interpolator where it cannot
 * matter: when the loudest sample of the block (and of the history its
 * peaks use) times the interpolator's largest gain stays under the
 * ceiling, no peak of the block reaches it and every sample needs gain 1
 * either way, so peak[] = 0 gives exactly the same output. Speech at
 * -16 LUFS spends a good part of its time there (pauses, soft syllables);
 * the interpolator was the largest cost of pass 2 after libopus.
 */
static void detect(struct limiter *l, const float *x, size_t k, float *peak, float *center)
{
	float pk = 0;
	size_t i;

	for (i = 0; i < TP_HIST; i++)
		pk = fabsf(l->tp.hist[i]) > pk ? fabsf(l->tp.hist[i]) : pk;
	for (i = 0; i < k; i++)
		pk = fabsf(x[i]) > pk ? fabsf(x[i]) : pk;
	if (!(pk * l->tp_bound < l->ceiling)) {
		tp_run(&l->tp, x, k, peak, center);
		return;
	}
	for (i = 0; i < k; i++) {
		peak[i] = 0;
		center[i] = i < TP_DELAY ? l->tp.hist[TP_HIST - TP_DELAY + i] : x[i - TP_DELAY];
	}
	truepeak_skip(&l->tp, x, k);
}

static void limiter_run(struct limiter *l, const float *in, size_t n, float *out,
			size_t *nout, uint64_t deliver_until)
{
	float peak[TP_BLOCK], center[TP_BLOCK];
	size_t off, k, i;

	for (off = 0; off < n; off += k) {
		k = n - off < TP_BLOCK ? n - off : TP_BLOCK;
		detect(l, in + off, k, peak, center);
		for (i = 0; i < k; i++) {
			float y;

			if (l->in_count++ < TP_DELAY)
				continue; /* the detector's start-up: history only */
			if (limiter_step(l, center[i], peak[i], &y) &&
			    l->out_count < deliver_until) {
				out[(*nout)++] = y;
				l->out_count++;
			}
		}
	}
}

void limiter_process(struct limiter *l, const float *in, size_t n, float *out,
		     size_t *nout)
{
	*nout = 0;
	limiter_run(l, in, n, out, nout, UINT64_MAX);
}

void limiter_flush(struct limiter *l, float *out, size_t *nout)
{
	float zeros[LIMITER_LATENCY] = { 0 };
	uint64_t real = l->in_count;

	*nout = 0;
	limiter_run(l, zeros, LIMITER_LATENCY, out, nout, real);
}
