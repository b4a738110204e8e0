/*
 * pcmsteps - what a listener would hear as clicks, and where the sound is.
 *
 *   pcmsteps [--channels N] [--threshold X] [--silence-ms MS] CAPTURE.raw
 *
 * Reads raw S16_LE (channel 0 of N) at 48 kHz, as the test cards capture
 * it, and prints one JSON line:
 *
 *   {"samples":N,"peak":P,"max_step":S,"max_step_at":I,"step_ratio":S/P,
 *    "sounds":[[first,last],...]}
 *
 * max_step is the largest jump between two consecutive samples. A sine of
 * frequency f and amplitude A never jumps more than 2*pi*f/48000*A (0.06 A
 * at 440 Hz); a play cut without a fade jumps by up to A: step_ratio tells a
 * faded cut from a click. sounds are the runs of samples with |x| >=
 * threshold (default 64) separated by at least silence-ms (default 50) of
 * quiet. Exit status 0, or 2 on a usage or file error.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RATE 48000

int main(int argc, char **argv)
{
	unsigned channels = 1;
	long threshold = 64, silence_ms = 50;
	const char *path = NULL;
	FILE *f;
	int16_t frame[8];
	uint64_t i = 0, peak_at = 0, step_at = 0, quiet = 0, first = 0, last = 0;
	long peak = 0, step = 0, prev = 0;
	int have_prev = 0, in_sound = 0, nsounds = 0, a;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--channels") == 0 && a + 1 < argc)
			channels = (unsigned)atoi(argv[++a]);
		else if (strcmp(argv[a], "--threshold") == 0 && a + 1 < argc)
			threshold = atol(argv[++a]);
		else if (strcmp(argv[a], "--silence-ms") == 0 && a + 1 < argc)
			silence_ms = atol(argv[++a]);
		else if (argv[a][0] != '-' && !path)
			path = argv[a];
		else {
			fprintf(stderr, "usage: pcmsteps [--channels N] [--threshold X] "
				"[--silence-ms MS] CAPTURE.raw\n");
			return 2;
		}
	}
	if (!path || channels < 1 || channels > 8) {
		fprintf(stderr, "usage: pcmsteps [--channels N] [--threshold X] [--silence-ms MS] "
			"CAPTURE.raw\n");
		return 2;
	}
	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "pcmsteps: %s: %s\n", path, strerror(errno));
		return 2;
	}
	printf("{\"sounds\":[");
	while (fread(frame, sizeof(int16_t), channels, f) == channels) {
		long x = frame[0], ax = x < 0 ? -x : x;

		if (ax > peak) {
			peak = ax;
			peak_at = i;
		}
		if (have_prev) {
			long d = x - prev;

			if (d < 0)
				d = -d;
			if (d > step) {
				step = d;
				step_at = i;
			}
		}
		prev = x;
		have_prev = 1;
		if (ax >= threshold) {
			if (!in_sound) {
				in_sound = 1;
				first = i;
			}
			last = i;
			quiet = 0;
		} else if (in_sound && ++quiet >= (uint64_t)(silence_ms * RATE / 1000)) {
			printf("%s[%llu,%llu]", nsounds++ ? "," : "", (unsigned long long)first,
			       (unsigned long long)last);
			in_sound = 0;
		}
		i++;
	}
	if (in_sound)
		printf("%s[%llu,%llu]", nsounds++ ? "," : "", (unsigned long long)first,
		       (unsigned long long)last);
	fclose(f);
	(void)peak_at;
	printf("],\"samples\":%llu,\"peak\":%ld,\"max_step\":%ld,\"max_step_at\":%llu,"
	       "\"step_ratio\":%.4f}\n", (unsigned long long)i, peak, step,
	       (unsigned long long)step_at, peak ? (double)step / (double)peak : 0.0);
	return 0;
}
