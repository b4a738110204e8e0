/*
 * selftest.h - the horn self-test: is sound coming out of the horn?
 *
 * A node on a pole can have a working board, network and sound card and
 * still be silent: a blown driver, a cut cable, an amplifier with no power.
 * The self-test plays a short tone (selftest.tone_hz, 1 kHz by default, for
 * selftest.tone_ms) through the normal output chain (the player, the ALSA
 * device, the amplifier with its warm-up) and at the same time listens on
 * a sensing input: the ALSA capture device of node.cfg selftest.capture (a
 * microphone in front of the horn, or a current sensor on the line read as
 * audio). The device name comes from the node's own config only, never
 * from a message. Or, with selftest.command, a program (fixed argv from
 * node.cfg, split at spaces, no shell) that reads a sensor and prints one
 * level in dB: it runs once before the tone (noise_db) and once
 * SELFTEST_CMD_AFTER_MS into it (level_db), and must print within
 * SELFTEST_CMD_TIMEOUT_MS; heard when level_db >= noise_db + threshold_db.
 *
 * Detection (selftest_measure, pure): over 20 ms blocks inside the tone
 * (its first 150 ms and last 100 ms left out), the Goertzel filter gives
 * the power at the tone frequency, and the rest of the block's power is the
 * noise of the rest of the band, scaled to the filter's bandwidth (2/N of
 * the band). level_db is the tone's power in dB of a full-scale sine,
 * noise_db the noise floor in the same bandwidth; the horn is heard when
 * level_db >= noise_db + selftest.threshold_db (and above
 * SELFTEST_MIN_LEVEL_DB, so that a digital silence is no "tone").
 *
 * Results: "ok" (heard), "silent" (not heard while the node is otherwise
 * healthy: the tone played to its end, the device did not fail, fewer than
 * SELFTEST_XRUN_STORM underruns), "error" (the test could not say: the
 * device or the sensing input failed, no quiet moment came, no sensing
 * input is configured). The last result, and the last verdict on the horn
 * ("verdict": ok|silent, which an error does not replace), are kept in
 * <state_dir>/selftest.json
 * (atomically), is the "selftest" object of the status and is sent as a
 * journaled "selftest" event; the controller raises "horn silent" on it.
 *
 * When: on the signed maintenance command {"cmd":"selftest","id":"c-..."}
 * (maint.h style: confirmed by cmd_done, then the event names the command).
 * The test never interrupts anything: it waits for a quiet moment (nothing
 * playing, no emergency, no live session, nothing in the queue due within
 * SELFTEST_QUIET_AHEAD_MS) for up to SELFTEST_WAIT_MS, and gives way at once
 * to an emergency, a live session or a play that comes due while the tone
 * sounds (the tone is faded out, no result is recorded, the log says so).
 * Outside selftest.day (local time) the tone is played at
 * selftest.quiet_level_db, or not at all with selftest.night = "skip".
 */
#ifndef LOAXA_NODE_SELFTEST_H
#define LOAXA_NODE_SELFTEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SELFTEST_RATE 48000
#define SELFTEST_BLOCK 960             /* 20 ms: a 1 kHz tone is 20 whole cycles */
#define SELFTEST_SKIP_HEAD_MS 150      /* device and sensing latency */
#define SELFTEST_SKIP_TAIL_MS 100
#define SELFTEST_MIN_LEVEL_DB -90.0
#define SELFTEST_WAIT_MS (10 * 60 * 1000)
#define SELFTEST_QUIET_AHEAD_MS 60000
#define SELFTEST_XRUN_STORM 3
#define SELFTEST_TAIL_MS 400           /* keep listening after the tone ended */
#define SELFTEST_CMD_TIMEOUT_MS 5000   /* selftest.command must print its level by then */
#define SELFTEST_CMD_AFTER_MS 300      /* into the tone: the command reads it then */
#define SELFTEST_CMD_ARGS 16

struct node;
struct loop;
struct playout_done;
typedef struct _snd_pcm snd_pcm_t;

/* Power of one block: at the tone frequency, and of the whole block (mean squares). */
void selftest_goertzel(const int16_t *x, size_t n, unsigned rate, unsigned hz, double *tone,
		       double *total);

/* Sums over the blocks inside the tone. */
struct selftest_meter {
	double tone_sum, rest_sum;
	unsigned blocks;
};
void selftest_meter_add(struct selftest_meter *m, const int16_t *x, size_t n, unsigned rate,
			unsigned hz);
/*
 * The decision: 1 heard, 0 not heard, -1 no block measured. level_db and
 * noise_db in dB of a full-scale sine (-200 for nothing at all).
 */
int selftest_measure(const struct selftest_meter *m, size_t block, double threshold_db,
		     double *level_db, double *noise_db);

enum selftest_state {
	ST_IDLE = 0,
	ST_WAITING,      /* asked for; waits for a quiet moment */
	ST_PROBING,      /* selftest.command reads the noise, before the tone */
	ST_RUNNING,      /* tone in the player, listening */
	ST_FINISHING,    /* tone done; the last blocks are coming in */
};

struct node_selftest {
	enum selftest_state state;
	char command[64];          /* the command id that asked, "" = none */
	int64_t asked_mono;
	/* the run */
	int16_t *tone;
	size_t tone_len;
	double level_used_db;
	int tone_playing;          /* the tone is the player's current item */
	int64_t tone_start_mono;   /* first sample left the device (mono ms), 0 = not yet */
	int64_t finish_at;         /* mono ms, in ST_FINISHING */
	uint64_t xruns_before;
	char fail[400];            /* the run cannot give a result: why */
	snd_pcm_t *cap;
	int npfds;
	int64_t cap_start_mono;    /* frame 0 of the capture (mono ms) */
	uint64_t cap_frames;
	int16_t block[SELFTEST_BLOCK];
	size_t block_fill;
	struct selftest_meter meter;
	/* selftest.command: run before the tone (noise) and in it (level) */
	pid_t cmd_pid;
	int cmd_fd;
	char cmd_buf[128];
	size_t cmd_len;
	int cmd_phase;             /* 1 noise, 2 level; 0 none running */
	int cmd_level_asked;       /* phase 2 started (once per run) */
	int64_t cmd_started;       /* mono ms */
	int cmd_have_noise, cmd_have_level;
	double cmd_noise, cmd_level;
	/* the last result */
	int have;
	int64_t at;                /* controller clock ms */
	char result[8];            /* ok|silent|error */
	char verdict[8];           /* the last ok|silent: an error says nothing about the horn */
	double level_db, noise_db;
	char reason[400];
	/* the player's callbacks, called for plays that are not ours */
	void (*next_started)(void *arg, int64_t start_ms);
	void (*next_done)(void *arg, const struct playout_done *done);
};

/* Load the last result and hook into the player (after queue_init, before emergency_init). */
int selftest_init(struct node *n);
void selftest_free(struct node *n);
/* Registers the capture descriptors, the tick and the status part (main.c). */
int selftest_register(struct loop *l, struct node *n);
/*
 * Ask for a test (command: its id, "" = none). 0, or -EBUSY (one is asked
 * already), -ENODEV (no selftest.capture) with why filled.
 */
int selftest_request(struct node *n, const char *command, char *why, size_t whylen);
/* Stop a running test now, without a result (shutdown). */
void selftest_shutdown(struct node *n);

#endif
