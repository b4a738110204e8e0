/*
 * cmd.c - see cmd.h.
 */
#include "cmd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "emergency.h"
#include "clock.h"
#include "envelope.h"
#include "log.h"
#include "maint.h"
#include "node.h"
#include "queue.h"
#include "status.h"
#include "util.h"
#include "topic.h"

/* A play may be scheduled at most this far ahead. */
#define MAX_AT_AHEAD_MS (7LL * 24 * 3600 * 1000)

enum topic_kind {
	TOPIC_UNKNOWN = 0, TOPIC_CMD, TOPIC_PLAN, TOPIC_CONTENT, TOPIC_KEY, TOPIC_LIVE, TOPIC_TIME
};

int broadcast_id_valid(const char *s)
{
	size_t i;

	if (!s || !s[0])
		return 0;
	for (i = 0; s[i]; i++) {
		char c = s[i];

		if (i >= 63)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == ':'))
			return 0;
	}
	return 1;
}

/* Hostile strings are echoed into logs: printable ASCII and UTF-8 only, cut short. */
static const char *printable(char *out, size_t outlen, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	out[i] = '\0';
	return out;
}

/*
 * What a message is to this node, by the table entry its topic matched
 * (node_mqtt_route: only its own node topics, the cmd/live topics of its
 * zones and of "all", the key topic of "all"); the envelope policy below
 * differs by kind.
 */
static enum topic_kind route_kind(const struct node_sub *s)
{
	if (!s)
		return TOPIC_UNKNOWN;
	switch (s->leaf) {
	case LEAF_CMD: return TOPIC_CMD;
	case LEAF_PLAN: return TOPIC_PLAN;
	case LEAF_CONTENT: return TOPIC_CONTENT;
	case LEAF_LIVE: return TOPIC_LIVE;
	case LEAF_KEY: return TOPIC_KEY;
	case LEAF_PONG: return TOPIC_TIME;
	default: return TOPIC_UNKNOWN;
	}
}

static int get_int(json_t *o, const char *field, int64_t min, int64_t max, int64_t def,
		   int64_t *out, char *why, size_t whylen)
{
	json_t *v = json_object_get(o, field);
	json_int_t x;

	if (!v || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v)) {
		snprintf(why, whylen, "field \"%s\" must be a whole number from %" PRId64
			 " to %" PRId64, field, min, max);
		return -EINVAL;
	}
	x = json_integer_value(v);
	if (x < min || x > max) {
		snprintf(why, whylen, "field \"%s\" must be a whole number from %" PRId64
			 " to %" PRId64 " (got %" JSON_INTEGER_FORMAT ")", field, min, max, x);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

/* Optional string field; "" when absent. */
static int get_str(json_t *o, const char *field, char *out, size_t outlen, char *why,
		   size_t whylen)
{
	json_t *v = json_object_get(o, field);

	out[0] = '\0';
	if (!v || json_is_null(v))
		return 1;
	if (!json_is_string(v)) {
		snprintf(why, whylen, "field \"%s\" must be a string", field);
		return -EINVAL;
	}
	if (json_string_length(v) >= outlen || strlen(json_string_value(v)) !=
						   json_string_length(v)) {
		snprintf(why, whylen, "field \"%s\" is too long or contains a NUL byte", field);
		return -EINVAL;
	}
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/* Titles are for logs and events: keep them, but without control characters. */
static void copy_title(char *out, size_t outlen, const char *s)
{
	size_t n = strlen(s), i;

	if (n >= outlen) {
		n = outlen - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--; /* cut at a character boundary */
	}
	for (i = 0; i < n; i++)
		out[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? ' ' : s[i];
	out[n] = '\0';
}

static int parse_play(json_t *o, int64_t now, uint64_t max_bytes, struct play_item *p,
		      char *why, size_t whylen)
{
	char level[32];
	json_t *t;
	int64_t v;
	int rc;

	(void)max_bytes;
	memset(p, 0, sizeof(*p));
	rc = get_str(o, "broadcast", p->broadcast, sizeof(p->broadcast), why, whylen);
	if (rc < 0)
		return rc;
	if (rc == 1 || !broadcast_id_valid(p->broadcast)) {
		snprintf(why, whylen, "field \"broadcast\" must be a broadcast id (1 to 63 "
			 "letters, digits, '-', '_', '.', ':')");
		return -EINVAL;
	}
	rc = get_str(o, "content", p->content, sizeof(p->content), why, whylen);
	if (rc != 0 || !content_id_valid(p->content)) {
		snprintf(why, whylen, "field \"content\" must be a content id (64 lowercase "
			 "hex digits)");
		return -EINVAL;
	}
	if (get_int(o, "bytes", 0, (int64_t)1 << 50, 0, &v, why, whylen) < 0)
		return -EINVAL;
	p->bytes = (uint64_t)v;
	if (get_int(o, "duration_ms", 0, (int64_t)1 << 40, -1, &v, why, whylen) < 0)
		return -EINVAL;
	p->duration_ms = v;
	if (get_int(o, "at", 0, INT64_MAX / 2, 0, &v, why, whylen) < 0)
		return -EINVAL;
	if (v > now + MAX_AT_AHEAD_MS) {
		snprintf(why, whylen, "field \"at\" is more than 7 days ahead of the node's "
			 "clock");
		return -EINVAL;
	}
	p->at = v;
	rc = get_str(o, "level", level, sizeof(level), why, whylen);
	/* "live" belongs to live sessions (the operator's microphone), never to a play */
	if (rc < 0 || (rc == 0 && (play_level_parse(level, &p->level) < 0 ||
				   p->level == LEVEL_LIVE))) {
		snprintf(why, whylen, "field \"level\" must be one of relay, normal, priority, "
			 "emergency");
		return -EINVAL;
	}
	if (rc == 1)
		p->level = LEVEL_NORMAL;
	if (get_int(o, "volume", 0, 100, 100, &v, why, whylen) < 0)
		return -EINVAL;
	p->volume = (int)v;
	t = json_object_get(o, "title");
	if (t && !json_is_null(t)) {
		if (!json_is_string(t)) {
			snprintf(why, whylen, "field \"title\" must be a string");
			return -EINVAL;
		}
		copy_title(p->title, sizeof(p->title), json_string_value(t));
	}
	return 0;
}

int cmd_parse(const void *body, size_t len, int64_t now, uint64_t max_bytes,
	      struct node_cmd *cmd, char *why, size_t whylen)
{
	json_error_t err;
	json_t *o;
	const char *name;
	char safe[48];
	int rc = -EINVAL;

	memset(cmd, 0, sizeof(*cmd));
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
	if (!o) {
		snprintf(why, whylen, "the command is not valid JSON (line %d: %s)", err.line,
			 err.text);
		return -EINVAL;
	}
	if (!json_is_object(o)) {
		snprintf(why, whylen, "the command is JSON but not an object");
		goto out;
	}
	name = json_string_value(json_object_get(o, "cmd"));
	if (!name) {
		snprintf(why, whylen, "field \"cmd\" is missing or not a string");
		goto out;
	}
	if (strcmp(name, "play") == 0) {
		cmd->kind = NODE_CMD_PLAY;
		rc = parse_play(o, now, max_bytes, &cmd->play, why, whylen);
	} else if (strcmp(name, "stop") == 0) {
		cmd->kind = NODE_CMD_STOP;
		rc = get_str(o, "broadcast", cmd->broadcast, sizeof(cmd->broadcast), why,
			     whylen);
		if (rc == 0 && !broadcast_id_valid(cmd->broadcast)) {
			snprintf(why, whylen, "field \"broadcast\" must be a broadcast id");
			rc = -EINVAL;
		}
		rc = rc < 0 ? rc : 0;
	} else {
		snprintf(why, whylen, "unknown command \"%s\"",
			 printable(safe, sizeof(safe), name));
	}
out:
	json_decref(o);
	return rc;
}

int cmd_target_ok(struct node *n, const char *topic, const char *to, const char *what,
		  int quiet)
{
	size_t rl = strlen(n->root);
	char safe[80];

	if (strncmp(topic, n->root, rl) == 0 && topic[rl] == '/' && to[0] &&
	    strcmp(topic + rl + 1, to) == 0)
		return 1;
	if (!quiet && !to[0])
		log_warnx("refused %s on %s: it names no destination (field \"to\"); a "
			  "signed message must name the topic it is for", what, topic);
	else if (!quiet)
		log_warnx("refused %s on %s: it is addressed to %s/%s, not to this topic "
			  "(a copy republished on another topic)", what, topic, n->root,
			  printable(safe, sizeof(safe), to));
	n->rejected_target++;
	status_dirty(n);
	return 0;
}

/*
 * The destination of a command body: 1 with "to" filled ("" when absent),
 * 0 when the body is no JSON object (its handler refuses it as bad_body).
 */
static int cmd_body_target(const struct envelope *env, char *to, size_t tolen, char *what,
			   size_t whatlen)
{
	json_t *o = json_loadb((const char *)env->body, env->body_len, JSON_REJECT_DUPLICATES,
			       NULL);
	json_t *t;
	char safe[48];
	int rc = 0;

	to[0] = '\0';
	if (!json_is_object(o))
		goto out;
	rc = 1;
	snprintf(what, whatlen, "command");
	if (json_is_string(json_object_get(o, "cmd")))
		snprintf(what, whatlen, "%s command",
			 printable(safe, sizeof(safe), json_string_value(json_object_get(o, "cmd"))));
	t = json_object_get(o, "to");
	if (json_is_string(t)) {
		if (json_string_length(t) >= tolen ||
		    strlen(json_string_value(t)) != json_string_length(t))
			snprintf(to, tolen, "(an over-long destination)");
		else
			memcpy(to, json_string_value(t), json_string_length(t) + 1);
	}
out:
	json_decref(o);
	return rc;
}

static void reject_body(struct node *n, const char *topic, const char *why)
{
	log_warnx("rejected message on %s: %s", topic, why);
	n->rejected_body++;
	status_dirty(n);
}

/*
 * Emergency commands (emergency.h) need the envelope's drill flag as well as
 * the body. Returns 1 when the body was one (handled or refused), 0 when it
 * is an ordinary command for cmd_parse.
 */
static int handle_emergency(struct node *n, const char *topic, const struct envelope *env)
{
	static struct emerg_cmd ec; /* large; one thread */
	json_t *o = json_loadb((const char *)env->body, env->body_len,
			       JSON_REJECT_DUPLICATES, NULL);
	const char *name = json_string_value(json_object_get(o, "cmd"));
	char why[300];
	int rc = 0;

	if (!json_is_object(o) || !name || strncmp(name, "emergency_", 10) != 0)
		goto out;
	rc = 1;
	if ((strcmp(name, "emergency_start") != 0 && strcmp(name, "emergency_stop") != 0 &&
	     strcmp(name, "emergency_clips") != 0)) {
		char safe[48];

		snprintf(why, sizeof(why), "unknown command \"%s\"",
			 printable(safe, sizeof(safe), name));
		reject_body(n, topic, why);
		goto out;
	}
	if (emergency_parse(name, o, env->flags, &ec, why, sizeof(why)) < 0) {
		log_warnx("rejected %s%s on %s: %s", env->flags & ENV_FLAG_DRILL ? "DRILL " : "",
			  name, topic, why);
		n->rejected_body++;
		status_dirty(n);
		goto out;
	}
	if (strcmp(name, "emergency_start") == 0)
		emergency_start(n, &ec, env->issued_at);
	else if (strcmp(name, "emergency_stop") == 0)
		emergency_stop(n, &ec);
	else
		emergency_set_clips(n, &ec);
out:
	json_decref(o);
	return rc;
}

static void handle_cmd(struct node *n, const char *topic, const struct envelope *env)
{
	struct node_cmd cmd;
	char why[300];
	int count;

	if (handle_emergency(n, topic, env))
		return;

	if (cmd_parse(env->body, env->body_len, clock_now_ms(&n->clock), n->cfg.cache_max_bytes,
		      &cmd, why, sizeof(why)) < 0) {
		reject_body(n, topic, why);
		return;
	}
	switch (cmd.kind) {
	case NODE_CMD_PLAY:
		cmd.play.expires = env->expires_at;
		cmd.play.warmup_s = -1; /* a play command has none: amplifier.warmup_s */
		log_debug("play command for broadcast %s on %s (sequence %" PRIu64 ")",
			  cmd.play.broadcast, topic, env->seq);
		queue_add(n, &cmd.play);
		break;
	case NODE_CMD_STOP:
		log_info("stop command for %s%s on %s", cmd.broadcast[0] ? "broadcast " :
			 "everything", cmd.broadcast, topic);
		count = queue_stop(n, cmd.broadcast[0] ? cmd.broadcast : NULL);
		if (count == 0)
			log_info("nothing to stop");
		break;
	}
}

static void on_cmd(struct node *n, const struct node_msg *m)
{
	if (!maint_on_cmd(n, m->topic, m->env))
		handle_cmd(n, m->topic, m->env);
}

int cmd_register(struct node *n)
{
	/* every message of the subscription table is checked here first */
	node_mqtt_gate(n, cmd_on_message);
	return node_mqtt_subscribe(n, LEAF_CMD, NODE_SUB_SELF | NODE_SUB_ZONES | NODE_SUB_ALL,
				   NODE_CONN_CTL, 1, on_cmd);
}

static const char *kind_name(enum topic_kind k)
{
	switch (k) {
	case TOPIC_CMD: return "cmd";
	case TOPIC_PLAN: return "plan";
	case TOPIC_CONTENT: return "content";
	case TOPIC_KEY: return "key";
	case TOPIC_LIVE: return "live";
	case TOPIC_TIME: return "time";
	default: return "unknown";
	}
}

static enum envelope_type kind_type(enum topic_kind k)
{
	switch (k) {
	case TOPIC_PLAN: return ENV_PLAN;
	case TOPIC_CONTENT: return ENV_CONTENT;
	case TOPIC_KEY: return ENV_KEY;
	case TOPIC_LIVE: return ENV_LIVE;
	case TOPIC_TIME: return ENV_TIME;
	default: return ENV_CMD;
	}
}

void cmd_on_message(struct node *n, const char *topic, const void *payload, size_t len)
{
	const struct node_sub *route = node_mqtt_route(n, topic);
	enum topic_kind kind = route_kind(route);
	struct node_msg msg;
	struct envelope env;
	enum envelope_result r;
	char safe[200], detail[96], site[20];
	/* envelope times are controller times: judge them by our estimate of its clock */
	int64_t now = clock_now_ms(&n->clock);
	/* a pong's arrival, before the signature check takes its 0.1 ms */
	int64_t t4_mono = mono_us(), t4 = now * 1000;
	uint64_t wrong_before;
	int fresh;

	if (kind == TOPIC_UNKNOWN) {
		log_warnx("ignoring a message on unexpected topic %s",
			  printable(safe, sizeof(safe), topic));
		return;
	}
	if (kind == TOPIC_TIME && len >= ENVELOPE_OVERHEAD) {
		/*
		 * A time answer is judged fresh by the ping it answers (clock.c),
		 * not by its envelope times: those are what a wrong clock cannot
		 * check. Signature, site and sequence still apply.
		 */
		const uint8_t *b = payload;
		int64_t issued = 0;
		int i;

		for (i = 0; i < 8; i++)
			issued = (int64_t)(((uint64_t)issued << 8) | b[40 + i]);
		now = issued;
	}
	r = envelope_open(&n->ver, payload, len, now, &env);
	fresh = r == ENV_OK; /* its sequence was taken just now (not a redelivered plan) */
	if (kind == TOPIC_PLAN && r == ENV_ERR_DUPLICATE &&
	    (!n->plan.have || n->plan.cur.seq != env.seq)) {
		/* the sequence in force but not the plan (it could not be stored): take it */
		r = ENV_OK;
	} else if (kind == TOPIC_KEY && r == ENV_ERR_DUPLICATE && n->keys.trust_lost) {
		/*
		 * trust.json was lost: the retained document is the last one we
		 * applied (same sequence), so applying it again restores the
		 * state; keys retired or revoked since stay distrusted (keys.c).
		 */
		r = ENV_OK;
	} else if (kind == TOPIC_PLAN && r == ENV_ERR_DUPLICATE) {
		/* the retained plan, redelivered on every reconnect: nothing to do */
		log_debug("plan %" PRIu64 " on %s is the one in force", env.seq, topic);
		return;
	}
	if (r != ENV_OK) {
		detail[0] = '\0';
		switch (r) {
		case ENV_ERR_REPLAY:
		case ENV_ERR_DUPLICATE:
			snprintf(detail, sizeof(detail), ", %s sequence %" PRIu64,
				 envelope_type_name((enum envelope_type)env.type), env.seq);
			break;
		case ENV_ERR_EXPIRED:
			snprintf(detail, sizeof(detail), ", %.1f s ago",
				 (double)(now - env.expires_at) / 1000.0);
			break;
		case ENV_ERR_FUTURE:
			snprintf(detail, sizeof(detail), ", issued %.1f s ahead of our clock",
				 (double)(env.issued_at - now) / 1000.0);
			break;
		case ENV_ERR_SITE:
			snprintf(detail, sizeof(detail), " \"%s\"",
				 printable(site, sizeof(site), env.site));
			break;
		default:
			break;
		}
		log_warnx("rejected message on %s: %s%s (%zu bytes)", topic,
			  envelope_result_str(r), detail, len);
		if (r == ENV_ERR_UNKNOWN_KEY)
			node_keys_unknown(n, topic, payload, len);
		status_dirty(n);
		return;
	}
	/* expired key, recovery key misused, node revoked (keys.h) */
	if (node_keys_check(n, &env, topic) < 0) {
		status_dirty(n);
		return;
	}
	if (env.type != kind_type(kind)) {
		log_warnx("rejected message on %s: unexpected message type \"%s\" (this topic "
			  "carries %s messages)", topic,
			  envelope_type_name((enum envelope_type)env.type), kind_name(kind));
		n->rejected_topic++;
		status_dirty(n);
		return;
	}
	wrong_before = n->rejected_target;
	if (kind == TOPIC_CMD) {
		char to[96], what[64];

		if (cmd_body_target(&env, to, sizeof(to), what, sizeof(what)) &&
		    !cmd_target_ok(n, topic, to, what, 0)) {
			(void)verifier_undo(&n->ver, &env);
			return;
		}
	}
	/* the handler the table names for this topic (mqtt.h) */
	msg.topic = topic;
	msg.payload = payload;
	msg.len = len;
	msg.env = &env;
	msg.arrival_us = t4;
	msg.arrival_mono_us = t4_mono;
	route->fn(n, &msg);
	/*
	 * Addressed elsewhere (a live batch, a plan for another node): it will
	 * be refused wherever it comes again like this, so it must not use up
	 * the sequence of a message still on its way here (envelope.h).
	 */
	if (fresh && n->rejected_target != wrong_before)
		(void)verifier_undo(&n->ver, &env);
}
