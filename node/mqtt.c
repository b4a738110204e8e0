/*
 * mqtt.c - see mqtt.h.
 */
#include "mqtt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>

#include "cmd.h"
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

static const char *mosq_reason(int rc)
{
	if (rc == MOSQ_ERR_ERRNO)
		return strerror(errno);
	return mosquitto_strerror(rc);
}

static void subscribe(struct node_mqtt_conn *conn, const char *topic, int qos)
{
	int rc = mosquitto_subscribe(conn->m, NULL, topic, qos);

	if (rc != MOSQ_ERR_SUCCESS)
		log_warnx("cannot subscribe to %s on the %s connection: %s", topic,
			  conn->name, mosq_reason(rc));
	else
		log_debug("subscribed to %s (%s connection)", topic, conn->name);
}

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
	struct node_mqtt_conn *conn = arg;
	struct node *n = conn->owner;
	enum node_conn_kind kind = conn == &n->mqtt.conn[NODE_CONN_CTL] ? NODE_CONN_CTL :
				   NODE_CONN_BULK;
	char topic[TOPIC_MAX];
	size_t i;
	int k;

	(void)m;
	/* the back-off is reset only once this connection has held (mqlink.h) */
	mqlink_on_connect(&conn->link, rc);
	if (rc != 0) {
		log_warnx("the MQTT broker at %s:%d refused the %s connection: %s",
			  n->cfg.mqtt.host, n->cfg.mqtt.port, conn->name,
			  mosquitto_reason_string(rc)); /* MQTT 5 reason codes */
		return; /* the broker closes the socket: on_disconnect backs off */
	}
	conn->connected = 1;
	conn->unacked = 0;
	log_info("connected to the MQTT broker at %s:%d (%s connection, client id %s)",
		 n->cfg.mqtt.host, n->cfg.mqtt.port, conn->name, conn->client_id);
	/* the table's subscriptions for this connection, then its hooks (mqtt.h) */
	for (k = 0; k < n->mqtt.nsubs; k++) {
		const struct node_sub *s = &n->mqtt.subs[k];

		if (s->conn != kind)
			continue;
		if (s->scope & NODE_SUB_SELF) {
			topic_node(topic, sizeof(topic), n->root, n->cfg.node, s->leaf);
			subscribe(conn, topic, s->qos);
		}
		for (i = 0; (s->scope & NODE_SUB_ZONES) && i < n->cfg.nzones; i++) {
			if (strcmp(n->cfg.zones[i], "all") == 0)
				continue; /* zone "all" is NODE_SUB_ALL's */
			topic_zone(topic, sizeof(topic), n->root, n->cfg.zones[i], s->leaf);
			subscribe(conn, topic, s->qos);
		}
		if (s->scope & NODE_SUB_ALL) {
			topic_zone(topic, sizeof(topic), n->root, "all", s->leaf);
			subscribe(conn, topic, s->qos);
		}
	}
	for (k = 0; k < n->mqtt.nhooks; k++)
		if (n->mqtt.hooks[k].conn == kind && n->mqtt.hooks[k].on_connect)
			n->mqtt.hooks[k].on_connect(n);
}

static void on_disconnect(struct mosquitto *m, void *arg, int rc)
{
	struct node_mqtt_conn *conn = arg;
	struct node *n = conn->owner;
	int was = conn->connected;
	enum mqlink_loss what;
	int ms;

	(void)m;
	enum node_conn_kind kind = conn == &n->mqtt.conn[NODE_CONN_CTL] ? NODE_CONN_CTL :
				   NODE_CONN_BULK;
	int k;

	conn->connected = 0;
	conn->unacked = 0;
	for (k = 0; k < n->mqtt.nhooks; k++)
		if (n->mqtt.hooks[k].conn == kind && n->mqtt.hooks[k].on_disconnect)
			n->mqtt.hooks[k].on_disconnect(n);
	/* the link schedules the retry (jittered back-off, mqlink.h) */
	what = mqlink_on_disconnect(&conn->link, n->stopping);
	if (n->stopping || what == MQLINK_IGNORED)
		return;
	ms = conn->link.last_delay_ms;
	if (was)
		log_warnx("lost the %s connection to the MQTT broker at %s:%d (%s); "
			  "reconnecting in %d.%d s", conn->name, n->cfg.mqtt.host,
			  n->cfg.mqtt.port, rc == 0 ? "closed" : mosq_reason(rc),
			  ms / 1000, ms % 1000 / 100);
	else
		log_warnx("cannot connect the %s connection to the MQTT broker at %s:%d "
			  "(%s); retrying in %d.%d s", conn->name, n->cfg.mqtt.host,
			  n->cfg.mqtt.port, mosq_reason(rc), ms / 1000, ms % 1000 / 100);
}

static void on_publish(struct mosquitto *m, void *arg, int mid)
{
	struct node_mqtt_conn *conn = arg;

	(void)m;
	(void)mid;
	if (conn->unacked > 0)
		conn->unacked--;
	/* events leave the journal on the controller's ack, not on PUBACK */
}

static void on_message(struct mosquitto *m, void *arg,
		       const struct mosquitto_message *msg)
{
	struct node_mqtt_conn *conn = arg;

	(void)m;
	if (!msg || !msg->topic || msg->payloadlen < 0)
		return;
	cmd_on_message(conn->owner, msg->topic, msg->payload, (size_t)msg->payloadlen);
}

int node_mqtt_start(struct node *n)
{
	struct node_mqtt *mq = &n->mqtt;
	char topic[TOPIC_MAX];
	char *will = NULL;
	int k, rc;

	mosquitto_lib_init();
	mq->lib_ready = 1;
	for (k = 0; k < NODE_CONN_N; k++) {
		struct node_mqtt_conn *conn = &mq->conn[k];

		conn->owner = n;
		conn->name = k == NODE_CONN_CTL ? "control" : "bulk";
		snprintf(conn->client_id, sizeof(conn->client_id), "%s-%s-%s", n->cfg.site,
			 n->cfg.node, k == NODE_CONN_CTL ? "ctl" : "bulk");
		mqlink_init(&conn->link, conn->name, n->cfg.mqtt.host, n->cfg.mqtt.port,
			    n->cfg.mqtt.keepalive);
		conn->pfd_index = -1;
		conn->m = mosquitto_new(conn->client_id, true, conn);
		if (!conn->m) {
			log_errorx("cannot create the MQTT %s client: %s", conn->name,
				   strerror(errno));
			return -ENOMEM;
		}
		/*
		 * MQTT 5, for Maximum Packet Size on CONNECT: libmosquitto reads a
		 * whole packet into memory before we see it, whatever its size (up
		 * to MQTT's 256 MiB), so the broker must not send one larger than
		 * max_message_bytes (+ room for the topic and header) at all.
		 */
		mosquitto_int_option(conn->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
		conn->link.max_packet = (uint32_t)n->cfg.max_message_bytes + NODE_MQTT_PACKET_SLACK;
		if (n->cfg.mqtt.username[0]) {
			rc = mosquitto_username_pw_set(conn->m, n->cfg.mqtt.username,
						       n->cfg.mqtt.password[0] ?
						       n->cfg.mqtt.password : NULL);
			if (rc != MOSQ_ERR_SUCCESS) {
				log_errorx("mqtt.username: %s", mosq_reason(rc));
				return -EINVAL;
			}
		}
		if (n->cfg.mqtt.cafile[0]) {
			/* TLS, the broker's certificate checked against our CA and
			 * its name against mqtt.host (no tls_insecure). */
			rc = mosquitto_tls_set(conn->m, n->cfg.mqtt.cafile, NULL, NULL, NULL,
					       NULL);
			if (rc == MOSQ_ERR_SUCCESS)
				rc = mosquitto_tls_opts_set(conn->m, 1, "tlsv1.2", NULL);
			if (rc != MOSQ_ERR_SUCCESS) {
				log_errorx("mqtt.cafile %s: %s", n->cfg.mqtt.cafile,
					   mosq_reason(rc));
				return -EINVAL;
			}
		}
		if (k == NODE_CONN_CTL) {
			/* The Last Will: offline, with this run's boot counter. */
			will = status_offline_json(n);
			if (!will)
				return -ENOMEM;
			topic_node(topic, sizeof(topic), n->root, n->cfg.node, LEAF_STATUS);
			rc = mosquitto_will_set(conn->m, topic, (int)strlen(will), will, 1, true);
			free(will);
			if (rc != MOSQ_ERR_SUCCESS) {
				log_errorx("cannot set the MQTT Last Will: %s", mosq_reason(rc));
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

int node_mqtt_hook(struct node *n, enum node_conn_kind conn, node_conn_fn up,
		   node_conn_fn down)
{
	struct node_mqtt *mq = &n->mqtt;

	if (mq->nhooks >= NODE_MQTT_MAX_HOOKS)
		return -ENOSPC;
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
	return n->mqtt.conn[kind].connected;
}

int node_mqtt_publish(struct node *n, enum node_conn_kind kind, const char *topic,
		      const void *payload, size_t len, int qos, int retain, int *mid)
{
	struct node_mqtt_conn *conn = &n->mqtt.conn[kind];
	int rc;

	if (!conn->m || !conn->connected)
		return -ENOTCONN;
	if (len > 64 * 1024 * 1024)
		return -EMSGSIZE;
	rc = mosquitto_publish(conn->m, mid, topic, (int)len, payload, qos, retain);
	switch (rc) {
	case MOSQ_ERR_SUCCESS:
		if (qos > 0)
			conn->unacked++;
		return 0;
	case MOSQ_ERR_NO_CONN:
		return -ENOTCONN;
	case MOSQ_ERR_NOMEM:
		return -ENOMEM;
	default:
		log_warnx("cannot publish on %s (%s connection): %s", topic, conn->name,
			  mosq_reason(rc));
		return -EIO;
	}
}

int node_mqtt_pollfds(struct node *n, struct pollfd *pfds, int max)
{
	int k, cnt = 0;

	for (k = 0; k < NODE_CONN_N; k++) {
		struct node_mqtt_conn *conn = &n->mqtt.conn[k];

		conn->pfd_index = -1;
		if (cnt >= max || !mqlink_pollfd(&conn->link, &pfds[cnt]))
			continue;
		conn->pfd_index = cnt++;
	}
	return cnt;
}

void node_mqtt_handle(struct node *n, const struct pollfd *pfds)
{
	int k;

	for (k = 0; k < NODE_CONN_N; k++) {
		struct node_mqtt_conn *conn = &n->mqtt.conn[k];

		if (conn->pfd_index < 0 || !conn->m)
			continue;
		mqlink_handle(&conn->link, &pfds[conn->pfd_index]);
	}
}

void node_mqtt_tick(struct node *n)
{
	int k;

	if (n->stopping)
		return;
	for (k = 0; k < NODE_CONN_N; k++) {
		struct node_mqtt_conn *conn = &n->mqtt.conn[k];

		if (conn->m)
			mqlink_tick(&conn->link);
	}
}

int64_t node_mqtt_next_deadline(const struct node *n)
{
	int64_t t = INT64_MAX;
	int k;

	for (k = 0; k < NODE_CONN_N; k++) {
		int64_t d = mqlink_next_deadline(&n->mqtt.conn[k].link);

		if (d < t)
			t = d;
	}
	return t;
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
	struct node_mqtt_conn *ctl = &mq->conn[NODE_CONN_CTL];
	char topic[TOPIC_MAX];
	char *off;
	int64_t deadline;
	int k;

	if (ctl->m && ctl->connected) {
		off = status_offline_json(n);
		topic_node(topic, sizeof(topic), n->root, n->cfg.node, LEAF_STATUS);
		if (off) {
			node_mqtt_publish(n, NODE_CONN_CTL, topic, off, strlen(off), 1, 1, NULL);
			free(off);
		}
		deadline = mono_ms() + STOP_FLUSH_MS;
		while (ctl->connected && (ctl->unacked > 0 || mosquitto_want_write(ctl->m)) &&
		       mono_ms() < deadline) {
			struct pollfd p = { .fd = mosquitto_socket(ctl->m), .events = POLLIN };

			if (p.fd < 0)
				break;
			if (mosquitto_want_write(ctl->m))
				p.events |= POLLOUT;
			if (poll(&p, 1, 100) < 0 && errno != EINTR)
				break;
			if (p.revents & (POLLIN | POLLERR | POLLHUP))
				mosquitto_loop_read(ctl->m, 1);
			if (ctl->m && mosquitto_socket(ctl->m) >= 0 && (p.revents & POLLOUT))
				mosquitto_loop_write(ctl->m, 1);
			mosquitto_loop_misc(ctl->m);
		}
		if (ctl->unacked > 0)
			log_warnx("the broker did not acknowledge %llu message(s) before the stop "
				  "(events stay in the journal)", (unsigned long long)ctl->unacked);
	}
	for (k = 0; k < NODE_CONN_N; k++) {
		struct node_mqtt_conn *conn = &mq->conn[k];

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

/* ---- the event loop (loop.h): main.c registers this module ---- */

static void loop_tick(struct loop *l, int64_t mono, void *arg)
{
	(void)l;
	(void)mono;
	node_mqtt_tick(arg);
}

static int64_t loop_deadline(void *arg)
{
	return node_mqtt_next_deadline(arg);
}

static int loop_fill(struct loop *l, struct pollfd *pfds, int max, void *arg)
{
	(void)l;
	return node_mqtt_pollfds(arg, pfds, max);
}

static void loop_handle(struct loop *l, struct pollfd *pfds, int npfd, void *arg)
{
	(void)l;
	(void)npfd;
	node_mqtt_handle(arg, pfds);
}

int node_mqtt_register(struct loop *l, struct node *n)
{
	int rc = loop_source_add(l, loop_fill, loop_handle, n);

	if (rc < 0)
		return rc;
	rc = loop_tick_add(l, "mqtt", loop_tick, loop_deadline, n);
	return rc < 0 ? rc : 0;
}
