/*
 * peakguard.c - see peakguard.h.
 */
#include "peakguard.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RAMP 48                 /* 1 ms */
/* Lower a frame that overshot by its overshoot and this much more (dB):
 * the codec's error does not scale exactly with the input. */
#define EXTRA_DB 0.5

static void *dec_main(void *arg);

int peakguard_init(struct peakguard *g, const struct opus_settings *set, double ceiling_dbtp,
		   peakguard_emit_fn emit, void *user)
{
	opus_int32 la = 0;
	int e, i;

	memset(g, 0, sizeof(*g));
	g->emit = emit;
	g->user = user;
	g->ceiling = (float)pow(10.0, ceiling_dbtp / 20.0);
	g->tp_bound = truepeak_gain_bound();
	g->st.min_gain = 1;
	g->wake_batch = 2; /* peakguard.h: a wake per 2 frames, not per frame */
	g->enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_AUDIO, &e);
	g->dec = opus_decoder_create(48000, 1, &e);
	if (!g->enc || !g->dec)
		return -ENOMEM;
	if (probe_configure(g->enc, set) != OPUS_OK ||
	    opus_encoder_ctl(g->enc, OPUS_GET_LOOKAHEAD(&la)) != OPUS_OK ||
	    la < 0 || la + RAMP > PEAKGUARD_FRAME - RAMP)
		return -EINVAL;
	g->lookahead = la;
	g->enc_size = (size_t)opus_encoder_get_size(1);
	g->dec_size = (size_t)opus_decoder_get_size(1);
	for (i = 0; i < PEAKGUARD_SLOTS; i++) {
		g->slot[i].enc_state = malloc(g->enc_size);
		g->slot[i].dec_state = malloc(g->dec_size);
		if (!g->slot[i].enc_state || !g->slot[i].dec_state)
			return -ENOMEM;
	}
	if (pthread_mutex_init(&g->mu, NULL) != 0)
		return -ENOMEM;
	if (pthread_cond_init(&g->to_dec, NULL) != 0) {
		pthread_mutex_destroy(&g->mu);
		return -ENOMEM;
	}
	if (pthread_cond_init(&g->to_enc, NULL) != 0) {
		pthread_cond_destroy(&g->to_dec);
		pthread_mutex_destroy(&g->mu);
		return -ENOMEM;
	}
	g->sync_ok = 1;
	if (pthread_create(&g->thread, NULL, dec_main, g) != 0)
		return -EAGAIN;
	g->running = 1;
	return 0;
}

int peakguard_lookahead(const struct peakguard *g)
{
	return g->lookahead;
}

static struct peakguard_slot *slot_of(struct peakguard *g, uint64_t n)
{
	return &g->slot[n % PEAKGUARD_SLOTS];
}

/* Encode s's input from the encoder's state now, saving that state first. */
static int encode(struct peakguard *g, struct peakguard_slot *s)
{
	memcpy(s->enc_state, g->enc, g->enc_size);
	s->len = opus_encode_float(g->enc, s->x, PEAKGUARD_FRAME, s->p, PEAKGUARD_MAX_PACKET);
	return s->len < 0 ? -EIO : 0;
}

/* Decode s's packet into s->y and measure its true peak, saving the
 * decoder's state first (the decoding thread, or the encoding thread while
 * the decoding thread waits). */
static int decode(struct peakguard *g, struct peakguard_slot *s)
{
	size_t off, i;
	float pk = 0;

	memcpy(s->dec_state, g->dec, g->dec_size);
	s->tp = g->tp;
	if (opus_decode_float(g->dec, s->p, s->len, s->y, PEAKGUARD_FRAME, 0) != PEAKGUARD_FRAME)
		return -EIO;
	/* most frames are far enough under the ceiling that the interpolator's
	 * bound says so without running it (a quarter of pass 2's interpolation) */
	for (i = 0; i < TP_HIST; i++)
		pk = fabsf(g->tp.hist[i]) > pk ? fabsf(g->tp.hist[i]) : pk;
	for (i = 0; i < PEAKGUARD_FRAME; i++)
		pk = fabsf(s->y[i]) > pk ? fabsf(s->y[i]) : pk;
	if (pk * g->tp_bound < g->ceiling) {
		truepeak_skip(&g->tp, s->y, PEAKGUARD_FRAME);
		s->peak = pk * g->tp_bound;
		return 0;
	}
	pk = 0;
	for (off = 0; off < PEAKGUARD_FRAME; off += TP_BLOCK) {
		size_t n = PEAKGUARD_FRAME - off < TP_BLOCK ? PEAKGUARD_FRAME - off : TP_BLOCK;

		truepeak_block(&g->tp, s->y + off, n, g->peaks);
		for (i = 0; i < n; i++)
			pk = g->peaks[i] > pk ? g->peaks[i] : pk;
	}
	s->peak = pk;
	return 0;
}

/* The decoding thread: decodes every frame posted, in order. */
static void *dec_main(void *arg)
{
	struct peakguard *g = arg;
	uint64_t k;
	int rc;

	pthread_mutex_lock(&g->mu);
	for (;;) {
		while (g->done == g->posted && !g->stop) {
			g->dec_waiting = 1;
			pthread_cond_wait(&g->to_dec, &g->mu);
			g->dec_waiting = 0;
		}
		if (g->done == g->posted)
			break;
		k = g->done;
		pthread_mutex_unlock(&g->mu);
		rc = decode(g, slot_of(g, k));
		pthread_mutex_lock(&g->mu);
		if (rc < 0 && !g->dec_err)
			g->dec_err = rc;
		g->done = k + 1;
		if (g->enc_waiting) {
			/* woken outside the lock, so it does not wake into it */
			pthread_mutex_unlock(&g->mu);
			pthread_cond_signal(&g->to_enc);
			pthread_mutex_lock(&g->mu);
		}
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

/* Give the frames < n to the decoding thread. */
static void post(struct peakguard *g, uint64_t n)
{
	int wake;

	pthread_mutex_lock(&g->mu);
	g->posted = n;
	wake = g->dec_waiting && g->posted - g->done >= g->wake_batch;
	pthread_mutex_unlock(&g->mu);
	/* outside the lock: the decoding thread wakes and takes it at once */
	if (wake)
		pthread_cond_signal(&g->to_dec);
}

/* Wait until frames < target are measured; with target = posted, the
 * decoding thread is idle and its decoder ours. */
static int wait_done(struct peakguard *g, uint64_t target)
{
	int rc;

	pthread_mutex_lock(&g->mu);
	while (g->done < target) {
		if (g->dec_waiting) /* frames wait for it that post() left */
			pthread_cond_signal(&g->to_dec);
		g->enc_waiting = 1;
		pthread_cond_wait(&g->to_enc, &g->mu);
		g->enc_waiting = 0;
	}
	rc = g->dec_err;
	pthread_mutex_unlock(&g->mu);
	return rc;
}

/* Frames measured so far; -errno once a decode failed. */
static int64_t done_now(struct peakguard *g)
{
	int64_t d;

	pthread_mutex_lock(&g->mu);
	d = g->dec_err < 0 ? g->dec_err : (int64_t)g->done;
	pthread_mutex_unlock(&g->mu);
	return d;
}

/*
 * Lower the input frame b's output comes from: the encoder's lookahead
 * late, it is the last `lookahead` samples of a and the rest of b; ramps
 * outside that span, within a and b.
 */
static void lower_b(struct peakguard *g, float *a, float *b, float f)
{
	const int L = g->lookahead, F = PEAKGUARD_FRAME;
	int i;

	for (i = 0; i < RAMP; i++) {
		float w = 0.5f - 0.5f * cosf(3.14159265f * ((float)i + 0.5f) / RAMP);
		float r = 1 - (1 - f) * w; /* 1 -> f */

		a[F - L - RAMP + i] *= r;
		b[F - L + RAMP - 1 - i] *= r;
	}
	for (i = F - L; i < F; i++)
		a[i] *= f;
	for (i = 0; i < F - L; i++)
		b[i] *= f;
}

/*
 * Encoding frame b again changes frame a's packet too (the encoder saw
 * other lookahead), and a noise-like frame comes back with other phases:
 * a may overshoot now. Its output's input before a was sent already; what
 * is in a (all but its first `lookahead` samples, ramp inside) is lowered.
 */
static void lower_a(struct peakguard *g, float *a, float f)
{
	const int L = g->lookahead, F = PEAKGUARD_FRAME;
	int i;

	for (i = 0; i < RAMP; i++) {
		float w = 0.5f - 0.5f * cosf(3.14159265f * ((float)i + 0.5f) / RAMP);

		a[i] *= 1 - (1 - f) * w;
	}
	for (i = RAMP; i < F - L; i++)
		a[i] *= f;
}

static float lowering(const struct peakguard *g, float peak)
{
	return g->ceiling / peak * (float)pow(10.0, -EXTRA_DB / 20.0);
}

/*
 * Frame h (held) and h+1 (measured): while either decodes over the
 * ceiling, both go back to the states before h, are lowered and encoded
 * again (here, decoder included, with the decoding thread idle), and the
 * frames after them, encoded ahead from a state that no longer holds, are
 * encoded again and given to the decoding thread anew. Then h's packet is
 * emitted and h+1 becomes the held frame.
 */
static int settle(struct peakguard *g)
{
	struct peakguard_slot *a = slot_of(g, g->h), *b = slot_of(g, g->h + 1);
	float f, total = 1;
	int tries, rc;
	uint64_t k;

	for (tries = 0; (b->peak > g->ceiling || a->peak > g->ceiling) && tries < PEAKGUARD_TRIES;
	     tries++) {
		if (tries == 0 && (rc = wait_done(g, g->n)) < 0)
			return rc;
		if (b->peak > g->ceiling) {
			f = lowering(g, b->peak);
			total *= f;
			lower_b(g, a->x, b->x, f);
		}
		if (a->peak > g->ceiling) {
			f = lowering(g, a->peak);
			lower_a(g, a->x, f);
		}
		memcpy(g->enc, a->enc_state, g->enc_size);
		memcpy(g->dec, a->dec_state, g->dec_size);
		g->tp = a->tp;
		if ((rc = encode(g, a)) < 0 || (rc = decode(g, a)) < 0 ||
		    (rc = encode(g, b)) < 0 || (rc = decode(g, b)) < 0)
			return rc;
		g->st.redone += 2;
	}
	if (tries > 0) {
		g->st.lowered++;
		if (total < g->st.min_gain)
			g->st.min_gain = total;
		for (k = g->h + 2; k < g->n; k++) {
			if ((rc = encode(g, slot_of(g, k))) < 0)
				return rc;
			g->st.redone++;
		}
		pthread_mutex_lock(&g->mu);
		g->done = g->posted = g->h + 2;
		pthread_mutex_unlock(&g->mu);
		post(g, g->n);
	}
	if (a->peak > g->ceiling)
		g->st.over++;
	if ((rc = g->emit(g->user, a->p, a->len, a->y, 0)) != 0)
		return rc < 0 ? rc : -EIO;
	g->st.frames++;
	g->h++;
	return 0;
}

/* Settle every pair whose second frame is measured. */
static int settle_ready(struct peakguard *g)
{
	int64_t done = done_now(g);
	int rc;

	while (done >= 0 && g->n - g->h >= 2 && (uint64_t)done >= g->h + 2) {
		if ((rc = settle(g)) < 0)
			return rc;
		done = done_now(g);
	}
	return done < 0 ? (int)done : 0;
}

int peakguard_frame(struct peakguard *g, const float *x)
{
	struct peakguard_slot *c;
	int rc;

	if (g->n - g->h == PEAKGUARD_SLOTS) {
		/* the decoding thread is that far behind: wait for it */
		if ((rc = wait_done(g, g->h + 2)) < 0 || (rc = settle_ready(g)) < 0)
			return rc;
	}
	c = slot_of(g, g->n);
	memcpy(c->x, x, sizeof(c->x));
	if ((rc = encode(g, c)) < 0)
		return rc;
	g->n++;
	post(g, g->n);
	return settle_ready(g);
}

int peakguard_finish(struct peakguard *g)
{
	struct peakguard_slot *last;
	int rc;

	if (g->n == g->h)
		return 0;
	if ((rc = wait_done(g, g->n)) < 0 || (rc = settle_ready(g)) < 0)
		return rc;
	last = slot_of(g, g->h);
	g->h = g->n;
	g->st.frames++;
	if (last->peak > g->ceiling)
		g->st.over++;
	rc = g->emit(g->user, last->p, last->len, last->y, 1);
	return rc < 0 ? rc : rc ? -EIO : 0;
}
void peakguard_free(struct peakguard *g)
{
	int i;

	if (g->running) {
		pthread_mutex_lock(&g->mu);
		g->stop = 1;
		pthread_cond_signal(&g->to_dec);
		pthread_mutex_unlock(&g->mu);
		pthread_join(g->thread, NULL);
	}
	if (g->sync_ok) {
		pthread_cond_destroy(&g->to_enc);
		pthread_cond_destroy(&g->to_dec);
		pthread_mutex_destroy(&g->mu);
	}
	if (g->enc)
		opus_encoder_destroy(g->enc);
	if (g->dec)
		opus_decoder_destroy(g->dec);
	for (i = 0; i < PEAKGUARD_SLOTS; i++) {
		free(g->slot[i].enc_state);
		free(g->slot[i].dec_state);
	}
	memset(g, 0, sizeof(*g));
}
