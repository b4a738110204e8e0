/*
 * test_selftest.c - the horn self-test's detector (node/selftest.h) and its
 * config group:
 *   - the Goertzel power of a full-scale sine at its frequency is 0 dB, and
 *     a sine of another frequency leaves the tone bin near empty;
 *   - a -40 dB tone under white noise is heard, at -40 dB; the noise alone,
 *     a digital silence and a loud tone at another frequency are not;
 *   - the threshold is where it says: a tone 10 dB over the floor is heard
 *     with a 5 dB threshold, not with 15 dB;
 *   - the controller's daily run: due for an hour after selftest.daily_at,
 *     across midnight counted for the day it was due, never outside;
 *   - node.cfg's selftest group: defaults, a night window across midnight,
 *     a bad window and a bad night mode refused naming the field; a sensor
 *     command needs its absolute path and excludes capture.
 */
#include "capture.h"
#include "log.h"
#include "nodecfg.h"
#include "selftest.h"
#include "tap.h"
#include "../../controller/selftest.h"
#include "util.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N SELFTEST_BLOCK

static uint32_t seed = 1;

/* uniform white noise of this peak */
static double noise(double peak)
{
	seed = seed * 1664525u + 1013904223u;
	return ((double)(seed >> 8) / (double)(1u << 23) - 1.0) * peak;
}

/* blocks of a sine (amplitude in dB of full scale, at hz) plus noise, into the meter */
static void feed(struct selftest_meter *m, double db, unsigned hz, double noise_peak,
		 unsigned blocks)
{
	int16_t x[N];
	double a = db <= -200 ? 0 : 32767.0 * pow(10.0, db / 20.0);
	uint64_t k = 0;

	for (unsigned b = 0; b < blocks; b++) {
		for (size_t i = 0; i < N; i++, k++) {
			double v = a * sin(2 * M_PI * (double)hz * (double)k / SELFTEST_RATE) +
				   noise(noise_peak);

			x[i] = (int16_t)lrint(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
		}
		selftest_meter_add(m, x, N, SELFTEST_RATE, 1000);
	}
}

static void test_detector(void)
{
	struct selftest_meter m;
	int16_t x[N];
	double tone, total, level, nz;
	int r;

	for (size_t i = 0; i < N; i++)
		x[i] = (int16_t)lrint(32767.0 * sin(2 * M_PI * 1000.0 * (double)i / SELFTEST_RATE));
	selftest_goertzel(x, N, SELFTEST_RATE, 1000, &tone, &total);
	CHECK(fabs(10 * log10(tone / (32768.0 * 32768.0 / 2))) < 0.1 &&
	      fabs(tone / total - 1) < 0.01, "a full-scale 1 kHz sine: 0 dB in the tone bin, all "
	      "of the block's power (%.2f dB)", 10 * log10(tone / (32768.0 * 32768.0 / 2)));
	for (size_t i = 0; i < N; i++)
		x[i] = (int16_t)lrint(16000.0 * sin(2 * M_PI * 1500.0 * (double)i / SELFTEST_RATE));
	selftest_goertzel(x, N, SELFTEST_RATE, 1000, &tone, &total);
	CHECK(tone < total * 1e-4, "a 1.5 kHz sine leaves the 1 kHz bin near empty "
	      "(%.1f dB of the block)", 10 * log10(tone / total));

	memset(&m, 0, sizeof(m));
	feed(&m, -40, 1000, 100, 60);
	r = selftest_measure(&m, N, 15, &level, &nz);
	CHECK(r == 1 && fabs(level + 40) < 0.5, "a -40 dB tone under noise (peak 100) is "
	      "heard at %.1f dB (noise %.1f dB)", level, nz);
	CHECK(nz < -70 && nz > -90, "the noise floor in the tone's bandwidth is where white "
	      "noise of peak 100 puts it (%.1f dB)", nz);

	memset(&m, 0, sizeof(m));
	feed(&m, -200, 1000, 100, 60);
	r = selftest_measure(&m, N, 15, &level, &nz);
	CHECK(r == 0 && level - nz < 5, "the noise alone is not heard (tone bin %.1f dB, noise "
	      "%.1f dB)", level, nz);

	memset(&m, 0, sizeof(m));
	feed(&m, -200, 1000, 0, 60);
	r = selftest_measure(&m, N, 15, &level, &nz);
	CHECK(r == 0 && level == -200, "a digital silence is not heard (%.0f dB)", level);

	memset(&m, 0, sizeof(m));
	feed(&m, -10, 3000, 100, 60);
	r = selftest_measure(&m, N, 15, &level, &nz);
	CHECK(r == 0, "a loud tone at another frequency (3 kHz, -10 dB) is no horn tone "
	      "(%.1f dB vs noise %.1f dB)", level, nz);

	/* white noise of peak p: power p^2/3 over the band, 2/N of it in the bin */
	{
		double p = 1000, floor_db = 10 * log10(p * p / 3 * 2 / N / (32768.0 * 32768.0 / 2));

		memset(&m, 0, sizeof(m));
		feed(&m, floor_db + 10, 1000, p, 100);
		CHECK(selftest_measure(&m, N, 5, &level, &nz) == 1,
		      "a tone 10 dB over the floor is heard with threshold 5 dB (%.1f over %.1f)",
		      level, nz);
		CHECK(selftest_measure(&m, N, 15, &level, &nz) == 0,
		      "and not with threshold 15 dB");
	}
	memset(&m, 0, sizeof(m));
	CHECK(selftest_measure(&m, N, 15, &level, &nz) < 0, "no block: no verdict");
}

static void test_daily(void)
{
	CHECK(ctl_selftest_due(750, 750, 20261207, 20261206) == 20261207 &&
	      ctl_selftest_due(750, 809, 20261207, 20261206) == 20261207,
	      "daily_at 12:30: due from 12:30 to 13:29, for today");
	CHECK(ctl_selftest_due(750, 749, 20261207, 20261206) == 0 &&
	      ctl_selftest_due(750, 810, 20261207, 20261206) == 0 &&
	      ctl_selftest_due(750, 17 * 60 + 3, 20261207, 20261206) == 0,
	      "not before, not an hour later (a controller started at 17:03 does not test)");
	CHECK(ctl_selftest_due(23 * 60 + 30, 10, 20270101, 20261231) == 20261231 &&
	      ctl_selftest_due(23 * 60 + 30, 23 * 60 + 59, 20261231, 20261230) == 20261231,
	      "daily_at 23:30: 00:10 on 1 January still belongs to 31 December's run");
	CHECK(ctl_selftest_due(-1, 750, 20261207, 20261206) == 0, "off: never due");
}

static char dir[256];

static int load(struct node_cfg *cfg, const char *extra, const char **err)
{
	char path[300], text[1024];
	int rc;

	snprintf(text, sizeof(text), "site = \"xa\";\nnode = \"n1\";\nstate_dir = \"/x\";\n"
		 "controller_key = \"e4047c217f67c0769695c3ee325d762b1e032ad079ab375b861690fc919b"
		 "f9e8\";\nmqtt = { insecure = true; };\n%s", extra);
	snprintf(path, sizeof(path), "%s/node.cfg", dir);
	write_file_atomic(path, text, strlen(text), 0600);
	capture_begin();
	rc = node_cfg_load(cfg, path);
	*err = capture_end();
	return rc;
}

static void test_cfg(void)
{
	struct node_cfg cfg;
	const char *err;
	int rc;

	rc = load(&cfg, "", &err);
	CHECK(rc == 0 && !cfg.selftest.capture[0] && cfg.selftest.tone_hz == 1000 &&
	      cfg.selftest.tone_ms == 1500 && cfg.selftest.level_db == -20 &&
	      cfg.selftest.quiet_level_db == -40 && cfg.selftest.threshold_db == 15 &&
	      cfg.selftest.day_from_min == 360 && cfg.selftest.day_to_min == 1260 &&
	      !cfg.selftest.night_skip, "selftest defaults: off, 1 kHz, 1.5 s, -20/-40 dB, "
	      "15 dB, day 06:00-21:00, quiet at night");
	rc = load(&cfg, "selftest = { capture = \"mic\"; day = \"22:30-05:00\"; night = \"skip\"; "
		  "level_db = -12.5; };\n", &err);
	CHECK(rc == 0 && !strcmp(cfg.selftest.capture, "mic") &&
	      cfg.selftest.day_from_min == 1350 && cfg.selftest.day_to_min == 300 &&
	      cfg.selftest.night_skip && cfg.selftest.level_db == -12.5,
	      "a window across midnight, night skip, a level in tenths");
	rc = load(&cfg, "selftest = { capture = \"mic\"; day = \"6-21\"; };\n", &err);
	CHECK(rc < 0 && strstr(err, "node.cfg:6: field \"selftest.day\"") &&
	      strstr(err, "06:00-21:00"), "a bad window is refused naming the field, with an "
	      "example");
	rc = load(&cfg, "selftest = { night = \"off\"; };\n", &err);
	CHECK(rc < 0 && strstr(err, "field \"selftest.night\""), "a bad night mode is refused");
	rc = load(&cfg, "selftest = { command = \"/usr/bin/horn --db\"; };\n", &err);
	CHECK(rc == 0 && !strcmp(cfg.selftest.command, "/usr/bin/horn --db"),
	      "a sensor command with its arguments");
	rc = load(&cfg, "selftest = { command = \"horn --db\"; };\n", &err);
	CHECK(rc < 0 && strstr(err, "absolute path"), "a command without its absolute path is "
	      "refused (no shell, no PATH search)");
	rc = load(&cfg, "selftest = { command = \"/usr/bin/horn\"; capture = \"mic\"; };\n",
		  &err);
	CHECK(rc < 0 && strstr(err, "not both"), "capture and command together are refused");
	rc = load(&cfg, "selftest = { level_db = 6; };\n", &err);
	CHECK(rc < 0 && strstr(err, "selftest.level_db"), "a tone over full scale is refused");
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/loaxa-test.selftest.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	log_init("test_selftest", 0);
	test_detector();
	test_daily();
	test_cfg();
	{
		char path[300];

		snprintf(path, sizeof(path), "%s/node.cfg", dir);
		unlink(path);
		rmdir(dir);
	}
	TAP_EXIT();
}
