/*
 * log.c - see log.h.
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/time.h>

static const char *log_prog = "loaxa";
static int log_verbosity;
static int log_journal;

/*
 * systemd sets JOURNAL_STREAM to "<device>:<inode>" of the stream it connected
 * to stderr. The variable is inherited by every child, so it only means
 * "stderr is the journal" when it still names our stderr (systemd.exec(5));
 * otherwise a tool started from a service but writing to a file or terminal
 * would print "<6>" prefixes instead of timestamps.
 */
static int stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(2, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *progname, int verbose)
{
	log_prog = progname ? progname : "loaxa";
	log_verbosity = verbose;
	log_journal = stderr_is_journal();
}

void log_set_prog(const char *progname)
{
	log_prog = progname ? progname : "loaxa";
}

int log_verbose(void)
{
	return log_verbosity;
}

/*
 * One write per line so lines from several processes sharing a terminal or a
 * test log do not interleave mid-line.
 */
static void log_vemit(int prio, const char *tag, const char *fmt, va_list ap,
		      const char *suffix)
{
	char msg[2048], line[2300];
	int n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_journal) {
		n = snprintf(line, sizeof(line), "<%d>%s%s%s\n", prio, tag, msg,
			     suffix ? suffix : "");
	} else {
		struct timeval tv;
		struct tm tm;
		char ts[32];

		gettimeofday(&tv, NULL);
		localtime_r(&tv.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
		n = snprintf(line, sizeof(line), "%s.%03ld %s: %s%s%s\n", ts,
			     (long)(tv.tv_usec / 1000), log_prog, tag, msg,
			     suffix ? suffix : "");
	}
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1, line[n - 1] = '\n';
	fwrite(line, 1, (size_t)n, stderr);
	fflush(stderr);
}

#define LOG_FN(name, prio, tag, cond)                  \
	void name(const char *fmt, ...)                \
	{                                              \
		va_list ap;                            \
		if (!(cond))                           \
			return;                        \
		va_start(ap, fmt);                     \
		log_vemit(prio, tag, fmt, ap, NULL);   \
		va_end(ap);                            \
	}

LOG_FN(log_debug, 7, "debug: ", log_verbosity > 0)
LOG_FN(log_info, 6, "", 1)
LOG_FN(log_warnx, 4, "warning: ", 1)
LOG_FN(log_errorx, 3, "error: ", 1)

void log_warn(const char *fmt, ...)
{
	char suffix[256];
	va_list ap;

	snprintf(suffix, sizeof(suffix), ": %s", strerror(errno));
	va_start(ap, fmt);
	log_vemit(4, "warning: ", fmt, ap, suffix);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	char suffix[256];
	va_list ap;

	snprintf(suffix, sizeof(suffix), ": %s", strerror(errno));
	va_start(ap, fmt);
	log_vemit(2, "fatal: ", fmt, ap, suffix);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(2, "fatal: ", fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
