/*
 * test_import.c - the import pipeline's parts against libebur128, and the
 * pipeline itself on a WAV file written here: results, determinism, the
 * content store, errors and what is (not) left on disk.
 */
#include "decode.h"
#include "import.h"
#include "limiter.h"
#include "loudness.h"
#include "pcmstore.h"
#include "pipe.h"
#include "tap.h"
#include "tpscan.h"
#include "util.h"

#include <dirent.h>
#include <ebur128.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RATE 48000

static double db(double x)
{
	return 20 * log10(x);
}

/* Deterministic noise in [-1, 1]. */
static float noise(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return (float)((double)(*s >> 8) / (double)(1u << 23) - 1.0);
}

/*
 * Something like speech for a loudness meter: 4 Hz syllables of a buzzy
 * 150 Hz tone and noise, with short pauses, and a few sharp peaks.
 */
static float *speechlike(size_t n, float level)
{
	float *x = malloc(n * sizeof(float));
	uint32_t s = 12345;
	size_t i;

	for (i = 0; i < n; i++) {
		double t = (double)i / RATE, env = sin(M_PI * fmod(t * 4, 1.0));
		double v = 0.6 * sin(2 * M_PI * 150 * t) + 0.3 * sin(2 * M_PI * 450 * t) +
			   0.2 * noise(&s);

		if (fmod(t, 2.0) > 1.7)
			env = 0; /* a pause */
		if (i % 9600 == 4800)
			v *= 3; /* a plosive */
		x[i] = (float)(level * env * env * v);
	}
	return x;
}

static double ebur128_tp(const float *x, size_t n)
{
	ebur128_state *st = ebur128_init(1, RATE, EBUR128_MODE_TRUE_PEAK);
	double tp = 0;

	ebur128_add_frames_float(st, x, n);
	ebur128_true_peak(st, 0, &tp);
	ebur128_destroy(&st);
	return tp;
}

static double ebur128_lufs(const float *x, size_t n)
{
	ebur128_state *st = ebur128_init(1, RATE, EBUR128_MODE_I);
	double l = 0;

	ebur128_add_frames_float(st, x, n);
	ebur128_loudness_global(st, &l);
	ebur128_destroy(&st);
	return l;
}

static void test_fmt_duration(void)
{
	char b[32];

	CHECK(!strcmp(import_fmt_duration(b, sizeof(b), 0, 0), "0:00"), "0 s is 0:00");
	CHECK(!strcmp(import_fmt_duration(b, sizeof(b), 723, 0), "12:03"), "723 s is 12:03");
	CHECK(!strcmp(import_fmt_duration(b, sizeof(b), 14400, 0), "4:00:00"), "4 h is 4:00:00");
	CHECK(!strcmp(import_fmt_duration(b, sizeof(b), 15000, 0), "4:10:00"),
	      "15000 s is 4:10:00");
	CHECK(!strcmp(import_fmt_duration(b, sizeof(b), 3.21, 1), "0:03.2"),
	      "3.21 s with tenths is 0:03.2");
	CHECK(!strcmp(import_fmt_duration(b, sizeof(b), 3661.05, 1), "1:01:01.1"),
	      "3661.05 s with tenths is 1:01:01.1");
}

static void test_truepeak(void)
{
	size_t n = RATE * 5, i;
	float *x = speechlike(n, 0.5f), *s = malloc(n * sizeof(float));
	double ours, theirs;

	ours = truepeak_of(x, n);
	theirs = ebur128_tp(x, n);
	CHECK(fabs(db(ours) - db(theirs)) < 0.01,
	      "true peak of speech-like audio: ours %.4f dBTP, libebur128 %.4f", db(ours),
	      db(theirs));
	/* a sine at fs/4 with a 45 degree phase: samples at 0.707, peak 1 */
	for (i = 0; i < n; i++)
		s[i] = (float)sin(M_PI / 2 * (double)i + M_PI / 4);
	ours = truepeak_of(s, n);
	theirs = ebur128_tp(s, n);
	CHECK(fabs(db(ours) - db(theirs)) < 0.01 && db(ours) > -0.5,
	      "inter-sample peak of fs/4 sine found: ours %.3f dB, libebur128 %.3f dB",
	      db(ours), db(theirs));
	free(x);
	free(s);
}

static void test_tpscan(void)
{
	size_t n = RATE * 20, off = 0, k;
	float *x = speechlike(n, 0.4f);
	struct tpscan t;
	double ours = 0, theirs = ebur128_tp(x, n);
	uint32_t s = 7;
	int rc = tpscan_init(&t);

	while (rc == 0 && off < n) {
		/* mostly 960-sample frames, sometimes odd sizes, sometimes tiny */
		k = (noise(&s) > 0.8f) ? (size_t)(1 + (noise(&s) + 1) * 2) : 960;
		if (k > n - off)
			k = n - off;
		rc = tpscan_add(&t, x + off, k);
		off += k;
	}
	if (rc == 0)
		rc = tpscan_finish(&t, &ours);
	CHECK(rc == 0 && fabs(db(ours) - db(theirs)) < 0.001,
	      "tpscan gives libebur128's true peak (%.4f vs %.4f dBTP) looking at %llu of "
	      "%llu chunks",
	      db(ours), db(theirs), (unsigned long long)t.measured,
	      (unsigned long long)t.chunks);
	CHECK(t.measured * 4 < t.chunks, "tpscan skips most chunks");
	tpscan_free(&t);
	free(x);
}

static void test_limiter(void)
{
	size_t n = RATE * 4, i, got = 0, k, nout;
	float *x = speechlike(n, 4.0f), *y = malloc((n + LIMITER_LATENCY) * sizeof(float));
	struct limiter *l = malloc(sizeof(*l));
	double in_tp = db(truepeak_of(x, n)), out_tp;
	int same = 1;

	limiter_init(l, -3.0);
	for (i = 0; i < n; i += k) {
		k = n - i < 1000 ? n - i : 1000;
		limiter_process(l, x + i, k, y + got, &nout);
		got += nout;
	}
	limiter_flush(l, y + got, &nout);
	got += nout;
	out_tp = db(truepeak_of(y, got));
	CHECK(got == n, "limiter keeps the length (%zu of %zu samples)", got, n);
	CHECK(in_tp > 3 && out_tp <= -3.0 + 0.05,
	      "limiter holds %.2f dBTP input at %.2f dBTP (ceiling -3)", in_tp, out_tp);
	/* in a pause far from any peak, samples pass unchanged */
	for (i = (size_t)(1.85 * RATE); i < (size_t)(1.9 * RATE); i++)
		same &= y[i] == x[i];
	CHECK(same, "limiter passes quiet audio unchanged");

	/* audio under the ceiling comes out bit for bit */
	for (i = 0; i < n; i++)
		x[i] *= 0.01f;
	limiter_init(l, -1.0);
	limiter_process(l, x, n, y, &got);
	limiter_flush(l, y + got, &nout);
	got += nout;
	same = got == n && memcmp(x, y, n * sizeof(float)) == 0;
	CHECK(same, "limiter leaves audio under the ceiling untouched");
	free(x);
	free(y);
	free(l);
}

/* The output meter against libebur128: fed in uneven pieces, at several
 * levels; silence has no loudness. */
static void test_kmeter(void)
{
	size_t n = RATE * 20, i, k;
	float *x = speechlike(n, 0.5f);
	const float levels[] = { 1.0f, 0.05f, 0.005f };
	struct kmeter km;
	size_t li;

	for (li = 0; li < sizeof(levels) / sizeof(levels[0]); li++) {
		double ours, theirs;

		for (i = 0; i < n; i++)
			x[i] *= li == 0 ? 1.0f : levels[li] / levels[li - 1];
		theirs = ebur128_lufs(x, n);
		kmeter_init(&km);
		for (i = 0; i < n; i += k) {
			k = 1 + (i * 7919) % 6000;
			k = k < n - i ? k : n - i;
			kmeter_add(&km, x + i, k);
		}
		ours = kmeter_loudness(&km);
		CHECK(fabs(ours - theirs) < 0.01, "output meter %.3f LUFS, libebur128 %.3f", ours,
		      theirs);
		kmeter_free(&km);
	}
	memset(x, 0, n * sizeof(float));
	kmeter_init(&km);
	kmeter_add(&km, x, n);
	CHECK(kmeter_loudness(&km) == -HUGE_VAL, "output meter: silence has no loudness");
	kmeter_free(&km);
	free(x);
}

static void test_lmodel(void)
{
	size_t n = RATE * 30, i, got = 0, nout;
	float *x = speechlike(n, 0.3f), *y = malloc((n + LIMITER_LATENCY) * sizeof(float));
	struct limiter *l = malloc(sizeof(*l));
	struct lmodel m;
	double in = ebur128_lufs(x, n), model, real, g = 12.0;
	float gl = (float)pow(10, g / 20);

	lmodel_init(&m);
	lmodel_add(&m, x, n);
	lmodel_finish(&m);
	model = lmodel_loudness(&m, 0, 1000);
	CHECK(fabs(model - in) < 0.05, "loudness model without limiter %.2f, libebur128 %.2f",
	      model, in);
	/* +12 dB into a -2 dBTP limiter: the model predicts the loss */
	for (i = 0; i < n; i++)
		x[i] *= gl;
	limiter_init(l, -2.0);
	limiter_process(l, x, n, y, &got);
	limiter_flush(l, y + got, &nout);
	got += nout;
	real = ebur128_lufs(y, got);
	model = lmodel_loudness(&m, g, -2.0);
	CHECK(fabs(model - real) < 0.2 && in + g - real > 0.5,
	      "after +12 dB and a -2 dBTP limiter: model %.2f LUFS, real %.2f (unlimited %.2f)",
	      model, real, in + g);
	g = lmodel_solve_gain(&m, in, -16, -2.0, 10);
	for (i = 0; i < n; i++)
		x[i] = x[i] / gl * (float)pow(10, g / 20);
	limiter_init(l, -2.0);
	limiter_process(l, x, n, y, &got);
	limiter_flush(l, y + got, &nout);
	got += nout;
	real = ebur128_lufs(y, got);
	CHECK(fabs(real + 16) < 0.2, "solved gain %.2f dB lands at %.2f LUFS (target -16)", g,
	      real);
	lmodel_free(&m);
	free(x);
	free(y);
	free(l);
}

struct pipe_test {
	struct pipe p;
	int sum, bad;
};

static void *pipe_producer(void *arg)
{
	struct pipe_test *t = arg;
	int i;

	for (i = 0; i < 1000; i++)
		if (pipe_put(&t->p, &i, sizeof(i)) < 0)
			break;
	pipe_close(&t->p);
	return NULL;
}

static void *pipe_blocked(void *arg)
{
	struct pipe_test *t = arg;
	int i = 0;

	while (pipe_put(&t->p, &i, sizeof(i)) == 0)
		i++;
	t->bad = i; /* how many went in before the abort */
	return NULL;
}

static void test_pipe(void)
{
	struct pipe_test t;
	pthread_t th;
	size_t len;
	int v, expect = 0, order = 1;

	memset(&t, 0, sizeof(t));
	pipe_init(&t.p, 4, sizeof(int));
	pthread_create(&th, NULL, pipe_producer, &t);
	while (pipe_get(&t.p, &v, sizeof(v), &len) == 1) {
		order &= v == expect++ && len == sizeof(int);
		t.sum += v;
	}
	pthread_join(th, NULL);
	CHECK(order && t.sum == 999 * 1000 / 2, "pipe: 1000 blocks through 4 slots, in order");
	pipe_destroy(&t.p);

	memset(&t, 0, sizeof(t));
	pipe_init(&t.p, 4, sizeof(int));
	pthread_create(&th, NULL, pipe_blocked, &t);
	while (1) {
		pthread_mutex_lock(&t.p.mu);
		v = (int)t.p.count;
		pthread_mutex_unlock(&t.p.mu);
		if (v == 4)
			break;
		usleep(1000);
	}
	pipe_abort(&t.p);
	pthread_join(th, NULL);
	CHECK(t.bad == 4 && pipe_get(&t.p, &v, sizeof(v), &len) == -EPIPE,
	      "pipe: abort wakes a blocked producer; get says -EPIPE");
	pipe_destroy(&t.p);
}

static int dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_pcm_store(const char *dir)
{
	struct pcm_store s;
	size_t n = RATE * 3, i, got, total = 0;
	float *x = speechlike(n, 0.5f), *back = malloc(n * sizeof(float));
	const float *p;
	int same = 1, entries;

	pcm_store_init(&s, dir, RATE); /* spill after 1 s */
	for (i = 0; i < n; i += 1000)
		pcm_store_append(&s, x + i, n - i < 1000 ? n - i : 1000);
	entries = dir_entries(dir);
	CHECK(s.fd >= 0 && entries == 0,
	      "pcm store spills past its limit into an unnamed file (%d names in the dir)",
	      entries);
	pcm_store_finish(&s);
	while (pcm_store_read(&s, &p, 4800, &got) == 0 && got > 0) {
		same &= memcmp(p, x + total, got * sizeof(float)) == 0;
		total += got;
	}
	CHECK(same && total == n, "pcm store reads back what went in (%zu samples)", total);
	CHECK(pcm_store_read_at(&s, 12345, back, 1000) == 0 &&
	      !memcmp(back, x + 12345, 1000 * sizeof(float)),
	      "pcm store reads back from any position");
	pcm_store_free(&s);
	free(x);
	free(back);
}

/* A 16-bit mono WAV of n samples at rate. */
static int write_wav(const char *path, const float *x, size_t n, uint32_t rate)
{
	size_t len = 44 + n * 2, i;
	uint8_t *b = calloc(1, len);
	uint32_t v;
	int rc;

	memcpy(b, "RIFF", 4);
	v = (uint32_t)(len - 8);
	memcpy(b + 4, &v, 4);
	memcpy(b + 8, "WAVEfmt ", 8);
	v = 16;
	memcpy(b + 16, &v, 4);
	b[20] = 1;	/* PCM */
	b[22] = 1;	/* mono */
	memcpy(b + 24, &rate, 4);
	v = rate * 2;
	memcpy(b + 28, &v, 4);
	b[32] = 2;
	b[34] = 16;
	memcpy(b + 36, "data", 4);
	v = (uint32_t)(n * 2);
	memcpy(b + 40, &v, 4);
	for (i = 0; i < n; i++) {
		float f = x[i] > 1 ? 1 : x[i] < -1 ? -1 : x[i];
		int16_t s = (int16_t)lrintf(f * 32767);
		memcpy(b + 44 + 2 * i, &s, 2);
	}
	rc = write_file_atomic(path, b, len, 0644);
	free(b);
	return rc;
}

static void test_import(const char *dir)
{
	char in[512], out[512], out2[512], store[512], path[700], err[512], hex[65];
	size_t n = 44100 * 3;
	float *x = speechlike(n, 0.2f);
	struct import_opts o;
	struct import_result r, r2;
	struct stat st;
	int rc;

	snprintf(in, sizeof(in), "%s/in.wav", dir);
	snprintf(out, sizeof(out), "%s/out/a.opus", dir);
	snprintf(out2, sizeof(out2), "%s/out/b.opus", dir);
	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(path, sizeof(path), "%s/out", dir);
	mkdir(path, 0755);
	write_wav(in, x, n, 44100);

	import_opts_default(&o);
	CHECK(o.target_lufs == -16 && o.true_peak_dbtp == -1 && o.max_duration_s == 14400 &&
	      o.complexity == 10 && !o.music,
	      "defaults: -16 LUFS, -1 dBTP, 4 h, complexity 10, speech");
	rc = import_file(in, out, NULL, &r, err, sizeof(err));
	CHECK(rc == 0, "import_file of a 3 s WAV at 44.1 kHz (%s)", rc ? err : "ok");
	CHECK(fabs(r.duration_s - 3.0) < 0.001, "duration %.4f s", r.duration_s);
	CHECK(fabs(r.output_lufs + 16) <= 0.5 && r.true_peak_dbtp <= -1.0,
	      "output %.2f LUFS, true peak %.2f dBTP", r.output_lufs, r.true_peak_dbtp);
	CHECK(r.bitrate_kbps == 24 && r.input_lufs < -20, "24 kbps, input %.2f LUFS",
	      r.input_lufs);
	CHECK(sha256_file_hex(out, hex) == 0 && !strcmp(hex, r.sha256) &&
	      stat(out, &st) == 0 && (uint64_t)st.st_size == r.bytes,
	      "sha256 and size are those of the file");
	rc = import_file(in, out2, NULL, &r2, err, sizeof(err));
	CHECK(rc == 0 && !strcmp(r.sha256, r2.sha256), "the same input gives the same bytes");
	CHECK(dir_entries(path) == 2, "only the two outputs in the output directory");

	rc = import_to_store(in, store, NULL, &r2, err, sizeof(err));
	snprintf(path, sizeof(path), "%s/%s.opus", store, r2.sha256);
	CHECK(rc == 0 && !r2.existed && stat(path, &st) == 0 && !strcmp(r2.sha256, r.sha256),
	      "import_to_store writes <store>/<sha256>.opus");
	rc = import_to_store(in, store, NULL, &r2, err, sizeof(err));
	CHECK(rc == 0 && r2.existed && dir_entries(store) == 1,
	      "importing it again finds it there (existed), nothing else in the store");

	/* the decode worker's form: descriptors in and out, no paths */
	{
		char fdout[PATH_MAX];
		int ifd = open(in, O_RDONLY), ofd, p[2];
		struct decoder *d = NULL;
		const float *pcm;
		size_t got = 0, k;
		pid_t pid;

		snprintf(fdout, sizeof(fdout), "%s/out/fd.opus", dir);
		write_file_atomic(fdout, "stale bytes", 11, 0644); /* replaced: truncated first */
		ofd = open(fdout, O_RDWR);
		rc = import_fd(ifd, ofd, dir, NULL, &r2, err, sizeof(err));
		CHECK(rc == 0 && !strcmp(r2.sha256, r.sha256) && sha256_file_hex(fdout, hex) == 0 &&
		      !strcmp(hex, r.sha256), "import_fd writes the same bytes into the given fd (%s)",
		      rc ? err : "ok");
		close(ifd);
		close(ofd);
		/* a pipe: read as a stream, no seeking back */
		if (pipe(p) == 0 && (pid = fork()) == 0) {
			char buf[65536];
			ssize_t nr;
			int fd = open(in, O_RDONLY);

			close(p[0]);
			while ((nr = read(fd, buf, sizeof(buf))) > 0)
				if (write(p[1], buf, (size_t)nr) != nr)
					break;
			_exit(0);
		}
		close(p[1]);
		rc = decoder_open_fd(&d, p[0], 60, err, sizeof(err));
		while (rc == 0 && decoder_read(d, &pcm, &k, err, sizeof(err)) == 1)
			got += k;
		CHECK(rc == 0 && labs((long)got - 3 * IMPORT_RATE) < 480,
		      "decoder_open_fd on a pipe decodes the 3 s WAV (%zu samples)", got);
		decoder_close(&d);
		close(p[0]);
		waitpid(-1, NULL, 0);
	}

	/* errors */
	snprintf(path, sizeof(path), "%s/empty.wav", dir);
	write_file_atomic(path, "", 0, 0644);
	o.name = "empty.wav";
	rc = import_to_store(path, store, &o, &r2, err, sizeof(err));
	CHECK(rc < 0 && !strcmp(err, "empty.wav: file is empty"),
	      "empty file: \"%s\" (the name given in opts)", err);
	CHECK(dir_entries(store) == 1, "nothing left in the store after the error");
	o.name = NULL;
	o.bitrate_kbps = 3;
	rc = import_file(in, out, &o, &r2, err, sizeof(err));
	CHECK(rc == -EINVAL && strstr(err, "bitrate 3 kbps"), "bad bitrate: \"%s\"", err);
	o.bitrate_kbps = 0;
	o.max_duration_s = 2;
	rc = import_file(in, out, &o, &r2, err, sizeof(err));
	CHECK(rc == -EFBIG && strstr(err, "0:03 is longer than the 0:02 maximum"),
	      "too long: \"%s\"", err);
	CHECK(sha256_file_hex(out, hex) == 0 && !strcmp(hex, r.sha256),
	      "a failed import leaves the existing output as it was");
	o.max_duration_s = 14400;
	snprintf(path, sizeof(path), "%s/no/such/dir/x.opus", dir);
	rc = import_file(in, path, &o, &r2, err, sizeof(err));
	CHECK(rc < 0 && strstr(err, "no/such/dir/x.opus: cannot write"),
	      "missing output directory: \"%s\"", err);
	free(x);
}

int main(void)
{
	char dir[] = "/tmp/loaxa-test-import.XXXXXX", cmd[128];
	char sub[64];

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_fmt_duration();
	test_truepeak();
	test_tpscan();
	test_limiter();
	test_lmodel();
	test_kmeter();
	test_pipe();
	snprintf(sub, sizeof(sub), "%s/spill", dir);
	mkdir(sub, 0755);
	test_pcm_store(sub);
	test_import(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	TAP_EXIT();
}
