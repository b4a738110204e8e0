/*
 * schedstore.c - the SQL of the schedule tables; see schedstore.h (what it
 * owns, and that it decides nothing).
 */
#include "schedstore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "ctl.h"
#include "log.h"
#include "util.h"

/* ------------------------------------------------------------ nodes */

/* The known nodes with the zones they reported. */
int ctl_schedstore_nodes(struct ctl *c, struct sched_node_info **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	struct sched_node_info *v = NULL;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = ctl_db_prep(&c->db, &st, "SELECT n.id, z.zone FROM nodes n LEFT JOIN node_zones z "
		      "ON z.node = n.id ORDER BY n.id, z.pos", "cannot read the nodes");
	if (rc < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		const char *zone = (const char *)sqlite3_column_text(st, 1);

		if (!id)
			continue;
		if (!*n || strcmp(v[*n - 1].id, id) != 0) {
			if (*n == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct sched_node_info *nv = realloc(v, ncap * sizeof(*nv));

				if (!nv) {
					rc = -ENOMEM;
					goto out;
				}
				v = nv;
				cap = ncap;
			}
			memset(&v[*n], 0, sizeof(v[*n]));
			snprintf(v[*n].id, sizeof(v[*n].id), "%s", id);
			(*n)++;
		}
		if (zone && v[*n - 1].nzones < 32)
			snprintf(v[*n - 1].zones[v[*n - 1].nzones++], SCHED_NAME_MAX, "%s", zone);
	}
	rc = rc == SQLITE_DONE ? 0 : ctl_db_fail(&c->db, "cannot read the nodes");
out:
	sqlite3_finalize(st);
	if (rc < 0) {
		free(v);
		*n = 0;
		return rc;
	}
	*out = v;
	return 0;
}

int ctl_schedstore_items(struct ctl *c, struct sched_set *set)
{
	sqlite3_stmt *st = NULL;
	struct sched_item it;
	int rc;

	rc = ctl_db_prep(&c->db, &st, "SELECT id, def FROM sched_items ORDER BY kind DESC, rowid",
		      "cannot read the schedule");
	if (rc < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *def = (const char *)sqlite3_column_text(st, 1);
		json_t *j = def ? json_loads(def, 0, NULL) : NULL;

		if (sched_item_from_json(j, &it) < 0) {
			log_errorx("%s: schedule item %s is damaged in the database: skipped",
				   c->db.path, (const char *)sqlite3_column_text(st, 0));
		} else if (sched_set_add(set, &it) < 0) {
			sched_item_free(&it);
			json_decref(j);
			rc = -ENOMEM;
			goto out;
		}
		sched_item_free(&it);
		json_decref(j);
	}
	rc = rc == SQLITE_DONE ? 0 : ctl_db_fail(&c->db, "cannot read the schedule");
out:
	sqlite3_finalize(st);
	return rc;
}

int ctl_schedstore_node_states(struct ctl *c, json_t *into)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = ctl_db_prep(&c->db, &st, "SELECT id, online, last_seen, status FROM nodes",
			 "cannot read the nodes");
	if (rc < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		const char *status = (const char *)sqlite3_column_text(st, 3);

		if (id && json_object_set_new(into, id, json_pack("[i, I, s?]",
				sqlite3_column_int(st, 1), (json_int_t)sqlite3_column_int64(st, 2),
				status)) < 0) {
			rc = -ENOMEM;
			goto out;
		}
	}
	rc = rc == SQLITE_DONE ? 0 : ctl_db_fail(&c->db, "cannot read the nodes");
out:
	sqlite3_finalize(st);
	return rc;
}

/* ------------------------------------------------------------ items */

int ctl_schedstore_item_add(struct ctl *c, const struct sched_item *it, const char *kind)
{
	sqlite3_stmt *st = NULL;
	json_t *j = sched_item_to_json(it);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int rc;

	json_decref(j);
	if (!text)
		return -ENOMEM;
	rc = ctl_db_prep(&c->db, &st, "INSERT INTO sched_items (id, kind, def, created) VALUES "
		      "(?, ?, ?, ?)", "cannot store the schedule");
	if (rc == 0) {
		sqlite3_bind_text(st, 1, it->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, now_ms());
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = ctl_db_fail(&c->db, "cannot store the schedule");
	}
	sqlite3_finalize(st);
	free(text);
	return rc;
}

int ctl_schedstore_schedule_clear(struct ctl *c)
{
	return ctl_db_exec(&c->db, "DELETE FROM sched_items WHERE kind = 'schedule'; "
			   "DELETE FROM sched_files", "cannot replace the schedule");
}

/*
 * The files of an apply, as sent: what the schedule was made from (the
 * controller has no other copy; backups carry them, backup.c).
 */
int ctl_schedstore_file_add(struct ctl *c, size_t pos, const char *name, const char *text,
			    size_t len, json_t *audio_map, int64_t now)
{
	unsigned char bin[crypto_hash_sha256_BYTES];
	char hash[65], *audio = json_dumps(audio_map, JSON_COMPACT | JSON_SORT_KEYS);
	sqlite3_stmt *st = NULL;
	int rc;

	if (!audio)
		return -ENOMEM;
	crypto_hash_sha256(bin, (const unsigned char *)text, len);
	hex_encode(hash, bin, sizeof(bin));
	rc = ctl_db_prep(&c->db, &st, "INSERT INTO sched_files (pos, name, text, audio, sha256, "
		      "applied) VALUES (?, ?, ?, ?, ?, ?)", "cannot store the schedule files");
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)pos);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, text, (int)len, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, audio, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, hash, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, now);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = ctl_db_fail(&c->db, "cannot store the schedule files");
	}
	sqlite3_finalize(st);
	free(audio);
	return rc;
}

/* Cancel: one statement with the id (and the time for an occurrence). */
static int cancel_step(struct ctl *c, const char *sql, const char *id, int with_time,
		       int64_t now)
{
	sqlite3_stmt *st = NULL;
	int rc = ctl_db_prep(&c->db, &st, sql, "cannot cancel");

	if (rc == 0) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		if (with_time)
			sqlite3_bind_int64(st, 2, now);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = ctl_db_fail(&c->db, "cannot cancel");
	}
	sqlite3_finalize(st);
	return rc;
}

int ctl_schedstore_announce_delete(struct ctl *c, const char *id)
{
	return cancel_step(c, "DELETE FROM sched_items WHERE id = ? AND kind = 'announce'", id,
			   0, 0);
}

int ctl_schedstore_occurrence_cancel(struct ctl *c, const char *occ, int64_t now)
{
	return cancel_step(c, "INSERT OR IGNORE INTO sched_cancelled (occurrence, created) "
			   "VALUES (?, ?)", occ, 1, now);
}

int ctl_schedstore_cancelled(struct ctl *c, json_t *into)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = ctl_db_prep(&c->db, &st, "SELECT occurrence FROM sched_cancelled",
			 "cannot read the cancelled plays");
	if (rc < 0)
		return rc;
	while (sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(into, (const char *)sqlite3_column_text(st, 0), json_true());
	sqlite3_finalize(st);
	return 0;
}

/* ------------------------------------------------------------ sources */

int ctl_schedstore_source_get(struct ctl *c, const char *key, char id[65])
{
	sqlite3_stmt *st = NULL;
	int rc;

	id[0] = '\0';
	rc = ctl_db_prep(&c->db, &st, "SELECT content FROM sched_sources WHERE key = ?",
		      "cannot read the imports");
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(id, 65, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return id[0] ? 0 : -ENOENT;
}

int ctl_schedstore_source_put(struct ctl *c, const char *key, const char *content)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = ctl_db_prep(&c->db, &st, "INSERT OR REPLACE INTO sched_sources (key, content, "
			 "created) VALUES (?, ?, ?)", "cannot remember an import");
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, content, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_ms());
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = ctl_db_fail(&c->db, "cannot remember an import");
	sqlite3_finalize(st);
	return rc;
}

/* ------------------------------------------------------------ plans */

int ctl_schedstore_plan_get(struct ctl *c, const char *node, struct ctl_stored_plan *p)
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(p, 0, sizeof(*p));
	rc = ctl_db_prep(&c->db, &st, "SELECT seq, generated, horizon, digest, published FROM "
		      "sched_plans WHERE node = ?", "cannot read the plans");
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		p->found = 1;
		p->seq = (uint64_t)sqlite3_column_int64(st, 0);
		p->generated = sqlite3_column_int64(st, 1);
		p->horizon = sqlite3_column_int64(st, 2);
		snprintf(p->digest, sizeof(p->digest), "%s",
			 (const char *)sqlite3_column_text(st, 3));
		p->published = sqlite3_column_int64(st, 4);
	}
	sqlite3_finalize(st);
	return 0;
}

int ctl_schedstore_plan_put(struct ctl *c, const char *node, uint64_t seq, int64_t generated,
			    int64_t window_end, const char *digest, size_t nitems,
			    const char *body, const uint8_t *env, size_t envlen)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = ctl_db_prep(&c->db, &st, "INSERT OR REPLACE INTO sched_plans (node, seq, "
			 "generated, horizon, digest, items, body, envelope, published) "
			 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)", "cannot store a plan");
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
	sqlite3_bind_int64(st, 3, generated);
	sqlite3_bind_int64(st, 4, window_end);
	sqlite3_bind_text(st, 5, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, (int)nitems);
	sqlite3_bind_text(st, 7, body, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 8, env, (int)envlen, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = ctl_db_fail(&c->db, "cannot store a plan");
	sqlite3_finalize(st);
	return rc;
}

int ctl_schedstore_plan_envelope(struct ctl *c, const char *node, uint8_t **env,
				 size_t *envlen)
{
	sqlite3_stmt *st = NULL;
	const void *blob;
	int rc;

	*env = NULL;
	*envlen = 0;
	rc = ctl_db_prep(&c->db, &st, "SELECT envelope FROM sched_plans WHERE node = ?",
			 "cannot read the plans");
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = -ENOENT;
		goto out;
	}
	blob = sqlite3_column_blob(st, 0);
	*envlen = (size_t)sqlite3_column_bytes(st, 0);
	*env = malloc(*envlen ? *envlen : 1);
	if (!*env) {
		*envlen = 0;
		rc = -ENOMEM;
		goto out;
	}
	if (*envlen)
		memcpy(*env, blob, *envlen);
out:
	sqlite3_finalize(st);
	return rc;
}

void ctl_schedstore_plan_published(struct ctl *c, const char *node, int64_t now)
{
	sqlite3_stmt *up = NULL;

	if (ctl_db_prep(&c->db, &up, "UPDATE sched_plans SET published = ? WHERE node = ?",
			"cannot store a plan") == 0) {
		sqlite3_bind_int64(up, 1, now);
		sqlite3_bind_text(up, 2, node, -1, SQLITE_STATIC);
		sqlite3_step(up);
	}
	sqlite3_finalize(up);
}

json_t *ctl_schedstore_plan_nodes(struct ctl *c)
{
	sqlite3_stmt *st = NULL;
	json_t *list;

	if (ctl_db_prep(&c->db, &st, "SELECT node FROM sched_plans ORDER BY node",
			"cannot read the plans") < 0)
		return NULL;
	list = json_array();
	while (list && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(list, json_string((const char *)sqlite3_column_text(st, 0)));
	sqlite3_finalize(st);
	return list;
}

json_t *ctl_schedstore_plans_unpublished(struct ctl *c, int64_t before)
{
	sqlite3_stmt *st = NULL;
	json_t *rows;

	if (ctl_db_prep(&c->db, &st, "SELECT p.node, p.seq, n.status FROM sched_plans p JOIN "
			"nodes n ON n.id = p.node WHERE n.online = 1 AND p.published < ?",
			"cannot read the plans") < 0)
		return NULL;
	sqlite3_bind_int64(st, 1, before);
	rows = json_array();
	while (rows && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(rows, json_pack("[s?, I, s?]",
			(const char *)sqlite3_column_text(st, 0),
			(json_int_t)sqlite3_column_int64(st, 1),
			(const char *)sqlite3_column_text(st, 2)));
	sqlite3_finalize(st);
	return rows;
}

/* ------------------------------------------------------------ plays */

int ctl_schedstore_play_put(struct ctl *c, const struct ctl_sched_play *p)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = ctl_db_prep(&c->db, &st,
		     "INSERT INTO sched_plays (occurrence, node, result, scheduled, start, "
		     "duration_ms, reason, event, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
		     "?7, ?8, ?9) ON CONFLICT(occurrence, node) DO UPDATE SET result = ?3, "
		     "scheduled = coalesce(?4, scheduled), start = coalesce(?5, start), "
		     "duration_ms = coalesce(?6, duration_ms), reason = ?7, event = ?8, "
		     "updated = ?9 WHERE (CASE sched_plays.result WHEN 'started' THEN 1 "
		     "ELSE 2 END) <= ?10", "cannot store the result of a planned play");
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, p->occurrence, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, p->node, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, p->result, -1, SQLITE_STATIC);
	if (p->has_scheduled)
		sqlite3_bind_int64(st, 4, p->scheduled);
	if (p->has_start)
		sqlite3_bind_int64(st, 5, p->start);
	if (p->has_duration)
		sqlite3_bind_int64(st, 6, p->duration_ms);
	sqlite3_bind_text(st, 7, p->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, p->event, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, p->updated);
	sqlite3_bind_int(st, 10, p->rank);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = ctl_db_fail(&c->db, "cannot store the result of a planned play");
	sqlite3_finalize(st);
	return rc;
}

json_t *ctl_schedstore_play_get(struct ctl *c, const char *occ, const char *node)
{
	sqlite3_stmt *st = NULL;
	json_t *o = NULL;

	if (ctl_db_prep(&c->db, &st, "SELECT result, start, duration_ms, reason FROM sched_plays "
		     "WHERE occurrence = ? AND node = ?", "cannot read the planned plays") < 0)
		return NULL;
	sqlite3_bind_text(st, 1, occ, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, node, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		o = json_pack("{s:s, s:I, s:I, s:s}",
			      "result", (const char *)sqlite3_column_text(st, 0),
			      "start", (json_int_t)sqlite3_column_int64(st, 1),
			      "duration_ms", (json_int_t)sqlite3_column_int64(st, 2),
			      "reason", (const char *)sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
	return o;
}

json_t *ctl_schedstore_plays_between(struct ctl *c, int64_t from, int64_t to)
{
	sqlite3_stmt *st = NULL;
	json_t *rows;

	if (ctl_db_prep(&c->db, &st, "SELECT occurrence, node, result, "
			"coalesce(scheduled, start), start, duration_ms, reason FROM "
			"sched_plays WHERE coalesce(scheduled, start) >= ? AND "
			"coalesce(scheduled, start) < ?", "cannot read the plays") < 0)
		return NULL;
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, to);
	rows = json_array();
	while (rows && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(rows, json_pack("[s?, s?, s?, I, I, I, s?]",
			(const char *)sqlite3_column_text(st, 0),
			(const char *)sqlite3_column_text(st, 1),
			(const char *)sqlite3_column_text(st, 2),
			(json_int_t)sqlite3_column_int64(st, 3),
			(json_int_t)sqlite3_column_int64(st, 4),
			(json_int_t)sqlite3_column_int64(st, 5),
			(const char *)sqlite3_column_text(st, 6)));
	sqlite3_finalize(st);
	return rows;
}
