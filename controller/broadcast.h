/*
 * broadcast.h - "play this content there, now": one signed command.
 *
 * A broadcast names stored content and a target: a zone, one node or all.
 * The targets are resolved to the nodes known (from their status) to be
 * there; the broadcast and one pending row per target node are stored in a
 * single transaction together with the command's sequence number
 * (max(stored + 1, now in microseconds): never backwards, even after a
 * restart or with a clock stepped back). Then the command is sealed with
 * the controller key and published once, QoS 1, on
 *   <root>/zone/<zone>/cmd, <root>/node/<node>/cmd or <root>/zone/all/cmd.
 * Nodes answer with play events (nodes.c), which fill in the target rows.
 */
#ifndef LOAXA_CTL_BROADCAST_H
#define LOAXA_CTL_BROADCAST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "db.h"

struct ctl;

/* The command is void this long after it is issued (or after "at"). */
#define CTL_CMD_TTL_MS (10 * 60 * 1000)
/* "at" may lie at most this far ahead (later: plans, not commands). */
#define CTL_AT_MAX_AHEAD_MS (24LL * 3600 * 1000)

struct ctl_play_request {
	char content[CONTENT_ID_LEN + 1];
	char zone[CTL_NAME_MAX];   /* one of zone, node, all */
	char node[CTL_NAME_MAX];
	int all;
	char level[16];            /* relay, normal, priority, emergency */
	int64_t at;                /* ms since the epoch; 0 = when ready */
	int volume;                /* 0..100 */
	char title[CTL_TITLE_MAX]; /* empty: the content's title */
	int outside_hours;         /* the operator confirmed a play outside the
				      allowed hours (hours.h) */
};

/* Parse the JSON body of POST /v1/broadcasts. -EINVAL with err filled. */
int ctl_parse_play_request(const void *body, size_t len, struct ctl_play_request *req,
			   char *err, size_t errlen);

/*
 * Store and publish. On success *reply gets {"broadcast","content",
 * "targets":[...], ...}. Errors: -EINVAL (bad request), -ENOENT (unknown
 * content, zone or node), other (the controller's own trouble); err says
 * which in an operator's words.
 */
int ctl_broadcast_play(struct ctl *c, const struct ctl_play_request *req,
		       json_t **reply, char *err, size_t errlen);

/*
 * The same, calling hook(arg, broadcast id) inside the transaction that
 * stores the broadcast, before anything is signed or sent: an approved
 * draft is marked approved (approval.c) together with the broadcast it
 * became, or neither happens. A negative return of hook rolls back and
 * is returned (err then says the database failed).
 */
int ctl_broadcast_play_tx(struct ctl *c, const struct ctl_play_request *req,
			  int (*hook)(void *arg, const char *broadcast), void *arg,
			  json_t **reply, char *err, size_t errlen);

#endif
