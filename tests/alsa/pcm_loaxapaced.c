/*
 * pcm_loaxapaced.c - a paced ALSA "sound card" for timing tests: a speaker
 * (playback) and a microphone or line-in (capture).
 *
 * The machines loaxa is tested on have no sound card, and ALSA's `file`
 * plugin consumes samples as fast as they are written: good for comparing
 * samples, useless for saying *when* a sample would have left a speaker.
 * This external (ioplug) PCM behaves like a real card: it moves frames at
 * exactly the configured rate against CLOCK_MONOTONIC, wakes the application
 * once per period through a timerfd (its poll descriptor, like a period
 * interrupt), reports a true snd_pcm_delay(), and underruns (playback) or
 * overruns (capture) when the application is late.
 *
 * Playback: what it records is what a microphone in front of the horn
 * would: each time sound starts after silence ("onset") and each time it
 * stops ("silence"), with the CLOCK_REALTIME instant at which that frame
 * reached the speaker, computed from the frame's position in the paced
 * stream (not from when the plugin happened to notice it). Optionally it
 * also writes the consumed samples, raw, to a capture file.
 *
 * Capture: a period of new frames becomes readable every period time, as
 * from a real ADC, made from a source: a raw file (S16_LE at the stream's
 * rate and channels, looped) and/or a sine tone switched on and off in a
 * pattern (so that a listener at the other end has onsets to time). The
 * source runs on from one run of the stream to the next, like a program
 * that goes on while nobody records it. The log then says when each sound
 * entered the microphone, and the capture file holds every frame the card
 * captured (whether the application read it or not).
 *
 *   pcm_type.loaxapaced { lib "/abs/path/libasound_module_pcm_loaxapaced.so" }
 *   pcm.!default {
 *       type loaxapaced
 *       log "/tmp/x/onsets.log"     # onset/silence/xrun lines (required
 *                                   # for playback, optional for capture)
 *       capture "/tmp/x/out.raw"    # optional: the S16_LE samples heard
 *       latency_us 0                # optional: fixed extra output (input) latency
 *       threshold 64                # optional: |sample| that counts as sound
 *       silence_ms 50               # optional: gap that ends a sound
 *       first_only 1                # optional: log the first onset of each run
 *                                   # (after every prepare: a node drains the
 *                                   # device at the end of every play), then
 *                                   # look at no more samples of that run (a
 *                                   # cheap counting sink for the node
 *                                   # simulator's thousands of cards)
 *       # capture only (playback ignores them); without either: silence
 *       source "/tmp/x/program.raw" # S16_LE raw at the stream's rate/channels, looped
 *       tone_hz 500                 # a sine (1-20000 Hz), added to the source,
 *       tone_level 8000             #   at this peak (default 8000),
 *       tone_on_ms 600              #   on for 600 ms, then
 *       tone_off_ms 400             #   off for 400 ms, again and again (0: always on)
 *       kernel_clock 1              # optional: read the clocks from the kernel
 *                                   # (syscall), not through libc: a node run
 *                                   # under libfaketime (its clock drifting on
 *                                   # purpose) still has a card that plays and
 *                                   # logs on the machine's real clocks
 *       # capture only: a microphone in front of the node's own horn (the
 *       # horn self-test, docs/health.md)
 *       wire "/tmp/x/paced.raw"     # the `capture` file of a playback card
 *                                   # (mono S16_LE): what it plays is heard
 *                                   # here, as it is played (new samples only;
 *                                   # at most ~100 ms behind, older ones skipped)
 *       wire_gain_db -20            #   attenuated by this much (-120..0, default -20)
 *       wire_cut "/tmp/x/cut"       #   while this file exists the wire is cut: a
 *                                   #   silent horn (noise only)
 *       noise_level 100             # white noise at this peak (0-32767, default 0),
 *                                   # added to whatever else is heard
 *       gone "/tmp/x/unplugged"     # optional: while this file exists the card
 *                                   # is unplugged: open, prepare, start,
 *                                   # pointer and transfer fail with -ENODEV
 *                                   # (what ALSA returns for a USB card pulled
 *                                   # out), and work again once it is removed
 *   }
 *
 * Both files are appended to (a node closes and reopens its PCM between
 * plays). Log lines (one per event, flushed at once so tests can follow it):
 *   onset <realtime_ns> <frame>     first sounding frame after >= silence_ms
 *   silence <realtime_ns> <frame>   first frame of a silence >= silence_ms
 *   xrun <realtime_ns> <frame>      the application was late (underrun/overrun)
 * <frame> counts every frame played (captured) since the PCM was opened.
 * Capture offers RW interleaved access only (a `plug` on top emulates mmap).
 */
#include <alsa/asoundlib.h>
#include <alsa/pcm_external.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define SOURCE_MAX_BYTES (64L * 1024 * 1024) /* a test program, not an archive */

struct paced {
	snd_pcm_ioplug_t io;
	int capture_stream;        /* 1: a microphone, 0: a speaker */
	int timer;                 /* timerfd: the "period interrupt" */
	FILE *log;
	FILE *capture;
	int64_t latency_ns;
	int threshold;
	unsigned silence_ms;
	int first_only;            /* log the first onset of each run only, then stop listening */
	int heard_first;

	/* What a capture stream hears: a looped raw file, a tone, or both. */
	int16_t *source;
	size_t source_samples;
	uint64_t source_frames;    /* source_samples / channels, set by hw_params */
	unsigned tone_hz, tone_level, tone_on_ms, tone_off_ms;
	uint64_t tone_on, tone_period; /* in frames, set by hw_params */

	/* Geometry, set by hw_params. */
	unsigned rate, channels;
	snd_pcm_uframes_t buffer_size, period_size;
	snd_pcm_uframes_t boundary;
	int16_t *ring;             /* buffer_size frames between application and card */

	/*
	 * Stream positions, in frames since prepare, as ALSA's own appl and hw
	 * pointers: the application writes (reads) at appl, the card plays
	 * (captures) at hw. Playback: hw <= appl; capture: appl <= hw.
	 */
	uint64_t appl;             /* frames handed over by transfer() */
	uint64_t hw;               /* frames that reached the speaker (left the microphone) */
	int running;
	int overrun;               /* capture: late reader, until the next prepare */
	int64_t start_mono_ns;     /* when the current run started */
	int64_t start_real_ns;
	uint64_t start_frame;      /* hw at the start of the run */

	/* Sound detection, over every frame the card moved since open. */
	uint64_t total;            /* frames played (captured) since open */
	int in_sound;
	uint64_t quiet_run;        /* consecutive quiet frames */
	uint64_t silence_frames;
	char *gone;                /* the "unplugged" switch file, or NULL */

	/* Capture: the horn's own sound through the "wire" (a playback card's capture file). */
	FILE *wire;
	char *wire_cut;            /* while this file exists: nothing comes through */
	double wire_gain;          /* linear, from wire_gain_db */
	unsigned noise_level;
	uint32_t noise_state;      /* LCG: the same noise every run */
	int kernel_clock;          /* clock_gettime by syscall: past libfaketime */
};

/* The test unplugged the card (the gone file exists). */
static int unplugged(const struct paced *p)
{
	return p->gone && access(p->gone, F_OK) == 0;
}

static int64_t clock_ns(const struct paced *p, clockid_t id)
{
	struct timespec ts;

	/*
	 * libfaketime replaces clock_gettime() (and the vDSO path behind it)
	 * in the process it is preloaded into; the system call itself it
	 * cannot touch. A real card's clock is its crystal, not the
	 * application's idea of the time.
	 */
	if (p->kernel_clock)
		syscall(SYS_clock_gettime, id, &ts);
	else
		clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * The instant at which frame number `pos` (since prepare) reaches the
 * speaker, or entered the microphone: a captured frame is readable
 * latency_ns after the sound that made it.
 */
static int64_t frame_time(const struct paced *p, uint64_t pos)
{
	int64_t t = p->start_real_ns +
		    (int64_t)((pos - p->start_frame) * 1000000000ULL / p->rate);

	return p->capture_stream ? t - p->latency_ns : t + p->latency_ns;
}

static void log_line(struct paced *p, const char *what, int64_t ns, uint64_t frame)
{
	if (!p->log)
		return;
	fprintf(p->log, "%s %lld %llu\n", what, (long long)ns, (unsigned long long)frame);
	fflush(p->log);
}

/*
 * n frames at stream position pos have just been heard (played or
 * captured): log where sound starts and stops, and keep the samples.
 */
static void hear(struct paced *p, const int16_t *f, uint64_t n, uint64_t pos)
{
	if (p->capture)
		fwrite(f, sizeof(int16_t) * p->channels, (size_t)n, p->capture);
	if (p->first_only && p->heard_first)
		return; /* a counting sink: the first sample of this activation is all it wants */
	for (uint64_t i = 0; i < n; i++) {
		int loud = 0;

		for (unsigned c = 0; c < p->channels; c++) {
			int v = f[i * p->channels + c];
			if (v >= p->threshold || v <= -p->threshold)
				loud = 1;
		}
		if (loud) {
			if (!p->in_sound)
				log_line(p, "onset", frame_time(p, pos + i), p->total + i);
			if (p->first_only) {
				p->heard_first = 1;
				return;
			}
			p->in_sound = 1;
			p->quiet_run = 0;
		} else if (p->in_sound && ++p->quiet_run >= p->silence_frames) {
			uint64_t first = pos + i + 1 - p->quiet_run;

			log_line(p, "silence", frame_time(p, first),
				 p->total + i + 1 - p->quiet_run);
			p->in_sound = 0;
		}
	}
}

/*
 * Playback: consume frames up to stream position `upto`: they have now
 * "left the speaker". Sound detection and capture happen here, at
 * consumption, so a frame written and then dropped (snd_pcm_drop) is never
 * heard.
 */
static void consume(struct paced *p, uint64_t upto)
{
	while (p->hw < upto) {
		uint64_t idx = p->hw % p->buffer_size;
		uint64_t n = upto - p->hw;

		if (n > p->buffer_size - idx)
			n = p->buffer_size - idx;
		hear(p, p->ring + idx * p->channels, n, p->hw);
		p->hw += n;
		p->total += n;
	}
	if (p->capture)
		fflush(p->capture);
}

/*
 * Capture: the sample of channel c at source frame k (k counts every frame
 * captured since open, so the program goes on across runs). The tone's
 * phase is taken modulo one second of frames, exactly, so it stays clean
 * however long the stream runs.
 */
static int16_t source_sample(const struct paced *p, uint64_t k, unsigned c)
{
	long v = 0;

	if (p->source_frames)
		v = (int16_t)le16toh((uint16_t)p->source[(k % p->source_frames) * p->channels + c]);
	if (p->tone_hz && (!p->tone_period || k % p->tone_period < p->tone_on)) {
		double phase = (double)((k * p->tone_hz) % p->rate) / p->rate;

		v += lround(p->tone_level * sin(2 * M_PI * phase));
	}
	return (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
}

/*
 * Capture: the card fills the ring up to stream position `upto`, as a DMA
 * would, and we hear those frames as they come in (a late reader may find
 * them overwritten: that is the overrun the pointer reports).
 */
/*
 * Capture: up to n mono samples just played through the wire, into w (the
 * rest zero). The playback card appends to its file as it plays; we take
 * what is new, and skip what is older than ~100 ms (a microphone hears
 * the horn now, not what it played while nobody listened).
 */
static void wire_read(struct paced *p, int16_t *w, uint64_t n)
{
	long pos, end;
	uint64_t avail, slack = p->rate / 10, got = 0;

	memset(w, 0, (size_t)n * sizeof(int16_t));
	if (!p->wire)
		return;
	pos = ftell(p->wire);
	if (pos < 0 || fseek(p->wire, 0, SEEK_END) < 0 || (end = ftell(p->wire)) < 0)
		return;
	avail = (uint64_t)(end - pos) / sizeof(int16_t);
	if (avail > n + slack)
		pos = end - (long)((n + slack) * sizeof(int16_t));
	if (fseek(p->wire, pos, SEEK_SET) < 0)
		return;
	if (avail)
		got = fread(w, sizeof(int16_t), (size_t)n, p->wire);
	clearerr(p->wire);
	if (p->wire_cut && access(p->wire_cut, F_OK) == 0)
		memset(w, 0, (size_t)n * sizeof(int16_t));
	for (uint64_t i = 0; i < got; i++)
		w[i] = (int16_t)lround((int16_t)le16toh((uint16_t)w[i]) * p->wire_gain);
}

static int16_t noise_sample(struct paced *p)
{
	p->noise_state = p->noise_state * 1664525u + 1013904223u;
	return (int16_t)((long)(p->noise_state >> 16) % (2L * p->noise_level + 1) -
			 (long)p->noise_level);
}

static void produce(struct paced *p, uint64_t upto)
{
	while (p->hw < upto) {
		uint64_t idx = p->hw % p->buffer_size;
		uint64_t n = upto - p->hw;
		int16_t *f = p->ring + idx * p->channels;

		if (n > p->buffer_size - idx)
			n = p->buffer_size - idx;
		if (p->wire || p->noise_level) {
			int16_t w[4800];

			if (n > 4800)
				n = 4800;
			wire_read(p, w, n);
			for (uint64_t i = 0; i < n; i++)
				for (unsigned c = 0; c < p->channels; c++) {
					long v = source_sample(p, p->total + i, c) + w[i];

					if (p->noise_level)
						v += noise_sample(p);
					f[i * p->channels + c] = (int16_t)(v > 32767 ? 32767 :
								v < -32768 ? -32768 : v);
				}
		} else {
			for (uint64_t i = 0; i < n; i++)
				for (unsigned c = 0; c < p->channels; c++)
					f[i * p->channels + c] =
						source_sample(p, p->total + i, c);
		}
		hear(p, f, n, p->hw);
		p->hw += n;
		p->total += n;
	}
	if (p->capture)
		fflush(p->capture);
}

/* A stop in the stream (xrun, drop, drain end) is silence to a listener. */
static void end_of_sound(struct paced *p)
{
	if (p->in_sound && p->running)
		log_line(p, "silence", frame_time(p, p->hw), p->total);
	p->in_sound = 0;
	p->quiet_run = 0;
}

static int arm_timer(struct paced *p, int on)
{
	struct itimerspec its;
	int64_t period_ns = (int64_t)(p->period_size * 1000000000ULL / p->rate);

	memset(&its, 0, sizeof(its));
	if (on) {
		/* casts: time_t and long are 32 bits on armhf; a period is < 1 s */
		its.it_value.tv_sec = (time_t)(period_ns / 1000000000LL);
		its.it_value.tv_nsec = (long)(period_ns % 1000000000LL);
		its.it_interval = its.it_value;
	}
	return timerfd_settime(p->timer, 0, &its, NULL) < 0 ? -errno : 0;
}

static int paced_start(snd_pcm_ioplug_t *io)
{
	struct paced *p = io->private_data;

	if (unplugged(p))
		return -ENODEV;
	p->running = 1;
	p->start_mono_ns = clock_ns(p, CLOCK_MONOTONIC);
	p->start_real_ns = clock_ns(p, CLOCK_REALTIME);
	p->start_frame = p->hw;
	return arm_timer(p, 1);
}

static int paced_stop(snd_pcm_ioplug_t *io)
{
	struct paced *p = io->private_data;

	end_of_sound(p);
	p->running = 0;
	return arm_timer(p, 0);
}

/* Frames the clock says the card has moved since the run started. */
static uint64_t due_frames(const struct paced *p)
{
	int64_t elapsed = clock_ns(p, CLOCK_MONOTONIC) - p->start_mono_ns;

	return p->start_frame + (uint64_t)elapsed * p->rate / 1000000000ULL;
}

/*
 * The hardware pointer, paced by the monotonic clock.
 *
 * Playback: frames consumed so far, never past what was written. Being late
 * (the clock wants more than was written) is an underrun, except while
 * draining, where running dry is the point.
 *
 * Capture: frames captured so far. A reader more than a buffer behind has
 * lost frames to the card (an overrun): the stream stops there, as a real
 * card's does, until the application prepares it again.
 */
static snd_pcm_sframes_t paced_pointer(snd_pcm_ioplug_t *io)
{
	struct paced *p = io->private_data;

	if (unplugged(p))
		return -ENODEV;

	if (p->capture_stream) {
		if (p->overrun)
			return -EPIPE;
		if (p->running) {
			uint64_t due = due_frames(p), room = p->appl + p->buffer_size;

			if (due > room) {
				produce(p, room);
				end_of_sound(p);
				log_line(p, "xrun", frame_time(p, room), p->total);
				p->running = 0;
				p->overrun = 1;
				return -EPIPE;
			}
			produce(p, due);
		}
		return (snd_pcm_sframes_t)(p->hw % p->boundary);
	}
	if (p->running) {
		uint64_t due = due_frames(p);

		if (due > p->appl) {
			consume(p, p->appl);
			if (io->state != SND_PCM_STATE_DRAINING) {
				end_of_sound(p);
				log_line(p, "xrun", frame_time(p, p->appl), p->total);
				return -EPIPE;
			}
		} else {
			consume(p, due);
		}
	}
	return (snd_pcm_sframes_t)(p->hw % p->boundary);
}

/*
 * Copies between the application's interleaved buffer and the ring: into
 * the ring for playback (up to a full buffer), out of it for capture (up
 * to what the card has captured).
 */
static snd_pcm_sframes_t paced_transfer(snd_pcm_ioplug_t *io,
					const snd_pcm_channel_area_t *areas,
					snd_pcm_uframes_t offset, snd_pcm_uframes_t size)
{
	struct paced *p = io->private_data;
	char *base = (char *)areas[0].addr + (areas[0].first + areas[0].step * offset) / 8;
	size_t frame_bytes = p->channels * sizeof(int16_t);
	snd_pcm_uframes_t done = 0;

	if (unplugged(p))
		return -ENODEV;

	if (p->capture_stream) {
		if (p->appl + size > p->hw)
			size = (snd_pcm_uframes_t)(p->hw - p->appl);
	} else if (p->appl + size > p->hw + p->buffer_size) {
		size = (snd_pcm_uframes_t)(p->hw + p->buffer_size - p->appl);
	}
	while (done < size) {
		uint64_t idx = (p->appl + done) % p->buffer_size;
		snd_pcm_uframes_t n = size - done;
		int16_t *slot = p->ring + idx * p->channels;

		if (n > p->buffer_size - idx)
			n = (snd_pcm_uframes_t)(p->buffer_size - idx);
		if (p->capture_stream)
			memcpy(base + done * frame_bytes, slot, n * frame_bytes);
		else
			memcpy(slot, base + done * frame_bytes, n * frame_bytes);
		done += n;
	}
	p->appl += size;
	return (snd_pcm_sframes_t)size;
}

static int paced_prepare(snd_pcm_ioplug_t *io)
{
	struct paced *p = io->private_data;

	if (unplugged(p))
		return -ENODEV;

	end_of_sound(p);
	p->heard_first = 0; /* first_only: listens again for this run's first sound */
	p->running = 0;
	p->overrun = 0;
	p->appl = p->hw = 0;
	p->start_frame = 0;
	return arm_timer(p, 1);
}

/*
 * Playback: frames written and not yet heard, plus the output latency.
 * Capture: frames captured and not yet read, plus the input latency.
 */
static int paced_delay(snd_pcm_ioplug_t *io, snd_pcm_sframes_t *delayp)
{
	struct paced *p = io->private_data;
	snd_pcm_sframes_t queued;

	paced_pointer(io);
	queued = p->capture_stream ? (snd_pcm_sframes_t)(p->hw - p->appl) :
				     (snd_pcm_sframes_t)(p->appl - p->hw);
	*delayp = queued + (snd_pcm_sframes_t)(p->latency_ns * p->rate / 1000000000LL);
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
	if (p->capture_stream) {
		p->source_frames = p->source_samples / p->channels;
		if (p->source && p->source_frames == 0) {
			SNDERR("loaxapaced: the source holds less than one frame of %u channels",
			       p->channels);
			return -EINVAL;
		}
		p->tone_on = (uint64_t)p->rate * p->tone_on_ms / 1000;
		p->tone_period = p->tone_off_ms ?
				 p->tone_on + (uint64_t)p->rate * p->tone_off_ms / 1000 : 0;
	}
	free(p->ring);
	p->ring = calloc(p->buffer_size * p->channels, sizeof(int16_t));
	return p->ring ? 0 : -ENOMEM;
}

static int paced_sw_params(snd_pcm_ioplug_t *io, snd_pcm_sw_params_t *params)
{
	struct paced *p = io->private_data;

	return snd_pcm_sw_params_get_boundary(params, &p->boundary);
}

/*
 * Runs after poll(): consume the timer tick and say whether there is a
 * period to write (playback) or to read (capture).
 */
static int paced_poll_revents(snd_pcm_ioplug_t *io, struct pollfd *pfd, unsigned int nfds,
			      unsigned short *revents)
{
	struct paced *p = io->private_data;
	uint64_t ticks;
	snd_pcm_sframes_t hw;
	unsigned short ready = p->capture_stream ? POLLIN : POLLOUT;

	*revents = 0;
	if (nfds != 1)
		return -EINVAL;
	if (pfd[0].revents & POLLIN) {
		if (read(p->timer, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
			return -errno;
	}
	hw = paced_pointer(io);
	if (hw < 0) {
		*revents = ready | POLLERR;
		return 0;
	}
	if (p->capture_stream) {
		if (p->hw - p->appl >= io->period_size)
			*revents = POLLIN;
	} else if (p->hw + p->buffer_size - p->appl >= io->period_size ||
		   io->state == SND_PCM_STATE_DRAINING) {
		*revents = POLLOUT;
	}
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
	if (p->wire)
		fclose(p->wire);
	close(p->timer);
	free(p->ring);
	free(p->source);
	free(p->gone);
	free(p->wire_cut);
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

/*
 * Capture is RW only: with mmap access ioplug asks transfer() to fill the
 * application's side of the ring again at every look, which is not how
 * frames come off a card.
 */
static int set_constraints(snd_pcm_ioplug_t *io, int capture_stream)
{
	static const unsigned int access[] = { SND_PCM_ACCESS_RW_INTERLEAVED,
					       SND_PCM_ACCESS_MMAP_INTERLEAVED };
	static const unsigned int formats[] = { SND_PCM_FORMAT_S16_LE };
	int rc;

	if ((rc = snd_pcm_ioplug_set_param_list(io, SND_PCM_IOPLUG_HW_ACCESS,
						capture_stream ? 1 : 2, access)) < 0 ||
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

/* The whole source file, read at open: the card must not wait on a disk mid-period. */
static int load_source(struct paced *p, const char *path)
{
	FILE *f = fopen(path, "rb");
	long len;
	int rc = 0;

	if (!f) {
		SNDERR("loaxapaced: cannot open the source file %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
		rc = -errno;
		SNDERR("loaxapaced: cannot read the source file %s: %s", path, strerror(errno));
	} else if (len < 2 || len > SOURCE_MAX_BYTES) {
		rc = -EINVAL;
		SNDERR("loaxapaced: the source file %s holds %ld bytes (2 to %ld)", path, len,
		       SOURCE_MAX_BYTES);
	} else if (!(p->source = malloc((size_t)len))) {
		rc = -ENOMEM;
	} else if (fread(p->source, 1, (size_t)len, f) != (size_t)len) {
		rc = -EIO;
		SNDERR("loaxapaced: cannot read the source file %s", path);
	} else {
		p->source_samples = (size_t)len / sizeof(int16_t);
	}
	fclose(f);
	return rc;
}

/* An integer field within [min, max]. */
static int get_int(snd_config_t *n, long min, long max, long *v)
{
	return snd_config_get_integer(n, v) < 0 || *v < min || *v > max ? -EINVAL : 0;
}

SND_PCM_PLUGIN_DEFINE_FUNC(loaxapaced)
{
	snd_config_iterator_t i, next;
	const char *log_path = NULL, *capture_path = NULL, *source_path = NULL, *gone = NULL;
	const char *wire = NULL, *wire_cut = NULL;
	long wire_gain_db = -20, noise_level = 0;
	long latency_us = 0, threshold = 64, silence_ms = 50, first_only = 0;
	long tone_hz = 0, tone_level = 8000, tone_on_ms = 0, tone_off_ms = 0, kernel_clock = 0;
	struct paced *p = NULL;
	int capture_stream = stream == SND_PCM_STREAM_CAPTURE;
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
		} else if (!strcmp(id, "gone")) {
			if (snd_config_get_string(n, &gone) < 0)
				goto bad;
		} else if (!strcmp(id, "latency_us")) {
			if (get_int(n, 0, LONG_MAX / 1000, &latency_us) < 0)
				goto bad;
		} else if (!strcmp(id, "threshold")) {
			if (get_int(n, 1, 32767, &threshold) < 0)
				goto bad;
		} else if (!strcmp(id, "silence_ms")) {
			if (get_int(n, 1, 10000, &silence_ms) < 0)
				goto bad;
		} else if (!strcmp(id, "first_only")) {
			if (get_int(n, 0, 1, &first_only) < 0)
				goto bad;
		} else if (!strcmp(id, "source")) {
			if (snd_config_get_string(n, &source_path) < 0)
				goto bad;
		} else if (!strcmp(id, "tone_hz")) {
			if (get_int(n, 1, 20000, &tone_hz) < 0)
				goto bad;
		} else if (!strcmp(id, "tone_level")) {
			if (get_int(n, 1, 32767, &tone_level) < 0)
				goto bad;
		} else if (!strcmp(id, "tone_on_ms")) {
			if (get_int(n, 1, 3600000, &tone_on_ms) < 0)
				goto bad;
		} else if (!strcmp(id, "tone_off_ms")) {
			if (get_int(n, 0, 3600000, &tone_off_ms) < 0)
				goto bad;
		} else if (!strcmp(id, "wire")) {
			if (snd_config_get_string(n, &wire) < 0)
				goto bad;
		} else if (!strcmp(id, "wire_cut")) {
			if (snd_config_get_string(n, &wire_cut) < 0)
				goto bad;
		} else if (!strcmp(id, "wire_gain_db")) {
			if (get_int(n, -120, 0, &wire_gain_db) < 0)
				goto bad;
		} else if (!strcmp(id, "noise_level")) {
			if (get_int(n, 0, 32767, &noise_level) < 0)
				goto bad;
		} else if (!strcmp(id, "kernel_clock")) {
			if (get_int(n, 0, 1, &kernel_clock) < 0)
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
	if (!log_path && !capture_stream) {
		SNDERR("loaxapaced: the field log is required");
		return -EINVAL;
	}
	if (tone_off_ms && !tone_on_ms) {
		SNDERR("loaxapaced: tone_off_ms needs tone_on_ms");
		return -EINVAL;
	}

	if (gone && access(gone, F_OK) == 0)
		return -ENODEV; /* nothing to open: the card is not there */
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	if (gone && !(p->gone = strdup(gone))) {
		free(p);
		return -ENOMEM;
	}
	p->capture_stream = capture_stream;
	p->timer = -1;
	p->latency_ns = latency_us * 1000LL;
	p->threshold = (int)threshold;
	p->silence_ms = (unsigned)silence_ms;
	p->first_only = (int)first_only;
	p->tone_hz = (unsigned)tone_hz;
	p->tone_level = (unsigned)tone_level;
	p->tone_on_ms = (unsigned)tone_on_ms;
	p->tone_off_ms = (unsigned)tone_off_ms;
	p->kernel_clock = (int)kernel_clock;
	p->boundary = LONG_MAX;
	p->wire_gain = pow(10.0, (double)wire_gain_db / 20.0);
	p->noise_level = (unsigned)noise_level;
	p->noise_state = 12345;
	if (capture_stream && wire_cut && !(p->wire_cut = strdup(wire_cut))) {
		rc = -ENOMEM;
		goto fail;
	}
	if (capture_stream && wire) {
		/* made if the playback card has not played yet; read from its end */
		int fd = open(wire, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);

		if (fd < 0 || !(p->wire = fdopen(fd, "rb"))) {
			rc = -errno;
			SNDERR("loaxapaced: cannot open the wire file %s: %s", wire, strerror(errno));
			if (fd >= 0)
				close(fd);
			goto fail;
		}
		fseek(p->wire, 0, SEEK_END);
	}
	if (log_path && (rc = open_out(log_path, "log", &p->log)) < 0)
		goto fail;
	if (capture_path && (rc = open_out(capture_path, "capture", &p->capture)) < 0)
		goto fail;
	if (capture_stream && source_path && (rc = load_source(p, source_path)) < 0)
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
	rc = set_constraints(&p->io, capture_stream);
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
	if (p->wire)
		fclose(p->wire);
	free(p->wire_cut);
	if (p->timer >= 0)
		close(p->timer);
	free(p->source);
	free(p->gone);
	free(p);
	return rc;
}

SND_PCM_PLUGIN_SYMBOL(loaxapaced);
