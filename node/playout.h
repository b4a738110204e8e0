/*
 * playout.h - one Ogg Opus file at a time through ALSA, driven by poll().
 *
 * The decoder (opusfile, op_read: 48 kHz 16-bit) is read a packet at a time,
 * never the whole file, so memory does not grow with the length of an
 * announcement. Samples go through a software gain (volume 100 is exact
 * unity: the samples reach the device bit for bit as op_read returned them),
 * a 10 ms linear fade-in at the start and a 10 ms fade-out at the end or on
 * stop, are copied to every output channel and written with snd_pcm_writei
 * to a non-blocking PCM whenever its poll descriptors say there is room.
 *
 * Device life cycle: opened when a play starts (or just before a scheduled
 * one), drained without blocking at the end of each play, closed after
 * PLAYOUT_IDLE_CLOSE_MS idle. Underruns are recovered with snd_pcm_recover
 * and counted; a device that fails (unplugged, I/O error) is closed, the
 * error counted and reported, and reopened every PLAYOUT_RETRY_MS; a play
 * that cannot reach a device for PLAYOUT_GIVE_UP_MS fails.
 *
 * The owner learns what happened through two callbacks: started (first
 * samples accepted by the device) and done (finished, stopped or failed,
 * with how much was played).
 */
#ifndef LOAXA_PLAYOUT_H
#define LOAXA_PLAYOUT_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#define PLAYOUT_FADE 480            /* samples: 10 ms at 48 kHz */
#define PLAYOUT_IDLE_CLOSE_MS 5000
#define PLAYOUT_RETRY_MS 2000
#define PLAYOUT_GIVE_UP_MS 30000
#define PLAYOUT_MAX_PFDS 8

struct playout_cfg {
	char device[256];
	unsigned channels;
	unsigned rate;
	unsigned buffer_ms;
	unsigned period_ms;
};

enum playout_dev_state {
	PO_DEV_CLOSED,   /* no PCM open */
	PO_DEV_IDLE,     /* open, nothing playing (closes after a few seconds) */
	PO_DEV_PLAYING,  /* writing samples */
	PO_DEV_DRAINING, /* last samples written, waiting for them to play out */
	PO_DEV_ERROR,    /* the device failed; retrying */
};

enum playout_result {
	PO_FINISHED,     /* played to the end */
	PO_STOPPED,      /* playout_stop() faded it out */
	PO_FAILED,       /* decoder or device failure, see reason */
};

struct playout_done {
	enum playout_result result;
	const char *reason;   /* "" when finished */
	int64_t start_ms;     /* wall clock of the first sample, 0 if never started */
	uint64_t frames;      /* samples played (per channel) */
};

/*
 * A live source instead of a file (live.c): read() fills up to max mono
 * samples whose first reaches the speaker at play_us (wall clock, us: now +
 * what the device and our buffers still hold). It returns how many it
 * filled, or -1 when the stream is over. It must not block.
 */
struct playout_source {
	int (*read)(void *arg, int16_t *buf, size_t max, int64_t play_us);
	void *arg;
};

struct OggOpusFile;
typedef struct _snd_pcm snd_pcm_t;

struct playout {
	struct playout_cfg cfg;

	/* device */
	snd_pcm_t *pcm;
	enum playout_dev_state dev;
	unsigned long buffer_frames, period_frames;
	int npfds;
	int64_t idle_since;   /* mono ms */
	int64_t retry_at;     /* mono ms, in PO_DEV_ERROR */
	int64_t error_since;  /* mono ms of the first failure of this play, 0 = none */
	int64_t drain_deadline;
	uint64_t xruns, errors;
	char last_error[256];

	/* the item being played */
	int active;
	struct OggOpusFile *of;
	struct opusdec *od;   /* decodes of's packets (opusdec.h); kept between plays */
	struct playout_source src;  /* a live source: read instead of of */
	const int16_t *mem;   /* or samples in memory (playout_start_pcm) */
	size_t mem_len, mem_pos;
	int16_t *dec;         /* decoded mono samples, [dec_pos, dec_len) not yet used */
	size_t dec_len, dec_pos;
	int dec_eof;
	char dec_error[128];
	uint64_t src_pos;     /* samples taken from the decoder so far */
	int volume;
	float gain;
	int stopping;
	unsigned stop_left;   /* samples of fade-out still to produce */
	int16_t *out;         /* interleaved frames ready for the device */
	size_t out_frames, out_pos, out_cap;
	int started;
	int start_untold;     /* started, on_started not called yet (pump) */
	int64_t start_ms;
	int64_t start_us;     /* wall clock µs at which the first sample leaves the device */
	uint64_t frames_written;
	/* scheduled start: pad with silence so the first sample leaves at at_mono_us */
	int64_t at_mono_us;   /* 0 = as soon as possible */
	int pad_known;
	uint64_t pad_left;    /* silence frames still to write before the first sample */
	uint64_t pad_frames;  /* how many the alignment asked for */
	char next_path[4096]; /* content after the chime ("" = none) */
	int64_t warm_until;   /* keep the device open (pre-opened for a play) */

	void (*on_started)(void *arg, int64_t start_ms);
	void (*on_done)(void *arg, const struct playout_done *done);
	void *cb_arg;
};

void playout_init(struct playout *po, const struct playout_cfg *cfg);
/* Stop at once (no fade), close the device, free everything. */
void playout_close(struct playout *po);

/*
 * Start playing path at volume 0-100. Returns 0, or -errno with reason
 * filled (the file cannot be opened or is not Ogg Opus). A device that
 * cannot be opened is not an error here: it is retried, see above.
 */
int playout_start(struct playout *po, const char *path, int volume, char *reason,
		  size_t reasonlen);
/*
 * The same for mono samples already decoded (the emergency alert tone):
 * nothing to open or decode, so the first period goes out at once (or, with
 * at_mono_us > 0, silence first so that it leaves the device then, as
 * playout_start_req). pcm is the caller's and must stay until the play is
 * done.
 */
int playout_start_pcm(struct playout *po, const int16_t *pcm, size_t n, int volume,
		      int64_t at_mono_us, char *reason, size_t reasonlen);
/* The same for a live source (see struct playout_source). */
int playout_start_source(struct playout *po, const struct playout_source *src, int volume,
			 char *reason, size_t reasonlen);

/*
 * The same with a chime before the content and a start time: the device is
 * fed silence so that, by its own delay (snd_pcm_delay, known to the
 * frame), the first sample leaves it at at_mono_us (CLOCK_MONOTONIC µs; 0 =
 * at once). The chime and the content follow each other without a gap, each
 * with its own fades.
 */
struct playout_req {
	const char *path;
	const char *chime;    /* NULL = none */
	int volume;
	int64_t at_mono_us;
};
int playout_start_req(struct playout *po, const struct playout_req *req, char *reason,
		      size_t reasonlen);
/* Fade out (10 ms) and end the current play with PO_STOPPED. */
void playout_stop(struct playout *po);
/* Open the device now if closed, so a play due soon starts on time. */
void playout_warm_up(struct playout *po, int64_t until_mono);

int playout_busy(const struct playout *po);

int playout_pollfds(struct playout *po, struct pollfd *pfds, int max);
void playout_handle(struct playout *po, struct pollfd *pfds, int n);
void playout_tick(struct playout *po, int64_t mono);
/* Monotonic ms of the next playout_tick that has work, INT64_MAX if none. */
int64_t playout_next_deadline(const struct playout *po);
/* Registers this module's descriptors and tick with the event loop (main.c). */
struct loop;
int playout_register(struct loop *l, struct playout *po);

const char *playout_state_name(const struct playout *po);

/* The gain for a volume 0-100 (100 = 1.0 exactly): 40 dB over the range. */
float playout_gain(int volume);

/*
 * Sample processing, exposed for unit tests: apply gain and fades to n mono
 * samples starting at stream position pos; to_end is how many samples remain
 * in the stream from in[0] (inclusive), or 0 when unknown (more than
 * PLAYOUT_FADE). unity: volume 100 (samples outside fades are copied).
 */
void playout_shape(int16_t *dst, const int16_t *in, size_t n, uint64_t pos,
		   uint64_t to_end, float gain, int unity, unsigned channels);

#endif
