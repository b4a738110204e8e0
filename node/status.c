/*
 * status.c - see status.h.
 */
#include "status.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "loop.h"
#include "node.h"
#include "util.h"
#include "topic.h"

/*
 * A missing file is the first start (boot 1). A file we cannot parse must
 * not stop a loudspeaker from working, but the counter must never go back
 * (the controller ignores offline statuses with a lower boot): we continue
 * from the clock, seconds since the epoch, which is above any count a node
 * reaches by restarting, and say so.
 */
int status_boot_init(struct node *n)
{
	char path[4200], text[32];
	uint8_t *buf = NULL;
	size_t len = 0;
	uint64_t boot = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/boot", n->cfg.state_dir);
	rc = read_file(path, 64, &buf, &len);
	if (rc == -ENOENT) {
		boot = 0;
	} else if (rc < 0) {
		log_warnx("cannot read the boot counter %s (%s): continuing from the clock",
			  path, strerror(-rc));
		boot = (uint64_t)(now_ms() / 1000);
	} else {
		char *end = NULL;
		unsigned long long v;

		errno = 0;
		v = strtoull((char *)buf, &end, 10);
		while (end && (*end == '\n' || *end == ' '))
			end++;
		if (errno || !end || end == (char *)buf || *end || buf[0] == '-') {
			log_warnx("the boot counter %s is damaged: continuing from the clock",
				  path);
			boot = (uint64_t)(now_ms() / 1000);
		} else {
			boot = v;
		}
	}
	free(buf);
	n->status.boot = boot + 1;
	snprintf(text, sizeof(text), "%" PRIu64 "\n", n->status.boot);
	rc = write_file_atomic(path, text, strlen(text), 0644);
	if (rc < 0) {
		log_errorx("cannot write the boot counter %s: %s", path, strerror(-rc));
		return rc;
	}
	n->status.started_mono = mono_ms();
	return 0;
}

void status_dirty(struct node *n)
{
	if (!n->status.dirty)
		n->status.dirty_since = mono_ms();
	n->status.dirty = 1;
}

void status_error(struct node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(n->status.last_error, sizeof(n->status.last_error), fmt, ap);
	va_end(ap);
	status_dirty(n);
}

int status_provider_add(struct node *n, status_provider_fn fn)
{
	struct node_status *st = &n->status;

	if (!fn)
		return -EINVAL;
	if (st->nproviders >= STATUS_MAX_PROVIDERS)
		return -ENOSPC;
	st->providers[st->nproviders++] = fn;
	return 0;
}

static json_t *rejected_json(const struct node *n)
{
	json_t *o = json_object();
	int r;

	for (r = 1; r < ENV_RESULT_MAX; r++)
		if (n->ver.counts[r])
			json_object_set_new(o, envelope_result_name((enum envelope_result)r),
					    json_integer((json_int_t)n->ver.counts[r]));
	if (n->rejected_body)
		json_object_set_new(o, "bad_body", json_integer((json_int_t)n->rejected_body));
	if (n->rejected_topic)
		json_object_set_new(o, "wrong_topic",
				    json_integer((json_int_t)n->rejected_topic));
	upper_rejected_json(n, o);
	if (n->rejected_target)
		json_object_set_new(o, "wrong_target",
				    json_integer((json_int_t)n->rejected_target));
	return o; /* keys.c adds its own counts (its status provider) */
}

char *status_json(struct node *n)
{
	json_t *o, *zones;
	char *s;
	size_t i;
	int k;

	zones = json_array();
	for (i = 0; i < n->cfg.nzones; i++)
		json_array_append_new(zones, json_string(n->cfg.zones[i]));
	o = json_pack("{s:s, s:s, s:b, s:I, s:s, s:o, s:I, s:I, s:i,"
		      " s:{s:s, s:s, s:I, s:I},"
		      " s:{s:I, s:I},"
		      " s:o, s:s}",
		      "node", n->cfg.node, "site", n->cfg.site, "online", 1,
		      "boot", (json_int_t)n->status.boot, "version", LOAXA_VERSION,
		      "zones", zones, "ts", (json_int_t)now_ms(),
		      "uptime_s", (json_int_t)((mono_ms() - n->status.started_mono) / 1000),
		      "volume", n->sys.volume,
		      "alsa", "device", n->cfg.alsa.device, "state",
		      playout_state_name(&n->po), "xruns", (json_int_t)n->po.xruns,
		      "errors", (json_int_t)n->po.errors,
		      "cache", "items", (json_int_t)n->cache.items,
		      "bytes", (json_int_t)n->cache.bytes,
		      "rejected", rejected_json(n),
		      "last_error", n->status.last_error);
	if (!o)
		return NULL;
	if (n->cfg.label[0])
		json_object_set_new(o, "label", json_string(n->cfg.label));
	/* playing and queue, schedules, emergency, live, amplifier, clock,
	 * fetching, trust, journal, system: each module's own part */
	for (k = 0; k < n->status.nproviders; k++)
		n->status.providers[k](n, o);
	/* precision 6: 0.3, not 0.29999999999999999 */
	s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
	json_decref(o);
	return s;
}

char *status_offline_json(const struct node *n)
{
	json_t *o = json_pack("{s:s, s:b, s:I, s:I}", "node", n->cfg.node, "online", 0,
			      "boot", (json_int_t)n->status.boot, "ts", (json_int_t)now_ms());
	char *s;

	if (!o)
		return NULL;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

int status_publish(struct node *n)
{
	char topic[TOPIC_MAX];
	char *s;
	int rc;

	if (!node_mqtt_connected(n, NODE_CONN_CTL))
		return -ENOTCONN;
	s = status_json(n);
	if (!s)
		return -ENOMEM;
	topic_node(topic, sizeof(topic), n->root, n->cfg.node, LEAF_STATUS);
	rc = node_mqtt_publish(n, NODE_CONN_CTL, topic, s, strlen(s), 1, 1, NULL);
	if (rc == 0) {
		log_debug("status published: %s", s);
		n->status.dirty = 0;
		n->status.last_publish = mono_ms();
	}
	free(s);
	return rc;
}

int64_t status_next_deadline(const struct node *n)
{
	int64_t beat = n->status.last_publish + (int64_t)n->cfg.status_interval_s * 1000;

	if (!node_mqtt_connected(n, NODE_CONN_CTL))
		return INT64_MAX; /* published on connect */
	if (n->status.dirty) {
		int64_t soon = n->status.last_publish + STATUS_MIN_GAP_MS;

		if (soon < n->status.dirty_since + STATUS_SETTLE_MS)
			soon = n->status.dirty_since + STATUS_SETTLE_MS;
		return soon < beat ? soon : beat;
	}
	return beat;
}

void status_tick(struct node *n, int64_t mono)
{
	if (!node_mqtt_connected(n, NODE_CONN_CTL))
		return;
	if (mono >= status_next_deadline(n))
		status_publish(n);
}

/* ---- the event loop (loop.h): main.c registers this module ---- */

static void loop_tick(struct loop *l, int64_t mono, void *arg)
{
	(void)l;
	status_tick(arg, mono);
}

static int64_t loop_deadline(void *arg)
{
	return status_next_deadline(arg);
}

int status_register(struct loop *l, struct node *n)
{
	int rc = loop_tick_add(l, "status", loop_tick, loop_deadline, n);

	return rc < 0 ? rc : 0;
}
