/*
 * fetch.c - see fetch.h.
 */
#include "fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cache.h"
#include "chunk.h"
#include "emergency.h"
#include "events.h"
#include "log.h"
#include "loop.h"
#include "node.h"
#include "plan.h"
#include "queue.h"
#include "status.h"
#include "util.h"
#include "topic.h"
#include "update.h"

#define PARTINFO_MAX 4096
/* Re-ask at most this often when chunks arrive out of order. */
#define FETCH_REASK_MS 1000

void fetch_init(struct node *n)
{
	memset(&n->fetch, 0, sizeof(n->fetch));
	n->fetch.window = FETCH_WINDOW;
}

static void fetch_release(struct fetch *f)
{
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

void fetch_free(struct node *n)
{
	struct fetch *f, *next;

	for (f = n->fetch.head; f; f = next) {
		next = f->next;
		fetch_release(f);
	}
	n->fetch.head = n->fetch.tail = NULL;
}

static void paths(const struct node *n, const struct fetch *f, char *part, char *info,
		  size_t len)
{
	cache_path(&n->cache, f->id, ".part", part, len);
	cache_path(&n->cache, f->id, ".partinfo", info, len);
}

static void send_request(struct node *n, struct fetch *f, uint32_t from)
{
	uint32_t count = n->fetch.window;
	char topic[TOPIC_MAX];
	json_t *o;
	char *s;

	if (f->chunk_count && from + count > f->chunk_count)
		count = f->chunk_count - from;
	if (count == 0)
		count = 1;
	f->req_from = from;
	f->req_end = from + count;
	f->got_in_req = 0;
	f->last_activity = mono_ms();
	if (!node_mqtt_connected(n, NODE_CONN_BULK))
		return; /* asked again on connect */
	o = json_pack("{s:s, s:s, s:I, s:I}", "node", n->cfg.node, "content", f->id, "from",
		      (json_int_t)from, "count", (json_int_t)count);
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!s)
		return;
	topic_node(topic, sizeof(topic), n->root, n->cfg.node, LEAF_FETCH);
	if (node_mqtt_publish(n, NODE_CONN_BULK, topic, s, strlen(s), 1, 0, NULL) == 0)
		log_debug("asked for chunks %" PRIu32 "-%" PRIu32 " of content %s", from,
			  from + count - 1, f->id);
	free(s);
}

/* Forget a transfer's progress: empty .part, no partinfo. */
static int start_over(struct node *n, struct fetch *f)
{
	char part[PATH_MAX + 80], info[PATH_MAX + 80];

	paths(n, f, part, info, sizeof(part));
	unlink(info);
	f->chunk_size = f->chunk_count = 0;
	f->total = 0;
	f->next_chunk = 0;
	if (f->fd >= 0 && ftruncate(f->fd, 0) < 0)
		return -errno;
	return 0;
}

static int load_partinfo(const char *path, const char *id, uint32_t *size, uint32_t *count,
			 uint64_t *total)
{
	uint8_t *buf = NULL;
	size_t len;
	json_t *o;
	json_int_t s, c, t;
	const char *cid = NULL;
	int rc;

	rc = read_file(path, PARTINFO_MAX, &buf, &len);
	if (rc < 0)
		return rc;
	o = json_loadb((const char *)buf, len, 0, NULL);
	free(buf);
	if (!o)
		return -EINVAL;
	rc = -EINVAL;
	if (json_unpack(o, "{s:s, s:I, s:I, s:I}", "content", &cid, "chunk_size", &s,
			"chunk_count", &c, "total", &t) == 0 &&
	    strcmp(cid, id) == 0 && s > 0 && s <= UINT32_MAX && c > 0 && c <= UINT32_MAX &&
	    t > 0 && (t + s - 1) / s == c) {
		*size = (uint32_t)s;
		*count = (uint32_t)c;
		*total = (uint64_t)t;
		rc = 0;
	}
	json_decref(o);
	return rc;
}

static int save_partinfo(struct node *n, struct fetch *f)
{
	char part[PATH_MAX + 80], info[PATH_MAX + 80];
	json_t *o;
	char *s;
	int rc;

	paths(n, f, part, info, sizeof(part));
	o = json_pack("{s:s, s:I, s:I, s:I}", "content", f->id, "chunk_size",
		      (json_int_t)f->chunk_size, "chunk_count", (json_int_t)f->chunk_count,
		      "total", (json_int_t)f->total);
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!s)
		return -ENOMEM;
	rc = write_file_atomic(info, s, strlen(s), 0640);
	free(s);
	return rc;
}

static void activate(struct node *n, struct fetch *f);

static void remove_head(struct node *n)
{
	struct fetch *f = n->fetch.head;

	if (!f)
		return;
	n->fetch.head = f->next;
	if (!n->fetch.head)
		n->fetch.tail = NULL;
	fetch_release(f);
	if (n->fetch.head)
		activate(n, n->fetch.head);
	status_dirty(n);
}

static void content_failed(struct node *n, struct fetch *f, const char *reason)
{
	char part[PATH_MAX + 80], info[PATH_MAX + 80], id[CONTENT_ID_LEN + 1];
	struct event_info ev = { .content = f->id, .start_ms = -1, .duration_ms = -1,
				 .reason = reason };

	log_warnx("cannot get content %s: %s", f->id, reason);
	status_error(n, "content %s: %s", f->id, reason);
	events_emit(n, "content_failed", &ev);
	paths(n, f, part, info, sizeof(part));
	unlink(part);
	unlink(info);
	memcpy(id, f->id, sizeof(id));
	if (f == n->fetch.head)
		remove_head(n);
	queue_content_failed(n, id, reason);
	update_content_failed(n, id, reason);
}

/* All chunks are on disk: check the whole file, then publish it under its name. */
static void complete(struct node *n, struct fetch *f)
{
	char part[PATH_MAX + 80], info[PATH_MAX + 80], opus[PATH_MAX + 80];
	char hex[CONTENT_ID_LEN + 1], id[CONTENT_ID_LEN + 1];
	int rc;

	paths(n, f, part, info, sizeof(part));
	cache_path(&n->cache, f->id, ".opus", opus, sizeof(opus));
	if (f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
	}
	rc = sha256_file_hex(part, hex);
	if (rc < 0) {
		content_failed(n, f, "cannot read back the downloaded file");
		return;
	}
	if (strcmp(hex, f->id) != 0) {
		f->restarts++;
		unlink(part);
		unlink(info);
		if (f->restarts >= FETCH_MAX_RESTARTS) {
			content_failed(n, f, "the downloaded file failed its SHA-256 check "
				       "several times");
			return;
		}
		log_warnx("content %s failed its SHA-256 check (the file hashes to %s): "
			  "starting over", f->id, hex);
		f->chunk_size = f->chunk_count = 0;
		f->total = 0;
		f->next_chunk = 0;
		f->fd = open(part, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (f->fd < 0) {
			content_failed(n, f, "cannot write to the cache");
			return;
		}
		send_request(n, f, 0);
		return;
	}
	if (rename(part, opus) < 0) {
		char why[300];

		snprintf(why, sizeof(why), "cannot rename %.100s to %.100s: %s", part, opus,
			 strerror(errno));
		content_failed(n, f, why);
		return;
	}
	fsync_dir_of(opus);
	unlink(info);
	log_info("content %s is ready: %" PRIu64 " bytes in %" PRIu32 " chunks, SHA-256 "
		 "checked (%.1f s)", f->id, f->total, f->chunk_count,
		 (double)(mono_ms() - f->started) / 1000.0);
	{
		struct event_info ev = { .content = f->id, .start_ms = -1, .duration_ms = -1,
					 .reason = "" };
		events_emit(n, "content_ready", &ev);
	}
	memcpy(id, f->id, sizeof(id));
	remove_head(n);
	cache_evict(&n->cache, plan_or_queue_uses, n);
	queue_content_ready(n, id);
	emergency_content_ready(n, id);
	update_content_ready(n, id);
}

/* Start (or resume) the transfer at the head of the line. */
static void activate(struct node *n, struct fetch *f)
{
	char part[PATH_MAX + 80], info[PATH_MAX + 80];
	struct stat st;
	uint64_t have = 0;

	paths(n, f, part, info, sizeof(part));
	f->active = 1;
	f->started = mono_ms();
	f->fd = open(part, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (f->fd < 0) {
		char why[300];

		snprintf(why, sizeof(why), "cannot write %.200s: %s", part, strerror(errno));
		content_failed(n, f, why);
		return;
	}
	if (fstat(f->fd, &st) == 0)
		have = (uint64_t)st.st_size;
	if (have > 0 && load_partinfo(info, f->id, &f->chunk_size, &f->chunk_count,
				      &f->total) == 0 && have <= f->total) {
		uint64_t k = have / f->chunk_size;

		if (have % f->chunk_size) {
			log_info("content %s: dropping %" PRIu64 " bytes of an unfinished chunk "
				 "at the end of %s", f->id, have % f->chunk_size, part);
			if (ftruncate(f->fd, (off_t)(k * f->chunk_size)) < 0) {
				start_over(n, f);
				k = 0;
			}
		}
		f->next_chunk = (uint32_t)k;
		log_info("resuming %s at chunk %" PRIu32 " of %" PRIu32 " (%" PRIu64
			 " bytes on disk)", f->id, f->next_chunk, f->chunk_count,
			 (uint64_t)f->next_chunk * f->chunk_size);
		if (f->next_chunk >= f->chunk_count) {
			complete(n, f);
			return;
		}
	} else {
		if (have > 0)
			log_info("content %s: %s has no usable chunk record: starting over",
				 f->id, part);
		start_over(n, f);
		log_info("fetching content %s%s", f->id,
			 f->expect_bytes ? "" : " (size unknown)");
	}
	send_request(n, f, f->next_chunk);
	status_dirty(n);
}

void fetch_want(struct node *n, const char *id, uint64_t bytes)
{
	struct fetch *f;

	if (cache_has(&n->cache, id))
		return;
	for (f = n->fetch.head; f; f = f->next)
		if (strcmp(f->id, id) == 0)
			return;
	f = calloc(1, sizeof(*f));
	if (!f) {
		log_errorx("out of memory for a content transfer");
		return;
	}
	memcpy(f->id, id, CONTENT_ID_LEN);
	f->id[CONTENT_ID_LEN] = '\0';
	hex_decode(f->hash, sizeof(f->hash), id);
	f->expect_bytes = bytes;
	f->fd = -1;
	if (n->fetch.tail)
		n->fetch.tail->next = f;
	else
		n->fetch.head = f;
	n->fetch.tail = f;
	if (n->fetch.head == f)
		activate(n, f);
	else
		log_info("content %s will be fetched after %s", id, n->fetch.head->id);
}

void fetch_cancel(struct node *n, const char *id)
{
	struct fetch *f, *prev = NULL;

	for (f = n->fetch.head; f; prev = f, f = f->next) {
		if (strcmp(f->id, id) != 0)
			continue;
		if (f->chunk_count)
			log_info("no longer fetching content %s: no play needs it now (%" PRIu32
				 " of %" PRIu32 " chunks kept on disk)", id, f->next_chunk,
				 f->chunk_count);
		else
			log_info("no longer fetching content %s: no play needs it now", id);
		if (f == n->fetch.head) {
			remove_head(n);
			return;
		}
		prev->next = f->next;
		if (n->fetch.tail == f)
			n->fetch.tail = prev;
		fetch_release(f);
		return;
	}
}

/*
 * Append a chunk; fsync only at the end of each requested window (and of the
 * file). One fsync per 64 KiB chunk made a hundred downloading nodes queue on
 * the disk, holding their poll loops - and an emergency - for hundreds of ms.
 * A crash can lose the unsynced tail: the transfer resumes from what is
 * there, and the whole file's SHA-256 decides in the end.
 */
static int append_chunk(struct fetch *f, const uint8_t *data, size_t len, int sync)
{
	while (len > 0) {
		ssize_t w = write(f->fd, data, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		data += w;
		len -= (size_t)w;
	}
	if (sync && fdatasync(f->fd) < 0)
		return -errno;
	return 0;
}

void fetch_on_chunk(struct node *n, const char *topic, const uint8_t *body, size_t len)
{
	struct chunk_hdr h;
	struct fetch *f;
	char why[256], id[CONTENT_ID_LEN + 1];
	int64_t mono = mono_ms();
	int rc;

	if (chunk_parse(body, len, &h, why, sizeof(why)) < 0) {
		log_warnx("rejected message on %s: %s", topic, why);
		n->rejected_body++;
		status_dirty(n);
		return;
	}
	hex_encode(id, h.hash, sizeof(h.hash));
	f = n->fetch.head;
	if (!f || !f->active || strcmp(f->id, id) != 0) {
		if (cache_has(&n->cache, id))
			log_debug("chunk %" PRIu32 " of content %s, which is complete: ignored",
				  h.index, id);
		else
			log_warnx("ignoring a content chunk on %s: content %s is not being "
				  "fetched", topic, id);
		return;
	}
	if (h.total == 0 && h.count == 0) {
		content_failed(n, f, "the controller does not have it");
		return;
	}
	if (h.total > n->cache.max_bytes) {
		snprintf(why, sizeof(why), "it is %" PRIu64 " bytes, larger than the whole "
			 "cache (cache_max_mb)", h.total);
		content_failed(n, f, why);
		return;
	}
	if (f->chunk_size && (h.size != f->chunk_size || h.count != f->chunk_count ||
			      h.total != f->total)) {
		log_warnx("content %s: the controller now sends %" PRIu32 "-byte chunks (%"
			  PRIu64 " bytes), not %" PRIu32 "-byte chunks (%" PRIu64 " bytes): "
			  "starting over", f->id, h.size, h.total, f->chunk_size, f->total);
		if (start_over(n, f) < 0) {
			content_failed(n, f, "cannot truncate the partial file");
			return;
		}
	}
	if (h.index != f->next_chunk) {
		if (h.index > f->next_chunk) {
			log_debug("content %s: chunk %" PRIu32 " arrived while waiting for %"
				  PRIu32 ": dropped", f->id, h.index, f->next_chunk);
			if (f->req_from != f->next_chunk ||
			    mono - f->last_activity >= FETCH_REASK_MS)
				send_request(n, f, f->next_chunk);
		}
		return;
	}
	if (!f->chunk_size) {
		f->chunk_size = h.size;
		f->chunk_count = h.count;
		f->total = h.total;
		if (f->expect_bytes && f->expect_bytes != h.total)
			log_warnx("content %s: the play command said %" PRIu64 " bytes, the "
				  "controller sends %" PRIu64 " (the SHA-256 check decides)",
				  f->id, f->expect_bytes, h.total);
		rc = save_partinfo(n, f);
		if (rc < 0) {
			log_warnx("content %s: cannot record the chunk size: %s", f->id,
				  strerror(-rc));
			f->chunk_size = 0;
			return;
		}
		log_info("content %s: %" PRIu64 " bytes in %" PRIu32 " chunks of %" PRIu32,
			 f->id, f->total, f->chunk_count, f->chunk_size);
	}
	rc = append_chunk(f, h.data, h.data_len, f->next_chunk + 1 >= f->req_end ||
			  f->next_chunk + 1 >= f->chunk_count);
	if (rc < 0) {
		f->write_errors++;
		if (ftruncate(f->fd, (off_t)((uint64_t)f->next_chunk * f->chunk_size)) < 0)
			f->write_errors = FETCH_MAX_RESTARTS;
		snprintf(why, sizeof(why), "cannot write to the cache: %s", strerror(-rc));
		if (f->write_errors >= FETCH_MAX_RESTARTS) {
			content_failed(n, f, why);
			return;
		}
		log_warnx("content %s: %s (asking again in %d s)", f->id, why,
			  FETCH_SILENCE_MS / 1000);
		status_error(n, "content %s: %s", f->id, why);
		return;
	}
	f->write_errors = 0;
	f->next_chunk++;
	f->got_in_req++;
	f->bytes_this_run += h.data_len;
	f->last_activity = mono;
	if (f->next_chunk >= f->chunk_count) {
		complete(n, f);
		return;
	}
	if (f->next_chunk >= f->req_end)
		send_request(n, f, f->next_chunk);
}

void fetch_on_connect(struct node *n)
{
	struct fetch *f = n->fetch.head;

	if (f && f->active && f->fd >= 0)
		send_request(n, f, f->next_chunk);
}

void fetch_tick(struct node *n, int64_t mono)
{
	struct fetch *f = n->fetch.head;

	if (!f || !f->active || f->fd < 0 || !node_mqtt_connected(n, NODE_CONN_BULK))
		return;
	if (mono - f->last_activity < FETCH_SILENCE_MS)
		return;
	if (f->got_in_req > 0 && f->next_chunk < f->req_end &&
	    f->got_in_req < n->fetch.window) {
		/* The window was cut short: the controller's window is smaller. */
		n->fetch.window = f->got_in_req;
		log_info("the controller sends %" PRIu32 " chunk(s) per request: asking for "
			 "%" PRIu32 " at a time", n->fetch.window, n->fetch.window);
	} else {
		log_info("no chunk of content %s for %d s: asking again from chunk %" PRIu32,
			 f->id, FETCH_SILENCE_MS / 1000, f->next_chunk);
	}
	send_request(n, f, f->next_chunk);
}

int64_t fetch_next_deadline(const struct node *n)
{
	const struct fetch *f = n->fetch.head;

	if (!f || !f->active || f->fd < 0 || !node_mqtt_connected(n, NODE_CONN_BULK))
		return INT64_MAX;
	return f->last_activity + FETCH_SILENCE_MS;
}

/* ---- the event loop (loop.h): main.c registers this module ---- */

static void loop_tick(struct loop *l, int64_t mono, void *arg)
{
	(void)l;
	fetch_tick(arg, mono);
}

static int64_t loop_deadline(void *arg)
{
	return fetch_next_deadline(arg);
}

/* Content chunks, on the bulk connection (the subscription table, mqtt.h). */
static void on_msg(struct node *n, const struct node_msg *m)
{
	fetch_on_chunk(n, m->topic, m->env->body, m->env->body_len);
}

/* This module's part of the status (status.h). */
static void status_part(struct node *n, json_t *status)
{
	const struct fetch *f = n->fetch.head;

	if (f)
		json_object_set_new(status, "fetching",
				    json_pack("{s:s, s:I, s:I}", "content", f->id, "chunk",
					      (json_int_t)f->next_chunk, "chunks",
					      (json_int_t)f->chunk_count));
}

int fetch_register(struct loop *l, struct node *n)
{
	int rc = node_mqtt_subscribe(n, LEAF_CONTENT, NODE_SUB_SELF, NODE_CONN_BULK, 1, on_msg);

	if (rc >= 0)
		rc = status_provider_add(n, status_part);
	if (rc < 0)
		return rc;
	rc = loop_tick_add(l, "fetch", loop_tick, loop_deadline, n);
	return rc < 0 ? rc : 0;
}
