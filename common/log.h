/*
 * log.h - logging for the loaxa daemons and tools.
 *
 * One line per event on stderr. Under systemd (JOURNAL_STREAM set) each line
 * carries a "<N>" priority prefix so journald files it at the right level;
 * on a terminal it carries a local timestamp instead. Messages are written
 * for operators: say what happened and to what, not which function failed.
 */
#ifndef LOAXA_LOG_H
#define LOAXA_LOG_H

#include <stdarg.h>

void log_init(const char *progname, int verbose);
int log_verbose(void);
/* The name at the head of every line from now on (log_init's progname, kept:
 * the node simulator names the instance whose part is running). */
void log_set_prog(const char *progname);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_warn appends ": <strerror(errno)>"; log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
