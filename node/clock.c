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

static int64_t grow_us(int64_t age_us, double ppm)
{
	if (age_us < 0)
		age_us = -age_us;
	return (int64_t)((double)age_us * ppm / 1e6);
}

/* The drift allowance when no line could be fitted. */
static double prior_grow_ppm(const struct node_clock *c)
{
	return c->drift_known ? c->grow_ppm : CLOCK_DRIFT_UNKNOWN_PPM;
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
		 double allow_ppm, int64_t *err_us)
{
	int64_t best_err = INT64_MAX;
	int best = -1;
	size_t i;

	for (i = 0; i < n; i++) {
		int64_t e = win[i].delay_us / 2 + grow_us(now_mono_us - win[i].mono_us, allow_ppm);

		if (e < best_err) {
			best_err = e;
			best = (int)i;
		}
	}
	if (err_us)
		*err_us = best >= 0 ? best_err : 0;
	return best;
}

int64_t clock_offset_at(const struct node_clock *c, int64_t mono)
{
	return c->off_mono_us + (int64_t)llround(c->drift_ppm * (double)(mono - c->ref_mono_us) /
						  1e6);
}

int64_t clock_bound_at(const struct node_clock *c, int64_t mono)
{
	return c->err_us + grow_us(mono - c->ref_mono_us, c->grow_ppm);
}

/*
 * The weighted least-squares line through the samples marked in use[],
 * times relative to ref. Returns 0 and the offset at ref, the drift
 * (ppm), their sigmas (µs, ppm), and the index of the worst sample (its
 * residual in half round trips) in *worst / *worst_z; -EDOM when the
 * samples do not determine a line.
 */
struct clock_line {
	double off_us, drift_ppm, sig_off_us, sig_drift_ppm, worst_z;
	int worst;
};

static double sample_sigma(const struct clock_sample *s)
{
	return (double)s->delay_us / 2.0 + CLOCK_NOISE_US;
}

static int fit_line(const struct clock_sample *win, size_t n, const int *use, int64_t ref,
		    struct clock_line *L)
{
	double sw = 0, swt = 0, swy = 0, tm, ym, sxx = 0, sxy = 0, b, a, chi = 0, red;
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		double w, t;

		if (!use[i])
			continue;
		w = 1.0 / (sample_sigma(&win[i]) * sample_sigma(&win[i]));
		t = (double)(win[i].mono_us - ref);
		sw += w;
		swt += w * t;
		swy += w * (double)(win[i].offset_us - win[0].offset_us);
		k++;
	}
	if (k < 3 || sw <= 0)
		return -EDOM;
	tm = swt / sw;
	ym = swy / sw;
	for (i = 0; i < n; i++) {
		double w, dt;

		if (!use[i])
			continue;
		w = 1.0 / (sample_sigma(&win[i]) * sample_sigma(&win[i]));
		dt = (double)(win[i].mono_us - ref) - tm;
		sxx += w * dt * dt;
		sxy += w * dt * ((double)(win[i].offset_us - win[0].offset_us) - ym);
	}
	if (sxx <= 0)
		return -EDOM;
	b = sxy / sxx;                  /* µs per µs */
	a = ym - b * tm;                /* at ref, relative to win[0] */
	L->worst = -1;
	L->worst_z = 0;
	for (i = 0; i < n; i++) {
		double r, z;

		if (!use[i])
			continue;
		r = (double)(win[i].offset_us - win[0].offset_us) -
		    (a + b * (double)(win[i].mono_us - ref));
		z = fabs(r) / sample_sigma(&win[i]);
		chi += z * z;
		if (z > L->worst_z) {
			L->worst_z = z;
			L->worst = (int)i;
		}
	}
	/*
	 * The residuals say how noisy the samples really are; but a few
	 * samples that happen to lie on a line say little, and a sample's
	 * error may be anywhere within its half round trip: never believe the
	 * noise to be below a third of it.
	 */
	red = chi / (double)(k - 2);
	if (red < 1.0 / 9.0)
		red = 1.0 / 9.0;
	L->off_us = a + (double)win[0].offset_us;
	L->drift_ppm = b * 1e6;
	L->sig_drift_ppm = sqrt(red / sxx) * 1e6;
	L->sig_off_us = sqrt(red * (1.0 / sw + tm * tm / sxx));
	return 0;
}

/* Choose the estimate from the window (c->win), at the newest sample. */
static void estimate(struct node_clock *c)
{
	int use[CLOCK_WINDOW];
	int64_t dmin = INT64_MAX, ref = INT64_MIN, first = INT64_MAX;
	size_t i, k = 0;
	struct clock_line L;
	int best;

	if (c->nwin == 0)
		return;
	for (i = 0; i < c->nwin; i++)
		if (c->win[i].delay_us < dmin)
			dmin = c->win[i].delay_us;
	c->rtt_us = dmin;
	for (i = 0; i < c->nwin; i++) {
		use[i] = c->win[i].delay_us <= 2 * dmin + CLOCK_GOOD_SLACK_US;
		if (!use[i])
			continue;
		k++;
		if (c->win[i].mono_us > ref)
			ref = c->win[i].mono_us;
		if (c->win[i].mono_us < first)
			first = c->win[i].mono_us;
	}
	c->fitted = 0;
	if (k >= CLOCK_FIT_MIN && ref - first >= CLOCK_FIT_SPAN_US) {
		int rc = fit_line(c->win, c->nwin, use, ref, &L);

		/*
		 * A sample more than 4 of its half round trips off the line
		 * (after the line's own noise) is not the same clock (a
		 * timestamp taken late, a small step): drop it, fit again,
		 * at most a quarter of them.
		 */
		while (rc == 0 && L.worst >= 0 && L.worst_z > 4.0 && k > CLOCK_FIT_MIN &&
		       k * 4 > c->nwin * 3) {
			use[L.worst] = 0;
			k--;
			rc = fit_line(c->win, c->nwin, use, ref, &L);
		}
		/*
		 * A line must say more than what is known without it: a few
		 * noisy samples over seconds (4G) give a drift good to
		 * thousands of ppm, worse than the unknown crystal's allowance
		 * or a drift measured for many minutes before a restart or a
		 * step. Once a line has been used, the prior is forgotten.
		 */
		if (rc == 0 && fabs(L.drift_ppm) <= CLOCK_DRIFT_MAX_PPM &&
		    CLOCK_SIGMAS * L.sig_drift_ppm + CLOCK_WANDER_PPM <
			    (c->prior_known ? c->prior_grow_ppm : CLOCK_DRIFT_UNKNOWN_PPM)) {
			c->off_mono_us = (int64_t)llround(L.off_us);
			c->ref_mono_us = ref;
			c->drift_ppm = L.drift_ppm;
			c->grow_ppm = CLOCK_SIGMAS * L.sig_drift_ppm + CLOCK_WANDER_PPM;
			/* a constant asymmetry of the path never averages out: dmin/2 */
			c->err_us = dmin / 2 + (int64_t)llround(CLOCK_NOISE_US +
								CLOCK_SIGMAS * L.sig_off_us);
			c->fitted = 1;
			c->drift_known = 1;
			c->prior_known = 0;
			c->used = k;
			return;
		}
	}
	/* no line: the best single sample, the drift known before (or none) */
	{
		double grow = prior_grow_ppm(c);
		double drift = c->drift_known ? c->drift_ppm : 0.0;
		int64_t now = c->win[(c->next + CLOCK_WINDOW - 1) % CLOCK_WINDOW].mono_us;

		best = clock_select(c->win, c->nwin, now, grow, NULL);
		if (best < 0)
			return;
		c->off_mono_us = c->win[best].offset_us;
		c->ref_mono_us = c->win[best].mono_us;
		c->err_us = c->win[best].delay_us / 2;
		c->drift_ppm = drift;
		c->grow_ppm = grow;
		c->used = 1;
	}
}

int clock_add_sample(struct node_clock *c, const struct clock_sample *s)
{
	int64_t now = s->mono_us;
	int stepped = 0;

	/*
	 * The true offset lies within s->offset_us ± delay/2, and within the
	 * estimate ± its bound (grown since). Two intervals that do not
	 * meet, by more than CLOCK_STEP_US, are two different clocks: the
	 * controller's wall clock was stepped. Without this the older samples,
	 * often with a shorter round trip, kept deciding for minutes and
	 * every play in between started off by the step. The drift stays
	 * (the node's crystal did not change) as the prior for the new clock.
	 */
	if (c->source == CLOCK_MEASURED && c->nwin > 0) {
		int64_t d = s->offset_us - clock_offset_at(c, now);

		if (d < 0)
			d = -d;
		if (d > s->delay_us / 2 + clock_bound_at(c, now) + CLOCK_STEP_US) {
			c->nwin = 0;
			c->next = 0;
			c->steps++;
			stepped = 1;
			if (c->drift_known && !c->prior_known) {
				c->prior_known = 1;
				c->prior_grow_ppm = c->grow_ppm;
			}
		}
	}

	c->win[c->next] = *s;
	c->next = (c->next + 1) % CLOCK_WINDOW;
	if (c->nwin < CLOCK_WINDOW)
		c->nwin++;
	c->samples++;
	estimate(c);
	c->source = CLOCK_MEASURED;
	c->dirty = 1;
	return stepped;
}

/* ---------------------------------------------------------------- conversions */

int64_t clock_now_us(const struct node_clock *c)
{
	int64_t m;

	if (c->source == CLOCK_NONE)
		return real_us();
	m = mono_us();
	return m + clock_offset_at(c, m);
}

int64_t clock_now_ms(const struct node_clock *c)
{
	return clock_now_us(c) / 1000;
}

/* Controller minus node wall clock now, µs. */
static int64_t wall_offset_us(const struct node_clock *c)
{
	return clock_offset_at(c, mono_us()) - real_minus_mono_us();
}

int64_t clock_from_local_ms(const struct node_clock *c, int64_t local_ms)
{
	if (c->source == CLOCK_NONE || local_ms <= 0)
		return local_ms;
	return local_ms + wall_offset_us(c) / 1000;
}

int64_t clock_to_local_ms(const struct node_clock *c, int64_t ctl_ms)
{
	if (c->source == CLOCK_NONE || ctl_ms <= 0)
		return ctl_ms;
	return ctl_ms - wall_offset_us(c) / 1000;
}

int64_t clock_to_mono_us(const struct node_clock *c, int64_t ctl_ms)
{
	int64_t x;

	if (c->source == CLOCK_NONE)
		return ctl_ms * 1000 - real_minus_mono_us();
	/*
	 * ctl = m + off + k (m - ref)  =>  m = ref + (ctl - off - ref) / (1 + k):
	 * a start 10 minutes ahead lands where the drift will have put it.
	 */
	x = ctl_ms * 1000 - c->off_mono_us - c->ref_mono_us;
	return c->ref_mono_us + (int64_t)llround((double)x / (1.0 + c->drift_ppm / 1e6));
}

double clock_offset_ms(const struct node_clock *c)
{
	if (c->source == CLOCK_NONE)
		return 0.0;
	return (double)wall_offset_us(c) / 1000.0;
}

double clock_error_ms(const struct node_clock *c)
{
	if (c->source == CLOCK_NONE)
		return -1.0;
	return (double)clock_bound_at(c, mono_us()) / 1000.0;
}

double clock_drift_ppm(const struct node_clock *c)
{
	return c->drift_ppm;
}

double clock_grow_ppm(const struct node_clock *c)
{
	return c->source == CLOCK_NONE ? CLOCK_DRIFT_UNKNOWN_PPM : c->grow_ppm;
}

/* ---------------------------------------------------------------- persistence */

int clock_init(struct node_clock *c, const char *state_dir)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	json_error_t jerr;
	json_t *o = NULL, *off, *err, *saved, *drift, *grow;
	int rc;

	memset(c, 0, sizeof(*c));
	c->fast_left = CLOCK_FAST_PINGS;
	c->fast_extra = CLOCK_FAST_EXTRA;
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
	drift = json_object_get(o, "drift_ppm");
	grow = json_object_get(o, "drift_error_ppm");
	/* saved: ms since the epoch, 1970 … 2286 (an age in µs must not overflow) */
	if (!o || !json_is_number(off) || !json_is_number(err) || !json_is_integer(saved) ||
	    fabs(json_number_value(off)) > 1e12 || json_number_value(err) < 0 ||
	    json_number_value(err) > 1e12 || json_integer_value(saved) <= 0 ||
	    json_integer_value(saved) >= 10000000000000LL) {
		log_warnx("the clock estimate %s is damaged (fields offset_ms, error_ms, saved "
			  "expected): starting without it", c->path);
		goto out;
	}
	/* drift_ppm and drift_error_ppm: absent in files of older versions */
	if ((drift || grow) &&
	    (!json_is_number(drift) || !json_is_number(grow) ||
	     fabs(json_number_value(drift)) > CLOCK_DRIFT_MAX_PPM ||
	     json_number_value(grow) < 0 || json_number_value(grow) > CLOCK_DRIFT_MAX_PPM)) {
		log_warnx("the clock estimate %s has a damaged drift (fields drift_ppm, "
			  "drift_error_ppm: ppm up to %.0f expected): using the offset without it",
			  c->path, CLOCK_DRIFT_MAX_PPM);
		drift = grow = NULL;
	}
	{
		int64_t rm = real_minus_mono_us(), now = mono_us();
		/* the wall clock runs on the same crystal as the monotonic one */
		int64_t age_us = (real_us() / 1000 - json_integer_value(saved)) * 1000;

		if (drift) {
			c->drift_ppm = json_number_value(drift);
			c->grow_ppm = json_number_value(grow);
			c->drift_known = 1;
			c->prior_known = 1;
			c->prior_grow_ppm = c->grow_ppm;
		} else {
			c->drift_ppm = 0;
			c->grow_ppm = CLOCK_DRIFT_UNKNOWN_PPM;
		}
		/*
		 * Good to error_ms when saved; since then the offset moved by the
		 * drift and the bound grew by its allowance. A saved time in the
		 * future (the RTC was set back) counts as an age just as well.
		 */
		c->off_mono_us = (int64_t)llround(json_number_value(off) * 1000.0) + rm +
				 (int64_t)llround(c->drift_ppm * (double)age_us / 1e6);
		c->err_us = (int64_t)llround(json_number_value(err) * 1000.0) +
			    grow_us(age_us, c->grow_ppm);
		c->ref_mono_us = now;
		c->source = CLOCK_SAVED;
		if (c->drift_known)
			log_info("clock: the controller's clock is %+.1f ms from this machine's "
				 "(saved %.0f s ago, drift %+.3f ppm, within %.1f ms)",
				 clock_offset_ms(c), (double)age_us / 1e6, c->drift_ppm,
				 clock_error_ms(c));
		else
			log_info("clock: the controller's clock is %+.1f ms from this machine's "
				 "(saved %.0f s ago, drift not measured: allowing %.0f ppm, within "
				 "%.1f ms)", clock_offset_ms(c), (double)age_us / 1e6,
				 CLOCK_DRIFT_UNKNOWN_PPM, clock_error_ms(c));
	}
out:
	json_decref(o);
	free(buf);
	return 0;
}

void clock_save(struct node_clock *c)
{
	char text[320];
	int rc;

	if (c->source == CLOCK_NONE)
		return;
	/* the offset and bound now, and how both move on from here */
	snprintf(text, sizeof(text),
		 "{\"offset_ms\": %.3f, \"error_ms\": %.3f, \"rtt_ms\": %.3f, \"drift_ppm\": "
		 "%.4f, \"drift_error_ppm\": %.4f, \"saved\": %" PRId64 "}\n",
		 clock_offset_ms(c), clock_error_ms(c), (double)c->rtt_us / 1000.0, c->drift_ppm,
		 c->grow_ppm, real_us() / 1000);
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
	c->fast_extra = CLOCK_FAST_EXTRA;
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
	/*
	 * Quickly until a drift line exists: the first answers after a
	 * (re)connection are often slow (the controller busy with the node's
	 * status and plan), too slow to be good samples, and 30 s apart the
	 * line would take minutes - minutes of starts walking off by the drift.
	 */
	if (c->fast_left == 0 && !c->fitted && c->fast_extra > 0) {
		c->fast_extra--;
		c->next_ping_ms = mono + CLOCK_FAST_MS;
		return;
	}
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
		c->fast_extra = CLOCK_FAST_EXTRA;
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
		int was_fitted = c->fitted;

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
				  "%+.3f ms within %.3f ms, drift %+.3f ppm (bound grows %.3f "
				  "ppm)", (double)(s.offset_us - real_minus_mono_us()) / 1000.0,
				  (double)s.delay_us / 1000.0, clock_offset_ms(c),
				  clock_error_ms(c), c->drift_ppm, c->grow_ppm);
		/* when the drift is first measured (again after a step): what the crystal does */
		if (c->fitted && !was_fitted)
			log_info("clock: drift %+.3f ppm (the offset changes %+.1f ms an hour; "
				 "without a link the bound grows %.1f ppm)", c->drift_ppm,
				 c->drift_ppm * 3.6, c->grow_ppm);
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
	const struct node_clock *c = &n->clock;
	json_t *o;

	/* 0.1 ms and 0.001 ppm: finer than the measurement, coarse enough to read */
	o = json_pack("{s:f, s:o, s:I, s:f, s:s, s:f, s:f, s:b}", "offset_ms",
		      (double)(int64_t)(clock_offset_ms(c) * 10.0) / 10.0, "error_ms",
		      err < 0 ? json_null() : json_real((double)(int64_t)(err * 10.0 + 0.5) / 10.0),
		      "samples", (json_int_t)c->samples, "rtt_ms", (double)c->rtt_us / 1000.0,
		      "source", c->source == CLOCK_MEASURED ? "measured" :
		      c->source == CLOCK_SAVED ? "saved" : "none",
		      "drift_ppm", (double)llround(clock_drift_ppm(c) * 1000.0) / 1000.0,
		      "drift_error_ppm", (double)llround(clock_grow_ppm(c) * 1000.0) / 1000.0,
		      "drift_measured", c->fitted);
	if (o)
		json_object_set_new(status, "clock", o);
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
