/*
 * selftest.c - see selftest.h.
 */
#include "selftest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <alsa/asoundlib.h>
#include <jansson.h>

#include "amp.h"
#include "emergency.h"
#include "events.h"
#include "live.h"
#include "log.h"
#include "loop.h"
#include "node.h"
#include "playout.h"
#include "queue.h"
#include "status.h"
#include "util.h"

/* The mean square of a full-scale sine: 0 dB. */
#define FULL_SCALE_POWER (32768.0 * 32768.0 / 2.0)

/* ---------------------------------------------------------------- detector */

void selftest_goertzel(const int16_t *x, size_t n, unsigned rate, unsigned hz, double *tone,
		       double *total)
{
	double w = 2.0 * M_PI * (double)hz / (double)rate, coeff = 2.0 * cos(w);
	double s1 = 0, s2 = 0, sq = 0, mag2;
	size_t i;

	for (i = 0; i < n; i++) {
		double v = (double)x[i], s0 = v + coeff * s1 - s2;

		s2 = s1;
		s1 = s0;
		sq += v * v;
	}
	/* |X(k)|^2; a sine of amplitude A gives (A N / 2)^2, i.e. A^2/2 = 2|X|^2/N^2 */
	mag2 = s1 * s1 + s2 * s2 - coeff * s1 * s2;
	*tone = n ? 2.0 * mag2 / ((double)n * (double)n) : 0;
	*total = n ? sq / (double)n : 0;
}

void selftest_meter_add(struct selftest_meter *m, const int16_t *x, size_t n, unsigned rate,
			unsigned hz)
{
	double tone, total;

	selftest_goertzel(x, n, rate, hz, &tone, &total);
	m->tone_sum += tone;
	/* what is not the tone is noise, spread over the band */
	m->rest_sum += total > tone ? total - tone : 0;
	m->blocks++;
}

static double db(double power)
{
	return power > 0 ? 10.0 * log10(power / FULL_SCALE_POWER) : -200.0;
}

int selftest_measure(const struct selftest_meter *m, size_t block, double threshold_db,
		     double *level_db, double *noise_db)
{
	double tone, rest;

	*level_db = *noise_db = -200.0;
	if (!m->blocks || !block)
		return -1;
	tone = m->tone_sum / m->blocks;
	/* the noise in the filter's bandwidth: 2/N of the band's power */
	rest = m->rest_sum / m->blocks * 2.0 / (double)block;
	*level_db = db(tone);
	*noise_db = db(rest);
	if (*noise_db < -200.0)
		*noise_db = -200.0;
	return *level_db >= SELFTEST_MIN_LEVEL_DB && *level_db >= *noise_db + threshold_db;
}

/* ---------------------------------------------------------------- result */

static void result_path(const struct node *n, char *out, size_t len)
{
	snprintf(out, len, "%s/selftest.json", n->cfg.state_dir);
}

static json_t *result_json(const struct node_selftest *s)
{
	json_t *o = json_pack("{s:I, s:s, s:s}", "at", (json_int_t)s->at, "result", s->result,
			      "reason", s->reason);

	if (o && s->verdict[0])
		json_object_set_new(o, "verdict", json_string(s->verdict));
	if (o && strcmp(s->result, "error") != 0) {
		json_object_set_new(o, "level_db", json_real(round(s->level_db * 10) / 10));
		json_object_set_new(o, "noise_db", json_real(round(s->noise_db * 10) / 10));
		json_object_set_new(o, "tone_db", json_real(s->level_used_db));
	}
	return o;
}

static void load_result(struct node *n)
{
	struct node_selftest *s = &n->selftest;
	char path[PATH_MAX + 16];
	uint8_t *text = NULL;
	size_t len;
	json_t *o = NULL;
	const char *r, *why;

	result_path(n, path, sizeof(path));
	if (read_file(path, 4096, &text, &len) < 0)
		return; /* never tested: nothing to say */
	o = json_loadb((const char *)text, len, 0, NULL);
	r = json_string_value(json_object_get(o, "result"));
	why = json_string_value(json_object_get(o, "reason"));
	if (!r || (strcmp(r, "ok") && strcmp(r, "silent") && strcmp(r, "error")) ||
	    !json_is_integer(json_object_get(o, "at"))) {
		log_warnx("%s is damaged: the last self-test result is forgotten (the next "
			  "test writes it again)", path);
		goto out;
	}
	s->have = 1;
	s->at = json_integer_value(json_object_get(o, "at"));
	snprintf(s->result, sizeof(s->result), "%s", r);
	snprintf(s->reason, sizeof(s->reason), "%s", why ? why : "");
	r = json_string_value(json_object_get(o, "verdict"));
	if (r && (!strcmp(r, "ok") || !strcmp(r, "silent")))
		snprintf(s->verdict, sizeof(s->verdict), "%s", r);
	s->level_db = json_number_value(json_object_get(o, "level_db"));
	s->noise_db = json_number_value(json_object_get(o, "noise_db"));
	s->level_used_db = json_number_value(json_object_get(o, "tone_db"));
out:
	json_decref(o);
	free(text);
}

/* Keep, store, report and tell the controller one result. */
static void record(struct node *n, const char *result, double level, double noise,
		   const char *reason)
{
	struct node_selftest *s = &n->selftest;
	struct event_info info = EVENT_INFO_INIT;
	char path[PATH_MAX + 16], *text;
	json_t *o, *extra;

	s->have = 1;
	s->at = clock_now_ms(&n->clock);
	snprintf(s->result, sizeof(s->result), "%s", result);
	if (strcmp(result, "error") != 0)
		snprintf(s->verdict, sizeof(s->verdict), "%s", result);
	s->level_db = level;
	s->noise_db = noise;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	o = result_json(s);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	result_path(n, path, sizeof(path));
	if (!text || write_file_atomic(path, text, strlen(text), 0644) < 0)
		log_warnx("cannot store the self-test result in %s: the status still reports "
			  "it until the node restarts", path);
	free(text);
	if (!strcmp(result, "ok"))
		log_info("horn self-test: the horn is heard (tone %.1f dB, noise %.1f dB, "
			 "threshold %.1f dB)", level, noise, n->cfg.selftest.threshold_db);
	else if (!strcmp(result, "silent"))
		log_warnx("horn self-test: the horn is SILENT: the tone played but the sensing "
			  "input (%s) did not hear it (tone %.1f dB, noise %.1f dB, %.1f dB "
			  "needed); check the amplifier, its power, the cable and the horn",
			  n->cfg.selftest.capture, level, noise, n->cfg.selftest.threshold_db);
	else
		log_warnx("horn self-test could not be done: %s", reason);
	extra = o ? json_deep_copy(o) : NULL;
	if (extra && s->command[0])
		json_object_set_new(extra, "command", json_string(s->command));
	info.reason = reason;
	info.extra = extra;
	events_emit(n, "selftest", &info);
	json_decref(extra);
	json_decref(o);
	s->command[0] = '\0';
	status_dirty(n);
}

/* ---------------------------------------------------------------- capture */

static void cap_close(struct node_selftest *s)
{
	if (s->cap) {
		snd_pcm_drop(s->cap);
		snd_pcm_close(s->cap);
		s->cap = NULL;
	}
	s->npfds = 0;
}

/* Open and start the sensing input: mono S16_LE at 48 kHz, non-blocking. */
static int cap_open(struct node *n, char *why, size_t whylen)
{
	struct node_selftest *s = &n->selftest;
	snd_pcm_hw_params_t *hw;
	snd_pcm_sw_params_t *sw;
	unsigned buffer_us = 200000, period_us = 20000;
	snd_pcm_uframes_t psize;
	int dir = 0, rc;
	const char *step = "opening it";

	snd_pcm_hw_params_alloca(&hw);
	snd_pcm_sw_params_alloca(&sw);
	rc = snd_pcm_open(&s->cap, n->cfg.selftest.capture, SND_PCM_STREAM_CAPTURE,
			  SND_PCM_NONBLOCK);
	if (rc < 0) {
		s->cap = NULL;
		goto fail;
	}
#define TRY(what, call)            \
	do {                       \
		step = what;       \
		rc = (call);       \
		if (rc < 0)        \
			goto fail; \
	} while (0)
	TRY("reading its capabilities", snd_pcm_hw_params_any(s->cap, hw));
	TRY("interleaved access", snd_pcm_hw_params_set_access(s->cap, hw,
							       SND_PCM_ACCESS_RW_INTERLEAVED));
	TRY("16-bit samples", snd_pcm_hw_params_set_format(s->cap, hw, SND_PCM_FORMAT_S16_LE));
	TRY("one channel", snd_pcm_hw_params_set_channels(s->cap, hw, 1));
	TRY("48000 Hz", snd_pcm_hw_params_set_rate(s->cap, hw, SELFTEST_RATE, 0));
	TRY("the buffer time", snd_pcm_hw_params_set_buffer_time_near(s->cap, hw, &buffer_us,
								      &dir));
	TRY("the period time", snd_pcm_hw_params_set_period_time_near(s->cap, hw, &period_us,
								      &dir));
	TRY("the hardware parameters", snd_pcm_hw_params(s->cap, hw));
	snd_pcm_hw_params_get_period_size(hw, &psize, &dir);
	TRY("the software parameters", snd_pcm_sw_params_current(s->cap, sw));
	TRY("the wake-up threshold", snd_pcm_sw_params_set_avail_min(s->cap, sw,
								     psize ? psize : 1));
	TRY("the software parameters", snd_pcm_sw_params(s->cap, sw));
	TRY("starting it", snd_pcm_start(s->cap));
#undef TRY
	rc = snd_pcm_poll_descriptors_count(s->cap);
	if (rc <= 0 || rc > PLAYOUT_MAX_PFDS) {
		snprintf(why, whylen, "the sensing input \"%s\" offers %d poll descriptors",
			 n->cfg.selftest.capture, rc);
		cap_close(s);
		return -EINVAL;
	}
	s->npfds = rc;
	s->cap_start_mono = mono_ms();
	s->cap_frames = 0;
	s->block_fill = 0;
	return 0;
fail:
	snprintf(why, whylen, "the sensing input \"%s\" (selftest.capture) failed %s: %s",
		 n->cfg.selftest.capture, step, snd_strerror(rc));
	cap_close(s);
	return rc;
}

/* A full block: inside the tone's steady part, it counts. */
static void cap_block(struct node *n)
{
	struct node_selftest *s = &n->selftest;
	int64_t at = s->cap_start_mono +
		     (int64_t)((s->cap_frames - SELFTEST_BLOCK) * 1000 / SELFTEST_RATE);

	if (!s->tone_start_mono)
		return;
	if (at >= s->tone_start_mono + SELFTEST_SKIP_HEAD_MS &&
	    at + SELFTEST_BLOCK * 1000 / SELFTEST_RATE <=
	    s->tone_start_mono + (int64_t)n->cfg.selftest.tone_ms - SELFTEST_SKIP_TAIL_MS)
		selftest_meter_add(&s->meter, s->block, SELFTEST_BLOCK, SELFTEST_RATE,
				   n->cfg.selftest.tone_hz);
}

static void cap_read(struct node *n)
{
	struct node_selftest *s = &n->selftest;

	while (s->cap) {
		snd_pcm_sframes_t got = snd_pcm_readi(s->cap, s->block + s->block_fill,
						      SELFTEST_BLOCK - s->block_fill);

		if (got == -EAGAIN)
			return;
		if (got == -EPIPE || got == -ESTRPIPE) {
			/* a late read lost frames: the clock of the blocks goes on from now */
			if (snd_pcm_prepare(s->cap) < 0 || snd_pcm_start(s->cap) < 0)
				got = -EIO;
			else {
				s->cap_start_mono = mono_ms();
				s->cap_frames = 0;
				s->block_fill = 0;
				continue;
			}
		}
		if (got < 0) {
			snprintf(s->fail, sizeof(s->fail), "the sensing input \"%s\" failed: %s",
				 n->cfg.selftest.capture, snd_strerror((int)got));
			cap_close(s);
			return;
		}
		s->block_fill += (size_t)got;
		s->cap_frames += (uint64_t)got;
		if (s->block_fill == SELFTEST_BLOCK) {
			cap_block(n);
			s->block_fill = 0;
		}
	}
}

/* ---------------------------------------------------------------- command */

/*
 * selftest.command: a sensor read by a program (a current sensor on the
 * speaker line, a sound level meter) that prints one level in dB on its
 * first line. It runs without a shell, its argv split at spaces from
 * node.cfg only, stdout on a non-blocking pipe, every other descriptor
 * closed. It runs twice: before the tone (the noise) and
 * SELFTEST_CMD_AFTER_MS into it (the level).
 */
static int cmd_start(struct node *n, int phase, char *why, size_t whylen)
{
	struct node_selftest *s = &n->selftest;
	char line[sizeof(n->cfg.selftest.command)], *argv[SELFTEST_CMD_ARGS + 1], *save = NULL,
	     *tok;
	int fd, k = 0, rc;
	pid_t pid;

	snprintf(line, sizeof(line), "%s", n->cfg.selftest.command);
	for (tok = strtok_r(line, " \t", &save); tok && k < SELFTEST_CMD_ARGS;
	     tok = strtok_r(NULL, " \t", &save))
		argv[k++] = tok;
	argv[k] = NULL;
	if (!k) {
		snprintf(why, whylen, "selftest.command cannot be started: it is empty");
		return -EINVAL;
	}
	rc = spawn_stdout(argv, &pid, &fd);
	if (rc < 0) {
		snprintf(why, whylen, "selftest.command cannot be started: %s", strerror(-rc));
		return rc;
	}
	s->cmd_pid = pid;
	s->cmd_fd = fd;
	s->cmd_len = 0;
	s->cmd_phase = phase;
	s->cmd_started = mono_ms();
	log_debug("selftest.command started for the %s (pid %d)", phase == 1 ? "noise" : "level",
		  (int)pid);
	return 0;
}

static void cmd_kill(struct node_selftest *s)
{
	if (s->cmd_fd >= 0)
		close(s->cmd_fd);
	s->cmd_fd = -1;
	if (s->cmd_pid > 0) {
		kill(s->cmd_pid, SIGKILL);
		while (waitpid(s->cmd_pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	s->cmd_pid = 0;
	s->cmd_phase = 0;
}

/* The command's output ended: its first line is the level. */
static void cmd_done(struct node *n)
{
	struct node_selftest *s = &n->selftest;
	int phase = s->cmd_phase, status = 0;
	char *end;
	double v;

	close(s->cmd_fd);
	s->cmd_fd = -1;
	s->cmd_phase = 0;
	if (waitpid(s->cmd_pid, &status, WNOHANG) == s->cmd_pid)
		s->cmd_pid = 0; /* else reaped by the tick */
	s->cmd_buf[s->cmd_len] = '\0';
	log_debug("selftest.command (%s) ended: %zu bytes, %s %d", phase == 1 ? "noise" : "level",
		  s->cmd_len, s->cmd_pid ? "still running" : WIFEXITED(status) ? "exit status" :
		  "signal", s->cmd_pid ? 0 : WIFEXITED(status) ? WEXITSTATUS(status) :
		  WTERMSIG(status));
	s->cmd_buf[strcspn(s->cmd_buf, "\n")] = '\0';
	if (!s->cmd_len && !s->cmd_pid && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		snprintf(s->fail, sizeof(s->fail), "selftest.command printed nothing and ended with "
			 "%s %d (does the program exist, and run by hand?)",
			 WIFEXITED(status) ? "exit status" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		return;
	}
	v = strtod(s->cmd_buf, &end);
	while (*end == ' ' || *end == '\t' || *end == '\r')
		end++;
	if (end == s->cmd_buf || *end || !isfinite(v) || v < -300 || v > 300) {
		char safe[64];
		size_t i;

		/* what a program printed is data: control characters out */
		for (i = 0; i + 1 < sizeof(safe) && s->cmd_buf[i]; i++)
			safe[i] = (unsigned char)s->cmd_buf[i] < 0x20 ? '?' : s->cmd_buf[i];
		safe[i] = '\0';
		snprintf(s->fail, sizeof(s->fail), "selftest.command printed \"%s\", not a level in "
			 "dB (one number on its first line)", safe);
		return;
	}
	if (phase == 1) {
		s->cmd_noise = v;
		s->cmd_have_noise = 1;
	} else {
		s->cmd_level = v;
		s->cmd_have_level = 1;
	}
}

static void cmd_read(struct node *n)
{
	struct node_selftest *s = &n->selftest;

	while (s->cmd_fd >= 0) {
		char tmp[128];
		ssize_t r = read(s->cmd_fd, tmp, sizeof(tmp));

		if (r > 0) {
			size_t room = sizeof(s->cmd_buf) - 1 - s->cmd_len, k = (size_t)r;

			if (k > room)
				k = room; /* only the first line matters */
			memcpy(s->cmd_buf + s->cmd_len, tmp, k);
			s->cmd_len += k;
			continue;
		}
		if (r == 0)
			cmd_done(n);
		else if (errno == EINTR)
			continue;
		return;
	}
}

/* ---------------------------------------------------------------- the run */

/* Local minute of the day now (the node's time zone, like its operators'). */
static int minute_of_day(void)
{
	time_t t = (time_t)(now_ms() / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	return tm.tm_hour * 60 + tm.tm_min;
}

static int in_day(const struct node *n)
{
	int m = minute_of_day(), from = n->cfg.selftest.day_from_min,
	    to = n->cfg.selftest.day_to_min;

	return from < to ? m >= from && m < to : m >= from || m < to;
}

/* Something else has or wants the horn: the test must not (or no longer) sound. */
static const char *horn_wanted(struct node *n, int64_t ahead_ms)
{
	if (emergency_holds(n) || n->emerg.active)
		return "an emergency";
	if (n->live.active)
		return "a live session";
	if (n->queue.current)
		return "a play";
	if (queue_pick(&n->queue, clock_now_ms(&n->clock), ahead_ms))
		return "a play that is due";
	return NULL;
}

static void end_run(struct node *n)
{
	struct node_selftest *s = &n->selftest;

	cap_close(s);
	cmd_kill(s);
	free(s->tone);
	s->tone = NULL;
	s->tone_len = 0;
	s->tone_playing = 0;
	s->state = ST_IDLE;
	status_dirty(n);
}

static int make_tone(struct node_selftest *s, const struct node *n)
{
	size_t len = (size_t)SELFTEST_RATE * n->cfg.selftest.tone_ms / 1000, i,
	       ramp = SELFTEST_RATE / 50;
	double a = 32767.0 * pow(10.0, s->level_used_db / 20.0);

	s->tone = malloc(len * sizeof(int16_t));
	if (!s->tone)
		return -ENOMEM;
	for (i = 0; i < len; i++) {
		double env = i < ramp ? (double)i / (double)ramp :
			     len - i < ramp ? (double)(len - i) / (double)ramp : 1.0;
		/* phase from an exact ratio: no drift over the tone */
		double ph = (double)((i * n->cfg.selftest.tone_hz) % SELFTEST_RATE) / SELFTEST_RATE;

		s->tone[i] = (int16_t)lrint(a * env * sin(2.0 * M_PI * ph));
	}
	s->tone_len = len;
	return 0;
}

static void play_tone(struct node *n);

static void begin(struct node *n)
{
	struct node_selftest *s = &n->selftest;
	char why[400];
	int day = in_day(n);

	if (!day && n->cfg.selftest.night_skip) {
		s->state = ST_IDLE;
		record(n, "error", 0, 0, "outside the self-test hours (selftest.day; "
		       "selftest.night is \"skip\")");
		return;
	}
	memset(&s->meter, 0, sizeof(s->meter));
	s->fail[0] = '\0';
	s->tone_start_mono = 0;
	s->finish_at = 0;
	s->cmd_have_noise = s->cmd_have_level = s->cmd_level_asked = 0;
	s->level_used_db = day ? n->cfg.selftest.level_db : n->cfg.selftest.quiet_level_db;
	if (make_tone(s, n) < 0) {
		s->state = ST_IDLE;
		record(n, "error", 0, 0, "out of memory");
		return;
	}
	if (n->cfg.selftest.command[0]) {
		/* the noise first: the command reads the sensor with the horn quiet */
		if (cmd_start(n, 1, why, sizeof(why)) < 0) {
			end_run(n);
			record(n, "error", 0, 0, why);
			return;
		}
		s->state = ST_PROBING;
		status_dirty(n);
		return;
	}
	if (cap_open(n, why, sizeof(why)) < 0) {
		end_run(n);
		record(n, "error", 0, 0, why);
		return;
	}
	play_tone(n);
}

static void play_tone(struct node *n)
{
	struct node_selftest *s = &n->selftest;
	char why[400], reason[160];
	int64_t ready, mono = mono_ms();
	int day = s->level_used_db == n->cfg.selftest.level_db;

	/* the amplifier's warm-up, like any play that starts now */
	ready = amp_ready_mono(n, amp_default_warmup_ms(n));
	s->xruns_before = n->po.xruns;
	s->tone_playing = 1;
	s->state = ST_RUNNING;
	if (playout_start_pcm(&n->po, s->tone, s->tone_len, 100, ready > mono ? ready * 1000 : 0,
			      reason, sizeof(reason)) < 0) {
		end_run(n);
		snprintf(why, sizeof(why), "the tone cannot play: %s", reason);
		record(n, "error", 0, 0, why);
		return;
	}
	log_info("horn self-test: %u Hz tone for %u ms at %.0f dB%s, listening on %s",
		 n->cfg.selftest.tone_hz, n->cfg.selftest.tone_ms, s->level_used_db,
		 day ? "" : " (quiet: outside selftest.day)",
		 n->cfg.selftest.capture[0] ? n->cfg.selftest.capture : n->cfg.selftest.command);
	status_dirty(n);
}

static void conclude(struct node *n)
{
	struct node_selftest *s = &n->selftest;
	double level, noise;
	char why[400];
	int heard;

	cap_read(n);
	if (n->cfg.selftest.command[0]) {
		level = s->cmd_level;
		noise = s->cmd_noise;
		heard = s->cmd_have_level && s->cmd_have_noise ?
			level >= noise + n->cfg.selftest.threshold_db : -1;
		if (!s->fail[0] && heard < 0)
			snprintf(s->fail, sizeof(s->fail), "selftest.command gave no level during "
				 "the tone (it must print within %d ms of the tone's start; a longer "
				 "selftest.tone_ms gives it more time)",
				 (int)n->cfg.selftest.tone_ms - SELFTEST_CMD_AFTER_MS);
	} else {
		heard = selftest_measure(&s->meter, SELFTEST_BLOCK, n->cfg.selftest.threshold_db,
					 &level, &noise);
	}
	if (!s->fail[0] && n->po.xruns - s->xruns_before >= SELFTEST_XRUN_STORM)
		snprintf(s->fail, sizeof(s->fail), "the audio device underran %" PRIu64 " times "
			 "during the tone: the test says nothing about the horn",
			 n->po.xruns - s->xruns_before);
	if (!s->fail[0] && heard < 0)
		snprintf(s->fail, sizeof(s->fail), "the sensing input \"%s\" gave no sound during "
			 "the tone", n->cfg.selftest.capture);
	if (s->fail[0])
		heard = -1;
	snprintf(why, sizeof(why), "%s", s->fail);
	end_run(n);
	if (why[0])
		record(n, "error", 0, 0, why);
	else if (heard > 0)
		record(n, "ok", level, noise, "");
	else
		record(n, "silent", level, noise, "the tone played but was not heard by the "
		       "sensing input");
}

/* The test gives way: fade the tone out, record nothing. */
static void abandon(struct node *n, const char *by)
{
	struct node_selftest *s = &n->selftest;

	log_info("horn self-test interrupted: %s takes the horn; no result recorded (the "
		 "controller asks again)", by);
	s->command[0] = '\0';
	if (s->tone_playing)
		playout_stop(&n->po); /* our on_done frees the tone */
	else
		end_run(n);
}

/* ---------------------------------------------------------------- player callbacks */

static void on_started(void *arg, int64_t start_ms)
{
	struct node *n = arg;
	struct node_selftest *s = &n->selftest;

	if (!s->tone_playing) {
		if (s->next_started)
			s->next_started(arg, start_ms);
		return;
	}
	/* start_ms is when the first sample leaves the device: in monotonic time */
	s->tone_start_mono = mono_ms() + (start_ms - now_ms());
}

static void on_done(void *arg, const struct playout_done *d)
{
	struct node *n = arg;
	struct node_selftest *s = &n->selftest;

	if (!s->tone_playing) {
		if (s->next_done)
			s->next_done(arg, d);
		return;
	}
	s->tone_playing = 0;
	if (d->result == PO_STOPPED || s->state != ST_RUNNING) {
		/* given way (abandon, or an emergency stopped the player) or shut down */
		if (s->state == ST_RUNNING && s->command[0]) {
			const char *by = horn_wanted(n, 0);

			log_info("horn self-test interrupted: %s took the horn; no result "
				 "recorded (the controller asks again)", by ? by : "a stop");
			s->command[0] = '\0';
		}
		end_run(n);
		return;
	}
	if (d->result == PO_FAILED) {
		snprintf(s->fail, sizeof(s->fail), "the tone could not play: %s", d->reason);
		conclude(n);
		return;
	}
	s->state = ST_FINISHING;
	s->finish_at = mono_ms() + SELFTEST_TAIL_MS;
}

/* ---------------------------------------------------------------- interface */

int selftest_request(struct node *n, const char *command, char *why, size_t whylen)
{
	struct node_selftest *s = &n->selftest;

	if (!n->cfg.selftest.capture[0] && !n->cfg.selftest.command[0]) {
		snprintf(why, whylen, "this node has no sensing input for the horn self-test "
			 "(node.cfg selftest.capture or selftest.command)");
		return -ENODEV;
	}
	if (s->state != ST_IDLE) {
		snprintf(why, whylen, "a self-test is already %s",
			 s->state == ST_WAITING ? "waiting for a quiet moment" : "running");
		return -EBUSY;
	}
	snprintf(s->command, sizeof(s->command), "%s", command);
	s->asked_mono = mono_ms();
	s->state = ST_WAITING;
	log_info("horn self-test asked%s%s: it runs at the next quiet moment",
		 command[0] ? " by command " : "", command);
	status_dirty(n);
	return 0;
}

static void tick(struct node *n)
{
	struct node_selftest *s = &n->selftest;
	const char *by;

	/* a command whose output ended but which had not exited then */
	if (s->cmd_fd < 0 && s->cmd_pid > 0 && waitpid(s->cmd_pid, NULL, WNOHANG) == s->cmd_pid)
		s->cmd_pid = 0;
	switch (s->state) {
	case ST_IDLE:
		return;
	case ST_WAITING:
		if (n->stopping)
			return;
		if (!playout_busy(&n->po) && !horn_wanted(n, SELFTEST_QUIET_AHEAD_MS)) {
			begin(n);
		} else if (mono_ms() - s->asked_mono >= SELFTEST_WAIT_MS) {
			s->state = ST_IDLE;
			record(n, "error", 0, 0, "no quiet moment in 10 minutes: the horn was busy "
			       "(broadcasts); the controller asks again later");
		}
		return;
	case ST_PROBING:
		cmd_read(n);
		if ((by = horn_wanted(n, SELFTEST_QUIET_AHEAD_MS))) {
			abandon(n, by);
		} else if (s->fail[0]) {
			conclude(n);
		} else if (s->cmd_have_noise) {
			s->state = ST_RUNNING;
			play_tone(n);
		} else if (mono_ms() - s->cmd_started >= SELFTEST_CMD_TIMEOUT_MS) {
			snprintf(s->fail, sizeof(s->fail), "selftest.command did not print a level "
				 "within %d s: killed", SELFTEST_CMD_TIMEOUT_MS / 1000);
			conclude(n);
		}
		return;
	case ST_RUNNING:
		cap_read(n);
		cmd_read(n);
		if ((by = horn_wanted(n, QUEUE_START_LEAD_MS + (int64_t)n->cfg.alsa.buffer_ms))) {
			abandon(n, by);
			return;
		}
		if (n->cfg.selftest.command[0] && !s->cmd_level_asked && s->tone_start_mono &&
		    mono_ms() >= s->tone_start_mono + SELFTEST_CMD_AFTER_MS) {
			char why[400];

			s->cmd_level_asked = 1;
			if (s->cmd_pid > 0) /* the noise reader exited but is not reaped yet */
				cmd_kill(s);
			if (cmd_start(n, 2, why, sizeof(why)) < 0)
				snprintf(s->fail, sizeof(s->fail), "%s", why);
		}
		return;
	case ST_FINISHING:
		cap_read(n);
		cmd_read(n);
		if (horn_wanted(n, 0))
			conclude(n);
		else if (n->cfg.selftest.command[0] ?
			 (s->cmd_have_level || s->fail[0] || !s->cmd_level_asked ||
			  mono_ms() - s->cmd_started >= SELFTEST_CMD_TIMEOUT_MS) :
			 (mono_ms() >= s->finish_at || !s->cap))
			conclude(n);
		return;
	}
}

static int64_t next_deadline(const struct node *n)
{
	const struct node_selftest *s = &n->selftest;

	switch (s->state) {
	case ST_IDLE:
		return INT64_MAX;
	case ST_WAITING:
		return mono_ms() + 1000; /* a quiet moment is looked for once a second */
	case ST_PROBING:
	case ST_RUNNING:
		return mono_ms() + 50;   /* gives way within 50 ms to what comes due */
	case ST_FINISHING:
		return s->cmd_phase ? mono_ms() + 50 : s->finish_at;
	}
	return INT64_MAX;
}

void selftest_shutdown(struct node *n)
{
	struct node_selftest *s = &n->selftest;

	if (s->state == ST_IDLE)
		return;
	s->state = ST_IDLE; /* on_done (from playout_close) records nothing */
	if (!s->tone_playing)
		end_run(n);
}

int selftest_init(struct node *n)
{
	struct node_selftest *s = &n->selftest;

	memset(s, 0, sizeof(*s));
	s->cmd_fd = -1;
	load_result(n);
	s->next_started = n->po.on_started;
	s->next_done = n->po.on_done;
	n->po.on_started = on_started;
	n->po.on_done = on_done;
	n->po.cb_arg = n;
	return 0;
}

void selftest_free(struct node *n)
{
	struct node_selftest *s = &n->selftest;

	cap_close(s);
	cmd_kill(s);
	free(s->tone);
	s->tone = NULL;
}

/* ---- the event loop (loop.h): main.c registers this module ---- */

static void loop_tick(struct loop *l, int64_t mono, void *arg)
{
	(void)l;
	(void)mono;
	tick(arg);
}

static int64_t loop_deadline(void *arg)
{
	return next_deadline(arg);
}

static int loop_fill(struct loop *l, struct pollfd *pfds, int max, void *arg)
{
	struct node *n = arg;
	struct node_selftest *s = &n->selftest;
	int rc;

	int k = 0;

	(void)l;
	if (s->cap && s->npfds < max) {
		rc = snd_pcm_poll_descriptors(s->cap, pfds, (unsigned)s->npfds);
		k = rc < 0 ? 0 : rc;
	}
	/* the command's stdout last: loop_handle finds it there */
	if (s->cmd_fd >= 0 && k < max) {
		pfds[k].fd = s->cmd_fd;
		pfds[k].events = POLLIN;
		pfds[k].revents = 0;
		k++;
	}
	return k;
}

static void loop_handle(struct loop *l, struct pollfd *pfds, int npfd, void *arg)
{
	struct node *n = arg;
	struct node_selftest *s = &n->selftest;
	unsigned short revents = 0;

	int ncap = s->cap ? s->npfds : 0;

	(void)l;
	if (s->cmd_fd >= 0 && npfd > ncap && pfds[ncap].fd == s->cmd_fd &&
	    (pfds[ncap].revents & (POLLIN | POLLHUP | POLLERR)))
		cmd_read(n);
	if (!s->cap || ncap <= 0 || npfd < ncap)
		return;
	if (snd_pcm_poll_descriptors_revents(s->cap, pfds, (unsigned)ncap, &revents) < 0 ||
	    revents)
		cap_read(n);
}

/* This module's part of the status (status.h). */
static void status_part(struct node *n, json_t *status)
{
	const struct node_selftest *s = &n->selftest;
	json_t *o;

	if (!n->cfg.selftest.capture[0] && !n->cfg.selftest.command[0] && !s->have)
		return;
	o = s->have ? result_json(s) : json_object();
	if (!o)
		return;
	json_object_set_new(o, "state", json_string(s->state == ST_IDLE ? "idle" :
						    s->state == ST_WAITING ? "waiting" : "running"));
	json_object_set_new(o, "configured", json_boolean(n->cfg.selftest.capture[0] ||
							 n->cfg.selftest.command[0]));
	json_object_set_new(status, "selftest", o);
}

int selftest_register(struct loop *l, struct node *n)
{
	int rc = loop_source_add(l, loop_fill, loop_handle, n);

	if (rc >= 0)
		rc = loop_tick_add(l, "selftest", loop_tick, loop_deadline, n);
	if (rc >= 0)
		rc = status_provider_add(n, status_part);
	return rc < 0 ? rc : 0;
}
