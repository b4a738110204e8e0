/*
 * scheduler.h - the controller's scheduler: the schedule in memory (the
 * applied items and the announcements), its occurrences turned into one
 * signed plan per node, and what nodes report about planned plays.
 *
 *  - plans: for every known node, the occurrences of the items that target
 *    it over the horizon (default 7 days) become a signed plan envelope,
 *    published retained on <root>/node/<id>/plan. A plan is rebuilt when
 *    what it would contain changes (apply, announce, cancel, the node's
 *    zones), when its horizon runs short (daily), and re-published as is
 *    when the control connection comes back and when a node reports an
 *    older plan than ours.
 *  - events: a play event carrying "occurrence" records the result of
 *    that occurrence on that node (list and readiness show it).
 *
 * Owns: struct ctl_sched (c->sched), the plan rules above, the 1 s tick.
 * Must not: parse schedule files or requests (schedparse.h, schedjobs.h,
 * schedapi.h), hold SQL (schedstore.h), or block the loop.
 *
 * The other rooms of the schedule: schedparse.h (schedule files: parse,
 * expand, check; pure), schedjobs.h (check/apply/announce requests as jobs:
 * parse threads, imports, drafts, the store of what they bring),
 * schedapi.h (the HTTP endpoints), schedstore.h (the SQL).
 */
#ifndef LOAXA_CTL_SCHEDULER_H
#define LOAXA_CTL_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "schedparse.h"

struct ctl;

/* How long a node's reported plan may lag ours before we publish again. */
#define CTL_SCHED_REPUBLISH_MS 30000
/* How often the plans are compared with what they should contain. */
#define CTL_SCHED_REPLAN_MS 15000
#define CTL_SCHED_MS_PER_DAY (24LL * 3600 * 1000)

struct sched_job;

struct ctl_sched {
	struct sched_set items;       /* applied schedule + announcements */
	int loaded;
	int dirty;                    /* re-plan at the next tick */
	/* connected_at of the control connection whose plans went out: a
	 * reconnect between two ticks (mqconn reconnects on its own timer, in
	 * well under a second) still gets its plans published again */
	int64_t published_at_connect;
	int64_t next_replan_ms;       /* monotonic */
	struct sched_job *jobs;       /* schedjobs.c's */
	json_t *cancelled;            /* occurrence -> true; NULL: to be loaded */
	int wake_fd;                  /* eventfd: a parser thread finished (schedjobs.c) */
};

/* Load the stored schedule and set the time zone (TZ). */
int ctl_sched_start(struct ctl *c);
void ctl_sched_stop(struct ctl *c);
/* Once a second from the main loop: republish, re-plan. */
void ctl_sched_tick(struct ctl *c);
/* A node event (raw JSON): records results of plan occurrences. */
void ctl_sched_on_event(struct ctl *c, const char *node, const void *payload, size_t len);

/*
 * Build and publish the plans that differ from what is stored (all of them
 * when force). Returns the number of plans published, or -errno.
 */
int ctl_sched_replan(struct ctl *c, int force);

/* The items changed in the database: load them again, re-plan at the next tick. */
int ctl_sched_reload(struct ctl *c);
/*
 * Is this occurrence cancelled? Kept in memory (a plan build asks for every
 * occurrence of every node); ctl_sched_cancelled_changed() after a cancel.
 */
int ctl_sched_is_cancelled(struct ctl *c, const char *occ);
void ctl_sched_cancelled_changed(struct ctl *c);
/* A new announcement's id: "a-YYYYMMDD-HHMMSS-k", unused among the items. */
void ctl_sched_announce_id(struct ctl *c, int64_t now, char out[SCHED_ID_MAX]);

#endif
