/*
 * main.c - loaxa-encode, the program behind `loaxa encode IN -o OUT.opus
 * [options]`: one audio file to one loudness-normalised Ogg Opus file, with
 * the controller's own import pipeline (import/import.h) and no daemon.
 *
 * Everything it does is import_file(): the same decoding, loudness, limiter
 * and Opus settings the controller applies to an upload, so an operator can
 * try a file at home and hear exactly what the loudspeakers will play.
 *
 * It is a program of its own, not a part of `loaxa`, because it needs FFmpeg,
 * libebur128 and libopus (over 100 shared libraries with what they pull
 * in): loading them made every `loaxa` command 30 ms to a few hundred ms
 * slower, `loaxa emergency start` included. `loaxa encode` execs this
 * program (cli/encode.c), so operators keep typing `loaxa encode`; its
 * messages say "loaxa encode" for the same reason.
 *
 * Exit status: 0 when the file was written, 1 on any error (one line
 * "loaxa encode: <what>" on stderr).
 */
#include "import.h"
#include "worker.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

static const char usage[] =
	"usage: loaxa encode IN -o OUT.opus [--bitrate KBPS] [--music] [--target-lufs X]\n"
	"                    [--true-peak DBTP] [--title T] [--complexity N]\n"
	"                    [--max-duration SECONDS] [--no-progress] [--json]\n"
	"  IN                 any audio file FFmpeg reads: MP3, M4A/AAC, WAV, FLAC, Ogg, ...\n"
	"  -o, --output FILE  the Ogg Opus file to write (replaced atomically)\n"
	"  --bitrate KBPS     Opus bitrate (default 24 for speech, 48 with --music)\n"
	"  --music            music settings (OPUS_SIGNAL_MUSIC, 48 kbps)\n"
	"  --target-lufs X    integrated loudness of the output (default -16)\n"
	"  --true-peak DBTP   ceiling for the output's true peak (default -1)\n"
	"  --title T          TITLE tag\n"
	"  --complexity N     Opus complexity 0..10 (default 10)\n"
	"  --max-duration S   refuse longer inputs (default 14400 = 4 h)\n"
	"  --no-progress      no progress line even on a terminal\n"
	"  --json             print the result as one JSON object\n";

static int fail(const char *fmt, const char *arg)
{
	fprintf(stderr, "loaxa encode: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return 1;
}

static int parse_double(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v))
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_int(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < -1000000 || v > 1000000)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

/* A finite number, or JSON null for -inf (the loudness of silence). */
static json_t *json_number_or_null(double v)
{
	return isfinite(v) ? json_real(round(v * 100) / 100) : json_null();
}

static int print_json(const char *in, const char *out, const struct import_result *r)
{
	json_t *o = json_object();
	char *s;

	if (!o)
		return -ENOMEM;
	json_object_set_new(o, "input", json_string(in));
	json_object_set_new(o, "output", json_string(out));
	json_object_set_new(o, "sha256", json_string(r->sha256));
	json_object_set_new(o, "bytes", json_integer((json_int_t)r->bytes));
	json_object_set_new(o, "duration_s", json_real(round(r->duration_s * 1000) / 1000));
	json_object_set_new(o, "input_lufs", json_number_or_null(r->input_lufs));
	json_object_set_new(o, "output_lufs", json_number_or_null(r->output_lufs));
	json_object_set_new(o, "true_peak_dbtp", json_number_or_null(r->true_peak_dbtp));
	json_object_set_new(o, "bitrate_kbps", json_integer(r->bitrate_kbps));
	json_object_set_new(o, "encodes", json_integer(r->encodes));
	json_object_set_new(o, "deepest_limiting_db", json_real(round(r->limiting_db * 100) / 100));
	s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(10));
	json_decref(o);
	if (!s)
		return -ENOMEM;
	puts(s);
	free(s);
	return 0;
}

static void print_human(const char *out, const struct import_result *r)
{
	char dur[32];
	double kbps = r->duration_s > 0 ? (double)r->bytes * 8 / r->duration_s / 1000 : 0;

	printf("%s: %s, %llu bytes (%.1f kbps), %.1f LUFS (input %.1f), true peak %.1f dBTP\n"
	       "sha256 %s\n",
	       out, import_fmt_duration(dur, sizeof(dur), r->duration_s, 1),
	       (unsigned long long)r->bytes, kbps, r->output_lufs, r->input_lufs,
	       r->true_peak_dbtp, r->sha256);
}

/* argv[0] is the program's name; options and the input file follow. */
static int encode(int argc, char **argv)
{
	struct import_opts opts;
	struct import_result res;
	const char *in = NULL, *out = NULL;
	char err[1024];
	int i, json = 0, progress = 1;

	import_opts_default(&opts);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL, *eq;
		char name[32];

		if (a[0] != '-' || strcmp(a, "-") == 0) {
			if (in)
				return fail("one input file only (got \"%s\" too)", a);
			in = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			if (i + 1 < argc && !in)
				in = argv[++i];
			if (i + 1 < argc)
				return fail("one input file only (got \"%s\" too)", argv[i + 1]);
			break;
		}
		/* --name=value or --name value */
		eq = strchr(a, '=');
		if (eq && (size_t)(eq - a) < sizeof(name)) {
			memcpy(name, a, (size_t)(eq - a));
			name[eq - a] = '\0';
			val = eq + 1;
		} else {
			snprintf(name, sizeof(name), "%s", a);
		}
		if (!strcmp(name, "-h") || !strcmp(name, "--help")) {
			fputs(usage, stdout);
			return 0;
		}
		if (!strcmp(name, "--music") || !strcmp(name, "--speech") ||
		    !strcmp(name, "--json") || !strcmp(name, "--no-progress")) {
			if (val)
				return fail("%s takes no value", name);
			if (!strcmp(name, "--music"))
				opts.music = 1;
			else if (!strcmp(name, "--speech"))
				opts.music = 0;
			else if (!strcmp(name, "--json"))
				json = 1;
			else
				progress = 0;
			continue;
		}
		if (!val) {
			if (i + 1 >= argc)
				return fail("%s needs a value (see loaxa encode --help)", name);
			val = argv[++i];
		}
		if (!strcmp(name, "-o") || !strcmp(name, "--output")) {
			out = val;
		} else if (!strcmp(name, "--bitrate")) {
			if (parse_int(val, &opts.bitrate_kbps) < 0 || opts.bitrate_kbps < 6 ||
			    opts.bitrate_kbps > 256)
				return fail("--bitrate: \"%s\" is not a bitrate in kbps (6..256)", val);
		} else if (!strcmp(name, "--target-lufs")) {
			if (parse_double(val, &opts.target_lufs) < 0 || opts.target_lufs < -70 ||
			    opts.target_lufs > 0)
				return fail("--target-lufs: \"%s\" is not a loudness in LUFS (-70..0)",
					    val);
		} else if (!strcmp(name, "--true-peak")) {
			if (parse_double(val, &opts.true_peak_dbtp) < 0 ||
			    opts.true_peak_dbtp < -20 || opts.true_peak_dbtp > 0)
				return fail("--true-peak: \"%s\" is not a level in dBTP (-20..0)", val);
		} else if (!strcmp(name, "--title")) {
			opts.title = val;
		} else if (!strcmp(name, "--complexity")) {
			if (parse_int(val, &opts.complexity) < 0 || opts.complexity < 0 ||
			    opts.complexity > 10)
				return fail("--complexity: \"%s\" is not 0..10", val);
		} else if (!strcmp(name, "--max-duration")) {
			if (parse_double(val, &opts.max_duration_s) < 0 || opts.max_duration_s <= 0)
				return fail("--max-duration: \"%s\" is not a number of seconds", val);
		} else if (!strcmp(name, "--spill-after")) {
			/* for tests: keep at most this many seconds of audio in memory */
			if (parse_double(val, &opts.spill_after_s) < 0 || opts.spill_after_s <= 0)
				return fail("--spill-after: \"%s\" is not a number of seconds", val);
		} else {
			return fail("unknown option %s (see loaxa encode --help)", name);
		}
	}
	if (!in)
		return fail("%s", "no input file (usage: loaxa encode IN -o OUT.opus)");
	if (!out)
		return fail("%s", "no output file: add -o OUT.opus");

	opts.progress = progress && isatty(STDERR_FILENO);
	if (import_file(in, out, &opts, &res, err, sizeof(err)) < 0)
		return fail("%s", err);
	if (json) {
		if (print_json(in, out, &res) < 0)
			return fail("%s", "out of memory");
	} else {
		print_human(out, &res);
	}
	if (fflush(stdout) != 0)
		return fail("%s", "cannot write to standard output");
	return 0;
}

int main(int argc, char **argv)
{
	/* the controller's decode worker (worker.h), not for operators */
	if (argc > 1 && strcmp(argv[1], "--worker") == 0)
		return worker_main(argc - 1, argv + 1);
	/* The locale `loaxa` sets before running a command, so the encoder runs
	 * exactly as it did when it was built into loaxa. */
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		setlocale(LC_CTYPE, "");
	return encode(argc, argv);
}
