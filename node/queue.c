/*
 * queue.c - see queue.h.
 */
#include "queue.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "emergency.h"
#include "live.h"
#include "events.h"
#include "fetch.h"
#include "log.h"
#include "node.h"
#include "playout.h"
#include "status.h"
#include "util.h"

static const char *const level_names[] = { "relay", "normal", "priority", "emergency" };

const char *play_level_name(enum play_level l)
{
	return (unsigned)l < 4 ? level_names[l] : "normal";
}

int play_level_parse(const char *s, enum play_level *out)
{
	int i;

	for (i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum play_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

const struct play_item *queue_current(const struct play_queue *q)
{
	return q->current;
}

size_t queue_pending(const struct play_queue *q)
{
	return q->n;
}

static void unlink_item(struct play_queue *q, struct play_item *prev, struct play_item *it)
{
	if (prev)
		prev->next = it->next;
	else
		q->head = it->next;
	if (q->tail == it)
		q->tail = prev;
	it->next = NULL;
	q->n--;
}

static void emit_play(struct node *n, const char *type, const struct play_item *it,
		      int64_t start_ms, int64_t duration_ms, const char *reason)
{
	struct event_info info = {
		.broadcast = it->broadcast,
		.content = it->content,
		.start_ms = start_ms,
		.duration_ms = duration_ms,
		.reason = reason,
		.title = it->title,
	};

	events_emit(n, type, &info);
}

/* A play that never started ends here (it is already out of the queue). */
static void fail_item(struct node *n, struct play_item *it, const char *reason)
{
	char content[CONTENT_ID_LEN + 1];

	log_warnx("play of broadcast %s (content %s) failed: %s", it->broadcast, it->content,
		  reason);
	emit_play(n, "play_failed", it, 0, 0, reason);
	status_changed(n);
	memcpy(content, it->content, sizeof(content));
	free(it);
	if (!n->stopping && !queue_wants(n, content))
		fetch_cancel(n, content);
}

int queue_uses(void *arg, const char *content)
{
	const struct node *n = arg;
	const struct play_item *it;

	if (n->queue.current && strcmp(n->queue.current->content, content) == 0)
		return 1;
	if (emergency_uses(n, content))
		return 1;
	for (it = n->queue.head; it; it = it->next)
		if (strcmp(it->content, content) == 0)
			return 1;
	return 0;
}

int queue_wants(const struct node *n, const char *content)
{
	const struct play_item *it;

	for (it = n->queue.head; it; it = it->next)
		if (!it->ready && strcmp(it->content, content) == 0)
			return 1;
	return 0;
}

static int known_broadcast(const struct node *n, const char *b)
{
	const struct play_item *it;

	if (n->queue.current && strcmp(n->queue.current->broadcast, b) == 0)
		return 1;
	for (it = n->queue.head; it; it = it->next)
		if (strcmp(it->broadcast, b) == 0)
			return 1;
	return 0;
}

int queue_add(struct node *n, const struct play_item *item)
{
	struct play_queue *q = &n->queue;
	struct play_item *it;
	char when[64];

	if (known_broadcast(n, item->broadcast)) {
		log_warnx("broadcast %s is already queued or playing: ignoring the repeated "
			  "play command", item->broadcast);
		return -EEXIST;
	}
	it = malloc(sizeof(*it));
	if (!it)
		return -ENOMEM;
	*it = *item;
	it->next = NULL;
	it->start_ms = 0;
	if (q->n >= QUEUE_MAX) {
		fail_item(n, it, "the node's play queue is full");
		return -ENOSPC;
	}
	it->ready = cache_has(&n->cache, it->content);
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->n++;
	if (it->at > 0)
		snprintf(when, sizeof(when), "in %.1f s", (double)(it->at - now_ms()) / 1000.0);
	else
		snprintf(when, sizeof(when), "as soon as possible");
	log_info("queued broadcast %s: content %s, %s, level %s, volume %d%s%s%s", it->broadcast,
		 it->content, when, play_level_name(it->level), it->volume,
		 it->title[0] ? ", \"" : "", it->title, it->title[0] ? "\"" : "");
	if (!it->ready)
		fetch_want(n, it->content, it->bytes);
	status_changed(n);
	queue_tick(n);
	return 0;
}

int queue_stop(struct node *n, const char *broadcast)
{
	struct play_queue *q = &n->queue;
	struct play_item *it, *prev = NULL, *next;
	int count = 0;

	for (it = q->head; it; it = next) {
		next = it->next;
		if (broadcast && strcmp(it->broadcast, broadcast) != 0) {
			prev = it;
			continue;
		}
		unlink_item(q, prev, it);
		fail_item(n, it, "stopped by the controller before it started");
		count++;
	}
	if (q->current && (!broadcast || strcmp(q->current->broadcast, broadcast) == 0)) {
		log_info("stopping broadcast %s (content %s)", q->current->broadcast,
			 q->current->content);
		playout_stop(&n->po);
		count++;
	}
	status_changed(n);
	return count;
}

void queue_content_ready(struct node *n, const char *content)
{
	struct play_item *it;

	for (it = n->queue.head; it; it = it->next)
		if (strcmp(it->content, content) == 0)
			it->ready = 1;
	queue_tick(n);
}

void queue_content_failed(struct node *n, const char *content, const char *reason)
{
	struct play_queue *q = &n->queue;
	struct play_item *it, *prev = NULL, *next;
	char why[400];

	snprintf(why, sizeof(why), "content not available: %s", reason);
	for (it = q->head; it; it = next) {
		next = it->next;
		if (it->ready || strcmp(it->content, content) != 0) {
			prev = it;
			continue;
		}
		unlink_item(q, prev, it);
		fail_item(n, it, why);
	}
}

int queue_preempt(struct node *n, const char *by)
{
	if (!n->queue.current)
		return 0;
	snprintf(n->queue.preempted_by, sizeof(n->queue.preempted_by), "%s", by);
	log_info("broadcast %s (content %s) is preempted by %s", n->queue.current->broadcast,
		 n->queue.current->content, by);
	playout_stop(&n->po);
	return 1;
}

/*
 * The preempted play has faded out. Still valid: back to the head of the
 * queue, to play again from the start once the preemptor is over (a
 * listener missed part of it). Expired: dropped. The event says which.
 */
static void requeue_preempted(struct node *n, struct play_item *it, int64_t start_ms,
			      int64_t dur)
{
	struct play_queue *q = &n->queue;
	char why[200];
	int keep = now_ms() < it->expires && q->n < QUEUE_MAX;

	snprintf(why, sizeof(why), "preempted by %s after %.1f s; %s", q->preempted_by,
		 (double)dur / 1000.0, keep ? "re-queued: it plays again from the start "
		 "afterwards" : "not re-queued: its command has expired");
	log_info("broadcast %s (content %s) %s", it->broadcast, it->content, why);
	emit_play(n, "play_preempted", it, start_ms, dur, why);
	q->preempted_by[0] = '\0';
	if (!keep) {
		free(it);
		return;
	}
	it->start_ms = 0;
	it->at = 0;
	it->next = q->head;
	q->head = it;
	if (!q->tail)
		q->tail = it;
	q->n++;
}

/* playout callbacks */
static void on_started(void *arg, int64_t start_ms)
{
	struct node *n = arg;
	struct play_item *it = n->queue.current;

	if (!it)
		return;
	it->start_ms = start_ms;
	log_info("playing %s for broadcast %s (level %s, volume %d%s%s%s)", it->content,
		 it->broadcast, play_level_name(it->level), it->volume,
		 it->title[0] ? ", \"" : "", it->title, it->title[0] ? "\"" : "");
	emit_play(n, "play_started", it, start_ms, 0, "");
	status_changed(n);
}

static void on_done(void *arg, const struct playout_done *d)
{
	struct node *n = arg;
	struct play_item *it = n->queue.current;
	int64_t dur = (int64_t)(d->frames * 1000 / n->cfg.alsa.rate);
	char why[400];

	n->queue.current = NULL;
	if (!it)
		return;
	switch (d->result) {
	case PO_FINISHED:
		log_info("finished %s for broadcast %s after %.1f s", it->content, it->broadcast,
			 (double)dur / 1000.0);
		emit_play(n, "play_finished", it, d->start_ms, dur, "");
		break;
	case PO_STOPPED:
		if (n->queue.preempted_by[0]) {
			requeue_preempted(n, it, d->start_ms, dur);
			it = NULL;
			break;
		}
		snprintf(why, sizeof(why), "stopped by the controller after %.1f s",
			 (double)dur / 1000.0);
		log_info("stopped %s for broadcast %s after %.1f s", it->content, it->broadcast,
			 (double)dur / 1000.0);
		emit_play(n, "play_failed", it, d->start_ms, dur, why);
		break;
	case PO_FAILED:
		if (d->start_ms)
			log_warnx("play of broadcast %s (content %s) failed after %.1f s: %s",
				  it->broadcast, it->content, (double)dur / 1000.0, d->reason);
		else
			log_warnx("play of broadcast %s (content %s) failed: %s", it->broadcast,
				  it->content, d->reason);
		status_error(n, "play of broadcast %s failed: %s", it->broadcast, d->reason);
		emit_play(n, "play_failed", it, d->start_ms, dur, d->reason);
		break;
	}
	n->queue.preempted_by[0] = '\0';
	free(it);
	status_changed(n);
}

void queue_init(struct node *n)
{
	memset(&n->queue, 0, sizeof(n->queue));
	n->po.on_started = on_started;
	n->po.on_done = on_done;
	n->po.cb_arg = n;
}

/* Expire what waits for content too long; start the next due play. */
void queue_tick(struct node *n)
{
	struct play_queue *q = &n->queue;
	struct play_item *it, *prev = NULL, *next;
	int64_t now = now_ms();

	for (it = q->head; it; it = next) {
		next = it->next;
		if (!it->ready && now >= it->expires) {
			unlink_item(q, prev, it);
			fail_item(n, it, "content not delivered before the command expired");
			continue;
		}
		prev = it;
	}
	while (!playout_busy(&n->po) && !q->current && !n->stopping && !emergency_holds(n) &&
	       !live_holds(n)) {
		char path[PATH_MAX + 80], reason[400];

		prev = NULL;
		for (it = q->head; it; prev = it, it = it->next) {
			if (!it->ready)
				continue;
			if (it->at > now) {
				if (it->at - now <= QUEUE_WARM_UP_MS)
					playout_warm_up(&n->po, mono_ms() + (it->at - now) + 1000);
				continue;
			}
			break;
		}
		if (!it)
			return;
		unlink_item(q, prev, it);
		if (!cache_has(&n->cache, it->content)) {
			/* removed behind our back: get it again */
			it->ready = 0;
			if (q->tail)
				q->tail->next = it;
			else
				q->head = it;
			q->tail = it;
			q->n++;
			fetch_want(n, it->content, it->bytes);
			continue;
		}
		cache_path(&n->cache, it->content, ".opus", path, sizeof(path));
		cache_touch(&n->cache, it->content);
		q->current = it;
		if (playout_start(&n->po, path, it->volume, reason, sizeof(reason)) < 0) {
			q->current = NULL;
			status_error(n, "broadcast %s: %s", it->broadcast, reason);
			fail_item(n, it, reason);
			continue;
		}
		log_debug("starting broadcast %s (content %s)", it->broadcast, it->content);
		status_changed(n);
	}
}

int64_t queue_next_deadline(const struct node *n)
{
	const struct play_item *it;
	int64_t now = now_ms(), mono = mono_ms(), t = INT64_MAX, d;

	int idle = !playout_busy(&n->po) && !n->queue.current && !emergency_holds(n) &&
		   !live_holds(n);

	for (it = n->queue.head; it; it = it->next) {
		if (!it->ready)
			d = it->expires;
		else if (!idle)
			continue; /* the end of the current play calls us again */
		else if (it->at > now)
			d = it->at - QUEUE_WARM_UP_MS > now ? it->at - QUEUE_WARM_UP_MS : it->at;
		else
			d = now;
		d = mono + (d - now);
		if (d < t)
			t = d;
	}
	return t;
}

void queue_shutdown(struct node *n, const char *reason)
{
	struct play_queue *q = &n->queue;
	struct play_item *it;

	if (q->current) {
		it = q->current;
		q->current = NULL;
		log_warnx("play of broadcast %s (content %s) interrupted: %s", it->broadcast,
			  it->content, reason);
		emit_play(n, "play_failed", it, it->start_ms,
			  (int64_t)(n->po.frames_written * 1000 / n->cfg.alsa.rate), reason);
		free(it);
	}
	while ((it = q->head)) {
		unlink_item(q, NULL, it);
		fail_item(n, it, reason);
	}
}
