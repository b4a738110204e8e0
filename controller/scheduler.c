/*
 * scheduler.c - the schedule in memory, per-node plans, plan results; see
 * scheduler.h (what it owns and what it must not do).
 */
#include "scheduler.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "ctl.h"
#include "ctlutil.h"
#include "envelope.h"
#include "log.h"
#include "mqtt.h"
#include "schedjobs.h"
#include "schedstore.h"
#include "secops.h"
#include "topic.h"
#include "util.h"

/* ------------------------------------------------------------ the items */

int ctl_sched_reload(struct ctl *c)
{
	struct sched_set fresh = { NULL, 0, 0 };
	int rc = ctl_schedstore_items(c, &fresh);

	if (rc < 0) {
		sched_set_free(&fresh);
		return rc;
	}
	sched_set_free(&c->sched->items);
	c->sched->items = fresh;
	c->sched->dirty = 1;
	return 0;
}

int ctl_sched_is_cancelled(struct ctl *c, const char *occ)
{
	if (!c->sched->cancelled) {
		c->sched->cancelled = json_object();
		if (!c->sched->cancelled)
			return 0;
		if (ctl_schedstore_cancelled(c, c->sched->cancelled) < 0)
			return 0;
	}
	return json_object_get(c->sched->cancelled, occ) != NULL;
}

void ctl_sched_cancelled_changed(struct ctl *c)
{
	json_decref(c->sched->cancelled);
	c->sched->cancelled = NULL;
}

void ctl_sched_announce_id(struct ctl *c, int64_t now, char out[SCHED_ID_MAX])
{
	time_t s = (time_t)(now / 1000);
	struct tm tm;
	char stamp[32];
	size_t i;
	int k;

	localtime_r(&s, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	for (k = 1; k < 1000; k++) {
		int used = 0;

		snprintf(out, SCHED_ID_MAX, "a-%s-%d", stamp, k);
		for (i = 0; i < c->sched->items.n; i++)
			if (strcmp(c->sched->items.items[i].id, out) == 0)
				used = 1;
		if (!used)
			return;
	}
}

/* ------------------------------------------------------------ plans */

struct plan_build {
	struct ctl *c;
	json_t *items;
	int64_t generated;            /* occurrences that expired before are left out */
	int rc;
};

static int plan_occ(void *arg, const struct sched_occ *occ)
{
	struct plan_build *b = arg;
	const struct sched_item *it = occ->item;
	json_t *o;

	if (occ->expires <= b->generated || ctl_sched_is_cancelled(b->c, occ->id))
		return 0;
	if (it->src == SCHED_SRC_RELAY) {
		/* relays (issue 5): a source and an end instead of content */
		o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:i, s:s, s:i, s:I}",
			      "id", occ->id, "item", it->id, "title", it->title,
			      "at", (json_int_t)occ->at, "source", it->source,
			      "until", (json_int_t)(occ->at + it->duration_ms),
			      "level", sched_level_name(it->level), "volume", it->volume,
			      "chime", it->chime_content, "warmup_s", it->warmup_s,
			      "expires", (json_int_t)occ->expires);
		if (!o || json_array_append_new(b->items, o) < 0) {
			b->rc = -ENOMEM;
			return 1;
		}
		return 0;
	}
	o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:s, s:i, s:s, s:I, s:i, s:I}",
		      "id", occ->id, "item", it->id, "title", it->title,
		      "at", (json_int_t)occ->at, "content", it->content,
		      "bytes", (json_int_t)it->bytes, "duration_ms", (json_int_t)it->duration_ms,
		      "level", sched_level_name(it->level), "volume", it->volume,
		      "chime", it->chime_content, "chime_bytes", (json_int_t)it->chime_bytes,
		      "warmup_s", it->warmup_s, "expires", (json_int_t)occ->expires);
	if (!o || json_array_append_new(b->items, o) < 0) {
		b->rc = -ENOMEM;
		return 1;
	}
	return 0;
}

static int occ_at_cmp(const void *pa, const void *pb)
{
	json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	json_int_t x = json_integer_value(json_object_get(a, "at"));
	json_int_t y = json_integer_value(json_object_get(b, "at"));

	if (x != y)
		return x < y ? -1 : 1;
	return strcmp(json_string_value(json_object_get(a, "id")),
		      json_string_value(json_object_get(b, "id")));
}

/*
 * The items of a node's plan for [generated, horizon): every occurrence of
 * every item that targets it, not expired at generated, not cancelled,
 * sorted by time.
 */
static json_t *plan_items(struct ctl *c, const struct sched_node_info *node,
			  int64_t generated, int64_t horizon)
{
	struct plan_build b = { c, json_array(), generated, 0 };
	json_t **v, *sorted;
	size_t i, n;

	if (!b.items)
		return NULL;
	for (i = 0; i < c->sched->items.n && b.rc == 0; i++) {
		const struct sched_item *it = &c->sched->items.items[i];

		if (!sched_item_targets(it, node))
			continue;
		/*
		 * The window opens expires_s before "now", on purpose: a play
		 * that began a few minutes ago is still playable by a node that
		 * missed its start (rebooted, just back online, got this plan
		 * late), which starts it late up to its expiry and reports how
		 * late. So a plan built at 17:03 carries the 17:00 program; a
		 * node that already played it knows the occurrence id and does
		 * not play it twice.
		 */
		sched_expand(it, generated - (int64_t)it->expires_s * 1000, horizon,
			     plan_occ, &b);
	}
	if (b.rc < 0) {
		json_decref(b.items);
		return NULL;
	}
	n = json_array_size(b.items);
	v = calloc(n ? n : 1, sizeof(*v));
	sorted = json_array();
	if (!v || !sorted) {
		free(v);
		json_decref(sorted);
		json_decref(b.items);
		return NULL;
	}
	for (i = 0; i < n; i++)
		v[i] = json_array_get(b.items, i);
	qsort(v, n, sizeof(*v), occ_at_cmp);
	for (i = 0; i < n; i++)
		json_array_append(sorted, v[i]);
	free(v);
	json_decref(b.items);
	return sorted;
}

/*
 * A node refuses envelopes over its max_message_bytes (default 256 KiB)
 * and keeps at most 2000 plan items. A plan that would be larger keeps its
 * earliest plays and ends its horizon at the first one left out (logged):
 * the daily re-plan brings the rest in time.
 */
#define PLAN_BODY_MAX (ENVELOPE_DEFAULT_MAX - ENVELOPE_OVERHEAD - 1024)
#define PLAN_ITEMS_MAX 2000

static void plan_fit(const char *node, json_t *items, int64_t *horizon, int quiet)
{
	size_t n = json_array_size(items), total = 128, keep, i;
	char *text;

	for (keep = 0; keep < n && keep < PLAN_ITEMS_MAX; keep++) {
		text = json_dumps(json_array_get(items, keep), JSON_COMPACT);
		total += (text ? strlen(text) : 0) + 1;
		free(text);
		if (total > PLAN_BODY_MAX)
			break;
	}
	if (keep == n)
		return;
	*horizon = json_integer_value(json_object_get(json_array_get(items, keep), "at"));
	/* plays at the same instant as the first one left out go with it */
	while (keep > 0 && json_integer_value(json_object_get(json_array_get(items, keep - 1),
							      "at")) == *horizon)
		keep--;
	if (!quiet)
		log_warnx("the plan of node %s is too large for one message: it keeps the first %zu "
		  "of %zu plays; the rest come with a later plan", node, keep, n);
	for (i = n; i > keep; i--)
		json_array_remove(items, i - 1);
}

static void digest_of(json_t *items, char out[65])
{
	unsigned char bin[crypto_hash_sha256_BYTES];
	char *text = json_dumps(items, JSON_COMPACT | JSON_SORT_KEYS);

	crypto_hash_sha256(bin, (const unsigned char *)(text ? text : ""),
			   text ? strlen(text) : 0);
	hex_encode(out, bin, sizeof(bin));
	free(text);
}

static void plan_topic(struct ctl *c, const char *node, char *out, size_t outlen)
{
	topic_node(out, outlen, c->mqtt.root, node, LEAF_PLAN);
}

/* Publish a stored plan envelope (retained, QoS 1). */
static int plan_publish_stored(struct ctl *c, const char *node)
{
	uint8_t *env = NULL;
	size_t envlen = 0;
	char topic[256];
	int rc;

	rc = ctl_schedstore_plan_envelope(c, node, &env, &envlen);
	if (rc < 0)
		return rc;
	plan_topic(c, node, topic, sizeof(topic));
	rc = ctl_mqtt_publish(c, CTL_CONN_CTL, topic, env, envlen, 1, 1);
	free(env);
	if (rc == 0 || rc == -ENOTCONN)
		ctl_schedstore_plan_published(c, node, now_ms());
	return rc == -ENOTCONN ? 0 : rc;
}

/* Seal and store a new plan for node, then publish it. */
static int plan_new(struct ctl *c, const char *node, json_t *items, const char *digest,
		    int64_t now, int64_t window_end, int64_t horizon)
{
	json_t *body = NULL;
	char *text = NULL;
	uint8_t *env = NULL;
	size_t envlen = 0;
	uint64_t seq;
	char until[32];
	int rc;

	body = json_pack("{s:s, s:I, s:I, s:O}", "node", node, "generated", (json_int_t)now,
			 "horizon", (json_int_t)horizon, "items", items);
	/* revoked nodes ride in every plan too (secops.h, docs/security.md) */
	if (body)
		json_object_set_new(body, "revoked", ctl_secops_revoked_json(c));
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (!text) {
		rc = -ENOMEM;
		goto out;
	}
	rc = ctl_db_begin(&c->db);
	if (rc < 0)
		goto out;
	rc = ctl_db_next_seq(&c->db, ENV_PLAN, ctl_now_us(), &seq);
	if (rc == 0)
		rc = envelope_seal(&c->signer, ENV_PLAN, 0, seq, now, horizon, text,
				   strlen(text), &env, &envlen);
	if (rc == 0)
		rc = ctl_schedstore_plan_put(c, node, seq, now, window_end, digest,
					     json_array_size(items), text, env, envlen);
	if (rc < 0) {
		ctl_db_rollback(&c->db);
		goto out;
	}
	rc = ctl_db_commit(&c->db);
	if (rc < 0)
		goto out;
	sched_fmt_local(until, sizeof(until), horizon);
	if (horizon < window_end)
		log_warnx("the plan of node %s is too large for one message: it ends at %s "
			  "with %zu plays; the rest come with a later plan", node, until,
			  json_array_size(items));
	log_info("plan %" PRIu64 " for node %s: %zu play%s until %s", seq, node,
		 json_array_size(items), json_array_size(items) == 1 ? "" : "s", until);
	rc = plan_publish_stored(c, node);
out:
	json_decref(body);
	free(text);
	free(env);
	return rc;
}

/*
 * The items of a plan depend only on the window and on which items target
 * the node, i.e. on its zones (and on its id where an item names it): in a
 * district, hundreds of nodes share a handful of such keys. One round of
 * re-planning computes (and fits, and digests) each key once.
 */
static json_t *round_items(struct ctl *c, json_t *cache, const struct sched_node_info *node,
			   int64_t gen, int64_t horizon, int64_t *body_horizon,
			   char digest[65])
{
	char key[64 + 32 * SCHED_NAME_MAX + SCHED_NAME_MAX];
	size_t i, j, off;
	json_t *e, *items;
	int named = 0;

	off = (size_t)snprintf(key, sizeof(key), "%lld|%lld|", (long long)gen,
			       (long long)horizon);
	for (i = 0; i < node->nzones && off < sizeof(key); i++)
		off += (size_t)snprintf(key + off, sizeof(key) - off, "%s,", node->zones[i]);
	for (i = 0; i < c->sched->items.n && !named; i++)
		for (j = 0; j < c->sched->items.items[i].nnodes; j++)
			if (strcmp(c->sched->items.items[i].nodes[j], node->id) == 0)
				named = 1;
	if (named && off < sizeof(key))
		snprintf(key + off, sizeof(key) - off, "|%s", node->id);
	e = json_object_get(cache, key);
	if (!e) {
		int64_t bh = horizon;

		items = plan_items(c, node, gen, horizon);
		if (!items)
			return NULL;
		plan_fit(node->id, items, &bh, 1);
		digest_of(items, digest);
		e = json_pack("[o, I, s]", items, (json_int_t)bh, digest);
		if (!e || json_object_set_new(cache, key, e) < 0)
			return NULL;
	}
	*body_horizon = json_integer_value(json_array_get(e, 1));
	snprintf(digest, 65, "%s", json_string_value(json_array_get(e, 2)));
	return json_incref(json_array_get(e, 0));
}

int ctl_sched_replan(struct ctl *c, int force)
{
	struct sched_node_info *nodes = NULL;
	struct ctl_stored_plan p;
	int64_t now = now_ms(), hz = (int64_t)c->cfg.sched.horizon_days * CTL_SCHED_MS_PER_DAY;
	size_t i, n = 0;
	int rc, published = 0;
	json_t *cache;

	if (!c->sched)
		return 0;
	rc = ctl_schedstore_nodes(c, &nodes, &n);
	if (rc < 0)
		return rc;
	cache = json_object();
	if (!cache) {
		free(nodes);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		int64_t gen = now, horizon = now + hz, body_horizon;
		char digest[65];
		json_t *items;

		rc = ctl_schedstore_plan_get(c, nodes[i].id, &p);
		if (rc < 0)
			break;
		/*
		 * Compare over the stored plan's own window, so time passing alone
		 * does not make a new plan; a new window only daily (the horizon
		 * runs short) or when something changed.
		 */
		if (p.found && !force && p.horizon >= now + hz - CTL_SCHED_MS_PER_DAY) {
			gen = p.generated;
			horizon = p.horizon;
		}
		items = round_items(c, cache, &nodes[i], gen, horizon, &body_horizon, digest);
		if (!items) {
			rc = -ENOMEM;
			break;
		}
		/*
		 * A node that never had a plan gets none while it has nothing
		 * planned (a site that does not use schedules sends no plans);
		 * once it had one, an empty plan is sent to clear it.
		 */
		if (!p.found && json_array_size(items) == 0) {
			json_decref(items);
			continue;
		}
		if (p.found && gen == p.generated && strcmp(digest, p.digest) == 0) {
			json_decref(items);
			continue;
		}
		if (gen != now) {
			/* changed: the new plan covers the full horizon from now */
			json_decref(items);
			gen = now;
			horizon = now + hz;
			items = round_items(c, cache, &nodes[i], gen, horizon, &body_horizon,
					    digest);
			if (!items) {
				rc = -ENOMEM;
				break;
			}
		}
		rc = plan_new(c, nodes[i].id, items, digest, gen, horizon, body_horizon);
		json_decref(items);
		if (rc < 0)
			log_warnx("cannot publish the plan of node %s: %s", nodes[i].id,
				  strerror(-rc));
		else
			published++;
	}
	free(nodes);
	json_decref(cache);
	c->sched->dirty = 0;
	return rc < 0 ? rc : published;
}

/* Every stored plan again (the broker may have lost its retained copies). */
static void republish_all(struct ctl *c)
{
	json_t *nodes = ctl_schedstore_plan_nodes(c), *v;
	char node[SCHED_NAME_MAX];
	int count = 0;
	size_t i;

	json_array_foreach(nodes, i, v) {
		snprintf(node, sizeof(node), "%s", json_string_value(v));
		if (plan_publish_stored(c, node) == 0)
			count++;
	}
	json_decref(nodes);
	if (count)
		log_info("published the plans of %d node%s again (connected to the broker)",
			 count, count == 1 ? "" : "s");
}

/*
 * A node online whose status reports an older plan than ours (it missed
 * the retained one: a broker that lost it, a node that was away): publish
 * it again, at most every CTL_SCHED_REPUBLISH_MS.
 */
static void republish_lagging(struct ctl *c)
{
	json_t *rows = ctl_schedstore_plans_unpublished(c, now_ms() - CTL_SCHED_REPUBLISH_MS);
	json_t *r;
	size_t i;

	json_array_foreach(rows, i, r) {
		const char *node = json_string_value(json_array_get(r, 0));
		const char *status = json_string_value(json_array_get(r, 2));
		uint64_t seq = (uint64_t)json_integer_value(json_array_get(r, 1));
		json_t *j = status ? json_loads(status, 0, NULL) : NULL;
		json_t *plan = json_object_get(j, "plan");
		json_t *ack = json_object_get(plan, "seq");
		char name[SCHED_NAME_MAX];

		if (json_is_integer(ack) && (uint64_t)json_integer_value(ack) < seq) {
			snprintf(name, sizeof(name), "%s", node);
			log_info("node %s reports plan %" PRId64 ", ours is %" PRIu64
				 ": publishing it again", name, (int64_t)json_integer_value(ack),
				 seq);
			json_decref(j);
			plan_publish_stored(c, name);
			continue;
		}
		json_decref(j);
	}
	json_decref(rows);
}

void ctl_sched_tick(struct ctl *c)
{
	struct ctl_sched *s = c->sched;
	int64_t at;
	int connected;

	if (!s)
		return;
	connected = ctl_mqtt_connected(c, CTL_CONN_CTL);
	at = connected ? ctl_mqtt_connected_at(c, CTL_CONN_CTL) : 0;
	if (connected && at != s->published_at_connect) {
		republish_all(c);
		s->published_at_connect = at;
	}
	if (s->dirty || mono_ms() >= s->next_replan_ms) {
		s->next_replan_ms = mono_ms() + CTL_SCHED_REPLAN_MS;
		ctl_sched_replan(c, 0);
		if (connected)
			republish_lagging(c);
	}
}

int ctl_sched_start(struct ctl *c)
{
	int rc;

	if (!c->sched) {
		c->sched = calloc(1, sizeof(*c->sched));
		if (!c->sched)
			return -ENOMEM;
		ctl_schedjobs_init(c);
	}
	setenv("TZ", c->cfg.sched.timezone, 1);
	tzset();
	rc = ctl_schedstore_items(c, &c->sched->items);
	if (rc < 0)
		return rc;
	c->sched->loaded = 1;
	c->sched->dirty = 1;
	log_info("schedule: %zu item%s, time zone %s, horizon %d days", c->sched->items.n,
		 c->sched->items.n == 1 ? "" : "s", c->cfg.sched.timezone,
		 c->cfg.sched.horizon_days);
	return 0;
}

void ctl_sched_stop(struct ctl *c)
{
	if (!c->sched)
		return;
	ctl_schedjobs_stop(c);
	sched_set_free(&c->sched->items);
	json_decref(c->sched->cancelled);
	free(c->sched);
	c->sched = NULL;
}

/* ------------------------------------------------------------ events */

static int play_rank(const char *result)
{
	if (strcmp(result, "started") == 0)
		return 1;
	return 2;
}

void ctl_sched_on_event(struct ctl *c, const char *node, const void *payload, size_t len)
{
	json_t *o = json_loadb(payload, len, 0, NULL);
	const char *occ, *type, *id, *end, *reason;
	const char *result = NULL;
	struct ctl_sched_play p;
	json_t *v;
	size_t i;

	memset(&p, 0, sizeof(p));
	if (!json_is_object(o))
		goto out;
	occ = json_string_value(json_object_get(o, "occurrence"));
	type = json_string_value(json_object_get(o, "type"));
	id = json_string_value(json_object_get(o, "id"));
	if (!occ || !type || !id || strncmp(occ, "o-", 2) != 0 ||
	    strlen(occ) >= SCHED_OCC_ID_MAX || strlen(id) >= 64)
		goto out;
	for (i = 0; occ[i]; i++)
		if (!((occ[i] >= 'a' && occ[i] <= 'z') || (occ[i] >= '0' && occ[i] <= '9') ||
		      occ[i] == '-' || occ[i] == '_'))
			goto out;
	end = json_string_value(json_object_get(o, "end"));
	if (strcmp(type, "play_started") == 0)
		result = "started";
	else if (strcmp(type, "play_finished") == 0)
		result = end && strcmp(end, "finished") ? end : "played";
	else if (strcmp(type, "play_failed") == 0)
		result = "failed";
	else if (strcmp(type, "play_preempted") == 0)
		result = "preempted";
	if (!result || strlen(result) > 16)
		goto out;
	reason = json_string_value(json_object_get(o, "reason"));
	p.occurrence = occ;
	p.node = node;
	p.result = result;
	v = json_object_get(o, "scheduled");
	if ((p.has_scheduled = json_is_integer(v)))
		p.scheduled = json_integer_value(v);
	v = json_object_get(o, "start");
	if ((p.has_start = json_is_integer(v)))
		p.start = json_integer_value(v);
	v = json_object_get(o, "duration_ms");
	if ((p.has_duration = json_is_integer(v)))
		p.duration_ms = json_integer_value(v);
	p.reason = reason && ctl_text_valid(reason, strlen(reason)) && strlen(reason) < 256 ?
		reason : "";
	p.event = id;
	p.updated = now_ms();
	p.rank = play_rank(result);
	if (ctl_schedstore_play_put(c, &p) == 0)
		log_info("node %s: planned play %s %s", node, occ, result);
out:
	json_decref(o);
}
