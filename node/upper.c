/*
 * upper.c - see upper.h.
 */
#include "upper.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <unistd.h>

#include "clock.h"
#include "emergency.h"
#include "log.h"
#include "mqconn.h"
#include "node.h"
#include "status.h"
#include "util.h"

#define UPPER_FILE "upper.json"
#define AREA_TOPIC_PREFIX "loaxa/area/"
#define DEST_LIST_MAX 256

static const char *const level_names[] = { "", "commune", "district", "province" };

enum area_level area_level_parse(const char *s)
{
	int l;

	for (l = AREA_COMMUNE; s && l <= AREA_PROVINCE; l++)
		if (strcmp(s, level_names[l]) == 0)
			return (enum area_level)l;
	return AREA_NONE;
}

const char *area_level_name(enum area_level l)
{
	return l >= AREA_COMMUNE && l <= AREA_PROVINCE ? level_names[l] : "?";
}

int area_code_valid(enum area_level l, const char *s)
{
	static const size_t want[] = { 0, 5, 3, 2 };
	size_t i;

	if (l < AREA_COMMUNE || l > AREA_PROVINCE || !s || strlen(s) != want[l])
		return 0;
	for (i = 0; s[i]; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
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

/* ------------------------------------------------------------ the document */

static int parse_may(json_t *a, unsigned *may, char *err, size_t errlen, size_t idx)
{
	json_t *e;
	size_t i;

	*may = 0;
	if (!json_is_array(a)) {
		snprintf(err, errlen, "upper[%zu].may must be a list of \"emergency\", "
			 "\"priority\"", idx);
		return -EINVAL;
	}
	json_array_foreach(a, i, e) {
		const char *s = json_string_value(e);

		if (s && strcmp(s, "emergency") == 0)
			*may |= UPPER_MAY_EMERGENCY;
		else if (s && strcmp(s, "priority") == 0)
			*may |= UPPER_MAY_PRIORITY;
		else {
			snprintf(err, errlen, "upper[%zu].may[%zu] must be \"emergency\" or "
				 "\"priority\"", idx, i);
			return -EINVAL;
		}
	}
	return 0;
}

static int doc_from_json(json_t *o, struct upper_doc *d, char *err, size_t errlen)
{
	json_t *area = json_object_get(o, "area"), *up = json_object_get(o, "upper"), *e;
	size_t i;
	int l;

	memset(d, 0, sizeof(*d));
	if (area && !json_is_object(area)) {
		snprintf(err, errlen, "\"area\" must be an object {\"commune\": ..., "
			 "\"district\": ..., \"province\": ...}");
		return -EINVAL;
	}
	for (l = AREA_COMMUNE; area && l <= AREA_PROVINCE; l++) {
		json_t *v = json_object_get(area, level_names[l]);

		if (!v)
			continue;
		if (!area_code_valid((enum area_level)l, json_string_value(v))) {
			snprintf(err, errlen, "area.%s must be a %s code (%d digits)", level_names[l],
				 level_names[l], l == AREA_COMMUNE ? 5 : l == AREA_DISTRICT ? 3 : 2);
			return -EINVAL;
		}
		snprintf(d->area[l], sizeof(d->area[l]), "%s", json_string_value(v));
	}
	if (!up)
		return 0;
	if (!json_is_array(up) || json_array_size(up) > UPPER_MAX) {
		snprintf(err, errlen, "\"upper\" must list at most %d keys", UPPER_MAX);
		return -EINVAL;
	}
	json_array_foreach(up, i, e) {
		struct upper_key *k = &d->keys[i];
		const char *hex = json_string_value(json_object_get(e, "key"));

		k->level = area_level_parse(json_string_value(json_object_get(e, "level")));
		if (k->level != AREA_DISTRICT && k->level != AREA_PROVINCE) {
			snprintf(err, errlen, "upper[%zu].level must be \"district\" or "
				 "\"province\"", i);
			return -EINVAL;
		}
		if (!area_code_valid(k->level, json_string_value(json_object_get(e, "code")))) {
			snprintf(err, errlen, "upper[%zu].code must be a %s code", i,
				 level_names[k->level]);
			return -EINVAL;
		}
		snprintf(k->code, sizeof(k->code), "%s", json_string_value(json_object_get(e, "code")));
		/* an upper level this commune is not part of has nothing to say to it */
		if (strcmp(d->area[k->level], k->code) != 0) {
			snprintf(err, errlen, "upper[%zu]: %s %s is not this commune's %s (area.%s "
				 "is \"%s\")", i, level_names[k->level], k->code,
				 level_names[k->level], level_names[k->level], d->area[k->level]);
			return -EINVAL;
		}
		if (!hex || strlen(hex) != 64 || hex_decode(k->pk, 32, hex) < 0) {
			snprintf(err, errlen, "upper[%zu].key must be an Ed25519 public key (64 hex "
				 "digits)", i);
			return -EINVAL;
		}
		if (parse_may(json_object_get(e, "may"), &k->may, err, errlen, i) < 0)
			return -EINVAL;
		d->nkeys++;
	}
	return 0;
}

int upper_doc_parse(const uint8_t *body, size_t len, struct upper_doc *d, char *err,
		    size_t errlen)
{
	json_t *o = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, NULL);
	int rc;

	if (!json_is_object(o)) {
		json_decref(o);
		memset(d, 0, sizeof(*d));
		snprintf(err, errlen, "not a JSON object");
		return -EINVAL;
	}
	rc = doc_from_json(o, d, err, errlen);
	json_decref(o);
	return rc;
}

static json_t *doc_to_json(const struct upper_doc *d)
{
	json_t *o = json_object(), *area = json_object(), *up = json_array();
	char hex[65];
	size_t i;
	int l;

	for (l = AREA_COMMUNE; l <= AREA_PROVINCE; l++)
		if (d->area[l][0])
			json_object_set_new(area, level_names[l], json_string(d->area[l]));
	for (i = 0; i < d->nkeys; i++) {
		json_t *may = json_array();

		if (d->keys[i].may & UPPER_MAY_EMERGENCY)
			json_array_append_new(may, json_string("emergency"));
		if (d->keys[i].may & UPPER_MAY_PRIORITY)
			json_array_append_new(may, json_string("priority"));
		hex_encode(hex, d->keys[i].pk, 32);
		json_array_append_new(up, json_pack("{s:s, s:s, s:s, s:o}", "level",
						    level_names[d->keys[i].level], "code",
						    d->keys[i].code, "key", hex, "may", may));
	}
	json_object_set_new(o, "area", area);
	json_object_set_new(o, "upper", up);
	return o;
}

/* ------------------------------------------------------------ state */

static void key_hex_id(char out[17], const uint8_t *pk)
{
	uint8_t id[ENVELOPE_KEYID_LEN];

	key_id_of(id, pk);
	hex_encode(out, id, sizeof(id));
}

/* Each upper key has a verifier of its own: site = its area code. */
static void open_verifiers(struct node *n)
{
	struct node_upper *u = &n->upper;
	char path[PATH_MAX + 64], id[17];
	size_t i;
	int rc;

	for (i = 0; i < u->doc.nkeys; i++) {
		struct verifier *v = &u->ver[i];

		u->ver_ok[i] = 0;
		key_hex_id(id, u->doc.keys[i].pk);
		snprintf(path, sizeof(path), "%s/upper-%s-%s.seq", n->cfg.state_dir,
			 u->doc.keys[i].code, id);
		rc = verifier_init(v, u->doc.keys[i].code, path, n->cfg.max_message_bytes,
				   (int64_t)n->cfg.max_future_s * 1000);
		if (rc == 0)
			rc = verifier_add_key(v, u->doc.keys[i].pk);
		if (rc < 0) {
			log_warnx("cannot take messages of %s %s: %s (%s)",
				  level_names[u->doc.keys[i].level], u->doc.keys[i].code, strerror(-rc),
				  path);
			continue;
		}
		/* a lost sequence file must not let an old command play again */
		if (v->state_corrupt)
			verifier_fail_closed(v, clock_now_ms(&n->clock));
		u->ver_ok[i] = 1;
	}
}

static int save(struct node *n)
{
	char path[PATH_MAX + 16], *text;
	json_t *o = doc_to_json(&n->upper.doc);
	int rc;

	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!text)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/" UPPER_FILE, n->cfg.state_dir);
	rc = write_file_atomic(path, text, strlen(text), 0600);
	free(text);
	if (rc < 0)
		log_warnx("cannot save the upper levels' keys to %s: %s", path, strerror(-rc));
	return rc;
}

int upper_init(struct node *n)
{
	struct node_upper *u = &n->upper;
	char path[PATH_MAX + 16], err[200];
	json_error_t je;
	json_t *o;

	memset(u, 0, sizeof(*u));
	snprintf(path, sizeof(path), "%s/" UPPER_FILE, n->cfg.state_dir);
	o = json_load_file(path, 0, &je);
	if (!o) {
		if (access(path, F_OK) == 0)
			log_warnx("%s:%d: %s - no upper level is trusted until the commune "
				  "controller sends its trust document again", path, je.line, je.text);
		return 0;
	}
	if (!json_is_object(o) || doc_from_json(o, &u->doc, err, sizeof(err)) < 0) {
		log_warnx("%s: %s - no upper level is trusted until the commune controller "
			  "sends its trust document again", path,
			  json_is_object(o) ? err : "not an object");
		memset(&u->doc, 0, sizeof(u->doc));
	}
	json_decref(o);
	open_verifiers(n);
	return 0;
}

static void on_area_msg(const struct mqconn_msg *m, void *arg)
{
	struct node *n = arg;

	upper_on_message(n, m->topic, m->payload, m->len, clock_now_ms(&n->clock));
}

/* Subscribe to loaxa/area/<code>/cmd of each upper level not yet in the table. */
static void subscribe(struct node *n)
{
	struct node_upper *u = &n->upper;
	struct mqconn *c = &n->mqtt.conn[NODE_CONN_CTL];
	char topic[64];
	size_t i, j;

	if (!c->o.name)
		return; /* not started: the on-connect hook does it */
	for (i = 0; i < u->doc.nkeys; i++) {
		int have = 0;

		for (j = 0; j < u->nsubscribed; j++)
			have |= strcmp(u->subscribed[j], u->doc.keys[i].code) == 0;
		if (have)
			continue;
		if (u->nsubscribed >= UPPER_SUBS_MAX) {
			log_warnx("too many upper areas in one run: restart the node to listen to "
				  "%s %s", level_names[u->doc.keys[i].level], u->doc.keys[i].code);
			continue;
		}
		snprintf(topic, sizeof(topic), AREA_TOPIC_PREFIX "%s/cmd", u->doc.keys[i].code);
		if (mqconn_subscribe(c, topic, 1, on_area_msg, n) < 0) {
			log_warnx("cannot listen to %s", topic);
			continue;
		}
		snprintf(u->subscribed[u->nsubscribed++], UPPER_CODE_MAX, "%s",
			 u->doc.keys[i].code);
		log_info("listening to %s %s on %s", level_names[u->doc.keys[i].level],
			 u->doc.keys[i].code, topic);
	}
}

static void on_connect(struct node *n)
{
	subscribe(n);
}

static void status_part(struct node *n, json_t *status)
{
	json_t *o = upper_status_json(n);

	if (o)
		json_object_set_new(status, "upper", o);
}

int upper_register(struct node *n)
{
	int rc = node_mqtt_hook(n, NODE_CONN_CTL, on_connect, NULL);

	return rc < 0 ? rc : status_provider_add(n, status_part);
}

void upper_apply(struct node *n, const struct upper_doc *d)
{
	struct node_upper *u = &n->upper;
	size_t i;

	if (memcmp(&u->doc, d, sizeof(*d)) == 0)
		return;
	for (i = 0; i < u->doc.nkeys; i++)
		if (u->ver_ok[i])
			verifier_flush(&u->ver[i]);
	u->doc = *d;
	open_verifiers(n);
	save(n);
	for (i = 0; i < d->nkeys; i++)
		log_info("trusting %s %s for %s%s%s", level_names[d->keys[i].level],
			 d->keys[i].code, d->keys[i].may & UPPER_MAY_EMERGENCY ? "emergencies" : "",
			 d->keys[i].may == (UPPER_MAY_EMERGENCY | UPPER_MAY_PRIORITY) ? " and " : "",
			 d->keys[i].may & UPPER_MAY_PRIORITY ? "priority bulletins" : "");
	subscribe(n);
	status_dirty(n);
}

/* ------------------------------------------------------------ messages */

static void refuse(struct node *n, const char *topic, const char *why)
{
	char safe[100];

	log_warnx("refused a message from above on %s: %s",
		  printable(safe, sizeof(safe), topic), why);
	n->upper.refused++;
	status_dirty(n);
}

static int list_has(json_t *a, const char *s)
{
	json_t *e;
	size_t i;

	json_array_foreach(a, i, e)
		if (json_is_string(e) && strcmp(json_string_value(e), s) == 0)
			return 1;
	return 0;
}

static int dest_check(const struct node *n, json_t *to, enum area_level signer,
		      const char *signer_code, char *why, size_t whylen)
{
	const struct upper_doc *d = &n->upper.doc;
	const char *area = json_string_value(json_object_get(to, "area"));
	json_t *communes = json_object_get(to, "communes"), *villages = json_object_get(to, "villages");
	enum area_level l, at = AREA_NONE;
	char safe[40];
	size_t i;
	int hit = 0;

	if (!json_is_object(to) || !area) {
		snprintf(why, whylen, "it names no destination (field \"to\" must be "
			 "{\"area\": \"<code>\", ...}); a signed message must name the area it is for");
		return -EACCES;
	}
	for (l = AREA_COMMUNE; l <= AREA_PROVINCE; l++)
		if (d->area[l][0] && strcmp(d->area[l], area) == 0)
			at = l;
	if (at == AREA_NONE) {
		snprintf(why, whylen, "it is addressed to area %s, which is not this node's "
			 "commune, district or province", printable(safe, sizeof(safe), area));
		return -EACCES;
	}
	if (at > signer || (at == signer && strcmp(area, signer_code) != 0)) {
		snprintf(why, whylen, "%s %s may not address %s %s", level_names[signer],
			 signer_code, level_names[at], area);
		return -EACCES;
	}
	if (communes && (!json_is_array(communes) || json_array_size(communes) > DEST_LIST_MAX)) {
		snprintf(why, whylen, "field \"to\".communes must be a list of commune codes");
		return -EACCES;
	}
	if (communes && (!d->area[AREA_COMMUNE][0] ||
			 !list_has(communes, d->area[AREA_COMMUNE]))) {
		snprintf(why, whylen, "it names communes, and not this node's (%s)",
			 d->area[AREA_COMMUNE][0] ? d->area[AREA_COMMUNE] : "unknown");
		return -EACCES;
	}
	if (villages && (!json_is_array(villages) || json_array_size(villages) > DEST_LIST_MAX)) {
		snprintf(why, whylen, "field \"to\".villages must be a list of village (zone) "
			 "names");
		return -EACCES;
	}
	for (i = 0; villages && i < n->cfg.nzones; i++)
		hit |= list_has(villages, n->cfg.zones[i]);
	if (villages && !hit) {
		snprintf(why, whylen, "it names villages, and none of this node's zones");
		return -EACCES;
	}
	return 0;
}

int upper_dest_check(const struct node *n, const char *to_json, enum area_level signer,
		     const char *signer_code, char *why, size_t whylen)
{
	json_t *to = json_loads(to_json, JSON_REJECT_DUPLICATES, NULL);
	int rc = dest_check(n, to, signer, signer_code, why, whylen);

	json_decref(to);
	return rc;
}

static const struct emerg_clip *clip_find(const struct node *n, const char *name)
{
	size_t i;

	for (i = 0; name && i < n->emerg.nclips; i++)
		if (strcmp(n->emerg.clips[i].name, name) == 0)
			return &n->emerg.clips[i];
	return NULL;
}

/*
 * The body of an upper emergency names clips of the node's own set; the
 * node's emergency module wants content ids: fill them in from the set.
 */
static int resolve_clips(struct node *n, json_t *e, int start, char *why, size_t whylen)
{
	const struct emerg_clip *tone = clip_find(n, "tone"), *drill = clip_find(n, "drill");
	const char *name = json_string_value(json_object_get(e, "clip"));
	const struct emerg_clip *msg = name ? clip_find(n, name) : NULL;

	json_object_del(e, "to");
	/* nothing from above names content ids: they are the commune's */
	json_object_del(e, "content");
	json_object_del(e, "tone");
	json_object_del(e, "preamble");
	json_object_del(e, "live");
	if (!start) {
		const char *ac = json_string_value(json_object_get(e, "all_clear"));
		const struct emerg_clip *c = ac ? clip_find(n, ac) : NULL;

		json_object_del(e, "all_clear");
		if (c)
			json_object_set_new(e, "all_clear", json_string(c->content));
		if (c && drill)
			json_object_set_new(e, "preamble", json_string(drill->content));
		return 0;
	}
	if (name && !msg)
		log_warnx("the emergency from above names clip \"%s\", which this node does not "
			  "have: sounding the alert tone alone", name);
	if (!msg) {
		msg = tone;
		json_object_del(e, "clip");
	}
	if (!msg) {
		snprintf(why, whylen, "this node has neither the clip it names nor the alert "
			 "tone (the commune controller sends the clip set; is it set up?)");
		return -ENOENT;
	}
	json_object_set_new(e, "content", json_string(msg->content));
	json_object_set_new(e, "bytes", json_integer((json_int_t)msg->bytes));
	if (tone && msg != tone)
		json_object_set_new(e, "tone", json_string(tone->content));
	if (drill)
		json_object_set_new(e, "preamble", json_string(drill->content));
	return 0;
}

int upper_check(struct node *n, const char *topic, const void *payload, size_t len,
		int64_t now, struct emerg_cmd *ec, int *start, char *why, size_t whylen)
{
	struct node_upper *u = &n->upper;
	const struct upper_key *key = NULL;
	const uint8_t *b = payload;
	struct envelope env;
	enum envelope_result r;
	char code[UPPER_CODE_MAX], safe[48];
	const char *name;
	json_t *o = NULL, *e = NULL;
	size_t i, pl = strlen(AREA_TOPIC_PREFIX), cl;
	int rc = -EACCES, vi = -1;

	*start = 0;
	if (strncmp(topic, AREA_TOPIC_PREFIX, pl) != 0 ||
	    (cl = strcspn(topic + pl, "/")) == 0 || cl >= sizeof(code) ||
	    strcmp(topic + pl + cl, "/cmd") != 0) {
		snprintf(why, whylen, "not an area command topic (loaxa/area/<code>/cmd)");
		return -EACCES;
	}
	memcpy(code, topic + pl, cl);
	code[cl] = '\0';
	if (n->keys.revoked_self) {
		snprintf(why, whylen, "this node was revoked by its commune");
		return -EACCES;
	}
	if (len >= ENVELOPE_OVERHEAD) {
		for (i = 0; i < u->doc.nkeys; i++) {
			uint8_t id[ENVELOPE_KEYID_LEN];

			key_id_of(id, u->doc.keys[i].pk);
			if (u->ver_ok[i] && strcmp(u->doc.keys[i].code, code) == 0 &&
			    memcmp(id, b + 8, sizeof(id)) == 0) {
				key = &u->doc.keys[i];
				vi = (int)i;
			}
		}
	}
	if (!key) {
		snprintf(why, whylen, "it is not signed by a key this commune trusts for area %s "
			 "(the trust document's \"upper\" list)", code);
		return -EACCES;
	}
	r = envelope_open(&u->ver[vi], payload, len, now, &env);
	if (r != ENV_OK) {
		snprintf(why, whylen, "%s (%s %s)", envelope_result_str(r),
			 level_names[key->level], key->code);
		return -EACCES;
	}
	if (env.type != ENV_CMD) {
		snprintf(why, whylen, "unexpected message type \"%s\" (this topic carries cmd "
			 "messages)", envelope_type_name((enum envelope_type)env.type));
		return -EACCES;
	}
	o = json_loadb((const char *)env.body, env.body_len, JSON_REJECT_DUPLICATES, NULL);
	name = json_string_value(json_object_get(o, "cmd"));
	if (!json_is_object(o) || !name) {
		snprintf(why, whylen, "the body is not a command (JSON object with \"cmd\")");
		goto out;
	}
	if (dest_check(n, json_object_get(o, "to"), key->level, key->code, why, whylen) < 0)
		goto out;
	if (strcmp(name, "emergency_start") != 0 && strcmp(name, "emergency_stop") != 0) {
		snprintf(why, whylen, "command \"%s\" is not one an upper level may send to "
			 "this node (emergency_start, emergency_stop)",
			 printable(safe, sizeof(safe), name));
		goto out;
	}
	if (!(key->may & UPPER_MAY_EMERGENCY)) {
		snprintf(why, whylen, "%s %s may not send emergencies (its \"may\" in the trust "
			 "document)", level_names[key->level], key->code);
		goto out;
	}
	/* an upper stop names its emergency: it must not silence the commune's own */
	if (strcmp(name, "emergency_stop") == 0 && !json_is_string(json_object_get(o, "id"))) {
		snprintf(why, whylen, "an emergency_stop from above must name its emergency "
			 "(\"id\")");
		goto out;
	}
	*start = strcmp(name, "emergency_start") == 0;
	e = json_deep_copy(o);
	if (!e) {
		snprintf(why, whylen, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	if (resolve_clips(n, e, *start, why, whylen) < 0 ||
	    emergency_parse(name, e, env.flags, ec, why, whylen) < 0)
		goto out;
	snprintf(ec->from, sizeof(ec->from), "%s %s", level_names[key->level], key->code);
	ec->issued_at = env.issued_at;
	log_warnx("%s%s %s from %s (sequence %" PRIu64 ")",
		  env.flags & ENV_FLAG_DRILL ? "DRILL " : "", name, ec->id, ec->from, env.seq);
	rc = 0;
out:
	json_decref(e);
	json_decref(o);
	return rc;
}

int upper_on_message(struct node *n, const char *topic, const void *payload, size_t len,
		     int64_t now)
{
	static struct emerg_cmd ec; /* large; one thread */
	char why[300];
	int start;

	if (upper_check(n, topic, payload, len, now, &ec, &start, why, sizeof(why)) < 0) {
		refuse(n, topic, why);
		return 0;
	}
	n->upper.accepted++;
	if (start)
		emergency_start(n, &ec, ec.issued_at);
	else
		emergency_stop(n, &ec);
	status_dirty(n);
	return 1;
}

void upper_rejected_json(const struct node *n, json_t *rejected)
{
	if (n->upper.refused)
		json_object_set_new(rejected, "upper", json_integer((json_int_t)n->upper.refused));
}

json_t *upper_status_json(const struct node *n)
{
	const struct node_upper *u = &n->upper;
	json_t *o, *area, *up;
	char s[32];
	size_t i;
	int l;

	if (!u->doc.nkeys && !u->doc.area[AREA_COMMUNE][0])
		return NULL;
	area = json_object();
	for (l = AREA_COMMUNE; l <= AREA_PROVINCE; l++)
		if (u->doc.area[l][0])
			json_object_set_new(area, level_names[l], json_string(u->doc.area[l]));
	up = json_array();
	for (i = 0; i < u->doc.nkeys; i++) {
		snprintf(s, sizeof(s), "%s %s", level_names[u->doc.keys[i].level],
			 u->doc.keys[i].code);
		json_array_append_new(up, json_string(s));
	}
	o = json_pack("{s:o, s:o, s:I}", "area", area, "upper", up, "accepted",
		      (json_int_t)u->accepted);
	return o;
}

void upper_free(struct node *n)
{
	size_t i;

	for (i = 0; i < n->upper.doc.nkeys; i++)
		if (n->upper.ver_ok[i])
			verifier_flush(&n->upper.ver[i]);
}
