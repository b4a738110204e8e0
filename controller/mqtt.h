/*
 * mqtt.h - the controller's two MQTT connections (common/mqconn.h).
 *
 * "<site>-controller-ctl" publishes commands and plans and receives node
 * status, events and time pings; "<site>-controller-bulk" receives fetch
 * requests and publishes content chunks. Two connections because a broker
 * queues per client: a burst of content must never delay a command. (The
 * third, live's, is controller/live.c's own.)
 *
 * Everything about a connection - TLS and account, the probe and jittered
 * back-off (common/mqlink.h), its place on the event loop, re-subscribing
 * on every connect, publish errors as -errno - is common/mqconn.c. What is
 * the controller's here: the client ids, and the table of what nodes send.
 *
 * Messages from nodes are untrusted. A module that reads one of their
 * topics registers a handler for its leaf (ctl_mqtt_on_node, from its
 * xxx_register in main.c's list of parts); ctl_mqtt_route checks the topic
 * shape (<root>/node/<id>/<leaf>), the node id, the size and the sender's
 * rate, then calls that handler. This module names none of its consumers.
 */
#ifndef LOAXA_CTL_MQTT_H
#define LOAXA_CTL_MQTT_H

#include <stddef.h>
#include <stdint.h>

#include "mqconn.h"
#include "topic.h"

struct ctl;
struct loop;

/* Largest status, event or fetch payload the controller reads. */
#define CTL_MAX_INBOUND (64 * 1024)

enum ctl_conn_kind { CTL_CONN_CTL = 0, CTL_CONN_BULK = 1 };

/* A message from node <node> on its topic <leaf>, passed the checks. */
typedef void (*ctl_node_msg_fn)(struct ctl *c, const char *node, const void *payload,
				size_t len, int retained);

/* The handler flags. */
#define CTL_MQTT_NONEMPTY 1 /* an empty message is refused (only status and ping may be) */

#define CTL_MQTT_MAX_HANDLERS 8
struct ctl_mqtt_handler {
	struct ctl *owner;
	enum topic_leaf leaf;
	unsigned flags;
	ctl_node_msg_fn fn;
};

struct ctl_mqtt {
	struct ctl *owner;
	struct mqconn conn[2];
	char root[64];             /* "loaxa/<site>" */
	struct ctl_mqtt_handler handlers[CTL_MQTT_MAX_HANDLERS];
	int nhandlers;
	/*
	 * Tests: when set, publishes go here instead of to a broker. Returns
	 * 0 or -errno like ctl_mqtt_publish.
	 */
	int (*publish_hook)(void *arg, enum ctl_conn_kind kind, const char *topic,
			    const void *payload, size_t len, int qos, int retain);
	void *hook_arg;
};

/* Set up the root, the client ids and the connections (no network); safe in tests. */
void ctl_mqtt_init(struct ctl *c);
/*
 * Read <root>/node/+/<leaf> on one connection: fn gets what passes the
 * checks (ctl_mqtt_route). Before or after ctl_mqtt_start. 0, -EINVAL, -ENOSPC.
 */
int ctl_mqtt_on_node(struct ctl *c, enum ctl_conn_kind kind, enum topic_leaf leaf,
		     unsigned flags, ctl_node_msg_fn fn);
/* Run on every (re)connect of that connection, and on every loss. 0 or -ENOSPC. */
int ctl_mqtt_hook(struct ctl *c, enum ctl_conn_kind kind, mqconn_hook_fn on_connect,
		  mqconn_hook_fn on_lost);
/* Create both clients and start connecting (non-blocking). */
int ctl_mqtt_start(struct ctl *c);
/* Their descriptors and ticks on the event loop (main.c). */
int ctl_mqtt_register(struct loop *l, struct ctl *c);
/* Disconnect cleanly and free both clients. */
void ctl_mqtt_stop(struct ctl *c);

int ctl_mqtt_connected(const struct ctl *c, enum ctl_conn_kind kind);
/* Monotonic ms of that connection's last CONNACK (0: never). */
int64_t ctl_mqtt_connected_at(const struct ctl *c, enum ctl_conn_kind kind);
/* Whether that connection still has bytes queued for the socket. */
int ctl_mqtt_want_write(const struct ctl *c, enum ctl_conn_kind kind);
int ctl_mqtt_unacked(const struct ctl *c, enum ctl_conn_kind kind);

/*
 * Publish on one connection. Returns 0, or -ENOTCONN when the connection is
 * down (a QoS 1 message is then kept by libmosquitto and sent on reconnect),
 * or another -errno.
 */
int ctl_mqtt_publish(struct ctl *c, enum ctl_conn_kind kind, const char *topic,
		     const void *payload, size_t len, int qos, int retain);

/*
 * Dispatch one inbound message: checks the topic shape
 * (<root>/node/<id>/<leaf>), the node id, the size and the rate, then calls
 * the handler registered for the leaf. Never fails; problems are logged as
 * one warning.
 */
void ctl_mqtt_route(struct ctl *c, const char *topic, const void *payload,
		    size_t len, int retained);

#endif
