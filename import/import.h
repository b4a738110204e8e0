/*
 * import.h - the import pipeline: any audio file in, one loudness-normalised
 * Ogg Opus file out. The controller (uploads) and `loaxa encode` use this one
 * code path, so a file plays the same whichever way it came in.
 *
 *   FFmpeg (libavformat/libavcodec/libswresample) decodes MP3, M4A/AAC, WAV
 *   (any PCM, A-law, mu-law), FLAC, Ogg Vorbis/Opus, ... to mono 48 kHz float.
 *   Pass 1 measures the integrated loudness (EBU R128, libebur128) while the
 *   samples are kept in memory (or in an unnamed temp file when long), and
 *   a loudness model picks the gain that lands on the target after limiting;
 *   a short trial encode of the loudest excerpts (probe.h) measures what the
 *   codec will add to the peaks and take off the loudness.
 *   Pass 2 applies that gain, a look-ahead true-peak limiter (it limits, it
 *   never clips), and encodes with libopus (speech: OPUS_SIGNAL_VOICE,
 *   24 kbps; music: OPUS_SIGNAL_MUSIC, 48 kbps; 20 ms frames). Each packet
 *   is decoded as it is made; a frame that decodes over the ceiling is
 *   encoded again with its input lowered (peakguard.h), and libebur128 measures the
 *   loudness and true peak of what a player will actually play; the OpusHead
 *   output gain corrects what is left (towards the target, never above the
 *   ceiling). A result within the promise (+-1 LU, the ceiling) is kept; only
 *   one that misses it runs pass 2 again.
 *   See docs/import.md.
 *
 * The output file appears atomically (temp file, fsync, rename, fsync dir) or
 * not at all: on any error nothing is left behind, not even a temp file.
 *
 * Errors: every function returns 0 or a negative errno value and fills err
 * with ONE line that names the input and says what is wrong in words an
 * operator understands, e.g.
 *   song.mp3: not an audio file
 *   x.wav: truncated: decoding stopped at 0:03.2 of 0:05.0
 *   long.wav: 4:10:00 is longer than the 4:00:00 maximum
 * Each call has its own decoder, encoder and threads (it runs three while
 * encoding), so calls may run side by side; the one process-wide change is
 * FFmpeg's log level, set to quiet once. Nothing is printed except the
 * optional progress (and LOAXA_IMPORT_DEBUG=1 diagnostics).
 */
#ifndef LOAXA_IMPORT_H
#define LOAXA_IMPORT_H

#include <stddef.h>
#include <stdint.h>

struct import_opts {
	double target_lufs;     /* integrated loudness of the output, default -16 */
	double true_peak_dbtp;  /* ceiling for the output's true peak, default -1 */
	int bitrate_kbps;       /* 0: 24 for speech, 48 for music */
	int music;              /* 1: music settings (OPUS_SIGNAL_MUSIC, 48 kbps) */
	int complexity;         /* Opus complexity 0..10, default 10 */
	double max_duration_s;  /* refuse longer inputs, default 14400 (4 h) */
	int progress;           /* print progress on stderr (inputs over 1 min) */
	const char *title;      /* TITLE tag, or NULL */
	const char *name;       /* name of the input in messages; NULL: the path */
	double spill_after_s;   /* decoded audio longer than this goes to an
	                           unlinked temp file instead of memory
	                           (default 900 s = 173 MB) */
};

struct import_result {
	char sha256[65];        /* hex SHA-256 of the output file's bytes */
	double duration_s;      /* of the audio (= of the input) */
	double input_lufs;      /* integrated loudness of the input (-inf: silence) */
	double output_lufs;     /* of the decoded output */
	double true_peak_dbtp;  /* of the decoded output */
	double gain_db;         /* gain applied before the limiter */
	uint64_t bytes;         /* size of the output file */
	int bitrate_kbps;       /* target bitrate used */
	int existed;            /* import_to_store: an identical file was there */
	int encodes;            /* times pass 2 ran (1 unless the first result
	                           missed the promise) */
	double limiting_db;     /* deepest gain reduction of the limiter (dB, <= 0) */
	double probe_s;         /* audio the trial encode (probe.h) encoded */
};

/*
 * What the decode worker (encode/worker.c, mode import) writes into its
 * result pipe, and the controller reads (controller/imports.c): both are
 * built from this tree and installed together.
 */
struct import_outcome {
	int rc;                    /* 0 or -errno */
	char err[512];             /* the importer's one-line message */
	struct import_result res;
};

void import_opts_default(struct import_opts *opts);

/*
 * Encode in to exactly the path out (replaced atomically if it exists).
 * The temp file lives in out's directory. opts may be NULL (defaults).
 */
int import_file(const char *in, const char *out, const struct import_opts *opts,
		struct import_result *res, char *err, size_t errlen);

/*
 * Encode in into the content store: <store_dir>/<sha256>.opus. When that file
 * exists already (same content, same name) the new copy is dropped and
 * res->existed is set.
 */
int import_to_store(const char *in, const char *store_dir,
		    const struct import_opts *opts, struct import_result *res,
		    char *err, size_t errlen);

/*
 * The decode worker's form (encode/worker.c): read in_fd, write the Ogg Opus
 * file into out_fd (truncated first, fsynced at the end; naming it is the
 * caller's business), spill long audio into unnamed files in spill_dir.
 * Opens no path but spill_dir (O_TMPFILE). res->existed is 0.
 */
int import_fd(int in_fd, int out_fd, const char *spill_dir, const struct import_opts *opts,
	      struct import_result *res, char *err, size_t errlen);

/*
 * "1:02:03", "2:03" or, with tenths, "0:03.2": how durations appear in
 * messages. Returns buf.
 */
char *import_fmt_duration(char *buf, size_t len, double seconds, int tenths);

#endif
