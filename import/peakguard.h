/*
 * peakguard.h - Opus encoding that keeps every decoded frame under the
 * true-peak ceiling, in one pass.
 *
 * The limiter flattens the peaks before the codec, but Opus rebuilds what
 * it codes with its own error: on plain speech the decoded true peak comes
 * out 0.5-1 dB over the limiter's ceiling, on noise-like consonant bursts
 * (rebuilt with other phases) up to 5 dB, and the worst frame of a long
 * file is worse than any short trial sees. A limiter low enough for the
 * worst frame limits the whole voice for the sake of a few frames.
 *
 * So every packet is decoded right after it is encoded (the same libopus
 * decoder a node uses; in a thread of its own, one frame behind the
 * encoder) and its true peak measured (limiter.h's interpolator,
 * libebur128's filter). Packets are held back one frame.
 * When frame k decodes over the ceiling, the encoder and decoder go back to
 * their state before frame k-1 (libopus states are position independent and
 * may be copied: opus.h), the input that frame k's output comes from (it is
 * the encoder's lookahead late, so it spans the end of frame k-1 and the
 * start of frame k) is lowered by what it overshot plus a little, with
 * 1 ms raised-cosine ramps, and both frames are encoded again - at most
 * PEAKGUARD_TRIES times. Only the few frames that overshoot cost more; the
 * rest of the voice keeps its level.
 */
#ifndef LOAXA_IMPORT_PEAKGUARD_H
#define LOAXA_IMPORT_PEAKGUARD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <opus/opus.h>

#include "limiter.h"
#include "probe.h"

#define PEAKGUARD_FRAME 960     /* 20 ms */
#define PEAKGUARD_TRIES 3
#define PEAKGUARD_MAX_PACKET 1500

/* An accepted frame: its packet and what a decoder makes of it. */
typedef int (*peakguard_emit_fn)(void *user, const unsigned char *packet, int len,
				 const float *pcm, int last);

struct peakguard_stats {
	uint64_t frames;        /* frames encoded (accepted) */
	uint64_t redone;        /* frames encoded again */
	uint64_t lowered;       /* frames whose input was lowered */
	uint64_t over;          /* frames still over the ceiling after the tries */
	double min_gain;        /* deepest lowering of one frame (linear) */
};

/* One frame in flight: its input, packet, decoded output, and the codec
 * states before it (to encode it again). */
struct peakguard_slot {
	float x[PEAKGUARD_FRAME];       /* input (lowered in place when redone) */
	float y[PEAKGUARD_FRAME];       /* decoded output */
	unsigned char p[PEAKGUARD_MAX_PACKET];
	int len;
	float peak;                     /* y's true peak (linear) */
	unsigned char *enc_state;       /* encoder before this frame */
	unsigned char *dec_state;       /* decoder before this frame */
	struct truepeak tp;             /* interpolator history before it */
};

/* frames in flight: the held one and those encoded ahead of the decoder */
#define PEAKGUARD_SLOTS 8

/*
 * Frame n is encoded here while the decoding thread decodes and measures
 * the frames before it (libopus's decode and the true peak are ~10 % of
 * the encode: on the second core they leave the encoder's path). Frame h
 * is held (its packet not yet emitted); once h+1 is measured the pair is
 * settled as before (both encoded again if either overshoots), and the
 * frames after it, encoded ahead from a state that then no longer holds,
 * are encoded again too. Usually the decoder is one frame behind; on a
 * busy machine the encoder goes on up to PEAKGUARD_SLOTS - 1 frames ahead
 * instead of waiting for it.
 */
struct peakguard {
	OpusEncoder *enc;
	OpusDecoder *dec;               /* the decoding thread's, except while it waits */
	size_t enc_size, dec_size;
	struct truepeak tp;
	float ceiling;                  /* linear */
	float tp_bound;                 /* truepeak_gain_bound() */
	int lookahead;
	uint64_t n;                     /* frames encoded (given to peakguard_frame()) */
	uint64_t h;                     /* the held frame: h..n-1 are in slots */
	peakguard_emit_fn emit;
	void *user;
	struct peakguard_stats st;
	struct peakguard_slot slot[PEAKGUARD_SLOTS];
	float peaks[TP_BLOCK];
	/* the decoding thread: frames < posted are given, < done measured */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t to_dec, to_enc;
	uint64_t posted, done;
	/* wake the decoding thread once this many frames wait for it (2): a
	 * wake per frame cost ~4 % of CPU on 'quiet' (1.56x opusenc, over the
	 * 1.5x limit); 4 let the encoder run so far ahead that peaky's redos
	 * re-encoded more (1.55x); 2 gave 1.44x and 1.41x (make bench, load 1).
	 * The output is the same bytes whatever the batch, since the encoder
	 * redoes the frames it ran ahead (test_peakguard) */
	uint64_t wake_batch;
	int dec_err;                    /* a decode failed (-errno) */
	int dec_waiting, enc_waiting, stop, running, sync_ok;
};

/* Encoder with set's settings; ceiling_dbtp: what no decoded frame may
 * exceed. 0 or -errno (libopus errors as -EINVAL/-ENOMEM). */
int peakguard_init(struct peakguard *g, const struct opus_settings *set, double ceiling_dbtp,
		   peakguard_emit_fn emit, void *user);
/* The encoder's lookahead: the stream's pre-skip. */
int peakguard_lookahead(const struct peakguard *g);
/* One frame of PEAKGUARD_FRAME input samples; may emit the frame before. */
int peakguard_frame(struct peakguard *g, const float *x);
/* Emit the frame still held (as the last). */
int peakguard_finish(struct peakguard *g);
void peakguard_free(struct peakguard *g);

#endif
