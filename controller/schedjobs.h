/*
 * schedjobs.h - schedule requests as jobs: check and apply schedule files,
 * store a one-off announcement, and the drafts of both (approval.h).
 *
 * The files come as text (the controller opens no file an operator names;
 * schedfile.h) and are parsed in a worker thread (every error
 * file:line:field; libconfig needs seconds for a large file and the loop
 * answers emergencies). The audio they name is known by the SHA-256 of its
 * bytes: what was imported before (POST /v1/content remembers the hash of
 * every upload) is used, what was not is asked for ("upload" in the
 * answer; the client uploads it and asks again); text is spoken by
 * espeak-ng -v vi and imported, then the whole set is checked against
 * zones, nodes, allowed hours and conflicts. apply stores the set and the
 * files as sent in ONE transaction (all files or nothing) and re-plans at
 * once; a request that waits for an approver is kept as a draft instead.
 *
 * Owns: struct sched_job and its life (parse thread, imports, checks,
 * store or draft, the answer), the parser threads' eventfd.
 * Must not: decode HTTP routes or query arguments (schedapi.h), build or
 * publish plans (scheduler.h: it only asks for a re-plan), hold SQL
 * (schedstore.h), or touch loop state from a parser thread.
 */
#ifndef LOAXA_CTL_SCHEDJOBS_H
#define LOAXA_CTL_SCHEDJOBS_H

#include <stddef.h>

#include <jansson.h>

#include "schedparse.h"

struct ctl;
struct ctl_draft;
struct ctl_principal;
struct ctl_sched_http;
struct pollfd;

enum sched_job_kind { JOB_CHECK, JOB_APPLY, JOB_ANNOUNCE };

/* With the scheduler's state (ctl_sched_start, ctl_sched_stop): the eventfd, the jobs. */
void ctl_schedjobs_init(struct ctl *c);
/* Waits for the parses under way (the size limit bounds them to seconds). */
void ctl_schedjobs_stop(struct ctl *c);

/*
 * A check or apply (kind) of the files in h's body. Returns 0 with
 * *status and *reply set (answered now), or 1 when the answer will come
 * through h->done (parsed in a thread; imports).
 */
int ctl_schedjobs_files(struct ctl *c, const struct ctl_sched_http *h,
			enum sched_job_kind kind, unsigned *status, json_t **reply);
/*
 * An announcement whose request schedapi.c decoded into it (its id set):
 * scope, imports, checks, then stored or kept as a draft. it is consumed
 * (sched_item_free). Returns as ctl_schedjobs_files.
 */
int ctl_schedjobs_announce(struct ctl *c, const struct ctl_sched_http *h,
			   struct sched_item *it, int outside_hours, unsigned *status,
			   json_t **reply);

/*
 * POST /v1/content imported an upload whose bytes have this SHA-256 with
 * these settings (music or speech): remember it, so that a schedule naming
 * an audio file with the same bytes uses that content without another
 * upload. 0 or -errno.
 */
int ctl_sched_source_record(struct ctl *c, const char *src_sha256, int music,
			    const char *content);

/*
 * Approval (approval.h) of a draft of kind announce or apply: its items
 * are checked again against the world as it is now and stored as if
 * submitted now (an announcement gets its id now), in one transaction with
 * the draft's move to approved. *status 200 with the apply/announce reply
 * and "draft", or 422 with the errors (the draft stays pending), 500.
 */
void ctl_sched_approve(struct ctl *c, const struct ctl_principal *who,
		       const struct ctl_draft *d, unsigned *status, json_t **reply);
/* May who act on every target of every item of that draft? 0 or -EPERM with err. */
int ctl_sched_draft_scope(struct ctl *c, const struct ctl_principal *who,
			  const struct ctl_draft *d, char *err, size_t errlen);

/*
 * Schedule files are parsed in worker threads: the eventfd they signal
 * when done, for the loop's poll(), and its handler, which goes on with
 * the checks and the store in the loop and answers the request.
 */
int ctl_sched_pollfd(struct ctl *c, struct pollfd *pfd);
void ctl_sched_handle(struct ctl *c, const struct pollfd *pfd);

#endif
