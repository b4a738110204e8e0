/*
 * import.c - see import.h. The pipeline, step by step:
 *
 *  1. check the options and that the input is a non-empty regular file;
 *  2. pass 1: decode it (decode.c) to mono 48 kHz float into a pcm_store
 *     (memory, or an unnamed temp file past opts->spill_after_s) while
 *     the loudness model (loudness.c) keeps peaks and K-weighted energies
 *     per 2 ms; the input's integrated loudness is the model's;
 *  3. a trial encode of the most limited excerpts (probe.c) measures the
 *     codec's loudness loss and peak overshoot on this material; the
 *     limiter's ceiling leaves room for that overshoot and the model finds
 *     the gain that lands on the target after limiter and codec;
 *  4. pass 2, three threads: gain + true-peak limiter (limiter.c) ->
 *     libopus with the peak guard (peakguard.c: each packet decoded at
 *     once, a frame that decodes over the ceiling encoded again, lowered)
 *     here, Ogg pages (oggopus.c) to an unnamed temp file in the output
 *     directory, hashed with SHA-256 as it goes -> the decoded frames
 *     measured: integrated loudness (loudness.h) and libebur128's true
 *     peak (tpscan.c),
 *     so what we report and guarantee is what players play;
 *  5. the measured miss is corrected with the OpusHead output gain (exact,
 *     applied by every decoder), as far as the ceiling allows; a result
 *     within the promise is kept, only one that misses it makes pass 2 run
 *     again;
 *  6. fsync, link the file into the directory under a temp name, rename it to
 *     its final name, fsync the directory.
 *
 * LOAXA_IMPORT_DEBUG=1 prints what each step decided and took on stderr.
 */
#include "import.h"
#include "decode.h"
#include "limiter.h"
#include "loudness.h"
#include "oggopus.h"
#include "pcmstore.h"
#include "peakguard.h"
#include "pipe.h"
#include "probe.h"
#include "tpscan.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ebur128.h>
#include <opus/opus.h>
#include <sodium.h>

#define BLOCK 4800                  /* 100 ms: pass 2 works in these */
#define MAX_ATTEMPTS 3
/* Corrections up to this are made with the OpusHead output gain. */
#define HEADER_GAIN_MAX_DB 1.5
/* At most this much gain on top of (target - input) to make up for what
 * the limiter takes. */
#define MAX_MAKEUP_DB 10.0
/* What we verify against, under the ceiling: room for other meters
 * (FFmpeg's ebur128 filter oversamples differently from libebur128). */
#define VERIFY_MARGIN_DB 0.2
/* The peak guard (peakguard.h) holds the decoded frames this much under
 * that: its interpolator and libebur128's agree to a few hundredths. */
#define GUARD_MARGIN_DB 0.05
/* The codec takes a little loudness off (band limit, quantisation): the
 * gain aims this much higher. Measured on speech at 24 kbps: 0.25-0.3 LU. */
#define CODEC_LOSS_SPEECH_LU 0.25
#define CODEC_LOSS_MUSIC_LU 0.25
/* A result this close to the target is kept: the promise is +-1 LU, and
 * 0.2 LU stays for meters that measure a little differently from
 * libebur128 (FFmpeg's ebur128 filter, other decoders). Encoding again to
 * come closer than that costs a whole encode and deeper limiting. */
#define LOUDNESS_ACCEPT_LU 0.8
/* The probe (probe.h): 3 % of the file, 4 to 20 s of excerpts. */
#define PROBE_SHARE 0.03
#define PROBE_MIN_S 4.0
#define PROBE_MAX_S 20.0
/* The probe sees a few percent of the frames at the ceiling; the file's
 * worst one comes out a little higher than the probe's worst. */
#define OVERSHOOT_TAIL_DB 0.25
/* The limiter's margin under the ceiling stays within these. Past the
 * maximum the peak guard (peakguard.h) encodes the frames that overshoot
 * again, lowered: a frame costs an encode or two more, but the voice is not
 * limited for the sake of a few noise-like bursts. */
#define OVERSHOOT_MIN_DB 0.3
#define OVERSHOOT_MAX_DB 1.0
#define PROGRESS_MIN_S 60.0

/* ------------------------------------------------------------ messages */

static void set_err(char *err, size_t errlen, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void set_err(char *err, size_t errlen, const char *name, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || errlen == 0)
		return;
	n = snprintf(err, errlen, "%s: ", name);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	/* one line, whatever a library or a file name put in it */
	for (char *p = err; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

char *import_fmt_duration(char *buf, size_t len, double seconds, int tenths)
{
	long long t;

	if (!(seconds >= 0) || seconds > 1e9)
		seconds = 0;
	if (tenths) {
		t = (long long)(seconds * 10 + 0.5);
		if (t >= 36000)
			snprintf(buf, len, "%lld:%02lld:%02lld.%lld", t / 36000, t / 600 % 60,
				 t / 10 % 60, t % 10);
		else
			snprintf(buf, len, "%lld:%02lld.%lld", t / 600, t / 10 % 60, t % 10);
	} else {
		t = (long long)(seconds + 0.5);
		if (t >= 3600)
			snprintf(buf, len, "%lld:%02lld:%02lld", t / 3600, t / 60 % 60, t % 60);
		else
			snprintf(buf, len, "%lld:%02lld", t / 60, t % 60);
	}
	return buf;
}

void import_opts_default(struct import_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->target_lufs = -16.0;
	opts->true_peak_dbtp = -1.0;
	opts->bitrate_kbps = 0;
	opts->music = 0;
	opts->complexity = 10;
	opts->max_duration_s = 14400;
	opts->spill_after_s = 900;
}

/* ------------------------------------------------------------ progress */

struct progress {
	int on;
	const char *name;
	int64_t last_us;
	int shown;
};

static void progress_show(struct progress *p, const char *what, double done_s,
			  double total_s)
{
	char a[32], b[32];
	int64_t now = mono_us();

	if (!p->on || now - p->last_us < 200000)
		return;
	p->last_us = now;
	if (total_s > 0) {
		int pct = (int)(100.0 * done_s / total_s);

		fprintf(stderr, "\r%s %s: %d%% (%s of %s)\033[K", what, p->name,
			pct > 100 ? 100 : pct, import_fmt_duration(a, sizeof(a), done_s, 0),
			import_fmt_duration(b, sizeof(b), total_s, 0));
	} else {
		fprintf(stderr, "\r%s %s: %s\033[K", what, p->name,
			import_fmt_duration(a, sizeof(a), done_s, 0));
	}
	p->shown = 1;
}

static void progress_clear(struct progress *p)
{
	if (p->shown)
		fputs("\r\033[K", stderr);
	p->shown = 0;
}

/* ------------------------------------------------------------ output file */

struct out_file {
	int fd;
	int unnamed;             /* O_TMPFILE: no name until finished */
	char tmp[PATH_MAX];      /* named temp file (fallback), "" when none */
	char dir[PATH_MAX];
	crypto_hash_sha256_state sha;
	uint64_t bytes;
	int werr;                /* errno of a failed write */
};

static int dir_of(char *dir, size_t len, const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return str_copy(dir, len, ".");
	if (slash == path)
		return str_copy(dir, len, "/");
	if ((size_t)(slash - path) >= len)
		return -ENAMETOOLONG;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	return 0;
}

static unsigned tmp_counter;

static int unique_tmp_name(char *buf, size_t len, const char *dir)
{
	unsigned n = __atomic_add_fetch(&tmp_counter, 1, __ATOMIC_RELAXED);

	if (snprintf(buf, len, "%s/.loaxa-import.tmp.%ld.%u", dir, (long)getpid(), n) >=
	    (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * The output starts as an unnamed file (O_TMPFILE) in the directory it will
 * end up in: whatever happens to us, no half-written file is ever visible or
 * left behind. File systems without O_TMPFILE get a named temp file that
 * every error path removes.
 */
static int out_open(struct out_file *o, const char *dir)
{
	int rc;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	if ((rc = str_copy(o->dir, sizeof(o->dir), dir)) < 0)
		return rc;
	o->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
	if (o->fd >= 0) {
		o->unnamed = 1;
		return 0;
	}
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	if ((rc = unique_tmp_name(o->tmp, sizeof(o->tmp), dir)) < 0)
		return rc;
	o->fd = open(o->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (o->fd < 0) {
		o->tmp[0] = '\0';
		return -errno;
	}
	return 0;
}

static int out_restart(struct out_file *o)
{
	o->bytes = 0;
	o->werr = 0;
	crypto_hash_sha256_init(&o->sha);
	if (ftruncate(o->fd, 0) < 0 || lseek(o->fd, 0, SEEK_SET) < 0)
		return -errno;
	return 0;
}

static void out_discard(struct out_file *o)
{
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	if (o->tmp[0])
		unlink(o->tmp);
	o->tmp[0] = '\0';
}

/* Each Ogg page, hashed as it goes to disk. */
static int out_write_cb(void *user, const unsigned char *ptr, opus_int32 len)
{
	struct out_file *o = user;
	int rc;

	if (len <= 0)
		return 0;
	rc = write_all(o->fd, ptr, (size_t)len);
	if (rc < 0) {
		o->werr = -rc;
		return 1;
	}
	crypto_hash_sha256_update(&o->sha, ptr, (unsigned long long)len);
	o->bytes += (uint64_t)len;
	return 0;
}

/* No /proc to link an O_TMPFILE through: copy it into a named temp file. */
static int copy_to_named(struct out_file *o)
{
	char buf[65536];
	off_t off = 0;
	int fd, rc = 0;

	if ((rc = unique_tmp_name(o->tmp, sizeof(o->tmp), o->dir)) < 0)
		return rc;
	fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		o->tmp[0] = '\0';
		return -errno;
	}
	for (;;) {
		ssize_t n = pread(o->fd, buf, sizeof(buf), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		if ((rc = write_all(fd, buf, (size_t)n)) < 0)
			break;
		off += n;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

/*
 * Give the finished file its name. keep_existing (content store): when a
 * file of that name exists already it holds the same bytes (the name is
 * their hash), so ours is dropped and *existed set.
 */
static int out_commit(struct out_file *o, const char *final, int keep_existing,
		      int *existed)
{
	struct stat st;
	char proc[64];
	int rc;

	*existed = 0;
	if (fsync(o->fd) < 0)
		return -errno;
	if (keep_existing && stat(final, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size == o->bytes) {
		*existed = 1;
		out_discard(o);
		return 0;
	}
	if (o->unnamed) {
		if ((rc = unique_tmp_name(o->tmp, sizeof(o->tmp), o->dir)) < 0)
			return rc;
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", o->fd);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, o->tmp, AT_SYMLINK_FOLLOW) < 0) {
			o->tmp[0] = '\0';
			if ((rc = copy_to_named(o)) < 0)
				return rc;
		}
	}
	if (rename(o->tmp, final) < 0)
		return -errno;
	o->tmp[0] = '\0';
	close(o->fd);
	o->fd = -1;
	return fsync_dir_of(final);
}

/* ------------------------------------------------------------ threads */

/*
 * Three threads share pass 2 (see pipe.h): the limiter feeds the encoder
 * (the calling thread), whose packets feed the verification.
 */

#define PIPE_BLOCKS 16

/*
 * Measures what a player will play: the frames peakguard decoded as it
 * accepted their packets come here, without the first pre-skip samples and
 * anything past the input's length, exactly as the Ogg granule positions
 * tell a player to cut them; their integrated loudness (kmeter, BS.1770
 * as libebur128 measures it, at a third of its cost) and libebur128's true
 * peak (tpscan) in a thread of their own.
 */
struct verify {
	struct pipe blocks;
	pthread_t thread;
	int running;
	struct kmeter meter;     /* integrated loudness (loudness.h) */
	struct tpscan tp;        /* true peak */
	int tp_ok;
	uint64_t preskip, total, pos;
	int err;                 /* set by the verification thread */
	int queue_err;           /* set by the encoding thread */
	float batch[BLOCK];      /* being filled (encoding thread) */
	size_t batch_len;
	float rbuf[BLOCK];       /* being measured (verification thread) */
};

static void *verify_main(void *arg)
{
	struct verify *v = arg;
	size_t len, n;

	while (pipe_get(&v->blocks, v->rbuf, sizeof(v->rbuf), &len) == 1) {
		n = len / sizeof(float);
		if (!v->err &&
		    (kmeter_add(&v->meter, v->rbuf, n) < 0 ||
		     tpscan_add(&v->tp, v->rbuf, n) < 0))
			v->err = -ENOMEM;
	}
	return NULL;
}

static void verify_flush(struct verify *v)
{
	int rc;

	if (v->batch_len == 0 || v->queue_err)
		return;
	rc = pipe_put(&v->blocks, v->batch, v->batch_len * sizeof(float));
	if (rc < 0)
		v->queue_err = rc;
	v->batch_len = 0;
}

/* n decoded samples, in order (encoding thread). */
static void verify_add(struct verify *v, const float *pcm, size_t n)
{
	uint64_t start = v->pos, end = v->pos + n, a, b;

	v->pos = end;
	a = start > v->preskip ? start : v->preskip;
	b = end < v->preskip + v->total ? end : v->preskip + v->total;
	while (a < b) {
		size_t k = (size_t)(b - a) < BLOCK - v->batch_len ? (size_t)(b - a)
								    : BLOCK - v->batch_len;

		memcpy(v->batch + v->batch_len, pcm + (a - start), k * sizeof(float));
		v->batch_len += k;
		a += k;
		if (v->batch_len == BLOCK)
			verify_flush(v);
	}
}

static int verify_start(struct verify *v, uint64_t preskip, uint64_t total)
{
	v->preskip = preskip;
	v->total = total;
	kmeter_init(&v->meter);
	v->tp_ok = tpscan_init(&v->tp) == 0;
	if (!v->tp_ok || pipe_init(&v->blocks, PIPE_BLOCKS, sizeof(v->batch)) < 0)
		return -ENOMEM;
	if (pthread_create(&v->thread, NULL, verify_main, v) != 0)
		return -EAGAIN;
	v->running = 1;
	return 0;
}

static void verify_stop(struct verify *v, int ok)
{
	if (v->running) {
		if (ok) {
			verify_flush(v);
			pipe_close(&v->blocks);
		} else {
			pipe_abort(&v->blocks);
		}
		pthread_join(v->thread, NULL);
		v->running = 0;
	}
}

static void verify_free(struct verify *v)
{
	verify_stop(v, 0);
	pipe_destroy(&v->blocks);
	kmeter_free(&v->meter);
	if (v->tp_ok)
		tpscan_free(&v->tp);
	v->tp_ok = 0;
}

/* Reads pass 1's audio back, applies the gain and the limiter. */
struct producer {
	struct pipe blocks;
	pthread_t thread;
	int running;
	struct pcm_store *store;
	float gain;
	int err;                 /* reading the store failed */
	double min_gain;
	struct limiter lim;
	float in[BLOCK], out[BLOCK];
};

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	const float *x;
	size_t n, nout, i;
	int rc;

	pcm_store_rewind(p->store);
	for (;;) {
		rc = pcm_store_read(p->store, &x, BLOCK, &n);
		if (rc < 0) {
			p->err = rc;
			break;
		}
		if (n == 0)
			break;
		for (i = 0; i < n; i++)
			p->in[i] = x[i] * p->gain;
		limiter_process(&p->lim, p->in, n, p->out, &nout);
		if (nout > 0 && pipe_put(&p->blocks, p->out, nout * sizeof(float)) < 0)
			return NULL; /* the encoder gave up */
	}
	if (!p->err) {
		limiter_flush(&p->lim, p->out, &nout);
		if (nout > 0 && pipe_put(&p->blocks, p->out, nout * sizeof(float)) < 0)
			return NULL;
	}
	p->min_gain = p->lim.min_gain;
	pipe_close(&p->blocks);
	return NULL;
}

static int producer_start(struct producer *p, struct pcm_store *store, double gain_db,
			  double limit_db)
{
	p->store = store;
	p->gain = (float)pow(10.0, gain_db / 20.0);
	limiter_init(&p->lim, limit_db);
	if (pipe_init(&p->blocks, PIPE_BLOCKS, sizeof(p->out)) < 0)
		return -ENOMEM;
	if (pthread_create(&p->thread, NULL, producer_main, p) != 0)
		return -EAGAIN;
	p->running = 1;
	return 0;
}

static void producer_free(struct producer *p)
{
	if (p->running) {
		pipe_abort(&p->blocks);
		pthread_join(p->thread, NULL);
		p->running = 0;
	}
	pipe_destroy(&p->blocks);
}

/* ------------------------------------------------------------ the pipeline */

struct job {
	const char *in, *name;
	int in_fd;               /* import_fd: read this instead of in */
	struct import_opts o;
	int bitrate_kbps;
	struct opus_settings set;
	struct pcm_store store;
	struct lmodel lm;
	uint64_t total;          /* samples */
	double input_lufs;
	struct progress prog;
	struct out_file out;
	/* result of the last pass 2 */
	double gain_db, out_lufs, out_tp_db, min_gain;
	int encodes;             /* pass 2 runs */
	double probe_s;          /* audio the probe encoded */
	uint64_t guard_lowered;  /* frames the peak guard lowered */
	float limited[BLOCK];
	float frame[PEAKGUARD_FRAME];
};

/*
 * Pass 1's loudness model in a thread of its own: the K-weighting and the
 * per-2 ms true peak (the 4x interpolator) are about half of pass 1, and
 * on a second core they run beside FFmpeg's decoding and the store.
 */
struct modeler {
	struct pipe blocks;
	pthread_t thread;
	int running;
	struct lmodel *lm;
	int err;                 /* set by the model's thread */
	float buf[BLOCK];
};

static void *modeler_main(void *arg)
{
	struct modeler *m = arg;
	size_t len;

	while (pipe_get(&m->blocks, m->buf, sizeof(m->buf), &len) == 1)
		if (!m->err && lmodel_add(m->lm, m->buf, len / sizeof(float)) < 0)
			m->err = -ENOMEM;
	return NULL;
}

static int modeler_start(struct modeler *m, struct lmodel *lm)
{
	m->lm = lm;
	if (pipe_init(&m->blocks, PIPE_BLOCKS, sizeof(m->buf)) < 0)
		return -ENOMEM;
	if (pthread_create(&m->thread, NULL, modeler_main, m) != 0) {
		pipe_destroy(&m->blocks);
		return -EAGAIN;
	}
	m->running = 1;
	return 0;
}

/* n samples, in order, in blocks the pipe holds. */
static int modeler_add(struct modeler *m, const float *x, size_t n)
{
	size_t k;
	int rc;

	for (; n > 0; x += k, n -= k) {
		k = n < BLOCK ? n : BLOCK;
		if ((rc = pipe_put(&m->blocks, x, k * sizeof(float))) < 0)
			return rc;
	}
	return 0;
}

/* ok: every block was given, wait for the model; else give up. 0 or -errno. */
static int modeler_stop(struct modeler *m, int ok)
{
	if (!m->running)
		return 0;
	if (ok)
		pipe_close(&m->blocks);
	else
		pipe_abort(&m->blocks);
	pthread_join(m->thread, NULL);
	pipe_destroy(&m->blocks);
	m->running = 0;
	return m->err;
}

/*
 * Pass 1: decode everything into the store; the loudness model (its own
 * thread) collects its peaks and K-weighted energies, and the input's
 * integrated loudness is the model's without gain or limiter (BS.1770
 * gating on the same energies: within 0.01 LU of libebur128,
 * tests/unit/test_import.c). A libebur128 pass beside it filtered every
 * sample a second time: 2-3 % of an encode for a number the model has
 * already.
 */
static int pass1(struct job *j, char *err, size_t errlen)
{
	struct decoder *dec = NULL;
	struct modeler *m = NULL;
	const float *pcm;
	char why[400];
	double expected;
	size_t n;
	int rc;

	if (j->in_fd >= 0)
		rc = decoder_open_fd(&dec, j->in_fd, j->o.max_duration_s, why, sizeof(why));
	else
		rc = decoder_open(&dec, j->in, j->o.max_duration_s, why, sizeof(why));
	if (rc < 0) {
		set_err(err, errlen, j->name, "%s", why);
		goto out;
	}
	m = calloc(1, sizeof(*m));
	rc = m ? modeler_start(m, &j->lm) : -ENOMEM;
	if (rc < 0) {
		set_err(err, errlen, j->name, "cannot start measuring the loudness: %s",
			strerror(-rc));
		goto out;
	}
	expected = decoder_expected_s(dec);
	if (expected > 0)
		pcm_store_reserve(&j->store, (uint64_t)(expected * IMPORT_RATE) + IMPORT_RATE);
	for (;;) {
		rc = decoder_read(dec, &pcm, &n, why, sizeof(why));
		if (rc < 0) {
			set_err(err, errlen, j->name, "%s", why);
			goto out;
		}
		if (rc == 0)
			break;
		if (modeler_add(m, pcm, n) < 0) {
			set_err(err, errlen, j->name, "out of memory");
			rc = -ENOMEM;
			goto out;
		}
		rc = pcm_store_append(&j->store, pcm, n);
		if (rc < 0) {
			set_err(err, errlen, j->name, "cannot keep the decoded audio: %s",
				strerror(-rc));
			goto out;
		}
		if (j->o.progress) {
			double done = (double)decoder_samples(dec) / IMPORT_RATE;

			j->prog.on = expected > PROGRESS_MIN_S || done > PROGRESS_MIN_S;
			progress_show(&j->prog, "reading", done, expected);
		}
	}
	if (modeler_stop(m, 1) < 0) {
		set_err(err, errlen, j->name, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	j->total = decoder_samples(dec);
	if (j->total == 0) {
		set_err(err, errlen, j->name, "no audio in the file");
		rc = -ENODATA;
		goto out;
	}
	lmodel_finish(&j->lm);
	rc = pcm_store_finish(&j->store);
	if (rc < 0) {
		set_err(err, errlen, j->name, "cannot keep the decoded audio: %s",
			strerror(-rc));
		goto out;
	}
	j->input_lufs = lmodel_loudness(&j->lm, 0, 1000);
	rc = 0;
out:
	if (m)
		modeler_stop(m, 0);
	free(m);
	decoder_close(&dec);
	return rc;
}

/*
 * How far under the ceiling the limiter holds: room for the codec. Opus adds
 * its quantisation noise to the flattened peaks; over a long limited speech
 * file at 24 kbps the worst peak comes out about 1.1 dB above the limiter's
 * ceiling (a handful of one-second probes saw only a third of that: it is
 * the rare worst frame that counts). Less noise at higher bitrates, less
 * overshoot. Used when there is nothing to probe; frames that still come
 * out over the ceiling are encoded again by the peak guard.
 */
static double limiter_margin(int kbps)
{
	if (kbps <= 32)
		return 1.4;
	if (kbps <= 64)
		return 1.2;
	return 0.8;
}

/*
 * A serial number for the Ogg stream that depends only on the audio and the
 * settings, so that importing the same file twice gives the same bytes (and
 * the same content id) instead of a random serial each time.
 */
static int stream_serial(const struct job *j, double gain_db)
{
	struct {
		uint64_t total;
		double lufs, gain, target, ceiling;
		int kbps, music, complexity;
	} key;
	uint8_t h[8];

	memset(&key, 0, sizeof(key));
	key.total = j->total;
	key.lufs = isfinite(j->input_lufs) ? j->input_lufs : 0;
	key.gain = gain_db;
	key.target = j->o.target_lufs;
	key.ceiling = j->o.true_peak_dbtp;
	key.kbps = j->bitrate_kbps;
	key.music = j->o.music;
	key.complexity = j->o.complexity;
	crypto_generichash(h, sizeof(h), (const uint8_t *)&key, sizeof(key), NULL, 0);
	return (int)((uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
		     (uint32_t)(h[3] & 0x7f) << 24);
}

/* Each Ogg page to the output file (hashed as it goes). */
static int ogg_write_cb(void *user, const unsigned char *p, size_t n)
{
	return out_write_cb(user, p, (opus_int32)n);
}

/* CPU seconds of a clock (LOAXA_IMPORT_DEBUG's figures). */
static double cpu_s(clockid_t clock)
{
	struct timespec ts;

	if (clock_gettime(clock, &ts) < 0)
		return NAN;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What peakguard accepts goes into the Ogg stream and to the verification. */
struct emit_ctx {
	struct oggopus ogg;
	struct verify *v;
	int err;
};

static int emit_cb(void *user, const unsigned char *packet, int len, const float *pcm,
		   int last)
{
	struct emit_ctx *c = user;
	int rc = oggopus_packet(&c->ogg, packet, (size_t)len, PEAKGUARD_FRAME, last);

	if (rc < 0) {
		c->err = rc;
		return rc;
	}
	verify_add(c->v, pcm, PEAKGUARD_FRAME);
	return 0;
}

/*
 * Pass 2: limiter thread -> peakguard encoder (here) -> verification thread.
 * guard_db: what no decoded frame may exceed. out_name is the output's name
 * for messages about writing.
 */
static int pass2(struct job *j, double gain_db, double limit_db, double guard_db,
		 const char *out_name, char *err, size_t errlen)
{
	const int debug = getenv("LOAXA_IMPORT_DEBUG") != NULL;
	struct producer *p = NULL;
	struct verify *v = NULL;
	struct peakguard *g = NULL;
	struct emit_ctx *c = NULL;
	char enc_tag[64], *title_tag = NULL;
	const char *tags[2];
	size_t ntags = 0, fill = 0;
	uint64_t done = 0, fed = 0, need;
	int64_t t0 = mono_us();
	double tp = 0;
	size_t len, n, k;
	int rc, ogg_started = 0;

	j->gain_db = gain_db;
	rc = out_restart(&j->out);
	if (rc < 0) {
		set_err(err, errlen, out_name, "cannot write: %s", strerror(-rc));
		return rc;
	}
	p = calloc(1, sizeof(*p));
	v = calloc(1, sizeof(*v));
	g = calloc(1, sizeof(*g));
	c = calloc(1, sizeof(*c));
	if (!p || !v || !g || !c) {
		set_err(err, errlen, j->name, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	c->v = v;
	rc = peakguard_init(g, &j->set, guard_db, emit_cb, c);
	if (rc < 0) {
		set_err(err, errlen, j->name, "cannot set up the Opus encoder: %s", strerror(-rc));
		goto out;
	}
	snprintf(enc_tag, sizeof(enc_tag), "ENCODER=loaxa %s", LOAXA_VERSION);
	tags[ntags++] = enc_tag;
	if (j->o.title && j->o.title[0]) {
		size_t tl = strlen(j->o.title) + 7;

		title_tag = malloc(tl);
		if (!title_tag) {
			set_err(err, errlen, j->name, "out of memory");
			rc = -ENOMEM;
			goto out;
		}
		snprintf(title_tag, tl, "TITLE=%s", j->o.title);
		tags[ntags++] = title_tag;
	}
	rc = oggopus_start(&c->ogg, stream_serial(j, gain_db), (unsigned)peakguard_lookahead(g),
			   j->total, opus_get_version_string(), tags, ntags, ogg_write_cb,
			   &j->out);
	ogg_started = 1;
	if (rc < 0)
		goto write_failed;
	rc = verify_start(v, (uint64_t)peakguard_lookahead(g), j->total);
	if (rc < 0) {
		set_err(err, errlen, j->name, "cannot start verifying: %s", strerror(-rc));
		goto out;
	}
	rc = producer_start(p, &j->store, gain_db, limit_db);
	if (rc < 0) {
		set_err(err, errlen, j->name, "cannot start the limiter: %s", strerror(-rc));
		goto out;
	}
	while ((rc = pipe_get(&p->blocks, j->limited, sizeof(j->limited), &len)) == 1) {
		n = len / sizeof(float);
		for (k = 0; k < n;) {
			size_t m = n - k < PEAKGUARD_FRAME - fill ? n - k : PEAKGUARD_FRAME - fill;

			memcpy(j->frame + fill, j->limited + k, m * sizeof(float));
			fill += m;
			k += m;
			if (fill == PEAKGUARD_FRAME) {
				if ((rc = peakguard_frame(g, j->frame)) < 0)
					goto enc_failed;
				fill = 0;
				fed += PEAKGUARD_FRAME;
			}
		}
		done += n;
		progress_show(&j->prog, "encoding", (double)done / IMPORT_RATE,
			      (double)j->total / IMPORT_RATE);
	}
	pthread_join(p->thread, NULL);
	p->running = 0;
	if (p->err) {
		set_err(err, errlen, j->name, "cannot read back the decoded audio: %s",
			strerror(-p->err));
		rc = p->err;
		goto out;
	}
	if (done != j->total) {
		set_err(err, errlen, j->name, "internal error: the limiter lost samples");
		rc = -EIO;
		goto out;
	}
	/* the encoder's lookahead: silence after the end until the decoder
	 * has given back every input sample, in whole frames */
	need = j->total + (uint64_t)peakguard_lookahead(g);
	while (fed + fill < need || fill != 0) {
		memset(j->frame + fill, 0, (PEAKGUARD_FRAME - fill) * sizeof(float));
		fill = 0;
		if ((rc = peakguard_frame(g, j->frame)) < 0)
			goto enc_failed;
		fed += PEAKGUARD_FRAME;
	}
	if ((rc = peakguard_finish(g)) < 0)
		goto enc_failed;
	if (debug)
		fprintf(stderr,
			"import: encoded in %.3f s; peak guard: %llu of %llu frames lowered "
			"(deepest %.2f dB), %llu encoded again, %llu still over\n",
			(double)(mono_us() - t0) / 1e6, (unsigned long long)g->st.lowered,
			(unsigned long long)g->st.frames, 20 * log10(g->st.min_gain),
			(unsigned long long)g->st.redone, (unsigned long long)g->st.over);
	verify_stop(v, 1);
	if (debug)
		fprintf(stderr,
			"import: verified after %.3f s; CPU so far: this thread %.2f s, the "
			"process %.2f s (on two idle cores the wall time follows this thread's)\n",
			(double)(mono_us() - t0) / 1e6, cpu_s(CLOCK_THREAD_CPUTIME_ID),
			cpu_s(CLOCK_PROCESS_CPUTIME_ID));
	if (v->err || v->queue_err) {
		set_err(err, errlen, j->name, "cannot verify the encoded audio: %s",
			strerror(-(v->err ? v->err : v->queue_err)));
		rc = -EIO;
		goto out;
	}
	j->out_lufs = kmeter_loudness(&v->meter);
	if (tpscan_finish(&v->tp, &tp) < 0) {
		set_err(err, errlen, j->name, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	if (debug)
		fprintf(stderr, "import: true peak: libebur128 looked at %llu of %llu chunks\n",
			(unsigned long long)v->tp.measured, (unsigned long long)v->tp.chunks);
	j->out_tp_db = tp > 0 ? 20 * log10(tp) : -HUGE_VAL;
	/* the limiter's and the guard's lowering, both at their deepest: no
	 * sample was lowered more than that */
	j->min_gain = p->min_gain * g->st.min_gain;
	j->guard_lowered = g->st.lowered;
	rc = 0;
	goto out;

enc_failed:
	if (!(c->err || j->out.werr)) {
		set_err(err, errlen, j->name, "encoding failed: %s", strerror(-rc));
		rc = -EIO;
		goto out;
	}
write_failed:
	if (j->out.werr) {
		set_err(err, errlen, out_name, "cannot write: %s", strerror(j->out.werr));
		rc = -j->out.werr;
	} else {
		set_err(err, errlen, out_name, "cannot write: %s", strerror(-rc));
	}
out:
	if (p)
		producer_free(p);
	if (v)
		verify_free(v);
	if (g)
		peakguard_free(g);
	if (c && ogg_started)
		oggopus_free(&c->ogg);
	free(title_tag);
	free(p);
	free(v);
	free(g);
	free(c);
	return rc;
}

/* Ogg page checksum: CRC-32, polynomial 0x04c11db7, no reflection. */
static uint32_t ogg_crc(const uint8_t *p, size_t n)
{
	uint32_t crc = 0;
	size_t i;
	int b;

	for (i = 0; i < n; i++) {
		crc ^= (uint32_t)p[i] << 24;
		for (b = 0; b < 8; b++)
			crc = crc & 0x80000000u ? crc << 1 ^ 0x04c11db7u : crc << 1;
	}
	return crc;
}

/*
 * Set the output gain of the OpusHead (RFC 7845 5.1: every decoder applies
 * it) and hash the file again. The first page holds only the 19-byte
 * OpusHead, so the patch is two bytes and the page checksum.
 */
static int out_set_header_gain(struct out_file *o, int q8)
{
	uint8_t page[47], buf[65536];
	off_t off = 0;
	uint32_t crc;

	if (pread(o->fd, page, sizeof(page), 0) != (ssize_t)sizeof(page))
		return -EIO;
	if (memcmp(page, "OggS", 4) != 0 || page[26] != 1 || page[27] != 19 ||
	    memcmp(page + 28, "OpusHead", 8) != 0)
		return -EPROTO;
	page[44] = (uint8_t)((unsigned)q8 & 0xff);
	page[45] = (uint8_t)(((unsigned)q8 >> 8) & 0xff);
	memset(page + 22, 0, 4);
	crc = ogg_crc(page, sizeof(page));
	page[22] = (uint8_t)crc;
	page[23] = (uint8_t)(crc >> 8);
	page[24] = (uint8_t)(crc >> 16);
	page[25] = (uint8_t)(crc >> 24);
	if (pwrite(o->fd, page, sizeof(page), 0) != (ssize_t)sizeof(page))
		return errno ? -errno : -EIO;
	crypto_hash_sha256_init(&o->sha);
	for (;;) {
		ssize_t n = pread(o->fd, buf, sizeof(buf), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		crypto_hash_sha256_update(&o->sha, buf, (unsigned long long)n);
		off += n;
	}
	return (uint64_t)off == o->bytes ? 0 : -EIO;
}

/*
 * The codec's loudness loss and peak overshoot on this material, from a
 * trial encode of its most limited excerpts (probe.h): the limiter then
 * holds the peaks as far under the ceiling as the codec will push them
 * back up, and no further, and the gain aims that much over the target.
 * Returns the limiter's ceiling; *loss gets the loss. Without a usable
 * probe (silence, nothing near the ceiling, out of memory) the fixed
 * guesses stay.
 */
static double predict_codec(struct job *j, double limit, double *loss)
{
	const int debug = getenv("LOAXA_IMPORT_DEBUG") != NULL;
	const double verify_at = j->o.true_peak_dbtp - VERIFY_MARGIN_DB;
	double secs = (double)j->total / IMPORT_RATE, budget = secs * PROBE_SHARE, g0, over;
	struct probe_result pr;
	int64_t t0 = mono_us();
	int rc;

	if (!isfinite(j->input_lufs))
		return limit;
	if (budget < PROBE_MIN_S)
		budget = PROBE_MIN_S;
	if (budget > PROBE_MAX_S)
		budget = PROBE_MAX_S;
	g0 = lmodel_solve_gain(&j->lm, j->input_lufs, j->o.target_lufs + *loss, limit,
			       MAX_MAKEUP_DB);
	rc = probe_codec(&j->store, &j->lm, j->total, g0, limit, &j->set, budget, &pr);
	j->probe_s = pr.seconds;
	if (debug)
		fprintf(stderr,
			"import: probe (%.3f s): %d excerpts, %.1f s of audio at gain %+.2f dB, "
			"limit %.2f dBTP: %d of %d frames at the ceiling (%llu in the file), "
			"worst %+.2f dB over it, loss %.2f LU%s\n",
			(double)(mono_us() - t0) / 1e6, pr.windows, pr.seconds, g0, limit, pr.risky,
			pr.frames, (unsigned long long)pr.file_risky, pr.seen_db, pr.loss_lu,
			rc < 0 ? " (failed: fixed guesses)" : "");
	if (rc < 0 || pr.windows == 0 || pr.frames == 0)
		return limit;
	if (pr.loss_lu > -0.5 && pr.loss_lu < 2)
		*loss = pr.loss_lu;
	if (pr.risky == 0)
		return limit; /* no peak near the ceiling: the codec cannot push one over */
	over = pr.overshoot_db + OVERSHOOT_TAIL_DB;
	if (over < OVERSHOOT_MIN_DB)
		over = OVERSHOOT_MIN_DB;
	if (over > OVERSHOOT_MAX_DB)
		over = OVERSHOOT_MAX_DB;
	return verify_at - over;
}

/*
 * Pass 2, normally once. The loudness model picks the gain that lands on
 * the target after the limiter (plus what the probe says the codec takes
 * off); the limiter holds under the ceiling by what the probe says the
 * codec adds. Then the measured result is corrected with the OpusHead
 * output gain - exact, no second encode - up or down, as far as the true
 * peak allows. A result within the promise (LOUDNESS_ACCEPT_LU of the
 * target, the ceiling held) is kept; only one that misses it (a codec
 * overshoot far beyond the probe's) runs pass 2 again, with the codec's
 * loss and overshoot now measured on the whole file.
 */
static int encode_verified(struct job *j, const char *out_name, char *err, size_t errlen)
{
	const int debug = getenv("LOAXA_IMPORT_DEBUG") != NULL;
	const double ceiling = j->o.true_peak_dbtp, target = j->o.target_lufs;
	const double verify_at = ceiling - VERIFY_MARGIN_DB;
	double limit = ceiling - limiter_margin(j->bitrate_kbps);
	double loss = j->o.music ? CODEC_LOSS_MUSIC_LU : CODEC_LOSS_SPEECH_LU;
	double gain = 0, aim = target;
	int attempt, rc;

	limit = predict_codec(j, limit, &loss);
	for (attempt = 1;; attempt++) {
		const int last = attempt >= MAX_ATTEMPTS;
		const double prev_limit = limit;
		double raw_lufs, raw_tp, q;
		int q8 = 0;

		if (isfinite(j->input_lufs)) {
			aim = target + loss;
			gain = lmodel_solve_gain(&j->lm, j->input_lufs, aim, limit, MAX_MAKEUP_DB);
		}
		rc = pass2(j, gain, limit, verify_at - GUARD_MARGIN_DB, out_name, err, errlen);
		if (rc < 0)
			return rc;
		j->encodes = attempt;
		raw_lufs = j->out_lufs;
		raw_tp = j->out_tp_db;

		/* the header gain: towards the target, never over the ceiling */
		q = isfinite(raw_lufs) && isfinite(j->input_lufs) ? target - raw_lufs : 0;
		if (isfinite(raw_tp) && raw_tp + q > verify_at)
			q = verify_at - raw_tp;
		if (q > HEADER_GAIN_MAX_DB)
			q = HEADER_GAIN_MAX_DB;
		if (q < -HEADER_GAIN_MAX_DB && !last)
			q = 0; /* far over: encode again with a lower limit instead */
		q8 = (int)floor(q * 256);
		if (q8 < -32768)
			q8 = -32768;
		if (q8 != 0 && (!isfinite(raw_tp) || raw_tp + q8 / 256.0 <= verify_at)) {
			rc = out_set_header_gain(&j->out, q8);
			if (rc < 0) {
				set_err(err, errlen, out_name, "cannot write: %s", strerror(-rc));
				return rc;
			}
			j->out_tp_db = raw_tp + q8 / 256.0;
			j->out_lufs = raw_lufs + q8 / 256.0;
		} else {
			q8 = 0;
		}
		if (debug)
			fprintf(stderr,
				"import: attempt %d: gain %+.2f dB, limit %.2f dBTP -> %.2f LUFS, "
				"true peak %.2f dBTP; header gain %+.2f dB -> %.2f LUFS, %.2f dBTP "
				"(deepest limiting %.2f dB)\n",
				attempt, gain, limit, raw_lufs, raw_tp, q8 / 256.0, j->out_lufs,
				j->out_tp_db, 20 * log10(j->min_gain));
		if (!(j->out_tp_db > verify_at) &&
		    (last || !isfinite(j->out_lufs) || !isfinite(j->input_lufs) ||
		     fabs(j->out_lufs - target) <= LOUDNESS_ACCEPT_LU))
			return 0; /* a loudness miss is a pity; a peak miss is not allowed */
		if (last) {
			set_err(err, errlen, j->name,
				"cannot hold the true peak at %.1f dBTP (it came out at %.2f)",
				ceiling, j->out_tp_db);
			return -ERANGE;
		}
		/* learn what the codec did: its loudness loss, its overshoot */
		if (isfinite(raw_lufs) && aim - raw_lufs > -1 && aim - raw_lufs < 3)
			loss = aim - raw_lufs;
		if (raw_tp > verify_at - 0.1)
			limit -= raw_tp - (verify_at - 0.1);
		if (limit < ceiling - 12)
			limit = ceiling - 12;
		/* the same settings would give the same file: when the gain is
		 * at its maximum already, this is as loud as the ceiling lets
		 * this material be */
		if (!(j->out_tp_db > verify_at) && fabs(limit - prev_limit) < 0.05 &&
		    fabs(lmodel_solve_gain(&j->lm, j->input_lufs, target + loss, limit,
					   MAX_MAKEUP_DB) - gain) < 0.05)
			return 0;
	}
}

static int check_input(const char *in, int fd, const char *name, char *err, size_t errlen)
{
	struct stat st;

	if (fd >= 0 ? fstat(fd, &st) < 0 : stat(in, &st) < 0) {
		if (errno == ENOENT)
			set_err(err, errlen, name, "no such file");
		else
			set_err(err, errlen, name, "cannot read it: %s", strerror(errno));
		return -errno;
	}
	if (S_ISDIR(st.st_mode)) {
		set_err(err, errlen, name, "is a directory, not an audio file");
		return -EISDIR;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, errlen, name, "not a regular file");
		return -EINVAL;
	}
	if (st.st_size == 0) {
		set_err(err, errlen, name, "file is empty");
		return -ENODATA;
	}
	if (fd < 0 && access(in, R_OK) < 0) {
		set_err(err, errlen, name, "cannot read it: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int check_opts(const struct import_opts *o, const char *name, char *err,
		      size_t errlen)
{
	if (!(o->target_lufs >= -70 && o->target_lufs <= 0)) {
		set_err(err, errlen, name, "target loudness %.1f LUFS is outside -70..0",
			o->target_lufs);
		return -EINVAL;
	}
	if (!(o->true_peak_dbtp >= -20 && o->true_peak_dbtp <= 0)) {
		set_err(err, errlen, name, "true peak ceiling %.1f dBTP is outside -20..0",
			o->true_peak_dbtp);
		return -EINVAL;
	}
	if (o->bitrate_kbps != 0 && (o->bitrate_kbps < 6 || o->bitrate_kbps > 256)) {
		set_err(err, errlen, name, "bitrate %d kbps is outside 6..256", o->bitrate_kbps);
		return -EINVAL;
	}
	if (o->complexity < 0 || o->complexity > 10) {
		set_err(err, errlen, name, "Opus complexity %d is outside 0..10", o->complexity);
		return -EINVAL;
	}
	if (!(o->max_duration_s > 0)) {
		set_err(err, errlen, name, "maximum duration must be positive");
		return -EINVAL;
	}
	return 0;
}

static void fill_result(const struct job *j, struct import_result *res)
{
	uint8_t digest[32];
	crypto_hash_sha256_state sha = j->out.sha;

	memset(res, 0, sizeof(*res));
	crypto_hash_sha256_final(&sha, digest);
	hex_encode(res->sha256, digest, sizeof(digest));
	res->duration_s = (double)j->total / IMPORT_RATE;
	res->input_lufs = j->input_lufs;
	res->output_lufs = j->out_lufs;
	res->true_peak_dbtp = j->out_tp_db;
	res->gain_db = j->gain_db;
	res->bytes = j->out.bytes;
	res->bitrate_kbps = j->bitrate_kbps;
	res->encodes = j->encodes;
	res->limiting_db = j->min_gain > 0 ? 20 * log10(j->min_gain) : 0;
	res->probe_s = j->probe_s;
}

/*
 * Both entry points: final is the exact output path (import_file) or NULL
 * for the store, where the name comes from the hash.
 */
static int run(const char *in, int in_fd, int out_fd, const char *out_dir, const char *final,
	       const struct import_opts *opts, struct import_result *res, char *err,
	       size_t errlen)
{
	struct job *j;
	struct import_result r;
	char store_path[PATH_MAX];
	const char *out_name;
	int rc, existed = 0, to_store = final == NULL;
	int64_t t0;

	if (err && errlen)
		err[0] = '\0';
	if (sodium_init() < 0) {
		set_err(err, errlen, in, "libsodium does not start");
		return -EIO;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		set_err(err, errlen, in, "out of memory");
		return -ENOMEM;
	}
	j->out.fd = -1;
	if (opts)
		j->o = *opts;
	else
		import_opts_default(&j->o);
	j->in = in;
	j->in_fd = in_fd;
	j->name = j->o.name && j->o.name[0] ? j->o.name : in;
	j->bitrate_kbps = j->o.bitrate_kbps ? j->o.bitrate_kbps : j->o.music ? 48 : 24;
	j->set.kbps = j->bitrate_kbps;
	j->set.music = j->o.music;
	j->set.complexity = j->o.complexity;
	j->prog.name = j->name;
	out_name = final ? final : out_dir;
	if (j->o.spill_after_s <= 0)
		j->o.spill_after_s = 900;
	pcm_store_init(&j->store, out_dir, (uint64_t)(j->o.spill_after_s * IMPORT_RATE));
	lmodel_init(&j->lm);

	if ((rc = check_opts(&j->o, j->name, err, errlen)) < 0 ||
	    (rc = check_input(in, in_fd, j->name, err, errlen)) < 0)
		goto out;
	if (out_fd >= 0) {
		/* import_fd: the caller's file, which the caller names */
		memset(&j->out, 0, sizeof(j->out));
		j->out.fd = out_fd;
		rc = out_restart(&j->out);
	} else {
		rc = out_open(&j->out, out_dir);
	}
	if (rc < 0) {
		set_err(err, errlen, out_name, "cannot write: %s", strerror(-rc));
		goto out;
	}
	t0 = mono_us();
	if ((rc = pass1(j, err, errlen)) < 0)
		goto out;
	if (getenv("LOAXA_IMPORT_DEBUG"))
		fprintf(stderr, "import: pass 1 took %.3f s\n", (double)(mono_us() - t0) / 1e6);
	j->prog.on = j->o.progress && (double)j->total / IMPORT_RATE > PROGRESS_MIN_S;
	if ((rc = encode_verified(j, out_name, err, errlen)) < 0)
		goto out;
	fill_result(j, &r);
	if (out_fd >= 0) {
		j->out.fd = -1; /* the caller's to close */
		if (fsync(out_fd) < 0) {
			rc = -errno;
			set_err(err, errlen, out_name, "cannot write: %s", strerror(-rc));
			goto out;
		}
		if (res)
			*res = r;
		goto out;
	}
	if (!final) {
		if (snprintf(store_path, sizeof(store_path), "%s/%s.opus", out_dir, r.sha256) >=
		    (int)sizeof(store_path)) {
			set_err(err, errlen, out_dir, "path too long");
			rc = -ENAMETOOLONG;
			goto out;
		}
		final = store_path;
	}
	rc = out_commit(&j->out, final, to_store, &existed);
	if (rc < 0) {
		set_err(err, errlen, final, "cannot write: %s", strerror(-rc));
		goto out;
	}
	r.existed = existed;
	if (res)
		*res = r;
out:
	progress_clear(&j->prog);
	if (out_fd >= 0)
		j->out.fd = -1;
	out_discard(&j->out);
	pcm_store_free(&j->store);
	lmodel_free(&j->lm);
	free(j);
	return rc;
}

int import_file(const char *in, const char *out, const struct import_opts *opts,
		struct import_result *res, char *err, size_t errlen)
{
	char dir[PATH_MAX];

	if (dir_of(dir, sizeof(dir), out) < 0) {
		set_err(err, errlen, out, "path too long");
		return -ENAMETOOLONG;
	}
	return run(in, -1, -1, dir, out, opts, res, err, errlen);
}

int import_to_store(const char *in, const char *store_dir, const struct import_opts *opts,
		    struct import_result *res, char *err, size_t errlen)
{
	int rc = mkdir_p(store_dir, 0755);

	if (rc < 0) {
		set_err(err, errlen, store_dir, "cannot create the content directory: %s",
			strerror(-rc));
		return rc;
	}
	return run(in, -1, -1, store_dir, NULL, opts, res, err, errlen);
}

int import_fd(int in_fd, int out_fd, const char *spill_dir, const struct import_opts *opts,
	      struct import_result *res, char *err, size_t errlen)
{
	const char *name = opts && opts->name && opts->name[0] ? opts->name : "input";

	return run(name, in_fd, out_fd, spill_dir, "output", opts, res, err, errlen);
}
