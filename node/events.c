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
#include "node.h"
#include "util.h"

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

static void pending_remove(struct node_events *ev, size_t i, int unlink_file)
{
	char path[PATH_MAX + 100];

	if (unlink_file) {
		event_path(ev, ev->pending[i].id, path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT)
			log_warn("cannot remove the delivered event %s", path);
	}
	memmove(&ev->pending[i], &ev->pending[i + 1],
		(ev->npending - i - 1) * sizeof(ev->pending[0]));
	ev->npending--;
}

int events_init(struct node *n)
{
	struct node_events *ev = &n->events;
	DIR *d;
	struct dirent *de;
	int rc;

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
	d = opendir(ev->dir);
	if (!d) {
		rc = -errno;
		log_errorx("cannot read the event journal %s: %s", ev->dir, strerror(errno));
		return rc;
	}
	while ((de = readdir(d))) {
		char id[80], path[PATH_MAX + 100];
		size_t len = strlen(de->d_name);
		uint64_t b, s;

		if (de->d_name[0] == '.')
			continue;
		if (strstr(de->d_name, ".tmp.")) {
			/* a write interrupted by a crash: never published */
			snprintf(path, sizeof(path), "%s/%s", ev->dir, de->d_name);
			unlink(path);
			continue;
		}
		if (len < 6 || len - 5 >= sizeof(id) || strcmp(de->d_name + len - 5, ".json"))
			continue;
		memcpy(id, de->d_name, len - 5);
		id[len - 5] = '\0';
		if (parse_id(id, &b, &s) < 0)
			continue;
		if (pending_add(ev, id) < 0)
			break;
	}
	closedir(d);
	if (ev->npending > 1)
		qsort(ev->pending, ev->npending, sizeof(ev->pending[0]), cmp_pending);
	if (ev->npending)
		log_info("%zu event(s) from earlier runs wait in %s for delivery",
			 ev->npending, ev->dir);
	return 0;
}

void events_free(struct node *n)
{
	free(n->events.pending);
	n->events.pending = NULL;
	n->events.npending = n->events.cap = 0;
}

static void publish_pending(struct node *n, struct event_pending *p, const char *json)
{
	char topic[160], path[PATH_MAX + 100];
	uint8_t *buf = NULL;
	size_t len;
	int mid = 0, rc;

	if (!node_mqtt_connected(n, NODE_CONN_CTL))
		return;
	if (!json) {
		event_path(&n->events, p->id, path, sizeof(path));
		rc = read_file(path, EVENT_FILE_MAX, &buf, &len);
		if (rc < 0) {
			log_warnx("cannot read the journaled event %s: %s", path, strerror(-rc));
			return;
		}
		json = (const char *)buf;
	}
	snprintf(topic, sizeof(topic), "%s/node/%s/event", n->root, n->cfg.node);
	rc = node_mqtt_publish(n, NODE_CONN_CTL, topic, json, strlen(json), 1, 0, &mid);
	if (rc == 0)
		p->mid = mid;
	free(buf);
}

int events_emit(struct node *n, const char *type, const struct event_info *info)
{
	struct node_events *ev = &n->events;
	char id[80], path[PATH_MAX + 100];
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
	if (info->occurrence) {
		json_object_set_new(o, "occurrence", json_string(info->occurrence));
		/* the clock's error bound, 0.1 ms; null: the node never measured it */
		json_object_set_new(o, "error_ms", info->error_ms < 0 ? json_null() :
				    json_real((double)(int64_t)(info->error_ms * 10.0 + 0.5) /
					      10.0));
	}
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
	s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
	json_decref(o);
	if (!s)
		return -ENOMEM;

	while (ev->npending >= EVENTS_MAX_PENDING) {
		log_warnx("event journal full (%d undelivered): dropping the oldest, %s",
			  EVENTS_MAX_PENDING, ev->pending[0].id);
		pending_remove(ev, 0, 1);
	}
	event_path(ev, id, path, sizeof(path));
	rc = write_file_atomic(path, s, strlen(s), 0640);
	if (rc < 0) {
		/* Still publish it: at least the live link gets it. */
		log_warnx("cannot journal event %s in %s: %s", id, path, strerror(-rc));
	}
	if (pending_add(ev, id) == 0) {
		publish_pending(n, &ev->pending[ev->npending - 1], s);
		if (rc < 0 && ev->pending[ev->npending - 1].mid == 0)
			pending_remove(ev, ev->npending - 1, 0);
	}
	log_debug("event %s: %s", id, s);
	free(s);
	return 0;
}

void events_on_connect(struct node *n)
{
	size_t i;

	for (i = 0; i < n->events.npending; i++)
		if (n->events.pending[i].mid == 0)
			publish_pending(n, &n->events.pending[i], NULL);
}

void events_on_disconnect(struct node *n)
{
	size_t i;

	for (i = 0; i < n->events.npending; i++)
		n->events.pending[i].mid = 0;
}

void events_on_publish(struct node *n, int mid)
{
	size_t i;

	for (i = 0; i < n->events.npending; i++) {
		if (n->events.pending[i].mid == mid) {
			pending_remove(&n->events, i, 1);
			return;
		}
	}
}
