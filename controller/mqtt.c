/*
 * mqtt.c - see mqtt.h.
 */
#include "mqtt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "ctlutil.h"
#include "log.h"
#include "ratelimit.h"
#include "util.h"

void ctl_mqtt_init(struct ctl *c)
{
	struct ctl_mqtt *mq = &c->mqtt;
	char id[64], hint[96];
	int k;

	mq->owner = c;
	topic_root(mq->root, sizeof(mq->root), c->cfg.site);
	snprintf(hint, sizeof(hint), "a second controller for site %s", c->cfg.site);
	for (k = 0; k < 2; k++) {
		struct mqconn_opts o = {
			.name = k == CTL_CONN_CTL ? "control" : "bulk",
			.client_id = id,
			.cfg = &c->cfg.mqtt,
			/* commands and chunks published while down go out on reconnect */
			.queue_offline = 1,
			.dup_hint = hint,
			.stopping = &c->stopping,
		};

		snprintf(id, sizeof(id), "%s-controller-%s", c->cfg.site,
			 k == CTL_CONN_CTL ? "ctl" : "bulk");
		mqconn_init(&mq->conn[k], &o);
	}
}

static const struct ctl_mqtt_handler *handler_for(const struct ctl *c, enum topic_leaf leaf)
{
	int k;

	for (k = 0; k < c->mqtt.nhandlers; k++)
		if (c->mqtt.handlers[k].leaf == leaf)
			return &c->mqtt.handlers[k];
	return NULL;
}

/* The subscription table's callback (mqconn.h): every node topic comes here. */
static void on_node_msg(const struct mqconn_msg *m, void *arg)
{
	const struct ctl_mqtt_handler *h = arg;

	ctl_mqtt_route(h->owner, m->topic, m->payload, m->len, m->retained);
}

int ctl_mqtt_on_node(struct ctl *c, enum ctl_conn_kind kind, enum topic_leaf leaf,
		     unsigned flags, ctl_node_msg_fn fn)
{
	struct ctl_mqtt *mq = &c->mqtt;
	struct ctl_mqtt_handler *h;
	char filter[TOPIC_MAX];
	int rc;

	if (!fn || leaf >= LEAF_NONE || (kind != CTL_CONN_CTL && kind != CTL_CONN_BULK) ||
	    handler_for(c, leaf))
		return -EINVAL;
	if (mq->nhandlers >= CTL_MQTT_MAX_HANDLERS)
		return -ENOSPC;
	h = &mq->handlers[mq->nhandlers];
	h->owner = c;
	h->leaf = leaf;
	h->flags = flags;
	h->fn = fn;
	if (topic_node(filter, sizeof(filter), mq->root, "+", leaf) < 0)
		return -EINVAL;
	rc = mqconn_subscribe(&mq->conn[kind], filter, 1, on_node_msg, h);
	if (rc < 0)
		return rc;
	mq->nhandlers++;
	return 0;
}

int ctl_mqtt_hook(struct ctl *c, enum ctl_conn_kind kind, mqconn_hook_fn on_connect,
		  mqconn_hook_fn on_lost)
{
	return mqconn_hook(&c->mqtt.conn[kind], on_connect, on_lost, c);
}

/* "status, event, fetch or time/ping": what the controller reads, for a warning. */
static void leaf_list(const struct ctl *c, char *out, size_t outlen)
{
	size_t used = 0;
	int k, n = c->mqtt.nhandlers;

	out[0] = '\0';
	for (k = 0; k < n && used < outlen; k++) {
		int w = snprintf(out + used, outlen - used, "%s%s",
				 k == 0 ? "" : k == n - 1 ? " or " : ", ",
				 topic_leaf_name(c->mqtt.handlers[k].leaf));

		if (w < 0)
			break;
		used += (size_t)w;
	}
}

void ctl_mqtt_route(struct ctl *c, const char *topic, const void *payload,
		    size_t len, int retained)
{
	struct topic_parts t;
	const struct ctl_mqtt_handler *h;
	char safe[TOPIC_MAX], name[sizeof(t.name)], leaves[96];
	int rc = topic_parse(c->mqtt.root, topic, &t);

	if (rc == -EINVAL && t.node && (!t.name[0] || strlen(t.name) == sizeof(t.name) - 1)) {
		log_warnx("ignoring a message on %s: the node id in the topic is not valid (1-31 "
			  "of a-z, 0-9, '-', '_')", ctl_printable(safe, sizeof(safe), topic));
		return;
	}
	if (rc == -EINVAL && t.node) {
		log_warnx("ignoring a message on %s: \"%s\" is not a valid node id (1-31 of "
			  "a-z, 0-9, '-', '_')", ctl_printable(safe, sizeof(safe), topic),
			  ctl_printable(name, sizeof(name), t.name));
		return;
	}
	/* only what nodes send, on their own topics: node/<valid id>/<a leaf we read> */
	h = rc < 0 || !t.node ? NULL : handler_for(c, t.leaf);
	if (!h) {
		leaf_list(c, leaves, sizeof(leaves));
		log_warnx("ignoring a message on unexpected topic %s (not <root>/node/<node id>/"
			  "%s)", ctl_printable(safe, sizeof(safe), topic), leaves);
		return;
	}
	if (len > CTL_MAX_INBOUND) {
		log_warnx("ignoring a %zu-byte message on %s: larger than the %d-byte limit",
			  len, topic, CTL_MAX_INBOUND);
		return;
	}
	if (ctl_ratelimit_inbound(t.name, topic_leaf_name(t.leaf), mono_ms()) < 0)
		return; /* a flood from one node (ratelimit.h) */
	if (len == 0 && (h->flags & CTL_MQTT_NONEMPTY)) {
		log_warnx("ignoring an empty message on %s", topic);
		return;
	}
	h->fn(c, t.name, payload, len, retained);
}

int ctl_mqtt_start(struct ctl *c)
{
	int k, rc;

	for (k = 0; k < 2; k++) {
		rc = mqconn_start(&c->mqtt.conn[k], NULL);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int ctl_mqtt_register(struct loop *l, struct ctl *c)
{
	int rc = mqconn_register(l, &c->mqtt.conn[CTL_CONN_CTL]);

	return rc < 0 ? rc : mqconn_register(l, &c->mqtt.conn[CTL_CONN_BULK]);
}

void ctl_mqtt_stop(struct ctl *c)
{
	int k;

	for (k = 0; k < 2; k++)
		mqconn_stop(&c->mqtt.conn[k]);
}

int ctl_mqtt_connected(const struct ctl *c, enum ctl_conn_kind kind)
{
	return mqconn_connected(&c->mqtt.conn[kind]);
}

int64_t ctl_mqtt_connected_at(const struct ctl *c, enum ctl_conn_kind kind)
{
	return c->mqtt.conn[kind].connected_at_ms;
}

int ctl_mqtt_want_write(const struct ctl *c, enum ctl_conn_kind kind)
{
	return mqconn_want_write(&c->mqtt.conn[kind]);
}

int ctl_mqtt_unacked(const struct ctl *c, enum ctl_conn_kind kind)
{
	uint64_t n = c->mqtt.conn[kind].unacked;

	return n > INT32_MAX ? INT32_MAX : (int)n;
}

int ctl_mqtt_publish(struct ctl *c, enum ctl_conn_kind kind, const char *topic,
		     const void *payload, size_t len, int qos, int retain)
{
	if (c->mqtt.publish_hook)
		return c->mqtt.publish_hook(c->mqtt.hook_arg, kind, topic, payload, len, qos,
					    retain);
	return mqconn_publish(&c->mqtt.conn[kind], topic, payload, len, qos, retain, NULL);
}
