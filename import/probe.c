/*
 * probe.c - see probe.h.
 */
#include "probe.h"
#include "decode.h"
#include "limiter.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <ebur128.h>

#define WIN IMPORT_RATE             /* excerpts of 1 s */
#define PREROLL (IMPORT_RATE / 5)   /* 200 ms before each run: encoder and
                                       limiter settle; not measured */
#define FRAME 960                   /* 20 ms, as the real encode */
#define SEGS_PER_WIN (WIN / LM_SEGMENT)
#define THREADS 2
/* A frame whose limited peak is within 1 dB of the ceiling: the codec can
 * push it over. */
#define RISKY_DB (-1.0)

int probe_configure(OpusEncoder *enc, const struct opus_settings *set)
{
	int e;

	if ((e = opus_encoder_ctl(enc, OPUS_SET_BITRATE(set->kbps * 1000))) != OPUS_OK ||
	    (e = opus_encoder_ctl(enc, OPUS_SET_SIGNAL(set->music ? OPUS_SIGNAL_MUSIC
								: OPUS_SIGNAL_VOICE))) != OPUS_OK ||
	    (e = opus_encoder_ctl(enc, OPUS_SET_COMPLEXITY(set->complexity))) != OPUS_OK ||
	    (e = opus_encoder_ctl(enc, OPUS_SET_EXPERT_FRAME_DURATION(OPUS_FRAMESIZE_20_MS))) !=
		    OPUS_OK ||
	    (e = opus_encoder_ctl(enc, OPUS_SET_LSB_DEPTH(16))) != OPUS_OK)
		return e;
	return OPUS_OK;
}

/* A stretch of the file to measure: [start, start + len). */
struct run {
	uint64_t start, len;
};

struct worker {
	pthread_t thread;
	struct pcm_store *store;
	const struct opus_settings *set;
	float gain, ceiling;
	struct run *runs;
	size_t nruns;
	ebur128_state *pre, *dec;   /* loudness before and after the codec */
	int risky;                  /* frames within RISKY_DB of the ceiling */
	double worst;               /* worst decoded peak / ceiling, linear */
	int frames;
	uint64_t samples;           /* encoded, pre-roll included */
	int err;
};

/* True peak of every sample of x (n of them), aligned: pk[k] for x[k]. */
static void peaks_of(const float *x, size_t n, float *pk)
{
	struct truepeak tp;
	float buf[TP_BLOCK], zeros[TP_DELAY] = { 0 };
	size_t off, k, i;

	memset(&tp, 0, sizeof(tp));
	for (off = 0; off < n + TP_DELAY; off += k) {
		if (off < n) {
			k = n - off < TP_BLOCK ? n - off : TP_BLOCK;
			truepeak_block(&tp, x + off, k, buf);
		} else {
			k = TP_DELAY;
			truepeak_block(&tp, zeros, k, buf);
		}
		for (i = 0; i < k; i++)
			if (off + i >= TP_DELAY)
				pk[off + i - TP_DELAY] = buf[i];
	}
}

/* One run: pre-roll + run through gain, limiter, encoder and decoder. */
static int probe_run(struct worker *w, OpusEncoder *enc, OpusDecoder *dec, int lookahead,
		     const struct run *r)
{
	const uint64_t a = r->start > PREROLL ? r->start - PREROLL : 0;
	const size_t n = (size_t)(r->start + r->len - a), skip = (size_t)(r->start - a);
	const size_t nframes = (n + (size_t)lookahead + FRAME - 1) / FRAME;
	const float risky = w->ceiling * (float)pow(10.0, RISKY_DB / 20.0);
	float *in = NULL, *lim = NULL, *out = NULL, *pk_lim = NULL, *pk_out = NULL;
	unsigned char packet[1500];
	struct limiter *l = NULL;
	size_t i, got = 0, more = 0, k;
	int rc = -ENOMEM;

	in = calloc(nframes * FRAME, sizeof(float));
	lim = calloc(nframes * FRAME, sizeof(float));
	out = calloc(nframes * FRAME, sizeof(float));
	pk_lim = malloc(n * sizeof(float));
	pk_out = malloc(n * sizeof(float));
	l = malloc(sizeof(*l));
	if (!in || !lim || !out || !pk_lim || !pk_out || !l)
		goto out;
	if ((rc = pcm_store_read_at(w->store, a, in, n)) < 0)
		goto out;
	for (i = 0; i < n; i++)
		in[i] *= w->gain;
	limiter_init(l, 20 * log10(w->ceiling));
	limiter_process(l, in, n, lim, &got);
	limiter_flush(l, lim + got, &more);
	if (got + more != n) {
		rc = -EIO;
		goto out;
	}
	rc = -EIO;
	if (opus_encoder_ctl(enc, OPUS_RESET_STATE) != OPUS_OK ||
	    opus_decoder_ctl(dec, OPUS_RESET_STATE) != OPUS_OK)
		goto out;
	for (k = 0; k < nframes; k++) {
		opus_int32 len = opus_encode_float(enc, lim + k * FRAME, FRAME, packet,
						   (opus_int32)sizeof(packet));
		if (len < 0 || opus_decode_float(dec, packet, len, out + k * FRAME, FRAME, 0) !=
				       FRAME)
			goto out;
	}
	w->samples += nframes * FRAME;
	/* the decoder's output is lookahead samples late */
	memmove(out, out + lookahead, n * sizeof(float));
	peaks_of(lim, n, pk_lim);
	peaks_of(out, n, pk_out);
	rc = -ENOMEM;
	if (ebur128_add_frames_float(w->pre, lim + skip, n - skip) != EBUR128_SUCCESS ||
	    ebur128_add_frames_float(w->dec, out + skip, n - skip) != EBUR128_SUCCESS)
		goto out;
	for (k = skip; k + FRAME <= n; k += FRAME) {
		float pl = 0, po = 0;

		for (i = k; i < k + FRAME; i++) {
			pl = pk_lim[i] > pl ? pk_lim[i] : pl;
			po = pk_out[i] > po ? pk_out[i] : po;
		}
		w->frames++;
		if (po / w->ceiling > w->worst)
			w->worst = po / w->ceiling;
		if (pl >= risky)
			w->risky++;
	}
	rc = 0;
out:
	free(in);
	free(lim);
	free(out);
	free(pk_lim);
	free(pk_out);
	free(l);
	return rc;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	OpusEncoder *enc = NULL;
	OpusDecoder *dec = NULL;
	opus_int32 lookahead = 0;
	size_t i;
	int e;

	enc = opus_encoder_create(IMPORT_RATE, 1, OPUS_APPLICATION_AUDIO, &e);
	dec = opus_decoder_create(IMPORT_RATE, 1, &e);
	if (!enc || !dec || probe_configure(enc, w->set) != OPUS_OK ||
	    opus_encoder_ctl(enc, OPUS_GET_LOOKAHEAD(&lookahead)) != OPUS_OK) {
		w->err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < w->nruns && !w->err; i++)
		w->err = probe_run(w, enc, dec, lookahead, &w->runs[i]);
out:
	if (enc)
		opus_encoder_destroy(enc);
	if (dec)
		opus_decoder_destroy(dec);
	return NULL;
}

/* How much each 1 s window would be limited: dB over the ceiling, summed
 * over its segments within 1 dB of it; and its highest peak. */
struct window {
	size_t idx;
	double sum, top;
};

static int by_score(const void *pa, const void *pb)
{
	const struct window *a = pa, *b = pb;

	if (a->sum != b->sum)
		return a->sum < b->sum ? 1 : -1;
	if (a->top != b->top)
		return a->top < b->top ? 1 : -1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int by_start(const void *pa, const void *pb)
{
	const struct window *a = pa, *b = pb;

	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

int probe_codec(struct pcm_store *store, const struct lmodel *lm, uint64_t total,
		double gain_db, double limit_db, const struct opus_settings *set,
		double budget_s, struct probe_result *res)
{
	const double G = pow(10.0, gain_db / 20.0), c = pow(10.0, limit_db / 20.0);
	const double risky = pow(10.0, RISKY_DB / 20.0);
	struct worker w[THREADS];
	struct window *win = NULL;
	struct run *runs = NULL;
	ebur128_state *pre[THREADS], *dec[THREADS];
	size_t nwin, want, i, j, nruns = 0, started = 0;
	uint64_t load[THREADS] = { 0 };
	double lpre = 0, ldec = 0;
	int rc = -ENOMEM, t;

	memset(res, 0, sizeof(*res));
	memset(w, 0, sizeof(w));
	nwin = (size_t)(total / WIN);
	if (nwin == 0 || lm->n < SEGS_PER_WIN)
		return 0; /* under a second: the real encode is the probe */
	win = calloc(nwin, sizeof(*win));
	if (!win)
		goto out;
	for (i = 0; i < nwin; i++) {
		win[i].idx = i;
		win[i].top = 0;
		for (j = i * SEGS_PER_WIN; j < (i + 1) * SEGS_PER_WIN && j < lm->n; j++) {
			double p = G * lm->peak[j] / c;

			if (p > win[i].top)
				win[i].top = p;
			if (p >= risky)
				win[i].sum += 20 * log10(p / risky);
		}
		/* segments of the file at risk, counted per 20 ms frame */
		for (j = i * SEGS_PER_WIN; j < (i + 1) * SEGS_PER_WIN && j < lm->n;
		     j += FRAME / LM_SEGMENT) {
			size_t s;

			for (s = j; s < j + FRAME / LM_SEGMENT && s < lm->n; s++)
				if (G * lm->peak[s] >= c * risky) {
					res->file_risky++;
					break;
				}
		}
	}
	qsort(win, nwin, sizeof(*win), by_score);
	want = (size_t)ceil(budget_s);
	if (want > nwin)
		want = nwin;
	if (want == 0)
		want = 1;
	/* nothing within 1 dB of the ceiling: probe the highest peaks only */
	if (win[0].sum == 0 && want > 4)
		want = 4;
	qsort(win, want, sizeof(*win), by_start);
	runs = calloc(want, sizeof(*runs));
	if (!runs)
		goto out;
	for (i = 0; i < want; i++) {
		if (nruns && runs[nruns - 1].start + runs[nruns - 1].len == win[i].idx * WIN) {
			runs[nruns - 1].len += WIN;
			continue;
		}
		runs[nruns].start = win[i].idx * (uint64_t)WIN;
		runs[nruns].len = WIN;
		nruns++;
	}
	res->windows = (int)want;

	/* runs go to the thread with less work so far; each thread keeps its
	 * runs in file order (they were sorted) */
	for (t = 0; t < THREADS; t++) {
		w[t].store = store;
		w[t].set = set;
		w[t].gain = (float)G;
		w[t].ceiling = (float)c;
		w[t].pre = pre[t] = ebur128_init(1, IMPORT_RATE, EBUR128_MODE_I);
		w[t].dec = dec[t] = ebur128_init(1, IMPORT_RATE, EBUR128_MODE_I);
		w[t].runs = calloc(nruns, sizeof(*runs));
		if (!w[t].pre || !w[t].dec || !w[t].runs)
			goto out;
	}
	for (i = 0; i < nruns; i++) {
		t = load[0] <= load[1] ? 0 : 1;
		w[t].runs[w[t].nruns++] = runs[i];
		load[t] += runs[i].len + PREROLL;
	}
	for (t = 0; t < THREADS; t++) {
		if (w[t].nruns == 0)
			continue;
		if (pthread_create(&w[t].thread, NULL, worker_main, &w[t]) != 0) {
			rc = -EAGAIN;
			goto out;
		}
		started |= 1u << t;
	}
	for (t = 0; t < THREADS; t++)
		if (started & (1u << t))
			pthread_join(w[t].thread, NULL);
	started = 0;
	for (t = 0; t < THREADS; t++) {
		if (w[t].err) {
			rc = w[t].err;
			goto out;
		}
		res->frames += w[t].frames;
		res->seconds += (double)w[t].samples / IMPORT_RATE;
		if (w[t].worst > 0 && 20 * log10(w[t].worst) > res->seen_db)
			res->seen_db = 20 * log10(w[t].worst);
		res->risky += w[t].risky;
	}
	if (ebur128_loudness_global_multiple(pre, THREADS, &lpre) == EBUR128_SUCCESS &&
	    ebur128_loudness_global_multiple(dec, THREADS, &ldec) == EBUR128_SUCCESS &&
	    isfinite(lpre) && isfinite(ldec))
		res->loss_lu = lpre - ldec;
	res->overshoot_db = res->seen_db;
	rc = 0;
out:
	for (t = 0; t < THREADS; t++) {
		if (started & (1u << t))
			pthread_join(w[t].thread, NULL);
		if (w[t].pre)
			ebur128_destroy(&w[t].pre);
		if (w[t].dec)
			ebur128_destroy(&w[t].dec);
		free(w[t].runs);
	}
	free(runs);
	free(win);
	return rc;
}
