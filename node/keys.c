/*
 * keys.c - see keys.h.
 */
#include "keys.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "node.h"
#include "playout.h"
#include "queue.h"
#include "status.h"
#include "util.h"
#include "topic.h"

#define DOC_NODES_MAX 4096

static int pk_eq(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, 32) == 0;
}

static int in_list(uint8_t (*list)[32], size_t n, const uint8_t *pk)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (pk_eq(list[i], pk))
			return 1;
	return 0;
}

static void list_add(uint8_t (*list)[32], size_t *n, const uint8_t *pk)
{
	if (in_list(list, *n, pk))
		return;
	if (*n == NODE_KEYS_OLD_MAX) { /* full: forget the oldest */
		memmove(list[0], list[1], 32 * (NODE_KEYS_OLD_MAX - 1));
		(*n)--;
	}
	memcpy(list[(*n)++], pk, 32);
}

static struct node_key *trusted_find(struct node_keys *k, const uint8_t *pk)
{
	size_t i;

	for (i = 0; i < k->ntrusted; i++)
		if (pk_eq(k->trusted[i].pk, pk))
			return &k->trusted[i];
	return NULL;
}

static void key_id_hex(char out[17], const uint8_t *pk)
{
	uint8_t id[ENVELOPE_KEYID_LEN];

	key_id_of(id, pk);
	hex_encode(out, id, sizeof(id));
}

/* ------------------------------------------------------------ trust.json */

static json_t *pk_list_json(uint8_t (*list)[32], size_t n)
{
	json_t *a = json_array();
	char hex[65];
	size_t i;

	for (i = 0; i < n; i++) {
		hex_encode(hex, list[i], 32);
		json_array_append_new(a, json_string(hex));
	}
	return a;
}

static int save(struct node *n)
{
	struct node_keys *k = &n->keys;
	json_t *o, *t = json_array();
	char hex[65], *text;
	size_t i;
	int rc;

	for (i = 0; i < k->ntrusted; i++) {
		hex_encode(hex, k->trusted[i].pk, 32);
		json_array_append_new(t, json_pack("{s:s, s:I, s:I}", "key", hex, "not_after",
						   (json_int_t)k->trusted[i].not_after, "retire_at",
						   (json_int_t)k->trusted[i].retire_at));
	}
	k->floor = n->ver.floor_ms > k->floor ? n->ver.floor_ms : k->floor;
	o = json_pack("{s:o, s:o, s:o, s:b, s:I, s:I, s:I}", "trusted", t, "retired",
		      pk_list_json(k->retired, k->nretired), "revoked",
		      pk_list_json(k->revoked, k->nrevoked), "revoked_self", k->revoked_self,
		      "seq", (json_int_t)k->doc_seq, "issued", (json_int_t)k->doc_issued,
		      "floor", (json_int_t)k->floor);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!text)
		return -ENOMEM;
	rc = write_file_atomic(k->path, text, strlen(text), 0600);
	free(text);
	if (rc < 0) {
		errno = -rc;
		log_warn("cannot save the trusted keys to %s", k->path);
	}
	return rc;
}

static int parse_pk(json_t *v, uint8_t pk[32])
{
	return json_is_string(v) && strlen(json_string_value(v)) == 64 &&
			       hex_decode(pk, 32, json_string_value(v)) == 0 ? 0 : -EINVAL;
}

/* Read trust.json; a damaged file is an error (the operator must look). */
static int load(struct node *n)
{
	struct node_keys *k = &n->keys;
	json_error_t je;
	json_t *o, *v, *e;
	uint8_t pk[32];
	size_t i;
	int rc = -EINVAL;

	o = json_load_file(k->path, 0, &je);
	if (!o) {
		if (access(k->path, F_OK) < 0)
			return 1; /* none yet */
		log_errorx("%s:%d: %s", k->path, je.line, je.text);
		snprintf(k->lost, sizeof(k->lost), "trust file trust.json corrupt (line %d: %.100s)",
			 je.line, je.text);
		return -EINVAL;
	}
	if (!json_is_object(o))
		goto bad;
	json_array_foreach(json_object_get(o, "trusted"), i, e) {
		if (parse_pk(json_object_get(e, "key"), pk) < 0 || k->ntrusted >= NODE_KEYS_MAX)
			goto bad;
		memcpy(k->trusted[k->ntrusted].pk, pk, 32);
		k->trusted[k->ntrusted].not_after =
			(int64_t)json_integer_value(json_object_get(e, "not_after"));
		k->trusted[k->ntrusted].retire_at =
			(int64_t)json_integer_value(json_object_get(e, "retire_at"));
		k->ntrusted++;
	}
	json_array_foreach(json_object_get(o, "retired"), i, v) {
		if (parse_pk(v, pk) < 0)
			goto bad;
		list_add(k->retired, &k->nretired, pk);
	}
	json_array_foreach(json_object_get(o, "revoked"), i, v) {
		if (parse_pk(v, pk) < 0)
			goto bad;
		list_add(k->revoked, &k->nrevoked, pk);
	}
	k->revoked_self = json_is_true(json_object_get(o, "revoked_self"));
	k->doc_seq = (uint64_t)json_integer_value(json_object_get(o, "seq"));
	k->doc_issued = (int64_t)json_integer_value(json_object_get(o, "issued"));
	k->floor = (int64_t)json_integer_value(json_object_get(o, "floor"));
	rc = 0;
	goto out;
bad:
	log_errorx("%s: not a trust file of this version", k->path);
	snprintf(k->lost, sizeof(k->lost), "trust file trust.json corrupt (not a trust file "
		 "of this version)");
	k->ntrusted = k->nretired = k->nrevoked = 0;
out:
	json_decref(o);
	return rc;
}

/* Make the verifier trust exactly k->trusted (+ the recovery key). */
static void sync_verifier(struct node *n)
{
	struct node_keys *k = &n->keys;
	uint8_t drop[ENVELOPE_MAX_KEYS][32];
	size_t i, ndrop = 0;
	int j;

	for (j = 0; j < n->ver.nkeys; j++) {
		const uint8_t *pk = n->ver.keys[j].pk;

		if (!trusted_find(k, pk) &&
		    !(n->cfg.has_recovery_key && pk_eq(pk, n->cfg.recovery_pk)))
			memcpy(drop[ndrop++], pk, 32);
	}
	for (i = 0; i < ndrop; i++)
		verifier_remove_key(&n->ver, drop[i]);
	for (i = 0; i < k->nretired; i++)
		verifier_distrust(&n->ver, k->retired[i]);
	for (i = 0; i < k->nrevoked; i++)
		verifier_distrust(&n->ver, k->revoked[i]);
	/* a key distrusted by either copy is dropped, whatever the other says */
	i = 0;
	while (i < k->ntrusted) {
		if (verifier_distrusted(&n->ver, k->trusted[i].pk)) {
			memmove(&k->trusted[i], &k->trusted[i + 1],
				sizeof(k->trusted[0]) * (k->ntrusted - i - 1));
			k->ntrusted--;
			continue;
		}
		i++;
	}
	if (n->ver.revoked_self != k->revoked_self) {
		n->ver.revoked_self = k->revoked_self;
		n->ver.dirty = n->ver.urgent = 1;
	}
	for (i = 0; i < k->ntrusted; i++) {
		int rc = verifier_add_key(&n->ver, k->trusted[i].pk);

		if (rc < 0 && rc != -EEXIST) {
			char id[17];

			key_id_hex(id, k->trusted[i].pk);
			log_warnx("cannot trust key %s: %s", id, strerror(-rc));
		}
	}
}

int node_keys_init(struct node *n, int ran_before)
{
	struct node_keys *k = &n->keys;
	int rc;

	memset(k, 0, sizeof(*k));
	if ((size_t)snprintf(k->path, sizeof(k->path), "%s/trust.json", n->cfg.state_dir) >=
	    sizeof(k->path))
		return -ENAMETOOLONG;
	rc = load(n);
	if (rc < 0) {
		/*
		 * Corrupt: move it aside and go on with what the sequence store's
		 * copy says (distrusted keys, revoked-self). Refusing to start
		 * would leave the node silent and unreported; trusting node.cfg
		 * alone would bring back a key the controller retired or revoked.
		 */
		char moved[PATH_MAX + 16];

		snprintf(moved, sizeof(moved), "%s.corrupt", k->path);
		if (rename(k->path, moved) < 0) {
			log_errorx("cannot move %s to %s: %s", k->path, moved, strerror(errno));
			return -EIO;
		}
		log_errorx("%s moved to %s: keys retired or revoked before stay distrusted "
			   "(sequence store's copy); waiting for the controller's trust document",
			   k->path, moved);
		k->trust_lost = 1;
		k->lost_at = now_ms();
	} else if (rc == 1 && ran_before) {
		snprintf(k->lost, sizeof(k->lost), "trust file trust.json missing");
		log_errorx("%s is missing on a node that ran before: keys retired or revoked "
			   "before stay distrusted (sequence store's copy)", k->path);
		k->trust_lost = 1;
		k->lost_at = now_ms();
	}
	k->revoked_self = k->revoked_self || n->ver.revoked_self;
	/* node.cfg's key, unless the controller retired or revoked it */
	if (!trusted_find(k, n->cfg.controller_pk)) {
		if (in_list(k->revoked, k->nrevoked, n->cfg.controller_pk) ||
		    in_list(k->retired, k->nretired, n->cfg.controller_pk) ||
		    verifier_distrusted(&n->ver, n->cfg.controller_pk)) {
			log_warnx("controller_key of %s was retired or revoked by the controller: "
				  "not trusted", n->cfg.path);
		} else if (k->ntrusted < NODE_KEYS_MAX - 1) {
			memset(&k->trusted[k->ntrusted], 0, sizeof(k->trusted[0]));
			memcpy(k->trusted[k->ntrusted++].pk, n->cfg.controller_pk, 32);
		}
	}
	if (n->cfg.has_recovery_key) {
		rc = verifier_add_key(&n->ver, n->cfg.recovery_pk);
		if (rc < 0 && rc != -EEXIST)
			log_warnx("cannot use recovery_key: %s", strerror(-rc));
	}
	sync_verifier(n);
	if (k->trust_lost)
		save(n);
	if (k->revoked_self)
		log_warnx("this node was REVOKED by the controller: it plays nothing and "
			  "refuses every command (re-provision it to use it again)");
	return 0;
}

void node_keys_check_state(struct node *n, int ran_before, int64_t now)
{
	struct node_keys *k = &n->keys;
	int64_t after = now > k->floor ? now : k->floor;
	char what[200];

	if (n->ver.state_corrupt)
		snprintf(what, sizeof(what), "sequence store seq corrupt (%.120s; moved to "
			 "seq.corrupt)", n->ver.corrupt_why);
	else if (n->ver.state_missing && ran_before)
		snprintf(what, sizeof(what), "sequence store seq missing");
	else
		return;
	/*
	 * Any message issued before now may be one we already acted on: refuse
	 * it unless its sequence is known again from a newer one (envelope.h).
	 */
	verifier_fail_closed(&n->ver, after);
	log_errorx("%s on a node that ran before: failing closed - plans, commands and "
		   "trust documents issued before %lld (ms) are refused until the controller "
		   "sends newer ones", what, (long long)n->ver.fresh_after);
	if (k->lost[0]) {
		size_t l = strlen(k->lost);

		snprintf(k->lost + l, sizeof(k->lost) - l, "; %s", what);
	} else {
		snprintf(k->lost, sizeof(k->lost), "%s", what);
	}
	if (!k->lost_at)
		k->lost_at = now_ms();
	save(n); /* the floor, in the trust file's copy too */
}

json_t *node_keys_state_json(const struct node *n)
{
	const struct node_keys *k = &n->keys;

	if (!k->lost[0])
		return NULL;
	return json_pack("{s:s, s:I, s:I, s:I, s:b}", "lost", k->lost, "since",
			 (json_int_t)k->lost_at, "fresh_after", (json_int_t)n->ver.fresh_after,
			 "stale", (json_int_t)n->ver.counts[ENV_ERR_STALE], "trust_restored",
			 !k->trust_lost);
}

int node_keys_topic(const struct node *n, const char *topic)
{
	struct topic_parts t;

	return topic_parse(n->root, topic, &t) == 0 && !t.node && t.leaf == LEAF_KEY &&
	       strcmp(t.name, "all") == 0;
}

/* ------------------------------------------------------------ documents */

struct doc {
	struct node_key keys[NODE_KEYS_MAX];
	size_t nkeys;
	struct node_key retire[NODE_KEYS_MAX];
	size_t nretire;
	uint8_t revoked[NODE_KEYS_OLD_MAX][32];
	size_t nrevoked;
	int names_me;
};

static int doc_int(json_t *o, const char *key, int64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EINVAL;
	*out = (int64_t)json_integer_value(v);
	return 0;
}

/* Parse and check everything before changing anything. */
static int doc_parse(const char *self, const uint8_t *body, size_t len, struct doc *d,
		     char *err, size_t errlen)
{
	json_error_t je;
	json_t *o, *a, *e;
	size_t i;
	int rc = -EINVAL;

	memset(d, 0, sizeof(*d));
	o = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(o)) {
		snprintf(err, errlen, "not a JSON object: %s", o ? "" : je.text);
		goto out;
	}
	a = json_object_get(o, "keys");
	if (!json_is_array(a) || json_array_size(a) == 0 ||
	    json_array_size(a) > NODE_KEYS_MAX - 1) {
		snprintf(err, errlen, "\"keys\" must list 1 to %d keys", NODE_KEYS_MAX - 1);
		goto out;
	}
	json_array_foreach(a, i, e) {
		if (parse_pk(json_object_get(e, "key"), d->keys[i].pk) < 0 ||
		    doc_int(e, "not_after", &d->keys[i].not_after) < 0) {
			snprintf(err, errlen, "keys[%zu]: needs \"key\" (64 hex) and \"not_after\" "
				 "(ms)", i);
			goto out;
		}
		d->nkeys++;
	}
	a = json_object_get(o, "retire");
	if (a && (!json_is_array(a) || json_array_size(a) > NODE_KEYS_MAX)) {
		snprintf(err, errlen, "\"retire\" must list at most %d keys", NODE_KEYS_MAX);
		goto out;
	}
	json_array_foreach(a, i, e) {
		if (parse_pk(json_object_get(e, "key"), d->retire[i].pk) < 0 ||
		    doc_int(e, "at", &d->retire[i].retire_at) < 0) {
			snprintf(err, errlen, "retire[%zu]: needs \"key\" and \"at\"", i);
			goto out;
		}
		d->nretire++;
	}
	a = json_object_get(o, "revoked_keys");
	if (a && (!json_is_array(a) || json_array_size(a) > NODE_KEYS_OLD_MAX)) {
		snprintf(err, errlen, "\"revoked_keys\" must list at most %d keys",
			 NODE_KEYS_OLD_MAX);
		goto out;
	}
	json_array_foreach(a, i, e) {
		if (parse_pk(e, d->revoked[i]) < 0) {
			snprintf(err, errlen, "revoked_keys[%zu] is not a key (64 hex)", i);
			goto out;
		}
		d->nrevoked++;
	}
	a = json_object_get(o, "revoked_nodes");
	if (a && (!json_is_array(a) || json_array_size(a) > DOC_NODES_MAX)) {
		snprintf(err, errlen, "\"revoked_nodes\" must be a list of node ids");
		goto out;
	}
	json_array_foreach(a, i, e) {
		if (!json_is_string(e) || !name_valid(json_string_value(e))) {
			snprintf(err, errlen, "revoked_nodes[%zu] is not a node id", i);
			goto out;
		}
		if (strcmp(json_string_value(e), self) == 0)
			d->names_me = 1;
	}
	for (i = 0; i < d->nkeys; i++)
		if (in_list(d->revoked, d->nrevoked, d->keys[i].pk)) {
			snprintf(err, errlen, "keys[%zu] is also in revoked_keys", i);
			goto out;
		}
	rc = 0;
out:
	json_decref(o);
	return rc;
}

int node_keys_doc_check(const char *self, const uint8_t *body, size_t len, char *err,
			size_t errlen)
{
	struct doc d;
	struct upper_doc ud;
	int rc = doc_parse(self, body, len, &d, err, errlen);

	if (rc == 0)
		rc = upper_doc_parse(body, len, &ud, err, errlen);

	return rc < 0 ? rc : d.names_me;
}

void node_keys_on_trust(struct node *n, const struct envelope *env)
{
	struct node_keys *k = &n->keys, next;
	struct doc d;
	struct upper_doc ud;
	char err[200], id[17];
	int64_t now = now_ms();
	size_t i;

	if (doc_parse(n->cfg.node, env->body, env->body_len, &d, err, sizeof(err)) < 0) {
		log_warnx("rejected the trust document (sequence %" PRIu64 "): %s", env->seq, err);
		n->rejected_body++;
		status_dirty(n);
		return;
	}
	/* its area part (upper.h) is checked with the rest: one bad field refuses all */
	if (upper_doc_parse(env->body, env->body_len, &ud, err, sizeof(err)) < 0) {
		log_warnx("rejected the trust document (sequence %" PRIu64 "): %s", env->seq, err);
		n->rejected_body++;
		status_dirty(n);
		return;
	}
	next = *k;
	next.ntrusted = 0;
	/* revoked first: they win over anything else, now and later */
	for (i = 0; i < d.nrevoked; i++)
		list_add(next.revoked, &next.nrevoked, d.revoked[i]);
	for (i = 0; i < d.nkeys; i++) {
		if (in_list(next.revoked, next.nrevoked, d.keys[i].pk)) {
			key_id_hex(id, d.keys[i].pk);
			log_warnx("trust document: key %s was revoked before: not trusted", id);
			continue;
		}
		next.trusted[next.ntrusted] = d.keys[i];
		next.trusted[next.ntrusted++].retire_at = 0;
	}
	for (i = 0; i < d.nretire; i++) {
		const uint8_t *pk = d.retire[i].pk;

		if (in_list(next.revoked, next.nrevoked, pk) || trusted_find(&next, pk))
			continue;
		/* only a key we trust now may linger; it never comes back once gone */
		if (trusted_find(k, pk) && d.retire[i].retire_at > now &&
		    next.ntrusted < NODE_KEYS_MAX - 1) {
			next.trusted[next.ntrusted] = *trusted_find(k, pk);
			next.trusted[next.ntrusted++].retire_at = d.retire[i].retire_at;
		} else {
			list_add(next.retired, &next.nretired, pk);
		}
	}
	/* keys we trust that the document does not mention stay (node.cfg's) */
	for (i = 0; i < k->ntrusted; i++) {
		const uint8_t *pk = k->trusted[i].pk;
		int mentioned = trusted_find(&next, pk) || in_list(next.revoked, next.nrevoked, pk) ||
				in_list(next.retired, next.nretired, pk);
		size_t r;

		for (r = 0; r < d.nretire && !mentioned; r++)
			mentioned = pk_eq(d.retire[r].pk, pk);
		if (!mentioned && next.ntrusted < NODE_KEYS_MAX - 1)
			next.trusted[next.ntrusted++] = k->trusted[i];
	}
	if (next.ntrusted == 0) {
		log_warnx("rejected the trust document (sequence %" PRIu64 "): it would leave no "
			  "key to trust", env->seq);
		n->rejected_body++;
		status_dirty(n);
		return;
	}
	if (d.names_me && !k->revoked_self)
		log_warnx("this node is REVOKED by the controller: it stops playing and refuses "
			  "every command from now on");
	else if (!d.names_me && k->revoked_self)
		log_info("this node is no longer revoked");
	next.revoked_self = d.names_me;
	next.trust_lost = 0;
	next.doc_seq = env->seq;
	next.stale = 0;
	next.doc_issued = env->issued_at;
	*k = next;
	sync_verifier(n);
	save(n);
	upper_apply(n, &ud);
	{
		char list[NODE_KEYS_MAX * 18 + 1] = "";
		size_t off = 0;

		for (i = 0; i < k->ntrusted; i++) {
			key_id_hex(id, k->trusted[i].pk);
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i ? "," : "",
						id);
		}
		log_info("trust document %" PRIu64 " applied: trusting key%s %s%s", env->seq,
			 k->ntrusted == 1 ? "" : "s", list,
			 k->nrevoked ? " (some keys revoked)" : "");
	}
	if (k->revoked_self) {
		queue_shutdown(n, "node revoked");
		playout_stop(&n->po);
	}
	status_dirty(n);
}

/* ------------------------------------------------------------ checks */

int node_keys_check(struct node *n, const struct envelope *env, const char *topic)
{
	struct node_keys *k = &n->keys;
	uint8_t id[ENVELOPE_KEYID_LEN];
	char hex[17];
	size_t i;

	/* the recovery key signs trust documents and nothing else */
	if (n->cfg.has_recovery_key) {
		key_id_of(id, n->cfg.recovery_pk);
		if (memcmp(id, env->key_id, sizeof(id)) == 0 &&
		    (env->type != ENV_KEY || !node_keys_topic(n, topic))) {
			k->recovery_misuse++;
			log_warnx("rejected message on %s: signed by the recovery key, which may "
				  "sign only trust documents", topic);
			return -EPERM;
		}
	}
	for (i = 0; i < k->ntrusted; i++) {
		key_id_of(id, k->trusted[i].pk);
		if (memcmp(id, env->key_id, sizeof(id)) != 0)
			continue;
		if (k->trusted[i].not_after && env->issued_at > k->trusted[i].not_after &&
		    env->type != ENV_KEY) {
			k->key_expired++;
			hex_encode(hex, id, sizeof(id));
			log_warnx("rejected message on %s: signed by key %s, which expired %.1f h "
				  "before the message was issued", topic, hex,
				  (double)(env->issued_at - k->trusted[i].not_after) / 3600000.0);
			return -EPERM;
		}
		if (k->trusted[i].not_after && now_ms() > k->trusted[i].not_after &&
		    env->type != ENV_KEY) {
			k->key_expired++;
			hex_encode(hex, id, sizeof(id));
			log_warnx("rejected message on %s: the controller key %s expired: "
				  "rotate it (loaxa key rotate)", topic, hex);
			return -EPERM;
		}
	}
	if (k->revoked_self && env->type != ENV_KEY) {
		k->node_revoked++;
		log_warnx("rejected message on %s: this node is revoked", topic);
		return -EPERM;
	}
	return 0;
}

int node_keys_unknown(struct node *n, const char *topic, const uint8_t *payload,
		      size_t len)
{
	struct node_keys *k = &n->keys;
	uint8_t id[ENVELOPE_KEYID_LEN];
	char hex[17];
	size_t i;

	if (len < 16)
		return 0;
	for (i = 0; i < k->nrevoked; i++) {
		key_id_of(id, k->revoked[i]);
		if (memcmp(id, payload + 8, sizeof(id)) == 0) {
			k->revoked_key++;
			if (n->ver.counts[ENV_ERR_UNKNOWN_KEY])
				n->ver.counts[ENV_ERR_UNKNOWN_KEY]--;
			hex_encode(hex, id, sizeof(id));
			log_warnx("the message above was signed by key %s, which the controller "
				  "REVOKED", hex);
			return 1;
		}
	}
	if (node_keys_topic(n, topic)) {
		if (!k->stale)
			log_errorx("the controller's trust document is signed by a key this node "
				   "does not trust: the controller rotated its key while this node "
				   "was away for longer than the old key's retirement window (or "
				   "the key in node.cfg is wrong). This node cannot follow: "
				   "re-provision it (loaxa node add) or recover with the recovery "
				   "key (docs/security.md)");
		k->stale = 1;
	}
	return 0;
}

void node_keys_tick(struct node *n)
{
	struct node_keys *k = &n->keys;
	int64_t now = now_ms();
	size_t i = 0;
	int changed = 0;
	char id[17];

	while (i < k->ntrusted) {
		if (k->trusted[i].retire_at && k->trusted[i].retire_at <= now) {
			key_id_hex(id, k->trusted[i].pk);
			log_info("key %s retired: no longer trusted", id);
			list_add(k->retired, &k->nretired, k->trusted[i].pk);
			memmove(&k->trusted[i], &k->trusted[i + 1],
				sizeof(k->trusted[0]) * (k->ntrusted - i - 1));
			k->ntrusted--;
			changed = 1;
			continue;
		}
		i++;
	}
	if (changed) {
		sync_verifier(n);
		save(n);
		status_dirty(n);
	}
}

int64_t node_keys_next_deadline(const struct node *n)
{
	const struct node_keys *k = &n->keys;
	int64_t next = INT64_MAX, now = now_ms();
	size_t i;

	for (i = 0; i < k->ntrusted; i++)
		if (k->trusted[i].retire_at && k->trusted[i].retire_at - now + mono_ms() < next)
			next = k->trusted[i].retire_at - now + mono_ms();
	return next;
}

json_t *node_keys_status_json(const struct node *n)
{
	const struct node_keys *k = &n->keys;
	json_t *keys = json_array();
	char id[17];
	size_t i;

	for (i = 0; i < k->ntrusted; i++) {
		key_id_hex(id, k->trusted[i].pk);
		json_array_append_new(keys, json_pack("{s:s, s:I, s:I}", "id", id, "not_after",
						      (json_int_t)k->trusted[i].not_after,
						      "retire_at",
						      (json_int_t)k->trusted[i].retire_at));
	}
	return json_pack("{s:o, s:I, s:b, s:b, s:b}", "keys", keys, "seq",
			 (json_int_t)k->doc_seq, "revoked", k->revoked_self, "recovery_key",
			 n->cfg.has_recovery_key, "stale", k->stale);
}

void node_keys_rejected_json(const struct node *n, json_t *o)
{
	const struct node_keys *k = &n->keys;

	if (k->key_expired)
		json_object_set_new(o, "key_expired", json_integer((json_int_t)k->key_expired));
	if (k->recovery_misuse)
		json_object_set_new(o, "recovery_key_misuse",
				    json_integer((json_int_t)k->recovery_misuse));
	if (k->node_revoked)
		json_object_set_new(o, "node_revoked", json_integer((json_int_t)k->node_revoked));
	if (k->revoked_key)
		json_object_set_new(o, "revoked_key", json_integer((json_int_t)k->revoked_key));
}

/* ---- the event loop (loop.h): main.c registers this module ---- */

static void loop_tick(struct loop *l, int64_t mono, void *arg)
{
	(void)l;
	(void)mono;
	node_keys_tick(arg);
}

static int64_t loop_deadline(void *arg)
{
	return node_keys_next_deadline(arg);
}

/* The retained trust document (the subscription table, mqtt.h). */
static void on_msg(struct node *n, const struct node_msg *m)
{
	node_keys_on_trust(n, m->env);
}

/* This module's part of the status (status.h). */
static void status_part(struct node *n, json_t *status)
{
	json_t *st, *rejected = json_object_get(status, "rejected");

	json_object_set_new(status, "trust", node_keys_status_json(n));
	st = node_keys_state_json(n);
	if (st)
		json_object_set_new(status, "state", st);
	if (rejected)
		node_keys_rejected_json(n, rejected);
}

int node_keys_register(struct loop *l, struct node *n)
{
	int rc = node_mqtt_subscribe(n, LEAF_KEY, NODE_SUB_ALL, NODE_CONN_CTL, 1, on_msg);

	if (rc >= 0)
		rc = status_provider_add(n, status_part);
	if (rc < 0)
		return rc;
	rc = loop_tick_add(l, "keys", loop_tick, loop_deadline, n);
	return rc < 0 ? rc : 0;
}
