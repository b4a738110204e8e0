/*
 * probe.h - what the codec will do to this file, from a short trial encode.
 *
 * After the limiter has flattened the peaks to its ceiling, Opus adds its
 * own error to them: the decoded true peak comes out above the ceiling
 * (0.5 dB on plain speech, over 3 dB on clicks and noise bursts that the
 * codec rebuilds with other phases), and the loudness drops a little
 * (0.05 LU on telephone speech, 0.5 LU on bright material). Both vary with
 * the material by more than the loudness promise (+-1 LU) allows, so they
 * are measured, not assumed: before the real encode, the excerpts where the
 * limiter will work hardest (1 s each, a few percent of the file) go
 * through the same gain, limiter and encoder settings, are decoded, and
 * their decoded true peak and loudness are compared with what went in.
 * Two threads share the excerpts, so the probe costs the wall time of a
 * quarter of its audio.
 */
#ifndef LOAXA_IMPORT_PROBE_H
#define LOAXA_IMPORT_PROBE_H

#include <stdint.h>

#include <opus/opus.h>

#include "loudness.h"
#include "pcmstore.h"

/* The encoder settings; the probe and the real encode use the same. */
struct opus_settings {
	int kbps, music, complexity;
};

/* Bitrate, signal type, complexity, 20 ms frames and a 16-bit depth hint
 * (the peak guard encodes with the same list). */
int probe_configure(OpusEncoder *enc, const struct opus_settings *set);

struct probe_result {
	double overshoot_db;    /* predicted worst decoded true peak over the
	                           limiter's ceiling, over the whole file (dB) */
	double seen_db;         /* the worst the probe saw */
	double loss_lu;         /* loudness the codec takes off (LU) */
	double seconds;         /* audio the probe encoded (with pre-roll) */
	int windows;            /* excerpts */
	int frames, risky;      /* frames measured; of those, at the ceiling */
	uint64_t file_risky;    /* frames at the ceiling in the whole file */
};

/*
 * Trial-encode the excerpts of store (total samples, measured by lm) where
 * gain_db into a limit_db limiter limits most; budget_s of audio at most.
 * 0 or -errno; out->windows is 0 when there was nothing to probe.
 */
int probe_codec(struct pcm_store *store, const struct lmodel *lm, uint64_t total,
		double gain_db, double limit_db, const struct opus_settings *set,
		double budget_s, struct probe_result *out);

#endif
