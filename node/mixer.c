/*
 * mixer.c - see mixer.h.
 */
#include "mixer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <alsa/asoundlib.h>
#include <jansson.h>

#include "emergency.h"
#include "log.h"
#include "loop.h"
#include "node.h"
#include "status.h"
#include "util.h"

#define MIXER_FILE "mixer.json"
#define MIXER_FILE_MAX 8192

static int configured(const struct node *n)
{
	return n->cfg.alsa.mixer[0] != '\0';
}

static void file_path(const struct node *n, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/" MIXER_FILE, n->cfg.state_dir);
}

/*
 * Open the configured device's mixer and find the configured control
 * (simple element, index 0). On success *mp must be closed by the caller.
 */
static int open_elem(const struct node *n, snd_mixer_t **mp, snd_mixer_elem_t **ep,
		     char *err, size_t errlen)
{
	snd_mixer_t *m = NULL;
	snd_mixer_selem_id_t *sid;
	int rc;

	*mp = NULL;
	*ep = NULL;
	snd_mixer_selem_id_alloca(&sid);
	if ((rc = snd_mixer_open(&m, 0)) < 0) {
		snprintf(err, errlen, "cannot open a mixer: %s", snd_strerror(rc));
		return rc;
	}
	if ((rc = snd_mixer_attach(m, n->cfg.alsa.mixer_device)) < 0 ||
	    (rc = snd_mixer_selem_register(m, NULL, NULL)) < 0 ||
	    (rc = snd_mixer_load(m)) < 0) {
		snprintf(err, errlen, "cannot open the mixer of \"%s\": %s",
			 n->cfg.alsa.mixer_device, snd_strerror(rc));
		snd_mixer_close(m);
		return rc;
	}
	snd_mixer_selem_id_set_index(sid, 0);
	snd_mixer_selem_id_set_name(sid, n->cfg.alsa.mixer);
	*ep = snd_mixer_find_selem(m, sid);
	if (!*ep) {
		snprintf(err, errlen, "the mixer of \"%s\" has no control \"%s\" (see `amixer -D "
			 "%s scontrols`)", n->cfg.alsa.mixer_device, n->cfg.alsa.mixer,
			 n->cfg.alsa.mixer_device);
		snd_mixer_close(m);
		return -ENOENT;
	}
	*mp = m;
	return 0;
}

/* ------------------------------------------------------------ mixer.json */

static int save(const struct node *n, const struct node_mixer *m)
{
	char path[PATH_MAX + 32], *text = NULL;
	json_t *o, *chans;
	unsigned ch;
	int rc = -ENOMEM;

	chans = json_array();
	for (ch = 0; chans && ch < MIXER_MAX_CHANNELS; ch++) {
		json_t *c;

		if (!(m->channels & (1u << ch)))
			continue;
		c = json_pack("{s:i}", "channel", (int)ch);
		if (c && m->has_volume)
			json_object_set_new(c, "volume", json_integer(m->volume[ch]));
		if (c && m->has_switch)
			json_object_set_new(c, "switch", json_boolean(m->sw[ch]));
		json_array_append_new(chans, c);
	}
	o = chans ? json_pack("{s:s, s:s, s:o}", "device", n->cfg.alsa.mixer_device, "control",
			      n->cfg.alsa.mixer, "channels", chans) : NULL;
	if (o)
		text = json_dumps(o, JSON_COMPACT);
	if (text) {
		file_path(n, path, sizeof(path));
		rc = write_file_atomic(path, text, strlen(text), 0640);
	}
	free(text);
	json_decref(o);
	return rc;
}

int mixer_parse_saved(const char *text, size_t len, struct node_mixer *m)
{
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL), *chans, *c;
	size_t i;
	int rc = -EINVAL;

	memset(m, 0, sizeof(*m));
	chans = json_object_get(o, "channels");
	if (!json_is_object(o) || !json_is_string(json_object_get(o, "device")) ||
	    !json_is_string(json_object_get(o, "control")) || !json_is_array(chans) ||
	    json_array_size(chans) == 0 || json_array_size(chans) > MIXER_MAX_CHANNELS)
		goto out;
	json_array_foreach(chans, i, c) {
		json_t *ch = json_object_get(c, "channel"), *v = json_object_get(c, "volume"),
		       *sw = json_object_get(c, "switch");
		json_int_t k;

		if (!json_is_integer(ch) || (k = json_integer_value(ch)) < 0 ||
		    k >= MIXER_MAX_CHANNELS || (m->channels & (1u << k)))
			goto out;
		if ((v && !json_is_integer(v)) || (sw && !json_is_boolean(sw)))
			goto out;
		/* every channel the same shape as the first */
		if (i > 0 && (!!v != m->has_volume || !!sw != m->has_switch))
			goto out;
		m->has_volume = !!v;
		m->has_switch = !!sw;
		m->channels |= 1u << k;
		if (v)
			m->volume[k] = (long)json_integer_value(v);
		if (sw)
			m->sw[k] = json_is_true(sw);
	}
	rc = m->has_volume || m->has_switch ? 0 : -EINVAL;
out:
	json_decref(o);
	return rc;
}

/* ------------------------------------------------------------ restore */

/* Put the saved setting back; 0 when done (and the file removed). */
static int restore(struct node *n)
{
	struct node_mixer *m = &n->mixer;
	char err[1024], path[PATH_MAX + 32];
	snd_mixer_t *mx;
	snd_mixer_elem_t *e;
	int rc, ch;

	rc = open_elem(n, &mx, &e, err, sizeof(err));
	if (rc < 0) {
		log_warnx("cannot put the mixer control \"%s\" back as it was before the "
			  "emergency: %s; trying again every %d s", n->cfg.alsa.mixer, err,
			  MIXER_RETRY_MS / 1000);
		status_error(n, "mixer control %s not restored after the emergency: %s",
			     n->cfg.alsa.mixer, err);
		m->retry_at = mono_ms() + MIXER_RETRY_MS;
		return rc;
	}
	for (ch = 0; ch < MIXER_MAX_CHANNELS; ch++) {
		if (!(m->channels & (1u << ch)))
			continue;
		/* the volume first: an unmute before it would sound loud for a moment */
		if (m->has_volume && snd_mixer_selem_has_playback_volume(e))
			snd_mixer_selem_set_playback_volume(e, (snd_mixer_selem_channel_id_t)ch,
							    m->volume[ch]);
		if (m->has_switch && snd_mixer_selem_has_playback_switch(e))
			snd_mixer_selem_set_playback_switch(e, (snd_mixer_selem_channel_id_t)ch,
							    m->sw[ch]);
	}
	snd_mixer_close(mx);
	file_path(n, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		log_warnx("cannot remove %s: %s", path, strerror(errno));
	else
		fsync_dir_of(path);
	for (ch = 0; ch < MIXER_MAX_CHANNELS - 1 && !(m->channels & (1u << ch)); ch++)
		;
	log_info("mixer control \"%s\" put back as it was before the emergency (%ld%s)",
		 n->cfg.alsa.mixer, m->has_volume ? m->volume[ch] : 0L,
		 m->has_switch && !m->sw[ch] ? ", muted" : "");
	m->engaged = 0;
	m->retry_at = 0;
	return 0;
}

void mixer_init(struct node *n)
{
	struct node_mixer *m = &n->mixer;
	char path[PATH_MAX + 32];
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	memset(m, 0, sizeof(*m));
	file_path(n, path, sizeof(path));
	rc = read_file(path, MIXER_FILE_MAX, &buf, &len);
	if (rc == -ENOENT)
		return;
	if (rc < 0) {
		log_warnx("cannot read %s: %s (the mixer control may still be at the emergency "
			  "level: check it with amixer)", path, strerror(-rc));
		return;
	}
	rc = mixer_parse_saved((const char *)buf, len, m);
	free(buf);
	if (rc < 0 || !configured(n)) {
		log_warnx("%s %s: removed (the mixer control may still be at the emergency "
			  "level: check it with amixer)", path, rc < 0 ? "is damaged" :
			  "names a mixer control, but node.cfg has no alsa.mixer any more");
		memset(m, 0, sizeof(*m));
		unlink(path);
		return;
	}
	log_warnx("the node stopped during an emergency: putting the mixer control \"%s\" "
		  "back as it was before it (from %s)", n->cfg.alsa.mixer, path);
	m->engaged = 1;
	restore(n);
}

/* ------------------------------------------------------------ emergency */

void mixer_emergency_begin(struct node *n)
{
	struct node_mixer *m = &n->mixer;
	struct node_mixer saved;
	char err[1024];
	snd_mixer_t *mx;
	snd_mixer_elem_t *e;
	long min = 0, max = 0, level;
	int ch, rc;

	if (!configured(n))
		return; /* software gain only, as ever */
	rc = open_elem(n, &mx, &e, err, sizeof(err));
	if (rc < 0) {
		log_warnx("emergency: %s; it plays at its software volume only", err);
		status_error(n, "emergency level not set on mixer control %s: %s",
			     n->cfg.alsa.mixer, err);
		return;
	}
	if (!m->engaged) {
		/* what to put back: read and saved before anything changes */
		memset(&saved, 0, sizeof(saved));
		saved.has_volume = snd_mixer_selem_has_playback_volume(e);
		saved.has_switch = snd_mixer_selem_has_playback_switch(e);
		for (ch = 0; ch < MIXER_MAX_CHANNELS; ch++) {
			snd_mixer_selem_channel_id_t c = (snd_mixer_selem_channel_id_t)ch;
			int sw = 1;

			if (!snd_mixer_selem_has_playback_channel(e, c))
				continue;
			saved.channels |= 1u << ch;
			if (saved.has_volume)
				snd_mixer_selem_get_playback_volume(e, c, &saved.volume[ch]);
			if (saved.has_switch)
				snd_mixer_selem_get_playback_switch(e, c, &sw);
			saved.sw[ch] = sw;
		}
		if (!saved.channels || (!saved.has_volume && !saved.has_switch)) {
			log_warnx("emergency: mixer control \"%s\" has neither a playback volume "
				  "nor a playback switch: left alone", n->cfg.alsa.mixer);
			snd_mixer_close(mx);
			return;
		}
		rc = save(n, &saved);
		if (rc < 0) {
			/* without the file a crash would leave it changed: do not touch it */
			log_warnx("emergency: cannot save the mixer setting (%s): the control is "
				  "left as it is", strerror(-rc));
			status_error(n, "emergency level not set: cannot save the mixer setting: %s",
				     strerror(-rc));
			snd_mixer_close(mx);
			return;
		}
		*m = saved;
		m->engaged = 1;
	}
	if (m->has_volume) {
		snd_mixer_selem_get_playback_volume_range(e, &min, &max);
		level = min + ((max - min) * n->cfg.alsa.mixer_level + 50) / 100;
		snd_mixer_selem_set_playback_volume_all(e, level);
	}
	if (m->has_switch)
		snd_mixer_selem_set_playback_switch_all(e, 1);
	snd_mixer_close(mx);
	log_info("emergency: mixer control \"%s\" unmuted and set to %d %% (it was %ld%s); "
		 "put back afterwards", n->cfg.alsa.mixer, n->cfg.alsa.mixer_level,
		 m->has_volume ? m->volume[0] : 0L, m->has_switch && !m->sw[0] ? ", muted" : "");
}

void mixer_emergency_end(struct node *n)
{
	if (n->mixer.engaged)
		restore(n);
}

void mixer_tick(struct node *n)
{
	struct node_mixer *m = &n->mixer;

	if (m->engaged && m->retry_at && mono_ms() >= m->retry_at && !emergency_holds(n))
		restore(n);
}

int64_t mixer_next_deadline(const struct node *n)
{
	return n->mixer.engaged && n->mixer.retry_at ? n->mixer.retry_at : INT64_MAX;
}

/* ---- the event loop (loop.h): main.c registers this module ---- */

static void loop_tick(struct loop *l, int64_t mono, void *arg)
{
	(void)l;
	(void)mono;
	mixer_tick(arg);
}

static int64_t loop_deadline(void *arg)
{
	return mixer_next_deadline(arg);
}

int mixer_register(struct loop *l, struct node *n)
{
	int rc = loop_tick_add(l, "mixer", loop_tick, loop_deadline, n);

	return rc < 0 ? rc : 0;
}
