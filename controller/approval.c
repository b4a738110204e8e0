/*
 * approval.c - see approval.h.
 */
#include "approval.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "auth.h"
#include "broadcast.h"
#include "ctl.h"
#include "ctlutil.h"
#include "hours.h"
#include "log.h"
#include "schedjobs.h"
#include "schedparse.h"
#include "util.h"

/* ------------------------------------------------------------ state machine */

int ctl_draft_next(const char *state, enum draft_action a, const char **to)
{
	if (!state || strcmp(state, "pending") != 0)
		return -EINVAL; /* decided (or unknown): nothing moves it again */
	switch (a) {
	case DRAFT_EDIT:
		*to = "pending";
		return 0;
	case DRAFT_APPROVE:
		*to = "approved";
		return 0;
	case DRAFT_REJECT:
		*to = "rejected";
		return 0;
	case DRAFT_WITHDRAW:
		*to = "withdrawn";
		return 0;
	}
	return -EINVAL;
}

static const char *action_verb(enum draft_action a)
{
	switch (a) {
	case DRAFT_EDIT: return "edited";
	case DRAFT_APPROVE: return "approved";
	case DRAFT_REJECT: return "rejected";
	case DRAFT_WITHDRAW: return "withdrawn";
	}
	return "?";
}

void ctl_draft_clear(struct ctl_draft *d)
{
	json_decref(d->payload);
	memset(d, 0, sizeof(*d));
}

int64_t ctl_draft_id_parse(const char *s)
{
	int64_t v = 0;
	size_t i;

	if (!s || !s[0] || strlen(s) > 15 || s[0] == '0')
		return -1;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* ------------------------------------------------------------ db helpers */

static const char *col_text(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return s ? s : "";
}

/*
 * One audit row for a step of a draft or a review, in the caller's
 * transaction: unlike ctl_auth_audit (which logs a failure and goes on), a
 * step whose row cannot be written does not happen.
 */
static int audit_tx(struct ctl *c, const struct ctl_principal *who, const char *action,
		    const char *target, unsigned status, const char *detail)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = ctl_db_prep(&c->db, &st, "INSERT INTO audit (ts, user, role, peer, action, target, result, "
			"status, detail) VALUES (?, ?, ?, ?, ?, ?, 'allowed', ?, ?)",
			"cannot write the audit log");
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, now_ms());
	sqlite3_bind_text(st, 2, who && who->user[0] ? who->user : "-", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, who && who->role[0] ? who->role : "-", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, who ? who->peer : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, action, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, target, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 7, (int)status);
	sqlite3_bind_text(st, 8, detail ? detail : "", -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : ctl_db_fail(&c->db, "cannot write the audit log");
	sqlite3_finalize(st);
	return rc;
}

/* "draft 7 (announce "Họp thôn" to zone thon-1)" */
static void draft_label(char *out, size_t outlen, int64_t id, const char *kind,
			const char *title, const char *target)
{
	char safe[120];

	ctl_printable(safe, sizeof(safe), title);
	snprintf(out, outlen, "draft %" PRId64 " (%.15s \"%s\" to %.200s)", id, kind, safe,
		 target);
}

/* ------------------------------------------------------------ who waits */

static int level_waits(struct ctl *c, const char *zone, unsigned bit)
{
	return (sched_zone_approval(&c->cfg.sched, zone) & bit) != 0;
}

int ctl_approval_needed(struct ctl *c, const struct ctl_principal *who, const char *level,
			const char *zone, const char *node, int all)
{
	sqlite3_stmt *st = NULL;
	unsigned bit;
	int lv = level ? sched_level_parse(level) : SCHED_NORMAL, hit = 0, any = 0;
	size_t i;

	if (!who || (who->perms & PERM_APPROVE))
		return 0;
	if (lv < 0 || lv == SCHED_EMERGENCY)
		return 0; /* emergencies never wait (they are reviewed afterwards) */
	bit = 1u << lv;
	if (zone && strcmp(zone, "all") == 0)
		all = 1;
	if (all) {
		/* every node: every zone declared or reported, and the default */
		if (c->cfg.sched.approval & bit)
			return 1;
		for (i = 0; i < c->cfg.sched.nzones; i++)
			if (level_waits(c, c->cfg.sched.zones[i].name, bit))
				return 1;
		if (ctl_db_prep(&c->db, &st, "SELECT DISTINCT zone FROM node_zones",
			     "cannot read the zones") < 0)
			return 1; /* cannot tell: the careful answer */
		while (!hit && sqlite3_step(st) == SQLITE_ROW)
			hit = level_waits(c, col_text(st, 0), bit);
		sqlite3_finalize(st);
		return hit;
	}
	if (zone && zone[0])
		return level_waits(c, zone, bit);
	if (!node || !node[0])
		return 0;
	if (ctl_db_prep(&c->db, &st, "SELECT zone FROM node_zones WHERE node = ?",
		     "cannot read a node's zones") < 0)
		return 1;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_TRANSIENT);
	while (!hit && sqlite3_step(st) == SQLITE_ROW) {
		any = 1;
		hit = level_waits(c, col_text(st, 0), bit);
	}
	sqlite3_finalize(st);
	/* a node in no zone: the site's default */
	return hit || (!any && (c->cfg.sched.approval & bit));
}

void ctl_approval_target_zones(struct ctl *c, const char *zone, const char *node, int all,
			       json_t *arr)
{
	sqlite3_stmt *st = NULL;

	if (all || (zone && strcmp(zone, "all") == 0)) {
		json_array_append_new(arr, json_string("all"));
		return;
	}
	if (zone && zone[0]) {
		json_array_append_new(arr, json_string(zone));
		return;
	}
	if (!node || !node[0] ||
	    ctl_db_prep(&c->db, &st, "SELECT zone FROM node_zones WHERE node = ? ORDER BY pos",
		     "cannot read a node's zones") < 0)
		return;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(arr, json_string(col_text(st, 0)));
	sqlite3_finalize(st);
}

/* ------------------------------------------------------------ the store */

int ctl_draft_get(struct ctl *c, int64_t id, struct ctl_draft *d)
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(d, 0, sizeof(*d));
	rc = ctl_db_prep(&c->db, &st, "SELECT kind, state, author, title, level, target, at, payload "
			"FROM drafts WHERE id = ?", "cannot read a draft");
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		d->id = id;
		snprintf(d->kind, sizeof(d->kind), "%s", col_text(st, 0));
		snprintf(d->state, sizeof(d->state), "%s", col_text(st, 1));
		snprintf(d->author, sizeof(d->author), "%s", col_text(st, 2));
		snprintf(d->title, sizeof(d->title), "%s", col_text(st, 3));
		snprintf(d->level, sizeof(d->level), "%s", col_text(st, 4));
		snprintf(d->target, sizeof(d->target), "%s", col_text(st, 5));
		d->at = sqlite3_column_int64(st, 6);
		d->payload = json_loads(col_text(st, 7), 0, NULL);
		rc = d->payload ? 0 : ctl_db_fail(&c->db, "a draft's content is damaged");
	} else {
		rc = rc == SQLITE_DONE ? -ENOENT : ctl_db_fail(&c->db, "cannot read a draft");
	}
	sqlite3_finalize(st);
	return rc;
}

int ctl_draft_may_edit(struct ctl *c, const struct ctl_principal *who, int64_t id,
		       char *kind, size_t kindlen, char *err, size_t errlen)
{
	struct ctl_draft d;
	const char *to;
	int rc = ctl_draft_get(c, id, &d);

	if (rc == -ENOENT) {
		snprintf(err, errlen, "there is no draft %" PRId64 " (see loaxa drafts)", id);
		return rc;
	}
	if (rc < 0) {
		snprintf(err, errlen, "the controller's database failed (see its log)");
		return rc;
	}
	if (who && strcmp(who->user, d.author) != 0) {
		snprintf(err, errlen, "draft %" PRId64 " was written by %s: only its author can "
			 "change it (an approver rejects it with a reason instead)", id, d.author);
		rc = -EPERM;
	} else if (ctl_draft_next(d.state, DRAFT_EDIT, &to) < 0) {
		snprintf(err, errlen, "draft %" PRId64 " is %s: only a pending draft can be "
			 "changed (submit it again instead)", id, d.state);
		rc = -EINVAL;
	} else {
		snprintf(kind, kindlen, "%s", d.kind);
	}
	ctl_draft_clear(&d);
	return rc;
}

int ctl_draft_save(struct ctl *c, const struct ctl_principal *who, int64_t edit,
		   const struct ctl_draft_new *d, int64_t *id, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	char *payload = json_dumps(d->payload, JSON_COMPACT);
	char *zones = json_dumps(d->zones, JSON_COMPACT);
	char kind[16], label[400], detail[300];
	int64_t now = now_ms();
	int rc, in_tx = 0;

	if (!payload || !zones) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	rc = ctl_db_begin(&c->db);
	if (rc < 0)
		goto db_error;
	in_tx = 1;
	if (edit > 0) {
		/* checked again here: the draft may have moved while an edit imported */
		rc = ctl_draft_may_edit(c, who, edit, kind, sizeof(kind), err, errlen);
		if (rc < 0)
			goto out;
		if (strcmp(kind, d->kind) != 0) {
			snprintf(err, errlen, "draft %" PRId64 " is a%s %s; it can only be replaced "
				 "by another one (withdraw it and submit the %s)", edit,
				 kind[0] == 'a' ? "n" : "", kind, d->kind);
			rc = -EINVAL;
			goto out;
		}
		rc = ctl_db_prep(&c->db, &st, "UPDATE drafts SET title = ?, level = ?, target = ?, "
			      "zones = ?, at = ?, payload = ?, updated = ?, edits = edits + 1 "
			      "WHERE id = ? AND state = 'pending'", "cannot change a draft");
	} else {
		rc = ctl_db_prep(&c->db, &st, "INSERT INTO drafts (title, level, target, zones, "
				"at, payload, updated, kind, state, author, created) VALUES (?, ?, "
				"?, ?, ?, ?, ?, ?, 'pending', ?, ?)", "cannot store a draft");
	}
	if (rc < 0)
		goto db_error;
	sqlite3_bind_text(st, 1, d->title, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, d->level, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, d->target, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, zones, -1, SQLITE_TRANSIENT);
	if (d->at > 0)
		sqlite3_bind_int64(st, 5, d->at);
	else
		sqlite3_bind_null(st, 5);
	sqlite3_bind_text(st, 6, payload, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 7, now);
	if (edit > 0) {
		sqlite3_bind_int64(st, 8, edit);
	} else {
		sqlite3_bind_text(st, 8, d->kind, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 9, who && who->user[0] ? who->user : "-", -1,
				  SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 10, now);
	}
	if (sqlite3_step(st) != SQLITE_DONE || sqlite3_changes(c->db.h) != 1) {
		rc = ctl_db_fail(&c->db, "cannot store a draft");
		goto db_error;
	}
	*id = edit > 0 ? edit : (int64_t)sqlite3_last_insert_rowid(c->db.h);
	draft_label(label, sizeof(label), *id, d->kind, d->title, d->target);
	snprintf(detail, sizeof(detail), "waits for an approver%s", edit > 0 ?
		 ": new content, time or target" : "");
	rc = audit_tx(c, who, edit > 0 ? "draft edited" : "draft submitted", label,
		      edit > 0 ? 200 : 202, detail);
	if (rc < 0)
		goto db_error;
	rc = ctl_db_commit(&c->db);
	in_tx = 0;
	if (rc < 0)
		goto db_error;
	log_info("%s %s by %s: it waits for an approver", label, edit > 0 ? "edited" :
		 "submitted", who && who->user[0] ? who->user : "-");
	goto out;
db_error:
	snprintf(err, errlen, "the controller's database failed: nothing was stored (see "
		 "its log)");
	rc = -EIO;
out:
	sqlite3_finalize(st);
	if (in_tx)
		ctl_db_rollback(&c->db);
	free(payload);
	free(zones);
	return rc;
}

int ctl_draft_approved_tx(struct ctl *c, const struct ctl_principal *who, int64_t id,
			  const char *result, const char *detail)
{
	struct ctl_draft d;
	sqlite3_stmt *st = NULL;
	char label[400];
	int rc;

	rc = ctl_draft_get(c, id, &d);
	if (rc < 0)
		return rc;
	rc = ctl_db_prep(&c->db, &st, "UPDATE drafts SET state = 'approved', decided_by = ?, decided = ?, "
			"updated = ?, result = ? WHERE id = ? AND state = 'pending'",
			"cannot approve a draft");
	if (rc == 0) {
		int64_t now = now_ms();

		sqlite3_bind_text(st, 1, who && who->user[0] ? who->user : "-", -1,
				  SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_int64(st, 3, now);
		sqlite3_bind_text(st, 4, result, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 5, id);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = ctl_db_fail(&c->db, "cannot approve a draft");
		else if (sqlite3_changes(c->db.h) != 1)
			rc = -EINVAL;
	}
	sqlite3_finalize(st);
	if (rc == 0) {
		draft_label(label, sizeof(label), id, d.kind, d.title, d.target);
		rc = audit_tx(c, who, "draft approved", label, 200, detail);
	}
	ctl_draft_clear(&d);
	return rc;
}

/* Reject (with its reason) or withdraw, in a transaction of its own. */
static int draft_decide(struct ctl *c, const struct ctl_principal *who,
			const struct ctl_draft *d, enum draft_action a, const char *reason)
{
	sqlite3_stmt *st = NULL;
	char label[400];
	const char *to;
	int64_t now = now_ms();
	int rc;

	if (ctl_draft_next(d->state, a, &to) < 0)
		return -EINVAL;
	rc = ctl_db_begin(&c->db);
	if (rc < 0)
		return rc;
	rc = ctl_db_prep(&c->db, &st, "UPDATE drafts SET state = ?, decided_by = ?, decided = ?, "
		      "updated = ?, reason = ? WHERE id = ? AND state = 'pending'",
		      "cannot change a draft");
	if (rc == 0) {
		sqlite3_bind_text(st, 1, to, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, who->user, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, now);
		sqlite3_bind_int64(st, 4, now);
		if (reason)
			sqlite3_bind_text(st, 5, reason, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(st, 5);
		sqlite3_bind_int64(st, 6, d->id);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = ctl_db_fail(&c->db, "cannot change a draft");
		else if (sqlite3_changes(c->db.h) != 1)
			rc = -EINVAL;
	}
	sqlite3_finalize(st);
	if (rc == 0) {
		char action[32];

		draft_label(label, sizeof(label), d->id, d->kind, d->title, d->target);
		snprintf(action, sizeof(action), "draft %s", action_verb(a));
		rc = audit_tx(c, who, action, label, 200, reason ? reason : "");
	}
	if (rc == 0)
		rc = ctl_db_commit(&c->db);
	else
		ctl_db_rollback(&c->db);
	if (rc == 0)
		log_info("draft %" PRId64 " %s by %s%s%s", d->id, action_verb(a), who->user,
			 reason ? ": " : "", reason ? reason : "");
	return rc;
}

/* ------------------------------------------------------------ JSON */

static json_t *row_json(sqlite3_stmt *st)
{
	json_t *o, *zones;
	int64_t at = sqlite3_column_int64(st, 11);
	char local[32] = "";

	zones = json_loads(col_text(st, 10), 0, NULL);
	if (at > 0)
		sched_fmt_local(local, sizeof(local), at);
	o = json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:i, s:s, s:s, s:s, s:o}",
		      "draft", (json_int_t)sqlite3_column_int64(st, 0),
		      "kind", col_text(st, 1), "state", col_text(st, 2),
		      "author", col_text(st, 3),
		      "created", (json_int_t)sqlite3_column_int64(st, 4),
		      "updated", (json_int_t)sqlite3_column_int64(st, 5),
		      "edits", sqlite3_column_int(st, 6),
		      "title", col_text(st, 7), "level", col_text(st, 8),
		      "target", col_text(st, 9), "zones", zones ? zones : json_array());
	if (!o)
		return NULL;
	json_object_set_new(o, "at", at > 0 ? json_integer(at) : json_null());
	json_object_set_new(o, "at_local", at > 0 ? json_string(local) : json_null());
	json_object_set_new(o, "decided_by", sqlite3_column_type(st, 13) == SQLITE_NULL
			    ? json_null() : json_string(col_text(st, 13)));
	json_object_set_new(o, "decided", sqlite3_column_type(st, 14) == SQLITE_NULL
			    ? json_null() : json_integer(sqlite3_column_int64(st, 14)));
	json_object_set_new(o, "reason", sqlite3_column_type(st, 15) == SQLITE_NULL
			    ? json_null() : json_string(col_text(st, 15)));
	json_object_set_new(o, "result", sqlite3_column_type(st, 16) == SQLITE_NULL
			    ? json_null() : json_string(col_text(st, 16)));
	{
		json_t *p = json_loads(col_text(st, 12), 0, NULL);

		json_object_set_new(o, "payload", p ? p : json_null());
	}
	return o;
}

#define DRAFT_COLS "id, kind, state, author, created, updated, edits, title, level, " \
		   "target, zones, at, payload, decided_by, decided, reason, result"

json_t *ctl_draft_json(struct ctl *c, int64_t id)
{
	sqlite3_stmt *st = NULL;
	json_t *o = NULL;

	if (ctl_db_prep(&c->db, &st, "SELECT " DRAFT_COLS " FROM drafts WHERE id = ?",
		     "cannot read a draft") < 0)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		o = row_json(st);
	sqlite3_finalize(st);
	return o;
}

/* A draft is readable by its author, by every-zone accounts, and by anyone
 * with one of its zones (as a node is: docs/security.md "Zone scope"). */
static int draft_visible(const struct ctl_principal *who, json_t *d)
{
	json_t *z;
	size_t i;

	if (!who || who->all_zones ||
	    (json_string_value(json_object_get(d, "author")) &&
	     strcmp(json_string_value(json_object_get(d, "author")), who->user) == 0))
		return 1;
	json_array_foreach(json_object_get(d, "zones"), i, z)
		if (json_is_string(z) && strcmp(json_string_value(z), "all") &&
		    ctl_auth_zone_allowed(who, json_string_value(z)))
			return 1;
	return 0;
}

static void drafts_list(struct ctl *c, const struct ctl_principal *who, const char *state,
			int64_t limit, unsigned *status, json_t **reply)
{
	sqlite3_stmt *st = NULL;
	json_t *list = json_array();
	char *zones = NULL;
	int all = strcmp(state, "all") == 0;

	if (!list || (who && ctl_auth_scope_json(who, &zones) < 0)) {
		json_decref(list);
		*status = 500;
		*reply = json_pack("{s:s}", "error", "out of memory");
		return;
	}
	/* the scope in SQL, before the limit (like the play log's) */
	if (ctl_db_prep(&c->db, &st, "SELECT " DRAFT_COLS " FROM drafts d WHERE (? OR state = ?) AND "
			"(?3 IS NULL OR author = ?4 OR EXISTS (SELECT 1 FROM json_each(d.zones) z "
			"WHERE z.value IN (SELECT value FROM json_each(?3)))) ORDER BY id DESC "
			"LIMIT ?", "cannot read the drafts") < 0) {
		free(zones);
		json_decref(list);
		*status = 500;
		*reply = json_pack("{s:s}", "error", "the controller's database failed (see its "
				   "log)");
		return;
	}
	sqlite3_bind_int(st, 1, all);
	sqlite3_bind_text(st, 2, state, -1, SQLITE_TRANSIENT);
	if (zones)
		sqlite3_bind_text(st, 3, zones, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_text(st, 4, who ? who->user : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, limit);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *o = row_json(st);

		if (o)
			json_array_append_new(list, o);
	}
	sqlite3_finalize(st);
	free(zones);
	*status = 200;
	*reply = json_pack("{s:o}", "drafts", list);
}

/* ------------------------------------------------------------ plays */

static void reply_error(unsigned *status, json_t **reply, unsigned code, const char *msg)
{
	*status = code;
	*reply = json_pack("{s:s}", "error", msg);
}

void ctl_approval_broadcast(struct ctl *c, const struct ctl_principal *who,
			    const struct ctl_play_request *req, int64_t edit, unsigned *status,
			    json_t **reply)
{
	struct ctl_content_row content;
	struct ctl_node_row node;
	struct ctl_draft_new d;
	char (*nodes)[CTL_NAME_MAX] = NULL;
	char target[96], err[512];
	json_t *request = NULL, *payload = NULL, *zones = json_array();
	int64_t now = now_ms(), id = 0;
	size_t n = 0;
	int rc;

	*reply = NULL;
	/* what the broadcast itself would refuse, said now rather than at approval */
	rc = ctl_db_content_get(&c->db, req->content, &content);
	if (rc < 0) {
		reply_error(status, reply, rc == -ENOENT ? 404 : 500, rc == -ENOENT ?
			    "no content with that id on this controller (import it first)" :
			    "the controller's database failed (see its log)");
		goto out;
	}
	if (req->at && (req->at > now + CTL_AT_MAX_AHEAD_MS || req->at < now)) {
		reply_error(status, reply, 400, "field \"at\" must be 0 (now, once approved) or "
			    "a time up to 24 hours ahead, in ms since the epoch");
		goto out;
	}
	if (req->node[0]) {
		if (ctl_db_node_get(&c->db, req->node, &node) < 0 || !node.known) {
			snprintf(err, sizeof(err), "no node \"%s\" is known to this controller (it "
				 "has never reported its status)", req->node);
			reply_error(status, reply, 404, err);
			goto out;
		}
		snprintf(target, sizeof(target), "node %s", req->node);
	} else {
		int all = req->all || strcmp(req->zone, "all") == 0;

		nodes = calloc(1024, sizeof(*nodes));
		if (!nodes || ctl_db_zone_nodes(&c->db, all ? NULL : req->zone, nodes, 1024,
						&n) < 0) {
			reply_error(status, reply, 500, "the controller's database failed (see "
				    "its log)");
			goto out;
		}
		if (n == 0) {
			snprintf(err, sizeof(err), all ? "no node is known to this controller yet"
				 : "no node is known to be in zone \"%s\"", req->zone);
			reply_error(status, reply, 404, err);
			goto out;
		}
		snprintf(target, sizeof(target), all ? "all" : "zone %s", req->zone);
	}
	request = json_pack("{s:s, s:s, s:I, s:i, s:s}", "content", req->content, "level",
			    req->level, "at", (json_int_t)req->at, "volume", req->volume, "title",
			    req->title);
	if (request) {
		/* the author's confirmation travels with the draft: it plays at approval */
		if (req->outside_hours)
			json_object_set_new(request, "outside_hours", json_true());
		if (req->node[0])
			json_object_set_new(request, "node", json_string(req->node));
		else if (req->all || strcmp(req->zone, "all") == 0)
			json_object_set_new(request, "all", json_true());
		else
			json_object_set_new(request, "zone", json_string(req->zone));
	}
	payload = request ? json_pack("{s:O}", "request", request) : NULL;
	if (!payload || !zones) {
		reply_error(status, reply, 500, "out of memory");
		goto out;
	}
	ctl_approval_target_zones(c, req->zone, req->node, req->all, zones);
	d.kind = "broadcast";
	d.title = req->title[0] ? req->title : content.title;
	d.level = req->level;
	d.target = target;
	d.zones = zones;
	d.at = req->at;
	d.payload = payload;
	rc = ctl_draft_save(c, who, edit, &d, &id, err, sizeof(err));
	if (rc < 0) {
		reply_error(status, reply, rc == -ENOENT ? 404 : rc == -EPERM ? 403 :
			    rc == -EINVAL ? 409 : 500, err);
		goto out;
	}
	*status = edit > 0 ? 200 : 202;
	*reply = json_pack("{s:o}", "draft", ctl_draft_json(c, id));
out:
	free(nodes);
	json_decref(request);
	json_decref(payload);
	json_decref(zones);
}

/* ------------------------------------------------------------ decisions */

struct approve_ctx {
	struct ctl *c;
	const struct ctl_principal *who;
	int64_t id;
};

static int broadcast_approved(void *arg, const char *broadcast)
{
	struct approve_ctx *a = arg;
	char detail[160];

	snprintf(detail, sizeof(detail), "became broadcast %s", broadcast);
	return ctl_draft_approved_tx(a->c, a->who, a->id, broadcast, detail);
}

/* May who act on every target of a play draft? */
static int broadcast_scope(struct ctl *c, const struct ctl_principal *who, json_t *rq,
			   char *err, size_t errlen)
{
	const char *zone = json_string_value(json_object_get(rq, "zone"));
	const char *node = json_string_value(json_object_get(rq, "node"));
	const char *level = json_string_value(json_object_get(rq, "level"));

	return ctl_auth_check_target(&c->db, who, zone, node,
				     json_is_true(json_object_get(rq, "all")), level, err, errlen);
}

static void approve_broadcast(struct ctl *c, const struct ctl_principal *who,
			      const struct ctl_draft *d, unsigned *status, json_t **reply)
{
	struct ctl_play_request req;
	struct approve_ctx a = { c, who, d->id };
	json_t *rq = json_object_get(d->payload, "request"), *b = NULL;
	char *text = rq ? json_dumps(rq, JSON_COMPACT) : NULL;
	char err[512];
	int rc;

	if (!text || ctl_parse_play_request(text, strlen(text), &req, err, sizeof(err)) < 0) {
		free(text);
		reply_error(status, reply, 500, "the draft's content is damaged in the "
			    "database: reject it");
		return;
	}
	free(text);
	/* it plays now, at approval: now is when the allowed hours count */
	{
		struct ctl_content_row content;
		int64_t at = req.at ? req.at : now_ms(), dur = 0;
		char what[160];

		if (ctl_db_content_get(&c->db, req.content, &content) == 0)
			dur = content.duration_ms;
		snprintf(what, sizeof(what), "draft %" PRId64 " (play by %.60s)", d->id,
			 d->author);
		rc = ctl_hours_gate(c, who, req.level, req.zone, req.node, req.all, at,
				    at + dur, req.outside_hours, what, err, sizeof(err));
		if (rc == -ERANGE) {
			snprintf(err + strlen(err), sizeof(err) - strlen(err), " (approve "
				 "draft %" PRId64 " within the hours, or its author sends it "
				 "again with --outside-hours)", d->id);
			reply_error(status, reply, 409, err);
			return;
		}
	}
	if (rc == 0)
		rc = ctl_broadcast_play_tx(c, &req, broadcast_approved, &a, &b, err, sizeof(err));
	if (rc < 0) {
		reply_error(status, reply, rc == -EINVAL ? 400 : rc == -ENOENT ? 404 : 500, err);
		return;
	}
	*status = 200;
	*reply = json_pack("{s:o, s:o}", "draft", ctl_draft_json(c, d->id), "broadcast", b);
}

/* The refusals every decision shares: state, four eyes, scope, time. */
static int decision_refused(struct ctl *c, const struct ctl_principal *who,
			    const struct ctl_draft *d, enum draft_action a, unsigned *status,
			    json_t **reply)
{
	char err[600], when[32];
	const char *to;

	if (ctl_draft_next(d->state, a, &to) < 0) {
		snprintf(err, sizeof(err), "draft %" PRId64 " is already %s: it can no longer be "
			 "%s", d->id, d->state, action_verb(a));
		reply_error(status, reply, 409, err);
		return 1;
	}
	if (a == DRAFT_WITHDRAW) {
		if (strcmp(who->user, d->author) != 0) {
			snprintf(err, sizeof(err), "draft %" PRId64 " was written by %s: only its "
				 "author can withdraw it (an approver rejects it with a reason)",
				 d->id, d->author);
			reply_error(status, reply, 403, err);
			return 1;
		}
		return 0;
	}
	if (ctl_auth_require(who, PERM_APPROVE, err, sizeof(err)) < 0) {
		size_t l = strlen(err);

		snprintf(err + l, sizeof(err) - l, ": drafts are approved or rejected by an "
			 "approver or an administrator");
		reply_error(status, reply, 403, err);
		return 1;
	}
	if (strcmp(who->user, d->author) == 0) {
		snprintf(err, sizeof(err), "%s wrote draft %" PRId64 ": another approver must %s "
			 "it (four eyes)%s", who->user, d->id, a == DRAFT_APPROVE ? "approve" :
			 "reject", a == DRAFT_REJECT ? "; withdraw it yourself with loaxa "
			 "withdraw" : "");
		reply_error(status, reply, 403, err);
		return 1;
	}
	if ((strcmp(d->kind, "broadcast") == 0
	     ? broadcast_scope(c, who, json_object_get(d->payload, "request"), err, sizeof(err))
	     : ctl_sched_draft_scope(c, who, d, err, sizeof(err))) < 0) {
		reply_error(status, reply, 403, err);
		return 1;
	}
	if (a == DRAFT_APPROVE && d->at > 0 && d->at < now_ms()) {
		sched_fmt_local(when, sizeof(when), d->at);
		snprintf(err, sizeof(err), "draft %" PRId64 " was to start at %s, which has "
			 "passed: it cannot be approved as it is. Ask %s to give it a new time "
			 "(loaxa %s --edit %" PRId64 " ...) or to withdraw it, or reject it",
			 d->id, when, d->author, strcmp(d->kind, "broadcast") == 0 ? "play" :
			 "announce", d->id);
		reply_error(status, reply, 409, err);
		return 1;
	}
	return 0;
}

static void decide(struct ctl *c, const struct ctl_principal *who, int64_t id,
		   enum draft_action a, const char *body, size_t len, unsigned *status,
		   json_t **reply, char *target, size_t targetlen)
{
	struct ctl_draft d;
	char err[600], reason[DRAFT_REASON_MAX + 1] = "";
	json_t *o = NULL;
	int rc;

	rc = ctl_draft_get(c, id, &d);
	snprintf(target, targetlen, "draft %" PRId64, id);
	if (rc < 0) {
		snprintf(err, sizeof(err), rc == -ENOENT ? "there is no draft %" PRId64 " (see "
			 "loaxa drafts)" : "the controller's database failed (see its log)", id);
		reply_error(status, reply, rc == -ENOENT ? 404 : 500, err);
		return;
	}
	draft_label(target, targetlen, d.id, d.kind, d.title, d.target);
	if (a == DRAFT_REJECT) {
		/* a rejection says why: the author must know what to change */
		o = ctl_json_object(body, len, err, sizeof(err));
		if (!o || ctl_json_str(o, "reason", CTL_REQUIRED, reason, sizeof(reason), err,
				       sizeof(err)) < 0 || !reason[0] ||
		    !ctl_text_valid(reason, strlen(reason))) {
			reply_error(status, reply, 400, "give the reason for rejecting: "
				    "{\"reason\": \"...\"} (1 to 500 bytes of text; loaxa reject "
				    "ID --reason \"...\")");
			goto out;
		}
	}
	if (decision_refused(c, who, &d, a, status, reply))
		goto out;
	if (a == DRAFT_APPROVE) {
		if (strcmp(d.kind, "broadcast") == 0)
			approve_broadcast(c, who, &d, status, reply);
		else
			ctl_sched_approve(c, who, &d, status, reply);
		goto out;
	}
	rc = draft_decide(c, who, &d, a, a == DRAFT_REJECT ? reason : NULL);
	if (rc < 0) {
		reply_error(status, reply, rc == -EINVAL ? 409 : 500, rc == -EINVAL ?
			    "the draft changed meanwhile: look again (loaxa drafts)" :
			    "the controller's database failed (see its log)");
		goto out;
	}
	*status = 200;
	*reply = json_pack("{s:o}", "draft", ctl_draft_json(c, id));
out:
	json_decref(o);
	ctl_draft_clear(&d);
}

/* ------------------------------------------------------------ reviews */

int ctl_review_record_tx(struct ctl *c, const struct ctl_principal *who, const char *emergency,
			 int64_t now)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = ctl_db_prep(&c->db, &st, "INSERT INTO emergency_reviews (emergency, started_by, started) "
			"VALUES (?, ?, ?)", "cannot record an emergency for review");
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, emergency, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, who && who->user[0] ? who->user : "-", -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, now);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0
		: ctl_db_fail(&c->db, "cannot record an emergency for review");
	sqlite3_finalize(st);
	return rc;
}

#define REVIEW_COLS "r.emergency, r.started_by, r.started, r.reviewed_by, r.reviewed, " \
		    "r.note, b.target_kind, b.target, b.content, ct.title, b.expires"
#define REVIEW_FROM " FROM emergency_reviews r LEFT JOIN broadcasts b ON b.id = " \
		    "r.emergency LEFT JOIN content ct ON ct.id = b.content"

static json_t *review_json(sqlite3_stmt *st)
{
	const char *id = col_text(st, 0);
	json_t *o = json_pack("{s:s, s:b, s:s, s:I, s:s, s:s, s:s, s:s, s:I}",
			      "emergency", id, "drill", id[0] == 'd', "started_by",
			      col_text(st, 1), "started", (json_int_t)sqlite3_column_int64(st, 2),
			      "target_kind", col_text(st, 6), "target", col_text(st, 7),
			      "content", col_text(st, 8), "title", col_text(st, 9), "expires",
			      (json_int_t)sqlite3_column_int64(st, 10));

	if (!o)
		return NULL;
	json_object_set_new(o, "reviewed_by", sqlite3_column_type(st, 3) == SQLITE_NULL
			    ? json_null() : json_string(col_text(st, 3)));
	json_object_set_new(o, "reviewed", sqlite3_column_type(st, 4) == SQLITE_NULL
			    ? json_null() : json_integer(sqlite3_column_int64(st, 4)));
	json_object_set_new(o, "note", sqlite3_column_type(st, 5) == SQLITE_NULL
			    ? json_null() : json_string(col_text(st, 5)));
	return o;
}

/* Read like the broadcast it is (api.c broadcast_readable). */
static int review_visible(struct ctl *c, const struct ctl_principal *who, json_t *r)
{
	const char *kind = json_string_value(json_object_get(r, "target_kind"));
	const char *target = json_string_value(json_object_get(r, "target"));

	if (!who || who->all_zones)
		return 1;
	if (!kind || !target || strcmp(kind, "all") == 0)
		return 0;
	return strcmp(kind, "zone") == 0 ? ctl_auth_zone_allowed(who, target)
					 : ctl_auth_node_visible(&c->db, who, target);
}

static void reviews_list(struct ctl *c, const struct ctl_principal *who, int all,
			 unsigned *status, json_t **reply)
{
	sqlite3_stmt *st = NULL;
	json_t *list = json_array();

	if (!list || ctl_db_prep(&c->db, &st, "SELECT " REVIEW_COLS REVIEW_FROM " WHERE ? OR "
			      "r.reviewed IS NULL ORDER BY r.started DESC LIMIT 1000",
			      "cannot read the emergencies") < 0) {
		json_decref(list);
		reply_error(status, reply, 500, "the controller's database failed (see its log)");
		return;
	}
	sqlite3_bind_int(st, 1, all);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *o = review_json(st);

		if (o && review_visible(c, who, o))
			json_array_append_new(list, o);
		else
			json_decref(o);
	}
	sqlite3_finalize(st);
	*status = 200;
	*reply = json_pack("{s:o}", "emergencies", list);
}

static void review_one(struct ctl *c, const struct ctl_principal *who, const char *id,
		       const char *body, size_t len, unsigned *status, json_t **reply,
		       char *target, size_t targetlen)
{
	sqlite3_stmt *st = NULL;
	char err[600], note[DRAFT_REASON_MAX + 1] = "";
	json_t *o = NULL, *r = NULL;
	int rc;

	snprintf(target, targetlen, "emergency %s", id);
	if (len) {
		o = ctl_json_object(body, len, err, sizeof(err));
		if (!o || ctl_json_str(o, "note", CTL_OPTIONAL, note, sizeof(note), err,
				       sizeof(err)) < 0 || !ctl_text_valid(note, strlen(note))) {
			reply_error(status, reply, 400, "the body is {\"note\": \"...\"} (optional, "
				    "at most 500 bytes of text)");
			goto out;
		}
	}
	if (ctl_db_prep(&c->db, &st, "SELECT " REVIEW_COLS REVIEW_FROM " WHERE r.emergency = ?",
		     "cannot read an emergency") < 0) {
		reply_error(status, reply, 500, "the controller's database failed (see its log)");
		goto out;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		r = review_json(st);
	sqlite3_finalize(st);
	st = NULL;
	if (!r) {
		snprintf(err, sizeof(err), "no emergency %s awaits review (see loaxa reviews)", id);
		reply_error(status, reply, 404, err);
		goto out;
	}
	if (ctl_auth_check_stored(&c->db, who, json_string_value(json_object_get(r,
				  "target_kind")), json_string_value(json_object_get(r, "target")),
				  err, sizeof(err)) < 0) {
		reply_error(status, reply, 403, err);
		goto out;
	}
	if (!json_is_null(json_object_get(r, "reviewed_by"))) {
		snprintf(err, sizeof(err), "emergency %s was already reviewed by %s", id,
			 json_string_value(json_object_get(r, "reviewed_by")));
		reply_error(status, reply, 409, err);
		goto out;
	}
	if (strcmp(json_string_value(json_object_get(r, "started_by")), who->user) == 0) {
		snprintf(err, sizeof(err), "%s started emergency %s: someone else reviews it "
			 "(another approver or an administrator)", who->user, id);
		reply_error(status, reply, 403, err);
		goto out;
	}
	rc = ctl_db_begin(&c->db);
	if (rc == 0)
		rc = ctl_db_prep(&c->db, &st, "UPDATE emergency_reviews SET reviewed_by = ?, reviewed = ?, "
				"note = ? WHERE emergency = ? AND reviewed IS NULL",
				"cannot record a review");
	if (rc == 0) {
		sqlite3_bind_text(st, 1, who->user, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, now_ms());
		sqlite3_bind_text(st, 3, note, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 4, id, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(c->db.h) == 1 ? 0
			: ctl_db_fail(&c->db, "cannot record a review");
	}
	sqlite3_finalize(st);
	if (rc == 0)
		rc = audit_tx(c, who, "emergency reviewed", target, 200, note);
	if (rc == 0)
		rc = ctl_db_commit(&c->db);
	else
		ctl_db_rollback(&c->db);
	if (rc < 0) {
		reply_error(status, reply, 500, "the controller's database failed (see its log)");
		goto out;
	}
	log_info("emergency %s reviewed by %s%s%s", id, who->user, note[0] ? ": " : "", note);
	*status = 200;
	*reply = json_pack("{s:s, s:s, s:s}", "reviewed", id, "by", who->user, "note", note);
out:
	json_decref(o);
	json_decref(r);
}

/* ------------------------------------------------------------ API */

int ctl_approval_owns_url(const char *url)
{
	return (strncmp(url, "/v1/drafts", 10) == 0 && (!url[10] || url[10] == '/')) ||
	       (strncmp(url, "/v1/reviews", 11) == 0 && (!url[11] || url[11] == '/'));
}

static int emergency_id_valid(const char *s)
{
	size_t i;

	if (!s[0] || strlen(s) >= CTL_ID_MAX)
		return 0;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

void ctl_approval_api(struct ctl *c, const struct ctl_principal *who, const char *method,
		      const char *url, const char *(*arg)(void *ctx, const char *key),
		      void *arg_ctx, const char *body, size_t len, unsigned *status,
		      json_t **reply, char *target, size_t targetlen)
{
	int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	char idtext[24], err[300];
	const char *rest, *slash;
	int64_t id;

	*reply = NULL;
	if (strncmp(url, "/v1/reviews", 11) == 0) {
		if (strcmp(url, "/v1/reviews") == 0 && get) {
			const char *q = arg ? arg(arg_ctx, "all") : NULL;

			reviews_list(c, who, q && (strcmp(q, "1") == 0 || strcmp(q, "true") == 0),
				     status, reply);
		} else if (strncmp(url, "/v1/reviews/", 12) == 0 && post &&
			   emergency_id_valid(url + 12)) {
			if (ctl_auth_require(who, PERM_APPROVE, err, sizeof(err)) < 0) {
				snprintf(target, targetlen, "emergency %s", url + 12);
				reply_error(status, reply, 403, err);
				return;
			}
			review_one(c, who, url + 12, body, len, status, reply, target, targetlen);
		} else {
			reply_error(status, reply, 404, "no such endpoint: GET /v1/reviews, POST "
				    "/v1/reviews/<emergency id> (docs/approval.md)");
		}
		return;
	}
	if (strcmp(url, "/v1/drafts") == 0) {
		if (!get) {
			reply_error(status, reply, 405, "use GET on /v1/drafts (a draft is made by "
				    "POST /v1/announcements, /v1/broadcasts or /v1/schedule/apply)");
			return;
		}
		{
			const char *state = arg ? arg(arg_ctx, "state") : NULL;
			const char *l = arg ? arg(arg_ctx, "limit") : NULL;
			long long limit = 200;
			char *end = NULL;

			if (!state)
				state = "pending";
			if (strcmp(state, "pending") && strcmp(state, "approved") &&
			    strcmp(state, "rejected") && strcmp(state, "withdrawn") &&
			    strcmp(state, "all")) {
				reply_error(status, reply, 400, "state must be pending, approved, "
					    "rejected, withdrawn or all");
				return;
			}
			if (l) {
				errno = 0;
				limit = strtoll(l, &end, 10);
				if (errno || *end || limit < 1 || limit > 100000) {
					reply_error(status, reply, 400, "limit must be a number from 1 "
						    "to 100000");
					return;
				}
			}
			drafts_list(c, who, state, limit, status, reply);
		}
		return;
	}
	rest = url + 11; /* after "/v1/drafts/" */
	slash = strchr(rest, '/');
	snprintf(idtext, sizeof(idtext), "%.*s", slash ? (int)(slash - rest) : (int)strlen(rest),
		 rest);
	id = ctl_draft_id_parse(idtext);
	if (id < 0) {
		reply_error(status, reply, 404, "no such draft: draft ids are numbers (see loaxa "
			    "drafts)");
		return;
	}
	snprintf(target, targetlen, "draft %" PRId64, id);
	if (!slash && get) {
		json_t *d = ctl_draft_json(c, id);

		if (!d) {
			snprintf(err, sizeof(err), "there is no draft %" PRId64 " (see loaxa drafts)",
				 id);
			reply_error(status, reply, 404, err);
		} else if (!draft_visible(who, d)) {
			json_decref(d);
			snprintf(err, sizeof(err), "%s may not see draft %" PRId64 " (it is for "
				 "zones outside theirs)", who->user, id);
			reply_error(status, reply, 403, err);
		} else {
			*status = 200;
			*reply = d;
		}
		return;
	}
	if (slash && post && strcmp(slash, "/approve") == 0)
		decide(c, who, id, DRAFT_APPROVE, body, len, status, reply, target, targetlen);
	else if (slash && post && strcmp(slash, "/reject") == 0)
		decide(c, who, id, DRAFT_REJECT, body, len, status, reply, target, targetlen);
	else if (slash && post && strcmp(slash, "/withdraw") == 0)
		decide(c, who, id, DRAFT_WITHDRAW, body, len, status, reply, target, targetlen);
	else
		reply_error(status, reply, 404, "no such endpoint: GET /v1/drafts/ID, PUT "
			    "/v1/drafts/ID, POST /v1/drafts/ID/approve, /reject, /withdraw");
}
