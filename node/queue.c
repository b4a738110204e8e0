/*
 * queue.c - see queue.h.
 */
#include "queue.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "amp.h"
#include "cache.h"
#include "clock.h"
#include "emergency.h"
#include "events.h"
#include "fetch.h"
#include "live.h"
#include "log.h"
#include "loop.h"
#include "node.h"
#include "plan.h"
#include "playout.h"
#include "status.h"
#include "util.h"

static const char *const level_names[LEVEL_COUNT] = { "relay", "normal", "priority", "live",
						      "emergency" };

const char *play_level_name(enum play_level l)
{
	return (unsigned)l < LEVEL_COUNT ? level_names[l] : "normal";
}

int play_level_parse(const char *s, enum play_level *out)
{
	int i;

	for (i = 0; i < LEVEL_COUNT; i++) {
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

/* ---------------------------------------------------------------- decisions */

int queue_preempts(enum play_level current, enum play_level candidate)
{
	return candidate > current;
}

int queue_requeue_ok(const struct play_item *it, int64_t now)
{
	return now < it->expires;
}

/* Due: its time (less the start lead) has come. */
static int item_due(const struct play_item *it, int64_t now, int64_t lead_ms)
{
	return it->at <= 0 || it->at - lead_ms <= now;
}

struct play_item *queue_pick(const struct play_queue *q, int64_t now, int64_t lead_ms)
{
	struct play_item *it, *best = NULL;

	for (it = q->head; it; it = it->next) {
		if (!it->ready || !item_due(it, now, lead_ms))
			continue;
		if (!best || it->level > best->level ||
		    (it->level == best->level && it->order < best->order))
			best = it;
	}
	return best;
}

/* ---------------------------------------------------------------- helpers */

/*
 * How early a scheduled item goes to the player: the device buffer (a
 * preempted play fades out after what the device holds) plus a margin; the
 * player pads with silence so the first sample still leaves at `at`.
 */
static int64_t start_lead_ms(const struct node *n)
{
	return (int64_t)n->cfg.alsa.buffer_ms + QUEUE_START_LEAD_MS;
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

static void remove_item(struct play_queue *q, struct play_item *it)
{
	struct play_item *p, *prev = NULL;

	for (p = q->head; p; prev = p, p = p->next) {
		if (p == it) {
			unlink_item(q, prev, it);
			return;
		}
	}
}

static void append_item(struct play_queue *q, struct play_item *it)
{
	it->next = NULL;
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->n++;
}

static void emit_play(struct node *n, const char *type, const struct play_item *it,
		      int64_t start_ms, int64_t duration_ms, const char *reason, const char *end)
{
	struct event_info info = {
		.broadcast = it->from_plan ? NULL : it->broadcast,
		.content = it->content,
		.start_ms = start_ms,
		.duration_ms = duration_ms,
		.reason = reason,
		.title = it->title,
		.level = play_level_name(it->level),
		.occurrence = it->from_plan ? it->broadcast : NULL,
		.plan_seq = it->from_plan ? it->plan_seq : 0,
		.scheduled_ms = it->at,
		.error_ms = clock_error_ms(&n->clock),
		.end = end,
		.preemptor = it->preemptor,
	};

	events_emit(n, type, &info);
}

static const char *what(const struct play_item *it)
{
	return it->from_plan ? "occurrence" : "broadcast";
}

/* A play that never started ends here (it is already out of the queue). */
static void fail_item(struct node *n, struct play_item *it, const char *reason)
{
	char content[CONTENT_ID_LEN + 1], chime[CONTENT_ID_LEN + 1];

	log_warnx("play of %s %s (content %s) failed: %s", what(it), it->broadcast, it->content,
		  reason);
	emit_play(n, "play_failed", it, 0, 0, reason, "failed");
	if (it->from_plan)
		plan_mark_done(n, it->broadcast, it->at);
	status_dirty(n);
	memcpy(content, it->content, sizeof(content));
	memcpy(chime, it->chime, sizeof(chime));
	free(it);
	if (n->stopping)
		return;
	if (!queue_wants(n, content) && !plan_references(n, content))
		fetch_cancel(n, content);
	if (chime[0] && !queue_wants(n, chime) && !plan_references(n, chime))
		fetch_cancel(n, chime);
}

static int item_uses(const struct play_item *it, const char *content)
{
	return strcmp(it->content, content) == 0 || (it->chime[0] &&
						     strcmp(it->chime, content) == 0);
}

int queue_uses(void *arg, const char *content)
{
	const struct node *n = arg;
	const struct play_item *it;

	if (n->queue.current && item_uses(n->queue.current, content))
		return 1;
	if (emergency_uses(n, content))
		return 1;
	for (it = n->queue.head; it; it = it->next)
		if (item_uses(it, content))
			return 1;
	return 0;
}

int queue_wants(const struct node *n, const char *content)
{
	const struct play_item *it;

	for (it = n->queue.head; it; it = it->next)
		if (!it->ready && item_uses(it, content))
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

int queue_has_occurrence(const struct node *n, const char *id)
{
	return known_broadcast(n, id);
}

static int item_ready(const struct node *n, const struct play_item *it)
{
	return cache_has(&n->cache, it->content) && (!it->chime[0] ||
						     cache_has(&n->cache, it->chime));
}

int queue_add(struct node *n, const struct play_item *item)
{
	struct play_queue *q = &n->queue;
	struct play_item *it;
	char when[64];

	if (known_broadcast(n, item->broadcast)) {
		log_warnx("%s %s is already queued or playing: ignoring the repeated play",
			  what(item), item->broadcast);
		return -EEXIST;
	}
	it = malloc(sizeof(*it));
	if (!it)
		return -ENOMEM;
	*it = *item;
	it->next = NULL;
	it->start_ms = 0;
	it->preempting = 0;
	it->preemptor[0] = '\0';
	it->preemptions = 0;
	it->order = ++q->next_order;
	if (q->n >= QUEUE_MAX) {
		fail_item(n, it, "the node's play queue is full");
		return -ENOSPC;
	}
	it->ready = item_ready(n, it);
	append_item(q, it);
	if (it->at > 0)
		snprintf(when, sizeof(when), "in %.1f s",
			 (double)(it->at - clock_now_ms(&n->clock)) / 1000.0);
	else
		snprintf(when, sizeof(when), "as soon as possible");
	log_info("queued %s %s: content %s, %s, level %s, volume %d%s%s%s", what(it),
		 it->broadcast, it->content, when, play_level_name(it->level), it->volume,
		 it->title[0] ? ", \"" : "", it->title, it->title[0] ? "\"" : "");
	if (!it->ready) {
		if (it->chime[0] && !cache_has(&n->cache, it->chime))
			fetch_want(n, it->chime, it->chime_bytes);
		if (!cache_has(&n->cache, it->content))
			fetch_want(n, it->content, it->bytes);
	}
	status_dirty(n);
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
		log_info("stopping %s %s (content %s)", what(q->current), q->current->broadcast,
			 q->current->content);
		q->current->preempting = 0; /* a stop wins over a preemption under way */
		q->current->preemptor[0] = '\0';
		playout_stop(&n->po);
		count++;
	}
	status_dirty(n);
	return count;
}

int queue_drop_plan_items(struct node *n)
{
	struct play_queue *q = &n->queue;
	struct play_item *it, *prev = NULL, *next;
	int count = 0;

	for (it = q->head; it; it = next) {
		next = it->next;
		if (!it->from_plan || it->preemptions > 0) {
			/* a preempted item has played: it finishes under its old plan */
			prev = it;
			continue;
		}
		unlink_item(q, prev, it);
		log_debug("occurrence %s leaves the queue: a newer plan replaces it",
			  it->broadcast);
		free(it);
		count++;
	}
	if (count)
		status_dirty(n);
	return count;
}

void queue_content_ready(struct node *n, const char *content)
{
	struct play_item *it;

	for (it = n->queue.head; it; it = it->next)
		if (!it->ready && item_uses(it, content))
			it->ready = item_ready(n, it);
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
		if (it->ready || !item_uses(it, content)) {
			prev = it;
			continue;
		}
		unlink_item(q, prev, it);
		fail_item(n, it, why);
	}
}

/* ---------------------------------------------------------------- player callbacks */

static void on_started(void *arg, int64_t start_ms)
{
	struct node *n = arg;
	struct play_item *it = n->queue.current;

	if (!it)
		return;
	/* the player's wall clock, in the controller's clock like everything here */
	it->start_ms = clock_from_local_ms(&n->clock, start_ms);
	if (it->at > 0)
		log_info("playing %s for %s %s (level %s, volume %d%s%s%s), %+.1f ms from its "
			 "time", it->content, what(it), it->broadcast, play_level_name(it->level),
			 it->volume, it->title[0] ? ", \"" : "", it->title,
			 it->title[0] ? "\"" : "", (double)(n->po.start_us / 1000 -
						clock_to_local_ms(&n->clock, it->at)) +
			 (double)(n->po.start_us % 1000) / 1000.0);
	else
		log_info("playing %s for %s %s (level %s, volume %d%s%s%s)", it->content,
			 what(it), it->broadcast, play_level_name(it->level), it->volume,
			 it->title[0] ? ", \"" : "", it->title, it->title[0] ? "\"" : "");
	if (it->from_plan)
		plan_mark_done(n, it->broadcast, it->at);
	emit_play(n, "play_started", it, it->start_ms, -1, "", NULL);
	status_dirty(n);
}

/* A higher level cut it: queue it again while it is valid, else log it as preempted. */
static void preempted_done(struct node *n, struct play_item *it, int64_t start_ms, int64_t dur)
{
	struct event_info info;
	int64_t now = clock_now_ms(&n->clock);
	int again = queue_requeue_ok(it, now) && n->queue.n < QUEUE_MAX;
	char why[300];

	it->preemptions++;
	snprintf(why, sizeof(why), "preempted by %s after %.1f s; %s", it->preemptor,
		 (double)dur / 1000.0, again ? "re-queued: it plays again from the start "
		 "afterwards" : "not re-queued: it has expired");
	log_info("%s %s (content %s) %s (level %s)", what(it), it->broadcast, it->content, why,
		 play_level_name(it->level));
	memset(&info, 0, sizeof(info));
	info.broadcast = it->from_plan ? NULL : it->broadcast;
	info.content = it->content;
	info.start_ms = start_ms;
	info.duration_ms = dur;
	info.reason = why;
	info.title = it->title;
	info.level = play_level_name(it->level);
	info.occurrence = it->from_plan ? it->broadcast : NULL;
	info.plan_seq = it->from_plan ? it->plan_seq : 0;
	info.scheduled_ms = it->at;
	info.error_ms = clock_error_ms(&n->clock);
	info.end = "preempted";
	info.preemptor = it->preemptor;
	info.requeued = again;
	events_emit(n, "play_preempted", &info);
	if (!again) {
		free(it);
		return;
	}
	it->preempting = 0;
	it->start_ms = 0;
	it->preemptor[0] = '\0';
	it->ready = item_ready(n, it);
	append_item(&n->queue, it); /* keeps its arrival order: first of its level */
}

static void on_done(void *arg, const struct playout_done *d)
{
	struct node *n = arg;
	struct play_item *it = n->queue.current;
	int64_t dur = (int64_t)(d->frames * 1000 / n->cfg.alsa.rate);
	int64_t start = d->start_ms ? clock_from_local_ms(&n->clock, d->start_ms) : 0;
	char why[400];

	n->queue.current = NULL;
	n->queue.preempted_by[0] = '\0';
	if (!it)
		return;
	switch (d->result) {
	case PO_FINISHED:
		log_info("finished %s for %s %s after %.1f s", it->content, what(it),
			 it->broadcast, (double)dur / 1000.0);
		emit_play(n, "play_finished", it, start, dur, "", "finished");
		break;
	case PO_STOPPED:
		if (it->preempting) {
			preempted_done(n, it, start, dur);
			status_dirty(n);
			return;
		}
		snprintf(why, sizeof(why), "stopped by the controller after %.1f s",
			 (double)dur / 1000.0);
		log_info("stopped %s for %s %s after %.1f s", it->content, what(it),
			 it->broadcast, (double)dur / 1000.0);
		emit_play(n, "play_failed", it, start, dur, why, "stopped");
		break;
	case PO_FAILED:
		if (d->start_ms)
			log_warnx("play of %s %s (content %s) failed after %.1f s: %s", what(it),
				  it->broadcast, it->content, (double)dur / 1000.0, d->reason);
		else
			log_warnx("play of %s %s (content %s) failed: %s", what(it),
				  it->broadcast, it->content, d->reason);
		status_error(n, "play of %s %s failed: %s", what(it), it->broadcast, d->reason);
		emit_play(n, "play_failed", it, start, dur, d->reason, "failed");
		if (it->from_plan)
			plan_mark_done(n, it->broadcast, it->at);
		break;
	}
	free(it);
	status_dirty(n);
}

void queue_init(struct node *n)
{
	memset(&n->queue, 0, sizeof(n->queue));
	n->po.on_started = on_started;
	n->po.on_done = on_done;
	n->po.cb_arg = n;
}

/* ---------------------------------------------------------------- preemption */

/* Start fading the current play out for by (a play, an emergency, a live session). */
static void begin_preemption(struct node *n, const char *by)
{
	struct play_item *cur = n->queue.current;

	cur->preempting = 1;
	snprintf(cur->preemptor, sizeof(cur->preemptor), "%s", by);
	snprintf(n->queue.preempted_by, sizeof(n->queue.preempted_by), "%s", by);
	playout_stop(&n->po); /* may end it (and call on_done) right here */
}

int queue_preempt(struct node *n, const char *by)
{
	struct play_item *cur = n->queue.current;

	if (!cur)
		return 0;
	if (cur->preempting)
		return 1;
	log_info("%s %s (level %s) gives way to %s", what(cur), cur->broadcast,
		 play_level_name(cur->level), by);
	begin_preemption(n, by);
	return 1;
}

/* ---------------------------------------------------------------- tick */

/* Fail what can no longer start before its expiry. */
static void expire_items(struct node *n, int64_t now)
{
	struct play_queue *q = &n->queue;
	struct play_item *it, *prev = NULL, *next;

	for (it = q->head; it; it = next) {
		next = it->next;
		if (now < it->expires) {
			prev = it;
			continue;
		}
		unlink_item(q, prev, it);
		if (it->from_plan) {
			log_warnx("occurrence %s (content %s) did not start before its expiry: %s",
				  it->broadcast, it->content, it->ready ?
				  "the output was held by higher or earlier plays" :
				  "its content was not delivered in time");
			fail_item(n, it, "expired");
		} else {
			fail_item(n, it, it->ready ? "expired before it could start (the output "
				  "was held by higher or earlier plays)" :
				  "content not delivered before the command expired");
		}
	}
}

/* Start a picked item; 0 when the player took it. */
static int start_item(struct node *n, struct play_item *it)
{
	struct play_queue *q = &n->queue;
	char path[PATH_MAX + 80], chime[PATH_MAX + 80], reason[400];
	struct playout_req req;

	remove_item(q, it);
	if (!item_ready(n, it)) {
		/* removed behind our back: get it again */
		it->ready = 0;
		append_item(q, it);
		if (!cache_has(&n->cache, it->content))
			fetch_want(n, it->content, it->bytes);
		if (it->chime[0] && !cache_has(&n->cache, it->chime))
			fetch_want(n, it->chime, it->chime_bytes);
		return -ENOENT;
	}
	cache_path(&n->cache, it->content, ".opus", path, sizeof(path));
	cache_touch(&n->cache, it->content);
	memset(&req, 0, sizeof(req));
	req.path = path;
	/* the master volume (loaxa node volume) scales all but emergencies */
	req.volume = it->level >= LEVEL_EMERGENCY ? it->volume
						 : sysinfo_effective_volume(n, it->volume);
	if (it->chime[0]) {
		cache_path(&n->cache, it->chime, ".opus", chime, sizeof(chime));
		cache_touch(&n->cache, it->chime);
		req.chime = chime;
	}
	/* the first sample at `at`, in this machine's monotonic clock */
	if (it->at > 0)
		req.at_mono_us = clock_to_mono_us(&n->clock, it->at);
	/*
	 * ... but never before the amplifier has had its warm-up: an
	 * immediate play (or one whose time came sooner than the warm-up)
	 * starts at now + what is left of the lead, silence until then.
	 */
	{
		int64_t ready_us = amp_ready_mono(n, it->warmup_s >= 0 ? it->warmup_s * 1000 :
						  amp_default_warmup_ms(n)) * 1000;
		/* a scheduled item's amplifier went on warmup_s ahead (amp_tick): a few
		 * ms of that loop's lateness do not move its time */
		int64_t from_us = req.at_mono_us > 0 ?
			req.at_mono_us + (AMP_START_MS + 20) * 1000 : mono_us();

		if (ready_us > from_us + 1000) {
			log_info("%s %s waits %.1f s for the amplifier's warm-up: its first sample "
				 "plays once the amplifier has been on for its lead",
				 what(it), it->broadcast, (double)(ready_us - from_us) / 1e6);
			req.at_mono_us = ready_us;
		}
	}
	q->current = it;
	if (playout_start_req(&n->po, &req, reason, sizeof(reason)) < 0) {
		q->current = NULL;
		status_error(n, "%s %s: %s", what(it), it->broadcast, reason);
		fail_item(n, it, reason);
		return -EIO;
	}
	log_debug("starting %s %s (content %s)", what(it), it->broadcast, it->content);
	status_dirty(n);
	return 0;
}

void queue_tick(struct node *n)
{
	struct play_queue *q = &n->queue;
	struct play_item *it;
	int64_t now = clock_now_ms(&n->clock), lead = start_lead_ms(n);

	expire_items(n, now);
	if (n->stopping)
		return;
	it = queue_pick(q, now, lead);
	/* a live session gives way to a higher play (an emergency play) */
	if (it && live_holds(n) && queue_preempts(LEVEL_LIVE, it->level)) {
		log_info("the live session gives way to %s %s (level %s)", what(it),
			 it->broadcast, play_level_name(it->level));
		live_yield(n);
	}
	/* a higher level cuts the current play at once (faded) */
	if (q->current && !q->current->preempting && it &&
	    queue_preempts(q->current->level, it->level)) {
		struct play_item *cur = q->current;

		log_info("%s %s (level %s) gives way to %s %s (level %s)", what(cur),
			 cur->broadcast, play_level_name(cur->level), what(it), it->broadcast,
			 play_level_name(it->level));
		begin_preemption(n, it->broadcast);
	}
	/* an emergency or a live session holds the player: nothing starts */
	if (emergency_holds(n) || live_holds(n))
		return;
	while (!playout_busy(&n->po) && !q->current && !n->stopping) {
		it = queue_pick(q, now, lead);
		if (!it)
			break;
		start_item(n, it);
	}
	/* open the device (and power the amplifier) ahead of what comes next */
	if (!playout_busy(&n->po)) {
		for (it = q->head; it; it = it->next) {
			if (it->ready && it->at > now && it->at - now <= QUEUE_WARM_UP_MS + lead)
				playout_warm_up(&n->po, mono_ms() + (it->at - now) + 1000);
		}
	}
}

int64_t queue_next_deadline(const struct node *n)
{
	const struct play_item *it;
	int64_t now = clock_now_ms(&n->clock), mono = mono_ms(), t = INT64_MAX, d;
	int64_t lead = start_lead_ms(n);
	int idle = !playout_busy(&n->po) && !n->queue.current && !emergency_holds(n) &&
		   !live_holds(n);

	for (it = n->queue.head; it; it = it->next) {
		d = it->expires;
		if (it->ready) {
			int64_t due = it->at > 0 ? it->at - lead : now;

			/*
			 * Busy: only a higher level (preemption) or the expiry
			 * needs us before the current play ends (which calls us).
			 */
			if (idle || (n->queue.current &&
				     queue_preempts(n->queue.current->level, it->level)) ||
			    (live_holds(n) && queue_preempts(LEVEL_LIVE, it->level))) {
				if (idle && due - QUEUE_WARM_UP_MS > now)
					due -= QUEUE_WARM_UP_MS;
				if (due < d)
					d = due;
			}
		}
		if (d < now)
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
		log_warnx("play of %s %s (content %s) interrupted: %s", what(it), it->broadcast,
			  it->content, reason);
		emit_play(n, "play_failed", it, it->start_ms,
			  (int64_t)(n->po.frames_written * 1000 / n->cfg.alsa.rate), reason,
			  "failed");
		free(it);
	}
	while ((it = q->head)) {
		unlink_item(q, NULL, it);
		if (it->from_plan && it->preemptions == 0) {
			/* not started: the plan still has it, the next start plays it */
			free(it);
			continue;
		}
		fail_item(n, it, reason);
	}
}

/* ---- the event loop (loop.h): main.c registers this module ---- */

static void loop_tick(struct loop *l, int64_t mono, void *arg)
{
	(void)l;
	(void)mono;
	queue_tick(arg);
}

static int64_t loop_deadline(void *arg)
{
	return queue_next_deadline(arg);
}

/* This module's part of the status (status.h). */
static void status_part(struct node *n, json_t *status)
{
	const struct play_item *cur = queue_current(&n->queue);
	json_t *playing = NULL;

	if (cur)
		playing = json_pack("{s:s, s:s, s:s, s:I, s:i, s:s}",
				    cur->from_plan ? "occurrence" : "broadcast",
				    cur->broadcast, "content", cur->content, "level",
				    play_level_name(cur->level), "since",
				    (json_int_t)cur->start_ms, "volume", cur->volume, "title",
				    cur->title);
	json_object_set_new(status, "playing", playing ? playing : json_null());
	json_object_set_new(status, "queue", json_integer((json_int_t)queue_pending(&n->queue)));
}

int queue_register(struct loop *l, struct node *n)
{
	int rc = loop_tick_add(l, "queue", loop_tick, loop_deadline, n);

	if (rc >= 0)
		rc = status_provider_add(n, status_part);
	return rc < 0 ? rc : 0;
}
