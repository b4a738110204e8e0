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

int peakguard_init(struct peakguard *g, const struct opus_settings *set, double ceiling_dbtp,
		   peakguard_emit_fn emit, void *user)
{
	opus_int32 la = 0;
	int e;

	memset(g, 0, sizeof(*g));
	g->emit = emit;
	g->user = user;
	g->ceiling = (float)pow(10.0, ceiling_dbtp / 20.0);
	g->tp_bound = truepeak_gain_bound();
	g->st.min_gain = 1;
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
	g->enc_prev = malloc(g->enc_size);
	g->enc_mid = malloc(g->enc_size);
	g->dec_prev = malloc(g->dec_size);
	g->dec_mid = malloc(g->dec_size);
	if (!g->enc_prev || !g->enc_mid || !g->dec_prev || !g->dec_mid)
		return -ENOMEM;
	return 0;
}

int peakguard_lookahead(const struct peakguard *g)
{
	return g->lookahead;
}

static void save(struct peakguard *g, unsigned char *enc, unsigned char *dec,
		 struct truepeak *tp)
{
	memcpy(enc, g->enc, g->enc_size);
	memcpy(dec, g->dec, g->dec_size);
	*tp = g->tp;
}

static void restore(struct peakguard *g, const unsigned char *enc, const unsigned char *dec,
		    const struct truepeak *tp)
{
	memcpy(g->enc, enc, g->enc_size);
	memcpy(g->dec, dec, g->dec_size);
	g->tp = *tp;
}

/* Encode x, decode the packet into y; *peak: y's true peak (linear). */
static int code(struct peakguard *g, const float *x, unsigned char *pkt, int *len, float *y,
		float *peak)
{
	size_t off, i;
	float pk = 0;

	*len = opus_encode_float(g->enc, x, PEAKGUARD_FRAME, pkt, PEAKGUARD_MAX_PACKET);
	if (*len < 0)
		return -EIO;
	if (opus_decode_float(g->dec, pkt, *len, y, PEAKGUARD_FRAME, 0) != PEAKGUARD_FRAME)
		return -EIO;
	/* most frames are far enough under the ceiling that the interpolator's
	 * bound says so without running it (a quarter of pass 2's interpolation) */
	for (i = 0; i < TP_HIST; i++)
		pk = fabsf(g->tp.hist[i]) > pk ? fabsf(g->tp.hist[i]) : pk;
	for (i = 0; i < PEAKGUARD_FRAME; i++)
		pk = fabsf(y[i]) > pk ? fabsf(y[i]) : pk;
	if (pk * g->tp_bound < g->ceiling) {
		truepeak_skip(&g->tp, y, PEAKGUARD_FRAME);
		*peak = pk * g->tp_bound;
		return 0;
	}
	pk = 0;
	for (off = 0; off < PEAKGUARD_FRAME; off += TP_BLOCK) {
		size_t n = PEAKGUARD_FRAME - off < TP_BLOCK ? PEAKGUARD_FRAME - off : TP_BLOCK;

		truepeak_block(&g->tp, y + off, n, g->peaks);
		for (i = 0; i < n; i++)
			pk = g->peaks[i] > pk ? g->peaks[i] : pk;
	}
	*peak = pk;
	return 0;
}

/*
 * Lower the input frame b's output comes from: the encoder's lookahead
 * late, it is the last `lookahead` samples of a and the rest of b; ramps
 * outside that span, within a and b.
 */
static void lower_b(struct peakguard *g, float f)
{
	const int L = g->lookahead, F = PEAKGUARD_FRAME;
	int i;

	for (i = 0; i < RAMP; i++) {
		float w = 0.5f - 0.5f * cosf(3.14159265f * ((float)i + 0.5f) / RAMP);
		float r = 1 - (1 - f) * w; /* 1 -> f */

		g->a[F - L - RAMP + i] *= r;
		g->b[F - L + RAMP - 1 - i] *= r;
	}
	for (i = F - L; i < F; i++)
		g->a[i] *= f;
	for (i = 0; i < F - L; i++)
		g->b[i] *= f;
}

/*
 * Encoding frame b again changes frame a's packet too (the encoder saw
 * other lookahead), and a noise-like frame comes back with other phases:
 * a may overshoot now. Its output's input before a was sent already; what
 * is in a (all but its first `lookahead` samples, ramp inside) is lowered.
 */
static void lower_a(struct peakguard *g, float f)
{
	const int L = g->lookahead, F = PEAKGUARD_FRAME;
	int i;

	for (i = 0; i < RAMP; i++) {
		float w = 0.5f - 0.5f * cosf(3.14159265f * ((float)i + 0.5f) / RAMP);

		g->a[i] *= 1 - (1 - f) * w;
	}
	for (i = RAMP; i < F - L; i++)
		g->a[i] *= f;
}

static float lowering(const struct peakguard *g, float peak)
{
	return g->ceiling / peak * (float)pow(10.0, -EXTRA_DB / 20.0);
}

int peakguard_frame(struct peakguard *g, const float *x)
{
	float pa = g->peak_a, pb, f;
	int tries, rc;
	unsigned char *t;
	float total = 1;

	if (!g->pending) {
		save(g, g->enc_prev, g->dec_prev, &g->tp_prev);
		memcpy(g->a, x, sizeof(g->a));
		if ((rc = code(g, g->a, g->pa, &g->la, g->ya, &pa)) < 0)
			return rc;
		g->pending = 1;
		g->peak_a = pa;
		return 0;
	}
	save(g, g->enc_mid, g->dec_mid, &g->tp_mid);
	memcpy(g->b, x, sizeof(g->b));
	if ((rc = code(g, g->b, g->pb, &g->lb, g->yb, &pb)) < 0)
		return rc;
	/* a was checked when it was b; once encoded again, it is checked too */
	for (tries = 0; (pb > g->ceiling || pa > g->ceiling) && tries < PEAKGUARD_TRIES; tries++) {
		if (pb > g->ceiling) {
			f = lowering(g, pb);
			total *= f;
			lower_b(g, f);
		}
		if (pa > g->ceiling) {
			f = lowering(g, pa);
			lower_a(g, f);
		}
		restore(g, g->enc_prev, g->dec_prev, &g->tp_prev);
		if ((rc = code(g, g->a, g->pa, &g->la, g->ya, &pa)) < 0)
			return rc;
		save(g, g->enc_mid, g->dec_mid, &g->tp_mid);
		if ((rc = code(g, g->b, g->pb, &g->lb, g->yb, &pb)) < 0)
			return rc;
		g->st.redone += 2;
	}
	if (tries > 0) {
		g->st.lowered++;
		if (total < g->st.min_gain)
			g->st.min_gain = total;
	}
	if (pa > g->ceiling)
		g->st.over++;
	if ((rc = g->emit(g->user, g->pa, g->la, g->ya, 0)) != 0)
		return rc < 0 ? rc : -EIO;
	g->st.frames++;
	/* frame b becomes the held one; the state before it is "mid" */
	t = g->enc_prev, g->enc_prev = g->enc_mid, g->enc_mid = t;
	t = g->dec_prev, g->dec_prev = g->dec_mid, g->dec_mid = t;
	g->tp_prev = g->tp_mid;
	memcpy(g->a, g->b, sizeof(g->a));
	memcpy(g->ya, g->yb, sizeof(g->ya));
	memcpy(g->pa, g->pb, (size_t)g->lb);
	g->la = g->lb;
	g->peak_a = pb;
	return 0;
}

int peakguard_finish(struct peakguard *g)
{
	int rc;

	if (!g->pending)
		return 0;
	g->pending = 0;
	g->st.frames++;
	if (g->peak_a > g->ceiling)
		g->st.over++;
	rc = g->emit(g->user, g->pa, g->la, g->ya, 1);
	return rc < 0 ? rc : rc ? -EIO : 0;
}

void peakguard_free(struct peakguard *g)
{
	if (g->enc)
		opus_encoder_destroy(g->enc);
	if (g->dec)
		opus_decoder_destroy(g->dec);
	free(g->enc_prev);
	free(g->enc_mid);
	free(g->dec_prev);
	free(g->dec_mid);
	memset(g, 0, sizeof(*g));
}
