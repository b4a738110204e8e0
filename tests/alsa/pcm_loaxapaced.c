/*
 * pcm_loaxapaced.c - a paced ALSA playback "sound card" for timing tests.
 *
 * The machines loaxa is tested on have no sound card, and ALSA's `file`
 * plugin consumes samples as fast as they are written: good for comparing
 * samples, useless for saying *when* a sample would have left a speaker.
 * This external (ioplug) PCM behaves like a real card: it consumes frames at
 * exactly the configured rate against CLOCK_MONOTONIC, wakes the application
 * once per period through a timerfd (its poll descriptor, like a period
 * interrupt), reports a true snd_pcm_delay(), and underruns when the
 * application is late.
 *
 * What it records is what a microphone in front of the horn would: each
 * time sound starts after silence ("onset") and each time it stops
 * ("silence"), with the CLOCK_REALTIME instant at which that frame reached
 * the speaker, computed from the frame's position in the paced stream (not
 * from when the plugin happened to notice it). Optionally it also writes the
 * consumed samples, raw, to a capture file.
 *
 *   pcm_type.loaxapaced { lib "/abs/path/libasound_module_pcm_loaxapaced.so" }
 *   pcm.!default {
 *       type loaxapaced
 *       log "/tmp/x/onsets.log"     # required: onset/silence/xrun lines
 *       capture "/tmp/x/out.raw"    # optional: consumed S16_LE samples
 *       latency_us 0                # optional: fixed extra output latency
 *       threshold 64                # optional: |sample| that counts as sound
 *       silence_ms 50               # optional: gap that ends a sound
 *   }
 *
 * Both files are appended to (a node closes and reopens its PCM between
 * plays). Log lines (one per event, flushed at once so tests can follow it):
 *   onset <realtime_ns> <frame>     first sounding frame after >= silence_ms
 *   silence <realtime_ns> <frame>   first frame of a silence >= silence_ms
 *   xrun <realtime_ns> <frame>      the application was late (underrun)
 * <frame> counts every frame consumed since the PCM was opened.
 */
#include <alsa/asoundlib.h>
#include <alsa/pcm_external.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

struct paced {
	snd_pcm_ioplug_t io;
	int timer;                 /* timerfd: the "period interrupt" */
	FILE *log;
	FILE *capture;
	int64_t latency_ns;
	int threshold;
	unsigned silence_ms;

	/* Geometry, set by hw_params. */
	unsigned rate, channels;
	snd_pcm_uframes_t buffer_size, period_size;
	snd_pcm_uframes_t boundary;
	int16_t *ring;             /* buffer_size frames of what was written */

	/* Stream positions, in frames since prepare. */
	uint64_t written;          /* frames handed to us by transfer() */
	uint64_t consumed;         /* frames that reached the speaker */
	int running;
	int64_t start_mono_ns;     /* when the current run started */
	int64_t start_real_ns;
	uint64_t start_frame;      /* consumed at the start of the run */

	/* Sound detection, over every consumed frame since open. */
	uint64_t total;            /* frames consumed since open */
	int in_sound;
	uint64_t quiet_run;        /* consecutive quiet frames */
	uint64_t silence_frames;
};

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The instant at which consumed frame number `pos` (since prepare) reaches the speaker. */
static int64_t frame_time(const struct paced *p, uint64_t pos)
{
	return p->start_real_ns + (int64_t)((pos - p->start_frame) * 1000000000ULL / p->rate) +
	       p->latency_ns;
}

static void log_line(struct paced *p, const char *what, int64_t ns, uint64_t frame)
{
	if (!p->log)
		return;
	fprintf(p->log, "%s %lld %llu\n", what, (long long)ns, (unsigned long long)frame);
	fflush(p->log);
}

/*
 * Consume frames up to stream position `upto`: they have now "left the
 * speaker". Sound detection and capture happen here, at consumption, so a
 * frame written and then dropped (snd_pcm_drop) is never heard.
 */
static void consume(struct paced *p, uint64_t upto)
{
	while (p->consumed < upto) {
		uint64_t idx = p->consumed % p->buffer_size;
		uint64_t n = upto - p->consumed;
		const int16_t *f = p->ring + idx * p->channels;

		if (n > p->buffer_size - idx)
			n = p->buffer_size - idx;
		if (p->capture)
			fwrite(f, sizeof(int16_t) * p->channels, n, p->capture);
		for (uint64_t i = 0; i < n; i++) {
			int loud = 0;

			for (unsigned c = 0; c < p->channels; c++) {
				int v = f[i * p->channels + c];
				if (v >= p->threshold || v <= -p->threshold)
					loud = 1;
			}
			if (loud) {
				if (!p->in_sound)
					log_line(p, "onset", frame_time(p, p->consumed + i),
						 p->total + i);
				p->in_sound = 1;
				p->quiet_run = 0;
			} else if (p->in_sound && ++p->quiet_run >= p->silence_frames) {
				uint64_t first = p->consumed + i + 1 - p->quiet_run;

				log_line(p, "silence", frame_time(p, first),
					 p->total + i + 1 - p->quiet_run);
				p->in_sound = 0;
			}
		}
		p->consumed += n;
		p->total += n;
	}
	if (p->capture)
		fflush(p->capture);
}

/* A stop in the stream (xrun, drop, drain end) is silence to a listener. */
static void end_of_sound(struct paced *p)
{
	if (p->in_sound && p->running)
		log_line(p, "silence", frame_time(p, p->consumed), p->total);
	p->in_sound = 0;
	p->quiet_run = 0;
}

static int arm_timer(struct paced *p, int on)
{
	struct itimerspec its;
	int64_t period_ns = (int64_t)(p->period_size * 1000000000ULL / p->rate);

	memset(&its, 0, sizeof(its));
	if (on) {
		its.it_value.tv_sec = period_ns / 1000000000LL;
		its.it_value.tv_nsec = period_ns % 1000000000LL;
		its.it_interval = its.it_value;
	}
	return timerfd_settime(p->timer, 0, &its, NULL) < 0 ? -errno : 0;
}

static int paced_start(snd_pcm_ioplug_t *io)
{
	struct paced *p = io->private_data;

	p->running = 1;
	p->start_mono_ns = clock_ns(CLOCK_MONOTONIC);
	p->start_real_ns = clock_ns(CLOCK_REALTIME);
	p->start_frame = p->consumed;
	return arm_timer(p, 1);
}

static int paced_stop(snd_pcm_ioplug_t *io)
{
	struct paced *p = io->private_data;

	end_of_sound(p);
	p->running = 0;
	return arm_timer(p, 0);
}

/*
 * The hardware pointer: frames consumed so far, paced by the monotonic
 * clock and never past what was written. Being late (the clock wants more
 * than was written) is an underrun, except while draining, where running
 * dry is the point.
 */
static snd_pcm_sframes_t paced_pointer(snd_pcm_ioplug_t *io)
{
	struct paced *p = io->private_data;

	if (p->running) {
		int64_t elapsed = clock_ns(CLOCK_MONOTONIC) - p->start_mono_ns;
		uint64_t due = p->start_frame + (uint64_t)elapsed * p->rate / 1000000000ULL;

		if (due > p->written) {
			consume(p, p->written);
			if (io->state != SND_PCM_STATE_DRAINING) {
				end_of_sound(p);
				log_line(p, "xrun", frame_time(p, p->written), p->total);
				return -EPIPE;
			}
		} else {
			consume(p, due);
		}
	}
	return (snd_pcm_sframes_t)(p->consumed % p->boundary);
}

static snd_pcm_sframes_t paced_transfer(snd_pcm_ioplug_t *io,
					const snd_pcm_channel_area_t *areas,
					snd_pcm_uframes_t offset, snd_pcm_uframes_t size)
{
	struct paced *p = io->private_data;
	const char *base = (const char *)areas[0].addr + (areas[0].first +
							  areas[0].step * offset) / 8;
	snd_pcm_uframes_t done = 0;

	if (p->written + size > p->consumed + p->buffer_size)
		size = (snd_pcm_uframes_t)(p->consumed + p->buffer_size - p->written);
	while (done < size) {
		uint64_t idx = (p->written + done) % p->buffer_size;
		snd_pcm_uframes_t n = size - done;

		if (n > p->buffer_size - idx)
			n = (snd_pcm_uframes_t)(p->buffer_size - idx);
		memcpy(p->ring + idx * p->channels, base + done * p->channels * 2,
		       n * p->channels * 2);
		done += n;
	}
	p->written += size;
	return (snd_pcm_sframes_t)size;
}

static int paced_prepare(snd_pcm_ioplug_t *io)
{
	struct paced *p = io->private_data;

	end_of_sound(p);
	p->running = 0;
	p->written = p->consumed = 0;
	p->start_frame = 0;
	return arm_timer(p, 1);
}

static int paced_delay(snd_pcm_ioplug_t *io, snd_pcm_sframes_t *delayp)
{
	struct paced *p = io->private_data;

	paced_pointer(io);
	*delayp = (snd_pcm_sframes_t)(p->written - p->consumed) +
		  (snd_pcm_sframes_t)(p->latency_ns * p->rate / 1000000000LL);
	return 0;
}

static int paced_hw_params(snd_pcm_ioplug_t *io, snd_pcm_hw_params_t *params)
{
	struct paced *p = io->private_data;
	(void)params;

	p->rate = io->rate;
	p->channels = io->channels;
	p->buffer_size = io->buffer_size;
	p->period_size = io->period_size;
	p->silence_frames = (uint64_t)p->rate * p->silence_ms / 1000;
	if (p->silence_frames == 0)
		p->silence_frames = 1;
	free(p->ring);
	p->ring = calloc(p->buffer_size * p->channels, sizeof(int16_t));
	return p->ring ? 0 : -ENOMEM;
}

static int paced_sw_params(snd_pcm_ioplug_t *io, snd_pcm_sw_params_t *params)
{
	struct paced *p = io->private_data;

	return snd_pcm_sw_params_get_boundary(params, &p->boundary);
}

/* Runs after poll(): consume the timer tick and say whether there is room. */
static int paced_poll_revents(snd_pcm_ioplug_t *io, struct pollfd *pfd, unsigned int nfds,
			      unsigned short *revents)
{
	struct paced *p = io->private_data;
	uint64_t ticks;
	snd_pcm_sframes_t hw;

	*revents = 0;
	if (nfds != 1)
		return -EINVAL;
	if (pfd[0].revents & POLLIN) {
		if (read(p->timer, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
			return -errno;
	}
	hw = paced_pointer(io);
	if (hw < 0) {
		*revents = POLLOUT | POLLERR;
		return 0;
	}
	if (p->consumed + p->buffer_size - p->written >= io->period_size ||
	    io->state == SND_PCM_STATE_DRAINING)
		*revents = POLLOUT;
	return 0;
}

static int paced_close(snd_pcm_ioplug_t *io)
{
	struct paced *p = io->private_data;

	end_of_sound(p);
	if (p->log)
		fclose(p->log);
	if (p->capture)
		fclose(p->capture);
	close(p->timer);
	free(p->ring);
	free(p);
	return 0;
}

static const snd_pcm_ioplug_callback_t paced_callback = {
	.start = paced_start,
	.stop = paced_stop,
	.pointer = paced_pointer,
	.transfer = paced_transfer,
	.close = paced_close,
	.hw_params = paced_hw_params,
	.sw_params = paced_sw_params,
	.prepare = paced_prepare,
	.delay = paced_delay,
	.poll_revents = paced_poll_revents,
};

static int set_constraints(snd_pcm_ioplug_t *io)
{
	static const unsigned int access[] = { SND_PCM_ACCESS_RW_INTERLEAVED,
					       SND_PCM_ACCESS_MMAP_INTERLEAVED };
	static const unsigned int formats[] = { SND_PCM_FORMAT_S16_LE };
	int rc;

	if ((rc = snd_pcm_ioplug_set_param_list(io, SND_PCM_IOPLUG_HW_ACCESS, 2, access)) < 0 ||
	    (rc = snd_pcm_ioplug_set_param_list(io, SND_PCM_IOPLUG_HW_FORMAT, 1, formats)) < 0 ||
	    (rc = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_CHANNELS, 1, 2)) < 0 ||
	    (rc = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_RATE, 8000, 192000)) < 0 ||
	    (rc = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_PERIOD_BYTES,
						  64, 1024 * 1024)) < 0 ||
	    (rc = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_PERIODS, 2, 64)) < 0 ||
	    (rc = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_BUFFER_BYTES,
						  128, 4 * 1024 * 1024)) < 0)
		return rc;
	return 0;
}

static int open_out(const char *path, const char *what, FILE **f)
{
	*f = fopen(path, "a");
	if (!*f) {
		SNDERR("loaxapaced: cannot open the %s file %s: %s", what, path, strerror(errno));
		return -errno;
	}
	return 0;
}

SND_PCM_PLUGIN_DEFINE_FUNC(loaxapaced)
{
	snd_config_iterator_t i, next;
	const char *log_path = NULL, *capture_path = NULL;
	long latency_us = 0, threshold = 64, silence_ms = 50;
	struct paced *p = NULL;
	int rc;

	snd_config_for_each(i, next, conf) {
		snd_config_t *n = snd_config_iterator_entry(i);
		const char *id;

		if (snd_config_get_id(n, &id) < 0)
			continue;
		if (!strcmp(id, "comment") || !strcmp(id, "type") || !strcmp(id, "hint"))
			continue;
		if (!strcmp(id, "log")) {
			if (snd_config_get_string(n, &log_path) < 0)
				goto bad;
		} else if (!strcmp(id, "capture")) {
			if (snd_config_get_string(n, &capture_path) < 0)
				goto bad;
		} else if (!strcmp(id, "latency_us")) {
			if (snd_config_get_integer(n, &latency_us) < 0 || latency_us < 0)
				goto bad;
		} else if (!strcmp(id, "threshold")) {
			if (snd_config_get_integer(n, &threshold) < 0 || threshold < 1 ||
			    threshold > 32767)
				goto bad;
		} else if (!strcmp(id, "silence_ms")) {
			if (snd_config_get_integer(n, &silence_ms) < 0 || silence_ms < 1 ||
			    silence_ms > 10000)
				goto bad;
		} else {
			SNDERR("loaxapaced: unknown field %s", id);
			return -EINVAL;
		}
		continue;
bad:
		SNDERR("loaxapaced: invalid value for field %s", id);
		return -EINVAL;
	}
	if (stream != SND_PCM_STREAM_PLAYBACK) {
		SNDERR("loaxapaced: playback only");
		return -EINVAL;
	}
	if (!log_path) {
		SNDERR("loaxapaced: the field log is required");
		return -EINVAL;
	}

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->timer = -1;
	p->latency_ns = latency_us * 1000LL;
	p->threshold = (int)threshold;
	p->silence_ms = (unsigned)silence_ms;
	p->boundary = LONG_MAX;
	if ((rc = open_out(log_path, "log", &p->log)) < 0)
		goto fail;
	if (capture_path && (rc = open_out(capture_path, "capture", &p->capture)) < 0)
		goto fail;
	p->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (p->timer < 0) {
		rc = -errno;
		goto fail;
	}

	p->io.version = SND_PCM_IOPLUG_VERSION;
	p->io.name = "loaxa paced test PCM";
	p->io.callback = &paced_callback;
	p->io.private_data = p;
	p->io.poll_fd = p->timer;
	p->io.poll_events = POLLIN;
	p->io.mmap_rw = 0;
	p->io.flags = SND_PCM_IOPLUG_FLAG_BOUNDARY_WA | SND_PCM_IOPLUG_FLAG_MONOTONIC;

	rc = snd_pcm_ioplug_create(&p->io, name, stream, mode);
	if (rc < 0)
		goto fail;
	rc = set_constraints(&p->io);
	if (rc < 0) {
		snd_pcm_ioplug_delete(&p->io);   /* calls paced_close */
		return rc;
	}
	*pcmp = p->io.pcm;
	return 0;
fail:
	if (p->log)
		fclose(p->log);
	if (p->capture)
		fclose(p->capture);
	if (p->timer >= 0)
		close(p->timer);
	free(p);
	return rc;
}

SND_PCM_PLUGIN_SYMBOL(loaxapaced);
