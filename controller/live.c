/*
 * live.c - see live.h.
 */
#include "live.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <alsa/asoundlib.h>
#include <mosquitto.h>
#include <opus.h>
#include <sodium.h>

#include "auth.h"
#include "ctl.h"
#include "ctlutil.h"
#include "decode.h"
#include "envelope.h"
#include "livebody.h"
#include "log.h"
#include "util.h"

#define FRAME 960                 /* 20 ms at 48 kHz */
#define FRAME_US 20000
#define MAX_BATCH 12
#define LEVEL_RELAY 0
#define LEVEL_LIVE 3
#define BODY_CAP (LIVE_HEADER_LEN + MAX_BATCH * (2 + LIVE_MAX_FRAME_BYTES))
#define FBUF 65536                /* decoder output staging (the decoder hands out up to 1.4 s) */

enum src_kind { SRC_FILE = 1, SRC_ALSA };

struct session {
	int active;
	char id[16];
	uint32_t session;
	uint8_t level;
	unsigned latency_ms;
	unsigned batch;           /* frames per message */
	char topic[256];
	char target[64];
	char source[300];         /* for the log and the API */
	enum src_kind kind;
	int64_t started_ms;
	int64_t until_ms;         /* relay: end at this time; 0 = none */
	int64_t t_base_us;        /* capture time of frame 0 */
	int64_t mono_base_us;     /* CLOCK_MONOTONIC at frame 0 (file pacing) */
	uint32_t seq;             /* next frame */
	OpusEncoder *enc;
	/* file */
	struct decoder *dec;
	float fbuf[FBUF];         /* decoded, not yet encoded */
	size_t ffill;
	int eof;
	int tfd;
	/* alsa */
	snd_pcm_t *cap;
	int npfds;
	int16_t spcm[FRAME];
	size_t sfill;
	int64_t frame_start_us;   /* capture time of spcm[0] */
	/* the batch being filled */
	uint8_t pkt[MAX_BATCH][LIVE_MAX_FRAME_BYTES];
	uint16_t plen[MAX_BATCH];
	unsigned nb;
	uint32_t batch_seq;
	int64_t batch_t0;
	/* the last frame sent, to carry the "last" flag when the batch is empty */
	uint8_t last_pkt[LIVE_MAX_FRAME_BYTES];
	uint16_t last_len;
	uint32_t last_seq;
	int64_t last_t0;
	/* figures */
	uint64_t frames, payload_bytes, wire_bytes, messages, errors;
};

struct ctl_live {
	struct mosquitto *m;
	char client_id[80];
	int connected;
	int64_t retry_mono;
	struct session s[2];      /* [0] live, [1] relay */
	int pfd_base;             /* where our fds sit in this round */
	int pfd_count;
};

static int64_t real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *level_name(uint8_t l)
{
	return l == LEVEL_RELAY ? "relay" : "live";
}

/* ------------------------------------------------------------ MQTT */

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
	struct ctl *c = arg;

	(void)m;
	if (rc != 0) {
		log_warnx("the MQTT broker refused the live connection: %s",
			  mosquitto_connack_string(rc));
		return;
	}
	c->live->connected = 1;
	log_info("connected to the MQTT broker (live connection, client id %s)",
		 c->live->client_id);
}

static void on_disconnect(struct mosquitto *m, void *arg, int rc)
{
	struct ctl *c = arg;

	(void)m;
	if (c->live->connected && !c->stopping)
		log_warnx("lost the live connection to the MQTT broker (%s); reconnecting",
			  rc == 0 ? "closed" : mosquitto_strerror(rc));
	c->live->connected = 0;
	c->live->retry_mono = mono_ms() + 1000;
}

static void attempt_connect(struct ctl *c)
{
	struct ctl_live *L = c->live;
	int rc = mosquitto_connect_async(L->m, c->cfg.mqtt.host, c->cfg.mqtt.port,
					 c->cfg.mqtt.keepalive);

	if (rc != MOSQ_ERR_SUCCESS) {
		log_debug("live connection: cannot connect yet: %s", rc == MOSQ_ERR_ERRNO ?
			  strerror(errno) : mosquitto_strerror(rc));
		L->retry_mono = mono_ms() + 2000;
	} else {
		L->retry_mono = 0;
	}
}

int ctl_live_start(struct ctl *c)
{
	struct ctl_live *L = c->live;

	snprintf(L->client_id, sizeof(L->client_id), "%s-controller-live", c->cfg.site);
	L->m = mosquitto_new(L->client_id, true, c);
	if (!L->m) {
		log_errorx("cannot create the MQTT live client: %s", strerror(errno));
		return -ENOMEM;
	}
	mosquitto_int_option(L->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	/* a live frame must leave now: no Nagle */
	mosquitto_int_option(L->m, MOSQ_OPT_TCP_NODELAY, 1);
	if (c->cfg.mqtt.username[0])
		mosquitto_username_pw_set(L->m, c->cfg.mqtt.username,
					  c->cfg.mqtt.password[0] ? c->cfg.mqtt.password : NULL);
	/* TLS like the other two connections (mqtt.c, docs/security.md) */
	if (c->cfg.mqtt.cafile[0] &&
	    (mosquitto_tls_set(L->m, c->cfg.mqtt.cafile, NULL, NULL, NULL, NULL) !=
		     MOSQ_ERR_SUCCESS ||
	     mosquitto_tls_opts_set(L->m, 1, "tlsv1.2", NULL) != MOSQ_ERR_SUCCESS)) {
		log_errorx("mqtt.cafile %s: cannot set up TLS for the live connection",
			   c->cfg.mqtt.cafile);
		return -EINVAL;
	}
	mosquitto_connect_callback_set(L->m, on_connect);
	mosquitto_disconnect_callback_set(L->m, on_disconnect);
	attempt_connect(c);
	return 0;
}

/* ------------------------------------------------------------ sending */

static void flush_batch(struct ctl *c, struct session *s, int last)
{
	struct live_batch b;
	uint8_t body[BODY_CAP], *env = NULL;
	size_t envlen = 0;
	uint64_t seq;
	int64_t now = now_ms();
	unsigned i;
	int len, rc;

	if (s->nb == 0 && (!last || !s->last_len))
		return;
	memset(&b, 0, sizeof(b));
	if (s->nb == 0) {
		/* the end must be said but every frame is out: send the last one again
		 * with the flag (nodes count it as a duplicate, and know the end) */
		memcpy(s->pkt[0], s->last_pkt, s->last_len);
		s->plen[0] = s->last_len;
		s->batch_seq = s->last_seq;
		s->batch_t0 = s->last_t0;
		s->nb = 1;
		s->payload_bytes += s->last_len; /* it goes over the wire again */
	}
	b.flags = last ? LIVE_FLAG_LAST : 0;
	b.level = s->level;
	b.nframes = s->nb;
	b.session = s->session;
	b.seq = s->batch_seq;
	b.t0_us = s->batch_t0;
	b.frame_ms = 20;
	b.latency_ms = (uint16_t)s->latency_ms;
	for (i = 0; i < s->nb; i++) {
		b.frame[i] = s->pkt[i];
		b.len[i] = s->plen[i];
	}
	s->nb = 0;
	len = live_body_write(&b, body, sizeof(body));
	if (len < 0) {
		s->errors++;
		return;
	}
	if (ctl_db_next_seq(&c->db, ENV_LIVE, ctl_now_us(), &seq) < 0) {
		s->errors++;
		return;
	}
	/* worthless once played: void a little after its last frame's turn */
	rc = envelope_seal(&c->signer, ENV_LIVE, 0, seq, now,
			   now + (int64_t)s->latency_ms + 5000, body, (size_t)len, &env, &envlen);
	if (rc < 0) {
		s->errors++;
		return;
	}
	if (c->live->connected) {
		rc = mosquitto_publish(c->live->m, NULL, s->topic, (int)envlen, env, 0, false);
		if (rc == MOSQ_ERR_SUCCESS) {
			s->messages++;
			/* MQTT PUBLISH: fixed header (1 + 2..3 length bytes), topic (2 + n) */
			s->wire_bytes += envlen + 2 + strlen(s->topic) + 1 +
					 (envlen + 2 + strlen(s->topic) > 16383 ? 2 : 1);
			mosquitto_loop_write(c->live->m, 1);
		} else {
			s->errors++;
		}
	} else {
		s->errors++; /* QoS 0: a frame not sent now is worthless later */
	}
	free(env);
}

static void encode_frame(struct ctl *c, struct session *s, const float *f32,
			 const int16_t *s16, int64_t t_us)
{
	int n;

	if (s->nb == 0) {
		s->batch_seq = s->seq;
		s->batch_t0 = t_us;
	}
	if (f32)
		n = opus_encode_float(s->enc, f32, FRAME, s->pkt[s->nb], LIVE_MAX_FRAME_BYTES);
	else
		n = opus_encode(s->enc, s16, FRAME, s->pkt[s->nb], LIVE_MAX_FRAME_BYTES);
	if (n <= 0) {
		s->errors++;
		log_warnx("live %s: Opus encoding failed: %s", s->id, opus_strerror(n));
		n = 0;
	}
	if (n > 0) {
		memcpy(s->last_pkt, s->pkt[s->nb], (size_t)n);
		s->last_len = (uint16_t)n;
		s->last_seq = s->seq;
		s->last_t0 = t_us;
		s->plen[s->nb++] = (uint16_t)n;
		s->payload_bytes += (uint64_t)n;
	}
	s->frames++;
	s->seq++;
	if (s->nb >= s->batch)
		flush_batch(c, s, 0);
}

/* ------------------------------------------------------------ sources */

static void session_end(struct ctl *c, struct session *s, const char *why);

/* The file source: every frame whose capture time has come is decoded and sent. */
static void file_pump(struct ctl *c, struct session *s)
{
	int64_t due = (mono_now_us() - s->mono_base_us) / FRAME_US + 1;
	char why[256];

	while (s->active && (int64_t)s->seq < due) {
		while (s->ffill < FRAME && !s->eof) {
			const float *p;
			size_t n = 0, room = FBUF - s->ffill;
			int rc = decoder_read(s->dec, &p, &n, why, sizeof(why));

			if (rc < 0)
				log_warnx("live %s: %s", s->id, why);
			if (rc <= 0 || n == 0) {
				s->eof = 1;
				break;
			}
			memcpy(s->fbuf + s->ffill, p, (n < room ? n : room) * sizeof(float));
			s->ffill += n < room ? n : room;
		}
		if (s->ffill == 0 && s->eof) {
			session_end(c, s, "end of the file");
			return;
		}
		if (s->ffill < FRAME) /* the end: pad the last frame with silence */
			memset(s->fbuf + s->ffill, 0, (FRAME - s->ffill) * sizeof(float));
		encode_frame(c, s, s->fbuf, NULL, s->t_base_us + (int64_t)s->seq * FRAME_US);
		if (s->ffill > FRAME) {
			memmove(s->fbuf, s->fbuf + FRAME, (s->ffill - FRAME) * sizeof(float));
			s->ffill -= FRAME;
		} else {
			s->ffill = 0;
		}
	}
}

/*
 * The capture source: read what the device has. The capture time of the
 * first sample of each frame is now - (what the device still holds + what
 * we have of this frame) / rate; frames sit on the session's 20 ms grid
 * (t_base + seq * 20 ms), anchored at the first frame.
 */
static void alsa_pump(struct ctl *c, struct session *s)
{
	for (;;) {
		snd_pcm_sframes_t got = snd_pcm_readi(s->cap, s->spcm + s->sfill, FRAME - s->sfill);

		if (got == -EAGAIN)
			return;
		if (got < 0) {
			int rc = snd_pcm_recover(s->cap, (int)got, 1);

			if (rc < 0) {
				char why[200];

				snprintf(why, sizeof(why), "the capture device failed: %s",
					 snd_strerror(rc));
				session_end(c, s, why);
				return;
			}
			log_warnx("live %s: capture overrun: recovered", s->id);
			snd_pcm_start(s->cap);
			continue;
		}
		if (got == 0)
			return;
		s->sfill += (size_t)got;
		if (s->sfill == FRAME) {
			if (s->frames == 0) {
				snd_pcm_sframes_t delay = 0;

				if (snd_pcm_delay(s->cap, &delay) < 0 || delay < 0)
					delay = 0;
				s->t_base_us = real_us() - (int64_t)(delay + FRAME) * 1000000 / 48000;
			}
			encode_frame(c, s, NULL, s->spcm, s->t_base_us + (int64_t)s->seq * FRAME_US);
			s->sfill = 0;
		}
	}
}

static int alsa_open(struct session *s, const char *device, char *why, size_t whylen)
{
	snd_pcm_hw_params_t *hw;
	snd_pcm_sw_params_t *sw;
	unsigned buffer_us = 200000, period_us = 10000;
	int dir = 0, rc;

	rc = snd_pcm_open(&s->cap, device, SND_PCM_STREAM_CAPTURE, SND_PCM_NONBLOCK);
	if (rc < 0) {
		s->cap = NULL;
		snprintf(why, whylen, "cannot open capture device \"%s\": %s", device,
			 snd_strerror(rc));
		return rc;
	}
	snd_pcm_hw_params_alloca(&hw);
	snd_pcm_sw_params_alloca(&sw);
	if ((rc = snd_pcm_hw_params_any(s->cap, hw)) < 0 ||
	    (rc = snd_pcm_hw_params_set_access(s->cap, hw, SND_PCM_ACCESS_RW_INTERLEAVED)) < 0 ||
	    (rc = snd_pcm_hw_params_set_format(s->cap, hw, SND_PCM_FORMAT_S16_LE)) < 0 ||
	    (rc = snd_pcm_hw_params_set_channels(s->cap, hw, 1)) < 0 ||
	    (rc = snd_pcm_hw_params_set_rate(s->cap, hw, 48000, 0)) < 0 ||
	    (rc = snd_pcm_hw_params_set_buffer_time_near(s->cap, hw, &buffer_us, &dir)) < 0 ||
	    (rc = snd_pcm_hw_params_set_period_time_near(s->cap, hw, &period_us, &dir)) < 0 ||
	    (rc = snd_pcm_hw_params(s->cap, hw)) < 0) {
		snprintf(why, whylen, "capture device \"%s\" does not take mono 16-bit 48 kHz "
			 "(use a `plug` device): %s", device, snd_strerror(rc));
		goto fail;
	}
	rc = snd_pcm_poll_descriptors_count(s->cap);
	if (rc <= 0 || rc > CTL_LIVE_MAX_PFDS) {
		snprintf(why, whylen, "capture device \"%s\" offers %d poll descriptors", device,
			 rc);
		rc = -EINVAL;
		goto fail;
	}
	s->npfds = rc;
	rc = snd_pcm_start(s->cap);
	if (rc < 0) {
		snprintf(why, whylen, "capture device \"%s\" does not start: %s", device,
			 snd_strerror(rc));
		goto fail;
	}
	return 0;
fail:
	snd_pcm_close(s->cap);
	s->cap = NULL;
	return rc < 0 ? rc : -EINVAL;
}

/* ------------------------------------------------------------ sessions */

static void session_end(struct ctl *c, struct session *s, const char *why)
{
	double ratio = s->payload_bytes ? (double)s->wire_bytes / (double)s->payload_bytes : 0;

	if (!s->active)
		return;
	flush_batch(c, s, 1); /* what is pending, flagged as the last */
	log_info("%s session %s to %s ended (%s): %" PRIu64 " frames in %" PRIu64 " messages, "
		 "wire/payload %.2f, %" PRIu64 " errors", level_name(s->level), s->id, s->target,
		 why, s->frames, s->messages, ratio, s->errors);
	s->active = 0;
	if (s->enc)
		opus_encoder_destroy(s->enc);
	s->enc = NULL;
	if (s->dec)
		decoder_close(&s->dec);
	if (s->tfd >= 0)
		close(s->tfd);
	s->tfd = -1;
	if (s->cap)
		snd_pcm_close(s->cap);
	s->cap = NULL;
}

static json_t *session_json(const struct session *s)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I}",
			 "live", s->id, "level", level_name(s->level), "target", s->target,
			 "source", s->source, "latency_ms", (int)s->latency_ms,
			 "started", (json_int_t)s->started_ms, "until", (json_int_t)s->until_ms,
			 "frames", (json_int_t)s->frames, "messages", (json_int_t)s->messages,
			 "payload_bytes", (json_int_t)s->payload_bytes,
			 "wire_bytes", (json_int_t)s->wire_bytes,
			 "wire_ratio", s->payload_bytes ? (double)s->wire_bytes /
			 (double)s->payload_bytes : 0.0, "errors", (json_int_t)s->errors);
}

static json_t *err_json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *err_json(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return json_pack("{s:s}", "error", buf);
}

static void api_start(struct ctl *c, const struct ctl_principal *who, const char *body,
		      size_t len, unsigned *status, json_t **reply, char *target,
		      size_t targetlen)
{
	char err[300], zone[CTL_NAME_MAX] = "", node[CTL_NAME_MAX] = "", level[16] = "live";
	char device[256] = "", content[CONTENT_ID_LEN + 1] = "", path[PATH_MAX + 80];
	struct ctl_content_row row;
	struct session *s;
	int64_t latency = CTL_LIVE_DEFAULT_LATENCY_MS, until = 0;
	int all = 0, nt = 0, rc, x, oerr = 0;
	json_t *o;

	*status = 400;
	o = ctl_json_object(body, len, err, sizeof(err));
	if (!o) {
		*reply = err_json("%s", err);
		return;
	}
	x = ctl_json_str(o, "zone", CTL_OPTIONAL, zone, sizeof(zone), err, sizeof(err));
	if (x < 0 || (x == 0 && !name_valid(zone)))
		goto bad_target;
	nt += x == 0;
	x = ctl_json_str(o, "node", CTL_OPTIONAL, node, sizeof(node), err, sizeof(err));
	if (x < 0 || (x == 0 && !name_valid(node)))
		goto bad_target;
	nt += x == 0;
	if (ctl_json_bool(o, "all", CTL_OPTIONAL, &all, err, sizeof(err)) < 0)
		goto bad;
	nt += all;
	if (nt != 1)
		goto bad_target;
	if (ctl_json_str(o, "level", CTL_OPTIONAL, level, sizeof(level), err, sizeof(err)) < 0 ||
	    (strcmp(level, "live") != 0 && strcmp(level, "relay") != 0)) {
		snprintf(err, sizeof(err), "field \"level\" must be live or relay");
		goto bad;
	}
	if (ctl_json_int(o, "latency_ms", CTL_OPTIONAL, CTL_LIVE_MIN_LATENCY_MS,
			 CTL_LIVE_MAX_LATENCY_MS, &latency, err, sizeof(err)) < 0)
		goto bad;
	if (ctl_json_int(o, "until", CTL_OPTIONAL, 0, CTL_JSON_INT_MAX, &until, err,
			 sizeof(err)) < 0)
		goto bad;
	x = ctl_json_str(o, "device", CTL_OPTIONAL, device, sizeof(device), err, sizeof(err));
	if (x < 0)
		goto bad;
	x = ctl_json_str(o, "content", CTL_OPTIONAL, content, sizeof(content), err, sizeof(err));
	if (x < 0 || (x == 0 && !content_id_valid(content))) {
		snprintf(err, sizeof(err), "field \"content\" must be a content id");
		goto bad;
	}
	snprintf(target, targetlen, "%s %s%s", level, all ? "all" : zone[0] ? "zone " : "node ",
		 all ? "" : zone[0] ? zone : node);
	if (ctl_auth_check_target(&c->db, who, zone, node, all, level, err, sizeof(err)) < 0) {
		*status = 403;
		goto bad;
	}
	if (!!device[0] + !!content[0] != 1) {
		snprintf(err, sizeof(err), "name exactly one source: \"device\" (ALSA capture) "
			 "or \"content\" (stored content, e.g. from `loaxa live --file`)");
		goto bad;
	}
	s = &c->live->s[strcmp(level, "relay") == 0 ? 1 : 0];
	if (s->active) {
		*status = 409;
		*reply = err_json("a %s session (%s, to %s) is already running: stop it first "
				  "(loaxa live stop)", level, s->id, s->target);
		json_decref(o);
		return;
	}
	memset(s, 0, sizeof(*s));
	s->tfd = -1;
	s->level = strcmp(level, "relay") == 0 ? LEVEL_RELAY : LEVEL_LIVE;
	s->latency_ms = (unsigned)latency;
	/* a frame waits up to (batch - 1) x 20 ms before it is sent: a quarter of the latency */
	s->batch = (unsigned)(latency / 80);
	if (s->batch < 1)
		s->batch = 1;
	if (s->batch > MAX_BATCH)
		s->batch = MAX_BATCH;
	s->until_ms = until;
	randombytes_buf(&s->session, sizeof(s->session));
	snprintf(s->id, sizeof(s->id), "l-%08" PRIx32, s->session);
	if (node[0]) {
		snprintf(s->topic, sizeof(s->topic), "%s/node/%s/live", c->mqtt.root, node);
		snprintf(s->target, sizeof(s->target), "node %s", node);
	} else {
		const char *z = all ? "all" : zone;

		snprintf(s->topic, sizeof(s->topic), "%s/zone/%s/live", c->mqtt.root, z);
		snprintf(s->target, sizeof(s->target), "%s%s", strcmp(z, "all") ? "zone " : "", z);
	}
	s->enc = opus_encoder_create(48000, 1, s->level == LEVEL_RELAY ? OPUS_APPLICATION_AUDIO :
				     OPUS_APPLICATION_VOIP, &oerr);
	if (!s->enc) {
		*status = 500;
		*reply = err_json("cannot create the Opus encoder: %s", opus_strerror(oerr));
		json_decref(o);
		return;
	}
	/* speech at the import's speech rate (VOICE: no overshoot, see DESIGN.md); FEC on */
	opus_encoder_ctl(s->enc, OPUS_SET_BITRATE((s->level == LEVEL_RELAY ?
						   c->cfg.import.music_kbps :
						   c->cfg.import.speech_kbps) * 1000));
	opus_encoder_ctl(s->enc, OPUS_SET_SIGNAL(s->level == LEVEL_RELAY ? OPUS_SIGNAL_MUSIC :
						 OPUS_SIGNAL_VOICE));
	opus_encoder_ctl(s->enc, OPUS_SET_INBAND_FEC(1));
	opus_encoder_ctl(s->enc, OPUS_SET_PACKET_LOSS_PERC(10));
	opus_encoder_ctl(s->enc, OPUS_SET_COMPLEXITY(8));
	if (content[0]) {
		rc = ctl_db_content_get(&c->db, content, &row);
		if (rc < 0) {
			*status = rc == -ENOENT ? 404 : 500;
			*reply = err_json("no content %s on this controller", content);
			goto fail;
		}
		ctl_content_path(c, content, path, sizeof(path));
		if (decoder_open(&s->dec, path, 24.0 * 3600, err, sizeof(err)) < 0) {
			*status = 500;
			*reply = err_json("cannot decode %s: %s", content, err);
			goto fail;
		}
		s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (s->tfd < 0) {
			*status = 500;
			*reply = err_json("cannot create a timer: %s", strerror(errno));
			goto fail;
		}
		{
			struct itimerspec its = { .it_interval = { 0, FRAME_US * 1000 },
						  .it_value = { 0, FRAME_US * 1000 } };

			timerfd_settime(s->tfd, 0, &its, NULL);
		}
		s->kind = SRC_FILE;
		snprintf(s->source, sizeof(s->source), "content %.12s \"%s\"", content, row.title);
	} else {
		if (alsa_open(s, device, err, sizeof(err)) < 0) {
			*status = 422;
			*reply = err_json("%s", err);
			goto fail;
		}
		s->kind = SRC_ALSA;
		snprintf(s->source, sizeof(s->source), "capture device %s", device);
	}
	s->active = 1;
	s->started_ms = now_ms();
	s->t_base_us = real_us();
	s->mono_base_us = mono_now_us();
	log_info("%s session %s to %s from %s: latency %u ms, %u frames per message, %s",
		 level_name(s->level), s->id, s->target, s->source, s->latency_ms, s->batch,
		 c->live->connected ? "sending" : "not connected to the broker yet");
	if (s->kind == SRC_FILE)
		file_pump(c, s);
	*status = 201;
	*reply = session_json(s);
	json_decref(o);
	return;
bad_target:
	snprintf(err, sizeof(err), "name exactly one target: \"zone\", \"node\" or \"all\": true");
bad:
	*reply = err_json("%s", err);
	json_decref(o);
	return;
fail:
	s->active = 1; /* so that session_end frees what was made */
	session_end(c, s, "could not start");
	json_decref(o);
}

void ctl_live_api(struct ctl *c, const struct ctl_principal *who, const char *method,
		  const char *url, const char *body, size_t len, unsigned *status,
		  json_t **reply, char *target, size_t targetlen)
{
	int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	json_t *arr;
	int i;

	*reply = NULL;
	if (strcmp(url, "/v1/live") == 0 && post) {
		api_start(c, who, body, len, status, reply, target, targetlen);
	} else if (strcmp(url, "/v1/live") == 0 && get) {
		arr = json_array();
		for (i = 0; i < 2; i++)
			if (c->live->s[i].active)
				json_array_append_new(arr, session_json(&c->live->s[i]));
		*status = 200;
		*reply = json_pack("{s:o}", "sessions", arr);
	} else if (strcmp(url, "/v1/live/stop") == 0 && post) {
		char id[32] = "", err[200];
		json_t *o = len ? ctl_json_object(body, len, err, sizeof(err)) : NULL, *done;

		if (len && (!o || ctl_json_str(o, "live", CTL_OPTIONAL, id, sizeof(id), err,
					       sizeof(err)) < 0)) {
			*status = 400;
			*reply = err_json("%s", err);
			json_decref(o);
			return;
		}
		json_decref(o);
		snprintf(target, targetlen, "live stop %s", id[0] ? id : "all");
		done = json_array();
		for (i = 0; i < 2; i++) {
			struct session *s = &c->live->s[i];

			if (!s->active || (id[0] && strcmp(id, s->id) != 0))
				continue;
			json_array_append_new(done, session_json(s));
			session_end(c, s, "stopped by the operator");
		}
		*status = 200;
		*reply = json_pack("{s:o}", "stopped", done);
	} else {
		*status = 404;
		*reply = err_json("no such endpoint: POST /v1/live, GET /v1/live, POST "
				  "/v1/live/stop");
	}
}

/* ------------------------------------------------------------ loop */

int ctl_live_pollfds(struct ctl *c, struct pollfd *pfds, int max)
{
	struct ctl_live *L = c->live;
	int n = 0, i, sock;

	if (!L || !L->m)
		return 0;
	L->pfd_count = 0;
	sock = mosquitto_socket(L->m);
	if (sock >= 0 && n < max) {
		pfds[n].fd = sock;
		pfds[n].events = POLLIN | (mosquitto_want_write(L->m) ? POLLOUT : 0);
		pfds[n].revents = 0;
		n++;
	} else if (n < max) {
		pfds[n].fd = -1; /* keeps the indexes fixed */
		pfds[n].events = 0;
		pfds[n].revents = 0;
		n++;
	}
	for (i = 0; i < 2; i++) {
		struct session *s = &L->s[i];

		if (!s->active)
			continue;
		if (s->kind == SRC_FILE && n < max) {
			pfds[n].fd = s->tfd;
			pfds[n].events = POLLIN;
			pfds[n].revents = 0;
			n++;
		} else if (s->kind == SRC_ALSA && n + s->npfds <= max) {
			int got = snd_pcm_poll_descriptors(s->cap, pfds + n, (unsigned)s->npfds);

			n += got > 0 ? got : 0;
		}
	}
	L->pfd_count = n;
	return n;
}

void ctl_live_handle(struct ctl *c, const struct pollfd *pfds, int n)
{
	struct ctl_live *L = c->live;
	int k = 1, i;

	if (!L->m || n <= 0)
		return;
	if (pfds[0].fd >= 0) {
		if (pfds[0].revents & (POLLIN | POLLHUP | POLLERR))
			mosquitto_loop_read(L->m, 1);
		if (pfds[0].revents & POLLOUT)
			mosquitto_loop_write(L->m, 1);
	}
	for (i = 0; i < 2 && k < n; i++) {
		struct session *s = &L->s[i];

		if (!s->active)
			continue;
		if (s->kind == SRC_FILE) {
			if (pfds[k].revents & POLLIN) {
				uint64_t exp;

				if (read(s->tfd, &exp, sizeof(exp)) < 0)
					(void)0; /* EAGAIN: nothing expired */
				file_pump(c, s);
			}
			k++;
		} else {
			unsigned short rev = 0;
			int cnt = s->npfds;

			snd_pcm_poll_descriptors_revents(s->cap, (struct pollfd *)(pfds + k),
							 (unsigned)cnt, &rev);
			if (rev & (POLLIN | POLLERR))
				alsa_pump(c, s);
			k += cnt;
		}
	}
}

void ctl_live_tick(struct ctl *c)
{
	struct ctl_live *L = c->live;
	int i;

	if (!L->m)
		return;
	if (!L->connected && L->retry_mono && mono_ms() >= L->retry_mono) {
		if (mosquitto_socket(L->m) >= 0)
			mosquitto_reconnect_async(L->m);
		else
			attempt_connect(c);
		L->retry_mono = mono_ms() + 2000;
	}
	mosquitto_loop_misc(L->m);
	for (i = 0; i < 2; i++) {
		struct session *s = &L->s[i];

		if (s->active && s->until_ms && now_ms() >= s->until_ms)
			session_end(c, s, "its end time came");
	}
}

int ctl_live_init(struct ctl *c)
{
	c->live = calloc(1, sizeof(*c->live));
	if (!c->live)
		return -ENOMEM;
	c->live->s[0].tfd = c->live->s[1].tfd = -1;
	return 0;
}

void ctl_live_free(struct ctl *c)
{
	struct ctl_live *L = c->live;
	int i;

	if (!L)
		return;
	for (i = 0; i < 2; i++)
		session_end(c, &L->s[i], "the controller stops");
	if (L->m) {
		if (mosquitto_socket(L->m) >= 0) {
			mosquitto_disconnect(L->m);
			mosquitto_loop_write(L->m, 1);
		}
		mosquitto_destroy(L->m);
	}
	free(L);
	c->live = NULL;
}
