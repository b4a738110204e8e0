/*
 * approval.h - biên tập -> duyệt -> phát: operators' drafts wait for an
 * approver; emergencies are recorded for review afterwards.
 *
 * Where controller.cfg asks for approval (approval.levels, a zone's own
 * "approval" list: schedparse.h sched_zone_approval), an announcement or a
 * play by someone without the approve right (PERM_APPROVE, auth.h) is not
 * scheduled: it becomes a draft, stored in SQLite (table drafts) in one
 * transaction with its audit row. A schedule apply by such an operator is
 * always a draft (operators could never apply a schedule alone: an apply
 * replaces the whole schedule). Nothing of a draft reaches a node until an
 * approver whose zones cover every target approves it; then it is
 * scheduled as if submitted at that moment (schedjobs.c, broadcast.c),
 * and the draft is marked approved in the same transaction that stores
 * what it became. A draft whose start time passed while it waited is not
 * approved: the approver is told, and the author gives it a new time or
 * withdraws it.
 *
 *   pending --approve--> approved     (an approver, in scope, not the author)
 *   pending --reject---> rejected     (an approver, in scope, a reason required)
 *   pending --withdraw-> withdrawn    (the author)
 *   pending --edit-----> pending      (the author: new content, time, target)
 *
 * Nothing else moves: a decided draft stays as it was decided. Every move
 * writes an audit row (who, when, what) in the transaction that makes it.
 *
 * An approver's own requests are not drafts: the approving official's
 * word is the approval (docs/approval.md, "Four eyes").
 *
 * Emergencies never wait: each one started (real or drill) gets a row in
 * emergency_reviews in the transaction that stores it, and is listed
 * (GET /v1/reviews, `loaxa reviews`) until an approver other than the one
 * who started it marks it reviewed (`loaxa review ID`).
 */
#ifndef LOAXA_CTL_APPROVAL_H
#define LOAXA_CTL_APPROVAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "db.h"

struct ctl;
struct ctl_principal;
struct ctl_play_request;

#define DRAFT_REASON_MAX 500      /* a rejection's reason, a review's note */

enum draft_action { DRAFT_EDIT, DRAFT_APPROVE, DRAFT_REJECT, DRAFT_WITHDRAW };

/*
 * The state machine: from state, action a leads to *to (0), or -EINVAL
 * when the draft cannot move that way (it is no longer pending, or the
 * state is not one of pending, approved, rejected, withdrawn).
 */
int ctl_draft_next(const char *state, enum draft_action a, const char **to);

/* One stored draft (ctl_draft_get); free with ctl_draft_clear. */
struct ctl_draft {
	int64_t id;
	char kind[16];                /* announce, apply, broadcast */
	char state[16];
	char author[CTL_NAME_MAX];
	char title[CTL_TITLE_MAX];
	char level[16];
	char target[256];
	int64_t at;                   /* first start, ms; 0: none (now, a schedule) */
	json_t *payload;              /* what approval schedules (owned) */
};
void ctl_draft_clear(struct ctl_draft *d);

/* What a draft holds: a new one, or an edit's replacement. */
struct ctl_draft_new {
	const char *kind;
	const char *title;
	const char *level;
	const char *target;
	json_t *zones;                /* array of zone names ("all" for every node) */
	int64_t at;                   /* 0: none */
	json_t *payload;              /* borrowed */
};

/*
 * Does a request by who at level to this target wait for approval? 1 when
 * who lacks the approve right and level is in the approval list of a zone
 * the target plays in (a node: each of its zones, or the default when it
 * has none; all: every zone declared or reported, and the default); 0
 * otherwise, and always 0 for who NULL (tests, internal callers).
 */
int ctl_approval_needed(struct ctl *c, const struct ctl_principal *who, const char *level,
			const char *zone, const char *node, int all);

/* Append to arr the zones a target plays in (reading scope of a draft). */
void ctl_approval_target_zones(struct ctl *c, const char *zone, const char *node, int all,
			       json_t *arr);

/*
 * Store a draft: a new one (edit 0: *id set) or, with edit > 0, the new
 * content of pending draft edit by its author. One transaction with the
 * audit row. 0, or -EPERM / -ENOENT / -EINVAL / -EIO with err.
 */
int ctl_draft_save(struct ctl *c, const struct ctl_principal *who, int64_t edit,
		   const struct ctl_draft_new *d, int64_t *id, char *err, size_t errlen);

/*
 * Before the work of an edit (imports, checks): may who replace draft id?
 * Fills kind. 0, -ENOENT (404), -EPERM (403: not the author), -EINVAL
 * (409: no longer pending), -EIO; err says which.
 */
int ctl_draft_may_edit(struct ctl *c, const struct ctl_principal *who, int64_t id,
		       char *kind, size_t kindlen, char *err, size_t errlen);

/*
 * Inside the caller's transaction (the one that stores what the draft
 * became): mark draft id approved by who with result (an announcement or
 * broadcast id, "schedule") and write the audit row. 0 or -EIO, or
 * -EINVAL when it is no longer pending.
 */
int ctl_draft_approved_tx(struct ctl *c, const struct ctl_principal *who, int64_t id,
			  const char *result, const char *detail);

/* Read a draft. 0, -ENOENT, -EIO. */
int ctl_draft_get(struct ctl *c, int64_t id, struct ctl_draft *d);

/* "123" -> 123; -1 when s is not a draft id. */
int64_t ctl_draft_id_parse(const char *s);

/*
 * A play (POST /v1/broadcasts) by who that waits for approval: checked
 * (content, target, time), then stored as a draft (edit 0) or as the new
 * content of draft edit. *status 202 and *reply {"draft": {...}, ...}, or
 * an error status with {"error"}.
 */
void ctl_approval_broadcast(struct ctl *c, const struct ctl_principal *who,
			    const struct ctl_play_request *req, int64_t edit, unsigned *status,
			    json_t **reply);

/* The JSON of draft id as the API shows it, or NULL. */
json_t *ctl_draft_json(struct ctl *c, int64_t id);

/*
 * Inside the transaction that stores emergency (emergency.c): record it
 * for review afterwards, started by who at now. 0 or -EIO.
 */
int ctl_review_record_tx(struct ctl *c, const struct ctl_principal *who, const char *emergency,
			 int64_t now);

/*
 * The API: GET /v1/drafts[?state=pending|approved|rejected|withdrawn|all]
 * [&limit=N], GET /v1/drafts/ID, POST /v1/drafts/ID/approve,
 * /reject {"reason"}, /withdraw; GET /v1/reviews[?all=1], POST
 * /v1/reviews/ID {"note"}. (PUT /v1/drafts/ID, the edit, is api.c's: it
 * goes through the endpoint of the draft's kind.) target is what the
 * audit log names.
 */
int ctl_approval_owns_url(const char *url);
void ctl_approval_api(struct ctl *c, const struct ctl_principal *who, const char *method,
		      const char *url, const char *(*arg)(void *ctx, const char *key),
		      void *arg_ctx, const char *body, size_t len, unsigned *status,
		      json_t **reply, char *target, size_t targetlen);

#endif
