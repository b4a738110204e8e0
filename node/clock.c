/*
 * clock.c - see clock.h.
 */
#include "clock.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "envelope.h"
#include "log.h"
#include "loop.h"
#include "mqtt.h"
#include "node.h"
#include "util.h"
#include "topic.h"

#define CLOCK_FILE_MAX 4096

static int64_t real_us(void)
{
	return now_us();
}

/* Wall clock minus monotonic clock, now (changes when the wall clock is stepped). */
static int64_t real_minus_mono_us(void)
{
	int64_t m = mono_us(), r = real_us(), m2 = mono_us();

	return r - (m + (m2 - m) / 2);
}

static int64_t drift_us(int64_t age_us)
{
	if (age_us < 0)
		age_us = -age_us;
	return (int64_t)((double)age_us * CLOCK_DRIFT_PPM / 1e6);
}

/* ---------------------------------------------------------------- pure parts */

void clock_sample_make(struct clock_sample *s, int64_t t1_mono, int64_t t2, int64_t t3,
		       int64_t t4_mono)
{
	/* (t2 - t1) + (t3 - t4), halved: the offset as if the path were symmetric */
	s->offset_us = ((t2 - t1_mono) + (t3 - t4_mono)) / 2;
	s->delay_us = (t4_mono - t1_mono) - (t3 - t2);
	s->mono_us = t4_mono;
}

int clock_select(const struct clock_sample *win, size_t n, int64_t now_mono_us,
		 int64_t *err_us)
{
	int64_t best_err = INT64_MAX;
	int best = -1;
	size_t i;

	for (i = 0; i < n; i++) {
		int64_t e = win[i].delay_us / 2 + drift_us(now_mono_us - win[i].mono_us);

		if (e < best_err) {
			best_err = e;
			best = (int)i;
		}
	}
	if (err_us)
		*err_us = best >= 0 ? best_err : 0;
	return best;
}

int clock_add_sample(struct node_clock *c, const struct clock_sample *s)
{
	int64_t now = s->mono_us;
	int best, stepped = 0;

	/*
	 * The true offset lies within s->offset_us ± delay/2, and within the
	 * estimate ± its bound (grown by drift since). Two intervals that do not
	 * meet, by more than CLOCK_STEP_US, are two different clocks: the
	 * controller's wall clock was stepped. Without this the older samples,
	 * often with a shorter round trip, kept winning for up to CLOCK_WINDOW
	 * pings (4 minutes) and every play in between started off by the step.
	 */
	if (c->source == CLOCK_MEASURED && c->nwin > 0) {
		int64_t d = s->offset_us - c->off_mono_us;

		if (d < 0)
			d = -d;
		if (d > s->delay_us / 2 + c->err_us + drift_us(now - c->ref_mono_us) +
			       CLOCK_STEP_US) {
			c->nwin = 0;
			c->next = 0;
			c->steps++;
			stepped = 1;
		}
	}

	c->win[c->next] = *s;
	c->next = (c->next + 1) % CLOCK_WINDOW;
	if (c->nwin < CLOCK_WINDOW)
		c->nwin++;
	c->samples++;
	best = clock_select(c->win, c->nwin, now, NULL);
	if (best < 0)
		return stepped;
	c->off_mono_us = c->win[best].offset_us;
	c->err_us = c->win[best].delay_us / 2;
	c->ref_mono_us = c->win[best].mono_us;
	c->rtt_us = c->win[best].delay_us;
	c->source = CLOCK_MEASURED;
	c->dirty = 1;
	return stepped;
}

/* ---------------------------------------------------------------- conversions */

int64_t clock_now_us(const struct node_clock *c)
{
	if (c->source == CLOCK_NONE)
		return real_us();
	return mono_us() + c->off_mono_us;
}

int64_t clock_now_ms(const struct node_clock *c)
{
	return clock_now_us(c) / 1000;
}

int64_t clock_from_local_ms(const struct node_clock *c, int64_t local_ms)
{
	if (c->source == CLOCK_NONE || local_ms <= 0)
		return local_ms;
	return local_ms + (c->off_mono_us - real_minus_mono_us()) / 1000;
}

int64_t clock_to_local_ms(const struct node_clock *c, int64_t ctl_ms)
{
	if (c->source == CLOCK_NONE || ctl_ms <= 0)
		return ctl_ms;
	return ctl_ms - (c->off_mono_us - real_minus_mono_us()) / 1000;
}

int64_t clock_to_mono_us(const struct node_clock *c, int64_t ctl_ms)
{
	if (c->source == CLOCK_NONE)
		return ctl_ms * 1000 - real_minus_mono_us();
	return ctl_ms * 1000 - c->off_mono_us;
}

double clock_offset_ms(const struct node_clock *c)
{
	if (c->source == CLOCK_NONE)
		return 0.0;
	return (double)(c->off_mono_us - real_minus_mono_us()) / 1000.0;
}

double clock_error_ms(const struct node_clock *c)
{
	if (c->source == CLOCK_NONE)
		return -1.0;
	return (double)(c->err_us + drift_us(mono_us() - c->ref_mono_us)) / 1000.0;
}

/* ---------------------------------------------------------------- persistence */

int clock_init(struct node_clock *c, const char *state_dir)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	json_error_t jerr;
	json_t *o = NULL, *off, *err, *saved;
	int rc;

	memset(c, 0, sizeof(*c));
	c->fast_left = CLOCK_FAST_PINGS;
	if ((size_t)snprintf(c->path, sizeof(c->path), "%s/clock", state_dir) >=
	    sizeof(c->path))
		return -ENAMETOOLONG;
	rc = read_file(c->path, CLOCK_FILE_MAX, &buf, &len);
	if (rc == -ENOENT) {
		log_info("no clock estimate saved yet: using this machine's clock until the "
			 "controller answers a time ping");
		return 0;
	}
	if (rc < 0) {
		log_warnx("cannot read the clock estimate %s: %s (starting without it)",
			  c->path, strerror(-rc));
		return 0;
	}
	o = json_loadb((const char *)buf, len, 0, &jerr);
	off = json_object_get(o, "offset_ms");
	err = json_object_get(o, "error_ms");
	saved = json_object_get(o, "saved");
	if (!o || !json_is_number(off) || !json_is_number(err) || !json_is_integer(saved) ||
	    fabs(json_number_value(off)) > 1e12 || json_number_value(err) < 0 ||
	    json_number_value(err) > 1e12) {
		log_warnx("the clock estimate %s is damaged (fields offset_ms, error_ms, saved "
			  "expected): starting without it", c->path);
		goto out;
	}
	{
		int64_t rm = real_minus_mono_us(), now = mono_us();
		int64_t age_us = (real_us() / 1000 - json_integer_value(saved)) * 1000;

		c->off_mono_us = (int64_t)llround(json_number_value(off) * 1000.0) + rm;
		/* it was good to err_ms when saved; the clocks drifted since */
		c->err_us = (int64_t)llround(json_number_value(err) * 1000.0) + drift_us(age_us);
		c->ref_mono_us = now;
		c->source = CLOCK_SAVED;
		log_info("clock: the controller's clock is %+.1f ms from this machine's "
			 "(saved %.0f s ago, within %.1f ms)", clock_offset_ms(c),
			 (double)age_us / 1e6, clock_error_ms(c));
	}
out:
	json_decref(o);
	free(buf);
	return 0;
}

void clock_save(struct node_clock *c)
{
	char text[256];
	int rc;

	if (c->source == CLOCK_NONE)
		return;
	snprintf(text, sizeof(text),
		 "{\"offset_ms\": %.3f, \"error_ms\": %.3f, \"rtt_ms\": %.3f, \"saved\": "
		 "%" PRId64 "}\n", clock_offset_ms(c), clock_error_ms(c),
		 (double)c->rtt_us / 1000.0, real_us() / 1000);
	rc = write_file_atomic(c->path, text, strlen(text), 0640);
	if (rc < 0) {
		log_warnx("cannot save the clock estimate %s: %s", c->path, strerror(-rc));
		return;
	}
	c->dirty = 0;
	c->last_save_ms = mono_ms();
}

/* ---------------------------------------------------------------- ping / pong */

void clock_on_connect(struct node *n)
{
	struct node_clock *c = &n->clock;

	c->fast_left = CLOCK_FAST_PINGS;
	c->outstanding = 0;
	c->next_ping_ms = mono_ms();
}

static void send_ping(struct node *n, int64_t mono)
{
	struct node_clock *c = &n->clock;
	char topic[TOPIC_MAX], body[160];
	int rc;

	c->n++;
	c->t1_mono_us = mono_us();
	c->t1_us = real_us();
	snprintf(body, sizeof(body), "{\"node\":\"%s\",\"n\":%" PRIu64 ",\"t1\":%" PRId64 "}",
		 n->cfg.node, c->n, c->t1_us);
	topic_node(topic, sizeof(topic), n->root, n->cfg.node, LEAF_PING);
	rc = node_mqtt_publish(n, NODE_CONN_CTL, topic, body, strlen(body), 0, 0, NULL);
	c->outstanding = rc == 0;
	if (c->fast_left > 0)
		c->fast_left--;
	c->next_ping_ms = mono + (c->fast_left > 0 ? CLOCK_FAST_MS : CLOCK_PING_MS);
}

void clock_tick(struct node *n, int64_t mono)
{
	struct node_clock *c = &n->clock;
	int64_t rmm = real_minus_mono_us();

	/*
	 * This machine's wall clock was stepped (NTP synchronised it, after a
	 * boot or when the link came back). The estimate itself does not
	 * depend on it (it is kept on the monotonic clock), but a step here
	 * usually comes with one of the controller's (the same NTP, the same
	 * outage ending), which a ping every 30 s would notice late: measure
	 * again now, quickly, as after a reconnection.
	 */
	if (c->rmm_us != 0 && (rmm - c->rmm_us > CLOCK_OWN_STEP_US ||
			       c->rmm_us - rmm > CLOCK_OWN_STEP_US)) {
		log_info("this machine's clock moved by %+.1f s: measuring the controller's "
			 "clock again", (double)(rmm - c->rmm_us) / 1e6);
		c->fast_left = CLOCK_FAST_PINGS;
		c->next_ping_ms = mono;
		status_dirty(n);
	}
	c->rmm_us = rmm;

	if (c->outstanding && mono_us() - c->t1_mono_us > CLOCK_PONG_TIMEOUT_MS * 1000LL) {
		log_debug("time ping %" PRIu64 " unanswered after %d ms", c->n,
			  CLOCK_PONG_TIMEOUT_MS);
		c->outstanding = 0;
	}
	if (c->dirty && (c->last_save_ms == 0 || mono - c->last_save_ms >= CLOCK_SAVE_MS))
		clock_save(c);
	if (!node_mqtt_connected(n, NODE_CONN_CTL) || mono < c->next_ping_ms)
		return;
	send_ping(n, mono);
}

int64_t clock_next_deadline(const struct node *n)
{
	const struct node_clock *c = &n->clock;
	int64_t t = INT64_MAX;

	if (node_mqtt_connected(n, NODE_CONN_CTL))
		t = c->next_ping_ms;
	if (c->outstanding && c->t1_mono_us / 1000 + CLOCK_PONG_TIMEOUT_MS < t)
		t = c->t1_mono_us / 1000 + CLOCK_PONG_TIMEOUT_MS + 1;
	if (c->dirty) {
		int64_t s = c->last_save_ms ? c->last_save_ms + CLOCK_SAVE_MS : 0;
		if (s < t)
			t = s;
	}
	return t;
}

static int pong_int(json_t *o, const char *field, int64_t *out)
{
	json_t *v = json_object_get(o, field);

	if (!json_is_integer(v))
		return -EINVAL;
	*out = json_integer_value(v);
	return 0;
}

int clock_on_pong(struct node *n, const struct envelope *env, int64_t t4_us,
		  int64_t t4_mono_us)
{
	struct node_clock *c = &n->clock;
	struct clock_sample s;
	json_error_t jerr;
	json_t *o;
	int64_t pn, t1, t2, t3;
	int rc = -EINVAL;

	(void)t4_us;
	o = json_loadb((const char *)env->body, env->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o || !json_is_object(o) || pong_int(o, "n", &pn) < 0 || pong_int(o, "t1", &t1) < 0 ||
	    pong_int(o, "t2", &t2) < 0 || pong_int(o, "t3", &t3) < 0) {
		log_warnx("rejected a time answer: fields n, t1, t2, t3 (whole numbers) "
			  "expected");
		n->rejected_body++;
		goto out;
	}
	if (!c->outstanding || pn < 0 || (uint64_t)pn != c->n || t1 != c->t1_us) {
		/* late (after a newer ping) or replayed: not an error, not a sample */
		log_debug("time answer %" PRId64 " does not answer the ping in flight (%" PRIu64
			  "%s): ignored", pn, c->n, c->outstanding ? "" : ", none in flight");
		rc = -ESTALE;
		goto out;
	}
	c->outstanding = 0;
	if (t3 < t2 || t3 - t2 > 1000000) {
		log_warnx("rejected a time answer: the controller says it held the ping %" PRId64
			  " µs", t3 - t2);
		n->rejected_body++;
		goto out;
	}
	clock_sample_make(&s, c->t1_mono_us, t2, t3, t4_mono_us);
	if (s.delay_us < 0 || s.delay_us > CLOCK_MAX_DELAY_US) {
		log_debug("time answer %" PRId64 ": round trip %" PRId64 " µs: not used", pn,
			  s.delay_us);
		rc = -ERANGE;
		goto out;
	}
	{
		enum clock_source was = c->source;
		double before = clock_offset_ms(c);

		if (clock_add_sample(c, &s))
			log_warnx("clock: the controller's clock moved by %+.3f s (it was "
				  "stepped): the earlier measurements no longer apply",
				  (clock_offset_ms(c) - before) / 1000.0);
		if (was != CLOCK_MEASURED || fabs(clock_offset_ms(c) - before) > 50.0)
			log_info("clock: the controller's clock is %+.1f ms from this machine's "
				 "(within %.1f ms, round trip %.1f ms)", clock_offset_ms(c),
				 clock_error_ms(c), (double)c->rtt_us / 1000.0);
		else
			log_debug("clock sample: offset %+.3f ms, round trip %.3f ms; estimate "
				  "%+.3f ms within %.3f ms", (double)(s.offset_us -
								  real_minus_mono_us()) / 1000.0,
				  (double)s.delay_us / 1000.0, clock_offset_ms(c),
				  clock_error_ms(c));
		if (was != CLOCK_MEASURED)
			clock_save(c);
		status_dirty(n);
	}
	rc = 0;
out:
	json_decref(o);
	return rc;
}

/* ---- the event loop (loop.h): main.c registers this module ---- */

static void loop_tick(struct loop *l, int64_t mono, void *arg)
{
	(void)l;
	clock_tick(arg, mono);
}

static int64_t loop_deadline(void *arg)
{
	return clock_next_deadline(arg);
}

/* The answers to our time pings (the subscription table, mqtt.h). */
static void on_msg(struct node *n, const struct node_msg *m)
{
	(void)clock_on_pong(n, m->env, m->arrival_us, m->arrival_mono_us);
}

/* This module's part of the status (status.h). */
static void status_part(struct node *n, json_t *status)
{
	double err = clock_error_ms(&n->clock);

	json_object_set_new(status, "clock",
			    json_pack("{s:f, s:o, s:I, s:f, s:s}", "offset_ms",
				      (double)(int64_t)(clock_offset_ms(&n->clock) * 10.0) / 10.0,
				      "error_ms", err < 0 ? json_null() :
				      json_real((double)(int64_t)(err * 10.0 + 0.5) / 10.0),
				      "samples", (json_int_t)n->clock.samples, "rtt_ms",
				      (double)n->clock.rtt_us / 1000.0, "source",
				      n->clock.source == CLOCK_MEASURED ? "measured" :
				      n->clock.source == CLOCK_SAVED ? "saved" : "none"));
}

int clock_register(struct loop *l, struct node *n)
{
	int rc = node_mqtt_subscribe(n, LEAF_PONG, NODE_SUB_SELF, NODE_CONN_CTL, 1, on_msg);

	if (rc >= 0)
		rc = status_provider_add(n, status_part);
	if (rc < 0)
		return rc;
	rc = loop_tick_add(l, "clock", loop_tick, loop_deadline, n);
	return rc < 0 ? rc : 0;
}
