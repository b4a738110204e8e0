/*
 * schedstore.h - the SQL behind the schedule: every statement on the
 * tables sched_items, sched_files, sched_sources, sched_plans, sched_plays
 * and sched_cancelled (db.c creates them), and the reads of nodes and
 * node_zones the scheduler needs.
 *
 * Owns: the SQL text of those statements, binding and reading columns,
 * and the messages of their failures (ctl_db_fail: "<db path>: cannot
 * store a plan: <SQLite's message>"; the caller adds nothing).
 * Must not: decide anything (what to store, when to plan, who may ask),
 * publish, keep state between calls, or open a transaction of its own:
 * the callers (schedjobs.c, scheduler.c, schedapi.c) wrap what belongs
 * together in ctl_db_begin()/ctl_db_commit().
 *
 * Functions return 0 (or what they say) and -errno: -EIO after a logged
 * SQLite failure, -ENOMEM, -ENOENT for a row that is not there.
 */
#ifndef LOAXA_CTL_SCHEDSTORE_H
#define LOAXA_CTL_SCHEDSTORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "schedparse.h"

struct ctl;

/* The known nodes with the zones they reported (*out malloc'd, by id). */
int ctl_schedstore_nodes(struct ctl *c, struct sched_node_info **out, size_t *n);
/*
 * Every node's row as the readiness reads it: into (an object), node id ->
 * [online, last_seen, status text or null].
 */
int ctl_schedstore_node_states(struct ctl *c, json_t *into);

/* The stored items (schedule, then announcements) added to set. */
int ctl_schedstore_items(struct ctl *c, struct sched_set *set);
/* kind "schedule" or "announce". */
int ctl_schedstore_item_add(struct ctl *c, const struct sched_item *it, const char *kind);
/* An apply's first step: the schedule's items and files go (not announcements). */
int ctl_schedstore_schedule_clear(struct ctl *c);
/* One file of an apply, as sent (position from 1; backup.c reads them back). */
int ctl_schedstore_file_add(struct ctl *c, size_t pos, const char *name, const char *text,
			    size_t len, json_t *audio, int64_t now);
/* Cancel: the announcement with that id goes. */
int ctl_schedstore_announce_delete(struct ctl *c, const char *id);
/* Cancel: that occurrence is not to be played (kept once). */
int ctl_schedstore_occurrence_cancel(struct ctl *c, const char *occ, int64_t now);
/* Every cancelled occurrence set in into (an object): occurrence -> true. */
int ctl_schedstore_cancelled(struct ctl *c, json_t *into);

/* The content a source (file/text/chime key, schedjobs.c) was imported as. */
int ctl_schedstore_source_get(struct ctl *c, const char *key, char id[65]);
int ctl_schedstore_source_put(struct ctl *c, const char *key, const char *content);

/* A node's plan as stored. */
struct ctl_stored_plan {
	int found;
	uint64_t seq;
	int64_t generated, horizon, published;
	char digest[65];
};

int ctl_schedstore_plan_get(struct ctl *c, const char *node, struct ctl_stored_plan *p);
/* Store a new plan (replacing the node's), not published yet. */
int ctl_schedstore_plan_put(struct ctl *c, const char *node, uint64_t seq, int64_t generated,
			    int64_t window_end, const char *digest, size_t nitems,
			    const char *body, const uint8_t *env, size_t envlen);
/* The node's sealed plan envelope (*env malloc'd), or -ENOENT. */
int ctl_schedstore_plan_envelope(struct ctl *c, const char *node, uint8_t **env,
				 size_t *envlen);
/* When it was last handed to the broker (failures are not reported). */
void ctl_schedstore_plan_published(struct ctl *c, const char *node, int64_t now);
/* The nodes that have a plan, by id: a JSON array of strings (new reference). */
json_t *ctl_schedstore_plan_nodes(struct ctl *c);
/*
 * Online nodes whose plan was last published before before: a JSON array
 * of [node, seq, status text or null] (new reference), NULL on failure.
 */
json_t *ctl_schedstore_plans_unpublished(struct ctl *c, int64_t before);

/* What a node reported about a planned play (events, scheduler.c). */
struct ctl_sched_play {
	const char *occurrence, *node, *result, *reason, *event;
	int has_scheduled, has_start, has_duration;
	int64_t scheduled, start, duration_ms;
	int rank;       /* a result replaces one of lower or equal rank only */
	int64_t updated;
};

int ctl_schedstore_play_put(struct ctl *c, const struct ctl_sched_play *p);
/* {"result","start","duration_ms","reason"} of occ on node, or NULL. */
json_t *ctl_schedstore_play_get(struct ctl *c, const char *occ, const char *node);
/*
 * The plays reported with a time in [from, to): a JSON array (new
 * reference; NULL on failure) of [occurrence, node, result, at, start,
 * duration_ms, reason], at = coalesce(scheduled, start), nulls as null.
 */
json_t *ctl_schedstore_plays_between(struct ctl *c, int64_t from, int64_t to);

#endif
