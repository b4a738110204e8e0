/*
 * pcmcompare - does a node's captured output match the Ogg Opus it was told
 * to play?
 *
 *   pcmcompare [--channels N] [--fade SAMPLES] [--tolerance LSB] [--json]
 *              REFERENCE.opus CAPTURE.raw
 *
 * The reference is decoded with opusfile (op_read, 48 kHz, 16-bit) - the same
 * library the node uses - so a node that plays correctly reproduces it sample
 * for sample, except for its short fades at start and end (10 ms = 480
 * samples by default). The capture is what ALSA's `file` plugin wrote: raw
 * S16_LE, interleaved, N channels (channel 0 is compared).
 *
 * The capture may start with silence (the node opened the device early) or
 * carry padding at the end (ALSA fills the last period), so we first find
 * where the reference starts in the capture: a coarse guess from the first
 * loud sample of each, refined by the best normalised correlation within
 * +-50 ms of it. Then, outside the fades, we count exactly equal samples and
 * the largest difference; over the whole reference we report the
 * correlation; and we count non-silent capture samples that lie outside the
 * aligned reference ("extra": something else was played too).
 *
 * Verdict (exit status): 0 when every sample outside the fades is equal (or
 * differs by at most --tolerance, default 0, with correlation >= 0.999) and
 * there is nothing extra; 1 when it does not match; 2 on a usage or file
 * error. One line of figures is printed either way (JSON with --json).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <opusfile.h>

struct pcm {
	int16_t *s;
	size_t n;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: pcmcompare [--channels N] [--fade SAMPLES] [--tolerance LSB] [--json]\n"
		"                  REFERENCE.opus CAPTURE.raw\n");
}

static int pcm_push(struct pcm *p, size_t *cap, const int16_t *v, size_t n)
{
	if (p->n + n > *cap) {
		size_t ncap = *cap ? *cap * 2 : 48000;
		int16_t *ns;

		while (ncap < p->n + n)
			ncap *= 2;
		ns = realloc(p->s, ncap * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		p->s = ns;
		*cap = ncap;
	}
	memcpy(p->s + p->n, v, n * sizeof(*v));
	p->n += n;
	return 0;
}

/* Decode the whole file to mono (channel 0) 16-bit samples at 48 kHz. */
static int decode_opus(const char *path, struct pcm *out)
{
	int err = 0, rc = 0;
	OggOpusFile *of = op_open_file(path, &err);
	int16_t buf[5760 * 8], mono[5760];
	size_t cap = 0;

	memset(out, 0, sizeof(*out));
	if (!of) {
		fprintf(stderr, "pcmcompare: %s: not a readable Ogg Opus file (opusfile error %d)\n",
			path, err);
		return -EINVAL;
	}
	for (;;) {
		int li = -1, ch, i;
		int n = op_read(of, buf, (int)(sizeof(buf) / sizeof(buf[0])), &li);

		if (n == OP_HOLE)
			continue;
		if (n < 0) {
			fprintf(stderr, "pcmcompare: %s: decode error %d\n", path, n);
			rc = -EIO;
			goto out;
		}
		if (n == 0)
			break;
		ch = op_channel_count(of, li);
		for (i = 0; i < n; i++)
			mono[i] = buf[i * ch];
		if (pcm_push(out, &cap, mono, (size_t)n) < 0) {
			rc = -ENOMEM;
			goto out;
		}
	}
out:
	op_free(of);
	return rc;
}

/* Read raw S16_LE interleaved samples, keep channel 0. */
static int read_capture(const char *path, int channels, struct pcm *out)
{
	FILE *f = fopen(path, "rb");
	uint8_t frame[2 * 16];
	size_t cap = 0, fl = (size_t)channels * 2;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!f) {
		fprintf(stderr, "pcmcompare: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	while (fread(frame, 1, fl, f) == fl) {
		int16_t v = (int16_t)(uint16_t)(frame[0] | (frame[1] << 8));

		if (pcm_push(out, &cap, &v, 1) < 0) {
			rc = -ENOMEM;
			break;
		}
	}
	fclose(f);
	return rc;
}

static size_t first_loud(const struct pcm *p, int thr)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (abs(p->s[i]) >= thr)
			return i;
	return p->n;
}

static int16_t cap_at(const struct pcm *c, long long j)
{
	if (j < 0 || (size_t)j >= c->n)
		return 0;
	return c->s[j];
}

/*
 * Normalised correlation of ref[from, from+len) with cap shifted by lag.
 * Used both to align and to report.
 */
static double correlation(const struct pcm *r, const struct pcm *c, long long lag,
			  size_t from, size_t len)
{
	double rr = 0, cc = 0, rc = 0;
	size_t i;

	for (i = from; i < from + len && i < r->n; i++) {
		double a = r->s[i], b = cap_at(c, (long long)i + lag);

		rr += a * a;
		cc += b * b;
		rc += a * b;
	}
	if (rr == 0 && cc == 0)
		return 1.0;
	if (rr == 0 || cc == 0)
		return 0.0;
	return rc / sqrt(rr * cc);
}

static long long align(const struct pcm *r, const struct pcm *c)
{
	int peak = 0, thr;
	size_t i, r0, c0, win;
	long long guess, lag, best = 0;
	double bestc = -2;

	for (i = 0; i < r->n; i++)
		if (abs(r->s[i]) > peak)
			peak = abs(r->s[i]);
	thr = peak / 20 > 64 ? peak / 20 : 64;
	r0 = first_loud(r, thr);
	c0 = first_loud(c, thr);
	if (r0 >= r->n || c0 >= c->n)
		return 0;
	guess = (long long)c0 - (long long)r0;
	win = 12000; /* 250 ms of signal is plenty to lock on */
	for (lag = guess - 2400; lag <= guess + 2400; lag++) {
		double cor = correlation(r, c, lag, r0, win);

		if (cor > bestc) {
			bestc = cor;
			best = lag;
		}
	}
	return best;
}

int main(int argc, char **argv)
{
	const char *ref_path = NULL, *cap_path = NULL;
	int channels = 1, json = 0, i;
	long fade = 480, tol = 0;
	struct pcm ref, capt;
	size_t inside = 0, exact = 0, extra = 0, k;
	long maxdiff = 0, maxdiff_fade = 0;
	long long lag;
	double corr;
	int pass, rc = 2;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--channels") && i + 1 < argc)
			channels = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--fade") && i + 1 < argc)
			fade = atol(argv[++i]);
		else if (!strcmp(argv[i], "--tolerance") && i + 1 < argc)
			tol = atol(argv[++i]);
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (argv[i][0] == '-' && argv[i][1]) {
			usage();
			return 2;
		} else if (!ref_path)
			ref_path = argv[i];
		else if (!cap_path)
			cap_path = argv[i];
		else {
			usage();
			return 2;
		}
	}
	if (!ref_path || !cap_path || channels < 1 || channels > 16 || fade < 0 || tol < 0) {
		usage();
		return 2;
	}
	if (decode_opus(ref_path, &ref) < 0)
		return 2;
	if (read_capture(cap_path, channels, &capt) < 0) {
		free(ref.s);
		return 2;
	}
	if (ref.n == 0) {
		fprintf(stderr, "pcmcompare: %s decodes to no samples\n", ref_path);
		goto out;
	}
	if (capt.n == 0) {
		printf(json ? "{\"match\":false,\"reason\":\"capture is empty\"}\n"
			    : "MISMATCH: capture %s is empty\n", cap_path);
		rc = 1;
		goto out;
	}

	lag = align(&ref, &capt);
	for (k = 0; k < ref.n; k++) {
		long d = labs((long)ref.s[k] - (long)cap_at(&capt, (long long)k + lag));
		int in_fade = (long long)k < fade || (long long)k >= (long long)ref.n - fade;

		if (in_fade) {
			if (d > maxdiff_fade)
				maxdiff_fade = d;
			continue;
		}
		inside++;
		if (d == 0)
			exact++;
		if (d > maxdiff)
			maxdiff = d;
	}
	/* Non-silent capture outside the aligned reference: something extra played. */
	for (k = 0; k < capt.n; k++) {
		long long r = (long long)k - lag;

		if ((r < 0 || r >= (long long)ref.n) && capt.s[k] != 0)
			extra++;
	}
	corr = correlation(&ref, &capt, lag, 0, ref.n);
	pass = extra == 0 && (maxdiff == 0 || (maxdiff <= tol && corr >= 0.999));
	if (json)
		printf("{\"match\":%s,\"reference_samples\":%zu,\"capture_samples\":%zu,"
		       "\"lag\":%lld,\"exact_ratio\":%.6f,\"max_diff\":%ld,"
		       "\"max_diff_in_fades\":%ld,\"correlation\":%.6f,\"extra_nonzero\":%zu}\n",
		       pass ? "true" : "false", ref.n, capt.n, lag,
		       inside ? (double)exact / (double)inside : 1.0, maxdiff, maxdiff_fade,
		       corr, extra);
	else
		printf("%s: %zu reference samples, capture %zu samples at offset %lld; "
		       "outside the %ld-sample fades %.4f%% exact, max diff %ld "
		       "(in fades %ld); correlation %.6f; %zu non-silent samples outside it\n",
		       pass ? "MATCH" : "MISMATCH", ref.n, capt.n, lag, fade,
		       inside ? 100.0 * (double)exact / (double)inside : 100.0, maxdiff,
		       maxdiff_fade, corr, extra);
	rc = pass ? 0 : 1;
out:
	free(ref.s);
	free(capt.s);
	return rc;
}
