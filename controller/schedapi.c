/*
 * schedapi.c - the schedule's HTTP endpoints; see schedapi.h (what it owns
 * and what it must not do).
 */
#include "schedapi.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "ctl.h"
#include "ctlutil.h"
#include "log.h"
#include "schedjobs.h"
#include "scheduler.h"
#include "schedstore.h"
#include "util.h"

/* ------------------------------------------------------------ list */

struct list_ctx {
	struct ctl *c;
	const struct sched_node_info *node;
	json_t *rows;
	int64_t now;
};

static int list_occ(void *arg, const struct sched_occ *occ)
{
	struct list_ctx *l = arg;
	const struct sched_item *it = occ->item;
	json_t *row, *play;
	char local[32];
	const char *state = "planned";

	sched_fmt_local(local, sizeof(local), occ->at);
	play = ctl_schedstore_play_get(l->c, occ->id, l->node->id);
	if (play)
		state = json_string_value(json_object_get(play, "result"));
	else if (ctl_sched_is_cancelled(l->c, occ->id))
		state = "cancelled";
	else if (occ->expires < l->now)
		state = "missed";
	row = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:s, s:i}",
			"occurrence", occ->id, "item", it->id, "title", it->title,
			"node", l->node->id, "at", (json_int_t)occ->at, "local", local,
			"duration_ms", (json_int_t)(it->duration_ms + it->chime_ms),
			"level", sched_level_name(it->level), "content", it->content,
			"state", state ? state : "?", "volume", it->volume);
	if (row && play) {
		json_object_set(row, "start", json_object_get(play, "start"));
		json_object_set(row, "reason", json_object_get(play, "reason"));
	}
	json_decref(play);
	if (row)
		json_array_append_new(l->rows, row);
	return 0;
}

static int row_cmp(const void *pa, const void *pb)
{
	json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	json_int_t x = json_integer_value(json_object_get(a, "at"));
	json_int_t y = json_integer_value(json_object_get(b, "at"));
	int r;

	if (x != y)
		return x < y ? -1 : 1;
	r = strcmp(json_string_value(json_object_get(a, "node")),
		   json_string_value(json_object_get(b, "node")));
	return r ? r : strcmp(json_string_value(json_object_get(a, "occurrence")),
			      json_string_value(json_object_get(b, "occurrence")));
}

static json_t *sorted_rows(json_t *rows)
{
	size_t i, n = json_array_size(rows);
	json_t **v = calloc(n ? n : 1, sizeof(*v)), *out = json_array();

	if (!v || !out) {
		free(v);
		json_decref(out);
		return rows;
	}
	for (i = 0; i < n; i++)
		v[i] = json_array_get(rows, i);
	qsort(v, n, sizeof(*v), row_cmp);
	for (i = 0; i < n; i++)
		json_array_append(out, v[i]);
	free(v);
	json_decref(rows);
	return out;
}

static int node_in_zone(const struct sched_node_info *n, const char *zone)
{
	size_t i;

	if (strcmp(zone, "all") == 0)
		return 1;
	for (i = 0; i < n->nzones; i++)
		if (strcmp(n->zones[i], zone) == 0)
			return 1;
	return 0;
}

/*
 * Zone scope of the reads (docs/security.md "Zone scope"): who, when it
 * does not have every zone; a node is listed when one of its zones is in
 * scope, like GET /v1/nodes.
 */
static const struct ctl_principal *scoped(const struct ctl_sched_http *h)
{
	return h->who && !h->who->all_zones ? h->who : NULL;
}

static int node_listed(struct ctl *c, const struct ctl_principal *who, const char *node)
{
	return !who || ctl_auth_node_visible(&c->db, who, node);
}

static void scope_refused(const struct ctl_principal *who, const char *what,
			  unsigned *status, json_t **reply)
{
	char scope[256], msg[512];

	ctl_auth_scope_text(who, scope, sizeof(scope));
	snprintf(msg, sizeof(msg), "%s may see only zones %s, not %s", who->user, scope, what);
	*status = 403;
	*reply = json_pack("{s:s}", "error", msg);
}

static void http_list(struct ctl *c, const struct ctl_sched_http *h, unsigned *status,
		      json_t **reply)
{
	const struct ctl_principal *who = scoped(h);
	char what[CTL_NAME_MAX + 64];
	const char *date = h->arg(h->arg_ctx, "date"), *days_s = h->arg(h->arg_ctx, "days");
	const char *fnode = h->arg(h->arg_ctx, "node"), *fzone = h->arg(h->arg_ctx, "zone");
	struct sched_node_info *nodes = NULL;
	struct sched_date d;
	struct list_ctx l;
	int64_t from, to;
	size_t i, j, n = 0;
	long days = 1;
	char *end;

	if (date) {
		if (sched_parse_date(date, &d) < 0) {
			*status = 400;
			*reply = json_pack("{s:s}", "error", "date must be YYYY-MM-DD");
			return;
		}
	} else {
		d = sched_local_date(now_ms());
	}
	if (days_s) {
		days = strtol(days_s, &end, 10);
		if (*end || days < 1 || days > 62) {
			*status = 400;
			*reply = json_pack("{s:s}", "error", "days must be from 1 to 62");
			return;
		}
	}
	if ((fnode && !name_valid(fnode)) || (fzone && !name_valid(fzone))) {
		*status = 400;
		*reply = json_pack("{s:s}", "error", "node and zone must be names");
		return;
	}
	/* another zone's node or zone: say so rather than list nothing */
	if (who && fnode && !node_listed(c, who, fnode)) {
		snprintf(what, sizeof(what), "node %s (it is in none of them)", fnode);
		scope_refused(who, what, status, reply);
		return;
	}
	if (who && fzone && !ctl_auth_zone_allowed(who, fzone)) {
		snprintf(what, sizeof(what), "zone %s", fzone);
		scope_refused(who, what, status, reply);
		return;
	}
	from = sched_local_ms(d, 0);
	to = sched_local_ms(sched_date_from_days(sched_days_from_date(d) + days), 0);
	memset(&l, 0, sizeof(l));
	l.c = c;
	l.rows = json_array();
	l.now = now_ms();
	if (ctl_schedstore_nodes(c, &nodes, &n) < 0) {
		*status = 500;
		*reply = json_pack("{s:s}", "error", "the controller's database failed");
		json_decref(l.rows);
		return;
	}
	for (i = 0; i < n; i++) {
		if (fnode && strcmp(fnode, nodes[i].id))
			continue;
		if (fzone && !node_in_zone(&nodes[i], fzone))
			continue;
		if (!node_listed(c, who, nodes[i].id))
			continue;
		l.node = &nodes[i];
		for (j = 0; j < c->sched->items.n; j++)
			if (sched_item_targets(&c->sched->items.items[j], &nodes[i]))
				sched_expand(&c->sched->items.items[j], from, to, list_occ, &l);
	}
	/*
	 * Plays the nodes reported whose item is gone from the schedule (or
	 * changed time) are history all the same: listed from what was stored.
	 */
	{
		json_t *seen = json_object(), *row, *plays = NULL, *r;
		char key[SCHED_OCC_ID_MAX + SCHED_NAME_MAX + 2];
		size_t k;

		json_array_foreach(l.rows, i, row) {
			snprintf(key, sizeof(key), "%s|%s",
				 json_string_value(json_object_get(row, "occurrence")),
				 json_string_value(json_object_get(row, "node")));
			json_object_set_new(seen, key, json_true());
		}
		if (seen)
			plays = ctl_schedstore_plays_between(c, from, to);
		json_array_foreach(plays, k, r) {
			const char *occ = json_string_value(json_array_get(r, 0));
			const char *node = json_string_value(json_array_get(r, 1));
			char local[32];
			int keep = 1;

			snprintf(key, sizeof(key), "%s|%s", occ, node);
			if (json_object_get(seen, key) || (fnode && strcmp(fnode, node)) ||
			    !node_listed(c, who, node))
				continue;
			if (fzone) {
				keep = 0;
				for (j = 0; nodes && j < n; j++)
					if (strcmp(nodes[j].id, node) == 0 &&
					    node_in_zone(&nodes[j], fzone))
						keep = 1;
			}
			if (!keep)
				continue;
			sched_fmt_local(local, sizeof(local),
					json_integer_value(json_array_get(r, 3)));
			row = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:s, "
					"s:I, s:s}", "occurrence", occ, "item", "", "title",
					"(no longer in the schedule)", "node", node,
					"at", json_integer_value(json_array_get(r, 3)),
					"local", local,
					"duration_ms", json_integer_value(json_array_get(r, 5)),
					"level", "", "content", "",
					"state", json_string_value(json_array_get(r, 2)),
					"start", json_integer_value(json_array_get(r, 4)),
					"reason", json_string_value(json_array_get(r, 6)));
			if (row)
				json_array_append_new(l.rows, row);
		}
		json_decref(plays);
		json_decref(seen);
	}
	free(nodes);
	*status = 200;
	*reply = json_pack("{s:o, s:s, s:I, s:I}", "occurrences", sorted_rows(l.rows),
			   "timezone", c->cfg.sched.timezone, "from", (json_int_t)from,
			   "to", (json_int_t)to);
}

/* ------------------------------------------------------------ readiness */

struct ready_ctx {
	struct ctl *c;
	const struct sched_node_info *node;
	json_t *status;               /* the node's last status (may be NULL) */
	int online;
	int64_t last_seen;
	uint64_t plan_seq;            /* ours; 0: none */
	json_t *rows;
	int64_t now;
	int total;
};

static int ready_occ(void *arg, const struct sched_occ *occ)
{
	struct ready_ctx *r = arg;
	const struct sched_item *it = occ->item;
	json_t *reasons = json_array(), *plan, *ack, *up, *e, *row, *play;
	char local[32], buf[256], path[PATH_MAX];
	size_t i;
	int found = 0;

	if (occ->expires < r->now || ctl_sched_is_cancelled(r->c, occ->id))
		goto out;
	play = ctl_schedstore_play_get(r->c, occ->id, r->node->id);
	if (play) {
		json_decref(play);
		goto out;
	}
	r->total++;
	if (!r->online) {
		sched_fmt_local(local, sizeof(local), r->last_seen);
		snprintf(buf, sizeof(buf), "offline since %s", r->last_seen ? local : "ever");
		json_array_append_new(reasons, json_string(buf));
	}
	plan = json_object_get(r->status, "plan");
	ack = json_object_get(plan, "seq");
	if (!r->plan_seq)
		json_array_append_new(reasons, json_string("no plan made for it yet"));
	else if (!json_is_integer(ack))
		json_array_append_new(reasons, json_string("plan not acknowledged (the node "
							   "reports no plan)"));
	else if ((uint64_t)json_integer_value(ack) < r->plan_seq) {
		snprintf(buf, sizeof(buf), "plan not acknowledged (the node has plan %" PRId64
			 ", the current one is %" PRIu64 ")", (int64_t)json_integer_value(ack),
			 r->plan_seq);
		json_array_append_new(reasons, json_string(buf));
	} else {
		up = json_object_get(r->status, "upcoming");
		json_array_foreach(up, i, e) {
			const char *id = json_string_value(json_object_get(e, "id"));

			if (id && strcmp(id, occ->id) == 0) {
				found = 1;
				if (!json_is_true(json_object_get(e, "ready")))
					json_array_append_new(reasons,
							      json_string("content missing on the "
									  "node (not fetched yet)"));
			}
		}
		if (!found && json_is_array(up) && json_array_size(up) < 50)
			json_array_append_new(reasons, json_string("not in the node's list of "
								   "upcoming plays"));
	}
	if (it->src != SCHED_SRC_RELAY &&
	    (ctl_content_path(r->c, it->content, path, sizeof(path)) < 0 ||
	     access(path, R_OK) < 0))
		json_array_append_new(reasons, json_string("content missing on the "
							   "controller"));
	if (json_array_size(reasons) == 0)
		goto out;
	sched_fmt_local(local, sizeof(local), occ->at);
	row = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:O}", "occurrence", occ->id,
			"item", it->id, "title", it->title, "node", r->node->id,
			"at", (json_int_t)occ->at, "local", local, "reasons", reasons);
	if (row)
		json_array_append_new(r->rows, row);
out:
	json_decref(reasons);
	return 0;
}

static void http_readiness(struct ctl *c, const struct ctl_sched_http *h, unsigned *status,
			   json_t **reply)
{
	const struct ctl_principal *who = scoped(h);
	struct sched_node_info *nodes = NULL;
	struct ready_ctx r;
	struct ctl_stored_plan p;
	json_t *states = json_object(), *state;
	size_t i, j, n = 0;

	memset(&r, 0, sizeof(r));
	r.c = c;
	r.rows = json_array();
	r.now = now_ms();
	if (!states || ctl_schedstore_nodes(c, &nodes, &n) < 0 ||
	    ctl_schedstore_node_states(c, states) < 0) {
		free(nodes);
		json_decref(states);
		json_decref(r.rows);
		*status = 500;
		*reply = json_pack("{s:s}", "error", "the controller's database failed");
		return;
	}
	for (i = 0; i < n; i++) {
		const char *text;

		if (!node_listed(c, who, nodes[i].id))
			continue; /* another village's: neither listed nor counted */
		state = json_object_get(states, nodes[i].id);
		r.status = NULL;
		r.online = 0;
		r.last_seen = 0;
		if (state) {
			r.online = (int)json_integer_value(json_array_get(state, 0));
			r.last_seen = json_integer_value(json_array_get(state, 1));
			text = json_string_value(json_array_get(state, 2));
			r.status = text ? json_loads(text, 0, NULL) : NULL;
		}
		r.plan_seq = ctl_schedstore_plan_get(c, nodes[i].id, &p) == 0 && p.found ? p.seq
			: 0;
		r.node = &nodes[i];
		for (j = 0; j < c->sched->items.n; j++)
			if (sched_item_targets(&c->sched->items.items[j], &nodes[i]))
				sched_expand(&c->sched->items.items[j], r.now, r.now + CTL_SCHED_MS_PER_DAY,
					     ready_occ, &r);
		json_decref(r.status);
	}
	json_decref(states);
	free(nodes);
	*status = 200;
	*reply = json_pack("{s:o, s:i, s:I}", "missing", sorted_rows(r.rows), "planned",
			   r.total, "until", (json_int_t)(r.now + CTL_SCHED_MS_PER_DAY));
}

/* ------------------------------------------------------------ announce, cancel */

static int http_announce(struct ctl *c, const struct ctl_sched_http *h, unsigned *status,
			 json_t **reply)
{
	char err[256], at_s[32] = "", level[16] = "normal", tmp[SCHED_NAME_MAX];
	json_t *o = ctl_json_object(h->body, h->body_len, err, sizeof(err));
	struct sched_item it;
	int64_t at = 0, n, now = now_ms();
	int targets = 0, all = 0, confirmed = 0;

	sched_item_init(&it);
	*status = 400;
	if (!o)
		goto bad;
	snprintf(it.file, sizeof(it.file), "announce");
	if (ctl_json_str(o, "at", CTL_REQUIRED, at_s, sizeof(at_s), err, sizeof(err)) < 0)
		goto bad;
	if (sched_parse_local(at_s, &at) < 0) {
		snprintf(err, sizeof(err), "field \"at\" (loaxa announce --at): \"%s\" is not a "
			 "local date and time: write it as \"YYYY-MM-DD HH:MM\" or "
			 "\"YYYY-MM-DD HH:MM:SS\", e.g. \"2026-12-08 17:30\"", at_s);
		goto bad;
	}
	if (at < now - 60000 || at > now + 366 * CTL_SCHED_MS_PER_DAY) {
		snprintf(err, sizeof(err), "field \"at\" (loaxa announce --at): %s is %s: give "
			 "a time from now to a year ahead (the site's local time)", at_s,
			 at < now - 60000 ? "in the past" : "more than a year ahead");
		goto bad;
	}
	it.from = sched_local_date(at);
	it.until = it.from;
	it.times[0] = sched_parse_tod(at_s + 11);
	it.ntimes = 1;
	if (ctl_json_str(o, "content", CTL_OPTIONAL, it.source, sizeof(it.source), err,
			 sizeof(err)) == 0) {
		if (!content_id_valid(it.source)) {
			snprintf(err, sizeof(err), "field \"content\" must be a content id");
			goto bad;
		}
		it.src = SCHED_SRC_CONTENT;
	} else {
		json_t *t = json_object_get(o, "text");
		const char *text = json_string_value(t);

		if (!text || !text[0] || strlen(text) > 4000 ||
		    !ctl_text_valid(text, strlen(text))) {
			snprintf(err, sizeof(err), "give \"content\" (a content id) or \"text\" "
				 "(1 to 4000 bytes): loaxa announce --text needs the words to "
				 "speak, one to 4000 bytes of plain text");
			goto bad;
		}
		it.src = SCHED_SRC_TEXT;
		it.text = strdup(text);
		if (!it.text)
			goto bad;
	}
	if (ctl_json_str(o, "title", CTL_OPTIONAL, it.title, sizeof(it.title), err,
			 sizeof(err)) < 0)
		goto bad;
	/* was a bare "bad request": say which field and what to do */
	if (!ctl_text_valid(it.title, strlen(it.title))) {
		snprintf(err, sizeof(err), "field \"title\" (loaxa announce --title) holds a "
			 "control character (a tab, a line break, a zero byte...): write the "
			 "title as one line of plain text");
		goto bad;
	}
	if (ctl_json_str(o, "zone", CTL_OPTIONAL, tmp, sizeof(tmp), err, sizeof(err)) == 0) {
		if (!name_valid(tmp)) {
			snprintf(err, sizeof(err), "field \"zone\" is not a zone name");
			goto bad;
		}
		if (strcmp(tmp, "all") == 0)
			it.all = 1;
		else
			snprintf(it.zones[it.nzones++], SCHED_NAME_MAX, "%s", tmp);
		targets++;
	}
	if (ctl_json_str(o, "node", CTL_OPTIONAL, tmp, sizeof(tmp), err, sizeof(err)) == 0) {
		if (!name_valid(tmp)) {
			snprintf(err, sizeof(err), "field \"node\" is not a node id");
			goto bad;
		}
		snprintf(it.nodes[it.nnodes++], SCHED_NAME_MAX, "%s", tmp);
		targets++;
	}
	if (ctl_json_bool(o, "all", CTL_OPTIONAL, &all, err, sizeof(err)) == 0 && all) {
		it.all = 1;
		targets++;
	}
	if (targets != 1) {
		snprintf(err, sizeof(err), "name exactly one target: \"zone\", \"node\" or "
			 "\"all\": true");
		goto bad;
	}
	n = it.repeat;
	if (ctl_json_int(o, "repeat", CTL_OPTIONAL, 1, SCHED_MAX_REPEAT, &n, err,
			 sizeof(err)) < 0)
		goto bad;
	it.repeat = (int)n;
	n = it.gap_s;
	if (ctl_json_int(o, "gap_s", CTL_OPTIONAL, 0, 3600, &n, err, sizeof(err)) < 0)
		goto bad;
	it.gap_s = (int)n;
	n = it.volume;
	if (ctl_json_int(o, "volume", CTL_OPTIONAL, 0, 100, &n, err, sizeof(err)) < 0)
		goto bad;
	it.volume = (int)n;
	if (ctl_json_str(o, "level", CTL_OPTIONAL, level, sizeof(level), err,
			 sizeof(err)) < 0)
		goto bad;
	it.level = sched_level_parse(level);
	if (it.level < 0) {
		snprintf(err, sizeof(err), "field \"level\" must be relay, normal, priority or "
			 "emergency");
		goto bad;
	}
	if (ctl_json_bool(o, "chime", CTL_OPTIONAL, &all, err, sizeof(err)) == 0 && all)
		it.chime = SCHED_CHIME_DEFAULT;
	if (ctl_json_bool(o, "outside_hours", CTL_OPTIONAL, &confirmed, err, sizeof(err)) < 0)
		goto bad;
	ctl_sched_announce_id(c, now, it.id);
	if (!it.title[0])
		snprintf(it.title, sizeof(it.title), "%s", it.id);
	json_decref(o);
	o = NULL;
	return ctl_schedjobs_announce(c, h, &it, confirmed, status, reply);
bad:
	json_decref(o);
	sched_item_free(&it);
	*reply = json_pack("{s:s}", "error", err[0] ? err : "bad request");
	return 0;
}

/*
 * The item an occurrence id "o-<item>-<date>-<time>-<k>" belongs to (item
 * ids may hold '-': the longest id that fits wins), or NULL.
 */
static const struct sched_item *item_of_occurrence(struct ctl *c, const char *occ)
{
	const struct sched_item *best = NULL;
	size_t i, n;

	if (strncmp(occ, "o-", 2) != 0)
		return NULL;
	for (i = 0; i < c->sched->items.n; i++) {
		const struct sched_item *it = &c->sched->items.items[i];

		n = strlen(it->id);
		if (strncmp(occ + 2, it->id, n) == 0 && occ[2 + n] == '-' &&
		    (!best || n > strlen(best->id)))
			best = it;
	}
	return best;
}

/*
 * May who cancel (a play of) item? Every zone and node it plays on must be
 * within who's zones, as for scheduling it (authorize_items): an official
 * of thon-1 cannot silence thon-2's announcement. 0, or -EPERM with err.
 */
static int authorize_cancel(struct ctl *c, const struct ctl_principal *who,
			    const struct sched_item *it, char *err, size_t errlen)
{
	const char *level = sched_level_name(it->level);
	size_t j;

	if (!who || who->all_zones)
		return 0;
	if (it->all && ctl_auth_check_target(&c->db, who, NULL, NULL, 1, level, err, errlen) < 0)
		return -EPERM;
	for (j = 0; j < it->nzones; j++)
		if (ctl_auth_check_target(&c->db, who, it->zones[j], NULL, 0, level, err,
					  errlen) < 0)
			return -EPERM;
	for (j = 0; j < it->nnodes; j++)
		if (ctl_auth_check_target(&c->db, who, NULL, it->nodes[j], 0, level, err,
					  errlen) < 0)
			return -EPERM;
	return 0;
}

static void http_cancel(struct ctl *c, const struct ctl_sched_http *h, unsigned *status,
			json_t **reply)
{
	const struct sched_item *item;
	char err[256], id[SCHED_OCC_ID_MAX];
	json_t *o = ctl_json_object(h->body, h->body_len, err, sizeof(err));
	size_t i;
	int rc, kind = -1;

	*status = 400;
	if (!o || ctl_json_str(o, "id", CTL_REQUIRED, id, sizeof(id), err, sizeof(err)) < 0) {
		*reply = json_pack("{s:s}", "error", err);
		json_decref(o);
		return;
	}
	json_decref(o);
	item = item_of_occurrence(c, id);
	for (i = 0; i < c->sched->items.n; i++)
		if (strcmp(c->sched->items.items[i].id, id) == 0) {
			kind = strcmp(c->sched->items.items[i].file, "announce") == 0;
			item = &c->sched->items.items[i];
		}
	if (item && authorize_cancel(c, h->who, item, err, sizeof(err)) < 0) {
		*status = 403;
		*reply = json_pack("{s:s}", "error", err);
		return;
	}
	/* a play of no known item: nothing says whose it is */
	if (!item && kind < 0 && h->who && !h->who->all_zones) {
		*status = 404;
		*reply = json_pack("{s:s}", "error", "no announcement or planned play with "
				   "that id (see loaxa schedule list)");
		return;
	}
	if (kind == 0) {
		*reply = json_pack("{s:s}", "error", "that is an item of the schedule files: "
				   "remove it from its file and apply again, or cancel one of "
				   "its plays by its occurrence id (loaxa schedule list)");
		return;
	}
	if (kind == 1)
		rc = ctl_schedstore_announce_delete(c, id);
	else if (strncmp(id, "o-", 2) == 0)
		rc = ctl_schedstore_occurrence_cancel(c, id, now_ms());
	else {
		*status = 404;
		*reply = json_pack("{s:s}", "error", "no announcement or play with that id "
				   "(see loaxa schedule list)");
		return;
	}
	ctl_sched_cancelled_changed(c);
	if (rc == 0 && kind == 1)
		rc = ctl_sched_reload(c);
	if (rc < 0) {
		*status = 500;
		*reply = json_pack("{s:s}", "error", "the controller's database failed");
		return;
	}
	log_info("cancelled %s %s", kind == 1 ? "announcement" : "play", id);
	ctl_sched_replan(c, 0);
	*status = 200;
	*reply = json_pack("{s:s, s:s}", "cancelled", id, "kind",
			   kind == 1 ? "announcement" : "occurrence");
}

/* ------------------------------------------------------------ routing */

size_t ctl_sched_max_body(const struct ctl *c)
{
	/* JSON escaping at most doubles a text (\n, \", \\, \t); names and audio maps */
	return (size_t)c->cfg.sched.max_total_bytes * 2 + (1u << 20);
}

int ctl_sched_files_url(const char *url)
{
	return strcmp(url, "/v1/schedule/check") == 0 || strcmp(url, "/v1/schedule/apply") == 0;
}

int ctl_sched_owns_url(const char *url)
{
	return strncmp(url, "/v1/schedule", 12) == 0 || strcmp(url, "/v1/announcements") == 0 ||
	       strcmp(url, "/v1/cancel") == 0 || strcmp(url, "/v1/readiness") == 0;
}

int ctl_sched_http(struct ctl *c, const struct ctl_sched_http *h, unsigned *status,
		   json_t **reply)
{
	int get = strcmp(h->method, "GET") == 0, post = strcmp(h->method, "POST") == 0;

	*reply = NULL;
	if (!c->sched) {
		*status = 503;
		*reply = json_pack("{s:s}", "error", "the schedule is not loaded");
		return 0;
	}
	if (strcmp(h->url, "/v1/schedule") == 0 && get) {
		http_list(c, h, status, reply);
		return 0;
	}
	/* for the CLI, which refuses oversized files before sending them */
	if (strcmp(h->url, "/v1/schedule/limits") == 0 && get) {
		*status = 200;
		*reply = json_pack("{s:I, s:I, s:i, s:I}", "max_file_bytes",
				   (json_int_t)c->cfg.sched.max_file_bytes, "max_total_bytes",
				   (json_int_t)c->cfg.sched.max_total_bytes, "max_files",
				   SCHED_MAX_FILES, "max_request_bytes",
				   (json_int_t)ctl_sched_max_body(c));
		return 0;
	}
	if (strcmp(h->url, "/v1/schedule/files") == 0 && get)
		return ctl_sched_files_get(c, status, reply); /* schedfiles.c */
	if (strcmp(h->url, "/v1/schedule/check") == 0 && post)
		return ctl_schedjobs_files(c, h, JOB_CHECK, status, reply);
	if (strcmp(h->url, "/v1/schedule/apply") == 0 && post)
		return ctl_schedjobs_files(c, h, JOB_APPLY, status, reply);
	if (strcmp(h->url, "/v1/announcements") == 0 && post)
		return http_announce(c, h, status, reply);
	if (strcmp(h->url, "/v1/cancel") == 0 && post) {
		http_cancel(c, h, status, reply);
		return 0;
	}
	if (strcmp(h->url, "/v1/readiness") == 0 && get) {
		http_readiness(c, h, status, reply);
		return 0;
	}
	*status = 404;
	*reply = json_pack("{s:s}", "error", "no such API endpoint (see docs/schedules.md)");
	return 0;
}
