/*
 * record.c - record from a capture device into content (record.h).
 *
 * The capture runs in the controller's poll loop like a live session's
 * (capdev.h): every period the loop reads what the device has and appends
 * it to a WAV file, so a recording costs no thread and no buffer in memory.
 * The WAV header is written with zero sizes first and its sizes at the
 * stop: a controller killed mid-recording leaves only a temp file, which
 * the tmp dir's cleanup at the next start removes.
 *
 * The level the operator sees is the peak and RMS of the last 100 ms block,
 * in dBFS: enough to tell "too quiet", "fine" and "clipping" apart, which is
 * all a level meter in front of a commune official has to say.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <alsa/asoundlib.h>
#include <sodium.h>

#include "auth.h"
#include "capdev.h"
#include "ctl.h"
#include "ctlutil.h"
#include "db.h"
#include "imports.h"
#include "log.h"
#include "record.h"
#include "util.h"

#define LEVEL_BLOCK (CAPTURE_RATE / 10) /* 100 ms */
#define WAV_HEADER 44

enum rec_state { REC_NONE, REC_RECORDING, REC_IMPORTING, REC_DONE, REC_FAILED };

struct ctl_record {
	enum rec_state state;
	char id[24];
	char device[64];          /* the name in controller.cfg, not the ALSA string */
	char title[CTL_TITLE_MAX];
	char user[CTL_NAME_MAX];
	char wav[PATH_MAX];
	int fd;                   /* the WAV being written; -1 when none */
	snd_pcm_t *pcm;
	int npfds;
	uint64_t frames;          /* samples written to the WAV */
	uint64_t max_frames;
	int64_t max_s;
	int64_t started_ms;
	unsigned overruns;
	/* the level meter: the block being measured, and the last whole one */
	uint32_t blk_n;
	int32_t blk_peak;
	double blk_sumsq;
	double peak_dbfs, rms_dbfs;
	char stop_reason[64];
	char error[400];
	struct ctl_content_row content;
};

static const char *state_name(enum rec_state s)
{
	switch (s) {
	case REC_RECORDING: return "recording";
	case REC_IMPORTING: return "importing";
	case REC_DONE: return "done";
	case REC_FAILED: return "failed";
	case REC_NONE: break;
	}
	return "none";
}

int ctl_record_init(struct ctl *c)
{
	c->record = calloc(1, sizeof(*c->record));
	if (!c->record)
		return -ENOMEM;
	c->record->fd = -1;
	return 0;
}

/* Close the device and the WAV; remove the WAV unless keep. */
static void release(struct ctl_record *R, int keep)
{
	if (R->pcm)
		snd_pcm_close(R->pcm);
	R->pcm = NULL;
	R->npfds = 0;
	if (R->fd >= 0)
		close(R->fd);
	R->fd = -1;
	if (!keep && R->wav[0])
		unlink(R->wav);
	if (!keep)
		R->wav[0] = '\0';
}

void ctl_record_free(struct ctl *c)
{
	if (!c->record)
		return;
	if (c->record->state == REC_RECORDING)
		log_warnx("recording %s abandoned: the controller stops", c->record->id);
	release(c->record, 0);
	free(c->record);
	c->record = NULL;
}

static void fail(struct ctl_record *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct ctl_record *R, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(R->error, sizeof(R->error), fmt, ap);
	va_end(ap);
	log_warnx("recording %s failed: %s", R->id, R->error);
	release(R, 0);
	R->state = REC_FAILED;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* A canonical 44-byte header for mono S16_LE 48 kHz with `frames` samples. */
static void wav_header(uint8_t h[WAV_HEADER], uint64_t frames)
{
	uint32_t data = (uint32_t)(frames * 2);

	memcpy(h, "RIFF", 4);
	put_le32(h + 4, 36 + data);
	memcpy(h + 8, "WAVEfmt ", 8);
	put_le32(h + 16, 16);
	h[20] = 1, h[21] = 0;                 /* PCM */
	h[22] = 1, h[23] = 0;                 /* mono */
	put_le32(h + 24, CAPTURE_RATE);
	put_le32(h + 28, CAPTURE_RATE * 2);   /* bytes per second */
	h[32] = 2, h[33] = 0;                 /* block align */
	h[34] = 16, h[35] = 0;                /* bits */
	memcpy(h + 36, "data", 4);
	put_le32(h + 40, data);
}

static double dbfs(double v)
{
	return v > 0 ? 20.0 * log10(v / 32768.0) : -120.0;
}

static void meter(struct ctl_record *R, const int16_t *pcm, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int32_t a = pcm[i] < 0 ? -(int32_t)pcm[i] : pcm[i];

		if (a > R->blk_peak)
			R->blk_peak = a;
		R->blk_sumsq += (double)pcm[i] * (double)pcm[i];
		if (++R->blk_n == LEVEL_BLOCK) {
			R->peak_dbfs = dbfs(R->blk_peak);
			R->rms_dbfs = dbfs(sqrt(R->blk_sumsq / LEVEL_BLOCK));
			R->blk_n = 0;
			R->blk_peak = 0;
			R->blk_sumsq = 0;
		}
	}
}

/*
 * Read what the device has (up to the maximum) into the WAV. Returns 1
 * when the maximum is reached, 0 when the device has nothing more now,
 * negative when the recording failed (R already marked).
 */
static int pump(struct ctl_record *R)
{
	int16_t buf[2048];

	while (R->frames < R->max_frames) {
		size_t want = sizeof(buf) / sizeof(buf[0]);
		snd_pcm_sframes_t got;
		int rc;

		if (want > R->max_frames - R->frames)
			want = (size_t)(R->max_frames - R->frames);
		got = snd_pcm_readi(R->pcm, buf, want);
		if (got == -EAGAIN || got == 0)
			return 0;
		if (got < 0) {
			/* an overrun (the loop was held up): a gap in the recording,
			 * said in the log; anything else is the device gone */
			rc = snd_pcm_recover(R->pcm, (int)got, 1);
			if (rc < 0) {
				fail(R, "the capture device \"%s\" failed: %s", R->device,
				     snd_strerror(rc));
				return -EIO;
			}
			R->overruns++;
			log_warnx("recording %s: capture overrun (the controller was busy): "
				  "a short gap", R->id);
			snd_pcm_start(R->pcm);
			continue;
		}
		meter(R, buf, (size_t)got);
		rc = write_all(R->fd, buf, (size_t)got * sizeof(buf[0]));
		if (rc < 0) {
			fail(R, "cannot write the recording into %s: %s", R->wav, strerror(-rc));
			return rc;
		}
		R->frames += (uint64_t)got;
	}
	return 1;
}

static void import_done(struct ctl *c, void *arg, const struct ctl_import_outcome *out)
{
	struct ctl_record *R = c->record;
	int existed = 0;

	(void)arg;
	if (!R || R->state != REC_IMPORTING)
		return; /* the controller stops: ctl_record_free removes the WAV */
	if (out->rc < 0) {
		fail(R, "the recording could not be imported: %s", out->err);
		return;
	}
	if (ctl_imports_record(c, out, R->title, &R->content, &existed) < 0) {
		fail(R, "the recording was encoded but the controller could not record it "
		     "(see its log)");
		return;
	}
	release(R, 0);
	R->state = REC_DONE;
	log_info("recording %s imported as content %s \"%s\" (%.1f s)", R->id,
		 ctl_short_id(R->content.id), R->content.title,
		 (double)R->content.duration_ms / 1000.0);
}

/*
 * End the capture (why: "stopped by NAME", "the maximum was reached") and
 * hand the WAV to the import pipeline.
 */
static void finish(struct ctl *c, const char *why)
{
	struct ctl_record *R = c->record;
	uint8_t h[WAV_HEADER];
	char name[64];
	int rc;

	if (R->state != REC_RECORDING)
		return;
	/* the samples the device holds already belong to the recording */
	if (pump(R) < 0)
		return;
	snd_pcm_close(R->pcm);
	R->pcm = NULL;
	R->npfds = 0;
	snprintf(R->stop_reason, sizeof(R->stop_reason), "%s", why);
	log_info("recording %s from %s stopped (%s): %.2f s", R->id, R->device, why,
		 (double)R->frames / CAPTURE_RATE);
	if (R->frames == 0) {
		fail(R, "nothing was recorded: the capture device \"%s\" gave no sound",
		     R->device);
		return;
	}
	wav_header(h, R->frames);
	if (pwrite(R->fd, h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		fail(R, "cannot write the recording into %s: %s", R->wav, strerror(errno));
		return;
	}
	close(R->fd);
	R->fd = -1;
	R->state = REC_IMPORTING;
	snprintf(name, sizeof(name), "recording %s", R->id);
	rc = ctl_imports_submit(c, R->wav, name, R->title, 0, import_done, NULL);
	if (rc < 0)
		fail(R, "the recording could not be imported: %s", strerror(-rc));
}

static json_t *record_json(const struct ctl_record *R)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:f, s:f, s:I}",
			      "record", R->id, "state", state_name(R->state), "device",
			      R->device, "title", R->title, "max_s", (json_int_t)R->max_s,
			      "started", (json_int_t)R->started_ms, "elapsed_ms",
			      (json_int_t)(R->frames * 1000 / CAPTURE_RATE), "peak_dbfs",
			      R->peak_dbfs, "rms_dbfs", R->rms_dbfs, "overruns",
			      (json_int_t)R->overruns);

	if (!j)
		return NULL;
	json_object_set_new(j, "by", json_string(R->user));
	if (R->stop_reason[0])
		json_object_set_new(j, "stopped", json_string(R->stop_reason));
	if (R->state == REC_FAILED)
		json_object_set_new(j, "error", json_string(R->error));
	if (R->state == REC_DONE)
		json_object_set_new(j, "content", ctl_content_row_json(&R->content));
	return j;
}

static void api_start(struct ctl *c, const struct ctl_principal *who, const char *body,
		      size_t len, unsigned *status, json_t **reply, char *target,
		      size_t targetlen)
{
	struct ctl_record *R = c->record;
	char err[300], device[64] = "", title[CTL_TITLE_MAX] = "";
	const char *pcm;
	uint8_t h[WAV_HEADER] = { 0 };
	unsigned char rnd[6];
	int64_t max_s = 0;
	json_t *o;
	int rc;

	*status = 400;
	o = ctl_json_object(body, len, err, sizeof(err));
	if (!o)
		goto bad;
	if (ctl_json_str(o, "device", CTL_OPTIONAL, device, sizeof(device), err,
			 sizeof(err)) < 0 ||
	    ctl_json_int(o, "max_s", CTL_REQUIRED, 1, CTL_RECORD_MAX_S, &max_s, err,
			 sizeof(err)) < 0 ||
	    ctl_json_str(o, "title", CTL_OPTIONAL, title, sizeof(title), err, sizeof(err)) < 0)
		goto bad;
	if (!ctl_text_valid(title, strlen(title))) {
		snprintf(err, sizeof(err), "field \"title\" must be text without control "
			 "characters");
		goto bad;
	}
	if (!device[0] && c->cfg.capture.n)
		snprintf(device, sizeof(device), "%s", c->cfg.capture.dev[0].name);
	snprintf(target, targetlen, "device %s", device);
	pcm = ctl_capture_pcm(&c->cfg, "device", device, err, sizeof(err));
	if (!pcm)
		goto bad;
	if (R->state == REC_RECORDING || R->state == REC_IMPORTING) {
		*status = 409;
		snprintf(err, sizeof(err), "%s is recording already (recording %s, from %s); "
			 "wait for it to end or stop it with `loaxa record stop`", R->user,
			 R->id, R->device);
		goto bad;
	}
	release(R, 0);
	memset(R, 0, sizeof(*R));
	R->fd = -1;
	randombytes_buf(rnd, sizeof(rnd));
	snprintf(R->id, sizeof(R->id), "rec-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
		 rnd[3], rnd[4], rnd[5]);
	snprintf(R->device, sizeof(R->device), "%s", device);
	snprintf(R->user, sizeof(R->user), "%s", who->user);
	if (title[0])
		snprintf(R->title, sizeof(R->title), "%s", title);
	else
		snprintf(R->title, sizeof(R->title), "Recording %s", R->id + 4);
	R->max_s = max_s;
	R->max_frames = (uint64_t)max_s * CAPTURE_RATE;
	R->peak_dbfs = R->rms_dbfs = -120.0;
	if ((size_t)snprintf(R->wav, sizeof(R->wav), "%s/%s.wav", c->tmp_dir, R->id) >=
	    sizeof(R->wav)) {
		*status = 500;
		snprintf(err, sizeof(err), "the controller's tmp dir path is too long");
		R->wav[0] = '\0';
		goto failed;
	}
	R->fd = open(R->wav, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (R->fd < 0 || write_all(R->fd, h, sizeof(h)) < 0) {
		*status = 500;
		snprintf(err, sizeof(err), "cannot create the recording file %.200s: %s", R->wav,
			 strerror(errno));
		goto failed;
	}
	rc = capdev_open(&R->pcm, &R->npfds, pcm, err, sizeof(err));
	if (rc < 0) {
		*status = 503;
		goto failed;
	}
	R->started_ms = now_ms();
	R->state = REC_RECORDING;
	log_info("recording %s from %s for %s (at most %" PRId64 " s): \"%s\"", R->id, device,
		 who->user, max_s, R->title);
	json_decref(o);
	*status = 201;
	*reply = record_json(R);
	return;
failed:
	snprintf(R->error, sizeof(R->error), "%s", err);
	release(R, 0);
	R->state = REC_FAILED;
bad:
	json_decref(o);
	*reply = ctl_error_json("%s", err);
}

static void api_stop(struct ctl *c, const struct ctl_principal *who, const char *body,
		     size_t len, unsigned *status, json_t **reply, char *target,
		     size_t targetlen)
{
	struct ctl_record *R = c->record;
	char err[300], id[24] = "", why[CTL_NAME_MAX + 16];
	json_t *o;

	*status = 400;
	o = ctl_json_object(body, len, err, sizeof(err));
	if (!o || ctl_json_str(o, "record", CTL_OPTIONAL, id, sizeof(id), err,
			       sizeof(err)) < 0) {
		json_decref(o);
		*reply = ctl_error_json("%s", err);
		return;
	}
	json_decref(o);
	snprintf(target, targetlen, "record %s", id[0] ? id : R->id);
	if (R->state == REC_NONE || (id[0] && strcmp(id, R->id) != 0)) {
		*status = 404;
		*reply = ctl_error_json("no such recording%s%s", id[0] ? ": " : "", id);
		return;
	}
	snprintf(why, sizeof(why), "stopped by %s", who->user);
	finish(c, why);
	*status = 200;
	*reply = record_json(R);
}

int ctl_record_owns_url(const char *url)
{
	return strcmp(url, "/v1/record") == 0 || strcmp(url, "/v1/record/stop") == 0;
}

void ctl_record_api(struct ctl *c, const struct ctl_principal *who, const char *method,
		    const char *url, const char *body, size_t len, unsigned *status,
		    json_t **reply, char *target, size_t targetlen)
{
	int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;

	if (strcmp(url, "/v1/record") == 0 && get) {
		if (c->record->state == REC_NONE) {
			*status = 404;
			*reply = ctl_error_json("nothing has been recorded since the controller "
					  "started");
			return;
		}
		*status = 200;
		*reply = record_json(c->record);
	} else if (strcmp(url, "/v1/record") == 0 && post) {
		api_start(c, who, body, len, status, reply, target, targetlen);
	} else if (strcmp(url, "/v1/record/stop") == 0 && post) {
		api_stop(c, who, body, len, status, reply, target, targetlen);
	} else {
		*status = 405;
		*reply = ctl_error_json("%s is not allowed on %s (GET or POST /v1/record, POST "
				  "/v1/record/stop)", method, url);
	}
}

int ctl_record_pollfds(struct ctl *c, struct pollfd *pfds, int max)
{
	struct ctl_record *R = c->record;
	int got;

	if (!R || R->state != REC_RECORDING || R->npfds > max)
		return 0;
	got = snd_pcm_poll_descriptors(R->pcm, pfds, (unsigned)R->npfds);
	return got > 0 ? got : 0;
}

void ctl_record_handle(struct ctl *c, const struct pollfd *pfds, int n)
{
	struct ctl_record *R = c->record;
	unsigned short rev = 0;
	int rc;

	if (!R || R->state != REC_RECORDING || n <= 0)
		return;
	snd_pcm_poll_descriptors_revents(R->pcm, (struct pollfd *)pfds, (unsigned)n, &rev);
	if (!(rev & (POLLIN | POLLERR)))
		return;
	rc = pump(R);
	if (rc == 1)
		finish(c, "the maximum length was reached");
}
