/*
 * mqtt.c - see mqtt.h.
 */
#include "mqtt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "loop.h"
#include "node.h"
#include "status.h"
#include "util.h"
#include "topic.h"

/* Fixed header, topic and properties around an envelope, under Maximum Packet Size. */
#define NODE_MQTT_PACKET_SLACK 1024
/* How long a clean stop waits for the broker to acknowledge the last publishes. */
#define STOP_FLUSH_MS 2000
/* The largest message the node publishes (status, events, fetch requests are small). */
#define NODE_MQTT_MAX_PUBLISH (64 * 1024 * 1024)

/* The connection's table (mqconn.h) calls this for every topic of ours. */
static void on_message(const struct mqconn_msg *m, void *arg)
{
	struct node *n = arg;

	if (n->mqtt.gate)
		n->mqtt.gate(n, m->topic, m->payload, m->len);
}

/* The topics of one table entry's scopes, in the connection's table. */
static int expand(struct node *n, const struct node_sub *s)
{
	struct mqconn *conn = &n->mqtt.conn[s->conn];
	char topic[TOPIC_MAX];
	size_t i;
	int rc = 0;

	if (s->scope & NODE_SUB_SELF) {
		topic_node(topic, sizeof(topic), n->root, n->cfg.node, s->leaf);
		rc = mqconn_subscribe(conn, topic, s->qos, on_message, n);
	}
	for (i = 0; rc == 0 && (s->scope & NODE_SUB_ZONES) && i < n->cfg.nzones; i++) {
		if (strcmp(n->cfg.zones[i], "all") == 0)
			continue; /* zone "all" is NODE_SUB_ALL's */
		topic_zone(topic, sizeof(topic), n->root, n->cfg.zones[i], s->leaf);
		rc = mqconn_subscribe(conn, topic, s->qos, on_message, n);
	}
	if (rc == 0 && (s->scope & NODE_SUB_ALL)) {
		topic_zone(topic, sizeof(topic), n->root, "all", s->leaf);
		rc = mqconn_subscribe(conn, topic, s->qos, on_message, n);
	}
	return rc;
}

static void hook_up(void *arg)
{
	struct node_conn_hook *h = arg;

	h->on_connect(h->owner);
}

static void hook_down(void *arg)
{
	struct node_conn_hook *h = arg;

	h->on_disconnect(h->owner);
}

int node_mqtt_start(struct node *n)
{
	struct node_mqtt *mq = &n->mqtt;
	char topic[TOPIC_MAX], id[80], hint[96];
	struct mqconn_will will;
	char *off = NULL;
	int k, rc = 0;

	snprintf(hint, sizeof(hint), "a second node %s of site %s", n->cfg.node, n->cfg.site);
	for (k = 0; k < NODE_CONN_N; k++) {
		/*
		 * MQTT 5, for Maximum Packet Size on CONNECT: libmosquitto reads a
		 * whole packet into memory before we see it, whatever its size (up
		 * to MQTT's 256 MiB), so the broker must not send one larger than
		 * max_message_bytes (+ room for the topic and header) at all.
		 */
		struct mqconn_opts o = {
			.name = k == NODE_CONN_CTL ? "control" : "bulk",
			.client_id = id,
			.cfg = &n->cfg.mqtt,
			.mqtt5 = 1,
			.max_packet = (uint32_t)n->cfg.max_message_bytes + NODE_MQTT_PACKET_SLACK,
			.max_publish = NODE_MQTT_MAX_PUBLISH,
			.dup_hint = hint,
			.stopping = &n->stopping,
		};

		snprintf(id, sizeof(id), "%s-%s-%s", n->cfg.site, n->cfg.node,
			 k == NODE_CONN_CTL ? "ctl" : "bulk");
		mqconn_init(&mq->conn[k], &o);
	}
	/* the table's subscriptions, then its hooks (mqtt.h), run on every connect */
	for (k = 0; rc == 0 && k < mq->nsubs; k++)
		rc = expand(n, &mq->subs[k]);
	for (k = 0; rc == 0 && k < mq->nhooks; k++) {
		struct node_conn_hook *h = &mq->hooks[k];

		rc = mqconn_hook(&mq->conn[h->conn], h->on_connect ? hook_up : NULL,
				 h->on_disconnect ? hook_down : NULL, h);
	}
	if (rc < 0) {
		log_errorx("cannot set up the MQTT subscriptions: %s (too many zones?)",
			   strerror(-rc));
		return rc;
	}
	/* The Last Will: offline, with this run's boot counter. */
	off = status_offline_json(n);
	if (!off)
		return -ENOMEM;
	topic_node(topic, sizeof(topic), n->root, n->cfg.node, LEAF_STATUS);
	will = (struct mqconn_will){ .topic = topic, .payload = off, .len = strlen(off),
				     .qos = 1, .retain = 1 };
	rc = mqconn_start(&mq->conn[NODE_CONN_CTL], &will);
	free(off);
	return rc < 0 ? rc : mqconn_start(&mq->conn[NODE_CONN_BULK], NULL);
}

int node_mqtt_subscribe(struct node *n, enum topic_leaf leaf, unsigned scope,
			enum node_conn_kind conn, int qos, node_msg_fn fn)
{
	struct node_mqtt *mq = &n->mqtt;
	struct node_sub *s;

	if (!fn || leaf >= LEAF_NONE || !scope || (unsigned)conn >= NODE_CONN_N ||
	    qos < 0 || qos > 2)
		return -EINVAL;
	if (mq->nsubs >= NODE_MQTT_MAX_SUBS)
		return -ENOSPC;
	s = &mq->subs[mq->nsubs++];
	s->leaf = leaf;
	s->scope = scope;
	s->conn = conn;
	s->qos = qos;
	s->fn = fn;
	return 0;
}

void node_mqtt_gate(struct node *n, node_gate_fn gate)
{
	n->mqtt.gate = gate;
}

int node_mqtt_hook(struct node *n, enum node_conn_kind conn, node_conn_fn up,
		   node_conn_fn down)
{
	struct node_mqtt *mq = &n->mqtt;

	if (mq->nhooks >= NODE_MQTT_MAX_HOOKS || (unsigned)conn >= NODE_CONN_N)
		return mq->nhooks >= NODE_MQTT_MAX_HOOKS ? -ENOSPC : -EINVAL;
	mq->hooks[mq->nhooks].owner = n;
	mq->hooks[mq->nhooks].conn = conn;
	mq->hooks[mq->nhooks].on_connect = up;
	mq->hooks[mq->nhooks].on_disconnect = down;
	mq->nhooks++;
	return 0;
}

const struct node_sub *node_mqtt_route(const struct node *n, const char *topic)
{
	struct topic_parts t;
	unsigned scope = 0;
	size_t i;
	int k;

	if (topic_parse(n->root, topic, &t) < 0)
		return NULL;
	if (t.node) {
		if (strcmp(t.name, n->cfg.node) != 0)
			return NULL;
		scope = NODE_SUB_SELF;
	} else if (strcmp(t.name, "all") == 0) {
		scope = NODE_SUB_ALL;
	} else {
		for (i = 0; i < n->cfg.nzones; i++)
			if (strcmp(t.name, n->cfg.zones[i]) == 0)
				scope = NODE_SUB_ZONES;
		if (!scope)
			return NULL;
	}
	for (k = 0; k < n->mqtt.nsubs; k++)
		if (n->mqtt.subs[k].leaf == t.leaf && (n->mqtt.subs[k].scope & scope))
			return &n->mqtt.subs[k];
	return NULL;
}

int node_mqtt_connected(const struct node *n, enum node_conn_kind kind)
{
	return mqconn_connected(&n->mqtt.conn[kind]);
}

int node_mqtt_publish(struct node *n, enum node_conn_kind kind, const char *topic,
		      const void *payload, size_t len, int qos, int retain, int *mid)
{
	/* down: refused, nothing queued (the callers publish again on connect) */
	return mqconn_publish(&n->mqtt.conn[kind], topic, payload, len, qos, retain, mid);
}

/*
 * Clean stop: the offline status (retained) goes out first, then we give the
 * broker up to STOP_FLUSH_MS to acknowledge it and any events still in
 * flight - a bounded wait at shutdown only - and disconnect. Events not
 * acknowledged stay in the journal for the next start.
 */
void node_mqtt_stop(struct node *n)
{
	struct node_mqtt *mq = &n->mqtt;
	char topic[TOPIC_MAX];
	uint64_t left = 0;
	char *off;
	int k;

	if (mqconn_connected(&mq->conn[NODE_CONN_CTL])) {
		off = status_offline_json(n);
		topic_node(topic, sizeof(topic), n->root, n->cfg.node, LEAF_STATUS);
		if (off) {
			node_mqtt_publish(n, NODE_CONN_CTL, topic, off, strlen(off), 1, 1, NULL);
			free(off);
		}
		if (mqconn_flush(&mq->conn[NODE_CONN_CTL], STOP_FLUSH_MS, &left) < 0)
			log_warnx("the broker did not acknowledge %llu message(s) before the stop "
				  "(events stay in the journal)", (unsigned long long)left);
	}
	for (k = 0; k < NODE_CONN_N; k++)
		mqconn_stop(&mq->conn[k]); /* DISCONNECT if up, then destroy */
}

/* The event loop (loop.h): main.c registers this module. */
int node_mqtt_register(struct loop *l, struct node *n)
{
	int rc = mqconn_register(l, &n->mqtt.conn[NODE_CONN_CTL]);

	return rc < 0 ? rc : mqconn_register(l, &n->mqtt.conn[NODE_CONN_BULK]);
}
