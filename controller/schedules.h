/*
 * schedules.h - the controller's schedule engine: check and apply schedule
 * files, one-off announcements, cancellations, per-node plans, and what
 * nodes report about planned plays.
 *
 * The pure part (parsing, expansion, checks) is schedule.h; this module
 * adds the database, the import pipeline, MQTT and the API:
 *
 *  - check/apply: the files come as text (the controller opens no file an
 *    operator names; schedfile.h) and are parsed (every error
 *    file:line:field); the audio they name is known by the SHA-256 of its
 *    bytes: what was imported before (POST /v1/content remembers the hash
 *    of every upload) is used, what was not is asked for ("upload" in the
 *    answer; the client uploads it and asks again); text is spoken by
 *    espeak-ng -v vi and imported, then the whole set is checked against
 *    zones, nodes, allowed hours and conflicts. apply stores the set and
 *    the files as sent in ONE transaction (all files or nothing) and
 *    re-plans at once.
 *  - plans: for every known node, the occurrences of the items that target
 *    it over the horizon (default 7 days) become a signed plan envelope,
 *    published retained on <root>/node/<id>/plan. A plan is rebuilt when
 *    what it would contain changes (apply, announce, cancel, the node's
 *    zones), when its horizon runs short (daily), and re-published as is
 *    when the control connection comes back and when a node reports an
 *    older plan than ours.
 *  - events: a play event carrying "occurrence" records the result of
 *    that occurrence on that node (list and readiness show it).
 */
#ifndef LOAXA_CTL_SCHEDULES_H
#define LOAXA_CTL_SCHEDULES_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "schedule.h"

struct ctl;
struct ctl_principal;

/* How long a node's reported plan may lag ours before we publish again. */
#define CTL_SCHED_REPUBLISH_MS 30000
/* How often the plans are compared with what they should contain. */
#define CTL_SCHED_REPLAN_MS 15000

struct sched_job;
struct pollfd;

struct ctl_sched {
	struct sched_set items;       /* applied schedule + announcements */
	int loaded;
	int dirty;                    /* re-plan at the next tick */
	int was_connected;
	int64_t next_replan_ms;       /* monotonic */
	struct sched_job *jobs;
	json_t *cancelled;            /* occurrence -> true; NULL: to be loaded */
	int wake_fd;                  /* eventfd: a parser thread finished */
};

/* An API request handed over by api.c. */
struct ctl_sched_http {
	const char *method;
	const char *url;              /* path only */
	const char *body;
	size_t body_len;
	/* query argument lookup */
	const char *(*arg)(void *ctx, const char *key);
	void *arg_ctx;
	/* for an answer that comes later (imports): called exactly once */
	void (*done)(void *ctx, unsigned status, json_t *reply);
	void *done_ctx;
	/*
	 * Who asks (auth.h): apply and announce may only target the zones of
	 * the operator's scope, and level emergency needs the approve right.
	 * NULL: no checks (tests).
	 */
	const struct ctl_principal *who;
	/*
	 * > 0: this request is the new content of that pending draft (PUT
	 * /v1/drafts/ID, approval.h), stored as the draft's instead of being
	 * scheduled; the caller checked that the draft is of this kind.
	 */
	int64_t edit_draft;
};

/*
 * The largest body of a schedule check or apply: the files' texts travel in
 * it (schedule.max_total_bytes, JSON-escaped). Other requests keep the API's
 * small limit.
 */
size_t ctl_sched_max_body(const struct ctl *c);
/* Whether a request to url carries schedule files (check, apply). */
int ctl_sched_files_url(const char *url);

/*
 * POST /v1/content imported an upload whose bytes have this SHA-256 with
 * these settings (music or speech): remember it, so that a schedule naming
 * an audio file with the same bytes uses that content without another
 * upload. 0 or -errno.
 */
int ctl_sched_source_record(struct ctl *c, const char *src_sha256, int music,
			    const char *content);

struct ctl_draft;

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

/* Whether url belongs to this module (/v1/schedule..., /v1/announcements, ...). */
int ctl_sched_owns_url(const char *url);

/*
 * Serve one request. Returns 0 with *status and *reply set (answered now),
 * or 1 when the answer will come through h->done.
 */
/* GET /v1/schedule/files: {"files":[{"name","text","audio","applied"}]}, the
 * files of the last apply as sent (schedfiles.c; the web console edits
 * through them). Always returns 0; the status and reply say the rest. */
int ctl_sched_files_get(struct ctl *c, unsigned *status, json_t **reply);

int ctl_sched_http(struct ctl *c, const struct ctl_sched_http *h, unsigned *status,
		   json_t **reply);

/* Load the stored schedule and set the time zone (TZ). */
int ctl_sched_start(struct ctl *c);
void ctl_sched_stop(struct ctl *c);
/*
 * Schedule files are parsed in worker threads (libconfig needs seconds
 * for a large file, and the loop answers emergencies): the eventfd they
 * signal when done, for the loop's poll(), and its handler, which goes on
 * with the checks and the store in the loop and answers the request.
 */
int ctl_sched_pollfd(struct ctl *c, struct pollfd *pfd);
void ctl_sched_handle(struct ctl *c, const struct pollfd *pfd);
/* Once a second from the main loop: republish, re-plan. */
void ctl_sched_tick(struct ctl *c);
/* A node event (raw JSON): records results of plan occurrences. */
void ctl_sched_on_event(struct ctl *c, const char *node, const void *payload, size_t len);

/*
 * Build and publish the plans that differ from what is stored (all of them
 * when force). Returns the number of plans published, or -errno.
 */
int ctl_sched_replan(struct ctl *c, int force);

#endif
