/*
 * schedapi.h - the schedule's HTTP endpoints: GET /v1/schedule (list),
 * GET /v1/schedule/limits, POST /v1/schedule/check and /apply, POST
 * /v1/announcements, POST /v1/cancel, GET /v1/readiness (docs/schedules.md,
 * docs/api.md).
 *
 * Owns: routing within those URLs, decoding and checking query arguments
 * and the announce and cancel bodies (every error names its field), the
 * operator's zone scope for reads and cancels, the answers' JSON.
 * Must not: parse schedule files or run jobs (schedjobs.h does, off the
 * loop), build plans (scheduler.h), or hold SQL (schedstore.h).
 */
#ifndef LOAXA_CTL_SCHEDAPI_H
#define LOAXA_CTL_SCHEDAPI_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct ctl;
struct ctl_principal;

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

#endif
