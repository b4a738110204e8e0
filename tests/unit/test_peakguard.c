/*
 * test_peakguard.c - the peak guard (import/peakguard.h) on noise bursts
 * the codec rebuilds over a limiter's ceiling, and the Ogg Opus writer
 * (import/oggopus.h) read back with opusfile:
 *   - every frame it accepts decodes under the ceiling (measured here with
 *     an independent decoder fed the packets, so the rollback of the
 *     guard's decoder state must match a fresh decoder exactly);
 *   - without the guard (ceiling out of reach) the same input overshoots:
 *     the test's material really makes the codec overshoot;
 *   - it lowered and encoded again only a minority of the frames;
 *   - the Ogg stream: OpusHead alone on the first page, opusfile plays
 *     exactly the input's length, tags read back.
 */
#include "limiter.h"
#include "oggopus.h"
#include "peakguard.h"
#include "tap.h"

#include <math.h>
#include <opus/opus.h>
#include <opus/opusfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RATE 48000
#define SECS 6

static float noise(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return (float)((double)(*s >> 8) / (double)(1u << 23) - 1.0);
}

/* A quiet tone with a burst of white noise every 0.35 s (8 ms, sharp attack),
 * everything through the limiter at -2.2 dBTP: what import gives the codec
 * for the "peaky" material. */
static float *material(size_t *np)
{
	const size_t n = (size_t)SECS * RATE;
	float *x = calloc(n, sizeof(float)), *y = calloc(n + LIMITER_LATENCY, sizeof(float));
	struct limiter *l = calloc(1, sizeof(*l));
	uint32_t s = 7;
	size_t i, got = 0, more = 0;

	if (!x || !y || !l)
		abort();
	for (i = 0; i < n; i++) {
		size_t ph = i % (RATE * 35 / 100);

		x[i] = 0.2f * sinf(2 * 3.14159265f * 220 * (float)i / RATE);
		if (ph < RATE * 8 / 1000)
			x[i] += 1.5f * noise(&s) * (ph < 24 ? (float)ph / 24 : 1.0f);
	}
	limiter_init(l, -2.2);
	limiter_process(l, x, n, y, &got);
	limiter_flush(l, y + got, &more);
	free(x);
	free(l);
	*np = got + more;
	return y;
}

struct sink {
	struct oggopus ogg;
	OpusDecoder *dec;       /* independent of the guard's */
	unsigned char *file;
	size_t len, cap;
	float worst;            /* fresh decoder's worst frame peak (linear) */
	int mismatch;           /* the guard's pcm differs from a fresh decode */
	int frames;
	struct truepeak tp;
};

static int write_cb(void *user, const unsigned char *p, size_t n)
{
	struct sink *k = user;

	if (k->len + n > k->cap) {
		k->cap = (k->len + n) * 2;
		k->file = realloc(k->file, k->cap);
		if (!k->file)
			return 1;
	}
	memcpy(k->file + k->len, p, n);
	k->len += n;
	return 0;
}

static int emit_cb(void *user, const unsigned char *packet, int len, const float *pcm, int last)
{
	struct sink *k = user;
	float y[PEAKGUARD_FRAME], pk[TP_BLOCK];
	size_t off, i;

	if (opus_decode_float(k->dec, packet, len, y, PEAKGUARD_FRAME, 0) != PEAKGUARD_FRAME)
		return -1;
	if (memcmp(y, pcm, sizeof(y)) != 0)
		k->mismatch++;
	for (off = 0; off < PEAKGUARD_FRAME; off += TP_BLOCK) {
		size_t n = PEAKGUARD_FRAME - off < TP_BLOCK ? PEAKGUARD_FRAME - off : TP_BLOCK;

		truepeak_block(&k->tp, y + off, n, pk);
		for (i = 0; i < n; i++)
			k->worst = pk[i] > k->worst ? pk[i] : k->worst;
	}
	k->frames++;
	return oggopus_packet(&k->ogg, packet, (size_t)len, PEAKGUARD_FRAME, last);
}

/* Encode x through a guard at ceiling_db; *st its statistics. */
static void run(const float *x, size_t n, double ceiling_db, unsigned ahead, struct sink *k,
		struct peakguard_stats *st)
{
	const struct opus_settings set = { 24, 0, 10 };
	static const char *const tags[] = { "ENCODER=loaxa test", "TITLE=Thông báo" };
	struct peakguard *g = calloc(1, sizeof(*g));
	float frame[PEAKGUARD_FRAME];
	size_t fed = 0, need;
	int err, rc;

	memset(k, 0, sizeof(*k));
	k->dec = opus_decoder_create(RATE, 1, &err);
	CHECK(g && k->dec && peakguard_init(g, &set, ceiling_db, emit_cb, k) == 0,
	      "peak guard at %.2f dBTP starts", ceiling_db);
	if (ahead)
		g->wake_batch = ahead;
	rc = oggopus_start(&k->ogg, 1234, (unsigned)peakguard_lookahead(g), n, "libopus test",
			   tags, 2, write_cb, k);
	CHECK(rc == 0, "Ogg Opus stream starts");
	need = n + (size_t)peakguard_lookahead(g);
	for (rc = 0; fed < need && rc == 0; fed += PEAKGUARD_FRAME) {
		size_t m = fed < n ? (n - fed < PEAKGUARD_FRAME ? n - fed : PEAKGUARD_FRAME) : 0;

		memset(frame, 0, sizeof(frame));
		if (m)
			memcpy(frame, x + fed, m * sizeof(float));
		rc = peakguard_frame(g, frame);
	}
	CHECK(rc == 0 && peakguard_finish(g) == 0, "every frame encoded");
	*st = g->st;
	peakguard_free(g);
	free(g);
	oggopus_free(&k->ogg);
	opus_decoder_destroy(k->dec);
}

int main(void)
{
	struct peakguard_stats st, st0;
	struct sink k;
	size_t n;
	float *x = material(&n);
	const double ceiling = -1.25;
	OggOpusFile *of;
	const OpusTags *tags;
	int err;

	/* the ceiling out of reach: what the codec does by itself */
	run(x, n, 20.0, 0, &k, &st0);
	CHECK(st0.lowered == 0 && st0.redone == 0, "out of reach: nothing encoded again");
	CHECK(20 * log10(k.worst) > ceiling + 1,
	      "without the guard the bursts decode %.2f dB over %.2f dBTP (limited at -2.2)",
	      20 * log10(k.worst) - ceiling, ceiling);
	free(k.file);

	run(x, n, ceiling, 0, &k, &st);
	CHECK(k.mismatch == 0, "a fresh decoder gives exactly the guard's decoded frames (%d differ)",
	      k.mismatch);
	CHECK(st.over == 0 && 20 * log10(k.worst) <= ceiling + 0.01,
	      "with the guard every frame decodes under %.2f dBTP (worst %.2f, %llu over)", ceiling,
	      20 * log10(k.worst), (unsigned long long)st.over);
	CHECK(st.lowered > 0 && st.redone <= st.frames / 2,
	      "%llu of %llu frames lowered, %llu encoded again", (unsigned long long)st.lowered,
	      (unsigned long long)st.frames, (unsigned long long)st.redone);
	CHECK(st.min_gain < 1 && st.min_gain > 0.25, "deepest lowering %.2f dB",
	      20 * log10(st.min_gain));
	CHECK((uint64_t)k.frames == st.frames, "every accepted frame emitted once (%d)", k.frames);

	/* the Ogg stream */
	CHECK(k.len > 47 && memcmp(k.file, "OggS", 4) == 0 && k.file[26] == 1 &&
		      k.file[27] == 19 && memcmp(k.file + 28, "OpusHead", 8) == 0,
	      "first page: the 19-byte OpusHead alone");
	of = op_open_memory(k.file, k.len, &err);
	CHECK(of != NULL, "opusfile opens the stream (%d)", err);
	if (of) {
		ogg_int64_t total = op_pcm_total(of, -1);

		CHECK(total == (ogg_int64_t)n, "opusfile plays %lld samples, the input's %zu",
		      (long long)total, n);
		tags = op_tags(of, -1);
		CHECK(tags && opus_tags_query(tags, "TITLE", 0) &&
			      strcmp(opus_tags_query(tags, "TITLE", 0), "Thông báo") == 0,
		      "TITLE tag reads back");
		op_free(of);
	}
	/* the decoding thread far behind (woken only when 5 frames wait): the
	 * encoder runs ahead and encodes those frames again after each redo;
	 * the stream must be the same bytes */
	{
		struct sink k2;
		struct peakguard_stats st2;

		run(x, n, ceiling, 5, &k2, &st2);
		CHECK(k2.len == k.len && memcmp(k2.file, k.file, k.len) == 0,
		      "encoder 5 frames ahead of the decoder: the same %zu bytes (%zu)", k.len,
		      k2.len);
		CHECK(st2.lowered == st.lowered && st2.redone >= st.redone,
		      "the same %llu frames lowered; %llu encoded again (%llu in step)",
		      (unsigned long long)st2.lowered, (unsigned long long)st2.redone,
		      (unsigned long long)st.redone);
		free(k2.file);
	}
	free(k.file);
	free(x);
	TAP_EXIT();
}
