/*
 * emergency.h - the node's side of an emergency broadcast.
 *
 * Two things live here.
 *
 * Pre-positioned clips. The controller keeps a small named set of emergency
 * clips (the alert tone "tone", the spoken drill preamble "drill", and the
 * commune's canned messages "flood", "storm", "fire", "all-clear", ...) and
 * sends each node the list (command "emergency_clips") whenever the node's
 * status shows an older set. The node stores the list atomically in
 * <state_dir>/emergency.json, fetches every clip it lacks through the
 * ordinary content path, keeps them from cache eviction, and reports the
 * set and which clips are ready in its status. So an activation is one small
 * signed command even over a link that could not carry the audio then.
 *
 * Activation. "emergency_start" preempts whatever plays (the queue re-queues
 * or logs it, queue.h), then plays: the alert tone, the drill preamble when
 * it is a drill, the message; then, after a short pause, the preamble and
 * the message again, until "emergency_stop", a newer emergency, or its
 * maximum duration (counted from the command's issue time, so a command that
 * arrived late does not run longer). Everything plays at the node's
 * emergency_volume, whatever the volume of ordinary plays. While an emergency
 * is active the play queue starts nothing.
 *
 * Drills are marked at every step: the envelope's drill flag must equal the
 * body's "drill" field (a mismatch is refused), every log line says
 * "DRILL" or "EMERGENCY", the status and both confirmation events carry
 * "drill": true|false, and drill ids start with "d-", real ones with "e-".
 *
 * Confirmations: event "emergency_started" when the first sample reached the
 * device (start = that time, controller clock), "emergency_ended" with a
 * reason (stopped, max_duration, replaced, failed: ..., node_stopping). A
 * stop that names an emergency this node is not sounding (it never got the
 * start, it ended already, another one sounds) is confirmed too, by
 * "emergency_not_active" with the reason: the operator learns that every
 * node is silent, not only those that were sounding.
 *
 * All-clear: a stop may carry the all-clear clip ("all_clear", a content
 * id of the pre-positioned set); a node that was sounding that emergency
 * plays it once after the stop (a drill's after the drill preamble), at the
 * emergency's volume and mixer level, before the queue resumes.
 *
 * The amplifier: the first segment starts only once the amplifier has had
 * its warm-up (amp_ready_mono), so the alert tone is heard whole and the
 * confirmed first sample is one a listener could hear.
 *
 * The mixer: see mixer.h (unmuted and at its level for the emergency and
 * its all-clear, put back afterwards).
 */
#ifndef LOAXA_NODE_EMERGENCY_H
#define LOAXA_NODE_EMERGENCY_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define EMERG_MAX_CLIPS 16
#define EMERG_NAME_MAX 32
#define EMERG_ID_MAX 64
#define EMERG_SET_LEN 16          /* hex digits of the clip set id */
#define EMERG_PAUSE_MS 2000       /* silence between two repetitions */
#define EMERG_DEFAULT_MAX_S 1800  /* 30 minutes */
#define EMERG_MAX_MAX_S 86400

struct node;
struct playout_done;
struct json_t;

struct emerg_clip {
	char name[EMERG_NAME_MAX];
	char content[CONTENT_ID_LEN + 1];
	uint64_t bytes;
};

/* A parsed emergency_start / emergency_stop / emergency_clips command. */
struct emerg_cmd {
	char id[EMERG_ID_MAX];            /* start; stop ("" = whatever is active) */
	int drill;
	char clip[EMERG_NAME_MAX];        /* "" when the message is given as content */
	char content[CONTENT_ID_LEN + 1]; /* the message */
	uint64_t bytes;
	char tone[CONTENT_ID_LEN + 1];    /* "" = no tone */
	char preamble[CONTENT_ID_LEN + 1];/* drill preamble, "" = none */
	int64_t max_s;
	int live;                         /* the message is the operator's live voice */
	/* emergency_stop: the all-clear clip played after it, "" = none */
	char all_clear[CONTENT_ID_LEN + 1];
	/* who sent it from above ("province 40", upper.h); "" = the commune */
	char from[32];
	int64_t issued_at;                /* upper.c: the envelope's, for emergency_start */
	/* emergency_clips */
	char set[EMERG_SET_LEN + 1];
	struct emerg_clip clips[EMERG_MAX_CLIPS];
	size_t nclips;
};

enum emerg_step { EM_TONE = 0, EM_PREAMBLE, EM_MESSAGE, EM_PAUSE };

struct emergency {
	/* the pre-positioned clip set */
	char set[EMERG_SET_LEN + 1];
	struct emerg_clip clips[EMERG_MAX_CLIPS];
	size_t nclips;

	/* the active emergency */
	int active;
	struct emerg_cmd cur;
	enum emerg_step step;
	int playing;            /* one of our segments is in the player */
	int preempting;         /* waiting for a preempted play to fade out */
	int confirmed;          /* started (emergency_started sent or due) */
	int64_t confirm_at;     /* mono ms the emergency_started event is due, 0 = none */
	int64_t start_ms;       /* wall clock of the first sample */
	int64_t end_mono;       /* max duration reached at this monotonic ms */
	int64_t pause_until;    /* mono, in EM_PAUSE */
	unsigned rounds;        /* messages played */
	int live_playing;       /* a live emergency: the live module has the player */
	int keep_level;         /* finish(): a newer one follows, leave the mixer */

	/* after a stop: (the drill preamble, then) the all-clear clip */
	int tail;               /* still to play or playing: the queue waits */
	int tail_step;          /* 0 preamble, 1 all-clear, 2 done */
	int tail_playing;
	int tail_drill;
	char tail_id[EMERG_ID_MAX];
	char tail_pre[CONTENT_ID_LEN + 1];
	char tail_clip[CONTENT_ID_LEN + 1];

	/* the set's alert tone ("tone"), decoded ahead (emergency.c, preload_tone) */
	int16_t *tone_pcm;
	size_t tone_len;
	char tone_content[CONTENT_ID_LEN + 1];
	int tone_check;         /* the set may have changed while the tone played */

	/* the queue's playout callbacks, called for plays that are not ours */
	void (*q_started)(void *arg, int64_t start_ms);
	void (*q_done)(void *arg, const struct playout_done *done);
};

/* Load <state_dir>/emergency.json (if any) and hook into the player. Call
 * after queue_init. Returns 0 or -errno (a damaged file is logged and
 * ignored: the controller sends the list again). */
int emergency_init(struct node *n);

/* Command bodies (already verified envelopes). flags = envelope flags.
 * Returns 0 or -EINVAL with why filled. */
int emergency_parse(const char *name, struct json_t *o, uint16_t flags,
		    struct emerg_cmd *cmd, char *why, size_t whylen);
void emergency_start(struct node *n, const struct emerg_cmd *cmd, int64_t issued_at);
void emergency_stop(struct node *n, const struct emerg_cmd *cmd);
void emergency_set_clips(struct node *n, const struct emerg_cmd *cmd);

/* 1 while an emergency owns the player: the queue must not start anything. */
int emergency_holds(const struct node *n);
/* For cache eviction: 1 when content is a clip or the active message. */
int emergency_uses(const struct node *n, const char *content);
void emergency_content_ready(struct node *n, const char *content);

void emergency_tick(struct node *n);
int64_t emergency_next_deadline(const struct node *n);
/* Registers this module's tick with the event loop (main.c). */
struct loop;
int emergency_register(struct loop *l, struct node *n);
/* The "emergency" object of the status (new reference). */
struct json_t *emergency_status_json(const struct node *n);
/* A live emergency (cmd "live": true): 1 while it waits for or plays live audio. */
int emergency_wants_live(const struct node *n);
/* live.c: the live message started (first sample) / ended. */
void emergency_live_started(struct node *n, int64_t start_ms);
void emergency_live_ended(struct node *n);
/* The node stops: end the active emergency with reason node_stopping. */
void emergency_shutdown(struct node *n);
/* Free what emergency_init and the clips took (after playout_close). */
void emergency_free(struct node *n);

/* Names of clips and ids: 1-31 of a-z 0-9 - _ (ids 1-63 of a-z 0-9 - _). */
int emerg_name_valid(const char *s);

#endif
