/*
 * test_clock.c - the node's clock estimate (node/clock.c), pure parts with
 * chosen samples: the offset/delay of one round trip, the best single
 * sample, the drift line through noisy samples, a line that must beat
 * what is known without it, outliers, a step of the
 * controller's clock, no samples at all, the bound after 6 hours without
 * a link, and the estimate saved and loaded across a restart.
 *
 * "Now" is an argument everywhere (clock_offset_at, clock_bound_at): six
 * hours take no time. Noise comes from a fixed-seed generator, so every
 * run sees the same samples.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "tap.h"
#include "testclock.h"
#include "util.h"

#define SEC 1000000LL
#define HOUR (3600 * SEC)

static uint64_t rng = 88172645463325252ULL;

/* uniform in [0, 1) (xorshift64: the same samples on every run) */
static double uni(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0;
}

/*
 * A node whose clock runs drift_ppm fast against the controller's (the
 * controller's time is "true" time; mono_us is the node's clock, which
 * reads true * (1 + drift)). True offset (controller minus node) at node
 * time m: off0 - drift * m.
 */
struct world {
	double drift_ppm;  /* the node's crystal */
	int64_t off0_us;
};

static int64_t true_off(const struct world *w, int64_t mono)
{
	return w->off0_us - (int64_t)llround((double)mono * w->drift_ppm / (1e6 + w->drift_ppm));
}

/*
 * One round trip at node time mono: the delay is base + jitter, split
 * between the two directions at random (asymmetry), so the measured offset
 * is off by up to delay/2 - exactly what the real path does.
 */
static struct clock_sample round_trip(const struct world *w, int64_t mono, int64_t delay)
{
	struct clock_sample s;
	double share = uni(); /* the part of the delay on the way out */

	s.delay_us = delay;
	s.mono_us = mono;
	s.offset_us = true_off(w, mono) + (int64_t)llround(((double)delay * share) -
							   (double)delay / 2.0);
	return s;
}

/* The error of the estimate at node time mono, and its bound there. */
static int64_t est_error(const struct node_clock *c, const struct world *w, int64_t mono)
{
	int64_t e = clock_offset_at(c, mono) - true_off(w, mono);

	return e < 0 ? -e : e;
}

/* The pings a node makes: 5 a second apart, then every 30 s, for `span`. */
static void feed(struct node_clock *c, const struct world *w, int64_t from, int64_t span,
		 int64_t base, int64_t jitter)
{
	int64_t t = from;
	int i = 0;

	while (t <= from + span) {
		int64_t d = base + (int64_t)(uni() * (double)jitter);
		struct clock_sample s = round_trip(w, t, d);

		clock_add_sample(c, &s);
		t += i < 5 ? SEC : 30 * SEC;
		i++;
	}
}

static void test_one_round_trip(void)
{
	struct clock_sample s, win[3];
	int64_t err;
	int best;

	/* controller 1 s ahead, 10 ms each way, held 1 ms: offset exact, delay 20 ms */
	clock_sample_make(&s, 100000, 1000000 + 110000, 1000000 + 111000, 121000);
	CHECK(s.offset_us == 1000000 && s.delay_us == 20000,
	      "symmetric path: offset exact, delay = round trip - time held (%lld, %lld)",
	      (long long)s.offset_us, (long long)s.delay_us);
	/* asymmetric: 2 ms out, 18 ms back: the error is (18-2)/2 = 8 ms <= delay/2 */
	clock_sample_make(&s, 100000, 1000000 + 102000, 1000000 + 103000, 121000);
	CHECK(s.offset_us - 1000000 == -8000 && s.delay_us / 2 == 10000,
	      "asymmetric path: the offset error stays within delay/2 (%lld us off, bound %lld)",
	      (long long)(s.offset_us - 1000000), (long long)(s.delay_us / 2));
	/* the best single sample: the shortest round trip ... */
	win[0] = (struct clock_sample){ .offset_us = 5000, .delay_us = 40000, .mono_us = 0 };
	win[1] = (struct clock_sample){ .offset_us = 1000, .delay_us = 2000, .mono_us = 0 };
	win[2] = (struct clock_sample){ .offset_us = 9000, .delay_us = 30000, .mono_us = 0 };
	best = clock_select(win, 3, 0, 15.0, &err);
	CHECK(best == 1 && err == 1000, "the sample with the shortest round trip wins "
	      "(bound delay/2 = %lld us)", (long long)err);
	/* ... unless it is so old that the drift allowance makes a newer one better */
	win[0].mono_us = win[2].mono_us = 1000 * SEC;
	best = clock_select(win, 3, 1000 * SEC, 15.0, &err);
	CHECK(best == 2 && err == 15000, "a 1000 s old sample loses 15 ms (at 15 ppm) against "
	      "fresh ones (picked %d, bound %lld us)", best, (long long)err);
	CHECK(clock_select(win, 0, 0, 15.0, &err) == -1 && err == 0,
	      "no samples: no choice");
}

static void test_no_samples(void)
{
	struct node_clock c;

	memset(&c, 0, sizeof(c));
	CHECK(c.source == CLOCK_NONE && clock_error_ms(&c) < 0,
	      "no sample ever: no bound (status error_ms null)");
	CHECK(clock_grow_ppm(&c) == CLOCK_DRIFT_UNKNOWN_PPM,
	      "no sample ever: the drift allowance is the unknown crystal's %.0f ppm",
	      CLOCK_DRIFT_UNKNOWN_PPM);
	/* one sample: an offset, no drift */
	clock_add_sample(&c, &(struct clock_sample){ .offset_us = 7000000, .delay_us = 400,
						      .mono_us = 10 * SEC });
	CHECK(c.source == CLOCK_MEASURED && !c.fitted && c.drift_ppm == 0.0 &&
	      c.off_mono_us == 7000000 && c.err_us == 200,
	      "one sample: its offset, within its half round trip, drift not known");
	CHECK(clock_bound_at(&c, 10 * SEC + HOUR) == 200 + 360000,
	      "one sample: the bound grows at %.0f ppm (%lld us an hour later)",
	      CLOCK_DRIFT_UNKNOWN_PPM, (long long)clock_bound_at(&c, 10 * SEC + HOUR));
	/* three samples over 2 s: still no line (too few, too short) */
	clock_add_sample(&c, &(struct clock_sample){ .offset_us = 7000000, .delay_us = 400,
						      .mono_us = 11 * SEC });
	clock_add_sample(&c, &(struct clock_sample){ .offset_us = 7000000, .delay_us = 400,
						      .mono_us = 12 * SEC });
	CHECK(!c.fitted && c.grow_ppm == CLOCK_DRIFT_UNKNOWN_PPM,
	      "three samples over 2 s: no line yet");
}

static void test_noise(void)
{
	struct node_clock c;
	struct world w = { .drift_ppm = 50.0, .off0_us = 5 * SEC };
	int64_t end, e6, b6, old6;

	memset(&c, 0, sizeof(c));
	/* loopback-like: 300-700 us round trips, split at random */
	feed(&c, &w, 0, 15 * 60 * SEC, 300, 400);
	end = c.ref_mono_us;
	CHECK(c.fitted && c.used >= 20, "15 minutes of pings: a line through %zu good samples",
	      c.used);
	CHECK(fabs(c.drift_ppm + 50.0 / (1 + 50e-6)) < 0.2,
	      "a 50 ppm fast crystal is measured within 0.2 ppm (%.3f ppm; controller minus node)",
	      c.drift_ppm);
	CHECK(est_error(&c, &w, end) <= c.err_us,
	      "at the last sample the error (%lld us) is within the bound (%lld us)",
	      (long long)est_error(&c, &w, end), (long long)c.err_us);
	e6 = est_error(&c, &w, end + 6 * HOUR);
	b6 = clock_bound_at(&c, end + 6 * HOUR);
	CHECK(e6 <= b6, "6 hours without a link: error %.1f ms within the bound %.1f ms",
	      (double)e6 / 1000, (double)b6 / 1000);
	CHECK(b6 < 100 * 1000, "... and the bound says something (%.1f ms < 100 ms; "
	      "the drift allowance %.3f ppm)", (double)b6 / 1000, c.grow_ppm);
	/* what the fixed 15 ppm allowance of before would have said, with no drift */
	old6 = w.off0_us - true_off(&w, end + 6 * HOUR);
	old6 -= w.off0_us - true_off(&w, end);
	CHECK(llabs(old6) > 15 * 6 * 3600 + 1000,
	      "(without the drift the error would be %.0f ms, beyond a 15 ppm bound of %.0f ms)",
	      (double)llabs(old6) / 1000, 15.0 * 6 * 3600 / 1000);
	/* controller time maps back to monotonic time on the sloped line */
	{
		int64_t m = end + 600 * SEC, ctl_ms = (m + clock_offset_at(&c, m)) / 1000;
		int64_t back = clock_to_mono_us(&c, ctl_ms);
		int64_t d = back + clock_offset_at(&c, back) - ctl_ms * 1000;

		CHECK(llabs(d) <= 1, "a start 10 minutes ahead maps to the node's clock on the "
		      "drift line (%lld us off)", (long long)d);
	}
}

/* 4G: 60-200 ms round trips, and many trials: the bound always holds. */
static void test_long_4g(void)
{
	struct world w = { .drift_ppm = -37.0, .off0_us = -3 * SEC };
	int trial, covered = 0, trials = 200;
	double worst_ratio = 0, worst_b = 0, worst_e = 0;
	static struct node_clock c;

	for (trial = 0; trial < trials; trial++) {
		int64_t end, e, b;

		memset(&c, 0, sizeof(c));
		feed(&c, &w, 0, 20 * 60 * SEC, 60000, 140000);
		end = c.ref_mono_us;
		e = est_error(&c, &w, end + 6 * HOUR);
		b = clock_bound_at(&c, end + 6 * HOUR);
		covered += e <= b;
		if ((double)e / (double)b > worst_ratio) {
			worst_ratio = (double)e / (double)b;
			worst_e = (double)e / 1000;
			worst_b = (double)b / 1000;
		}
	}
	CHECK(covered == trials, "4G round trips, 6 hours without a link: the bound covers the "
	      "error in %d of %d trials (closest: error %.1f ms, bound %.1f ms)", covered,
	      trials, worst_e, worst_b);
}

/* A line must say more than what is known without it. */
static void test_prior(void)
{
	struct world w = { .drift_ppm = 50.0, .off0_us = 5 * SEC };
	static struct node_clock c;
	int i;

	/* 4G, the quick pings only: a line over 4 s would be good to thousands of ppm */
	memset(&c, 0, sizeof(c));
	for (i = 0; i < 6; i++) {
		struct clock_sample s = round_trip(&w, i * SEC, 60000 + (int64_t)(uni() * 60000));

		clock_add_sample(&c, &s);
	}
	CHECK(!c.fitted && c.grow_ppm == CLOCK_DRIFT_UNKNOWN_PPM && c.drift_ppm == 0.0,
	      "4G quick pings: no line worse than the unknown crystal (bound grows %.0f ppm)",
	      c.grow_ppm);

	/* restarted with a drift measured before (-50 ppm, bound 2.5 ppm) */
	memset(&c, 0, sizeof(c));
	c.source = CLOCK_SAVED;
	c.drift_ppm = -50.0 / (1 + 50e-6);
	c.grow_ppm = 2.5;
	c.drift_known = c.prior_known = 1;
	c.prior_grow_ppm = 2.5;
	feed(&c, &w, 0, 60 * SEC, 300, 400);
	CHECK(!c.fitted && c.grow_ppm == 2.5 && c.drift_ppm == -50.0 / (1 + 50e-6) &&
	      est_error(&c, &w, c.ref_mono_us + HOUR) <= clock_bound_at(&c, c.ref_mono_us + HOUR),
	      "after a restart the saved drift decides until a line beats it (a minute of "
	      "pings: bound grows %.1f ppm; an hour on, error %lld us within %lld us)",
	      c.grow_ppm, (long long)est_error(&c, &w, c.ref_mono_us + HOUR),
	      (long long)clock_bound_at(&c, c.ref_mono_us + HOUR));
	feed(&c, &w, 61 * SEC, 30 * 60 * SEC, 300, 400);
	CHECK(c.fitted && !c.prior_known && c.grow_ppm < 2.5,
	      "half an hour later a line beats it (bound grows %.2f ppm) and takes over",
	      c.grow_ppm);
}

static void test_outliers(void)
{
	struct node_clock c;
	struct world w = { .drift_ppm = 50.0, .off0_us = 5 * SEC };
	int64_t end;
	int i;

	memset(&c, 0, sizeof(c));
	feed(&c, &w, 0, 10 * 60 * SEC, 300, 400);
	end = c.ref_mono_us;
	/* queued behind bulk traffic: 80 ms round trips, all of it on the way back */
	for (i = 1; i <= 4; i++) {
		struct clock_sample s = { .delay_us = 80000, .mono_us = end + i * 30 * SEC };

		s.offset_us = true_off(&w, s.mono_us) - 40000;
		clock_add_sample(&c, &s);
	}
	CHECK(c.fitted && fabs(c.drift_ppm + 50.0) < 1.0 &&
	      est_error(&c, &w, c.ref_mono_us) <= c.err_us && c.err_us < 1000,
	      "long round trips are not good samples: drift %.3f ppm, bound %lld us",
	      c.drift_ppm, (long long)c.err_us);
	/* a short round trip whose offset is 5 ms off (a timestamp taken late) */
	{
		struct clock_sample s = { .delay_us = 400, .mono_us = end + 150 * SEC };

		s.offset_us = true_off(&w, s.mono_us) + 5000;
		CHECK(clock_add_sample(&c, &s) == 0, "a sample 5 ms off is not a step");
	}
	for (i = 6; i <= 8; i++) {
		struct clock_sample s = round_trip(&w, end + i * 30 * SEC, 350);

		clock_add_sample(&c, &s);
	}
	CHECK(c.fitted && fabs(c.drift_ppm + 50.0) < 1.0 &&
	      est_error(&c, &w, c.ref_mono_us) < 1000 &&
	      est_error(&c, &w, c.ref_mono_us) <= c.err_us,
	      "the sample the line cannot explain is dropped (drift %.3f ppm, error %lld us "
	      "within %lld us, %zu used)", c.drift_ppm,
	      (long long)est_error(&c, &w, c.ref_mono_us), (long long)c.err_us, c.used);
}

static void test_step(void)
{
	struct node_clock c;
	struct world w = { .drift_ppm = 50.0, .off0_us = 5 * SEC };
	double drift, grow;
	int64_t end;
	struct clock_sample s;

	memset(&c, 0, sizeof(c));
	feed(&c, &w, 0, 10 * 60 * SEC, 300, 400);
	drift = c.drift_ppm;
	grow = c.grow_ppm;
	end = c.ref_mono_us;
	/* within both bounds plus the step margin: the same clock, a slower trip */
	s = round_trip(&w, end + 30 * SEC, 2000);
	s.offset_us += CLOCK_STEP_US / 2;
	CHECK(clock_add_sample(&c, &s) == 0 && c.steps == 0, "a sample %d ms off with a "
	      "longer round trip is noise", (int)(CLOCK_STEP_US / 2000));
	/* the controller's clock is stepped by an hour (NTP after a power cut) */
	w.off0_us += HOUR;
	s = round_trip(&w, end + 60 * SEC, 900);
	CHECK(clock_add_sample(&c, &s) == 1 && c.nwin == 1 && c.steps == 1,
	      "a sample one hour off is a step: the earlier samples are dropped");
	CHECK(c.off_mono_us == s.offset_us && c.err_us == 450 && !c.fitted,
	      "after the step the new clock decides at once (offset %lld, bound %lld)",
	      (long long)c.off_mono_us, (long long)c.err_us);
	CHECK(c.drift_ppm == drift && c.grow_ppm == grow,
	      "the node's crystal did not change: the drift measured before stays "
	      "(%.3f ppm, bound grows %.3f ppm)", c.drift_ppm, c.grow_ppm);
	s = round_trip(&w, end + 90 * SEC, 300);
	CHECK(clock_add_sample(&c, &s) == 0 && c.nwin == 2 &&
	      est_error(&c, &w, end + 90 * SEC) <= c.err_us,
	      "the next sample of the new clock joins the window");
}

static int write_text(const char *path, const char *text)
{
	return write_file_atomic(path, text, strlen(text), 0600);
}

static void test_saved(void)
{
	char dir[] = "/tmp/loaxa-test.clockXXXXXX", path[256], text[256];
	struct node_clock c, d;
	struct world w = { .drift_ppm = 50.0, .off0_us = 5 * SEC };
	int64_t saved_ms;

	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/clock", dir);
	/* no file: nothing known */
	CHECK(clock_init(&c, dir) == 0 && c.source == CLOCK_NONE, "no saved estimate: none");

	/* a file written 6 hours ago: offset +100 ms, drift -50 ppm, bound 0.5 ms + 2.5 ppm */
	saved_ms = now_ms() - 6 * 3600 * 1000LL;
	snprintf(text, sizeof(text), "{\"offset_ms\": 100.0, \"error_ms\": 0.5, \"rtt_ms\": 0.4, "
		 "\"drift_ppm\": -50.0, \"drift_error_ppm\": 2.5, \"saved\": %lld}\n",
		 (long long)saved_ms);
	write_text(path, text);
	CHECK(clock_init(&c, dir) == 0 && c.source == CLOCK_SAVED && c.drift_known &&
	      fabs(clock_offset_ms(&c) - (100.0 - 1080.0)) < 2.0,
	      "saved 6 hours ago at -50 ppm: the offset moved by -1080 ms (%+.1f ms)",
	      clock_offset_ms(&c));
	CHECK(fabs(clock_error_ms(&c) - (0.5 + 54.0)) < 1.0,
	      "... and the bound grew by 2.5 ppm of 6 hours to %.1f ms", clock_error_ms(&c));

	/* older files without the drift: the offset, and the unknown crystal's allowance */
	snprintf(text, sizeof(text), "{\"offset_ms\": 100.0, \"error_ms\": 0.5, \"saved\": %lld}",
		 (long long)(now_ms() - 3600 * 1000LL));
	write_text(path, text);
	CHECK(clock_init(&c, dir) == 0 && c.source == CLOCK_SAVED && !c.drift_known &&
	      fabs(clock_offset_ms(&c) - 100.0) < 1.0 && fabs(clock_error_ms(&c) - 360.5) < 1.0,
	      "a file without drift: offset %.1f ms, bound grown at %.0f ppm (%.1f ms)",
	      clock_offset_ms(&c), CLOCK_DRIFT_UNKNOWN_PPM, clock_error_ms(&c));
	/* a damaged drift: the offset still counts */
	snprintf(text, sizeof(text), "{\"offset_ms\": 100.0, \"error_ms\": 0.5, \"drift_ppm\": "
		 "\"fast\", \"drift_error_ppm\": 1, \"saved\": %lld}", (long long)now_ms());
	write_text(path, text);
	CHECK(clock_init(&c, dir) == 0 && c.source == CLOCK_SAVED && !c.drift_known,
	      "a damaged drift_ppm: the offset without the drift");
	write_text(path, "{\"offset_ms\": 1, \"error_ms\": 1, \"saved\": 9223372036854775807}");
	CHECK(clock_init(&c, dir) == 0 && c.source == CLOCK_NONE,
	      "a saved time beyond the year 2286: damaged, nothing (no overflow)");
	write_text(path, "{\"offset_ms\": \"x\"}");
	CHECK(clock_init(&c, dir) == 0 && c.source == CLOCK_NONE, "a damaged file: nothing");

	/* measured, saved, loaded again: the same offset, drift and growth */
	memset(&c, 0, sizeof(c));
	snprintf(c.path, sizeof(c.path), "%s", path);
	{
		int64_t m0 = mono_us() - 10 * 60 * SEC;

		w.off0_us = now_us() - mono_us() + 5 * SEC;
		feed(&c, &w, m0 > 0 ? m0 : 0, 10 * 60 * SEC, 300, 400);
	}
	clock_save(&c);
	CHECK(clock_init(&d, dir) == 0 && d.source == CLOCK_SAVED &&
	      fabs(clock_offset_ms(&d) - clock_offset_ms(&c)) < 0.1 &&
	      fabs(d.drift_ppm - c.drift_ppm) < 0.001 && fabs(d.grow_ppm - c.grow_ppm) < 0.001 &&
	      fabs(clock_error_ms(&d) - clock_error_ms(&c)) < 0.1,
	      "saved and loaded: offset %+.3f / %+.3f ms, drift %.3f / %.3f ppm, bound %.3f / "
	      "%.3f ms", clock_offset_ms(&c), clock_offset_ms(&d), c.drift_ppm, d.drift_ppm,
	      clock_error_ms(&c), clock_error_ms(&d));
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	log_init("test_clock", 0);
	test_one_round_trip();
	test_no_samples();
	test_noise();
	test_long_4g();
	test_prior();
	test_outliers();
	test_step();
	test_saved();
	TAP_EXIT();
}
