/*
 * live.c - see live.h.
 */
#include "live.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <opus.h>

#include "amp.h"
#include "emergency.h"
#include "envelope.h"
#include "clock.h"
#include "cmd.h"
#include "events.h"
#include "livebody.h"
#include "log.h"
#include "loop.h"
#include "node.h"
#include "playout.h"
#include "queue.h"
#include "status.h"
#include "util.h"
#include "topic.h"

#define LEVEL_BODY_RELAY 0
#define LEVEL_BODY_LIVE 3
#define LEVEL_BODY_EMERGENCY 4

static const char *level_name(uint8_t l)
{
	return l == LEVEL_BODY_RELAY ? "relay" : l == LEVEL_BODY_LIVE ? "live" : "emergency";
}

/*
 * Controller time minus node wall-clock time, in us, from the node's
 * ping/pong estimate (node/clock.c). Frames carry controller time; the
 * player asks in node wall-clock time. With no estimate yet this is 0: the
 * node trusts its own (NTP-disciplined) clock until the first pong.
 */
static int64_t controller_offset_us(const struct node *n)
{
	return clock_now_us(&n->clock) - now_us();
}

int live_holds(const struct node *n)
{
	return n->live.active && n->live.playing && n->live.level != LEVEL_BODY_RELAY;
}

static void emit(struct node *n, const char *type, int64_t start_ms, int64_t dur,
		 const char *reason)
{
	struct event_info info = {
		.broadcast = n->live.id,
		.start_ms = start_ms,
		.duration_ms = dur,
		.reason = reason,
		.title = level_name(n->live.level),
		.error_ms = clock_error_ms(&n->clock),
	};

	events_emit(n, type, &info);
}

/* Decode frame seq into l->pcm: the frame, else FEC from the next, else PLC. */
static void decode_frame(struct node_live *l, uint32_t seq)
{
	const struct jitter_slot *s = jitter_get(&l->jb, seq), *next;
	int got;

	if (s) {
		got = opus_decode(l->dec, s->data, s->len, l->pcm, LIVE_FRAME_SAMPLES, 0);
		l->frames++;
	} else if ((next = jitter_get(&l->jb, seq + 1))) {
		got = opus_decode(l->dec, next->data, next->len, l->pcm, LIVE_FRAME_SAMPLES, 1);
		l->lost++;
		l->fec++;
	} else {
		got = opus_decode(l->dec, NULL, 0, l->pcm, LIVE_FRAME_SAMPLES, 0);
		l->lost++;
		l->plc++;
	}
	if (got != LIVE_FRAME_SAMPLES) {
		if (got < 0)
			l->bad++;
		memset(l->pcm + (got > 0 ? got : 0), 0,
		       (size_t)(LIVE_FRAME_SAMPLES - (got > 0 ? got : 0)) * sizeof(int16_t));
	}
	l->pcm_seq = seq;
	l->pcm_valid = 1;
	/* it is played now: a copy arriving later is late */
	jitter_release_before(&l->jb, seq + 1);
}

/*
 * The player wants max samples, the first heard at play_us (node clock).
 * Sample s of the session (48 kHz units from frame 0) is heard at
 * t_base + latency + s / 48 kHz, controller time; we keep a cursor and
 * correct it when the player's idea of "when" drifts by more than 5 ms (an
 * underrun, a resumed session).
 */
static int src_read(void *arg, int16_t *buf, size_t max, int64_t play_us)
{
	struct node *n = arg;
	struct node_live *l = &n->live;
	int64_t want = (play_us + controller_offset_us(n) - l->t_base_us -
			(int64_t)l->latency_ms * 1000 - l->amp_delay_us) * 48 / 1000;
	size_t i = 0;

	if (!l->active)
		return -1;
	if (!l->cursor_set || llabs(want - l->cursor) > LIVE_RESYNC_SAMPLES) {
		if (l->cursor_set)
			l->resyncs++;
		l->cursor = want;
		l->cursor_set = 1;
	} else if (want - l->cursor > LIVE_SLEW_DEADBAND) {
		/* a little behind (the first estimate, clock drift): skip one sample per
		 * call, inaudible, until in step again */
		l->cursor++;
		l->slews++;
	} else if (l->cursor - want > LIVE_SLEW_DEADBAND) {
		l->cursor--; /* a little ahead: play one sample twice */
		l->slews++;
	}
	while (i < max) {
		int64_t s = l->cursor, seq64 = s >= 0 ? s / LIVE_FRAME_SAMPLES : -1;
		size_t off = s >= 0 ? (size_t)(s % LIVE_FRAME_SAMPLES) : 0, k;

		if (seq64 < (int64_t)l->first_seq) {
			/* before the first frame we have: silence up to it */
			int64_t gap = (int64_t)l->first_seq * LIVE_FRAME_SAMPLES - s;

			k = gap < (int64_t)(max - i) ? (size_t)gap : max - i;
			memset(buf + i, 0, k * sizeof(int16_t));
		} else {
			uint32_t seq = (uint32_t)seq64;

			if (l->ended && seq > l->last_seq)
				break;
			if (!l->pcm_valid || l->pcm_seq != seq)
				decode_frame(l, seq);
			k = LIVE_FRAME_SAMPLES - off;
			if (k > max - i)
				k = max - i;
			memcpy(buf + i, l->pcm + off, k * sizeof(int16_t));
		}
		i += k;
		l->cursor += (int64_t)k;
	}
	return i == 0 && l->ended ? -1 : (int)i;
}

static void end_session(struct node *n, const char *reason)
{
	struct node_live *l = &n->live;
	char why[300];
	int64_t dur = l->start_ms ? now_ms() - l->start_ms : -1;

	if (!l->active)
		return;
	snprintf(why, sizeof(why), "%s; frames %" PRIu64 ", late %" PRIu64 ", lost %" PRIu64
		 " (fec %" PRIu64 ", plc %" PRIu64 ")", reason, l->frames, l->jb.late, l->lost,
		 l->fec, l->plc);
	log_info("live session %s (%s) ended: %s", l->id, level_name(l->level), why);
	if (l->confirmed)
		emit(n, "live_ended", l->start_ms, dur, why);
	l->active = 0;
	if (l->playing) {
		l->playing = 0;
		playout_stop(&n->po);
	}
	if (l->level == LEVEL_BODY_EMERGENCY)
		emergency_live_ended(n);
	status_dirty(n);
}

static void start_session(struct node *n, const struct live_batch *b)
{
	struct node_live *l = &n->live;

	if (l->active)
		end_session(n, "replaced by a new session");
	jitter_reset(&l->jb, b->seq);
	opus_decoder_ctl(l->dec, OPUS_RESET_STATE);
	l->active = 1;
	l->session = b->session;
	l->level = b->level;
	l->latency_ms = b->latency_ms;
	l->t_base_us = b->t0_us - (int64_t)b->seq * 20000;
	l->amp_delay_us = 0;
	l->amp_delay_set = 0;
	l->first_seq = b->seq;
	l->high_seq = b->seq;
	l->ended = 0;
	l->pcm_valid = 0;
	l->cursor_set = 0;
	l->playing = l->yielding = l->confirmed = 0;
	l->start_ms = 0;
	l->frames = l->lost = l->fec = l->plc = l->resyncs = l->slews = l->bad = 0;
	snprintf(l->id, sizeof(l->id), "l-%08" PRIx32, b->session);
	log_info("live session %s (%s, latency %u ms) begins at frame %" PRIu32, l->id,
		 level_name(l->level), l->latency_ms, b->seq);
	status_dirty(n);
}

void live_on_batch(struct node *n, const char *topic, const struct envelope *env)
{
	struct node_live *l = &n->live;
	struct live_batch b;
	char why[200];
	unsigned i;

	if (live_body_parse(env->body, env->body_len, &b, why, sizeof(why)) < 0) {
		log_warnx("rejected message on %s: %s", topic, why);
		n->rejected_body++;
		status_dirty(n);
		return;
	}
	if (strcmp(topic + strlen(n->root) + 1, b.to) != 0) {
		/* one line per refused session and topic, not per batch */
		int quiet = l->refused_topic[0] && l->refused_session == b.session &&
			    strcmp(l->refused_topic, topic) == 0;

		l->refused_session = b.session;
		snprintf(l->refused_topic, sizeof(l->refused_topic), "%s", topic);
		if (!cmd_target_ok(n, topic, b.to, "live audio", quiet))
			return;
	}
	if (b.level == LEVEL_BODY_EMERGENCY && !emergency_wants_live(n)) {
		/* a signed stream, but no live emergency was started: play nothing */
		log_warnx("rejected message on %s: live audio at level emergency while no live "
			  "emergency is active", topic);
		n->rejected_body++;
		status_dirty(n);
		return;
	}
	if (!l->active || l->session != b.session) {
		if (l->active && b.seq != 0 && l->last_rx_mono &&
		    mono_ms() - l->last_rx_mono < LIVE_TIMEOUT_MS && l->level == LEVEL_BODY_LIVE &&
		    b.level == LEVEL_BODY_RELAY) {
			/* a relay must not cut into a live session that is still going */
			log_debug("relay batch while live session %s runs: ignored", l->id);
			return;
		}
		start_session(n, &b);
	}
	for (i = 0; i < b.nframes; i++) {
		uint32_t seq = b.seq + i;

		jitter_put(&l->jb, seq, b.frame[i], b.len[i]);
		if (seq > l->high_seq)
			l->high_seq = seq;
	}
	if (b.flags & LIVE_FLAG_LAST) {
		l->ended = 1;
		l->last_seq = b.seq + b.nframes - 1;
	}
	l->last_rx_mono = mono_ms();
	live_tick(n);
}

void live_yield(struct node *n)
{
	struct node_live *l = &n->live;

	if (!l->playing)
		return;
	log_info("live session %s yields the player", l->id);
	l->yielding = 1;
	playout_stop(&n->po);
}

static void on_started(void *arg, int64_t start_ms)
{
	struct node *n = arg;
	struct node_live *l = &n->live;

	if (!l->playing) {
		if (l->next_started)
			l->next_started(arg, start_ms);
		return;
	}
	if (!l->confirmed) {
		l->confirmed = 1;
		l->start_ms = start_ms;
		log_info("live session %s (%s) playing: first sample at %" PRId64, l->id,
			 level_name(l->level), start_ms);
		emit(n, "live_started", start_ms, -1, "");
		if (l->level == LEVEL_BODY_EMERGENCY)
			emergency_live_started(n, start_ms);
		status_dirty(n);
	}
}

static void on_done(void *arg, const struct playout_done *d)
{
	struct node *n = arg;
	struct node_live *l = &n->live;

	if (!l->playing) {
		if (l->next_done)
			l->next_done(arg, d);
		return;
	}
	l->playing = 0;
	l->pcm_valid = 0;
	l->cursor_set = 0;
	if (l->yielding) {
		l->yielding = 0;
		return; /* resumes in live_tick when the player is free */
	}
	if (d->result == PO_FAILED)
		end_session(n, d->reason);
	else if (l->active)
		end_session(n, l->ended ? "finished" : "stopped");
}

/*
 * The first time a session plays on this node, the amplifier may still be
 * off: rather than lose what is said during its warm-up, the whole session
 * plays that much later here (what would have been heard first now is heard
 * once the amplifier has had its lead; docs/node.md "Amplifier"). Decided
 * once per session: after an emergency the amplifier is warm, and a session
 * that plays again must stay at the same place. The jitter buffer holds
 * JITTER_SLOTS frames, so latency + delay stays below that; a longer warm-up
 * loses its excess (logged).
 */
static void amp_delay(struct node *n)
{
	struct node_live *l = &n->live;
	int64_t ready = amp_ready_mono(n, amp_default_warmup_ms(n));
	int64_t now_ctl = clock_now_us(&n->clock), first, ready_ctl, d, max;

	if (l->amp_delay_set)
		return;
	l->amp_delay_set = 1;
	ready_ctl = now_ctl + (ready * 1000 - mono_us());
	first = l->t_base_us + (int64_t)l->first_seq * 20000 + (int64_t)l->latency_ms * 1000;
	if (first < now_ctl)
		first = now_ctl;
	d = ready_ctl - first;
	if (d <= 1000)
		return;
	max = ((int64_t)JITTER_SLOTS * 20 - (int64_t)l->latency_ms - 500) * 1000;
	if (d > max) {
		log_warnx("live session %s: the amplifier's warm-up (%.1f s) is longer than a "
			  "live session can wait here: the first %.1f s are not heard", l->id,
			  (double)d / 1e6, (double)(d - max) / 1e6);
		d = max > 0 ? max : 0;
	}
	l->amp_delay_us = d;
	log_info("live session %s waits %.1f s for the amplifier's warm-up: it plays %.1f s "
		 "behind the stream on this node, nothing said is lost", l->id, (double)d / 1e6,
		 (double)d / 1e6);
}

/*
 * Whether a queued play is due (a relay yields to it). Due means early
 * enough for the aligned start: the player needs the device buffer plus a
 * margin ahead of `at` (controller time, like `at`) to land the first
 * sample on time; yielding at `at` itself made the item start late.
 */
static int queue_has_due(const struct node *n)
{
	const struct play_item *it;
	int64_t now = clock_now_ms(&n->clock) + (int64_t)n->cfg.alsa.buffer_ms + 300;

	for (it = n->queue.head; it; it = it->next)
		if (it->ready && it->at <= now)
			return 1;
	return 0;
}

void live_tick(struct node *n)
{
	struct node_live *l = &n->live;
	const struct play_item *cur;
	struct playout_source src = { .read = src_read, .arg = n };
	char reason[300];

	if (!l->active)
		return;
	if (!l->ended && mono_ms() - l->last_rx_mono >= LIVE_TIMEOUT_MS) {
		l->ended = 1;
		l->last_seq = l->high_seq;
		log_warnx("live session %s: nothing received for %d s: ending after the last "
			  "frame received", l->id, LIVE_TIMEOUT_MS / 1000);
		if (!l->playing) {
			end_session(n, "the stream stopped");
			return;
		}
	}
	if (l->level == LEVEL_BODY_EMERGENCY)
		return; /* the emergency module decides when it plays */
	if (l->playing) {
		/* a relay gives way to anything the queue has due, and both to an emergency */
		if (emergency_holds(n) ||
		    (l->level == LEVEL_BODY_RELAY && queue_has_due(n)))
			live_yield(n);
		return;
	}
	if (l->ended && (int64_t)l->last_seq * 20000 + l->t_base_us +
			(int64_t)l->latency_ms * 1000 + l->amp_delay_us < clock_now_us(&n->clock)) {
		end_session(n, "finished while it could not play");
		return;
	}
	if (emergency_holds(n))
		return;
	cur = queue_current(&n->queue);
	if (l->level == LEVEL_BODY_RELAY) {
		if (cur || queue_has_due(n) || playout_busy(&n->po))
			return;
	} else if (cur && cur->level < LEVEL_EMERGENCY) {
		if (!n->queue.preempted_by[0])
			queue_preempt(n, l->id);
		return; /* starts when the preempted play has faded out */
	}
	if (playout_busy(&n->po))
		return;
	if (l->confirmed)
		log_info("live session %s (%s) plays again", l->id, level_name(l->level));
	amp_delay(n);
	l->playing = 1;
	if (playout_start_source(&n->po, &src, 100, reason, sizeof(reason)) < 0) {
		l->playing = 0;
		log_warnx("live session %s cannot play: %s", l->id, reason);
		end_session(n, reason);
	}
}

int live_emergency_play(struct node *n)
{
	struct node_live *l = &n->live;
	struct playout_source src = { .read = src_read, .arg = n };
	char reason[300];

	if (!l->active || l->level != LEVEL_BODY_EMERGENCY)
		return -EAGAIN;
	if (l->playing)
		return 0;
	amp_delay(n); /* after the tone the amplifier is warm: no delay then */
	l->playing = 1;
	if (playout_start_source(&n->po, &src, n->cfg.emergency_volume, reason,
				 sizeof(reason)) < 0) {
		l->playing = 0;
		log_warnx("live session %s cannot play: %s", l->id, reason);
		return -EIO;
	}
	return 0;
}

void live_emergency_stop(struct node *n)
{
	if (n->live.active && n->live.level == LEVEL_BODY_EMERGENCY)
		end_session(n, "the emergency ended");
}

int64_t live_next_deadline(const struct node *n)
{
	const struct node_live *l = &n->live;

	if (!l->active)
		return INT64_MAX;
	if (!l->playing)
		return mono_ms() + 20; /* waiting for the player or for the next batch */
	return l->ended ? INT64_MAX : l->last_rx_mono + LIVE_TIMEOUT_MS;
}

json_t *live_status_json(const struct node *n)
{
	const struct node_live *l = &n->live;

	if (!l->active)
		return json_null();
	return json_pack("{s:s, s:s, s:i, s:I, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "session",
			 l->id, "level", level_name(l->level), "latency_ms", (int)l->latency_ms,
			 "amp_delay_ms", (json_int_t)(l->amp_delay_us / 1000),
			 "playing", l->playing, "frames", (json_int_t)l->frames, "late",
			 (json_int_t)l->jb.late, "lost", (json_int_t)l->lost, "fec",
			 (json_int_t)l->fec, "plc", (json_int_t)l->plc, "resyncs",
			 (json_int_t)l->resyncs, "slews", (json_int_t)l->slews);
}

int live_init(struct node *n)
{
	struct node_live *l = &n->live;
	int err = 0, rc;

	memset(l, 0, sizeof(*l));
	rc = jitter_init(&l->jb);
	if (rc < 0)
		return rc;
	l->dec = opus_decoder_create(48000, 1, &err);
	if (!l->dec) {
		log_errorx("cannot create the Opus decoder for live audio: %s",
			   opus_strerror(err));
		jitter_free(&l->jb);
		return -ENOMEM;
	}
	l->next_started = n->po.on_started;
	l->next_done = n->po.on_done;
	n->po.on_started = on_started;
	n->po.on_done = on_done;
	n->po.cb_arg = n;
	return 0;
}

void live_free(struct node *n)
{
	struct node_live *l = &n->live;

	end_session(n, "node_stopping");
	if (l->dec)
		opus_decoder_destroy(l->dec);
	l->dec = NULL;
	jitter_free(&l->jb);
}

/* ---- the event loop (loop.h): main.c registers this module ---- */

static void loop_tick(struct loop *l, int64_t mono, void *arg)
{
	(void)l;
	(void)mono;
	live_tick(arg);
}

static int64_t loop_deadline(void *arg)
{
	return live_next_deadline(arg);
}

/* Live batches; QoS 0: a late frame is worthless, a retransmitted one only adds delay (the subscription table, mqtt.h). */
static void on_msg(struct node *n, const struct node_msg *m)
{
	live_on_batch(n, m->topic, m->env);
}

/* This module's part of the status (status.h). */
static void status_part(struct node *n, json_t *status)
{
	json_object_set_new(status, "live", live_status_json(n));
}

int live_register(struct loop *l, struct node *n)
{
	int rc = node_mqtt_subscribe(n, LEAF_LIVE, NODE_SUB_SELF | NODE_SUB_ZONES | NODE_SUB_ALL, NODE_CONN_CTL, 0, on_msg);

	if (rc >= 0)
		rc = status_provider_add(n, status_part);
	if (rc < 0)
		return rc;
	rc = loop_tick_add(l, "live", loop_tick, loop_deadline, n);
	return rc < 0 ? rc : 0;
}
