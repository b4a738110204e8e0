/*
 * live.c - see live.h.
 */
#include "live.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <alsa/asoundlib.h>
#include <opus.h>
#include <sodium.h>

#include "auth.h"
#include "capdev.h"
#include "ctl.h"
#include "ctlutil.h"
#include "decodeworker.h"
#include "envelope.h"
#include "livebody.h"
#include "hours.h"
#include "log.h"
#include "mqconn.h"
#include "util.h"
#include "topic.h"

#define FRAME 960                 /* 20 ms at 48 kHz */
#define FRAME_US 20000
#define MAX_BATCH 12
#define LEVEL_RELAY 0
#define LEVEL_LIVE 3
#define LEVEL_EMERGENCY 4
#define BODY_CAP (LIVE_HEADER_LEN + 1 + LIVE_TO_MAX + MAX_BATCH * (2 + LIVE_MAX_FRAME_BYTES))

enum src_kind { SRC_FILE = 1, SRC_ALSA, SRC_URL };


struct session {
	int active;
	char id[16];
	uint32_t session;
	uint8_t level;
	unsigned latency_ms;
	unsigned batch;           /* frames per message */
	char (*topics)[TOPIC_MAX]; /* where each batch goes (a relay: one per node) */
	size_t ntopics;
	char target[64];
	char occurrence[80];      /* a relay started from the schedule: its occurrence */
	char source[300];         /* for the log and the API */
	enum src_kind kind;
	int64_t started_ms;
	int64_t until_ms;         /* relay: end at this time; 0 = none */
	int64_t t_base_us;        /* capture time of frame 0 */
	int64_t mono_base_us;     /* CLOCK_MONOTONIC at frame 0 (file pacing) */
	uint32_t seq;             /* next frame */
	OpusEncoder *enc;
	/* file and url: the decode worker (decodeworker.h) writes s16 mono
	 * 48 kHz into a pipe, paced by its back-pressure and our 20 ms timer */
	int tfd;
	pid_t child;
	int upipe;
	/* alsa */
	snd_pcm_t *cap;
	int npfds;
	int16_t spcm[FRAME];
	size_t sfill;
	int regrid;               /* an overrun lost frames: place the next one anew */
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
	uint64_t pending_payload;     /* Opus bytes of the batch being filled */
	uint64_t payload_bytes_sent;  /* Opus bytes times the topics they went to */
};

struct ctl_live {
	struct mqconn conn;       /* "<site>-controller-live" (common/mqconn.h) */
	struct session s[2];      /* [0] live, [1] relay */
	char stopped_occ[80];     /* a relay of the schedule the operator stopped */
	int pfd_base;             /* where our fds sit in this round */
	int pfd_count;
};

static int64_t real_us(void)
{
	return now_us();
}

static int64_t mono_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *level_name(uint8_t l)
{
	return l == LEVEL_RELAY ? "relay" : l == LEVEL_LIVE ? "live" : "emergency";
}

/* ------------------------------------------------------------ MQTT */

int ctl_live_start(struct ctl *c)
{
	struct ctl_live *L = c->live;
	char id[80], hint[96];
	struct mqconn_opts o = {
		.name = "live",
		.client_id = id,
		.cfg = &c->cfg.mqtt,
		.nodelay = 1, /* a live frame must leave now: no Nagle */
		.dup_hint = hint,
		.stopping = &c->stopping,
	};

	snprintf(id, sizeof(id), "%s-controller-live", c->cfg.site);
	snprintf(hint, sizeof(hint), "a second controller for site %s", c->cfg.site);
	mqconn_init(&L->conn, &o);
	return mqconn_start(&L->conn, NULL);
}

int ctl_live_register(struct loop *l, struct ctl *c)
{
	return mqconn_register(l, &c->live->conn);
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
	if (s->nb == 0) {
		/* the end must be said but every frame is out: send the last one again
		 * with the flag (nodes count it as a duplicate, and know the end) */
		memcpy(s->pkt[0], s->last_pkt, s->last_len);
		s->plen[0] = s->last_len;
		s->batch_seq = s->last_seq;
		s->batch_t0 = s->last_t0;
		s->nb = 1;
		s->pending_payload += s->last_len; /* it goes over the wire again */
	}
	b = (struct live_batch){
		.flags = last ? LIVE_FLAG_LAST : 0, .level = s->level, .nframes = s->nb,
		.session = s->session, .seq = s->batch_seq, .t0_us = s->batch_t0,
		.frame_ms = 20, .latency_ms = (uint16_t)s->latency_ms,
	};
	for (i = 0; i < s->nb; i++) {
		b.frame[i] = s->pkt[i];
		b.len[i] = s->plen[i];
	}
	s->nb = 0;
	/*
	 * One envelope per topic: each body names its destination, so a broker
	 * cannot move a batch from one zone's (or node's) topic to another's. A
	 * relay to n nodes costs n signatures per batch (~50 us each).
	 */
	for (i = 0; i < s->ntopics; i++) {
		const char *topic = s->topics[i], *to = ctl_topic_below(c->mqtt.root, topic);

		if (!mqconn_connected(&c->live->conn) || !to) {
			s->errors++; /* QoS 0: a frame not sent now is worthless later */
			continue;
		}
		snprintf(b.to, sizeof(b.to), "%s", to);
		len = live_body_write(&b, body, sizeof(body));
		if (len < 0) {
			s->errors++;
			continue;
		}
		if (ctl_db_next_seq(&c->db, ENV_LIVE, ctl_now_us(), &seq) < 0) {
			s->errors++;
			continue;
		}
		/* worthless once played: void a little after its last frame's turn */
		rc = envelope_seal(&c->signer, ENV_LIVE, 0, seq, now,
				   now + (int64_t)s->latency_ms + 5000, body, (size_t)len, &env,
				   &envlen);
		if (rc < 0) {
			s->errors++;
			continue;
		}
		rc = mqconn_publish(&c->live->conn, topic, env, envlen, 0, 0, NULL);
		free(env);
		env = NULL;
		if (rc < 0) {
			s->errors++;
			continue;
		}
		s->messages++;
		/* MQTT PUBLISH: fixed header (1 + 2..3 length bytes), topic (2 + n) */
		s->wire_bytes += envlen + 2 + strlen(topic) + 1 +
				 (envlen + 2 + strlen(topic) > 16383 ? 2 : 1);
	}
	if (s->ntopics)
		s->payload_bytes_sent += s->pending_payload * s->ntopics;
	s->pending_payload = 0;
	mqconn_write(&c->live->conn); /* now, not at the next wake-up */
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
		/* this frame is left out: a batch holds consecutive frames */
		flush_batch(c, s, 0);
	}
	if (n > 0) {
		memcpy(s->last_pkt, s->pkt[s->nb], (size_t)n);
		s->last_len = (uint16_t)n;
		s->last_seq = s->seq;
		s->last_t0 = t_us;
		s->plen[s->nb++] = (uint16_t)n;
		s->payload_bytes += (uint64_t)n;
		s->pending_payload += (uint64_t)n;
	}
	s->frames++;
	s->seq++;
	if (s->nb >= s->batch)
		flush_batch(c, s, 0);
}

/* ------------------------------------------------------------ sources */

static void session_end(struct ctl *c, struct session *s, const char *why);

/*
 * Where the frame just read from the capture device sits on the session's
 * 20 ms grid (t_base + seq * 20 ms). Its capture time is now - (what the
 * device still holds + this frame) / rate. The first frame anchors the grid.
 * After an overrun the device has dropped what came in meanwhile: skipping
 * those frames' numbers keeps every later frame at its true capture time
 * (nodes conceal the gap); numbering on would have them played early by the
 * length of the gap, and after a few such gaps too late to be played at all.
 */
static void place_frame(struct ctl *c, struct session *s)
{
	snd_pcm_sframes_t delay = 0;
	int64_t t, seq;

	if (snd_pcm_delay(s->cap, &delay) < 0 || delay < 0)
		delay = 0;
	t = real_us() - (int64_t)(delay + FRAME) * 1000000 / 48000;
	s->regrid = 0;
	if (s->frames == 0) {
		s->t_base_us = t;
		return;
	}
	seq = (t - s->t_base_us + FRAME_US / 2) / FRAME_US;
	if (seq <= (int64_t)s->seq)
		return;
	flush_batch(c, s, 0); /* a batch holds consecutive frames */
	log_warnx("live %s: %" PRId64 " frames (%" PRId64 " ms) lost to the overrun", s->id,
		  seq - (int64_t)s->seq, (seq - (int64_t)s->seq) * FRAME_US / 1000);
	s->seq = (uint32_t)seq;
}

/* The capture source: read what the device has, a 20 ms frame at a time. */
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
			/* the part of a frame read before the gap does not go with what follows */
			s->sfill = 0;
			s->regrid = 1;
			snd_pcm_start(s->cap);
			continue;
		}
		if (got == 0)
			return;
		s->sfill += (size_t)got;
		if (s->sfill == FRAME) {
			if (s->frames == 0 || s->regrid)
				place_frame(c, s);
			encode_frame(c, s, NULL, s->spcm, s->t_base_us + (int64_t)s->seq * FRAME_US);
			s->sfill = 0;
		}
	}
}

static int alsa_open(struct session *s, const char *device, char *why, size_t whylen)
{
	return capdev_open(&s->cap, &s->npfds, device, why, whylen);
}

/* ------------------------------------------------------------ sessions */

static void session_end(struct ctl *c, struct session *s, const char *why)
{
	double ratio = s->payload_bytes_sent ? (double)s->wire_bytes /
		       (double)s->payload_bytes_sent : 0;

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
	if (s->tfd >= 0)
		close(s->tfd);
	s->tfd = -1;
	if (s->cap)
		snd_pcm_close(s->cap);
	s->cap = NULL;
	if (s->upipe >= 0)
		close(s->upipe); /* the worker's next write fails: it exits */
	s->upipe = -1;
	if (s->child > 0) {
		kill(s->child, SIGTERM);
		waitpid(s->child, NULL, 0);
	}
	s->child = 0;
	free(s->topics);
	s->topics = NULL;
	s->ntopics = 0;
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
			 "wire_ratio", s->payload_bytes_sent ? (double)s->wire_bytes /
			 (double)s->payload_bytes_sent : 0.0, "errors", (json_int_t)s->errors);
}

/* What a session is made from (the API's request, or a relay of the schedule). */
struct begin_args {
	uint8_t level;
	int64_t latency_ms;
	int64_t until_ms;
	const char *device;        /* one source: ALSA capture, */
	const char *content;       /* stored content, */
	const char *url;           /* or a network stream */
	char (*topics)[TOPIC_MAX];
	size_t ntopics;
	const char *target;        /* for the log and the API */
	const char *occurrence;    /* a relay of the schedule, or NULL */
};

static void setup_encoder(struct ctl *c, struct session *s)
{
	/* speech at the import's speech rate (VOICE: no overshoot, see DESIGN.md), a
	 * relayed program at the music rate; FEC on, tuned for 10% loss */
	opus_encoder_ctl(s->enc, OPUS_SET_BITRATE((s->level == LEVEL_RELAY ?
						   c->cfg.import.music_kbps :
						   c->cfg.import.speech_kbps) * 1000));
	opus_encoder_ctl(s->enc, OPUS_SET_SIGNAL(s->level == LEVEL_RELAY ? OPUS_SIGNAL_MUSIC :
						 OPUS_SIGNAL_VOICE));
	opus_encoder_ctl(s->enc, OPUS_SET_INBAND_FEC(1));
	opus_encoder_ctl(s->enc, OPUS_SET_PACKET_LOSS_PERC(10));
	opus_encoder_ctl(s->enc, OPUS_SET_COMPLEXITY(8));
}

static int start_timer(struct session *s, char *err, size_t errlen)
{
	struct itimerspec its = { .it_interval = { 0, FRAME_US * 1000 },
				  .it_value = { 0, FRAME_US * 1000 } };

	s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->tfd < 0 || timerfd_settime(s->tfd, 0, &its, NULL) < 0) {
		snprintf(err, errlen, "cannot create a timer: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/*
 * A file or url source: the decode worker (`loaxa-encode --worker pcm` on
 * the content file's descriptor, or `--worker url URL`) writes s16 mono
 * 48 kHz into a pipe; nothing of the media is parsed in this process.
 * in_fd: the opened file, or -1 for url.
 */
static int worker_open(struct ctl *c, struct session *s, int in_fd, const char *url,
		       char *err, size_t errlen)
{
	char *argv[8];
	int pfd[2], fds[3], k = 0, rc;
	pid_t pid;

	if (url && strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		snprintf(err, errlen, "a relayed stream must be an http:// or https:// URL");
		return -EINVAL;
	}
	if (!c->worker_path[0] &&
	    (rc = ctl_worker_path(c->worker_path, sizeof(c->worker_path), err, errlen)) < 0)
		return rc;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "cannot make a pipe: %s", strerror(errno));
		return -errno;
	}
	argv[k++] = NULL;
	argv[k++] = (char *)"--worker";
	if (url) {
		argv[k++] = (char *)"url";
		argv[k++] = (char *)url;
		if (c->cfg.relay.ca_file[0]) {
			argv[k++] = (char *)"--ca-file";
			argv[k++] = c->cfg.relay.ca_file;
		}
	} else {
		argv[k++] = (char *)"pcm";
	}
	argv[k] = NULL;
	/* url: no input; fd 0 is the pipe's read end as a placeholder, which the
	 * worker closes at once (encode/worker.c) */
	fds[0] = in_fd >= 0 ? in_fd : pfd[0];
	fds[1] = pfd[1];
	fds[2] = STDERR_FILENO;
	pid = ctl_worker_spawn(c->worker_path, argv, fds, 3);
	close(pfd[1]);
	if (pid < 0) {
		snprintf(err, errlen, "cannot start the decode worker: %s", strerror((int)-pid));
		close(pfd[0]);
		return -EAGAIN;
	}
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	s->child = pid;
	s->upipe = pfd[0];
	return 0;
}

/*
 * A file or url source: every due frame is read from the worker's pipe. A
 * stream that cannot keep up leaves a frame out (the nodes conceal it); its
 * end or its worker's failure ends the session. The clock starts with the
 * first sample: the worker takes a moment to start (exec, the stream's
 * connection), and that moment is no loss.
 */
static void worker_pump(struct ctl *c, struct session *s)
{
	int64_t due = (mono_now_us() - s->mono_base_us) / FRAME_US + 1;
	const char *end = s->kind == SRC_FILE ? "end of the file" : "the stream ended";

	while (s->active && (int64_t)s->seq < due) {
		ssize_t r = read(s->upipe, (uint8_t *)s->spcm + s->sfill * 2,
				 (FRAME - s->sfill) * sizeof(int16_t));

		if (r == 0) {
			if (s->sfill > 0) { /* the end: pad the last frame with silence */
				memset(s->spcm + s->sfill, 0, (FRAME - s->sfill) * sizeof(int16_t));
				encode_frame(c, s, NULL, s->spcm,
					     s->t_base_us + (int64_t)s->seq * FRAME_US);
				s->sfill = 0;
			}
			session_end(c, s, s->frames ? end : "the decode worker delivered nothing "
				    "(see its message in the log)");
			return;
		}
		if (r < 0 && errno != EAGAIN && errno != EINTR) {
			session_end(c, s, "the decode worker failed");
			return;
		}
		if (r < 0 && s->seq == 0 && s->sfill == 0) {
			/* not started yet: the session starts with its first sample */
			s->mono_base_us = mono_now_us();
			s->t_base_us = real_us();
			s->started_ms = now_ms();
			return;
		}
		if (r > 0)
			s->sfill += (size_t)r / sizeof(int16_t); /* the worker writes whole samples */
		if (s->sfill == FRAME) {
			encode_frame(c, s, NULL, s->spcm, s->t_base_us + (int64_t)s->seq * FRAME_US);
			s->sfill = 0;
			continue;
		}
		if (r < 0) {
			/* nothing yet: if the frame is more than 100 ms overdue, skip it */
			if (due - (int64_t)s->seq > 5) {
				flush_batch(c, s, 0); /* a batch holds consecutive frames */
				s->seq++;
				s->errors++;
				continue;
			}
			return;
		}
	}
}

static int session_begin(struct ctl *c, struct session *s, const struct begin_args *a,
			 unsigned *status, char *err, size_t errlen)
{
	struct ctl_content_row row;
	char path[PATH_MAX + 80];
	int oerr = 0, rc, fd;
	size_t i;

	memset(s, 0, sizeof(*s));
	s->tfd = s->upipe = -1;
	s->level = a->level;
	s->latency_ms = (unsigned)a->latency_ms;
	/* a frame waits up to (batch - 1) x 20 ms before it is sent: a quarter of the latency */
	s->batch = (unsigned)(a->latency_ms / 80);
	if (s->batch < 1)
		s->batch = 1;
	if (s->batch > MAX_BATCH)
		s->batch = MAX_BATCH;
	s->until_ms = a->until_ms;
	randombytes_buf(&s->session, sizeof(s->session));
	snprintf(s->id, sizeof(s->id), "l-%08" PRIx32, s->session);
	snprintf(s->target, sizeof(s->target), "%s", a->target);
	if (a->occurrence)
		snprintf(s->occurrence, sizeof(s->occurrence), "%s", a->occurrence);
	s->topics = calloc(a->ntopics ? a->ntopics : 1, sizeof(*s->topics));
	if (!s->topics) {
		*status = 500;
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < a->ntopics; i++)
		memcpy(s->topics[i], a->topics[i], TOPIC_MAX);
	s->ntopics = a->ntopics;
	s->active = 1; /* from here on, session_end frees what was made */
	s->enc = opus_encoder_create(48000, 1, s->level == LEVEL_RELAY ? OPUS_APPLICATION_AUDIO :
				     OPUS_APPLICATION_VOIP, &oerr);
	if (!s->enc) {
		*status = 500;
		snprintf(err, errlen, "cannot create the Opus encoder: %s", opus_strerror(oerr));
		rc = -ENOMEM;
		goto fail;
	}
	setup_encoder(c, s);
	if (a->content) {
		rc = ctl_db_content_get(&c->db, a->content, &row);
		if (rc < 0) {
			*status = rc == -ENOENT ? 404 : 500;
			snprintf(err, errlen, "no content %s on this controller", a->content);
			goto fail;
		}
		ctl_content_path(c, a->content, path, sizeof(path));
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			rc = -errno;
			*status = 500;
			snprintf(err, errlen, "cannot read content %s: %s", a->content,
				 strerror(-rc));
			goto fail;
		}
		rc = worker_open(c, s, fd, NULL, err, errlen);
		close(fd);
		if (rc < 0) {
			*status = 500;
			goto fail;
		}
		rc = start_timer(s, err, errlen);
		if (rc < 0) {
			*status = 500;
			goto fail;
		}
		s->kind = SRC_FILE;
		snprintf(s->source, sizeof(s->source), "content %.12s \"%s\"", a->content,
			 row.title);
	} else if (a->url) {
		rc = worker_open(c, s, -1, a->url, err, errlen);
		if (rc == 0)
			rc = start_timer(s, err, errlen);
		if (rc < 0) {
			*status = rc == -EINVAL ? 400 : 500;
			goto fail;
		}
		s->kind = SRC_URL;
		snprintf(s->source, sizeof(s->source), "stream %s", a->url);
	} else {
		/* every capture source passes here: a->device is a name from the
		 * client, only controller.cfg's string for it reaches ALSA */
		const char *pcm = ctl_capture_pcm(&c->cfg, "device", a->device, err, errlen);

		if (!pcm) {
			*status = 400;
			rc = -EINVAL;
			goto fail;
		}
		rc = alsa_open(s, pcm, err, errlen);
		if (rc < 0) {
			*status = 422;
			goto fail;
		}
		s->kind = SRC_ALSA;
		snprintf(s->source, sizeof(s->source), "capture device %s", a->device);
	}
	s->started_ms = now_ms();
	s->t_base_us = real_us();
	s->mono_base_us = mono_now_us();
	log_info("%s session %s to %s from %s: latency %u ms, %u frames per message, %s",
		 level_name(s->level), s->id, s->target, s->source, s->latency_ms, s->batch,
		 mqconn_connected(&c->live->conn) ? "sending" : "not connected to the broker yet");
	return 0;
fail:
	session_end(c, s, "could not start");
	return rc < 0 ? rc : -EINVAL;
}

static void api_start(struct ctl *c, const struct ctl_principal *who, const char *body,
		      size_t len, unsigned *status, json_t **reply, char *target,
		      size_t targetlen)
{
	char err[300], zone[CTL_NAME_MAX] = "", node[CTL_NAME_MAX] = "", level[16] = "live";
	char device[256] = "", content[CONTENT_ID_LEN + 1] = "", url[512] = "";
	char topic[1][TOPIC_MAX], label[64];
	struct begin_args a;
	struct session *s;
	int64_t latency = CTL_LIVE_DEFAULT_LATENCY_MS, until = 0;
	int all = 0, nt = 0, x, confirmed = 0;
	json_t *o;

	*status = 400;
	o = ctl_json_object(body, len, err, sizeof(err));
	if (!o) {
		*reply = ctl_error_json("%s", err);
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
	if (ctl_json_str(o, "device", CTL_OPTIONAL, device, sizeof(device), err,
			 sizeof(err)) < 0 ||
	    ctl_json_str(o, "url", CTL_OPTIONAL, url, sizeof(url), err, sizeof(err)) < 0)
		goto bad;
	x = ctl_json_str(o, "content", CTL_OPTIONAL, content, sizeof(content), err, sizeof(err));
	if (x < 0 || (x == 0 && !content_id_valid(content))) {
		snprintf(err, sizeof(err), "field \"content\" must be a content id");
		goto bad;
	}
	/* no source: the default capture device, the first one in controller.cfg */
	if (!device[0] && !content[0] && !url[0] && c->cfg.capture.n)
		snprintf(device, sizeof(device), "%s", c->cfg.capture.dev[0].name);
	/* the audit log keeps which capture device was asked for, refused or not */
	snprintf(target, targetlen, "%s %s%s%s%s", level, all ? "all" : zone[0] ? "zone " : "node ",
		 all ? "" : zone[0] ? zone : node, device[0] ? " device " : "", device);
	if (ctl_auth_check_target(&c->db, who, zone, node, all, level, err, sizeof(err)) < 0) {
		*status = 403;
		goto bad;
	}
	/* a live session or relay sounds now: the allowed hours count now */
	if (ctl_json_bool(o, "outside_hours", CTL_OPTIONAL, &confirmed, err, sizeof(err)) < 0)
		goto bad;
	x = ctl_hours_gate(c, who, level, zone, node, all, now_ms(), now_ms(), confirmed,
			   target, err, sizeof(err));
	if (x < 0) {
		*status = x == -ERANGE ? 409 : 500;
		goto bad;
	}
	if (confirmed)
		snprintf(target + strlen(target), targetlen - strlen(target), " (--outside-hours)");
	if (!!device[0] + !!content[0] + !!url[0] != 1) {
		snprintf(err, sizeof(err), "name exactly one source: \"device\" (ALSA capture), "
			 "\"url\" (a network stream) or \"content\" (stored content, e.g. from "
			 "`loaxa live --file`)");
		goto bad;
	}
	if (device[0] && !ctl_capture_pcm(&c->cfg, "device", device, err, sizeof(err)))
		goto bad;
	s = &c->live->s[strcmp(level, "relay") == 0 ? 1 : 0];
	if (s->active) {
		*status = 409;
		*reply = ctl_error_json("a %s session (%s, to %s) is already running: stop it first "
				  "(loaxa live stop)", level, s->id, s->target);
		json_decref(o);
		return;
	}
	if (node[0]) {
		topic_node(topic[0], TOPIC_MAX, c->mqtt.root, node, LEAF_LIVE);
		snprintf(label, sizeof(label), "node %s", node);
	} else {
		const char *z = all ? "all" : zone;

		topic_zone(topic[0], TOPIC_MAX, c->mqtt.root, z, LEAF_LIVE);
		snprintf(label, sizeof(label), "%s%s", strcmp(z, "all") ? "zone " : "", z);
	}
	memset(&a, 0, sizeof(a));
	a.level = strcmp(level, "relay") == 0 ? LEVEL_RELAY : LEVEL_LIVE;
	a.latency_ms = latency;
	a.until_ms = until;
	a.device = device[0] ? device : NULL;
	a.content = content[0] ? content : NULL;
	a.url = url[0] ? url : NULL;
	a.topics = topic;
	a.ntopics = 1;
	a.target = label;
	if (session_begin(c, s, &a, status, err, sizeof(err)) < 0) {
		*reply = ctl_error_json("%s", err);
		json_decref(o);
		return;
	}
	*status = 201;
	*reply = session_json(s);
	json_decref(o);
	return;
bad_target:
	snprintf(err, sizeof(err), "name exactly one target: \"zone\", \"node\" or \"all\": true");
bad:
	*reply = ctl_error_json("%s", err);
	json_decref(o);
}

int ctl_live_relay_start(struct ctl *c, const char *source, char (*nodes)[CTL_NAME_MAX],
			 size_t n, int64_t until_ms, const char *occurrence, char *err,
			 size_t errlen)
{
	struct session *s = &c->live->s[1];
	struct begin_args a;
	unsigned status = 0;
	char label[64];
	size_t i;
	int rc;

	if (s->active) {
		snprintf(err, errlen, "relay session %s (%s) is running", s->id, s->source);
		return -EBUSY;
	}
	memset(&a, 0, sizeof(a));
	a.topics = calloc(n ? n : 1, sizeof(*a.topics));
	if (!a.topics) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		topic_node(a.topics[i], TOPIC_MAX, c->mqtt.root, nodes[i], LEAF_LIVE);
	a.ntopics = n;
	a.level = LEVEL_RELAY;
	a.latency_ms = CTL_LIVE_DEFAULT_LATENCY_MS;
	a.until_ms = until_ms;
	if (strncmp(source, "alsa:", 5) == 0)
		a.device = source + 5;
	else if (strncmp(source, "url:", 4) == 0)
		a.url = source + 4;
	snprintf(label, sizeof(label), "%zu node%s of the schedule", n, n == 1 ? "" : "s");
	a.target = label;
	a.occurrence = occurrence;
	if (!a.device && !a.url) {
		snprintf(err, errlen, "source \"%s\" is neither alsa:DEVICE nor url:URL", source);
		rc = -EINVAL;
	} else if (a.device && !ctl_capture_pcm(&c->cfg, "source", a.device, err, errlen)) {
		/* a schedule stored before capture devices were named, or whose
		 * device was since removed from controller.cfg */
		rc = -EINVAL;
	} else {
		rc = session_begin(c, s, &a, &status, err, errlen);
	}
	free(a.topics);
	return rc;
}

int ctl_live_emergency_start(struct ctl *c, const char *topic, const char *device,
			     const char *content, int64_t latency_ms, int64_t until_ms, char *err,
			     size_t errlen)
{
	struct session *s = &c->live->s[0];
	char topics[1][TOPIC_MAX];
	struct begin_args a;
	unsigned status = 0;

	if (s->active)
		session_end(c, s, "an emergency takes over");
	snprintf(topics[0], TOPIC_MAX, "%s", topic);
	memset(&a, 0, sizeof(a));
	a.level = LEVEL_EMERGENCY;
	a.latency_ms = latency_ms;
	a.until_ms = until_ms;
	a.device = device;
	a.content = content;
	a.topics = topics;
	a.ntopics = 1;
	a.target = topic;
	return session_begin(c, s, &a, &status, err, errlen);
}

/*
 * May who stop s? Every topic it sends to must lie within who's zones: the
 * session itself knows where it speaks, so no second record can drift.
 * 0, or -EPERM with err naming the zones.
 */
static int session_in_scope(struct ctl *c, const struct ctl_principal *who,
			    const struct session *s, char *err, size_t errlen)
{
	char kind[8], name[CTL_NAME_MAX];
	size_t i;
	int rc;

	if (!who || who->all_zones)
		return 0;
	for (i = 0; i < s->ntopics; i++) {
		if (ctl_auth_topic_target(c->mqtt.root, s->topics[i], kind, sizeof(kind), name,
					  sizeof(name)) < 0) {
			snprintf(err, errlen, "%s may not stop %s session %s: it sends to %s, "
				 "outside any zone", who->user, level_name(s->level), s->id,
				 s->topics[i]);
			return -EPERM;
		}
		rc = ctl_auth_check_stored(&c->db, who, kind, name, err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int ctl_live_emergency_stop(struct ctl *c, const struct ctl_principal *who)
{
	struct session *s = &c->live->s[0];
	char err[256];

	if (!s->active || s->level != LEVEL_EMERGENCY)
		return 0;
	if (session_in_scope(c, who, s, err, sizeof(err)) < 0)
		return -EPERM;
	session_end(c, s, "the emergency was stopped");
	return 1;
}

void ctl_live_relay_stop(struct ctl *c, const char *why)
{
	session_end(c, &c->live->s[1], why);
}

int ctl_live_relay_stopped(const struct ctl *c, const char *occurrence)
{
	return strcmp(c->live->stopped_occ, occurrence) == 0;
}

const char *ctl_live_relay_occurrence(const struct ctl *c)
{
	const struct session *s = &c->live->s[1];

	return s->active ? s->occurrence : NULL;
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
		json_t *o = len ? ctl_json_object(body, len, err, sizeof(err)) : NULL, *done,
		       *skipped;

		if (len && (!o || ctl_json_str(o, "live", CTL_OPTIONAL, id, sizeof(id), err,
					       sizeof(err)) < 0)) {
			*status = 400;
			*reply = ctl_error_json("%s", err);
			json_decref(o);
			return;
		}
		json_decref(o);
		snprintf(target, targetlen, "live stop %s", id[0] ? id : "all");
		/*
		 * A named session outside the operator's zones is refused. A stop
		 * without a name from a scoped operator stops what is theirs and
		 * leaves the rest, listed under "not_stopped": an official of
		 * thon-1 pressing "stop" means "stop what sounds in my village",
		 * and refusing the whole stop because thon-2 also has a session
		 * would keep thon-1's loudspeakers talking while they retry.
		 */
		if (id[0]) {
			for (i = 0; i < 2; i++) {
				struct session *s = &c->live->s[i];

				if (s->active && strcmp(id, s->id) == 0 &&
				    session_in_scope(c, who, s, err, sizeof(err)) < 0) {
					*status = 403;
					*reply = ctl_error_json("%s", err);
					return;
				}
			}
		}
		done = json_array();
		skipped = json_array();
		for (i = 0; i < 2; i++) {
			struct session *s = &c->live->s[i];

			if (!s->active || (id[0] && strcmp(id, s->id) != 0))
				continue;
			if (session_in_scope(c, who, s, err, sizeof(err)) < 0) {
				json_array_append_new(skipped, json_pack("{s:s, s:s, s:s}",
									 "live", s->id, "target",
									 s->target, "reason", err));
				continue;
			}
			json_array_append_new(done, session_json(s));
			if (s->occurrence[0]) /* not restarted by the schedule */
				snprintf(c->live->stopped_occ, sizeof(c->live->stopped_occ), "%s",
					 s->occurrence);
			session_end(c, s, "stopped by the operator");
		}
		*status = 200;
		*reply = json_pack("{s:o}", "stopped", done);
		if (json_array_size(skipped))
			json_object_set(*reply, "not_stopped", skipped);
		json_decref(skipped);
	} else {
		*status = 404;
		*reply = ctl_error_json("no such endpoint: POST /v1/live, GET /v1/live, POST "
				  "/v1/live/stop");
	}
}

/* ------------------------------------------------------------ loop */

int ctl_live_pollfds(struct ctl *c, struct pollfd *pfds, int max)
{
	struct ctl_live *L = c->live;
	int n = 0, i;

	if (!L)
		return 0;
	L->pfd_count = 0;
	for (i = 0; i < 2; i++) {
		struct session *s = &L->s[i];

		if (!s->active)
			continue;
		if ((s->kind == SRC_FILE || s->kind == SRC_URL) && n < max) {
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
	int k = 0, i;

	if (!L || n <= 0)
		return;
	for (i = 0; i < 2 && k < n; i++) {
		struct session *s = &L->s[i];

		if (!s->active)
			continue;
		if (s->kind == SRC_FILE || s->kind == SRC_URL) {
			if (pfds[k].revents & POLLIN) {
				uint64_t exp;

				if (read(s->tfd, &exp, sizeof(exp)) < 0)
					(void)0; /* EAGAIN: nothing expired */
				worker_pump(c, s);
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

	if (!L)
		return;
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
	c->live->s[0].upipe = c->live->s[1].upipe = -1;
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
	mqconn_stop(&L->conn); /* DISCONNECT if up, then destroy */
	free(L);
	c->live = NULL;
}
