/*
 * playout.c - see playout.h.
 */
#include "playout.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <alsa/asoundlib.h>
#include <opusfile.h>

#include "log.h"
#include "loop.h"
#include "opusdec.h"
#include "util.h"

/* op_read gives at most 120 ms (5760 samples per channel) per call. */
#define DEC_CAP (5760 * 4)
/* Frames produced per writei batch (100 ms). */
#define OUT_FRAMES 4800

float playout_gain(int volume)
{
	double v;

	if (volume >= 100)
		return 1.0f;
	if (volume <= 0)
		return 0.0f;
	/* Amplitude (v/100)^2: 50 is -12 dB, 10 is -40 dB; feels even to the ear. */
	v = volume / 100.0;
	return (float)(v * v);
}

static int16_t clamp16(float x)
{
	long v = lrintf(x);

	if (v > 32767)
		return 32767;
	if (v < -32768)
		return -32768;
	return (int16_t)v;
}

void playout_shape(int16_t *dst, const int16_t *in, size_t n, uint64_t pos,
		   uint64_t to_end, float gain, int unity, unsigned channels)
{
	size_t i;
	unsigned c;

	for (i = 0; i < n; i++) {
		float f = 1.0f;
		int16_t s = in[i];
		uint64_t p = pos + i;

		if (p < PLAYOUT_FADE)
			f = (float)p / PLAYOUT_FADE;
		if (to_end) {
			uint64_t d = to_end - i; /* samples left including this one */
			if (d <= PLAYOUT_FADE)
				f *= (float)(d - 1) / PLAYOUT_FADE;
		}
		if (!(unity && f == 1.0f))
			s = clamp16((float)s * gain * f);
		for (c = 0; c < channels; c++)
			dst[i * channels + c] = s;
	}
}

/* ALSA's own messages ("ALSA lib pcm.c:...") go to the debug log: we say
 * what failed ourselves, in the operator's words. */
static void alsa_error_handler(const char *file, int line, const char *function,
			       int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!log_verbose())
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_debug("alsa-lib %s:%d (%s): %s%s%s", file, line, function, msg,
		  err ? ": " : "", err ? snd_strerror(err) : "");
}

void playout_init(struct playout *po, const struct playout_cfg *cfg)
{
	memset(po, 0, sizeof(*po));
	po->cfg = *cfg;
	po->dev = PO_DEV_CLOSED;
	snd_lib_error_set_handler(alsa_error_handler);
}

const char *playout_state_name(const struct playout *po)
{
	switch (po->dev) {
	case PO_DEV_CLOSED: return "closed";
	case PO_DEV_IDLE: return "idle";
	case PO_DEV_PLAYING: return "playing";
	case PO_DEV_DRAINING: return "draining";
	case PO_DEV_ERROR: return "error";
	}
	return "unknown";
}

int playout_busy(const struct playout *po)
{
	return po->active;
}

static void set_error(struct playout *po, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_error(struct playout *po, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(po->last_error, sizeof(po->last_error), fmt, ap);
	va_end(ap);
}

static void dev_close(struct playout *po)
{
	if (po->pcm) {
		/* drop also flushes what the `file` plugin still holds */
		snd_pcm_drop(po->pcm);
		snd_pcm_close(po->pcm);
		po->pcm = NULL;
	}
	po->npfds = 0;
	po->dev = PO_DEV_CLOSED;
}

/* Hardware and software parameters: S16_LE, channels, 48 kHz, buffer and period from
 * the config; start once a period is queued; wake us when a period is free. */
static int dev_configure(struct playout *po, char *why, size_t whylen)
{
	snd_pcm_hw_params_t *hw;
	snd_pcm_sw_params_t *sw;
	unsigned rate = po->cfg.rate;
	unsigned buffer_us = po->cfg.buffer_ms * 1000, period_us = po->cfg.period_ms * 1000;
	snd_pcm_uframes_t bsize, psize;
	int dir = 0, rc;
	const char *step = "";

	snd_pcm_hw_params_alloca(&hw);
	snd_pcm_sw_params_alloca(&sw);
#define TRY(what, call)            \
	do {                       \
		step = what;       \
		rc = (call);       \
		if (rc < 0)        \
			goto fail; \
	} while (0)
	TRY("reading its capabilities", snd_pcm_hw_params_any(po->pcm, hw));
	TRY("interleaved access", snd_pcm_hw_params_set_access(po->pcm, hw,
							       SND_PCM_ACCESS_RW_INTERLEAVED));
	TRY("16-bit samples (S16_LE)", snd_pcm_hw_params_set_format(po->pcm, hw,
								    SND_PCM_FORMAT_S16_LE));
	TRY("the channel count (alsa.channels)",
	    snd_pcm_hw_params_set_channels(po->pcm, hw, po->cfg.channels));
	TRY("48000 Hz", snd_pcm_hw_params_set_rate(po->pcm, hw, rate, 0));
	TRY("the buffer time (alsa.buffer_ms)",
	    snd_pcm_hw_params_set_buffer_time_near(po->pcm, hw, &buffer_us, &dir));
	TRY("the period time (alsa.period_ms)",
	    snd_pcm_hw_params_set_period_time_near(po->pcm, hw, &period_us, &dir));
	TRY("the hardware parameters", snd_pcm_hw_params(po->pcm, hw));
	snd_pcm_hw_params_get_buffer_size(hw, &bsize);
	snd_pcm_hw_params_get_period_size(hw, &psize, &dir);
	po->buffer_frames = bsize;
	po->period_frames = psize ? psize : 1;
	TRY("the software parameters", snd_pcm_sw_params_current(po->pcm, sw));
	TRY("the start threshold", snd_pcm_sw_params_set_start_threshold(
					   po->pcm, sw, po->period_frames));
	TRY("the wake-up threshold",
	    snd_pcm_sw_params_set_avail_min(po->pcm, sw, po->period_frames));
	TRY("the software parameters", snd_pcm_sw_params(po->pcm, sw));
#undef TRY
	rc = snd_pcm_poll_descriptors_count(po->pcm);
	if (rc <= 0 || rc > PLAYOUT_MAX_PFDS) {
		snprintf(why, whylen, "it offers %d poll descriptors", rc);
		return -EINVAL;
	}
	po->npfds = rc;
	log_debug("audio device \"%s\": %u channel(s), %u Hz, buffer %lu frames, period "
		  "%lu frames", po->cfg.device, po->cfg.channels, rate, po->buffer_frames,
		  po->period_frames);
	return 0;
fail:
	snprintf(why, whylen, "cannot set %s: %s", step, snd_strerror(rc));
	return rc;
}

static int dev_open(struct playout *po)
{
	char why[256];
	int rc;

	if (po->pcm)
		return 0;
	rc = snd_pcm_open(&po->pcm, po->cfg.device, SND_PCM_STREAM_PLAYBACK,
			  SND_PCM_NONBLOCK);
	if (rc < 0) {
		po->pcm = NULL;
		snprintf(why, sizeof(why), "%s", snd_strerror(rc));
		goto fail;
	}
	rc = dev_configure(po, why, sizeof(why));
	if (rc < 0)
		goto fail;
	po->dev = PO_DEV_IDLE;
	po->idle_since = mono_ms();
	log_debug("opened audio device \"%s\"", po->cfg.device);
	return 0;
fail:
	if (po->pcm) {
		snd_pcm_close(po->pcm);
		po->pcm = NULL;
	}
	po->npfds = 0;
	po->errors++;
	set_error(po, "cannot open audio device \"%s\": %s", po->cfg.device, why);
	return rc < 0 ? rc : -EIO;
}

/*
 * The device failed while we were using it (or could not be opened): close
 * it, count it, and try again in PLAYOUT_RETRY_MS. The play keeps its place.
 */
static void dev_failed(struct playout *po, int64_t mono)
{
	int retrying = po->dev == PO_DEV_ERROR && po->error_since;

	if (po->pcm)
		dev_close(po);
	po->dev = PO_DEV_ERROR;
	po->retry_at = mono + PLAYOUT_RETRY_MS;
	if (po->active && !po->error_since)
		po->error_since = mono;
	/* one warning per outage; the retries only in the debug log */
	if (retrying)
		log_debug("%s; retrying in %d s", po->last_error, PLAYOUT_RETRY_MS / 1000);
	else
		log_warnx("%s; retrying every %d s for up to %d s", po->last_error,
			  PLAYOUT_RETRY_MS / 1000, PLAYOUT_GIVE_UP_MS / 1000);
}

static void item_free(struct playout *po)
{
	if (po->of) {
		op_free(po->of);
		po->of = NULL;
	}
	memset(&po->src, 0, sizeof(po->src));
	po->mem = NULL;
	po->mem_len = po->mem_pos = 0;
	free(po->dec);
	free(po->out);
	po->dec = NULL;
	po->out = NULL;
	po->active = 0;
}

static void item_done(struct playout *po, enum playout_result result, const char *reason)
{
	struct playout_done d;
	char why[256];

	/* a play shorter than a batch ends in the batch that started it */
	if (po->start_untold) {
		po->start_untold = 0;
		if (po->on_started)
			po->on_started(po->cb_arg, po->start_ms);
	}
	snprintf(why, sizeof(why), "%s", reason ? reason : "");
	d.result = result;
	d.reason = why;
	d.start_ms = po->started ? po->start_ms : 0;
	d.frames = po->frames_written;
	item_free(po);
	po->error_since = 0;
	if (po->dev == PO_DEV_PLAYING || po->dev == PO_DEV_DRAINING)
		po->dev = PO_DEV_IDLE;
	po->idle_since = mono_ms();
	if (po->on_done)
		po->on_done(po->cb_arg, &d);
}

/* Make the device ready for a new stream: prepared, empty. */
static int dev_prepare(struct playout *po)
{
	snd_pcm_state_t st = snd_pcm_state(po->pcm);
	int rc = 0;

	if (st == SND_PCM_STATE_RUNNING || st == SND_PCM_STATE_DRAINING ||
	    st == SND_PCM_STATE_XRUN)
		snd_pcm_drop(po->pcm);
	st = snd_pcm_state(po->pcm);
	if (st != SND_PCM_STATE_PREPARED)
		rc = snd_pcm_prepare(po->pcm);
	if (rc < 0) {
		po->errors++;
		set_error(po, "audio device \"%s\" cannot be prepared: %s", po->cfg.device,
			  snd_strerror(rc));
	}
	return rc;
}

/* Bring the device to PO_DEV_PLAYING for the active item, or to PO_DEV_ERROR. */
static void dev_start_item(struct playout *po, int64_t mono)
{
	if (dev_open(po) < 0 || dev_prepare(po) < 0) {
		dev_failed(po, mono);
		return;
	}
	if (po->error_since)
		log_info("audio device \"%s\" works again", po->cfg.device);
	po->error_since = 0;
	po->dev = PO_DEV_PLAYING;
}

static int start_item(struct playout *po, int volume, char *reason, size_t reasonlen);

int playout_start_req(struct playout *po, const struct playout_req *req, char *reason,
		      size_t reasonlen)
{
	const char *first = req->chime ? req->chime : req->path;
	int err = 0;

	if (po->active) {
		snprintf(reason, reasonlen, "the player is busy");
		return -EBUSY;
	}
	if (req->chime && strlen(req->path) >= sizeof(po->next_path)) {
		snprintf(reason, reasonlen, "path too long");
		return -ENAMETOOLONG;
	}
	if (!po->od && !(po->od = opusdec_new())) {
		snprintf(reason, reasonlen, "out of memory");
		return -ENOMEM;
	}
	po->of = op_open_file(first, &err);
	if (!po->of) {
		snprintf(reason, reasonlen, "cannot open %s as Ogg Opus (opusfile error %d)",
			 first, err);
		return -EINVAL;
	}
	opusdec_attach(po->od, po->of);
	snprintf(po->next_path, sizeof(po->next_path), "%s", req->chime ? req->path : "");
	po->at_mono_us = req->at_mono_us;
	return start_item(po, req->volume, reason, reasonlen);
}

int playout_start(struct playout *po, const char *path, int volume, char *reason,
		  size_t reasonlen)
{
	struct playout_req req = { .path = path, .volume = volume };

	return playout_start_req(po, &req, reason, reasonlen);
}

int playout_start_source(struct playout *po, const struct playout_source *src, int volume,
			 char *reason, size_t reasonlen)
{
	if (po->active) {
		snprintf(reason, reasonlen, "the player is busy");
		return -EBUSY;
	}
	po->src = *src;
	po->next_path[0] = '\0';
	po->at_mono_us = 0; /* a live source times itself (play_us) */
	return start_item(po, volume, reason, reasonlen);
}

int playout_start_pcm(struct playout *po, const int16_t *pcm, size_t n, int volume,
		      int64_t at_mono_us, char *reason, size_t reasonlen)
{
	if (po->active) {
		snprintf(reason, reasonlen, "the player is busy");
		return -EBUSY;
	}
	po->mem = pcm;
	po->mem_len = n;
	po->mem_pos = 0;
	po->next_path[0] = '\0';
	po->at_mono_us = at_mono_us;
	return start_item(po, volume, reason, reasonlen);
}

/* Common to files and sources: buffers, state, the device (next_path and
 * at_mono_us are set by the caller). */
static int start_item(struct playout *po, int volume, char *reason, size_t reasonlen)
{
	po->dec = malloc(DEC_CAP * sizeof(int16_t));
	po->out_cap = OUT_FRAMES;
	po->out = malloc(po->out_cap * po->cfg.channels * sizeof(int16_t));
	if (!po->dec || !po->out) {
		item_free(po);
		snprintf(reason, reasonlen, "out of memory");
		return -ENOMEM;
	}
	po->active = 1;
	po->dec_len = po->dec_pos = 0;
	po->dec_eof = 0;
	po->dec_error[0] = '\0';
	po->src_pos = 0;
	po->volume = volume;
	po->gain = playout_gain(volume);
	po->stopping = 0;
	po->stop_left = 0;
	po->out_frames = po->out_pos = 0;
	po->started = 0;
	po->start_untold = 0;
	po->start_ms = 0;
	po->start_us = 0;
	po->frames_written = 0;
	po->error_since = 0;
	po->pad_known = 0;
	po->pad_left = po->pad_frames = 0;
	dev_start_item(po, mono_ms());
	return 0;
}

void playout_warm_up(struct playout *po, int64_t until_mono)
{
	int64_t mono = mono_ms();

	if (po->warm_until < until_mono)
		po->warm_until = until_mono;
	if (po->dev != PO_DEV_CLOSED || mono < po->retry_at)
		return;
	if (dev_open(po) < 0) {
		log_warnx("%s (the play will try again when it starts)", po->last_error);
		po->retry_at = mono + PLAYOUT_RETRY_MS;
	}
}

/*
 * Read from the decoder until at least want samples are buffered after
 * dec_pos or the stream ended. Multi-channel links are mixed down to mono
 * (loaxa content is mono; this only keeps foreign files audible).
 */
/*
 * Make room at the end of po->dec for what `want` still lacks: the samples
 * not used yet move to the front. Returns how many samples to add (0: there
 * are enough, or no room).
 */
static size_t dec_make_room(struct playout *po, size_t want)
{
	size_t have = po->dec_len - po->dec_pos, n;

	if (have >= want)
		return 0;
	if (po->dec_pos > 0) {
		memmove(po->dec, po->dec + po->dec_pos, have * sizeof(int16_t));
		po->dec_len = have;
		po->dec_pos = 0;
	}
	n = want - have;
	return n < DEC_CAP - po->dec_len ? n : DEC_CAP - po->dec_len;
}

/*
 * A live source: ask for what is wanted, telling it when its first sample
 * will be heard (the device's delay plus what waits in our two buffers), so
 * it can pick the samples that belong to that instant.
 */
static void source_more(struct playout *po, size_t want)
{
	snd_pcm_sframes_t delay = 0;
	size_t ask = dec_make_room(po, want), queued;
	int64_t play_us;
	int n;

	if (ask == 0)
		return;
	if (!po->pcm || snd_pcm_delay(po->pcm, &delay) < 0 || delay < 0)
		delay = 0;
	/* dec_make_room moved what is left to the front */
	queued = (size_t)delay + po->dec_len + (po->out_frames - po->out_pos);
	play_us = now_us() + (int64_t)queued * 1000000 / po->cfg.rate;
	n = po->src.read(po->src.arg, po->dec + po->dec_len, ask, play_us);
	if (n < 0)
		po->dec_eof = 1;
	else
		po->dec_len += (size_t)n;
}

/* Samples in memory: copy what is wanted (it is all there already). */
static void mem_more(struct playout *po, size_t want)
{
	size_t n = dec_make_room(po, want);

	if (po->dec_len - po->dec_pos >= want)
		return;
	if (n > po->mem_len - po->mem_pos)
		n = po->mem_len - po->mem_pos;
	memcpy(po->dec + po->dec_len, po->mem + po->mem_pos, n * sizeof(int16_t));
	po->dec_len += n;
	po->mem_pos += n;
	if (po->mem_pos == po->mem_len)
		po->dec_eof = 1;
}

static void decode_more(struct playout *po, size_t want)
{
	if (po->src.read) {
		source_more(po, want);
		return;
	}
	if (po->mem) {
		mem_more(po, want);
		return;
	}
	while (!po->dec_eof && po->dec_len - po->dec_pos < want) {
		int n, li, ch;

		if (po->dec_pos > 0 && DEC_CAP - po->dec_len < 5760 * 2) {
			memmove(po->dec, po->dec + po->dec_pos,
				(po->dec_len - po->dec_pos) * sizeof(int16_t));
			po->dec_len -= po->dec_pos;
			po->dec_pos = 0;
		}
		n = op_read(po->of, po->dec + po->dec_len, (int)(DEC_CAP - po->dec_len), &li);
		if (n == OP_HOLE) {
			log_warnx("the content has a gap (corrupt or missing data): skipped");
			continue;
		}
		if (n < 0) {
			snprintf(po->dec_error, sizeof(po->dec_error),
				 "the content cannot be decoded (opusfile error %d)", n);
			po->dec_eof = 1;
			break;
		}
		if (n == 0) {
			po->dec_eof = 1;
			break;
		}
		ch = op_channel_count(po->of, li);
		opusdec_mono(po->dec + po->dec_len, n, ch);
		po->dec_len += (size_t)n;
	}
}

/* Nothing more will come from the source (end, decode error, or stop faded out). */
static int source_done(const struct playout *po)
{
	if (po->stopping)
		return po->stop_left == 0 || (po->dec_eof && po->dec_pos == po->dec_len);
	return po->dec_eof && po->dec_pos == po->dec_len;
}

/* Fill po->out with up to max frames; returns how many. */
static size_t produce(struct playout *po, size_t max)
{
	size_t avail, n;
	uint64_t to_end;

	/* live: a period at a time, so samples are chosen as late as possible */
	if (po->src.read && max > po->period_frames)
		max = po->period_frames;
	decode_more(po, max + PLAYOUT_FADE + 1);
	avail = po->dec_len - po->dec_pos;
	if (po->stopping) {
		n = avail < po->stop_left ? avail : po->stop_left;
		to_end = po->stop_left;
		if (po->dec_eof && avail < to_end)
			to_end = avail;
	} else if (po->dec_eof) {
		n = avail;
		to_end = avail;
	} else {
		/* keep the last PLAYOUT_FADE samples back until we know where the end is */
		n = avail > PLAYOUT_FADE ? avail - PLAYOUT_FADE : 0;
		to_end = 0;
	}
	if (n > max)
		n = max;
	if (n == 0)
		return 0;
	playout_shape(po->out, po->dec + po->dec_pos, n, po->src_pos, to_end, po->gain,
		      po->volume >= 100, po->cfg.channels);
	po->dec_pos += n;
	po->src_pos += n;
	if (po->stopping)
		po->stop_left -= (unsigned)n;
	return n;
}

/* The last sample is written: let the device play what it holds, without blocking. */
static void start_drain(struct playout *po, int64_t mono)
{
	int rc;

	if (snd_pcm_state(po->pcm) == SND_PCM_STATE_PREPARED && po->frames_written > 0)
		snd_pcm_start(po->pcm);
	rc = snd_pcm_drain(po->pcm);
	if (rc == -EAGAIN) {
		po->dev = PO_DEV_DRAINING;
		po->drain_deadline = mono + po->cfg.buffer_ms * 2 + 1000;
		return;
	}
	if (rc < 0) {
		log_debug("audio device \"%s\": drain: %s", po->cfg.device, snd_strerror(rc));
		snd_pcm_drop(po->pcm);
	}
	po->dev = PO_DEV_IDLE;
	if (po->stopping)
		item_done(po, PO_STOPPED, "");
	else if (po->dec_error[0])
		item_done(po, PO_FAILED, po->dec_error);
	else
		item_done(po, PO_FINISHED, "");
}

/*
 * A write failed. Underruns and suspends are recovered in place (and
 * counted); anything else means the device is gone or broken.
 */
static int write_failed(struct playout *po, int err, int64_t mono)
{
	int rc;

	if (err == -EPIPE || err == -ESTRPIPE) {
		if (err == -EPIPE)
			po->xruns++;
		rc = snd_pcm_recover(po->pcm, err, 1);
		if (rc == 0) {
			log_warnx("audio device \"%s\": %s (%llu so far): recovered",
				  po->cfg.device, err == -EPIPE ? "underrun" : "suspended",
				  (unsigned long long)po->xruns);
			return 0;
		}
		err = rc;
	}
	po->errors++;
	set_error(po, "audio device \"%s\" failed: %s", po->cfg.device, snd_strerror(err));
	dev_failed(po, mono);
	return -1;
}

/* Silence for the alignment pad (zero-initialised, never written). */
static const int16_t zeros[OUT_FRAMES * 8];

/* Frames the device holds ahead of the speaker (0 when it cannot say). */
static snd_pcm_sframes_t dev_delay(struct playout *po)
{
	snd_pcm_sframes_t d = 0;

	if (snd_pcm_delay(po->pcm, &d) < 0 || d < 0)
		d = 0;
	return d;
}

/*
 * How much silence puts the first sample on at_mono_us: what the device
 * already holds plays first, then the pad, then the sample. Late (the time
 * has passed): no pad, the play starts at once and the error is reported.
 */
static void compute_pad(struct playout *po)
{
	int64_t ahead_us = po->at_mono_us - mono_us();
	int64_t frames = ahead_us * (int64_t)po->cfg.rate / 1000000 - dev_delay(po);

	po->pad_known = 1;
	po->pad_left = po->pad_frames = frames > 0 ? (uint64_t)frames : 0;
	log_debug("start aligned to the device: %.1f ms ahead, %" PRIu64 " frames of "
		  "silence first", (double)ahead_us / 1000.0, po->pad_frames);
}

/*
 * The chime ended: continue with the content, in the same stream (no gap,
 * the device keeps running). Returns 0, or -1 with dec_error set.
 */
static int next_file(struct playout *po)
{
	int err = 0;

	op_free(po->of);
	po->of = op_open_file(po->next_path, &err);
	if (!po->of) {
		snprintf(po->dec_error, sizeof(po->dec_error),
			 "cannot open the content after the chime (opusfile error %d)", err);
		po->next_path[0] = '\0';
		return -1;
	}
	opusdec_attach(po->od, po->of);
	po->next_path[0] = '\0';
	po->dec_len = po->dec_pos = 0;
	po->dec_eof = 0;
	po->src_pos = 0; /* its own fade-in */
	return 0;
}

/*
 * Write while the device has room. A batch is bounded (one buffer's worth)
 * so that an unpaced device (the `file`/`null` plugins in tests) does not
 * keep the loop from MQTT: poll() calls us again at once.
 */
static void pump_batch(struct playout *po, int64_t mono)
{
	size_t budget = po->buffer_frames > OUT_FRAMES ? po->buffer_frames : OUT_FRAMES;

	while (po->active && po->dev == PO_DEV_PLAYING && budget > 0) {
		snd_pcm_sframes_t w;

		if (!po->started && po->at_mono_us > 0 && !po->stopping) {
			if (!po->pad_known)
				compute_pad(po);
			if (po->pad_left > 0) {
				size_t k = po->pad_left < OUT_FRAMES ? (size_t)po->pad_left
								     : OUT_FRAMES;

				if (k > budget)
					k = budget;
				w = snd_pcm_writei(po->pcm, zeros, k);
				if (w == -EAGAIN)
					return;
				if (w < 0) {
					if (write_failed(po, (int)w, mono) < 0)
						return;
					po->pad_known = 0; /* recovered: measure again */
					continue;
				}
				po->pad_left -= (uint64_t)w;
				budget = (size_t)w >= budget ? 0 : budget - (size_t)w;
				continue;
			}
		}
		if (po->out_pos == po->out_frames) {
			if (source_done(po)) {
				if (!po->stopping && po->next_path[0] && !po->dec_error[0] &&
				    next_file(po) == 0)
					continue;
				start_drain(po, mono);
				return;
			}
			po->out_pos = 0;
			po->out_frames = 0; /* nothing pending: a live source times from here */
			/* the first write: one period (the start threshold), so the
			 * device starts after decoding 20 ms, not 100; never more than
			 * the out buffer holds (a period over 100 ms, alsa.period_ms
			 * up to 500, wrote past its end: found by the node simulator) */
			po->out_frames = produce(po, po->started || po->frames_written ||
						 po->period_frames > po->out_cap ?
						 po->out_cap : po->period_frames);
			if (po->out_frames == 0)
				continue; /* source_done() holds now */
		}
		if (!po->started) {
			/* when the first sample will leave the device: after what it holds */
			po->start_us = now_us() + dev_delay(po) * 1000000 /
						  (snd_pcm_sframes_t)po->cfg.rate;
		}
		w = snd_pcm_writei(po->pcm, po->out + po->out_pos * po->cfg.channels,
				   po->out_frames - po->out_pos);
		if (w == -EAGAIN)
			return;
		if (w < 0) {
			if (write_failed(po, (int)w, mono) < 0)
				return;
			continue;
		}
		if (!po->started && w > 0) {
			po->started = 1;
			po->start_ms = po->start_us / 1000;
			po->start_untold = 1;
		}
		po->out_pos += (size_t)w;
		po->frames_written += (uint64_t)w;
		budget = (size_t)w >= budget ? 0 : budget - (size_t)w;
	}
}

/*
 * The device starts on its first period (the start threshold), but only one
 * period is queued then: whoever hears of the start journals an event,
 * which may wait on the disk for longer than a period. So the batch fills
 * the buffer first and the start is told afterwards.
 */
static void pump(struct playout *po, int64_t mono)
{
	pump_batch(po, mono);
	if (po->start_untold) {
		po->start_untold = 0;
		if (po->on_started)
			po->on_started(po->cb_arg, po->start_ms);
	}
}

/* A play that has not produced anything yet (just started or resumed). */
static int fresh(const struct playout *po)
{
	return po->active && !po->started && po->out_frames == 0 && !po->pad_known;
}

void playout_stop(struct playout *po)
{
	size_t unwritten;

	/* While draining, everything is in the device already: let it end. */
	if (!po->active || po->stopping || po->dev == PO_DEV_DRAINING)
		return;
	/*
	 * Frames produced but not yet written go back to the decoder buffer
	 * (they are still there: it is only compacted before producing), so
	 * the fade-out starts right after what the device already has.
	 */
	unwritten = po->out_frames - po->out_pos;
	po->dec_pos -= unwritten;
	po->src_pos -= unwritten;
	po->out_frames = po->out_pos = 0;
	po->stopping = 1;
	po->stop_left = po->started ? PLAYOUT_FADE : 0;
	if (po->dev == PO_DEV_ERROR || po->dev == PO_DEV_CLOSED || !po->started) {
		/* nothing audible to fade: end now */
		if (po->pcm && po->dev == PO_DEV_PLAYING)
			dev_prepare(po);
		if (po->dev == PO_DEV_PLAYING)
			po->dev = PO_DEV_IDLE;
		item_done(po, PO_STOPPED, "");
		return;
	}
	pump(po, mono_ms());
}

int playout_pollfds(struct playout *po, struct pollfd *pfds, int max)
{
	int n;

	if (!po->active || po->dev != PO_DEV_PLAYING || !po->pcm || po->npfds > max)
		return 0;
	n = snd_pcm_poll_descriptors(po->pcm, pfds, (unsigned)po->npfds);
	return n < 0 ? 0 : n;
}

void playout_handle(struct playout *po, struct pollfd *pfds, int n)
{
	unsigned short revents = 0;
	int rc;

	if (n <= 0 || !po->pcm || po->dev != PO_DEV_PLAYING)
		return;
	rc = snd_pcm_poll_descriptors_revents(po->pcm, pfds, (unsigned)n, &revents);
	if (rc < 0 || revents & (POLLOUT | POLLERR | POLLHUP | POLLNVAL)) {
		if (revents & POLLNVAL) {
			po->errors++;
			set_error(po, "audio device \"%s\" went away", po->cfg.device);
			dev_failed(po, mono_ms());
			return;
		}
		pump(po, mono_ms());
	}
}

void playout_tick(struct playout *po, int64_t mono)
{
	switch (po->dev) {
	case PO_DEV_PLAYING:
		/* a play just started: fill the buffer now (poll() takes over) */
		if (fresh(po))
			pump(po, mono);
		break;
	case PO_DEV_DRAINING: {
		snd_pcm_state_t st = snd_pcm_state(po->pcm);

		if (st == SND_PCM_STATE_DRAINING && mono < po->drain_deadline)
			break;
		if (st == SND_PCM_STATE_DRAINING) {
			log_warnx("audio device \"%s\" did not finish playing within %u ms: "
				  "dropping the rest", po->cfg.device, po->cfg.buffer_ms * 2 + 1000);
			snd_pcm_drop(po->pcm);
		}
		po->dev = PO_DEV_IDLE;
		if (po->stopping)
			item_done(po, PO_STOPPED, "");
		else if (po->dec_error[0])
			item_done(po, PO_FAILED, po->dec_error);
		else
			item_done(po, PO_FINISHED, "");
		break;
	}
	case PO_DEV_ERROR:
		if (!po->active) {
			break; /* reopened when the next play starts */
		}
		if (mono - po->error_since >= PLAYOUT_GIVE_UP_MS) {
			char why[300];

			snprintf(why, sizeof(why), "%s (for %d s)", po->last_error,
				 PLAYOUT_GIVE_UP_MS / 1000);
			item_done(po, PO_FAILED, why);
			break;
		}
		if (mono >= po->retry_at) {
			dev_start_item(po, mono);
			if (po->dev == PO_DEV_PLAYING)
				pump(po, mono);
		}
		break;
	case PO_DEV_IDLE:
		if (po->active) {
			/* not expected: an item without a playing device; get one */
			dev_start_item(po, mono);
			if (po->dev == PO_DEV_PLAYING)
				pump(po, mono);
			break;
		}
		if (mono - po->idle_since >= PLAYOUT_IDLE_CLOSE_MS &&
		    mono >= po->warm_until) {
			dev_close(po);
			log_debug("closed audio device \"%s\" (idle)", po->cfg.device);
		}
		break;
	case PO_DEV_CLOSED:
		break;
	}
}

int64_t playout_next_deadline(const struct playout *po)
{
	int64_t t;

	switch (po->dev) {
	case PO_DEV_PLAYING:
		if (fresh(po))
			return 0;
		return INT64_MAX; /* poll descriptors wake us */
	case PO_DEV_DRAINING:
		return mono_ms() + 5;
	case PO_DEV_ERROR:
		if (!po->active)
			return INT64_MAX;
		t = po->error_since + PLAYOUT_GIVE_UP_MS;
		return po->retry_at < t ? po->retry_at : t;
	case PO_DEV_IDLE:
		if (po->active)
			return 0;
		t = po->idle_since + PLAYOUT_IDLE_CLOSE_MS;
		return po->warm_until > t ? po->warm_until : t;
	case PO_DEV_CLOSED:
		break;
	}
	return INT64_MAX;
}

void playout_close(struct playout *po)
{
	if (po->active)
		item_free(po);
	dev_close(po);
	opusdec_free(po->od);
	po->od = NULL;
	snd_config_update_free_global();
}

/* ---- the event loop (loop.h): main.c registers this module ---- */

static void loop_tick(struct loop *l, int64_t mono, void *arg)
{
	(void)l;
	playout_tick(arg, mono);
}

static int64_t loop_deadline(void *arg)
{
	return playout_next_deadline(arg);
}

static int loop_fill(struct loop *l, struct pollfd *pfds, int max, void *arg)
{
	(void)l;
	return playout_pollfds(arg, pfds, max);
}

static void loop_handle(struct loop *l, struct pollfd *pfds, int npfd, void *arg)
{
	(void)l;
	if (npfd > 0)
		playout_handle(arg, pfds, npfd);
}

int playout_register(struct loop *l, struct playout *po)
{
	int rc = loop_source_add(l, loop_fill, loop_handle, po);

	if (rc < 0)
		return rc;
	rc = loop_tick_add(l, "playout", loop_tick, loop_deadline, po);
	return rc < 0 ? rc : 0;
}
