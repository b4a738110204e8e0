/*
 * emergency.c - see emergency.h.
 */
#include "emergency.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "amp.h"
#include "cache.h"
#include "cmd.h"
#include "envelope.h"
#include "clock.h"
#include "events.h"
#include "fetch.h"
#include "live.h"
#include "log.h"
#include "loop.h"
#include "mixer.h"
#include "node.h"
#include "opusdec.h"
#include "playout.h"
#include "queue.h"
#include "status.h"
#include "util.h"

/* How long after the first sample the confirmation goes out (see confirm). */
#define EMERG_CONFIRM_AFTER_MS 100
/* The longest alert tone held decoded in memory (see preload_tone). */
#define EMERG_TONE_MAX_S 10

static void preload_tone(struct node *n);
static void confirm(struct node *n);

#define CLIPS_FILE "emergency.json"
#define CLIPS_FILE_MAX (64 * 1024)

/* What every log line of an emergency starts with: a drill never reads as real. */
static const char *kind(const struct emerg_cmd *c)
{
	return c->drill ? "DRILL (exercise, not a real alarm)" : "EMERGENCY";
}

int emerg_name_valid(const char *s)
{
	return name_valid(s);
}

/* ------------------------------------------------------------ parsing */

static int opt_str(json_t *o, const char *field, char *out, size_t outlen, char *why,
		   size_t whylen)
{
	json_t *v = json_object_get(o, field);

	out[0] = '\0';
	if (!v || json_is_null(v))
		return 1;
	if (!json_is_string(v) || json_string_length(v) >= outlen ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(why, whylen, "field \"%s\" must be a string of at most %zu characters",
			 field, outlen - 1);
		return -EINVAL;
	}
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int opt_hash(json_t *o, const char *field, char *out, int required, char *why,
		    size_t whylen)
{
	int rc = opt_str(o, field, out, CONTENT_ID_LEN + 1, why, whylen);

	if (rc < 0 || (rc == 0 && !content_id_valid(out)) || (rc == 1 && required)) {
		snprintf(why, whylen, "field \"%s\" must be a content id (64 lowercase hex "
			 "digits)", field);
		return -EINVAL;
	}
	return 0;
}

static int opt_int(json_t *o, const char *field, int64_t min, int64_t max, int64_t def,
		   int64_t *out, char *why, size_t whylen)
{
	json_t *v = json_object_get(o, field);

	*out = def;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(why, whylen, "field \"%s\" must be a whole number from %" PRId64 " to %"
			 PRId64, field, min, max);
		return -EINVAL;
	}
	*out = json_integer_value(v);
	return 0;
}

/* The drill mark is in the signed header (flag bit 0) and in the body: both must agree. */
static int parse_drill(json_t *o, uint16_t flags, int required, int *drill, char *why,
		       size_t whylen)
{
	json_t *v = json_object_get(o, "drill");
	int flag = (flags & ENV_FLAG_DRILL) != 0;

	if (!v) {
		if (required) {
			snprintf(why, whylen, "field \"drill\" (true or false) is missing");
			return -EINVAL;
		}
		*drill = flag;
		return 0;
	}
	if (!json_is_boolean(v)) {
		snprintf(why, whylen, "field \"drill\" must be true or false");
		return -EINVAL;
	}
	*drill = json_is_true(v);
	if (*drill != flag) {
		snprintf(why, whylen, "field \"drill\" is %s but the envelope's drill flag is "
			 "%s: refused (a drill must never be taken for a real alarm, nor the "
			 "other way round)", *drill ? "true" : "false", flag ? "set" : "clear");
		return -EINVAL;
	}
	return 0;
}

/* Emergency ids: "e-..." for a real one, "d-..." for a drill. */
static int id_ok(const char *id, int drill)
{
	return broadcast_id_valid(id) && id[0] == (drill ? 'd' : 'e') && id[1] == '-';
}

static int parse_clips(json_t *o, struct emerg_cmd *c, char *why, size_t whylen)
{
	json_t *arr = json_object_get(o, "clips"), *e;
	size_t i, j;
	int64_t v;

	if (opt_str(o, "set", c->set, sizeof(c->set), why, whylen) != 0 ||
	    strlen(c->set) != EMERG_SET_LEN || strspn(c->set, "0123456789abcdef") !=
							EMERG_SET_LEN) {
		snprintf(why, whylen, "field \"set\" must be %d lowercase hex digits",
			 EMERG_SET_LEN);
		return -EINVAL;
	}
	if (!json_is_array(arr) || json_array_size(arr) > EMERG_MAX_CLIPS) {
		snprintf(why, whylen, "field \"clips\" must be a list of at most %d clips",
			 EMERG_MAX_CLIPS);
		return -EINVAL;
	}
	json_array_foreach(arr, i, e) {
		struct emerg_clip *k = &c->clips[i];

		if (!json_is_object(e) ||
		    opt_str(e, "name", k->name, sizeof(k->name), why, whylen) != 0 ||
		    !emerg_name_valid(k->name)) {
			snprintf(why, whylen, "clips[%zu]: field \"name\" must be 1-31 of a-z, "
				 "0-9, '-', '_'", i);
			return -EINVAL;
		}
		if (opt_hash(e, "content", k->content, 1, why, whylen) < 0)
			return -EINVAL;
		if (opt_int(e, "bytes", 0, (int64_t)1 << 40, 0, &v, why, whylen) < 0)
			return -EINVAL;
		k->bytes = (uint64_t)v;
		for (j = 0; j < i; j++)
			if (strcmp(c->clips[j].name, k->name) == 0) {
				snprintf(why, whylen, "clips[%zu]: clip \"%s\" is named twice", i,
					 k->name);
				return -EINVAL;
			}
	}
	c->nclips = json_array_size(arr);
	return 0;
}

int emergency_parse(const char *name, json_t *o, uint16_t flags, struct emerg_cmd *c,
		    char *why, size_t whylen)
{
	int64_t v;
	int rc;

	memset(c, 0, sizeof(*c));
	if (strcmp(name, "emergency_clips") == 0)
		return parse_clips(o, c, why, whylen);
	if (strcmp(name, "emergency_stop") == 0) {
		if (parse_drill(o, flags, 0, &c->drill, why, whylen) < 0)
			return -EINVAL;
		rc = opt_str(o, "id", c->id, sizeof(c->id), why, whylen);
		if (rc < 0 || (rc == 0 && !id_ok(c->id, c->drill))) {
			snprintf(why, whylen, "field \"id\" must be an emergency id (e-... for an "
				 "emergency, d-... for a drill)");
			return -EINVAL;
		}
		if (opt_hash(o, "all_clear", c->all_clear, 0, why, whylen) < 0 ||
		    opt_hash(o, "preamble", c->preamble, 0, why, whylen) < 0)
			return -EINVAL;
		return 0;
	}
	/* emergency_start */
	if (parse_drill(o, flags, 1, &c->drill, why, whylen) < 0)
		return -EINVAL;
	if (opt_str(o, "id", c->id, sizeof(c->id), why, whylen) != 0 || !id_ok(c->id, c->drill)) {
		snprintf(why, whylen, "field \"id\" must be an emergency id (e-... for an "
			 "emergency, d-... for a drill)");
		return -EINVAL;
	}
	rc = opt_str(o, "clip", c->clip, sizeof(c->clip), why, whylen);
	if (rc < 0 || (rc == 0 && !emerg_name_valid(c->clip))) {
		snprintf(why, whylen, "field \"clip\" must be a clip name (1-31 of a-z, 0-9, "
			 "'-', '_')");
		return -EINVAL;
	}
	{
		json_t *lv = json_object_get(o, "live");

		if (lv && !json_is_boolean(lv)) {
			snprintf(why, whylen, "field \"live\" must be true or false");
			return -EINVAL;
		}
		c->live = json_is_true(lv);
	}
	if (opt_hash(o, "content", c->content, !c->live, why, whylen) < 0 ||
	    opt_hash(o, "tone", c->tone, 0, why, whylen) < 0 ||
	    opt_hash(o, "preamble", c->preamble, 0, why, whylen) < 0)
		return -EINVAL;
	if (opt_int(o, "bytes", 0, (int64_t)1 << 40, 0, &v, why, whylen) < 0)
		return -EINVAL;
	c->bytes = (uint64_t)v;
	if (opt_int(o, "max_s", 1, EMERG_MAX_MAX_S, EMERG_DEFAULT_MAX_S, &c->max_s, why,
		    whylen) < 0)
		return -EINVAL;
	return 0;
}

/* ------------------------------------------------------------ clip set on disk */

static void clips_path(const struct node *n, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/" CLIPS_FILE, n->cfg.state_dir);
}

static int save_clips(struct node *n)
{
	struct emergency *em = &n->emerg;
	char path[PATH_MAX + 32];
	json_t *o, *arr;
	char *text = NULL;
	size_t i;
	int rc = -ENOMEM;

	arr = json_array();
	for (i = 0; arr && i < em->nclips; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:I}", "name",
						     em->clips[i].name, "content",
						     em->clips[i].content, "bytes",
						     (json_int_t)em->clips[i].bytes));
	o = arr ? json_pack("{s:s, s:o}", "set", em->set, "clips", arr) : NULL;
	if (o)
		text = json_dumps(o, JSON_COMPACT);
	if (text) {
		clips_path(n, path, sizeof(path));
		rc = write_file_atomic(path, text, strlen(text), 0640);
		if (rc < 0)
			log_warnx("cannot save the emergency clip list to %s: %s", path,
				  strerror(-rc));
	}
	free(text);
	json_decref(o);
	return rc;
}

static void want_clips(struct node *n)
{
	struct emergency *em = &n->emerg;
	size_t i;

	for (i = 0; i < em->nclips; i++)
		if (!cache_has(&n->cache, em->clips[i].content))
			fetch_want(n, em->clips[i].content, em->clips[i].bytes);
}

static int load_clips(struct node *n)
{
	char path[PATH_MAX + 32], why[256];
	struct emerg_cmd c;
	uint8_t *buf = NULL;
	size_t len = 0;
	json_t *o = NULL;
	int rc;

	clips_path(n, path, sizeof(path));
	rc = read_file(path, CLIPS_FILE_MAX, &buf, &len);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0) {
		log_warnx("cannot read the emergency clip list %s: %s (waiting for the "
			  "controller to send it again)", path, strerror(-rc));
		return rc;
	}
	o = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o) || parse_clips(o, &c, why, sizeof(why)) < 0) {
		log_warnx("%s is damaged (%s): ignored; the controller sends the list again",
			  path, o ? why : "not JSON");
		rc = -EINVAL;
		goto out;
	}
	memcpy(n->emerg.set, c.set, sizeof(c.set));
	memcpy(n->emerg.clips, c.clips, sizeof(c.clips));
	n->emerg.nclips = c.nclips;
	log_info("emergency clips: set %s, %zu clips (from %s)", c.set, c.nclips, path);
out:
	json_decref(o);
	free(buf);
	return rc;
}

void emergency_set_clips(struct node *n, const struct emerg_cmd *c)
{
	struct emergency *em = &n->emerg;
	char names[EMERG_MAX_CLIPS * (EMERG_NAME_MAX + 2)];
	size_t i;

	names[0] = '\0';
	for (i = 0; i < c->nclips; i++) {
		strcat(names, i ? ", " : "");
		strcat(names, c->clips[i].name);
	}
	if (strcmp(em->set, c->set) == 0) {
		log_debug("emergency clip set %s again: nothing new", c->set);
		want_clips(n);
		return;
	}
	memcpy(em->set, c->set, sizeof(c->set));
	memcpy(em->clips, c->clips, sizeof(c->clips));
	em->nclips = c->nclips;
	log_info("emergency clips: new set %s with %zu clips (%s); fetching what is missing",
		 c->set, c->nclips, c->nclips ? names : "none");
	save_clips(n);
	want_clips(n);
	preload_tone(n);
	status_dirty(n);
}

/*
 * The alert tone is the first thing every node plays in an emergency, and
 * opening an Ogg Opus file and decoding its first 200 ms is most of what a
 * node spends between the command and its first sample; with a hundred
 * nodes sharing a CPU, that is what piles up. So the set's tone is held
 * decoded in memory (mono, at most EMERG_TONE_MAX_S: 3 s is 288 KB) from
 * the moment it is on disk, and an activation starts writing at once.
 * Called whenever the set or the cache may have changed; never while an
 * emergency plays (the buffer may be in the player): finish() calls it.
 */
static void preload_tone(struct node *n)
{
	struct emergency *em = &n->emerg;
	const char *want = NULL;
	char path[PATH_MAX + 80];
	int16_t *pcm = NULL;
	size_t i, len = 0;
	int rc;

	em->tone_check = 0;
	if (em->active || (em->tone_pcm && n->po.mem == em->tone_pcm)) {
		em->tone_check = 1; /* in use (playing, fading out): emergency_tick retries */
		return;
	}
	for (i = 0; i < em->nclips; i++)
		if (strcmp(em->clips[i].name, "tone") == 0)
			want = em->clips[i].content;
	if (em->tone_pcm && want && strcmp(want, em->tone_content) == 0)
		return;
	free(em->tone_pcm);
	em->tone_pcm = NULL;
	em->tone_len = 0;
	em->tone_content[0] = '\0';
	if (!want || !cache_has(&n->cache, want))
		return; /* emergency_content_ready comes back when it is */
	cache_path(&n->cache, want, ".opus", path, sizeof(path));
	rc = opusdec_decode_file(path, (size_t)EMERG_TONE_MAX_S * 48000, &pcm, &len);
	if (rc < 0) {
		log_warnx("the emergency alert tone %s cannot be held in memory (%s): it will "
			  "be played from its file", want, rc == -EFBIG ? "longer than 10 s" :
			  strerror(-rc));
		return;
	}
	em->tone_pcm = pcm;
	em->tone_len = len;
	snprintf(em->tone_content, sizeof(em->tone_content), "%s", want);
	log_info("emergency alert tone %s ready in memory (%.1f s)", want, (double)len / 48000.0);
}

/* ------------------------------------------------------------ playing */

int emergency_holds(const struct node *n)
{
	return n->emerg.active || n->emerg.tail;
}

int emergency_uses(const struct node *n, const char *content)
{
	const struct emergency *em = &n->emerg;
	size_t i;

	for (i = 0; i < em->nclips; i++)
		if (strcmp(em->clips[i].content, content) == 0)
			return 1;
	if (em->tail && (strcmp(em->tail_pre, content) == 0 ||
			 strcmp(em->tail_clip, content) == 0))
		return 1;
	if (em->active && (strcmp(em->cur.content, content) == 0 ||
			   strcmp(em->cur.tone, content) == 0 ||
			   strcmp(em->cur.preamble, content) == 0))
		return 1;
	return 0;
}

static void emit(struct node *n, const char *type, int64_t start_ms, int64_t dur,
		 const char *reason)
{
	struct emergency *em = &n->emerg;
	struct event_info info = {
		.broadcast = em->cur.id,
		.content = em->cur.content,
		.start_ms = start_ms,
		.duration_ms = dur,
		.reason = reason,
		.title = em->cur.clip,
		.drill = em->cur.drill ? EV_DRILL_YES : EV_DRILL_NO,
		.error_ms = clock_error_ms(&n->clock),
	};
	json_t *extra = NULL;

	/* an emergency from above says whose it was, in the commune's log too */
	if (em->cur.from[0]) {
		extra = json_pack("{s:s}", "from", em->cur.from);
		info.extra = extra;
	}
	events_emit(n, type, &info);
	json_decref(extra);
}

/* End the active emergency; the queue resumes on the next tick. */
static void finish(struct node *n, const char *reason)
{
	struct emergency *em = &n->emerg;
	int64_t dur = em->start_ms ? now_ms() - em->start_ms : -1;

	if (!em->active)
		return;
	confirm(n); /* started before ended, even when it ends at once */
	em->active = 0;
	if (em->playing) {
		em->playing = 0;
		/* our segment: fade it out; its done callback is ours to ignore */
		playout_stop(&n->po);
	}
	if (em->live_playing || em->cur.live) {
		em->live_playing = 0;
		live_emergency_stop(n); /* the live message ends with the emergency */
	}
	log_warnx("%s %s ended (%s) after %.1f s, %u message%s played", kind(&em->cur),
		  em->cur.id, reason, dur > 0 ? (double)dur / 1000.0 : 0.0, em->rounds,
		  em->rounds == 1 ? "" : "s");
	emit(n, "emergency_ended", em->start_ms, dur, reason);
	/* the mixer goes back now, or after the all-clear, or stays for the next one */
	if (!em->tail && !em->keep_level)
		mixer_emergency_end(n);
	status_dirty(n);
	preload_tone(n); /* a new set may have come while it played */
}

/* A stop for an emergency that does not sound here: say so (the operator's
 * confirmation that this node is silent). */
static void not_active(struct node *n, const struct emerg_cmd *c, const char *reason)
{
	struct event_info info = {
		.broadcast = c->id,
		.start_ms = -1,
		.duration_ms = -1,
		.reason = reason,
		.drill = c->drill ? EV_DRILL_YES : EV_DRILL_NO,
		.error_ms = clock_error_ms(&n->clock),
	};

	events_emit(n, "emergency_not_active", &info);
}

/* ------------------------------------------------------------ all-clear */

static void tail_end(struct node *n)
{
	struct emergency *em = &n->emerg;

	em->tail = 0;
	em->tail_playing = 0;
	mixer_emergency_end(n);
	status_dirty(n);
	preload_tone(n);
}

/* Play what is left of the all-clear, when the player is free. */
static void tail_advance(struct node *n)
{
	struct emergency *em = &n->emerg;
	char path[PATH_MAX + 80], reason[400];
	const char *what = em->tail_drill ? "DRILL (exercise, not a real alarm)" : "EMERGENCY";

	while (em->tail && !em->tail_playing) {
		const char *c = em->tail_step == 0 ? (em->tail_drill ? em->tail_pre : "") :
				em->tail_step == 1 ? em->tail_clip : NULL;
		struct playout_req req;

		if (!c) {
			log_info("%s %s: the all-clear has played", what, em->tail_id);
			tail_end(n);
			return;
		}
		if (!c[0]) {
			em->tail_step++;
			continue;
		}
		if (playout_busy(&n->po))
			return; /* the stopped message still fades out */
		if (!cache_has(&n->cache, c)) {
			/* the emergency is over: nothing is fetched for it now */
			log_warnx("%s %s: the %s (%s) is not on this node: skipped", what,
				  em->tail_id, em->tail_step ? "all-clear clip" : "drill preamble", c);
			em->tail_step++;
			continue;
		}
		memset(&req, 0, sizeof(req));
		cache_path(&n->cache, c, ".opus", path, sizeof(path));
		req.path = path;
		req.volume = n->cfg.emergency_volume;
		req.at_mono_us = 0;
		{
			int64_t ready = amp_ready_mono(n, amp_default_warmup_ms(n));

			if (ready > mono_ms() + 1)
				req.at_mono_us = ready * 1000;
		}
		em->tail_playing = 1;
		if (playout_start_req(&n->po, &req, reason, sizeof(reason)) < 0) {
			em->tail_playing = 0;
			log_warnx("%s %s: cannot play the all-clear: %s", what, em->tail_id, reason);
			em->tail_step++;
			continue;
		}
		log_info("%s %s: playing the %s (%s) at volume %d", what, em->tail_id,
			 em->tail_step ? "all-clear clip" : "drill preamble", c,
			 n->cfg.emergency_volume);
		return;
	}
}

static void tail_cancel(struct node *n)
{
	struct emergency *em = &n->emerg;

	if (!em->tail)
		return;
	em->tail = 0;
	if (em->tail_playing) {
		em->tail_playing = 0;
		playout_stop(&n->po); /* its done callback is ours to ignore */
	}
}

static const char *step_content(const struct emergency *em)
{
	switch (em->step) {
	case EM_TONE: return em->cur.tone;
	case EM_PREAMBLE: return em->cur.drill ? em->cur.preamble : "";
	case EM_MESSAGE: return em->cur.content;
	case EM_PAUSE: break;
	}
	return "";
}

static const char *step_name(enum emerg_step s)
{
	switch (s) {
	case EM_TONE: return "alert tone";
	case EM_PREAMBLE: return "drill preamble";
	case EM_MESSAGE: return "message";
	case EM_PAUSE: return "pause";
	}
	return "?";
}

/*
 * Start the next thing to play, skipping what is not on disk (a missing
 * tone or preamble is skipped with a warning: the message matters more; a
 * missing message is waited for in the pause, it is being fetched).
 */
static void advance(struct node *n)
{
	struct emergency *em = &n->emerg;
	char path[PATH_MAX + 80], reason[400];
	int64_t at_us;
	int guard, rc;

	for (guard = 0; guard < 8 && em->active && !em->playing && !em->preempting; guard++) {
		const char *c;

		if (em->step == EM_MESSAGE && em->cur.live) {
			/* the message is the operator's voice: the live module plays it */
			if (em->live_playing || playout_busy(&n->po))
				return;
			if (live_emergency_play(n) == 0) {
				em->live_playing = 1;
				log_info("%s %s: playing the live message at volume %d",
					 kind(&em->cur), em->cur.id, n->cfg.emergency_volume);
			}
			return; /* no live audio yet: emergency_tick looks again */
		}

		if (em->step == EM_PAUSE) {
			if (mono_ms() < em->pause_until)
				return;
			em->step = EM_PREAMBLE;
		}
		c = step_content(em);
		if (!c[0]) {
			em->step = em->step == EM_MESSAGE ? EM_PAUSE : em->step + 1;
			if (em->step == EM_PAUSE)
				em->pause_until = mono_ms() + EMERG_PAUSE_MS;
			continue;
		}
		if (playout_busy(&n->po))
			return; /* something else still fades out */
		if (!cache_has(&n->cache, c)) {
			if (em->step == EM_MESSAGE) {
				log_warnx("%s %s: the message %s is not on this node yet; "
					  "fetching it (the alert goes on meanwhile)",
					  kind(&em->cur), em->cur.id, c);
				fetch_want(n, c, em->cur.bytes);
				em->step = EM_PAUSE;
				em->pause_until = mono_ms() + EMERG_PAUSE_MS;
				continue;
			}
			log_warnx("%s %s: the %s (%s) is not on this node: skipped",
				  kind(&em->cur), em->cur.id, step_name(em->step), c);
			em->step++;
			continue;
		}
		em->playing = 1;
		/*
		 * Not before the amplifier has had its warm-up (the first
		 * segment only, in practice: it is on from then): the tone is
		 * what wakes people, and its first sample is what is confirmed.
		 */
		{
			int64_t ready = amp_ready_mono(n, amp_default_warmup_ms(n));

			at_us = 0;
			if (ready > mono_ms() + 1) {
				at_us = ready * 1000;
				log_warnx("%s %s: the amplifier warms up: the %s starts in %.1f s",
					  kind(&em->cur), em->cur.id, step_name(em->step),
					  (double)(ready - mono_ms()) / 1000.0);
			}
		}
		if (em->step == EM_TONE && em->tone_pcm && strcmp(c, em->tone_content) == 0) {
			rc = playout_start_pcm(&n->po, em->tone_pcm, em->tone_len,
					       n->cfg.emergency_volume, at_us, reason,
					       sizeof(reason));
		} else {
			struct playout_req req = { .volume = n->cfg.emergency_volume,
						   .at_mono_us = at_us };

			cache_path(&n->cache, c, ".opus", path, sizeof(path));
			req.path = path;
			rc = playout_start_req(&n->po, &req, reason, sizeof(reason));
		}
		if (rc < 0) {
			em->playing = 0;
			log_warnx("%s %s: cannot play the %s: %s", kind(&em->cur), em->cur.id,
				  step_name(em->step), reason);
			em->step = em->step == EM_MESSAGE ? EM_PAUSE : em->step + 1;
			em->pause_until = mono_ms() + EMERG_PAUSE_MS;
			continue;
		}
		log_info("%s %s: playing the %s (%s) at volume %d", kind(&em->cur), em->cur.id,
			 step_name(em->step), c, n->cfg.emergency_volume);
		return;
	}
}

static void on_started(void *arg, int64_t start_ms)
{
	struct node *n = arg;
	struct emergency *em = &n->emerg;

	if (em->tail_playing)
		return; /* the all-clear: nothing to confirm */
	if (!em->playing) {
		if (em->q_started)
			em->q_started(arg, start_ms);
		return;
	}
	if (!em->confirmed) {
		em->confirmed = 1;
		em->start_ms = start_ms;
		log_warnx("%s %s started: first sample at %" PRId64 " (%s)", kind(&em->cur),
			  em->cur.id, start_ms, em->cur.clip[0] ? em->cur.clip : "message");
		em->confirm_at = mono_ms() + EMERG_CONFIRM_AFTER_MS;
	}
}

/*
 * The confirmation (journal, fsync, publish, and the controller's work on
 * it) goes out EMERG_CONFIRM_AFTER_MS after the first sample rather than
 * with it: when every node of a commune starts at once on a shared CPU or
 * broker, reports would otherwise compete with nodes still starting to
 * sound. The event's start is the first sample's time either way.
 */
static void confirm(struct node *n)
{
	struct emergency *em = &n->emerg;

	if (!em->confirm_at)
		return;
	em->confirm_at = 0;
	emit(n, "emergency_started", em->start_ms, -1, "");
	status_dirty(n);
}

static void on_done(void *arg, const struct playout_done *d)
{
	struct node *n = arg;
	struct emergency *em = &n->emerg;

	if (em->tail_playing) {
		em->tail_playing = 0;
		if (d->result == PO_FAILED)
			log_warnx("%s: the all-clear failed: %s", em->tail_id, d->reason);
		em->tail_step++;
		tail_advance(n);
		return;
	}
	if (!em->playing) {
		if (em->q_done)
			em->q_done(arg, d);
		/* our stopped segment has faded out: the all-clear follows */
		if (em->tail && !em->tail_playing && !playout_busy(&n->po)) {
			tail_advance(n);
			return;
		}
		/* a preempted play has faded out: the emergency goes on at once */
		if (em->active && !playout_busy(&n->po)) {
			em->preempting = 0;
			advance(n);
		}
		return;
	}
	em->playing = 0;
	if (d->result == PO_FAILED)
		log_warnx("%s %s: the %s failed: %s", kind(&em->cur), em->cur.id,
			  step_name(em->step), d->reason);
	if (em->step == EM_MESSAGE) {
		em->rounds++;
		em->step = EM_PAUSE;
		em->pause_until = mono_ms() + EMERG_PAUSE_MS;
	} else if (em->step != EM_PAUSE) {
		em->step++;
	}
	advance(n);
}

void emergency_start(struct node *n, const struct emerg_cmd *c, int64_t issued_at)
{
	struct emergency *em = &n->emerg;
	int64_t left_ms = issued_at + c->max_s * 1000 - now_ms();

	if (em->active && strcmp(em->cur.id, c->id) == 0) {
		log_info("%s %s is already active: repeated command ignored", kind(c), c->id);
		return;
	}
	if (left_ms <= 0) {
		log_warnx("%s %s: its maximum duration (%" PRId64 " s from its issue) is already "
			  "over: not started", kind(c), c->id, c->max_s);
		return;
	}
	tail_cancel(n); /* a new alarm cuts the all-clear of the last one */
	if (em->active) {
		em->keep_level = 1;
		finish(n, "replaced by a newer emergency");
		em->keep_level = 0;
	}
	memset(&em->cur, 0, sizeof(em->cur));
	em->cur = *c;
	em->active = 1;
	em->step = EM_TONE;
	em->playing = 0;
	em->confirmed = 0;
	em->confirm_at = 0;
	em->start_ms = 0;
	em->rounds = 0;
	em->end_mono = mono_ms() + left_ms;
	log_warnx("%s %s received: %s%s%s, at most %" PRId64 " s, volume %d", kind(c), c->id,
		  c->clip[0] ? "clip " : "message ", c->clip[0] ? c->clip : c->content,
		  c->tone[0] ? " after the alert tone" : "", left_ms / 1000,
		  n->cfg.emergency_volume);
	/* at its level whatever the local mixer setting (mixer.h; before the tone) */
	mixer_emergency_begin(n);
	/* everything else yields at once: a queued play fades out (10 ms) first */
	live_yield(n); /* a live session keeps receiving and plays again afterwards */
	em->preempting = queue_preempt(n, c->id) && playout_busy(&n->po);
	if (!em->preempting && playout_busy(&n->po)) {
		/* not the queue's (an old segment of ours fading): stop it too */
		playout_stop(&n->po);
	}
	if (!cache_has(&n->cache, c->content))
		fetch_want(n, c->content, c->bytes);
	advance(n);
	status_dirty(n);
}

void emergency_stop(struct node *n, const struct emerg_cmd *c)
{
	struct emergency *em = &n->emerg;

	char why[EMERG_ID_MAX + 64];

	if (!em->active) {
		log_info("emergency stop%s%s: no emergency is active", c->id[0] ? " for " : "",
			 c->id);
		if (c->id[0])
			not_active(n, c, "it was not sounding on this node");
		return;
	}
	if (c->id[0] && strcmp(c->id, em->cur.id) != 0) {
		log_info("emergency stop for %s: the active one is %s: ignored", c->id,
			 em->cur.id);
		snprintf(why, sizeof(why), "it was not sounding on this node (%s is)",
			 em->cur.id);
		not_active(n, c, why);
		return;
	}
	if (c->all_clear[0]) {
		em->tail = 1;
		em->tail_step = 0;
		em->tail_playing = 0;
		em->tail_drill = em->cur.drill;
		snprintf(em->tail_id, sizeof(em->tail_id), "%s", em->cur.id);
		memcpy(em->tail_clip, c->all_clear, sizeof(em->tail_clip));
		/* a drill's all-clear is marked as a drill too */
		memcpy(em->tail_pre, c->preamble[0] ? c->preamble : em->cur.preamble,
		       sizeof(em->tail_pre));
	}
	finish(n, "stopped");
	if (em->tail && !playout_busy(&n->po))
		tail_advance(n);
}

void emergency_content_ready(struct node *n, const char *content)
{
	struct emergency *em = &n->emerg;

	preload_tone(n);
	if (em->active && strcmp(content, em->cur.content) == 0 && em->step == EM_PAUSE) {
		em->pause_until = 0; /* the message arrived: play it now */
		em->step = EM_PREAMBLE;
		advance(n);
	}
	status_dirty(n);
}

void emergency_tick(struct node *n)
{
	struct emergency *em = &n->emerg;

	if (em->tail && !em->tail_playing && !playout_busy(&n->po))
		tail_advance(n);
	if (!em->active) {
		if (em->tone_check && !playout_busy(&n->po))
			preload_tone(n);
		return;
	}
	if (em->confirm_at && mono_ms() >= em->confirm_at)
		confirm(n);
	if (mono_ms() >= em->end_mono) {
		finish(n, "max_duration");
		return;
	}
	if (em->preempting && !playout_busy(&n->po))
		em->preempting = 0;
	advance(n);
}

int64_t emergency_next_deadline(const struct node *n)
{
	const struct emergency *em = &n->emerg;
	int64_t t;

	if (em->tail && !em->tail_playing)
		return mono_ms() + 20; /* waiting for the stopped message to fade out */
	if (!em->active)
		return INT64_MAX;
	t = em->end_mono;
	if (em->confirm_at && em->confirm_at < t)
		t = em->confirm_at;
	if (em->step == EM_PAUSE && !em->playing && em->pause_until < t)
		t = em->pause_until;
	if (em->step == EM_MESSAGE && em->cur.live && !em->live_playing) {
		int64_t soon = mono_ms() + 20; /* waiting for the live audio */

		if (soon < t)
			t = soon;
	}
	return t;
}

json_t *emergency_status_json(const struct node *n)
{
	const struct emergency *em = &n->emerg;
	json_t *o, *clips, *active = json_null();
	size_t i;

	clips = json_object();
	for (i = 0; i < em->nclips; i++)
		json_object_set_new(clips, em->clips[i].name,
				    json_boolean(cache_has(&n->cache, em->clips[i].content)));
	if (em->active)
		active = json_pack("{s:s, s:b, s:s, s:s, s:I, s:s, s:i}", "id", em->cur.id,
				   "drill", em->cur.drill, "clip", em->cur.clip, "content",
				   em->cur.content, "since", (json_int_t)em->start_ms, "step",
				   step_name(em->step), "volume", n->cfg.emergency_volume);
	o = json_pack("{s:s, s:o, s:o}", "clips_set", em->set, "clips", clips, "active",
		      active ? active : json_null());
	if (o && em->tail)
		json_object_set_new(o, "all_clear", json_string(em->tail_id));
	return o;
}

int emergency_wants_live(const struct node *n)
{
	return n->emerg.active && n->emerg.cur.live;
}

void emergency_live_started(struct node *n, int64_t start_ms)
{
	struct emergency *em = &n->emerg;

	/* no tone on this node: the live voice is the first sample */
	if (em->active && !em->confirmed) {
		em->confirmed = 1;
		em->start_ms = start_ms;
		log_warnx("%s %s started: first sample at %" PRId64 " (live)", kind(&em->cur),
			  em->cur.id, start_ms);
		emit(n, "emergency_started", start_ms, -1, "");
		status_dirty(n);
	}
}

void emergency_live_ended(struct node *n)
{
	struct emergency *em = &n->emerg;

	if (!em->active || !em->cur.live)
		return;
	em->live_playing = 0;
	em->rounds = 1;
	finish(n, "the live message ended");
}

void emergency_shutdown(struct node *n)
{
	tail_cancel(n);
	finish(n, "node_stopping");
	mixer_emergency_end(n); /* after an all-clear cut short too */
}

void emergency_free(struct node *n)
{
	free(n->emerg.tone_pcm);
	n->emerg.tone_pcm = NULL;
	n->emerg.tone_len = 0;
}

int emergency_init(struct node *n)
{
	struct emergency *em = &n->emerg;

	memset(em, 0, sizeof(*em));
	em->q_started = n->po.on_started;
	em->q_done = n->po.on_done;
	n->po.on_started = on_started;
	n->po.on_done = on_done;
	n->po.cb_arg = n;
	load_clips(n);
	want_clips(n);
	preload_tone(n);
	/*
	 * Opening and configuring the PCM is most of what an emergency costs a
	 * node before its first sample (and, with a hundred nodes on one CPU,
	 * what piles up): keep it open, prepared and silent while idle.
	 */
	if (n->cfg.emergency_keep_open)
		playout_warm_up(&n->po, INT64_MAX);
	return 0;
}

/* ---- the event loop (loop.h): main.c registers this module ---- */

static void loop_tick(struct loop *l, int64_t mono, void *arg)
{
	(void)l;
	(void)mono;
	emergency_tick(arg);
}

static int64_t loop_deadline(void *arg)
{
	return emergency_next_deadline(arg);
}

/* This module's part of the status (status.h). */
static void status_part(struct node *n, json_t *status)
{
	json_object_set_new(status, "emergency", emergency_status_json(n));
}

int emergency_register(struct loop *l, struct node *n)
{
	int rc = loop_tick_add(l, "emergency", loop_tick, loop_deadline, n);

	if (rc >= 0)
		rc = status_provider_add(n, status_part);
	return rc < 0 ? rc : 0;
}
