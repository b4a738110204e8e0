/*
 * live.h - the node's side of a live (or relayed) stream.
 *
 * The controller sends batches of 20 ms Opus frames on <root>/zone/<z>/live
 * (or node/<id>/live), each frame stamped with its capture time in controller
 * time (livebody.h). The node keeps them in a jitter buffer (jitter.h) and
 * plays each frame at capture time + latency, so that every node of a zone
 * plays the same frame at the same instant whatever the network did to each.
 * A frame missing at its turn is concealed: from the next frame's in-band
 * FEC when that one is there, else by Opus packet-loss concealment; both are
 * counted ("lost"), as are frames that arrived after their turn ("late").
 *
 * Priority: a session of level live preempts queued plays below it (they
 * re-queue, queue.h) and holds the queue while it plays; a relay session
 * (level relay, the lowest) plays only while the queue has nothing due and
 * yields at once when it has. An emergency preempts both: the session keeps
 * buffering and plays again, at the right frame, when the emergency is over.
 * The session ends with its last batch, or LIVE_TIMEOUT_MS after the last
 * batch received.
 *
 * Events live_started (first sample, start time) and live_ended (reason and
 * counts: frames, late, lost, fec, plc) carry the session id "l-<8 hex>" in
 * their broadcast field; the status has a "live" object.
 */
#ifndef LOAXA_NODE_LIVE_H
#define LOAXA_NODE_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "jitter.h"

#define LIVE_TIMEOUT_MS 3000
#define LIVE_FRAME_SAMPLES 960   /* 20 ms at 48 kHz */
#define LIVE_RESYNC_SAMPLES 240  /* 5 ms: beyond this the play position jumps */
#define LIVE_SLEW_DEADBAND 2     /* samples; within 5 ms it slews one sample per read */

struct node;
struct envelope;
struct playout_done;
struct json_t;
struct OpusDecoder;

struct node_live {
	int active;               /* a session is being received */
	uint32_t session;
	uint8_t level;            /* body numbering: 0 relay, 3 live, 4 emergency */
	unsigned latency_ms;
	int64_t t_base_us;        /* capture time of frame 0, controller clock */
	int64_t amp_delay_us;     /* played this much later than latency: amplifier lead */
	int amp_delay_set;        /* decided at this session's first play */
	uint32_t first_seq;       /* earliest frame this node got (joined late: silence before) */
	uint32_t high_seq;        /* highest frame received */
	int64_t last_rx_mono;
	int ended;                /* the last batch came (or the stream went silent) */
	uint32_t last_seq;
	struct jitter jb;
	struct OpusDecoder *dec;
	int16_t pcm[LIVE_FRAME_SAMPLES];
	uint32_t pcm_seq;
	int pcm_valid;
	int64_t cursor;           /* next sample to produce, 48 kHz units from frame 0 */
	int cursor_set;
	int playing;              /* our source is in the player */
	int yielding;             /* we stopped it for something higher */
	int confirmed;
	int64_t start_ms;
	char id[16];              /* "l-<8 hex>" */
	uint64_t frames, lost, fec, plc, resyncs, slews, bad;
	/* the last batch refused as addressed elsewhere: one log line per session
	 * and topic (per node: was a static, shared by every node of a process) */
	uint32_t refused_session;
	char refused_topic[160];

	void (*next_started)(void *arg, int64_t start_ms);
	void (*next_done)(void *arg, const struct playout_done *done);
};

/* Hook into the player (call after emergency_init). Returns 0 or -errno. */
int live_init(struct node *n);
void live_free(struct node *n);
/* A verified live envelope arrived on topic. */
void live_on_batch(struct node *n, const char *topic, const struct envelope *env);
/* 1 while a live-level session plays: the queue starts nothing. */
int live_holds(const struct node *n);
/* A live emergency's message: play the level-emergency session now (-EAGAIN:
 * none received yet), or end it. */
int live_emergency_play(struct node *n);
void live_emergency_stop(struct node *n);
/* An emergency takes the player: stop playing (keep receiving). */
void live_yield(struct node *n);
void live_tick(struct node *n);
int64_t live_next_deadline(const struct node *n);
/* Registers this module's tick with the event loop (main.c). */
struct loop;
int live_register(struct loop *l, struct node *n);
struct json_t *live_status_json(const struct node *n);

#endif
