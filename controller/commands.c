/*
 * commands.c - see commands.h.
 */
#include "commands.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "ctl.h"
#include "ctlutil.h"
#include "journal.h"
#include "log.h"
#include "util.h"

/* A maintenance command is void this long after it was sent. */
#define MAINT_TTL_MS (5 * 60 * 1000)

static int store(struct ctl *c, const char *id, const char *node, const char *cmd,
		 const char *body, int64_t now)
{
	sqlite3_stmt *st = NULL;
	int rc = -EIO;

	if (ctl_db_prep(&c->db, &st, "INSERT INTO commands (id, node, cmd, body, created, state, "
			"updated) VALUES (?, ?, ?, ?, ?, 'sent', ?)", NULL) < 0)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, node, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, cmd, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, body, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int64(st, 6, now);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = 0;
out:
	if (rc < 0)
		log_errorx("%s: cannot store command %s: %s", c->db.path, id,
			   sqlite3_errmsg(c->db.h));
	sqlite3_finalize(st);
	return rc;
}

static int set_state(struct ctl *c, const char *id, const char *node, const char *state,
		     const char *reason, int only_if_sent)
{
	sqlite3_stmt *st = NULL;
	int rc = -EIO;

	if (ctl_db_prep(&c->db, &st, only_if_sent
			       ? "UPDATE commands SET state = ?1, reason = ?2, updated = ?3 "
			"WHERE id = ?4 AND node = ?5 AND state IN ('sent', 'ok')"
			       : "UPDATE commands SET state = ?1, reason = ?2, updated = ?3 "
			"WHERE id = ?4 AND node = ?5", NULL) < 0)
		goto out;
	sqlite3_bind_text(st, 1, state, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, reason, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, now_ms());
	sqlite3_bind_text(st, 4, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, node, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = sqlite3_changes(c->db.h);
out:
	if (rc < 0)
		log_errorx("%s: cannot update command %s: %s", c->db.path, id,
			   sqlite3_errmsg(c->db.h));
	sqlite3_finalize(st);
	return rc;
}

json_t *ctl_maint_get(struct ctl *c, const char *id)
{
	sqlite3_stmt *st = NULL;
	json_t *o = NULL, *body;

	if (ctl_db_prep(&c->db, &st, "SELECT id, node, cmd, body, created, state, reason, updated "
			"FROM commands WHERE id = ?", NULL) < 0)
		return NULL;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		body = json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL);
		o = json_pack("{s:s, s:s, s:s, s:o, s:I, s:s, s:s, s:I}",
			      "command", (const char *)sqlite3_column_text(st, 0),
			      "node", (const char *)sqlite3_column_text(st, 1),
			      "cmd", (const char *)sqlite3_column_text(st, 2),
			      "body", body ? body : json_null(),
			      "created", (json_int_t)sqlite3_column_int64(st, 4),
			      "state", (const char *)sqlite3_column_text(st, 5),
			      "reason", (const char *)sqlite3_column_text(st, 6),
			      "updated", (json_int_t)sqlite3_column_int64(st, 7));
	}
	sqlite3_finalize(st);
	return o;
}

static int args_int(json_t *args, const char *key, int required, int min, int max, int def,
		    int *out, char *err, size_t errlen)
{
	int64_t v;
	int rc = args ? ctl_json_int(args, key, required, min, max, &v, err, errlen)
		      : (required ? -EINVAL : 1);

	if (rc < 0) {
		if (!args)
			snprintf(err, errlen, "field \"%s\" is missing", key);
		return -EINVAL;
	}
	*out = rc == 1 ? def : (int)v;
	return 0;
}

int ctl_maint_command(struct ctl *c, const char *node, const char *action, json_t *args,
		      json_t **reply, char *err, size_t errlen)
{
	static unsigned counter;
	struct ctl_node_row row;
	struct ctl_content_row content;
	char id[CTL_ID_MAX], cmd[16], *text = NULL;
	json_t *body = NULL;
	int64_t now = now_ms();
	int rc, v;

	*reply = NULL;
	if (strcmp(action, "test-tone") == 0 || strcmp(action, "test_tone") == 0)
		snprintf(cmd, sizeof(cmd), "test_tone");
	else if (!strcmp(action, "volume") || !strcmp(action, "stop") ||
		 !strcmp(action, "restart") || !strcmp(action, "selftest"))
		snprintf(cmd, sizeof(cmd), "%s", action);
	else {
		snprintf(err, errlen, "unknown node action \"%s\" (volume, stop, restart, "
			 "test-tone, selftest)", action);
		return -ENOENT;
	}
	rc = ctl_db_node_get(&c->db, node, &row);
	if (rc < 0) {
		snprintf(err, errlen, "the controller's database failed (see its log)");
		return rc;
	}
	if (!row.known) {
		snprintf(err, errlen, "no node \"%s\" is known to this controller", node);
		return -ENOENT;
	}
	snprintf(id, sizeof(id), "c-%" PRId64 "-%u", now, ++counter % 10000);
	body = json_pack("{s:s, s:s}", "cmd", cmd, "id", id);
	if (!body)
		return -ENOMEM;
	if (strcmp(cmd, "volume") == 0) {
		if (args_int(args, "level", 1, 0, 100, 0, &v, err, errlen) < 0) {
			rc = -EINVAL;
			goto out;
		}
		json_object_set_new(body, "level", json_integer(v));
	} else if (strcmp(cmd, "test_tone") == 0) {
		const char *cid = args ? json_string_value(json_object_get(args, "content"))
				       : NULL;

		if (!cid || !content_id_valid(cid)) {
			snprintf(err, errlen, "field \"content\" must be the content id of the "
				 "tone (the CLI imports one)");
			rc = -EINVAL;
			goto out;
		}
		rc = ctl_db_content_get(&c->db, cid, &content);
		if (rc < 0) {
			snprintf(err, errlen, "no content %s on this controller", cid);
			rc = rc == -ENOENT ? -EINVAL : rc;
			goto out;
		}
		if (args_int(args, "volume", 0, 0, 100, 100, &v, err, errlen) < 0) {
			rc = -EINVAL;
			goto out;
		}
		json_object_set_new(body, "content", json_string(cid));
		json_object_set_new(body, "bytes", json_integer(content.bytes));
		json_object_set_new(body, "duration_ms", json_integer(content.duration_ms));
		json_object_set_new(body, "volume", json_integer(v));
	}
	text = json_dumps(body, JSON_COMPACT);
	if (!text) {
		rc = -ENOMEM;
		goto out;
	}
	rc = store(c, id, node, cmd, text, now);
	if (rc < 0) {
		snprintf(err, errlen, "the controller's database failed (see its log)");
		goto out;
	}
	rc = ctl_send_node_cmd(c, node, body, MAINT_TTL_MS);
	if (rc < 0 && rc != -ENOTCONN) {
		snprintf(err, errlen, "cannot send the command: %s", strerror(-rc));
		set_state(c, id, node, "failed", err, 0);
		goto out;
	}
	log_info("command %s: %s to node %s%s", id, cmd, node,
		 rc == -ENOTCONN ? " (not connected to the broker: sent when it returns)" : "");
	rc = 0;
	*reply = ctl_maint_get(c, id);
	if (!*reply)
		rc = -ENOMEM;
out:
	free(text);
	json_decref(body);
	return rc;
}

void ctl_maint_on_event(struct ctl *c, const struct ctl_event *ev)
{
	if (strcmp(ev->type, "cmd_done") == 0 && ev->data) {
		json_t *o = json_loads(ev->data, 0, NULL);
		const char *id = o ? json_string_value(json_object_get(o, "command")) : NULL;
		const char *result = o ? json_string_value(json_object_get(o, "result")) : NULL;

		if (id && result && (!strcmp(result, "ok") || !strcmp(result, "refused") ||
				     !strcmp(result, "failed"))) {
			if (set_state(c, id, ev->node, result, ev->reason, 1) > 0)
				log_info("command %s confirmed by node %s: %s%s%s", id, ev->node,
					 result, ev->reason[0] ? ": " : "", ev->reason);
		}
		json_decref(o);
		return;
	}
	/*
	 * A horn self-test's result names its command: the command is done
	 * ("tested"), the reason says what the node found (the alarm comes
	 * from the node's status, alarms.c).
	 */
	if (strcmp(ev->type, "selftest") == 0 && ev->data) {
		json_t *o = json_loads(ev->data, 0, NULL);
		const char *id = o ? json_string_value(json_object_get(o, "command")) : NULL;
		const char *result = o ? json_string_value(json_object_get(o, "result")) : NULL;
		char reason[300];

		if (id && result) {
			if (!strcmp(result, "error"))
				snprintf(reason, sizeof(reason), "error: %s", ev->reason);
			else
				snprintf(reason, sizeof(reason), "%s: tone %.1f dB, noise %.1f dB",
					 result, json_number_value(json_object_get(o, "level_db")),
					 json_number_value(json_object_get(o, "noise_db")));
			set_state(c, id, ev->node, "tested", reason, 1);
		}
		json_decref(o);
		return;
	}
	/* a test tone plays as a broadcast named after its command */
	if (strncmp(ev->broadcast, "c-", 2) == 0) {
		if (strcmp(ev->type, "play_finished") == 0)
			set_state(c, ev->broadcast, ev->node, "played", "", 1);
		else if (strcmp(ev->type, "play_failed") == 0)
			set_state(c, ev->broadcast, ev->node, "failed", ev->reason, 1);
	}
}

int ctl_maint_send(struct ctl *c, const char *node, json_t *body, int64_t ttl_ms,
		   char id[CTL_ID_MAX], char *err, size_t errlen)
{
	static unsigned counter;
	const char *cmd = json_string_value(json_object_get(body, "cmd"));
	char *text = NULL;
	int64_t now = now_ms();
	int rc;

	if (!cmd)
		return -EINVAL;
	/* "u": not the counter of ctl_maint_command, whose ids of the same ms it could take */
	snprintf(id, CTL_ID_MAX, "c-%" PRId64 "-u%u", now, ++counter % 10000);
	json_object_set_new(body, "id", json_string(id));
	text = json_dumps(body, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	rc = store(c, id, node, cmd, text, now);
	if (rc < 0) {
		snprintf(err, errlen, "the controller's database failed (see its log)");
		goto out;
	}
	rc = ctl_send_node_cmd(c, node, body, ttl_ms);
	if (rc < 0 && rc != -ENOTCONN) {
		snprintf(err, errlen, "cannot send the command: %s", strerror(-rc));
		set_state(c, id, node, "failed", err, 0);
		goto out;
	}
	log_info("command %s: %s to node %s%s", id, cmd, node,
		 rc == -ENOTCONN ? " (not connected to the broker: sent when it returns)" : "");
	rc = 0;
out:
	free(text);
	return rc;
}
