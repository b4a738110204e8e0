/*
 * events.c - see events.h.
 */
#include "events.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "log.h"
#include "loop.h"
#include "node.h"
#include "util.h"
#include "topic.h"

#define EVENT_FILE_MAX 65536

/* "<node>-<boot>-<seq>": the node id may contain '-', so parse from the end. */
static int parse_id(const char *id, uint64_t *boot, uint64_t *seq)
{
	const char *last = strrchr(id, '-'), *prev;
	char *end;

	if (!last || last == id)
		return -EINVAL;
	for (prev = last - 1; prev > id && *prev != '-'; prev--)
		;
	if (*prev != '-')
		return -EINVAL;
	*boot = strtoull(prev + 1, &end, 10);
	if (end != last)
		return -EINVAL;
	*seq = strtoull(last + 1, &end, 10);
	return *end ? -EINVAL : 0;
}

static int cmp_pending(const void *a, const void *b)
{
	const struct event_pending *x = a, *y = b;

	if (x->boot != y->boot)
		return x->boot < y->boot ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return 0;
}

static void event_path(const struct node_events *ev, const char *id, char *out,
		       size_t outlen)
{
	snprintf(out, outlen, "%s/%s.json", ev->dir, id);
}

static void side_path(const struct node *n, const char *name, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s", n->cfg.state_dir, name);
}

static int pending_add(struct node_events *ev, const char *id)
{
	struct event_pending *p;

	if (ev->npending == ev->cap) {
		size_t cap = ev->cap ? ev->cap * 2 : 16;
		p = realloc(ev->pending, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		ev->pending = p;
		ev->cap = cap;
	}
	p = &ev->pending[ev->npending];
	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", id);
	parse_id(id, &p->boot, &p->seq);
	ev->npending++;
	return 0;
}

static void pending_remove(struct node_events *ev, size_t i)
{
	char path[PATH_MAX + 100];

	/* No fsync: an unlink lost in a crash only means one harmless resend. */
	event_path(ev, ev->pending[i].id, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("cannot remove the delivered event %s", path);
	memmove(&ev->pending[i], &ev->pending[i + 1],
		(ev->npending - i - 1) * sizeof(ev->pending[0]));
	ev->npending--;
}

/* "<count> <first id> <last id>" of drops not yet reported. */
static void save_dropped(struct node *n)
{
	struct node_events *ev = &n->events;
	char path[PATH_MAX + 32], text[64 + 2 * EVENT_ID_MAX];
	int rc;

	side_path(n, "events.dropped", path, sizeof(path));
	if (!ev->unreported) {
		if (unlink(path) < 0 && errno != ENOENT)
			log_warn("cannot remove %s", path);
		return;
	}
	snprintf(text, sizeof(text), "%" PRIu64 " %s %s\n", ev->unreported,
		 ev->first_dropped[0] ? ev->first_dropped : "-",
		 ev->last_dropped[0] ? ev->last_dropped : "-");
	rc = write_file_atomic(path, text, strlen(text), 0640);
	if (rc < 0)
		log_warnx("cannot save the count of dropped events in %s: %s", path,
			  strerror(-rc));
}

static void load_dropped(struct node *n)
{
	struct node_events *ev = &n->events;
	char path[PATH_MAX + 32], first[EVENT_ID_MAX], last[EVENT_ID_MAX];
	uint8_t *buf = NULL;
	size_t len;
	unsigned long long count;

	side_path(n, "events.dropped", path, sizeof(path));
	if (read_file(path, 512, &buf, &len) < 0)
		return;
	if (sscanf((char *)buf, "%llu %79s %79s", &count, first, last) == 3) {
		ev->unreported = count;
		if (strcmp(first, "-"))
			snprintf(ev->first_dropped, sizeof(ev->first_dropped), "%s", first);
		if (strcmp(last, "-"))
			snprintf(ev->last_dropped, sizeof(ev->last_dropped), "%s", last);
	} else {
		log_warnx("%s is damaged: the number of dropped events before this start "
			  "is unknown", path);
	}
	free(buf);
}

static void note_dropped(struct node *n, const char *id)
{
	struct node_events *ev = &n->events;

	ev->dropped++;
	ev->unreported++;
	if (!ev->first_dropped[0])
		snprintf(ev->first_dropped, sizeof(ev->first_dropped), "%s", id);
	snprintf(ev->last_dropped, sizeof(ev->last_dropped), "%s", id);
	save_dropped(n);
	status_dirty(n);
}

/*
 * An entry that does not parse was damaged on disk (write_file_atomic makes
 * a torn write impossible, but a card can still lose blocks): sending it
 * would only get it refused, so it is dropped here, loudly.
 */
static int entry_valid(const char *path)
{
	json_error_t err;
	json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
	int ok = o && json_is_object(o) && json_is_string(json_object_get(o, "id"));

	if (!ok)
		log_warnx("journal entry %s is damaged (%s): dropped", path,
			  o ? "not an event object" : err.text);
	json_decref(o);
	return ok;
}

static int load_dir(struct node *n)
{
	struct node_events *ev = &n->events;
	DIR *d;
	struct dirent *de;
	int rc = 0;

	d = opendir(ev->dir);
	if (!d) {
		rc = -errno;
		log_errorx("cannot read the event journal %s: %s", ev->dir, strerror(errno));
		return rc;
	}
	while ((de = readdir(d))) {
		char id[EVENT_ID_MAX], path[PATH_MAX + 300];
		size_t len = strlen(de->d_name);
		uint64_t b, s;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", ev->dir, de->d_name);
		if (strstr(de->d_name, ".tmp.")) {
			/* a write interrupted by a crash: never published */
			unlink(path);
			continue;
		}
		if (len < 6 || len - 5 >= sizeof(id) || strcmp(de->d_name + len - 5, ".json"))
			continue;
		memcpy(id, de->d_name, len - 5);
		id[len - 5] = '\0';
		if (parse_id(id, &b, &s) < 0)
			continue;
		if (!entry_valid(path)) {
			unlink(path);
			note_dropped(n, id);
			continue;
		}
		rc = pending_add(ev, id);
		if (rc < 0)
			break;
	}
	closedir(d);
	if (ev->npending > 1)
		qsort(ev->pending, ev->npending, sizeof(ev->pending[0]), cmp_pending);
	return rc;
}

int events_init(struct node *n)
{
	struct node_events *ev = &n->events;
	struct event_info info = EVENT_INFO_INIT;
	char path[PATH_MAX + 32];
	json_t *extra;
	int rc, first;

	ev->max = n->cfg.health.journal_max ? n->cfg.health.journal_max
					    : EVENTS_MAX_PENDING_DEFAULT;
	if ((size_t)snprintf(ev->dir, sizeof(ev->dir), "%s/events", n->cfg.state_dir) >=
	    sizeof(ev->dir)) {
		log_errorx("state_dir %s: path too long", n->cfg.state_dir);
		return -ENAMETOOLONG;
	}
	rc = mkdir_p(ev->dir, 0750);
	if (rc < 0) {
		log_errorx("cannot create the event journal %s: %s", ev->dir, strerror(-rc));
		return rc;
	}
	load_dropped(n);
	rc = load_dir(n);
	if (rc < 0)
		return rc;
	if (ev->npending)
		log_info("%zu event(s) from earlier runs wait in %s for delivery",
			 ev->npending, ev->dir);
	side_path(n, "stopped", path, sizeof(path));
	ev->clean_start = access(path, F_OK) == 0;
	if (ev->clean_start && unlink(path) < 0)
		log_warn("cannot remove %s", path);

	/* boot 1 is the very first start: there was no previous run */
	first = n->status.boot == 1 && !ev->clean_start;
	extra = json_pack("{s:s, s:I}", "previous",
			  first ? "none" : ev->clean_start ? "stopped" : "crashed",
			  "pending", (json_int_t)ev->npending);
	info.reason = first || ev->clean_start ? "" : "the previous run did not stop cleanly "
		      "(crash, kill or power loss)";
	info.extra = extra;
	events_emit(n, "node_started", &info);
	json_decref(extra);
	return 0;
}

void events_mark_clean_stop(struct node *n)
{
	char path[PATH_MAX + 32];
	int rc;

	side_path(n, "stopped", path, sizeof(path));
	rc = write_file_atomic(path, "", 0, 0640);
	if (rc < 0)
		log_warnx("cannot write %s: %s", path, strerror(-rc));
}

void events_free(struct node *n)
{
	free(n->events.pending);
	n->events.pending = NULL;
	n->events.npending = n->events.cap = 0;
}

static size_t in_flight(const struct node_events *ev)
{
	size_t i, k = 0;

	for (i = 0; i < ev->npending; i++)
		if (ev->pending[i].sent_mono)
			k++;
	return k;
}

static void publish_pending(struct node *n, struct event_pending *p, const char *json)
{
	char topic[TOPIC_MAX], path[PATH_MAX + 100];
	uint8_t *buf = NULL;
	size_t len;
	int rc;

	if (!json) {
		event_path(&n->events, p->id, path, sizeof(path));
		rc = read_file(path, EVENT_FILE_MAX, &buf, &len);
		if (rc < 0) {
			log_warnx("cannot read the journaled event %s: %s", path, strerror(-rc));
			return;
		}
		json = (const char *)buf;
	}
	topic_node(topic, sizeof(topic), n->root, n->cfg.node, LEAF_EVENT);
	rc = node_mqtt_publish(n, NODE_CONN_CTL, topic, json, strlen(json), 1, 0, NULL);
	if (rc == 0)
		p->sent_mono = mono_ms();
	free(buf);
}

/* Send unsent entries, oldest first, while the window has room. */
static void pump(struct node *n)
{
	struct node_events *ev = &n->events;
	size_t i, flying;

	if (!node_mqtt_connected(n, NODE_CONN_CTL))
		return;
	flying = in_flight(ev);
	for (i = 0; i < ev->npending && flying < EVENTS_WINDOW; i++) {
		if (ev->pending[i].sent_mono)
			continue;
		publish_pending(n, &ev->pending[i], NULL);
		if (!ev->pending[i].sent_mono)
			break; /* the connection refused it: try again on the next tick */
		flying++;
	}
}

/* Tell the controller about drops once there is room for one more entry. */
static void report_drops(struct node *n)
{
	struct node_events *ev = &n->events;
	struct event_info info = EVENT_INFO_INIT;
	char reason[200];
	json_t *extra;

	if (!ev->unreported || ev->npending + 1 >= ev->max ||
	    !node_mqtt_connected(n, NODE_CONN_CTL))
		return;
	extra = json_pack("{s:I, s:s, s:s}", "count", (json_int_t)ev->unreported, "first",
			  ev->first_dropped, "last", ev->last_dropped);
	snprintf(reason, sizeof(reason), "the event journal was full (%zu entries): %" PRIu64
		 " oldest event(s) dropped", ev->max, ev->unreported);
	info.reason = reason;
	info.extra = extra;
	ev->unreported = 0;
	ev->first_dropped[0] = ev->last_dropped[0] = '\0';
	save_dropped(n);
	events_emit(n, "events_dropped", &info);
	json_decref(extra);
}

int events_emit(struct node *n, const char *type, const struct event_info *info)
{
	struct node_events *ev = &n->events;
	char id[EVENT_ID_MAX], path[PATH_MAX + 100];
	json_t *o;
	char *s;
	int rc;

	snprintf(id, sizeof(id), "%s-%" PRIu64 "-%" PRIu64, n->cfg.node, n->status.boot,
		 ++ev->counter);
	o = json_pack("{s:s, s:s, s:I, s:s, s:I}", "id", id, "node", n->cfg.node, "boot",
		      (json_int_t)n->status.boot, "type", type, "ts", (json_int_t)clock_now_ms(&n->clock));
	if (!o)
		return -ENOMEM;
	if (info->broadcast)
		json_object_set_new(o, "broadcast", json_string(info->broadcast));
	if (info->content)
		json_object_set_new(o, "content", json_string(info->content));
	if (info->title && info->title[0])
		json_object_set_new(o, "title", json_string(info->title));
	if (info->start_ms > 0)
		json_object_set_new(o, "start", json_integer(info->start_ms));
	if (info->duration_ms >= 0)
		json_object_set_new(o, "duration_ms", json_integer(info->duration_ms));
	json_object_set_new(o, "reason", json_string(info->reason ? info->reason : ""));
	if (info->drill != EV_DRILL_NONE)
		json_object_set_new(o, "drill", json_boolean(info->drill == EV_DRILL_YES));
	if (info->level)
		json_object_set_new(o, "level", json_string(info->level));
	if (info->occurrence)
		json_object_set_new(o, "occurrence", json_string(info->occurrence));
	if (info->occurrence || info->start_ms > 0)
		/* every start in controller time comes with the clock's error bound
		 * (0.1 ms; null: the node never measured it), plans or not */
		json_object_set_new(o, "error_ms", info->error_ms < 0 ? json_null() :
				    json_real((double)(int64_t)(info->error_ms * 10.0 + 0.5) /
					      10.0));
	if (info->plan_seq)
		json_object_set_new(o, "plan_seq", json_integer((json_int_t)info->plan_seq));
	if (info->scheduled_ms > 0)
		json_object_set_new(o, "scheduled", json_integer(info->scheduled_ms));
	if (info->end)
		json_object_set_new(o, "end", json_string(info->end));
	if (info->preemptor && info->preemptor[0])
		json_object_set_new(o, "preemptor", json_string(info->preemptor));
	if (strcmp(type, "play_preempted") == 0)
		json_object_set_new(o, "requeued", json_boolean(info->requeued));
	if (strcmp(type, "plan_received") == 0)
		json_object_set_new(o, "items", json_integer((json_int_t)info->items));
	if (info->extra)
		json_object_update_missing(o, info->extra);
	s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
	json_decref(o);
	if (!s)
		return -ENOMEM;

	while (ev->npending && ev->npending >= ev->max) {
		log_warnx("event journal full (%zu undelivered): dropping the oldest, %s",
			  ev->max, ev->pending[0].id);
		note_dropped(n, ev->pending[0].id);
		pending_remove(ev, 0);
	}
	event_path(ev, id, path, sizeof(path));
	rc = write_file_atomic(path, s, strlen(s), 0640);
	if (rc < 0) {
		/* Still publish it once: at least the live link gets it. */
		log_warnx("cannot journal event %s in %s: %s", id, path, strerror(-rc));
		status_error(n, "cannot write the event journal: %s", strerror(-rc));
		if (node_mqtt_connected(n, NODE_CONN_CTL)) {
			char topic[TOPIC_MAX];

			topic_node(topic, sizeof(topic), n->root, n->cfg.node, LEAF_EVENT);
			node_mqtt_publish(n, NODE_CONN_CTL, topic, s, strlen(s), 1, 0, NULL);
		}
	} else if (pending_add(ev, id) == 0) {
		/* journaled: the log line below is what tests compare with */
		log_debug("event %s journaled: %s", id, s);
		if (in_flight(ev) < EVENTS_WINDOW && node_mqtt_connected(n, NODE_CONN_CTL))
			publish_pending(n, &ev->pending[ev->npending - 1], s);
	}
	free(s);
	status_dirty(n);
	return rc < 0 ? rc : 0;
}

size_t events_ack(struct node *n, const char *const *ids, size_t count)
{
	struct node_events *ev = &n->events;
	size_t k, i, removed = 0;

	for (k = 0; k < count; k++) {
		for (i = 0; i < ev->npending; i++) {
			if (strcmp(ev->pending[i].id, ids[k]) == 0) {
				pending_remove(ev, i);
				removed++;
				break;
			}
		}
	}
	ev->acked += removed;
	if (removed) {
		status_dirty(n);
		pump(n);
		report_drops(n);
	}
	return removed;
}

void events_on_connect(struct node *n)
{
	events_on_disconnect(n);
	report_drops(n);
	pump(n);
}

void events_on_disconnect(struct node *n)
{
	size_t i;

	for (i = 0; i < n->events.npending; i++)
		n->events.pending[i].sent_mono = 0;
}

/*
 * No acknowledgement for EVENTS_RESEND_MS: the controller was away or lost
 * them. Send the whole window again (it deduplicates).
 */
void events_tick(struct node *n, int64_t mono)
{
	struct node_events *ev = &n->events;
	size_t i;
	int64_t oldest = INT64_MAX;

	if (!node_mqtt_connected(n, NODE_CONN_CTL))
		return;
	for (i = 0; i < ev->npending; i++)
		if (ev->pending[i].sent_mono && ev->pending[i].sent_mono < oldest)
			oldest = ev->pending[i].sent_mono;
	if (oldest != INT64_MAX && mono - oldest >= EVENTS_RESEND_MS) {
		log_info("no acknowledgement from the controller for %d s: sending %zu "
			 "event(s) again", EVENTS_RESEND_MS / 1000, in_flight(ev));
		events_on_disconnect(n);
	}
	pump(n);
	report_drops(n);
}

int64_t events_next_deadline(const struct node *n)
{
	const struct node_events *ev = &n->events;
	int64_t oldest = INT64_MAX;
	size_t i;

	if (!node_mqtt_connected(n, NODE_CONN_CTL))
		return INT64_MAX;
	size_t flying = 0, waiting = 0;

	for (i = 0; i < ev->npending; i++) {
		if (!ev->pending[i].sent_mono) {
			waiting++;
			continue;
		}
		flying++;
		if (ev->pending[i].sent_mono < oldest)
			oldest = ev->pending[i].sent_mono;
	}
	if (waiting && flying < EVENTS_WINDOW)
		return mono_ms() + 100; /* a send the connection refused: retry soon */
	return oldest == INT64_MAX ? INT64_MAX : oldest + EVENTS_RESEND_MS;
}

json_t *events_status_json(const struct node *n)
{
	const struct node_events *ev = &n->events;

	return json_pack("{s:I, s:I, s:I, s:I, s:I}", "pending", (json_int_t)ev->npending,
			 "max", (json_int_t)ev->max, "acked", (json_int_t)ev->acked,
			 "dropped", (json_int_t)ev->dropped, "unreported",
			 (json_int_t)ev->unreported);
}

/* ---- the event loop (loop.h): main.c registers this module ---- */

static void loop_tick(struct loop *l, int64_t mono, void *arg)
{
	(void)l;
	events_tick(arg, mono);
}

static int64_t loop_deadline(void *arg)
{
	return events_next_deadline(arg);
}

/* This module's part of the status (status.h). */
static void status_part(struct node *n, json_t *status)
{
	json_object_set_new(status, "journal", events_status_json(n));
}

int events_register(struct loop *l, struct node *n)
{
	int rc = loop_tick_add(l, "events", loop_tick, loop_deadline, n);

	if (rc >= 0)
		rc = status_provider_add(n, status_part);
	return rc < 0 ? rc : 0;
}
