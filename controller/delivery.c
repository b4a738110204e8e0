/*
 * delivery.c - see delivery.h.
 */
#include "delivery.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk.h"
#include "ctl.h"
#include "ctlutil.h"
#include "envelope.h"
#include "log.h"
#include "mqtt.h"
#include "ratelimit.h"
#include "util.h"
#include "topic.h"

/* Chunks sent per call of ctl_delivery_pump (see there). */
#define CTL_DELIVERY_BATCH 8

struct ctl_fetch_job {
	struct ctl_fetch_job *next;
	char node[32];
	char content[CONTENT_ID_LEN + 1];
	uint8_t hash[32];
	int fd;
	uint64_t total;
	uint32_t chunk_size;
	uint32_t chunk_count;
	uint32_t next_chunk;   /* next index to send */
	uint32_t end;          /* one past the last index to send */
};

int ctl_parse_fetch(const char *node, const void *payload, size_t len,
		    struct ctl_fetch_req *req, char *err, size_t errlen)
{
	json_t *o;
	char body_node[32], safe[32];
	int64_t v;
	int rc = -EINVAL;

	memset(req, 0, sizeof(*req));
	o = ctl_json_object(payload, len, err, errlen);
	if (!o)
		return -EINVAL;
	if (ctl_json_str(o, "node", CTL_REQUIRED, body_node, sizeof(body_node), err,
			 errlen) < 0)
		goto out;
	if (strcmp(body_node, node) != 0) {
		snprintf(err, errlen, "field \"node\" says \"%s\" but the topic is that of "
			 "node \"%s\"", ctl_printable(safe, sizeof(safe), body_node), node);
		goto out;
	}
	snprintf(req->node, sizeof(req->node), "%s", node);
	if (ctl_json_str(o, "content", CTL_REQUIRED, req->content, sizeof(req->content),
			 err, errlen) < 0 || !content_id_valid(req->content)) {
		snprintf(err, errlen, "field \"content\" must be a content id (64 lowercase "
			 "hex digits)");
		goto out;
	}
	if (ctl_json_int(o, "from", CTL_REQUIRED, 0, UINT32_MAX - 1, &v, err, errlen) < 0)
		goto out;
	req->from = (uint32_t)v;
	if (ctl_json_int(o, "count", CTL_REQUIRED, 1, 65536, &v, err, errlen) < 0)
		goto out;
	req->count = (uint32_t)v;
	rc = 0;
out:
	json_decref(o);
	return rc;
}

static void job_free(struct ctl_fetch_job *job)
{
	if (job->fd >= 0)
		close(job->fd);
	free(job);
}

/* Seal body as a content envelope and publish it to the node. */
static int send_content(struct ctl *c, const char *node, const uint8_t *body,
			size_t len)
{
	char topic[TOPIC_MAX];
	uint8_t *env = NULL;
	size_t envlen = 0;
	uint64_t seq;
	int64_t now = now_ms();
	int rc;

	rc = ctl_db_next_seq(&c->db, ENV_CONTENT, ctl_now_us(), &seq);
	if (rc < 0)
		return rc;
	rc = envelope_seal(&c->signer, ENV_CONTENT, 0, seq, now, now + CTL_CONTENT_TTL_MS,
			   body, len, &env, &envlen);
	if (rc < 0) {
		log_errorx("cannot seal a content message for node %s: %s", node,
			   strerror(-rc));
		return rc;
	}
	topic_node(topic, sizeof(topic), c->mqtt.root, node, LEAF_CONTENT);
	rc = ctl_mqtt_publish(c, CTL_CONN_BULK, topic, env, envlen, 1, 0);
	free(env);
	if (rc == -ENOTCONN)
		rc = 0; /* kept by libmosquitto for the reconnect */
	return rc;
}

/* "This controller does not have that content": total 0, chunk count 0. */
static int send_not_here(struct ctl *c, const struct ctl_fetch_req *req)
{
	uint8_t body[CHUNK_HEADER], hash[32];

	hex_decode(hash, 32, req->content);
	chunk_header_write(body, hash, req->from, 0, 0, 0);
	return send_content(c, req->node, body, sizeof(body));
}

static int send_chunk(struct ctl *c, struct ctl_fetch_job *job)
{
	uint64_t off = (uint64_t)job->next_chunk * job->chunk_size;
	size_t want = job->chunk_size, got = 0;
	uint8_t *body;
	int rc;

	if (off + want > job->total)
		want = (size_t)(job->total - off);
	body = malloc(CHUNK_HEADER + want);
	if (!body)
		return -ENOMEM;
	chunk_header_write(body, job->hash, job->next_chunk, job->chunk_count, job->chunk_size,
			   job->total);
	while (got < want) {
		ssize_t n = pread(job->fd, body + CHUNK_HEADER + got, want - got,
				  (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			log_errorx("cannot read content %s for node %s (chunk %" PRIu32 "): %s",
				   ctl_short_id(job->content), job->node, job->next_chunk,
				   n < 0 ? strerror(errno) : "the file is shorter than expected");
			free(body);
			return rc;
		}
		got += (size_t)n;
	}
	rc = send_content(c, job->node, body, CHUNK_HEADER + want);
	free(body);
	if (rc == 0) {
		c->delivery.chunks_sent++;
		if (job->next_chunk + 1 == job->chunk_count)
			log_info("sent the last chunk of content %s to node %s (%" PRIu64
				 " bytes in %" PRIu32 " chunks)", ctl_short_id(job->content),
				 job->node, job->total, job->chunk_count);
	}
	return rc;
}

static struct ctl_fetch_job *find_job(struct ctl *c, const char *node,
				      const char *content)
{
	struct ctl_fetch_job *j;

	for (j = c->delivery.head; j; j = j->next)
		if (strcmp(j->node, node) == 0 && strcmp(j->content, content) == 0)
			return j;
	return NULL;
}

/*
 * Open the content's file and find its size. -ENOENT: the controller does
 * not have it (unknown to the database, or its file is gone).
 */
static int open_content(struct ctl *c, const char *id, int *fd, uint64_t *size)
{
	struct ctl_content_row row;
	char path[PATH_MAX];
	struct stat st;
	int rc;

	rc = ctl_db_content_get(&c->db, id, &row);
	if (rc < 0)
		return rc;
	rc = ctl_content_path(c, id, path, sizeof(path));
	if (rc < 0)
		return rc;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		rc = -errno;
		log_errorx("content %s is in the database but its file %s cannot be read: "
			   "%s", ctl_short_id(id), path, strerror(errno));
		return rc == -ENOENT ? -ENOENT : rc;
	}
	if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
		log_errorx("content %s: %s is empty or not a file", ctl_short_id(id), path);
		close(*fd);
		*fd = -1;
		return -ENOENT;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

int ctl_delivery_on_fetch(struct ctl *c, const char *node, const void *payload,
			  size_t len)
{
	struct ctl_fetch_req req;
	struct ctl_fetch_job *job;
	char err[256];
	uint64_t size = 0;
	uint32_t count, chunk_count, window = (uint32_t)c->cfg.delivery.window;
	int rc, fd = -1;

	rc = ctl_parse_fetch(node, payload, len, &req, err, sizeof(err));
	if (rc < 0) {
		log_warnx("ignoring a fetch on %s/node/%s/fetch: %s", c->mqtt.root, node, err);
		return rc;
	}
	count = req.count;
	if (count > window) {
		log_debug("node %s asked for %" PRIu32 " chunks at once; sending %" PRIu32
			  " (delivery.window)", node, count, window);
		count = window;
	}
	job = find_job(c, node, req.content);
	if (job) {
		if (req.from >= job->chunk_count) {
			log_warnx("ignoring a fetch from node %s: it asks for chunk %" PRIu32
				  " of content %s, which has only %" PRIu32 " chunks", node,
				  req.from, ctl_short_id(req.content), job->chunk_count);
			return 1;
		}
		job->next_chunk = req.from;
		job->end = req.from + count < job->chunk_count ? req.from + count
							       : job->chunk_count;
		log_debug("node %s asks again for content %s from chunk %" PRIu32, node,
			  ctl_short_id(req.content), req.from);
		return 0;
	}
	{
		int mine = 0;

		for (job = c->delivery.head; job; job = job->next)
			mine += strcmp(job->node, node) == 0;
		if (mine >= CTL_MAX_FETCH_JOBS_PER_NODE) {
			ctl_ratelimit_refused(node, "fetch_busy", "asks for more contents at "
					      "once than CTL_MAX_FETCH_JOBS_PER_NODE (4)",
					      mono_ms());
			return 1;
		}
	}
	rc = open_content(c, req.content, &fd, &size);
	if (rc == -ENOENT) {
		log_warnx("node %s asked for content %s, which this controller does not "
			  "have: answered \"not here\"", node, ctl_short_id(req.content));
		return send_not_here(c, &req) < 0 ? -EIO : 0;
	}
	if (rc < 0)
		return rc;
	chunk_count = (uint32_t)((size + (uint64_t)c->cfg.delivery.chunk_bytes - 1) /
				 (uint64_t)c->cfg.delivery.chunk_bytes);
	if (req.from >= chunk_count) {
		log_warnx("ignoring a fetch from node %s: it asks for chunk %" PRIu32
			  " of content %s, which has only %" PRIu32 " chunks", node, req.from,
			  ctl_short_id(req.content), chunk_count);
		close(fd);
		return 1;
	}
	if (c->delivery.njobs >= CTL_MAX_FETCH_JOBS) {
		log_warnx("dropping a fetch from node %s: %d content requests are waiting "
			  "already (it will ask again)", node, c->delivery.njobs);
		close(fd);
		return 1;
	}
	job = calloc(1, sizeof(*job));
	if (!job) {
		close(fd);
		return -ENOMEM;
	}
	snprintf(job->node, sizeof(job->node), "%s", node);
	memcpy(job->content, req.content, sizeof(job->content));
	hex_decode(job->hash, sizeof(job->hash), req.content);
	job->fd = fd;
	job->total = size;
	job->chunk_size = (uint32_t)c->cfg.delivery.chunk_bytes;
	job->chunk_count = chunk_count;
	job->next_chunk = req.from;
	job->end = req.from + count < chunk_count ? req.from + count : chunk_count;
	if (c->delivery.tail)
		c->delivery.tail->next = job;
	else
		c->delivery.head = job;
	c->delivery.tail = job;
	c->delivery.njobs++;
	if (req.from == 0)
		log_info("node %s is fetching content %s (%" PRIu64 " bytes, %" PRIu32
			 " chunks)", node, ctl_short_id(req.content), size, chunk_count);
	else
		log_debug("node %s fetches content %s from chunk %" PRIu32 " of %" PRIu32,
			  node, ctl_short_id(req.content), req.from, chunk_count);
	return 0;
}

static int may_send(struct ctl *c)
{
	if (c->mqtt.publish_hook)
		return 1;
	if (!ctl_mqtt_connected(c, CTL_CONN_BULK) || ctl_mqtt_want_write(c, CTL_CONN_BULK))
		return 0;
	return ctl_mqtt_unacked(c, CTL_CONN_BULK) < 2 * c->cfg.delivery.window;
}

/*
 * Send a few chunks, round robin over the nodes fetching. Few per call
 * (each is read, signed over 64 KiB and published: ~0.3 ms here): the
 * loop comes back at once while there is more, and in between it answers
 * the API and the broker, so an emergency command typed while a hundred
 * nodes download waits for a handful of chunks, not for sixty-four.
 */
void ctl_delivery_pump(struct ctl *c)
{
	struct ctl_delivery *d = &c->delivery;
	struct ctl_fetch_job *job;
	int budget = CTL_DELIVERY_BATCH;

	while (d->head && budget-- > 0 && may_send(c)) {
		job = d->head;
		d->head = job->next;
		if (!d->head)
			d->tail = NULL;
		job->next = NULL;
		if (job->next_chunk < job->end && send_chunk(c, job) == 0)
			job->next_chunk++;
		else
			job->end = 0; /* a read or publish error: drop, the node asks again */
		if (job->next_chunk >= job->end) {
			d->njobs--;
			job_free(job);
			continue;
		}
		/* round robin: to the back of the line */
		if (d->tail)
			d->tail->next = job;
		else
			d->head = job;
		d->tail = job;
	}
}

int ctl_delivery_more(struct ctl *c)
{
	return c->delivery.head && may_send(c);
}

void ctl_delivery_reset(struct ctl *c)
{
	struct ctl_fetch_job *job;

	while ((job = c->delivery.head) != NULL) {
		c->delivery.head = job->next;
		job_free(job);
	}
	c->delivery.tail = NULL;
	c->delivery.njobs = 0;
}

/* ---- the bulk connection (the subscription table, mqtt.h) ---- */

static void on_fetch(struct ctl *c, const char *node, const void *payload, size_t len,
		     int retained)
{
	(void)retained;
	ctl_delivery_on_fetch(c, node, payload, len); /* problems are logged */
}

/* The chunks queued for a lost connection are gone with it: nodes ask again. */
static void on_bulk_lost(void *arg)
{
	ctl_delivery_reset(arg);
}

int ctl_delivery_register(struct ctl *c)
{
	int rc = ctl_mqtt_on_node(c, CTL_CONN_BULK, LEAF_FETCH, CTL_MQTT_NONEMPTY, on_fetch);

	return rc < 0 ? rc : ctl_mqtt_hook(c, CTL_CONN_BULK, NULL, on_bulk_lost);
}
