/*
 * emergency.c - see emergency.h.
 */
#include "emergency.h"
#include "upperctl.h"
#include "rollup.h"
#include "approval.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "auth.h"
#include "ctl.h"
#include "ctlutil.h"
#include "envelope.h"
#include "live.h"
#include "log.h"
#include "util.h"
#include "topic.h"

#define MAX_TARGETS 4096
#define MAX_CLIPS 16
#define SET_LEN 16

struct clip_row {
	char name[CTL_NAME_MAX];
	char content[CONTENT_ID_LEN + 1];
	int64_t bytes;
	int64_t duration_ms;
	char title[CTL_TITLE_MAX];
};

struct pushed {
	char node[CTL_NAME_MAX];
	char set[SET_LEN + 1];
	int64_t at_mono;
};

struct ctl_emergency {
	struct pushed *pushed;
	size_t npushed, cap;
};

static const char *kind(int drill)
{
	return drill ? "DRILL" : "EMERGENCY";
}

/* ------------------------------------------------------------ clips */

static int clips_load(struct ctl *c, struct clip_row *rows, size_t max, size_t *n)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*n = 0;
	rc = ctl_db_prep(&c->db, &st, "SELECT e.name, e.content, c.bytes, c.duration_ms, "
			 "c.title FROM emergency_clips e JOIN content c ON c.id = e.content "
			 "ORDER BY e.name", "cannot read the emergency clips");
	if (rc < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
		struct clip_row *r = &rows[*n];

		snprintf(r->name, sizeof(r->name), "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(r->content, sizeof(r->content), "%s",
			 (const char *)sqlite3_column_text(st, 1));
		r->bytes = sqlite3_column_int64(st, 2);
		r->duration_ms = sqlite3_column_int64(st, 3);
		snprintf(r->title, sizeof(r->title), "%s",
			 sqlite3_column_text(st, 4) ? (const char *)sqlite3_column_text(st, 4) : "");
		(*n)++;
	}
	sqlite3_finalize(st);
	return 0;
}

static int clip_content(struct ctl *c, const char *name, struct clip_row *out)
{
	struct clip_row rows[MAX_CLIPS];
	size_t n, i;
	int rc = clips_load(c, rows, MAX_CLIPS, &n);

	if (rc < 0)
		return rc;
	for (i = 0; i < n; i++)
		if (strcmp(rows[i].name, name) == 0) {
			*out = rows[i];
			return 0;
		}
	return -ENOENT;
}

/* The set id: what a node compares to know whether its clips are current. */
static void set_id(const struct clip_row *rows, size_t n, char out[SET_LEN + 1])
{
	crypto_hash_sha256_state h;
	uint8_t d[32];
	size_t i;

	crypto_hash_sha256_init(&h);
	for (i = 0; i < n; i++) {
		crypto_hash_sha256_update(&h, (const uint8_t *)rows[i].name, strlen(rows[i].name));
		crypto_hash_sha256_update(&h, (const uint8_t *)" ", 1);
		crypto_hash_sha256_update(&h, (const uint8_t *)rows[i].content, CONTENT_ID_LEN);
		crypto_hash_sha256_update(&h, (const uint8_t *)"\n", 1);
	}
	crypto_hash_sha256_final(&h, d);
	hex_encode(out, d, SET_LEN / 2);
}

static int seal_publish(struct ctl *c, const char *topic, json_t *body, uint16_t flags,
			int64_t now, int64_t expires, char *err, size_t errlen)
{
	char *text = NULL;
	uint8_t *env = NULL;
	size_t envlen = 0;
	uint64_t seq;
	int rc;

	/* the body names its topic: a node refuses it anywhere else */
	if (ctl_body_set_to(body, c->mqtt.root, topic) == 0)
		text = json_dumps(body, JSON_COMPACT);
	if (!text) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = ctl_db_next_seq(&c->db, ENV_CMD, ctl_now_us(), &seq);
	if (rc < 0) {
		snprintf(err, errlen, "the controller's database failed (see its log)");
		goto out;
	}
	rc = envelope_seal(&c->signer, ENV_CMD, flags, seq, now, expires, text, strlen(text),
			   &env, &envlen);
	if (rc < 0) {
		snprintf(err, errlen, "cannot sign the command: %s", strerror(-rc));
		goto out;
	}
	rc = ctl_mqtt_publish(c, CTL_CONN_CTL, topic, env, envlen, 1, 0);
	if (rc == -ENOTCONN) {
		log_warnx("not connected to the MQTT broker: the command on %s goes out when "
			  "the connection returns", topic);
		rc = 0;
	} else if (rc < 0) {
		snprintf(err, errlen, "cannot publish on %s: %s", topic, strerror(-rc));
	}
out:
	free(text);
	free(env);
	return rc;
}

/* The clip list command for the current set. */
static json_t *clips_cmd(struct ctl *c, char set[SET_LEN + 1])
{
	struct clip_row rows[MAX_CLIPS];
	json_t *arr;
	size_t n, i;

	if (clips_load(c, rows, MAX_CLIPS, &n) < 0)
		return NULL;
	set_id(rows, n, set);
	arr = json_array();
	for (i = 0; arr && i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:I}", "name", rows[i].name,
						     "content", rows[i].content, "bytes",
						     (json_int_t)rows[i].bytes));
	return arr ? json_pack("{s:s, s:s, s:o}", "cmd", "emergency_clips", "set", set, "clips",
			       arr) : NULL;
}

static int push_clips(struct ctl *c, const char *topic)
{
	char set[SET_LEN + 1], err[256];
	int64_t now = now_ms();
	json_t *body = clips_cmd(c, set);
	int rc;

	if (!body)
		return -EIO;
	rc = seal_publish(c, topic, body, 0, now, now + CTL_EMERGENCY_TTL_MS, err, sizeof(err));
	if (rc < 0)
		log_warnx("cannot send the emergency clip list on %s: %s", topic, err);
	else
		log_info("emergency clip set %s (%zu clips) sent on %s", set,
			 json_array_size(json_object_get(body, "clips")), topic);
	json_decref(body);
	return rc;
}

void ctl_emergency_on_status(struct ctl *c, const char *node, const void *payload,
			     size_t len)
{
	struct ctl_emergency *e = c->emerg;
	char set[SET_LEN + 1], topic[256];
	const char *have;
	json_t *o, *body;
	struct pushed *p = NULL;
	int64_t mono = mono_ms();
	size_t i;

	if (!e)
		return;
	o = json_loadb(payload, len, 0, NULL);
	have = json_string_value(json_object_get(json_object_get(o, "emergency"), "clips_set"));
	if (!have) {
		json_decref(o); /* an older node: it knows no emergency clips */
		return;
	}
	body = clips_cmd(c, set);
	if (!body || strcmp(have, set) == 0)
		goto out;
	for (i = 0; i < e->npushed; i++)
		if (strcmp(e->pushed[i].node, node) == 0)
			p = &e->pushed[i];
	if (p && strcmp(p->set, set) == 0 && mono - p->at_mono < CTL_CLIPS_RESEND_MS)
		goto out; /* sent a moment ago: the node is fetching or will say */
	if (!p) {
		if (e->npushed == e->cap) {
			size_t cap = e->cap ? e->cap * 2 : 64;
			struct pushed *np = realloc(e->pushed, cap * sizeof(*np));

			if (!np)
				goto out;
			e->pushed = np;
			e->cap = cap;
		}
		p = &e->pushed[e->npushed++];
		snprintf(p->node, sizeof(p->node), "%s", node);
	}
	memcpy(p->set, set, sizeof(p->set));
	p->at_mono = mono;
	log_info("node %s holds emergency clip set \"%s\", the current one is %s: sending it",
		 node, have, set);
	topic_node(topic, sizeof(topic), c->mqtt.root, node, LEAF_CMD);
	push_clips(c, topic);
out:
	json_decref(body);
	json_decref(o);
}

/* ------------------------------------------------------------ API helpers */

static json_t *error_json(const char *msg)
{
	return json_pack("{s:s}", "error", msg);
}

static void clips_get(struct ctl *c, unsigned *status, json_t **reply)
{
	struct clip_row rows[MAX_CLIPS];
	char set[SET_LEN + 1];
	json_t *arr;
	size_t n, i;

	if (clips_load(c, rows, MAX_CLIPS, &n) < 0) {
		*status = 500;
		*reply = error_json("the controller's database failed (see its log)");
		return;
	}
	set_id(rows, n, set);
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I, s:s}", "name",
						     rows[i].name, "content", rows[i].content,
						     "bytes", (json_int_t)rows[i].bytes,
						     "duration_ms", (json_int_t)rows[i].duration_ms,
						     "title", rows[i].title));
	*status = 200;
	*reply = json_pack("{s:s, s:o}", "set", set, "clips", arr);
}

static void clip_set(struct ctl *c, const char *name, const char *body, size_t len,
		     unsigned *status, json_t **reply)
{
	struct ctl_content_row content;
	char id[CONTENT_ID_LEN + 1], err[300], topic[256];
	struct clip_row rows[MAX_CLIPS];
	sqlite3_stmt *st = NULL;
	size_t n;
	json_t *o;
	int rc;

	*status = 400;
	if (!name_valid(name)) {
		*reply = error_json("a clip name is 1-31 of a-z, 0-9, '-', '_'");
		return;
	}
	o = ctl_json_object(body, len, err, sizeof(err));
	if (!o) {
		*reply = error_json(err);
		return;
	}
	if (ctl_json_str(o, "content", CTL_REQUIRED, id, sizeof(id), err, sizeof(err)) < 0 ||
	    !content_id_valid(id)) {
		json_decref(o);
		*reply = error_json("field \"content\" must be a content id (64 lowercase hex "
				    "digits, see GET /v1/content)");
		return;
	}
	json_decref(o);
	rc = ctl_db_content_get(&c->db, id, &content);
	if (rc == -ENOENT) {
		*status = 404;
		*reply = json_pack("{s:s+}", "error", "no content with that id on this "
				   "controller: ", id);
		return;
	}
	if (rc == 0 && clips_load(c, rows, MAX_CLIPS, &n) == 0 && n >= MAX_CLIPS &&
	    clip_content(c, name, &rows[0]) == -ENOENT) {
		*reply = error_json("at most 16 emergency clips");
		return;
	}
	if (rc == 0)
		rc = ctl_db_prep(&c->db, &st, "INSERT INTO emergency_clips (name, content, "
				 "updated) VALUES (?1, ?2, ?3) ON CONFLICT(name) DO UPDATE "
				 "SET content = ?2, updated = ?3", NULL);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, now_ms());
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	}
	if (rc < 0)
		log_errorx("%s: cannot store emergency clip %s: %s", c->db.path, name,
			   sqlite3_errmsg(c->db.h));
	sqlite3_finalize(st);
	if (rc < 0) {
		*status = 500;
		*reply = error_json("the controller's database failed (see its log)");
		return;
	}
	log_info("emergency clip %s is now content %s \"%s\" (%.1f s)", name,
		 ctl_short_id(id), content.title, (double)content.duration_ms / 1000.0);
	/* every node gets the new set now; the status check catches the others */
	topic_zone(topic, sizeof(topic), c->mqtt.root, "all", LEAF_CMD);
	push_clips(c, topic);
	clips_get(c, status, reply);
}

struct start_req {
	char clip[CTL_NAME_MAX];
	char content[CONTENT_ID_LEN + 1];
	char zone[CTL_NAME_MAX];
	char node[CTL_NAME_MAX];
	int all;
	int drill;
	int64_t max_s;
	int live;                    /* the message is the operator's voice, live */
	char device[256];            /* its capture device, */
	char voice[CONTENT_ID_LEN + 1]; /* or stored content streamed as the voice */
	int64_t latency_ms;
};

static int parse_start(const char *body, size_t len, struct start_req *r, char *err,
		       size_t errlen)
{
	json_t *o = ctl_json_object(body, len, err, errlen);
	int rc = -EINVAL, nt = 0, ncontent = 0, x;

	memset(r, 0, sizeof(*r));
	r->max_s = CTL_EMERGENCY_DEFAULT_MAX_S;
	r->latency_ms = 500;
	if (!o)
		return -EINVAL;
	if (ctl_json_bool(o, "live", CTL_OPTIONAL, &r->live, err, errlen) < 0 ||
	    ctl_json_str(o, "device", CTL_OPTIONAL, r->device, sizeof(r->device), err,
			 errlen) < 0 ||
	    ctl_json_int(o, "latency_ms", CTL_OPTIONAL, CTL_LIVE_MIN_LATENCY_MS,
			 CTL_LIVE_MAX_LATENCY_MS, &r->latency_ms, err, errlen) < 0)
		goto out;
	x = ctl_json_str(o, "voice", CTL_OPTIONAL, r->voice, sizeof(r->voice), err, errlen);
	if (x < 0 || (x == 0 && (!content_id_valid(r->voice) || !r->live))) {
		snprintf(err, errlen, "field \"voice\" (with \"live\": true) must be a content "
			 "id");
		goto out;
	}
	x = ctl_json_str(o, "clip", CTL_OPTIONAL, r->clip, sizeof(r->clip), err, errlen);
	if (x < 0 || (x == 0 && !name_valid(r->clip))) {
		snprintf(err, errlen, "field \"clip\" must be a clip name (see GET "
			 "/v1/emergency/clips)");
		goto out;
	}
	ncontent += x == 0;
	x = ctl_json_str(o, "content", CTL_OPTIONAL, r->content, sizeof(r->content), err,
			 errlen);
	if (x < 0 || (x == 0 && !content_id_valid(r->content))) {
		snprintf(err, errlen, "field \"content\" must be a content id (64 lowercase "
			 "hex digits)");
		goto out;
	}
	ncontent += x == 0;
	if (ncontent + r->live != 1) {
		snprintf(err, errlen, "name exactly one of \"clip\", \"content\" and \"live\"");
		goto out;
	}
	x = ctl_json_str(o, "zone", CTL_OPTIONAL, r->zone, sizeof(r->zone), err, errlen);
	if (x < 0 || (x == 0 && !name_valid(r->zone))) {
		snprintf(err, errlen, "field \"zone\" is not a zone name (1-31 of a-z, 0-9, "
			 "'-', '_')");
		goto out;
	}
	nt += x == 0;
	x = ctl_json_str(o, "node", CTL_OPTIONAL, r->node, sizeof(r->node), err, errlen);
	if (x < 0 || (x == 0 && !name_valid(r->node))) {
		snprintf(err, errlen, "field \"node\" is not a node id (1-31 of a-z, 0-9, '-', "
			 "'_')");
		goto out;
	}
	nt += x == 0;
	x = ctl_json_bool(o, "all", CTL_OPTIONAL, &r->all, err, errlen);
	if (x < 0)
		goto out;
	nt += x == 0 && r->all;
	if (nt != 1) {
		snprintf(err, errlen, "name exactly one target: \"zone\", \"node\" or \"all\": "
			 "true");
		goto out;
	}
	if (ctl_json_bool(o, "drill", CTL_OPTIONAL, &r->drill, err, errlen) < 0)
		goto out;
	if (ctl_json_int(o, "max_s", CTL_OPTIONAL, 1, CTL_EMERGENCY_MAX_S, &r->max_s, err,
			 errlen) < 0)
		goto out;
	rc = 0;
out:
	json_decref(o);
	return rc;
}

static int stop_one(struct ctl *c, const char *id, const char *topic, int all_clear,
		    char *err, size_t errlen);

static void start(struct ctl *c, const struct ctl_principal *who, const char *body,
		  size_t len, unsigned *status, json_t **reply, char *target, size_t targetlen)
{
	struct start_req req;
	struct ctl_content_row content;
	struct ctl_broadcast_row b;
	struct ctl_node_row node;
	struct clip_row clip, tone, pre;
	char (*nodes)[CTL_NAME_MAX] = NULL;
	char err[512];
	json_t *cmd = NULL, *targets;
	int64_t now = now_ms();
	size_t n = 0, i;
	int rc, in_tx = 0, have_tone, have_pre;

	*status = 400;
	memset(&b, 0, sizeof(b));
	if (parse_start(body, len, &req, err, sizeof(err)) < 0)
		goto fail;
	/* no device: the default capture device, the first one in controller.cfg */
	if (req.live && !req.voice[0] && !req.device[0] && c->cfg.capture.n)
		snprintf(req.device, sizeof(req.device), "%s", c->cfg.capture.dev[0].name);
	snprintf(target, targetlen, "%s %s%s %s%s%s", req.drill ? "drill" : "emergency",
		 req.all ? "all" : req.zone[0] ? "zone " : "node ",
		 req.all ? "" : req.zone[0] ? req.zone : req.node,
		 req.clip[0] ? req.clip : req.content,
		 req.live && !req.voice[0] ? "live device " : "",
		 req.live && !req.voice[0] ? req.device : "");
	if (ctl_auth_check_target(&c->db, who, req.zone, req.node, req.all, "emergency", err,
				  sizeof(err)) < 0) {
		*status = 403;
		goto fail;
	}
	/* refused before anything is signed: only controller.cfg's devices */
	if (req.live && !req.voice[0] &&
	    !ctl_capture_pcm(&c->cfg, "device", req.device, err, sizeof(err)))
		goto fail;
	if (req.live) {
		/* the message is live; the tone (needed anyway) stands in the records */
		rc = clip_content(c, "tone", &clip);
		if (rc == -ENOENT) {
			*status = 422;
			snprintf(err, sizeof(err), "a live emergency starts with the alert tone: "
				 "there is no \"tone\" clip (scripts/emergency-clips.sh)");
			goto fail;
		}
		if (rc < 0)
			goto db_error;
		memcpy(req.content, clip.content, sizeof(req.content));
	} else if (req.clip[0]) {
		rc = clip_content(c, req.clip, &clip);
		if (rc == -ENOENT) {
			*status = 404;
			snprintf(err, sizeof(err), "no emergency clip \"%s\" on this controller "
				 "(see loaxa emergency clips)", req.clip);
			goto fail;
		}
		if (rc < 0)
			goto db_error;
		memcpy(req.content, clip.content, sizeof(req.content));
	}
	rc = ctl_db_content_get(&c->db, req.content, &content);
	if (rc == -ENOENT) {
		*status = 404;
		snprintf(err, sizeof(err), "no content with id %s on this controller (import it "
			 "first)", req.content);
		goto fail;
	}
	if (rc < 0)
		goto db_error;
	have_tone = clip_content(c, "tone", &tone) == 0;
	have_pre = req.drill && clip_content(c, "drill", &pre) == 0;
	if (req.drill && !have_pre)
		log_warnx("DRILL: there is no \"drill\" clip (the spoken \"this is a drill\"): "
			  "the drill plays without it; see scripts/emergency-clips.sh");

	nodes = calloc(MAX_TARGETS, sizeof(*nodes));
	if (!nodes) {
		*status = 500;
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	if (req.node[0]) {
		rc = ctl_db_node_get(&c->db, req.node, &node);
		if (rc < 0)
			goto db_error;
		if (!node.known) {
			*status = 404;
			snprintf(err, sizeof(err), "no node \"%s\" is known to this controller",
				 req.node);
			goto fail;
		}
		snprintf(nodes[0], CTL_NAME_MAX, "%s", req.node);
		n = 1;
		strcpy(b.target_kind, "node");
		snprintf(b.target, sizeof(b.target), "%s", req.node);
		topic_node(b.topic, sizeof(b.topic), c->mqtt.root, req.node, LEAF_CMD);
	} else {
		int all = req.all || strcmp(req.zone, "all") == 0;

		rc = ctl_db_zone_nodes(&c->db, all ? NULL : req.zone, nodes, MAX_TARGETS, &n);
		if (rc < 0)
			goto db_error;
		if (n == 0) {
			*status = 404;
			snprintf(err, sizeof(err), "no node is known %s%s", all ? "yet" :
				 "in zone ", all ? "" : req.zone);
			goto fail;
		}
		strcpy(b.target_kind, all ? "all" : "zone");
		snprintf(b.target, sizeof(b.target), "%s", all ? "all" : req.zone);
		topic_zone(b.topic, sizeof(b.topic), c->mqtt.root, b.target, LEAF_CMD);
	}
	memcpy(b.content, req.content, sizeof(b.content));
	strcpy(b.level, "emergency");
	b.volume = 100;
	b.created = now;
	b.expires = now + req.max_s * 1000; /* the end of its maximum duration */

	rc = ctl_db_begin(&c->db);
	if (rc < 0)
		goto db_error;
	in_tx = 1;
	rc = ctl_db_broadcast_new_id(&c->db, now, b.id);
	if (rc < 0)
		goto db_error;
	b.id[0] = req.drill ? 'd' : 'e'; /* "d-..." is a drill, "e-..." a real one */
	rc = ctl_db_broadcast_add(&c->db, &b, nodes, n);
	if (rc < 0)
		goto db_error;
	/* never waits for approval: listed for review afterwards (approval.h) */
	rc = ctl_review_record_tx(c, who, b.id, now);
	if (rc < 0)
		goto db_error;
	rc = ctl_db_commit(&c->db);
	in_tx = 0;
	if (rc < 0)
		goto db_error;

	cmd = json_pack("{s:s, s:s, s:b, s:s, s:I, s:I}", "cmd", "emergency_start", "id", b.id,
			"drill", req.drill, "content", req.content, "bytes",
			(json_int_t)content.bytes, "max_s", (json_int_t)req.max_s);
	if (cmd && req.clip[0])
		json_object_set_new(cmd, "clip", json_string(req.clip));
	if (cmd && req.live) {
		json_object_set_new(cmd, "live", json_true());
		json_object_del(cmd, "content"); /* the voice is the message */
		json_object_del(cmd, "bytes");
	}
	if (cmd && have_tone)
		json_object_set_new(cmd, "tone", json_string(tone.content));
	if (cmd && have_pre)
		json_object_set_new(cmd, "preamble", json_string(pre.content));
	if (!cmd) {
		*status = 500;
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	rc = seal_publish(c, b.topic, cmd, req.drill ? ENV_FLAG_DRILL : 0, now,
			  now + CTL_EMERGENCY_TTL_MS, err, sizeof(err));
	if (rc < 0) {
		*status = 500;
		goto fail;
	}
	if (req.live) {
		char live_topic[256];

		if (req.node[0])
			topic_node(live_topic, sizeof(live_topic), c->mqtt.root, req.node, LEAF_LIVE);
		else
			topic_zone(live_topic, sizeof(live_topic), c->mqtt.root, b.target, LEAF_LIVE);
		rc = ctl_live_emergency_start(c, live_topic, req.voice[0] ? NULL : req.device,
					      req.voice[0] ? req.voice : NULL, req.latency_ms,
					      now + req.max_s * 1000, err, sizeof(err));
		if (rc < 0) {
			/* the nodes sound the tone and wait: stop them again */
			log_warnx("%s %s: the live voice cannot start: %s", kind(req.drill), b.id, err);
			stop_one(c, b.id, b.topic, 0, err, sizeof(err));
			*status = 422;
			snprintf(err, sizeof(err), "the capture device cannot start: see the "
				 "controller's log; the emergency was stopped again");
			goto fail;
		}
	}
	log_warnx("%s %s started on %s %s: %zu node%s, %s %s, at most %" PRId64 " s", kind(req.drill),
		  b.id, b.target_kind, b.target, n, n == 1 ? "" : "s", req.live ? "live voice from" :
		  req.clip[0] ? "clip" : "content", req.live ? req.device : req.clip[0] ? req.clip :
		  ctl_short_id(req.content), req.max_s);
	targets = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(targets, json_string(nodes[i]));
	*status = 201;
	*reply = json_pack("{s:s, s:b, s:b, s:s, s:s, s:o, s:s, s:s, s:s, s:I, s:I}",
			   "emergency", b.id, "drill", req.drill, "live", req.live, "clip", req.clip,
			   "content", req.content,
			   "targets", targets, "target_kind", b.target_kind, "target", b.target,
			   "topic", b.topic, "created", (json_int_t)now, "max_s",
			   (json_int_t)req.max_s);
	goto out;
db_error:
	*status = 500;
	snprintf(err, sizeof(err), "the controller's database failed (see its log)");
fail:
	*reply = error_json(err);
out:
	if (in_tx)
		ctl_db_rollback(&c->db);
	json_decref(cmd);
	free(nodes);
}

/*
 * Stop one emergency (its topic and drill mark from the database). With
 * all_clear, the nodes that were sounding it play the "all-clear" clip
 * afterwards, if the clip set has one (a drill's after the "drill" clip).
 */
static int stop_one(struct ctl *c, const char *id, const char *topic, int all_clear,
		    char *err, size_t errlen)
{
	int drill = id[0] == 'd';
	int64_t now = now_ms();
	json_t *cmd = json_pack("{s:s, s:s, s:b}", "cmd", "emergency_stop", "id", id, "drill",
				drill);
	struct clip_row clip;
	int rc;

	if (!cmd)
		return -ENOMEM;
	if (all_clear && clip_content(c, "all-clear", &clip) == 0) {
		json_object_set_new(cmd, "all_clear", json_string(clip.content));
		if (drill && clip_content(c, "drill", &clip) == 0)
			json_object_set_new(cmd, "preamble", json_string(clip.content));
	}
	rc = seal_publish(c, topic, cmd, drill ? ENV_FLAG_DRILL : 0, now,
			  now + CTL_EMERGENCY_TTL_MS, err, errlen);
	json_decref(cmd);
	if (rc == 0) {
		log_warnx("%s %s: stop sent on %s", kind(drill), id, topic);
		/* it is over: a later "stop" without id need not name it again */
		sqlite3_stmt *st = NULL;

		if (ctl_db_prep(&c->db, &st, "UPDATE broadcasts SET expires = ?1 WHERE id = ?2", NULL) == 0) {
			sqlite3_bind_int64(st, 1, now);
			sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
			sqlite3_step(st);
		}
		sqlite3_finalize(st);
	}
	return rc;
}

/*
 * Stop emergencies. With an id: that one, refused (403) when its target is
 * outside who's zones. Without: every active one within who's zones; the
 * others stay and are listed under "not_stopped". A village official who
 * presses stop means "stop what sounds in my village": refusing the whole
 * stop because the next village also has an emergency would keep theirs
 * sounding while they work out the ids, and stopping the neighbour's is
 * exactly what the scope forbids.
 */
static void stop(struct ctl *c, const struct ctl_principal *who, const char *body, size_t len,
		 unsigned *status, json_t **reply)
{
	char want[CTL_ID_MAX] = "", err[300], topic[256];
	sqlite3_stmt *st = NULL;
	json_t *o = NULL, *stopped = json_array(), *skipped = json_array();
	int rc, live, all_clear = 1;
	int64_t sent = now_ms();
	struct clip_row clip;

	*status = 400;
	if (len > 0) {
		o = ctl_json_object(body, len, err, sizeof(err));
		if (!o)
			goto fail;
		if (ctl_json_str(o, "emergency", CTL_OPTIONAL, want, sizeof(want), err,
				 sizeof(err)) < 0)
			goto fail;
		if (ctl_json_bool(o, "all_clear", CTL_OPTIONAL, &all_clear, err, sizeof(err)) < 0)
			goto fail;
		if (want[0] && !((want[0] == 'e' || want[0] == 'd') && want[1] == '-')) {
			snprintf(err, sizeof(err), "field \"emergency\" must be an emergency id "
				 "(e-... or d-...)");
			goto fail;
		}
	}
	rc = ctl_db_prep(&c->db, &st, "SELECT id, topic, target_kind, target FROM broadcasts "
			 "WHERE level = 'emergency' AND (?1 IS NULL AND expires > ?2 OR "
			 "id = ?1) ORDER BY created", NULL);
	if (rc < 0) {
		*status = 500;
		snprintf(err, sizeof(err), "the controller's database failed (see its log)");
		goto fail;
	}
	if (want[0])
		sqlite3_bind_text(st, 1, want, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, now_ms());
	while (sqlite3_step(st) == SQLITE_ROW) {
		char id[CTL_ID_MAX], t[256];

		snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(t, sizeof(t), "%s", (const char *)sqlite3_column_text(st, 1));
		if (ctl_auth_check_stored(&c->db, who, (const char *)sqlite3_column_text(st, 2),
					  (const char *)sqlite3_column_text(st, 3), err,
					  sizeof(err)) < 0) {
			if (want[0]) {
				*status = 403;
				goto fail;
			}
			json_array_append_new(skipped, json_pack("{s:s, s:s}", "emergency", id,
								 "reason", err));
			continue;
		}
		json_array_append_new(stopped, json_string(id));
		if (stop_one(c, id, t, all_clear, err, sizeof(err)) < 0) {
			*status = 500;
			goto fail;
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	if (want[0] && json_array_size(stopped) == 0) {
		*status = 404;
		snprintf(err, sizeof(err), "no emergency %s", want);
		goto fail;
	}
	live = ctl_live_emergency_stop(c, who);
	if (live == -EPERM && want[0] == '\0')
		json_array_append_new(skipped, json_pack("{s:s, s:s}", "emergency", "live",
							 "reason", "the live emergency speaks "
							 "outside your zones"));
	if (json_array_size(stopped) == 0 && json_array_size(skipped) == 0) {
		/*
		 * None known to be active: still make sure nothing sounds, on
		 * every zone, or on the operator's own zones only. Not when
		 * someone else's emergency was left sounding: a blind stop on
		 * a zone would also silence a node shared with theirs.
		 */
		size_t i, nz = who && !who->all_zones ? who->nzones : 1;

		for (i = 0; i < nz; i++) {
			json_t *cmd = json_pack("{s:s}", "cmd", "emergency_stop");
			int64_t now = now_ms();

			topic_zone(topic, sizeof(topic), c->mqtt.root,
				   who && !who->all_zones ? who->zones[i] : "all", LEAF_CMD);
			rc = cmd ? seal_publish(c, topic, cmd, 0, now, now + CTL_EMERGENCY_TTL_MS,
						err, sizeof(err)) : -ENOMEM;
			json_decref(cmd);
			if (rc < 0) {
				*status = 500;
				goto fail;
			}
			log_warnx("emergency stop (no emergency known to be active) sent on %s",
				  topic);
		}
	}
	*status = 200;
	/* sent: when the stop went out (the nodes' confirmations follow, GET
	 * /v1/emergency/<id>); all_clear: the clip the nodes play after it */
	*reply = json_pack("{s:o, s:I, s:o}", "stopped", stopped, "sent", (json_int_t)sent,
			   "all_clear", all_clear && json_array_size(stopped) &&
			   clip_content(c, "all-clear", &clip) == 0 ?
			   json_string(clip.content) : json_null());
	if (json_array_size(skipped))
		json_object_set(*reply, "not_stopped", skipped);
	json_decref(skipped);
	json_decref(o);
	return;
fail:
	sqlite3_finalize(st);
	json_decref(stopped);
	json_decref(skipped);
	json_decref(o);
	*reply = error_json(err);
}

/*
 * GET /v1/emergency/<id>: one emergency and, per target node, whether it
 * confirmed the start (result, start: its first sample) and the stop
 * ("stop": when it said it is silent, and why: "stopped", or that it was not
 * sounding it). The CLI's `emergency stop` waits on this; so can a console.
 */
static void show(struct ctl *c, const struct ctl_principal *who, const char *id,
		 unsigned *status, json_t **reply)
{
	sqlite3_stmt *st = NULL;
	json_t *nodes = NULL, *byname = NULL;
	char err[300], kindbuf[16], target[CTL_NAME_MAX];
	int64_t created = 0, expires = 0;
	int rc;

	*status = 500;
	if (!((id[0] == 'e' || id[0] == 'd') && id[1] == '-') || strlen(id) >= CTL_ID_MAX) {
		*status = 404;
		*reply = error_json("no such emergency: an emergency id is e-... (d-... for a "
				    "drill)");
		return;
	}
	if (ctl_db_prep(&c->db, &st, "SELECT target_kind, target, created, expires FROM "
			"broadcasts WHERE id = ?1 AND level = 'emergency'", NULL) < 0)
		goto db_error;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			goto db_error_nost;
		*status = 404;
		*reply = json_pack("{s:s+}", "error", "no emergency ", id);
		return;
	}
	snprintf(kindbuf, sizeof(kindbuf), "%s", (const char *)sqlite3_column_text(st, 0));
	snprintf(target, sizeof(target), "%s", (const char *)sqlite3_column_text(st, 1));
	created = sqlite3_column_int64(st, 2);
	expires = sqlite3_column_int64(st, 3);
	sqlite3_finalize(st);
	st = NULL;
	if (ctl_auth_check_stored(&c->db, who, kindbuf, target, err, sizeof(err)) < 0) {
		*status = 403;
		*reply = error_json(err);
		return;
	}
	nodes = json_array();
	byname = json_object();
	if (!nodes || !byname)
		goto oom;
	if (ctl_db_prep(&c->db, &st, "SELECT node, result, start, reason FROM targets WHERE "
			"broadcast = ?1 ORDER BY node", NULL) < 0)
		goto db_error;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *node = (const char *)sqlite3_column_text(st, 0);
		json_t *row = json_pack("{s:s, s:s, s:o, s:s, s:n}", "node", node, "result",
					(const char *)sqlite3_column_text(st, 1), "start",
					sqlite3_column_type(st, 2) == SQLITE_NULL ? json_null() :
					json_integer(sqlite3_column_int64(st, 2)), "reason",
					(const char *)sqlite3_column_text(st, 3), "stop");

		if (!row)
			goto oom;
		json_array_append_new(nodes, row);
		json_object_set(byname, node, row);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_DONE)
		goto db_error_nost;
	/* the first confirmation of silence per node, from the events it sent */
	if (ctl_db_prep(&c->db, &st, "SELECT node, type, reason, ts, received FROM events "
			"WHERE broadcast = ?1 AND (type = 'emergency_not_active' OR (type = "
			"'emergency_ended' AND reason = 'stopped')) ORDER BY received", NULL) < 0)
		goto db_error;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *row = json_object_get(byname, (const char *)sqlite3_column_text(st, 0));
		int ended = strcmp((const char *)sqlite3_column_text(st, 1), "emergency_ended") == 0;

		if (!row || !json_is_null(json_object_get(row, "stop")))
			continue; /* not a target, or confirmed before */
		json_object_set_new(row, "stop", json_pack(
			"{s:s, s:I, s:I}", "reason", ended ? "stopped" :
			(const char *)sqlite3_column_text(st, 2), "at",
			(json_int_t)(sqlite3_column_type(st, 3) == SQLITE_NULL ?
				     sqlite3_column_int64(st, 4) : sqlite3_column_int64(st, 3)),
			"received", (json_int_t)sqlite3_column_int64(st, 4)));
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_DONE)
		goto db_error_nost;
	*status = 200;
	*reply = json_pack("{s:s, s:b, s:s, s:s, s:I, s:I, s:o}", "emergency", id, "drill",
			   id[0] == 'd', "target_kind", kindbuf, "target", target, "created",
			   (json_int_t)created, "ends", (json_int_t)expires, "nodes", nodes);
	json_decref(byname);
	return;
oom:
	json_decref(nodes);
	json_decref(byname);
	*reply = error_json("out of memory");
	return;
db_error:
	log_errorx("%s: cannot read emergency %s: %s", c->db.path, id, sqlite3_errmsg(c->db.h));
db_error_nost:
	sqlite3_finalize(st);
	json_decref(nodes);
	json_decref(byname);
	*reply = error_json("the controller's database failed (see its log)");
}

void ctl_emergency_api(struct ctl *c, const struct ctl_principal *who, const char *method,
		       const char *url, const char *body, size_t len, unsigned *status,
		       json_t **reply, char *target, size_t targetlen)
{
	int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	char err[300];

	*reply = NULL;
	/* sounding, stopping and changing what nodes would sound: approvers only */
	if (post && ctl_auth_require(who, PERM_APPROVE, err, sizeof(err)) < 0) {
		*status = 403;
		*reply = json_pack("{s:s+}", "error", err, " (an emergency needs an approver "
				   "or an administrator)");
		snprintf(target, targetlen, "%s", url);
		return;
	}
	if (strcmp(url, "/v1/areas") == 0 && get) {
		/* the communes below this district or province (rollup.h) */
		*status = 200;
		*reply = ctl_rollup_json(c, who);
	} else if (strncmp(url, "/v1/emergency/area", 18) == 0 && (!url[18] || url[18] == '/') &&
	    post) {
		/* a district's or province's bulletin for the communes below (upperctl.h) */
		ctl_upper_api(c, who, url, body, len, status, reply, target, targetlen);
	} else if (strcmp(url, "/v1/emergency") == 0 && post) {
		start(c, who, body, len, status, reply, target, targetlen);
	} else if (strcmp(url, "/v1/emergency/stop") == 0 && post) {
		snprintf(target, targetlen, "emergency stop");
		stop(c, who, body, len, status, reply);
	} else if (strcmp(url, "/v1/emergency/clips") == 0 && get) {
		clips_get(c, status, reply);
	} else if (strncmp(url, "/v1/emergency/clips/", 20) == 0 && post) {
		snprintf(target, targetlen, "emergency clip %.31s", url + 20);
		clip_set(c, url + 20, body, len, status, reply);
	} else if (strncmp(url, "/v1/emergency/", 14) == 0 && get &&
		   !strchr(url + 14, '/')) {
		show(c, who, url + 14, status, reply);
	} else {
		*status = 404;
		*reply = error_json("no such endpoint: POST /v1/emergency, POST "
				    "/v1/emergency/stop, GET /v1/emergency/<id>, GET "
				    "/v1/emergency/clips, POST /v1/emergency/clips/<name>");
	}
}

int ctl_emergency_init(struct ctl *c)
{
	c->emerg = calloc(1, sizeof(*c->emerg));
	return c->emerg ? 0 : -ENOMEM;
}

void ctl_emergency_free(struct ctl *c)
{
	if (!c->emerg)
		return;
	free(c->emerg->pushed);
	free(c->emerg);
	c->emerg = NULL;
}
