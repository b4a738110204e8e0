/*
 * mqtt.c - see mqtt.h.
 */
#include "mqtt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <mosquitto.h>

#include "ctl.h"
#include "ctlutil.h"
#include "delivery.h"
#include "log.h"
#include "nodes.h"
#include "ratelimit.h"
#include "timesvc.h"
#include "topic.h"
#include "util.h"

static const char *mosq_reason(int rc)
{
	if (rc == MOSQ_ERR_ERRNO)
		return strerror(errno);
	return mosquitto_strerror(rc);
}

void ctl_mqtt_init(struct ctl *c)
{
	struct ctl_mqtt *mq = &c->mqtt;
	int k;

	mq->owner = c;
	topic_root(mq->root, sizeof(mq->root), c->cfg.site);
	for (k = 0; k < 2; k++) {
		struct ctl_mqtt_conn *conn = &mq->conn[k];

		conn->owner = c;
		conn->name = k == CTL_CONN_CTL ? "control" : "bulk";
		snprintf(conn->client_id, sizeof(conn->client_id), "%s-controller-%s",
			 c->cfg.site, k == CTL_CONN_CTL ? "ctl" : "bulk");
		mqlink_init(&conn->link, conn->name, c->cfg.mqtt.host, c->cfg.mqtt.port,
			    c->cfg.mqtt.keepalive);
		conn->pollfd_index = -1;
	}
}

static void subscribe(struct ctl *c, struct ctl_mqtt_conn *conn, enum topic_leaf leaf)
{
	char topic[TOPIC_MAX];
	int rc;

	topic_node(topic, sizeof(topic), c->mqtt.root, "+", leaf);
	rc = mosquitto_subscribe(conn->m, NULL, topic, 1);
	if (rc != MOSQ_ERR_SUCCESS)
		log_warnx("cannot subscribe to %s on the %s connection: %s", topic,
			  conn->name, mosq_reason(rc));
	else
		log_debug("subscribed to %s (%s connection)", topic, conn->name);
}

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
	struct ctl_mqtt_conn *conn = arg;
	struct ctl *c = conn->owner;

	(void)m;
	mqlink_on_connect(&conn->link, rc);
	if (rc != 0) {
		log_warnx("the MQTT broker at %s:%d refused the %s connection: %s",
			  c->cfg.mqtt.host, c->cfg.mqtt.port, conn->name,
			  mosquitto_connack_string(rc));
		return; /* libmosquitto drops the connection: on_disconnect retries */
	}
	conn->connected = 1;
	conn->connected_at_ms = mono_ms();
	conn->unacked = 0;
	log_info("connected to the MQTT broker at %s:%d (%s connection, client id %s)",
		 c->cfg.mqtt.host, c->cfg.mqtt.port, conn->name, conn->client_id);
	if (conn == &c->mqtt.conn[CTL_CONN_CTL]) {
		subscribe(c, conn, LEAF_STATUS);
		subscribe(c, conn, LEAF_EVENT);
		subscribe(c, conn, LEAF_PING); /* timesvc.c */
	} else {
		subscribe(c, conn, LEAF_FETCH);
	}
}

static void on_disconnect(struct mosquitto *m, void *arg, int rc)
{
	struct ctl_mqtt_conn *conn = arg;
	struct ctl *c = conn->owner;
	int was = conn->connected;
	enum mqlink_loss what;
	int ms;

	(void)m;
	conn->connected = 0;
	if (conn == &c->mqtt.conn[CTL_CONN_BULK])
		ctl_delivery_reset(c);
	/* the link schedules the retry (jittered back-off, mqlink.h) */
	what = mqlink_on_disconnect(&conn->link, c->stopping);
	if (c->stopping || what == MQLINK_IGNORED)
		return;
	ms = conn->link.last_delay_ms;
	if (was && conn->link.short_lived % 5 == 3)
		log_warnx("the MQTT broker keeps dropping the %s connection right after it "
			  "is made: is another client using the client id %s (a second "
			  "controller for site %s)?", conn->name, conn->client_id,
			  c->cfg.site);
	if (was)
		log_warnx("lost the %s connection to the MQTT broker at %s:%d (%s); "
			  "reconnecting in %d.%d s", conn->name, c->cfg.mqtt.host,
			  c->cfg.mqtt.port, rc == 0 ? "closed" : mosq_reason(rc),
			  ms / 1000, ms % 1000 / 100);
	else
		log_warnx("cannot connect the %s connection to the MQTT broker at %s:%d "
			  "(%s); retrying in %d.%d s", conn->name, c->cfg.mqtt.host,
			  c->cfg.mqtt.port, mosq_reason(rc), ms / 1000, ms % 1000 / 100);
}

static void on_publish(struct mosquitto *m, void *arg, int mid)
{
	struct ctl_mqtt_conn *conn = arg;

	(void)m;
	(void)mid;
	if (conn->unacked > 0)
		conn->unacked--;
}

static void on_message(struct mosquitto *m, void *arg,
		       const struct mosquitto_message *msg)
{
	struct ctl_mqtt_conn *conn = arg;

	(void)m;
	if (!msg || !msg->topic || msg->payloadlen < 0)
		return;
	ctl_mqtt_route(conn->owner, msg->topic, msg->payload, (size_t)msg->payloadlen,
		       msg->retain);
}

void ctl_mqtt_route(struct ctl *c, const char *topic, const void *payload,
		    size_t len, int retained)
{
	struct topic_parts t;
	char safe[TOPIC_MAX], name[sizeof(t.name)];
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
	/* only what nodes send, on their own topics: node/<valid id>/<leaf> */
	if (rc < 0 || !t.node ||
	    (t.leaf != LEAF_STATUS && t.leaf != LEAF_EVENT && t.leaf != LEAF_FETCH &&
	     t.leaf != LEAF_PING)) {
		log_warnx("ignoring a message on unexpected topic %s (not <root>/node/<node id>/"
			  "status, event, fetch or time/ping)", ctl_printable(safe, sizeof(safe),
									   topic));
		return;
	}
	if (len > CTL_MAX_INBOUND) {
		log_warnx("ignoring a %zu-byte message on %s: larger than the %d-byte limit",
			  len, topic, CTL_MAX_INBOUND);
		return;
	}
	if (ctl_ratelimit_inbound(t.name, topic_leaf_name(t.leaf), mono_ms()) < 0)
		return; /* a flood from one node (ratelimit.h) */
	if (len == 0 && (t.leaf == LEAF_EVENT || t.leaf == LEAF_FETCH)) {
		log_warnx("ignoring an empty message on %s", topic);
		return;
	}
	switch (t.leaf) {
	case LEAF_PING:
		ctl_timesvc_on_ping(c, t.name, payload, len, (int64_t)ctl_now_us());
		break;
	case LEAF_STATUS:
		ctl_nodes_on_status(c, t.name, payload, len, retained);
		break;
	case LEAF_EVENT:
		ctl_nodes_on_event(c, t.name, payload, len);
		break;
	default:
		ctl_delivery_on_fetch(c, t.name, payload, len);
		break;
	}
}

int ctl_mqtt_start(struct ctl *c)
{
	struct ctl_mqtt *mq = &c->mqtt;
	int k, rc;

	if (!mq->lib_ready) {
		mosquitto_lib_init();
		mq->lib_ready = 1;
	}
	for (k = 0; k < 2; k++) {
		struct ctl_mqtt_conn *conn = &mq->conn[k];

		conn->m = mosquitto_new(conn->client_id, true, conn);
		if (!conn->m) {
			log_errorx("cannot create the MQTT %s client: %s", conn->name,
				   strerror(errno));
			return -ENOMEM;
		}
		mosquitto_int_option(conn->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
		if (c->cfg.mqtt.username[0]) {
			rc = mosquitto_username_pw_set(conn->m, c->cfg.mqtt.username,
						       c->cfg.mqtt.password[0] ?
						       c->cfg.mqtt.password : NULL);
			if (rc != MOSQ_ERR_SUCCESS) {
				log_errorx("mqtt.username: %s", mosq_reason(rc));
				return -EINVAL;
			}
		}
		if (c->cfg.mqtt.cafile[0]) {
			/* TLS, the broker's certificate checked against our CA and
			 * its name against mqtt.host (no tls_insecure). */
			rc = mosquitto_tls_set(conn->m, c->cfg.mqtt.cafile, NULL, NULL, NULL,
					       NULL);
			if (rc == MOSQ_ERR_SUCCESS)
				rc = mosquitto_tls_opts_set(conn->m, 1, "tlsv1.2", NULL);
			if (rc != MOSQ_ERR_SUCCESS) {
				log_errorx("mqtt.cafile %s: %s", c->cfg.mqtt.cafile,
					   mosq_reason(rc));
				return -EINVAL;
			}
		}
		mosquitto_connect_callback_set(conn->m, on_connect);
		mosquitto_disconnect_callback_set(conn->m, on_disconnect);
		mosquitto_message_callback_set(conn->m, on_message);
		mosquitto_publish_callback_set(conn->m, on_publish);
		conn->link.m = conn->m;
		mqlink_tick(&conn->link); /* starts the first attempt */
	}
	return 0;
}

void ctl_mqtt_stop(struct ctl *c)
{
	struct ctl_mqtt *mq = &c->mqtt;
	int k;

	for (k = 0; k < 2; k++) {
		struct ctl_mqtt_conn *conn = &mq->conn[k];

		if (!conn->m)
			continue;
		mqlink_stop(&conn->link); /* DISCONNECT if up, then destroy */
		conn->m = NULL;
		conn->connected = 0;
	}
	if (mq->lib_ready) {
		mosquitto_lib_cleanup();
		mq->lib_ready = 0;
	}
}

int ctl_mqtt_pollfds(struct ctl *c, struct pollfd *pfds, int max)
{
	int k, n = 0;

	for (k = 0; k < 2; k++) {
		struct ctl_mqtt_conn *conn = &c->mqtt.conn[k];

		conn->pollfd_index = -1;
		if (n >= max || !mqlink_pollfd(&conn->link, &pfds[n]))
			continue;
		conn->pollfd_index = n++;
	}
	return n;
}

void ctl_mqtt_handle(struct ctl *c, const struct pollfd *pfds)
{
	int k;

	for (k = 0; k < 2; k++) {
		struct ctl_mqtt_conn *conn = &c->mqtt.conn[k];

		if (conn->pollfd_index < 0 || !conn->m)
			continue;
		mqlink_handle(&conn->link, &pfds[conn->pollfd_index]);
	}
}

void ctl_mqtt_tick(struct ctl *c)
{
	int k;

	if (c->stopping)
		return;
	for (k = 0; k < 2; k++) {
		struct ctl_mqtt_conn *conn = &c->mqtt.conn[k];

		if (conn->m)
			mqlink_tick(&conn->link);
	}
}

int ctl_mqtt_connected(const struct ctl *c, enum ctl_conn_kind kind)
{
	return c->mqtt.conn[kind].connected;
}

int ctl_mqtt_want_write(const struct ctl *c, enum ctl_conn_kind kind)
{
	struct mosquitto *m = c->mqtt.conn[kind].m;

	return m && mosquitto_want_write(m);
}

int ctl_mqtt_unacked(const struct ctl *c, enum ctl_conn_kind kind)
{
	return c->mqtt.conn[kind].unacked;
}

int ctl_mqtt_publish(struct ctl *c, enum ctl_conn_kind kind, const char *topic,
		     const void *payload, size_t len, int qos, int retain)
{
	struct ctl_mqtt_conn *conn = &c->mqtt.conn[kind];
	int rc;

	if (c->mqtt.publish_hook)
		return c->mqtt.publish_hook(c->mqtt.hook_arg, kind, topic, payload, len, qos,
					    retain);
	if (!conn->m)
		return -ENOTCONN;
	if (len > 256 * 1024 * 1024)
		return -EMSGSIZE;
	rc = mosquitto_publish(conn->m, NULL, topic, (int)len, payload, qos, retain);
	switch (rc) {
	case MOSQ_ERR_SUCCESS:
		if (qos > 0)
			conn->unacked++;
		return conn->connected ? 0 : -ENOTCONN;
	case MOSQ_ERR_NO_CONN:
		/* QoS 1/2: queued inside libmosquitto, sent after reconnecting */
		if (qos > 0)
			conn->unacked++;
		return -ENOTCONN;
	case MOSQ_ERR_NOMEM:
		return -ENOMEM;
	case MOSQ_ERR_PAYLOAD_SIZE:
	case MOSQ_ERR_OVERSIZE_PACKET:
		return -EMSGSIZE;
	default:
		log_warnx("cannot publish on %s (%s connection): %s", topic, conn->name,
			  mosq_reason(rc));
		return -EIO;
	}
}
