/*
 * plan.c - see plan.h.
 */
#include "plan.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cache.h"
#include "clock.h"
#include "envelope.h"
#include "events.h"
#include "fetch.h"
#include "log.h"
#include "loop.h"
#include "node.h"
#include "queue.h"
#include "status.h"
#include "util.h"

/* Times in plans: after 2001-09-09 (1e12 ms), before 2286 (1e13 ms). */
#define PLAN_TIME_MIN 1000000000000LL
#define PLAN_TIME_MAX 10000000000000LL
#define PLAN_DONE_FILE_MAX (4 * 1024 * 1024)

/* ---------------------------------------------------------------- parsing */

static int fail(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Occurrence ids: 1-95 of A-Z a-z 0-9 - _ . : (they name files and topics' payloads). */
static int occurrence_id_valid(const char *s)
{
	return token_valid(s, QUEUE_ID_MAX - 1);
}

/* Text for logs and events: control characters become spaces, cut at a character. */
static void copy_text(char *out, size_t outlen, const char *s)
{
	size_t n = strlen(s), i;

	if (n >= outlen) {
		n = outlen - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++)
		out[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? ' ' : s[i];
	out[n] = '\0';
}

/* Integer field: 0 found, 1 absent (out = def), -EINVAL (why names it). */
static int get_int(json_t *o, const char *where, const char *field, int required, int64_t min,
		   int64_t max, int64_t def, int64_t *out, char *why, size_t whylen)
{
	json_t *v = json_object_get(o, field);

	if (!v || json_is_null(v)) {
		if (required)
			return fail(why, whylen, "%s%s: missing (a whole number is required)",
				    where, field);
		*out = def;
		return 1;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return fail(why, whylen, "%s%s: must be a whole number from %" PRId64 " to %"
			    PRId64, where, field, min, max);
	*out = json_integer_value(v);
	return 0;
}

/* String field: 0 found, 1 absent (out = ""), -EINVAL. */
static int get_str(json_t *o, const char *where, const char *field, int required, char *out,
		   size_t outlen, char *why, size_t whylen)
{
	json_t *v = json_object_get(o, field);

	out[0] = '\0';
	if (!v || json_is_null(v)) {
		if (required)
			return fail(why, whylen, "%s%s: missing (a string is required)", where,
				    field);
		return 1;
	}
	if (!json_is_string(v))
		return fail(why, whylen, "%s%s: must be a string", where, field);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return fail(why, whylen, "%s%s: contains a NUL byte", where, field);
	if (json_string_length(v) >= outlen)
		return fail(why, whylen, "%s%s: longer than %zu bytes", where, field,
			    outlen - 1);
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int parse_item(json_t *o, size_t idx, int64_t horizon, struct plan_item *it, char *why,
		      size_t whylen)
{
	char where[80], level[32], text[512];
	int64_t v;
	int rc;

	snprintf(where, sizeof(where), "items[%zu].", idx);
	memset(it, 0, sizeof(*it));
	if (!json_is_object(o))
		return fail(why, whylen, "items[%zu]: must be an object", idx);
	rc = get_str(o, where, "id", 1, it->id, sizeof(it->id), why, whylen);
	if (rc < 0)
		return rc;
	if (!occurrence_id_valid(it->id))
		return fail(why, whylen, "%sid: must be 1 to %d letters, digits, '-', '_', "
			    "'.', ':'", where, QUEUE_ID_MAX - 1);
	/* errors below name the occurrence too: the operator knows it by its id */
	snprintf(where, sizeof(where), "items[%zu] (%.24s).", idx, it->id);
	if (get_str(o, where, "item", 0, it->item, sizeof(it->item), why, whylen) < 0)
		return -EINVAL;
	if (get_str(o, where, "title", 0, text, sizeof(text), why, whylen) < 0)
		return -EINVAL;
	copy_text(it->title, sizeof(it->title), text);
	if (get_int(o, where, "at", 1, PLAN_TIME_MIN, PLAN_TIME_MAX, 0, &it->at, why,
		    whylen) < 0)
		return -EINVAL;
	if (it->at > horizon)
		return fail(why, whylen, "%sat: after the plan's horizon", where);
	rc = get_int(o, where, "expires", 0, it->at, PLAN_TIME_MAX,
		     it->at + PLAN_DEFAULT_EXPIRY_MS, &it->expires, why, whylen);
	if (rc < 0)
		return fail(why, whylen, "%sexpires: must be a time (ms) not before \"at\"",
			    where);
	rc = get_str(o, where, "source", 0, it->source, sizeof(it->source), why, whylen);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		/* a relay (issue 5): a source and an end time instead of content */
		if (strncmp(it->source, "alsa:", 5) != 0 && strncmp(it->source, "url:", 4) != 0)
			return fail(why, whylen, "%ssource: must start with \"alsa:\" or \"url:\"",
				    where);
		if (get_int(o, where, "until", 1, it->at + 1, PLAN_TIME_MAX, 0, &it->until, why,
			    whylen) < 0)
			return fail(why, whylen, "%suntil: a time (ms) after \"at\" is required "
				    "with a source", where);
	}
	rc = get_str(o, where, "content", it->source[0] == '\0', it->content,
		     sizeof(it->content), why, whylen);
	if (rc < 0 && strstr(why, "longer than"))
		return fail(why, whylen, "%scontent: must be a content id (64 lowercase hex "
			    "digits)", where);
	if (rc < 0)
		return rc;
	if (rc == 0 && !content_id_valid(it->content))
		return fail(why, whylen, "%scontent: must be a content id (64 lowercase hex "
			    "digits)", where);
	if (get_int(o, where, "bytes", 0, 0, (int64_t)1 << 50, 0, &v, why, whylen) < 0)
		return -EINVAL;
	it->bytes = (uint64_t)v;
	if (get_int(o, where, "duration_ms", 0, 0, (int64_t)1 << 40, -1, &it->duration_ms, why,
		    whylen) < 0)
		return -EINVAL;
	rc = get_str(o, where, "level", 0, level, sizeof(level), why, whylen);
	if (rc < 0 || (rc == 0 && (play_level_parse(level, &it->level) < 0 ||
				   it->level == LEVEL_LIVE)))
		return fail(why, whylen, "%slevel: must be one of relay, normal, priority, "
			    "emergency", where);
	if (rc == 1)
		it->level = LEVEL_NORMAL;
	if (get_int(o, where, "volume", 0, 0, 100, 100, &v, why, whylen) < 0)
		return -EINVAL;
	it->volume = (int)v;
	if (get_str(o, where, "chime", 0, it->chime, sizeof(it->chime), why, whylen) < 0 ||
	    (it->chime[0] && !content_id_valid(it->chime)))
		return fail(why, whylen, "%schime: must be empty or a content id (64 lowercase "
			    "hex digits)", where);
	if (get_int(o, where, "chime_bytes", 0, 0, (int64_t)1 << 40, 0, &v, why, whylen) < 0)
		return -EINVAL;
	it->chime_bytes = (uint64_t)v;
	if (get_int(o, where, "warmup_s", 0, 0, PLAN_MAX_WARMUP_S, -1, &v, why, whylen) < 0)
		return -EINVAL;
	it->warmup_s = (int)v;
	return 0;
}

static int cmp_at(const void *a, const void *b)
{
	const struct plan_item *x = a, *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return strcmp(x->id, y->id);
}

void plan_clear(struct plan *p)
{
	free(p->items);
	memset(p, 0, sizeof(*p));
}

int plan_parse(const uint8_t *body, size_t len, const char *node, struct plan *out, char *why,
	       size_t whylen)
{
	json_error_t err;
	json_t *o, *items;
	char who[64];
	size_t i, j;
	int rc = -EINVAL;

	memset(out, 0, sizeof(*out));
	o = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &err);
	if (!o)
		return fail(why, whylen, "the plan is not valid JSON (line %d: %s)", err.line,
			    err.text);
	if (!json_is_object(o)) {
		fail(why, whylen, "the plan is JSON but not an object");
		goto out;
	}
	if (get_str(o, "", "node", 1, who, sizeof(who), why, whylen) < 0)
		goto out;
	if (strcmp(who, node) != 0) {
		fail(why, whylen, "node: the plan is for node \"%.40s\", this is \"%s\"", who,
		     node);
		rc = -EXDEV; /* addressed elsewhere: counted as wrong_target */
		goto out;
	}
	if (get_int(o, "", "generated", 1, 0, PLAN_TIME_MAX, 0, &out->generated, why, whylen) < 0)
		goto out;
	if (get_int(o, "", "horizon", 1, PLAN_TIME_MIN, PLAN_TIME_MAX, 0, &out->horizon, why,
		    whylen) < 0)
		goto out;
	if (out->horizon < out->generated) {
		fail(why, whylen, "horizon: before \"generated\"");
		goto out;
	}
	{
		/* nodes revoked by the operator (docs/security.md): names, checked */
		json_t *rev = json_object_get(o, "revoked"), *v;
		size_t k;

		if (rev && !json_is_null(rev) && !json_is_array(rev)) {
			fail(why, whylen, "revoked: must be a list of node ids");
			goto out;
		}
		json_array_foreach(rev, k, v) {
			if (!json_is_string(v) || !name_valid(json_string_value(v))) {
				fail(why, whylen, "revoked[%zu]: must be a node id", k);
				goto out;
			}
			if (strcmp(json_string_value(v), node) == 0)
				out->revokes_me = 1;
		}
	}
	items = json_object_get(o, "items");
	if (!json_is_array(items)) {
		fail(why, whylen, "items: missing or not a list (an empty list is a valid plan)");
		goto out;
	}
	if (json_array_size(items) > PLAN_MAX_ITEMS) {
		fail(why, whylen, "items: %zu items, more than the %d a node keeps",
		     json_array_size(items), PLAN_MAX_ITEMS);
		goto out;
	}
	out->n = json_array_size(items);
	if (out->n) {
		out->items = calloc(out->n, sizeof(*out->items));
		if (!out->items) {
			fail(why, whylen, "out of memory");
			rc = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < out->n; i++) {
		if (parse_item(json_array_get(items, i), i, out->horizon, &out->items[i], why,
			       whylen) < 0)
			goto out;
		for (j = 0; j < i; j++) {
			if (strcmp(out->items[j].id, out->items[i].id) == 0) {
				fail(why, whylen, "items[%zu].id: \"%s\" is also items[%zu].id "
				     "(occurrence ids must be unique)", i, out->items[i].id, j);
				goto out;
			}
		}
	}
	if (out->n > 1)
		qsort(out->items, out->n, sizeof(*out->items), cmp_at);
	rc = 0;
out:
	json_decref(o);
	if (rc < 0)
		plan_clear(out);
	return rc;
}

/* ---------------------------------------------------------------- played occurrences */

static struct plan_done *done_find(const struct node_plan *p, const char *id)
{
	size_t i;

	for (i = 0; i < p->ndone; i++)
		if (strcmp(p->done[i].id, id) == 0)
			return &p->done[i];
	return NULL;
}

int plan_is_done(const struct node *n, const char *id)
{
	return done_find(&n->plan, id) != NULL;
}

static int plan_has_id(const struct plan *p, const char *id)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->items[i].id, id) == 0)
			return 1;
	return 0;
}

/* Forget occurrences long past that the plan no longer lists. */
static void done_prune(struct node *n, int64_t now)
{
	struct node_plan *p = &n->plan;
	size_t i = 0;

	while (i < p->ndone) {
		if (p->done[i].at < now - PLAN_DONE_KEEP_MS && !plan_has_id(&p->cur, p->done[i].id)) {
			p->done[i] = p->done[p->ndone - 1];
			p->ndone--;
			continue;
		}
		i++;
	}
}

static void done_save(struct node *n)
{
	struct node_plan *p = &n->plan;
	json_t *o = json_object();
	char *s;
	size_t i;
	int rc;

	if (!o)
		return;
	for (i = 0; i < p->ndone; i++)
		json_object_set_new(o, p->done[i].id, json_integer(p->done[i].at));
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (!s)
		return;
	rc = write_file_atomic(p->done_path, s, strlen(s), 0640);
	if (rc < 0)
		log_warnx("cannot save the played occurrences %s: %s (after a restart an "
			  "occurrence of the plan could play again)", p->done_path,
			  strerror(-rc));
	free(s);
}

void plan_mark_done(struct node *n, const char *id, int64_t at)
{
	struct node_plan *p = &n->plan;

	size_t i;

	for (i = 0; i < p->cur.n; i++)
		if (strcmp(p->cur.items[i].id, id) == 0)
			p->cur.items[i].done = 1;
	if (done_find(p, id))
		return;
	if (p->ndone == p->done_cap) {
		size_t cap = p->done_cap ? p->done_cap * 2 : 64;
		struct plan_done *d = realloc(p->done, cap * sizeof(*d));

		if (!d) {
			log_warnx("out of memory remembering occurrence %s", id);
			return;
		}
		p->done = d;
		p->done_cap = cap;
	}
	snprintf(p->done[p->ndone].id, sizeof(p->done[0].id), "%s", id);
	p->done[p->ndone].at = at;
	p->ndone++;
	done_prune(n, clock_now_ms(&n->clock));
	done_save(n);
}

static void done_load(struct node *n)
{
	struct node_plan *p = &n->plan;
	uint8_t *buf = NULL;
	size_t len = 0;
	json_error_t err;
	json_t *o, *v;
	const char *key;
	int rc;

	rc = read_file(p->done_path, PLAN_DONE_FILE_MAX, &buf, &len);
	if (rc == -ENOENT)
		return;
	if (rc < 0) {
		log_warnx("cannot read the played occurrences %s: %s", p->done_path,
			  strerror(-rc));
		return;
	}
	o = json_loadb((const char *)buf, len, 0, &err);
	free(buf);
	if (!json_is_object(o)) {
		log_warnx("the played occurrences %s are damaged (line %d: %s): starting with "
			  "none (occurrences of the plan that already played may play again)",
			  p->done_path, err.line, err.text);
		json_decref(o);
		return;
	}
	json_object_foreach(o, key, v) {
		if (!occurrence_id_valid(key) || !json_is_integer(v))
			continue;
		{
			struct plan_done *d;

			if (p->ndone == p->done_cap) {
				size_t cap = p->done_cap ? p->done_cap * 2 : 64;

				d = realloc(p->done, cap * sizeof(*d));
				if (!d)
					break;
				p->done = d;
				p->done_cap = cap;
			}
			d = &p->done[p->ndone++];
			snprintf(d->id, sizeof(d->id), "%s", key);
			d->at = json_integer_value(v);
		}
	}
	json_decref(o);
}

/* ---------------------------------------------------------------- use of content */

static int item_pending(const struct node *n, const struct plan_item *it, int64_t now)
{
	(void)n;
	return now < it->expires && !it->done;
}

int plan_references(const struct node *n, const char *content)
{
	int64_t now = clock_now_ms(&n->clock);
	size_t i;

	if (!n->plan.have)
		return 0;
	for (i = 0; i < n->plan.cur.n; i++) {
		const struct plan_item *it = &n->plan.cur.items[i];

		if (!item_pending(n, it, now))
			continue;
		if (strcmp(it->content, content) == 0 || strcmp(it->chime, content) == 0)
			return 1;
	}
	return 0;
}

int plan_or_queue_uses(void *arg, const char *content)
{
	const struct node *n = arg;

	return queue_uses(arg, content) || plan_references(n, content) ||
	       update_uses(n, content);
}

/* Ask for everything still to play that is not on disk, in air-time order. */
static void fetch_missing(struct node *n)
{
	int64_t now = clock_now_ms(&n->clock);
	size_t i;

	for (i = 0; i < n->plan.cur.n; i++) {
		const struct plan_item *it = &n->plan.cur.items[i];

		if (!item_pending(n, it, now))
			continue;
		if (it->chime[0] && !cache_has(&n->cache, it->chime))
			fetch_want(n, it->chime, it->chime_bytes);
		if (it->content[0] && !cache_has(&n->cache, it->content))
			fetch_want(n, it->content, it->bytes);
	}
}

/* ---------------------------------------------------------------- in force */

static const char *fmt_time(char *out, size_t outlen, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!localtime_r(&t, &tm) || !strftime(out, outlen, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(out, outlen, "%" PRId64, ms);
	return out;
}

/* Make p the plan in force (takes its items). */
static void install(struct node *n, struct plan *p, const char *how)
{
	char h[32];
	uint64_t old = n->plan.have ? n->plan.cur.seq : 0;
	size_t i;

	queue_drop_plan_items(n);
	plan_clear(&n->plan.cur);
	n->plan.cur = *p;
	memset(p, 0, sizeof(*p));
	n->plan.have = 1;
	for (i = 0; i < n->plan.cur.n; i++)
		n->plan.cur.items[i].done = done_find(&n->plan, n->plan.cur.items[i].id) != NULL;
	log_info("plan %" PRIu64 " in force (%s): %zu item(s) until %s%s", n->plan.cur.seq, how,
		 n->plan.cur.n, fmt_time(h, sizeof(h), n->plan.cur.horizon),
		 old ? "" : ", no plan before");
	if (old)
		log_info("plan %" PRIu64 " replaces plan %" PRIu64, n->plan.cur.seq, old);
	fetch_missing(n);
	status_dirty(n);
	plan_tick(n);
}

/*
 * Check the signature of a stored plan again: a scratch verifier with the
 * node's keys and site but no sequence state, with "now" at the plan's own
 * issue time (whether it is still useful is the horizon's business).
 */
static int reverify(struct node *n, const uint8_t *buf, size_t len, struct envelope *env)
{
	struct verifier *v = malloc(sizeof(*v));
	enum envelope_result r;
	int64_t issued = 0;
	int k, i;

	if (!v)
		return -ENOMEM;
	*v = n->ver;
	v->state_path[0] = '\0';
	for (k = 0; k < v->nkeys; k++)
		v->keys[k].seq[ENV_PLAN] = 0;
	if (len >= ENVELOPE_OVERHEAD)
		for (i = 0; i < 8; i++)
			issued = (int64_t)(((uint64_t)issued << 8) | buf[40 + i]);
	r = envelope_open(v, buf, len, issued, env);
	free(v);
	if (r != ENV_OK) {
		log_warnx("the saved plan %s does not verify (%s): not used", n->plan.path,
			  envelope_result_str(r));
		return -EBADMSG;
	}
	if (env->type != ENV_PLAN) {
		log_warnx("the saved plan %s is not a plan message: not used", n->plan.path);
		return -EBADMSG;
	}
	return 0;
}

int plan_init(struct node *n)
{
	struct node_plan *p = &n->plan;
	struct envelope env;
	struct plan plan;
	uint8_t *buf = NULL;
	size_t len = 0;
	char why[400], h[32];
	int rc;

	memset(p, 0, sizeof(*p));
	if ((size_t)snprintf(p->path, sizeof(p->path), "%s/plan.env", n->cfg.state_dir) >=
		    sizeof(p->path) ||
	    (size_t)snprintf(p->done_path, sizeof(p->done_path), "%s/played",
			     n->cfg.state_dir) >= sizeof(p->done_path))
		return -ENAMETOOLONG;
	done_load(n);
	rc = read_file(p->path, n->cfg.max_message_bytes, &buf, &len);
	if (rc == -ENOENT) {
		log_info("no saved plan: waiting for the controller's");
		return 0;
	}
	if (rc < 0) {
		log_warnx("cannot read the saved plan %s: %s", p->path, strerror(-rc));
		return 0;
	}
	if (reverify(n, buf, len, &env) < 0)
		goto out;
	if (plan_parse(env.body, env.body_len, n->cfg.node, &plan, why, sizeof(why)) < 0) {
		log_warnx("the saved plan %s is not valid (%s): not used", p->path, why);
		goto out;
	}
	plan.seq = env.seq;
	if (plan.horizon <= clock_now_ms(&n->clock)) {
		log_info("the saved plan %" PRIu64 " ended at %s: nothing scheduled until the "
			 "controller sends a new one", plan.seq, fmt_time(h, sizeof(h),
									  plan.horizon));
		/* still in force for its sequence (a redelivery is a duplicate) */
	}
	install(n, &plan, "saved on disk, signature checked");
	done_prune(n, clock_now_ms(&n->clock));
out:
	free(buf);
	return 0;
}

void plan_free(struct node *n)
{
	plan_clear(&n->plan.cur);
	free(n->plan.done);
	n->plan.done = NULL;
	n->plan.ndone = n->plan.done_cap = 0;
	n->plan.have = 0;
}

void plan_on_envelope(struct node *n, const char *topic, const uint8_t *raw, size_t len,
		      const struct envelope *env)
{
	struct plan plan;
	char why[400];
	int rc;

	if (n->plan.have && env->seq == n->plan.cur.seq) {
		log_debug("plan %" PRIu64 " on %s is the one in force", env->seq, topic);
		return;
	}
	rc = plan_parse(env->body, env->body_len, n->cfg.node, &plan, why, sizeof(why));
	if (rc < 0) {
		n->plan.refused++;
		if (rc == -EXDEV)
			n->rejected_target++;
		else
			n->rejected_body++;
		if (n->plan.have)
			log_warnx("rejected message on %s: plan %" PRIu64 " refused: %s (plan %"
				  PRIu64 " stays in force)", topic, env->seq, why,
				  n->plan.cur.seq);
		else
			log_warnx("rejected message on %s: plan %" PRIu64 " refused: %s (no plan "
				  "in force)", topic, env->seq, why);
		status_error(n, "plan %" PRIu64 " refused: %s", env->seq, why);
		return;
	}
	plan.seq = env->seq;
	if (plan.revokes_me) {
		/* the controller lists this node as revoked: stop, like the trust document says */
		log_warnx("plan %" PRIu64 " lists this node as REVOKED: it stops playing and "
			  "refuses every command from now on", plan.seq);
		n->keys.revoked_self = 1;
		queue_shutdown(n, "node revoked");
		playout_stop(&n->po);
		status_dirty(n);
		plan_clear(&plan);
		return;
	}
	rc = write_file_atomic(n->plan.path, raw, len, 0640);
	if (rc < 0)
		log_warnx("cannot save plan %" PRIu64 " to %s: %s (it is used, but a restart "
			  "without a link would go back to the previous one)", plan.seq,
			  n->plan.path, strerror(-rc));
	{
		struct event_info ev = { .start_ms = -1, .duration_ms = -1, .reason = "",
					 .plan_seq = plan.seq, .items = plan.n };

		events_emit(n, "plan_received", &ev);
	}
	install(n, &plan, "received");
}

/* ---------------------------------------------------------------- handing items over */

/* The longest handoff any item can have (warm-up at its maximum). */
#define PLAN_MAX_HANDOFF_MS(n)                                                        \
	((int64_t)PLAN_MAX_WARMUP_S * 1000 + QUEUE_WARM_UP_MS + QUEUE_START_LEAD_MS + \
	 (int64_t)(n)->cfg.alsa.buffer_ms + 5000 + PLAN_HANDOFF_MS)

static int64_t handoff_ms(const struct node *n, const struct plan_item *it)
{
	int warm = it->warmup_s >= 0 ? it->warmup_s : n->cfg.amp.warmup_s;
	int64_t t = (int64_t)warm * 1000 + QUEUE_WARM_UP_MS + QUEUE_START_LEAD_MS +
		    n->cfg.alsa.buffer_ms + 5000;

	return t > PLAN_HANDOFF_MS ? t : PLAN_HANDOFF_MS;
}

static void expired_unplayed(struct node *n, const struct plan_item *it)
{
	char h[32];
	struct event_info ev = {
		.content = it->content[0] ? it->content : NULL,
		.start_ms = -1,
		.duration_ms = -1,
		.reason = "expired",
		.title = it->title,
		.level = play_level_name(it->level),
		.occurrence = it->id,
		.plan_seq = n->plan.cur.seq,
		.scheduled_ms = it->at,
		.error_ms = clock_error_ms(&n->clock),
		.end = "failed",
	};

	log_warnx("occurrence %s (at %s) was not played: its time passed (until %s) while "
		  "the node could not play it", it->id, fmt_time(h, sizeof(h), it->at),
		  fmt_time(h, sizeof(h), it->expires));
	events_emit(n, "play_failed", &ev);
	plan_mark_done(n, it->id, it->at);
}

static void hand_over(struct node *n, const struct plan_item *it)
{
	struct play_item p;

	memset(&p, 0, sizeof(p));
	snprintf(p.broadcast, sizeof(p.broadcast), "%s", it->id);
	memcpy(p.content, it->content, sizeof(p.content));
	memcpy(p.chime, it->chime, sizeof(p.chime));
	memcpy(p.title, it->title, sizeof(p.title));
	p.bytes = it->bytes;
	p.chime_bytes = it->chime_bytes;
	p.duration_ms = it->duration_ms;
	p.at = it->at;
	p.expires = it->expires;
	p.level = it->level;
	p.volume = it->volume;
	p.warmup_s = it->warmup_s;
	p.from_plan = 1;
	p.plan_seq = n->plan.cur.seq;
	queue_add(n, &p);
}

void plan_tick(struct node *n)
{
	struct node_plan *p = &n->plan;
	int64_t now = clock_now_ms(&n->clock);
	size_t i;

	/* a revoked node plays nothing, not even the plan it had (keys.h) */
	if (!p->have || n->stopping || n->keys.revoked_self)
		return;
	for (i = 0; i < p->cur.n; i++) {
		const struct plan_item *it = &p->cur.items[i];

		if (it->at - now > PLAN_MAX_HANDOFF_MS(n))
			break; /* sorted by time: the rest is later */
		if (it->at - now > handoff_ms(n, it) || it->done ||
		    queue_has_occurrence(n, it->id))
			continue;
		if (now >= it->expires) {
			expired_unplayed(n, it);
			continue;
		}
		if (it->source[0]) {
			if (p->relay_start && p->relay_start(n, it) == 0)
				plan_mark_done(n, it->id, it->at);
			continue;
		}
		hand_over(n, it);
	}
}

int64_t plan_next_deadline(const struct node *n)
{
	const struct node_plan *p = &n->plan;
	int64_t now = clock_now_ms(&n->clock), mono = mono_ms(), t = INT64_MAX;
	size_t i;

	if (!p->have || n->keys.revoked_self)
		return INT64_MAX;
	for (i = 0; i < p->cur.n; i++) {
		const struct plan_item *it = &p->cur.items[i];
		int64_t d;

		if (it->done || queue_has_occurrence(n, it->id) ||
		    (it->source[0] && !p->relay_start))
			continue;
		d = it->at - handoff_ms(n, it);
		if (it->at - PLAN_MAX_HANDOFF_MS(n) - now > t - mono)
			break; /* sorted by time: nothing later can be due sooner */
		d = it->at - handoff_ms(n, it);
		if (d < now)
			d = now; /* due now (hand over, or expire) */
		if (mono + (d - now) < t)
			t = mono + (d - now);
	}
	return t;
}

/* ---------------------------------------------------------------- status */

static int item_ready(const struct node *n, const struct plan_item *it)
{
	if (!it->content[0])
		return 1; /* a relay source has nothing to fetch */
	return cache_has(&n->cache, it->content) && (!it->chime[0] ||
						     cache_has(&n->cache, it->chime));
}

void plan_status(struct node *n, json_t *status)
{
	const struct node_plan *p = &n->plan;
	int64_t now = clock_now_ms(&n->clock);
	json_t *up = json_array(), *next = json_null();
	size_t i, count = 0;

	for (i = 0; p->have && i < p->cur.n; i++) {
		const struct plan_item *it = &p->cur.items[i];

		if (!item_pending(n, it, now) || it->at > now + PLAN_UPCOMING_MS)
			continue;
		if (json_is_null(next)) {
			next = json_pack("{s:s, s:I, s:b}", "id", it->id, "at", (json_int_t)it->at,
					 "ready", item_ready(n, it));
		}
		if (count < PLAN_UPCOMING_MAX) {
			json_t *o = json_pack("{s:s, s:I, s:b, s:s, s:s}", "id", it->id, "at",
					      (json_int_t)it->at, "ready", item_ready(n, it),
					      "content", it->content, "level",
					      play_level_name(it->level));

			if (o && it->chime[0])
				json_object_set_new(o, "chime", json_string(it->chime));
			json_array_append_new(up, o);
			count++;
		}
	}
	if (json_is_null(next)) {
		/* nothing in 24 h: still say what comes next */
		for (i = 0; p->have && i < p->cur.n; i++) {
			const struct plan_item *it = &p->cur.items[i];

			if (item_pending(n, it, now)) {
				next = json_pack("{s:s, s:I, s:b}", "id", it->id, "at",
						 (json_int_t)it->at, "ready", item_ready(n, it));
				break;
			}
		}
	}
	json_object_set_new(status, "plan",
			    json_pack("{s:I, s:I, s:I, s:o}", "seq",
				      (json_int_t)(p->have ? p->cur.seq : 0), "items",
				      (json_int_t)(p->have ? p->cur.n : 0), "horizon",
				      (json_int_t)(p->have ? p->cur.horizon : 0), "next",
				      next ? next : json_null()));
	json_object_set_new(status, "upcoming", up);
}

/* ---- the event loop (loop.h): main.c registers this module ---- */

static void loop_tick(struct loop *l, int64_t mono, void *arg)
{
	(void)l;
	(void)mono;
	plan_tick(arg);
}

static int64_t loop_deadline(void *arg)
{
	return plan_next_deadline(arg);
}

/* The signed plan (retained) (the subscription table, mqtt.h). */
static void on_msg(struct node *n, const struct node_msg *m)
{
	plan_on_envelope(n, m->topic, m->payload, m->len, m->env);
}

/* This module's part of the status (status.h). */
static void status_part(struct node *n, json_t *status)
{
	plan_status(n, status);
}

int plan_register(struct loop *l, struct node *n)
{
	int rc = node_mqtt_subscribe(n, LEAF_PLAN, NODE_SUB_SELF, NODE_CONN_CTL, 1, on_msg);

	if (rc >= 0)
		rc = status_provider_add(n, status_part);
	if (rc < 0)
		return rc;
	rc = loop_tick_add(l, "plan", loop_tick, loop_deadline, n);
	return rc < 0 ? rc : 0;
}
