/*
 * nodes.c - see nodes.h.
 */
#include "nodes.h"
#include "api.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "ctl.h"
#include "ctlutil.h"
#include "emergency.h"
#include "journal.h"
#include "commands.h"
#include "log.h"
#include "mqtt.h"
#include "scheduler.h"
#include "util.h"

/*
 * Event types: any lowercase word (play_*, content_*, node_started, cmd_done,
 * events_dropped, plan_received, emergency_* ...). Types added by a newer
 * node are stored and acknowledged like the others: refusing them would make
 * the node resend them forever.
 */
static int event_type_valid(const char *s)
{
	size_t i;

	if (!s[0])
		return 0;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
			return 0;
	return 1;
}

/* Optional string field with control characters blanked; "" when absent. */
static int opt_text(json_t *o, const char *key, char *out, size_t outlen, char *err,
		    size_t errlen)
{
	json_t *v = json_object_get(o, key);
	size_t n, i;

	out[0] = '\0';
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		snprintf(err, errlen, "field \"%s\" must be a string, not %s", key,
			 ctl_json_kind(v));
		return -EINVAL;
	}
	n = strlen(json_string_value(v));
	if (n >= outlen) {
		n = outlen - 1;
		while (n > 0 && ((unsigned char)json_string_value(v)[n] & 0xc0) == 0x80)
			n--; /* cut at a character boundary */
	}
	memcpy(out, json_string_value(v), n);
	out[n] = '\0';
	for (i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
	return 0;
}

/* Event ids are chosen by nodes ("n1-7-12"): keep them to safe characters. */
static int event_id_valid(const char *s)
{
	return token_valid(s, SIZE_MAX);
}

static int check_node_field(json_t *o, const char *node, char *err, size_t errlen)
{
	char body_node[CTL_NAME_MAX];
	char safe[CTL_NAME_MAX];

	if (ctl_json_str(o, "node", CTL_REQUIRED, body_node, sizeof(body_node), err,
			 errlen) < 0)
		return -EINVAL;
	if (strcmp(body_node, node) != 0) {
		snprintf(err, errlen, "field \"node\" says \"%s\" but the topic is that of "
			 "node \"%s\"", ctl_printable(safe, sizeof(safe), body_node), node);
		return -EINVAL;
	}
	return 0;
}

int ctl_parse_status(const char *node, const char *site, const void *payload,
		     size_t len, struct ctl_status *st, char **json_out,
		     char *err, size_t errlen)
{
	json_t *o, *zones, *v;
	char body_site[CTL_NAME_MAX], safe[CTL_NAME_MAX];
	size_t i;
	int rc = -EINVAL;

	memset(st, 0, sizeof(*st));
	st->ts = -1;
	if (json_out)
		*json_out = NULL;
	o = ctl_json_object(payload, len, err, errlen);
	if (!o)
		return -EINVAL;
	if (check_node_field(o, node, err, errlen) < 0)
		goto out;
	snprintf(st->node, sizeof(st->node), "%s", node);
	if (ctl_json_bool(o, "online", CTL_REQUIRED, &st->online, err, errlen) < 0)
		goto out;
	if (ctl_json_int(o, "boot", CTL_REQUIRED, 0, CTL_JSON_INT_MAX, &st->boot, err,
			 errlen) < 0)
		goto out;
	if (ctl_json_int(o, "ts", CTL_OPTIONAL, 0, CTL_JSON_INT_MAX, &st->ts, err,
			 errlen) < 0)
		goto out;
	if (!st->online) {
		rc = 0;
		goto out;
	}
	switch (ctl_json_str(o, "site", CTL_OPTIONAL, body_site, sizeof(body_site), err,
			     errlen)) {
	case 0:
		if (site && strcmp(body_site, site) != 0) {
			snprintf(err, errlen, "field \"site\" says \"%s\" but this controller "
				 "runs site \"%s\"",
				 ctl_printable(safe, sizeof(safe), body_site), site);
			goto out;
		}
		break;
	case 1:
		break;
	default:
		goto out;
	}
	if (ctl_json_str(o, "version", CTL_OPTIONAL, st->version, sizeof(st->version),
			 err, errlen) < 0)
		goto out;
	if (!ctl_text_valid(st->version, strlen(st->version))) {
		snprintf(err, errlen, "field \"version\" contains control characters");
		goto out;
	}
	zones = json_object_get(o, "zones");
	if (!zones) {
		snprintf(err, errlen, "field \"zones\" is missing");
		goto out;
	}
	if (!json_is_array(zones)) {
		snprintf(err, errlen, "field \"zones\" must be a list of zone names, not %s",
			 ctl_json_kind(zones));
		goto out;
	}
	if (json_array_size(zones) > CTL_MAX_ZONES) {
		snprintf(err, errlen, "field \"zones\" has %zu entries, at most %d allowed",
			 json_array_size(zones), CTL_MAX_ZONES);
		goto out;
	}
	json_array_foreach(zones, i, v) {
		const char *z = json_string_value(v);

		if (!json_is_string(v) || json_string_length(v) >= CTL_NAME_MAX ||
		    !name_valid(z)) {
			snprintf(err, errlen, "field \"zones\": entry %zu is not a zone name "
				 "(1-31 of a-z, 0-9, '-', '_')", i + 1);
			goto out;
		}
		snprintf(st->zones[st->nzones++], CTL_NAME_MAX, "%s", z);
	}
	v = json_object_get(o, "playing");
	if (v && !json_is_null(v) && !json_is_object(v)) {
		snprintf(err, errlen, "field \"playing\" must be an object or null, not %s",
			 ctl_json_kind(v));
		goto out;
	}
	rc = 0;
out:
	if (rc == 0 && json_out) {
		*json_out = json_dumps(o, JSON_COMPACT);
		if (!*json_out) {
			snprintf(err, errlen, "out of memory");
			rc = -ENOMEM;
		}
	}
	json_decref(o);
	return rc;
}

/* The proof-of-play fields of plan items (docs/protocol.md, "Events"). */
static int parse_proof(json_t *o, struct ctl_event *ev, char *err, size_t errlen)
{
	json_t *v;

	if (opt_text(o, "level", ev->level, sizeof(ev->level), err, errlen) < 0 ||
	    opt_text(o, "title", ev->title, sizeof(ev->title), err, errlen) < 0 ||
	    opt_text(o, "occurrence", ev->occurrence, sizeof(ev->occurrence), err,
		     errlen) < 0 ||
	    opt_text(o, "end", ev->end, sizeof(ev->end), err, errlen) < 0 ||
	    opt_text(o, "preemptor", ev->preemptor, sizeof(ev->preemptor), err, errlen) < 0)
		return -EINVAL;
	if (ctl_json_int(o, "plan_seq", CTL_OPTIONAL, 0, CTL_JSON_INT_MAX, &ev->plan_seq,
			 err, errlen) < 0)
		return -EINVAL;
	if (ctl_json_int(o, "scheduled", CTL_OPTIONAL, 0, CTL_JSON_INT_MAX, &ev->scheduled,
			 err, errlen) < 0)
		return -EINVAL;
	v = json_object_get(o, "error_ms");
	if (v && !json_is_null(v)) {
		if (!json_is_number(v) || json_number_value(v) < 0 ||
		    json_number_value(v) > 1e9) {
			snprintf(err, errlen, "field \"error_ms\" must be a number of "
				 "milliseconds from 0, not %s", ctl_json_kind(v));
			return -EINVAL;
		}
		ev->error_ms = json_number_value(v);
	}
	v = json_object_get(o, "drill");
	ev->drill = v && json_is_true(v);
	return 0;
}

int ctl_parse_event(const char *node, const void *payload, size_t len,
		    struct ctl_event *ev, char *err, size_t errlen)
{
	json_t *o;
	char reason[4096];
	size_t i;
	int rc = -EINVAL, r;

	memset(ev, 0, sizeof(*ev));
	ev->boot = ev->ts = ev->start = ev->duration_ms = -1;
	ev->plan_seq = ev->scheduled = -1;
	ev->error_ms = -1.0;
	o = ctl_json_object(payload, len, err, errlen);
	if (!o)
		return -EINVAL;
	if (ctl_json_str(o, "id", CTL_REQUIRED, ev->id, sizeof(ev->id), err, errlen) < 0)
		goto out;
	if (!event_id_valid(ev->id)) {
		snprintf(err, errlen, "field \"id\" must be letters, digits and - _ . : only");
		goto out;
	}
	if (check_node_field(o, node, err, errlen) < 0)
		goto out;
	snprintf(ev->node, sizeof(ev->node), "%s", node);
	if (ctl_json_str(o, "type", CTL_REQUIRED, ev->type, sizeof(ev->type), err,
			 errlen) < 0)
		goto out;
	if (!event_type_valid(ev->type)) {
		char safe[sizeof(ev->type)];
		snprintf(err, errlen, "field \"type\": \"%s\" is not an event type (a-z and _)",
			 ctl_printable(safe, sizeof(safe), ev->type));
		goto out;
	}
	if (ctl_json_int(o, "boot", CTL_REQUIRED, 0, CTL_JSON_INT_MAX, &ev->boot, err,
			 errlen) < 0)
		goto out;
	if (ctl_json_int(o, "ts", CTL_REQUIRED, 0, CTL_JSON_INT_MAX, &ev->ts, err,
			 errlen) < 0)
		goto out;
	r = ctl_json_str(o, "broadcast", CTL_OPTIONAL, ev->broadcast,
			 sizeof(ev->broadcast), err, errlen);
	if (r < 0)
		goto out;
	if (ev->broadcast[0] && !event_id_valid(ev->broadcast)) {
		snprintf(err, errlen, "field \"broadcast\" is not a broadcast id");
		goto out;
	}
	r = ctl_json_str(o, "content", CTL_OPTIONAL, ev->content, sizeof(ev->content),
			 err, errlen);
	if (r < 0) {
		snprintf(err, errlen, "field \"content\" must be a content id (64 hex digits)");
		goto out;
	}
	if (ev->content[0] && !content_id_valid(ev->content)) {
		snprintf(err, errlen, "field \"content\" must be a content id (64 hex digits)");
		goto out;
	}
	if (ctl_json_int(o, "start", CTL_OPTIONAL, 0, CTL_JSON_INT_MAX, &ev->start, err,
			 errlen) < 0)
		goto out;
	if (ctl_json_int(o, "duration_ms", CTL_OPTIONAL, 0, CTL_JSON_INT_MAX,
			 &ev->duration_ms, err, errlen) < 0)
		goto out;
	r = ctl_json_str(o, "reason", CTL_OPTIONAL, reason, sizeof(reason), err, errlen);
	if (r < 0)
		goto out;
	if (r == 0) {
		/* Keep a long reason, cut at a character boundary. */
		size_t n = strlen(reason);

		if (n >= sizeof(ev->reason)) {
			n = sizeof(ev->reason) - 1;
			while (n > 0 && ((unsigned char)reason[n] & 0xc0) == 0x80)
				n--;
		}
		memcpy(ev->reason, reason, n);
		ev->reason[n] = '\0';
		for (i = 0; i < n; i++)
			if ((unsigned char)ev->reason[i] < 0x20)
				ev->reason[i] = ' ';
	}
	if (parse_proof(o, ev, err, errlen) < 0)
		goto out;
	ev->data = json_dumps(o, JSON_COMPACT);
	if (!ev->data) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	json_decref(o);
	return rc;
}

/*
 * Bookkeeping of the online/offline history: since (ms, 0 = unchanged) is
 * when the node's current state began (alarms count offline time from it);
 * restarts and reconnects count how it came back.
 */
static void note_transition(struct ctl *c, const char *node, int64_t since, int restart,
			    int reconnect)
{
	sqlite3_stmt *st = NULL;

	if (ctl_db_prep(&c->db, &st, "UPDATE nodes SET since = CASE WHEN ?1 > 0 THEN ?1 ELSE since END, "
			"restarts = restarts + ?2, reconnects = reconnects + ?3 "
			"WHERE id = ?4", NULL) < 0 ||
			(sqlite3_bind_int64(st, 1, since), sqlite3_bind_int(st, 2, restart),
			sqlite3_bind_int(st, 3, reconnect),
			sqlite3_bind_text(st, 4, node, -1, SQLITE_TRANSIENT),
			sqlite3_step(st) != SQLITE_DONE))
		log_errorx("%s: cannot update the history of node %s: %s", c->db.path, node,
			   sqlite3_errmsg(c->db.h));
	sqlite3_finalize(st);
}

/* A node went online or offline (or restarted): the console's live view. */
static void node_event(struct ctl *c, const char *node, int online, int64_t boot,
		       const char *why)
{
	json_t *j = json_pack("{s:s, s:b, s:I, s:s, s:I}", "node", node, "online", online,
			      "boot", (json_int_t)boot, "why", why, "ts", (json_int_t)now_ms());

	ctl_api_event(c, "node", node, j);
	json_decref(j);
}

int ctl_nodes_on_status(struct ctl *c, const char *node, const void *payload,
			size_t len, int retained)
{
	struct ctl_status st;
	struct ctl_node_row row;
	char err[256], zones[CTL_MAX_ZONES * CTL_NAME_MAX];
	char *json = NULL;
	int64_t now = now_ms(), last_seen;
	size_t i;
	int rc;

	if (len == 0) {
		log_info("ignoring an empty status of node %s (a cleared retained status): "
			 "nothing to do", node);
		return 1;
	}
	rc = ctl_parse_status(node, c->cfg.site, payload, len, &st, &json, err,
			      sizeof(err));
	if (rc < 0) {
		log_warnx("ignoring a status on %s/node/%s/status: %s", c->mqtt.root, node,
			  err);
		return rc;
	}
	rc = ctl_db_node_get(&c->db, node, &row);
	if (rc < 0)
		goto out;
	if (!st.online) {
		if (row.known && st.boot < row.boot) {
			log_info("ignoring a stale offline status (Last Will) of node %s from "
				 "boot %" PRId64 ": it is running boot %" PRId64, node, st.boot,
				 row.boot);
			rc = 1;
			goto out;
		}
		rc = ctl_db_node_set_offline(&c->db, node, st.boot);
		if (rc < 0)
			goto out;
		if (row.online || !row.known)
			note_transition(c, node, now, 0, 0);
		if (row.online || !row.known)
			node_event(c, node, 0, st.boot, "offline");
		if (row.online || !row.known)
			log_info("node %s is offline (boot %" PRId64 ")", node, st.boot);
		else
			log_debug("node %s: offline status again (boot %" PRId64 ")", node,
				  st.boot);
		goto out;
	}
	/*
	 * A live status was just sent: the node is there now. A retained one
	 * may be old (delivered when we subscribed): trust its timestamp, but
	 * never beyond our own clock, and never move last_seen backwards.
	 */
	last_seen = now;
	if (retained && st.ts >= 0) {
		last_seen = st.ts < now ? st.ts : now;
		if (row.known && row.last_seen > last_seen)
			last_seen = row.last_seen < now ? row.last_seen : now;
	}
	zones[0] = '\0';
	for (i = 0; i < st.nzones; i++) {
		strcat(zones, i ? ", " : "");
		strcat(zones, st.zones[i]);
	}
	if (last_seen < now - (int64_t)c->cfg.nodes.offline_after_s * 1000) {
		/* Its zones and version are still worth knowing. */
		rc = ctl_db_node_set_status(&c->db, node, 0, st.boot, st.version, last_seen,
					    st.zones, st.nzones, json);
		if (rc < 0)
			goto out;
		if (row.online || !row.known)
			node_event(c, node, 0, st.boot, "stale status");
		if (row.online || !row.known)
			log_info("node %s is offline: its last status (boot %" PRId64 ", zones: "
				 "%s) is %" PRId64 " s old", node, st.boot,
				 st.nzones ? zones : "none", (now - last_seen) / 1000);
		rc = 1;
		goto out;
	}
	rc = ctl_db_node_set_status(&c->db, node, 1, st.boot, st.version, last_seen,
				    st.zones, st.nzones, json);
	if (rc < 0)
		goto out;
	/*
	 * Restart or reconnect: the boot counter goes up at every start of the
	 * node daemon, so a higher boot is a restart (crash, power, update),
	 * the same boot coming back is only the link.
	 */
	if (row.known && row.boot != st.boot)
		note_transition(c, node, row.online ? 0 : now, 1, 0);
	else if (row.known && !row.online)
		note_transition(c, node, now, 0, 1);
	else if (!row.known)
		note_transition(c, node, now, 0, 0);
	if (!row.known || !row.online || row.boot != st.boot)
		node_event(c, node, 1, st.boot, !row.known ? "online" : row.boot != st.boot
			   ? "restarted" : "reconnected");
	if (row.known && !row.online && row.boot != st.boot)
		log_info("node %s is online again: restarted (boot %" PRId64 ", was %" PRId64
			 "; version %s, zones: %s)", node, st.boot, row.boot,
			 st.version[0] ? st.version : "?", st.nzones ? zones : "none");
	else if (row.known && !row.online)
		log_info("node %s is online again: reconnected (same boot %" PRId64 ", zones: "
			 "%s)", node, st.boot, st.nzones ? zones : "none");
	else if (!row.known)
		log_info("node %s is online (boot %" PRId64 ", version %s, zones: %s)", node,
			 st.boot, st.version[0] ? st.version : "?",
			 st.nzones ? zones : "none");
	else if (row.boot != st.boot)
		log_info("node %s restarted (boot %" PRId64 ", was %" PRId64 "; zones: %s)",
			 node, st.boot, row.boot, st.nzones ? zones : "none");
	else
		log_debug("status of node %s (boot %" PRId64 ")", node, st.boot);
	ctl_emergency_on_status(c, node, payload, len);
out:
	free(json);
	return rc;
}

/*
 * An event we cannot store would be sent again forever: if at least its id
 * is usable, acknowledge it (the warning above is the record).
 */
static void ack_refused(struct ctl *c, const char *node, const void *payload, size_t len)
{
	json_t *o = json_loadb(payload, len, 0, NULL);
	const char *id = o ? json_string_value(json_object_get(o, "id")) : NULL;

	if (id && strlen(id) < CTL_ID_MAX && event_id_valid(id))
		ctl_journal_ack(c, node, id);
	json_decref(o);
}

int ctl_nodes_on_event(struct ctl *c, const char *node, const void *payload,
		       size_t len)
{
	struct ctl_event ev;
	char err[256];
	double secs;
	int rc, updated = 0;

	/* results of planned plays (scheduler.c reads "occurrence" itself) */
	ctl_sched_on_event(c, node, payload, len);
	rc = ctl_parse_event(node, payload, len, &ev, err, sizeof(err));
	if (rc < 0) {
		log_warnx("ignoring an event on %s/node/%s/event: %s", c->mqtt.root, node, err);
		ack_refused(c, node, payload, len);
		return rc;
	}
	rc = ctl_db_event_addressed(&c->db, &ev);
	if (rc < 0)
		goto out; /* not acknowledged: the node sends it again */
	if (rc == 0) {
		/*
		 * A play of something sent to other nodes only: the node took a
		 * message addressed elsewhere (a broker republishing it; nodes of
		 * this version refuse that) or its account lies. Kept as a record,
		 * but never a play: no report, play count or play log counts it.
		 */
		log_warnx("node %s reports %s of broadcast %s, which was not sent to it: "
			  "stored as \"unaddressed\", not counted as a play", node, ev.type,
			  ev.broadcast);
		snprintf(ev.reason, sizeof(ev.reason), "%s of broadcast %s, not sent to %s",
			 ev.type, ev.broadcast, node);
		snprintf(ev.type, sizeof(ev.type), "unaddressed");
	}
	rc = ctl_db_event_store(&c->db, &ev, now_ms(), &updated);
	if (rc < 0)
		goto out; /* not acknowledged: the node sends it again */
	/* stored now or before: either way the node may forget it */
	ctl_journal_ack(c, node, ev.id);
	if (rc == 0) {
		log_debug("event %s of node %s was stored before: duplicate ignored", ev.id,
			  node);
		rc = 1;
		goto out;
	}
	ctl_maint_on_event(c, &ev);
	/* confirmations, live in the console (api.h) */
	if (strncmp(ev.type, "play_", 5) == 0 || strncmp(ev.type, "emergency_", 10) == 0) {
		json_t *j = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:b, s:I}", "node", node,
				      "type", ev.type, "broadcast",
				      ev.broadcast[0] ? ev.broadcast : NULL, "occurrence",
				      ev.occurrence[0] ? ev.occurrence : NULL, "level",
				      ev.level[0] ? ev.level : NULL, "reason",
				      ev.reason[0] ? ev.reason : NULL, "drill", ev.drill,
				      "ts", (json_int_t)ev.ts);

		ctl_api_event(c, "play", node, j);
		json_decref(j);
	}
	secs = ev.duration_ms >= 0 ? (double)ev.duration_ms / 1000.0 : 0.0;
	if (strcmp(ev.type, "play_started") == 0)
		log_info("node %s started %s %s (content %s)", node,
			 ev.occurrence[0] ? "occurrence" : "broadcast",
			 ev.occurrence[0] ? ev.occurrence : ev.broadcast[0] ? ev.broadcast : "-",
			 ctl_short_id(ev.content));
	else if (strcmp(ev.type, "play_finished") == 0)
		log_info("node %s finished %s %s (%.1f s)", node,
			 ev.occurrence[0] ? "occurrence" : "broadcast",
			 ev.occurrence[0] ? ev.occurrence : ev.broadcast[0] ? ev.broadcast : "-",
			 secs);
	else if (strcmp(ev.type, "play_failed") == 0)
		log_warnx("node %s failed to play %s %s: %s", node,
			  ev.occurrence[0] ? "occurrence" : "broadcast",
			  ev.occurrence[0] ? ev.occurrence : ev.broadcast[0] ? ev.broadcast : "-",
			  ev.reason[0] ? ev.reason : "no reason given");
	else if (strncmp(ev.type, "emergency_", 10) == 0)
		log_warnx("node %s: %s %s %s%s%s", node, ev.broadcast[0] == 'd' ? "DRILL" :
			  "EMERGENCY", ev.broadcast[0] ? ev.broadcast : "-",
			  strcmp(ev.type, "emergency_started") == 0 ? "started" :
			  strcmp(ev.type, "emergency_not_active") == 0 ? "confirmed the stop" :
			  "ended",
			  ev.reason[0] ? ": " : "", ev.reason);
	else if (strncmp(ev.type, "live_", 5) == 0)
		log_info("node %s: live session %s %s%s%s", node, ev.broadcast[0] ? ev.broadcast : "-",
			 strcmp(ev.type, "live_started") == 0 ? "playing" : "ended",
			 ev.reason[0] ? ": " : "", ev.reason);
	else if (strcmp(ev.type, "play_preempted") == 0)
		log_info("node %s: broadcast %s preempted: %s", node,
			 ev.broadcast[0] ? ev.broadcast : "-", ev.reason);
	else if (strcmp(ev.type, "content_ready") == 0)
		log_info("node %s has content %s ready", node, ctl_short_id(ev.content));
	else if (strcmp(ev.type, "content_failed") == 0)
		log_warnx("node %s could not get content %s: %s", node,
			  ctl_short_id(ev.content), ev.reason[0] ? ev.reason : "no reason given");
	else if (strcmp(ev.type, "events_dropped") == 0)
		log_warnx("node %s lost events: %s", node, ev.reason);
	else if (strcmp(ev.type, "node_started") == 0) {
		int cut;

		log_info("node %s started (boot %" PRId64 ")%s%s", node, ev.boot,
			 ev.reason[0] ? ": " : "", ev.reason);
		cut = ctl_db_close_cut_plays(&c->db, node, ev.boot, now_ms(),
					     "the node restarted before the play finished");
		if (cut > 0)
			log_warnx("node %s restarted in the middle of %d play%s: recorded as "
				  "failed (the node restarted before the play finished)", node,
				  cut, cut == 1 ? "" : "s");
	}
	else
		log_info("node %s: %s%s%s", node, ev.type, ev.reason[0] ? ": " : "", ev.reason);
	if (ev.broadcast[0] && strncmp(ev.type, "play_", 5) == 0 && !updated)
		log_debug("event %s of node %s did not change broadcast %s (not a target, "
			  "or already further along)", ev.id, node, ev.broadcast);
	rc = 0;
out:
	free(ev.data);
	return rc;
}

static void log_expired(void *arg, const struct ctl_node_row *row)
{
	int64_t silent = (now_ms() - row->last_seen) / 1000;

	/* silent since its last status: that is when it went away */
	note_transition(arg, row->id, row->last_seen, 0, 0);
	node_event(arg, row->id, 0, row->boot, "silent");
	log_warnx("node %s is offline: no status from it for %" PRId64 " s (boot %"
		  PRId64 ")", row->id, silent, row->boot);
}

void ctl_nodes_tick(struct ctl *c)
{
	struct ctl_nodes_clock *k = &c->nodes_clock;
	int64_t wall = now_ms(), mono = mono_ms(), offset = wall - mono;
	int64_t step = k->have_offset ? offset - k->offset_ms : 0;
	int64_t window = (int64_t)c->cfg.nodes.offline_after_s * 1000;

	k->offset_ms = offset;
	k->have_offset = 1;
	if (step > CTL_CLOCK_STEP_MS || step < -CTL_CLOCK_STEP_MS) {
		log_warnx("the controller's clock was set %s by %" PRId64 " s: nodes are not "
			  "marked offline for the next %d s while they report against the new "
			  "time", step > 0 ? "forward" : "back", ((step > 0 ? step : -step) + 500) / 1000,
			  c->cfg.nodes.offline_after_s);
		k->settle_until_mono = mono + window;
		if (step < 0)
			ctl_db_nodes_clamp_last_seen(&c->db, wall);
	}
	if (mono < k->settle_until_mono)
		return;
	ctl_db_nodes_expire(&c->db, wall - window, log_expired, c);
}

/* ---- what nodes send (the subscription table, mqtt.h) ---- */

static void on_status(struct ctl *c, const char *node, const void *payload, size_t len,
		      int retained)
{
	ctl_nodes_on_status(c, node, payload, len, retained); /* problems are logged */
}

static void on_event(struct ctl *c, const char *node, const void *payload, size_t len,
		     int retained)
{
	(void)retained;
	ctl_nodes_on_event(c, node, payload, len);
}

int ctl_nodes_register(struct ctl *c)
{
	/* an empty retained status is the broker clearing it: nodes.c says so */
	int rc = ctl_mqtt_on_node(c, CTL_CONN_CTL, LEAF_STATUS, 0, on_status);

	return rc < 0 ? rc : ctl_mqtt_on_node(c, CTL_CONN_CTL, LEAF_EVENT, CTL_MQTT_NONEMPTY,
					      on_event);
}
