/*
 * imports.h - run the import pipeline without blocking the loop.
 *
 * Encoding an hour of audio takes tens of seconds; the controller must keep
 * answering MQTT and the API meanwhile. Each import runs in the decode
 * worker (`loaxa-encode --worker import`, decodeworker.h): a forked child
 * opens the input and a temp file in the content store, then execs the
 * worker with those two descriptors and the result pipe only; the worker
 * (no key, no database, seccomp) writes the Ogg Opus file and its outcome
 * (a fixed-size struct) into the pipe, and exits. The controller then links
 * the file into the store under its hash. The parent polls the pipe and reaps the child on
 * SIGCHLD (signalfd); when both have happened the job's callback runs in
 * the loop. A child that crashes (a decoder bug on a hostile file) costs
 * that one import, not the controller. At most CTL_IMPORTS_RUNNING run at
 * once; further jobs wait in order.
 */
#ifndef LOAXA_CTL_IMPORTS_H
#define LOAXA_CTL_IMPORTS_H

#include <limits.h>
#include <poll.h>
#include <sys/types.h>

#include "import.h"

struct ctl;

#define CTL_IMPORTS_RUNNING 2

struct ctl_import_outcome {
	int rc;                    /* 0 or -errno */
	char err[512];             /* the importer's one-line message */
	struct import_result res;
};

typedef void (*ctl_import_done_fn)(struct ctl *c, void *arg,
				   const struct ctl_import_outcome *out);

struct ctl_import_job {
	struct ctl_import_job *next;
	pid_t pid;                 /* 0 while queued */
	int fd;                    /* read end of the child's pipe; -1 when done */
	int reaped;
	int status;                /* from waitpid */
	size_t got;
	struct ctl_import_outcome out;
	char in_path[PATH_MAX];
	char out_tmp[PATH_MAX + 64]; /* the worker's output file, until named */
	char name[256];            /* the file's name as the operator knows it */
	char title[256];
	int music;
	char *text;                /* speak this (espeak-ng -v vi) instead of in_path */
	ctl_import_done_fn done;
	void *arg;
	int pollfd_index;
};

struct ctl_imports {
	struct ctl_import_job *jobs; /* running first, then queued, in order */
	int running;
};

/* Queue an import of in_path. The callback runs exactly once. */
int ctl_imports_submit(struct ctl *c, const char *in_path, const char *name,
		       const char *title, int music, ctl_import_done_fn done, void *arg);

/*
 * Queue the import of Vietnamese text: the worker speaks it with
 * espeak-ng -v vi into a WAV under the controller's tmp dir, then imports
 * that like any file (same loudness, same encoder), and removes the WAV.
 */
int ctl_imports_submit_text(struct ctl *c, const char *text, const char *name,
			    const char *title, ctl_import_done_fn done, void *arg);

/*
 * Record a finished import (out->rc == 0) in the content table under title,
 * and read back the stored row (an existing id keeps its first title).
 * Returns 0 or -errno; *existed says whether it was already there.
 */
struct ctl_content_row;
int ctl_imports_record(struct ctl *c, const struct ctl_import_outcome *out, const char *title,
		       struct ctl_content_row *row, int *existed);

int ctl_imports_pollfds(struct ctl *c, struct pollfd *pfds, int max);
void ctl_imports_handle(struct ctl *c, const struct pollfd *pfds);
/* SIGCHLD arrived: reap what has exited. */
void ctl_imports_reap(struct ctl *c);
/* Shutdown: kill and reap every child; callbacks run with -ECANCELED. */
void ctl_imports_stop(struct ctl *c);

#endif
