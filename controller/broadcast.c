/*
 * broadcast.c - see broadcast.h.
 */
#include "broadcast.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "ctlutil.h"
#include "envelope.h"
#include "log.h"
#include "util.h"
#include "topic.h"

/* At most this many nodes are named in one broadcast (a district). */
#define CTL_MAX_TARGETS 4096

static const char *const levels[] = { "relay", "normal", "priority", "emergency", NULL };

int ctl_parse_play_request(const void *body, size_t len, struct ctl_play_request *req,
			   char *err, size_t errlen)
{
	json_t *o, *v;
	int64_t n;
	int rc = -EINVAL, ntargets = 0, i;

	memset(req, 0, sizeof(*req));
	strcpy(req->level, "normal");
	req->volume = 100;
	o = ctl_json_object(body, len, err, errlen);
	if (!o)
		return -EINVAL;
	if (ctl_json_str(o, "content", CTL_REQUIRED, req->content, sizeof(req->content),
			 err, errlen) < 0 || !content_id_valid(req->content)) {
		snprintf(err, errlen, "field \"content\" must be a content id (64 lowercase "
			 "hex digits, see GET /v1/content)");
		goto out;
	}
	switch (ctl_json_str(o, "zone", CTL_OPTIONAL, req->zone, sizeof(req->zone), err,
			     errlen)) {
	case 0:
		if (!name_valid(req->zone)) {
			snprintf(err, errlen, "field \"zone\" is not a zone name (1-31 of a-z, "
				 "0-9, '-', '_')");
			goto out;
		}
		ntargets++;
		break;
	case 1:
		break;
	default:
		goto out;
	}
	switch (ctl_json_str(o, "node", CTL_OPTIONAL, req->node, sizeof(req->node), err,
			     errlen)) {
	case 0:
		if (!name_valid(req->node)) {
			snprintf(err, errlen, "field \"node\" is not a node id (1-31 of a-z, "
				 "0-9, '-', '_')");
			goto out;
		}
		ntargets++;
		break;
	case 1:
		break;
	default:
		goto out;
	}
	switch (ctl_json_bool(o, "all", CTL_OPTIONAL, &req->all, err, errlen)) {
	case 0:
		if (req->all)
			ntargets++;
		break;
	case 1:
		break;
	default:
		goto out;
	}
	if (ntargets != 1) {
		snprintf(err, errlen, "name exactly one target: \"zone\", \"node\" or "
			 "\"all\": true");
		goto out;
	}
	if (ctl_json_str(o, "level", CTL_OPTIONAL, req->level, sizeof(req->level), err,
			 errlen) < 0)
		goto out;
	for (i = 0; levels[i]; i++)
		if (strcmp(req->level, levels[i]) == 0)
			break;
	if (!levels[i]) {
		snprintf(err, errlen, "field \"level\" must be relay, normal, priority or "
			 "emergency");
		goto out;
	}
	if (ctl_json_int(o, "at", CTL_OPTIONAL, 0, CTL_JSON_INT_MAX, &req->at, err,
			 errlen) < 0)
		goto out;
	n = req->volume;
	if (ctl_json_int(o, "volume", CTL_OPTIONAL, 0, 100, &n, err, errlen) < 0)
		goto out;
	req->volume = (int)n;
	if (ctl_json_bool(o, "outside_hours", CTL_OPTIONAL, &req->outside_hours, err,
			  errlen) < 0)
		goto out;
	v = json_object_get(o, "title");
	if (v) {
		if (ctl_json_str(o, "title", CTL_OPTIONAL, req->title, sizeof(req->title),
				 err, errlen) < 0)
			goto out;
		if (!ctl_text_valid(req->title, strlen(req->title))) {
			snprintf(err, errlen, "field \"title\" contains control characters");
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(o);
	return rc;
}

static void local_time(char *buf, size_t len, int64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	localtime_r(&s, &tm);
	strftime(buf, len, "%H:%M:%S", &tm);
}

int ctl_broadcast_play(struct ctl *c, const struct ctl_play_request *req,
		       json_t **reply, char *err, size_t errlen)
{
	return ctl_broadcast_play_tx(c, req, NULL, NULL, reply, err, errlen);
}

int ctl_broadcast_play_tx(struct ctl *c, const struct ctl_play_request *req,
			  int (*hook)(void *arg, const char *broadcast), void *arg,
			  json_t **reply, char *err, size_t errlen)
{
	struct ctl_content_row content;
	struct ctl_broadcast_row b;
	struct ctl_node_row node;
	char (*nodes)[CTL_NAME_MAX] = NULL;
	char list[256], when[16];
	json_t *body = NULL, *targets = NULL;
	char *text = NULL;
	uint8_t *env = NULL;
	size_t n = 0, envlen = 0, i;
	int64_t now = now_ms();
	int rc, in_tx = 0;

	*reply = NULL;
	memset(&b, 0, sizeof(b));
	rc = ctl_db_content_get(&c->db, req->content, &content);
	if (rc == -ENOENT) {
		snprintf(err, errlen, "no content with id %s on this controller (import it "
			 "first)", req->content);
		goto out;
	}
	if (rc < 0)
		goto db_error;
	if (req->at && (req->at > now + CTL_AT_MAX_AHEAD_MS || req->at < now - CTL_CMD_TTL_MS)) {
		snprintf(err, errlen, "field \"at\" must be 0 (now) or a time from 10 minutes "
			 "ago to 24 hours ahead, in ms since the epoch");
		rc = -EINVAL;
		goto out;
	}
	nodes = calloc(CTL_MAX_TARGETS, sizeof(*nodes));
	if (!nodes) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (req->node[0]) {
		rc = ctl_db_node_get(&c->db, req->node, &node);
		if (rc < 0)
			goto db_error;
		if (!node.known) {
			snprintf(err, errlen, "no node \"%s\" is known to this controller (it "
				 "has never reported its status)", req->node);
			rc = -ENOENT;
			goto out;
		}
		snprintf(nodes[0], CTL_NAME_MAX, "%s", req->node);
		n = 1;
		strcpy(b.target_kind, "node");
		snprintf(b.target, sizeof(b.target), "%s", req->node);
		topic_node(b.topic, sizeof(b.topic), c->mqtt.root, req->node, LEAF_CMD);
	} else {
		int all = req->all || strcmp(req->zone, "all") == 0;

		rc = ctl_db_zone_nodes(&c->db, all ? NULL : req->zone, nodes,
				       CTL_MAX_TARGETS, &n);
		if (rc < 0)
			goto db_error;
		if (n == 0) {
			if (all)
				snprintf(err, errlen, "no node is known to this controller yet");
			else
				snprintf(err, errlen, "no node is known to be in zone \"%s\"",
					 req->zone);
			rc = -ENOENT;
			goto out;
		}
		strcpy(b.target_kind, all ? "all" : "zone");
		snprintf(b.target, sizeof(b.target), "%s", all ? "all" : req->zone);
		topic_zone(b.topic, sizeof(b.topic), c->mqtt.root, b.target, LEAF_CMD);
	}

	memcpy(b.content, req->content, sizeof(b.content));
	snprintf(b.level, sizeof(b.level), "%s", req->level);
	b.at = req->at;
	b.volume = req->volume;
	b.created = now;
	b.expires = (req->at > now ? req->at : now) + CTL_CMD_TTL_MS;

	rc = ctl_db_begin(&c->db);
	if (rc < 0)
		goto db_error;
	in_tx = 1;
	rc = ctl_db_broadcast_new_id(&c->db, now, b.id);
	if (rc < 0)
		goto db_error;
	rc = ctl_db_next_seq(&c->db, ENV_CMD, ctl_now_us(), &b.seq);
	if (rc < 0)
		goto db_error;
	rc = ctl_db_broadcast_add(&c->db, &b, nodes, n);
	if (rc < 0)
		goto db_error;
	if (hook) {
		rc = hook(arg, b.id);
		if (rc < 0)
			goto db_error;
	}

	body = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:i, s:s}",
			 "cmd", "play", "to", ctl_topic_below(c->mqtt.root, b.topic),
			 "broadcast", b.id, "content", b.content,
			 "bytes", (json_int_t)content.bytes,
			 "duration_ms", (json_int_t)content.duration_ms,
			 "at", (json_int_t)b.at, "level", b.level, "volume", b.volume,
			 "title", req->title[0] ? req->title : content.title);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (!text) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = envelope_seal(&c->signer, ENV_CMD, 0, b.seq, now, b.expires, text,
			   strlen(text), &env, &envlen);
	if (rc < 0) {
		snprintf(err, errlen, "cannot sign the command: %s", strerror(-rc));
		goto out;
	}
	rc = ctl_db_commit(&c->db);
	in_tx = 0;
	if (rc < 0)
		goto db_error;

	list[0] = '\0';
	for (i = 0; i < n && strlen(list) + CTL_NAME_MAX + 8 < sizeof(list); i++) {
		strcat(list, i ? ", " : "");
		strcat(list, nodes[i]);
	}
	if (i < n)
		strcat(list, ", ...");
	log_info("broadcast %s to %s%s%s: %zu node%s (%s), content %s \"%s\" (%.1f s), "
		 "level %s, seq %" PRIu64, b.id, strcmp(b.target_kind, "all") ? b.target_kind : "",
		 strcmp(b.target_kind, "all") ? " " : "", b.target, n, n == 1 ? "" : "s", list,
		 ctl_short_id(b.content), content.title, (double)content.duration_ms / 1000.0,
		 b.level, b.seq);

	targets = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(targets, json_string(nodes[i]));
	*reply = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:I, s:I}",
			   "broadcast", b.id, "content", b.content, "targets", targets,
			   "target_kind", b.target_kind, "target", b.target, "topic", b.topic,
			   "created", (json_int_t)b.created, "expires", (json_int_t)b.expires);
	targets = NULL;

	rc = ctl_mqtt_publish(c, CTL_CONN_CTL, b.topic, env, envlen, 1, 0);
	if (rc == -ENOTCONN) {
		local_time(when, sizeof(when), b.expires);
		log_warnx("broadcast %s: not connected to the MQTT broker; the command is "
			  "queued and goes out when the connection returns (it expires at %s)",
			  b.id, when);
		if (*reply)
			json_object_set_new(*reply, "warning",
					    json_sprintf("not connected to the MQTT broker: the "
							 "command goes out when the connection "
							 "returns (it expires at %s)", when));
		rc = 0;
	} else if (rc < 0) {
		log_errorx("broadcast %s: cannot publish the command on %s: %s", b.id, b.topic,
			   strerror(-rc));
		snprintf(err, errlen, "the broadcast %s was stored but its command could not "
			 "be sent: %s", b.id, strerror(-rc));
		json_decref(*reply);
		*reply = NULL;
		rc = -EIO;
	}
	if (rc == 0 && !*reply) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
	}
	goto out;

db_error:
	snprintf(err, errlen, "the controller's database failed (see its log)");
	if (rc >= 0 || rc == -ENOENT)
		rc = -EIO;
out:
	if (in_tx)
		ctl_db_rollback(&c->db);
	json_decref(targets);
	json_decref(body);
	free(text);
	free(env);
	free(nodes);
	return rc;
}
