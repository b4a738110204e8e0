/*
 * test_opusdec.c - node/opusdec.c decodes exactly what opusfile's own
 * decoder would: bit-identical samples for mono, stereo, a header gain and
 * a chained file (a second link with other settings), and it really is the
 * path taken (packets counted). Files are made here with libopusenc.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <opusenc.h>
#include <opusfile.h>

#include "opusdec.h"
#include "tap.h"

#define RATE 48000
#define MAX_SAMPLES (RATE * 4 * 3)

/* A second of something speech-like: two gliding tones and some noise. */
static void signal(int16_t *pcm, int n, int channels, unsigned seed)
{
	int i, c;

	for (i = 0; i < n; i++) {
		double t = (double)i / RATE;
		double v = 0.3 * sin(2 * M_PI * (220 + 300 * t) * t) +
			   0.2 * sin(2 * M_PI * 1250 * t) * sin(2 * M_PI * 3 * t);

		seed = seed * 1103515245u + 12345u;
		v += 0.05 * ((double)(seed >> 16 & 0x7fff) / 16384.0 - 1.0);
		for (c = 0; c < channels; c++)
			pcm[i * channels + c] = (int16_t)lrint(v * 32767.0 * (c ? 0.5 : 1.0));
	}
}

/* Write path: `links` links of one second each, channels[0] channels
 * (mapping family 1 above two), link k with header gain gains[k] (Q8 dB).
 * Returns 0 or -1. */
static int make_file(const char *path, int links, const int *channels, const int *gains)
{
	static int16_t pcm[RATE * 3];
	OggOpusComments *com = ope_comments_create();
	OggOpusEnc *enc = NULL;
	int k, err = 0, rc = -1;

	if (!com)
		return -1;
	for (k = 0; k < links; k++) {
		if (k == 0) {
			enc = ope_encoder_create_file(path, com, RATE, channels[0],
						      channels[0] > 2 ? 1 : 0, &err);
			if (!enc)
				goto out;
		} else if (ope_encoder_chain_current(enc, com) != OPE_OK) {
			goto out;
		}
		/* a new link takes the settings made after the chain call */
		if (ope_encoder_ctl(enc, OPE_SET_HEADER_GAIN(gains[k])) != OPE_OK ||
		    ope_encoder_ctl(enc, OPUS_SET_BITRATE(24000)) != OPE_OK)
			goto out;
		signal(pcm, RATE, channels[0], (unsigned)k + 7u);
		if (ope_encoder_write(enc, pcm, RATE) != OPE_OK)
			goto out;
	}
	if (ope_encoder_drain(enc) != OPE_OK)
		goto out;
	rc = 0;
out:
	if (enc)
		ope_encoder_destroy(enc);
	ope_comments_destroy(com);
	return rc;
}

/* Decode all of path with or without our decoder; returns samples (total
 * over channels) or -1. */
static long decode_all(const char *path, int16_t *out, long cap, struct opusdec *d)
{
	OggOpusFile *of;
	long total = 0;
	int err = 0, n;

	of = op_open_file(path, &err);
	if (!of)
		return -1;
	if (d)
		opusdec_attach(d, of);
	for (;;) {
		int li, ch;

		n = op_read(of, out + total, (int)(cap - total), &li);
		if (n <= 0)
			break;
		ch = op_channel_count(of, li);
		total += (long)n * ch;
	}
	op_free(of);
	return n < 0 ? -1 : total;
}

static void same(const char *what, const char *path, struct opusdec *d, int expect_ours)
{
	static int16_t a[MAX_SAMPLES], b[MAX_SAMPLES];
	unsigned long before = opusdec_packets(d);
	long na = decode_all(path, a, MAX_SAMPLES, NULL);
	long nb = decode_all(path, b, MAX_SAMPLES, d);
	long i, diff = 0;

	for (i = 0; na == nb && i < na; i++)
		if (a[i] != b[i])
			diff++;
	CHECK(na > 0 && na == nb && diff == 0,
	      "%s: %ld samples, identical to opusfile's decoder (%ld differ)", what, nb, diff);
	if (expect_ours)
		CHECK(opusdec_packets(d) - before >= 50, "%s: decoded by opusdec (%lu packets)",
		      what, opusdec_packets(d) - before);
	else
		CHECK(opusdec_packets(d) == before, "%s: left to opusfile", what);
}

/* opusdec_decode_file gives what op_read gives, mixed down to mono. */
static void whole(const char *what, const char *path, int channels)
{
	static int16_t a[MAX_SAMPLES];
	short *pcm = NULL;
	size_t n = 0, i, diff = 0;
	long na = decode_all(path, a, MAX_SAMPLES, NULL);
	int rc = opusdec_decode_file(path, RATE * 2, &pcm, &n);

	for (i = 0; rc == 0 && na > 0 && (long)(n * (size_t)channels) == na && i < n; i++) {
		int sum = 0, c;

		for (c = 0; c < channels; c++)
			sum += a[i * (size_t)channels + (size_t)c];
		if (pcm[i] != (short)(sum / channels))
			diff++;
	}
	CHECK(rc == 0 && na > 0 && (long)(n * (size_t)channels) == na && diff == 0,
	      "%s: decoded whole into memory, %zu samples as op_read gives (%zu differ)", what,
	      n, diff);
	free(pcm);
}

int main(void)
{
	char dir[] = "/tmp/loaxa-opusdec.XXXXXX", path[64];
	struct opusdec *d = opusdec_new();
	int mono[] = { 1, 1 }, stereo[] = { 2 }, three[] = { 3 }, gains[] = { 0, 0 }, gain6[] = { 6 * 256 },
	    chained_gains[] = { -3 * 256, 2 * 256 };

	CHECK(d != NULL, "a decoder holder");
	if (!d || !mkdtemp(dir))
		TAP_EXIT();

	snprintf(path, sizeof(path), "%s/mono.opus", dir);
	CHECK(make_file(path, 1, mono, gains) == 0, "made a mono file");
	same("mono", path, d, 1);
	same("mono, played again (decoder reused)", path, d, 1);
	whole("mono", path, 1);
	{
		short *pcm = NULL;
		size_t n = 0;

		CHECK(opusdec_decode_file(path, RATE / 2, &pcm, &n) == -EFBIG && !pcm,
		      "a file longer than the limit is refused (-EFBIG)");
		CHECK(opusdec_decode_file(dir, RATE * 2, &pcm, &n) == -EINVAL && !pcm,
		      "what is not Ogg Opus is refused (-EINVAL)");
	}
	unlink(path);

	snprintf(path, sizeof(path), "%s/stereo.opus", dir);
	CHECK(make_file(path, 1, stereo, gains) == 0, "made a stereo file");
	same("stereo", path, d, 1);
	whole("stereo, mixed down to mono", path, 2);
	unlink(path);

	snprintf(path, sizeof(path), "%s/gain.opus", dir);
	CHECK(make_file(path, 1, mono, gain6) == 0, "made a file with a +6 dB header gain");
	same("header gain +6 dB", path, d, 1);
	unlink(path);

	snprintf(path, sizeof(path), "%s/chained.opus", dir);
	CHECK(make_file(path, 2, mono, chained_gains) == 0, "made a chained file (two links)");
	same("chained, gains -3 and +2 dB", path, d, 1);
	unlink(path);

	snprintf(path, sizeof(path), "%s/three.opus", dir);
	CHECK(make_file(path, 1, three, gains) == 0, "made a 3-channel file (mapping family 1)");
	same("3 channels", path, d, 0);
	unlink(path);

	opusdec_free(d);
	rmdir(dir);
	TAP_EXIT();
}
