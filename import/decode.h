/*
 * decode.h - any audio file to mono 48 kHz float, with FFmpeg.
 *
 * Internal to the import pipeline. Messages written to why are the part
 * after "<file>: " ("not an audio file", "truncated: ..."); import.c adds the
 * file name.
 */
#ifndef LOAXA_IMPORT_DECODE_H
#define LOAXA_IMPORT_DECODE_H

#include <stddef.h>
#include <stdint.h>

#define IMPORT_RATE 48000

struct decoder;

/*
 * Open path and find its audio. max_s: refuse an input whose container says
 * it is longer (and, while reading, any input that turns out longer).
 */
int decoder_open(struct decoder **out, const char *path, double max_s,
		 char *why, size_t whylen);

/*
 * The same for an open descriptor (the decode worker's input, encode/worker.c):
 * FFmpeg opens nothing itself. A regular file is read with seeks; a pipe or
 * socket as a stream (no seeking back, no header peeking). fd stays the
 * caller's.
 */
int decoder_open_fd(struct decoder **out, int fd, double max_s, char *why, size_t whylen);

/*
 * The same for a network stream to relay (http:// or https:// only; the
 * controller's relay, never an upload). Reads block: call it in a worker.
 */
int decoder_open_url(struct decoder **out, const char *url, double max_s, char *why,
		     size_t whylen);

/*
 * Duration the container promises in seconds, or a negative value when it
 * does not say (or only guesses it from the bitrate).
 */
double decoder_expected_s(const struct decoder *d);

/*
 * Next block of mono 48 kHz samples: returns 1 with *pcm and *n set (valid until
 * the next call), 0 at the end of the audio, or a negative errno with why
 * filled (damaged, truncated, too long).
 */
int decoder_read(struct decoder *d, const float **pcm, size_t *n, char *why,
		 size_t whylen);

/* Samples delivered so far. */
uint64_t decoder_samples(const struct decoder *d);

void decoder_close(struct decoder **d);

#endif
