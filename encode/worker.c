/*
 * worker.c - the decode worker, see worker.h.
 */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libavformat/avformat.h>
#include <libavutil/dict.h>
#include <seccomp.h>

#include "decode.h"
#include "import.h"
#include "util.h"

#define FD_OUT_FILE 3
#define SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"

static int fail(int status, const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "loaxa-encode worker: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	return status;
}

/* ------------------------------------------------------------ seccomp */

enum filter_kind {
	FILTER_DECODE,  /* decode (and encode): memory, threads, the fds it has */
	FILTER_IMPORT,  /* + unnamed spill files (O_TMPFILE) */
	FILTER_FETCH,   /* + reading and writing the socket it has */
};

/* What decoding, resampling, encoding and their threads call, and no more. */
static const int allowed[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(lseek), SCMP_SYS(fstat),
	SCMP_SYS(close), SCMP_SYS(ftruncate), SCMP_SYS(fsync), SCMP_SYS(fdatasync),
	SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(mprotect),
	SCMP_SYS(brk), SCMP_SYS(madvise), SCMP_SYS(futex), SCMP_SYS(set_robust_list),
	SCMP_SYS(rseq), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigaction),
	SCMP_SYS(sigaltstack), SCMP_SYS(exit), SCMP_SYS(exit_group),
	SCMP_SYS(sched_getaffinity), SCMP_SYS(sched_yield), SCMP_SYS(getpid),
	SCMP_SYS(gettid), SCMP_SYS(getrandom), SCMP_SYS(clock_gettime),
	SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep), SCMP_SYS(restart_syscall),
	/* glibc's qsort asks for the RAM size before sorting over 1 KB (the
	 * import's probe sorts one entry per second of audio): without it an
	 * upload over ~45 s killed the worker */
	SCMP_SYS(sysinfo),
};

/* The network calls of a fetcher that already holds its connection. */
static const int allowed_fetch[] = {
	SCMP_SYS(recvfrom), SCMP_SYS(sendto), SCMP_SYS(recvmsg), SCMP_SYS(sendmsg),
	SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(wait4), SCMP_SYS(shutdown),
};

/*
 * Anything not listed kills the process. open/openat answer EACCES instead
 * (libraries probe files, e.g. glibc reads /sys for the number of CPUs, and
 * take no for an answer), except openat with O_TMPFILE in import: it makes
 * an unnamed file that nobody can link, so it reveals nothing.
 */
static int install_filter(enum filter_kind kind)
{
	scmp_filter_ctx f = seccomp_init(SCMP_ACT_KILL_PROCESS);
	size_t i;
	int rc = 0;

	if (!f)
		return -ENOMEM;
	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]) && rc == 0; i++)
		rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, allowed[i], 0);
	if (kind == FILTER_FETCH)
		for (i = 0; i < sizeof(allowed_fetch) / sizeof(allowed_fetch[0]) && rc == 0; i++)
			rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, allowed_fetch[i], 0);
	/* threads, never processes: clone only with CLONE_THREAD; clone3's flags
	 * sit in memory a filter cannot read, so glibc is told to use clone */
	if (rc == 0)
		rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	if (rc == 0)
		rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	/* fstat(fd) is newfstatat(fd, "", AT_EMPTY_PATH): no stat of paths */
	if (rc == 0)
		rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(newfstatat), 1,
				      SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH));
	if (rc == 0)
		rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
				      SCMP_A1(SCMP_CMP_LE, F_SETFL));
	if (rc == 0 && kind == FILTER_IMPORT) {
		rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
				      SCMP_A2(SCMP_CMP_MASKED_EQ, __O_TMPFILE, __O_TMPFILE));
		if (rc == 0)
			rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 1,
					      SCMP_A2(SCMP_CMP_MASKED_EQ, __O_TMPFILE, 0));
	} else if (rc == 0) {
		rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 0);
	}
	if (rc == 0)
		rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(open), 0);
	/* FFmpeg's log asks whether stderr is a terminal (LOAXA_FFMPEG_LOG) */
	if (rc == 0)
		rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOTTY), SCMP_SYS(ioctl), 0);
	/* no_new_privs: set by seccomp_load (the default of SCMP_FLTATR_CTL_NNP) */
	if (rc == 0)
		rc = seccomp_load(f);
	seccomp_release(f);
	return rc;
}

/* ------------------------------------------------------------ modes */

/* Decode fd 0 to s16 mono 48 kHz on fd 1 until the end or a closed pipe. */
static int pcm_loop(double max_s)
{
	struct decoder *d = NULL;
	char why[256];
	int16_t buf[8192];
	int rc;

	if (decoder_open_fd(&d, STDIN_FILENO, max_s, why, sizeof(why)) < 0)
		return fail(1, "%s%s", why, "");
	for (;;) {
		const float *p;
		size_t n = 0, i, k;

		rc = decoder_read(d, &p, &n, why, sizeof(why));
		if (rc <= 0)
			break;
		while (n > 0) {
			k = n < 8192 ? n : 8192;
			for (i = 0; i < k; i++) {
				float v = p[i] * 32767.0f;

				buf[i] = (int16_t)(v > 32767.0f ? 32767 : v < -32768.0f ? -32768 : v);
			}
			if (write_all(STDOUT_FILENO, buf, k * sizeof(int16_t)) < 0) {
				decoder_close(&d);
				return 0; /* the session ended: the pipe is closed */
			}
			p += k;
			n -= k;
		}
	}
	decoder_close(&d);
	return rc < 0 ? fail(1, "%s%s", why, "") : 0;
}

static int mode_pcm(double max_s)
{
	if (install_filter(FILTER_DECODE) < 0)
		return fail(1, "%s%s", "cannot install the seccomp filter", "");
	return pcm_loop(max_s);
}

/*
 * A relay: connect (DNS, TCP, TLS with the certificate verified, the HTTP
 * exchange) before any filter, then split: the decoder keeps only a pipe of
 * the stream's bytes and fd 1; the fetcher keeps the socket and the pipe.
 */
static int mode_url(const char *url, const char *ca_file, double max_s)
{
	AVIOContext *io = NULL;
	AVDictionary *o = NULL;
	uint8_t buf[16384];
	char e[128];
	int p[2], ret, status = 0, rc = 0;
	pid_t pid;

	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return fail(2, "relay of %s: %s", url, "only http:// and https:// streams");
	av_log_set_level(getenv("LOAXA_FFMPEG_LOG") ? AV_LOG_WARNING : AV_LOG_QUIET);
	av_dict_set(&o, "protocol_whitelist", "http,https,tcp,tls", 0);
	av_dict_set(&o, "rw_timeout", "10000000", 0); /* us: a dead server ends the relay */
	av_dict_set(&o, "tls_verify", "1", 0);
	av_dict_set(&o, "ca_file", ca_file, 0);
	ret = avio_open2(&io, url, AVIO_FLAG_READ, NULL, &o);
	av_dict_free(&o);
	if (ret < 0) {
		if (av_strerror(ret, e, sizeof(e)) < 0)
			snprintf(e, sizeof(e), "error %d", ret);
		return fail(2, "relay of %s: cannot open the stream: %s", url, e);
	}
	if (pipe(p) < 0)
		return fail(1, "relay of %s: %s", url, strerror(errno));
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return fail(1, "relay of %s: %s", url, strerror(errno));
	if (pid == 0) {
		/* the decoder: stream bytes on fd 0, PCM on fd 1, stderr; nothing else */
		if (dup2(p[0], STDIN_FILENO) < 0)
			_exit(1);
		close_range(3, ~0U, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(mode_pcm(max_s));
	}
	close(p[0]);
	close(STDIN_FILENO);  /* the controller gives a url worker no input */
	close(STDOUT_FILENO); /* only the decoder writes PCM */
	if (install_filter(FILTER_FETCH) < 0)
		return fail(1, "%s%s", "cannot install the seccomp filter", "");
	for (;;) {
		int n = avio_read_partial(io, buf, sizeof(buf));

		if (n == AVERROR_EOF || n == 0)
			break;
		if (n < 0) {
			if (av_strerror(n, e, sizeof(e)) < 0)
				snprintf(e, sizeof(e), "error %d", n);
			fail(1, "relay of %s: %s", url, e);
			rc = 1;
			break;
		}
		if (write_all(p[1], buf, (size_t)n) < 0)
			break; /* the decoder is done */
	}
	close(p[1]);
	avio_closep(&io);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		rc = 1;
	return rc;
}

static int mode_import(struct import_opts *opts, const char *spill_dir)
{
	struct import_outcome out;

	memset(&out, 0, sizeof(out));
	if (install_filter(FILTER_IMPORT) < 0)
		return fail(1, "%s%s", "cannot install the seccomp filter", "");
	out.rc = import_fd(STDIN_FILENO, FD_OUT_FILE, spill_dir, opts, &out.res, out.err,
			   sizeof(out.err));
	if (out.rc < 0 && !out.err[0])
		snprintf(out.err, sizeof(out.err), "%s: %s", opts->name ? opts->name : "input",
			 strerror(-out.rc));
	if (write_all(STDOUT_FILENO, &out, sizeof(out)) < 0)
		return 1;
	return 0;
}

static int num(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

/* argv[0] is "--worker", argv[1] the mode; options follow. */
int worker_main(int argc, char **argv)
{
	struct import_opts opts;
	const char *mode = argc > 1 ? argv[1] : "", *url = NULL, *spill = "/tmp";
	const char *ca = SYSTEM_CA;
	double v, max_s = 24.0 * 3600;
	int i, first = 2, rc;

	import_opts_default(&opts);
	opts.progress = 0;
	if (strcmp(mode, "url") == 0) {
		if (argc < 3)
			return fail(2, "%s%s", "url needs a URL", "");
		url = argv[2];
		first = 3;
	}
	for (i = first; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--music") == 0) {
			opts.music = 1;
			continue;
		}
		if (!val)
			return fail(2, "%s needs a value%s", a, "");
		i++;
		if (strcmp(a, "--name") == 0)
			opts.name = val;
		else if (strcmp(a, "--title") == 0)
			opts.title = val;
		else if (strcmp(a, "--spill-dir") == 0)
			spill = val;
		else if (strcmp(a, "--ca-file") == 0)
			ca = val;
		else if (strcmp(a, "--target-lufs") == 0 && num(val, -70, 0, &v) == 0)
			opts.target_lufs = v;
		else if (strcmp(a, "--true-peak") == 0 && num(val, -20, 0, &v) == 0)
			opts.true_peak_dbtp = v;
		else if (strcmp(a, "--bitrate") == 0 && num(val, 6, 256, &v) == 0)
			opts.bitrate_kbps = (int)v;
		else if (strcmp(a, "--max-duration") == 0 && num(val, 1, 86400, &v) == 0)
			opts.max_duration_s = max_s = v;
		else
			return fail(2, "bad option %s %s", a, val);
	}
	/* a broken pipe ends the worker quietly (the controller stopped reading) */
	signal(SIGPIPE, SIG_DFL);
	if (strcmp(mode, "import") == 0)
		rc = mode_import(&opts, spill);
	else if (strcmp(mode, "pcm") == 0)
		rc = mode_pcm(max_s);
	else if (url)
		rc = mode_url(url, ca, max_s);
	else
		return fail(2, "unknown mode \"%s\" (import, pcm, url)%s", mode, "");
	/*
	 * _exit, not exit: past the filter, exit handlers may need what it
	 * forbids (LeakSanitizer's check at exit in the sanitizer build clones
	 * a tracer); the worker's memory goes with the process anyway.
	 */
	fflush(stdout);
	fflush(stderr);
	_exit(rc);
}
