/*
 * decodeworker.h - start the decode worker (`loaxa-encode --worker`,
 * encode/worker.h) from the controller.
 *
 * The controller links no FFmpeg: whatever decodes an upload, a schedule's
 * source file, stored content streamed live or a relayed URL is this
 * separate program, executed (not merely forked: a fork would keep the key
 * and the database in its memory), with only the descriptors the job needs,
 * an empty environment, and a seccomp filter of its own. The worker is the
 * loaxa-encode next to the running loaxa-controller (/proc/self/exe), so the
 * controller always runs the worker built and installed with it.
 */
#ifndef LOAXA_CTL_DECODEWORKER_H
#define LOAXA_CTL_DECODEWORKER_H

#include <stddef.h>
#include <sys/types.h>

#define CTL_WORKER_PROGRAM "loaxa-encode"

/* The worker's path into path; 0, or -errno with err filled. */
int ctl_worker_path(char *path, size_t len, char *err, size_t errlen);

/*
 * In a forked child: make fds[i] descriptor i (i < nfds; every fds[i] >= 0),
 * close every other descriptor, and exec path with argv (argv[0] is
 * replaced by the program's name) and a clean environment. Never returns
 * (exit status 127 when exec fails).
 */
_Noreturn void ctl_worker_exec(const char *path, char **argv, const int *fds, int nfds);

/*
 * Fork and ctl_worker_exec: the worker's pid, or -errno. fds as above; the
 * caller keeps (and closes) its own copies.
 */
pid_t ctl_worker_spawn(const char *path, char **argv, const int *fds, int nfds);

#endif
