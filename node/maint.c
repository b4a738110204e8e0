/*
 * maint.c - see maint.h.
 */
#include "maint.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "envelope.h"
#include "events.h"
#include "log.h"
#include "node.h"
#include "queue.h"
#include "status.h"
#include "sysinfo.h"
#include "update.h"
#include "util.h"

static void confirm(struct node *n, const char *id, const char *cmd, const char *result,
		    const char *reason, json_t *more)
{
	struct event_info info = EVENT_INFO_INIT;
	json_t *extra = json_pack("{s:s, s:s, s:s}", "command", id, "cmd", cmd, "result",
				  result);

	if (extra && more)
		json_object_update(extra, more);
	info.reason = reason;
	info.extra = extra;
	events_emit(n, "cmd_done", &info);
	json_decref(extra);
}

static void refuse(struct node *n, const char *topic, const char *id, const char *cmd,
		   const char *why)
{
	log_warnx("rejected message on %s: %s", topic, why);
	n->rejected_body++;
	status_dirty(n);
	if (id)
		confirm(n, id, cmd, "refused", why, NULL);
}

static void do_ack(struct node *n, const char *topic, json_t *o)
{
	json_t *ids = json_object_get(o, "ids"), *v;
	const char *list[MAINT_MAX_ACK_IDS];
	size_t i, k = 0, removed;

	if (!json_is_array(ids) || json_array_size(ids) == 0 ||
	    json_array_size(ids) > MAINT_MAX_ACK_IDS) {
		refuse(n, topic, NULL, "ack", "ack: field \"ids\" must be a list of 1 to 500 "
		       "event ids");
		return;
	}
	json_array_foreach(ids, i, v) {
		if (!json_is_string(v) || json_string_length(v) >= EVENT_ID_MAX) {
			refuse(n, topic, NULL, "ack", "ack: field \"ids\": every entry must be an "
			       "event id (a string)");
			return;
		}
		list[k++] = json_string_value(v);
	}
	removed = events_ack(n, list, k);
	log_debug("controller acknowledged %zu event(s), %zu were still in the journal", k,
		  removed);
}

/* Command ids come from the controller; same alphabet as broadcast ids. */
static const char *command_id(json_t *o)
{
	const char *id = json_string_value(json_object_get(o, "id"));

	return id && broadcast_id_valid(id) ? id : NULL;
}

static void do_volume(struct node *n, const char *topic, json_t *o, const char *id)
{
	json_t *v = json_object_get(o, "level");
	char reason[120];
	int rc, before = n->sys.volume;

	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100) {
		refuse(n, topic, id, "volume", "volume: field \"level\" must be a whole number "
		       "from 0 to 100");
		return;
	}
	rc = sysinfo_set_volume(n, (int)json_integer_value(v));
	if (rc < 0) {
		snprintf(reason, sizeof(reason), "cannot store the volume: %s", strerror(-rc));
		confirm(n, id, "volume", "failed", reason, NULL);
		return;
	}
	log_info("master volume set to %d (was %d) by the controller (command %s); it "
		 "applies from the next play", n->sys.volume, before, id);
	status_dirty(n);
	{
		json_t *more = json_pack("{s:i}", "volume", n->sys.volume);
		confirm(n, id, "volume", "ok", "", more);
		json_decref(more);
	}
}

static void do_test_tone(struct node *n, const char *topic, json_t *o, const char *id,
			 const struct envelope *env)
{
	struct play_item it;
	json_t *v;
	const char *content = json_string_value(json_object_get(o, "content"));
	int rc;

	memset(&it, 0, sizeof(it));
	if (!content || !content_id_valid(content)) {
		refuse(n, topic, id, "test_tone", "test_tone: field \"content\" must be a "
		       "content id (64 lowercase hex digits)");
		return;
	}
	snprintf(it.broadcast, sizeof(it.broadcast), "%s", id);
	snprintf(it.content, sizeof(it.content), "%s", content);
	snprintf(it.title, sizeof(it.title), "test tone");
	v = json_object_get(o, "bytes");
	it.bytes = json_is_integer(v) && json_integer_value(v) > 0
		   ? (uint64_t)json_integer_value(v) : 0;
	v = json_object_get(o, "duration_ms");
	it.duration_ms = json_is_integer(v) && json_integer_value(v) >= 0
			 ? json_integer_value(v) : -1;
	v = json_object_get(o, "volume");
	it.volume = 100;
	if (v && (!json_is_integer(v) || json_integer_value(v) < 0 ||
		  json_integer_value(v) > 100)) {
		refuse(n, topic, id, "test_tone", "test_tone: field \"volume\" must be a whole "
		       "number from 0 to 100");
		return;
	}
	if (v)
		it.volume = (int)json_integer_value(v);
	it.level = LEVEL_PRIORITY;
	it.expires = env->expires_at;
	it.warmup_s = -1; /* amplifier.warmup_s, like any play */
	rc = queue_add(n, &it);
	if (rc < 0 && rc != -ENOSPC) {
		char reason[100];

		snprintf(reason, sizeof(reason), "cannot queue the tone: %s", strerror(-rc));
		confirm(n, id, "test_tone", "failed", reason, NULL);
		return;
	}
	log_info("test tone queued (command %s)", id);
	confirm(n, id, "test_tone", "ok", "", NULL);
}

/* The horn self-test (selftest.h): accepted now, its result comes as a "selftest" event. */
static void do_selftest(struct node *n, const char *id)
{
	char why[200];
	int rc = selftest_request(n, id, why, sizeof(why));

	confirm(n, id, "selftest", rc < 0 ? "refused" : "ok", rc < 0 ? why : "", NULL);
}

int maint_on_cmd(struct node *n, const char *topic, const struct envelope *env)
{
	json_t *o = json_loadb((const char *)env->body, env->body_len, JSON_REJECT_DUPLICATES,
			       NULL);
	const char *name, *id;
	int mine = 1;

	name = o && json_is_object(o) ? json_string_value(json_object_get(o, "cmd")) : NULL;
	if (!name) {
		json_decref(o);
		return 0; /* cmd.c explains what is wrong with it */
	}
	if (strcmp(name, "update") == 0) {
		json_decref(o);
		return update_on_cmd(n, topic, env); /* update.h */
	}
	if (strcmp(name, "ack") == 0) {
		do_ack(n, topic, o);
		goto out;
	}
	/* a stop without an id is the broadcast stop of cmd.c (no confirmation) */
	if (strcmp(name, "volume") && strcmp(name, "restart") && strcmp(name, "test_tone") &&
	    strcmp(name, "selftest") &&
	    !(strcmp(name, "stop") == 0 && json_object_get(o, "id"))) {
		mine = 0;
		goto out;
	}
	id = command_id(o);
	if (!id) {
		refuse(n, topic, NULL, name, "field \"id\" must be a command id (1 to 63 "
		       "letters, digits, '-', '_', '.', ':')");
		goto out;
	}
	if (strcmp(name, "volume") == 0) {
		do_volume(n, topic, o, id);
	} else if (strcmp(name, "test_tone") == 0) {
		do_test_tone(n, topic, o, id, env);
	} else if (strcmp(name, "selftest") == 0) {
		do_selftest(n, id);
	} else if (strcmp(name, "stop") == 0) {
		int count = queue_stop(n, NULL);
		json_t *more = json_pack("{s:i}", "stopped", count);

		log_info("stop command %s: %d play(s) stopped", id, count);
		confirm(n, id, "stop", "ok", "", more);
		json_decref(more);
	} else {
		log_info("restart requested by the controller (command %s): stopping cleanly "
			 "and starting again", id);
		confirm(n, id, "restart", "ok", "", NULL);
		n->restart = 1;
	}
out:
	json_decref(o);
	return mine;
}
